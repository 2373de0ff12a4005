"""``simlib backtest HISTORY --plan-after PLAN``: fit on year one, predict year two under the new plan, compare."""

from __future__ import annotations

import argparse

from simlib.cli.args import (
    add_allow_large_argument,
    add_behaviour_argument,
    add_history_args,
    add_output_arguments,
    add_progress_argument,
    add_uncertainty_arguments,
    fraction,
    int_arg,
    key_values,
    positive_int,
    print_skipped,
    progress_on,
    resolve_output,
    seed,
)

#: default of ``--quota-prior-sd`` (:data:`simlib.fit.backtest.QUOTA_PRIOR_SD`, kept here so that ``--help`` needs
#: no import of the fit)
QUOTA_PRIOR_SD = 0.10


def quota_prior_sd(text: str) -> float | None:
    """An argparse ``type``: a log-sd >= 0, or ``none`` (no prior on quota setting)."""
    if text.strip().lower() == "none":
        return None
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a log-sd such as 0.1, or 'none', got {text!r}") from None
    if not (v >= 0 and v < float("inf")):
        raise argparse.ArgumentTypeError(f"expected a log-sd >= 0 (such as 0.1), or 'none', got {text}")
    return v


def add_parser(subparsers) -> None:
    """Register ``simlib backtest``."""
    b = subparsers.add_parser(
        "backtest", help="fit on year one, predict year two under the new plan, compare",
        description="On two years of history with a plan change: calibrate on year one, predict year two under "
                    "--plan-after with predictive intervals, and compare with what happened.")
    add_history_args(b)
    b.add_argument("--plan-after", required=True, help="plan in force in year two")
    b.add_argument("--plan-before", help="plan in force in year one (default: the template's current plan)")
    b.add_argument("--trials", type=positive_int, default=200, help="simulated years (default 200)")
    b.add_argument("--level", type=float, default=0.90, help="predictive interval coverage (default 0.90)")
    b.add_argument("--growth", type=fraction, default=0.0, help="expected demand growth into year two (default 0)")
    add_behaviour_argument(b, help="behaviour model for the prediction (default: the scenario's behaviour.mode, "
                                   "else dynamic, as in simlib run)")
    b.add_argument("--bootstrap", type=int_arg(0, "a whole number >= 0"), default=40,
                   help="bootstrap replicates of the calibration the prediction is spread over (fit uncertainty; default 40)")
    b.add_argument("--quota-prior-sd", type=quota_prior_sd, default=QUOTA_PRIOR_SD, metavar="SD",
                   help="log-sd of the prior on quota setting: the plan in force's quotas were set at the template's "
                        "quota level of the demand the firm planned on, give or take SD, so year one's market shock is "
                        f"drawn given the fitted levels (default {QUOTA_PRIOR_SD:g}; 'none': the market's prior alone; "
                        "docs/model.md 4.13)")
    add_uncertainty_arguments(b)
    add_allow_large_argument(b)
    b.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    add_output_arguments(b, what="the comparison (json: with the calibration)", deprecated={"--json": "json"})
    add_progress_argument(b)
    b.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Backtest, print the comparison table and coverage, optionally write JSON; 0 on success."""
    import json

    from simlib.fit.backtest import backtest
    from simlib.fit.calibrate import load_for
    from simlib.io import jsonable

    out = resolve_output(args)
    template, hist = load_for(args.scenario, args.history, args.on_error, args.role_map)
    print_skipped(hist)
    bt = backtest(hist, template, plan_after=args.plan_after, plan_before=args.plan_before, trials=args.trials,
                  rng=args.seed, level=args.level, growth=args.growth, bootstrap=args.bootstrap, behaviour=args.behaviour,
                  behaviour_draws=args.behaviour_draws, behaviour_seed=args.behaviour_seed, progress=progress_on(args),
                  allow_large=args.allow_large, quota_prior_sd=args.quota_prior_sd)
    pct = round(100 * args.level)
    text = "\n".join([
        f"backtest on {hist.source}: fitted on {bt.years[0]} under '{bt.plan_before}', predicted {bt.years[1]} "
        f"under '{bt.plan_after}' from {bt.trials} simulated years (seed {args.seed}; behaviour {bt.behaviour}; "
        f"{bt.replicates} bootstrap replicates of the fit); {pct}% predictive intervals",
        f"money in {_money_in(bt, template.currency)} (interval ends without the code); attainment and shares in %, their changes "
        f"in percentage points; pred. change = new plan minus old on the same simulated years, ± 95% CI half-width",
        format_backtest(bt.frame(), pct, template.currency),
        f"coverage: {bt.coverage:.0%} of actuals inside their {pct}% interval",
        *(["sign across the behavioural priors (predicted change, new plan minus old, in each draw):"]
          if bt.robustness else []),
        *(f"  {r}" for r in bt.robustness),
        *(f"note: {n}" for n in bt.notes),
    ])
    out.emit(text=lambda: text, json=lambda: json.dumps(jsonable(bt.to_dict()), indent=2),
             tables=lambda: backtest_tables(bt))
    return 0


def _money_in(bt, currency: str) -> str:
    """The currency of the table's money: the scenario's, or each role's own and the total's."""
    other = sorted({r["currency"] for r in bt.rows if r.get("currency")} - {currency})
    return currency if not other else f"each role's own currency ({', '.join(other)} beside {currency}; total in {currency})"


def backtest_tables(bt) -> dict:
    """Sheets of a backtest: the comparison (actual, predicted, interval, changes), the notes and the
    calibration's estimates."""
    import pandas as pd

    cal = bt.calibration
    return {"backtest": bt.frame(), "notes": pd.DataFrame({"note": list(bt.notes)}),
            "calibration": pd.DataFrame([e.__dict__ for e in cal.estimates]),
            "provenance": key_values({"history": cal.history_source, "plan_before": bt.plan_before,
                                      "plan_after": bt.plan_after, "years": list(bt.years), "trials": bt.trials,
                                      "level": bt.level, "coverage": bt.coverage})}


