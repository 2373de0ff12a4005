"""``simlib run SCENARIO``: simulate plans and print the comparison (table, JSON or CSV)."""

from __future__ import annotations

import argparse
import sys

from simlib.cli.args import (
    add_allow_large_argument,
    add_behaviour_argument,
    add_scheduler_argument,
    add_uncertainty_arguments,
    behaviour_draws,
    int_arg,
    positive_int,
    seed,
)
from simlib.errors import SimlibError
from simlib.format import LEGEND


def add_parser(subparsers) -> None:
    """Register ``simlib run``."""
    r = subparsers.add_parser("run", help="simulate plans and print the comparison")
    r.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    r.add_argument("--plans", nargs="+", metavar="PLAN", help="plans to compare (default: all)")
    r.add_argument("--trials", type=positive_int, default=1000, help="Monte Carlo trials (default 1000)")
    r.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    add_behaviour_argument(r, help="behaviour model: none (effort fixed) or dynamic (reps respond to the plan); "
                                   "default: the scenario's behaviour.mode, else dynamic")
    r.add_argument("--format", choices=("table", "json", "csv"), default="table")
    r.add_argument("--group", help="only this role (or 'total')")
    r.add_argument("--chunk-size", type=positive_int, default=None, help="trials per chunk (results do not depend on it)")
    r.add_argument("--progress", action="store_true", help="show a progress bar")
    r.add_argument("--years", type=int_arg(1, "a number of years 1-20"), default=None, metavar="N",
                   help="simulate N consecutive years (quotas by each plan's method every year, ratchets, "
                        "the scenario's people: attrition and hiring); metrics per year")
    add_uncertainty_arguments(r)
    add_scheduler_argument(r)
    add_allow_large_argument(r)
    r.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Simulate the scenario's plans and print them in ``args.format``; 0 on success."""
    from simlib.engine.api import simulate
    from simlib.engine.core import check_request, resolve_behaviour
    from simlib.engine.parallel import resolve_executor, work_estimate
    from simlib.scenario import load_scenario

    scen = load_scenario(args.scenario)
    plans = args.plans if args.plans else None
    draws = behaviour_draws(args, scen)
    if args.years is not None:
        return _run_years(args, scen, plans, draws)
    check_request(scen, args.trials, len(plans or scen.plans), draws=draws, allow_large=args.allow_large)
    work = work_estimate(args.trials * scen.headcount * 12 * len(plans or scen.plans) * max(draws, 1),
                         resolve_behaviour(scen, args.behaviour))
    if draws:
        return _run_ensemble(args, scen, plans, draws, work)
    with resolve_executor(args.scheduler, work=work) as ex:
        res = simulate(
            scen, plans, trials=args.trials, rng=args.seed, behaviour=args.behaviour,
            chunk_size=args.chunk_size, progress=args.progress, executor=ex,
        )
    if args.format == "json":
        print(res.to_json(indent=2))
    elif args.format == "csv":
        print_csv(res)
    else:
        print_tables(res, args.seed, args.group)
    return 0


def print_csv(res) -> None:
    """Levels and paired differences of a :class:`~simlib.engine.results.SimulationResult` as one CSV on stdout."""
    import pandas as pd

    s = res.summary().assign(kind="level", reference="")
    d = res.differences().rename(columns={"diff": "mean"}).assign(kind="difference")
    cols = ["kind", "plan", "reference", "group", "metric", "mean", "se", "ci_low", "ci_high", "n"]
    pd.concat([s[cols], d[cols]], ignore_index=True).to_csv(sys.stdout, index=False)


def print_tables(res, seed_used: int, group: str | None) -> None:
    """A provenance line, then one comparison table per group: ``group`` only if given, else total first, then the roles."""
    import pandas as pd

    prov = res.provenance
    print(f"scenario {prov['scenario']} ({prov['scenario_file']}, sha256 {prov['scenario_sha256'][:12]}), "
          f"{prov['trials']} trials, seed {seed_used}, behaviour {prov['behaviour']}, simlib {prov['simlib_version']}")
    print(f"{LEGEND}; differences are paired on common random numbers; * = CI excludes 0")
    groups = [group] if group else res.groups[::-1]
    with pd.option_context("display.width", 250, "display.max_columns", 50, "display.max_colwidth", 40):
        for g in groups:
            if g not in res.groups:
                raise SimlibError(f"--group: '{g}' is not a role of the scenario, expected one of {res.groups}")
            print(f"\n== {g} ==")
            print(res.table(group=g).to_string())


