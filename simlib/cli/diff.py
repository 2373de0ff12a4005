"""``simlib diff OLD.yaml NEW.yaml``: what changed in the plan, and what it does (paired, on the same draws).

Exit codes: 0 done (whatever the difference); 1 bad input (a message on
stderr), e.g. the scenarios' roles or market differ without ``--on-new``;
2 a malformed command line.
"""

from __future__ import annotations

import argparse

from simlib.cli.args import (
    add_allow_large_argument,
    add_behaviour_argument,
    add_scheduler_argument,
    positive_int,
    seed,
)


def add_parser(subparsers) -> None:
    """Register ``simlib diff``."""
    d = subparsers.add_parser(
        "diff", help="what changed between two scenarios' plans, and what it does (paired differences)",
        description="List the changes of the plan role by role, then simulate OLD's plan and NEW's plan on the "
                    "same random numbers and print the paired differences (NEW - OLD) with 95% CIs.")
    d.add_argument("old", metavar="OLD", help="scenario YAML file before the change")
    d.add_argument("new", metavar="NEW", help="scenario YAML file after the change")
    d.add_argument("--plan", metavar="NAME", help="plan to compare (default: each scenario's current_plan)")
    d.add_argument("--trials", type=positive_int, default=1000, help="Monte Carlo trials (default 1000)")
    d.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    d.add_argument("--on-new", action="store_true",
                   help="when roles, market or behaviour differ, compare both plans on NEW's (else refuse)")
    d.add_argument("--no-simulate", action="store_true", help="only list what changed")
    add_behaviour_argument(d, help="behaviour model (default: NEW's behaviour.mode, else dynamic)")
    add_scheduler_argument(d)
    add_allow_large_argument(d)
    d.set_defaults(func=run)


def _plan_of(scen, name: str | None) -> str:
    from simlib.errors import SimlibError

    plan = name or scen.current_plan
    if plan not in scen.plans:
        raise SimlibError(f"--plan: '{plan}' is not a plan of {scen.source}, expected one of {list(scen.plans)}")
    return plan


def run(args: argparse.Namespace) -> int:
    """Print the changes, then the paired effects; 0 when done."""
    from simlib.design.review import plan_changes, same_world
    from simlib.errors import SimlibError
    from simlib.fit.individuals import load_scenario  # the scenario, with the history it names applied

    old, new = load_scenario(args.old), load_scenario(args.new)
    po, pn = _plan_of(old, args.plan), _plan_of(new, args.plan)
    changes = plan_changes(old, po, new, pn)
    print(f"What changed ({old.source}:{po} -> {new.source}:{pn}):")
    for line in changes or ["nothing in the plan"]:
        print(f"  {line}")
    world = same_world(old, new)
    if world:
        print("Outside the plan:")
        for line in world:
            print(f"  {line}")
    if args.no_simulate:
        return 0
    if world and not args.on_new:
        raise SimlibError("the scenarios differ outside the plan (roles, market or behaviour, listed above), so the "
                          "plans cannot be compared like for like; pass --on-new to run both on NEW's, or --no-simulate")
    print_effects(args, old, po, new, pn, on_new=bool(world))
    return 0


def print_effects(args: argparse.Namespace, old, po: str, new, pn: str, *, on_new: bool) -> None:
    """Simulate both plans in one scenario on common random numbers and print the paired table."""
    from simlib.design.review import merged_scenario, paired_effects
    from simlib.engine.api import simulate
    from simlib.engine.core import check_request, resolve_behaviour
    from simlib.engine.parallel import resolve_executor, work_estimate
    from simlib.format import LEGEND

    merged = merged_scenario(old, po, new, pn)
    check_request(merged, args.trials, 2, allow_large=args.allow_large)
    work = work_estimate(args.trials * merged.headcount * 12 * 2, resolve_behaviour(merged, args.behaviour))
    with resolve_executor(args.scheduler, work=work) as ex:
        res = simulate(merged, ["old", "new"], trials=args.trials, rng=args.seed, reference="old",
                       behaviour=args.behaviour, executor=ex, allow_large=args.allow_large)
    eff = paired_effects(res, budgets=(old.budget.incentive, new.budget.incentive))
    print(f"\nWhat it does: {args.trials} trials, seed {args.seed}, behaviour {res.provenance['behaviour']}, "
          f"both plans on the same draws{' of NEW' + chr(39) + 's roles, market and behaviour' if on_new else ''}")
    print(today_text(old, po))
    print(f"{LEGEND}; new - old is paired on common random numbers; * = CI excludes 0")
    print(effects_text(eff, merged.currency))


def today_text(old, po: str) -> str:
    """What the comparison starts from: the plan reps work under today (OLD's current_plan), as ``simlib run``."""
    from simlib.present import readable

    cur = old.current_plan
    if cur == po:
        return f"today's plan: old ({readable(po)}, the current plan of OLD); new - old is what the change does"
    return (f"today's plan: {readable(cur)} (the current plan of OLD), not old ({readable(po)}): reps move from it "
            f"to either plan, so each plan's levels are those `simlib run` shows for it")


def effects_text(eff, currency: str = "EUR") -> str:
    """:func:`simlib.design.review.paired_effects` as people read it: display names, money in ``currency``
    scaled to k / M, shares in %, the change in points (:mod:`simlib.present`); ``*`` when the CI excludes 0."""
    import pandas as pd

    import simlib.present as present

    rows = {}
    for r in eff.itertuples():
        scale = present.money_scale([r.old, r.new])  # old and new of a row on one scale
        rows[present.label(r.metric)] = {
            "old": present.fmt(r.old, r.old_se, r.metric, currency, scale=scale),
            "new": present.fmt(r.new, r.new_se, r.metric, currency, scale=scale),
            "new - old": present.fmt(r.diff, r.se, r.metric, currency, signed=True) + (" *" if r.significant else ""),
        }
    return pd.DataFrame.from_dict(rows, orient="index").to_string()
