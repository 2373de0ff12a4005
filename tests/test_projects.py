"""Team projects with an individual and a shared part: validation, pay by hand, the reference, free riding.

docs/model.md section 3 (projects).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import small_scenario_dict

import simlib
from simlib import ScenarioError, scenario_from_dict
from simlib.behaviour.dynamic import dynamic
from simlib.model.pipeline import passes, worlds
from simlib.model.population import Layout, draw_chunk, root_seed
from simlib.model.reference import simulate_reference

KA = "plans.current.roles.ka"
PROJ = {"share_of_effort": 0.1, "shared_weight": 0.5, "payout": 6000}


def _with(project: dict, role: str = "ka", d: dict | None = None) -> simlib.Scenario:
    d = small_scenario_dict() if d is None else d
    d["plans"]["proj"] = {"base": "current", "changes": {"roles": {role: {"projects": project}}}}
    return scenario_from_dict(d, "proj.yaml")


@pytest.mark.parametrize("project, field, words", [
    ({"share_of_effort": 1.0, "payout": 1}, "projects.share_of_effort", "less than 1"),
    ({"share_of_effort": 0.1, "shared_weight": 1.5, "payout": 1}, "projects.shared_weight", "less than or equal to 1"),
    ({"share_of_effort": 0.1}, "projects.payout", "required"),
    ({"share_of_effort": 0.1, "payout": 1, "weight": 0.5}, "projects.weight", "unknown field"),
])
def test_bad_projects_name_the_field(project, field, words):
    d = small_scenario_dict()
    d["plans"]["current"]["roles"]["ka"]["projects"] = project
    with pytest.raises(ScenarioError) as ei:
        scenario_from_dict(d, "case.yaml")
    want = f"{KA}.{field}"
    assert any(p.field == want and words in p.message for p in ei.value.problems), [str(p) for p in ei.value.problems]


def test_project_pay_by_hand_and_the_time_it_takes():
    """Pay = payout ((1 - w) ability + w team mean of ability) at the planned effort; selling output is the
    output of 90% of the time (the same draws)."""
    s = _with(PROJ)
    draws = draw_chunk(Layout.of(s), root_seed(4), np.arange(6))
    out = {o.plan: o for o in passes(s, ["current", "proj"], worlds(s, draws, ["ka"]), None)}
    cur, new = out["current"], out["proj"]
    ab, team = new.world.ability, new.world.team  # teams of 3, 3 and 1 reps
    mean = np.stack([ab[:, team == t].mean(axis=1) for t in team], axis=1)
    want = 6000 * (0.5 * ab + 0.5 * mean)
    np.testing.assert_allclose(new.pay.projects.pay, want, rtol=1e-12)
    np.testing.assert_array_equal(cur.quota, new.quota)  # quotas are set on today's reps
    np.testing.assert_allclose(new.world.ramp, cur.world.ramp * 0.9)
    assert new.measures["revenue"].sum() < 0.95 * cur.measures["revenue"].sum()
    sm = simlib.simulate(s, ["current", "proj"], trials=6, rng=4, behaviour="none").summary()
    got = sm[(sm.plan == "proj") & (sm.group == "ka") & (sm.metric == "project_pay")]["mean"].item()
    assert got == pytest.approx(want.sum(axis=1).mean(), rel=1e-12)
    eff = sm[(sm.plan == "proj") & (sm.group == "ka") & (sm.metric == "project_effort")]["mean"].item()
    assert eff == 1.0  # behaviour none: the planned effort


def test_reference_restates_projects():
    s = _with(PROJ)
    ref = simulate_reference(s, ["proj"], trials=4, rng=7)
    sm = simlib.simulate(s, ["proj"], trials=4, rng=7, behaviour="none").summary()
    for g in ("ka", "total"):
        for m in ("revenue", "incentive_cost", "profit", "share_at_quota"):
            got = sm[(sm.plan == "proj") & (sm.group == g) & (sm.metric == m)]["mean"].item()
            assert got == pytest.approx(np.mean(ref["metrics"]["proj"][g][m]), rel=1e-9), (g, m)


def _team_project(team_size: int, shared: float) -> float:
    d = small_scenario_dict()
    d["roles"]["ka"]["team_size"] = team_size
    s = _with({"share_of_effort": 0.1, "shared_weight": shared, "payout": 6000}, d=d)
    return dynamic(s).project_effort("proj", "ka")


def test_shared_credit_is_free_ridden_like_team_pay():
    """Project effort falls as more of the pay is on the team's result and as teams grow (Holmstrom 1982):
    p = kept^(1 / (g - beta)), kept = (1 - w) + w (1 + sigma) / N."""
    assert _team_project(3, 0.0) == pytest.approx(1.0)  # all on one's own result: the planned effort
    by_weight = [_team_project(3, w) for w in (0.0, 0.5, 1.0)]
    assert by_weight[0] > by_weight[1] > by_weight[2]
    by_size = [_team_project(n, 1.0) for n in (2, 3, 7)]
    assert by_size[0] > by_size[1] > by_size[2]
    g, beta = 4.0, 0.6  # the small scenario's cost exponent (default) and key-account effort elasticity (default)
    kept = 0.5 + 0.5 * (1 / 3 + 0.5 * 2 / 3)  # social weight 1 spread over 2 teammates
    assert by_weight[1] == pytest.approx(kept ** (1 / (g - beta)), rel=1e-9)


def test_under_dynamic_project_results_fall_with_shared_credit():
    s = _with({"share_of_effort": 0.1, "shared_weight": 1.0, "payout": 6000})
    data = s.plans["proj"].model_dump(by_alias=True)
    data["roles"]["ka"]["projects"]["shared_weight"] = 0.0
    s = s.with_plan("own", data)
    sm = simlib.simulate(s, ["current", "proj", "own"], trials=4, rng=1, behaviour="dynamic").summary()
    res = {p: sm[(sm.plan == p) & (sm.group == "ka") & (sm.metric == "project_result")]["mean"].item()
           for p in ("proj", "own")}
    kept = 1 / 3 + 0.5 * 2 / 3  # all on the team's result, teams of 3
    assert res["proj"] / res["own"] == pytest.approx(kept ** (0.6 / (4.0 - 0.6)), rel=1e-9)
