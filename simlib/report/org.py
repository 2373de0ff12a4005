"""Our organisation under the candidate plans: the logic of the ``org`` report notebook.

For a scenario that names its own reps (``roster:``) and, usually, their
recorded history (``history:``), the report answers four questions:

1. **Replay.** What would last year's recorded results have paid under each
   plan? The last year of the history goes through every plan's pay rules
   (:func:`simlib.fit.replay.replay`, no simulation); the plan in force is
   reconciled with the recorded payouts, to the cent, rep by rep.
2. **Forward simulation.** The roster's reps (their pay levels, teams, tenure
   and track records) simulated under every plan on the same draws
   (:func:`simlib.engine.api.simulate`): the whole organisation's cost and profit.
3. **Winners and losers.** Each candidate against the reference plan, rep by
   rep on the same trials (:func:`simlib.engine.reps.rep_answers`): how many
   reps lose (or gain) more than a fraction of their expected pay, by role and
   team, and who.
4. **Teams.** Per team, incentive cost and attainment (team revenue / team
   quota) under both plans with 95% confidence intervals.

Trial ``t`` of the per-rep answers is trial ``t`` of the forward simulation
(same seed), so the two agree. Every text from a user's files (rep ids, team,
role and plan names) is escaped before it reaches HTML: summary blocks go
through the autoescaped templates of :mod:`simlib.report.summary`, tables are
built on :func:`simlib.report.notebook.escape_frame` and formatted through
:mod:`simlib.present`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import simlib.present as present
from simlib.report.notebook import escape_frame
from simlib.report.summary import relative_change, render

__all__ = ["LOSS", "OrgAnswers", "history_of", "last_year_replay", "replay_verdict", "replay_table",
           "mismatch_table", "org_answers", "candidate_sentence", "candidate_lines", "people_sentence",
           "money_sentence", "movers_sentence", "plan_colours", "teams_sentence", "risk_sentence", "relative_change", "plan_heading", "replay_sentence", "synthetic_note", "org_summary",
           "show_org_summary", "team_table", "movers_table", "statement_table", "team_cost_chart",
           "pay_change_chart", "replay_chart", "org_results"]

#: a rep wins (loses) when expected pay rises (falls) by more than this fraction
LOSS = 0.05
#: reps named in the summary's list of replay differences
NAMED = 5


# ----------------------------------------------------------------------
# Replay of last year
# ----------------------------------------------------------------------


def history_of(scenario: Any):
    """The history the scenario names (:func:`simlib.fit.history.read_history`), or None when it names none."""
    from simlib.fit.history import credited_roles, read_history
    from simlib.scenario import roster_path

    if scenario.history is None:
        return None
    path = roster_path(scenario.history, scenario.source)
    return read_history(path, {r: role.process for r, role in scenario.roles.items()}, rolled_up=credited_roles(scenario))


def last_year_replay(scenario: Any, plans: Sequence[str] | None = None, *, in_force: str | None = None):
    """The last recorded year of the scenario's history replayed under ``plans`` (None: no history).

    Plans the history lacks columns for are left out with a note
    (:attr:`simlib.fit.replay.Replay.notes`) when ``plans`` is None.
    """
    from simlib.fit.replay import replay

    hist = history_of(scenario)
    if hist is None:
        return None
    return replay(scenario, hist.year(hist.years[-1]), list(plans) if plans else None, in_force=in_force)


def _cents(x: float, currency: str, signed: bool = False) -> str:
    """Money to the cent: ``"1,234.56 EUR"``."""
    return f"{x:{'+' if signed else ''},.2f} {currency}"


def replay_verdict(rp: Any, currency: str) -> str:
    """The reconciliation verdict in plain words: reconciled to the cent, or which reps differ and by how much."""
    from simlib.fit.replay import cents_per_currency

    if rp is None:
        return "The scenario names no history, so there is no recorded year to replay or reconcile."
    year, n = int(rp.reps["year"].max()), len(rp.reps)
    plan = present.readable(rp.in_force)
    if not rp.has_payout:
        return (f"The history records no payouts for {year}, so there is nothing to reconcile: {n} reps' "
                f"results were replayed through every plan.")
    if rp.reconciled:  # money in different currencies is summed per currency, as `simlib replay` does
        paid = cents_per_currency(rp.reps["recorded"], rp.reps["role"].map(rp.role_currencies(currency)))
        return (f"Last year's recorded payouts reconcile to the cent: all {n} reps' {year} incentive recomputed "
                f"under {plan} equals what was paid ({paid} in total).")
    d = rp.mismatches
    cur = d["currency"] if "currency" in d else currency
    ids = ", ".join(map(str, d.sort_values("difference", key=abs, ascending=False)["rep_id"].head(NAMED)))
    more = f" and {len(d) - NAMED} more" if len(d) > NAMED else ""
    big = d["difference"].abs().idxmax()
    return (f"Last year's recorded payouts do not reconcile: for {len(d)} of {n} reps the {year} incentive "
            f"recomputed under {plan} differs from what was paid, by {cents_per_currency(d['difference'], cur, signed=True)} "
            f"in total and at most {_cents(abs(float(d.loc[big, 'difference'])), _row_currency(d, big, currency))} "
            f"for one rep ({ids}{more}; all are listed below).")


def _row_currency(frame: pd.DataFrame, row: Any, currency: str) -> str:
    """The currency of one row of a replay's table (its ``currency`` column), else ``currency``."""
    return str(frame.loc[row, "currency"]) if "currency" in frame else currency


