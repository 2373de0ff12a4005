"""Import and validation of rep-level monthly history (CSV, XLSX or Parquet, read by :mod:`simlib.tables`).

The format is documented in ``docs/history-format.md``. One row is one rep in
one month::

    rep_id, role, team, month, quota, payout, <measures of the role's process>

``month`` is 1-12 (one year; an optional ``year`` column gives the year) or
``YYYY-MM``. Every bad row is reported with the file, its line (CSV) or row
(XLSX: the spreadsheet's row; Parquet: 1-based), the columns of its bad cells and the reason; nothing is dropped
silently and a bad cell is never read as a good one (``Junk`` is not June;
non-finite numbers and numbers beyond :data:`UPPER_BOUNDS` are bad cells). With
``on_error="stop"`` (the default) a :class:`HistoryError` lists every bad row;
with ``on_error="skip"`` the bad rows are left out and listed in
:attr:`History.skipped`.
"""

from __future__ import annotations

import datetime
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from simlib.errors import SimlibError
from simlib.scenario import MAX_TEAM_SIZE, MEASURES, MONTHS, PROCESSES
from simlib.tables import (
    CURRENCY_SIGNS,
    DECIMAL,
    RowProblem,
    Rows,
    Table,
    TableError,
    check_columns,
    decimal_comma,
    norm_name,
    parse_number,
    read_table,
)

#: columns every history file must have
REQUIRED = ("rep_id", "role", "month", "quota", "revenue")
#: columns that are used when present
OPTIONAL = ("team", "payout", "year", "new_hire", "process", "leave_date", "cancelled", "cancelled_after")
#: the most months after booking a ``cancelled_after`` cell may give
MAX_CANCELLED_AFTER = 120
#: every measure name of any process
ALL_MEASURES = tuple(dict.fromkeys(m for proc in MEASURES.values() for m in proc))

# YYYY-MM, YYYY/MM, YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS[.fff]] (a day and a time must be real ones)
_YM = re.compile(r"^\s*(\d{4})[-/](\d{1,2})(?:[-/](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?)?\s*$")
_FULL_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
                "october", "november", "december")
#: month names read exactly (case-insensitive): full names and 3-letter abbreviations, nothing else
_MONTH_NAMES = {n: i + 1 for i, full in enumerate(_FULL_MONTHS) for n in (full, full[:3])}
_NON_FINITE = re.compile(r"^[+-]?(inf|infinity|nan)$", re.IGNORECASE)
#: calendar years a history may give
YEAR_RANGE = (1900, 2100)
#: other names of columns, read as the format's names when the format's name is absent
ALIASES = {"rep": "rep_id", "repid": "rep_id", "employee_id": "rep_id", "employee": "rep_id", "sales_rep": "rep_id",
           "period": "month", "date": "month", "target": "quota", "sales": "revenue", "bookings": "revenue",
           "incentive": "payout", "bonus": "payout", "commission": "payout"}
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f", ""}


class HistoryError(SimlibError):
    """A history file could not be used; lists every problem found."""

    def __init__(self, source: str, problems: list[RowProblem] | list[str]):
        self.source = source
        self.problems = list(problems)
        n = len(self.problems)
        rows = [p for p in self.problems if isinstance(p, RowProblem)]
        lines = [f"{source}: {n} problem{'s' if n != 1 else ''} found"]
        if rows:
            lines[0] += f" ({len(rows)} bad row{'s' if len(rows) != 1 else ''}: {reason_counts(rows)})"
            lines[0] += "; fix them or rerun with --on-error skip to leave them out"
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


def reason_counts(problems: list[RowProblem]) -> str:
    """"kind n, kind n, ..." of bad rows, most frequent first."""
    counts = Counter(_reason_kind(p.reason) for p in problems)
    return ", ".join(f"{k} {v}" for k, v in counts.most_common())


def _reason_kind(reason: str) -> str:
    return re.split(r"[:;]", reason, maxsplit=1)[0]


