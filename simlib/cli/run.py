"""``simlib run SCENARIO``: simulate plans and print the comparison (table, CSV, JSON or a workbook)."""

from __future__ import annotations

import argparse
import textwrap

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
    key_values,
    narrow,
    positive_int,
    progress_on,
    resolve_output,
    seed,
    with_units,
)
from simlib.errors import SimlibError
from simlib.format import LEGEND


def add_parser(subparsers) -> None:
    """Register ``simlib run``."""
    r = subparsers.add_parser(
        "run", help="simulate plans and print the comparison",
        description="Simulate the scenario's plans on common random numbers and print, per group (each role and "
                    "total), every plan's metrics with 95% CIs, then the paired differences against the current "
                    "plan. With --years N: every plan over N consecutive years, with the people: section.")
    r.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    r.add_argument("--plans", nargs="+", metavar="PLAN", help="plans to compare (default: all)")
    r.add_argument("--trials", type=positive_int, default=1000, help="Monte Carlo trials (default 1000)")
    r.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    add_behaviour_argument(r, help="behaviour model: none (effort fixed) or dynamic (reps respond to the plan); "
                                   "default: the scenario's behaviour.mode, else dynamic")
    add_output_arguments(r, what="levels and paired differences")
    r.add_argument("--group", help="only this role (or 'total') in the printed table")
    r.add_argument("--chunk-size", type=positive_int, default=None,
                   help="trials per chunk (default: chosen from the trials and workers; results do not depend on it)")
    add_progress_argument(r)
    r.add_argument("--years", type=int_arg(1, "a number of years 1-20"), default=None, metavar="N",
                   help="simulate N consecutive years (quotas by each plan's method every year, ratchets, "
                        "the scenario's people: attrition and hiring); metrics per year")
    add_uncertainty_arguments(r)
    add_scheduler_argument(r)
    add_allow_large_argument(r)
    r.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Simulate the scenario's plans and print or write them in the chosen format; 0 on success."""
    from simlib.engine.api import simulate
    from simlib.engine.core import check_request, resolve_behaviour
    from simlib.engine.parallel import resolve_executor, work_estimate
    from simlib.fit.individuals import load_scenario  # the scenario, with the history it names applied

    out = resolve_output(args)
    scen = load_scenario(args.scenario)
    check_group(args.group, scen)
    plans = args.plans if args.plans else None
    draws = behaviour_draws(args, scen)
    if args.years is not None:
        return _run_years(args, out, scen, plans, draws)
    check_request(scen, args.trials, len(plans or scen.plans), draws=draws, allow_large=args.allow_large)
    work = work_estimate(args.trials * scen.headcount * 12 * len(plans or scen.plans) * max(draws, 1),
                         resolve_behaviour(scen, args.behaviour))
    if draws:
        return _run_ensemble(args, out, scen, plans, draws, work)
    with resolve_executor(args.scheduler, work=work) as ex:
        res = simulate(
            scen, plans, trials=args.trials, rng=args.seed, behaviour=args.behaviour,
            chunk_size=args.chunk_size, progress=progress_on(args), executor=ex, allow_large=args.allow_large,
        )
    out.emit(text=lambda: format_tables(res, args.seed, args.group, scen.currency), json=lambda: res.to_json(indent=2),
             tables=lambda: result_tables(res, ("mean", "se", "ci_low", "ci_high", "n")), main="long")
    return 0


def result_tables(res, cols) -> dict:
    """Sheets of a run: ``long`` (levels and differences in one tidy table, the CSV), ``levels``,
    ``differences`` and ``provenance``."""
    import pandas as pd

    s = res.summary()
    d = with_units(res.differences())
    long_s = s.assign(kind="level", reference="")
    long_d = d.rename(columns={"diff": "mean"}).assign(kind="difference")
    extra = [c for c in long_d.columns if c not in cols and c in ("n_positive", "share_positive")]
    keys = ["kind", "plan", "reference", "group", "metric"]
    long = pd.concat([long_s[keys + list(cols)], long_d[keys + list(cols) + extra]], ignore_index=True)
    return {"long": long, "levels": s, "differences": d, "provenance": key_values(res.provenance)}


