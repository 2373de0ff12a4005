"""``python -m benchmarks.closed_forms``: a randomized audit of the engine against independent closed forms.

Draws ``--cases`` random but valid role and plan set-ups (telesales funnel,
key-account compound Poisson deals, channel; random process parameters,
market, seasonality and quota; plan components of every kind: curves with
random points, caps and ``beyond``, marginal and retroactive commissions,
lump sums, per-unit pay with and without caps, large-order value, periods
month to year, year-to-date true-ups, gates and modifiers), runs the engine
(``simulate``, behaviour ``none``) and compares each metric's mean per rep
with its expected value derived here, from docs/model.md's equations and
without simlib's code:

- ``exact``: a closed form, or one-dimensional Gauss-Hermite quadrature over
  the lognormal rate of a Poisson count (key-account deals truncated at 12,
  large-order value with its four drawn sizes, channel revenue with its
  clipped noise, telesales calls and leads);
- ``quad``: the pay schedule integrated (scipy ``quad``) against the exact
  lognormal law of attainment (a channel role with no revenue noise, no new
  partners and no monthly shocks, so every period's attainment is the same
  lognormal draw); times the modifier's mean by Monte Carlo if there is one;
- ``mc``: where the law of a sum over months is not closed (the funnel's
  rounded normal counts, a year of compound Poisson deals, capped per-unit
  pay, periods with year-to-date true-ups), a large independent NumPy Monte
  Carlo of the docs' equations, its standard error included in ``z``.

Per case and metric it prints the engine's mean ± SE, the expected value
(± its SE for ``mc``), the method and ``z = (engine - expected) / SE``, and
flags ``|z| > 4``. Exit status 1 if any case is flagged.

Everything below ``# --- independent model`` uses NumPy and SciPy only; simlib is
called only to run the engine on the scenario the case describes.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field

import numpy as np
from scipy import integrate, stats

import simlib

PROCESSES = ("telesales", "key_account", "channel")
PERIODS = {"month": 12, "quarter": 4, "half": 2, "year": 1}
COUNTS = {"telesales": ("calls", "leads", "conversions"),
          "key_account": ("deals", "new_accounts", "milestones", "large_order_value"),
          "channel": ("partners_opened",)}
SCORES = {"telesales": "record_accuracy", "key_account": "satisfaction", "channel": "partner_satisfaction"}
K_SE = 4.0
REPS = 40


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

    @property
    def lognormal(self) -> bool:
        """A channel role whose every period's attainment is one lognormal draw (the ``quad`` closed form)."""
        p = self.role["production"]
        return (self.process == "channel" and p["revenue_cv"] == 0.0 and p["partners_per_month"] == 0.0
                and self.market["monthly_sd"] == 0.0)


# --- random set-ups -----------------------------------------------------------------------------------------------


def _production(rng: np.random.Generator, process: str, lognormal: bool) -> dict:
    u = rng.uniform
    if process == "telesales":
        return {"calls_per_month": round(u(400, 1500)), "lead_rate": round(u(0.05, 0.2), 3),
                "conversion_rate": round(u(0.1, 0.45), 3), "deal_value": round(u(500, 3000)),
                "deal_value_cv": round(u(0.0, 1.2), 2), "record_accuracy": round(u(0.7, 0.97), 3),
                "record_accuracy_sd": round(u(0.0, 0.08), 3)}
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


