"""Marginal pay of revenue and other continuous flows in the dynamic model (docs/model.md section 4.6).

The marginal pay ``d E[pay] / d log(measure)`` was a forward difference of 2% on the fixed-seed calibration
sample: a step in pay (a scorecard interval, a lump sum, a curve's first point, a gate) was read only through the
few rep-years within 2% below it, so the estimate was a count of those and jumped as a threshold moved. In
``scorecards.yaml``'s ``scorecard`` plan the key accounts' marginal pay of revenue moved up to 9.4% between
revenue step thresholds 0.1% apart (total variation 58% over +-2%), the channel's read 64,500 where the sample's
smoothed derivative is 54,500, and linear pay read 1.0099 times its size (``0.02 / log(1.02)``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import ROOT

import simlib
from simlib.behaviour.sample import FLOW_SIGMA, Calibration, flow_anchor, flow_marginal, marginal_values
from simlib.model.plans import set_quotas
from simlib.scenario import scenario_from_dict

SCORECARDS = ROOT / "scenarios" / "scorecards.yaml"


def test_flow_marginal_of_linear_pay_is_the_pay():
    """Pay proportional to the measure: ``d pay / d log m`` is the pay itself, exactly (the forward difference of
    2% gave 1.0099 times it)."""
    m = np.random.default_rng(3).lognormal(10.0, 0.3, size=(40, 6, 12))
    pay = lambda ms: 0.05 * ms["revenue"].sum(axis=-1)  # noqa: E731
    p0 = pay({"revenue": m})
    assert flow_marginal(pay, {"revenue": m}, "revenue", p0) == pytest.approx(float(np.mean(p0)), rel=1e-12)
    assert flow_marginal(lambda ms: np.full(p0.shape, 3.0), {"revenue": m}, "revenue", np.full(p0.shape, 3.0)) == 0.0


def test_flow_marginal_of_a_step_is_the_smoothed_density():
    """Pay 1 when a lognormal year reaches t: ``d P / d log c`` of the year smoothed by ``FLOW_SIGMA`` in logs is
    ``phi(d / v) / v``, ``v^2 = s^2 + FLOW_SIGMA^2``, within 4 SE of the sample's estimate."""
    s, t = 0.2, 1.1
    yearly = np.random.default_rng(8).lognormal(0.0, s, size=(3000, 10))
    m = np.repeat(yearly[..., None] / 12.0, 12, axis=-1)

    def pay(ms):
        return (ms["revenue"].sum(axis=-1) >= t).astype(float)

    got = flow_marginal(pay, {"revenue": m}, "revenue", pay({"revenue": m}))
    v = math.hypot(s, FLOW_SIGMA)
    expected = math.exp(-0.5 * (math.log(t) / v) ** 2) / (v * math.sqrt(2.0 * math.pi))
    # a rep-year's term is about the kernel's density at its distance from the step
    d = (np.log(yearly) - math.log(t)) / FLOW_SIGMA
    term = np.exp(-0.5 * d**2) / (FLOW_SIGMA * math.sqrt(2.0 * math.pi))
    se = term.std() / math.sqrt(term.size)
    assert abs(got - expected) < 4 * se, (got, expected, se)


def _scorecard_with_step(data: dict, role: str, lower: int, factor: float) -> simlib.scenario.Scenario:
    out = {**data, "plans": {"current": data["plans"]["current"], "scorecard": data["plans"]["scorecard"]}}
    out = scenario_from_dict(out, "test").model_dump(by_alias=True)
    iv = out["plans"]["scorecard"]["roles"][role]["scorecards"][0]["measures"][0]["intervals"]
    iv[lower]["to"] = iv[lower]["to"] * factor
    iv[lower + 1]["from"] = iv[lower + 1]["from"] * factor
    return scenario_from_dict(out, "test")


@pytest.mark.parametrize("role, lower", [("key_account", 2), ("channel", 1)])
def test_revenue_marginal_pay_is_smooth_in_a_scorecard_step(role, lower):
    """``scorecards.yaml`` ``scorecard``: the revenue interval's step (1.0 for key accounts, 0.95 for the channel)
    moved over 0.995 .. 1.005 of itself in 0.1% steps; the marginal pay of revenue moves by less than 1.5% a
    step (it moved 9.4% and 2.8%) and by less than 4% over the range (10.6% and 8.3%)."""
    data = simlib.load_scenario(SCORECARDS).model_dump(by_alias=True)
    vals = []
    for f in np.linspace(0.995, 1.005, 11):
        sc = _scorecard_with_step(data, role, lower, float(f))
        cal = Calibration.of(sc)
        world = cal.worlds[role]
        mv, comps, _ = marginal_values(sc, "scorecard", role, world, cal.measures[role],
                                       set_quotas(sc, "scorecard", world))
        assert comps[f"{role}_scorecard"] == pytest.approx(mv["revenue"], rel=1e-9)
        vals.append(mv["revenue"])
    v = np.array(vals)
    assert np.abs(np.diff(v)).max() < 0.015 * v.mean(), v
    assert v.max() - v.min() < 0.04 * v.mean(), v


def test_flow_marginal_of_a_retroactive_step_is_continuous_in_the_quota_level():
    """Ten rep-years paid a lump when attainment (revenue over a quota level ``L``) reaches 1: as ``L`` moves in
    steps of 2e-5, a year whose shifted attainment crossed the step at one of 12 fixed Gauss-Hermite shifts
    entered the derivative whole (docs/model.md 6.2, seed 52 case 27). With the shifts anchored to ``L`` the
    derivative moves with ``L`` only through the weights: each step moves it by under 0.05% of its size."""
    yearly = np.random.default_rng(5).lognormal(0.0, 0.08, size=(2, 5))
    m = np.repeat(yearly[..., None] / 12.0, 12, axis=-1)
    vals = []
    for level in np.linspace(1.0, 1.004, 201):
        def pay(ms, level=level):
            return np.where(ms["revenue"].sum(axis=-1) / level >= 1.0, 100.0, 0.0)
        q = np.full(m.shape[:2], level)
        vals.append(flow_marginal(pay, {"revenue": m}, "revenue", pay({"revenue": m}),
                                  anchor=flow_anchor(m, 1.0, q)))
    vals = np.array(vals)
    assert np.all(vals > 0)
    assert np.max(np.abs(np.diff(vals))) < 5e-4 * np.max(vals), np.max(np.abs(np.diff(vals))) / np.max(vals)


def test_flow_shifts_refuse_a_non_finite_anchor():
    with pytest.raises(ValueError, match="anchor must be a finite"):
        flow_marginal(lambda ms: ms["revenue"].sum(axis=-1), {"revenue": np.ones((2, 3, 12))}, "revenue",
                      np.full((2, 3), 12.0), anchor=float("nan"))
