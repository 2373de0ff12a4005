"""Backtest: fit on year one, predict year two under the new plan, compare with the actual year two."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import DEFAULT

from simlib.cli import main
from simlib.errors import PlanError, SimlibError
from simlib.fit.backtest import METRICS_BT, backtest
from simlib.fit.history import read_history, write_history
from simlib.fit.synth import synth_history
from simlib.scenario import load_scenario


@pytest.fixture(scope="module")
def two_years(tmp_path_factory):
    scen = load_scenario(DEFAULT)
    frame, truth = synth_history(scen, rng=21, years=2, plan2="harder_target")
    path = tmp_path_factory.mktemp("bt") / "h.csv"
    write_history(frame, path)
    return scen, read_history(path, {r: x.process for r, x in scen.roles.items()}), truth, path


def test_synthetic_two_years_keep_reps_and_change_plan(two_years):
    scen, hist, truth, _ = two_years
    assert hist.years == [2025, 2026] and truth["plans"] == ["current", "harder_target"]
    ids = [set(hist.frame.loc[hist.frame["year"] == y, "rep_id"]) for y in hist.years]
    stay = len(ids[0] & ids[1]) / len(ids[0])
    # each rep is replaced with probability new_hire_share of the role: binomial share staying
    n = sum(r.headcount for r in scen.roles.values())
    p = sum(r.headcount * (1 - r.new_hire_share) for r in scen.roles.values()) / n
    assert abs(stay - p) < 4 * np.sqrt(p * (1 - p) / n), (stay, p)
    p1, p2 = hist.panel("telesales", 2025), hist.panel("telesales", 2026)
    assert p2.new_hire.mean() > 0 and len(p2.rep_ids) == len(p1.rep_ids) == 120


def test_backtest_predicts_year_two(two_years):
    scen, hist, _, _ = two_years
    # one synthetic year two is one draw from the predictive distribution: a 90% interval misses
    # it one time in ten, so the check uses a 99.5% interval (a miss then means a wrong prediction)
    bt = backtest(hist, scen, plan_after="harder_target", trials=400, rng=0, level=0.995, behaviour="none",
                  bootstrap=20)
    f = bt.frame()
    assert len(f) == 4 * len(METRICS_BT)
    tot = f[f["group"] == "total"].set_index("metric")
    for m in ("payout", "revenue", "mean_attainment", "share_at_quota"):
        assert tot.at[m, "inside"], (m, tot.loc[m].to_dict())
    assert bt.coverage >= 0.7
    # harder targets cut payout (paired on common random numbers); without behaviour revenue does not move
    assert tot.at["payout", "predicted_change"] + 3 * tot.at["payout", "predicted_change_se"] < 0
    assert tot.at["revenue", "predicted_change"] == 0.0
    # and the predicted cut in attainment is what a 10% higher quota implies
    before = tot.at["mean_attainment", "predicted"] - tot.at["mean_attainment", "predicted_change"]
    assert tot.at["mean_attainment", "predicted"] / before == pytest.approx(1 / 1.1, rel=1e-6)
    # the actual change is year two minus year one (its sign is the market's as much as the plan's:
    # a good year can lift payout despite 10% harder targets)
    for m in ("payout", "revenue"):
        assert tot.at[m, "actual_change"] == pytest.approx(tot.at[m, "actual"] - tot.at[m, "actual_year1"], rel=1e-9)


def test_default_behaviour_as_run_and_intervals_carry_fit_and_market(two_years):
    from simlib.engine.core import resolve_behaviour

    scen, hist, _, _ = two_years
    bt = backtest(hist, scen, plan_after="harder_target", trials=40, rng=3, bootstrap=20)
    assert bt.behaviour == resolve_behaviour(scen, None) == "dynamic" and bt.replicates == 20 and bt.trials == 40
    tot = bt.frame().query("group == 'total'").set_index("metric")
    # reps respond to 10% harder targets: revenue moves, with a Monte Carlo standard error (not "+0 +- 0")
    assert tot.at["revenue", "predicted_change_se"] > 0
    assert abs(tot.at["revenue", "predicted_change"]) > 2 * tot.at["revenue", "predicted_change_se"]
    # without the fit's bootstrap replicates the intervals are narrower, and a note says so
    point = backtest(hist, scen, plan_after="harder_target", trials=40, rng=3, bootstrap=0)
    assert point.replicates == 0 and any("leave out the uncertainty of the fit" in n for n in point.notes)
    w = bt.frame().eval("hi - lo").to_numpy()
    w0 = point.frame().eval("hi - lo").to_numpy()
    assert np.median(w / w0) > 1.0


def test_predictive_scenario_and_kept_reps():
    from simlib.fit.backtest import keep_reps, predictive_scenario
    from simlib.model.population import Layout, draw_chunk, root_seed

    scen = load_scenario(DEFAULT)
    p = predictive_scenario(scen)
    assert p.market.growth_sd == pytest.approx(scen.market.growth_sd * np.sqrt(2))
    assert p.market.monthly_sd == pytest.approx(scen.market.monthly_sd * np.sqrt(2))
    assert p.market.growth_mean == scen.market.growth_mean
    d = draw_chunk(Layout.of(scen), root_seed(1), np.arange(4))
    a = keep_reps(scen)(d)
    for r, role in scen.roles.items():
        z, za = d[f"{r}.ability"], a[f"{r}.ability"]
        k = np.sqrt(min(2 * role.new_hire_share, 1.0))
        assert np.allclose(za.mean(axis=1), k * z.mean(axis=1))
        # the spread's departure from the scenario's shrinks alike; the reps' order and shape are kept
        sd, sda = z.std(axis=1, ddof=1), za.std(axis=1, ddof=1)
        assert np.allclose(sda, 1 + k * (sd - 1))
        dev, deva = z - z.mean(axis=1, keepdims=True), za - za.mean(axis=1, keepdims=True)
        assert np.allclose(deva, dev * (sda / sd)[:, None])
    assert a["market.growth"] is d["market.growth"]


def test_behaviour_ensemble_hook(two_years):
    scen, hist, _, _ = two_years
    bt = backtest(hist, scen, plan_after="harder_target", trials=8, rng=1, bootstrap=4, behaviours=["none", "dynamic"])
    assert bt.behaviour == "ensemble of 2" and bt.to_dict()["behaviour"] == "ensemble of 2"


def test_behavioural_prior_draws_widen_the_predicted_change(two_years):
    scen, hist, _, _ = two_years
    kw = dict(plan_after="harder_target", trials=40, rng=2, bootstrap=8)
    one = backtest(hist, scen, **kw)
    ens = backtest(hist, scen, behaviour_draws=4, **kw)
    assert any("4 draws from the priors" in n for n in ens.notes)
    assert any("at the scenario's values" in n for n in one.notes)
    # the draws change the behavioural response, so the paired change differs between replicates
    a = one.frame().set_index(["group", "metric"])
    e = ens.frame().set_index(["group", "metric"])
    assert not np.allclose(a["predicted_change"], e["predicted_change"])
    assert e.at[("total", "revenue"), "predicted_change_se"] > 0


def test_behavioural_draws_say_whether_the_predicted_change_keeps_its_sign(two_years, capsys):
    # `simlib backtest --behaviour-draws K` spread its trials over K draws of the priors but never said, as
    # `run`, `sweep` and `optimize` do, whether a predicted change keeps its sign across them
    scen, hist, _, path = two_years
    ens = backtest(hist, scen, plan_after="harder_target", trials=16, rng=2, bootstrap=4, behaviour_draws=4)
    f = ens.frame().set_index(["group", "metric"])
    assert (f["change_draws"] == 4).all()
    assert (f["change_draws_positive"] + f["change_draws_negative"] <= 4).all()
    # harder targets pay less in every plausible behaviour, and the pooled change has the majority's sign
    pay = f.loc[("total", "payout")]
    assert pay["change_draws_negative"] == 4 and pay["predicted_change"] < 0
    assert "total: harder_target is below current on payout in 100% of plausible behaviours (4 of 4 draws)" \
        in ens.robustness
    groups = list(scen.roles) + ["total"]
    assert [s.split(":")[0] for s in ens.robustness] == [g for g in groups for _ in ("revenue", "payout")]
    assert ens.to_dict()["robustness"] == ens.robustness
    # the same plan ties in every draw; without draws there is nothing to say
    same = backtest(hist, scen, plan_after="current", trials=8, rng=2, bootstrap=2, behaviour_draws=2)
    assert all("tie on" in s for s in same.robustness) and same.robustness
    # each simulated year once (the same plan twice once doubled the trials, understating the SE by sqrt 2)
    assert same.trials == 8 and (same.frame()["change_draws"] == 2).all()
    rc = main(["backtest", str(path), "--scenario", str(DEFAULT), "--plan-after", "harder_target", "--trials", "8",
               "--bootstrap", "2", "--behaviour-draws", "2"])
    out = capsys.readouterr().out
    assert rc == 0 and "pred. >0" in out and "sign across the behavioural priors" in out
    assert "harder_target is below current on payout" in out


def test_same_plan_predicts_no_change_and_same_seed_same_numbers(two_years):
    scen, hist, _, _ = two_years
    a = backtest(hist, scen, plan_after="current", trials=20, rng=4, bootstrap=5)
    b = backtest(hist, scen, plan_after="current", trials=20, rng=4, bootstrap=5)
    assert a.rows == b.rows
    assert all(r["predicted_change"] == 0.0 for r in a.rows)
    assert a.robustness == [] and "change_draws" not in a.frame().columns  # no behavioural draws: nothing to say


def test_errors(two_years, tmp_path):
    scen, hist, _, _ = two_years
    with pytest.raises(SimlibError, match="needs two years"):
        backtest(hist.year(2025), scen, plan_after="harder_target", trials=5)
    with pytest.raises(PlanError, match="unknown plan 'tougher'"):
        backtest(hist, scen, plan_after="tougher", trials=5)
    with pytest.raises(SimlibError, match="no rows for year 2030"):
        backtest(hist, scen, plan_after="harder_target", years=(2025, 2030), trials=5)


def test_cli(two_years, tmp_path, capsys):
    _, _, _, path = two_years
    out = tmp_path / "bt.json"
    rc = main(["backtest", str(path), "--scenario", str(DEFAULT), "--plan-after", "harder_target",
               "--trials", "30", "--bootstrap", "10", "--json", str(out)])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "fitted on 2025 under 'current', predicted 2026 under 'harder_target'" in cap.out
    assert "coverage:" in cap.out and "behaviour dynamic; 10 bootstrap replicates" in cap.out
    assert "--json FILE is deprecated; use --out FILE" in cap.err  # the old spelling still works, with a note
    data = json.loads(out.read_text())
    assert data["plan_after"] == "harder_target" and len(data["rows"]) == 28
    assert np.isfinite(data["coverage"])
    xlsx = tmp_path / "bt.xlsx"
    rc = main(["backtest", str(path), "--scenario", str(DEFAULT), "--plan-after", "harder_target",
               "--trials", "8", "--bootstrap", "0", "--behaviour", "none", "--out", str(xlsx)])
    assert rc == 0 and f"wrote {xlsx}" in capsys.readouterr().out
    from openpyxl import load_workbook

    wb = load_workbook(xlsx)
    assert wb.sheetnames == ["backtest", "notes", "calibration", "provenance"]
    head = [c.value for c in wb["backtest"][1]]
    rows = list(wb["backtest"].iter_rows(min_row=2))
    revenue = next(r for r in rows if r[head.index("metric")].value == "revenue" and r[head.index("group")].value == "total")
    assert revenue[head.index("actual")].data_type == "n" and revenue[head.index("actual")].number_format == "#,##0"
    rc = main(["backtest", str(path), "--scenario", str(DEFAULT), "--plan-after", "tougher"])
    err = capsys.readouterr().err
    assert rc == 1 and "unknown plan 'tougher'" in err and "Traceback" not in err


def test_market_change_between_years_recovered(tmp_path):
    """Two years under the same plan: the realised change in demand is recovered within 3 SE (across a plan
    change the ratio also holds the reps' response to the new plan)."""
    from simlib.fit.calibrate import calibrate

    scen = load_scenario(DEFAULT)
    frame, truth = synth_history(scen, rng=21, years=2)
    write_history(frame, tmp_path / "h.csv")
    hist = read_history(tmp_path / "h.csv", {r: x.process for r, x in scen.roles.items()})
    cal = calibrate(hist, scen, bootstrap=30, rng=0, trials=0)
    e = cal.estimate("market.change.2025-2026")
    lv = truth["market_level"]
    assert abs(e.value - (lv[1] / lv[0] - 1)) < 3 * e.se
    assert 0 < e.se < 0.03
    assert e.interval == "jackknife-t" and e.lo < e.value - 1.645 * e.se and e.value + 1.645 * e.se < e.hi
    assert "three or more years" in cal.kept["market.growth_sd"]


def test_synth_cli_same_seed_same_file_and_no_overwrite(tmp_path, capsys):
    a, b = tmp_path / "a.csv", tmp_path / "b.parquet"
    assert main(["synth", str(DEFAULT), "--out", str(a), "--seed", "9"]) == 0
    assert main(["synth", str(DEFAULT), "--out", str(b), "--seed", "9"]) == 0
    assert "wrote" in capsys.readouterr().out
    import pandas as pd

    fa, fb = pd.read_csv(a), pd.read_parquet(b)
    assert len(fa) == 200 * 12 and np.allclose(fa["revenue"], fb["revenue"])
    truth = json.loads((tmp_path / "a.truth.json").read_text())
    assert truth["seed"] == 9 and truth["roles"]["telesales"]["ability_sd"] == 0.2
    text = a.read_text()
    assert main(["synth", str(DEFAULT), "--out", str(a), "--seed", "1"]) == 1
    assert "exists; use --force" in capsys.readouterr().err and a.read_text() == text
    assert main(["synth", str(DEFAULT), "--out", str(a), "--seed", "9", "--force"]) == 0
    assert a.read_text() == text  # same seed, same history
    assert main(["synth", str(DEFAULT), "--out", str(tmp_path / "c.csv"), "--plan", "nope"]) == 1
    assert "unknown plan 'nope'" in capsys.readouterr().err


def test_chunked_outcomes_equal_one_pass():
    from simlib.fit.synth import simulate_outcomes, simulate_panels

    scen = load_scenario(DEFAULT)
    a = simulate_outcomes(scen, "harder_target", rng=5, trials=10, chunk_size=3)
    b, _ = simulate_panels(scen, "harder_target", rng=5, trials=10)
    for r in scen.roles:
        assert np.array_equal(a[r].attainment, b[r].attainment)
        assert np.array_equal(a[r].incentive, b[r].incentive)
        assert np.array_equal(a[r].measures["revenue"], b[r].measures["revenue"])


@pytest.mark.slow
def test_predictive_intervals_cover_at_nominal_rate():
    # 35 synthetic two-year histories: 7 cases (default scenario with harder_target and team_weighted,
    # goal_difficulty with level_115, cap_and_quarterly with quarterly_uncapped, bonus_to_commission with
    # commission, scorecards with scorecard, overachievement with its accelerator) x 5 seeds, reps following the behaviour resolved like `simlib run`. The rows of one history
    # share its market year, so the standard error of the coverage is that of the per-history coverages
    # (python -m benchmarks.coverage; docs/history-format.md gives the measured figure).
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT))
    from benchmarks.coverage import CASES, coverage, summary

    f = coverage(seeds=range(5), trials=200, bootstrap=40, level=0.90)
    cov, se, by = summary(f)
    assert f.groupby(["scenario", "plan_after", "seed"]).ngroups == 5 * len(CASES) >= 25
    assert abs(cov - 0.90) <= max(0.05, 2.5 * se), (cov, se, by)