@dataclass
class Panel:
    """One role's history for one year as arrays (reps x 12 months).

    Attributes
    ----------
    role, process : str
    year : int
    rep_ids : list of str, length R
    team : ndarray (R,) of str, or None when the file has no team column
    new_hire : ndarray (R,) bool, or None when the file has no new_hire column
    measures : dict measure -> ndarray (R, 12); NaN where the rep has no row
        for the month or the column is absent.
    quota, payout : ndarray (R, 12), money per month (NaN where absent).
    present : ndarray (R, 12) bool, the rep has a row for the month.
    cancelled : ndarray (R, 12) or None
        Revenue booked in the month whose deals later cancelled, money (0
        where the cell is empty, NaN where the rep has no row); None when the
        file has no ``cancelled`` column or every cell of the role-year is empty.
    cancelled_after : ndarray (R, 12) or None
        Months after booking that the month's cancelled deals cancelled (the
        ``cancelled_after`` column; NaN where empty: the next month); None
        when the file has no such column or no ``cancelled`` one.
    """

    role: str
    process: str
    year: int
    rep_ids: list[str]
    team: np.ndarray | None
    new_hire: np.ndarray | None
    measures: dict[str, np.ndarray]
    quota: np.ndarray
    payout: np.ndarray
    present: np.ndarray
    cancelled: np.ndarray | None = None
    cancelled_after: np.ndarray | None = None

    @property
    def complete(self) -> np.ndarray:
        """(R,) reps with a row in every month of the year."""
        return self.present.all(axis=1)

    @property
    def attainment(self) -> np.ndarray:
        """(R,) annual revenue / annual quota (NaN for incomplete years or zero quota)."""
        q = np.nansum(self.quota, axis=1)
        r = np.nansum(self.measures["revenue"], axis=1)
        out = np.where(q > 0, r / np.where(q > 0, q, 1.0), np.nan)
        return np.where(self.complete, out, np.nan)


@dataclass
class History:
    """Validated history.

    Attributes
    ----------
    frame : DataFrame with columns rep_id, role, process, team, year, month,
        quota, payout, new_hire and the measure columns present in the file.
    source : str
    roles : dict role -> process
    skipped : rows left out under ``on_error="skip"``, each with its reason.
    notes : things the reader should know (ignored columns, absent optional columns,
        reps with quota 0 all year: see :attr:`zero_quota`).
    columns : measure columns present in the file.
    """

    frame: pd.DataFrame
    source: str
    roles: dict[str, str]
    skipped: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)

    @property
    def years(self) -> list[int]:
        return sorted(int(y) for y in self.frame["year"].unique())

    @property
    def has_team(self) -> bool:
        return bool(self.frame["team"].notna().any())

    @property
    def has_payout(self) -> bool:
        return bool(self.frame["payout"].notna().any())

    @property
    def has_new_hire(self) -> bool:
        return bool(self.frame["new_hire"].notna().any())

    @property
    def has_cancelled(self) -> bool:
        """The file has a ``cancelled`` column (revenue of deals that later cancelled)."""
        return "cancelled" in self.frame

    @property
    def has_leave_date(self) -> bool:
        return "leave_date" in self.frame and bool(self.frame["leave_date"].notna().any())

    @property
    def zero_quota(self) -> pd.DataFrame:
        """Rep-years whose quota is 0 in every month they have a row for.

        Their attainment is undefined, so they are left out of anything that
        divides by quota (:attr:`Panel.attainment`, the quota fit and the
        attainment checks of calibrate and backtest); :func:`read_history`
        says so in :attr:`notes`.

        Returns
        -------
        DataFrame
            Columns role, year, rep_id, months (rows in the year), sorted.
        """
        return zero_quota_reps(self.frame)

    def year(self, year: int) -> History:
        """The history of one year only."""
        f = self.frame[self.frame["year"] == year]
        notes = [n for n in self.notes if not n.startswith(_ZERO_QUOTA)] + _zero_quota_notes(zero_quota_reps(f))
        return History(f.reset_index(drop=True), self.source, {r: p for r, p in self.roles.items() if r in set(f["role"])},
                       self.skipped, notes, self.columns)

    def panels(self, role: str, years: list[int] | None = None) -> list[Panel]:
        """:meth:`panel` of one role for each year (default: all) that has rows for it."""
        present = set(self.frame.loc[self.frame["role"] == role, "year"].unique())
        return [self.panel(role, y) for y in (self.years if years is None else years) if y in present]

    def panel(self, role: str, year: int | None = None) -> Panel:
        """Arrays of one role in one year (default: the first year)."""
        year = self.years[0] if year is None else year
        f = self.frame[(self.frame["role"] == role) & (self.frame["year"] == year)]
        if f.empty:
            raise HistoryError(self.source, [f"no rows for role '{role}' in year {year}"])
        reps = list(dict.fromkeys(f["rep_id"]))
        idx = {r: i for i, r in enumerate(reps)}
        R = len(reps)
        ri = f["rep_id"].map(idx).to_numpy()
        mi = f["month"].to_numpy(dtype=int) - 1

        def grid(col: str) -> np.ndarray:
            out = np.full((R, MONTHS), np.nan)
            if col in f:
                out[ri, mi] = f[col].to_numpy(dtype=float)
            return out

        present = np.zeros((R, MONTHS), dtype=bool)
        present[ri, mi] = True
        proc = self.roles[role]
        measures = {m: grid(m) for m in MEASURES[proc] if m in self.columns}
        first = f.drop_duplicates("rep_id").set_index("rep_id")
        team = first.loc[reps, "team"].to_numpy(dtype=object) if self.has_team else None
        nh = first.loc[reps, "new_hire"].to_numpy(dtype=float) if self.has_new_hire else None
        recorded = self.has_cancelled and bool(f["cancelled"].notna().any())  # some cell of this role-year given
        cancelled = np.where(present, np.nan_to_num(grid("cancelled")), np.nan) if recorded else None
        after = grid("cancelled_after") if recorded and "cancelled_after" in f else None
        return Panel(role, proc, int(year), reps, team, None if nh is None else nh > 0.5, measures,
                     grid("quota"), grid("payout"), present, cancelled, after)


