"""Applying a plan: quota setting and payout (docs/model.md section 3).

All functions are vectorised over (trials, reps[, periods]) and depend only
on NumPy; they take the plan as validated data from :mod:`simlib.scenario`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from simlib.memo import by_identity
from simlib.model import compiled
from simlib.model.paycurves import (
    COMPILED_FROM,
    compile_component,
    compile_modifier,
    compile_scale,
    evaluate,
    schedule_segments,
)
from simlib.model.population import RoleWorld, lognormal_mean_one, sum_months
from simlib.model.production import Cancellations, cancellations, expected_monthly_revenue
from simlib.model.programmes import ProgrammeResult, programme_pay
from simlib.model.projects import ProjectResult, project_pay
from simlib.scenario import (
    MONTHS,
    PERIODS,
    Clawback,
    Component,
    Draw,
    Payout,
    RolePlan,
    Scenario,
    Scorecard,
    Spiff,
)


def revenue_profile(scenario: Scenario, role: str) -> np.ndarray:
    """Expected revenue per month (12,) of an average ramped rep at today's effort (read-only)."""
    return _revenue_profile(scenario.roles[role], scenario.market.growth_mean)


@by_identity()
def _revenue_profile(role, growth: float) -> np.ndarray:
    out = expected_monthly_revenue(role, growth)
    out.flags.writeable = False
    return out


def expected_quota(scenario: Scenario, plan: str, role: str) -> float:
    """Annual quota of an average ramped rep under ``plan`` (no noise, territory 1).

    ``level`` x expected annual revenue at today's effort; ``top_down`` with a
    ``company_target``: the company number per head; ``last_year``: grown by
    ``growth`` as in :func:`set_quotas`.
    """
    q = scenario.role_plan(plan, role).quota
    E = float(revenue_profile(scenario, role).sum())
    if q.method == "top_down" and q.company_target:
        return q.level * q.company_target / scenario.roles[role].headcount
    if q.method == "last_year":
        return q.level * (1.0 + q.growth) * E / (1.0 + scenario.market.growth_mean)
    return q.level * E


def set_quotas(scenario: Scenario, plan: str, world: RoleWorld) -> np.ndarray:
    """Annual revenue quota per rep, shape (T, R).

    ``flat``: level x E, the same for all; ``territory``: level x E x p_hat,
    where p_hat is the manager's noisy view of territory potential
    (lognormal error, sd ``noise``); ``last_year``: level x (1 + growth) x last
    year's sales (new hires: as ``territory``); ``top_down``: the company
    number (``company_target``, or level x E x headcount) split in proportion
    to p_hat. New hires' quotas are scaled by their mean ramp over the year.
    """
    rp = scenario.role_plan(plan, world.name)
    q = rp.quota
    E = float(revenue_profile(scenario, world.name).sum())
    d = world.draws
    p_hat = world.territory * lognormal_mean_one(q.noise, d["quota_noise"])
    ramp = world.ramp_mean
    if q.method == "flat":
        quota = q.level * E * np.ones_like(p_hat) * ramp
    elif q.method == "territory":
        quota = q.level * E * p_hat * ramp
    elif q.method == "last_year":
        g = scenario.market.growth_mean
        ly = E / (1.0 + g) * world.ability * world.territory * lognormal_mean_one(world.role.last_year_sd, d["last_year"])
        quota = np.where(world.new_hire, q.level * E * p_hat * ramp, q.level * (1.0 + q.growth) * ly)
    else:
        company = q.level * (q.company_target if q.company_target else E * world.role.headcount)
        weight = p_hat * ramp
        quota = company * weight / weight.sum(axis=1, keepdims=True)
    if world.quota is not None:  # a roster's quotas are the current plan's: scaled by this plan's level over it
        cur = scenario.role_plan(scenario.current_plan, world.name).quota.level
        given = world.quota * (q.level / cur if cur > 0 else 1.0)
        quota = np.where(np.isnan(given), quota, given)
    return quota


@dataclass(frozen=True)
class Structure:
    """Pay period structure of a role plan's primary revenue pay.

    Attributes
    ----------
    period : str
        Assessment period of the primary revenue component.
    ytd : bool
        Year-to-date true-up (then attainment accumulates over the year).
    names : tuple of str
        Revenue components with that same period structure.
    ends : tuple of int
        Last month (0-11) of each pay period.
    """

    period: str
    ytd: bool
    names: tuple[str, ...]
    ends: tuple[int, ...]


def _revenue_sizes(rp: RolePlan, target_incentive: float, quota: float | None) -> list[tuple[Any, float]]:
    """Each revenue component and revenue scorecard of a role plan with its size at 100% of target
    (:func:`primary_structure` says how sizes are compared)."""
    out = []
    for c in rp.components:
        if c.measure != "revenue":
            continue
        v = float(evaluate(compile_component(c), np.array([1.0]))[0][0])
        if c.kind == "curve":
            s = c.weight * v * (target_incentive if quota is not None else 1.0)
        elif c.kind == "lump_sum":
            s = v if quota is not None else v / max(target_incentive, 1e-9)
        elif quota is not None:
            s = v * quota
        else:
            s = 12.0 * v
        out.append((c, s))
    for sc in revenue_scorecards(rp):  # paid at weight x TI x coefficient, as a curve
        out.append((sc, sc.weight * scorecard_at_target(sc) * (target_incentive if quota is not None else 1.0)))
    return out


def primary_structure(rp: RolePlan, target_incentive: float = 1.0, quota: float | None = None) -> Structure:
    """The period structure of the largest revenue component (by its payout at 100% of target).

    Sizes are compared in target incentives (TI) at 100%: a curve by
    ``weight`` x its multiple, a commission by its value at 100% times a quota
    of 12 TI (quota about 5x on-target earnings at a 70/30 mix), a lump sum by
    its total / TI, per-unit revenue pay by its rate times 12 TI. Without
    revenue components the structure is annual. Given ``quota`` (the mean
    annual revenue quota, money), sizes are compared in money instead: a
    commission and per-unit revenue pay on that quota, a curve at
    ``weight x TI``, a lump sum at its total, so that the choice does not
    depend on the TI of a plan that pays no curve.
    """
    best, size = None, -1.0
    for item, s in _revenue_sizes(rp, target_incentive, quota):
        if s > size:
            best, size = item, s
    if best is None:
        return Structure("year", False, (), (MONTHS - 1,))
    return _structure_of(rp, best.period, bool(getattr(best, "ytd_true_up", False)))


