"""Plans reviewed like code: breach probabilities of guardrails (``simlib check``) and plan diffs (``simlib diff``).

``simlib check`` turns the guardrails of :mod:`simlib.design.guardrails` into
a pass/fail test. For every plan, group and rule it estimates the
probability that the plan *breaches* the rule (falls below ``low`` or above
``high``) and fails when that probability is above the stated level. Two
estimates are used, and each row says which (``basis``):

``per-trial``
    The rule's metric is known trial by trial (``comp_cost_of_sales`` from
    the kept per-trial total comp and revenue; ``over_budget``, whose mean is
    the share of trials over budget). The probability is the share of
    simulated years in which the plan breaches, with its binomial SE: a
    statement about next year's risk.
``normal``
    Only the Monte Carlo estimate of the metric's mean and its SE are
    available (``share_at_quota``, ``share_120``, ``leverage``). The
    probability is that of a normal approximation to the estimate,
    ``Phi((low - mean) / se) + Phi((mean - high) / se)``: how likely it is that
    the plan's *expected* value is beyond the edge, given the Monte Carlo
    error. It tends to 0 or 1 as trials grow; it is not a year-to-year risk.

Thresholds come from the scenario's optional ``checks:`` section
(:class:`simlib.scenario.Checks`); unset edges default to the guardrail
bands, the warning edges where a rule has them (share at quota: 50%-90%),
else the typical band.

``simlib diff`` puts two scenarios' plans side by side: :func:`plan_changes`
lists what changed, role by role, in plain words, and :func:`merged_scenario`
puts both plans into one scenario so they run on the same draws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from simlib.design.guardrails import RULES, Rule
from simlib.errors import SimlibError
from simlib.scenario import Checks, Scenario, scenario_from_dict

__all__ = ["Threshold", "thresholds", "breach_table", "plan_changes", "merged_scenario", "TODAY", "paired_effects", "budget_effect",
           "EFFECT_METRICS", "same_world"]

#: metrics whose per-trial values the engine keeps (or whose mean is a per-trial share)
PER_TRIAL = ("comp_cost_of_sales", "over_budget")
#: what ``simlib diff`` reports, in this order
EFFECT_METRICS = ("profit", "revenue", "incentive_cost", "comp_cost_of_sales", "share_at_quota")


class Threshold:
    """One checked rule: metric, edges (None = open) and the tolerated probability of breach."""

    def __init__(self, metric: str, low: float | None, high: float | None, level: float, label: str) -> None:
        self.metric, self.low, self.high, self.level, self.label = metric, low, high, level, label

    def edges(self) -> str:
        """The allowed region as text, e.g. ``"0.5-0.9"``, ``"<= 0.12"``."""
        if self.metric == "over_budget":
            return "cost <= budget"
        if self.low is None:
            return f"<= {self.high:g}"
        if self.high is None:
            return f">= {self.low:g}"
        return f"{self.low:g}-{self.high:g}"

    def __repr__(self) -> str:
        return f"Threshold({self.metric}, {self.edges()}, level {self.level:g})"


def _rule_edges(rule: Rule) -> tuple[float, float]:
    low = rule.warn_low if rule.warn_low is not None else rule.low
    high = rule.warn_high if rule.warn_high is not None else rule.high
    return low, high


def thresholds(scenario: Scenario, level: float | None = None) -> list[Threshold]:
    """The rules ``simlib check`` applies to ``scenario``.

    Parameters
    ----------
    scenario : Scenario
        Its ``checks:`` section (optional) sets edges and levels.
    level : float, optional
        Tolerated probability of breach for every rule without its own
        (overrides ``checks.max_breach_probability``; default 0.2).

    Returns
    -------
    list of Threshold
        One per guardrail rule, plus ``over_budget`` when the scenario has
        ``budget.incentive``.

    Raises
    ------
    SimlibError
        A rule name in ``checks.rules`` that is not a guardrail, or ``low`` above ``high``.
    """
    checks = scenario.checks or Checks()
    default = checks.max_breach_probability if level is None else level
    by = {r.metric: r for r in RULES}
    unknown = sorted(set(checks.rules) - set(by))
    if unknown:
        raise SimlibError(f"{scenario.source}: checks.rules: {unknown} not guardrail rules, expected some of {sorted(by)}")
    out = []
    for metric, rule in by.items():
        spec = checks.rules.get(metric, {})
        low, high = _rule_edges(rule)
        low, high = spec.get("low", low), spec.get("high", high)
        if low is not None and high is not None and low > high:
            raise SimlibError(f"{scenario.source}: checks.rules.{metric}: low {low:g} is above high {high:g}")
        lvl = spec.get("max_breach_probability")
        if lvl is not None and not 0.0 <= lvl <= 1.0:
            raise SimlibError(f"{scenario.source}: checks.rules.{metric}.max_breach_probability: expected 0-1, got {lvl:g}")
        out.append(Threshold(metric, low, high, default if lvl is None else lvl, rule.label))
    if scenario.budget.incentive is not None:
        lvl = checks.budget.get("max_over_budget_probability", default)
        out.append(Threshold("over_budget", None, 0.5, lvl, "incentive cost above budget.incentive"))
    elif checks.budget:
        raise SimlibError(f"{scenario.source}: checks.budget is set but the scenario has no budget.incentive")
    return out


def _normal_breach(mean: float, se: float, t: Threshold) -> float:
    """P(the expected value is beyond an edge) under a normal approximation to the estimate."""
    def below(x: float) -> float:
        if se <= 0:
            return float(mean < x)
        return 0.5 * math.erfc(-(x - mean) / (se * math.sqrt(2.0)))

    p = below(t.low) if t.low is not None else 0.0
    if t.high is not None:
        p += 1.0 - below(t.high) if se > 0 else float(mean > t.high)
    return min(p, 1.0)


def _per_trial_breach(values: np.ndarray, t: Threshold) -> tuple[float, float]:
    """Share of trials beyond an edge and its binomial SE."""
    bad = np.zeros(len(values), dtype=bool)
    if t.low is not None:
        bad |= values < t.low
    if t.high is not None:
        bad |= values > t.high
    p = float(bad.mean())
    return p, math.sqrt(p * (1.0 - p) / len(values))


def _trial_values(trials: pd.DataFrame, plan: str, group: str, metric: str) -> np.ndarray:
    rows = trials[(trials["plan"] == plan) & (trials["group"] == group)].sort_values("trial")
    if metric == "comp_cost_of_sales":
        rev = rows["revenue"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(rev > 0, rows["total_comp"].to_numpy() / rev, np.nan)
    raise KeyError(metric)


def _breach_row(trials: pd.DataFrame, summary: pd.DataFrame, plan: str, group: str,
                t: Threshold) -> dict[str, Any] | None:
    s = summary[(summary["plan"] == plan) & (summary["group"] == group) & (summary["metric"] == t.metric)]
    if s.empty:
        return None
    mean, se = float(s["mean"].iloc[0]), float(s["se"].iloc[0])
    if t.metric == "over_budget":
        p, p_se, basis = mean, se, "per-trial"
    elif t.metric in PER_TRIAL:
        p, p_se = _per_trial_breach(_trial_values(trials, plan, group, t.metric), t)
        basis = "per-trial"
    else:
        p, p_se, basis = _normal_breach(mean, se, t), float("nan"), "normal"
    return dict(plan=plan, group=group, metric=t.metric, rule=t.label, value=mean, value_se=se,
                allowed=t.edges(), p_breach=p, p_se=p_se, basis=basis, level=t.level,
                status="FAIL" if p > t.level else "PASS", **_edge_numbers(t))


def _edge_numbers(t: Threshold) -> dict[str, float]:
    """A rule's edges as numbers in the metric's own scale (NaN: open, or the budget of ``over_budget``)."""
    def num(x: float | None) -> float:
        return float("nan") if x is None or t.metric == "over_budget" else float(x)

    return {"low": num(t.low), "high": num(t.high)}


def breach_table(result: Any, scenario: Scenario, *, plans: Sequence[str] | None = None,
                 level: float | None = None) -> pd.DataFrame:
    """Probability of breach per plan, group and rule, and PASS/FAIL against the level.

    Parameters
    ----------
    result : SimulationResult
        A simulation of ``scenario`` (:func:`simlib.engine.api.simulate`).
    scenario : Scenario
    plans : list of str, optional
        Plans to judge (default: every simulated plan).
    level : float, optional
        Tolerated probability for rules without their own (see :func:`thresholds`).

    Returns
    -------
    DataFrame
        plan, group, metric, rule, value (estimated mean), value_se, allowed
        (edges as text), p_breach, p_se (NaN for the normal basis), basis
        (``per-trial`` or ``normal``), level, status (``PASS`` / ``FAIL``),
        low and high (the edges as numbers, NaN where open or for
        ``over_budget``, whose edge is the budget).
    """
    ts = thresholds(scenario, level)
    groups = (scenario.checks or Checks()).groups
    bad = [g for g in groups if g not in result.groups]
    if bad:
        raise SimlibError(f"{scenario.source}: checks.groups: {bad} not groups, expected some of {result.groups}")
    summary, trials = result.summary(), result.trials()
    rows = []
    for plan in plans or result.plans:
        for group in groups:
            for t in ts:
                row = _breach_row(trials, summary, plan, group, t)
                if row is not None:
                    rows.append(row)
    cols = ["plan", "group", "metric", "rule", "value", "value_se", "allowed", "p_breach", "p_se", "basis", "level",
            "status", "low", "high"]
    return pd.DataFrame(rows, columns=cols)


#: why a rule's metric can be missing from a plan's results
_UNJUDGED_REASON = {
    "leverage": "no target incentive to divide by: payout multiples are left out where a role's target incentive is 0",
}


def unjudged_rules(result: Any, scenario: Scenario, *, plans: Sequence[str] | None = None,
                   level: float | None = None) -> pd.DataFrame:
    """The (plan, group, rule) pairs :func:`breach_table` cannot judge: the rule's metric has no value there.

    Returns
    -------
    DataFrame
        plan, group, metric, rule (the rule's label) and reason, one row per pair; empty when every rule is judged.
    """
    ts = thresholds(scenario, level)
    groups = [g for g in (scenario.checks or Checks()).groups if g in result.groups]
    summary = result.summary()
    have = set(zip(summary["plan"], summary["group"], summary["metric"], strict=True))
    rows = [dict(plan=plan, group=group, metric=t.metric, rule=t.label,
                 reason=_UNJUDGED_REASON.get(t.metric, "the metric has no value for this plan and group"))
            for plan in plans or result.plans for group in groups for t in ts
            if (plan, group, t.metric) not in have]
    return pd.DataFrame(rows, columns=["plan", "group", "metric", "rule", "reason"])


# --------------------------------------------------------------------------
# simlib diff
# --------------------------------------------------------------------------

def _word(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return f"{v:,.0f}" if abs(v) >= 10_000 and float(v).is_integer() else f"{v:g}"
    if isinstance(v, list) and v and isinstance(v[0], dict) and "from" in v[0]:
        return "[" + ", ".join(f"from {t['from']:g}: {t['rate']:g}" for t in v) + "]"
    if isinstance(v, list):
        return "[" + ", ".join(_word(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_word(x)}" for k, x in v.items()) + "}"
    return str(v)


def _dict_changes(old: dict, new: dict, where: str) -> list[str]:
    """``where: key a -> b`` per changed key; nested dicts are walked, lists compared whole."""
    out = []
    for k in list(old) + [k for k in new if k not in old]:
        a, b = old.get(k), new.get(k)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out += _dict_changes(a, b, f"{where} {k}".strip())
        else:
            out.append(f"{where}{' ' if where else ''}{k} {_word(a)} -> {_word(b)}")
    return out


def _named_changes(old: list[dict], new: list[dict], kind: str) -> list[str]:
    """Changes of a list of named items (components): removed, added, changed field by field."""
    a, b = {c["name"]: c for c in old}, {c["name"]: c for c in new}
    out = [f"{kind} {n} removed" for n in a if n not in b]
    out += [f"{kind} {n} added ({_word({k: v for k, v in b[n].items() if k != 'name'})})" for n in b if n not in a]
    for n in a:
        if n in b:
            out += _dict_changes(a[n], b[n], f"{kind} {n}:")
    return out


def _role_changes(old: dict, new: dict) -> list[str]:
    out = _named_changes(old.get("components") or [], new.get("components") or [], "component")
    rest_a = {k: v for k, v in old.items() if k != "components"}
    rest_b = {k: v for k, v in new.items() if k != "components"}
    return out + _dict_changes(rest_a, rest_b, "")


def _role_pay(scen: Scenario, plan: str, role: str) -> dict:
    return {"base_salary": scen.base_salary(plan, role), "target_incentive": scen.target_incentive(plan, role)}


def plan_changes(old: Scenario, old_plan: str, new: Scenario, new_plan: str) -> list[str]:
    """What changed from ``old``'s plan to ``new``'s, one plain sentence per change.

    Roles are compared one by one: components (matched by name: added,
    removed, each changed field), quotas, gates, modifiers, team weights,
    recognition, the pay levels in force (base salary and target incentive,
    the plan's or else the role's) and the incentive budget. E.g.
    ``"telesales: component revenue_bonus: cap 2 -> none"``.

    Returns
    -------
    list of str
        Empty when the plans are the same.
    """
    a = old.plans[old_plan].model_dump(by_alias=True, mode="json")["roles"]
    b = new.plans[new_plan].model_dump(by_alias=True, mode="json")["roles"]
    out = [f"{r}: role removed from the plan" for r in a if r not in b]
    out += [f"{r}: role added to the plan" for r in b if r not in a]
    for r in a:
        if r not in b:
            continue
        pa = {k: v for k, v in a[r].items() if k not in ("base_salary", "target_incentive")}
        pb = {k: v for k, v in b[r].items() if k not in ("base_salary", "target_incentive")}
        lines = _role_changes(pa, pb)
        if r in old.roles and r in new.roles:
            lines += _dict_changes(_role_pay(old, old_plan, r), _role_pay(new, new_plan, r), "")
        out += [f"{r}: {line}" for line in lines]
    if old.budget.incentive != new.budget.incentive:
        out.append(f"budget: incentive {_word(old.budget.incentive)} -> {_word(new.budget.incentive)}")
    return out


def same_world(old: Scenario, new: Scenario) -> list[str]:
    """Differences outside the plans (roles, market, behaviour) that stop a like-for-like paired comparison."""
    out = []
    for part in ("roles", "market", "behaviour"):
        a = old.model_dump(mode="json")[part]
        b = new.model_dump(mode="json")[part]
        if a != b:
            out += [f"{part}: {line}" for line in _dict_changes(a, b, "")] or [f"{part} differ"]
    return out


#: the merged scenario's plan holding OLD's current plan when OLD's compared plan is another (:func:`merged_scenario`)
TODAY = "today"


def merged_scenario(old: Scenario, old_plan: str, new: Scenario, new_plan: str) -> Scenario:
    """One scenario with NEW's roles, market, behaviour and budget, and two plans: ``old`` (the reference) and ``new``.

    Its ``current_plan`` (the plan reps work under today, which the behaviour
    model, quota levels and attrition are relative to) is OLD's
    ``current_plan``, as ``simlib run OLD`` has it: ``old`` itself when OLD's
    compared plan is its current plan, else a third plan ``today`` holding
    OLD's current plan (simulate ``["old", "new"]`` with reference ``old``),
    so that ``diff --plan harder_target`` shows harder_target's levels as
    ``run`` does rather than as if reps worked under it today.

    Raises
    ------
    SimlibError
        When OLD's plan (or OLD's current plan) names a role NEW's scenario does not have.
    """
    today = old.current_plan
    for plan in dict.fromkeys([old_plan, today]):
        missing = sorted(set(old.plans[plan].roles) - set(new.roles))
        if missing:
            raise SimlibError(f"{old.source}: plan {plan} pays roles {missing} that {new.source} does not have")
    data = new.model_dump(by_alias=True, mode="json")
    data.pop("checks", None)
    sides = [("old", old, old_plan), ("new", new, new_plan)] + ([(TODAY, old, today)] if today != old_plan else [])
    data["plans"] = {name: src.plans[plan].model_dump(by_alias=True, mode="json") for name, src, plan in sides}
    for name, src, plan in sides:  # the plan-level pay levels each side had in force
        for role in data["plans"][name]["roles"]:
            data["plans"][name]["roles"][role].update(_role_pay(src, plan, role))
    data["current_plan"] = "old" if today == old_plan else TODAY
    data["name"] = f"diff {old.name}:{old_plan} -> {new.name}:{new_plan}"
    return scenario_from_dict(data, source=f"{old.source} -> {new.source}")


def paired_effects(result: Any, group: str = "total", metrics: Sequence[str] = EFFECT_METRICS,
                   budgets: tuple[float | None, float | None] | None = None) -> pd.DataFrame:
    """Levels of ``old`` and ``new`` and their paired difference (new - old), with 95% CIs.

    ``budgets`` (OLD's and NEW's ``budget.incentive``), when both are set, adds the row ``over_budget``: the chance
    that the whole organisation's incentive cost exceeds each side's own budget (:func:`budget_effect`).

    Returns
    -------
    DataFrame
        metric, old, new, diff, se, ci_low, ci_high, significant, old_se, new_se, and the
        texts ``old_text``, ``new_text``, ``diff_text`` (:func:`simlib.format.estimate`).
    """
    from simlib.format import estimate

    s = result.summary()
    s = s[s["group"] == group].set_index(["plan", "metric"])
    d = result.differences()
    d = d[(d["group"] == group) & (d["plan"] == "new")].set_index("metric")
    rows = []
    for m in metrics:
        if m not in d.index:
            continue
        o, n, x = s.loc[("old", m)], s.loc[("new", m)], d.loc[m]
        rows.append(dict(metric=m, old=o["mean"], new=n["mean"], diff=x["diff"], se=x["se"], ci_low=x["ci_low"],
                         ci_high=x["ci_high"], significant=bool(x["significant"]), old_se=o["se"], new_se=n["se"],
                         old_text=estimate(o["mean"], o["se"]), new_text=estimate(n["mean"], n["se"]),
                         diff_text=estimate(x["diff"], x["se"], signed=True) + (" *" if x["significant"] else "")))
    if budgets is not None and group == "total" and None not in budgets:
        rows.append(budget_effect(result, *budgets))
    return pd.DataFrame(rows)


def budget_effect(result: Any, old_budget: float, new_budget: float) -> dict:
    """The chance that the year's incentive cost exceeds the budget, ``old`` against OLD's and ``new`` against NEW's,
    and the paired difference over the same trials, with Monte Carlo SEs (a merged scenario holds NEW's budget
    only, so its own ``over_budget`` judges both plans against it and a budget change reads as none)."""
    from simlib.format import Z95, estimate

    t = result.trials()
    t = t[t["group"] == "total"]
    cost = {p: t[t["plan"] == p].sort_values("trial")["incentive_cost"].to_numpy(dtype=float) for p in ("old", "new")}
    over_old = (cost["old"] > old_budget).astype(float)
    over_new = (cost["new"] > new_budget).astype(float)
    n = len(over_old)

    def se(x):
        return float(x.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")

    d = over_new - over_old
    diff, dse = float(d.mean()), se(d)
    return dict(metric="over_budget", old=float(over_old.mean()), new=float(over_new.mean()), diff=diff, se=dse,
                ci_low=diff - Z95 * dse, ci_high=diff + Z95 * dse, significant=bool(abs(diff) > Z95 * dse),
                old_se=se(over_old), new_se=se(over_new), old_text=estimate(over_old.mean(), se(over_old)),
                new_text=estimate(over_new.mean(), se(over_new)),
                diff_text=estimate(diff, dse, signed=True) + (" *" if abs(diff) > Z95 * dse else ""))
