"""Scenario validation: one bad-input case per rule; every error names file, field path and expectation.

Cases are mutations of the small all-features scenario (tests/conftest.py)
plus whole bad files in tests/data/.
"""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import DATA, DEFAULT, small_scenario_dict, write_yaml

import simlib
from simlib import ScenarioError, load_scenario, scenario_from_dict, validate_paths
from simlib.scenario import deep_merge

SRC = "case.yaml"


# ---------------------------------------------------------------------------
# helpers: edit a nested dict by dotted path ("plans.current.roles.ka.components.0.name")
# ---------------------------------------------------------------------------
def _walk(d, path):
    keys = path.split(".")
    for k in keys[:-1]:
        d = d[int(k)] if isinstance(d, list) else d[k]
    last = keys[-1]
    return d, (int(last) if isinstance(d, list) else last)


def setp(path, value):
    def f(d):
        parent, k = _walk(d, path)
        parent[k] = value
    return f


def delp(path):
    def f(d):
        parent, k = _walk(d, path)
        del parent[k]
    return f


def both(*fs):
    def f(d):
        for g in fs:
            g(d)
    return f


KA = "plans.current.roles.ka"
TS = "plans.current.roles.ts"
CH = "plans.current.roles.ch"

# (id, mutation, expected field path, words the message must contain)
CASES = [
    # unknown keys at several levels
    ("unknown_top", setp("colour", "blue"), "colour", "unknown field"),
    ("unknown_market", setp("market.volatility", 0.1), "market.volatility", "unknown field"),
    ("unknown_role", setp("roles.ts.teamsize", 5), "roles.ts.teamsize", "unknown field"),
    ("unknown_production", setp("roles.ts.production.calls_per_mnth", 5), "roles.ts.production.calls_per_mnth",
     "unknown field"),
    ("unknown_plan", setp("plans.current.owner", "cfo"), "plans.current.owner", "unknown field"),
    ("unknown_quota", setp(f"{KA}.quota.methd", "flat"), f"{KA}.quota.methd", "unknown field"),
    ("unknown_component", setp(f"{KA}.components.0.wieght", 1), f"{KA}.components.0.wieght", "unknown field"),
    ("unknown_tier", setp(f"{CH}.components.0.tiers.0.rates", 1), f"{CH}.components.0.tiers.0.rates", "unknown field"),
    ("unknown_gate", setp(f"{TS}.gates.0.min", 1), f"{TS}.gates.0.min", "unknown field"),
    ("unknown_budget", setp("budget.bonus", 1), "budget.bonus", "unknown field"),
    ("unknown_changes_key", setp("plans.variant.chnages", {}), "plans.variant", "only base, changes, description"),
    ("reserved_key", setp("sha256", "abc"), "sha256", "unknown field"),
    # wrong types
    ("type_int", setp("roles.ts.headcount", "ten"), "roles.ts.headcount", "valid integer"),
    ("type_float", setp("market.growth_sd", "high"), "market.growth_sd", "valid number"),
    ("type_list", setp(f"{KA}.components", {"a": 1}), f"{KA}.components", "valid list"),
    ("type_mapping_role", setp("roles.ts", 5), "roles.ts", "valid dictionary"),
    ("type_mapping_plans", setp("plans", ["current"]), "plans", "valid dictionary"),
    ("type_bool", setp(f"{CH}.components.0.ytd_true_up", "sometimes"), f"{CH}.components.0.ytd_true_up", "boolean"),
    ("type_points", setp(f"{KA}.components.0.points", [[0.5], [1.0, 1.0]]), f"{KA}.components.0.points.0", "required"),
    # out of range
    ("range_margin", setp("roles.ts.gross_margin", 1.5), "roles.ts.gross_margin", "less than or equal to 1"),
    ("range_headcount", setp("roles.ts.headcount", 0), "roles.ts.headcount", "greater than or equal to 1"),
    ("range_salary", setp("roles.ts.base_salary", -1), "roles.ts.base_salary", "greater than or equal to 0"),
    ("range_rho", setp("market.monthly_rho", 1.0), "market.monthly_rho", "less than 1"),
    ("range_level", setp(f"{KA}.quota.level", 0), f"{KA}.quota.level", "greater than 0"),
    ("range_weight", setp(f"{KA}.components.0.weight", 1.5), f"{KA}.components.0.weight", "less than or equal to 1"),
    ("range_cap", setp(f"{KA}.components.0.cap", 0), f"{KA}.components.0.cap", "greater than 0"),
    ("range_rate", setp(f"{CH}.components.0.tiers.1.rate", -0.1), f"{CH}.components.0.tiers.1.rate",
     "greater than or equal to 0"),
    ("range_lead_rate", setp("roles.ts.production.lead_rate", 2), "roles.ts.production.lead_rate",
     "less than or equal to 1"),
    ("range_team_weight", setp(f"{KA}.team", {"weight": 2}), f"{KA}.team.weight", "less than or equal to 1"),
    ("range_top_k", setp(f"{TS}.recognition.top_k", 0), f"{TS}.recognition.top_k", "greater than or equal to 1"),
    ("range_ramp", setp("roles.ka.ramp_months", 0), "roles.ka.ramp_months", "greater than or equal to 1"),
    ("range_budget", setp("budget.incentive", -5), "budget.incentive", "greater than 0"),
    # choices
    ("enum_process", setp("roles.ch.process", "retail"), "roles.ch.process", "'telesales', 'key_account', 'channel' or 'generic'"),
    ("enum_kind", setp(f"{KA}.components.0.kind", "bonus"), f"{KA}.components.0.kind", "'curve'"),
    ("enum_period", setp(f"{KA}.components.0.period", "week"), f"{KA}.components.0.period", "'quarter'"),
    ("enum_method", setp(f"{KA}.quota.method", "random"), f"{KA}.quota.method", "'top_down'"),
    ("enum_mode", setp(f"{CH}.components.0.mode", "stepped"), f"{CH}.components.0.mode", "'retroactive'"),
    ("enum_split", setp(f"{KA}.team", {"weight": 0.2, "split": "random"}), f"{KA}.team.split", "'contribution'"),
    # missing required
    ("missing_name", delp("name"), "name", "required field is missing"),
    ("missing_roles", delp("roles"), "roles", "required field is missing"),
    ("missing_plans", delp("plans"), "plans", "required field is missing"),
    ("missing_salary", delp("roles.ts.base_salary"), "roles.ts.base_salary", "required field is missing"),
    ("missing_process", delp("roles.ka.process"), "roles.ka.process", "required field is missing"),
    ("missing_components", delp(f"{KA}.components"), f"{KA}.components", "required field is missing"),
    ("missing_component_name", delp(f"{KA}.components.0.name"), f"{KA}.components.0.name", "required field is missing"),
    ("missing_points", delp(f"{KA}.components.0.points"), f"{KA}.components.0.points", "required for kind 'curve'"),
    ("missing_rate", delp(f"{TS}.components.1.rate"), f"{TS}.components.1.rate", "required for kind 'per_unit'"),
    ("missing_tiers", delp(f"{CH}.components.0.tiers"), f"{CH}.components.0.tiers", "required for kind 'commission'"),
    ("missing_modifier_measure", delp(f"{KA}.modifiers.0.measure"), f"{KA}.modifiers.0.measure", "required"),
    ("empty_roles", setp("roles", {}), "roles", "at least 1 item"),
    # seasonality
    ("season_short", setp("roles.ka.seasonality", [1.0] * 11), "roles.ka.seasonality", "expected 12 monthly weights"),
    ("season_long", setp("roles.ka.seasonality", [1.0] * 13), "roles.ka.seasonality", "expected 12 monthly weights"),
    ("season_negative", setp("roles.ka.seasonality", [1.0] * 11 + [-1.0]), "roles.ka.seasonality.11", "greater than 0"),
    # cross-references
    ("unknown_plan_role", setp("plans.current.roles.field", {"components": []}), "plans.current.roles.field",
     "unknown role, expected one of"),
    ("missing_plan_role", delp("plans.current.roles.ch"), "plans.current.roles", "no plan for role(s) ['ch']"),
    ("unknown_measure", setp(f"{KA}.components.0.measure", "revnue"), f"{KA}.components.0.measure",
     "is not a measure of process key_account"),
    ("measure_of_other_role", setp(f"{KA}.components.0.measure", "calls"), f"{KA}.components.0.measure",
     "is not a measure of process key_account"),
    ("per_unit_on_score", setp(f"{TS}.components.1.measure", "record_accuracy"), f"{TS}.components.1.measure",
     "per_unit needs a count measure"),
    ("quota_target_not_revenue", delp(f"{KA}.components.1.target"), f"{KA}.components.1.target",
     "'quota' applies to revenue only"),
    ("gate_unknown_measure", setp(f"{TS}.gates.0.measure", "accuracy"), f"{TS}.gates.0.measure", "unknown"),
    ("gate_quota_not_revenue", delp(f"{TS}.gates.0.target"), f"{TS}.gates.0.target", "'quota' applies to revenue only"),
    ("modifier_unknown_measure", setp(f"{KA}.modifiers.0.measure", "nps"), f"{KA}.modifiers.0.measure", "unknown"),
    ("recognition_unknown_measure", setp(f"{TS}.recognition.measure", "sales"), f"{TS}.recognition.measure", "unknown"),
    ("gate_unknown_component", setp(f"{TS}.gates.0.components", ["conversions"]), f"{TS}.gates.0.components",
     "gate names component 'conversions'"),
    ("duplicate_component", setp(f"{KA}.components.1.name", "rev"), f"{KA}.components", "must be unique"),
    ("gate_empty_components", setp(f"{TS}.gates.0.components", []), f"{TS}.gates.0.components",
     "an empty list gates nothing"),
    # weights: shares of the target incentive
    ("weights_over_one", setp(f"{KA}.components.1.weight", 0.9), f"{KA}.components",
     "weights sum to 1.7 (rev 0.8 + newacc 0.9), expected 1"),
    ("weights_under_one", setp(f"{KA}.components.1.weight", 0.1), f"{KA}.components",
     "state the sum with 'weights_total: 0.9'"),
    ("weights_kpis_09_09", setp(f"{TS}.components.1", {"name": "acc", "measure": "record_accuracy", "target": 0.9,
                                                       "weight": 0.9, "points": [[0.9, 0.0], [1.0, 1.0]]}),
     f"{TS}.components", "weights sum to 1.8 (rev 0.9 + acc 0.9), expected 1"),
    ("weights_total_disagrees", setp(f"{KA}.weights_total", 0.9), f"{KA}.weights_total",
     "sum to 1 (rev 0.8 + newacc 0.2), not the stated weights_total 0.9"),
    ("unknown_base", setp("plans.variant.base", "currnet"), "plans.variant.base", "'currnet' is not a plan"),
    ("circular_base", both(setp("plans.variant.base", "company"), setp("plans.company.base", "variant")),
     "plans.", "circular base chain"),
    ("self_base", setp("plans.company.base", "company"), "plans.company.base", "circular base chain"),
    ("unknown_current_plan", setp("current_plan", "this_year"), "current_plan", "'this_year' is not one of plans"),
    ("changes_not_mapping", setp("plans.variant.changes", [1, 2]), "plans.variant.changes", "expected a mapping"),
    ("remove_unknown_component", setp("plans.variant.changes.roles.ka.components.0.name", "newacount"),
     "plans.variant.changes.roles.ka.components", "cannot remove 'newacount', the base has only ['rev', 'newacc']"),
    # shapes of pay rules
    ("points_decreasing", setp(f"{KA}.components.0.points", [[1.0, 1.0], [0.5, 2.0]]), f"{KA}.components.0.points",
     "strictly increasing attainment"),
    ("points_repeated", setp(f"{KA}.components.0.points", [[1.0, 1.0], [1.0, 2.0]]), f"{KA}.components.0.points",
     "strictly increasing attainment"),
    ("points_empty", setp(f"{KA}.components.0.points", []), f"{KA}.components.0.points", "strictly increasing"),
    ("points_negative_pay", setp(f"{KA}.components.0.points", [[0.5, -1.0], [1.0, 1.0]]),
     f"{KA}.components.0.points.0.1", "greater than or equal to 0"),
    ("tiers_decreasing", setp(f"{CH}.components.0.tiers", [{"from": 1.0, "rate": 0.1}, {"from": 0.5, "rate": 0.2}]),
     f"{CH}.components.0.tiers", "strictly increasing 'from'"),
    ("tiers_empty", setp(f"{CH}.components.0.tiers", []), f"{CH}.components.0.tiers", "at least one tier"),
    ("steps_decreasing", setp(f"{KA}.components.0", {"name": "rev", "kind": "lump_sum",
                                                      "steps": [{"at": 1.2, "amount": 1}, {"at": 1.0, "amount": 1}]}),
     f"{KA}.components.0.steps", "strictly increasing 'at'"),
    ("steps_empty", setp(f"{KA}.components.0", {"name": "rev", "kind": "lump_sum", "steps": []}),
     f"{KA}.components.0.steps", "at least one step"),
    ("modifier_decreasing", setp(f"{KA}.modifiers.0.points", [[0.9, 1.0], [0.8, 1.1]]), f"{KA}.modifiers.0.points",
     "strictly increasing value"),
    # percentages written as numbers (110 for 110%): refused, saying how to write them
    ("percent_curve_points", setp(f"{KA}.components.0.points", [[50, 0.0], [100, 1.0], [150, 2.5]]),
     f"{KA}.components.0.points.2.0", "got 150: write 1.5 for 150%"),
    ("percent_curve_cap", setp(f"{KA}.components.0.cap", 250), f"{KA}.components.0.cap",
     "got 250: write 2.5 for 250%; leave cap out for no cap"),
    ("percent_tier_from", setp(f"{CH}.components.0.tiers.2.from", 120), f"{CH}.components.0.tiers.2.from",
     "at most 10; got 120: write 1.2 for 120%"),
    ("percent_step_at", setp(f"{KA}.components.0", {"name": "rev", "kind": "lump_sum", "steps": [{"at": 110, "amount": 1}]}),
     f"{KA}.components.0.steps.0.at", "write 1.1 for 110%"),
    ("percent_gate", setp(f"{TS}.gates.0.min_attainment", 90), f"{TS}.gates.0.min_attainment", "write 0.9 for 90%"),
    ("percent_quota_level", setp(f"{KA}.quota.level", 110), f"{KA}.quota.level",
     "less than or equal to 5; got 110: write 1.1 for 110%"),
    ("percent_share", setp("roles.ts.gross_margin", 45), "roles.ts.gross_margin", "got 45: write 0.45 for 45%"),
    ("percent_score_gate", setp(f"{TS}.gates.0.target", 92), f"{TS}.gates.0.target",
     "a score measure's value is a fraction between 0 and 1 (0.92 is 92%); got 92: write 0.92 for 92%"),
    ("percent_score_modifier", setp(f"{KA}.modifiers.0.points", [[60, 0.9], [82, 1.0], [95, 1.1]]),
     f"{KA}.modifiers.0.points.0.0", "got 60: write 0.6 for 60%"),
    ("percent_score_component", setp(f"{TS}.components.1", {"name": "acc", "measure": "record_accuracy", "target": 90,
                                                            "weight": 0.1, "points": [[0.9, 0], [1.0, 1.0]]}),
     f"{TS}.components.1.target", "got 90: write 0.9 for 90%"),
    ("percent_check_edge", setp("checks", {"rules": {"share_at_quota": {"low": 40, "high": 0.9}}}),
     "checks.rules.share_at_quota.low", "expected a share between 0 and 1 (0.5 is 50%); got 40: write 0.4 for 40%"),
    ("percent_check_level", setp("checks", {"rules": {"leverage": {"max_breach_probability": 20}}}),
     "checks.rules.leverage.max_breach_probability", "between 0 and 1; got 20: write 0.2 for 20%"),
    ("check_edges_crossed", setp("checks", {"rules": {"leverage": {"low": 3, "high": 2}}}), "checks.rules.leverage",
     "low 3 is above high 2"),
    # a misspelt field: the closest name allowed where it stands
    ("suggest_role_field", both(delp("roles.ts.target_incentive"), setp("roles.ts.target_incentve", 1)),
     "roles.ts.target_incentve", "check the spelling); did you mean 'target_incentive'?"),
    ("suggest_component_field", setp(f"{KA}.components.0.cpa", 2), f"{KA}.components.0.cpa", "did you mean 'cap'?"),
    ("suggest_alias", setp(f"{CH}.components.0.tiers.0.form", 1), f"{CH}.components.0.tiers.0.form",
     "did you mean 'from'?"),
    ("suggest_production", setp("roles.ts.production.calls_per_mnth", 5), "roles.ts.production.calls_per_mnth",
     "did you mean 'calls_per_month'?"),
    ("suggest_in_changes", setp("plans.variant.changes.roles.ka.quota", {"levl": 1.1}),
     "plans.variant.roles.ka.quota.levl", "did you mean 'level'?"),
]


