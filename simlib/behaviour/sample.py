"""The calibration sample of the ``dynamic`` model, and marginal values of measures (docs/model.md, section 4.6).

The money terms of a rep's programme (marginal pay of each measure, team
pools, recognition thresholds) are measured on a small baseline sample of
each role: :data:`CAL_TRIALS` trials drawn from the fixed seed
:data:`CAL_SEED` at today's effort, paid through the same
:func:`simlib.model.plans.compute_pay` as the engine. The seed is fixed, so
solutions do not depend on the user's seed or the chunking.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from simlib.memo import by_identity
from simlib.model.pipeline import worlds
from simlib.model.plans import PayResult, compute_pay
from simlib.model.population import Layout, RoleWorld, draw_chunk
from simlib.model.production import run_year
from simlib.scenario import RolePlan, Scenario

#: fixed seed and size of the calibration sample (marginal values of measures)
CAL_SEED, CAL_TRIALS = 20240611, 16
#: log-scale spread of the smoothing of a continuous flow's marginal pay (:func:`flow_marginal`): a kernel
#: bandwidth for a few hundred rep-years of log attainment spread about 0.2
FLOW_SIGMA = 0.05
#: spacing (in units of ``FLOW_SIGMA``) and reach of the lattice of shifts :func:`flow_marginal` reads pay at
#: (trapezoid rule on the normal kernel, 20 or 21 points: exact to rounding for smooth pay; tails past
#: ``FLOW_REACH`` weigh < 1e-7)
FLOW_SPACING, FLOW_REACH = 0.6, 6.0


@dataclass
class Calibration:
    """A small fixed-seed baseline sample of each role (today's effort everywhere).

    Attributes
    ----------
    worlds : role -> RoleWorld of :data:`CAL_TRIALS` trials.
    measures : role -> today's measures, each (CAL_TRIALS, R, 12).
    """

    worlds: dict[str, RoleWorld]
    measures: dict[str, Mapping[str, np.ndarray]]

    @classmethod
    def of(cls, scenario: Scenario) -> Calibration:
        """Draw the sample of ``scenario`` (the same numbers for the same scenario, always)."""
        draws = draw_chunk(Layout.of(scenario), np.random.SeedSequence(CAL_SEED), np.arange(CAL_TRIALS))
        ws = worlds(scenario, draws)
        return cls(ws, {r: run_year(w) for r, w in ws.items()})


@by_identity(maxsize=64)
def team_variant(scenario: Scenario, plan: str, weight: float) -> tuple[Scenario, str]:
    """The scenario with a copy of ``plan`` whose team weight is ``weight`` for every role, and its name.

    Memoised on the (frozen) scenario's identity: every role and every mean-field
    iteration of a plan's solution asks for the same variant, and validating a
    scenario of many plans (a sweep's 40 points at once) is most of a solution's cost.
    """
    data = scenario.plans[plan].model_dump(by_alias=True)
    for rp in data["roles"].values():
        rp["team"] = {"weight": weight, "split": rp["team"]["split"]}
    name = f"__{plan}__team{weight:g}"
    return scenario.with_plan(name, data), name


def marginal_values(scenario: Scenario, plan: str, role: str, world: RoleWorld, measures: Mapping[str, np.ndarray],
                    quota: np.ndarray, scale: float = 1.0,
                    rel: float = 0.02) -> tuple[dict[str, float], dict[str, float], PayResult]:
    """Marginal pay of each measure: ``d E[incentive + recognition] / d log(measure)`` per rep, money per year.

    Revenue and other continuous flows by :func:`flow_marginal` (smoothed), a count measure by
    :func:`count_marginal`, a score by a finite difference of ``rel`` of its mean (:func:`raise_score`).
    ``scale`` multiplies every flow measure first (teammates' equilibrium
    output, mean field). Returns the marginal values by measure, those of
    revenue by pay component, and the pay at the unperturbed measures.
    """
    kinds = world.role.measure_kinds
    base = {k: (v * scale if kinds[k] == "flow" else v) for k, v in measures.items()}

    rp = scenario.role_plan(plan, role)

    def pay(ms):
        pr = compute_pay(scenario, plan, world, ms, quota)
        kept = pr.incentive + pr.recognition + (other_programmes(rp, pr) if rp.programmes else 0.0)
        if pr.draw is not None:  # a draw balance carried into next year is paid back: the rep does not keep it
            kept = kept - pr.draw.outstanding
        if pr.clawback is not None:  # nor is a clawback balance carried into next year
            kept = kept - pr.clawback.outstanding
        return kept, pr

    p0, pr0 = pay(base)
    out, comps = {}, {}
    for k in kinds:
        if k != "revenue" and kinds[k] == "flow" and whole_counts(measures[k]):
            out[k] = count_marginal(lambda ms: pay(ms)[0], base, k, measures[k], scale, p0, rel)
            continue
        if kinds[k] == "flow":  # revenue and other continuous flows: the smoothed derivative
            if k == "revenue":
                out[k], comps = flow_marginal(pay, base, k, (p0, pr0), by_component=True,
                                              anchor=flow_anchor(measures[k], scale, quota))
            else:
                out[k] = flow_marginal(lambda ms: pay(ms)[0], base, k, p0, anchor=flow_anchor(None, scale))
            continue
        ms = dict(base)
        ms[k] = raise_score(k, base[k], rel)
        out[k] = _beyond_rounding(pay(ms)[0], p0) / math.log1p(rel)
    return out, comps, pr0


def flow_anchor(measure: np.ndarray | None, scale: float, quota: np.ndarray | None = None) -> float:
    """What multiplies every attainment of a flow, in logs (the lattice anchor of :func:`flow_marginal`): the
    mean-field ``scale``, times the sample's mean yearly revenue over its mean quota for revenue (``measure`` and
    ``quota`` given). A quota level's or the mean field's move moves it by its log. Money x1000 moves revenue and
    quota alike and leaves it where it was; another flow's thresholds are amounts of it, so its own size is left
    out (money x1000 would move the shifts under them)."""
    out = _log_or_zero(scale)
    if measure is not None and quota is not None:
        year, q = np.asarray(measure, dtype=float).sum(axis=-1), np.asarray(quota, dtype=float)
        out += _log_or_zero(float(np.mean(year)) if year.size else 0.0)
        out -= _log_or_zero(float(np.mean(q)) if q.size else 0.0)
    return out


def _log_or_zero(x: float) -> float:
    return math.log(x) if x > 0 and math.isfinite(x) else 0.0


#: score measures whose rep-month values leave [0, 1], and how production raises them (docs/model.md 4.6):
#: ``market_share`` (revenue / the territory's market) exceeds 1 for a rep outselling their market, so it is
#: scaled without a cap; ``retention`` (``1 - 12 lost / book``) is below 0 in a month that loses more than a
#: twelfth of the book, and care raises it by losing fewer customers, so its shortfall from 1 shrinks
UNCAPPED_SCORES, SHORTFALL_SCORES = frozenset({"market_share"}), frozenset({"retention"})


def raise_score(k: str, x: np.ndarray, rel: float) -> np.ndarray:
    """Score measure ``k``'s rep-months ``x`` raised by ``rel`` of their mean, as production raises them.

    A rate bounded by 1 (satisfaction, record accuracy, conversion rate) is scaled by ``1 + rel`` and capped at
    1 (a rep at 1 cannot do better); :data:`UNCAPPED_SCORES` are scaled without the cap; :data:`SHORTFALL_SCORES`
    keep 1 as their best and lose ``delta`` of their shortfall ``1 - x``, ``delta = rel mean(x) / mean(1 - x)``,
    so no month falls and the mean rises by ``rel`` (scaling a month at 0 or below moved it nowhere or down).
    With no shortfall, or a mean at or below 0 (no log to raise), ``x`` is returned as it is.
    """
    if k in UNCAPPED_SCORES:
        return x * (1 + rel)
    if k in SHORTFALL_SCORES:
        short, mean = 1.0 - x, float(np.mean(x))
        gap = float(np.mean(short))
        if gap <= 0 or mean <= 0:
            return x
        return 1.0 - short * (1.0 - min(rel * mean / gap, 1.0))
    return np.minimum(x * (1 + rel), 1.0)


def flow_marginal(pay, base: Mapping[str, np.ndarray], k: str, p0, by_component: bool = False,
                  anchor: float = 0.0):
    """``d E[pay] / d log(measure)`` of a continuous flow ``k``, smoothed: the derivative in ``s`` at 0 of
    ``E[pay(measure e^(s + FLOW_SIGMA Z))]``, ``Z`` standard normal, by the trapezoid rule on a lattice of shifts
    ``z_j`` (weights ``w_j = phi(z_j)``) of spacing :data:`FLOW_SPACING` out to :data:`FLOW_REACH`:

        sum_j w_j z_j (E[pay(e^(sigma z_j) m)] - E[pay(m)])  /  sum_j w_j z_j e^(sigma z_j)

    exact for pay proportional to the measure (``d pay / d log m`` is the pay) and 0 for pay that does not move
    with it. A step in pay is read through every rep-year within a few ``FLOW_SIGMA`` of it, weighted by the
    normal density, instead of through the few within 2% below it: a forward difference of 2% was a count of
    those few and jumped as a threshold moved (docs/model.md section 4.6). No random numbers: the same sample
    gives the same value.

    The lattice is fixed in ``anchor + sigma z`` (``anchor``: the log of what multiplies every attainment of the
    measure, :func:`flow_anchor`), not in ``z``: a move of the anchor moves the shifts
    with it, so a rep-year's or team-year's attainment that sits at a pay step at one shift stays there and only
    the continuous weights ``phi(z_j)`` move. On fixed Gauss-Hermite nodes a team-year crossing a retroactive tier
    at one of 12 shifts entered the derivative whole: a quota level x0.99999 moved a team pool's ``D`` 0.54%
    and the plan's cost 1.22% (docs/model.md 6.2, seed 52 case 27).

    ``pay(ms)`` returns the pay per rep-year, or with ``by_component`` a pair (pay, :class:`PayResult`) and ``p0``
    the pair at ``base``; then returns the marginal pay and that of each pay component.
    """
    z, w = flow_shifts(anchor)
    den = float(np.sum(w * z * np.exp(FLOW_SIGMA * z)))
    total, comps = 0.0, {}
    for zj, wj in zip(z, w, strict=True):
        got = pay({**base, k: base[k] * math.exp(FLOW_SIGMA * zj)})
        if by_component:
            (p, pr), (q, pr0) = got, p0
            for c in pr0.components:
                comps[c] = comps.get(c, 0.0) + wj * zj * _beyond_rounding(pr.components[c], pr0.components[c])
        else:
            p, q = got, p0
        total += wj * zj * _beyond_rounding(p, q)
    if by_component:
        return total / den, {c: v / den for c, v in comps.items()}
    return total / den


def flow_shifts(anchor: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The shifts ``z_j`` (in units of ``FLOW_SIGMA``) and normal weights of :func:`flow_marginal`: the lattice
    ``anchor + FLOW_SIGMA z_j`` in ``FLOW_SIGMA FLOW_SPACING`` steps, every point with ``|z_j| <= FLOW_REACH``.

    The lattice's points move with ``anchor`` and only its end points enter or leave, at weights below 1e-7 of
    the total, so the estimate is continuous in ``anchor`` to that (read on a grid of 2^-30 in logs, so that the
    rounding of an anchor moved by money x1000 reads the same shifts).
    """
    if not math.isfinite(anchor):
        raise ValueError(f"flow_marginal: anchor must be a finite log of a scale, got {anchor!r}")
    # on a grid of 2^-30 (1e-9 in logs): money x1000 moves the anchor's rounding, not the shifts read
    anchor = round(anchor * 2.0**30) / 2.0**30
    offset = (anchor / FLOW_SIGMA) / FLOW_SPACING
    lo = math.ceil(-FLOW_REACH / FLOW_SPACING + offset)
    hi = math.floor(FLOW_REACH / FLOW_SPACING + offset)
    z = (np.arange(lo, hi + 1) - offset) * FLOW_SPACING
    w = np.exp(-0.5 * z * z)
    return z, w / w.sum()


def whole_counts(x: np.ndarray) -> bool:
    """Whether a flow measure of the sample is a count (every value a whole number): its marginal pay is taken by
    :func:`count_marginal`, not by scaling it (docs/model.md section 4.6)."""
    return bool(np.all(x == np.round(x)))


def count_marginal(pay, base: Mapping[str, np.ndarray], k: str, counts: np.ndarray, scale: float,
                   p0: np.ndarray, rel: float = 0.02) -> float:
    """``d E[pay] / d log(rate)`` of a count measure ``k`` (months on the last axis): ``E[N (pay(n) - pay(n -
    e_M))]``, ``N`` a rep-year's count and ``M`` one of its units' months drawn with chance ``n_m / N`` (fixed seed).

    Its mean is ``sum_m E[n_m (pay(n) - pay(n - e_m))]``, exact for counts Poisson given their rate (``E[f(N)]``
    moves with ``log lambda`` by ``E[N (f(N) - f(N - 1))]``), and ``n f'(n)`` for large counts, as the scaling of a
    continuous measure gives; drawing the month keeps it to one pay evaluation. Scaling a count by ``1 + rel``
    instead read a pay step between ``n`` and ``n (1 + rel)`` (a curve's threshold at 1.00001 accounts: at a quota
    level 1.00001 times today's) as a motive 50 times its worth, and one at a whole number as none. ``base`` holds
    ``counts`` times ``scale`` (teammates' output in the mean field): a unit fewer is ``scale`` fewer there.

    A rep-year of more than ``1 / rel`` units (calls: thousands) loses ``rel`` of every month instead of one unit,
    weighted ``1 / rel`` in place of ``N``: the same derivative, but a step in pay is then read through the ``rel N``
    units below it, not through the one unit that lands on it. One unit of thousands meets a step in a few
    rep-years of the sample, so the estimate was a count of those few and jumped with any change of the scenario
    (the telesales calls band of ``scorecards.yaml``'s ``scorecard``: revenue +7% between quota levels 1.01 and
    1.02; docs/model.md 4.13.3).
    """
    total = counts.sum(axis=-1)
    units = np.maximum(1.0, rel * total)  # units taken away: one, or rel of a large count
    u = np.random.default_rng(CAL_SEED).random(total.shape) * total
    month = np.minimum((np.cumsum(counts, axis=-1) <= u[..., None]).sum(axis=-1), counts.shape[-1] - 1)
    less = base[k].copy()
    drop = np.take_along_axis(less, month[..., None], axis=-1) - np.where(total > 0, scale, 0.0)[..., None]
    np.put_along_axis(less, month[..., None], drop, axis=-1)
    less = np.where((units > 1.0)[..., None], base[k] * (1.0 - rel), less)
    weight = total / units
    return _beyond_rounding(weight * p0, weight * pay({**base, k: less}))


#: a mean change of pay below this fraction of the pay's mean size is the rounding of its arithmetic, not pay
ROUNDING = 1e-12


def _beyond_rounding(p1: np.ndarray, p0: np.ndarray) -> float:
    """``mean(p1 - p0)``, or 0 where that is within :data:`ROUNDING` of the pay's mean size: a draw's or clawback's
    cash adds and subtracts amounts that cancel, and the rounding left (1e-8 on pay in millions) would otherwise
    read as a motive under one scale of money and not under another (docs/model.md section 6.2)."""
    d = float(np.mean(p1 - p0))
    return 0.0 if abs(d) <= ROUNDING * float(np.mean(np.abs(p0))) else d


def other_programmes(rp: RolePlan, pr: PayResult) -> np.ndarray | float:
    """Money-equivalent (T, R) of the role plan's promotions and honours on measures other than revenue.

    Those reach effort through their measures' marginal pay; programmes on
    revenue are prizes of the state (simlib.behaviour.dynamic.programme_prizes).
    """
    if pr.programmes is None:
        return 0.0
    return sum((pr.programmes.by_name[p.name] for p in rp.programmes
                if p.kind != "training" and p.measure != "revenue"), start=np.zeros_like(pr.incentive))


def promotion_value(rp: RolePlan, pr: PayResult) -> float:
    """Mean money-equivalent per rep of the role plan's promotion tournaments (rank-based rewards), money per year."""
    if pr.programmes is None:
        return 0.0
    return float(sum(np.mean(pr.programmes.by_name[p.name]) for p in rp.programmes if p.kind == "promotion"))

