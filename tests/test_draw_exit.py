"""A recoverable draw's balance when a rep leaves (docs/model.md section 3, draws; section 4.12): forgiven or
recovered, by hand and in multi-year runs with attrition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import simlib
from simlib.engine.years import run_years
from simlib.errors import ScenarioError
from simlib.model.plans import apply_draw
from simlib.scenario import Draw

SHIPPED = Path(simlib.__file__).parent / "shipped" / "scenarios" / "mechanics.yaml"


def _earned(rows):
    return np.array(rows, float)[None]  # (1, R, 12)


def test_monthly_draw_balance_settled_on_exit_by_hand():
    """1,000 a month against nothing earned: the leaver (end of February) owes 2,000. Forgiven, the seat starts
    again at 0 (March's draw is the next occupant's, recovered from April's 2,500); recovered, February pays -1,000."""
    earned = _earned([[0, 0, 0, 2500, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 2500, 0, 0, 0, 0, 0, 0, 0, 0]])
    exit_month = np.array([[1, -1]])
    new_hire = np.zeros((1, 2), bool)
    fg = apply_draw(Draw(amount=1000, period="month", months=4), earned, new_hire, exit_month)
    np.testing.assert_allclose(fg.exit_forgiven, [[2000, 0]])
    np.testing.assert_allclose(fg.exit_recovered, [[0, 0]])
    # rep 0: Jan-Mar 1,000 each (Jan-Feb forgiven on exit, March owed by the seat), April 2,500 - 1,000 = 1,500
    np.testing.assert_allclose(fg.cash[0, 0, :4], [1000, 1000, 1000, 1500])
    # rep 1 stays: owes 3,000 by March, April recovers 1,500 of it (2,500 - the draw); 1,500 forgiven at year end
    np.testing.assert_allclose(fg.cash[0, 1, :4], [1000, 1000, 1000, 1000])
    np.testing.assert_allclose(fg.forgiven, [[0, 1500]])
    rc = apply_draw(Draw(amount=1000, period="month", months=4, on_exit="recover"), earned, new_hire, exit_month)
    np.testing.assert_allclose(rc.exit_recovered, [[2000, 0]])
    np.testing.assert_allclose(rc.cash[0, 0, :4], [1000, -1000, 1000, 1500])
    assert rc.cash[0, 0].sum() == fg.cash[0, 0].sum() - 2000


def test_quarterly_draw_exit_mid_quarter_settles_the_quarters_ended():
    """Leaving in May (mid Q2): the Q1 balance (3,000) is settled; Q2's draw belongs to the seat's next occupant."""
    earned = _earned([[0] * 12])
    d = apply_draw(Draw(amount=3000, period="quarter", months=6), earned, np.zeros((1, 1), bool), np.array([[4]]))
    np.testing.assert_allclose(d.exit_forgiven, [[3000]])
    np.testing.assert_allclose(d.forgiven, [[3000]])  # Q2's advance, not recovered by December
    no_exit = apply_draw(Draw(amount=3000, period="quarter", months=6), earned, np.zeros((1, 1), bool))
    np.testing.assert_allclose(no_exit.forgiven, [[6000]])
    np.testing.assert_allclose(d.cash, no_exit.cash)  # forgiving moves no cash


def test_on_exit_needs_a_recoverable_draw():
    raw = yaml.safe_load(SHIPPED.read_text())
    raw["plans"]["guarantee"]["changes"]["roles"]["key_account"]["draw"]["on_exit"] = "recover"
    with pytest.raises(ScenarioError) as exc:
        simlib.scenario_from_dict(raw, "bad.yaml")
    assert "plans.guarantee.roles.key_account.draw.on_exit" in str(exc.value), str(exc.value)


def test_leavers_balances_in_multi_year_runs():
    """With attrition, a forgiven draw writes off leavers' balances (a cost) and a recovered one takes them from
    their last pay, so its incentive cost is lower by what was recovered; plans without a draw have 0."""
    raw = yaml.safe_load(SHIPPED.read_text())
    raw["people"] = {"attrition": {"enabled": True, "annual_rate": 0.35}}
    raw["plans"]["draw_recovered_on_exit"] = {"base": "recoverable_draw", "changes": {"roles": {
        "key_account": {"draw": {"on_exit": "recover"}}}}}
    s = simlib.scenario_from_dict(raw, "exit.yaml")
    res = run_years(s, ["current", "recoverable_draw", "draw_recovered_on_exit"], years=1, trials=12, rng=3,
                    behaviour="none")
    f = res.frame.set_index(["plan", "group", "metric"])["mean"]
    forgiven = f[("recoverable_draw", "key_account", "draw_forgiven_on_exit")]
    recovered = f[("draw_recovered_on_exit", "key_account", "draw_recovered_on_exit")]
    assert forgiven > 0 and recovered == pytest.approx(forgiven)
    assert f[("recoverable_draw", "key_account", "draw_recovered_on_exit")] == 0
    assert f[("current", "total", "draw_forgiven_on_exit")] == 0
    cost = f[("recoverable_draw", "key_account", "incentive_cost")] - f[("draw_recovered_on_exit", "key_account",
                                                                       "incentive_cost")]
    assert cost == pytest.approx(recovered, rel=1e-9)
    assert "draw_forgiven_on_exit" in res.table("key_account", raw=True).index.get_level_values("metric")
