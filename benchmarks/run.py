"""Benchmarks of the simlib engine: figures measured in one run, printed as a report.

Run ``python -m benchmarks`` (or ``make bench``); ``--quick`` for a smaller,
faster version. Timings on a shared machine are noisy: the ratios measured in
the same run (engine vs this machine's cost of a normal draw, vectorised vs
plain-Python loop, Dask vs local) are what to compare against the targets.

Figures:

1. floor: the time NumPy takes to draw one standard normal;
2. engine throughput, rep-months per second, behaviour off, and the cost of
   a rep-month in normal draws (target <= 10 with behaviour off); behaviour
   on (``dynamic``): a plan's set-up (solved once per run) and each candidate
   plan's run in normal draws per rep-month (target <= 20); whether the compiled pass
   (:mod:`simlib.model.compiled`, numba) is on, and both figures compiled and on the
   NumPy path in the same run;
3. speed-up over the plain-Python per-rep reference (:mod:`simlib.model.reference`),
   target >= 100x;
4. peak memory (peak RSS, ``VmHWM``, of a fresh process) at several trial
   counts, the growth per trial (least-squares slope) and the ratio for 10x
   more trials, target < 1.2x (``--only memory`` runs this figure alone; ``--only dynamic``
   figure 2's behaviour-on part; ``--only off`` its behaviour-off run and figure 3's ratio; ``--only wide``
   figure 2c, the solve of a one-rep role with a wide spread against an ordinary one, and through the former
   dense Bellman product);
5. the default 100-point sweep of the default scenario at 1,000 trials (figures 5, 6 and the optimise example: :mod:`benchmarks.scale`),
   behaviour on (target < 90 s on 2 cores) and off (20 x 200 with ``--quick``);
6. scaling: a 10,000-rep organisation, and a ``dynamic`` sweep serially, on a
   local process pool and on a 2-worker Dask LocalCluster, with a check that
   all give identical numbers;
7. what users wait for, end to end: an explorer update (target < 0.3 s),
   start-up (``simlib run --help``, a 1,000-trial ``simlib run``), the
   README's optimise example (target < 60 s) and, in the full run,
   ``simlib report`` of the default scenario (target < 60 s).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "scenarios" / "default.yaml"


def _best_of(fn, repeat: int) -> float:
    """Fastest wall time of ``repeat`` calls (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def normal_floor(n: int = 5_000_000, repeat: int = 5) -> float:
    """Seconds per standard normal drawn by NumPy's default generator (bulk, into a buffer)."""
    g = np.random.default_rng(0)
    out = np.empty(n)
    return _best_of(lambda: g.standard_normal(out=out), repeat) / n


def scaled_scenario(factor: int):
    """The default scenario with every role's headcount multiplied by ``factor``."""
    from simlib.scenario import load_scenario, scenario_from_dict

    s = load_scenario(DEFAULT)
    d = s.model_dump(by_alias=True, mode="json")
    for r in d["roles"].values():
        r["headcount"] = int(r["headcount"] * factor)
    return scenario_from_dict(d, f"{DEFAULT} (headcount x{factor})")


def engine_throughput(scen, trials: int, plans, behaviour: str, repeat: int) -> tuple[float, float]:
    """(seconds, rep-months per second) of a serial run of ``plans``."""
    from simlib import simulate

    secs = _best_of(lambda: simulate(scen, plans, trials=trials, rng=0, behaviour=behaviour, executor=None), repeat)
    return secs, trials * scen.headcount * 12 / secs


def box_muller_cost(n: int = 2_000_000, repeat: int = 5) -> float:
    """Seconds per normal made the engine's way: uniforms from PCG64, then :func:`simlib.model.population.box_muller`."""
    from simlib.model.population import box_muller

    g = np.random.default_rng(0)
    u = np.empty((1, n))

    def make():
        g.random(out=u)
        box_muller(u)

    return _best_of(make, repeat) / n


def draw_all(scen, trials: int) -> None:
    """Draw every random number of ``trials`` trials, in the chunks and buffer of a serial run with behaviour off."""
    from simlib.engine.core import chunk_spans, scratch_buffer, scratch_chunk_size
    from simlib.model.population import Layout, draw_chunk, draw_width, root_seed

    lay, root = Layout.of(scen), root_seed(0)
    for a, b in chunk_spans(trials, scratch_chunk_size(scen)):
        draw_chunk(lay, root, np.arange(a, b), scratch_buffer((b - a) * draw_width(lay)))


def page_faults(fn) -> int:
    """Minor page faults of this process while ``fn()`` runs (0 where the system does not count them)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    fn()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def paired_runs(fns: dict, repeat: int) -> dict:
    """Time each function ``repeat`` times, each timing paired with a floor measured just before it.

    Returns name -> list of (seconds, floor seconds per normal). Pairing keeps a change in
    the machine's load during the benchmark out of the ratios.
    """
    out = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            f = normal_floor(1_000_000, 2)
            t = time.perf_counter()
            fn()
            out[k].append((time.perf_counter() - t, f))
    return out


def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def profile_engine(scen, trials: int, top: int = 8) -> str:
    """Where the engine's time goes (cumulative, top functions of simlib)."""
    from simlib import simulate

    pr = cProfile.Profile()
    pr.enable()
    simulate(scen, ["current"], trials=trials, rng=0, behaviour="none")
    pr.disable()
    buf = io.StringIO()
    st = pstats.Stats(pr, stream=buf)
    st.sort_stats("tottime").print_stats(top)
    lines = [ln for ln in buf.getvalue().splitlines() if ln.strip() and ("/" in ln or "{" in ln)]
    return "\n".join("      " + ln.strip() for ln in lines[:top])


_MEM_CHILD = r"""
import json, resource, sys


def hwm_kb():
    # VmHWM is this process's own peak RSS; ru_maxrss of a child started by a big parent
    # can report the parent's peak at fork, so prefer /proc when it exists
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


from simlib import load_scenario, simulate
s = load_scenario(sys.argv[1])
trials = int(sys.argv[2])
plans = None if sys.argv[3] == "all" else sys.argv[3].split(",")
before = hwm_kb()
simulate(s, plans, trials=8, rng=0, behaviour="none")   # warm up: imports, caches
warm = hwm_kb()
r = simulate(s, plans, trials=trials, rng=0, behaviour="none")
peak = hwm_kb()
print(json.dumps({"before_kb": before, "warm_kb": warm, "peak_kb": peak,
                  "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def peak_memory(trials: int, plans: str = "current", compiled: str = "1") -> dict:
    """Peak resident memory (KB, VmHWM) of a fresh process simulating the default scenario.

    Parameters
    ----------
    trials : int
    plans : str
        Comma-separated plan names, or ``"all"`` for every plan (as ``simlib run`` does by default).
    compiled : str
        ``SIMLIB_COMPILED`` of the child: held at ``"1"`` (on from the start) or ``"0"`` (the NumPy path), so
        the figure's trial counts compare like with like; under ``auto`` a large run turns the compiled pass
        on part way, and numba's fixed footprint would read as growth with trials.
    """
    env = {**os.environ, "SIMLIB_COMPILED": compiled}
    out = subprocess.run([sys.executable, "-c", _MEM_CHILD, str(DEFAULT), str(trials), plans], capture_output=True,
                         text=True, check=True, cwd=ROOT, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


#: trial counts of the memory figure (full, quick); the first and the 10x one give the ratio
MEMORY_TRIALS = ((1000, 2000, 4000, 10000, 16000), (200, 400, 800, 2000))


def memory_growth(trials: list[int], peaks_kb: list[float]) -> tuple[float, float]:
    """Least-squares line through peak memory against trials.

    Parameters
    ----------
    trials : list of int
        Trial counts.
    peaks_kb : list of float
        Peak RSS (KB) of a fresh process at each count.

    Returns
    -------
    slope_kb_per_trial, intercept_kb : float
    """
    slope, intercept = np.polyfit(np.asarray(trials, dtype=float), np.asarray(peaks_kb, dtype=float), 1)
    return float(slope), float(intercept)


def memory_figure(quick: bool) -> dict:
    """Figure 4: peak RSS of a fresh process at several trial counts, fitted growth per trial, 10x ratio.

    Measured for one plan and for every plan of the default scenario (``simlib run``'s default).

    Parameters
    ----------
    quick : bool
        Smaller trial counts.

    Returns
    -------
    dict
        Per case (``one``/``all``): ``memory_<case>_kb_per_trial``, ``memory_<case>_mb_at_0`` and
        ``memory_<case>_ratio_10x``, for the summary.
    """
    counts = MEMORY_TRIALS[1 if quick else 0]
    t0 = counts[0]
    out = {}
    print("[4] peak memory (peak RSS of a fresh process, default scenario, behaviour off):")
    for case, plans in (("one", "current"), ("all", "all")):
        runs = {t: peak_memory(t, plans) for t in counts}
        slope, intercept = memory_growth(list(counts), [runs[t]["peak_kb"] for t in counts])
        ratio = runs[10 * t0]["peak_kb"] / runs[t0]["peak_kb"]
        print(f"    {'1 plan' if case == 'one' else 'all plans'}: " + ", ".join(
            f"{t:,} trials {runs[t]['peak_kb'] / 1024:.1f} MB" for t in counts))
        print(f"      growth {slope:.2f} KB per trial (least-squares slope; {intercept / 1024:.0f} MB at 0 trials); "
              f"{10 * t0:,} vs {t0:,} trials {ratio:.2f}x (target < 1.2x: {'MET' if ratio < 1.2 else 'NOT MET'}); "
              f"warmed-up process before the run {runs[t0]['warm_kb'] / 1024:.0f} MB")
        out |= {f"memory_{case}_kb_per_trial": slope, f"memory_{case}_mb_at_0": intercept / 1024,
                f"memory_{case}_ratio_10x": ratio}
    numpy_path = peak_memory(t0, "current", compiled="0")["peak_kb"]
    fixed = (out_one := peak_memory(t0, "current", compiled="1")["peak_kb"]) - numpy_path
    print(f"    the compiled pass held on at every count (SIMLIB_COMPILED=1; a large run turns it on by default): its "
          f"fixed cost, numba and the loaded kernels, {fixed / 1024:.0f} MB a process ({t0:,} trials, 1 plan: "
          f"{out_one / 1024:.0f} MB on, {numpy_path / 1024:.0f} MB on the NumPy path)")
    out["memory_compiled_fixed_mb"] = fixed / 1024
    return out


def sweep_params(n_points: int) -> dict:
    """A target_level x team_weight grid of exactly ``n_points`` points (k x j, k the largest divisor <= sqrt)."""
    k = max(d for d in range(1, int(n_points ** 0.5) + 1) if n_points % d == 0)
    j = n_points // k
    return {"target_level": [round(v, 6) for v in np.linspace(0.85, 1.15, k)],
            "team_weight": [round(v, 6) for v in np.linspace(0.0, 0.5, j)]}


def dynamic_figure(scen, T: int, repeat: int, quick: bool) -> dict:
    """Figure 2b: behaviour on (``dynamic``): a plan's set-up, and each candidate plan's run in normal draws.

    The current plan under ``dynamic`` only records (it is today's behaviour);
    a candidate plan steps month by month through its solved policy. Each
    candidate is timed alone (``reference`` = itself) with its behaviour
    already solved (a run solves each plan once; figure: set-up).
    """
    from simlib import simulate
    from simlib.behaviour.dynamic import DynamicBehaviour, clear_solutions

    clear_solutions()
    m = DynamicBehaviour(scen)
    t = time.perf_counter()
    m.unsolved(list(scen.plans))  # the current plan of every role: the effort-cost normalisation
    t_cur = time.perf_counter() - t
    setup = {}
    for plan in scen.plans:
        if plan == scen.current_plan:
            continue
        t = time.perf_counter()
        for role in scen.roles:
            m.solve(plan, role)
        setup[plan] = time.perf_counter() - t
    print(f"      behaviour on ('dynamic'): set-up once per run (solved in the parent or as tasks, shipped to "
          f"workers, cached by content): current plan {t_cur:.2f} s (all roles), then per candidate plan "
          + ", ".join(f"{p} {v:.2f} s" for p, v in setup.items()))
    Td = max(100, T // 4)
    rm = Td * scen.headcount * 12
    cands = list(setup)
    fns = {p: (lambda p=p: simulate(scen, [p], reference=p, trials=Td, rng=0, behaviour="dynamic", executor=None))
           for p in ["current", *cands]}
    fns["off"] = lambda: simulate(scen, [cands[0]], reference=cands[0], trials=Td, rng=0, behaviour="none",
                                  executor=None)
    fns["all"] = lambda: simulate(scen, None, trials=Td, rng=0, behaviour="dynamic", executor=None)
    for fn in fns.values():
        fn()  # warm up (solutions are cached by content from here on)
    runs = paired_runs(fns, repeat)
    norm = {k: _median(s_ / rm / f for s_, f in v) for k, v in runs.items()}
    cand_ratio = _median([norm[p] for p in cands])
    nplans = len(scen.plans)
    print(f"      candidate plans under 'dynamic', one plan alone, {Td} trials: " + ", ".join(
        f"{p} {norm[p]:.1f}" for p in cands) + f" normal draws per rep-month (median {cand_ratio:.1f}; target <= 20: "
          f"{'MET' if cand_ratio <= 20 else 'NOT MET'}); the current plan (records only) {norm['current']:.1f}; "
          f"behaviour off {norm['off']:.1f}")
    print(f"      all {nplans} plans under 'dynamic' on the same draws: {norm['all'] / nplans:.1f} normal draws per "
          f"plan-rep-month ({norm['all']:.1f} per rep-month for {nplans} plans)")
    return {"dynamic_candidate_normals_per_rep_month": cand_ratio, "dynamic_current_normals_per_rep_month": norm["current"],
            "dynamic_all_plans_normals_per_plan_rep_month": norm["all"] / nplans,
            "dynamic_setup_seconds_per_candidate": _median(list(setup.values())), "dynamic_setup_current_seconds": t_cur}


def tiny_role_scenario(wide: bool):
    """A key-account director (one rep, paid monthly and on the year) beside a telesales floor of 20; ``wide``: the
    director's ability sd 1.16 and revenue CV 1.09 (a strong type's month moves the Bellman state hundreds of cells,
    docs/model.md section 6.2), else 0.2 and 0.15. Today's plan and a top-down candidate paid monthly."""
    from simlib.scenario import scenario_from_dict

    def curve(name, weight, period, top):
        return {"name": name, "measure": "revenue", "kind": "curve", "weight": weight, "period": period,
                "points": [[0.5, 0.0], [1.0, 1.0], [2.0, top]]}

    tele = {"name": "revenue_bonus", "measure": "revenue", "kind": "curve", "weight": 1.0, "period": "quarter",
            "points": [[0.75, 0.5], [1.0, 1.0], [1.5, 2.0]], "cap": 2.0}
    d = {
        "name": "tiny_role", "currency": "EUR",
        "roles": {
            "director": {"process": "generic", "headcount": 1, "team_size": 1, "base_salary": 120000,
                         "target_incentive": 60000, "ability_sd": 1.16 if wide else 0.2, "territory_sd": 0.03,
                         "production": {"revenue_per_month": 80000, "revenue_cv": 1.09 if wide else 0.15,
                                        "revenue_per_unit": 770}},
            "telesales": {"process": "telesales", "headcount": 20, "team_size": 10, "base_salary": 42000,
                          "target_incentive": 18000, "ability_sd": 0.2, "territory_sd": 0.15,
                          "production": {"calls_per_month": 900, "lead_rate": 0.1, "conversion_rate": 0.25,
                                         "deal_value": 1100, "deal_value_cv": 0.6}}},
        "budget": {"incentive": 2000000},
        "current_plan": "current",
        "plans": {
            "current": {"roles": {
                "director": {"quota": {"method": "territory", "level": 1.0, "noise": 0.2},
                             "components": [curve("monthly", 0.5, "month", 2.0), curve("annual", 0.5, "year", 2.5)]},
                "telesales": {"quota": {"method": "territory", "level": 1.0, "noise": 0.1}, "components": [tele]}}},
            "top_down": {"roles": {
                "director": {"quota": {"method": "top_down", "level": 1.1, "noise": 0.2},
                             "components": [curve("monthly", 1.0, "month", 2.0)]},
                "telesales": {"quota": {"method": "top_down", "level": 1.1, "noise": 0.1}, "components": [tele]}}},
        },
    }
    return scenario_from_dict(d, f"tiny_role ({'wide' if wide else 'ordinary'} director)")


def _solve_seconds(scen, repeat: int) -> float:
    """Best CPU seconds of solving every plan x role of ``scen`` from cold (the cost normalisation included)."""
    from simlib.behaviour.dynamic import DynamicBehaviour, clear_solutions

    def solve():
        clear_solutions()
        m = DynamicBehaviour(scen)
        for plan in scen.plans:
            for role in scen.roles:
                m.solve(plan, role)
        clear_solutions()

    return min(cpu_time(solve) for _ in range(repeat))


def wide_role_figure(quick: bool) -> dict:
    """Figure 2c: the solve of a tiny role with a wide spread (:func:`tiny_role_scenario`) against the same
    organisation with an ordinary director, measured in the same run (a ratio); in the full run also through the
    Bellman expectation's former dense product for every kernel (``kernels.DENSE_SPAN`` lifted)."""
    from simlib.behaviour import kernels

    wide, ordinary = tiny_role_scenario(True), tiny_role_scenario(False)
    repeat = 1 if quick else 3
    t_ord = _solve_seconds(ordinary, repeat)
    t_wide = _solve_seconds(wide, repeat)
    rep = {"wide_role_solve_over_ordinary": t_wide / t_ord}
    print(f"[2c] a role of one rep with a wide spread (ability sd 1.16, revenue CV 1.09) beside 20 telesales, "
          f"solving 2 plans x 2 roles, CPU: {t_wide:.2f} s, {t_wide / t_ord:.1f}x the same organisation with an "
          f"ordinary director ({t_ord:.2f} s; load average {os.getloadavg()[0]:.1f})")
    if not quick:
        span = kernels.DENSE_SPAN
        kernels.DENSE_SPAN = 10**9
        try:
            t_old = _solve_seconds(wide, 1)
        finally:
            kernels.DENSE_SPAN = span
        rep["wide_role_former_product_over_ordinary"] = t_old / t_ord
        print(f"      the same through the former dense product of every kernel: {t_old:.2f} s, "
              f"{t_old / t_ord:.1f}x the ordinary director ({t_old / t_wide:.1f}x the node-by-node reading)")
    return rep


def wide_only(quick: bool) -> dict:
    """``--only wide``: :func:`wide_role_figure` alone."""
    return wide_role_figure(quick)


def compiled_state() -> str:
    """Whether the compiled pass (:mod:`simlib.model.compiled`) is on, and why not when it is off."""
    from simlib.model import compiled

    setting = f"{compiled.ENV}={os.environ.get(compiled.ENV, 'auto')}"
    if compiled.mode() == "off":
        return f"off ({setting}: the NumPy path)"
    if compiled.mode() == "auto":
        return f"auto ({setting}: on once a process has simulated {compiled.AUTO_AFTER:,} rep-months)"
    if compiled.enabled():
        import numba

        return f"on (numba {numba.__version__}; {setting}, {compiled.ENV}=0 turns it off)"
    return "off (numba cannot be imported: the NumPy path)"


def compiled_on() -> str:
    """Turn the compiled pass on for this process's figures when it is ``auto`` (a long run turns it on anyway:
    the figures are throughputs); its state, for the report. Subprocesses (start-up, report) keep the setting."""
    from simlib.model import compiled

    if compiled.mode() == "auto":
        compiled.use(True)
        return compiled_state() + " (auto: on for the figures measured in this process)"
    return compiled_state()


def _on_path(compiled_on: bool, fn):
    """``fn`` run with the compiled pass on or off (the NumPy path), the setting restored after."""
    from simlib.model import compiled

    def run():
        before = compiled.mode()
        compiled.use(compiled_on)
        try:
            fn()
        finally:
            compiled.use({"on": True, "off": False}.get(before))

    return run


def compiled_figure(scen, T: int, repeat: int) -> dict:
    """The compiled pass against the NumPy path in this run: behaviour off (1 plan) and a candidate plan under dynamic.

    Normal draws per rep-month, medians of interleaved runs each over a floor measured just before it
    (the same measure as figure 2); skipped when the compiled pass is off.
    """
    from simlib import simulate
    from simlib.model import compiled

    print(f"      compiled pass: {compiled_state()}")
    if compiled.mode() == "off" or not compiled.enabled():
        return {}
    cand = next(p for p in scen.plans if p != scen.current_plan)
    Td = max(100, T // 4)
    off = lambda: simulate(scen, ["current"], trials=T, rng=0, behaviour="none", executor=None)  # noqa: E731
    dyn = lambda: simulate(scen, [cand], reference=cand, trials=Td, rng=0, behaviour="dynamic", executor=None)  # noqa: E731
    fns = {(k, on): _on_path(on, fn) for k, fn in (("off", off), ("dyn", dyn)) for on in (True, False)}
    for fn in fns.values():
        fn()  # warm up (kernels compiled or loaded from the cache; the plan solved)
    runs = paired_runs(fns, repeat)
    rms = {"off": T * scen.headcount * 12, "dyn": Td * scen.headcount * 12}
    norm = {k: _median(s_ / rms[k[0]] / f for s_, f in v) for k, v in runs.items()}
    print(f"      compiled vs NumPy path, same run (normal draws per rep-month, medians of {repeat}): behaviour off "
          f"{norm['off', True]:.1f} vs {norm['off', False]:.1f}; candidate plan {cand} under 'dynamic' "
          f"{norm['dyn', True]:.1f} vs {norm['dyn', False]:.1f}")
    return {"compiled_off_normals_per_rep_month": norm["off", True], "numpy_off_normals_per_rep_month": norm["off", False],
            "compiled_dynamic_normals_per_rep_month": norm["dyn", True],
            "numpy_dynamic_normals_per_rep_month": norm["dyn", False]}


def dynamic_only(quick: bool) -> dict:
    """``--only dynamic``: :func:`dynamic_figure` alone, at the sizes of the full (or ``--quick``) run."""
    from simlib import load_scenario, simulate

    scen = load_scenario(DEFAULT)
    simulate(scen, None, trials=8, rng=0, behaviour="none")  # warm up
    print(f"[2] behaviour on ('dynamic'), load average {os.getloadavg()[0]:.1f}; compiled pass {compiled_on()}:")
    return dynamic_figure(scen, 300 if quick else 2000, 3 if quick else 5, quick)


def off_runs(scen, T: int, repeat: int) -> dict:
    """Figure 2's behaviour-off runs, after a warm-up: one plan (``one``), its drawing alone (``draw``) and every
    plan (``all``), ``T`` trials each, interleaved (:func:`paired_runs`)."""
    from simlib import simulate

    simulate(scen, None, trials=8, rng=0, behaviour="none")  # warm up
    return paired_runs({
        "one": lambda: simulate(scen, ["current"], trials=T, rng=0, behaviour="none", executor=None),
        "draw": lambda: draw_all(scen, T),
        "all": lambda: simulate(scen, None, trials=T, rng=0, behaviour="none", executor=None),
    }, repeat)


def off_only(quick: bool) -> dict:
    """``--only off``: figure 2's behaviour-off run of one plan (and its drawing alone) in normal draws per rep-month,
    and figure 3's ratio to the plain-Python loop, at the sizes of the full (or ``--quick``) run; run it from two
    checkouts alternately to compare them (fresh processes: each has its own allocator state)."""
    from simlib import load_scenario, simulate
    from simlib.model.reference import simulate_reference

    scen = load_scenario(DEFAULT)
    T, rpt = (300, 5) if quick else (2000, 5)
    rm = T * scen.headcount * 12
    print(f"[2] behaviour off, 1 plan, {T} trials, load average {os.getloadavg()[0]:.1f}; compiled pass {compiled_on()}:")
    runs = off_runs(scen, T, rpt)
    ratio = _median(s_ / rm / f for s_, f in runs["one"])
    draw = _median(s_ / rm / f for s_, f in runs["draw"])
    ns_rm = _median(s_ / rm for s_, _ in runs["one"])
    tref = _best_of(lambda: simulate_reference(scen, ["current"], trials=2, rng=0), 3)
    ref_ns = tref / (2 * scen.headcount * 12)
    faults = page_faults(lambda: simulate(scen, ["current"], trials=T, rng=0, behaviour="none", executor=None))
    cpu_ns = _median(cpu_time(lambda: simulate(scen, ["current"], trials=T, rng=0, behaviour="none", executor=None))
                     for _ in range(rpt)) / rm
    print(f"      {ratio:.2f} normal draws per rep-month (median of {rpt}, each over its own floor; {ns_rm * 1e9:.0f} ns), "
          f"of which drawing {draw:.2f}; the plain-Python loop {ref_ns * 1e9:,.0f} ns per rep-month (best of 3): "
          f"{ref_ns / ns_rm:.0f}x (medians; target >= 100x); page faults of one run {faults:,}")
    print(f"      CPU time {cpu_ns * 1e9:.0f} ns per rep-month (all threads, median of {rpt}): {ref_ns / cpu_ns:.0f}x "
          f"the plain-Python loop CPU for CPU (one core against one: the wall ratio counts the drawing thread's core)")
    return {"normals_per_rep_month": ratio, "normals_per_rep_month_drawing": draw,
            "speedup_vs_reference_median": ref_ns / ns_rm, "page_faults": faults,
            "ns_per_rep_month": ns_rm * 1e9, "cpu_ns_per_rep_month": cpu_ns * 1e9,
            "cpu_speedup_vs_reference": ref_ns / cpu_ns}


def cpu_time(fn) -> float:
    """CPU seconds (every thread of this process) while ``fn()`` runs."""
    c = time.process_time()
    fn()
    return time.process_time() - c


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and its finished children (a process pool's workers once shut down)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


#: CPU seconds of the last command :func:`_wall` timed (median over its repeats), with its children
LAST_CPU = [0.0]


def _wall(cmd: list[str], repeat: int = 1, cwd: Path = ROOT) -> tuple[float, subprocess.CompletedProcess]:
    """Median wall time of a command (a fresh process each time: what a user waits for), and its last result.

    The median CPU time (the command and its children) goes to :data:`LAST_CPU`: on a loaded machine the
    wall time is mostly waiting for a core, the CPU time is not.
    """
    times, cpus, out = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), cpu_seconds()
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
        times.append(time.perf_counter() - t)
        cpus.append(cpu_seconds() - c)
    LAST_CPU[0] = _median(cpus)
    return _median(times), out


def explorer_figure() -> dict:
    """An explorer update at its default trials: one slider moved to a value not seen before (a new plan solved)."""
    from simlib.report.explorer import Explorer

    ex = Explorer(str(DEFAULT))
    ex.update()  # warm up: imports, the base plan
    times, cpus, charts = [], [], []
    for v in (1.03, 1.06, 1.09, 1.12, 1.15):
        t, c = time.perf_counter(), time.process_time()
        r = ex.update(target_level=v)
        times.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
        list(r["figures"])  # the charts are built when first looked at
        charts.append(time.perf_counter() - t)
    again = _best_of(lambda: ex.update(target_level=1.06), 3)
    med, cpu = _median(times), _median(cpus)
    print(f"      explorer update ({ex.trials} trials, role {ex.role}, target_level moved to a new value): median "
          f"{med:.2f} s, CPU {cpu:.2f} s, of {len(times)} (target < 0.3 s: {'MET' if med < 0.3 else 'NOT MET'}); with "
          f"its 4 charts built {_median(charts):.2f} s; back to a value seen before (nothing to solve) {again:.2f} s")
    return {"explorer_update_seconds": med, "explorer_update_cpu_seconds": cpu, "explorer_update_seen_seconds": again,
            "explorer_update_with_charts_seconds": _median(charts)}


def startup_figure() -> dict:
    """Start-up: ``simlib run --help`` and a small ``simlib run``, fresh processes, against ``python -c pass``."""
    py, _ = _wall([sys.executable, "-c", "pass"], 3)
    hlp, _ = _wall([sys.executable, "-m", "simlib", "run", "--help"], 3)
    hlp_cpu = LAST_CPU[0]
    small, _ = _wall([sys.executable, "-m", "simlib", "run", str(DEFAULT), "--trials", "1000", "--format", "json"], 3)
    small_cpu = LAST_CPU[0]
    imp, _ = _wall([sys.executable, "-c", "import simlib.engine.api, simlib.cli"], 3)
    imp_cpu = LAST_CPU[0]
    print(f"      start-up (medians of 3 fresh processes, wall / CPU): python alone {py:.2f} s; 'simlib run --help' "
          f"{hlp:.2f} / {hlp_cpu:.2f} s; 'simlib run default.yaml --trials 1000' (dynamic, all plans, --scheduler auto) "
          f"{small:.2f} / {small_cpu:.2f} s, of which importing the engine and CLI {imp:.2f} / {imp_cpu:.2f} s")
    return {"help_seconds": hlp, "help_cpu_seconds": hlp_cpu, "small_run_seconds": small, "small_run_cpu_seconds": small_cpu,
            "engine_import_seconds": imp}


def report_figure() -> dict:
    """``simlib report`` of the default scenario (every default notebook), into a temporary folder."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        secs, out = _wall([sys.executable, "-m", "simlib", "report", str(DEFAULT), "--out", tmp, "--no-progress"])
    ok = out.returncode == 0
    print(f"      'simlib report' of the default scenario: {secs:.1f} s, CPU {LAST_CPU[0]:.1f} s" + (
        f" (target < 60 s: {'MET' if secs < 60 else 'NOT MET'})" if ok else
        f" (FAILED, exit {out.returncode}: {out.stderr.strip()[-300:]})"))
    return {"report_seconds": secs} if ok else {}


def waits_figure(scen, quick: bool) -> dict:
    """Figure 7: what users wait for, end to end (optimise, explorer, start-up; the report in the full run)."""
    print("[7] what users wait for (wall times on this machine):")
    rep = {}
    rep.update(explorer_figure())
    rep.update(startup_figure())
    from .scale import optimise_figure

    rep.update(optimise_figure(quick))
    if not quick:
        rep.update(report_figure())
    return rep


def run(quick: bool = False, dask: bool = True) -> int:
    from simlib import load_scenario, simulate
    from simlib.engine.parallel import cpu_count, resolve_executor

    scen = load_scenario(DEFAULT)
    cores = cpu_count()
    print(f"simlib benchmarks ({'quick' if quick else 'full'}); {cores} cores, load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; numpy {np.__version__}; python {sys.version.split()[0]}; "
          f"compiled pass {compiled_on()}")
    print("timings are best-of-N wall times on a shared machine; compare the ratios measured in this run.\n")
    rep = {}

    # 1. floor -------------------------------------------------------------
    floor = normal_floor(2_000_000 if quick else 10_000_000)
    rep["normal_ns"] = floor * 1e9
    print(f"[1] floor: numpy standard normal draw      {floor * 1e9:8.2f} ns per normal")

    # 2. engine throughput ---------------------------------------------------
    bm = box_muller_cost(1_000_000)
    rep["box_muller_ns"] = bm * 1e9
    print(f"    the engine's normals (PCG64 uniforms + vectorised Box-Muller): {bm * 1e9:8.2f} ns per normal "
          f"({bm / floor:.2f}x the floor)")

    T = 300 if quick else 2000
    rpt = 3 if quick else 5
    rm = T * scen.headcount * 12
    nplans = len(scen.plans)
    runs = off_runs(scen, T, rpt)
    # ratios to the floor are medians over the paired runs (each run over its own floor); throughputs and
    # speed-ups are from the best runs (labelled)
    ratios = sorted(s_ / rm / f for s_, f in runs["one"])
    ratio = _median(ratios)
    draw_ratio = _median(s_ / rm / f for s_, f in runs["draw"])
    comp_ratio = _median((s1 - s2) / rm / f for (s1, f), (s2, _) in zip(runs["one"], runs["draw"], strict=True))
    ns_rm = _median(s_ for s_, _ in runs["one"]) / rm
    ns_draw = _median(s_ for s_, _ in runs["draw"]) / rm
    best1 = min(s_ for s_, _ in runs["one"])
    best5 = min(s_ for s_, _ in runs["all"])
    rms = rm / best1
    rep.update(engine_rep_months_per_s=rms, normals_per_rep_month=ratio, normals_per_rep_month_drawing=draw_ratio)
    print(f"[2] engine, behaviour off, 1 plan:   {T} trials x {scen.headcount} reps x 12 months in {best1:.3f} s, "
          f"{rms:,.0f} rep-months/s (best of {rpt} runs)")
    print(f"      a rep-month costs {ratio:.1f} normal draws (median of {rpt} runs, each over a floor measured just "
          f"before it; range {ratios[0]:.1f}-{ratios[-1]:.1f}; {ns_rm * 1e9:.0f} ns) (target <= 10: "
          f"{'MET' if ratio <= 10 else 'NOT MET'})")
    from simlib.model.population import Layout

    lay = Layout.of(scen)
    print(f"      of which drawing the trials' random numbers ({lay.n_normal / (scen.headcount * 12):.1f} normals "
          f"+ {lay.n_uniform / (scen.headcount * 12):.1f} uniforms per rep-month, fixed by the model; each trial "
          f"from its own stream): {draw_ratio:.1f} normal draws ({ns_draw * 1e9:.0f} ns); production, pay and "
          f"metrics: {comp_ratio:.1f}")
    faults = page_faults(lambda: simulate(scen, ["current"], trials=T, rng=0, behaviour="none", executor=None))
    rep["page_faults_per_1000_rep_months"] = faults / rm * 1000
    print(f"      page faults of one such run (fresh memory the system hands over page by page): {faults:,} "
          f"({faults / rm * 1000:.1f} per 1,000 rep-months; a chunk's year measures reuse the thread's memory)")
    ratio5 = _median(s_ / (rm * nplans) / f for s_, f in runs["all"])
    print(f"      all {nplans} plans on the same draws: {best5:.3f} s, {rm * nplans / best5:,.0f} plan-rep-months/s "
          f"= {ratio5:.1f} normal draws per plan-rep-month ({best5 / best1:.2f}x the time of one plan for "
          f"{nplans}x the plans; best runs)")
    rep.update(dynamic_figure(scen, T, rpt, quick))
    rep.update(compiled_figure(scen, T, rpt))
    rep.update(wide_role_figure(quick))
    print("      where the time goes (behaviour off, top functions by own time):")
    print(profile_engine(scen, 200 if quick else 500))

    # 3. speed-up over the plain-Python reference ----------------------------
    from simlib.model.reference import simulate_reference

    Tr = 2 if quick else 5
    # best of 3, like the engine's figure (a single timing of a short run is at the mercy of other load)
    tref = _best_of(lambda: simulate_reference(scen, ["current"], trials=Tr, rng=0), 3)
    ref_rms = Tr * scen.headcount * 12 / tref
    teng_same = _best_of(lambda: simulate(scen, ["current"], trials=Tr, rng=0, behaviour="none"), 3)
    speed = rms / ref_rms  # best runs of both
    rep["speedup_vs_reference"] = speed
    print(f"[3] plain-Python per-rep reference: {Tr} trials in {tref:.2f} s = {ref_rms:,.0f} rep-months/s")
    print(f"      engine/reference throughput (best runs): {speed:,.0f}x (target >= 100x: {'MET' if speed >= 100 else 'NOT MET'}); "
          f"on the same {Tr} trials (engine mostly fixed overhead): {tref / teng_same:,.0f}x")
    budget = 1.0 / ref_rms / 100
    print(f"      100x would be {budget * 1e9:.0f} ns per rep-month; drawing the model's random numbers alone takes "
          f"{ns_draw * 1e9:.0f} ns ({ns_draw / budget:.0%} of that), production, pay and metrics the other "
          f"{(ns_rm - ns_draw) * 1e9:.0f} ns (medians)")
    tref5 = _best_of(lambda: simulate_reference(scen, None, trials=Tr, rng=0), 2)
    speed5 = (rm * nplans / best5) / (Tr * scen.headcount * 12 * nplans / tref5)
    rep["speedup_vs_reference_all_plans"] = speed5
    print(f"      all {nplans} plans (both share production across plans): reference {Tr * scen.headcount * 12 * nplans / tref5:,.0f} "
          f"plan-rep-months/s, engine/reference {speed5:,.0f}x")

    # 4. peak memory against trials -----------------------------------------
    rep.update(memory_figure(quick))

    from .scale import scaling_figure, sweep_figure  # sweeps and the optimiser: benchmarks/scale.py

    rep.update(sweep_figure(scen, quick, cores, floor))

    # 6. scaling -------------------------------------------------------------
    big = scaled_scenario(50)
    Tb = 20 if quick else 100
    sbig, rbig = engine_throughput(big, Tb, ["current"], "none", 1)
    print(f"[6] 10,000-rep organisation ({big.headcount} reps), 1 plan, serial: {Tb} trials in {sbig:.2f} s, "
          f"{rbig:,.0f} rep-months/s ({rbig / rms:.2f}x the 200-rep throughput)")
    with resolve_executor("processes") as ex:
        t = time.perf_counter()
        simulate(big, ["current"], trials=Tb, rng=0, executor=ex, behaviour="none")
        sbp = time.perf_counter() - t
    print(f"      same on a local process pool of {cores}: {sbp:.2f} s ({sbig / sbp:.2f}x serial)")

    rep.update(scaling_figure(scen, quick, dask, cores))

    # 7. what users wait for ---------------------------------------------------
    rep.update(waits_figure(scen, quick))
    print("\nsummary: " + json.dumps({k: round(v, 3) for k, v in rep.items()}))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (about a minute)")
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask LocalCluster comparison")
    ap.add_argument("--only", choices=["memory", "dynamic", "off", "wide"],
                    help="run one figure only (memory: figure 4; dynamic: figure 2's behaviour-on part; off: figure 2's "
                         "behaviour-off run and figure 3's ratio; wide: figure 2c, a tiny role with a wide spread)")
    a = ap.parse_args(argv)
    if a.only:
        rep = {"memory": memory_figure, "dynamic": dynamic_only, "off": off_only, "wide": wide_only}[a.only](a.quick)
        print("\nsummary: " + json.dumps({k: round(v, 3) for k, v in rep.items()}))
        return 0
    return run(quick=a.quick, dask=not a.no_dask)


if __name__ == "__main__":
    sys.exit(main())
