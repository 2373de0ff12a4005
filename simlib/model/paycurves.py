"""Pay curves as data, evaluated by one vectorised function.

Every pay element a plan can hold -- piecewise-linear payout curves with
thresholds, accelerators, decelerators and caps; commission rate tables with
marginal or retroactive tiers; per-unit bonuses; lump sums at attainment
points -- compiles to one :class:`Schedule`: a right-continuous piecewise
linear function with possible jumps at knots,

.. math::

    f(x) = \\min\\bigl(c,\\; v_i + s_i (x - k_i)\\bigr),\\quad k_i \\le x < k_{i+1},

and :math:`f(x) = 0` below the first knot :math:`k_0`. One evaluator,
:func:`evaluate`, serves them all (cf. OpenFisca's ``scale.calc``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simlib.memo import by_identity
from simlib.model import compiled
from simlib.scenario import Component, Modifier, ScoreScale

#: elements from which :func:`evaluate` takes the compiled pass when it is on (below, NumPy's calls cost less)
COMPILED_FROM = 256


@dataclass(frozen=True)
class Schedule:
    """A right-continuous piecewise-linear function with jumps.

    Attributes
    ----------
    knots : ndarray
        Strictly increasing break points ``k_i`` (attainment, or units).
    values : ndarray
        Value at each knot, ``f(k_i)``.
    slopes : ndarray
        Slope on ``[k_i, k_{i+1})``; the last slope applies beyond the last knot.
    cap : float
        Upper bound on the value (``inf`` when uncapped).
    below : float
        Value below the first knot (0 for pay; a modifier may set another).
    """

    knots: np.ndarray
    values: np.ndarray
    slopes: np.ndarray
    cap: float = np.inf
    below: float = 0.0

    def __post_init__(self):
        k = np.asarray(self.knots, dtype=float)
        if k.ndim != 1 or k.size == 0 or np.any(np.diff(k) <= 0):
            raise ValueError("knots must be a non-empty strictly increasing 1-d array")
        if len(self.values) != k.size or len(self.slopes) != k.size:
            raise ValueError("knots, values and slopes must have the same length")

    def __call__(self, x):
        return evaluate(self, x)[0]

    @property
    def nondecreasing(self) -> bool:
        """True when the schedule never decreases (no negative slope, no downward jump)."""
        v, s, k = np.asarray(self.values), np.asarray(self.slopes), np.asarray(self.knots)
        left = v[:-1] + s[:-1] * np.diff(k)  # value approaching the next knot from the left
        return bool(np.all(s >= 0) and np.all(v[1:] >= left - 1e-12) and v[0] >= self.below)


def evaluate(schedule: Schedule, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate a schedule at ``x`` (any shape).

    Returns
    -------
    value : ndarray
        ``f(x)``, same shape as ``x``.
    capped : ndarray of bool
        True where the uncapped value exceeded the cap.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim == 0:  # a scalar in, NumPy scalars out
        value, capped = evaluate(schedule, x.reshape(1))
        return value[0], capped[0]
    k, slopes, values = _segments(schedule)
    if x.size >= COMPILED_FROM and compiled.enabled():  # the same arithmetic element by element, one pass
        out, capped = np.empty(x.shape), np.empty(x.shape, dtype=bool)
        compiled.evaluate_schedule(np.ascontiguousarray(x).reshape(-1), k, slopes, values, float(schedule.cap),
                                   out.reshape(-1), capped.reshape(-1))
        return out, capped
    # segment i = number of knots <= x; NaN above every knot, as in searchsorted. Segment 0
    # (below the first knot) is flat at ``below``: its knot is the first knot and x is raised
    # to the first knot, so below + 0 * 0 is ``below`` exactly (also for x = -inf); for i >= 1
    # x is already at least the first knot
    if k.size <= 17:  # comparisons are faster than searchsorted for a few knots
        i = np.full(x.shape, k.size - 1, dtype=np.intp)
        for kj in k[1:]:
            i -= x < kj
    else:
        i = np.searchsorted(k[1:], x, side="right")
    raw = np.maximum(x, k[0])
    raw -= np.take(k, i)
    raw *= np.take(slopes, i)
    raw += np.take(values, i)
    if np.isfinite(schedule.cap):
        capped = raw > schedule.cap
        return np.minimum(raw, schedule.cap), capped
    return raw, np.zeros(x.shape, dtype=bool)


@by_identity()
def _segments(schedule: Schedule) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Knots, slopes and values with a leading flat segment for x below the first knot."""
    k0 = np.asarray(schedule.knots, dtype=float)
    k = np.concatenate([k0[:1], k0])
    s = np.concatenate([[0.0], np.asarray(schedule.slopes, dtype=float)])
    v = np.concatenate([[float(schedule.below)], np.asarray(schedule.values, dtype=float)])
    return k, s, v


