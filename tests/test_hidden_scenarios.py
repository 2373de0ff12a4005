"""Defects found on scenarios unlike the shipped ones (odd headcounts, teams of one, pure commission), each pinned
by a small scenario built here."""

from __future__ import annotations

import json

from conftest import DATA, run_cli

import simlib
from simlib.behaviour.dynamic import dynamic


def _teams_of_one(default_scenario):
    data = default_scenario.model_dump(by_alias=True)
    for role in data["roles"].values():
        role["team_size"] = 1
    return simlib.scenario_from_dict(data, "teams of one")


def test_a_rep_without_teammates_gives_and_gets_no_help(default_scenario):
    """Teams of one: quotas 10% higher gave help 0.95 (channel) and cut each rep's own output by the help multiplier,
    though there is no teammate to help or be helped by. Help is 1 and its output multiplier 1 on every role."""
    s = _teams_of_one(default_scenario)
    dm = dynamic(s)
    for role in s.roles:
        rs = dm.solve("harder_target", role)
        assert rs.help == 1.0 and rs.help_mult == 1.0, (role, rs.help, rs.help_mult)
    res = simlib.simulate(s, ["harder_target"], trials=4, rng=1, behaviour="dynamic").summary()
    h = res[(res.metric == "help_given") & (res.plan == "harder_target")]["mean"]
    assert (h == 1.0).all(), h


def test_teams_of_two_still_help_less_under_harder_targets(default_scenario):
    """The fix leaves teams with teammates alone: help still falls under harder targets (section 4.3)."""
    data = default_scenario.model_dump(by_alias=True)
    for role in data["roles"].values():
        role["team_size"] = 2
    s = simlib.scenario_from_dict(data, "teams of two")
    dm = dynamic(s)
    assert all(dm.solve("harder_target", role).help < 0.99 for role in s.roles)


COMMISSION = DATA / "hidden" / "commission.yaml"


def _cli(capsys, *args):
    code, out, _ = run_cli(capsys, *args)
    return code, out


def test_relabelling_a_pure_commission_plan_moves_nothing():
    """Commission only: the target-incentive label is not used, so under dynamic every number but the payout
    multiples (left out at a target of 0) is the current plan's, bit for bit."""
    s = simlib.load_scenario(COMMISSION)
    tab = simlib.simulate(s, trials=6, rng=2, behaviour="dynamic").summary()
    a = tab[tab.plan == "current"].set_index(["group", "metric"])["mean"]
    b = tab[tab.plan == "relabelled"].set_index(["group", "metric"])["mean"]
    assert len(a) > 20 and (a == b.reindex(a.index)).all(), a[a != b.reindex(a.index)]


def test_check_says_which_rules_it_could_not_judge(capsys):
    """At a target incentive of 0 the leverage rule (payout / target incentive) has no value; `check` dropped it
    from the current plan without a word while judging (and failing) it for the relabelled copy. It now names the
    rule, plan and group it could not judge, in the table's text and in the JSON."""
    code, text = _cli(capsys, "check", COMMISSION, "--trials", 8, "--seed", 1, "--behaviour", "none")
    assert "not judged: Leverage (payout / target, 90th pct.)" in text and "current (total)" in text, text
    code, out = _cli(capsys, "check", COMMISSION, "--trials", 8, "--seed", 1, "--behaviour", "none",
                     "--format", "json")
    doc = json.loads(out)
    miss = {(r["plan"], r["group"], r["metric"]) for r in doc["not_judged"]}
    assert ("current", "total", "leverage") in miss
    assert not any(p == "relabelled" for p, _, _ in miss)
    assert all(r["reason"] for r in doc["not_judged"])


def test_optimize_refuses_a_constraint_that_has_no_value(capsys):
    """`--constraint leverage<=3` on a pure-commission plan: leverage has no value at any point, so every point was
    'VIOLATED', the run ended '** NO FEASIBLE POINT FOUND **' and reported as the optimum a plan 11.9 k GBP less
    profitable than today's. A constraint (or objective) with no value at any start point is now a clear error."""
    code, out = _cli(capsys, "optimize", COMMISSION, "--param", "commission_rate=0.5:2", "--objective", "profit",
                     "--constraint", "leverage<=3", "--trials", 6, "--starts", 2, "--maxiter", 0,
                     "--no-sensitivity", "--behaviour", "none")
    assert code == 1, out
    assert "NO FEASIBLE POINT" not in out


