"""Charts for notebooks and HTML reports (matplotlib, no pyplot state).

Every function returns a :class:`matplotlib.figure.Figure` built without
pyplot, so nothing is shown twice in a notebook and nothing leaks between
calls; show one with ``IPython.display.display(fig)`` or
:func:`simlib.report.notebook.show`. Money axes are per year.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

import simlib.present as present
from simlib.format import Z95

__all__ = [
    "attainment_distribution",
    "payout_distribution",
    "pay_curves",
    "revenue_vs_cost",
    "metric_by_role",
    "difference_forest",
    "budget_risk_chart",
    "heatmaps",
    "role_profile",
]

_CYCLE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


#: characters of a panel title's line in the two-column grids (longer titles wrap)
TITLE_WIDTH = 42


def _colours(names: Sequence[str]) -> dict[str, str]:
    return {n: _CYCLE[i % len(_CYCLE)] for i, n in enumerate(names)}


#: what a figure drawn in multiples of the target incentive shows where there is none (TI 0: pure commission)
NO_TI_NOTE = "nothing to draw: no target incentive\n(multiples of it are undefined at 0)"


def _note(ax, text: str) -> None:
    """Write ``text`` in the middle of an empty panel."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=9, color="grey")


def _legend(ax) -> None:
    """A legend where the panel has labelled lines (none where nothing was drawn)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def _grid(n: int, ncols: int = 3, w: float = 4.2, h: float = 3.2) -> tuple[Figure, np.ndarray]:
    n = max(1, n)  # at least one panel: an empty figure still says why it is empty
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig = Figure(figsize=(w * ncols, h * nrows), dpi=100, layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes


def _distribution(reps: pd.DataFrame, col: str, xlabel: str, marks: Sequence[float], plans, x_max: float) -> Figure:
    roles = list(dict.fromkeys(reps["role"]))
    plans = list(plans) if plans else list(dict.fromkeys(reps["plan"]))
    col_of = _colours(plans)
    fig, axes = _grid(len(roles))
    bins = np.linspace(0.0, x_max, 49)
    for ax, role in zip(axes, roles, strict=False):
        sub = reps[reps["role"] == role]
        for p in plans:
            v = sub.loc[sub["plan"] == p, col].to_numpy(dtype=float)
            v = np.clip(v[np.isfinite(v)], 0.0, x_max)
            if v.size:
                ax.hist(v, bins=bins, histtype="step", density=True, lw=1.6, color=col_of[p], label=present.readable(p))
        if col == "payout" and not np.isfinite(sub[col].to_numpy(dtype=float)).any():
            _note(ax, NO_TI_NOTE)
        for m in marks:
            ax.axvline(m, color="grey", ls=":", lw=1)
        ax.set_title(present.readable(role))
        ax.set_xlabel(xlabel)
        ax.set_ylabel("density")
        if col == "attainment":
            present.format_axis(ax, unit_="percent", axis="x")
    _legend(axes[0])
    return fig


def attainment_distribution(reps: pd.DataFrame, plans: Sequence[str] | None = None, x_max: float = 2.5) -> Figure:
    """Histogram of rep attainment (fraction of quota) per role, one line per plan.

    ``reps`` is :func:`simlib.report.notebook.rep_outcomes`; values above ``x_max``
    are drawn in the last bin. Dotted lines mark 100% and 120%.
    """
    return _distribution(reps, "attainment", "attainment (% of quota)", (1.0, 1.2), plans, x_max)


def payout_distribution(reps: pd.DataFrame, plans: Sequence[str] | None = None, x_max: float = 3.5) -> Figure:
    """Histogram of incentive / target incentive (multiple) per role, one line per plan.

    Dotted lines mark 1x (on-target pay) and 2x/3x (the leverage band).
    """
    return _distribution(reps, "payout", "incentive / target incentive", (1.0, 2.0, 3.0), plans, x_max)


def pay_curves(curves: pd.DataFrame, plans: Sequence[str] | None = None) -> Figure:
    """Pay elements as a multiple of target incentive vs attainment, per role.

    ``curves`` is :func:`simlib.report.notebook.pay_curve_table`. Each plan's elements
    are summed (what a rep at that attainment in every period earns from
    them) and drawn as one line per plan.
    """
    roles = list(dict.fromkeys(curves["role"]))
    plans = list(plans) if plans else list(dict.fromkeys(curves["plan"]))
    col_of = _colours(plans)
    fig, axes = _grid(len(roles))
    if not roles:  # every role without a target incentive (pay_curve_table leaves them out)
        _note(axes[0], NO_TI_NOTE)
        return fig
    styles = ["-", "--", "-.", ":"]
    for ax, role in zip(axes, roles, strict=False):
        sub = curves[curves["role"] == role]
        for j, p in enumerate(plans):
            sp = sub[sub["plan"] == p]
            if sp.empty:
                continue
            tot = sp.groupby("attainment", sort=True)["payout"].sum()
            ax.plot(tot.index, tot.to_numpy(), color=col_of[p], ls=styles[j % len(styles)], lw=1.8, label=present.readable(p))
        ax.axvline(1.0, color="grey", ls=":", lw=1)
        ax.axhline(1.0, color="grey", ls=":", lw=1)
        ax.set_title(present.readable(role))
        ax.set_xlabel("attainment (% of quota)")
        ax.set_ylabel("pay / target incentive")
        present.format_axis(ax, unit_="percent", axis="x")
    _legend(axes[0])
    return fig


def revenue_vs_cost(trials: pd.DataFrame, group: str = "total", plans: Sequence[str] | None = None,
                    currency: str = "EUR") -> Figure:
    """Scatter of revenue vs incentive cost, one point per trial, per plan (money per year)."""
    t = trials[trials["group"] == group]
    plans = list(plans) if plans else list(dict.fromkeys(t["plan"]))
    col_of = _colours(plans)
    fig = Figure(figsize=(7.5, 4.8), dpi=100, layout="constrained")
    ax = fig.subplots()
    for p in plans:
        sp = t[t["plan"] == p]
        ax.scatter(sp["revenue"], sp["incentive_cost"], s=8, alpha=0.5, color=col_of[p], label=present.readable(p))
    ax.set_xlabel("revenue per year")
    ax.set_ylabel("incentive cost per year")
    present.format_axis(ax, "revenue", currency, axis="x")
    present.format_axis(ax, "incentive_cost", currency)
    ax.set_title(f"Revenue vs incentive cost, one point per simulated year ({present.readable(group)})")
    ax.legend(fontsize=8, markerscale=2)
    return fig


def metric_by_role(summary: pd.DataFrame, metrics: Sequence[str], plans: Sequence[str] | None = None,
                   currency: str = "EUR") -> Figure:
    """Bar charts of metrics per role and plan with 95% CI error bars."""
    metrics = [m for m in metrics if m in set(summary["metric"])]
    plans = list(plans) if plans else list(dict.fromkeys(summary["plan"]))
    groups = list(dict.fromkeys(summary["group"]))
    col_of = _colours(plans)
    fig, axes = _grid(max(1, len(metrics)), ncols=2, w=5.5, h=3.4)
    width = 0.8 / max(1, len(plans))
    for ax, m in zip(axes, metrics, strict=False):
        sm = summary[summary["metric"] == m]
        for j, p in enumerate(plans):
            sp = sm[sm["plan"] == p].set_index("group").reindex(groups)
            x = np.arange(len(groups)) + (j - (len(plans) - 1) / 2) * width
            err = np.vstack([sp["mean"] - sp["ci_low"], sp["ci_high"] - sp["mean"]]).clip(min=0)
            ax.bar(x, sp["mean"], width, yerr=err, color=col_of[p], label=present.readable(p), capsize=2)
        ax.set_xticks(np.arange(len(groups)), [present.readable(g) for g in groups], fontsize=8)
        ax.set_title(present.label(m), fontsize=10)
        present.format_axis(ax, m, currency)
    axes[0].legend(fontsize=7)
    return fig


def difference_forest(differences: pd.DataFrame, metrics: Sequence[str], group: str = "total",
                      currency: str = "EUR") -> Figure:
    """Paired differences (plan - reference) with 95% CIs, one panel per metric, axes in the metric's unit."""
    d = differences[(differences["group"] == group) & differences["metric"].isin(metrics)]
    metrics = [m for m in metrics if m in set(d["metric"])]
    fig, axes = _grid(max(1, len(metrics)), ncols=2, w=5.5, h=2.6)
    for ax, m in zip(axes, metrics, strict=False):
        dm = d[d["metric"] == m]
        y = np.arange(len(dm))
        ax.errorbar(dm["diff"], y, xerr=np.vstack([dm["diff"] - dm["ci_low"], dm["ci_high"] - dm["diff"]]).clip(min=0),
                    fmt="o", color="#1f77b4", capsize=3)
        ax.axvline(0.0, color="grey", lw=1)
        ax.set_yticks(y, [f"{present.readable(p)} vs {present.readable(r)}"
                          for p, r in zip(dm["plan"], dm["reference"], strict=False)], fontsize=8)
        # a long name wraps rather than running off the figure; at most six ticks, so signed labels never touch
        ax.set_title(textwrap.fill(f"{present.label(m)}: change ({group})", TITLE_WIDTH), fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
        present.format_axis(ax, m, currency, axis="x", signed=True)
    return fig


def budget_risk_chart(trials: pd.DataFrame, budget: float | None = None, plans: Sequence[str] | None = None,
                      currency: str = "EUR") -> Figure:
    """Distribution (ECDF) of total incentive cost per plan with the budget marked."""
    t = trials[trials["group"] == "total"]
    plans = list(plans) if plans else list(dict.fromkeys(t["plan"]))
    col_of = _colours(plans)
    fig = Figure(figsize=(7.5, 4.2), dpi=100, layout="constrained")
    ax = fig.subplots()
    for p in plans:
        c = np.sort(t.loc[t["plan"] == p, "incentive_cost"].to_numpy(dtype=float))
        if c.size:
            ax.step(c, np.arange(1, c.size + 1) / c.size, where="post", color=col_of[p], label=present.readable(p))
    if budget:
        ax.axvline(budget, color="black", ls="--", lw=1.2,
                   label=f"budget {present.fmt_value(budget, 'incentive_cost', currency)}")
    ax.axhline(0.95, color="grey", ls=":", lw=1)
    ax.set_xlabel("total incentive cost per year")
    ax.set_ylabel("share of simulated years at or below")
    present.format_axis(ax, "incentive_cost", currency, axis="x")
    present.format_axis(ax, unit_="percent")
    ax.set_title("Incentive cost risk (dotted line: 95% of simulated years)")
    ax.legend(fontsize=8)
    return fig


def heatmaps(
    sweep: pd.DataFrame,
    x: str,
    y: str,
    metrics: Sequence[str],
    group: str = "total",
    ok: pd.DataFrame | None = None,
    currency: str = "EUR",
) -> Figure:
    """Heatmaps of sweep metrics over two parameters, one panel per metric (cells in the metric's unit).

    Parameters
    ----------
    sweep : DataFrame
        Tidy sweep (point, <x>, <y>, group, metric, mean, se, ...).
    x, y : str
        Parameter columns for the axes.
    metrics : list of str
        Metrics to draw (those absent from ``sweep`` are skipped).
    group : str
        Role or ``"total"``.
    ok : DataFrame, optional
        Columns <x>, <y>, meets (bool): cells meeting the guardrails are
        outlined in black.
    """
    s = sweep[sweep["group"] == group]
    metrics = [m for m in metrics if m in set(s["metric"])]
    fig, axes = _grid(max(1, len(metrics)), ncols=3, w=4.3, h=3.5)
    xs = sorted(s[x].unique())
    ys = sorted(s[y].unique())
    for ax, m in zip(axes, metrics, strict=False):
        piv = s[s["metric"] == m].pivot_table(index=y, columns=x, values="mean").reindex(index=ys, columns=xs)
        im = ax.imshow(piv.to_numpy(dtype=float), origin="lower", aspect="auto", cmap="viridis")
        vals = piv.to_numpy(dtype=float)
        scale = present.money_scale(vals.ravel())
        cb = fig.colorbar(im, ax=ax, shrink=0.85)
        present.format_axis(cb.ax, m, currency)
        lo, hi = np.nanmin(vals) if np.isfinite(vals).any() else 0.0, np.nanmax(vals) if np.isfinite(vals).any() else 1.0
        for i in range(len(ys)):
            for j in range(len(xs)):
                v = vals[i, j]
                if np.isfinite(v):
                    txt = present.fmt_value(v, m, currency, scale=scale).replace(f" {currency}", "")
                    light = hi > lo and (v - lo) / (hi - lo) > 0.6
                    ax.text(j, i, txt, ha="center", va="center", fontsize=7, color="black" if light else "white")
        if ok is not None and len(ok):
            okp = ok.pivot_table(index=y, columns=x, values="meets", aggfunc="max").reindex(index=ys, columns=xs)
            for i in range(len(ys)):
                for j in range(len(xs)):
                    if okp.iloc[i, j] is True or okp.iloc[i, j] == 1:
                        ax.add_patch(_rect(j, i))
        ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
        ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
        ax.set_xlabel(x.replace("_", " "))
        ax.set_ylabel(y.replace("_", " "))
        ax.set_title(f"{present.label(m).split(' (')[0]} ({present.readable(group)})", fontsize=10)
    return fig


def _rect(j: int, i: int):
    from matplotlib.patches import Rectangle

    return Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", lw=2.5)


def role_profile(reps: pd.DataFrame, plans: Sequence[str]) -> Figure:
    """Per role: mean attainment and mean payout multiple per plan, with 95% CIs over reps and trials."""
    roles = list(dict.fromkeys(reps["role"]))
    col_of = _colours(plans)
    fig, axes = _grid(2, ncols=2, w=5.5, h=3.4)
    width = 0.8 / max(1, len(plans))
    for ax, col, lab in zip(axes, ("attainment", "payout"), ("mean attainment", "mean incentive / target incentive"), strict=False):
        for j, p in enumerate(plans):
            g = reps[reps["plan"] == p].groupby(["role", "trial"])[col].mean().groupby("role")
            m, se = g.mean().reindex(roles), (g.std(ddof=1) / np.sqrt(g.count())).reindex(roles)
            x = np.arange(len(roles)) + (j - (len(plans) - 1) / 2) * width
            ax.bar(x, m, width, yerr=Z95 * se, color=col_of[p], label=present.readable(p), capsize=2)
        ax.set_xticks(np.arange(len(roles)), [present.readable(r) for r in roles])
        ax.set_title(lab)
        present.format_axis(ax, unit_="percent" if col == "attainment" else "ratio")
    axes[0].legend(fontsize=8)
    return fig


def by_year(frame: pd.DataFrame, metrics: Sequence[str], group: str = "total", plans: Sequence[str] | None = None,
            currency: str = "EUR") -> Figure:
    """One panel per metric: each plan's yearly mean with its 95% CI, years on the x axis (a multi-year run's frame)."""
    f = frame[(frame["group"] == group) & frame["metric"].isin(metrics)]
    plans = list(plans) if plans else list(dict.fromkeys(f["plan"]))
    col_of = _colours(plans)
    fig, axes = _grid(max(1, len(metrics)), ncols=3, w=4.2, h=3.0)
    for ax, m in zip(axes, metrics, strict=False):
        for j, p in enumerate(plans):
            sp = f[(f["metric"] == m) & (f["plan"] == p)].sort_values("year")
            err = np.vstack([sp["mean"] - sp["ci_low"], sp["ci_high"] - sp["mean"]]).clip(min=0)
            ax.errorbar(sp["year"] + (j - (len(plans) - 1) / 2) * 0.05, sp["mean"], yerr=err, color=col_of[p],
                        label=present.readable(p), marker="o", ms=3, capsize=2)
        ax.set_title(present.label(m), fontsize=9)
        ax.set_xticks(sorted(f["year"].unique()))
        present.format_axis(ax, m, currency)
    axes[0].legend(fontsize=7)
    return fig
