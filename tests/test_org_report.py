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
REP, REP_WAS = '<b>Zoë & "Al"</b>', "FI00013"  # a rep named with markup (the example's largest gainer)
TEAM2, TEAM2_WAS = "R&D <script>", "Service Central"  # a team named with markup and a script tag


@pytest.fixture(scope="module")
def org_copy(tmp_path_factory) -> Path:
    """The shipped example organisation with one team renamed to markup and one 2025 payout off by 100."""
    d = tmp_path_factory.mktemp("org") / "example_org"
    shutil.copytree(EXAMPLE, d)
    for name in ("roster.csv", "history.csv"):
        p = d / name
        p.write_text(p.read_text(encoding="utf-8").replace("Inside A,", f"\"{TEAM}\","), encoding="utf-8")
    for name in ("roster.csv", "history.csv"):
        t = pd.read_csv(d / name, dtype=str, keep_default_na=False)
        t["rep_id"] = t["rep_id"].replace(REP_WAS, REP)
        if "team" in t:
            t["team"] = t["team"].replace(TEAM2_WAS, TEAM2)
        t.to_csv(d / name, index=False)
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
    text = org.replay_verdict(ok, "EUR")
    assert text.startswith("Last year's recorded payouts reconcile to the cent")
    assert f"all {len(reps)} reps' 2025 incentive" in text and f"{reps['recorded'].sum():,.2f} EUR" in text
    none = dataclasses.replace(rp, has_payout=False)
    assert "records no payouts for 2025, so there is nothing to reconcile" in org.replay_verdict(none, "EUR")
    assert "names no history" in org.replay_verdict(None, "EUR")


def test_summary_sentence_gives_the_cost_in_money_and_percent_and_counts_reps_with_their_ci(scen, fwd):
    assert list(fwd.answers) == ["accelerated"] and fwd.reference == "current"
    ans = fwd.answers["accelerated"]
    s = ans.statement
    assert len(s) == scen.headcount == 60
    sentence = org.candidate_sentence(fwd, "accelerated")
    d = fwd.result.differences()
    cost = d[(d["plan"] == "accelerated") & (d["group"] == "total") & (d["metric"] == "incentive_cost")].iloc[0]
    word = "rises" if cost["diff"] >= 0 else "falls"
    rel, rel_se = org.relative_change(fwd.result, "incentive_cost", "accelerated")
    assert sentence.startswith(f"Under accelerated, the organisation's incentive cost {word} "
                               f"{simlib.present.fmt(abs(cost['diff']), cost['se'], 'incentive_cost', 'EUR')} "
                               f"({simlib.present.fmt_relative(rel, rel_se)}) a year against current; ")
    # the relative change is the paired change over the reference's level, its SE from the same trials
    lv = fwd.result.summary()
    level = lv[(lv["plan"] == "current") & (lv["group"] == "total") & (lv["metric"] == "incentive_cost")]["mean"].iloc[0]
    assert rel == pytest.approx(cost["diff"] / level, rel=1e-9) and 0 < rel_se < abs(rel)
    lose, gain = int((s["verdict"] == "loser").sum()), int((s["verdict"] == "winner").sum())
    assert (f"{gain} of 60 reps ({gain / 60:.0%}" in sentence) if gain else "no rep would gain" in sentence
    assert (f"{lose} of 60 reps ({lose / 60:.0%}" in sentence) if lose else "no rep would lose" in sentence
    # a count's error bar: the fewest and most reps past 5% that every rep's 95% CI allows
    k, lo, hi = org._count_range(s, ans.loss, 1)
    assert k == gain and lo <= k <= hi and (f"{lo} to {hi} allowing for simulation error" in sentence or lo == hi == k)
    # the per-rep answers and the forward simulation are the same trials: team costs add up to the total
    base = fwd.result.summary()
    total = base[(base["plan"] == "current") & (base["group"] == "total") & (base["metric"] == "incentive_cost")]
    assert ans.teams["cost_current"].sum() == pytest.approx(float(total["mean"].iloc[0]), rel=1e-9)