def replay_table(rp: Any, currency: str) -> Any:
    """Last year's totals per role: reps, recorded payouts and each plan's replayed incentive (a ``Styler``)."""
    curs = list(rp.totals["currency"]) if "currency" in rp.totals else [currency] * len(rp.totals)
    t = rp.totals.drop(columns=["year", "quota", "currency"], errors="ignore").set_index("role")
    t.index = [present.readable(r) for r in t.index]
    names = {"recorded": "recorded payouts", **{p: present.readable(p) for p in rp.plans}}
    money = {names.get(c, c): "incentive_cost" for c in ["revenue", "recorded", *rp.plans]}
    t = escape_frame(t.rename(columns=names))
    money = {k: v for k, v in money.items() if k in t.columns}
    other = sorted(set(curs) - {currency})
    unit = (f"{currency} a year" if not other else
            f"a year, each role in its own currency; the total in {currency}, {', '.join(other)} converted at the fx rate")
    st = (present.style_table(t, money, currency=currency,
                              caption=f"{int(rp.reps['year'].max())} replayed: incentive per plan ({unit})")
          .format(lambda v: f"{int(v):,}", subset=["reps"]))
    for i, cur in enumerate(curs):  # a role paid in another currency: its row in that currency, as `simlib replay`
        if cur != currency:
            st = st.format(lambda v, c=cur: "" if pd.isna(v) else present.fmt_value(v, "incentive_cost", c),
                           subset=pd.IndexSlice[t.index[i:i + 1], list(money)])
    return st


def mismatch_table(rp: Any, currency: str) -> Any:
    """The reps whose recomputed pay differs from the recorded payout, to the cent (a ``Styler``)."""
    m = rp.mismatches.reset_index(drop=True)
    curs = list(m["currency"]) if "currency" in m else [currency] * len(m)
    d = m.drop(columns=["year", "currency"], errors="ignore")
    if "role" in d:
        d["role"] = [present.readable(r) for r in d["role"]]
    d = escape_frame(d)
    for c in ("recorded", "recomputed", "difference"):  # to the cent, each rep in their role's currency
        d[c] = ["" if pd.isna(v) else _cents(v, cur, c == "difference") for v, cur in zip(d[c], curs, strict=True)]
    shown = sorted(set(curs))
    unit = ", ".join(shown) if len(shown) > 1 else currency if not shown else shown[0]
    return (d.style.hide(axis="index")
            .set_caption(f"Reps whose recomputed pay under the plan in force differs from the recorded payout ({unit})"))


# ----------------------------------------------------------------------
# Forward simulation and per-rep answers
# ----------------------------------------------------------------------


@dataclass
class OrgAnswers:
    """The forward simulation of the roster and each candidate's per-rep answers against the reference.

    Attributes
    ----------
    result : SimulationResult
        Every plan on the same trials.
    answers : dict
        Candidate plan -> :class:`simlib.engine.reps.RepAnswers` against ``reference``.
    reference : str
    currency : str
    """

    result: Any
    answers: dict[str, Any]
    reference: str
    currency: str


def org_answers(scenario: Any, plans: Sequence[str] | None = None, *, reference: str | None = None,
                trials: int = 500, rng: int = 0, behaviour: str | None = None, loss: float = LOSS) -> OrgAnswers:
    """Simulate the roster under every plan, then each candidate against the reference rep by rep (same seed).

    Raises
    ------
    PlanError
        An unknown plan, or only one plan to compare.
    """
    from simlib.engine.api import simulate
    from simlib.engine.reps import rep_answers
    from simlib.errors import PlanError

    res = simulate(scenario, list(plans) if plans else None, trials=trials, rng=rng,
                   reference=reference or None, behaviour=behaviour or None)
    cands = [p for p in res.plans if p != res.reference]
    if not cands:
        raise PlanError(f"plans: the report compares candidate plans with {res.reference}; "
                        f"the scenario {scenario.source} has only {res.plans}")
    answers = {p: rep_answers(scenario, p, reference=res.reference, trials=trials, rng=rng, loss=loss,
                              behaviour=behaviour or None) for p in cands}
    return OrgAnswers(res, answers, res.reference, scenario.currency)


