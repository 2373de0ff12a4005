"""Reference-dependent pay: loss-averse reps value a period's pay below its target pay at lambda (docs/model.md 4.1.2)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from conftest import assert_effort_option_rejected, runs_compiled_and_numpy

import simlib
from simlib.behaviour.dynamic import DynamicBehaviour, gain_loss
from simlib.fit.findings import SCENARIO_DIR
from simlib.scenario import EffortBehaviour, load_scenario, scenario_from_dict

KISHORE = SCENARIO_DIR / "bonus_to_commission.yaml"


def _scenario(loss_aversion: float | None, **effort) -> simlib.Scenario:
    """The bonus-to-commission validation scenario (telesales, 60 reps) with the reps' loss aversion set."""
    data = load_scenario(KISHORE).model_dump(by_alias=True)
    if loss_aversion is not None:
        data["behaviour"]["effort"]["loss_aversion"] = loss_aversion
    data["behaviour"]["effort"].update(effort)
    return scenario_from_dict(data, str(KISHORE))


def test_gain_loss_weighs_pay_below_the_reference_at_lambda():
    F = np.array([-100.0, 0.0, 2000.0, 4500.0, 9000.0])
    np.testing.assert_array_equal(gain_loss(F, 4500.0, 2.5), [-100.0 - 1.5 * 4600.0, -1.5 * 4500.0, 2000.0 - 1.5 * 2500.0,
                                                               4500.0, 9000.0])
    assert gain_loss(F, 4500.0, 1.0) is F  # lambda 1: the pay itself, untouched


def test_loss_aversion_one_is_todays_model_bit_for_bit():
    """Writing the default ``loss_aversion: 1`` changes neither the scenario's hash nor a number of a dynamic run."""
    assert EffortBehaviour().loss_aversion == 1.0
    plain, explicit = _scenario(None), _scenario(1.0)
    assert plain.sha256 == explicit.sha256
    a = simlib.simulate(plain, ["bonus", "commission"], trials=6, rng=3, behaviour="dynamic").summary()
    b = simlib.simulate(explicit, ["bonus", "commission"], trials=6, rng=3, behaviour="dynamic").summary()
    np.testing.assert_array_equal(a["mean"].to_numpy(), b["mean"].to_numpy())


@pytest.mark.parametrize("value", [0.5, 0.0, -2.0, 11.0])
def test_loss_aversion_out_of_range_is_an_error_naming_the_field(tmp_path, value):
    assert_effort_option_rejected(tmp_path, KISHORE, "loss_aversion", value)


def test_under_a_commission_loss_aversion_lifts_reps_below_target_pay_not_those_above():
    """Fixed effort cost (no normalisation), the commission as today's plan: each type's mean output at lambda 2
    over at lambda 1. Types that end periods short of target pay (a 0.5: the marginal euro weighs 2) work harder;
    the top type, above target pay nearly always (a 4), works as before."""
    out = {}
    for lam in (1.0, 2.0):
        s = _scenario(lam, normalise=False)
        s = scenario_from_dict({**s.model_dump(by_alias=True), "current_plan": "commission"}, str(KISHORE))
        rs = DynamicBehaviour(s).solve("commission", "reps")
        out[lam] = dict(zip(np.round(rs.a_grid, 2), rs.info["mean_output"][:, 0], strict=True))
    low, high = out[2.0][0.5] / out[1.0][0.5], out[2.0][4.0] / out[1.0][4.0]
    assert low > 1.05
    assert abs(high - 1.0) < 0.01
    assert low > high + 0.05


def test_loss_aversion_is_relabelling_neutral_and_runs_without_target_incentive():
    """The reference is the plan's pay at 100% of target in money, not its ``target_incentive`` label: a commission
    labelled at the role's TI, 2.5 times it and 0 gives identical revenue and effort at lambda 2."""
    data = _scenario(2.0).model_dump(by_alias=True)
    commission = {"name": "commission", "measure": "revenue", "kind": "commission", "period": "quarter",
                  "tiers": [{"from": 0.0, "rate": 0.03}, {"from": 1.0, "rate": 0.05}]}
    for name, ti in (("label_role", None), ("label_high", 45000.0), ("label_zero", 0.0)):
        rp = dict(data["plans"]["commission"]["roles"]["reps"], components=[commission], target_incentive=ti)
        data["plans"][name] = {"description": name, "roles": {"reps": rp}}
    s = scenario_from_dict(data, str(KISHORE))
    summ = simlib.simulate(s, ["bonus", "label_role", "label_high", "label_zero"], trials=6, rng=5,
                           behaviour="dynamic").summary()
    pick = summ[(summ.group == "reps") & summ.metric.isin(["revenue", "effort_index", "incentive"])]
    by_plan = pick.pivot(index="metric", columns="plan", values="mean")
    assert by_plan.loc["effort_index", "label_role"] != 1.0
    for other in ("label_high", "label_zero"):
        np.testing.assert_array_equal(by_plan["label_role"].to_numpy(), by_plan[other].to_numpy(), err_msg=other)


def test_loss_aversion_prior_matches_the_schema_and_is_not_drawn_by_ensembles():
    from simlib.priors import LOSS_AVERSION_PRIOR, PRIORS

    field = EffortBehaviour.model_fields["loss_aversion"]
    ge = max(m.ge for m in field.metadata if type(m).__name__ == "Ge")
    le = min(m.le for m in field.metadata if type(m).__name__ == "Le")
    assert LOSS_AVERSION_PRIOR.valid == (ge, le)
    assert LOSS_AVERSION_PRIOR.low == field.default == 1.0 and LOSS_AVERSION_PRIOR.centre == 2.0
    assert all(p.path != LOSS_AVERSION_PRIOR.path for p in PRIORS.values())


@pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba is not installed: nothing compiled")
def test_loss_averse_runs_are_the_same_compiled_and_on_the_numpy_path(monkeypatch):
    """The compiled behaviour pass reads the same solved tables: identical bits at lambda 2 (both plans)."""
    runs_compiled_and_numpy(monkeypatch, _scenario(2.0), ["bonus", "commission"], trials=6, rng=2, behaviour="dynamic")
