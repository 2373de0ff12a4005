"""The vectorised engine agrees draw for draw with the slow plain-Python reference (docs/model.md section 6, step 4)."""

from __future__ import annotations

import numpy as np
import pytest

import simlib
from simlib.model.plans import compute_pay, set_quotas
from simlib.model.population import Layout, draw_chunk, market_multiplier, role_world, root_seed
from simlib.model.production import run_year
from simlib.model.reference import REFERENCE_METRICS, reference_trial, simulate_reference


def simulate(*args, **kw):
    """simlib.simulate with behaviour off unless a test asks otherwise (these checks are about behaviour 'none')."""
    return simlib.simulate(*args, **{"behaviour": "none", **kw})

RTOL = 1e-9
TRIALS = 5


def engine_pay_beside_reference(s, plans, seed: int, roles=None, trials: int = TRIALS):
    """For each role (all, or ``roles``) and plan: (role, plan, world, the engine's pay, the reference's pay of
    that role and plan in each trial), both on the same draws of ``trials`` trials from ``seed``."""
    root = root_seed(seed)
    draws = draw_chunk(Layout.of(s), root, np.arange(trials))
    market = market_multiplier(s, draws)
    refs = [reference_trial(s, list(plans), root, t)["pay"] for t in range(trials)]
    for rname in roles or s.roles:
        world = role_world(s, rname, draws, market)
        measures = run_year(world)
        for plan in plans:
            pay = compute_pay(s, plan, world, measures, set_quotas(s, plan, world))
            yield rname, plan, world, pay, [r[plan][rname] for r in refs]


def _close(a, b, what):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    assert a.shape == b.shape, what
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-9, err_msg=what)


@pytest.fixture(scope="module")
def engine_and_reference(small_scenario):
    s = small_scenario
    root = root_seed(20261127)
    draws = draw_chunk(Layout.of(s), root, np.arange(TRIALS))
    market = market_multiplier(s, draws)
    eng = {}
    for rname in s.roles:
        world = role_world(s, rname, draws, market)
        measures = run_year(world)
        pays = {}
        for plan in s.plans:
            quota = set_quotas(s, plan, world)
            pays[plan] = compute_pay(s, plan, world, measures, quota)
        eng[rname] = dict(world=world, measures=measures, pay=pays)
    ref = [reference_trial(s, list(s.plans), root, t) for t in range(TRIALS)]
    return s, market, eng, ref


def test_market_and_reps_agree(engine_and_reference):
    s, market, eng, ref = engine_and_reference
    for t in range(TRIALS):
        _close(market[t], ref[t]["market"], "market")
        for rname in s.roles:
            w = eng[rname]["world"]
            reps = ref[t]["roles"][rname]["reps"]
            _close(w.ability[t], [r["ability"] for r in reps], f"{rname} ability")
            _close(w.territory[t], [r["territory"] for r in reps], f"{rname} territory")
            _close(w.ramp[t], [r["ramp"] for r in reps], f"{rname} ramp")
            assert list(w.team) == [r["team"] for r in reps]


def test_every_measure_agrees(engine_and_reference):
    s, _, eng, ref = engine_and_reference
    for rname in s.roles:
        measures = eng[rname]["measures"]
        assert set(measures) == set(simlib.scenario.MEASURES[s.roles[rname].process])
        for k, arr in measures.items():
            for t in range(TRIALS):
                rm = ref[t]["roles"][rname]["measures"]
                _close(arr[t], [rm[r][k] for r in range(len(rm))], f"{rname}.{k} trial {t}")


def test_pay_of_every_plan_agrees(engine_and_reference):
    s, _, eng, ref = engine_and_reference
    for rname in s.roles:
        for plan in s.plans:
            pay = eng[rname]["pay"][plan]
            for t in range(TRIALS):
                rp = ref[t]["pay"][plan][rname]
                what = f"{plan}/{rname} trial {t}"
                _close(pay.quota[t], rp["quota"], what + " quota")
                _close(pay.attainment[t], rp["attainment"], what + " attainment")
                _close(pay.incentive[t], rp["incentive"], what + " incentive")
                _close(pay.recognition[t], rp["recognition"], what + " recognition")
                assert list(pay.capped[t]) == list(rp["capped"]), what + " capped"
                assert set(pay.components) == set(rp["components"])
                for c, v in pay.components.items():
                    _close(v[t], rp["components"][c], f"{what} component {c}")


