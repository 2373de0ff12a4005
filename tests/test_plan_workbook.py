"""Plan workbooks (``simlib plan export|import``): lossless round trips, edits, refused cells, schema coverage."""

from __future__ import annotations

import shutil
import typing
from pathlib import Path

import pytest
from conftest import DEFAULT, ROOT, small_scenario_dict
from openpyxl import load_workbook
from pydantic import BaseModel

from simlib.cli import main
from simlib.design.workbook import FILE_FIELDS, export_workbook, plan_tables, read_workbook, walk
from simlib.errors import ScenarioError
from simlib.scenario import Plan, load_scenario, roster_path, scenario_from_dict

SHIPPED = sorted((ROOT / "simlib" / "shipped" / "scenarios").rglob("*.yaml"))


def _same(a, b) -> None:
    assert a.model_dump(by_alias=True) == b.model_dump(by_alias=True)
    assert a.checks == b.checks and a.sha256 == b.sha256


def _same_files(a, b) -> None:
    """The same scenario with its roster and history named from different folders: the same files and roster."""
    dumps = []
    for s in (a, b):
        d = s.model_dump(by_alias=True)
        d.update({k: roster_path(d[k], s.source).resolve() for k in FILE_FIELDS if d.get(k)})
        dumps.append(d)
    assert dumps[0] == dumps[1] and a.checks == b.checks
    assert a.roster_data.sha256 == b.roster_data.sha256
    ta, tb = a.track_record, b.track_record
    assert (ta is None) == (tb is None) and (ta is None or ta.sha256 == tb.sha256)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_scenario_round_trips(path, tmp_path):
    """Written elsewhere, a scenario's roster and history are named from the workbook's folder, so it still reads."""
    scen = load_scenario(path)
    export_workbook(scen, tmp_path / "plans.xlsx")
    (_same_files if scen.roster else _same)(read_workbook(tmp_path / "plans.xlsx"), scen)


def _yaml_lines(path: Path) -> set[str]:
    return set(path.read_text(encoding="utf-8").splitlines())


def test_roster_and_history_paths_follow_the_workbook_and_the_written_scenario(tmp_path):
    """Relative to the workbook's folder when under it, else absolute; the imported YAML names them from its own
    folder; --into keeps that scenario's files."""
    org = tmp_path / "org"
    shutil.copytree(ROOT / "simlib" / "shipped" / "scenarios" / "example_org", org)
    scen = load_scenario(org / "org.yaml")
    assert main(["plan", "export", str(org / "org.yaml"), "--out", str(tmp_path / "p.xlsx")]) == 0
    sheet = {r[0] for r in load_workbook(tmp_path / "p.xlsx")["Scenario"].iter_rows(values_only=True)}
    assert {"roster: org/roster.csv", "history: org/history.csv"} <= sheet
    _same(read_workbook(tmp_path / "p.xlsx"), scenario_from_dict(
        {**_plain(scen), "roster": "org/roster.csv", "history": "org/history.csv"}, str(tmp_path / "x.yaml")))
    # imported next to the roster: the original names, the same scenario (sha256 included)
    assert main(["plan", "import", str(tmp_path / "p.xlsx"), "--out", str(org / "back.yaml")]) == 0
    assert {"roster: roster.csv", "history: history.csv"} <= _yaml_lines(org / "back.yaml")
    _same(load_scenario(org / "back.yaml"), scen)
    # a workbook and a scenario in folders that do not hold the roster: absolute names
    (tmp_path / "a").mkdir()
    export_workbook(scen, tmp_path / "a" / "p.xlsx")
    assert main(["plan", "import", str(tmp_path / "a" / "p.xlsx"), "--out", str(tmp_path / "b" / "s.yaml")]) == 0
    assert f"roster: {(org / 'roster.csv').resolve()}" in _yaml_lines(tmp_path / "b" / "s.yaml")
    _same_files(load_scenario(tmp_path / "b" / "s.yaml"), scen)
    # --into: that scenario's files, named from where the result is written
    assert main(["plan", "import", str(tmp_path / "a" / "p.xlsx"), "--into", str(org / "org.yaml"),
                 "--out", str(org / "into.yaml")]) == 0
    _same(load_scenario(org / "into.yaml"), scen)


def _plain(scen) -> dict:
    import yaml

    from simlib.design.workbook import scenario_yaml

    return yaml.safe_load(scenario_yaml(scen))


