"""The payout calendar: cash by month next to the accrual by performance month (docs/model.md section 3)."""

import numpy as np
import pytest
from conftest import small_scenario_dict

import simlib
from simlib import ScenarioError, scenario_from_dict
from simlib.model.plans import apply_payout
from simlib.present import CATALOGUE
from simlib.scenario import Payout

MONTHS = [f"m{m:02d}" for m in range(1, 13)]


def _with_calendar(payout: dict) -> dict:
    d = small_scenario_dict()
    d["plans"]["cal"] = {"base": "current", "changes": {"roles": {r: {"payout": payout} for r in ("ka", "ts")}}}
    return d


def test_lag_and_holdback_by_hand():
    """Monthly pay 100..1200: 75% lands two months later, October-December's next year; 25% held to December."""
    accrual = np.arange(1.0, 13.0)[None, None] * 100.0
    cal = apply_payout(Payout(lag_months=2, holdback=0.25), accrual)
    want = np.zeros(12)
    want[2:] = 0.75 * accrual[0, 0, :10]
    want[11] += 0.25 * 7800.0
    np.testing.assert_allclose(cal.cash[0, 0], want)
    np.testing.assert_allclose(cal.next_year[0, 0], 0.75 * (1100 + 1200))
    np.testing.assert_allclose(cal.cash.sum() + cal.next_year.sum(), accrual.sum())
    late = apply_payout(Payout(lag_months=12, holdback=0.5, holdback_paid="next_year"), accrual)
    assert late.cash.sum() == 0.0 and late.next_year[0, 0] == pytest.approx(7800.0)
    same = apply_payout(None, accrual)
    np.testing.assert_array_equal(same.cash, accrual)
    assert same.next_year.sum() == 0.0


@pytest.mark.parametrize("payout, field, words", [
    ({"lag_months": 13}, "payout.lag_months", "less than or equal to 12"),
    ({"lag_months": -1}, "payout.lag_months", "greater than or equal to 0"),
    ({"holdback": 1.5}, "payout.holdback", "less than or equal to 1"),
    ({"holdback_paid": "quarterly"}, "payout.holdback_paid", "'year_end' or 'next_year'"),
    ({"lag": 1}, "payout.lag", ""),
])
def test_bad_calendars_name_the_field(payout, field, words):
    d = small_scenario_dict()
    d["plans"]["current"]["roles"]["ka"]["payout"] = payout
    with pytest.raises(ScenarioError) as ei:
        scenario_from_dict(d, "case.yaml")
    want = f"plans.current.roles.ka.{field}"
    assert any(p.field == want and words in p.message for p in ei.value.problems), [str(p) for p in ei.value.problems]


def test_a_calendar_changes_the_hash_and_none_keeps_it(small_scenario):
    d = small_scenario_dict()
    d["plans"]["current"]["roles"]["ka"]["payout"] = {"lag_months": 1}
    assert scenario_from_dict(d).sha256 != small_scenario.sha256
    assert "payout" not in str(small_scenario.model_dump())


def _means(res, plan, group):
    s = res.summary()
    s = s[(s.plan == plan) & (s.group == group)]
    return dict(zip(s.metric, s["mean"], strict=True)), dict(zip(s.metric, s["ci_high"] - s["ci_low"], strict=True))


def test_cash_and_accrual_add_up_to_the_unchanged_cost():
    """Per group: accruals add up to incentive cost, cash in the year plus payable next year too; cost as without."""
    s = scenario_from_dict(_with_calendar({"lag_months": 1, "holdback": 0.1}), "cal.yaml")
    res = simlib.simulate(s, ["current", "cal"], trials=40, rng=3)
    for group in ("ka", "ts", "ch", "total"):
        cur, _ = _means(res, "current", group)
        cal, width = _means(res, "cal", group)
        cost = cal["incentive_cost"]
        assert cost == pytest.approx(cur["incentive_cost"], rel=1e-12)
        assert sum(cal[f"accrual_{m}"] for m in MONTHS) == pytest.approx(cost, rel=1e-9)
        assert sum(cal[f"cash_{m}"] for m in MONTHS) + cal["payable_next_year"] == pytest.approx(cost, rel=1e-9)
        # without a calendar a plan pays as it accrues
        assert [cur[f"cash_{m}"] for m in MONTHS] == pytest.approx([cur[f"accrual_{m}"] for m in MONTHS])
        assert cur["payable_next_year"] == 0.0
    cal, width = _means(res, "cal", "ka")
    assert cal["payable_next_year"] > 0 and width["cash_m12"] > 0  # December's pay slips into next year; CIs given
    assert cal["cash_m01"] == 0.0


def test_calendar_metrics_only_with_a_calendar_and_chunk_invariant(small_scenario):
    metrics = set(simlib.simulate(small_scenario, trials=4, rng=0).summary().metric)
    assert not any(m.startswith(("cash_m", "accrual_m")) for m in metrics) and "payable_next_year" not in metrics
    s = scenario_from_dict(_with_calendar({"lag_months": 2, "holdback": 0.2, "holdback_paid": "next_year"}))
    a = simlib.simulate(s, ["cal"], trials=10, rng=5, chunk_size=3).summary()
    b = simlib.simulate(s, ["cal"], trials=10, rng=5).summary()
    np.testing.assert_allclose(a["mean"], b["mean"], rtol=1e-12)
    for m in ("cash_m01", "accrual_m12", "payable_next_year"):
        assert CATALOGUE[m].unit == "money"
