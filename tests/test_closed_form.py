"""Expected payout of common plan types against independent closed-form integrals (docs/model.md section 6, step 3).

The scenario is built so that attainment has a known distribution: a channel
role with no partners opened, no revenue noise, no ability spread, no market
shocks, no new hires, flat seasonality and flat quotas, so each rep's monthly
revenue is ``existing x territory`` and attainment, in every period and for
the year, equals territory ``X ~ LogNormal(-s^2/2, s)`` (mean 1).
E[payout] = integral of the payout rule against that density (scipy quad),
written out here by hand, independent of :mod:`simlib.model.paycurves`; the engine's
Monte Carlo mean must match within 4 standard errors.

A second role opens partners at a fixed Poisson rate (ability and ramp 1),
so per-unit pay on partners opened has an exact expectation from the
Poisson probabilities.
"""

from __future__ import annotations

import math

import pytest
from scipy import integrate, stats

import simlib


def simulate(*args, **kw):
    """simlib.simulate with behaviour off unless a test asks otherwise (these checks are about behaviour 'none')."""
    return simlib.simulate(*args, **{"behaviour": "none", **kw})

S = 0.3  # territory sd (log)
R = 250  # reps per role
TI = 40000.0
EXISTING = 40000.0
QUOTA = 12 * EXISTING  # flat quota: E = 12 x existing revenue per month
LAM = 0.5  # partners opened per rep-month
TRIALS = 160
K_SE = 4.0


def _expect(f, knots=()) -> float:
    """E[f(X)] for X = exp(S z - S^2/2), z standard normal, by quad with break points at the knots."""
    zk = sorted((math.log(k) + S * S / 2) / S for k in knots if k > 0)
    pts = [z for z in zk if -12 < z < 12]

    def g(z):
        return f(math.exp(S * z - S * S / 2)) * stats.norm.pdf(z)

    val, err = integrate.quad(g, -12, 12, points=pts or None, limit=400, epsabs=1e-10, epsrel=1e-10)
    assert err < 1e-6 * max(1.0, abs(val))
    return val


def _clip(v, cap):
    return min(v, cap) if cap is not None else v


# --- the payout rules by hand (payout as multiple of TI for curves, fraction of quota for commission) -------------
def threshold_accelerator_cap(x):
    # nothing below 80%, jump to 0.4, 3x slope to 100%, then 2x slope (accelerator), cap 1.8
    if x < 0.8:
        return 0.0
    if x < 1.0:
        return 0.4 + 3.0 * (x - 0.8)
    return min(1.0 + 2.0 * (x - 1.0), 1.8)


def linear_decelerator(x):
    # 0 at 50%, 1 at 100%, then half slope uncapped
    if x < 0.5:
        return 0.0
    if x < 1.0:
        return 2.0 * (x - 0.5)
    return 1.0 + 1.0 * (x - 1.0)


def flat_beyond(x):
    if x < 0.7:
        return 0.0
    if x < 1.2:
        return 0.3 + 1.8 * (x - 0.7)
    return 1.2


def commission_marginal(x):
    # 4% up to 80%, 8% on 80-120%, 12% above, capped at 0.15 of quota
    pay = 0.04 * min(x, 0.8) + 0.08 * max(0.0, min(x, 1.2) - 0.8) + 0.12 * max(0.0, x - 1.2)
    return min(pay, 0.15)


def commission_retroactive(x):
    # rate of the tier reached applies to all attainment; nothing below 50%
    if x < 0.5:
        return 0.0
    if x < 1.0:
        return 0.05 * x
    return 0.10 * x


CURVE = {
    "threshold_accelerator_cap": dict(
        points=[[0.8, 0.4], [1.0, 1.0], [1.4, 1.8]], cap=1.8, beyond="extend"),
    "linear_decelerator": dict(points=[[0.5, 0.0], [1.0, 1.0], [1.5, 1.5]], beyond="extend"),
    "flat_beyond": dict(points=[[0.7, 0.3], [1.2, 1.2]], beyond="flat"),
}


