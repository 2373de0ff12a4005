"""``python -m benchmarks.dynamic_audit``: a randomized audit of the default behaviour (``dynamic``) on valid set-ups.

Draws ``--cases`` random valid scenarios with the closed-form audit's generator
(:func:`benchmarks.closed_forms.draw_case`: every process, component kind,
period, true-up, gate, modifier, team split, scorecard, SPIFF, draw,
cancellation, new hires and quota method), then varies what that generator
keeps fixed: the headcount (1, a few or many), a role without target incentive
or without base salary, extreme but valid ability and territory spreads, and
several plans per role (the full plan, each component alone, per-unit pay on
each count, a money-only plan and two relabellings of it). Each scenario is run
under ``dynamic`` and checked for (docs/model.md section 6.2):

- ``runs``: no exception under ``dynamic`` (and ``none``);
- ``finite``: every metric's mean and SE finite, except the payout multiples
  of a role without target incentive (undefined: pay over a target of 0) and
  the SE of a metric seen in one trial only (undefined: shown "± n/a");
- ``current=none``: the current plan under ``dynamic`` equals behaviour
  ``none`` bit for bit (reps keep today's effort under today's plan);
- ``relabel``: a plan that pays only money (commission, per-unit, lump sums,
  SPIFFs, draws) gives the same numbers with its target incentive x2.5 and 0,
  but for the payout multiples (pay over the label);
- ``money x1000``: every money amount x1000 (pay levels, deal values,
  revenue rates, lump sums, per-unit rates on counts, caps in money, draws,
  SPIFF budgets, money targets and thresholds) multiplies every money metric
  by 1000 and leaves every other metric equal to 1e-9;
- ``ties x1000``: the same for ``pay_performance_corr`` and ``gini_pay``
  alone (pay equal or zero but for rounding ranks as a tie at either scale,
  ``simlib.model.metrics.TIE_TOLERANCE``);
- ``chunks+workers``: the same seed gives the same numbers in one chunk,
  serially in small chunks, and in small chunks on a pool of 2 processes;
- ``compiled=numpy``: the compiled pass (``SIMLIB_COMPILED=1``) equals the
  NumPy path (``0``) bit for bit;
- ``ensemble``: a behavioural ensemble of 2 parameter draws runs and is finite
  (every ``--ensemble-every`` case, it is the slowest check).

It prints a table of checks x pass/fail counts and, for each failure, the case
seed and a one-line reproduction; exit status 1 if anything failed.
"""

from __future__ import annotations

import copy
import json
import math
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

import simlib
from benchmarks.closed_forms import case_arguments, draw_case, scenario_dict
from simlib.errors import ScenarioError
from simlib.model import compiled

#: metrics that are pay over the target incentive: they follow the label, and are undefined when it is 0
LABEL_METRICS = ("payout_p10", "payout_p50", "leverage")
#: the dynamic model's own levels, reported under every plan (docs/model.md 4.8: 0 under ``none``)
LEVEL_METRICS = ("give_up_share", "coast_share", "discount_cost", "profit_after_discounts")
#: production parameters in money (x1000 with every other amount of money)
MONEY_PRODUCTION = ("deal_value", "deal_size_mean", "large_order_threshold", "revenue_per_month", "revenue_per_unit",
                    "existing_revenue_per_month", "partner_mature_revenue")
#: count measures that are money
MONEY_MEASURES = ("revenue", "large_order_value")
CHECKS = ("runs", "finite", "current=none", "relabel", "money x1000", "ties x1000", "chunks+workers", "compiled=numpy",
          "ensemble")
#: statistics of how pay is spread, checked apart under money x1000: pay equal (or zero) but for rounding (a team's
#: split, a cap everyone reaches, a draw's cash) tied or not by chance, at one scale and not at the other, and the
#: rank correlation moved with it, until such values ranked as ties (docs/model.md 6.2)
RANK_METRICS = ("pay_performance_corr", "gini_pay")
REL = 1e-9


# --- the set-ups ----------------------------------------------------------------------------------------------------


