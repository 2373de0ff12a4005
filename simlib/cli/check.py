"""``simlib check SCENARIO``: fail (exit 1) when a plan breaches a guardrail with probability above the level.

Exit codes: 0 every plan asked for passes every rule; 1 a plan fails a rule,
or the input is bad (a message on stderr); 2 a malformed command line.
"""

from __future__ import annotations

import argparse
import json
import math

from simlib.cli.args import (
    add_allow_large_argument,
    add_behaviour_argument,
    add_output_arguments,
    add_scheduler_argument,
    positive_int,
    resolve_output,
    seed,
    unit_arg,
)

#: ``--level``: a probability of breach
probability = unit_arg("a probability", "0.2")


def add_parser(subparsers) -> None:
    """Register ``simlib check``."""
    c = subparsers.add_parser(
        "check", help="exit 1 when a plan breaches a guardrail with probability above the level",
        description="Simulate the plans and estimate, per plan and guardrail rule, the probability of breach "
                    "(per-trial share where the metric is known trial by trial, else a normal approximation to "
                    "the Monte Carlo estimate). Thresholds: the scenario's checks: section, else the guardrail "
                    "bands. Exit 0 all pass, 1 a plan fails or the input or command line is bad.")
    c.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    c.add_argument("--plans", nargs="+", metavar="PLAN", help="plans to check (default: all)")
    c.add_argument("--trials", type=positive_int, default=1000, help="Monte Carlo trials (default 1000)")
    c.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    c.add_argument("--level", type=probability, default=None, metavar="P",
                   help="tolerated probability of breach for rules without their own "
                        "(default: checks.max_breach_probability, else 0.2)")
    add_behaviour_argument(c, help="behaviour model (default: the scenario's behaviour.mode, else dynamic)")
    add_output_arguments(c, what="the plan x rule checks")
    add_scheduler_argument(c)
    add_allow_large_argument(c)
    c.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Simulate, judge and print; 0 when every plan asked for passes, else 1."""
    from simlib.design.review import breach_table, unjudged_rules
    from simlib.engine.api import simulate
    from simlib.engine.core import check_request, resolve_behaviour
    from simlib.engine.parallel import resolve_executor, work_estimate
    from simlib.errors import SimlibError
    from simlib.fit.individuals import load_scenario  # the scenario, with the history it names applied

    out = resolve_output(args)
    scen = load_scenario(args.scenario)
    unknown = [p for p in args.plans or [] if p not in scen.plans]
    if unknown:
        raise SimlibError(f"--plans: {unknown} not plans of {scen.source}, expected some of {list(scen.plans)}")
    check_request(scen, args.trials, len(args.plans or scen.plans), allow_large=args.allow_large)
    work = work_estimate(args.trials * scen.headcount * 12 * len(args.plans or scen.plans),
                         resolve_behaviour(scen, args.behaviour))
    with resolve_executor(args.scheduler, work=work) as ex:
        res = simulate(scen, args.plans, trials=args.trials, rng=args.seed, behaviour=args.behaviour, executor=ex,
                       allow_large=args.allow_large)
    table = breach_table(res, scen, plans=args.plans or list(scen.plans), level=args.level)
    skipped = unjudged_rules(res, scen, plans=args.plans or list(scen.plans), level=args.level)
    failed = sorted(set(table.loc[table["status"] == "FAIL", "plan"]))
    records = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
               for r in table.to_dict(orient="records")]
    doc = {"scenario": scen.source, "trials": args.trials, "seed": args.seed, "passed": not failed,
           "failed_plans": failed, "checks": records, "not_judged": skipped.to_dict(orient="records")}
    out.emit(text=lambda: format_table(table, scen.source, args.trials, args.seed, failed, scen.currency, skipped),
             json=lambda: json.dumps(doc, indent=2),
             tables=lambda: {"checks": table, **({"not_judged": skipped} if len(skipped) else {})})
    return 1 if failed else 0


def format_table(table, source: str, trials: int, seed_used: int, failed: list[str], currency: str = "EUR",
                 skipped=None) -> str:
    """The plan x rule table, a section per plan: PASS/FAIL, probability of breach, value, allowed region, level
    and basis of each rule, in blocks of at most 100 columns; then a verdict.

    Cells read as ``run``'s (:mod:`simlib.present`): rules by display name, values in their unit (percent with
    ``%``, money in ``currency`` on k / M) with their 95% CI, probabilities and levels in percent. The CSV, JSON
    and workbook keep ``table``'s numbers.
    """
    import pandas as pd

    import simlib.present as present

    lines = [f"simlib check {source}: {trials} trials, seed {seed_used}",
             "P(breach): per-trial = share of simulated years beyond the edge (± 95% CI); "
             "normal = normal approximation to the Monte Carlo estimate of the mean"]
    view = pd.DataFrame({  # headers in words, plans and groups by display name, as run's tables
        "Plan": [present.readable(p) for p in table["plan"]], "Group": [present.readable(g) for g in table["group"]],
        "Rule": [present.label(m) for m in table["metric"]],
        "Value": [present.fmt(v, s, m, currency)
                  for v, s, m in zip(table["value"], table["value_se"], table["metric"], strict=True)],
        "Allowed": [allowed_text(r, currency) for r in table.itertuples()],
        "P(breach)": [present.fmt(p, s if math.isfinite(s) and s > 0 else None, unit_="percent")
                      for p, s in zip(table["p_breach"], table["p_se"], strict=True)],
        "Basis": table["basis"], "Level": [present.fmt_value(x, unit_="percent") for x in table["level"]],
        "Status": table["status"]})
    from simlib.cli.args import narrow

    cols = ["Status", "P(breach)", "Value", "Allowed", "Level", "Basis"]  # the verdict first, beside its chance
    for plan in dict.fromkeys(view["Plan"]):  # a section per plan: each block at most 100 columns
        lines += [f"\n{plan}:", narrow(view[view["Plan"] == plan].set_index(["Group", "Rule"])[cols])]
    if skipped is not None:  # rules whose metric has no value: said, not silently dropped
        for (metric, reason), g in skipped.groupby(["metric", "reason"], sort=False):
            where = {}
            for plan, group in zip(g["plan"], g["group"], strict=True):
                where.setdefault(present.readable(plan), []).append(present.readable(group))
            lines.append(f"not judged: {present.label(metric)} for "
                         + "; ".join(f"{p} ({', '.join(gs)})" for p, gs in where.items()) + f": {reason}")
    lines.append(f"FAIL: {', '.join(present.readable(p) for p in failed)} breach a guardrail above the level" if failed
                 else "PASS: every plan within the levels")
    return "\n".join(lines)


def allowed_text(row, currency: str = "EUR") -> str:
    """A rule's allowed region in its metric's unit (``50.0%-90.0%``, ``<= 9.0%``); the table's text where the edges
    are not numbers (``cost <= budget``)."""
    import simlib.present as present

    low, high = (float(x) for x in (row.low, row.high))
    if not (math.isfinite(low) or math.isfinite(high)):
        return str(row.allowed)
    def edge(x):
        return present.fmt_value(x, row.metric, currency)

    if not math.isfinite(low):
        return f"<= {edge(high)}"
    return f">= {edge(low)}" if not math.isfinite(high) else f"{edge(low)}-{edge(high)}"