def test_every_plan_feature_round_trips_through_the_command(tmp_path):
    """The small scenario uses every pay feature; export, import to YAML, load: the same validated scenario."""
    scen = scenario_from_dict(small_scenario_dict())
    yaml_in = tmp_path / "small.yaml"
    import yaml

    yaml_in.write_text(yaml.safe_dump(small_scenario_dict()), encoding="utf-8")
    assert main(["plan", "export", str(yaml_in), "--out", str(tmp_path / "p.xlsx")]) == 0
    assert main(["plan", "import", str(tmp_path / "p.xlsx"), "--out", str(tmp_path / "back.yaml")]) == 0
    _same(load_scenario(tmp_path / "back.yaml"), scen)
    # --into takes the rest from a scenario file
    assert main(["plan", "import", str(tmp_path / "p.xlsx"), "--into", str(yaml_in), "--out",
                 str(tmp_path / "into.yaml")]) == 0
    _same(load_scenario(tmp_path / "into.yaml"), scen)


def _cell(ws, **match):
    """The row number of the first row whose cells match ``match`` (header -> value), and the header -> column map."""
    head = {c.value: c.column for c in ws[1]}
    for row in ws.iter_rows(min_row=2):
        if all(row[head[k] - 1].value == v for k, v in match.items()):
            return row[0].row, head
    raise AssertionError(f"no row {match}")


def _flat(x, prefix=""):
    if isinstance(x, dict):
        return {k2: v2 for k, v in x.items() for k2, v2 in _flat(v, f"{prefix}.{k}").items()}
    if isinstance(x, (list, tuple)):
        return {k2: v2 for i, v in enumerate(x) for k2, v2 in _flat(v, f"{prefix}.{i}").items()}
    return {prefix: x}


def test_an_edited_rate_changes_exactly_that(tmp_path):
    scen = load_scenario(DEFAULT)
    path = tmp_path / "plans.xlsx"
    export_workbook(scen, path)
    wb = load_workbook(path)
    ws = wb["Tiers"]
    r, head = _cell(ws, plan="harder_target", role="channel", component="channel_commission", **{"from": 0.8})
    ws.cell(r, head["rate"]).value = 0.11
    wb.save(path)
    a, b = _flat(scen.model_dump(by_alias=True)), _flat(read_workbook(path).model_dump(by_alias=True))
    changed = {k: (a[k], b[k]) for k in a if a[k] != b[k]}
    assert set(a) == set(b)
    assert changed == {".plans.harder_target.roles.channel.components.0.tiers.1.rate": (0.10, 0.11)}


@pytest.mark.parametrize("sheet,match,column,value,expect", [
    ("Tiers", dict(plan="current", role="channel", **{"from": 0.8}), "rate", "ten percent",
     "sheet 'Tiers', cell E3 (plans.current.roles.channel.components.0.tiers.1.rate): Input should be a valid number"),
    ("Components", dict(plan="current", role="telesales", component="revenue_bonus"), "kind", "bonus",
     "sheet 'Components', cell E4 (plans.current.roles.telesales.components.0.kind): Input should be 'curve'"),
    ("Components", dict(plan="current", role="telesales", component="revenue_bonus"), "measure", "calls_made",
     "sheet 'Components', cell D4 (plans.current.roles.telesales.components.0.measure): 'calls_made' is not a "
     "measure of process telesales"),
    ("Role plans", dict(plan="current", role="key_account"), "quota level", -1,
     "sheet 'Role plans', cell F2 (plans.current.roles.key_account.quota.level): Input should be greater than 0"),
    ("Components", dict(plan="current", role="telesales", component="revenue_bonus"), "cap", 150,
     "sheet 'Components', cell M4 (plans.current.roles.telesales.components.0.cap): expected a multiple of the "
     "component's target payout (1.5 is 150%), at most 10; got 150: write 1.5 for 150%"),
])
def test_bad_cells_are_refused_with_sheet_cell_and_expectation(tmp_path, sheet, match, column, value, expect):
    path = tmp_path / "plans.xlsx"
    export_workbook(load_scenario(DEFAULT), path)
    wb = load_workbook(path)
    r, head = _cell(wb[sheet], **match)
    wb[sheet].cell(r, head[column]).value = value
    wb.save(path)
    with pytest.raises(ScenarioError) as ei:
        read_workbook(path)
    assert expect in str(ei.value)