def _money_only(rp: dict) -> dict | None:
    """The role plan without the pay that scales with the target incentive (curves, scorecards); None if nothing is left."""
    comps = [c for c in rp["components"] if c["kind"] != "curve"]
    if not comps and not rp.get("spiffs"):
        return None
    out = {k: v for k, v in rp.items() if k not in ("scorecards", "weights_total")}
    out["components"] = comps
    names = {c["name"] for c in comps}
    out["gates"] = [g for g in rp.get("gates", []) if g.get("components") is None or set(g["components"]) <= names]
    if not out["gates"]:
        out.pop("gates")
    return out


def audit_scenario(index: int, seed: int) -> dict:
    """Case ``index``'s scenario (a dict): the closed-form audit's set-up, varied as the module's docstring says."""
    rng = np.random.default_rng([seed, index, 11])
    case = draw_case(index, np.random.default_rng([seed, index]))
    data = scenario_dict(case)
    role = data["roles"]["r"]
    role["headcount"] = int(rng.choice([1, 1, 2, 5, 13, 40, 60]))
    role["team_size"] = int(min(role["team_size"], role["headcount"]))
    if rng.random() < 0.2:
        role["target_incentive"] = 0.0
    if rng.random() < 0.15:
        role["base_salary"] = 0.0
    if rng.random() < 0.2:  # extreme but valid spreads
        role["ability_sd"] = round(float(rng.uniform(0.8, 1.6)), 3)
        role["territory_sd"] = round(float(rng.uniform(0.0, 1.6)), 3)
    plans = data["plans"]
    money = _money_only(plans["current"]["roles"]["r"])
    if money is not None:
        ti = role["target_incentive"] or 20_000.0
        plans["money"] = {"roles": {"r": money}}
        plans["label_high"] = {"roles": {"r": {**copy.deepcopy(money), "target_incentive": round(2.5 * ti, 2)}}}
        plans["label_zero"] = {"roles": {"r": {**copy.deepcopy(money), "target_incentive": 0.0}}}
    data["behaviour"] = {"mode": "dynamic"}
    return json.loads(json.dumps(data))


def _x1000_component(c: dict) -> None:
    if c["kind"] == "per_unit":
        if c["measure"] not in MONEY_MEASURES:
            c["rate"] *= 1000
        if "cap" in c:
            c["cap"] *= 1000
    elif c["kind"] == "lump_sum":
        for s in c["steps"]:
            s["amount"] *= 1000
        if "cap" in c:
            c["cap"] *= 1000
    if isinstance(c.get("target"), (int, float)) and c["measure"] in MONEY_MEASURES:
        c["target"] *= 1000


def _x1000_points(points: list, on_money: bool) -> None:
    if on_money:
        for p in points:
            p[0] *= 1000


def _x1000_role_plan(rp: dict) -> None:
    for key in ("target_incentive", "base_salary"):
        if rp.get(key):
            rp[key] *= 1000
    for c in rp.get("components", []):
        _x1000_component(c)
    for g in rp.get("gates", []):
        if "target" in g and g["measure"] in MONEY_MEASURES:
            g["target"] *= 1000
    for m in rp.get("modifiers", []):
        _x1000_points(m["points"], m["measure"] in MONEY_MEASURES)
    for sc in rp.get("scorecards", []):
        for sm in sc["measures"]:
            if "target" in sm and sm["measure"] in MONEY_MEASURES:
                sm["target"] *= 1000
    for sp in rp.get("spiffs", []):
        if sp["measure"] not in MONEY_MEASURES:
            sp["rate"] *= 1000
        else:
            sp["min_units"] = sp["min_units"] * 1000 if "min_units" in sp else None
            if sp["min_units"] is None:
                sp.pop("min_units")
        if "budget" in sp:
            sp["budget"] *= 1000
    if rp.get("draw"):
        rp["draw"]["amount"] *= 1000


def money_x1000(data: dict) -> dict:
    """The scenario with every amount of money x1000 (rates that are fractions of money stay)."""
    out = json.loads(json.dumps(data))  # every plan's own copy (the generator shares components between plans)
    for role in out["roles"].values():
        role["base_salary"] *= 1000
        role["target_incentive"] *= 1000
        for k in MONEY_PRODUCTION:
            if k in role["production"]:
                role["production"][k] *= 1000
    for plan in out["plans"].values():
        for rp in plan["roles"].values():
            _x1000_role_plan(rp)
    return out


