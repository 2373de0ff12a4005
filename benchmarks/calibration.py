"""``python -m benchmarks.calibration``: do calibration intervals cover the truth on inputs not tuned on?

For each shipped scenario (the template) and each history ``i``, the truth is
the template with its parameters moved (:func:`perturbed`): every role's
``ability_sd``, ``territory_sd``, ``new_hire_share``, ``ramp_months``, the
production parameters the calibration fits, the months of the seasonality, the
quota level and noise of the plan in force, the market's shock sizes and
the cancellation window (whole months, drawn last), each times a factor drawn uniformly in 1 +- ``--spread`` (0.3); a third of
the histories have few reps (headcounts times 0.35, at least 10). Even
histories have one year, odd ones two.
:func:`simlib.fit.synth.synth_history` draws the history from the truth
(under the plan in force: at today's effort), and
:func:`simlib.fit.calibrate.calibrate` fits it starting from the *unmoved*
template, so a fit that leans on the template's values shows up as bias.

For every estimate it records the interval's coverage of the truth, the
z-score (estimate - truth) / SE, the bias and whether the estimate is at a
bound. The truth is the parameter the calibration promises
(``docs/history-format.md``): levels that demand scales (telesales
``lead_rate``, key-account ``deals_per_month``, channel
``existing_revenue_per_month`` and ``partner_mature_revenue``, generic
``revenue_per_month``) are the truth's value times the history's realised
market level (the demand level of the history is the baseline), and the
quota level the truth's divided by that level's shock; the seasonality is
the truth's; a market change is the realised change of the market level
between the years.

The table has one row per parameter (roles named by their process,
seasonality months pooled): intervals, coverage with its binomial SE, mean
and sd of z, mean bias (estimate - truth, and relative to the truth), share
at a bound and a flag where coverage is outside
level +- 3 SE or the sd of z is outside 0.67-1.5. The worst cases (largest
|z|) follow.

Usage::

    nice python -m benchmarks.calibration [--histories 24] [--level 0.9] [--bootstrap 50]
                                          [--scenarios default.yaml,mechanics.yaml,...] [--out rows.csv] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

#: template scenarios under simlib/shipped/scenarios: all three production processes, sizes 60-200 reps
SCENARIOS = ("default.yaml", "mechanics.yaml", "validation/quarterly_bonus.yaml", "validation/goal_difficulty.yaml")
#: production parameters not fitted (definitions, behaviour): not moved
NOT_FITTED = ("large_order_threshold", "pipeline_lag_months", "activity_share", "quality_elasticity")
#: whole-month production parameters: moved last (after every other factor, so the others' draws stay as they
#: were), rounded and kept in 1-12
WHOLE_MONTHS = ("cancel_window_months",)
#: production parameters that demand scales: fitted at the history's demand level
DEMAND_SCALED = {"telesales": ("lead_rate",), "key_account": ("deals_per_month",),
                 "channel": ("existing_revenue_per_month", "partner_mature_revenue"), "generic": ("revenue_per_month",)}
#: fractions: a moved value is kept below this
FRACTION_CAP = 0.97
#: headcount factor of the histories with few reps, and their least headcount per role
FEW, FEW_MIN = 0.35, 10
#: a z-score's sd outside this range is flagged
Z_SD_RANGE = (0.67, 1.5)


def perturbed(data: dict, gen: np.random.Generator, spread: float, few: bool) -> dict:
    """The scenario dict ``data`` with its fitted parameters moved by factors uniform in 1 +- ``spread``."""
    import copy

    d = copy.deepcopy(data)

    def f() -> float:
        return float(gen.uniform(1.0 - spread, 1.0 + spread))

    for role in d["roles"].values():
        role["ability_sd"] = role.get("ability_sd", 0.0) * f()
        role["territory_sd"] = role.get("territory_sd", 0.0) * f()
        role["new_hire_share"] = min(0.5, role.get("new_hire_share", 0.0) * f())
        role["ramp_months"] = int(min(24, max(1, round(role.get("ramp_months", 3) * f()))))
        if role.get("seasonality"):
            role["seasonality"] = [float(s) * float(gen.uniform(0.9, 1.1)) for s in role["seasonality"]]
        for k, v in list(role.get("production", {}).items()):
            if k in NOT_FITTED + WHOLE_MONTHS or not isinstance(v, (int, float)) or isinstance(v, bool):
                continue
            x = float(v) * f()
            role["production"][k] = min(x, FRACTION_CAP) if 0.0 < float(v) < 1.0 and not k.endswith("_cv") else x
        if few:
            role["headcount"] = max(FEW_MIN, int(round(role["headcount"] * FEW)))
            role["team_size"] = min(role.get("team_size", 1), role["headcount"])
    plan = d["plans"][d.get("current_plan", "current")]
    for rp in plan["roles"].values():
        q = rp.get("quota")
        if q:
            q["level"] = float(q.get("level", 1.0)) * float(gen.uniform(0.85, 1.15))
            if "noise" in q:
                q["noise"] = float(q["noise"]) * f()
    m = d["market"]
    m["growth_sd"] = float(m.get("growth_sd", 0.0)) * f()
    m["monthly_sd"] = float(m.get("monthly_sd", 0.0)) * f()
    for role in d["roles"].values():
        for k in WHOLE_MONTHS:
            if role.get("production", {}).get(k) is not None:
                role["production"][k] = int(min(12, max(1, round(float(role["production"][k]) * f()))))
    return d


def _demand(role, market: np.ndarray) -> tuple[float, np.ndarray]:
    """The role's realised demand level over the history (seasonality-weighted market, mean over years) and each year's."""
    s = np.asarray(role.season)
    per_year = (market * s[None, :]).sum(axis=1) / s.sum()
    return float(per_year.mean()), per_year


def truths(truth, template, market: np.ndarray) -> dict[str, float]:
    """path -> the value each estimate's interval should cover (see the module docstring)."""
    from simlib.model.production import expected_monthly_revenue

    out: dict[str, float] = {}
    plan = template.current_plan
    weights, per_year = [], []
    for rname, role in truth.roles.items():
        level, years = _demand(role, market)
        base = f"roles.{rname}."
        for k in ("ability_sd", "territory_sd", "new_hire_share", "ramp_months"):
            out[base + k] = float(getattr(role, k))
        for i, s in enumerate(role.season):
            out[f"{base}seasonality.{i + 1}"] = float(s)
        for k, v in role.production.items():
            if isinstance(v, (int, float)):
                out[f"{base}production.{k}"] = float(v) * (level if k in DEMAND_SCALED.get(role.process, ()) else 1.0)
        q = truth.role_plan(plan, rname).quota
        out[f"plans.{plan}.roles.{rname}.quota.level"] = q.level * (1.0 + truth.market.growth_mean) / level
        out[f"plans.{plan}.roles.{rname}.quota.noise"] = q.noise
        weights.append(role.headcount * float(expected_monthly_revenue(role, 0.0).sum()))
        per_year.append(years)
    if market.shape[0] == 2:
        w = np.asarray(weights) / np.sum(weights)
        y = np.asarray(per_year)  # (roles, years)
        out[f"market.change.{START_YEAR}-{START_YEAR + 1}"] = float(np.sum(w * y[:, 1]) / np.sum(w * y[:, 0]) - 1.0)
    return out