def test_zero_quota_rep_months_are_counted_by_calibrate_and_noted_by_backtest(two_years, tmp_path):
    from simlib.fit.calibrate import calibrate

    scen = two_years[0]
    frame, _ = synth_history(scen, rng=21, years=2, plan2="harder_target")
    year = frame["month"].astype(str).str[:4]
    reps = frame.loc[(frame["role"] == "telesales") & (year == "2025"), "rep_id"].unique()[:2]
    frame.loc[(year == "2025") & frame["rep_id"].isin(reps), "quota"] = 0.0
    write_history(frame, tmp_path / "h.csv")
    h = read_history(tmp_path / "h.csv", {r: x.process for r, x in scen.roles.items()})
    cal = calibrate(h.year(2025), scen, bootstrap=0, trials=0)
    assert cal.zero_quota_reps == 2 and cal.zero_quota_rep_months == 24
    assert cal.to_dict()["zero_quota_rep_months"] == 24
    bt = backtest(h, scen, plan_after="harder_target", trials=8, bootstrap=0, behaviour="none")
    assert any("left out 24 rep-month(s) of 2 rep(s) with quota 0" in n for n in bt.notes), bt.notes


def test_synth_resolves_behaviour_like_run(tmp_path):
    """simlib synth defaults to the behaviour simlib run would use (dynamic), not to 'none':
    year two under a harder plan carries the reps' response; year one under the current plan is today's effort."""
    import pandas as pd

    from simlib.io import SHIPPED

    scen_path = SHIPPED / "scenarios" / "validation" / "goal_difficulty.yaml"
    out = {}
    for name, extra in (("default", []), ("dynamic", ["--behaviour", "dynamic"]), ("none", ["--behaviour", "none"])):
        f = tmp_path / f"{name}.csv"
        assert main(["synth", str(scen_path), "--out", str(f), "--seed", "4", "--years", "2",
                     "--plan2", "level_130", *extra]) == 0
        out[name] = pd.read_csv(f)
        assert json.loads((tmp_path / f"{name}.truth.json").read_text())["behaviour"] == (
            "none" if name == "none" else "dynamic")
    pd.testing.assert_frame_equal(out["default"], out["dynamic"])
    year = out["default"]["month"].astype(str).str[:4]
    one, two = year == "2025", year == "2026"
    assert np.array_equal(out["default"].loc[one, "revenue"], out["none"].loc[one, "revenue"])
    assert not np.allclose(out["default"].loc[two, "revenue"], out["none"].loc[two, "revenue"])