# --- the checks -----------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    case: int
    check: str
    ok: bool
    detail: str = ""


@dataclass
class Runs:
    """What a case's checks share: the scenario, its dynamic and none runs."""

    index: int
    data: dict
    trials: int
    seed: int
    scen: object = None
    dyn: pd.DataFrame | None = None
    none: pd.DataFrame | None = None
    extra: dict = field(default_factory=dict)


def summary(scen, trials: int, seed: int, behaviour: str = "dynamic", **kw) -> pd.DataFrame:
    return simlib.simulate(scen, trials=trials, rng=seed, behaviour=behaviour, **kw).summary()


def _numbers(s: pd.DataFrame) -> pd.DataFrame:
    return s.set_index(["plan", "group", "metric"])[["mean", "se"]]


def _same_bits(a: pd.DataFrame, b: pd.DataFrame) -> str:
    """'' if the two summaries hold the same numbers bit for bit, else where they first differ."""
    x, y = _numbers(a), _numbers(b)
    if not x.index.equals(y.index):
        return f"different rows ({len(x)} vs {len(y)})"
    u, v = x.to_numpy(), y.to_numpy()
    same = (u == v) | (np.isnan(u) & np.isnan(v))
    if same.all():
        return ""
    i, j = np.argwhere(~same)[0]
    return f"{'/'.join(x.index[i])} {x.columns[j]}: {u[i, j]!r} vs {v[i, j]!r} ({int((~same).sum())} numbers differ)"


def _finite(s: pd.DataFrame, spread: list[str]) -> np.ndarray:
    """Rows whose numbers are finite: the mean, and the spread columns where the metric is seen in two trials or
    more (one trial has no standard error; a rank correlation or a ratio can be undefined in all trials but one)."""
    mean = np.isfinite(s["mean"].to_numpy(float))
    return mean & (np.isfinite(s[spread].to_numpy(float)).all(axis=1) | (s["n"] < 2).to_numpy())


def check_finite(r: Runs) -> str:
    s = r.dyn
    ti0 = {p for p in s.plan.unique() if r.scen.target_incentive(p, "r") == 0.0}
    allowed = s.metric.isin(LABEL_METRICS) & s.plan.isin(ti0)
    bad = s[~allowed & ~_finite(s, ["se"])]
    if len(bad):
        b = bad.iloc[0]
        return f"{len(bad)} non-finite: {b.plan}/{b.group}/{b.metric} mean {b['mean']} se {b.se}"
    return ""


def check_current_none(r: Runs) -> str:
    cur = r.scen.current_plan
    keep = ~r.dyn.metric.isin(LEVEL_METRICS)
    return _same_bits(r.dyn[(r.dyn.plan == cur) & keep], r.none[(r.none.plan == cur) & ~r.none.metric.isin(LEVEL_METRICS)])


def check_relabel(r: Runs) -> str:
    if "money" not in r.data["plans"]:
        return "skip"
    s = r.dyn[~r.dyn.metric.isin(LABEL_METRICS)]
    base = s[s.plan == "money"].drop(columns="plan").reset_index(drop=True)
    for other in ("label_high", "label_zero"):
        got = _same_bits(base.assign(plan="x"), s[s.plan == other].drop(columns="plan").reset_index(drop=True).assign(plan="x"))
        if got:
            return f"{other}: {got}"
    return ""


