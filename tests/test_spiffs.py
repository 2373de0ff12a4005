"""SPIFFs in runs: validation, the SPIFF cost metric, and reps working into the window under ``dynamic``.

The pay arithmetic is checked by hand in tests/golden/plans.yaml and draw for
draw against the reference in tests/test_reference.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import small_scenario_dict

import simlib
from simlib import ScenarioError, scenario_from_dict
from simlib.behaviour.dynamic import dynamic
from simlib.model.pipeline import passes, worlds
from simlib.model.population import Layout, draw_chunk, root_seed

MECH = "scenarios/mechanics.yaml"
KA = "plans.current.roles.ka"


@pytest.mark.parametrize("spiff, field, words", [
    ({"name": "s", "from": 9, "to": 7, "rate": 1}, "spiffs.0.to", "before it starts"),
    ({"name": "s", "from": 0, "to": 7, "rate": 1}, "spiffs.0.from", "greater than or equal to 1"),
    ({"name": "s", "from": 7, "to": 13, "rate": 1}, "spiffs.0.to", "less than or equal to 12"),
    ({"name": "s", "measure": "satisfaction", "from": 7, "to": 9, "rate": 1}, "spiffs.0.measure",
     "a SPIFF pays per unit booked"),
    ({"name": "s", "measure": "calls", "from": 7, "to": 9, "rate": 1}, "spiffs.0.measure", "not a count or money"),
    ({"name": "rev", "from": 7, "to": 9, "rate": 1}, "spiffs", "repeated: ['rev']"),
    ({"name": "s", "from": 7, "to": 9, "rate": 1, "budget": 0}, "spiffs.0.budget", "greater than 0"),
    ({"name": "s", "from": 7, "to": 9}, "spiffs.0.rate", "required"),
])
def test_bad_spiffs_name_the_field(spiff, field, words):
    d = small_scenario_dict()
    d["plans"]["current"]["roles"]["ka"]["spiffs"] = [spiff]
    with pytest.raises(ScenarioError) as ei:
        scenario_from_dict(d, "case.yaml")
    want = f"{KA}.{field}"
    assert any(p.field == want and words in p.message for p in ei.value.problems), [str(p) for p in ei.value.problems]


def test_spiff_cost_is_its_extra_incentive_cost_and_stays_in_budget():
    res = simlib.simulate(MECH, ["q3_new_logos"], trials=40, rng=3, behaviour="none")
    s = res.summary().set_index(["plan", "group", "metric"])["mean"]
    d = res.differences().set_index(["plan", "group", "metric"])["diff"]
    cost = s[("q3_new_logos", "key_account", "spiff_cost")]
    assert 0 < cost <= 100000 and s[("current", "total", "spiff_cost")] == 0
    assert d[("q3_new_logos", "total", "incentive_cost")] == pytest.approx(cost, rel=1e-9)
    assert s[("q3_new_logos", "inside_sales", "spiff_cost")] == 0


def test_scenarios_without_spiffs_have_no_spiff_metric(small_scenario):
    metrics = set(simlib.simulate(small_scenario, trials=4, rng=1, behaviour="none").summary()["metric"])
    assert "spiff_cost" not in metrics


def test_a_spiff_pulls_new_accounts_into_its_window_under_dynamic():
    """Reps work harder in the SPIFF's months: more new accounts booked in July-September than today."""
    scen = simlib.load_scenario(MECH)
    draws = draw_chunk(Layout.of(scen), root_seed(8), np.arange(300))
    w = worlds(scen, draws, ["key_account"])
    out = {o.plan: o for o in passes(scen, ["current", "q3_new_logos"], w, dynamic(scen))}
    new = {p: out[p].measures["new_accounts"] for p in out}  # (T, R, 12)
    window = [float(new[p][..., 6:9].sum(axis=(1, 2)).mean()) for p in ("current", "q3_new_logos")]
    before = [float(new[p][..., 0:5].sum(axis=(1, 2)).mean()) for p in ("current", "q3_new_logos")]
    diff = new["q3_new_logos"][..., 6:9].sum(axis=(1, 2)) - new["current"][..., 6:9].sum(axis=(1, 2))
    se = diff.std(ddof=1) / np.sqrt(len(diff))
    assert diff.mean() > 3 * se and window[1] > window[0]
    assert before[1] == pytest.approx(before[0], rel=0.01)  # the months before the window barely move
