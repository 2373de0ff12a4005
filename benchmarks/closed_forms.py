"""``python -m benchmarks.closed_forms``: a randomized audit of the engine against independent closed forms.

Draws ``--cases`` random but valid set-ups of one role of ``REPS`` reps
(telesales funnel, key-account compound Poisson deals, channel, generic;
random process parameters, a quarter at the schema's edges; market,
seasonality, new hires and ramp, a cancellation process; every quota method
with level and noise) and its plan (components of every kind: curves with
random points, caps and ``beyond``, marginal and retroactive commissions,
lump sums, per-unit pay with and without caps on every count and on
large-order value; periods month to year, year-to-date true-ups; targets
on revenue, counts and scores; gates, modifiers, team weighting, a
scorecard, a SPIFF and a draw; from seed 40 on, a clawback of cancelled
deals' pay, :data:`CLAWBACK_FROM_SEED`), runs the engine (``simulate``, behaviour
``none``) and compares each metric's mean per rep with its expected value
derived here, from docs/model.md's equations and without simlib's code:

- ``exact``: a closed form, or one-dimensional Gauss-Hermite quadrature over
  the lognormal rate of a Poisson count (key-account deals with their
  truncation, large-order value with its four drawn sizes, channel revenue
  with its clipped noise and ramping partners, telesales calls and leads,
  cancelled revenue, uncapped per-unit pay);
- ``quad``: the pay schedule integrated (scipy ``quad``) against the exact
  lognormal law of attainment (a channel role with no revenue noise, no new
  partners and no monthly shocks, so every period's attainment is the same
  lognormal draw); times the modifier's mean by Monte Carlo if there is one;
- ``mc``: where the law of a sum over months is not closed (the funnel's
  rounded normal counts, a year of compound Poisson deals, caps, periods
  with year-to-date true-ups, teams, scorecards, SPIFF budgets, draws,
  clawbacks, attainment percentiles), a large independent NumPy Monte Carlo of the
  docs' equations (trials of reps sharing a market), its standard error
  included in ``z``.

Per case and metric it prints the engine's mean ± SE, the expected value
(± its SE for ``mc``), the method and ``z = (engine - expected) / SE``, and
flags ``|z| > 4``. A flagged case is run again on fresh draws (another
seed for the engine and for the independent Monte Carlo); exit status 1 if
a flag is confirmed there. docs/model.md section 6.1 has the latest figures.

Everything below ``# --- independent model`` uses NumPy and SciPy only;
simlib is called only to run the engine on the scenario the case describes.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field

import numpy as np
from scipy import integrate, stats

import simlib

PROCESSES = ("telesales", "key_account", "channel", "generic")
PERIODS = {"month": 12, "quarter": 4, "half": 2, "year": 1}
COUNTS = {"telesales": ("calls", "leads", "conversions"),
          "key_account": ("deals", "new_accounts", "milestones", "large_order_value"),
          "channel": ("partners_opened",), "generic": ("units",)}
SCORES = {"telesales": "record_accuracy", "key_account": "satisfaction", "channel": "partner_satisfaction"}
K_SE = 4.0
REPS = 40
#: seeds from this one on also draw a clawback (section 3) for a role with a cancellation process and no draw (half
#: of them; drawn last, so a case's other numbers are those the seed gave before)
CLAWBACK_FROM_SEED = 40


@dataclass
class Case:
    """One random set-up: the role, market and plan, as scenario dicts, plus what the audit derives from them."""

    index: int
    process: str
    role: dict
    market: dict
    quota: dict
    components: list[dict]
    gates: list[dict] = field(default_factory=list)
    modifiers: list[dict] = field(default_factory=list)
    team: dict = field(default_factory=lambda: {"weight": 0.0, "split": "equal"})
    scorecards: list[dict] = field(default_factory=list)
    spiffs: list[dict] = field(default_factory=list)
    draw: dict | None = None
    clawback: dict | None = None

    @property
    def lognormal(self) -> bool:
        """A channel role whose every period's attainment is one lognormal draw (the ``quad`` closed form)."""
        p = self.role["production"]
        return (self.process == "channel" and p["revenue_cv"] == 0.0 and p["partners_per_month"] == 0.0
                and self.market["monthly_sd"] == 0.0 and self.role["new_hire_share"] == 0.0
                and self.team["weight"] == 0.0 and self.quota["method"] in ("flat", "territory"))


# --- random set-ups -----------------------------------------------------------------------------------------------


def _production(rng: np.random.Generator, process: str, lognormal: bool) -> dict:
    u = rng.uniform
    if process == "telesales":
        return {"calls_per_month": round(u(400, 1500)), "lead_rate": round(u(0.05, 0.2), 3),
                "conversion_rate": round(u(0.1, 0.45), 3), "deal_value": round(u(500, 3000)),
                "deal_value_cv": round(u(0.0, 1.2), 2), "record_accuracy": round(u(0.7, 0.97), 3),
                "record_accuracy_sd": round(u(0.0, 0.08), 3)}
    if process == "generic":
        return {"revenue_per_month": round(u(10_000, 80_000)), "revenue_cv": round(u(0.0, 1.5), 2),
                "revenue_per_unit": round(u(500, 5000))}
    if process == "key_account":
        lam = float(rng.choice([u(0.2, 1.0), u(1.0, 3.0), u(3.0, 8.0)]))  # including many deals a month
        mu = round(u(40_000, 250_000))
        return {"deals_per_month": round(lam, 3), "deal_size_mean": mu, "deal_size_sd_log": round(u(0.2, 1.2), 2),
                "large_order_threshold": round(mu * u(0.5, 2.5)), "pipeline_lag_months": int(rng.integers(0, 3)),
                "new_account_share": round(u(0.05, 0.6), 3), "milestones_per_month": round(u(0.5, 4.0), 2),
                "satisfaction": round(u(0.6, 0.95), 3), "satisfaction_sd": round(u(0.0, 0.08), 3)}
    return {"existing_revenue_per_month": round(u(15_000, 80_000)),
            "revenue_cv": 0.0 if lognormal else round(u(0.0, 0.8), 2),
            "partners_per_month": 0.0 if lognormal else round(u(0.1, 2.0), 2),
            "partner_mature_revenue": round(u(1000, 8000)), "partner_ramp_months": round(u(1.0, 8.0), 1),
            "partner_satisfaction": round(u(0.6, 0.95), 3), "partner_satisfaction_sd": round(u(0.0, 0.08), 3)}


def _extremes(rng: np.random.Generator, process: str) -> dict:
    """Parameters at the edges of what the schema accepts, where the documented clips and truncations bite: lead and
    conversion rates near the 0.95 cap, few calls, up to 15 deals a month (truncated at 12) and equal deal sizes,
    many partners opened a month, a generic revenue CV up to its maximum 5 (few units, often zero) or thousands of
    units a month with many of them cancelling."""
    u = rng.uniform
    return {"telesales": lambda: {"calls_per_month": round(u(100, 400)), "lead_rate": round(u(0.3, 0.9), 3),
                                  "conversion_rate": round(u(0.5, 1.0), 3)},
            "key_account": lambda: {"deals_per_month": round(u(8.0, 15.0), 3),
                                    "deal_size_sd_log": float(rng.choice([0.0, round(u(1.2, 2.0), 2)])),
                                    "milestones_per_month": round(u(4.0, 9.0), 2)},
            "channel": lambda: {"partners_per_month": round(u(2.0, 6.0), 2), "partner_ramp_months": round(u(0.2, 1.0), 2)},
            "generic": lambda: {"revenue_cv": round(u(1.5, 5.0), 2), "revenue_per_unit": round(u(5000, 40000))}
            if rng.random() < 0.5 else {"revenue_per_unit": round(u(5.0, 50.0), 2), "cancel_rate": round(u(0.1, 0.6), 3)}
            }[process]()


def _points(rng: np.random.Generator) -> list[list[float]]:
    n = int(rng.integers(1, 5))
    xs = np.sort(rng.choice(np.arange(0.3, 1.81, 0.05), n, replace=False))
    ys = np.round(np.cumsum(rng.uniform(-0.3, 1.0, n)).clip(0.0), 2) if n > 1 else [round(rng.uniform(0, 1.5), 2)]
    return [[round(float(x), 2), float(y)] for x, y in zip(xs, ys, strict=True)]


def _attainment_component(rng: np.random.Generator, name: str, measure: str, target) -> dict:
    kind = str(rng.choice(["curve", "curve", "commission", "lump_sum"] if measure == "revenue" else ["curve", "lump_sum"]))
    c: dict = {"name": name, "measure": measure, "kind": kind, "period": str(rng.choice(list(PERIODS))),
               "ytd_true_up": bool(rng.random() < 0.4)}
    if target != "quota":
        c["target"] = target
    if kind == "curve":
        c.update(points=_points(rng), beyond=str(rng.choice(["extend", "flat"])), weight=round(rng.uniform(0.2, 1.0), 2))
    elif kind == "commission":
        n = int(rng.integers(1, 4))
        starts = np.sort(rng.choice(np.arange(0.0, 1.6, 0.1), n, replace=False))
        c.update(mode=str(rng.choice(["marginal", "retroactive"])),
                 tiers=[{"from": round(float(s), 2), "rate": round(rng.uniform(0.0, 0.15), 3)} for s in starts])
    else:
        n = int(rng.integers(1, 4))
        ats = np.sort(rng.choice(np.arange(0.5, 1.6, 0.05), n, replace=False))
        c["steps"] = [{"at": round(float(a), 2), "amount": round(rng.uniform(500, 8000))} for a in ats]
    if rng.random() < 0.35:
        c["cap"] = round(rng.uniform(0.3, 2.0) * (0.1 if kind == "commission" else 1.0) * (5000 if kind == "lump_sum" else 1),
                         4)
    return c


