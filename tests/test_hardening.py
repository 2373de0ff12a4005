"""Hostile and careless input: every class of fault gives a clear error before any work, never a traceback."""

from __future__ import annotations

import copy
import socket
import threading
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml
from conftest import DEFAULT, run_cli, small_scenario_dict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simlib.errors import PlanError, ScenarioError, SimlibError
from simlib.scenario import MAX_YAML_DEPTH, MAX_YAML_NODES, load_scenario, scenario_from_dict

BAD_NUMBERS = [float("inf"), float("-inf"), float("nan"), True, False, 1e13, -1e13, 1e308]


def _numeric_paths(data, prefix=()):
    """Paths (tuples of keys and indices) of every number in a scenario dict, booleans left out."""
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return [prefix] if isinstance(data, (int, float)) and not isinstance(data, bool) else []
    return [p for k, v in items for p in _numeric_paths(v, (*prefix, k))]


def _with_value(data, path, value):
    out = copy.deepcopy(data)
    node = out
    for k in path[:-1]:
        node = node[k]
    if isinstance(node, tuple):  # not produced by YAML, but keep the helper honest
        raise TypeError(path)
    node[path[-1]] = value
    return out


SMALL = small_scenario_dict()
PATHS = _numeric_paths(SMALL)


def _shipped_dict(name: str) -> dict:
    """A shipped scenario's YAML as a dict, with the multi-year people section switched on (so that its numbers
    are in play too)."""
    import yaml

    from simlib.io import SHIPPED

    data = yaml.safe_load((SHIPPED / "scenarios" / name).read_text())
    data["people"] = {"attrition": {"enabled": True, "annual_rate": 0.2, "pay_elasticity": 1.5},
                      "hiring": {"lag_months": 2, "cost": 0.3}}
    return data


#: the plan mechanics beyond SMALL: scorecards and quota relief, draws and SPIFFs, and the people section
MECHANICS = {name: _shipped_dict(name) for name in ("scorecards.yaml", "mechanics.yaml")}
MECHANIC_PATHS = [(name, p) for name, d in MECHANICS.items() for p in _numeric_paths(d)
                  if any(k in p for k in ("scorecards", "quota_relief", "draw", "spiffs", "people"))]


# --------------------------------------------------------------------------
# numbers in a scenario
# --------------------------------------------------------------------------


def test_the_strategy_reaches_many_numeric_fields():
    assert len(PATHS) > 40


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), bad=st.sampled_from(BAD_NUMBERS))
def test_a_bad_number_anywhere_is_refused_naming_its_field(path, bad):
    data = _with_value(SMALL, path, bad)
    field = ".".join(map(str, path))
    if "changes" in path:  # a derived plan's problems name the merged plan, whose lists merge by name
        merged = [k for k in path if k != "changes"]
        cut = next((i for i, k in enumerate(merged) if isinstance(k, int)), len(merged))
        field = ".".join(map(str, merged[:cut]))
    with pytest.raises(ScenarioError) as ei:
        scenario_from_dict(data, "s.yaml")
    problems = ei.value.problems
    assert all(p.source == "s.yaml" for p in problems)
    assert any(field.startswith(p.field) or p.field.startswith(field) for p in problems if p.field), str(ei.value)


def test_the_mechanics_strategy_reaches_every_new_section():
    keys = {k for _, p in MECHANIC_PATHS for k in p if isinstance(k, str)}
    assert {"scorecards", "draw", "spiffs", "people"} <= keys, sorted(keys)


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(MECHANIC_PATHS), bad=st.sampled_from(BAD_NUMBERS))
def test_a_bad_number_in_a_plan_mechanic_is_refused_naming_its_field(case, bad):
    name, path = case
    data = _with_value(MECHANICS[name], path, bad)
    with pytest.raises(ScenarioError) as ei:
        scenario_from_dict(data, name)
    fields = [p.field for p in ei.value.problems if p.field]
    assert fields, str(ei.value)
    # the problem names the section the bad number sits in (a derived plan's problems name the merged plan)
    section = next(k for k in path if k in ("scorecards", "quota_relief", "draw", "spiffs", "people"))
    assert any(section in f for f in fields), (path, str(ei.value))


