"""Argument types and option groups shared by the ``simlib`` commands.

Argument types (for argparse's ``type=``) turn a word of the command line
into a value or raise :class:`argparse.ArgumentTypeError`, which argparse
reports as a usage error (exit code 1, like every input error) naming the option. The option groups
add the same options, with the same help, to every command that takes them.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simlib.errors import SimlibError
from simlib.io import csv_safe, write_atomic


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


def unit_arg(what: str, example: str):
    """An argparse ``type``: a number from 0 to 1 (a probability, a share); errors say "expected <what>"."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} such as {example}, got {text!r}") from None
        if not 0.0 <= v <= 1.0:
            raise argparse.ArgumentTypeError(f"expected {what} between 0 and 1, got {v:g}")
        return v

    return parse


#: trials, points, years, seconds...: a whole number >= 1
positive_int = int_arg(1, "a positive whole number")
#: a random seed: a whole number >= 0
seed = int_arg(0, "a non-negative integer seed")


def fraction(text: str) -> float:
    """An argparse ``type``: a demand growth fraction between -0.5 and 1 (0.03 = 3% more demand)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 0.03, got {text!r}") from None
    if not -0.5 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a growth fraction between -0.5 and 1, got {v}")
    return v


def add_behaviour_argument(parser: argparse.ArgumentParser, help: str, default: str | None = None) -> None:
    """Add ``--behaviour`` (also spelled ``--behavior``): the behaviour model's name."""
    parser.add_argument("--behaviour", "--behavior", default=default, help=help)


def add_uncertainty_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--behaviour-draws K`` and ``--behaviour-seed S``: the behavioural-uncertainty ensemble.

    ``K`` defaults to the scenario's ``behaviour.uncertainty.draws`` (0 = off:
    one run at the scenario's parameters); see :mod:`simlib.engine.ensemble`.
    """
    parser.add_argument(
        "--behaviour-draws", "--behavior-draws", type=int_arg(0, "a whole number >= 0"), default=None, metavar="K",
        help="behavioural parameter draws from the priors (docs/model.md 4.11), each run on the same random "
             "numbers; reports model uncertainty and sign robustness (default: the scenario's "
             "behaviour.uncertainty.draws, else 0 = off)",
    )
    parser.add_argument("--behaviour-seed", "--behavior-seed", type=seed, default=None, metavar="S",
                        help="seed of the parameter draws (default: the scenario's behaviour.uncertainty.seed, else 0)")


def behaviour_draws(args: argparse.Namespace, scenario: Any) -> int:
    """The draws K to run: ``--behaviour-draws``, else the scenario's ``behaviour.uncertainty.draws``."""
    k = getattr(args, "behaviour_draws", None)
    return scenario.behaviour.uncertainty.draws if k is None else k


