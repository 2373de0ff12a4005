"""Model validation: does the ``dynamic`` behaviour model reproduce the research findings?

``simlib validate-model`` runs each research finding on behaviour (:data:`FINDINGS`, each with its
source; results in docs/model.md section 4.9) on a small scenario in ``scenarios/validation/``, and
again with that scenario's role swapped for each other role type
(:func:`swap_role`: first, second and third, :data:`PROCESSES`), and prints a table: finding, role, expected direction
and size, measured effect with a 95% confidence interval, and whether it
holds. Effects are paired across
plans on common random numbers; the CI is over trials (mean ± 1.96 SE of the
per-trial effect, :func:`simlib.format.interval`). The exit code is non-zero if any finding fails.

This is the verification suite of the behaviour model, separate from the fast
unit tests (which check the same signs at smaller trial counts).
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from simlib.behaviour.dynamic import DynamicBehaviour
from simlib.behaviour.policy import effort_index, production_weights
from simlib.errors import SimlibError
from simlib.format import interval
from simlib.io import SHIPPED
from simlib.model.pipeline import passes, worlds
from simlib.model.plans import expected_quota, revenue_profile, set_quotas
from simlib.model.population import Layout, draw_chunk, root_seed
from simlib.scenario import Scenario, load_scenario, scenario_from_dict

#: where the validation scenarios live (shipped with the package)
SCENARIO_DIR = SHIPPED / "scenarios" / "validation"


@dataclass
class RoleRun:
    """Per-rep results of one role under one plan with the dynamic model (arrays (T, R[, 12]))."""

    revenue: np.ndarray  # (T, R) annual
    measures: dict[str, np.ndarray]  # (T, R, 12)
    effort: np.ndarray  # (T, R, 12)
    help: np.ndarray  # (T, R)
    discount: np.ndarray  # (T, R)
    a: np.ndarray  # (T, R) expected attainment at today's effort under the current plan
    attainment: np.ndarray  # (T, R)
    incentive: np.ndarray  # (T, R)
    quota: np.ndarray  # (T, R) annual quota


def role_run(scenario: Scenario, plan: str, *, trials: int, rng: int, model: DynamicBehaviour | None = None,
             role: str | None = None) -> RoleRun:
    """Simulate one role under one plan with the dynamic model, keeping per-rep detail."""
    model = model or DynamicBehaviour(scenario)
    role = role or next(iter(scenario.roles))
    draws = draw_chunk(Layout.of(scenario), root_seed(rng), np.arange(trials))
    o = next(passes(scenario, [plan], worlds(scenario, draws, [role]), model))
    rec = None if o.policy is None else o.policy.recorded
    a = model.expected_revenue(o.world) / np.maximum(set_quotas(scenario, scenario.current_plan, o.world), 1e-12)
    T, R = o.world.shape
    return RoleRun(
        revenue=o.measures["revenue"].sum(axis=-1),
        measures=o.measures,
        effort=rec.effort if rec is not None else np.ones((T, R, 12)),
        help=rec.help if rec is not None else np.ones((T, R)),
        discount=rec.discount if rec is not None else np.zeros((T, R)),
        a=a,
        attainment=o.pay.attainment,
        incentive=o.pay.incentive,
        quota=o.quota,
    )


def _ci(x: np.ndarray) -> tuple[float, float, float, float]:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    m = float(x.mean())
    se = float(x.std(ddof=1) / np.sqrt(len(x)))
    return m, se, *interval(m, se)


def _pct_change(new: np.ndarray, old: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Per-trial % change of a (masked) sum over reps."""
    if mask is None:
        mask = np.ones(new.shape, dtype=bool)
    n = np.where(mask, new, 0.0).sum(axis=1)
    o = np.where(mask, old, 0.0).sum(axis=1)
    return 100.0 * (n / np.maximum(o, 1e-12) - 1.0)


