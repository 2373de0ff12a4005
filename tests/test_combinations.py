"""Plan mechanics combined: currencies with named measures, programmes, clawbacks, draws, SPIFFs, the payout
calendar and crediting; versions with scorecards, named measures and crediting (docs/model.md section 3,
combining mechanics). Each combination either gives the numbers of its parts or is refused naming the field."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

import simlib
from simlib.errors import ScenarioError
from simlib.io import SHIPPED
from simlib.model.reference import simulate_reference

TRIALS = 12
RATE = 0.9


def _summary(res):
    return res.summary().set_index(["plan", "group", "metric"])["mean"]


def _agrees_with_reference(s, plans: list[str], trials: int = 3, rng: int = 3):
    """Every metric of every group of the engine's run equals the slow reference's (draw for draw)."""
    res = _summary(simlib.simulate(s, plans, trials=trials, rng=rng, behaviour="none"))
    ref = simulate_reference(s, plans, trials=trials, rng=rng)
    for plan in plans:
        for g in ref["groups"]:
            for m, v in ref["metrics"][plan][g].items():
                assert res[(plan, g, m)] == pytest.approx(np.mean(v), rel=1e-9, abs=1e-6), (plan, g, m)
    return res, ref


def _scenario(d: dict):
    return simlib.scenario_from_dict(copy.deepcopy(d), "combo.yaml")


def _in_usd(d: dict, *roles: str) -> dict:
    """The same scenario with ``roles`` paid in USD at 0.9 EUR per USD (every amount then reads as USD)."""
    d = copy.deepcopy(d)
    for r in roles:
        d["roles"][r]["currency"] = "USD"
    d["fx"] = {"USD": RATE}
    return d


def _both(d: dict, plans, *roles: str, trials: int = TRIALS):
    """Summaries of a scenario in the reporting currency and with ``roles`` in USD, on the same draws."""
    a = _summary(simlib.simulate(_scenario(d), plans, trials=trials, rng=5, behaviour="none"))
    b = _summary(simlib.simulate(_scenario(_in_usd(d, *roles)), plans, trials=trials, rng=5, behaviour="none"))
    return a, b


def _with_mechanics(small_dict: dict) -> dict:
    """Key accounts with a cancellation process and a plan holding a recoverable draw, a clawback, a SPIFF and a
    payout calendar together."""
    d = copy.deepcopy(small_dict)
    d["roles"]["ka"]["production"].update(cancel_rate=0.1, cancel_window_months=4)
    d["plans"]["together"] = {"base": "current", "changes": {"roles": {"ka": {
        "draw": {"amount": 5000, "period": "quarter", "recoverable": True, "at_year_end": "forgive"},
        "clawback": {"window_months": 6, "at_year_end": "carry"},
        "spiffs": [{"name": "q3_logos", "measure": "new_accounts", "from": 7, "to": 9, "rate": 5000,
                    "budget": 100000}],
        "payout": {"lag_months": 1},
    }}}}
    return d


def test_named_measures_of_a_foreign_currency_role_are_converted(small_dict):
    """Profit after discounts of a USD role is its USD figure times the rate; shares and growth are unchanged,
    and the total's pooled share weighs each role's money in the reporting currency."""
    d = copy.deepcopy(small_dict)
    d["roles"]["ka"]["measures"] = {"profit_after_discounts": {"discount": 0.08}, "market_share": {"share": 0.1},
                                    "growth": {}}
    d["roles"]["ts"]["measures"] = {"profit_after_discounts": {"discount": 0.05}, "market_share": {"share": 0.2}}
    a, b = _both(d, ["current"], "ka")
    k = ("current", "ka")
    assert b[(*k, "profit_after_discounts")] == pytest.approx(RATE * a[(*k, "profit_after_discounts")], rel=1e-12)
    assert b[("current", "total", "profit_after_discounts")] == pytest.approx(
        RATE * a[(*k, "profit_after_discounts")] + a[("current", "ts", "profit_after_discounts")], rel=1e-12)
    for m in ("market_share", "growth_rate"):
        assert b[(*k, m)] == pytest.approx(a[(*k, m)], rel=1e-12)
    assert b[("current", "ts", "market_share")] == a[("current", "ts", "market_share")]
    # the pooled share moves towards the unconverted role's, as its money now weighs more
    ka, ts = a[(*k, "market_share")], a[("current", "ts", "market_share")]
    assert min(ka, ts) < b[("current", "total", "market_share")] < max(ka, ts)
    assert b[("current", "total", "market_share")] != pytest.approx(a[("current", "total", "market_share")], rel=1e-9)


def test_draws_clawbacks_spiffs_and_calendar_convert_together(small_dict):
    """Every cost of a plan combining a draw, a clawback, a SPIFF and a payout calendar converts at the rate."""
    d = _with_mechanics(small_dict)
    a, b = _both(d, ["together"], "ka")
    k = ("together", "ka")
    for m in ("incentive_cost", "spiff_cost", "clawback_recovered", "clawback_unrecovered", "cancelled_revenue",
              "draw_outstanding", "revenue"):
        assert b[(*k, m)] == pytest.approx(RATE * a[(*k, m)], rel=1e-12), m
    assert a[(*k, "clawback_recovered")] > 0 and a[(*k, "spiff_cost")] > 0
    cash = [m for m in {i[2] for i in a.index} if m.startswith("cash_")]
    assert cash
    for m in cash:
        assert b[(*k, m)] == pytest.approx(RATE * a[(*k, m)], rel=1e-12, abs=1e-9), m
    assert b[(*k, "incentive_cost_local")] == pytest.approx(a[(*k, "incentive_cost")], rel=1e-12)


def test_combined_mechanics_in_a_foreign_currency_match_the_reference(small_dict):
    """Engine and slow reference agree draw for draw on the combined plan and on programmes in USD."""
    d = _with_mechanics(small_dict)
    d["plans"]["programmes"] = {"base": "current", "changes": {"roles": {"ka": {"programmes": [
        {"name": "club", "kind": "honour", "threshold": 1.1, "value": 6000, "cost_per_winner": 8000},
        {"name": "training", "kind": "training", "share": 0.3, "select": "highest", "cost_per_head": 4000,
         "ability_gain": 0.05, "delay_months": 3}]}}}}
    s = _scenario(_in_usd(d, "ka"))
    plans = ["together", "programmes"]
    res, ref = _agrees_with_reference(s, plans)
    assert np.mean(ref["metrics"]["programmes"]["ka"]["programme_cost"]) > 0


def _crediting() -> dict:
    with open(SHIPPED / "scenarios" / "crediting.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def test_crediting_across_currencies_is_refused_naming_the_role():
    """An overlay or manager paid in another currency than the role it is credited on is refused."""
    d = _in_usd(_crediting(), "key_account")
    with pytest.raises(ScenarioError) as e:
        _scenario(d)
    msg = str(e.value)
    for r in ("sales_engineer", "ka_manager"):
        assert f"roles.{r}.currency" in msg
    assert "credited on 'key_account', whose results are in USD, but is paid in EUR" in msg
    assert "telesales" not in msg and "ts_manager" not in msg


def test_overlays_and_managers_in_their_role_currency_convert_with_it():
    """Split deals, an overlay and a manager all in USD: their costs are the EUR scenario's times the rate."""
    d = _crediting()
    a, b = _both(d, ["current", "overlay_commission"], "key_account", "sales_engineer", "ka_manager", trials=6)
    for plan in ("current", "overlay_commission"):
        for g, m in (("key_account", "credited_revenue"), ("sales_engineer", "overlay_cost"),
                     ("ka_manager", "manager_cost"), ("sales_engineer", "incentive_cost")):
            assert b[(plan, g, m)] == pytest.approx(RATE * a[(plan, g, m)], rel=1e-12), (plan, g, m)
        assert b[(plan, "key_account", "credit_ratio")] == pytest.approx(a[(plan, "key_account", "credit_ratio")])
        assert b[(plan, "telesales", "incentive_cost")] == a[(plan, "telesales", "incentive_cost")]
        assert b[(plan, "total", "manager_cost")] == pytest.approx(
            RATE * a[(plan, "ka_manager", "manager_cost")] + a[(plan, "ts_manager", "manager_cost")], rel=1e-12)