# ----------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------


def _read_raw(path: Path) -> Table:
    """The file's cells as stripped strings (:func:`simlib.tables.read_table`), or a :class:`HistoryError`."""
    try:
        return read_table(path, "history", ", ".join(REQUIRED))
    except TableError as exc:
        raise HistoryError(exc.source, exc.problems) from None


def _month_name(text: str) -> int | None:
    """Month 1-12 of an exact month name (``Jan``, ``january``, ``SEP``), else None (``Junk`` is not June)."""
    return _MONTH_NAMES.get(text.strip().lower())


#: measures that count things, so must be whole numbers
_COUNTS = ("calls", "leads", "conversions", "deals", "new_accounts", "milestones", "partners_opened", "units")
#: money columns: per rep-month, in the scenario's currency
MONEY = ("quota", "payout", "revenue", "large_order_value", "partner_revenue_new", "cancelled")
#: the largest value accepted per rep-month, by column (scores are fractions 0-1); see docs/history-format.md
UPPER_BOUNDS: dict[str, float] = {
    **{c: 1e10 for c in MONEY},
    **{c: 1e6 for c in _COUNTS},
    "talk_time": 744.0,  # hours: 31 days x 24 hours
}
#: the largest talk time of a row that holds a manager's or overlay's credited results (docs/model.md section 3,
#: crediting): the hours of the covered reps together, so one person's bound times the largest team
ROLLED_UP_BOUNDS: dict[str, float] = {"talk_time": UPPER_BOUNDS["talk_time"] * MAX_TEAM_SIZE}


def credited_roles(scenario) -> frozenset[str]:
    """The roles of a scenario paid on other roles' results (``credited_on``): their rows are roll-ups."""
    return frozenset(r for r, x in scenario.roles.items() if x.credited_on is not None)


#: measures that are fractions 0-1 (a trailing % is read as a fraction)
_SCORES = tuple(dict.fromkeys(m for proc in MEASURES.values() for m, kind in proc.items() if kind == "score"))


