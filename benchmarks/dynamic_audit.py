"""``python -m benchmarks.dynamic_audit``: a randomized audit of the default behaviour (``dynamic``) on valid set-ups.

Draws ``--cases`` random valid scenarios with the closed-form audit's generator
(:func:`benchmarks.closed_forms.draw_case`: every process, component kind,
period, true-up, gate, modifier, team split, scorecard, SPIFF, draw,
cancellation, new hires and quota method), then varies what that generator
keeps fixed: the headcount (1, a few or many), a role without target incentive
or without base salary, extreme but valid ability and territory spreads, and
several plans per role (the full plan, each component alone, per-unit pay on
each count, a money-only plan and two relabellings of it), and from seed 50 on a
clawback of cancelled deals' pay (:data:`CLAWBACK_FROM_SEED`). Each scenario is run
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
  (every ``--ensemble-every`` case, it is the slowest check);
- ``smooth``: one continuous plan or role-pay parameter drawn at random (a
  quota level, a target incentive, a base salary, a curve point, a rate, a
  cap, a threshold, a weight, the effort elasticity ...) moved by a relative
  ``1e-5`` up and down moves no headline metric (:data:`SMOOTH_METRICS`) of
  any plan by more than ``1e-3`` of its size plus ten times what the same
  move does under ``none`` (:func:`check_smooth`), plus one rep-year for
  ``share_at_quota`` and one order statistic for a quantile of attainment;
- ``smooth draws``: the same for one of the role's other numbers (a
  production rate, an ability or territory spread, seasonality): what the
  draws are made of, so a move flips whole counts of the draws and of the
  behaviour model's fixed calibration sample (docs/model.md section 6.2).

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
from simlib.engine.core import paid_monthly, role_outcomes
from simlib.engine.results import NOT_APPLICABLE
from simlib.errors import ScenarioError
from simlib.model import compiled
from simlib.model.population import Layout, draw_chunk, root_seed

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
          "ensemble", "smooth", "smooth draws")
#: statistics of how pay is spread, checked apart under money x1000: pay equal (or zero) but for rounding (a team's
#: split, a cap everyone reaches, a draw's cash) tied or not by chance, at one scale and not at the other, and the
#: rank correlation moved with it, until such values ranked as ties (docs/model.md 6.2)
RANK_METRICS = ("pay_performance_corr", "gini_pay")
REL = 1e-9
#: seeds from this one on also draw a clawback for a role with a cancellation process (60%; drawn last, so a case's
#: other numbers are as before); earlier seeds' cases are those their documented runs and pinned tests ran
CLAWBACK_FROM_SEED = 50
#: the smoothness check: the relative step of a parameter, the metrics it reads (group ``total``) and their tolerance
SMOOTH_STEP, SMOOTH_TOL = 1e-5, 1e-3
#: parameters tried in turn until one the schema accepts moved both ways
SMOOTH_TRIES = 20
SMOOTH_METRICS = ("revenue", "incentive_cost", "profit", "share_at_quota", "attainment_p50", "effort_index")
#: the headline metrics that are a quantile of attainment over a trial's reps (averaged over trials), and the quantile:
#: one rep-year flipped (a count at its boundary) moves one trial's quantile by up to its neighbouring order statistics'
#: gap, which the smoothness bound allows (:func:`order_statistic_step`)
QUANTILE_METRICS = {"attainment_p10": 0.1, "attainment_p50": 0.5, "attainment_p90": 0.9}
#: the role's numbers the ``smooth`` check moves (pay and response); ``smooth draws`` moves the role's others
ROLE_PAY_KEYS = frozenset({"base_salary", "target_incentive", "effort_elasticity", "gross_margin"})
#: numbers that are whole by nature (counts of reps or months, indices), never moved by the smoothness check
DISCRETE_KEYS = frozenset({"headcount", "team_size", "ramp_months", "months", "month", "min_units", "lag", "window",
                           "window_months",
                           "start_month", "end_month", "every", "count", "top", "places"})


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


def _clawback(rng: np.random.Generator, rp: dict) -> dict:
    """A clawback on the current plan of a role with a cancellation process (docs/model.md section 3): a window of 1 to
    24 months, forgiven or carried, on all revenue pay or on one money element paid on revenue (never a curve, so the
    money-only plan keeps what it names)."""
    cb: dict = {"window_months": int(rng.integers(1, 25)), "at_year_end": str(rng.choice(["forgive", "carry"]))}
    named = [c["name"] for c in rp["components"] if c["measure"] == "revenue" and c["kind"] != "curve"]
    named += [sp["name"] for sp in rp.get("spiffs", []) if sp["measure"] == "revenue"]
    if named and rng.random() < 0.4:
        cb["components"] = [str(rng.choice(named))]
    return cb


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
    if seed >= CLAWBACK_FROM_SEED and "cancel_rate" in role["production"] and rng.random() < 0.6:
        plans["current"]["roles"]["r"]["clawback"] = _clawback(rng, plans["current"]["roles"]["r"])
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


def _not_applicable(r: Runs, s: pd.DataFrame) -> pd.Series:
    """Rows of a summary ``s`` that are n/a by definition, which the tables say with why: the share of revenue
    booked in a period's last month under a plan paid monthly."""
    monthly = {p for p in s.plan.unique() if paid_monthly(r.scen, p, "r")}
    return s.metric.isin(NOT_APPLICABLE) & s.plan.isin(monthly)


