"""Production counts at the edges of what a valid scenario allows: Poisson means far above the role's spreads."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from simlib.model import compiled
from simlib.model.production import binomial_inv, poisson_inv, run_kmax, trials_kmax
from simlib.scenario import scenario_from_dict


@pytest.fixture(params=[False, True], ids=["numpy", "compiled"])
def path(request):
    compiled.use(request.param)
    yield request.param
    compiled.use(None)


def test_poisson_counts_of_a_mean_where_exp_underflows(path):
    """Means above ~700 (exp(-mean) is 0 in floating point): the Poisson quantile, not the truncation point."""
    u = np.random.default_rng(1).random((4, 3, 12))
    lam = np.broadcast_to(np.array([0.5, 800.0, 5e4])[None, :, None], u.shape).copy()
    np.testing.assert_array_equal(poisson_inv(u, lam, run_kmax(lam, 40)), stats.poisson.ppf(u, lam))
    np.testing.assert_array_equal(poisson_inv(u, lam, 40), np.minimum(stats.poisson.ppf(u, lam), 40))  # truncated


def test_the_truncation_follows_the_largest_mean_in_the_run(path):
    """A truncation point sized for smaller means is raised to the run's largest mean (8 sd above it, plus 12)."""
    u = np.random.default_rng(2).random((6, 2, 12))
    lam = np.broadcast_to(np.array([2.0, 90.0])[None, :, None], u.shape).copy()
    assert run_kmax(lam, 20) == 90 + 76 + 12
    np.testing.assert_array_equal(poisson_inv(u, lam, run_kmax(lam, 20)), stats.poisson.ppf(u, lam))
    # means within what the truncation was sized for: the truncation, and so the counts, as before
    assert run_kmax(lam[:, :1], 40) == 40
    assert run_kmax(np.array([np.nan]), 40) == run_kmax(np.zeros(0), 40) == 40


def test_binomial_counts_of_more_trials_than_the_truncation(path):
    """New accounts among more deals than the deals' truncation point: every deal can count."""
    u = np.random.default_rng(3).random((5, 2, 12))
    n = np.full(u.shape, 60.0)
    assert trials_kmax(n, 30) == 60 and trials_kmax(n, 80) == 80
    got = binomial_inv(u, n, 0.5, trials_kmax(n, 30))
    np.testing.assert_array_equal(got, stats.binom.ppf(u, n, 0.5))


def test_a_role_with_thousands_of_deals_a_month():
    """A valid key-account role of 2,000 deals a month simulates their mean (it counted the truncation point)."""
    import simlib

    data = {"name": "many", "market": {"growth_mean": 0.0, "growth_sd": 0.0, "monthly_sd": 0.0},
            "roles": {"r": {"process": "key_account", "headcount": 2, "team_size": 2, "base_salary": 1, "target_incentive": 1,
                            "ability_sd": 0.0, "territory_sd": 0.0, "new_hire_share": 0.0,
                            "production": {"deals_per_month": 2000.0, "deal_size_sd_log": 0.0}}},
            "plans": {"current": {"roles": {"r": {"quota": {"method": "flat"}, "components": [
                {"name": "n", "measure": "deals", "kind": "per_unit", "rate": 1.0}]}}}}}
    s = simlib.simulate(scenario_from_dict(data, "many"), trials=4, rng=1, behaviour="none").summary()
    got = s[(s.group == "r") & (s.metric == "incentive_cost")]["mean"].iloc[0]
    assert abs(got - 2 * 12 * 2000.0) < 4 * np.sqrt(2 * 12 * 2000.0 / 4), got


def _term_by_term(u: float, n: float, p: float, kmax: int) -> float:
    """The smallest k with P(K <= k) >= u, the pmf in logs term by term, for any real n (at most min(ceil(n), kmax))."""
    k, log_pmf = 0, n * math.log1p(-p)
    cdf = math.exp(log_pmf)
    while k < n and k < kmax and u > cdf:
        log_pmf += math.log((n - k) / (k + 1)) + math.log(p) - math.log1p(-p)
        cdf += math.exp(log_pmf)
        k += 1
    return float(k)


def test_binomial_counts_of_millions_of_trials_are_the_exact_quantile(path):
    """A month of millions of units cancelling (a valid generic role with a small unit price and wide spreads): the
    binomial quantile, as SciPy's, at any size (the CDF summed term by term in logs took n p steps: 2 million here,
    and the dynamic audit's case of 68,000 units at 0.21 took 6 s a pass); counts that are not whole numbers as
    before."""
    u = np.random.default_rng(4).random((3, 4, 12))
    n = np.broadcast_to(np.array([40.0, 5_000.0, 190_000.0, 1e7])[None, :, None], u.shape).copy()
    got = binomial_inv(u, n, 0.21, trials_kmax(n, 30))
    np.testing.assert_array_equal(got, stats.binom.ppf(u, n, 0.21))
    np.testing.assert_array_equal(binomial_inv(u, n, 0.21, 3_000), np.minimum(stats.binom.ppf(u, n, 0.21), 3_000))
    # counts that are not whole numbers (a behaviour model's perturbed counts): the term-by-term CDF's quantile
    frac = np.full(u.shape, 4_000.5)
    want = [_term_by_term(x, 4_000.5, 0.5, 5_000) for x in u.ravel()]
    np.testing.assert_array_equal(binomial_inv(u, frac, 0.5, 5_000).ravel(), want)