#: calendar year of year one of every history
START_YEAR = 2025
#: offset of the seeds of the histories (and twice it of the bootstraps) from the seeds that move the truths
HISTORY_SEED = 1_000_000


def _label(path: str, processes: dict[str, str]) -> str:
    """A parameter's name across scenarios: the role by its process, seasonality months pooled."""
    parts = path.split(".")
    if parts[0] == "plans":
        rest = parts[3:]  # roles, R, quota, x
    elif parts[0] == "roles":
        rest = parts
    else:
        return "market.change" if path.startswith("market.change") else path
    role, tail = rest[1], rest[2:]
    if tail[0] == "seasonality":
        tail = ["seasonality"]
    return ".".join([processes.get(role, role)] + tail)


def audit(scenarios=SCENARIOS, histories: int = 24, *, level: float = 0.90, bootstrap: int = 50, spread: float = 0.3,
          first_seed: int = 0, progress: bool = False) -> pd.DataFrame:
    """Synthesise, calibrate and compare: one row per (history, estimate).

    Returns
    -------
    DataFrame with scenario, seed, years, few, path, param, value, se, lo, hi, truth, covered, z, bias,
    at_bound, interval
    """
    from simlib.fit.calibrate import calibrate
    from simlib.fit.history import read_history, write_history
    from simlib.fit.synth import synth_history
    from simlib.io import SHIPPED
    from simlib.scenario import load_scenario, scenario_from_dict

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, name in enumerate(scenarios):
            path = SHIPPED / "scenarios" / name
            template = load_scenario(path)
            data = template.model_dump(by_alias=True, mode="json")
            processes = {r: x.process for r, x in template.roles.items()}
            for i in range(first_seed, first_seed + histories):
                seed = 1000 * k + i
                years, few = 1 + i % 2, i % 3 == 2
                gen = np.random.default_rng(seed)
                truth = scenario_from_dict(perturbed(data, gen, spread, few), f"{name} moved (seed {seed})")
                # the history's and the bootstrap's streams apart from the one that moved the truth (the same
                # seed would hand the history the very uniforms that drew the truth's factors)
                frame, t = synth_history(truth, rng=HISTORY_SEED + seed, years=years, start_year=START_YEAR)
                f = Path(tmp) / "h.csv"
                write_history(frame, f)
                hist = read_history(f, processes)
                t0 = time.perf_counter()
                cal = calibrate(hist, template, bootstrap=bootstrap, rng=2 * HISTORY_SEED + seed, trials=0, level=level)
                target = truths(truth, template, np.asarray(t["market_monthly"]))
                for e in cal.estimates:
                    if e.path not in target:
                        continue
                    tv = target[e.path]
                    se = e.se if e.se > 0 else float("nan")
                    rows.append({"scenario": name, "seed": seed, "years": years, "few": few, "path": e.path,
                                 "param": _label(e.path, processes), "value": e.value, "se": e.se, "lo": e.lo,
                                 "hi": e.hi, "truth": tv, "covered": bool(e.lo <= tv <= e.hi) if np.isfinite(e.lo) else False,
                                 "z": (e.value - tv) / se, "bias": e.value - tv,
                                 "rel_bias": (e.value - tv) / tv if tv else float("nan"), "at_bound": e.at_bound,
                                 "interval": e.interval})
                if progress:
                    print(f"{name} seed {seed} ({years} y{', few reps' if few else ''}): {len(cal.estimates)} estimates, "
                          f"fit {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def table(f: pd.DataFrame, level: float = 0.90) -> pd.DataFrame:
    """One row per parameter: intervals, coverage and its SE, z mean and sd, bias, at bound, flag."""
    g = f.groupby("param")
    out = pd.DataFrame({
        "n": g.size(),
        "coverage": g["covered"].mean(),
        "mean_z": g["z"].mean(),
        "sd_z": g["z"].std(ddof=1),
        "bias": g["bias"].mean(),
        "rel_bias": g["rel_bias"].mean(),
        "at_bound": g["at_bound"].apply(lambda s: float(np.mean(s.fillna("") != ""))),
    })
    out.insert(2, "cov_se", np.sqrt(level * (1 - level) / out["n"]))
    off = (out["coverage"] - level).abs() > 3 * out["cov_se"]
    zoff = ~out["sd_z"].between(*Z_SD_RANGE) & out["sd_z"].notna()
    out["flag"] = np.where(off & zoff, "coverage, sd z", np.where(off, "coverage", np.where(zoff, "sd z", "")))
    return out


def worst(f: pd.DataFrame, n: int = 15) -> pd.DataFrame:
    """The ``n`` estimates with the largest |z| (or uncovered with no SE)."""
    key = f["z"].abs().fillna(np.inf).where(~f["covered"], f["z"].abs().fillna(0.0))
    cols = ["scenario", "seed", "years", "few", "path", "value", "lo", "hi", "truth", "z", "at_bound"]
    return f.assign(_k=key).sort_values("_k", ascending=False).head(n)[cols]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.calibration", description=__doc__.split("\n")[0])
    ap.add_argument("--histories", type=int, default=24, help="histories per scenario (default 24)")
    ap.add_argument("--first-seed", type=int, default=0, help="index of the first history (default 0)")
    ap.add_argument("--level", type=float, default=0.90, help="nominal coverage of the intervals (default 0.90)")
    ap.add_argument("--bootstrap", type=int, default=50, help="bootstrap replicates of each calibration (default 50)")
    ap.add_argument("--spread", type=float, default=0.3, help="parameters moved by factors in 1 +- spread (default 0.3)")
    ap.add_argument("--scenarios", help="comma-separated scenario files under simlib/shipped/scenarios "
                                        f"(default {','.join(SCENARIOS)})")
    ap.add_argument("--out", help="write one row per (history, estimate) to this CSV")
    ap.add_argument("--quick", action="store_true", help="6 histories per scenario, 30 bootstrap replicates")
    args = ap.parse_args(argv)
    scen = tuple(s.strip() for s in args.scenarios.split(",")) if args.scenarios else SCENARIOS
    if not 0.0 < args.level < 1.0 or args.histories < 1 or not 0.0 <= args.spread < 1.0:
        ap.error("--level must be in (0, 1), --histories at least 1, --spread in [0, 1)")
    n, b = (6, 30) if args.quick else (args.histories, args.bootstrap)
    t0 = time.perf_counter()
    f = audit(scen, n, level=args.level, bootstrap=b, spread=args.spread, first_seed=args.first_seed, progress=True)
    if args.out:
        f.to_csv(args.out, index=False)
    tab = table(f, args.level)
    with pd.option_context("display.width", 220, "display.max_columns", 20, "display.max_rows", 200,
                           "display.precision", 3):
        print(tab)
        print("\nworst cases (largest |z|):")
        print(worst(f))
    hist = f.groupby(["scenario", "seed"]).ngroups
    cov = float(f["covered"].mean())
    print(f"\n{len(f)} intervals over {hist} histories of {len(scen)} scenarios: coverage {cov:.1%} "
          f"(nominal {args.level:.0%}); {int((tab['flag'] != '').sum())} of {len(tab)} parameters flagged; "
          f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