def _total_diff(res: Any, metric: str, plan: str) -> tuple[float, float]:
    d = res.differences()
    r = d[(d["plan"] == plan) & (d["group"] == "total") & (d["metric"] == metric)]
    return (float(r["diff"].iloc[0]), float(r["se"].iloc[0])) if len(r) else (float("nan"), float("nan"))


def _total_level(res: Any, metric: str, plan: str) -> tuple[float, float]:
    t = res.summary()
    r = t[(t["plan"] == plan) & (t["group"] == "total") & (t["metric"] == metric)]
    return (float(r["mean"].iloc[0]), float(r["se"].iloc[0])) if len(r) else (float("nan"), float("nan"))


def _ratio_se(d: float, d_se: float, level: float, level_se: float) -> float:
    """SE of ``d / level`` from the two SEs taken as independent (conservative when they move together)."""
    if not level:
        return float("nan")
    r = d / level
    return float(np.sqrt(d_se ** 2 + (r * level_se) ** 2) / abs(level))


def _moves(amount: float, se: float, metric: str, cur: str, rel: tuple[float, float] | None = None,
           up: str = "rises", down: str = "falls") -> str:
    """``"rises 224 k EUR ± 5.3 k (+17.3% ± 0.4)"``: direction in words, the amount, the relative change."""
    if _unchanged(amount, se):
        return "is unchanged"
    word = up if amount > 0 else down
    text = f"{word} {present.fmt(abs(amount), se, metric, cur)}"
    if rel is not None and np.isfinite(rel[0]):
        text += f" ({present.fmt_relative(*rel)})"
    return text


def _unchanged(amount: float, se: float) -> bool:
    """A paired change that is exactly zero in every trial (a plan that pays as the reference)."""
    return amount == 0 and (se == 0 or not np.isfinite(se))


def _reps(n: int) -> str:
    return f"{n} rep" if n == 1 else f"{n} reps"


def _count_range(s: pd.DataFrame, loss: float, sign: int) -> tuple[int, int, int]:
    """Reps beyond ``sign * loss`` of expected pay: the count on the estimates, and the fewest and most that the
    reps' 95% CIs allow (every rep's change at the low or the high end of its interval)."""
    from simlib.format import Z95

    ea = s["expected_current"].to_numpy(dtype=float)
    c, half = s["change"].to_numpy(dtype=float), Z95 * s["change_se"].fillna(0.0).to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        def beyond(x):
            return int(np.sum(sign * np.where(ea > 0, x / np.where(ea > 0, ea, 1.0), np.nan) > loss))
        return beyond(c), beyond(c - sign * half), beyond(c + sign * half)


def people_sentence(org: OrgAnswers, plan: str) -> str:
    """How many reps lose and gain more than the threshold of expected pay, with the range the reps' 95% CIs allow."""
    ans = org.answers[plan]
    s = ans.statement
    n, pct = len(s), f"{ans.loss:.0%}"
    if n and (s["change"] == 0).all() and (s["change_se"].fillna(0) == 0).all():
        return f"No rep's expected pay changes: {present.readable(plan)} pays all {_reps(n)} as {present.readable(org.reference)} does"
    parts = []
    for sign, verb in ((-1, "lose"), (1, "gain")):
        k, lo, hi = _count_range(s, ans.loss, sign)
        span = f"; {lo} to {hi} allowing for simulation error" if (lo, hi) != (k, k) else ""
        who = "no rep" if k == 0 else ("the only rep" if n == 1 else f"{k} of {_reps(n)} ({k / n:.0%}{span})")
        if span and (k == 0 or n == 1):
            who += f" ({span[2:]})"
        parts.append(f"{who} would {verb} more than {pct} of expected pay")
    return f"{parts[0][0].upper()}{parts[0][1:]}; {parts[1]} (base + incentive)"


def _rep_words(r: Any, cur: str) -> str:
    ea = float(r["expected_current"])
    se = float(r["change_se"]) if np.isfinite(r["change_se"]) else 0.0
    rel = f" ({present.fmt_relative(float(r['change']) / ea, se / ea)})" if ea > 0 else ""
    return (f"{r['rep_id']} ({r['team']}, {present.readable(r['role'])}) "
            f"{present.fmt(float(r['change']), se, 'incentive_cost', cur, signed=True)}{rel}")