def draw_case(index: int, rng: np.random.Generator) -> Case:
    """A random valid set-up; the process cycles with the index so every process is audited."""
    process = PROCESSES[index % 3]
    lognormal = process == "channel" and rng.random() < 0.4
    u = rng.uniform
    role = {"process": process, "headcount": REPS, "team_size": 10, "base_salary": 50_000,
            "target_incentive": round(u(10_000, 60_000)), "ability_sd": round(u(0.0, 0.45), 3),
            "territory_sd": round(u(0.0, 0.45), 3), "new_hire_share": 0.0,
            "seasonality": [round(x, 3) for x in u(0.6, 1.4, 12)], "production": _production(rng, process, lognormal)}
    market = {"growth_mean": round(u(-0.05, 0.12), 3), "growth_sd": round(u(0.0, 0.1), 3) if rng.random() < 0.5 else 0.0,
              "monthly_sd": round(u(0.0, 0.1), 3) if rng.random() < 0.5 and not lognormal else 0.0,
              "monthly_rho": round(u(0.0, 0.8), 2)}
    quota = {"method": str(rng.choice(["flat", "territory"])), "level": round(u(0.8, 1.25), 3),
             "noise": round(u(0.0, 0.3), 3)}
    comps = []
    for k in range(int(rng.integers(1, 4))):
        name = f"c{k}"
        if lognormal or rng.random() < 0.6:
            comps.append(_attainment_component(rng, name, "revenue", "quota"))
        else:
            measure = str(rng.choice(COUNTS[process]))
            mean = _count_scale(role, measure)
            if rng.random() < 0.7:
                comps.append(_per_unit(rng, name, measure, mean))
            else:
                comps.append(_attainment_component(rng, name, measure, round(12 * mean * u(0.7, 1.3), 1)))
    case = Case(index, process, role, market, quota, comps)
    if rng.random() < 0.35:
        names = [c["name"] for c in comps]
        gate = {"measure": "revenue", "min_attainment": round(u(0.5, 1.1), 2)}
        if len(names) > 1 and rng.random() < 0.5:
            gate["components"] = [names[0]]
        case.gates.append(gate)
    if rng.random() < 0.35:
        mu = role["production"][SCORES[process]]
        xs = np.sort(rng.choice(np.arange(-0.1, 0.11, 0.02), int(rng.integers(1, 4)), replace=False)) + mu
        case.modifiers.append({"measure": SCORES[process],
                               "points": [[round(float(x), 3), round(u(0.5, 1.5), 2)] for x in xs]})
    return case


def _count_scale(role: dict, measure: str) -> float:
    """A rough mean per rep-month of a count measure (only to size random rates, caps and targets)."""
    p = role["production"]
    return {"calls": p.get("calls_per_month", 0), "leads": p.get("calls_per_month", 0) * p.get("lead_rate", 0),
            "conversions": p.get("calls_per_month", 0) * p.get("lead_rate", 0) * p.get("conversion_rate", 0),
            "deals": p.get("deals_per_month", 0), "new_accounts": p.get("deals_per_month", 0) * p.get("new_account_share", 0),
            "milestones": p.get("milestones_per_month", 0),
            "large_order_value": p.get("deals_per_month", 0) * p.get("deal_size_mean", 0) * 0.5,
            "partners_opened": p.get("partners_per_month", 0)}[measure]


# --- the engine ---------------------------------------------------------------------------------------------------


def _role_plan(case: Case, comps: list[dict], gates=(), modifiers=()) -> dict:
    rp: dict = {"quota": case.quota, "components": comps}
    w = sum(c.get("weight", 1.0) for c in comps if c["kind"] == "curve")
    if w:
        rp["weights_total"] = round(w, 6)
    if gates:
        rp["gates"] = list(gates)
    if modifiers:
        rp["modifiers"] = list(modifiers)
    return {"roles": {"r": rp}}


def engine_plans(case: Case) -> dict[str, dict]:
    """The plans run on the same draws: the full plan, each component alone, and rate-1 pay on each count measure."""
    plans = {"current": _role_plan(case, case.components, case.gates, case.modifiers)}
    if len(case.components) > 1 or case.gates or case.modifiers:
        plans.update({c["name"]: _role_plan(case, [c]) for c in case.components})
    if not case.lognormal:
        for m in COUNTS[case.process]:
            plans[f"n_{m}"] = _role_plan(case, [{"name": "n", "measure": m, "kind": "per_unit", "rate": 1.0}])
    return plans


def scenario_dict(case: Case) -> dict:
    return {"name": f"closed_forms_{case.index}", "market": case.market, "roles": {"r": case.role},
            "plans": engine_plans(case), "behaviour": {"mode": "none"}}