def test_case_is_not_degenerate(engine_and_reference):
    """The comparison means something: pay varies across reps, caps and gates bite somewhere."""
    s, _, eng, _ = engine_and_reference
    for rname in s.roles:
        for plan in s.plans:
            inc = eng[rname]["pay"][plan].incentive
            assert np.all(np.isfinite(inc)) and np.std(inc) > 0, (plan, rname)
    capped = sum(eng[r]["pay"][p].capped.sum() for r in s.roles for p in s.plans)
    assert capped > 0
    conv = eng["ts"]["pay"]["current"].components["conv"]
    assert np.any(conv == 0) and np.any(conv > 0)  # the accuracy gate binds for some reps only


def test_simulate_reference_matches_simulate(small_scenario):
    trials = 6
    ref = simulate_reference(small_scenario, trials=trials, rng=7)
    res = simulate(small_scenario, trials=trials, rng=7, chunk_size=4)
    assert ref["plans"] == list(small_scenario.plans)
    assert ref["groups"] == [*small_scenario.roles, "total"]
    tr = res.trials()
    for plan in ref["plans"]:
        for g in ref["groups"]:
            sub = tr[(tr.plan == plan) & (tr.group == g)].sort_values("trial")
            for m in ("revenue", "incentive_cost", "total_comp", "profit"):
                _close(sub[m].to_numpy(), ref["metrics"][plan][g][m], f"{plan}/{g}/{m}")
            assert set(ref["metrics"][plan][g]) == set(REFERENCE_METRICS)
    s = res.summary()
    for plan in ref["plans"]:
        for g in ref["groups"]:
            for m in ("share_at_quota", "share_capped", "recognition_value", "gross_profit", "base_cost"):
                mean = s[(s.plan == plan) & (s.group == g) & (s.metric == m)]["mean"].item()
                assert mean == pytest.approx(np.mean(ref["metrics"][plan][g][m]), rel=1e-9, abs=1e-12), (plan, g, m)


def test_reference_on_default_scenario(default_scenario):
    ref = simulate_reference(default_scenario, trials=2, rng=3)
    res = simulate(default_scenario, trials=2, rng=3)
    assert ref["plans"] == list(default_scenario.plans)
    tr = res.trials()
    for plan in ref["plans"]:
        sub = tr[(tr.plan == plan) & (tr.group == "total")].sort_values("trial")
        _close(sub["incentive_cost"].to_numpy(), ref["metrics"][plan]["total"]["incentive_cost"], plan)
        _close(sub["revenue"].to_numpy(), ref["metrics"][plan]["total"]["revenue"], plan)


def test_reference_rejects_unknown_plan(small_scenario):
    with pytest.raises(simlib.PlanError, match="nope"):
        simulate_reference(small_scenario, ["nope"], trials=1)


@pytest.mark.slow
def test_reference_agrees_on_many_trials(small_scenario, default_scenario):
    """`make validate`: per-trial agreement over 60 trials of both scenarios, every plan."""
    for scen in (small_scenario, default_scenario):
        ref = simulate_reference(scen, trials=60, rng=11)
        tr = simulate(scen, trials=60, rng=11, chunk_size=13).trials()
        for plan in ref["plans"]:
            for g in ref["groups"]:
                sub = tr[(tr.plan == plan) & (tr.group == g)].sort_values("trial")
                for m in ("revenue", "incentive_cost", "total_comp", "profit"):
                    _close(sub[m].to_numpy(), ref["metrics"][plan][g][m], f"{scen.name}/{plan}/{g}/{m}")


