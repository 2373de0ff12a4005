"""Attrition and backfill: who leaves a seat, when, and who fills it (docs/model.md, section 4.12).

Each month a rep present in a seat leaves with probability ``1 - exp(-lambda)``,
a discrete-time proportional hazard::

    log lambda = log lambda0 + b_pay log(O_i / P) + b_att (1 - a_ytd)+ + b_cap top capped
    O_i = o x OTE x (1 + top_premium top)

``lambda0 = -log(1 - annual_rate) / 12`` (so ``annual_rate`` of reps paid the
outside option at quota leave within a year), ``P`` the rep's pay of the year
(base + incentive) under the plan, ``OTE`` today's on-target pay of the role
(:func:`on_target_pay`: current plan, base + target incentive, or base + today's
mean incentive where the plan pays nothing by its target incentive; where nothing at all is paid,
:func:`simlib.model.money.rep_pay_scale`), ``a_ytd`` the attainment of the
months before (revenue to date over the quota to date), ``top`` the
top quartile of the role's annual attainment in the trial and ``capped``
whether any of the rep's pay components hit its cap. The calibration
(:func:`simlib.fit.attrition.fit_attrition`) fits the same hazard through
:func:`design` and :func:`params_from_coef`.

A seat is a rep's place (territory, team); its occupant starts in absolute
month ``start`` (month 0 is the first month of the run; negative: hired
before), ramps linearly over ``ramp_months`` like the scenario's new hires
and, after leaving at the end of a month, is replaced ``lag_months`` later by
a new hire. Everything here is NumPy on arrays of a chunk of trials.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from simlib.model.money import rep_pay_scale
from simlib.scenario import MONTHS, WEIGHTED_KINDS, Attrition, Scenario

#: names of the hazard's coefficients, in the order of :func:`design`'s columns
COEFFICIENTS = ("log_base", "pay_elasticity", "attainment_effect", "top_shift", "cap_effect")


def base_monthly(annual_rate: float) -> float:
    """Monthly hazard ``lambda0`` that makes ``annual_rate`` leave within twelve months."""
    return -np.log1p(-annual_rate) / MONTHS


def design(pay_ratio: np.ndarray, shortfall: np.ndarray, top: np.ndarray, capped: np.ndarray) -> np.ndarray:
    """Covariates (..., 5) of the log hazard: 1, log(OTE o / P), shortfall, top, top x capped.

    ``pay_ratio`` is ``P / (o OTE)``; all arguments broadcast together.
    """
    shape = np.broadcast_shapes(np.shape(pay_ratio), np.shape(shortfall), np.shape(top), np.shape(capped))
    x = np.empty((*shape, len(COEFFICIENTS)))
    x[..., 0] = 1.0
    x[..., 1] = -np.log(np.maximum(pay_ratio, 1e-6))
    x[..., 2] = shortfall
    x[..., 3] = top
    x[..., 4] = np.logical_and(top, capped)
    return x


def pays_by_target_incentive(scenario: Scenario, plan: str, role: str) -> bool:
    """Whether a role plan (or a version of it) pays anything as a share of ``target_incentive``.

    Curves and scorecards of positive weight do; commissions, per-unit pay,
    lump sums and the other money elements do not, and for them the target
    incentive is a label.
    """
    rp = scenario.role_plan(plan, role)
    plans = [rp] + [scenario.role_plan(v.plan, role) for v in rp.versions]
    return any(c.kind in WEIGHTED_KINDS and c.weight > 0 for p in plans for c in p.components) or any(
        sc.weight > 0 for p in plans for sc in p.scorecards)


def on_target_pay(scenario: Scenario, role: str, incentive_today: Callable[[], float],
                  revenue_today: Callable[[], float]) -> float:
    """Today's on-target pay (OTE) of a role, money per year: the money scale of the hazard and of hiring.

    Base salary plus target incentive under the current plan where that plan
    pays in proportion to its target incentive; else (commissions, per-unit
    pay, lump sums: the target incentive is a label, or 0) base salary plus
    ``incentive_today()``, the role's mean incentive at today's effort. Where
    nothing at all is paid today, the behaviour model's money scale
    (:func:`simlib.model.money.rep_pay_scale`): a fifth of ``revenue_today()``,
    a rep's mean revenue in a year at today's effort, so that the hazard and
    hiring cost do not depend on the unit of money.
    """
    cur = scenario.current_plan
    base, ti = scenario.base_salary(cur, role), scenario.target_incentive(cur, role)
    if ti > 0 and pays_by_target_incentive(scenario, cur, role):
        return base + ti
    ote = base + max(0.0, float(incentive_today()))
    return ote if ote > 0 else rep_pay_scale(revenue=float(revenue_today()))


def coef_of(a: Attrition) -> np.ndarray:
    """The hazard's coefficients (5,) from the scenario's attrition parameters."""
    return np.array([np.log(base_monthly(a.annual_rate)), a.pay_elasticity, a.attainment_effect,
                     a.pay_elasticity * np.log1p(a.top_premium), a.cap_effect])


def params_from_coef(coef: np.ndarray) -> dict[str, float]:
    """Attrition parameters from fitted coefficients (the inverse of :func:`coef_of`).

    ``top_premium`` needs a positive pay elasticity; with none it is NaN.
    """
    b0, bp, ba, bt, bc = (float(c) for c in coef)
    premium = float(np.expm1(bt / bp)) if bp > 1e-9 else float("nan")
    return {"annual_rate": float(-np.expm1(-MONTHS * np.exp(b0))), "pay_elasticity": bp,
            "attainment_effect": ba, "top_premium": premium, "cap_effect": bc}


def monthly_probability(coef: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Probability of leaving in a month, ``1 - exp(-exp(x @ coef))``."""
    return -np.expm1(-np.exp(np.minimum(x @ coef, 30.0)))


