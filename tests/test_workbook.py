"""simlib.io.write_workbook: tables to .xlsx, numbers as numeric cells with number formats, read back with openpyxl."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from simlib.io import NUMBER_FORMATS, write_workbook


def test_sheets_numbers_formats_and_header(tmp_path):
    levels = pd.DataFrame({"plan": ["current", "current", "new"], "metric": ["profit", "share_at_quota", "profit"],
                           "unit": ["money", "fraction", "money"], "mean": [1_234_567.8, 0.5123, 1_300_000.0],
                           "n": [100, 100, 100]})
    other = pd.DataFrame({"point": [0, 1], "cap": [1.5, np.nan], "feasible": [True, False],
                          "note": ["=1+1", "<script>x</script>"]})
    out = tmp_path / "r.xlsx"
    write_workbook(out, {"levels": levels, "a/very:long*sheet?name that Excel refuses": other},
                   kinds={"cap": "number"})
    wb = load_workbook(out)
    assert wb.sheetnames == ["levels", "a_very_long_sheet_name that Exc"]
    ws = wb["levels"]
    assert [c.value for c in ws[1]] == ["plan", "metric", "unit", "mean", "n"]
    assert all(c.font.bold for c in ws[1]) and ws.freeze_panes == "A2"
    profit, share = ws["D2"], ws["D3"]
    assert profit.data_type == "n" and profit.value == pytest.approx(1_234_567.8)
    assert profit.number_format == NUMBER_FORMATS["money"] == "#,##0"
    assert share.value == pytest.approx(0.5123) and share.number_format == "0.0%"
    assert ws["E2"].value == 100 and ws["E2"].number_format == "#,##0"
    assert ws.column_dimensions["D"].width >= len("1,234,568")
    ws2 = wb.worksheets[1]
    assert ws2["B2"].number_format == NUMBER_FORMATS["number"] and ws2["B3"].value is None  # NaN -> empty cell
    assert ws2["C2"].value is True
    assert ws2["D2"].data_type == "s" and ws2["D2"].value == "=1+1"  # text from a file is never a formula


def test_a_bad_format_kind_leaves_the_old_file(tmp_path):
    out = tmp_path / "r.xlsx"
    write_workbook(out, {"t": pd.DataFrame({"x": [1.0]})})
    before = out.read_bytes()
    with pytest.raises(KeyError):
        write_workbook(out, {"t": pd.DataFrame({"x": [2.0]})}, kinds={"x": "no-such-kind"})
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.xlsx"]


@pytest.mark.parametrize("unit, fmt", [("money", "#,##0"), ("money per rep-year", "#,##0"), ("fraction of quota", "0.0%"),
                                       ("probability", "0.0%"), ("multiple", "#,##0.000"), ("", "#,##0.000")])
def test_units_choose_the_number_format(unit, fmt):
    from simlib.io import unit_kind

    assert NUMBER_FORMATS[unit_kind(unit)] == fmt
