"""Each plan's behaviour is solved once: in the parent or as a task, shipped to workers, cached by content."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from simlib import simulate
from simlib.behaviour import kernels
from simlib.behaviour.dynamic import DynamicBehaviour
from simlib.design.sweep import run_sweep
from simlib.engine.core import solve_ahead
from simlib.engine.parallel import resolve_executor, worker_count
from simlib.memo import ContentCache

PLANS = ["current", "harder_target", "team_weighted"]


def _same(a, b):
    assert np.array_equal(a.raw.mean, b.raw.mean, equal_nan=True)
    assert np.array_equal(a.raw.se, b.raw.se, equal_nan=True)
    assert np.array_equal(a.raw.keep, b.raw.keep)


def _no_solving(monkeypatch):
    def refuse(problem):
        raise AssertionError("a behaviour programme was solved again")

    monkeypatch.setattr(kernels, "solve", refuse)


@pytest.fixture(scope="module")
def serial_dynamic(scen):
    return simulate(scen, PLANS, trials=40, rng=4, chunk_size=20, behaviour="dynamic", executor="serial")


def test_dynamic_on_a_process_pool_is_bit_identical(scen, serial_dynamic):
    # solutions are made as tasks on the workers, adopted by the parent and shipped with the chunks
    model = DynamicBehaviour(scen)
    with resolve_executor("processes:2") as ex:
        res = simulate(scen, PLANS, trials=40, rng=4, chunk_size=20, behaviour=model, executor=ex)
    _same(serial_dynamic, res)
    assert model.unsolved(PLANS) == []  # every plan came back solved


def test_shipped_model_solves_nothing_again(scen, serial_dynamic, monkeypatch):
    model = DynamicBehaviour(scen)
    solve_ahead(model, PLANS)
    shipped = pickle.loads(pickle.dumps(model))  # what a worker receives
    _no_solving(monkeypatch)
    res = simulate(scen, PLANS, trials=40, rng=4, chunk_size=20, behaviour=shipped, executor="serial")
    _same(serial_dynamic, res)


def test_sweep_revisiting_plans_solves_nothing(scen, monkeypatch):
    params = {"target_level": [0.95, 1.05]}
    first = run_sweep(scen, params, trials=20, rng=1, behaviour="dynamic", executor="serial")
    _no_solving(monkeypatch)  # new scenario objects, same plan content: found by content
    again = run_sweep(scen, params, trials=20, rng=1, behaviour="dynamic", executor="serial")
    assert first.equals(again)


def test_content_cache_is_bounded_least_recently_used():
    c = ContentCache(max_items=3, max_bytes=100)
    for k in "abc":
        c.put(k, k.upper(), 10)
    assert c.get("a") == "A"  # a is now the most recently used
    c.put("d", "D", 10)
    assert "b" not in c and {"a", "c", "d"} <= {k for k in "abcd" if k in c}
    c.put("e", "E", 85)  # past the byte bound: the oldest go until it fits
    assert c.nbytes <= 100 and "e" in c and len(c) <= 2
    c.put("big", "X", 1000)  # a single value past the bound is kept on its own
    assert len(c) == 1 and c.get("big") == "X"
    assert c.get("missing", 0) == 0


def test_worker_count():
    with resolve_executor("processes:2") as ex:
        assert worker_count(ex) == 2
