"""A measure other than revenue is worth, per log of output, what production says it moves with output.

The behaviour values a rep's output through its marginal pay (docs/model.md 4.1): a measure ``k`` adds its
marginal pay ``d pay / d log k`` times ``d log k / d log output``, how the measure moves when the rep works more at
today's task split (section 4.2). Each measure's elasticity is measured here on the production itself: the same
reps and draws at today's effort and at effort ``exp(0.04)``, the change in the log of the measure's mean over
the change in the log of revenue's. (It was 1 for every flow measure and 1/2 for every score: telesales calls and
leads, which move with the activity share's 0.7 of the role's 1.2, counted 1; record accuracy and the
conversion rate, 0.5 of 1.2, counted 1/2; key accounts' milestones, quality only, counted as a deal.)
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import DEFAULT

import simlib
from simlib.behaviour.dynamic import DynamicBehaviour
from simlib.model.contracts import Controls, PolicyBase
from simlib.model.population import Layout, draw_chunk, market_multiplier, role_world, root_seed
from simlib.model.production import run_year

STEP = 0.04  # log of the effort multiplier


class _Effort(PolicyBase):
    """Every rep-month at one effort, today's task split."""

    def __init__(self, effort: float):
        super().__init__()
        self.effort = effort

    def __call__(self, m, hist):
        return Controls(effort=self.effort)

    def settle(self, m, hist):
        return None, None


def _scenario() -> simlib.Scenario:
    data = simlib.load_scenario(DEFAULT).model_dump(by_alias=True, mode="json")
    # deals follow last month's effort: a year's first month would not move, and revenue with it
    data["roles"]["key_account"]["production"]["pipeline_lag_months"] = 0
    return simlib.scenario_from_dict(data, "linear_money.yaml")


def _production_elasticities(s: simlib.Scenario, role: str, names) -> dict[str, float]:
    draws = draw_chunk(Layout.of(s), root_seed(3), np.arange(600))
    world = role_world(s, role, draws, market_multiplier(s, draws))
    base, up = run_year(world, _Effort(1.0)), run_year(world, _Effort(math.exp(STEP)))
    out = math.log(up["revenue"].sum() / base["revenue"].sum())
    return {k: math.log(up[k].mean() / base[k].mean()) / out for k in names}


def _behaviour_weight(s: simlib.Scenario, role: str, name: str) -> float:
    """Money per year per unit of output the behaviour counts for one unit of marginal pay of ``name``."""
    ing = {"w": 0.0, "comp_ind": {}, "mv_ind": {"revenue": 0.0, name: 1.0}, "team_lin": 0.0, "S": 0.0}
    return DynamicBehaviour(s)._linear_money(role, ing, SimpleNamespace(names=()))


@pytest.mark.parametrize(("role", "names"), [
    ("telesales", ("calls", "leads", "conversions", "talk_time", "record_accuracy", "conversion_rate")),
    ("key_account", ("deals", "new_accounts", "milestones", "satisfaction")),
    ("channel", ("partners_opened", "partner_satisfaction", "policy_adherence")),
])
def test_a_measure_counts_as_production_moves_it_with_output(role, names):
    s = _scenario()
    want = _production_elasticities(s, role, names)
    got = {k: _behaviour_weight(s, role, k) for k in names}
    for k in names:
        assert got[k] == pytest.approx(want[k], abs=0.04), (k, got, want)