def generic_scenario():
    """A small organisation with a generic role (lognormal revenue, units in proportion) beside key accounts."""
    from conftest import small_scenario_dict

    d = small_scenario_dict()
    d["roles"] = {"ka": d["roles"]["ka"], "gen": {
        "process": "generic", "headcount": 7, "team_size": 3, "base_salary": 50000, "target_incentive": 25000,
        "new_hire_share": 0.3, "ramp_months": 4, "ability_sd": 0.3,
        "production": {"revenue_per_month": 30000, "revenue_cv": 0.7, "revenue_per_unit": 1500},
    }}
    gen_current = {"quota": {"method": "territory"}, "components": [
        {"name": "rev", "weight": 0.8, "period": "quarter", "points": [[0.5, 0.0], [1.0, 1.0], [1.5, 2.5]], "cap": 2.5},
        {"name": "units", "measure": "units", "kind": "per_unit", "rate": 20}]}
    gen_variant = {"quota": {"method": "last_year"}, "team": {"weight": 0.5, "split": "contribution"},
                   "components": [{"name": "rev", "kind": "commission", "mode": "marginal", "points": None,
                                   "tiers": [{"from": 0.0, "rate": 0.04}, {"from": 1.0, "rate": 0.08}]},
                                  {"name": "units", "ytd_true_up": True, "period": "month", "cap": 3000}],
                   "gates": [{"measure": "units", "target": 150, "min_attainment": 0.8, "components": ["rev"]}]}
    d["plans"]["current"]["roles"] = {"ka": d["plans"]["current"]["roles"]["ka"], "gen": gen_current}
    d["plans"] = {"current": d["plans"]["current"],
                  "variant": {"description": "generic variant", "base": "current",
                              "changes": {"roles": {"gen": gen_variant}}}}
    d.pop("budget")
    return simlib.scenario_from_dict(d, "generic.yaml")


def test_generic_process_agrees_draw_for_draw():
    s = generic_scenario()
    root = root_seed(7)
    draws = draw_chunk(Layout.of(s), root, np.arange(TRIALS))
    market = market_multiplier(s, draws)
    world = role_world(s, "gen", draws, market)
    measures = run_year(world)
    assert set(measures) == {"revenue", "units"}
    ref = [reference_trial(s, list(s.plans), root, t) for t in range(TRIALS)]
    for t in range(TRIALS):
        rm = ref[t]["roles"]["gen"]["measures"]
        for k in ("revenue", "units"):
            _close(measures[k][t], [rm[r][k] for r in range(len(rm))], f"gen.{k} trial {t}")
    for plan in s.plans:
        pay = compute_pay(s, plan, world, measures, set_quotas(s, plan, world))
        assert np.std(pay.incentive) > 0
        for t in range(TRIALS):
            rp = ref[t]["pay"][plan]["gen"]
            _close(pay.quota[t], rp["quota"], f"{plan} quota")
            _close(pay.incentive[t], rp["incentive"], f"{plan} incentive trial {t}")
    # units follow revenue: about revenue / revenue_per_unit
    units, rev = measures["units"].sum(), measures["revenue"].sum()
    assert abs(units - rev / 1500) < 4 * np.sqrt(rev / 1500)


def test_generic_revenue_has_its_documented_mean_and_cv():
    """Monthly revenue of tenured average reps: mean revenue_per_month x season x market, CV as set."""
    s = generic_scenario()
    draws = draw_chunk(Layout.of(s), root_seed(3), np.arange(400))
    world = role_world(s, "gen", draws, market_multiplier(s, draws))
    rev = run_year(world)["revenue"]
    mu = 30000 * (world.ability * world.territory)[..., None] * world.season * world.market[:, None, :] * world.ramp
    ratio = (rev / mu).ravel()  # the lognormal factor alone
    n = ratio.size
    assert abs(ratio.mean() - 1.0) < 4 * 0.7 / np.sqrt(n)
    assert abs(ratio.std() - 0.7) < 0.05


def test_generic_engine_matches_reference_totals():
    s = generic_scenario()
    ref = simulate_reference(s, trials=3, rng=11)
    tr = simulate(s, trials=3, rng=11, chunk_size=2).trials()
    for plan in s.plans:
        for g in ("gen", "total"):
            sub = tr[(tr.plan == plan) & (tr.group == g)].sort_values("trial")
            for m in ("revenue", "incentive_cost", "profit"):
                _close(sub[m].to_numpy(), ref["metrics"][plan][g][m], f"{plan}/{g}/{m}")


