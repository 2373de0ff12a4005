"""History import: the documented format, every bad-row rule, stop/skip, CLI messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

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
    "month_text": ("T1,telesales,a,Q1,25000,1500,26000,900,90,22,0.92", "month out of range: 'Q1'"),
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
    (tmp_path / "h.xlsx").write_text("x")
    with pytest.raises(HistoryError, match="unsupported file type"):
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