def test_noise_replicates_spread_the_fit_by_sales_noise_not_by_which_reps(two_years):
    """The backtest's fit replicates refit synthetic years of the same reps: centred on the fit, and on telesales
    (many small deals: little noise) far tighter than a bootstrap over reps, which also varies which reps are in."""
    from simlib.fit.backtest import noise_replicates
    from simlib.fit.calibrate import calibrate

    scen, hist, _, _ = two_years
    h1 = hist.year(2025)
    cal = calibrate(h1, scen, bootstrap=12, rng=0, trials=0)
    reps = noise_replicates(h1, scen, cal, "current", n=12, rng=0, behaviour="dynamic")
    assert len(reps) == 12
    point = cal.scenario.roles["telesales"].production["lead_rate"]
    noise = np.array([r.roles["telesales"].production["lead_rate"] for r in reps])
    boot = np.array([cal.replicate_scenario(b).roles["telesales"].production["lead_rate"] for b in range(12)])
    assert abs(noise.mean() - point) < 4 * noise.std(ddof=1) / np.sqrt(len(noise)) + 1e-3 * point
    assert noise.std(ddof=1) < 0.5 * boot.std(ddof=1)
    # key accounts: a few lumpy deals a year, so the level is uncertain even for the same reps
    deals = np.array([r.roles["key_account"].production["deals_per_month"] for r in reps])
    assert deals.std(ddof=1) / deals.mean() > 0.02
    # the same seed gives the same replicates
    again = noise_replicates(h1, scen, cal, "current", n=2, rng=0, behaviour="dynamic")
    assert again[1].roles["telesales"].production == reps[1].roles["telesales"].production


