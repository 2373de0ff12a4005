"""Present bias: quasi-hyperbolic (beta-delta) discounting of a sophisticated rep (docs/model.md 4.1.3)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from conftest import assert_effort_option_rejected, runs_compiled_and_numpy

import simlib
from simlib.behaviour.kernels import X_GRID, Problem, solve
from simlib.fit.findings import SCENARIO_DIR
from simlib.scenario import EffortBehaviour, load_scenario, scenario_from_dict

QUARTERLY = SCENARIO_DIR / "quarterly_bonus.yaml"
A = np.array([0.6, 1.0, 1.6])


def _scenario(present_bias: float | None) -> simlib.Scenario:
    """The quarterly-bonus validation scenario with the reps' present bias set (None: left unwritten)."""
    data = load_scenario(QUARTERLY).model_dump(by_alias=True)
    if present_bias is not None:
        data["behaviour"]["effort"]["present_bias"] = present_bias
    return scenario_from_dict(data, str(QUARTERLY))


def _problem(beta: float, *, quarters: bool = False, timing: bool = False, risk: float = 0.0,
             lin: float = 0.0, lin_now: float | None = None, pay: float = 1000.0, step: float = 200.0) -> Problem:
    """Three types under a commission on period attainment (``pay`` per unit, paid at each period's end; ``step``
    more at 100%), annual or quarterly, with ``lin`` money per unit of a month's output of which ``lin_now`` is received in the month."""
    NT, G = len(A), len(X_GRID)
    prof = np.full(12, 1.0 / 12)
    starts, ends = ([0, 3, 6, 9], [2, 5, 8, 11]) if quarters else ([0], [11])
    share = 0.25 if quarters else 1.0
    terminal = [np.broadcast_to(pay * share * X_GRID + step * share * (X_GRID >= 1.0), (NT, G)).copy() for _ in ends]
    return Problem(
        a=A, k=np.full(NT, 60.0), starts=starts, ends=ends, inc=prof / share, prof=prof, terminal=terminal,
        lin=np.full((NT, 12), lin / 12), eta=0.6, g=4.0, delta=0.995,
        e_grid=np.exp(np.linspace(np.log(0.2), np.log(2.5), 21)),
        nodes=(np.array([[0.7, 1.0, 1.3]] * NT), np.array([[0.25, 0.5, 0.25]] * NT)),
        timing=(0.35, 1.25, 0.5) if timing else None, next_year_value=np.full(NT, pay), tau=np.full(NT, 5.0),
        risk=risk, present_bias=beta, lin_now=None if lin_now is None else np.full((NT, 12), lin_now / 12),
    )


def test_present_bias_one_is_todays_model_bit_for_bit():
    """Writing the default ``present_bias: 1`` changes neither the scenario's hash nor a number of a dynamic run."""
    assert EffortBehaviour().present_bias == 1.0
    plain, explicit = _scenario(None), _scenario(1.0)
    assert plain.sha256 == explicit.sha256
    a = simlib.simulate(plain, list(plain.plans), trials=4, rng=3, behaviour="dynamic").summary()
    b = simlib.simulate(explicit, list(explicit.plans), trials=4, rng=3, behaviour="dynamic").summary()
    np.testing.assert_array_equal(a["mean"].to_numpy(), b["mean"].to_numpy())


@pytest.mark.parametrize("kw", [dict(), dict(quarters=True, timing=True), dict(quarters=True, timing=True, risk=2e-3),
                                dict(lin=300.0, lin_now=100.0)])
def test_the_sophisticated_recursion_at_beta_near_one_is_todays_recursion(kw):
    """The present-biased recursion (its own code path: the self's value, the long-run value, the timing choice
    split into pay now and value later) tends to today's exponential one as beta -> 1, with timing games and with
    risk aversion: a slip in which value is carried back would show here."""
    today, near = solve(_problem(1.0, **kw)), solve(_problem(1.0 - 1e-9, **kw))
    np.testing.assert_allclose(near.effort, today.effort, rtol=0, atol=1e-6)
    np.testing.assert_allclose(near.mean_output, today.mean_output, rtol=1e-7)
    np.testing.assert_array_equal(near.shift, today.shift)