def read_history(
    path: str | Path,
    roles: dict[str, str] | None = None,
    *,
    on_error: Literal["stop", "skip"] = "stop",
    role_map: dict[str, str] | None = None,
    rolled_up: frozenset[str] | set[str] = frozenset(),
) -> History:
    """Read and validate a history file.

    Parameters
    ----------
    path : str or Path
        CSV (``.csv``/``.tsv``), XLSX (``.xlsx``, first sheet) or Parquet (``.parquet``) file.
    roles : dict role -> process, optional
        The roles of the scenario the history belongs to. When omitted, a
        row's role must be a process name (telesales, key_account, channel)
        or the file must have a ``process`` column.
    on_error : {"stop", "skip"}
        ``stop``: raise :class:`HistoryError` listing every bad row.
        ``skip``: leave bad rows out and list them in ``History.skipped``.
    role_map : dict, optional
        Role names of the file -> role names of the scenario (``{"inside_sales": "telesales"}``).
    rolled_up : set of str, optional
        Roles (the scenario's names) whose rows hold credited results of other
        roles' reps (managers, overlays: :func:`credited_roles`); their talk
        time is bounded by :data:`ROLLED_UP_BOUNDS`, not by one person's hours.

    Returns
    -------
    History

    Raises
    ------
    HistoryError
        File-level problems (unreadable, missing columns, no usable rows) and,
        with ``on_error="stop"``, bad rows.
    """
    if on_error not in ("stop", "skip"):
        raise HistoryError(str(path), [f"on_error: expected 'stop' or 'skip', got {on_error!r}"])
    src = str(path)
    table = _read_raw(Path(path))
    raw, notes = _check_columns(table.frame, src)
    notes = table.notes + notes
    measure_cols = [m for m in ALL_MEASURES if m in raw.columns]
    rows = Rows.of(raw, table)
    # the checks run in this order, so a bad row's reasons are listed in it
    processes = _check_roles(rows, roles, role_map)
    years, months, with_years = _parse_periods(rows)
    rolled = [r in rolled_up for r in rows.col["role"]] if rolled_up else None  # names as mapped by _check_roles
    values = _parse_numbers(rows, ["quota", "payout", *measure_cols], processes, rolled)
    if "cancelled" in rows.col:
        values["cancelled"] = _parse_cancelled(rows, processes, values.get("revenue"))
    if "cancelled_after" in rows.col:
        values["cancelled_after"] = _parse_cancelled_after(rows)
    new_hire = _parse_new_hire(rows)
    if "leave_date" in rows.col:
        values["leave_date"] = _parse_leave_date(rows, years, months)
    _check_across_rows(rows, years, months, with_years)

    problems = rows.problems()
    if problems and on_error == "stop":
        raise HistoryError(src, problems)
    keep = np.array([i not in rows.bad for i in range(rows.n)])
    if not keep.any():
        raise HistoryError(src, ["no usable rows left after leaving out bad rows", *problems])
    frame = _history_frame(rows, keep, processes, years, months, new_hire, values)
    roles_found = dict(sorted({r: p for r, p in zip(frame["role"], frame["process"], strict=False)}.items()))
    notes += _zero_quota_notes(zero_quota_reps(frame))
    return History(frame, src, roles_found, skipped=problems, notes=notes, columns=measure_cols)


def _check_columns(raw: pd.DataFrame, src: str) -> tuple[pd.DataFrame, list[str]]:
    """Normalise the column names, read aliases, and check the file has the format's columns.

    Parameters
    ----------
    raw : DataFrame
        The file's cells as strings (:func:`_read_raw`); its column names are normalised in place.
    src : str
        The file, for messages.

    Returns
    -------
    raw : DataFrame
        With aliases renamed to the format's names.
    notes : list of str
        Columns read under an alias, ignored, or absent though optional.

    Raises
    ------
    HistoryError
        Duplicate or missing required columns, or no data rows.
    """
    try:
        raw, notes = check_columns(raw, REQUIRED, ALIASES)
    except TableError as exc:
        raise HistoryError(src, exc.problems) from None
    known = set(REQUIRED) | set(OPTIONAL) | set(ALL_MEASURES)
    ignored = [c for c in raw.columns if c not in known]
    if ignored:
        notes.append(f"ignored column(s) not in the history format: {ignored}")
    for c in ("team", "payout", "new_hire"):
        if c not in raw.columns:
            notes.append(f"no '{c}' column")
    return raw, notes


def _check_roles(rows: Rows, roles: dict[str, str] | None,
                 role_map: dict[str, str] | None) -> list[str | None]:
    """Check each row's rep and role, and find the role's process.

    Role names are mapped through ``role_map`` and, when that matches a
    scenario role, normalised (``'Key Account'`` -> ``'key_account'``), in
    place in ``rows.col["role"]``.

    Parameters
    ----------
    rows : Rows
        Bad rows are flagged here.
    roles : dict role -> process, optional
        The scenario's roles; without them a role must be a process name or
        the file must have a ``process`` column.
    role_map : dict, optional
        Role names of the file -> role names of the scenario.

    Returns
    -------
    list of str or None
        The process of each row; None where the role is missing or unknown.
    """
    rep, role, procs_col = rows.col["rep_id"], rows.col["role"], rows.col.get("process")
    out_proc: list[str | None] = [None] * rows.n
    for i in range(rows.n):
        if rep[i] == "":
            rows.flag(i, "missing rep_id", "rep_id")
        if role_map and role[i] in role_map:
            role[i] = role_map[role[i]]
        r = role[i]
        if roles is not None and r not in roles and norm_name(r) in roles:
            r = role[i] = norm_name(r)  # 'Key Account' -> 'key_account'
        if r == "":
            rows.flag(i, "missing role", "role")
            continue
        if roles is not None:
            if r not in roles:
                rows.flag(i, f"unknown role: '{r}', expected one of {sorted(roles)}", "role")
                continue
            out_proc[i] = roles[r]
            if procs_col is not None and procs_col[i] not in ("", roles[r]):
                rows.flag(i, f"process mismatch: role '{r}' has process '{roles[r]}' in the scenario, "
                             f"row says '{procs_col[i]}'", "process")
        else:
            pr = procs_col[i] if procs_col is not None and procs_col[i] else r
            if pr not in PROCESSES:
                rows.flag(i, f"unknown role: '{r}' (without a scenario a role must be one of {list(PROCESSES)} "
                             f"or the file needs a 'process' column)", "role")
                continue
            out_proc[i] = pr
    return out_proc