def movers_sentence(org: OrgAnswers, plan: str) -> str:
    """The reps whose expected pay rises and falls most (in percent of it), named with team, role and the change."""
    s = org.answers[plan].statement.dropna(subset=["change_pct"])
    if s.empty:
        return ""
    if (s["change"] == 0).all():
        return ""
    s = s.sort_values("change_pct", kind="stable")
    top, low = s.iloc[-1], s.iloc[0]
    if len(s) == 1:
        return f"The only rep: {_rep_words(top, org.currency)}"
    least = "loses least" if top["change"] < 0 else "changes least"
    first = f"Gains most: {_rep_words(top, org.currency)}" if top["change"] > 0 else \
        f"No rep gains; {least}: {_rep_words(top, org.currency)}"
    second = f"loses most: {_rep_words(low, org.currency)}" if low["change"] < 0 else \
        f"no rep's expected pay falls; gains least: {_rep_words(low, org.currency)}"
    return f"{first}; {second} (ranked in percent of the rep's expected pay)"


def _team_words(r: Any, cur: str) -> str:
    d, se = float(r["cost_change"]), float(r["cost_change_se"])
    lvl, lvl_se = float(r["cost_current"]), float(r["cost_current_se"])
    rel = (d / lvl, _ratio_se(d, se, lvl, lvl_se)) if lvl else None
    text = f"{r['team']} ({present.readable(r['role'])}, {_reps(int(r['reps']))}), {present.fmt(d, se, 'incentive_cost', cur, signed=True)}"
    return text + (f" ({present.fmt_relative(*rel)})" if rel is not None and np.isfinite(rel[0]) else "")


def teams_sentence(org: OrgAnswers, plan: str) -> str:
    """The teams whose incentive cost rises and falls most, in percent of their cost under the reference."""
    t = org.answers[plan].teams
    if t.empty:
        return ""
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = t["cost_change"] / t["cost_current"].where(t["cost_current"] != 0)
    t = t.assign(_rel=rel.fillna(0.0)).sort_values("_rel", kind="stable")
    if len(t) == 1:
        return f"The only team: {_team_words(t.iloc[0], org.currency)}"
    if (t["cost_change"] == 0).all():
        return ""
    top, low, cur = t.iloc[-1], t.iloc[0], org.currency
    first = (f"rises most for {_team_words(top, cur)}" if top["cost_change"] > 0
             else f"rises for no team; {'falls least' if top['cost_change'] < 0 else 'changes least'} for {_team_words(top, cur)}")
    second = (f"falls most for {_team_words(low, cur)}" if low["cost_change"] < 0
              else f"falls for no team; rises least for {_team_words(low, cur)}")
    return f"Team incentive cost, in percent of the team's: {first}; {second}"


def money_sentence(org: OrgAnswers, plan: str, metrics: Sequence[str] = ("incentive_cost", "revenue", "profit")) -> str:
    """The organisation's incentive cost, revenue and profit against the reference: money and percent, with 95% CIs."""
    res, cur = org.result, org.currency
    parts, same = [], []
    names = {"incentive_cost": "incentive cost", "revenue": "revenue"}  # profit: its catalogue name, as elsewhere
    for metric, name in ((m, names.get(m, present.label(m).lower())) for m in metrics):
        d, se = _total_diff(res, metric, plan)
        if np.isfinite(d):
            (same if _unchanged(d, se) else parts).append(
                f"{name} {_moves(d, se, metric, cur, relative_change(res, metric, plan))}")
    ref = present.readable(org.reference)
    if not parts and not same:
        return ""
    if not parts:
        return f"{', '.join(x.split(' is ')[0] for x in same).capitalize()}: as under {ref} in every simulated year"
    text = f"{'; '.join(parts + same)} a year against {ref}"
    return f"{text[0].upper()}{text[1:]}"


def risk_sentence(org: OrgAnswers, plan: str, scenario: Any, verdict: str | None = None) -> str:
    """A bad year's incentive cost, the chance of exceeding the budget, the guardrails, and losers above a quarter."""
    from simlib.report.summary import LOSERS_WARN

    res, cur, ref = org.result, org.currency, org.reference
    parts = []
    p95, p95_se = _total_level(res, "p95_incentive_cost", plan)
    r95, r95_se = _total_level(res, "p95_incentive_cost", ref)
    if np.isfinite(p95):
        parts.append(f"in a bad year (95th percentile) the incentive cost reaches "
                     f"{present.fmt(p95, p95_se, 'p95_incentive_cost', cur)} ({present.readable(ref)}: "
                     f"{present.fmt(r95, r95_se, 'p95_incentive_cost', cur)})")
    if scenario.budget.incentive is not None:
        p, pse = _total_level(res, "over_budget", plan)
        t = res.summary()
        n = t.loc[(t["plan"] == plan) & (t["group"] == "total") & (t["metric"] == "over_budget"), "n"]
        if np.isfinite(p):  # a chance of none or all says so, as the tables do
            parts.append(f"chance of exceeding the incentive budget of "
                         f"{present.fmt_value(scenario.budget.incentive, 'incentive_cost', cur)}: "
                         f"{present.fmt(p, pse, 'over_budget', trials=int(n.iloc[0]) if len(n) else None)}")
    if verdict:
        parts.append(f"guardrails: {verdict}")
    s = org.answers[plan].statement
    lose = int((s["verdict"] == "loser").sum())
    if len(s) and lose / len(s) > LOSERS_WARN:
        parts.append(f"{lose / len(s):.0%} of reps would lose more than {org.answers[plan].loss:.0%} of expected pay: "
                     f"expect attrition risk")
    text = "; ".join(parts)
    return f"{text[0].upper()}{text[1:]}" if text else ""


