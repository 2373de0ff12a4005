"""Team project work with an individual and a shared part (docs/model.md section 3, projects).

A role plan's ``projects`` puts a share of each rep's working time on their
team's project. Selling output falls with the time taken from it; the
project's result is each member's ability times their project effort to the
role's effort elasticity, and the team's result its members' mean. The
project pays on the rep's own result (the individual part) and on the
team's (the shared part). Project effort is the behaviour model's (1 under
behaviour ``none``; simlib.behaviour.dynamic.project_effort). NumPy, the
scenario and the role's world only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from simlib.model.population import RoleWorld
from simlib.scenario import RolePlan, Scenario


def uses_projects(scenario: Scenario) -> bool:
    """Whether some role plan of the scenario has projects (then results carry the project metrics)."""
    return any(rp.projects is not None for plan in scenario.plans.values() for rp in plan.roles.values())


def project_world(rp: RolePlan, world: RoleWorld) -> RoleWorld:
    """The role's world with selling productivity cut to the time left after projects (the same world without)."""
    if rp.projects is None or rp.projects.share_of_effort <= 0:
        return world
    return dataclasses.replace(world, ramp=world.ramp * (1.0 - rp.projects.share_of_effort))


def team_mean(x: np.ndarray, team: np.ndarray, n_teams: int) -> np.ndarray:
    """Each rep's team mean of ``x`` (T, R), teams given by ``team`` (R,) indices 0..n_teams-1."""
    onehot = np.zeros((len(team), n_teams))
    onehot[np.arange(len(team)), team] = 1.0
    means = (x @ onehot) / onehot.sum(axis=0)  # (T, n_teams)
    return means[:, team]


@dataclass
class ProjectResult:
    """A role plan's projects in a chunk of trials.

    Attributes
    ----------
    pay : (T, R) project pay, money per year (part of ``incentive``).
    own : (T, R) the rep's own project result (1 = an average rep at the planned effort).
    team : (T, R) the rep's team's project result, the members' mean.
    effort : (T, R) project effort, 1 = the planned effort.
    """

    pay: np.ndarray
    own: np.ndarray
    team: np.ndarray
    effort: np.ndarray


def project_pay(rp: RolePlan, world: RoleWorld, effort: float = 1.0) -> ProjectResult | None:
    """Project results and pay of a role's reps at project effort ``effort`` (1 = planned); None without projects.

    ``own = ability x effort^beta`` (``beta`` the role's effort elasticity),
    ``team`` its team mean, ``pay = payout ((1 - shared_weight) own + shared_weight team)``.
    """
    pj = rp.projects
    if pj is None:
        return None
    own = world.ability * float(effort) ** world.role.effort_elasticity
    team = team_mean(own, world.team, world.n_teams)
    pay = pj.payout * ((1.0 - pj.shared_weight) * own + pj.shared_weight * team)
    return ProjectResult(pay=pay, own=own, team=team, effort=np.full(own.shape, float(effort)))