def _header(prov, seed_used: int) -> str:
    return (f"scenario {prov['scenario']} ({prov['scenario_file']}, sha256 {prov['scenario_sha256'][:12]}), "
            f"{prov['trials']} trials, seed {seed_used}, behaviour {prov['behaviour']}")


def format_tables(res, seed_used: int, group: str | None, currency: str = "EUR") -> str:
    """Provenance, then per group (``group`` only if given, else total first, then the roles) the levels
    and the paired differences as separate tables that fit a 100-column terminal.

    Rows are the metrics' display names and cells their values in the metric's
    unit (money in ``currency`` scaled to k / M, shares in %, changes of shares
    in pp), each with its 95% CI half-width (:mod:`simlib.present`); model
    diagnostics come last, in their own table.
    """
    from simlib.present import readable

    prov = res.provenance
    lines = [_header(prov, seed_used) + f", simlib {prov['simlib_version']}",
             f"value ± 95% CI half-width; Δ = paired difference vs {readable(res.reference)} on common random "
             "numbers; "
             "* = CI excludes 0"]
    for g in [group] if group else res.groups[::-1]:
        main, diag = readable_tables(res, g, currency)
        diffs = [c for c in main.columns if c.startswith("Δ ")]
        main = main.rename(columns=_in_words)
        diffs = [_in_words(c) for c in diffs]
        lines += [f"\n== {readable(g)} ==", "levels:", narrow(main[[c for c in main.columns if c not in diffs]])]
        if diffs:
            lines += [f"\ndifferences vs {readable(res.reference)} (paired):", *_paired_rows(main[diffs])]
        if len(diag):
            lines += ["\nmodel diagnostics (indices, 1 = today):", narrow(diag.rename(columns=_in_words))]
    return "\n".join(lines)


def _in_words(column: str) -> str:
    """A plan's column (``"harder_target"``, ``"Δ harder_target"``) as the plan's name in words."""
    from simlib.present import readable

    return f"Δ {readable(column[2:])}" if column.startswith("Δ ") else readable(column)


def _paired_rows(diffs) -> list[str]:
    """The differences table without the rows that have no paired difference (the bad-year quantiles), and a line
    naming them, so no row reads blank."""
    empty = [m for m, row in diffs.iterrows() if all(str(v).strip() == "" for v in row)]
    out = [narrow(diffs.drop(index=empty))]
    if empty:
        out += textwrap.wrap(f"(no paired difference for {'; '.join(m[0].lower() + m[1:] for m in empty)}: "
                             "compare their levels above)", width=100)
    return out


def readable_tables(res, group: str, currency: str = "EUR"):
    """A group's comparison as people read it: ``(main, diagnostics)`` text tables, rows labelled by display name."""
    import simlib.present as present
    from simlib.engine.results import readable_metric_table

    table = readable_metric_table(res.summary(), res.differences(), res.plans, res.reference, group=group,
                                  currency=currency)
    diag = [m for m in table.index if present.is_diagnostic(m)]
    main, extra = table.drop(index=diag), table.loc[diag]
    for t in (main, extra):
        t.index = [present.label(m) for m in t.index]
        t.index.name = None
    return main, extra


def _run_ensemble(args: argparse.Namespace, out, scen, plans, draws: int, work: float) -> int:
    """``run --behaviour-draws K``: the ensemble over behavioural parameter draws, printed or written."""
    from simlib.engine.ensemble import simulate_ensemble
    from simlib.engine.parallel import resolve_executor

    with resolve_executor(args.scheduler, work=work) as ex:
        ens = simulate_ensemble(
            scen, plans, draws=draws, trials=args.trials, rng=args.seed, behaviour=args.behaviour,
            design_seed=args.behaviour_seed, chunk_size=args.chunk_size, progress=progress_on(args), executor=ex,
        )
    cols = ("mean", "mc_se", "model_sd", "total_sd", "ci_low", "ci_high", "n", "draws")
    out.emit(text=lambda: format_ensemble_tables(ens, args.seed, args.group, scen.currency),
             json=lambda: ens.to_json(indent=2),
             tables=lambda: result_tables(ens, cols), main="long")
    return 0