def _plan(ch_comp, pu_comp, gates=None, weights_total=None):
    ch = {"quota": {"method": "flat", "level": 1.0}, "components": [ch_comp]}
    if gates:
        ch["gates"] = gates
    if weights_total is not None:
        ch["weights_total"] = weights_total
    return {"roles": {"ch": ch, "pu": {"quota": {"method": "flat"}, "components": [pu_comp]}}}


PU_ANNUAL = {"name": "p", "measure": "partners_opened", "kind": "per_unit", "rate": 1000}
PU_MONTH_CAP = {**PU_ANNUAL, "period": "month", "cap": 1500}
PU_YTD_CAP = {**PU_ANNUAL, "period": "quarter", "ytd_true_up": True, "cap": 7000}


def closed_form_scenario() -> dict:
    flat_role = {
        "process": "channel", "headcount": R, "team_size": 10, "base_salary": 60000, "target_incentive": TI,
        "ability_sd": 0.0, "territory_sd": S, "new_hire_share": 0.0,
    }
    plans = {
        "current": _plan({"name": "c", "kind": "curve", **CURVE["threshold_accelerator_cap"]}, PU_ANNUAL),
        "decel": _plan({"name": "c", "kind": "curve", **CURVE["linear_decelerator"]}, PU_MONTH_CAP),
        "flat": _plan({"name": "c", "kind": "curve", **CURVE["flat_beyond"]}, PU_YTD_CAP),
        "quarterly": _plan({"name": "c", "kind": "curve", "period": "quarter", **CURVE["threshold_accelerator_cap"]},
                           PU_ANNUAL),
        "ytd_monthly": _plan({"name": "c", "kind": "curve", "period": "month", "ytd_true_up": True,
                              **CURVE["linear_decelerator"]}, PU_ANNUAL),
        "weighted": _plan({"name": "c", "kind": "curve", "weight": 0.6, **CURVE["linear_decelerator"]}, PU_ANNUAL,
                          weights_total=0.6),
        "marginal": _plan({"name": "c", "kind": "commission", "mode": "marginal", "cap": 0.15,
                           "tiers": [{"from": 0, "rate": 0.04}, {"from": 0.8, "rate": 0.08}, {"from": 1.2, "rate": 0.12}]},
                          PU_ANNUAL),
        "retro_quarterly": _plan({"name": "c", "kind": "commission", "mode": "retroactive", "period": "quarter",
                                  "tiers": [{"from": 0.5, "rate": 0.05}, {"from": 1.0, "rate": 0.10}]}, PU_ANNUAL),
        "lump": _plan({"name": "c", "kind": "lump_sum", "steps": [{"at": 0.9, "amount": 3000}, {"at": 1.1, "amount": 5000}]},
                      PU_ANNUAL),
        "gated": _plan({"name": "c", "kind": "commission", "mode": "marginal", "cap": 0.15,
                        "tiers": [{"from": 0, "rate": 0.04}, {"from": 0.8, "rate": 0.08}, {"from": 1.2, "rate": 0.12}]},
                       PU_ANNUAL, gates=[{"measure": "revenue", "min_attainment": 0.9}]),
    }
    return {
        "name": "closed_form",
        "market": {"growth_mean": 0.0, "growth_sd": 0.0, "monthly_sd": 0.0, "monthly_rho": 0.0},
        "roles": {
            "ch": {**flat_role, "production": {"existing_revenue_per_month": EXISTING, "revenue_cv": 0.0,
                                               "partners_per_month": 0.0}},
            "pu": {**flat_role, "territory_sd": 0.0, "production": {"partners_per_month": LAM, "revenue_cv": 0.0}},
        },
        "plans": plans,
    }


def _poisson_expect_min(rate, n_mean, cap) -> float:
    """E[min(rate N, cap)] for N ~ Poisson(n_mean)."""
    tot = 0.0
    for k in range(200):
        tot += stats.poisson.pmf(k, n_mean) * min(rate * k, cap)
    return tot


def _lognormal_tail(a) -> float:
    """P(X >= a) for X = exp(S z - S^2/2)."""
    return 1.0 - stats.norm.cdf((math.log(a) + S * S / 2) / S)


