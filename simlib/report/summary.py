"""Executive summaries and readable tables for report notebooks.

A report opens with its answer: the recommended plan and each candidate
against the reference plan in plain words, money in the scenario's currency
with 95% confidence intervals, the chance of exceeding the incentive budget,
who wins and who loses, and one guardrail verdict per plan. Charts and
detail tables follow; model diagnostics and provenance come once, collapsed,
at the end (:func:`show_details`).

Page fragments are rendered from the Jinja2 templates in
``simlib/report/templates`` with autoescaping on, so any name from a user's
scenario shows as text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

import simlib.present as present
from simlib.format import Z95

__all__ = ["COST_METRICS", "MAIN_METRICS", "MECHANICS_METRICS", "render", "better", "scenario_rules", "pay_changes", "guardrail_verdicts",
           "executive_summary", "headline", "show_summary", "show_details", "levels_table", "differences_table",
           "guardrail_matrix", "yes_no", "show_brief", "sweep_answer", "guardrail_details", "losers_warning",
           "relative_change", "budget_risk_table"]

#: metrics where less is better (an objective on them is minimised)
COST_METRICS = frozenset({"incentive_cost", "base_cost", "total_comp", "comp_cost_of_sales", "p95_incentive_cost",
                          "p95_total_comp", "over_budget", "discount_cost"})
#: rows of the main detail tables (model diagnostics go to the collapsed section at the end)
#: costs and balances of plan mechanics, shown when results carry them (draws, SPIFFs, the payout calendar,
#: cancellations and clawbacks; docs/model.md section 3)
MECHANICS_METRICS = ("draw_paid", "draw_outstanding", "spiff_cost", "payable_next_year", "cancelled_revenue",
                     "clawback_recovered", "clawback_unrecovered")
MAIN_METRICS = ("profit", "revenue", "gross_profit", "incentive_cost", "total_comp", "comp_cost_of_sales",
                "p95_incentive_cost", "over_budget", "share_at_quota", "share_120", "attainment_p50", "leverage",
                "share_capped", "pay_performance_corr", "recognition_value", "discount_cost")
#: rows of the crediting metrics, shown in scenarios that have them (docs/model.md section 3, crediting)
CREDIT_ROWS = ("credited_revenue", "credit_ratio", "overlay_cost", "manager_cost")
MAIN_METRICS = MAIN_METRICS + CREDIT_ROWS
COST_METRICS = COST_METRICS | {"credit_ratio", "overlay_cost", "manager_cost"}
#: a rep "loses" when pay (base + incentive) falls by more than this fraction
PAY_CHANGE = 0.05
#: the recommendation warns when the recommended plan makes more than this share of reps lose pay (:data:`PAY_CHANGE`)
LOSERS_WARN = 0.25

_ENV = None


def render(template: str, **context: Any) -> str:
    """Render one of the package's Jinja2 templates (autoescaping on)."""
    global _ENV
    if _ENV is None:
        import jinja2

        _ENV = jinja2.Environment(loader=jinja2.PackageLoader("simlib.report", "templates"),
                                  autoescape=True, trim_blocks=True, lstrip_blocks=True)
    return _ENV.get_template(template).render(**context)


def better(metric: str) -> int:
    """+1 when more of ``metric`` is better, -1 for costs (:data:`COST_METRICS`)."""
    return -1 if metric in COST_METRICS else 1


def scenario_rules(scenario: Any) -> tuple:
    """The guardrail rules with the bands a scenario sets in ``checks.rules`` (``low`` / ``high``) applied."""
    from simlib.design.guardrails import RULES

    spec = scenario.checks.rules if scenario.checks is not None else {}
    out = []
    for r in RULES:
        s = spec.get(r.metric, {})
        low, high = s.get("low"), s.get("high")
        out.append(dataclasses.replace(r, low=r.low if low is None else low, high=r.high if high is None else high))
    return tuple(out)