def format_ensemble_tables(ens, seed_used: int, group: str | None, currency: str = "EUR") -> str:
    """Provenance, legends, one table per group (estimate, ``model ±``, draws > 0) and the robustness sentences.

    Rows and cells read as in :func:`format_tables` (display names, money in
    ``currency`` scaled to k / M, shares in %); :meth:`EnsembleResult.readable`.
    """
    from simlib.format import MODEL_LEGEND
    from simlib.present import readable

    prov = ens.provenance
    lines = [_header(prov, seed_used) + f", {prov['behaviour_draws']} behavioural draws ({prov['behaviour_design']}, "
             f"seed {prov['behaviour_design_seed']}), simlib {prov['simlib_version']}",
             f"{LEGEND} (Monte Carlo, pooled over draws); Δ = paired difference vs {readable(ens.reference)}; "
             f"{MODEL_LEGEND}; "
             f">0 = draws where the paired difference is above 0"]
    for g in [group] if group else ens.groups[::-1]:
        lines += [f"\n== {readable(g)} ==", narrow(ens.readable(g, currency=currency).rename(columns=_in_words)), ""]
        lines += list(ens.sentences("profit", g))
    return "\n".join(lines)


def _run_years(args: argparse.Namespace, out, scen, plans, draws: int) -> int:
    """``run --years N``: every plan over N years on common random numbers (:func:`simlib.engine.years.run_years`)."""
    from simlib.engine.core import check_request, resolve_behaviour
    from simlib.engine.parallel import resolve_executor, work_estimate
    from simlib.engine.years import run_years

    if args.years > 20:
        raise SimlibError(f"--years {args.years}: expected a number of years 1-20")
    if draws:
        raise SimlibError("--years: behavioural draws (--behaviour-draws or the scenario's uncertainty.draws) "
                          "are not available over several years; pass --behaviour-draws 0")
    behaviour = resolve_behaviour(scen, args.behaviour)
    n_plans = len(plans or scen.plans)
    passes = args.years * (2 if scen.people.attrition.enabled else 1)
    check_request(scen, args.trials, n_plans, points=passes, allow_large=args.allow_large)
    work = work_estimate(args.trials * scen.headcount * 12 * n_plans * passes, behaviour)
    with resolve_executor(args.scheduler, work=work) as ex:
        chunk = args.chunk_size or (None if ex is None else max(1, -(-args.trials // 16)))
        res = run_years(scen, plans, years=args.years, trials=args.trials, rng=args.seed, behaviour=behaviour,
                        chunk=chunk, executor=ex)
    out.emit(text=lambda: _years_text(args, scen, res, behaviour),
             json=lambda: res.long().to_json(orient="records", indent=2),
             tables=lambda: {"years": res.long()}, main="years")
    return 0


def _years_text(args: argparse.Namespace, scen, res, behaviour) -> str:
    """The readable per-year tables of ``run --years``: one per group, narrow."""
    lines = [f"scenario {scen.name} ({scen.source}), {args.years} years, {args.trials} trials, seed {args.seed}, "
             f"behaviour {behaviour}, attrition {'on' if scen.people.attrition.enabled else 'off'}",
             f"{LEGEND}; Δ = paired difference vs '{res.plans[0]}' on common random numbers; * = CI excludes 0"]
    for g in [args.group] if args.group else res.groups[::-1]:
        lines += [f"\n== {g} ==", narrow(readable_years_table(res, g, scen.currency))]
    return "\n".join(lines)


def readable_years_table(res, group: str, currency: str = "EUR"):
    """``res.table(group)`` as people read it: rows (display name, year), money in ``currency`` scaled to k / M,
    shares in %, changes of shares in points (:mod:`simlib.present`); ``*`` when the difference's CI excludes 0."""
    out = res.table(group=group, currency=currency)
    out.index = out.index.set_names([None, "year"])
    return out
