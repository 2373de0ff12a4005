"""Production: effort to measured results, one month at a time, by role (docs/model.md section 2).

Each rep-month the mean output of the role's main activity scales with effort
``e`` (1 = today's effort) as ``e**beta``, times ability, territory, season,
market, ramp and help received from teammates. A multitask ``focus`` (1 =
today's split) moves effort between the paid activity and its quality.
Counts are drawn by inverse CDF from the trial's uniforms so that a change in
effort moves outcomes smoothly under common random numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from simlib.model import compiled
from simlib.model.contracts import BASELINE, Controls, Policy
from simlib.model.population import KA_SIZE_DRAWS, RoleWorld, lognormal_mean_one, trial_tiles, year_array
from simlib.scenario import MEASURES, MONTHS, Role


def _beyond_drawn_large(n: np.ndarray, p) -> np.ndarray:
    """Large-order value of a month's deals beyond the drawn sizes (money).

    Deals past the :data:`KA_SIZE_DRAWS` drawn sizes are valued at the mean
    deal size, for revenue and for large orders alike: they count as large
    orders when the mean size is at or above the threshold.
    """
    if p.deal_size_mean < p.large_order_threshold:
        return np.zeros(n.shape)
    return np.maximum(n - KA_SIZE_DRAWS, 0) * p.deal_size_mean


def _satisfaction(p, z: np.ndarray) -> np.ndarray:
    """Key-account satisfaction ``clip(satisfaction + sd z, 0, 1)``, in a year array (:func:`bounded_score`)."""
    return bounded_score(p.satisfaction, p.satisfaction_sd, z)


def bounded_score(mean: float, sd: float, z: np.ndarray) -> np.ndarray:
    """A score at today's effort, ``clip(mean + sd z, 0, 1)``, in a year array (the same steps in place).

    With the compiled pass on, the three steps in one pass over each
    trial's row of draws (the same operations on each element).
    """
    out = year_array(z.shape)
    if z.ndim > 1 and z.size >= 4096 and compiled.enabled():
        T = z.shape[0]
        compiled.score_rows(compiled.rows(z.reshape(T, -1)), sd, mean, out.reshape(T, -1))
        return out
    np.multiply(sd, z, out=out)
    np.add(mean, out, out=out)
    return np.clip(out, 0.0, 1.0, out=out)


def poisson_inv(u: np.ndarray, lam: np.ndarray, kmax: int) -> np.ndarray:
    """Poisson(lam) quantile at u, truncated at kmax (vectorised inverse CDF).

    The count is the number of ``k`` in 1..kmax with ``u > F(k-1)``, the CDF
    summed term by term (``p_k = p_{k-1} lam / k``). As the CDF never
    decreases, an element is finished at its first ``u <= F``; only the
    unfinished elements are carried on (same arithmetic, fewer of them).
    """
    if np.size(lam) and np.max(lam) > POISSON_LARGE:
        return _poisson_inv_large(u, lam, kmax)
    shape = np.shape(u)
    if compiled.enabled() and np.shape(lam) == shape and np.ndim(u) > 1:  # the same count element by element
        # (exp in NumPy); each trial's draws are one contiguous row, read where they are (no copy: compiled.rows)
        lam2 = np.ascontiguousarray(lam).reshape(shape[0], -1)
        p2 = np.negative(lam2, out=year_array(lam2.shape))
        np.exp(p2, out=p2)
        out = year_array(shape)
        compiled.poisson_rows(compiled.rows(np.reshape(u, lam2.shape)), p2, lam2, kmax, out.reshape(lam2.shape))
        return out
    u = np.ravel(u)
    lam = np.ravel(np.broadcast_to(lam, shape))
    p = np.negative(lam)
    np.exp(p, out=p)
    if compiled.enabled():  # the same count element by element (exp above, in NumPy)
        out = np.empty(u.size)
        compiled.poisson_count(u, p, lam, kmax, out)
        return out.reshape(shape)
    cdf = p.copy()
    out = np.zeros(u.size)
    idx = None  # None: all elements still active, in their own positions
    for k in range(1, kmax + 1):
        more = u > cdf
        if idx is None:
            out += more
            if k == kmax:
                break
            n_more = np.count_nonzero(more)
            if n_more == 0:
                break
            if n_more <= more.size // 2:  # compact once most elements are done
                idx = np.flatnonzero(more)
                u, lam, p, cdf = u[idx], lam[idx], p[idx], cdf[idx]
        else:
            if not more.all():
                sel = np.flatnonzero(more)  # (integer gathers are much faster than boolean masks)
                idx, u, lam, p, cdf = idx[sel], u[sel], lam[sel], p[sel], cdf[sel]
                if idx.size == 0:
                    break
            out[idx] += 1.0
            if k == kmax:
                break
        p *= lam
        p /= k
        cdf += p
    return out.reshape(shape)


def count_kmax(rate: float, log_sd: float) -> int:
    """Truncation point of a Poisson count whose mean is ``rate`` times a mean-one lognormal multiplier of log-sd
    ``log_sd`` (and effort): 8 sd above the mean of a rep 6 log-sd up, plus 12, so never reached in practice.

    Partners opened (docs/model.md section 2, channel); a fixed cap (once 10 a rep-month) took from the Poisson
    mean, and from the revenue the flat quota expects, whenever ``partners_per_month`` was a few or more.
    """
    hi = rate * float(np.exp(6.0 * log_sd))
    return int(np.ceil(hi + 8.0 * np.sqrt(hi))) + 12


def run_kmax(lam: np.ndarray | float, kmax: int) -> int:
    """A count's truncation point ``kmax``, raised to :func:`count_kmax` of the largest mean in ``lam`` where that is
    higher: truncation points are sized from the role's spreads, and a roster's territories, a track record or a
    plan's effort can put a rep's mean far beyond them (docs/model.md section 6.2). Where no mean needs more, ``kmax``
    is unchanged, and so are the counts."""
    hi = float(np.max(lam)) if np.size(lam) else 0.0
    if not math.isfinite(hi) or hi <= 0.0:
        return kmax
    return max(kmax, count_kmax(hi, 0.0))


def trials_kmax(n: np.ndarray, kmax: int) -> int:
    """A binomial count's truncation point ``kmax``, raised to its largest number of trials ``n`` (deals counted with
    a truncation :func:`run_kmax` raised), so that every trial can count."""
    hi = float(np.max(n)) if np.size(n) else 0.0
    return max(kmax, int(hi)) if math.isfinite(hi) else kmax


def _poisson_inv_large(u: np.ndarray, lam: np.ndarray, kmax: int) -> np.ndarray:
    """:func:`poisson_inv` where some mean is above :data:`POISSON_LARGE`: those counts are SciPy's Poisson quantile
    (the term-by-term CDF would start at ``exp(-lam)`` = 0 and count to ``kmax``); the others as before."""
    from scipy.stats import poisson  # SciPy loads slowly: only for such means

    lam = np.broadcast_to(lam, np.shape(u))
    big = lam > POISSON_LARGE
    out = poisson_inv(u, np.where(big, 0.0, lam), kmax)
    uu = np.asarray(u)[big]
    out[big] = np.clip(poisson.ppf(uu, lam[big]), 0.0, kmax)
    return out


#: ``(1 - p)^n`` below this (``n log(1 - p)`` under about -690: past about 1,000 trials at p = 0.5) starts the
#: binomial's CDF in logs (:func:`binomial_inv`); above it, the pmf itself.
BINOMIAL_LOG_BELOW = 1e-300
#: a Poisson mean above which ``exp(-mean)`` is below :data:`BINOMIAL_LOG_BELOW` (about 690.8): its counts are taken
#: from SciPy's quantile (:func:`_poisson_inv_large`)
POISSON_LARGE = -math.log(BINOMIAL_LOG_BELOW)


def deals_kmax(role: Role) -> int:
    """Truncation of a key-account rep-month's deals (and new accounts among them): :func:`count_kmax` of twice the
    rate in the busiest month (room for market, effort and help) with ability and territory's log-sd.

    A fixed cap of 12 took from the Poisson mean, and from the revenue the flat quota expects, at a few deals a
    month or more (1.6% of the deals at 8 a month).
    """
    p = role.process_params()
    return count_kmax(2.0 * p.deals_per_month * max(role.season), float(np.hypot(role.ability_sd, role.territory_sd)))


def binomial_inv(u: np.ndarray, n: np.ndarray, p: float | np.ndarray, kmax: int) -> np.ndarray:
    """Binomial(n, p) quantile at u for small integer n <= kmax.

    The count of ``k`` in 0..kmax-1 with ``u > F(k)`` and ``k < n``; elements
    for which this has become false stay false (the CDF never decreases) and
    are dropped from the loop. Where ``(1 - p)^n`` is below
    :data:`BINOMIAL_LOG_BELOW` (it would underflow to 0, and every trial would
    count: all of a month's thousands of deals cancelling), the pmf is carried
    in logs (:func:`_binomial_inv_logs`).
    """
    p = np.clip(p, 1e-12, 1 - 1e-12)
    shape = np.shape(u)
    if compiled.enabled() and np.ndim(p) == 0 and np.shape(n) == shape and len(shape) > 1:
        out = _binomial_rows(u, n, p, kmax)
        if out is not None:
            return out
    u = np.ravel(u)
    n = np.ravel(np.broadcast_to(n, shape))
    out = np.zeros(u.size)
    idx = np.flatnonzero(0 < n)  # k = 0 needs k < n: the others stay 0
    u, n = u[idx], n[idx]
    if np.ndim(p):
        p = np.ravel(np.broadcast_to(p, shape))[idx]
    pmf = (1.0 - p) ** n
    tiny = pmf < BINOMIAL_LOG_BELOW
    if tiny.any():
        out[idx[tiny]] = _binomial_inv_logs(u[tiny], n[tiny], p[tiny] if np.ndim(p) else p, kmax)
        keep = np.flatnonzero(~tiny)
        idx, u, n, pmf = idx[keep], u[keep], n[keep], pmf[keep]
        if np.ndim(p):
            p = p[keep]
    if compiled.enabled():  # the same count element by element (the power above, in NumPy)
        got = np.empty(idx.size)
        compiled.binomial_count(u, n, pmf, np.broadcast_to(p, n.shape).astype(float), kmax, got)
        out[idx] = got
        return out.reshape(shape)
    cdf = pmf.copy()
    for k in range(0, kmax):
        more = (u > cdf) & (k < n)
        if not more.all():
            sel = np.flatnonzero(more)
            idx, u, n, pmf, cdf = idx[sel], u[sel], n[sel], pmf[sel], cdf[sel]
            if np.ndim(p):
                p = p[sel]
            if idx.size == 0:
                break
        out[idx] += 1.0
        pmf = pmf * np.maximum(n - k, 0) / (k + 1) * p / (1 - p)
        cdf = cdf + pmf
    return out.reshape(shape)


def _binomial_rows(u: np.ndarray, n: np.ndarray, p: np.float64, kmax: int) -> np.ndarray | None:
    """:func:`binomial_inv` of one probability by the compiled kernel, trial by trial in place, with ``(1 - p)^n``
    looked up in a table of ``(1 - p)^k`` for ``k = 0..kmax`` (NumPy's power of the same numbers: its result does not
    depend on where in an array a number is). None where it does not apply: a count that is not a whole number up
    to ``kmax``, or a ``(1 - p)^kmax`` the counts would take in logs."""
    pmf0 = (1.0 - p) ** np.arange(kmax + 1, dtype=float)
    if not pmf0.min() >= BINOMIAL_LOG_BELOW:
        return None
    T = u.shape[0]
    out = year_array(u.shape)
    ok = compiled.binomial_rows(compiled.rows(np.reshape(u, (T, -1))), np.ascontiguousarray(n, dtype=float).reshape(T, -1), pmf0,
                                float(p), kmax, out.reshape(T, -1))
    return out if ok else None


def _binomial_inv_logs(u: np.ndarray, n: np.ndarray, p: float | np.ndarray, kmax: int) -> np.ndarray:
    """:func:`binomial_inv` where ``(1 - p)^n`` underflows (thousands of trials or more): the same count, the
    smallest ``k`` with ``P(K <= k) >= u``, at most ``min(ceil(n), kmax)``, by bisection on the CDF
    ``P(K <= k) = I_{1-p}(n - k, k + 1)`` (the regularized incomplete beta function, SciPy's ``betainc``; defined
    for any real ``n > k``, as counts a behaviour model perturbs are; 1 from ``k >= n``).

    Summing the CDF term by term (in logs, each term once representable) took ``n p`` steps: 40,000 for a month
    of 190,000 units cancelling at 0.21, six seconds a pass; bisection takes ``log2(n)``.
    """
    from scipy.special import betainc  # SciPy loads slowly: only for such counts

    q = np.broadcast_to(1.0 - p, n.shape)
    lo = np.zeros(u.size)
    hi = np.minimum(np.ceil(n), float(kmax))  # the count is in [lo, hi]
    act = np.flatnonzero(lo < hi)
    while act.size:
        mid = np.floor(0.5 * (lo[act] + hi[act]))
        na = n[act]
        with np.errstate(invalid="ignore"):
            cdf = np.where(mid < na, betainc(na - mid, mid + 1.0, q[act]), 1.0)
        ok = cdf >= u[act]
        hi[act] = np.where(ok, mid, hi[act])
        lo[act] = np.where(ok, lo[act], mid + 1.0)
        act = act[lo[act] < hi[act]]
    return lo


def _normal_count(mean: np.ndarray, var: np.ndarray, z: np.ndarray, out: np.ndarray | None = None,
                  upper: np.ndarray | None = None) -> np.ndarray:
    """Normal approximation of a large count, rounded, non-negative, at most ``upper`` (``out`` may be ``var``)."""
    x = np.sqrt(var, out=out)  # every caller's variance is a product of non-negative factors
    x *= z
    x += mean
    np.rint(x, out=x)
    if upper is None:
        return np.maximum(0.0, x, out=x)
    return np.clip(x, 0.0, upper, out=x)  # min(max(x, 0), upper) by value (a -0.0 comes out +0.0)


def telesales_funnel(p, ability: np.ndarray, territory: np.ndarray, ramp: np.ndarray, demand: np.ndarray,
                     z: dict[str, np.ndarray], out: dict[str, np.ndarray], scratch: list[np.ndarray]) -> None:
    """Telesales calls -> leads -> conversions -> revenue at today's effort, for some trials, into ``out``.

    ``ability``, ``territory`` (T, R); ``ramp`` and the normals ``z`` (calls,
    leads, conv, deal) (T, R, 12); ``demand`` (T, 1, 12); ``out`` revenue,
    calls, leads, conversions and three ``scratch`` arrays (T, R, 12) are
    written. The steps are :meth:`RoleProcess._telesales`'s with the
    baseline's controls left out (``x * 1.0 == x``), in place where that
    saves a temporary (``a + b`` and ``a * b`` are commutative, exactly).
    """
    s0, s1, s2 = scratch
    mean = np.multiply((p.calls_per_month * ability)[..., None], ramp, out=s0)  # mean calls
    calls = _normal_count(mean, mean, z["calls"], out=out["calls"])
    lr = np.multiply((p.lead_rate * territory)[..., None], demand, out=s1)
    np.minimum(0.95, lr, out=lr)
    cl = np.multiply(calls, lr, out=s2)
    np.subtract(1.0, lr, out=lr)
    lr *= cl
    leads = _normal_count(cl, lr, z["leads"], out=out["leads"], upper=calls)
    cr = min(0.95, p.conversion_rate)
    lc = np.multiply(leads, cr, out=s0)
    conv = _normal_count(lc, np.multiply(lc, 1 - cr, out=s2), z["conv"], out=out["conversions"], upper=leads)
    revenue = np.maximum(conv, 1.0, out=out["revenue"])
    np.sqrt(revenue, out=revenue)
    np.divide(p.deal_value_cv, revenue, out=revenue)
    revenue *= z["deal"]
    revenue += 1.0
    np.maximum(0.0, revenue, out=revenue)
    revenue *= p.deal_value  # average deal value
    revenue *= conv


def won_sizes(sizes: np.ndarray, deals: np.ndarray, at_least: float | None = None) -> np.ndarray:
    """Sum of the drawn deal sizes (H, K) of the deals won, ``k < deals`` (H,), of those ``>= at_least`` if given.

    The sum of ``np.where(won, sizes, 0.0)`` along its last axis, bit for bit:
    NumPy adds a row shorter than 8 in turn, ``((s0 + s1) + s2) + s3``; adding
    whole columns in that order avoids its per-row overhead
    (``tests/test_fast_paths.py`` checks the two agree). Rows of 8 or more
    NumPy adds pairwise: they are summed its way.
    """
    if sizes.shape[-1] >= 8:
        won = np.arange(sizes.shape[-1]) < deals[:, None]
        if at_least is not None:
            won &= sizes >= at_least
        return np.sum(np.where(won, sizes, 0.0), axis=-1)
    out = None
    for k in range(sizes.shape[-1]):
        won = deals > k
        if at_least is not None:
            won &= sizes[:, k] >= at_least
        col = np.where(won, sizes[:, k], 0.0)
        out = col if out is None else np.add(out, col, out=out)
    return np.zeros(deals.shape) if out is None else out


def generic_noise(cv: float, z: np.ndarray) -> np.ndarray:
    """Mean-one lognormal factor with coefficient of variation ``cv``: ``exp(s z - s^2/2)``, ``s^2 = log(1 + cv^2)``."""
    s = np.sqrt(np.log1p(cv * cv))
    return np.exp(s * z - 0.5 * s * s)


def _split(c: Controls, share: float, elasticity: float, beta: float):
    """Activity output multiplier and quality multiplier from effort and focus.

    Activity effort ``e*s0*f`` relative to today ``s0`` gives ``(e f)**beta``;
    quality effort ``e (1 - s0 f)/(1 - s0)`` gives quality ``q**elasticity``.
    """
    e = np.asarray(c.effort, dtype=float)
    f = np.asarray(c.focus, dtype=float)
    act = (e * f) ** beta
    qual_effort = np.maximum(e * (1.0 - share * f) / (1.0 - share), 1e-9)
    return act, qual_effort**elasticity, e**beta


def expected_monthly_revenue(role: Role, growth: float) -> np.ndarray:
    """Mean revenue per month (12,) of a ramped average rep at today's effort and no shocks."""
    p = role.process_params()
    season = np.asarray(role.season) * (1.0 + growth)
    if role.process == "telesales":
        return p.calls_per_month * p.lead_rate * p.conversion_rate * p.deal_value * season
    if role.process == "key_account":
        return p.deals_per_month * p.deal_size_mean * season
    if role.process == "generic":
        return p.revenue_per_month * season
    m = np.arange(MONTHS)
    built = np.array([np.sum(1.0 - np.exp(-(k - np.arange(k)) / p.partner_ramp_months)) for k in m])
    return (p.existing_revenue_per_month + p.partners_per_month * p.partner_mature_revenue * built) * season


class YearMeasures(Mapping):
    """A role's measures for the year, each computed on first lookup and then kept.

    ``compute`` maps each measure to a function of this mapping (to look up
    the measures it is built from; holding the mapping in a closure instead
    would make a reference cycle that keeps a chunk's arrays alive until the
    garbage collector runs). Iterating (or ``dict(...)``) computes them all.
    Arrays are C-contiguous and must not be modified in place (they are
    shared by every plan of a run).
    """

    def __init__(self, compute: dict[str, Callable[[YearMeasures], np.ndarray]]):
        self._compute = compute
        self._done: dict[str, np.ndarray] = {}

    def __getitem__(self, key: str) -> np.ndarray:
        v = self._done.get(key)
        if v is None:
            if key not in self._compute:
                raise KeyError(key)
            v = self._done[key] = np.ascontiguousarray(self._compute[key](self))
        return v

    def __iter__(self):
        return iter(self._compute)

    def __len__(self) -> int:
        return len(self._compute)


def _once(fn: Callable[[YearMeasures], Any]) -> Callable[[YearMeasures], Any]:
    """``fn`` evaluated at most once (per year: each :meth:`RoleProcess.year` makes its own)."""
    box: list = []

    def call(m):
        if not box:
            box.append(fn(m))
        return box[0]

    return call


def _part(fn: Callable[[YearMeasures], dict], key: str) -> Callable[[YearMeasures], np.ndarray]:
    """One array of a computation that yields several; ``fn`` must be shared via :func:`_once`."""
    return lambda m: fn(m)[key]


class RoleProcess:
    """Runs one role's production month by month for a chunk of trials.

    ``step(m, controls)`` returns the month's measures, each (T, R); state such
    as the key-account pipeline and channel partner ramp is carried between
    months. Call months in order 0..11.
    """

    def __init__(self, world: RoleWorld):
        self.w = world
        self.p = world.role.process_params()
        self.beta = world.role.effort_elasticity
        T, R = world.shape
        self._past_effort: list[np.ndarray] = []
        self.named = NamedProcess(world) if world.role.measures is not None else None
        if world.role.process == "channel":
            self._n_cum = np.zeros((T, R))
            self._ramp_state = np.zeros((T, R))

    def step(self, m: int, c: Controls = BASELINE) -> dict[str, np.ndarray]:
        w = self.w
        demand = w.season[m] * w.market[:, m][:, None]  # (T, 1)
        proc = w.role.process
        if proc == "telesales":
            out = self._telesales(m, c, demand)
        elif proc == "key_account":
            out = self._key_account(m, c, demand)
        elif proc == "generic":
            out = self._generic(m, c, demand)
        else:
            out = self._channel(m, c, demand)
        if self.named is not None:  # the role's named measures of the month that depend on the controls
            e = np.asarray(c.effort, dtype=float)
            f = np.asarray(c.focus, dtype=float)
            _, q, _ = _split(c, self.p.activity_share, self.p.quality_elasticity, self.beta)
            out.update(self.named.step(m, e * f, q, c.mix))
        return out

    # -- today's effort all year: every month at once ------------------------------
    def year(self) -> YearMeasures:
        """The whole year at today's effort (``BASELINE`` controls every month).

        Returns a read-only mapping of each measure, (T, R, 12) C-contiguous,
        computed when first looked up (a plan that pays on revenue alone does
        not pay for milestones or talk time). The numbers equal stepping
        months 0..11 with :data:`BASELINE` bit for bit: the same per-element
        arithmetic, done on all months at once (multiplications by the
        baseline's exact 1.0 controls are left out; ``x * 1.0 == x``).
        Keep it in step with :meth:`step` (``tests/test_fast_paths.py``
        compares the two).
        """
        w = self.w
        demand = w.season * w.market[:, None, :]  # (T, 1, 12)
        proc = w.role.process
        if proc == "telesales":
            f = self._telesales_year(demand)
        elif proc == "key_account":
            f = self._key_account_year(demand)
        elif proc == "generic":
            f = self._generic_year(demand)
        else:
            f = self._channel_year(demand)
        if self.named is not None:
            f.update(self.named.year())
        return YearMeasures({k: f[k] for k in w.role.measure_kinds})

    def _telesales_year(self, demand: np.ndarray) -> dict[str, Callable[[YearMeasures], np.ndarray]]:
        """How each telesales measure of the year is computed: calls -> leads -> conversions -> revenue.

        Parameters
        ----------
        demand : ndarray (T, 1, 12)
            Season times market, each month's demand multiplier (mean about 1).

        Returns
        -------
        dict measure -> function of the :class:`YearMeasures`
            Each gives a (T, R, 12) array: calls, leads and conversions are
            counts per month; revenue is money per month; talk time is hours
            per month; conversion rate and record accuracy are fractions 0-1.
            The funnel's four measures are computed together, once.
        """
        w, p, d = self.w, self.p, self.w.draws
        ramp = w.ramp  # (T, R, 12)

        def funnel(m):
            # tile by tile of trials, in cache (every step is elementwise: the numbers do not depend on the tiling)
            out = {k: year_array(ramp.shape) for k in ("revenue", "calls", "leads", "conversions")}
            if compiled.enabled():  # the same steps element by element
                T = ramp.shape[0]
                z = [compiled.rows(d[k].reshape(T, -1)) for k in ("calls", "leads", "conv", "deal")]  # rows, in place
                compiled.telesales_year(p.calls_per_month * w.ability, p.lead_rate * w.territory, ramp, demand[:, 0, :],
                                        min(0.95, p.conversion_rate), *z, p.deal_value, p.deal_value_cv, out["calls"],
                                        out["leads"], out["conversions"], out["revenue"])
                return out
            tiles = trial_tiles(ramp.shape[0], ramp[0].size)
            n = tiles[0].stop - tiles[0].start
            scratch = [np.empty((n, *ramp.shape[1:])) for _ in range(3)]
            for sl in tiles:
                k = sl.stop - sl.start
                telesales_funnel(p, w.ability[sl], w.territory[sl], ramp[sl], demand[sl],
                                 {z: d[z][sl] for z in ("calls", "leads", "conv", "deal")},
                                 {z: v[sl] for z, v in out.items()}, [a[:k] for a in scratch])
            return out

        def rate(m):
            leads, conv = m["leads"], m["conversions"]
            r = np.maximum(leads, 1.0)
            np.divide(conv, r, out=r)
            np.copyto(r, 0.0, where=np.logical_not(leads > 0))
            return r

        def accuracy(m):
            return bounded_score(p.record_accuracy, p.record_accuracy_sd, d["accuracy"])

        shared = _once(funnel)
        f: dict[str, Callable[[YearMeasures], np.ndarray]] = {k: _part(shared, k) for k in ("revenue", "calls", "leads", "conversions")}
        f["talk_time"] = lambda m: np.divide(np.multiply(m["calls"], p.talk_minutes_per_call), 60.0)
        f["conversion_rate"] = rate
        f["record_accuracy"] = accuracy
        return f

    def _key_account_year(self, demand: np.ndarray) -> dict[str, Callable[[YearMeasures], np.ndarray]]:
        """How each key-account measure of the year is computed: deals, their sizes, and what follows from them.

        Parameters
        ----------
        demand : ndarray (T, 1, 12)
            Season times market, each month's demand multiplier (mean about 1).

        Returns
        -------
        dict measure -> function of the :class:`YearMeasures`
            Each gives a (T, R, 12) array: deals, new accounts and milestones
            are counts per month; revenue and large-order value are money per
            month; satisfaction is a fraction 0-1. Deal sizes are drawn once,
            only where a deal closed, and shared by revenue and large orders.
        """
        w, p, d = self.w, self.p, self.w.draws
        ramp = w.ramp  # (T, R, 12)

        def deals(m):
            lam = (p.deals_per_month * w.ability * w.territory)[..., None] * demand * ramp
            return poisson_inv(d["ndeals"], lam, run_kmax(lam, deals_kmax(w.role)))

        def sizes(m):
            # deal sizes only where a deal closed (elsewhere revenue and large orders are 0)
            n = m["deals"]
            s = p.deal_size_sd_log
            if compiled.enabled():  # the same gather and arithmetic (exp in NumPy), no index arrays
                T = n.shape[0]
                x = year_array((np.count_nonzero(n) + 1, KA_SIZE_DRAWS))  # a row to spare (deal_size_logs)
                compiled.deal_size_logs(n.reshape(T, -1), d["size"].reshape(T, -1, KA_SIZE_DRAWS), s, 0.5 * s * s, x)
                np.exp(x, out=x)
                x *= p.deal_size_mean
                return {"sizes": x}
            hit = np.flatnonzero(n > 0)
            T, R, M = n.shape
            zs = d["size"].reshape(T, R * M, KA_SIZE_DRAWS)[hit // (R * M), hit % (R * M)]  # (H, K)
            sz = p.deal_size_mean * np.exp(s * zs - 0.5 * s * s)
            return {"hit": hit, "sizes": sz, "deals": n.ravel()[hit]}

        def revenue(m):
            n, z = m["deals"], sized(m)
            if compiled.enabled():
                out = year_array(n.shape)
                compiled.deals_won(n.reshape(-1), z["sizes"], False, 0.0, p.deal_size_mean, out.reshape(-1))
                return out
            won_sum = np.zeros(n.size)
            won_sum[z["hit"]] = won_sizes(z["sizes"], z["deals"])
            return won_sum.reshape(n.shape) + np.maximum(n - KA_SIZE_DRAWS, 0) * p.deal_size_mean

        def large(m):
            n, z = m["deals"], sized(m)
            if compiled.enabled():
                out = year_array(n.shape)
                beyond = 0.0 if p.deal_size_mean < p.large_order_threshold else p.deal_size_mean
                compiled.deals_won(n.reshape(-1), z["sizes"], True, p.large_order_threshold, beyond, out.reshape(-1))
                return out
            out = np.zeros(n.size)
            out[z["hit"]] = won_sizes(z["sizes"], z["deals"], p.large_order_threshold)
            return out.reshape(n.shape) + _beyond_drawn_large(n, p)

        def milestones(m):
            mlam = (p.milestones_per_month * w.ability)[..., None] * ramp
            return poisson_inv(d["milestones"], mlam, run_kmax(mlam, 3 * int(p.milestones_per_month) + 12))

        sized = _once(sizes)
        return {
            "revenue": revenue,
            "large_order_value": large,
            "deals": deals,
            "new_accounts": lambda m: binomial_inv(d["newacc"], m["deals"], p.new_account_share,
                                                   trials_kmax(m["deals"], deals_kmax(w.role))),
            "milestones": milestones,
            "satisfaction": lambda m: _satisfaction(p, d["satisfaction"]),
        }

    def _channel_year(self, demand: np.ndarray) -> dict[str, Callable[[YearMeasures], np.ndarray]]:
        """How each channel measure of the year is computed: partners opened, their ramping revenue, existing revenue.

        Parameters
        ----------
        demand : ndarray (T, 1, 12)
            Season times market, each month's demand multiplier (mean about 1).

        Returns
        -------
        dict measure -> function of the :class:`YearMeasures`
            Each gives a (T, R, 12) array: partners opened is a count per
            month; revenue and new partners' revenue are money per month;
            partner satisfaction and policy adherence are fractions 0-1.
        """
        w, p, d = self.w, self.p, self.w.draws
        ramp = w.ramp  # (T, R, 12)

        def opened(m):
            lam = (p.partners_per_month * w.ability)[..., None] * ramp
            return poisson_inv(d["opened"], lam, run_kmax(lam, count_kmax(p.partners_per_month, w.role.ability_sd)))

        def both(m):  # partners' revenue and the total, together
            new_rev, rev = year_array(ramp.shape), year_array(ramp.shape)
            compiled.channel_year(m["partners_opened"], demand[:, 0, :], ramp,
                                  p.existing_revenue_per_month * w.territory * w.ability, d["revenue"], p.revenue_cv,
                                  p.partner_mature_revenue, np.exp(-1.0 / p.partner_ramp_months), new_rev, rev)
            return {"partner_revenue_new": new_rev, "revenue": rev}

        def new_revenue(m):
            op = m["partners_opened"]
            new_rev = np.empty(op.shape)
            n_cum = np.zeros(w.shape)
            ramp_state = np.zeros(w.shape)
            decay = np.exp(-1.0 / p.partner_ramp_months)
            for k in range(MONTHS):
                new_rev[:, :, k] = p.partner_mature_revenue * (n_cum - ramp_state) * demand[:, :, k]
                ramp_state = (ramp_state + op[:, :, k]) * decay
                n_cum = n_cum + op[:, :, k]
            return new_rev

        def revenue(m):
            base = (p.existing_revenue_per_month * w.territory * w.ability)[..., None] * demand * ramp
            existing = np.maximum(0.0, base * (1.0 + p.revenue_cv * d["revenue"]))
            return existing + m["partner_revenue_new"]

        if compiled.enabled():
            shared = _once(both)
            revenue, new_revenue = _part(shared, "revenue"), _part(shared, "partner_revenue_new")
        return {
            "revenue": revenue,
            "partners_opened": opened,
            "partner_revenue_new": new_revenue,
            "partner_satisfaction": lambda m: bounded_score(p.partner_satisfaction, p.partner_satisfaction_sd, d["psat"]),
            "policy_adherence": lambda m: bounded_score(p.policy_adherence, p.policy_adherence_sd, d["adherence"]),
        }

    def _generic_year(self, demand: np.ndarray) -> dict[str, Callable[[YearMeasures], np.ndarray]]:
        """How each measure of a generic role's year is computed: lognormal revenue, then units from it.

        Parameters
        ----------
        demand : ndarray (T, 1, 12)
            Season times market, each month's demand multiplier (mean about 1).

        Returns
        -------
        dict measure -> function of the :class:`YearMeasures`
            Revenue is money per month; units a count per month.
        """
        w, p, d = self.w, self.p, self.w.draws

        def revenue(m):
            mu = (p.revenue_per_month * w.ability * w.territory)[..., None] * demand * w.ramp
            return mu * generic_noise(p.revenue_cv, d["revenue"])

        def units(m):
            mean = m["revenue"] / p.revenue_per_unit
            return _normal_count(mean, mean, d["units"])

        return {"revenue": revenue, "units": units}

    # -- generic: lognormal revenue around its mean, units in proportion ------------
    def _generic(self, m, c, demand):
        w, p, d = self.w, self.p, self.w.draws
        act, _, _ = _split(c, p.activity_share, p.quality_elasticity, self.beta)
        mu = p.revenue_per_month * w.ability * w.territory * demand * w.ramp[:, :, m] * act * c.help_mult
        revenue = mu * generic_noise(p.revenue_cv, d["revenue"][:, :, m])
        mean = revenue / p.revenue_per_unit
        return {"revenue": revenue, "units": _normal_count(mean, mean, d["units"][:, :, m])}

    # -- telesales: calls -> leads -> conversions -> revenue ---------------------
    def _telesales(self, m, c, demand):
        w, p, d = self.w, self.p, self.w.draws
        act, q, _ = _split(c, p.activity_share, p.quality_elasticity, self.beta)
        cm = p.calls_per_month * w.ability * w.ramp[:, :, m] * act
        calls = _normal_count(cm, cm, d["calls"][:, :, m])
        lr = np.minimum(0.95, p.lead_rate * w.territory * demand)
        leads = _normal_count(calls * lr, calls * lr * (1 - lr), d["leads"][:, :, m], upper=calls)
        cr = np.minimum(0.95, p.conversion_rate * q * c.help_mult)
        conv = _normal_count(leads * cr, leads * cr * (1 - cr), d["conv"][:, :, m], upper=leads)
        avg = p.deal_value * np.maximum(0.0, 1.0 + p.deal_value_cv / np.sqrt(np.maximum(conv, 1.0)) * d["deal"][:, :, m])
        revenue = conv * avg
        acc = np.clip(p.record_accuracy * q + p.record_accuracy_sd * d["accuracy"][:, :, m], 0.0, 1.0)
        return {
            "revenue": revenue,
            "calls": calls,
            "talk_time": calls * p.talk_minutes_per_call / 60.0 * q,
            "leads": leads,
            "conversions": conv,
            "conversion_rate": np.where(leads > 0, conv / np.maximum(leads, 1.0), 0.0),
            "record_accuracy": acc,
        }

    # -- key account: compound Poisson of lumpy deals, pipeline lag ----------------
    def _key_account(self, m, c, demand):
        w, p, d = self.w, self.p, self.w.draws
        act, q, _ = _split(c, p.activity_share, p.quality_elasticity, self.beta)
        self._past_effort.append(np.broadcast_to(act, w.shape))
        lag = p.pipeline_lag_months
        act_lagged = self._past_effort[m - lag] if m >= lag else 1.0  # effort before the year: today's
        lam = p.deals_per_month * w.ability * w.territory * demand * w.ramp[:, :, m] * act_lagged * c.help_mult
        kmax = run_kmax(lam, deals_kmax(w.role))
        n = poisson_inv(d["ndeals"][:, :, m], lam, kmax)
        s = p.deal_size_sd_log
        sizes = p.deal_size_mean * np.exp(s * d["size"][:, :, m, :] - 0.5 * s * s)  # (T, R, K)
        k = np.arange(KA_SIZE_DRAWS)
        won = k < n[..., None]
        revenue = np.sum(np.where(won, sizes, 0.0), axis=-1) + np.maximum(n - KA_SIZE_DRAWS, 0) * p.deal_size_mean
        large = np.sum(np.where(won & (sizes >= p.large_order_threshold), sizes, 0.0), axis=-1) + _beyond_drawn_large(n, p)
        new = binomial_inv(d["newacc"][:, :, m], n, p.new_account_share, kmax)
        mlam = p.milestones_per_month * w.ability * w.ramp[:, :, m] * q
        miles = poisson_inv(d["milestones"][:, :, m], mlam, run_kmax(mlam, 3 * int(p.milestones_per_month) + 12))
        sat = np.clip(p.satisfaction * q + p.satisfaction_sd * d["satisfaction"][:, :, m], 0.0, 1.0)
        return {
            "revenue": revenue,
            "large_order_value": large,
            "deals": n,
            "new_accounts": new,
            "milestones": miles,
            "satisfaction": sat,
        }

    # -- channel: partners opened, each ramping; existing partner revenue ----------
    def _channel(self, m, c, demand):
        w, p, d = self.w, self.p, self.w.draws
        act, q, manage = _split(c, p.activity_share, p.quality_elasticity, self.beta)
        lam = p.partners_per_month * w.ability * w.ramp[:, :, m] * act
        opened = poisson_inv(d["opened"][:, :, m], lam, run_kmax(lam, count_kmax(p.partners_per_month, w.role.ability_sd)))
        # revenue of partners opened before this month: mature * sum_j n_j (1 - exp(-(m-j)/tau))
        new_rev = p.partner_mature_revenue * (self._n_cum - self._ramp_state) * demand
        decay = np.exp(-1.0 / p.partner_ramp_months)
        self._ramp_state = (self._ramp_state + opened) * decay
        self._n_cum = self._n_cum + opened
        base = p.existing_revenue_per_month * w.territory * w.ability * demand * w.ramp[:, :, m] * manage * c.help_mult
        existing = np.maximum(0.0, base * (1.0 + p.revenue_cv * d["revenue"][:, :, m]))
        psat = np.clip(p.partner_satisfaction * q + p.partner_satisfaction_sd * d["psat"][:, :, m], 0.0, 1.0)
        adh = np.clip(p.policy_adherence * q ** 0.5 + p.policy_adherence_sd * d["adherence"][:, :, m], 0.0, 1.0)
        return {
            "revenue": existing + new_rev,
            "partners_opened": opened,
            "partner_revenue_new": new_rev,
            "partner_satisfaction": psat,
            "policy_adherence": adh,
        }


def _kept(name: str) -> Callable[[SteppedYear, int | None], np.ndarray]:
    """A measure the months kept as it was stepped."""
    return lambda s, m: s._in(name, m)


#: each process's measures but revenue from what the months kept (:class:`SteppedYear`): name -> f(stepper, month),
#: month None for the whole year; the same per-element arithmetic as :meth:`RoleProcess.step`
_LATER: dict[str, dict[str, Callable[[SteppedYear, int | None], np.ndarray]]] = {
    "telesales": {
        "calls": _kept("calls"),
        "talk_time": lambda s, m: s._in("calls", m) * s.p.talk_minutes_per_call / 60.0 * s._in("q", m),
        "leads": _kept("leads"),
        "conversions": _kept("conversions"),
        "conversion_rate": lambda s, m: s._conversion_rate(m),
        "record_accuracy": lambda s, m: np.clip(s.p.record_accuracy * s._in("q", m)
                                                + s.p.record_accuracy_sd * s._z("accuracy", m), 0.0, 1.0),
    },
    "key_account": {
        "large_order_value": lambda s, m: s._large(m),
        "deals": _kept("deals"),
        "new_accounts": lambda s, m: binomial_inv(s._z("newacc", m), s._in("deals", m), s.p.new_account_share,
                                                  trials_kmax(s._in("deals", m), deals_kmax(s.w.role))),
        "milestones": lambda s, m: s._milestones(m),
        "satisfaction": lambda s, m: np.clip(s.p.satisfaction * s._in("q", m)
                                             + s.p.satisfaction_sd * s._z("satisfaction", m), 0.0, 1.0),
    },
    "channel": {
        "partners_opened": _kept("opened"),
        "partner_revenue_new": _kept("new_rev"),
        "partner_satisfaction": lambda s, m: np.clip(s.p.partner_satisfaction * s._in("q", m)
                                                     + s.p.partner_satisfaction_sd * s._z("psat", m), 0.0, 1.0),
        "policy_adherence": lambda s, m: np.clip(s.p.policy_adherence * s._in("q", m) ** 0.5
                                                 + s.p.policy_adherence_sd * s._z("adherence", m), 0.0, 1.0),
    },
}


def _full(x, shape: tuple[int, ...]) -> np.ndarray:
    """``x`` (a scalar or an array that broadcasts to ``shape``) as a writable float array of ``shape``, for a kernel."""
    if np.shape(x) == shape:
        return np.asarray(x, dtype=float)
    return np.full(shape, x, dtype=float) if np.ndim(x) == 0 else np.ascontiguousarray(np.broadcast_to(x, shape), dtype=float)


def stack_months(months: list[np.ndarray]) -> np.ndarray:
    """``np.stack(months, axis=-1)``: the months' (T, R) arrays as one C-contiguous (T, R, 12) array.

    Each month is copied into its place; several times faster than
    ``np.stack``, which goes through a concatenation of (T, R, 1) views.
    """
    first = np.asarray(months[0])
    out = np.empty((*first.shape, len(months)), dtype=np.result_type(*months))
    for m, a in enumerate(months):
        out[..., m] = a
    return out


def run_year(world: RoleWorld, policy: Policy | None = None) -> Mapping[str, np.ndarray]:
    """Simulate a role's year; returns each measure as (T, R, 12).

    ``policy(m, history) -> Controls`` (a :class:`simlib.model.contracts.Policy`)
    chooses this month's controls from the measures so far (a dict of lists
    of (T, R) arrays); ``None`` keeps today's effort everywhere.

    Timing: the policy's ``settle(m, history) -> (now, later)`` is called
    after month ``m`` is produced; ``now`` (T, R) is added to month
    ``m``'s revenue and ``later`` (T, R) to the revenue of the following months
    (a pull-in has ``now > 0`` and ``later < 0``: those deals do not close
    again). A negative carry is taken out of later months' revenue without
    making any month negative; what is left at year end wraps to the start of
    the year (steady state: last year's year-end pull-in is owed by this year),
    taken from January, then February, and so on, never below zero.

    A policy whose ``reads`` names the measures it reads (a frozenset) has
    only those stepped in the history; the year's other measures are
    computed when first looked up, the same numbers (:class:`SteppedYear`).
    """
    compiled.note_work(world.ramp.size)  # rep-months (the compiled pass's auto setting counts them)
    proc = RoleProcess(world)
    if policy is None:
        return proc.year()
    reads = getattr(policy, "reads", None)
    fast = SteppedYear(world, reads) if SteppedYear.fits(world, reads) else None
    names = MEASURES[world.role.process]
    if proc.named is not None:
        names = {**names, **dict.fromkeys(NamedProcess.STEPPED, "")}
        names = {k: v for k, v in names.items() if k in world.role.measure_kinds}
    hist: dict[str, list[np.ndarray]] = {k: [] for k in (names if fast is None else fast.stepped)}
    carry = None
    for m in range(MONTHS):
        c = policy(m, hist)
        out = proc.step(m, c) if fast is None else fast.step(m, c)
        if carry is not None:
            rev = out["revenue"] + np.maximum(carry, 0.0)
            take = owed_take(rev, np.maximum(-carry, 0.0))
            out["revenue"] = rev - take
            carry = np.minimum(np.minimum(carry, 0.0) + take, 0.0)
        for k in hist:
            hist[k].append(out[k])
        now, later = policy.settle(m, hist)
        if now is not None:
            hist["revenue"][m] = hist["revenue"][m] + now
            carry = later if carry is None else carry + later
    res = {k: stack_months(v) for k, v in hist.items()}
    if carry is not None:
        # steady state: what is still carried at year end wraps to the start of the
        # year (last year's year-end pull-in is owed by this year); owed deals come
        # out of January, then February, ..., never making a month negative
        rev = res["revenue"]
        rev[..., 0] += np.maximum(carry, 0.0)
        owed = np.maximum(-carry, 0.0)
        for m in range(MONTHS):
            take = owed_take(np.maximum(rev[..., m], 0.0), owed)
            rev[..., m] -= take
            owed = np.maximum(owed - take, 0.0)
    if fast is not None:  # the other measures from what the months kept, when first looked up
        return fast.year(res)
    if proc.named is not None:  # measures that follow from the year's revenue, once timing has moved it
        for k, fn in proc.named.derived().items():
            res[k] = fn(res)
    return res


def owed_take(rev: np.ndarray, owed: np.ndarray) -> np.ndarray:
    """What a month's revenue ``rev`` (>= 0) gives of revenue ``owed`` (>= 0) by earlier months: ``min(rev, owed)``,
    but all of ``rev`` where it exceeds ``owed`` by less than 1e-12 of itself.

    Deals booked early and owed back are summed in another order than they are
    taken, so a month that gives back the last of them can differ from what is
    owed in the last bits; that difference is rounding, not revenue (left in,
    a rep with no sales kept 6e-14 of it, and comp over revenue was 1e17).
    """
    return np.where(rev - owed <= 1e-12 * rev, rev, owed)


class SteppedYear:
    """A role's months under a policy that reads only some measures: :func:`run_year`'s fast path.

    A policy that says which measures it reads (``reads``, e.g. revenue and
    a SPIFF's count measure; :class:`simlib.model.contracts.PolicyBase`)
    needs only those month by month. :meth:`step` computes revenue and what
    production carries between months (the key-account pipeline, channel
    partners) with the arithmetic of :meth:`RoleProcess.step` (per-rep
    products that depend on neither the month nor the controls computed
    once; key-account deal sizes only where a deal closed); the other
    measures come from what the months kept (the step's counts, effort,
    focus and quality) by the same per-element arithmetic, on the whole
    year, when first looked up (:meth:`year`). The numbers equal stepping
    :meth:`RoleProcess.step` bit for bit (``tests/test_dynamic_fast.py``).
    Roles with named measures and generic roles take the full step.
    """

    #: processes with a fast path
    PROCESSES = ("telesales", "key_account", "channel")

    def __init__(self, world: RoleWorld, reads):
        self.w, self.p, self.beta = world, world.role.process_params(), world.role.effort_elasticity
        self.proc = world.role.process
        self.kept: dict[str, list[np.ndarray]] = {}  # what each month's step kept, by name
        self._stacked: dict[str, np.ndarray] = {}
        getattr(self, f"_{self.proc}_prepare")()
        # measure -> f(self, month or None); shared functions, so no reference cycle holds a chunk's arrays
        self.later = _LATER[self.proc]
        self.stepped = ["revenue", *(k for k in MEASURES[self.proc] if k in reads and k != "revenue")]

    @classmethod
    def fits(cls, world: RoleWorld, reads) -> bool:
        """Whether the fast path applies: a policy that names what it reads, a role without named measures."""
        return reads is not None and world.role.measures is None and world.role.process in cls.PROCESSES

    def step(self, m: int, c: Controls) -> dict[str, np.ndarray]:
        """Month ``m``'s revenue and the measures the policy reads, each (T, R)."""
        out = getattr(self, f"_{self.proc}")(m, c)
        for k in self.stepped[1:]:
            out[k] = self.later[k](self, m)
        return out

    def year(self, res: dict[str, np.ndarray]) -> YearMeasures:
        """The year's measures: those stepped (``res``, timing settled) and the others from what the months kept."""
        f: dict[str, Callable[[YearMeasures], np.ndarray]] = {}
        for k in MEASURES[self.proc]:
            f[k] = (lambda m, v=res[k]: v) if k in res else (lambda m, fn=self.later[k]: fn(self, None))
        return YearMeasures(f)

    # -- inputs of the measures computed from what the months kept -------------------
    def _keep(self, **arrays) -> None:
        for k, v in arrays.items():
            self.kept.setdefault(k, []).append(v if np.shape(v) == self.w.shape else np.broadcast_to(v, self.w.shape))

    def _in(self, key: str, m: int | None) -> np.ndarray:
        """Month ``m``'s kept ``key`` (T, R), or the year's (T, R, 12) when ``m`` is None."""
        if key == "q" and key not in self.kept:  # quality from the kept effort and focus, when first needed
            if m is not None:
                return self._quality(self.kept["e"][m], self.kept["f"][m])
            if key not in self._stacked:
                self._stacked[key] = self._quality(self._in("e", None), self._in("f", None))
            return self._stacked[key]
        if m is not None:
            return self.kept[key][m]
        if key not in self._stacked:
            self._stacked[key] = stack_months(self.kept[key])
        return self._stacked[key]

    def _z(self, key: str, m: int | None) -> np.ndarray:
        """The role's draws ``key``: month ``m``'s (T, R), or the year's (T, R, 12) when ``m`` is None."""
        z = self.w.draws[key]
        return z if m is None else z[:, :, m]

    def _demand(self, m: int) -> np.ndarray:
        """Month ``m``'s demand multiplier (T, 1), as :meth:`RoleProcess.step`'s."""
        return self.w.season[m] * self.w.market[:, m][:, None]

    def _ramped(self, base: np.ndarray, m: int | None) -> np.ndarray:
        """``base`` (T, R) times the ramp of month ``m`` (T, R), or of every month (T, R, 12)."""
        return base[..., None] * self.w.ramp if m is None else base * self.w.ramp[:, :, m]

    def _controls(self, c: Controls) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Effort, focus and :func:`_split`'s activity multiplier ``(e f)**beta``."""
        e = np.asarray(c.effort, dtype=float)
        f = np.asarray(c.focus, dtype=float)
        return e, f, (e if f.ndim == 0 and f == 1.0 else e * f) ** self.beta  # (e * 1.0 == e)

    def _quality(self, e: np.ndarray, f: np.ndarray) -> np.ndarray:
        """:func:`_split`'s quality multiplier, ``max(e (1 - s0 f) / (1 - s0), 1e-9)**elasticity``."""
        p = self.p
        return np.maximum(e * (1.0 - p.activity_share * f) / (1.0 - p.activity_share), 1e-9) ** p.quality_elasticity

    # -- telesales: calls -> leads -> conversions -> revenue (RoleProcess._telesales) --
    def _telesales_prepare(self) -> None:
        w, p = self.w, self.p
        self._calls_mean = p.calls_per_month * w.ability
        self._lr = p.lead_rate * w.territory

    def _telesales(self, m: int, c: Controls) -> dict[str, np.ndarray]:
        p, d = self.p, self.w.draws
        e, f, act = self._controls(c)
        q = self._quality(e, f)
        if compiled.enabled():
            return self._telesales_compiled(m, c, act, q)
        cm = self._ramped(self._calls_mean, m)
        cm *= act
        calls = _normal_count(cm, cm, d["calls"][:, :, m])
        lr = self._lr * self._demand(m)
        np.minimum(0.95, lr, out=lr)
        cl = calls * lr
        np.subtract(1, lr, out=lr)
        v = cl * lr
        leads = _normal_count(cl, v, d["leads"][:, :, m], out=v, upper=calls)
        cr = np.minimum(0.95, p.conversion_rate * q * c.help_mult)
        lc = leads * cr
        v = lc * (1 - cr)
        conv = _normal_count(lc, v, d["conv"][:, :, m], out=v, upper=leads)
        avg = np.maximum(conv, 1.0)  # deal_value * max(0, 1 + cv / sqrt(max(conv, 1)) * z), in place
        np.sqrt(avg, out=avg)
        np.divide(p.deal_value_cv, avg, out=avg)
        avg *= d["deal"][:, :, m]
        np.add(1.0, avg, out=avg)
        np.maximum(0.0, avg, out=avg)
        np.multiply(p.deal_value, avg, out=avg)
        self._keep(q=q, calls=calls, leads=leads, conversions=conv)
        return {"revenue": np.multiply(conv, avg, out=avg)}

    def _telesales_compiled(self, m: int, c: Controls, act, q) -> dict[str, np.ndarray]:
        """:meth:`_telesales`'s month by :func:`simlib.model.compiled.telesales_month` (``act``, ``q`` from NumPy)."""
        p, w, d = self.p, self.w, self.w.draws
        shape = w.shape
        calls, leads, conv, rev = (np.empty(shape) for _ in range(4))
        compiled.telesales_month(self._calls_mean, w.ramp[:, :, m], _full(act, shape), self._lr,
                                 w.season[m] * w.market[:, m], p.conversion_rate, _full(q, shape), _full(c.help_mult, shape),
                                 d["calls"][:, :, m], d["leads"][:, :, m], d["conv"][:, :, m], d["deal"][:, :, m],
                                 p.deal_value, p.deal_value_cv, calls, leads, conv, rev)
        self._keep(q=q, calls=calls, leads=leads, conversions=conv)
        return {"revenue": rev}

    def _conversion_rate(self, m: int | None) -> np.ndarray:
        leads = self._in("leads", m)
        return np.where(leads > 0, self._in("conversions", m) / np.maximum(leads, 1.0), 0.0)

    # -- key account: deals with the pipeline lag, sizes where a deal closed (RoleProcess._key_account) --
    def _key_account_prepare(self) -> None:
        w, p = self.w, self.p
        self._lam = p.deals_per_month * w.ability * w.territory
        self._won: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._mil = p.milestones_per_month * w.ability

    def _key_account(self, m: int, c: Controls) -> dict[str, np.ndarray]:
        w, p, d = self.w, self.p, self.w.draws
        e, f, act = self._controls(c)
        self._keep(act=act, e=e, f=f)
        lag = p.pipeline_lag_months
        lam = self._lam * self._demand(m)
        lam *= self.w.ramp[:, :, m]
        lam *= self.kept["act"][m - lag] if m >= lag else 1.0  # before the year: today's
        lam *= c.help_mult
        n = poisson_inv(d["ndeals"][:, :, m], lam, run_kmax(lam, deals_kmax(self.w.role)))
        T, R = w.shape
        K, s = KA_SIZE_DRAWS, p.deal_size_sd_log
        hit = np.flatnonzero(n > 0)  # deal sizes only where a deal closed (elsewhere revenue is 0)
        zs = d["size"][hit // R, hit % R, m]  # (hits, K): the draws are a view with the trials' stride
        sizes = p.deal_size_mean * np.exp(s * zs - 0.5 * s * s)
        won = np.arange(K) < n.ravel()[hit][:, None]
        rev = np.zeros(T * R)
        rev[hit] = np.sum(np.where(won, sizes, 0.0), axis=-1)
        self._won.append((hit, sizes, won))
        self._keep(deals=n)
        return {"revenue": rev.reshape(T, R) + np.maximum(n - K, 0) * p.deal_size_mean}

    def _milestones(self, m: int | None) -> np.ndarray:
        """Milestones of month ``m`` (None: the year), as :meth:`RoleProcess._key_account` counts them."""
        lam = self._ramped(self._mil, m) * self._in("q", m)
        return poisson_inv(self._z("milestones", m), lam, run_kmax(lam, 3 * int(self.p.milestones_per_month) + 12))

    def _large(self, m: int | None) -> np.ndarray:
        if m is None:
            return stack_months([self._large(k) for k in range(MONTHS)])
        hit, sizes, won = self._won[m]
        n = self.kept["deals"][m]
        out = np.zeros(n.size)
        out[hit] = np.sum(np.where(won & (sizes >= self.p.large_order_threshold), sizes, 0.0), axis=-1)
        return out.reshape(n.shape) + _beyond_drawn_large(n, self.p)

    # -- channel: partners opened and ramping, existing partners' revenue (RoleProcess._channel) --
    def _channel_prepare(self) -> None:
        w, p = self.w, self.p
        self._open_mean = p.partners_per_month * w.ability
        self._base = p.existing_revenue_per_month * w.territory * w.ability
        self._n_cum, self._ramp_state = np.zeros(w.shape), np.zeros(w.shape)

    def _channel(self, m: int, c: Controls) -> dict[str, np.ndarray]:
        p, d = self.p, self.w.draws
        e, f, act = self._controls(c)
        manage = e**self.beta
        lam = self._ramped(self._open_mean, m)
        lam *= act
        opened = poisson_inv(d["opened"][:, :, m], lam, run_kmax(lam, count_kmax(p.partners_per_month, self.w.role.ability_sd)))
        # revenue of partners opened before this month: mature * sum_j n_j (1 - exp(-(m-j)/tau))
        demand = self._demand(m)
        new_rev = p.partner_mature_revenue * (self._n_cum - self._ramp_state) * demand
        decay = np.exp(-1.0 / p.partner_ramp_months)
        self._ramp_state = (self._ramp_state + opened) * decay
        self._n_cum = self._n_cum + opened
        base = self._base * demand
        base *= self.w.ramp[:, :, m]
        base *= manage
        base *= c.help_mult
        noise = p.revenue_cv * d["revenue"][:, :, m]
        np.add(1.0, noise, out=noise)
        base *= noise
        existing = np.maximum(0.0, base, out=base)
        self._keep(e=e, f=f, opened=opened, new_rev=new_rev)
        return {"revenue": existing + new_rev}


class NamedProcess:
    """A role's named measures (``role.measures``; docs/model.md section 2, named measures) for a chunk of trials.

    Two kinds: those the month's controls move (``STEPPED``: visits, the
    churn of the customer book, the discount given) come from :meth:`step`
    month by month, carrying the book between months; those that follow
    from the year's revenue (market share, growth, profit after discounts,
    revenue by segment) come from :meth:`derived` once the year's revenue is
    final. :meth:`year` gives both at today's effort, the same numbers as
    stepping with :data:`BASELINE` (``x * 1.0 == x``, ``1.0 ** k == 1.0``).
    """

    #: the measures :meth:`step` yields, when the role has them
    STEPPED = ("visits", "customers_lost", "retention", "discount_rate")

    def __init__(self, world: RoleWorld):
        self.w = world
        self.nm = world.role.measures
        self.mix: np.ndarray | None = None  # the segments' tilt the controls asked for (None: today's mix)
        if self.nm.retention is not None:
            self._book = np.full(world.shape, float(self.nm.retention.customers))

    def step(self, m: int, ef, q, mix: tuple[float, ...] | None = None) -> dict[str, np.ndarray]:
        """Month ``m``'s stepped measures, each (T, R), at activity effort ``ef`` (effort x focus) and quality ``q``.

        ``mix`` (the controls' tilt of the revenue segments) is kept for
        :meth:`derived`.
        """
        nm, d, out = self.nm, self.w.draws, {}
        if mix is not None:
            self.mix = np.asarray(mix, dtype=float)
        if nm.visits is not None:
            out["visits"] = self._visits(self.w.ramp[:, :, m], ef, d["visits"][:, :, m])
        if nm.retention is not None:
            lost, kept = self._churn(self._book, q, d["churn"][:, :, m])
            self._book = self._book - lost
            out["customers_lost"], out["retention"] = lost, kept
        if nm.profit_after_discounts is not None:
            out["discount_rate"] = self._discount(q, d["discount"][:, :, m])
        return out

    def year(self) -> dict[str, Callable[[YearMeasures], np.ndarray]]:
        """Every named measure of the year at today's effort, as :meth:`RoleProcess.year` computes its own."""
        nm, w, d = self.nm, self.w, self.w.draws
        f: dict[str, Callable[[YearMeasures], np.ndarray]] = {}
        if nm.visits is not None:
            f["visits"] = lambda m: self._visits(w.ramp, 1.0, d["visits"])
        if nm.retention is not None:
            book = _once(self._book_year)
            f["customers_lost"] = _part(book, "customers_lost")
            f["retention"] = _part(book, "retention")
        if nm.profit_after_discounts is not None:
            f["discount_rate"] = lambda m: self._discount(1.0, d["discount"])
        f.update(self.derived())
        return f

    def _book_year(self, m) -> dict[str, np.ndarray]:
        """Customers lost and retention of the 12 months at today's care, (T, R, 12) each."""
        book = np.full(self.w.shape, float(self.nm.retention.customers))
        lost, kept = np.empty((*self.w.shape, MONTHS)), np.empty((*self.w.shape, MONTHS))
        for k in range(MONTHS):
            lost[..., k], kept[..., k] = self._churn(book, 1.0, self.w.draws["churn"][:, :, k])
            book = book - lost[..., k]
        return {"customers_lost": lost, "retention": kept}

    def _visits(self, ramp, ef, z):
        """Visits: ``per_day x working_days x ability x ramp x ef**elasticity``, a Poisson-like count (normal approximation)."""
        v = self.nm.visits
        mean = (v.per_day * v.working_days * self.w.ability)[..., None] * ramp if np.ndim(ramp) == 3 \
            else v.per_day * v.working_days * self.w.ability * ramp
        mean = mean * np.power(ef, v.elasticity)
        return _normal_count(mean, mean, z)

    def _churn(self, book, q, u):
        """Customers lost from ``book`` in a month (binomial, hazard ``churn x q**-quality_effect``) and the
        month's retention, annualised against the year's opening book ``N0``: ``1 - 12 lost / N0``.

        A period's mean is ``1 - (lost in the period) / N0`` annualised; the
        year's is the usual annual retention rate, ``1 - lost / N0``.
        """
        r = self.nm.retention
        h = np.minimum(r.churn * np.power(q, -r.quality_effect), 1.0)
        lost = binomial_inv(u, book, h, r.customers)
        return lost, 1.0 - lost * (MONTHS / r.customers)

    def _discount(self, q, z):
        """Discount off list price: ``discount x q**-quality_effect`` x a mean-one lognormal, within [0, 0.9]."""
        p = self.nm.profit_after_discounts
        return np.clip(p.discount * np.power(q, -p.quality_effect) * generic_noise(p.discount_cv, z), 0.0, 0.9)

    def derived(self) -> dict[str, Callable[[Mapping[str, np.ndarray]], np.ndarray]]:
        """The measures that follow from the year's revenue (and the stepped measures), each (T, R, 12)."""
        nm, w, d = self.nm, self.w, self.w.draws
        role = w.role
        E0 = float(np.sum(expected_monthly_revenue(role, 0.0)))  # today's revenue of a ramped rep, no growth
        f: dict[str, Callable[[Mapping[str, np.ndarray]], np.ndarray]] = {}
        if nm.market_share is not None:
            ms = nm.market_share

            def size(m):
                demand = w.season * w.market[:, None, :]
                return (E0 / MONTHS / ms.share * w.territory)[..., None] * demand * generic_noise(ms.size_cv, d["market_size"])

            f["market_size"] = size
            f["market_share"] = lambda m: m["revenue"] / m["market_size"]
        if nm.growth is not None:

            def base(m):
                ly = E0 * w.ability * w.territory * lognormal_mean_one(role.last_year_sd, d["last_year"])
                return np.where(w.new_hire, ly * w.ramp_mean, ly)

            f["base_revenue"] = lambda m: base(m)[..., None] * (w.season / MONTHS)
            f["growth"] = lambda m: m["revenue"] / np.maximum(base(m), 1e-9)[..., None]
        if nm.profit_after_discounts is not None:
            cost = (1.0 - role.gross_margin) * (1.0 - nm.profit_after_discounts.discount)
            f["profit_after_discounts"] = lambda m: m["revenue"] * (1.0 - cost / (1.0 - m["discount_rate"]))
        if nm.segments is not None:
            seg = nm.segments
            names = list(seg.shares)
            shares = np.array([seg.shares[k] for k in names])
            if self.mix is not None:  # selling moved between segments (the tilt keeps sum w t = 1)
                shares = shares * self.mix
            mix = _once(lambda m: _segment_mix(shares, seg.cv, d["segments"]))
            for i, k in enumerate(names):
                f[f"revenue_{k}"] = _segment_revenue(mix, i)
        return f


def _segment_revenue(mix: Callable[[Mapping[str, np.ndarray]], np.ndarray],
                     i: int) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
    """Segment ``i``'s revenue: the month's revenue times its share of the mix."""
    return lambda m: m["revenue"] * mix(m)[..., i]


def _segment_mix(shares: np.ndarray, cv: float, z: np.ndarray) -> np.ndarray:
    """Each rep-month's segment shares (T, R, 12, S): ``shares`` times mean-one lognormals, renormalised to sum 1."""
    x = shares * generic_noise(cv, z)
    return x / x.sum(axis=-1, keepdims=True)


#: the count of deals a role's cancellation process cancels, by process (channel has none)
DEAL_MEASURE = {"telesales": "conversions", "key_account": "deals", "generic": "units"}


@dataclass(frozen=True)
class Cancellations:
    """Deals of a year that later cancel (docs/model.md section 3, clawbacks).

    Attributes
    ----------
    revenue : (T, R, 12) revenue booked in each month whose deals later cancel, money.
    delay : (T, R, 12) months after booking that month's cancelled deals cancel (1 or more).
    """

    revenue: np.ndarray
    delay: np.ndarray


def cancellations(world: RoleWorld, measures: Mapping[str, np.ndarray]) -> Cancellations | None:
    """The role's cancelled deals from its appended draws, or None without a cancellation process.

    In each rep-month, of the ``n`` deals booked (:data:`DEAL_MEASURE`),
    ``k ~ Binomial(n, cancel_rate)`` cancel (inverse CDF at the draw
    ``cancel``), taking ``k / n`` of the month's revenue (deals of the month's
    mean size); they cancel ``1 + floor(u W)`` months after booking (``u`` the
    draw ``cancel_when``, ``W`` = ``cancel_window_months``).
    """
    p = world.role.process_params()
    rate = getattr(p, "cancel_rate", None)
    if rate is None or "cancel" not in world.draws:
        return None
    n = np.asarray(measures[DEAL_MEASURE[world.role.process]])
    if rate <= 0 or not n.size:
        k = np.zeros(n.shape)
    else:
        k = binomial_inv(world.draws["cancel"], n, rate, max(int(n.max()), 1))
    share = np.where(n > 0, k / np.maximum(n, 1.0), 0.0)
    W = p.cancel_window
    delay = 1 + np.minimum(np.floor(world.draws["cancel_when"] * W), W - 1).astype(np.intp)
    return Cancellations(revenue=np.asarray(measures["revenue"]) * share, delay=delay)