def pay_changes(reps: pd.DataFrame, reference: str, threshold: float = PAY_CHANGE) -> pd.DataFrame:
    """Share of reps whose pay (base + incentive) falls, or rises, by more than ``threshold`` against ``reference``.

    ``reps`` is :func:`simlib.report.notebook.rep_outcomes` (the same reps
    under every plan). Shares are over rep-years; the standard error is
    over trials (reps of one trial share a market year).

    Returns
    -------
    DataFrame
        plan, group (role or ``total``), share_down, share_down_se, share_up, share_up_se, trials.
    """
    pay = reps.assign(pay=reps["base"] + reps["incentive"]).set_index(["plan", "role", "trial", "rep"])["pay"]
    ref = pay.xs(reference, level="plan")
    rows = []
    for plan in dict.fromkeys(reps["plan"]):
        if plan == reference:
            continue
        rel = (pay.xs(plan, level="plan") / ref.where(ref > 0)) - 1.0
        frame = rel.rename("rel").reset_index()
        for group, sub in [*frame.groupby("role", sort=False), ("total", frame)]:
            per = sub.groupby("trial")["rel"].agg(down=lambda x: float((x < -threshold).mean()),
                                                  up=lambda x: float((x > threshold).mean()))
            n = len(per)
            sd = per.std(ddof=1) / np.sqrt(n) if n > 1 else per * np.nan
            rows.append(dict(plan=plan, group=group, share_down=float(per["down"].mean()), share_down_se=float(sd["down"]),
                             share_up=float(per["up"].mean()), share_up_se=float(sd["up"]), trials=n))
    return pd.DataFrame(rows, columns=["plan", "group", "share_down", "share_down_se", "share_up", "share_up_se", "trials"])


def guardrail_verdicts(guard: pd.DataFrame, plans: Sequence[str]) -> dict[str, str]:
    """One line per plan: how many guardrail checks fail, naming them; checks failed by every plan are called structural.

    ``guard`` is :func:`simlib.design.guardrails.guardrail_table` (plus
    :func:`~simlib.design.guardrails.plan_rules`). A check outside (or at a
    warning) under every plan is a property of the organisation's economics,
    not of any plan, and is said once for all.
    """
    bad = guard[guard["status"].isin(["outside", "warning"])]
    keys = bad.groupby(["metric", "group"])["plan"].agg(set)
    everywhere = {k for k, v in keys.items() if set(plans) <= v}
    out = {}
    for p in plans:
        mine = guard[guard["plan"] == p]
        shared = np.array([(m, g) in everywhere for m, g in zip(bad["metric"], bad["group"], strict=True)], dtype=bool)
        own = bad[(bad["plan"] == p).to_numpy() & ~shared]
        common = int(((bad["plan"] == p).to_numpy() & shared).sum())
        near = mine[mine["status"] == "borderline"]
        # the count is every check outside, as the guardrail table shows them; the shared ones are named once, below
        n_out = len(own) + common
        if not n_out:
            text = f"0 of {len(mine)} checks outside the typical band"
        elif own.empty:
            text = f"{n_out} of {len(mine)} checks outside the typical band, shared by every plan (below)"
        else:
            text = (f"{n_out} of {len(mine)} checks outside the typical band"
                    + (f" ({common} of them under every plan, below)" if common else "") + f": {_checks(own, 4)}")
        out[p] = text + (f"; {len(near)} borderline (the 95% CI straddles an edge of the band): {_checks(near, 3)}"
                         if len(near) else "")
    if everywhere:
        groups: dict[str, list[str]] = {}
        for m, g in sorted(everywhere, key=lambda k: (_name(k[0]), k[1] != "total", k[1])):
            groups.setdefault(_name(m), []).append(present.readable(g))
        common = [f"{name} ({', '.join(gs)})" for name, gs in groups.items()]
        out["_all"] = (f"Outside the typical band under every plan, including the reference: {'; '.join(common)} "
                       f"(a property of the organisation's economics, not of a plan; set the band in the scenario's "
                       f"checks.rules if it does not fit your industry)")
    return out


def _total(res: Any, metric: str, plan: str, kind: str = "summary") -> tuple[float, float]:
    t = res.summary() if kind == "summary" else res.differences()
    r = t[(t["plan"] == plan) & (t["group"] == "total") & (t["metric"] == metric)]
    if r.empty:
        return float("nan"), float("nan")
    return float(r["mean" if kind == "summary" else "diff"].iloc[0]), float(r["se"].iloc[0])


