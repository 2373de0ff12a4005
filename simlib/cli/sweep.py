"""``simlib sweep SCENARIO --param NAME=VALUES ...``: a plan over a grid or space-filling design of parameters."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from simlib.cli.args import (
    add_allow_large_argument,
    add_behaviour_argument,
    add_output_arguments,
    add_progress_argument,
    add_scheduler_argument,
    add_uncertainty_arguments,
    behaviour_draws,
    check_group,
    int_arg,
    parse_param_arg,
    positive_int,
    progress_on,
    resolve_output,
    seed,
)
from simlib.design.sweep import ALIASES, DESIGNS, run_sweep
from simlib.errors import SimlibError
from simlib.format import LEGEND, MODEL_LEGEND

#: output formats of ``simlib sweep`` (parquet: the tidy table, for large sweeps)
SWEEP_FORMATS = ("table", "csv", "json", "xlsx", "parquet")

#: metrics of the printed table
SHOW_METRICS = ("profit", "revenue", "incentive_cost", "comp_cost_of_sales", "share_at_quota")


def add_parser(subparsers) -> None:
    """Register ``simlib sweep``."""
    names = "; ".join(f"{k}: {v}" for k, v in ALIASES.items())
    p = subparsers.add_parser(
        "sweep", help="simulate a plan over a grid or space-filling design of parameters",
        description="Simulate the base plan at every point of a parameter design on common random numbers. "
                    f"Parameter aliases -- {names}. Also any plan path (roles.telesales.team.weight, "
                    "roles.*.quota.noise) or scenario path (scenario.market.growth_sd).",
    )
    p.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    p.add_argument("--param", action="append", metavar="NAME=VALUES",
                   help="v1,v2,... or low:high:count (grid), low:high (range for sobol/lhs); repeatable")
    p.add_argument("--base", default=None, help="plan to vary (default: the scenario's current plan)")
    p.add_argument("--design", choices=DESIGNS, default="grid",
                   help="grid: every combination of the values; sobol or lhs: --points space-filling points "
                        "within low:high ranges (default grid)")
    p.add_argument("--points", type=positive_int, default=None,
                   help="points of a sobol/lhs design (required by them; a grid has every combination)")
    p.add_argument("--design-seed", type=seed, default=0, help="seed of the design's scrambling (default 0)")
    p.add_argument("--trials", type=positive_int, default=1000, help="trials per point (default 1000)")
    p.add_argument("--seed", type=seed, default=0, help="simulation seed shared by all points (default 0)")
    add_behaviour_argument(p, help="behaviour model, e.g. none or dynamic "
                                   "(default: the scenario's behaviour.mode, else dynamic)")
    p.add_argument("--group", default="total", help="group shown in the printed table (default total)")
    add_output_arguments(p, SWEEP_FORMATS, what="the tidy table (one row per point, group and metric)")
    add_progress_argument(p)
    p.add_argument("--years", type=int_arg(1, "a number of years 1-20"), default=None, metavar="N",
                   help="run each point over N years with the scenario's attrition and hiring (docs/model.md 4.12); "
                        "the table shows the last year and the profit of all N years")
    add_uncertainty_arguments(p)
    add_scheduler_argument(p)
    add_allow_large_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the sweep, optionally write the tidy table, print the summary table; 0 on success."""
    from simlib.design.sweep import design_size
    from simlib.engine.core import check_request, resolve_behaviour
    from simlib.fit.individuals import load_scenario  # the scenario, with the history it names applied

    out = resolve_output(args, SWEEP_FORMATS)
    scen = load_scenario(args.scenario)
    check_group(args.group, scen)
    params: dict[str, Any] = {}
    for text in args.param or []:
        name, vals = parse_param_arg(text)
        if name in params:
            raise SimlibError(f"--param {name} given twice")
        params[name] = vals
    if not params:
        raise SimlibError("expected at least one --param NAME=VALUES")
    draws = behaviour_draws(args, scen)
    if args.years is not None:
        return _run_years(args, out, scen, params, draws)
    check_request(scen, args.trials, 2, points=design_size(params, args.design, args.points), draws=draws,
                  allow_large=args.allow_large)
    df = run_sweep(
        scen, params, base_plan=args.base, trials=args.trials, rng=args.seed, behaviour=args.behaviour,
        design=args.design, n_points=args.points, executor=args.scheduler, progress=progress_on(args),
        design_seed=args.design_seed, behaviour_draws=draws, behaviour_seed=args.behaviour_seed,
        allow_large=args.allow_large,
    )
    base = args.base or scen.current_plan
    text = "\n".join([
        f"sweep of plan '{base}' in {scen.source}: {df['point'].nunique()} points ({args.design}), "
        f"{args.trials} trials each, seed {args.seed}, behaviour {resolve_behaviour(scen, args.behaviour)}; "
        f"common random numbers" + (f"; {draws} behavioural draws" if draws else ""),
        f"group {args.group}: {LEGEND}; Δ = paired difference vs '{base}'"
        + (f"; {MODEL_LEGEND}; >0 = share of draws where Δ is above 0" if draws else ""),
        *_today_line(scen, base),
        format_sweep(df, list(params), group=args.group, currency=scen.currency),
    ])
    out.emit(text=lambda: text, tables=lambda: {"sweep": df}, json=lambda: df.to_json(orient="records", indent=1))
    return 0


#: metrics of the printed multi-year table (the last year's; profit_cumulative: all the years)
YEARS_METRICS = ("profit_cumulative", "profit", "turnover_rate", "regretted_turnover", "cost_of_turnover")