#: scorecards on every role: interval and curve scoring, flows and scores, a payout table and a payout
#: curve, a composite gate, a cap, team weighting with both splits and a gate naming a scorecard
SCORECARD_PLANS = {
    "cards": {"base": "current", "changes": {"roles": {
        "ka": {"weights_total": 1.6, "scorecards": [{  # on top of the curves' 1.0
            "name": "card", "period": "half", "weight": 0.6, "total": 1,
            "measures": [
                {"measure": "revenue", "weight": 0.7, "intervals": [
                    {"from": 0.0, "to": 0.6, "score": 20}, {"from": 0.6, "to": 0.9, "score": 60},
                    {"from": 0.9, "to": 1.1, "score": 100}, {"from": 1.1, "score": 130}]},
                {"measure": "satisfaction", "target": 0.82, "weight": 0.3,
                 "curve": [[0.9, 0], [1.0, 100], [1.1, 120]], "beyond": "extend"}],
            "payout": {"intervals": [{"from": 40, "to": 80, "score": 0.5}, {"from": 80, "to": 110, "score": 1.0},
                                     {"from": 110, "score": 1.6}]},
            "min_score": 40, "cap": 1.4}]},
        "ts": {"team": {"weight": 0.4, "split": "contribution"}, "weights_total": 1.4, "scorecards": [{
            "name": "card", "period": "quarter", "weight": 0.5,
            "measures": [
                {"measure": "revenue", "weight": 50, "curve": [[0.5, 0], [1.0, 100], [1.5, 150]]},
                {"measure": "calls", "target": 7000, "weight": 30,
                 "intervals": [{"from": 0.9, "to": 1.0, "score": 80}, {"from": 1.0, "score": 100}]},
                {"measure": "record_accuracy", "target": 0.92, "weight": 20,
                 "curve": [[0.95, 0], [1.0, 100]]}],
            "payout": {"curve": [[50, 0.4], [100, 1.0], [130, 1.8]]}, "cap": 1.5}],
            "gates": [{"measure": "record_accuracy", "target": 0.92, "min_attainment": 0.99, "components": ["card"]}]},
        "ch": {"team": {"weight": 0.5, "split": "equal"}, "scorecards": [{
            "name": "card", "period": "year",
            "measures": [
                {"measure": "revenue", "weight": 80, "intervals": [{"from": 0.8, "to": 1.0, "score": 70},
                                                                  {"from": 1.0, "score": 100}]},
                {"measure": "partners_opened", "target": 8, "weight": 20, "curve": [[0.0, 0], [1.0, 100]]}],
            "payout": {"curve": [[60, 0.5], [100, 1.0]], "beyond": "extend"}, "min_score": 60}]},
    }}},
}


def test_scorecard_pay_agrees_with_reference(small_dict):
    """Scorecards: the vectorised pay equals the written-out reference rep by rep, and the case is not degenerate."""
    small_dict["plans"].update(SCORECARD_PLANS)
    s = simlib.scenario_from_dict(small_dict, "small.yaml")
    root = root_seed(5)
    draws = draw_chunk(Layout.of(s), root, np.arange(TRIALS))
    market = market_multiplier(s, draws)
    seen = {"capped": 0, "zero": 0, "levels": set()}
    for rname in s.roles:
        world = role_world(s, rname, draws, market)
        measures = run_year(world)
        quota = set_quotas(s, "cards", world)
        pay = compute_pay(s, "cards", world, measures, quota)
        card = pay.components["card"]
        seen["capped"] += int(pay.capped.sum())
        seen["zero"] += int((card == 0).sum())
        seen["levels"] |= set(np.round(card.ravel(), 6))
        for t in range(TRIALS):
            ref = reference_trial(s, ["cards"], root, t)["pay"]["cards"][rname]
            _close(card[t], ref["components"]["card"], f"{rname} scorecard trial {t}")
            _close(pay.incentive[t], ref["incentive"], f"{rname} incentive trial {t}")
            assert list(pay.capped[t]) == list(ref["capped"]), f"{rname} capped trial {t}"
    assert seen["capped"] > 0 and seen["zero"] > 0 and len(seen["levels"]) > 20


