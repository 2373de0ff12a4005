"""Compiled kernels (numba) of the ``dynamic`` policy's month: table lookups (docs/model.md section 5, the compiled pass).

The same per-element arithmetic, in the same order, as the NumPy code of
:class:`simlib.behaviour.policy.Track` they stand in for (the oracle,
``tests/test_compiled.py``); compiled and switched on or off as
:mod:`simlib.model.compiled` says (:func:`simlib.model.compiled.enabled`).
"""

from __future__ import annotations

import math

from simlib.model.compiled import kernel


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
    top = x_n - 1.0
    for t in range(T):
        for r in range(R):
            u = (x[t, r] - x_lo) / x_h
            u = 0.0 if 0.0 >= u else u  # np.maximum(u, 0.0): of two zeros the second, NaN kept
            u = top if top <= u else u  # np.minimum(u, X_N - 1)
            fi = math.floor(u)
            fi = top - 1.0 if top - 1.0 <= fi else fi
            w = u - fi
            j = int(fi) + base[t, r] + month_off
            acc = 0.0
            for c in range(gaps.size):
                k = j + gaps[c]
                v = (step[k] * w + flat[k]) * weights[c, t, r]
                acc = v if c == 0 else acc + v
            out[t, r] = acc