def check_finite(r: Runs) -> str:
    s = r.dyn
    ti0 = {p for p in s.plan.unique() if r.scen.target_incentive(p, "r") == 0.0}
    allowed = (s.metric.isin(LABEL_METRICS) & s.plan.isin(ti0)) | _not_applicable(r, s)
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
    ok = (_finite(s, spread) | one | (s.metric.isin(LABEL_METRICS) & s.plan.isin(ti0)).to_numpy()
          | _not_applicable(r, s).to_numpy())
    return "" if ok.all() else f"{int((~ok).sum())} non-finite rows, first {s[~ok].iloc[0][['plan', 'metric']].tolist()}"


# --- smoothness in a plan's parameters ----------------------------------------------------------------------------


def smooth_parameters(data: dict, draws: bool = False) -> list[tuple]:
    """Paths (keys into ``data``) of the continuous, non-zero numbers the smoothness check moves: those of the plans
    and the role's pay and response (:data:`ROLE_PAY_KEYS`, ``effort_elasticity`` at its default where the case does
    not set it), or with ``draws`` the role's others (production rates, spreads, seasonality: what the draws and
    the behaviour model's fixed calibration sample are made of)."""
    out: list[tuple] = []

    def walk(x, path: tuple) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                if k not in DISCRETE_KEYS:
                    walk(v, (*path, k))
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, (*path, i))
        elif isinstance(x, (int, float)) and not isinstance(x, bool) and x != 0:
            out.append(path)

    walk(data["roles"], ("roles",))
    if draws:
        return [p for p in out if p[2] not in ROLE_PAY_KEYS]
    out = [p for p in out if p[2] in ROLE_PAY_KEYS and p[2] != "effort_elasticity"]
    walk(data["plans"], ("plans",))
    return [*out, ("roles", "r", "effort_elasticity")]


def moved(data: dict, path: tuple, factor: float) -> dict:
    """A copy of ``data`` with the number at ``path`` times ``factor``."""
    out = json.loads(json.dumps(data))
    out["roles"]["r"].setdefault("effort_elasticity", 0.6)  # the schema's default: the same scenario
    node = out
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = node[path[-1]] * factor
    return out


def _headline(s: pd.DataFrame) -> pd.Series:
    t = s[(s.group == "total") & s.metric.isin(SMOOTH_METRICS)]
    return t.set_index(["plan", "metric"])["mean"]


def quantile_step(sorted_rows: np.ndarray, q: float) -> np.ndarray:
    """Per trial (a row of reps sorted ascending, (T, R)), the most that changing one rep's value can move the trial's
    ``q`` quantile (NumPy's linear one, as the metrics take it). With ``v = (R - 1) q``, ``i = floor(v)`` and
    ``g = v - i`` the quantile is ``(1 - g) x_i + g x_(i+1)``; a value that falls moves every order statistic down,
    each at most to its lower neighbour, one that rises up, at most to its upper one. So the step is the larger of
    ``(1 - g)(x_i - x_(i-1)) + g (x_(i+1) - x_i)`` and ``(1 - g)(x_(i+1) - x_i) + g (x_(i+2) - x_(i+1))``, the gaps
    between neighbouring order statistics at the quantile, reached by a rep at it sent far enough down or up. A
    trial where a needed neighbour is missing (the median of fewer than three reps) or not finite gives 0: no
    allowance where the move is not bounded."""
    x = np.asarray(sorted_rows, dtype=float)
    T, R = x.shape
    if R < 2:
        return np.zeros(T)
    v = (R - 1) * q
    i = min(int(np.floor(v)), R - 1)
    g = v - i  # in [0, 1); g > 0 only where i + 1 <= R - 1
    gaps = np.full((T, R + 1), np.inf)  # gaps[:, k] = x_k - x_(k-1); the two ends have no neighbour
    gaps[:, 1:R] = np.diff(x, axis=1)
    down, up = gaps[:, i], gaps[:, i + 1]
    if g > 0.0:
        down, up = (1.0 - g) * down + g * gaps[:, i + 1], (1.0 - g) * up + g * gaps[:, i + 2]
    out = np.maximum(down, up)
    return np.where(np.isfinite(out), out, 0.0)