def _crediting_with_measures() -> dict:
    """Key accounts with named measures (split deals, an overlay and managers over them), the overlay paid in part
    on profit after discounts and the key-account managers on their teams' retention."""
    d = _crediting()
    d["roles"]["key_account"]["measures"] = {"retention": {"customers": 12, "churn": 0.01},
                                             "profit_after_discounts": {"discount": 0.06},
                                             "market_share": {"share": 0.15}}
    d["plans"]["named"] = {"base": "current", "changes": {"roles": {
        "ka_manager": {"components": [
            {"name": "revenue", "weight": 0.7},
            {"name": "retention", "measure": "retention", "weight": 0.3, "target": 0.9,
             "points": [[0.9, 0.0], [1.0, 1.0], [1.05, 1.5]]}]},
        "sales_engineer": {"components": [
            {"name": "revenue", "weight": 0.6},
            {"name": "margin", "measure": "profit_after_discounts", "weight": 0.4, "target": 12000000,
             "points": [[0.5, 0.0], [1.0, 1.0], [1.5, 1.5]]}]}}}}
    return d


def test_named_measures_roll_up_to_overlays_and_managers():
    """Overlays and managers are paid on the named measures of the reps they cover (engine and reference agree);
    the named metrics count the front line's book once, on booked (not credited) revenue."""
    d = _crediting_with_measures()
    s = _scenario(d)
    assert s.roles["ka_manager"].measures == s.roles["key_account"].measures  # taken from the covered role
    plans = ["current", "named"]
    res, ref = _agrees_with_reference(s, plans)
    assert res[("named", "ka_manager", "incentive_cost")] != res[("current", "ka_manager", "incentive_cost")]
    assert res[("named", "sales_engineer", "incentive_cost")] != res[("current", "sales_engineer", "incentive_cost")]
    a = _summary(simlib.simulate(s, ["current"], trials=TRIALS, rng=5, behaviour="none"))
    for m in ("profit_after_discounts", "market_share", "retention_rate"):
        assert a[("current", "total", m)] == pytest.approx(a[("current", "key_account", m)], rel=1e-12), m
        for g in ("ka_manager", "sales_engineer"):  # theirs are the covered reps', not counted again
            assert np.isnan(a.get(("current", g, m), np.nan)), (g, m)
    unsplit = copy.deepcopy(d)
    del unsplit["roles"]["key_account"]["split"]
    b = _summary(simlib.simulate(_scenario(unsplit), ["current"], trials=TRIALS, rng=5, behaviour="none"))
    assert a[("current", "key_account", "credit_ratio")] > 1.0
    for m in ("market_share", "profit_after_discounts", "retention_rate"):  # splitting credit books nothing more
        assert a[("current", "key_account", m)] == pytest.approx(b[("current", "key_account", m)], rel=1e-12), m