def _trials(res: Any, metric: str, plan: str) -> int | None:
    """The trials ``metric``'s whole-organisation mean under ``plan`` was counted over, for a chance of none or all
    (:func:`simlib.present.fmt`'s ``trials``); None when the summary has no count."""
    t = res.summary()
    n = t.loc[(t["plan"] == plan) & (t["group"] == "total") & (t["metric"] == metric), "n"] if "n" in t else ()
    return int(n.iloc[0]) if len(n) else None


def relative_change(res: Any, metric: str, plan: str) -> tuple[float, float]:
    """The whole organisation's paired change of a kept metric (revenue, incentive cost, total comp, profit) as a
    fraction of its level under the reference, and its Monte Carlo SE (delta method over the same trials).

    NaN when the reference level is zero or the metric is not kept per trial.
    """
    t = res.trials()
    t = t[t["group"] == "total"]
    if metric not in t.columns:
        return float("nan"), float("nan")
    ref = t[t["plan"] == res.reference].sort_values("trial")[metric].to_numpy(dtype=float)
    new = t[t["plan"] == plan].sort_values("trial")[metric].to_numpy(dtype=float)
    level = ref.mean()
    if not level or len(ref) < 2:
        return float("nan"), float("nan")
    r = (new - ref).mean() / level
    z = ((new - ref) - r * ref) / level
    return float(r), float(z.std(ddof=1) / np.sqrt(len(z)))


def _checks(rows: pd.DataFrame, most: int) -> str:
    """Guardrail checks (rows with ``metric`` and ``group``) named in words, at most ``most`` and how many more."""
    names = [f"{_name(m)} ({present.readable(g)})" for m, g in zip(rows["metric"], rows["group"], strict=True)]
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def _recommend(res: Any, objective: str, max_budget_risk: float) -> tuple[str, str]:
    """The plan best on ``objective`` and why.

    A candidate is recommended only when its paired 95% CI clears the
    reference, and its chance of exceeding the incentive budget is at most
    ``max_budget_risk`` or no higher than the reference's.
    """
    ref, sign = res.reference, better(objective)
    p_ref = _total(res, "over_budget", ref)[0]
    best, gain, risky = ref, 0.0, []
    for p in res.plans:
        if p == ref:
            continue
        d, se = _total(res, objective, p, "differences")
        if not (np.isfinite(d) and sign * d - Z95 * se > 0):
            continue
        risk = _total(res, "over_budget", p)[0]
        if np.isfinite(risk) and risk > max(max_budget_risk, p_ref if np.isfinite(p_ref) else 0.0):
            risky.append((p, sign * d))
        elif sign * d > gain:
            best, gain = p, sign * d
    risky = [p for p, g in risky if g > gain]
    names = [present.readable(p) for p in risky]
    listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)
    over = (f"; {listed} would do better but exceed{'s' if len(risky) == 1 else ''} the incentive budget "
            f"with a chance above {max_budget_risk:.0%}") if risky else ""
    if best == ref:
        return ref, (f"no candidate is clearly better on {_name(objective)} (95% CI) within the budget, "
                     f"so keep {present.readable(ref)}{over}")
    how = "highest" if sign > 0 else "lowest"
    return best, (f"the {how} {_name(objective)} of the plans within the budget, clearly ahead of {present.readable(ref)} "
                  f"(95% CI){over}")


def executive_summary(res: Any, scenario: Any, *, objective: str = "profit", reps: pd.DataFrame | None = None,
                      guard: pd.DataFrame | None = None, title: str = "", max_budget_risk: float = 0.5) -> dict[str, Any]:
    """The answer of a plan comparison, as data (saved with the results) and for :func:`show_summary`.

    Parameters
    ----------
    res : SimulationResult
    scenario : Scenario
        For its currency and budget.
    objective : str
        Metric the recommended plan is best on (costs are minimised).
    reps : DataFrame, optional
        :func:`simlib.report.notebook.rep_outcomes` of the same run, for who wins and loses.
    guard : DataFrame, optional
        Guardrail table, for one verdict per plan.
    title : str
        Heading of the summary.
    max_budget_risk : float
        A candidate whose chance of exceeding the incentive budget is above this
        (and above the reference's) is not recommended; the reason names it.

    Returns
    -------
    dict
        title, currency, objective, reference, recommended, reason, headline, plans (one dict per
        candidate with its sentence and numbers), budget (text or None), structural (text or None).
    """
    cur, ref = scenario.currency, res.reference
    rec, reason = _recommend(res, objective, max_budget_risk)
    moves = pay_changes(reps, ref) if reps is not None and "base" in reps else None
    verdicts = guardrail_verdicts(guard, res.plans) if guard is not None else {}
    plans = [_candidate(res, p, objective, cur, moves, verdicts.get(p)) for p in res.plans if p != ref]
    p0, se0 = _total(res, "over_budget", ref)
    budget = scenario.budget.incentive
    out = dict(title=title, currency=cur, objective=objective, objective_label=present.label(objective),
               reference=ref, recommended=rec, reference_name=present.readable(ref), recommended_name=present.readable(rec),
               reason=reason, plans=plans, structural=verdicts.get("_all"),
               reference_verdict=verdicts.get(ref),
               budget=None if budget is None else
               f"Incentive budget {present.fmt_value(budget, 'incentive_cost', cur)}; under {present.readable(ref)} the chance of "
               f"exceeding it is {present.fmt(p0, se0, 'over_budget', trials=_trials(res, 'over_budget', ref))}.")
    out["caution"] = losers_warning(moves, rec) if rec != ref else ""
    out["headline"] = headline(out)
    return out