#: draws on every role: recoverable and forgiven beside team pay and a gate, a quarterly guarantee for
#: new hires on scorecards, a recoverable draw carried into next year beside a modifier
DRAW_PLANS = {
    "draws": {"base": "current", "changes": {"roles": {
        "ka": {"draw": {"amount": 2500, "period": "quarter", "recoverable": True, "at_year_end": "carry",
                        "months": 9}},
        "ts": {"team": {"weight": 0.3, "split": "contribution"}, "draw": {"amount": 300, "period": "month"}},
        "ch": {"draw": {"amount": 4000, "period": "quarter", "recoverable": False, "new_hires_only": True,
                        "months": 6}},
    }}},
}


def test_draw_pay_agrees_with_reference(small_dict):
    """Draws and guarantees: cash by month and balances equal the written-out reference rep by rep, on varied cases."""
    small_dict["plans"].update(SCORECARD_PLANS)
    small_dict["plans"].update(DRAW_PLANS)
    small_dict["plans"]["card_draws"] = {"base": "cards", "changes": {"roles": {
        r: {"draw": {"amount": 900, "period": "month", "months": 4}} for r in ("ka", "ts", "ch")}}}
    s = simlib.scenario_from_dict(small_dict, "small.yaml")
    seen = {"topped": 0, "recovered": 0, "outstanding": 0, "forgiven": 0}
    for rname, plan, _, pay, refs in engine_pay_beside_reference(s, ["draws", "card_draws"], 11):
        d = pay.draw
        if s.role_plan(plan, rname).draw.recoverable:  # an advance costs nothing beyond what is left unrecovered
            np.testing.assert_allclose(d.cash.sum(axis=-1), d.earned.sum(axis=-1) + d.forgiven + d.outstanding,
                                       rtol=1e-9, atol=1e-6)
        else:
            assert (d.cash.sum(axis=-1) >= d.earned.sum(axis=-1) - 1e-6).all()
        seen["topped"] += int((d.cash > d.earned + 1e-6).sum())
        seen["recovered"] += int((d.cash < d.earned - 1e-6).sum())
        seen["outstanding"] += int((d.outstanding > 0).sum())
        seen["forgiven"] += int((d.forgiven > 0).sum())
        for t in range(TRIALS):
            ref = refs[t]
            what = f"{plan} {rname} trial {t}"
            _close(pay.incentive[t], ref["incentive"], f"{what} incentive")
            _close(d.cash[t], [x["cash"] for x in ref["draw"]], f"{what} cash")
            _close(d.earned[t], [x["earned"] for x in ref["draw"]], f"{what} earned")
            _close(d.outstanding[t], [x["outstanding"] for x in ref["draw"]], f"{what} outstanding")
            _close(d.forgiven[t], [x["forgiven"] for x in ref["draw"]], f"{what} forgiven")
    assert min(seen.values()) > 0, seen


def test_spiff_pay_agrees_with_reference(small_dict):
    """SPIFFs: windows, minimums and budgets that bind in some trials, beside draws, team pay and modifiers."""
    small_dict["plans"].update(DRAW_PLANS)
    small_dict["plans"]["spiffs"] = {"base": "draws", "changes": {"roles": {
        "ka": {"spiffs": [{"name": "new_logos", "measure": "new_accounts", "from": 7, "to": 9, "rate": 3000,
                           "min_units": 1, "budget": 20000}]},
        "ts": {"spiffs": [{"name": "q2_revenue", "from": 4, "to": 6, "rate": 0.02, "budget": 12000},
                          {"name": "march_calls", "measure": "calls", "from": 3, "to": 3, "rate": 1.0}]},
        "ch": {"spiffs": [{"name": "partner_spiff", "measure": "partners_opened", "from": 1, "to": 12, "rate": 500}]},
    }}}
    s = simlib.scenario_from_dict(small_dict, "small.yaml")
    seen = {"zero": 0, "paid": 0, "budget_bound": 0}
    for rname, _, _, pay, refs in engine_pay_beside_reference(s, ["spiffs"], 12):
        seen["zero"] += int((pay.spiff == 0).sum())
        seen["paid"] += int((pay.spiff > 0).sum())
        for sp in s.role_plan("spiffs", rname).spiffs:
            if sp.budget is not None:
                seen["budget_bound"] += int(np.isclose(pay.components[sp.name].sum(axis=1), sp.budget).sum())
        for t in range(TRIALS):
            ref = refs[t]
            _close(pay.spiff[t], ref["spiff"], f"{rname} spiff trial {t}")
            _close(pay.incentive[t], ref["incentive"], f"{rname} incentive trial {t}")
            for name in pay.components:
                _close(pay.components[name][t], ref["components"][name], f"{rname} {name} trial {t}")
            _close(pay.draw.cash[t], [x["cash"] for x in ref["draw"]], f"{rname} cash trial {t}")
    assert min(seen.values()) > 0, seen


