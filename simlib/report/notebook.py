"""Helpers that scenario notebooks call (the notebook contract).

Every notebook in ``notebooks/`` that ``simlib report`` runs follows one contract:

* exactly one cell tagged ``parameters`` holding plain literals, including
  ``output_json`` (where the notebook's key results go, ``""`` for none);
* key results saved with :func:`save_results` (JSON, NaN -> null, atomic write),
  so CI asserts on numbers rather than on rendered text;
* a provenance table shown with :func:`show_provenance` / :func:`provenance_table`
  so a reader of the HTML report sees parameters, seed, versions and the
  scenario hash.
"""

from __future__ import annotations

import html
import json
import os
import platform
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

import simlib.present as present
from simlib.io import jsonable, resolve_path
from simlib.model.pipeline import RoleOutcome
from simlib.version import __version__, package_version

__all__ = [
    "jsonable",
    "save_results",
    "load_results",
    "provenance_table",
    "show_provenance",
    "versions",
    "records",
    "resolve_path",
    "rep_outcomes",
    "pay_curve_table",
    "run_sweep",
    "budget_risk",
    "metrics_available",
    "show",
    "figure_alt",
    "plan_components",
    "components_view",
    "measures_view",
    "measure_means",
    "simulate_ensemble",
    "uncertainty_table",
    "md_text",
    "escape_frame",
    "shown_path",
    "PROVENANCE_MARK",
]


def versions() -> dict[str, str]:
    """Versions of the packages that shape the numbers and the report.

    Returns
    -------
    dict
        Package name -> version string (``"absent"`` when not installed).
    """
    out = {"simlib": __version__, "python": platform.python_version(), "numpy": np.__version__, "pandas": pd.__version__}
    for mod in ("scipy", "matplotlib", "papermill", "nbconvert"):
        out[mod] = package_version(mod)  # from package metadata: importing papermill and nbconvert takes seconds
    return out




def save_results(data: dict, path: str | os.PathLike) -> None:
    """Write a notebook's key results as JSON, atomically.

    Parameters
    ----------
    data : dict
        Results; numpy/pandas values are converted (see :func:`jsonable`),
        NaN and infinities are written as ``null``.
    path : str or PathLike
        Destination file; ``""`` or ``None`` means "do not save". Parent
        directories are created. The file is written to a temporary name in
        the same directory and then renamed, so a reader never sees a
        half-written file and a failure leaves any earlier file intact.

    Raises
    ------
    TypeError
        If ``data`` is not a dict or holds a value with no JSON form.
    """
    if not path:
        return
    if not isinstance(data, Mapping):
        raise TypeError(f"save_results: expected a dict of results, got {type(data).__name__}")
    from simlib.io import write_atomic

    write_atomic(path, json.dumps(jsonable(data), indent=2, allow_nan=False, sort_keys=False) + "\n")


