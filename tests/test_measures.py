"""The named measures of a role's ``measures:`` block (docs/model.md section 2, named measures).

Market share against a simulated market size, retention from an
existing-customer churn process, profit after discounts, growth on last
year, customer visits and revenue by segment: validation, draws appended
after every other draw, closed forms, metrics, and the direction of the
dynamic behaviour model's response to paying on them.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

import simlib
from simlib.engine.core import role_outcomes
from simlib.errors import ScenarioError
from simlib.model.contracts import BASELINE, Controls
from simlib.model.plans import set_quotas
from simlib.model.population import Layout, draw_chunk, market_multiplier, role_world, root_seed
from simlib.model.production import RoleProcess, expected_monthly_revenue, generic_noise, run_year
from simlib.scenario import NAMED_MEASURES, scenario_from_dict

ALL_BLOCKS = {
    "market_share": {"share": 0.25, "size_cv": 0.1},
    "retention": {"customers": 30, "churn": 0.02},
    "profit_after_discounts": {"discount": 0.08},
    "growth": {},
    "visits": {"per_day": 4.0},
    "segments": {"shares": {"core": 0.6, "new_product": 0.4}, "cv": 0.3},
}

CURVE = [[0.5, 0.0], [1.0, 1.0], [1.5, 2.0]]


def generic_dict(measures: dict | None = None, headcount: int = 20, **role) -> dict:
    """One generic role paid on revenue ('current'), optionally with named measures."""
    r = {"process": "generic", "headcount": headcount, "base_salary": 50000, "target_incentive": 30000,
         "new_hire_share": 0.0, **role}
    if measures is not None:
        r["measures"] = measures
    return {
        "name": "measures",
        "roles": {"field": r},
        "plans": {"current": {"roles": {"field": {"components": [{"name": "rev", "weight": 1.0, "points": CURVE}]}}}},
    }


def with_plan(data: dict, name: str, components: list[dict]) -> dict:
    data = copy.deepcopy(data)
    data["plans"][name] = {"roles": {"field": {"components": components}}}
    return data


def year_of(s, role: str = "field", trials: int = 200, seed: int = 11):
    root = root_seed(seed)
    d = draw_chunk(Layout.of(s), root, np.arange(trials))
    world = role_world(s, role, d, market_multiplier(s, d))
    return world, run_year(world)


# -- validation --------------------------------------------------------------------


def test_a_measure_the_role_lacks_names_the_field_and_the_block_to_add():
    data = with_plan(generic_dict(), "retain", [
        {"name": "rev", "weight": 0.7, "points": CURVE},
        {"name": "ret", "measure": "retention", "weight": 0.3, "target": 0.8, "points": CURVE}])
    with pytest.raises(ScenarioError) as e:
        scenario_from_dict(data)
    msg = str(e.value)
    assert "plans.retain.roles.field.components.1.measure" in msg
    assert "roles.field.measures.retention" in msg
    data["roles"]["field"]["measures"] = {"retention": {}}
    s = scenario_from_dict(data)
    assert s.roles["field"].measure_kinds["retention"] == "score"


@pytest.mark.parametrize("block, value, field, text", [
    ("segments", {"shares": {"a": 0.5, "b": 0.4}}, "segments.shares", "sum to 1"),
    ("segments", {"shares": {"Core Line": 1.0}}, "segments.shares", "lower-case"),
    ("retention", {"customers": 0}, "retention.customers", "greater than or equal to 1"),
    ("retention", {"churn": 0.9}, "retention.churn", "less than or equal to 0.5"),
    ("visits", {"per_day": -1}, "visits.per_day", "greater than 0"),
    ("market_share", {"share": 0}, "market_share.share", "greater than 0"),
    ("profit_after_discounts", {"discount": 0.95}, "profit_after_discounts.discount", "less than or equal to 0.9"),
    ("growth", {"base": 1}, "growth.base", "unknown field"),
])
def test_bad_measure_parameters_name_the_field(block, value, field, text):
    with pytest.raises(ScenarioError) as e:
        scenario_from_dict(generic_dict({block: value}))
    msg = str(e.value)
    assert f"roles.field.measures.{field}" in msg and text in msg


def test_segment_measures_are_named_revenue_segment():
    s = scenario_from_dict(generic_dict({"segments": {"shares": {"core": 0.7, "new_product": 0.3}}}))
    kinds = s.roles["field"].measure_kinds
    assert kinds["revenue_core"] == kinds["revenue_new_product"] == "flow"
    for block, adds in NAMED_MEASURES.items():
        assert not set(adds) & set(kinds), block  # only the declared blocks add measures


# -- draws: appended, and only when used --------------------------------------------


def test_named_measures_leave_every_other_number_unchanged(small_dict):
    base = scenario_from_dict(small_dict)
    data = copy.deepcopy(small_dict)
    for r in data["roles"].values():
        r["measures"] = ALL_BLOCKS
    named = scenario_from_dict(data)
    lb, ln = Layout.of(base), Layout.of(named)
    assert (lb.n_extra_normal, lb.n_extra_uniform) == (0, 0)
    assert (lb.normals, lb.uniforms) == (ln.normals, ln.uniforms)
    assert ln.n_extra_normal > 0 and ln.n_extra_uniform > 0
    root = root_seed(3)
    db, dn = draw_chunk(lb, root, np.arange(6)), draw_chunk(ln, root, np.arange(6))
    for k, v in db.items():
        assert np.array_equal(v, dn[k]), k
    for rname in base.roles:
        wb = role_world(base, rname, db, market_multiplier(base, db))
        wn = role_world(named, rname, dn, market_multiplier(named, dn))
        mb, mn = run_year(wb), run_year(wn)
        for k in mb:
            assert np.array_equal(mb[k], mn[k]), (rname, k)
        assert set(mn) - set(mb) >= {"market_share", "retention", "growth", "visits", "revenue_core"}


def test_stepping_at_todays_effort_equals_the_whole_year_bit_for_bit(small_dict):
    data = copy.deepcopy(small_dict)
    data["roles"]["gen"] = generic_dict()["roles"]["field"]
    data["plans"]["current"]["roles"]["gen"] = generic_dict()["plans"]["current"]["roles"]["field"]
    for r in data["roles"].values():
        r["measures"] = ALL_BLOCKS
    s = scenario_from_dict({**data, "plans": {"current": data["plans"]["current"]}})
    d = draw_chunk(Layout.of(s), root_seed(8), np.arange(4))
    mk = market_multiplier(s, d)

    class Today:
        record_only = False

        def __call__(self, m, hist):
            return BASELINE

        def settle(self, m, hist):
            return None, None

    for rname in s.roles:
        w = role_world(s, rname, d, mk)
        fast, slow = dict(RoleProcess(w).year()), run_year(w, Today())
        assert list(fast) == list(s.roles[rname].measure_kinds)
        for k in fast:
            assert np.array_equal(fast[k], slow[k]), (rname, k)


# -- closed forms --------------------------------------------------------------------


def test_market_share_is_todays_share_times_ability_ramp_and_noise():
    s = scenario_from_dict(generic_dict({"market_share": {"share": 0.25, "size_cv": 0.0}}, new_hire_share=0.3))
    w, m = year_of(s, trials=20)
    p = s.roles["field"].process_params()
    expected = 0.25 * w.ability[..., None] * w.ramp * generic_noise(p.revenue_cv, w.draws["revenue"])
    np.testing.assert_allclose(m["market_share"], expected, rtol=1e-12)
    size = 40000.0 / 0.25 * w.territory[..., None] * w.season * w.market[:, None, :]
    np.testing.assert_allclose(m["market_size"], size, rtol=1e-12)


def test_profit_after_discounts_is_gross_margin_at_todays_discount_and_less_at_a_deeper_one():
    s = scenario_from_dict(generic_dict({"profit_after_discounts": {"discount": 0.1, "discount_cv": 0.0}},
                                        gross_margin=0.4))
    _, m = year_of(s, trials=10)
    assert np.all(m["discount_rate"] == 0.1)
    np.testing.assert_allclose(m["profit_after_discounts"], 0.4 * m["revenue"], rtol=1e-12)
    s = scenario_from_dict(generic_dict({"profit_after_discounts": {"discount": 0.1, "discount_cv": 0.5}},
                                        gross_margin=0.4))
    _, m = year_of(s, trials=10)
    d = m["discount_rate"]
    # cost of goods is 0.6 x 0.9 of list price; list price is revenue / (1 - d)
    np.testing.assert_allclose(m["profit_after_discounts"], m["revenue"] * (1 - 0.54 / (1 - d)), rtol=1e-12)
    deeper = d > 0.1
    assert deeper.any() and np.all(m["profit_after_discounts"][deeper] < 0.4 * m["revenue"][deeper])


def test_growth_sums_to_revenue_over_the_last_year_quota_base():
    s = scenario_from_dict(generic_dict({"growth": {}}, new_hire_share=0.0))
    data = generic_dict({"growth": {}}, new_hire_share=0.0)
    data["plans"]["current"]["roles"]["field"]["quota"] = {"method": "last_year", "growth": 0.0}
    s = scenario_from_dict(data)
    w, m = year_of(s, trials=30)
    base = m["base_revenue"].sum(axis=-1)
    ly = set_quotas(s, "current", w)  # level 1, growth 0: last year's revenue
    np.testing.assert_allclose(base, ly, rtol=1e-9)
    np.testing.assert_allclose(m["growth"].sum(axis=-1), m["revenue"].sum(axis=-1) / base, rtol=1e-12)


def test_retention_follows_the_churn_hazard():
    n0, h = 30, 0.02
    s = scenario_from_dict(generic_dict({"retention": {"customers": n0, "churn": h}}))
    _, m = year_of(s, trials=200)
    lost = m["customers_lost"].sum(axis=-1).ravel()
    expect = n0 * (1 - (1 - h) ** 12)
    se = lost.std() / np.sqrt(lost.size)
    assert abs(lost.mean() - expect) < 4 * se
    # a year's mean of the monthly (annualised) retention is the annual rate, kept / opening book
    np.testing.assert_allclose(m["retention"].mean(axis=-1), 1 - m["customers_lost"].sum(axis=-1) / n0, rtol=1e-12)


def test_visits_have_their_documented_mean():
    s = scenario_from_dict(generic_dict({"visits": {"per_day": 4.0, "working_days": 20}}, ability_sd=0.0))
    _, m = year_of(s, trials=100)
    v = m["visits"].ravel()
    assert abs(v.mean() - 80.0) < 4 * v.std() / np.sqrt(v.size)


def test_segments_add_up_to_revenue_in_their_shares():
    s = scenario_from_dict(generic_dict({"segments": {"shares": {"core": 0.6, "new_product": 0.4}, "cv": 0.3}}))
    _, m = year_of(s, trials=100)
    np.testing.assert_allclose(m["revenue_core"] + m["revenue_new_product"], m["revenue"], rtol=1e-12)
    share = m["revenue_new_product"].sum() / m["revenue"].sum()
    assert 0.37 < share < 0.43


def test_market_size_follows_the_process_mean():
    s = scenario_from_dict(generic_dict({"market_share": {}}))
    assert float(np.sum(expected_monthly_revenue(s.roles["field"], 0.0))) == pytest.approx(12 * 40000.0)


# -- metrics -------------------------------------------------------------------------


def test_named_metrics_per_role_and_total(small_dict):
    data = copy.deepcopy(small_dict)
    data["roles"]["ka"]["measures"] = {"retention": {"customers": 20}, "market_share": {}}
    data["roles"]["ts"]["measures"] = {"retention": {"customers": 50}}
    res = simlib.simulate(scenario_from_dict(data), trials=8, rng=2, behaviour="none")
    t = res.summary().set_index(["plan", "group", "metric"])["mean"]
    for g in ("ka", "ts", "total"):
        assert 0.5 < t[("current", g, "retention_rate")] < 1.0
    assert np.isnan(t.get(("current", "ch", "retention_rate"), np.nan))  # ch keeps no customer book
    lost = t[("current", "ka", "customers_lost")] + t[("current", "ts", "customers_lost")]
    assert t[("current", "total", "customers_lost")] == pytest.approx(lost)
    assert t[("current", "total", "retention_rate")] == pytest.approx(1 - lost / (20 * 7 + 50 * 9))
    assert "visits_per_day" not in set(res.summary()["metric"])  # no role has visits


# -- the dynamic behaviour model: pay on a measure moves it ---------------------------


def _dynamic(data: dict, trials: int = 40):
    s = scenario_from_dict(data)
    d = draw_chunk(Layout.of(s), root_seed(5), np.arange(trials))
    return {o.plan: o for o in role_outcomes(s, list(s.plans), d, behaviour="dynamic")}


def test_retention_pay_lowers_churn():
    data = with_plan(generic_dict({"retention": {}}), "retain", [
        {"name": "rev", "weight": 0.7, "points": CURVE},
        {"name": "ret", "measure": "retention", "weight": 0.3, "target": 0.83,
         "points": [[0.9, 0.0], [1.0, 1.0], [1.1, 2.0]]}])
    out = _dynamic(data)
    now, ret = out["current"].measures, out["retain"].measures
    assert ret["customers_lost"].sum() < now["customers_lost"].sum()
    assert ret["retention"].mean() > now["retention"].mean()
    assert out["retain"].policy.focus < 1.0  # effort moved from the activity to account care


def test_visit_pay_raises_visits_at_the_expense_of_care():
    data = with_plan(generic_dict({"visits": {}, "retention": {}}), "visits", [
        {"name": "rev", "weight": 1.0, "points": CURVE},
        {"name": "vis", "measure": "visits", "kind": "per_unit", "rate": 10.0}])
    out = _dynamic(data)
    now, vis = out["current"].measures, out["visits"].measures
    assert vis["visits"].sum() > now["visits"].sum()
    assert vis["customers_lost"].sum() > now["customers_lost"].sum()  # less care per customer: more churn
    # more visits, less per visit: revenue per visit falls
    assert vis["revenue"].sum() / vis["visits"].sum() < now["revenue"].sum() / now["visits"].sum()


def test_profit_pay_lowers_discounts():
    data = with_plan(generic_dict({"profit_after_discounts": {"quality_effect": 1.0}}), "profit", [
        {"name": "rev", "weight": 0.5, "points": CURVE},
        {"name": "pad", "measure": "profit_after_discounts", "kind": "commission", "target": 240000,
         "tiers": [{"from": 0.0, "rate": 0.05}]}])
    out = _dynamic(data)
    assert out["profit"].measures["discount_rate"].mean() < out["current"].measures["discount_rate"].mean()


def test_controls_move_the_stepped_measures_as_documented():
    s = scenario_from_dict(generic_dict({"visits": {}, "retention": {"churn": 0.05}, "profit_after_discounts": {}}))
    d = draw_chunk(Layout.of(s), root_seed(1), np.arange(50))
    w = role_world(s, "field", d, market_multiplier(s, d))

    def year(c):
        class P:
            record_only = False

            def __call__(self, m, hist):
                return c

            def settle(self, m, hist):
                return None, None

        return run_year(w, P())

    today, busy = year(BASELINE), year(Controls(effort=1.0, focus=1.3))
    assert busy["visits"].sum() > today["visits"].sum()
    assert busy["customers_lost"].sum() > today["customers_lost"].sum()
    assert busy["discount_rate"].mean() > today["discount_rate"].mean()


# -- the shipped role examples -----------------------------------------------------------


def test_shipped_role_examples_validate_run_and_pay_on_their_measures():
    """scenarios/role_examples.yaml: the document's role schemes and the named-measure plans run, each part paying."""
    s = simlib.load_scenario("scenarios/role_examples.yaml")
    assert {"retention", "market_share", "growth"} <= set(s.roles["key_account"].measure_kinds)
    assert {"visits", "revenue_core", "revenue_new_product"} <= set(s.roles["field"].measure_kinds)
    d = draw_chunk(Layout.of(s), root_seed(4), np.arange(8))
    for o in role_outcomes(s, ["document", "measures"], d, behaviour="none"):
        for name, pay in o.pay.components.items():
            assert pay.mean() > 0, (o.plan, o.role, name)
    res = simlib.simulate(s, trials=4, rng=1, behaviour="none")
    metrics = set(res.summary()["metric"])
    assert {"market_share", "retention_rate", "growth_rate", "visits_per_day", "profit_after_discounts"} <= metrics


