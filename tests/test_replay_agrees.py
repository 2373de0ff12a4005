"""Replay pays what the engine pays (issue 11, "Predictions an analyst can trust").

For every shipped scenario and every plan in it, a simulated trial's own
measures, quotas, teams, new hires and cancellations, replayed through
:func:`simlib.fit.replay.role_pay`, give every rep of every role the
engine's incentive and recognition to the cent, or replay refuses the plan
with a :class:`simlib.errors.PlanError` naming the plan, the role and the
part of the plan it cannot pay from a history. Synthetic histories store the
replayed pay, so a backtest compares its predictions with exactly this.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from simlib import load_scenario
from simlib.engine.core import role_outcomes
from simlib.errors import PlanError, SimlibError
from simlib.fit.history import read_history, write_history
from simlib.fit.replay import replay, role_pay, unrecorded_measures
from simlib.fit.synth import simulate_panels, synth_history
from simlib.model.plans import revenue_profile
from simlib.model.population import Layout, draw_chunk, rep_labels, root_seed
from simlib.scenario import scenario_from_dict

SHIPPED = sorted((ROOT / "simlib" / "shipped" / "scenarios").rglob("*.yaml"))
#: pay is paid in cents
CENT = 0.005


def _id(p) -> str:
    return str(p.relative_to(ROOT / "simlib" / "shipped" / "scenarios"))


def _replayed(scen, plan, role, sim, t):
    """Trial ``t`` of a role's simulated year replayed under ``plan``: quotas by month as the engine splits them."""
    prof = revenue_profile(scen, role)
    quota = sim.quota[t][:, None] * (prof / prof.sum())[None, :]
    ids = None if scen.roster_data is None else np.asarray(rep_labels(scen, role)[0], dtype=str)
    return role_pay(scen, plan, role, {m: np.asarray(v)[t] for m, v in sim.measures.items()}, quota,
                    np.array([f"team{k}" for k in sim.team], dtype=object), rep_ids=ids,
                    cancelled=None if sim.cancelled is None else sim.cancelled[t], new_hire=sim.new_hire[t],
                    cancel_delay=None if sim.cancel_delay is None else sim.cancel_delay[t])


@pytest.mark.parametrize("path", SHIPPED, ids=_id)
def test_replay_of_a_trial_pays_what_the_engine_paid(path):
    scen = load_scenario(path)
    checked = 0
    for plan in scen.plans:
        panels, _ = simulate_panels(scen, plan, rng=3, trials=2, behaviour="none")
        refused = unrecorded_measures(scen, plan, scen.roles)
        for role, sim in panels.items():
            if any(f" {role} " in why for why in refused):
                with pytest.raises(PlanError) as err:
                    _replayed(scen, plan, role, sim, 0)
                msg = str(err.value)
                assert f"plan '{plan}'" in msg and role in msg, msg
                assert re.search(r"'\w+'", msg.replace(f"plan '{plan}'", "")), msg  # the field, quoted
                continue
            engine = _engine_pay(scen, plan, role)
            for t in range(2):
                res = _replayed(scen, plan, role, sim, t)
                diff = np.abs(res.incentive[0] - sim.incentive[t])
                assert diff.max() < CENT, (plan, role, t, int(diff.argmax()), sim.incentive[t][diff.argmax()],
                                           res.incentive[0][diff.argmax()])
                if engine is not None:
                    assert np.abs(res.recognition[0] - engine[t]).max() < CENT, (plan, role, t)
            checked += 1
    assert checked > 0


def _engine_pay(scen, plan, role):
    """The engine's recognition awards per trial (T, R) for the role, or None when the plan has none."""
    if scen.role_plan(plan, role).recognition is None:
        return None
    draws = draw_chunk(Layout.of(scen), root_seed(3), np.arange(2))
    for o in role_outcomes(scen, [plan], draws, behaviour="none"):
        if o.role == role:
            return o.pay.recognition
    return None


def test_scorecard_pay_by_hand_with_monthly_quotas():
    """docs/model.md section 3, scorecards: every measure at target scores 100 points, coefficient 1, so the
    key-account scorecard (period year, weight 1) pays the target incentive, 60,000, whatever the reps'
    monthly quota profiles (each rep's quota share is normalised over its own year, not over all reps)."""
    scen = load_scenario(ROOT / "scenarios" / "scorecards.yaml")
    quota = np.array([np.full(12, 50_000.0), np.linspace(10_000.0, 90_000.0, 12)])  # 600k and 600k a year
    revenue = quota.copy()
    measures = {"revenue": revenue, "large_order_value": np.full((2, 12), 35_000.0),  # 420k: 100 points
                "satisfaction": np.full((2, 12), 0.82), "milestones": np.full((2, 12), 2.0)}
    for m in ("deals", "new_accounts"):
        measures[m] = np.ones((2, 12))
    res = role_pay(scen, "scorecard", "key_account", measures, quota)
    assert res.components["key_account_scorecard"][0] == pytest.approx([60_000.0, 60_000.0], abs=CENT)
    # revenue at 1.2x its quota: 120 points x 50% + 100 x 50% = composite 110, coefficient 1.25 (curve 100 -> 1.0,
    # 120 -> 1.5), pay 75,000
    measures["revenue"] = 1.2 * quota
    res = role_pay(scen, "scorecard", "key_account", measures, quota)
    assert res.components["key_account_scorecard"][0] == pytest.approx([75_000.0, 75_000.0], abs=CENT)


