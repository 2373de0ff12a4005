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
from simlib.report.summary import render

__all__ = ["LOSS", "OrgAnswers", "history_of", "last_year_replay", "replay_verdict", "replay_table",
           "mismatch_table", "org_answers", "candidate_sentence", "replay_sentence", "synthetic_note", "org_summary",
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
    if rp is None:
        return "The scenario names no history, so there is no recorded year to replay or reconcile."
    year, n = int(rp.reps["year"].max()), len(rp.reps)
    plan = rp.in_force
    if not rp.has_payout:
        return (f"The history records no payouts for {year}, so there is nothing to reconcile: {n} reps' "
                f"results were replayed through every plan.")
    if rp.reconciled:
        paid = float(rp.reps["recorded"].sum())
        return (f"Last year's recorded payouts reconcile to the cent: all {n} reps' {year} incentive recomputed "
                f"under {plan} equals what was paid ({_cents(paid, currency)} in total).")
    d = rp.mismatches
    ids = ", ".join(map(str, d.sort_values("difference", key=abs, ascending=False)["rep_id"].head(NAMED)))
    more = f" and {len(d) - NAMED} more" if len(d) > NAMED else ""
    return (f"Last year's recorded payouts do not reconcile: for {len(d)} of {n} reps the {year} incentive "
            f"recomputed under {plan} differs from what was paid, by {_cents(float(d['difference'].sum()), currency, True)} "
            f"in total and at most {_cents(float(d['difference'].abs().max()), currency)} for one rep ({ids}{more}; "
            f"all are listed below).")


def replay_table(rp: Any, currency: str) -> Any:
    """Last year's totals per role: reps, recorded payouts and each plan's replayed incentive (a ``Styler``)."""
    t = rp.totals.drop(columns=["year", "quota"]).set_index("role")
    money = {c: "incentive_cost" for c in ["revenue", "recorded", *rp.plans]}
    t = escape_frame(t.rename(columns={"recorded": "recorded payouts"}))
    money["recorded payouts"] = money.pop("recorded")
    return (present.style_table(t, {k: v for k, v in money.items() if k in t.columns}, currency=currency,
                                caption=f"{int(rp.reps['year'].max())} replayed: incentive per plan ({currency} a year)")
            .format(lambda v: f"{int(v):,}", subset=["reps"]))


def mismatch_table(rp: Any, currency: str) -> Any:
    """The reps whose recomputed pay differs from the recorded payout, to the cent (a ``Styler``)."""
    d = escape_frame(rp.mismatches.drop(columns=["year"]).reset_index(drop=True))
    cents = {c: (lambda v, s=(c == "difference"): "" if pd.isna(v) else _cents(v, currency, s))
             for c in ("recorded", "recomputed", "difference")}
    return (d.style.hide(axis="index").format(cents)
            .set_caption(f"Reps whose recomputed pay under the plan in force differs from the recorded payout ({currency})"))


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


def candidate_sentence(org: OrgAnswers, plan: str) -> str:
    """One candidate in plain words: losers and winners, the organisation's cost, the team whose cost moves most."""
    ans, cur = org.answers[plan], org.currency
    s = ans.statement
    n, lose, gain = len(s), int((s["verdict"] == "loser").sum()), int((s["verdict"] == "winner").sum())
    pct = f"{ans.loss:.0%}"
    words = (f"Under {plan}, {lose} of {n} reps ({lose / n:.0%}) would lose more than {pct} of expected pay "
             f"and {gain} ({gain / n:.0%}) would gain more than {pct}")
    cost, se = _total_diff(org.result, "incentive_cost", plan)
    if np.isfinite(cost):
        words += (f"; the organisation's incentive cost {'rises' if cost >= 0 else 'falls'} "
                  f"{present.fmt_value(abs(cost), 'incentive_cost', cur, se=se)} (± {present.half_width(se, 'incentive_cost')}) "
                  f"a year against {org.reference}")
    t = ans.teams
    if len(t):
        r = t.loc[t["cost_change"].abs().idxmax()]
        d = float(r["cost_change"])
        words += (f"; the {r['team']} team's incentive cost {'rises' if d >= 0 else 'falls'} "
                  f"{present.fmt_value(abs(d), 'incentive_cost', cur, se=float(r['cost_change_se']))} "
                  f"(± {present.half_width(float(r['cost_change_se']), 'incentive_cost')})")
    return words + "."


def replay_sentence(rp: Any, plan: str, currency: str) -> str:
    """What last year's recorded results would have paid under ``plan``, against the plan in force."""
    if rp is None or plan not in rp.plans:
        return ""
    year = int(rp.reps["year"].max())
    a, b = float(rp.reps[rp.in_force].sum()), float(rp.reps[plan].sum())
    rel = f" ({(b - a) / a:+.1%})" if a > 0 else ""
    return (f"Replayed through {plan}, last year's ({year}) recorded results would have paid "
            f"{present.fmt_value(b, 'incentive_cost', currency)} in incentive, "
            f"{present.fmt_value(b - a, 'incentive_cost', currency, signed=True)}{rel} against {rp.in_force}.")


def synthetic_note(scenario: Any) -> str:
    """A notice when the scenario says its data are synthetic (in its name or description), else ""."""
    text = f"{scenario.name} {scenario.description or ''}".lower()
    if "synthetic" not in text:
        return ""
    return (f"Synthetic data: the reps, teams and history of \"{scenario.name}\" were made up by simlib "
            f"to show how an organisation is reported; they are not data of a real company.")


def org_summary(scenario: Any, org: OrgAnswers, rp: Any) -> dict[str, Any]:
    """The report's answer as data (saved with the results) and for :func:`show_org_summary`.

    Returns
    -------
    dict
        title, lead (the first candidate's sentence), items (the other candidates, the
        reconciliation verdict, what last year would have paid), legend, headline,
        verdict, reconciled (True, False or None), sentences (plan -> sentence), currency.
    """
    sentences = {p: candidate_sentence(org, p) for p in org.answers}
    verdict = replay_verdict(rp, org.currency)
    first, *rest = sentences.values()
    items = [*rest, verdict, *[x for x in (replay_sentence(rp, p, org.currency) for p in org.answers) if x]]
    res = org.result
    legend = (f"Forward simulation: {res.provenance.get('trials', '')} simulated years of the roster's "
              f"{scenario.headcount} reps, every plan on the same draws; ± is the 95% confidence interval. "
              f"Replay: the recorded months through each plan's pay rules, no simulation.")
    note = synthetic_note(scenario)
    return dict(title=f"Answer: {scenario.name} under the candidate plans", lead=first, items=items,
                legend=f"{note} {legend}".strip(), headline=first, verdict=verdict, sentences=sentences,
                reconciled=None if rp is None else rp.reconciled, currency=org.currency, synthetic=bool(note))


def show_org_summary(summary: Mapping[str, Any]) -> None:
    """Display the summary of :func:`org_summary` (escaped by the template)."""
    from IPython.display import HTML, display

    display(HTML(render("brief.html.j2", title=summary["title"], lead=summary["lead"], items=summary["items"],
                        legend=summary["legend"])))


# ----------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------


def team_table(ans: Any, currency: str) -> Any:
    """Per team under one candidate: reps, winners, losers, incentive cost and attainment with 95% CIs (a ``Styler``)."""
    t = ans.teams
    cols = {"incentive cost, current": "cost_current", "change in incentive cost": "cost_change",
            "attainment, current": "attainment_current", "attainment, candidate": "attainment_candidate"}
    v = pd.DataFrame({k: t[c].to_numpy() for k, c in cols.items()})
    se = pd.DataFrame({k: t[f"{c}_se"].to_numpy() for k, c in cols.items()})
    v.index = se.index = pd.Index([f"{team} ({role})" for team, role in zip(t["team"], t["role"], strict=True)])
    v.insert(0, "losers", t["losers"].to_numpy())
    v.insert(0, "winners", t["winners"].to_numpy())
    v.insert(0, "reps", t["reps"].to_numpy())
    metrics = {"incentive cost, current": "incentive_cost", "change in incentive cost": "incentive_cost",
               "attainment, current": "attainment_mean", "attainment, candidate": "attainment_mean"}
    st = present.style_table(v, metrics, se=se, currency=currency,
                             caption=f"Teams under {ans.plan} against {ans.reference} (± 95% CI; {currency} a year)")
    return st.format(lambda x: f"{int(x):,}", subset=["reps", "winners", "losers"])


_STATEMENT = {"expected_current": "expected pay, current", "expected_candidate": "expected pay, candidate",
              "change": "change", "candidate_p10": "candidate P10", "candidate_p90": "candidate P90"}


def _statement_view(rows: pd.DataFrame, currency: str, caption: str) -> Any:
    """Rep statement rows as a narrow ``Styler``: rep ids (index) and team names escaped, money on one scale per column."""
    import html

    v = rows.set_index("rep_id")[list(_STATEMENT)].rename(columns=_STATEMENT)
    v.insert(3, "change %", rows["change_pct"].to_numpy())
    v.insert(0, "team", [html.escape(str(t)) for t in rows["team"]])
    v["verdict"] = rows["verdict"].to_numpy()
    money = list(_STATEMENT.values())
    metrics = {c: "incentive_cost" for c in money if c != "change"} | {"change %": "attainment_mean"}
    st = present.style_table(v, metrics, currency=currency, caption=caption)  # escapes the index (rep ids)
    scale = present.money_scale(v["change"].to_numpy(dtype=float))
    se = dict(zip(rows["change"].astype(float), rows["change_se"].astype(float), strict=True))
    return st.format(lambda x: present.fmt(x, se.get(float(x)), "incentive_cost", currency, signed=True,
                                           scale=present.cell_scale(x, scale)), subset=["change"])


def movers_table(ans: Any, currency: str, verdict: str = "loser", show: int = 25) -> Any | None:
    """The reps who lose (``verdict="loser"``) or gain most, largest change first (None when there are none)."""
    s = ans.statement[ans.statement["verdict"] == verdict]
    if s.empty:
        return None
    s = s.sort_values("change_pct", ascending=verdict == "loser").head(show)
    word = "lose" if verdict == "loser" else "gain"
    return _statement_view(s, currency, f"Reps who {word} more than {ans.loss:.0%} of expected pay under {ans.plan} "
                                        f"(largest first, at most {show}; pay = base + incentive, {currency} a year)")


def statement_table(ans: Any, team: str, currency: str) -> Any:
    """One team's rep statement under a candidate: expected pay under both plans, change, candidate P10-P90."""
    s = ans.statement[ans.statement["team"] == team]
    return _statement_view(s, currency, f"{team}: rep statement, {ans.plan} against {ans.reference} "
                                        f"({currency} a year; change ± 95% CI)")


# ----------------------------------------------------------------------
# Charts
# ----------------------------------------------------------------------


def team_cost_chart(org: OrgAnswers):
    """Each team's change in incentive cost under each candidate, with 95% CIs (a matplotlib Figure)."""
    import matplotlib.pyplot as plt

    from simlib.format import Z95

    teams = next(iter(org.answers.values())).teams
    labels = [f"{t} ({r})" for t, r in zip(teams["team"], teams["role"], strict=True)]
    k = len(org.answers)
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(labels) * k + 1.5), dpi=100)
    y = np.arange(len(labels))
    for i, (p, ans) in enumerate(org.answers.items()):
        t = ans.teams
        ax.errorbar(t["cost_change"], y + (i - (k - 1) / 2) * 0.25, xerr=Z95 * t["cost_change_se"], fmt="o",
                    capsize=3, label=p)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("Change in incentive cost")
    ax.set_title(f"Team incentive cost against {org.reference} (95% CI)")
    present.format_axis(ax, "incentive_cost", org.currency, axis="x", signed=True)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def pay_change_chart(org: OrgAnswers):
    """Each rep's change of expected pay (% of expected pay under the reference), by role, per candidate."""
    import matplotlib.pyplot as plt

    k = len(org.answers)
    fig, axes = plt.subplots(1, k, figsize=(9, 3.5), dpi=100, sharey=True, squeeze=False)
    for ax, (p, ans) in zip(axes[0], org.answers.items(), strict=True):
        s = ans.statement
        roles = list(dict.fromkeys(s["role"]))
        for j, role in enumerate(roles):
            x = s.loc[s["role"] == role, "change_pct"].to_numpy()
            jitter = (np.arange(len(x)) % 7 - 3) * 0.04
            ax.scatter(np.full(len(x), j) + jitter, x, s=12, alpha=0.7)
        for lvl in (-ans.loss, ans.loss):
            ax.axhline(lvl, color="grey", lw=0.8, ls="--")
        ax.set_xticks(range(len(roles)), roles, rotation=20)
        ax.set_title(f"{p} vs {org.reference}")
        ax.set_ylabel("Change of expected pay")
        present.format_axis(ax, unit_="percent", signed=False)
    fig.suptitle(f"Each rep's expected pay (base + incentive); dashed: ± {LOSS:.0%}")
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
    for i, c in enumerate(cols):
        ax.bar(x + (i - (len(cols) - 1) / 2) * w, t[c].to_numpy(dtype=float), w,
               label="recorded payouts" if c == "recorded" else c)
    ax.set_xticks(x, list(t["role"]))
    ax.set_ylabel("Incentive")
    ax.set_title(f"{int(rp.reps['year'].max())} replayed through each plan")
    present.format_axis(ax, "incentive_cost", currency)
    ax.legend(loc="best", fontsize=8)
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
