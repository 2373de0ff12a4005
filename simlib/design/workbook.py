"""Plan workbooks: a scenario's plans as an XLSX workbook finance can read and edit, and back (``simlib plan``).

The workbook is made by walking the plan schema of :mod:`simlib.scenario`
(the pydantic models ``Plan``, ``RolePlan``, ``Component`` ...), not from a
fixed list of fields, so a field added to the plan language gets its column
(or its sheet) without a change here:

- a model's scalar fields are columns of its sheet (a nested model such as
  ``quota`` or ``team`` is flattened into ``quota method``, ``quota level`` ...);
- a mapping of models (``Plan.roles``) and a list of models
  (``RolePlan.components``, ``Component.tiers``, ``Scorecard.measures`` ...),
  at any depth and also inside a nested model (a scorecard's
  ``payout.intervals``), get a sheet of their own, one row per item, with key
  columns naming the parent (plan, role, component ...); an item with a
  ``name`` is keyed by it, an item without one that has rows of its own (a
  modifier's points, a scored measure's intervals) by its position;
- a list of pairs (``points``, ``curve``) gets a sheet with one column per element;
- a list of names (a gate's components) is one cell, comma-separated.

Rows of a list are in the order of the sheet. Every value is written, defaults
included; an empty cell means "not set" (the schema's default, or none).
The rest of the scenario (roles, market, behaviour ...) is kept as YAML text
in the ``Scenario`` sheet, so that a workbook converts back to the whole
scenario on its own; ``--into`` takes it from a scenario file instead. The
files a scenario names (``roster``, ``history``) are named from the folder of
the file being written (the workbook, the imported YAML): relative when under
it, else absolute.

Reading back validates the result as a scenario; each problem is reported
with its sheet and cell and what was expected.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from simlib.errors import Problem, ScenarioError
from simlib.scenario import Plan, Scenario, roster_path, scenario_from_dict
from simlib.tables import MERGED, NO_SAVED_VALUE, xlsx_gaps

#: largest workbook read, bytes; most rows in one sheet
MAX_BYTES, MAX_ROWS = 16 * 2**20, 100_000
#: sheets of the workbook besides the plan tables
README, SCENARIO_SHEET = "README", "Scenario"
#: readable sheet names by the chain of plan fields that leads to a table
SHEETS = {(): "Plans", ("roles",): "Role plans", ("roles", "components"): "Components",
          ("roles", "components", "points"): "Curve points", ("roles", "components", "tiers"): "Tiers",
          ("roles", "components", "steps"): "Steps", ("roles", "gates"): "Gates",
          ("roles", "modifiers"): "Modifiers", ("roles", "modifiers", "points"): "Modifier points",
          ("roles", "scorecards"): "Scorecards", ("roles", "scorecards", "measures"): "Scored measures",
          ("roles", "scorecards", "measures", "intervals"): "Measure intervals",
          ("roles", "scorecards", "measures", "curve"): "Measure curves",
          ("roles", "scorecards", "payout", "intervals"): "Payout intervals",
          ("roles", "scorecards", "payout", "curve"): "Payout curves"}
#: key column of an item of a mapping or list field
KEYS = {"plans": "plan", "roles": "role", "components": "component", "gates": "gate", "modifiers": "modifier",
        "scorecards": "scorecard", "measures": "scored measure"}
#: column headers of the elements of a list of pairs
PAIRS = {("roles", "components", "points"): ("attainment", "payout multiple"),
         ("roles", "modifiers", "points"): ("value", "multiplier"),
         ("roles", "scorecards", "measures", "curve"): ("attainment", "score"),
         ("roles", "scorecards", "payout", "curve"): ("composite score", "payout coefficient")}
#: scenario fields naming files relative to the scenario file (re-based when the workbook is written elsewhere)
FILE_FIELDS = ("roster", "history")
#: fields shown as money (whole numbers with thousands separators)
MONEY = {"base_salary", "target_incentive", "company_target", "value", "amount"}
CURRENT = "current plan"
NONE_LIST = "(none)"


# --------------------------------------------------------------------------
# the schema, walked
# --------------------------------------------------------------------------


def _strip(ann: Any) -> tuple[Any, bool]:
    """The annotation without ``Annotated`` and ``None``: (core, optional)."""
    optional = False
    while True:
        origin = typing.get_origin(ann)
        if origin is typing.Annotated:
            ann = typing.get_args(ann)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            optional = optional or len(args) < len(typing.get_args(ann))
            if len(args) != 1:
                return ann, optional
            ann = args[0]
        else:
            return ann, optional


def _model(ann: Any) -> type[BaseModel] | None:
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def _kind(info: FieldInfo) -> tuple[str, Any]:
    """How a field is laid out: ("nested", model), ("list", model), ("dict", model), ("pairs", n), ("names", None), ("scalar", None)."""
    ann, _ = _strip(info.annotation)
    if _model(ann):
        return "nested", ann
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is dict and _model(_strip(args[1])[0]):
        return "dict", _strip(args[1])[0]
    if origin is list:
        item, _ = _strip(args[0])
        if _model(item):
            return "list", item
        if typing.get_origin(item) is tuple:
            return "pairs", len(typing.get_args(item))
        if item in (str, int, float) or typing.get_origin(item) is typing.Literal:
            return "names", None
    if origin in (list, dict, tuple, set, frozenset):  # a shape with no layout yet: say so, rather than lose it
        raise TypeError(f"plan workbook: no sheet layout for a field of type {info.annotation}")
    return "scalar", None


@dataclass
class Column:
    """One column of a sheet: its header and the path of its value inside a row's item."""

    header: str
    path: tuple[str, ...]
    info: FieldInfo | None = None
    names: bool = False  # a list of names, comma-separated