def _tercile_masks(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.quantile(a, [1 / 3, 2 / 3], axis=1, keepdims=True)
    return a <= lo, a >= hi


@dataclass
class Finding:
    key: str
    finding: str
    source: str
    expected: str
    scenario: str
    also: str  # the second role type the finding is checked on (process name)
    measure: Callable[[Scenario, int, int], list[tuple[str, np.ndarray, Callable[[float, float, float], bool]]]]

    def role_types(self, first: str) -> tuple[str, str, str]:
        """The role types (processes) the finding is checked on, in order: its scenario's own (``first``),
        :attr:`also` (second), and the remaining one of :data:`PROCESSES` (third)."""
        third = next(p for p in PROCESSES if p not in (first, self.also))
        return first, self.also, third


def _load(name: str) -> Scenario:
    path = SCENARIO_DIR / f"{name}.yaml"
    if not path.exists():
        raise SimlibError(f"validation scenario {path} not found (run from a source checkout of simlib)")
    return load_scenario(path)


#: the role types every finding is checked on (first is the validation scenario's own, then ``Finding.also``)
PROCESSES = ("key_account", "telesales", "channel")

#: which of a finding's role types ``validate_model(roles=...)`` runs: all three, the first two, or one
ROLE_CHOICES = {"all": (0, 1, 2), "both": (0, 1), "first": (0,), "second": (1,), "third": (2,)}

#: activity and quality measure of each process (what a per-unit activity bonus pays on, what it erodes)
ACTIVITY_QUALITY = {"telesales": ("calls", "record_accuracy"), "key_account": ("deals", "satisfaction"),
                    "channel": ("partners_opened", "partner_satisfaction")}

#: a second role type for each process, taken from the default scenario's role of that process
DEFAULT_SCENARIO = SCENARIO_DIR.parent / "default.yaml"


def swap_role(scen: Scenario, process: str) -> Scenario:
    """The validation scenario with its role's process replaced by the default scenario's role of ``process``.

    Production, effort elasticity, pay level and mix come from
    ``scenarios/default.yaml``; headcount, team size, flat seasonality, the
    spread of ability and territory, and every plan stay. Per-unit pay on the
    old activity measure moves to the new process's activity measure with the
    rate scaled so that it pays the same share of target incentive at today's
    activity level, and per-unit pay on revenue (a commission of one rate per
    euro) with its rate scaled so that it pays the same share of target
    incentive at the plan's expected quota. Lump sums and a plan's own ``target_incentive`` scale with
    the role's target incentive, and so does the difference between a plan's
    own ``base_salary`` and the role's (pay moved between salary and incentive).
    """
    base = load_scenario(DEFAULT_SCENARIO)
    src_role = next(r for r in base.roles.values() if r.process == process)
    src, new_prod = src_role.model_dump(by_alias=True), src_role.process_params()
    data = scen.model_dump(by_alias=True)
    (name, role), = data["roles"].items()
    old_proc, old_prod, old_ti = role["process"], scen.roles[name].process_params(), role["target_incentive"]
    src_base = role["base_salary"]
    for k in ("process", "production", "effort_elasticity", "base_salary", "target_incentive", "gross_margin", "ramp_months"):
        role[k] = copy.deepcopy(src[k])
    old_act, new_act = ACTIVITY_QUALITY[old_proc][0], ACTIVITY_QUALITY[process][0]
    per_month = {"calls": lambda p: p.calls_per_month, "deals": lambda p: p.deals_per_month,
                 "partners_opened": lambda p: p.partners_per_month}
    scale = role["target_incentive"] / old_ti  # money of lump sums and plan-level pay follows the target incentive
    scale_plan_pay(data, name, scale, src_base)
    for plan in data["plans"].values():
        for c in plan["roles"][name]["components"]:
            if c["kind"] == "per_unit" and c["measure"] == old_act and old_act != new_act:
                share = c["rate"] * per_month[old_act](old_prod) * 12 / old_ti
                c["measure"] = new_act
                c["rate"] = share * role["target_incentive"] / (12 * per_month[new_act](new_prod))
    out = scenario_from_dict(data, f"{scen.source} (role: {process})")
    return _revenue_rates_follow(scen, out, name, old_ti)


def _revenue_rates_follow(old: Scenario, new: Scenario, name: str, old_ti: float) -> Scenario:
    """``new`` (a role swap of ``old``) with every per-unit rate on revenue scaled so that it pays the same share
    of target incentive at its plan's expected quota (:func:`simlib.model.plans.expected_quota`) as in ``old``."""
    if not any(c.kind == "per_unit" and c.measure == "revenue"
               for plan in new.plans for c in new.role_plan(plan, name).components):
        return new
    data = new.model_dump(by_alias=True)
    new_ti = data["roles"][name]["target_incentive"]
    for plan, body in data["plans"].items():
        factor = (new_ti / old_ti) * expected_quota(old, plan, name) / expected_quota(new, plan, name)
        for c in body["roles"][name]["components"]:
            if c["kind"] == "per_unit" and c["measure"] == "revenue":
                c["rate"] = c["rate"] * factor
    return scenario_from_dict(data, new.source)


def scale_plan_pay(data: dict, name: str, scale: float, old_base: float) -> None:
    """Make every plan's own money of role ``name`` follow a change of the role's pay levels, in place.

    ``data`` is a scenario dump whose role already has its new ``base_salary``
    and a ``target_incentive`` ``scale`` times the old one; ``old_base`` is the
    role's old base salary. Lump sums and a plan's own ``target_incentive``
    scale with the target incentive, and a plan's own ``base_salary`` keeps its
    difference from the role's, in target incentives (pay moved between salary
    and incentive). Per-unit rates are left to the caller (:func:`swap_role`
    moves them to another measure).
    """
    base = data["roles"][name]["base_salary"]
    for plan in data["plans"].values():
        rp = plan["roles"][name]
        if rp.get("target_incentive") is not None:
            rp["target_incentive"] *= scale
        if rp.get("base_salary") is not None:  # salary moved to or from incentive, in target incentives
            rp["base_salary"] = base + (rp["base_salary"] - old_base) * scale
        for c in rp["components"]:
            if c["kind"] == "lump_sum":
                c["steps"] = [dict(st, amount=st["amount"] * scale) for st in c["steps"]]


def _positive(m, lo, hi) -> bool:
    return lo > 0


def _negative(m, lo, hi) -> bool:
    return hi < 0


#: Larkin (2014): timing games under an accelerating plan cost 6-8% of revenue (mispriced deals)
LARKIN_TIMING_COST = (6.0, 8.0)


def _near_larkin(m, lo, hi) -> bool:
    """The timing-game cost (% of revenue) is within a factor of two of Larkin's range: 3% to 16%."""
    return LARKIN_TIMING_COST[0] / 2 <= m <= 2 * LARKIN_TIMING_COST[1]


def _f_cap_quarterly(s, trials, rng):
    m = DynamicBehaviour(s)
    c, q = role_run(s, "current", trials=trials, rng=rng, model=m), role_run(s, "quarterly_uncapped", trials=trials, rng=rng, model=m)
    return [("revenue change, %", _pct_change(q.revenue, c.revenue), lambda mm, lo, hi: lo > 0 and 1.0 <= mm <= 30.0)]


def _f_quarterly_low(s, trials, rng):
    m = DynamicBehaviour(s)
    c, q = role_run(s, "current", trials=trials, rng=rng, model=m), role_run(s, "quarterly", trials=trials, rng=rng, model=m)
    low, high = _tercile_masks(c.a)
    d_low, d_high = _pct_change(q.revenue, c.revenue, low), _pct_change(q.revenue, c.revenue, high)
    return [("low tercile revenue change minus high tercile's, % points", d_low - d_high, _positive)]


def _f_overachievement(s, trials, rng):
    m = DynamicBehaviour(s)
    c, o = role_run(s, "current", trials=trials, rng=rng, model=m), role_run(s, "overachievement", trials=trials, rng=rng, model=m)
    low, high = _tercile_masks(c.a)
    d_high, d_low = _pct_change(o.revenue, c.revenue, high), _pct_change(o.revenue, c.revenue, low)
    return [
        ("top tercile revenue change, %", d_high, _positive),
        ("top tercile change minus bottom tercile's, % points", d_high - d_low, _positive),
    ]


def _last_share(r: RoleRun) -> np.ndarray:
    rev = r.measures["revenue"]
    return rev[..., [2, 5, 8, 11]].sum(axis=(1, 2)) / np.maximum(rev.sum(axis=(1, 2)), 1e-12)


def _f_accelerator(s, trials, rng):
    m = DynamicBehaviour(s)
    c, a = role_run(s, "current", trials=trials, rng=rng, model=m), role_run(s, "accelerating", trials=trials, rng=rng, model=m)
    disc = 100.0 * a.discount.sum(axis=1) / np.maximum(a.revenue.sum(axis=1), 1e-12) - 100.0 * c.discount.sum(axis=1) / np.maximum(c.revenue.sum(axis=1), 1e-12)
    return [
        ("share of revenue in quarter-end months, change in % points", 100.0 * (_last_share(a) - _last_share(c)), _positive),
        ("discount cost, change in % of revenue", disc, _positive),
        ("discount cost beside Larkin's 6-8% of revenue: within a factor of 2 (3% to 16%)", disc, _near_larkin),
    ]


def _best_interior(s, names, trials, rng, m) -> int:
    """Index of the interior plan with the highest mean revenue, chosen on independent trials (seed rng + 1),
    so that the CI of its gain over the end points, measured on seed rng, is not biased by the choice."""
    sel = [role_run(s, n, trials=trials, rng=rng + 1, model=m).revenue.sum(axis=1).mean() for n in names[1:-1]]
    return 1 + int(np.argmax(sel))


def _f_team(s, trials, rng):
    m = DynamicBehaviour(s)
    names = ["current", "team_25", "team_50", "team_75", "team_100"]
    runs = {n: role_run(s, n, trials=trials, rng=rng, model=m) for n in names}
    rev = np.stack([runs[n].revenue.sum(axis=1) for n in names], axis=1)  # (T, 5)
    best = _best_interior(s, names, trials, rng, m)
    interior = 100.0 * (rev[:, best] / np.maximum(rev[:, 0], rev[:, -1]) - 1.0)
    w = production_weights(revenue_profile(s, next(iter(s.roles))))  # the effort index of the metrics (section 4.8)
    eff = effort_index(runs["team_100"].effort, w).mean(axis=1) - effort_index(runs["current"].effort, w).mean(axis=1)
    hlp = runs["team_100"].help.mean(axis=1) - runs["current"].help.mean(axis=1)
    return [
        ("effort index, all-team minus individual pay (free riding)", eff, _negative),
        ("help index, all-team minus individual pay", hlp, lambda mm, lo, hi: mm > 0),
        (f"revenue at best interior weight ({names[best]}) over the better end point, %", interior, _positive),
    ]


def _f_goal(s, trials, rng):
    m = DynamicBehaviour(s)
    names = ["level_70", "level_85", "current", "level_115", "level_130", "level_150", "level_175", "level_200"]
    rev = np.stack([role_run(s, n, trials=trials, rng=rng, model=m).revenue.sum(axis=1) for n in names], axis=1)
    best = _best_interior(s, names, trials, rng, m)
    return [
        (f"revenue at best interior level ({names[best]}) over the easiest, %", 100.0 * (rev[:, best] / rev[:, 0] - 1.0), _positive),
        (f"revenue at best interior level ({names[best]}) over the hardest, %", 100.0 * (rev[:, best] / rev[:, -1] - 1.0), _positive),
    ]


def _f_calls(s, trials, rng):
    m = DynamicBehaviour(s)
    act, qual = ACTIVITY_QUALITY[next(iter(s.roles.values())).process]
    c, p = role_run(s, "current", trials=trials, rng=rng, model=m), role_run(s, "per_call", trials=trials, rng=rng, model=m)
    calls = _pct_change(p.measures[act].sum(axis=-1), c.measures[act].sum(axis=-1))
    acc = 100.0 * (p.measures[qual].mean(axis=(1, 2)) - c.measures[qual].mean(axis=(1, 2)))
    return [(f"{act.replace('_', ' ')} change, %", calls, _positive), (f"{qual.replace('_', ' ')} change, % points", acc, _negative)]


def _f_ratchet(s, trials, rng):
    data = s.model_dump(by_alias=True)
    data["behaviour"]["ratchet"]["enabled"] = False
    s_off = scenario_from_dict(copy.deepcopy(data), s.source + " (ratchet not expected)")
    on = role_run(s, "last_year_quota", trials=trials, rng=rng, model=DynamicBehaviour(s))
    off = role_run(s_off, "last_year_quota", trials=trials, rng=rng, model=DynamicBehaviour(s_off))
    last = slice(6, 12)
    far = on.measures["revenue"][..., :6].sum(axis=-1) / np.maximum(on.quota, 1e-12) >= 0.6
    e_on = np.where(far, on.effort[..., last].mean(axis=-1), np.nan)
    e_off = np.where(far, off.effort[..., last].mean(axis=-1), np.nan)
    diff = e_on - e_off
    keep = np.isfinite(diff).any(axis=1)  # trials with at least one rep that far ahead
    d = np.array([np.nanmean(row) for row in diff[keep]])
    return [("second-half effort of reps past 120% pace at mid-year, ratchet expected minus not", d, _negative)]


def noisier(s: Scenario, factor: float) -> Scenario:
    """The scenario with the coefficient of variation of each rep's monthly revenue multiplied by ``factor``.

    Telesales: the deal value CV, so that ``(1 + cv^2) / conversions`` scales by
    ``factor^2``; key accounts: the log sd of deal sizes, ``exp(s^2)`` scaled by
    ``factor^2``; channel: the existing revenue's CV. Expected revenue is unchanged.
    """
    data = s.model_dump(by_alias=True)
    (_, role), = data["roles"].items()
    p = role["production"]
    if role["process"] == "telesales":
        p["deal_value_cv"] = float(np.sqrt(factor**2 * (1.0 + p["deal_value_cv"] ** 2) - 1.0))
    elif role["process"] == "key_account":
        p["deal_size_sd_log"] = float(np.sqrt(p["deal_size_sd_log"] ** 2 + 2.0 * np.log(factor)))
    else:
        p["revenue_cv"] = p["revenue_cv"] * factor
    return scenario_from_dict(data, f"{s.source} (sales noise x{factor:g})")


def _risk_premium(pay: np.ndarray, rho: float) -> np.ndarray:
    """Per-trial CARA risk premium (T,) of pay (T, R) across reps of one type: mean minus certainty equivalent."""
    dev = pay - pay.mean(axis=1, keepdims=True)
    if rho <= 0:
        return np.zeros(pay.shape[0])
    return np.log(np.mean(np.exp(-rho * dev), axis=1)) / rho


#: how much noisier sales are in the high-noise run of the salary-under-risk finding
NOISE_FACTOR = 2.0


def _f_salary_risk(s, trials, rng):
    """Basu et al. 1985: as sales get noisier, the firm gains from moving pay from incentive to salary.

    Run at today's noise and at :data:`NOISE_FACTOR` times it. Reps are of one
    type, so the spread of a trial's annual incentive across reps is the
    production noise each rep faces. Its CARA risk premium uses the scenario's
    ``risk_aversion`` per the role's target incentive (a fixed money scale for
    both plans). The firm's net gain from the salary-heavy plan, per rep, is
    gross margin on the revenue change, minus the change in pay, plus the risk
    premium it no longer has to pay to keep the reps' certainty equivalent
    (the participation constraint of agency models).
    """
    name, role = next(iter(s.roles.items()))
    rho = s.behaviour.effort.risk_aversion / role.target_incentive
    ote = role.base_salary + role.target_incentive
    out = {}
    for f in (1.0, NOISE_FACTOR):
        sf = s if f == 1.0 else noisier(s, f)
        m = DynamicBehaviour(sf)
        runs = {p: role_run(sf, p, trials=trials, rng=rng, model=m) for p in ("incentive_heavy", "salary_heavy")}
        rp = {p: _risk_premium(r.incentive, rho) for p, r in runs.items()}
        pay = {p: r.incentive.mean(axis=1) + sf.base_salary(p, name) for p, r in runs.items()}
        inc, sal = runs["incentive_heavy"], runs["salary_heavy"]
        saved = rp["incentive_heavy"] - rp["salary_heavy"]
        net = role.gross_margin * (sal.revenue.mean(axis=1) - inc.revenue.mean(axis=1)) - (pay["salary_heavy"] - pay["incentive_heavy"]) + saved
        out[f] = 100.0 * saved / ote, 100.0 * net / ote
    hi, lo = out[NOISE_FACTOR], out[1.0]
    return [
        (f"risk premium saved by the salary-heavy plan, noise x{NOISE_FACTOR:g} minus today's, % of OTE", hi[0] - lo[0], _positive),
        (f"firm's net gain from the salary-heavy plan (margin - pay + risk premium), noise x{NOISE_FACTOR:g} minus today's, "
         "% of OTE", hi[1] - lo[1], _positive),
    ]


#: Kishore et al. 2013, as their co-author summarises the field study (George John, Carlson School of Management news,
#: "Commissions trump bonuses in driving sales", 2013): sales rose 24% after the switch to commissions (37% in the
#: bottom quartile of performers)
KISHORE_REVENUE_GAIN = 24.0


def _near_kishore(m, lo, hi) -> bool:
    """The revenue gain (%) is within a factor of two of Kishore et al.'s +24%: 12% to 48%."""
    return KISHORE_REVENUE_GAIN / 2 <= m <= 2 * KISHORE_REVENUE_GAIN


def _f_bonus_to_commission(s, trials, rng):
    """Kishore et al. 2013: a quota bonus replaced by a commission paying the same at quota."""
    m = DynamicBehaviour(s)
    b, c = role_run(s, "bonus", trials=trials, rng=rng, model=m), role_run(s, "commission", trials=trials, rng=rng, model=m)
    low, high = _tercile_masks(b.a)
    disc = 100.0 * (c.discount.sum(axis=1) - b.discount.sum(axis=1)) / np.maximum(b.revenue.sum(axis=1), 1e-12)
    return [
        ("revenue change, %", _pct_change(c.revenue, b.revenue), _positive),
        ("low tercile revenue change minus high tercile's, % points",
         _pct_change(c.revenue, b.revenue, low) - _pct_change(c.revenue, b.revenue, high), _positive),
        ("discount cost of pull-ins, change in % of revenue", disc, _negative),
        ("revenue change beside Kishore et al.'s +24%: within a factor of 2 (12% to 48%)", _pct_change(c.revenue, b.revenue),
         _near_kishore),
    ]


def _f_lump_sums(s, trials, rng):
    """Steenburgh 2008: how much of the revenue a quarterly lump sum adds is incremental rather than pulled in.

    The revenue pulled in across quarter ends beyond today's is the plan's
    discount change over the price discount; the incremental share is the
    annual revenue change over itself plus that pulled revenue.
    """
    m = DynamicBehaviour(s)
    c, q = role_run(s, "current", trials=trials, rng=rng, model=m), role_run(s, "lump_sums", trials=trials, rng=rng, model=m)
    gain = q.revenue.sum(axis=1) - c.revenue.sum(axis=1)
    pulled = np.maximum((q.discount.sum(axis=1) - c.discount.sum(axis=1)) / s.behaviour.timing.price_discount, 0.0)
    share = 100.0 * gain / np.maximum(gain + pulled, 1e-12)
    return [
        ("revenue change, %", _pct_change(q.revenue, c.revenue), _positive),
        ("incremental share of the added revenue (not pulled in from the next quarter), %", share,
         lambda mm, lo, hi: lo > 50.0),
    ]


FINDINGS: list[Finding] = [
    Finding("cap_quarterly", "Removing a cap and moving to quarterly quotas raises revenue", "Misra & Nair 2011",
            "+, about +9% (accept +1% to +30%)", "cap_and_quarterly", "key_account", _f_cap_quarterly),
    Finding("quarterly_low", "Quarterly bonuses raise low performers' output more than high performers'",
            "Chung, Steenburgh & Sudhir 2014", "+ (low minus high)", "quarterly_bonus", "telesales", _f_quarterly_low),
    Finding("overachievement", "Overachievement commissions raise top performers' output", "Chung, Steenburgh & Sudhir 2014",
            "+", "overachievement", "key_account", _f_overachievement),
    Finding("accelerator_timing", "Accelerating plans raise period-end concentration and discount cost",
            "Oyer 1998; Larkin 2014", "+, discounts 6-8% of revenue (Larkin)", "accelerator_timing", "key_account", _f_accelerator),
    Finding("team_weight", "Team weight trades free riding against help; interior best weight when help is valuable",
            "Hamilton, Nickerson & Owan 2003", "effort -, help +, interior optimum +", "team_weight", "key_account", _f_team),
    Finding("goal_difficulty", "Revenue first rises, then falls as targets get harder", "goal-setting field studies",
            "inverted U: interior optimum +", "goal_difficulty", "key_account", _f_goal),
    Finding("pay_on_calls", "Paying on calls raises calls and lowers record accuracy", "Holmstrom & Milgrom 1991; Kishore et al. 2013",
            "activity +, its quality -", "pay_on_calls", "channel", _f_calls),
    Finding("ratchet", "An expected ratchet lowers effort of those far above quota", "Leone, Misra & Zimmerman 2004",
            "-", "ratchet", "key_account", _f_ratchet),
    Finding("salary_risk", "With risk-averse reps, more salary at the same OTE gains as sales get noisier",
            "Basu, Lal, Srinivasan & Staelin 1985", "+ (salary share of the optimal plan rises with uncertainty; no size)",
            "salary_under_risk", "key_account", _f_salary_risk),
    Finding("bonus_to_commission", "Replacing a quota bonus by a commission raises revenue, more for weaker reps, "
            "with fewer timing games", "Kishore, Rao, Narasimhan & John 2013",
            "revenue +, about +24% (bottom quartile +37%), larger for low ability, timing games -", "bonus_to_commission",
            "key_account", _f_bonus_to_commission),
    Finding("lump_sums", "Lump-sum bonuses mostly motivate effort: most of the added revenue is incremental, not pulled in",
            "Steenburgh 2008", "revenue +, incremental share > 50% (mostly effort)", "lump_sums", "telesales",
            _f_lump_sums),
]


def validate_model(*, trials: int = 200, rng: int = 0, only: Sequence[str] | None = None, progress: bool = False,
                   roles: str = "all"):
    """Reproduce each research finding; return a pandas DataFrame (one row per checked effect).

    Each finding runs on its validation scenario's role and, with
    ``roles="all"`` (default), again with the role swapped for each of the two
    other role types (:func:`swap_role`; :meth:`Finding.role_types` gives the
    order); ``roles="both"`` runs the first two, ``"first"``, ``"second"`` or
    ``"third"`` one of them.

    Columns: key, role, finding, source, expected, effect, measured, se,
    ci_low, ci_high, holds, trials, seconds.
    """
    if roles not in ROLE_CHOICES:
        raise SimlibError(f"roles: expected one of {', '.join(ROLE_CHOICES)}, got {roles!r}")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 2:
        raise SimlibError(f"trials: expected a whole number >= 2 (a standard error needs two trials), got {trials!r}")
    import pandas as pd

    keys = [f.key for f in FINDINGS]
    if only:
        bad = [k for k in only if k not in keys]
        if bad:
            raise SimlibError(f"--only: unknown finding(s) {bad}, expected some of {keys}")
    rows = []
    for f in FINDINGS:
        if only and f.key not in only:
            continue
        for scen in role_scenarios(f, roles):
            rows += [row for row, _ in check_finding(f, scen, trials, rng)]
            if progress:
                print(f"  {f.key} ({rows[-1]['role']}): {rows[-1]['seconds']:.1f}s", file=sys.stderr)
    return pd.DataFrame(rows)


def role_scenarios(f: Finding, roles: str = "all") -> list[Scenario]:
    """The finding's validation scenario on each role type ``roles`` selects (:data:`ROLE_CHOICES`), in the order of
    :meth:`Finding.role_types`: the scenario's own role first, the others by :func:`swap_role`."""
    scen0 = _load(f.scenario)
    types = f.role_types(next(iter(scen0.roles.values())).process)
    return [scen0 if i == 0 else swap_role(scen0, types[i]) for i in ROLE_CHOICES[roles]]


def check_finding(f: Finding, scen: Scenario, trials: int, rng: int) -> list[tuple[dict, Callable[[float, float, float], bool]]]:
    """Measure finding ``f`` on scenario ``scen`` (its validation scenario, a role swap of it, or a variant of
    either that keeps the plans' names): one row per effect (the columns of :func:`validate_model`), each with the
    check it is judged by (a function of the mean and the ends of its 95% CI)."""
    t0 = time.perf_counter()
    results = f.measure(scen, trials, rng)
    secs = time.perf_counter() - t0
    role = next(iter(scen.roles.values())).process
    rows = []
    for label, values, ok in results:
        m, se, lo, hi = _ci(values)
        rows.append((dict(key=f.key, role=role, finding=f.finding, source=f.source, expected=f.expected, effect=label,
                          measured=m, se=se, ci_low=lo, ci_high=hi, holds=bool(ok(m, lo, hi)), trials=trials,
                          seconds=secs), ok))
    return rows
