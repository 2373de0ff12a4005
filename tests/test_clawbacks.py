"""Cancelled deals and clawbacks (docs/model.md section 3, clawbacks): hand-computed cases, the engine's
draws, validation, metrics and behaviour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import simlib
from simlib.errors import ScenarioError
from simlib.model import reference
from simlib.model.plans import clawback_kept, compute_pay, set_quotas
from simlib.model.population import Layout, draw_chunk, market_multiplier, role_world, root_seed
from simlib.model.production import Cancellations, run_year

GOLDEN = yaml.safe_load((Path(__file__).parent / "golden" / "clawbacks.yaml").read_text())
SHIPPED = Path(simlib.__file__).parent / "shipped" / "scenarios" / "mechanics.yaml"


def _golden_scenario(rp: dict) -> simlib.Scenario:
    st = GOLDEN["setup"]
    role = {"process": "generic", "headcount": 2, "team_size": 2, "base_salary": 50000,
            "target_incentive": st["target_incentive"], "ability_sd": 0.0, "territory_sd": 0.0,
            "new_hire_share": 0.0, "production": {"revenue_per_month": st["revenue_per_month"], "cancel_rate": 0.1}}
    return simlib.scenario_from_dict({
        "name": "golden", "market": {"growth_mean": 0.0, "growth_sd": 0.0, "monthly_sd": 0.0, "monthly_rho": 0.0},
        "roles": {"g": role}, "plans": {"current": {"roles": {"g": rp}}}}, "golden/clawbacks.yaml")


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=[c["name"] for c in GOLDEN["cases"]])
def test_clawback_golden(case):
    """The engine and the slow reference both give the hand-computed pay, recoveries and balances."""
    scen = _golden_scenario(case["plan"])
    lay = Layout.of(scen)
    draws = {k: np.zeros((1, *shape)) for k, (_, shape) in lay.normals.items()}
    draws.update({k: np.full((1, *shape), 0.5) for k, (_, shape) in lay.uniforms.items()})
    world = role_world(scen, "g", draws, np.ones((1, 12)))
    units = case.get("units", [[0.0] * 12] * 2)
    measures = {"revenue": np.array(case["revenue"], float)[None], "units": np.array(units, float)[None]}
    cancelled = Cancellations(revenue=np.array(case["cancelled"], float)[None],
                              delay=np.array(case["delay"], dtype=np.intp)[None])
    quota = set_quotas(scen, "current", world)
    pay = compute_pay(scen, "current", world, measures, quota, cancelled=cancelled)
    cb = pay.clawback
    reps = [dict(ability=1.0, territory=1.0, new_hire=False, ramp=[1.0] * 12, team=0,
                 cancelled=case["cancelled"][r], cancel_delay=case["delay"][r]) for r in range(2)]
    ref_measures = [{"revenue": case["revenue"][r], "units": units[r]} for r in range(2)]
    ref = reference.reference_pay(scen, "current", "g", reps, ref_measures, list(quota[0]))
    ref_cb = ref["clawback"]
    checks = {
        "incentive": (pay.incentive[0], ref["incentive"]),
        "cancelled_revenue": (cb.cancelled[0], [x["cancelled"] for x in ref_cb]),
        "recovered": (cb.recovered[0].sum(axis=-1), [sum(x["recovered"]) for x in ref_cb]),
        "forgiven": (cb.forgiven[0], [x["forgiven"] for x in ref_cb]),
        "outstanding": (cb.outstanding[0], [x["outstanding"] for x in ref_cb]),
        "recovered_rep0": (cb.recovered[0, 0], ref_cb[0]["recovered"]),
    }
    for key, (got, got_ref) in checks.items():
        np.testing.assert_allclose(got, case[key], rtol=1e-9, atol=1e-6, err_msg=key)
        np.testing.assert_allclose(got_ref, case[key], rtol=1e-9, atol=1e-6, err_msg="reference " + key)


def test_cancellation_draws_are_appended_and_change_nothing_else():
    """A role with cancellations draws after every other draw: the other numbers, and pay without a clawback,
    are exactly those of the scenario without them."""
    base = simlib.load_scenario(SHIPPED)
    raw = yaml.safe_load(SHIPPED.read_text())
    del raw["roles"]["key_account"]["production"]["cancel_rate"]
    del raw["roles"]["key_account"]["production"]["cancel_window_months"]
    del raw["plans"]["clawback"]
    plain = simlib.scenario_from_dict(raw, "plain.yaml")
    root = root_seed(5)
    d_with = draw_chunk(Layout.of(base), root, np.arange(3))
    d_without = draw_chunk(Layout.of(plain), root, np.arange(3))
    assert set(d_with) - set(d_without) == {"key_account.cancel", "key_account.cancel_when"}
    for k, v in d_without.items():
        np.testing.assert_array_equal(d_with[k], v, err_msg=k)
    a = simlib.simulate(base, trials=20, rng=4, behaviour="none", plans=["current", "draw_carried"])
    b = simlib.simulate(plain, trials=20, rng=4, behaviour="none", plans=["current", "draw_carried"])
    sa = a.summary().set_index(["plan", "group", "metric"])["mean"]
    sb = b.summary().set_index(["plan", "group", "metric"])["mean"]
    for m in ("revenue", "incentive_cost", "draw_outstanding", "profit"):
        for plan in ("current", "draw_carried"):
            assert sa[(plan, "total", m)] == sb[(plan, "total", m)], (m, plan)
    assert sa[("current", "key_account", "cancelled_revenue")] > 0
    assert sa[("current", "total", "clawback_recovered")] == 0
    assert "cancelled_revenue" not in set(sb.index.get_level_values("metric"))


def test_cancelled_share_matches_the_rate():
    """Cancelled revenue is about cancel_rate of revenue (binomial error), cancelling 1..W months after booking."""
    s = simlib.load_scenario(SHIPPED)
    root = root_seed(9)
    draws = draw_chunk(Layout.of(s), root, np.arange(40))
    world = role_world(s, "key_account", draws, market_multiplier(s, draws))
    measures = run_year(world)
    pay = compute_pay(s, "clawback", world, measures, set_quotas(s, "clawback", world))
    deals = measures["deals"].sum()
    share = pay.clawback.cancelled.sum() / measures["revenue"].sum()
    se = np.sqrt(0.08 * 0.92 / deals) * 3  # lumpy deal sizes: a generous multiple of the binomial SE
    assert abs(share - 0.08) < 3 * se, (share, se)
    from simlib.model.production import cancellations
    c = cancellations(world, measures)
    assert c.delay.min() == 1 and c.delay.max() == 4
    # what is recovered never exceeds the pay that was due, and incentive falls by what was recovered
    current = compute_pay(s, "current", world, measures, set_quotas(s, "current", world))
    np.testing.assert_allclose(current.incentive - pay.incentive, pay.clawback.recovered.sum(axis=-1), atol=1e-6)
    assert (pay.clawback.outstanding > 0).any() and (pay.clawback.forgiven == 0).all()


@pytest.mark.parametrize("edit, field, words", [
    (lambda d: d["plans"]["clawback"]["changes"]["roles"]["key_account"]["clawback"].update(components=["nope"]),
     "plans.clawback.roles.key_account.clawback.components.0", "not a component or SPIFF of this plan paid on revenue"),
    (lambda d: d["roles"]["key_account"]["production"].pop("cancel_rate"),
     "roles.key_account.production.cancel_window_months", "without cancel_rate"),
    (lambda d: (d["roles"]["key_account"]["production"].pop("cancel_rate"),
                d["roles"]["key_account"]["production"].pop("cancel_window_months")),
     "plans.clawback.roles.key_account.clawback", "no cancellation process"),
    (lambda d: d["roles"]["key_account"]["production"].update(cancel_rate=1.5),
     "roles.key_account.production.cancel_rate", "less than or equal to 1"),
    (lambda d: d["plans"]["clawback"]["changes"]["roles"]["key_account"]["clawback"].update(window_months=0),
     "window_months", "greater than or equal to 1"),
])
def test_bad_clawbacks_are_refused_naming_the_field(tmp_path, edit, field, words):
    raw = yaml.safe_load(SHIPPED.read_text())
    edit(raw)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ScenarioError) as exc:
        simlib.load_scenario(path)
    assert field in str(exc.value) and words in str(exc.value), str(exc.value)


def test_channel_cancellations_are_refused():
    raw = yaml.safe_load(SHIPPED.read_text())
    raw["roles"]["inside_sales"]["process"] = "channel"
    raw["roles"]["inside_sales"]["production"] = {"cancel_rate": 0.1}
    with pytest.raises(ScenarioError) as exc:
        simlib.scenario_from_dict(raw, "bad.yaml")
    assert "roles.inside_sales.production.cancel_rate" in str(exc.value)
    assert "channel" in str(exc.value)


def test_kept_share_of_clawed_pay():
    s = simlib.load_scenario(SHIPPED)
    role = s.roles["key_account"]
    assert clawback_kept(s.role_plan("current", "key_account"), role) == 1.0
    # 8% cancel within 4 months; a 6-month window claws all of them back
    assert clawback_kept(s.role_plan("clawback", "key_account"), role) == pytest.approx(0.92)


@pytest.fixture(scope="module")
def clawback_history(tmp_path_factory):
    """A synthetic year of mechanics.yaml under its clawback plan, written and read back as a user's file."""
    from simlib.fit.history import read_history
    from simlib.fit.synth import synth_history

    s = simlib.load_scenario(SHIPPED)
    frame, _ = synth_history(s, plan="clawback", rng=2)
    path = tmp_path_factory.mktemp("claw") / "history.csv"
    frame.to_csv(path, index=False)
    return s, read_history(path, {r: role.process for r, role in s.roles.items()}), path


