"""``python -m benchmarks.finding_variants``: how robust each research finding is to the setting it is run in.

``simlib validate-model`` checks each finding (``simlib.fit.findings.FINDINGS``)
on one small scenario per role type. A finding that holds there may hinge on
that one setting. This command draws ``--variants N`` seeded random variants
of each validation scenario that keep the finding's premise
(:func:`variant`: quota level, spread of ability and territory, quota noise,
sales noise, seasonality, headcount and team size, target incentive and
base salary, the candidate plans' own pay curves moved a little, and the
behavioural parameters drawn from their priors in ``simlib.priors``), runs
the finding on each variant on all three role types with ``validate-model``'s
own machinery (``role_scenarios``, then ``check_finding``), and prints per
finding, role type and check (the effect's label without the plan a variant
picked):

- ``shipped``: the measured effect on the validation scenario itself (at the
  same trials and seed) and whether it holds there;
- ``point``: the share of variants whose measured mean passes the check
  (the sign, or the size band where the check has one);
- ``holds``: the share that pass with their 95% CI, as ``validate-model``
  counts a check;
- the measured minimum, median and maximum over the variants;
- the worst variant: the one nearest to failing or furthest from holding
  (in standard errors of the measured mean), and its parameters.

Variant ``k`` is the same draw for every finding and role type (seeded by
``--seed`` and ``k``; the finding's premise then overrides what it must), and
every run uses common random numbers on seed ``--seed``. Results for
docs/model.md section 4.9.1. ``--csv PATH`` also writes one row per
variant, role type and effect, with the variant's parameters.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from simlib.engine.ensemble import scenario_for_draw
from simlib.errors import SimlibError
from simlib.fit.findings import (
    DEFAULT_SCENARIO,
    FINDINGS,
    Finding,
    check_finding,
    noisier,
    role_scenarios,
    scale_plan_pay,
)
from simlib.priors import PRIORS
from simlib.scenario import Scenario, load_scenario, scenario_from_dict

#: ranges a variant's setting is drawn from (uniform unless said; factors multiply the scenario's value)
RANGES: dict[str, tuple[float, float]] = {
    "quota_level": (0.9, 1.15),       # factor on every plan's quota level (the plans' ratios kept)
    "ability_sd": (0.15, 0.35),       # sd of log ability
    "territory_sd": (0.10, 0.30),     # sd of log territory potential
    "quota_noise": (0.05, 0.15),      # sd of managers' log error in judging potential
    "sales_noise": (0.9, 1.25),       # factor on the CV of monthly revenue (findings.noisier; below about 0.86 the
                                      # count noise of telesales and key accounts alone is more)
    "team_size": (4, 10),             # reps per team (whole)
    "teams": (6, 12),                 # teams (whole); headcount = teams x team_size
    "target_incentive": (0.75, 4 / 3),  # factor, log uniform; lump sums and plan-level pay follow it
    "base_salary": (0.85, 1.15),      # factor on the role's base salary
    "curve_shift": (-0.05, 0.05),     # attainment shift of a candidate pay curve's point or tier start
    "curve_scale": (0.9, 1.1),        # factor on a candidate curve's payout, tier rate, lump sum or per-unit rate
}

#: probability that a variant has the seasonality of the default scenario's role of its process (else flat)
SEASONAL_SHARE = 0.5

#: what a finding's premise fixes, by finding key: settings held at the validation scenario's value, and prior
#: ranges narrowed (name -> (low, high))
PREMISES: dict[str, dict] = {
    # Basu et al.: risk-averse reps of one type (no spread of ability, territory or quota), so the spread of pay
    # across a trial's reps is the production noise each rep faces; risk aversion from the upper half of its prior
    "salary_risk": {"keep": ("ability_sd", "territory_sd", "quota_noise"), "priors": {"risk_aversion": (0.5, 1.0)}},
}


def _draw(rng: np.random.Generator, name: str) -> float:
    lo, hi = RANGES[name]
    if name == "target_incentive":
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    if name in ("team_size", "teams"):
        return int(rng.integers(int(lo), int(hi) + 1))
    return float(rng.uniform(lo, hi))


def _move_curve(c: dict, rng: np.random.Generator) -> None:
    """Move one pay element's own shape a little, in place: curve points' attainment and payout, tier starts and
    rates, lump-sum amounts, a per-unit rate. The first point or tier stays where it starts (at 0: pay from zero)."""
    shift, scale = (lambda: rng.uniform(*RANGES["curve_shift"])), (lambda: rng.uniform(*RANGES["curve_scale"]))
    if c.get("points"):
        pts = [[float(x), float(y)] for x, y in c["points"]]
        for i in range(1, len(pts)):
            pts[i][0] = max(pts[i][0] + shift(), pts[i - 1][0] + 0.05)
            pts[i][1] = max(pts[i][1] * scale(), pts[i - 1][1])
        c["points"] = pts
    if c.get("tiers"):
        tiers = [dict(t) for t in c["tiers"]]
        for i, t in enumerate(tiers):
            t["rate"] = t["rate"] * scale()
            if i > 0:
                t["from"] = max(t["from"] + shift(), tiers[i - 1]["from"] + 0.05)
        c["tiers"] = tiers
    if c.get("steps"):
        c["steps"] = [dict(st, amount=st["amount"] * scale()) for st in c["steps"]]
    if c["kind"] == "per_unit" and c.get("rate"):
        c["rate"] = c["rate"] * scale()


def _move_candidates(data: dict, name: str, rng: np.random.Generator) -> int:
    """Move the pay elements in which a candidate plan differs from today's (same name, different content); the
    elements both share stay, so the plan change the finding is about keeps its shape. Returns how many moved."""
    today = {c["name"]: c for c in data["plans"][data["current_plan"]]["roles"][name]["components"]}
    moved = 0
    for plan_name, plan in data["plans"].items():
        if plan_name == data["current_plan"]:
            continue
        for c in plan["roles"][name]["components"]:
            if today.get(c["name"]) != c:
                _move_curve(c, rng)
                moved += 1
    return moved


def variant(scen: Scenario, key: str, k: int, seed: int = 0) -> tuple[Scenario, dict]:
    """Variant ``k`` of a finding's scenario (one role type): the setting redrawn, the finding's premise kept.

    ``scen`` is a validation scenario or a role swap of it (one role;
    ``simlib.fit.findings.role_scenarios``), ``key`` the finding's key (for
    its premise, :data:`PREMISES`). Draws are seeded by ``(seed, k)`` alone,
    so variant ``k`` is the same setting for every finding and role type:

    - every plan's quota level times a common factor (0.9-1.15; the plans'
      levels keep their ratios), quota noise 0.05-0.15;
    - ability sd 0.15-0.35 and territory sd 0.1-0.3 (log);
    - sales noise: the CV of monthly revenue times 0.9-1.25;
    - seasonality: half the variants take the default scenario's seasonality
      of the role's process, half stay flat;
    - 6-12 teams of 4-10 reps;
    - target incentive times 0.75-1.33 (log uniform) and base salary times
      0.85-1.15; lump sums, per-unit rates and a plan's own pay levels follow
      (``scale_plan_pay``); a per-unit rate on revenue (a commission of one
      rate per euro) also follows the quota level, so that it pays the same
      at quota as before, as a curve on attainment does;
    - in every candidate plan, each pay element that differs from today's
      plan moved a little: curve points and tier starts by up to 0.05 of
      attainment, payouts, rates and amounts times 0.9-1.1;
    - every behavioural parameter drawn uniformly (in its own unit) from its
      prior (``simlib.priors.PRIORS``).

    A premise then keeps what the finding is about (salary under risk: reps of
    one type, risk aversion 0.5-1). Returns the scenario and its parameters
    (name -> value) for printing.
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 0:
        raise SimlibError(f"variant: expected a whole number k >= 0, got {k!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise SimlibError(f"variant: expected a whole number seed >= 0, got {seed!r}")
    if key not in {f.key for f in FINDINGS}:
        raise SimlibError(f"variant: unknown finding {key!r}, expected one of {[f.key for f in FINDINGS]}")
    if len(scen.roles) != 1:
        raise SimlibError(f"variant: expected a scenario of one role (a validation scenario), got {list(scen.roles)}")
    rng = np.random.default_rng([seed, k])
    premise = PREMISES.get(key, {})
    p = {n: _draw(rng, n) for n in ("quota_level", "ability_sd", "territory_sd", "quota_noise", "sales_noise",
                                    "team_size", "teams", "target_incentive", "base_salary")}
    p["seasonal"] = bool(rng.uniform() < SEASONAL_SHARE)
    u = rng.uniform(size=len(PRIORS))  # drawn before the premise, so variant k's other draws do not depend on it
    behaviour = {n: float(pr.quantile(np.array([x]))[0]) for (n, pr), x in zip(PRIORS.items(), u, strict=True)}
    for n, (lo, hi) in premise.get("priors", {}).items():
        behaviour[n] = lo + float(u[list(PRIORS).index(n)]) * (hi - lo)
    data = copy.deepcopy(scen.model_dump(by_alias=True))
    (name, role), = data["roles"].items()
    for n in premise.get("keep", ()):
        p[n] = role[n] if n != "quota_noise" else None
    role["ability_sd"], role["territory_sd"] = p["ability_sd"], p["territory_sd"]
    role["team_size"], role["headcount"] = p["team_size"], p["team_size"] * p["teams"]
    if p["seasonal"]:
        base = load_scenario(DEFAULT_SCENARIO)
        role["seasonality"] = list(next(r for r in base.roles.values() if r.process == role["process"]).seasonality)
    old_base = role["base_salary"]
    role["base_salary"] = old_base * p["base_salary"]
    role["target_incentive"] = role["target_incentive"] * p["target_incentive"]
    scale_plan_pay(data, name, p["target_incentive"], old_base)
    for plan in data["plans"].values():
        rp = plan["roles"][name]
        rp["quota"]["level"] = rp["quota"]["level"] * p["quota_level"]
        if p["quota_noise"] is not None:
            rp["quota"]["noise"] = p["quota_noise"]
        for c in rp["components"]:
            if c["kind"] == "per_unit":  # the same share of target incentive at today's activity
                c["rate"] = c["rate"] * p["target_incentive"]
            if c["kind"] == "per_unit" and c["measure"] == "revenue":  # and at the plan's quota, as a curve pays
                c["rate"] = c["rate"] / p["quota_level"]
    p["moved_elements"] = _move_candidates(data, name, rng)
    out = scenario_from_dict(data, f"{scen.source} (variant {k}, seed {seed})")
    out = noisier(out, p["sales_noise"])
    out = scenario_for_draw(out, behaviour)
    return out, {**p, **behaviour}


def _margin(ok, m: float, se: float) -> float:
    """How many standard errors the measured mean may move before the check flips (negative: how far it must move
    to hold); the check sees the mean and its 95% CI moved together."""
    verdict = bool(ok(m, m - 1.96 * se, m + 1.96 * se))
    se = se if se > 0 else max(abs(m), 1.0) * 1e-3
    for d in np.linspace(0.0, 60.0, 601)[1:]:
        for s in (-d, d):
            mm = m + s * se
            if bool(ok(mm, mm - 1.96 * se, mm + 1.96 * se)) != verdict:
                return float(d if verdict else -d)
    return 60.0 if verdict else -60.0


def run_variants(findings: Sequence[Finding], variants: int, trials: int, seed: int, progress: bool = False) -> pd.DataFrame:
    """One row per finding, role type, effect and variant: the columns of ``validate_model`` plus ``variant``,
    ``point`` (the check on the mean alone), ``margin`` (:func:`_margin`) and the variant's parameters."""
    rows = []
    for f in findings:
        for base in role_scenarios(f):
            for k in range(variants):
                scen, params = variant(base, f.key, k, seed)
                got = check_finding(f, scen, trials, seed)
                for row, ok in got:
                    m, se = row["measured"], row["se"]
                    point = bool(np.isfinite(m) and ok(m, m, m))
                    finite = bool(np.isfinite(m) and np.isfinite(se))
                    rows.append(dict(row, variant=k, point=point, margin=_margin(ok, m, se) if finite else -60.0,
                                     **params))
                if progress:
                    print(f"  {f.key} ({got[0][0]['role']}) variant {k}: {got[0][0]['seconds']:.1f}s", file=sys.stderr)
    return pd.DataFrame(rows)


#: the variant parameters printed for a worst variant (behavioural ones by their prior names)
SHOWN = ("quota_level", "ability_sd", "territory_sd", "quota_noise", "sales_noise", "seasonal", "team_size", "teams",
         "target_incentive", "base_salary", *PRIORS)


def check_name(effect: str) -> str:
    """An effect's label without its parentheses, which may name the plan a variant picked ("(team_25)")."""
    return re.sub(r" \([^)]*\)", "", effect)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per finding, role type and check (:func:`check_name`): variants, the shares passing on the mean (``point``)
    and with the CI (``holds``), the measured minimum, median and maximum, and the worst variant (least margin)."""
    out = []
    df = df.assign(check=[check_name(e) for e in df["effect"]])
    for (key, role, effect), g in df.groupby(["key", "role", "check"], sort=False):
        w = g.loc[g["margin"].idxmin()]
        out.append(dict(key=key, role=role, effect=effect, variants=len(g), point=float(g["point"].mean()),
                        holds=float(g["holds"].mean()), low=float(g["measured"].min()),
                        median=float(g["measured"].median()), high=float(g["measured"].max()),
                        worst=int(w["variant"]), worst_measured=float(w["measured"]), worst_margin=float(w["margin"])))
    return pd.DataFrame(out)


def describe(row: pd.Series) -> str:
    """A variant's parameters on one line."""
    parts = []
    for n in SHOWN:
        v = row[n]
        if n == "seasonal":
            parts.append("seasonal" if v else "flat")
        elif v is None or (isinstance(v, float) and not np.isfinite(v)):
            continue
        elif n in ("team_size", "teams"):
            parts.append(f"{n} {int(v)}")
        else:
            parts.append(f"{n} {v:.3g}")
    return ", ".join(parts)


def report(df: pd.DataFrame, base: pd.DataFrame) -> list[str]:
    """The printed lines: one per finding, role type and check, with whether it holds on the validation scenario
    itself (``base``: rows of ``validate_model`` at the same trials and seed), then the worst variant of each check
    that fails in any variant."""
    s = summary(df)
    shipped = {(r.key, r.role, check_name(r.effect)): r for r in base.itertuples()}
    lines = ["| finding | role | check | shipped | point | holds | measured min / median / max | worst variant |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in s.itertuples():
        b = shipped[(r.key, r.role, r.effect)]
        lines.append(f"| {r.key} | {r.role} | {r.effect} | {b.measured:+.3g} {'yes' if b.holds else 'no'} | "
                     f"{r.point:.0%} | {r.holds:.0%} | {r.low:+.3g} / {r.median:+.3g} / {r.high:+.3g} | "
                     f"{r.worst} ({r.worst_measured:+.3g}) |")
    lines.append("")
    for r in s[s["holds"] < 1.0].itertuples():
        row = df[(df["key"] == r.key) & (df["role"] == r.role) & (df["variant"] == r.worst)].iloc[0]
        lines.append(f"worst variant of {r.key} ({r.role}), {r.effect}: variant {r.worst}, measured "
                     f"{r.worst_measured:+.3g}: {describe(row)}")
    return lines


#: bounds of the command's whole-number options (inclusive)
BOUNDS = {"variants": (1, 500), "trials": (2, 10_000), "seed": (0, 2**32 - 1)}


def argument_problems(variants: int, trials: int, seed: int, only: Sequence[str] | None,
                      csv: str | None = None) -> list[str]:
    """What is wrong with the command's arguments (empty when they are fine), each naming the option."""
    out = []
    for name, v in (("variants", variants), ("trials", trials), ("seed", seed)):
        lo, hi = BOUNDS[name]
        if not lo <= v <= hi:
            out.append(f"--{name}: expected a whole number from {lo} to {hi:,}, got {v}")
    keys = [f.key for f in FINDINGS]
    bad = [k for k in only or () if k not in keys]
    if bad:
        out.append(f"--only: unknown finding(s) {bad}, expected some of {keys}")
    if csv is not None and not Path(csv).resolve().parent.is_dir():
        out.append(f"--csv: folder {Path(csv).resolve().parent} does not exist")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.finding_variants",
                                description="Each research finding on seeded random variants of its scenario.")
    p.add_argument("--variants", type=int, default=20, help="variants per finding and role type (1 to 500; default 20)")
    p.add_argument("--trials", type=int, default=100, help="trials per run (2 to 10,000; default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the variants and of the runs' draws (default 0)")
    p.add_argument("--only", nargs="+", metavar="KEY", help="findings to run (keys as in simlib validate-model)")
    p.add_argument("--csv", metavar="PATH", help="also write one row per variant, role type and effect")
    p.add_argument("--progress", action="store_true", help="time of each run on stderr")
    a = p.parse_args(argv)
    problems = argument_problems(a.variants, a.trials, a.seed, a.only, a.csv)
    if problems:
        print("\n".join(f"error: {m}" for m in problems), file=sys.stderr)
        return 1
    chosen = [f for f in FINDINGS if not a.only or f.key in a.only]
    try:
        base = pd.DataFrame([row for f in chosen for scen in role_scenarios(f)
                             for row, _ in check_finding(f, scen, a.trials, a.seed)])
        df = run_variants(chosen, a.variants, a.trials, a.seed, progress=a.progress)
    except SimlibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{a.variants} variants x {a.trials} trials, seed {a.seed}")
    print("\n".join(report(df, base)))
    if a.csv:
        df.drop(columns=["finding", "source"]).to_csv(a.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
