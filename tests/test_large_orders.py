"""Large-order value of key accounts against an independent closed form.

The draw-for-draw reference shares the engine's deal rule, so it cannot catch
an error in the rule itself; this test can. A key-account role with no
ability, territory or market spread, no new hires, flat seasonality and effort
as today closes ``N ~ Poisson(lambda)`` deals a month (inverse CDF, truncated
at ``deals_kmax``, never reached here). The first ``KA_SIZE_DRAWS`` deals have lognormal sizes
``D = mu exp(s z - s^2/2)``; deals beyond them are valued at the mean size
``mu``. A deal is a large order when its size is at or above the threshold
``theta``, so per rep-month

    E[large] = mu Phi(s - z*) sum_{k<K} P(N > k) + mu 1{mu >= theta} E[(N - K)+],
    z* = (log(theta / mu) + s^2 / 2) / s,

and a per-unit rate on large-order value pays ``rate * 12 * E[large]`` a year.
"""

from __future__ import annotations

import math

import pytest
from scipy import stats

import simlib
from simlib.model.population import KA_SIZE_DRAWS
from simlib.model.production import deals_kmax

R = 200
TRIALS = 120
RATE = 0.01
K_SE = 4.0


def _expected_large_per_month(lam: float, mu: float, s: float, theta: float, kmax: int) -> float:
    n = stats.poisson(lam)
    pk = [n.pmf(k) for k in range(kmax)] + [n.sf(kmax - 1)]  # N truncated at kmax
    p_more = [sum(pk[k + 1:]) for k in range(KA_SIZE_DRAWS)]
    zstar = (math.log(theta / mu) + s * s / 2) / s
    drawn = mu * stats.norm.cdf(s - zstar) * sum(p_more)
    beyond = sum(max(k - KA_SIZE_DRAWS, 0) * p for k, p in enumerate(pk))
    return drawn + (mu * beyond if mu >= theta else 0.0)


def _scenario(lam: float, mu: float, theta: float) -> dict:
    role = {
        "process": "key_account", "headcount": R, "team_size": 10, "base_salary": 90000, "target_incentive": 50000,
        "ability_sd": 0.0, "territory_sd": 0.0, "new_hire_share": 0.0,
        "production": {"deals_per_month": lam, "deal_size_mean": mu, "large_order_threshold": theta,
                       "pipeline_lag_months": 0},
    }
    plan = {"roles": {"ka": {"quota": {"method": "flat"},
                             "components": [{"name": "large", "measure": "large_order_value", "kind": "per_unit",
                                             "rate": RATE}]}}}
    return {
        "name": "large_orders",
        "market": {"growth_mean": 0.0, "growth_sd": 0.0, "monthly_sd": 0.0, "monthly_rho": 0.0},
        "roles": {"ka": role},
        "plans": {"current": plan},
        "behaviour": {"mode": "none"},
    }


@pytest.mark.parametrize(("lam", "mu", "theta"), [
    (4.0, 200_000.0, 150_000.0),   # many months with more deals than drawn sizes; the mean counts as large
    (4.0, 100_000.0, 150_000.0),   # the mean is below the threshold: deals beyond the drawn sizes never count
    (0.5, 120_000.0, 150_000.0),   # the default's few deals
])
def test_large_order_pay_matches_closed_form(lam, mu, theta):
    scen = simlib.scenario_from_dict(_scenario(lam, mu, theta), "large_orders.yaml")
    row = simlib.simulate(scen, trials=TRIALS, rng=7).summary()
    row = row[(row.group == "ka") & (row.metric == "incentive_cost")]
    mean, se = row["mean"].item() / R, row["se"].item() / R
    expected = RATE * 12 * _expected_large_per_month(lam, mu, 0.8, theta, deals_kmax(scen.roles["ka"]))
    assert se > 0
    assert abs(mean - expected) < K_SE * se, f"simulated {mean:,.0f} ± {se:,.0f}, closed form {expected:,.0f}"
