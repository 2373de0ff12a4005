"""Sweeps: designs, parameter aliases, common random numbers, tidy output, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import DEFAULT

from simlib import simulate
from simlib.cli import main
from simlib.cli.args import parse_param_arg
from simlib.design.sweep import apply_point, design_points, parse_param, run_sweep
from simlib.errors import PlanError, SimlibError


@pytest.fixture(scope="module")
def level_sweep(scen):
    return run_sweep(scen, {"target_level": [0.95, 1.0, 1.05]}, trials=128, rng=7, executor="serial", behaviour="none")


def _row(df, point, metric, group="total"):
    r = df[(df.point == point) & (df.metric == metric) & (df.group == group)]
    assert len(r) == 1
    return r.iloc[0]


def test_tidy_columns_and_rows(level_sweep, scen):
    cols = ["point", "target_level", "group", "metric", "mean", "se", "ci_low", "ci_high", "n", "seed",
            "diff", "diff_se"]
    for c in cols:
        assert c in level_sweep.columns
    assert sorted(level_sweep.point.unique()) == [0, 1, 2]
    assert set(level_sweep.group) == set(scen.roles) | {"total"}
    assert (level_sweep.seed == 7).all()
    assert (level_sweep.n[level_sweep.metric == "profit"] == 128).all()
    # one row per point x group x metric
    assert not level_sweep.duplicated(["point", "group", "metric"]).any()
    assert level_sweep.groupby("point").size().nunique() == 1


def test_crn_differences_much_tighter_than_levels(level_sweep):
    # point 1 is the base plan itself: its paired difference is exactly zero
    mid = _row(level_sweep, 1, "profit")
    assert mid["diff"] == 0.0 and mid["diff_se"] == 0.0
    for p in (0, 2):
        r = _row(level_sweep, p, "profit")
        assert r["diff_se"] < 0.1 * r["se"], (r["diff_se"], r["se"])
        # the neighbouring difference is clearly resolved although the levels' CIs overlap
        assert abs(r["diff"]) > 5 * r["diff_se"]
        assert abs(r["mean"] - mid["mean"]) < 1.96 * (r["se"] + mid["se"])
    # a higher quota pays less incentive
    assert _row(level_sweep, 2, "incentive_cost")["diff"] < 0 < _row(level_sweep, 0, "incentive_cost")["diff"]


def test_points_match_direct_simulation(level_sweep, scen):
    # the base plan's own numbers at the base point equal a plain simulate() of it
    res = simulate(scen, ["current"], trials=128, rng=7, behaviour="none").summary()
    ref = res[(res.plan == "current") & (res.group == "total") & (res.metric == "profit")].iloc[0]
    r = _row(level_sweep, 1, "profit")
    assert r["mean"] == ref["mean"] and r["se"] == ref["se"]


def test_deterministic_and_chunk_invariant(scen, level_sweep):
    again = run_sweep(scen, {"target_level": [0.95, 1.0, 1.05]}, trials=128, rng=7, executor="serial", behaviour="none",
                      chunk_size=50, plans_per_call=1)
    pd.testing.assert_frame_equal(again, level_sweep)


def test_pay_mix_keeps_ote(scen):
    sd, plan = apply_point(scen, "current", [parse_param("pay_mix", scen)], [0.25])
    for rname, role in scen.roles.items():
        rp = plan["roles"][rname]
        ote = role.base_salary + role.target_incentive
        assert rp["base_salary"] + rp["target_incentive"] == pytest.approx(ote)
        assert rp["target_incentive"] == pytest.approx(0.25 * ote)
    # the channel commission scales with the target incentive
    r = 0.25 * (70000 + 40000) / 40000
    tiers = plan["roles"]["channel"]["components"][0]["tiers"]
    assert tiers[0]["rate"] == pytest.approx(0.045 * r)


def test_accelerator_scales_slope_above_100(scen):
    _, plan = apply_point(scen, "current", [parse_param("accelerator", scen)], [2.0])
    pts = plan["roles"]["key_account"]["components"][0]["points"]
    # [[0.5,0],[0.75,0.5],[1,1],[1.5,2.5]] -> slope above 1 doubles
    assert pts == [[0.5, 0.0], [0.75, 0.5], [1.0, 1.0], [1.5, 4.0]]
    tiers = plan["roles"]["channel"]["components"][0]["tiers"]
    # a tier boundary is inserted at 100% and rates from there double
    assert [(t["from"], t["rate"]) for t in tiers] == [(0.0, 0.045), (0.8, 0.10), (1.0, 0.20), (1.2, 0.24)]


def test_aliases_and_paths(scen):
    specs = [parse_param(n, scen) for n in ("target_level@telesales", "threshold", "cap", "period",
                                              "roles.*.team.weight", "scenario.market.growth_sd")]
    sd, plan = apply_point(scen, "current", specs, [1.2, 0.6, None, "month", 0.4, 0.0])
    assert plan["roles"]["telesales"]["quota"]["level"] == 1.2
    assert plan["roles"]["key_account"]["quota"]["level"] == 1.0
    assert plan["roles"]["key_account"]["components"][0]["points"][0][0] == 0.6
    assert plan["roles"]["telesales"]["components"][0]["cap"] is None
    assert plan["roles"]["telesales"]["components"][0]["period"] == "month"
    assert plan["roles"]["channel"]["components"][0]["period"] == "month"
    assert all(plan["roles"][r]["team"]["weight"] == 0.4 for r in scen.roles)
    assert sd["market"]["growth_sd"] == 0.0
    with pytest.raises(PlanError, match="unknown"):
        parse_param("nonsense", scen)
    with pytest.raises(PlanError, match="unknown role"):
        parse_param("cap@nobody", scen)
    with pytest.raises(PlanError, match="below the next curve point"):
        apply_point(scen, "current", [parse_param("threshold", scen)], [0.9])
    with pytest.raises(PlanError, match="no element named"):
        apply_point(scen, "current", [parse_param("roles.telesales.components.nope.cap", scen)], [2.0])


def test_invalid_value_names_point_and_field(scen):
    with pytest.raises(SimlibError, match=r"point 0 .*team\.weight"):
        run_sweep(scen, {"roles.*.team.weight": [1.5]}, trials=8, executor="serial", behaviour="none")


def test_a_percent_written_as_a_number_is_refused_with_the_fraction(scen):
    """team_weight=50 or cap=150 (meaning 50%, 150%): the message says how to write it, in plain words."""
    with pytest.raises(PlanError, match=r"'team_weight': expected a number in \[0, 1\], got 50: write 0.5 for 50%"):
        run_sweep(scen, {"team_weight": [0.0, 50]}, trials=4, executor="serial", behaviour="none")
    with pytest.raises(PlanError) as ei:
        run_sweep(scen, {"cap@telesales": [150]}, trials=4, executor="serial", behaviour="none")
    text = str(ei.value)
    assert "point 0 (cap@telesales=150) gives an invalid plan: roles.telesales.components.0.cap: expected a " \
           "multiple of the component's target payout (1.5 is 150%), at most 10; got 150: write 1.5 for 150%" in text
    assert "Value error" not in text and "@" not in text.split("cap@telesales=150")[1]


def test_scenario_parameter_changes_world(scen):
    df = run_sweep(scen, {"scenario.market.growth_sd": [0.0, 0.1]}, trials=64, rng=3, executor="serial", behaviour="none")
    a, b = _row(df, 0, "revenue"), _row(df, 1, "revenue")
    assert a["se"] < b["se"]


def test_space_filling_designs():
    params = {"cap": (1.5, 3.0), "team_weight": (0.0, 0.5), "period": ["quarter", "year"]}
    for design in ("sobol", "lhs"):
        pts = design_points(params, design, 16, seed=1)
        assert len(pts) == 16
        caps = np.array([p[0] for p in pts])
        assert caps.min() >= 1.5 and caps.max() <= 3.0
        # space filling: every quarter of the range is visited
        assert len(set(np.floor((caps - 1.5) / 0.375).astype(int))) == 4
        assert {p[2] for p in pts} == {"quarter", "year"}
        assert design_points(params, design, 16, seed=1) == pts
    lhs = design_points({"x": (0.0, 1.0)}, "lhs", 10, seed=0)
    # Latin hypercube: exactly one point per tenth
    assert sorted(int(p[0] * 10) for p in lhs) == list(range(10))
    assert len(design_points({"a": [1, 2, 3], "b": ["x", "y"]}, "grid")) == 6
    with pytest.raises(PlanError, match="sobol"):
        design_points({"a": (0.0, 1.0)}, "grid")
    with pytest.raises(PlanError, match="n_points"):
        design_points({"a": (0.0, 1.0)}, "lhs")


def test_parse_param_arg():
    assert parse_param_arg("target_level=0.9,1.0,1.1") == ("target_level", [0.9, 1.0, 1.1])
    assert parse_param_arg("team_weight=0:0.5:6") == ("team_weight", [0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    assert parse_param_arg("cap=1.5:3") == ("cap", (1.5, 3))
    assert parse_param_arg("period=quarter,year") == ("period", ["quarter", "year"])
    assert parse_param_arg("cap=none,2") == ("cap", [None, 2])
    with pytest.raises(SimlibError):
        parse_param_arg("cap")
    with pytest.raises(SimlibError):
        parse_param_arg("cap=1:2:x")


def test_cli_sweep_writes_tidy_file(tmp_path, capsys):
    out = tmp_path / "sweep.csv"
    rc = main(["sweep", str(DEFAULT), "--param", "target_level=0.9,1.1", "--param", "cap=2,3",
               "--trials", "16", "--seed", "2", "--scheduler", "serial", "--behaviour", "none", "--out", str(out)])
    assert rc == 0
    df = pd.read_csv(out)
    assert df.point.nunique() == 4 and {"target_level", "cap", "mean", "se", "diff", "seed"} <= set(df.columns)
    printed = capsys.readouterr().out
    assert "Profit" in printed and "4 points" in printed  # the printed table names metrics as people read them
    rc = main(["sweep", str(DEFAULT), "--param", "bogus=1", "--trials", "4"])
    assert rc == 1
    assert "bogus" in capsys.readouterr().err


def test_commission_gate_in_a_sweep(scen):
    # 0 gates nothing (same pay as the base plan on the same draws); an unreachable gate removes the commission
    df = run_sweep(scen, {"commission_gate@channel": [0.0, 5.0]}, trials=32, rng=4, executor="serial", behaviour="none")
    open_gate, shut = _row(df, 0, "incentive_cost", "channel"), _row(df, 1, "incentive_cost", "channel")
    assert open_gate["diff"] == 0.0 and open_gate["diff_se"] == 0.0
    assert shut["diff"] < -10 * shut["diff_se"]
    assert _row(df, 1, "incentive_cost", "telesales")["diff"] == 0.0  # other roles untouched


def test_a_sweep_of_another_base_plan_keeps_todays_plan(scen):
    """`sweep --base harder_target` made harder_target today's plan (the behaviour anchor: reps keep today's effort
    under today's plan), so a point equal to harder_target showed the current plan's levels. Reps work under the
    scenario's current plan today: a swept point's levels are `run`'s levels of the same plan, on the same draws."""
    assert scen.current_plan == "current"
    df = run_sweep(scen, {"roles.key_account.quota.level": [1.1]}, base_plan="harder_target", trials=24, rng=3,
                   executor="serial", behaviour="dynamic")
    ref = simulate(scen, ["current", "harder_target"], trials=24, rng=3, behaviour="dynamic").summary()
    ref = ref[ref.plan == "harder_target"].set_index(["group", "metric"])
    for metric in ("revenue", "incentive_cost", "profit"):
        r = _row(df, 0, metric)
        assert r["mean"] == pytest.approx(ref.loc[("total", metric), "mean"], rel=1e-9), metric
        assert r["diff"] == pytest.approx(0.0, abs=1e-6 * abs(r["mean"]))  # the point is the base plan itself


def test_cli_sweep_of_another_base_plan_says_which_plan_is_todays(capsys):
    rc = main(["sweep", str(DEFAULT), "--base", "harder_target", "--param", "cap=2,3", "--trials", "4",
               "--scheduler", "serial", "--behaviour", "none"])
    out = capsys.readouterr().out
    assert rc == 0 and "today's plan: current (current_plan), not harder target" in out, out
    assert len(next(x for x in out.splitlines() if x.startswith("today's plan"))) <= 100
    assert main(["sweep", str(DEFAULT), "--param", "cap=2,3", "--trials", "4", "--scheduler", "serial",
                 "--behaviour", "none"]) == 0
    assert "today's plan" not in capsys.readouterr().out  # the usual case: the base is today's plan