def add_scheduler_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--scheduler``: where trial chunks run (:func:`simlib.engine.parallel.resolve_executor`)."""
    parser.add_argument(
        "--scheduler", default="auto", metavar="WHERE",
        help="where trial chunks run: auto (all cores when worth it; default), serial, processes[:N], "
             "local[:N] (Dask LocalCluster) or a Dask scheduler address (tcp://host:8786); results do not depend on it",
    )


def add_history_args(parser: argparse.ArgumentParser) -> None:
    """Add the options of commands that read rep-level history: the file, the template scenario, bad rows, role names."""
    parser.add_argument("history", metavar="HISTORY", help="rep-level monthly history (.csv or .parquet)")
    parser.add_argument("--scenario", help="template scenario: roles, pay levels, plans (default scenarios/default.yaml)")
    parser.add_argument("--on-error", choices=("stop", "skip"), default="stop",
                        help="bad rows: stop and list them (default), or skip them and report the count")
    parser.add_argument("--role-map", nargs="+", metavar="FILE_ROLE=SCENARIO_ROLE",
                        help="read the file's role names as the scenario's (e.g. inside_sales=telesales)")


def print_skipped(history: Any, limit: int = 20) -> None:
    """Tell the user on stderr which rows of a history were left out and why (``--on-error skip``).

    Parameters
    ----------
    history : simlib.fit.history.History
        As read; nothing is printed when no row was skipped.
    limit : int
        Problems listed one by one; the rest are counted.
    """
    if not history.skipped:
        return
    from simlib.fit.history import reason_counts

    print(f"skipped {len(history.skipped)} bad row(s) of {history.source}: {reason_counts(history.skipped)}",
          file=sys.stderr)
    for p in history.skipped[:limit]:
        print(f"  - {p}", file=sys.stderr)
    if len(history.skipped) > limit:
        print(f"  ... and {len(history.skipped) - limit} more", file=sys.stderr)


def _scalar(text: str) -> Any:
    t = text.strip()
    if t.lower() in ("none", "null"):
        return None
    try:
        v = float(t)
    except ValueError:
        return t
    return int(v) if t.lstrip("+-").isdigit() else v


def parse_param_arg(text: str) -> tuple[str, Any]:
    """Parse a ``--param NAME=SPEC`` of ``simlib sweep`` and ``simlib optimize``.

    ``SPEC`` is ``v1,v2,...`` (values), ``low:high:count`` (``count`` evenly
    spaced values) or ``low:high`` (a range, for ``sobol``/``lhs`` designs and
    optimisation bounds). Values read as numbers where they are numbers,
    ``none``/``null`` as None, else as text.

    Returns
    -------
    tuple
        ``(name, values)``: a list of values, or a ``(low, high)`` tuple for a range.
    """
    name, eq, spec = text.partition("=")
    if not eq or not name.strip() or not spec.strip():
        raise SimlibError(f"--param {text!r}: expected NAME=v1,v2,... or NAME=low:high:count or NAME=low:high")
    name, spec = name.strip(), spec.strip()
    if ":" in spec and "," not in spec:
        parts = spec.split(":")
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            raise SimlibError(f"--param {text!r}: low:high[:count] must be numbers") from None
        if not all(math.isfinite(x) for x in nums):
            raise SimlibError(f"--param {text!r}: low:high[:count] must be finite numbers")
        if len(parts) == 2:
            lo, hi = (_scalar(parts[0]), _scalar(parts[1]))
            return name, (lo, hi)
        if len(parts) == 3 and nums[2] >= 1 and nums[2] == int(nums[2]):
            from simlib.design.sweep import MAX_POINTS

            if nums[2] > MAX_POINTS:
                raise SimlibError(f"--param {text!r}: at most {MAX_POINTS:,} values per parameter")
            vals = np.linspace(nums[0], nums[1], int(nums[2]))
            return name, [round(float(v), 12) for v in vals]
        raise SimlibError(f"--param {text!r}: expected low:high:count with a whole count >= 1, or low:high")
    return name, [_scalar(v) for v in spec.split(",") if v.strip()]


def write_table(df, path: str) -> None:
    """Write a tidy table (pandas DataFrame) as .csv, .parquet or .json (records), chosen by the extension.

    The file is written through a temporary file and renamed, so a failure
    leaves an earlier table at ``path`` as it was.
    """
    p = str(path)
    if p.endswith(".csv"):
        write_out(p, lambda tmp: csv_safe(df).to_csv(tmp, index=False))
    elif p.endswith(".parquet"):
        write_out(p, lambda tmp: df.to_parquet(tmp, index=False))
    elif p.endswith(".json"):
        write_out(p, lambda tmp: df.to_json(tmp, orient="records", indent=1))
    else:
        raise SimlibError(f"--out {p}: expected a file ending in .csv, .parquet or .json")


def write_out(path: str, content: Any) -> None:
    """:func:`simlib.io.write_atomic`, reporting a failure to write as a :class:`SimlibError` naming ``--out``."""
    try:
        write_atomic(path, content)
    except OSError as exc:
        raise SimlibError(f"--out {path}: cannot write the file ({exc.strerror or exc})") from None


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors exit with status 1, like every other input error (README)."""

    def error(self, message: str):
        """Print the usage and ``message`` on stderr, then exit with status 1."""
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def add_allow_large_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--allow-large``: run a request past :data:`simlib.engine.core.MAX_TRIALS` / ``MAX_REP_MONTHS``."""
    parser.add_argument("--allow-large", action="store_true",
                        help="run a request past the size limits (10,000,000 trials; 5e9 rep-months = trials x reps "
                             "x 12 x plans x draws x points); it may take hours and much memory")


def check_out(path: str | None, force: bool, suffixes: tuple[str, ...] = (".csv", ".parquet", ".json")) -> None:
    """Check that ``--out`` can be written, before any work starts.

    Parameters
    ----------
    path : str or None
        The ``--out`` value; nothing is checked when None.
    force : bool
        ``--force``: an existing file may be replaced.
    suffixes : tuple of str
        The file endings the command writes.

    Raises
    ------
    SimlibError
        A wrong ending, a directory, an existing file without ``--force``, a
        parent that is a file, or a folder that cannot be written.
    """
    if path is None:
        return
    p = Path(path)
    if not p.name.endswith(suffixes):
        raise SimlibError(f"--out {path}: expected a file ending in {', '.join(suffixes)}")
    if p.is_dir():
        raise SimlibError(f"--out {path}: is a directory, expected a file name")
    if p.exists() and not force:
        raise SimlibError(f"--out {path} exists; use --force to overwrite it")
    parent = p.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise SimlibError(f"--out {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SimlibError(f"--out {path}: cannot write in {parent} (permission denied)")


def add_progress_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--progress`` / ``--no-progress``: progress bars on stderr (default: on when stderr is a terminal)."""
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show progress bars on stderr (default: when stderr is a terminal)")