EXPECTED_CH = {
    # per rep, money per year
    "current": TI * _expect(threshold_accelerator_cap, (0.8, 1.0, 1.4)),
    "decel": TI * _expect(linear_decelerator, (0.5, 1.0)),
    "flat": TI * _expect(flat_beyond, (0.7, 1.2)),
    "quarterly": TI * _expect(threshold_accelerator_cap, (0.8, 1.0, 1.4)),
    "ytd_monthly": TI * _expect(linear_decelerator, (0.5, 1.0)),
    "weighted": 0.6 * TI * _expect(linear_decelerator, (0.5, 1.0)),
    "marginal": QUOTA * _expect(commission_marginal, (0.8, 1.2, 1.2 + (0.15 - 0.064) / 0.12)),
    "retro_quarterly": QUOTA * _expect(commission_retroactive, (0.5, 1.0)),
    "lump": 3000 * _lognormal_tail(0.9) + 5000 * _lognormal_tail(1.1),
    "gated": QUOTA * _expect(lambda x: commission_marginal(x) if x >= 0.9 else 0.0, (0.8, 0.9, 1.2, 1.2 + (0.15 - 0.064) / 0.12)),
}

EXPECTED_PU = {
    "current": 1000 * 12 * LAM,
    "decel": 12 * _poisson_expect_min(1000, LAM, 1500),
    "flat": _poisson_expect_min(1000, 12 * LAM, 7000),
}


@pytest.fixture(scope="module")
def summary():
    scen = simlib.scenario_from_dict(closed_form_scenario(), "closed_form.yaml")
    res = simulate(scen, trials=TRIALS, rng=12345)
    return res.summary()


def _mean_se(summary, plan, group):
    row = summary[(summary.plan == plan) & (summary.group == group) & (summary.metric == "incentive_cost")]
    return row["mean"].item() / R, row["se"].item() / R


def test_attainment_is_the_territory_draw(summary):
    """The set-up gives the intended attainment distribution: median exp(-S^2/2), share >= 100% = P(X >= 1)."""
    row = summary[(summary.plan == "current") & (summary.group == "ch")].set_index("metric")
    assert abs(row.at["attainment_p50", "mean"] - math.exp(-S * S / 2)) < K_SE * row.at["attainment_p50", "se"] + 1e-3
    assert abs(row.at["share_at_quota", "mean"] - _lognormal_tail(1.0)) < K_SE * row.at["share_at_quota", "se"]
    rev, rse = row.at["revenue", "mean"], row.at["revenue", "se"]
    assert abs(rev - R * QUOTA) < K_SE * rse


@pytest.mark.parametrize("plan", sorted(EXPECTED_CH))
def test_expected_payout_matches_integral(summary, plan):
    mean, se = _mean_se(summary, plan, "ch")
    expected = EXPECTED_CH[plan]
    assert se > 0
    assert abs(mean - expected) < K_SE * se, f"{plan}: simulated {mean:.2f} ± {se:.2f}, closed form {expected:.2f}"


@pytest.mark.parametrize("plan", sorted(EXPECTED_PU))
def test_expected_per_unit_pay_matches_poisson(summary, plan):
    mean, se = _mean_se(summary, plan, "pu")
    expected = EXPECTED_PU[plan]
    assert abs(mean - expected) < K_SE * se, f"{plan}: simulated {mean:.2f} ± {se:.2f}, exact {expected:.2f}"


def test_lump_sum_integral_agrees_with_tail_formula():
    """The two closed forms used here agree with each other (checks the quad set-up)."""
    by_quad = _expect(lambda x: 3000.0 * (x >= 0.9) + 5000.0 * (x >= 1.1), (0.9, 1.1))
    assert by_quad == pytest.approx(EXPECTED_CH["lump"], rel=1e-7)
    assert _expect(lambda x: x, ()) == pytest.approx(1.0, rel=1e-9)


