"""Per-rep and per-team answers (``simlib reps``): winners and losers, rep statements, team cost and attainment."""

from __future__ import annotations

import functools
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import DEFAULT

from simlib import simulate
from simlib.cli import main
from simlib.engine.core import RequestTooLarge
from simlib.engine.reps import MAX_REP_VALUES, rep_answers
from simlib.errors import PlanError
from simlib.model.population import rep_labels
from simlib.scenario import load_scenario, scenario_from_dict

TRIALS = 60


@functools.cache
def _scenario():
    """The default scenario plus a copy of the current plan and a plan raising only telesales' target incentive."""
    data = yaml.safe_load(DEFAULT.read_text())
    data["plans"]["same"] = {"base": "current", "changes": {}}
    ts = data["plans"]["current"]["roles"]["telesales"]
    ti = ts.get("target_incentive") or data["roles"]["telesales"]["target_incentive"]
    data["plans"]["telesales_up"] = {"base": "current",
                                     "changes": {"roles": {"telesales": {"target_incentive": 1.3 * ti}}}}
    return scenario_from_dict(data, str(DEFAULT))


def test_the_current_plan_against_itself_changes_no_rep():
    ans = rep_answers(_scenario(), "same", trials=TRIALS, behaviour="none")
    s = ans.statement
    assert len(s) == _scenario().headcount and s["rep_id"].is_unique
    assert (s["change"] == 0).all() and (s["verdict"] == "unchanged").all() and (s["p_lower"] == 0).all()
    for q in ("p10", "p50", "p90"):
        np.testing.assert_array_equal(s[f"current_{q}"], s[f"candidate_{q}"])
    assert (ans.teams["cost_change"] == 0).all() and ans.losers().empty


def test_raising_one_roles_rates_makes_exactly_its_reps_winners():
    scen = _scenario()
    ans = rep_answers(scen, "telesales_up", trials=TRIALS, behaviour="none", loss=0.0)
    s = ans.statement
    winners = set(s.loc[s["verdict"] == "winner", "rep_id"])
    assert winners == set(rep_labels(scen, "telesales")[0])
    others = s[s["role"] != "telesales"]
    assert (others["change"] == 0).all() and (others["verdict"] == "unchanged").all()
    # a 30% higher target incentive: every telesales rep's expected incentive is higher (the curve part by 30%)
    ts = s[s["role"] == "telesales"]
    assert (ts["incentive_candidate"] > ts["incentive_current"]).all()
    assert (ts["incentive_candidate"] < 1.3 * ts["incentive_current"] + 1e-6).all()
    counts = ans.winners_losers().set_index(["role", "team"])
    assert counts.at[("telesales", "all"), "winners"] == 120 and counts.at[("total", "all"), "losers"] == 0


@pytest.mark.parametrize("behaviour,trials", [("none", TRIALS), ("dynamic", 12)])
def test_team_sums_equal_the_role_totals_of_simulate_on_the_same_seed(behaviour, trials):
    scen = _scenario()
    ans = rep_answers(scen, "harder_target", trials=trials, rng=4, behaviour=behaviour)
    res = simulate(scen, ["harder_target"], trials=trials, rng=4, behaviour=behaviour).summary()
    cost = res[res["metric"] == "incentive_cost"].set_index(["plan", "group"])["mean"]
    teams = ans.teams.groupby("role")[["cost_current", "cost_candidate"]].sum()
    for role in scen.roles:
        assert teams.at[role, "cost_current"] == pytest.approx(cost[("current", role)], rel=1e-9)
        assert teams.at[role, "cost_candidate"] == pytest.approx(cost[("harder_target", role)], rel=1e-9)
    # the statement's expected incentives add up to the same role totals
    inc = ans.statement.groupby("role")["incentive_candidate"].sum()
    for role in scen.roles:
        assert inc[role] == pytest.approx(cost[("harder_target", role)], rel=1e-9)


