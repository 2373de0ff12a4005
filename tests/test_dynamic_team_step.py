"""A plan a hair away from another behaves like it under ``dynamic`` when its pay has a step read through a team
(docs/model.md 4.3, 4.6, 6.2).

The team pool's marginal value ``D`` (section 4.3) is a finite difference of the team's pay on the calibration
sample: revenue times 1.02 against revenue as it is. A lump sum read through a team of two has 16 team-years there,
and one of them sat at the window's edge (its team attainment times 1.02 at the 1.45 step to 2e-6): a quota level
x1.00001 took it out of the window, ``D`` fell from 7,821 to 0, help from 0.586 to 0.453 and the plan's revenue by
4.5%. The set-up is seed 37 case 12 of ``python -m benchmarks.dynamic_audit`` (two telesales reps, team weight 0.96
by contribution; the audit moved the conversion rate, which moves the territory quota the same way).
"""

from __future__ import annotations

import copy

import pytest

import simlib
from simlib.behaviour.dynamic import DynamicBehaviour

TODAY = {
    "quota": {"method": "territory", "level": 0.822, "noise": 0.267, "growth": -0.028},
    "components": [
        {"name": "c0", "measure": "revenue", "kind": "curve", "period": "quarter", "ytd_true_up": False,
         "points": [[0.55, 0.84], [0.85, 1.72], [1.1, 2.53], [1.6, 3.36]], "beyond": "extend", "weight": 0.28},
        {"name": "c1", "measure": "revenue", "kind": "lump_sum", "period": "year", "ytd_true_up": False,
         "steps": [{"at": 0.8, "amount": 6442}, {"at": 0.95, "amount": 7000}, {"at": 1.45, "amount": 1239}]},
    ],
    "weights_total": 0.28,
    "gates": [{"measure": "revenue", "min_attainment": 0.52, "components": ["c0"]}],
    "modifiers": [{"measure": "record_accuracy", "points": [[1.018, 0.5]]}],
    "team": {"weight": 0.96, "split": "contribution"},
}

LUMP = {
    "quota": {"method": "territory", "level": 0.822, "noise": 0.267, "growth": -0.028},
    "components": [TODAY["components"][1]],
    "team": {"weight": 0.96, "split": "contribution"},
}

SCENARIO = {
    "name": "team_step",
    "market": {"growth_mean": 0.053, "growth_sd": 0.024, "monthly_sd": 0.0, "monthly_rho": 0.71},
    "roles": {"r": {
        "process": "telesales", "headcount": 2, "team_size": 2, "base_salary": 0.0, "target_incentive": 59053,
        "ability_sd": 0.423, "territory_sd": 0.148, "new_hire_share": 0.0, "ramp_months": 4, "last_year_sd": 0.155,
        "seasonality": [0.879, 1.108, 0.864, 0.721, 1.313, 1.051, 1.0, 0.991, 1.183, 1.131, 0.653, 1.212],
        "production": {"calls_per_month": 827, "lead_rate": 0.138, "conversion_rate": 0.187, "deal_value": 2683,
                       "deal_value_cv": 0.15, "record_accuracy": 0.938, "record_accuracy_sd": 0.044,
                       "cancel_rate": 0.449, "cancel_window_months": 2},
    }},
    "plans": {"current": {"roles": {"r": TODAY}}, "lump": {"roles": {"r": LUMP}}},
    "behaviour": {"mode": "dynamic"},
}


def _scenario() -> simlib.Scenario:
    data = copy.deepcopy(SCENARIO)
    near = copy.deepcopy(LUMP)
    near["quota"]["level"] *= 1.00001
    data["plans"]["near"] = {"roles": {"r": near}}
    return simlib.scenario_from_dict(data, "team_step")


def _total(s, plan: str, metric: str) -> float:
    return float(s[(s.plan == plan) & (s.group == "total") & (s.metric == metric)]["mean"].iloc[0])


def test_a_quota_level_a_hair_away_gives_the_same_help_and_revenue():
    scen = _scenario()
    beh = DynamicBehaviour(scen)
    lump, near = beh.solve("lump", "r"), beh.solve("near", "r")
    assert lump.info["omega"] == pytest.approx(near.info["omega"], rel=1e-4)
    assert near.help == pytest.approx(lump.help, rel=1e-3)
    s = simlib.simulate(scen, trials=12, rng=37).summary()
    assert _total(s, "near", "revenue") == pytest.approx(_total(s, "lump", "revenue"), rel=1e-3)
