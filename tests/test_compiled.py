"""The compiled pass (numba kernels, ``simlib.model.compiled``) gives the NumPy path's numbers to the last bit.

The NumPy path is the oracle: every shipped scenario, every plan, behaviour off and ``dynamic``, a multi-year
run and plans with timing pull-ins and push-outs are run both ways (``SIMLIB_COMPILED=0`` forces NumPy) and
compared bit for bit, metrics and per-rep measures and pay. The kernels' scalar helpers are checked against
NumPy's ufuncs on the awkward values (signed zeros, NaN, ties), and the fallbacks (no numba, no writable
cache) against the numbers they must keep.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import DEFAULT, ROOT

from simlib import load_scenario, simulate
from simlib.engine.core import role_outcomes
from simlib.engine.years import run_years
from simlib.model import compiled
from simlib.model.metrics import GroupArrays, group_metrics, spearman_rows
from simlib.model.metrics import _shares as metrics_shares
from simlib.model.metrics import _sort_rank as sort_rank
from simlib.model.paycurves import Schedule, evaluate
from simlib.model.pipeline import worlds as pipeline_worlds
from simlib.model.plans import (
    aggregate,
    any_period,
    component_pay,
    component_year_pay,
    month_sum,
    running_sum,
    sum_periods,
    top_k,
)
from simlib.model.population import Layout, draw_chunk, draw_width, root_seed
from simlib.model.production import binomial_inv, bounded_score, poisson_inv, run_year

# (found, not imported: collecting the tests does not import numba)
pytestmark = pytest.mark.skipif(importlib.util.find_spec("numba") is None,
                                reason="numba is not installed: nothing compiled to compare")

SHIPPED = Path(__file__).resolve().parents[1] / "simlib" / "shipped" / "scenarios"
SCENARIOS = sorted(p for p in SHIPPED.rglob("*.yaml"))


def _bits(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=float).view(np.uint64)


def _both(monkeypatch, fn):
    """``fn()`` compiled, then on the NumPy path."""
    monkeypatch.setenv(compiled.ENV, "1")
    on = fn()
    monkeypatch.setenv(compiled.ENV, "0")
    off = fn()
    monkeypatch.delenv(compiled.ENV)
    return on, off


def _same_result(a, b, what):
    for k in ("mean", "se", "n"):
        assert np.array_equal(_bits(getattr(a.raw, k)), _bits(getattr(b.raw, k))), (what, k)


def test_the_switch_turns_the_compiled_pass_off_and_on(monkeypatch):
    monkeypatch.setenv(compiled.ENV, "0")
    assert not compiled.enabled()
    monkeypatch.setenv(compiled.ENV, "1")
    assert compiled.enabled()
    compiled.use(False)  # the process's setting is over the environment's
    assert not compiled.enabled()
    compiled.use(None)
    assert compiled.enabled()


def test_auto_leaves_small_runs_on_the_numpy_path_and_turns_on_for_large_work():
    """By default a small run does not pay for importing numba; a process that has simulated enough does."""
    code = (
        "import os, sys; os.environ.pop('SIMLIB_COMPILED', None)\n"
        "from simlib import simulate, load_scenario\n"
        "from simlib.model import compiled\n"
        f"s = load_scenario({str(DEFAULT)!r})\n"
        "simulate(s, None, trials=20, rng=3, behaviour='dynamic')\n"
        "assert compiled.mode() == 'auto' and 'numba' not in sys.modules, 'a small run imported numba'\n"
        "compiled.note_work(compiled.AUTO_AFTER)\n"
        "assert compiled.enabled() and 'numba' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: str(p.relative_to(SHIPPED)))
def test_every_shipped_scenario_is_the_same_compiled_and_on_the_numpy_path(monkeypatch, path):
    s = load_scenario(path)
    for behaviour in ("none", "dynamic"):
        on, off = _both(monkeypatch, lambda b=behaviour: simulate(s, None, trials=6, rng=3, behaviour=b, chunk_size=4))
        _same_result(on, off, (path.name, behaviour))


def _outcomes(s, behaviour):
    draws = draw_chunk(Layout.of(s), root_seed(5), np.arange(7))
    out = {}
    for o in role_outcomes(s, list(s.plans), draws, behaviour=behaviour):
        for k, v in dict(o.measures).items():
            out[(o.plan, o.role, k)] = np.array(v)
        out[(o.plan, o.role, "incentive")] = np.array(o.pay.incentive)
    return out


@pytest.mark.parametrize("name", ["default.yaml", "mechanics.yaml"])
def test_per_rep_measures_and_pay_are_the_same_bits(monkeypatch, name):
    """Every measure of every rep and month, and every rep's pay, under every plan (mechanics: SPIFFs, timing).

    Key-account revenue and large orders (the kernels ``deal_size_logs`` and ``deals_won``) add several drawn
    sizes each: adding them in another order, or the log sizes' terms, changes their last bits here."""
    s = load_scenario(SHIPPED / name)
    for behaviour in ("none", "dynamic"):
        on, off = _both(monkeypatch, lambda b=behaviour: _outcomes(s, b))
        assert on.keys() == off.keys()
        for k in on:
            assert np.array_equal(_bits(on[k]), _bits(off[k])), (name, behaviour, k)


