"""Exceptions raised by simlib.

Every user-facing error names the file, the field path and what was expected,
so the CLI can print it without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input.

    Attributes
    ----------
    source : str
        File (or other source) the problem was found in.
    field : str
        Dotted path of the offending field, e.g. ``roles.telesales.headcount``.
    message : str
        What was expected and what was found.
    """

    source: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}: {self.field}" if self.field else self.source
        return f"{where}: {self.message}"


class SimlibError(Exception):
    """Base class of errors that the CLI reports as a message, not a traceback."""


class ScenarioError(SimlibError):
    """A scenario file failed validation; ``problems`` lists every issue found."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} found:"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


class PlanError(SimlibError):
    """A plan name or plan parameter was not usable."""
