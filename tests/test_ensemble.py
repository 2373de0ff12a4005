"""Behavioural uncertainty: priors, the ensemble over parameter draws, robustness and its validation."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import pytest

import simlib
from simlib.engine.ensemble import (
    combine,
    design_unit,
    draw_parameters,
    draw_scenarios,
    robustness_sentence,
    scenario_for_draw,
    simulate_ensemble,
    total_sd,
    widen_interval,
)
from simlib.errors import PlanError, ScenarioError
from simlib.format import Z95, spread
from simlib.priors import PRIORS
from simlib.scenario import scenario_from_dict

PLANS = ["current", "variant"]


def _with_uncertainty(d: dict, unc: dict, name: str = "u.yaml"):
    d = dict(d)
    d["behaviour"] = {**d.get("behaviour", {}), "uncertainty": unc}
    return scenario_from_dict(d, name)


def _centred_priors(scen) -> dict:
    """Priors whose centre is exactly the scenario's value (degenerate: low == high)."""
    b = scen.behaviour
    vals = {"effort_elasticity_scale": 1.0, "cost_exponent": b.effort.cost_exponent,
            "intrinsic": b.effort.intrinsic, "risk_aversion": b.effort.risk_aversion,
            "choice_noise": b.effort.choice_noise, "monthly_discount": b.effort.monthly_discount,
            "inertia": b.multitask.inertia, "social_weight": b.team.social_weight,
            "help_productivity": b.team.help_productivity, "price_discount": b.timing.price_discount}
    return vals


# ---------------------------------------------------------------- priors and their validation


def test_every_prior_has_a_source_and_a_valid_range():
    for name, p in PRIORS.items():
        assert p.low <= p.high, name
        assert "(19" in p.source or "(20" in p.source, f"{name}: a source with its year"
        assert p.valid[0] <= p.low and p.high <= p.valid[1], name


def test_default_scenario_hash_is_unchanged_by_the_uncertainty_section(small_dict, small_scenario):
    same = _with_uncertainty(small_dict, {})
    assert same.sha256 == small_scenario.sha256
    other = _with_uncertainty(small_dict, {"draws": 4})
    assert other.sha256 != small_scenario.sha256


def test_prior_overrides_short_and_long_forms(small_dict):
    s = _with_uncertainty(small_dict, {"draws": 3, "priors": {
        "cost_exponent": [3.5, 4.5], "risk_aversion": 0.0,
        "intrinsic": {"dist": "uniform", "low": 1.0, "high": 3.0, "source": "our survey"}}})
    p = draw_parameters(s, 3)
    assert p["cost_exponent"].between(3.5, 4.5).all()
    assert (p["risk_aversion"] == 0.0).all()
    assert p.loc[0, "intrinsic"] == 2.0  # draw 0 is the centre: midpoint of a uniform prior
    assert p.loc[0, "choice_noise"] == pytest.approx(0.05)  # geometric mean of the default log-uniform prior


@pytest.mark.parametrize("priors, field, words", [
    ({"effort_elasticty": [0.8, 1.2]}, "behaviour.uncertainty.priors.effort_elasticty", "unknown behavioural parameter"),
    ({"cost_exponent": [0.5, 4.0]}, "behaviour.uncertainty.priors.cost_exponent", "valid range"),
    ({"intrinsic": [3.0, 1.0]}, "behaviour.uncertainty.priors.intrinsic", "above high"),
    ({"choice_noise": [0.0, 0.1]}, "behaviour.uncertainty.priors.choice_noise", "must be above"),
    ({"price_discount": {"low": 0.1}}, "behaviour.uncertainty.priors.price_discount.high", "missing"),
    ({"inertia": {"dist": "normal", "low": 1, "high": 2}}, "behaviour.uncertainty.priors.inertia.dist", "uniform"),
])
def test_bad_priors_name_the_field(small_dict, priors, field, words):
    with pytest.raises(ScenarioError) as exc:
        _with_uncertainty(small_dict, {"draws": 4, "priors": priors})
    probs = exc.value.problems
    assert any(p.field == field and words in p.message for p in probs), [(p.field, p.message) for p in probs]


