"""Quota relief, an adjustment rule agreed in advance (docs/model.md section 3): pay, reference, and reps' response."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import simlib
from simlib.behaviour.dynamic import dynamic
from simlib.behaviour.policy import behaviour_metrics
from simlib.model.pipeline import passes, worlds
from simlib.model.plans import compute_pay, primary_structure, relief_factor, set_quotas
from simlib.model.population import Layout, draw_chunk, market_multiplier, role_world, root_seed
from simlib.model.production import run_year
from simlib.model.reference import reference_trial

BAND = 0.05


#: an annual bonus with a hard threshold: nothing below 90% of quota
THRESHOLD = {"name": "revenue_bonus", "measure": "revenue", "kind": "curve", "weight": 1.0, "period": "year",
             "points": [[0.9, 0.5], [1.0, 1.0], [1.5, 2.0]], "cap": 2.0}


def _with_relief(default_scenario, band=BAND, share=1.0, growth_sd=0.15):
    """The default scenario with a riskier market; plans ``threshold`` (telesales and key accounts on an annual
    bonus with a hard threshold) and ``relief`` (the same plus quota relief on every role)."""
    d = default_scenario.model_dump(by_alias=True)
    d["market"]["growth_sd"] = growth_sd
    cur = d["plans"]["current"]
    thr = copy.deepcopy(cur)
    thr["description"] = "annual threshold bonus"
    for role in ("telesales", "key_account"):
        thr["roles"][role].update(components=[THRESHOLD], gates=[], modifiers=[], recognition=None)
    rel = copy.deepcopy(thr)
    rel["description"] = "annual threshold bonus with quota relief"
    for rp in rel["roles"].values():
        rp["quota_relief"] = {"band": band, "share": share}
    d["plans"] = {"current": cur, "threshold": thr, "relief": rel}
    return simlib.scenario_from_dict(d, "relief.yaml")


@pytest.fixture(scope="module")
def relief(default_scenario):
    return _with_relief(default_scenario)


def test_relief_moves_quotas_by_the_share_of_the_move_beyond_the_band(relief):
    draws = draw_chunk(Layout.of(relief), root_seed(3), np.arange(40))
    ws = worlds(relief, draws)
    w = ws["telesales"]
    rp = relief.role_plan("relief", "telesales")
    f = relief_factor(rp, w, relief.market.growth_mean)
    season = w.season / w.season.sum()
    move = (w.market * season).sum(axis=1) / (1 + relief.market.growth_mean) - 1
    want = 1 + np.where(move > BAND, move - BAND, np.where(move < -BAND, move + BAND, 0.0))
    np.testing.assert_allclose(f[:, -1], want, rtol=1e-12)
    assert np.all(f[np.abs(move) <= BAND, -1] == 1.0) and (np.abs(move) > BAND).sum() >= 10
    m = run_year(w)
    q = set_quotas(relief, "relief", w)
    pr, pc = compute_pay(relief, "relief", w, m, q), compute_pay(relief, "threshold", w, m, q)
    np.testing.assert_allclose(pr.quota, q * want[:, None], rtol=1e-12)
    down = move < -BAND
    assert np.all(pr.incentive[down].sum(axis=-1) > pc.incentive[down].sum(axis=-1))  # relief pays more in a downturn
    assert np.all(pr.incentive[move > BAND].sum(axis=-1) < pc.incentive[move > BAND].sum(axis=-1))


def test_relief_pay_agrees_with_reference(relief):
    root = root_seed(8)
    draws = draw_chunk(Layout.of(relief), root, np.arange(4))
    market = market_multiplier(relief, draws)
    for rname in relief.roles:
        w = role_world(relief, rname, draws, market)
        pay = compute_pay(relief, "relief", w, run_year(w), set_quotas(relief, "relief", w))
        for t in range(4):
            ref = reference_trial(relief, ["relief"], root, t)["pay"]["relief"][rname]
            np.testing.assert_allclose(pay.quota[t], ref["quota"], rtol=1e-9)
            np.testing.assert_allclose(pay.incentive[t], ref["incentive"], rtol=1e-9, atol=1e-9)


def test_relief_lowers_give_up_after_a_market_drop(relief):
    """Reps who know the rule keep going when the market falls: fewer give up in the worst years than without it."""
    T = 60
    draws = draw_chunk(Layout.of(relief), root_seed(11), np.arange(T))
    ws = worlds(relief, draws)
    model = dynamic(relief)
    out = {}
    for o in passes(relief, ["threshold", "relief"], ws, model):
        ends = list(primary_structure(relief.role_plan(o.plan, o.role), o.pay.target_incentive).ends)
        bm = behaviour_metrics(o.policy.recorded, o.measures, ends, T)
        out[(o.plan, o.role)] = (bm["give_up_share"], o.measures["revenue"].sum(axis=(1, 2)), o.pay.incentive.sum(axis=1))
    w = ws["telesales"]
    season = w.season / w.season.sum()
    move = (w.market * season).sum(axis=1) / (1 + relief.market.growth_mean) - 1
    drop = move < -2 * BAND
    assert drop.sum() >= 5
    for role in ("telesales",):  # a role whose year is predictable enough to give up on
        g_cur, rev_cur, inc_cur = out[("threshold", role)]
        g_rel, rev_rel, inc_rel = out[("relief", role)]
        assert g_cur[drop].mean() > 0.1, role  # the drop makes many give up without relief
        assert g_rel[drop].mean() < 0.85 * g_cur[drop].mean(), (role, g_rel[drop].mean(), g_cur[drop].mean())
        assert rev_rel[drop].mean() > rev_cur[drop].mean(), role  # who keeps going sells more
        assert inc_rel[drop].mean() > inc_cur[drop].mean(), role  # what it costs: more pay in bad years