def candidate_sentence(org: OrgAnswers, plan: str) -> str:
    """One candidate in one sentence (the report's headline): the organisation's cost in money and percent, and
    how many reps lose and gain, with 95% CIs."""
    d, se = _total_diff(org.result, "incentive_cost", plan)
    cost, ref = "", present.readable(org.reference)
    if np.isfinite(d) and _unchanged(d, se):
        cost = f"the organisation's incentive cost is as under {ref} in every simulated year; "
    elif np.isfinite(d):
        rel = relative_change(org.result, "incentive_cost", plan)
        cost = f"the organisation's incentive cost {_moves(d, se, 'incentive_cost', org.currency, rel)} a year against {ref}; "
    people = people_sentence(org, plan)
    return f"Under {present.readable(plan)}, {cost}{people[0].lower()}{people[1:]}."


def candidate_lines(org: OrgAnswers, plan: str, scenario: Any, verdict: str | None = None, *,
                    lead: bool = False) -> list[str]:
    """The first screen's lines for one candidate: its sentence (cost and people; left out for the ``lead``
    candidate, whose sentence opens the page), revenue and profit, who gains and loses most, teams, risks."""
    lines = [money_sentence(org, plan, ("revenue", "profit")), movers_sentence(org, plan),
             teams_sentence(org, plan), risk_sentence(org, plan, scenario, verdict)]
    return ([] if lead else [candidate_sentence(org, plan)]) + [f"{x}." for x in lines if x]


def replay_sentence(rp: Any, plan: str, currency: str) -> str:
    """What last year's recorded results would have paid under ``plan``, against the plan in force."""
    if rp is None or plan not in rp.plans:
        return ""
    year = int(rp.reps["year"].max())
    # the total over roles, in the reporting currency (roles paid in another converted at fx, as `simlib replay`)
    total = rp.totals[(rp.totals["role"] == "total") & (rp.totals["year"] == year)].iloc[0]
    a, b = float(total[rp.in_force]), float(total[plan])
    rel = f" ({(b - a) / a:+.1%})" if a > 0 else ""
    return (f"Replayed through {present.readable(plan)}, last year's ({year}) recorded results would have paid "
            f"{present.fmt_value(b, 'incentive_cost', currency)} in incentive, "
            f"{present.fmt_value(b - a, 'incentive_cost', currency, signed=True)}{rel} against "
            f"{present.readable(rp.in_force)} (exact: no simulation).")


def synthetic_note(scenario: Any) -> str:
    """A notice when the scenario says its data are synthetic (in its name or description), else ""."""
    text = f"{scenario.name} {scenario.description or ''}".lower()
    if "synthetic" not in text:
        return ""
    return (f"Synthetic data: the reps, teams and history of \"{scenario.name}\" were made up by simlib "
            f"to show how an organisation is reported; they are not data of a real company.")


def plan_heading(scenario: Any, plan: str, reference: str) -> tuple[str, str]:
    """A candidate's heading on the first screen: its name in words against the reference, and its description."""
    desc = " ".join(str(scenario.plans[plan].description or "").split()) if plan in scenario.plans else ""
    return f"{present.readable(plan)} against {present.readable(reference)}", desc


def _guardrails(scenario: Any, res: Any) -> dict[str, str]:
    """One guardrail verdict per plan (and ``_all`` for checks every plan fails), as the policy comparison's."""
    from simlib.design.guardrails import guardrail_table, plan_rules
    from simlib.report.summary import guardrail_verdicts, scenario_rules

    guard = pd.concat([guardrail_table(res.summary(), rules=scenario_rules(scenario)), plan_rules(scenario, res.plans)],
                      ignore_index=True)
    return guardrail_verdicts(guard, res.plans)


