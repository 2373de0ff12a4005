"""Rosters: your own reps, one row each, read from CSV, XLSX or Parquet (README, "Your own sales force").

A scenario that names ``roster: FILE`` is simulated with these reps instead
of a synthetic population: each role's headcount, its teams (the teams pay
and help are computed over), every rep's base salary, target incentive and
(when given) quota, and each rep's ramp from their tenure at the start of
the simulated year. The format is in docs/history-format.md ("The roster
file"). Rows are checked like history rows (:class:`simlib.tables.Rows`):
every bad row is reported with the file, its line (CSV) or row (XLSX,
Parquet), the column and the reason, and nothing is simulated.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simlib.errors import SimlibError
from simlib.tables import (
    RowProblem,
    Rows,
    TableError,
    check_columns,
    currency_code_problem,
    decimal_comma,
    norm_name,
    parse_date,
    parse_number,
    read_table,
    sheet_hint,
)

#: columns every roster must have (and one of ``hire_date``, ``tenure_months``)
REQUIRED = ("rep_id", "role", "team", "base_salary", "target_incentive")
#: columns used when present
OPTIONAL = ("manager", "quota", "hire_date", "tenure_months", "territory", "currency")
#: other names of columns, read as the format's names when the format's name is absent
ALIASES = {"id": "rep_id", "rep": "rep_id", "employee_id": "rep_id", "employee": "rep_id", "name": "rep_id",
           "base": "base_salary", "salary": "base_salary", "target_bonus": "target_incentive",
           "ti": "target_incentive", "incentive_target": "target_incentive", "start_date": "hire_date",
           "tenure": "tenure_months", "potential": "territory", "territory_potential": "territory",
           "annual_quota": "quota"}
#: largest base salary, target incentive or annual quota of one rep (money per year)
MAX_MONEY = 1e10
#: longest tenure, months
MAX_TENURE = 720


class RosterError(SimlibError):
    """A roster could not be used; lists every problem found (bad rows with their line or row)."""

    def __init__(self, source: str, problems: list[RowProblem] | list[str]):
        self.source = source
        self.problems = list(problems)
        n = len(self.problems)
        lines = [f"{source}: {n} problem{'s' if n != 1 else ''} found in the roster"]
        lines += [f"  - {p}" if isinstance(p, RowProblem) else f"  - {source}: {p}" for p in self.problems]
        super().__init__("\n".join(lines))


@dataclass(frozen=True, eq=False)
class RosterRole:
    """One role's reps, ordered team by team (a team's members are consecutive).

    Attributes
    ----------
    ids : tuple of str
        Each rep's ``rep_id`` (index ``r`` of the role's arrays).
    teams : tuple of str
        Team names, in order of first appearance in the file.
    team : ndarray (R,) int
        Index into ``teams`` of each rep's team (non-decreasing).
    managers : tuple of str
        Each rep's manager ("" when not given).
    base_salary, target_incentive : ndarray (R,)
        Money per year.
    quota : ndarray (R,)
        Annual revenue quota under the current plan, NaN where not given.
    tenure : ndarray (R,)
        Whole months in the role at the start of the simulated year.
    territory : ndarray (R,)
        Territory potential as given (any scale), NaN where not given.
    """

    ids: tuple[str, ...]
    teams: tuple[str, ...]
    team: np.ndarray
    managers: tuple[str, ...]
    base_salary: np.ndarray
    target_incentive: np.ndarray
    quota: np.ndarray
    tenure: np.ndarray
    territory: np.ndarray

    @property
    def headcount(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, eq=False)
class Roster:
    """A validated roster: its reps by role, the file and a digest of its contents."""

    source: str
    sha256: str
    year_start: datetime.date
    roles: dict[str, RosterRole]
    notes: list[str] = field(default_factory=list)


def tenure_months(hired: datetime.date, start: datetime.date) -> int:
    """Whole months from ``hired`` to ``start`` (hired 2025-03-15, start 2026-01-01: 9)."""
    return (start.year - hired.year) * 12 + (start.month - hired.month) - (1 if start.day < hired.day else 0)


def read_roster(path: str | Path, roles: Iterable[str], currency: str | dict[str, str],
                year_start: datetime.date | None = None, credited: Iterable[str] = ()) -> Roster:
    """Read and validate a roster file.

    Parameters
    ----------
    path : str or Path
        CSV, XLSX or Parquet file (:func:`simlib.tables.read_table`).
    roles : iterable of str
        The scenario's role names; a row's role is matched exactly or ignoring
        case and spaces (``Key Account`` is ``key_account``).
    currency : str or dict
        The scenario's currency, or each role's (role -> currency, when roles
        are paid in their own); a ``currency`` column must be that code (3 uppercase letters).
    year_start : date, optional
        First day of the simulated year; tenure from ``hire_date`` is counted
        to it. Default: January 1 of the year after the latest hire date.
    credited : iterable of str
        Roles credited on other roles' reps (managers, overlays: ``credited_on``), whose reps may be listed in
        the team of the reps they cover; a front-line rep in a team of another front-line role is a bad row.

    Raises
    ------
    RosterError
        Listing every bad row (file, line or row, column, reason) and every
        role of the scenario without reps.
    """
    src = str(path)
    try:
        table = read_table(path, "roster", ", ".join(REQUIRED) + ", hire_date or tenure_months")
    except TableError as exc:
        raise RosterError(src, exc.problems) from None
    try:
        raw, notes = check_columns(table.frame, REQUIRED, ALIASES)
    except TableError as exc:  # a workbook's first sheet is read: a cover sheet in front lacks every column
        raise RosterError(src, [p + sheet_hint(table, "roster") for p in exc.problems]) from None
    if "hire_date" not in raw.columns and "tenure_months" not in raw.columns:
        raise RosterError(src, [f"missing column: hire_date or tenure_months; the file has {list(raw.columns)}"
                                + sheet_hint(table, "roster")])
    ignored = [c for c in raw.columns if c not in REQUIRED + OPTIONAL]
    notes = table.notes + notes + ([f"ignored column(s) not in the roster format: {ignored}"] if ignored else [])
    rows = Rows.of(raw, table)
    role_names = list(roles)
    role = _check_ids_roles(rows, role_names)
    _check_team_roles(rows, role, set(credited))
    money = {c: _money(rows, c, required=c != "quota") for c in ("base_salary", "target_incentive", "quota")}
    territory = _territory(rows)
    start = year_start or _default_start(rows)
    tenure = _tenure(rows, start)
    _check_currency(rows, currency, role)
    problems: list = rows.problems()
    found = {r for i, r in enumerate(role) if i not in rows.bad}
    problems += [f"role '{r}' has no reps in the roster (every role of the scenario needs at least one)"
                 for r in role_names if r not in found and not rows.bad]
    if problems:
        raise RosterError(src, problems)
    by_role = {r: _role(rows, [i for i in range(rows.n) if role[i] == r], money, tenure, territory)
               for r in role_names}
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return Roster(src, digest, start, by_role, notes)


def _check_ids_roles(rows: Rows, role_names: list[str]) -> list[str]:
    """Each row's role (the scenario's name); flags missing or duplicate ids, unknown roles and missing teams."""
    first: dict[str, int] = {}
    by_norm = {norm_name(r): r for r in role_names}
    out = []
    for i in range(rows.n):
        rid, r = rows.col["rep_id"][i], rows.col["role"][i]
        if not rid:
            rows.flag(i, "missing rep_id", "rep_id")
        elif rid in first:
            rows.flag(i, f"duplicate rep_id: '{rid}' is already at {rows.where(first[rid])}", "rep_id")
        else:
            first[rid] = i
        name = r if r in role_names else by_norm.get(norm_name(r), "")
        if not r:
            rows.flag(i, "missing role", "role")
        elif not name:
            rows.flag(i, f"unknown role: '{r}', expected one of {role_names}", "role")
        if not rows.col["team"][i]:
            rows.flag(i, "missing team", "team")
        out.append(name)
    return out


def _check_team_roles(rows: Rows, role: list[str], credited: set[str]) -> None:
    """Flag a front-line rep in a team whose other reps have another role: the model's teams are within a role (team
    pay and help), so the rep would silently form a one-role team of the same name. The team's role is the one most
    of its reps have (the first seen on a tie); reps of ``credited`` roles are not counted."""
    members: dict[str, dict[str, list[int]]] = {}
    for i in range(rows.n):
        team, r = rows.col["team"][i], role[i]
        if team and r and r not in credited and i not in rows.bad:
            members.setdefault(team, {}).setdefault(r, []).append(i)
    for team, by_role in members.items():
        if len(by_role) < 2:
            continue
        main = max(by_role, key=lambda r: len(by_role[r]))  # dicts keep first-seen order: ties go to the first
        head = by_role[main]
        for r, idx in by_role.items():
            if r == main:
                continue
            for i in idx:
                rows.flag(i, f"team '{team}' is a {main} team ({len(head)} rep{'s' if len(head) != 1 else ''}, first at "
                             f"{rows.where(head[0])}): a team's reps share one role; expected role {main} or a {r} team",
                          "team", "role")


def _money(rows: Rows, column: str, required: bool) -> np.ndarray:
    """A money column (NaN where empty and not required); flags bad, negative and too large values."""
    out = np.full(rows.n, np.nan)
    if column not in rows.col:
        return out
    for i, text in enumerate(rows.col[column]):
        if not text:
            if required:
                rows.flag(i, f"missing value: '{column}' is empty", column)
            continue
        v = parse_number(text, currency=True)
        if v is None:
            rows.flag(i, f"non-numeric value: '{column}' is '{text}'{decimal_comma(text, currency=True)}", column)
        elif v < 0:
            rows.flag(i, f"negative pay: '{column}' is {text}" if column != "quota" else
                      f"negative value: 'quota' is {text}", column)
        elif v > MAX_MONEY:
            rows.flag(i, f"value too large: '{column}' is {text}, expected at most {MAX_MONEY:g}", column)
        else:
            out[i] = v
    return out


def _territory(rows: Rows) -> np.ndarray:
    out = np.full(rows.n, np.nan)
    for i, text in enumerate(rows.col.get("territory", [""] * rows.n)):
        if text:
            v = parse_number(text, currency=True, percent=True)
            if v is None or not 0 < v <= MAX_MONEY:
                hint = decimal_comma(text, currency=True, percent=True) if v is None else ""
                rows.flag(i, f"bad territory: '{text}', expected a positive number (potential, any scale){hint}",
                          "territory")
            else:
                out[i] = v
    return out


def _default_start(rows: Rows) -> datetime.date:
    """January 1 of the year after the latest readable hire date (of the current year when there are none)."""
    dates = [d for d in map(parse_date, rows.col.get("hire_date", [])) if d is not None]
    year = max(d.year for d in dates) + 1 if dates else datetime.date.today().year
    return datetime.date(year, 1, 1)


def _tenure(rows: Rows, start: datetime.date) -> np.ndarray:
    """Whole months of tenure at ``start``: ``tenure_months`` when given, else from ``hire_date``."""
    out = np.full(rows.n, np.nan)
    ten, hired = rows.col.get("tenure_months"), rows.col.get("hire_date")
    for i in range(rows.n):
        t_text = ten[i] if ten is not None else ""
        h_text = hired[i] if hired is not None else ""
        if t_text:
            v = parse_number(t_text)
            if v is None or v < 0 or v > MAX_TENURE:
                rows.flag(i, f"bad tenure_months: '{t_text}', expected months 0 to {MAX_TENURE}", "tenure_months")
            else:
                out[i] = np.floor(v)
        elif h_text:
            d = parse_date(h_text)
            if d is None:
                rows.flag(i, f"bad date: 'hire_date' is '{h_text}', expected YYYY-MM-DD (or an Excel date)", "hire_date")
            elif d > start:
                rows.flag(i, f"bad date: 'hire_date' {d} is after the start of the simulated year {start}", "hire_date")
            else:
                out[i] = min(tenure_months(d, start), MAX_TENURE)
        else:
            rows.flag(i, "missing value: hire_date and tenure_months are both empty", "hire_date", "tenure_months")
    return out


def _check_currency(rows: Rows, currency: str | dict[str, str], role: list) -> None:
    for i, text in enumerate(rows.col.get("currency", [])):
        if isinstance(currency, str):
            expected, whose = currency, "the scenario's currency is"
        elif role[i] in currency:
            expected, whose = currency[role[i]], f"role '{role[i]}' is paid in"
        else:
            continue  # an unknown role: reported as such
        if not text:
            continue
        problem = currency_code_problem(text.strip())
        if problem:
            rows.flag(i, problem, "currency")
        elif text.strip() != expected:
            rows.flag(i, f"currency mismatch: '{text}', {whose} '{expected}'", "currency")


def _role(rows: Rows, idx: list[int], money: dict[str, np.ndarray], tenure: np.ndarray,
          territory: np.ndarray) -> RosterRole:
    """One role's reps, team by team (teams in order of first appearance, reps in file order within a team)."""
    teams = list(dict.fromkeys(rows.col["team"][i] for i in idx))
    pos = {t: k for k, t in enumerate(teams)}
    order = sorted(idx, key=lambda i: (pos[rows.col["team"][i]], i))
    ix = np.asarray(order, dtype=int)
    managers = rows.col.get("manager", [""] * rows.n)
    return RosterRole(
        ids=tuple(rows.col["rep_id"][i] for i in order),
        teams=tuple(teams),
        team=np.asarray([pos[rows.col["team"][i]] for i in order], dtype=int),
        managers=tuple(managers[i] for i in order),
        base_salary=money["base_salary"][ix],
        target_incentive=money["target_incentive"][ix],
        quota=money["quota"][ix],
        tenure=tenure[ix],
        territory=territory[ix],
    )


@dataclass(frozen=True, eq=False)
class TrackRecord:
    """What a history says about each roster rep: the posterior of their log productivity ``log(a p)``.

    Estimated by :func:`simlib.fit.individuals.estimate` (docs/model.md,
    "Reps as individuals"); the simulation draws each rep's productivity per
    trial from it.

    Attributes
    ----------
    source : str
        The history file.
    sha256 : str
        Digest of the history file's contents.
    roles : dict role -> (mean, var, months), each ndarray (R,) in the roster's rep order
        Posterior mean and variance of ``log(a_i p_i)``, and the months of
        history behind them; NaN mean and variance (0 months) for a rep without history.
    notes : list of str
    """

    source: str
    sha256: str
    roles: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    notes: list[str] = field(default_factory=list)
