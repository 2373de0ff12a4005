"""The random numbers a trial draws: per-trial streams and Box-Muller normals."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DEFAULT
from scipy import stats

from simlib.model.population import (
    STREAM_STRIDE,
    Layout,
    TrialStreams,
    box_muller,
    draw_chunk,
    root_seed,
    trial_generator,
)
from simlib.scenario import load_scenario


def _normals(n, seed=0):
    """n normals through the engine's transform, from one generator's uniforms."""
    u = np.random.default_rng(seed).random((1, 2 * ((n + 1) // 2)))
    return box_muller(u)[0, :n]


def test_box_muller_gives_standard_normals():
    n = 400_000
    z = _normals(n)
    se = 1.0 / np.sqrt(n)
    assert abs(z.mean()) < 4 * se
    assert abs(z.var() - 1.0) < 4 * np.sqrt(2.0) * se
    assert abs(stats.skew(z)) < 4 * np.sqrt(6.0) * se
    assert abs(stats.kurtosis(z)) < 4 * np.sqrt(24.0) * se
    assert stats.kstest(z, "norm").pvalue > 1e-3
    # tails: P(|z| > 3) = 0.0027
    p3 = np.mean(np.abs(z) > 3.0)
    assert abs(p3 - 2 * stats.norm.sf(3.0)) < 4 * np.sqrt(2 * stats.norm.sf(3.0) / n)


def test_box_muller_pairs_are_independent():
    u = np.random.default_rng(1).random((1, 200_000))
    z = box_muller(u)[0]
    k = z.size // 2
    c, s = z[:k], z[k:]  # the cosine and sine normal of each pair
    assert abs(np.corrcoef(c, s)[0, 1]) < 4 / np.sqrt(k)
    assert abs(np.corrcoef(c**2, s**2)[0, 1]) < 4 / np.sqrt(k)  # no dependence through the radius


def test_box_muller_edges_are_finite():
    u = np.array([[0.0, 1.0 - 2**-53, 0.0, 0.5]])  # radius uniforms at the ends of [0, 1)
    z = box_muller(u.copy())[0]
    assert np.all(np.isfinite(z))
    assert z[0] == 0.0 and z[2] == 0.0  # u1 = 0: radius 0
    assert abs(z[1]) == pytest.approx(np.sqrt(-2 * np.log(2.0**-53)), rel=1e-6)  # the largest possible radius


def test_trial_stream_is_the_root_sequence_advanced_by_the_stride():
    root = root_seed(7)
    base = np.random.PCG64(root)
    streams = TrialStreams(root)
    for t in (0, 1, 5, 123_456):
        expected = np.random.PCG64(root)
        expected.advance((t * STREAM_STRIDE) % (1 << 128))
        want = np.random.Generator(expected).random(50)
        assert np.array_equal(streams.generator(t).random(50), want)
        assert np.array_equal(trial_generator(root, t).random(50), want)
    assert np.array_equal(np.random.Generator(base).random(5), trial_generator(root, 0).random(5))


def test_trial_streams_are_uncorrelated_and_do_not_depend_on_order():
    root = root_seed(3)
    s = TrialStreams(root)
    a = [s.generator(t).random(20_000) for t in range(6)]
    b = [s.generator(t).random(20_000) for t in reversed(range(6))][::-1]
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)
    c = np.corrcoef(np.array(a))
    off = c[~np.eye(6, dtype=bool)]
    assert np.max(np.abs(off)) < 4 / np.sqrt(20_000)


def test_stride_keeps_trial_streams_far_apart():
    # starting points of trials 0..N-1 on the 2**128 cycle: the closest two are far more
    # draws apart than a trial uses (about 10**4 for the default scenario)
    n = 1 << 12
    pos = np.sort(np.array([(t * STREAM_STRIDE) % (1 << 128) for t in range(n)], dtype=object))
    gaps = [int(b - a) for a, b in zip(pos[:-1], pos[1:], strict=True)]
    assert min(gaps) > 1 << 100
    assert STREAM_STRIDE % 2 == 1


def test_draw_chunk_reads_each_trial_from_its_own_stream():
    s = load_scenario(DEFAULT)
    lay, root = Layout.of(s), root_seed(11)
    whole = draw_chunk(lay, root, np.arange(6))
    parts = [draw_chunk(lay, root, np.array([t])) for t in (4, 1)]
    for key in whole:
        assert np.array_equal(whole[key][4], parts[0][key][0])
        assert np.array_equal(whole[key][1], parts[1][key][0])
    # the first normals of a trial come from the first uniforms of its stream
    g = trial_generator(root, 2)
    n2 = 2 * ((lay.n_normal + 1) // 2)
    z = box_muller(g.random((1, n2)))[0]
    off, shape = lay.normals["market.growth"]
    assert whole["market.growth"][2, 0] == z[off]
