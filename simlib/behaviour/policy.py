"""The ``dynamic`` model at run time: a role's reps follow solved tables month by month.

:class:`DynamicPolicy` is what :meth:`simlib.behaviour.dynamic.DynamicBehaviour.policy`
hands the engine (a :class:`simlib.model.contracts.Policy`). Each month it
looks up the effort of every rep at the rep's realised state in the solved
tables (:class:`RoleSolution`) of the plan and of the current plan, and at
period ends their deal timing; it records what the reps did
(:class:`simlib.model.contracts.PolicyRecord`), from which
:func:`behaviour_metrics` computes the per-trial behaviour metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simlib.behaviour import compiled as kernels_compiled
from simlib.behaviour.kernels import X_H, X_LO, X_N
from simlib.behaviour.types import type_corners
from simlib.errors import SimlibError
from simlib.model import compiled
from simlib.model.contracts import BASELINE, Controls, History, Moves, PolicyBase, PolicyRecord
from simlib.model.population import RoleWorld
from simlib.scenario import MONTHS, Behaviour

#: model effort at or below this (a fifth under today's) counts as giving up (short of target) or coasting
LOW_EFFORT = 0.8


@dataclass(frozen=True)
class SpiffPull:
    """Deals pulled into a SPIFF window's last month from the month after it (docs/model.md section 4.4).

    ``z`` months of the next month's expected revenue are closed in month
    ``month`` (0-11) at the timing price discount; a SPIFF on a count
    measure moves ``per_revenue`` of it per unit of revenue pulled (the
    pulled deals' expected count). A negative ``z`` undoes a pull (today's
    plan has the SPIFF, the candidate not).
    """

    month: int
    z: float
    measure: str
    per_revenue: float


@dataclass
class RoleSolution:
    """Solved behaviour of one role under one plan, on the type grid.

    ``effort`` is the effort (1 = today's) and ``shift`` the timing choice at
    period ends (units of a month's expected revenue) for each type, month
    and state. ``focus`` and ``help`` are the multitask split and help effort
    (1 = today's), ``help_mult`` the output multiplier help gives and
    ``rev_focus`` the revenue multiplier of the split; ``mix`` the tilt of
    the role's revenue segments (None: today's mix, or no segments).
    """

    effort: np.ndarray  # (NA, NC, 12, G)
    shift: np.ndarray  # (NA, NC, 12, G)
    a_grid: np.ndarray  # (NA,)
    c_grid: np.ndarray  # (NC,)
    starts: list[int]
    ends: list[int]
    inc: np.ndarray
    prof: np.ndarray
    focus: float
    help: float
    help_mult: float
    rev_focus: float
    mix: tuple[float, ...] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    _tables: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False, compare=False)
    #: (12,) the plan's quota over the version in force's, by month (plans with versions; None otherwise)
    ratio: np.ndarray | None = None
    #: two period structures (:class:`simlib.behaviour.kernels.Outer`): the grid of the year's state relative to
    #: the type's expectation, (NY,), and the year's expected share before each period (P,); the tables then hold
    #: (NA, NC, NY, 12, G). None: one structure
    outer: tuple[np.ndarray, np.ndarray] | None = None

    def table(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Table ``name`` ("effort" or "shift") flattened, and each entry's difference to the next."""
        if name not in self._tables:
            flat = getattr(self, name).reshape(-1)
            step = np.empty_like(flat)
            np.subtract(flat[1:], flat[:-1], out=step[:-1])
            step[-1] = 0.0
            self._tables[name] = (flat, step)
        return self._tables[name]


class Track:
    """A rep's position in one plan's pay periods, and lookups in that plan's solved tables.

    Parameters
    ----------
    rs : RoleSolution
        The plan's solved tables.
    quota : (T, R) annual quota, money.
    va, vc : (T, R) each rep's type coordinates on ``rs.a_grid`` and ``rs.c_grid``.
    a : (T, R) expected attainment the rep's lagged effort is planned on.
    relief : (T, 12), optional
        The plan's quota multiplier as known at the end of each month (a
        ``quota_relief`` rule, :func:`simlib.model.plans.relief_factor`):
        the rep measures attainment against the quota the rule gives so far.
    """

    def __init__(self, rs: RoleSolution, quota: np.ndarray, va: np.ndarray, vc: np.ndarray, a: np.ndarray,
                 relief: np.ndarray | None = None):
        self.rs = rs
        self.a = a
        self.relief = relief
        share = np.array([rs.prof[s : t + 1].sum() for s, t in zip(rs.starts, rs.ends, strict=True)])
        # each month's period (periods of a plan with versions may differ in length)
        self.period_of = np.searchsorted(np.asarray(rs.ends), np.arange(MONTHS))
        if rs.ratio is not None:  # a version's period target: its quota's share, the plan's quota over the ratio
            share = share / rs.ratio[np.asarray(rs.starts)]
        self.target = quota[..., None] * share[None, None, :]  # (T, R, P)
        self.quota = quota
        self._types = type_corners(rs.a_grid, rs.c_grid, va, vc)
        self._set_corners(np.zeros(quota.shape, dtype=np.intp), None)
        self._floor = [np.maximum(self.target[..., p], 1e-12) for p in range(len(rs.starts))] if relief is None else None
        self._run: tuple | None = None

    def _set_corners(self, iy: np.ndarray, wy: np.ndarray | None) -> None:
        """Interpolation corners as flat offsets into the tables, with weights: bilinear over the type grid, and with
        two period structures linear over the year's state too (lower index ``iy``, upper weight ``wy``; None: the
        lower only), into (NA, NC, NY, 12, G) tables."""
        rs = self.rs
        NC = len(rs.c_grid)
        NY = 1 if rs.outer is None else len(rs.outer[0])
        ys = [(iy, None)] if wy is None else [(iy, 1.0 - wy), (iy + 1, wy)]
        self.corners = [(((ja * NC + jc) * NY + jy) * (MONTHS * X_N), w if u is None else w * u)
                        for ja, jc, w in self._types for jy, u in ys]
        # the corners sit at fixed flat distances from the first (the next type up on each grid): one index per rep
        base = self.corners[0][0]
        gaps = [b - base for b, _ in self.corners]
        self._base = base if all(g.size == 0 or (g == g.flat[0]).all() for g in gaps) else None
        self._gaps = [int(g.flat[0]) if g.size else 0 for g in gaps]
        self._packed: tuple | None = None  # (base, gaps, weights) for the compiled lookups (packed())

    def enter(self, m: int, hist: History) -> None:
        """At the start of a pay period, with two period structures: place each rep on the grid of the year's state
        by the year's attainment so far (its realised revenue over the annual quota), relative to the rep's
        expectation then (clamped to the grid). Nothing otherwise."""
        rs = self.rs
        if rs.outer is None or m not in rs.starts:
            return
        if m == 0:  # a new year: none sold yet (every value of the year's state holds the same first period)
            self._set_corners(np.zeros(self.quota.shape, dtype=np.intp), None)
            return
        grid, cum = rs.outer
        c = float(cum[rs.starts.index(m)])
        done = hist["revenue"][0]
        for j in range(1, m):
            done = done + hist["revenue"][j]
        r = done / np.maximum(self.quota, 1e-12) / np.maximum(self.a * c, 1e-12) - 1.0
        u = np.clip((r - grid[0]) / (grid[1] - grid[0]), 0.0, len(grid) - 1.0)
        iy = np.minimum(np.floor(u).astype(np.intp), len(grid) - 2)
        self._set_corners(iy, u - iy)

    def x(self, m: int, hist: History, through: int | None = None) -> np.ndarray:
        """Period attainment before month m (or through month ``through`` inclusive)."""
        p = self.period_of[m]
        s = self.rs.starts[p]
        last = m if through is None else through + 1
        done = self._period_sum(hist["revenue"], s, last) if last > s else np.zeros(self.quota.shape)
        if self.relief is not None and last > 0:  # the quota as the relief rule has moved it so far
            return done / np.maximum(self.target[..., p] * self.relief[:, last - 1 : last], 1e-12)
        return done / (self._floor[p] if self._floor is not None else np.maximum(self.target[..., p], 1e-12))

    def _period_sum(self, rev: list, s: int, last: int) -> np.ndarray:
        """``sum(rev[s:last])`` (0 + rev[s] + rev[s+1] + ..., in order), extending the last such sum.

        The running sum is kept with the months' arrays it was built from; a month
        whose array was since replaced (a timing settlement) makes it start again.
        """
        run = self._run
        if run is not None and run[0] == s and run[1] <= last and all(rev[j] is a for j, a in zip(range(s, run[1]), run[2], strict=True)):
            total, used = run[3], list(run[2])
            start = run[1]
        else:
            total, used, start = 0, [], s
        for j in range(start, last):
            total = total + rev[j]
            used.append(rev[j])
        self._run = (s, last, used, total)
        return total

    def lookup(self, name: str, m: int, x: np.ndarray) -> np.ndarray:
        """Table (NA, NC, 12, G) at month m, interpolated over the rep's type and state x.

        Each corner's term is ``weight * (flat[j] + w * step[j])``, added up corner
        by corner; the same arithmetic as :meth:`_lookup_corners`, in place, with
        every corner's entries gathered from one index per rep (``np.take`` on
        views of the table that start at the corner's distance).
        """
        if self._base is None or np.ndim(x) != 2:
            return self._lookup_corners(name, m, x)
        if x.shape == self.quota.shape and compiled.enabled():
            return self._lookup_compiled(name, m, x)
        u = np.subtract(x, X_LO)
        u /= X_H
        np.maximum(u, 0.0, out=u)
        np.minimum(u, X_N - 1, out=u)  # u in [0, X_N - 1]: then i = min(floor(u), X_N - 2) and w = u - i
        fi = np.floor(u)  # are clip(floor(u), 0, X_N - 2) and clip(u - i, 0, 1) of the unclipped u
        np.minimum(fi, X_N - 2, out=fi)
        w = np.subtract(u, fi, out=u)
        j = fi.astype(np.intp)
        j += self._base
        flat, step = self.rs.table(name)
        out = None
        for g, (_, wt) in zip(self._gaps, self.corners, strict=True):
            g += m * X_N  # the month's entries: a view from there
            t = np.take(step[g:], j)
            t *= w
            t += np.take(flat[g:], j)
            t *= wt
            if out is None:
                out = t
            else:
                out += t
        return out

    def packed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The type corners for the compiled lookups: (base (T, R), gaps (C,), weights (C, T, R)), or None
        when the corners are not at fixed distances (the corner-by-corner lookup)."""
        if self._base is None:
            return None
        if self._packed is None:  # the corners' distances and weights as arrays, once
            shape = self.quota.shape
            self._packed = (np.ascontiguousarray(np.broadcast_to(self._base, shape), dtype=np.intp),
                            np.asarray(self._gaps, dtype=np.intp),
                            np.stack([np.broadcast_to(wt, shape) for _, wt in self.corners]).astype(float))
        return self._packed

    def _lookup_compiled(self, name: str, m: int, x: np.ndarray) -> np.ndarray:
        """:meth:`lookup` by :func:`simlib.behaviour.compiled.lookup`: the same arithmetic, element by element."""
        base, gaps, weights = self.packed()
        flat, step = self.rs.table(name)
        out = np.empty(x.shape)
        kernels_compiled.lookup(flat, step, base, gaps, weights, m * X_N, x, X_LO, X_H, X_N, out)
        return out

    def _lookup_corners(self, name: str, m: int, x: np.ndarray) -> np.ndarray:
        """:meth:`lookup` corner by corner, each corner's flat offsets its own (any shape of ``x``)."""
        u = (x - X_LO) / X_H
        i = np.clip(np.floor(u), 0, X_N - 2).astype(np.intp)
        w = np.clip(u - i, 0.0, 1.0)
        flat, step = self.rs.table(name)
        off = i + m * X_N
        out = 0.0
        for base, wt in self.corners:
            j = base + off
            out = out + wt * (flat[j] + w * step[j])  # step[j] = flat[j + 1] - flat[j], the same subtraction
        return out


class DynamicPolicy(PolicyBase):
    """Forward policy of a role's reps under a candidate plan; records what the reps did.

    Effort is today's effort times the model's change, ``e_P(x_P) / e_C(x_C)``,
    and timing shifts are ``z_P - z_C``, each evaluated at the rep's realised
    state under the plan's and the current plan's own pay periods.

    Parameters
    ----------
    params : Behaviour
        The scenario's ``behaviour`` section.
    rs, rc : RoleSolution
        Solved tables of the plan and of the current plan.
    world : RoleWorld
    quota, q_cur : (T, R) annual quotas under the plan and the current plan, money.
    a_cur : (T, R) expected attainment at today's effort under the current plan.
    ratio : (T, R) expected attainment under the plan over under the current plan.
    mult : output multiplier of the plan's focus and help.
    er : (T, R) expected annual revenue at today's effort, money.
    record_only : bool
        True when the plan's role plan is today's: effort stays today's and
        the policy only records (see :meth:`simlib.model.contracts.PolicyBase.record`).
    """

    def __init__(self, params: Behaviour, rs: RoleSolution, rc: RoleSolution, world: RoleWorld,
                 quota, q_cur, a_cur, ratio, mult, er, record_only: bool = False,
                 relief: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
                 spiff_pulls: tuple[SpiffPull, ...] = ()):
        self.record_only = record_only
        self.world, self.rs = world, rs
        self.P = Track(rs, quota, a_cur, ratio, a_cur * ratio * mult, relief=relief[0])
        self.C = Track(rc, q_cur, a_cur, np.ones_like(a_cur), a_cur, relief=relief[1])
        pp = world.role.process_params()
        self.lag = int(pp.pipeline_lag_months) if world.role.process == "key_account" else 0
        self.eff_on = params.effort.enabled
        self.lo, self.hi = params.effort.min_effort, params.effort.max_effort
        self.er, self.quota = er, quota
        self._quota_floor = np.maximum(quota, 1e-12)
        # expected increments left in each month's period, from the month on (the plan's periods)
        self._left = [rs.inc[m : rs.ends[self.P.period_of[m]] + 1].sum() for m in range(MONTHS)]
        self.log = PolicyRecord.today(world.shape, rs.help)
        self.help_mult = rs.help_mult
        self.focus = rs.focus
        self.mix = rs.mix
        self.timing = params.timing.price_discount if params.timing.enabled else None
        self.held = None  # pushed revenue held to the plan's next period end (T, R)
        self.spiff_pulls = spiff_pulls if self.timing is not None and not record_only else ()
        self.owed: dict[str, np.ndarray] = {}  # count measures pulled into a SPIFF window, owed by later months

    #: statement months (0-11, a statement at the end of each) of the plan and of today's plan; None: every month
    statements: tuple[tuple[int, ...] | None, tuple[int, ...] | None] = (None, None)

    @property
    def recorded(self) -> PolicyRecord:
        return self.log

    @property
    def reads(self) -> frozenset[str]:
        """The measures this policy reads (and moves) in the history: revenue, and a pulled SPIFF's count measure."""
        return frozenset({"revenue", *(sp.measure for sp in self.spiff_pulls)})

    def _known(self, tr: Track, m: int, hist: History, statements: tuple[int, ...] | None) -> np.ndarray:
        """Period attainment before month m as the rep knows it (docs/model.md section 3, feedback cadence).

        Realised up to the last statement in the period before month m, then
        expected: ``x(last statement) + a x sum of the expected increments since``.
        With a statement every month (``None``) it is the realised attainment.
        """
        if statements is None:
            return tr.x(m, hist)
        s = tr.rs.starts[tr.period_of[m]]
        seen = [j for j in statements if s <= j < m]
        k = seen[-1] + 1 if seen else s  # months s..k-1 are known
        known = tr.x(m, hist, through=k - 1) if k > s else np.zeros(tr.quota.shape)
        return known + tr.a * tr.rs.inc[k:m].sum()

    def __call__(self, m: int, hist: History) -> Controls:
        log = self.log
        self.P.enter(m, hist)
        self.C.enter(m, hist)
        if self.eff_on and not self.record_only and self.held is None and compiled.enabled():
            e = self._effort_compiled(m, hist)
            if e is not None:
                log.effort[..., m] = e
                return Controls(effort=e, focus=self.focus, help_mult=self.help_mult, mix=self.mix)
        if self.eff_on:
            xp = self._known(self.P, m, hist, self.statements[0])
            if self.held is not None:  # (adding 0.0 would only copy)
                xp = xp + self._held_x(m)
            ep = self._lagged(self.P, m, xp)
            log.model_effort[..., m] = ep
            if self.record_only:
                e = 1.0
            else:
                xc = self._known(self.C, m, hist, self.statements[1])
                ec = self._lagged(self.C, m, xc)
                e = np.divide(ep, np.maximum(ec, 1e-9, out=ec))
                np.maximum(e, self.lo, out=e)
                np.minimum(e, self.hi, out=e)  # clip(e, lo, hi)
            t = np.multiply(self._left[m], self.er)
            t /= self._quota_floor
            np.add(xp, t, out=log.expected_left[..., m])
        else:
            e = np.ones(self.world.shape)
            log.expected_left[..., m] = 1.0
        log.effort[..., m] = e
        if self.record_only:
            return BASELINE
        return Controls(effort=e, focus=self.focus, help_mult=self.help_mult, mix=self.mix)

    def _effort_compiled(self, m: int, hist: History) -> np.ndarray | None:
        """:meth:`__call__`'s effort, model effort and expected attainment in one compiled pass
        (:func:`simlib.behaviour.compiled.effort_change`); None where it does not apply (the NumPy path then)."""
        P, C = self.P, self.C
        xp = self._known(P, m, hist, self.statements[0])
        xp_then, mp = self._lag_state(P, m, xp)
        if P.packed() is None or C.packed() is None or np.shape(xp_then) != xp.shape:
            return None
        xc_then, mc = self._lag_state(C, m, self._known(C, m, hist, self.statements[1]))
        if np.shape(xc_then) != xp.shape:
            return None
        e, log = np.empty(xp.shape), self.log
        kernels_compiled.effort_change(
            P.rs.table("effort"), P.packed(), mp * X_N, xp_then, C.rs.table("effort"), C.packed(), mc * X_N, xc_then,
            (X_LO, X_H, X_N), (float(self.lo), float(self.hi)), xp, float(self._left[m]), self.er, self._quota_floor,
            log.model_effort[..., m], e, log.expected_left[..., m])
        return e

    def _held_x(self, m: int) -> np.ndarray | float:
        """Attainment of month m's period in deals pushed out of the last period and held to this one's end.

        The rep holds them and knows they will count at the period end, as the
        programme does (the period starts that far ahead, section 4.4), so
        effort and timing are looked up at the state that includes them.
        """
        if self.held is None:
            return 0.0
        return self.held / np.maximum(self.P.target[..., self.P.period_of[m]], 1e-12)

    def _lagged(self, tr: Track, m: int, x: np.ndarray) -> np.ndarray:
        """Effort for month m when it pays off ``lag`` months later (key-account pipeline).

        The programme is solved without the lag; a rep then picks this
        month's effort from the table of the month the deals will close in,
        at the state expected by then (today's pipeline arriving at today's
        effort).
        """
        if not self.lag:
            return tr.lookup("effort", m, x)
        x_then, mm = self._lag_state(tr, m, x)
        return tr.lookup("effort", mm, np.broadcast_to(x_then, x.shape))

    def _lag_state(self, tr: Track, m: int, x: np.ndarray) -> tuple[np.ndarray, int]:
        """The state and month :meth:`_lagged` looks effort up at: ``(x, m)`` without a lag."""
        if not self.lag:
            return x, m
        mm = m + self.lag
        p, inc = tr.period_of, tr.rs.inc
        if mm >= MONTHS:  # closes next year: that year's month, at the expected state then
            mm -= MONTHS
            x_then = tr.a * inc[tr.rs.starts[p[mm]] : mm].sum()
        elif p[mm] == p[m]:
            x_then = x + tr.a * inc[m:mm].sum()
        else:
            x_then = tr.a * inc[tr.rs.starts[p[mm]] : mm].sum()
        return x_then, mm

    def _move(self, tr: Track, m: int, hist: History, d: float, held: np.ndarray | float = 0.0):
        """A plan's timing choice at month m, if a period ends there: (pulled now net of the discount,
        pulled out of the following months, pushed out of month m, discount), each (T, R) or 0.
        ``held``: attainment in pushed deals booked at this period end (:meth:`_held_x`)."""
        if m not in tr.rs.ends:
            return 0.0, 0.0, 0.0, 0.0
        x = tr.x(m, hist, through=m)
        x = x if np.isscalar(held) and held == 0.0 else x + held
        if x.shape == tr.quota.shape and tr.packed() is not None and compiled.enabled():
            out = tuple(np.empty(x.shape) for _ in range(4))  # (now, later, pushed, discount)
            kernels_compiled.timing_move(tr.rs.table("shift"), tr.packed(), m * X_N, x, (X_LO, X_H, X_N), self.er,
                                         float(tr.rs.prof[(m + 1) % MONTHS]), float(tr.rs.prof[m]), float(d), *out)
            return out
        z = tr.lookup("shift", m, x)
        nxt = self.er * tr.rs.prof[(m + 1) % MONTHS]
        cur = self.er * tr.rs.prof[m]
        pulled = np.where(z > 0, z * nxt, 0.0)  # next month's deals closed now
        pushed = np.where(z < 0, -z * cur, 0.0)  # this month's deals delayed
        return pulled * (1 - d), -pulled, pushed, pulled * d

    def settle(self, m: int, hist: History) -> Moves:
        """Timing at period ends: the plan's pull-ins and push-outs, minus today's (the current plan's).

        Pulls (:meth:`_pull_difference`) and pushes (:meth:`_push_difference`)
        are differenced separately. Returns revenue added to month ``m`` and
        carried into the following months, each (T, R) money, or ``(None, None)``.
        """
        if self.timing is None:
            return None, None
        nP, lP, uP, dP = self._move(self.P, m, hist, self.timing, self._held_x(m))
        self.log.model_discount += dP
        if self.record_only:
            return None, None
        nC, lC, uC, dC = self._move(self.C, m, hist, self.timing)
        sn, sl, sd = self._spiff_moves(m, hist)
        self.log.model_discount += sd
        release = self.held if (m in self.P.rs.ends and self.held is not None) else None
        if np.isscalar(nP) and np.isscalar(nC) and np.isscalar(sn) and release is None:
            return None, None
        rev_m = np.maximum(hist["revenue"][m], 0.0)
        now, later = self._pull_difference(rev_m, nP - nC + sn, lP - lC + sl, dP - dC + sd)
        return self._push_difference(m, rev_m, uP - uC, now, later, release)

    def _spiff_moves(self, m: int, hist: History):
        """Deals pulled into a SPIFF window at its last month ``m``: (revenue added now net of the discount,
        revenue owed by the following months, discount), each (T, R) or 0.

        A SPIFF on a count measure moves that measure in ``hist`` itself: the
        pulled count is added to month ``m`` and taken out of the following
        months as they are booked (never below zero); what is still owed at
        year end comes out of January, February ... (steady state, as for
        revenue), and what no month can give is dropped.
        """
        for k, owed in list(self.owed.items()):  # earlier pulls of a count measure come out of this month
            for j in range(m, m + 1) if m < MONTHS - 1 else range(m, m + 1 + MONTHS):
                jj = j % MONTHS  # at year end what is still owed wraps to January, February ... (steady state)
                take = np.minimum(np.maximum(hist[k][jj], 0.0), owed)
                hist[k][jj] = hist[k][jj] - take
                owed = owed - take
            self.owed[k] = owed
        now = later = disc = 0.0
        d = self.timing
        for sp in self.spiff_pulls:
            if sp.month != m or m + 1 >= MONTHS:
                continue
            pulled = sp.z * self.er * self.P.rs.prof[m + 1]  # revenue of the next month's deals, (T, R)
            now, later, disc = now + pulled * (1.0 - d), later - pulled, disc + pulled * d
            if sp.measure != "revenue":
                count = pulled * sp.per_revenue
                moved = np.where(count < 0, -np.minimum(np.maximum(hist[sp.measure][m], 0.0), -count), count)
                hist[sp.measure][m] = hist[sp.measure][m] + moved
                self.owed[sp.measure] = self.owed.get(sp.measure, 0.0) + moved  # < 0: given back to later months
        return now, later, disc

    def _pull_difference(self, rev_m, dn, dl, dd) -> tuple[np.ndarray, np.ndarray]:
        """The plan's pull-ins minus today's, either sign: (added to month m, carried), each (T, R).

        Fewer pulls than today (``dn < 0``) take the discounted deals out of
        month ``m`` (at most its revenue ``rev_m``) and give them back, at full
        price, to the following months: the discount today's pull-ins cost is
        saved (``dd``, recorded in the discount change).
        """
        shape = self.world.shape
        dn = np.broadcast_to(dn, shape)
        dl = np.broadcast_to(dl, shape)
        scale = np.where(dn < 0, np.minimum(1.0, rev_m / np.maximum(-dn, 1e-12)), 1.0)
        self.log.discount += dd * scale  # revenue moved in total: now + later = -(discount change)
        return dn * scale, dl * scale

    def _push_difference(self, m, rev_m, du, now, later, release) -> tuple[np.ndarray, np.ndarray]:
        """Add the plan's push-outs minus today's (``du``) to the moves ``now`` and ``later``.

        More pushes than today delay deals closed in month ``m`` (at most its
        revenue) to the plan's next period end, when their value is known
        (``release``, held since the last one, is booked now); past the year's
        last period end they go to January. Fewer pushes than today book now
        the deals today's rep delayed, out of the following months.
        """
        du = np.broadcast_to(du, self.world.shape)
        push = np.minimum(np.maximum(du, 0.0), np.maximum(rev_m + now, 0.0))
        unpush = np.maximum(-du, 0.0)
        now = now - push + unpush
        later = later - unpush
        if release is not None:
            now = now + release
            self.held = None
        if np.any(push > 0):
            if m >= self.P.rs.ends[-1]:  # past the year's last period end: into January (steady state, as for pulls)
                later = later + push
            else:
                self.held = push if self.held is None else self.held + push
        return now, later


def _sum_at(rev: np.ndarray, ends: list[int]) -> np.ndarray:
    """``rev[..., ends].sum(axis=-1)`` bit for bit, (T, R, 12) -> (T, R), without the gather for fewer than 8 ends.

    NumPy adds a contiguous run of fewer than 8 in turn (as
    :func:`simlib.model.plans.sum_periods`); the months' columns are added
    in that order.
    """
    if len(ends) >= 8:
        return rev[..., ends].sum(axis=-1)
    s = rev[..., ends[0]].copy() if len(ends) == 1 else rev[..., ends[0]] + rev[..., ends[1]]
    for e in ends[2:]:
        s += rev[..., e]
    return s


def production_weights(profile) -> np.ndarray:
    """Each month's production weight (12,): its share of the year's expected revenue at today's effort.

    ``profile`` is the expected revenue per month (:func:`simlib.model.plans.revenue_profile`): effort
    multiplies the month's expected production (docs/model.md section 4.1), so a month's effort counts in the
    year's output by this weight.
    """
    p = np.asarray(profile, dtype=float)
    if p.shape != (MONTHS,) or not np.all(np.isfinite(p)) or np.any(p < 0) or not p.sum() > 0:
        raise SimlibError(f"production weights: expected {MONTHS} finite, non-negative monthly expected revenues "
                          f"with a positive sum, got {np.asarray(profile).tolist()!r}")
    return p / p.sum()


def effort_index(effort: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Effort over the year (..., 12) -> (...): each month's effort (1 = today) weighted by its production weight
    (:func:`production_weights`), so effort moved from a peak month to a quiet one lowers the index as it lowers
    output (docs/model.md section 4.8). With equal weights it is the plain monthly mean. Summed as the change from
    today's, so today's effort gives exactly 1 whatever the weights' rounding."""
    return 1.0 + ((effort - 1.0) * weights).sum(axis=-1)


def behaviour_metrics(rec: PolicyRecord | None, measures, ends: list[int], T: int,
                      total: np.ndarray | None = None, weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-trial behaviour metrics of one group of reps, each (T,).

    Parameters
    ----------
    rec : PolicyRecord or None
        What the group's policy recorded; None means today's behaviour
        (behaviour ``"none"``, or a policy that records nothing).
    measures : mapping
        The group's measures, each (T, R, 12); revenue in money.
    ends : list of int
        Last month (0-11) of each pay period of the plan's primary structure.
    T : int
        Trials.
    total : (T,) array, optional
        The group's revenue per trial, ``revenue.sum(axis=2).sum(axis=1)``, when already known.
    weights : (12,) array, optional
        The months' production weights (:func:`production_weights`) for ``effort_index``; without them
        every month weighs the same.
    """
    rev = measures["revenue"]
    # one axis at a time (months, then reps): per-trial sums that do not depend on the chunk's shape
    tot = rev.sum(axis=2).sum(axis=1) if total is None else total
    last = _sum_at(rev, ends).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        lms = np.where(tot > 0, last / np.where(tot > 0, tot, 1.0), np.nan)
    if len(set(ends)) >= MONTHS:  # paid monthly: every month is a period's last, the share says nothing (NaN)
        lms = np.full(T, np.nan)
    if rec is None:
        return {
            "last_month_share": lms, "discount_cost": np.zeros(T), "help_given": np.ones(T),
            "effort_index": np.ones(T), "give_up_share": np.zeros(T), "coast_share": np.zeros(T),
        }
    low = rec.model_effort <= LOW_EFFORT
    short = rec.expected_left < 1.0
    return {
        "last_month_share": lms,
        "discount_cost": rec.model_discount.sum(axis=1),
        "help_given": rec.help.mean(axis=1),
        "effort_index": (rec.effort.mean(axis=2) if weights is None else effort_index(rec.effort, weights)).mean(axis=1),
        "give_up_share": (low & short).any(axis=2).mean(axis=1),
        "coast_share": (low & ~short).any(axis=2).mean(axis=1),
    }