def org_summary(scenario: Any, org: OrgAnswers, rp: Any) -> dict[str, Any]:
    """The report's answer as data (saved with the results) and for :func:`show_org_summary`.

    Returns
    -------
    dict
        title, lead (the first candidate's sentence), groups (per candidate: heading and lines on
        money, people, the reps and teams that gain and lose most, risks; then last year replayed),
        items (the reconciliation verdict, what last year would have paid), legend, headline,
        verdict, reconciled (True, False or None), sentences (plan -> sentence), currency.
    """
    sentences = {p: candidate_sentence(org, p) for p in org.answers}
    verdict = replay_verdict(rp, org.currency)
    verdicts = _guardrails(scenario, org.result)
    first = next(iter(sentences.values()))
    replayed = [x for x in (replay_sentence(rp, p, org.currency) for p in org.answers) if x]
    items = [verdict, *replayed]
    groups = [dict(zip(("heading", "note"), plan_heading(scenario, p, org.reference), strict=True),
                   lines=candidate_lines(org, p, scenario, verdicts.get(p), lead=i == 0))
              for i, p in enumerate(org.answers)]
    year = f" ({int(rp.reps['year'].max())})" if rp is not None else ""
    groups.append(dict(heading=f"Last year{year} replayed", lines=items))
    res = org.result
    legend = (f"Forward simulation: {res.provenance.get('trials', '')} simulated years of the roster's "
              f"{scenario.headcount} reps, every plan on the same draws; money per year in {org.currency}; "
              f"± is the half-width of the 95% confidence interval (after a percent, in points of that percent); "
              f"a rep's pay is base + incentive; a count of reps \"allowing for simulation error\" runs from the fewest to the "
              f"most reps past the line with each rep's change anywhere in its 95% CI. Replay: the recorded months through each plan's pay rules, "
              f"no simulation, so its figures are exact.")
    if "_all" in verdicts:
        legend += f" {verdicts['_all']}."
    note = synthetic_note(scenario)
    return dict(title=f"Answer: {scenario.name} under the candidate plans", lead=first, items=items, groups=groups,
                legend=f"{note} {legend}".strip(), headline=first, verdict=verdict, sentences=sentences,
                reconciled=None if rp is None else rp.reconciled, currency=org.currency, synthetic=bool(note))


def show_org_summary(summary: Mapping[str, Any]) -> None:
    """Display the summary of :func:`org_summary` (escaped by the template)."""
    from IPython.display import HTML, display

    display(HTML(render("brief.html.j2", title=summary["title"], lead=summary["lead"],
                        groups=summary.get("groups", []), items=[] if summary.get("groups") else summary["items"],
                        legend=summary["legend"])))


# ----------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------


def team_table(ans: Any, currency: str) -> Any:
    """Per team under one candidate: reps, winners, losers, incentive cost and attainment with 95% CIs (a ``Styler``)."""
    t = ans.teams
    ref, cand = present.readable(ans.reference), present.readable(ans.plan)
    cols = {f"incentive cost, {ref}": "cost_current", "change in incentive cost": "cost_change",
            f"attainment, {ref}": "attainment_current", f"attainment, {cand}": "attainment_candidate"}
    v = pd.DataFrame({k: t[c].to_numpy() for k, c in cols.items()})
    se = pd.DataFrame({k: t[f"{c}_se"].to_numpy() for k, c in cols.items()})
    v.index = se.index = pd.Index([f"{team} ({present.readable(role)})"
                                   for team, role in zip(t["team"], t["role"], strict=True)])
    v.insert(0, "losers", t["losers"].to_numpy())
    v.insert(0, "winners", t["winners"].to_numpy())
    v.insert(0, "reps", t["reps"].to_numpy())
    metrics = dict(zip(cols, ["incentive_cost", "incentive_cost", "attainment_mean", "attainment_mean"], strict=True))
    st = present.style_table(v, metrics, se=se, currency=currency,
                             caption=f"Teams under {cand} against {ref} (± 95% CI; {currency} a year)")
    change = "change in incentive cost"
    texts = pd.DataFrame({change: _signed_money_texts(v[change].to_numpy(dtype=float), se[change].to_numpy(dtype=float),
                                                      currency)}, index=v.index)  # a change: signed, each its own ±
    return present.show_texts(st.format(lambda x: f"{int(x):,}", subset=["reps", "winners", "losers"]), texts)


_STATEMENT = {"expected_current": "expected pay, current", "expected_candidate": "expected pay, candidate",
              "change": "change", "candidate_p10": "candidate P10", "candidate_p90": "candidate P90"}