def test_timing_pulls_and_pushes_are_the_same(monkeypatch):
    """A plan whose reps pull deals in and push them out at period ends (timing on, a SPIFF), dynamic."""
    s = load_scenario(SHIPPED / "validation" / "accelerator_timing.yaml")
    assert s.behaviour.timing.enabled
    on, off = _both(monkeypatch, lambda: simulate(s, None, trials=10, rng=1, behaviour="dynamic"))
    _same_result(on, off, "accelerator_timing")


def test_a_multi_year_run_is_the_same(monkeypatch):
    s = load_scenario(DEFAULT)
    on, off = _both(monkeypatch, lambda: run_years(s, ["current", "harder_target"], years=2, trials=6, rng=2,
                                                   behaviour="dynamic").frame)
    num = on.select_dtypes("number").columns
    assert on[num].shape == off[num].shape
    assert np.array_equal(_bits(on[num].to_numpy()), _bits(off[num].to_numpy()))


# -- the kernels' pieces against NumPy ------------------------------------------------------------------------


def _awkward(n: int, rng) -> np.ndarray:
    """Values that separate implementations: signed zeros, ties at 0 and 1, halves (rounding), NaN, infinities."""
    special = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, 2.5, -2.5, 0.95, np.nan, np.inf, -np.inf, 1e-300])
    x = np.concatenate([special, rng.normal(0, 3, n), np.round(rng.normal(0, 3, n) * 2) / 2])
    return x


def test_scalar_helpers_are_numpys_ufuncs_bit_for_bit(monkeypatch):
    rng = np.random.default_rng(0)
    x = _awkward(5000, rng)  # long enough for NumPy's vectorised loops
    monkeypatch.setenv(compiled.ENV, "1")
    assert compiled.enabled()
    numba = sys.modules["numba"]

    @numba.njit
    def apply(a, b, c):
        mx, mn, cl = np.empty(a.size), np.empty(a.size), np.empty(a.size)
        for i in range(a.size):
            mx[i] = compiled.maximum(b[i], a[i])
            mn[i] = compiled.minimum(b[i], a[i])
            cl[i] = compiled.clip(a[i], 0.0, c[i])
        return mx, mn, cl

    for const in (0.0, 1.0, 0.95):
        b = np.full(x.size, const)
        upper = np.abs(x) + np.where(np.isnan(x), 0.0, rng.integers(0, 3, x.size))  # NaN only where x is NaN
        mx, mn, cl = apply(x, b, upper)
        assert np.array_equal(_bits(mx), _bits(np.maximum(const, x)))
        assert np.array_equal(_bits(mn), _bits(np.minimum(const, x)))
        assert np.array_equal(_bits(cl), _bits(np.clip(x, 0.0, upper)))


def test_poisson_counts_are_the_numpy_inversion(monkeypatch):
    rng = np.random.default_rng(1)
    u = rng.random((50, 7, 12))
    u.flat[:3] = [0.0, 1.0 - 1e-16, 0.5]
    rows = rng.random((50, 100))[:, 3:87].reshape(50, 7, 12)  # each trial's row of a wider buffer, as drawn
    assert not rows.flags.c_contiguous
    for scale in (0.01, 0.6, 3.0, 30.0):
        lam = rng.random((50, 7, 12)) * scale
        lam.flat[:2] = [0.0, scale * 10]
        for kmax in (3, 12):
            for uu, lm in ((u, lam), (rows, lam), (u, lam[:, :, :1])):  # rows; flat; a broadcast rate (flat)
                on, off = _both(monkeypatch, lambda uu=uu, lm=lm, kmax=kmax: poisson_inv(uu, lm, kmax))
                assert np.array_equal(_bits(on), _bits(off)), (scale, kmax)