def progress_on(args: argparse.Namespace) -> bool:
    """Whether to show progress: ``--progress``/``--no-progress`` if given, else whether stderr is a terminal."""
    p = getattr(args, "progress", None)
    if p is not None:
        return bool(p)
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stderr
        return False


#: output formats and the file endings they are written to (``--format`` / ``--out FILE``; the table is printed)
FORMAT_SUFFIXES = {"table": "", "csv": ".csv", "json": ".json", "xlsx": ".xlsx", "parquet": ".parquet"}

#: the formats of run, sweep, optimize and backtest
OUTPUT_FORMATS = ("table", "csv", "json", "xlsx")


class _DeprecatedOut(argparse.Action):
    """An old spelling of ``--out FILE --format FMT`` (e.g. ``--json FILE``): still works, with a one-line note."""

    def __init__(self, option_strings, dest, fmt: str, **kw):
        self.fmt = fmt
        super().__init__(option_strings, dest, metavar="FILE", help=argparse.SUPPRESS, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"note: {option_string} FILE is deprecated; use --out FILE (format from the ending, or --format "
              f"{self.fmt})", file=sys.stderr)
        namespace.out, namespace.format = values, self.fmt


def add_output_arguments(parser: argparse.ArgumentParser, formats: Sequence[str] = OUTPUT_FORMATS, *,
                         what: str = "the results", deprecated: Mapping[str, str] | None = None) -> None:
    """Add ``--format``, ``--out FILE`` and ``--force``: the one way every command chooses its output.

    Parameters
    ----------
    parser : ArgumentParser
    formats : sequence of str
        Formats the command writes (keys of :data:`FORMAT_SUFFIXES`).
    what : str
        What the output holds, for the help text.
    deprecated : mapping, optional
        Old option -> format (``{"--json": "json"}``): kept working as ``--out FILE --format FMT``.
    """
    endings = ", ".join(FORMAT_SUFFIXES[f] for f in formats if f != "table")
    parser.add_argument("--format", choices=tuple(formats), default=None,
                        help=f"output format of {what} (default: from the --out file's ending, else table)")
    parser.add_argument("--out", metavar="FILE",
                        help=f"write {what} to FILE ({endings}; the table is still printed), atomically")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    for option, fmt in (deprecated or {}).items():
        parser.add_argument(option, action=_DeprecatedOut, dest="out", fmt=fmt)