def test_payout_calendar_agrees_with_reference(small_dict):
    """The payout calendar on plain pay, on scorecards and on draws: accrual, cash and next year rep by rep."""
    small_dict["plans"].update(SCORECARD_PLANS)
    small_dict["plans"].update(DRAW_PLANS)
    calendars = {"ka": {"lag_months": 1, "holdback": 0.1},
                 "ts": {"lag_months": 2, "holdback": 0.25, "holdback_paid": "next_year"},
                 "ch": {"lag_months": 0}}
    for plan in ("current", "cards", "draws"):
        small_dict["plans"][f"{plan}_cal"] = {"base": plan, "changes": {"roles": {
            r: {"payout": c} for r, c in calendars.items()}}}
    s = simlib.scenario_from_dict(small_dict, "small.yaml")
    plans = ["current_cal", "cards_cal", "draws_cal"]
    late = 0.0
    for rname, plan, _, pay, refs in engine_pay_beside_reference(s, plans, 12):
        cal = pay.calendar
        late += float(cal.next_year.sum())
        for t in range(TRIALS):
            ref = refs[t]["calendar"]
            what = f"{plan} {rname} trial {t}"
            _close(cal.accrual[t], [c["accrual"] for c in ref], f"{what} accrual")
            _close(cal.cash[t], [c["cash"] for c in ref], f"{what} cash")
            _close(cal.next_year[t], [c["next_year"] for c in ref], f"{what} next year")
    assert late > 0


#: every named measure on every process (docs/model.md section 2, named measures)
NAMED_BLOCKS = {
    "market_share": {"share": 0.3, "size_cv": 0.2},
    "retention": {"customers": 25, "churn": 0.03, "quality_effect": 1.5},
    "profit_after_discounts": {"discount": 0.07, "discount_cv": 0.4},
    "growth": {},
    "visits": {"per_day": 2.5, "working_days": 20, "elasticity": 1.2},
    "segments": {"shares": {"core": 0.5, "services": 0.3, "new_product": 0.2}, "cv": 0.25},
}


