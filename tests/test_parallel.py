"""Same seed, same numbers: serial, process pool and Dask LocalCluster with 1 and 2 workers."""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pytest

from simlib import simulate
from simlib.design.optimize import optimize
from simlib.design.sweep import run_sweep
from simlib.engine.parallel import resolve_executor
from simlib.errors import SimlibError

distributed = pytest.importorskip("dask.distributed")

TRIALS = 96
CHUNK = 16  # several chunks, so that work is really spread over workers


@pytest.fixture(scope="module")
def cluster_client():
    """One LocalCluster for the module (startup takes seconds); starts with 1 worker, tests scale it."""
    import dask

    # worker processes start slowly on a busy machine: Dask's 30 s connect timeouts are only a guard against hangs
    with dask.config.set({"distributed.comm.timeouts.connect": "300s", "distributed.comm.timeouts.tcp": "300s"}):
        cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None)
        client = distributed.Client(cluster, timeout="300s")
        yield client
        client.close()
        cluster.close()


def _workers(client, n: int):
    client.cluster.scale(n)
    deadline = time.monotonic() + 600  # a guard against a hang, not a limit on a slow start
    while len(client.scheduler_info()["workers"]) != n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"cluster did not reach {n} workers")
        time.sleep(0.1)
    return client


@pytest.fixture(scope="module")
def serial_run(scen):
    return simulate(scen, trials=TRIALS, rng=11, chunk_size=CHUNK, behaviour="none")


def _same(a, b):
    assert a.raw.layout == b.raw.layout
    assert np.array_equal(a.raw.n, b.raw.n)
    assert np.array_equal(a.raw.mean, b.raw.mean, equal_nan=True)
    assert np.array_equal(a.raw.se, b.raw.se, equal_nan=True)
    assert np.array_equal(a.raw.keep, b.raw.keep)


def test_process_pool_bit_identical(scen, serial_run):
    with ProcessPoolExecutor(max_workers=2) as ex:
        _same(serial_run, simulate(scen, trials=TRIALS, rng=11, chunk_size=CHUNK, executor=ex, behaviour="none"))
    # and through the scheduler helper, with a different chunking
    with resolve_executor("processes:2") as ex:
        _same(serial_run, simulate(scen, trials=TRIALS, rng=11, chunk_size=40, executor=ex, behaviour="none"))


@pytest.mark.parametrize("n_workers", [1, 2])
def test_dask_local_cluster_bit_identical(scen, serial_run, cluster_client, n_workers):
    client = _workers(cluster_client, n_workers)
    _same(serial_run, simulate(scen, trials=TRIALS, rng=11, chunk_size=CHUNK, executor=client, behaviour="none"))


def test_dynamic_same_on_dask(scen, cluster_client):
    # behaviour solved as tasks on the workers, the solved model scattered to them once
    client = _workers(cluster_client, 2)
    kw = dict(trials=32, rng=3, chunk_size=CHUNK, behaviour="dynamic")
    plans = ["current", "harder_target", "uncapped_quarterly"]
    _same(simulate(scen, plans, executor="serial", **kw), simulate(scen, plans, executor=client, **kw))


def test_sweep_same_on_dask(scen, cluster_client):
    client = _workers(cluster_client, 2)
    params = {"target_level": [0.95, 1.05], "team_weight": [0.0, 0.3]}
    local = run_sweep(scen, params, trials=48, rng=5, executor="serial", chunk_size=CHUNK, behaviour="none")
    remote = run_sweep(scen, params, trials=48, rng=5, executor=client, chunk_size=CHUNK, behaviour="none")
    pd.testing.assert_frame_equal(local, remote, check_exact=True)


def test_optimize_same_on_dask(scen, cluster_client):
    client = _workers(cluster_client, 2)
    kw = dict(objective="profit", constraints=["share_at_quota >= 0.45"], trials=32, rng=2, starts=4, maxiter=8,
              chunk_size=CHUNK, behaviour="none")
    a = optimize(scen, {"target_level": (0.9, 1.2)}, executor="serial", **kw)
    b = optimize(scen, {"target_level": (0.9, 1.2)}, executor=client, **kw)
    assert a.params == b.params and a.objective == b.objective
    pd.testing.assert_frame_equal(a.history, b.history, check_exact=True)


