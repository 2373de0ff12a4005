"""Reps respond to the plan: the ``dynamic`` behaviour model (docs/model.md, section 4).

Each rep chooses monthly effort ``e`` to maximise expected discounted pay
(plus money-equivalent rewards) minus the cost of effort ``c(e) = k e^g / g``
by backward induction over each plan period. The state is the period's
cumulative attainment on revenue, ``x``, and the months left. Expected output
of a month is ``a * s_m * e^eta`` attainment units times a noise ``eps`` of
mean one (a few quadrature nodes), where ``a`` is the rep's expected attainment
at today's effort (ability x territory / quota), ``s_m`` the month's share of
the period's expected revenue and ``eta`` the elasticity of revenue to effort
in the role's production process.

The Bellman equation of month ``m`` in a period (docs/model.md, section 4.1, eq. 1)::

    V_m(x) = max_e  delta * E[V_{m+1}(x + a s_m e^eta eps)] + l_m e^eta - k e^g / g

with terminal value ``V_end(x) = U(F(x)) + extras`` (the period's pay curve,
recognition, expected ratchet, timing option), and a linear term ``l_m``
collecting money that is nearly linear in output (other measures, team pay
seen through one's own share, non-money value of output).

``k`` is normalised per rep type so that under the scenario's current plan
the expected output multiplier along the year, ``E[e^eta]``, equals one: the
model then predicts only changes from today. Giving up, coasting at a cap,
pacing under quarterly periods, bunching above lump sums and holding back
under an expected ratchet are not rules: they come out of the maximisation.

Everything is solved on a fixed grid of rep types, independent of the chunk
of trials, so results stay chunk- and executor-invariant; the forward
simulation uses each rep's realised state (common random numbers are kept).

This module builds each role's programme from the plan
(:class:`DynamicBehaviour`); :mod:`.kernels` solves it, :mod:`.sample` holds
the calibration sample its money terms come from, :mod:`.types` the type
grids and :mod:`.policy` the runtime policy the engine steps.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from typing import Any

import numpy as np

from simlib.behaviour import kernels
from simlib.behaviour.kernels import R_OUTER, X_GRID, X_H, X_N, Outer, Problem, Solution, shock_nodes
from simlib.behaviour.policy import DynamicPolicy, RoleSolution, SpiffPull
from simlib.behaviour.sample import CAL_TRIALS, Calibration, marginal_values, promotion_value, team_variant
from simlib.behaviour.types import C_GRID, R_GRID, bilinear
from simlib.memo import ContentCache
from simlib.model.attrition import pays_by_target_incentive
from simlib.model.money import rep_pay_scale
from simlib.model.paycurves import compile_component, evaluate
from simlib.model.plans import (
    Structure,
    clawback_kept,
    clawed_names,
    compute_pay,
    guarantee_floor,
    measure_score,
    period_structures,
    primary_structure,
    relief_factor,
    revenue_profile,
    revenue_scorecards,
    scorecard_coefficient,
    scorecard_points_without,
    segments,
    set_quotas,
    spiff_money_by_month,
    spiff_pay,
)
from simlib.model.population import Layout, RoleWorld
from simlib.model.programmes import prize
from simlib.scenario import MONTHS, PERIODS, Component, Role, RolePlan, Scenario, Scorecard

#: elasticity of each measure to (activity, quality) effort, by process (simlib.model.production)
_ELAS: dict[str, dict[str, tuple[float, float]]] = {
    "telesales": {
        "revenue": (1, 1), "calls": (1, 0), "talk_time": (1, 1), "leads": (1, 0),
        "conversions": (1, 1), "conversion_rate": (0, 1), "record_accuracy": (0, 1),
    },
    "key_account": {
        "revenue": (1, 0), "large_order_value": (1, 0), "deals": (1, 0), "new_accounts": (1, 0),
        "milestones": (0, 1), "satisfaction": (0, 1),
    },
    "channel": {
        "revenue": (0.1, 0), "partners_opened": (1, 0), "partner_revenue_new": (1, 0),
        "partner_satisfaction": (0, 1), "policy_adherence": (0, 0.5),
    },
    "generic": {"revenue": (1, 0), "units": (1, 0)},
}


def measure_elasticities(role: Role) -> dict[str, tuple[float, float]]:
    """Elasticity of each of a role's measures to (activity, quality) effort, in units of the process's.

    The process's own measures as :data:`_ELAS`; a role's named measures
    (docs/model.md section 2, named measures) follow from their production: measures made
    from revenue move as revenue; retention moves with quality only (through
    churn), discounts too (so profit after discounts gets a quality term
    besides revenue's); visits with activity effort at their own elasticity
    (divided by the role's effort elasticity, which the split multiplies
    back). ``market_size``, ``base_revenue`` and ``customers_lost`` do not
    reward effort.
    """
    elas = dict(_ELAS[role.process])
    nm = role.measures
    if nm is None:
        return elas
    rev = elas["revenue"]
    for k in role.measure_kinds:
        if k in ("market_share", "growth") or k.startswith("revenue_"):
            elas[k] = rev
        elif k in ("market_size", "base_revenue", "customers_lost"):
            elas[k] = (0.0, 0.0)
    if nm.retention is not None:
        # d log((1 - h)^12) / d log q = 12 h k / (1 - h), q the quality multiplier (as satisfaction's 1)
        h = min(nm.retention.churn, 0.5)
        elas["retention"] = (0.0, MONTHS * h * nm.retention.quality_effect / (1.0 - h))
    if nm.profit_after_discounts is not None:
        p, gm = nm.profit_after_discounts, role.gross_margin
        c = (1.0 - gm) * (1.0 - p.discount)
        # d log(1 - c / (1 - d)) / d log q at today's discount, per unit of the quality multiplier's log
        dq = c * p.discount / (1.0 - p.discount) ** 2 / max(1.0 - c / (1.0 - p.discount), 1e-9) * p.quality_effect
        elas["profit_after_discounts"] = (rev[0], rev[1] + dq)
        elas["discount_rate"] = (0.0, 0.0)
    if nm.visits is not None:
        elas["visits"] = (nm.visits.elasticity / role.effort_elasticity, 0.0)
    return elas


def revenue_elasticity(scenario: Scenario, role: str) -> float:
    """Elasticity of a rep's revenue to effort at today's task split (simlib.model.production)."""
    r = scenario.roles[role]
    beta = r.effort_elasticity
    if r.process == "telesales":
        return beta + r.process_params().quality_elasticity
    return beta


def output_elasticity(scenario: Scenario, role: str, measure: str,
                      elas: dict[str, tuple[float, float]] | None = None) -> float:
    """``d log(measure) / d log(output)`` when a rep works more at today's task split (simlib.model.production).

    Effort ``e`` moves activity output as ``e^beta`` and quality as ``e^quality_elasticity``
    (:func:`simlib.model.production._split` at focus 1), a measure with elasticities ``(x, y)`` to them
    (:func:`measure_elasticities`) as ``e^(x beta + y quality_elasticity)``, and output (revenue) as
    ``e^eta`` (:func:`revenue_elasticity`). The behaviour values a measure's marginal pay per log of output by it
    (docs/model.md 4.1): telesales calls 0.7 / 1.2, record accuracy 0.5 / 1.2, key accounts' milestones 0.3 / 0.6.
    """
    r = scenario.roles[role]
    x, y = (measure_elasticities(r) if elas is None else elas)[measure]
    eta = revenue_elasticity(scenario, role)
    return (x * r.effort_elasticity + y * r.process_params().quality_elasticity) / eta if eta > 0 else 0.0


# --------------------------------------------------------------------------
# Pieces of a role's programme under a plan
# --------------------------------------------------------------------------


def _periods(prof: np.ndarray, st: Structure) -> tuple[list[int], list[int], np.ndarray, np.ndarray]:
    """Pay periods of the primary structure: first and last months, each period's share of the year's
    expected revenue (P,), and each month's expected attainment increment in period units (12,)."""
    n = PERIODS[st.period] if not st.ytd else 1
    L = MONTHS // n
    starts = [i * L for i in range(n)]
    ends = [s + L - 1 for s in starts]
    share = np.array([prof[s : t + 1].sum() for s, t in zip(starts, ends, strict=True)])
    inc = np.array([prof[m] / share[m // L] for m in range(MONTHS)])
    return starts, ends, share, inc


def _component_money(c: Component, TI: float, qref: float, share: float):
    """Money a revenue component pays at the end of a period (``share`` of the year's expected revenue),
    as a function of the period's attainment (fraction of the period target); ``qref`` is the mean quota."""
    sched = compile_component(c)

    def money(xx):
        if c.kind == "per_unit":
            v = evaluate(sched, xx * qref * share)[0]
        else:
            v = evaluate(sched, xx)[0]
        if c.kind == "curve":  # weight x TI per period; a year-to-date true-up pays the year on the year
            v = v * c.weight * TI / (PERIODS[c.period] if not c.ytd_true_up else 1)
        elif c.kind == "commission":
            v = v * qref * share
        return v

    return money


def _scorecard_money(sc: Scorecard, TI: float, qref: float, level: float, other: float):
    """Money a scorecard pays at the end of one of its periods as a function of the period's revenue attainment.

    The revenue score moves with the state; the other measures' points stay
    at ``other``, their mean in the calibration sample (docs/model.md,
    section 4.1). A money target for revenue is rescaled from the quota
    attainment the state measures (at the mean quota ``qref``).
    """
    rev = next(sm for sm in sc.measures if sm.measure == "revenue")
    ratio = 1.0 if rev.target == "quota" else qref / (level * float(rev.target))

    def money(xx):
        composite = other + rev.weight / sc.total * measure_score(rev, xx * ratio)
        return scorecard_coefficient(sc, composite)[0] * (sc.weight * TI / PERIODS[sc.period])

    return money


def _period_pay(rp: RolePlan, st: Structure, TI: float, w: float, qref: float, share: float,
                card_other: dict[str, float] | None = None) -> np.ndarray:
    """``(1 - w) F(x)`` on the state grid (G,): the individual pay of the primary structure's revenue components.

    Scorecards that score revenue in the primary structure's periods count
    too, with their other measures' points at ``card_other`` (name -> points).
    Below zero (a period that starts with pulled-in deals still owed) the deals
    come out of later sales, so they cost pay at the lowest rate rather than nothing.
    """
    F = np.zeros(X_N)
    for money in _structure_moneys(rp, st, TI, qref, share, card_other):
        v0, v1 = money(np.array([0.0, X_H]))
        F += (1.0 - w) * (cell_mean(money) + (v1 - v0) / X_H * np.minimum(X_GRID, 0.0))
    return F


def _structure_moneys(rp: RolePlan, st: Structure, TI: float, qref: float, share: float,
                      card_other: dict[str, float] | None = None) -> list:
    """The money of each revenue component and scorecard of a structure at the end of one of its periods (``share``
    of the year's expected revenue), each a function of the period's attainment (:func:`_component_money`,
    :func:`_scorecard_money`)."""
    moneys = [_component_money(c, TI, qref, share) for c in rp.components if c.measure == "revenue" and c.name in st.names]
    moneys += [_scorecard_money(sc, TI, qref, rp.quota.level, (card_other or {}).get(sc.name, 0.0))
               for sc in revenue_scorecards(rp) if sc.name in st.names]
    return moneys


#: the year's pay beside a shorter period's (:class:`simlib.behaviour.kernels.Outer`) is tabled on this grid of annual
#: attainment, each point its mean over a window as :func:`cell_mean` (a step of the year's pay seen through the
#: quarter's last state cell: a quarter of a cell of a quarter's attainment)
YEAR_Y = np.linspace(-1.0, 12.0, 26001)
YEAR_WINDOW, YEAR_POINTS = X_H / 16.0, 16


def year_pay_table(rp: RolePlan, st: Structure, TI: float, w: float, qref: float,
                   card_other: dict[str, float] | None = None, kept: float = 1.0) -> np.ndarray:
    """``(1 - w) kept F_year(y)`` on :data:`YEAR_Y` (money): the individual pay of the year's revenue components
    and scorecards beside a shorter period's, each point the mean over :data:`YEAR_WINDOW` (a step moves the pay
    continuously as it crosses a point), below zero extended at the slope from zero as :func:`_period_pay`."""
    off = YEAR_WINDOW * ((np.arange(YEAR_POINTS) + 0.5) / YEAR_POINTS - 0.5)
    F = np.zeros(len(YEAR_Y))
    h = YEAR_Y[1] - YEAR_Y[0]
    for money in _structure_moneys(rp, st, TI, qref, 1.0, card_other):
        v0, v1 = money(np.array([0.0, h]))
        mean = money(np.maximum(YEAR_Y[:, None] + off[None, :], 0.0).ravel()).reshape(len(YEAR_Y), YEAR_POINTS).mean(axis=1)
        F += (1.0 - w) * kept * (mean + (v1 - v0) / h * np.minimum(YEAR_Y, 0.0))
    return F


def mean_field_step(omega: float, image: float, last: tuple[float, float] | None) -> float:
    """The next mean-field ``omega`` from ``omega`` and its image ``F(omega)``; ``last`` the previous ``(omega, F -
    omega)``.

    The plain step is the image. Where it reverses the previous step (teammates' output read back through the team
    pool overshoots: a slope of ``F`` below -1 diverges), the step is the secant's root of ``F(omega) - omega``
    through the two points instead, which the oscillation brackets: the third iterate of a diverging oscillation
    read a calibration rep-month 1e-5 from a tier as 10% of help (docs/model.md section 6.2). At a step of 0 both
    rules give ``omega``, so the choice moves no result.
    """
    g = image - omega
    if last is None or g * last[1] >= 0 or g == last[1]:
        return image
    w0, g0 = last
    return omega - g * (omega - w0) / (g - g0)


#: width (a quarter of a state cell) and points of the window around each grid point the terminal pay is averaged over
CELL_WINDOW, CELL_POINTS = X_H / 4.0, 256


def cell_mean(money) -> np.ndarray:
    """The mean of ``money(max(x, 0))`` over a window of :data:`CELL_WINDOW` around each grid point (G,).

    The kernels interpolate the terminal pay linearly between grid points, so a pay step (a lump sum, a curve's
    first point, a scorecard's minimum score) read at the grid points alone became a ramp over the cell it falls
    in and jumped a whole cell (0.075 attainment) as its threshold passed a grid point: a scorecard point at 0.95
    attainment (a grid point) and at 0.95001 moved a plan's revenue 6%. Averaged over the window, the pay at a grid
    point moves with a threshold inside the window, in steps of 1 / :data:`CELL_POINTS` of the step (a cell's shift
    spread over 0.019 attainment); a threshold outside every window, and pay linear over a window, read as before
    (docs/model.md section 6.2).
    """
    off = CELL_WINDOW * ((np.arange(CELL_POINTS) + 0.5) / CELL_POINTS - 0.5)
    return money(np.maximum(X_GRID[:, None] + off[None, :], 0.0).ravel()).reshape(X_N, CELL_POINTS).mean(axis=1)


def _period_target_pay(rp: RolePlan, st: Structure, TI: float, w: float, qref: float, share: float,
                       card_other: dict[str, float] | None = None) -> float:
    """The money :func:`_period_pay` pays at 100% of the period's target (``x = 1``): the period's target pay.

    Read off the same compiled schedules at exactly ``x = 1`` (a step at the
    quota pays), so it moves with money only: relabelling ``target_incentive``
    with the same money leaves it unchanged, and a plan that pays nothing at
    target gives 0. The reference point of loss-averse reps (:func:`gain_loss`).
    """
    moneys = [_component_money(c, TI, qref, share) for c in rp.components if c.measure == "revenue" and c.name in st.names]
    moneys += [_scorecard_money(sc, TI, qref, rp.quota.level, (card_other or {}).get(sc.name, 0.0))
               for sc in revenue_scorecards(rp) if sc.name in st.names]
    return float(sum((1.0 - w) * float(money(np.array([1.0]))[0]) for money in moneys))


def gain_loss(F: np.ndarray, reference: float, loss_aversion: float) -> np.ndarray:
    """A period's pay ``F`` valued against a reference income: ``F - (lambda - 1) max(reference - F, 0)``, money.

    Each unit below the reference weighs ``lambda`` units, each above it one
    (Kahneman & Tversky 1979; Tversky & Kahneman 1992: ``lambda`` about 2):
    the piecewise-linear gain-loss utility with the consumption utility of
    money, written so that ``lambda = 1`` returns ``F`` itself, bit for bit
    (docs/model.md section 4.1.2).
    """
    if loss_aversion == 1.0:
        return F
    return F - (loss_aversion - 1.0) * np.maximum(reference - F, 0.0)


def _rivalry_cost(ing: dict) -> tuple[float, float, float]:
    """A plan's pressures on help: mean quota, individual revenue share of marginal pay, rank-based share of money.

    The revenue share is ``(1 - w)`` times revenue's share of the marginal pay
    of all measures (individual pay); the rank share is the expected
    recognition over expected incentive plus recognition (calibration sample).
    """
    mv = {k: max(v, 0.0) for k, v in ing["mv_ind"].items()}
    total = sum(mv.values())
    rev_share = (1.0 - ing["w"]) * (mv.get("revenue", 0.0) / total if total > 0 else 0.0)
    rec = float(np.mean(ing["pr_ind"].recognition)) + promotion_value(ing["rp"], ing["pr_ind"])
    money = float(np.mean(ing["pr_ind"].incentive)) + rec
    return float(np.mean(ing["quota"])), rev_share, (rec / money if money > 0 else 0.0)


def help_rivalry(params, ing: dict, ing_cur: dict) -> float:
    """Relative cost of helping a teammate under a plan against today's (1 under the current plan).

    ``rho_P / rho_C`` with ``rho = D^(target_pressure s_rev) (1 + rank_rivalry r)``:
    ``D`` the plan's mean individual quota over today's (target difficulty),
    ``s_rev`` the individual revenue share of marginal pay (a quota on revenue
    binds only the pay that depends on it; team pay does not), ``r`` the share
    of the money at stake awarded by rank. Harder individual targets make time
    spent on a teammate's deals dearer and breed internal competition
    (Ordóñez, Schweitzer, Galinsky & Bazerman 2009); under rank-order rewards a
    teammate's success lowers one's own chance to win, so helping falls
    (Lazear 1989; Drago & Garvey 1998). docs/model.md, section 4.3.
    """
    if not params.enabled:
        return 1.0
    q1, s1, r1 = _rivalry_cost(ing)
    q0, s0, r0 = _rivalry_cost(ing_cur)
    difficulty = q1 / q0 if q0 > 0 and q1 > 0 else 1.0
    rho1 = difficulty ** (params.target_pressure * s1) * (1.0 + params.rank_rivalry * r1)
    rho0 = 1.0 + params.rank_rivalry * r0  # today's difficulty is 1 by definition
    return float(rho1 / rho0)


def net_pulls(plan: tuple[SpiffPull, ...], today: tuple[SpiffPull, ...]) -> tuple[SpiffPull, ...]:
    """A plan's SPIFF pulls less today's (each of today's undone by a pull of ``-z``), but a pull today's plan makes
    too (the same month, measure, size and count per revenue) is neither made nor undone: making and undoing it
    moved a count measure and back, which left the month's count off in its last bits."""
    left = list(today)
    out = []
    for p in plan:
        if p in left:
            left.remove(p)
        else:
            out.append(p)
    return (*out, *(dataclasses.replace(p, z=-p.z) for p in left))


def team_members(scenario: Scenario, role: str) -> float:
    """Reps in a team of ``role``: its ``team_size``, at most its headcount (a role of 3 with team_size 7 is one team
    of 3, as the engine forms it)."""
    r = scenario.roles[role]
    return float(max(1, min(r.team_size, r.headcount)))


def _teammate_weight(social_weight: float, n: float) -> float:
    """Value of one teammate's money relative to one's own in a team of ``n`` (dimensionless).

    ``social_weight`` is the weight in a pair; in larger teams the same total
    weight is spread over the ``n - 1`` teammates, ``social_weight / (n - 1)``
    (at most 1). A rep then keeps ``(1 + social_weight) / n`` of the money
    incentive of the team part of pay: free riding scales like ``1/n``
    (Holmstrom 1982), and sharing norms soften it most in small groups
    (Encinosa, Gaynor & Rebitzer 2007). See docs/model.md, section 4.3.
    """
    if n <= 1.0:
        return 0.0
    return min(social_weight / (n - 1.0), 1.0)


def _ndtr(x: np.ndarray) -> np.ndarray:
    """The standard normal CDF (SciPy's ``ndtr``, imported on first use: SciPy takes a third of a second to load)."""
    from scipy.special import ndtr

    return ndtr(x)


#: share of a type cell of C_GRID (in attainment) that blurs a recognition threshold (_recognition_prize)
_TYPE_BLUR = 0.5


def _recognition_prize(value: float, top_k: int, attainment: np.ndarray, expected: np.ndarray, share: float,
                       a: np.ndarray) -> np.ndarray:
    """Expected recognition award as a function of a period's attainment, per type (NT, G), money.

    A rep wins when their annual attainment reaches the ``top_k``-th highest
    of the role. In the calibration sample (``attainment``, annual, and
    ``expected``, the reps' expected attainment at today's effort, both (T, R))
    that threshold has mean ``a*`` and a spread ``sd*`` over trials, and a
    rep's annual attainment scatters around their expectation with standard
    deviation ``sd_y``. The period's state ``x`` (``share`` of the year's
    expected revenue) is known; the rest of the year is at the type's
    expectation ``a`` with its share of the annual noise. So

        P(win | x) = Phi((share x + (1 - share) a - a*) / s),
        s^2 = sd*^2 + (1 - share) sd_y^2 + (share h)^2 + (b a log r)^2

    with ``h`` the state grid's step (a floor that keeps the threshold from
    snapping to grid points) and ``r`` the ratio between neighbouring types of
    :data:`C_GRID` (41%): a grid type stands for the reps of its cell, so the
    threshold is spread over ``b`` = :data:`_TYPE_BLUR` of a cell in attainment
    units. Without it the award's pull falls on the one or two types nearest
    the threshold and the role's response jumps as the threshold moves between
    types (docs/model.md, section 4.1). Every period's terminal value carries this term;
    only its slope in ``x`` matters for the period's choices, and that is the
    period's marginal effect on the chance to win (a smooth rank-order
    tournament, Lazear & Rosen 1981), not a step at one period's end.
    """
    k_top = min(top_k, attainment.shape[1])
    th = np.sort(attainment, axis=1)[:, -k_top]
    sd_star = float(np.std(th))
    sd_y = float(np.std(attainment - expected))
    cell = _TYPE_BLUR * math.log(C_GRID[1] / C_GRID[0]) * a[:, None]
    s = np.sqrt(sd_star**2 + (1.0 - share) * sd_y**2 + (share * X_H) ** 2 + cell**2)
    annual = (1.0 - share) * a[:, None] + share * X_GRID[None, :]
    return value * _ndtr((annual - float(np.mean(th))) / s)


def _threshold_prize(value: float, threshold: float, attainment: np.ndarray, expected: np.ndarray, share: float,
                     a: np.ndarray) -> np.ndarray:
    """Expected value of an honour won at annual attainment ``threshold``, per type (NT, G), money.

    As :func:`_recognition_prize` with a fixed threshold instead of a rank:
    ``P(win | x) = Phi((share x + (1 - share) a - threshold) / s)``,
    ``s^2 = (1 - share) sd_y^2 + (share h)^2 + (b a log r)^2``. Its slope is
    steepest just below the threshold, so reps near it push to clear it and
    attainment bunches just above (a lump sum's pull: Steenburgh 2008).
    """
    sd_y = float(np.std(attainment - expected))
    cell = _TYPE_BLUR * math.log(C_GRID[1] / C_GRID[0]) * a[:, None]
    s = np.sqrt((1.0 - share) * sd_y**2 + (share * X_H) ** 2 + cell**2)
    annual = (1.0 - share) * a[:, None] + share * X_GRID[None, :]
    return value * _ndtr((annual - threshold) / s)


def programme_prizes(rp: RolePlan, attainment: np.ndarray, expected: np.ndarray, share: float,
                     a: np.ndarray) -> np.ndarray:
    """Expected prizes of the role plan's revenue programmes at a period's end, per type (NT, G), money.

    A promotion tournament on revenue is a rank-order prize worth the raise's
    present value (:func:`_recognition_prize` with ``slots`` winners; Lazear &
    Rosen 1981); an honour on revenue a threshold prize
    (:func:`_threshold_prize`). Programmes on other measures reach effort
    through their measures' marginal pay (simlib.behaviour.sample); training
    is no prize. docs/model.md, section 4.1.
    """
    out = np.zeros((len(a), X_N))
    for p in rp.programmes:
        if p.measure != "revenue" or prize(p) <= 0:
            continue
        if p.kind == "promotion":
            out += _recognition_prize(prize(p), int(p.slots), attainment, expected, share, a)
        elif p.kind == "honour":
            out += _threshold_prize(prize(p), float(p.threshold), attainment, expected, share, a)
    return out


def statement_months(rp: RolePlan) -> tuple[int, ...] | None:
    """Months (0-11) at whose end reps learn their attainment under a role plan; None: every month.

    The ends of the ``feedback`` cadence's periods, and of every pay
    period of the plan's components and scorecards (a payment is a
    statement). docs/model.md section 3, feedback cadence.
    """
    if rp.feedback is None or rp.feedback.cadence == "month":
        return None
    periods = [rp.feedback.cadence] + [c.period for c in rp.components] + [sc.period for sc in rp.scorecards]
    ends = {(i + 1) * (MONTHS // PERIODS[p]) - 1 for p in periods for i in range(PERIODS[p])}
    return tuple(sorted(ends))


# --------------------------------------------------------------------------
# The model object the engine talks to
# --------------------------------------------------------------------------


class DynamicBehaviour:
    """The ``dynamic`` behaviour model (see the module docstring); a :class:`simlib.model.contracts.BehaviourModel`.

    Parameters
    ----------
    scenario : Scenario
        Its ``behaviour`` section sets every parameter (docs/model.md, section 4.7).
    """

    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.params = scenario.behaviour
        self._cal: Calibration | None = None
        self._solved: dict[tuple[str, str], RoleSolution] = {}
        self._k: dict[str, tuple[np.ndarray, dict]] = {}
        self._stake: dict[str, float] = {}
        self._incentive: dict[str, float] = {}  # today's mean incentive per role (:meth:`incentive_today`)
        self._pulls: dict[tuple[str, str], tuple[SpiffPull, ...]] = {}  # SPIFF pull-forward by plan and role
        self._own: dict[tuple[str, str], tuple] = {}  # omega-free money terms per plan and role (:meth:`_own_values`)
        self._draws_key: str | None = None  # digest of the scenario's draw layout (:meth:`_sample_key`)
        # solutions depend only on the organisation, market, behaviour and current plan (and the
        # candidate's role plan): shared across scenario copies such as a sweep's ``with_plan`` variants
        base = scenario.model_dump(by_alias=True, mode="json", include={"roles", "market", "behaviour"})
        base["current"] = scenario.plans[scenario.current_plan].model_dump(by_alias=True, mode="json")
        self._base = hashlib.sha256(json.dumps(base, sort_keys=True).encode()).hexdigest()

    def _plan_key(self, plan: str, role: str) -> tuple[str, str, str]:
        rp = self.scenario.role_plan(plan, role).model_dump(by_alias=True, mode="json")
        if rp.get("versions"):  # the versions' terms are part of the plan
            rp["versions"] = [{**v, "terms": self.scenario.role_plan(v["plan"], role).model_dump(by_alias=True, mode="json")}
                              for v in rp["versions"]]
        return (self._base, role, json.dumps(rp, sort_keys=True))

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the calibration sample (drawn again from its fixed seed if a worker needs it)."""
        state = dict(self.__dict__)
        state["_cal"] = None
        state["_own"] = {}  # made from the calibration sample, as needed
        return state

    # -- solving ahead (the engine solves in the parent, or as tasks, and ships the solutions) ---
    def unsolved(self, plans: list[str]) -> list[tuple[str, str]]:
        """(plan, role) pairs a run of ``plans`` would solve that are not solved yet (here or by content).

        The current plan's solutions (each role's effort-cost normalisation)
        are made here first, in this process: every other plan's solution starts from them.
        """
        bp = self.params
        if not (bp.effort.enabled or bp.timing.enabled or bp.multitask.enabled or bp.team.enabled):
            return []
        cur = self.scenario.current_plan
        todo = []
        for role in self.scenario.roles:
            if self.scenario.roles[role].credited_on is not None:
                continue  # paid on others' results, with no effort of their own (docs/model.md section 3, crediting)
            self.solve(cur, role)
            for plan in plans:
                same = self.todays_terms(plan, role)
                if not same and (plan, role) not in todo and self._cached(plan, role) is None:
                    todo.append((plan, role))
        return todo

    def todays_terms(self, plan: str, role: str) -> bool:
        """Whether a plan gives a role today's terms, so today's solution (reps keep today's behaviour, bit for bit):
        the current plan, the same role plan, or the same role plan under another ``target_incentive`` where nothing
        is paid as a share of it (no curve or scorecard of positive weight, in no version: it is a label; solved as a
        new plan, such a copy came out 1 + 2e-16 in effort and help)."""
        cur = self.scenario.current_plan
        a, b = self.scenario.role_plan(plan, role), self.scenario.role_plan(cur, role)
        if plan == cur or a == b:
            return True
        if pays_by_target_incentive(self.scenario, plan, role) or pays_by_target_incentive(self.scenario, cur, role):
            return False
        return a.model_copy(update={"target_incentive": b.target_incentive}) == b

    def _cached(self, plan: str, role: str) -> RoleSolution | None:
        """The solution of a role under a plan if this object or the shared cache has it (adopted here)."""
        key = (plan, role)
        if key in self._solved:
            return self._solved[key]
        shared = self._shared_key(plan, role)
        hit = None if shared is None else _SHARED.get(shared)
        if hit is not None:
            self._solved[key] = hit
        return hit

    def _shared_key(self, plan: str, role: str) -> tuple | None:
        """The shared-cache key of a solution: the plan's terms and what the calibration sample is drawn from
        (:meth:`_sample_key`: a solution rests on the sample's cost scale and marginal values); None (kept per model
        only) where the sample is not shared."""
        sample = self._sample_key("sol")
        return None if sample is None else sample + self._plan_key(plan, role)[1:] + (plan == self.scenario.current_plan,)

    def adopt(self, plan: str, role: str, rs: RoleSolution) -> None:
        """Take a solution made elsewhere (a worker) of ``role`` under ``plan``, as :meth:`solve` would have made it."""
        self._solved[(plan, role)] = rs
        shared = self._shared_key(plan, role)
        if shared is not None:
            _share(shared, rs)

    # -- calibration ---------------------------------------------------------
    @property
    def cal(self) -> Calibration:
        """The scenario's calibration sample (drawn on first use)."""
        if self._cal is None:
            key = self._sample_key("cal")
            hit = None if key is None else _SHARED.get(key)
            self._cal = Calibration.of(self.scenario) if hit is None else hit
            if hit is None and key is not None:
                _share(key, self._cal)
        return self._cal

    def _sample_key(self, what: str, *more: str) -> tuple | None:
        """The shared-cache key of a value made from the calibration sample and the current plan alone.

        The sample depends on the organisation and market (in ``_base``), so a sweep's or optimiser's
        variant scenarios share it; None (kept per model only) where reps come from a roster or track record.
        """
        if self.scenario.roster_data is not None or self.scenario.track_record is not None:
            return None
        if self._draws_key is None:  # where each draw lives (other sections, e.g. currencies, add draws)
            self._draws_key = hashlib.sha256(repr(Layout.of(self.scenario)).encode()).hexdigest()
        return (what, self._base, self._draws_key, *more)

    def expected_revenue(self, world: RoleWorld) -> np.ndarray:
        """Expected annual revenue per rep at today's effort (T, R), money."""
        E = float(revenue_profile(self.scenario, world.name).sum())
        return E * world.ability * world.territory * world.ramp_mean

    def pay_at_stake(self, role: str) -> float:
        """Today's incentive pay per rep, money per year: the money scale of non-money terms.

        The mean incentive of the role's calibration reps under the scenario's
        current plan at today's effort (docs/model.md, section 4.1). It scales
        the non-money value of output, the effort taste shocks and risk
        aversion, so that they move with money, not with any plan's
        ``target_incentive`` label. Falls back to the base salary when the
        current plan pays no incentive, then to a fifth of a rep's revenue in a
        year (on-target earnings where quotas are 5 times them), then 1: a
        money amount of the role's, so that 1000 times every amount of money
        leaves behaviour as it was (a fixed 1 did not). The rule is
        :func:`simlib.model.money.rep_pay_scale`, shared with the attrition
        hazard of multi-year runs.
        """
        key = self._sample_key("stake", role)
        if role not in self._stake and key is not None and key in _SHARED:
            self._stake[role] = _SHARED.get(key)
        if role not in self._stake:
            scen, cur = self.scenario, self.scenario.current_plan
            world = self.cal.worlds[role]
            pr = compute_pay(scen, cur, world, self.cal.measures[role], set_quotas(scen, cur, world))
            stake = rep_pay_scale(float(np.mean(pr.incentive)), float(np.mean(pr.base)), revenue=self.revenue_today(role))
            self._stake[role] = stake
            if key is not None:
                _share(key, stake)
        return self._stake[role]

    def revenue_today(self, role: str) -> float:
        """Today's mean revenue per rep of the role in a year, money: the role's calibration reps at today's effort
        (the money scale's fallback where today's plan pays nothing, :func:`simlib.model.money.rep_pay_scale`)."""
        return float(np.mean(self.cal.measures[role]["revenue"].sum(axis=-1)))

    def incentive_today(self, role: str) -> float:
        """Today's mean incentive per rep of the role, money per year (0 when the current plan pays none).

        :meth:`pay_at_stake` before its fallbacks: the mean incentive of the
        role's calibration reps under the current plan at today's effort. The
        attrition hazard and the hiring cost of multi-year runs take today's
        on-target pay from it where the current plan pays nothing in
        proportion to ``target_incentive`` (``simlib.model.attrition.on_target_pay``).
        """
        if role not in self._incentive:
            scen, cur = self.scenario, self.scenario.current_plan
            world = self.cal.worlds[role]
            pr = compute_pay(scen, cur, world, self.cal.measures[role], set_quotas(scen, cur, world))
            self._incentive[role] = float(np.mean(pr.incentive))
        return self._incentive[role]

    # -- ingredients -----------------------------------------------------------
    def _ingredients(self, plan: str, role: str, omega: float = 1.0, scenario: Scenario | None = None) -> dict[str, Any]:
        """Role-level money terms of a plan from the calibration sample (mean field: teammates at ``omega``).

        ``scenario``: a variant of the model's scenario that holds ``plan`` (a plan's own terms without its versions).
        """
        scen, bp = self.scenario if scenario is None else scenario, self.params
        world = self.cal.worlds[role]
        meas = self.cal.measures[role]
        rp = scen.role_plan(plan, role)
        TI = scen.target_incentive(plan, role)
        w = rp.team.weight if bp.team.enabled else 0.0
        quota, mv_ind, comp_ind, pr_ind, mv_full = self._own_values(plan, role, scen)
        team_lin, D, P = 0.0, 0.0, 0.0
        N = team_members(scen, role)
        sig = _teammate_weight(bp.team.social_weight, N) if bp.team.enabled else 0.0
        if w > 0:
            s_team, p_team = team_variant(scen, plan, 1.0)
            mv_team, _, pr_team = marginal_values(s_team, p_team, role, world, meas, quota, scale=omega)
            D = sum(v * (1.0 if k == "revenue" or world.role.measure_kinds[k] == "flow" else 0.0) for k, v in mv_team.items())
            D = D * N  # derivative of a team's pool w.r.t. log team output
            P = float(np.mean(pr_team.incentive)) * N
            own = 1.0 / N + sig * (N - 1.0) / N
            team_lin = w * D / N * own
            if rp.team.split == "contribution":
                team_lin += w * (P / N) * (N - 1.0) / N * (1.0 - sig)
        return dict(
            world=world, rp=rp, TI=TI, S=self.pay_at_stake(role), w=w, quota=quota, mv_ind=mv_ind, comp_ind=comp_ind,
            mv_full=mv_full, pr_ind=pr_ind, team_lin=team_lin, D=D, P=P, N=N, sig=sig,
        )

    def _own_values(self, plan: str, role: str, scen: Scenario) -> tuple:
        """Quotas and marginal values of a plan of ``scen`` (the model's scenario, or a variant holding ``plan``)
        on the calibration sample that do not depend on teammates' output.

        Kept per plan and role: every mean-field iteration of :meth:`_solve_mean_field` asks again with a new
        ``omega``, which changes only the team pool's terms. (A variant's plan has a name of its own.)
        """
        key = (plan, role)
        hit = self._own.get(key)
        if hit is None:
            world, meas = self.cal.worlds[role], self.cal.measures[role]
            quota = set_quotas(scen, plan, world)
            s_ind, p_ind = team_variant(scen, plan, 0.0)
            mv_ind, comp_ind, pr_ind = marginal_values(s_ind, p_ind, role, world, meas, quota)
            mv_full, _, _ = marginal_values(scen, plan, role, world, meas, quota)
            hit = self._own[key] = (quota, mv_ind, comp_ind, pr_ind, mv_full)
        return hit

    def _focus(self, ing: dict, ing_cur: dict, role: str) -> tuple[float, float]:
        """Multitask split f (1 = today) and the revenue multiplier it implies."""
        bp = self.params.multitask
        r = self.scenario.roles[role]
        pp = r.process_params()
        s0, beta, qe = pp.activity_share, r.effort_elasticity, pp.quality_elasticity
        if not bp.enabled:
            return 1.0, 1.0
        elas = measure_elasticities(r)

        def ab(mv):
            a = sum(max(mv[k], 0.0) * elas[k][0] for k in mv) * beta
            b = sum(max(mv[k], 0.0) * elas[k][1] for k in mv) * qe
            return a, b

        a0, b0 = ab(ing_cur["mv_full"])
        a1, b1 = ab(ing["mv_full"])
        S = a0 + b0
        if S <= 0:
            return 1.0, 1.0
        T = max((1.0 + bp.inertia) * S, a0 / s0, b0 / (1.0 - s0))
        A0, B0 = s0 * T - a0, (1.0 - s0) * T - b0
        s = (a1 + A0) / (a1 + b1 + A0 + B0)
        f = float(np.clip(s / s0, 0.05, 0.99 / s0))
        if r.process == "telesales":
            rev = f**beta * ((1.0 - s0 * f) / (1.0 - s0)) ** qe
        elif r.process in ("key_account", "generic"):
            rev = f**beta
        else:
            rev = 1.0
        return f, float(rev)

    def _mix(self, ing: dict, ing_cur: dict, role: str) -> tuple[float, ...] | None:
        """Tilt of the role's revenue segments under a plan (None without segments or with no response).

        A rep moves selling time toward the segments that pay more per unit of
        revenue than today: segment ``s`` (share ``w_s``) pays ``pi_s =
        MV_s / w_s`` per log unit of revenue sold in it (``MV_s`` the marginal
        pay of ``revenue_<s>``), and its share is multiplied by
        ``exp(mix_elasticity (pi_s(plan) - pi_s(current)) / S)`` (``S`` pay
        at stake), renormalised so that the shares still sum to one: total
        revenue is not changed by the mix, only where it is sold
        (docs/model.md section 2, named measures).
        """
        nm = self.scenario.roles[role].measures
        seg = None if nm is None else nm.segments
        if seg is None or seg.mix_elasticity <= 0:
            return None
        w = np.array(list(seg.shares.values()))
        pi = np.array([max(ing["mv_full"][f"revenue_{k}"], 0.0) - max(ing_cur["mv_full"][f"revenue_{k}"], 0.0)
                       for k in seg.shares]) / w
        t = np.exp(np.clip(seg.mix_elasticity * pi / max(ing["S"], 1e-9), -3.0, 3.0))
        t = t / float(np.dot(w, t))
        return None if np.allclose(t, 1.0, rtol=0.0, atol=1e-12) else tuple(float(x) for x in t)

    def _help(self, ing: dict, ing_cur: dict) -> float:
        """Help effort h (1 = today): h^(gh-1) = MV_help(plan) / MV_help(current).

        The marginal value of help is ``kappa (n0 M + w D/N (1/N + s (N-1)/N))``:
        a norm ``n0`` times the marginal pay on one's own output today, ``M``,
        plus the team pool that teammates' extra output feeds (valued with the
        social weight ``s``). Under individual pay a rep earns nothing from a
        teammate's sales, so help rises with the team weight. Under a pool split
        by contribution the helped teammates' shares grow and the helper's
        falls: ``- w (1 - s) P / N^2`` more, the mirror of the share own output
        earns (docs/model.md, section 4.3).
        """
        bt = self.params.team
        if not bt.enabled or bt.help_productivity <= 0:
            return 1.0
        if ing_cur["N"] <= 1.0:  # a team of one: no teammate to help or be helped by
            return 1.0

        def mv(i):
            N = i["N"]
            own = 1.0 / N + i["sig"] * (N - 1.0) / N
            # today's motive to help (a norm) plus the team pool a teammate's extra output feeds
            team = i["D"] / N * own
            if i["w"] > 0 and i["rp"].team.split == "contribution":
                # the helped teammate's share of the pool grows, the helper's falls by P/N^2 (valued at 1 - s)
                team -= (1.0 - i["sig"]) * i["P"] / N**2
            return bt.help_productivity * (bt.help_norm * max(ing_cur["mv_ind"]["revenue"], 0.0) + i["w"] * team)

        m0, m1 = mv(ing_cur), mv(ing)
        if m0 <= 0:
            return 1.0
        m1 = m1 / help_rivalry(self.params.rivalry, ing, ing_cur)  # a dearer help is worth less per unit of cost
        ratio = max(m1, 0.0) / m0
        if abs(ratio - 1.0) <= 1e-12:  # rounding, not a motive: the mean field's output moves the pool in its last bits
            return 1.0
        return float(ratio) ** (1.0 / (bt.help_cost_exponent - 1.0))

    def _problem(self, plan: str, role: str, ing: dict, a: np.ndarray, k: np.ndarray) -> Problem:
        """The programme of NT types (expected attainment ``a``, cost scale ``k``, each (NT,)) under a plan."""
        scen, bp = self.scenario, self.params
        rp, TI, w = ing["rp"], ing["TI"], ing["w"]
        if rp.versions:
            return self._versioned_problem(plan, role, ing, a, k)
        prof_raw = revenue_profile(scen, role)
        prof = prof_raw / prof_raw.sum()
        qref = float(np.mean(ing["quota"]))
        st, outer = self.structures(rp, TI, qref)
        starts, ends, share, inc = _periods(prof, st)
        NT = len(a)
        terminal = [self._terminal(p, t, len(ends), ing, st, share, qref, a) for p, t in enumerate(ends)]
        elas_q = revenue_elasticity(scen, role)
        lin = np.broadcast_to(self._linear_money(role, ing, st, outer) * prof[None, :], (NT, MONTHS)).copy()
        if rp.spiffs:  # a SPIFF's window makes its months' output worth more
            lin += spiff_money_by_month(rp, self.cal.measures[role])[None, :]
        e_grid = np.exp(np.linspace(math.log(bp.effort.min_effort), math.log(bp.effort.max_effort), 21))
        timing = None
        if bp.timing.enabled:
            timing = (bp.timing.price_discount, bp.timing.max_pull, bp.timing.max_push)
        # next year's revenue is valued at its pay only: the non-money value of output belongs to the
        # effort that produced it (lin), not to the period it is booked in, so timing cannot create it
        nyv = np.full(NT, (1.0 - w) * max(ing["mv_ind"]["revenue"], 0.0))
        return Problem(
            a=a, k=k, starts=starts, ends=ends, inc=inc, prof=prof, terminal=terminal, lin=lin,
            eta=elas_q, g=bp.effort.cost_exponent, delta=bp.effort.monthly_discount, e_grid=e_grid,
            nodes=shock_nodes(scen, role, a), timing=timing, next_year_value=nyv,
            tau=np.full(NT, bp.effort.choice_noise * ing["S"] / MONTHS), risk=bp.effort.risk_aversion / ing["S"],
            present_bias=bp.effort.present_bias, lin_now=self._immediate_value(ing, prof, NT),
            outer=None if outer is None else self._outer(ing, outer, share, qref),
        )

    def structures(self, rp: RolePlan, TI: float, qref: float) -> tuple[Structure, Structure | None]:
        """The period structures of a role plan the programme tracks (:func:`simlib.model.plans.period_structures`):
        one, the primary, under present bias (its recursion holds one)."""
        if self.params.effort.present_bias != 1.0:
            return primary_structure(rp, TI, quota=qref), None
        return period_structures(rp, TI, quota=qref)

    def _outer(self, ing: dict, outer: Structure, share: np.ndarray, qref: float) -> Outer:
        """The year's pay beside the inner periods' (:class:`simlib.behaviour.kernels.Outer`)."""
        rp = ing["rp"]
        kept = 1.0
        if rp.clawback is not None and set(outer.names) & set(clawed_names(rp)):  # a share of the pay comes back
            kept = clawback_kept(rp, self.scenario.roles[ing["world"].name])
        table = year_pay_table(rp, outer, ing["TI"], ing["w"], qref, self._scorecard_other(ing), kept)
        cum = np.concatenate([[0.0], np.cumsum(share)[:-1]])
        return Outer(cum=cum, share=np.asarray(share, dtype=float), year_pay=table, year_y=YEAR_Y)

    def _versioned_problem(self, plan: str, role: str, ing: dict, a: np.ndarray, k: np.ndarray) -> Problem:
        """The programme under a plan with effective-dated versions (docs/model.md section 4.1, mid-year changes).

        Reps know the calendar: each segment of the year contributes the pay
        periods of its version's primary structure (one period over the
        segment for an annual or year-to-date one), each period's terminal
        pay on that version's terms (pay at target of an annual period
        prorated by months in force), and its months' linear money. The
        state is attainment against the version's quota: each month's
        increment, and a timing move's, carries the plan's quota over the
        version's (``ratio``). Backward induction then runs across the
        change, so a richer second half pulls effort and pushed deals into it.
        """
        scen, bp = self.scenario, self.params
        prof_raw = revenue_profile(scen, role)
        prof = prof_raw / prof_raw.sum()
        q_plan = float(np.mean(ing["quota"]))
        starts, ends, share, terms = [], [], [], []
        inc, ratio, lin = np.zeros(MONTHS), np.ones(MONTHS), np.zeros((len(a), MONTHS))
        for seg in segments(scen, plan, role):
            ing_s = self._own_terms(plan, role) if seg.plan == plan else self._ingredients(seg.plan, role)
            qref = float(np.mean(ing_s["quota"]))
            st = primary_structure(ing_s["rp"], ing_s["TI"], quota=qref)
            size = MONTHS if (st.ytd or st.period == "year") else MONTHS // PERIODS[st.period]
            firsts = [seg.first] if size == MONTHS else list(range(seg.first, seg.end, size))
            for s0 in firsts:
                t0 = seg.end - 1 if size == MONTHS else s0 + size - 1
                starts.append(s0)
                ends.append(t0)
                share.append(float(prof[s0 : t0 + 1].sum()))
                terms.append((ing_s, st, qref, seg.frac if size == MONTHS else 1.0))
            months = slice(seg.first, seg.end)
            ratio[months] = q_plan / qref
            lin[:, months] = self._linear_money(role, ing_s, st) * prof[None, months]
        for s0, t0, sh in zip(starts, ends, share, strict=True):
            inc[s0 : t0 + 1] = prof[s0 : t0 + 1] / sh * ratio[s0 : t0 + 1]
        shares = np.array(share)
        terminal = [self._terminal(p, t0, len(ends), {**ing_s, "TI": ing_s["TI"] * frac}, st, shares, qref, a)
                    for p, (t0, (ing_s, st, qref, frac)) in enumerate(zip(ends, terms, strict=True))]
        e_grid = np.exp(np.linspace(math.log(bp.effort.min_effort), math.log(bp.effort.max_effort), 21))
        timing = (bp.timing.price_discount, bp.timing.max_pull, bp.timing.max_push) if bp.timing.enabled else None
        last = terms[-1][0]
        nyv = np.full(len(a), (1.0 - last["w"]) * max(last["mv_ind"]["revenue"], 0.0))
        return Problem(
            a=a, k=k, starts=starts, ends=ends, inc=inc, prof=prof, terminal=terminal, lin=lin,
            eta=revenue_elasticity(scen, role), g=bp.effort.cost_exponent, delta=bp.effort.monthly_discount,
            e_grid=e_grid, nodes=shock_nodes(scen, role, a), timing=timing, next_year_value=nyv,
            tau=np.full(len(a), bp.effort.choice_noise * ing["S"] / MONTHS), ratio=ratio,
            risk=bp.effort.risk_aversion / ing["S"],
            present_bias=bp.effort.present_bias, lin_now=self._immediate_value(ing, prof, len(a)),
        )

    def _immediate_value(self, ing: dict, prof: np.ndarray, NT: int) -> np.ndarray | None:
        """The part of ``Problem.lin`` received in the month the output is made (NT, 12): the non-money value of
        output (section 4.1.3; the rest of ``lin`` is money paid later). None under exponential discounting."""
        if self.params.effort.present_bias == 1.0:
            return None
        return np.broadcast_to(self.params.effort.intrinsic * ing["S"] * prof[None, :], (NT, MONTHS)).copy()

    def _own_terms(self, plan: str, role: str) -> dict[str, Any]:
        """The money terms of a plan with versions on its own terms all year (its first segment's)."""
        data = self.scenario.plans[plan].model_dump(by_alias=True)
        for rp in data["roles"].values():
            rp.pop("versions", None)
        name = f"__{plan}__terms"
        return self._ingredients(name, role, scenario=self.scenario.with_plan(name, data))

    def _terminal(self, p: int, t: int, n: int, ing: dict, st: Structure, share: np.ndarray, qref: float,
                  a: np.ndarray) -> np.ndarray:
        """Money at the end of period ``p`` of ``n`` (last month ``t``) on the state grid, per type (NT, G).

        The utility of the period's individual pay, plus recognition at the
        year's last period end, minus the discounted cost of the quota an
        expected ratchet adds (``last_year`` quotas).
        """
        bp = self.params
        rp, TI, w = ing["rp"], ing["TI"], ing["w"]
        F = _period_pay(rp, st, TI, w, qref, share[p], self._scorecard_other(ing))
        if rp.clawback is not None and set(st.names) & set(clawed_names(rp)):  # a share of the pay comes back
            F = F * clawback_kept(rp, self.scenario.roles[ing["world"].name])
        floor = guarantee_floor(rp, st, t)
        if floor > 0:  # a guarantee: the period pays at least the draw, whatever the rep sells
            F = np.maximum(F, floor)
        if bp.effort.loss_aversion != 1.0:  # pay below the period's target pay weighs lambda (section 4.1.2)
            ref = _period_target_pay(rp, st, TI, w, qref, share[p], self._scorecard_other(ing))
            if rp.clawback is not None and set(st.names) & set(clawed_names(rp)):
                ref = ref * clawback_kept(rp, self.scenario.roles[ing["world"].name])
            F = gain_loss(F, max(ref, floor), bp.effort.loss_aversion)
        U = np.broadcast_to(F, (len(a), X_N)).copy()  # money: risk aversion is in the expectation (Problem.risk)
        rec = rp.recognition
        if rec is not None and rec.value > 0 and rec.measure == "revenue":
            expected = self.expected_revenue(ing["world"]) / np.maximum(ing["quota"], 1e-12)
            U += _recognition_prize(rec.value, rec.top_k, ing["pr_ind"].attainment, expected, share[p], a)
        if rp.programmes:
            expected = self.expected_revenue(ing["world"]) / np.maximum(ing["quota"], 1e-12)
            U += programme_prizes(rp, ing["pr_ind"].attainment, expected, share[p], a)
        if bp.ratchet.enabled and rp.quota.method == "last_year":
            lam = (1.0 - w) * max(ing["mv_ind"]["revenue"], 0.0)
            months_left = MONTHS - t
            pen = bp.ratchet.up * np.maximum(X_GRID - 1.0, 0.0) - bp.ratchet.down * np.maximum(1.0 - X_GRID, 0.0)
            U -= bp.effort.monthly_discount**months_left * lam * share[p] * pen[None, :]
        return U

    def _scorecard_other(self, ing: dict) -> dict[str, float]:
        """Mean composite points of each revenue scorecard's other measures in the calibration sample, by name."""
        rp, world = ing["rp"], ing["world"]
        prof = revenue_profile(self.scenario, world.name)
        kinds = world.role.measure_kinds
        meas = dict(self.cal.measures[world.name])
        return {sc.name: float(np.mean(scorecard_points_without(sc, "revenue", kinds, meas, ing["quota"],
                                                                rp.quota.level, prof)))
                for sc in revenue_scorecards(rp)}

    def _linear_money(self, role: str, ing: dict, st: Structure, outer: Structure | None = None) -> float:
        """Money per year per unit of output that is nearly linear in it (``l`` before spreading over months).

        Revenue components outside the structures the programme tracks (the
        primary, or the inner and outer ones), other measures (each at
        :func:`output_elasticity`, how production moves it per log of
        output), team pay seen through one's own share, and the non-money
        value of output.
        """
        w = ing["w"]
        tracked = st.names + (() if outer is None else outer.names)
        lin_year = sum(v for c, v in ing["comp_ind"].items() if c not in tracked) * (1.0 - w)
        r = self.scenario.roles[role]
        for kname, v in ing["mv_ind"].items():
            if kname == "revenue":
                continue
            lin_year += (1.0 - w) * v * output_elasticity(self.scenario, role, kname, measure_elasticities(r))
        lin_year += ing["team_lin"]
        lin_year += self.params.effort.intrinsic * ing["S"]
        return lin_year

    # -- normalisation: effort cost under the current plan ---------------------
    def _cost_scale(self, role: str) -> tuple[np.ndarray, dict]:
        """k on C_GRID such that under the current plan E[e^eta] = 1 along the year."""
        if role in self._k:
            return self._k[role]
        shared = self._sample_key("k", role)  # k is made from the calibration sample: shared as it is
        hit = None if shared is None else _SHARED.get(shared)
        if hit is not None:
            self._k[role] = hit
            return hit
        cur = self.scenario.current_plan
        ing = self._ingredients(cur, role)
        eta, g = revenue_elasticity(self.scenario, role), self.params.effort.cost_exponent
        a = C_GRID.copy()
        # first guess: linearised marginal value of output at e = 1
        lin0 = max(ing["mv_ind"]["revenue"], 0.0) + self.params.effort.intrinsic * ing["S"] + ing["team_lin"]
        k = np.full(len(a), max(lin0 * eta, 1e-6))
        if self.params.effort.normalise:
            k0 = k
            k = self._bisect_k(cur, role, ing, a, k, eta, g)
            k, ing = self._normalise_lift(cur, role, ing, a, k, k0)
        self._k[role] = (k, ing)
        if shared is not None:
            _share(shared, self._k[role])
        return self._k[role]

    def _mean_output(self, plan, role, ing, a, k, lift: np.ndarray | None = None) -> np.ndarray:
        """Mean output multiplier along the year per type (NT,), at least 1e-9."""
        return np.maximum(kernels.solve(lifted(self._problem(plan, role, ing, a, k), lift)).mean_output, 1e-9)

    def _normalise_lift(self, cur, role, ing, a, k, k0, tol=1e-3) -> tuple[np.ndarray, dict]:
        """Where no cost scale gives today's output (a type's effort stays below it even when free: today's plan
        pays less for more output at the margin, e.g. a modifier falling in a score measure), that type keeps its
        first-guess cost scale ``k0`` and gets a non-money value of output (``ing["lift"]``, money per year per unit
        of output, spread as revenue) found by bisection so that today's plan gives today's output (docs/model.md
        4.3). Every plan's programme carries it (:func:`lifted`). Types the cost scale normalises get none."""
        m = self._mean_output(cur, role, ing, a, k)
        low = m < 1.0 - tol
        if not low.any():
            return k, ing
        k = np.where(low, k0, k)
        lo, hi = np.zeros(len(a)), np.full(len(a), max(float(ing["S"]), 1.0))
        for _ in range(40):  # a bracket: output at ``hi`` at least one
            m = self._mean_output(cur, role, ing, a, k, np.where(low, hi, 0.0))
            short = low & (m < 1.0)
            if not short.any():
                break
            lo, hi = np.where(short, hi, lo), np.where(short, 2.0 * hi, hi)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            m = self._mean_output(cur, role, ing, a, k, np.where(low, mid, 0.0))
            done = np.abs(m - 1.0) < tol
            if np.all(done | ~low):
                break
            lo = np.where(done, mid, np.where(m < 1.0, mid, lo))
            hi = np.where(done, mid, np.where(m < 1.0, hi, mid))
        return k, {**ing, "lift": np.where(low, mid, 0.0)}

    def _bisect_k(self, plan, role, ing, a, k, eta, g, tol=1e-3):
        """Find k per type with mean output one: safeguarded secant in log k (output falls as k rises)."""
        el = -eta / max(g - eta, 1e-6)  # d log(output) / d log(k) of an interior optimum
        lk = np.log(k)
        m = self._mean_output(plan, role, ing, a, k)
        lo = np.full(len(a), -np.inf)  # log k known to give output > 1
        hi = np.full(len(a), np.inf)  # log k known to give output < 1
        prev_lk, prev_m = None, None
        for _ in range(40):
            err = np.log(m)
            if np.max(np.abs(m - 1.0)) < tol:
                break
            lo = np.where(m > 1.0, np.maximum(lo, lk), lo)
            hi = np.where(m < 1.0, np.minimum(hi, lk), hi)
            slope = np.full(len(a), el)
            if prev_lk is not None:
                dl = lk - prev_lk
                with np.errstate(divide="ignore", invalid="ignore"):
                    sec = (err - np.log(prev_m)) / dl
                ok = np.isfinite(sec) & (sec < -1e-3) & (np.abs(dl) > 1e-12)
                slope = np.where(ok, sec, slope)
            step = np.clip(-err / slope, -3.0, 3.0)
            new = lk + step
            both = np.isfinite(lo) & np.isfinite(hi)
            outside = both & ((new <= lo) | (new >= hi))
            new = np.where(outside, 0.5 * (lo + hi), new)
            new = np.where(np.abs(m - 1.0) < tol, lk, new)  # converged types stay put
            prev_lk, prev_m = lk, m
            lk = new
            m = self._mean_output(plan, role, ing, a, np.exp(lk))
        return np.exp(lk)

    # -- solve a role under a plan --------------------------------------------
    def solve(self, plan: str, role: str) -> RoleSolution:
        """Solve (and cache) a role's behaviour under a plan on the type grid."""
        hit = self._cached(plan, role)
        if hit is not None:
            return hit
        rs = self._solve_mean_field(plan, role)
        self.adopt(plan, role, rs)
        return rs

    def _solve_mean_field(self, plan: str, role: str) -> RoleSolution:
        """Solve with teammates at their equilibrium output: iterate the mean-field ``omega`` to a fixed point."""
        scen, bp = self.scenario, self.params
        k_c, ing_cur = self._cost_scale(role)
        is_cur = plan == scen.current_plan
        omega, last = 1.0, None
        iters = bp.team.iterations if (bp.team.enabled and scen.role_plan(plan, role).team.weight > 0) else 0
        for it in range(iters + 1):
            ing = ing_cur if (is_cur and it == 0 and omega == 1.0) else self._ingredients(plan, role, omega)
            rs, sol = self._solve_types(plan, role, ing, ing_cur, k_c)
            if it < iters:
                omega_new = self._population_mean(plan, role, sol, rs.a_grid, rs.c_grid, rs.rev_focus * rs.help_mult)
                if abs(omega_new - omega) < 1e-3:
                    break
                omega, last = mean_field_step(omega, omega_new, last), (omega, omega_new - omega)
        rs.info["omega"] = omega
        return rs

    def _solve_types(self, plan: str, role: str, ing: dict, ing_cur: dict, k_c: np.ndarray) -> tuple[RoleSolution, Solution]:
        """The programme of every type under a plan with given money terms ``ing``, solved.

        Under the current plan the types are :data:`C_GRID`; under another
        plan, :data:`C_GRID` times its attainment ratio nodes, each type with
        its current-plan cost scale and the plan's focus and help multipliers.
        """
        bp = self.params
        is_cur = plan == self.scenario.current_plan
        f, rev_f = self._focus(ing, ing_cur, role) if not is_cur else (1.0, 1.0)
        if not is_cur:  # reps know the selling time a plan's projects take (docs/model.md section 3, projects)
            rev_f = rev_f * self._project_time(plan, role)
        h = self._help(ing, ing_cur) if not is_cur else 1.0
        hm = 1.0 + bp.team.help_productivity * revenue_elasticity(self.scenario, role) * (h - 1.0) if bp.team.enabled else 1.0
        if is_cur:
            a_grid, c_grid = C_GRID, np.array([1.0])
            a_types, k_types = C_GRID, k_c
        else:
            a_grid, c_grid = C_GRID, self._ratio_grid(plan, role)
            a_types = np.repeat(C_GRID, len(c_grid)) * np.tile(c_grid, len(C_GRID))
            k_types = np.repeat(k_c, len(c_grid))
        lift = ing_cur.get("lift")
        lift_types = None if lift is None else (lift if is_cur else np.repeat(lift, len(c_grid)))
        pb = lifted(self._problem(plan, role, ing, a_types * rev_f * hm, k_types), lift_types)
        sol = kernels.solve(pb)
        NA, NC = len(a_grid), len(c_grid)
        ny = () if pb.outer is None else (len(R_OUTER),)
        rs = RoleSolution(
            effort=sol.effort.reshape(NA, NC, *ny, MONTHS, X_N),
            shift=sol.shift.reshape(NA, NC, *ny, MONTHS, X_N),
            a_grid=a_grid, c_grid=c_grid, starts=pb.starts, ends=pb.ends, inc=pb.inc, prof=pb.prof,
            focus=f, help=h, help_mult=hm, rev_focus=rev_f, mix=None if is_cur else self._mix(ing, ing_cur, role),
            info=dict(mean_output=sol.mean_output.reshape(NA, NC)), ratio=pb.ratio,
            outer=None if pb.outer is None else (R_OUTER, pb.outer.cum),
        )
        return rs, sol

    def _ratio_grid(self, plan: str, role: str) -> np.ndarray:
        """Nodes of the second type dimension (attainment ratio, candidate over current plan).

        The ratio is ``q_current / q_plan`` per rep. When the calibration sample
        shows one value for every rep (same quota method and noise, e.g. a
        different level), a single node at that value is exact and the
        programme has 9 types instead of 81; otherwise ``R_GRID``.
        """
        world = self.cal.worlds[role]
        q_new = set_quotas(self.scenario, plan, world)
        q_cur = set_quotas(self.scenario, self.scenario.current_plan, world)
        ratio = q_cur / np.maximum(q_new, 1e-12)
        lo, hi = float(ratio.min()), float(ratio.max())
        if lo > 0 and hi / lo - 1.0 < 1e-9:
            return np.array([0.5 * (lo + hi)])
        return R_GRID

    def _population_mean(self, plan, role, sol, a_grid, c_grid, mult) -> float:
        """Mean output multiplier of the role's reps (calibration sample) under a solution."""
        world = self.cal.worlds[role]
        er = self.expected_revenue(world)
        a_new = er / np.maximum(set_quotas(self.scenario, plan, world), 1e-12)
        a_cur = er / np.maximum(set_quotas(self.scenario, self.scenario.current_plan, world), 1e-12)
        mo = sol.mean_output.reshape(len(a_grid), len(c_grid))
        vals = bilinear(mo[:, :, None], a_grid, c_grid, a_cur.ravel(), (a_new / a_cur).ravel())[:, 0] * mult
        return float(np.mean(vals))

    # -- the engine's hook -------------------------------------------------------
    def policy(self, plan: str, world: RoleWorld, quota: np.ndarray) -> DynamicPolicy | None:
        """Policy of a role's reps under a plan for a chunk of trials (quotas (T, R), money).

        Under the current plan (or a plan whose role plan is the same) the
        policy only records: today's behaviour is what the baseline (effort 1)
        already reproduces, so the current plan gives exactly the ``none``
        numbers, while the model-implied levels of give-up, coasting and
        discounting are still reported. None when every part of the model is
        switched off.
        """
        bp = self.params
        if not (bp.effort.enabled or bp.timing.enabled or bp.multitask.enabled or bp.team.enabled):
            return None
        cur = self.scenario.current_plan
        rc = self.solve(cur, world.name)
        same = self.todays_terms(plan, world.name)
        rs = rc if same else self.solve(plan, world.name)
        er = self.expected_revenue(world)
        q_cur = set_quotas(self.scenario, self.scenario.current_plan, world)
        a_new = er / np.maximum(quota, 1e-12)
        a_cur = er / np.maximum(q_cur, 1e-12)
        pulls = () if rs is rc else net_pulls(self.spiff_pulls(plan, world.name), self.spiff_pulls(cur, world.name))
        pol = DynamicPolicy(bp, rs, rc, world, quota, q_cur, a_cur, a_new / a_cur, rs.rev_focus * rs.help_mult, er,
                            record_only=rs is rc, relief=self._relief(plan, world), spiff_pulls=pulls)
        if not pol.record_only:
            pol.project_effort = self.project_effort(plan, world.name)
        pol.statements = (statement_months(self.scenario.role_plan(plan, world.name)),
                          statement_months(self.scenario.role_plan(self.scenario.current_plan, world.name)))
        return pol

    def project_effort(self, plan: str, role: str) -> float:
        """Effort on the role plan's team project, 1 = the planned effort (docs/model.md section 3, projects).

        A rep keeps ``kept = (1 - w_s) + w_s (1 + sigma) / N`` of the project
        pay's incentive (``w_s`` its shared weight; the shared part is free
        ridden like team pay, :func:`_teammate_weight`). With project output
        ``p^beta`` and cost ``k p^g / g``, scaled so that a rep who kept all of
        it would work the planned effort, ``p = (kept_P / kept_C)^(1/(g - beta))``
        against today's plan (``kept_C = 1`` when today's plan has no projects).
        """
        rp = self.scenario.role_plan(plan, role)
        if rp.projects is None or not self.params.effort.enabled:
            return 1.0
        cur = self.scenario.role_plan(self.scenario.current_plan, role)
        ref = 1.0 if cur.projects is None else self._project_kept(cur, role)
        g, beta = self.params.effort.cost_exponent, self.scenario.roles[role].effort_elasticity
        p = (self._project_kept(rp, role) / ref) ** (1.0 / max(g - beta, 1e-6))
        return float(np.clip(p, self.params.effort.min_effort, self.params.effort.max_effort))

    def _project_time(self, plan: str, role: str) -> float:
        """Selling time left under a plan's projects over that under today's plan (1 without projects in either)."""
        left = [1.0 if rp.projects is None else 1.0 - rp.projects.share_of_effort
                for rp in (self.scenario.role_plan(plan, role), self.scenario.role_plan(self.scenario.current_plan, role))]
        return left[0] / left[1]

    def _project_kept(self, rp: RolePlan, role: str) -> float:
        """Share of the project pay's incentive a rep keeps (1 - shared weight, plus the shared part as team pay)."""
        bt = self.params.team
        n = team_members(self.scenario, role)
        sig = _teammate_weight(bt.social_weight, n) if bt.enabled else 0.0
        ws = rp.projects.shared_weight
        return (1.0 - ws) + ws * (1.0 / n + sig * (n - 1.0) / n)

    def spiff_pulls(self, plan: str, role: str) -> tuple[SpiffPull, ...]:
        """Deals a plan's SPIFFs pull into their windows from the month after (docs/model.md section 4.4).

        At a window's last month ``w`` (before December) reps close ``max_pull``
        months of the next month's expected revenue early when a unit of
        revenue pulled gains more than it costs:

            gain = kept x rate x u (x (1 - price_discount) for a revenue SPIFF)
            cost = price_discount x (marginal pay of revenue, SPIFFs left out, per unit of revenue)

        ``u`` the SPIFF measure per unit of revenue in month ``w + 1`` and
        ``kept`` the share of its money that minimums and the budget leave, in
        the calibration sample; the decision is the role's (all reps pull, or
        none). Nothing without SPIFFs or with timing off.
        """
        rp = self.scenario.role_plan(plan, role)
        bp = self.params
        if not rp.spiffs or not bp.timing.enabled:
            return ()
        if (plan, role) not in self._pulls:
            self._pulls[(plan, role)] = self._spiff_pulls(plan, role)
        return self._pulls[(plan, role)]

    def _spiff_pulls(self, plan: str, role: str) -> tuple[SpiffPull, ...]:
        rp, d = self.scenario.role_plan(plan, role), self.params.timing.price_discount
        meas = self.cal.measures[role]
        ing = self._ingredients(plan, role)
        names = {sp.name for sp in rp.spiffs}
        rev_year = float(np.mean(meas["revenue"].sum(axis=-1)))
        mv = (1.0 - ing["w"]) * sum(v for c, v in ing["comp_ind"].items() if c not in names)
        cost = d * max(mv, 0.0) / max(rev_year, 1e-12)
        out = []
        for sp in rp.spiffs:
            w = sp.end - 1
            if w + 1 >= MONTHS:
                continue
            rev_next = float(np.mean(meas["revenue"][..., w + 1]))
            per_rev = 1.0 if sp.measure == "revenue" else float(np.mean(meas[sp.measure][..., w + 1])) / max(rev_next, 1e-12)
            full = sp.rate * float(np.mean(meas[sp.measure][..., sp.start - 1 : sp.end].sum(axis=-1)))
            kept = float(np.mean(spiff_pay(sp, dict(meas)))) / full if full > 0 else 0.0
            gain = kept * sp.rate * per_rev * ((1.0 - d) if sp.measure == "revenue" else 1.0)
            if gain > cost:
                out.append(SpiffPull(w, self.params.timing.max_pull, sp.measure, per_rev))
        return tuple(out)

    def _relief(self, plan: str, world: RoleWorld) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Quota-relief paths (T, 12) the reps know under the plan and under the current plan (None: no rule)."""
        g = self.scenario.market.growth_mean
        out = []
        for p in (plan, self.scenario.current_plan):
            rp = self.scenario.role_plan(p, world.name)
            out.append(None if rp.quota_relief is None else relief_factor(rp, world, g))
        return out[0], out[1]


#: solutions shared by content across model objects in this process (a sweep's variant scenarios, an optimiser
#: coming back to a plan, the explorer moving one slider): keyed by the organisation, market, behaviour,
#: current plan and the role's plan, bounded in entries and bytes
_SHARED = ContentCache(max_items=2048, max_bytes=512e6)


def lifted(pb: Problem, lift: np.ndarray | None) -> Problem:
    """``pb`` with a per-type non-money value of output ``lift`` (NT,) (money per year per unit of output, spread as
    the revenue profile, received in the month it is earned) added to its linear value; unchanged without one."""
    if lift is None or not np.any(lift):
        return pb
    add = lift[:, None] * pb.prof[None, :]
    return dataclasses.replace(pb, lin=pb.lin + add, lin_now=None if pb.lin_now is None else pb.lin_now + add)


def _nbytes(value: Any) -> float:
    """Bytes of the arrays a cached value holds (a RoleSolution, or a cost scale and its ingredients)."""
    if isinstance(value, RoleSolution):
        return float(value.effort.nbytes + value.shift.nbytes) * 2.0  # and the flattened tables made from them
    if isinstance(value, np.ndarray):
        return float(value.nbytes)
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    if isinstance(value, Calibration):
        # about 20 rep-month arrays per rep (measures, some computed on demand, and the worlds): estimated, not
        # read, so that no measure is computed here
        return sum(float(w.role.headcount) for w in value.worlds.values()) * CAL_TRIALS * 12 * 8.0 * 20
    return 1e3


def _share(key: tuple, value: Any) -> None:
    _SHARED.put(key, value, _nbytes(value))


def clear_solutions() -> None:
    """Forget every solution made in this process (benchmarks time a cold set-up with it)."""
    _SHARED.clear()
    _MODELS.clear()


_MODELS: dict[str, DynamicBehaviour] = {}


def dynamic(scenario: Scenario) -> DynamicBehaviour:
    """Factory registered as behaviour ``'dynamic'``; reuses solutions for the same scenario in a process."""
    key = scenario.sha256 or str(id(scenario))
    m = _MODELS.get(key)
    if m is None:
        if len(_MODELS) > 16:
            _MODELS.clear()
        m = _MODELS[key] = DynamicBehaviour(scenario)
    return m
