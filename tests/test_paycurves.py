"""Payout golden cases kept as data (tests/golden/*.yaml), checked against the engine and the reference.

Each case gives a pay rule, its inputs and the output computed by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import GOLDEN

from simlib.model import reference
from simlib.model.paycurves import Schedule, compile_component, compile_modifier, evaluate
from simlib.model.plans import component_pay, compute_pay, set_quotas
from simlib.model.population import Layout, role_world
from simlib.scenario import Component, Modifier, scenario_from_dict

SCHEDULES = yaml.safe_load((GOLDEN / "schedules.yaml").read_text())
MODIFIERS = yaml.safe_load((GOLDEN / "modifiers.yaml").read_text())
PERIODS = yaml.safe_load((GOLDEN / "periods.yaml").read_text())
PLANS = yaml.safe_load((GOLDEN / "plans.yaml").read_text())

RTOL = 1e-12


def _ids(cases):
    return [c["name"] for c in cases]


# ---------------------------------------------------------------------------
# single rules
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("case", SCHEDULES, ids=_ids(SCHEDULES))
def test_schedule_golden(case):
    comp = Component(**case["component"])
    sched = compile_component(comp)
    x = np.array([a for a, _ in case["at"]], dtype=float)
    want = np.array([b for _, b in case["at"]], dtype=float)
    got, capped = evaluate(sched, x)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-12)
    for xc in case.get("capped", []):
        assert evaluate(sched, np.array([xc]))[1][0], f"cap should bind at {xc}"
    for xc in case.get("not_capped", []):
        assert not evaluate(sched, np.array([xc]))[1][0], f"cap should not bind at {xc}"
    # the reference writes each rule out from its definition: it must agree too
    for (a, b) in case["at"]:
        v, hit = reference.pay_rule(comp, float(a))
        assert v == pytest.approx(b, rel=RTOL, abs=1e-12), (a, b)
        assert hit == (a in case.get("capped", [])) or a not in case.get("capped", []) + case.get("not_capped", [])


@pytest.mark.parametrize("case", SCHEDULES, ids=_ids(SCHEDULES))
def test_schedule_keeps_shape_and_matches_scalar_calls(case):
    sched = compile_component(Component(**case["component"]))
    xs = np.array([a for a, _ in case["at"]], dtype=float)
    grid = np.stack([xs, xs[::-1]])[:, None, :]  # (2, 1, n)
    got, capped = evaluate(sched, grid)
    assert got.shape == grid.shape and capped.shape == grid.shape and capped.dtype == bool
    flat = np.array([sched(float(v)) for v in grid.ravel()])
    np.testing.assert_array_equal(got.ravel(), flat)


@pytest.mark.parametrize("case", MODIFIERS, ids=_ids(MODIFIERS))
def test_modifier_golden(case):
    mod = Modifier(**case["modifier"])
    sched = compile_modifier(mod)
    for a, b in case["at"]:
        assert sched(np.array([a]))[0] == pytest.approx(b, rel=RTOL)
        assert reference._modifier(mod.points, a) == pytest.approx(b, rel=RTOL)


# ---------------------------------------------------------------------------
# periods and year-to-date true-up
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("case", PERIODS, ids=_ids(PERIODS))
def test_period_golden(case):
    comp = Component(**case["component"])
    vals = np.array([case["values"]], dtype=float)
    tgts = np.array([case["targets"]], dtype=float)
    scale = np.array([case["scale"]], dtype=float)
    paid, capped = component_pay(comp, vals, tgts, scale, case["kind"])
    np.testing.assert_allclose(paid[0], case["paid"], rtol=1e-12, atol=1e-9)
    assert bool(capped.any()) == case["capped"]
    ref, ref_capped = reference._component_periods(comp, case["values"], case["targets"], case["scale"], case["kind"])
    np.testing.assert_allclose(ref, case["paid"], rtol=1e-12, atol=1e-9)
    assert ref_capped == case["capped"]


def test_period_pay_is_vectorised_over_reps():
    case = next(c for c in PERIODS if c["name"] == "quarterly_curve_ytd")
    comp = Component(**case["component"])
    vals = np.tile(np.array(case["values"], float), (3, 2, 1))
    ones = np.ones_like(vals)
    paid, _ = component_pay(comp, vals, ones * 100, ones * 250, "flow")
    assert paid.shape == (3, 2, 4)
    np.testing.assert_allclose(paid, np.broadcast_to(case["paid"], (3, 2, 4)))


# ---------------------------------------------------------------------------
# whole role plans on hand-made results
# ---------------------------------------------------------------------------
def _plan_scenario(rp: dict) -> dict:
    st = PLANS["setup"]
    role = {
        "process": "channel", "headcount": st["headcount"], "team_size": st["team_size"], "base_salary": 50000,
        "target_incentive": st["target_incentive"], "ability_sd": 0.0, "territory_sd": 0.0, "new_hire_share": 0.0,
        "production": {"existing_revenue_per_month": st["existing_revenue_per_month"], "partners_per_month": 0.0},
    }
    return {
        "name": "golden",
        "market": {"growth_mean": 0.0, "growth_sd": 0.0, "monthly_sd": 0.0, "monthly_rho": 0.0},
        "roles": {"ch": role},
        "plans": {"current": {"roles": {"ch": rp}}},
    }


def _world_and_measures(scen, monthly_override):
    """A world without randomness (all normals 0, uniforms 0.5) and the case's hand-made measures."""
    lay = Layout.of(scen)
    draws = {k: np.zeros((1, *shape)) for k, (_, shape) in lay.normals.items()}
    draws.update({k: np.full((1, *shape), 0.5) for k, (_, shape) in lay.uniforms.items()})
    world = role_world(scen, "ch", draws, np.ones((1, 12)))
    monthly = {**PLANS["setup"]["monthly"], **(monthly_override or {})}
    # a rep's value is the same every month, or 12 values (one a month)
    measures = {k: np.array([x if isinstance(x, list) else [x] * 12 for x in v], float)[None] for k, v in monthly.items()}
    measures["partner_revenue_new"] = np.zeros((1, 4, 12))
    return world, measures, monthly


