"""Policy metrics per trial, and exact streaming reductions across trials.

Per-trial metrics are computed per role and in total from a chunk's pay and
measures. Across trials they are reduced to means and Monte Carlo standard
errors by :class:`Reducer`, which sums fixed blocks of ``REDUCE_BLOCK``
trials in trial order, so the result is bit-for-bit the same whatever the
chunk size, worker count or executor. NumPy only (no pandas).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields

import numpy as np

from simlib.format import Z95
from simlib.model import compiled

#: trials per reduction block (fixed: part of what makes results chunk-invariant)
REDUCE_BLOCK = 64

#: metrics the behaviour model adds (also filled for behaviour 'none' by the engine)
BEHAVIOUR_METRICS: dict[str, tuple[str, str]] = {
    "last_month_share": ("share of revenue booked in the last month of pay periods", "fraction"),
    "discount_cost": ("price discounts given to pull deals into a period (model-implied level)", "money"),
    "help_given": ("help to teammates, index (1 = today)", "index"),
    "effort_index": ("monthly effort weighted by the month's production, index (1 = today)", "index"),
    "give_up_share": ("share of reps whose optimal effort is a fifth or more below today's while short of target", "fraction"),
    "coast_share": ("share of reps whose optimal effort is a fifth or more below today's once on track for target", "fraction"),
}

#: metrics of plans with draws (in results only when some plan of the scenario has a draw)
DRAW_METRICS: dict[str, tuple[str, str]] = {
    "draw_paid": ("incentive paid beyond what was earned: guarantee top-ups and draw advances not recovered "
                  "in the year (part of incentive cost)", "money"),
    "draw_outstanding": ("recoverable draw balance carried into next year, still owed by reps", "money"),
}

#: metrics of plans with SPIFFs (in results only when some plan of the scenario has one)
SPIFF_METRICS: dict[str, tuple[str, str]] = {
    "spiff_cost": ("paid by SPIFFs, time-limited bonuses (part of incentive cost)", "money"),
}

#: metrics of the named measures (docs/model.md section 2, named measures), each in results only when some role of the
#: scenario has the ``measures:`` block in NAMED_METRIC_BLOCKS (NaN for a role without it)
NAMED_METRICS: dict[str, tuple[str, str]] = {
    "market_share": ("revenue / simulated market size, in the year", "fraction"),
    "retention_rate": ("share of the year's opening book of existing customers still customers at its end", "fraction"),
    "customers_lost": ("existing customers lost in the year", "count"),
    "profit_after_discounts": ("revenue less cost of goods at the discounts given", "money"),
    "growth_rate": ("revenue / base-year (last year's) revenue - 1", "fraction"),
    "visits_per_day": ("customer visits per rep per working day", "visits per day"),
}
#: the ``measures:`` block each named metric needs
NAMED_METRIC_BLOCKS: dict[str, str] = {
    "market_share": "market_share", "retention_rate": "retention", "customers_lost": "retention",
    "profit_after_discounts": "profit_after_discounts", "growth_rate": "growth", "visits_per_day": "visits",
}

#: metrics of the payout calendar (in results only when some plan of the scenario has a ``payout`` calendar):
#: incentive by performance month (summing to incentive cost) and paid by calendar month
CALENDAR_METRICS: dict[str, tuple[str, str]] = {
    **{f"accrual_m{m:02d}": (f"incentive accrued for performance in month {m}", "money") for m in range(1, 13)},
    **{f"cash_m{m:02d}": (f"incentive paid out in month {m}", "money") for m in range(1, 13)},
    "payable_next_year": ("this year's incentive paid after December (lagged pay and holdbacks)", "money"),
}

#: metrics of programmes (in results only when some plan of the scenario has a promotion, honour or training
#: programme): their cost to the company, their money-equivalent to the reps, winners and trained reps
PROGRAMME_METRICS: dict[str, tuple[str, str]] = {
    "programme_cost": ("cost of promotions (raises at present value), honours and training (not in incentive cost)",
                       "money"),
    "programme_value": ("money-equivalent of promotions and honours won by the reps", "money"),
    "programme_winners": ("promotions and honours won", "count"),
    "programme_trained": ("reps trained", "count"),
    "profit_after_programmes": ("profit - programme cost", "money"),
}

#: metrics of team projects (in results only when some plan of the scenario has ``projects``)
PROJECT_METRICS: dict[str, tuple[str, str]] = {
    "project_pay": ("paid on team projects' individual and shared results (part of incentive cost)", "money"),
    "project_result": ("mean team project result, index (1 = an average team at the planned effort)", "index"),
    "project_effort": ("mean effort on team projects, index (1 = the planned effort)", "index"),
}

#: metrics of cancelled deals and clawbacks (in results only when some role of the scenario has a
#: cancellation process, ``cancel_rate`` in its production)
CLAWBACK_METRICS: dict[str, tuple[str, str]] = {
    "cancelled_revenue": ("revenue booked in the year whose deals later cancel (part of revenue)", "money"),
    "clawback_recovered": ("pay clawed back on cancelled deals, recovered from later pay in the year "
                           "(taken off incentive cost)", "money"),
    "clawback_unrecovered": ("pay owed back on this year's cancellations and not recovered in the year: "
                             "forgiven, or carried into next year", "money"),
}

#: metrics of roles paid in their own currencies (in results only when some role is): money is converted to the
#: reporting currency (the scenario's) at the trial's rate; these keep a role's cost in its own (NaN in total)
CURRENCY_METRICS: dict[str, tuple[str, str]] = {
    "incentive_cost_local": ("incentive paid, in the role's own currency (not summed across roles)", "local money"),
    "total_comp_local": ("base + incentive, in the role's own currency (not summed across roles)", "local money"),
    "fx_rate": ("units of the reporting currency per unit of the role's currency in the trial", "rate"),
}

#: metrics of crediting (in results only when some role of the scenario is credited on others' results or
#: splits its deals): revenue credited against revenue booked, and the cost of the roles paid on others' results
CREDIT_METRICS: dict[str, tuple[str, str]] = {
    "credited_revenue": ("revenue credited to reps for pay: front-line reps' with split deals, and overlays' "
                         "(managers' roll-ups of their teams are not deal credit)", "money"),
    "credit_ratio": ("credited revenue / booked revenue (above 1: revenue credited more than once)", "multiple"),
    "overlay_cost": ("base + incentive of overlay roles (specialists credited on others' deals)", "money"),
    "manager_cost": ("base + incentive of manager roles (paid on their team's results)", "money"),
}

#: metric name -> (description, unit)
METRICS: dict[str, tuple[str, str]] = {
    "revenue": ("revenue in the year", "money"),
    "gross_profit": ("revenue x gross margin", "money"),
    "incentive_cost": ("incentive paid", "money"),
    "base_cost": ("base salaries", "money"),
    "total_comp": ("base + incentive", "money"),
    "comp_cost_of_sales": ("total comp / revenue", "fraction"),
    "profit": ("gross profit - total comp", "money"),
    "share_at_quota": ("share of reps with attainment >= 100%", "fraction"),
    "share_120": ("share of reps with attainment >= 120%", "fraction"),
    "attainment_p10": ("10th percentile of attainment", "fraction of quota"),
    "attainment_p50": ("median attainment", "fraction of quota"),
    "attainment_p90": ("90th percentile of attainment", "fraction of quota"),
    "payout_p10": ("10th percentile of incentive / target incentive", "multiple"),
    "payout_p50": ("median incentive / target incentive", "multiple"),
    "leverage": ("90th percentile of incentive / target incentive", "multiple"),
    "share_capped": ("share of reps who hit a cap", "fraction"),
    "pay_performance_corr": ("Spearman rank correlation of attainment and incentive", "correlation"),
    "gini_pay": ("Gini coefficient of total pay", "index"),
    "recognition_value": ("money-equivalent of non-money awards", "money"),
    "over_budget": ("1 if incentive cost exceeds the budget (mean = probability)", "probability"),
    # behaviour (simlib.behaviour.policy.behaviour_metrics; today's values under behaviour 'none')
    **BEHAVIOUR_METRICS,
    **DRAW_METRICS,
    **SPIFF_METRICS,
    **NAMED_METRICS,
    **CALENDAR_METRICS,
    **PROGRAMME_METRICS,
    **PROJECT_METRICS,
    **CLAWBACK_METRICS,
    **CURRENCY_METRICS,
    **CREDIT_METRICS,
}

#: per-trial values kept whole (for cross-trial quantiles such as P95 cost, and charts)
KEEP = ("revenue", "incentive_cost", "total_comp", "profit")


def quantiles_along_reps(x: np.ndarray, qs) -> np.ndarray:
    """Quantiles over axis 1 (reps) for each trial: (T, R) -> (len(qs), T).

    The same numbers as ``np.quantile(x, qs, axis=1)`` (linear method; a row
    with a NaN gives NaN), from one sort of ``x`` instead of a partition per call.
    """
    return quantiles_of_sorted(np.sort(x, axis=1), qs)


def quantiles_of_sorted(xs: np.ndarray, qs) -> np.ndarray:
    """Linear-interpolation quantiles of rows already sorted along axis 1: (T, R) -> (len(qs), T).

    Follows NumPy's ``quantile`` step by step (virtual index ``(R-1) q``, its
    floor and the next order statistic, the two-sided lerp), so the result is
    bit-for-bit ``np.quantile(xs, qs, axis=1)``.
    """
    q = np.asarray(qs, dtype=float)
    prev_i, next_i, gamma, upper = _quantile_steps(xs.shape[1], q.tobytes()) if q.ndim == 1 else \
        _quantile_steps.__wrapped__(xs.shape[1], q)
    a = xs[:, prev_i].T
    b = xs[:, next_i].T
    diff = b - a
    out = a + diff * gamma
    np.subtract(b, diff * (1 - gamma), out=out, where=upper)
    last = xs[:, -1]
    nan_rows = np.isnan(last)
    if nan_rows.any():
        out[:, nan_rows] = last[nan_rows]
    return out


@functools.lru_cache(maxsize=256)
def _quantile_steps(R: int, qs) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`quantiles_of_sorted`'s order statistics and weights for rows of ``R``: NumPy's ``quantile`` steps (the
    previous and next index of each virtual index, its fraction ``gamma`` and ``gamma >= 0.5``); kept per
    ``R`` and quantiles (their float64 bytes), the same for every chunk. Read only."""
    v = (R - 1) * (np.frombuffer(qs, dtype=float) if isinstance(qs, bytes) else qs)
    prev = np.floor(v)
    nxt = prev + 1
    edge = (v >= R - 1) | np.isnan(v)
    prev[edge] = -1
    nxt[edge] = -1
    prev[v < 0] = 0
    nxt[v < 0] = 0
    prev_i, next_i = prev.astype(np.intp), nxt.astype(np.intp)
    gamma = (v - prev_i)[:, None]
    out = (prev_i, next_i, gamma, gamma >= 0.5)
    for a in out:
        a.flags.writeable = False
    return out