def test_same_numbers_for_any_chunking_and_executor():
    scen = _scenario()
    a = rep_answers(scen, "team_weighted", trials=23, rng=2, behaviour="none")
    b = rep_answers(scen, "team_weighted", trials=23, rng=2, behaviour="none", chunk_size=4)
    with ThreadPoolExecutor(2) as ex:
        c = rep_answers(scen, "team_weighted", trials=23, rng=2, behaviour="none", chunk_size=7, executor=ex)
    pd.testing.assert_frame_equal(a.statement, b.statement)
    pd.testing.assert_frame_equal(a.statement, c.statement)
    pd.testing.assert_frame_equal(a.teams, c.teams)


def test_each_reps_expected_pay_and_change_have_a_95_interval_from_the_trials():
    """A named rep's expected pay under each plan and its change carry a Monte Carlo SE and 95% CI over the trials
    (each rep's per-trial pay: sd / sqrt(trials), mean ± 1.96 SE), the same on any chunking and worker count."""
    from simlib.engine.reps import rep_chunk
    from simlib.format import Z95
    from simlib.model.population import root_seed

    scen = _scenario()
    ans = rep_answers(scen, "harder_target", trials=23, rng=2, behaviour="none")
    _, out = rep_chunk(scen, ["current", "harder_target"], root_seed(2), 0, 23, "none", None)
    s = ans.statement.set_index("rep_id")
    for role in scen.roles:
        ids = rep_labels(scen, role)[0]
        a, b = out["current"][role]["pay"], out["harder_target"][role]["pay"]
        for name, x in (("expected_current", a), ("expected_candidate", b), ("change", b - a)):
            se = x.std(axis=0, ddof=1) / np.sqrt(23)
            np.testing.assert_allclose(s.loc[ids, f"{name}_se" if name != "change" else "change_se"], se, rtol=1e-9)
            np.testing.assert_allclose(s.loc[ids, f"{name}_ci_low"], x.mean(axis=0) - Z95 * se, rtol=1e-9)
            np.testing.assert_allclose(s.loc[ids, f"{name}_ci_high"], x.mean(axis=0) + Z95 * se, rtol=1e-9)
    assert (s["expected_candidate_se"] > 0).all()  # pay varies from trial to trial for every rep
    cols = [f"{n}_{k}" for n in ("expected_current", "expected_candidate", "change") for k in ("ci_low", "ci_high")]
    b = rep_answers(scen, "harder_target", trials=23, rng=2, behaviour="none", chunk_size=1)
    with ThreadPoolExecutor(2) as ex:
        c = rep_answers(scen, "harder_target", trials=23, rng=2, behaviour="none", chunk_size=5, executor=ex)
    for other in (b, c):
        pd.testing.assert_frame_equal(ans.statement[cols], other.statement[cols])


def test_statement_quantiles_and_losers_are_consistent():
    scen = _scenario()
    ans = rep_answers(scen, "harder_target", trials=TRIALS, behaviour="none", loss=0.05)
    s = ans.statement
    for plan in ("current", "candidate"):
        assert (s[f"{plan}_p10"] <= s[f"{plan}_p50"]).all() and (s[f"{plan}_p50"] <= s[f"{plan}_p90"]).all()
    base = s["role"].map({r: scen.base_salary("current", r) for r in scen.roles})
    assert (s["current_p10"] >= base - 1e-9).all()
    lo = ans.losers()
    assert len(lo) > 0 and (lo["change_pct"] < -0.05).all()
    assert len(lo) == int((s["change_pct"] < -0.05).sum())
    t = ans.teams
    assert (t["cost_change_ci_low"] <= t["cost_change"]).all() and (t["cost_change"] <= t["cost_change_ci_high"]).all()


def test_bad_requests_are_refused_before_any_work():
    scen = load_scenario(DEFAULT)
    with pytest.raises(PlanError, match="unknown plan"):
        rep_answers(scen, "nope", trials=10)
    with pytest.raises(PlanError, match="loss"):
        rep_answers(scen, "harder_target", trials=10, loss=-0.1)
    too_many = MAX_REP_VALUES // (2 * scen.headcount) + 1
    with pytest.raises(RequestTooLarge, match="per-rep answers keep every rep's pay"):
        rep_answers(scen, "harder_target", trials=too_many)