def _statement_view(rows: pd.DataFrame, currency: str, caption: str, plans: tuple[str, str] = ("", "")) -> Any:
    """Rep statement rows as a narrow ``Styler``: rep ids (index) and team names escaped, money on one scale per column.

    ``plans``: the reference and the candidate, whose names (in words) head their columns.
    """
    import html

    ref, cand = (present.readable(p) for p in plans)
    names = dict(_STATEMENT)
    if ref and cand:
        names.update(expected_current=f"expected pay, {ref}", expected_candidate=f"expected pay, {cand}",
                     candidate_p10=f"{cand} P10", candidate_p90=f"{cand} P90")
    v = rows.set_index("rep_id")[list(_STATEMENT)].rename(columns=names)
    v.insert(3, "change %", rows["change_pct"].to_numpy())
    v.insert(0, "team", [html.escape(str(t)) for t in rows["team"]])
    v["verdict"] = rows["verdict"].to_numpy()
    v.index.name, v.columns.name = None, "rep"  # one header row: "rep" heads the rep ids
    metrics = {c: "incentive_cost" for c in v.columns if c not in ("change", "change %", "team", "verdict")}
    ses = pd.DataFrame(0.0, index=v.index, columns=list(metrics))  # quantiles: no ± (0: the value alone)
    for key in ("expected_current", "expected_candidate"):
        ses[names[key]] = rows[f"{key}_se"].to_numpy(dtype=float)
    st = present.style_table(v, metrics, se=ses, currency=currency, caption=caption)  # escapes the index (rep ids)
    se = rows["change_se"].to_numpy(dtype=float)
    ea = rows["expected_current"].to_numpy(dtype=float)
    texts = pd.DataFrame({"change": _signed_money_texts(v["change"].to_numpy(dtype=float), se, currency),
                          "change %": [present.fmt_relative(x, e) for x, e in
                                       zip(v["change %"].to_numpy(dtype=float), se / np.where(ea > 0, ea, np.nan),
                                           strict=True)]}, index=v.index)
    return present.show_texts(st, texts)  # each rep's change with its own ± (two equal changes can differ in SE)


def _signed_money_texts(values: np.ndarray, ses: np.ndarray, currency: str) -> list[str]:
    """Changes in money with their 95% CIs, one per cell in order, on one k / M scale (a cell below 1 on it on its own)."""
    scale = present.money_scale(values)
    return [present.fmt(x, e, "incentive_cost", currency, signed=True, scale=present.cell_scale(x, scale))
            for x, e in zip(values, ses, strict=True)]


def movers_table(ans: Any, currency: str, verdict: str = "loser", show: int = 25) -> Any | None:
    """The reps who lose (``verdict="loser"``) or gain most, largest change first (None when there are none)."""
    s = ans.statement[ans.statement["verdict"] == verdict]
    if s.empty:
        return None
    s = s.sort_values("change_pct", ascending=verdict == "loser").head(show)
    word = "lose" if verdict == "loser" else "gain"
    return _statement_view(s, currency, f"Reps who {word} more than {ans.loss:.0%} of expected pay under "
                                        f"{present.readable(ans.plan)} "
                                        f"(largest first, at most {show}; pay = base + incentive, {currency} a year; "
                                        "expected pay and change ± 95% CI)",
                           (ans.reference, ans.plan))


def statement_table(ans: Any, team: str, currency: str) -> Any:
    """One team's rep statement under a candidate: expected pay under both plans, change, candidate P10-P90."""
    s = ans.statement[ans.statement["team"] == team]
    return _statement_view(s, currency, f"{team}: rep statement, {present.readable(ans.plan)} against "
                                        f"{present.readable(ans.reference)} "
                                        f"({currency} a year; expected pay and change ± 95% CI)",
                           (ans.reference, ans.plan))


# ----------------------------------------------------------------------
# Charts
# ----------------------------------------------------------------------


def plan_colours(reference: str, candidates: Sequence[str]) -> dict[str, str]:
    """One colour per plan on every chart of the page: the reference dark grey, the candidates matplotlib's
    C0, C1, ... in their order (a candidate is the same colour in the team, rep and replay charts)."""
    return {reference: "#4d4d4d", **{p: f"C{i % 10}" for i, p in enumerate(c for c in candidates if c != reference)}}