def _per_unit(rng: np.random.Generator, name: str, measure: str, mean_per_month: float) -> dict:
    money = measure == "large_order_value"
    c = {"name": name, "measure": measure, "kind": "per_unit", "period": str(rng.choice(list(PERIODS))),
         "ytd_true_up": bool(rng.random() < 0.4), "rate": round(rng.uniform(0.002, 0.03) if money else rng.uniform(1, 50), 4)}
    if rng.random() < 0.5:
        c["cap"] = round(c["rate"] * mean_per_month * 12 / PERIODS[c["period"]] * rng.uniform(0.6, 1.5), 2)
    return c


def draw_case(index: int, rng: np.random.Generator, clawback: bool = False) -> Case:
    """A random valid set-up; the process cycles with the index so every process is audited. With ``clawback``, a role
    with a cancellation process and no draw gets, in half the cases, a clawback on the current plan (drawn after
    everything else, so the rest of the case is the same)."""
    process = PROCESSES[index % len(PROCESSES)]
    lognormal = process == "channel" and rng.random() < 0.4
    u = rng.uniform
    role = {"process": process, "headcount": REPS, "team_size": 10, "base_salary": 50_000,
            "target_incentive": round(u(10_000, 60_000)), "ability_sd": round(u(0.0, 0.45), 3),
            "territory_sd": round(u(0.0, 0.45), 3),
            "new_hire_share": 0.0 if lognormal or rng.random() < 0.5 else round(u(0.05, 0.4), 3),
            "ramp_months": int(rng.integers(1, 13)), "last_year_sd": round(u(0.0, 0.3), 3),
            "seasonality": [round(x, 3) for x in u(0.6, 1.4, 12)], "production": _production(rng, process, lognormal)}
    if process != "channel" and rng.random() < 0.3:  # a cancellation process (section 3, clawbacks)
        role["production"].update(cancel_rate=round(u(0.01, 0.6), 3), cancel_window_months=int(rng.integers(1, 7)))
    if not lognormal and rng.random() < 0.25:
        role["production"].update(_extremes(rng, process))
    market = {"growth_mean": round(u(-0.05, 0.12), 3), "growth_sd": round(u(0.0, 0.1), 3) if rng.random() < 0.5 else 0.0,
              "monthly_sd": round(u(0.0, 0.1), 3) if rng.random() < 0.5 and not lognormal else 0.0,
              "monthly_rho": round(u(0.0, 0.8), 2)}
    methods = ["flat", "territory"] if lognormal else ["flat", "territory", "last_year", "top_down"]
    quota = {"method": str(rng.choice(methods)), "level": round(u(0.8, 1.25), 3), "noise": round(u(0.0, 0.3), 3),
             "growth": round(u(-0.1, 0.2), 3)}
    comps = []
    for k in range(int(rng.integers(1, 4))):
        name = f"c{k}"
        if lognormal or rng.random() < 0.6:
            comps.append(_attainment_component(rng, name, "revenue", "quota"))
        elif process in SCORES and rng.random() < 0.2:  # a curve or lump sum on the score's period mean
            mu = role["production"][SCORES[process]]
            comps.append(_attainment_component(rng, name, SCORES[process], round(mu * u(0.9, 1.1), 3)))
        else:
            measure = str(rng.choice(COUNTS[process]))
            mean = _count_scale(role, measure)
            if rng.random() < 0.7:
                comps.append(_per_unit(rng, name, measure, mean))
            else:
                comps.append(_attainment_component(rng, name, measure, round(12 * mean * u(0.7, 1.3), 1)))
    case = Case(index, process, role, market, quota, comps)
    if not lognormal and rng.random() < 0.3:
        case.scorecards.append(_scorecard(rng, "sc", process, role))
    if not lognormal and rng.random() < 0.3:
        case.spiffs.append(_spiff(rng, "sp", process, role))
    if rng.random() < 0.35:
        names = [c["name"] for c in comps] + [sc["name"] for sc in case.scorecards]
        gate = {"measure": "revenue", "min_attainment": round(u(0.5, 1.1), 2)}
        if not lognormal and rng.random() < 0.4:  # on a count (a number a year x the quota level) or the score
            gate["measure"] = str(rng.choice(COUNTS[process] + ((SCORES[process],) if process in SCORES else ())))
            mean = (role["production"][gate["measure"]] if gate["measure"] in SCORES.values()
                    else 12 * _count_scale(role, gate["measure"]))
            gate["target"] = round(mean * u(0.8, 1.2), 3)
        if len(names) > 1 and rng.random() < 0.5:
            gate["components"] = [names[0]]
        case.gates.append(gate)
    if not lognormal and not case.spiffs and rng.random() < 0.35:
        case.draw = _draw(rng, role)
    if not lognormal and rng.random() < 0.3:
        role["team_size"] = int(rng.integers(2, 13))
        case.team = {"weight": round(u(0.1, 1.0), 2), "split": str(rng.choice(["equal", "contribution"]))}
    if process in SCORES and rng.random() < 0.35:
        mu = role["production"][SCORES[process]]
        xs = np.sort(rng.choice(np.arange(-0.1, 0.11, 0.02), int(rng.integers(1, 4)), replace=False)) + mu
        case.modifiers.append({"measure": SCORES[process],
                               "points": [[round(float(x), 3), round(u(0.5, 1.5), 2)] for x in xs]})
    elif not lognormal and rng.random() < 0.2:  # on a count's annual total
        m = str(rng.choice(COUNTS[process]))
        xs = np.sort(rng.choice(np.arange(0.6, 1.41, 0.1), int(rng.integers(1, 4)), replace=False)) * 12 * _count_scale(role, m)
        case.modifiers.append({"measure": m, "points": [[round(float(x), 3), round(u(0.5, 1.5), 2)] for x in xs]})
    if clawback and "cancel_rate" in role["production"] and case.draw is None and rng.random() < 0.5:
        case.clawback = {"window_months": int(rng.integers(1, 25)), "at_year_end": str(rng.choice(["forgive", "carry"]))}
        paid = [c["name"] for c in comps + case.spiffs if c["measure"] == "revenue"]
        if paid and rng.random() < 0.4:
            case.clawback["components"] = [str(rng.choice(paid))]
    return case


def _score_scale(rng: np.random.Generator, xs: np.ndarray, top: float) -> dict:
    """A scale on increasing xs: a table of intervals (the last open) or a nondecreasing curve."""
    ys = np.round(np.sort(rng.uniform(0.0, top, len(xs))), 3)
    if rng.random() < 0.5:
        ints = [{"from": round(float(x), 3), "to": round(float(x2), 3), "score": float(y)}
                for x, x2, y in zip(xs[:-1], xs[1:], ys[:-1], strict=True)]
        return {"intervals": ints + [{"from": round(float(xs[-1]), 3), "score": float(ys[-1])}]}
    return {"curve": [[round(float(x), 3), float(y)] for x, y in zip(xs, ys, strict=True)],
            "beyond": str(rng.choice(["flat", "extend"]))}


def _scorecard(rng: np.random.Generator, name: str, process: str, role: dict) -> dict:
    """A scorecard on revenue and, at random, a count measure and the process's score measure (section 3)."""
    u = rng.uniform
    measures = [{"measure": "revenue"}]
    if rng.random() < 0.6:
        m = str(rng.choice(COUNTS[process]))
        measures.append({"measure": m, "target": round(12 * _count_scale(role, m) * u(0.7, 1.3), 1)})
    if process in SCORES and rng.random() < 0.5:
        measures.append({"measure": SCORES[process], "target": round(role["production"][SCORES[process]] * u(0.9, 1.1), 3)})
    total = float(rng.choice([100.0, 1.0]))
    w = rng.dirichlet(np.ones(len(measures))) * total
    w = np.round(w, 3)
    w[-1] = round(total - w[:-1].sum(), 3)
    for sm, wi in zip(measures, w, strict=True):
        xs = np.sort(rng.choice(np.arange(0.3, 1.6, 0.05), int(rng.integers(1, 5)), replace=False))
        sm.update(weight=float(wi), **_score_scale(rng, xs, 150.0))
    cx = np.sort(rng.choice(np.arange(0.0, 150.0, 5.0), int(rng.integers(1, 5)), replace=False))
    sc = {"name": name, "period": str(rng.choice(list(PERIODS))), "weight": round(u(0.2, 1.0), 2), "total": total,
          "measures": measures, "payout": _score_scale(rng, cx, 2.0),
          "min_score": round(u(0.0, 80.0), 1) if rng.random() < 0.4 else 0.0}
    if rng.random() < 0.3:
        sc["cap"] = round(u(0.5, 2.0), 3)
    return sc