def _x1000_diffs(r: Runs, ranks: bool) -> str:
    """:func:`check_x1000` on the rank correlation alone (``ranks``) or on every other metric."""
    if "x1000" not in r.extra:
        try:
            scen = simlib.scenario_from_dict(money_x1000(r.data), f"dynamic_audit case {r.index} x1000")
        except ScenarioError as e:
            if all("less than or equal to" in p.message for p in e.problems):
                return "skip"  # an amount x1000 beyond the schema's largest number
            raise
        r.extra["x1000"] = summary(scen, r.trials, r.seed)
    a, b = (_numbers(s[s.metric.isin(RANK_METRICS) == ranks]) for s in (r.dyn, r.extra["x1000"]))
    rows = a.index.union(b.index)  # (a metric undefined in every trial has no row)
    a, b = a.reindex(rows), b.reindex(rows)
    unit = pd.concat([r.dyn, r.extra["x1000"]]).drop_duplicates(["plan", "group", "metric"])
    money = (unit.set_index(["plan", "group", "metric"]).unit.reindex(rows) == "money").to_numpy()
    u, v = a.to_numpy(), b.to_numpy()
    u = np.where(money[:, None], u * 1000.0, u)
    # each number within 1e-9 of the larger of its mean and SE: an SE of rounding (a SPIFF budget that binds in every
    # trial costs the budget but for rounding, an SE of 4e-17 of the mean) is 0 to that precision, at either scale
    size = np.fmax(np.abs(u[:, :1]), np.abs(u[:, 1:]))
    tol = REL * np.maximum(size, np.where(money[:, None], 1000.0, 1.0))
    bad = ~((np.abs(u - v) <= tol) | (np.isnan(u) & np.isnan(v)))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        return (f"{'/'.join(a.index[i])} {a.columns[j]}: expected {u[i, j]!r}, got {v[i, j]!r} "
                f"({int(bad.sum())} numbers)")
    return ""


def check_x1000(r: Runs) -> str:
    return _x1000_diffs(r, ranks=False)


def check_x1000_ranks(r: Runs) -> str:
    return _x1000_diffs(r, ranks=True)