def team_cost_chart(org: OrgAnswers):
    """Each team's change in incentive cost under each candidate, with 95% CIs (a matplotlib Figure)."""
    import matplotlib.pyplot as plt

    from simlib.format import Z95

    teams = next(iter(org.answers.values())).teams
    labels = [f"{t} ({present.readable(r)})" for t, r in zip(teams["team"], teams["role"], strict=True)]
    k = len(org.answers)
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(labels) * k + 1.5), dpi=100)
    y = np.arange(len(labels))
    for i, (p, ans) in enumerate(org.answers.items()):
        t = ans.teams
        ax.errorbar(t["cost_change"], y + (i - (k - 1) / 2) * 0.25, xerr=Z95 * t["cost_change_se"], fmt="o",
                    capsize=3, label=present.readable(p), color=plan_colours(org.reference, org.answers)[p])
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("Change in incentive cost")
    ax.set_title(f"Team incentive cost against {present.readable(org.reference)} (95% CI)")
    present.format_axis(ax, "incentive_cost", org.currency, axis="x", signed=True)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def pay_change_chart(org: OrgAnswers):
    """Each rep's change of expected pay (% of expected pay under the reference), by role, per candidate."""
    import matplotlib.pyplot as plt

    k = len(org.answers)
    fig, axes = plt.subplots(1, k, figsize=(9, 3.5), dpi=100, sharey=True, squeeze=False)
    colours = plan_colours(org.reference, org.answers)
    pcts = [x for a in org.answers.values() for x in a.statement["change_pct"] if np.isfinite(x)]
    loss = next(iter(org.answers.values())).loss
    lo, hi = min([*pcts, -loss]), max([*pcts, loss])
    pad = 0.08 * (hi - lo) or 0.01
    for ax, (p, ans) in zip(axes[0], org.answers.items(), strict=True):
        s = ans.statement
        roles = list(dict.fromkeys(s["role"]))
        for j, role in enumerate(roles):
            x = s.loc[s["role"] == role, "change_pct"].to_numpy()
            jitter = (np.arange(len(x)) % 7 - 3) * 0.04
            ax.scatter(np.full(len(x), j) + jitter, x, s=12, alpha=0.7, color=colours[p])
        for lvl in (-ans.loss, ans.loss):
            ax.axhline(lvl, color="grey", lw=0.8, ls="--")
        ax.set_ylim(lo - pad, hi + pad)  # every rep of every panel and both dashed lines inside the frame
        ax.set_xticks(range(len(roles)), [present.readable(r) for r in roles])
        ax.set_title(f"{present.readable(p)} vs {present.readable(org.reference)}")
        ax.set_ylabel("Change of expected pay")
        present.format_axis(ax, unit_="percent", signed=False)
    fig.suptitle(f"Change of each rep's expected pay (base + incentive); dashed: ± {loss:.0%}")
    fig.tight_layout()
    return fig


def replay_chart(rp: Any, currency: str):
    """Last year's incentive per role: recorded payouts and each plan's replay (a matplotlib Figure)."""
    import matplotlib.pyplot as plt

    t = rp.totals[rp.totals["role"] != "total"]
    cols = (["recorded"] if rp.has_payout else []) + list(rp.plans)
    fig, ax = plt.subplots(figsize=(9, 3.5), dpi=100)
    x = np.arange(len(t))
    w = 0.8 / len(cols)
    colours = {"recorded": "#b0b0b0", **plan_colours(rp.in_force, [p for p in rp.plans if p != rp.in_force])}
    for i, c in enumerate(cols):
        ax.bar(x + (i - (len(cols) - 1) / 2) * w, t[c].to_numpy(dtype=float), w, color=colours.get(c, "#777777"),
               label="recorded payouts" if c == "recorded" else present.readable(c))
    curs = list(t["currency"]) if "currency" in t else [currency] * len(t)
    several = len(set(curs)) > 1  # roles paid in different currencies: each bar in its role's, named
    ax.set_xticks(x, [present.readable(r) + (f" ({c})" if several else "") for r, c in zip(t["role"], curs, strict=True)])
    ax.set_ylabel("Incentive")
    ax.set_title(f"{int(rp.reps['year'].max())} replayed through each plan")
    present.format_axis(ax, "incentive_cost", "in each role's currency" if several else currency)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=min(len(cols), 4), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------
# Results JSON
# ----------------------------------------------------------------------


def org_results(summary: Mapping[str, Any], org: OrgAnswers, rp: Any, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The report's key results (for :func:`simlib.report.notebook.save_results`)."""
    res = org.result
    return {
        "notebook": "org",
        "headline": summary["headline"],
        "executive_summary": dict(summary),
        "parameters": dict(parameters),
        "provenance": res.provenance,
        "plans": res.plans,
        "reference": org.reference,
        "summary": res.summary(),
        "differences": res.differences(),
        "winners_losers": {p: a.winners_losers() for p, a in org.answers.items()},
        "teams": {p: a.teams for p, a in org.answers.items()},
        "statements": {p: a.statement for p, a in org.answers.items()},
        "replay": None if rp is None else {
            "verdict": summary["verdict"], "reconciled": rp.reconciled, "in_force": rp.in_force,
            "plans": rp.plans, "totals": rp.totals, "mismatches": rp.mismatches, "notes": rp.notes,
        },
    }
