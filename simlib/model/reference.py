"""A slow, obvious reference implementation of the model, one rep-month at a time.

This module re-implements, in plain Python loops over trials, reps and months
with :mod:`math` and Python floats, everything the vectorised engine computes
with behaviour off: the market, the reps, production of every measure by role
(docs/model.md section 2), quota setting and payout (section 3). Pay rules are
written out from their definitions (interpolate the curve, add up commission
tiers, count the lump sums reached), not through
:class:`simlib.model.paycurves.Schedule`, so the two implementations check each
other (validation ladder, docs/model.md section 6, step 4).

It consumes the very same pre-drawn random numbers as the engine
(:func:`simlib.model.population.draw_chunk`, one trial at a time), so the two must
agree draw for draw; NumPy is used only to obtain and read those draws.

It is deliberately slow (about 10^4-10^5 rep-months per second): use it on
small scenarios, or to time a plain-Python loop against the engine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

from simlib.errors import PlanError
from simlib.model.population import KA_SIZE_DRAWS, Layout, draw_chunk, root_seed
from simlib.scenario import (
    MEASURES,
    MONTHS,
    PERIODS,
    Component,
    Draw,
    Payout,
    Role,
    Scenario,
    Scorecard,
    ScoreScale,
    Spiff,
)

TOTAL = "total"

#: per-trial metrics :func:`simulate_reference` returns for each plan and group
REFERENCE_METRICS = (
    "revenue",
    "gross_profit",
    "incentive_cost",
    "base_cost",
    "total_comp",
    "profit",
    "share_at_quota",
    "share_capped",
    "recognition_value",
)

#: further per-trial metrics :func:`simulate_reference` returns when some of its plans have programmes
PROGRAMME_REFERENCE_METRICS = ("programme_cost", "programme_value", "programme_winners", "programme_trained")


def _lognormal_mean_one(sd: float, z: float) -> float:
    return math.exp(sd * z - 0.5 * sd * sd)


def _clip01(x: float) -> float:
    return min(1.0, max(0.0, x))


def _normal_count(mean: float, var: float, z: float) -> float:
    """Normal approximation of a count, rounded half to even (as numpy.rint), at least 0."""
    return max(0.0, float(round(mean + math.sqrt(max(var, 0.0)) * z)))


def _poisson_quantile(u: float, lam: float, kmax: int) -> float:
    """Smallest k with P(N <= k) >= u for N ~ Poisson(lam), at most kmax."""
    k = 0
    p = math.exp(-lam)
    cdf = p
    while k < kmax and u > cdf:
        k += 1
        p = p * lam / k
        cdf += p
    return float(k)


def _binomial_quantile(u: float, n: float, p: float, kmax: int) -> float:
    """Smallest k with P(K <= k) >= u for K ~ Binomial(n, p), at most min(n, kmax)."""
    p = min(max(p, 1e-12), 1.0 - 1e-12)
    k = 0
    pmf = (1.0 - p) ** n
    if pmf < 1e-300:  # (1 - p)^n would underflow: the pmf in logs, each term counted once representable
        log_pmf, cdf = n * math.log1p(-p), pmf
        while k < n and k < kmax and u > cdf:
            log_pmf += math.log((n - k) / (k + 1)) + math.log(p) - math.log1p(-p)
            cdf += math.exp(log_pmf)
            k += 1
        return float(k)
    cdf = pmf
    while k < n and k < kmax and u > cdf:
        pmf = pmf * (n - k) / (k + 1) * p / (1.0 - p)
        cdf += pmf
        k += 1
    return float(k)


# ---------------------------------------------------------------------------
# The world of one trial
# ---------------------------------------------------------------------------


def _draws_of_trial(scenario: Scenario, root: np.random.SeedSequence, trial: int) -> dict[str, Any]:
    """This trial's named draws as nested Python lists (same numbers the engine uses)."""
    d = draw_chunk(Layout.of(scenario), root, np.array([trial]))
    return {k: v[0].tolist() for k, v in d.items()}


def _market(scenario: Scenario, dr: dict[str, Any]) -> list[float]:
    """Demand multiplier of each month: annual lognormal level times a stationary AR(1) in logs."""
    mk = scenario.market
    annual = (1.0 + mk.growth_mean) * _lognormal_mean_one(mk.growth_sd, dr["market.growth"][0])
    z = dr["market.monthly"]
    innov = mk.monthly_sd * math.sqrt(1.0 - mk.monthly_rho**2)
    out = []
    x = 0.0
    for m in range(MONTHS):
        x = mk.monthly_sd * z[0] if m == 0 else mk.monthly_rho * x + innov * z[m]
        out.append(annual * math.exp(x - 0.5 * mk.monthly_sd**2))
    return out


def _reps(role: Role, d: dict[str, Any]) -> list[dict[str, Any]]:
    """Ability, territory, new-hire flag, ramp by month and team of each rep."""
    reps = []
    for r in range(role.headcount):
        new = d["new_hire"][r] < role.new_hire_share
        ramp = [min(1.0, (m + 1.0) / role.ramp_months) if new else 1.0 for m in range(MONTHS)]
        reps.append(
            dict(
                ability=_lognormal_mean_one(role.ability_sd, d["ability"][r]),
                territory=_lognormal_mean_one(role.territory_sd, d["territory"][r]),
                new_hire=new,
                ramp=ramp,
                team=r // role.team_size,
            )
        )
    return reps


# ---------------------------------------------------------------------------
# Production (today's effort: effort = focus = help = 1)
# ---------------------------------------------------------------------------

EFFORT, FOCUS, HELP = 1.0, 1.0, 1.0


def _effort_split(share: float, elasticity: float, beta: float) -> tuple[float, float, float]:
    """(activity multiplier, quality multiplier, managing multiplier) at today's effort and focus."""
    act = (EFFORT * FOCUS) ** beta
    qual = max(EFFORT * (1.0 - share * FOCUS) / (1.0 - share), 1e-9) ** elasticity
    return act, qual, EFFORT**beta


def _produce_telesales(role: Role, rep: dict, r: int, d: dict, demand: list[float]) -> dict[str, list[float]]:
    p = role.process_params()
    act, q, _ = _effort_split(p.activity_share, p.quality_elasticity, role.effort_elasticity)
    out: dict[str, list[float]] = {k: [] for k in MEASURES["telesales"]}
    for m in range(MONTHS):
        mean_calls = p.calls_per_month * rep["ability"] * rep["ramp"][m] * act
        calls = _normal_count(mean_calls, mean_calls, d["calls"][r][m])
        lr = min(0.95, p.lead_rate * rep["territory"] * demand[m])
        leads = min(calls, _normal_count(calls * lr, calls * lr * (1 - lr), d["leads"][r][m]))
        cr = min(0.95, p.conversion_rate * q * HELP)
        conv = min(leads, _normal_count(leads * cr, leads * cr * (1 - cr), d["conv"][r][m]))
        avg = p.deal_value * max(0.0, 1.0 + p.deal_value_cv / math.sqrt(max(conv, 1.0)) * d["deal"][r][m])
        out["revenue"].append(conv * avg)
        out["calls"].append(calls)
        out["talk_time"].append(calls * p.talk_minutes_per_call / 60.0 * q)
        out["leads"].append(leads)
        out["conversions"].append(conv)
        out["conversion_rate"].append(conv / leads if leads > 0 else 0.0)
        out["record_accuracy"].append(_clip01(p.record_accuracy * q + p.record_accuracy_sd * d["accuracy"][r][m]))
    return out


