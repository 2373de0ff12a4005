"""Compiled kernels (numba) of the ``dynamic`` policy's month: table lookups (docs/model.md section 5, the compiled pass).

The same per-element arithmetic, in the same order, as the NumPy code of
:class:`simlib.behaviour.policy.Track` they stand in for (the oracle,
``tests/test_compiled.py``); compiled and switched on or off as
:mod:`simlib.model.compiled` says (:func:`simlib.model.compiled.enabled`),
releasing the GIL while they run as every kernel there does.
"""

from __future__ import annotations

import math

import numpy as np

from simlib.model.compiled import helper, kernel


@helper
def place_row(x, t, base, month_off, x_lo, x_h, x_n, J, W):
    """Row ``t`` of states ``x`` placed on the grid ``x_lo + i x_h``: each rep's first table index ``J`` (its type
    corner's ``base`` plus the month's offset plus ``i``) and the weight ``W`` of ``i + 1``, as :func:`lookup` does.

    A loop of its own, apart from the table reads, so that it vectorises.
    """
    top = x_n - 1.0
    for r in range(J.size):
        u = (x[t, r] - x_lo) / x_h
        u = 0.0 if 0.0 >= u else u  # np.maximum(u, 0.0): of two zeros the second, NaN kept
        u = top if top <= u else u  # np.minimum(u, X_N - 1)
        fi = math.floor(u)
        fi = top - 1.0 if top - 1.0 <= fi else fi
        W[r] = u - fi
        J[r] = int(fi) + base[t, r] + month_off


@kernel
def lookup(flat, step, base, gaps, weights, month_off, x, x_lo, x_h, x_n, out):
    """:meth:`simlib.behaviour.policy.Track.lookup`'s interpolation, (T, R) arrays, into ``out``.

    ``flat``, ``step``: the table flattened and each entry's difference to
    the next; ``base`` (T, R) the flat offset of each rep's first type
    corner, ``gaps`` (C,) the other corners' distances from it and
    ``weights`` (C, T, R) their bilinear weights; ``month_off`` the month's
    offset (``m x X_N``). The state ``x`` is placed on the grid
    ``x_lo + i x_h``, ``i`` in 0..x_n-1 (clipped), and each corner adds
    ``weight x (flat[j] + w step[j])``, corner by corner.
    """
    T, R = x.shape
    J, W = np.empty(R, dtype=np.intp), np.empty(R)
    for t in range(T):
        place_row(x, t, base, month_off, x_lo, x_h, x_n, J, W)
        for r in range(R):
            j, w = J[r], W[r]
            acc = 0.0
            for c in range(gaps.size):  # corner by corner, written out here and below: a shared helper measured 15% slower
                k = j + gaps[c]
                v = (step[k] * w + flat[k]) * weights[c, t, r]
                acc = v if c == 0 else acc + v
            out[t, r] = acc


@kernel
def effort_change(p_tab, p_corners, p_off, p_x, c_tab, c_corners, c_off, c_x, grid, bounds, xp, left, er, q_floor,
                  model_effort, effort, expected_left):
    """A month of :meth:`simlib.behaviour.policy.DynamicPolicy.__call__` (effort on, a candidate plan), (T, R).

    Each plan's (``p_`` the plan's, ``c_`` the current plan's) ``tab`` is
    (flat, step), ``corners`` (base, gaps, weights), ``off`` the month's
    offset and ``x`` the state looked up (:func:`lookup`); ``grid`` is
    (x_lo, x_h, x_n), ``bounds`` (min, max) effort. Writes the plan's model
    effort, the effort ``clip(e_P / max(e_C, 1e-9), lo, hi)`` and the
    expected attainment by the period end, ``xp + left x er / q_floor``.
    """
    (pf, ps), (pb, pg, pw), (cf, cs), (cb, cg, cw) = p_tab, p_corners, c_tab, c_corners
    x_lo, x_h, x_n = grid
    lo, hi = bounds
    T, R = xp.shape
    JP, WP, JC, WC = np.empty(R, dtype=np.intp), np.empty(R), np.empty(R, dtype=np.intp), np.empty(R)
    for t in range(T):
        place_row(p_x, t, pb, p_off, x_lo, x_h, x_n, JP, WP)
        place_row(c_x, t, cb, c_off, x_lo, x_h, x_n, JC, WC)
        for r in range(R):
            j, w = JP[r], WP[r]
            ep = 0.0
            for c in range(pg.size):  # :func:`lookup`'s corners, written out
                k = j + pg[c]
                v = (ps[k] * w + pf[k]) * pw[c, t, r]
                ep = v if c == 0 else ep + v
            j, w = JC[r], WC[r]
            ec = 0.0
            for c in range(cg.size):
                k = j + cg[c]
                v = (cs[k] * w + cf[k]) * cw[c, t, r]
                ec = v if c == 0 else ec + v
            model_effort[t, r] = ep
            e = ep / (1e-9 if 1e-9 >= ec else ec)  # np.maximum(ec, 1e-9): of equals the second, NaN kept
            e = lo if lo >= e else e  # np.maximum(e, lo)
            effort[t, r] = hi if hi <= e else e  # np.minimum(e, hi)
            expected_left[t, r] = xp[t, r] + left * er[t, r] / q_floor[t, r]


@kernel
def timing_move(tab, corners, month_off, x, grid, er, share_next, share_now, d, now, later, pushed, discount):
    """A plan's timing choice at a period end (:meth:`simlib.behaviour.policy.DynamicPolicy._move`), (T, R).

    The shift ``z`` looked up at state ``x`` (:func:`lookup`); deals pulled
    from next month, ``z er share_next`` where ``z > 0``, written as the
    revenue added now net of the discount ``d``, taken out of later months
    and the discount; deals pushed out of this month, ``-z er share_now``
    where ``z < 0``.
    """
    (flat, step), (base, gaps, weights) = tab, corners
    x_lo, x_h, x_n = grid
    T, R = x.shape
    keep = 1 - d
    J, W = np.empty(R, dtype=np.intp), np.empty(R)
    for t in range(T):
        place_row(x, t, base, month_off, x_lo, x_h, x_n, J, W)
        for r in range(R):
            j, w = J[r], W[r]
            z = 0.0
            for c in range(gaps.size):  # :func:`lookup`'s corners, written out
                k = j + gaps[c]
                v = (step[k] * w + flat[k]) * weights[c, t, r]
                z = v if c == 0 else z + v
            pulled = z * (er[t, r] * share_next) if z > 0 else 0.0
            now[t, r] = pulled * keep
            later[t, r] = -pulled
            pushed[t, r] = -z * (er[t, r] * share_now) if z < 0 else 0.0
            discount[t, r] = pulled * d