def _run_ensemble(args: argparse.Namespace, scen, plans, draws: int, work: float) -> int:
    """``run --behaviour-draws K``: the ensemble over behavioural parameter draws, printed in ``args.format``."""
    from simlib.engine.ensemble import simulate_ensemble
    from simlib.engine.parallel import resolve_executor

    with resolve_executor(args.scheduler, work=work) as ex:
        ens = simulate_ensemble(
            scen, plans, draws=draws, trials=args.trials, rng=args.seed, behaviour=args.behaviour,
            design_seed=args.behaviour_seed, chunk_size=args.chunk_size, progress=args.progress, executor=ex,
        )
    if args.format == "json":
        print(ens.to_json(indent=2))
    elif args.format == "csv":
        s = ens.summary().assign(kind="level", reference="")
        d = ens.differences().rename(columns={"diff": "mean"}).assign(kind="difference")
        cols = ["kind", "plan", "reference", "group", "metric", "mean", "mc_se", "model_sd", "total_sd",
                "ci_low", "ci_high", "n", "draws"]
        import pandas as pd

        pd.concat([s[cols], d[cols + ["n_positive", "share_positive"]]], ignore_index=True).to_csv(sys.stdout, index=False)
    else:
        print_ensemble_tables(ens, args.seed, args.group)
    return 0


def print_ensemble_tables(ens, seed_used: int, group: str | None) -> None:
    """Provenance, legends, one table per group (estimate, ``model ±``, draws > 0) and the robustness sentences."""
    import pandas as pd

    from simlib.format import MODEL_LEGEND

    prov = ens.provenance
    print(f"scenario {prov['scenario']} ({prov['scenario_file']}, sha256 {prov['scenario_sha256'][:12]}), "
          f"{prov['trials']} trials, seed {seed_used}, behaviour {prov['behaviour']}, "
          f"{prov['behaviour_draws']} behavioural draws ({prov['behaviour_design']}, seed "
          f"{prov['behaviour_design_seed']}), simlib {prov['simlib_version']}")
    print(f"{LEGEND} (Monte Carlo, pooled over draws); {MODEL_LEGEND}; "
          f">0 = draws where the paired difference is above 0")
    groups = [group] if group else ens.groups[::-1]
    with pd.option_context("display.width", 250, "display.max_columns", 80, "display.max_colwidth", 40):
        for g in groups:
            if g not in ens.groups:
                raise SimlibError(f"--group: '{g}' is not a role of the scenario, expected one of {ens.groups}")
            print(f"\n== {g} ==")
            print(ens.table(group=g).to_string())
            print()
            for line in ens.sentences("profit", g):
                print(line)


def _run_years(args: argparse.Namespace, scen, plans, draws: int) -> int:
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
    if args.format == "json":
        print(res.long().to_json(orient="records", indent=2))
    elif args.format == "csv":
        res.long().to_csv(sys.stdout, index=False)
    else:
        import pandas as pd

        print(f"scenario {scen.name} ({scen.source}), {args.years} years, {args.trials} trials, seed {args.seed}, "
              f"behaviour {behaviour}, attrition {'on' if scen.people.attrition.enabled else 'off'}")
        print(f"{LEGEND}; Δ = paired difference vs '{res.plans[0]}' on common random numbers; * = CI excludes 0")
        groups = [args.group] if args.group else res.groups[::-1]
        with pd.option_context("display.width", 250, "display.max_columns", 50, "display.max_colwidth", 40):
            for g in groups:
                print(f"\n== {g} ==")
                print(res.table(group=g).to_string())
    return 0