def order_statistic_step(scen, trials: int, seed: int) -> pd.Series:
    """Per plan and quantile metric (:data:`QUANTILE_METRICS`, group ``total``), the most one rep-year can move its
    mean over trials: the largest :func:`quantile_step` of a trial over ``trials``, measured on the run's own draws
    (the same trials and seed as :func:`summary`, under ``dynamic``), the quantile's counterpart of
    ``share_at_quota``'s one rep-year."""
    draws = draw_chunk(Layout.of(scen), root_seed(seed), np.arange(trials))
    att: dict[str, list[np.ndarray]] = {}
    for o in role_outcomes(scen, list(scen.plans), draws, behaviour="dynamic"):
        att.setdefault(o.plan, []).append(np.asarray(o.pay.attainment, dtype=float))
    rows, values = [], []
    for plan, parts in att.items():
        x = np.sort(np.concatenate(parts, axis=1), axis=1)  # the total: every role's reps
        for metric, q in QUANTILE_METRICS.items():
            rows.append((plan, metric))
            values.append(float(quantile_step(x, q).max()) / trials)
    return pd.Series(values, pd.MultiIndex.from_tuples(rows, names=["plan", "metric"]))


def smooth_excess(base: pd.Series, got: pd.Series, none_base: pd.Series | None, none_got: pd.Series | None,
                  rep_years: int = 0, order_step: pd.Series | None = None) -> pd.Series:
    """How far each headline metric's move exceeds its bound (positive: a failure): ``|got - base| - (SMOOTH_TOL x
    size + 10 |move under none|)``, the size the larger of the metric's own and 1% of the plan's revenue (money) or
    0.01 (shares and attainments); ``share_at_quota`` may move by one rep-year more (``1 / rep_years``: a rep whose
    attainment the step moves across 1, or whose count of deals it flips there), and a quantile of attainment by one
    rep-year's order-statistic step (``order_step``, :func:`order_statistic_step`: a rep-year near the quantile whose
    count the step flips); a metric defined on one side only counts as a failure."""
    rows = base.index.union(got.index)
    b, g = base.reindex(rows), got.reindex(rows)
    revenue = base.xs("revenue", level="metric").reindex(rows.get_level_values("plan")).abs().to_numpy()
    money = rows.get_level_values("metric").isin(("revenue", "incentive_cost", "profit"))
    floor = np.where(money, 0.01 * np.nan_to_num(revenue), 0.01)
    size = np.fmax(np.abs(b.to_numpy()), floor)
    d = np.abs(g.to_numpy() - b.to_numpy())
    dn = 0.0
    if none_base is not None:
        dn = np.nan_to_num(np.abs(none_got.reindex(rows).to_numpy() - none_base.reindex(rows).to_numpy()))
    one_rep = np.where(rows.get_level_values("metric") == "share_at_quota", 1.0 / rep_years if rep_years else 0.0, 0.0)
    if order_step is not None:
        quantile = rows.get_level_values("metric").isin(tuple(QUANTILE_METRICS))
        one_rep = one_rep + np.where(quantile, np.nan_to_num(order_step.reindex(rows).to_numpy(float)), 0.0)
    one_sided = np.isnan(b.to_numpy()) != np.isnan(g.to_numpy())
    bound = SMOOTH_TOL * size + 10.0 * dn + one_rep * (1 + 1e-9)
    return pd.Series(np.where(one_sided, np.inf, np.nan_to_num(d - bound, nan=-1.0)), rows)


