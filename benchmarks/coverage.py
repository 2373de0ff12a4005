"""``python -m benchmarks.coverage``: coverage of the backtest's predictive intervals on synthetic histories.

Each case is a shipped scenario and a plan change: :func:`simlib.fit.synth.synth_history`
writes two years (year one under the current plan, year two under the new
one, reps following the behaviour resolved like ``simlib run``), and
:func:`simlib.fit.backtest.backtest` fits year one and predicts year two. The
coverage is the share of actuals (every role and the total, every metric)
inside their nominal interval, over all histories; its binomial standard error
counts one history as one draw (the rows of a history share its market year),
so it is computed from the per-history coverages.

Usage::

    python -m benchmarks.coverage [--seeds 5] [--trials 200] [--bootstrap 40] [--level 0.9]
                                  [--synth-behaviour NAME]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

#: (scenario file under simlib/shipped/scenarios, plan in year two)
CASES = [
    ("default.yaml", "harder_target"),
    ("default.yaml", "team_weighted"),
    ("validation/goal_difficulty.yaml", "level_115"),
    ("validation/cap_and_quarterly.yaml", "quarterly_uncapped"),
]


def coverage(cases=CASES, seeds=range(5), *, trials: int = 200, bootstrap: int = 40, level: float = 0.90,
             synth_behaviour: str | None = None, behaviour: str | None = None) -> pd.DataFrame:
    """Backtest every (case, seed) and return one row per history and metric row of the backtest.

    Parameters
    ----------
    cases : sequence of (scenario path relative to the shipped scenarios, plan in year two)
    seeds : seeds of the synthetic histories (history seed; the backtest uses the same seed)
    trials, bootstrap, level : passed to :func:`simlib.fit.backtest.backtest`
    synth_behaviour : behaviour reps follow in the synthetic history (default: resolved like ``simlib run``)
    behaviour : behaviour of the prediction (default: resolved like ``simlib run``)

    Returns
    -------
    DataFrame with scenario, plan_after, seed, group, metric, actual, lo, hi, inside
    """
    import tempfile

    from simlib.engine.core import resolve_behaviour
    from simlib.fit.backtest import backtest
    from simlib.fit.history import read_history, write_history
    from simlib.fit.synth import synth_history
    from simlib.io import SHIPPED
    from simlib.scenario import load_scenario

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path, plan2 in cases:
            scen = load_scenario(SHIPPED / "scenarios" / path)
            for seed in seeds:
                frame, _ = synth_history(scen, rng=seed, years=2, plan2=plan2,
                                         behaviour=resolve_behaviour(scen, synth_behaviour))
                f = Path(tmp) / "h.csv"
                write_history(frame, f)
                hist = read_history(f, {r: x.process for r, x in scen.roles.items()})
                bt = backtest(hist, scen, plan_after=plan2, trials=trials, rng=seed, level=level,
                              bootstrap=bootstrap, behaviour=behaviour)
                for r in bt.rows:
                    if r["inside"] is not None:
                        rows.append({"scenario": path, "plan_after": plan2, "seed": seed, "group": r["group"],
                                     "metric": r["metric"], "actual": r["actual"], "lo": r["lo"], "hi": r["hi"],
                                     "inside": r["inside"]})
    return pd.DataFrame(rows)


def summary(f: pd.DataFrame) -> tuple[float, float, pd.DataFrame]:
    """Overall coverage, its standard error (per-history coverages as the draws) and coverage by case and metric."""
    per_history = f.groupby(["scenario", "plan_after", "seed"])["inside"].mean()
    se = float(per_history.std(ddof=1) / np.sqrt(len(per_history))) if len(per_history) > 1 else float("nan")
    by = f.pivot_table(index=["scenario", "plan_after"], columns="metric", values="inside", aggfunc="mean")
    return float(f["inside"].mean()), se, by


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.coverage", description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5, help="histories per case (default 5)")
    ap.add_argument("--trials", type=int, default=200, help="simulated years per backtest (default 200)")
    ap.add_argument("--bootstrap", type=int, default=40, help="bootstrap replicates of each calibration (default 40)")
    ap.add_argument("--level", type=float, default=0.90, help="nominal coverage (default 0.90)")
    ap.add_argument("--synth-behaviour", help="behaviour of the synthetic reps (default: as simlib run)")
    ap.add_argument("--behaviour", help="behaviour of the prediction (default: as simlib run)")
    args = ap.parse_args(argv)
    f = coverage(seeds=range(args.seeds), trials=args.trials, bootstrap=args.bootstrap, level=args.level,
                 synth_behaviour=args.synth_behaviour, behaviour=args.behaviour)
    cov, se, by = summary(f)
    n_hist = f.groupby(["scenario", "plan_after", "seed"]).ngroups
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 2):
        print(by)
    print(f"coverage of the nominal {args.level:.0%} intervals: {cov:.1%} +- {se:.1%} (1 se) over {n_hist} histories, "
          f"{len(f)} actuals")
    return 0


if __name__ == "__main__":
    sys.exit(main())
