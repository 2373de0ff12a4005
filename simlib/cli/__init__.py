"""The ``simlib`` command line: one module per command.

Each command module (``run``, ``validate``, ``check``, ``diff``, ``sweep``, ``optimize``,
``synth``, ``calibrate``, ``backtest``, ``replay``, ``reps``, ``plan``, ``report``, ``validate_model``) has
``add_parser(subparsers)``, which registers the command and its options, and
``run(args) -> int``, which does the work; a command imports the domain
modules it drives inside ``run``, so building the parser (``simlib --help``)
stays light: it reads only what help texts and choices name (the sweep
aliases and designs, the report defaults, the finding keys), from modules the
package imports anyway. Shared argument types and option groups are in
:mod:`.args`.

Exit codes: 0 success; 1 an error in the input or a failed check (a clear
message on stderr, never a traceback; ``SIMLIB_DEBUG=1`` shows the traceback
of an internal error), including a malformed command line (usage and message,
see :class:`.args.Parser`); 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from simlib.cli import (
    backtest,
    calibrate,
    check,
    diff,
    optimize,
    plan,
    replay,
    report,
    reps,
    run,
    sweep,
    synth,
    validate,
    validate_model,
)
from simlib.cli.args import Parser
from simlib.errors import SimlibError
from simlib.version import __version__

#: commands in the order ``simlib --help`` lists them
COMMANDS = (validate, run, check, diff, sweep, optimize, synth, calibrate, backtest, replay, reps, plan, report, validate_model)

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    """The ``simlib`` parser with every command; each sets ``func``, the function that runs it."""
    p = Parser(prog="simlib", description="Monte Carlo workbench for sales incentive plans.")
    p.add_argument("--version", action="version", version=f"simlib {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``simlib`` with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    A malformed command line exits through argparse (``SystemExit(1)``).
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or EXIT_OK)
    except BrokenPipeError:  # e.g. `simlib run ... | head`: the reader left; not an error of ours
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return EXIT_OK
    except SimlibError as exc:
        print(f"simlib {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except MemoryError:
        print(f"simlib {args.command}: error: out of memory; ask for fewer trials, points or reps", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: say so plainly, keep the traceback for SIMLIB_DEBUG
        if os.environ.get("SIMLIB_DEBUG"):
            raise
        print(f"simlib {args.command}: internal error: {type(exc).__name__}: {exc} "
              f"(set SIMLIB_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_ERROR