def check_smooth(r: Runs, draws: bool = False) -> str:
    """A random continuous parameter (:func:`smooth_parameters`) times ``1 +- SMOOTH_STEP`` on the same seed (common
    random numbers): every headline metric within its bound (:func:`smooth_excess`); ``none`` is run only where
    ``dynamic`` moved beyond ``SMOOTH_TOL`` (a rep exactly at a pay threshold moves pay under either behaviour:
    that is the pay's own step)."""
    rng = np.random.default_rng([r.seed, r.index, 29 if not draws else 31])
    paths = smooth_parameters(r.data, draws)
    rep_years = r.trials * int(r.data["roles"]["r"]["headcount"])
    base, none_base = _headline(r.dyn), _headline(r.none)

    def steps(excess: pd.Series) -> pd.Series | None:
        """The base run's order-statistic steps, measured (once a case) only where a quantile is beyond the bound."""
        if not excess[excess > 0].index.get_level_values("metric").isin(tuple(QUANTILE_METRICS)).any():
            return None
        if "order_step" not in r.extra:
            r.extra["order_step"] = order_statistic_step(r.scen, r.trials, r.seed)
        return r.extra["order_step"]

    for i in rng.permutation(len(paths))[:SMOOTH_TRIES]:
        path = paths[i]
        scens = []
        for f in (1 + SMOOTH_STEP, 1 - SMOOTH_STEP):
            try:
                scens.append((f, simlib.scenario_from_dict(moved(r.data, path, f), "smooth")))
            except ScenarioError:
                break  # a number the schema holds to another (a weights total, a point's order): another parameter
        if len(scens) < 2:
            continue
        where = "/".join(map(str, path[1:]))
        for f, scen in scens:
            got = _headline(summary(scen, r.trials, r.seed))
            excess = smooth_excess(base, got, None, None, rep_years)
            if (excess > 0).any():
                excess = smooth_excess(base, got, None, None, rep_years, steps(excess))
            if (excess <= 0).all():
                continue
            none_got = _headline(summary(scen, r.trials, r.seed, behaviour="none"))
            excess = smooth_excess(base, got, none_base, none_got, rep_years)
            if (excess > 0).any():
                excess = smooth_excess(base, got, none_base, none_got, rep_years, steps(excess))
            if (excess > 0).any():
                key = excess.idxmax()
                return (f"{where} x{f:.5f}: {'/'.join(key)} {base.get(key)!r} -> {got.get(key)!r} "
                        f"({int((excess > 0).sum())} metrics beyond the bound)")
        return ""
    return "skip"


def check_smooth_draws(r: Runs) -> str:
    return check_smooth(r, draws=True)


LATER: dict[str, Callable[[Runs], str]] = {
    "finite": check_finite, "current=none": check_current_none, "relabel": check_relabel, "money x1000": check_x1000,
    "ties x1000": check_x1000_ranks,
    "chunks+workers": check_chunks, "compiled=numpy": check_compiled, "ensemble": check_ensemble,
    "smooth": check_smooth, "smooth draws": check_smooth_draws,
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


def audit_case(index: int, trials: int, seed: int, ensemble: bool = False,
               only: frozenset[str] | None = None) -> list[Outcome]:
    """Every check of case ``index`` (a check that does not apply to the case is left out; ``only``: those named)."""
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
        if only is not None and name not in only:
            continue
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
            f"{' +modifier' if p.get('modifiers') else ''}{' +team' if p.get('team') else ''}"
            f"{' +clawback' if p.get('clawback') else ''}; "
            f"{len(data['plans'])} plans")


def audit(cases: int, trials: int, seed: int, start: int = 0, ensemble_every: int = 5, out=None,
          only: frozenset[str] | None = None) -> list[Outcome]:
    rows: list[Outcome] = []
    for i in range(start, start + cases):
        t0 = time.perf_counter()
        got = audit_case(i, trials, seed, ensemble=ensemble_every > 0 and i % ensemble_every == 0, only=only)
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
        only = f" --only '{o.check}'" if o.check.startswith("smooth") else ""
        print(f"FAIL case {o.case} {o.check}: {o.detail}\n  reproduce: python -m benchmarks.dynamic_audit --seed {seed} "
              f"--start {o.case} --cases 1 --trials {trials}{only}", file=out)


def main(argv: list[str] | None = None) -> int:
    ap = case_arguments("python -m benchmarks.dynamic_audit", __doc__, cases=60, trials=12)
    ap.add_argument("--ensemble-every", type=int, default=5, help="an ensemble check every n-th case (0: none)")
    ap.add_argument("--only", action="append", choices=CHECKS[1:], metavar="CHECK",
                    help="run only this check after 'runs' (repeatable; default: every check)")
    a = ap.parse_args(argv)
    if not (1 <= a.cases <= 10_000 and 2 <= a.trials <= 10_000 and a.start >= 0 and a.ensemble_every >= 0):
        ap.error("expected 1 <= --cases <= 10000, 2 <= --trials <= 10000, --start >= 0, --ensemble-every >= 0")
    t0 = time.perf_counter()
    only = frozenset(a.only) if a.only else None
    rows = audit(a.cases, a.trials, a.seed, a.start, a.ensemble_every, out=sys.stdout, only=only)
    report(rows, a.trials, a.seed, sys.stdout)
    n_bad = sum(not o.ok for o in rows)
    print(f"{a.cases} cases, {len(rows)} checks, {n_bad} failed, {math.ceil(time.perf_counter() - t0)} s")
    return 1 if n_bad else 0


if __name__ == "__main__":
    sys.exit(main())