def test_integrals_are_distinct(summary):
    """The plans differ enough that matching each one is a real check: a simulated mean within K_SE standard
    errors of its own closed form is more than K_SE of its own SE away from any other plan's."""
    plans = sorted((k for k in EXPECTED_CH if k not in ("quarterly", "ytd_monthly")), key=EXPECTED_CH.get)
    for a, b in zip(plans[:-1], plans[1:], strict=True):
        gap = EXPECTED_CH[b] - EXPECTED_CH[a]
        se = max(_mean_se(summary, a, "ch")[1], _mean_se(summary, b, "ch")[1])
        assert gap > 2 * K_SE * se, (a, b, gap, se)


@pytest.mark.slow
def test_expected_payouts_with_ten_times_the_trials():
    """`make validate`: the same checks at 10x the trials (SE about 3x smaller)."""
    scen = simlib.scenario_from_dict(closed_form_scenario(), "closed_form.yaml")
    s = simulate(scen, trials=10 * TRIALS, rng=54321).summary()
    for plan, expected in EXPECTED_CH.items():
        mean, se = _mean_se(s, plan, "ch")
        assert abs(mean - expected) < K_SE * se, f"{plan}: {mean:.2f} ± {se:.2f} vs {expected:.2f}"
    for plan, expected in EXPECTED_PU.items():
        mean, se = _mean_se(s, plan, "pu")
        assert abs(mean - expected) < K_SE * se, f"{plan}: {mean:.2f} ± {se:.2f} vs {expected:.2f}"


def test_production_means_match_the_quota_basis():
    """Each role's mean annual revenue per rep equals E = the sum of expected monthly revenue that flat quotas use
    (mean-one ability and territory, no new hires, no market noise), so a flat quota at level 1 is fair on average."""
    from simlib.model.production import expected_monthly_revenue

    R = 60
    roles = {
        "ka": {"process": "key_account", "production": {"deals_per_month": 0.7}},
        "ts": {"process": "telesales", "seasonality": [1, 1, 1.2, 1, 1, 1, 0.8, 0.9, 1, 1, 1.1, 1.3]},
        "ch": {"process": "channel", "production": {"partners_per_month": 0.6, "partner_ramp_months": 3}},
    }
    for r in roles.values():
        r.update(headcount=R, base_salary=1, target_incentive=1, new_hire_share=0.0, ability_sd=0.3, territory_sd=0.3)
    flat = {"quota": {"method": "flat"}, "components": [{"name": "c", "points": [[0, 0], [1, 1]]}]}
    scen = simlib.scenario_from_dict({
        "name": "means", "market": {"growth_mean": 0.04, "growth_sd": 0.0, "monthly_sd": 0.0},
        "roles": roles, "plans": {"current": {"roles": {k: flat for k in roles}}}}, "means.yaml")
    s = simulate(scen, trials=60, rng=8).summary().set_index(["group", "metric"])
    for name, role in scen.roles.items():
        E = float(expected_monthly_revenue(role, 0.04).sum())
        mean, se = s.loc[(name, "revenue"), "mean"] / R, s.loc[(name, "revenue"), "se"] / R
        assert abs(mean - E) < K_SE * se, f"{name}: {mean:.0f} ± {se:.0f} per rep, E = {E:.0f}"
        assert se < 0.02 * E  # a sharp test


def _assert_poisson_counts(name: str, group: str, role: dict, measure: str, lam: float) -> None:
    """A role whose ``measure`` is Poisson(``lam`` x ability) a month, paid 1 per unit on a flat quota with no
    market noise: per-unit pay has the Poisson mean 12 x ``lam`` per rep and revenue the flat quota's basis E."""
    from simlib.model.production import expected_monthly_revenue

    R = role["headcount"]
    plan = {"roles": {group: {"quota": {"method": "flat"},
                              "components": [{"name": "n", "measure": measure, "kind": "per_unit", "rate": 1}]}}}
    scen = simlib.scenario_from_dict({
        "name": name, "market": {"growth_mean": 0.0, "growth_sd": 0.0, "monthly_sd": 0.0},
        "roles": {group: role}, "plans": {"current": plan}}, f"{name}.yaml")
    s = simulate(scen, trials=40, rng=3).summary()
    s = s[s.group == group].set_index("metric")
    mean, se = s.at["incentive_cost", "mean"] / R, s.at["incentive_cost", "se"] / R
    assert abs(mean - 12 * lam) < K_SE * se, f"{measure} {mean:.2f} ± {se:.2f} per rep, Poisson mean {12 * lam}"
    E = float(expected_monthly_revenue(scen.roles[group], 0.0).sum())
    rev, rse = s.at["revenue", "mean"] / R, s.at["revenue", "se"] / R
    assert abs(rev - E) < K_SE * rse, f"revenue {rev:,.0f} ± {rse:,.0f} per rep, E = {E:,.0f}"