def _structure_of(rp: RolePlan, period: str, ytd: bool) -> Structure:
    """The structure of a role plan's revenue pay assessed over ``period`` (with or without a year-to-date true-up):
    the components (and, without a true-up, the scorecards) of that period, and its periods' last months."""
    names = tuple(c.name for c in rp.components if c.measure == "revenue" and c.period == period and c.ytd_true_up == ytd)
    if not ytd:
        names += tuple(sc.name for sc in revenue_scorecards(rp) if sc.period == period)
    n = PERIODS[period]
    ends = tuple(range(MONTHS // n - 1, MONTHS, MONTHS // n))
    return Structure(period, bool(ytd and n > 1), names, ends)


def _annual(item) -> bool:
    """Whether a revenue component or scorecard is assessed on the year (an annual period or a year-to-date
    true-up: total pay then follows the year's attainment)."""
    return item.period == "year" or bool(getattr(item, "ytd_true_up", False))


def period_structures(rp: RolePlan, target_incentive: float = 1.0,
                      quota: float | None = None) -> tuple[Structure, Structure | None]:
    """The revenue pay's period structures the behaviour model tracks: ``(inner, outer)``.

    A plan that pays revenue both on the year (an annual component or
    scorecard, or a year-to-date true-up) and on shorter periods (a quarterly
    bonus beside an annual one, as most sales plans do) has two: the inner
    one is the largest of the shorter periods' structures (sizes as
    :func:`primary_structure` compares them), the outer one the year's,
    holding every annual revenue component and scorecard. Otherwise the
    inner one is :func:`primary_structure` and there is no outer one.
    Revenue pay over a third period (a monthly one beside quarterly and
    annual ones) stays outside both (docs/model.md section 4.1).
    """
    sizes = _revenue_sizes(rp, target_incentive, quota)
    annual = [it for it, _ in sizes if _annual(it)]
    short = [(it, s) for it, s in sizes if not _annual(it)]
    if not annual or not short:
        return primary_structure(rp, target_incentive, quota), None
    best = max(short, key=lambda t: t[1])[0]  # the first of the largest, as primary_structure
    inner = _structure_of(rp, best.period, False)
    names = tuple(it.name for it in annual)
    outer = Structure("year", False, names, (MONTHS - 1,))
    return inner, outer


def revenue_scorecards(rp: RolePlan) -> list[Scorecard]:
    """The role plan's scorecards that score revenue (so their pay depends on the revenue state)."""
    return [sc for sc in rp.scorecards if any(sm.measure == "revenue" for sm in sc.measures)]


def scorecard_at_target(sc: Scorecard) -> float:
    """A scorecard's payout coefficient when every measure is exactly at target (attainment 1)."""
    scores = {sm.measure: measure_score(sm, np.array([1.0])) for sm in sc.measures}
    return float(scorecard_coefficient(sc, composite_score(sc, scores))[0][0])


def aggregate(x: np.ndarray, period: str, kind: str) -> np.ndarray:
    """Monthly (..., 12) to per-period (..., P): flows summed, scores averaged."""
    n = PERIODS[period]
    m = MONTHS // n
    if 1 < m < 8 and x.shape[-1] == MONTHS and x.size >= COMPILED_FROM and x.dtype == np.float64 \
            and compiled.enabled():  # the same adds in turn, in one pass over the months
        s = np.empty((*x.shape[:-1], n))
        compiled.period_sums(np.ascontiguousarray(x).reshape(-1, MONTHS), m, s.reshape(-1, n))
        return s if kind == "flow" else s / m
    y = x.reshape(*x.shape[:-1], n, m)
    # months added as NumPy's sum adds them (tests/test_fast_paths.py), without its per-row overhead
    s = sum_periods(y)
    return s if kind == "flow" else s / m


def sum_periods(x: np.ndarray) -> np.ndarray:
    """``x.sum(axis=-1)`` bit for bit for a short last axis (NumPy adds fewer than 8 terms in order)."""
    n = x.shape[-1]
    if n == 1:
        return x[..., 0].copy()
    if n >= 8:
        return month_sum(x)  # NumPy's own sum unless 12 months
    s = x[..., 0] + x[..., 1]
    for i in range(2, n):
        s += x[..., i]
    return s


def any_period(x: np.ndarray) -> np.ndarray:
    """``x.any(axis=-1)`` for a boolean array with a short last axis."""
    s = x[..., 0].copy()
    for i in range(1, x.shape[-1]):
        s |= x[..., i]
    return s


def year_sum(measures, name: str, memo: dict | None = None) -> np.ndarray:
    """A measure summed over the year's months, (T, R, 12) -> (T, R); kept in ``memo`` when given.

    The same numbers as ``aggregate(x, "year", "flow")[..., 0]`` (one sum over the month axis).
    """
    key = ("year_sum", name)
    if memo is not None and key in memo:
        return memo[key]
    s = month_sum(measures[name])
    if memo is not None:
        memo[key] = s
    return s


def month_sum(x: np.ndarray) -> np.ndarray:
    """:func:`simlib.model.population.sum_months`, by the compiled kernel when the compiled pass is on (same adds)."""
    if x.shape[-1] == MONTHS and x.ndim > 1 and x.size >= COMPILED_FROM and x.dtype == np.float64 \
            and compiled.enabled():
        out = np.empty(x.shape[:-1])
        # row by row (a strided array copied first: still fewer cycles than twelve strided slices)
        compiled.month_sums(np.ascontiguousarray(x).reshape(-1, MONTHS), out.reshape(-1))
        return out
    return sum_months(x)


def _cumulate(x: np.ndarray, kind: str) -> np.ndarray:
    c = running_sum(x)
    return c if kind == "flow" else c / np.arange(1, x.shape[-1] + 1)


def running_sum(x: np.ndarray) -> np.ndarray:
    """``np.cumsum(x, axis=-1)`` bit for bit for float64 ``x``, column by column (a new array).

    NumPy accumulates in turn, ``c[i] = c[i-1] + x[i]``; adding whole
    columns in that order avoids its per-row overhead on a short last axis
    (a year's periods). Other dtypes go to NumPy.
    """
    x = np.asarray(x)
    if x.dtype != np.float64 or x.ndim == 0:
        return np.cumsum(x, axis=-1)
    c = np.array(x, order="C")
    for i in range(1, c.shape[-1]):
        c[..., i] += c[..., i - 1]
    return c


def _team_sum(x: np.ndarray, world: RoleWorld) -> np.ndarray:
    """Sum over each team's members, broadcast back to members: (T, R, ...) -> (T, R, ...).

    Teams are ``world.team`` (indices 0..n-1); a team need not be one block of
    consecutive reps (a replayed history's teams are not), but when the
    indices never decrease the members are summed in place, rep by rep.
    """
    team = world.team
    order = None
    if np.any(team[1:] < team[:-1]):
        order = np.argsort(team, kind="stable")
        x, team = x[:, order], team[order]
    starts = np.flatnonzero(np.diff(team, prepend=-1))  # the first member of each team
    sums = np.add.reduceat(x, starts, axis=1)
    block = np.zeros(int(team[-1]) + 1, dtype=np.intp)
    block[team[starts]] = np.arange(len(starts))
    return sums[:, block[world.team]]


def _team_size(world: RoleWorld) -> np.ndarray:
    return np.bincount(world.team)[world.team].astype(float)


def top_k(score: np.ndarray, k: int) -> np.ndarray:
    """The k highest scores of each row, ties broken by the lower rep index: bool (T, R).

    The same reps as the first k of a stable descending sort, found with a
    partition (linear time) instead of a sort; with the compiled pass on, a
    row's k-th highest score in one pass over it (``compiled.top_k_rows``).
    """
    T, R = score.shape
    top = np.zeros((T, R), dtype=bool)
    if k <= 0:
        return top
    if k >= R:
        top[:] = True
        return top
    if score.dtype == np.float64 and compiled.enabled():  # the same reps in one pass a row (False: a NaN)
        if compiled.top_k_rows(np.ascontiguousarray(score), k, top):
            return top
        top[:] = False
    if np.isnan(score).any():  # NaN rows: keep the sort's exact order
        order = np.argsort(-score, axis=1, kind="stable")
        np.put_along_axis(top, order[:, :k], True, axis=1)
        return top
    kth = -np.partition(-score, k - 1, axis=1)[:, k - 1 : k]  # the k-th highest score of each row
    np.greater(score, kth, out=top)
    tie = score == kth
    need = k - top.sum(axis=1, keepdims=True)  # places left for reps on the k-th score, lowest index first
    top |= tie & (np.cumsum(tie, axis=1) <= need)
    return top


@dataclass
class PayResult:
    """Pay of one role under one plan for a chunk of trials (money per year unless noted).

    Attributes
    ----------
    incentive : (T, R) incentive paid in the year.
    base : (R,) or scalar base salary.
    target_incentive : scalar (R,) with a roster, money per year at 100%.
    attainment : (T, R) annual revenue / annual quota.
    quota : (T, R) annual revenue quota.
    capped : (T, R) bool, any component hit its cap in any period.
    recognition : (T, R) money-equivalent of non-money awards.
    components : name -> (T, R) money per year by component.
    draw : DrawResult or None
        With a ``draw`` in the role plan: earnings and cash by month, and the
        balance left at year end (``incentive`` is then the cash paid).
    spiff : (T, R) or None
        With ``spiffs`` in the role plan: their pay, money per year (in
        ``incentive`` and, by SPIFF, in ``components``).
    calendar : CalendarResult or None
        When some role plan of the scenario has a ``payout`` calendar: accrual
        and cash by month (cash = accrual for a plan without one).
    programmes : ProgrammeResult or None
        With ``programmes`` in the role plan: promotions, honours and training,
        their money-equivalent to the reps and cost to the company (outside ``incentive``).
    projects : ProjectResult or None
        With ``projects`` in the role plan: project results and pay (in ``incentive``).
    clawback : ClawbackResult or None
        When the role has a cancellation process: the revenue that cancelled
        and, under a ``clawback``, the pay taken back (``incentive`` is then
        the pay left after recoveries).
    """

    incentive: np.ndarray
    base: float | np.ndarray
    target_incentive: float | np.ndarray
    attainment: np.ndarray
    quota: np.ndarray
    capped: np.ndarray
    recognition: np.ndarray
    components: dict[str, np.ndarray] = field(default_factory=dict)
    draw: DrawResult | None = None
    spiff: np.ndarray | None = None
    calendar: CalendarResult | None = None
    programmes: ProgrammeResult | None = None
    projects: ProjectResult | None = None
    clawback: ClawbackResult | None = None


@dataclass
class ClawbackResult:
    """Cancelled deals and the pay clawed back on them (docs/model.md section 3, clawbacks).

    Attributes
    ----------
    cancelled : (T, R) revenue booked in the year whose deals later cancel, money.
    by_month : (T, R, 12) that revenue by the month it was booked.
    due : (T, R, 12) pay owed back, by the month it falls due (the deal's cancellation).
    recovered : (T, R, 12) pay recovered, by month (taken from that month's pay).
    forgiven : (T, R) balance written off at year end (owed and not recovered, due later included).
    outstanding : (T, R) balance carried into next year, still owed by reps.
    """

    cancelled: np.ndarray
    by_month: np.ndarray
    due: np.ndarray
    recovered: np.ndarray
    forgiven: np.ndarray
    outstanding: np.ndarray

    @property
    def unrecovered(self) -> np.ndarray:
        """(T, R) what was owed back on this year's cancellations and not recovered in the year."""
        return self.forgiven + self.outstanding


@dataclass
class CalendarResult:
    """The payout calendar of a chunk of trials (docs/model.md section 3, payout calendar).

    Attributes
    ----------
    accrual : (T, R, 12) incentive by performance month, summing to the year's ``incentive``.
    cash : (T, R, 12) incentive paid by calendar month in the year.
    next_year : (T, R) this year's incentive paid after December.
    """

    accrual: np.ndarray
    cash: np.ndarray
    next_year: np.ndarray


@dataclass
class DrawResult:
    """A draw applied to a chunk of trials (docs/model.md section 3, draws and guarantees).

    Attributes
    ----------
    earned : (T, R, 12) incentive earned by month (:func:`accrual_by_month`).
    cash : (T, R, 12) incentive paid by month under the draw.
    forgiven : (T, R) recoverable balance written off at year end.
    outstanding : (T, R) recoverable balance carried into next year (still owed).
    exit_forgiven, exit_recovered : (T, R)
        A leaver's recoverable balance when they leave (multi-year runs with
        attrition): written off, or taken from their last pay (``on_exit``).
    """

    earned: np.ndarray
    cash: np.ndarray
    forgiven: np.ndarray
    outstanding: np.ndarray
    exit_forgiven: np.ndarray | None = None
    exit_recovered: np.ndarray | None = None
    #: (T, R) reps whose pay the draw changed in some period (paid, recovered or settled on exit); the others are
    #: paid exactly what they earned, not the months summed again (rounding, docs/model.md 6.2)
    touched: np.ndarray | None = None

    @property
    def paid_over_earned(self) -> np.ndarray:
        """(T, R) cash paid in the year beyond what was earned: guarantee top-ups and unrecovered advances; exactly 0
        for a rep-year the draw never touched (its cash is what it earned: summing the draw periods' cash against the
        months earned would leave rounding, which does not scale with money, docs/model.md 6.2)."""
        over = sum_months(self.cash) - sum_months(self.earned)
        return over if self.touched is None else np.where(self.touched, over, 0.0)


def guarantee_floor(rp: RolePlan, st: Structure, end: int) -> float:
    """The least a rep is paid at the end of a pay period of the primary structure (last month ``end``), money.

    The floor reps see in a non-recoverable draw covering them all: the draw
    of the draw period holding ``end`` when that period is covered, scaled
    down by the pay period's length over the draw period's when the pay
    period is shorter (a quarterly draw over monthly pay). Draw periods
    inside a longer pay period pay the draw whatever the rep does, so they
    do not change incentives. 0 without such a draw: a recoverable draw's
    shortfall is paid back from later earnings, so within the year it leaves
    the pay of a sale unchanged, and a new hires' guarantee covers too few
    reps to set the role's programme (docs/model.md section 3, draws).
    """
    d = rp.draw
    if d is None or d.recoverable or d.new_hires_only:
        return 0.0
    size = MONTHS // PERIODS[d.period]
    if (end // size) * size >= d.months:
        return 0.0
    length = MONTHS if st.ytd else MONTHS // PERIODS[st.period]
    return d.amount * min(1.0, length / size)


def uses_draws(scenario: Scenario) -> bool:
    """Whether some role plan of the scenario has a draw (then results carry the draw metrics)."""
    return any(rp.draw is not None for plan in scenario.plans.values() for rp in plan.roles.values())


def uses_payout(scenario: Scenario) -> bool:
    """Whether some role plan of the scenario has a payout calendar (then results carry the calendar metrics)."""
    return any(rp.payout is not None for plan in scenario.plans.values() for rp in plan.roles.values())


def apply_payout(payout: Payout | None, accrual: np.ndarray) -> CalendarResult:
    """Cash by month under a payout calendar, from the incentive by performance month (T, R, 12).

    Month ``m``'s pay, less the ``holdback`` share, is paid in month ``m +
    lag_months``, or next year when that is past December. The held-back
    shares of all months are paid together in December (``year_end``) or
    next January (``next_year``). Without a calendar, cash is the accrual.
    """
    if payout is None:
        return CalendarResult(accrual=accrual, cash=accrual, next_year=np.zeros(accrual.shape[:-1]))
    lag, h = payout.lag_months, payout.holdback
    now = (1.0 - h) * accrual
    cash = np.zeros_like(accrual)
    cash[..., lag:] = now[..., : MONTHS - lag]
    next_year = now[..., MONTHS - lag :].sum(axis=-1)
    held = h * accrual.sum(axis=-1)
    if payout.holdback_paid == "year_end":
        cash[..., MONTHS - 1] += held
    else:
        next_year = next_year + held
    return CalendarResult(accrual=accrual, cash=cash, next_year=next_year)


def uses_cancellations(scenario: Scenario) -> bool:
    """Whether some role of the scenario has a cancellation process (then results carry the clawback metrics)."""
    return any(getattr(r.process_params(), "cancel_rate", None) is not None for r in scenario.roles.values())


def clawed_names(rp: RolePlan) -> list[str]:
    """The components and SPIFFs a role plan's clawback takes pay back from (all paid on revenue when unnamed)."""
    if rp.clawback is None:
        return []
    if rp.clawback.components is not None:
        return list(rp.clawback.components)
    return [c.name for c in [*rp.components, *rp.spiffs] if c.measure == "revenue"]


def clawback_kept(rp: RolePlan, role) -> float:
    """Expected share of clawed revenue pay a rep keeps: ``1 - cancel_rate x min(window, W) / W``.

    A deal cancels with probability ``cancel_rate``, each of the ``W``
    months after booking as likely; it is clawed back when it cancels within
    the clawback's ``window_months``. 1 without a clawback. The behaviour
    model discounts the pay of clawed components by it (docs/model.md
    section 3, clawbacks).
    """
    p = role.process_params()
    rate = getattr(p, "cancel_rate", None)
    if rp.clawback is None or rate is None:
        return 1.0
    W = p.cancel_window
    return 1.0 - rate * min(rp.clawback.window_months, W) / W


def clawback_due(cb: Clawback, cancelled: Cancellations, revenue: np.ndarray,
                 pays: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Pay owed back on cancelled deals, by the month it falls due (T, R, 12), and what falls due after December (T, R).

    ``pays`` lists, for each clawed component or SPIFF, its pay by period
    (T, R, P) and a mask (P, 12) of each period's booking months. A month's
    cancelled revenue ``c_m`` (deals cancelling within ``window_months``)
    takes back ``pay_p x c_m / V_p`` of the pay of the period ``p`` holding
    it (``V_p`` the period's revenue), due ``delay_m`` months after booking.
    """
    clawed = np.where(cancelled.delay <= cb.window_months, cancelled.revenue, 0.0)
    owed = np.zeros(revenue.shape)
    for pay, mask in pays:
        V = revenue @ mask.T  # (T, R, P)
        rate = np.where(V > 0, pay / np.where(V > 0, V, 1.0), 0.0)
        owed += (rate @ mask) * clawed
    due = np.zeros(revenue.shape)
    later = np.zeros(revenue.shape[:-1])
    for m in range(MONTHS):
        when = m + cancelled.delay[..., m]
        for d in np.unique(when):
            at = when == d
            if d < MONTHS:
                due[..., d] += np.where(at, owed[..., m], 0.0)
            else:
                later += np.where(at, owed[..., m], 0.0)
    return due, later


def apply_clawback(cb: Clawback | None, cancelled: Cancellations, revenue: np.ndarray, monthly: np.ndarray,
                   pays: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, ClawbackResult]:
    """Pay by month (T, R, 12) after recovering clawed-back pay, and the clawback's accounts.

    Month by month, what falls due is added to the balance owed, and the
    balance is recovered from the month's pay (never below zero). The balance
    left after December, with what falls due after it, is forgiven or
    carried. Without a clawback (``cb`` None) only the cancelled revenue is
    recorded.
    """
    zero = np.zeros(revenue.shape[:-1])
    total = sum_months(cancelled.revenue)
    if cb is None:
        return monthly, ClawbackResult(total, cancelled.revenue, np.zeros(revenue.shape), np.zeros(revenue.shape),
                                       zero, zero)
    due, later = clawback_due(cb, cancelled, revenue, pays)
    paid = monthly.copy()
    recovered = np.zeros(revenue.shape)
    balance = np.zeros(revenue.shape[:-1])
    for m in range(MONTHS):
        balance = balance + due[..., m]
        back = np.minimum(balance, np.maximum(paid[..., m], 0.0))
        paid[..., m] -= back
        recovered[..., m] = back
        balance = balance - back
    left = balance + later
    carry = cb.at_year_end == "carry"
    return paid, ClawbackResult(total, cancelled.revenue, due, recovered, zero if carry else left,
                                left if carry else zero)


def _period_mask(n: int) -> np.ndarray:
    """(n, 12) 0/1: the months of each of ``n`` equal periods."""
    size = MONTHS // n
    return (np.arange(MONTHS)[None, :] // size == np.arange(n)[:, None]).astype(float)


def _clawed_pays(rp: RolePlan, periods: dict[str, np.ndarray], comps: dict[str, np.ndarray],
                 before_gates: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each clawed component's pay by period after its gates, and each clawed SPIFF's pay over its window."""
    spiffs = {sp.name: sp for sp in rp.spiffs}
    out = []
    for name in clawed_names(rp):
        if name in spiffs:
            sp = spiffs[name]
            mask = np.zeros((1, MONTHS))
            mask[0, sp.start - 1 : sp.end] = 1.0
            out.append((comps[name][..., None], mask))
            continue
        per = periods[name]
        pre = before_gates[name]
        kept = np.where(pre != 0, comps[name] / np.where(pre != 0, pre, 1.0), 0.0)  # 0 where a gate took it
        out.append((per * kept[..., None], _period_mask(per.shape[-1])))
    return out


def uses_spiffs(scenario: Scenario) -> bool:
    """Whether some role plan of the scenario has a SPIFF (then results carry the SPIFF metric)."""
    return any(rp.spiffs for plan in scenario.plans.values() for rp in plan.roles.values())


def spiff_money_by_month(rp: RolePlan, measures: dict[str, np.ndarray]) -> np.ndarray:
    """Money (12,) the role plan's SPIFFs pay per unit of a month's output (log), on a sample of ``measures``.

    In each window month: ``rate`` x the mean units booked that month (flow
    measures move with output), times the share of the SPIFF's money that
    minimums and the budget leave in the sample (paid / rate x units).
    Zeros without SPIFFs. The behaviour model adds it to the money of a
    month's output (docs/model.md section 3, SPIFFs).
    """
    out = np.zeros(MONTHS)
    for sp in rp.spiffs:
        x = measures[sp.measure]
        full = sp.rate * float(np.mean(sum_months(x[..., sp.start - 1 : sp.end])))
        kept = float(np.mean(spiff_pay(sp, measures))) / full if full > 0 else 0.0
        for m in range(sp.start - 1, sp.end):
            out[m] += kept * sp.rate * float(np.mean(x[..., m]))
    return out


def spiff_pay(sp: Spiff, measures: dict[str, np.ndarray]) -> np.ndarray:
    """One SPIFF's pay (T, R): ``rate`` x units booked in the window, from ``min_units`` on, within the budget.

    When the role's reps together would be paid more than ``budget`` in a
    trial, each rep's payout is scaled by budget / that total.
    """
    units = sum_months(measures[sp.measure][..., sp.start - 1 : sp.end])
    pay = np.where(units >= sp.min_units, sp.rate * units, 0.0)
    if sp.budget is not None:
        total = pay.sum(axis=1, keepdims=True)
        pay = pay * np.where(total > sp.budget, sp.budget / np.where(total > 0, total, 1.0), 1.0)
    return pay


def accrual_by_month(periods: dict[str, np.ndarray], incentive: np.ndarray) -> np.ndarray:
    """Incentive earned by month (T, R, 12): each pay element's period pay in its period's last month.

    ``periods`` maps each component and scorecard to its pay per period (T,
    R, P) before gates and modifiers; those settle in December, as a true-up
    that makes the months add up to ``incentive`` (T, R), the year's pay.
    """
    out = np.zeros((*incentive.shape, MONTHS))
    for pay in periods.values():
        size = MONTHS // pay.shape[-1]
        out[..., size - 1 :: size] += pay
    out[..., MONTHS - 1] += incentive - out.sum(axis=-1)
    return out


def apply_draw(draw: Draw, earned: np.ndarray, new_hire: np.ndarray, exit_month: np.ndarray | None = None,
               occupied: np.ndarray | None = None) -> DrawResult:
    """Cash by month under a draw, from the incentive earned by month (T, R, 12).

    Each draw period (month or quarter) ``d`` pays at its last month. With the
    draw ``A`` (``amount`` in the draw's first ``months`` months to the reps
    it covers, else 0) and the period's earnings ``e``: a non-recoverable
    draw pays ``max(e, A)`` (``e`` where ``A`` is 0, a December deduction
    included). A recoverable one carries a balance ``b`` (0 at the start):
    it recovers ``min(b, max(e - A, 0))`` from earnings above the draw and
    pays ``e`` minus that, or when ``e < A`` pays ``A`` and adds ``A - e`` to
    ``b``. The balance left after December is forgiven or carried.

    With ``exit_month`` (T, R; -1 for none), a recoverable balance is settled
    when the rep leaves: at the end of the exit month the balance of the draw
    periods ended by then is written off (``on_exit: forgive``, the default)
    or taken from that month's pay (``recover``; the pay may go below zero:
    the leaver pays it back), and the seat starts again from 0. With
    ``occupied`` (T, R, 12) bool, a draw period in which the seat is empty
    throughout (a multi-year run's vacancy) pays no draw.
    """
    size = MONTHS // PERIODS[draw.period]
    n = MONTHS // size
    e_all = sum_periods(earned.reshape(*earned.shape[:-1], n, size))
    covered = new_hire if draw.new_hires_only else np.ones(earned.shape[:-1], dtype=bool)
    balance = np.zeros(earned.shape[:-1])
    cash = np.zeros_like(earned)
    exits = exit_month is not None and draw.recoverable and bool((exit_month >= 0).any())
    settled = (np.zeros_like(balance), np.zeros_like(balance))  # forgiven, recovered on exit
    touched = np.zeros(balance.shape, dtype=bool)
    for d in range(n):
        if exits:  # leavers before this draw period ends: the balance of the periods ended so far
            balance = _settle_on_exit(draw, balance, cash, exit_month, d * size, d * size + size - 1, settled)
        A = np.where(covered, draw.amount, 0.0) if d * size < draw.months else np.zeros_like(balance)
        if occupied is not None:  # nobody in the seat this draw period: no draw
            A = np.where(any_period(occupied[..., d * size : d * size + size]), A, 0.0)
        e = e_all[..., d]
        if draw.recoverable:
            recovered = np.minimum(balance, np.maximum(e - A, 0.0))
            short = np.where(A > 0, np.maximum(A - e, 0.0), 0.0)
            cash[..., d * size + size - 1] = e - recovered + short
            balance = balance - recovered + short
        else:
            cash[..., d * size + size - 1] = np.where(A > 0, np.maximum(e, A), e)
        touched |= cash[..., d * size + size - 1] != e
        if exits:  # leavers in the period's last month: after it is settled
            balance = _settle_on_exit(draw, balance, cash, exit_month, d * size + size - 1, d * size + size, settled)
    exit_forgiven, exit_recovered = settled
    carry = draw.recoverable and draw.at_year_end == "carry"
    zero = np.zeros_like(balance)
    return DrawResult(earned=earned, cash=cash, forgiven=zero if carry else balance,
                      outstanding=balance if carry else zero, exit_forgiven=exit_forgiven,
                      exit_recovered=exit_recovered, touched=touched | (exit_recovered != 0))


def _settle_on_exit(draw: Draw, balance: np.ndarray, cash: np.ndarray, exit_month: np.ndarray, lo: int, hi: int,
                    settled: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Settle the balance of reps leaving in months ``lo`` to ``hi - 1``: written off, or taken from the exit
    month's pay (``cash`` changed in place); adds to ``settled`` (forgiven, recovered); returns the new balance."""
    leaving = (exit_month >= lo) & (exit_month < hi)
    take = np.where(leaving, balance, 0.0)
    if draw.on_exit == "recover":
        m = np.clip(exit_month, 0, MONTHS - 1)[..., None]
        np.put_along_axis(cash, m, np.take_along_axis(cash, m, -1) - take[..., None], -1)
        settled[1][...] += take
    else:
        settled[0][...] += take
    return balance - take


def _targets(c_target, measure_kind, period, quota, share, level, shape):
    """Per-period targets (T, R, P); ``share`` (P,) or (T, R, P) splits the annual quota over the periods."""
    n = PERIODS[period]
    if c_target == "quota":
        return quota[..., None] * share
    if measure_kind == "flow":
        return np.full((*shape, n), level * float(c_target) / n)
    return np.full((*shape, n), float(c_target))


def component_pay(
    c: Component,
    values: np.ndarray,
    targets: np.ndarray,
    scale: np.ndarray,
    kind: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Pay per period (..., P) of one component and whether it was capped.

    ``values`` and ``targets`` are per period; ``scale`` per period multiplies
    the schedule's output (see :func:`simlib.model.paycurves.compile_component`).
    With ``ytd_true_up`` each period pays what the year-to-date attainment has
    earned so far minus what was already paid (never negative). A cap counts
    as hit only where it holds money back: not where ``scale`` is 0 (a curve
    at target incentive 0 pays nothing at any attainment).
    """
    pay, capped = _schedule_pay(c, values, targets, scale, kind)
    return pay, np.logical_and(capped, scale > 0, out=capped)


def _schedule_pay(c: Component, values: np.ndarray, targets: np.ndarray, scale: np.ndarray,
                  kind: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`component_pay` before a cap that holds no money back is cleared: the schedule's own cap flags."""
    sched = compile_component(c)
    if c.ytd_true_up and values.shape[-1] > 1:
        cv, ct = _cumulate(values, kind), _cumulate(targets, kind)  # scores: running means of both
        # a per-unit rate is already money per unit: due = rate x units so far, not x periods elapsed
        cs = np.ones_like(scale) if c.kind == "per_unit" else running_sum(scale)
        x = cv if c.kind == "per_unit" else cv / np.maximum(ct, 1e-12)
        due, capped = evaluate(sched, x)
        due = due * cs
        paid = np.zeros_like(due)
        so_far = np.zeros(due.shape[:-1])
        for p in range(due.shape[-1]):
            paid[..., p] = np.maximum(0.0, due[..., p] - so_far)
            so_far = so_far + paid[..., p]
        return paid, capped
    if c.kind != "per_unit" and values.size >= COMPILED_FROM and values.shape == targets.shape == scale.shape \
            and compiled.enabled():  # the three passes below in one, the same arithmetic element by element
        return _attainment_pay_compiled(sched, values, targets, scale)
    x = values if c.kind == "per_unit" else values / np.maximum(targets, 1e-12)
    y, capped = evaluate(sched, x)
    return y * scale, capped


def _attainment_pay_compiled(sched, values: np.ndarray, targets: np.ndarray,
                             scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`component_pay`'s ``evaluate(sched, values / max(targets, 1e-12)) x scale`` by the compiled kernel."""
    k, slopes, vals = schedule_segments(sched)
    out, capped = np.empty(values.shape), np.empty(values.shape, dtype=bool)
    flat = [np.ascontiguousarray(a, dtype=float).reshape(-1) for a in (values, targets, scale)]
    compiled.attainment_pay(*flat, k, slopes, vals, float(sched.cap), out.reshape(-1), capped.reshape(-1))
    return out, capped


def component_year_pay(c: Component, kind: str, vals: np.ndarray, quota: np.ndarray, share: np.ndarray,
                       TI: float | np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray] | None:
    """A component's year (T, R) and whether some period hit its cap, by one compiled kernel; None where it
    does not apply (the NumPy steps of :func:`_components_pay` then run).

    The same numbers as ``sum_periods`` and ``any_period`` of :func:`component_pay`
    on :func:`_targets` and :func:`_scale`, element by element, without their
    (T, R, P) temporaries (a year-to-date true-up over several periods by
    its own kernel): for the compiled pass, fewer than 8 periods, one target
    incentive for the role and ``share`` (P,) the same split of every rep's quota.
    """
    n = vals.shape[-1]
    if vals.ndim != 3 or n >= 8 or vals.size < COMPILED_FROM or np.ndim(TI) \
            or share.shape != (n,) or quota.shape != vals.shape[:2] or not compiled.enabled():
        return None
    by_quota = c.target == "quota"
    target = 0.0 if by_quota else level * float(c.target) / n if kind == "flow" else float(c.target)
    scale = c.weight * TI / n if c.kind == "curve" else 1.0
    paying = _paying_reps(c, quota, share, target, by_quota, scale)
    if paying is None:
        return None
    k, slopes, values = schedule_segments(compile_component(c))
    pay, capped = np.empty(vals.shape[:2]), np.zeros(vals.shape[:2], dtype=bool)
    args = [np.ascontiguousarray(vals, dtype=float).reshape(-1, n), np.ascontiguousarray(quota, dtype=float).reshape(-1),
            np.ascontiguousarray(share, dtype=float), float(target), by_quota, c.kind != "per_unit", float(scale),
            c.kind == "commission"]
    tail = (k, slopes, values, float(compile_component(c).cap), pay.reshape(-1), capped.reshape(-1))
    if c.ytd_true_up and n > 1:
        compiled.component_ytd_pay(*args, kind == "score", *tail)
    else:
        compiled.component_year_pay(*args, *tail)
    return pay, np.logical_and(capped, paying, out=capped)


def _paying_reps(c: Component, quota: np.ndarray, share: np.ndarray, target: float, by_quota: bool,
                 scale: float) -> np.ndarray | None:
    """(T, R): the reps whose every period's money scale is positive, where a cap holds money back
    (:func:`component_pay`); None where some rep's periods differ (a period of share 0: the NumPy steps then
    decide period by period). A commission's scale is each period's target, anything else's ``scale``."""
    if c.kind != "commission":
        return np.full(quota.shape, scale > 0)
    if not by_quota:
        return np.full(quota.shape, target > 0)
    every, some = quota * share.min() > 0, quota * share.max() > 0  # a product rises with share where quota > 0
    return None if (every != some).any() else every


def _scale(c: Component, TI: float | np.ndarray, targets: np.ndarray) -> np.ndarray:
    n = targets.shape[-1]
    if c.kind == "curve":
        if np.ndim(TI):  # per rep (R,)
            return np.broadcast_to((c.weight * TI / n)[:, None], targets.shape).copy()
        return np.full(targets.shape, c.weight * TI / n)
    if c.kind == "commission":
        return targets
    return np.ones(targets.shape)


def compute_pay(
    scenario: Scenario,
    plan: str,
    world: RoleWorld,
    measures: dict[str, np.ndarray],
    quota: np.ndarray,
    memo: dict | None = None,
    quota_share: np.ndarray | None = None,
    cancelled: Cancellations | None = None,
    project_effort: float = 1.0,
) -> PayResult:
    """Apply a role's plan to simulated measures.

    Parameters
    ----------
    scenario : Scenario
    plan : str
        The plan to apply.
    world : RoleWorld
        The role's reps and teams for a chunk of T trials of R reps.
    measures : dict measure -> ndarray (T, R, 12)
        Simulated measures per month (revenue in money).
    quota : ndarray (T, R)
        Annual revenue quota, money per year.
    memo : dict, optional
        Kept with ``measures`` (one per measures dict): per-period sums of the
        measures are kept here for the next plan applied to the same measures
        (the engine shares today's measures across plans).
    quota_share : ndarray (T, R, 12), optional
        Each rep's quota per month as a share of the year's (summing to 1):
        quota targets of shorter periods are the annual quota times the
        period's share (a replayed history's recorded monthly quotas). By
        default the plan's expected revenue profile splits every rep's quota.
    cancelled : Cancellations, optional
        Deals that later cancel (a replayed history's recorded
        cancellations); by default drawn by the role's cancellation process
        (:func:`simlib.model.production.cancellations`), if it has one.
    project_effort : float
        The reps' effort on the role plan's team project, 1 = the planned
        effort (the behaviour model's; see simlib.model.projects).

    Returns
    -------
    PayResult
        Money per year: the components, after gates; the incentive, after
        modifiers; recognition awards.
    """
    memo = {} if memo is None else memo
    agg = partial(_aggregated, measures, memo)
    rp: RolePlan = scenario.role_plan(plan, world.name)
    if rp.versions:  # effective-dated versions: each segment of the year on its own terms
        return versioned_pay(scenario, plan, world, measures, quota, quota_share, cancelled)
    kinds = world.role.measure_kinds
    TI = scenario.target_incentive(plan, world.name)
    base = scenario.base_salary(plan, world.name)
    if world.ti_share is not None:  # a roster's reps: each at their own level relative to the role's
        TI, base = TI * world.ti_share, base * world.base_share
    prof = revenue_profile(scenario, world.name)

    if quota_share is not None:  # a replayed history: its recorded monthly quotas split the year's
        prof = quota_share
    if rp.quota_relief is not None:
        quota = quota * relief_factor(rp, world, scenario.market.growth_mean)[:, MONTHS - 1][:, None]
    calendar = uses_payout(scenario)
    cancelled = cancellations(world, measures) if cancelled is None else cancelled
    claw = cancelled is not None and rp.clawback is not None
    periods: dict[str, np.ndarray] | None = {} if rp.draw is not None or calendar or claw else None
    comps, capped_any = _components_pay(rp, kinds, agg, world, quota, TI, prof, periods)
    if rp.scorecards:
        capped_any = capped_any | _scorecards_pay(rp, kinds, agg, world, quota, TI, prof, comps, periods)
    att = year_sum(measures, "revenue", memo) / np.maximum(quota, 1e-12)
    before_gates = dict(comps)
    _apply_gates(rp, kinds, agg, quota, comps)
    incentive = _incentive(rp, kinds, agg, comps, world.shape)
    spiff = None
    if rp.spiffs:  # outside gates and modifiers, paid at the window's last month
        spiff = np.zeros(world.shape)
        for sp in rp.spiffs:
            comps[sp.name] = spiff_pay(sp, measures)
            spiff = spiff + comps[sp.name]
            if periods is not None:
                periods[sp.name] = np.zeros((*world.shape, MONTHS))
                periods[sp.name][..., sp.end - 1] = comps[sp.name]
        incentive = incentive + spiff
    projects = project_pay(rp, world, project_effort)
    if projects is not None:  # outside gates and modifiers, settled in December
        incentive = incentive + projects.pay
    incentive, draw, clawback, cal = _pay_by_month(rp, world, measures, incentive, periods, cancelled, calendar,
                                                   lambda: _clawed_pays(rp, periods, comps, before_gates))
    return PayResult(
        incentive=incentive,
        base=base,
        target_incentive=TI,
        attainment=att,
        quota=quota,
        capped=capped_any,
        recognition=_recognition(rp, kinds, agg, quota, world.shape),
        components=comps,
        draw=draw,
        spiff=spiff,
        calendar=cal,
        programmes=programme_pay(rp, lambda m: agg(m, "year", kinds[m])[..., 0], quota, world.ability),
        projects=projects,
        clawback=clawback,
    )


def _pay_by_month(rp: RolePlan, world: RoleWorld, measures: dict[str, np.ndarray], incentive: np.ndarray,
                  periods: dict[str, np.ndarray] | None, cancelled: Cancellations | None, calendar: bool,
                  clawed: Callable[[], list]) -> tuple[np.ndarray, DrawResult | None, ClawbackResult | None,
                                                       CalendarResult | None]:
    """The year's pay month by month: a draw, then clawbacks recovered from it, then the payout calendar.

    Returns the incentive paid (T, R) and the draw's, clawback's and
    calendar's accounts (None where the plan or scenario has none).
    """
    draw = None
    if rp.draw is not None:
        draw = apply_draw(rp.draw, accrual_by_month(periods, incentive), world.new_hire, world.exit_month,
                          world.ramp > 0)
        incentive = np.where(draw.touched, sum_months(draw.cash), incentive)
    monthly = None
    clawback = None
    if cancelled is not None:  # recovered from the pay of the month a deal cancels and later months
        claw = rp.clawback is not None
        if claw:
            monthly = draw.cash if draw is not None else accrual_by_month(periods, incentive)
        monthly, clawback = apply_clawback(rp.clawback, cancelled, measures["revenue"], monthly,
                                           clawed() if claw else [])
        if claw:  # reps it recovered nothing from are paid what they earned, not its months summed again (rounding)
            incentive = np.where(clawback.recovered.any(axis=-1), sum_months(monthly), incentive)
    cal = None
    if calendar:  # a draw's (and clawback's) pay by month is what the calendar pays out
        if monthly is None:
            monthly = draw.cash if draw is not None else accrual_by_month(periods, incentive)
        cal = apply_payout(rp.payout, monthly)
    return incentive, draw, clawback, cal


def _aggregated(measures: dict[str, np.ndarray], memo: dict, measure: str, period: str, kind: str) -> np.ndarray:
    """A measure per pay period, (T, R, 12) -> (T, R, P), kept in ``memo``.

    Flows are summed over each period's months, scores averaged (in the
    measure's own unit: money for revenue). The year's sum is the one the
    engine's metrics use (:func:`year_sum`, same arithmetic).
    """
    key = ("aggregate", measure, period, kind)
    if key not in memo:
        if period == "year":
            s = year_sum(measures, measure, memo)[..., None]
            memo[key] = s if kind == "flow" else s / MONTHS
        else:
            memo[key] = aggregate(measures[measure], period, kind)
    return memo[key]


def _components_pay(rp: RolePlan, kinds: dict[str, str], agg: Callable[[str, str, str], np.ndarray],
                    world: RoleWorld, quota: np.ndarray, TI: float, prof: np.ndarray,
                    periods: dict[str, np.ndarray] | None = None,
                    inforce: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Pay of each component of a role plan, before gates and modifiers.

    Parameters
    ----------
    rp : RolePlan
    kinds : dict measure -> "flow" or "score"
        The measures of the role's process.
    agg : callable (measure, period, kind) -> ndarray (T, R, P)
        The measures per pay period (:func:`_aggregated`).
    world : RoleWorld
    quota : ndarray (T, R)
        Annual revenue quota, money per year.
    TI : float
        Target incentive, money per year at 100%.
    prof : ndarray (12,) or (T, R, 12)
        Expected revenue per month of an average rep (money), or each rep's
        share of quota per month; quota targets are split over the periods
        in its proportions.
    periods : dict, optional
        When given, each component's pay per period (T, R, P) is put here
        (blended with the team's as the year is).
    inforce : ndarray (12,), optional
        1 in the months a version of the plan is in force, else 0: the
        segment's terms (:func:`in_force_terms`); ``prof`` is then zero
        outside the segment and ``quota`` the segment's.

    Returns
    -------
    comps : dict component -> ndarray (T, R)
        Money per year, blended with the team's pay by the plan's team weight.
    capped : ndarray (T, R) bool
        Some component (own or team) hit its cap in some period.
    """
    T, R = world.shape
    w_team = rp.team.weight
    comps: dict[str, np.ndarray] = {}
    capped_any = np.zeros((T, R), dtype=bool)
    for c in rp.components:
        kind = kinds[c.measure]
        vals = agg(c.measure, c.period, kind)
        share = aggregate(prof / prof.sum(axis=-1, keepdims=True), c.period, "flow")
        fused = None if w_team > 0 or periods is not None or inforce is not None else \
            component_year_pay(c, kind, vals, quota, share, TI, rp.quota.level)
        if fused is not None:  # the steps below in one kernel, the same numbers
            comps[c.name] = fused[0]
            capped_any |= fused[1]
            continue
        tgt = _targets(c.target, kind, c.period, quota, share, rp.quota.level, (T, R))
        f = None if inforce is None else in_force_fraction(inforce, c.period)
        if f is not None and c.target != "quota" and kind == "flow":
            tgt = tgt * f
        scale = _scale(c, TI, tgt)
        if f is not None:
            scale = scale * in_force_terms(c.kind, f)
        per, capped = component_pay(c, vals, tgt, scale, kind)
        if f is not None:
            capped = capped & (f > 0)
        pay = sum_periods(per)
        capped_any |= any_period(capped)
        if w_team > 0:
            team_per, tcap = _team_pool(c, kind, vals, tgt, scale, world, rp.team.split)
            if f is not None:
                tcap = tcap & (f > 0)
            pay = (1.0 - w_team) * pay + w_team * sum_periods(team_per)
            capped_any |= any_period(tcap)
            per = (1.0 - w_team) * per + w_team * team_per
        if periods is not None:
            periods[c.name] = per
        comps[c.name] = pay
    return comps, capped_any


def _team_pool(c: Component, kind: str, vals: np.ndarray, tgt: np.ndarray, scale: np.ndarray,
               world: RoleWorld, split: str) -> tuple[np.ndarray, np.ndarray]:
    """A member's share of one component paid on the team's results.

    The component is applied to the team's values and targets per period
    (flows summed over the team, scores averaged; a per-unit rate per head),
    and the team's pool is split equally, or by each member's share of the
    team's flow under ``split="contribution"``.

    Parameters
    ----------
    c : Component
    kind : {"flow", "score"}
        The kind of the component's measure.
    vals, tgt, scale : ndarray (T, R, P)
        Each rep's values, targets and schedule scale per period.
    world : RoleWorld
        The teams.
    split : str
        The plan's team split.

    Returns
    -------
    team_pay : ndarray (T, R, P)
        Money per period (summed over the periods: the year's).
    capped : ndarray (T, R, P) bool
        The team's pay hit its cap in the period.
    """
    size = _team_size(world)[None, :, None]
    if kind == "flow":
        tv, tt = _team_sum(vals, world), _team_sum(tgt, world)
    else:
        tv, tt = _team_sum(vals, world) / size, _team_sum(tgt, world) / size
    if c.kind == "per_unit":
        per_head, tcap = component_pay(c, tv / size, tt / size, scale, kind)
        pool = per_head * size
    else:
        pool, tcap = component_pay(c, tv, tt, _team_sum(scale, world), kind)
    if split == "contribution" and kind == "flow":
        own = vals.sum(axis=-1, keepdims=True)
        tot = _team_sum(own, world)
        frac = np.where(tot > 0, own / np.where(tot > 0, tot, 1.0), 1.0 / size)
        return pool * frac, tcap
    return pool / size, tcap


def relief_factor(rp: RolePlan, world: RoleWorld, growth: float) -> np.ndarray:
    """Quota multiplier of a role plan's ``quota_relief`` as known at the end of each month, (T, 12).

    The market move after month m is the seasonally weighted mean demand
    multiplier over the year, with months after m at their expectation
    ``1 + growth``, over ``1 + growth``, minus 1; quotas move by ``share`` of
    the part of the move beyond ``band`` either way. Column 11 is the year's
    rule (pay); column m - 1 is what reps know before month m (behaviour).
    Ones without a rule.
    """
    T = world.market.shape[0]
    if rp.quota_relief is None:
        return np.ones((T, MONTHS))
    w = world.season / world.season.sum()
    seen = np.cumsum(w[None, :] * world.market, axis=1)
    expected_rest = (1.0 + growth) * (1.0 - np.cumsum(w))[None, :]
    move = (seen + expected_rest) / (1.0 + growth) - 1.0
    band, share = rp.quota_relief.band, rp.quota_relief.share
    return 1.0 + share * (move - np.clip(move, -band, band))


def measure_score(sm, attainment: np.ndarray) -> np.ndarray:
    """A scored measure's points at ``attainment`` (value / target), by its intervals or curve."""
    return evaluate(compile_scale(sm), attainment)[0]


def composite_score(sc: Scorecard, scores: dict[str, np.ndarray]) -> np.ndarray:
    """The composite: each measure's points times its weight, summed, over the scorecard's ``total``."""
    out = 0.0
    for sm in sc.measures:
        out = out + sm.weight / sc.total * scores[sm.measure]
    return np.asarray(out, dtype=float)


def scorecard_coefficient(sc: Scorecard, composite: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Payout coefficient (multiple of the per-period ``weight x TI``) of a composite, and whether capped.

    Nothing is paid below ``min_score``; the payout scale applies above it, capped at ``cap``.
    """
    coef, capped = evaluate(compile_scale(sc.payout, sc.cap), composite)
    ok = composite >= sc.min_score
    return np.where(ok, coef, 0.0), capped & ok


def scorecard_attainments(sc: Scorecard, kinds: dict[str, str], agg: Callable[[str, str, str], np.ndarray],
                          quota: np.ndarray, level: float, prof: np.ndarray,
                          shape: tuple[int, int]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Each scored measure's values and targets per period of the scorecard, (T, R, P) each.

    Targets as for components: the quota split by the expected revenue
    profile for revenue, a number per year x quota level split equally for
    other flows, the number itself for scores. ``prof`` is (12,) or per rep
    (T, R, 12) (a replayed history's monthly quotas): each rep's is normalised
    over its own year, as for components.
    """
    share = aggregate(prof / prof.sum(axis=-1, keepdims=True), sc.period, "flow")
    vals, tgts = {}, {}
    for sm in sc.measures:
        kind = kinds[sm.measure]
        vals[sm.measure] = agg(sm.measure, sc.period, kind)
        tgts[sm.measure] = _targets(sm.target, kind, sc.period, quota, share, level, shape)
    return vals, tgts


def scorecard_points_without(sc: Scorecard, measure: str, kinds: dict[str, str], measures: dict[str, np.ndarray],
                             quota: np.ndarray, level: float, prof: np.ndarray) -> np.ndarray:
    """The composite points (T, R, P) from every scored measure but ``measure``, on monthly ``measures``.

    The behaviour model holds these at their sample mean when it values the
    scorecard as a function of the revenue state.
    """
    memo: dict = {}
    vals, tgts = scorecard_attainments(sc, kinds, partial(_aggregated, measures, memo), quota, level, prof,
                                       quota.shape)
    out = np.zeros((*quota.shape, PERIODS[sc.period]))
    for sm in sc.measures:
        if sm.measure != measure:
            out = out + sm.weight / sc.total * measure_score(sm, vals[sm.measure] / np.maximum(tgts[sm.measure], 1e-12))
    return out


def scorecard_pay(sc: Scorecard, vals: dict[str, np.ndarray], tgts: dict[str, np.ndarray],
                  TI: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Money per period (..., P) of a scorecard from its measures' values and targets, and whether capped.

    ``TI`` is the role's target incentive, or each rep's (R,) where a roster gives reps their own.
    """
    scores = {m: measure_score(sm, vals[m] / np.maximum(tgts[m], 1e-12))
              for m, sm in ((sm.measure, sm) for sm in sc.measures)}
    coef, capped = scorecard_coefficient(sc, composite_score(sc, scores))
    money = sc.weight * np.asarray(TI, dtype=float) / PERIODS[sc.period]
    if money.ndim:  # per rep (R,) against (..., R, P)
        money = money[:, None]
    return coef * money, capped & (money > 0)  # a cap that holds no money back is not hit


def _scorecards_pay(rp: RolePlan, kinds: dict[str, str], agg: Callable[[str, str, str], np.ndarray],
                    world: RoleWorld, quota: np.ndarray, TI: float, prof: np.ndarray,
                    comps: dict[str, np.ndarray], periods: dict[str, np.ndarray] | None = None,
                    inforce: np.ndarray | None = None) -> np.ndarray:
    """Add each scorecard's money per year (T, R) to ``comps``; return where some scorecard was capped.

    With a team weight ``w`` a scorecard pays ``(1 - w)`` of its value on
    the rep's own measures plus ``w`` of its value on the team's (flows
    summed over members, scores and targets of scores averaged), split
    equally, or under ``split: contribution`` by the member's share of the
    team's revenue. With ``periods``, each scorecard's pay per period (T, R,
    P) is put there too. With ``inforce`` (a version's months, see
    :func:`_components_pay`) a period pays its share of months in force.
    """
    capped_any = np.zeros(world.shape, dtype=bool)
    w = rp.team.weight
    for sc in rp.scorecards:
        vals, tgts = scorecard_attainments(sc, kinds, agg, quota, rp.quota.level, prof, world.shape)
        f = None if inforce is None else in_force_fraction(inforce, sc.period)
        if f is not None:
            tgts = {m: t * f if kinds[m] == "flow" and sm.target != "quota" else t
                    for (m, t), sm in zip(tgts.items(), sc.measures, strict=True)}
        per, capped = scorecard_pay(sc, vals, tgts, TI)
        if f is not None:
            per, capped = per * f, capped & (f > 0)
        pay = sum_periods(per)
        capped_any |= any_period(capped)
        if w > 0:
            size = _team_size(world)[None, :, None]
            tv = {m: _team_sum(v, world) / (size if kinds[m] == "score" else 1.0) for m, v in vals.items()}
            tt = {m: _team_sum(t, world) / (size if kinds[m] == "score" else 1.0) for m, t in tgts.items()}
            team_per, tcap = scorecard_pay(sc, tv, tt, TI)
            if f is not None:
                team_per, tcap = team_per * f, tcap & (f > 0)
            team = sum_periods(team_per)
            if rp.team.split == "contribution":
                own = agg("revenue", "year", "flow")[..., 0]
                tot = _team_sum(own, world)
                n = size[..., 0]
                frac = np.where(tot > 0, own / np.where(tot > 0, tot, 1.0), 1.0 / n)
                team = team * n * frac
                team_per = team_per * (n * frac)[..., None]
            pay = (1.0 - w) * pay + w * team
            capped_any |= any_period(tcap)
            per = (1.0 - w) * per + w * team_per
        if periods is not None:
            periods[sc.name] = per
        comps[sc.name] = pay
    return capped_any


def _apply_gates(rp: RolePlan, kinds: dict[str, str], agg: Callable[[str, str, str], np.ndarray],
                 quota: np.ndarray, comps: dict[str, np.ndarray], frac: float = 1.0) -> None:
    """Zero the gated components (in ``comps``) of reps below a gate's minimum annual attainment.

    A gate's target is the quota (money per year), or its number: for a flow
    measure times the plan's quota level, for a score as is. ``frac``: the
    share of the year a version is in force (a number target of a flow prorates).
    """
    for g in rp.gates:
        kind = kinds[g.measure]
        annual = agg(g.measure, "year", kind)[..., 0]
        if g.target == "quota":
            target = quota
        else:
            target = rp.quota.level * float(g.target) * frac if kind == "flow" else float(g.target)
        ok = annual / np.maximum(target, 1e-12) >= g.min_attainment
        for name in g.components or list(comps):
            comps[name] = np.where(ok, comps[name], 0.0)


def _incentive(rp: RolePlan, kinds: dict[str, str], agg: Callable[[str, str, str], np.ndarray],
               comps: dict[str, np.ndarray], shape: tuple[int, int], frac: float = 1.0) -> np.ndarray:
    """The incentive (T, R), money per year: the components' pay summed, times each modifier's multiplier.

    ``frac``: the share of the year a version is in force (a flow measure's
    value over its months is annualised, divided by ``frac``, for a modifier).
    """
    incentive = np.zeros(shape)
    for v in comps.values():
        incentive = incentive + v
    for mod in rp.modifiers:
        annual = agg(mod.measure, "year", kinds[mod.measure])[..., 0]
        if frac != 1.0 and kinds[mod.measure] == "flow":
            annual = annual / frac
        incentive = incentive * evaluate(compile_modifier(mod), annual)[0]
    return incentive


def _recognition(rp: RolePlan, kinds: dict[str, str], agg: Callable[[str, str, str], np.ndarray],
                 quota: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Recognition (T, R), money-equivalent per year: the award's value to each trial's top k reps.

    Reps are ranked by the award's measure over the year (revenue: by
    attainment, revenue / quota).
    """
    T, R = shape
    recog = np.zeros((T, R))
    if rp.recognition is not None and rp.recognition.value > 0:
        rec = rp.recognition
        annual = agg(rec.measure, "year", kinds[rec.measure])[..., 0]
        score = annual / np.maximum(quota, 1e-12) if rec.measure == "revenue" else annual
        recog = np.where(top_k(score, min(rec.top_k, R)), rec.value, 0.0)
    return recog


# --------------------------------------------------------------------------
# Effective-dated versions (mid-year changes), docs/model.md section 3
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """Months ``first`` to ``end - 1`` (0-11) of the year, in which plan ``plan``'s terms for a role apply."""

    plan: str
    first: int
    end: int

    @property
    def inforce(self) -> np.ndarray:
        """(12,) 1.0 in the segment's months, else 0.0."""
        out = np.zeros(MONTHS)
        out[self.first : self.end] = 1.0
        return out

    @property
    def frac(self) -> float:
        """Share of the year the segment is in force, months / 12."""
        return (self.end - self.first) / MONTHS


def uses_versions(scenario: Scenario) -> bool:
    """Whether some role plan of the scenario has effective-dated versions."""
    return any(rp.versions for plan in scenario.plans.values() for rp in plan.roles.values())


def segments(scenario: Scenario, plan: str, role: str) -> list[Segment]:
    """The segments of the year of a role under a plan: its own terms, then each version's (one without versions)."""
    rp = scenario.role_plan(plan, role)
    firsts = [0] + [v.from_month - 1 for v in rp.versions]
    names = [plan] + [v.plan for v in rp.versions]
    ends = firsts[1:] + [MONTHS]
    return [Segment(n, a, b) for n, a, b in zip(names, firsts, ends, strict=True)]


def in_force_fraction(inforce: np.ndarray, period: str) -> np.ndarray:
    """Share of each pay period's months (P,) in which a version is in force."""
    return aggregate(inforce, period, "flow") / (MONTHS // PERIODS[period])


def in_force_terms(kind: str, f: np.ndarray) -> np.ndarray:
    """Multiplier (P,) of a component's per-period schedule scale in a version's segment.

    Pay at target (a curve's ``weight x TI``, a lump sum) prorates by the
    share ``f`` of each period's months in force; a commission or per-unit
    rate pays on the results of those months (its target or units are the
    segment's already), nothing in periods outside the segment.
    """
    if kind in ("curve", "lump_sum"):
        return f
    return (f > 0).astype(float)


def segment_measures(measures: dict[str, np.ndarray], kinds: dict[str, str], seg: Segment) -> dict[str, np.ndarray]:
    """The measures a segment's terms are applied to, each (T, R, 12).

    Flows are zero outside the segment's months; a score outside them is the
    segment's mean, so that its mean over any period or the year is the
    segment's (periods outside the segment pay nothing).
    """
    out = {}
    for name, x in measures.items():
        y = np.zeros_like(x)
        if kinds.get(name) == "score":
            y[...] = x[..., seg.first : seg.end].mean(axis=-1, keepdims=True)
        y[..., seg.first : seg.end] = x[..., seg.first : seg.end]
        out[name] = y
    return out


def version_quota(scenario: Scenario, plan: str, version: str, world: RoleWorld, quota: np.ndarray) -> np.ndarray:
    """A version's annual quota (T, R): ``quota`` (the plan's) times the version's quota over the plan's.

    A credited role's quota is its covered reps' at the plan's level: a
    version's is at the version's level. Otherwise the two are set on the
    same draws (:func:`set_quotas`), so a version
    changing the quota level scales every rep's quota by the levels' ratio;
    the plan's own segment keeps ``quota`` (a multi-year run's ratcheted one).
    A replayed year, without draws, scales by the ratio of the expected quotas.
    """
    if version == plan:
        return quota
    if world.role.credited_on is not None:  # credited on others' quotas at the plan's level: the version's level
        own = scenario.role_plan(plan, world.name).quota.level
        return quota * (scenario.role_plan(version, world.name).quota.level / own if own > 0 else 1.0)
    if "quota_noise" not in world.draws:  # a replayed year (recorded quotas, no draws): the expected quotas' ratio
        return quota * (expected_quota(scenario, version, world.name) / expected_quota(scenario, plan, world.name))
    own = set_quotas(scenario, plan, world)
    return quota * set_quotas(scenario, version, world) / np.maximum(own, 1e-12)


def versioned_pay(scenario: Scenario, plan: str, world: RoleWorld, measures: dict[str, np.ndarray],
                  quota: np.ndarray, quota_share: np.ndarray | None = None,
                  cancelled: Cancellations | None = None) -> PayResult:
    """Pay of a role plan with effective-dated versions: each segment on its own terms, summed.

    In each segment the version's annual quota is prorated by the segment's
    share of the year's expected revenue (months / 12 without seasonality)
    and split over its pay periods as usual; pay at target (curve weights x
    TI, lump sums, scorecards) prorates by months in force; commissions and
    per-unit rates pay on the segment's results; annual components, gates,
    modifiers and recognition settle on the segment's months. Base salary
    and target incentive are the versions' prorated by months. The year's
    quota is the segments' sum (docs/model.md section 3, mid-year changes).
    Deals cancel as under any plan (the role's process, or ``cancelled``
    recorded): a version has no clawback, so nothing is clawed back.
    """
    kinds = world.role.measure_kinds
    prof = revenue_profile(scenario, world.name) if quota_share is None else quota_share
    year_prof = prof.sum(axis=-1)
    cancelled = cancellations(world, measures) if cancelled is None else cancelled
    parts = []
    for seg in segments(scenario, plan, world.name):
        q = version_quota(scenario, plan, seg.plan, world, quota)
        sprof = prof * seg.inforce
        q_seg = q * (sprof.sum(axis=-1) / year_prof)
        parts.append(_segment_pay(scenario, seg, world, segment_measures(measures, kinds, seg), q_seg, sprof))
    total_quota = sum(p.quota for p in parts)
    comps: dict[str, np.ndarray] = {}
    for p in parts:
        for k, v in p.components.items():
            comps[k] = comps[k] + v if k in comps else v
    cal = None
    if parts[0].calendar is not None:
        accrual = sum(p.calendar.accrual for p in parts)
        cal = CalendarResult(accrual=accrual, cash=accrual, next_year=np.zeros(world.shape))
    return PayResult(
        incentive=sum(p.incentive for p in parts),
        base=sum(p.base for p in parts),
        target_incentive=sum(p.target_incentive for p in parts),
        attainment=year_sum(measures, "revenue") / np.maximum(total_quota, 1e-12),
        quota=total_quota,
        capped=np.logical_or.reduce([p.capped for p in parts]),
        recognition=sum(p.recognition for p in parts),
        components=comps,
        calendar=cal,
        clawback=None if cancelled is None else apply_clawback(None, cancelled, measures["revenue"], None, [])[1],
    )


def _segment_pay(scenario: Scenario, seg: Segment, world: RoleWorld, measures: dict[str, np.ndarray],
                 quota: np.ndarray, prof: np.ndarray) -> PayResult:
    """One segment's pay on its version's terms (see :func:`versioned_pay`); base and TI prorated by months."""
    memo: dict = {}
    agg = partial(_aggregated, measures, memo)
    rp = scenario.role_plan(seg.plan, world.name)
    kinds = world.role.measure_kinds
    TI = scenario.target_incentive(seg.plan, world.name)
    base = scenario.base_salary(seg.plan, world.name)
    if world.ti_share is not None:
        TI, base = TI * world.ti_share, base * world.base_share
    periods: dict[str, np.ndarray] | None = {} if uses_payout(scenario) else None
    inforce = seg.inforce
    comps, capped_any = _components_pay(rp, kinds, agg, world, quota, TI, prof, periods, inforce)
    if rp.scorecards:
        capped_any = capped_any | _scorecards_pay(rp, kinds, agg, world, quota, TI, prof, comps, periods, inforce)
    _apply_gates(rp, kinds, agg, quota, comps, seg.frac)
    incentive = _incentive(rp, kinds, agg, comps, world.shape, seg.frac)
    cal = None if periods is None else apply_payout(None, accrual_by_month(periods, incentive))
    return PayResult(
        incentive=incentive, base=base * seg.frac, target_incentive=TI * seg.frac,
        attainment=np.zeros(world.shape), quota=quota, capped=capped_any,
        recognition=_recognition(rp, kinds, agg, quota, world.shape) * seg.frac,
        components=comps, calendar=cal,
    )