def test_policy_lookups_are_the_numpy_interpolation(monkeypatch, default_scenario):
    from simlib.behaviour.dynamic import DynamicBehaviour
    from simlib.behaviour.policy import Track

    model = DynamicBehaviour(default_scenario)
    rng = np.random.default_rng(2)
    rs = model.solve("team_weighted", "key_account")
    shape = (9, 13)
    va, vc = np.exp(rng.normal(0, 0.8, shape)), np.exp(rng.normal(0, 0.6, shape))  # past the grids' ends too
    x = rng.uniform(-2.0, 7.0, shape)  # below, inside and above the state grid, and on grid points
    x.flat[:4] = [-1.0, 5.0, 0.0, -0.0]
    for m in (0, 11):
        for name in ("effort", "shift"):
            tr = Track(rs, np.full(shape, 3e5), va, vc, np.ones(shape))
            on, off = _both(monkeypatch, lambda tr=tr, name=name, m=m: tr.lookup(name, m, x))
            assert np.array_equal(_bits(on), _bits(off)), (name, m)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # inf x 0, both ways
def test_poisson_counts_past_the_first_terms_are_the_numpy_inversion(monkeypatch):
    """Rows of mostly small rates with a few large ones: the compiled count takes the first few terms of every
    element without a branch and counts the rest again term by term; every count is NumPy's."""
    rng = np.random.default_rng(11)
    T, N = 20, 480
    lam = rng.lognormal(np.log(0.4), 0.5, (T, N))
    lam[:, ::37] *= 40.0  # a few far above the row's mean: past its first terms
    lam[0, :4] = [0.0, np.inf, np.nan, 1e-300]
    u = rng.random((T, N))
    u[1, :3] = [1.0 - 1e-16, 0.0, 0.5]
    for scale in (0.5, 1.0, 4.0, 15.0):  # rows' mean rates for 3, 4, 6 and more first terms
        for kmax in (1, 2, 3, 12, 40):
            on, off = _both(monkeypatch, lambda kmax=kmax, scale=scale: poisson_inv(u, lam * scale, kmax))
            assert np.array_equal(_bits(on), _bits(off)), (scale, kmax)
            assert on.max() <= kmax and (kmax <= 3 or (on > 3).any())  # some counted past the first terms


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # 0 x inf, both ways
def test_binomial_counts_are_the_numpy_inversion(monkeypatch):
    """New accounts among a month's deals (one probability), both ways: counts of 0, negative, NaN and infinite
    deals, a few large, a trial without a deal, rows as drawn."""
    rng = np.random.default_rng(14)
    u = rng.random((25, 600))[:, 11:491].reshape(25, 40, 12)  # each trial's row of a wider buffer
    n = rng.poisson(0.6, (25, 40, 12)).astype(float)
    n[0, 0, :6] = [-1.0, np.nan, np.inf, 30.0, 0.0, -0.0]
    n[1] = 0.0  # a trial without a deal
    n[-1, -1, -1] = 2.0  # the last month of all has one
    u[2, 0, :3] = [0.0, 1.0 - 1e-16, 0.5]
    for p, kmax in ((0.3, 12), (0.95, 3), (1e-20, 12), (1.0, 5)):
        on, off = _both(monkeypatch, lambda p=p, kmax=kmax: binomial_inv(u, n, p, kmax))
        assert np.array_equal(_bits(on), _bits(off)), (p, kmax)
        assert on[1].sum() == 0 and on.max() <= kmax