@pytest.mark.parametrize("field, value, words", [
    ("headcount", True, "got the boolean true"),
    ("base_salary", 1e308, "less than or equal to 1000000000000"),
    ("target_incentive", float("nan"), "expected a finite number"),
    ("team_size", 10**9, "less than or equal to 10000"),
])
def test_role_numbers_say_what_was_expected(field, value, words):
    data = copy.deepcopy(SMALL)
    role = next(iter(data["roles"]))
    data["roles"][role][field] = value
    with pytest.raises(ScenarioError) as ei:
        scenario_from_dict(data, "s.yaml")
    assert any(p.field == f"roles.{role}.{field}" and words in p.message for p in ei.value.problems), str(ei.value)


def test_inf_in_a_yaml_file_fails_validate_not_run(tmp_path, capsys):
    text = (tmp_path / "s.yaml")
    data = yaml.safe_load(open(DEFAULT))
    role = next(iter(data["roles"]))
    data["roles"][role]["seasonality"] = [1.0] * 11 + [float("inf")]
    text.write_text(yaml.safe_dump(data))
    code, _, err = run_cli(capsys, "validate", text)
    assert code == 1 and f"roles.{role}.seasonality.11" in err and "finite" in err


def test_a_role_named_total_is_refused():
    data = copy.deepcopy(SMALL)
    role = next(iter(data["roles"]))
    data["roles"]["total"] = data["roles"].pop(role)
    with pytest.raises(ScenarioError) as ei:
        scenario_from_dict(data, "s.yaml")
    assert any(p.field == "roles.total" and "reserved" in p.message for p in ei.value.problems)


# --------------------------------------------------------------------------
# YAML structure
# --------------------------------------------------------------------------


