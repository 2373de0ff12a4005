"""Plan transforms: each alias's one meaning, its errors, dotted paths, and the same plan from
sweep, optimize and the explorer for the same alias and value."""

from __future__ import annotations

import copy
import math
import re

import pytest
from conftest import ROOT

from simlib.design.optimize import optimize
from simlib.design.sweep import ALIASES, apply_point, parse_param
from simlib.design.transforms import TRANSFORMS, get_transform, plan_data, scale_path, set_path
from simlib.errors import PlanError
from simlib.model.paycurves import compile_component
from simlib.report.explorer import CONTROLS, variant_plan
from simlib.scenario import Component, Plan


def _apply(scen, alias, value, roles=None, plan="current"):
    out = TRANSFORMS[alias].apply(plan_data(scen, plan), value, roles=roles, scenario=scen)
    Plan(**out)  # every variant is a valid plan
    return out


def _comp(plan, role, name):
    return next(c for c in plan["roles"][role]["components"] if c["name"] == name)


def _pay(c: dict, x: float) -> float:
    return float(compile_component(Component.model_validate(c))(x))


def _without(plan, role_keys):
    """The plan with the given (role, key) entries removed, to compare what else changed."""
    p = copy.deepcopy(plan)
    for role, key in role_keys:
        p["roles"][role].pop(key, None)
    return p


# ----------------------------------------------------------------------
# Each alias does what its documentation says, on the default scenario
# ----------------------------------------------------------------------


def test_target_level_sets_the_quota_level_of_every_role(scen):
    base = plan_data(scen, "current")
    p = _apply(scen, "target_level", 0.9)
    assert {r: rp["quota"]["level"] for r, rp in p["roles"].items()} == {r: 0.9 for r in scen.roles}
    assert _without(p, [(r, "quota") for r in scen.roles]) == _without(base, [(r, "quota") for r in scen.roles])
    # a level, not a multiple: on a plan whose quotas are at 1.1 already, 1.1 changes nothing
    assert _apply(scen, "target_level", 1.1, plan="harder_target") == plan_data(scen, "harder_target")
    p = _apply(scen, "target_level", 1.2, roles=["telesales"])
    assert [p["roles"][r]["quota"]["level"] for r in ("key_account", "telesales", "channel")] == [1.0, 1.2, 1.0]


def test_team_weight_and_team_split_are_separate(scen):
    p = _apply(scen, "team_weight", 0.3)
    assert all(rp["team"] == {"weight": 0.3, "split": "equal"} for rp in p["roles"].values())
    # team_weight=0 sets the weight to 0 and leaves the split as it was
    p = _apply(scen, "team_weight", 0.0, plan="team_weighted")
    assert all(rp["team"] == {"weight": 0.0, "split": "contribution"} for rp in p["roles"].values())
    p = _apply(scen, "team_split", "contribution", roles=["channel"])
    assert p["roles"]["channel"]["team"] == {"weight": 0.0, "split": "contribution"}
    assert p["roles"]["telesales"]["team"]["split"] == "equal"


def test_threshold_moves_the_first_point_of_revenue_curves_only(scen):
    p = _apply(scen, "threshold", 0.6)
    ka, ts = _comp(p, "key_account", "revenue_bonus"), _comp(p, "telesales", "revenue_bonus")
    assert ka["points"][0] == [0.6, 0.0] and ts["points"][0] == [0.6, 0.5]
    assert _pay(ka, 0.59) == 0.0 and _pay(ka, 0.61) > 0.0
    assert _pay(_comp(plan_data(scen, "current"), "key_account", "revenue_bonus"), 0.59) > 0.0
    # a non-revenue curve and the channel's commission keep their shape
    assert _comp(p, "key_account", "new_accounts_bonus") == _comp(plan_data(scen, "current"), "key_account",
                                                                  "new_accounts_bonus")
    assert p["roles"]["channel"] == plan_data(scen, "current")["roles"]["channel"]


