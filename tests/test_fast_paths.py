"""Fast paths of the engine give exactly the numbers of the plain code paths they replace."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import DEFAULT

from simlib.model.contracts import PolicyBase
from simlib.model.metrics import _ranks, quantiles_along_reps
from simlib.model.paycurves import Schedule, evaluate
from simlib.model.plans import aggregate, sum_months
from simlib.model.population import Layout, draw_chunk, market_multiplier, role_world, root_seed
from simlib.model.production import BASELINE, RoleProcess, binomial_inv, poisson_inv, run_year
from simlib.scenario import MEASURES, PERIODS, load_scenario


class _Today(PolicyBase):
    """Today's controls, month by month through ``RoleProcess.step``."""

    def __call__(self, month, history):
        return BASELINE


def chunk_worlds(s, trials=23, seed=5):
    """Each role's world for one chunk of ``trials`` trials drawn from ``seed``."""
    draws = draw_chunk(Layout.of(s), root_seed(seed), np.arange(trials))
    market = market_multiplier(s, draws)
    return {r: role_world(s, r, draws, market) for r in s.roles}


@pytest.mark.parametrize("which", ["small", "default", "generic"])
def test_whole_year_at_todays_effort_equals_stepping_month_by_month(small_scenario, which):
    from test_reference import generic_scenario

    s = {"small": small_scenario, "generic": generic_scenario()}.get(which) or load_scenario(DEFAULT)
    for rname, world in chunk_worlds(s).items():
        fast = run_year(world)  # policy None: all months at once
        slow = run_year(world, _Today())  # month by month through step()
        assert list(fast) == list(MEASURES[world.role.process])
        for k in fast:
            assert fast[k].shape == slow[k].shape == world.shape + (12,)
            assert fast[k].flags.c_contiguous
            assert np.array_equal(fast[k].view(np.uint64), slow[k].view(np.uint64)), (rname, k)  # bits, signed zeros too
        assert list(RoleProcess(world).year()) == list(fast)
        assert np.array_equal(world.ramp_mean, world.ramp.mean(axis=-1))
        # derived from ramp, also in a copy with another ramp (multi-year runs: everyone past ramp)
        later = dataclasses.replace(world, new_hire=np.zeros_like(world.new_hire), ramp=np.ones_like(world.ramp))
        assert np.all(later.ramp_mean == 1.0)


def _poisson_plain(u, lam, kmax):
    p = np.exp(-lam)
    cdf = p.copy()
    out = np.zeros(np.shape(u))
    for k in range(1, kmax + 1):
        out += u > cdf
        p = p * lam / k
        cdf = cdf + p
    return out


def _binomial_plain(u, n, p, kmax):
    p = np.clip(p, 1e-12, 1 - 1e-12)
    pmf = (1.0 - p) ** n
    cdf = pmf.copy()
    out = np.zeros(np.shape(u))
    for k in range(0, kmax):
        out += (u > cdf) & (k < n)
        pmf = pmf * np.maximum(n - k, 0) / (k + 1) * p / (1 - p)
        cdf = cdf + pmf
    return out


@pytest.mark.parametrize("scale", [0.05, 0.5, 3.0, 40.0])
def test_inverse_cdfs_equal_the_plain_loops(scale):
    g = np.random.default_rng(7)
    u = g.random((31, 17, 3))
    u[0, :4, 0] = [0.0, 1.0, 1 - 1e-16, 0.5]
    lam = scale * np.exp(0.5 * g.standard_normal(u.shape))
    for kmax in (1, 4, 12):
        assert np.array_equal(poisson_inv(u, lam, kmax), _poisson_plain(u, lam, kmax))
    n = _poisson_plain(g.random(u.shape), lam, 12)
    for p in (0.3, g.random(u.shape)):
        assert np.array_equal(binomial_inv(u, n, p, 12), _binomial_plain(u, n, p, 12))