def test_backtest_fit_uncertainty_choice(two_years):
    scen, hist, _, _ = two_years
    with pytest.raises(SimlibError, match="fit_uncertainty"):
        backtest(hist, scen, plan_after="harder_target", trials=10, bootstrap=2, fit_uncertainty="sometimes")
    bt = backtest(hist, scen, plan_after="harder_target", trials=20, bootstrap=4, behaviour="none", rng=1)
    assert bt.replicates == 4 and any("same reps" in n for n in bt.notes)
    old = backtest(hist, scen, plan_after="harder_target", trials=20, bootstrap=4, behaviour="none", rng=1,
                   fit_uncertainty="reps")
    assert old.replicates == 4 and any("bootstrap replicates over reps" in n for n in old.notes)


def test_payout_intervals_carry_the_market_through_nonlinear_pay(tmp_path):
    # The predictive distribution of pay is pay simulated under drawn market years, not a central prediction
    # widened by the market's spread on revenue: under an accelerator (5% of revenue to quota, 12% above) pay
    # moves more than revenue with the market, so its interval is wider in logs than revenue's; with the
    # market's shocks set to 0 both intervals narrow and payout's no longer reflects the market's spread.
    from simlib.io import SHIPPED
    from simlib.scenario import scenario_from_dict

    scen = load_scenario(SHIPPED / "scenarios" / "validation" / "overachievement.yaml")
    frame, _ = synth_history(scen, rng=5, years=2, plan2="overachievement", behaviour="none")
    path = tmp_path / "h.csv"
    write_history(frame, path)
    hist = read_history(path, {r: x.process for r, x in scen.roles.items()})

    def widths(template):
        bt = backtest(hist, template, plan_after="overachievement", trials=120, rng=2, bootstrap=0, behaviour="none")
        t = bt.frame().query("group == 'total'").set_index("metric")
        return {m: float(np.log(t.at[m, "hi"] / t.at[m, "lo"])) for m in ("revenue", "payout")}

    w = widths(scen)
    data = scen.model_dump(by_alias=True, mode="json")
    data["market"].update(growth_sd=0.0, monthly_sd=0.0)
    w0 = widths(scenario_from_dict(data, "<no market shocks>"))
    # the market's part of each interval (in log variance), net of the other sources (sales noise, reps)
    market_rev = w["revenue"] ** 2 - w0["revenue"] ** 2
    market_pay = w["payout"] ** 2 - w0["payout"] ** 2
    assert market_rev > 0 and market_pay > 0
    # pay's elasticity to the market under the accelerator: 12% / (5% average rate) at about quota, ~1.3-2
    assert 1.15 < np.sqrt(market_pay / market_rev) < 3.0, (w, w0)


