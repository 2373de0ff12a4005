"""Promotion, honour and training programmes: validation, costs by hand, the reference, and reps' responses.

docs/model.md section 3 (programmes) and section 4.1 (their prizes in the behaviour model).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import small_scenario_dict

import simlib
from simlib import ScenarioError, scenario_from_dict
from simlib.behaviour.dynamic import dynamic
from simlib.behaviour.types import C_GRID
from simlib.model.pipeline import passes, worlds
from simlib.model.plans import set_quotas
from simlib.model.population import Layout, draw_chunk, root_seed
from simlib.model.programmes import annuity
from simlib.model.reference import PROGRAMME_REFERENCE_METRICS, simulate_reference

KA = "plans.current.roles.ka"

#: the hand case on the small scenario's 7 key-account reps
PROMO = {"name": "promo", "kind": "promotion", "slots": 2, "raise": 10000, "years": 3, "discount_rate": 0.05}
CLUB = {"name": "club", "kind": "honour", "threshold": 1.0, "value": 4000, "cost_per_winner": 3000}
TRAIN = {"name": "train", "kind": "training", "share": 0.3, "cost_per_head": 2500, "ability_gain": 0.2,
         "delay_months": 4}


def _with(programmes: list[dict], role: str = "ka") -> simlib.Scenario:
    d = small_scenario_dict()
    d["plans"]["prog"] = {"base": "current", "changes": {"roles": {role: {"programmes": programmes}}}}
    return scenario_from_dict(d, "prog.yaml")


@pytest.mark.parametrize("prog, field, words", [
    ({"name": "p", "kind": "promotion", "slots": 2}, "programmes.0.raise", "a promotion programme needs 'raise'"),
    ({"name": "h", "kind": "honour", "value": 10}, "programmes.0.threshold", "needs 'threshold'"),
    ({"name": "h", "kind": "honour", "threshold": 1.2, "value": 10, "slots": 3}, "programmes.0.slots",
     "not a field of an honour programme"),
    ({"name": "t", "kind": "training", "share": 1.5, "cost_per_head": 1, "ability_gain": 0.1}, "programmes.0.share",
     "less than or equal to 1"),
    ({"name": "p", "kind": "promotion", "slots": 1, "raise": 1, "measure": "calls"}, "programmes.0.measure",
     "not a measure of process key_account"),
    ({"name": "p", "kind": "tournament"}, "programmes.0.kind", "'promotion', 'honour' or 'training'"),
])
def test_bad_programmes_name_the_field(prog, field, words):
    d = small_scenario_dict()
    d["plans"]["current"]["roles"]["ka"]["programmes"] = [prog]
    with pytest.raises(ScenarioError) as ei:
        scenario_from_dict(d, "case.yaml")
    want = f"{KA}.{field}"
    assert any(p.field == want and words in p.message for p in ei.value.problems), [str(p) for p in ei.value.problems]


def test_repeated_programme_names_are_refused():
    d = small_scenario_dict()
    d["plans"]["current"]["roles"]["ka"]["programmes"] = [PROMO, {**CLUB, "name": "promo"}]
    with pytest.raises(ScenarioError) as ei:
        scenario_from_dict(d, "case.yaml")
    assert any(p.field == f"{KA}.programmes" and "repeated: ['promo']" in p.message for p in ei.value.problems)


def test_scenarios_without_programmes_are_unchanged(default_scenario):
    assert "programmes" not in default_scenario.model_dump(by_alias=True)["plans"]["current"]["roles"]["telesales"]
    res = simlib.simulate(default_scenario, trials=2, rng=0, behaviour="none")
    assert not any(m.startswith("programme_") for m in res.summary()["metric"].unique())


def test_costs_and_winners_by_hand():
    """7 reps: 2 promotions (10k raise, 3 years at 5%: 27,232.48 each), 2 trained (round(0.3 x 7)) at 2.5k,
    an honour at 100% of quota worth 4k and costing 3k per winner; winners of the honour are the reps at quota."""
    pv = 10000 * (1 - 1.05**-3) / 0.05
    assert annuity(3, 0.05) * 10000 == pytest.approx(pv) and pv == pytest.approx(27232.48, abs=0.01)
    s = _with([PROMO, CLUB, TRAIN])
    draws = draw_chunk(Layout.of(s), root_seed(3), np.arange(8))
    (o,) = [o for o in passes(s, ["prog"], worlds(s, draws, ["ka"]), None)]
    pg = o.pay.programmes
    club = (o.pay.attainment >= 1.0).sum(axis=1)  # reps at 100% of quota or more
    assert np.all(pg.trained.sum(axis=1) == 2)
    np.testing.assert_allclose(pg.winners.sum(axis=1), 2 + club)
    value, cost = 2 * pv + 4000 * club, 2 * pv + 2 * 2500 + 3000 * club
    np.testing.assert_allclose(pg.value.sum(axis=1), value, rtol=1e-12)
    np.testing.assert_allclose(pg.cost.sum(axis=1), cost, rtol=1e-12)
    sm = simlib.simulate(s, trials=8, rng=3, behaviour="none").summary()
    mean = lambda plan, g, m: sm[(sm.plan == plan) & (sm.group == g) & (sm.metric == m)]["mean"].item()  # noqa: E731
    for g in ("ka", "total"):
        assert mean("prog", g, "programme_cost") == pytest.approx(cost.mean(), rel=1e-12)
        assert mean("prog", g, "programme_value") == pytest.approx(value.mean(), rel=1e-12)
        assert mean("prog", g, "programme_trained") == 2
        assert mean("prog", g, "profit_after_programmes") == pytest.approx(
            mean("prog", g, "profit") - cost.mean(), rel=1e-9)
    assert all(mean(p, "total", "programme_cost") == 0 for p in ("current", "variant", "company"))


def test_promotion_on_another_measure_ranks_its_year():
    """A promotion on partners opened goes to the reps who opened the most (ties to the lower rep index)."""
    s = _with([{"name": "p", "kind": "promotion", "measure": "partners_opened", "slots": 1, "raise": 1000,
                "years": 1, "discount_rate": 0.0}], role="ch")
    draws = draw_chunk(Layout.of(s), root_seed(5), np.arange(6))
    (o,) = [o for o in passes(s, ["prog"], worlds(s, draws), None) if o.role == "ch"]
    opened = o.measures["partners_opened"].sum(axis=-1)
    won = o.pay.programmes.by_name["p"] > 0
    assert np.all(won.sum(axis=1) == 1)
    best = np.argmax(opened, axis=1)  # the first of equal maxima
    assert np.all(won[np.arange(6), best])
    assert np.all(o.pay.programmes.by_name["p"][won] == 1000.0)


def test_training_raises_the_trained_reps_output_from_its_month():
    s = _with([TRAIN])
    draws = draw_chunk(Layout.of(s), root_seed(9), np.arange(40))
    out = {o.plan: o for o in passes(s, ["current", "prog"], worlds(s, draws), None) if o.role == "ka"}
    cur, new = out["current"], out["prog"]
    trained = new.pay.programmes.trained > 0
    assert np.all(trained.sum(axis=1) == 2)
    ability = cur.world.ability
    assert np.all(ability[trained].reshape(40, 2).max(axis=1) <= np.where(trained, np.inf, ability).min(axis=1))
    np.testing.assert_array_equal(cur.quota, new.quota)  # quotas are set before training
    rc, rn = cur.measures["revenue"], new.measures["revenue"]
    np.testing.assert_array_equal(rc[~trained], rn[~trained])
    np.testing.assert_array_equal(rc[trained][:, :4], rn[trained][:, :4])  # nothing before month 5
    gain = rn[trained][:, 4:].sum() / rc[trained][:, 4:].sum()
    assert 1.1 < gain < 1.3, gain  # deals arrive 20% faster (Poisson counts, same draws)


def test_reference_restates_programmes_and_training():
    s = _with([PROMO, CLUB, TRAIN])
    ref = simulate_reference(s, ["current", "prog"], trials=4, rng=7)
    sm = simlib.simulate(s, ["current", "prog"], trials=4, rng=7, behaviour="none").summary()
    for g in ("ka", "total"):
        for m in ("revenue", "incentive_cost", "share_at_quota", *PROGRAMME_REFERENCE_METRICS):
            got = sm[(sm.plan == "prog") & (sm.group == g) & (sm.metric == m)]["mean"].item()
            assert got == pytest.approx(np.mean(ref["metrics"]["prog"][g][m]), rel=1e-9), (g, m)
    rev = [np.mean(ref["metrics"][p]["ka"]["revenue"]) for p in ("current", "prog")]
    assert rev[1] > rev[0]  # the trained reps sell more in the reference too


@pytest.fixture(scope="module")
def prizes(default_scenario):
    cur = default_scenario.plans[default_scenario.current_plan].model_dump(by_alias=True)

    def plan(role, progs):
        return {**cur, "roles": {**cur["roles"], role: {**cur["roles"][role], "programmes": progs}}}

    s = default_scenario.with_plan("promo", plan("key_account", [
        {"name": "senior", "kind": "promotion", "slots": 4, "raise": 20000}]))
    return s.with_plan("club", plan("telesales", [{"name": "club", "kind": "honour", "threshold": 1.1, "value": 15000}]))


def test_promotion_raises_effort_most_near_the_cut_off(prizes):
    """4 promotions among 40 key-account reps: the top tenth wins; types far below gain least (Lazear & Rosen 1981)."""
    dm = dynamic(prizes)
    gain = dm.solve("promo", "key_account").info["mean_output"][:, 0] / dm.solve(
        prizes.current_plan, "key_account").info["mean_output"][:, 0]
    world = dm.cal.worlds["key_account"]
    att = dm.expected_revenue(world) / np.maximum(set_quotas(prizes, prizes.current_plan, world), 1e-12)
    cut = float(np.mean(np.sort(att, axis=1)[:, -4]))  # expected attainment of the 4th best
    near = int(np.argmin(np.abs(np.log(C_GRID / cut))))
    assert np.all(gain > 1 - 1e-9), gain  # a prize never lowers effort
    assert gain[near] > 1.02 and gain[near] > 5 * (gain[0] - 1) + 1, (cut, gain)
    assert int(np.argmax(gain)) in (near - 1, near, near + 1), (cut, gain)


def test_honour_bunches_attainment_just_above_its_threshold(prizes):
    """A 15k honour at 110% of quota on telesales: more reps end just above 110%, fewer just below (Steenburgh 2008)."""
    draws = draw_chunk(Layout.of(prizes), root_seed(11), np.arange(40))
    out = {o.plan: o for o in passes(prizes, [prizes.current_plan, "club"], worlds(prizes, draws, ["telesales"]),
                                     dynamic(prizes))}

    def bunching(o):  # per trial: share of reps in [1.1, 1.2) minus share in [1.0, 1.1)
        a = o.pay.attainment
        return ((a >= 1.1) & (a < 1.2)).mean(axis=1) - ((a >= 1.0) & (a < 1.1)).mean(axis=1)

    d = bunching(out["club"]) - bunching(out[prizes.current_plan])
    se = d.std(ddof=1) / np.sqrt(len(d))
    assert d.mean() > 4 * se and d.mean() > 0.02, (d.mean(), se)  # measured: +0.087 +- 0.009
    paid = out["club"].pay.programmes
    np.testing.assert_array_equal(paid.winners > 0, out["club"].pay.attainment >= 1.1)



def _numbers(node, path=()):
    """Paths of the numbers (not booleans) in a nested dict/list."""
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _numbers(v, (*path, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _numbers(v, (*path, i))]
    return [path] if isinstance(node, (int, float)) and not isinstance(node, bool) else []


def test_a_bad_number_in_programmes_or_projects_is_refused_naming_its_section():
    import copy

    import yaml

    from simlib.io import SHIPPED

    data = yaml.safe_load((SHIPPED / "scenarios" / "programmes.yaml").read_text())
    paths = [p for p in _numbers(data["plans"]) if "programmes" in p or "projects" in p]
    assert len(paths) > 25
    for path in paths:
        for bad in (float("nan"), -1e13, True):
            d = copy.deepcopy(data)
            node = d["plans"]
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = bad
            with pytest.raises(ScenarioError) as ei:
                scenario_from_dict(d, "programmes.yaml")
            section = "programmes" if "programmes" in path else "projects"
            assert any(section in p.field for p in ei.value.problems), (path, bad, str(ei.value))