def _produce_key_account(role: Role, rep: dict, r: int, d: dict, demand: list[float]) -> dict[str, list[float]]:
    p = role.process_params()
    act, q, _ = _effort_split(p.activity_share, p.quality_elasticity, role.effort_elasticity)
    out: dict[str, list[float]] = {k: [] for k in MEASURES["key_account"]}
    s = p.deal_size_sd_log
    # truncated 8 sd above the mean of twice the busiest month's rate for a rep 6 log-sd of ability and territory up
    hi = 2.0 * p.deals_per_month * max(role.season) * math.exp(6.0 * math.hypot(role.ability_sd, role.territory_sd))
    kmax = math.ceil(hi + 8.0 * math.sqrt(hi)) + 12
    for m in range(MONTHS):
        # deals closing now were worked on pipeline_lag_months ago (effort before the year: today's)
        act_lagged = act if m >= p.pipeline_lag_months else 1.0
        lam = p.deals_per_month * rep["ability"] * rep["territory"] * demand[m] * rep["ramp"][m] * act_lagged * HELP
        n = _poisson_quantile(d["ndeals"][r][m], lam, kmax)
        revenue = large = 0.0
        for k in range(int(n)):
            if k < KA_SIZE_DRAWS:
                size = p.deal_size_mean * math.exp(s * d["size"][r][m][k] - 0.5 * s * s)
                revenue += size
                if size >= p.large_order_threshold:
                    large += size
            else:  # deals beyond the drawn sizes are valued at the mean size, for large orders too
                revenue += p.deal_size_mean
                if p.deal_size_mean >= p.large_order_threshold:
                    large += p.deal_size_mean
        out["revenue"].append(revenue)
        out["large_order_value"].append(large)
        out["deals"].append(n)
        out["new_accounts"].append(_binomial_quantile(d["newacc"][r][m], n, p.new_account_share, kmax))
        lam_m = p.milestones_per_month * rep["ability"] * rep["ramp"][m] * q
        out["milestones"].append(_poisson_quantile(d["milestones"][r][m], lam_m, 3 * int(p.milestones_per_month) + 12))
        out["satisfaction"].append(_clip01(p.satisfaction * q + p.satisfaction_sd * d["satisfaction"][r][m]))
    return out


def _produce_channel(role: Role, rep: dict, r: int, d: dict, demand: list[float]) -> dict[str, list[float]]:
    p = role.process_params()
    act, q, manage = _effort_split(p.activity_share, p.quality_elasticity, role.effort_elasticity)
    out: dict[str, list[float]] = {k: [] for k in MEASURES["channel"]}
    opened_by_month: list[float] = []
    # truncated 8 sd above the mean of a rep 6 log-sd of ability up (plus 12): never reached in practice
    hi = p.partners_per_month * math.exp(6.0 * role.ability_sd)
    kmax = math.ceil(hi + 8.0 * math.sqrt(hi)) + 12
    for m in range(MONTHS):
        lam = p.partners_per_month * rep["ability"] * rep["ramp"][m] * act
        opened = _poisson_quantile(d["opened"][r][m], lam, kmax)
        # a partner opened in month j yields mature * (1 - exp(-(m - j)/tau)) in month m > j
        new_rev = 0.0
        for j, n_j in enumerate(opened_by_month):
            new_rev += n_j * (1.0 - math.exp(-(m - j) / p.partner_ramp_months))
        new_rev *= p.partner_mature_revenue * demand[m]
        opened_by_month.append(opened)
        base = (p.existing_revenue_per_month * rep["territory"] * rep["ability"] * demand[m] * rep["ramp"][m]
                * manage * HELP)
        existing = max(0.0, base * (1.0 + p.revenue_cv * d["revenue"][r][m]))
        out["revenue"].append(existing + new_rev)
        out["partners_opened"].append(opened)
        out["partner_revenue_new"].append(new_rev)
        out["partner_satisfaction"].append(
            _clip01(p.partner_satisfaction * q + p.partner_satisfaction_sd * d["psat"][r][m]))
        out["policy_adherence"].append(
            _clip01(p.policy_adherence * math.sqrt(q) + p.policy_adherence_sd * d["adherence"][r][m]))
    return out


def _produce_generic(role: Role, rep: dict, r: int, d: dict, demand: list[float]) -> dict[str, list[float]]:
    p = role.process_params()
    act, _, _ = _effort_split(p.activity_share, p.quality_elasticity, role.effort_elasticity)
    out: dict[str, list[float]] = {k: [] for k in MEASURES["generic"]}
    sig = math.sqrt(math.log(1.0 + p.revenue_cv * p.revenue_cv))  # lognormal with coefficient of variation cv
    for m in range(MONTHS):
        mean = p.revenue_per_month * rep["ability"] * rep["territory"] * demand[m] * rep["ramp"][m] * act * HELP
        revenue = mean * math.exp(sig * d["revenue"][r][m] - 0.5 * sig * sig)
        units_mean = revenue / p.revenue_per_unit  # units sold in proportion to revenue (Poisson, normal approximation)
        out["revenue"].append(revenue)
        out["units"].append(_normal_count(units_mean, units_mean, d["units"][r][m]))
    return out


def _noise(cv: float, z: float) -> float:
    """Mean-one lognormal with coefficient of variation ``cv``."""
    sig = math.sqrt(math.log(1.0 + cv * cv))
    return math.exp(sig * z - 0.5 * sig * sig)


def _produce_named(role: Role, rep: dict, r: int, d: dict, demand: list[float], out: dict[str, list[float]]) -> None:
    """Add a rep's named measures (``role.measures``, docs/model.md section 2, named measures) to ``out``, from its revenue there."""
    nm = role.measures
    if nm is None:
        return
    _, q, _ = _effort_split(role.process_params().activity_share, role.process_params().quality_elasticity,
                            role.effort_elasticity)
    rev = out["revenue"]
    e0 = sum(expected_revenue_profile(role, 0.0))  # a ramped rep's expected year at today's effort, no growth
    if nm.visits is not None:
        v = nm.visits
        means = [v.per_day * v.working_days * rep["ability"] * rep["ramp"][m] * (EFFORT * FOCUS) ** v.elasticity
                 for m in range(MONTHS)]
        out["visits"] = [_normal_count(means[m], means[m], d["visits"][r][m]) for m in range(MONTHS)]
    if nm.retention is not None:
        rt = nm.retention
        book = float(rt.customers)
        out["customers_lost"], out["retention"] = [], []
        for m in range(MONTHS):
            h = min(rt.churn * q ** (-rt.quality_effect), 1.0)
            lost = _binomial_quantile(d["churn"][r][m], book, h, rt.customers)
            book -= lost
            out["customers_lost"].append(lost)
            out["retention"].append(1.0 - 12.0 * lost / rt.customers)  # annualised against the opening book
    if nm.market_share is not None:
        ms = nm.market_share
        out["market_size"] = [e0 / MONTHS / ms.share * rep["territory"] * demand[m] * _noise(ms.size_cv, d["market_size"][r][m])
                              for m in range(MONTHS)]
        out["market_share"] = [rev[m] / out["market_size"][m] for m in range(MONTHS)]
    if nm.growth is not None:
        base = e0 * rep["ability"] * rep["territory"] * _lognormal_mean_one(role.last_year_sd, d["last_year"][r])
        if rep["new_hire"]:
            base *= sum(rep["ramp"]) / MONTHS
        out["base_revenue"] = [base * role.season[m] / MONTHS for m in range(MONTHS)]
        out["growth"] = [rev[m] / max(base, 1e-9) for m in range(MONTHS)]
    if nm.profit_after_discounts is not None:
        pd = nm.profit_after_discounts
        disc = [_clip(pd.discount * q ** (-pd.quality_effect) * _noise(pd.discount_cv, d["discount"][r][m]), 0.0, 0.9)
                for m in range(MONTHS)]
        cost = (1.0 - role.gross_margin) * (1.0 - pd.discount)  # cost of goods per unit of list price
        out["discount_rate"] = disc
        out["profit_after_discounts"] = [rev[m] * (1.0 - cost / (1.0 - disc[m])) for m in range(MONTHS)]
    if nm.segments is not None:
        names = list(nm.segments.shares)
        for k in names:
            out[f"revenue_{k}"] = []
        for m in range(MONTHS):
            x = [nm.segments.shares[k] * _noise(nm.segments.cv, d["segments"][r][m][i]) for i, k in enumerate(names)]
            for i, k in enumerate(names):
                out[f"revenue_{k}"].append(rev[m] * x[i] / sum(x))