def test_coverage_benchmark_market_sd_and_bands():
    # the market-ratio sd the coverage benchmark conditions on is the one the model draws
    import sys

    import pandas as pd
    from conftest import ROOT

    from simlib.model.population import Layout, draw_chunk, market_multiplier, root_seed

    sys.path.insert(0, str(ROOT))
    from benchmarks.coverage import by_market, market_sd

    scen = load_scenario(DEFAULT)
    m = market_multiplier(scen, draw_chunk(Layout.of(scen), root_seed(7), np.arange(800))).mean(axis=1)
    lr = np.log(m[1::2] / m[0::2])
    sd = market_sd("default.yaml")
    assert abs(lr.std(ddof=1) - sd) < 4 * sd / np.sqrt(2 * len(lr))
    # a history whose market ratio is 2 sd out is "extreme", one at 0.5 sd "typical"
    f = pd.DataFrame({"scenario": "default.yaml", "plan_after": "x", "seed": [0, 0, 1, 1],
                      "metric": ["revenue", "payout"] * 2, "inside": [True, True, False, True],
                      "market_ratio": np.exp([0.5 * sd, 0.5 * sd, 2 * sd, 2 * sd])})
    b = by_market(f)
    assert b.at["typical", "all_metrics"] == 1.0 and b.at["extreme", "all_metrics"] == 0.5
    assert b.at["extreme", "revenue"] == 0.0 and b.at["typical", "histories"] == 1


def test_coverage_benchmark_reweights_histories_to_the_scenarios_market():
    # Eight histories of one case drew market ratios 1.4 times as spread as their scenario's, and their
    # coverage read 70% where the same intervals covered 92% on histories reweighted to the scenario's market
    # (docs/model.md 4.13.3). The reweighted coverage is what a set of histories drawn as the scenario says
    # would give: here an interval that covers a history when |z| < 1.2, on z drawn 1.5 times too wide.
    import sys

    import pandas as pd
    from conftest import ROOT
    from scipy import stats

    sys.path.insert(0, str(ROOT))
    from benchmarks.coverage import market_sd, market_weighted

    rng = np.random.default_rng(5)
    rows = []
    for spread, scenario in ((1.5, "default.yaml"), (1.0, "validation/goal_difficulty.yaml")):
        z = rng.standard_normal(600) * spread
        msd = market_sd(scenario)
        rows.append(pd.DataFrame({"scenario": scenario, "plan_after": "x", "seed": np.arange(600), "metric": "revenue",
                                  "inside": np.abs(z) < 1.2, "market_ratio": np.exp(z * msd)}))
    f = pd.concat(rows, ignore_index=True)
    expected = stats.norm.cdf(1.2) - stats.norm.cdf(-1.2)  # 0.770 under the scenario's market
    wide = f[f["scenario"] == "default.yaml"]
    assert wide["inside"].mean() < expected - 0.12  # read as drawn: 0.58
    cov, n_eff = market_weighted(wide)
    assert abs(cov["revenue"] - expected) < 4 * np.sqrt(expected * (1 - expected) / n_eff), (cov, n_eff)
    assert cov["all_metrics"] == cov["revenue"] and 100 < n_eff < 600
    # histories drawn as the scenario says keep weights near one; two cases count equally
    cov2, n2 = market_weighted(f[f["scenario"] != "default.yaml"])
    assert n2 > 550 and abs(cov2["revenue"] - f[f["scenario"] != "default.yaml"]["inside"].mean()) < 0.02
    both, _ = market_weighted(f)
    assert both["revenue"] == pytest.approx((cov["revenue"] + cov2["revenue"]) / 2, abs=1e-9)


def test_spread_decomposition_starts_from_the_history_itself():
    # benchmarks.coverage --decompose-spread steps from the synthetic history's own year two (its reps, market
    # and quota noise held, only sales noise fresh) to the prediction: the held draws are the history's year two,
    # with year one's reps staying and the new hires replaced as synth_history replaces them.
    import sys

    from conftest import ROOT

    from simlib.fit.synth import simulate_panels
    from simlib.io import SHIPPED

    sys.path.insert(0, str(ROOT))
    from benchmarks.coverage import year_two_held

    scen = load_scenario(SHIPPED / "scenarios" / "mechanics.yaml")
    frame, _ = synth_history(scen, rng=4, years=2, behaviour="none")
    year2 = frame[frame["month"].astype(str).str.startswith(str(int(str(frame["month"].iloc[-1])[:4])))]
    panels, _ = simulate_panels(scen, draws=year_two_held(scen, 4), behaviour="none")
    for r, sim in panels.items():
        got = year2.loc[year2["role"] == r, "revenue"].to_numpy().reshape(-1, 12)
        assert np.allclose(np.round(sim.measures["revenue"][0], 2), got, atol=0.006), r
        assert 0 < (year2.loc[year2["role"] == r, "new_hire"].to_numpy() == 1).mean() < 0.5


