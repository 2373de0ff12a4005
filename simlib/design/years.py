"""Sweeps over several years: each design point's plan run for ``years`` years with attrition and hiring
(docs/model.md, section 4.12), so that a plan can be chosen on a multi-year objective such as three-year
profit (``profit_cumulative`` in the last year) or regretted turnover.

The points are built exactly as in a single-year sweep (:mod:`simlib.design.sweep`: aliases, plan paths,
scenario paths such as ``scenario.people.attrition.pay_elasticity``); all points that share the scenario-level
values run together on common random numbers with the base plan, whose paired difference they report.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from simlib.design.sweep import build_variants, design_points, parse_param
from simlib.engine.core import resolve_behaviour
from simlib.engine.years import run_years
from simlib.errors import PlanError
from simlib.scenario import Scenario


def sweep_years(
    scenario: Scenario,
    params: dict[str, Any],
    *,
    base_plan: str | None = None,
    years: int = 3,
    trials: int = 200,
    rng: int | np.random.SeedSequence | None = 0,
    behaviour: str | None = None,
    design: str = "grid",
    n_points: int | None = None,
    design_seed: int = 0,
    chunk: int | None = None,
    executor: Any = None,
) -> pd.DataFrame:
    """The base plan at every point of a parameter design, each over ``years`` years.

    Returns
    -------
    DataFrame
        One row per point, year, group and metric (:data:`simlib.engine.years.YEAR_METRICS`): point, the
        parameter values, year, group, metric, mean, se, ci_low, ci_high, n, and the paired difference from
        the base plan (diff, diff_se, diff_ci_low, diff_ci_high).
    """
    base_plan = base_plan or scenario.current_plan
    if base_plan not in scenario.plans:
        raise PlanError(f"base plan '{base_plan}' is not a plan of {scenario.source}; expected one of {sorted(scenario.plans)}")
    specs = [parse_param(name, scenario) for name in params]
    points = design_points(params, design, n_points, seed=design_seed)
    parts = []
    for scen, base, names in build_variants(scenario, specs, points, base_plan):
        res = run_years(scen, [base] + [n for _, n in names], years=years, trials=trials, rng=rng,
                        behaviour=resolve_behaviour(scen, behaviour), chunk=chunk, executor=executor)
        d = res.diffs.rename(columns={"mean": "diff", "se": "diff_se", "ci_low": "diff_ci_low", "ci_high": "diff_ci_high"})
        d = d.drop(columns="n")
        for i, name in names:
            lv = res.frame[res.frame.plan == name]
            df = lv.merge(d[d.plan == name], on=["plan", "year", "group", "metric"], how="left").drop(columns="plan")
            for spec, v in reversed(list(zip(specs, points[i], strict=True))):
                df.insert(0, spec.name, [v] * len(df))
            df.insert(0, "point", i)
            parts.append(df)
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["point", "year"], kind="stable").reset_index(drop=True)


def best_over_years(
    scenario: Scenario,
    params: dict[str, Any],
    *,
    objective: str = "profit_cumulative",
    maximize: bool = True,
    group: str = "total",
    years: int = 3,
    trials: int = 200,
    rng: int | np.random.SeedSequence | None = 0,
    behaviour: str | None = None,
    design: str = "grid",
    n_points: int | None = None,
    design_seed: int = 0,
    executor: Any = None,
) -> dict[str, Any]:
    """The design point best on a multi-year objective (default: the profit of all ``years`` years), chosen on one
    set of trials and re-evaluated against the base plan on independent trials, so that its estimate and
    paired difference are not biased upwards by the choice.

    Returns
    -------
    dict
        ``point`` and ``values`` (parameter -> value) of the best point; ``selection``: its objective and
        difference on the trials it was chosen on; ``check``: mean, se, ci_low, ci_high, diff, diff_se,
        diff_ci_low, diff_ci_high on the independent trials; ``table``: the sweep's last-year rows of the objective.
    """
    from simlib.engine.years import YEAR_METRICS
    from simlib.model.population import root_seed

    if objective not in YEAR_METRICS:
        raise PlanError(f"objective: '{objective}' is not a multi-year metric; expected one of {sorted(YEAR_METRICS)}")
    kw = dict(years=years, trials=trials, behaviour=behaviour, executor=executor)
    df = sweep_years(scenario, params, design=design, n_points=n_points, design_seed=design_seed, rng=rng, **kw)
    last = df[(df["year"] == years) & (df["group"] == group) & (df["metric"] == objective)]
    if last.empty:
        raise PlanError(f"group: '{group}' is not a role of the scenario or 'total'")
    best = last.loc[last["mean"].idxmax() if maximize else last["mean"].idxmin()]
    values = {name: best[name] for name in params}
    root = root_seed(rng)
    fresh = np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, 1000))  # not a stream of the sweep
    chk = sweep_years(scenario, {k: [v] for k, v in values.items()}, rng=fresh, **kw)
    row = chk[(chk["year"] == years) & (chk["group"] == group) & (chk["metric"] == objective)].iloc[0]
    cols = ["mean", "se", "ci_low", "ci_high", "diff", "diff_se", "diff_ci_low", "diff_ci_high"]
    return {"point": int(best["point"]), "values": values, "objective": objective, "years": years,
            "selection": {c: float(best[c]) for c in cols}, "check": {c: float(row[c]) for c in cols}, "table": last}