def ytd_shortfall(revenue: np.ndarray, quota: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(T, R, 12) shortfall below quota to date at the start of each month, ``(1 - a_ytd)+``.

    ``revenue`` (T, R, 12) monthly; ``quota`` (T, R) annual, spread over the
    months in proportion to ``weight`` (T, R, 12) (seasonality x ramp). Month
    1 has no months before: shortfall 0.
    """
    w = weight / np.maximum(weight.sum(axis=-1, keepdims=True), 1e-12)
    q_cum = np.cumsum(quota[..., None] * w, axis=-1)
    r_cum = np.cumsum(revenue, axis=-1)
    out = np.zeros_like(revenue, dtype=float)
    ok = q_cum[..., :-1] > 0
    att = np.divide(r_cum[..., :-1], q_cum[..., :-1], out=np.ones_like(q_cum[..., :-1]), where=ok)
    out[..., 1:] = np.maximum(1.0 - att, 0.0)
    return out


def top_quartile(attainment: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(T, R) bool: at or above the 75th percentile of annual attainment among the trial's present reps."""
    a = np.where(present, attainment, np.nan)
    if not present.any():
        return np.zeros_like(present)
    cut = np.nanpercentile(np.where(present.any(axis=1, keepdims=True), a, 0.0), 75, axis=1, keepdims=True)
    return present & (attainment >= cut)


def leave_month(u: np.ndarray, prob: np.ndarray, at_risk: np.ndarray) -> np.ndarray:
    """(T, R) month (0-11) at whose end the occupant leaves, -1 for none: the first month with ``u < prob``."""
    hit = at_risk & (u < prob)
    first = hit.argmax(axis=-1)
    return np.where(hit.any(axis=-1), first, -1)


def ramp_of(start: np.ndarray, year: int, ramp_months: int) -> np.ndarray:
    """(T, R, 12) productivity of each seat's occupant in year ``year`` (0-based): 0 before ``start``,
    then rising linearly to 1 over ``ramp_months`` (month ``k`` of tenure: ``min(1, (k + 1) / ramp_months)``)."""
    tenure = (MONTHS * year + np.arange(MONTHS)) - start[..., None]
    return np.where(tenure < 0, 0.0, np.minimum(1.0, (tenure + 1.0) / ramp_months))


def initial_start(new_hire: np.ndarray, u: np.ndarray, ramp_months: int, annual_rate: float) -> np.ndarray:
    """(T, R) start month of the first year's reps: new hires start in month 0; the others have been
    there past their ramp plus an exponential time (mean ``1 / annual_rate`` years, at least 5% a year)."""
    mean_months = MONTHS / max(annual_rate, 0.05)
    extra = np.floor(-np.log1p(-u) * mean_months)
    return np.where(new_hire, 0, -(ramp_months + extra)).astype(np.int64)
