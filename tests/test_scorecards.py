"""Scorecards in the behaviour model: reps see the score's steps (docs/model.md sections 3 and 4.1).

Pay rules themselves are checked by the golden cases (tests/golden/plans.yaml) and
against the written-out reference (tests/test_reference.py).
"""

from __future__ import annotations

import numpy as np
import pytest

import simlib
from simlib.behaviour.dynamic import dynamic
from simlib.behaviour.kernels import X_GRID
from simlib.model.plans import primary_structure

STEPS = (0.8, 1.0, 1.2)


def _card_plan(scen, measure_scale, extra_measures=()):
    """The current plan with telesales paid by one annual scorecard only (revenue scored by ``measure_scale``)."""
    d = scen.plans[scen.current_plan].model_dump(by_alias=True)
    rev = {"measure": "revenue", "weight": 100 - sum(m["weight"] for m in extra_measures), **measure_scale}
    d["roles"]["telesales"] = {
        **d["roles"]["telesales"], "components": [], "gates": [], "modifiers": [], "recognition": None,
        "scorecards": [{"name": "card", "measures": [rev, *extra_measures],
                        "payout": {"curve": [[0, 0], [100, 1.0], [200, 2.0]]}}],
    }
    return d


def _step(b):
    return {"intervals": [{"from": 0, "to": b, "score": 50}, {"from": b, "score": 110}]}


@pytest.fixture(scope="module")
def stepped(default_scenario):
    s = default_scenario
    for b in STEPS:
        s = s.with_plan(f"step{b}", _card_plan(default_scenario, _step(b)))
    s = s.with_plan("smooth", _card_plan(default_scenario, {"curve": [[0, 0], [0.9, 50], [1.1, 110]]}))
    return s


def test_scorecard_is_the_primary_pay_when_it_scores_revenue(stepped):
    st = primary_structure(stepped.role_plan("step1.0", "telesales"), 18000.0, quota=300000.0)
    assert st.period == "year" and st.names == ("card",) and not st.ytd


def test_effort_peaks_just_below_a_score_step_and_follows_it(stepped):
    """In the year's last months a rep of average type works hardest a little below the step, and the peak moves with it."""
    dm = dynamic(stepped)
    peaks = []
    for b in STEPS:
        sol = dm.solve(f"step{b}", "telesales")
        mid = int(np.argmin(np.abs(sol.a_grid - 1.0)))  # the type expected to reach attainment 1 at today's effort
        c = int(np.argmin(np.abs(sol.c_grid - 1.0)))
        e = sol.effort[mid, c, 11, :]
        peak = X_GRID[np.argmax(e)]
        assert b - 0.4 < peak < b, (b, peak)
        above = e[(X_GRID >= b) & (X_GRID < b + 0.3)]
        assert e.max() > above.max() + 0.15, (b, e.max(), above.max())  # past the step, nothing more to win this year
        peaks.append(peak)
    assert peaks[0] < peaks[1] < peaks[2]


def test_a_step_concentrates_effort_where_a_smooth_score_spreads_it(stepped):
    """Against a score that rises smoothly through the same points, the step raises last-month effort just below
    it and lowers it above it."""
    dm = dynamic(stepped)
    step, smooth = dm.solve("step1.0", "telesales"), dm.solve("smooth", "telesales")
    mid = int(np.argmin(np.abs(step.a_grid - 1.0)))
    d = step.effort[mid, 0, 11, :] - smooth.effort[mid, 0, 11, :]
    below = (X_GRID >= 0.75) & (X_GRID < 0.85)
    above = (X_GRID >= 1.0) & (X_GRID < 1.15)
    assert d[below].mean() > 0.03 and d[above].mean() < -0.03, (d[below], d[above])


def test_scorecard_plan_simulates_with_behaviour(stepped):
    """A scorecard-only plan with a non-revenue measure runs end to end under ``dynamic``; pay follows the composite."""
    extra = [{"measure": "record_accuracy", "target": 0.92, "weight": 30, "curve": [[0.9, 0], [1.0, 100], [1.1, 120]]}]
    s = stepped.with_plan("mixed", _card_plan(stepped, _step(1.0), extra))
    res = simlib.simulate(s, ["mixed", "step1.0"], trials=8, rng=2, behaviour="dynamic")
    tab = res.summary()
    inc = tab[(tab.group == "telesales") & (tab.metric == "incentive_cost")].set_index("plan")["mean"]
    assert np.isfinite(inc["mixed"]) and inc["mixed"] > 0 and inc["step1.0"] > 0


def test_shipped_scorecard_scenario_pays_every_role_by_its_scorecard():
    """scenarios/scorecards.yaml: the default organisation; its ``scorecard`` plan pays each role through one scorecard."""
    from conftest import DEFAULT

    s = simlib.load_scenario(DEFAULT.parent / "scorecards.yaml")
    base = simlib.load_scenario(DEFAULT)
    assert s.roles == base.roles and s.plans["current"] == base.plans["current"]
    res = simlib.simulate(s, ["scorecard"], trials=6, rng=3, behaviour="none")
    tab = res.summary()
    for role in s.roles:
        rp = s.role_plan("scorecard", role)
        assert rp.components == [] and len(rp.scorecards) == 1
        inc = tab[(tab.group == role) & (tab.metric == "incentive_cost")].set_index("plan")["mean"]
        ti = s.target_incentive("scorecard", role) * s.roles[role].headcount
        assert 0.3 * ti < inc["scorecard"] < 1.5 * ti, (role, inc["scorecard"], ti)
