"""Constrained optimisation: known optima with closed forms, constraints at the optimum, reporting."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import ROOT

from simlib import simulate
from simlib.cli import main
from simlib.design.optimize import _perturbed, expand_sensitivity, optimize, parse_constraints, parse_objective
from simlib.errors import PlanError, SimlibError
from simlib.scenario import scenario_from_dict

T = 160
SEED = 3
RATE = 0.05


def _closed_form_scenario(budget: float = 800000.0):
    """One channel role paid a flat 5% commission on revenue, annual, flat quotas without noise.

    Incentive cost is exactly c x 5% x revenue for a commission multiplier c, and revenue
    does not depend on the plan (behaviour off), so optima have closed forms in c.
    """
    d = {
        "name": "closed_form",
        "roles": {"ch": {"process": "channel", "headcount": 20, "team_size": 5,
                         "base_salary": 50000, "target_incentive": 30000}},
        "budget": {"incentive": budget},
        "behaviour": {"mode": "none"},  # behaviour off for every call on this scenario
        "plans": {"current": {"roles": {"ch": {
            "quota": {"method": "flat", "noise": 0.0},
            "components": [{"name": "comm", "measure": "revenue", "kind": "commission", "period": "year",
                            "tiers": [{"from": 0.0, "rate": RATE}]}],
        }}}},
    }
    return scenario_from_dict(d, "closed_form.yaml")


@pytest.fixture(scope="module")
def closed():
    s = _closed_form_scenario()
    res = simulate(s, trials=T, rng=SEED)
    tr = res.trials()
    rev = tr[(tr.group == "total") & (tr.plan == "current")]["revenue"].to_numpy()
    return s, rev


def test_binding_cost_floor_has_closed_form_optimum(closed):
    s, rev = closed
    # maximise profit (= fewer incentive money) subject to paying at least X: c* = X / (5% x mean revenue)
    X = 1.3 * RATE * rev.mean()
    r = optimize(s, {"commission_rate": (0.5, 2.0), "target_level": (0.7, 1.3)}, objective="profit",
                 constraints=[f"incentive_cost >= {X}", "0.4 <= share_at_quota <= 0.6"],
                 trials=T, rng=SEED, executor="serial", starts=8, maxiter=120)
    assert r.feasible
    assert r.params["commission_rate"] == pytest.approx(1.3, rel=1e-3)
    cons = r.constraints.set_index("constraint")
    assert cons["satisfied"].all()
    # constraints hold at the returned optimum, and the cost floor is the one that binds
    assert cons.loc[f"incentive_cost >= {X:g}", "binding"]
    assert cons.loc[f"incentive_cost >= {X:g}", "value"] >= X
    share = cons.loc["share_at_quota >= 0.4", "value"]
    assert 0.4 <= share <= 0.6
    assert not cons.loc["share_at_quota >= 0.4", "binding"] or not cons.loc["share_at_quota <= 0.6", "binding"]
    # the report re-simulates the optimum next to the base plan: same numbers as the search
    m = r.metrics
    opt_cost = m[(m.plan == "optimum") & (m.group == "total") & (m.metric == "incentive_cost")]["mean"].iloc[0]
    assert opt_cost == pytest.approx(r.params["commission_rate"] * RATE * rev.mean(), rel=1e-9)
    d = r.differences
    assert d[(d.group == "total") & (d.metric == "revenue")]["diff"].iloc[0] == 0.0


def test_budget_risk_constraint_has_closed_form_optimum(closed):
    s, rev = closed
    budget = s.budget.incentive
    # maximise incentive paid subject to P(cost > budget) <= 10%: at most floor(0.1 T) trials over budget
    k = math.floor(0.1 * T)
    c_star = budget / (RATE * np.sort(rev)[::-1][k])
    r = optimize(s, {"commission_rate": (0.5, 2.0)}, objective="incentive_cost",
                 constraints=["over_budget <= 0.1"], trials=T, rng=SEED, executor="serial", starts=8, maxiter=80)
    assert r.feasible
    assert r.params["commission_rate"] == pytest.approx(c_star, rel=1e-4)
    assert r.params["commission_rate"] <= c_star
    row = r.constraints.iloc[0]
    p_over = np.mean(r.params["commission_rate"] * RATE * rev > budget)
    assert p_over <= 0.1 and row["value"] == pytest.approx(p_over)
    assert row["satisfied"] and row["binding"]


def test_cobyla_agrees(closed):
    s, rev = closed
    X = 1.2 * RATE * rev.mean()
    r = optimize(s, {"commission_rate": (0.5, 2.0)}, objective="profit", constraints=[f"incentive_cost>={X}"],
                 trials=T, rng=SEED, executor="serial", method="cobyla", starts=4, maxiter=60)
    assert r.feasible and r.params["commission_rate"] == pytest.approx(1.2, rel=2e-3)


def test_unconstrained_optimum_at_bound_and_sensitivity(closed):
    s, _ = closed
    r = optimize(s, {"commission_rate": (0.5, 2.0)}, objective="profit", trials=T, rng=SEED, executor="serial",
                 starts=4, maxiter=40, sensitivity=["scenario.market.growth_mean=0.0,0.08"])
    # profit falls in the commission rate: the optimum sits at the lower bound whatever the market
    assert r.params["commission_rate"] == pytest.approx(0.5, abs=1e-3)
    sens = r.sensitivity
    assert list(sens.perturbation) == ["scenario.market.growth_mean=0.0", "scenario.market.growth_mean=0.08"]
    assert np.allclose(sens.commission_rate, 0.5, atol=1e-3)
    # more growth, more profit at the same plan
    assert sens.objective_at_original.iloc[1] > r.objective > sens.objective_at_original.iloc[0]


def test_sensitivity_moves_a_binding_optimum(closed):
    s, rev = closed
    X = 1.3 * RATE * rev.mean()
    r = optimize(s, {"commission_rate": (0.5, 2.0)}, objective="profit", constraints=[f"incentive_cost >= {X}"],
                 trials=T, rng=SEED, executor="serial", starts=4, maxiter=60,
                 sensitivity=["scenario.market.growth_mean=0.10"])
    row = r.sensitivity.iloc[0]
    # more revenue: the same cost floor is reached with a lower rate; the old optimum overpays (regret > 0)
    assert row["commission_rate"] < r.params["commission_rate"] - 0.02
    assert row["regret"] > 0 and row["feasible"]


def test_negative_regret_only_where_the_kept_optimum_breaks_a_constraint(closed):
    """Regret compares the re-optimised plan with the optimum kept as is on the same trials, and the search starts from
    the kept optimum: at least 0 while that stays feasible (exactly, not within noise), below 0 only where it breaks a
    constraint under the perturbation; the table then says so rather than printing a negative regret."""
    from simlib.cli.optimize import sensitivity_text

    s, rev = closed
    X = 1.3 * RATE * rev.mean()
    r = optimize(s, {"commission_rate": (0.5, 2.0)}, objective="profit", constraints=[f"incentive_cost >= {X}"],
                 trials=T, rng=SEED, executor="serial", starts=2, maxiter=20, sensitivity_maxiter=12,
                 sensitivity=["scenario.market.growth_mean=-0.10,0.10"])
    sens = r.sensitivity.set_index("perturbation")
    less, more = sens.loc["scenario.market.growth_mean=-0.10"], sens.loc["scenario.market.growth_mean=0.10"]
    # less revenue: the kept rate pays below the cost floor; meeting it again costs profit (regret < 0)
    assert not less["original_feasible"] and less["feasible"] and less["regret"] < 0
    assert more["original_feasible"] and more["regret"] >= 0
    assert (r.sensitivity.loc[r.sensitivity["original_feasible"], "regret"] >= 0).all()
    text = sensitivity_text(r.sensitivity, ["commission_rate"], "profit", "EUR")
    rows = [line for line in text.splitlines() if line.startswith("market growth mean = -0.10")]
    assert any("kept breaks a constraint (-" in row for row in rows), text  # its row, in the regret's block


def test_deterministic(closed):
    s, rev = closed
    kw = dict(objective="profit", constraints=[f"incentive_cost >= {1.1 * RATE * rev.mean()}"], trials=64,
              rng=1, executor="serial", starts=4, maxiter=30)
    a = optimize(s, {"commission_rate": (0.5, 2.0)}, **kw)
    b = optimize(s, {"commission_rate": (0.5, 2.0)}, chunk_size=16, **kw)
    assert a.params == b.params and a.objective == b.objective


def test_infeasible_is_reported(closed):
    s, _ = closed
    r = optimize(s, {"commission_rate": (0.5, 1.0)}, objective="profit", constraints=["incentive_cost >= 1e9"],
                 trials=32, rng=0, executor="serial", starts=4, maxiter=10)
    assert not r.feasible and not r.constraints["satisfied"].iloc[0]


def test_parsing_and_errors():
    groups = ["telesales", "total"]
    assert [str(c) for c in parse_constraints("0.5<=share_at_quota<=0.7", groups)] == [
        "share_at_quota >= 0.5", "share_at_quota <= 0.7"]
    c = parse_constraints("leverage@telesales >= 1.5", groups)[0]
    assert (c.metric, c.group, c.op, c.bound) == ("leverage", "telesales", ">=", 1.5)
    with pytest.raises(PlanError, match="unknown metric"):
        parse_constraints("happiness <= 1", groups)
    with pytest.raises(PlanError, match="unknown group"):
        parse_constraints("leverage@nobody <= 1", groups)
    with pytest.raises(PlanError, match="expected"):
        parse_constraints("leverage == 1", groups)
    with pytest.raises(PlanError, match="over_budget"):
        parse_constraints("over_budget >= 0.1", groups)
    assert parse_objective("profit=1,revenue=0.1") == {"profit": 1.0, "revenue": 0.1}
    with pytest.raises(PlanError):
        parse_objective("nonsense")
    assert expand_sensitivity(["scenario.roles.*.effort_elasticity*=0.5,1.5"]) == [
        "scenario.roles.*.effort_elasticity*=0.5", "scenario.roles.*.effort_elasticity*=1.5"]


def test_an_analyst_s_slips_are_named_with_the_fix():
    """A misspelt metric gets its closest name; a share written in percent is refused before any simulation."""
    groups = ["telesales", "total"]
    with pytest.raises(PlanError, match=r"unknown metric 'share_at_qouta' \(did you mean 'share_at_quota'\?\)"):
        parse_constraints("share_at_qouta >= 0.5", groups)
    with pytest.raises(PlanError, match=r"unknown metric\(s\) \['proft'\] \(did you mean 'profit'\?\)"):
        parse_objective("proft")
    with pytest.raises(PlanError, match=r"share_at_quota is a fraction \(0.5 is 50%\), got 50: write 0.5 for 50%"):
        parse_constraints("share_at_quota >= 50", groups)
    with pytest.raises(PlanError, match=r"comp_cost_of_sales@telesales >= 10.: comp_cost_of_sales is a fraction.*write 0.1 for 10%"):
        parse_constraints("10 <= comp_cost_of_sales@telesales <= 20", groups)
    with pytest.raises(PlanError, match=r"shares are fractions, without '%': 0.5 for 50%"):
        parse_constraints("share_at_quota >= 50%", groups)
    assert parse_constraints("attainment_p90 <= 1.8", groups)[0].bound == 1.8  # above 1, still a fraction
    assert parse_constraints("leverage <= 12", groups)[0].bound == 12  # a ratio, not a percent


def test_perturbations(closed):
    s, _ = closed
    label, p = _perturbed(s, "scenario.roles.*.effort_elasticity*=0.5")
    assert label == "scenario.roles.*.effort_elasticity*=0.5"
    assert p.roles["ch"].effort_elasticity == pytest.approx(0.5 * s.roles["ch"].effort_elasticity)
    _, p = _perturbed(s, "scenario.market.growth_sd=0.2")
    assert p.market.growth_sd == 0.2 and s.market.growth_sd != 0.2
    with pytest.raises(SimlibError):
        _perturbed(s, "scenario.market.nothing=1")
    with pytest.raises(SimlibError):
        _perturbed(s, "scenario.market.growth_sd=-1")  # invalid value: the scenario's validation says so
    # behaviour off: no default sensitivity runs (behavioural parameters would have no effect)
    r = optimize(s, {"commission_rate": (0.5, 2.0)}, trials=16, rng=0, executor="serial", starts=2, maxiter=0,
                 behaviour="none")
    assert r.sensitivity.empty


def test_cli_optimize(tmp_path, capsys):
    out = tmp_path / "opt.json"
    rc = main(["optimize", str(ROOT / "scenarios" / "default.yaml"), "--param", "target_level=0.9:1.2",
               "--constraint", "share_at_quota>=0.4", "--trials", "24", "--starts", "4", "--maxiter", "12",
               "--scheduler", "serial", "--behaviour", "none", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "target_level" in text and "share_at_quota >= 0.4" in text
    data = json.loads(out.read_text())
    assert data["feasible"] and 0.9 <= data["params"]["target_level"] <= 1.2
    assert data["constraints"][0]["value"] >= 0.4


def test_sensitivity_table_reads_as_runs_tables():
    """The sensitivity table a reader sees: headers in words (no ``shift_target_level``), each parameter's value with
    its shift from the optimum to the precision its searched range gives (not ``0.0000118``), the perturbation in
    words, money in the objective's unit, and no line over 100 columns (wide tables in blocks)."""
    import pandas as pd

    from simlib.cli.optimize import sensitivity_legend, sensitivity_text

    params = ["target_level", "cap@telesales"]
    sens = pd.DataFrame([
        {"perturbation": "scenario.roles.*.effort_elasticity*=0.8", "target_level": 1.19, "cap@telesales": 2.7403,
         "objective": 22.31e6, "objective_se": 244e3, "feasible": True, "objective_at_original": 22.23e6,
         "original_feasible": True, "regret": 76.3e3, "shift_target_level": 0.06, "shift_cap@telesales": -0.2251},
        {"perturbation": "scenario.behaviour.effort.risk_aversion=0.5", "target_level": 1.1300118,
         "cap@telesales": 2.97, "objective": 22.1e6, "objective_se": 240e3, "feasible": True,
         "objective_at_original": 22.1e6, "original_feasible": True, "regret": 0.0,
         "shift_target_level": 0.0000118, "shift_cap@telesales": 0.0},
    ])
    bounds = {"target_level": (0.9, 1.2), "cap@telesales": (1.5, 3.0)}
    text = sensitivity_text(sens, params, "profit", "EUR", bounds=bounds)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 100, text
    assert "shift_" not in text and "target_level" not in text and "e-0" not in text and "0.0000" not in text
    assert "target level" in text and "cap (telesales)" in text and "Regret" in text and "Objective" in text
    row = next(line for line in lines if line.startswith("effort elasticity (every role) × 0.8"))
    assert "1.190 (+0.060)" in row and "2.74 (-0.23)" in row, row
    kept = next(line for line in lines if line.startswith("effort risk aversion = 0.5"))
    assert "1.130 (0)" in kept and "2.97 (0)" in kept, kept
    assert "22.3 M EUR ± 478 k" in text and "76.3 k EUR" in text
    legend = sensitivity_legend(sens, params)
    assert max(map(len, legend.splitlines())) <= 100, legend
    assert "shift_" not in legend and "target level = " in legend