def test_deep_nesting_is_refused(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("name: " + "[" * 30000 + "]" * 30000 + "\n")
    with pytest.raises(ScenarioError, match=f"nested more than {MAX_YAML_DEPTH} levels"):
        load_scenario(path)


def test_alias_bomb_is_refused_before_it_expands(tmp_path):
    lines = ["name: x", "a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]  # 10**10 values
    lines += ["roles:", "  t:", "    process: telesales", "    headcount: *a9"]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ScenarioError) as ei:
        load_scenario(path)
    msg = str(ei.value)
    assert f"at most {MAX_YAML_NODES:,}" in msg and len(msg) < 1000


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("name: &a [*a]\n")
    with pytest.raises(ScenarioError, match="refers to the anchor that contains it"):
        load_scenario(path)


def test_error_messages_quote_a_bounded_excerpt_of_the_input():
    data = copy.deepcopy(SMALL)
    role = next(iter(data["roles"]))
    data["roles"][role]["headcount"] = ["x" * 1000] * 1000  # a large value in a typed field
    with pytest.raises(ScenarioError) as ei:
        scenario_from_dict(data, "s.yaml")
    assert len(str(ei.value)) < 2000


# --------------------------------------------------------------------------
# optimisation expressions
# --------------------------------------------------------------------------


def test_a_huge_constraint_is_refused_at_once():
    from simlib.design.optimize import parse_constraints

    with pytest.raises(PlanError, match="longer than"):
        parse_constraints("1" * 40000, ["total"])


@pytest.mark.parametrize("text", ["profit<=1e999", "-1e999<=profit<=1", "profit>=-inf"])
def test_non_finite_constraint_bounds_are_refused(text):
    from simlib.design.optimize import parse_constraints

    with pytest.raises(PlanError):
        parse_constraints(text, ["total"])


@pytest.mark.parametrize("text", ["profit=nan", "profit=inf", "profit=1,revenue=-inf"])
def test_non_finite_objective_weights_are_refused(text):
    from simlib.design.optimize import parse_objective

    with pytest.raises(PlanError, match="finite"):
        parse_objective(text)


def test_a_violated_constraint_prints_as_violated():
    from simlib.cli.optimize import format_result

    cons = pd.DataFrame([dict(constraint="profit >= 1e+09", value=5.0, se=0.1, satisfied=False, binding=True)])
    prov = dict(base_plan="current", scenario="s", scenario_file="s.yaml", trials=10, seed_entropy=0, behaviour="none",
                evaluations=3, objective={"profit": 1.0}, bounds={"cap": (1.0, 2.0)})
    r = SimpleNamespace(provenance=prov, objective=1.0, objective_se=0.1, feasible=False, params={"cap": 1.5},
                        constraints=cons, differences=pd.DataFrame(columns=["group", "metric", "diff", "se"]),
                        robustness=None, sensitivity=pd.DataFrame())
    text = format_result(r)
    assert "VIOLATED" in text and "BINDING" not in text


# --------------------------------------------------------------------------
# the command line: usage errors, sizes, outputs
# --------------------------------------------------------------------------


def test_usage_errors_exit_1_with_the_usage(capsys):
    code, _, err = run_cli(capsys, "run", DEFAULT, "--trials", "0")
    assert code == 1 and err.startswith("usage: simlib run") and "--trials" in err


@pytest.mark.parametrize("args, words", [
    (["run", DEFAULT, "--trials", 10**12], "--allow-large"),
    (["run", DEFAULT, "--trials", 10**6], "rep-months"),
    (["sweep", DEFAULT, "--param", "cap=1:3", "--design", "sobol", "--points", 10**11], "--allow-large"),
    (["sweep", DEFAULT, "--param", "cap=1:3:1000000000"], "at most 1,000,000 values"),
    (["sweep", DEFAULT, "--param", "cap=1:inf:3"], "finite"),
    (["optimize", DEFAULT, "--param", "cap=1:3", "--trials", 10**9], "--allow-large"),
    (["optimize", DEFAULT, "--param", "cap=1:3", "--objective", "profit=nan"], "finite"),
    (["optimize", DEFAULT, "--param", "cap=1:3", "--constraint", "comp_cost_of_sales<=1e999"], "finite"),
    (["validate-model", "--trials", 0], "expected a whole number >= 2"),
    (["run", DEFAULT, "--scheduler", "foo:bar"], "expected 'auto'"),
    (["run", DEFAULT, "--scheduler", "http://example.org:80"], "tcp://host:port"),
])
def test_requests_refused_before_work(args, words, capsys):
    code, _, err = run_cli(capsys, *args)
    assert code == 1 and words in err, err


def test_request_limit_is_computed_from_the_scenario():
    from simlib.engine.core import MAX_REP_MONTHS, RequestTooLarge, check_request, request_size

    scen = load_scenario(DEFAULT)
    trials = int(MAX_REP_MONTHS // (scen.headcount * 12)) + 1
    assert request_size(scen, trials, 1) > MAX_REP_MONTHS
    with pytest.raises(RequestTooLarge):
        check_request(scen, trials, 1)
    check_request(scen, trials, 1, allow_large=True)
    check_request(scen, 1000, len(scen.plans))


@pytest.fixture
def no_simulation(monkeypatch):
    """Fail the test if a sweep or an optimisation starts computing."""
    import simlib.cli.sweep
    import simlib.design.optimize

    def boom(*a, **k):
        raise AssertionError("the output path should have been checked before any work")

    monkeypatch.setattr(simlib.cli.sweep, "run_sweep", boom)
    monkeypatch.setattr(simlib.design.optimize, "optimize", boom)


@pytest.mark.parametrize("command", [["sweep", DEFAULT, "--param", "cap=1.5,2"], ["optimize", DEFAULT, "--param", "cap=1:3"]])
@pytest.mark.parametrize("case", ["exists", "directory", "under_a_file", "suffix"])
def test_out_is_checked_before_any_work(command, case, tmp_path, capsys, no_simulation):
    existing = tmp_path / "old.csv"
    existing.write_text("keep me\n")
    out = {"exists": existing, "directory": tmp_path, "under_a_file": existing / "x.csv",
           "suffix": tmp_path / "x.txt"}[case]
    code, _, err = run_cli(capsys, *command, "--out", out)
    assert code == 1 and "--out" in err, err
    assert existing.read_text() == "keep me\n"


def test_out_in_a_read_only_folder_is_refused(tmp_path, capsys, no_simulation):
    import os

    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code, _, err = run_cli(capsys, "sweep", DEFAULT, "--param", "cap=1.5,2", "--out", ro / "x.csv")
    finally:
        ro.chmod(0o755)
    assert code == 1 and "permission denied" in err


def test_check_out_accepts_a_new_file_and_an_existing_one_with_force(tmp_path):
    from simlib.cli.args import check_out

    check_out(None, False)
    check_out(str(tmp_path / "new_folder" / "x.csv"), False)  # the folder is created when the file is written
    existing = tmp_path / "old.json"
    existing.write_text("{}")
    with pytest.raises(SimlibError, match="--force"):
        check_out(str(existing), False)
    check_out(str(existing), True)


# --------------------------------------------------------------------------
# a Dask scheduler that never answers
# --------------------------------------------------------------------------


@pytest.fixture
def silent_server():
    """A TCP server on 127.0.0.1 that accepts connections and never answers (or sends junk when asked)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    state = {"junk": False, "conns": []}

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            state["conns"].append(c)
            if state["junk"]:
                c.sendall(b"SSH-2.0-OpenSSH_9.0\r\n" * 8)

    threading.Thread(target=serve, daemon=True).start()
    yield srv.getsockname()[1], state
    srv.close()
    for c in state["conns"]:
        c.close()


def test_a_scheduler_that_never_answers_times_out(silent_server):
    pytest.importorskip("dask.distributed")
    from simlib.engine.parallel import connect_client

    port, _ = silent_server
    with pytest.raises(SimlibError, match="no answer within 1 s"):
        connect_client(f"tcp://127.0.0.1:{port}", timeout=1.0)


def test_a_service_that_is_not_dask_is_named_so(silent_server):
    pytest.importorskip("dask.distributed")
    from simlib.engine.parallel import connect_client

    port, state = silent_server
    state["junk"] = True
    with pytest.raises(SimlibError, match="not a Dask scheduler"):
        connect_client(f"tcp://127.0.0.1:{port}", timeout=120.0)  # the junk answer ends it at once; the limit only guards a hang


@pytest.mark.parametrize("text, expected", [
    ("tcp://10.0.0.5:8786", "tcp://10.0.0.5:8786"),
    ("tls://sched.example.org:8786", "tls://sched.example.org:8786"),
    ("10.0.0.5:8786", "tcp://10.0.0.5:8786"),
    ("tcp://[::1]:8786", "tcp://[::1]:8786"),
])
def test_scheduler_address_forms(text, expected):
    from simlib.engine.parallel import scheduler_address

    assert scheduler_address(text) == expected


@pytest.mark.parametrize("text", ["foo:bar", "http://x:80", "tcp://h:0", "tcp://h:70000", "tcp://a b:1", "udp://h:1"])
def test_bad_scheduler_addresses(text):
    from simlib.engine.parallel import scheduler_address

    with pytest.raises(SimlibError, match="expected"):
        scheduler_address(text)


@pytest.mark.parametrize("spec", [" " * 100_000, "a" * 100_000, "x" * 1000 + "=" + "1," * 5000])
def test_long_sensitivity_specs_are_refused(spec):
    from simlib.design.optimize import expand_sensitivity

    with pytest.raises(PlanError, match="longer than"):
        expand_sensitivity([spec])


def test_sensitivity_specs_keep_their_meaning():
    from simlib.design.optimize import expand_sensitivity

    assert expand_sensitivity([" scenario.roles.*.effort_elasticity *= 0.5, 1.5 "]) == [
        "scenario.roles.*.effort_elasticity*=0.5", "scenario.roles.*.effort_elasticity*=1.5"]
    assert expand_sensitivity(["market.growth_sd=0.1"]) == ["market.growth_sd=0.1"]



def test_a_dotted_role_name_is_refused_with_its_field():
    """Dots separate field paths (and the engine's draw keys): a role named with one is refused, not a crash."""
    from simlib import ScenarioError, scenario_from_dict

    data = small_scenario_dict()
    old = next(iter(data["roles"]))
    data["roles"]["a.b"] = data["roles"].pop(old)
    for plan in data["plans"].values():
        if old in plan.get("roles", {}):
            plan["roles"]["a.b"] = plan["roles"].pop(old)
    with pytest.raises(ScenarioError) as e:
        scenario_from_dict(data, "dotted.yaml")
    assert "dotted.yaml" in str(e.value) and "roles.a.b" in str(e.value) and "without '.'" in str(e.value)
