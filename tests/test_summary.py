"""Executive summaries: who loses pay, guardrail verdicts, the recommendation, escaping."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import DEFAULT

import simlib
from simlib.design import guardrails as gr
from simlib.format import Z95
from simlib.report import notebook as nb
from simlib.report import summary as rs


def test_pay_changes_count_reps_losing_or_gaining_more_than_five_percent():
    rows = []
    for trial in range(2):
        for rep in range(2):
            rows.append(dict(plan="ref", role="r", trial=trial, rep=rep, base=50.0, incentive=50.0))
            # rep 0 loses 10% of pay, rep 1 gains 3% (within the 5% band)
            rows.append(dict(plan="new", role="r", trial=trial, rep=rep, base=50.0, incentive=40.0 if rep == 0 else 53.0))
    out = rs.pay_changes(pd.DataFrame(rows), "ref").set_index("group")
    assert set(out.index) == {"r", "total"}
    assert out.loc["total", "share_down"] == pytest.approx(0.5) and out.loc["total", "share_up"] == 0.0
    assert out.loc["total", "trials"] == 2


def _two_plans_guard() -> pd.DataFrame:
    """Guardrail rows of plans a and b: cost of sales outside for both, leverage outside for b only, b's share at
    120% borderline."""
    return pd.DataFrame([
        dict(plan=p, group="total", metric="comp_cost_of_sales", status="outside") for p in ("a", "b")
    ] + [dict(plan="a", group="total", metric="leverage", status="inside"),
         dict(plan="b", group="total", metric="leverage", status="outside"),
         dict(plan="b", group="total", metric="share_120", status="borderline")])


def test_guardrail_verdicts_name_a_plans_own_breaches_and_shared_ones_once():
    guard = _two_plans_guard()
    v = rs.guardrail_verdicts(guard, ["a", "b"])
    assert v["a"].startswith("1 of 2 checks outside the typical band, shared by every plan")
    assert "leverage (total)" in v["b"] and "1 borderline" in v["b"] and "cost of sales" not in v["b"]
    assert "comp cost of sales (total)" in v["_all"] and "every plan" in v["_all"]
    assert "95% CI straddles" in v["b"]  # the jargon word is explained where it appears
    # and names its check, as the breaches do
    assert v["b"].endswith("straddles an edge of the band): reps at 120%+ of quota (total)")


def test_shared_guardrail_breaches_name_their_groups_so_a_plans_own_breach_of_the_same_metric_reads_true():
    # share at quota is outside for the telesales role under both plans, and for the total only under b: the
    # shared sentence must not read as if share at quota were outside everywhere under every plan
    guard = pd.DataFrame([
        dict(plan=p, group=g, metric="share_at_quota", status=s)
        for p, g, s in [("a", "telesales", "outside"), ("b", "telesales", "outside"),
                        ("a", "total", "inside"), ("b", "total", "outside"),
                        ("a", "channel", "warning"), ("b", "channel", "outside")]])
    v = rs.guardrail_verdicts(guard, ["a", "b"])
    assert "reps at or above quota (channel, telesales)" in v["_all"] and "total" not in v["_all"]
    assert "reps at or above quota (total)" in v["b"] and "telesales" not in v["b"]


@pytest.fixture(scope="module")
def comparison():
    scen = simlib.load_scenario(DEFAULT)
    res = simlib.simulate(scen, trials=30, rng=1)
    reps = nb.rep_outcomes(scen, res.plans, trials=2, rng=1)
    guard = pd.concat([gr.guardrail_table(res.summary(), rules=rs.scenario_rules(scen)), gr.plan_rules(scen, res.plans)],
                      ignore_index=True)
    return scen, res, rs.executive_summary(res, scen, reps=reps, guard=guard, title="t")


def test_recommendation_is_clearly_better_and_within_the_budget(comparison):
    scen, res, s = comparison
    d = res.differences().query("group == 'total'").set_index(["plan", "metric"])
    lv = res.summary().query("group == 'total'").set_index(["plan", "metric"])["mean"]
    rec = s["recommended"]
    if rec != res.reference:
        assert d.loc[(rec, "profit"), "diff"] - Z95 * d.loc[(rec, "profit"), "se"] > 0
        assert lv[(rec, "over_budget")] <= max(0.5, lv[(res.reference, "over_budget")])
    # no plan that would qualify beats it
    for p in res.plans:
        if p == res.reference or p == rec:
            continue
        clear = d.loc[(p, "profit"), "diff"] - Z95 * d.loc[(p, "profit"), "se"] > 0
        within = lv[(p, "over_budget")] <= max(0.5, lv[(res.reference, "over_budget")])
        if clear and within:
            assert d.loc[(p, "profit"), "diff"] <= (d.loc[(rec, "profit"), "diff"] if rec != res.reference else 0)
    assert [c["plan"] for c in s["plans"]] == [p for p in res.plans if p != res.reference]
    assert scen.currency in s["headline"] and "±" in s["headline"]
    assert all("chance of exceeding" in c["sentence"] and "lose more than 5% of their pay" in c["who"].replace("loses", "lose")
               for c in s["plans"])


def test_summary_html_escapes_names(comparison):
    _, _, s = comparison
    evil = {**s, "recommended": "<script>x</script>", "recommended_name": "<script>x</script>",
            "reference_name": "<b>now</b>",
            "plans": [{**s["plans"][0], "plan": "<img src=x onerror=1>", "name": "<img src=x onerror=1>"}]}
    page = rs.render("summary.html.j2", s=evil)
    assert "<script>x" not in page and "&lt;script&gt;" in page and "<img" not in page


def test_summary_names_plans_in_words(comparison):
    # a VP reads "harder target", not the scenario's id harder_target; the ids stay in the data
    _, res, s = comparison
    cands = [p for p in res.plans if p != res.reference and "_" in p]
    assert cands, "the comparison fixture needs a plan id with an underscore"
    page = rs.render("summary.html.j2", s=s)
    for p in cands:
        assert p.replace("_", " ") in page and f"<strong>{p}</strong>" not in page
    assert "_" not in rs.headline(s).split(",")[0]
    assert {c["plan"] for c in s["plans"]} == {p for p in res.plans if p != res.reference}


def test_recommendation_says_when_the_recommended_plan_makes_many_reps_lose_pay(comparison):
    _, res, s = comparison
    moves = pd.DataFrame([dict(plan="hard", group="total", share_down=0.58, share_down_se=0.015, share_up=0.1,
                               share_up_se=0.01, trials=30),
                          dict(plan="soft", group="total", share_down=0.10, share_down_se=0.01, share_up=0.3,
                               share_up_se=0.01, trials=30)])
    warn = rs.losers_warning(moves, "hard")
    assert warn.startswith("but 58") and "± 2.9" in warn and "over 5% less" in warn and "attrition" in warn
    assert rs.losers_warning(moves, "soft") == "" and rs.losers_warning(None, "hard") == ""
    # the first screen and the index headline carry it beside the recommendation
    c = s["plans"][0]
    warned = {**s, "recommended": c["plan"], "caution": warn}
    assert warn in rs.headline(warned)
    lead = rs.render("summary.html.j2", s=warned).split("</p>")[0]
    assert "58.0% ± 2.9 of reps would earn over 5% less" in lead
    assert "attrition" not in rs.render("summary.html.j2", s={**s, "caution": ""})


def test_first_screen_gives_every_chance_of_exceeding_the_budget_its_error_bar(comparison):
    import re

    scen, res, s = comparison
    page = rs.render("summary.html.j2", s=s)
    # each candidate's chance carries its ± as the reference's budget line does; the legend says a share's ± is in points
    for c in s["plans"]:
        sentence = re.search(r"(\d+\.\d|\d+)% ± [\d.<]+ chance of exceeding the incentive budget", c["sentence"])
        assert sentence or "(in none of 30 trials) chance" in c["sentence"], c["sentence"]
    assert re.search(r"the chance of exceeding it is \d+(\.\d)?% ± [\d.]+", s["budget"])
    assert "percentage points" in page.split('class="simlib-legend"')[1]


def test_change_charts_keep_titles_on_the_figure_and_tick_labels_apart(comparison):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from simlib.report import plots

    _, res, _ = comparison
    metrics = ["profit", "revenue", "incentive_cost", "comp_cost_of_sales", "share_at_quota", "leverage"]
    fig = plots.difference_forest(res.differences(), metrics)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    width = fig.bbox.width
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        title = ax.title.get_window_extent(renderer)
        assert title.x0 >= 0 and title.x1 <= width, ax.get_title()  # whole on the figure, not cut at its edge
        boxes = sorted((t.get_window_extent(renderer) for t in ax.get_xticklabels()
                        if t.get_visible() and t.get_text() and ax.get_xlim()[0] <= t.get_position()[0] <= ax.get_xlim()[1]),
                       key=lambda b: b.x0)
        assert len(boxes) >= 2
        for a, b in zip(boxes, boxes[1:], strict=False):
            assert a.x1 < b.x0, f"{ax.get_title()}: tick labels touch"


def test_index_headline_says_keep_once(comparison):
    _, res, s = comparison
    ref = res.reference
    keep = {**s, "recommended": ref, "caution": "",
            "reason": f"no candidate is clearly better on profit (95% CI) within the budget, so keep {ref}; "
                      f"x would do better but exceeds the incentive budget with a chance above 50%"}
    line = rs.headline(keep)
    assert line.startswith(f"Keep {ref}: no candidate is clearly better") and line.count(f"keep {ref}") == 0
    assert line.endswith("with a chance above 50%.")


def test_budget_risk_chart_names_plans_in_words(comparison):
    # the cost-risk chart's legend reads as the first screen does ("harder target"), not the scenario's ids
    from simlib.report import plots

    _, res, _ = comparison
    fig = plots.budget_risk_chart(res.trials(), 6.5e6)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ids = [p for p in res.plans if "_" in p]
    assert ids and not any(p in labels for p in ids)
    assert all(p.replace("_", " ") in labels for p in ids) and any(t.startswith("budget") for t in labels)


def test_guardrail_verdict_counts_every_check_outside_as_the_guardrail_table_shows_them():
    # the answer said "1 of 3 checks outside" for b while the guardrail table beside it shows two checks of b outside
    # (one shared by every plan): a VP comparing the two saw contradictory figures
    guard = _two_plans_guard()
    v = rs.guardrail_verdicts(guard, ["a", "b"])
    matrix = rs.guardrail_matrix(guard)
    assert matrix.loc["b", "total"].count(",") + 1 - matrix.loc["b", "total"].count("~") == 2
    assert v["b"].startswith("2 of 3 checks outside the typical band (1 of them under every plan, below): leverage (total)")
    assert v["a"].startswith("1 of 2 checks outside the typical band, shared by every plan")


def test_answer_gives_each_candidates_profit_and_cost_in_money_and_percent(comparison):
    # the answer said "profit +274 k EUR ± 6.6 k vs current" with no percent: a VP could not tell 274 k of what
    import re

    scen, res, s = comparison
    t = res.trials().query("group == 'total'")
    for c in s["plans"]:
        for metric, words in (("profit", "profit"), ("incentive_cost", "incentive cost")):
            ref = t[t["plan"] == res.reference].sort_values("trial")[metric].to_numpy()
            new = t[t["plan"] == c["plan"]].sort_values("trial")[metric].to_numpy()
            pct = 100 * (new - ref).mean() / ref.mean()
            m = re.search(words + r" [+-][^;(]* EUR ± [^;(]* \(([+-]?[0-9.]+)% ± [0-9.<]+\)", c["sentence"])
            assert m, (metric, c["sentence"])
            places = len(m.group(1).split(".")[1]) if "." in m.group(1) else 0
            assert abs(float(m.group(1)) - pct) <= 0.5 * 10 ** -places + 1e-9, (metric, pct, c["sentence"])
    if s["recommended"] != res.reference:
        rec = next(x for x in s["plans"] if x["plan"] == s["recommended"])
        assert rec["sentence"].split(";")[0] in s["headline"] and "%" in s["headline"].split(";")[0]


def test_detail_tables_and_charts_name_plans_and_roles_in_words_as_the_answer_does(comparison):
    # the answer said "harder target" while the tables under it were headed "harder_target" and "key_account: ..."
    # and the budget risk table showed the same estimates as the levels table without their error bars
    import re

    from simlib.report import plots

    scen, res, s = comparison
    ids = [p for p in res.plans if "_" in p] + [r for r in scen.roles if "_" in r]
    assert ids
    guard = pd.concat([gr.guardrail_table(res.summary(), rules=rs.scenario_rules(scen)), gr.plan_rules(scen, res.plans)],
                      ignore_index=True)
    risk = nb.budget_risk(res, scen.budget.incentive)
    pages = {"levels": rs.levels_table(res).to_html(), "matrix": rs.guardrail_matrix(guard).to_html(),
             "details": rs.guardrail_details(guard).to_html(), "risk": rs.budget_risk_table(risk).to_html()}
    for name, page in pages.items():
        for i in ids:
            assert i not in page, (name, i)
    assert "harder target" in pages["levels"] and "key account" in pages["matrix"]
    cells = re.findall(r"<td [^>]*>([^<]*)</td>", pages["risk"])
    assert len(cells) == 3 * len(res.plans) and all(" ± " in c for c in cells), cells
    lv = res.summary().query("group == 'total' and metric == 'incentive_cost'").set_index("plan")
    assert risk.set_index("plan")["mean_cost_se"].to_numpy() == pytest.approx(lv.loc[risk["plan"], "se"].to_numpy(),
                                                                               rel=1e-6)
    reps = nb.rep_outcomes(scen, res.plans, trials=2, rng=1)
    figs = [plots.attainment_distribution(reps), plots.pay_curves(nb.pay_curve_table(scen, res.plans)),
            plots.metric_by_role(res.summary(), ["incentive_cost"]), plots.revenue_vs_cost(res.trials()),
            plots.role_profile(reps, res.plans)]
    for fig in figs:
        texts = [t.get_text() for ax in fig.axes for t in (*ax.get_xticklabels(), ax.title)]
        texts += [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
        assert not [t for t in texts if any(i in t for i in ids)], texts
        assert "trial" not in " ".join(texts)


def test_plans_kept_out_by_the_budget_are_listed_as_a_sentence_lists_them():
    # the answer read "team weighted, one plan for all would do better but exceed the incentive budget"
    import types

    plans = ["current", "safe", "team_weighted", "one_plan_for_all", "big_spender"]
    gain = {"safe": 1.0, "team_weighted": 5.0, "one_plan_for_all": 4.0, "big_spender": 3.0}
    risk = {"current": 0.2, "safe": 0.1, "team_weighted": 0.6, "one_plan_for_all": 0.9, "big_spender": 0.95}
    summ = pd.DataFrame([dict(plan=p, group="total", metric="over_budget", mean=risk[p], se=0.01) for p in plans])
    diff = pd.DataFrame([dict(plan=p, group="total", metric="profit", diff=g, se=0.1) for p, g in gain.items()])
    res = types.SimpleNamespace(reference="current", plans=plans, summary=lambda: summ, differences=lambda: diff)
    rec, reason = rs._recommend(res, "profit", 0.5)
    assert rec == "safe"
    assert "; team weighted, one plan for all and big spender would do better but exceed the incentive budget" in reason
    two = types.SimpleNamespace(reference="current", plans=plans[:4], summary=lambda: summ, differences=lambda: diff)
    assert "; team weighted and one plan for all would do better" in rs._recommend(two, "profit", 0.5)[1]


def test_sweep_answer_gives_the_best_points_change_in_money_and_percent():
    # the sweep's answer read "profit 21.9 M EUR ± 332 k (+182 k EUR ± 43 k vs the base plan)": no percent
    rows = []
    for point, tl, mean, diff in ((0, 0.9, 21.9e6, 182e3), (1, 1.0, 21.718e6, 0.0), (2, 1.1, 23.4e6, 1.682e6)):
        rows.append(dict(point=point, target_level=tl, group="total", metric="profit", mean=mean, se=169e3,
                         diff=diff, diff_se=0.0 if diff == 0 else 22e3))
    sweep = pd.DataFrame(rows)
    region = pd.DataFrame([dict(point=p, group="total", meets=p < 2) for p in range(3)])
    a = rs.sweep_answer(sweep, region, ["target_level"], "profit", "EUR")
    assert a["lead"] == ("Best point meeting the guardrails: target level 0.9: profit 21.9 M EUR ± 331 k "
                         "(+182 k EUR ± 43 k, +0.8% ± 0.2, vs the base plan).")
    assert "(+1.68 M EUR ± 43 k, +7.7% ± 0.2, vs the base plan)" in a["items"][-1]


def test_budget_risk_table_words_the_chance_as_the_answer_and_says_none_or_all(comparison):
    # the table was headed "chance over budget" (the answer and run say "chance of exceeding the incentive
    # budget") and printed a bare "0.0%" / "100.0%" where run's table reads "(in none of N trials)"
    import re

    scen, res, s = comparison
    n = int(res.summary().query("metric == 'incentive_cost' and group == 'total'")["n"].iloc[0])
    for budget, words in ((1.0, f"100.0% (in all {n:,} trials)"), (1e12, f"0.0% (in none of {n:,} trials)")):
        page = rs.budget_risk_table(nb.budget_risk(res, budget)).to_html()
        assert "chance of exceeding the incentive budget" in page and "chance over budget" not in page
        cells = re.findall(r"<td [^>]*>([^<]*)</td>", page)
        assert cells[2::3] == [words] * len(res.plans), cells


@pytest.mark.parametrize("budget, words", [(1.0, "100.0% (in all 6 trials)"), (1e11, "0.0% (in none of 6 trials)")])
def test_answer_says_a_chance_of_none_or_all_as_the_tables_do(tmp_path, budget, words):
    # the comparison's answer read "0.0% chance of exceeding the incentive budget" (and its budget line "is
    # 0.0%"), a bare value where the budget table and the org report read "0.0% (in none of N trials)"
    import yaml

    data = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    data["budget"] = {**(data.get("budget") or {}), "incentive": budget}
    path = tmp_path / "budget.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    scen = simlib.load_scenario(path)
    res = simlib.simulate(scen, trials=6, rng=1)
    s = rs.executive_summary(res, scen, title="t")
    for c in s["plans"]:
        assert f"{words} chance of exceeding the incentive budget" in c["sentence"], c["sentence"]
    assert s["budget"].endswith(f"the chance of exceeding it is {words}."), s["budget"]


def test_who_wins_and_loses_says_no_rep_or_every_rep_in_words_for_reps_and_trials(comparison):
    """Where no rep lost more than 5% in any trial the answer printed a bare "0.0% of reps lose more than 5% of
    their pay": a share of none (or all) has no error bar and says so, for reps across the trials counted."""
    scen, res, _ = comparison
    reps = nb.rep_outcomes(scen, res.plans, trials=3, rng=1)
    ref = res.reference
    base = reps[reps["plan"] == ref].set_index(["role", "trial", "rep"])
    plans = [p for p in res.plans if p != ref]
    up, same = plans[0], plans[1]
    frames = [base.reset_index().assign(plan=ref),
              base.assign(incentive=base["incentive"] + 0.2 * (base["base"] + base["incentive"])).reset_index().assign(plan=up),
              base.reset_index().assign(plan=same)]
    s = rs.executive_summary(res, scen, reps=pd.concat(frames, ignore_index=True), title="t")
    who = {c["plan"]: c["who"] for c in s["plans"]}
    assert who[up] == "no rep loses more than 5% of their pay in any of 3 trials, every rep gains more than 5% in all 3 trials"
    assert who[same] == ("no rep loses more than 5% of their pay in any of 3 trials, "
                         "no rep gains more than 5% in any of 3 trials")
    assert "0.0% of reps" not in rs.render("summary.html.j2", s=s)
    # a share between none and all keeps its error bar, as before
    assert rs._who(0.0, 0.0, 0.25, 0.01, 30) == ("no rep loses more than 5% of their pay in any of 30 trials, "
                                                 "25.0% ± 2.0 of reps gain more than 5%")
    assert rs._who(0.1, 0.01, 1.0, 0.0, 30) == ("10.0% ± 2.0 of reps lose more than 5% of their pay, "
                                                "every rep gains more than 5% in all 30 trials")
