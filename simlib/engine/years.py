"""Multi-year runs with quota ratchets (docs/model.md, section 4.5).

The same reps (ability, territory) work several years in a row; each year
has its own independent draws (market, noise): year ``y`` draws trial ``t``
from the per-trial stream (:func:`simlib.model.population.draw_chunk`) of the root
``SeedSequence(entropy, spawn_key=root.spawn_key + (y,))``. Under a
plan whose quotas follow last year's sales (``quota.method: last_year``),
next year's quota is revised from this year's attainment, asymmetrically
(Leone, Misra & Zimmerman 2004)::

    q_{y+1} = q_y (1 + growth) (1 + up max(att - 1, 0) - down max(1 - att, 0))

with ``up`` and ``down`` from the scenario's ``behaviour.ratchet`` (the reps'
expectation is the firm's rule). Other quota methods set quotas afresh each
year. With the ``dynamic`` behaviour, reps who expect the ratchet hold back
when far above quota.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from simlib.behaviour.dynamic import DynamicBehaviour
from simlib.errors import PlanError
from simlib.format import interval
from simlib.model.plans import compute_pay, set_quotas
from simlib.model.population import Layout, draw_chunk, market_multiplier, role_world, root_seed
from simlib.model.production import run_year
from simlib.scenario import MONTHS, Scenario


def ratchet_quota(quota: np.ndarray, attainment: np.ndarray, up: float, down: float, growth: float = 0.0) -> np.ndarray:
    """Next year's quota from this year's quota and attainment (asymmetric revision)."""
    rev = 1.0 + up * np.maximum(attainment - 1.0, 0.0) - down * np.maximum(1.0 - attainment, 0.0)
    return quota * (1.0 + growth) * np.maximum(rev, 0.05)


def simulate_years(
    scenario: Scenario,
    plan: str | None = None,
    *,
    years: int = 3,
    trials: int = 200,
    rng: int | np.random.SeedSequence | None = 0,
    behaviour: str = "dynamic",
):
    """Simulate the same reps over several years under one plan, with quota ratchets.

    Parameters
    ----------
    scenario : Scenario
    plan : str, optional
        Plan to run every year (default: the current plan).
    years : int
        Number of consecutive years.
    trials : int
        Monte Carlo trials (each a run of ``years`` years).
    rng : int or SeedSequence
        The one randomness argument.
    behaviour : {"dynamic", "none"}

    Returns
    -------
    pandas.DataFrame
        One row per year, role and metric (revenue, incentive_cost: money per
        year; quota_mean: money; attainment_mean, share_at_quota: fractions;
        effort_index: 1 = today), with mean, se, ci_low, ci_high over trials.
    """
    import pandas as pd

    plan = plan or scenario.current_plan
    if plan not in scenario.plans:
        raise PlanError(f"unknown plan '{plan}'; the scenario {scenario.source} has {sorted(scenario.plans)}")
    if behaviour not in ("dynamic", "none"):
        raise PlanError(f"behaviour: expected 'dynamic' or 'none', got {behaviour!r}")
    if not isinstance(years, int) or years < 1:
        raise PlanError(f"years: expected a positive integer, got {years!r}")
    root = root_seed(rng)
    model = DynamicBehaviour(scenario) if behaviour == "dynamic" else None
    rat = scenario.behaviour.ratchet
    idx = np.arange(trials)
    first: dict[str, object] = {}
    quota: dict[str, np.ndarray] = {}
    rows = []
    for y in range(years):
        yroot = np.random.SeedSequence(root.entropy, spawn_key=tuple(root.spawn_key) + (y,))
        draws = draw_chunk(Layout.of(scenario), yroot, idx)
        market = market_multiplier(scenario, draws)
        for rname in scenario.roles:
            world = role_world(scenario, rname, draws, market)
            if y == 0:
                first[rname] = world
            else:  # the same reps, now all past their ramp
                w0 = first[rname]
                world = dataclasses.replace(
                    world, ability=w0.ability, territory=w0.territory,
                    new_hire=np.zeros_like(w0.new_hire), ramp=np.ones((*w0.ability.shape, MONTHS)),
                )
            rp = scenario.role_plan(plan, rname)
            if y == 0 or rp.quota.method != "last_year":
                q = set_quotas(scenario, plan, world)
            else:
                q = quota[rname]
            pol = None if model is None else model.policy(plan, world, q)
            meas = run_year(world, pol)
            pay = compute_pay(scenario, plan, world, meas, q)
            if rp.quota.method == "last_year":
                quota[rname] = ratchet_quota(q, pay.attainment, rat.up, rat.down, rp.quota.growth)
            eff = pol.effort.mean(axis=2).mean(axis=1) if pol is not None else np.ones(trials)
            per_trial = {
                "revenue": meas["revenue"].sum(axis=2).sum(axis=1),
                "incentive_cost": pay.incentive.sum(axis=1),
                "quota_mean": q.mean(axis=1),
                "attainment_mean": pay.attainment.mean(axis=1),
                "share_at_quota": (pay.attainment >= 1.0).mean(axis=1),
                "effort_index": eff,
            }
            for metric, v in per_trial.items():
                m = float(v.mean())
                se = float(v.std(ddof=1) / np.sqrt(trials)) if trials > 1 else float("nan")
                lo, hi = interval(m, se)
                rows.append(dict(year=y + 1, group=rname, metric=metric, mean=m, se=se, ci_low=lo, ci_high=hi, n=trials))
    return pd.DataFrame(rows)