def _parse_periods(rows: Rows) -> tuple[np.ndarray, np.ndarray, bool]:
    """The year and month of each row, from ``month`` (and ``year`` when the file has it).

    Parameters
    ----------
    rows : Rows
        Rows whose period cannot be read are flagged here.

    Returns
    -------
    years, months : ndarray (n,) of int
        Calendar year (1 when the file gives none) and month 1-12; 0 in bad rows.
    with_years : bool
        The file gives years: a ``year`` column, or months written ``YYYY-MM``.
    """
    years = np.zeros(rows.n, dtype=int)
    months = np.zeros(rows.n, dtype=int)
    has_year = "year" in rows.col
    n_dated = sum(1 for v in rows.col["month"] if _YM.match(v))
    # the file's style is its rows' majority: one YYYY-MM slip among month numbers is that row's problem
    dated = n_dated > 0 and (has_year or 2 * n_dated >= sum(1 for v in rows.col["month"] if v))
    for i, v in enumerate(rows.col["month"]):
        if n_dated and not dated and _YM.match(v):
            rows.flag(i, f"month with a year: '{v}' while most rows give the month alone (1-12) and the file has "
                         "no year column", "month")
            continue
        period = _period(v, rows.col["year"][i] if has_year else None, dated)
        if isinstance(period[0], str):
            rows.flag(i, *period)
        else:
            years[i], months[i] = period
    return years, months, has_year or dated


def _period(month: str, year: str | None, dated: bool) -> tuple[int, int] | tuple[str, str]:
    """The (year, month 1-12) of one row, or the reason it cannot be read and the column at fault.

    Parameters
    ----------
    month : str
        The ``month`` cell: ``YYYY-MM`` (or a date), a number 1-12 or a month name.
    year : str or None
        The ``year`` cell; None when the file has no ``year`` column.
    dated : bool
        Some row of the file writes its month as ``YYYY-MM``.

    Returns
    -------
    tuple (year, month) of int, or tuple (reason, column) of str
        The year is 1 when neither the row nor the file gives one.
    """
    m = _YM.match(month)
    if m:
        return _dated_period(month, m, year)
    if month == "":
        return "missing month", "month"
    name = _month_name(month)
    num = float(name) if name is not None else parse_number(month)
    if num is None:
        return (f"bad month: '{month}', expected a whole number 1-12, YYYY-MM or a month name "
                "(Jan or January)"), "month"
    if num != int(num) or not 1 <= num <= 12:
        return f"month out of range: '{month}', expected a whole number 1-12", "month"
    if year is None:
        if dated:
            return f"month without a year: '{month}' while other rows use YYYY-MM", "month"
        return 1, int(num)
    yv = parse_number(year)
    if yv is None or yv != int(yv) or not YEAR_RANGE[0] <= yv <= YEAR_RANGE[1]:
        return f"bad year: '{year}', expected a whole number {YEAR_RANGE[0]}-{YEAR_RANGE[1]}", "year"
    return int(yv), int(num)


def _dated_period(month: str, m: re.Match, year: str | None) -> tuple[int, int] | tuple[str, str]:
    """:func:`_period` of a ``YYYY-MM`` month (``m`` its match of ``_YM``): a date must be a real one."""
    y, mm = int(m.group(1)), int(m.group(2))
    if not 1 <= mm <= 12:
        return f"month out of range: '{month}', expected 1-12", "month"
    if not YEAR_RANGE[0] <= y <= YEAR_RANGE[1]:
        return f"bad year: '{month}', expected a year {YEAR_RANGE[0]}-{YEAR_RANGE[1]}", "month"
    day, hh, mi, ss = (None if g is None else int(g) for g in m.group(3, 4, 5, 6))
    if day is not None:
        try:
            datetime.date(y, mm, day)
        except ValueError:
            return f"bad month: '{month}' is not a date", "month"
    if hh is not None and (hh > 23 or mi > 59 or (ss is not None and ss > 59)):
        return f"bad month: '{month}' has no such time of day", "month"
    if year not in (None, "") and parse_number(year) != y:
        return f"bad year: year is '{year}' but month is '{month}'", "year"
    return y, mm


