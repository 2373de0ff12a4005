"""Per-rep pay intervals against each rep's actual next-year pay on synthetic organisations (benchmarks/rep_coverage.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.rep_coverage import LEVELS, one_org, summary, truth_data
from simlib.engine.reps import rep_answers
from simlib.fit.individuals import with_history
from simlib.scenario import load_scenario, scenario_from_dict


@pytest.fixture(scope="module")
def tiny():
    return one_org(0, scale=1, trials=20)


def test_every_year_two_rep_is_predicted_once_per_case_with_ordered_quantiles(tiny):
    truth = scenario_from_dict(truth_data(1))
    for _, g in tiny.groupby("case"):
        assert g["rep_id"].is_unique and len(g) == truth.headcount
        assert g.groupby("role").size().to_dict() == {r: x.headcount for r, x in truth.roles.items()}
    q = tiny[["q0.05", "q0.10", "q0.50", "q0.90", "q0.95"]].to_numpy()
    assert np.all(np.diff(q, axis=1) >= 0)
    base = tiny["role"].map({r: x.base_salary for r, x in truth.roles.items()})
    assert np.all(tiny["pay"] >= base - 0.01) and np.all(tiny["q0.05"] >= base - 0.01)  # pay never below base
    for name, (lo, hi) in LEVELS.items():
        inside = (tiny["pay"] >= tiny[f"q{lo:.2f}"]) & (tiny["pay"] <= tiny[f"q{hi:.2f}"])
        assert (tiny[f"in_{name}"] == inside).all()
    assert tiny["pit"].between(0, 1).all()
    assert set(tiny["history"]) == {"12 months", "hired in year one", "hired in year two"}


def test_the_same_plan_and_the_plan_change_predict_the_same_reps_from_the_same_fit(tiny):
    a = tiny[tiny["case"] == "same plan"].set_index("rep_id")
    b = tiny[tiny["case"] == "plan change"].set_index("rep_id")
    assert set(a.index) == set(b.index)
    assert (a["history"] == b["history"].reindex(a.index)).all()
    assert not np.allclose(a["q0.90"], b["q0.90"].reindex(a.index))  # the year-two plan is the one predicted


def test_the_intervals_measured_are_the_ones_simlib_reps_states(tmp_path):
    """P10 and P90 from the benchmark's pass equal rep_answers' statement for the same seed, trials and plan."""
    from benchmarks.rep_coverage import fitted_scenario, rep_intervals, year_frames, year_two_reps

    data = truth_data(1)
    truth = scenario_from_dict(data)
    y1, y2 = year_frames(truth, 3, "accelerated", None)
    reps = year_two_reps(truth, y1, y2)
    scen = fitted_scenario(data, truth, y1, reps, tmp_path)
    assert scen.track_record is not None and scen.headcount == len(reps)
    iv = rep_intervals(scen, "accelerated", 12, 7, None, reps.set_index("rep_id")["pay"]).set_index("rep_id")
    st = rep_answers(scen, "accelerated", reference="accelerated", trials=12, rng=7).statement.set_index("rep_id")
    np.testing.assert_allclose(iv["q0.10"], st["current_p10"].reindex(iv.index))
    np.testing.assert_allclose(iv["q0.90"], st["current_p90"].reindex(iv.index))
    # the fitted scenario loads like a user's: the same reps through simlib's own loader
    again = with_history(load_scenario(tmp_path / "org.yaml"))
    assert again.sha256 == scen.sha256


def test_summary_counts_coverage_and_its_se_over_organisations():
    rows = pd.DataFrame({"org": [0, 0, 1, 1], "case": "same plan", "role": ["a", "a", "a", "b"],
                         "in_80%": [True, False, True, True], "pit_80%": [True, True, False, True],
                         "in_90%": True, "pit_90%": True, "pit": [0.2, 0.5, 0.95, 0.4], "floor": 0.0})
    s = summary(rows, []).iloc[0]
    assert s["reps"] == 4 and s["80%"] == 0.75 and s["80%_pit"] == 0.75
    assert s["80%_se"] == pytest.approx(np.std([0.5, 1.0], ddof=1) / np.sqrt(2))
    assert s["pit_mean"] == pytest.approx(0.5125)
    by = summary(rows, ["role"]).set_index("role")
    assert by.loc["b", "reps"] == 1 and by.loc["a", "80%"] == pytest.approx(2 / 3)


@pytest.mark.slow
def test_per_rep_intervals_cover_actual_next_year_pay_at_their_nominal_rate():
    """Six synthetic organisations of 120 reps: the randomised-PIT coverage of P10-P90 and P5-P95 is nominal
    within 3 SEs (over organisations), per case and per role; the literal [P10, P90] never covers less."""
    reps = pd.concat([one_org(s, scale=2, trials=200) for s in range(6)], ignore_index=True)
    for by in ([], ["role"]):
        for _, row in summary(reps, by).iterrows():
            for name, (lo, hi) in LEVELS.items():
                nominal, se = hi - lo, max(row[f"{name}_pit_se"], np.sqrt((hi - lo) * (1 - hi + lo) / row["reps"]))
                assert abs(row[f"{name}_pit"] - nominal) < 3 * se, (row.to_dict(), name)
                assert row[name] > nominal - 3 * max(row[f"{name}_se"], se), (row.to_dict(), name)


def test_loading_a_scenario_with_history_twice_gives_the_same_scenario():
    """The second load in a process finds the track record already applied; it must not be applied (hashed) again."""
    import simlib
    from simlib.io import SHIPPED

    path = SHIPPED / "scenarios" / "example_org" / "org.yaml"
    first, second = simlib.load_scenario(path), simlib.load_scenario(path)
    assert first.sha256 == second.sha256
    assert with_history(second) is second
    for role, (m, v, n) in first.track_record.roles.items():
        m2, v2, n2 = second.track_record.roles[role]
        np.testing.assert_array_equal(v, v2)
        np.testing.assert_array_equal(m, m2)
        np.testing.assert_array_equal(n, n2)