@dataclass
class Table:
    """One sheet: the items of one mapping or list field of the plan schema."""

    sheet: str
    chain: tuple[str, ...]
    keys: list[str]  # key columns: the parents' keys, then this item's own (if any)
    own_key: str | None  # "name", "position", a mapping key, or None (rows in order)
    columns: list[Column]
    container: str  # "dict", "list" or "pairs"
    children: list[Table] = field(default_factory=list)
    #: where the mapping or list sits in the parent's item (``("payout", "intervals")`` under a nested model)
    field: tuple[str, ...] = ()


def _alias(name: str, info: FieldInfo) -> str:
    return info.alias or name


def _columns(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> tuple[list[Column], list[tuple[str, str, Any]]]:
    """A model's columns (nested models flattened) and its child fields (path in the item, kind, model or arity)."""
    cols, kids = [], []
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        key = _alias(name, info)
        kind, arg = _kind(info)
        if kind == "nested":
            sub, subkids = _columns(arg, (*prefix, key))
            cols += sub
            kids += subkids
        elif kind in ("list", "dict", "pairs"):
            kids.append(((*prefix, key), kind, arg))
        else:
            cols.append(Column(" ".join((*prefix, key)).replace("_", " "), (*prefix, key), info, kind == "names"))
    return cols, kids


def _table(model: type[BaseModel] | None, chain: tuple[str, ...], parent_keys: list[str], kind: str, arg: Any,
           path: tuple[str, ...] = ()) -> Table:
    """The table of the field at ``chain`` (``path`` inside its parent's item) and the tables under it."""
    sheet = SHEETS.get(chain) or " ".join(chain[1:] or chain).replace("_", " ").capitalize()[:31]
    if kind == "pairs":
        names = PAIRS.get(chain) or tuple(f"value {i + 1}" for i in range(arg))
        cols = [Column(n, (str(i),)) for i, n in enumerate(names)]
        return Table(sheet, chain, parent_keys, None, cols, "pairs", field=path)
    cols, kids = _columns(model)
    has_name = "name" in model.model_fields
    if kind == "dict":
        own = "key"
    elif has_name:
        own, cols = "name", [c for c in cols if c.path != ("name",)]
    else:
        own = "position" if kids else None
    key = KEYS.get(chain[-1] if chain else "plans", (chain[-1] if chain else "plans").rstrip("s"))
    parents = {_norm(k) for k in parent_keys}  # a field named like a parent's key column (a version's plan)
    cols = [Column(f"{key} {c.header}", c.path, c.info, c.names) if _norm(c.header) in parents else c for c in cols]
    taken = {_norm(h) for h in (*parent_keys, *(c.header for c in cols))}
    while _norm(key) in taken:  # a key column must not read as a field's column
        key += " #"
    keys = parent_keys + ([key] if own else [])
    t = Table(sheet, chain, keys, own, cols, kind, field=path)
    t.children = [_table(m if k != "pairs" else None, (*chain, *f), keys, k, m, f) for f, k, m in kids]
    return t


def plan_tables() -> Table:
    """The tables of the plan schema, rooted at the ``Plans`` sheet (one row per plan)."""
    root = _table(Plan, (), [], "dict", Plan)
    root.columns.append(Column(CURRENT, ()))
    used: set[str] = set()
    for t in walk(root):  # sheet names are unique (Excel compares them without case)
        base, n = t.sheet, 1
        while t.sheet.lower() in used:
            n += 1
            t.sheet = f"{base[:28]} {n}"
        used.add(t.sheet.lower())
    return root


def walk(t: Table) -> Iterator[Table]:
    """``t`` and every table under it, parents first."""
    yield t
    for c in t.children:
        yield from walk(c)


def _choices(info: FieldInfo | None) -> list[str] | None:
    """The allowed words of a ``Literal`` field (a drop-down list in the sheet), else None."""
    if info is None:
        return None
    ann, _ = _strip(info.annotation)
    if typing.get_origin(ann) is typing.Literal:
        return [str(a) for a in typing.get_args(ann)]
    return None


def _number_format(col: Column) -> str:
    info = col.info
    if info is None:
        return "General"
    if col.path[-1] in MONEY:
        return "#,##0.00"
    le = [m.le for m in info.metadata if hasattr(m, "le")]
    ge = [m.ge for m in info.metadata if hasattr(m, "ge")]
    if 1.0 in le and 0.0 in ge:
        return "0.0%"
    return "General"


def _meaning(col: Column) -> str:
    """What a column holds, for the README sheet: the field's description, type and allowed values."""
    info = col.info
    if info is None:
        return "a number" if col.path and col.path[0].isdigit() else "yes on the plan in force (the scenario's current_plan)"
    parts = [info.description or ""]
    choices = _choices(info)
    if choices:
        parts.append(f"one of: {', '.join(choices)}")
    elif col.names:
        parts.append(f"names separated by commas; empty = all, {NONE_LIST} = none")
    else:
        ann = _strip(info.annotation)[0]
        parts.append("a number or 'quota'" if typing.get_origin(ann) in (typing.Union, types.UnionType)
                     else getattr(ann, "__name__", str(ann)).replace("float", "a number").replace("int", "a whole number")
                     .replace("bool", "TRUE or FALSE").replace("str", "text"))
    if not info.is_required():
        d = info.get_default(call_default_factory=True)
        parts.append("empty = not set" if d is None else f"default {d if not isinstance(d, BaseModel) else '(see columns)'}")
    return "; ".join(p for p in parts if p)


# --------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------


def _get(item: dict, path: tuple[str, ...]) -> Any:
    for p in path:
        if not isinstance(item, dict):
            return None
        item = item.get(p)
    return item


def _cell_value(col: Column, v: Any) -> Any:
    if col.names and isinstance(v, list):
        return ", ".join(map(str, v)) if v else NONE_LIST
    return v


def _emit(t: Table, parent_keys: tuple, value: Any, rows: dict[str, list[list]], current: str) -> None:
    """The rows of table ``t`` for one parent's ``value`` (its mapping or list), and their children's, into ``rows``."""
    if not value:
        return
    items = list(value.items()) if t.container == "dict" else [(i + 1, v) for i, v in enumerate(value)]
    for k, item in items:
        own = {"key": (k,), "position": (k,), "name": (item.get("name"),) if isinstance(item, dict) else ()}
        keys = parent_keys + own.get(t.own_key, ())
        if t.container == "pairs":
            vals = list(item)
        else:
            vals = [("yes" if k == current else None) if c.header == CURRENT else _cell_value(c, _get(item, c.path))
                    for c in t.columns]
        rows.setdefault(t.sheet, []).append([*keys, *vals])
        for child in t.children:
            _emit(child, keys, _get(item, child.field), rows, current)


def export_workbook(scenario: Scenario, path: str | Path) -> None:
    """Write ``scenario``'s plans as an XLSX workbook (see the module docstring), atomically."""
    from openpyxl import Workbook

    from simlib.io import write_atomic

    root = plan_tables()
    data = scenario.model_dump(by_alias=True, mode="json")
    rows: dict[str, list[list]] = {}
    _emit(root, (), data["plans"], rows, scenario.current_plan)
    wb = Workbook()
    _readme(wb.active, scenario, root)
    for t in walk(root):
        _sheet(wb.create_sheet(t.sheet), t, rows.get(t.sheet, []))
    _rest_sheet(wb.create_sheet(SCENARIO_SHEET), _rebased(_rest_of(scenario), scenario.source, Path(path).parent))
    write_atomic(path, lambda tmp: wb.save(tmp))


def _text(cell, value: Any) -> None:
    """Put ``value`` in ``cell``; text is always text (a leading '=' is not a formula)."""
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"


def _sheet(ws, t: Table, rows: list[list]) -> None:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    headers = [*t.keys, *(c.header for c in t.columns)]
    for j, h in enumerate(headers, start=1):
        _text(ws.cell(1, j), h)
        ws.cell(1, j).font = Font(bold=True)
        ws.column_dimensions[get_column_letter(j)].width = max(12, len(h) + 2)
    for i, row in enumerate(rows, start=2):
        for j, v in enumerate(row, start=1):
            _text(ws.cell(i, j), v)
    n = len(t.keys)
    for j, c in enumerate(t.columns, start=n + 1):
        letter = get_column_letter(j)
        fmt = _number_format(c)
        for i in range(2, len(rows) + 2):
            ws.cell(i, j).number_format = fmt
        choices = _choices(c.info)
        if choices:
            dv = DataValidation(type="list", formula1=f'"{",".join(choices)}"', allow_blank=True)
            dv.error, dv.errorTitle = f"expected one of {', '.join(choices)}", c.header
            ws.add_data_validation(dv)
            dv.add(f"{letter}2:{letter}{len(rows) + 200}")
    ws.freeze_panes = "A2"


def _readme(ws, scenario: Scenario, root: Table) -> None:
    from openpyxl.styles import Font

    ws.title = README
    lines = [
        [f"Incentive plans of scenario '{scenario.name}' ({scenario.currency}), written by simlib plan export"],
        ["Each sheet is one part of the plans; one row per item, the first columns name the plan, role, component ... "
         "it belongs to. Edit values, add or delete rows (rows of a list are read in sheet order), then: "
         "simlib plan import THIS.xlsx --out scenario.yaml"],
        ["An empty cell means not set (the default). Money is per year; attainment and weights are fractions "
         "(100% = 1). The 'Scenario' sheet keeps the rest of the scenario (roles, market, behaviour) as YAML text."],
        [],
        ["sheet", "column", "meaning"],
    ]
    for t in walk(root):
        for k in t.keys:
            lines.append([t.sheet, k, "key: names the item this row belongs to"])
        lines += [[t.sheet, c.header, _meaning(c)] for c in t.columns]
    for i, line in enumerate(lines, start=1):
        for j, v in enumerate(line, start=1):
            _text(ws.cell(i, j), v)
    for j in (1, 2, 3):
        ws.cell(5, j).font = Font(bold=True)
    ws.cell(1, 1).font = Font(bold=True, size=13)
    ws.column_dimensions["A"].width, ws.column_dimensions["B"].width, ws.column_dimensions["C"].width = 18, 28, 90


def _rest_sheet(ws, rest: dict) -> None:
    _text(ws.cell(1, 1), "yaml: the rest of the scenario (not the plans), one line per row; kept as written")
    text = yaml.safe_dump(rest, sort_keys=False, allow_unicode=True, width=100)
    for i, line in enumerate(text.splitlines(), start=2):
        _text(ws.cell(i, 1), line)
    ws.column_dimensions["A"].width = 100


# --------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------


def _norm(text: Any) -> str:
    return " ".join(str(text).replace("_", " ").split()).lower()


@dataclass
class _Reader:
    """State of one import: the workbook, the plans built so far, where each value came from, problems."""

    source: str
    plans: dict = field(default_factory=dict)
    #: key tuple -> (item dict, dotted field path) of items that have rows of their own
    parents: dict = field(default_factory=dict)
    #: dotted field path -> "sheet 'S', cell C7"
    cells: dict = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    current: list[tuple[str, str]] = field(default_factory=list)

    def bad(self, where: str, message: str) -> None:
        self.problems.append(Problem(self.source, where, message))


def _where(sheet: str, row: int, col: int) -> str:
    from openpyxl.utils import get_column_letter

    return f"sheet '{sheet}', cell {get_column_letter(col)}{row}"


def _key(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _header(rd: _Reader, t: Table, ws_rows: list[tuple]) -> dict[int, Any] | None:
    """Column index -> key name or Column, from the sheet's first row; unknown or missing key columns are problems."""
    known: dict[str, Any] = {_norm(k): k for k in t.keys}
    known.update({_norm(c.header): c for c in t.columns})
    if not ws_rows:
        rd.bad(f"sheet '{t.sheet}'", f"empty: expected a header row with {', '.join(t.keys)}")
        return None
    out, seen = {}, set()
    for j, h in enumerate(ws_rows[0], start=1):
        if h is None:
            continue
        col = known.get(_norm(h))
        if col is None:
            rd.bad(_where(t.sheet, 1, j), f"unknown column {str(h)[:40]!r}, expected one of "
                                          f"{[*t.keys, *(c.header for c in t.columns)]}")
            continue
        out[j] = col
        seen.add(_norm(h))
    missing = [k for k in t.keys if _norm(k) not in seen]
    if missing:
        rd.bad(f"sheet '{t.sheet}'", f"key column(s) {missing} missing from the first row")
        return None
    return out


def _set(item: dict, path: tuple[str, ...], value: Any) -> None:
    for p in path[:-1]:
        item = item.setdefault(p, {})
    item[path[-1]] = value


def _value(col: Column, v: Any) -> Any:
    """A cell's value for the scenario: spaces typed around a word dropped (a text's line breaks kept)."""
    if isinstance(v, str):
        v = v.strip(" \t")
        if col.names:
            return [] if v == NONE_LIST else [x.strip() for x in v.split(",") if x.strip()]
    return v


def _read_row(rd: _Reader, t: Table, header: dict[int, Any], r: int, row: tuple) -> None:
    """One row of table ``t``: find its parent, build its item, record where each value came from."""
    cells = {j: row[j - 1] for j in header if j - 1 < len(row)}
    keyvals = {header[j]: _key(v) for j, v in cells.items() if isinstance(header[j], str)}
    n_parent = len(t.keys) - (1 if t.own_key else 0)
    pkeys = tuple(keyvals.get(k) for k in t.keys[:n_parent])
    kcol = {k: j for j, k in header.items() if isinstance(k, str)}
    for k in t.keys:
        if keyvals.get(k) is None:
            rd.bad(_where(t.sheet, r, kcol[k]), f"empty key cell: expected the {k} this row belongs to")
            return
    parent = rd.parents.get(pkeys) if n_parent else (rd.plans, "plans")
    if parent is None:  # point at the first key that names nothing
        first = next(i for i in range(1, n_parent + 1) if pkeys[:i] not in rd.parents)
        rd.bad(_where(t.sheet, r, kcol[t.keys[first - 1]]),
               f"{', '.join(f'{k} {v!r}' for k, v in zip(t.keys, pkeys[:first], strict=False))}: "
               f"no such {t.keys[first - 1]} in the sheets above")
        return
    pobj, ppath = parent
    container = pobj
    for p in t.field[:-1]:
        container = container.setdefault(p, {})
    if t.field:
        container = container.setdefault(t.field[-1], {} if t.container == "dict" else [])
    base = ".".join((ppath, *t.field))
    item: Any = [None] * len(t.columns) if t.container == "pairs" else {}
    own = keyvals.get(t.keys[-1]) if t.own_key else None
    if t.container == "dict":
        if own in container:
            rd.bad(_where(t.sheet, r, kcol[t.keys[-1]]), f"{t.keys[-1]} {own!r} appears twice")
            return
        container[own] = item
        path = f"{base}.{own}"
    else:
        container.append(item)
        path = f"{base}.{len(container) - 1}"
    if t.own_key == "name":
        item["name"] = own
    rd.cells.setdefault(path, _where(t.sheet, r, 1))
    for j, v in cells.items():
        col = header[j]
        if isinstance(col, str) or v is None or (isinstance(v, str) and not v.strip()):
            continue
        where = _where(t.sheet, r, j)
        if col.header == CURRENT:
            if _norm(v) in ("yes", "y", "true", "1", "x"):
                rd.current.append((own, where))
            continue
        if t.container == "pairs":
            item[int(col.path[0])] = v
            rd.cells[f"{path}.{col.path[0]}"] = where
        else:
            _set(item, col.path, _value(col, v))
            rd.cells[f"{path}.{'.'.join(col.path)}"] = where
    if t.own_key:
        rd.parents[(*pkeys, own)] = (item, path)


def _renamed_sheets(names: list[str], rd: _Reader, root: Table, wb=None) -> None:
    """A sheet the reader does not know whose name is close to one the workbook lacks, or (with ``wb``) whose first
    row holds that sheet's key columns and most of its columns: renamed, so its rows would be left out (sheet names
    are exact). Other sheets of the user's own (notes) are ignored."""
    tables = list(walk(root))
    known = [t.sheet for t in tables]
    missing = [s for s in known if s not in names]
    lower = {s.lower(): s for s in missing}
    for name in names:
        if name in known or name in (README, SCENARIO_SHEET):
            continue
        close = difflib.get_close_matches(name.lower(), list(lower), n=1, cutoff=0.6)
        if close:
            rd.bad(f"sheet '{name}'", f"not a sheet a plan workbook has, so its rows would not be read; expected "
                                      f"'{lower[close[0]]}', which the workbook lacks: rename the sheet back "
                                      f"(sheet names are exact)")
            continue
        if wb is None:
            continue
        first = next(wb[name].iter_rows(max_row=1, values_only=True), ())
        header = {_norm(h) for h in first if h is not None}
        for t in tables:
            cols = {_norm(k) for k in t.keys} | {_norm(c.header) for c in t.columns}
            if (t.sheet in missing and {_norm(k) for k in t.keys} <= header
                    and len(header & cols) >= max(len(t.keys) + 1, len(cols) // 2) and header <= cols):
                rd.bad(f"sheet '{name}'", f"not a sheet a plan workbook has, so its rows would not be read; its columns "
                                          f"are those of '{t.sheet}', which the workbook lacks: rename the sheet back "
                                          f"(sheet names are exact)")
                break


def _gaps(path: Path, wb, rd: _Reader) -> None:
    """Formula cells without a saved value and merged cells in the sheets read (not the README): each would read as
    an empty cell, so a value would silently become its default (:func:`simlib.tables.xlsx_gaps`)."""
    for name in wb.sheetnames:
        if name == README:
            continue
        formulas, merged = xlsx_gaps(path, wb[name])
        for _, _, ref in formulas:
            rd.bad(f"sheet '{name}', cell {ref}", NO_SAVED_VALUE)
        for *_, ref in merged:
            rd.bad(f"sheet '{name}', cells {ref}", MERGED)


def _read_sheets(wb, rd: _Reader, root: Table) -> None:
    for t in walk(root):
        if t.sheet not in wb.sheetnames:
            if not t.chain:
                rd.bad(f"sheet '{t.sheet}'", "missing: expected one row per plan")
            continue
        ws = wb[t.sheet]
        rows = []
        for i, row in enumerate(ws.iter_rows(values_only=True)):
            if i > MAX_ROWS:
                rd.bad(f"sheet '{t.sheet}'", f"more than {MAX_ROWS:,} rows; refused")
                return
            rows.append(row)
        header = _header(rd, t, rows)
        if header is None:
            continue
        for r, row in enumerate(rows[1:], start=2):
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in row):
                continue
            _read_row(rd, t, header, r, row)


def _rest(wb, rd: _Reader) -> dict | None:
    """The rest of the scenario from the ``Scenario`` sheet (YAML text, one line per row), or None when absent."""
    if SCENARIO_SHEET not in wb.sheetnames:
        return None
    lines = []
    for i, (v,) in enumerate(wb[SCENARIO_SHEET].iter_rows(min_row=2, max_col=1, values_only=True)):
        if i > MAX_ROWS:
            rd.bad(f"sheet '{SCENARIO_SHEET}'", f"more than {MAX_ROWS:,} rows; refused")
            return None
        lines.append("" if v is None else str(v))
    try:
        data = yaml.safe_load("\n".join(lines))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"sheet '{SCENARIO_SHEET}', cell A{mark.line + 2}" if mark else f"sheet '{SCENARIO_SHEET}'"
        rd.bad(where, f"not valid YAML: {str(getattr(exc, 'problem', None) or exc)[:200]}")
        return None
    if not isinstance(data, dict):
        rd.bad(f"sheet '{SCENARIO_SHEET}'", "expected the YAML of a scenario without its plans (name, roles, ...)")
        return None
    return data


def _locate(rd: _Reader, field_path: str) -> str:
    """The sheet and cell a scenario field path came from (its nearest recorded ancestor), with the path."""
    parts = field_path.split(".")
    for n in range(len(parts), 0, -1):
        where = rd.cells.get(".".join(parts[:n]))
        if where:
            return f"{where} ({field_path})"
    return field_path


def read_workbook(path: str | Path, into: Scenario | None = None) -> Scenario:
    """A scenario from a plan workbook: its plans, with the rest from ``into`` or from the workbook's ``Scenario`` sheet.

    Raises
    ------
    ScenarioError
        Every problem, each with the workbook, the sheet and cell, and what was expected.
    """
    from openpyxl import load_workbook

    src = str(path)
    p = Path(path)
    if not p.is_file():
        raise ScenarioError([Problem(src, "", "file not found" if not p.exists() else "not a file")])
    if p.stat().st_size > MAX_BYTES:
        raise ScenarioError([Problem(src, "", f"larger than {MAX_BYTES // 2**20} MiB; expected a plan workbook")])
    try:
        wb = load_workbook(p, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a file that is not a workbook
        raise ScenarioError([Problem(src, "", f"not an .xlsx workbook ({type(exc).__name__}: {str(exc)[:120]})")]) from None
    rd = _Reader(src)
    try:
        _renamed_sheets(list(wb.sheetnames), rd, plan_tables(), wb)
        _gaps(p, wb, rd)
        if rd.problems:  # the rows of a renamed sheet's children would all be reported as orphans
            raise ScenarioError(rd.problems)
        _read_sheets(wb, rd, plan_tables())
        rest = _rest(wb, rd) if into is None else _rebased(_rest_of(into), into.source, p.parent)
    finally:
        wb.close()
    if rest is None and not rd.problems:
        rd.bad(f"sheet '{SCENARIO_SHEET}'", "missing: the workbook does not carry the rest of the scenario; "
                                            "pass --into SCENARIO to take it from a scenario file")
    if len(rd.current) > 1:
        rd.bad(rd.current[1][1], f"'{CURRENT}' is marked on {len(rd.current)} plans; mark exactly one")
    if rd.problems:
        raise ScenarioError(rd.problems)
    for plan in rd.plans.values():  # a role plan without rows in 'Components' has none (a SPIFF-only plan)
        for rp in (plan.get("roles") or {}).values() if isinstance(plan, dict) else ():
            if isinstance(rp, dict):
                rp.setdefault("components", [])
    data = dict(rest)
    data["plans"] = rd.plans
    if rd.current:
        data["current_plan"] = rd.current[0][0]
    try:
        return scenario_from_dict(data, src)
    except ScenarioError as exc:
        raise ScenarioError([Problem(src, _locate(rd, p.field), p.message) for p in exc.problems]) from None


def _rest_of(scenario: Scenario) -> dict:
    """A scenario's data without its plans (the checks included), as plain values."""
    data = scenario.model_dump(by_alias=True, mode="json")
    data.pop("plans")
    if scenario.checks is not None:
        data["checks"] = scenario.checks.model_dump(mode="json")
    return data


def _rebased(data: dict, source: str, folder: Path) -> dict:
    """A scenario's ``data`` with the files it names (roster, history), named relative to ``source``, named from
    ``folder`` instead: relative when under it, else absolute."""
    out = dict(data)
    for key in FILE_FIELDS:
        if isinstance(out.get(key), str):
            target, base = roster_path(out[key], source).resolve(), folder.resolve()
            out[key] = target.relative_to(base).as_posix() if target.is_relative_to(base) else str(target)
    return out


def scenario_yaml(scenario: Scenario, out: str | Path | None = None) -> str:
    """The YAML text of a validated scenario (full plans), as ``simlib plan import`` writes it.

    With ``out`` (the file the text is written to), the roster and history
    files are named from ``out``'s folder, so the written scenario finds them.
    """
    data = _rest_of(scenario)
    if out is not None:
        data = _rebased(data, scenario.source, Path(out).parent)
    data["plans"] = scenario.model_dump(by_alias=True, mode="json")["plans"]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