def test_bad_draws_name_the_field(small_dict):
    with pytest.raises(ScenarioError) as exc:
        _with_uncertainty(small_dict, {"draws": -1, "method": "grid"})
    fields = {p.field for p in exc.value.problems}
    assert {"behaviour.uncertainty.draws", "behaviour.uncertainty.method"} <= fields


def test_ensemble_needs_at_least_one_draw(small_scenario):
    with pytest.raises(PlanError, match="behaviour draws"):
        simulate_ensemble(small_scenario, trials=4)  # the scenario's draws: 0


# ---------------------------------------------------------------- the design


def test_design_starts_at_the_centre_and_extends_as_a_prefix():
    u4, u9 = design_unit(4, 3, seed=7), design_unit(9, 3, seed=7)
    assert (u4[0] == 0.5).all()
    np.testing.assert_array_equal(u4, u9[:4])  # draw k does not depend on K
    assert not np.array_equal(design_unit(4, 3, seed=8), u4)
    assert ((u9 >= 0) & (u9 <= 1)).all()


def test_scenario_for_draw_sets_behaviour_and_scales_elasticities(small_scenario):
    s = scenario_for_draw(small_scenario, {"cost_exponent": 3.25, "effort_elasticity_scale": 1.2})
    assert s.behaviour.effort.cost_exponent == 3.25
    for r, role in s.roles.items():
        assert role.effort_elasticity == pytest.approx(min(1.0, small_scenario.roles[r].effort_elasticity * 1.2))


# ---------------------------------------------------------------- runs


def test_same_seed_same_numbers_for_any_chunk_size_and_executor(small_scenario):
    a = simulate_ensemble(small_scenario, PLANS, draws=3, trials=12, rng=5, chunk_size=12)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as ex:
        b = simulate_ensemble(small_scenario, PLANS, draws=3, trials=12, rng=5, chunk_size=5, executor=ex)
    pd.testing.assert_frame_equal(a.summary(), b.summary())
    pd.testing.assert_frame_equal(a.differences(), b.differences())
    assert a.provenance["draw_parameters"] == b.provenance["draw_parameters"]
    # the draws use the same random numbers: draw 0 of a 3-draw ensemble is draw 0 of a 2-draw one
    c = simulate_ensemble(small_scenario, PLANS, draws=2, trials=12, rng=5)
    pd.testing.assert_frame_equal(a.runs[1].summary(), c.runs[1].summary())


