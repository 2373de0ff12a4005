"""The Bellman expectation of a role whose month moves the state hundreds of cells (a role of one or two reps with
a wide ability spread and a noisy output, docs/model.md section 6.2): read node by node, its memory does not grow
with the kernel's span, and it gives the former dense product's numbers to rounding."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from simlib.behaviour import kernels
from simlib.behaviour.dynamic import DynamicBehaviour, clear_solutions
from simlib.behaviour.kernels import X_GRID, X_H, X_N, expect_shifted, interp
from simlib.scenario import scenario_from_dict


def former_dense(V: np.ndarray, d: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """The expectation as it was computed for every kernel before (one batched product of a kernel spanning the
    largest type's move): the oracle of the narrow path, which keeps it, and of the wide one to rounding."""
    NT, G = V.shape
    E = d.shape[1]
    u = d / X_H
    k = np.floor(u)
    w = u - k
    k = k.astype(np.intp)
    J = int(k.max()) + 2
    slope = V[:, -1:] - V[:, -2:-1]
    Vp = np.concatenate([V, V[:, -1:] + slope * np.arange(1, J + 1)[None, :]], axis=1)
    idx = ((np.arange(NT)[:, None, None] * E + np.arange(E)[None, :, None]) * J + k).ravel()
    pw = np.broadcast_to(prob[:, None, :], k.shape)
    n = NT * E * J
    kern = np.bincount(idx, (pw * (1.0 - w)).ravel(), minlength=n) + np.bincount(idx + 1, (pw * w).ravel(), minlength=n + 1)[:n]
    win = np.lib.stride_tricks.sliding_window_view(Vp, G, axis=1)[:, :J, :]
    return np.matmul(win.transpose(0, 2, 1), kern.reshape(NT, E, J).transpose(0, 2, 1))


def _wide(span_cells: float, NT: int = 9, Q: int = 5, seed: int = 3):
    """A value (NT, G) and a month's moves (NT, 21, Q) whose largest is ``span_cells`` state cells, as a wide type
    beside narrow ones makes them (types' expected attainment from 0.25 to 4 times, lognormal nodes of CV 1.09)."""
    rng = np.random.default_rng(seed)
    V = np.cumsum(rng.random((NT, X_N)), axis=1) * 1e4 + np.maximum(X_GRID, 0.0)[None, :] * 3e4
    sig = np.sqrt(np.log(1.0 + 1.09**2))
    gx, gw = np.polynomial.hermite_e.hermegauss(Q)
    nv = np.exp(sig * gx - 0.5 * sig * sig)
    a = np.exp(np.linspace(np.log(0.25), np.log(4.0), NT))
    eE = np.exp(np.linspace(np.log(0.5), np.log(1.5), 21)) ** 0.6
    d = a[:, None, None] * eE[None, :, None] * nv[None, None, :]
    d = d / d.max() * (span_cells - 0.5) * X_H
    prob = np.broadcast_to(gw / gw.sum(), (NT, Q)).copy()
    return V, d, prob


def _direct(V, d, prob):
    """Each node's shifted state interpolated on the grid (linear beyond it), weighted: the definition."""
    return (interp(V, X_GRID[None, :, None, None] + d[:, None, :, :]) * prob[:, None, None, :]).sum(axis=3)


def test_wide_kernel_memory_does_not_grow_with_the_span():
    """A month's move of 20,000 cells: the former product built a window of NT x G x span values (117 MB for 9
    types); the expectation now needs under a tenth of it."""
    V, d, prob = _wide(20_000)
    window = V.shape[0] * X_N * 20_000 * 8
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = expect_shifted(V, d, prob)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.isfinite(out).all()
    assert peak < window / 10, f"peak {peak / 1e6:.1f} MB for a dense window of {window / 1e6:.1f} MB"


@pytest.mark.parametrize("span", [300, 800, 3000])
@pytest.mark.parametrize("Q", [5, 11])
def test_wide_kernel_equals_direct_interpolation_and_the_former_product(span, Q):
    V, d, prob = _wide(span, Q=Q)
    assert int(np.floor(d / X_H).max()) + 2 > kernels.DENSE_SPAN  # the node-by-node path
    got = expect_shifted(V, d, prob)
    scale = np.abs(got).max()
    np.testing.assert_allclose(got, _direct(V, d, prob), rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(got, former_dense(V, d, prob), rtol=0, atol=1e-12 * scale)


@pytest.mark.parametrize("span", [3, 40, 120, 250])
def test_narrow_kernel_keeps_the_former_product_bit_for_bit(span):
    V, d, prob = _wide(span)
    assert int(np.floor(d / X_H).max()) + 2 <= kernels.DENSE_SPAN
    assert np.array_equal(expect_shifted(V, d, prob), former_dense(V, d, prob))


def _director() -> dict:
    """A key-account director alone (one rep, ability sd 1.16, revenue CV 1.09, paid monthly), today's plan and
    a top-down quota: a month's move of several hundred cells for the strongest types."""
    curve = {"name": "monthly", "measure": "revenue", "kind": "curve", "weight": 1.0, "period": "month",
             "points": [[0.5, 0.0], [1.0, 1.0], [2.0, 2.0]]}
    return {
        "name": "director", "currency": "EUR",
        "roles": {"director": {
            "process": "generic", "headcount": 1, "team_size": 1, "base_salary": 120000, "target_incentive": 60000,
            "ability_sd": 1.16, "territory_sd": 0.03,
            "production": {"revenue_per_month": 80000, "revenue_cv": 1.09, "revenue_per_unit": 770}}},
        "budget": {"incentive": 200000},
        "current_plan": "current",
        "plans": {
            "current": {"roles": {"director": {"quota": {"method": "territory", "level": 1.0, "noise": 0.2},
                                               "components": [curve]}}},
            "top_down": {"roles": {"director": {"quota": {"method": "top_down", "level": 1.1, "noise": 0.2},
                                                "components": [curve]}}},
        },
    }


def test_wide_role_programme_matches_the_former_product(monkeypatch):
    """The director's programme (as the role's solve builds it; today's 9 types, the candidate's 81 beside them in
    the solve), solved node by node and through the former product (forced for every kernel): effort, timing and
    mean output the same to 1e-9 (rounding only). The 9 types' alone: the former product of the 81 takes seconds."""
    scen = scenario_from_dict(_director(), "director")
    problems = {}
    real = kernels.solve

    def keep(pb):
        problems[len(pb.a)] = pb  # the last programme of each size: today's 9 types, the candidate's 81
        return real(pb)

    monkeypatch.setattr(kernels, "solve", keep)
    clear_solutions()
    m = DynamicBehaviour(scen)
    for p in scen.plans:
        m.solve(p, "director")
    clear_solutions()
    monkeypatch.setattr(kernels, "solve", real)
    assert sorted(problems) == [9, 81]
    for pb in [problems[9]]:
        d = kernels._month_shifts(pb, int(np.argmax(pb.inc)), pb.e_grid**pb.eta)
        assert int(np.floor(d / X_H).max()) + 2 > 2 * kernels.DENSE_SPAN  # a wide role indeed: 784 cells
        new = kernels.solve(pb)
        with monkeypatch.context() as mp:
            mp.setattr(kernels, "DENSE_SPAN", 10**9)
            old = kernels.solve(pb)
        np.testing.assert_allclose(new.effort, old.effort, rtol=0, atol=1e-9)
        np.testing.assert_allclose(new.shift, old.shift, rtol=0, atol=1e-9)
        np.testing.assert_allclose(new.mean_output, old.mean_output, rtol=1e-9)