def _run_years(args: argparse.Namespace, out, scen, params: dict[str, Any], draws: int) -> int:
    """``sweep --years N``: every point over N years (:func:`simlib.design.years.sweep_years`)."""
    from simlib.design.sweep import design_size
    from simlib.design.years import sweep_years
    from simlib.engine.core import check_request, resolve_behaviour
    from simlib.engine.parallel import resolve_executor

    if args.years > 20:
        raise SimlibError(f"--years {args.years}: expected a number of years 1-20")
    if draws:
        raise SimlibError("--years: behavioural draws are not available over several years; pass --behaviour-draws 0")
    passes = args.years * (2 if scen.people.attrition.enabled else 1)
    n = design_size(params, args.design, args.points)
    check_request(scen, args.trials, 2, points=n * passes, allow_large=args.allow_large)
    with resolve_executor(args.scheduler, work=None) as ex:
        df = sweep_years(scen, params, base_plan=args.base, years=args.years, trials=args.trials, rng=args.seed,
                         behaviour=args.behaviour, design=args.design, n_points=args.points,
                         design_seed=args.design_seed, executor=ex, chunk=None if ex is None else 16)
    base = args.base or scen.current_plan
    last = df[df["year"] == args.years].assign(diff=lambda f: f["diff"].fillna(0.0),
                                               diff_se=lambda f: f["diff_se"].fillna(0.0))
    text = "\n".join([
        f"sweep of plan '{base}' in {scen.source} over {args.years} years: {df['point'].nunique()} points "
        f"({args.design}), {args.trials} trials each, seed {args.seed}, behaviour "
        f"{resolve_behaviour(scen, args.behaviour)}, attrition {'on' if scen.people.attrition.enabled else 'off'}",
        f"group {args.group}, year {args.years}: {LEGEND}; Δ = paired difference vs '{base}'",
        *_today_line(scen, base),
        format_sweep(last, list(params), group=args.group, metrics=YEARS_METRICS, currency=scen.currency),
        *_best_over_years(last, args.group, args.years, params),
    ])
    out.emit(text=lambda: text, tables=lambda: {"sweep": df}, json=lambda: df.to_json(orient="records", indent=1))
    return 0


def _today_line(scen, base: str) -> list[str]:
    """When the base plan is not the scenario's current plan: the line saying which plan is today's (as ``diff``)."""
    from simlib.present import readable

    if base == scen.current_plan:
        return []
    return [f"today's plan: {readable(scen.current_plan)} (current_plan), not {readable(base)}: "
            f"reps move from it, so levels are run's"]


def format_sweep(df, params: Sequence[str], group: str = "total", metrics: Sequence[str] = SHOW_METRICS,
                 currency: str = "EUR") -> str:
    """A readable text table of a sweep (:func:`simlib.design.sweep.run_sweep`'s tidy frame), at most 100 wide.

    One row per point (the point and its parameter values, repeated in every
    block of columns, parameters named in words: :func:`simlib.cli.args.param_label`); per metric its display name with the estimate and
    ``Δ`` the paired difference against the base plan, each ``± 95% CI
    half-width`` in the metric's unit (:func:`simlib.present.fmt`: money in
    ``currency`` on one k / M scale per column, shares in %, changes of
    shares in pp). Behavioural ensembles add ``Δ name model ±`` and ``Δ name
    >0`` (share of draws above 0). Columns that do not fit 100 characters go
    to further blocks (:func:`simlib.cli.args.narrow`).
    """
    import pandas as pd

    import simlib.present as present
    from simlib.cli.args import narrow, param_label

    sub = df[(df["group"] == group) & (df["metric"].isin(metrics))]
    lv, dv = present.row_scales(sub, "mean"), present.row_scales(sub, "diff")  # one money scale per column
    rows, index = [], []
    for pt, g in sub.groupby("point", sort=True):
        index.append((pt, *(_param_text(g[p].iloc[0]) for p in params)))
        row = {}
        for m in metrics:
            r = g[g["metric"] == m]
            if r.empty:
                continue
            r, name = r.iloc[0], present.label(m).split(" (")[0]
            row[name] = present.fmt(r["mean"], r["se"], m, currency, scale=lv[m], trials=r.get("n"))
            if pd.notna(r["diff"]):
                row[f"Δ {name}"] = present.fmt(r["diff"], r["diff_se"], m, currency, signed=True, scale=dv[m])
                if "diff_model_sd" in r.index:  # behavioural ensemble: model spread and sign robustness
                    row[f"Δ {name} model ±"] = present.half_width(r["diff_model_sd"], m)
                    row[f"Δ {name} >0"] = f"{100 * r['diff_share_positive']:.0f}%"
        rows.append(row)
    names = ["Point", *(param_label(p) for p in params)]  # parameters in words, as the optimiser's table
    table = pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=names) if index else None)
    return narrow(table.fillna(""))


def _param_text(value) -> str:
    """A parameter value as given on the command line: ``0.9``, ``none`` for a missing cap, names as they are."""
    if value is None or (isinstance(value, float) and value != value):
        return "none"
    return f"{value:g}" if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


def _best_over_years(last, group: str, years: int, params) -> list[str]:
    """The line naming the point with the best profit over the years (chosen on the same trials)."""
    obj = last[(last["group"] == group) & (last["metric"] == "profit_cumulative")]
    if len(obj) <= 1:
        return []
    best = obj.loc[obj["mean"].idxmax()]
    return [f"best on the profit of {years} years: point {int(best['point'])} "
            f"({', '.join(f'{p}={_param_text(best[p])}' for p in params)}), chosen on these trials (its Δ is biased up; "
            "simlib.design.years.best_over_years re-evaluates it on independent trials)"]