def _ranks_plain(x):
    """Average ranks along axis 1 by a per-row loop (the original implementation)."""
    T, R = x.shape
    order = np.argsort(x, axis=1, kind="stable")
    xs = np.take_along_axis(x, order, axis=1)
    pos = np.broadcast_to(np.arange(R, dtype=float), (T, R))
    new = np.ones((T, R), dtype=bool)
    new[:, 1:] = xs[:, 1:] != xs[:, :-1]
    gid = np.cumsum(new, axis=1) - 1
    ranks_sorted = np.empty((T, R))
    for t in range(T):
        ranks_sorted[t] = (np.bincount(gid[t], weights=pos[t]) / np.bincount(gid[t]))[gid[t]]
    out = np.empty((T, R))
    np.put_along_axis(out, order, ranks_sorted, axis=1)
    return out


@pytest.mark.parametrize("R", [1, 2, 5, 17, 200])
def test_vectorised_ranks_equal_the_per_row_loop(R):
    g = np.random.default_rng(R)
    y = g.standard_normal((40, R))  # no ties
    assert np.array_equal(_ranks(y), _ranks_plain(y))
    x = np.round(g.standard_normal((40, R)), 1)  # many ties
    x[0, :] = 3.0
    x[2, : R // 2] = 0.0
    assert np.array_equal(_ranks(x), _ranks_plain(x))
    x[1, 0] = x[1, -1] = np.nan
    assert np.array_equal(_ranks(x), _ranks_plain(x), equal_nan=True)


@pytest.mark.parametrize("shape", [(12,), (1, 1, 12), (3, 7, 12), (64, 120, 12)])
def test_period_sums_equal_numpy_sums(shape):
    g = np.random.default_rng(len(shape))
    x = g.standard_normal(shape) * 10 ** g.uniform(0, 6, shape)
    for period, n in PERIODS.items():
        ref = x.reshape(*shape[:-1], n, 12 // n).sum(axis=-1)
        assert np.array_equal(aggregate(x, period, "flow"), ref), period
        assert np.array_equal(aggregate(x, period, "score"), ref / (12 // n)), period


def _evaluate_searchsorted(schedule, x):
    """The schedule evaluated with searchsorted and gathers (the original implementation)."""
    x = np.asarray(x, dtype=float)
    k = np.asarray(schedule.knots, dtype=float)
    i = np.searchsorted(k, x, side="right") - 1
    j = np.maximum(i, 0)
    raw = np.asarray(schedule.values, dtype=float)[j] + np.asarray(schedule.slopes, dtype=float)[j] * (x - k[j])
    raw = np.where(i < 0, schedule.below, raw)
    if np.isfinite(schedule.cap):
        return np.minimum(raw, schedule.cap), raw > schedule.cap
    return raw, np.zeros(x.shape, dtype=bool)


@pytest.mark.parametrize("n_knots", [1, 3, 16, 17, 40])
@pytest.mark.parametrize("cap", [2.5, np.inf])
def test_evaluate_equals_searchsorted_version(n_knots, cap):
    g = np.random.default_rng(n_knots)
    k = np.sort(g.uniform(0, 3, n_knots)) if n_knots > 1 else np.array([0.5])
    sched = Schedule(k, g.uniform(0, 2, n_knots), g.uniform(-1, 2, n_knots), cap, below=0.2)
    x = np.exp(0.5 * g.standard_normal((9, 5, 4)))
    x.flat[:6] = [np.nan, np.inf, -np.inf, k[0], k[-1], 0.0]
    for xs in (x, x[0, 0], 1.0, k[0]):
        got, ref = evaluate(sched, xs), _evaluate_searchsorted(sched, xs)
        for a, b in zip(got, ref, strict=True):
            assert np.shape(a) == np.shape(b)
            assert np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("R", [1, 2, 3, 10, 119, 200])
def test_quantiles_from_one_sort_equal_numpy_quantile(R):
    g = np.random.default_rng(R)
    for trial in range(6):
        x = g.standard_normal((13, R)) * 10 ** g.uniform(-3, 6)
        if trial % 2:
            x = np.round(x)  # ties
        if trial % 3 == 0:
            x[2, 0] = np.nan
            x[4, -1] = np.inf
        for qs in ([0.1, 0.5, 0.9], [0.0, 1.0], [0.25]):
            with np.errstate(invalid="ignore"):
                ref = np.quantile(x, qs, axis=1)
                got = quantiles_along_reps(x, qs)
            assert got.shape == ref.shape
            assert np.array_equal(got, ref, equal_nan=True)


def assert_years_freed(worlds, policy=lambda world: None):
    """No reference cycle keeps a chunk's year of measures alive until the garbage collector runs
    (peak memory would then grow with the number of chunks and plans)."""
    import gc
    import weakref

    gc.disable()
    try:
        for world in worlds.values():
            year = run_year(world, policy(world))
            dict(year)  # compute every measure
            refs = [weakref.ref(year)] + [weakref.ref(year[k]) for k in year]
            del year
            assert all(r() is None for r in refs), world.name
    finally:
        gc.enable()


def test_year_measures_are_freed_as_soon_as_dropped():
    assert_years_freed(chunk_worlds(load_scenario(DEFAULT), trials=4))


@pytest.mark.parametrize("shape", [(12,), (3, 12), (7, 5, 12), (2, 3, 1, 12)])
def test_sum_of_months_is_numpys_sum_bit_for_bit(shape):
    rng = np.random.default_rng(len(shape))
    for scale in (1.0, 1e6, 1e-3):
        x = rng.lognormal(0.0, 2.0, size=shape) * scale * rng.choice([-1.0, 1.0], size=shape)
        assert np.array_equal(sum_months(x), x.sum(axis=-1))
        assert np.array_equal(sum_months(x[..., None, :]), x[..., None, :].sum(axis=-1))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 6, 7, 8, 12, 13])
def test_sum_and_any_over_periods_are_numpys(n):
    from simlib.model.plans import any_period, sum_periods

    rng = np.random.default_rng(n)
    x = rng.lognormal(0.0, 3.0, size=(5, 7, n)) * rng.choice([-1.0, 1.0], size=(5, 7, n))
    assert np.array_equal(sum_periods(x), x.sum(axis=-1))
    b = rng.random((5, 7, n)) < 0.2
    assert np.array_equal(any_period(b), b.any(axis=-1))


@pytest.mark.parametrize("k", [0, 1, 3, 6, 9, 10])
def test_top_k_is_the_head_of_a_stable_descending_sort(k):
    from simlib.model.plans import top_k

    rng = np.random.default_rng(k)
    score = rng.integers(0, 4, size=(200, 9)).astype(float)  # many ties
    score[:50] = rng.random((50, 9))  # and rows without
    want = np.zeros(score.shape, dtype=bool)
    order = np.argsort(-score, axis=1, kind="stable")
    np.put_along_axis(want, order[:, :k], True, axis=1)
    assert np.array_equal(top_k(score, k), want)
    score[3, 2] = np.nan
    want = np.zeros(score.shape, dtype=bool)
    np.put_along_axis(want, np.argsort(-score, axis=1, kind="stable")[:, :k], True, axis=1)
    assert np.array_equal(top_k(score, k), want)


def test_expected_quota_is_the_quota_of_an_average_ramped_rep():
    """flat: every ramped rep's quota; top_down with a company number: its mean; territory: its mean over reps."""
    from simlib.model.plans import expected_quota, set_quotas
    from simlib.scenario import scenario_from_dict

    d = load_scenario(DEFAULT).model_dump(by_alias=True, mode="json")
    for r in d["roles"].values():
        r["new_hire_share"] = 0.0
    d["plans"]["flat"] = {"base": "current", "changes": {"roles": {"telesales": {"quota": {"method": "flat", "level": 1.2}}}}}
    d["plans"]["company"] = {"base": "current", "changes": {"roles": {"telesales": {
        "quota": {"method": "top_down", "company_target": 4.0e7, "level": 0.9}}}}}
    s = scenario_from_dict(d, "quota.yaml")
    world = chunk_worlds(s, trials=200, seed=3)["telesales"]
    np.testing.assert_allclose(set_quotas(s, "flat", world), expected_quota(s, "flat", "telesales"), rtol=1e-12)
    np.testing.assert_allclose(set_quotas(s, "company", world).mean(axis=1), expected_quota(s, "company", "telesales"),
                               rtol=1e-12)
    q = set_quotas(s, "current", world).mean(axis=1)  # territory x noise: mean one per rep
    assert abs(q.mean() - expected_quota(s, "current", "telesales")) < 4 * q.std(ddof=1) / np.sqrt(q.size)


def _draw_chunk_whole(layout, root, trials):
    """Every trial's uniforms into one buffer, then Box-Muller on the whole chunk at once (the original implementation)."""
    from simlib.model.population import TrialStreams, box_muller, draw_views

    T = len(trials)
    n2 = 2 * ((layout.n_normal + 1) // 2)
    e2 = 2 * ((layout.n_extra_normal + 1) // 2)
    end = n2 + layout.n_uniform
    buf = np.empty((T, end + e2 + layout.n_extra_uniform))
    streams = TrialStreams(root)
    for i, t in enumerate(trials):
        streams.generator(int(t)).random(out=buf[i])
    box_muller(buf[:, :n2])
    box_muller(buf[:, end:end + e2])
    return draw_views(layout, buf)


@pytest.mark.parametrize("name", ["default", "role_examples"])  # role_examples: named measures' extra draws
@pytest.mark.parametrize("tile", [1, 40_000, 1 << 17, 1 << 30])
def test_draws_in_tiles_equal_drawing_the_whole_chunk(monkeypatch, name, tile):
    import simlib.model.population as population
    from simlib.model.population import draw_width

    s = load_scenario(DEFAULT.parent / f"{name}.yaml")
    lay, trials = Layout.of(s), np.array([0, 1, 2, 7, 8, 30, 31, 32, 1000])
    ref = _draw_chunk_whole(lay, root_seed(9), trials)
    monkeypatch.setattr(population, "DRAW_TILE", tile)
    scratch = np.full(len(trials) * draw_width(lay) + 5, np.nan)
    for got in (draw_chunk(lay, root_seed(9), trials), draw_chunk(lay, root_seed(9), trials, scratch)):
        assert list(got) == list(ref)
        for k in ref:
            assert got[k].shape == ref[k].shape
            assert np.array_equal(got[k].view(np.uint64), ref[k].view(np.uint64)), k
    assert np.shares_memory(got["market.growth"], scratch)  # drawn into the buffer given


def test_behaviour_off_reuses_a_scratch_buffer_and_gives_the_same_numbers(small_scenario):
    """Chunks of a run drawn into one reused buffer: the numbers of fresh memory per chunk, on threads too."""
    from concurrent.futures import ThreadPoolExecutor

    import simlib.engine.core as core

    ref = core.simulate_raw(small_scenario, trials=40, rng=3, behaviour="none", chunk_size=40)
    buf = core.scratch_buffer(10)
    assert buf is not None and core.scratch_buffer(buf.size) is buf  # kept between chunks
    assert core.scratch_buffer(core.SCRATCH_MAX + 1) is None  # never a huge one
    for cs, ex in ((7, None), (13, None), (5, ThreadPoolExecutor(2))):
        got = core.simulate_raw(small_scenario, trials=40, rng=3, behaviour="none", chunk_size=cs, executor=ex)
        assert np.array_equal(got.mean, ref.mean, equal_nan=True)
        assert np.array_equal(got.keep, ref.keep)
        if ex is not None:
            ex.shutdown()


def test_a_dynamic_run_keeping_no_draws_reuses_the_scratch_buffer_and_gives_the_same_numbers(monkeypatch,
                                                                                           small_scenario):
    """A single run under ``dynamic`` draws its chunks into the thread's reused buffer: the numbers of a run that
    keeps its chunks' draws (as sweeps do), on any chunking and on threads."""
    from concurrent.futures import ThreadPoolExecutor

    import simlib.engine.core as core

    plans = [p for p in small_scenario.plans if p != small_scenario.current_plan]
    kept = core.prepare_run(small_scenario, plans, behaviour="dynamic", keep_draws=True)
    ref = core.simulate_runs([kept], trials=30, rng=5, chunk_size=30)[0]
    asked = []
    real = core.scratch_buffer
    monkeypatch.setattr(core, "scratch_buffer", lambda n, slot=0: asked.append(slot) or real(n, slot))
    monkeypatch.setattr(core, "cpu_count", lambda: 2)
    for cs, ex, ahead in ((30, None, "1"), (7, None, "0"), (7, None, "1"), (4, ThreadPoolExecutor(2), "1")):
        monkeypatch.setenv(core.PREFETCH_ENV, ahead)
        asked.clear()
        got = core.simulate_raw(small_scenario, plans, trials=30, rng=5, behaviour="dynamic", chunk_size=cs,
                                executor=ex)
        chunks = -(-30 // cs)
        if ex is None and ahead == "1" and chunks > 1:  # drawn a chunk ahead: the thread's two buffers, alternately
            assert asked == [0, 1]
        else:  # every chunk drawn into the scratch buffer
            assert asked == [0] * chunks
        for k in ("mean", "se", "n"):
            assert np.array_equal(getattr(got, k), getattr(ref, k), equal_nan=True), (cs, k)
        assert np.array_equal(got.keep, ref.keep)
        if ex is not None:
            ex.shutdown()


@pytest.mark.parametrize("which", ["default", "small"])
def test_production_in_tiles_of_trials_equals_one_tile(monkeypatch, small_scenario, which):
    """The year's elementwise chains run tile by tile of trials: any tiling gives the numbers of one tile."""
    import simlib.model.population as population

    s = small_scenario if which == "small" else load_scenario(DEFAULT)
    worlds = chunk_worlds(s, trials=37)
    monkeypatch.setattr(population, "TILE_ELEMENTS", 1 << 40)
    ref = {r: dict(run_year(w)) for r, w in worlds.items()}
    for elements in (1, 5 * 12 * 7, 40_000):
        monkeypatch.setattr(population, "TILE_ELEMENTS", elements)
        for r, w in worlds.items():
            got = run_year(w)
            for k, v in ref[r].items():
                assert np.array_equal(got[k].view(np.uint64), v.view(np.uint64)), (r, k, elements)


def test_won_sizes_equal_numpys_sum_of_the_won_deals():
    """Column by column in NumPy's order for short rows: the sum along the row of the won deals' sizes."""
    from simlib.model.production import won_sizes

    g = np.random.default_rng(11)
    sizes = 1.25e5 * np.exp(0.8 * g.standard_normal((50_000, 4)) - 0.32)
    sizes[:5] = [[1.0, 1e-17, 1e17, 3.0], [0.1, 0.2, 0.3, 0.4], [1e16, 1.0, 1.0, 1.0], [1.0, 1e16, -1e16, 1.0],
                 [2.0, 2.0, 2.0, 2.0]]
    deals = np.maximum(g.poisson(1.5, 50_000), 1).astype(float)
    won = np.arange(4) < deals[:, None]
    assert np.array_equal(won_sizes(sizes, deals), np.sum(np.where(won, sizes, 0.0), axis=-1))
    big = won & (sizes >= 1.5e5)
    assert np.array_equal(won_sizes(sizes, deals, 1.5e5), np.sum(np.where(big, sizes, 0.0), axis=-1))
    for k in (1, 7, 8, 13):  # any number of drawn sizes
        sz = np.exp(3.0 * g.standard_normal((2000, k)))
        d = g.integers(1, k + 3, 2000).astype(float)
        won = np.arange(k) < d[:, None]
        assert np.array_equal(won_sizes(sz, d), np.sum(np.where(won, sz, 0.0), axis=-1)), k
        assert np.array_equal(won_sizes(sz, d, 1.0), np.sum(np.where(won & (sz >= 1.0), sz, 0.0), axis=-1)), k


def test_ramp_of_a_synthetic_role_is_the_where_of_new_hires(small_scenario):
    for s in (small_scenario, load_scenario(DEFAULT)):
        for rname, w in chunk_worlds(s, trials=9).items():
            curve = np.minimum(1.0, (np.arange(12) + 1.0) / w.role.ramp_months)
            assert w.ramp.flags.c_contiguous and w.ramp.dtype == np.float64
            assert np.array_equal(w.ramp, np.where(w.new_hire[..., None], curve, 1.0)), rname


def test_a_run_with_behaviour_off_takes_larger_chunks_and_the_same_numbers():
    import simlib.engine.core as core

    s = load_scenario(DEFAULT)
    big, usual = core.scratch_chunk_size(s), core.default_chunk_size(s)
    assert big >= 2 * usual - 1
    trials = big + 5  # two chunks of the larger size
    off = core.simulate_raw(s, ["current"], trials=trials, rng=4, behaviour="none")
    assert off.provenance["chunk_size"] == big
    ref = core.simulate_raw(s, ["current"], trials=trials, rng=4, behaviour="none", chunk_size=usual)
    assert np.array_equal(off.mean, ref.mean, equal_nan=True) and np.array_equal(off.keep, ref.keep)
    kept = core.simulate_runs([core.prepare_run(s, ["current"], behaviour="none", keep_draws=True)], trials=10, rng=4)
    assert kept[0].provenance["chunk_size"] == usual  # sweeps keep draws: the usual chunks, as the draws cache holds them


def test_filling_trial_after_trial_equals_repositioning_each_time():
    """TrialStreams.fill moves from the last fill by one advance: the numbers of generator(trial).random."""
    from simlib.model.population import TrialStreams

    root = root_seed(12)
    fresh, moving = TrialStreams(root), TrialStreams(root)
    for t, n in [(0, 10), (1, 7), (2, 7), (2, 3), (9, 1), (3, 12), (2**40, 5), (0, 4), (5, 0), (6, 8)]:
        want = fresh.generator(t).random(n)
        got = np.empty(n)
        moving.fill(t, got)
        assert np.array_equal(got, want), t
    moving.generator(4).random(3)  # a caller drawing on its own: the next fill starts again from the root
    got = np.empty(6)
    moving.fill(7, got)
    assert np.array_equal(got, fresh.generator(7).random(6))


def test_mean_ramp_of_a_synthetic_role_is_the_sum_over_its_months(small_scenario):
    """A synthetic world's mean ramp is gathered from its two rows: the bits of summing each rep's months; a world
    with another ramp (dataclasses.replace, as training and projects make) gets its own."""
    for s in (small_scenario, load_scenario(DEFAULT)):
        for rname, w in chunk_worlds(s, trials=9).items():
            assert w.new_hire.any() and not w.new_hire.all(), rname  # both rows in use
            assert np.array_equal(w.ramp_mean.view(np.uint64), (sum_months(w.ramp) / 12).view(np.uint64)), rname
            other = dataclasses.replace(w, ramp=w.ramp * 0.7)
            assert np.array_equal(other.ramp_mean, sum_months(w.ramp * 0.7) / 12), rname


@pytest.mark.parametrize("ends", [[11], [5, 11], [2, 5, 8, 11], [1, 3, 5, 7, 9, 11], list(range(12))])
def test_revenue_at_period_ends_is_numpys_sum_of_those_months(ends):
    """Today's behaviour metrics: the revenue of the period-end months, per trial, is NumPy's sum of the gathered
    months then of the reps, bit for bit (signed zeros, a NaN, whole trials without revenue)."""
    from simlib.behaviour.policy import behaviour_metrics

    rng = np.random.default_rng(3)
    rev = rng.lognormal(10.0, 2.0, (40, 17, 12))
    rev[0, 0, :] = -0.0
    rev[1, 2, 5:] = np.nan
    rev[2] = 0.0
    rev[3, :, 11] = -0.0
    T = rev.shape[0]
    got = behaviour_metrics(None, {"revenue": rev}, ends, T)["last_month_share"]
    tot, last = rev.sum(axis=2).sum(axis=1), rev[..., ends].sum(axis=2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        want = np.where(tot > 0, last / np.where(tot > 0, tot, 1.0), np.nan)
    if len(ends) == 12:  # paid monthly: every month ends a period, the share is not applicable (NaN), not 100%
        want = np.full(T, np.nan)
    assert np.array_equal(got.view(np.uint64), want.view(np.uint64))