def test_a_credited_role_gives_no_named_measures_of_its_own():
    d = _crediting_with_measures()
    d["roles"]["ka_manager"]["measures"] = {"retention": {"customers": 30, "churn": 0.02}}
    with pytest.raises(ScenarioError) as e:
        _scenario(d)
    assert "roles.ka_manager.measures" in str(e.value)
    assert "give them in roles.key_account.measures" in str(e.value)
    d = _crediting_with_measures()
    del d["roles"]["key_account"]["measures"]
    with pytest.raises(ScenarioError) as e:
        _scenario(d)
    assert "plans.named.roles.ka_manager.components.1.measure" in str(e.value)
    assert "needs roles.key_account.measures.retention" in str(e.value)  # where the measure comes from


def test_a_version_on_the_same_quarterly_scorecard_from_july_changes_nothing():
    """Versions and scorecards: a quarterly scorecard split at a quarter boundary into two versions of the same
    terms pays exactly as the plan without versions (targets and pay at target prorate by months in force)."""
    with open(SHIPPED / "scenarios" / "scorecards.yaml", encoding="utf-8") as f:
        d = yaml.safe_load(f)
    d["plans"]["twice"] = {"base": "scorecard", "changes": {"roles": {
        "telesales": {"versions": [{"from_month": 7, "plan": "scorecard"}]}}}}
    res = _summary(simlib.simulate(_scenario(d), ["scorecard", "twice"], trials=TRIALS, rng=4, behaviour="none"))
    for m in ("incentive_cost", "payout_p50", "share_at_quota", "target_incentive"):
        if ("scorecard", "telesales", m) in res.index:
            assert res[("twice", "telesales", m)] == pytest.approx(res[("scorecard", "telesales", m)], rel=1e-12), m
    assert res[("twice", "key_account", "incentive_cost")] == res[("scorecard", "key_account", "incentive_cost")]