def test_first_screen_per_candidate_names_plan_in_words_money_people_teams_and_risks(scen, fwd):
    rp = org.last_year_replay(scen, in_force=fwd.reference)
    s = org.org_summary(scen, fwd, rp)
    cand, last = s["groups"]
    assert cand["heading"] == "accelerated against current"
    assert cand["note"] == "Steeper curves above target, quotas 5% higher."
    money, movers, teams, risk = cand["lines"]
    assert money.startswith("Revenue rises") or money.startswith("Revenue falls")
    assert "profit (gross profit - comp)" in money and "- pay" not in money and money.count("EUR ±") == 2 and money.count("% ±") == 2
    st = fwd.answers["accelerated"].statement.sort_values("change_pct")
    top = st.iloc[-1]
    assert movers.startswith(f"Gains most: {top['rep_id']} ({top['team']}, {top['role'].replace('_', ' ')}) +")
    t = fwd.answers["accelerated"].teams
    most = t.loc[(t["cost_change"] / t["cost_current"]).idxmax()]
    assert teams.startswith(f"Team incentive cost, in percent of the team's: rises most for {most['team']} "
                            f"({most['role'].replace('_', ' ')}, ") and "; falls for no team; rises least for " in teams
    assert teams.count("), +") == 2 and teams.count("rises") == 2  # one verb per team, the amount signed
    assert "% ±" in teams and "key_account" not in " ".join(cand["lines"])
    assert risk.startswith("In a bad year (95th percentile) the incentive cost reaches") and "guardrails: " in risk
    assert last["heading"] == "Last year (2025) replayed" and last["lines"] == s["items"]
    assert all("(exact: no simulation)" in x for x in s["items"][1:])


def _one(ans, **statement):
    """A candidate's answers with the statement's columns set as given (an edge case on real numbers)."""
    return dataclasses.replace(ans, statement=ans.statement.assign(**statement))


def test_edge_every_rep_gains(fwd):
    ans = fwd.answers["accelerated"]
    ea = ans.statement["expected_current"]
    gains = _one(ans, change=0.2 * ea, change_pct=0.2, change_se=0.001 * ea, verdict="winner")
    every = dataclasses.replace(fwd, answers={"accelerated": gains})
    people = org.people_sentence(every, "accelerated")
    assert people == "No rep would lose more than 5% of expected pay; 60 of 60 reps (100%) would gain more than 5% " \
                     "of expected pay (base + incentive)"
    movers = org.movers_sentence(every, "accelerated")
    assert movers.startswith("Gains most: ") and "no rep's expected pay falls; gains least: " in movers
    assert movers.endswith(" (ranked in percent of the rep's expected pay)")  # a larger gain in money may rank lower
    assert "loses most" not in movers


def test_edge_every_rep_loses_names_the_largest_loss(fwd):
    ans = fwd.answers["accelerated"]
    ea = ans.statement["expected_current"]
    pct = -0.1 - 0.001 * pd.Series(range(len(ea)), index=ea.index)
    loses = _one(ans, change=pct * ea, change_pct=pct, change_se=0.0, verdict="loser")
    every = dataclasses.replace(fwd, answers={"accelerated": loses})
    assert org.people_sentence(every, "accelerated").startswith("60 of 60 reps (100%) would lose more than 5%")
    worst = loses.statement.iloc[-1]
    movers = org.movers_sentence(every, "accelerated")
    assert movers.startswith("No rep gains; loses least: ") and f"loses most: {worst['rep_id']} (" in movers
    t = loses.teams
    cut = dataclasses.replace(loses, teams=t.assign(cost_change=-t["cost_current"] * (0.1 + 0.01 * pd.Series(range(len(t))))))
    teams = org.teams_sentence(dataclasses.replace(fwd, answers={"accelerated": cut}), "accelerated")
    assert teams.startswith(f"Team incentive cost, in percent of the team's: rises for no team; falls least for "
                            f"{t.iloc[0]['team']} (") and f"; falls most for {t.iloc[-1]['team']} (" in teams
    assert "rises most" not in teams


