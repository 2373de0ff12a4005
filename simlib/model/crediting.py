"""Crediting: split deals, overlays credited on others' results, managers paid on their team's (roll-up).

A front-line role with a ``split`` credits part of each rep's booked
revenue to a teammate; a role ``credited_on`` another role produces nothing
of its own and is credited with the covered reps' results: an overlay with
a block of them, a manager with one team. What a role is credited with is
a measures mapping of the same shape as a produced year, so the plan
language and :func:`simlib.model.plans.compute_pay` pay it as they pay
produced results (docs/model.md section 3, crediting). Credit is computed
from the covered role's year, on the same draws: crediting draws nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from simlib.errors import PlanError
from simlib.model.population import RoleWorld
from simlib.scenario import MEASURES, NAMED_MEASURES, Role, Scenario, Split


@dataclass
class Credit:
    """What a role's reps booked and were credited with in a chunk of T trials (money per year).

    Attributes
    ----------
    kind : "front" (a role that books deals), "overlay" or "manager".
    booked : (T, R) revenue the reps booked (zero for overlays and managers).
    credited : (T, R) revenue the reps are credited with, on which they are paid.
    """

    kind: str
    booked: np.ndarray
    credited: np.ndarray


def uses_crediting(scenario: Scenario) -> bool:
    """Some role of the scenario is credited on another's results or splits its deals."""
    return any(r.credited_on is not None or r.split is not None for r in scenario.roles.values())


def credit_kind(role: Role) -> str:
    """``"overlay"``, ``"manager"`` or ``"front"`` (a role that books its own deals)."""
    return "front" if role.credited_on is None else role.credited_on.kind


def credit_order(scenario: Scenario, names: Iterable[str]) -> list[str]:
    """``names`` with every credited role after the role it is credited on (otherwise in the given order).

    Raises
    ------
    PlanError
        If a credited role's covered role is not among ``names``.
    """
    names = list(names)
    out: list[str] = []

    def place(name: str) -> None:
        if name in out:
            return
        co = scenario.roles[name].credited_on
        if co is not None:
            if co.role not in names:
                raise PlanError(f"role '{name}' is credited on '{co.role}': simulate the two together")
            place(co.role)
        out.append(name)

    for n in names:
        place(n)
    return out


def owners(scenario: Scenario, name: str, covered: RoleWorld) -> np.ndarray:
    """The index of the credited rep of role ``name`` each covered rep counts for, (R_covered,).

    An overlay rep covers a block of consecutive covered reps (rep ``i`` of
    ``H`` goes to overlay ``i n // H`` of ``n``); a manager leads one team,
    or, with a roster whose ``manager`` column names them, the reps who name
    them.

    Raises
    ------
    PlanError
        If a manager role's headcount is not the covered role's number of teams
        (with a roster, its teams).
    """
    role = scenario.roles[name]
    co = role.credited_on
    n, H = role.headcount, covered.shape[1]
    if co.kind == "overlay":
        return np.arange(H) * n // H
    roster = scenario.roster_data
    if roster is not None and any(roster.roles[co.role].managers):  # checked when the scenario is loaded
        ids = {rep: j for j, rep in enumerate(roster.roles[name].ids)}
        return np.array([ids[m] for m in roster.roles[co.role].managers], dtype=np.intp)
    if covered.n_teams != n:
        raise PlanError(f"roles.{covered.name}: {covered.n_teams} teams, but the manager role credited on it "
                        f"has headcount {n}; expected one manager per team")
    return np.asarray(covered.team)


def roll_up(x: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """Sum over the covered reps of each credited rep: (T, R_covered, ...) -> (T, n, ...).

    Covered reps are summed in rep order (ties in ``owner`` keep it).
    """
    order = np.argsort(owner, kind="stable")
    sorted_owner = owner[order]
    if np.any(order != np.arange(len(owner))):
        x = x[:, order]
    starts = np.flatnonzero(np.diff(sorted_owner, prepend=-1))
    sums = np.add.reduceat(x, starts, axis=1)
    out = np.zeros((x.shape[0], n, *x.shape[2:]))
    out[:, sorted_owner[starts]] = sums
    return out


class CreditedMeasures(Mapping):
    """A measures mapping (measure -> (T, R, 12)) whose values are made from others' on first lookup and kept."""

    def __init__(self, make: dict[str, Callable[[], np.ndarray]]):
        self._make = make
        self._done: dict[str, np.ndarray] = {}

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._done:
            self._done[key] = self._make[key]()
        return self._done[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._make)

    def __len__(self) -> int:
        return len(self._make)


#: the kind of every named measure (docs/model.md section 2, named measures); a segment's revenue is a flow
_NAMED_KINDS: dict[str, str] = {m: k for adds in NAMED_MEASURES.values() for m, k in adds.items()}


def measure_kind(process: str, name: str) -> str:
    """Whether a covered role's measure is a "flow" or a "score": its process's, a named measure's, or a segment's."""
    if name in MEASURES[process]:
        return MEASURES[process][name]
    return _NAMED_KINDS.get(name, "flow" if name.startswith("revenue_") else "score")


def credited_measures(role: Role, covered: Mapping[str, np.ndarray], owner: np.ndarray) -> CreditedMeasures:
    """A credited role's measures from the covered reps': flows summed times ``share``, scores averaged.

    The covered role's named measures (its ``measures:`` block) roll up too.
    """
    co = role.credited_on
    n = role.headcount
    kinds = {name: measure_kind(role.process, name) for name in covered}
    count = np.bincount(owner, minlength=n).astype(float)[None, :, None]

    def make(name: str) -> Callable[[], np.ndarray]:
        if kinds[name] == "flow":
            return lambda: co.share * roll_up(covered[name], owner, n)
        return lambda: roll_up(covered[name], owner, n) / count

    return CreditedMeasures({name: make(name) for name in covered})


def credited_quota(role: Role, quota: np.ndarray, owner: np.ndarray, level: float) -> np.ndarray:
    """A credited role's annual quotas (T, n): ``level`` times ``share`` of its covered reps' quotas summed."""
    return level * role.credited_on.share * roll_up(quota, owner, role.headcount)


def split_giver(team: np.ndarray) -> np.ndarray:
    """For each rep, the teammate whose split deals credit them: the member before them in their team, cyclically.

    A rep's split partner is the next member of their team (the last
    member's is the first); a team of one splits with itself.
    """
    team = np.asarray(team)
    order = np.argsort(team, kind="stable")
    st = team[order]
    first = np.flatnonzero(np.diff(st, prepend=-1))
    last = np.append(first[1:], len(st)) - 1
    prev_pos = np.arange(len(st)) - 1
    prev_pos[first] = last
    giver = np.empty(len(team), dtype=np.intp)
    giver[order] = order[prev_pos]
    return giver


def split_revenue(split: Split, revenue: np.ndarray, team: np.ndarray) -> np.ndarray:
    """Revenue credited under a split (T, R, 12): own bookings less the split share, plus the credits on them
    (``booker``) and on the teammate's split deals (``partner``)."""
    s = split.share
    return revenue * (1.0 - s + s * split.booker) + (s * split.partner) * revenue[:, split_giver(team)]


def split_measures(split: Split, measures: Mapping[str, np.ndarray], team: np.ndarray) -> CreditedMeasures:
    """A front-line role's measures with revenue credited under ``split``; other measures as booked."""
    make: dict[str, Callable[[], np.ndarray]] = {k: (lambda k=k: measures[k]) for k in measures}
    make["revenue"] = lambda: split_revenue(split, measures["revenue"], team)
    return CreditedMeasures(make)

