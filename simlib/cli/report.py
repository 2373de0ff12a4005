"""``simlib report [SCENARIO...]``: run scenario notebooks and write HTML reports with an index."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simlib.cli.args import add_behaviour_argument, add_progress_argument, positive_int, progress_on, seed
from simlib.report.build import (
    CELL_TIMEOUT,
    DEFAULT_SCENARIOS,
    KERNEL,
    build_reports,
    discover_notebooks,
    notebook_contract,
)


def add_parser(subparsers) -> None:
    """Register ``simlib report``."""
    r = subparsers.add_parser(
        "report", help="run scenario notebooks and write HTML reports with an index",
        description="Execute notebooks in notebooks/ through papermill for each scenario, render self-contained HTML "
                    "reports (code hidden, figures embedded), write each notebook's key results as JSON beside its "
                    "report, and an index.html linking them all.")
    r.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                   help=f"scenario YAML files (default: {', '.join(DEFAULT_SCENARIOS)})")
    r.add_argument("--notebooks", nargs="+", metavar="NAME", help="notebooks to run (default: all default notebooks; see --list)")
    r.add_argument("--out", default="reports", help="output directory (default reports/)")
    r.add_argument("--trials", type=positive_int, default=None, help="Monte Carlo trials for every notebook (default: per notebook)")
    r.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    add_behaviour_argument(r, help="behaviour model passed to every notebook")
    r.add_argument("--param", action="append", metavar="[NOTEBOOK.]KEY=VALUE",
                   help="extra notebook parameter (value read as YAML); repeatable")
    r.add_argument("--kernel", default=KERNEL, help=f"Jupyter kernel (default {KERNEL})")
    r.add_argument("--timeout", type=positive_int, default=CELL_TIMEOUT, help=f"per-cell timeout in seconds (default {CELL_TIMEOUT})")
    add_progress_argument(r)
    r.add_argument("--verbose", action="store_true", help="echo cell output to the console (it is always in <name>.log)")
    r.add_argument("--list", action="store_true", help="list the notebooks and their parameters, then exit")
    r.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``--list`` the notebooks, or build the reports; 0 when every notebook succeeded, else 1."""
    if args.list:
        list_notebooks()
        return 0
    notebooks = [n for part in (args.notebooks or []) for n in part.split(",") if n]
    outcomes = build_reports(
        args.scenarios, notebooks or None, out=args.out, trials=args.trials, seed=args.seed,
        behaviour=args.behaviour, params=args.param or (), kernel=args.kernel, timeout=args.timeout,
        progress=progress_on(args), verbose=args.verbose,
    )
    out = Path(args.out).resolve()
    ok = sum(o.status == "ok" for o in outcomes)
    failed = [o for o in outcomes if o.status == "failed"]
    skipped = [o for o in outcomes if o.status == "skipped"]
    print(f"{ok} report(s) written, {len(failed)} failed, {len(skipped)} skipped; open {out / 'index.html'}")
    for o in skipped:
        print(f"skipped {o.scenario} / {o.notebook}: {o.message}")
    for o in failed:
        print(f"FAILED {o.scenario} / {o.notebook}: {o.message}", file=sys.stderr)
    return 1 if failed else 0


def list_notebooks() -> None:
    """Print every notebook (name, title, file) and its parameters (type, default, help)."""
    for name, spec in discover_notebooks().items():
        print(f"{name}{'' if spec.default else ' (not run by default)'}: {spec.title}  [{spec.path}]")
        for k, info in notebook_contract(spec.path).items():
            print(f"    {k}: {info['type']} = {info['default']!r}  {info['help']}")