def test_edge_a_plan_equal_to_todays_changes_nothing_and_says_so(org_copy):
    import yaml

    spec = yaml.safe_load(org_copy.read_text(encoding="utf-8"))
    spec["plans"]["same_as_today"] = {"base": "current", "changes": {}}
    twin_file = org_copy.with_name("org_twin.yaml")
    twin_file.write_text(yaml.safe_dump(spec), encoding="utf-8")
    twin = simlib.load_scenario(twin_file)
    f = org.org_answers(twin, ["current", "same_as_today"], trials=6, rng=1)
    assert (f.answers["same_as_today"].statement["change"] == 0).all()
    assert org.candidate_sentence(f, "same_as_today") == (
        "Under same as today, the organisation's incentive cost is as under current in every simulated year; "
        "no rep's expected pay changes: same as today pays all 60 reps as current does.")
    lines = org.candidate_lines(f, "same_as_today", twin)
    assert lines[1] == "Revenue, profit (gross profit - comp): as under current in every simulated year."
    assert not any(x.startswith(("Gains most", "Team incentive cost")) for x in lines)
    assert org.plan_heading(twin, "same_as_today", "current") == ("same as today against current", "current with changes")


def test_edge_a_single_rep_and_team(fwd):
    ans = fwd.answers["accelerated"]
    one = dataclasses.replace(ans, statement=ans.statement.iloc[[0]], teams=ans.teams.iloc[[0]])
    single = dataclasses.replace(fwd, answers={"accelerated": one})
    r = one.statement.iloc[0]
    people = org.people_sentence(single, "accelerated")
    assert "1 of 1 rep" not in people and "of 1 reps" not in people
    assert people.lower().count("no rep") + people.count("the only rep") == 2
    assert org.movers_sentence(single, "accelerated").startswith(f"The only rep: {r['rep_id']} ({r['team']}, key account) ")
    team = org.teams_sentence(single, "accelerated")
    assert team.startswith(f"The only team: {one.teams.iloc[0]['team']} (key account, 6 reps), ")


def test_first_screen_escapes_rep_and_team_names_with_markup(scen, fwd):
    from simlib.report.summary import render

    ans = fwd.answers["accelerated"]
    assert REP in set(ans.statement["rep_id"]) and TEAM2 in set(ans.teams["team"])
    st, t = ans.statement.copy(), ans.teams.copy()  # make them the largest gainer and the largest team rise
    st.loc[st["rep_id"] == REP, ["change", "change_pct"]] = [st["change"].max() * 3, st["change_pct"].max() * 3]
    t.loc[t["team"] == TEAM2, "cost_change"] = t["cost_current"] * 0.9
    ans = dataclasses.replace(ans, statement=st, teams=t)
    s = org.org_summary(scen, dataclasses.replace(fwd, answers={"accelerated": ans}),
                        org.last_year_replay(scen, in_force=fwd.reference))
    page = render("brief.html.j2", title=s["title"], lead=s["lead"], groups=s["groups"], legend=s["legend"])
    page = page.replace("&#34;", "&quot;")  # Jinja2 writes a quote as &#34;
    text = " ".join(" ".join(g["lines"]) for g in s["groups"])
    assert REP in text and TEAM2 in text  # named on the first screen (the largest gainer, the largest team rise)
    assert html.escape(REP) in page and html.escape(TEAM2) in page
    assert "<b>" not in page and "<script>" not in page
    tables = org.team_table(ans, "EUR").to_html() + org.statement_table(ans, TEAM2, "EUR").to_html()
    tables += org.movers_table(ans, "EUR", "winner").to_html()
    assert html.escape(TEAM2) in tables and html.escape(REP) in tables and "<script>" not in tables and "<b>" not in tables


