"""The command line as a new user meets it: `simlib run`, `simlib validate`, formats, malformed input."""

from __future__ import annotations

import importlib
import io
import json
import math
import re
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pandas as pd
import pytest
from conftest import DATA, DEFAULT, ROOT

import simlib.present as present

BAD_FILES = sorted(DATA.glob("*.yaml"))


def simlib_cli(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "simlib", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env)


class _Proc:
    """What an in-process ``simlib.cli.main`` call printed and returned, shaped like CompletedProcess."""

    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def simlib_main(capsys, *args):
    """Run the CLI in this process (fast); an uncaught exception would fail the test with its traceback."""
    from simlib.cli import main

    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    out = capsys.readouterr()
    return _Proc(code, out.out, out.err)


def _no_traceback(proc):
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert "internal error" not in proc.stderr, proc.stderr


def _strict_json(text):
    def no_nan(token):
        raise ValueError(f"non-standard JSON constant {token}")
    return json.loads(text, parse_constant=no_nan)


@pytest.fixture(scope="module")
def json_run():
    proc = simlib_cli("run", DEFAULT, "--trials", 40, "--seed", 3, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return _strict_json(proc.stdout)


def test_run_prints_every_plan_with_cis_and_differences(default_scenario):
    proc = simlib_cli("run", DEFAULT, "--trials", 30, "--seed", 1)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for plan in default_scenario.plans:
        name = plan.replace("_", " ")  # plans read in words
        assert name in out
        if plan != "current":
            assert f"Δ {name}" in out
    for group in ("total", "key account", "telesales", "channel"):
        assert f"== {group} ==" in out
    for metric in ("revenue", "incentive_cost", "total_comp", "comp_cost_of_sales", "share_at_quota", "leverage",
                   "gini_pay", "p95_incentive_cost", "over_budget", "pay_performance_corr"):
        assert present.label(metric) in out  # rows read as display names, not metric ids
    assert "comp_cost_of_sales" not in out and "e+0" not in out
    assert "M EUR ±" in out and "% ±" in out  # money in the scenario's currency, shares in percent
    assert "±" in out and "sha256" in out and "30 trials" in out
    _no_traceback(proc)


def test_json_format(json_run, default_scenario):
    assert set(json_run) == {"provenance", "summary", "differences"}
    prov = json_run["provenance"]
    assert prov["scenario_sha256"] == default_scenario.sha256 and prov["trials"] == 40 and prov["seed_entropy"] == "3"
    s = pd.DataFrame(json_run["summary"])
    assert set(s.plan) == set(default_scenario.plans)
    assert {"mean", "se", "ci_low", "ci_high", "n", "unit"} <= set(s.columns)
    d = pd.DataFrame(json_run["differences"])
    assert set(d.plan) == set(default_scenario.plans) - {"current"} and set(d.reference) == {"current"}
    for rec in json_run["summary"]:
        for k in ("mean", "se"):
            assert rec[k] is None or math.isfinite(rec[k])


def test_csv_format_and_same_seed_same_numbers(json_run):
    proc = simlib_cli("run", DEFAULT, "--trials", 40, "--seed", 3, "--format", "csv", "--chunk-size", 7)
    assert proc.returncode == 0, proc.stderr
    df = pd.read_csv(io.StringIO(proc.stdout))
    assert list(df.columns) == ["kind", "plan", "reference", "group", "metric", "mean", "se", "ci_low", "ci_high", "n"]
    assert set(df.kind) == {"level", "difference"}
    lv = df[df.kind == "level"].set_index(["plan", "group", "metric"])["mean"]
    js = pd.DataFrame(json_run["summary"]).set_index(["plan", "group", "metric"])["mean"]
    common = js.dropna().index
    # the same seed gives the same numbers whatever the chunk size (up to CSV's printed precision)
    pd.testing.assert_series_equal(lv.loc[common], js.loc[common].astype(float), check_names=False, rtol=1e-12)


def test_plans_group_and_seed_options(default_scenario, capsys):
    proc = simlib_main(capsys, "run", DEFAULT, "--plans", "harder_target", "--trials", 10, "--group", "telesales",
                      "--format", "table")
    assert proc.returncode == 0, proc.stderr
    assert "== telesales ==" in proc.stdout and "== total ==" not in proc.stdout
    assert "Δ harder target" in proc.stdout and "team weighted" not in proc.stdout


def _declared_entry_point() -> str:
    """``module:function`` of the ``simlib`` console script declared in pyproject.toml."""
    found = re.search(r'^\[project\.scripts\]\s*^simlib\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert found, "pyproject.toml declares no simlib console script"
    return found.group(1)


def test_declared_console_script_runs_the_command_line(capsys):
    module, function = _declared_entry_point().split(":")
    entry = getattr(importlib.import_module(module), function)
    assert entry(["validate", str(DEFAULT)]) == 0
    assert f"ok: {DEFAULT}" in capsys.readouterr().out


def test_console_script_if_installed():
    exe = Path(sys.executable).parent / "simlib"
    if not exe.exists():
        exe = shutil.which("simlib")
    if not exe:
        pytest.skip("console script not installed in this environment")
    installed = [ep.value for ep in entry_points(group="console_scripts") if ep.name == "simlib"]
    if installed and installed[0] != _declared_entry_point():
        pytest.skip(f"the installed console script calls {installed[0]} (installed from another pyproject.toml); "
                    f"reinstall with pip install -e .")
    proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("simlib ")


def test_validate_ok(capsys):
    proc = simlib_main(capsys, "validate", DEFAULT)
    assert proc.returncode == 0 and f"ok: {DEFAULT}" in proc.stdout and proc.stderr == ""


def test_validate_reports_every_bad_file_at_once():
    proc = simlib_cli("validate", DEFAULT, *BAD_FILES)
    assert proc.returncode == 1
    _no_traceback(proc)
    for f in BAD_FILES:
        assert str(f) in proc.stderr, f
    assert "problems found:" in proc.stderr
    # every problem line names a file, and where there is a field, the field
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("  - ")]
    assert len(lines) >= len(BAD_FILES) + 20
    assert all(any(str(f) in ln for f in BAD_FILES) for ln in lines)


@pytest.mark.parametrize("path", BAD_FILES, ids=[p.name for p in BAD_FILES])
def test_run_on_malformed_scenario_exits_with_a_message(path, capsys):
    proc = simlib_main(capsys, "run", path, "--trials", 5)
    assert proc.returncode == 1
    _no_traceback(proc)
    assert proc.stderr.startswith("simlib run: error: ")
    assert str(path) in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("args, code, words", [
    (["run", "no/such/file.yaml"], 1, "file not found"),
    (["run", "scenarios"], 1, "is a directory"),
    (["run", DEFAULT, "--plans", "nope", "--trials", 5], 1, "unknown plan(s) ['nope']"),
    (["run", DEFAULT, "--group", "nope", "--trials", 5], 1, "--group: 'nope' is not a role"),
    (["run", DEFAULT, "--behaviour", "psychic", "--trials", 5], 1, "unknown behaviour 'psychic'"),
    (["run", DEFAULT, "--trials", 1], 1, "trials: expected an integer >= 2"),
    (["run", DEFAULT, "--trials", 0], 1, "expected a positive whole number"),
    (["run", DEFAULT, "--trials", "many"], 1, "expected a positive whole number, got 'many'"),
    (["run", DEFAULT, "--seed", -1], 1, "non-negative integer seed"),
    (["run", DEFAULT, "--format", "xml"], 1, "invalid choice"),
    (["run"], 1, "required: SCENARIO"),
    (["validate"], 1, "required: PATH"),
    ([], 1, "required: COMMAND"),
    (["frobnicate"], 1, "invalid choice"),
    (["sweep", DEFAULT, "--points", 0], 1, "argument --points: expected a positive whole number, got 0"),
    (["optimize", DEFAULT, "--seed", "x"], 1, "argument --seed: expected a non-negative integer seed, got 'x'"),
    (["calibrate", "h.csv", "--out", "c.yaml", "--growth", 2], 1, "expected a growth fraction between -0.5 and 1, got 2.0"),
    (["calibrate", "h.csv", "--out", "c.yaml", "--bootstrap", -1], 1, "expected a whole number >= 0, got -1"),
    (["backtest", "h.csv", "--plan-after", "p", "--growth", "lots"], 1, "expected a number such as 0.03, got 'lots'"),
    (["backtest", "h.csv", "--plan-after", "p", "--on-error", "ignore"], 1, "invalid choice: 'ignore'"),
    (["synth", DEFAULT], 1, "required: --out"),
])
def test_bad_command_lines(args, code, words, capsys):
    proc = simlib_main(capsys, *args)
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    _no_traceback(proc)
    assert words in proc.stderr, proc.stderr


@pytest.mark.parametrize("name", ["bad_plans.yaml", "syntax_error.yaml"])
def test_malformed_scenario_in_a_real_process(name):
    proc = simlib_cli("run", DATA / name, "--trials", 5)
    assert proc.returncode == 1 and proc.stdout == ""
    _no_traceback(proc)
    assert proc.stderr.startswith("simlib run: error: ") and str(DATA / name) in proc.stderr


def test_building_the_parser_leaves_the_heavy_commands_unimported():
    # `simlib --help` and `simlib run` do not pay for SciPy fitting, optimisation or papermill
    code = "import sys; from simlib.cli import build_parser; build_parser(); print(' '.join(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = set(proc.stdout.split())
    for heavy in ("simlib.fit.calibrate", "simlib.fit.backtest", "simlib.fit.synth", "simlib.design.optimize",
                  "scipy.optimize", "papermill", "matplotlib.pyplot"):
        assert heavy not in loaded, heavy


def test_version():
    proc = simlib_cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip().startswith("simlib ")


def _subcommand_parsers(parser, prefix=()):
    """(command words, parser) for every command and sub-command below ``parser``."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if sub.prog.split()[-1] != name:  # an alias (optimise) shares its command's parser
                    continue
                yield (*prefix, name), sub
                yield from _subcommand_parsers(sub, (*prefix, name))


def test_every_option_of_every_command_is_explained_in_its_help():
    # `simlib COMMAND --help` is where a new user learns the options: none is listed without a word on it,
    # and the rendered text has no leftover argparse escapes such as "95%%"
    from simlib.cli import build_parser

    commands = list(_subcommand_parsers(build_parser()))
    assert len(commands) >= 16
    for words, sub in commands:
        if words == ("plan",):  # a group of sub-commands; each is checked on its own
            continue
        for action in sub._actions:
            if action.help is None and action.dest != "help":
                pytest.fail(f"simlib {' '.join(words)}: {'/'.join(action.option_strings) or action.metavar} "
                            "has no help text")
        text = sub.format_help()
        assert "%%" not in text, f"simlib {' '.join(words)} --help shows '%%'"
        assert sub.description, f"simlib {' '.join(words)} --help has no description"
