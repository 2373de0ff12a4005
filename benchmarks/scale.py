"""Sweeps, the optimiser and scaling out: figures 5, 6 (sweeps) and 7 (the optimise example) of ``python -m benchmarks``.

``python -m benchmarks.scale`` runs these figures alone (``--quick`` for
smaller sizes, ``--no-dask`` to skip the LocalCluster). Every figure is
printed with ratios measured in the same run, because on a shared machine
wall times follow the load (printed before and after):

- the default sweep (``target_level`` x ``team_weight``, 100 points x
  1,000 trials, ``dynamic``) on all cores: wall time against the target
  (90 s), CPU time, the CPU per plan-rep-month in normal draws (the engine's
  unit: compare with figure 2's candidate plan), and the share of the
  cores the run kept busy (CPU / (wall x cores));
- a ``dynamic`` sweep serially, on a process pool and on a Dask
  ``LocalCluster`` (each starting with no behaviour solved): speed-ups over
  serial, and a check that all give identical numbers;
- the README's optimise example (``simlib optimize``, 500 trials, the
  default sensitivity re-optimisations): wall against the target (60 s),
  CPU, the optimiser's evaluations and the share of the cores kept busy.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from .run import DEFAULT, LAST_CPU, _wall, cpu_seconds, normal_floor, sweep_params


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def sweep_figure(scen, quick: bool, cores: int, floor: float | None = None) -> dict:
    """Figure 5: the default sweep (grid target_level x team_weight), behaviour on (the default) and off, all cores."""
    from simlib.behaviour.dynamic import clear_solutions
    from simlib.design.sweep import run_sweep

    floor = floor or normal_floor(2_000_000, 3)
    npts, Ts = (20, 200) if quick else (100, 1000)
    params = sweep_params(npts)
    out = {}
    for beh in ("dynamic", "none"):
        clear_solutions()
        load = _load()
        t, c = time.perf_counter(), cpu_seconds()
        sw = run_sweep(scen, params, trials=Ts, rng=0, executor="auto", behaviour=beh)
        secs, cpu = time.perf_counter() - t, cpu_seconds() - c
        pts = sw["point"].nunique()
        normals = cpu / (pts * Ts * scen.headcount * 12) / floor
        busy = cpu / (secs * cores)
        out |= {f"sweep_{beh}_seconds": secs, f"sweep_{beh}_cpu_seconds": cpu,
                f"sweep_{beh}_normals_per_plan_rep_month": normals, f"sweep_{beh}_cores_busy": busy}
        target = "" if beh == "none" else (
            f"; target < 90 s for 100 x 1000: {'n/a at the quick size' if quick else ('MET' if secs < 90 else 'NOT MET')}"
            f" ({secs / 90:.2f}x the target)")
        print(f"[5] sweep of the default scenario, behaviour {beh}: {pts} points x {Ts} trials (grid target_level x "
              f"team_weight), all cores (auto: process pool of {cores}): {secs:.1f} s ({secs / pts:.2f} s per point"
              f"{target}); CPU {cpu:.1f} s in all (client and workers) = {normals:.1f} normal draws per "
              f"plan-rep-month, cores kept busy {busy:.0%}; on {cores} idle cores about {cpu / cores:.0f} s "
              f"(load average {load} before)")
    return out


def scaling_figure(scen, quick: bool, dask: bool, cores: int) -> dict:
    """Figure 6 (sweeps): a ``dynamic`` sweep serially, on a process pool and on a 2-worker Dask LocalCluster."""
    from simlib.behaviour.dynamic import clear_solutions
    from simlib.design.sweep import run_sweep
    from simlib.engine.parallel import local_cluster_client, resolve_executor

    npts, Ts = (8, 100) if quick else (20, 500)
    p = sweep_params(npts)
    load = _load()
    clear_solutions()  # each executor starts cold: its set-up (behaviour solved once per plan) is part of the time
    t, c = time.perf_counter(), cpu_seconds()
    serial = run_sweep(scen, p, trials=Ts, rng=0, executor="serial", behaviour="dynamic")
    s_serial, c_serial = time.perf_counter() - t, cpu_seconds() - c
    t, c = time.perf_counter(), cpu_seconds()
    with resolve_executor("processes") as ex:
        clear_solutions()
        pool = run_sweep(scen, p, trials=Ts, rng=0, executor=ex, behaviour="dynamic")
    s_pool, c_pool = time.perf_counter() - t, cpu_seconds() - c  # the pool's workers counted once shut down
    line = (f"      dynamic sweep {serial['point'].nunique()} points x {Ts} trials (wall / CPU of client and workers): "
            f"serial {s_serial:.1f} / {c_serial:.1f} s, process pool ({cores}) {s_pool:.1f} / {c_pool:.1f} s "
            f"({s_serial / s_pool:.2f}x)")
    same = [serial.equals(pool)]
    rep = {"pool_speedup": s_serial / s_pool, "pool_cpu_ratio": c_pool / c_serial}
    if dask:
        t0, c = time.perf_counter(), cpu_seconds()
        client = local_cluster_client(2)
        start = time.perf_counter() - t0
        try:
            clear_solutions()
            t = time.perf_counter()
            remote = run_sweep(scen, p, trials=Ts, rng=0, executor=client, behaviour="dynamic")
            s_dask = time.perf_counter() - t
        finally:
            cluster = client.cluster
            client.close()
            cluster.close()
        c_dask = cpu_seconds() - c  # with the cluster's start-up and shut-down
        same.append(serial.equals(remote))
        line += (f", Dask LocalCluster 2 workers {s_dask:.1f} / {c_dask:.1f} s ({s_serial / s_dask:.2f}x; cluster "
                 f"start-up {start:.1f} s not included in the wall time)")
        rep |= {"dask_speedup": s_serial / s_dask, "dask_cpu_ratio": c_dask / c_serial}
    print(line + f" (load average {load} before, {_load()} after)")
    idle = [f"pool {2 * c_serial / c_pool:.2f}x"] + ([f"LocalCluster {2 * c_serial / c_dask:.2f}x"] if dask else [])
    print(f"      CPU of each executor over serial: pool {c_pool / c_serial:.2f}x" +
          (f", LocalCluster {c_dask / c_serial:.2f}x (with its start-up and shut-down)" if dask else "") +
          f"; the speed-up that leaves on 2 otherwise idle cores, at most: {', '.join(idle)}")
    print(f"      identical numbers across executors: {'yes' if all(same) else 'NO'}")
    return rep


def optimise_figure(quick: bool, cores: int | None = None) -> dict:
    """The README's optimise example (``simlib optimize``, its defaults: 500 trials, sensitivity re-optimisations)."""
    from simlib.engine.parallel import cpu_count

    cores = cores or cpu_count()
    args = ["optimize", str(DEFAULT), "--param", "target_level=0.9:1.2", "--param", "cap=1.5:3", "--objective", "profit",
            "--constraint", "comp_cost_of_sales<=0.2", "--constraint", "0.4<=share_at_quota<=0.7",
            "--constraint", "over_budget<=0.1", "--format", "json"]
    if quick:
        args += ["--trials", "100", "--maxiter", "40", "--no-sensitivity"]
    load = _load()
    secs, out = _wall([sys.executable, "-m", "simlib", *args])
    cpu = LAST_CPU[0]
    ok = out.returncode == 0
    evals, sens = 0, 0
    if ok:
        doc = json.loads(out.stdout)
        evals, sens = int(doc["provenance"].get("evaluations", 0)), len(doc.get("sensitivity") or [])
    busy = cpu / (secs * cores)
    print(f"      the README's optimise example{' (quick: 100 trials, 40 steps, no sensitivity)' if quick else ''}: "
          f"{secs:.1f} s, CPU {cpu:.1f} s{'' if ok else ' (FAILED: ' + out.stderr.strip()[-200:] + ')'} (target < 60 s: "
          f"{'n/a at the quick size' if quick else ('MET' if ok and secs < 60 else 'NOT MET')}, {secs / 60:.2f}x the "
          f"target); {evals} evaluations before {sens} sensitivity re-optimisations; cores kept busy {busy:.0%}; on "
          f"{cores} idle cores about {cpu / cores:.0f} s (load average {load} before)")
    return {"optimise_seconds": secs, "optimise_cpu_seconds": cpu, "optimise_evaluations": evals,
            "optimise_cores_busy": busy}


def main(argv=None) -> int:
    from simlib import load_scenario
    from simlib.engine.parallel import cpu_count

    ap = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask LocalCluster comparison")
    a = ap.parse_args(argv)
    scen, cores = load_scenario(DEFAULT), cpu_count()
    print(f"simlib sweep and optimise benchmarks ({'quick' if a.quick else 'full'}); {cores} cores, load average {_load()}")
    rep = sweep_figure(scen, a.quick, cores)
    rep |= scaling_figure(scen, a.quick, not a.no_dask, cores)
    rep |= optimise_figure(a.quick, cores)
    print("\nsummary: " + json.dumps({k: round(v, 3) for k, v in rep.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