def test_commission_gate_gates_revenue_commissions(scen):
    p = _apply(scen, "commission_gate", 0.9)
    assert p["roles"]["channel"]["gates"] == [
        {"measure": "revenue", "min_attainment": 0.9, "target": "quota", "components": ["channel_commission"]}]
    # a second value replaces the gate; other gates stay
    p2 = TRANSFORMS["commission_gate"].apply(p, 0.7, scenario=scen)
    assert [g["min_attainment"] for g in p2["roles"]["channel"]["gates"]] == [0.7]
    assert p2["roles"]["telesales"]["gates"] == plan_data(scen, "current")["roles"]["telesales"]["gates"]


def test_cap_sets_or_removes_the_cap_of_revenue_curves(scen):
    for none in (None, "none", "None", "inf", math.inf):
        p = _apply(scen, "cap", none)
        assert _comp(p, "key_account", "revenue_bonus")["cap"] is None
        assert _comp(p, "telesales", "revenue_bonus")["cap"] is None
        assert _pay(_comp(p, "key_account", "revenue_bonus"), 3.0) > 2.5  # uncapped
    assert _comp(p, "key_account", "new_accounts_bonus")["cap"] == 2.0  # not a revenue curve
    p = _apply(scen, "cap", 1.5)
    assert _pay(_comp(p, "key_account", "revenue_bonus"), 3.0) == 1.5


def test_accelerator_multiplies_the_slope_above_100_percent(scen):
    base, p = plan_data(scen, "current"), _apply(scen, "accelerator", 2.0)
    for role in ("key_account", "telesales"):
        old, new = _comp(base, role, "revenue_bonus"), _comp(p, role, "revenue_bonus")
        assert _pay(new, 1.2) - _pay(new, 1.0) == pytest.approx(2.0 * (_pay(old, 1.2) - _pay(old, 1.0)))  # below the caps
        assert _pay(new, 0.9) == _pay(old, 0.9)
    old, new = _comp(base, "channel", "channel_commission"), _comp(p, "channel", "channel_commission")
    assert _pay(new, 1.1) - _pay(new, 1.0) == pytest.approx(2.0 * (_pay(old, 1.1) - _pay(old, 1.0)))
    assert _pay(new, 1.0) == pytest.approx(_pay(old, 1.0))
    # 1 leaves pay as it is (a knot may be added at 100%)
    one = _apply(scen, "accelerator", 1.0)
    for role, name in (("key_account", "revenue_bonus"), ("telesales", "revenue_bonus"), ("channel", "channel_commission")):
        for x in (0.5, 0.9, 1.0, 1.1, 1.7, 2.5):
            assert _pay(_comp(one, role, name), x) == pytest.approx(_pay(_comp(base, role, name), x), abs=1e-12)


def test_commission_rate_and_period(scen):
    p = _apply(scen, "commission_rate", 2.0)
    assert [t["rate"] for t in _comp(p, "channel", "channel_commission")["tiers"]] == [0.09, 0.2, 0.24]
    p = _apply(scen, "period", "month")
    assert {c["name"]: c["period"] for r in scen.roles for c in p["roles"][r]["components"]
            if c["measure"] == "revenue"} == {"revenue_bonus": "month", "channel_commission": "month"}
    assert _comp(p, "key_account", "new_accounts_bonus")["period"] == "year"


