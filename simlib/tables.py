"""Reading users' tables: CSV, XLSX and Parquet files as cells of text, one place for all of them.

History files (:mod:`simlib.fit.history`) and rosters (:mod:`simlib.roster`)
are read here, so that what a spreadsheet export really looks like is
handled the same way everywhere (docs/history-format.md, "Files"):

- CSV (``.csv``, ``.txt``; ``.tsv`` is tab-separated): UTF-8 with or without
  a byte-order mark; the delimiter is whichever of ``, ; TAB |`` the header
  row has most of; blank lines are skipped (and counted in line numbers).
- XLSX (``.xlsx``, ``.xlsm``; openpyxl): the first worksheet; the header is
  its first non-blank row; cells formatted as dates become ISO dates
  (``2025-03-01``); a row's number is the spreadsheet's row number.
- Parquet (``.parquet``, ``.pq``): dates become ISO dates.

Every cell comes back as stripped text; the caller parses it (with
:func:`parse_number` and :func:`parse_date` for numbers and dates) and
reports a bad cell at :meth:`Table.where`. Inputs are bounded: at most
:data:`MAX_TABLE_BYTES` on disk and :data:`MAX_TABLE_ROWS` data rows.
"""

from __future__ import annotations

import csv
import datetime
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from simlib.errors import SimlibError

if TYPE_CHECKING:  # pandas loads when a file is read, so that importing the scenario language stays light
    import pandas as pd

#: largest table file accepted, bytes
MAX_TABLE_BYTES = 256 * 2**20
#: most data rows accepted in one table (a 20,000-rep organisation's 8 years of months)
MAX_TABLE_ROWS = 2_000_000
CSV_SUFFIXES = (".csv", ".txt", ".tsv")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
PARQUET_SUFFIXES = (".parquet", ".pq")

_THOUSANDS = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d*)?$")
#: a plain decimal number (no underscores, no words such as 'inf' or 'nan')
DECIMAL = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
#: Excel's day 0 (serial dates count days from here; the 1900 leap-year bug is before 1900-03-01)
_EXCEL_EPOCH = datetime.date(1899, 12, 30)
#: serial numbers read as Excel dates: 1954-10-04 to 2119-01-29
_EXCEL_SERIALS = (20_000, 80_000)
CURRENCY_SIGNS = "$€£¥"
#: a currency: an ISO 4217-style code of 3 uppercase letters (EUR, USD, CHF), in a scenario and in a table
CURRENCY_CODE = re.compile(r"[A-Z]{3}")


def currency_code_problem(cur: str) -> str | None:
    """Why ``cur`` is not a currency code (:data:`CURRENCY_CODE`), with the uppercase form when that is
    one; None when it is one."""
    if CURRENCY_CODE.fullmatch(cur):
        return None
    hint = f", e.g. '{cur.upper()}'" if CURRENCY_CODE.fullmatch(cur.upper()) else " such as EUR, USD or CHF"
    return f"'{cur}' is not a currency code: expected 3 uppercase letters (ISO 4217){hint}"


@dataclass(frozen=True)
class RowProblem:
    """One bad row: where it is and why it was rejected.

    Attributes
    ----------
    source : str
        The file.
    where : str
        ``"line 7"`` (CSV, the header is line 1) or ``"row 6"`` (XLSX: the sheet's row; Parquet: 1-based).
    reason : str
        Every reason the row was rejected, ``"; "``-separated; each names its column.
    columns : tuple of str
        The columns of the bad cells, in the order of the reasons (the format's
        names, after aliases; ``rep_id`` and ``month`` for a duplicate rep-month).
    """

    source: str
    where: str
    reason: str
    columns: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.source}: {self.where}: {self.reason}"


