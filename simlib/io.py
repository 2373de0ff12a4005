"""Files: what ships with simlib, and writing so that a reader never sees half a file.

:data:`SHIPPED` is the folder of scenarios and notebooks installed with the
package (package data, found through :mod:`importlib.resources`), so commands
that use them work from any folder and from an installed wheel.
"""

from __future__ import annotations

import datetime as _dt
import importlib.resources
import math
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

#: scenarios (``scenarios/``) and notebooks (``notebooks/``) shipped with the package
SHIPPED = Path(str(importlib.resources.files("simlib"))) / "shipped"


def write_atomic(path: str | os.PathLike, content: str | Callable[[Path], None]) -> None:
    """Write ``path`` through a temporary file in the same directory, then rename it over ``path``.

    ``content`` is the text to write (UTF-8), or a function that writes the
    temporary file given its path (e.g. a DataFrame's ``to_csv``). Parent
    directories are created; the file is readable by all (0644), like any
    report or scenario a user shares. On any error the temporary file is
    removed and an existing ``path`` is left as it was.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        if callable(content):
            os.close(fd)
            content(Path(tmp))
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(content)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

#: a text cell starting with one of these opens as a formula in a spreadsheet (OWASP "CSV injection")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def csv_text(v: Any) -> Any:
    """A text cell made safe to open in a spreadsheet: a leading single quote when it starts with ``= + - @``,
    TAB or CR (``=HYPERLINK(...)`` is written ``'=HYPERLINK(...)``). Anything but text, and text that is a plain
    number (``-5``), is returned as it is."""
    if isinstance(v, str) and v.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.match(v):
        return "'" + v
    return v


def csv_safe(df: Any) -> Any:
    """A copy of a pandas DataFrame for ``to_csv`` with every text cell and column name passed through
    :func:`csv_text`; numeric and boolean columns are left alone (negative numbers stay numbers). Every CSV
    file simlib writes goes through it; XLSX workbooks store text as text (:func:`write_workbook`)."""
    import pandas as pd

    out = df.rename(columns=csv_text)
    for i in range(out.shape[1]):
        s = out.iloc[:, i]
        if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
            out.isetitem(i, s.map(csv_text))
    return out


def resolve_path(path: str | os.PathLike) -> Path:
    """Find a file named relative to the working directory, else among the files shipped with simlib.

    Notebooks run with their own directory as working directory in JupyterLab
    and with the caller's directory under papermill; a parameter such as
    ``"scenarios/default.yaml"`` works in both, and from an installed package.

    Raises
    ------
    FileNotFoundError
        Naming every place looked at.
    """
    p = Path(path).expanduser()
    tried = [p] if p.is_absolute() else [Path.cwd() / p, SHIPPED / p]
    for cand in tried:
        if cand.exists():
            return cand.absolute()
    raise FileNotFoundError(f"{os.fspath(path)}: no such file (looked at {', '.join(map(str, tried))})")


def jsonable(obj: Any) -> Any:
    """Convert ``obj`` to plain JSON types.

    numpy scalars and arrays become Python numbers and lists, non-finite floats
    become ``None`` (JSON ``null``), DataFrames become lists of records, Series
    become dicts, paths become strings, sets and tuples become lists, and
    objects with a ``to_dict()`` method are converted through it.

    Parameters
    ----------
    obj : Any
        Nested structure of dicts, lists, numbers, strings, numpy and pandas objects.

    Returns
    -------
    Any
        The same structure built only from dict, list, str, int, float, bool and None.

    Raises
    ------
    TypeError
        For an object with no JSON representation (the message names its type).
    """
    import numpy as np
    import pandas as pd

    if obj is None or isinstance(obj, (str, bool)):
        return obj
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, pd.DataFrame):
        return [jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (Path, os.PathLike)):
        return os.fspath(obj)
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    if obj is pd.NA or obj is pd.NaT:
        return None
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return jsonable(obj.to_dict())
    raise TypeError(f"cannot save a {type(obj).__name__} as JSON")


#: Excel number format of each kind of value in a workbook (:func:`write_workbook`)
NUMBER_FORMATS = {
    "money": "#,##0",
    "percent": "0.0%",
    "number": "#,##0.000",
    "integer": "#,##0",
}

#: the first word of a metric's unit (as in :data:`simlib.model.metrics.METRICS`: "money", "money per
#: rep-year", "fraction of quota"...) -> the kind of number format it is shown with (else ``number``)
UNIT_KINDS = {
    "money": "money",
    "fraction": "percent",
    "probability": "percent",
    "percent": "percent",
}


def unit_kind(unit: Any) -> str:
    """The kind of number format (a key of :data:`NUMBER_FORMATS`) for a metric's unit, by its first word."""
    words = str(unit).split()
    return UNIT_KINDS.get(words[0].lower(), "number") if words else "number"

#: Excel's limits: sheet names of at most 31 characters without these characters
_SHEET_BAD = str.maketrans({c: "_" for c in "[]:*?/\\"})


def write_workbook(path: str | os.PathLike, sheets: Mapping[str, Any], *,
                   kinds: Mapping[str, str] | None = None, unit_column: str = "unit") -> None:
    """Write tables to an Excel workbook (.xlsx), one sheet per table, atomically (:func:`write_atomic`).

    Numbers are stored as numeric cells with an Excel number format (money with
    thousands separators, fractions as ``0.0%``), headers are bold, the header
    row is frozen and column widths fit the content. Text cells are stored as
    text (never as formulas).

    Parameters
    ----------
    path : path
        The ``.xlsx`` file.
    sheets : mapping
        Sheet name -> pandas DataFrame (written without its index; reset it
        first to keep it). Names are cut to Excel's 31 characters.
    kinds : mapping, optional
        Column name -> kind of number format (a key of :data:`NUMBER_FORMATS`),
        in every sheet where the column appears.
    unit_column : str
        In a long table with a column of this name (a metric's unit per row,
        see :func:`unit_kind`), the float columns without a kind in ``kinds``
        take the format of the row's unit; else they are shown as ``number``.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    kinds = dict(kinds or {})
    wb = Workbook()
    wb.remove(wb.active)
    used: set[str] = set()
    for name, df in sheets.items():
        title = _sheet_title(str(name), used)
        ws = wb.create_sheet(title)
        cols = [str(c) for c in df.columns]
        ws.append(cols)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        ws.freeze_panes = "A2"
        formats = [_column_format(df, c, kinds, unit_column) for c in df.columns]
        units = df[unit_column].tolist() if unit_column in df.columns else None
        widths = [len(c) for c in cols]
        for i, row in enumerate(df.itertuples(index=False, name=None)):
            values = [_cell_value(v) for v in row]
            ws.append(values)
            for j, v in enumerate(values):
                fmt = formats[j]
                if fmt == "unit":
                    fmt = NUMBER_FORMATS[unit_kind(units[i])]
                cell = ws.cell(row=i + 2, column=j + 1)
                if isinstance(v, str):
                    cell.data_type = "s"  # text stays text: '=1+1' from a file is not a formula
                elif fmt and isinstance(v, (int, float)) and not isinstance(v, bool):
                    cell.number_format = fmt
                widths[j] = max(widths[j], _shown_width(v, fmt))
        for j, wdt in enumerate(widths):
            ws.column_dimensions[get_column_letter(j + 1)].width = min(60, wdt + 2)
    if not wb.sheetnames:
        wb.create_sheet("empty")
    write_atomic(path, lambda tmp: wb.save(tmp))


def _sheet_title(name: str, used: set[str]) -> str:
    base = (name.translate(_SHEET_BAD).strip("'") or "sheet")[:31]
    title, k = base, 2
    while title.lower() in used:
        suffix = f" ({k})"
        title, k = base[: 31 - len(suffix)] + suffix, k + 1
    used.add(title.lower())
    return title


def _column_format(df: Any, col: Any, kinds: Mapping[str, str], unit_column: str) -> str | None:
    """A column's Excel number format: its kind in ``kinds``, "unit" (per row), integers, or plain numbers."""
    import pandas as pd

    if str(col) in kinds:
        return NUMBER_FORMATS[kinds[str(col)]]
    s = df[col]
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        return None
    if pd.api.types.is_integer_dtype(s):
        return NUMBER_FORMATS["integer"]
    return "unit" if unit_column in df.columns else NUMBER_FORMATS["number"]


def _cell_value(v: Any) -> Any:
    """A cell's value: Python numbers, bools and text; NaN, inf and missing values as empty cells."""
    import numpy as np
    import pandas as pd

    if v is None or (not isinstance(v, str) and not isinstance(v, (list, tuple, dict)) and pd.isna(v)):
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, (_dt.datetime, _dt.date)):
        return v
    return str(v)


def _shown_width(v: Any, fmt: str | None) -> int:
    if v is None:
        return 0
    if isinstance(v, float):
        return len(f"{v:,.0f}") + (4 if fmt in (None, NUMBER_FORMATS["number"]) else 0)
    return len(str(v))