def run_engine(case: Case, trials: int, seed: int) -> dict[str, tuple[float, float]]:
    """Metric -> (mean, SE) from the engine: per rep ``pay:<plan>`` and ``revenue``; ``share_at_quota`` and (without
    market shocks) the attainment percentiles."""
    scen = simlib.scenario_from_dict(scenario_dict(case), f"closed_forms case {case.index}")
    s = simlib.simulate(scen, trials=trials, rng=seed, behaviour="none").summary()
    s = s[s.group == "r"].set_index(["plan", "metric"])
    out = {f"pay:{plan}": (s.at[(plan, "incentive_cost"), "mean"] / REPS, s.at[(plan, "incentive_cost"), "se"] / REPS)
           for plan in engine_plans(case)}
    out["revenue"] = (s.at[("current", "revenue"), "mean"] / REPS, s.at[("current", "revenue"), "se"] / REPS)
    out["share_at_quota"] = (s.at[("current", "share_at_quota"), "mean"], s.at[("current", "share_at_quota"), "se"])
    if case.market["growth_sd"] == 0.0 and case.market["monthly_sd"] == 0.0:
        for m in ("attainment_p10", "attainment_p50", "attainment_p90"):
            out[m] = (s.at[("current", m), "mean"], s.at[("current", m), "se"])
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
    m = np.arange(12)
    built = np.array([np.sum(1.0 - np.exp(-(k - np.arange(k)) / p["partner_ramp_months"])) for k in m])
    return (p["existing_revenue_per_month"] + p["partners_per_month"] * p["partner_mature_revenue"] * built) * s


def _ln1(rng: np.random.Generator, s: float, size) -> np.ndarray:
    return np.exp(s * rng.standard_normal(size) - 0.5 * s * s)


def _market(rng: np.random.Generator, mk: dict, n: int) -> np.ndarray:
    """M (n, 12): annual shock times the AR(1) monthly shock (section 1, market), one independent year per rep."""
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


def _telesales(rng, p: dict, a, terr, dem) -> dict[str, np.ndarray]:
    c = p["calls_per_month"] * a * np.ones((1, 12))
    calls = _normal_count(rng, c, c)
    lr = np.minimum(0.95, p["lead_rate"] * terr * dem)
    leads = _normal_count(rng, calls * lr, calls * lr * (1 - lr), calls)
    cr = min(0.95, p["conversion_rate"])
    conv = _normal_count(rng, leads * cr, leads * cr * (1 - cr), leads)
    z = rng.standard_normal(conv.shape)
    rev = conv * p["deal_value"] * np.maximum(0.0, 1.0 + p["deal_value_cv"] / np.sqrt(np.maximum(conv, 1.0)) * z)
    acc = np.clip(p["record_accuracy"] + p["record_accuracy_sd"] * rng.standard_normal(conv.shape), 0.0, 1.0)
    return {"calls": calls, "leads": leads, "conversions": conv, "revenue": rev, "record_accuracy": acc}


def _key_account(rng, p: dict, a, terr, dem) -> dict[str, np.ndarray]:
    lam = p["deals_per_month"] * a * terr * dem
    n = np.minimum(rng.poisson(lam), 12)
    mu, s, theta = p["deal_size_mean"], p["deal_size_sd_log"], p["large_order_threshold"]
    sizes = mu * _ln1(rng, s, n.shape + (4,))
    won = np.arange(4) < n[..., None]
    beyond = np.maximum(n - 4, 0) * mu
    rev = np.sum(np.where(won, sizes, 0.0), axis=-1) + beyond
    large = np.sum(np.where(won & (sizes >= theta), sizes, 0.0), axis=-1) + (beyond if mu >= theta else 0.0)
    sat = np.clip(p["satisfaction"] + p["satisfaction_sd"] * rng.standard_normal(n.shape), 0.0, 1.0)
    return {"deals": n.astype(float), "revenue": rev, "large_order_value": large,
            "new_accounts": rng.binomial(n, p["new_account_share"]).astype(float),
            "milestones": rng.poisson(p["milestones_per_month"] * a * np.ones((1, 12))).astype(float),
            "satisfaction": sat}