def losers_warning(moves: pd.DataFrame | None, plan: str, threshold: float = LOSERS_WARN) -> str:
    """The cost of recommending ``plan`` in reps' pay, in one clause, or ``""``.

    When more than ``threshold`` of reps (whole organisation, point estimate)
    would earn more than :data:`PAY_CHANGE` less than under the reference,
    e.g. ``"but 58.0% ± 3.1 of reps would earn over 5% less: expect attrition
    risk"``. ``moves`` is :func:`pay_changes`; None (no rep outcomes) gives ``""``.
    """
    if moves is None:
        return ""
    m = moves[(moves["plan"] == plan) & (moves["group"] == "total")]
    if m.empty or not m["share_down"].iloc[0] > threshold:
        return ""
    r = m.iloc[0]
    return (f"but {present.fmt(r.share_down, r.share_down_se, unit_='percent')} of reps would earn over "
            f"{PAY_CHANGE:.0%} less: expect attrition risk")


def _candidate(res: Any, plan: str, objective: str, cur: str, moves: pd.DataFrame | None, verdict: str | None) -> dict:
    """One candidate against the reference: numbers and the sentence saying them."""
    d, se = _total(res, objective, plan, "differences")
    p, pse = _total(res, "over_budget", plan)
    cost, cse = _total(res, "incentive_cost", plan, "differences")
    words = (f"{_name(objective)} {present.fmt(d, se, objective, cur, signed=True)}{_percent(res, objective, plan)} "
             f"vs {present.readable(res.reference)}")
    if np.isfinite(cost) and objective != "incentive_cost":
        words += (f"; incentive cost {present.fmt(cost, cse, 'incentive_cost', cur, signed=True)}"
                  f"{_percent(res, 'incentive_cost', plan)}")
    if np.isfinite(p):
        words += (f"; {present.fmt(p, pse, 'over_budget', trials=_trials(res, 'over_budget', plan))} "
                  "chance of exceeding the incentive budget")  # a chance of none or all says so, as the tables do
    who = ""
    if moves is not None:
        m = moves[(moves["plan"] == plan) & (moves["group"] == "total")]
        if len(m):
            r = m.iloc[0]
            who = _who(r.share_down, r.share_down_se, r.share_up, r.share_up_se, int(r.trials))
    clear = np.isfinite(d) and abs(d) > Z95 * se
    return dict(plan=plan, name=present.readable(plan), sentence=words, who=who, guardrails=verdict or "", diff=d, se=se, clear=bool(clear),
                p_over_budget=p, p_over_budget_se=pse, better=bool(clear and better(objective) * d > 0))