def test_pay_mix_keeps_ote_and_scales_money_elements(scen):
    p = _apply(scen, "pay_mix", 0.4)
    for r, role in scen.roles.items():
        ote = role.base_salary + role.target_incentive
        rp = p["roles"][r]
        assert rp["base_salary"] + rp["target_incentive"] == pytest.approx(ote)
        assert rp["target_incentive"] == pytest.approx(0.4 * ote)
    r_ts, r_ch = 0.4 * 60000 / 18000, 0.4 * 110000 / 40000
    assert _comp(p, "telesales", "per_conversion")["rate"] == pytest.approx(6 * r_ts)
    assert _comp(p, "channel", "new_partner_bonus")["rate"] == pytest.approx(1000 * r_ch)
    assert _comp(p, "channel", "channel_commission")["tiers"][0]["rate"] == pytest.approx(0.045 * r_ch)
    with pytest.raises(PlanError, match="pay_mix.*pass the scenario"):
        TRANSFORMS["pay_mix"].apply(plan_data(scen, "current"), 0.4)


def test_apply_leaves_its_input_alone(scen):
    base = plan_data(scen, "current")
    before = copy.deepcopy(base)
    for name, v in (("threshold", 0.6), ("accelerator", 2.0), ("pay_mix", 0.3), ("commission_gate", 0.5)):
        TRANSFORMS[name].apply(base, v, scenario=scen)
    assert base == before


# ----------------------------------------------------------------------
# Errors name the alias and what was expected
# ----------------------------------------------------------------------


BAD = [("target_level", 0), ("target_level", 6), ("target_level", "high"), ("team_weight", 1.5),
       ("team_split", "random"), ("threshold", -0.1), ("commission_gate", None), ("cap", 0), ("cap", -1),
       ("accelerator", -1), ("commission_rate", math.nan), ("pay_mix", 1.2), ("period", "week"),
       ("team_weight", True)]


@pytest.mark.parametrize("alias, value", BAD)
def test_bad_values_name_the_alias_and_the_domain(scen, alias, value):
    t = TRANSFORMS[alias]
    with pytest.raises(PlanError) as e:
        t.apply(plan_data(scen, "current"), value, scenario=scen)
    msg = str(e.value)
    assert f"'{alias}'" in msg and f"expected {t.domain}" in msg and repr(value) in msg
    # the sweep says the same, naming the parameter as the user wrote it
    with pytest.raises(PlanError, match=re.escape(f"sweep parameter '{alias}@channel': expected {t.domain}")):
        apply_point(scen, "current", [parse_param(f"{alias}@channel", scen)], [value])


def test_unknown_alias_and_inapplicable_transform(scen):
    with pytest.raises(PlanError, match=r"'bogus'.*unknown, expected one of \[.*'target_level'.*'period'\]"):
        get_transform("bogus")
    with pytest.raises(PlanError, match=r"sweep parameter 'bogus': unknown; expected one of the aliases"):
        parse_param("bogus", scen)
    with pytest.raises(PlanError, match=r"'threshold'.*no revenue pay curve .* in role\(s\) \['channel'\]"):
        _apply(scen, "threshold", 0.5, roles=["channel"])
    with pytest.raises(PlanError, match=r"'commission_gate'.*no revenue commission .*'telesales'"):
        _apply(scen, "commission_gate", 0.5, roles=["telesales"])
    with pytest.raises(PlanError, match=r"threshold 0.9 must stay below the next curve point \(0.75\)"):
        _apply(scen, "threshold", 0.9)
    with pytest.raises(PlanError, match=r"unknown role\(s\) \['nobody'\]"):
        _apply(scen, "cap", 2.0, roles=["nobody"])


def test_every_transform_is_declared_once_and_documented(scen):
    assert set(ALIASES) == set(TRANSFORMS) and set(CONTROLS) <= set(TRANSFORMS)
    readme = (ROOT / "README.md").read_text()
    for name, t in TRANSFORMS.items():
        assert t.name == name and t.meaning and t.domain and t.acts_on
        assert f"`{name}`" in readme, f"README does not mention the alias {name}"


# ----------------------------------------------------------------------
# Dotted paths
# ----------------------------------------------------------------------


