"""Feedback cadence: what reps know of their standing, and when (docs/model.md section 3, feedback cadence)."""

from __future__ import annotations

import pytest
from conftest import small_scenario_dict

import simlib
from simlib import ScenarioError, scenario_from_dict
from simlib.behaviour.dynamic import statement_months


def test_unknown_cadence_names_the_field():
    d = small_scenario_dict()
    d["plans"]["current"]["roles"]["ka"]["feedback"] = {"cadence": "weekly"}
    with pytest.raises(ScenarioError) as ei:
        scenario_from_dict(d, "case.yaml")
    assert any(p.field == "plans.current.roles.ka.feedback.cadence" and "'quarter'" in p.message
               for p in ei.value.problems), [str(p) for p in ei.value.problems]


def test_statements_come_with_the_cadence_and_with_every_payment():
    d = small_scenario_dict()
    for role, cadence in (("ka", "year"), ("ts", "year"), ("ch", "half")):
        d["plans"]["current"]["roles"][role]["feedback"] = {"cadence": cadence}
    s = scenario_from_dict(d, "case.yaml")
    assert statement_months(s.role_plan("current", "ka")) == (11,)  # annual pay, annual statements
    assert statement_months(s.role_plan("current", "ts")) == (2, 5, 8, 11)  # quarterly pay is a quarterly statement
    assert statement_months(s.role_plan("current", "ch")) == (2, 5, 8, 11)
    assert statement_months(scenario_from_dict(small_scenario_dict(), "b.yaml").role_plan("current", "ka")) is None


@pytest.fixture(scope="module")
def cadences(default_scenario):
    cur = default_scenario.plans[default_scenario.current_plan].model_dump(by_alias=True)
    s = default_scenario
    for c in ("quarter", "year"):
        ka = {**cur["roles"]["key_account"], "feedback": {"cadence": c}}
        s = s.with_plan(f"fb_{c}", {**cur, "roles": {**cur["roles"], "key_account": ka}})
    return s


def test_without_statements_in_the_year_reps_do_not_coast(cadences):
    """Key accounts are paid once a year: with monthly statements some reps coast once on track; with one
    statement a year they work on their expected standing, so nobody coasts and effort rises (40 trials)."""
    r = simlib.simulate(cadences, [cadences.current_plan, "fb_quarter", "fb_year"], trials=40, rng=0,
                        behaviour="dynamic")
    sm, d = r.summary(), r.differences()
    coast = {p: sm[(sm.plan == p) & (sm.group == "key_account") & (sm.metric == "coast_share")]["mean"].item()
             for p in (cadences.current_plan, "fb_quarter", "fb_year")}
    assert coast[cadences.current_plan] > 0.005 and coast["fb_year"] == 0.0, coast
    eff = d[(d.group == "key_account") & (d.metric == "effort_index")].set_index("plan")
    assert eff.loc["fb_year", "diff"] > 4 * eff.loc["fb_year", "se"], eff
    assert eff.loc["fb_year", "diff"] > eff.loc["fb_quarter", "diff"] > 0, eff  # measured +1.1% and +0.2%
    other = d[(d.group == "telesales") & (d.metric == "revenue") & (d.plan == "fb_year")]
    assert other["diff"].abs().item() == 0.0  # only the key accounts' plan changed


def test_todays_cadence_keeps_todays_results():
    """A current plan with annual statements is today's plan: behaviour 'dynamic' gives the 'none' numbers."""
    d = small_scenario_dict()
    d["plans"]["current"]["roles"]["ka"]["feedback"] = {"cadence": "year"}
    s = scenario_from_dict(d, "case.yaml")
    a = simlib.simulate(s, ["current"], trials=4, rng=2, behaviour="none").summary()
    b = simlib.simulate(s, ["current"], trials=4, rng=2, behaviour="dynamic").summary()
    for m in ("revenue", "incentive_cost", "profit"):
        va = a[(a.group == "total") & (a.metric == m)]["mean"].item()
        assert va == b[(b.group == "total") & (b.metric == m)]["mean"].item(), m
