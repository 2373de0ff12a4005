"""The one reader of users' tables (CSV, XLSX, Parquet) and the history read through it."""

from __future__ import annotations

import datetime

import openpyxl
import pandas as pd
import pytest

from simlib import tables
from simlib.fit.history import HistoryError, read_history
from simlib.tables import TableError, parse_date, parse_number, read_table

ROLES = {"telesales": "telesales", "key_account": "key_account", "channel": "channel"}
HEADER = ["Rep ID", "Role", "Month", "Quota", "Revenue", "Region"]


def _rows(n=12, bad_at=None):
    out = []
    for m in range(1, n + 1):
        rev = "-5" if m == bad_at else "26,000"
        out.append(["T1", "telesales", f"2025-{m:02d}", "$25,000", rev, "north"])
    return out


def _xlsx(path, header, rows, blank_rows=()):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "export"
    ws.append([])  # a blank first row: the header is the first non-blank one
    ws.append(header)
    for i, r in enumerate(rows):
        if i in blank_rows:
            ws.append([])
        ws.append(r)
    wb.save(path)
    return path


def test_messy_csv_reads_with_line_numbers(tmp_path):
    p = tmp_path / "h.csv"
    lines = [",".join(HEADER)] + [f'T1,telesales,2025-{m:02d},"$25,000","26,000",north' for m in range(1, 13)]
    lines.insert(3, "")  # a blank line inside: skipped, but still counted
    p.write_bytes(b"\xef\xbb\xbf" + ("\r\n".join(lines) + "\r\n").encode())
    t = read_table(p)
    assert list(t.frame.columns) == HEADER and len(t.frame) == 12
    assert t.where(0) == "line 2" and t.where(2) == "line 5"  # after the blank line 4
    h = read_history(p, ROLES)
    assert h.frame["revenue"].sum() == 12 * 26000 and h.frame["quota"].iloc[0] == 25000
    assert any("region" in n for n in h.notes)  # the extra column is listed, not silently dropped


def test_xlsx_history_reads_and_reports_spreadsheet_rows(tmp_path):
    ok = _xlsx(tmp_path / "ok.xlsx", HEADER, _rows())
    h = read_history(ok, ROLES)
    assert len(h.frame) == 12 and h.frame["revenue"].sum() == 12 * 26000
    # blank sheet row 1, header row 2, data rows 3..; a blank row before the 5th data row shifts it to row 8
    bad = _xlsx(tmp_path / "bad.xlsx", HEADER, _rows(bad_at=5), blank_rows=(4,))
    with pytest.raises(HistoryError) as ei:
        read_history(bad, ROLES)
    (p,) = ei.value.problems
    assert p.where == "row 8" and "negative sales" in p.reason and p.columns == ("revenue",)
    assert str(bad) in str(ei.value)


def test_xlsx_dates_and_numbers_are_cells(tmp_path):
    rows = [["T1", "telesales", datetime.datetime(2025, m, 1), 25000, 26000.0, "x"] for m in range(1, 13)]
    h = read_history(_xlsx(tmp_path / "d.xlsx", HEADER, rows), ROLES)
    assert sorted(h.frame["month"]) == list(range(1, 13)) and set(h.frame["year"]) == {2025}


def test_parquet_history_reads(tmp_path):
    df = pd.DataFrame({"rep_id": ["T1"] * 12, "role": ["telesales"] * 12,
                       "month": pd.date_range("2025-01-01", periods=12, freq="MS"),
                       "quota": [25000.0] * 12, "revenue": [26000.0] * 12})
    df.to_parquet(tmp_path / "h.parquet")
    h = read_history(tmp_path / "h.parquet", ROLES)
    assert len(h.frame) == 12 and set(h.frame["year"]) == {2025}


def test_bounds_are_clear_errors(tmp_path, monkeypatch):
    p = tmp_path / "h.csv"
    p.write_text("a,b\n" + "1,2\n" * 11)
    monkeypatch.setattr(tables, "MAX_TABLE_ROWS", 10)
    with pytest.raises(TableError, match="more than 10 data rows"):
        read_table(p, "roster")
    monkeypatch.setattr(tables, "MAX_TABLE_BYTES", 16)
    with pytest.raises(HistoryError, match="larger than"):
        read_history(p, ROLES)