@dataclass(frozen=True)
class Output:
    """Where and how a command writes its results: :func:`resolve_output` builds it, :meth:`emit` writes."""

    format: str
    path: str | None = None

    def emit(self, *, text: Callable[[], str], tables: Callable[[], dict[str, Any]],
             json: Callable[[], str] | None = None, main: str | None = None) -> None:
        """Print and/or write the results.

        Without ``--out`` the chosen format goes to stdout (``xlsx`` and
        ``parquet`` need ``--out``, checked by :func:`resolve_output`); with
        ``--out`` the file is written in the format (atomically) and the
        readable table is printed.

        Parameters
        ----------
        text : callable
            The readable table (format ``table``).
        tables : callable
            Sheet name -> DataFrame: every table, one sheet each (``xlsx``).
        json : callable, optional
            The JSON document (default: ``tables`` as lists of records).
        main : str, optional
            The table written for ``csv``/``parquet`` (default: the first).
        """
        content = None if self.format == "table" else self._content(tables, json, main)
        if self.path is None:
            print(text() if content is None else content, end="" if content and content.endswith("\n") else "\n")
            return
        content(self.path)
        print(text())
        print(f"wrote {self.path}")

    def _content(self, tables, json, main):
        """The text for stdout (no ``--out``), or a function writing ``--out`` (with ``--out``)."""
        import json as _json

        from simlib.io import jsonable, write_workbook

        if self.format == "json":
            doc = json() if json is not None else _json.dumps(jsonable(tables()), indent=1)
            return doc if self.path is None else (lambda p: write_out(p, doc))
        if self.format == "xlsx":
            return lambda p: _guarded(p, lambda: write_workbook(p, tables()))
        t = tables()
        df = t[main] if main else next(iter(t.values()))
        if self.path is None:
            return csv_safe(df).to_csv(index=False)
        return lambda p: write_table(df, p)


def _guarded(path: str, write: Callable[[], None]) -> None:
    try:
        write()
    except OSError as exc:
        raise SimlibError(f"--out {path}: cannot write the file ({exc.strerror or exc})") from None


def resolve_output(args: argparse.Namespace, formats: Sequence[str] = OUTPUT_FORMATS) -> Output:
    """Check ``--format``/``--out``/``--force`` before any work starts and say how to write the results.

    The format is ``--format``, else the one the ``--out`` file's ending names,
    else ``table``.

    Raises
    ------
    SimlibError
        An ending that names no format of the command, an ending that
        contradicts ``--format``, ``xlsx``/``parquet`` without ``--out``, or an
        ``--out`` that cannot be written (:func:`check_out`).
    """
    fmt, path = getattr(args, "format", None), getattr(args, "out", None)
    if path is not None:
        by_suffix = {FORMAT_SUFFIXES[f]: f for f in formats if f != "table"}
        suffix = Path(path).suffix
        if fmt == "table":
            raise SimlibError(f"--out {path}: the table is printed on the terminal; --out writes a file ending in "
                              f"{', '.join(by_suffix)}")
        if fmt is None:
            if suffix not in by_suffix:
                raise SimlibError(f"--out {path}: expected a file ending in {', '.join(by_suffix)}")
            fmt = by_suffix[suffix]
        elif suffix != FORMAT_SUFFIXES[fmt]:
            raise SimlibError(f"--out {path}: --format {fmt} writes a {FORMAT_SUFFIXES[fmt]} file")
        check_out(path, getattr(args, "force", False), suffixes=(FORMAT_SUFFIXES[fmt],))
    fmt = fmt or "table"
    if path is None and fmt in ("xlsx", "parquet"):
        raise SimlibError(f"--format {fmt} needs --out FILE{FORMAT_SUFFIXES[fmt]}")
    return Output(fmt, path)