def test_under_an_annual_plan_a_present_biased_rep_paces_effort_towards_the_payment_month():
    """Kaur, Kremer & Mullainathan (2015): effort rises as payday nears. A linear annual commission, state x = 0:
    with beta 0.8 the months before December weigh the year-end pay
    at beta, December at one, so December's effort over January's rises well above today's ratio, and every type
    works less in the months before the payment month than an exponential rep."""
    today, biased = solve(_problem(1.0, step=0.0)), solve(_problem(0.8, step=0.0))
    x0 = int(np.searchsorted(X_GRID, 0.0))
    jump_today = today.effort[:, 11, x0] / today.effort[:, 0, x0]
    jump_biased = biased.effort[:, 11, x0] / biased.effort[:, 0, x0]
    assert (jump_biased > jump_today + 0.05).all(), (jump_today, jump_biased)
    assert (np.diff(biased.effort[:, :, x0], axis=1) >= -1e-9).all()  # non-decreasing towards the payment month
    assert (biased.effort[:, :11, x0] < today.effort[:, :11, x0]).all()
    assert (biased.mean_output < today.mean_output).all()


def test_quarterly_payment_months_pace_a_present_biased_rep_more_than_one_annual_one():
    """Chung, Steenburgh & Sudhir (2014): quarterly bonuses as pacers. With the same money per unit of attainment,
    paid each quarter instead of once a year, a present-biased rep (beta 0.8) loses less output to the bias: three
    of twelve months are payment months instead of one (output lost 4.2-4.9% a year under annual pay, 3.0-3.6%
    paid quarterly: about a quarter of the loss is saved)."""
    loss = {}
    for q in (False, True):
        loss[q] = solve(_problem(0.8, quarters=q, step=0.0)).mean_output / solve(_problem(1.0, quarters=q, step=0.0)).mean_output
    assert (loss[False] < 0.97).all(), loss
    assert (loss[True] > loss[False] + 0.008).all(), loss


def test_the_non_money_value_of_output_is_received_now_and_money_later():
    """``lin_now`` is not discounted by beta, the rest of ``lin`` is (until the period's last month): with all of the
    linear value received now, beta changes no effort; with all of it money paid at the year end, effort before
    December falls."""
    base = dict(pay=0.0, step=0.0, lin=3000.0)
    now = solve(_problem(1.0, **base, lin_now=3000.0)).effort, solve(_problem(0.7, **base, lin_now=3000.0)).effort
    np.testing.assert_allclose(now[1], now[0], rtol=0, atol=1e-12)
    later = solve(_problem(1.0, **base, lin_now=0.0)).effort, solve(_problem(0.7, **base, lin_now=0.0)).effort
    assert (later[1][:, :11] < later[0][:, :11] - 0.01).all()
    np.testing.assert_allclose(later[1][:, 11], later[0][:, 11], rtol=0, atol=1e-12)


@pytest.mark.parametrize("value", [0.0, -0.5, 1.2])
def test_present_bias_out_of_range_is_an_error_naming_the_field(tmp_path, value):
    assert_effort_option_rejected(tmp_path, QUARTERLY, "present_bias", value)


@pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba is not installed: nothing compiled")
def test_present_biased_runs_are_the_same_compiled_and_on_the_numpy_path(monkeypatch):
    """The compiled behaviour pass reads the same solved tables: identical bits at beta 0.8, and beta moves results."""
    s = _scenario(0.8)
    biased = runs_compiled_and_numpy(monkeypatch, s, list(s.plans), trials=4, rng=2, behaviour="dynamic")
    today = simlib.simulate(_scenario(None), list(s.plans), trials=4, rng=2, behaviour="dynamic").raw
    assert not np.array_equal(np.asarray(today.mean), np.asarray(biased.mean))


def test_the_benchmark_at_beta_one_is_validate_model_and_sets_beta_elsewhere():
    """``python -m benchmarks.present_bias`` measures what ``validate-model`` checks: at beta 1 the same numbers; at
    another beta every scenario it runs carries that beta (so does ``benchmarks.kishore --present-bias``)."""
    from benchmarks.kishore import variant
    from benchmarks.present_bias import measure, with_present_bias
    from simlib.fit import findings as V

    df = measure([1.0], 6, 1, ["quarterly_low"], False)
    ref = V.validate_model(trials=6, rng=1, only=["quarterly_low"])
    np.testing.assert_array_equal(df["measured"].to_numpy(), ref["measured"].to_numpy())
    assert with_present_bias(_scenario(None), 0.8).behaviour.effort.present_bias == 0.8
    off = with_present_bias(_scenario(None), 1.0, timing=False)
    assert off.behaviour.effort.present_bias == 1.0 and not off.behaviour.timing.enabled
    kish = load_scenario(V.SCENARIO_DIR / "bonus_to_commission.yaml")
    assert variant(kish, False, None, present_bias=0.9).behaviour.effort.present_bias == 0.9