def test_an_unknown_field_far_from_every_name_gets_no_suggestion():
    d = small_scenario_dict()
    setp("colour", "blue")(d)
    with pytest.raises(ScenarioError) as ei:
        scenario_from_dict(d, SRC)
    (p,) = ei.value.problems
    assert p.field == "colour" and p.message == "unknown field (not allowed here; check the spelling)"


def test_weights_that_share_the_target_incentive_are_accepted():
    """A curve at 1 beside a per-unit rate, and a sum the analyst states, validate; stating it keeps the hash."""
    def current_only():
        d = small_scenario_dict()
        d["plans"] = {"current": d["plans"]["current"]}  # the derived plans edit the weights
        return d

    d = current_only()
    setp(f"{TS}.components.0.weight", 1.0)(d)
    scenario_from_dict(d, SRC)
    plain = scenario_from_dict(current_only(), SRC)
    d = current_only()
    setp(f"{KA}.weights_total", 1.0)(d)
    assert scenario_from_dict(d, SRC).sha256 == plain.sha256
    d = current_only()
    setp(f"{KA}.components.1.weight", 0.7)(d)
    setp(f"{KA}.weights_total", 1.5)(d)
    stated = scenario_from_dict(d, SRC)
    assert stated.role_plan("current", "ka").weights_total == 1.5
    assert stated.with_plan("copy", stated.plans["current"]).role_plan("copy", "ka").weights_total == 1.5


