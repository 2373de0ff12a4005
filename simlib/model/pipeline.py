"""The one simulation pass: draws -> worlds -> quotas -> policy -> year -> pay.

Everything that simulates (the engine, the behaviour model's calibration
sample, multi-year runs, model validation, notebook helpers, synthetic
histories) goes through :func:`worlds` and :func:`passes`, so trial ``t`` of
one is trial ``t`` of the others under the same seed.

The behaviour model is taken through its contract
(:class:`simlib.model.contracts.BehaviourModel`); ``None`` keeps today's
effort.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simlib.model.contracts import BehaviourModel, Policy
from simlib.model.crediting import (
    Credit,
    credit_kind,
    credit_order,
    credited_measures,
    credited_quota,
    owners,
    split_measures,
    uses_crediting,
)
from simlib.model.plans import PayResult, compute_pay, set_quotas, year_sum
from simlib.model.population import RoleWorld, market_multiplier, role_world
from simlib.model.production import run_year
from simlib.model.programmes import trained_world
from simlib.model.projects import project_world
from simlib.scenario import Scenario


def worlds(scenario: Scenario, draws: dict[str, np.ndarray], roles: Iterable[str] | None = None) -> dict[str, RoleWorld]:
    """Role -> :class:`RoleWorld` of a chunk of pre-drawn trials (every role of the scenario, or ``roles``)."""
    market = market_multiplier(scenario, draws)
    return {r: role_world(scenario, r, draws, market) for r in (scenario.roles if roles is None else roles)}


@dataclass
class RoleOutcome:
    """One role's year under one plan, for a chunk of T trials of R reps.

    Attributes
    ----------
    plan, role : str
    world : RoleWorld
    quota : (T, R) annual quota, money.
    measures : measure -> (T, R, 12); shared, unmodified, by every plan under
        which the role keeps today's effort.
    pay : PayResult
    policy : Policy or None
        The policy the reps followed (None: today's effort, nothing recorded).
    memo : dict
        Values :func:`simlib.model.plans.compute_pay` and the metrics derive
        from ``measures``, kept with them (shared along with the measures).
    credit : Credit or None
        In a scenario with crediting (:mod:`simlib.model.crediting`): what the
        reps booked and were credited with; ``measures`` are then what they
        are credited with (and paid on). None otherwise.
    """

    plan: str
    role: str
    world: RoleWorld
    quota: np.ndarray
    measures: Mapping[str, np.ndarray]
    pay: PayResult
    policy: Policy | None = None
    memo: dict[Any, Any] = field(default_factory=dict)
    credit: Credit | None = None


def passes(
    scenario: Scenario,
    plans: Sequence[str],
    worlds: Mapping[str, RoleWorld],
    model: BehaviourModel | None,
    quotas: Mapping[str, np.ndarray] | None = None,
) -> Iterator[RoleOutcome]:
    """Each plan's year for each role, plan by plan, roles in the order of ``worlds``.

    Parameters
    ----------
    scenario : Scenario
    plans : sequence of str
    worlds : role -> RoleWorld (see :func:`worlds`)
    model : BehaviourModel or None
        Gives each plan and role its policy; None keeps today's effort.
    quotas : role -> (T, R) annual quota, money, optional
        Quotas to use instead of the plan's :func:`simlib.model.plans.set_quotas`
        (a multi-year run's ratcheted quotas), for the roles listed.

    Yields
    ------
    RoleOutcome
        One per plan and role. Where a role keeps today's effort under a plan
        (no policy, or a record-only one) its year is simulated once and
        shared by those plans, with one memo; a record-only policy records
        what it needs from it.
    """
    if uses_crediting(scenario):
        yield from _credited_passes(scenario, plans, worlds, model, quotas)
        return
    today: dict[str, tuple[Mapping[str, np.ndarray], dict]] = {}
    for plan in plans:
        for rname, world in worlds.items():
            quota = quotas[rname] if quotas is not None and rname in quotas else set_quotas(scenario, plan, world)
            policy = None if model is None else model.policy(plan, world, quota)
            # training raises some reps' productivity under this plan: quotas and the reps' types are set before,
            # and projects take a share of their time from selling
            rp = scenario.role_plan(plan, rname)
            pworld = project_world(rp, trained_world(rp, world))
            measures, memo = _year(rname if pworld is world else f"{rname}\0{plan}", pworld, policy, today)
            effort = 1.0 if policy is None else float(getattr(policy, "project_effort", 1.0))
            pay = compute_pay(scenario, plan, pworld, measures, quota, memo, project_effort=effort)
            yield RoleOutcome(plan, rname, pworld, quota, measures, pay, policy, memo)


def _year(role: str, world: RoleWorld, policy: Policy | None, today: dict) -> tuple[Mapping[str, np.ndarray], dict]:
    """A role's measures under ``policy`` and their memo; today's year is simulated once per role (``today``)."""
    if policy is not None and not policy.record_only:
        return run_year(world, policy), {}
    if role not in today:
        today[role] = (run_year(world), {})
    measures, memo = today[role]
    if policy is not None:
        policy.record(measures)
    return measures, memo


def _credited_passes(
    scenario: Scenario,
    plans: Sequence[str],
    worlds: Mapping[str, RoleWorld],
    model: BehaviourModel | None,
    quotas: Mapping[str, np.ndarray] | None,
) -> Iterator[RoleOutcome]:
    """:func:`passes` of a scenario with crediting: within a plan, each credited role after the role it is
    credited on (from that role's outcome), yielded in the order of ``worlds``.

    Overlays and managers produce nothing and follow no policy (they are
    paid, and do not respond: docs/model.md section 3, crediting). What a
    role is credited with is kept with the measures it is made from, so
    plans that share a year share its credit too.
    """
    today: dict[str, tuple[Mapping[str, np.ndarray], dict]] = {}
    kept: dict[tuple[str, int], tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray], dict]] = {}
    order = credit_order(scenario, worlds)
    for plan in plans:
        done: dict[str, RoleOutcome] = {}
        fresh: set[str] = set()  # roles whose year under this plan is its own (a stepping policy's)
        for rname in order:
            world = worlds[rname]
            given = quotas[rname] if quotas is not None and rname in quotas else None
            if world.role.credited_on is None:
                done[rname] = o = _front_outcome(scenario, plan, world, model, given, today)
                if o.policy is not None and not o.policy.record_only:
                    fresh.add(rname)
                continue
            cov = done[world.role.credited_on.role]
            key = (rname, id(cov.measures))
            if key not in kept or kept[key][0] is not cov.measures:
                owner = owners(scenario, rname, worlds[cov.role])
                made = (cov.measures, credited_measures(world.role, cov.measures, owner), {"owner": owner})
                if cov.role in fresh:  # this plan's own year: credited once, not kept for other plans
                    key = (rname, -1)
                kept[key] = made
            if cov.role in fresh:
                fresh.add(rname)
            _, measures, memo = kept[key]
            level = scenario.role_plan(plan, rname).quota.level
            quota = credited_quota(world.role, cov.quota, memo["owner"], level) if given is None else given
            pay = compute_pay(scenario, plan, world, measures, quota, memo)
            credit = Credit(credit_kind(world.role), np.zeros(world.shape), year_sum(measures, "revenue", memo))
            done[rname] = RoleOutcome(plan, rname, world, quota, measures, pay, None, memo, credit)
        for rname in worlds:
            yield done[rname]


def _front_outcome(scenario: Scenario, plan: str, world: RoleWorld, model: BehaviourModel | None,
                   quota: np.ndarray | None, today: dict) -> RoleOutcome:
    """A role that books its own deals, under crediting: its year, then its split (if any), then its pay."""
    quota = set_quotas(scenario, plan, world) if quota is None else quota
    policy = None if model is None else model.policy(plan, world, quota)
    booked, memo = _year(world.name, world, policy, today)
    measures, cmemo = booked, memo
    if world.role.split is not None:  # kept with the booked year, so plans sharing the year share it
        if ("split",) not in memo:
            memo[("split",)] = (split_measures(world.role.split, booked, world.team), {})
        measures, cmemo = memo[("split",)]
    pay = compute_pay(scenario, plan, world, measures, quota, cmemo)
    credit = Credit("front", year_sum(booked, "revenue", memo), year_sum(measures, "revenue", cmemo))
    return RoleOutcome(plan, world.name, world, quota, measures, pay, policy, cmemo, credit)
