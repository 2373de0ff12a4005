"""The fast path of a year under a policy (``run_year`` with a policy that says what it reads) gives exactly the
numbers of stepping ``RoleProcess.step`` month by month, and the dynamic policy's lookups those of the plain
corner-by-corner interpolation."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DEFAULT
from test_fast_paths import assert_years_freed, chunk_worlds

from simlib import simulate
from simlib.behaviour.kernels import X_H, X_LO, X_N
from simlib.behaviour.policy import DynamicPolicy, Track
from simlib.behaviour.types import type_corners
from simlib.model.contracts import Controls, PolicyBase
from simlib.model.production import SteppedYear, run_year
from simlib.scenario import MEASURES, MONTHS, load_scenario


class _Varied(PolicyBase):
    """Effort, focus and help that vary by rep and month and follow revenue so far; a pull-in at each quarter end.

    ``reads`` None: the full month step; a set: the fast path, stepping those measures.
    """

    def __init__(self, shape, reads, seed=0, focus=True):
        self.shape, self.reads, self.focus = shape, reads, focus
        self.rng = np.random.default_rng(seed)

    def __call__(self, month, history):
        e = self.rng.uniform(0.6, 1.6, self.shape)
        if month:  # respond to revenue so far, as a policy does
            e = e * np.where(history["revenue"][month - 1] > np.median(history["revenue"][month - 1]), 0.9, 1.1)
        f = self.rng.uniform(0.8, 1.2, self.shape) if self.focus else 1.0
        return Controls(effort=e, focus=f, help_mult=1.05)

    def settle(self, month, history):
        if month % 3 != 2 or month == MONTHS - 1:
            return None, None
        rev = history["revenue"][month]
        return 0.1 * rev, -0.1 * rev


def _bits(a):
    return np.ascontiguousarray(a, dtype=float).view(np.uint64)


@pytest.mark.parametrize("focus", [True, False])
@pytest.mark.parametrize("extra", ["none", "all"])
def test_fast_year_equals_stepping_every_month(small_scenario, focus, extra):
    s = load_scenario(DEFAULT)
    worlds = {**chunk_worlds(s), **{f"small {k}": w for k, w in chunk_worlds(small_scenario).items()}}
    assert {w.role.process for w in worlds.values()} >= set(SteppedYear.PROCESSES)
    for name, world in worlds.items():
        if not SteppedYear.fits(world, frozenset()):
            continue
        names = list(MEASURES[world.role.process])
        reads = {"revenue"} if extra == "none" else set(names)
        slow = run_year(world, _Varied(world.shape, None, focus=focus))
        fast = run_year(world, _Varied(world.shape, reads, focus=focus))
        assert list(fast) == list(slow) == names
        for k in names:
            assert fast[k].shape == world.shape + (MONTHS,) and fast[k].flags.c_contiguous
            assert np.array_equal(_bits(fast[k]), _bits(slow[k])), (name, k)  # bits: signed zeros too


def test_a_policy_that_reads_a_count_sees_it_stepped(small_scenario):
    world = next(w for w in chunk_worlds(small_scenario).values() if w.role.process == "key_account")
    seen = []

    class Reader(_Varied):
        def __call__(self, month, history):
            if month:
                seen.append(history["new_accounts"][month - 1].copy())
            return super().__call__(month, history)

    res = run_year(world, Reader(world.shape, {"revenue", "new_accounts"}))
    assert len(seen) == MONTHS - 1
    assert np.array_equal(np.stack(seen, axis=-1), res["new_accounts"][..., :-1])


def test_dynamic_runs_equal_the_full_month_step(monkeypatch):
    """Whole runs under ``dynamic`` (a SPIFF on a count measure, timing, versions of plans) are the same numbers
    when every measure is stepped month by month."""
    s = load_scenario(DEFAULT.parent / "mechanics.yaml")
    fast = simulate(s, None, trials=12, rng=4, behaviour="dynamic", chunk_size=6).raw
    assert any(sp.measure != "revenue" for p in s.plans for r in s.plans[p].roles
               for sp in s.role_plan(p, r).spiffs or ())  # a SPIFF on a count: the policy reads that count
    monkeypatch.setattr(DynamicPolicy, "reads", property(lambda self: None))
    slow = simulate(s, None, trials=12, rng=4, behaviour="dynamic", chunk_size=6).raw
    for k in ("mean", "se", "n"):
        assert np.array_equal(getattr(fast, k), getattr(slow, k), equal_nan=True), k


def _plain_lookup(rs, va, vc, name, m, x):
    """The interpolation written out: each corner of the type grid, linear in the state between grid points."""
    flat = getattr(rs, name).reshape(-1)
    NC = len(rs.c_grid)
    u = (x - X_LO) / X_H
    i = np.clip(np.floor(u), 0, X_N - 2).astype(np.intp)
    w = np.clip(u - i, 0.0, 1.0)
    out = 0.0
    for ja, jc, wt in type_corners(rs.a_grid, rs.c_grid, va, vc):
        j = (ja * NC + jc) * (MONTHS * X_N) + m * X_N + i
        out = out + wt * (flat[j] + w * (flat[np.minimum(j + 1, flat.size - 1)] - flat[j]))
    return out


def test_lookup_equals_the_corner_by_corner_interpolation(default_scenario):
    from simlib.behaviour.dynamic import DynamicBehaviour

    model = DynamicBehaviour(default_scenario)
    rng = np.random.default_rng(2)
    for plan in ("current", "team_weighted"):
        rs = model.solve(plan, "telesales")
        shape = (9, 13)
        va, vc = np.exp(rng.normal(0, 0.8, shape)), np.exp(rng.normal(0, 0.6, shape))  # past the grids' ends too
        tr = Track(rs, np.full(shape, 3e5), va, vc, np.ones(shape))
        for m in (0, 5, 11):
            x = rng.uniform(-2.0, 7.0, shape)  # below, inside and above the state grid
            for name in ("effort", "shift"):
                got, want = tr.lookup(name, m, x), _plain_lookup(rs, va, vc, name, m, x)
                assert np.array_equal(got, want), (plan, name, m)


def test_fast_year_is_freed_as_soon_as_dropped():
    """No reference cycle keeps a chunk's months alive under a policy that reads only revenue (the fast path)."""
    assert_years_freed(chunk_worlds(load_scenario(DEFAULT), trials=4), lambda w: _Varied(w.shape, {"revenue"}))


class _BooksAndOwes(PolicyBase):
    """No sales (effort 0), but at three quarter ends books deals now that the following months owe back
    (a plan's rep pushing out fewer deals than today's, whose push-outs follow expected revenue)."""

    MOVES = {2: 443.28297771394415, 5: 421.6945210070962, 8: 393.62952728819397}  # dynamic audit, seed 12, case 32

    def __init__(self, reads):
        self.reads = reads

    def __call__(self, month, history):
        return Controls(effort=0.0)

    def settle(self, month, history):
        if month not in self.MOVES:
            return None, None
        a = np.full(history["revenue"][month].shape, self.MOVES[month])
        return a, -a


@pytest.mark.parametrize("reads", [None, frozenset({"revenue"})])
def test_revenue_moved_and_owed_back_leaves_no_rounding(small_scenario, reads):
    """What a month books out of the following months comes back in full: a rep with no sales ends the year with
    revenue 0 in every month, not 6e-14 of the sums' rounding (which made comp / revenue 1e17 under one scale of
    money and undefined under another)."""
    world = next(w for w in chunk_worlds(small_scenario).values() if w.role.process == "telesales")
    rev = run_year(world, _BooksAndOwes(reads))["revenue"]
    assert not rev.any(), rev[rev != 0][:3]