def test_set_path_and_scale_path(scen):
    p = plan_data(scen, "current")
    assert set_path(p, "roles.*.quota.noise", 0.2) == 3
    assert all(rp["quota"]["noise"] == 0.2 for rp in p["roles"].values())
    assert set_path(p, "roles.telesales.components.revenue_bonus.cap", 3.0) == 1
    assert set_path(p, ["roles", "channel", "components", "0", "tiers", "-1", "rate"], 0.2) == 1
    assert _comp(p, "telesales", "revenue_bonus")["cap"] == 3.0
    assert _comp(p, "channel", "channel_commission")["tiers"][-1]["rate"] == 0.2
    s = scen.model_dump(by_alias=True, mode="json")
    assert scale_path(s, "roles.*.effort_elasticity", 0.5) == 3
    assert s["roles"]["telesales"]["effort_elasticity"] == pytest.approx(0.35)
    with pytest.raises(PlanError, match="where: no element named 'nope'"):
        set_path(p, "roles.telesales.components.nope.cap", 1.0, "where")
    with pytest.raises(PlanError, match="no field 'nothing'"):
        scale_path(s, "market.nothing", 2.0)
    with pytest.raises(PlanError, match="'name' is not a number"):
        scale_path(s, "name", 2.0)
    with pytest.raises(PlanError, match="out of range"):
        set_path(p, "roles.channel.components.5.rate", 1.0)


# ----------------------------------------------------------------------
# One meaning: sweep, optimize and the explorer build the same plan
# ----------------------------------------------------------------------

VALUES = {"target_level": 1.15, "team_weight": 0.25, "team_split": "contribution", "threshold": 0.4,
          "commission_gate": 0.85, "cap": None, "accelerator": 1.7, "commission_rate": 1.3, "pay_mix": 0.35,
          "period": "half"}


def _sweep_plan(scen, base, role, controls):
    specs = [parse_param(f"{n}@{role}", scen) for n in controls]
    return apply_point(scen, base, specs, list(controls.values()))[1]


@pytest.mark.parametrize("scenario", ["scen", "small_scenario"])
def test_explorer_and_sweep_build_the_same_plan(scenario, request):
    scen = request.getfixturevalue(scenario)
    assert set(VALUES) == set(TRANSFORMS)
    compared = 0
    for base in scen.plans:
        for role in scen.roles:
            for name, v in VALUES.items():
                try:
                    sweep_plan = _sweep_plan(scen, base, role, {name: v})
                except PlanError as exc:  # nothing to apply to: the explorer says so too
                    with pytest.raises(PlanError, match=re.escape(str(exc).split(": ", 1)[1][:40])):
                        variant_plan(scen, base, role, **{name: v})
                    continue
                assert variant_plan(scen, base, role, **{name: v}) == sweep_plan, (base, role, name)
                compared += 1
    assert compared > 50
    # several controls at once, in the registry's order
    ctl = {n: VALUES[n] for n in ("target_level", "team_weight", "team_split", "cap", "accelerator", "pay_mix")}
    role = next(r for r in scen.roles if any(c.kind == "curve" and c.measure == "revenue"
                                             for c in scen.role_plan(scen.current_plan, r).components))
    assert variant_plan(scen, scen.current_plan, role, **ctl) == _sweep_plan(scen, scen.current_plan, role, ctl)


def test_optimize_builds_the_plan_the_sweep_builds(scen):
    r = optimize(scen, {"target_level@telesales": (1.05, 1.05), "cap": (2.2, 2.2)}, trials=8, rng=0,
                 behaviour="none", starts=1, maxiter=0, executor="serial", sensitivity=[])
    assert r.params == {"target_level@telesales": 1.05, "cap": 2.2}
    sweep_plan = _sweep_plan(scen, "current", "telesales", {"target_level": 1.05})
    sweep_plan = TRANSFORMS["cap"].apply(sweep_plan, 2.2, scenario=scen)
    assert {k: v for k, v in r.plan.items() if k != "description"} == {
        k: v for k, v in sweep_plan.items() if k != "description"}
