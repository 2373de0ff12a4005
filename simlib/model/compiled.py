"""Compiled kernels (numba) for the model's hot elementwise work (docs/model.md section 5, the compiled pass).

The NumPy code in :mod:`.production` is the model and the oracle: each
kernel here does the same per-element arithmetic in the same order, so the
numbers are the same to the last bit (``tests/test_compiled.py`` runs every
shipped scenario both ways). Only arithmetic (``+ - * /``, ``sqrt``, ``rint``,
``floor``, comparisons, table lookups, integer counting) is compiled:
``exp``, ``log`` and ``pow`` stay in NumPy, computed in bulk before a
kernel is called and passed in as arrays, as NumPy's vectorised
implementations of those differ from the compiled ones in the last bit on a
few percent of inputs. No ``fastmath`` (it would reorder and contract), no
``parallel``. Kernels release the GIL while they run (``nogil=True``), so
that a serial run's drawing thread (:class:`simlib.engine.core.DrawAhead`)
draws the next chunk meanwhile. numba's cache index does not hold that
flag: a kernel compiled without it is recompiled because its module's
source changed (the cache is kept per source file's size and time).

numba is imported when a kernel is first needed, not when simlib is
imported; kernels are compiled once per signature and cached on disk
(``cache=True``, in ``__pycache__`` beside this file or numba's user cache
when that is read-only; without any writable cache they are compiled in
memory). Importing numba and loading the cached kernels costs a process
about half a second, which a small run does not win back, so by default
(``auto``) a process turns the compiled pass on once it has simulated
:data:`AUTO_AFTER` rep-months on the NumPy path (or numba is already
imported): a sweep, an optimisation or a large run, not ``simlib run
--help`` or a quick look. The environment variable ``SIMLIB_COMPILED``
sets it: ``1`` always on (when numba can be imported), ``0`` always off
(the NumPy path), unset or ``auto`` as above; :func:`use` sets it for the
process. :func:`enabled` says whether it is on; the numbers are the same
either way.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np

#: the environment variable that sets the compiled pass: ``1`` on, ``0`` off (the NumPy path), ``auto`` (unset)
ENV = "SIMLIB_COMPILED"
#: rep-months a process simulates on the NumPy path before ``auto`` turns the compiled pass on (where the
#: half second of importing numba and loading the kernels is about won back, at ~30 ns a rep-month)
AUTO_AFTER = 20_000_000
_ON, _OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off")

_NUMBA: list[Any] = []  # [numba module or None] once an import was tried
_HELPERS: list[Callable] = []  # functions kernels call, compiled (and bound in their module) with numba's import
_MODE: list[str | None] = [None]  # this process's setting (use), over the environment's
_WORK = [0]  # rep-months simulated by this process (note_work)


def mode() -> str:
    """The setting in force: ``"on"``, ``"off"`` or ``"auto"`` (:func:`use`, else ``SIMLIB_COMPILED``)."""
    v = (_MODE[0] if _MODE[0] is not None else os.environ.get(ENV, "auto")).strip().lower()
    return "on" if v in _ON else "off" if v in _OFF else "auto"


def use(on: bool | None) -> None:
    """Set the compiled pass for this process: on (True), off (False), or back to ``SIMLIB_COMPILED`` (None)."""
    _MODE[0] = None if on is None else ("1" if on else "0")


def note_work(rep_months: int) -> None:
    """Count rep-months simulated by this process (``auto`` turns the compiled pass on past :data:`AUTO_AFTER`)."""
    _WORK[0] += int(rep_months)


def enabled() -> bool:
    """Whether the compiled pass is on now (see :func:`mode`); imports numba when it turns on."""
    m = mode()
    if m == "off" or (m == "auto" and not _NUMBA and _WORK[0] < AUTO_AFTER):
        return False
    return _numba() is not None


def _numba():
    """The numba module, imported on first use (None when it cannot be imported); its helpers bound."""
    if not _NUMBA:
        try:
            import numba
        except Exception:  # not installed, or broken against this NumPy: the NumPy path
            numba = None
        _NUMBA.append(numba)
        if numba is not None:
            for fn in _HELPERS:  # a kernel resolves the helpers it calls from its module's globals
                fn.__globals__[fn.__name__] = jit(numba, fn)
    return _NUMBA[0]


def jit(numba, fn: Callable) -> Callable:
    """``numba.njit(cache=True, nogil=True)(fn)`` (no GIL held while it runs); in memory when no cache is writable."""
    try:
        return numba.njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available": a read-only install
        return numba.njit(fn, nogil=True)


class Kernel:
    """A function compiled with numba when first called (numba imported then); see :func:`enabled`."""

    def __init__(self, fn: Callable):
        self.fn = fn
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__
        self._compiled: Callable | None = None

    def __call__(self, *args):
        if self._compiled is None:
            numba = _numba()
            if numba is None:
                raise RuntimeError("numba is not available: check simlib.model.compiled.enabled() first")
            self._compiled = jit(numba, self.fn)
        return self._compiled(*args)


def kernel(fn: Callable) -> Kernel:
    """Decorator: ``fn`` becomes a :class:`Kernel`, compiled on first call."""
    return Kernel(fn)


def helper(fn: Callable) -> Callable:
    """Decorator: a function kernels call; compiled and bound in its module when numba is imported
    (at once when it already is: a module of kernels imported after the first kernel ran)."""
    _HELPERS.append(fn)
    numba = _NUMBA[0] if _NUMBA else None
    return fn if numba is None else jit(numba, fn)


def rows(x: np.ndarray) -> tuple[np.ndarray, int, int]:
    """A 2-D float64 array ``(T, n)`` whose rows are each contiguous, as ``(flat, start, stride)`` for :func:`row`.

    ``flat`` is the one-dimensional, C-contiguous memory that holds it (the
    draw buffer whose rows a chunk's draws are a block of columns of),
    ``start`` the index of ``x[0, 0]`` in it and ``stride`` the distance
    between rows, so a kernel reads each trial's row where it is, as a
    contiguous slice it vectorises over (a row of a non-contiguous
    2-D array is compiled for any stride, element by element), without a
    copy. Any other array is copied first (C order).
    """
    if x.ndim == 2 and x.dtype == np.float64 and x.shape[0] and x.shape[1] and x.strides[1] == 8 \
            and x.strides[0] % 8 == 0 and x.strides[0] >= 0:
        owner = x if x.base is None else x.base
        if isinstance(owner, np.ndarray) and owner.dtype == np.float64 and owner.flags.c_contiguous:
            off = x.__array_interface__["data"][0] - owner.__array_interface__["data"][0]
            start, stride = off // 8, x.strides[0] // 8
            if off >= 0 and off % 8 == 0 and start + (x.shape[0] - 1) * stride + x.shape[1] <= owner.size:
                return owner.reshape(-1), start, stride
    c = np.ascontiguousarray(x, dtype=np.float64)
    return c.reshape(-1), 0, c.shape[-1]


# -- NumPy's elementwise semantics, scalar by scalar -----------------------------------------------
# Written as one comparison and a select, so that loops of them vectorise (an explicit NaN test does not).


@helper
def row(x, t, n):
    """Row ``t`` (``n`` numbers) of a :func:`rows` triple ``(flat, start, stride)``: a contiguous slice, no copy."""
    flat, start, stride = x
    a = start + t * stride
    return flat[a : a + n]


@helper
def maximum(a, b):
    """``np.maximum(a, b)`` for an ``a`` that is not NaN (a constant): ``a`` if ``a > b``, else ``b`` (NaN kept)."""
    return a if a > b else b


@helper
def minimum(a, b):
    """``np.minimum(a, b)`` for an ``a`` that is not NaN (a constant): ``a`` if ``a < b``, else ``b`` (NaN kept)."""
    return a if a < b else b


@helper
def clip(x, lo, hi):
    """``np.clip(x, lo, hi)``, ``min(max(x, lo), hi)`` by value (a -0.0 at ``lo = 0`` comes out +0.0).

    NaN ``x`` is kept; ``lo`` and ``hi`` must not be NaN unless ``x`` is (as
    where a count is bounded by the count it was drawn from).
    """
    y = lo if lo >= x else x
    return hi if hi <= y else y


@helper
def normal_count(mean, var, z):
    """:func:`simlib.model.production._normal_count` of one element, no upper bound."""
    x = math.sqrt(var) * z + mean
    return maximum(0.0, np.rint(x))


@helper
def normal_count_upto(mean, var, z, upper):
    """:func:`simlib.model.production._normal_count` of one element, at most ``upper``."""
    x = math.sqrt(var) * z + mean
    return clip(np.rint(x), 0.0, upper)


@helper
def deal_revenue(conv, z, deal_value, cv):
    """Revenue of ``conv`` telesales deals: ``conv x deal_value x max(0, 1 + cv / sqrt(max(conv, 1)) z)``."""
    avg = cv / math.sqrt(maximum(1.0, conv))  # np.maximum(conv, 1.0): the same value, a NaN kept
    avg = maximum(0.0, 1.0 + avg * z)
    return conv * (deal_value * avg)


# -- kernels ---------------------------------------------------------------------------------------


@kernel
def poisson_count(u, p0, lam, kmax, out):
    """:func:`simlib.model.production.poisson_inv` from ``p0 = exp(-lam)``, flat arrays, into ``out``.

    The count of ``k`` in 1..kmax with ``u > F(k-1)``, the CDF summed term
    by term (``p_k = p_{k-1} lam / k``); the CDF never decreases, so an
    element is finished at its first ``u <= F`` (:func:`poisson_fill`).
    """
    poisson_fill(u, p0, lam, kmax, out)


@kernel
def poisson_rows(u, p0, lam, kmax, out):
    """:func:`poisson_count` on (T, N) arrays: ``u`` a :func:`rows` triple (each trial's row of uniforms read
    where it is, in the draw buffer), the others C-contiguous."""
    for t in range(out.shape[0]):
        poisson_fill(row(u, t, out.shape[1]), p0[t], lam[t], kmax, out[t])


@helper
def poisson_steps(lam, kmax):
    """How many terms :func:`poisson_fill` sums for every element: past the mean of ``lam`` by about two
    standard deviations (few elements need more), at most ``kmax``. Any number gives the same counts."""
    s = 0.0
    for i in range(lam.size):
        s += lam[i]
    m = s / max(lam.size, 1)
    k = 2
    while k < kmax and k < m + 2.0 * math.sqrt(m) + 1.0:  # (a NaN mean keeps 2)
        k += 1
    return min(k, kmax)


@helper
def poisson_fill(u, p0, lam, kmax, out):
    """:func:`poisson_count`'s loop over 1-D arrays.

    Every element takes the first ``K`` terms (:func:`poisson_first`,
    ``K`` from :func:`poisson_steps`, rounded up to a number the loop is
    compiled for) without a branch on its value; any ``K`` gives the same
    counts.
    """
    K = poisson_steps(lam, kmax)
    if K <= 3 <= kmax:  # a constant number of terms: the loop over them unrolled
        poisson_first(u, p0, lam, kmax, out, 3)
    elif K <= 4 <= kmax:
        poisson_first(u, p0, lam, kmax, out, 4)
    elif K <= 6 <= kmax:
        poisson_first(u, p0, lam, kmax, out, 6)
    else:
        poisson_first(u, p0, lam, kmax, out, K)


@helper
def poisson_first(u, p0, lam, kmax, out, K):
    """:func:`poisson_fill` with ``K`` terms (at most ``kmax``) for every element.

    A term counts while ``u > F`` has held at every term so far (once false
    it stays false: the CDF never decreases, and a NaN compares false). An
    element still counting after ``K`` terms (rare: its count is ``K``) is
    counted again from its start by :func:`poisson_at`, in a second loop:
    the same terms in the same order, so the same count as summing term by
    term until ``u <= F``. (Kept out of the first loop, that call would stop
    the compiler vectorising it, about four times slower.)
    """
    for i in range(u.size):
        ui, li = u[i], lam[i]
        p = p0[i]
        cdf = p
        go = True
        c = 0.0
        for k in range(1, K + 1):
            go = go & (ui > cdf)
            c += 1.0 if go else 0.0
            p = p * li
            p = p / k
            cdf = cdf + p
        out[i] = c
    if K < kmax:
        for i in range(u.size):
            if out[i] == K:  # every term counted: go on term by term
                out[i] = poisson_at(u[i], p0[i], lam[i], kmax)


@helper
def poisson_at(u, p, lam, kmax):
    """The Poisson count at ``u`` from ``p = exp(-lam)``, term by term until ``u <= F`` (or ``kmax``)."""
    cdf = p
    c = 0.0
    for k in range(1, kmax + 1):
        if not u > cdf:
            break
        c += 1.0
        if k == kmax:
            break
        p = p * lam
        p = p / k
        cdf = cdf + p
    return c


@helper
def funnel_row(cm, lr, cr, zc, zl, zv, zd, deal_value, cv, calls, leads, conv, revenue):
    """The telesales funnel on contiguous 1-D rows: mean calls ``cm``, capped lead rate ``lr``, conversion rate ``cr``.

    ``cr`` is a row too; the order of operations is :func:`simlib.model.production.telesales_funnel`'s.
    """
    for i in range(cm.size):
        m = cm[i]
        c = normal_count(m, m, zc[i])
        cl = c * lr[i]
        ld = normal_count_upto(cl, (1.0 - lr[i]) * cl, zl[i], c)
        lc = ld * cr[i]
        cv_ = normal_count_upto(lc, lc * (1.0 - cr[i]), zv[i], ld)
        calls[i], leads[i], conv[i] = c, ld, cv_
        revenue[i] = deal_revenue(cv_, zd[i], deal_value, cv)


@kernel
def telesales_year(calls_mean, lr0, ramp, demand, cr, zc, zl, zv, zd, deal_value, cv, calls, leads, conv, revenue):
    """:func:`simlib.model.production.telesales_funnel` at today's effort, (T, R, 12) arrays.

    ``calls_mean`` (T, R) calls a month of a ramped rep, ``lr0`` (T, R) the
    lead rate by territory, ``demand`` (T, 12), ``cr`` the capped
    conversion rate; the normals ``zc``, ``zl``, ``zv``, ``zd`` (T, R x 12)
    as :func:`rows` triples (each trial's row read where it is, in the
    draw buffer); the outputs calls, leads, conversions and revenue
    C-contiguous. Trial by trial, the means and lead rates are gathered
    into contiguous rows and the funnel runs on the rows (vectorised).
    """
    T, R, M = ramp.shape
    N = R * M
    cm, lr, crs = np.empty(N), np.empty(N), np.full(N, cr)
    for t in range(T):
        for r in range(R):
            a, b = calls_mean[t, r], lr0[t, r]
            for m in range(M):
                cm[r * M + m] = a * ramp[t, r, m]
                lr[r * M + m] = minimum(0.95, b * demand[t, m])
        funnel_row(cm, lr, crs, row(zc, t, N), row(zl, t, N), row(zv, t, N), row(zd, t, N), deal_value, cv,
                   calls[t].reshape(N), leads[t].reshape(N), conv[t].reshape(N), revenue[t].reshape(N))


@kernel
def telesales_month(calls_mean, ramp, act, lr0, demand, cr0, q, help_mult, zc, zl, zv, zd, deal_value, cv,
                    calls, leads, conv, revenue):
    """One telesales month of :meth:`simlib.model.production.SteppedYear._telesales`, (T, R) arrays.

    ``ramp`` and the draws are the month's (T, R) views; ``act`` the
    activity multiplier ``(e f)**beta`` and ``q`` the quality multiplier,
    (T, R) (computed in NumPy); ``help_mult`` (T, R); ``demand`` (T,);
    ``cr0`` the role's conversion rate. Writes calls, leads, conversions
    and revenue (C-contiguous), trial by trial through :func:`funnel_row`.
    """
    T, R = calls_mean.shape
    cm, lr, cr = np.empty(R), np.empty(R), np.empty(R)
    z1, z2, z3, z4 = np.empty(R), np.empty(R), np.empty(R), np.empty(R)
    for t in range(T):
        d = demand[t]
        for r in range(R):
            cm[r] = calls_mean[t, r] * ramp[t, r] * act[t, r]
            lr[r] = minimum(0.95, lr0[t, r] * d)
            cr[r] = minimum(0.95, cr0 * q[t, r] * help_mult[t, r])
            z1[r], z2[r], z3[r], z4[r] = zc[t, r], zl[t, r], zv[t, r], zd[t, r]
        funnel_row(cm, lr, cr, z1, z2, z3, z4, deal_value, cv, calls[t], leads[t], conv[t], revenue[t])


@kernel
def score_rows(z, sd, mean, out):
    """:func:`simlib.model.production.bounded_score`, ``clip(sd z + mean, 0, 1)``, on (T, N) rows into ``out``.

    ``z`` a :func:`rows` triple (each trial's row read where it is, in the
    draw buffer), ``out`` C-contiguous; NumPy's three steps (``sd * z``,
    ``+ mean``, ``np.clip``) on each element in one pass.
    """
    N = out.shape[1]
    for t in range(out.shape[0]):
        zt, o = row(z, t, N), out[t]
        for i in range(N):
            o[i] = clip(sd * zt[i] + mean, 0.0, 1.0)


@kernel
def binomial_count(u, n, pmf0, p, kmax, out):
    """:func:`simlib.model.production.binomial_inv` from ``pmf0 = (1 - p)**n``, flat arrays (``n > 0``), into ``out``.

    The count of ``k`` in 0..kmax-1 with ``u > F(k)`` and ``k < n``; once
    false it stays false (the CDF never decreases).
    """
    for i in range(u.size):
        out[i] = binomial_at(u[i], n[i], pmf0[i], p[i], kmax)


@helper
def binomial_at(ui, ni, pmf, pi, kmax):
    """:func:`binomial_count` of one element from its ``pmf = (1 - p)**n``."""
    cdf = pmf
    c = 0.0
    for k in range(kmax):
        if not (ui > cdf and k < ni):
            break
        c += 1.0
        pmf = binomial_next(pmf, ni, k, pi)
        cdf = cdf + pmf
    return c


@helper
def binomial_next(pmf, ni, k, pi):
    """:func:`binomial_at`'s next term of the pmf, ``pmf (n - k)^+ / (k + 1) p / (1 - p)`` in NumPy's order."""
    return pmf * maximum(0.0, ni - k) / (k + 1) * pi / (1 - pi)


@helper
def binomial_cdf_table(pmf0, p, kmax):
    """The CDF terms :func:`binomial_at` compares ``u`` with, for every whole count: row ``n`` (0..kmax) holds the
    CDF at ``0..kmax-1`` from ``pmf0[n] = (1 - p)**n``, summed term by term as there (the same numbers)."""
    tab = np.empty((kmax + 1, max(kmax, 1)))
    for n in range(kmax + 1):
        ni = float(n)
        pmf = pmf0[n]
        cdf = pmf
        for k in range(kmax):
            tab[n, k] = cdf
            pmf = binomial_next(pmf, ni, k, p)
            cdf = cdf + pmf
    return tab


@kernel
def binomial_rows(u, n, pmf0, p, kmax, out):
    """:func:`binomial_count` of (T, N) rows with one probability ``p``, ``(1 - p)**n`` looked up in ``pmf0``.

    ``pmf0[k]`` is ``(1 - p)**k`` for ``k = 0..kmax`` (NumPy's power, the
    same numbers as on the months' counts); ``u`` a :func:`rows` triple
    (each trial's uniforms read where they are, only at the months with a
    deal). A count ``n <= 0`` (or NaN) gives 0. The CDF terms depend only on
    the count: each whole count's are summed once (:func:`binomial_cdf_table`),
    and a month's count is its comparisons of ``u`` with them (as many as
    the trial's most deals in a month, counted while they hold, as
    :func:`poisson_first`: no division and no branch on the data).
    Returns False at the first ``n`` that is not a whole number up to
    ``kmax`` (``out`` then partly written: the caller counts another way).
    """
    N = n.shape[1]
    hit = np.empty(N, dtype=np.int64)
    cdf = binomial_cdf_table(pmf0, p, kmax)  # the terms each whole count's months compare with, summed once
    for t in range(n.shape[0]):
        z = row(u, t, N)
        h = 0
        bad = False
        top = 0.0
        for i in range(N):  # the months with a deal, without a branch on the count
            ni = n[t, i]
            out[t, i] = 0.0
            hit[h] = i
            h += 1 if ni > 0.0 else 0
            bad |= not ni <= kmax
            top = maximum(top, ni)
        if bad:
            return False
        W = int(top)  # the most deals of the trial's months: every month takes that many comparisons
        for a in range(h):
            i = hit[a]
            ni = n[t, i]
            k = int(ni)
            if k != ni:
                return False
            ui = z[i]
            c = 0.0
            go = True
            for j in range(W):  # binomial_at's count, while u > F(j) and j < n, without a branch on the data
                go = go & (ui > cdf[k, j]) & (j < k)
                c += 1.0 if go else 0.0
            out[t, i] = c
    return True


@kernel
def channel_year(opened, demand, ramp, base0, z, cv, mature, decay, new_rev, revenue):
    """:meth:`simlib.model.production.RoleProcess._channel_year`'s partners' and total revenue, (T, R, 12).

    ``opened`` partners opened, ``demand`` (T, 12), ``base0`` (T, R)
    existing revenue by territory and ability, ``z`` the revenue normals,
    ``decay`` ``exp(-1 / partner_ramp_months)`` (from NumPy). Each rep's
    partners opened and ramping are carried month to month.
    """
    T, R, M = ramp.shape
    for t in range(T):
        for r in range(R):
            n_cum = 0.0
            state = 0.0
            b = base0[t, r]
            for m in range(M):
                d = demand[t, m]
                nr = mature * (n_cum - state) * d
                op = opened[t, r, m]
                state = (state + op) * decay
                n_cum = n_cum + op
                existing = maximum(0.0, b * d * ramp[t, r, m] * (1.0 + cv * z[t, r, m]))
                new_rev[t, r, m] = nr
                revenue[t, r, m] = existing + nr


@kernel
def month_sums(x, out):
    """:func:`simlib.model.population.sum_months` (:func:`simlib.model.plans.month_sum`) of (N, 12) rows into ``out`` (N,): NumPy's order of adds.

    ``((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7))``, then ``x8`` to
    ``x11`` added in turn (its pairwise sum of a contiguous run of 12).
    """
    for i in range(x.shape[0]):
        s = (x[i, 0] + x[i, 1]) + (x[i, 2] + x[i, 3])
        s = s + ((x[i, 4] + x[i, 5]) + (x[i, 6] + x[i, 7]))
        s = s + x[i, 8]
        s = s + x[i, 9]
        s = s + x[i, 10]
        out[i] = s + x[i, 11]


@helper
def schedule_at(x, k, s, v, cap):
    """:func:`simlib.model.paycurves.evaluate` of one element: the value (capped) and whether it was over the cap.

    ``k``, ``s``, ``v`` the segments with their leading flat one; the segment
    is the count of knots after the first at or below ``x`` (all of them for
    NaN, as ``searchsorted``); ``np.maximum(x, k0)`` and ``np.minimum(raw, cap)``
    as NumPy gives them (the second argument on a tie, NaN kept).
    """
    n = k.size - 1
    for j in range(1, k.size):
        if x < k[j]:
            n -= 1
    raw = k[0] if k[0] >= x else x
    raw = raw - k[n]
    raw = raw * s[n]
    raw = raw + v[n]
    return (cap if cap <= raw else raw), raw > cap


@kernel
def evaluate_schedule(x, k, s, v, cap, out, capped):
    """:func:`simlib.model.paycurves.evaluate` on flat arrays, into ``out`` and ``capped`` (``cap`` inf: uncapped)."""
    for i in range(x.size):
        out[i], capped[i] = schedule_at(x[i], k, s, v, cap)


@kernel
def attainment_pay(values, targets, scale, k, s, v, cap, out, capped):
    """:func:`simlib.model.plans.component_pay` of an attainment component, flat arrays of one size.

    ``values / max(targets, 1e-12)`` through the schedule, times ``scale``:
    NumPy's three passes in one, the same operations on each element.
    """
    for i in range(values.size):
        t = targets[i]
        y, c = schedule_at(values[i] / (1e-12 if 1e-12 >= t else t), k, s, v, cap)
        out[i] = y * scale[i]
        capped[i] = c


@kernel
def deal_size_logs(n, z, s, half_s2, out):
    """The log deal sizes ``s z - s^2 / 2`` of the months with a deal, (H + 1, K), from ``n`` (T, N) and ``z`` (T, N, K).

    :meth:`simlib.model.production.RoleProcess._key_account_year`'s gather
    of the size draws where ``n > 0`` (in flat order, as ``np.flatnonzero``)
    and its ``s * z - 0.5 * s * s`` (``half_s2``), before ``exp`` (in NumPy).
    Without a branch on the count: every month's row is written at the next
    free row, which only a month with a deal keeps (the next month writes
    over it otherwise), so ``out`` has a row to spare, left 0.0.
    """
    if z.shape[2] == 4:  # the shipped number of drawn sizes: the loop over them unrolled
        size_logs_fill(n, z, s, half_s2, out, 4)
    else:
        size_logs_fill(n, z, s, half_s2, out, z.shape[2])


@helper
def size_logs_fill(n, z, s, half_s2, out, K):
    """:func:`deal_size_logs` with ``K`` sizes a month."""
    h = 0
    for t in range(n.shape[0]):
        for i in range(n.shape[1]):
            for k in range(K):
                out[h, k] = s * z[t, i, k] - half_s2
            h += 1 if n[t, i] > 0 else 0
    for k in range(K):
        out[h, k] = 0.0


@kernel
def deals_won(n, sizes, large, at_least, beyond_mean, out):
    """Revenue (or large-order value) of each month's deals, flat: :func:`simlib.model.production.won_sizes` of
    the drawn sizes where ``n > 0`` (0 elsewhere), plus ``max(n - K, 0) x beyond_mean`` for the deals beyond them.

    ``sizes`` (H + 1, K) in the order of the months with a deal, and a
    spare row (:func:`deal_size_logs`); with ``large`` a deal counts when
    its size is at least ``at_least`` (large orders), else every deal won
    (revenue); the drawn sizes are added in turn, a deal not won adding
    0.0, as ``won_sizes`` adds its columns. Without a branch on the count:
    a month without a deal reads the next row and wins none of it, ``0.0``
    added in turn to ``0.0``.
    """
    K = sizes.shape[1]
    if K == 4:  # the shipped number of drawn sizes: the loop over them unrolled
        won_fill(n, sizes, large, at_least, beyond_mean, out, 4)
    else:
        won_fill(n, sizes, large, at_least, beyond_mean, out, K)


@helper
def won_fill(n, sizes, large, at_least, beyond_mean, out, K):
    """:func:`deals_won` with ``K`` sizes a month: every deal won (revenue), or those of ``at_least`` (``large``)."""
    h = 0
    for i in range(n.size):
        ni = n[i]
        acc = 0.0
        for k in range(K):
            v = sizes[h, k]
            if large:  # (the same for every element: the compiler takes it out of the loop)
                c = v if (ni > k and v >= at_least) else 0.0
            else:
                c = v if ni > k else 0.0
            acc = c if k == 0 else acc + c
        h += 1 if ni > 0 else 0
        b = ni - K
        b = b if b > 0.0 else 0.0
        out[i] = acc + b * beyond_mean


@helper
def group_ranks(xs, order, ranks):
    """Average ranks of one sorted row ``xs`` (its columns ``order``) into ``ranks``: a sorted position starts a
    group when its value differs from the one before (``!=``: each NaN its own group); every member of a group
    gets ``(first + last) / 2`` (exact: a half-integer), at its place in the row."""
    R = xs.shape[0]
    a = 0
    for j in range(1, R + 1):
        if j == R or xs[j] != xs[j - 1]:
            mid = (a + (j - 1)) / 2.0
            for i in range(a, j):
                ranks[order[i]] = mid
            a = j


@kernel
def sorted_ranks(x, order, xs, ranks):
    """:func:`simlib.model.metrics._sort_rank` after its argsort: rows of ``x`` (T, R) in ``order``, and average ranks.

    ``xs[t, j] = x[t, order[t, j]]``; a sorted position starts a group when
    its value differs from the one before (``!=``: each NaN its own group);
    every member of a group gets the mean of its first and last position,
    ``(first + last) / 2`` (exact: a half-integer), at its place in ``x``.
    """
    T, R = x.shape
    for t in range(T):
        for j in range(R):
            xs[t, j] = x[t, order[t, j]]
        group_ranks(xs[t], order[t], ranks[t])


@kernel
def component_year_pay(vals, quota, share, target, by_quota, attain, scale, by_target, k, s, v, cap, pay,
                       capped):
    """:func:`simlib.model.plans.component_year_pay`: one component's year from its values per period, in one pass.

    ``vals`` (N, P), P < 8: each period's target is ``quota[i] x share[p]``
    (``by_quota``) or ``target``; the schedule's input is ``vals / max(target,
    1e-12)`` (``attain``) or the values (units); its value times ``scale``, or
    times the target (``by_target``: a commission), is the period's pay. The
    periods' pay is added in turn into ``pay`` (N,), as
    :func:`simlib.model.plans.sum_periods` adds fewer than 8, and a period
    over the cap sets ``capped`` (N,) (kept where already set).
    """
    for i in range(vals.shape[0]):
        acc = 0.0
        hit = capped[i]
        for p in range(vals.shape[1]):
            t = quota[i] * share[p] if by_quota else target
            x = vals[i, p] / (1e-12 if 1e-12 >= t else t) if attain else vals[i, p]
            y, c = schedule_at(x, k, s, v, cap)
            y = y * (t if by_target else scale)
            acc = y if p == 0 else acc + y
            hit = hit or c
        pay[i] = acc
        capped[i] = hit


@kernel
def component_ytd_pay(vals, quota, share, target, by_quota, attain, scale, by_target, score, k, s, v, cap,
                      pay, capped):
    """:func:`component_year_pay` of a year-to-date true-up (:func:`simlib.model.plans.component_pay`).

    Period by period: the running sums of the values, targets and scales
    (running means of values and targets for a ``score``; a per-unit
    schedule's scale stays 1), the schedule at the year-to-date attainment
    (or units) times the running scale is what is due so far, and the
    period pays ``max(0, due - paid so far)``; the periods' pay is added in
    turn into ``pay`` and a period over the cap sets ``capped``.
    """
    for i in range(vals.shape[0]):
        cv = 0.0
        ct = 0.0
        cs = 0.0
        so_far = 0.0
        acc = 0.0
        hit = capped[i]
        for p in range(vals.shape[1]):
            t = quota[i] * share[p] if by_quota else target
            cv = vals[i, p] if p == 0 else cv + vals[i, p]
            ct = t if p == 0 else ct + t
            sp = t if by_target else scale
            cs = sp if p == 0 else cs + sp
            xv = cv / (p + 1.0) if score else cv
            xt = ct / (p + 1.0) if score else ct
            x = xv / (1e-12 if 1e-12 >= xt else xt) if attain else xv
            y, c = schedule_at(x, k, s, v, cap)
            due = y * (cs if attain else 1.0)
            paid = maximum(0.0, due - so_far)
            so_far = so_far + paid
            acc = paid if p == 0 else acc + paid
            hit = hit or c
        pay[i] = acc
        capped[i] = hit


@kernel
def period_sums(x, m, out):
    """:func:`simlib.model.plans.aggregate`'s sums of ``m`` < 8 months, rows of ``x`` (N, 12) into ``out`` (N, 12 / m).

    Each period's months added in turn, as :func:`simlib.model.plans.sum_periods` adds fewer than 8.
    """
    if m == 3:  # quarters: the adds unrolled
        for i in range(x.shape[0]):
            for p in range(4):
                out[i, p] = (x[i, 3 * p] + x[i, 3 * p + 1]) + x[i, 3 * p + 2]
        return
    for i in range(x.shape[0]):
        for p in range(out.shape[1]):
            j = p * m
            s = x[i, j] + x[i, j + 1]
            for d in range(2, m):
                s = s + x[i, j + d]
            out[i, p] = s


@kernel
def spearman_of_ranks(ra, rb, out):
    """:func:`simlib.model.metrics._spearman_of_ranks` of average ranks ``ra``, ``rb`` (T, R) from ``_sort_rank``, into
    ``out`` (T,).

    Every number on the way is exact whatever the order of the sums: ranks
    are half-integers summing to ``R (R - 1) / 2``, so each row's mean is
    ``(R - 1) / 2`` exactly, centred ranks are half-integers and their
    products quarter-integers, whose sums stay far below 2**53 for
    ``R < 2**16`` (the caller's bound). They are summed as integers (twice
    the centred ranks), which the compiler vectorises; the product of the
    two sums of squares, its square root and the quotient are one rounding
    each, as in NumPy. So the result is NumPy's to the last bit.
    """
    T, R = ra.shape
    c = R - 1  # twice the mean rank
    for t in range(T):
        aa = 0
        bb = 0
        ab = 0
        for j in range(R):
            a = np.int64(2.0 * ra[t, j]) - c
            b = np.int64(2.0 * rb[t, j]) - c
            aa += a * a
            bb += b * b
            ab += a * b
        den = math.sqrt((aa * 0.25) * (bb * 0.25))
        out[t] = (ab * 0.25) / den if den > 0 else math.nan


@kernel
def row_shares(attainment, capped, out):
    """The shares of :func:`simlib.model.metrics.group_metrics` per row of (T, R): reps with ``attainment >= 1.0``,
    ``>= 1.2`` (NaN neither) and ``capped``, into ``out`` (3, T); counts are exact, so ``count / R`` is NumPy's
    ``mean`` of the booleans to the last bit."""
    T, R = attainment.shape
    for t in range(T):
        n100 = 0
        n120 = 0
        nc = 0
        for j in range(R):
            a = attainment[t, j]
            n100 += 1 if a >= 1.0 else 0
            n120 += 1 if a >= 1.2 else 0
            nc += 1 if capped[t, j] else 0
        out[0, t] = n100 / R
        out[1, t] = n120 / R
        out[2, t] = nc / R



@kernel
def rank_keys(u, b, keys):
    """Sort keys of float64 rows given as their bits ``u`` (T, R): each value's bits made to order as the value
    (``-0.0`` just below ``+0.0``), their low ``b`` bits replaced by its column (``R <= 2**b``).

    ``np.sort`` of the keys (a fast sort of integers, not an argsort) then
    gives each row's columns in order of value up to the dropped bits;
    :func:`keyed_sorted_ranks` finishes the order. For rows without NaN.
    """
    T, R = u.shape
    sign = np.uint64(1) << np.uint64(63)
    bb = np.uint64(b)
    for t in range(T):
        for j in range(R):
            v = u[t, j]
            k = ~v if (v & sign) != np.uint64(0) else v | sign
            keys[t, j] = ((k >> bb) << bb) | np.uint64(j)


@kernel
def keyed_sorted_ranks(x, keys, b, order, xs, ranks, mixed_zeros):
    """:func:`sorted_ranks` from :func:`rank_keys`' keys sorted along each row: the columns ``order`` (T, R) in order
    of value (neighbours whose keys differ only in the dropped bits put in order of value by insertion, equal
    values by column), the sorted rows ``xs`` and the average ranks. The sorted values are those of any argsort
    of the row, bit for bit, except where a row has both ``+0.0`` and ``-0.0``, flagged in ``mixed_zeros`` (T,)
    for the caller to sort as NumPy does; the ranks are the same in every row.
    """
    T, R = x.shape
    bb = np.uint64(b)
    mask = (np.uint64(1) << bb) - np.uint64(1)
    for t in range(T):
        for j in range(R):
            order[t, j] = np.int64(keys[t, j] & mask)
        for j in range(1, R):
            hi = keys[t, j] >> bb
            if hi == (keys[t, j - 1] >> bb):
                o = order[t, j]
                v = x[t, o]
                i = j
                while i > 0 and (keys[t, i - 1] >> bb) == hi and x[t, order[t, i - 1]] > v:
                    order[t, i] = order[t, i - 1]
                    i -= 1
                order[t, i] = o
        pos = False
        neg = False
        for j in range(R):
            v = x[t, order[t, j]]
            xs[t, j] = v
            if v == 0.0:
                if math.copysign(1.0, v) < 0:
                    neg = True
                else:
                    pos = True
        mixed_zeros[t] = pos and neg
        group_ranks(xs[t], order[t], ranks[t])


@kernel
def top_k_rows(score, k, top):
    """:func:`simlib.model.plans.top_k` (``0 < k < R``): the ``k`` highest scores of each row of ``score`` (T, R),
    ties on the ``k``-th highest broken by the lower column, into ``top`` (bool), as NumPy finds them there.

    A row's ``k``-th highest score (its ``k`` highest kept in order, a new
    one put in its place) stands for NumPy's partition; a column is in the
    top when its score is above it, and as many columns on it as places are
    left, the lowest first. Returns False at the first NaN (``top`` then
    partly written: the caller sorts, as NumPy does with NaN).
    """
    T, R = score.shape
    best = np.empty(k)
    for t in range(T):
        n = 0
        for j in range(R):
            x = score[t, j]
            if not x == x:
                return False
            if n < k or x > best[k - 1]:
                i = n if n < k else k - 1
                while i > 0 and best[i - 1] < x:
                    best[i] = best[i - 1]
                    i -= 1
                best[i] = x
                n = min(n + 1, k)
        kth = best[k - 1]
        need = k
        for j in range(R):
            above = score[t, j] > kth
            top[t, j] = above
            need -= 1 if above else 0
        for j in range(R):
            if need > 0 and score[t, j] == kth:
                top[t, j] = True
                need -= 1
    return True