def test_a_higher_rate_on_a_segment_moves_selling_toward_it():
    seg = {"segments": {"shares": {"core": 0.7, "new_product": 0.3}, "cv": 0.2}}
    data = with_plan(generic_dict(seg), "new_push", [
        {"name": "rev", "weight": 0.6, "points": CURVE},
        {"name": "core", "measure": "revenue_core", "kind": "commission", "target": 336000,
         "tiers": [{"from": 0.0, "rate": 0.01}]},
        {"name": "new", "measure": "revenue_new_product", "kind": "commission", "target": 144000,
         "tiers": [{"from": 0.0, "rate": 0.05}]}])
    out = _dynamic(data)
    now, push = out["current"].measures, out["new_push"].measures
    share_now = now["revenue_new_product"].sum() / now["revenue"].sum()
    share_push = push["revenue_new_product"].sum() / push["revenue"].sum()
    assert share_push > share_now + 0.01
    mix = out["new_push"].policy.mix
    assert mix[1] > 1.0 > mix[0] and 0.7 * mix[0] + 0.3 * mix[1] == pytest.approx(1.0)
    # the segments still add up to revenue
    np.testing.assert_allclose(push["revenue_core"] + push["revenue_new_product"], push["revenue"], rtol=1e-12)
    # no response asked for: today's mix under any plan
    data["roles"]["field"]["measures"]["segments"]["mix_elasticity"] = 0.0
    assert _dynamic(data)["new_push"].policy.mix is None