def test_one_draw_at_the_priors_centre_equals_a_plain_run(small_dict, small_scenario):
    vals = _centred_priors(small_scenario)
    widths = {"effort_elasticity_scale": 0.2, "cost_exponent": 1.0, "price_discount": 0.04}
    priors = {k: [v - widths.get(k, 0.0), v + widths.get(k, 0.0)] for k, v in vals.items()}
    s = _with_uncertainty(small_dict, {"draws": 1, "priors": priors})
    ens = simulate_ensemble(s, PLANS, trials=10, rng=3)
    plain = simlib.simulate(small_scenario, PLANS, trials=10, rng=3)
    got, want = ens.summary(), plain.summary()
    np.testing.assert_allclose(got["mean"], want["mean"], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(got["mc_se"], want["se"], rtol=1e-12, atol=1e-9)
    assert (got["model_sd"] == 0).all()
    np.testing.assert_allclose(ens.differences()["diff"], plain.differences()["diff"], rtol=1e-12, atol=1e-9)


def test_degenerate_priors_give_no_model_uncertainty(small_dict, small_scenario):
    s = _with_uncertainty(small_dict, {"priors": {k: v for k, v in _centred_priors(small_scenario).items()}})
    ens = simulate_ensemble(s, PLANS, draws=3, trials=8, rng=1)
    # rows without trials are metrics not applicable to their group (a plan paid monthly: its last month's share)
    s = ens.summary()
    assert (s.loc[s["n"] > 0, "model_sd"] == 0).all() and set(s.loc[s["n"] == 0, "metric"]) <= {"last_month_share"}
    d = ens.differences()
    d = d[d["n"] > 0]
    assert (d["model_sd"] == 0).all()
    assert set(d["share_positive"]) <= {0.0, 1.0}  # every draw is the same run


def test_wide_priors_move_the_variant_and_report_it(small_scenario):
    ens = simulate_ensemble(small_scenario, PLANS, draws=4, trials=8, rng=1)
    d = ens.differences().set_index(["group", "metric"])
    assert d.at[("total", "revenue"), "model_sd"] > 0
    row = d.loc[("total", "revenue")]
    assert row["total_sd"] >= row["mc_se"] and row["total_sd"] >= row["model_sd"]
    assert row["ci_low"] == pytest.approx(row["diff"] - Z95 * row["total_sd"])
    prov = ens.provenance
    assert prov["behaviour_draws"] == 4 and prov["behaviour_design"] == "sobol"
    assert set(prov["priors"]) == set(PRIORS) and len(prov["draw_parameters"]) == 4
    assert json.loads(ens.to_json())["provenance"]["behaviour_draws"] == 4
    t = ens.table(metrics=["revenue", "profit"])
    assert list(t.columns[:2]) == ["current", "current model"]
    assert t.loc["revenue", "variant - current >0"].endswith("/4")


# ---------------------------------------------------------------- combining and robustness


def _frame(diffs, se=1.0):
    return pd.DataFrame({"plan": ["b"] * len(diffs), "reference": "a", "group": "total",
                         "metric": [f"m{i}" for i in range(len(diffs))], "diff": diffs, "se": se, "n": 10})


def test_combine_counts_signs_and_pools_errors():
    draws = [[1.0, -1.0, 0.0], [2.0, -3.0, 0.0], [-0.5, -2.0, 0.0], [3.0, 1.0, 0.0]]
    out = combine([_frame(d, se=s) for d, s in zip(draws, [1.0, 2.0, 2.0, 1.0], strict=True)], "diff")
    assert list(out["n_positive"]) == [3, 1, 0]
    assert list(out["n_negative"]) == [1, 3, 0]
    assert list(out["share_positive"]) == [0.75, 0.25, 0.0]
    assert out["mc_se"].iloc[0] == pytest.approx(np.sqrt(2.5))
    assert out["model_sd"].iloc[0] == pytest.approx(np.std([1.0, 2.0, -0.5, 3.0], ddof=1))
    assert out["total_sd"].iloc[0] == pytest.approx(np.sqrt(2.5 + out["model_sd"].iloc[0] ** 2 * 1.25))
    assert out["model_sd"].iloc[2] == 0.0


def test_combine_matches_rows_by_key_not_position():
    a, b = _frame([1.0, 5.0]), _frame([3.0, 7.0]).iloc[::-1]
    out = combine([a, b], "diff")
    assert list(out["diff"]) == [2.0, 6.0]


def test_combine_pools_the_errors_a_draw_has():
    """A metric seen in one trial of one draw (a rank correlation where every rep but in one trial is capped) has no
    SE there: the pooled Monte Carlo SE is that of the draws that have one (their errors are nearly the same, on the
    same random numbers), not undefined; with no draw having one it stays undefined (shown "± n/a")."""
    out = combine([_frame([1.0, 2.0], se=[np.nan, np.nan]), _frame([3.0, 4.0], se=[2.0, np.nan]),
                   _frame([5.0, 6.0], se=[1.0, np.nan])], "diff")
    assert out["mc_se"].iloc[0] == pytest.approx(np.sqrt(2.5))
    assert np.isfinite(out["total_sd"].iloc[0]) and np.isfinite(out["ci_low"].iloc[0])
    assert np.isnan(out["mc_se"].iloc[1]) and np.isnan(out["total_sd"].iloc[1])
    # defined in one trial of draw 0 and in no trial of draw 1 (no row there): the mean of the draw that has it
    out = combine([_frame([1.0, 2.0], se=[1.0, np.nan]), _frame([3.0], se=[1.0])], "diff")
    assert list(out["diff"]) == [2.0, 2.0] and out["model_sd"].iloc[0] == pytest.approx(np.sqrt(2.0))
    assert np.isnan(out["model_sd"].iloc[1])


def test_robustness_sentences():
    assert robustness_sentence("team_weighted", "current", "profit", 15, 1, 16) == (
        "team_weighted beats current on profit in 94% of plausible behaviours (15 of 16 draws)")
    assert robustness_sentence("b", "a", "profit", 2, 14, 16) == (
        "a beats b on profit in 88% of plausible behaviours (14 of 16 draws)")
    assert robustness_sentence("b", "a", "incentive_cost", 0, 16, 16).startswith("b beats a on incentive_cost in 100%")
    assert robustness_sentence("b", "a", "share_at_quota", 3, 13, 16).startswith("b is below a")
    assert robustness_sentence("b", "a", "profit", 0, 0, 16) == "b and a tie on profit in all 16 draws"


def test_total_and_widened_intervals():
    assert total_sd(3.0, 0.0, 8) == 3.0
    assert total_sd(0.0, 2.0, 1) == pytest.approx(2.0 * np.sqrt(2.0))
    lo, hi = widen_interval(-1.0, 1.0, 0.0, 16)
    assert (lo, hi) == (-1.0, 1.0)
    lo, hi = widen_interval(9.0, 11.0, 1.0, 16)
    assert (lo + hi) / 2 == 10.0 and hi - 10.0 == pytest.approx(np.sqrt(1 + Z95**2 * 17 / 16))
    lo, hi = widen_interval(np.array([9.0]), np.array([11.0]), np.array([1.0]), 1, level=0.90)
    assert hi[0] - 10.0 == pytest.approx(np.sqrt(1 + 1.6448536269514722**2 * 2))
    with pytest.raises(PlanError, match="level"):
        widen_interval(0.0, 1.0, 1.0, 4, level=95)


def test_draw_scenarios_are_the_ensembles(small_scenario):
    scens = draw_scenarios(small_scenario, 3, seed=4)
    params = draw_parameters(small_scenario, 3, seed=4)
    assert [s.behaviour.effort.cost_exponent for s in scens] == list(params["cost_exponent"])
    assert len({s.sha256 for s in scens}) == 3


def test_model_column_is_rounded_like_the_estimate():
    assert spread(1_000_000.0, 89_337_723.4, 438_000.0) == "± 1,959,964"
    assert spread(0.01, 0.2, 0.001) == "± 0.0196"
    assert spread(float("nan"), 1.0, 0.1) == "± n/a"


# ---------------------------------------------------------------- wiring: CLI, sweep, optimize, notebooks


def test_cli_run_with_behaviour_draws_prints_model_column_and_verdicts(tmp_path, small_dict, capsys):
    from conftest import write_yaml

    from simlib.cli import main

    path = write_yaml(tmp_path / "s.yaml", small_dict)
    capsys.readouterr()
    assert main(["run", str(path), "--plans", "variant", "--trials", "6", "--behaviour-draws", "2",
                 "--group", "total", "--scheduler", "serial"]) == 0
    out = capsys.readouterr().out
    assert "2 behavioural draws (sobol, seed 0)" in out
    assert "Δ variant model ±" in out and "Δ variant >0" in out
    # rows and cells read as in the plain run: display names and money in the scenario's currency
    assert "Profit (gross profit - comp)" in out and "EUR" in out and "gross_profit" not in out
    assert re.search(r"(variant beats current|current beats variant) on profit in \d+% of plausible behaviours "
                     r"\(\d of 2 draws\)", out) or "tie on profit" in out
    assert main(["run", str(path), "--plans", "variant", "--trials", "6", "--behaviour-draws", "2",
                 "--format", "csv", "--scheduler", "serial"]) == 0
    csv = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert {"mc_se", "model_sd", "total_sd", "share_positive"} <= set(csv.columns)


def test_cli_run_default_is_unchanged_without_draws(tmp_path, small_dict, capsys):
    from conftest import write_yaml

    from simlib.cli import main

    path = write_yaml(tmp_path / "s.yaml", small_dict)
    capsys.readouterr()
    assert main(["run", str(path), "--plans", "variant", "--trials", "4", "--scheduler", "serial"]) == 0
    out = capsys.readouterr().out
    assert "behavioural draws" not in out and " model" not in out


def test_sweep_reports_model_spread_and_sign_share_per_point(small_scenario):
    from simlib.design.sweep import run_sweep

    df = run_sweep(small_scenario, {"roles.ts.team.weight": [0.0, 0.5]}, trials=6, rng=2, behaviour_draws=2)
    assert {"model_sd", "diff_model_sd", "diff_share_positive", "draws"} <= set(df.columns)
    row = df[(df["point"] == 1) & (df["group"] == "total") & (df["metric"] == "revenue")].iloc[0]
    assert row["draws"] == 2 and row["diff_share_positive"] in (0.0, 0.5, 1.0)
    plain = run_sweep(small_scenario, {"roles.ts.team.weight": [0.0, 0.5]}, trials=6, rng=2)
    assert "model_sd" not in plain.columns


def test_optimize_reports_robustness_of_the_optimum(small_scenario):
    from simlib.design.optimize import optimize

    r = optimize(small_scenario, {"target_level": (0.9, 1.1)}, trials=6, starts=2, maxiter=0, sensitivity=[],
                 behaviour_draws=2)
    rb = r.robustness
    assert set(rb["plan"]) == {"optimum"} and (rb["draws"] == 2).all()
    assert "robustness" in json.loads(r.to_json())


def test_notebook_uncertainty_table(small_scenario):
    from simlib.report.notebook import simulate_ensemble as nb_ensemble
    from simlib.report.notebook import uncertainty_table

    ens = nb_ensemble(small_scenario, PLANS, draws=2, trials=6)
    t = uncertainty_table(ens, metrics=["profit", "revenue"])
    assert list(t["metric"]) == ["profit", "revenue"]
    assert t["verdict"].str.contains("of 2 draws|tie on").all()
    assert t["model"].str.startswith("± ").all()


def test_notebook_uncertainty_verdicts_name_plans_in_words():
    # the report's robustness section read "team_weighted beats current ..." under an answer that says "team weighted"
    import types

    import pandas as pd

    from simlib.report.notebook import uncertainty_table

    d = pd.DataFrame([dict(plan="team_weighted", reference="current_plan", group="total", metric="profit", diff=1.3e6,
                           mc_se=1e4, model_sd=2e5, ci_low=0.9e6, ci_high=1.7e6, share_positive=1.0, n_positive=16,
                           n_negative=0, draws=16)])
    t = uncertainty_table(types.SimpleNamespace(differences=lambda: d), metrics=["profit"])
    assert t["verdict"].iloc[0] == "team weighted beats current plan on profit in 100% of plausible behaviours (16 of 16 draws)"
    assert t["plan"].iloc[0] == "team_weighted"  # the data keep the ids


def test_ensemble_table_says_a_share_of_none_or_all_in_every_trial(small_dict):
    # `run --behaviour-draws` printed "Chance of exceeding the incentive budget  0.0%", a bare value beside
    # "25.0% ± 19.5"; run's own table reads "0.0% (in none of N trials)", over every draw's trials
    import simlib.present as present

    d = dict(small_dict, budget={"incentive": 1.0})  # a budget every plan exceeds in every trial
    ens = simulate_ensemble(scenario_from_dict(d, "b.yaml"), PLANS, draws=2, trials=6, rng=3)
    table = ens.readable("total")
    row = table.loc[present.label("over_budget")]
    assert row["current"] == "100.0% (in all 12 trials)"  # 6 trials in each of 2 behavioural draws
    assert row["variant"] == "100.0% (in all 12 trials)"
