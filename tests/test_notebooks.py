"""Scenario notebooks: parameter contracts, and execution through papermill with small trial counts.

The executed notebooks record their key results as JSON (simlib.nbtools.save_results);
the assertions are on those numbers, checked against direct library calls.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

import simlib
from simlib import report

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "scenarios" / "default.yaml"
OURS = ["policy_comparison", "sweep", "role_schemes", "explorer"]
TRIALS = 40
SWEEP_TL = [0.9, 1.0, 1.1]
SWEEP_TW = [0.0, 0.3]


def _kernel_installed() -> bool:
    from jupyter_client.kernelspec import KernelSpecManager

    return report.KERNEL in KernelSpecManager().find_kernel_specs()


needs_kernel = pytest.mark.skipif(not _kernel_installed(), reason="Jupyter kernel 'simlib' not installed (run make setup)")


# ----------------------------------------------------------------------
# Contract (no execution)
# ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(report.discover_notebooks()))
def test_every_notebook_follows_the_contract(name):
    spec = report.discover_notebooks()[name]
    nb = nbformat.read(spec.path, as_version=4)
    nbformat.validate(nb)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    contract = report.notebook_contract(spec.path)
    assert "output_json" in contract and contract["output_json"]["type"] == "str"
    # every parameter parsed by papermill with a concrete type (no silently ignored lines)
    src_names = [ln.split(":")[0].split("=")[0].strip() for ln in tagged[0].source.splitlines()
                 if ln.strip() and not ln.lstrip().startswith("#")]
    assert set(src_names) == set(contract), f"papermill could not parse some parameters of {name}"
    assert all(v["type"] != "any" for v in contract.values())


@pytest.mark.parametrize("name", OURS)
def test_our_notebooks_are_committed_without_outputs_and_name_the_kernel(name):
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "simlib"
    for c in nb.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None
    contract = report.notebook_contract(ROOT / "notebooks" / f"{name}.ipynb")
    for key in ("scenario", "trials", "seed", "behaviour"):
        assert key in contract
    assert contract["trials"]["type"] == "int" and contract["seed"]["type"] == "int"


def test_mistyped_and_unknown_parameters_are_errors():
    contract = report.notebook_contract(ROOT / "notebooks" / "sweep.ipynb")
    with pytest.raises(report.ReportError, match="unknown parameter 'trails'.*declares"):
        report.check_parameters("sweep", contract, {"trails": 10})
    with pytest.raises(report.ReportError, match="'trials'.*expected int.*got str"):
        report.check_parameters("sweep", contract, {"trials": "ten"})
    with pytest.raises(report.ReportError, match="'target_levels'.*expected list"):
        report.check_parameters("sweep", contract, {"target_levels": 1.0})
    with pytest.raises(report.ReportError, match="'seed'.*expected int.*got bool"):
        report.check_parameters("sweep", contract, {"seed": True})
    ok = report.check_parameters("explorer", report.notebook_contract(ROOT / "notebooks" / "explorer.ipynb"),
                                 {"target_level": 1, "role": "channel"})
    assert ok == {"target_level": 1.0, "role": "channel"} and isinstance(ok["target_level"], float)


# ----------------------------------------------------------------------
# Execution through papermill (one report run for all four notebooks)
# ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if not _kernel_installed():
        pytest.skip("Jupyter kernel 'simlib' not installed (run make setup)")
    out = tmp_path_factory.mktemp("reports")
    outcomes = report.build_reports(
        [DEFAULT], OURS, out=out, trials=TRIALS, seed=3, progress=False,
        params=["policy_comparison.rep_trials=3", "role_schemes.rep_trials=3",
                f"sweep.target_levels={SWEEP_TL}", f"sweep.team_weights={SWEEP_TW}"],
    )
    return out, {o.notebook: o for o in outcomes}


def _results(run, name) -> dict:
    out, outcomes = run
    o = outcomes[name]
    assert o.status == "ok", o.message
    assert Path(o.html).exists() and Path(o.ipynb).exists() and Path(o.log).exists()
    return json.loads(Path(o.json).read_text())


def test_all_notebooks_ran_and_index_links_them(run):
    out, outcomes = run
    assert [outcomes[n].status for n in OURS] == ["ok"] * 4, {n: o.message for n, o in outcomes.items()}
    index = (out / "index.html").read_text()
    for n in OURS:
        assert f"default/{n}.html" in index and f"default/{n}.json" in index


def test_policy_comparison_results_match_the_library(run):
    r = _results(run, "policy_comparison")
    assert r["parameters"]["trials"] == TRIALS and r["parameters"]["seed"] == 3
    assert r["provenance"]["scenario_sha256"] == simlib.load_scenario(DEFAULT).sha256
    res = simlib.simulate(DEFAULT, trials=TRIALS, rng=3)
    s = pd.DataFrame(r["summary"]).set_index(["plan", "group", "metric"])["mean"]
    ref = res.summary().set_index(["plan", "group", "metric"])["mean"]
    common = ref.index.intersection(s.index)
    assert len(common) == len(ref)  # every plan x group x metric recorded
    np.testing.assert_allclose(s[common].to_numpy(dtype=float), ref[common].to_numpy(), rtol=1e-12, equal_nan=True)
    d = pd.DataFrame(r["differences"])
    ht = d[(d.plan == "harder_target") & (d.group == "total") & (d.metric == "incentive_cost")].iloc[0]
    assert ht["diff"] < 0 and ht["ci_high"] < 0  # harder quotas pay less, on the same draws
    # guardrail flags agree with the recorded numbers
    g = pd.DataFrame(r["guardrails"])
    sq = g[(g.plan == "current") & (g.group == "total") & (g.metric == "share_at_quota")].iloc[0]
    if sq["ci_high"] < 0.5:
        assert sq["status"] == "warning"
    assert set(g["status"]) <= {"inside", "outside", "borderline", "warning", "n/a"}
    assert {"base_share", "quota_to_ote", "leverage", "comp_cost_of_sales"} <= set(g["metric"])
    # budget risk: P(over budget) is the mean of the over_budget indicator
    b = pd.DataFrame(r["budget_risk"]).set_index("plan")
    ob = ref.xs(("total", "over_budget"), level=("group", "metric"))
    np.testing.assert_allclose(b.loc[ob.index, "p_over_budget"], ob.to_numpy(), atol=1e-12)
    assert (b["p95_cost"] >= b["mean_cost"] * 0.9).all()
    lv = pd.DataFrame(r["rep_level"])
    assert set(lv["role"]) == set(simlib.load_scenario(DEFAULT).roles)


def test_sweep_results(run):
    r = _results(run, "sweep")
    sw = pd.DataFrame(r["sweep"])
    assert sw["point"].nunique() == len(SWEEP_TL) * len(SWEEP_TW)
    assert {"revenue", "comp_cost_of_sales", "share_at_quota", "profit"} <= set(r["metrics_shown"])
    if "help_given" not in simlib.metrics.METRICS:
        assert "help_given" in r["metrics_missing"] or "help_given" in r["metrics_shown"]
    # same draws at every point: a higher quota level never raises the share at quota
    sq = sw[(sw.group == "total") & (sw.metric == "share_at_quota")]
    for _tw, sub in sq.groupby("team_weight"):
        v = sub.sort_values("target_level")["mean"].to_numpy()
        assert np.all(np.diff(v) <= 1e-12) and v[0] > v[-1]
    region = pd.DataFrame(r["region"])
    assert set(region["group"]) == {"total", *simlib.load_scenario(DEFAULT).roles}
    assert region["meets"].dtype == bool


def test_role_schemes_results(run):
    r = _results(run, "role_schemes")
    m = pd.DataFrame(r["measures"])
    # behaviour 'none': reps do the same under both plans; only pay differs
    wide = m.pivot_table(index=["role", "measure"], columns="plan", values="mean")
    np.testing.assert_allclose(wide["current"], wide["one_plan_for_all"], rtol=1e-12)
    rev = m[(m.plan == "one_plan_for_all") & (m.measure == "revenue")]
    np.testing.assert_allclose(rev["incentive_share"], 1.0, atol=1e-9)
    comp = pd.DataFrame(r["components"])
    assert set(comp[comp.plan == "current"]["measure"]) > {"revenue"}
    d = pd.DataFrame(r["differences"])
    assert set(d["plan"]) == {"one_plan_for_all"}


def test_explorer_snapshot_results(run):
    r = _results(run, "explorer")
    assert r["controls"]["target_level"] == 1.0
    assert 0.0 <= r["metrics"]["share_at_quota"] <= 1.0
    t = pd.DataFrame(r["table"])
    # controls at their defaults: the variant is the base plan, so differences are zero
    np.testing.assert_allclose(t["diff"].fillna(0.0), 0.0, atol=1e-9)


@needs_kernel
def test_papermill_cli_by_hand_with_a_yaml_parameters_file(tmp_path):
    params = tmp_path / "params.yaml"
    out_json = tmp_path / "explorer.json"
    params.write_text(f"role: key_account\ntrials: 30\nseed: 5\ntarget_level: 1.1\nshow_widgets: false\n"
                      f"output_json: {out_json}\n")
    cmd = [str(Path(sys.executable).with_name("papermill")), str(ROOT / "notebooks" / "explorer.ipynb"),
           str(tmp_path / "out.ipynb"), "-f", str(params), "-k", "simlib", "--cwd", str(ROOT)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    r = json.loads(out_json.read_text())
    assert r["parameters"]["role"] == "key_account" and r["controls"]["target_level"] == 1.1
    t = pd.DataFrame(r["table"])
    sq = t[(t.group == "key_account") & (t.metric == "share_at_quota")].iloc[0]
    assert sq["diff"] < 0  # a 10% harder quota: fewer key-account reps reach it (same draws)
