"""``simlib calibrate HISTORY --out SCENARIO``: fit a scenario to rep-level monthly history."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from simlib.cli.args import add_allow_large_argument, add_history_args, fraction, int_arg, print_skipped, seed
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
    add_allow_large_argument(c)
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
                    rng=args.seed, trials=args.trials, allow_large=args.allow_large)
    if hist.has_leave_date:
        cal = _with_attrition(cal, hist, template)
    write_scenario(cal, out, force=args.force, history_sha256=file_sha256(args.history))
    print(f"calibrated {template.source} to {hist.source} ({len(hist.frame)} rows, years {hist.years}); "
          f"standard errors and intervals from {args.bootstrap} bootstrap replicates over reps")
    print_estimates(cal, cal.scenario.currency)
    if args.report:
        write_atomic(args.report, json.dumps(jsonable(cal.to_dict()), indent=2))
        print(f"wrote {args.report}")
    print(f"wrote {out}")
    return 0


def print_estimates(cal, currency: str = "EUR") -> None:
    """The fitted parameters (seasonality left out), data notes and per-role fit of a
    :class:`simlib.fit.calibrate.Calibration`, four significant digits, by role.

    Each estimate with its unit (:func:`parameter_unit`; money in ``currency``), bootstrap standard error and
    interval (``Estimate.lo``, ``Estimate.hi``: bootstrap percentiles, with the profile-likelihood interval for
    ramp months). An estimate at its bound (an sd of 0, ramp months 1) shows no standard error (a bootstrap SE of
    a clipped estimate is no ± about it) and reads "at lower bound (one-sided interval)". An interval narrower
    than four significant digits show is printed with the digits that tell its ends apart. The tables are at
    most 100 columns wide (:func:`simlib.cli.args.narrow`).
    """
    import pandas as pd

    from simlib.cli.args import narrow

    pct = next((f"{e.level:.0%}" for e in cal.estimates if math.isfinite(e.level)), "")
    scen = getattr(cal, "scenario", None)  # a calibration's, or none (estimates alone)
    roles = scen.roles if scen is not None else {}
    own = {r: roles[r].currency for r in roles if roles[r].currency and roles[r].currency != currency}
    where = f" ({', '.join(f'{r} in {c}' for r, c in own.items())}: each role's in its own)" if own else ""
    print(f"estimate, bootstrap standard error (se), {pct} interval and the template's value; money in {currency}{where}")
    groups: dict[str, list] = {}
    for e in cal.estimates:
        if ".seasonality." not in e.path:
            groups.setdefault(_group_of(e.path), []).append(e)
    for group, ests in groups.items():
        rows = {}
        for e in ests:
            name = e.path.split(f"roles.{group}.", 1)[1] if f"roles.{group}." in e.path else e.path
            if e.path.startswith("plans."):
                name += f" (plan {e.path.split('.')[1]})"
            g = _ends(e.lo, e.hi)
            rows[name] = {"unit": parameter_unit(e.path, own.get(group, currency)), "estimate": g(e.value),
                          "se": "-" if e.at_bound or not math.isfinite(e.se) else _g4(e.se),
                          f"{pct} interval": f"[{g(e.lo)}, {g(e.hi)}]" if math.isfinite(e.lo) else "-",
                          "template": _g4(e.template) if math.isfinite(e.template) else "-",  # none: a market change
                          "note": f"at {e.at_bound} bound (one-sided interval)" if e.at_bound else ""}
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.index.name = "parameter"
        if not table["note"].any():
            table = table.drop(columns="note")
        print(f"\n{group}:" if group == "market" else f"\n{group} (roles.{group}.*, plans.*.roles.{group}.*):")
        print(narrow(table))
    for n in cal.notes:
        print(f"note: {n}")
    for rname in roles:  # a role not fitted at all (too few reps, not in the history) is no table above: say so
        why = getattr(cal, "kept", {}).get(f"roles.{rname}")
        if why:
            print(f"note: {rname}: {why}" if "kept" in why else f"note: {rname}: every parameter kept from the template: {why}")
    for rname, rd in cal.diagnostics.get("roles", {}).items():
        if "ks" in rd:
            qs = rd["attainment_quantiles"]
            bad = [q["p"] for q in qs if not q["within"]]
            print(f"fit {rname}: attainment median history {qs[3]['history']:.3f} vs simulated {qs[3]['simulated']:.3f}; "
                  f"KS p={rd['ks']['pvalue']:.3g}; quantiles outside 3 sd: {bad or 'none'}")


def _group_of(path: str) -> str:
    """The role a parameter belongs to (``roles.R.*``, ``plans.P.roles.R.*``), else its first part (``market``)."""
    parts = path.split(".")
    if parts[0] == "roles" and len(parts) > 2:
        return parts[1]
    if parts[0] == "plans" and len(parts) > 4 and parts[2] == "roles":
        return parts[3]
    return parts[0]


#: units of calibrated parameters by their last name (money ones written with the currency)
_UNITS = {
    "new_hire_share": "share of reps", "ramp_months": "months", "ability_sd": "sd of log",
    "territory_sd": "sd of log", "noise": "sd of log", "level": "x expected",
    "calls_per_month": "calls per month", "talk_minutes_per_call": "minutes per call", "lead_rate": "per call",
    "conversion_rate": "per lead", "deal_value": "{cur} per deal", "deal_value_cv": "cv",
    "record_accuracy": "score 0-1", "record_accuracy_sd": "score sd", "deals_per_month": "deals per month",
    "deal_size_mean": "{cur} per deal", "deal_size_sd_log": "sd of log", "new_account_share": "share of deals",
    "milestones_per_month": "per month", "satisfaction": "score 0-1", "satisfaction_sd": "score sd",
    "cancel_rate": "share of deals", "cancel_window_months": "months",
    "existing_revenue_per_month": "{cur} per month", "revenue_cv": "cv", "partners_per_month": "per month",
    "partner_mature_revenue": "{cur}/partner-month", "partner_ramp_months": "months",
    "partner_satisfaction": "score 0-1", "partner_satisfaction_sd": "score sd", "policy_adherence": "score 0-1",
    "policy_adherence_sd": "score sd", "revenue_per_month": "{cur} per month", "revenue_per_unit": "{cur} per unit",
    "growth_mean": "per year", "growth_sd": "sd per year", "monthly_sd": "sd of log", "monthly_rho": "correlation",
}


def parameter_unit(path: str, currency: str = "EUR") -> str:
    """The unit of a calibrated parameter (``roles.key_account.production.deal_size_mean``: ``EUR per deal``);
    a market change (``market.change.2025-2026``) is a share of a year's demand; '' when not known."""
    if path.startswith("market.change."):
        return "share per year"
    return _UNITS.get(path.rsplit(".", 1)[-1], "").replace("{cur}", currency)


def _ends(lo: float, hi: float):
    """The formatter of a row's numbers: four significant digits (:func:`_g4`), or, when the interval's ends
    read the same at four, the decimals that show its width to two significant digits."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo or _g4(lo) != _g4(hi):
        return _g4
    places = max(0, 1 - math.floor(math.log10(hi - lo)))
    return lambda v: f"{v:,.{places}f}" if math.isfinite(v) else "nan"


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