@pytest.mark.parametrize("case_id, mutate, field, words", CASES, ids=[c[0] for c in CASES])
def test_each_rule_names_file_field_and_expectation(case_id, mutate, field, words):
    d = small_scenario_dict()
    mutate(d)
    with pytest.raises(ScenarioError) as ei:
        scenario_from_dict(d, SRC)
    problems = ei.value.problems
    assert problems, case_id
    hits = [p for p in problems if p.field.startswith(field) and words in p.message]
    assert hits, f"{case_id}: no problem at {field!r} mentioning {words!r}; got {[str(p) for p in problems]}"
    for p in problems:
        assert p.source == SRC
        assert p.field, f"{case_id}: a problem without a field path: {p}"
        assert p.message.strip(), f"{case_id}: a problem without a message: {p}"
    assert SRC in str(ei.value) and field.split(".")[0] in str(ei.value)
    assert isinstance(ei.value, simlib.SimlibError)


def test_the_base_scenario_is_valid():
    s = scenario_from_dict(small_scenario_dict(), SRC)
    assert set(s.plans) == {"current", "variant", "company"}
    assert len(s.sha256) == 64 and s.source == SRC


def test_all_errors_are_reported_at_once():
    """Errors at every level, in field values and in cross-references, come out in one exception."""
    d = small_scenario_dict()
    for f in (
        setp("colour", "blue"),
        setp("market.growth_sd", "high"),
        setp("roles.ts.headcount", 0),
        setp("roles.ts.production.calls_per_mnth", 5),
        setp("roles.ka.seasonality", [1.0] * 11),
        setp(f"{KA}.components.0.points", [[1.0, 1.0], [0.5, 2.0]]),
        setp(f"{KA}.components.1.measure", "revnue"),
        setp(f"{TS}.gates.0.components", ["nope"]),
        setp("plans.variant.base", "nope"),
        setp("plans.current.roles.field", {"components": []}),
    ):
        f(d)
    with pytest.raises(ScenarioError) as ei:
        scenario_from_dict(d, SRC)
    fields = [p.field for p in ei.value.problems]
    for want in ("colour", "market.growth_sd", "roles.ts.headcount", "roles.ts.production.calls_per_mnth",
                 "roles.ka.seasonality", f"{KA}.components.0.points", f"{KA}.components.1.measure",
                 f"{TS}.gates.0.components", "plans.variant.base", "plans.current.roles.field"):
        assert want in fields, f"{want} not reported; got {fields}"
    assert len(fields) == len(set(zip(fields, (p.message for p in ei.value.problems), strict=False)))  # no duplicates
    assert str(ei.value).startswith(f"{len(fields)} problems found:")