def schedule_segments(schedule: Schedule) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Knots, slopes and values of ``schedule`` as :func:`evaluate` walks them (a leading flat segment first)."""
    return _segments(schedule)


@by_identity()
def compile_component(c: Component) -> Schedule:
    """Compile a plan component to a :class:`Schedule`.

    The schedule's input is attainment (period value / period target) for
    ``curve``, ``commission`` and ``lump_sum``, and units for ``per_unit``. Its
    output is multiplied by a per-rep scale in :mod:`simlib.model.plans`: weight x
    target incentive per period for ``curve``, the period quota for
    ``commission``, and 1 (money) for ``per_unit`` and ``lump_sum``.
    """
    cap = np.inf if c.cap is None else float(c.cap)
    if c.kind == "curve":
        pts = np.asarray(c.points, dtype=float)
        k, v = pts[:, 0], pts[:, 1]
        if len(k) == 1:
            s = np.zeros(1)
        else:
            seg = np.diff(v) / np.diff(k)
            last = seg[-1] if c.beyond == "extend" else 0.0
            s = np.append(seg, last)
            if last < 0:
                # a falling last segment extends down to zero pay, then stays there: pay is never negative
                zero = k[-1] - v[-1] / last
                if zero > k[-1]:
                    k, v, s = np.append(k, zero), np.append(v, 0.0), np.append(s, 0.0)
                else:
                    s[-1] = 0.0
        return Schedule(k, v, s, cap)
    if c.kind == "commission":
        k = np.array([t.start for t in c.tiers], dtype=float)
        r = np.array([t.rate for t in c.tiers], dtype=float)
        if c.mode == "marginal":
            v = np.concatenate([[0.0], np.cumsum(r[:-1] * np.diff(k))])
        else:
            v = r * k
        return Schedule(k, v, r, cap)
    if c.kind == "per_unit":
        return Schedule(np.array([0.0]), np.array([0.0]), np.array([float(c.rate)]), cap)
    # lump_sum
    k = np.array([s.at for s in c.steps], dtype=float)
    v = np.cumsum([s.amount for s in c.steps]).astype(float)
    return Schedule(k, v, np.zeros_like(k), cap)


@by_identity()
def compile_modifier(m: Modifier) -> Schedule:
    """A modifier multiplies incentive; flat beyond its end points."""
    pts = np.asarray(m.points, dtype=float)
    k, v = pts[:, 0], pts[:, 1]
    s = np.append(np.diff(v) / np.diff(k), 0.0) if len(k) > 1 else np.zeros(1)
    return Schedule(k, v, s, np.inf, below=float(v[0]))


@by_identity()
def compile_scale(sc: ScoreScale, cap: float | None = None) -> Schedule:
    """A scorecard's scale (a measure's scoring, or the payout on the composite) as a :class:`Schedule`.

    ``intervals``: a step at each interval's ``from`` to its score (0 below
    the first; the last score holds beyond its ``to``). ``curve``: linear
    between points, 0 below the first, flat (``beyond: flat``) or the last
    segment continued down to no lower than 0 (``extend``) after the last.
    ``cap`` bounds the value.
    """
    c = np.inf if cap is None else float(cap)
    if sc.intervals is not None:
        k = np.array([iv.start for iv in sc.intervals], dtype=float)
        v = np.array([iv.score for iv in sc.intervals], dtype=float)
        return Schedule(k, v, np.zeros_like(k), c)
    pts = np.asarray(sc.curve, dtype=float)
    k, v = pts[:, 0], pts[:, 1]
    if len(k) == 1:
        return Schedule(k, v, np.zeros(1), c)
    seg = np.diff(v) / np.diff(k)
    last = seg[-1] if sc.beyond == "extend" else 0.0
    s = np.append(seg, last)
    if last < 0:  # a falling last segment reaches zero and stays there
        zero = k[-1] - v[-1] / last
        if zero > k[-1]:
            k, v, s = np.append(k, zero), np.append(v, 0.0), np.append(s, 0.0)
        else:
            s[-1] = 0.0
    return Schedule(k, v, s, c)
