"""The effort index weights each month by its production weight (docs/model.md section 4.8).

Effort multiplies the month's expected production (section 4.1), so a plan that moves effort from the peak months
into the quiet ones raises the plain monthly mean while revenue falls. The index is the mean over months weighted by
each month's share of the year's expected revenue at today's effort (``revenue_profile``), the weight effort has in
the year's output.
"""

from __future__ import annotations

import numpy as np
import pytest

import simlib
from simlib.behaviour.dynamic import DynamicBehaviour
from simlib.behaviour.policy import behaviour_metrics, effort_index, production_weights
from simlib.errors import SimlibError
from simlib.fit.findings import SCENARIO_DIR, role_run
from simlib.model.contracts import PolicyRecord
from simlib.model.plans import revenue_profile
from simlib.scenario import load_scenario, scenario_from_dict

#: a year with a strong last quarter (three times the mean in December)
PEAKED = [0.3, 0.3, 0.6, 0.4, 0.4, 0.8, 0.3, 0.3, 1.0, 1.2, 1.8, 4.8]


def _seasonal(name: str, season: list[float]):
    data = load_scenario(SCENARIO_DIR / f"{name}.yaml").model_dump(by_alias=True)
    (role,) = data["roles"].values()
    role["seasonality"] = season
    return scenario_from_dict(data, f"{name} (seasonality {season})")


def _record(effort: np.ndarray) -> PolicyRecord:
    T, R, _ = effort.shape
    rec = PolicyRecord.today((T, R))
    rec.effort = effort
    return rec


def test_index_weights_each_month_by_its_production_weight():
    """Effort 2 in the one month that produces half the year and 0.5 in the others: 1.25, not the plain mean 0.625."""
    prof = np.r_[np.full(11, 1.0), 11.0]
    eff = np.r_[np.full(11, 0.5), 2.0]
    rec = _record(np.broadcast_to(eff, (3, 4, 12)).copy())
    got = behaviour_metrics(rec, {"revenue": np.ones((3, 4, 12))}, [11], 3, weights=production_weights(prof))
    np.testing.assert_allclose(got["effort_index"], 1.25, rtol=1e-12)
    assert effort_index(rec.effort, production_weights(prof)).shape == (3, 4)


def test_flat_weights_give_the_plain_mean():
    rng = np.random.default_rng(0)
    e = rng.uniform(0.5, 1.5, size=(5, 7, 12))
    np.testing.assert_allclose(effort_index(e, production_weights(np.full(12, 3.0))), e.mean(axis=2), rtol=1e-14)


@pytest.mark.parametrize("bad", [np.ones(11), np.zeros(12), np.r_[-1.0, np.ones(11)], np.r_[np.nan, np.ones(11)]])
def test_production_weights_reject_what_is_not_a_year_of_output(bad):
    with pytest.raises(SimlibError, match="production weights"):
        production_weights(bad)


def test_effort_index_follows_output_under_a_peaked_season():
    """Quarterly quotas on a year that peaks in December (telesales, Misra & Nair's scenario): reps work more in the
    quiet months and less in the peak, and revenue falls. The plain monthly mean read +8.8% effort beside -3.9%
    revenue (40 trials); the index weighted by production falls with revenue, and is what the run reports."""
    scen = _seasonal("cap_and_quarterly", PEAKED)
    res = simlib.simulate(scen, ["current", "quarterly_uncapped"], trials=40, rng=0, behaviour="dynamic")
    d = res.differences().set_index(["plan", "group", "metric"])
    lv = res.summary().set_index(["plan", "group", "metric"])
    assert d.loc[("quarterly_uncapped", "reps", "revenue"), "ci_high"] < 0
    assert lv.loc[("quarterly_uncapped", "reps", "effort_index"), "mean"] < 1.0
    # the same number from the recorded effort and the month's share of expected revenue
    run = role_run(scen, "quarterly_uncapped", trials=40, rng=0, model=DynamicBehaviour(scen))
    prof = revenue_profile(scen, "reps")
    weighted = float((run.effort * (prof / prof.sum())).sum(axis=2).mean())
    assert run.effort.mean() > 1.0  # the plain mean rises
    np.testing.assert_allclose(lv.loc[("quarterly_uncapped", "reps", "effort_index"), "mean"], weighted, rtol=1e-9)


def test_todays_effort_is_exactly_one_whatever_the_weights():
    w = production_weights(np.array([0.3, 0.3, 0.6, 0.4, 0.4, 0.8, 0.3, 0.3, 1.0, 1.2, 1.8, 4.8]) * 1.1)
    assert np.all(effort_index(np.ones((4, 5, 12)), w) == 1.0)
