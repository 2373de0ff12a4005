"""Plans as code: `simlib check` (breach probabilities, exit codes), `simlib diff`, the example CI workflows."""

from __future__ import annotations

import copy
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import DEFAULT, ROOT

import simlib.present as present
from simlib.cli import main
from simlib.design.review import breach_table, merged_scenario, paired_effects, plan_changes, thresholds
from simlib.engine.api import simulate
from simlib.errors import SimlibError
from simlib.format import Z95
from simlib.scenario import load_scenario, scenario_from_dict

TRIALS = "40"
CI = ROOT / "examples" / "ci"


@pytest.fixture(scope="module")
def default_dict() -> dict:
    return yaml.safe_load(DEFAULT.read_text())


def write(tmp_path: Path, data: dict, name: str = "s.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def with_checks(data: dict, checks: dict) -> dict:
    out = copy.deepcopy(data)
    out["checks"] = checks
    return out


def cli(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture(scope="module")
def current_result():
    scen = load_scenario(DEFAULT)
    return scen, simulate(scen, ["current"], trials=60, rng=3, behaviour="none")


# ---------------------------------------------------------------- check


def _row(out: str, rule: str) -> str:
    """A rule's row of `check`'s table (one plan), its cells over the table's blocks of columns joined."""
    return "  ".join(line for line in out.splitlines() if rule in line)


def test_check_fails_on_a_tight_threshold(tmp_path, capsys, default_dict):
    """Comp cost of sales is about 20% in every simulated year: a 5% ceiling is breached with probability 1."""
    p = write(tmp_path, with_checks(default_dict, {"rules": {"comp_cost_of_sales": {"high": 0.05}}}))
    rc, out, _ = cli(capsys, "check", p, "--plans", "current", "--trials", TRIALS, "--scheduler", "serial")
    assert rc == 1
    row = _row(out, present.label("comp_cost_of_sales"))
    assert "FAIL" in row and "per-trial" in row
    assert max(len(x) for x in out.splitlines()[2:] if not x.startswith(("FAIL:", "PASS:"))) <= 100  # in blocks
    assert "FAIL: current" in out


def test_check_table_reads_as_run_and_csv_stays_numeric(tmp_path, capsys, default_dict):
    """The printed table: rules by display name, shares in percent with their CI, edges and levels in percent;
    the CSV keeps the fractions (0.05, not 5.0%) for machines."""
    p = write(tmp_path, with_checks(default_dict, {"rules": {"comp_cost_of_sales": {"high": 0.05}}}))
    rc, out, _ = cli(capsys, "check", p, "--plans", "current", "--trials", TRIALS, "--scheduler", "serial")
    row = _row(out, present.label("comp_cost_of_sales"))
    assert re.search(r"\b\d{1,2}\.\d% ± \d\.\d\b", row), row  # about 19.5% ± 0.2, not 0.1954 ± 0.0010
    assert "3.0%-5.0%" in row and "100.0%" in row and "20.0%" in row  # edges, P(breach), level
    quota = _row(out, present.label("share_at_quota"))
    assert "50.0%-90.0%" in quota and not re.search(r"\b0\.\d{3}", quota)
    csv = tmp_path / "checks.csv"
    rc, _, _ = cli(capsys, "check", p, "--plans", "current", "--trials", TRIALS, "--scheduler", "serial",
                   "--format", "csv", "--out", csv)
    import pandas as pd
    t = pd.read_csv(csv).set_index("metric")
    assert t.loc["comp_cost_of_sales", "high"] == 0.05 and 0.1 < t.loc["comp_cost_of_sales", "value"] < 0.3
    assert t.loc["share_at_quota", "level"] == 0.2 and t["p_breach"].between(0, 1).all()


def test_check_passes_lenient_thresholds_and_json(tmp_path, capsys, default_dict):
    checks = yaml.safe_load((CI / "checks.yaml").read_text())["checks"]
    p = write(tmp_path, with_checks(default_dict, checks))
    rc, out, _ = cli(capsys, "check", p, "--plans", "current", "--trials", TRIALS, "--format", "json",
                     "--scheduler", "serial")
    assert rc == 0
    doc = json.loads(out)
    assert doc["passed"] and doc["failed_plans"] == []
    assert {c["metric"] for c in doc["checks"]} == {"share_at_quota", "share_120", "leverage", "comp_cost_of_sales",
                                                   "over_budget"}
    assert {c["basis"] for c in doc["checks"]} == {"normal", "per-trial"}
    # --level 0.001 tolerates almost no breach: the rules far inside their edges still pass...
    rc, out, _ = cli(capsys, "check", p, "--plans", "current", "--trials", TRIALS, "--level", "0.001",
                     "--scheduler", "serial")
    assert rc == 0  # over_budget keeps its own level (0.5) from the scenario
    # ...but without its own level the over-budget share (about 30%) fails
    p2 = write(tmp_path, with_checks(default_dict, {**checks, "budget": {}}), "s2.yaml")
    rc, out, _ = cli(capsys, "check", p2, "--plans", "current", "--trials", TRIALS, "--level", "0.001",
                     "--scheduler", "serial")
    over = present.label("over_budget")
    assert rc == 1 and over in next(x for x in out.splitlines() if "FAIL" in x and over in x)


def test_normal_basis_matches_the_closed_form(current_result):
    """An edge at the estimate gives 1/2; an edge Z95 SEs below it gives 2.5%."""
    scen, res = current_result
    s = res.summary().query("plan == 'current' and group == 'total' and metric == 'share_at_quota'").iloc[0]
    for low, expected in ((s["mean"], 0.5), (s["mean"] - Z95 * s["se"], 0.025), (s["mean"] + Z95 * s["se"], 0.975)):
        sc = scen.model_copy(update={"checks": _checks(rules={"share_at_quota": {"low": low, "high": 1.0}})})
        t = breach_table(res, sc).query("metric == 'share_at_quota'").iloc[0]
        assert t["basis"] == "normal"
        assert t["p_breach"] == pytest.approx(expected, abs=1e-9)


def _checks(**kw):
    from simlib.scenario import Checks

    return Checks(**kw)


def test_per_trial_basis_counts_simulated_years(current_result):
    """The per-trial probability is the share of trials with total comp / revenue beyond the edge, binomial SE."""
    scen, res = current_result
    tr = res.trials().query("plan == 'current' and group == 'total'").sort_values("trial")
    ratio = (tr["total_comp"] / tr["revenue"]).to_numpy()
    edge = float(np.quantile(ratio, 0.7))
    sc = scen.model_copy(update={"checks": _checks(rules={"comp_cost_of_sales": {"high": edge}})})
    t = breach_table(res, sc).query("metric == 'comp_cost_of_sales'").iloc[0]
    p = float(np.mean(ratio > edge))
    assert t["basis"] == "per-trial"
    assert t["p_breach"] == pytest.approx(p, abs=1e-12)
    assert t["p_se"] == pytest.approx(math.sqrt(p * (1 - p) / len(ratio)), rel=1e-12)
    # over budget: the probability is the summary's own share of trials over budget
    s = res.summary().query("plan == 'current' and group == 'total' and metric == 'over_budget'").iloc[0]
    ob = breach_table(res, sc).query("metric == 'over_budget'").iloc[0]
    assert ob["p_breach"] == pytest.approx(s["mean"]) and ob["p_se"] == pytest.approx(s["se"])


def test_default_thresholds_come_from_the_guardrail_bands():
    ts = {t.metric: t for t in thresholds(load_scenario(DEFAULT))}
    assert (ts["share_at_quota"].low, ts["share_at_quota"].high) == (0.5, 0.9)  # warning edges
    assert (ts["comp_cost_of_sales"].low, ts["comp_cost_of_sales"].high) == (0.03, 0.09)
    assert all(t.level == 0.2 for t in ts.values())
    assert {t.metric: t.level for t in thresholds(load_scenario(DEFAULT), 0.05)}["leverage"] == 0.05


def test_checks_do_not_change_the_scenario_hash(default_dict):
    a = scenario_from_dict(copy.deepcopy(default_dict))
    b = scenario_from_dict(with_checks(default_dict, {"max_breach_probability": 0.1}))
    assert a.sha256 == b.sha256 and b.checks.max_breach_probability == 0.1


@pytest.mark.parametrize("checks, message", [
    ({"rules": {"cost_of_sale": {"high": 0.1}}}, "checks.rules.cost_of_sale.[key]: Input should be 'share_at_quota'"),
    ({"rules": {"leverage": {"low": 3, "high": 2}}}, "low 3 is above high 2"),
    ({"groups": ["sales"]}, "checks.groups: ['sales'] not groups"),
    ({"max_breach_probability": 2}, "checks.max_breach_probability"),
    ({"rules": {"leverage": {"hgh": 2}}}, "checks.rules.leverage"),
])
def test_bad_checks_exit_1_with_a_clear_message(tmp_path, capsys, default_dict, checks, message):
    p = write(tmp_path, with_checks(default_dict, checks))
    rc, out, err = cli(capsys, "check", p, "--plans", "current", "--trials", "5", "--scheduler", "serial")
    assert rc == 1 and message in err and "Traceback" not in err


def test_checks_schema_names_every_guardrail_rule():
    """The scenario schema (which cannot import the design layer) lists the rules of simlib.design.guardrails."""
    import typing

    from simlib.design.guardrails import RULES
    from simlib.scenario import Checks

    key = typing.get_args(Checks.model_fields["rules"].annotation)[0]
    assert set(typing.get_args(key)) == {r.metric for r in RULES}


def test_check_usage_errors(capsys):
    rc, _, err = cli(capsys, "check", DEFAULT, "--plans", "nope", "--trials", "5")
    assert rc == 1 and "--plans: ['nope'] not plans" in err
    with pytest.raises(SystemExit) as e:
        main(["check", str(DEFAULT), "--level", "1.5"])
    assert e.value.code == 1  # usage errors exit 1, as the README promises


# ---------------------------------------------------------------- diff


def changed(default_dict: dict) -> dict:
    """Telesales uncapped, per-conversion rate 6 -> 8, a channel accelerator tier, budget 6.5M -> 7M."""
    new = copy.deepcopy(default_dict)
    ts = new["plans"]["current"]["roles"]["telesales"]["components"]
    del ts[0]["cap"]
    ts[1]["rate"] = 8
    new["plans"]["current"]["roles"]["channel"]["components"][0]["tiers"].append({"from": 1.5, "rate": 0.15})
    new["budget"]["incentive"] = 7_000_000
    return new


def test_plan_changes_in_words(default_dict):
    old, new = scenario_from_dict(default_dict), scenario_from_dict(changed(default_dict))
    assert plan_changes(old, "current", new, "current") == [
        "telesales: component revenue_bonus: cap 2 -> none",
        "telesales: component per_conversion: rate 6 -> 8",
        "channel: component channel_commission: tiers [from 0: 0.045, from 0.8: 0.1, from 1.2: 0.12] -> "
        "[from 0: 0.045, from 0.8: 0.1, from 1.2: 0.12, from 1.5: 0.15]",
        "budget: incentive 6,500,000 -> 7,000,000",
    ]
    assert plan_changes(old, "current", old, "current") == []
    lines = plan_changes(old, "current", old, "one_plan_for_all")
    assert "telesales: component per_conversion removed" in lines
    assert any(x.startswith("channel: component revenue_curve added") for x in lines)


def test_diff_equals_run_on_the_merged_scenario(tmp_path, capsys, default_dict):
    """diff's paired differences are `simlib run`'s on one scenario holding both plans."""
    old_p, new_p = write(tmp_path, default_dict, "old.yaml"), write(tmp_path, changed(default_dict), "new.yaml")
    rc, out, _ = cli(capsys, "diff", old_p, new_p, "--trials", TRIALS, "--seed", "2", "--scheduler", "serial")
    assert rc == 0 and "telesales: component revenue_bonus: cap 2 -> none" in out
    merged = merged_scenario(load_scenario(old_p), "current", load_scenario(new_p), "current")
    m = write(tmp_path, merged.model_dump(by_alias=True, mode="json"), "merged.yaml")
    rc, js, _ = cli(capsys, "run", m, "--trials", TRIALS, "--seed", "2", "--format", "json", "--scheduler", "serial")
    runs = {d["metric"]: d for d in json.loads(js)["differences"] if d["group"] == "total"}
    eff = paired_effects(simulate(load_scenario(m), trials=int(TRIALS), rng=2))
    for row in eff.itertuples():
        assert row.diff == pytest.approx(runs[row.metric]["diff"], rel=1e-12, abs=1e-12)
        assert row.se == pytest.approx(runs[row.metric]["se"], rel=1e-12, abs=1e-12)
        assert present.fmt(row.diff, row.se, row.metric, "EUR", signed=True) in out
    # what a reviewer reads in the merge request: display names and money in the scenario's currency
    assert "Profit (gross profit - comp)" in out and "Reps at or above quota" in out and "share_at_quota" not in out
    assert list(eff["metric"]) == ["profit", "revenue", "incentive_cost", "comp_cost_of_sales", "share_at_quota"]


def test_diff_of_identical_plans_is_zero(tmp_path, capsys, default_dict):
    p = write(tmp_path, default_dict)
    rc, out, _ = cli(capsys, "diff", p, p, "--trials", "10", "--scheduler", "serial", "--behaviour", "none")
    assert rc == 0 and "nothing in the plan" in out
    assert re.search(r"Profit \(gross profit - comp\) .* 0 EUR\s*$", out, flags=re.M)


def test_diff_refuses_different_roles_unless_on_new(tmp_path, capsys, default_dict):
    new = copy.deepcopy(default_dict)
    new["roles"]["telesales"]["headcount"] = 100
    old_p, new_p = write(tmp_path, default_dict, "old.yaml"), write(tmp_path, new, "new.yaml")
    rc, out, err = cli(capsys, "diff", old_p, new_p, "--trials", "5", "--scheduler", "serial")
    assert rc == 1 and "differ outside the plan" in err and "roles: telesales headcount 120 -> 100" in out
    rc, out, _ = cli(capsys, "diff", old_p, new_p, "--trials", "5", "--on-new", "--scheduler", "serial")
    assert rc == 0 and "of NEW's roles, market and behaviour" in out
    rc, _, err = cli(capsys, "diff", old_p, new_p, "--plan", "nope")
    assert rc == 1 and "--plan: 'nope' is not a plan" in err
    with pytest.raises(SimlibError, match="does not have"):
        small = copy.deepcopy(default_dict)
        del small["roles"]["channel"]
        for plan in ("current",):
            del small["plans"][plan]["roles"]["channel"]
        small["plans"] = {"current": small["plans"]["current"]}
        merged_scenario(load_scenario(old_p), "current", scenario_from_dict(small), "current")


# ---------------------------------------------------------------- the example CI workflows


def workflow_commands() -> dict[str, list[str]]:
    """The `simlib ...` lines of both example workflows, in order."""
    gh = yaml.safe_load((CI / "github-actions.yml").read_text())
    gl = yaml.safe_load((CI / "gitlab-ci.yml").read_text())
    gh_lines = [line for job in gh["jobs"].values() for step in job["steps"] for line in step.get("run", "").splitlines()]
    gl_lines = [line for name, job in gl.items() if isinstance(job, dict) and "script" in job for line in job["script"]]
    pick = lambda lines: [x.strip() for x in lines if x.strip().startswith("simlib ")]  # noqa: E731
    return {"github": pick(gh_lines), "gitlab": pick(gl_lines), "install": [x for x in gh_lines + gl.get(
        "default", {}).get("before_script", []) if "pip install" in x]}


def test_workflows_parse_and_cover_the_steps():
    gh = yaml.safe_load((CI / "github-actions.yml").read_text())
    gl = yaml.safe_load((CI / "gitlab-ci.yml").read_text())
    cmds = workflow_commands()
    for name in ("github", "gitlab"):
        words = [shlex.split(c)[1] for c in cmds[name]]
        assert words == ["validate", "check", "diff", "report"], name
    assert all(x.strip() == "pip install ." for x in cmds["install"])
    assert any(s.get("uses", "").startswith("actions/upload-artifact") and s["with"]["path"] == "reports/"
               for s in gh["jobs"]["review"]["steps"])
    assert gl["report"]["artifacts"]["paths"] == ["reports/"] and gl["report"]["artifacts"]["when"] == "always"


def test_workflow_commands_run(tmp_path):
    """Every `simlib` line of both workflows, as written, in a repository-like folder (small SIMLIB_TRIALS)."""
    (tmp_path / "scenarios").mkdir()
    scen = DEFAULT.read_text() + "\n" + (CI / "checks.yaml").read_text()
    (tmp_path / "scenarios" / "default.yaml").write_text(scen)
    (tmp_path / "base.yaml").write_text(DEFAULT.read_text())  # what `git show <base>:scenarios/default.yaml` writes
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "simlib"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m simlib "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT),
           "SIMLIB_TRIALS": "20"}
    cmds = workflow_commands()
    ran = set()
    for cmd in cmds["github"] + cmds["gitlab"]:
        if "report" in cmd:  # report gets its notebook's robustness draws off, to stay quick
            cmd += " --param policy_comparison.behaviour_draws=0 --no-progress"
        if cmd in ran:
            continue
        ran.add(cmd)
        proc = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{cmd}\n{proc.stdout}\n{proc.stderr}"
    assert (tmp_path / "reports" / "index.html").is_file()
    assert any((tmp_path / "reports").rglob("*.html"))
    shutil.rmtree(tmp_path / "reports")


def test_diff_of_a_budget_change_shows_the_chance_of_exceeding_each_sides_budget(tmp_path, capsys, default_dict):
    # a budget raised from 6.5 M to 7 M printed five rows of "0 EUR": both plans were judged against NEW's budget
    # and the chance of exceeding it was not shown, so the only thing that changed read as no change at all
    new = copy.deepcopy(default_dict)
    new["budget"]["incentive"] = 7_000_000
    old_p, new_p = write(tmp_path, default_dict, "old.yaml"), write(tmp_path, new, "new.yaml")
    rc, out, _ = cli(capsys, "diff", old_p, new_p, "--trials", "60", "--scheduler", "serial", "--behaviour", "none")
    assert rc == 0
    line = next(x for x in out.splitlines() if x.startswith("Chance of exceeding the incentive budget"))
    res = simulate(merged_scenario(load_scenario(old_p), "current", load_scenario(new_p), "current"), trials=60,
                   rng=0, behaviour="none")
    t = res.trials().query("group == 'total'")
    cost_old = t[t["plan"] == "old"].sort_values("trial")["incentive_cost"].to_numpy()
    cost_new = t[t["plan"] == "new"].sort_values("trial")["incentive_cost"].to_numpy()
    p_old, p_new = (cost_old > 6_500_000).mean(), (cost_new > 7_000_000).mean()
    assert p_new < p_old
    assert f"{100 * p_old:.1f}%" in line and f"{100 * p_new:.1f}%" in line, line
    assert re.search(r"-\d+\.\d pp ± \d+\.\d \*$", line), line
    assert "budget: incentive 6,500,000 -> 7,000,000" in out


def test_diff_of_a_plan_other_than_todays_shows_its_levels_as_run_does(tmp_path, capsys, default_dict):
    """`diff --plan harder_target` compared harder_target as if reps worked under it today (revenue 90.1 M, the
    current plan's, against `run`'s 88.8 M): reps work under OLD's current plan today, so each plan's levels are
    `run`'s for it on the same draws, and the output says which plan today's is."""
    old_p = write(tmp_path, default_dict, "old.yaml")
    new_p = write(tmp_path, changed(default_dict), "new.yaml")
    rc, out, _ = cli(capsys, "diff", old_p, old_p, "--plan", "harder_target", "--trials", TRIALS, "--seed", "2",
                     "--scheduler", "serial")
    assert rc == 0 and "today's plan: current (the current plan of OLD), not old (harder target)" in out
    ref = simulate(load_scenario(old_p), ["current", "harder_target"], trials=int(TRIALS), rng=2).summary()
    ref = ref[(ref["group"] == "total")].set_index(["plan", "metric"])
    for metric in ("revenue", "incentive_cost", "share_at_quota"):
        want = present.fmt(ref.loc[("harder_target", metric), "mean"], ref.loc[("harder_target", metric), "se"],
                           metric, "EUR")
        line = next(x for x in out.splitlines() if x.startswith(present.label(metric)))
        assert want in line, (metric, want, line)
    # the usual case, each file's current plan: old is today's plan, as before
    rc, out, _ = cli(capsys, "diff", old_p, new_p, "--trials", TRIALS, "--seed", "2", "--scheduler", "serial")
    assert rc == 0 and "today's plan: old (current, the current plan of OLD)" in out