def load_results(path: str | os.PathLike) -> dict:
    """Read a JSON written by :func:`save_results`."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _provenance_of(result_or_dict: Any) -> dict[str, Any]:
    if result_or_dict is None:
        return {}
    if hasattr(result_or_dict, "provenance"):
        return dict(result_or_dict.provenance)
    if isinstance(result_or_dict, Mapping):
        if "provenance" in result_or_dict and isinstance(result_or_dict["provenance"], Mapping):
            return dict(result_or_dict["provenance"])
        return dict(result_or_dict)
    raise TypeError(f"provenance_table: expected a SimulationResult or dict, got {type(result_or_dict).__name__}")


def provenance_table(result_or_dict: Any = None, parameters: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """A two-column table (item, value) of what produced a notebook's numbers.

    Parameters
    ----------
    result_or_dict : SimulationResult, dict or None
        A simulation result (its ``provenance``), a dict with a ``provenance``
        key (e.g. ``result.to_dict()``), or a provenance dict itself.
    parameters : dict, optional
        The notebook's parameters as run; listed as ``param: <name>`` rows.

    Returns
    -------
    pandas.DataFrame
        Columns ``item`` and ``value`` (strings): provenance entries (scenario,
        scenario hash, seed, trials, behaviour, plans...), parameters and
        package versions.
    """
    prov = _provenance_of(result_or_dict)
    rows: list[tuple[str, str]] = []
    for k, v in prov.items():
        rows.append((k, _fmt(v)))
    for k, v in (parameters or {}).items():
        rows.append((f"param: {k}", _fmt(v)))
    have = {r[0] for r in rows}
    for k, v in versions().items():
        key = f"{k}_version"
        if key not in have:
            rows.append((key, v))
    return pd.DataFrame(rows, columns=["item", "value"])


def _fmt(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v)
    if isinstance(v, Mapping):
        return json.dumps(jsonable(v))
    return str(v)


#: marks the provenance block a notebook shows (``simlib report`` puts its own, fuller one in its place)
PROVENANCE_MARK = "simlib-provenance"


def shown_path(value: Any) -> str:
    """A path as a report shows it: relative to the working folder when inside it, else the file name alone.

    Reports never show an absolute path (a user's home, a temporary folder).
    """
    from pathlib import Path

    p = Path(str(value))
    if not p.is_absolute():
        return str(p)
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return p.name


def show_provenance(result_or_dict: Any = None, parameters: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Display :func:`provenance_table` in a notebook, collapsed (returns it too).

    Uses ``IPython.display`` when available and falls back to ``print``.
    Values that are absolute paths are shown with :func:`shown_path`.
    """
    tab = provenance_table(result_or_dict, parameters)
    shown = tab.assign(value=[shown_path(v) if str(v).startswith("/") else v for v in tab["value"]])
    try:
        from IPython.display import HTML, display

        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                       for k, v in zip(shown["item"], shown["value"], strict=True))
        display(HTML(f"<details class='simlib-details {PROVENANCE_MARK}'><summary><b>Provenance: how these numbers "
                     f"were produced</b></summary><table class='{PROVENANCE_MARK}'>{rows}</table></details>"))
    except Exception:  # noqa: BLE001 - outside IPython
        print(shown.to_string(index=False))
    return tab


#: characters with a meaning in Markdown, backslash-escaped by :func:`md_text`
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~=:])")