def test_the_scenario_hash_is_unchanged_without_named_measures():
    """A scenario without a measures: block hashes as before the block existed; with one, differently."""
    plain = scenario_from_dict(generic_dict())
    explicit = scenario_from_dict(generic_dict(None))
    data = generic_dict()
    data["roles"]["field"]["measures"] = None
    assert plain.sha256 == explicit.sha256 == scenario_from_dict(data).sha256
    assert scenario_from_dict(generic_dict({"visits": {}})).sha256 != plain.sha256


def test_a_score_is_valued_by_raising_it_as_production_does_whatever_its_monthly_range():
    """The marginal pay of a score measure (``d pay / d log measure``) has the sign of the pay's slope in it.

    Key accounts of role_examples.yaml hold 12 customers, so a month's retention (``1 - 12 lost / 12``) is 1, 0,
    -1 or -2: raising each month by 2% (capped at 1) moved only the months below 0, downwards, and the document
    plan's retention pay, rising in retention, read a marginal value of -78 a year. Market share above 1 (a rep
    outselling their territory's market) was capped at 1, a fall. Each is now raised as production raises it
    (retention: fewer customers lost; market share: no cap), by ``rel`` of its mean.
    """
    from simlib.behaviour.sample import Calibration, marginal_values, raise_score

    s = simlib.load_scenario("scenarios/role_examples.yaml")
    cal = Calibration.of(s)
    w, meas = cal.worlds["key_account"], cal.measures["key_account"]
    assert meas["retention"].min() < 0 < meas["retention"].mean()  # the months that misled the finite difference
    mv, _, _ = marginal_values(s, "document", "key_account", w, meas, set_quotas(s, "document", w))
    assert mv["retention"] > 0 and mv["satisfaction"] > 0
    for k, x in (("retention", meas["retention"]), ("market_share", meas["market_share"]),
                 ("satisfaction", meas["satisfaction"])):
        up = raise_score(k, x, 0.02)
        assert (up >= x).all(), k  # no month falls
        if k != "satisfaction":  # a rate capped at 1 keeps its reps at 1 (they cannot do better)
            assert up.mean() == pytest.approx(1.02 * x.mean(), rel=1e-12), k
    assert meas["market_share"].max() > 1 and (raise_score("market_share", meas["market_share"], 0.02) > 1).any()
    assert (raise_score("retention", meas["retention"], 0.02) <= 1).all()