#: display name and unit of each compared metric (:data:`simlib.fit.backtest.METRICS_BT`)
BT_DISPLAY = {"revenue": ("Revenue", "money"), "payout": ("Incentive paid", "money"),
              "revenue_per_rep": ("Revenue per rep", "money"), "payout_per_rep": ("Incentive paid per rep", "money"),
              "mean_attainment": ("Attainment, mean", "percent"), "median_attainment": ("Attainment, median", "percent"),
              "share_at_quota": ("Reps at or above quota", "percent")}


def format_backtest(f, pct: int, currency: str = "EUR") -> str:
    """The comparison table of :meth:`simlib.fit.backtest.Backtest.frame` as text.

    Metrics by display name, roles in words; money in ``currency`` on one
    k / M scale per row (actual, predicted and the predictive interval), three
    significant digits (an interval 20% wide has no more); attainment and
    shares in percent, their changes in percentage points. The predicted
    change carries its 95% CI half-width (:func:`simlib.present.fmt`) beside
    the actual change.
    """
    import pandas as pd

    import simlib.present as present

    def unit_of(m):
        return BT_DISPLAY.get(m, (m, "ratio"))[1]

    def scale_of(r):
        return present.money_scale([r.actual, r.predicted, r.lo, r.hi]) if unit_of(r.metric) == "money" else None

    def cur(r):  # a row's own currency (a role paid in another), else the scenario's
        c = getattr(r, "currency", None)
        return c if isinstance(c, str) and c else currency

    def value(v, r, scale, **kw):
        if v is None or v != v:
            return "n/a"
        return present.fmt_value(v, unit_=unit_of(r.metric), currency=cur(r), scale=scale, **kw)

    def bare(v, r, scale):  # an interval's end: the value without the currency code (the row's value names it)
        return value(v, r, scale).removesuffix(f" {cur(r)}")

    rows = list(f.itertuples(index=False))
    scales = [scale_of(r) for r in rows]
    show = pd.DataFrame({
        "group": [present.readable(r.group) for r in rows],
        "metric": [BT_DISPLAY.get(r.metric, (r.metric, ""))[0] for r in rows],
        "actual": [value(r.actual, r, s) for r, s in zip(rows, scales, strict=True)],
        "predicted": [value(r.predicted, r, s) for r, s in zip(rows, scales, strict=True)],
        f"{pct}% interval": [f"{bare(r.lo, r, s)} to {bare(r.hi, r, s)}" for r, s in zip(rows, scales, strict=True)],
        "inside": f["inside"].map(lambda v: "-" if v is None else ("yes" if v else "NO")).to_list(),
        "pred. change": [present.fmt(r.predicted_change, r.predicted_change_se, unit_=unit_of(r.metric),
                                     currency=cur(r), signed=True) for r in rows],
        "actual change": [value(r.actual_change, r, None, signed=True) for r in rows],
    })
    if "change_draws" in f.columns:  # --behaviour-draws: draws of the priors where the predicted change is above 0
        show.insert(show.columns.get_loc("pred. change") + 1, "pred. >0",
                    [f"{p}/{n}" for p, n in zip(f["change_draws_positive"], f["change_draws"], strict=True)])
    from simlib.cli.args import narrow

    with pd.option_context("display.max_rows", 200):
        return narrow(show.set_index(["group", "metric"]))  # blocks of at most 100 columns