def test_resolve_executor_choices():
    with resolve_executor("serial") as ex:
        assert ex is None
    with resolve_executor("auto", work=1000) as ex:  # too small to pay for a pool
        assert ex is None
    with resolve_executor(None, work=None) as ex:
        assert ex is None
    with resolve_executor("processes:1") as ex:
        assert isinstance(ex, ProcessPoolExecutor)
    sentinel = ProcessPoolExecutor(max_workers=1)
    try:
        with resolve_executor(sentinel) as ex:
            assert ex is sentinel  # passed-in executors are used as is, not shut down
        assert sentinel.submit(int, "3").result() == 3
    finally:
        sentinel.shutdown()
    for bad in ("nonsense", "processes:x", "local:0"):
        with pytest.raises(SimlibError):
            with resolve_executor(bad):
                pass


def test_dynamic_sweep_batch_same_serial_pool_and_dask(scen, cluster_client, monkeypatch):
    # a sweep's parts are runs of one batch: plans solved as tasks (one per plan), the parts' chunks queued
    # without waiting for each other, each part's scenario and solved model sent to a worker once; the
    # numbers are the serial ones
    from simlib.behaviour.dynamic import clear_solutions
    from simlib.engine import core

    monkeypatch.setattr(core, "RUNS_IN_FLIGHT", 1)  # 2 runs: the first is reduced before the second is queued
    params = {"target_level": [0.95, 1.05], "team_weight": [0.0, 0.3]}
    kw = dict(trials=16, rng=6, chunk_size=8, behaviour="dynamic", plans_per_call=2)  # 4 points: 2 runs
    clear_solutions()
    local = run_sweep(scen, params, executor="serial", **kw)
    clear_solutions()  # each executor solves from scratch, on its workers
    with resolve_executor("processes:2") as ex:
        pooled = run_sweep(scen, params, executor=ex, **kw)
    clear_solutions()
    remote = run_sweep(scen, params, executor=_workers(cluster_client, 2), **kw)
    assert local["point"].nunique() == 4
    pd.testing.assert_frame_equal(local, pooled, check_exact=True)
    pd.testing.assert_frame_equal(local, remote, check_exact=True)


def test_sensitivity_reoptimisations_as_tasks_same_as_serial(scen):
    # each perturbed scenario is re-optimised as one task on a worker; the table is the serial one
    kw = dict(objective="profit", constraints=["share_at_quota >= 0.45"], trials=16, rng=2, starts=2, maxiter=3,
              sensitivity=["scenario.market.growth_mean=0.0,0.05"], sensitivity_maxiter=2, chunk_size=8,
              behaviour="none")
    a = optimize(scen, {"target_level": (0.9, 1.2)}, executor="serial", **kw)
    with resolve_executor("processes:2") as ex:
        b = optimize(scen, {"target_level": (0.9, 1.2)}, executor=ex, **kw)
    assert list(a.sensitivity["perturbation"]) == ["scenario.market.growth_mean=0.0", "scenario.market.growth_mean=0.05"]
    pd.testing.assert_frame_equal(a.sensitivity, b.sensitivity, check_exact=True)
    pd.testing.assert_frame_equal(a.history, b.history, check_exact=True)


def test_shipped_object_is_unpickled_once_per_process():
    import pickle

    from simlib.engine.parallel import Shipped, received, ship

    payload = {"tables": np.arange(5.0)}
    with ProcessPoolExecutor(max_workers=1) as pool:
        sent = pickle.loads(pickle.dumps(ship(pool, payload)))  # what a task receives
    assert isinstance(sent, Shipped)
    first = received(sent)
    assert first is not payload and np.array_equal(first["tables"], payload["tables"])
    again = received(pickle.loads(pickle.dumps(sent)))  # a later task of the same run, same process
    assert again is first
    assert received(payload) is payload  # serial: objects are passed as they are


# --------------------------------------------------------------------------
# A serial run draws its next chunk in a background thread (engine.core.DrawAhead)
# --------------------------------------------------------------------------

