"""Defects found on scenarios unlike the shipped ones (odd headcounts, teams of one, pure commission), each pinned
by a small scenario built here."""

from __future__ import annotations

import simlib
from simlib.behaviour.dynamic import dynamic


def _teams_of_one(default_scenario):
    data = default_scenario.model_dump(by_alias=True)
    for role in data["roles"].values():
        role["team_size"] = 1
    return simlib.scenario_from_dict(data, "teams of one")


def test_a_rep_without_teammates_gives_and_gets_no_help(default_scenario):
    """Teams of one: quotas 10% higher gave help 0.95 (channel) and cut each rep's own output by the help multiplier,
    though there is no teammate to help or be helped by. Help is 1 and its output multiplier 1 on every role."""
    s = _teams_of_one(default_scenario)
    dm = dynamic(s)
    for role in s.roles:
        rs = dm.solve("harder_target", role)
        assert rs.help == 1.0 and rs.help_mult == 1.0, (role, rs.help, rs.help_mult)
    res = simlib.simulate(s, ["harder_target"], trials=4, rng=1, behaviour="dynamic").summary()
    h = res[(res.metric == "help_given") & (res.plan == "harder_target")]["mean"]
    assert (h == 1.0).all(), h


def test_teams_of_two_still_help_less_under_harder_targets(default_scenario):
    """The fix leaves teams with teammates alone: help still falls under harder targets (section 4.3)."""
    data = default_scenario.model_dump(by_alias=True)
    for role in data["roles"].values():
        role["team_size"] = 2
    s = simlib.scenario_from_dict(data, "teams of two")
    dm = dynamic(s)
    assert all(dm.solve("harder_target", role).help < 0.99 for role in s.roles)