def test_binomial_counts_of_whole_deals_by_the_table_of_powers_are_the_numpy_inversion(monkeypatch):
    """Months' whole deal counts up to the truncation (0, -0.0, the most, rows as drawn): counted trial by trial with
    (1 - p)^n from a table of NumPy's powers, the counts of the NumPy inversion; a count past the truncation (or a
    power the counts take in logs) goes the other way, with the same counts."""
    rng = np.random.default_rng(15)
    u = rng.random((30, 700))[:, 5:485].reshape(30, 40, 12)  # each trial's row of a wider buffer
    n = rng.poisson(0.8, (30, 40, 12)).astype(float)
    n[0, 0, :4] = [0.0, -0.0, 12.0, 11.0]
    n[1] = 0.0
    u[2, 0, :3] = [0.0, 1.0 - 1e-16, 0.5]
    import simlib.model.production as production

    table = production._binomial_rows
    took = []
    monkeypatch.setattr(production, "_binomial_rows", lambda *a: took.append(table(*a)) or took[-1])
    for p, kmax in ((0.3, 12), (0.95, 12), (1e-20, 12), (1.0, 12), (0.3, 40)):
        on, off = _both(monkeypatch, lambda p=p, kmax=kmax: binomial_inv(u, n, p, kmax))
        assert np.array_equal(_bits(on), _bits(off)), (p, kmax)
        assert on[1].sum() == 0 and on.max() <= n.max() and took.pop() is not None, (p, kmax)
    m = n.copy()
    m[3, 3, 3] = 13.0  # past the truncation: the other way
    on, off = _both(monkeypatch, lambda: binomial_inv(u, m, 0.3, 12))
    assert np.array_equal(_bits(on), _bits(off)) and took.pop() is None
    huge = np.full((2, 3, 12), 3.0)  # (1 - p)^kmax below the log threshold: the other way
    on, off = _both(monkeypatch, lambda: binomial_inv(u[:2, :3], huge, 0.999999, 200))
    assert np.array_equal(_bits(on), _bits(off)) and took.pop() is None and not took


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # 0 x inf, both ways
def test_rows_are_read_where_they_are_and_anything_else_is_copied():
    """``compiled.rows``: a trial's row of a chunk's draws is the slice ``flat[start + t stride:][:n]`` of the draw
    buffer itself (kernels read it in place); an array whose rows are not contiguous float64 is copied (the
    kernels that take rows are compared with the NumPy path on rows of a wider buffer in the tests below)."""
    T, W, n = 6, 50, 17
    buf = np.random.default_rng(3).normal(size=T * W + 9)
    cases = [buf[: T * W].reshape(T, W)[:, 5 : 5 + n], buf[3 : 3 + T * n].reshape(T, n), buf[:W].reshape(1, W),
             np.broadcast_to(buf[4 : 4 + n], (T, n))]  # (a row repeated: stride 0)
    lay = Layout.of(load_scenario(DEFAULT))
    scratch = np.empty(T * draw_width(lay) + 5)  # a run's scratch buffer, as the engine draws into it
    cases.append(draw_chunk(lay, root_seed(5), np.arange(T), scratch)["telesales.calls"].reshape(T, -1))
    for x in cases:
        flat, start, stride = compiled.rows(x)
        assert flat.ndim == 1 and flat.flags.c_contiguous and np.shares_memory(flat, x)
        for t in range(x.shape[0]):
            assert np.array_equal(_bits(flat[start + t * stride : start + t * stride + x.shape[1]]), _bits(x[t]))
    base = buf[: T * W].reshape(T, W)
    for x in (base[:, ::2], base.T[:n], base[::-1], base.astype(np.float32)):
        flat, start, stride = compiled.rows(x)
        assert not np.shares_memory(flat, buf) and (start, stride) == (0, x.shape[1])
        assert np.array_equal(flat.reshape(x.shape), np.asarray(x, dtype=float))


def test_bounded_scores_are_the_numpy_steps(monkeypatch):
    """Record accuracy, satisfaction and the other 0-1 scores: ``clip(mean + sd z, 0, 1)``, both ways, on signed
    zeros, NaN and infinities, from rows of a wider buffer as drawn."""
    rng = np.random.default_rng(12)
    z = rng.normal(0, 1, (30, 200))[:, 7:187].reshape(30, 15, 12)
    z.flat[:14] = _awkward(0, rng)
    z[2] = -0.92 / 0.03  # exactly 0 before the clip
    for mean, sd in ((0.92, 0.03), (0.0, 1.0), (1.0, 0.5), (0.0, -0.0)):
        with np.errstate(invalid="ignore"):  # the infinities times a zero sd are NaN on purpose, both ways
            on, off = _both(monkeypatch, lambda mean=mean, sd=sd: bounded_score(mean, sd, z))
        assert np.array_equal(_bits(on), _bits(off)), (mean, sd)


def test_top_k_reps_are_the_numpy_partitions(monkeypatch):
    """Recognition's top k reps of each trial, both ways: ties on the k-th score (lowest rep first), signed zeros,
    infinities, every k; a row with NaN (the stable sort's order) both ways too."""
    rng = np.random.default_rng(21)
    score = rng.integers(0, 5, size=(300, 40)).astype(float)  # many ties
    score[:100] = rng.normal(size=(100, 40))
    score[100:110, :20] = -0.0
    score[110:115, :3] = [np.inf, -np.inf, np.inf]
    for k in (1, 2, 6, 20, 39):
        on, off = _both(monkeypatch, lambda k=k: top_k(score, k))
        assert np.array_equal(on, off) and (on.sum(axis=1) == k).all(), k
    score[7, 5] = np.nan
    on, off = _both(monkeypatch, lambda: top_k(score, 6))
    assert np.array_equal(on, off) and (on.sum(axis=1) == 6).all()