def _draw_threads() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name.startswith("simlib-draw")]


@pytest.fixture
def two_cores(monkeypatch):
    """The prefetch on, whatever this machine's cores and environment (it is off on one core)."""
    import simlib.engine.core as core

    monkeypatch.setattr(core, "cpu_count", lambda: 2)
    monkeypatch.delenv(core.PREFETCH_ENV, raising=False)
    return core


@pytest.mark.parametrize("behaviour", ["none", "dynamic"])
def test_serial_run_drawing_ahead_same_as_without_and_on_a_process_pool(scen, two_cores, monkeypatch, behaviour):
    """Same seed, same numbers bit for bit: drawn a chunk ahead in a thread, drawn in turn, and on a process pool."""
    core = two_cores
    trials, chunk = (TRIALS, CHUNK) if behaviour == "none" else (24, 8)
    used = []
    real = core.DrawAhead.chunk
    monkeypatch.setattr(core.DrawAhead, "chunk", lambda self, i: used.append(i) or real(self, i))
    ahead = simulate(scen, trials=trials, rng=11, chunk_size=chunk, behaviour=behaviour)
    assert used == list(range(trials // chunk))  # every chunk went through the pipeline, in order
    assert not _draw_threads()  # the drawing thread ended with the run
    monkeypatch.setenv(core.PREFETCH_ENV, "0")
    used.clear()
    plain = simulate(scen, trials=trials, rng=11, chunk_size=chunk, behaviour=behaviour)
    assert used == []
    _same(ahead, plain)
    with ProcessPoolExecutor(max_workers=2) as ex:
        _same(ahead, simulate(scen, trials=trials, rng=11, chunk_size=chunk, executor=ex, behaviour=behaviour))


def test_drawing_ahead_only_where_it_can_help(scen, two_cores, monkeypatch):
    """Not on an executor's workers, not for one chunk, not for runs keeping their draws, not on one core or when off."""
    core = two_cores
    run, kept = core.prepare_run(scen, behaviour="none"), core.prepare_run(scen, behaviour="none", keep_draws=True)
    many, one = [(16, core.chunk_spans(48, 16))], [(48, core.chunk_spans(48, 48))]
    assert core.draw_ahead(None, [run], many) and core.draw_ahead("serial", [run], many)
    with ProcessPoolExecutor(max_workers=1) as ex:
        assert not core.draw_ahead(ex, [run], many)
    assert not core.draw_ahead(None, [run], one)
    assert not core.draw_ahead(None, [kept], many)
    assert core.draw_ahead(None, [kept, run], many * 2)  # a batch with one run that can
    monkeypatch.setenv(core.PREFETCH_ENV, "0")
    assert not core.draw_ahead(None, [run], many)
    monkeypatch.setenv(core.PREFETCH_ENV, "1")
    monkeypatch.setattr(core, "cpu_count", lambda: 1)
    assert not core.draw_ahead(None, [run], many)
    a, b = core.scratch_buffer(100, 0), core.scratch_buffer(100, 1)
    assert a is not None and b is not None and not np.shares_memory(a, b)  # the two alternating buffers


@pytest.mark.parametrize("where", ["thread", "caller"])
@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_error_while_drawing_ahead_surfaces_and_leaves_no_thread(scen, two_cores, monkeypatch, where, error):
    """An error in the drawing thread (a later chunk's draw) or in the caller's pass is raised to the caller as
    it would be serially, and no thread is left running."""
    core = two_cores
    real_draw, real_run = core.draw_chunk, core.run_chunk

    def draw(layout, root, trials, buffer=None):
        if where == "thread" and trials[0] >= 2 * CHUNK:
            raise error("draw failed")
        return real_draw(layout, root, trials, buffer)

    def run(*args, **kw):
        if where == "caller" and args[3] >= CHUNK:
            raise error("pass failed")
        return real_run(*args, **kw)

    monkeypatch.setattr(core, "draw_chunk", draw)
    monkeypatch.setattr(core, "run_chunk", run)
    with pytest.raises(error, match="failed"):
        simulate(scen, trials=TRIALS, rng=11, chunk_size=CHUNK, behaviour="none")
    assert not _draw_threads()