def test_charts_and_tables_show_plan_and_role_ids_as_words(scen, fwd):
    fig = org.team_cost_chart(fwd)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "Enterprise North (key account)" in labels and not any("_" in x for x in labels)
    fig = org.pay_change_chart(fwd)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["key account", "telesales", "field service"]
    lo, hi = fig.axes[0].get_ylim()
    assert lo < -0.05 and hi > 0.05  # both dashed lines inside the frame
    # two candidates share the y axis: every rep of both panels inside it
    ans = fwd.answers["accelerated"]
    wide = dataclasses.replace(ans, plan="b", statement=ans.statement.assign(change_pct=ans.statement["change_pct"] * 3))
    two = dataclasses.replace(fwd, answers={"accelerated": ans, "b": wide})
    fig = org.pay_change_chart(two)
    for ax in fig.axes:
        lo, hi = ax.get_ylim()
        assert lo <= wide.statement["change_pct"].min() and hi >= wide.statement["change_pct"].max()
    # one colour per plan on every chart: a candidate's rep points, team error bars and replay bars agree
    from matplotlib.colors import to_hex

    colours = org.plan_colours("current", ["accelerated", "b"])
    assert colours == {"current": "#4d4d4d", "accelerated": "C0", "b": "C1"}
    assert to_hex(fig.axes[1].collections[0].get_facecolor()[0]) == to_hex("C1")
    team = org.team_cost_chart(two).axes[0]
    assert to_hex(team.lines[0].get_color()) == to_hex("C0")
    rp = org.last_year_replay(scen)
    bars = org.replay_chart(rp, "EUR").axes[0]
    assert "field service" in [t.get_text() for t in bars.get_xticklabels()]
    handles, names = bars.get_legend_handles_labels()
    shown = dict(zip(names, (to_hex(h.patches[0].get_facecolor()) for h in handles), strict=True))
    assert shown["accelerated"] == to_hex("C0") and shown["current"] == "#4d4d4d"
    page = org.replay_table(rp, "EUR").to_html() + org.team_table(fwd.answers["accelerated"], "EUR").to_html()
    assert "key_account" not in page and "key account" in page
    teams = fwd.answers["accelerated"].teams
    rise = teams["cost_change"].iloc[0]
    assert f">{simlib.present.fmt(rise, teams['cost_change_se'].iloc[0], 'incentive_cost', 'EUR', signed=True)}<" in page
    assert rise > 0  # a change in the team table is signed: "+41.0 k EUR ± 3.3 k"
    st = org.statement_table(fwd.answers["accelerated"], "Inside B", "EUR").to_html()
    assert "expected pay, accelerated" in st and "rep_id" not in st and "% ±" in st


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


def test_rep_statement_gives_expected_pay_and_change_with_their_95_intervals(fwd):
    """Every named rep's expected pay under both plans reads ``value ± half-width`` (95% CI over the trials), as
    does the change where it is not exactly 0; the half-width is 1.96 SE of the rep's mean over the trials."""
    from simlib import present

    ans = fwd.answers["accelerated"]
    team = ans.statement["team"].iloc[0]
    rows = ans.statement[ans.statement["team"] == team]
    v = org.statement_table(ans, team, "EUR")
    page = v.to_html()
    assert "expected pay and change ± 95% CI" in page
    shown = v.data
    for col, key in zip(shown.columns[1:3], ("expected_current", "expected_candidate"), strict=True):
        assert col.startswith("expected pay")
        for x, se in zip(rows[key], rows[f"{key}_se"], strict=True):
            assert se > 0
            assert present.fmt(x, se, "incentive_cost", "EUR", scale=present.cell_scale(
                x, present.money_scale(rows[key].to_numpy(dtype=float)))) in page
    assert page.count("±") >= 2 * len(rows)  # both expected pays of every rep, and the changes not exactly 0


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
    from conftest import image_alts

    alts = image_alts(page)  # every chart says what it shows (its title)
    assert len(alts) >= 3 and all(a and a != "Figure without a description" for a in alts), alts
    assert any(a.startswith("Team incentive cost against current") for a in alts), alts
    # the same numbers as the library on the same seed (the fixture: 12 trials, seed 5)
    assert summary["lead"] == org.candidate_sentence(fwd, "accelerated")
    wl = pd.DataFrame(res["winners_losers"]["accelerated"])
    assert wl.iloc[-1]["losers"] == int((fwd.answers["accelerated"].statement["verdict"] == "loser").sum())
    # every roster rep is in the page (rep statements), names escaped
    quoted = page.replace("&quot;", '"').replace("&#34;", '"')
    for rep in pd.read_csv(org_copy.parent / "roster.csv")["rep_id"]:
        assert html.escape(rep, quote=False) in quoted
    assert html.escape(TEAM) in page and TEAM not in page
    assert REP not in quoted and TEAM2 not in page and html.escape(TEAM2) in page
    assert res["replay"]["reconciled"] is False and BAD_REP in {m["rep_id"] for m in res["replay"]["mismatches"]}
    assert "How this report was produced" in page and page.index("How this report was produced") > page.rindex("<img")
    index = (out / "index.html").read_text(encoding="utf-8")
    assert html.escape(res["headline"], quote=False) in index.replace("&#39;", "'")
    # the index says which figures carry a CI (the headline's count carries its range) and which are exact
    assert "figures replayed from recorded results are exact" in index
    assert "allowing for simulation error" in res["headline"] or "no rep would" in res["headline"].lower()


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