class TableError(SimlibError):
    """A table file could not be read at all (not found, too large, not the format its name says)."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(f"{source}: {p}" for p in self.problems))


@dataclass
class Table:
    """A file's cells as text, and where each data row is in the file.

    Attributes
    ----------
    frame : DataFrame
        One column per header cell (names as written), every cell a stripped
        string (``""`` when empty).
    source : str
        The file.
    numbers : list of int
        The line (CSV, the header is line 1), spreadsheet row (XLSX) or
        1-based row (Parquet) of each row of ``frame``.
    unit : str
        ``"line"`` (CSV) or ``"row"`` (XLSX, Parquet).
    notes : list of str
        What was read differently from a plain table (the sheet used, blank rows skipped).
    """

    frame: pd.DataFrame
    source: str
    numbers: list[int]
    unit: str
    notes: list[str] = field(default_factory=list)

    def where(self, i: int) -> str:
        """Where data row ``i`` (0-based) is in the file: ``"line 7"`` or ``"row 7"``."""
        return f"{self.unit} {self.numbers[i]}"


@dataclass
class Rows:
    """The cells of a table, column by column, and why its bad rows were rejected.

    Attributes
    ----------
    col : dict column -> list of str
        The stripped cells of each column (names normalised and aliases read).
    n : int
        Number of data rows.
    table : Table
        The file read (:meth:`Table.where` says where a row is).
    bad : dict row index -> list of str
        The reasons each bad row was rejected, in the order they were found.
    cols : dict row index -> list of str
        The columns of each bad row's bad cells.
    """

    col: dict[str, list[str]]
    n: int
    table: Table
    bad: dict[int, list[str]] = field(default_factory=dict)

    def where(self, i: int) -> str:
        """Where row ``i`` is in the file: ``"line 7"`` (CSV), ``"row 6"`` (XLSX: the sheet's row; Parquet: 1-based)."""
        return self.table.where(i)

    cols: dict[int, list[str]] = field(default_factory=dict)

    def flag(self, i: int, reason: str, *columns: str) -> None:
        """Record that row ``i`` is bad, why, and the columns of the bad cells."""
        self.bad.setdefault(i, []).append(reason)
        self.cols.setdefault(i, []).extend(c for c in columns if c not in self.cols[i])

    def problems(self) -> list[RowProblem]:
        """Every bad row, in file order, with all its reasons."""
        return [RowProblem(self.table.source, self.where(i), "; ".join(rs), tuple(self.cols.get(i, ())))
                for i, rs in sorted(self.bad.items())]

    @classmethod
    def of(cls, frame: pd.DataFrame, table: Table) -> Rows:
        """The rows of ``frame`` (the table's cells, columns renamed by :func:`check_columns`)."""
        return cls({c: frame[c].tolist() for c in frame.columns}, len(frame), table)



def norm_name(name: object) -> str:
    """A column name as matched: lower case, runs of spaces and punctuation read as ``_`` (``Rep ID`` is ``rep_id``)."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def check_columns(raw: pd.DataFrame, required: tuple[str, ...],
                  aliases: dict[str, str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Normalise the column names (:func:`norm_name`), read aliases, and check the required columns are there.

    Parameters
    ----------
    raw : DataFrame
        A table's cells (:attr:`Table.frame`); its column names are normalised in place.
    required : tuple of str
        Columns the format needs.
    aliases : dict, optional
        Other names of columns, read as the format's names when the format's name is absent.

    Returns
    -------
    raw : DataFrame
        With aliases renamed to the format's names.
    notes : list of str
        The columns read under an alias.

    Raises
    ------
    TableError
        Duplicate or missing required columns, or no data rows.
    """
    raw.columns = [norm_name(c) for c in raw.columns]
    notes: list[str] = []
    renamed: dict[str, str] = {}
    for c in raw.columns:
        target = (aliases or {}).get(c)
        if target and target not in raw.columns and target not in renamed.values():
            renamed[c] = target
    if renamed:
        raw = raw.rename(columns=renamed)
        notes.append("read column(s) " + ", ".join(f"'{a}' as '{b}'" for a, b in renamed.items()))
    dup_cols = [c for c, n in Counter(raw.columns).items() if n > 1]
    src = "<table>"
    if dup_cols:
        raise TableError(src, [f"columns appear more than once (after normalising names): {dup_cols}"])
    missing = [c for c in required if c not in raw.columns]
    if missing:
        raise TableError(src, [f"missing required column(s) {missing}; the file has {list(raw.columns)}"])
    if raw.empty:
        raise TableError(src, ["no data rows"])
    return raw, notes


def sheet_hint(table: Table, what: str) -> str:
    """For a workbook of several sheets, which one was read and that ``what`` must be the first (else ``''``):
    a cover or notes sheet in front reads as a table without the format's columns."""
    read = [n for n in table.notes if n.startswith("read the first worksheet")]
    return f" ({read[0]}: put the {what} on the workbook's first sheet)" if read else ""


def parse_number(text: str, *, currency: bool = False, percent: bool = False) -> float | None:
    """A finite number from a cell, or None when the cell is not one.

    Parameters
    ----------
    text : str
        The cell: a plain decimal (``1250``, ``-3.5``, ``2e6``), or with
        thousands separators (``1,250,000.50``).
    currency : bool
        Also accept a leading currency sign (``$``, ``€``, ``£``, ``¥``; money columns).
    percent : bool
        Also accept a trailing ``%``, read as a fraction (scores).

    Returns
    -------
    float or None
        None for anything else, including words (``inf``, ``nan``), underscores
        and numbers too large for a float.
    """
    t = text.strip()
    if currency:
        t = t.lstrip(CURRENCY_SIGNS).strip()
    scale = 1.0
    if percent and t.endswith("%"):
        t, scale = t[:-1].strip(), 0.01
    if _THOUSANDS.match(t):
        t = t.replace(",", "")
    if not DECIMAL.match(t):
        return None
    v = float(t) * scale
    return v if math.isfinite(v) else None


def decimal_comma(text: str, *, currency: bool = False, percent: bool = False) -> str:
    """A hint for a cell :func:`parse_number` refused: ``"; looks like a decimal comma: write 91700.0"`` when the
    cell (``91700,0``) is a number with its one comma read as a decimal point, else ``""``."""
    t = text.strip()
    if t.count(",") != 1 or "." in t:
        return ""
    swapped = t.replace(",", ".")
    if parse_number(swapped, currency=currency, percent=percent) is None:
        return ""
    return f"; looks like a decimal comma: write {swapped}"


def parse_date(text: str) -> datetime.date | None:
    """A calendar date from a cell, or None when the cell is not one.

    ISO dates (``2024-03-15``, with or without a time, as XLSX and Parquet
    dates are given) and Excel serial day numbers (``45366``, a date cell
    exported as a number) between 20,000 and 80,000 are dates; nothing else
    is guessed (``15/03/2024`` is ambiguous and refused).
    """
    t = text.strip()
    m = _ISO_DATE.match(t)
    if m:
        try:
            return datetime.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
    v = parse_number(t)
    if v is not None and v == int(v) and _EXCEL_SERIALS[0] <= v <= _EXCEL_SERIALS[1]:
        return _EXCEL_EPOCH + datetime.timedelta(days=int(v))
    return None


def read_table(path: str | Path, what: str = "table", header: str = "") -> Table:
    """Read a CSV, XLSX or Parquet file as text cells (see the module docstring).

    Parameters
    ----------
    path : str or Path
    what : str
        What the file should hold, for messages (``"history"``, ``"roster"``).
    header : str
        The columns expected, for the message about an empty file.

    Raises
    ------
    TableError
        Not found, a directory, larger than :data:`MAX_TABLE_BYTES` or with
        more than :data:`MAX_TABLE_ROWS` rows, empty, an unsupported type, or
        not readable as its type.
    """
    p = Path(path)
    src = str(path)
    if not p.exists():
        raise TableError(src, ["file not found"])
    if p.is_dir():
        raise TableError(src, [f"is a directory, expected a {what} file (CSV, XLSX or Parquet)"])
    suffix = p.suffix.lower()
    if suffix not in CSV_SUFFIXES + XLSX_SUFFIXES + PARQUET_SUFFIXES:
        raise TableError(src, [f"unsupported file type '{suffix}', expected .csv, .tsv, .xlsx or .parquet"])
    size = p.stat().st_size
    if size > MAX_TABLE_BYTES:
        raise TableError(src, [f"{size / 2**20:.0f} MiB is larger than the {MAX_TABLE_BYTES // 2**20} MiB "
                               f"a {what} file may be; split it or leave out unused columns"])
    if _is_blank(p):
        raise _empty(src, header)
    try:
        if suffix in CSV_SUFFIXES:
            table = _read_csv(p, src, header, "\t" if suffix == ".tsv" else None)
        elif suffix in XLSX_SUFFIXES:
            table = _read_xlsx(p, src, header)
        else:
            table = _read_parquet(p, src, header)
    except UnicodeDecodeError:
        raise TableError(src, ["not a UTF-8 text file"]) from None
    except TableError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is a file that cannot be read, reported as such
        kind = suffix.lstrip(".").upper()
        raise TableError(src, [f"could not be read as {kind}: {type(exc).__name__}: {str(exc)[:200]}"]) from None
    if len(table.frame) > MAX_TABLE_ROWS:
        raise TableError(src, [f"more than {MAX_TABLE_ROWS:,} data rows; a {what} file may have at most that many"])
    return table


def _empty(src: str, header: str) -> TableError:
    return TableError(src, [f"empty: expected a header row{' with columns ' + header if header else ''}, then one row per record"])


def _is_blank(path: Path, chunk: int = 1 << 16) -> bool:
    """The file holds nothing but whitespace (or a UTF-8 byte-order mark); False when it cannot be opened."""
    try:
        with path.open("rb") as fh:
            head = fh.read(3)
            if head != b"\xef\xbb\xbf" and head.strip():
                return False
            while block := fh.read(chunk):
                if block.strip():
                    return False
    except OSError:
        return False
    return True


def _delimiter(header: str) -> str:
    """Whichever of ``, ; TAB |`` the header row has most of (``,`` when none)."""
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _read_csv(p: Path, src: str, header_hint: str, sep: str | None) -> Table:
    """A CSV file; blank lines are skipped but counted, so each row keeps its line number."""
    with p.open(encoding="utf-8-sig", newline="") as fh:
        text = fh.read()
    lines = text.splitlines()
    lead = next((i for i, line in enumerate(lines) if line.strip()), None)
    if lead is None:
        raise _empty(src, header_hint)
    delimiter = sep or _delimiter(lines[lead])
    reader = csv.reader(lines[lead:], delimiter=delimiter, skipinitialspace=True)
    header = [h.strip() for h in next(reader)]
    rows, numbers = [], []
    for rec in reader:
        if len(rows) > MAX_TABLE_ROWS:
            break
        if not any(c.strip() for c in rec):
            continue
        if len(rec) > len(header) and any(c.strip() for c in rec[len(header):]):
            raise TableError(src, [f"line {lead + reader.line_num}: {len(rec)} cells but the header has {len(header)}"])
        rows.append([c.strip() for c in rec[: len(header)]] + [""] * (len(header) - len(rec)))
        numbers.append(lead + reader.line_num)
    if delimiter == ";":
        _refuse_ambiguous_commas(src, header, rows, numbers)
    return Table(_frame(header, rows), src, numbers, "line")


#: one comma and three digits: a thousands separator (1,250 = 1250) or, in a decimal-comma locale, a decimal mark
_ONE_GROUP = re.compile(rf"^[+-]?[{CURRENCY_SIGNS}]?\s*\d{{1,3}},\d{{3}}$")


def _refuse_ambiguous_commas(src: str, header: list[str], rows: list[list[str]], numbers: list[int],
                             show: int = 10) -> None:
    """Raise :class:`TableError` for cells such as ``1,250`` in a semicolon-separated file: semicolons separate
    where the comma is the decimal mark, so the number may be 1.25 or 1250 (:func:`parse_number` reads 1250)."""
    found = []
    for row, line in zip(rows, numbers, strict=True):
        for name, cell in zip(header, row, strict=False):
            if _ONE_GROUP.match(cell):
                digits = cell.lstrip("+-" + CURRENCY_SIGNS).strip()
                found.append(f"line {line}, column '{name}': '{cell}' in a semicolon-separated file: is the comma a "
                             f"decimal mark ({digits.replace(',', '.')}) or a thousands separator "
                             f"({digits.replace(',', '')})? Write the number without it")
    if found:
        more = len(found) - show
        raise TableError(src, found[:show] + ([f"and {more} more such cell(s)"] if more > 0 else []))


def _xlsx_cell(v: object) -> str:
    """One XLSX cell as text: dates as ISO dates (with the time when it is not midnight)."""
    if v is None:
        return ""
    if isinstance(v, datetime.datetime):
        return v.date().isoformat() if v.time() == datetime.time() else v.isoformat(sep=" ")
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return str(v).strip()


#: a formula cell without a saved value, and merged cells, in words: what to do about them
NO_SAVED_VALUE = ("a formula without a saved value (the file was written by a program that does not calculate "
                  "formulas): open it in Excel or LibreOffice and save it, or paste the values")
MERGED = "merged cells: each row needs its own value; unmerge them and fill the value into every row"


def xlsx_gaps(path: str | Path, ws) -> tuple[list[tuple[int, int, str]], list[tuple[int, int, int, int, str]]]:
    """The cells of a worksheet that read as empty but are not: formulas without a saved value, and merged ranges.

    openpyxl reads a formula's value as Excel last saved it, so a workbook written by a script and never opened
    in a spreadsheet program has none: its formula cells read as empty. In a merged range only the first cell
    holds the value; the others read as empty. Both are found in the worksheet's XML (which openpyxl's
    read-only mode does not expose), scanning it once for ``<f`` and ``<mergeCell`` before parsing.

    Parameters
    ----------
    path : str or Path
        The workbook.
    ws : openpyxl read-only worksheet
        One of its worksheets (opened from ``path``).

    Returns
    -------
    formulas : list of (row, column, "E2")
        Formula cells without a saved value (1-based row and column).
    merged : list of (min_row, min_col, max_row, max_col, "C2:C7")
    """
    import zipfile  # noqa: PLC0415
    from xml.etree.ElementTree import iterparse  # noqa: PLC0415

    from openpyxl.utils.cell import coordinate_to_tuple, range_boundaries  # noqa: PLC0415

    part = getattr(ws, "_worksheet_path", None)
    if not part:
        return [], []
    try:
        with zipfile.ZipFile(path) as z:
            with z.open(part.lstrip("/")) as fh:
                tail, found = b"", False
                while block := fh.read(1 << 20):
                    chunk = tail + block
                    if b"<f" in chunk or b"<mergeCell " in chunk or b":f" in chunk or b":mergeCell " in chunk:
                        found = True
                        break
                    tail = block[-16:]
            if not found:
                return [], []
            formulas, merged = [], []
            with z.open(part.lstrip("/")) as fh:
                for _, el in iterparse(fh):
                    tag = el.tag.rsplit("}", 1)[-1]
                    if tag == "c":
                        kids = {k.tag.rsplit("}", 1)[-1]: k for k in el}
                        v = kids.get("v")
                        empty = v is None or not (v.text or "").strip()
                        if "f" in kids and empty and el.get("t") != "str" and el.get("r"):
                            r, c = coordinate_to_tuple(el.get("r"))
                            formulas.append((r, c, el.get("r")))
                        el.clear()
                    elif tag == "row":
                        el.clear()
                    elif tag == "mergeCell" and el.get("ref"):
                        c0, r0, c1, r1 = range_boundaries(el.get("ref"))
                        merged.append((r0, c0, r1, c1, el.get("ref")))
    except (KeyError, OSError, zipfile.BadZipFile, ValueError, SyntaxError):
        return [], []  # not a layout this check knows: the cells read as they are
    return formulas, merged


def _check_gaps(p: Path, ws, src: str, header_row: int, header: list[str]) -> None:
    """Raise :class:`TableError` for formulas without a saved value and merged cells at or below the header row."""
    formulas, merged = xlsx_gaps(p, ws)

    def column(c: int) -> str:
        return f" (column '{header[c - 1]}')" if 0 < c <= len(header) and header[c - 1] else ""

    problems = [f"cell {ref}{column(c)}: {NO_SAVED_VALUE}" for r, c, ref in formulas if r >= header_row]
    problems += [f"cells {ref}{column(c0)}: {MERGED}" for r0, c0, r1, c1, ref in merged
                 if r1 >= header_row and (r1 > r0 or c1 > c0)]
    if problems:
        sheet = f"sheet '{ws.title}', "
        extra = len(problems) - 20
        raise TableError(src, [sheet + q for q in problems[:20]] + ([f"and {extra} more such cell(s)"] if extra > 0 else []))


def _read_xlsx(p: Path, src: str, header_hint: str) -> Table:
    """The first worksheet of a workbook; the header is its first non-blank row."""
    import openpyxl  # noqa: PLC0415 - only XLSX needs it

    wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
    try:
        ws = wb.worksheets[0]
        header: list[str] | None = None
        rows, numbers = [], []
        header_row = 0
        for number, rec in enumerate(ws.iter_rows(values_only=True), start=1):
            cells = [_xlsx_cell(v) for v in rec]
            if not any(cells):
                continue
            if header is None:
                while cells and not cells[-1]:
                    cells.pop()
                header, header_row = cells, number
                continue
            if len(rows) > MAX_TABLE_ROWS:
                break
            if len(cells) > len(header) and any(cells[len(header):]):
                raise TableError(src, [f"row {number}: a cell beyond the header's {len(header)} columns"])
            rows.append(cells[: len(header)] + [""] * (len(header) - len(cells)))
            numbers.append(number)
        notes = [f"read the first worksheet, '{ws.title}', of {wb.sheetnames}"] if len(wb.worksheets) > 1 else []
        if header is not None:
            _check_gaps(p, ws, src, header_row, header)
    finally:
        wb.close()
    if header is None:
        raise _empty(src, header_hint)
    return Table(_frame(header, rows), src, numbers, "row", notes)


def _read_parquet(p: Path, src: str, header_hint: str) -> Table:
    import pandas as pd

    df = pd.read_parquet(p)
    if df.columns.empty:
        raise _empty(src, header_hint)
    for c in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[c]):
            df[c] = df[c].dt.strftime("%Y-%m-%d")
    df = df.astype(object).where(df.notna(), "")
    df = df.map(lambda v: _xlsx_cell(v) if isinstance(v, (datetime.date, bool)) else ("" if v is None else str(v).strip()))
    df.columns = [str(c).strip() for c in df.columns]
    return Table(df.reset_index(drop=True), src, list(range(1, len(df) + 1)), "row")


def _frame(header: list[str], rows: list[list[str]]) -> pd.DataFrame:
    """Cells in columns named by the header; duplicate names are kept (the caller reports them)."""
    import pandas as pd

    df = pd.DataFrame(rows, columns=range(len(header)), dtype=object) if rows else pd.DataFrame(
        columns=range(len(header)), dtype=object)
    df.columns = header
    return df