def test_backtest_notes_the_market_spread_it_draws(two_years):
    # the market term of every interval is the template's shock sds (one year of history cannot estimate
    # them), drawn as the ratio of two years: the analyst is told which values, and where they came from
    scen, hist, _, _ = two_years
    bt = backtest(hist, scen, plan_after="harder_target", trials=8, rng=1, bootstrap=0, behaviour="none")
    m = scen.market
    note = [n for n in bt.notes if n.startswith("market:")]
    assert len(note) == 1, bt.notes
    assert f"growth_sd {m.growth_sd:g}" in note[0] and f"monthly_sd {m.monthly_sd:g}" in note[0]
    assert scen.source in note[0] and "sqrt(2)" in note[0]
    # with replicates year one's shock is drawn for each and netted out of the reps' expectation: said so
    bt = backtest(hist, scen, plan_after="harder_target", trials=8, rng=1, bootstrap=2, behaviour="none")
    note = [n for n in bt.notes if n.startswith("market:")]
    assert len(note) == 1 and "year one's shock" in note[0] and f"growth_sd {m.growth_sd:g}" in note[0], bt.notes


def test_fit_replicates_keep_the_fitted_spread_of_reps(tmp_path):
    # The fit's replicates refit synthetic years of one held set of reps. Held reps drawn at random carry
    # their own sample spread (off by about 1/sqrt(2 R) of itself) into every replicate, so the replicates'
    # ability_sd was centred up to 14-17% away from the fit they came from (accelerator case), and under an
    # accelerator the predicted response moved with it (an effect about +27% where the reps showed +37%).
    # With the held reps at the normal scores of their ranks, every set of held reps refits near the fit.
    from simlib.fit.backtest import noise_replicates
    from simlib.fit.calibrate import calibrate
    from simlib.fit.synth import standardised
    from simlib.io import SHIPPED

    z = np.random.default_rng(3).standard_normal((2, 50))
    s = standardised(z)
    assert np.allclose(s.mean(axis=1), 0.0) and np.allclose(s.std(axis=1, ddof=1), 1.0)
    assert (np.argsort(s, axis=1) == np.argsort(z, axis=1)).all()  # the same reps above and below
    assert standardised(np.array([[0.7]])).tolist() == [[0.0]]

    scen = load_scenario(SHIPPED / "scenarios" / "validation" / "overachievement.yaml")
    frame, _ = synth_history(scen, rng=8, years=1, behaviour="none")
    path = tmp_path / "h.csv"
    write_history(frame, path)
    h1 = read_history(path, {r: x.process for r, x in scen.roles.items()})
    cal = calibrate(h1, scen, bootstrap=0, rng=0, trials=0)
    fit = cal.scenario.roles["reps"]
    for seed in range(3):  # three sets of held reps
        reps = noise_replicates(h1, scen, cal, "current", n=6, rng=seed, behaviour="none")
        ab = np.array([r.roles["reps"].ability_sd for r in reps])
        terr = np.array([r.roles["reps"].territory_sd for r in reps])
        # sales noise alone moves one refit's ability_sd by about 2% (sd): the mean of six within 4%
        assert abs(ab.mean() / fit.ability_sd - 1) < 0.04, (seed, ab, fit.ability_sd)
        assert abs(terr.mean() / fit.territory_sd - 1) < 0.10, (seed, terr, fit.territory_sd)


def test_fitted_ability_spread_follows_the_reps_own_spread(tmp_path):
    # Under an accelerator the predicted response moves with the fitted ability_sd (about 0.7% of revenue per
    # 0.01), and the reps of a history respond with their own sample spread. The telesales ability_sd was a
    # moment of calls in levels, where a lognormal's sample variance leans on its few largest reps: it was
    # off the reps' own spread by 0.016 (sd over 32 histories). On the log scale (calls ~10,000 a rep-year,
    # so the Poisson part is ~1e-4) it is off by about 0.0013.
    from simlib.fit.calibrate import calibrate
    from simlib.io import SHIPPED
    from simlib.model.population import Layout, draw_chunk, root_seed

    scen = load_scenario(SHIPPED / "scenarios" / "validation" / "overachievement.yaml")
    sd = scen.roles["reps"].ability_sd
    for seed in (8, 11, 37):
        frame, _ = synth_history(scen, rng=seed, years=1, behaviour="none")
        path = tmp_path / f"h{seed}.csv"
        write_history(frame, path)
        h1 = read_history(path, {r: x.process for r, x in scen.roles.items()})
        fitted = calibrate(h1, scen, bootstrap=0, rng=0, trials=0).scenario.roles["reps"].ability_sd
        own = sd * draw_chunk(Layout.of(scen), root_seed(seed), np.array([0]))["reps.ability"].std(ddof=1)
        assert abs(fitted - own) < 0.005, (seed, fitted, own)