def test_ragged_rows_and_unsupported_types(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("a,b\n1,2,3\n")
    with pytest.raises(TableError, match="line 2: 3 cells but the header has 2"):
        read_table(p)
    (tmp_path / "h.xls").write_bytes(b"\xd0\xcf")
    with pytest.raises(TableError, match="unsupported file type '.xls'"):
        read_table(tmp_path / "h.xls")


@pytest.mark.parametrize("text, value", [("1,250,000.50", 1250000.5), ("€ 12", 12.0), ("-3e2", -300.0),
                                         ("1_000", None), ("inf", None), ("1,25", None), ("", None)])
def test_parse_number(text, value):
    assert parse_number(text, currency=True) == value


@pytest.mark.parametrize("text, value", [("2024-03-15", datetime.date(2024, 3, 15)),
                                         ("2024-03-15 00:00:00", datetime.date(2024, 3, 15)),
                                         ("45366", datetime.date(2024, 3, 15)),  # an Excel serial day
                                         ("2024-02-30", None), ("15/03/2024", None), ("12", None)])
def test_parse_date(text, value):
    assert parse_date(text) == value


def test_xlsx_formulas_without_saved_values_and_merged_cells_are_named_not_read_as_empty(tmp_path):
    """A workbook written by a script (formulas never calculated) read its formula cells as empty ("missing value:
    'base_salary' is empty"), and a team merged down C2:C4 read as "missing team" on rows 3 and 4: both are named,
    with the sheet, the cells, the column and what to do, before any row is read."""
    def book(edit):
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = "Reps"
        ws.append(["rep_id", "team", "base_salary"])
        for i in range(3):
            ws.append([f"R{i}", "North", 50000])
        edit(ws)
        path = tmp_path / "reps.xlsx"
        wb.save(path)
        return path

    assert read_table(book(lambda ws: None)).frame["team"].tolist() == ["North"] * 3
    with pytest.raises(TableError) as ei:
        read_table(book(lambda ws: ws.__setitem__("C3", "=40000+10000")))
    assert ei.value.problems == ["sheet 'Reps', cell C3 (column 'base_salary'): " + tables.NO_SAVED_VALUE]
    assert "reps.xlsx: sheet 'Reps', cell C3" in str(ei.value) and "open it in Excel or LibreOffice" in str(ei.value)
    with pytest.raises(TableError) as ei:
        read_table(book(lambda ws: ws.merge_cells("B2:B4")))
    assert ei.value.problems == ["sheet 'Reps', cells B2:B4 (column 'team'): " + tables.MERGED]


def test_a_comma_grouped_number_in_a_semicolon_separated_file_is_refused_as_ambiguous(tmp_path):
    """A semicolon-separated export (a decimal-comma locale) read '91,700' as 91,700 where the comma is the decimal
    mark (91.7), silently 1,000 times too large; '91700,5' was already refused as non-numeric. Such a cell is named
    with its line and column, and the file is read when its numbers are plain."""
    p = tmp_path / "r.csv"
    p.write_text("rep_id;territory;base_salary\nA;1,250;50000\nB;0,9;50000\nC;1.5;1,200,000\n")
    with pytest.raises(TableError) as ei:
        read_table(p)
    assert ei.value.problems == [  # '1,200,000' (two groups) can only be thousands separators
        "line 2, column 'territory': '1,250' in a semicolon-separated file: is the comma a decimal mark (1.250) or a "
        "thousands separator (1250)? Write the number without it"]
    p.write_text("rep_id;territory;base_salary\nA;1.25;1,200,000\nB;0,9;50000\n")
    assert read_table(p).frame["territory"].tolist() == ["1.25", "0,9"]
    p.write_text("rep_id,territory,base_salary\nA,1.25,\"1,250\"\n")  # a comma-separated file keeps its separators
    assert read_table(p).frame["base_salary"].tolist() == ["1,250"]
