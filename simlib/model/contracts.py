"""What the engine asks of a behaviour model and of the policies it hands out.

A behaviour model (:class:`BehaviourModel`) turns a plan into a policy per
role and chunk of trials, or ``None`` for today's effort. A policy
(:class:`Policy`) chooses each month's :class:`~simlib.model.production.Controls`
from the measures so far, may move revenue across a pay period end
(``settle``), and records what the reps did for the behaviour metrics
(:class:`PolicyRecord`). :class:`PolicyBase` gives every member but
``__call__`` a default, so a policy only writes what it changes.

A record-only policy (``record_only`` true) keeps today's effort: the year
it produces is today's year, so :func:`simlib.model.pipeline.passes` simulates
that year once per role and lets the policy :meth:`~Policy.record` what it
would have recorded stepping through it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from simlib.scenario import MONTHS

if TYPE_CHECKING:
    from simlib.model.population import RoleWorld

#: the measures so far in a year: measure -> list of (T, R) arrays, one per month produced
History = Mapping[str, list[np.ndarray]]

#: what ``settle`` returns: revenue added to this month and carried into the following months,
#: each (T, R) money, or ``(None, None)`` when nothing moves
Moves = tuple[np.ndarray | None, np.ndarray | None]


@dataclass
class Controls:
    """A rep-month's choices, each (T, R) or scalar.

    Attributes
    ----------
    effort : total effort, 1 = today's.
    focus : share of effort on the role's activity relative to today's share (1 = today).
    help_mult : multiplier on output from teammates' help (1 = none beyond today).
    mix : multipliers on the shares of a role's revenue segments, in the order of its
        ``measures.segments.shares`` (None = today's mix; docs/model.md section 2, named measures).
    """

    effort: np.ndarray | float = 1.0
    focus: np.ndarray | float = 1.0
    help_mult: np.ndarray | float = 1.0
    mix: tuple[float, ...] | None = None


BASELINE = Controls()


@dataclass
class PolicyRecord:
    """What a role's reps did under a policy, for the behaviour metrics (arrays over a chunk of trials).

    Attributes
    ----------
    effort : (T, R, 12) effort applied each month, 1 = today's.
    model_effort : (T, R, 12) effort the model finds optimal at the rep's state, 1 = today's
        (what giving up and coasting are judged on, also under a record-only policy).
    expected_left : (T, R, 12) attainment the rep expects at the period end, fraction of target.
    model_discount : (T, R) price discounts the plan's own pull-ins cost, money per year.
    discount : (T, R) change in discounts against today's pull-ins, money per year.
    help : (T, R) help given to teammates, 1 = today's.
    """

    effort: np.ndarray
    model_effort: np.ndarray
    expected_left: np.ndarray
    model_discount: np.ndarray
    discount: np.ndarray
    help: np.ndarray

    @classmethod
    def today(cls, shape: tuple[int, int], help: float | np.ndarray = 1.0) -> PolicyRecord:
        """A record of today's behaviour for (T, R) reps, to be filled in month by month."""
        T, R = shape
        return cls(
            effort=np.ones((T, R, MONTHS)), model_effort=np.ones((T, R, MONTHS)),
            expected_left=np.zeros((T, R, MONTHS)), model_discount=np.zeros((T, R)),
            discount=np.zeros((T, R)), help=np.full((T, R), help),
        )


@runtime_checkable
class Policy(Protocol):
    """A role's reps month by month under one plan, for one chunk of trials.

    Attributes
    ----------
    record_only : bool
        True when the policy keeps today's effort (it only records): its year
        is today's year, simulated once and shared (see :meth:`record`).
    recorded : PolicyRecord or None
        What the reps did, for the behaviour metrics; None when the policy
        records nothing (the metrics then take today's values).
    project_effort : float, optional
        Effort on the role plan's team project, 1 = the planned effort (a
        policy without it works the planned effort; :class:`PolicyBase` has 1).
    """

    record_only: bool

    @property
    def recorded(self) -> PolicyRecord | None: ...

    def __call__(self, month: int, history: History) -> Controls:
        """Month ``month``'s controls (0-11) from the measures of the months before it."""
        ...

    def settle(self, month: int, history: History) -> Moves:
        """After month ``month`` is produced: revenue added to it (``now``) and carried into the following
        months (``later``; negative: taken out of them), each (T, R) money, or ``(None, None)``."""
        ...

    def record(self, measures: Mapping[str, np.ndarray]) -> None:
        """Record, over today's finished year (measure -> (T, R, 12)), what stepping it records."""
        ...


@runtime_checkable
class BehaviourModel(Protocol):
    """Turns a plan into a policy for a role's reps (behaviour ``"none"`` is no model at all)."""

    def policy(self, plan: str, world: RoleWorld, quota: np.ndarray) -> Policy | None:
        """The policy of ``world``'s reps under ``plan`` with annual quotas ``quota`` (T, R), money.

        None keeps today's effort and records nothing.
        """
        ...


class PolicyBase(ABC):
    """Defaults for a :class:`Policy`: no timing moves, nothing recorded, stepping (not record-only)."""

    record_only: bool = False
    #: effort on a role plan's team project, 1 = the planned effort (simlib.model.projects)
    project_effort: float = 1.0
    #: the measures the policy reads (or moves) in the history; None: any. A policy that names them lets
    #: :func:`simlib.model.production.run_year` step only those month by month (the others after the year)
    reads: frozenset[str] | None = None

    @property
    def recorded(self) -> PolicyRecord | None:
        return None

    @abstractmethod
    def __call__(self, month: int, history: History) -> Controls:
        """Month ``month``'s controls (0-11) from the measures of the months before it."""

    def settle(self, month: int, history: History) -> Moves:
        """No revenue moves across period ends."""
        return None, None

    def record(self, measures: Mapping[str, np.ndarray]) -> None:
        """Replay the months of today's finished year through ``__call__`` and ``settle``.

        Only for a record-only policy: it keeps today's effort, so the year is
        today's measures, and replaying the calls on them records the same
        numbers as stepping the year through :func:`simlib.model.production.run_year`.
        The history seen at month ``m`` holds the whole year; a policy reads
        months before ``m`` (and in ``settle``, month ``m``) only, as it does
        when stepping.

        Raises
        ------
        ValueError
            If the policy changes effort (``record_only`` false).
        """
        if not self.record_only:
            raise ValueError("record: only for a record-only policy (one that keeps today's effort)")
        history = YearHistory(measures)
        for m in range(MONTHS):
            self(m, history)
            self.settle(m, history)


class YearHistory(Mapping):
    """A finished year (measure -> (T, R, 12)) seen as a :data:`History`: measure -> 12 monthly (T, R) arrays.

    Each measure is split into months on first lookup and then kept, so a
    month's array is the same object at every lookup.
    """

    def __init__(self, measures: Mapping[str, np.ndarray]):
        self._measures = measures
        self._months: dict[str, list[np.ndarray]] = {}

    def __getitem__(self, key: str) -> list[np.ndarray]:
        months = self._months.get(key)
        if months is None:
            x = self._measures[key]
            months = self._months[key] = [x[..., m] for m in range(MONTHS)]
        return months

    def __iter__(self) -> Iterator[str]:
        return iter(self._measures)

    def __len__(self) -> int:
        return len(self._measures)