def _channel(rng, p: dict, a, terr, dem) -> dict[str, np.ndarray]:
    opened = rng.poisson(p["partners_per_month"] * a * np.ones((1, 12))).astype(float)
    m = np.arange(12)
    lag = m[:, None] - m[None, :]  # (month m, opening month j)
    ramp = np.where(lag > 0, 1.0 - np.exp(-np.maximum(lag, 0) / p["partner_ramp_months"]), 0.0)
    new = p["partner_mature_revenue"] * dem * (opened @ ramp.T)
    base = p["existing_revenue_per_month"] * terr * a * dem
    existing = np.maximum(0.0, base * (1.0 + p["revenue_cv"] * rng.standard_normal(base.shape)))
    sat = np.clip(p["partner_satisfaction"] + p["partner_satisfaction_sd"] * rng.standard_normal(base.shape), 0.0, 1.0)
    return {"partners_opened": opened, "revenue": existing + new, "partner_satisfaction": sat}


def independent_year(case: Case, n: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """n independent rep-years of the docs' equations: measures (n, 12) and the annual revenue quota (n,)."""
    r = case.role
    a, terr = _ln1(rng, r["ability_sd"], (n, 1)), _ln1(rng, r["territory_sd"], (n, 1))
    dem = season(r) * _market(rng, case.market, n)
    year = {"telesales": _telesales, "key_account": _key_account, "channel": _channel}[case.process](
        rng, r["production"], a, terr, dem)
    q = case.quota["level"] * expected_monthly(case).sum() * np.ones(n)
    if case.quota["method"] == "territory":
        q = q * terr[:, 0] * _ln1(rng, case.quota["noise"], n)
    return year, q


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


def component_pay(case: Case, c: dict, year: dict, quota: np.ndarray) -> np.ndarray:
    """One component's pay per rep-year (section 3: period attainment, scale, year-to-date true-up)."""
    P = PERIODS[c.get("period", "year")]
    v = _period_sums(year[c["measure"]], P)
    if c["kind"] == "per_unit":
        if not c.get("ytd_true_up"):
            return schedule(c, v).sum(axis=1)
        return schedule(c, v.sum(axis=1))  # min(rate x units so far, cap) - paid so far adds up to the year's
    if c.get("target", "quota") == "quota":
        Em = expected_monthly(case)
        share = _period_sums(Em[None, :], P)[0] / Em.sum()
        target = quota[:, None] * share[None, :]
    else:
        target = np.full((1, P), case.quota["level"] * c["target"] / P)
    scale = {"curve": c.get("weight", 1.0) * case.role["target_incentive"] / P, "commission": target,
             "lump_sum": 1.0}[c["kind"]] * np.ones_like(v)
    if not c.get("ytd_true_up"):
        return (schedule(c, v / target) * scale).sum(axis=1)
    owed = schedule(c, np.cumsum(v, axis=1) / np.cumsum(target * np.ones_like(v), axis=1)) * np.cumsum(scale, axis=1)
    paid = np.zeros(v.shape[0])
    for p in range(P):
        paid += np.maximum(0.0, owed[:, p] - paid)
    return paid


def plan_pay(case: Case, comps: list[dict], gates, modifiers, year: dict, quota: np.ndarray) -> np.ndarray:
    """A role plan's incentive per rep-year: components, then gates on annual attainment, then modifiers."""
    total = np.zeros(quota.shape)
    for c in comps:
        pay = component_pay(case, c, year, quota)
        for g in gates:
            if g.get("components") is None or c["name"] in g["components"]:
                pay = np.where(year[g["measure"]].sum(axis=1) / quota >= g["min_attainment"], pay, 0.0)
        total += pay
    for mod in modifiers:
        pts = np.asarray(mod["points"], float)
        total = total * np.interp(year[mod["measure"]].mean(axis=1), pts[:, 0], pts[:, 1])
    return total


# --- exact means and the lognormal quadrature -----------------------------------------------------------------------

_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(96)
_GH_W = _GH_W / _GH_W.sum()


def _ln1_expect(f, s: float) -> float:
    """E[f(L)], L = LN1(s), by Gauss-Hermite quadrature (f smooth)."""
    return float(np.sum(_GH_W * f(np.exp(s * _GH_X - 0.5 * s * s))))


def _poisson_sf_terms(lam: np.ndarray, upto: int) -> np.ndarray:
    """P(N > k) for k = 0..upto-1, N ~ Poisson(lam): shape (len(lam), upto)."""
    return stats.poisson.sf(np.arange(upto)[None, :], lam[:, None])


def exact_means(case: Case) -> dict[str, float]:
    """Expected value per rep-year of revenue and count measures where a closed form (or 1-D quadrature) exists."""
    p, mk, r = case.role["production"], case.market, case.role
    sm = season(r) * (1.0 + mk["growth_mean"])
    s_dem = math.sqrt(mk["growth_sd"] ** 2 + mk["monthly_sd"] ** 2)  # log-sd of one month's market multiplier
    out: dict[str, float] = {}
    if case.process == "key_account":
        s_lam = math.sqrt(r["ability_sd"] ** 2 + r["territory_sd"] ** 2 + s_dem ** 2)
        mu, s, theta = p["deal_size_mean"], p["deal_size_sd_log"], p["large_order_threshold"]
        zstar = (math.log(theta / mu) + 0.5 * s * s) / s
        deals = large = 0.0
        for lam0 in p["deals_per_month"] * sm:
            sf = lambda L, lam0=lam0: _poisson_sf_terms(lam0 * L, 12)  # noqa: E731
            deals += _ln1_expect(lambda L, sf=sf: sf(L).sum(axis=1), s_lam)  # E[min(N, 12)]
            drawn = _ln1_expect(lambda L, sf=sf: sf(L)[:, :4].sum(axis=1), s_lam)
            large += mu * stats.norm.cdf(s - zstar) * drawn
            if mu >= theta:
                large += mu * _ln1_expect(lambda L, sf=sf: sf(L)[:, 4:].sum(axis=1), s_lam)
        out.update(revenue=mu * deals, deals=deals, new_accounts=p["new_account_share"] * deals,
                   milestones=12 * p["milestones_per_month"], large_order_value=large)
    elif case.process == "channel":
        cv = p["revenue_cv"]
        clip = 1.0 if cv == 0 else stats.norm.cdf(1.0 / cv) + cv * stats.norm.pdf(1.0 / cv)  # E[max(0, 1 + cv z)]
        out.update(revenue=float(expected_monthly(case).sum() - (1.0 - clip) * p["existing_revenue_per_month"] * sm.sum()),
                   partners_opened=12 * p["partners_per_month"])
    else:
        s_lr = math.sqrt(r["territory_sd"] ** 2 + s_dem ** 2)
        rate = sum(_ln1_expect(lambda L, x=x: np.minimum(0.95, x * L), s_lr) for x in p["lead_rate"] * sm)
        out.update(calls=12 * p["calls_per_month"], leads=p["calls_per_month"] * rate)
    return out


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


def quad_pay(case: Case, c: dict, gate: float | None) -> float:
    """E[pay] of one revenue component when attainment X is lognormal: the schedule integrated over X's density.

    A curve pays ``weight TI f(X)`` a year (``weight TI / n f(X)`` in each of n periods, with or without true-up,
    since every period's attainment is X), a lump sum ``n f(X)``, a commission ``quota_i f(X)``. With a territory
    quota, ``quota_i = level E p LN1(noise)`` and X holds ``1 / LN1(noise)``: weighting by ``LN1(noise)`` shifts the
    noise's normal by its sd, so ``E[quota_i f(X)] = level E E[f(X')]`` with log X' of mean lower by ``noise^2``.
    """
    mu, sig = lognormal_attainment(case)
    P = PERIODS[c.get("period", "year")]
    q = case.quota["level"] * expected_monthly(case).sum()
    scale = {"curve": c.get("weight", 1.0) * case.role["target_incentive"], "lump_sum": float(P), "commission": q}[c["kind"]]
    if c["kind"] == "commission" and case.quota["method"] == "territory":
        mu -= case.quota["noise"] ** 2
    if sig == 0.0:
        return scale * _gated_f(c, math.exp(mu), gate)

    def g(z: float) -> float:
        return _gated_f(c, math.exp(mu + sig * z), gate) * stats.norm.pdf(z)

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
    floor: float = 0.0  # the SE the engine's sample should have (rep-year sd / sqrt(reps x trials)), for rare events

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


def _mc(x: np.ndarray) -> tuple[float, float, str, float]:
    """(mean, its SE, "mc", the rep-year sd)."""
    sd = float(x.std(ddof=1))
    return float(x.mean()), sd / math.sqrt(len(x)), "mc", sd


def _attainment_stats(case: Case, year: dict, quota: np.ndarray) -> dict[str, tuple[float, float, str, float]]:
    """Share of reps at or above quota, and (without market shocks, so that reps of a trial are independent) the
    mean over trials of the 10th, 50th and 90th percentiles of a trial's ``REPS`` annual attainments."""
    att = year["revenue"].sum(axis=1) / quota
    out = {"share_at_quota": _mc((att >= 1.0).astype(float))}
    if case.market["growth_sd"] == 0.0 and case.market["monthly_sd"] == 0.0:
        groups = att[: len(att) // REPS * REPS].reshape(-1, REPS)
        for q, v in zip((10, 50, 90), np.quantile(groups, [0.1, 0.5, 0.9], axis=1), strict=True):
            m, se, how, sd = _mc(v)
            out[f"attainment_p{q}"] = (m, se, how, sd * math.sqrt(REPS))  # sd per trial of REPS reps, as per rep-year
    return out


def expectations(case: Case, n_mc: int, seed: int) -> dict[str, tuple[float, float, str, float]]:
    """Metric -> (expected value per rep-year, its SE, method, rep-year sd), for every metric :func:`run_engine` reports.

    Every metric has an independent Monte Carlo estimate (its sd also sizes the engine's SE floor); a closed form or
    quadrature replaces the estimate where one exists.
    """
    year, quota = independent_year(case, n_mc, np.random.default_rng([seed, case.index, 7]))
    out = {"revenue": _mc(year["revenue"].sum(axis=1)),
           "pay:current": _mc(plan_pay(case, case.components, case.gates, case.modifiers, year, quota)),
           **_attainment_stats(case, year, quota)}
    plans = engine_plans(case)
    for c in case.components:
        if c["name"] in plans:
            out[f"pay:{c['name']}"] = _mc(component_pay(case, c, year, quota))
    for m in COUNTS[case.process]:
        if f"n_{m}" in plans:
            out[f"pay:n_{m}"] = _mc(year[m].sum(axis=1))

    def put(key: str, value: float, se: float, method: str) -> None:
        out[key] = (value, se, method, out[key][3])

    exact = exact_means(case)
    if "revenue" in exact:
        put("revenue", exact["revenue"], 0.0, "exact")
    for m, v in exact.items():
        if f"n_{m}" in plans:
            put(f"pay:n_{m}", v, 0.0, "exact")
    for c in case.components:
        if c["kind"] == "per_unit" and c.get("cap") is None and c["measure"] in exact and f"pay:{c['name']}" in out:
            put(f"pay:{c['name']}", c["rate"] * exact[c["measure"]], 0.0, "exact")
    if case.lognormal:
        for key, (v, se, method) in _lognormal_expectations(case, year).items():
            put(key, v, se, method)
    return out


def _lognormal_expectations(case: Case, year: dict) -> dict[str, tuple[float, float, str]]:
    mu, sig = lognormal_attainment(case)
    out = {"share_at_quota": (float(stats.norm.sf(-mu / sig)) if sig > 0 else float(mu >= 0), 0.0, "exact")}
    gated = 0.0
    plans = engine_plans(case)
    for c in case.components:
        gate = max((g["min_attainment"] for g in case.gates
                    if g.get("components") is None or c["name"] in g["components"]), default=None)
        if c["name"] in plans:
            out[f"pay:{c['name']}"] = (quad_pay(case, c, None), 0.0, "quad")
        gated += quad_pay(case, c, gate)
    if not case.modifiers:
        out["pay:current"] = (gated, 0.0, "quad")
    else:  # the scores are independent of attainment: E[pay x mod] = E[pay] E[mod], the modifier's mean by Monte Carlo
        mult = np.ones(len(next(iter(year.values()))))
        for mod in case.modifiers:
            pts = np.asarray(mod["points"], float)
            mult = mult * np.interp(year[mod["measure"]].mean(axis=1), pts[:, 0], pts[:, 1])
        m, se, _, _ = _mc(mult)
        out["pay:current"] = (gated * m, gated * se, "quad x mc")
    return out


def audit_case(case: Case, trials: int, seed: int, n_mc: int) -> list[Row]:
    eng = run_engine(case, trials, seed + case.index)
    exp = expectations(case, n_mc, seed)
    return [Row(case.index, k, *eng[k], *exp[k][:3], floor=exp[k][3] / math.sqrt(REPS * trials)) for k in eng]


def describe(case: Case) -> str:
    p = ", ".join(f"{k}={v}" for k, v in case.role["production"].items())
    r = case.role
    lines = [f"case {case.index}: {case.process}{' (lognormal attainment)' if case.lognormal else ''}; "
             f"ability_sd={r['ability_sd']} territory_sd={r['territory_sd']} TI={r['target_incentive']}; "
             f"market {case.market}; quota {case.quota}", f"  production: {p}"]
    lines += [f"  component {c}" for c in case.components]
    lines += [f"  gate {g}" for g in case.gates] + [f"  modifier {m}" for m in case.modifiers]
    return "\n".join(lines)


def audit(cases: int, trials: int, seed: int, n_mc: int, start: int = 0, out=None) -> list[Row]:
    """Draw and audit ``cases`` set-ups (case i from the seed and i, so a case is reproducible alone)."""
    rows: list[Row] = []
    for i in range(start, start + cases):
        case = draw_case(i, np.random.default_rng([seed, i]))
        got = audit_case(case, trials, seed, n_mc)
        rows += got
        if out is not None:
            print(describe(case), file=out)
            for r in got:
                print(f"  {r.metric:<22} engine {r.engine:>14,.2f} ± {r.engine_se:>10,.2f}   expected "
                      f"{r.expected:>14,.2f} ± {r.expected_se:>9,.2f} {r.method:<9} z {r.z:+6.2f}"
                      f"{'  FLAG' if r.flagged else ''}", file=out)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.closed_forms", description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--trials", type=int, default=60, help="engine trials per case (%(default)s)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=int, default=0, help="first case index (to rerun one case: --start i --cases 1)")
    ap.add_argument("--mc", type=int, default=100_000, help="independent Monte Carlo rep-years per case (%(default)s)")
    a = ap.parse_args(argv)
    if not (1 <= a.cases <= 10_000 and 2 <= a.trials <= 100_000 and 1_000 <= a.mc <= 2_000_000 and a.start >= 0):
        ap.error("expected 1 <= --cases <= 10000, 2 <= --trials <= 100000, 1000 <= --mc <= 2000000, --start >= 0")
    rows = audit(a.cases, a.trials, a.seed, a.mc, a.start, out=sys.stdout)
    flagged = [r for r in rows if r.flagged]
    by = {m: sum(r.method == m for r in rows) for m in ("exact", "quad", "quad x mc", "mc")}
    print(f"\n{a.cases} cases, {len(rows)} metrics ({', '.join(f'{v} {k}' for k, v in by.items())}); "
          f"max |z| {max(abs(r.z) for r in rows):.2f}; flagged |z| > {K_SE:g}: {len(flagged)}")
    for r in flagged:
        print(f"  FLAG case {r.case} {r.metric}: engine {r.engine:,.2f} ± {r.engine_se:,.2f}, expected "
              f"{r.expected:,.2f} ± {r.expected_se:,.2f} ({r.method}), z {r.z:+.2f}")
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())