def test_rows_that_cannot_be_placed_are_refused(tmp_path, capsys):
    path = tmp_path / "plans.xlsx"
    export_workbook(load_scenario(DEFAULT), path)
    wb = load_workbook(path)
    wb["Curve points"].append(["no_such_plan", "telesales", "revenue_bonus", 2.0, 3.0])
    wb["Gates"].cell(1, 3).value = "treshold"
    wb.save(path)
    with pytest.raises(ScenarioError) as ei:
        read_workbook(path)
    text = str(ei.value)
    assert "sheet 'Curve points', cell A" in text and "plan 'no_such_plan': no such plan" in text
    assert "sheet 'Gates', cell C1: unknown column 'treshold'" in text
    assert main(["plan", "import", str(path), "--out", str(tmp_path / "s.yaml")]) == 1
    err = capsys.readouterr().err
    assert "unknown column 'treshold'" in err and "Traceback" not in err and not (tmp_path / "s.yaml").exists()
    (tmp_path / "junk.xlsx").write_text("not a workbook")
    with pytest.raises(ScenarioError, match="not an .xlsx workbook"):
        read_workbook(tmp_path / "junk.xlsx")


def test_a_renamed_sheet_is_named_and_an_extra_sheet_is_ignored(tmp_path, capsys):
    """A sheet renamed by hand ('Components 2026') would drop its rows: refused, naming the sheet expected."""
    path = tmp_path / "plans.xlsx"
    export_workbook(load_scenario(DEFAULT), path)
    wb = load_workbook(path)
    wb.create_sheet("Notes")  # an analyst's own sheet: not read, no problem
    wb.save(path)
    read_workbook(path)
    wb["Components"].title = "Components 2026"
    wb.save(path)
    assert main(["plan", "import", str(path), "--out", str(tmp_path / "s.yaml")]) == 1
    err = capsys.readouterr().err
    assert "1 problem found" in err and "Traceback" not in err
    assert (f"{path}: sheet 'Components 2026': not a sheet a plan workbook has, so its rows would not be read; "
            "expected 'Components', which the workbook lacks") in err


def test_text_cells_stay_text(tmp_path):
    """A description starting with '=' is written as text, not a formula, and comes back as it was."""
    data = small_scenario_dict()
    data["plans"]["current"]["description"] = "=HYPERLINK(\"http://x\")"
    scen = scenario_from_dict(data)
    export_workbook(scen, tmp_path / "p.xlsx")
    ws = load_workbook(tmp_path / "p.xlsx")["Plans"]
    assert ws["B2"].data_type == "s"
    _same(read_workbook(tmp_path / "p.xlsx"), scen)


def _leaf_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every field of the plan schema as a path of field names (list and mapping levels skipped), walked independently."""
    out = set()
    for name, info in model.model_fields.items():
        key = info.alias or name
        args = [info.annotation]
        found = None
        while args:  # look through Optional, Annotated, list[...], dict[..., ...] for a model or a pair
            a = args.pop()
            if isinstance(a, type) and issubclass(a, BaseModel):
                found = a
                break
            if typing.get_origin(a) is tuple:
                found = "pair"
                break
            args.extend(typing.get_args(a))
        if isinstance(found, type):
            out |= _leaf_paths(found, (*prefix, key))
        else:
            out.add((*prefix, key))
    return out


def test_every_field_of_the_plan_schema_has_a_column():
    """A field added to the plan language (Plan, RolePlan, Component ...) must reach the workbook, or this fails."""
    carried = set()
    for t in walk(plan_tables()):
        if t.container == "pairs":
            carried.add(t.chain)
            continue
        if t.own_key == "name":
            carried.add((*t.chain, "name"))
        carried |= {(*t.chain, *c.path) for c in t.columns if c.info is not None}
    missing = _leaf_paths(Plan) - carried
    assert not missing, f"plan fields with no column in the workbook: {sorted(missing)}"


def test_the_readme_sheet_lists_every_column(tmp_path):
    export_workbook(load_scenario(DEFAULT), tmp_path / "p.xlsx")
    wb = load_workbook(tmp_path / "p.xlsx")
    listed = {(r[0], r[1]) for r in wb["README"].iter_rows(min_row=6, values_only=True)}
    for name in wb.sheetnames:
        if name in ("README", "Scenario"):
            continue
        for c in wb[name][1]:
            assert (name, c.value) in listed
    assert Path(tmp_path / "p.xlsx").stat().st_size < 200_000


SCORECARDS = ROOT / "simlib" / "shipped" / "scenarios" / "scorecards.yaml"


def test_scorecard_sheets_edit_and_refuse_like_the_others(tmp_path):
    """A measure's interval score edited changes exactly that; a bad payout curve point names its sheet and cell;
    quota relief rides in the role plan's columns."""
    import yaml

    data = yaml.safe_load(SCORECARDS.read_text(encoding="utf-8"))
    data["plans"]["scorecard"]["roles"]["channel"]["quota_relief"] = {"band": 0.05, "share": 0.5}
    scen = scenario_from_dict(data)
    path = tmp_path / "plans.xlsx"
    export_workbook(scen, path)
    _same(read_workbook(path), scen)
    wb = load_workbook(path)
    ws = wb["Measure intervals"]
    r, head = _cell(ws, plan="scorecard", role="telesales", scorecard="telesales_scorecard", **{"scored measure": 2,
                                                                                                "from": 0.9})
    ws.cell(r, head["score"]).value = 85
    wb.save(path)
    a, b = _flat(scen.model_dump(by_alias=True)), _flat(read_workbook(path).model_dump(by_alias=True))
    assert {k: (a[k], b[k]) for k in a if a[k] != b[k]} == {
        ".plans.scorecard.roles.telesales.scorecards.0.measures.1.intervals.1.score": (80.0, 85.0)}
    assert b[".plans.scorecard.roles.channel.quota_relief.share"] == 0.5
    ws = wb["Payout curves"]
    r, head = _cell(ws, plan="scorecard", role="channel", **{"composite score": 100})
    ws.cell(r, head["payout coefficient"]).value = "one"
    wb.save(path)
    with pytest.raises(ScenarioError) as ei:
        read_workbook(path)
    assert (f"sheet 'Payout curves', cell E{r} (plans.scorecard.roles.channel.scorecards.0.payout.curve.1.1): "
            "Input should be a valid number") in str(ei.value)


