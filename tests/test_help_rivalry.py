"""Help to teammates falls under harder individual targets and rank-based rewards (docs/model.md, section 4.3)."""

from __future__ import annotations

import numpy as np
import pytest

import simlib
from simlib.behaviour.dynamic import dynamic

LEVELS = (1.0, 1.1, 1.25)


def _with_level(scen, level):
    d = scen.plans[scen.current_plan].model_dump(by_alias=True)
    for rp in d["roles"].values():
        rp["quota"]["level"] = level
    return d


@pytest.fixture(scope="module")
def levels(default_scenario):
    s = default_scenario
    for lv in LEVELS[1:]:
        s = s.with_plan(f"level{lv}", _with_level(default_scenario, lv))
    return s


def test_harder_individual_targets_lower_help_on_every_role(levels):
    dm = dynamic(levels)
    for role in levels.roles:
        helps = [dm.solve(levels.current_plan if lv == 1.0 else f"level{lv}", role).help for lv in LEVELS]
        assert helps[0] == 1.0, role  # today's plan is today's help
        assert helps[0] > helps[1] > helps[2], (role, helps)
        assert helps[2] > 0.8, (role, helps)  # a modest effect: a quarter more target, a few percent less help


def test_without_rivalry_help_ignores_target_difficulty(levels):
    data = levels.model_dump(by_alias=True)
    data["behaviour"]["rivalry"] = {"enabled": False}
    off = simlib.scenario_from_dict(data, "off.yaml")
    dm = dynamic(off)
    assert all(dm.solve("level1.25", role).help == pytest.approx(1.0, abs=1e-12) for role in off.roles)


def test_rank_based_award_lowers_help_against_the_same_money_on_absolute_attainment(default_scenario):
    """Telesales: a top-12 award against a lump sum at 115% attainment paying the same expected money."""
    s = default_scenario
    cur = s.plans[s.current_plan].model_dump(by_alias=True)
    ts = cur["roles"]["telesales"]
    value, k = 20000.0, 12
    rank = {**cur, "roles": {**cur["roles"], "telesales": {**ts, "recognition": {"top_k": k, "value": value}}}}
    club = {**cur, "roles": {**cur["roles"], "telesales": {
        **ts, "recognition": None,
        "components": [*ts["components"], {"name": "club", "kind": "lump_sum", "steps": [{"at": 1.15, "amount": 1.0}]}]}}}
    probe = s.with_plan("club", club)
    tr = simlib.simulate(probe, ["club"], trials=30, rng=4, behaviour="none").trials()
    base = simlib.simulate(probe, [s.current_plan], trials=30, rng=4, behaviour="none").trials()
    g = lambda t, p: t[(t.group == "telesales") & (t.plan == p)]["incentive_cost"].mean()  # noqa: E731
    reach = g(tr, "club") - g(base, s.current_plan)  # reps at 115% or more per year (amount 1 each)
    assert reach > k / 2
    club["roles"]["telesales"]["components"][-1]["steps"][0]["amount"] = value * k / reach  # same expected money
    both = s.with_plan("rank", rank).with_plan("club", club)
    dm = dynamic(both)
    h_rank, h_club = dm.solve("rank", "telesales").help, dm.solve("club", "telesales").help
    assert h_rank < h_club - 0.02, (h_rank, h_club)


def test_harder_target_run_reports_less_help(default_scenario):
    """The shipped ``harder_target`` plan: help_given below today's on every role (was 1 +/- 0)."""
    res = simlib.simulate(default_scenario, ["harder_target"], trials=4, rng=1, behaviour="dynamic")
    tab = res.summary()
    h = tab[(tab.metric == "help_given") & (tab.plan == "harder_target")].set_index("group")["mean"]
    for role in default_scenario.roles:
        assert h[role] < 0.99, (role, h[role])
    cur = tab[(tab.metric == "help_given") & (tab.plan == default_scenario.current_plan)]["mean"]
    assert np.allclose(cur, 1.0)