def test_key_account_deals_are_the_same_bits_with_no_deal_and_a_last_deal(monkeypatch):
    """Revenue and large orders of key accounts (``deal_size_logs``, ``deals_won``) where no month has a deal, where
    only the last month of the last rep has one, and where every month has several."""
    s = load_scenario(DEFAULT)
    draws = draw_chunk(Layout.of(s), root_seed(9), np.arange(5))
    world = pipeline_worlds(s, draws)["key_account"]
    for case in ("none", "last", "many"):
        u = np.array(draws["key_account.ndeals"])
        u[:] = {"none": 0.0, "last": 0.0, "many": 0.999}[case]
        if case == "last":
            u[-1, -1, -1] = 0.999
        w = replace(world, draws={**world.draws, "ndeals": u})
        on, off = _both(monkeypatch, lambda w=w: {k: np.array(v) for k, v in run_year(w).items()
                                                  if k in ("deals", "revenue", "large_order_value")})
        assert on["deals"].sum() == {"none": 0, "last": on["deals"][-1, -1, -1]}.get(case, on["deals"].sum())
        for k in on:
            assert np.array_equal(_bits(on[k]), _bits(off[k])), (case, k)


def test_running_sums_are_numpys_cumsum_bit_for_bit():
    """Year-to-date sums of pay periods: column by column, NumPy's order (a sum in another order can differ)."""
    rng = np.random.default_rng(13)
    x = rng.normal(0, 1, (40, 30, 12)) * np.exp(rng.normal(0, 8, (40, 30, 12)))
    x.flat[:12] = _awkward(0, rng)[:12]
    for a in (x, x[..., :4], np.swapaxes(x, 1, 2), x[:, :1, :1], np.broadcast_to(x[0, 0], (3, 12))):
        assert np.array_equal(_bits(running_sum(a)), _bits(np.cumsum(a, axis=-1)))
    assert np.array_equal(running_sum(np.arange(12)), np.cumsum(np.arange(12)))  # integers: NumPy's own
    pairwise = (x[..., 0] + x[..., 1]) + (x[..., 2] + x[..., 3])
    assert not np.array_equal(_bits(pairwise), _bits(running_sum(x[..., :4])[..., 3]))