@pytest.mark.parametrize("case", PLANS["cases"], ids=_ids(PLANS["cases"]))
def test_plan_golden(case):
    scen = scenario_from_dict(_plan_scenario(case["plan"]), "golden/plans.yaml")
    world, measures, monthly = _world_and_measures(scen, case.get("monthly"))
    quota = set_quotas(scen, "current", world)
    pay = compute_pay(scen, "current", world, measures, quota)
    reps = [dict(ability=1.0, territory=1.0, new_hire=False, ramp=[1.0] * 12, team=r // PLANS["setup"]["team_size"])
            for r in range(4)]
    ref_measures = [{k: list(measures[k][0, r]) for k in monthly} | {"partner_revenue_new": [0.0] * 12}
                    for r in range(4)]
    ref = reference.reference_pay(scen, "current", "ch", reps, ref_measures, list(quota[0]))
    for key in ("incentive", "attainment", "recognition"):
        if key in case:
            np.testing.assert_allclose(getattr(pay, key)[0], case[key], rtol=1e-9, atol=1e-6, err_msg=key)
            np.testing.assert_allclose(ref[key], case[key], rtol=1e-9, atol=1e-6, err_msg="reference " + key)
    if "capped" in case:
        assert list(pay.capped[0]) == case["capped"] and list(ref["capped"]) == case["capped"]
    for name, want in case.get("components", {}).items():
        np.testing.assert_allclose(pay.components[name][0], want, rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(ref["components"][name], want, rtol=1e-9, atol=1e-6)
    assert (pay.draw is None) == ("draw" not in case) == (ref["draw"] is None)
    assert (pay.spiff is None) == ("spiff" not in case) == (ref["spiff"] is None)
    if "spiff" in case:
        np.testing.assert_allclose(pay.spiff[0], case["spiff"], rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(ref["spiff"], case["spiff"], rtol=1e-9, atol=1e-6)
    for key, want in case.get("draw", {}).items():
        if key == "cash_rep2":
            got, got_ref = pay.draw.cash[0, 2], ref["draw"][2]["cash"]
        elif key == "earned":
            got, got_ref = pay.draw.earned[0].sum(axis=-1), [d["earned"] and sum(d["earned"]) for d in ref["draw"]]
        else:
            got, got_ref = getattr(pay.draw, key)[0], [d[key] for d in ref["draw"]]
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-6, err_msg=key)
        np.testing.assert_allclose(got_ref, want, rtol=1e-9, atol=1e-6, err_msg="reference " + key)
    assert (pay.calendar is None) == ("calendar" not in case) == (ref["calendar"] is None)
    for key, want in case.get("calendar", {}).items():  # the payout calendar: rep 2's months, every rep's next year
        field = key.removesuffix("_rep2")
        got = getattr(pay.calendar, field)[0, 2] if key.endswith("_rep2") else pay.calendar.next_year[0]
        got_ref = ref["calendar"][2][field] if key.endswith("_rep2") else [c["next_year"] for c in ref["calendar"]]
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-6, err_msg=key)
        np.testing.assert_allclose(got_ref, want, rtol=1e-9, atol=1e-6, err_msg="reference " + key)


# ---------------------------------------------------------------------------
# the Schedule object itself
# ---------------------------------------------------------------------------
def test_schedule_rejects_bad_knots():
    with pytest.raises(ValueError, match="strictly increasing"):
        Schedule(np.array([1.0, 1.0]), np.array([0.0, 1.0]), np.array([0.0, 0.0]))
    with pytest.raises(ValueError, match="strictly increasing"):
        Schedule(np.array([]), np.array([]), np.array([]))
    with pytest.raises(ValueError, match="same length"):
        Schedule(np.array([0.0, 1.0]), np.array([0.0]), np.array([0.0, 0.0]))


def test_nondecreasing_flag():
    up = compile_component(Component(name="c", points=[[0.5, 0.0], [1.0, 1.0], [2.0, 1.5]]))
    assert up.nondecreasing
    down = compile_component(Component(name="c", points=[[0.5, 1.0], [1.0, 0.5]]))
    assert not down.nondecreasing
    drop = Schedule(np.array([0.0, 1.0]), np.array([0.0, 0.2]), np.array([1.0, 0.0]))  # 1.0 just left of 1, then 0.2
    assert not drop.nondecreasing
    neg_below = Schedule(np.array([0.0]), np.array([0.5]), np.array([0.0]), below=1.0)
    assert not neg_below.nondecreasing


def test_cap_and_below():
    s = Schedule(np.array([1.0]), np.array([2.0]), np.array([1.0]), cap=3.0, below=0.25)
    v, c = evaluate(s, np.array([0.0, 1.0, 1.5, 2.0, 5.0]))
    np.testing.assert_allclose(v, [0.25, 2.0, 2.5, 3.0, 3.0])
    assert list(c) == [False, False, False, False, True]
    assert float(s(np.array(1.999))) == pytest.approx(2.999)