def test_year_one_shock_is_netted_out_of_the_reps_expectation_with_quotas_kept():
    # The fitted levels hold year one's market shock m1; the history's reps and quotas were planned on the
    # demand without it. A prediction that draws m1 nets it out of the reps' expected revenue and of the
    # demand ahead, keeps the quotas in money, and draws year two's shock on its own: after a low year one
    # the reps expect more of their quota, and an accelerator (12% above quota against 5% capped) moves them more.
    from simlib.fit.backtest import predictive_scenario, year_one_shocks
    from simlib.fit.synth import simulate_outcomes
    from simlib.io import SHIPPED
    from simlib.model.plans import expected_quota, revenue_profile

    scen = load_scenario(SHIPPED / "scenarios" / "validation" / "overachievement.yaml")
    E = revenue_profile(scen, "reps").sum()
    effect = {}
    for m1 in (0.95, 1.05):
        p = predictive_scenario(scen, m1)
        assert p.market.growth_sd == scen.market.growth_sd
        assert p.market.monthly_sd == pytest.approx(scen.market.monthly_sd * np.sqrt(2))
        assert revenue_profile(p, "reps").sum() == pytest.approx(E / m1)
        for plan in scen.plans:
            assert expected_quota(p, plan, "reps") == pytest.approx(expected_quota(scen, plan, "reps"))
        sims = simulate_outcomes(p, ["overachievement", "current"], rng=4, trials=16, behaviour="dynamic")
        rev = {k: v["reps"].measures["revenue"].sum() for k, v in sims.items()}
        effect[m1] = rev["overachievement"] / rev["current"] - 1
    # expected attainment 10% apart: the response to the accelerator about 7 points apart (+37% at m1 = 1)
    assert effect[0.95] > effect[1.05] + 0.03, effect

    # the draws: stratified lognormal shocks with the market's year-level sd, the same for the same seed
    s = year_one_shocks(0.03, 20, 7)
    assert np.log(s).std() == pytest.approx(0.03) and np.log(s).mean() == pytest.approx(-0.03**2 / 2)
    assert np.array_equal(s, year_one_shocks(0.03, 20, 7)) and not np.array_equal(s, year_one_shocks(0.03, 20, 8))
    assert year_one_shocks(0.03, 1, 7) is None


def test_true_scenario_predicts_year_two_without_bias():
    # benchmarks.coverage --bias: from the scenario a history was drawn from, with the history's own year-two
    # reps, year two is predicted without bias (synth's year two and the prediction's simulation of it share
    # every mechanism), both with the history's market held and with the market drawn as the backtest draws
    # it (year one's level held in the levels, its shock drawn per group and netted out); and a truth holding
    # year one's level m1, netted at exactly m1, is the truth again
    import sys

    from conftest import ROOT

    from simlib.fit.backtest import predictive_scenario
    from simlib.io import SHIPPED

    sys.path.insert(0, str(ROOT))
    from benchmarks.coverage import holding_year_one, true_scenario_bias

    for f in ("default.yaml", "validation/overachievement.yaml"):  # growth_mean 0.03 and 0: m1 includes 1 + g
        truth = load_scenario(SHIPPED / "scenarios" / f)
        back = predictive_scenario(holding_year_one(truth, 1.07 * (1 + truth.market.growth_mean)), 1.07)
        assert back.market.growth_mean == pytest.approx(truth.market.growth_mean, abs=1e-12)
        assert back.market.growth_sd == truth.market.growth_sd
        for p, plan in truth.plans.items():
            for r, rp in plan.roles.items():
                assert back.plans[p].roles[r].quota.level == pytest.approx(rp.quota.level, rel=1e-12)
    path = "validation/overachievement.yaml"
    d = true_scenario_bias(path, "overachievement", range(8, 20), trials=40)
    t = d[d["group"] == "total"]
    assert set(t["metric"]) == {"revenue", "payout", "mean_attainment"} and len(t) == 36
    assert {"held", "year_one_drawn", "point_fit"} <= set(t.columns)
    for m in ("revenue", "payout"):
        for step in ("held", "year_one_drawn"):
            x = t.loc[t["metric"] == m, step]
            se = x.std(ddof=1) / np.sqrt(len(x))
            assert abs(x.mean()) < 3 * se + 0.002, (m, step, x.mean(), se)
    # the market held leaves only sales noise: errors of a percent or two, not the market's 6%
    assert t.loc[t["metric"] == "revenue", "held"].std() < 0.03


def test_calibrate_and_backtest_refuse_more_than_the_limits_before_any_work(two_years, tmp_path, monkeypatch, capsys):
    """`simlib calibrate --bootstrap 1000000000` (or `--trials`, and `simlib backtest --bootstrap`) ran on for more
    than a minute with no end in sight, bounded by nothing: refused, naming the option and the limit, as `run` is."""
    import simlib.fit.calibrate as cb
    from simlib.engine.core import RequestTooLarge

    scen, hist, _, path = two_years

    def started(*a, **k):
        raise AssertionError("a fit started")

    monkeypatch.setattr(cb, "_data", started)
    with pytest.raises(RequestTooLarge, match=r"--bootstrap 1,000,000,000: at most 10,000 replicates"):
        cb.calibrate(hist, scen, bootstrap=10**9)
    with pytest.raises(RequestTooLarge, match=r"--trials 1,000,000,000: at most 10,000,000 trials"):
        cb.calibrate(hist, scen, trials=10**9)
    with pytest.raises(RequestTooLarge, match=r"--bootstrap 1,000,000,000"):
        backtest(hist, scen, plan_after="harder_target", bootstrap=10**9)
    with pytest.raises(RequestTooLarge, match=r"--trials 1,000,000,000"):
        backtest(hist, scen, plan_after="harder_target", trials=10**9)
    for cmd in (["calibrate", str(path), "--scenario", str(DEFAULT), "--out", str(tmp_path / "c.yaml"),
                 "--bootstrap", "1000000000"],
                ["backtest", str(path), "--scenario", str(DEFAULT), "--plan-after", "harder_target",
                 "--bootstrap", "1000000000"]):
        rc = main(cmd)
        err = capsys.readouterr().err
        assert rc == 1 and "at most 10,000 replicates" in err and "--allow-large" in err and "Traceback" not in err
    assert not (tmp_path / "c.yaml").exists()


