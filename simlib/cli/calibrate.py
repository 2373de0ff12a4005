"""``simlib calibrate HISTORY --out SCENARIO``: fit a scenario to rep-level monthly history."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from simlib.cli.args import add_history_args, fraction, int_arg, print_skipped, seed
from simlib.errors import SimlibError
from simlib.io import write_atomic

#: bootstrap replicates and simulated years: a whole number >= 0
count = int_arg(0, "a whole number >= 0")


def add_parser(subparsers) -> None:
    """Register ``simlib calibrate``."""
    c = subparsers.add_parser(
        "calibrate", help="fit a scenario to rep-level monthly history",
        description="Fit the template scenario's parameters to your rep-level monthly history and write a "
                    "scenario that runs as it is; prints each estimate with a bootstrap standard error and a 90% "
                    "interval beside the template's value, and a fit check of attainment.")
    add_history_args(c)
    c.add_argument("--out", required=True, help="calibrated scenario YAML to write")
    c.add_argument("--plan", help="plan in force in the history (default: the template's current plan)")
    c.add_argument("--year", type=int, help="calibrate on this year only (default: all years pooled)")
    c.add_argument("--growth", type=fraction, default=0.0,
                   help="expected demand growth over the history year, fraction (default 0)")
    c.add_argument("--bootstrap", type=count, default=50, help="bootstrap replicates for standard errors (default 50)")
    c.add_argument("--trials", type=count, default=20, help="simulated years for the fit diagnostics (default 20)")
    c.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    c.add_argument("--report", help="also write estimates, standard errors and diagnostics as JSON")
    c.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    c.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Calibrate, write the scenario (and ``--report``), print estimates and fit; 0 on success."""
    from simlib.fit.calibrate import calibrate, file_sha256, load_for, write_scenario
    from simlib.io import jsonable

    out = Path(args.out)
    if out.exists() and not args.force:
        raise SimlibError(f"{out} exists; use --force to overwrite it")
    template, hist = load_for(args.scenario, args.history, args.on_error, args.role_map)
    print_skipped(hist)
    if args.year is not None:
        if args.year not in hist.years:
            raise SimlibError(f"--year: {hist.source} has no rows for year {args.year}; years present {hist.years}")
        hist = hist.year(args.year)
    elif len(hist.years) > 1:
        print(f"note: pooling years {hist.years}; if the plan changed between them, calibrate one year with --year")
    cal = calibrate(hist, template, plan=args.plan, growth=args.growth, bootstrap=args.bootstrap,
                    rng=args.seed, trials=args.trials)
    if hist.has_leave_date:
        cal = _with_attrition(cal, hist, template)
    write_scenario(cal, out, force=args.force, history_sha256=file_sha256(args.history))
    print(f"calibrated {template.source} to {hist.source} ({len(hist.frame)} rows, years {hist.years}); "
          f"standard errors and intervals from {args.bootstrap} bootstrap replicates over reps")
    print_estimates(cal)
    if args.report:
        write_atomic(args.report, json.dumps(jsonable(cal.to_dict()), indent=2))
        print(f"wrote {args.report}")
    print(f"wrote {out}")
    return 0


def print_estimates(cal) -> None:
    """The fitted parameters (seasonality left out), data notes and per-role fit of a
    :class:`simlib.fit.calibrate.Calibration`, four significant digits.

    Each estimate with its bootstrap standard error and interval (``Estimate.lo``, ``Estimate.hi``:
    bootstrap percentiles, with the profile-likelihood interval for ramp months), flagged
    "at lower bound" when the estimate sits at its bound (an sd of 0, ramp months 1), where the
    standard error alone would understate the uncertainty.
    """
    pct = next((f"{e.level:.0%}" for e in cal.estimates if math.isfinite(e.level)), "")
    print(f"{'parameter':58s} {'estimate':>11s} {'se':>10s} {pct + ' interval':>24s} {'template':>11s}")
    for e in cal.estimates:
        if ".seasonality." in e.path:
            continue
        iv = f"[{_g4(e.lo)}, {_g4(e.hi)}]" if math.isfinite(e.lo) else "-"
        flag = f"  at {e.at_bound} bound" if e.at_bound else ""
        tv = _g4(e.template) if math.isfinite(e.template) else "-"  # no template value (a market change)
        print(f"{e.path:58s} {_g4(e.value):>11s} {_g4(e.se):>10s} {iv:>24s} {tv:>11s}{flag}")
    for n in cal.notes:
        print(f"note: {n}")
    for rname, rd in cal.diagnostics.get("roles", {}).items():
        if "ks" in rd:
            qs = rd["attainment_quantiles"]
            bad = [q["p"] for q in qs if not q["within"]]
            print(f"fit {rname}: attainment median history {qs[3]['history']:.3f} vs simulated {qs[3]['simulated']:.3f}; "
                  f"KS p={rd['ks']['pvalue']:.3g}; quantiles outside 3 sd: {bad or 'none'}")


def _g4(v: float) -> str:
    """Four significant digits, in plain digits with separators (no exponents)."""
    from simlib.present import plain

    return plain(v, 4) if math.isfinite(v) else "nan"


def _with_attrition(cal, hist, template):
    """The calibration with the leaving hazard fitted to the history's leave dates (docs/model.md 4.12),
    switched on in the calibrated scenario; prints the estimates."""
    import dataclasses

    from simlib.fit.attrition import fit_attrition
    from simlib.scenario import scenario_from_dict

    fit = fit_attrition(hist, template)
    a = template.people.attrition
    keep = {"annual_rate": min(max(fit.params["annual_rate"], 0.0), 0.99),
            "pay_elasticity": max(fit.params["pay_elasticity"], 0.0),
            "attainment_effect": max(fit.params["attainment_effect"], 0.0),
            "top_premium": fit.params["top_premium"] if math.isfinite(fit.params["top_premium"]) else a.top_premium}
    keep["top_premium"] = max(keep["top_premium"], 0.0)
    data = cal.scenario.model_dump(by_alias=True, mode="json")
    data["people"]["attrition"].update(enabled=True, **keep)
    print(f"attrition: {fit.leavers} leavers in {fit.rep_months} rep-months")
    for _, r in fit.table().iterrows():
        print(f"  {r['coefficient']:18s} {_g4(r['estimate']):>10s} se {_g4(r['se']):>9s}")
    print("  people.attrition: " + ", ".join(f"{k} {_g4(v)}" for k, v in keep.items())
          + " (negative estimates set to 0; cap_effect kept)")
    notes = [*cal.notes, f"attrition fitted to {fit.leavers} leavers (people.attrition, switched on)"]
    return dataclasses.replace(cal, scenario=scenario_from_dict(data, cal.scenario.source), notes=notes)