def test_answers_do_not_depend_on_what_the_process_solved_before(org_copy, tmp_path):
    # Same seed, same numbers: a copy of the organisation with one more plan draws its calibration sample on another
    # layout, and its effort cost scale and solutions were shared with the original under a key that left that out
    # (the original's accelerated plan then read +294 k EUR instead of +253 k after the copy had run)
    import yaml

    from simlib.behaviour.dynamic import clear_solutions

    scen = simlib.load_scenario(org_copy)
    clear_solutions()
    fresh = org.candidate_sentence(org.org_answers(scen, trials=12, rng=5), "accelerated")
    spec = yaml.safe_load(org_copy.read_text(encoding="utf-8"))
    spec["plans"]["same_as_today"] = {"base": "current", "changes": {}}
    twin_file = org_copy.with_name("org_twin_process.yaml")
    twin_file.write_text(yaml.safe_dump(spec), encoding="utf-8")
    clear_solutions()
    org.org_answers(simlib.load_scenario(twin_file), ["current", "same_as_today"], trials=6, rng=1)
    after = org.candidate_sentence(org.org_answers(simlib.load_scenario(org_copy), trials=12, rng=5), "accelerated")
    assert after == fresh


def test_reps_and_teams_with_equal_changes_show_their_own_intervals(fwd):
    """Two reps (or teams) whose change in pay is exactly equal but known to different precision read their own ±."""
    from simlib import present

    ans = fwd.answers["accelerated"]
    team = ans.statement["team"].iloc[0]
    st = ans.statement.copy()
    two = st.index[st["team"] == team][:2]
    st.loc[two, ["change", "change_pct", "expected_current"]] = [[1234.0, 0.05, 24680.0]] * 2
    st.loc[two, "change_se"] = [10.0, 300.0]
    t = ans.teams.copy()
    t.loc[t.index[:2], ["cost_change", "cost_change_se"]] = [[25000.0, 100.0], [25000.0, 3000.0]]
    ans = dataclasses.replace(ans, statement=st, teams=t)
    page = org.statement_table(ans, team, "EUR").to_html()
    scale = present.money_scale(st.loc[st["team"] == team, "change"].to_numpy(dtype=float))
    for se in (10.0, 300.0):
        shown = present.fmt(1234.0, se, "incentive_cost", "EUR", signed=True, scale=present.cell_scale(1234.0, scale))
        assert f">{shown}<" in page
        assert f">{present.fmt_relative(0.05, se / 24680.0)}<" in page
    page = org.team_table(ans, "EUR").to_html()
    scale = present.money_scale(t["cost_change"].to_numpy(dtype=float))
    for se in (100.0, 3000.0):
        shown = present.fmt(25000.0, se, "incentive_cost", "EUR", signed=True, scale=present.cell_scale(25000.0, scale))
        assert f">{shown}<" in page


@pytest.fixture(scope="module")
def two_currencies(tmp_path_factory):
    """midyear.yaml (us_key_account paid in USD at 0.92 EUR per USD, eu_inside_sales in EUR) replayed from a
    synthetic history with one payout recorded 100 USD too high and one 10 EUR too high."""
    from simlib.fit.history import read_history, write_history
    from simlib.fit.replay import replay
    from simlib.fit.synth import synth_history

    scen = simlib.load_scenario(ROOT / "scenarios" / "midyear.yaml")
    frame, _ = synth_history(scen, rng=5)
    for role, by in (("us_key_account", 100.0), ("eu_inside_sales", 10.0)):
        row = frame.index[(frame["role"] == role) & (frame["month"] == 3)][0]
        frame.loc[row, "payout"] += by
    hist = tmp_path_factory.mktemp("fx") / "h.csv"
    write_history(frame, hist)
    return scen, replay(scen, read_history(hist, {r: x.process for r, x in scen.roles.items()}))


