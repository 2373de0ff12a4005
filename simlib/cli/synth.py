"""``simlib synth SCENARIO --out HISTORY``: synthetic rep-level monthly history drawn from a scenario."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from simlib.cli.args import add_behaviour_argument, positive_int, seed
from simlib.errors import SimlibError
from simlib.io import write_atomic


def add_parser(subparsers) -> None:
    """Register ``simlib synth``."""
    s = subparsers.add_parser(
        "synth", help="generate synthetic rep-level monthly history from a scenario",
        description="Simulate one or two years of the scenario's reps and write their monthly results in the "
                    "history format (docs/history-format.md), to try calibrate, backtest and replay without data.")
    s.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    s.add_argument("--out", required=True, help="history file to write (.csv or .parquet)")
    s.add_argument("--plan", help="plan in force in year one (default: the current plan)")
    s.add_argument("--years", type=int, choices=(1, 2), default=1, help="years of history (default 1)")
    s.add_argument("--plan2", help="plan in force in year two (default: same as year one)")
    s.add_argument("--start-year", type=positive_int, default=2025, help="calendar year of year one (default 2025)")
    s.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    add_behaviour_argument(s, help="behaviour model reps follow (default: the scenario's behaviour.mode, else dynamic, "
                                   "as simlib run; none keeps today's effort under every plan)")
    s.add_argument("--truth", help="where to write the generating parameters (default: OUT with .truth.json)")
    s.add_argument("--force", action="store_true", help="overwrite existing files")
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the history and its generating parameters (``--truth``); 0 on success."""
    from simlib.fit.history import write_history
    from simlib.fit.individuals import load_scenario  # the scenario, with the history it names applied
    from simlib.fit.synth import synth_history

    out = Path(args.out)
    if out.exists() and not args.force:
        raise SimlibError(f"{out} exists; use --force to overwrite it")
    truth_path = Path(args.truth) if args.truth else out.with_suffix(".truth.json")
    if truth_path.exists() and not args.force:
        raise SimlibError(f"{truth_path} exists; use --force to overwrite it")
    scen = load_scenario(args.scenario)
    frame, truth = synth_history(scen, plan=args.plan, rng=args.seed, years=args.years, plan2=args.plan2,
                                 start_year=args.start_year, behaviour=args.behaviour)
    write_history(frame, out)
    write_atomic(truth_path, json.dumps(truth, indent=2))
    n_reps = frame["rep_id"].nunique()
    print(f"wrote {out}: {len(frame)} rows, {n_reps} reps, {args.years} year(s), plan(s) {truth['plans']}, seed {args.seed}")
    print(f"wrote {truth_path}: the generating parameters and realised market")
    return 0
