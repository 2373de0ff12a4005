"""Rep types of the ``dynamic`` model and interpolation over them (docs/model.md, section 4.1).

A rep's type is ``a``, the expected attainment at today's effort under the
current plan (:data:`C_GRID`, where the effort cost is normalised), and under
a candidate plan the ratio of expected attainment under it to under the
current plan (:data:`R_GRID`). Solutions live on these fixed grids; a rep's
behaviour is interpolated bilinearly in the logs of the two coordinates.
"""

from __future__ import annotations

import math

import numpy as np

#: rep types: expected attainment at today's effort under the current plan (cost normalisation nodes)
C_GRID = np.exp(np.linspace(math.log(0.25), math.log(4.0), 9))
#: second type dimension: expected attainment under a candidate plan / under the current plan
R_GRID = np.exp(np.linspace(math.log(0.5), math.log(2.0), 9))


def corners(grid: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower index and weight of v on a log-spaced grid (clamped at the ends)."""
    if len(grid) == 1:
        return np.zeros(v.shape, dtype=np.intp), np.zeros(v.shape)
    lg = np.log(grid)
    u = (np.log(np.clip(v, grid[0], grid[-1])) - lg[0]) / (lg[1] - lg[0])
    i = np.clip(np.floor(u), 0, len(grid) - 2).astype(np.intp)
    return i, u - i


def type_corners(ga: np.ndarray, gc: np.ndarray, va: np.ndarray, vc: np.ndarray) -> list:
    """Bilinear interpolation over the (a, c) type grid: ``[(ja, jc, weight), ...]`` per corner.

    Indices and weights have the shape of ``va``; with a single ``c`` grid
    point the interpolation is linear in ``a`` (two corners).
    """
    ia, wa = corners(ga, va)
    ic, wc = corners(gc, vc)
    ia1, ic1 = np.minimum(ia + 1, len(ga) - 1), np.minimum(ic + 1, len(gc) - 1)
    out = []
    for ja, ua in ((ia, 1 - wa), (ia1, wa)):
        for jc, uc in ((ic, 1 - wc), (ic1, wc)):
            if len(gc) == 1 and jc is ic1:
                continue
            out.append((ja, jc, ua * uc if len(gc) > 1 else ua))
    return out


def bilinear(tab: np.ndarray, ga, gc, va, vc) -> np.ndarray:
    """tab (NA, NC, ...) at points (va, vc) -> (n, ...)."""
    sh = (-1,) + (1,) * (tab.ndim - 2)
    out = 0.0
    for ja, jc, w in type_corners(ga, gc, va, vc):
        out = out + w.reshape(sh) * tab[ja, jc]
    return out
