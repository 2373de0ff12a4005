"""Command line: ``simlib run | validate | ...``.

Bad input exits non-zero with a clear message on stderr, never a traceback
(set ``SIMLIB_DEBUG=1`` to see one). Each subcommand lives with the code it
drives; modules listed in ``_PLUGINS`` add their own subparsers through
``add_parser(subparsers)``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from simlib.errors import SimlibError
from simlib.version import __version__

#: modules that contribute subcommands (each defines ``add_parser(subparsers)``)
_PLUGINS: dict[str, str] = {
    "sweep": "design.sweep",
    "optimize": "design.optimize",
    "synth": "fit.synth",
    "calibrate": "fit.calibrate",
    "backtest": "fit.backtest",
    "report": "report.build",
    "validate-model": "fit.findings",
}

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def int_arg(minimum: int, expected: str):
    """An argparse ``type``: a whole number of at least ``minimum``; errors say "expected <expected>"."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {v}")
        return v

    return parse


_positive_int = int_arg(1, "a positive whole number")
_seed = int_arg(0, "a non-negative integer seed")


def _cmd_validate(args: argparse.Namespace) -> int:
    from simlib.scenario import validate_paths

    problems = validate_paths(args.paths)
    if problems:
        print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return EXIT_ERROR
    for p in args.paths:
        print(f"ok: {p}")
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    import pandas as pd

    from simlib.engine.api import simulate
    from simlib.engine.core import resolve_behaviour
    from simlib.engine.parallel import resolve_executor, work_estimate
    from simlib.scenario import load_scenario

    scen = load_scenario(args.scenario)
    plans = args.plans if args.plans else None
    work = work_estimate(args.trials * scen.headcount * 12 * len(plans or scen.plans), resolve_behaviour(scen, args.behaviour))
    with resolve_executor(args.scheduler, work=work) as ex:
        res = simulate(
            scen, plans, trials=args.trials, rng=args.seed, behaviour=args.behaviour,
            chunk_size=args.chunk_size, progress=args.progress, executor=ex,
        )
    if args.format == "json":
        print(res.to_json(indent=2))
        return EXIT_OK
    if args.format == "csv":
        s = res.summary().assign(kind="level", reference="")
        d = res.differences().rename(columns={"diff": "mean"}).assign(kind="difference")
        cols = ["kind", "plan", "reference", "group", "metric", "mean", "se", "ci_low", "ci_high", "n"]
        pd.concat([s[cols], d[cols]], ignore_index=True).to_csv(sys.stdout, index=False)
        return EXIT_OK
    prov = res.provenance
    print(f"scenario {prov['scenario']} ({prov['scenario_file']}, sha256 {prov['scenario_sha256'][:12]}), "
          f"{prov['trials']} trials, seed {args.seed}, behaviour {prov['behaviour']}, simlib {prov['simlib_version']}")
    print("mean ± 95% CI half-width; differences are paired on common random numbers; * = CI excludes 0")
    groups = [args.group] if args.group else res.groups[::-1]
    with pd.option_context("display.width", 250, "display.max_columns", 50, "display.max_colwidth", 40):
        for g in groups:
            if g not in res.groups:
                raise SimlibError(f"--group: '{g}' is not a role of the scenario, expected one of {res.groups}")
            print(f"\n== {g} ==")
            print(res.table(group=g).to_string())
    return EXIT_OK


def _requested(argv: Sequence[str] | None) -> str | None:
    """The subcommand named on the command line, if any (first non-option word)."""
    for word in sys.argv[1:] if argv is None else argv:
        if not word.startswith("-"):
            return word
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; plugin modules are imported only when their command (or help) is asked for."""
    p = argparse.ArgumentParser(prog="simlib", description="Monte Carlo workbench for sales incentive plans.")
    p.add_argument("--version", action="version", version=f"simlib {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    v = sub.add_parser("validate", help="validate scenario files; list every problem")
    v.add_argument("paths", nargs="+", metavar="PATH")
    v.set_defaults(func=_cmd_validate)

    r = sub.add_parser("run", help="simulate plans and print the comparison")
    r.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    r.add_argument("--plans", nargs="+", metavar="PLAN", help="plans to compare (default: all)")
    r.add_argument("--trials", type=_positive_int, default=1000, help="Monte Carlo trials (default 1000)")
    r.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    r.add_argument("--behaviour", "--behavior", default=None,
                   help="behaviour model: none (effort fixed) or dynamic (reps respond to the plan); "
                        "default: the scenario's behaviour.mode, else dynamic")
    r.add_argument("--format", choices=("table", "json", "csv"), default="table")
    r.add_argument("--group", help="only this role (or 'total')")
    r.add_argument("--chunk-size", type=_positive_int, default=None, help="trials per chunk (results do not depend on it)")
    r.add_argument("--progress", action="store_true", help="show a progress bar")
    from simlib.engine.parallel import add_scheduler_argument

    add_scheduler_argument(r)
    r.set_defaults(func=_cmd_run)

    wanted = _requested(argv)
    if wanted in ("run", "validate"):
        modules = []
    elif wanted in _PLUGINS:
        modules = [_PLUGINS[wanted]]
    else:
        modules = list(_PLUGINS.values())
    for mod in modules:
        importlib.import_module(f"simlib.{mod}").add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # e.g. `simlib run ... | head`: the reader left; not an error of ours
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return EXIT_OK
    except SimlibError as exc:
        print(f"simlib {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so plainly, keep the traceback for SIMLIB_DEBUG
        if os.environ.get("SIMLIB_DEBUG"):
            raise
        print(f"simlib {args.command}: internal error: {type(exc).__name__}: {exc} "
              f"(set SIMLIB_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