def _parse_numbers(rows: Rows, columns: list[str], processes: list[str | None],
                   rolled: list[bool] | None = None) -> dict[str, np.ndarray]:
    """The numeric columns (quota, payout, measures) the file has, checked cell by cell.

    Parameters
    ----------
    rows : Rows
        Bad cells flag their row here, column by column in the order of ``columns``.
    columns : list of str
        The numeric columns to read; those the file lacks are left out.
    processes : list of str or None
        Each row's process (:func:`_check_roles`).
    rolled : list of bool, optional
        Whether each row holds a credited role's roll-up (bounds of :data:`ROLLED_UP_BOUNDS`).

    Returns
    -------
    dict column -> ndarray (n,) of float
        Money per month (quota, payout, revenue) or the measure's own unit;
        NaN where the cell is empty, bad or belongs to another process.
    """
    values: dict[str, np.ndarray] = {}
    role = rows.col["role"]
    for c in columns:
        if c not in rows.col:
            continue
        arr = np.full(rows.n, np.nan)
        for i, v in enumerate(rows.col[c]):
            num, reason = _cell(c, v, processes[i], role[i], rolled is not None and rolled[i])
            if reason is not None:
                rows.flag(i, reason, c)
            elif num is not None:
                arr[i] = num
        values[c] = arr
    return values


def _cell(column: str, text: str, process: str | None, role: str, rolled: bool = False) -> tuple[float | None, str | None]:
    """One numeric cell: its value, or why its row is bad.

    Parameters
    ----------
    column : str
        quota, payout or a measure.
    text : str
        The cell.
    process, role : str or None, str
        The row's process (None when its role is bad) and role.
    rolled : bool
        The row holds a credited role's roll-up (:data:`ROLLED_UP_BOUNDS`).

    Returns
    -------
    value : float or None
        The number to keep; None for an empty cell, a bad one, or a measure of another process.
    reason : str or None
        Why the row is bad, or None.
    """
    relevant = column in ("quota", "payout") or (process is not None and column in MEASURES[process])
    if text == "":
        if column != "payout" and process is not None and relevant:
            return None, f"missing value: '{column}' is empty"
        return None, None
    num = parse_number(text, currency=column in MONEY, percent=column in _SCORES)
    if num is None:
        if _non_finite(text):
            return None, f"non-finite value: '{column}' is '{text}', expected a finite number"
        return None, (f"non-numeric value: '{column}' is '{text}', expected a number"
                      f"{decimal_comma(text, currency=column in MONEY, percent=column in _SCORES)}")
    if not relevant:
        if num != 0 and process is not None:
            return None, f"measure of another process: '{column}' = {text} but role '{role}' has process '{process}'"
        return None, None
    if num < 0:
        what = "negative sales" if column == "revenue" else "negative value"
        return None, f"{what}: '{column}' is {text}, expected >= 0"
    if column in _SCORES and num > 1:
        return None, f"score out of range: '{column}' is {text}, expected a fraction 0-1"
    bound = (ROLLED_UP_BOUNDS if rolled and column in ROLLED_UP_BOUNDS else UPPER_BOUNDS).get(column, np.inf)
    if num > bound:
        return None, f"value too large: '{column}' is {text}, expected at most {bound:g} per rep-month"
    if column in _COUNTS and num != int(num):
        return None, f"not a count: '{column}' is {text}, expected a whole number"
    return num, None


def _non_finite(text: str) -> bool:
    """The cell is infinity or NaN, written as a word or as a number too large for a float (``1e999``)."""
    t = text.strip().lstrip(CURRENCY_SIGNS).strip()
    return bool(_NON_FINITE.match(t)) or (bool(DECIMAL.match(t)) and not np.isfinite(float(t)))


