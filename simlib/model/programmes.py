"""Promotion, honour and training programmes of a role plan (docs/model.md section 3, programmes).

A role plan's ``programmes`` are rewards and investments outside the
incentive: a promotion tournament (the best ``slots`` reps by a measure win
a raise whose present value is their prize), an honour such as a
President's Club (every rep whose year reaches a threshold), and training
(a share of the reps gains ability some months later, at a cost per head).
This module selects the winners and the trained reps, values them for the
reps (money-equivalent) and costs them for the company; the behaviour model
prices the prizes at the margin (simlib.behaviour.dynamic). NumPy, the
scenario and the role's world only.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from simlib.model.population import RoleWorld
from simlib.scenario import MONTHS, Programme, RolePlan, Scenario


def annuity(years: float, rate: float) -> float:
    """Present value of one unit of money a year for ``years`` years at yearly ``rate``, paid at year ends.

    ``(1 - (1 + r)^-n) / r``, and ``n`` at ``r = 0``; a fractional last year
    counts pro rata (the same formula at a non-integer ``n``).
    """
    if rate <= 0:
        return float(years)
    return (1.0 - (1.0 + rate) ** -years) / rate


def prize(p: Programme) -> float:
    """A winner's money-equivalent: a promotion's raise over its years at present value, an honour's value; 0 for training."""
    if p.kind == "promotion":
        return float(p.raise_ or 0.0) * annuity(p.years, p.discount_rate)
    if p.kind == "honour":
        return float(p.value or 0.0)
    return 0.0


def winner_cost(p: Programme) -> float:
    """The company's cost of one winner: ``cost_per_winner``, by default the winner's money-equivalent."""
    return prize(p) if p.cost_per_winner is None else float(p.cost_per_winner)


def uses_programmes(scenario: Scenario) -> bool:
    """Whether some role plan of the scenario has a programme (then results carry the programme metrics)."""
    return any(rp.programmes for plan in scenario.plans.values() for rp in plan.roles.values())


def trained(p: Programme, ability: np.ndarray) -> np.ndarray:
    """Reps a training programme trains, bool (T, R): ``round(share x R)`` of lowest (or highest) ability per trial.

    Equal abilities: the lower rep index first.
    """
    T, R = ability.shape
    n = min(R, int(math.floor(float(p.share or 0.0) * R + 0.5)))
    out = np.zeros((T, R), dtype=bool)
    if n <= 0:
        return out
    key = ability if p.select == "lowest" else -ability
    order = np.argsort(key, axis=1, kind="stable")
    np.put_along_axis(out, order[:, :n], True, axis=1)
    return out


def training_gain(rp: RolePlan, ability: np.ndarray) -> np.ndarray | None:
    """Productivity multiplier (T, R, 12) of the role plan's training programmes; None without any.

    A trained rep's productivity is ``1 + ability_gain`` from month
    ``delay_months + 1`` on; programmes multiply.
    """
    progs = [p for p in rp.programmes if p.kind == "training" and (p.ability_gain or 0.0) > 0]
    if not progs:
        return None
    gain = np.ones((*ability.shape, MONTHS))
    for p in progs:
        step = np.where(np.arange(MONTHS) >= p.delay_months, float(p.ability_gain), 0.0)  # (12,)
        gain = gain * (1.0 + trained(p, ability)[..., None] * step)
    return gain


def trained_world(rp: RolePlan, world: RoleWorld) -> RoleWorld:
    """The role's world with its trained reps' productivity raised (the same world without training)."""
    gain = training_gain(rp, world.ability)
    if gain is None:
        return world
    return dataclasses.replace(world, ramp=world.ramp * gain)


def _winners(p: Programme, score: np.ndarray) -> np.ndarray:
    """Winners of a promotion (best ``slots`` scores, ties to the lower rep index) or an honour (score >= threshold)."""
    if p.kind == "honour":
        return score >= float(p.threshold)
    T, R = score.shape
    k = min(int(p.slots), R)
    out = np.zeros((T, R), dtype=bool)
    order = np.argsort(-score, axis=1, kind="stable")
    np.put_along_axis(out, order[:, :k], True, axis=1)
    return out


@dataclass
class ProgrammeResult:
    """Programmes of a role plan applied to a chunk of trials (money per year).

    Attributes
    ----------
    value : (T, R) money-equivalent the reps win (promotions at present value, honours).
    cost : (T, R) the company's cost: winners' costs and training per head.
    winners : (T, R) promotions and honours won by each rep (a count).
    trained : (T, R) training programmes each rep attends (a count).
    by_name : programme name -> (T, R) money-equivalent won (training: its cost per head).
    """

    value: np.ndarray
    cost: np.ndarray
    winners: np.ndarray
    trained: np.ndarray
    by_name: dict[str, np.ndarray] = field(default_factory=dict)


def programme_pay(rp: RolePlan, annual: Callable[[str], np.ndarray], quota: np.ndarray,
                  ability: np.ndarray) -> ProgrammeResult | None:
    """Winners, values and costs of a role plan's programmes; None when it has none.

    ``annual(measure)`` is the measure's year (T, R): a flow's total, a
    score's mean, revenue in money. Revenue is ranked and thresholded as
    attainment (over ``quota``, (T, R)); ``ability`` (T, R) selects the trained reps.
    """
    if not rp.programmes:
        return None
    shape = quota.shape
    res = ProgrammeResult(np.zeros(shape), np.zeros(shape), np.zeros(shape), np.zeros(shape))
    for p in rp.programmes:
        if p.kind == "training":
            heads = trained(p, ability).astype(float)
            res.trained = res.trained + heads
            res.by_name[p.name] = heads * float(p.cost_per_head)
            res.cost = res.cost + res.by_name[p.name]
            continue
        year = annual(p.measure)
        score = year / np.maximum(quota, 1e-12) if p.measure == "revenue" else year
        won = _winners(p, score).astype(float)
        res.by_name[p.name] = won * prize(p)
        res.value = res.value + res.by_name[p.name]
        res.cost = res.cost + won * winner_cost(p)
        res.winners = res.winners + won
    return res