def md_text(value: Any) -> str:
    """A value (scenario name, description, plan or role name...) as literal Markdown text.

    HTML special characters become entities and Markdown punctuation is
    backslash-escaped, so the text shows as typed: no raw HTML, no links
    (``[x](javascript:...)``), no emphasis or headings. Use it for every
    user-controlled value placed in an ``IPython.display.Markdown`` string.

    Parameters
    ----------
    value : any
        Converted with ``str``.

    Returns
    -------
    str
        Markdown source that renders as the literal text.
    """
    text = html.escape(str(value), quote=True).replace("&#x27;", "&#39;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def escape_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells, index and column labels are HTML-escaped.

    A pandas ``Styler`` puts cell values and labels into its HTML as they
    are; build Stylers on ``escape_frame(df)`` so a name or description that
    contains markup shows as text. Numbers and other non-text values are
    left alone (formats still apply).

    Parameters
    ----------
    df : DataFrame

    Returns
    -------
    DataFrame
        Same shape, dtypes of non-text columns unchanged.
    """

    def esc(v: Any) -> Any:
        return html.escape(v) if isinstance(v, str) else v

    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(esc)
    out.columns = out.columns.map(esc) if out.columns.nlevels == 1 else out.columns
    out.index = out.index.map(esc) if out.index.nlevels == 1 else out.index
    out.columns.name = esc(df.columns.name)
    out.index.name = esc(df.index.name)
    return out


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame -> list of JSON-ready records (NaN -> None)."""
    return jsonable(df)


# ----------------------------------------------------------------------
# Paths
# ----------------------------------------------------------------------



def metrics_available(result_or_frame: Any) -> list[str]:
    """Metric names present in a result (or a tidy frame with a ``metric`` column)."""
    df = result_or_frame.summary() if hasattr(result_or_frame, "summary") else result_or_frame
    return list(dict.fromkeys(df["metric"]))


# ----------------------------------------------------------------------
# Rep-level outcomes (for distribution charts)
# ----------------------------------------------------------------------


def _rep_pass(scenario: Any, plans: Sequence[str] | None, trials: int, rng: Any,
              behaviour: Any) -> tuple[np.ndarray, Iterator[RoleOutcome]]:
    """The trial numbers ``0..trials-1`` and the engine's outcome of each plan and role on them."""
    from simlib.engine.core import role_outcomes
    from simlib.model.population import Layout, draw_chunk, root_seed

    scen = _as_scen(scenario)
    plan_list = list(plans) if plans else list(scen.plans)
    unknown = [p for p in plan_list if p not in scen.plans]
    if unknown:
        raise KeyError(f"unknown plan(s) {unknown}; the scenario has {sorted(scen.plans)}")
    if int(trials) < 1:
        raise ValueError(f"trials: expected a positive integer, got {trials!r}")
    tr = np.arange(int(trials))
    draws = draw_chunk(Layout.of(scen), root_seed(rng), tr)
    return tr, role_outcomes(scen, plan_list, draws, behaviour=behaviour)


def measure_means(
    scenario: Any,
    plans: Sequence[str] | None = None,
    *,
    trials: int = 20,
    rng: int | None = 0,
    behaviour: str | Any | None = None,
) -> pd.DataFrame:
    """What reps do: mean of every simulated measure per rep and year, per plan and role.

    Flow measures (revenue, calls, conversions, partners opened...) are summed
    over the year; score measures (satisfaction, record accuracy...) are
    averaged over months. The standard error is over trials (rep means per
    trial are independent across trials). With behaviour ``"none"`` the
    measures are the same under every plan by construction.

    Returns
    -------
    DataFrame
        plan, role, measure, kind (flow/score), mean, se, incentive_share
        (share of the role's incentive paid through components on this
        measure, under this plan; NaN when no incentive is paid).
    """
    scen = _as_scen(scenario)
    rows = []
    for o in _rep_pass(scen, plans, trials, rng, behaviour)[1]:
        plan, rname, measures, pay = o.plan, o.role, o.measures, o.pay
        kinds = scen.roles[rname].measure_kinds
        tot = float(pay.incentive.sum())
        comp_measure = {c.name: c.measure for c in scen.role_plan(plan, rname).components}
        for m, x in measures.items():
            kind = kinds.get(m, "flow")
            per = x.sum(axis=-1) if kind == "flow" else x.mean(axis=-1)
            by_trial = per.mean(axis=1)
            paid = sum(float(v.sum()) for n, v in pay.components.items() if comp_measure.get(n) == m)
            rows.append(dict(plan=plan, role=rname, measure=m, kind=kind, mean=float(by_trial.mean()),
                             se=float(by_trial.std(ddof=1) / np.sqrt(len(by_trial))) if len(by_trial) > 1 else float("nan"),
                             incentive_share=paid / tot if tot > 0 else float("nan")))
    return pd.DataFrame(rows, columns=["plan", "role", "measure", "kind", "mean", "se", "incentive_share"])


def _as_scen(scenario: Any):
    from simlib.fit.individuals import load_scenario  # with the history it names applied
    from simlib.scenario import Scenario

    return scenario if isinstance(scenario, Scenario) else load_scenario(resolve_path(scenario))


def rep_outcomes(
    scenario: Any,
    plans: Sequence[str] | None = None,
    *,
    trials: int = 20,
    rng: int | None = 0,
    behaviour: str | Any | None = None,
) -> pd.DataFrame:
    """Rep-level attainment and pay for the first ``trials`` trials of a run.

    It uses the engine's own pieces (:func:`simlib.model.population.draw_chunk`,
    :func:`simlib.model.plans.set_quotas`, :func:`simlib.model.production.run_year`,
    :func:`simlib.model.plans.compute_pay`) with the same per-trial random streams,
    so trial ``t`` here is trial ``t`` of :func:`simlib.simulate` with the same
    ``rng``: every plan sees the same reps (common random numbers).

    Parameters
    ----------
    scenario : Scenario or path
    plans : list of str, optional
        Plans (default: all).
    trials : int
        Trials to draw (a few dozen give smooth histograms: 200 reps each).
    rng : int or None
        Seed, as for :func:`simlib.simulate`.
    behaviour : str or model
        Behaviour model, as for :func:`simlib.simulate` (None: the scenario's ``behaviour.mode``).

    Returns
    -------
    DataFrame
        One row per plan, role, trial and rep: plan, role, trial, rep,
        attainment (fraction of quota), quota, base (base salary) and revenue
        (money per year), incentive (money per year), payout (incentive / target incentive,
        multiple), capped (bool).
    """
    frames = []
    tr, outcomes = _rep_pass(scenario, plans, trials, rng, behaviour)
    for o in outcomes:
        plan, rname, measures, pay = o.plan, o.role, o.measures, o.pay
        T, R = pay.incentive.shape
        ti = np.broadcast_to(np.asarray(pay.target_incentive, dtype=float), (R,))  # per rep with a roster
        frames.append(pd.DataFrame({
            "plan": plan,
            "role": rname,
            "trial": np.repeat(tr, R),
            "rep": np.tile(np.arange(R), T),
            "attainment": pay.attainment.ravel(),
            "quota": pay.quota.ravel(),
            "base": np.broadcast_to(np.asarray(pay.base, dtype=float), (T, R)).ravel(),  # per rep with a roster
            "revenue": measures["revenue"].sum(axis=-1).ravel(),
            "incentive": pay.incentive.ravel(),
            "payout": np.where(ti > 0, pay.incentive / np.where(ti > 0, ti, 1.0), np.nan).ravel(),
            "capped": pay.capped.ravel(),
        }))
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------
# Pay curves (drawn from the compiled schedules)
# ----------------------------------------------------------------------


def pay_curve_table(scenario: Any, plans: Sequence[str] | None = None, *, x_max: float = 2.0, n: int = 201) -> pd.DataFrame:
    """Each revenue-attainment pay element of each plan and role as a curve.

    Components paid on attainment (``curve``, ``commission``, ``lump_sum``)
    are compiled with :func:`simlib.model.paycurves.compile_component` and evaluated
    on an attainment grid, assuming the same attainment in every period.
    Pay is expressed as a multiple of the role's target incentive: a curve's
    output times its weight; a commission's output (money per unit of quota)
    times the role's expected annual quota (plan level x expected revenue of
    an average ramped rep); a lump sum's steps times the number of periods.
    Gates, modifiers, team weighting and per-unit bonuses are not drawn (they
    depend on other measures).

    Returns
    -------
    DataFrame
        plan, role, component, kind, measure, attainment, payout (multiple of
        target incentive), capped (bool).
    """
    from simlib.model.paycurves import compile_component, evaluate
    from simlib.model.plans import expected_quota
    from simlib.scenario import PERIODS

    scen = _as_scen(scenario)
    x = np.linspace(0.0, x_max, n)
    rows = []
    for p in plans or list(scen.plans):
        for rname in scen.roles:
            rp = scen.role_plan(p, rname)
            ti = scen.target_incentive(p, rname)
            if ti <= 0:
                continue
            for c in rp.components:
                if c.kind == "per_unit" or (c.kind != "curve" and c.measure != "revenue"):
                    continue
                y, capped = evaluate(compile_component(c), x)
                if c.kind == "curve":
                    mult = y * c.weight
                elif c.kind == "commission":
                    mult = y * expected_quota(scen, p, rname) / ti
                else:
                    mult = y * PERIODS[c.period] / ti
                rows.append(pd.DataFrame({
                    "plan": p, "role": rname, "component": c.name, "kind": c.kind, "measure": c.measure,
                    "attainment": x, "payout": mult, "capped": capped,
                }))
    cols = ["plan", "role", "component", "kind", "measure", "attainment", "payout", "capped"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)


# ----------------------------------------------------------------------
# Budget risk
# ----------------------------------------------------------------------


def budget_risk(result: Any, budget: float | None = None) -> pd.DataFrame:
    """P(incentive cost over budget) and P95 cost per plan, with Monte Carlo errors.

    Parameters
    ----------
    result : SimulationResult
    budget : float, optional
        Incentive budget (money per year); default the scenario's, read from
        the result's ``over_budget`` metric when no number is given.

    Returns
    -------
    DataFrame
        plan, mean_cost, mean_cost_se, p95_cost, p95_ci_low, p95_ci_high (money per year),
        p_over_budget, p_over_budget_se (probability), budget, trials.
    """
    from simlib.model.metrics import quantile_with_ci

    tr = result.trials()
    tot = tr[tr["group"] == "total"]
    rows = []
    for plan, sub in tot.groupby("plan", sort=False):
        c = sub["incentive_cost"].to_numpy(dtype=float)
        est, _, lo, hi = quantile_with_ci(c, 0.95)
        if budget is not None:
            over = (c > budget).astype(float)
            p, se = float(over.mean()), float(over.std(ddof=1) / np.sqrt(len(over)))
        else:
            s = result.summary()
            r = s[(s["plan"] == plan) & (s["group"] == "total") & (s["metric"] == "over_budget")]
            p = float(r["mean"].iloc[0]) if len(r) else float("nan")
            se = float(r["se"].iloc[0]) if len(r) else float("nan")
        rows.append(dict(plan=plan, mean_cost=float(c.mean()),
                         mean_cost_se=float(c.std(ddof=1) / np.sqrt(len(c))) if len(c) > 1 else float("nan"),
                         p95_cost=est, p95_ci_low=lo, p95_ci_high=hi,
                         p_over_budget=p, p_over_budget_se=se, budget=budget, trials=len(c)))
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------
# Sweeps: target level x team weighting
# ----------------------------------------------------------------------


def run_sweep(
    scenario: Any,
    params: Mapping[str, Sequence[Any]],
    *,
    base_plan: str | None = None,
    trials: int = 200,
    rng: int | None = 0,
    behaviour: str | Any | None = None,
    progress: bool = False,
    executor: Any = None,
    behaviour_draws: int = 0,
) -> pd.DataFrame:
    """Grid sweep over plan parameters: :func:`simlib.design.sweep.run_sweep` with ``design="grid"``.

    ``behaviour_draws`` K >= 1 runs every point under K behavioural parameter
    draws (adds ``model_sd``, ``diff_model_sd``, ``diff_share_positive``).

    Returns
    -------
    DataFrame
        Columns point, <parameter names>, group, metric, mean, se, ci_low,
        ci_high, n, seed (one tidy row per point x group x metric).
    """
    from simlib.design.sweep import run_sweep as _run_sweep

    scen = _as_scen(scenario)
    return _run_sweep(scen, dict(params), base_plan=base_plan, trials=trials, rng=rng, behaviour=behaviour,
                      design="grid", executor=executor, progress=progress, behaviour_draws=behaviour_draws)


# ----------------------------------------------------------------------
# Behavioural uncertainty
# ----------------------------------------------------------------------


def simulate_ensemble(scenario: Any, plans: Sequence[str] | None = None, *, draws: int = 16, trials: int = 200,
                      rng: int | None = 0, behaviour: str | Any | None = None, executor: Any = None,
                      progress: bool = False) -> Any:
    """Plans under ``draws`` behavioural parameter draws on common random numbers (a path is resolved as in notebooks).

    Returns an :class:`simlib.engine.ensemble.EnsembleResult`; pass it to
    :func:`uncertainty_table`, and to :func:`show_provenance` (it records the
    priors, the design seed and each draw's parameters).
    """
    from simlib.engine.ensemble import simulate_ensemble as _ensemble

    return _ensemble(_as_scen(scenario), plans, draws=draws, trials=trials, rng=rng, behaviour=behaviour,
                     executor=executor, progress=progress)


def uncertainty_table(ensemble: Any, metrics: Sequence[str] = ("profit", "revenue", "incentive_cost"),
                      group: str = "total") -> pd.DataFrame:
    """Each plan against the reference with Monte Carlo and model uncertainty side by side, and sign robustness.

    Parameters
    ----------
    ensemble : EnsembleResult
        From :func:`simulate_ensemble`.
    metrics : list of str
        Metrics to show (units as in ``summary()``: money per year, fractions, indices).
    group : str
        Role or ``"total"``.

    Returns
    -------
    DataFrame
        One row per plan and metric: ``difference`` (text, mean ± MC 95% half-width),
        ``model`` (± 95% half-width over behaviours), ``diff``, ``mc_se``,
        ``model_sd``, ``ci_low``, ``ci_high`` (total 95% interval),
        ``share_positive`` (draws where the difference is above 0) and ``verdict``
        (e.g. "team weighted beats current on profit in 94% of plausible behaviours (15 of 16 draws)", plans in words).
    """
    from simlib.engine.ensemble import robustness_sentence
    from simlib.format import estimate, spread

    d = ensemble.differences()
    d = d[(d["group"] == group) & d["metric"].isin(list(metrics))].copy()
    d["metric"] = pd.Categorical(d["metric"], categories=list(metrics), ordered=True)
    d = d.sort_values(["plan", "metric"], kind="stable")
    d["difference"] = [estimate(r.diff, r.mc_se, signed=True) for r in d.itertuples()]
    d["model"] = [spread(r.model_sd, r.diff, r.mc_se) for r in d.itertuples()]
    # plans in words, as the report's answer names them ("team weighted beats current ...")
    d["verdict"] = [robustness_sentence(present.readable(r.plan), present.readable(r.reference), str(r.metric),
                                        r.n_positive, r.n_negative, r.draws)
                    for r in d.itertuples()]
    d["metric"] = d["metric"].astype(str)
    cols = ["plan", "reference", "metric", "difference", "model", "diff", "mc_se", "model_sd", "ci_low", "ci_high",
            "share_positive", "verdict"]
    return d[cols].reset_index(drop=True)


def figure_alt(fig: Any) -> str:
    """What a matplotlib Figure shows, in words, for the alt text of its image.

    Its title, else what its first chart plots (``"y against x"``, from the axes' labels; a lone label only
    where the charts have no titles), then its charts' own titles: ``"Payout against attainment: telesales; key accounts"``; "Figure" when it has none of them.
    """
    def words(text: str) -> str:
        return " ".join(str(text).split())

    axes = [ax for ax in fig.axes if ax.get_visible()]
    titles = [words(ax.get_title(loc)) for ax in axes for loc in ("left", "center", "right")]
    titles = list(dict.fromkeys(t for t in titles if t))  # each once, in order
    head = words(fig.get_suptitle())
    if not head and axes:
        y, x = words(axes[0].get_ylabel()), words(axes[0].get_xlabel())
        if y and x:
            head = f"{y} against {x}"
        elif not titles:  # a lone label (a unit) says little beside the charts' titles
            head = y or x
    if head and titles:
        return f"{head}: {'; '.join(titles)}"
    return head or "; ".join(titles) or "Figure"


def show(fig: Any, alt: str | None = None) -> None:
    """Display a matplotlib Figure in a notebook (PNG, embedded in HTML reports) and free it.

    ``alt``: what the figure shows, the alt text of its image in HTML reports (default
    :func:`figure_alt`: its titles), kept in the output's metadata (``"image/png": {"alt": ...}``) for
    :func:`simlib.report.build.render_html`. Outside IPython the figure is left alone (nothing is printed).
    """
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:  # pragma: no cover - IPython is a dependency
        return
    if get_ipython() is None:
        return
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    display(Image(data=buf.getvalue(), format="png", metadata={"alt": alt or figure_alt(fig)}))
    import matplotlib.pyplot as plt

    plt.close(fig)  # a pyplot figure would otherwise be drawn a second time at the end of the cell


def plan_components(scenario: Any, plans: Sequence[str] | None = None) -> pd.DataFrame:
    """What each plan pays for, by role: one row per component, gate, modifier, team rule and award.

    Returns
    -------
    DataFrame
        plan, role, element (component name, or gate / modifier / team /
        recognition), measure, kind, weight, period, detail (readable text).
    """
    scen = _as_scen(scenario)
    rows = []
    for p in plans or list(scen.plans):
        for rname in scen.roles:
            rp = scen.role_plan(p, rname)
            for c in rp.components:
                if c.kind == "curve":
                    det = "points " + ", ".join(f"{x:g}->{y:g}" for x, y in c.points)
                elif c.kind == "commission":
                    det = f"{c.mode} tiers " + ", ".join(f"from {t.start:g}: {t.rate:g}" for t in c.tiers)
                elif c.kind == "per_unit":
                    det = f"{c.rate:g} per unit"
                else:
                    det = "steps " + ", ".join(f"{s.at:g}: {s.amount:g}" for s in c.steps)
                det += f"; cap {c.cap:g}" if c.cap is not None else "; uncapped"
                if c.ytd_true_up:
                    det += "; year-to-date true-up"
                rows.append(dict(plan=p, role=rname, element=c.name, measure=c.measure, kind=c.kind,
                                 weight=c.weight if c.kind == "curve" else None, period=c.period, detail=det))
            rows += _scorecard_rows(p, rname, rp.scorecards, scen.roles[rname].measure_kinds)
            for g in rp.gates:
                rows.append(dict(plan=p, role=rname, element="gate", measure=g.measure, kind="gate", weight=None,
                                 period="year",
                                 detail=f"pays {', '.join(present.readable(c) for c in g.components or ['all'])} "
                                        f"only at attainment >= {g.min_attainment:g}"))
            for m in rp.modifiers:
                rows.append(dict(plan=p, role=rname, element="modifier", measure=m.measure, kind="modifier",
                                 weight=None, period="year",
                                 detail="multiplier " + ", ".join(f"{x:g}->{y:g}" for x, y in m.points)))
            if rp.team.weight > 0:
                rows.append(dict(plan=p, role=rname, element="team", measure="revenue", kind="team", weight=rp.team.weight,
                                 period="year", detail=f"{rp.team.weight:.0%} of incentive on the team result, split {present.readable(rp.team.split)}"))
            if rp.recognition is not None:
                r = rp.recognition
                rows.append(dict(plan=p, role=rname, element="recognition", measure=r.measure, kind="award", weight=None,
                                 period="year", detail=f"top {r.top_k} recognised, valued {r.value:g} each"))
    return pd.DataFrame(rows, columns=["plan", "role", "element", "measure", "kind", "weight", "period", "detail"])


def components_view(comp: pd.DataFrame) -> pd.DataFrame:
    """:func:`plan_components` as a reader sees it: headers in words, plans, roles, elements, measures and kinds by
    display name (:func:`simlib.present.readable`: ``large_order_value`` reads ``large order value``).

    The frame's data stay ids (results JSON, tests); only this view is for display. Columns it lacks are skipped.
    """
    words = {"plan": "Plan", "role": "Role", "element": "Element", "measure": "Measure", "kind": "Kind",
             "weight": "Weight", "period": "Period", "detail": "Detail"}
    out = comp.copy()
    for c in ("plan", "role", "element", "measure", "kind", "period"):
        if c in out:
            out[c] = [x if x is None or (isinstance(x, float) and x != x) else present.readable(x) for x in out[c]]
    return out.rename(columns=words)


def measures_view(acts: pd.DataFrame, index: Sequence[str] = ("role", "measure"), *, shares: bool = True) -> pd.DataFrame:
    """:func:`measure_means` as a table per measure with one column per plan (``per rep and year: harder target``,
    and with ``shares`` ``share of incentive: ...``; without, the plan alone): roles, measures and plans by display
    name, headers in words."""
    values = ["mean", "incentive_share"] if shares else ["mean"]
    wide = acts.pivot_table(index=list(index), columns="plan", values=values, sort=False)
    wide.columns = [f"{'per rep and year' if v == 'mean' else 'share of incentive'}: {present.readable(p)}"
                    if len(values) > 1 else present.readable(p) for v, p in wide.columns]
    wide = wide.reset_index()
    for c in index:
        wide[c] = [present.readable(x) for x in wide[c]]
    return wide.rename(columns={c: c.capitalize() for c in index})


def _scale_text(sc) -> str:
    """A score scale as text: its intervals (``[from, to) -> score``) or its curve points."""
    if sc.intervals is not None:
        return "scores " + ", ".join(f"{i.start:g}-{'' if i.end is None else f'{i.end:g}'}: {i.score:g}"
                                     for i in sc.intervals)
    return "curve " + ", ".join(f"{x:g}->{y:g}" for x, y in sc.curve)


def _scorecard_rows(plan: str, role: str, cards, kinds: Mapping[str, str]) -> list[dict[str, Any]]:
    """:func:`plan_components` rows of a role plan's scorecards: one per scored measure, then the payout."""
    rows = []
    for sc in cards:
        for sm in sc.measures:
            target = "quota" if sm.target == "quota" else f"{sm.target:g}" + (" a year" if kinds[sm.measure] == "flow" else "")
            rows.append(dict(plan=plan, role=role, element=sc.name, measure=sm.measure, kind="scorecard", weight=None,
                             period=sc.period, detail=f"weight {sm.weight:g} of {sc.total:g}; target {target}; "
                                                   f"{_scale_text(sm)}"))
        rows.append(dict(plan=plan, role=role, element=sc.name, measure="composite score", kind="scorecard",
                         weight=sc.weight, period=sc.period,
                         detail=f"payout {_scale_text(sc.payout)} x target incentive; nothing below {sc.min_score:g}"
                                + (f"; cap {sc.cap:g}" if sc.cap is not None else "")))
    return rows


def role_examples(path: str, plan: str, *, trials: int = 20, rng: int | None = 0,
                  behaviour: str | None = None) -> dict[str, Any] | None:
    """A role-examples scenario's plan against its current plan, role by role (the role-schemes notebook).

    Parameters
    ----------
    path : str
        Scenario file (e.g. ``scenarios/role_examples.yaml``: each role's
        scheme as a performance-management document describes it); empty:
        None.
    plan : str
        The plan to show beside the scenario's current plan.
    trials, rng, behaviour
        As :func:`measure_means` (the same trials give the metric levels).

    Returns
    -------
    dict or None
        ``scenario``, ``result`` (the simulation of both plans), and
        ``roles``: role -> dict of ``components`` (:func:`plan_components`
        rows of the plan) and ``measures`` (:func:`measure_means` rows of
        both plans).
    """
    from simlib.engine.api import simulate
    from simlib.errors import PlanError

    if not path:
        return None
    scen = _as_scen(path)
    if plan not in scen.plans:
        raise PlanError(f"{path}: no plan '{plan}', expected one of {sorted(scen.plans)}")
    plans = [scen.current_plan, plan] if plan != scen.current_plan else [plan]
    res = simulate(scen, plans, trials=max(int(trials), 2), rng=rng, reference=scen.current_plan, behaviour=behaviour)
    comp = plan_components(scen, [plan])
    acts = measure_means(scen, plans, trials=trials, rng=rng, behaviour=behaviour)
    roles = {r: dict(components=comp[comp.role == r], measures=acts[acts.role == r]) for r in scen.roles}
    return dict(scenario=scen, result=res, roles=roles)


# ----------------------------------------------------------------------
# Several years: people and money
# ----------------------------------------------------------------------


def people_years(scenario: Any, plans: Sequence[str] | None = None, *, years: int = 3, trials: int = 200,
                 rng: int | None = 0, behaviour: str | None = None, attrition: str = "on") -> Any:
    """Every plan over ``years`` years with attrition and backfill (:func:`simlib.engine.years.run_years`).

    ``attrition``: ``"on"`` switches the scenario's ``people.attrition`` on (its parameters, or the defaults),
    ``"off"`` off, ``"scenario"`` keeps the scenario's choice. A path is resolved as in notebooks.
    """
    from simlib.engine.core import resolve_behaviour
    from simlib.engine.years import run_years
    from simlib.errors import PlanError
    from simlib.scenario import scenario_from_dict

    scen = _as_scen(scenario)
    if attrition not in ("on", "off", "scenario"):
        raise PlanError(f"attrition: expected 'on', 'off' or 'scenario', got {attrition!r}")
    if attrition != "scenario" and scen.people.attrition.enabled != (attrition == "on"):
        data = scen.model_dump(by_alias=True)
        data["people"]["attrition"]["enabled"] = attrition == "on"
        scen = scenario_from_dict(data, scen.source)
    return run_years(scen, plans or None, years=years, trials=trials, rng=rng,
                     behaviour=resolve_behaviour(scen, behaviour or None))
