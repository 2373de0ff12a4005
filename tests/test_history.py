"""History import: the documented format, every bad-row rule, stop/skip, CLI messages."""

from __future__ import annotations

import functools
import string
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simlib.cli import main
from simlib.fit.history import HistoryError, read_history
from simlib.scenario import load_scenario

DATA = Path(__file__).parent / "data" / "history"
ROLES = {"telesales": "telesales", "key_account": "key_account", "channel": "channel"}

HEADER = "rep_id,role,team,month,quota,payout,revenue,calls,leads,conversions,record_accuracy"
GOOD = "T1,telesales,a,{m},25000,1500,26000,900,90,22,0.92"


def _write(tmp_path: Path, rows: list[str], header: str = HEADER, name: str = "h.csv") -> Path:
    p = tmp_path / name
    p.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return p


def _reasons(path: Path, roles=ROLES) -> dict[str, str]:
    with pytest.raises(HistoryError) as ei:
        read_history(path, roles)
    return {p.where: p.reason for p in ei.value.problems}


def test_messy_but_valid_export_reads():
    h = read_history(DATA / "small.csv", ROLES)
    assert len(h.frame) == 120 and not h.skipped
    assert set(h.roles) == {"telesales", "key_account", "channel"}
    assert any("region" in n for n in h.notes)  # the extra column is named, not silently dropped
    p = h.panel("telesales")
    assert p.measures["calls"].shape == (4, 12) and p.complete.all()
    assert np.isnan(h.frame["payout"]).sum() > 0  # blank payouts stay missing, not zero