def test_command_writes_the_rep_statement_and_team_table(tmp_path, capsys):
    out, teams = tmp_path / "statement.csv", tmp_path / "teams.json"
    assert main(["reps", str(DEFAULT), "--plan", "harder_target", "--trials", "20", "--behaviour", "none",
                 "--out", str(out), "--teams", str(teams)]) == 0
    text = capsys.readouterr().out
    assert "losers (" in text and "key_account-T1" in text
    # the team's attainment under both plans in percent (the table's blocks are at most 100 columns wide)
    rows = [x for x in text.split("\nteams:")[1].splitlines() if "key_account-T1 " in x]
    attain = [a for x in rows for a in re.findall(r"\d+\.\d% ± \d+\.\d\b", x)]
    assert len(attain) == 2 and max(map(len, rows)) <= 100, rows
    s = pd.read_csv(out)
    assert list(s.columns[:7]) == ["rep_id", "role", "team", "expected_current", "expected_candidate", "change",
                                   "change_pct"]
    assert len(s) == 200 and len(pd.read_json(teams)) == 28
    with pytest.raises(SystemExit) as exc:
        main(["reps", str(DEFAULT), "--plan", "harder_target", "--loss", "2"])
    assert exc.value.code == 1
    assert "expected a fraction between 0 and 1" in capsys.readouterr().err


def test_command_writes_every_table_to_one_workbook(tmp_path, capsys):
    """--out FILE.xlsx: the rep statement, the teams and the winners and losers, one sheet each, numbers numeric;
    the same numbers as the csv."""
    from openpyxl import load_workbook

    book, csv = tmp_path / "reps.xlsx", tmp_path / "statement.csv"
    base = ["reps", str(DEFAULT), "--plan", "harder_target", "--trials", "20", "--behaviour", "none"]
    assert main([*base, "--out", str(book)]) == 0
    assert f"wrote {book}" in capsys.readouterr().out
    wb = load_workbook(book)
    assert wb.sheetnames == ["statement", "teams", "winners_losers"]
    ws = wb["statement"]
    head = [c.value for c in ws[1]]
    assert ws.max_row == 201 and wb["teams"].max_row == 29
    got = [ws.cell(r, head.index("expected_candidate") + 1).value for r in range(2, 202)]
    assert all(isinstance(v, float) for v in got)
    assert main([*base, "--out", str(csv)]) == 0
    assert np.allclose(got, pd.read_csv(csv)["expected_candidate"], rtol=1e-12)
    low = [ws.cell(r, head.index("expected_candidate_ci_low") + 1).value for r in range(2, 202)]
    assert np.allclose(low, pd.read_csv(csv)["expected_candidate_ci_low"], rtol=1e-12)
    assert all(lo < v for lo, v in zip(low, got, strict=True))
    assert main([*base, "--format", "parquet"]) == 1
    assert "--format parquet needs --out" in capsys.readouterr().err


def test_printed_tables_read_in_the_currency_to_the_precision_the_trials_allow(capsys):
    # the team table printed "301,442 ± 12,855" (six digits on a number known to ± 4%, no currency) under
    # snake_case headers, and the counts "expected change of pay -316,304" without currency
    assert main(["reps", str(DEFAULT), "--plan", "harder_target", "--trials", "20", "--behaviour", "none"]) == 0
    text = capsys.readouterr().out
    cur = load_scenario(DEFAULT).currency
    team_line = next(x for x in text.split("\nteams:")[1].splitlines() if "key_account-T1 " in x and "±" in x)
    assert re.search(rf"\d+ k {cur} ± \d+(\.\d)? k", team_line), team_line
    assert not re.search(r"\d{3},\d{3} ±", text)
    counts = next(x for x in text.splitlines() if x.strip().startswith("key account"))
    assert re.search(rf"[+-]\d+(\.\d+)? k {cur}$", counts), counts
    for header in ("cost_current", "cost_change", "attainment_candidate", "expected_current", "change_pct", "p_lower"):
        assert header not in text, header
    assert "incentive cost, harder target" in text and "chance of lower pay" in text
    rid = next(x for x in text.splitlines() if x.strip().startswith(("telesales-0", "key_account-0"))).split()[0]
    loser = " ".join(x for x in text.splitlines() if x.startswith(f"{rid} "))  # its row over the table's blocks
    assert re.search(rf"\d+(\.\d)? k {cur} ± ", loser) and re.search(r"-\d+\.\d% ± \d", loser), loser