def test_cross_checks_are_not_duplicated_when_fields_are_valid():
    d = small_scenario_dict()
    setp(f"{KA}.components.1.measure", "revnue")(d)
    with pytest.raises(ScenarioError) as ei:
        scenario_from_dict(d, SRC)
    assert len(ei.value.problems) == 1


def test_broken_base_chain_does_not_blame_other_fields():
    d = small_scenario_dict()
    d["plans"] = {"current": {"base": "other"}, "other": {"base": "current"}}
    with pytest.raises(ScenarioError) as ei:
        scenario_from_dict(d, SRC)
    assert [p.message for p in ei.value.problems] == ["circular base chain other -> current -> other"] or all(
        "circular" in p.message for p in ei.value.problems)


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------
FILE_CASES = {
    "syntax_error.yaml": ("line 5, column", "not valid YAML"),
    "bad_indent.yaml": ("line 6, column", "not valid YAML"),
    "empty.yaml": ("", "the file is empty"),
    "top_level_list.yaml": ("", "expected a mapping at the top level"),
    "not_utf8.yaml": ("", "not a UTF-8 text file"),
    "unknown_keys.yaml": ("plans.current.roles.telesales.components.0.wieght", "unknown field"),
    "bad_values.yaml": ("roles.telesales.seasonality", "expected 12 monthly weights"),
    "bad_plans.yaml": ("plans.current.roles.telesales.gates.0.components", "gate names component 'bonsu'"),
    "wrong_shapes.yaml": ("roles.telesales", "valid dictionary"),
    "duplicate_key.yaml": ("line 8, column 5", "key 'headcount' appears twice in one mapping (first on line 6)"),
}