def _combined_scenario() -> dict:
    """A USD key-account team with a cancellation process, named measures, split deals, a USD overlay and managers,
    and a plan with a draw, a clawback, a SPIFF, a payout calendar, an honour, and managers paid on retention."""
    d = _in_usd(_crediting(), "key_account", "sales_engineer", "ka_manager")
    d["fx_sd"] = {"USD": 0.05}
    d["roles"]["key_account"]["production"].update(cancel_rate=0.08, cancel_window_months=4)
    d["roles"]["key_account"]["measures"] = {"retention": {"customers": 12, "churn": 0.01},
                                             "profit_after_discounts": {"discount": 0.06}}
    d["plans"]["together"] = {"base": "current", "changes": {"roles": {
        "key_account": {
            "draw": {"amount": 5000, "period": "quarter", "recoverable": True, "at_year_end": "forgive"},
            "clawback": {"window_months": 6, "at_year_end": "carry"},
            "spiffs": [{"name": "q3_logos", "measure": "new_accounts", "from": 7, "to": 9, "rate": 5000,
                        "budget": 100000}],
            "payout": {"lag_months": 1},
            "programmes": [{"name": "club", "kind": "honour", "threshold": 1.2, "value": 6000,
                            "cost_per_winner": 8000}]},
        "ka_manager": {"components": [
            {"name": "revenue", "weight": 0.7},
            {"name": "retention", "measure": "retention", "weight": 0.3, "target": 0.9,
             "points": [[0.9, 0.0], [1.0, 1.0], [1.05, 1.5]]}]}}}}
    d["plans"]["h2_commission"] = {"base": "current", "changes": {"roles": {
        "sales_engineer": {"versions": [{"from_month": 7, "plan": "overlay_commission"}]}}}}
    return d


def test_the_commands_on_a_plan_combining_mechanics(tmp_path, capsys):
    """validate, run (xlsx), reps, plan export/import, synth and replay on the combined scenario: each works, or
    refuses with a message naming what it cannot do."""
    from simlib.cli import main

    path = tmp_path / "combo.yaml"
    path.write_text(yaml.safe_dump(_combined_scenario(), sort_keys=False), encoding="utf-8")
    scen = simlib.load_scenario(path)

    def cli(*args):
        capsys.readouterr()
        code = main([str(a) for a in args])
        return code, capsys.readouterr()

    assert cli("validate", path)[0] == 0
    assert cli("run", path, "--trials", 6, "--behaviour", "none", "--out", tmp_path / "run.xlsx")[0] == 0
    assert (tmp_path / "run.xlsx").stat().st_size > 0
    code, out = cli("reps", path, "--plan", "together", "--trials", 6, "--behaviour", "none")
    assert code == 0 and "ka_manager" in out.out
    assert cli("plan", "export", path, "--out", tmp_path / "p.xlsx")[0] == 0
    assert cli("plan", "import", tmp_path / "p.xlsx", "--out", tmp_path / "back.yaml")[0] == 0
    back = simlib.load_scenario(tmp_path / "back.yaml")
    assert back.roles == scen.roles and back.fx == scen.fx and back.fx_sd == scen.fx_sd
    for p in scen.plans:
        for r in scen.roles:
            assert back.role_plan(p, r) == scen.role_plan(p, r), (p, r)
    # a history cannot record the retention the managers are paid on under 'together': refused, naming it
    code, out = cli("synth", path, "--plan", "together", "--out", tmp_path / "h.csv")
    assert code == 1 and "pays ka_manager on 'retention' (component 'retention')" in out.err
    assert not (tmp_path / "h.csv").exists()
    assert cli("synth", path, "--out", tmp_path / "h.csv")[0] == 0
    code, out = cli("replay", path, tmp_path / "h.csv")
    assert code == 0 and "recomputed under 'current' equal the recorded payouts" in out.out
    assert "plan 'together' not replayed: plan 'together' pays ka_manager on 'retention'" in out.out
    code, out = cli("replay", path, tmp_path / "h.csv", "--plan", "together")
    assert code == 1 and "a named measure that is simulated and not recorded" in out.err