def test_year_one_shock_is_drawn_given_the_fitted_quota_level_and_a_prior_on_quota_setting(tmp_path):
    # One year cannot tell a hard quota from a bad market year. The truth (the accelerator scenario with 240
    # reps and a market sd of 6%) set its quotas at the plan's level, 1.0 of the demand it planned on, and
    # year one's market came in 7.1% low (seed 8), so the fit reads a quota level of about 1 / 0.929: hard
    # quotas. Drawn from the market's prior alone, the prediction's year-one shock is centred on 1, so its
    # reps expect 7% less of their quota than the history's reps did. With the prior on quota setting (quotas
    # at the stated level, give or take a log-sd), the shock is drawn from its posterior given the fitted
    # level (and its SE, which holds the reps' sample): pulled towards the history's own m1, narrower, and
    # the tighter the prior on quota setting, the closer.
    from simlib.fit.backtest import QUOTA_PRIOR_SD, year_one_posterior, year_one_shocks
    from simlib.fit.calibrate import calibrate
    from simlib.io import SHIPPED
    from simlib.scenario import scenario_from_dict

    d = load_scenario(SHIPPED / "scenarios" / "validation" / "overachievement.yaml").model_dump(by_alias=True,
                                                                                              mode="json")
    d["roles"]["reps"]["headcount"] = 240
    d["market"]["growth_sd"] = 0.06
    scen = scenario_from_dict(d, "overachievement, 240 reps, market sd 6%")
    frame, truth = synth_history(scen, rng=8, years=1, behaviour="none")
    m1 = truth["market_level"][0]
    assert m1 < 0.94
    write_history(frame, tmp_path / "h.csv")
    hist = read_history(tmp_path / "h.csv", {"reps": "telesales"})
    cal = calibrate(hist, scen, bootstrap=20, rng=8, trials=0)
    est = next(e for e in cal.estimates if e.path == "plans.current.roles.reps.quota.level")
    assert est.value > 1.06 and est.value * m1 == pytest.approx(1.0, abs=0.03)  # the confounding: level / m1

    s = scen.market.growth_sd
    assert year_one_posterior(cal, scen, "current", None) is None  # no prior: the market's alone, as before
    prior_mean = -0.5 * s**2
    mean, sd = year_one_posterior(cal, scen, "current", QUOTA_PRIOR_SD)
    assert np.log(m1) < mean < prior_mean - 0.01 and sd < 0.95 * s  # pulled towards m1, narrower
    tight_mean, tight_sd = year_one_posterior(cal, scen, "current", 0.01)
    assert abs(tight_mean - np.log(m1)) < 0.3 * abs(np.log(m1)) and tight_sd < 0.6 * s and tight_mean < mean
    # the draws follow the posterior, stratified as before
    y = np.log(year_one_shocks(s, 20, 7, (tight_mean, tight_sd)))
    assert y.mean() == pytest.approx(tight_mean) and y.std() == pytest.approx(tight_sd)
    # quotas the fit finds at the stated level say nothing of the market: the market's prior, narrower
    d["plans"]["current"]["roles"]["reps"]["quota"]["level"] = est.value
    same = scenario_from_dict(d, "the same, the stated level the fitted one")
    mean0, sd0 = year_one_posterior(cal, same, "current", QUOTA_PRIOR_SD)
    assert abs(mean0 - prior_mean) < 0.002 and sd0 == pytest.approx(sd)


def test_quota_prior_sd_option_and_errors(two_years):
    import argparse

    from simlib.cli.backtest import QUOTA_PRIOR_SD as CLI_DEFAULT
    from simlib.cli.backtest import quota_prior_sd
    from simlib.fit.backtest import QUOTA_PRIOR_SD

    assert CLI_DEFAULT == QUOTA_PRIOR_SD
    assert quota_prior_sd("none") is None and quota_prior_sd("0.05") == 0.05 and quota_prior_sd("0") == 0.0
    for bad in ("-0.1", "inf", "nan", "wide"):
        with pytest.raises(argparse.ArgumentTypeError, match="log-sd"):
            quota_prior_sd(bad)
    scen, hist, _, _ = two_years
    with pytest.raises(SimlibError, match="quota_prior_sd"):
        backtest(hist, scen, plan_after="harder_target", quota_prior_sd=-1.0)


def test_backtest_notes_reps_whose_history_team_is_not_their_roster_team(tmp_path):
    """With a template that names a roster, a rep whose team in the history's last year differs from the roster
    was accepted silently; backtest notes them as replay does (count per role, first few with both teams)."""
    import shutil

    import simlib
    from simlib.io import SHIPPED

    folder = tmp_path / "org"
    shutil.copytree(SHIPPED / "scenarios" / "example_org", folder)
    scen = simlib.load_scenario(folder / "org.yaml")
    frame, _ = synth_history(scen, rng=1, years=2, plan2="accelerated")
    rep = scen.roster_data.roles["key_account"].ids[0]
    last = frame["month"].str[:4].max()  # months are written YYYY-MM
    frame.loc[(frame["rep_id"] == rep) & frame["month"].str.startswith(last), "team"] = "Elsewhere"
    write_history(frame, tmp_path / "h.csv")
    hist = read_history(tmp_path / "h.csv", {r: x.process for r, x in scen.roles.items()})
    bt = backtest(hist, scen, plan_after="accelerated", trials=8, bootstrap=0, rng=1)
    home = scen.roster_data.roles["key_account"].teams[scen.roster_data.roles["key_account"].team[0]]
    (note,) = [n for n in bt.notes if "another team" in n]
    assert note == (f"1 key_account rep of the history's last year, {last}, is in another team in the "
                    f"roster roster.csv ({rep}: 'Elsewhere' in the history, '{home}' in the roster): the prediction "
                    "simulates the roster's teams")