def _spiff(rng: np.random.Generator, name: str, process: str, role: dict) -> dict:
    """A SPIFF on revenue or a count, over a random window, with a random minimum and budget (section 3)."""
    measure = str(rng.choice(("revenue",) + COUNTS[process]))
    start = int(rng.integers(1, 13))
    end = int(rng.integers(start, 13))
    months = end - start + 1
    mean = (_count_scale(role, measure) if measure != "revenue" else _revenue_scale(role)) * months
    rate = round(rng.uniform(0.005, 0.03), 4) if measure == "revenue" else round(rng.uniform(1, 50), 3)
    sp = {"name": name, "measure": measure, "from": start, "to": end, "rate": rate}
    if rng.random() < 0.5:
        sp["min_units"] = round(mean * rng.uniform(0.5, 1.3), 2)
    if rng.random() < 0.5:
        sp["budget"] = round(REPS * rate * mean * rng.uniform(0.4, 1.2), 2)
    return sp


def _draw(rng: np.random.Generator, role: dict) -> dict:
    """A draw (section 3, draws and guarantees): an advance or a guarantee per month or quarter, for a number of months,
    for everyone or the new hires."""
    period = str(rng.choice(["month", "quarter"]))
    size = 1 if period == "month" else 3
    d = {"amount": round(role["target_incentive"] / 12 * size * rng.uniform(0.2, 1.5), 2), "period": period,
         "recoverable": bool(rng.random() < 0.6), "months": size * int(rng.integers(1, 12 // size + 1))}
    if d["recoverable"]:
        d["at_year_end"] = str(rng.choice(["forgive", "carry"]))
    if role["new_hire_share"] > 0 and rng.random() < 0.4:
        d["new_hires_only"] = True
    return d


def _revenue_scale(role: dict) -> float:
    p = role["production"]
    return {"telesales": lambda: p["calls_per_month"] * p["lead_rate"] * p["conversion_rate"] * p["deal_value"],
            "key_account": lambda: p["deals_per_month"] * p["deal_size_mean"],
            "channel": lambda: p["existing_revenue_per_month"],
            "generic": lambda: p["revenue_per_month"]}[role["process"]]()


def _count_scale(role: dict, measure: str) -> float:
    """A rough mean per rep-month of a count measure (only to size random rates, caps and targets)."""
    p = role["production"]
    return {"calls": p.get("calls_per_month", 0), "leads": p.get("calls_per_month", 0) * p.get("lead_rate", 0),
            "conversions": p.get("calls_per_month", 0) * p.get("lead_rate", 0) * p.get("conversion_rate", 0),
            "deals": p.get("deals_per_month", 0), "new_accounts": p.get("deals_per_month", 0) * p.get("new_account_share", 0),
            "milestones": p.get("milestones_per_month", 0),
            "large_order_value": p.get("deals_per_month", 0) * p.get("deal_size_mean", 0) * 0.5,
            "partners_opened": p.get("partners_per_month", 0),
            "units": p.get("revenue_per_month", 0) / p.get("revenue_per_unit", 1)}[measure]


# --- the engine ---------------------------------------------------------------------------------------------------


def _role_plan(case: Case, comps: list[dict], gates=(), modifiers=(), team: dict | None = None,
               scorecards=(), spiffs=()) -> dict:
    rp: dict = {"quota": case.quota, "components": comps}
    if scorecards:
        rp["scorecards"] = list(scorecards)
    if spiffs:
        rp["spiffs"] = list(spiffs)
    w = sum(c.get("weight", 1.0) for c in comps if c["kind"] == "curve") + sum(sc["weight"] for sc in scorecards)
    if w:
        rp["weights_total"] = round(w, 6)
    if gates:
        rp["gates"] = list(gates)
    if modifiers:
        rp["modifiers"] = list(modifiers)
    if team and team["weight"]:
        rp["team"] = team
    return {"roles": {"r": rp}}


def engine_plans(case: Case) -> dict[str, dict]:
    """The plans run on the same draws: the full plan, each component alone, and rate-1 pay on each count measure."""
    plans = {"current": _role_plan(case, case.components, case.gates, case.modifiers, case.team, case.scorecards,
                                   case.spiffs)}
    if case.draw is not None:
        plans["current"]["roles"]["r"]["draw"] = case.draw
    if case.clawback is not None:
        plans["current"]["roles"]["r"]["clawback"] = case.clawback
    if len(case.components) + len(case.scorecards) + len(case.spiffs) > 1 or case.gates or case.modifiers:
        plans.update({c["name"]: _role_plan(case, [c], team=case.team) for c in case.components})
        plans.update({sc["name"]: _role_plan(case, [], team=case.team, scorecards=[sc]) for sc in case.scorecards})
        plans.update({sp["name"]: _role_plan(case, [], spiffs=[sp]) for sp in case.spiffs})
    if not case.lognormal:
        for m in COUNTS[case.process]:
            plans[f"n_{m}"] = _role_plan(case, [{"name": "n", "measure": m, "kind": "per_unit", "rate": 1.0}])
    return plans


def scenario_dict(case: Case) -> dict:
    return {"name": f"closed_forms_{case.index}", "market": case.market, "roles": {"r": case.role},
            "plans": engine_plans(case), "behaviour": {"mode": "none"}}


def run_engine(case: Case, trials: int, seed: int) -> dict[str, tuple[float, float]]:
    """Metric -> (mean, SE) from the engine: per rep ``pay:<plan>`` and ``revenue``, ``share_at_quota`` and the
    attainment percentiles."""
    scen = simlib.scenario_from_dict(scenario_dict(case), f"closed_forms case {case.index}")
    s = simlib.simulate(scen, trials=trials, rng=seed, behaviour="none").summary()
    s = s[s.group == "r"].set_index(["plan", "metric"])
    out = {f"pay:{plan}": (s.at[(plan, "incentive_cost"), "mean"] / REPS, s.at[(plan, "incentive_cost"), "se"] / REPS)
           for plan in engine_plans(case)}
    out["revenue"] = (s.at[("current", "revenue"), "mean"] / REPS, s.at[("current", "revenue"), "se"] / REPS)
    for m in ("share_at_quota", "attainment_p10", "attainment_p50", "attainment_p90"):
        out[m] = (s.at[("current", m), "mean"], s.at[("current", m), "se"])
    if case.draw is not None:
        for m in ("draw_paid", "draw_outstanding"):
            out[m] = tuple(s.at[("current", m), k] / REPS for k in ("mean", "se"))
    if "cancel_rate" in case.role["production"]:
        out["cancelled_revenue"] = tuple(s.at[("current", "cancelled_revenue"), k] / REPS for k in ("mean", "se"))
    if case.clawback is not None:
        for m in ("clawback_recovered", "clawback_unrecovered"):
            out[m] = tuple(s.at[("current", m), k] / REPS for k in ("mean", "se"))
    return out


# --- independent model (docs/model.md sections 1-3; NumPy and SciPy only) -----------------------------------------


def season(role: dict) -> np.ndarray:
    s = np.asarray(role["seasonality"], float)
    return 12.0 * s / s.sum()


def expected_monthly(case: Case) -> np.ndarray:
    """E_m: expected revenue of an average ramped rep at today's effort and mean growth (section 3, quotas)."""
    p, s = case.role["production"], season(case.role) * (1.0 + case.market["growth_mean"])
    if case.process == "telesales":
        return p["calls_per_month"] * p["lead_rate"] * p["conversion_rate"] * p["deal_value"] * s
    if case.process == "key_account":
        return p["deals_per_month"] * p["deal_size_mean"] * s
    if case.process == "generic":
        return p["revenue_per_month"] * s
    m = np.arange(12)
    built = np.array([np.sum(1.0 - np.exp(-(k - np.arange(k)) / p["partner_ramp_months"])) for k in m])
    return (p["existing_revenue_per_month"] + p["partners_per_month"] * p["partner_mature_revenue"] * built) * s


def ramp_profile(role: dict) -> np.ndarray:
    """A new hire's ramp r_m = min(1, (m + 1) / ramp_months) (section 1, reps)."""
    return np.minimum(1.0, (np.arange(12) + 1.0) / role.get("ramp_months", 6))


def _ln1(rng: np.random.Generator, s: float, size) -> np.ndarray:
    return np.exp(s * rng.standard_normal(size) - 0.5 * s * s)


def _market(rng: np.random.Generator, mk: dict, n: int) -> np.ndarray:
    """M (n, 12): annual shock times the AR(1) monthly shock (section 1, market), for n trials."""
    sd, rho = mk["monthly_sd"], mk["monthly_rho"]
    z = rng.standard_normal((n, 12))
    x = np.empty((n, 12))
    x[:, 0] = sd * z[:, 0]
    for m in range(1, 12):
        x[:, m] = rho * x[:, m - 1] + sd * math.sqrt(1.0 - rho * rho) * z[:, m]
    return (1.0 + mk["growth_mean"]) * _ln1(rng, mk["growth_sd"], (n, 1)) * np.exp(x - 0.5 * sd * sd)


def _normal_count(rng, mean: np.ndarray, var: np.ndarray, upper=None) -> np.ndarray:
    x = np.maximum(0.0, np.rint(mean + np.sqrt(var) * rng.standard_normal(mean.shape)))
    return x if upper is None else np.minimum(x, upper)


def _telesales(rng, p: dict, a, terr, ramp, dem) -> dict[str, np.ndarray]:
    c = p["calls_per_month"] * a * ramp
    calls = _normal_count(rng, c, c)
    lr = np.minimum(0.95, p["lead_rate"] * terr * dem)
    leads = _normal_count(rng, calls * lr, calls * lr * (1 - lr), calls)
    cr = min(0.95, p["conversion_rate"])
    conv = _normal_count(rng, leads * cr, leads * cr * (1 - cr), leads)
    z = rng.standard_normal(conv.shape)
    rev = conv * p["deal_value"] * np.maximum(0.0, 1.0 + p["deal_value_cv"] / np.sqrt(np.maximum(conv, 1.0)) * z)
    acc = np.clip(p["record_accuracy"] + p["record_accuracy_sd"] * rng.standard_normal(conv.shape), 0.0, 1.0)
    return {"calls": calls, "leads": leads, "conversions": conv, "revenue": rev, "record_accuracy": acc}


def _key_account(rng, p: dict, a, terr, ramp, dem) -> dict[str, np.ndarray]:
    lam = p["deals_per_month"] * a * terr * dem * ramp
    n = np.minimum(rng.poisson(lam), p["_kmax"])
    mu, s, theta = p["deal_size_mean"], p["deal_size_sd_log"], p["large_order_threshold"]
    sizes = mu * _ln1(rng, s, n.shape + (4,))
    won = np.arange(4) < n[..., None]
    beyond = np.maximum(n - 4, 0) * mu
    rev = np.sum(np.where(won, sizes, 0.0), axis=-1) + beyond
    large = np.sum(np.where(won & (sizes >= theta), sizes, 0.0), axis=-1) + (beyond if mu >= theta else 0.0)
    sat = np.clip(p["satisfaction"] + p["satisfaction_sd"] * rng.standard_normal(n.shape), 0.0, 1.0)
    return {"deals": n.astype(float), "revenue": rev, "large_order_value": large,
            "new_accounts": rng.binomial(n, p["new_account_share"]).astype(float),
            "milestones": rng.poisson(p["milestones_per_month"] * a * ramp).astype(float),
            "satisfaction": sat}


def _channel(rng, p: dict, a, terr, ramp, dem) -> dict[str, np.ndarray]:
    opened = rng.poisson(p["partners_per_month"] * a * ramp).astype(float)
    m = np.arange(12)
    lag = m[:, None] - m[None, :]  # (month m, opening month j)
    built = np.where(lag > 0, 1.0 - np.exp(-np.maximum(lag, 0) / p["partner_ramp_months"]), 0.0)
    new = p["partner_mature_revenue"] * dem * (opened @ built.T)
    base = p["existing_revenue_per_month"] * terr * a * dem * ramp
    existing = np.maximum(0.0, base * (1.0 + p["revenue_cv"] * rng.standard_normal(base.shape)))
    sat = np.clip(p["partner_satisfaction"] + p["partner_satisfaction_sd"] * rng.standard_normal(base.shape), 0.0, 1.0)
    return {"partners_opened": opened, "revenue": existing + new, "partner_satisfaction": sat}


def _generic(rng, p: dict, a, terr, ramp, dem) -> dict[str, np.ndarray]:
    mu = p["revenue_per_month"] * a * terr * dem * ramp
    sig = math.sqrt(math.log(1.0 + p["revenue_cv"] ** 2))
    rev = mu * np.exp(sig * rng.standard_normal(mu.shape) - 0.5 * sig * sig)
    u = rev / p["revenue_per_unit"]
    return {"revenue": rev, "units": _normal_count(rng, u, u)}


def independent_year(case: Case, trials: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``trials`` independent years of the role's ``REPS`` reps from the docs' equations.

    Returns the measures, each (trials x REPS, 12) in trial order (the reps of a trial share its market), and the
    annual revenue quota (trials x REPS,) of section 3's quota methods; new hires' quotas scaled by their mean ramp.
    """
    r, q = case.role, case.quota
    n = trials * REPS
    a, terr = _ln1(rng, r["ability_sd"], (n, 1)), _ln1(rng, r["territory_sd"], (n, 1))
    new = rng.random((n, 1)) < r["new_hire_share"]
    ramp = np.where(new, ramp_profile(r)[None, :], 1.0)
    dem = season(r) * np.repeat(_market(rng, case.market, trials), REPS, axis=0)
    make = {"telesales": _telesales, "key_account": _key_account, "channel": _channel, "generic": _generic}
    params = {**r["production"], "_kmax": deals_cap(r)} if case.process == "key_account" else r["production"]
    year = make[case.process](rng, params, a, terr, ramp, dem)
    year["new_hire"] = new[:, 0]
    rate = r["production"].get("cancel_rate")
    if rate is not None:  # k ~ Binomial(n, rate) of a month's n deals cancel, taking k / n of its revenue
        booked = year[{"telesales": "conversions", "key_account": "deals", "generic": "units"}[case.process]]
        k = rng.binomial(booked.astype(np.int64), rate)
        year["cancelled"] = np.where(booked > 0, year["revenue"] * k / np.maximum(booked, 1.0), 0.0)
    E, rbar = expected_monthly(case).sum(), ramp.mean(axis=1)
    p_hat = terr[:, 0] * _ln1(rng, q["noise"], n)
    if q["method"] == "flat":
        quota = q["level"] * E * rbar
    elif q["method"] == "territory":
        quota = q["level"] * E * p_hat * rbar
    elif q["method"] == "last_year":
        ly = E / (1.0 + case.market["growth_mean"]) * a[:, 0] * terr[:, 0] * _ln1(rng, r.get("last_year_sd", 0.15), n)
        quota = np.where(new[:, 0], q["level"] * E * p_hat * rbar, q["level"] * (1.0 + q["growth"]) * ly)
    else:
        w = (p_hat * rbar).reshape(trials, REPS)
        quota = (q["level"] * E * REPS * w / w.sum(axis=1, keepdims=True)).ravel()
    return year, quota


def schedule(c: dict, x: np.ndarray) -> np.ndarray:
    """f(x) of a pay element (section 3's table), written from the rule's definition."""
    kind = c["kind"]
    if kind == "curve":
        pts = np.asarray(c["points"], float)
        xs, ys = pts[:, 0], pts[:, 1]
        slope = 0.0 if len(xs) == 1 or c.get("beyond", "extend") == "flat" else (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
        f = np.where(x >= xs[-1], ys[-1] + slope * (x - xs[-1]), np.interp(x, xs, ys))
        f = np.where(x < xs[0], 0.0, np.maximum(f, 0.0))
    elif kind == "commission":
        starts = np.array([t["from"] for t in c["tiers"]])
        rates = np.array([t["rate"] for t in c["tiers"]])
        if c.get("mode", "marginal") == "marginal":
            ends = np.append(starts[1:], np.inf)
            f = sum(r * np.clip(x - s, 0.0, e - s) for s, e, r in zip(starts, ends, rates, strict=True))
        else:
            j = np.searchsorted(starts, x, side="right") - 1
            f = np.where(j >= 0, rates[np.maximum(j, 0)] * x, 0.0)
    elif kind == "lump_sum":
        f = sum(s["amount"] * (x >= s["at"]) for s in c["steps"]) * np.ones_like(x)
    else:
        f = c["rate"] * x
    return np.minimum(f, c["cap"]) if c.get("cap") is not None else f


def _period_sums(v: np.ndarray, n_periods: int) -> np.ndarray:
    return v.reshape(v.shape[0], n_periods, 12 // n_periods).sum(axis=2)


def _pay(c: dict, v: np.ndarray, target: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Pay per period (n, P) of a component on period values v, targets and scales (n, P), with or without true-up:
    period p pays what the year to date has earned less what was paid so far, never negative."""
    if c["kind"] == "per_unit":
        if not c.get("ytd_true_up"):
            return schedule(c, v)
        owed = schedule(c, np.cumsum(v, axis=1))  # min(rate x units so far, cap)
    elif not c.get("ytd_true_up"):
        return schedule(c, v / target) * scale
    else:
        owed = schedule(c, np.cumsum(v, axis=1) / np.cumsum(target, axis=1)) * np.cumsum(scale, axis=1)
    paid, out = np.zeros(v.shape[0]), np.zeros(v.shape)
    for p in range(v.shape[1]):
        out[:, p] = np.maximum(0.0, owed[:, p] - paid)
        paid += out[:, p]
    return out


def _teams(n: int, size: int) -> np.ndarray:
    """Team index of each rep-year (consecutive blocks of ``size`` within each trial's ``REPS``), unique per trial."""
    per_trial = (REPS + size - 1) // size
    return (np.arange(n) // REPS) * per_trial + (np.arange(n) % REPS) // size


def _team_sum(x: np.ndarray, team: np.ndarray) -> np.ndarray:
    sums = np.zeros((team[-1] + 1,) + x.shape[1:])
    np.add.at(sums, team, x)
    return sums[team]


def component_pay(case: Case, c: dict, year: dict, quota: np.ndarray, team: dict | None = None) -> np.ndarray:
    """One component's pay per rep-year (section 3: period attainment, scale, year-to-date true-up, team weighting)."""
    return component_periods(case, c, year, quota, team).sum(axis=1)


def component_periods(case: Case, c: dict, year: dict, quota: np.ndarray, team: dict | None = None) -> np.ndarray:
    """One component's pay per period (n, P)."""
    P = PERIODS[c.get("period", "year")]
    score = c["measure"] == SCORES.get(case.process)
    v = _period_sums(year[c["measure"]], P) / (12 // P if score else 1)
    if c.get("target", "quota") == "quota":
        Em = expected_monthly(case)
        target = quota[:, None] * (_period_sums(Em[None, :], P)[0] / Em.sum())[None, :]
    else:  # a number a year x the quota level split over the periods; a score's number as it is
        target = np.full(v.shape, c["target"] if score else case.quota["level"] * c["target"] / P)
    scale = {"curve": c.get("weight", 1.0) * case.role["target_incentive"] / P, "commission": target,
             "lump_sum": 1.0, "per_unit": 1.0}[c["kind"]] * np.ones_like(v)
    own = _pay(c, v, target, scale)
    w = (team or {}).get("weight", 0.0)
    if not w:
        return own
    ids = _teams(len(quota), case.role["team_size"])
    size = _team_sum(np.ones((len(quota), 1)), ids)
    tv, tt, ts = _team_sum(v, ids), _team_sum(target, ids), _team_sum(scale, ids)
    pool = size * _pay(c, tv / size, tt / size, scale) if c["kind"] == "per_unit" else _pay(c, tv, tt, ts)
    if team.get("split", "equal") == "contribution":
        mine, tot = v.sum(axis=1), _team_sum(v.sum(axis=1, keepdims=True), ids)[:, 0]
        share = np.where(tot > 0, mine / np.where(tot > 0, tot, 1.0), 1.0 / size[:, 0])
    else:
        share = 1.0 / size[:, 0]
    return (1.0 - w) * own + w * pool * share[:, None]


def scale_value(sc: dict, x: np.ndarray) -> np.ndarray:
    """A scorecard scale (section 3, scorecards): intervals [from, to) -> score, the last holding beyond; or a curve,
    0 below its first point, linear between points, flat or extended after the last."""
    if "intervals" in sc and sc["intervals"] is not None:
        starts = np.array([i["from"] for i in sc["intervals"]])
        scores = np.array([i["score"] for i in sc["intervals"]])
        j = np.searchsorted(starts, x, side="right") - 1
        return np.where(j >= 0, scores[np.maximum(j, 0)], 0.0)
    return schedule({"kind": "curve", "points": sc["curve"], "beyond": sc.get("beyond", "flat")}, x)


def scorecard_pay(case: Case, sc: dict, year: dict, quota: np.ndarray, team: dict | None = None) -> np.ndarray:
    """A scorecard's pay per rep-year (:func:`scorecard_periods` summed)."""
    return scorecard_periods(case, sc, year, quota, team).sum(axis=1)


def scorecard_periods(case: Case, sc: dict, year: dict, quota: np.ndarray, team: dict | None = None) -> np.ndarray:
    """A scorecard's pay per period (n, P): per period each measure's attainment scored, weighted into the composite,
    paid ``weight TI / P coef(composite)`` (nothing below ``min_score``, at most ``cap``); team part on the team's
    flows summed and scores averaged, split equally or by the member's share of the team's revenue."""
    P = PERIODS[sc["period"]]
    vals, tgts = {}, {}
    for sm in sc["measures"]:
        m, score = sm["measure"], sm["measure"] == SCORES.get(case.process)
        v = year[m].reshape(len(quota), P, 12 // P)
        vals[m] = v.mean(axis=2) if score else v.sum(axis=2)
        if sm.get("target", "quota") == "quota":
            Em = expected_monthly(case)
            tgts[m] = quota[:, None] * (_period_sums(Em[None, :], P)[0] / Em.sum())[None, :]
        else:
            tgts[m] = np.full(vals[m].shape, sm["target"] if score else case.quota["level"] * sm["target"] / P)

    def pay(vs: dict, ts: dict) -> np.ndarray:
        comp = sum(sm["weight"] * scale_value(sm, vs[sm["measure"]] / ts[sm["measure"]]) for sm in sc["measures"])
        comp = comp / sc.get("total", 100.0)
        coef = scale_value(sc["payout"], comp)
        if sc.get("cap") is not None:
            coef = np.minimum(coef, sc["cap"])
        coef = np.where(comp < sc.get("min_score", 0.0), 0.0, coef)
        return coef * sc["weight"] * case.role["target_incentive"] / P

    own = pay(vals, tgts)
    w = (team or {}).get("weight", 0.0)
    if not w:
        return own
    ids = _teams(len(quota), case.role["team_size"])
    size = _team_sum(np.ones((len(quota), 1)), ids)
    avg = {m: (size if m == SCORES.get(case.process) else 1.0) for m in vals}
    team_pay = pay({m: _team_sum(v, ids) / avg[m] for m, v in vals.items()},
                   {m: _team_sum(t, ids) / avg[m] for m, t in tgts.items()})
    if team.get("split", "equal") == "contribution":
        mine = year["revenue"].sum(axis=1)
        tot = _team_sum(mine[:, None], ids)[:, 0]
        team_pay = team_pay * (size[:, 0] * np.where(tot > 0, mine / np.where(tot > 0, tot, 1.0), 1.0 / size[:, 0]))[:, None]
    return (1.0 - w) * own + w * team_pay


def spiff_pay(sp: dict, year: dict) -> np.ndarray:
    """``rate x units`` in the window when at least ``min_units``; over a budget, every payout of the trial's reps
    scaled by ``budget / total`` (section 3, SPIFFs)."""
    units = year[sp["measure"]][:, sp["from"] - 1: sp["to"]].sum(axis=1)
    pay = np.where(units >= sp.get("min_units", 0.0), sp["rate"] * units, 0.0)
    if sp.get("budget") is None:
        return pay
    tot = pay.reshape(-1, REPS).sum(axis=1, keepdims=True)
    return (pay.reshape(-1, REPS) * np.where(tot > sp["budget"], sp["budget"] / np.where(tot > 0, tot, 1.0), 1.0)).ravel()


def _gate_attainment(case: Case, g: dict, year: dict, quota: np.ndarray) -> np.ndarray:
    """Annual attainment on a gate's measure: against the quota, a number a year x the quota level (a flow), or the
    number (a score, on its annual mean)."""
    if g["measure"] == SCORES.get(case.process):
        return year[g["measure"]].mean(axis=1) / g["target"]
    target = quota if g.get("target", "quota") == "quota" else case.quota["level"] * g["target"]
    return year[g["measure"]].sum(axis=1) / target


def plan_pay(case: Case, comps: list[dict], gates, modifiers, year: dict, quota: np.ndarray,
             team: dict | None = None, scorecards=(), spiffs=()) -> np.ndarray:
    """A role plan's incentive per rep-year: components and scorecards, gates on annual attainment, modifiers, then
    SPIFFs (outside gates and modifiers)."""
    total = np.zeros(quota.shape)
    pays = [(c["name"], component_pay(case, c, year, quota, team)) for c in comps]
    pays += [(sc["name"], scorecard_pay(case, sc, year, quota, team)) for sc in scorecards]
    for name, pay in pays:
        for g in gates:
            if g.get("components") is None or name in g["components"]:
                pay = np.where(_gate_attainment(case, g, year, quota) >= g["min_attainment"], pay, 0.0)
        total += pay
    for mod in modifiers:
        pts = np.asarray(mod["points"], float)
        annual = year[mod["measure"]]
        annual = annual.mean(axis=1) if mod["measure"] == SCORES.get(case.process) else annual.sum(axis=1)
        total = total * np.interp(annual, pts[:, 0], pts[:, 1])
    return total + sum((spiff_pay(sp, year) for sp in spiffs), np.zeros(quota.shape))


def earnings_by_month(case: Case, year: dict, quota: np.ndarray) -> np.ndarray:
    """Earnings by month (n, 12) for a draw: each element's pay per period in the period's last month, before gates
    and modifiers, which settle in December: ``e_12 += incentive - sum_m e_m`` (section 3, draws)."""
    e = np.zeros((len(quota), 12))
    per = [(PERIODS[c.get("period", "year")], component_periods(case, c, year, quota, case.team)) for c in case.components]
    per += [(PERIODS[sc["period"]], scorecard_periods(case, sc, year, quota, case.team)) for sc in case.scorecards]
    for P, pay in per:
        e[:, (np.arange(P) + 1) * 12 // P - 1] += pay
    incentive = plan_pay(case, case.components, case.gates, case.modifiers, year, quota, case.team, case.scorecards)
    e[:, 11] += incentive - e.sum(axis=1)
    return e


def draw_cash(case: Case, year: dict, quota: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cash paid, earnings, balance carried) per rep-year under the plan's draw, period by period: a guarantee pays
    ``max(e, A)``; an advance pays ``A`` below it (the shortfall joins the balance) and recovers the balance from
    earnings above it, and from any earnings once the draw has ended."""
    d = case.draw
    e_m = earnings_by_month(case, year, quota)
    P = PERIODS[d["period"]]
    e = _period_sums(e_m, P)
    covered = year["new_hire"] if d.get("new_hires_only") else np.ones(len(quota), bool)
    amount = np.where(covered[:, None] & ((np.arange(P) * (12 // P) < d["months"])[None, :]), d["amount"], 0.0)
    cash, b = np.zeros(len(quota)), np.zeros(len(quota))
    for p in range(P):
        A, ep = amount[:, p], e[:, p]
        if not d.get("recoverable", True):
            paid = np.where(A > 0, np.maximum(ep, A), ep)
        else:
            short = (A > 0) & (ep < A)
            back = np.where(A > 0, np.minimum(b, np.maximum(ep - A, 0.0)), np.minimum(b, np.maximum(ep, 0.0)))
            paid = np.where(short, A, ep - back)
            b = np.where(short, b + A - ep, b - back)
        cash += paid
    carried = b if d.get("recoverable", True) and d.get("at_year_end", "forgive") == "carry" else np.zeros_like(b)
    return cash, e_m.sum(axis=1), carried


def clawback_pay(case: Case, year: dict, quota: np.ndarray, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pay after recoveries, recovered, unrecovered) per rep-year under the plan's clawback (section 3, clawbacks).

    A month's cancelled revenue ``c_m`` cancels ``d_m = 1 + floor(u W)`` months after booking; within the clawback's
    window it owes back, for each clawed element (components and SPIFFs paid on revenue, or those named), the pay of
    the period holding the month (after gates, with its team part; a SPIFF's period is its window) times ``c_m / V_p``,
    due in month ``m + d_m`` or after December. The balance is recovered month by month from the month's pay
    (earnings by month as for draws, SPIFFs at their window's last month, never below 0); what is left is forgiven or
    carried (either way, not recovered).
    """
    cb, n = case.clawback, len(quota)
    W = case.role["production"].get("cancel_window_months", 3)
    delay = 1 + np.floor(rng.random((n, 12)) * W).astype(int)
    clawed = np.where(delay <= cb["window_months"], year["cancelled"], 0.0)
    rev = year["revenue"]
    names = cb.get("components")
    owed = np.zeros((n, 12))
    for c in case.components:
        if c["measure"] != "revenue" or (names is not None and c["name"] not in names):
            continue
        P = PERIODS[c.get("period", "year")]
        per = component_periods(case, c, year, quota, case.team)
        for g in case.gates:
            if g.get("components") is None or c["name"] in g["components"]:
                per = np.where((_gate_attainment(case, g, year, quota) >= g["min_attainment"])[:, None], per, 0.0)
        V = _period_sums(rev, P)
        rate = np.where(V > 0, per / np.where(V > 0, V, 1.0), 0.0)
        owed += np.repeat(rate, 12 // P, axis=1) * clawed
    monthly = earnings_by_month(case, year, quota)
    for sp in case.spiffs:
        pay = spiff_pay(sp, year)
        monthly[:, sp["to"] - 1] += pay
        if sp["measure"] != "revenue" or (names is not None and sp["name"] not in names):
            continue
        V = rev[:, sp["from"] - 1: sp["to"]].sum(axis=1)
        rate = np.where(V > 0, pay / np.where(V > 0, V, 1.0), 0.0)
        owed[:, sp["from"] - 1: sp["to"]] += rate[:, None] * clawed[:, sp["from"] - 1: sp["to"]]
    due, later = np.zeros((n, 12)), np.zeros(n)
    rows = np.arange(n)
    for m in range(12):
        t = m + delay[:, m]
        inside = t < 12
        np.add.at(due, (rows[inside], t[inside]), owed[inside, m])
        later += np.where(inside, 0.0, owed[:, m])
    balance, recovered = np.zeros(n), np.zeros(n)
    for m in range(12):
        balance = balance + due[:, m]
        back = np.minimum(balance, np.maximum(monthly[:, m], 0.0))
        monthly[:, m] -= back
        recovered += back
        balance = balance - back
    return monthly.sum(axis=1), recovered, balance + later


# --- exact means and the lognormal quadrature -----------------------------------------------------------------------

_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(96)
_GH_W = _GH_W / _GH_W.sum()


def _ln1_expect(f, s: float) -> float:
    """E[f(L)], L = LN1(s), by Gauss-Hermite quadrature (f smooth)."""
    return float(np.sum(_GH_W * f(np.exp(s * _GH_X - 0.5 * s * s))))


def _poisson_sf_terms(lam: np.ndarray, upto: int) -> np.ndarray:
    """P(N > k) for k = 0..upto-1, N ~ Poisson(lam): shape (len(lam), upto)."""
    return stats.poisson.sf(np.arange(upto)[None, :], lam[:, None])


def _ramped(f, h: float, ramp: float):
    """E over new hires (share h, ramp factor ``ramp``) of f(factor)."""
    return f(1.0) if h == 0.0 or ramp == 1.0 else (1.0 - h) * f(1.0) + h * f(ramp)


def exact_means(case: Case) -> dict[str, float]:
    """Expected value per rep-year of revenue and count measures where a closed form (or 1-D quadrature) exists.

    Ability, territory and market multipliers are independent mean-one lognormals, so a product of them is a
    mean-one lognormal with the summed log-variance; a new hire (share h) has ramp r_m in month m, others 1.
    """
    p, mk, r = case.role["production"], case.market, case.role
    sm = season(r) * (1.0 + mk["growth_mean"])
    h, ramp = r["new_hire_share"], ramp_profile(r)
    rbar = 1.0 - h + h * ramp  # mean ramp per month
    s_dem = math.sqrt(mk["growth_sd"] ** 2 + mk["monthly_sd"] ** 2)  # log-sd of one month's market multiplier
    if case.process == "key_account":
        return _key_account_means(case, sm, s_dem)
    if case.process == "channel":
        cv = p["revenue_cv"]
        clip = 1.0 if cv == 0 else stats.norm.cdf(1.0 / cv) + cv * stats.norm.pdf(1.0 / cv)  # E[max(0, 1 + cv z)]
        m = np.arange(12)
        built = np.where(m[:, None] > m[None, :], 1.0 - np.exp(-(m[:, None] - m[None, :]) / p["partner_ramp_months"]), 0)
        opened = p["partners_per_month"] * rbar
        new = p["partner_mature_revenue"] * sm * (built @ opened)
        return {"revenue": float(np.sum(p["existing_revenue_per_month"] * sm * rbar * clip + new)),
                "partners_opened": float(opened.sum())}
    if case.process == "generic":
        return {"revenue": float(np.sum(p["revenue_per_month"] * sm * rbar))}
    s_lr = math.sqrt(r["territory_sd"] ** 2 + s_dem ** 2)
    rate = np.array([_ln1_expect(lambda L, x=x: np.minimum(0.95, x * L), s_lr) for x in p["lead_rate"] * sm])
    return {"calls": float(p["calls_per_month"] * rbar.sum()), "leads": float(p["calls_per_month"] * rbar @ rate)}


def deals_cap(role: dict) -> int:
    """K, the truncation of a rep-month's deals (section 2): ceil(h + 8 sqrt(h)) + 12, h = 2 deals_per_month
    max_m s_m exp(6 sqrt(ability_sd^2 + territory_sd^2))."""
    h = 2.0 * role["production"]["deals_per_month"] * season(role).max() * math.exp(
        6.0 * math.hypot(role["ability_sd"], role["territory_sd"]))
    return math.ceil(h + 8.0 * math.sqrt(h)) + 12


def _key_account_means(case: Case, sm: np.ndarray, s_dem: float) -> dict[str, float]:
    """Deals truncated at K a month: E[min(N, K)] = sum_{k<K} P(N > k); sizes of the first four lognormal, later
    deals at the mean size, so E[large] = mu Phi(s - z*) sum_{k<4} P(N > k) + mu 1{mu >= theta} sum_{4<=k<K} P(N > k)."""
    p, r = case.role["production"], case.role
    K = deals_cap(r)
    s_lam = math.sqrt(r["ability_sd"] ** 2 + r["territory_sd"] ** 2 + s_dem ** 2)
    mu, s, theta = p["deal_size_mean"], p["deal_size_sd_log"], p["large_order_threshold"]
    if s > 0:
        p_large = stats.norm.sf((math.log(theta / mu) + 0.5 * s * s) / s - s) if theta > 0 else 1.0  # E[D 1{D >= theta}] / mu
    else:
        p_large = float(mu >= theta)
    h, ramp = r["new_hire_share"], ramp_profile(r)
    deals = drawn = beyond = 0.0
    for lam0, rm in zip(p["deals_per_month"] * sm, ramp, strict=True):
        def sf(L, lo, hi, lam0=lam0):
            return _poisson_sf_terms(lam0 * L, K)[:, lo:hi].sum(axis=1)
        for acc, lo, hi in ((0, 0, K), (1, 0, 4), (2, 4, K)):
            v = _ramped(lambda f, lo=lo, hi=hi: _ln1_expect(lambda L: sf(f * L, lo, hi), s_lam), h, rm)
            if acc == 0:
                deals += v
            elif acc == 1:
                drawn += v
            else:
                beyond += v
    large = mu * p_large * drawn + (mu * beyond if mu >= theta else 0.0)
    rbar = 1.0 - h + h * ramp
    return {"revenue": mu * deals, "deals": deals, "new_accounts": p["new_account_share"] * deals,
            "milestones": float(p["milestones_per_month"] * rbar.sum()), "large_order_value": large}


def lognormal_attainment(case: Case) -> tuple[float, float]:
    """(mean, sd) of log attainment in the ``lognormal`` channel case (every period's is the year's).

    Revenue is ``existing a p s_m M`` with ``M = (1 + g) LN1(growth_sd)``; the quota is ``level E`` (flat) or
    ``level E p LN1(noise)`` (territory), and ``E_m`` follows the same season, so attainment is
    ``a p G / level`` or ``a G / (level LN1(noise))``, ``G = LN1(growth_sd)``.
    """
    r, q, g = case.role, case.quota, case.market["growth_sd"]
    var = r["ability_sd"] ** 2 + g * g
    if q["method"] == "flat":
        var += r["territory_sd"] ** 2
        return -0.5 * var - math.log(q["level"]), math.sqrt(var)
    n = q["noise"]
    return -0.5 * var + 0.5 * n * n - math.log(q["level"]), math.sqrt(var + n * n)


def _knots(c: dict) -> list[float]:
    if c["kind"] == "curve":
        return [p[0] for p in c["points"]]
    if c["kind"] == "commission":
        return [t["from"] for t in c["tiers"]]
    return [s["at"] for s in c["steps"]]


def quad_pay(case: Case, c: dict, gate: float | None, power: int = 1) -> float:
    """E[pay] (``power`` 2: E[pay^2]) of one revenue component when attainment X is lognormal: the schedule
    integrated over X's density.

    A curve pays ``weight TI f(X)`` a year (``weight TI / n f(X)`` in each of n periods, with or without true-up,
    since every period's attainment is X), a lump sum ``n f(X)``, a commission ``quota_i f(X)``. With a territory
    quota, ``quota_i = level E p LN1(noise)`` and X holds ``1 / LN1(noise)``: weighting by ``LN1(noise)`` shifts the
    noise's normal by its sd, so ``E[quota_i f(X)] = level E E[f(X')]`` with log X' of mean lower by ``noise^2``;
    by ``LN1(noise)^k`` shifts it by k sd and multiplies by ``E[LN1^k] = exp(k (k - 1) noise^2 / 2)`` (and ``p^k``,
    independent of X, by ``exp(k (k - 1) territory_sd^2 / 2)``).
    """
    k = power
    mu, sig = lognormal_attainment(case)
    P = PERIODS[c.get("period", "year")]
    q = case.quota["level"] * expected_monthly(case).sum()
    scale = {"curve": c.get("weight", 1.0) * case.role["target_incentive"], "lump_sum": float(P), "commission": q}[c["kind"]]
    scale = scale**k
    if c["kind"] == "commission" and case.quota["method"] == "territory":
        n2 = case.quota["noise"] ** 2
        mu -= k * n2
        scale *= math.exp(0.5 * k * (k - 1) * (n2 + case.role["territory_sd"] ** 2))
    if sig == 0.0:
        return scale * _gated_f(c, math.exp(mu), gate) ** k

    def g(z: float) -> float:
        return _gated_f(c, math.exp(mu + sig * z), gate) ** k * stats.norm.pdf(z)

    breaks = [(math.log(k) - mu) / sig for k in _knots(c) + ([gate] if gate is not None else []) if k > 0]
    pts = sorted(b for b in breaks if -10 < b < 10)
    return scale * integrate.quad(g, -10, 10, points=pts or None, limit=400)[0]


def _gated_f(c: dict, x: float, gate: float | None) -> float:
    if gate is not None and x < gate:
        return 0.0
    return float(schedule(c, np.array([x]))[0])


# --- the audit ------------------------------------------------------------------------------------------------------


@dataclass
class Row:
    case: int
    metric: str
    engine: float
    engine_se: float
    expected: float
    expected_se: float
    method: str
    floor: float = 0.0  # the SE the engine's mean should have (sd of a trial's value / sqrt(trials)), for rare events

    @property
    def z(self) -> float:
        """(engine - expected) / SE, the SE of both sides; the engine's at least :attr:`floor` (a rare payout seen in
        none of a few thousand rep-years gives a sample SE of 0), and both at least 1e-9 of the value (a pay that is
        the same for every rep, such as a cap everyone reaches, differs only by rounding)."""
        se = max(math.hypot(max(self.engine_se, self.floor), self.expected_se), 1e-9 * max(1.0, abs(self.expected)))
        return (self.engine - self.expected) / se

    @property
    def flagged(self) -> bool:
        return abs(self.z) > K_SE


def _mc(x: np.ndarray, per_trial: bool = False) -> tuple[float, float, str, float]:
    """(mean per rep, its SE, "mc", the sd of a trial's mean) of per-rep-year values in trial order (or of per-trial
    values): trials are the independent units, as their reps share the market."""
    t = x if per_trial else x.reshape(-1, REPS).mean(axis=1)
    sd = float(t.std(ddof=1))
    return float(t.mean()), sd / math.sqrt(len(t)), "mc", sd


def _attainment_stats(year: dict, quota: np.ndarray) -> dict[str, tuple[float, float, str, float]]:
    """Share of reps at or above quota, and the mean over trials of each trial's 10th, 50th and 90th percentile
    (linear interpolation) of its reps' annual attainment."""
    att = year["revenue"].sum(axis=1) / quota
    out = {"share_at_quota": _mc((att >= 1.0).astype(float))}
    per_trial = np.quantile(att.reshape(-1, REPS), [0.1, 0.5, 0.9], axis=1)
    for q, v in zip((10, 50, 90), per_trial, strict=True):
        m, se, how, sd = _mc(v, per_trial=True)
        out[f"attainment_p{q}"] = (m, se, how, sd)
    return out


def expectations(case: Case, n_trials: int, seed: int) -> dict[str, tuple[float, float, str, float]]:
    """Metric -> (expected value, its SE, method, sd of a trial's value), for every metric :func:`run_engine` reports.

    Every metric has an independent Monte Carlo estimate (its sd also sizes the engine's SE floor); a closed form or
    quadrature replaces the estimate where one exists.
    """
    year, quota = independent_year(case, n_trials, np.random.default_rng([seed, case.index, 7]))
    out = {"revenue": _mc(year["revenue"].sum(axis=1)),
           **({"cancelled_revenue": _mc(year["cancelled"].sum(axis=1))} if "cancelled" in year else {}),
           "pay:current": _mc(plan_pay(case, case.components, case.gates, case.modifiers, year, quota, case.team,
                                       case.scorecards, case.spiffs)),
           **_attainment_stats(year, quota)}
    if case.draw is not None:
        cash, earned, carried = draw_cash(case, year, quota)
        out.update({"pay:current": _mc(cash), "draw_paid": _mc(cash - earned), "draw_outstanding": _mc(carried)})
    if case.clawback is not None:
        paid, back, left = clawback_pay(case, year, quota, np.random.default_rng([seed, case.index, 13]))
        out.update({"pay:current": _mc(paid), "clawback_recovered": _mc(back), "clawback_unrecovered": _mc(left)})
    plans = engine_plans(case)
    for c in case.components:
        if c["name"] in plans:
            out[f"pay:{c['name']}"] = _mc(component_pay(case, c, year, quota, case.team))
    for sc in case.scorecards:
        if sc["name"] in plans:
            out[f"pay:{sc['name']}"] = _mc(scorecard_pay(case, sc, year, quota, case.team))
    for sp in case.spiffs:
        if sp["name"] in plans:
            out[f"pay:{sp['name']}"] = _mc(spiff_pay(sp, year))
    for m in COUNTS[case.process]:
        if f"n_{m}" in plans:
            out[f"pay:n_{m}"] = _mc(year[m].sum(axis=1))

    def put(key: str, value: float, se: float, method: str) -> None:
        out[key] = (value, se, method, out[key][3])

    exact = exact_means(case)
    if "revenue" in exact:
        put("revenue", exact["revenue"], 0.0, "exact")
        if "cancelled" in year and case.process == "key_account":  # no deals, no revenue: E[V k / n] = rate E[V]
            put("cancelled_revenue", case.role["production"]["cancel_rate"] * exact["revenue"], 0.0, "exact")
    for m, v in exact.items():
        if f"n_{m}" in plans:
            put(f"pay:n_{m}", v, 0.0, "exact")
    # the current plan is its one element alone, unless a draw tops its pay up (the draw's cash is by Monte Carlo)
    alone = (len(case.components) == 1 and "current" in plans and case.components[0]["name"] not in plans
             and case.draw is None and case.clawback is None)
    for c in case.components:  # uncapped per-unit pay is linear in the count (a team's pool too, split either way)
        key = "pay:current" if alone else f"pay:{c['name']}"
        if c["kind"] == "per_unit" and c.get("cap") is None and c["measure"] in exact and key in out:
            put(key, c["rate"] * exact[c["measure"]], 0.0, "exact")
    if case.lognormal:
        for key, (v, se, method, sd) in _lognormal_expectations(case, year).items():
            out[key] = (v, se, method, max(out[key][3], sd))
    return out


def quad_sd(case: Case, c: dict, gate: float | None) -> tuple[float, float]:
    """(E[pay], sd of a rep-year's pay) of one revenue component when attainment is lognormal (:func:`quad_pay`)."""
    m1 = quad_pay(case, c, gate)
    return m1, math.sqrt(max(quad_pay(case, c, gate, power=2) - m1 * m1, 0.0))


def _lognormal_expectations(case: Case, year: dict) -> dict[str, tuple[float, float, str, float]]:
    """Metric -> (expected value, its SE, method, sd of a trial's mean over reps by quadrature).

    The last sizes the engine's SE floor when the Monte Carlo's is 0: a payout too rare for a few thousand
    rep-years (a curve starting at 1.65 times a quota no rep reaches) has an expected value of 1e-6 and, in
    the engine, a sample SE of 0; its sd (reps independent given the market, so a trial's mean over reps has at
    least ``sd / sqrt(reps)``) puts it at z ~ 0, not -2,000. For a plan of several elements the sd is
    Minkowski's bound, the sum of the elements' sds.
    """
    mu, sig = lognormal_attainment(case)
    out = {"share_at_quota": (float(stats.norm.sf(-mu / sig)) if sig > 0 else float(mu >= 0), 0.0, "exact", 0.0)}
    gated = sd_gated = 0.0
    plans = engine_plans(case)
    for c in case.components:
        gate = max((g["min_attainment"] for g in case.gates
                    if g.get("components") is None or c["name"] in g["components"]), default=None)
        if c["name"] in plans:
            m1, sd = quad_sd(case, c, None)
            out[f"pay:{c['name']}"] = (m1, 0.0, "quad", sd / math.sqrt(REPS))
        m1, sd = quad_sd(case, c, gate)
        gated, sd_gated = gated + m1, sd_gated + sd
    if not case.modifiers:
        out["pay:current"] = (gated, 0.0, "quad", sd_gated / math.sqrt(REPS))
    else:  # the scores are independent of attainment: E[pay x mod] = E[pay] E[mod], the modifier's mean by Monte Carlo
        mult = np.ones(len(next(iter(year.values()))))
        for mod in case.modifiers:
            pts = np.asarray(mod["points"], float)
            mult = mult * np.interp(year[mod["measure"]].mean(axis=1), pts[:, 0], pts[:, 1])
        m, se, _, _ = _mc(mult)
        # Var(pay mod) >= E[mod^2] Var(pay) for independent pay and mod
        floor = sd_gated * math.sqrt(float(np.mean(mult * mult))) / math.sqrt(REPS)
        out["pay:current"] = (gated * m, gated * se, "quad x mc", floor)
    return out


def audit_case(case: Case, trials: int, seed: int, n_mc: int) -> list[Row]:
    """The engine's metrics of one case against their expected values (``n_mc`` independent trials)."""
    eng = run_engine(case, trials, seed + case.index)
    exp = expectations(case, n_mc, seed)
    return [Row(case.index, k, *eng[k], *exp[k][:3], floor=exp[k][3] / math.sqrt(trials)) for k in eng]


def describe(case: Case) -> str:
    p = ", ".join(f"{k}={v}" for k, v in case.role["production"].items())
    r = case.role
    lines = [f"case {case.index}: {case.process}{' (lognormal attainment)' if case.lognormal else ''}; "
             f"ability_sd={r['ability_sd']} territory_sd={r['territory_sd']} TI={r['target_incentive']} "
             f"new_hire_share={r['new_hire_share']} ramp_months={r['ramp_months']}; "
             f"market {case.market}; quota {case.quota}", f"  production: {p}"]
    lines += [f"  component {c}" for c in case.components]
    lines += [f"  scorecard {sc}" for sc in case.scorecards] + [f"  spiff {sp}" for sp in case.spiffs]
    lines += [f"  draw {case.draw}"] if case.draw else []
    lines += [f"  clawback {case.clawback}"] if case.clawback else []
    lines += [f"  gate {g}" for g in case.gates] + [f"  modifier {m}" for m in case.modifiers]
    if case.team["weight"]:
        lines.append(f"  team {case.team}, team_size {r['team_size']}")
    return "\n".join(lines)


def audit(cases: int, trials: int, seed: int, n_mc: int, start: int = 0, out=None) -> list[Row]:
    """Draw and audit ``cases`` set-ups (case i from the seed and i, so a case is reproducible alone)."""
    rows: list[Row] = []
    for i in range(start, start + cases):
        case = draw_case(i, np.random.default_rng([seed, i]), clawback=seed >= CLAWBACK_FROM_SEED)
        got = audit_case(case, trials, seed, n_mc)
        rows += got
        if out is not None:
            print(describe(case), file=out)
            for r in got:
                print(f"  {r.metric:<22} engine {r.engine:>14,.2f} ± {r.engine_se:>10,.2f}   expected "
                      f"{r.expected:>14,.2f} ± {r.expected_se:>9,.2f} {r.method:<9} z {r.z:+6.2f}"
                      f"{'  FLAG' if r.flagged else ''}", file=out)
    return rows


def case_arguments(prog: str, doc: str, cases: int, trials: int) -> argparse.ArgumentParser:
    """The options every audit over :func:`draw_case`'s random set-ups takes: ``--cases``, ``--trials``, ``--seed``
    and ``--start`` (to rerun one case)."""
    ap = argparse.ArgumentParser(prog=prog, description=doc.split("\n")[0])
    ap.add_argument("--cases", type=int, default=cases)
    ap.add_argument("--trials", type=int, default=trials, help="engine trials per case (%(default)s)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=int, default=0, help="first case index (to rerun one case: --start i --cases 1)")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = case_arguments("python -m benchmarks.closed_forms", __doc__, cases=200, trials=60)
    ap.add_argument("--mc", type=int, default=2500, help="independent Monte Carlo trials per case (%(default)s)")
    a = ap.parse_args(argv)
    if not (1 <= a.cases <= 10_000 and 2 <= a.trials <= 100_000 and 100 <= a.mc <= 100_000 and a.start >= 0):
        ap.error("expected 1 <= --cases <= 10000, 2 <= --trials <= 100000, 100 <= --mc <= 100000, --start >= 0")
    rows = audit(a.cases, a.trials, a.seed, a.mc, a.start, out=sys.stdout)
    flagged = [r for r in rows if r.flagged]
    by = {m: sum(r.method == m for r in rows) for m in ("exact", "quad", "quad x mc", "mc")}
    print(f"\n{a.cases} cases, {len(rows)} metrics ({', '.join(f'{v} {k}' for k, v in by.items())}); "
          f"max |z| {max(abs(r.z) for r in rows):.2f}; flagged |z| > {K_SE:g}: {len(flagged)}")
    confirmed = confirm(flagged, a.trials, a.seed, a.mc, sys.stdout)
    print(f"confirmed on fresh draws: {len(confirmed)}")
    return 1 if confirmed else 0


def confirm(flagged: list[Row], trials: int, seed: int, n_mc: int, out) -> list[Row]:
    """Rerun each flagged case on fresh draws (engine and independent Monte Carlo, another seed): among a few thousand
    metrics, correlated within a case, a chance |z| just over 4 turns up now and then; a defect shows again."""
    again: list[Row] = []
    for index in sorted({r.case for r in flagged}):
        case = draw_case(index, np.random.default_rng([seed, index]), clawback=seed >= CLAWBACK_FROM_SEED)
        rows = {r.metric: r for r in audit_case(case, trials, seed + 100_003, n_mc)}
        for r in (r for r in flagged if r.case == index):
            r2 = rows[r.metric]
            print(f"  FLAG case {r.case} {r.metric}: engine {r.engine:,.2f} ± {r.engine_se:,.2f}, expected "
                  f"{r.expected:,.2f} ± {r.expected_se:,.2f} ({r.method}), z {r.z:+.2f}; on fresh draws z {r2.z:+.2f}"
                  f"{'  CONFIRMED' if r2.flagged else ''}", file=out)
            if r2.flagged:
                again.append(r2)
    return again


if __name__ == "__main__":
    sys.exit(main())