def _parse_cancelled(rows: Rows, processes: list[str | None], revenue: np.ndarray | None) -> np.ndarray:
    """The ``cancelled`` column as (n,) money: revenue of the month's deals that later cancelled (NaN: empty or bad).

    Money like revenue, at most the row's revenue; a channel role has no
    cancellation process, so a non-zero value there is a bad cell.
    """
    out = np.full(rows.n, np.nan)
    for i, v in enumerate(rows.col["cancelled"]):
        if v == "":
            continue
        num, reason = parse_number(v, currency=True, percent=False), None
        if num is None:
            reason = (f"non-finite value: 'cancelled' is '{v}', expected a finite number" if _non_finite(v)
                      else f"non-numeric value: 'cancelled' is '{v}', expected a number{decimal_comma(v, currency=True)}")
        elif num < 0:
            reason = f"negative value: 'cancelled' is {v}, expected >= 0"
        elif num > UPPER_BOUNDS["cancelled"]:
            reason = f"value too large: 'cancelled' is {v}, expected at most {UPPER_BOUNDS['cancelled']:g} per rep-month"
        elif num > 0 and processes[i] == "channel":
            reason = (f"cancelled on a channel row: 'cancelled' is {v}, but a channel role's revenue is its "
                      "partners' sales, with no cancellation process; expected empty or 0")
        elif revenue is not None and np.isfinite(revenue[i]) and num > revenue[i] + 1e-9 * max(1.0, revenue[i]):
            reason = f"cancelled above revenue: 'cancelled' is {v}, more than the month's revenue {revenue[i]:g}"
        if reason is not None:
            rows.flag(i, reason, "cancelled")
        else:
            out[i] = num
    return out


def _parse_cancelled_after(rows: Rows) -> np.ndarray:
    """The ``cancelled_after`` column as (n,) months: when the month's cancelled deals cancelled, counted from
    the booking month (1 = the next month); NaN where empty (read as 1) or bad (flagged)."""
    out = np.full(rows.n, np.nan)
    for i, v in enumerate(rows.col["cancelled_after"]):
        if v == "":
            continue
        num = parse_number(v, currency=False, percent=False)
        if num is None or num != np.floor(num) or not 1 <= num <= MAX_CANCELLED_AFTER:
            rows.flag(i, f"bad cancelled_after: '{v}', expected a whole number of months after booking, "
                         f"1 to {MAX_CANCELLED_AFTER}", "cancelled_after")
        else:
            out[i] = num
    return out


def _parse_new_hire(rows: Rows) -> np.ndarray:
    """The ``new_hire`` column as (n,) floats: 1.0 true, 0.0 false, NaN absent or bad (flagged)."""
    new_hire = np.full(rows.n, np.nan)
    if "new_hire" in rows.col:
        for i, v in enumerate(rows.col["new_hire"]):
            s = v.lower()
            if s in _TRUE:
                new_hire[i] = 1.0
            elif s in _FALSE:
                new_hire[i] = 0.0
            else:
                rows.flag(i, f"bad new_hire: '{v}', expected true/false or 1/0", "new_hire")
    return new_hire


def _parse_leave_date(rows: Rows, years: np.ndarray, months: np.ndarray) -> np.ndarray:
    """The ``leave_date`` column as (n,) month numbers ``12 year + month - 1`` of the rep's last month (NaN: empty).

    A cell is ``YYYY-MM``, a date, or a month (1-12 or a name) of the row's year. Flagged: a bad cell, a row
    after the rep's leave date, a rep given two leave dates.
    """
    left = np.full(rows.n, np.nan)
    first: dict[str, tuple[float, int]] = {}
    for i, v in enumerate(rows.col["leave_date"]):
        if v.strip() == "" or i in rows.bad:
            continue
        m = _YM.match(v)
        when = _dated_period(v, m, None) if m else _period(v, None, False)
        if isinstance(when[0], str):
            rows.flag(i, f"bad leave_date: '{v}', expected YYYY-MM, a date, or a month of the row's year", "leave_date")
            continue
        left[i] = MONTHS * (when[0] if m else years[i]) + when[1] - 1
        rep = rows.col["rep_id"][i]
        if left[i] < MONTHS * years[i] + months[i] - 1:
            rows.flag(i, f"row after the rep's leave_date '{v}'", "leave_date", "month")
        elif rep in first and first[rep][0] != left[i]:
            rows.flag(i, f"rep '{rep}' has two leave dates: '{v}' here, another at {rows.where(first[rep][1])}",
                      "leave_date")
        first.setdefault(rep, (left[i], i))
    return left