def _who(down: float, down_se: float, up: float, up_se: float, trials: int) -> str:
    """Who wins and loses in words: the shares of reps whose pay falls or rises by more than :data:`PAY_CHANGE`.

    A share that is none or all in every trial has no error bar to show and says so, for reps and trials
    (:func:`pay_changes` counts over rep-years): ``"no rep loses more than 5% of their pay in any of 1,000
    trials, 12.0% ± 0.4 of reps gain more than 5%"``, ``"every rep gains more than 5% in all 1,000 trials"``.
    """
    line = f"{PAY_CHANGE:.0%}"

    def counted(share: float, verb: str, what: str) -> str | None:
        if share not in (0.0, 1.0):
            return None
        if trials == 1:
            return f"{'no rep' if share == 0 else 'every rep'} {verb}s more than {line}{what} in the one trial"
        if share == 0:
            return f"no rep {verb}s more than {line}{what} in any of {trials:,} trials"
        return f"every rep {verb}s more than {line}{what} in all {trials:,} trials"

    lose = counted(float(down), "lose", " of their pay")
    gain = counted(float(up), "gain", "")
    if lose is None:
        lose = f"{present.fmt(down, down_se, unit_='percent')} of reps lose more than {line} of their pay"
        gain = gain or f"{present.fmt(up, up_se, unit_='percent')} gain more than {line}"
    else:
        gain = gain or f"{present.fmt(up, up_se, unit_='percent')} of reps gain more than {line}"
    return f"{lose}, {gain}"


def _percent(res: Any, metric: str, plan: str) -> str:
    """``" (+1.3% ± 0.1)"``: a candidate's paired change as a percent of the reference's level, or ``""`` when the
    metric is not kept per trial (:func:`relative_change`) or the reference's level is zero."""
    rel = relative_change(res, metric, plan)
    return f" ({present.fmt_relative(*rel)})" if np.isfinite(rel[0]) else ""


def headline(summary: Mapping[str, Any]) -> str:
    """The report's one-sentence answer (for the index): the recommended plan and its effect."""
    rec = summary["recommended"]
    c = next((x for x in summary["plans"] if x["plan"] == rec), None)
    name = present.readable(rec)
    if c is None:  # the reason ends its first clause with "so keep <plan>": said once, up front
        return f"Keep {name}: {summary['reason'].replace(f', so keep {name}', '', 1)}."
    caution = summary.get("caution")
    return f"Recommended: {name}, {c['sentence']}" + (f"; {caution}." if caution else ".")


def show_summary(summary: Mapping[str, Any]) -> None:
    """Display an executive summary (from :func:`executive_summary`) as HTML in a notebook."""
    _display_html(render("summary.html.j2", s=summary))


def show_brief(title: str, lead: str, items: Sequence[str] = (), legend: str = "") -> None:
    """Display a short summary block (a heading, a lead sentence, bullet points, a legend).

    For reports whose answer is not a plan comparison (sweeps, calibration).
    All text is escaped.
    """
    _display_html(render("brief.html.j2", title=title, lead=lead, items=list(items), legend=legend))


def sweep_answer(sweep: pd.DataFrame, region: pd.DataFrame, params: Sequence[str], objective: str = "profit",
                 currency: str = "EUR") -> dict[str, Any]:
    """The answer of a grid sweep: the best point meeting the guardrails (whole organisation) and the best overall.

    Parameters
    ----------
    sweep : DataFrame
        Tidy sweep (point, <params>, group, metric, mean, se, diff, diff_se, ...), differences against the base plan.
    region : DataFrame
        :func:`simlib.design.guardrails.sweep_region` of it.
    params : list of str
        The sweep's parameter columns.
    objective : str
        Metric the best point maximises (costs minimised).

    Returns
    -------
    dict
        lead (sentence), items (bullet sentences), best (dict of the best feasible point or None),
        feasible (points meeting the guardrails), points.
    """
    s = sweep[(sweep["group"] == "total") & (sweep["metric"] == objective)].copy()
    ok_points = set(region.loc[(region["group"] == "total") & region["meets"], "point"])
    s["key"] = better(objective) * s["mean"]
    feasible = s[s["point"].isin(ok_points)].sort_values("key", ascending=False)
    overall = s.sort_values("key", ascending=False).iloc[0] if len(s) else None

    def where(r):
        return ", ".join(f"{p.replace('_', ' ')} {r[p]:g}" for p in params)

    def value(r):
        text = f"{_name(objective)} {present.fmt(r['mean'], r['se'], objective, currency)}"
        if "diff" in r and pd.notna(r.get("diff")):
            change = present.fmt(r["diff"], r["diff_se"], objective, currency, signed=True)
            base = r["mean"] - r["diff"]  # the base plan's level on the same trials
            if present.unit(objective) == "money" and base > 0:  # and in percent of it, as the other answers
                change += f", {present.fmt_relative(r['diff'] / base, r['diff_se'] / base)},"
            text += f" ({change} vs the base plan)"
        return text

    items = [f"{len(ok_points)} of {s['point'].nunique()} grid points meet the guardrails for the whole organisation."]
    if feasible.empty:
        lead, best = "No grid point meets the chosen guardrails for the whole organisation.", None
    else:
        b = feasible.iloc[0]
        lead = f"Best point meeting the guardrails: {where(b)}: {value(b)}."
        best = {p: float(b[p]) for p in params} | {"point": int(b["point"]), "mean": float(b["mean"]), "se": float(b["se"])}
    if overall is not None and (best is None or int(overall["point"]) != best["point"]):
        items.append(f"Best point overall (guardrails not met): {where(overall)}: {value(overall)}.")
    return dict(lead=lead, items=items, best=best, feasible=len(ok_points), points=int(s["point"].nunique()))


