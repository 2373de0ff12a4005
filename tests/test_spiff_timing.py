"""SPIFF pull-forward under ``dynamic`` (docs/model.md section 4.4): deals of the month after a SPIFF window are
closed in its last month when the SPIFF pays for the discount, so the window gains and the months after lose."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import simlib
from simlib.behaviour.dynamic import dynamic
from simlib.model.pipeline import passes, worlds
from simlib.model.population import Layout, draw_chunk, root_seed

SHIPPED = Path(simlib.__file__).parent / "shipped" / "scenarios" / "mechanics.yaml"
PLANS = {
    "big_logos": [{"name": "q3_new_logos", "measure": "new_accounts", "from": 7, "to": 9, "rate": 25000}],
    "q3_revenue": [{"name": "q3_revenue", "from": 7, "to": 9, "rate": 0.08}],
}


@pytest.fixture(scope="module")
def outcomes():
    raw = yaml.safe_load(SHIPPED.read_text())
    for name, spiffs in PLANS.items():
        raw["plans"][name] = {"base": "current", "changes": {"roles": {"key_account": {"spiffs": spiffs}}}}
    s = simlib.scenario_from_dict(raw, "spiff_timing.yaml")
    model = dynamic(s)
    ws = worlds(s, draw_chunk(Layout.of(s), root_seed(0), np.arange(40)), ["key_account"])
    plans = ["current", "q3_new_logos", *PLANS]
    return s, model, {o.plan: o for o in passes(s, plans, ws, model)}


def _monthly(o, measure):
    return o.measures[measure].sum(axis=1)  # (T, 12): the role's total per trial and month


@pytest.mark.parametrize("plan, measure", [("big_logos", "new_accounts"), ("q3_revenue", "revenue")])
def test_spiff_window_gains_and_the_months_after_lose(outcomes, plan, measure):
    """September (the window's last month) books more of the SPIFF's measure than under the current plan,
    October less; each difference well beyond its standard error over trials."""
    _, model, out = outcomes
    assert [p.month for p in model.spiff_pulls(plan, "key_account")] == [8]
    d = _monthly(out[plan], measure) - _monthly(out["current"], measure)
    se = d.std(axis=0, ddof=1) / np.sqrt(len(d))
    assert d[:, 8].mean() > 3 * se[8], (d[:, 8].mean(), se[8])
    assert d[:, 9].mean() < -3 * se[9], (d[:, 9].mean(), se[9])
    # the pulled deals come out of the following months: October to December together lose revenue
    rev = _monthly(out[plan], "revenue") - _monthly(out["current"], "revenue")
    assert rev[:, 9:].sum(axis=1).mean() < 0


def test_discount_cost_of_the_pull_is_recorded(outcomes):
    _, _, out = outcomes
    assert out["q3_revenue"].policy.recorded.model_discount.sum() > out["current"].policy.recorded.model_discount.sum()


def test_a_spiff_too_small_for_the_discount_pulls_nothing(outcomes):
    """5,000 per new account (about 1,600 per deal) does not pay for the pay a 35% discount costs on a 125,000 deal (about 2,500): no pull,
    so the shipped q3_new_logos plan's window gains only through effort."""
    s, model, _ = outcomes
    assert model.spiff_pulls("q3_new_logos", "key_account") == ()
    raw = yaml.safe_load(SHIPPED.read_text())
    raw["behaviour"] = {"timing": {"enabled": False}}
    raw["plans"]["q3_revenue"] = {"base": "current", "changes": {"roles": {"key_account": {"spiffs": PLANS["q3_revenue"]}}}}
    off = simlib.scenario_from_dict(raw, "off.yaml")
    assert dynamic(off).spiff_pulls("q3_revenue", "key_account") == ()