def _clip(x: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, x))


_PRODUCERS = {"telesales": _produce_telesales, "key_account": _produce_key_account, "channel": _produce_channel,
              "generic": _produce_generic}


def expected_revenue_profile(role: Role, growth: float) -> list[float]:
    """Mean revenue of an average, fully ramped rep in each month at today's effort, money per month."""
    p = role.process_params()
    out = []
    for m in range(MONTHS):
        s = role.season[m] * (1.0 + growth)
        if role.process == "telesales":
            out.append(p.calls_per_month * p.lead_rate * p.conversion_rate * p.deal_value * s)
        elif role.process == "key_account":
            out.append(p.deals_per_month * p.deal_size_mean * s)
        elif role.process == "generic":
            out.append(p.revenue_per_month * s)
        else:
            built = sum(1.0 - math.exp(-(m - j) / p.partner_ramp_months) for j in range(m))
            out.append((p.existing_revenue_per_month + p.partners_per_month * p.partner_mature_revenue * built) * s)
    return out


# ---------------------------------------------------------------------------
# Quotas and pay
# ---------------------------------------------------------------------------


def _quotas(scenario: Scenario, plan: str, rname: str, reps: list[dict], d: dict) -> list[float]:
    """Annual revenue quota of each rep, money per year."""
    role = scenario.roles[rname]
    q = scenario.role_plan(plan, rname).quota
    E = sum(expected_revenue_profile(role, scenario.market.growth_mean))
    p_hat = [rep["territory"] * _lognormal_mean_one(q.noise, d["quota_noise"][r]) for r, rep in enumerate(reps)]
    ramp = [sum(rep["ramp"]) / MONTHS for rep in reps]
    out = []
    if q.method == "top_down":
        company = q.level * (q.company_target if q.company_target else E * role.headcount)
        total_weight = sum(p_hat[r] * ramp[r] for r in range(len(reps)))
        return [company * p_hat[r] * ramp[r] / total_weight for r in range(len(reps))]
    for r, rep in enumerate(reps):
        if q.method == "flat":
            out.append(q.level * E * ramp[r])
        elif q.method == "territory" or rep["new_hire"]:
            out.append(q.level * E * p_hat[r] * ramp[r])
        else:  # last_year, for reps who were there last year
            g = scenario.market.growth_mean
            last = E / (1.0 + g) * rep["ability"] * rep["territory"] * _lognormal_mean_one(role.last_year_sd, d["last_year"][r])
            out.append(q.level * (1.0 + q.growth) * last)
    return out


def _periods(values: list[float], n: int, kind: str) -> list[float]:
    """Monthly values to n periods: flows summed, scores averaged."""
    L = MONTHS // n
    out = []
    for i in range(n):
        tot = sum(values[i * L : (i + 1) * L])
        out.append(tot if kind == "flow" else tot / L)
    return out


def pay_rule(c: Component, x: float) -> tuple[float, bool]:
    """The component's pay rule at ``x`` written out from its definition; (value, hit the cap).

    ``x`` is attainment (value / target) for ``curve``, ``commission`` and
    ``lump_sum`` and units for ``per_unit``. The value is a multiple of the
    per-period target incentive share (curve), a fraction of the period quota
    (commission) or money (per_unit, lump_sum).
    """
    if c.kind == "curve":
        pts = c.points
        if x < pts[0][0]:
            raw = 0.0
        elif len(pts) == 1:
            raw = pts[0][1]
        else:
            raw = None
            for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
                if x0 <= x < x1:
                    raw = y0 + (y1 - y0) * (x - x0) / (x1 - x0)
                    break
            if raw is None:  # beyond the last point
                (x0, y0), (x1, y1) = pts[-2], pts[-1]
                raw = y1 + ((y1 - y0) / (x1 - x0) * (x - x1) if c.beyond == "extend" else 0.0)
                raw = max(0.0, raw)  # a falling last segment extends down to zero pay, not below
    elif c.kind == "commission":
        starts = [t.start for t in c.tiers] + [math.inf]
        if c.mode == "marginal":  # each tier's rate on the slice of attainment inside it
            raw = sum(t.rate * max(0.0, min(x, starts[i + 1]) - t.start) for i, t in enumerate(c.tiers))
        else:  # retroactive: the highest tier reached pays its rate on all of it
            reached = [t for t in c.tiers if x >= t.start]
            raw = reached[-1].rate * x if reached else 0.0
    elif c.kind == "per_unit":
        raw = c.rate * x if x >= 0 else 0.0
    else:  # lump_sum
        raw = sum(s.amount for s in c.steps if x >= s.at)
    if c.cap is not None and raw > c.cap:
        return float(c.cap), True
    return raw, False


def _component_periods(c: Component, values: list[float], targets: list[float], scale: list[float],
                       kind: str) -> tuple[list[float], bool]:
    """Pay per period (money) and whether the cap was hit, for one rep (or one team pool)."""
    n = len(values)
    if c.ytd_true_up and n > 1:
        paid: list[float] = []
        so_far = 0.0
        capped = False
        for i in range(n):
            cum_v = sum(values[: i + 1]) if kind == "flow" else sum(values[: i + 1]) / (i + 1)
            cum_t = sum(targets[: i + 1]) if kind == "flow" else sum(targets[: i + 1]) / (i + 1)
            x = cum_v if c.kind == "per_unit" else cum_v / max(cum_t, 1e-12)
            f, hit = pay_rule(c, x)
            # due so far: the rule on year-to-date attainment, times the year-to-date scale
            # (a per-unit rate is already money per unit)
            due = f if c.kind == "per_unit" else f * sum(scale[: i + 1])
            now = max(0.0, due - so_far)
            paid.append(now)
            so_far += now
            capped = capped or (hit and scale[i] > 0)  # a cap holding no money back is no hit
        return paid, capped
    out = []
    capped = False
    for v, t, s in zip(values, targets, scale, strict=False):
        x = v if c.kind == "per_unit" else v / max(t, 1e-12)
        f, hit = pay_rule(c, x)
        out.append(f * s)
        capped = capped or (hit and s > 0)
    return out, capped


def score_rule(sc: ScoreScale, x: float) -> float:
    """A scorecard scale at ``x`` written out: the score of the interval holding ``x``, or the curve through its points."""
    if sc.intervals is not None:
        score = 0.0  # below the first interval
        for iv in sc.intervals:  # in order; the last interval's score holds beyond its end
            if x >= iv.start:
                score = iv.score
        return score
    pts = sc.curve
    if x < pts[0][0]:
        return 0.0
    if len(pts) == 1:
        return pts[0][1]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
        if x0 <= x < x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    (x0, y0), (x1, y1) = pts[-2], pts[-1]
    return max(0.0, y1 + (y1 - y0) / (x1 - x0) * (x - x1)) if sc.beyond == "extend" else y1


def scorecard_rule(sc: Scorecard, attainment: dict[str, float]) -> tuple[float, bool]:
    """A scorecard's payout coefficient for one period from each measure's attainment; (value, hit the cap)."""
    composite = sum(m.weight * score_rule(m, attainment[m.measure]) for m in sc.measures) / sc.total
    if composite < sc.min_score:
        return 0.0, False
    coef = score_rule(sc.payout, composite)
    if sc.cap is not None and coef > sc.cap:
        return float(sc.cap), True
    return coef, False