# one test per bad-row rule: (the bad row, words the reason must contain)
RULES = {
    "missing_rep_id": (",telesales,a,2,25000,1500,26000,900,90,22,0.92", "missing rep_id"),
    "missing_role": ("T1,,a,2,25000,1500,26000,900,90,22,0.92", "missing role"),
    "unknown_role": ("T1,sales_engineer,a,2,25000,1500,26000,900,90,22,0.92", "unknown role: 'sales_engineer'"),
    "month_13": ("T1,telesales,a,13,25000,1500,26000,900,90,22,0.92", "month out of range: '13'"),
    "month_0": ("T1,telesales,a,0,25000,1500,26000,900,90,22,0.92", "month out of range: '0'"),
    "month_text": ("T1,telesales,a,Q1,25000,1500,26000,900,90,22,0.92", "bad month: 'Q1'"),
    "month_fraction": ("T1,telesales,a,2.5,25000,1500,26000,900,90,22,0.92", "month out of range: '2.5'"),
    "month_missing": ("T1,telesales,a,,25000,1500,26000,900,90,22,0.92", "missing month"),
    "non_numeric": ("T1,telesales,a,2,25000,1500,abc,900,90,22,0.92", "non-numeric value: 'revenue' is 'abc'"),
    "negative_sales": ("T1,telesales,a,2,25000,1500,-500,900,90,22,0.92", "negative sales: 'revenue' is -500"),
    "negative_measure": ("T1,telesales,a,2,25000,1500,26000,-3,90,22,0.92", "negative value: 'calls' is -3"),
    "negative_payout": ("T1,telesales,a,2,25000,-100,26000,900,90,22,0.92", "negative value: 'payout' is -100"),
    "missing_quota": ("T1,telesales,a,2,,1500,26000,900,90,22,0.92", "missing value: 'quota' is empty"),
    "missing_measure": ("T1,telesales,a,2,25000,1500,26000,900,,22,0.92", "missing value: 'leads' is empty"),
    "score_range": ("T1,telesales,a,2,25000,1500,26000,900,90,22,1.3", "score out of range: 'record_accuracy' is 1.3"),
    "not_a_count": ("T1,telesales,a,2,25000,1500,26000,900.5,90,22,0.92", "not a count: 'calls' is 900.5"),
    "duplicate": (GOOD.format(m=1), "duplicate rep-month: rep 'T1' month 1 already given at line 2"),
    "role_change": ("T1,key_account,a,2,25000,1500,26000,,,,", "role changes within a year: rep 'T1' is 'telesales' at line 2"),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_each_bad_row_rule_names_file_line_and_reason(tmp_path, rule):
    row, words = RULES[rule]
    path = _write(tmp_path, [GOOD.format(m=1), row, GOOD.format(m=3)])
    reasons = _reasons(path)
    assert list(reasons) == ["line 3"], reasons  # only the bad row, at its line in the file
    assert words in reasons["line 3"]
    with pytest.raises(HistoryError) as ei:
        read_history(path, ROLES)
    assert str(path) in str(ei.value) and "line 3" in str(ei.value)


def test_other_rules(tmp_path):
    hdr = HEADER + ",deals,new_hire,process"
    rows = [GOOD.format(m=1) + ",,0,",
            GOOD.format(m=2) + ",,maybe,",
            GOOD.format(m=3) + ",,0,key_account",
            GOOD.format(m=4) + ",2,0,"]
    r = _reasons(_write(tmp_path, rows, hdr))
    assert "bad new_hire: 'maybe'" in r["line 3"]
    assert "process mismatch" in r["line 4"]
    assert "measure of another process: 'deals' = 2" in r["line 5"]
    assert "line 2" not in r


def test_year_month_format_and_mixing(tmp_path):
    rows = [GOOD.replace("{m}", "2025-01"), GOOD.replace("{m}", "2026-01"), GOOD.replace("{m}", "2025-13")]
    r = _reasons(_write(tmp_path, rows))
    assert list(r) == ["line 4"] and "month out of range: '2025-13'" in r["line 4"]
    r = _reasons(_write(tmp_path, [GOOD.replace("{m}", "2025-01"), GOOD.format(m=2)]))
    assert "month without a year" in r["line 3"]
    h = read_history(_write(tmp_path, rows[:2]), ROLES)
    assert h.years == [2025, 2026]
    hdr = HEADER + ",year"
    h = read_history(_write(tmp_path, [GOOD.format(m=1) + ",2024", GOOD.format(m=1) + ",2025"], hdr), ROLES)
    assert h.years == [2024, 2025]
    # one YYYY-MM slip among month numbers is that row's problem, not every other row's
    slip = [GOOD.format(m=m) for m in range(1, 13)]
    slip[4] = GOOD.replace("{m}", "2025-05")
    r = _reasons(_write(tmp_path, slip))
    assert list(r) == ["line 6"] and r["line 6"] == ("month with a year: '2025-05' while most rows give the month "
                                                      "alone (1-12) and the file has no year column")


def test_stop_lists_every_bad_row_and_skip_reports_them():
    with pytest.raises(HistoryError) as ei:
        read_history(DATA / "bad_rows.csv", ROLES)
    rows = ei.value.problems
    assert len(rows) == 20
    text = str(ei.value)
    assert "20 bad rows" in text and "--on-error skip" in text
    h = read_history(DATA / "bad_rows.csv", ROLES, on_error="skip")
    assert len(h.frame) == 2 and len(h.skipped) == 20  # 22 data rows: nothing silently dropped
    assert {p.where for p in h.skipped} == {p.where for p in rows}


def test_file_level_problems(tmp_path):
    with pytest.raises(HistoryError, match="file not found"):
        read_history(tmp_path / "nope.csv", ROLES)
    with pytest.raises(HistoryError, match="missing required column"):
        read_history(_write(tmp_path, ["T1,telesales,1,100"], "rep_id,role,month,revenue"), ROLES)
    (tmp_path / "h.xls").write_text("x")
    with pytest.raises(HistoryError, match="unsupported file type '.xls'"):
        read_history(tmp_path / "h.xls", ROLES)
    (tmp_path / "h.xlsx").write_text("not a workbook")
    with pytest.raises(HistoryError, match="could not be read as XLSX"):
        read_history(tmp_path / "h.xlsx", ROLES)
    with pytest.raises(HistoryError, match="no data rows"):
        read_history(_write(tmp_path, []), ROLES)
    with pytest.raises(HistoryError, match="is a directory"):
        read_history(tmp_path, ROLES)
    with pytest.raises(HistoryError, match="no usable rows"):
        read_history(_write(tmp_path, ["T1,nobody,a,1,1,1,1,1,1,1,0.9"]), ROLES, on_error="skip")


def test_parquet_reads_like_csv(tmp_path):
    df = pd.read_csv(DATA / "small.csv")
    df.to_parquet(tmp_path / "h.parquet", index=False)
    a = read_history(DATA / "small.csv", ROLES)
    b = read_history(tmp_path / "h.parquet", ROLES)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    df.loc[5, "Revenue"] = -1.0
    df.to_parquet(tmp_path / "bad.parquet", index=False)
    with pytest.raises(HistoryError, match="row 6: negative sales"):
        read_history(tmp_path / "bad.parquet", ROLES)


def test_roles_without_scenario_use_process_names(tmp_path):
    h = read_history(DATA / "small.csv")
    assert h.roles["channel"] == "channel"
    rows = ["X1,inside,a,1,25000,1500,26000,900,90,22,0.92"]
    with pytest.raises(HistoryError, match="needs a 'process' column"):
        read_history(_write(tmp_path, rows))
    h = read_history(_write(tmp_path, [r + ",telesales" for r in rows], HEADER + ",process"))
    assert h.roles == {"inside": "telesales"}


def test_cli_bad_history_message_without_traceback(tmp_path, capsys):
    scen = ROOT / "scenarios" / "default.yaml"
    rc = main(["calibrate", str(DATA / "bad_rows.csv"), "--scenario", str(scen), "--out", str(tmp_path / "c.yaml")])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert "bad_rows.csv: line 9: negative sales" in err
    assert not (tmp_path / "c.yaml").exists()
    rc = main(["calibrate", str(tmp_path / "none.csv"), "--scenario", str(scen), "--out", str(tmp_path / "c.yaml")])
    err = capsys.readouterr().err
    assert rc == 1 and "file not found" in err and "Traceback" not in err


def test_cli_skip_proceeds_and_reports_count(tmp_path, capsys):
    scen = load_scenario(ROOT / "scenarios" / "default.yaml")
    from simlib.fit.synth import synth_history

    frame, _ = synth_history(scen, rng=3)
    frame = frame.astype({"revenue": object})
    frame.loc[[5, 17], "revenue"] = "-1"
    frame.loc[40, "role"] = "intern"
    frame.to_csv(tmp_path / "h.csv", index=False)
    out = tmp_path / "c.yaml"
    rc = main(["calibrate", str(tmp_path / "h.csv"), "--scenario", str(ROOT / "scenarios" / "default.yaml"),
               "--out", str(out), "--on-error", "skip", "--bootstrap", "0", "--trials", "0"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "skipped 3 bad row(s)" in cap.err and "negative sales 2" in cap.err and "unknown role 1" in cap.err
    assert out.exists()


def test_common_export_variants_are_understood(tmp_path):
    header = "Employee ID,Role,Team,Date,Target,Bonus,Sales,calls,leads,conversions,record_accuracy"
    rows = ['E1,Telesales,a,2025-01-31,"25,000",€1500,"26,000.50",900,90,22,92%',
            'E1,Telesales,a,2025/02,"25,000",$1500,"26,000",900,90,22,0.92',
            "E2,telesales,a,Jan,25000,1500,26000,900,90,22,0.92"]
    r = _reasons(_write(tmp_path, rows, header))
    assert "month without a year" in r["line 4"]  # 'Jan' is read, but it has no year while others do
    h = read_history(_write(tmp_path, rows[:2], header), ROLES)
    f = h.frame
    assert list(f["month"]) == [1, 2] and list(f["year"]) == [2025, 2025]
    assert list(f["revenue"]) == [26000.5, 26000.0] and list(f["quota"]) == [25000.0, 25000.0]
    assert list(f["payout"]) == [1500.0, 1500.0] and f["record_accuracy"].iloc[0] == pytest.approx(0.92)
    assert set(f["role"]) == {"telesales"}
    assert any("'employee_id' as 'rep_id'" in n and "'sales' as 'revenue'" in n for n in h.notes)
    h = read_history(_write(tmp_path, [rows[2].replace("Jan", "March")], header), ROLES)
    assert list(h.frame["month"]) == [3]


def test_parquet_dates_and_timestamps(tmp_path):
    df = pd.read_csv(DATA / "small.csv")
    df["Month"] = pd.to_datetime([f"2025-{m:02d}-28" for m in df["Month"]])
    df.to_parquet(tmp_path / "h.parquet", index=False)
    h = read_history(tmp_path / "h.parquet", ROLES)
    assert h.years == [2025] and sorted(h.frame["month"].unique()) == list(range(1, 13))
    df["Month"] = df["Month"].astype(str)  # '2025-01-28' -> also with a time of day
    df["Month"] = df["Month"] + " 00:00:00"
    df.to_csv(tmp_path / "h.csv", index=False)
    assert read_history(tmp_path / "h.csv", ROLES).years == [2025]


# ----------------------------------------------------------------------------
# hardening: a bad cell is reported, never read as a good one
# ----------------------------------------------------------------------------

NAMED_HEADER = HEADER + ",year,new_hire"
MONTH_WORDS = ["Jan", "February", "mar", "APRIL", "May", "june", "Jul", "August", "Sep", "October", "nov", "DECEMBER"]


def _named_rows() -> list[str]:
    """A valid year for two telesales reps, months written as names (abbreviated and full)."""
    return [f"T{r},telesales,a,{w},25000,1500,{26000 + 10 * k},900,90,22,0.92,2025,{r - 1}"
            for r in (1, 2) for k, w in enumerate(MONTH_WORDS)]


def test_month_names_are_matched_exactly(tmp_path):
    rows = _named_rows()
    rows[2] = rows[2].replace(",mar,", ",Junk,")  # 'Junk' is not June: line 4 is bad, T1's June stays
    path = _write(tmp_path, rows, NAMED_HEADER)
    r = _reasons(path)
    assert list(r) == ["line 4"] and "bad month: 'Junk'" in r["line 4"]
    h = read_history(path, ROLES, on_error="skip")
    t1 = h.frame[h.frame["rep_id"] == "T1"]
    assert sorted(t1["month"]) == [m for m in range(1, 13) if m != 3]
    assert t1.loc[t1["month"] == 6, "revenue"].item() == 26050.0  # the real June row, not a duplicate
    for word in ("Sept", "Ju", "Mayo", "Janu", "Mar.", "3rd"):
        rows = _named_rows()
        rows[2] = rows[2].replace(",mar,", f",{word},")
        assert list(_reasons(_write(tmp_path, rows, NAMED_HEADER))) == ["line 4"], word
    assert len(read_history(_write(tmp_path, _named_rows(), NAMED_HEADER), ROLES).frame) == 24


@pytest.mark.parametrize("month, year, words", [
    ("2025-02-30", "", "bad month: '2025-02-30' is not a date"),
    ("2025-01-01 25:00", "", "no such time of day"),
    ("2025-01-99", "", "is not a date"),
    ("0001-01", "", "bad year: '0001-01'"),
    ("2025-03", "2024", "bad year: year is '2024' but month is '2025-03'"),
    ("3", "20250", "bad year: '20250'"),
])
def test_dates_must_be_real_ones(tmp_path, month, year, words):
    rows = [GOOD.format(m="2025-01") + ",", GOOD.format(m=month) + f",{year}"]
    r = _reasons(_write(tmp_path, rows, HEADER + ",year"))
    assert list(r) == ["line 3"] and words in r["line 3"]


# absurd magnitudes and non-finite numbers: (column index in HEADER, cell, words of the reason)
ABSURD = {
    "revenue_1e300": (6, "1e300", "value too large: 'revenue' is 1e300, expected at most 1e+10 per rep-month"),
    "quota_1e11": (4, "1e11", "value too large: 'quota'"),
    "payout_huge": (5, "$20,000,000,000", "value too large: 'payout'"),
    "calls_2e6": (7, "2000000", "value too large: 'calls' is 2000000, expected at most 1e+06"),
    "revenue_inf": (6, "inf", "non-finite value: 'revenue' is 'inf'"),
    "revenue_nan": (6, "NaN", "non-finite value: 'revenue' is 'NaN'"),
    "quota_overflow": (4, "1e999", "non-finite value: 'quota' is '1e999'"),
    "leads_minus_inf": (8, "-Infinity", "non-finite value: 'leads'"),
    "revenue_percent": (6, "50%", "non-numeric value: 'revenue' is '50%'"),  # % is for scores only
    "calls_currency": (7, "$900", "non-numeric value: 'calls' is '$900'"),  # currency is for money only
    "calls_underscore": (7, "9_00", "non-numeric value: 'calls' is '9_00'"),
}


@pytest.mark.parametrize("case", sorted(ABSURD))
def test_absurd_and_non_finite_numbers_are_refused(tmp_path, case):
    col, cell, words = ABSURD[case]
    cells = GOOD.format(m=2).split(",")
    cells[col] = f'"{cell}"'
    r = _reasons(_write(tmp_path, [GOOD.format(m=1), ",".join(cells)]))
    assert list(r) == ["line 3"] and words in r["line 3"], r


def test_bounds_are_inclusive_and_talk_time_is_hours(tmp_path):
    hdr = HEADER + ",talk_time"
    ok = "T1,telesales,a,1,1e10,1e10,1e10,1000000,90,22,0.92,744"
    h = read_history(_write(tmp_path, [ok], hdr), ROLES)
    assert h.frame["revenue"].item() == 1e10 and h.frame["calls"].item() == 1e6
    r = _reasons(_write(tmp_path, [ok.replace(",744", ",745")], hdr))
    assert "value too large: 'talk_time' is 745, expected at most 744" in r["line 2"]


@pytest.mark.parametrize("name, content", [
    *[(n, c) for n in ("h.csv", "h.tsv") for c in (b"", b"  \n\n\t\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n")],
    ("h.parquet", b""),
])
def test_empty_file_is_named_and_explained(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(HistoryError) as ei:
        read_history(tmp_path / name, ROLES)
    msg = str(ei.value)
    assert msg.startswith(str(tmp_path / name)) and "empty: expected a header row with columns rep_id, role" in msg


def test_cli_empty_history_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "h.csv").write_text("\n")
    rc = main(["calibrate", str(tmp_path / "h.csv"), "--scenario", str(ROOT / "scenarios" / "default.yaml"),
               "--out", str(tmp_path / "c.yaml")])
    err = capsys.readouterr().err
    assert rc == 1 and "internal error" not in err and "h.csv" in err and "empty: expected a header row" in err


def test_one_column_header_is_not_split_into_letters(tmp_path):
    with pytest.raises(HistoryError, match=r"missing required column.*the file has \['rep_id'\]"):
        read_history(_write(tmp_path, ["T1"], "rep_id"), ROLES)
    semi = [r.replace(",", ";") for r in [GOOD.format(m=1)]]
    assert len(read_history(_write(tmp_path, semi, HEADER.replace(",", ";")), ROLES).frame) == 1


def test_zero_quota_reps_are_reported_not_silently_left_out(tmp_path):
    rows = _named_rows()
    rows = [r.replace(",25000,", ",0,") if r.startswith("T2,") else r for r in rows]
    rows[0] = rows[0].replace(",25000,", ",0,")  # one month at 0 is fine (seasonal quotas)
    h = read_history(_write(tmp_path, rows, NAMED_HEADER), ROLES)
    z = h.zero_quota
    assert list(z["rep_id"]) == ["T2"] and list(z["role"]) == ["telesales"] and list(z["months"]) == [12]
    note = [n for n in h.notes if n.startswith("quota 0 all year")]
    assert len(note) == 1 and "1 telesales rep(s) in 2025 ('T2')" in note[0] and "left out" in note[0]
    assert np.isnan(h.panel("telesales").attainment[1])  # ... which is why it must be said
    assert h.year(2025).notes == h.notes
    ok = read_history(_write(tmp_path, _named_rows(), NAMED_HEADER), ROLES)
    assert ok.zero_quota.empty and not any(n.startswith("quota 0") for n in ok.notes)


def test_cli_calibrate_prints_zero_quota_note(tmp_path, capsys):
    scen = load_scenario(ROOT / "scenarios" / "default.yaml")
    from simlib.fit.synth import synth_history

    frame, _ = synth_history(scen, rng=3)
    rep = frame.loc[frame["role"] == "telesales", "rep_id"].iloc[0]
    frame.loc[frame["rep_id"] == rep, "quota"] = 0.0
    frame.to_csv(tmp_path / "h.csv", index=False)
    rc = main(["calibrate", str(tmp_path / "h.csv"), "--scenario", str(ROOT / "scenarios" / "default.yaml"),
               "--out", str(tmp_path / "c.yaml"), "--bootstrap", "0", "--trials", "0"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "quota 0 all year: 1 telesales rep(s)" in cap.out + cap.err and f"'{rep}'" in cap.out + cap.err


# ----------------------------------------------------------------------------
# property: corrupt one cell of a valid history; the row is reported, the rest read as before
# ----------------------------------------------------------------------------

_WORDS = {w.lower() for w in MONTH_WORDS} | {w[:3].lower() for w in MONTH_WORDS} | {
    "june", "july", "january", "march", "september", "november", "y", "n", "t", "f", "yes", "no", "true", "false"}
junk = st.text(string.ascii_letters + "!?#@~/:", min_size=1, max_size=8).filter(
    lambda t: t.lower() not in _WORDS and t.lower() not in ROLES)
blank = st.sampled_from(["", "  "])
non_finite = st.sampled_from(["inf", "-inf", "nan", "NaN", "Infinity", "1e999", "-1e400"])


def _above(bound: float) -> st.SearchStrategy[str]:
    return st.floats(min_value=bound * 1.001, max_value=1e300).map(repr)


negative = st.floats(min_value=-1e300, max_value=-1e-3).map(repr)
#: how each column of NAMED_HEADER can be corrupted so that no valid reading is left (rep_id and team
#: are free text: any non-blank text is a valid id or team, so only a blank rep_id is a fault)
CORRUPT = {
    "rep_id": blank,
    "role": st.one_of(blank, junk),
    "month": st.one_of(blank, junk, non_finite, st.sampled_from(["Junk", "Sept", "Ju", "0", "13", "2.5", "1e300", "-1"])),
    "quota": st.one_of(blank, junk, non_finite, _above(1e10), negative),
    "payout": st.one_of(junk, non_finite, _above(1e10), negative),  # a blank payout is allowed (no payout known)
    "revenue": st.one_of(blank, junk, non_finite, _above(1e10), negative),
    "calls": st.one_of(blank, junk, non_finite, _above(1e6), negative, st.just("900.5")),
    "leads": st.one_of(blank, junk, non_finite, _above(1e6), negative),
    "conversions": st.one_of(blank, junk, non_finite, _above(1e6), negative),
    "record_accuracy": st.one_of(blank, junk, non_finite, _above(1.0), negative),
    "year": st.one_of(blank, junk, non_finite, st.sampled_from(["0", "1e300", "2025.5", "99999", "-2025"])),
    "new_hire": st.one_of(junk, non_finite, st.sampled_from(["2", "-1", "0.5"])),
}
COLUMNS = NAMED_HEADER.split(",")


@functools.cache
def _named_frame() -> pd.DataFrame:
    """:attr:`History.frame` of the uncorrupted :func:`_named_rows`."""
    with tempfile.TemporaryDirectory() as d:
        return read_history(_write(Path(d), _named_rows(), NAMED_HEADER), ROLES).frame


@st.composite
def one_bad_cell(draw):
    """(row index, column, bad cell) for the history of :func:`_named_rows`."""
    column = draw(st.sampled_from(sorted(CORRUPT)))
    return draw(st.integers(0, 23)), column, draw(CORRUPT[column])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(one_bad_cell())
def test_a_corrupted_cell_is_reported_never_reinterpreted_or_dropped(bad):
    i, column, cell = bad
    rows = [r.split(",") for r in _named_rows()]
    rows[i][COLUMNS.index(column)] = f'"{cell}"'
    with tempfile.TemporaryDirectory() as d:
        path = _write(Path(d), [",".join(r) for r in rows], NAMED_HEADER)
        with pytest.raises(HistoryError) as ei:
            read_history(path, ROLES)
        h = read_history(path, ROLES, on_error="skip")
    (p,) = ei.value.problems  # exactly one bad row: the corrupted one, at its line, naming the column
    assert (p.source, p.where) == (str(path), f"line {i + 2}") and column in p.columns and column in p.reason
    assert f"{path}: line {i + 2}: " in str(ei.value)
    assert h.skipped == [p]  # under skip: left out and listed, and every other row read exactly as before
    good = _named_frame()
    key = ("T1" if i < 12 else "T2", i % 12 + 1)
    expect = good[[(r, m) != key for r, m in zip(good["rep_id"], good["month"], strict=True)]]
    pd.testing.assert_frame_equal(h.frame, expect.reset_index(drop=True))


def test_a_decimal_comma_is_named_as_such(tmp_path):
    """'26000,5' in a semicolon-separated history (or quoted in a comma-separated one) was refused as non-numeric
    with no hint; the reason now says it looks like a decimal comma and how to write it. A value that is no number
    either way ('2,6,0') gets no hint, and '1,250' in a ';' file stays refused as ambiguous."""
    header = HEADER.replace(",", ";") + ";cancelled"
    row = "T1;telesales;a;2;25000;1500;{rev};900;90;22;0.92;{canc}"
    ok = row.format(rev=26000, canc=0).replace("T1", "T2")
    reasons = _reasons(_write(tmp_path, [ok, row.format(rev="26000,5", canc="€12,5")], header=header))
    assert reasons["line 3"] == ("non-numeric value: 'revenue' is '26000,5', expected a number; looks like a decimal "
                                 "comma: write 26000.5; non-numeric value: 'cancelled' is '€12,5', expected a number; "
                                 "looks like a decimal comma: write €12.5"), reasons
    reasons = _reasons(_write(tmp_path, [GOOD.format(m=1), 'T1,telesales,a,2,25000,1500,"26000,5",900,90,22,0.92',
                                         'T1,telesales,a,3,25000,1500,"2,6,0",900,90,22,0.92'], name="c.csv"))
    assert reasons["line 3"].endswith("looks like a decimal comma: write 26000.5")
    assert reasons["line 4"] == "non-numeric value: 'revenue' is '2,6,0', expected a number"
