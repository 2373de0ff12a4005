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
from simlib.model.pipeline import RoleOutcome, passes, worlds
from simlib.model.population import Layout, RoleWorld, draw_chunk, root_seed
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
    first: dict[str, RoleWorld] = {}
    quota: dict[str, np.ndarray] = {}
    rows = []
    for y in range(years):
        yroot = np.random.SeedSequence(root.entropy, spawn_key=tuple(root.spawn_key) + (y,))
        ws = _same_reps(worlds(scenario, draw_chunk(Layout.of(scenario), yroot, idx)), first)
        for o in passes(scenario, [plan], ws, model, quotas=dict(quota)):  # last year's ratcheted quotas
            rp = scenario.role_plan(plan, o.role)
            if rp.quota.method == "last_year":
                quota[o.role] = ratchet_quota(o.quota, o.pay.attainment, rat.up, rat.down, rp.quota.growth)
            for metric, v in _year_metrics(o, trials).items():
                m = float(v.mean())
                se = float(v.std(ddof=1) / np.sqrt(trials)) if trials > 1 else float("nan")
                lo, hi = interval(m, se)
                rows.append(dict(year=y + 1, group=o.role, metric=metric, mean=m, se=se, ci_low=lo, ci_high=hi, n=trials))
    return pd.DataFrame(rows)


def _same_reps(ws: dict[str, RoleWorld], first: dict[str, RoleWorld]) -> dict[str, RoleWorld]:
    """This year's worlds with the first year's reps (ability, territory), now all past their ramp.

    ``first`` is empty in the first year, which it then records.
    """
    if not first:
        first.update(ws)
        return ws
    return {
        r: dataclasses.replace(w, ability=first[r].ability, territory=first[r].territory,
                               new_hire=np.zeros_like(first[r].new_hire), ramp=np.ones((*first[r].ability.shape, MONTHS)))
        for r, w in ws.items()
    }


def _year_metrics(o: RoleOutcome, trials: int) -> dict[str, np.ndarray]:
    """A role's per-trial figures of one year, each (trials,): revenue, incentive cost and mean quota
    (money per year), mean attainment and share at quota (fractions), effort index (1 = today)."""
    rec = None if o.policy is None else o.policy.recorded
    return {
        "revenue": o.measures["revenue"].sum(axis=2).sum(axis=1),
        "incentive_cost": o.pay.incentive.sum(axis=1),
        "quota_mean": o.quota.mean(axis=1),
        "attainment_mean": o.pay.attainment.mean(axis=1),
        "share_at_quota": (o.pay.attainment >= 1.0).mean(axis=1),
        "effort_index": rec.effort.mean(axis=2).mean(axis=1) if rec is not None else np.ones(trials),
    }