@pytest.mark.parametrize("name", sorted(FILE_CASES))
def test_bad_files(name):
    path = DATA / name
    field, words = FILE_CASES[name]
    with pytest.raises(ScenarioError) as ei:
        load_scenario(path)
    assert all(p.source == str(path) for p in ei.value.problems)
    assert any(p.field.startswith(field) and words in p.message for p in ei.value.problems), str(ei.value)


def test_every_data_file_is_covered():
    assert sorted(p.name for p in DATA.glob("*.yaml")) == sorted(FILE_CASES)


def test_bad_file_counts():
    """The multi-error files report every one of their mistakes."""
    counts = {"unknown_keys.yaml": 6, "bad_values.yaml": 12, "bad_plans.yaml": 8}
    for name, n in counts.items():
        with pytest.raises(ScenarioError) as ei:
            load_scenario(DATA / name)
        assert len(ei.value.problems) == n, (name, [str(p) for p in ei.value.problems])


def test_file_not_found(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ScenarioError, match="file not found") as ei:
        load_scenario(missing)
    assert str(missing) in str(ei.value)


def test_unreadable_file(tmp_path, monkeypatch):
    p = write_yaml(tmp_path / "locked.yaml", small_scenario_dict())

    def denied(self, *a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(p), "read_text", denied)
    with pytest.raises(ScenarioError, match="cannot read the file: Permission denied") as ei:
        load_scenario(p)
    assert ei.value.problems[0].source == str(p)