def check_chunks(r: Runs) -> str:
    chunk = max(1, r.trials // 3)
    serial = summary(r.scen, r.trials, r.seed, chunk_size=chunk)
    got = _same_bits(r.dyn, serial)
    if got:
        return f"chunk_size {chunk}: {got}"
    with ProcessPoolExecutor(max_workers=2) as ex:
        pooled = summary(r.scen, r.trials, r.seed, chunk_size=chunk, executor=ex)
    got = _same_bits(r.dyn, pooled)
    return f"2 processes, chunk_size {chunk}: {got}" if got else ""


def check_compiled(r: Runs) -> str:
    try:
        compiled.use(True)
        on = summary(r.scen, r.trials, r.seed)
        compiled.use(False)
        off = summary(r.scen, r.trials, r.seed)
    finally:
        compiled.use(None)
    return _same_bits(on, off)


def check_ensemble(r: Runs) -> str:
    if not r.extra.get("ensemble"):
        return "skip"
    e = simlib.simulate_ensemble(r.scen, behaviour_draws=2, trials=max(2, r.trials // 2), rng=r.seed,
                                 behaviour="dynamic")
    s = e.summary()
    spread = [c for c in s.select_dtypes("number").columns if c != "mean"]
    ti0 = {p for p in s.plan.unique() if r.scen.target_incentive(p, "r") == 0.0}
    # a metric defined in one draw only (a rank correlation, undefined in every trial of the other) has no
    # between-draw spread: its model sd and interval are undefined ("± n/a"), its mean is not
    keys = ["plan", "group", "metric"]
    defined = pd.concat([d.summary()[keys] for d in e.runs]).value_counts().reindex(pd.MultiIndex.from_frame(s[keys]))
    one = (defined.to_numpy() < 2) & np.isfinite(s["mean"].to_numpy(float))
    ok = _finite(s, spread) | one | (s.metric.isin(LABEL_METRICS) & s.plan.isin(ti0)).to_numpy()
    return "" if ok.all() else f"{int((~ok).sum())} non-finite rows, first {s[~ok].iloc[0][['plan', 'metric']].tolist()}"


LATER: dict[str, Callable[[Runs], str]] = {
    "finite": check_finite, "current=none": check_current_none, "relabel": check_relabel, "money x1000": check_x1000,
    "ties x1000": check_x1000_ranks,
    "chunks+workers": check_chunks, "compiled=numpy": check_compiled, "ensemble": check_ensemble,
}


def _one(index: int, check: str, fn: Callable[[], str]) -> Outcome | None:
    try:
        got = fn()
    except Exception as e:  # a crash is what the audit looks for: reported, not raised
        tb = traceback.extract_tb(e.__traceback__)[-1]
        return Outcome(index, check, False, f"{type(e).__name__}: {str(e).splitlines()[0][:160]} "
                                            f"({tb.filename.split('/')[-1]}:{tb.lineno})")
    if got == "skip":
        return None
    return Outcome(index, check, not got, got)


def audit_case(index: int, trials: int, seed: int, ensemble: bool = False) -> list[Outcome]:
    """Every check of case ``index`` (a check that does not apply to the case is left out)."""
    r = Runs(index, audit_scenario(index, seed), trials, seed, extra={"ensemble": ensemble})

    def run() -> str:
        r.scen = simlib.scenario_from_dict(r.data, f"dynamic_audit case {index}")
        r.dyn = summary(r.scen, trials, seed)
        r.none = summary(r.scen, trials, seed, behaviour="none")
        return ""

    first = _one(index, "runs", run)
    if not first.ok:
        return [first]
    out = [first]
    for name, fn in LATER.items():
        got = _one(index, name, lambda fn=fn: fn(r))
        if got is not None:
            out.append(got)
    return out


def describe(data: dict) -> str:
    role = data["roles"]["r"]
    p = data["plans"]["current"]["roles"]["r"]
    kinds = ",".join(c["kind"] for c in p["components"])
    return (f"{role['process']} headcount {role['headcount']} TI {role['target_incentive']:g} base "
            f"{role['base_salary']:g} sd {role['ability_sd']}/{role['territory_sd']}; {kinds}"
            f"{' +scorecard' if p.get('scorecards') else ''}{' +spiff' if p.get('spiffs') else ''}"
            f"{' +draw' if p.get('draw') else ''}{' +gate' if p.get('gates') else ''}"
            f"{' +modifier' if p.get('modifiers') else ''}{' +team' if p.get('team') else ''}; "
            f"{len(data['plans'])} plans")


def audit(cases: int, trials: int, seed: int, start: int = 0, ensemble_every: int = 5, out=None) -> list[Outcome]:
    rows: list[Outcome] = []
    for i in range(start, start + cases):
        t0 = time.perf_counter()
        got = audit_case(i, trials, seed, ensemble=ensemble_every > 0 and i % ensemble_every == 0)
        rows += got
        if out is not None:
            bad = [o for o in got if not o.ok]
            print(f"case {i:>4} {time.perf_counter() - t0:5.1f}s {'FAIL ' + ','.join(o.check for o in bad) if bad else 'ok'}"
                  f"  {describe(audit_scenario(i, seed))}", file=out, flush=True)
    return rows


def report(rows: list[Outcome], trials: int, seed: int, out) -> None:
    print(f"\n{'check':<16} {'pass':>5} {'fail':>5}", file=out)
    for c in CHECKS:
        got = [o for o in rows if o.check == c]
        print(f"{c:<16} {sum(o.ok for o in got):>5} {sum(not o.ok for o in got):>5}", file=out)
    for o in (o for o in rows if not o.ok):
        print(f"FAIL case {o.case} {o.check}: {o.detail}\n  reproduce: python -m benchmarks.dynamic_audit --seed {seed} "
              f"--start {o.case} --cases 1 --trials {trials}", file=out)


def main(argv: list[str] | None = None) -> int:
    ap = case_arguments("python -m benchmarks.dynamic_audit", __doc__, cases=60, trials=12)
    ap.add_argument("--ensemble-every", type=int, default=5, help="an ensemble check every n-th case (0: none)")
    a = ap.parse_args(argv)
    if not (1 <= a.cases <= 10_000 and 2 <= a.trials <= 10_000 and a.start >= 0 and a.ensemble_every >= 0):
        ap.error("expected 1 <= --cases <= 10000, 2 <= --trials <= 10000, --start >= 0, --ensemble-every >= 0")
    t0 = time.perf_counter()
    rows = audit(a.cases, a.trials, a.seed, a.start, a.ensemble_every, out=sys.stdout)
    report(rows, a.trials, a.seed, sys.stdout)
    n_bad = sum(not o.ok for o in rows)
    print(f"{a.cases} cases, {len(rows)} checks, {n_bad} failed, {math.ceil(time.perf_counter() - t0)} s")
    return 1 if n_bad else 0


if __name__ == "__main__":
    sys.exit(main())