def _sort_rank(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows sorted along axis 1 and their average ranks (ties get their mean rank), from one argsort."""
    T, R = x.shape
    nan = np.isnan(x).any()
    if not nan and x.size >= 256 and x.dtype == np.float64 and R <= 2**16 and compiled.enabled():
        return _keyed_sort_rank(x)
    # ties all get the same mean rank, so the order within a tie does not matter and the
    # faster unstable sort gives the same ranks; NaNs (each its own group) keep the stable order
    order = np.argsort(x, axis=1, kind="stable" if nan else "quicksort")
    if x.size >= 256 and x.dtype == np.float64 and compiled.enabled():  # the gather and the ranks in one pass
        xs, ranks = np.empty((T, R)), np.empty((T, R))
        compiled.sorted_ranks(x, order, xs, ranks)
        return xs, ranks
    xs = np.take_along_axis(x, order, axis=1)
    new = np.empty((T, R), dtype=bool)  # a sorted position that starts a group of equal values
    new[:, 0] = True
    np.not_equal(xs[:, 1:], xs[:, :-1], out=new[:, 1:])
    return xs, _group_ranks(order, new)


def _group_ranks(order: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Average ranks (T, R) of rows sorted by ``order`` (an argsort along axis 1) whose groups of tied values start
    where ``new`` (T, R) is True, in sorted positions (each row's first is): every member of a group gets the mean of
    its first and last position, ``(first + last) / 2`` (exact: a half-integer, the mean of the positions), at its
    place in the row. The exact ties of :func:`_sort_rank` and the near ties of :func:`_near_tie_ranks` alike."""
    T, R = order.shape
    off = (np.arange(T) * R)[:, None]
    flat = order + off  # positions in the flattened rows
    out = np.empty(T * R)
    if new.all():  # no ties (e.g. continuous attainment): each rank is its position
        out[flat] = np.broadcast_to(np.arange(R, dtype=float), (T, R))
        return out.reshape(T, R)
    # tie groups over the flattened rows (a row's first position always starts a group)
    nf = new.ravel()
    starts = np.flatnonzero(nf)
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:] - 1
    ends[-1] = T * R - 1
    mid = (starts + ends) / 2.0
    out[flat] = mid[np.cumsum(nf) - 1].reshape(T, R) - off
    return out.reshape(T, R)


