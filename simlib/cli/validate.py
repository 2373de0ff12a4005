"""``simlib validate PATH...``: validate scenario files and list every problem."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers) -> None:
    """Register ``simlib validate``."""
    v = subparsers.add_parser(
        "validate", help="validate scenario files; list every problem",
        description="Check scenario files without simulating: print 'ok: PATH' for each valid file, or list every "
                    "problem of every file (file, field and what was expected) and exit 1.")
    v.add_argument("paths", nargs="+", metavar="PATH", help="scenario YAML files")
    v.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print ``ok: PATH`` per valid file and return 0, or list every problem on stderr and return 1."""
    from simlib.scenario import validate_paths

    problems = validate_paths(args.paths)
    if problems:
        print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    for p in args.paths:
        print(f"ok: {p}")
    return 0