@pytest.fixture(scope="module")
def clawback_year(tmp_path_factory):
    """mechanics.yaml's clawback plan: a synthetic year written and read back, and the engine's pay of it."""
    scen = load_scenario(ROOT / "scenarios" / "mechanics.yaml")
    frame, _ = synth_history(scen, plan="clawback", rng=4, behaviour="none")
    path = tmp_path_factory.mktemp("claw") / "history.csv"
    write_history(frame, path)
    panels, _ = simulate_panels(scen, "clawback", rng=4, trials=1, behaviour="none")  # the history's year
    return scen, path, panels


def test_dated_cancellations_replay_to_the_engines_pay(clawback_year):
    """A synthetic history records when cancelled deals cancelled (``cancelled_after``): its payouts, and their
    replay, are the engine's pay (to the cent per rep, up to the recorded numbers' rounding); without the
    dates replay claws everything back the next month, as before, and pays key accounts less."""
    scen, path, panels = clawback_year
    hist = read_history(path, {r: x.process for r, x in scen.roles.items()})
    rp = replay(scen, hist, ["clawback"], in_force="clawback")
    assert rp.reconciled is True, rp.mismatches
    for role, sim in panels.items():
        got = rp.reps[rp.reps["role"] == role]
        order = np.argsort(np.asarray(got["rep_id"], dtype=str), kind="stable")
        ids = sorted(got["rep_id"])
        engine = dict(zip(_synth_ids(scen, role), sim.incentive[0], strict=True))
        diff = np.abs(got["clawback"].to_numpy()[order] - np.array([engine[i] for i in ids]))
        assert diff.max() < 0.05, (role, diff.max())  # measures recorded to the cent, scores to 4 decimals
    undated = pd.read_csv(path).drop(columns="cancelled_after")
    plain = path.with_name("undated.csv")
    undated.to_csv(plain, index=False)
    rp1 = replay(scen, read_history(plain, {r: x.process for r, x in scen.roles.items()}), ["clawback"],
                 in_force="clawback")
    ka = rp.reps["role"] == "key_account"
    assert rp1.reps.loc[ka, "clawback"].sum() < rp.reps.loc[ka, "clawback"].sum() - 1.0


def _synth_ids(scen, role):
    """The rep ids ``simlib synth`` writes for a scenario without a roster."""
    return [f"{role[:2].upper()}{i + 1:05d}" for i in range(scen.roles[role].headcount)]


@pytest.mark.parametrize("cell", ["0", "2.5", "abc", "999"])
def test_bad_cancelled_after_cells_are_refused(clawback_year, tmp_path, cell):
    scen, path, _ = clawback_year
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    row = int(np.flatnonzero(frame["cancelled_after"] != "")[0])
    frame.loc[row, "cancelled_after"] = cell
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    with pytest.raises(SimlibError) as exc:
        read_history(bad, {r: x.process for r, x in scen.roles.items()})
    msg = str(exc.value)
    assert "bad.csv" in msg and f"line {row + 2}" in msg and f"bad cancelled_after: '{cell}'" in msg, msg


def test_quota_relief_is_refused_naming_plan_role_and_field():
    """Quota relief moves quotas with the simulated market, which a history does not record: replay and synth
    refuse the plan (no shipped scenario has one, so the test above cannot see it)."""
    d = load_scenario(ROOT / "scenarios" / "default.yaml").model_dump(by_alias=True)
    d["plans"]["current"]["roles"]["telesales"]["quota_relief"] = {"band": 0.05, "share": 1.0}
    scen = scenario_from_dict(d, "relief.yaml")
    quota = np.full((3, 12), 25_000.0)
    measures = {m: np.ones((3, 12)) for m in scen.roles["telesales"].measure_kinds}
    with pytest.raises(PlanError, match=r"relief.yaml: .*plan 'current' moves telesales quotas .*'quota_relief'"):
        role_pay(scen, "current", "telesales", measures, quota)
    with pytest.raises(PlanError, match="'quota_relief'"):
        synth_history(scen, rng=1)
    role_pay(scen, "current", "key_account", {m: np.ones((3, 12)) for m in scen.roles["key_account"].measure_kinds},
             quota)  # the role without relief replays
