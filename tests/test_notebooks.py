"""Scenario notebooks: parameter contracts, and execution through papermill with small trial counts.

The executed notebooks record their key results as JSON (simlib.report.notebook.save_results);
the assertions are on those numbers, checked against direct library calls.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from conftest import DEFAULT, ROOT, kernel_installed, needs_kernel

import simlib
from simlib.report import build as report

OURS = ["policy_comparison", "sweep", "role_schemes", "explorer"]
TRIALS = 40
SWEEP_TL = [0.9, 1.0, 1.1]
SWEEP_TW = [0.0, 0.3]



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
    if not kernel_installed():
        pytest.skip("Jupyter kernel 'simlib' not installed (run make setup)")
    out = tmp_path_factory.mktemp("reports")
    outcomes = report.build_reports(
        [DEFAULT], OURS, out=out, trials=TRIALS, seed=3, progress=False,
        params=["policy_comparison.rep_trials=3", "role_schemes.rep_trials=3", "role_schemes.behaviour=none",
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
    assert "help_given" in r["metrics_shown"]
    # same draws at every point: a higher quota level never raises the share at quota
    sq = sw[(sw.group == "total") & (sw.metric == "share_at_quota")]
    for _tw, sub in sq.groupby("team_weight"):
        v = sub.sort_values("target_level")["mean"].to_numpy()
        assert np.all(np.diff(v) <= 1e-12) and v[0] > v[-1]
    region = pd.DataFrame(r["region"])
    assert set(region["group"]) == {"total", *simlib.load_scenario(DEFAULT).roles}
    assert region["meets"].dtype == bool
    page = Path(run[1]["sweep"].html).read_text()
    assert ">0.9</th>" in page and "0.900000" not in page  # grid levels as people write them
    assert ">key account</th>" in page and '<h3 id="key-account">key account' in page  # roles in words


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
    # the document's schemes (scenarios/role_examples.yaml), one section per role, on the named measures too
    ex = r["examples"]
    ec = pd.DataFrame(ex["components"])
    assert set(ec["role"]) == {"key_account", "telesales", "channel", "field"}
    assert {"large_order_value", "milestones", "retention", "calls", "talk_time", "record_accuracy", "partners_opened",
            "policy_adherence", "visits", "revenue_new_product"} <= set(ec["measure"])
    assert "retention_rate" in set(pd.DataFrame(ex["summary"])["metric"])


def test_explorer_snapshot_results(run):
    r = _results(run, "explorer")
    assert r["controls"]["target_level"] == "base" and r["controls"]["threshold"] == "base"
    assert 0.0 <= r["metrics"]["share_at_quota"] <= 1.0
    t = pd.DataFrame(r["table"])
    # controls at their defaults: the base plan only, not compared with an identical copy of itself
    assert "base" in t.columns and "variant" not in t.columns and "diff" not in t.columns
    assert not any(v == -1.0 for v in r["parameters"].values())  # "as base" markers are not shown as values
    assert r["provenance"]["scenario_sha256"] == simlib.load_scenario(DEFAULT).sha256  # the hash the header shows


# ----------------------------------------------------------------------
# What a reader sees: the answer first, readable numbers, nothing internal
# ----------------------------------------------------------------------

ANSWERED = ("policy_comparison", "sweep", "role_schemes")
#: a number in scientific notation (``7.306e+05``); hashes such as ``147e1163ce...`` do not match
SCIENTIFIC = re.compile(r"\b\d+(?:\.\d+)?[eE][+-]?\d+\b")


def _text(page: str) -> str:
    """The visible text of an HTML page (styles, scripts and tags taken out, entities decoded)."""
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_reports_open_with_the_answer_in_readable_units(run):
    out, outcomes = run
    currency = simlib.load_scenario(DEFAULT).currency
    index = (out / "index.html").read_text(encoding="utf-8")
    for name in ANSWERED:
        page = Path(outcomes[name].html).read_text(encoding="utf-8")
        summary = re.search(r'<section class="simlib-summary">(.*?)</section>', page, re.S)
        assert summary, f"{name}: no summary block"
        first = _text(summary.group(1))
        assert currency in first and re.search(r"\d%|±", first), (name, first[:300])
        # the summary is the first result: no table or figure comes before it
        start = page.index('class="simlib-summary"')
        assert "<img" not in page[:start] and "<table" not in page[:start], name
        body = _text(page)
        assert not SCIENTIFIC.search(body), (name, SCIENTIFIC.findall(body)[:5])
        for internal in (str(out), str(ROOT), "/tmp/", f".{name}."):
            assert internal not in body, (name, internal)
        assert "comp_cost_of_sales" not in first and "share_120" not in first
        # provenance once, collapsed, after everything else
        assert page.count("How this report was produced") == 1
        assert "Provenance: how these numbers" not in page
        assert page.index("How this report was produced") > page.rindex("<img")
        # the index gives the report's one-sentence answer
        headline = json.loads(Path(outcomes[name].json).read_text())["headline"]
        assert headline and html.escape(headline, quote=False) in index.replace("&#39;", "'"), name
    assert str(out) not in index and "/tmp/" not in _text(index)


def test_reports_name_plans_and_roles_in_words_above_the_provenance(run):
    # the answer read "harder target" while the tables and charts under it read "harder_target", "key_account"
    from conftest import image_alts

    out, outcomes = run
    scen = simlib.load_scenario(DEFAULT)
    ids = [i for i in (*scen.plans, *scen.roles) if "_" in i]
    for name in ("policy_comparison", "role_schemes"):
        page = Path(outcomes[name].html).read_text(encoding="utf-8")
        shown = _text(page[:page.index("How this report was produced")])
        if name == "role_schemes":  # its plan-element and measure tables: elements, measures, kinds in words too
            r = _results(run, name)
            ex = r["examples"]
            ec = pd.DataFrame(ex["components"])
            comp = pd.concat([pd.DataFrame(r["components"]), ec])
            words = {str(x) for c in ("element", "measure", "kind", "role") for x in comp[c].dropna() if "_" in str(x)}
            ids = [*ids, *sorted(words), *([ex["plan"]] if "_" in ex["plan"] else [])]
            assert "large order value" in shown and "one plan for all" in shown
        alts = " ".join(a or "" for a in image_alts(page))
        assert not [i for i in ids if i in shown or i in alts], (name, [i for i in ids if i in shown or i in alts])


def test_every_figure_of_the_default_reports_says_what_it_shows(run):
    """Each default report's images carry alt text: the chart's titles (the figures go through ``nb.show``)."""
    from conftest import image_alts

    out, outcomes = run
    for name in OURS:
        alts = image_alts(Path(outcomes[name].html).read_text(encoding="utf-8"))
        assert alts, name
        assert all(a and a.strip() and a not in ("Figure", "Figure without a description") for a in alts), (name, alts)
    alts = image_alts(Path(outcomes["policy_comparison"].html).read_text(encoding="utf-8"))
    assert any("payout" in a.lower() for a in alts), alts


def test_reports_fit_a_1280_px_screen_with_the_answer_in_view(run):
    from test_browser import CHROMIUM, DRIVER, open_browser

    if CHROMIUM is None or DRIVER is None:
        pytest.skip("chromium and chromedriver not installed (make browser installs them)")
    out, outcomes = run
    with open_browser(out / "chromium-profile") as drv:
        for name in (*ANSWERED, "index"):
            drv.get((out / "index.html").as_uri() if name == "index" else Path(outcomes[name].html).as_uri())
            width = drv.execute_script("return document.documentElement.scrollWidth")
            assert width <= 1280, (name, width)
            if name != "index":
                top = drv.execute_script("return document.querySelector('.simlib-summary').getBoundingClientRect().top")
                assert top < 600, (name, top)  # in the first screen


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


# ----------------------------------------------------------------------
# The library pieces the notebooks call (fast, no kernel)
# ----------------------------------------------------------------------


def test_save_results_writes_plain_json_atomically(tmp_path):
    from simlib.report import notebook as nbtools

    path = tmp_path / "sub" / "r.json"
    df = pd.DataFrame({"a": [1.0, np.nan], "b": ["x", "y"]})
    nbtools.save_results({"nan": float("nan"), "inf": np.inf, "i": np.int64(3), "arr": np.arange(2), "df": df,
                          "flag": np.bool_(True), "path": Path("/tmp/x")}, path)
    r = json.loads(path.read_text())
    assert r == {"nan": None, "inf": None, "i": 3, "arr": [0, 1], "df": [{"a": 1.0, "b": "x"}, {"a": None, "b": "y"}],
                 "flag": True, "path": "/tmp/x"}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]
    nbtools.save_results({"x": 1}, "")  # empty path: nothing saved
    with pytest.raises(TypeError, match="cannot save a object"):
        nbtools.save_results({"x": object()}, path)
    assert json.loads(path.read_text())["i"] == 3  # a failed save leaves the earlier file intact
    tab = nbtools.provenance_table({"provenance": {"seed_entropy": "0", "scenario_sha256": "abc"}}, {"trials": 5})
    assert {"seed_entropy", "scenario_sha256", "param: trials", "simlib_version"} <= set(tab["item"])


def test_rep_outcomes_are_the_trials_of_simulate(scen):
    from simlib.report import notebook as nbtools

    res = simlib.simulate(scen, ["current", "harder_target"], trials=6, rng=11)
    reps = nbtools.rep_outcomes(scen, ["current", "harder_target"], trials=6, rng=11)
    per_trial = reps.groupby(["plan", "trial"])["incentive"].sum()
    tr = res.trials()
    tot = tr[tr.group == "total"].set_index(["plan", "trial"])["incentive_cost"]
    np.testing.assert_allclose(per_trial.loc[tot.index].to_numpy(), tot.to_numpy(), rtol=1e-10)
    rev = reps.groupby(["plan", "trial"])["revenue"].sum()
    np.testing.assert_allclose(rev.loc[tot.index].to_numpy(), tr[tr.group == "total"]["revenue"].to_numpy(), rtol=1e-10)


def test_pay_curve_table_and_budget_risk(scen):
    from simlib.report import notebook as nbtools

    c = nbtools.pay_curve_table(scen, ["current"])
    ka = c[(c.role == "key_account") & (c.component == "revenue_bonus")].set_index("attainment")["payout"]
    assert ka.loc[1.0] == pytest.approx(0.8)  # weight 0.8 x 100% payout
    assert ka.loc[2.0] == pytest.approx(0.8 * 2.5)  # capped at 2.5
    assert ka.loc[0.4] == 0.0
    res = simlib.simulate(scen, ["current"], trials=64, rng=2)
    b = nbtools.budget_risk(res, scen.budget.incentive).set_index("plan")
    cost = res.trials().query("group == 'total'")["incentive_cost"].to_numpy()
    assert b.loc["current", "p_over_budget"] == pytest.approx((cost > scen.budget.incentive).mean())
    assert b.loc["current", "p95_cost"] == pytest.approx(np.quantile(cost, 0.95))


def test_guardrail_flags_follow_the_confidence_interval(scen):
    from simlib.design import guardrails as gr

    s = pd.DataFrame([
        dict(plan="p", group="total", metric="share_at_quota", mean=0.65, ci_low=0.62, ci_high=0.68),
        dict(plan="q", group="total", metric="share_at_quota", mean=0.69, ci_low=0.66, ci_high=0.72),
        dict(plan="r", group="total", metric="share_at_quota", mean=0.40, ci_low=0.38, ci_high=0.42),
        dict(plan="s", group="total", metric="share_at_quota", mean=0.55, ci_low=0.53, ci_high=0.57),
        dict(plan="t", group="total", metric="leverage", mean=3.5, ci_low=3.4, ci_high=3.6),
    ])
    t = gr.guardrail_table(s).set_index("plan")["status"]
    assert t.to_dict() == {"p": "inside", "q": "borderline", "r": "warning", "s": "outside", "t": "outside"}
    m = gr.meets_guardrails(gr.guardrail_table(s), metrics=["share_at_quota"]).set_index("plan")["meets"]
    assert m.to_dict() == {"p": True, "q": True, "r": False, "s": False}
    pr = gr.plan_rules(scen, ["current"]).set_index(["group", "metric"])["value"]
    assert pr[("key_account", "base_share")] == pytest.approx(90000 / 150000)


def test_explorer_variant_plan_semantics(scen):
    from simlib.design.transforms import plan_data
    from simlib.model.paycurves import compile_component
    from simlib.report.explorer import variant_plan

    p = variant_plan(scen, "current", "key_account", target_level=1.1, team_weight=0.3, team_split="contribution",
                     threshold=0.6, cap=None, accelerator=2.0)
    s2 = scen.with_plan("v", p)
    rp, base = s2.role_plan("v", "key_account"), scen.role_plan("current", "key_account")
    assert rp.quota.level == 1.1  # the quota level itself, as in a sweep
    assert rp.team.weight == 0.3 and rp.team.split == "contribution"
    new = compile_component(rp.components[0])
    old = compile_component(base.components[0])
    assert new(0.55) == 0.0 and old(0.55) > 0.0  # threshold moved from 0.5 to 0.6
    assert new(1.4) - new(1.0) == pytest.approx(2.0 * (old(1.4) - old(1.0)))  # slope above 100% doubled
    assert rp.components[0].cap is None
    assert s2.role_plan("v", "telesales") == scen.role_plan("current", "telesales")  # other roles untouched
    # controls default to the base plan: a team-weighted or harder plan keeps its team pay and quotas
    for b in ("team_weighted", "harder_target"):
        assert variant_plan(scen, b, "telesales") == plan_data(scen, b)
    # target_level is a level, not a multiple of the base plan's: 1.1 on harder_target changes nothing
    assert variant_plan(scen, "harder_target", "telesales", target_level=1.1) == plan_data(scen, "harder_target")
    # team_weight sets the weight only; 0 turns team pay off and keeps the base plan's split
    tw = scen.with_plan("t", variant_plan(scen, "team_weighted", "telesales", team_weight=0.0)).role_plan("t", "telesales")
    assert tw.team.weight == 0.0 and tw.team.split == "contribution"
    tw = scen.with_plan("t", variant_plan(scen, "current", "telesales", team_weight=0.4)).role_plan("t", "telesales")
    assert tw.team.weight == 0.4 and tw.team.split == "equal"
    # a commission-only role: threshold is an error (as threshold@channel in a sweep); the gate is its own control
    with pytest.raises(simlib.PlanError, match=r"explorer control 'threshold'.*no revenue pay curve.*'channel'"):
        variant_plan(scen, "current", "channel", threshold=0.5)
    ch = scen.with_plan("c", variant_plan(scen, "current", "channel", commission_gate=0.5)).role_plan("c", "channel")
    assert any(g.min_attainment == 0.5 and g.components == ["channel_commission"] for g in ch.gates)
    with pytest.raises(simlib.PlanError, match=r"team_weight.*expected a number in \[0, 1\], got 1.5"):
        variant_plan(scen, "current", "channel", team_weight=1.5)
    with pytest.raises(simlib.PlanError, match=r"cap.*expected a number > 0, or 'none'"):
        variant_plan(scen, "current", "telesales", cap=0)
    with pytest.raises(simlib.PlanError, match="role 'nope'"):
        variant_plan(scen, "current", "nope")
    with pytest.raises(simlib.PlanError, match="unknown control"):
        variant_plan(scen, "current", "telesales", bogus=1)


def test_explorer_update_and_widget_without_a_browser(scen):
    from simlib.report.explorer import AS_BASE, CONTROLS, Explorer

    app = Explorer(scen, role="telesales", trials=64, seed=1, rep_trials=2)
    r = app.update(target_level=1.1)
    assert r["controls"] == {**{c: AS_BASE for c in CONTROLS}, "target_level": 1.1}
    t = r["table"].set_index(["group", "metric"])
    assert t.loc[("telesales", "share_at_quota"), "diff_ci_high"] < 0  # harder quota, same draws: fewer reach it
    d = r["differences"]
    other = d[(d.group == "key_account") & (d.metric == "incentive_cost")]
    assert other.empty or float(other["diff"].iloc[0]) == 0.0
    assert len(r["figures"]) == 4
    with pytest.raises(simlib.PlanError, match="unknown control"):
        app.update(bogus=1)
    with pytest.raises(simlib.PlanError, match="'threshold'"):
        app.update(role="channel", threshold=0.5)
    assert app.role == "telesales"  # a failed update leaves the role as it was
    assert app.widget().children  # the ipywidgets app builds (its logic: tests/test_explorer.py)
