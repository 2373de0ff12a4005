"""``simlib reps SCENARIO --plan P [--vs REF] [--loss 0.05]``: each rep's and team's pay under a plan against the reference."""

from __future__ import annotations

import argparse
import sys

import numpy as np

import simlib.present as present
from simlib.cli.args import (
    add_behaviour_argument,
    add_output_arguments,
    add_scheduler_argument,
    check_out,
    positive_int,
    resolve_output,
    seed,
    unit_arg,
    write_table,
)

#: output formats of reps (``--format`` / the ``--out`` file's ending)
FORMATS = ("table", "csv", "json", "xlsx", "parquet")

#: losers listed one by one on screen (all of them are in --out)
SHOW = 25


#: ``--loss``: a fraction of expected pay (0.05 = 5%)
loss_fraction = unit_arg("a fraction", "0.05 (5% of expected pay)")


def add_parser(subparsers) -> None:
    """Register ``simlib reps``."""
    r = subparsers.add_parser("reps", help="per-rep and per-team pay under a plan vs the current one: winners, "
                                           "losers, rep statements, team cost and attainment",
                              description="Simulate the candidate plan and the reference on the same draws, keep "
                                          "every rep's pay, and print winners and losers per role (by name) and "
                                          "each team's incentive cost and attainment with 95% CIs.")
    r.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    r.add_argument("--plan", required=True, help="the candidate plan")
    r.add_argument("--vs", metavar="REF", help="the plan compared against (default: the current plan)")
    r.add_argument("--loss", type=loss_fraction, default=0.05,
                   help="a loser (winner) loses (gains) more than this fraction of expected pay (default 0.05)")
    r.add_argument("--trials", type=positive_int, default=500,
                   help="Monte Carlo trials (default 500; every rep's pay in every trial is kept for its quantiles)")
    r.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    add_behaviour_argument(r, help="behaviour model: none or dynamic (default: the scenario's behaviour.mode, else dynamic)")
    r.add_argument("--chunk-size", type=positive_int, default=None,
                   help="trials per chunk (default: chosen from the trials and workers; results do not depend on it)")
    add_scheduler_argument(r)
    add_output_arguments(r, FORMATS, what="the rep statement (one row per rep; json: its rows; xlsx: a sheet per "
                                          "table, with the teams and the winners and losers)")
    r.add_argument("--teams", metavar="FILE", help="write the per-team table (.csv, .parquet or .json)")
    r.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compute and print winners and losers, the losers, and the team table; write the tables; 0 on success."""
    from simlib.engine.core import resolve_behaviour
    from simlib.engine.parallel import resolve_executor, work_estimate
    from simlib.engine.reps import rep_answers
    from simlib.fit.individuals import load_scenario  # the scenario, with the history it names applied

    out = resolve_output(args, FORMATS)
    check_out(args.teams, args.force)
    scen = load_scenario(args.scenario)
    work = work_estimate(args.trials * scen.headcount * 12 * 2, resolve_behaviour(scen, args.behaviour))
    with resolve_executor(args.scheduler, work=work) as ex:
        ans = rep_answers(scen, args.plan, reference=args.vs, trials=args.trials, rng=args.seed, loss=args.loss,
                          behaviour=args.behaviour, chunk_size=args.chunk_size, executor=ex)
    text = "\n".join([
        f"'{ans.plan}' against '{ans.reference}', rep by rep: {ans.trials} trials on common random numbers "
        f"(seed {args.seed}, behaviour {ans.provenance['behaviour']}); pay = base + incentive, {scen.currency} per "
        f"year; a loser (winner) loses (gains) more than {ans.loss:.0%} of expected pay",
        format_counts(ans, scen.currency), format_losers(ans, SHOW, scen.currency),
        "teams: incentive cost and attainment (team revenue / team quota), mean ± 95% CI half-width",
        format_teams(ans, scen.currency)])
    out.emit(text=lambda: text, tables=lambda: rep_tables(ans), main="statement",
             json=lambda: ans.statement.to_json(orient="records", indent=1))
    if args.teams:
        write_table(ans.teams, args.teams)
        # a csv or json document on stdout stays clean: the note goes to stderr
        print(f"wrote {args.teams}: {len(ans.teams)} teams", file=sys.stdout if out.format == "table" or out.path
              else sys.stderr)
    return 0


def rep_tables(ans) -> dict:
    """Sheets of the per-rep answers: the rep statement, the teams, winners and losers per role and team."""
    return {"statement": ans.statement, "teams": ans.teams, "winners_losers": ans.winners_losers()}


def format_counts(ans, currency: str = "EUR") -> str:
    """Winners, losers and unchanged per role and in total; the expected change of pay in ``currency``."""
    w = ans.winners_losers()
    w = w[w["team"] == "all"].drop(columns="team")
    w["role"] = w["role"].map(present.readable)
    w["change"] = w["change"].map(lambda v: present.fmt_value(v, unit_="money", currency=currency, signed=True))
    return w.rename(columns={"change": "expected change of pay"}).to_string(index=False)


def format_losers(ans, show: int, currency: str = "EUR") -> str:
    """The losers, largest loss first (at most ``show`` listed): expected pay under both plans and the change in
    percent of it, each ± its 95% CI half-width, and the chance of lower pay."""
    import pandas as pd

    lo = ans.losers()
    if lo.empty:
        return f"no rep loses more than {ans.loss:.0%} of expected pay"
    t = lo.head(show)
    ref, plan = present.readable(ans.reference), present.readable(ans.plan)

    def pay(col):
        se = t[f"{col}_se"] if f"{col}_se" in t else [None] * len(t)
        return [present.fmt(v, s, unit_="money", currency=currency) for v, s in zip(t[col], se, strict=True)]

    base = t["expected_current"].where(t["expected_current"] != 0)
    out = pd.DataFrame({
        "rep_id": t["rep_id"], "role": t["role"].map(present.readable), "team": t["team"],
        f"expected pay, {ref}": pay("expected_current"), f"expected pay, {plan}": pay("expected_candidate"),
        "change": [present.fmt_relative(p, s) for p, s in
                   zip(t["change_pct"], (t["change_se"] / base) if "change_se" in t else [None] * len(t), strict=True)],
        "chance of lower pay": t["p_lower"].map(lambda v: f"{v:.0%}")})
    more = f"\n... and {len(lo) - show} more (all in --out)" if len(lo) > show else ""
    from simlib.cli.args import narrow

    return f"losers ({len(lo)}):\n" + narrow(out.set_index("rep_id")) + more


def format_teams(ans, currency: str = "EUR") -> str:
    """One line per team: reps, winners, losers, incentive cost under both plans and the change (money in
    ``currency``, to the precision its CI allows), attainment under both in percent; plans named in words."""
    t = ans.teams
    ref, plan = present.readable(ans.reference), present.readable(ans.plan)
    out = t[["role", "team", "reps", "winners", "losers"]].copy()
    out["role"] = out["role"].map(present.readable)
    for name, head, signed in (("cost_current", f"incentive cost, {ref}", False),
                               ("cost_candidate", f"incentive cost, {plan}", False), ("cost_change", "change", True)):
        out[head] = [present.fmt(m, s, unit_="money", currency=currency, signed=signed) if np.isfinite(m) else "n/a"
                     for m, s in zip(t[name], t[f"{name}_se"], strict=True)]
    for name, head in (("attainment_current", f"attainment, {ref}"), ("attainment_candidate", f"attainment, {plan}")):
        out[head] = [present.fmt(m, s, unit_="percent") if np.isfinite(m) else "n/a"  # in percent, as run prints it
                     for m, s in zip(t[name], t[f"{name}_se"], strict=True)]
    from simlib.cli.args import narrow

    return narrow(out.set_index(["role", "team"]))  # at most 100 columns: further columns in a further block
