"""A behaviour-off chunk's year measures in the thread's reused memory (:func:`simlib.model.population.chunk_memory`).

The numbers are those of new memory per chunk (a run keeping its draws takes no reused memory), on any chunking,
on threads and with the compiled pass on or off; arrays of one chunk never overlap, and the next chunk reuses them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import DEFAULT

import simlib.engine.core as core
from simlib import load_scenario
from simlib.model import compiled, population
from simlib.model.population import CHUNK_MEMORY_MAX, chunk_memory, year_array


def test_year_arrays_of_a_block_do_not_overlap_and_the_next_block_reuses_them():
    blocks = []
    for _ in range(3):  # the first sizes the buffer the next ones use
        with chunk_memory():
            blocks.append([year_array((5, 3, 12)) for _ in range(3)])
    second, third = blocks[1], blocks[2]
    for i, a in enumerate(third):
        assert a.shape == (5, 3, 12) and a.dtype == np.float64 and a.flags.c_contiguous
        assert not any(np.shares_memory(a, b) for b in third[i + 1 :])  # a block's arrays never overlap
        assert np.shares_memory(a, second[i])  # the next block's are in the same memory
    with chunk_memory():
        with chunk_memory():  # nested: the same block
            inner = year_array((2, 12))
        after = year_array((2, 12))
    assert not np.shares_memory(inner, after)
    assert year_array((5, 3, 12)).base is None  # new memory outside a block
    for _ in range(2):
        with chunk_memory():
            big = year_array((CHUNK_MEMORY_MAX + 8,))
        assert big.base is None  # never a buffer beyond the bound: new memory


@pytest.mark.parametrize("name", ["default", "role_examples"])
@pytest.mark.parametrize("on", [True, False])
def test_a_run_in_reused_memory_gives_the_numbers_of_new_memory(monkeypatch, name, on):
    s = load_scenario(DEFAULT.parent / f"{name}.yaml")
    compiled.use(on)
    try:
        with monkeypatch.context() as m:
            m.setattr(population, "CHUNK_MEMORY_MAX", 0)  # no reused memory: every year array new
            ref = core.simulate_raw(s, trials=24, rng=5, behaviour="none", chunk_size=24)
        kept = core.prepare_run(s, None, behaviour="none", keep_draws=True)  # a sweep's run: new memory
        for cs, ex in ((24, None), (7, None), (5, ThreadPoolExecutor(2)), (6, "kept")):
            if ex == "kept":
                got = core.simulate_runs([kept], trials=24, rng=5, chunk_size=cs)[0]
            else:
                got = core.simulate_raw(s, trials=24, rng=5, behaviour="none", chunk_size=cs, executor=ex)
            for k in ("mean", "se", "n"):
                assert np.array_equal(getattr(got, k), getattr(ref, k), equal_nan=True), (cs, k)
            assert np.array_equal(got.keep, ref.keep)
            if isinstance(ex, ThreadPoolExecutor):
                ex.shutdown()
    finally:
        compiled.use(None)