def check_group(group: str | None, scenario: Any, option: str = "--group") -> None:
    """Check ``--group`` names a role of the scenario or ``total``, before simulating."""
    if group is None:
        return
    groups = ["total", *scenario.roles]
    if group not in groups:
        raise SimlibError(f"{option}: '{group}' is not a role of the scenario, expected one of {groups}")


#: widest line of a printed table (an 100-column terminal)
TABLE_WIDTH = 100


def param_label(name: str) -> str:
    """A sweep or optimisation parameter as words for a table header (:func:`simlib.present.readable` per part).

    ``target_level`` reads ``target level``; ``cap@telesales`` reads ``cap
    (telesales)``; a path reads as its parts, a role's in brackets (``every
    role`` for ``*``), without the ``scenario.`` and ``behaviour.`` prefixes:
    ``roles.*.effort_elasticity`` reads ``effort elasticity (every role)``,
    ``scenario.market.growth_sd`` ``market growth sd``. A transform whose
    value multiplies today's (``commission_rate``, ``accelerator``) says so:
    ``commission_rate@channel`` reads ``commission rate × (channel)``.
    """
    from simlib.design.transforms import TRANSFORMS
    from simlib.present import readable

    alias, at, role = str(name).partition("@")
    parts = alias.split(".")
    if parts[0] == "scenario":
        parts = parts[1:]
    if parts and parts[0] == "behaviour":
        parts = parts[1:]
    if len(parts) > 2 and parts[0] == "roles":
        role, parts, at = parts[1], parts[2:], "@"
    words = " ".join(readable(x) for x in parts if x) or str(name)
    if alias in TRANSFORMS and TRANSFORMS[alias].multiplier:
        words += " ×"
    if at:
        words += f" ({'every role' if role == '*' else readable(role)})"
    return words


def narrow(df: Any, width: int = TABLE_WIDTH) -> str:
    """A text table (pandas DataFrame) as consecutive blocks of its columns, each at most ``width`` wide.

    Every block repeats the index (the metric names), so a wide comparison
    reads on a terminal without wrapping; a single column wider than
    ``width`` stays whole. An index of several levels (a sweep's point and its
    parameter values) too wide to share a block with a column is printed once,
    as a first table keyed by its first level, and the blocks repeat only that
    key (``Point``).
    """
    import pandas as pd

    def render(cols):
        with pd.option_context("display.width", 10_000, "display.max_columns", None, "display.max_colwidth", 60):
            return df[cols].to_string()

    idx = df.index
    if (isinstance(idx, pd.MultiIndex) and idx.nlevels > 1 and idx.get_level_values(0).is_unique
            and any(max(map(len, render([c]).splitlines())) > width for c in df.columns)):
        key = idx.names[0]
        legend = idx.to_frame(index=False).astype(str).set_index(key)
        return narrow(legend, width) + "\n\n" + narrow(df.set_axis(idx.get_level_values(0), axis=0), width)

    blocks, cur = [], []
    for c in df.columns:
        if cur and max(map(len, render([*cur, c]).splitlines())) > width:
            blocks.append(render(cur))
            cur = []
        cur.append(c)
    if cur or not blocks:
        blocks.append(render(cur))
    return "\n\n".join(blocks)


def with_units(df: Any, column: str = "metric") -> Any:
    """``df`` with a ``unit`` column (each metric's unit, :data:`simlib.model.metrics.METRICS`) if it has none."""
    from simlib.model.metrics import METRICS

    if "unit" in df.columns or column not in df.columns:
        return df
    return df.assign(unit=df[column].map(lambda m: METRICS.get(m, ("", ""))[1]))


def key_values(d: Mapping[str, Any], key: str = "key") -> Any:
    """A mapping (e.g. a result's provenance) as a two-column table ``key``, ``value`` for a sheet."""
    import json

    import pandas as pd

    return pd.DataFrame({key: list(d), "value": [v if isinstance(v, (int, float, str)) else json.dumps(v, default=str)
                                                for v in d.values()]})
