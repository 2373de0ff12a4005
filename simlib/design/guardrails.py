"""Practitioners' rules of thumb as a table of flags.

The rules are guardrails, not laws: a plan outside a band is worth a second
look, not necessarily wrong. Every simulated figure is judged with its Monte
Carlo error: a figure is ``inside`` only when its whole 95% CI is inside the
typical band, ``outside`` when the whole CI is outside it, and
``borderline`` when the CI straddles an edge. A rule with a warning band
(share of reps at quota below 50% or above 90%) reports ``warning`` when the
CI lies wholly beyond the warning edge.

Sources: Alexander Group (share at quota, share at 120%+),
SalesGlobe (leverage), ZS / HBS (compensation cost of sales), Bridge Group,
RepVue and Pavilion surveys (pay mix), BenchSights (quota to on-target
earnings).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simlib.scenario import Scenario

__all__ = ["Rule", "RULES", "PAY_MIX", "QUOTA_TO_OTE", "guardrail_table", "plan_rules", "meets_guardrails", "sweep_region",
           "style_guardrails", "STATUS_ORDER"]


@dataclass(frozen=True)
class Rule:
    """A band a simulated metric is expected to fall in.

    Attributes
    ----------
    metric : str
        Metric name (see :data:`simlib.model.metrics.METRICS`).
    label : str
        What the rule says, for a reader.
    low, high : float
        The typical band (same unit as the metric).
    warn_low, warn_high : float or None
        Beyond these the rule's source calls the plan a warning sign.
    source : str
        Where the figure comes from.
    """

    metric: str
    label: str
    low: float
    high: float
    warn_low: float | None = None
    warn_high: float | None = None
    source: str = ""
    unit: str = "fraction"


#: rules checked on simulated metrics (per role and in total)
RULES: tuple[Rule, ...] = (
    Rule("share_at_quota", "reps at or above 100% of quota", 0.60, 0.70, 0.50, 0.90, "Alexander Group"),
    Rule("share_120", "reps at 120%+ of quota", 0.10, 0.20, None, None, "Alexander Group"),
    Rule("leverage", "P90 performer's incentive / target incentive", 2.0, 3.0, None, None, "SalesGlobe", "multiple"),
    Rule("comp_cost_of_sales", "compensation cost of sales (base + incentive) / revenue", 0.03, 0.09, None, None, "ZS, HBS"),
)

#: typical base share of on-target earnings by role process (Bridge Group, RepVue, Pavilion)
PAY_MIX: dict[str, tuple[float, float, str]] = {
    "key_account": (0.50, 0.60, "enterprise 50/50 to 60/40"),
    "telesales": (0.65, 0.70, "inside/telesales 65/35 to 70/30"),
    "channel": (0.60, 0.70, "account managers 60/40 to 70/30"),
}

#: quota / on-target earnings: about 5x (4.8x mean, BenchSights); band taken as 4x-6x
QUOTA_TO_OTE: tuple[float, float] = (4.0, 6.0)

#: sort order of statuses, worst first
STATUS_ORDER = {"warning": 0, "outside": 1, "borderline": 2, "inside": 3, "n/a": 4}


def _status(lo: float, hi: float, rule_low: float, rule_high: float, warn_low, warn_high) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "n/a"
    if warn_low is not None and hi < warn_low:
        return "warning"
    if warn_high is not None and lo > warn_high:
        return "warning"
    if lo >= rule_low and hi <= rule_high:
        return "inside"
    if hi < rule_low or lo > rule_high:
        return "outside"
    return "borderline"


def _band(low: float, high: float, unit: str) -> str:
    if unit == "fraction":
        return f"{low:.0%}-{high:.0%}"
    return f"{low:g}-{high:g}x"


def guardrail_table(
    summary: pd.DataFrame,
    *,
    plans: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    rules: Sequence[Rule] = RULES,
) -> pd.DataFrame:
    """Judge simulated metrics against the rules of thumb.

    Parameters
    ----------
    summary : DataFrame
        ``SimulationResult.summary()`` (columns plan, group, metric, mean, ci_low, ci_high).
        Rows of a sweep (one per point) work too when they carry these columns.
    plans, groups : list of str, optional
        Restrict to these plans / groups (default: all present).
    rules : sequence of Rule
        The rules to check (default :data:`RULES`).

    Returns
    -------
    DataFrame
        One row per plan, group and rule: plan, group, rule, metric, value,
        ci_low, ci_high, band, status (``inside``, ``borderline``,
        ``outside``, ``warning``, ``n/a``), source.
    """
    need = {"plan", "group", "metric", "mean", "ci_low", "ci_high"}
    missing = need - set(summary.columns)
    if missing:
        raise ValueError(f"guardrail_table: summary lacks columns {sorted(missing)}")
    s = summary
    if plans is not None:
        s = s[s["plan"].isin(plans)]
    if groups is not None:
        s = s[s["group"].isin(groups)]
    by = {r.metric: r for r in rules}
    s = s[s["metric"].isin(by)]
    rows = []
    for rec in s.itertuples(index=False):
        r = by[rec.metric]
        rows.append(
            dict(
                plan=rec.plan, group=rec.group, rule=r.label, metric=r.metric,
                value=float(rec.mean), ci_low=float(rec.ci_low), ci_high=float(rec.ci_high),
                band=_band(r.low, r.high, r.unit) + (
                    f" (warning below {r.warn_low:.0%} or above {r.warn_high:.0%})" if r.warn_low is not None else ""),
                status=_status(float(rec.ci_low), float(rec.ci_high), r.low, r.high, r.warn_low, r.warn_high),
                source=r.source,
            )
        )
    cols = ["plan", "group", "rule", "metric", "value", "ci_low", "ci_high", "band", "status", "source"]
    return pd.DataFrame(rows, columns=cols)


def plan_rules(scenario: Scenario, plans: Sequence[str] | None = None) -> pd.DataFrame:
    """Design-time rules that need no simulation: pay mix and quota / on-target earnings.

    Parameters
    ----------
    scenario : Scenario
    plans : list of str, optional
        Plans to check (default: all).

    Returns
    -------
    DataFrame
        Same columns as :func:`guardrail_table`; ``ci_low`` = ``ci_high`` = value
        (these are exact figures of the plan, not estimates). The quota used is
        an average ramped rep's, :func:`simlib.model.plans.expected_quota` (money per year).
    """
    from simlib.model.plans import expected_quota

    rows = []
    for p in plans or list(scenario.plans):
        for role_name, role in scenario.roles.items():
            base = scenario.base_salary(p, role_name)
            ti = scenario.target_incentive(p, role_name)
            ote = base + ti
            if role.process in PAY_MIX and ote > 0:
                lo, hi, txt = PAY_MIX[role.process]
                mix = base / ote
                rows.append(dict(plan=p, group=role_name, rule=f"base share of on-target earnings ({txt})",
                                 metric="base_share", value=mix, ci_low=mix, ci_high=mix, band=_band(lo, hi, "fraction"),
                                 status=_status(mix, mix, lo, hi, None, None), source="Bridge Group, RepVue, Pavilion"))
            quota = expected_quota(scenario, p, role_name)
            if ote > 0:
                ratio = quota / ote
                lo, hi = QUOTA_TO_OTE
                rows.append(dict(plan=p, group=role_name, rule="quota / on-target earnings (about 5x)",
                                 metric="quota_to_ote", value=ratio, ci_low=ratio, ci_high=ratio,
                                 band=_band(lo, hi, "multiple"), status=_status(ratio, ratio, lo, hi, None, None),
                                 source="BenchSights"))
    cols = ["plan", "group", "rule", "metric", "value", "ci_low", "ci_high", "band", "status", "source"]
    return pd.DataFrame(rows, columns=cols)


def meets_guardrails(
    table: pd.DataFrame,
    *,
    metrics: Sequence[str] = ("share_at_quota", "leverage"),
    accept: Sequence[str] = ("inside", "borderline"),
    by: Sequence[str] = ("plan", "group"),
) -> pd.DataFrame:
    """Whether each plan/group meets the chosen rules.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`guardrail_table`.
    metrics : list of str
        Rules that must hold (default share at quota and leverage).
    accept : list of str
        Statuses that count as meeting a rule (default: inside, or not
        distinguishable from inside at this Monte Carlo precision).
    by : list of str
        Columns identifying a candidate.

    Returns
    -------
    DataFrame
        ``by`` columns plus ``meets`` (bool) and ``failed`` (comma-separated metrics).
    """
    t = table[table["metric"].isin(metrics)]
    out = []
    for key, sub in t.groupby(list(by), sort=False):
        bad = sub.loc[~sub["status"].isin(accept), "metric"].tolist()
        key = key if isinstance(key, tuple) else (key,)
        out.append({**dict(zip(by, key, strict=False)), "meets": not bad and len(sub) > 0, "failed": ", ".join(bad)})
    return pd.DataFrame(out, columns=[*by, "meets", "failed"])


def style_guardrails(table: pd.DataFrame):
    """A pandas Styler colouring the status column (for notebooks and HTML reports)."""
    colours = {"inside": "#d9f2d9", "borderline": "#fff3cd", "outside": "#f8d7da", "warning": "#f5a3a3", "n/a": "#eeeeee"}
    fmt = {"value": "{:.3g}", "ci_low": "{:.3g}", "ci_high": "{:.3g}"}
    return (
        table.style.format(fmt)
        .map(lambda v: f"background-color: {colours.get(v, '')}", subset=["status"])
        .hide(axis="index")
    )


def sweep_region(
    sweep: pd.DataFrame,
    params: Sequence[str],
    *,
    metrics: Sequence[str] = ("share_at_quota", "share_120"),
    accept: Sequence[str] = ("inside", "borderline"),
) -> pd.DataFrame:
    """Which sweep points meet the chosen rules of thumb, per group.

    Parameters
    ----------
    sweep : DataFrame
        Tidy sweep (point, <params>, group, metric, mean, ci_low, ci_high, ...).
    params : list of str
        The sweep's parameter columns.
    metrics, accept
        As in :func:`meets_guardrails`.

    Returns
    -------
    DataFrame
        point, <params>, group, meets (bool), failed (metrics outside).
    """
    s = sweep.assign(plan=sweep["point"])
    table = guardrail_table(s)
    ok = meets_guardrails(table, metrics=metrics, accept=accept).rename(columns={"plan": "point"})
    keys = sweep[["point", *params]].drop_duplicates("point")
    return keys.merge(ok, on="point", how="right")[["point", *params, "group", "meets", "failed"]]