def test_named_measures_and_their_pay_agree_with_reference(small_dict):
    """Market share, retention, profit after discounts, growth, visits and segments: engine = reference, rep by rep."""
    d = small_dict
    d["roles"]["gen"] = {"process": "generic", "headcount": 5, "base_salary": 50000, "target_incentive": 25000,
                         "new_hire_share": 0.4}
    for r in d["roles"].values():
        r["measures"] = NAMED_BLOCKS
    curve = [[0.5, 0.0], [1.0, 1.0], [1.5, 2.0]]
    named_plan = {"quota": {"method": "last_year"}, "components": [
        {"name": "rev", "weight": 0.3, "points": curve},
        {"name": "share", "measure": "market_share", "weight": 0.2, "target": 0.3, "period": "quarter", "points": curve},
        {"name": "growth", "measure": "growth", "weight": 0.2, "target": 1.05, "points": curve},
        {"name": "core", "measure": "revenue_core", "kind": "commission", "target": 100000,
         "tiers": [{"from": 0.0, "rate": 0.01}]},
        {"name": "new", "measure": "revenue_new_product", "kind": "commission", "target": 100000,
         "tiers": [{"from": 0.0, "rate": 0.05}]},
        {"name": "profit", "measure": "profit_after_discounts", "kind": "commission", "target": 100000,
         "tiers": [{"from": 0.0, "rate": 0.01}, {"from": 1.0, "rate": 0.02}]},
        {"name": "visits", "measure": "visits", "kind": "per_unit", "rate": 3}],
        "scorecards": [{"name": "card", "weight": 0.3, "measures": [
            {"measure": "retention", "weight": 60, "target": 0.7, "curve": [[0.9, 50], [1.0, 100], [1.1, 120]]},
            {"measure": "visits", "weight": 40, "target": 500, "intervals": [
                {"from": 0.0, "to": 0.8, "score": 0}, {"from": 0.8, "to": 1.0, "score": 60}, {"from": 1.0, "score": 100}]}],
            "payout": {"curve": [[0, 0.0], [100, 1.0], [120, 1.5]]}}]}
    d["plans"] = {"current": d["plans"]["current"],
                  "named": {"roles": {r: named_plan for r in d["roles"]}}}
    d["plans"]["current"]["roles"]["gen"] = {"components": [{"name": "rev", "weight": 1.0, "points": curve}]}
    s = simlib.scenario_from_dict(d, "named.yaml")
    root = root_seed(17)
    draws = draw_chunk(Layout.of(s), root, np.arange(TRIALS))
    market = market_multiplier(s, draws)
    ref = [reference_trial(s, ["named"], root, t) for t in range(TRIALS)]
    for rname in s.roles:
        world = role_world(s, rname, draws, market)
        measures = run_year(world)
        assert set(measures) == set(s.roles[rname].measure_kinds)
        pay = compute_pay(s, "named", world, measures, set_quotas(s, "named", world))
        assert all(np.std(v) > 0 for v in pay.components.values()), rname
        for t in range(TRIALS):
            rm = ref[t]["roles"][rname]["measures"]
            for k, arr in measures.items():
                _close(arr[t], [rm[r][k] for r in range(len(rm))], f"{rname}.{k} trial {t}")
            rp = ref[t]["pay"]["named"][rname]
            for c, v in pay.components.items():
                _close(v[t], rp["components"][c], f"{rname} {c} trial {t}")
            _close(pay.incentive[t], rp["incentive"], f"{rname} incentive trial {t}")


def test_clawback_agrees_with_reference(small_dict):
    """Cancelled deals and clawbacks: cancellations, amounts due, recoveries and balances rep by rep.

    Key accounts claw back their revenue curve (behind a revenue gate) within 2 months of booking and
    carry the balance; telesales claw back a quarterly curve with team pay and a revenue SPIFF under a
    draw and a payout calendar, and forgive the balance. Channel has no cancellations (their metrics are 0).
    """
    small_dict["plans"].update(DRAW_PLANS)
    small_dict["roles"]["ka"]["production"].update(cancel_rate=0.15, cancel_window_months=4)
    small_dict["roles"]["ts"]["production"].update(cancel_rate=0.05)
    small_dict["plans"]["claw"] = {"base": "draws", "changes": {"roles": {
        "ka": {"clawback": {"window_months": 2, "at_year_end": "carry"},
               "gates": [{"measure": "revenue", "min_attainment": 0.6, "components": ["rev"]}]},
        "ts": {"spiffs": [{"name": "q2_revenue", "from": 4, "to": 6, "rate": 0.02}],
               "clawback": {"components": ["rev", "q2_revenue"]}, "payout": {"lag_months": 1}},
    }}}
    s = simlib.scenario_from_dict(small_dict, "small.yaml")
    seen = {"cancelled": 0, "recovered": 0, "outstanding": 0, "forgiven": 0}
    for rname, plan, _, pay, refs in engine_pay_beside_reference(s, ["current", "claw"], 13, roles=("ka", "ts")):
        cb = pay.clawback
        seen["cancelled"] += int((cb.cancelled > 0).sum())
        seen["recovered"] += int((cb.recovered > 0).sum())
        seen["outstanding"] += int((cb.outstanding > 0).sum())
        seen["forgiven"] += int((cb.forgiven > 0).sum())
        for t in range(TRIALS):
            ref = refs[t]
            what = f"{plan} {rname} trial {t}"
            _close(cb.cancelled[t], [x["cancelled"] for x in ref["clawback"]], f"{what} cancelled")
            _close(cb.recovered[t], [x["recovered"] for x in ref["clawback"]], f"{what} recovered")
            _close(cb.outstanding[t], [x["outstanding"] for x in ref["clawback"]], f"{what} outstanding")
            _close(cb.forgiven[t], [x["forgiven"] for x in ref["clawback"]], f"{what} forgiven")
            _close(pay.incentive[t], ref["incentive"], f"{what} incentive")
            if ref["calendar"] is not None:
                _close(pay.calendar.cash[t], [c["cash"] for c in ref["calendar"]], f"{what} cash")
    assert min(seen.values()) > 0, seen
    for _, _, _, pay, _ in engine_pay_beside_reference(s, ["claw"], 13, roles=("ch",)):
        assert pay.clawback is None