def _keyed_sort_rank(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_sort_rank` of rows without NaN, compiled: ``np.sort`` of integer keys (value bits, the row's column in
    the low bits: ``compiled.rank_keys``) instead of an argsort, several times faster; the same sorted rows and
    ranks. A row with both signed zeros, whose sorted zeros' signs follow the argsort, is argsorted as before."""
    T, R = x.shape
    b = max(1, (R - 1).bit_length())
    keys = np.empty((T, R), dtype=np.uint64)
    compiled.rank_keys(np.ascontiguousarray(x).view(np.uint64), b, keys)
    keys.sort(axis=1)
    order = np.empty((T, R), dtype=np.intp)
    xs, ranks, mixed = np.empty((T, R)), np.empty((T, R)), np.empty(T, dtype=bool)
    compiled.keyed_sorted_ranks(x, keys, b, order, xs, ranks, mixed)
    if mixed.any():
        rows = np.flatnonzero(mixed)
        sub = x[rows]
        xs_m, ranks_m = np.empty(sub.shape), np.empty(sub.shape)
        compiled.sorted_ranks(sub, np.argsort(sub, axis=1, kind="quicksort"), xs_m, ranks_m)
        xs[rows], ranks[rows] = xs_m, ranks_m
    return xs, ranks


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks along axis 1 (ties get their mean rank)."""
    return _sort_rank(x)[1]


#: values of a trial closer to each other than this fraction of the trial's largest magnitude rank as ties: equal in
#: exact arithmetic but for rounding (docs/model.md 6.2), which differs at another scale of money
TIE_TOLERANCE = 1e-12


def _near_tie_ranks(x: np.ndarray, xs: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Average ranks of ``x`` (T, R) with values equal but for rounding tied: neighbours in a sorted row (``xs``, from
    :func:`_sort_rank`) at most :data:`TIE_TOLERANCE` x the row's largest magnitude apart join one group.

    Rows without such a pair keep ``ranks`` (from :func:`_sort_rank`) as they are; a row holding NaN too.
    """
    if xs.shape[1] < 2:
        return ranks
    with np.errstate(invalid="ignore"):
        tol = TIE_TOLERANCE * np.abs(xs).max(axis=1, keepdims=True)
        gaps = np.diff(xs, axis=1)
        near = ((gaps > 0) & (gaps <= tol)).any(axis=1)
    if not near.any():
        return ranks
    rows = np.flatnonzero(near)
    order = np.argsort(x[rows], axis=1, kind="stable")
    new = np.empty(order.shape, dtype=bool)  # a sorted position that starts a group: more than tol above the last
    new[:, 0] = True
    np.greater(np.diff(np.take_along_axis(x[rows], order, axis=1), axis=1), tol[rows], out=new[:, 1:])
    out = ranks.copy()
    out[rows] = _group_ranks(order, new)
    return out


def _shares(attainment: np.ndarray, capped: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row (T,): the shares of reps with attainment >= 100% and >= 120%, and of reps capped."""
    if (attainment.size >= 256 and attainment.dtype == np.float64 and capped.dtype == np.bool_
            and capped.shape == attainment.shape and compiled.enabled()):
        out = np.empty((3, attainment.shape[0]))
        compiled.row_shares(attainment, capped, out)
        return out[0], out[1], out[2]
    return (attainment >= 1.0).mean(axis=1), (attainment >= 1.2).mean(axis=1), capped.mean(axis=1)


def _spearman_of_ranks(ra: np.ndarray, rb: np.ndarray) -> np.ndarray:
    """Spearman correlation per row of average ranks (T, R) from :func:`_sort_rank`; NaN when either is constant."""
    if ra.size >= 256 and ra.shape[1] < 2**16 and compiled.enabled():  # exact sums: the same numbers, one pass
        out = np.empty(ra.shape[0])
        compiled.spearman_of_ranks(ra, rb, out)
        return out
    ra = ra - ra.mean(axis=1, keepdims=True)
    rb = rb - rb.mean(axis=1, keepdims=True)
    den = np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))
    num = (ra * rb).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of a and b along axis 1, per row; NaN when either is constant."""
    return _spearman_of_ranks(_ranks(a), _ranks(b))


def gini_rows(x: np.ndarray) -> np.ndarray:
    """Gini coefficient along axis 1 (non-negative values)."""
    return _gini_of_sorted(np.sort(x, axis=1))


def _gini_of_sorted(xs: np.ndarray) -> np.ndarray:
    R = xs.shape[1]
    tot = xs.sum(axis=1)
    i = np.arange(1, R + 1)
    g = (2.0 * (xs * i).sum(axis=1) / (R * np.where(tot > 0, tot, 1.0))) - (R + 1.0) / R
    return np.where(tot > 0, g, 0.0)


def _constant(a: np.ndarray) -> float | None:
    """The value of an array whose elements are all equal (None otherwise)."""
    a = np.asarray(a)
    v = a.flat[0] if a.size else None
    return float(v) if a.size and np.all(a == v) else None


@dataclass
class GroupArrays:
    """What the outcome metrics of a group of reps are computed from, for T trials of R reps.

    Attributes
    ----------
    revenue : (T, R) revenue in the year, money.
    margin : (R,) or (T, R) gross margin, fraction of revenue.
    incentive : (T, R) incentive paid, money.
    base : (R,) or (T, R) base salary, money.
    target_incentive : (R,) or (T, R) incentive at 100% of target, money.
    attainment : (T, R) annual revenue / annual quota, fraction.
    capped : (T, R) bool, a cap was hit.
    recognition : (T, R) money-equivalent of non-money awards.
    draw_paid, draw_outstanding : (T, R) or None
        Paid beyond earnings and owed into next year under draws (None: the
        scenario has no draws, and no draw metrics are computed).
    spiff : (T, R) or None
        Paid by SPIFFs (None: the scenario has none, and no SPIFF metric is computed).
    accrual, cash : (T, R, 12) or None
        Incentive by performance month and paid by calendar month (None: the
        scenario has no payout calendar, and no calendar metric is computed).
    next_year : (T, R) or None
        This year's incentive paid after December.
    programme_cost, programme_value, programme_winners, programme_trained : (T, R) or None
        Programmes' cost, money-equivalent won, winners and trained reps (None:
        the scenario has no programmes, and no programme metric is computed).
    project_pay, project_result, project_effort : (T, R) or None
        Project pay, the rep's team's project result and project effort (None:
        the scenario has no projects, and no project metric is computed).
    cancelled, clawed, unrecovered : (T, R) or None
        Revenue whose deals cancel, pay recovered on them, and pay owed on
        them but not recovered (None: no role has a cancellation process).
    credited, overlay_comp, manager_comp : (T, R) or None
        Revenue credited (pay's), and base + incentive of overlay and of
        manager reps (zero for others) (None: the scenario has no crediting).
    """

    revenue: np.ndarray
    margin: np.ndarray
    incentive: np.ndarray
    base: np.ndarray
    target_incentive: np.ndarray
    attainment: np.ndarray
    capped: np.ndarray
    recognition: np.ndarray
    draw_paid: np.ndarray | None = None
    draw_outstanding: np.ndarray | None = None
    spiff: np.ndarray | None = None
    accrual: np.ndarray | None = None
    cash: np.ndarray | None = None
    next_year: np.ndarray | None = None
    programme_cost: np.ndarray | None = None
    programme_value: np.ndarray | None = None
    programme_winners: np.ndarray | None = None
    programme_trained: np.ndarray | None = None
    project_pay: np.ndarray | None = None
    project_result: np.ndarray | None = None
    project_effort: np.ndarray | None = None
    cancelled: np.ndarray | None = None
    clawed: np.ndarray | None = None
    unrecovered: np.ndarray | None = None
    credited: np.ndarray | None = None
    overlay_comp: np.ndarray | None = None
    manager_comp: np.ndarray | None = None

    @classmethod
    def pooled(cls, groups: list[GroupArrays]) -> GroupArrays:
        """The groups' reps side by side: each field concatenated along the reps axis, in order.

        An optional field (the draws') is pooled when every group has it, else left None.
        """
        out = {}
        for f in fields(cls):
            parts = [getattr(g, f.name) for g in groups]
            if len({np.ndim(p) for p in parts if p is not None}) > 1:  # per rep beside per trial (a converted role's base)
                T = max(p.shape[0] for p in parts if p is not None and np.ndim(p) == 2)
                parts = [np.broadcast_to(p, (T, p.shape[-1])) if p is not None and np.ndim(p) == 1 else p for p in parts]
            axis = -2 if f.name in ("accrual", "cash") else -1  # months last: reps are the one before
            out[f.name] = None if any(p is None for p in parts) else np.concatenate(parts, axis=axis)
        return cls(**out)


#: the money fields of :class:`GroupArrays` (converted between currencies together)
MONEY_FIELDS = ("revenue", "incentive", "base", "target_incentive", "recognition", "draw_paid", "draw_outstanding",
                "spiff", "accrual", "cash", "next_year", "programme_cost", "programme_value", "project_pay",
                "cancelled", "clawed", "unrecovered", "credited", "overlay_comp", "manager_comp")


def in_reporting_currency(g: GroupArrays, rate: np.ndarray) -> GroupArrays:
    """A copy of a role's arrays with every money field times the trial's exchange rate ``rate`` (T,).

    Shares, multiples and attainment do not change; payout multiples and the
    Gini coefficient of pay come out the same as in the role's own currency.
    """
    out = {}
    for f in fields(GroupArrays):
        v = getattr(g, f.name)
        if f.name in MONEY_FIELDS and v is not None:
            r = rate.reshape((-1,) + (1,) * (np.ndim(v) - 1)) if np.ndim(v) >= 2 else None
            v = v * r if r is not None else np.broadcast_to(v, g.incentive.shape) * rate[:, None]
        out[f.name] = v
    return GroupArrays(**out)


def local_metrics(g: GroupArrays, rate: np.ndarray | None) -> dict[str, np.ndarray]:
    """A role's :data:`CURRENCY_METRICS` per trial (T,), from its arrays in its own currency (``rate`` None: 1)."""
    inc = g.incentive.sum(axis=1)
    tc = np.broadcast_to(g.base, g.incentive.shape).sum(axis=1) + inc
    return {"incentive_cost_local": inc, "total_comp_local": tc,
            "fx_rate": np.ones(inc.shape) if rate is None else np.asarray(rate, dtype=float)}


def group_metrics(g: GroupArrays) -> dict[str, np.ndarray]:
    """Per-trial metrics of a group of reps (see :class:`GroupArrays`).

    Returns a dict metric -> (T,) array, in the units of :data:`METRICS`.
    """
    revenue, margin, incentive, base = g.revenue, g.margin, g.incentive, g.base
    target_incentive, attainment, capped, recognition = g.target_incentive, g.attainment, g.capped, g.recognition
    rev = revenue.sum(axis=1)
    inc = incentive.sum(axis=1)
    basec = np.broadcast_to(base, incentive.shape).sum(axis=1)
    gp = (revenue * margin).sum(axis=1)
    tc = basec + inc
    # one argsort per input serves its quantiles and its ranks; where base and target incentive
    # are the same for every rep (one role), pay and payout multiples sort as incentive does,
    # and sorting incentive gives their sorted rows too (the same values, elementwise)
    att_sorted, att_rank = _sort_rank(attainment)
    inc_sorted, inc_rank = _sort_rank(incentive)
    att_q = quantiles_of_sorted(att_sorted, [0.1, 0.5, 0.9])
    pay_q = _payout_quantiles(incentive, inc_sorted, target_incentive)
    gini = _pay_gini(incentive, inc_sorted, base)
    shares = _shares(attainment, capped)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(rev > 0, tc / np.where(rev > 0, rev, 1.0), np.nan)
    out = {
        "revenue": rev,
        "gross_profit": gp,
        "incentive_cost": inc,
        "base_cost": basec,
        "total_comp": tc,
        "comp_cost_of_sales": cos,
        "profit": gp - tc,
        "share_at_quota": shares[0],
        "share_120": shares[1],
        "attainment_p10": att_q[0],
        "attainment_p50": att_q[1],
        "attainment_p90": att_q[2],
        "payout_p10": pay_q[0],
        "payout_p50": pay_q[1],
        "leverage": pay_q[2],
        "share_capped": shares[2],
        "pay_performance_corr": _spearman_of_ranks(_near_tie_ranks(attainment, att_sorted, att_rank),
                                                   _near_tie_ranks(incentive, inc_sorted, inc_rank)),
        "gini_pay": gini,
        "recognition_value": recognition.sum(axis=1),
    }
    if g.draw_paid is not None and g.draw_outstanding is not None:
        out["draw_paid"] = g.draw_paid.sum(axis=1)
        out["draw_outstanding"] = g.draw_outstanding.sum(axis=1)
    if g.spiff is not None:
        out["spiff_cost"] = g.spiff.sum(axis=1)
    if g.accrual is not None and g.cash is not None and g.next_year is not None:
        accrual, cash = g.accrual.sum(axis=1), g.cash.sum(axis=1)  # (T, 12)
        for m in range(12):
            out[f"accrual_m{m + 1:02d}"] = accrual[:, m]
            out[f"cash_m{m + 1:02d}"] = cash[:, m]
        out["payable_next_year"] = g.next_year.sum(axis=1)
    if g.programme_cost is not None:
        for name in ("programme_cost", "programme_value", "programme_winners", "programme_trained"):
            out[name] = getattr(g, name).sum(axis=1)
        out["profit_after_programmes"] = out["profit"] - out["programme_cost"]
    if g.project_pay is not None:
        out["project_pay"] = g.project_pay.sum(axis=1)
        out["project_result"] = g.project_result.mean(axis=1)
        out["project_effort"] = g.project_effort.mean(axis=1)
    if g.cancelled is not None and g.clawed is not None and g.unrecovered is not None:
        out["cancelled_revenue"] = g.cancelled.sum(axis=1)
        out["clawback_recovered"] = g.clawed.sum(axis=1)
        out["clawback_unrecovered"] = g.unrecovered.sum(axis=1)
    if g.credited is not None and g.overlay_comp is not None and g.manager_comp is not None:
        out.update(credit_metrics(rev, g.credited, g.overlay_comp, g.manager_comp))
    return out


def credit_metrics(booked: np.ndarray, credited: np.ndarray, overlay_comp: np.ndarray,
                   manager_comp: np.ndarray) -> dict[str, np.ndarray]:
    """The crediting metrics of a group: booked revenue (T,), credited revenue and overlay and manager pay (T, R)."""
    cr = credited.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(booked > 0, cr / np.where(booked > 0, booked, 1.0), np.nan)
    return {"credited_revenue": cr, "credit_ratio": ratio,
            "overlay_cost": overlay_comp.sum(axis=1), "manager_cost": manager_comp.sum(axis=1)}


def _payout_quantiles(incentive: np.ndarray, inc_sorted: np.ndarray, target_incentive: np.ndarray) -> np.ndarray:
    """10th, 50th and 90th percentiles of incentive / target incentive per trial, (3, T).

    Payout multiples are undefined where target incentive is 0 (e.g. pure
    commission): NaN, not a 1e12-fold multiple. ``inc_sorted`` is
    ``incentive`` sorted along the reps.
    """
    ti0 = _constant(target_incentive)
    if ti0 is not None:
        if ti0 > 0:
            return quantiles_of_sorted(inc_sorted / ti0, [0.1, 0.5, 0.9])
        return np.full((3, incentive.shape[0]), np.nan)
    target_incentive = np.asarray(target_incentive)
    pos = target_incentive > 0  # per rep (R,) or (T, R): broadcast against incentive, not expanded first
    if pos.all():
        multiple = incentive / target_incentive
    else:
        multiple = np.where(pos, incentive / np.where(pos, target_incentive, 1.0), np.nan)
    return quantiles_along_reps(np.broadcast_to(multiple, incentive.shape), [0.1, 0.5, 0.9])


def _pay_gini(incentive: np.ndarray, inc_sorted: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Gini coefficient of total pay (base + incentive) per trial, (T,); ``inc_sorted`` as above."""
    base0 = _constant(base)
    if base0 is not None:
        return _gini_of_sorted(inc_sorted + base0)
    return gini_rows(np.broadcast_to(base, incentive.shape) + incentive)


class Reducer:
    """Exact, order-fixed streaming sums of per-trial rows.

    Feed ``(first_trial, rows)`` in any chunking (contiguous, in trial order);
    rows are buffered into blocks of :data:`REDUCE_BLOCK` trials aligned to
    trial 0, each block is summed with NumPy, and block sums are added in
    block order. NaN entries are skipped (counted in ``n``).
    """

    def __init__(self, ncols: int):
        self.n = np.zeros(ncols)
        self.s = np.zeros(ncols)
        self.ss = np.zeros(ncols)
        self.shift: np.ndarray | None = None
        self._buf: list[np.ndarray] = []
        self._buffered = 0
        self._next = 0

    def add(self, first: int, rows: np.ndarray) -> None:
        if first != self._next:
            raise ValueError(f"rows must arrive in trial order: expected trial {self._next}, got {first}")
        self._next += rows.shape[0]
        self._buf.append(rows)
        self._buffered += rows.shape[0]
        if self._buffered >= REDUCE_BLOCK:
            allrows = np.concatenate(self._buf, axis=0)
            k = (allrows.shape[0] // REDUCE_BLOCK) * REDUCE_BLOCK
            for b in range(0, k, REDUCE_BLOCK):
                self._block(allrows[b : b + REDUCE_BLOCK])
            rest = allrows[k:]
            self._buf = [rest] if rest.shape[0] else []
            self._buffered = rest.shape[0]

    def _block(self, rows: np.ndarray) -> None:
        if self.shift is None:
            # shifted sums keep the variance accurate for large means
            with np.errstate(invalid="ignore"):
                self.shift = np.where(np.isfinite(rows[0]), rows[0], 0.0)
        ok = np.isfinite(rows)
        d = np.where(ok, rows - self.shift, 0.0)
        self.n += ok.sum(axis=0)
        self.s += d.sum(axis=0)
        self.ss += (d * d).sum(axis=0)

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (n, mean, standard error of the mean) per column."""
        if self._buffered:
            self._block(np.concatenate(self._buf, axis=0))
            self._buf, self._buffered = [], 0
        n = self.n
        shift = self.shift if self.shift is not None else np.zeros_like(n)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_d = self.s / n
            var = (self.ss - n * mean_d * mean_d) / (n - 1)
            se = np.sqrt(np.maximum(var, 0.0) / n)
        return n, shift + mean_d, se


def quantile_with_ci(x: np.ndarray, q: float, level: float = 0.95) -> tuple[float, float, float, float]:
    """Sample quantile with a distribution-free order-statistic CI.

    Returns (estimate, se, lo, hi); se is the CI half-width / z.
    """
    x = np.sort(x[np.isfinite(x)])
    n = x.size
    if n == 0:
        return (math.nan,) * 4
    if level == 0.95:
        z = Z95
    else:
        from scipy.stats import norm

        z = float(norm.ppf(0.5 + level / 2))
    est = float(np.quantile(x, q))
    half = z * math.sqrt(n * q * (1 - q))
    lo = x[max(0, int(math.floor(n * q - half)) - 1)]
    hi = x[min(n - 1, int(math.ceil(n * q + half)))]
    return est, float((hi - lo) / (2 * z)), float(lo), float(hi)


def named_sums(measures, customers: float | None, rep_days: float | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-trial (numerator, denominator) sums over a role's reps and months behind :data:`NAMED_METRICS`.

    ``measures`` maps measure -> (T, R, 12) (only the role's named measures
    are looked up); ``customers`` is the book of existing customers of all
    the role's reps at the start of the year, ``rep_days`` the role's
    rep working days in the year (None: the role has no such measure).
    Sums of roles add up to their total's.
    """
    def tot(k):
        return measures[k].sum(axis=(1, 2))

    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if "market_share" in measures:
        out["market_share"] = (tot("revenue"), tot("market_size"))
    if "customers_lost" in measures and customers is not None:
        lost = tot("customers_lost")
        out["retention_rate"] = (customers - lost, np.full(lost.shape, float(customers)))
        out["customers_lost"] = (lost, np.ones(lost.shape))
    if "profit_after_discounts" in measures:
        pad = tot("profit_after_discounts")
        out["profit_after_discounts"] = (pad, np.ones(pad.shape))
    if "growth" in measures:
        out["growth_rate"] = (tot("revenue"), tot("base_revenue"))
    if "visits" in measures and rep_days is not None:
        v = tot("visits")
        out["visits_per_day"] = (v, np.full(v.shape, float(rep_days)))
    return out


def named_metrics(sums: dict[str, tuple[np.ndarray, np.ndarray]], names, T: int) -> dict[str, np.ndarray]:
    """The named metrics ``names`` per trial (T,) from :func:`named_sums` (NaN where a group has no such measure)."""
    out = {}
    for k in names:
        if k not in sums:
            out[k] = np.full(T, np.nan)
            continue
        num, den = sums[k]
        with np.errstate(invalid="ignore", divide="ignore"):
            v = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        out[k] = v - 1.0 if k == "growth_rate" else v
    return out


def pool_named(parts: list[dict[str, tuple[np.ndarray, np.ndarray]]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Several groups' :func:`named_sums` added up, measure by measure, over the groups that have it."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for p in parts:
        for k, (num, den) in p.items():
            if k not in out:
                out[k] = (num, den)
            else:  # a total (denominator one) stays a total
                out[k] = (out[k][0] + num, out[k][1] if k in _SUMMED else out[k][1] + den)
    return out


#: named metrics that are totals, not ratios (their denominator is one)
_SUMMED = ("customers_lost", "profit_after_discounts")

#: the money parts of :func:`named_sums` (numerator, denominator): converted between currencies, so that a
#: role's profit after discounts is in the reporting currency and pooled shares and growth weigh roles by money
NAMED_MONEY_PARTS: dict[str, tuple[bool, bool]] = {
    "market_share": (True, True), "profit_after_discounts": (True, False), "growth_rate": (True, True),
}


def named_sums_in_currency(sums: dict[str, tuple[np.ndarray, np.ndarray]],
                           rate: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A role's :func:`named_sums` with their money parts (:data:`NAMED_MONEY_PARTS`) times the trial's rate (T,)."""
    out = {}
    for k, (num, den) in sums.items():
        conv_num, conv_den = NAMED_MONEY_PARTS.get(k, (False, False))
        out[k] = (num * rate if conv_num else num, den * rate if conv_den else den)
    return out
