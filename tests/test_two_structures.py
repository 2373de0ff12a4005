"""Annual pay beside quarterly pay: the behaviour model tracks both period structures (docs/model.md 4.1).

Most sales plans pay a quarterly bonus beside an annual one. The programme used to track one period structure, the
larger component's, and treat the other as money linear in output; a plan whose quarterly and annual weights
crossed 50/50 then switched structures and its revenue jumped (4.7% between weights 0.49 and 0.51 on the quarterly
bonus validation scenario). The state is now the quarter's attainment and the year's attainment at the quarter's
start.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

import simlib
from simlib.behaviour import kernels
from simlib.behaviour.dynamic import DynamicBehaviour
from simlib.behaviour.types import C_GRID
from simlib.model.plans import period_structures

CURVE = {"measure": "revenue", "kind": "curve", "ytd_true_up": False,
         "points": [[0.7, 0.3], [1.0, 1.0], [1.5, 2.0]], "cap": 2.0}


def _plan(w_quarter: float) -> dict:
    comps = [{**CURVE, "name": "annual", "period": "year", "weight": round(1.0 - w_quarter, 6)},
             {**CURVE, "name": "quarterly", "period": "quarter", "weight": w_quarter}]
    return {"roles": {"reps": {"quota": {"method": "territory", "level": 1.0, "noise": 0.1}, "components": comps}}}


def _scenario(weights) -> simlib.Scenario:
    data = {
        "name": "two_structures",
        "market": {"growth_mean": 0.0, "growth_sd": 0.03, "monthly_sd": 0.02, "monthly_rho": 0.5},
        "roles": {"reps": {
            "process": "key_account", "headcount": 24, "team_size": 6, "base_salary": 90000,
            "target_incentive": 60000, "ability_sd": 0.35, "territory_sd": 0.2, "new_hire_share": 0.0,
            "ramp_months": 6, "effort_elasticity": 0.6, "seasonality": [1.0] * 12,
            "production": {"deals_per_month": 1.5, "deal_size_mean": 40000, "deal_size_sd_log": 0.6,
                           "pipeline_lag_months": 0},
        }},
        "current_plan": "current",
        "plans": {"current": {"roles": {"reps": {"quota": {"method": "territory", "level": 1.0, "noise": 0.1},
                                                 "components": [{**CURVE, "name": "bonus", "period": "year",
                                                                 "weight": 1.0}]}}}},
        "behaviour": {"mode": "dynamic"},
    }
    for w in weights:
        data["plans"][f"q{w}"] = _plan(w)
    return simlib.scenario_from_dict(copy.deepcopy(data), "two_structures")


def test_a_quarterly_bonus_beside_an_annual_one_is_tracked_with_it():
    s = _scenario([0.3])
    inner, outer = period_structures(s.role_plan("q0.3", "reps"), 60000.0, quota=3e6)
    assert (inner.period, inner.names, inner.ends) == ("quarter", ("quarterly",), (2, 5, 8, 11))
    assert (outer.period, outer.names) == ("year", ("annual",))
    assert period_structures(s.role_plan("current", "reps"), 60000.0, quota=3e6)[1] is None


def test_revenue_moves_smoothly_as_the_quarterly_weight_crosses_the_annual_one():
    """On common random numbers, moving the quarterly weight from 0.49 to 0.51 moves revenue by about a fifth of
    what moving it from 0.45 to 0.55 does (the response is smooth); the one-structure programme moved it by 93% of
    it there (a jump of 4.7% of revenue as the primary structure switched)."""
    ws = [0.45, 0.49, 0.51, 0.55]
    s = simlib.simulate(_scenario(ws), trials=12, rng=3).summary()
    rev = {w: float(s[(s.plan == f"q{w}") & (s.group == "total") & (s.metric == "revenue")]["mean"].iloc[0]) for w in ws}
    wide, narrow = rev[0.55] - rev[0.45], rev[0.51] - rev[0.49]
    assert abs(wide) > 0.0
    assert abs(narrow) < 0.5 * abs(wide)


def _problems(w_quarter: float, one: str):
    """The nested programme of a plan paying ``w_quarter`` quarterly and the rest annually, and the one-structure
    programme of the plan paying only through ``one`` ("quarterly" or "annual"), with the same types and costs."""
    s = _scenario([w_quarter])
    data = s.model_dump(by_alias=True)
    keep = [c for c in data["plans"][f"q{w_quarter}"]["roles"]["reps"]["components"] if c["name"] == one]
    data["plans"]["one"] = {"roles": {"reps": {"quota": {"method": "territory", "level": 1.0, "noise": 0.1},
                                               "components": keep}}}
    s = simlib.scenario_from_dict(data, "two_structures")
    m = DynamicBehaviour(s)
    k = np.full(len(C_GRID), 40000.0)
    nested = m._problem(f"q{w_quarter}", "reps", m._ingredients(f"q{w_quarter}", "reps"), C_GRID, k)
    single = m._problem("one", "reps", m._ingredients("one", "reps"), C_GRID, k)
    return nested, single


@pytest.mark.parametrize("timing", [True, False])
def test_without_annual_money_the_nested_programme_is_the_quarterly_one(timing):
    """An annual component of weight 0 beside the quarterly one leaves every value of the year's state with the
    quarterly programme's effort and timing."""
    nested, single = _problems(1.0, "quarterly")
    assert nested.outer is not None and single.outer is None
    if not timing:
        nested, single = dataclasses.replace(nested, timing=None), dataclasses.replace(single, timing=None)
    a, b = kernels.solve(nested), kernels.solve(single)
    assert np.abs(a.effort - b.effort[:, None]).max() < 1e-9
    assert np.abs(a.shift - b.shift[:, None]).max() < 1e-9
    assert np.abs(a.mean_output - b.mean_output).max() < 1e-9


def test_without_quarterly_money_the_nested_programme_is_the_annual_one_within_the_grid_error():
    """A quarterly component of weight 0 beside the annual one: the year tracked through its quarters gives the
    annual programme's mean output per type within the annual programme's own grid error (measured: 0.7% at most at
    81 state points against 0.09% at 161)."""
    nested, single = _problems(0.0, "annual")
    a, b = kernels.solve(nested), kernels.solve(single)
    assert np.abs(a.mean_output / b.mean_output - 1.0).max() < 0.015


def test_same_numbers_on_any_chunking_with_two_structures():
    s = _scenario([0.5])
    one = simlib.simulate(s, trials=8, rng=1, chunk_size=8).summary()
    two = simlib.simulate(s, trials=8, rng=1, chunk_size=3).summary()
    assert np.array_equal(one["mean"].to_numpy(), two["mean"].to_numpy())
