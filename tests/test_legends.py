"""Printed tables say what their columns mean in the columns' own words, and name metrics as people do."""

from __future__ import annotations

import re

import pytest
from conftest import write_yaml

from simlib.cli import main
from simlib.present import CATALOGUE


def _legend_keys(line: str) -> list[str]:
    """The keys a legend line explains: ``KEY = meaning`` items separated by ``; ``."""
    return [part.split(" = ")[0].strip() for part in line.split("; ") if " = " in part]


def _legend_lines(out: str) -> list[str]:
    return [x for x in out.splitlines() if " = " in x and "; " in x]


def _headers(out: str) -> str:
    """The tables' header lines: a text table's column line starts with blanks (its index has no name there)."""
    legends = set(_legend_lines(out))
    return "\n".join(x for x in out.splitlines() if x[:1] == " " and x.strip() and x not in legends)


def _check(out: str) -> list[str]:
    """Each legend key other than ``*`` (a mark in the cells) appears in a column header; returns the keys."""
    lines = _legend_lines(out)
    assert lines, out
    keys = [k for line in lines for k in _legend_keys(line) if k != "*"]
    headers = _headers(out)
    for k in keys:
        assert k in headers, f"legend key {k!r} is no column's word:\n{out}"
    return keys


@pytest.fixture
def scenario_path(tmp_path, small_dict):
    return write_yaml(tmp_path / "s.yaml", small_dict)


COMMON = ["--trials", "6", "--scheduler", "serial"]


@pytest.mark.parametrize("extra, expected", [
    ([], {"Δ"}),
    (["--behaviour-draws", "2"], {"Δ", "model ±", ">0"}),
    (["--years", "2"], {"Δ"}),
])
def test_run_legends_use_the_words_of_their_columns(scenario_path, capsys, extra, expected):
    capsys.readouterr()
    assert main(["run", str(scenario_path), "--plans", "variant", "--group", "total", *COMMON, *extra]) == 0
    assert set(_check(capsys.readouterr().out)) == expected


@pytest.mark.parametrize("extra, expected", [([], {"Δ"}), (["--behaviour-draws", "2"], {"Δ", "model ±", ">0"})])
def test_sweep_legends_use_the_words_of_their_columns(scenario_path, capsys, extra, expected):
    capsys.readouterr()
    assert main(["sweep", str(scenario_path), "--param", "roles.ts.team.weight=0,0.5", *COMMON, *extra]) == 0
    out = capsys.readouterr().out
    assert set(_check(out)) == expected
    if extra:  # the share of draws column is "Δ Profit >0", and the legend says ">0", not "Δ>0"
        assert "Δ>0" not in out and "Δ Profit >0" in out


def test_optimize_robustness_names_metrics_and_its_legend_matches_its_columns(scenario_path, capsys):
    capsys.readouterr()
    main(["optimize", str(scenario_path), "--param", "target_level=0.9:1.1", "--starts", "2", "--maxiter", "0",
          "--no-sensitivity", "--behaviour-draws", "2", *COMMON])
    out = capsys.readouterr().out
    assert set(_check(out)) == {"Δ optimum", "model ±", ">0"}
    block = out[out.index("behavioural draws:"):]
    # display names and units, as run prints them; no metric id anywhere in the block
    assert "Profit (gross profit - comp)" in block and "Incentive cost" in block and " EUR ± " in block
    assert re.search(r"Reps at or above quota +[+-]?\d+\.\d pp ±", block)
    assert not set(re.findall(r"[a-z_]+", block)) & {m for m in CATALOGUE if "_" in m}, block
    assert not re.search(r"^  (profit|revenue|leverage) ", block, re.M)
    assert re.search(r"on profit in \d+% of plausible behaviours|tie on profit", block)
    assert re.search(r"^objective \(maximised\): Profit \(gross profit - comp\) = ", out, re.M)


def test_optimize_sensitivity_legend_matches_its_columns(scenario_path, capsys):
    """The sensitivity table's regret and shift columns are explained in a legend line of their own words."""
    capsys.readouterr()
    main(["optimize", str(scenario_path), "--param", "target_level=0.9:1.1", "--starts", "1", "--maxiter", "0",
          "--sensitivity", "scenario.market.growth_sd=0.1", "--sensitivity-maxiter", "0", *COMMON])
    out = capsys.readouterr().out
    block = out[out.index("sensitivity (re-optimised"):]
    assert set(_check(block)) == {"Objective", "Feasible", "Regret", "target level"}
    assert "Regret = the re-optimised objective minus the optimum's kept as is" in block
