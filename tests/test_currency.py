"""Roles paid in their own currencies: exchange rates, FX uncertainty, totals in the reporting currency (docs/model.md section 3)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

import simlib
from simlib.errors import ScenarioError
from simlib.io import SHIPPED
from simlib.model.population import Layout
from simlib.model.reference import simulate_reference
from simlib.scenario import load_scenario

TRIALS = 40


def _summary(res):
    return res.summary().set_index(["plan", "group", "metric"])["mean"]


def _with_usd(d, **fx):
    d = copy.deepcopy(d)
    d["roles"]["ka"]["currency"] = "USD"
    d["fx"] = {"USD": 0.9}
    d.update(fx)
    return simlib.scenario_from_dict(d, "small.yaml")


def test_a_role_in_another_currency_is_converted_at_its_rate(small_dict):
    """Money of a USD role is its own-currency money times the rate; the other roles and shares are untouched."""
    plain = simlib.scenario_from_dict(copy.deepcopy(small_dict), "small.yaml")
    usd = _with_usd(small_dict)
    a = _summary(simlib.simulate(plain, ["current", "variant"], trials=TRIALS, rng=5, behaviour="none"))
    b = _summary(simlib.simulate(usd, ["current", "variant"], trials=TRIALS, rng=5, behaviour="none"))
    for plan in ("current", "variant"):
        for m in ("revenue", "incentive_cost", "base_cost", "total_comp", "profit", "recognition_value"):
            assert b[(plan, "ka", m)] == pytest.approx(0.9 * a[(plan, "ka", m)], rel=1e-12)
            assert b[(plan, "ts", m)] == a[(plan, "ts", m)]
            assert b[(plan, "total", m)] == pytest.approx(
                0.9 * a[(plan, "ka", m)] + a[(plan, "ts", m)] + a[(plan, "ch", m)], rel=1e-12)
        for m in ("share_at_quota", "payout_p50", "gini_pay", "comp_cost_of_sales"):
            assert b[(plan, "ka", m)] == pytest.approx(a[(plan, "ka", m)], rel=1e-12)
        assert b[(plan, "ka", "incentive_cost_local")] == pytest.approx(a[(plan, "ka", "incentive_cost")], rel=1e-12)
        assert b[(plan, "ka", "total_comp_local")] == pytest.approx(a[(plan, "ka", "total_comp")], rel=1e-12)
        assert b[(plan, "ka", "fx_rate")] == pytest.approx(0.9)
        assert b[(plan, "ts", "fx_rate")] == 1.0
        assert (plan, "total", "incentive_cost_local") not in b.index  # not summed across currencies
    assert "fx_rate" not in set(a.index.get_level_values("metric"))  # only when some role has its own currency


def test_fx_uncertainty_is_one_appended_draw_per_currency(small_dict):
    """An uncertain rate is a mean-one lognormal draw per trial after every other draw: nothing else moves."""
    fixed = _with_usd(small_dict)
    uncertain = _with_usd(small_dict, fx_sd={"USD": 0.1})
    lay0, lay1 = Layout.of(fixed), Layout.of(uncertain)
    assert lay1.n_uniform == lay0.n_uniform + 1 and lay1.n_normal == lay0.n_normal
    assert lay1.uniforms["fx.USD"][0] == lay0.n_uniform
    n = 400
    a = simlib.simulate(fixed, ["current"], trials=n, rng=9, behaviour="none")
    b = simlib.simulate(uncertain, ["current"], trials=n, rng=9, behaviour="none")
    sa, sb = _summary(a), _summary(b)
    for m in ("incentive_cost_local", "total_comp_local"):
        assert sb[("current", "ka", m)] == sa[("current", "ka", m)]
    assert sb[("current", "ts", "incentive_cost")] == sa[("current", "ts", "incentive_cost")]
    se = 0.9 * 0.1 / np.sqrt(n)
    assert sb[("current", "ka", "fx_rate")] == pytest.approx(0.9, abs=4 * se)
    sd = b.summary().set_index(["plan", "group", "metric"])["se"][("current", "ka", "fx_rate")] * np.sqrt(n)
    assert sd == pytest.approx(0.9 * np.sqrt(np.exp(0.01) - 1), rel=0.2)


def test_reference_converts_draw_for_draw(small_dict):
    s = _with_usd(small_dict, fx_sd={"USD": 0.15})
    res = _summary(simlib.simulate(s, ["current", "variant"], trials=4, rng=3, behaviour="none"))
    ref = simulate_reference(s, ["current", "variant"], trials=4, rng=3)
    for plan in ("current", "variant"):
        for g in ref["groups"]:
            for m in ("revenue", "incentive_cost", "base_cost", "profit", "recognition_value"):
                assert res[(plan, g, m)] == pytest.approx(np.mean(ref["metrics"][plan][g][m]), rel=1e-9), (plan, g, m)


@pytest.mark.parametrize("change, field, words", [
    ({"roles": {"ka": {"currency": "USD"}}}, "roles.ka.currency", "'USD' has no exchange rate"),
    ({"fx": {"USD": 0.9}, "fx_sd": {"GBP": 0.1}}, "fx_sd.GBP", "no rate for 'GBP'"),
    ({"fx": {"EUR": 1.0}}, "fx.EUR", "is the reporting currency"),
    ({"fx": {"USD": -1}}, "fx.USD", "greater than 0"),
])
def test_bad_currencies_name_the_field(small_dict, change, field, words):
    d = simlib.scenario.deep_merge(small_dict, change)
    with pytest.raises(ScenarioError) as e:
        simlib.scenario_from_dict(d, "fx.yaml")
    assert field in str(e.value) and words in str(e.value), str(e.value)


def test_roster_reps_are_paid_in_their_roles_currency(tmp_path):
    data = yaml.safe_load((SHIPPED / "scenarios" / "default.yaml").read_text())
    for spec in data["roles"].values():
        spec.pop("headcount")
    data["roles"]["key_account"]["currency"] = "USD"
    data.update(roster="roster.csv", year_start="2026-01-01", fx={"USD": 0.92})
    header = "Rep ID,Role,Team,Base Salary,Target Incentive,Hire Date,Currency"
    rows = ["T1,telesales,North,42000,18000,2020-01-15,EUR", "K1,key_account,Ent,90000,60000,2018-01-01,USD",
            "C1,channel,Partners,70000,40000,2019-01-01,EUR"]
    (tmp_path / "roster.csv").write_text("\n".join([header, *rows]) + "\n")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    assert load_scenario(tmp_path / "s.yaml").roles["key_account"].currency == "USD"
    rows[1] = rows[1].replace("USD", "EUR")
    (tmp_path / "roster.csv").write_text("\n".join([header, *rows]) + "\n")
    with pytest.raises(ScenarioError) as e:
        load_scenario(tmp_path / "s.yaml")
    assert "currency mismatch: 'EUR', role 'key_account' is paid in 'USD'" in str(e.value)


def test_shipped_midyear_scenario_reports_in_euro():
    """scenarios/midyear.yaml: a USD role beside a EUR one, a mid-year change and a Q4 switch, run as a user would."""
    s = load_scenario(SHIPPED / "scenarios" / "midyear.yaml")
    res = _summary(simlib.simulate(s, ["current", "h2_richer", "q4_switch"], trials=30, rng=1, behaviour="none"))
    ka, eu = "us_key_account", "eu_inside_sales"
    assert res[("current", ka, "incentive_cost")] == pytest.approx(
        res[("current", ka, "incentive_cost_local")] * 0.92, rel=0.05)
    assert res[("h2_richer", ka, "incentive_cost")] > res[("current", ka, "incentive_cost")]  # richer from July
    assert res[("q4_switch", ka, "incentive_cost")] == res[("current", ka, "incentive_cost")]
    assert res[("q4_switch", eu, "incentive_cost")] != res[("current", eu, "incentive_cost")]
    assert res[("current", eu, "fx_rate")] == 1.0


def test_several_years_refuse_mixed_currencies():
    from simlib.engine.years import run_years

    s = load_scenario(SHIPPED / "scenarios" / "midyear.yaml")
    with pytest.raises(simlib.errors.PlanError, match="another currency"):
        run_years(s, ["current"], years=2, trials=2, rng=0, behaviour="none")


@pytest.mark.parametrize("path, bad, field", [
    (["fx", "USD"], float("nan"), "fx.USD"),
    (["fx_sd", "USD"], 5.0, "fx_sd.USD"),
    (["roles", "us_key_account", "currency"], 5, "roles.us_key_account.currency"),
    (["plans", "h2_richer", "changes", "roles", "us_key_account", "versions", 0, "from_month"], 6.5,
     "plans.h2_richer.roles.us_key_account.versions.0.from_month"),
    (["plans", "h2_richer", "changes", "roles", "us_key_account", "versions", 0, "plan"], "nope",
     "plans.h2_richer.roles.us_key_account.versions.0.plan"),
])
def test_bad_values_in_the_shipped_example_name_their_field(path, bad, field):
    d = yaml.safe_load((SHIPPED / "scenarios" / "midyear.yaml").read_text())
    x = d
    for k in path[:-1]:
        x = x[k]
    x[path[-1]] = bad
    with pytest.raises(ScenarioError) as e:
        simlib.scenario_from_dict(d, "midyear.yaml")
    assert [p.field for p in e.value.problems] == [field], str(e.value)


def test_rep_statements_are_in_the_reporting_currency():
    """simlib reps: a USD role's reps' expected pay is their own-currency pay at the rate (no fx_sd: exactly)."""
    from simlib.engine.reps import rep_answers

    d = yaml.safe_load((SHIPPED / "scenarios" / "midyear.yaml").read_text())
    d.pop("fx_sd")
    usd = simlib.scenario_from_dict(d, "midyear.yaml")
    d["roles"]["us_key_account"].pop("currency")
    d.pop("fx")
    plain = simlib.scenario_from_dict(d, "midyear.yaml")
    a = rep_answers(plain, "h2_richer", trials=6, rng=2, behaviour="none").statement
    b = rep_answers(usd, "h2_richer", trials=6, rng=2, behaviour="none").statement
    ka = a["role"] == "us_key_account"
    for col in ("expected_current", "expected_candidate", "change", "incentive_candidate"):
        np.testing.assert_allclose(b.loc[ka, col], 0.92 * a.loc[ka, col], rtol=1e-9)
        np.testing.assert_allclose(b.loc[~ka, col], a.loc[~ka, col], rtol=0)


@pytest.mark.parametrize("change, field, words", [
    ({"roles": {"ka": {"currency": "chf"}}, "fx": {"CHF": 1.05}}, "roles.ka.currency",
     "'chf' is not a currency code: expected 3 uppercase letters (ISO 4217), e.g. 'CHF'"),
    ({"roles": {"ka": {"currency": "BTCX"}}, "fx": {"BTCX": 2.0}}, "roles.ka.currency",
     "'BTCX' is not a currency code: expected 3 uppercase letters (ISO 4217)"),
    ({"currency": "eur"}, "currency", "'eur' is not a currency code: expected 3 uppercase letters (ISO 4217), e.g. 'EUR'"),
    ({"roles": {"ka": {"currency": "USD"}}, "fx": {"usd": 0.9}}, "fx.usd", "e.g. 'USD'"),
    ({"fx": {"USD": 0.9}, "fx_sd": {"US$": 0.1}}, "fx_sd.US$", "'US$' is not a currency code"),
])
def test_a_currency_that_is_not_a_code_is_refused_at_load(tmp_path, small_dict, change, field, words):
    """`currency: chf` and `currency: BTCX` loaded (and chf then reported as a currency of its own): a currency is
    a 3-letter uppercase code; anything else is refused naming the file and the field, with the uppercase form."""
    d = simlib.scenario.deep_merge(small_dict, change)
    (tmp_path / "cur.yaml").write_text(yaml.safe_dump(d))
    with pytest.raises(ScenarioError) as e:
        load_scenario(tmp_path / "cur.yaml")
    assert "cur.yaml" in str(e.value) and field in [p.field for p in e.value.problems], str(e.value)
    assert words in str(e.value), str(e.value)


def test_real_currency_codes_load(small_dict):
    for code in ("CHF", "JPY", "XAU", "GBP"):
        d = simlib.scenario.deep_merge(small_dict, {"roles": {"ka": {"currency": code}}, "fx": {code: 1.1}})
        assert simlib.scenario_from_dict(d, "ok.yaml").roles["ka"].currency == code
