"""The Kishore et al. (2013) evidence benchmark (benchmarks/kishore.py) measures what ``validate-model`` checks."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.kishore import main, measure, variant
from simlib.fit import findings as V
from simlib.scenario import load_scenario

TRIALS = 12


@pytest.fixture(scope="module")
def scen():
    return load_scenario(V.SCENARIO_DIR / "bonus_to_commission.yaml")


def test_tercile_check_and_total_are_validate_models(scen):
    res = measure(scen, TRIALS, 1)
    df = V.validate_model(trials=TRIALS, rng=1, only=["bonus_to_commission"], roles="first")
    by = dict(zip(df["effect"], df["measured"], strict=True))
    assert res["low_high"][0] == pytest.approx(by["low tercile revenue change minus high tercile's, % points"], abs=1e-9)
    assert res["total"] == pytest.approx(by["revenue change, %"], abs=1e-9)
    a = [q["a"] for q in res["quintiles"]]
    assert np.all(np.diff(a) > 0)  # quintiles of expected attainment, lowest first


def test_from_quota_variant_pays_nothing_below_the_quota_at_the_same_rate(scen):
    rate = scen.role_plan("commission", "reps").components[0].rate
    comp = variant(scen, True, None).role_plan("commission", "reps").components[0]
    assert comp.kind == "commission" and [(t.start, t.rate) for t in comp.tiers] == [(0.0, 0.0), (1.0, rate)]
    assert variant(scen, False, 0.3).roles["reps"].effort_elasticity == 0.3


def test_bad_elasticity_is_a_clear_error_not_a_traceback(capsys):
    assert main(["--trials", "2", "--effort-elasticity", "2"]) == 1
    err = capsys.readouterr().err
    assert "effort_elasticity" in err and "less than or equal to 1" in err and "Traceback" not in err
