"""Calibration intervals on truths the template does not hold (``python -m benchmarks.calibration``).

Each test here is one class of fault the audit found: a two-year history's
reps resampled as if their years were independent, shares that are 0 in a
small sample, scores clipped at 1, seasonality that holds the history's
monthly market shocks, percentile intervals from few reps and from few
bootstrap replicates, a deal value lifted by the clip at 0.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import DEFAULT

from simlib.fit.calibrate import calibrate, censored_normal, expansion, month_shock_var, share_interval
from simlib.fit.history import read_history, write_history
from simlib.fit.synth import synth_history
from simlib.scenario import load_scenario, scenario_from_dict


def _roles(s):
    return {r: x.process for r, x in s.roles.items()}


def _read(frame, path, scen):
    write_history(frame, path)
    return read_history(path, _roles(scen))


def test_a_reps_years_are_resampled_together(tmp_path):
    # the same year of the same reps written twice carries no more information than once: the bootstrap
    # resamples reps with all their years, so the SEs stay (resampling rep-years alone shrank them by sqrt 2)
    scen = load_scenario(DEFAULT)
    one, _ = synth_history(scen, rng=3)
    two = pd.concat([one.assign(month=[f"{y}-{m:02d}" for m in one["month"]]) for y in (2025, 2026)],
                    ignore_index=True)
    a = calibrate(_read(one, tmp_path / "one.csv", scen), scen, bootstrap=60, rng=1, trials=0)
    b = calibrate(_read(two, tmp_path / "two.csv", scen), scen, bootstrap=60, rng=1, trials=0)
    ratios = []
    for path in ("roles.telesales.ability_sd", "roles.telesales.territory_sd", "roles.key_account.ability_sd",
                 "roles.channel.production.existing_revenue_per_month", "roles.telesales.production.lead_rate"):
        ea, eb = a.estimate(path), b.estimate(path)
        assert eb.value == pytest.approx(ea.value, rel=0.01), path  # (n-1 divisors aside)
        ratios.append(eb.se / ea.se)
    # 60 replicates: each SE within about 10% of its own; the ratio's mean well above 1/sqrt(2)
    assert 0.85 < float(np.mean(ratios)) < 1.15, ratios


def test_a_share_of_zero_gets_the_exact_binomial_interval():
    lo, hi = share_interval(0, 14, 0.90)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.05 ** (1 / 14))
    lo, hi = share_interval(3, 40, 0.90)
    assert lo < 3 / 40 < hi
    # coverage at least nominal for any true share (Clopper-Pearson)
    from scipy import stats

    for p in (0.02, 0.1, 0.3):
        k = np.arange(0, 41)
        inside = [share_interval(int(x), 40, 0.90)[0] <= p <= share_interval(int(x), 40, 0.90)[1] for x in k]
        assert float(np.sum(stats.binom.pmf(k, 40, p) * np.array(inside))) >= 0.90


def test_new_hire_share_interval_covers_a_truth_when_no_new_hire_was_drawn(tmp_path):
    d = yaml.safe_load(DEFAULT.read_text())
    d["roles"]["channel"]["headcount"] = 12
    d["roles"]["channel"]["team_size"] = 4
    scen = scenario_from_dict(d, "small-channel")
    for seed in range(40):  # a history whose 12 channel reps hold no new hire
        frame, _ = synth_history(scen, rng=seed)
        if frame[frame["role"] == "channel"]["new_hire"].sum() == 0:
            break
    else:
        pytest.skip("no history without a channel new hire")
    cal = calibrate(_read(frame, tmp_path / "h.csv", scen), scen, bootstrap=20, rng=0, trials=0)
    e = cal.estimate("roles.channel.new_hire_share")
    assert e.value == 0.0 and e.interval == "binomial"
    assert e.lo == 0.0 and e.hi >= 0.17 > scen.roles["channel"].new_hire_share
    assert e.se > 0  # every replicate reads 0: the SE is the one the interval implies, not 0


def test_scores_clipped_at_one_are_fitted_as_censored():
    gen = np.random.default_rng(0)
    a = np.round(np.clip(0.97 + 0.06 * gen.standard_normal(6000), 0.0, 1.0), 4)
    assert np.std(a) < 0.052  # the clipped sample's sd is biased low
    mu, sd = censored_normal(a)
    assert mu == pytest.approx(0.97, abs=3 * 0.06 / math.sqrt(6000) * 1.5)
    assert sd == pytest.approx(0.06, rel=0.04)
    b = 0.5 + 0.05 * gen.standard_normal(100)  # nothing clipped: the sample mean and sd
    assert censored_normal(b) == (pytest.approx(np.mean(b)), pytest.approx(np.std(b, ddof=1)))


def test_month_shock_variance_matches_a_simulated_ar1():
    sd, rho = 0.03, 0.5
    gen = np.random.default_rng(1)
    n = 40000
    x = np.empty((n, 12))
    x[:, 0] = sd * gen.standard_normal(n)
    for k in range(1, 12):
        x[:, k] = rho * x[:, k - 1] + sd * math.sqrt(1 - rho**2) * gen.standard_normal(n)
    dev = x - x.mean(axis=1, keepdims=True)
    # var estimate's relative se is sqrt(2/n) = 0.7%
    np.testing.assert_allclose(month_shock_var(sd, rho), dev.var(axis=0), rtol=0.04)


def test_seasonality_intervals_carry_the_months_market_shocks(tmp_path):
    d = yaml.safe_load(DEFAULT.read_text())
    scen = scenario_from_dict(d, "default")
    d["market"]["monthly_sd"] = 0.0
    quiet = scenario_from_dict(d, "no monthly shocks")
    frame, _ = synth_history(scen, rng=4)
    hist = _read(frame, tmp_path / "h.csv", scen)
    a = calibrate(hist, quiet, bootstrap=30, rng=2, trials=0).estimate("roles.telesales.seasonality.6")
    b = calibrate(hist, scen, bootstrap=30, rng=2, trials=0).estimate("roles.telesales.seasonality.6")
    assert a.value == b.value and a.interval == "bootstrap" and b.interval == "bootstrap+market"
    shock = b.value * math.sqrt(month_shock_var(0.03, 0.5)[5])
    assert b.se == pytest.approx(math.hypot(a.se, shock))
    assert b.hi - b.lo > (a.hi - a.lo) * 1.5  # telesales: 120 reps, the market shock dominates


def test_expanded_percentile_factor():
    assert expansion(14, 0.90) == pytest.approx(math.sqrt(14 / 13) * 1.7709 / 1.6449, rel=1e-3)
    assert 1.0 < expansion(120, 0.90) < 1.02
    assert math.isnan(expansion(2, 0.90))


def test_audit_rows_and_table():
    from benchmarks.calibration import audit, table, worst

    f = audit(("validation/goal_difficulty.yaml",), 2, bootstrap=10)
    assert set(f["years"]) == {1, 2} and f["scenario"].nunique() == 1
    assert {"telesales.ability_sd", "telesales.seasonality", "quota.level", "market.change"} <= set(f["param"])
    tab = table(f)
    assert {"coverage", "cov_se", "mean_z", "sd_z", "bias", "at_bound", "flag"} <= set(tab.columns)
    assert len(worst(f, 5)) == 5


@pytest.mark.slow
def test_intervals_cover_moved_truths_at_nominal_rate():
    # 20 histories of the default scenario with every fitted parameter moved by up to 30% from the template
    # (python -m benchmarks.calibration --scenarios default.yaml --histories 20). All intervals together, the
    # seasonality, the scores and the spreads (ability, territory, quota noise, deal sizes) each cover 90%
    # within 3 SE of the per-history coverages (+ 0.01); before the fixes the first three were 79%, 76% and
    # 57%, the spreads 81% (docs/model.md section 4.13.1).
    from benchmarks.calibration import audit

    f = audit(("default.yaml",), 20, bootstrap=50)
    families = {"all": np.ones(len(f), dtype=bool), "seasonality": f["param"].str.endswith("seasonality"),
                "scores": f["param"].str.contains("satisfaction|accuracy|adherence"),
                "spreads": f["param"].str.contains(r"ability_sd|territory_sd|quota\.noise|_sd_log|_cv$")}
    for name, mask in families.items():
        per = f[mask].groupby("seed")["covered"].mean()
        se = per.std(ddof=1) / math.sqrt(len(per))
        assert abs(per.mean() - 0.90) <= 3 * se + 0.01, (name, per.mean(), se)


def test_a_plain_variance_gets_its_exact_chi_square_interval():
    from scipy import stats

    from simlib.fit.calibrate import sd_interval

    # replicates tight about the estimate: T = V, and the limits are the textbook ones for sigma from s with df = 13
    s, df = 0.3, 13.0
    lo, hi = sd_interval(s, [0.29, 0.3, 0.31], 0.90, df=df)
    assert lo == pytest.approx(s * math.sqrt(df / stats.chi2.ppf(0.95, df)))
    assert hi == pytest.approx(s * math.sqrt(df / stats.chi2.ppf(0.05, df)))
    assert hi - s > s - lo  # skewed up: a tight sample's truth lies further above than below
    # an estimate at the bound (signed -0.1) still reaches as far as the spread of its variance allows
    lo, hi = sd_interval(-0.1, list(np.linspace(-0.25, 0.2, 41)), 0.90, df=df)
    assert lo == 0.0 and hi > 0.2


def _spread_coverage(gen, n, noise, trials=240, boot=80):
    """Coverage of spread_interval and of the percentile interval alone for an sd of 0.3 from n reps: each rep
    has three observations with sd ``noise`` about its own level; the sd is sqrt(Var(rep means) - mean var / 3),
    signed, bounded at 0 (the estimators of ability and territory sds are of this form)."""
    from simlib.fit.calibrate import _interval, spread_interval

    def est(y):
        v = float(np.var(y.mean(axis=-1), ddof=1) - y.var(axis=-1, ddof=1).mean() / 3.0)
        return math.copysign(math.sqrt(abs(v)), v)

    hull = perc = 0
    for _ in range(trials):
        y = 0.3 * gen.standard_normal((n, 1)) + noise * gen.standard_normal((n, 3))
        raw = est(y)
        reps = [est(y[i]) for i in gen.integers(0, n, (boot, n))]
        lo, hi = spread_interval(raw, reps, 0.90, True, n)
        hull += lo <= 0.3 <= hi
        lo, hi = _interval(raw, reps, 0.90, True, n, floor=False)
        perc += lo <= 0.3 <= hi
    return hull / trials, perc / trials


def test_spread_intervals_from_few_reps_cover_at_nominal_rate():
    # 14 reps, as a small role of the audit: the percentile interval alone covered 76% of a plain sd (its
    # spread shrinks with a sample that happens to be tight); the hull with the chi-square interval covers 90%
    # within 3 binomial SE (1.9 points over 240 samples), also where the noise subtracted dominates
    gen = np.random.default_rng(11)
    se = 3 * math.sqrt(0.09 / 240)
    plain, plain_perc = _spread_coverage(gen, 14, 0.0)
    assert plain >= 0.90 - se and plain_perc < plain
    noisy, _ = _spread_coverage(gen, 14, 0.6)
    assert noisy >= 0.90 - se


def test_deal_value_cv_allows_for_the_clip_at_zero():
    from simlib.fit.calibrate import clipped_cv

    # the model's month average is deal_value max(0, 1 + cv z / sqrt(n)): for months of 1-3 deals at cv 0.9 the
    # plain moment sqrt(mean(n dev^2)) reads 0.85; the clip-aware moment is unbiased (SE of cv about 0.0014)
    gen = np.random.default_rng(0)
    for cv in (0.3, 0.6, 0.9):
        n = gen.integers(1, 4, 200_000)
        dev = np.maximum(0.0, 1.0 + cv / np.sqrt(n) * gen.standard_normal(n.size)) - 1.0
        assert clipped_cv(n, dev) == pytest.approx(cv, abs=0.005)
        if cv >= 0.6:
            assert math.sqrt(np.mean(n * dev**2)) < cv - 0.009


def test_deal_value_allows_for_the_clip_at_zero():
    from simlib.fit.calibrate import clipped_deal_value, clipped_mean

    # a month's average deal is deal_value max(0, 1 + cv z / sqrt(n)): its mean is lifted by the clip (months of
    # 1-3 deals at cv 0.8: revenue over deals reads 1.1% high, 8 SE of this sample); the clip-aware value
    # is unbiased (SE of the value about 0.15%) and so is its cv
    assert clipped_mean(np.array([0.0]))[0] == 1.0
    assert clipped_mean(np.array([0.78]))[0] == pytest.approx(1.037, abs=0.001)
    gen = np.random.default_rng(1)
    for cv in (0.3, 0.8):
        n = gen.integers(1, 4, 200_000)
        avg = 1000.0 * np.maximum(0.0, 1.0 + cv / np.sqrt(n) * gen.standard_normal(n.size))
        value, fitted_cv = clipped_deal_value(n, avg)
        assert value == pytest.approx(1000.0, rel=0.0045) and fitted_cv == pytest.approx(cv, abs=0.006)
        if cv >= 0.8:
            assert np.sum(n * avg) / np.sum(n) > 1007.0


def test_percentile_interval_allows_for_few_replicates():
    # a perfect bootstrap (replicates exactly the estimate's sampling distribution) of 50 replicates: the 5% and
    # 95% sample quantiles are noisy and pulled in, and the percentile interval covered 87% at nominal 90%; with
    # the Student-t interval of the replicates' sd (B - 1 df) as its floor it covers 90% (SE 0.5 points here)
    from simlib.fit.calibrate import _interval

    gen = np.random.default_rng(5)
    est = gen.standard_normal(4000)
    reps = est[:, None] + gen.standard_normal((4000, 50))
    cover = np.mean([lo <= 0.0 <= hi for lo, hi in (_interval(e, list(r), 0.90, False) for e, r in zip(est, reps, strict=True))])
    assert abs(cover - 0.90) <= 3 * math.sqrt(0.09 / 4000) + 0.003, cover


def test_a_month_with_nothing_booked_still_calibrates(tmp_path):
    # key accounts close a few lumpy deals a year: a synthetic year (one of the backtest's refits) can book
    # nothing in some month, whose seasonality index was then 0 and the calibrated scenario invalid
    # (ScenarioError: seasonality must be > 0); the month gets the floor instead, the others their share
    from simlib.fit.calibrate import SEASON_FLOOR

    scen = load_scenario(DEFAULT)
    frame, _ = synth_history(scen, rng=4)
    ka = frame["role"] == "key_account"
    jan = ka & (frame["month"] == 1)
    for col in ("revenue", "deals", "large_order_value", "cancelled"):
        if col in frame:
            frame.loc[jan, col] = 0.0
    cal = calibrate(_read(frame, tmp_path / "h.csv", scen), scen, bootstrap=0, trials=0)
    season = np.asarray(cal.scenario.roles["key_account"].season)
    assert season[0] == pytest.approx(SEASON_FLOOR * season.mean(), rel=1e-6)
    assert season[1:].min() > 0.3 and season.mean() == pytest.approx(1.0)


def test_a_month_with_no_deals_gets_an_upper_limit_from_its_count(tmp_path):
    # A few key-account reps can book no deal at all in a month (benchmarks.calibration seed 500: 14 reps,
    # month 6 empty). Every bootstrap replicate then reads the same empty month, and the interval was
    # [0.00096, 0.001] around the floored index for a truth of 1.04. A month's deal count is Poisson given
    # the reps (their rates cancel from the monthly index): the interval reaches the exact (Garwood) upper
    # limit of a count of 0, and the estimate says it sits at its lower bound.
    d = yaml.safe_load(DEFAULT.read_text())
    d["roles"] = {"key_account": d["roles"]["key_account"] | {"headcount": 14}}
    d["plans"] = {"current": {"roles": {"key_account": d["plans"]["current"]["roles"]["key_account"]}}}
    scen = scenario_from_dict(d, "few key accounts")
    frame, _ = synth_history(scen, rng=5)
    june = frame["month"] == 6
    for col in ("revenue", "large_order_value", "deals", "new_accounts"):
        if col in frame:
            frame.loc[june, col] = 0
    hist = _read(frame, tmp_path / "h.csv", scen)
    cal = calibrate(hist, scen, bootstrap=20, rng=1, trials=0)
    e = cal.estimate("roles.key_account.seasonality.6")
    deals = frame.loc[frame["role"] == "key_account", "deals"].sum()
    mean_month = deals / 12.0  # deals in a month at index 1, the mean month
    assert e.value < 0.01 and e.at_bound == "lower" and e.lo <= e.value
    # the exact 90% upper limit of a count of 0 is -log(0.05) = 3.0 deals
    assert e.hi == pytest.approx(-math.log(0.05) / mean_month, rel=0.15)
    assert "count" in e.interval
    # a month with deals keeps an interval at least as wide as its count's
    f = cal.estimate("roles.key_account.seasonality.3")
    assert f.at_bound == "" and f.lo < f.value < f.hi


def test_recorded_resolution_is_the_coarsest_decimal_every_value_sits_on():
    from simlib.fit.calibrate import recorded_resolution

    assert recorded_resolution(np.array([1.25, 3.5, 0.01, 0.0])) == pytest.approx(0.01)
    assert recorded_resolution(np.array([12.0, 300.0])) == 1.0
    assert recorded_resolution(np.array([math.pi, 1.0])) == 0.0  # not rounded to any decimal: no allowance
    assert recorded_resolution(np.array([])) == 0.0


def test_talk_minutes_interval_allows_for_the_rounding_of_recorded_talk_time(tmp_path):
    # Talk time is calls x minutes per call exactly, so the estimate's only error is the rounding of the recorded
    # hours (to 0.01 h in a synthetic history). A bootstrap over reps of that rounding is noisy, and the errors sit on
    # the lattice of whole calls (not independent): the audit's intervals covered 82% (72 intervals,
    # benchmarks.calibration --first-seed 800). Here (goal difficulty, synth seed 5009) the bootstrap's SE was 6.1e-6
    # against the 7.1e-6 of uniform rounding errors and the truth, 4.0, outside [3.9999796, 4.0000016]. The interval
    # now reaches the rounding's bound, (r / 2) n 60 / calls, each side, and the SE is at least that sd.
    from simlib.io import SHIPPED

    scen = load_scenario(SHIPPED / "scenarios" / "validation" / "goal_difficulty.yaml")
    frame, _ = synth_history(scen, rng=5009, years=1)
    hist = _read(frame, tmp_path / "h.csv", scen)
    e = calibrate(hist, scen, bootstrap=50, rng=9, trials=0).estimate("roles.reps.production.talk_minutes_per_call")
    reps = frame[frame["role"] == "reps"]
    n, calls = (reps["calls"] > 0).sum(), reps["calls"].sum()
    sd, bound = 0.01 * math.sqrt(n / 12.0) * 60.0 / calls, 0.005 * n * 60.0 / calls
    assert e.se >= sd * (1 - 1e-9) and "rounding" in e.interval
    assert e.lo <= 4.0 <= e.hi
    assert min(e.value - e.lo, e.hi - e.value) >= bound * (1 - 1e-9)
    assert e.hi - e.lo < 1e-3  # minutes: an allowance for rounding, not a blanket widening


def _cancelled_deals(frame, role="key_account", measure="deals"):
    """Whole deals cancelled and booked over a history's rows of ``role`` (the model cancels ``k`` of a month's
    ``n`` deals, taking ``k / n`` of its revenue)."""
    g = frame[(frame["role"] == role) & (frame["revenue"] > 0)]
    k = g["cancelled"] / g["revenue"] * g[measure]
    return int(round(float(k.sum()))), int(frame.loc[frame["role"] == role, measure].sum())


def test_cancel_rate_is_the_share_of_whole_deals_with_its_exact_interval(tmp_path):
    # the revenue-weighted ratio weighs each cancelled deal by its lognormal size, so a few large deals swing
    # it, and its bootstrap interval is short when few cancelled (mechanics key accounts covered 75-88% of moved
    # truths at nominal 90%, 86.8% of 144 histories): a month's cancelled deals are k of its n booked, k/n of
    # its revenue, so the history holds the counts and the rate is their binomial share, with its exact interval
    scen = load_scenario(DEFAULT.parent / "mechanics.yaml")
    frame, _ = synth_history(scen, rng=8)
    e = calibrate(_read(frame, tmp_path / "h.csv", scen), scen, bootstrap=20, rng=1, trials=0).estimate(
        "roles.key_account.production.cancel_rate")
    k, n = _cancelled_deals(frame)
    assert 0 < k < n
    assert e.value == pytest.approx(k / n, rel=1e-9)
    assert (e.lo, e.hi) == pytest.approx(share_interval(k, n, 0.90), rel=1e-9)
    assert e.se == pytest.approx(math.sqrt(k / n * (1 - k / n) / n), rel=1e-9)
    assert e.interval == "binomial"


def test_cancel_rate_of_part_deals_keeps_the_revenue_ratio(tmp_path):
    # a history whose cancelled revenue is not whole deals (real deals differ in size) keeps the ratio of
    # cancelled to booked revenue and its bootstrap interval
    scen = load_scenario(DEFAULT.parent / "mechanics.yaml")
    frame, _ = synth_history(scen, rng=8)
    ka = (frame["role"] == "key_account") & (frame["deals"] >= 2)
    frame.loc[ka, "cancelled"] = (0.37 * frame.loc[ka, "revenue"]).round(2)
    e = calibrate(_read(frame, tmp_path / "h.csv", scen), scen, bootstrap=20, rng=1, trials=0).estimate(
        "roles.key_account.production.cancel_rate")
    g = frame[frame["role"] == "key_account"]
    assert e.value == pytest.approx(g["cancelled"].sum() / g["revenue"].sum(), rel=1e-6)
    assert e.interval == "bootstrap"


def _two_years(gen, n, *, change, first=None):
    """A constructed two-year history of one role of ``n`` reps: each rep's level lognormal (sd 0.5), each
    rep-year that times a mean-one lognormal (sd 0.3), year two times 1 + ``change`` (``first``: year one's
    annual revenue of every rep, given)."""
    from simlib.fit.history import History

    level = np.exp(0.5 * gen.standard_normal(n))
    years = {}
    for y, f in ((2025, 1.0), (2026, 1.0 + change)):
        years[y] = f * level * np.exp(0.3 * gen.standard_normal(n) - 0.045)
    if first is not None:
        years[2025] = np.asarray(first, dtype=float)
    rows = [pd.DataFrame({"rep_id": np.repeat([f"R{i:03d}" for i in range(n)], 12), "role": "reps", "year": y,
                          "month": np.tile(np.arange(1, 13), n), "revenue": np.repeat(v / 12.0, 12),
                          "new_hire": 0.0, "team": None, "payout": np.nan}) for y, v in years.items()]
    return History(frame=pd.concat(rows, ignore_index=True), source="constructed", roles={"reps": "generic"}), years


def test_market_change_se_is_exact_where_year_one_is_flat():
    # with every rep's year one the same, the change is the mean of year two over that level, minus 1, and its
    # standard error is known: sd(year two, n - 1) / sqrt(n) / level. A bootstrap of 50 replicates gave it
    # with about 10% noise and the plug-in divisor n
    from simlib.fit.calibrate import market_changes

    n = 14
    h, years = _two_years(np.random.default_rng(5), n, change=0.04, first=np.full(n, 2.0))
    v, se, reps, df = market_changes(h)[(2025, 2026)]
    b = years[2026]
    assert v == pytest.approx(b.mean() / 2.0 - 1.0, rel=1e-12)
    assert se == pytest.approx(b.std(ddof=1) / math.sqrt(n) / 2.0, rel=1e-9)
    assert (reps, df) == (n, n - 1)


def test_market_change_intervals_from_few_reps_cover_at_nominal_rate():
    # 12 reps of one role: the interval value +- t(df) SE covers the true change at about the nominal 90%
    # (88.5% here; the bootstrap SE from 50 replicates with a normal quantile covered 82.1% of these 800)
    from scipy import stats

    from simlib.fit.calibrate import market_changes

    gen = np.random.default_rng(11)
    trials, change = 800, 0.05
    covered = 0
    for _ in range(trials):
        h, _ = _two_years(gen, 12, change=change)
        v, se, _, df = market_changes(h)[(2025, 2026)]
        covered += abs(v - change) <= stats.t.ppf(0.95, df) * se
    cov, sd = covered / trials, math.sqrt(0.9 * 0.1 / trials)
    assert 0.90 - 3 * sd < cov < 0.90 + 3 * sd, cov


def test_market_change_panel_benchmark_rows():
    # python -m benchmarks.market_change: one row per simulated two-year history, both intervals judged
    from benchmarks.market_change import audit

    f = audit("validation/goal_difficulty.yaml", 1401, 1, 6)
    assert len(f) == 6 and f["truth"].nunique() == 6
    assert np.isfinite(f[["z", "z_old"]].to_numpy()).all()
    assert set(f["covered"]) <= {True, False} and f["z"].abs().max() < 10


def test_a_score_mostly_at_one_keeps_its_mean_a_fraction():
    """Satisfaction recorded at 1 in most months: the censored fit's mean came out above 1 (1.0034 in a backtest
    refit of a 5-rep JPY history, truth 0.97), which the scenario forbids, so `simlib backtest` stopped with an
    internal ValidationError. The fitted mean of a score is kept in [0, 1], the censored likelihood maximised
    there."""
    gen = np.random.default_rng(4)
    a = np.round(np.clip(1.02 + 0.04 * gen.standard_normal(300), 0.0, 1.0), 4)
    mu, sd = censored_normal(a)
    assert 0.0 <= mu <= 1.0 and sd > 0.0
    low = np.round(np.clip(-0.02 + 0.04 * gen.standard_normal(300), 0.0, 1.0), 4)
    assert 0.0 <= censored_normal(low)[0] <= 1.0


def test_a_history_of_scores_at_one_calibrates_to_a_valid_scenario(tmp_path):
    """Through calibrate: every replicate and the interval of a score mean stay in [0, 1], and the fitted scenario
    (what backtest's refits build) loads."""
    data = load_scenario(DEFAULT).model_dump(by_alias=True, mode="json")
    for r in ("telesales", "channel"):
        del data["roles"][r]
        for p in data["plans"].values():
            p["roles"].pop(r, None)
    data["roles"]["key_account"]["headcount"] = 6
    data["roles"]["key_account"]["team_size"] = 3
    data["roles"]["key_account"]["production"].update(satisfaction=1.0, satisfaction_sd=0.04)
    scen = scenario_from_dict(data, "scores at one")
    frame, _ = synth_history(scen, rng=5)
    cal = calibrate(_read(frame, tmp_path / "h.csv", scen), scen, bootstrap=20, rng=5, trials=0)
    e = cal.estimate("roles.key_account.production.satisfaction")
    assert 0.0 <= e.lo <= e.value <= e.hi <= 1.0, e
    assert cal.scenario.roles["key_account"].production["satisfaction"] <= 1.0


def test_every_interval_stays_in_the_range_the_scenario_allows():
    """A channel role of few reps: the bootstrap interval of ``ramp_months`` reached -1.62 months (the audit's
    history 2009 of default.yaml), below the 1 month a scenario allows. Every fitted parameter's interval now stays
    within its declared range (ramp 1-24 months; production shares in [0, 1], rates and months above 0)."""
    from benchmarks.calibration import audit
    from simlib.scenario import production_bounds

    f = audit(("default.yaml",), 1, first_seed=2009, bootstrap=50)
    ramp = f[f["path"].str.endswith(".ramp_months")]
    assert len(ramp) == 3 and (ramp["lo"] >= 1.0).all() and (ramp["hi"] <= 24.0).all(), ramp
    processes = {r: s.process for r, s in load_scenario(DEFAULT).roles.items()}
    checked = 0
    for _, row in f[f["path"].str.contains(".production.")].iterrows():
        role, name = row["path"].split(".")[1], row["path"].split(".production.")[1]
        lo, hi = production_bounds(processes[role])[name]
        if np.isfinite(row["lo"]):
            assert lo <= row["lo"] <= row["hi"] <= hi, row
            checked += 1
    assert checked >= 10


def test_market_change_combined_over_roles_of_like_precision_covers_at_nominal_rate():
    # Two roles of about the same precision, 10 and 12 reps: each role's t interval covers at the nominal 90%,
    # but their inverse-variance combination weighs each by an SE estimated from few reps, and 1 / sum w
    # leaves out what the noise of the weights adds. Under normal theory (each role's estimate normal, its
    # squared SE a scaled chi-square on reps - 1 df), value +- t(Satterthwaite df) SE covered 86.9% of these
    # draws; with Meier's (1953) first-order term for estimated weights, 1 / sum w (1 + 4 sum f (1 - f) / df_k),
    # f = w / sum w, it covers at the nominal rate. One role: unchanged.
    from scipy import stats

    from simlib.fit.calibrate import combine_roles

    gen = np.random.default_rng(2205)
    trials, covered = 4000, 0
    for _ in range(trials):
        est = [(0.05 + gen.standard_normal() * 0.02, 0.02 * math.sqrt(gen.chisquare(n - 1) / (n - 1)), n)
               for n in (10, 12)]
        v, se, reps, df = combine_roles(est)
        covered += abs(v - 0.05) <= stats.t.ppf(0.95, df) * se
    cov, sd = covered / trials, math.sqrt(0.9 * 0.1 / trials)
    assert 0.90 - 3 * sd < cov < 0.90 + 3 * sd, cov
    assert combine_roles([(0.03, 0.01, 12)]) == (0.03, 0.01, 12, 11.0)
    # two roles of known SEs 0.01 and 0.02 (weights 4/5 and 1/5) on 10 and 12 reps
    v, se, reps, df = combine_roles([(0.03, 0.01, 10), (0.05, 0.02, 12)])
    f = np.array([0.8, 0.2])
    assert v == pytest.approx(0.8 * 0.03 + 0.2 * 0.05) and reps == 22
    assert se**2 == pytest.approx((1 + 4 * np.sum(f * (1 - f) / np.array([9.0, 11.0]))) / (1e4 + 2.5e3))
    assert df == pytest.approx(1 / np.sum(f**2 / np.array([9.0, 11.0])))