def test_many_partners_opened_agree_with_reference():
    """Channel openings at 8 a month (some reps open 20 or more): engine and reference count the same partners, none
    cut at a fixed cap (tests/test_closed_form.py checks the Poisson mean)."""
    role = {"process": "channel", "headcount": 12, "team_size": 4, "base_salary": 60000, "target_incentive": 30000,
            "ability_sd": 0.3, "production": {"partners_per_month": 8.0}}
    plan = {"roles": {"ch": {"quota": {"method": "flat"},
                             "components": [{"name": "p", "measure": "partners_opened", "kind": "per_unit", "rate": 1}]}}}
    s = simlib.scenario_from_dict({"name": "many", "roles": {"ch": role}, "plans": {"current": plan}}, "many.yaml")
    most = 0.0
    for _, _, _, pay, refs in engine_pay_beside_reference(s, ["current"], 4):
        for t, rp in enumerate(refs):
            _close(pay.incentive[t], rp["incentive"], f"trial {t} partners opened")
            most = max(most, float(np.max(pay.incentive[t])))
    assert most > 12 * 10  # more than the old cap of 10 a month would allow in a year


def test_cancellations_of_thousands_of_deals_agree_with_reference():
    """A generic role booking about 4,000 units a month, half cancelling ((1 - p)^n underflows): engine and reference
    cancel the same revenue rep by rep and month by month, about half of it (tests/test_closed_form.py checks the
    expectation)."""
    from simlib.model.production import cancellations

    role = {"process": "generic", "headcount": 6, "base_salary": 1, "target_incentive": 1,
            "production": {"revenue_per_month": 40000, "revenue_per_unit": 10, "cancel_rate": 0.5}}
    plan = {"roles": {"g": {"quota": {"method": "flat"}, "components": [{"name": "c", "points": [[0, 0], [1, 1]]}]}}}
    s = simlib.scenario_from_dict({"name": "cancels", "roles": {"g": role}, "plans": {"current": plan}}, "c.yaml")
    root = root_seed(9)
    draws = draw_chunk(Layout.of(s), root, np.arange(2))
    world = role_world(s, "g", draws, market_multiplier(s, draws))
    measures = run_year(world)
    eng = cancellations(world, measures).revenue
    for t in range(2):
        ref = reference_trial(s, ["current"], root, t)["roles"]["g"]["reps"]
        _close(eng[t], [rep["cancelled"] for rep in ref], f"trial {t} cancelled revenue")
    share = eng.sum() / np.asarray(measures["revenue"]).sum()
    assert 0.49 < share < 0.51


def test_many_deals_a_month_agree_with_reference():
    """Key accounts at 8 deals a month: engine and reference count the same deals and new accounts, more than 12 in
    some rep-months (the old cap), and the same revenue and large orders."""
    role = {"process": "key_account", "headcount": 10, "team_size": 5, "base_salary": 90000, "target_incentive": 30000,
            "ability_sd": 0.3, "production": {"deals_per_month": 8.0, "deal_size_mean": 60000}}
    comps = [{"name": m, "measure": m, "kind": "per_unit", "rate": 1}
             for m in ("deals", "new_accounts", "large_order_value")]
    plan = {"roles": {"ka": {"quota": {"method": "flat"}, "components": comps}}}
    s = simlib.scenario_from_dict({"name": "many", "roles": {"ka": role}, "plans": {"current": plan}}, "many.yaml")
    most = 0.0
    for _, _, world, pay, refs in engine_pay_beside_reference(s, ["current"], 6):
        for t, rp in enumerate(refs):
            _close(pay.incentive[t], rp["incentive"], f"trial {t} deals, new accounts and large orders")
        most = max(most, float(np.max(run_year(world)["deals"])))
    assert most > 12