def _month_rows(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Months (40, 30, 12) whose sums round differently in any other order of the adds (magnitudes over many
    orders and both signs, awkward values first), and a strided (not C-ordered) copy's worth of the same shape."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (40, 30, 12)) * np.exp(rng.normal(0, 8, (40, 30, 12)))
    x.flat[:24] = _awkward(0, rng)[:12].tolist() * 2
    strided = np.swapaxes(rng.normal(0, 1, (12, 40, 30)) * 1e10 + 1.0, 0, 2)
    return x, strided


def test_month_sums_are_numpys_sum_bit_for_bit(monkeypatch):
    x, strided = _month_rows(3)
    for a in (x, strided, x[::2]):
        on, off = _both(monkeypatch, lambda a=a: month_sum(a))
        assert np.array_equal(_bits(on), _bits(off))
    monkeypatch.setenv(compiled.ENV, "1")
    assert np.array_equal(_bits(month_sum(x)), _bits(x.sum(axis=-1)))  # NumPy's own sum of C-ordered months
    in_turn = x[..., 0].copy()  # a sum in another order is not the same bits: the comparison can fail
    for i in range(1, 12):
        in_turn += x[..., i]
    assert not np.array_equal(_bits(in_turn), _bits(month_sum(x)))


def test_period_sums_are_numpys_sum_bit_for_bit(monkeypatch):
    x, strided = _month_rows(7)
    for a in (x, strided, x[::2]):
        for period, n in (("quarter", 4), ("half", 2)):
            for kind in ("flow", "score"):
                on, off = _both(monkeypatch, lambda a=a, period=period, kind=kind: aggregate(a, period, kind))
                assert on.shape == a.shape[:-1] + (n,) and np.array_equal(_bits(on), _bits(off)), (period, kind)
                own = a.reshape(*a.shape[:-1], n, 12 // n).sum(axis=-1)  # NumPy adds fewer than 8 in turn
                assert np.array_equal(_bits(on), _bits(own if kind == "flow" else own / (12 // n)))

SCHEDULES = [
    Schedule(np.array([0.5, 1.0, 1.5]), np.array([0.2, 1.0, 2.1]), np.array([1.6, 2.2, 0.7]), cap=2.5),  # jump, cap
    Schedule(np.array([0.0]), np.array([0.0]), np.array([7.3])),  # per unit, uncapped
    Schedule(np.array([-1.0, 0.0, 2.0]), np.array([0.3, 0.4, 0.9]), np.array([0.1, -0.2, 0.0]), below=0.25),
    Schedule(np.linspace(0.0, 3.0, 25), np.linspace(0.0, 4.0, 25) ** 1.3, np.linspace(0.9, 1.7, 25), cap=3.3),
]


def _pay_inputs(rng, shape=(30, 9, 4)):
    x = np.resize(_awkward(600, rng), shape) * 1.7
    x.flat[:9] = [0.5, 1.0, 1.5, -1.0, 0.0, 2.0, 3.0, 0.125, 2.5]  # on the knots
    return x


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # NaN inputs, both ways
def test_pay_schedules_are_the_numpy_evaluation(monkeypatch):
    rng = np.random.default_rng(4)
    x = _pay_inputs(rng)
    for i, sched in enumerate(SCHEDULES):
        (v1, c1), (v0, c0) = _both(monkeypatch, lambda sched=sched: evaluate(sched, x))
        assert np.array_equal(_bits(v1), _bits(v0)) and np.array_equal(c1, c0), i
        assert c1.any() == np.isfinite(sched.cap), i


def _components():
    """Every pay component of the shipped scenarios with an attainment or units schedule."""
    found = {}
    for path in SCENARIOS:
        for plan in load_scenario(path).plans.values():
            for rp in plan.roles.values():
                for c in rp.components:
                    if c.kind in ("curve", "commission", "lump_sum", "per_unit"):
                        found.setdefault((c.kind, c.cap, c.ytd_true_up, repr(c.model_dump())), c)
    return list(found.values())


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # NaN inputs, both ways
def test_component_pay_is_the_numpy_path_bit_for_bit(monkeypatch):
    rng = np.random.default_rng(5)
    comps = _components()
    assert {c.kind for c in comps} >= {"curve", "commission", "per_unit"} and any(c.cap for c in comps)
    values = np.abs(_pay_inputs(rng)) * 1e5
    targets = rng.uniform(0.5e5, 1.5e5, values.shape)
    targets.flat[:4] = [0.0, -0.0, np.nan, 1e-13]  # no target, a NaN, under the floor of 1e-12
    scale = rng.uniform(0.0, 3e4, values.shape)
    for c in comps:
        for kind in ("flow", "score"):
            (p1, c1), (p0, c0) = _both(monkeypatch, lambda c=c, kind=kind: component_pay(c, values, targets, scale, kind))
            assert np.array_equal(_bits(p1), _bits(p0)) and np.array_equal(c1, c0), (c.name, kind)


def _year_of_steps(c, kind, values, quota, share, TI, level):
    """A component's year on the NumPy steps: targets, scale, :func:`component_pay`, then the periods' sums."""
    n = values.shape[-1]
    if c.target == "quota":
        tgt = quota[..., None] * share
    else:
        tgt = np.full(values.shape, level * float(c.target) / n if kind == "flow" else float(c.target))
    scale = np.full(values.shape, c.weight * TI / n) if c.kind == "curve" else tgt if c.kind == "commission" \
        else np.ones(values.shape)
    per, capped = component_pay(c, values, tgt, scale, kind)
    return sum_periods(per), any_period(capped)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # NaN inputs, both ways
def test_a_components_year_in_one_kernel_is_the_numpy_steps_bit_for_bit(monkeypatch):
    rng = np.random.default_rng(6)
    quota = rng.uniform(0.5e5, 1.5e5, (30, 9))
    quota.flat[:3] = [0.0, np.nan, 1e-13]  # no quota, a NaN, under the floor of 1e-12
    comps = _components()
    comps += [c.model_copy(update={"ytd_true_up": True}) for c in comps if not c.ytd_true_up]  # every kind trued up
    true_ups = 0
    for n in (1, 2, 4):
        values = np.abs(_pay_inputs(rng, (30, 9, n))) * 1e5 / n
        share = rng.uniform(0.5, 1.5, n)
        share /= share.sum()
        for c in comps:
            for kind in ("flow", "score"):
                args = (c, kind, values, quota, share, 52000.0, 1.1)
                monkeypatch.setenv(compiled.ENV, "0")
                assert component_year_pay(*args) is None  # the NumPy path takes the steps
                pay0, cap0 = _year_of_steps(*args)
                monkeypatch.setenv(compiled.ENV, "1")
                got = component_year_pay(*args)
                true_ups += c.ytd_true_up and n > 1  # a true-up over periods: its own kernel
                assert np.array_equal(_bits(got[0]), _bits(pay0)) and np.array_equal(got[1], cap0), (c.name, kind, n)
    assert true_ups > 20
    monkeypatch.delenv(compiled.ENV)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # infinities and NaN, both ways
def test_ranks_and_sorted_rows_are_the_numpy_path(monkeypatch):
    """Per-trial ranks (ties averaged, NaN each its own) and sorted rows (``sorted_ranks``): Spearman and the group
    metrics read from them, both ways, on ties, signed zeros, NaN and infinities."""
    rng = np.random.default_rng(6)
    T, R = 40, 30
    att = np.round(rng.normal(1.0, 0.3, (T, R)), 1)  # many ties
    att[0, :5] = [0.0, -0.0, np.inf, -np.inf, 0.0]
    att[1, ::3] = np.nan
    att[2] = 1.0  # all tied
    inc = np.maximum(0.0, np.round(rng.normal(5e4, 3e4, (T, R)), -4))
    inc[3, :4] = [0.0, -0.0, 0.0, -0.0]
    g = GroupArrays(revenue=att * 1e6, margin=np.full(R, 0.4), incentive=inc, base=np.full(R, 6e4),
                    target_incentive=np.full(R, 5e4), attainment=att, capped=att > 1.4, recognition=np.zeros((T, R)))
    shuffled = rng.permuted(att, axis=1)
    for fn in (lambda: spearman_rows(att, inc), lambda: spearman_rows(inc, shuffled),
               lambda: group_metrics(g)):
        on, off = _both(monkeypatch, fn)
        on, off = (on, off) if isinstance(on, dict) else ({"": on}, {"": off})
        assert on.keys() == off.keys()
        for k in on:
            assert np.array_equal(_bits(on[k]), _bits(off[k])), k



@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_spearman_and_shares_are_the_numpy_path(monkeypatch):
    """Spearman from ranks (``spearman_of_ranks``, integer sums) and the shares at quota, at 120% and capped
    (``row_shares``), both ways: wide rows without ties, rows of ties, constant rows (NaN), attainment exactly
    on 1.0 and 1.2, NaN and infinities, and a capped array that is a strided view."""
    rng = np.random.default_rng(11)
    for T, R in ((7, 1000), (60, 9)):
        att = rng.normal(1.0, 0.3, (T, R))
        att[0, :6] = [1.0, 1.2, np.nextafter(1.2, 0.0), np.nan, np.inf, -np.inf]
        att[1] = 1.2  # constant: Spearman NaN, everyone at 120%
        att[2] = np.round(att[2], 1)  # ties
        inc = np.where(att > 1.0, rng.gamma(2.0, 1e4, (T, R)), 0.0)
        capped = np.asfortranarray(att > 1.3)[:, ::-1]
        shuffled = rng.permuted(att, axis=1)
        for fn, args in ((spearman_rows, (att, inc)), (spearman_rows, (shuffled, att)), (metrics_shares, (att, capped))):
            on, off = _both(monkeypatch, lambda fn=fn, args=args: np.asarray(fn(*args)))
            assert on.shape == off.shape and np.array_equal(_bits(on), _bits(off)), (T, R)
        assert np.isnan(spearman_rows(att, inc)[1])
        np.testing.assert_array_equal(metrics_shares(att, capped)[1][1], 1.0)



@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_keyed_sort_gives_the_argsorts_rows_and_ranks(monkeypatch):
    """Rows sorted by integer keys (``rank_keys``, ``keyed_sorted_ranks``) against the NumPy argsort: neighbours
    that differ only in the low bits the keys drop (put in order afterwards), negatives and infinities, signed
    zeros apart and mixed in one row (sorted as the argsort does), ties, and rows wider than 256 reps."""
    rng = np.random.default_rng(12)
    for T, R in ((30, 300), (50, 17)):
        att = rng.normal(1.0, 0.5, (T, R))
        base = att[0, 0]
        att[0, :7] = [np.nextafter(np.nextafter(base, 9), 9), np.nextafter(base, 9), -np.inf, np.inf,
                      np.nextafter(-2.0, -9), -2.0, base]  # three neighbours in falling order
        att[1, :4] = [0.0, -0.0, 0.0, -0.0]  # mixed signed zeros
        att[2, :3] = [-0.0, -0.0, 1e-300]  # negative zeros only
        att[3] = np.round(att[3], 1)  # ties
        inc = np.maximum(0.0, np.round(rng.normal(2e4, 2e4, (T, R)), -3))
        inc[4, ::2] = -0.0
        g = GroupArrays(revenue=np.abs(att) * 1e6, margin=np.full(R, 0.4), incentive=inc, base=np.full(R, 6e4),
                        target_incentive=np.full(R, 2e4), attainment=att, capped=att > 1.4,
                        recognition=np.zeros((T, R)))
        on, off = _both(monkeypatch, lambda g=g: group_metrics(g))
        for k in on:
            assert np.array_equal(_bits(on[k]), _bits(off[k])), (R, k)
        for a, b in ((att, inc), (inc, att[::-1])):
            on, off = _both(monkeypatch, lambda a=a, b=b: spearman_rows(a, b))
            assert np.array_equal(_bits(on), _bits(off)), R
        for x in (inc, att):
            (xs1, r1), (xs0, r0) = _both(monkeypatch, lambda x=x: sort_rank(x))
            assert np.array_equal(_bits(xs1), _bits(xs0)) and np.array_equal(r1, r0), R
        assert np.array_equal(xs1[0], np.sort(att[0])) and r1[0, 0] == r1[0, 1] + 1 == r1[0, 6] + 2  # ranked apart


# -- fallbacks and start-up ---------------------------------------------------------------------------------------


def test_a_read_only_install_compiles_in_memory():
    """When numba has nowhere to write its cache (``cache=True`` raises), the kernel is compiled without one."""

    class NoCache:
        calls = []

        @staticmethod
        def njit(*args, **kw):
            NoCache.calls.append(kw)
            if kw.get("cache"):
                raise RuntimeError("cannot cache function 'f': no locator available for file 'f.py'")
            return ("compiled", args[0])

    def f(x):
        return x

    assert compiled.jit(NoCache, f) == ("compiled", f)
    assert NoCache.calls == [{"cache": True, "nogil": True}, {"nogil": True}]  # the GIL released either way


def test_with_no_writable_cache_numba_compiles_in_memory_and_gives_the_same_numbers():
    """numba finds no place for its cache (a read-only install, no writable home): no crash, the same counts."""
    code = (
        "import numpy as np, numba.core.caching as c\n"
        "impl = getattr(c, 'CacheImpl', None) or getattr(c, '_CacheImpl')  # (renamed in numba 0.6x)\n"
        "impl._locator_classes = []  # no cache location: what numba finds when nothing is writable\n"
        "from simlib.model import compiled\n"
        "from simlib.model.production import poisson_inv\n"
        "rng = np.random.default_rng(0); u, lam = rng.random(500), rng.random(500) * 3\n"
        "compiled.use(True); on = poisson_inv(u, lam, 12)\n"
        "compiled.use(False); off = poisson_inv(u, lam, 12)\n"
        "assert np.array_equal(on, off) and compiled.poisson_count._compiled is not None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_kernels_of_a_module_imported_after_numba_still_compile():
    """The policy's kernels, imported after numba was loaded for production's, call their compiled helpers."""
    code = (
        "import sys, numpy as np, numba.core.caching as c\n"
        "(getattr(c, 'CacheImpl', None) or getattr(c, '_CacheImpl'))._locator_classes = []  # compiled, not loaded\n"
        "from simlib.model import compiled\n"
        "compiled.use(True); assert compiled.enabled()\n"
        "assert 'simlib.behaviour.compiled' not in sys.modules\n"
        "from simlib.behaviour import compiled as bc\n"
        "flat, step = np.arange(200.0), np.ones(200)\n"
        "x = np.array([[0.0, 0.5]]); out = np.empty((1, 2))\n"
        "bc.lookup(flat, step, np.zeros((1, 2), dtype=np.intp), np.array([0, 100]), np.full((2, 1, 2), 0.5),\n"
        "          0, x, 0.0, 0.25, 81, out)\n"
        "assert np.array_equal(out, [[50.0, 52.0]]), out  # the two corners' mean at grid points 0 and 2\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_without_numba_simlib_takes_the_numpy_path():
    """numba that cannot be imported: the compiled pass is off and runs give the same numbers."""
    code = (
        "import sys; sys.modules['numba'] = None\n"  # import numba raises ImportError
        "from simlib import simulate, load_scenario\n"
        "from simlib.model import compiled\n"
        "assert not compiled.enabled()\n"
        f"r = simulate(load_scenario({str(DEFAULT)!r}), ['current', 'team_weighted'], trials=6, rng=3, chunk_size=4)\n"
        "print(r.raw.mean.tobytes().hex())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    want = simulate(load_scenario(DEFAULT), ["current", "team_weighted"], trials=6, rng=3, chunk_size=4)
    assert out.stdout.strip() == want.raw.mean.tobytes().hex()


def test_importing_simlib_and_its_cli_does_not_import_numba():
    code = ("import sys, simlib, simlib.engine.api, simlib.cli, simlib.model.production, simlib.behaviour.policy\n"
            "assert 'numba' not in sys.modules, 'numba imported at start-up'\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
