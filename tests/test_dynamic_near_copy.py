"""A plan a hair away from today's plan behaves like today's plan under ``dynamic`` (docs/model.md 4.1, 4.3, 6.2).

Today's plan keeps today's effort by construction (``DynamicBehaviour.todays_terms``); a copy of it with a gate
target x1.00001 is a new plan and is solved. Each type's effort cost is normalised so that today's plan gives
today's output, so that solution must be today's effort too. The set-up is seed 45 case 24 of
``python -m benchmarks.dynamic_audit`` (two telesales reps, team weight 0.25 by contribution, a gate on leads, a
record-accuracy modifier that falls above 0.8).
"""

from __future__ import annotations

import copy

import pytest

import simlib
from simlib.behaviour.dynamic import DynamicBehaviour

TODAY = {
    "quota": {"method": "flat", "level": 0.806, "noise": 0.135, "growth": -0.048},
    "components": [
        {"name": "c0", "measure": "conversions", "kind": "per_unit", "period": "half", "ytd_true_up": True,
         "rate": 31.6362},
        {"name": "c1", "measure": "revenue", "kind": "commission", "period": "month", "ytd_true_up": False,
         "mode": "retroactive", "tiers": [{"from": 0.1, "rate": 0.045}, {"from": 0.3, "rate": 0.023}], "cap": 0.0668},
        {"name": "c2", "measure": "revenue", "kind": "lump_sum", "period": "quarter", "ytd_true_up": False,
         "steps": [{"at": 0.9, "amount": 5256}, {"at": 0.95, "amount": 3046}]},
    ],
    "gates": [{"measure": "leads", "min_attainment": 0.8, "target": 900.862, "components": ["c0"]}],
    "modifiers": [{"measure": "record_accuracy", "points": [[0.78, 0.56], [0.8, 1.44], [0.86, 0.77]]}],
    "team": {"weight": 0.25, "split": "contribution"},
}

SCENARIO = {
    "name": "near_copy",
    "market": {"growth_mean": -0.032, "growth_sd": 0.088, "monthly_sd": 0.007, "monthly_rho": 0.62},
    "roles": {"r": {
        "process": "telesales", "headcount": 2, "team_size": 2, "base_salary": 50000, "target_incentive": 25711,
        "ability_sd": 0.227, "territory_sd": 0.041, "new_hire_share": 0.0, "ramp_months": 4, "last_year_sd": 0.011,
        "seasonality": [0.879, 1.342, 0.791, 0.815, 0.732, 1.184, 1.146, 0.6, 0.737, 1.283, 1.127, 0.98],
        "production": {"calls_per_month": 912, "lead_rate": 0.09, "conversion_rate": 0.137, "deal_value": 1849,
                       "deal_value_cv": 0.31, "record_accuracy": 0.84, "record_accuracy_sd": 0.028},
    }},
    "plans": {"current": {"roles": {"r": TODAY}}},
    "behaviour": {"mode": "dynamic"},
}


def _scenario() -> simlib.Scenario:
    data = copy.deepcopy(SCENARIO)
    near = copy.deepcopy(TODAY)
    near["gates"][0]["target"] *= 1.00001
    data["plans"]["near"] = {"roles": {"r": near}}
    return simlib.scenario_from_dict(data, "near_copy")


def _total(s, plan: str, metric: str) -> float:
    return float(s[(s.plan == plan) & (s.group == "total") & (s.metric == metric)]["mean"].iloc[0])


def test_hair_from_todays_plan_gives_todays_effort_and_revenue():
    s = simlib.simulate(_scenario(), trials=10, rng=45).summary()
    assert _total(s, "near", "effort_index") == pytest.approx(1.0, abs=2e-3)
    for metric in ("revenue", "incentive_cost"):
        assert _total(s, "near", metric) == pytest.approx(_total(s, "current", metric), rel=1e-3)


def test_todays_own_solution_gives_todays_output_here():
    """Here today's plan pays less for more output at the margin (the record-accuracy modifier falls above 0.8), so
    no cost scale alone makes today's effort optimal (free effort gives 0.21-0.62 of today's output): each such type
    gets a non-money value of output instead, and today's own solved response is today's output within the
    normalisation's tolerance, as it is without the modifier (where the cost scale alone does it)."""
    got = DynamicBehaviour(_scenario()).solve("current", "r").info["mean_output"]
    assert abs(got - 1.0).max() < 2e-3
    data = copy.deepcopy(SCENARIO)
    del data["plans"]["current"]["roles"]["r"]["modifiers"]
    plain = DynamicBehaviour(simlib.scenario_from_dict(data, "plain")).solve("current", "r").info["mean_output"]
    assert abs(plain - 1.0).max() < 2e-3
