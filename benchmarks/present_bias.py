"""``python -m benchmarks.present_bias``: every ``validate-model`` check with the reps' present bias set.

Runs each research finding (``simlib.fit.findings.FINDINGS``) on its
validation scenario and the two role swaps, as ``simlib validate-model``
does (``role_scenarios``, then ``check_finding``), with
``behaviour.effort.present_bias`` set to each ``--beta`` on every scenario
(quasi-hyperbolic discounting of a sophisticated rep, docs/model.md section
4.1.3), and prints one line per check: the measured effect and whether it
holds at each beta, then how many checks hold. Evidence for docs/model.md
section 4.10. ``--csv PATH`` writes the rows; ``--timing-off`` also switches
timing games off (``behaviour.timing.enabled: false``), which isolates the
effort channel of a finding.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from simlib.errors import SimlibError
from simlib.fit.findings import FINDINGS, check_finding, role_scenarios
from simlib.scenario import Scenario, scenario_from_dict


def with_present_bias(scen: Scenario, beta: float, timing: bool = True) -> Scenario:
    """The scenario with ``behaviour.effort.present_bias`` set, timing games off unless ``timing`` (itself at
    beta 1 with timing, so today's model is the same object)."""
    if beta == 1.0 and timing:
        return scen
    data = scen.model_dump(by_alias=True)
    data["behaviour"]["effort"]["present_bias"] = beta
    if not timing:
        data["behaviour"]["timing"]["enabled"] = False
    return scenario_from_dict(data, f"{scen.source} (present bias {beta})")


def measure(betas: list[float], trials: int, seed: int, only: list[str] | None, progress: bool,
            timing: bool = True) -> pd.DataFrame:
    """One row per finding, role type, effect and beta (the columns of ``validate_model`` plus ``beta``)."""
    rows = []
    for f in FINDINGS:
        if only and f.key not in only:
            continue
        for scen in role_scenarios(f):
            for beta in betas:
                for row, _ in check_finding(f, with_present_bias(scen, beta, timing), trials, seed):
                    rows.append({**row, "beta": beta})
                if progress:
                    print(f"  {f.key} ({rows[-1]['role']}, beta {beta}): {rows[-1]['seconds']:.1f}s", file=sys.stderr)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.present_bias")
    p.add_argument("--beta", type=float, nargs="+", default=[1.0, 0.9, 0.8, 0.7],
                   help="present-bias values (0 < beta <= 1; default 1 0.9 0.8 0.7)")
    p.add_argument("--trials", type=int, default=200, help="trials (2 to 10,000; default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="+", metavar="KEY", help="findings to run (keys as in simlib validate-model)")
    p.add_argument("--csv", metavar="PATH", help="also write one row per check and beta")
    p.add_argument("--progress", action="store_true", help="time of each run on stderr")
    p.add_argument("--timing-off", action="store_true", help="timing games off too (the effort channel alone)")
    a = p.parse_args(argv)
    if not 2 <= a.trials <= 10_000:
        p.error(f"--trials: expected 2 to 10,000, got {a.trials}")
    if not all(0.0 < b <= 1.0 for b in a.beta):
        p.error(f"--beta: expected values in (0, 1], got {a.beta}")
    keys = [f.key for f in FINDINGS]
    if a.only and set(a.only) - set(keys):
        p.error(f"--only: unknown finding(s) {sorted(set(a.only) - set(keys))}, expected some of {keys}")
    try:
        df = measure(a.beta, a.trials, a.seed, a.only, a.progress, timing=not a.timing_off)
    except SimlibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if a.csv:
        df.to_csv(a.csv, index=False)
    wide = df.pivot_table(index=["key", "role", "effect"], columns="beta", values=["measured", "holds"], aggfunc="first",
                          sort=False)
    for (key, role, effect), r in wide.iterrows():
        cells = "  ".join(f"{r[('measured', b)]:+.3g}{'' if r[('holds', b)] else ' (fails)'}" for b in a.beta)
        print(f"{key} | {role} | {effect} | {cells}")
    held = df.groupby("beta", sort=False)["holds"].agg(["sum", "count"])
    print("holds: " + ", ".join(f"beta {b}: {int(r['sum'])} of {int(r['count'])}" for b, r in held.iterrows()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