def test_replayed_money_of_a_role_paid_in_another_currency_is_labelled_in_it(two_currencies):
    """The org report labelled a USD role's replayed rows in EUR and added USD and EUR mismatches into one
    "differs by -110.00 EUR in total": each role's money now carries its own currency, differences are summed
    per currency, and the totals and the replay sentence are in EUR with the USD role converted at fx, as
    `simlib replay` has them."""
    from simlib import present

    scen, rp = two_currencies
    verdict = org.replay_verdict(rp, "EUR")
    assert "by -10.00 EUR and -100.00 USD in total" in verdict and "110.00" not in verdict, verdict
    assert "at most 100.00 USD for one rep" in verdict, verdict
    ok = dataclasses.replace(rp, reps=rp.reps.assign(recorded=rp.reps[rp.in_force]), mismatches=rp.mismatches.iloc[0:0])
    cur = rp.reps["role"].map(rp.role_currencies())
    paid = {c: ok.reps.loc[cur == c, "recorded"].sum() for c in ("EUR", "USD")}
    assert f"({paid['EUR']:,.2f} EUR and {paid['USD']:,.2f} USD in total)" in org.replay_verdict(ok, "EUR")

    t = rp.totals.set_index("role")
    page = org.replay_table(rp, "EUR").to_html()
    rows = {r: next(x for x in page.split("<tr>") if f">{present.readable(r)}<" in x)
            for r in ("us_key_account", "eu_inside_sales", "total")}
    assert present.fmt_value(t.loc["us_key_account", "recorded"], "incentive_cost", "USD") in rows["us_key_account"]
    assert "EUR" not in rows["us_key_account"] and "USD" not in rows["eu_inside_sales"]
    assert present.fmt_value(t.loc["total", "recorded"], "incentive_cost", "EUR") in rows["total"]
    assert "USD" not in rows["total"]

    mism = org.mismatch_table(rp, "EUR").to_html()
    us = next(x for x in mism.split("<tr>") if "us key account" in x)
    assert "-100.00 USD" in us and "EUR" not in us, us

    b, a = t.loc["total", "h2_richer"], t.loc["total", rp.in_force]  # in EUR, the USD role at fx
    sentence = org.replay_sentence(rp, "h2_richer", "EUR")
    assert f"would have paid {present.fmt_value(b, 'incentive_cost', 'EUR')} in incentive" in sentence, sentence
    assert present.fmt_value(b - a, "incentive_cost", "EUR", signed=True) in sentence

    bars = org.replay_chart(rp, "EUR").axes[0]
    ticks = [x.get_text() for x in bars.get_xticklabels()]
    assert any("us key account" in x and "USD" in x for x in ticks), ticks
    assert "EUR" not in bars.get_ylabel(), bars.get_ylabel()  # the axis is not in one currency


def test_risk_sentence_says_a_chance_of_none_or_all_as_the_tables_do(org_copy):
    # midyear's org report read "chance of exceeding the incentive budget of 3.60 M EUR: 0.0%", a bare value
    # beside "3.39 M EUR ± 241 k"; the tables read "0.0% (in none of 50 trials)"
    import yaml

    data = yaml.safe_load(org_copy.read_text(encoding="utf-8"))
    for budget, words in ((1.0, "100.0% (in all 6 trials)"), (1e11, "0.0% (in none of 6 trials)")):
        data["budget"] = {**(data.get("budget") or {}), "incentive": budget}
        path = org_copy.parent / f"budget_{budget:g}.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        rich = simlib.load_scenario(path)
        ans = org.org_answers(rich, ["current", "accelerated"], trials=6, rng=1)
        sentence = org.risk_sentence(ans, "accelerated", rich)
        assert "chance of exceeding the incentive budget of " in sentence and f": {words}" in sentence, sentence