def test_replay_honours_recorded_cancellations(clawback_history):
    """A history with a cancelled column replays to the cent under the clawback plan in force, which pays less
    than the same plan without the clawback by the pay of the cancelled deals."""
    from simlib.fit.replay import replay

    s, hist, _ = clawback_history
    assert hist.has_cancelled
    rp = replay(s, hist, ["clawback", "current"], in_force="clawback")
    assert rp.reconciled
    ka = rp.reps[rp.reps["role"] == "key_account"]
    inside = rp.reps[rp.reps["role"] == "inside_sales"]
    assert (ka["clawback"] <= ka["current"] + 0.01).all() and (ka["clawback"] < ka["current"] - 0.01).any()
    np.testing.assert_array_equal(inside["clawback"], inside["current"])  # no cancellations recorded there


def test_calibrate_estimates_the_cancel_rate(clawback_history):
    """The cancelled share of revenue estimates cancel_rate, with a bootstrap SE; roles without the column get none."""
    from simlib.fit.calibrate import calibrate

    s, hist, _ = clawback_history
    cal = calibrate(hist, s, plan="clawback", bootstrap=30, trials=2)
    est = {e.path: e for e in cal.estimates}
    e = est["roles.key_account.production.cancel_rate"]
    assert e.se > 0 and abs(e.value - 0.08) < 3 * e.se, (e.value, e.se)
    assert e.lo <= e.value <= e.hi
    assert "roles.inside_sales.production.cancel_rate" not in est
    assert cal.scenario.roles["key_account"].process_params().cancel_rate == pytest.approx(e.value)