def test_versions_on_credited_and_front_roles_match_the_reference():
    """Mid-year versions under crediting: an overlay switching to a commission in July, managers and split-deal
    reps to a plan with another quota level; the engine and the slow reference agree draw for draw."""
    d = _crediting()
    d["plans"]["lower_quotas"] = {"base": "current", "changes": {"roles": {
        "ka_manager": {"quota": {"level": 0.9}}, "key_account": {"quota": {"level": 0.95}}}}}
    d["plans"]["h2"] = {"base": "current", "changes": {"roles": {
        "sales_engineer": {"versions": [{"from_month": 7, "plan": "overlay_commission"}]},
        "ka_manager": {"versions": [{"from_month": 7, "plan": "lower_quotas"}]},
        "key_account": {"versions": [{"from_month": 10, "plan": "lower_quotas"}]}}}}
    s = _scenario(d)
    plans = ["current", "lower_quotas", "h2"]
    res, _ = _agrees_with_reference(s, plans, trials=2, rng=7)
    # the managers' second half at the lower quota pays more than the same half at today's
    assert res[("h2", "ka_manager", "incentive_cost")] > res[("current", "ka_manager", "incentive_cost")]


def test_behaviour_does_not_depend_on_the_currency_a_role_is_paid_in(small_dict):
    """Under ``dynamic``, a role whose every amount is in USD behaves as in EUR (the same attainment and
    behaviour indices) with a draw, a clawback, a SPIFF, an honour and pay on profit after discounts."""
    d = _with_mechanics(small_dict)
    d["roles"]["ka"]["measures"] = {"profit_after_discounts": {"discount": 0.08}}
    d["plans"]["together"]["changes"]["roles"]["ka"]["programmes"] = [
        {"name": "club", "kind": "honour", "threshold": 1.1, "value": 6000, "cost_per_winner": 8000}]
    d["plans"]["margin"] = {"base": "current", "changes": {"roles": {"ka": {"components": [
        {"name": "rev", "weight": 0.5}, {"name": "newacc", "weight": 0.2},
        {"name": "margin", "measure": "profit_after_discounts", "weight": 0.3, "target": 600000,
         "points": [[0.5, 0.0], [1.0, 1.0], [1.5, 1.5]]}]}}}}
    plans = ["current", "together", "margin"]
    a = _summary(simlib.simulate(_scenario(d), plans, trials=8, rng=5, behaviour="dynamic"))
    b = _summary(simlib.simulate(_scenario(_in_usd(d, "ka")), plans, trials=8, rng=5, behaviour="dynamic"))
    shares = [m for m in {i[2] for i in a.index} if m.startswith(("attainment_", "share_", "payout_"))]
    assert shares
    for p in plans:
        for m in shares:
            assert b[(p, "ka", m)] == pytest.approx(a[(p, "ka", m)], rel=1e-9, abs=1e-12), (p, m)
        for m in ("incentive_cost", "revenue", "profit_after_discounts", "discount_cost"):
            assert b[(p, "ka", m)] == pytest.approx(RATE * a[(p, "ka", m)], rel=1e-9), (p, m)
    assert a[("together", "ka", "revenue")] != a[("current", "ka", "revenue")]  # the mechanics moved behaviour