def test_yaml_merge_keys_still_work(tmp_path):
    text = yaml.safe_dump(small_scenario_dict(), sort_keys=False)
    text = text.replace("roles:\n  ka:\n", "defaults: &d {base_salary: 1}\nroles:\n  ka:\n", 1)
    assert "&d" in text
    # an anchor in an unknown top-level key is still an unknown key; merge keys themselves parse
    (tmp_path / "m.yaml").write_text(text)
    with pytest.raises(ScenarioError, match="defaults: unknown field"):
        load_scenario(tmp_path / "m.yaml")
    from simlib.scenario import _UniqueKeyLoader

    assert yaml.load("a: &x {b: 1, c: 2}\nd:\n  <<: *x\n  b: 3\n", Loader=_UniqueKeyLoader) == {
        "a": {"b": 1, "c": 2}, "d": {"b": 3, "c": 2}}


def test_directory(tmp_path):
    with pytest.raises(ScenarioError, match="is a directory"):
        load_scenario(tmp_path)


def test_validate_paths_collects_problems_of_all_files(tmp_path):
    probs = validate_paths([DEFAULT, DATA / "empty.yaml", DATA / "unknown_keys.yaml", tmp_path / "nope.yaml"])
    sources = {p.source for p in probs}
    assert sources == {str(DATA / "empty.yaml"), str(DATA / "unknown_keys.yaml"), str(tmp_path / "nope.yaml")}
    assert validate_paths([DEFAULT]) == []


def test_roundtrip_through_yaml(tmp_path):
    p = write_yaml(tmp_path / "small.yaml", small_scenario_dict())
    s = load_scenario(p)
    assert s.source == str(p)
    assert s.sha256 == scenario_from_dict(small_scenario_dict(), "elsewhere").sha256  # hash of content, not path


# ---------------------------------------------------------------------------
# plans written as changes to a base plan
# ---------------------------------------------------------------------------
def test_changes_merge_components_by_name(small_scenario):
    cur = small_scenario.plans["current"].roles
    var = small_scenario.plans["variant"].roles
    assert [c.name for c in var["ka"].components] == ["rev", "lump"]  # newacc removed, lump appended
    assert var["ka"].components[0].points == cur["ka"].components[0].points  # untouched fields inherited
    assert var["ka"].quota.method == "flat" and var["ka"].quota.noise == cur["ka"].quota.noise
    assert var["ts"].components[0].kind == "commission" and var["ts"].components[0].points is None  # null deletes
    assert var["ts"].components[1].rate == cur["ts"].components[1].rate and var["ts"].components[1].cap == 400
    assert var["ka"].modifiers == cur["ka"].modifiers
    assert small_scenario.plans["variant"].description.startswith("other quota methods")


def test_deep_merge_rules():
    base = {"a": 1, "b": {"c": 2, "d": 3}, "items": [{"name": "x", "v": 1}, {"name": "y", "v": 2}]}
    out = deep_merge(base, {"b": {"c": 5, "d": None}, "items": [{"name": "y", "remove": True}, {"name": "z", "v": 3},
                                                                 {"name": "x", "v": 9}]})
    assert out == {"a": 1, "b": {"c": 5}, "items": [{"name": "x", "v": 9}, {"name": "z", "v": 3}]}
    assert base["b"] == {"c": 2, "d": 3}  # inputs untouched
    assert deep_merge([1, 2], [3]) == [3]  # plain lists are replaced


def test_chained_bases(small_dict):
    small_dict["plans"]["deeper"] = {"base": "variant", "changes": {"roles": {"ka": {"quota": {"level": 1.3}}}}}
    s = scenario_from_dict(small_dict, SRC)
    assert s.plans["deeper"].roles["ka"].quota.level == 1.3
    assert s.plans["deeper"].roles["ka"].quota.method == "flat"
    assert s.plans["deeper"].roles["ka"].team.weight == 0.4


