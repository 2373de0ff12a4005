"""The 'org' report: our organisation under the candidate plans (replay, roster simulated forward, winners and
losers, teams). Library functions first, then one papermill run of the notebook at a small trial count."""

from __future__ import annotations

import dataclasses
import html
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import DEFAULT, ROOT, kernel_installed

import simlib
from simlib.report import build as report
from simlib.report import org

EXAMPLE = ROOT / "scenarios" / "example_org"
TEAM = "Inside <A&B>"  # a team name with markup: must show as text
BAD_REP, BAD_BY = "TE00004", 100.0  # a 2025 payout recorded 100 too high: the replay must name this rep


@pytest.fixture(scope="module")
def org_copy(tmp_path_factory) -> Path:
    """The shipped example organisation with one team renamed to markup and one 2025 payout off by 100."""
    d = tmp_path_factory.mktemp("org") / "example_org"
    shutil.copytree(EXAMPLE, d)
    for name in ("roster.csv", "history.csv"):
        p = d / name
        p.write_text(p.read_text(encoding="utf-8").replace("Inside A,", f"\"{TEAM}\","), encoding="utf-8")
    hist = pd.read_csv(d / "history.csv", dtype=str, keep_default_na=False)
    row = hist.index[(hist["rep_id"] == BAD_REP) & (hist["month"] == "2025-12")][0]
    hist.loc[row, "payout"] = f"{float(hist.loc[row, 'payout']) + BAD_BY:.2f}"
    hist.to_csv(d / "history.csv", index=False)
    return d / "org.yaml"


@pytest.fixture(scope="module")
def scen(org_copy):
    return simlib.load_scenario(org_copy)


@pytest.fixture(scope="module")
def fwd(scen):
    return org.org_answers(scen, trials=12, rng=5)


def test_replay_verdict_names_the_rep_whose_recorded_payout_differs(scen):
    rp = org.last_year_replay(scen)
    assert rp is not None and int(rp.reps["year"].max()) == 2025 and set(rp.reps["year"]) == {2025}
    verdict = org.replay_verdict(rp, "EUR")
    assert verdict.startswith("Last year's recorded payouts do not reconcile")
    assert f"for {len(rp.mismatches)} of {len(rp.reps)} reps" in verdict
    # the largest difference is named first, with the amount to the cent
    assert f"({BAD_REP}" in verdict and "at most 100.0" in verdict
    bad = rp.mismatches.set_index("rep_id").loc[BAD_REP]
    assert bad["difference"] == pytest.approx(-BAD_BY, abs=0.05)


def test_replay_verdict_when_everything_reconciles_or_nothing_is_recorded(scen):
    rp = org.last_year_replay(scen)
    reps = rp.reps.assign(recorded=rp.reps[rp.in_force])
    ok = dataclasses.replace(rp, reps=reps, mismatches=rp.mismatches.iloc[0:0])
    text = org.replay_verdict(ok, "CHF")
    assert text.startswith("Last year's recorded payouts reconcile to the cent")
    assert f"all {len(reps)} reps' 2025 incentive" in text and f"{reps['recorded'].sum():,.2f} CHF" in text
    none = dataclasses.replace(rp, has_payout=False)
    assert "records no payouts for 2025, so there is nothing to reconcile" in org.replay_verdict(none, "EUR")
    assert "names no history" in org.replay_verdict(None, "EUR")


def test_summary_sentence_counts_losers_and_uses_the_simulated_cost_with_its_ci(scen, fwd):
    assert list(fwd.answers) == ["accelerated"] and fwd.reference == "current"
    ans = fwd.answers["accelerated"]
    s = ans.statement
    assert len(s) == scen.headcount == 60
    sentence = org.candidate_sentence(fwd, "accelerated")
    lose, gain = int((s["verdict"] == "loser").sum()), int((s["verdict"] == "winner").sum())
    assert sentence.startswith(f"Under accelerated, {lose} of 60 reps ({lose / 60:.0%}) would lose more than 5% "
                               f"of expected pay and {gain} ({gain / 60:.0%}) would gain more than 5%")
    d = fwd.result.differences()
    cost = d[(d["plan"] == "accelerated") & (d["group"] == "total") & (d["metric"] == "incentive_cost")].iloc[0]
    word = "rises" if cost["diff"] >= 0 else "falls"
    assert f"incentive cost {word} {simlib.present.fmt_value(abs(cost['diff']), 'incentive_cost', 'EUR', se=cost['se'])}" \
        in sentence and "EUR (± " in sentence
    # the per-rep answers and the forward simulation are the same trials: team costs add up to the total
    base = fwd.result.summary()
    total = base[(base["plan"] == "current") & (base["group"] == "total") & (base["metric"] == "incentive_cost")]
    assert ans.teams["cost_current"].sum() == pytest.approx(float(total["mean"].iloc[0]), rel=1e-9)
    top = ans.teams.loc[ans.teams["cost_change"].abs().idxmax(), "team"]
    assert f"the {top} team's incentive cost" in sentence


def test_summary_states_synthetic_data_and_puts_the_verdict_first_among_the_items(scen, fwd):
    rp = org.last_year_replay(scen, in_force=fwd.reference)
    s = org.org_summary(scen, fwd, rp)
    assert s["synthetic"] and s["legend"].startswith("Synthetic data:")
    assert s["items"][0] == s["verdict"] and s["reconciled"] is False
    assert s["headline"] == s["lead"] == s["sentences"]["accelerated"]
    plain = scen.model_copy(update={"name": "Acme", "description": "our reps"})
    assert org.synthetic_note(plain) == ""


