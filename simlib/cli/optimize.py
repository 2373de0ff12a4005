"""``simlib optimize SCENARIO --param NAME=LOW:HIGH ...``: plan parameters that maximise an objective under constraints."""

from __future__ import annotations

import argparse
import math

from simlib.cli.args import (
    add_allow_large_argument,
    add_behaviour_argument,
    add_output_arguments,
    add_progress_argument,
    add_scheduler_argument,
    add_uncertainty_arguments,
    behaviour_draws,
    int_arg,
    key_values,
    parse_param_arg,
    positive_int,
    progress_on,
    resolve_output,
    seed,
    with_units,
)
from simlib.errors import SimlibError
from simlib.format import estimate

#: output formats of ``simlib optimize``
OPTIMIZE_FORMATS = ("table", "csv", "json", "xlsx", "parquet")

#: total metrics of the optimum's paired differences against the base plan shown in the report
SHOW_DIFFERENCES = ("profit", "revenue", "incentive_cost", "comp_cost_of_sales", "share_at_quota", "leverage",
                    "over_budget")


def add_parser(subparsers) -> None:
    """Register ``simlib optimize`` (alias ``optimise``)."""
    p = subparsers.add_parser(
        "optimize", aliases=["optimise"], help="choose plan parameters maximising an objective under constraints",
        description="Sample-average-approximation optimisation on common random numbers: a Sobol' start design, "
                    "then Nelder-Mead (or COBYLA). Exit status 1 when no feasible plan was found.",
    )
    p.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    p.add_argument("--param", action="append", metavar="NAME=LOW:HIGH", help="parameter and bounds (repeatable), "
                   "e.g. target_level=0.9:1.2, cap=1.5:3, pay_mix=0.2:0.5")
    p.add_argument("--objective", default="profit", help="metric to maximise or weighted mix 'profit=1,revenue=0.1' (default profit)")
    p.add_argument("--constraint", action="append", metavar="EXPR",
                   help="e.g. 'comp_cost_of_sales<=0.2', '0.5<=share_at_quota<=0.7', 'over_budget<=0.1', '1.5<=leverage<=3'")
    p.add_argument("--base", default=None, help="plan to modify (default: current plan)")
    p.add_argument("--method", choices=("nelder-mead", "cobyla"), default="nelder-mead",
                   help="local search from the best start point (default nelder-mead)")
    p.add_argument("--starts", type=positive_int, default=16, help="Sobol' start points (default 16)")
    p.add_argument("--maxiter", type=int_arg(0, "a whole number >= 0"), default=150, help="evaluations for the local search (default 150)")
    p.add_argument("--sensitivity", action="append", metavar="PATH=V1,V2",
                   help="re-optimise under perturbed scenario values, e.g. 'scenario.roles.*.effort_elasticity*=0.5,1.25' "
                        "(default with a behaviour model: effort elasticity x0.8, effort cost exponent x0.75/x1.25, "
                        "risk aversion 0.5)")
    p.add_argument("--no-sensitivity", action="store_true", help="skip the sensitivity re-optimisations")
    p.add_argument("--sensitivity-maxiter", type=int_arg(0, "a whole number >= 0"), default=None,
                   help="evaluations per sensitivity re-optimisation (default max(5, maxiter/4); 0 = re-evaluate only)")
    p.add_argument("--trials", type=positive_int, default=500, help="trials per evaluation (default 500)")
    p.add_argument("--seed", type=seed, default=0, help="simulation seed shared by all evaluations (default 0)")
    add_behaviour_argument(p, help="behaviour model, e.g. none or dynamic "
                                   "(default: the scenario's behaviour.mode, else dynamic)")
    add_output_arguments(p, OPTIMIZE_FORMATS, what="the result (json: all of it; csv/parquet: the evaluation "
                                                   "history; xlsx: one sheet per table)")
    add_progress_argument(p)
    add_uncertainty_arguments(p)
    add_scheduler_argument(p)
    add_allow_large_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Optimise, print the report, optionally write the result; 0 when a feasible plan was found, else 1."""
    from simlib.design.optimize import optimize
    from simlib.engine.core import check_request
    from simlib.fit.individuals import load_scenario  # the scenario, with the history it names applied

    out = resolve_output(args, OPTIMIZE_FORMATS)
    scen = load_scenario(args.scenario)
    params = {}
    for text in args.param or []:
        name, b = parse_param_arg(text)
        if not isinstance(b, tuple):
            raise SimlibError(f"--param {text}: optimize needs a range low:high")
        params[name] = b
    if not params:
        raise SimlibError("expected at least one --param NAME=low:high")
    check_request(scen, args.trials, 2, points=args.starts + args.maxiter, draws=behaviour_draws(args, scen),
                  allow_large=args.allow_large)
    r = optimize(
        scen, params, objective=args.objective, constraints=args.constraint or [], base_plan=args.base,
        trials=args.trials, rng=args.seed, behaviour=args.behaviour, method=args.method, starts=args.starts,
        maxiter=args.maxiter, sensitivity=[] if args.no_sensitivity else args.sensitivity,
        sensitivity_maxiter=args.sensitivity_maxiter, executor=args.scheduler, progress=progress_on(args),
        behaviour_draws=behaviour_draws(args, scen), behaviour_seed=args.behaviour_seed, allow_large=args.allow_large,
    )
    out.emit(text=lambda: format_result(r, scen.currency), tables=lambda: result_tables(r), json=lambda: r.to_json(indent=1),
             main="history")
    return 0 if r.feasible else 1


def constraint_state(c) -> str:
    """How a constraint stands at the optimum: VIOLATED (not satisfied), BINDING (at its bound) or ok."""
    return "VIOLATED" if not c["satisfied"] else ("BINDING" if c["binding"] else "ok")


def result_tables(r) -> dict:
    """Sheets of an optimisation: the optimum's parameters, constraints, metrics, paired differences,
    robustness and sensitivity (when run), the evaluation history and the provenance."""
    import pandas as pd

    bounds = r.provenance["bounds"]
    params = pd.DataFrame({"parameter": list(r.params), "value": list(r.params.values()),
                           "low": [bounds[n][0] for n in r.params], "high": [bounds[n][1] for n in r.params]})
    cons = r.constraints.assign(state=[constraint_state(c) for _, c in r.constraints.iterrows()])
    sheets = {"optimum": params, "constraints": cons, "metrics": with_units(r.metrics),
              "differences": with_units(r.differences)}
    rb = getattr(r, "robustness", None)
    if rb is not None and len(rb):
        sheets["robustness"] = with_units(rb)
    if len(r.sensitivity):
        sheets["sensitivity"] = r.sensitivity
    sheets["history"] = r.history
    sheets["provenance"] = key_values(r.provenance)
    return sheets


def format_result(r, currency: str = "EUR") -> str:
    """Text report of an optimisation (:class:`simlib.design.optimize.OptimizeResult`).

    Estimates (objective, constraint values, paired differences against the
    base plan) are written in their metric's unit with the 95% CI half-width
    (:func:`simlib.present.fmt`: money in ``currency`` scaled to k / M, shares
    in %, changes of shares in pp); rows carry the metrics' display names.
    """
    import simlib.present as present

    p = r.provenance
    lines = [f"optimised plan '{p['base_plan']}' of {p['scenario']} ({p['scenario_file']}): "
             f"{p['trials']} trials, seed {p['seed_entropy']}, behaviour {p['behaviour']}, "
             f"{p['evaluations']} evaluations on common random numbers (SAA)"]
    [(om, ow)] = p["objective"].items() if len(p["objective"]) == 1 else [(None, None)]
    unit_metric = om if ow == 1 else None  # a single metric at weight 1 is in that metric's unit
    obj = present.label(om) if unit_metric else " + ".join(f"{w:g}·{present.label(m)}" for m, w in p["objective"].items())
    lines.append(f"objective (maximised): {obj} = "
                 + (present.fmt(r.objective, r.objective_se, unit_metric, currency) if unit_metric
                    else estimate(r.objective, r.objective_se))
                 + ("" if r.feasible else "   ** NO FEASIBLE POINT FOUND **"))
    lines.append("optimum:")
    for n, v in r.params.items():
        lo, hi = p["bounds"][n]
        at_bound = any(math.isclose(v, b, rel_tol=1e-6, abs_tol=1e-9) for b in (lo, hi))
        # to three significant digits of the range searched (the search resolves finer), as the sensitivity table:
        # 1.098 of 0.9 to 1.1, not 1.1 (the range's edge)
        lines.append(f"  {n} = {v:.{_shift_places((lo, hi), v)}f}   "
                     f"(searched {lo:g} to {hi:g}{', at its bound' if at_bound else ''}): "
                     f"{param_meaning(n)}")
    if len(r.constraints):
        lines.append("constraints (value ± 95% CI):")
        for _, c in r.constraints.iterrows():
            state = constraint_state(c)
            lines.append(f"  {c['constraint']:<36} value {present.fmt(c['value'], c['se'], c.get('metric'), currency)}   "
                         f"{state}")
    d = r.differences
    d = d[(d.group == "total") & d.metric.isin(SHOW_DIFFERENCES)]
    if len(d):
        lines.append(f"optimum - {p['base_plan']} (paired, total):")
        for _, row in d.iterrows():
            lines.append(f"  {present.label(row['metric']):<40} "
                         f"{present.fmt(row['diff'], row['se'], row['metric'], currency, signed=True)}"
                         + ("  *" if row["significant"] else ""))
    rb = getattr(r, "robustness", None)
    if rb is not None and len(rb):
        lines.append(robustness_text(rb, p["base_plan"], list(p["objective"]), currency))
    if len(r.sensitivity):
        lines.append("sensitivity (re-optimised under each perturbation):")
        lines.append(sensitivity_legend(r.sensitivity, list(r.params)))
        lines.append(sensitivity_text(r.sensitivity, list(r.params), unit_metric, currency, bounds=p["bounds"]))
    return "\n".join(lines)


def robustness_text(rb, base: str, objective: list[str], currency: str = "EUR") -> str:
    """The optimum against the base plan under behavioural draws, read as ``run --behaviour-draws`` prints it.

    A legend, then a table (rows: the metrics' display names; ``Δ optimum``
    the paired difference in the metric's unit with its Monte Carlo ``±``,
    ``Δ optimum model ±`` the spread over the draws, ``Δ optimum >0`` the
    draws in which it is above 0), then one sentence per objective metric
    naming it in words. ``rb`` is the result's ``robustness`` table.
    """
    import pandas as pd

    import simlib.present as present
    from simlib.cli.args import narrow
    from simlib.engine.ensemble import robustness_sentence
    from simlib.format import LEGEND, MODEL_LEGEND

    rb = rb[(rb.group == "total") & rb.metric.isin(SHOW_DIFFERENCES)]
    k = int(rb["draws"].iloc[0]) if len(rb) else 0
    rows = {present.label(x["metric"]): {
        "Δ optimum": present.fmt(x["diff"], x["mc_se"], x["metric"], currency, signed=True),
        "Δ optimum model ±": "± " + present.half_width(x["model_sd"], x["metric"]),
        "Δ optimum >0": f"{x['n_positive']}/{k}"} for _, x in rb.iterrows()}
    lines = [f"optimum - {base} under {k} behavioural draws:",
             f"  Δ optimum = optimum - {base}, paired; {LEGEND} (Monte Carlo, pooled over draws); {MODEL_LEGEND}; "
             f">0 = draws where the paired difference is above 0"]
    if rows:
        lines.append(narrow(pd.DataFrame.from_dict(rows, orient="index")))
    for m in objective:
        x = rb[rb.metric == m]
        if len(x):
            x = x.iloc[0]
            words = robustness_sentence("optimum", base, m, x["n_positive"], x["n_negative"], k)
            name = present.label(m).split(" (")[0].lower()  # the metric in words, as the report's sentences
            lines.append("  " + words.replace(f" on {m} in ", f" on {name} in "))
    return "\n".join(lines)


def param_meaning(name: str) -> str:
    """What an optimised parameter sets, with its unit (the alias's meaning, :mod:`simlib.design.transforms`),
    naming the role of ``alias@role``; a plan or scenario path is its own meaning."""
    from simlib.design.transforms import TRANSFORMS

    alias, _, role = name.partition("@")
    t = TRANSFORMS.get(alias)
    if t is None:
        return f"the value at {name}"
    return t.meaning + (f", role {role} only" if role else "")


def sensitivity_legend(sens, params: list[str]) -> str:
    """What the sensitivity table's columns mean, in their own words (``KEY = meaning; ...``), lines of at most 100."""
    import textwrap

    from simlib.cli.args import TABLE_WIDTH, param_label

    items = ["Objective = of the re-optimised plan (± 95% CI); Feasible = it meets every constraint"]
    shown = [param_label(n) for n in params if n in sens]
    if shown:
        items.append(f"{shown[0]} = the re-optimised value (its shift from the optimum; 0: none at the precision "
                     f"shown)" + (f"; the same for {', '.join(shown[1:])}" if len(shown) > 1 else ""))
    if "regret" in sens:
        items.append("Regret = the re-optimised objective minus the optimum's kept as is; about 0: the optimum "
                     "holds. Both are evaluated on the same trials under the perturbation, and the search starts "
                     "from the kept optimum, so it is never below 0 while the kept optimum meets every constraint; "
                     "where it breaks one, the cell reads 'kept breaks a constraint' with the objective the "
                     "re-optimised plan gives up to meet them (below 0: not a regret)")
    return "\n".join(textwrap.fill(x, TABLE_WIDTH, initial_indent="  ", subsequent_indent="    ") for x in items)


def perturbation_label(spec: str) -> str:
    """A sensitivity perturbation in words: ``scenario.roles.*.effort_elasticity*=0.8`` reads
    ``effort elasticity (every role) × 0.8``; a spec of another form is shown as given."""
    from simlib.cli.args import param_label

    path, op, value = str(spec).partition("*=")
    if not op:
        path, op, value = str(spec).partition("=")
    if not op:
        return str(spec)
    return f"{param_label(path.strip())} {'×' if op == '*=' else '='} {value.strip()}"


def _shift_places(bounds: tuple[float, float] | None, value: float) -> int:
    """Decimals of a parameter and its shift: three significant digits of its searched range (of the value without)."""
    width = abs(bounds[1] - bounds[0]) if bounds else abs(value)
    if not math.isfinite(width) or width == 0:
        return 2
    return max(0, 2 - math.floor(math.log10(width)))


def _with_shift(value: float, shift: float | None, places: int) -> str:
    """``1.190 (+0.060)``: a re-optimised value and its shift from the optimum; ``(0)`` when it rounds to nothing."""
    if not math.isfinite(value):
        return "n/a"
    text = f"{value:,.{places}f}"
    if shift is None or not math.isfinite(shift):
        return text
    r = round(shift, places)
    return f"{text} ({f'{r:+,.{places}f}' if r else '0'})"


def regret_text(row, metric: str | None, currency: str) -> str:
    """A sensitivity row's regret in the objective's unit; where the optimum kept as is breaks a constraint under the
    perturbation, it is no regret (keeping it is not allowed): ``kept breaks a constraint (-50.5 k EUR)``."""
    import simlib.present as present

    value = present.fmt_value(row["regret"], metric, currency) if metric else present.plain(row["regret"])
    if "original_feasible" in row and not bool(row["original_feasible"]):
        return f"kept breaks a constraint ({value})"
    return value


def sensitivity_text(sens, params: list[str], metric: str | None, currency: str,
                     bounds: dict | None = None) -> str:
    """The sensitivity table as text, as ``run``'s tables read: one row per perturbation (in words), each
    parameter's re-optimised value with its shift from the optimum (both to three significant digits of the
    range searched, ``bounds``), objective ± 95% CI and regret in the objective's unit, headers in words, in
    blocks of at most 100 characters."""
    import pandas as pd

    import simlib.present as present
    from simlib.cli.args import narrow, param_label

    rows = {}
    for _, x in sens.iterrows():
        row = {}
        for n in params:
            if n in x:
                places = _shift_places((bounds or {}).get(n), float(x[n]))
                shift = x.get(f"shift_{n}")
                row[param_label(n)] = _with_shift(float(x[n]), None if shift is None else float(shift), places)
        row["Objective"] = (present.fmt(x["objective"], x["objective_se"], metric, currency) if metric
                            else estimate(x["objective"], x["objective_se"]))
        row["Feasible"] = "yes" if x["feasible"] else "no"
        if "regret" in x:
            row["Regret"] = regret_text(x, metric, currency)
        rows[perturbation_label(x["perturbation"])] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "Perturbation"
    return narrow(table)