def test_optimize_names_the_constraint_without_a_value():
    from simlib.design.optimize import optimize
    from simlib.errors import SimlibError

    s = simlib.load_scenario(COMMISSION)
    try:
        optimize(s, {"commission_rate": (0.5, 2.0)}, constraints=["leverage<=3"], trials=6, starts=2, maxiter=0,
                 sensitivity=[], behaviour="none")
    except SimlibError as e:
        msg = str(e)
    else:
        raise AssertionError("no error")
    assert "leverage <= 3" in msg and "no value" in msg and "target incentive is 0" in msg, msg


THREE = DATA / "hidden" / "three_reps.yaml"


def test_report_skips_calibration_where_no_role_has_five_reps():
    """Three reps: the calibration notebook synthesised one year and failed ('only 3 rep-year(s) with a full year:
    too few to fit'), so `simlib report` exited 1 on a scenario every other notebook ran on. It is now skipped with
    the reason, as role_schemes is without its common plan; with a history of one's own it still runs."""
    from pathlib import Path

    from simlib.report import build as report

    specs = {"calibration": report.REGISTRY["calibration"]}
    jobs, skipped = report._plan_jobs([Path(THREE)], specs, ["calibration"], 4, 0, None, [])
    assert jobs == [] and len(skipped) == 1, (jobs, skipped)
    (o,) = skipped
    assert o.status == "skipped" and "fewer than 5 reps" in o.message and "history_path" in o.message, o.message
    jobs, skipped = report._plan_jobs([Path(THREE)], specs, ["calibration"], 4, 0, None,
                                      [("calibration", "history_path", "mine.csv")])
    assert len(jobs) == 1 and skipped == []
    jobs, skipped = report._plan_jobs([Path(COMMISSION)], specs, ["calibration"], 4, 0, None, [])
    assert len(jobs) == 1 and skipped == []


def _three_reps(team_size: int):
    import yaml

    data = yaml.safe_load(THREE.read_text())
    data["roles"]["ka"]["team_size"] = team_size
    data["plans"]["teamy"] = {"base": "current", "changes": {"roles": {"ka": {"team": {"weight": 0.5}}}}}
    return simlib.scenario_from_dict(data, f"three reps, team_size {team_size}")


def test_a_team_size_above_the_headcount_is_one_team_of_the_headcount():
    """Three reps with team_size 7 form one team of three (the engine's teams), but the behaviour model used 7:
    free riding and help as in a team of seven (a solo CHF rep with team_size 5 and half its pay on the team got
    help 1.50 and +15.7 k revenue, against +7.1 k with team_size 1). Every number is now that of team_size 3."""
    a = simlib.simulate(_three_reps(3), trials=4, rng=3, behaviour="dynamic").summary()
    b = simlib.simulate(_three_reps(7), trials=4, rng=3, behaviour="dynamic").summary()
    key = ["plan", "group", "metric"]
    a, b = a.set_index(key)["mean"], b.set_index(key)["mean"]
    assert len(a) > 20 and a.index.equals(b.index)
    diff = a[~((a == b) | (a.isna() & b.isna()))]
    assert diff.empty, (diff, b[diff.index])


def test_synth_refuses_a_year_two_plan_without_a_year_two(tmp_path, capsys):
    """`simlib synth --years 1 --plan2 uncapped` wrote one year under today's plan and said nothing of the plan
    asked for; a year-two plan without a year two is now an error that says so, and no file is written."""
    out = tmp_path / "h.csv"
    code, _ = _cli(capsys, "synth", THREE, "--out", out, "--years", 1, "--plan2", "current")
    assert code == 1 and not out.exists()
    from simlib.errors import SimlibError
    from simlib.fit.synth import synth_history

    try:
        synth_history(simlib.load_scenario(THREE), years=1, plan2="current")
    except SimlibError as e:
        assert "plan2" in str(e) and "years 2" in str(e), str(e)
    else:
        raise AssertionError("no error")