def test_tables_escape_names_and_format_money_in_the_currency(scen, fwd):
    ans = fwd.answers["accelerated"]
    page = org.statement_table(ans, TEAM, "EUR").to_html() + org.team_table(ans, "EUR").to_html()
    assert html.escape(TEAM) in page and TEAM not in page
    assert "TE00001" in page and " EUR" in page and "±" in page
    assert "e+0" not in page
    rp = org.last_year_replay(scen)
    mism = org.mismatch_table(rp, "EUR").to_html()
    assert BAD_REP in mism and "-100.0" in mism and TEAM not in mism
    # a rep id with markup is escaped too
    marked = dataclasses.replace(ans, statement=ans.statement.assign(rep_id="<i>x</i>", verdict="winner"))
    shown = org.movers_table(marked, "EUR", "winner", 3).to_html()
    assert "&lt;i&gt;x&lt;/i&gt;" in shown and "<i>x" not in shown
    assert org.movers_table(marked, "EUR", "loser") is None


def test_org_runs_by_default_only_for_scenarios_with_a_roster(tmp_path):
    spec = report.REGISTRY["org"]
    assert spec.default and spec.path.exists()
    specs = {"org": spec}

    def planned(path, requested):
        jobs, _ = report._plan_jobs([Path(path)], specs, ["org"], 4, 0, None, [], requested=requested)
        return [j[3].name for j in jobs]

    assert planned(DEFAULT, requested=False) == []  # the default scenario's report does not grow
    assert planned(DEFAULT, requested=True) == ["org"]  # unless asked for by name
    assert planned(EXAMPLE / "org.yaml", requested=False) == ["org"]


@pytest.mark.needs_kernel
def test_org_notebook_runs_end_to_end_with_the_answer_first(org_copy, fwd, tmp_path):
    if not kernel_installed():
        pytest.skip("Jupyter kernel 'simlib' not installed (run make setup)")
    out = tmp_path / "reports"
    [o] = report.build_reports([org_copy], ["org"], out=out, trials=12, seed=5, progress=False)
    assert o.status == "ok", o.message
    res = json.loads(Path(o.json).read_text())
    page = Path(o.html).read_text(encoding="utf-8").replace("&#39;", "'")
    summary = res["executive_summary"]
    first = page[page.index('class="simlib-summary"'):page.index("</section>")]
    # the answer comes first: the summary sentence, the currency and the reconciliation verdict, escaped
    for text in (summary["lead"], summary["verdict"], summary["legend"]):
        assert html.escape(text, quote=False) in first, text
    assert "EUR" in first and "do not reconcile" in first and BAD_REP in first
    assert "<img" not in page[:page.index('class="simlib-summary"')]
    # the same numbers as the library on the same seed (the fixture: 12 trials, seed 5)
    assert summary["lead"] == org.candidate_sentence(fwd, "accelerated")
    wl = pd.DataFrame(res["winners_losers"]["accelerated"])
    assert wl.iloc[-1]["losers"] == int((fwd.answers["accelerated"].statement["verdict"] == "loser").sum())
    # every roster rep is in the page (rep statements), names escaped
    for rep in pd.read_csv(org_copy.parent / "roster.csv")["rep_id"]:
        assert rep in page
    assert html.escape(TEAM) in page and TEAM not in page
    assert res["replay"]["reconciled"] is False and BAD_REP in {m["rep_id"] for m in res["replay"]["mismatches"]}
    assert "How this report was produced" in page and page.index("How this report was produced") > page.rindex("<img")
    index = (out / "index.html").read_text(encoding="utf-8")
    assert html.escape(res["headline"], quote=False) in index.replace("&#39;", "'")


def test_the_other_notebooks_helpers_take_a_roster_scenario():
    """policy_comparison and explorer on a roster scenario: each rep's own base salary; the history applied."""
    from simlib.report import notebook as nb
    from simlib.report.explorer import Explorer

    path = EXAMPLE / "org.yaml"
    scen = simlib.load_scenario(path)
    reps = nb.rep_outcomes(scen, ["current"], trials=2, rng=0)
    roster = pd.read_csv(EXAMPLE / "roster.csv")
    assert sorted(reps.groupby("role")["base"].sum() / 2) == pytest.approx(
        sorted(roster.groupby("role")["base_salary"].sum()))
    app = Explorer(str(path), role="telesales", trials=4, seed=1, rep_trials=2)
    assert app.scenario.track_record is not None


def test_calibrating_a_roster_scenario_keeps_its_reps_and_history(tmp_path, monkeypatch):
    """The calibration notebook on a roster scenario: the calibrated scenario still finds the roster and history
    (named relative to the template's folder), run from any folder."""
    from simlib.fit import calibrate as cb
    from simlib.fit.history import read_history

    monkeypatch.chdir(tmp_path)
    t = simlib.load_scenario(EXAMPLE / "org.yaml")
    h = read_history(EXAMPLE / "history.csv", {r: x.process for r, x in t.roles.items()})
    cal = cb.calibrate(h, t, bootstrap=2, rng=0, trials=4)
    assert Path(cal.scenario.roster).resolve() == (EXAMPLE / "roster.csv").resolve()
    assert cal.scenario.headcount == t.headcount and cal.scenario.track_record is not None
