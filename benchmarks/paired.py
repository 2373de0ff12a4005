"""``python -m benchmarks.paired --base DIR``: this checkout against another, interleaved pairs in one process.

Both versions of simlib are imported into this one process (each keeps its
own modules; they are swapped in before each of its runs), and each
candidate plan of the default scenario runs under ``dynamic`` alone
(``reference`` = itself, its behaviour solved and cached by a warm-up run, as
``benchmarks/run.py``'s ``dynamic_figure``), alternating which version goes
first; with ``--behaviour none``, the current plan (or ``--plans``) with
behaviour off, as ``python -m benchmarks --only off`` runs it. Prints per plan the medians of CPU and wall seconds, normal draws per
rep-month (each run over a NumPy standard-normal floor measured just before
it), the median of the paired speed-ups, and whether the two versions give
the same numbers bit for bit. On a shared machine CPU seconds swing less than
wall seconds. Settings of the whole process (e.g. the C allocator's options) apply to
both versions once either has made them: compare those in separate processes.

Make the other checkout with, e.g., ``git worktree add /tmp/base HEAD~3`` or
``git archive HEAD~3 | tar -x -C /tmp/base``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1]


def _load(root: Path):
    """Import simlib from ``root``; returns its modules, ``simulate`` and the default scenario."""
    _drop()
    sys.path.insert(0, str(root))
    try:
        import simlib.behaviour.dynamic  # noqa: F401  (imported by the engine on first use: keep this version's)
        from simlib import simulate
        from simlib.scenario import load_scenario
        scen = load_scenario(root / "scenarios" / "default.yaml")
    finally:
        sys.path.remove(str(root))
    return {k: v for k, v in sys.modules.items() if k == "simlib" or k.startswith("simlib.")}, simulate, scen


def _drop() -> None:
    for k in [k for k in sys.modules if k == "simlib" or k.startswith("simlib.")]:
        del sys.modules[k]


def _activate(mods: dict) -> None:
    _drop()
    sys.modules.update(mods)


def _floor() -> float:
    """Seconds per standard normal drawn by NumPy (best of two draws of a million)."""
    rng = np.random.default_rng(1)
    best = np.inf
    for _ in range(2):
        t = time.perf_counter()
        rng.standard_normal(1_000_000)
        best = min(best, (time.perf_counter() - t) / 1e6)
    return best


def _median(xs):
    return float(np.median(xs))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.paired", description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, type=Path, help="the other checkout (the 'before')")
    ap.add_argument("--trials", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=7, help="pairs per plan")
    ap.add_argument("--plans", default="", help="comma-separated candidate plans (default: every one; with "
                    "--behaviour none the current plan)")
    ap.add_argument("--behaviour", choices=("dynamic", "none"), default="dynamic",
                    help="none: behaviour off, one process, no executor (the figure of --only off)")
    a = ap.parse_args(argv)
    versions = {"before": _load(a.base.resolve()), "after": _load(HERE)}
    scen = versions["after"][2]
    cands = [p for p in scen.plans if p != scen.current_plan and (not a.plans or p in a.plans.split(","))]
    if a.behaviour == "none":
        cands = a.plans.split(",") if a.plans else [scen.current_plan]
    rm = a.trials * scen.headcount * 12

    def run(v, p):
        mods, simulate, sc = versions[v]
        _activate(mods)
        return simulate(sc, [p], reference=p, trials=a.trials, rng=0, behaviour=a.behaviour, executor=None)

    same = {}
    for p in cands:  # warm-up: every plan's behaviour solved and cached, in each version
        ra, rb = run("before", p).raw, run("after", p).raw
        same[p] = all(np.array_equal(getattr(ra, k), getattr(rb, k), equal_nan=True) for k in ("mean", "se", "n"))
    got = {(v, p): [] for v in versions for p in cands}
    for r in range(a.repeat):
        for p in cands:
            for v in (["before", "after"] if r % 2 == 0 else ["after", "before"]):
                f = _floor()
                t, c = time.perf_counter(), time.process_time()
                run(v, p)
                got[(v, p)].append((time.perf_counter() - t, time.process_time() - c, f))
    print(f"{a.trials} trials, {a.repeat} interleaved pairs per plan, medians (before -> after)")
    for p in cands:
        b, x = got[("before", p)], got[("after", p)]
        cpu = (_median([s[1] for s in b]), _median([s[1] for s in x]))
        wall = (_median([s[0] for s in b]), _median([s[0] for s in x]))
        norm = (_median([s[0] / rm / s[2] for s in b]), _median([s[0] / rm / s[2] for s in x]))
        pair = _median([sb[0] / sa[0] for sb, sa in zip(b, x, strict=True)])
        print(f"  {p:20s} CPU {cpu[0]:.3f} -> {cpu[1]:.3f} s ({cpu[0] / cpu[1]:.2f}x); wall {wall[0]:.3f} -> "
              f"{wall[1]:.3f} s (paired {pair:.2f}x); {norm[0]:.1f} -> {norm[1]:.1f} normal draws per rep-month; "
              f"{'same numbers' if same[p] else 'NUMBERS DIFFER'}")
    return 0 if all(same.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