@pytest.mark.parametrize("cell, words", [
    ("-5", "negative value: 'cancelled'"),
    ("99999999", "cancelled above revenue"),
    ("abc", "non-numeric value: 'cancelled'"),
])
def test_bad_cancelled_cells_are_refused(clawback_history, tmp_path, cell, words):
    from simlib.errors import SimlibError
    from simlib.fit.history import read_history

    s, _, path = clawback_history
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("cancelled")] = cell
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    with pytest.raises(SimlibError) as exc:
        read_history(bad, {r: role.process for r, role in s.roles.items()})
    assert words in str(exc.value) and "line 2" in str(exc.value), str(exc.value)


def test_dynamic_reps_work_less_when_pay_is_clawed_back():
    """Under dynamic, clawed pay is worth less by the expected cancelled share: key-account effort and revenue fall
    a little against the same plan without the clawback; roles without one are unchanged."""
    s = simlib.load_scenario(SHIPPED)
    res = simlib.simulate(s, trials=30, rng=1, behaviour="dynamic", plans=["current", "clawback"])
    d = res.differences().set_index(["plan", "group", "metric"])
    effort = d.loc[("clawback", "key_account", "effort_index")]
    revenue = d.loc[("clawback", "key_account", "revenue")]
    assert effort["diff"] < 0 and revenue["ci_high"] < 0, (effort["diff"], revenue["diff"], revenue["se"])
    assert d.loc[("clawback", "inside_sales", "revenue"), "diff"] == 0


def _pay_with_nothing_cancelled(rp: dict, trials: int = 200) -> np.ndarray:
    """Incentive (T, 2) of the golden role under ``rp`` on random revenue and units, no deal cancelled."""
    scen = _golden_scenario(rp)
    lay = Layout.of(scen)
    draws = {k: np.zeros((trials, *shape)) for k, (_, shape) in lay.normals.items()}
    draws.update({k: np.full((trials, *shape), 0.5) for k, (_, shape) in lay.uniforms.items()})
    world = role_world(scen, "g", draws, np.ones((trials, 12)))
    measures = {"revenue": np.random.default_rng(3).uniform(0.0, 17000.0, (trials, 2, 12)),
                "units": np.random.default_rng(4).poisson(3.0, (trials, 2, 12)).astype(float)}
    cancelled = Cancellations(revenue=np.zeros((trials, 2, 12)), delay=np.ones((trials, 2, 12), dtype=np.intp))
    return compute_pay(scen, "current", world, measures, set_quotas(scen, "current", world), cancelled=cancelled).incentive


@pytest.mark.parametrize("extra", [{}, {"gates": [{"measure": "units", "target": 36, "min_attainment": 0.9}]},
                                   {"modifiers": [{"measure": "units", "points": [[20, 0.9], [50, 1.13]]}]}])
def test_a_rep_nothing_is_clawed_from_is_paid_exactly_what_was_earned(extra):
    """Pay a clawback recovers nothing from is the year's pay itself, not its months added up again: the months'
    sum differed from it by rounding (1.8e-12 here), which broke ties between equal pays (capped reps) at one scale
    of money and not at another and moved the pay-performance rank correlation (docs/model.md section 6.2)."""
    rp = {"quota": {"method": "flat"}, **extra,
          "components": [{"name": "c", "period": "quarter", "points": [[0.0, 0.0], [0.7, 0.4], [1.3, 1.9]],
                          "cap": 1.7, "weight": 0.7},
                         {"name": "m", "period": "month", "points": [[0.0, 0.0], [1.0, 1.0]], "weight": 0.3}]}
    np.testing.assert_array_equal(_pay_with_nothing_cancelled({**rp, "clawback": {"window_months": 3}}),
                                  _pay_with_nothing_cancelled(rp))
