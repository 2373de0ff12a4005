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