def _scorecard_reference(sc: Scorecard, kinds: dict[str, str], measures: list[dict[str, list[float]]],
                         quota: list[float], level: float, prof_share: list[float], TI: float,
                         teams: dict[int, list[int]], team_weight: float,
                         split: str, months: list[list[float]] | None = None,
                         inforce: list[float] | None = None) -> tuple[list[float], list[bool]]:
    """Money per year of one scorecard for each rep (own and team parts), and whether it hit its cap.

    With ``months`` (one 12-month list of zeros per rep), each period's money
    is added in its last month. With ``inforce`` (a version's months), a
    period pays its share of months in force.
    """
    n = PERIODS[sc.period]
    share = _periods(prof_share, n, "flow")
    f = [1.0] * n if inforce is None else [x / (MONTHS // n) for x in _periods(inforce, n, "flow")]
    R = len(measures)
    vals = {m.measure: [_periods(measures[r][m.measure], n, kinds[m.measure]) for r in range(R)] for m in sc.measures}
    tgts: dict[str, list[list[float]]] = {}
    for m in sc.measures:
        if m.target == "quota":
            tgts[m.measure] = [[quota[r] * share[i] for i in range(n)] for r in range(R)]
        elif kinds[m.measure] == "flow":
            tgts[m.measure] = [[level * float(m.target) / n * f[i] for i in range(n)] for _ in range(R)]
        else:
            tgts[m.measure] = [[float(m.target)] * n for _ in range(R)]

    def pay(v: dict[str, list[float]], t: dict[str, list[float]], into: list[float] | None = None,
            by: float = 1.0) -> tuple[float, bool]:
        total, hit = 0.0, False
        for i in range(n):
            coef, h = scorecard_rule(sc, {k: v[k][i] / max(t[k][i], 1e-12) for k in v})
            total += coef * sc.weight * TI / n * f[i]
            if into is not None:
                into[(i + 1) * (MONTHS // n) - 1] += by * coef * sc.weight * TI / n * f[i]
            hit = hit or (h and f[i] > 0 and sc.weight * TI > 0)  # a cap holding no money back is no hit
        return total, hit

    w = team_weight
    out, capped = [], []
    for r in range(R):
        p, h = pay({k: vals[k][r] for k in vals}, {k: tgts[k][r] for k in tgts},
                   months[r] if months is not None else None, 1.0 - w)
        out.append(p)
        capped.append(h)
    if team_weight > 0:
        for members in teams.values():
            size = len(members)
            tv, tt = {}, {}
            for k in vals:
                div = size if kinds[k] == "score" else 1.0
                tv[k] = [sum(vals[k][r][i] for r in members) / div for i in range(n)]
                tt[k] = [sum(tgts[k][r][i] for r in members) / div for i in range(n)]
            team, h = pay(tv, tt)
            rev = {r: sum(measures[r]["revenue"]) for r in members}
            tot = sum(rev.values())
            for r in members:
                frac = (rev[r] / tot if tot > 0 else 1.0 / size) if split == "contribution" else 1.0 / size
                out[r] = (1.0 - team_weight) * out[r] + team_weight * team * size * frac
                capped[r] = capped[r] or h
                if months is not None:
                    pay(tv, tt, months[r], team_weight * size * frac)
    return out, capped


def _modifier(points: list[tuple[float, float]], x: float) -> float:
    """Piecewise-linear multiplier through points, flat beyond both ends."""
    if x < points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if x0 <= x < x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]


def _relieved(scenario: Scenario, rname: str, rp: Any, quota: list[float], market: list[float] | None) -> list[float]:
    """Quotas after the plan's ``quota_relief`` for the year's market (unchanged without a rule or a market)."""
    if rp.quota_relief is None or market is None:
        return quota
    season = scenario.roles[rname].season
    g = scenario.market.growth_mean
    move = sum(season[m] * market[m] for m in range(MONTHS)) / sum(season) / (1.0 + g) - 1.0
    band = rp.quota_relief.band
    beyond = move - band if move > band else (move + band if move < -band else 0.0)
    return [q * (1.0 + rp.quota_relief.share * beyond) for q in quota]


def reference_pay(scenario: Scenario, plan: str, rname: str, reps: list[dict], measures: list[dict[str, list[float]]],
                  quota: list[float], market: list[float] | None = None,
                  version_quotas: dict[str, list[float]] | None = None,
                  inforce: list[float] | None = None) -> dict[str, list]:
    """Pay of each rep of one role under one plan, from its 12 months of measures.

    ``market`` (the trial's 12 demand multipliers) moves the quotas of a plan
    with ``quota_relief``. A plan with versions is paid segment by segment
    (:func:`_versioned_reference`, the versions' annual quotas in
    ``version_quotas``); ``inforce`` (12 zeros and ones) marks the months of
    one segment, whose ``quota`` and measures are the segment's.

    Returns a dict of per-rep lists: ``incentive`` (money per year),
    ``components`` (name -> money per year), ``attainment`` (annual revenue /
    quota), ``capped`` (bool), ``recognition`` (money-equivalent).
    """
    role = scenario.roles[rname]
    rp = scenario.role_plan(plan, rname)
    if rp.versions and inforce is None:
        return _versioned_reference(scenario, plan, rname, reps, measures, quota, version_quotas or {})
    quota = _relieved(scenario, rname, rp, quota, market)
    kinds = role.measure_kinds
    TI = scenario.target_incentive(plan, rname)
    level = rp.quota.level
    R = role.headcount
    prof = expected_revenue_profile(role, scenario.market.growth_mean)
    prof_share = [v / sum(prof) for v in prof]
    seg_frac = 1.0
    if inforce is not None:  # one segment: the expected revenue of its months splits its quota
        prof_share = [v * inforce[m] / sum(prof[k] * inforce[k] for k in range(MONTHS)) for m, v in enumerate(prof)]
        seg_frac = sum(inforce) / MONTHS
    teams: dict[int, list[int]] = {}
    for r, rep in enumerate(reps):
        teams.setdefault(rep["team"], []).append(r)

    comps: dict[str, list[float]] = {}
    capped = [False] * R
    months = [[0.0] * MONTHS for _ in range(R)]  # pay by the month its period ends, before gates and modifiers
    by_period: dict[str, list[list[float]]] = {}  # each component's pay per period, before gates
    for c in rp.components:
        kind = kinds[c.measure]
        n = PERIODS[c.period]
        share = _periods(prof_share, n, "flow")
        # share of each period's months in force (all 1 outside versions)
        f = [1.0] * n if inforce is None else [x / (MONTHS // n) for x in _periods(inforce, n, "flow")]
        vals, tgts, scales = [], [], []
        for r in range(R):
            vals.append(_periods(measures[r][c.measure], n, kind))
            if c.target == "quota":
                tgts.append([quota[r] * share[i] for i in range(n)])
            elif kind == "flow":
                tgts.append([level * float(c.target) / n * f[i] for i in range(n)])
            else:
                tgts.append([float(c.target)] * n)
            if c.kind == "curve":
                scales.append([c.weight * TI / n * f[i] for i in range(n)])
            elif c.kind == "commission":
                scales.append([tgts[r][i] if f[i] > 0 else 0.0 for i in range(n)])
            elif c.kind == "lump_sum":
                scales.append(list(f))
            else:
                scales.append([1.0 if f[i] > 0 else 0.0 for i in range(n)])
        own_pay = []
        w = rp.team.weight
        L = MONTHS // n
        by_period[c.name] = [[0.0] * n for _ in range(R)]
        for r in range(R):
            per, hit = _component_periods(c, vals[r], tgts[r], scales[r], kind)
            own_pay.append(sum(per))
            capped[r] = capped[r] or hit
            for i in range(n):
                months[r][(i + 1) * L - 1] += (1.0 - w) * per[i]
                by_period[c.name][r][i] += (1.0 - w) * per[i]
        if w > 0:
            team_pay = [0.0] * R
            for members in teams.values():
                size = len(members)
                tv = [sum(vals[r][i] for r in members) for i in range(n)]
                tt = [sum(tgts[r][i] for r in members) for i in range(n)]
                ts = [sum(scales[r][i] for r in members) for i in range(n)]
                if kind == "score":
                    tv, tt = [v / size for v in tv], [t / size for t in tt]
                if c.kind == "per_unit":  # the per-head result paid per head
                    per_head, hit = _component_periods(c, [v / size for v in tv], [t / size for t in tt], scales[members[0]], kind)
                    pool = [x * size for x in per_head]
                else:
                    pool, hit = _component_periods(c, tv, tt, ts, kind)
                own_total = {r: sum(vals[r]) for r in members}
                team_total = sum(own_total.values())
                for r in members:
                    if rp.team.split == "contribution" and kind == "flow":
                        frac = own_total[r] / team_total if team_total > 0 else 1.0 / size
                    else:
                        frac = 1.0 / size
                    team_pay[r] = sum(x * frac for x in pool)
                    capped[r] = capped[r] or hit
                    for i in range(n):
                        months[r][(i + 1) * L - 1] += w * pool[i] * frac
                        by_period[c.name][r][i] += w * pool[i] * frac
            own_pay = [(1.0 - w) * own_pay[r] + w * team_pay[r] for r in range(R)]
        comps[c.name] = own_pay

    for sc in rp.scorecards:
        comps[sc.name], hits = _scorecard_reference(sc, kinds, measures, quota, level, prof_share, TI, teams,
                                                    rp.team.weight, rp.team.split, months, inforce)
        capped = [a or b for a, b in zip(capped, hits, strict=True)]

    before_gates = {name: list(v) for name, v in comps.items()}
    for g in rp.gates:
        kind = kinds[g.measure]
        for r in range(R):
            annual = _periods(measures[r][g.measure], 1, kind)[0]
            if g.target == "quota":
                target = quota[r]
            else:
                target = level * float(g.target) * seg_frac if kind == "flow" else float(g.target)
            if not annual / max(target, 1e-12) >= g.min_attainment:
                for name in g.components or list(comps):
                    comps[name][r] = 0.0

    incentive = [sum(comps[name][r] for name in comps) for r in range(R)]
    for mod in rp.modifiers:
        for r in range(R):
            annual = _periods(measures[r][mod.measure], 1, kinds[mod.measure])[0]
            if kinds[mod.measure] == "flow":  # a segment's flow, annualised
                annual = annual / seg_frac
            incentive[r] *= _modifier(mod.points, annual)

    spiff = None
    if rp.spiffs:
        spiff = [0.0] * R
        for sp in rp.spiffs:
            comps[sp.name] = _spiff_reference(sp, measures)
            for r in range(R):
                spiff[r] += comps[sp.name][r]
                incentive[r] += comps[sp.name][r]
                months[r][sp.end - 1] += comps[sp.name][r]

    projects = _project_reference(rp, reps, teams) if rp.projects is not None else None
    if projects is not None:  # outside gates and modifiers, settled in December
        for r in range(R):
            incentive[r] += projects[r]
            months[r][MONTHS - 1] += projects[r]

    revenue = [sum(measures[r]["revenue"]) for r in range(R)]
    attainment = [revenue[r] / max(quota[r], 1e-12) for r in range(R)]

    recognition = [0.0] * R
    rec = rp.recognition
    if rec is not None and rec.value > 0:
        kind = kinds[rec.measure]
        score = []
        for r in range(R):
            annual = _periods(measures[r][rec.measure], 1, kind)[0]
            score.append(annual / max(quota[r], 1e-12) if rec.measure == "revenue" else annual)
        # best first; equal scores: the lower rep index first
        ranked = sorted(range(R), key=lambda r: (-score[r], r))
        for r in ranked[: min(rec.top_k, R)]:
            recognition[r] = rec.value * seg_frac

    programmes = _programmes_reference(rp, kinds, measures, quota, reps) if rp.programmes else None

    draw = None
    if rp.draw is not None:
        draw = [_draw_rep(rp.draw, months[r], incentive[r], bool(reps[r]["new_hire"])) for r in range(R)]
        incentive = [sum(d["cash"]) if d["touched"] else incentive[r] for r, d in enumerate(draw)]  # else as earned
    due = [draw[r]["cash"] if draw is not None else _trued_up(months[r], incentive[r]) for r in range(R)]
    clawback = None
    if "cancelled" in reps[0]:
        clawback = [_clawback_rep(rp, reps[r], measures[r]["revenue"], due[r], by_period, before_gates, comps, r)
                    for r in range(R)]
        if rp.clawback is not None:
            due = [cb["cash"] for cb in clawback]
            incentive = [sum(d) for d in due]
    calendar = None
    if rp.payout is not None:
        calendar = [_payout_rep(rp.payout, due[r]) for r in range(R)]
    return dict(incentive=incentive, components=comps, attainment=attainment, capped=capped,
                recognition=recognition, quota=quota, revenue=revenue, draw=draw, spiff=spiff, calendar=calendar,
                programmes=programmes, projects=projects, clawback=clawback)


def _present_value(amount: float, years: float, rate: float) -> float:
    """``amount`` a year for ``years`` years at yearly ``rate``, paid at year ends, today."""
    if rate <= 0:
        return amount * years
    return amount * (1.0 - (1.0 + rate) ** -years) / rate


def _trained_reps(p: Any, reps: list[dict]) -> set[int]:
    """Indices of the reps a training programme trains: ``round(share x R)`` of lowest (highest) ability, lower index first."""
    R = len(reps)
    n = min(R, int(math.floor(p.share * R + 0.5)))
    sign = 1.0 if p.select == "lowest" else -1.0
    return set(sorted(range(R), key=lambda r: (sign * reps[r]["ability"], r))[:n])


def _programmes_reference(rp: Any, kinds: dict[str, str], measures: list[dict[str, list[float]]],
                          quota: list[float], reps: list[dict]) -> dict[str, list[float]]:
    """Per-rep money-equivalent ``value``, company ``cost``, ``winners`` and ``trained`` of a role plan's programmes."""
    R = len(reps)
    out = {k: [0.0] * R for k in ("value", "cost", "winners", "trained")}
    for p in rp.programmes:
        if p.kind == "training":
            for r in _trained_reps(p, reps):
                out["trained"][r] += 1.0
                out["cost"][r] += p.cost_per_head
            continue
        score = []
        for r in range(R):
            annual = _periods(measures[r][p.measure], 1, kinds[p.measure])[0]
            score.append(annual / max(quota[r], 1e-12) if p.measure == "revenue" else annual)
        if p.kind == "promotion":
            worth = _present_value(p.raise_, p.years, p.discount_rate)
            won = sorted(range(R), key=lambda r: (-score[r], r))[: min(p.slots, R)]
        else:
            worth = p.value
            won = [r for r in range(R) if score[r] >= p.threshold]
        for r in won:
            out["value"][r] += worth
            out["cost"][r] += worth if p.cost_per_winner is None else p.cost_per_winner
            out["winners"][r] += 1.0
    return out


def _project_reference(rp: Any, reps: list[dict], teams: dict[int, list[int]]) -> list[float]:
    """Project pay of each rep at the planned effort: payout x ((1 - w) own + w team mean), own = ability."""
    pj = rp.projects
    out = []
    for rep in reps:
        members = teams[rep["team"]]
        team = sum(reps[m]["ability"] for m in members) / len(members)
        out.append(pj.payout * ((1.0 - pj.shared_weight) * rep["ability"] + pj.shared_weight * team))
    return out


def _with_training(rp: Any, reps: list[dict]) -> list[dict]:
    """The reps with each training programme's gain in their productivity (``ramp``) from its month on."""
    out = [dict(rep, ramp=list(rep["ramp"])) for rep in reps]
    for p in rp.programmes:
        if p.kind != "training" or not p.ability_gain:
            continue
        for r in _trained_reps(p, reps):
            for m in range(p.delay_months, MONTHS):
                out[r]["ramp"][m] *= 1.0 + p.ability_gain
    if rp.projects is not None:  # the time projects take from selling
        for rep in out:
            rep["ramp"] = [x * (1.0 - rp.projects.share_of_effort) for x in rep["ramp"]]
    return out



def _clawback_rep(rp: Any, rep: dict, revenue: list[float], pay: list[float], by_period: dict[str, list],
                  before_gates: dict[str, list[float]], comps: dict[str, list[float]], r: int) -> dict[str, Any]:
    """One rep's cancelled deals and the pay clawed back on them, month by month.

    A month's cancelled revenue (deals cancelling within the clawback's
    window) takes back each clawed component's pay of the period holding
    the month times that revenue over the period's revenue (a SPIFF: its
    pay times that revenue over the window's), falling due the month the
    deals cancel; the balance is recovered from that month's pay and later
    months', and what is left (or falls due after December) is forgiven or
    carried.
    """
    cancelled, delay = rep["cancelled"], rep["cancel_delay"]
    out = dict(cancelled=sum(cancelled), cash=list(pay), recovered=[0.0] * MONTHS, forgiven=0.0, outstanding=0.0)
    cb = rp.clawback
    if cb is None:
        return out
    names = cb.components if cb.components is not None else [
        c.name for c in [*rp.components, *rp.spiffs] if c.measure == "revenue"]
    spiffs = {sp.name: sp for sp in rp.spiffs}
    owed = [0.0] * MONTHS
    for name in names:
        if name in spiffs:
            sp = spiffs[name]
            periods = [(list(range(sp.start - 1, sp.end)), comps[name][r])]
        else:
            per = by_period[name][r]
            size = MONTHS // len(per)
            gate = comps[name][r] / before_gates[name][r] if before_gates[name][r] != 0 else 0.0
            periods = [(list(range(i * size, (i + 1) * size)), per[i] * gate) for i in range(len(per))]
        for months_of, paid in periods:
            V = sum(revenue[m] for m in months_of)
            for m in months_of:
                if V > 0 and delay[m] <= cb.window_months:
                    owed[m] += paid / V * cancelled[m]
    balance, later = 0.0, 0.0
    falls_due = [0.0] * MONTHS
    for m in range(MONTHS):
        if m + delay[m] < MONTHS:
            falls_due[m + delay[m]] += owed[m]
        else:
            later += owed[m]
    cash = out["cash"]
    for m in range(MONTHS):
        balance += falls_due[m]
        back = min(balance, max(cash[m], 0.0))
        cash[m] -= back
        out["recovered"][m] = back
        balance -= back
    out["forgiven" if cb.at_year_end == "forgive" else "outstanding"] = balance + later
    return out


def _versioned_reference(scenario: Scenario, plan: str, rname: str, reps: list[dict],
                         measures: list[dict[str, list[float]]], quota: list[float],
                         version_quotas: dict[str, list[float]]) -> dict[str, list]:
    """Pay of a plan with versions (mid-year changes): each segment of the year on its version's terms, added up.

    A segment's measures are the year's with flows zero outside its months
    and scores there at the segment's mean; its quota is the version's annual
    quota times the segment's share of the year's expected revenue; base
    salary and target incentive are prorated by months in force.
    """
    role = scenario.roles[rname]
    kinds = role.measure_kinds
    rp = scenario.role_plan(plan, rname)
    prof = expected_revenue_profile(role, scenario.market.growth_mean)
    firsts = [1] + [v.from_month for v in rp.versions]
    names = [plan] + [v.plan for v in rp.versions]
    R = len(reps)
    out: dict[str, Any] = dict(incentive=[0.0] * R, components={}, capped=[False] * R, recognition=[0.0] * R,
                               quota=[0.0] * R, base=[0.0] * R)
    for j, (first, name) in enumerate(zip(firsts, names, strict=True)):
        end = firsts[j + 1] if j + 1 < len(firsts) else MONTHS + 1
        inforce = [1.0 if first <= m + 1 < end else 0.0 for m in range(MONTHS)]
        seg_share = sum(prof[m] for m in range(MONTHS) if inforce[m]) / sum(prof)
        q = quota if name == plan else version_quotas[name]
        q_seg = [x * seg_share for x in q]
        seg_meas = []
        for r in range(R):
            mr = {}
            for k, x in measures[r].items():
                inside = [x[m] for m in range(MONTHS) if inforce[m]]
                fill = sum(inside) / len(inside) if kinds.get(k) == "score" else 0.0
                mr[k] = [x[m] if inforce[m] else fill for m in range(MONTHS)]
            seg_meas.append(mr)
        pr = reference_pay(scenario, name, rname, reps, seg_meas, q_seg, None, None, inforce)
        frac = (end - first) / MONTHS
        for r in range(R):
            out["incentive"][r] += pr["incentive"][r]
            out["capped"][r] = out["capped"][r] or pr["capped"][r]
            out["recognition"][r] += pr["recognition"][r]
            out["quota"][r] += q_seg[r]
            out["base"][r] += scenario.base_salary(name, rname) * frac
        for k, v in pr["components"].items():
            prev = out["components"].get(k, [0.0] * R)
            out["components"][k] = [a + b for a, b in zip(prev, v, strict=True)]
    out["revenue"] = [sum(measures[r]["revenue"]) for r in range(R)]
    out["attainment"] = [out["revenue"][r] / max(out["quota"][r], 1e-12) for r in range(R)]
    out.update(draw=None, spiff=None, calendar=None)
    return out


def _trued_up(months: list[float], incentive: float) -> list[float]:
    """Earnings by month, December settling gates and modifiers so that they add up to the year's incentive."""
    earned = list(months)
    earned[MONTHS - 1] += incentive - sum(months)
    return earned


def _payout_rep(payout: Payout, due: list[float]) -> dict[str, Any]:
    """One rep's payout calendar: month by month, pay less the holdback lands ``lag_months`` later.

    What would land after December is payable next year; the held-back
    shares are paid together in December or next January.
    """
    cash = [0.0] * MONTHS
    next_year = 0.0
    held = 0.0
    for m, amount in enumerate(due):
        held += payout.holdback * amount
        paid = amount - payout.holdback * amount
        if m + payout.lag_months < MONTHS:
            cash[m + payout.lag_months] += paid
        else:
            next_year += paid
    if payout.holdback_paid == "year_end":
        cash[MONTHS - 1] += held
    else:
        next_year += held
    return dict(accrual=list(due), cash=cash, next_year=next_year)


def _spiff_reference(sp: Spiff, measures: list[dict[str, list[float]]]) -> list[float]:
    """Each rep's pay from one SPIFF: rate per unit booked in months from..to, if at least min_units; within budget."""
    pay = []
    for m in measures:
        units = sum(m[sp.measure][sp.start - 1 : sp.end])
        pay.append(sp.rate * units if units >= sp.min_units else 0.0)
    total = sum(pay)
    if sp.budget is not None and total > sp.budget:
        pay = [p * sp.budget / total for p in pay]
    return pay


def _draw_rep(draw: Draw, months: list[float], incentive: float, new_hire: bool) -> dict[str, Any]:
    """One rep's draw: earnings by month (December settles gates and modifiers), cash by month, balance left.

    Draw period by draw period: the draw is ``amount`` while it runs (to
    new hires only when so restricted), else nothing. A guarantee pays the
    larger of earnings and the draw. An advance pays the draw when earnings
    fall short and adds the shortfall to the balance; above the draw it
    pays earnings less what it recovers, at most the balance.
    """
    earned = _trued_up(months, incentive)
    size = 3 if draw.period == "quarter" else 1
    cash = [0.0] * MONTHS
    balance = 0.0
    touched = False  # the draw changed some period's pay (else the rep is paid the year's pay as earned)
    for start in range(0, MONTHS, size):
        e = sum(earned[start : start + size])
        A = draw.amount if start < draw.months and (new_hire or not draw.new_hires_only) else 0.0
        if not draw.recoverable:
            paid = max(e, A) if A > 0 else e
        elif A > 0 and e < A:
            paid = A
            balance += A - e
        else:
            back = min(balance, max(e - A, 0.0))
            paid = e - back
            balance -= back
        cash[start + size - 1] = paid
        touched = touched or paid != e
    carry = draw.recoverable and draw.at_year_end == "carry"
    return dict(earned=earned, cash=cash, forgiven=0.0 if carry else balance, outstanding=balance if carry else 0.0,
                touched=touched)


def _cancel(role: Role, reps: list[dict], measures: list[dict[str, list[float]]], d: dict) -> None:
    """Each rep's cancelled revenue and cancellation delay by booking month (put in the rep's dict).

    Of a month's ``n`` deals, ``k`` cancel, the Binomial(n, cancel_rate)
    quantile at the draw ``cancel``, with ``k / n`` of the month's revenue;
    they cancel ``1 + floor(u W)`` months later (``u`` the draw ``cancel_when``).
    """
    p = role.process_params()
    deals = {"telesales": "conversions", "key_account": "deals", "generic": "units"}[role.process]
    W = p.cancel_window
    for r, rep in enumerate(reps):
        cancelled, delay = [], []
        for m in range(MONTHS):
            n = measures[r][deals][m]
            k = _binomial_quantile(d["cancel"][r][m], n, p.cancel_rate, int(n)) if p.cancel_rate > 0 else 0.0
            cancelled.append(measures[r]["revenue"][m] * (k / n) if n > 0 else 0.0)
            delay.append(1 + min(int(math.floor(d["cancel_when"][r][m] * W)), W - 1))
        rep["cancelled"], rep["cancel_delay"] = cancelled, delay


# ---------------------------------------------------------------------------
# Whole trials
# ---------------------------------------------------------------------------


def reference_trial(scenario: Scenario, plans: Sequence[str], root: np.random.SeedSequence, trial: int) -> dict[str, Any]:
    """Everything about one trial, rep by rep.

    Returns
    -------
    dict
        ``market`` (12 monthly multipliers), ``roles`` (role -> ``reps``, the
        rep attributes, and ``measures``, per rep a dict measure -> 12 monthly
        values) and ``pay`` (plan -> role -> the dict of :func:`reference_pay`).
    """
    dr = _draws_of_trial(scenario, root, trial)
    market = _market(scenario, dr)
    fx = {rname: _fx_rate(scenario, rname, dr) for rname in scenario.roles}
    roles: dict[str, Any] = {}
    for rname, role in scenario.roles.items():
        d = {k.split(".", 1)[1]: v for k, v in dr.items() if k.startswith(rname + ".")}
        reps = _reps(role, d)
        demand = [role.season[m] * market[m] for m in range(MONTHS)]
        produce = _PRODUCERS[role.process]
        measures = [produce(role, rep, r, d, demand) for r, rep in enumerate(reps)]
        for r, rep in enumerate(reps if role.credited_on is None else ()):  # a credited role's roll up
            _produce_named(role, rep, r, d, demand, measures[r])
        if "cancel" in d:
            _cancel(role, reps, measures, d)
        roles[rname] = dict(reps=reps, measures=measures, draws=d)
    pay: dict[str, dict[str, Any]] = {}
    credited = any(r.credited_on is not None or r.split is not None for r in scenario.roles.values())
    for plan in plans:
        if credited:
            pay[plan] = reference_credited_pay(scenario, plan, roles, market)
            continue
        pay[plan] = {}
        for rname, info in roles.items():
            quota = _quotas(scenario, plan, rname, info["reps"], info["draws"])
            measures = info["measures"]
            rp = scenario.role_plan(plan, rname)
            if any(p.kind == "training" for p in rp.programmes) or rp.projects is not None:  # quotas are set before
                role, d = scenario.roles[rname], info["draws"]
                demand = [role.season[m] * market[m] for m in range(MONTHS)]
                produce = _PRODUCERS[role.process]
                measures = [produce(role, rep, r, d, demand) for r, rep in enumerate(_with_training(rp, info["reps"]))]
                info.setdefault("trained_measures", {})[plan] = measures
            vq = {v.plan: _quotas(scenario, v.plan, rname, info["reps"], info["draws"]) for v in rp.versions}
            pay[plan][rname] = reference_pay(scenario, plan, rname, info["reps"], measures, quota, market, vq)
    return dict(market=market, roles=roles, pay=pay, fx=fx)


def _fx_rate(scenario: Scenario, rname: str, dr: dict[str, Any]) -> float:
    """Reporting currency per unit of a role's currency in the trial: the ``fx`` rate times a mean-one
    lognormal of log sd ``fx_sd`` whose normal is the inverse CDF of the currency's uniform draw (1 in the
    reporting currency)."""
    cur = scenario.roles[rname].currency
    if cur is None or cur == scenario.currency:
        return 1.0
    sd = scenario.fx_sd.get(cur, 0.0)
    if sd <= 0:
        return scenario.fx[cur]
    z = NormalDist().inv_cdf(dr[f"fx.{cur}"][0])
    return scenario.fx[cur] * math.exp(sd * z - 0.5 * sd * sd)


# ---------------------------------------------------------------------------
# Crediting: splits, overlays, managers (docs/model.md section 3, crediting)
# ---------------------------------------------------------------------------


def reference_credited_pay(scenario: Scenario, plan: str, roles: dict[str, Any], market: list[float]) -> dict[str, Any]:
    """Pay of every role under one plan in a scenario with crediting, rep by rep.

    A front-line role is paid on its reps' measures with revenue split as its
    ``split`` says; a credited role on the sums (times ``share``; scores:
    means) of the credited measures of the reps it covers, against the sum of
    their quotas times ``share`` and its plan's quota level. Each result has
    ``booked``: the revenue each rep booked (0 for overlays and managers).
    """
    out: dict[str, Any] = {}
    credited: dict[str, tuple[list, list]] = {}  # role -> (credited measures per rep, quota per rep)
    while len(out) < len(roles):
        for rname, info in roles.items():
            role = scenario.roles[rname]
            co = role.credited_on
            if rname in out or (co is not None and co.role not in out):
                continue
            if co is None:
                quota = _quotas(scenario, plan, rname, info["reps"], info["draws"])
                measures = _split_reference(role, info["reps"], info["measures"])
                booked = [sum(m["revenue"]) for m in info["measures"]]
            else:
                cov_measures, cov_quota = credited[co.role]
                cov_reps = roles[co.role]["reps"]
                groups = _covered_groups(role, cov_reps)
                kinds = role.measure_kinds  # the process's and the named measures it takes from its front-line role
                measures = [_credited_rep(kinds, co.share, [cov_measures[i] for i in g]) for g in groups]
                level = scenario.role_plan(plan, rname).quota.level
                quota = [level * co.share * sum(cov_quota[i] for i in g) for g in groups]
                booked = [0.0] * role.headcount
            credited[rname] = (measures, quota)
            vq = _credited_version_quotas(scenario, plan, rname, quota) if co is not None else \
                {v.plan: _quotas(scenario, v.plan, rname, info["reps"], info["draws"])
                 for v in scenario.role_plan(plan, rname).versions}
            out[rname] = reference_pay(scenario, plan, rname, info["reps"], measures, quota, market, vq)
            out[rname]["booked"] = booked
            out[rname]["credited"] = [sum(m["revenue"]) for m in measures]
    return out


def _credited_version_quotas(scenario: Scenario, plan: str, rname: str, quota: list[float]) -> dict[str, list[float]]:
    """A credited role's annual quota under each of its versions: the plan's, at the version's quota level."""
    own = scenario.role_plan(plan, rname).quota.level
    out = {}
    for v in scenario.role_plan(plan, rname).versions:
        ratio = scenario.role_plan(v.plan, rname).quota.level / own if own > 0 else 1.0
        out[v.plan] = [q * ratio for q in quota]
    return out


def _split_reference(role: Role, reps: list[dict], measures: list[dict[str, list[float]]]) -> list[dict]:
    """Each rep's measures with revenue credited under the role's split: ``1 - share + share x booker`` of
    their own, plus ``share x partner`` of the teammate's before them in the team (the last one's for the first)."""
    sp = role.split
    if sp is None:
        return measures
    teams: dict[int, list[int]] = {}
    for r, rep in enumerate(reps):
        teams.setdefault(rep["team"], []).append(r)
    out = []
    for r, m in enumerate(measures):
        members = teams[reps[r]["team"]]
        giver = members[members.index(r) - 1]
        rev = [m["revenue"][k] * (1.0 - sp.share + sp.share * sp.booker)
               + sp.share * sp.partner * measures[giver]["revenue"][k] for k in range(MONTHS)]
        out.append({**m, "revenue": rev})
    return out


def _covered_groups(role: Role, cov_reps: list[dict]) -> list[list[int]]:
    """The covered reps of each credited rep: an overlay's block (rep i of H to i n // H), a manager's team."""
    n, H = role.headcount, len(cov_reps)
    groups: list[list[int]] = [[] for _ in range(n)]
    for i, rep in enumerate(cov_reps):
        j = i * n // H if role.credited_on.kind == "overlay" else rep["team"]
        if j >= n:
            raise PlanError(f"rep {i} of the covered role is in team {j}, but there are only {n} managers")
        groups[j].append(i)
    return groups


def _credited_rep(kinds: dict[str, str], share: float, covered: list[dict[str, list[float]]]) -> dict[str, list[float]]:
    """One credited rep's 12 months of each measure: flows summed times ``share``, scores averaged."""
    out = {}
    for k, kind in kinds.items():
        sums = [sum(c[k][m] for c in covered) for m in range(MONTHS)]
        out[k] = [share * v for v in sums] if kind == "flow" else [v / len(covered) for v in sums]
    return out


def _group_metrics(revenue, margin, incentive, base, attainment, capped, recognition) -> dict[str, float]:
    R = len(revenue)
    gp = sum(revenue[r] * margin[r] for r in range(R))
    inc = sum(incentive)
    bc = sum(base)
    return dict(
        revenue=sum(revenue),
        gross_profit=gp,
        incentive_cost=inc,
        base_cost=bc,
        total_comp=bc + inc,
        profit=gp - (bc + inc),
        share_at_quota=sum(1 for a in attainment if a >= 1.0) / R,
        share_capped=sum(1 for c in capped if c) / R,
        recognition_value=sum(recognition),
    )


def simulate_reference(
    scenario: Scenario,
    plans: Sequence[str] | None = None,
    *,
    trials: int = 10,
    rng: int | np.random.SeedSequence | np.random.Generator | None = 0,
) -> dict[str, Any]:
    """Simulate plans with behaviour off, rep by rep in plain Python (slow).

    The same numbers as :func:`simlib.simulate` with ``behaviour='none'`` and
    the same ``rng``, up to floating-point rounding: both take trial ``t``'s
    random numbers from :func:`simlib.model.population.draw_chunk`.

    Parameters
    ----------
    scenario : Scenario
        A validated scenario.
    plans : list of str, optional
        Plans to simulate (default: all plans of the scenario).
    trials : int
        Number of trials (years of the organisation), trials ``0..trials-1``.
    rng : int, SeedSequence, Generator or None
        The randomness argument, as in :func:`simlib.simulate`.

    Returns
    -------
    dict
        ``{"plans": [...], "groups": [roles..., "total"], "trials": n,
        "metrics": {plan: {group: {metric: list of n per-trial floats}}}}``
        with metrics :data:`REFERENCE_METRICS`: revenue, gross_profit,
        incentive_cost, base_cost, total_comp, profit (money per year),
        share_at_quota, share_capped (fraction of reps) and recognition_value
        (money-equivalent per year); with programmes in some plan also
        :data:`PROGRAMME_REFERENCE_METRICS`.
    """
    plans = list(scenario.plans) if plans is None else list(plans)
    unknown = [p for p in plans if p not in scenario.plans]
    if unknown:
        raise PlanError(f"unknown plan(s) {unknown}; the scenario has {sorted(scenario.plans)}")
    root = root_seed(rng)
    groups = [*scenario.roles, TOTAL]
    programmes = any(rp.programmes for p in plans for rp in scenario.plans[p].roles.values())
    names = REFERENCE_METRICS + (PROGRAMME_REFERENCE_METRICS if programmes else ())
    out = {p: {g: {m: [] for m in names} for g in groups} for p in plans}
    for t in range(int(trials)):
        tr = reference_trial(scenario, plans, root, t)
        for plan in plans:
            pooled: dict[str, list] = {k: [] for k in ("rev", "margin", "inc", "base", "att", "cap", "rec")}
            for rname, role in scenario.roles.items():
                pr = tr["pay"][plan][rname]
                R = role.headcount
                fx = tr["fx"][rname]  # money to the reporting currency
                base = pr.get("base", [scenario.base_salary(plan, rname)] * R)
                parts = ([x * fx for x in pr.get("booked", pr["revenue"])], [role.gross_margin] * R, [x * fx for x in pr["incentive"]],
                         [x * fx for x in base], pr["attainment"], pr["capped"], [x * fx for x in pr["recognition"]])
                for k, v in zip(pooled, parts, strict=False):
                    pooled[k].extend(v)
                for m, v in _group_metrics(*parts).items():
                    out[plan][rname][m].append(v)
            for m, v in _group_metrics(*pooled.values()).items():
                out[plan][TOTAL][m].append(v)
            if programmes:
                _programme_metrics(scenario, plan, tr["pay"][plan], out[plan], tr["fx"])
    return {"plans": plans, "groups": groups, "trials": int(trials), "metrics": out}


def _programme_metrics(scenario: Scenario, plan: str, pay: dict[str, Any], out: dict[str, dict[str, list]],
                       fx: dict[str, float]) -> None:
    """Append one trial's :data:`PROGRAMME_REFERENCE_METRICS` of each role and the total to ``out`` (group -> metric);
    cost and value are money, converted to the reporting currency at the role's rate ``fx``."""
    total = dict.fromkeys(PROGRAMME_REFERENCE_METRICS, 0.0)
    for rname, role in scenario.roles.items():
        pg = pay[rname]["programmes"] or {}
        sums = {f"programme_{k}": sum(pg.get(k, [0.0] * role.headcount)) * (fx[rname] if k in ("cost", "value") else 1.0)
                for k in ("cost", "value", "winners", "trained")}
        for m, v in sums.items():
            out[rname][m].append(v)
            total[m] += v
    for m, v in total.items():
        out[TOTAL][m].append(v)