def test_many_partners_opened_a_month_match_poisson():
    """Partners opened are Poisson(partners_per_month x ability) a month with no hidden truncation: at 8 a month
    (ability spread 0.3, so some reps open 20 or more), per-unit pay at 1 per partner has the Poisson mean 12 x 8
    per rep, and revenue its closed form E (the flat quota's basis). Found by `python -m benchmarks.closed_forms`:
    openings were cut at 10 a rep-month."""
    role = {"process": "channel", "headcount": 80, "team_size": 10, "base_salary": 60000, "target_incentive": TI,
            "ability_sd": 0.3, "territory_sd": 0.0, "new_hire_share": 0.0,
            "production": {"partners_per_month": 8.0, "revenue_cv": 0.0, "partner_ramp_months": 2.0}}
    _assert_poisson_counts("many_partners", "ch", role, "partners_opened", 8.0)


def test_cancellations_of_many_deals_a_month_are_the_cancel_rate():
    """Cancelled revenue is ``cancel_rate`` of bookings in expectation (k ~ Binomial(n, rate) of a month's n deals
    take k / n of its revenue), however many deals a month: a generic role selling 4,000 units a month (revenue per
    unit 10) with half of them cancelling cancels half its revenue. Found by `python -m benchmarks.closed_forms`:
    (1 - rate)^n underflowed to 0 past about 1,000 deals, and every deal of the month cancelled."""
    R, rate = 20, 0.5
    role = {"process": "generic", "headcount": R, "base_salary": 1, "target_incentive": 1, "new_hire_share": 0.0,
            "production": {"revenue_per_month": 40000, "revenue_per_unit": 10, "cancel_rate": rate}}
    plan = {"roles": {"g": {"quota": {"method": "flat"}, "components": [{"name": "c", "points": [[0, 0], [1, 1]]}]}}}
    scen = simlib.scenario_from_dict({"name": "cancels", "roles": {"g": role}, "plans": {"current": plan}},
                                     "cancels.yaml")
    s = simulate(scen, trials=20, rng=1).summary()
    s = s[s.group == "g"].set_index("metric")
    rev, cancelled, se = s.at["revenue", "mean"], s.at["cancelled_revenue", "mean"], s.at["cancelled_revenue", "se"]
    # per rep-month the cancelled share k / n has sd sqrt(rate (1 - rate) / n), n about 4,000: the share is sharp
    assert abs(cancelled / rev - rate) < 0.005, f"cancelled {cancelled / rev:.4f} of revenue, expected {rate}"
    assert se > 0


def test_many_deals_a_month_match_poisson():
    """Key-account deals are Poisson a month with no cap that bites: at 8 a month per-unit pay of 1 per deal has the
    Poisson mean 12 x 8 per rep, and revenue the flat quota's E. Found by `python -m benchmarks.closed_forms`: deals
    were cut at 12 a rep-month (1.6% of them at 8 a month)."""
    role = {"process": "key_account", "headcount": 80, "team_size": 10, "base_salary": 90000, "target_incentive": TI,
            "ability_sd": 0.2, "territory_sd": 0.0, "new_hire_share": 0.0,
            "production": {"deals_per_month": 8.0, "deal_size_mean": 50_000, "deal_size_sd_log": 0.0}}
    _assert_poisson_counts("many_deals", "ka", role, "deals", 8.0)
