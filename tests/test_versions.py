"""Effective-dated plan versions (mid-year changes): pay, proration, the reference, validation (docs/model.md section 3)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml
from conftest import GOLDEN
from test_reference import engine_pay_beside_reference

import simlib
from simlib.errors import ScenarioError
from simlib.model.plans import compute_pay, set_quotas
from simlib.model.population import Layout, draw_chunk, market_multiplier, role_world, root_seed
from simlib.model.production import run_year
from simlib.model.reference import simulate_reference

TRIALS = 5

#: versions over the small scenario's plans: a richer second half with a lower quota and a higher TI,
#: and a year of three segments (top-down quarter, today's second quarter, the variant's second half)
VERSION_PLANS = {
    "h2": {"base": "variant", "changes": {"roles": {
        "ka": {"quota": {"level": 0.9}, "target_incentive": 75000},
        "ts": {"base_salary": 45000},
        "ch": {"target_incentive": 50000},
    }}},
    "mid": {"base": "current", "changes": {"roles": {
        r: {"versions": [{"from_month": 7, "plan": "h2"}]} for r in ("ka", "ts", "ch")}}},
    "three": {"base": "company", "changes": {"roles": {
        r: {"versions": [{"from_month": 4, "plan": "current"}, {"from_month": 7, "plan": "variant"}]}
        for r in ("ka", "ts", "ch")}}},
}


@pytest.fixture
def versioned(small_dict):
    small_dict["plans"].update(copy.deepcopy(VERSION_PLANS))
    return simlib.scenario_from_dict(small_dict, "small.yaml")


def _mean(res, metric, plan, group="total"):
    return float(res.summary().set_index(["plan", "group", "metric"])["mean"][(plan, group, metric)])


def _close(a, b, what):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-9, atol=1e-6, err_msg=what)


def test_versioned_pay_agrees_with_reference(versioned):
    """Every segment's terms (team pay, gates, modifiers, YTD, lump sums, recognition) rep by rep as the reference."""
    s = versioned
    for rname, plan, world, pay, refs in engine_pay_beside_reference(s, ["mid", "three"], 7, trials=TRIALS):
        for t in range(TRIALS):
            ref = refs[t]
            what = f"{plan} {rname} trial {t}"
            _close(pay.incentive[t], ref["incentive"], f"{what} incentive")
            _close(pay.quota[t], ref["quota"], f"{what} quota")
            _close(pay.attainment[t], ref["attainment"], f"{what} attainment")
            _close(np.broadcast_to(pay.base, world.shape)[t], ref["base"], f"{what} base")
            for k, v in ref["components"].items():
                _close(pay.components[k][t], v, f"{what} {k}")
            assert list(pay.capped[t]) == list(ref["capped"]), what


def test_simulate_matches_reference_with_versions(versioned):
    res = simlib.simulate(versioned, ["current", "mid", "three"], trials=4, rng=3, behaviour="none")
    ref = simulate_reference(versioned, ["current", "mid", "three"], trials=4, rng=3)
    for plan in ("mid", "three"):
        for g in ref["groups"]:
            for m in ("incentive_cost", "base_cost", "total_comp", "share_at_quota", "recognition_value"):
                assert _mean(res, m, plan, g) == pytest.approx(np.mean(ref["metrics"][plan][g][m]), rel=1e-9, abs=1e-9)


def test_quota_and_pay_at_target_prorate(versioned):
    """The year's quota is each version's prorated by its expected revenue; base and TI by months in force."""
    s = versioned
    draws = draw_chunk(Layout.of(s), root_seed(1), np.arange(3))
    market = market_multiplier(s, draws)
    world = role_world(s, "ka", draws, market)
    pay = compute_pay(s, "mid", world, run_year(world), set_quotas(s, "mid", world))
    prof = simlib.model.plans.revenue_profile(s, "ka")
    h1 = prof[:6].sum() / prof.sum()
    expected = set_quotas(s, "current", world) * h1 + set_quotas(s, "h2", world) * (1 - h1)
    _close(pay.quota, expected, "quota")
    assert pay.target_incentive == pytest.approx(0.5 * 60000 + 0.5 * 75000)
    assert pay.base == pytest.approx(90000)


def test_a_version_repeating_the_terms_keeps_period_pay(small_dict):
    """Monthly and quarterly components pay exactly as without versions when the version repeats the plan."""
    small_dict["plans"]["again"] = copy.deepcopy(small_dict["plans"]["current"])
    small_dict["plans"]["split"] = {"base": "current", "changes": {"roles": {
        r: {"versions": [{"from_month": 7, "plan": "again"}]} for r in ("ka", "ts", "ch")}}}
    s = simlib.scenario_from_dict(small_dict, "small.yaml")
    draws = draw_chunk(Layout.of(s), root_seed(2), np.arange(6))
    market = market_multiplier(s, draws)
    for rname, comp in (("ts", "rev"), ("ch", "partners")):
        world = role_world(s, rname, draws, market)
        measures = run_year(world)
        a = compute_pay(s, "current", world, measures, set_quotas(s, "current", world))
        b = compute_pay(s, "split", world, measures, set_quotas(s, "split", world))
        _close(b.components[comp], a.components[comp], f"{rname} {comp}")
        _close(b.quota, a.quota, f"{rname} quota")
        assert a.components[comp].sum() > 0


def _golden_cases():
    return yaml.safe_load((GOLDEN / "versions.yaml").read_text())


