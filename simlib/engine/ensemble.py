"""Behavioural uncertainty: an ensemble of runs over parameter draws on common random numbers.

The behaviour model's parameters are not known for an organisation. Each has
a prior (:mod:`simlib.priors`, docs/model.md section 4.11). This module draws
``K`` parameter sets from the priors (draw 0 at the priors' centre, the rest
a scrambled Sobol' or Latin hypercube design with its own seed), runs every
draw on the *same* common random numbers for all plans, and combines:

* ``mean``: the mean over draws of each draw's Monte Carlo mean (over the
  draws where the metric is defined: a rank correlation can be undefined in
  every trial of one draw);
* ``mc_se``: the pooled Monte Carlo SE, ``sqrt(mean_k se_k**2)`` (the draws
  share their random numbers, so their errors are nearly the same and do not
  average out), over the draws that have one (a metric seen in a single trial
  of a draw has none there);
* ``model_sd``: the between-draw SD of the draw means (behavioural, or model,
  uncertainty; 0 when every prior is a single value);
* ``total_sd = sqrt(mc_se**2 + model_sd**2 * (1 + 1/K))`` and the interval
  ``mean ± Z95 * total_sd`` (normal predictive interval for the value under an
  unknown behaviour drawn from the prior);
* for paired differences also ``n_positive`` / ``share_positive``: in how many
  draws the plan's difference to the reference is above 0 (sign robustness).

Draw ``k``'s scenario depends only on the scenario, the priors, the design
seed and method and ``k`` (for ``sobol``, not on ``K``: more draws extend the
same sequence), and each draw is an ordinary run, so the same seeds give the
same numbers for any chunk size and executor.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from simlib.engine.core import simulate_raw
from simlib.engine.results import SimulationResult, metric_table
from simlib.errors import PlanError
from simlib.format import Z95, estimate, spread
from simlib.model.population import root_seed
from simlib.priors import PRIORS, Prior
from simlib.scenario import Scenario, scenario_from_dict

#: metrics where a higher value is better for the firm ("beats" in :func:`robustness_sentence`)
HIGHER_IS_BETTER = frozenset({"revenue", "gross_profit", "profit"})
#: metrics where a lower value is better for the firm
LOWER_IS_BETTER = frozenset({"incentive_cost", "total_comp", "comp_cost_of_sales", "discount_cost",
                             "p95_incentive_cost", "p95_total_comp"})
_KEYS = ["plan", "group", "metric"]


def scenario_priors(scenario: Scenario) -> dict[str, Prior]:
    """The priors of a scenario: :data:`simlib.priors.PRIORS` with ``behaviour.uncertainty.priors`` applied."""
    out = dict(PRIORS)
    for name, spec in scenario.behaviour.uncertainty.priors.items():
        base = PRIORS[name]
        out[name] = Prior(base.path, spec.dist or base.dist, float(spec.low), float(spec.high), base.valid,
                          spec.source or f"scenario override (default: {base.low}-{base.high}, {base.source})")
    return out


def design_unit(draws: int, dims: int, seed: int = 0, method: str = "sobol") -> np.ndarray:
    """Points in the unit cube, shape ``(draws, dims)``: row 0 the centre, then the design.

    Rows 1.. are the first ``draws - 1`` points of a scrambled Sobol' sequence
    (``method="sobol"``; a row does not depend on ``draws``) or a Latin
    hypercube of ``draws - 1`` points (``"lhs"``), both seeded by ``seed``.
    """
    from scipy.stats import qmc

    if draws < 1:
        raise PlanError(f"behaviour draws: expected an integer >= 1, got {draws!r}")
    out = np.full((draws, dims), 0.5)
    if draws > 1 and dims > 0:
        if method == "sobol":
            with warnings.catch_warnings():  # balance needs 2**m points; we want a prefix of the sequence
                warnings.simplefilter("ignore", UserWarning)
                out[1:] = qmc.Sobol(dims, scramble=True, seed=seed).random(draws - 1)
        elif method == "lhs":
            out[1:] = qmc.LatinHypercube(dims, seed=seed).random(draws - 1)
        else:
            raise PlanError(f"behaviour design method: expected 'sobol' or 'lhs', got {method!r}")
    return out


def draw_parameters(scenario: Scenario, draws: int, seed: int | None = None, method: str | None = None) -> pd.DataFrame:
    """The parameter values of each draw: one row per draw ``k``, one column per prior (its unit)."""
    unc = scenario.behaviour.uncertainty
    priors = scenario_priors(scenario)
    u = design_unit(int(draws), len(priors), unc.seed if seed is None else int(seed), method or unc.method)
    cols = {name: p.quantile(u[:, j]) for j, (name, p) in enumerate(priors.items())}
    return pd.DataFrame(cols, index=pd.RangeIndex(int(draws), name="draw"))


def scenario_for_draw(scenario: Scenario, values: dict[str, float]) -> Scenario:
    """The scenario with behavioural parameters set to ``values`` (name -> value, see :data:`simlib.priors.PRIORS`).

    ``effort_elasticity_scale`` multiplies every role's ``effort_elasticity``
    (capped at 1, the schema's limit); the others replace a field of the
    ``behaviour:`` section.
    """
    data = copy.deepcopy(scenario.model_dump(by_alias=True))
    for name, v in values.items():
        path = PRIORS[name].path
        if path == "roles.*.effort_elasticity":
            for role in data["roles"].values():
                role["effort_elasticity"] = min(1.0, role["effort_elasticity"] * float(v))
        else:
            part, key = path.split(".")
            data["behaviour"][part][key] = float(v)
    return scenario_from_dict(data, scenario.source)


def total_sd(mc_se: Any, model_sd: Any, draws: int) -> Any:
    """SD of a prediction under behavioural uncertainty: ``sqrt(mc_se**2 + model_sd**2 * (1 + 1/draws))``.

    Parameters
    ----------
    mc_se : float or array
        Monte Carlo standard error, in the metric's unit.
    model_sd : float or array
        Between-draw SD over ``draws`` behavioural parameter draws, same unit.
    draws : int
        Number of draws K (the ``1/K`` term is the error of the ensemble mean).
    """
    return np.sqrt(np.square(mc_se) + np.square(model_sd) * (1.0 + 1.0 / max(int(draws), 1)))


def widen_interval(low: Any, high: Any, model_sd: Any, draws: int, level: float = 0.95) -> tuple[Any, Any]:
    """Widen a central interval by behavioural uncertainty (hook for prediction intervals, e.g. backtests).

    With ``z`` the normal quantile of ``level`` (1.96 for 0.95, 1.64 for
    0.90), the half-width ``h = (high - low) / 2`` becomes
    ``sqrt(h**2 + (z * model_sd)**2 * (1 + 1/draws))`` around the same
    centre (variances add). ``model_sd`` comes from :func:`simulate_ensemble`
    (``summary()``'s or ``differences()``'s ``model_sd`` column, in the
    interval's unit). For quantile intervals of simulated outcomes, pooling
    the outcomes of every :func:`draw_scenarios` scenario is the alternative
    that keeps the distribution's shape.

    Returns
    -------
    tuple
        ``(low, high)``, of the inputs' type.
    """
    from statistics import NormalDist

    if not 0.0 < level < 1.0:
        raise PlanError(f"level: expected a probability between 0 and 1, got {level!r}")
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    centre, half = (low + high) / 2.0, (high - low) / 2.0
    wide = np.sqrt(np.square(half) + np.square(z * model_sd) * (1.0 + 1.0 / max(int(draws), 1)))
    return centre - wide, centre + wide


def draw_scenarios(scenario: Scenario, draws: int | None = None, seed: int | None = None,
                   method: str | None = None) -> list[Scenario]:
    """Scenario ``k`` of each behavioural draw (the same ones :func:`simulate_ensemble` runs).

    For code that simulates in its own way (e.g. a backtest's per-trial
    outcomes): run each on the same seed and pool or compare. ``draws``,
    ``seed`` and ``method`` default to the scenario's ``behaviour.uncertainty``.
    """
    unc = scenario.behaviour.uncertainty
    k = unc.draws if draws is None else int(draws)
    params = draw_parameters(scenario, k, seed, method)
    return [scenario_for_draw(scenario, params.iloc[i].to_dict()) for i in range(k)]


def combine(frames: Sequence[pd.DataFrame], value: str = "mean", keys: Sequence[str] = _KEYS) -> pd.DataFrame:
    """Combine per-draw tables (one per draw, same rows) into ensemble rows.

    Parameters
    ----------
    frames : list of DataFrame
        Draw ``k``'s ``summary()`` (``value="mean"``) or ``differences()``
        (``value="diff"``), with column ``se``.
    value : str
        The estimate's column.
    keys : list of str
        Columns identifying a row.

    Returns
    -------
    DataFrame
        One row per key: ``value`` (mean over draws), ``mc_se``, ``model_sd``,
        ``total_sd``, ``ci_low``, ``ci_high`` (``value ± Z95 * total_sd``),
        ``n_positive``, ``n_negative``, ``share_positive`` (of draws), ``draws``,
        plus the other key-level columns of the first frame (e.g. ``n``, ``unit``).
    """
    K = len(frames)
    if K == 0:
        raise PlanError("combine: expected at least one draw")
    keys = list(keys)
    first = frames[0].reset_index(drop=True)
    idx = pd.MultiIndex.from_frame(first[keys])
    aligned = [f.set_index(keys).reindex(idx) for f in frames]  # rows matched by key, not by position
    vals = np.column_stack([f[value].to_numpy(float) for f in aligned])
    ses = np.column_stack([f["se"].to_numpy(float) for f in aligned])
    out = first[keys].copy()
    full = np.isfinite(vals).all(axis=1)  # a metric undefined in every trial of a draw has no row there
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # rows without two defined draws: NaN, as they should be
        part_mean, part_sd = np.nanmean(vals, axis=1), np.nanstd(vals, axis=1, ddof=1)
    out[value] = np.where(full, vals.mean(axis=1), part_mean)  # over the draws where it is defined
    # over the draws that have an SE (a metric seen in one trial of a draw has none); undefined if no draw has one
    sq = np.square(ses)
    seen = np.isfinite(sq)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["mc_se"] = np.sqrt(np.where(seen, sq, 0.0).sum(axis=1) / seen.sum(axis=1))
    # SD of the deviations from draw 0 (shift-invariant): exactly 0 when every draw gives the same number
    out["model_sd"] = np.where(full, (vals - vals[:, :1]).std(axis=1, ddof=1), part_sd) if K > 1 else 0.0
    out["total_sd"] = total_sd(out["mc_se"], out["model_sd"], K)
    out["ci_low"], out["ci_high"] = out[value] - Z95 * out["total_sd"], out[value] + Z95 * out["total_sd"]
    out["n_positive"] = (vals > 0).sum(axis=1)
    out["n_negative"] = (vals < 0).sum(axis=1)
    out["share_positive"] = out["n_positive"] / K
    out["draws"] = K
    for c in ("reference", "n", "unit"):
        if c in first.columns and c not in keys:
            out[c] = first[c].to_numpy()
    return out


def robustness_sentence(plan: str, reference: str, metric: str, n_positive: int, n_negative: int, draws: int) -> str:
    """Say whether a comparison's sign holds across the prior.

    E.g. ``"team_weighted beats current on profit in 94% of plausible behaviours (15 of 16 draws)"``.
    "Beats" follows the metric's direction (:data:`HIGHER_IS_BETTER`,
    :data:`LOWER_IS_BETTER`); other metrics say "is above" / "is below". The
    sentence names the side that wins in more draws.

    Parameters
    ----------
    plan, reference : str
        The compared plan and the reference plan.
    metric : str
        Metric name.
    n_positive, n_negative : int
        Draws where ``plan - reference`` is above / below 0.
    draws : int
        Draws in the ensemble.
    """
    n_positive, n_negative, draws = int(n_positive), int(n_negative), int(draws)
    if n_positive == 0 and n_negative == 0:
        return f"{plan} and {reference} tie on {metric} in all {draws} draws"
    up = n_positive >= n_negative
    n = n_positive if up else n_negative
    if metric in HIGHER_IS_BETTER or metric in LOWER_IS_BETTER:
        plan_wins = up == (metric in HIGHER_IS_BETTER)
        a, b = (plan, reference) if plan_wins else (reference, plan)
        verb = "beats"
    else:
        a, b, verb = plan, reference, "is above" if up else "is below"
    return f"{a} {verb} {b} on {metric} in {100 * n / draws:.0f}% of plausible behaviours ({n} of {draws} draws)"


@dataclass
class EnsembleResult:
    """What :func:`simulate_ensemble` returns: one run per behavioural draw, combined.

    Attributes
    ----------
    runs : list of SimulationResult
        Draw ``k``'s ordinary result (same trials and random numbers for every draw).
    parameters : DataFrame
        Draw ``k``'s parameter values (one column per prior, its unit).
    priors : dict
        Name -> :class:`simlib.priors.Prior` used.
    provenance : dict
        Draw 0's provenance plus ``behaviour_draws``, ``behaviour_design``,
        ``behaviour_design_seed``, ``priors`` and ``draw_parameters``.
    """

    runs: list[SimulationResult]
    parameters: pd.DataFrame
    priors: dict[str, Prior]
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def draws(self) -> int:
        return len(self.runs)

    @property
    def plans(self) -> list[str]:
        return self.runs[0].plans

    @property
    def reference(self) -> str:
        return self.runs[0].reference

    @property
    def groups(self) -> list[str]:
        return self.runs[0].groups

    def summary(self) -> pd.DataFrame:
        """Per plan, group and metric: ``mean`` over draws, ``mc_se``, ``model_sd``, ``total_sd``, 95% interval, n, draws, unit."""
        df = combine([r.summary() for r in self.runs], "mean")
        return df[[*_KEYS, "mean", "mc_se", "model_sd", "total_sd", "ci_low", "ci_high", "n", "draws", "unit"]]

    def differences(self) -> pd.DataFrame:
        """Paired differences vs the reference, combined over draws, with sign robustness (``share_positive``)."""
        df = combine([r.differences() for r in self.runs], "diff")
        return df[["plan", "reference", "group", "metric", "diff", "mc_se", "model_sd", "total_sd", "ci_low",
                   "ci_high", "n_positive", "n_negative", "share_positive", "n", "draws"]]

    def sentences(self, metric: str = "profit", group: str = "total") -> list[str]:
        """One :func:`robustness_sentence` per compared plan, for ``metric`` of ``group``."""
        d = self.differences()
        d = d[(d["metric"] == metric) & (d["group"] == group)]
        return [robustness_sentence(r.plan, r.reference, metric, r.n_positive, r.n_negative, r.draws)
                for r in d.itertuples()]

    def table(self, group: str = "total", metrics: list[str] | None = None) -> pd.DataFrame:
        """Readable comparison: per plan the estimate (mean ± MC half-width) and a ``model ±`` column.

        Per paired difference also ``> 0``: the draws where it is above 0
        (e.g. ``"15/16"``). Cells come from :func:`simlib.format.estimate` and
        :func:`simlib.format.spread`.
        """
        ref, k = self.reference, self.draws

        def level(p, r):
            return {p: estimate(r["mean"], r["mc_se"]), f"{p} model": spread(r["model_sd"], r["mean"], r["mc_se"])}

        def difference(p, r):
            name = f"{p} - {ref}"
            return {name: estimate(r["diff"], r["mc_se"]), f"{name} model": spread(r["model_sd"], r["diff"], r["mc_se"]),
                    f"{name} >0": f"{r['n_positive']}/{k}"}

        return metric_table(self.summary(), self.differences(), self.plans, ref, group=group, metrics=metrics,
                            level=level, difference=difference)

    def readable(self, group: str = "total", metrics: list[str] | None = None,
                 currency: str | None = None) -> pd.DataFrame:
        """A group's comparison as ``simlib run --behaviour-draws`` prints it, rows by display name.

        Per plan the estimate with its Monte Carlo ``±`` and a ``model ±``
        column (the 95% half-width of the spread over behavioural draws); per
        paired difference ``Δ plan``, its ``model ±`` and ``>0``, the draws in
        which it is above 0 (``"15/16"``). Money in the scenario's currency
        (``currency`` overrides it) on one k / M scale per row, shares in %.
        :meth:`table` keeps metric ids; :meth:`summary` the numbers.
        """
        import simlib.present as present

        cur = currency or self.provenance.get("currency") or "EUR"

        def model(sd, value, metric):  # a between-draw SD at floating-point noise (an exact figure) is 0
            noise = abs(float(sd)) < 1e-9 * max(1.0, abs(float(value)))
            return "± " + present.half_width(0.0 if noise else sd, metric)

        summary, differences = self.summary(), self.differences()
        lv = present.row_scales(summary[summary["group"] == group], "mean")  # one money scale per row
        dv = present.row_scales(differences[differences["group"] == group], "diff")

        def level(p, r):
            return {p: present.fmt(r["mean"], r["mc_se"], r.name, cur, scale=lv[r.name],  # trials of every draw
                                   trials=int(r["n"]) * self.draws if pd.notna(r["n"]) else None),
                    f"{p} model ±": model(r["model_sd"], r["mean"], r.name)}

        def difference(p, r):
            return {f"Δ {p}": present.fmt(r["diff"], r["mc_se"], r.name, cur, signed=True, scale=dv[r.name]),
                    f"Δ {p} model ±": model(r["model_sd"], r["diff"], r.name),
                    f"Δ {p} >0": f"{r['n_positive']}/{self.draws}"}

        out = metric_table(summary, differences, self.plans, self.reference, group=group, metrics=metrics,
                           level=level, difference=difference)
        out.index = pd.Index([present.label(m) for m in out.index], name="metric")
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: provenance, summary and differences records (non-finite numbers as None)."""

        def clean(df):
            return [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
                    for r in df.to_dict(orient="records")]

        return {"provenance": self.provenance, "summary": clean(self.summary()),
                "differences": clean(self.differences())}

    def to_json(self, **kw) -> str:
        """:meth:`to_dict` as JSON text (NumPy numbers as plain numbers); ``kw`` go to :func:`json.dumps`."""
        import json

        def plain(o):
            if isinstance(o, np.generic):
                v = o.item()
                return None if isinstance(v, float) and not np.isfinite(v) else v
            raise TypeError(f"not JSON serialisable: {type(o).__name__}")

        return json.dumps(self.to_dict(), default=plain, **kw)


def simulate_ensemble(
    scenario: Scenario,
    plans: Sequence[str] | None = None,
    *,
    draws: int | None = None,
    trials: int = 1000,
    rng: int | np.random.SeedSequence | np.random.Generator | None = 0,
    reference: str | None = None,
    behaviour: str | Any | None = None,
    design_seed: int | None = None,
    method: str | None = None,
    chunk_size: int | None = None,
    executor: Any = None,
    progress: bool = False,
) -> EnsembleResult:
    """Simulate plans under ``draws`` behavioural parameter draws, all on the same common random numbers.

    Parameters
    ----------
    scenario : Scenario
        A validated scenario; its ``behaviour.uncertainty`` gives the priors
        and the defaults of ``draws``, ``design_seed`` and ``method``.
    draws : int, optional
        Parameter draws K >= 1 (default: ``behaviour.uncertainty.draws``).
    trials, rng, reference, behaviour, chunk_size, executor, progress
        As in :func:`simlib.simulate`; ``rng`` is turned into one seed that
        every draw reuses (common random numbers across draws and plans).
    design_seed : int, optional
        Seed of the parameter design (default: ``behaviour.uncertainty.seed``).
    method : {"sobol", "lhs"}, optional
        Parameter design (default: ``behaviour.uncertainty.method``).
    """
    unc = scenario.behaviour.uncertainty
    K = unc.draws if draws is None else draws
    if not isinstance(K, (int, np.integer)) or isinstance(K, bool) or K < 1:
        raise PlanError(f"behaviour draws: expected an integer >= 1, got {K!r}")
    dseed = unc.seed if design_seed is None else int(design_seed)
    meth = method or unc.method
    params = draw_parameters(scenario, int(K), dseed, meth)
    root = root_seed(rng)
    it = range(int(K))
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc=f"behaviour draws ({trials} trials each)", unit="draw")
    runs = []
    for k in it:
        scen_k = scenario_for_draw(scenario, params.iloc[k].to_dict())
        raw = simulate_raw(scen_k, plans, trials=trials, rng=root, reference=reference, behaviour=behaviour,
                           chunk_size=chunk_size, executor=executor)
        runs.append(SimulationResult(raw))
    priors = scenario_priors(scenario)
    prov = dict(runs[0].provenance)
    prov.update(
        scenario_sha256=scenario.sha256,
        behaviour_draws=int(K), behaviour_design=meth, behaviour_design_seed=dseed,
        priors={n: {"path": p.path, "dist": p.dist, "low": p.low, "high": p.high, "source": p.source}
                for n, p in priors.items()},
        draw_parameters=params.reset_index().to_dict(orient="records"),
    )
    return EnsembleResult(runs, params, priors, prov)