def test_with_plan_validates(small_scenario):
    plan = copy.deepcopy(small_scenario.plans["current"].model_dump(by_alias=True))
    plan["roles"]["ka"]["quota"]["level"] = 1.2
    s2 = small_scenario.with_plan("stretch", plan)
    assert s2.plans["stretch"].roles["ka"].quota.level == 1.2 and "stretch" not in small_scenario.plans
    assert s2.sha256 != small_scenario.sha256
    plan["roles"]["ka"]["components"][0]["measure"] = "nope"
    with pytest.raises(ScenarioError, match="plans.stretch.roles.ka.components.0.measure"):
        small_scenario.with_plan("stretch", plan)


def test_defaults_are_filled_and_normalised(small_scenario):
    ts = small_scenario.roles["ts"]
    assert ts.seasonality == [1.0] * 12 and sum(ts.season) == pytest.approx(12)
    assert ts.process_params().calls_per_month == 600 and ts.process_params().lead_rate == 0.10
    ka = small_scenario.roles["ka"]
    assert sum(ka.season) == pytest.approx(12.0)
    assert small_scenario.target_incentive("current", "ts") == 18000
    assert small_scenario.base_salary("current", "ka") == 90000


def test_default_scenario_is_valid_and_has_three_roles(default_scenario):
    assert set(default_scenario.roles) == {"key_account", "telesales", "channel"}
    assert {r.process for r in default_scenario.roles.values()} == {"key_account", "telesales", "channel"}
    assert len(default_scenario.plans) >= 4 and default_scenario.current_plan in default_scenario.plans
    raw = yaml.safe_load(DEFAULT.read_text())
    assert sum(1 for p in raw["plans"].values() if "base" in p) >= 3


def test_omitted_production_is_filled_with_the_process_defaults():
    """A role without a production section gets every default (calibration and reports rely on them)."""
    from simlib.scenario import TelesalesProduction

    with open(DEFAULT) as fh:
        data = yaml.safe_load(fh)
    del data["roles"]["telesales"]["production"]
    scen = simlib.scenario_from_dict(data, "no_production.yaml")
    assert scen.roles["telesales"].production == TelesalesProduction().model_dump()


def test_generic_process_validates_its_measures_and_parameters(small_dict):
    from simlib.errors import ScenarioError
    from simlib.scenario import scenario_from_dict

    d = small_dict
    d["roles"]["ch"]["process"] = "generic"
    d["roles"]["ch"]["production"] = {"revenue_per_month": 30000, "revenue_cv": -1, "partners_per_month": 1}
    with pytest.raises(ScenarioError) as ei:
        scenario_from_dict(d, "g.yaml")
    msgs = {p.field: p.message for p in ei.value.problems}
    assert "greater than or equal to 0" in msgs["roles.ch.production.revenue_cv"]
    assert "unknown field" in msgs["roles.ch.production.partners_per_month"]
    assert any("'partners_opened' is not a measure of process generic" in m and "units" in m for m in msgs.values())


# ---------------------------------------------------------------------------
# scorecards: each rule names the field and says what was expected
# ---------------------------------------------------------------------------
def _card(**over):
    card = {
        "name": "card",
        "measures": [
            {"measure": "revenue", "weight": 60, "intervals": [{"from": 0, "to": 0.8, "score": 0},
                                                                {"from": 0.8, "to": 1.0, "score": 70},
                                                                {"from": 1.0, "score": 100}]},
            {"measure": "record_accuracy", "target": 0.92, "weight": 40, "curve": [[0.9, 0], [1.0, 100]]},
        ],
        "payout": {"curve": [[50, 0.5], [100, 1.0]]},
    }
    return {**card, **over}


def _with_card(card):
    def f(d):
        d["plans"]["current"]["roles"]["ts"]["scorecards"] = [card]
    return f