@pytest.mark.parametrize("case", _golden_cases(), ids=lambda c: c["name"])
def test_versions_golden(case):
    """Hand-computed pay of one rep with deterministic sales under a mid-year change."""
    s = simlib.scenario_from_dict(case["scenario"], "golden.yaml")
    res = simlib.simulate(s, [case["plan"]], trials=2, rng=0, behaviour="none")
    rev = _mean(res, "revenue", case["plan"])
    assert rev == pytest.approx(case["revenue"], rel=1e-9)
    assert _mean(res, "incentive_cost", case["plan"]) == pytest.approx(case["incentive"], rel=1e-9)
    assert _mean(res, "base_cost", case["plan"]) == pytest.approx(case["base"], rel=1e-9)


def _problems(d):
    with pytest.raises(ScenarioError) as e:
        simlib.scenario_from_dict(d, "plans.yaml")
    return str(e.value)


@pytest.mark.parametrize("versions, field, words", [
    ([{"from_month": 7, "plan": "nope"}], "plans.mid.roles.ka.versions.0.plan", "unknown plan 'nope'"),
    ([{"from_month": 7, "plan": "variant"}, {"from_month": 4, "plan": "current"}],
     "plans.mid.roles.ka.versions.1.from_month", "increasing months"),
    ([{"from_month": 7, "plan": "variant"}, {"from_month": 7, "plan": "current"}],
     "plans.mid.roles.ka.versions.1.from_month", "overlapping"),
    ([{"from_month": 13, "plan": "variant"}], "plans.mid.roles.ka.versions.0.from_month", "12"),
    ([{"from_month": 1, "plan": "variant"}], "plans.mid.roles.ka.versions.0.from_month", "2"),
    ([{"from_month": 5, "plan": "variant"}], "plans.mid.roles.ka.versions.0", "split a half of 'lump'"),
    ([{"from_month": 7, "plan": "mid2"}], "plans.mid.roles.ka.versions.0.plan", "versions of its own"),
])
def test_bad_versions_name_the_field(small_dict, versions, field, words):
    small_dict["plans"]["mid"] = {"base": "current", "changes": {"roles": {"ka": {"versions": versions}}}}
    small_dict["plans"]["mid2"] = {"base": "current", "changes": {"roles": {
        "ka": {"versions": [{"from_month": 10, "plan": "current"}]}}}}
    msg = _problems(small_dict)
    assert field in msg and words in msg, msg


@pytest.mark.parametrize("key, value", [
    ("draw", {"amount": 1000}),
    ("programmes", [{"name": "club", "kind": "honour", "threshold": 1.2, "value": 5000}]),
    ("projects", {"share_of_effort": 0.1, "shared_weight": 0.5, "payout": 2000}),
])
def test_versions_reject_year_long_mechanics(small_dict, key, value):
    """Mechanics the segments' pay does not settle are refused with a plan that has versions, not ignored."""
    small_dict["plans"]["mid"] = {"base": "current", "changes": {"roles": {"ka": {
        "versions": [{"from_month": 7, "plan": "variant"}], key: value}}}}
    msg = _problems(small_dict)
    assert f"plans.mid.roles.ka.{key}" in msg and "not supported" in msg, msg


def _anticipation(rich_ti: float = 40000) -> dict:
    curve = [{"name": "rev", "period": "quarter", "points": [[0.5, 0], [1, 1], [1.5, 2]], "cap": 2}]
    return {"name": "anticipation",
            "roles": {"r": {"process": "generic", "headcount": 20, "team_size": 5, "base_salary": 50000,
                            "target_incentive": 20000, "production": {"revenue_per_month": 40000, "revenue_cv": 0.4}}},
            "plans": {"current": {"roles": {"r": {"components": curve}}},
                      "rich": {"roles": {"r": {"target_incentive": rich_ti, "components": curve}}},
                      "later_rich": {"roles": {"r": {"components": curve,
                                                     "versions": [{"from_month": 7, "plan": "rich"}]}}}}}


def test_reps_anticipate_a_richer_second_half():
    """Under ``dynamic`` reps who know the July change push June deals into July and raise effort in H2 only."""
    from simlib.engine.core import role_outcomes

    s = simlib.scenario_from_dict(_anticipation(), "anticipation.yaml")
    draws = draw_chunk(Layout.of(s), root_seed(4), np.arange(60))
    out = {o.plan: o for o in role_outcomes(s, ["current", "later_rich"], draws, behaviour="dynamic")}
    rev = {p: o.measures["revenue"].mean(axis=1) for p, o in out.items()}  # (T, 12) per-trial mean per rep
    diff = rev["later_rich"] - rev["current"]
    se = diff.std(axis=0, ddof=1) / np.sqrt(diff.shape[0])
    assert diff[:, 5].mean() < -3 * se[5]  # June: deals pushed out
    assert diff[:, 6].mean() > 3 * se[6]  # July: booked under the richer terms
    effort = out["later_rich"].policy.recorded.effort.mean(axis=(0, 1))
    assert effort[6:].mean() > effort[:6].mean() + 0.05
    assert abs(effort[:6].mean() - 1.0) < 0.05  # H1 terms are today's: effort stays near today's


def test_a_versions_terms_are_part_of_its_solution():
    """Solutions shared across scenarios are keyed on the versions' terms: editing the July terms changes behaviour."""
    from simlib.engine.core import role_outcomes

    efforts = []
    for ti in (40000, 20000):  # the second: the July terms are today's
        s = simlib.scenario_from_dict(_anticipation(ti), "anticipation.yaml")
        draws = draw_chunk(Layout.of(s), root_seed(4), np.arange(10))
        o = next(o for o in role_outcomes(s, ["later_rich"], draws, behaviour="dynamic"))
        efforts.append(o.policy.recorded.effort[..., 6:].mean())
    assert efforts[0] > efforts[1] + 0.05
    assert abs(efforts[1] - 1.0) < 0.02
