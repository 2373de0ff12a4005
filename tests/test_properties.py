"""Property tests (hypothesis): one contract for every pay-rule type, and reproducibility of whole runs.

- payout never decreases with attainment where the rule says so (non-negative
  slopes, nondecreasing payout points / rates / steps);
- caps hold; no NaN, no infinity, no negative pay;
- period pay is never negative; with year-to-date true-up the year's total is
  at least what the rule gives on the year's result, and exactly that when the
  rule and year-to-date attainment both never fall;
- same seed, same numbers, for any chunk size.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simlib
from simlib.model import reference
from simlib.model.paycurves import compile_component, evaluate
from simlib.model.plans import component_pay
from simlib.scenario import Component


def simulate(*args, **kw):
    """simlib.simulate with behaviour off unless a test asks otherwise (these checks are about behaviour 'none')."""
    return simlib.simulate(*args, **{"behaviour": "none", **kw})

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

xs_grid = np.concatenate([np.linspace(0.0, 3.0, 301), [0.0, 1e-9, 10.0, 1e6]])

money = st.floats(min_value=0.0, max_value=5.0, allow_nan=False, allow_infinity=False)
caps = st.one_of(st.none(), st.floats(min_value=0.05, max_value=5.0, allow_nan=False))


def _increasing(n_min=1, n_max=6, lo=0.0, hi=3.0):
    return st.lists(st.floats(min_value=lo, max_value=hi, allow_nan=False), min_size=n_min, max_size=n_max,
                    unique=True).map(sorted).filter(lambda v: all(b - a > 1e-6 for a, b in zip(v, v[1:], strict=False)))


@st.composite
def curves(draw, monotone=True):
    xs = draw(_increasing())
    ys = draw(st.lists(money, min_size=len(xs), max_size=len(xs)))
    if monotone:
        ys = sorted(ys)
    return Component(name="c", kind="curve", points=[[a, b] for a, b in zip(xs, ys, strict=False)],
                     beyond=draw(st.sampled_from(["extend", "flat"])), cap=draw(caps))


@st.composite
def commissions(draw, monotone=True):
    starts = draw(_increasing(1, 5, 0.0, 2.0))
    rates = draw(st.lists(st.floats(min_value=0.0, max_value=0.5, allow_nan=False), min_size=len(starts),
                          max_size=len(starts)))
    if monotone:
        rates = sorted(rates)
    return Component(name="c", kind="commission", mode=draw(st.sampled_from(["marginal", "retroactive"])),
                     tiers=[{"from": a, "rate": r} for a, r in zip(starts, rates, strict=False)], cap=draw(caps))


@st.composite
def lump_sums(draw):
    ats = draw(_increasing(1, 5))
    amounts = draw(st.lists(st.floats(min_value=0.0, max_value=1e4, allow_nan=False), min_size=len(ats),
                            max_size=len(ats)))
    return Component(name="c", kind="lump_sum", steps=[{"at": a, "amount": m} for a, m in zip(ats, amounts, strict=False)],
                     cap=draw(st.one_of(st.none(), st.floats(min_value=1.0, max_value=2e4))))


@st.composite
def per_units(draw):
    return Component(name="c", kind="per_unit", measure="calls", rate=draw(money),
                     cap=draw(st.one_of(st.none(), st.floats(min_value=1.0, max_value=100.0))))


any_rule = st.one_of(curves(), commissions(), lump_sums(), per_units())
any_rule_even_decreasing = st.one_of(curves(monotone=False), commissions(monotone=False), lump_sums(), per_units())


def _nondecreasing_by_construction(c: Component) -> bool:
    """What the plan says: payout points, tier rates (and so retroactive pay) never fall."""
    if c.kind == "curve":
        return all(b[1] >= a[1] for a, b in zip(c.points, c.points[1:], strict=False))
    if c.kind == "commission":
        return all(b.rate >= a.rate for a, b in zip(c.tiers, c.tiers[1:], strict=False))
    return True


@SETTINGS
@given(any_rule)
def test_payout_never_decreases_where_the_rule_says_so(c):
    assert _nondecreasing_by_construction(c)
    sched = compile_component(c)
    assert sched.nondecreasing
    x = np.sort(xs_grid)
    y, _ = evaluate(sched, x)
    assert np.all(np.diff(y) >= -1e-9 * np.maximum(1.0, np.abs(y[1:])))


@SETTINGS
@given(any_rule_even_decreasing)
def test_caps_hold_and_pay_is_finite_and_non_negative(c):
    sched = compile_component(c)
    y, capped = evaluate(sched, xs_grid)
    assert np.all(np.isfinite(y)) and not np.any(np.isnan(y))
    assert np.all(y >= 0.0)
    if c.cap is not None:
        assert np.all(y <= c.cap)
        assert np.all(y[capped] == c.cap)
    else:
        assert not capped.any()
    # the nondecreasing flag is right whenever it claims monotonicity
    if sched.nondecreasing:
        order = np.argsort(xs_grid)
        assert np.all(np.diff(y[order]) >= -1e-9 * np.maximum(1.0, np.abs(y[order][1:])))


@SETTINGS
@given(any_rule_even_decreasing, st.lists(st.floats(min_value=0.0, max_value=3.0), min_size=1, max_size=20))
def test_engine_rule_equals_reference_rule(c, xs):
    y, capped = evaluate(compile_component(c), np.array(xs))
    for i, x in enumerate(xs):
        v, hit = reference.pay_rule(c, x)
        assert y[i] == pytest.approx(v, rel=1e-9, abs=1e-9)
        assert bool(capped[i]) == hit or abs(v - (c.cap or 0)) < 1e-9


@SETTINGS
@given(
    st.one_of(curves(), commissions(), lump_sums(), per_units()),
    st.sampled_from(["month", "quarter", "half"]),
    st.booleans(),
    st.lists(st.floats(min_value=0.0, max_value=300.0), min_size=12, max_size=12),
)
def test_period_pay_non_negative_and_ytd_pays_what_is_due(c, period, ytd, monthly):
    n = {"month": 12, "quarter": 4, "half": 2}[period]
    c = c.model_copy(update={"period": period, "ytd_true_up": ytd})
    vals = np.array(monthly).reshape(n, -1).sum(axis=1)[None, :]
    tgts = np.full((1, n), 100.0 * 12 / n)
    scale = np.full((1, n), 250.0) if c.kind == "curve" else (tgts if c.kind == "commission" else np.ones((1, n)))
    paid, _ = component_pay(c, vals, tgts, scale, "flow")
    assert np.all(np.isfinite(paid)) and np.all(paid >= 0)
    if ytd:
        # in total, what the rule gives on the whole year's result (or more, never less, if more was due earlier)
        x = vals.sum() if c.kind == "per_unit" else vals.sum() / tgts.sum()
        due = float(evaluate(compile_component(c), np.array([x]))[0][0]) * (1.0 if c.kind == "per_unit" else scale.sum())
        assert paid.sum() >= due - 1e-6 * max(1.0, due)
        if compile_component(c).nondecreasing and c.kind != "lump_sum":
            # a nondecreasing rule on a nondecreasing year-to-date total: no overpayment either
            if c.kind == "per_unit" or np.all(np.diff(np.cumsum(vals) / np.cumsum(tgts)) >= 0):
                assert paid.sum() == pytest.approx(due, rel=1e-9, abs=1e-6)


# ---------------------------------------------------------------------------
# whole runs: same seed, same numbers
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def one_chunk(small_scenario):
    return simulate(small_scenario, trials=70, rng=20261127, chunk_size=70)


@pytest.mark.parametrize("chunk", [1, 9, 64])
def test_same_seed_same_numbers_for_any_chunk_size(small_scenario, one_chunk, chunk):
    """Bit for bit: 70 trials (more than one reduction block of 64) in chunks of 1, 9 or 64 trials."""
    a = simulate(small_scenario, trials=70, rng=20261127, chunk_size=chunk)
    assert a.provenance["chunk_size"] == chunk
    for name in ("n", "mean", "se", "keep"):
        x, y = getattr(a.raw, name), getattr(one_chunk.raw, name)
        same = (x == y) | (np.isnan(x) & np.isnan(y))
        if not same.all():
            bad = sorted({one_chunk.raw.layout.level_index()[i % one_chunk.raw.layout.n_levels][2]
                          for i in np.flatnonzero(~same) if name != "keep"})
            pytest.fail(f"{name} differs between chunk sizes {chunk} and 70 (metrics {bad})")


@pytest.mark.parametrize("seed", [0, 1, 2**32 + 5])
def test_simulated_pay_is_finite_non_negative(small_scenario, seed):
    res = simulate(small_scenario, trials=8, rng=seed, chunk_size=8)
    s = res.summary()
    money_rows = s[s.metric.isin(["incentive_cost", "total_comp", "revenue", "recognition_value"])]
    assert np.all(np.isfinite(money_rows["mean"])) and np.all(money_rows["mean"] >= 0)
    tr = res.trials()
    assert np.all(np.isfinite(tr[["revenue", "incentive_cost", "total_comp"]].to_numpy()))
    assert np.all(tr["incentive_cost"] >= 0)