def _check_across_rows(rows: Rows, years: np.ndarray, months: np.ndarray, with_years: bool) -> None:
    """Flag rows that contradict an earlier good row: a duplicate rep-month, or a rep changing role within a year.

    Parameters
    ----------
    rows : Rows
        Rows already flagged are not compared; rows found here are flagged.
    years, months : ndarray (n,) of int
        Each row's calendar year and month 1-12.
    with_years : bool
        The file gives years, so a month is reported as ``YYYY-MM`` rather than ``month M``.
    """
    rep, role = rows.col["rep_id"], rows.col["role"]
    first_at: dict[tuple, int] = {}
    rep_role: dict[tuple, tuple[str, int]] = {}
    for i in range(rows.n):
        if i in rows.bad:
            continue
        key = (rep[i], years[i], months[i])
        if key in first_at:
            when = f"{years[i]}-{months[i]:02d}" if with_years else f"month {months[i]}"
            rows.flag(i, f"duplicate rep-month: rep '{rep[i]}' {when} already given at {rows.where(first_at[key])}",
                      "rep_id", "month")
            continue
        first_at[key] = i
        rk = (rep[i], years[i])
        if rk in rep_role and rep_role[rk][0] != role[i]:
            r0, j = rep_role[rk]
            rows.flag(i, f"role changes within a year: rep '{rep[i]}' is '{r0}' at {rows.where(j)} but '{role[i]}' here",
                      "role")
            continue
        rep_role.setdefault(rk, (role[i], i))


def _history_frame(rows: Rows, keep: np.ndarray, processes: list[str | None], years: np.ndarray,
                   months: np.ndarray, new_hire: np.ndarray, values: dict[str, np.ndarray]) -> pd.DataFrame:
    """The good rows as :attr:`History.frame`, sorted by year, role, rep and month.

    Parameters
    ----------
    rows : Rows
    keep : ndarray (n,) bool
        The rows to keep.
    processes, years, months, new_hire, values
        The parsed columns of every row (see the ``_parse_*`` functions).

    Returns
    -------
    DataFrame
        Money columns per month; ``payout`` is NaN throughout when the file has none.
    """
    has_team = "team" in rows.col
    frame = pd.DataFrame({
        "rep_id": np.asarray(rows.col["rep_id"], dtype=object)[keep],
        "role": np.asarray(rows.col["role"], dtype=object)[keep],
        "process": np.asarray(processes, dtype=object)[keep],
        "team": (np.asarray(rows.col["team"], dtype=object)[keep] if has_team else None),
        "year": years[keep],
        "month": months[keep],
        "new_hire": new_hire[keep],
    })
    if has_team:
        frame["team"] = frame["team"].replace("", None)
    for c, arr in values.items():
        frame[c] = arr[keep]
    if "payout" not in frame:
        frame["payout"] = np.nan
    return frame.sort_values(["year", "role", "rep_id", "month"], kind="stable").reset_index(drop=True)


def zero_quota_reps(frame: pd.DataFrame) -> pd.DataFrame:
    """Rep-years of a history frame with quota 0 in all their rows (see :attr:`History.zero_quota`)."""
    g = frame.groupby(["role", "year", "rep_id"], sort=True)["quota"].agg(["sum", "size"]).reset_index()
    zero = g[g["sum"] == 0].rename(columns={"size": "months"})
    return zero[["role", "year", "rep_id", "months"]].reset_index(drop=True)


_ZERO_QUOTA = "quota 0 all year:"


def _zero_quota_notes(zero: pd.DataFrame, show: int = 5) -> list[str]:
    """One note per role and year listing the reps with no quota (at most ``show`` named)."""
    notes = []
    for (role, year), z in zero.groupby(["role", "year"], sort=True):
        ids = list(z["rep_id"])
        named = ", ".join(f"'{r}'" for r in ids[:show]) + (f" and {len(ids) - show} more" if len(ids) > show else "")
        when = "" if year == 1 else f" in {year}"
        notes.append(f"{_ZERO_QUOTA} {len(ids)} {role} rep(s){when} ({named}) have quota 0 in every month "
                     "they have a row for; their attainment is undefined, so they are left out of the quota "
                     "fit and the attainment checks")
    return notes


def write_history(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a history frame as CSV or Parquet (by extension), atomically."""
    from simlib.io import csv_safe, write_atomic

    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise HistoryError(str(path), [f"unsupported file type '{suffix}', expected .csv or .parquet"])
    if suffix == ".csv":
        write_atomic(p, lambda tmp: csv_safe(frame).to_csv(tmp, index=False))
    else:
        write_atomic(p, lambda tmp: frame.to_parquet(tmp, index=False))