CARD = f"{TS}.scorecards.0"
SCORECARD_CASES = [
    ("weights_off_total", _card(measures=[{**_card()["measures"][0], "weight": 50}, _card()["measures"][1]]),
     f"{CARD}.measures", "measure weights sum to 90, expected the stated total 100"),
    ("weights_off_fraction_total", _card(total=1), f"{CARD}.measures", "expected the stated total 1"),
    ("interval_gap", _card(measures=[{**_card()["measures"][0], "intervals": [
        {"from": 0, "to": 0.8, "score": 0}, {"from": 0.9, "score": 100}]}, _card()["measures"][1]]),
     f"{CARD}.measures.0.intervals", "gap: interval 0 ends at 0.8 but interval 1 starts at 0.9"),
    ("interval_overlap", _card(measures=[{**_card()["measures"][0], "intervals": [
        {"from": 0, "to": 1.0, "score": 0}, {"from": 0.9, "score": 100}]}, _card()["measures"][1]]),
     f"{CARD}.measures.0.intervals", "overlap: interval 0 ends at 1 after interval 1 starts at 0.9"),
    ("interval_open_not_last", _card(measures=[{**_card()["measures"][0], "intervals": [
        {"from": 0, "score": 0}, {"from": 0.9, "score": 100}]}, _card()["measures"][1]]),
     f"{CARD}.measures.0.intervals", "has no 'to' but is not the last"),
    ("interval_out_of_order", _card(payout={"intervals": [{"from": 60, "to": 80, "score": 1},
                                                          {"from": 40, "score": 2}]}),
     f"{CARD}.payout.intervals", "increasing order"),
    ("scale_both", _card(payout={"curve": [[50, 1]], "intervals": [{"from": 0, "score": 1}]}),
     f"{CARD}.payout.intervals", "exactly one of 'intervals'"),
    ("scale_neither", _card(payout={}), f"{CARD}.payout.intervals", "exactly one of 'intervals'"),
    ("unknown_scored_measure", _card(measures=[_card()["measures"][0], {**_card()["measures"][1], "measure": "nps"}]),
     f"{CARD}.measures.1.measure", "'nps' is not a measure of process telesales"),
    ("scored_measure_quota_target", _card(measures=[_card()["measures"][0],
                                                    {k: v for k, v in _card()["measures"][1].items() if k != "target"}]),
     f"{CARD}.measures.1.target", "'quota' applies to revenue only"),
    ("measure_twice", _card(measures=[{**_card()["measures"][0], "weight": 50}, {**_card()["measures"][0], "weight": 50}]),
     f"{CARD}.measures", "each measure may be scored once per scorecard"),
    ("card_named_like_component", _card(name="rev"), f"{TS}.components", "names must be unique, repeated: ['rev']"),
    ("unknown_scorecard_field", _card(weights=[1]), f"{CARD}.weights", "unknown field"),
    ("percent_scored_interval", _card(measures=[{**_card()["measures"][0], "intervals": [
        {"from": 0, "to": 80, "score": 0}, {"from": 80, "to": 100, "score": 70}, {"from": 100, "score": 100}]},
        _card()["measures"][1]]), f"{CARD}.measures.0.intervals.1.from", "got 80: write 0.8 for 80%"),
    ("percent_scored_curve", _card(measures=[_card()["measures"][0], {**_card()["measures"][1],
                                                                      "curve": [[90, 0], [100, 100]]}]),
     f"{CARD}.measures.1.curve.1.0", "at most 10; got 100: write 1 for 100%"),
]


@pytest.mark.parametrize("case_id, card, field, words", SCORECARD_CASES, ids=[c[0] for c in SCORECARD_CASES])
def test_each_scorecard_rule_names_the_field(case_id, card, field, words):
    test_each_rule_names_file_field_and_expectation(case_id, _with_card(card), field, words)


def test_a_valid_scorecard_leaves_other_scenarios_hash_alone():
    """A scorecard-only role plan needs no components; scenarios without scorecards keep their hash."""
    d = small_scenario_dict()
    before = scenario_from_dict(d, SRC).sha256
    d["plans"]["card"] = {"roles": {"ka": d["plans"]["current"]["roles"]["ka"], "ch": d["plans"]["current"]["roles"]["ch"],
                                    "ts": {"scorecards": [_card()]}}}
    s = scenario_from_dict(d, SRC)
    assert s.role_plan("card", "ts").components == [] and s.role_plan("card", "ts").scorecards[0].total == 100
    # the canonical dump (whose SHA-256 is the scenario's hash) has no trace of an empty scorecard list
    assert "scorecards" not in s.plans["current"].roles["ts"].model_dump(by_alias=True, mode="json")
    assert "scorecards" in s.plans["card"].roles["ts"].model_dump(by_alias=True, mode="json")
    assert s.sha256 != before


@pytest.mark.parametrize("relief, field, words", [
    ({"band": 1.5}, "band", "less than or equal to 1"),
    ({"band": 0.1, "share": -0.5}, "share", "greater than or equal to 0"),
    ({"band": 0.1, "shares": 1}, "shares", "unknown field"),
])
def test_quota_relief_rules_name_the_field(relief, field, words):
    def f(d):
        d["plans"]["current"]["roles"]["ts"]["quota_relief"] = relief
    test_each_rule_names_file_field_and_expectation("relief", f, f"{TS}.quota_relief.{field}", words)