def test_a_role_plan_without_components_round_trips(tmp_path):
    """A role plan that pays only a SPIFF (no components: no rows in 'Components') reads back as it was written
    (it was refused: 'components: required field is missing')."""
    d = small_scenario_dict()
    role = next(iter(d["plans"]["current"]["roles"]))
    rp = dict(d["plans"]["current"]["roles"][role], components=[])
    rp.pop("weights_total", None)
    rp["spiffs"] = [{"name": "sp", "measure": "revenue", "from": 3, "to": 5, "rate": 0.01}]
    d["plans"]["spiff_only"] = {"roles": {**d["plans"]["current"]["roles"], role: rp}}
    scen = scenario_from_dict(d, "spiff-only")
    export_workbook(scen, tmp_path / "plans.xlsx")
    _same(read_workbook(tmp_path / "plans.xlsx"), scen)


def test_formula_without_saved_value_or_merged_cells_are_refused_not_read_as_defaults(tmp_path):
    """A quota level typed as a formula by a script (no saved value) read as an empty cell, so the plan silently
    took the default level 1.0 and the import said 'validated'; merged key cells read as empty keys. Both are
    refused naming the sheet and cell."""
    path = tmp_path / "plans.xlsx"
    export_workbook(load_scenario(DEFAULT), path)
    wb = load_workbook(path)
    ws = wb["Role plans"]
    col = [c.value for c in ws[1]].index("quota level") + 1
    ws.cell(3, col).value = "=1.05*1"
    ws.merge_cells(start_row=4, start_column=1, end_row=5, end_column=1)
    wb.save(path)
    with pytest.raises(ScenarioError) as ei:
        read_workbook(path)
    where = {p.field: p.message for p in ei.value.problems}
    letter = ws.cell(3, col).column_letter
    assert "formula without a saved value" in where[f"sheet 'Role plans', cell {letter}3"]
    assert "merged cells" in where["sheet 'Role plans', cells A4:A5"]
    assert len(where) == 2


def test_a_sheet_renamed_to_an_unrelated_name_is_found_by_its_columns(tmp_path):
    """'Curve points' renamed 'Sheet1' (no name close to it) read as 15 problems 'points: required for kind
    'curve'', one per component, never naming the sheet: a sheet whose header is a missing sheet's is named as it."""
    path = tmp_path / "plans.xlsx"
    export_workbook(load_scenario(DEFAULT), path)
    wb = load_workbook(path)
    wb["Curve points"].title = "Sheet1"
    wb.create_sheet("My notes")["A1"] = "checked by finance"  # a sheet of the user's own stays allowed
    wb.save(path)
    with pytest.raises(ScenarioError) as ei:
        read_workbook(path)
    assert [(p.field, p.message) for p in ei.value.problems] == [
        ("sheet 'Sheet1'", "not a sheet a plan workbook has, so its rows would not be read; its columns are those of "
                           "'Curve points', which the workbook lacks: rename the sheet back (sheet names are exact)")]