def show_details(title: str, *parts: Any, note: str = "") -> None:
    """Display ``parts`` (Stylers, DataFrames or HTML text) inside one collapsed ``<details>`` block."""
    html_parts = []
    for part in parts:
        if hasattr(part, "to_html"):
            html_parts.append(part.to_html())
        else:
            import html as _html

            html_parts.append(f"<p>{_html.escape(str(part))}</p>")
    from markupsafe import Markup

    _display_html(render("details.html.j2", title=title, note=note, parts=[Markup(p) for p in html_parts]))


def _display_html(text: str) -> None:
    try:
        from IPython.display import HTML, display
    except ImportError:  # pragma: no cover - IPython is a dependency
        print(text)
        return
    display(HTML(text))


def _long(frame: pd.DataFrame, value: str, metrics: Sequence[str], plans: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metric x plan tables of ``value`` and its ``se`` (rows in ``metrics`` order, present ones only)."""
    have = [m for m in metrics if m in set(frame["metric"])]
    v = frame.pivot_table(index="metric", columns="plan", values=value, sort=False).reindex(index=have, columns=plans)
    s = frame.pivot_table(index="metric", columns="plan", values="se", sort=False).reindex(index=have, columns=plans)
    return v.rename_axis(index=None, columns=None), s.rename_axis(index=None, columns=None)


def mechanics_metrics(res: Any) -> list[str]:
    """The plan-mechanics metrics (:data:`MECHANICS_METRICS`) that the results carry, in that order."""
    have = set(res.summary()["metric"])
    return [m for m in MECHANICS_METRICS if m in have]


def levels_table(res: Any, group: str = "total", metrics: Sequence[str] = MAIN_METRICS, currency: str = "EUR",
                 caption: str = "") -> Any:
    """Each plan's level of each metric (mean ± 95% CI half-width), numeric cells in readable units."""
    s = res.summary()
    v, se = _long(s[s["group"] == group], "mean", metrics, res.plans)
    v.columns = se.columns = [present.readable(p) for p in res.plans]  # plans in words, as the answer names them
    trials = int(s["n"].max()) if "n" in s and len(s) else None  # what a share of none or all was counted over
    return present.style_table(v, se=se, currency=currency, caption=caption, trials=trials)


def differences_table(res: Any, group: str = "total", metrics: Sequence[str] = MAIN_METRICS, currency: str = "EUR",
                      caption: str = "") -> Any:
    """Paired differences of each candidate against the reference (diff ± 95% CI half-width); columns ``plan vs reference``."""
    d = res.differences()
    cands = [p for p in res.plans if p != res.reference]
    v, se = _long(d[d["group"] == group], "diff", metrics, cands)
    v.columns = se.columns = [f"{present.readable(p)} vs {present.readable(res.reference)}" for p in cands]
    return present.style_table(v, se=se, currency=currency, signed=True, caption=caption)


def budget_risk_table(risk: pd.DataFrame, currency: str = "EUR", caption: str = "") -> Any:
    """Each plan's expected and bad-year (95th percentile) incentive cost and chance of exceeding the incentive
    budget, each ``± 95% CI`` (a chance of none or all: ``"0.0% (in none of 1,000 trials)"``).

    ``risk`` is :func:`simlib.report.notebook.budget_risk`; plans in words. A ``Styler``, numbers kept numeric.
    """
    cols = {"expected incentive cost": ("mean_cost", "incentive_cost"),
            "bad year (95th pct.)": ("p95_cost", "p95_incentive_cost"),
            "chance of exceeding the incentive budget": ("p_over_budget", "over_budget")}  # as the answer says
    idx = pd.Index([present.readable(p) for p in risk["plan"]], name="plan")
    v = pd.DataFrame({c: risk[k].to_numpy(dtype=float) for c, (k, _) in cols.items()}, index=idx)
    p95_se = (risk["p95_ci_high"] - risk["p95_ci_low"]).to_numpy(dtype=float) / (2 * Z95)
    se = pd.DataFrame({"expected incentive cost": risk["mean_cost_se"].to_numpy(dtype=float) if "mean_cost_se" in risk
                       else np.full(len(risk), np.nan),
                       "bad year (95th pct.)": p95_se,
                       "chance of exceeding the incentive budget": risk["p_over_budget_se"].to_numpy(dtype=float)},
                      index=idx)
    trials = int(risk["trials"].iloc[0]) if "trials" in risk and len(risk) else None  # a chance of none or all says so
    return present.style_table(v, {c: m for c, (_, m) in cols.items()}, se=se, currency=currency, caption=caption,
                               trials=trials)


#: short names of guardrail checks, for the compact matrix
_SHORT = {"comp_cost_of_sales": "cost of sales", "share_at_quota": "at quota", "share_120": "120%+",
          "leverage": "leverage", "base_share": "pay mix", "quota_to_ote": "quota / OTE"}


def _name(metric: str) -> str:
    """A metric's display name without its parenthesised explanation, in lower case."""
    return present.label(metric).split(" (")[0].lower()


def guardrail_matrix(guard: pd.DataFrame) -> pd.DataFrame:
    """Guardrails as one short cell per plan (rows) and group (columns): ``ok`` or the checks outside their band.

    Plans and groups are labelled in words (:func:`simlib.present.readable`), as the answer names them.

    ``!`` marks a warning (beyond the warning edge), ``~`` a borderline check; checks inside are not named.
    """
    mark = {"warning": "!", "outside": "", "borderline": "~"}
    cells = {}
    for (g, p), sub in guard.groupby(["group", "plan"], sort=False):
        bad = sub[sub["status"].isin(list(mark))].sort_values("status", key=lambda s: s.map({"warning": 0, "outside": 1,
                                                                                             "borderline": 2}))
        cells[(p, g)] = "ok" if bad.empty else ", ".join(
            f"{_SHORT.get(m, _name(m))}{mark[s]}" for m, s in zip(bad["metric"], bad["status"], strict=True))
    groups, plans = list(dict.fromkeys(guard["group"])), list(dict.fromkeys(guard["plan"]))
    return pd.DataFrame([[cells.get((p, g), "") for g in groups] for p in plans],
                        index=pd.Index([present.readable(p) for p in plans], name="plan"),
                        columns=[present.readable(g) for g in groups])


def guardrail_details(guard: pd.DataFrame) -> Any:
    """Every guardrail check as a narrow table (a ``Styler``; values numeric, shown in their unit), worst first per plan."""
    from simlib.design.guardrails import STATUS_ORDER

    g = guard.assign(order=guard["status"].map(STATUS_ORDER)).sort_values(["plan", "order"], kind="stable")
    t = pd.DataFrame({"plan": g["plan"].map(present.readable), "group": g["group"].map(present.readable),
                      "check": [_name(m) for m in g["metric"]],
                      "value": g["value"], "95% CI low": g["ci_low"], "95% CI high": g["ci_high"],
                      "typical band": g["band"], "status": g["status"]}).reset_index(drop=True)
    import html as _html

    shown = t.assign(**{c: t[c].map(lambda v: _html.escape(str(v))) for c in ("plan", "group", "check", "typical band")})
    st = shown.style.hide(axis="index")
    metric = g["metric"].to_numpy()
    for m in dict.fromkeys(metric):
        st = st.format(lambda v, m=m: "" if pd.isna(v) else present.fmt_value(v, m),
                       subset=pd.IndexSlice[t.index[metric == m], ["value", "95% CI low", "95% CI high"]])
    return st.set_table_attributes("class='simlib-wrap'")


def yes_no(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with boolean columns shown as ``Yes`` / ``No``."""
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype == bool:
            out[c] = out[c].map({True: "Yes", False: "No"})
    return out
