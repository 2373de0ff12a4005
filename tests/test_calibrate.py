"""Calibration: recovery of known parameters from synthetic history, round trip, writing, CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from conftest import DEFAULT, ROOT
from scipy import stats

from simlib.cli import main
from simlib.errors import SimlibError
from simlib.fit.calibrate import calibrate, fit_figure, write_scenario
from simlib.fit.history import read_history, write_history
from simlib.fit.synth import synth_history
from simlib.scenario import load_scenario, scenario_from_dict


def _roles(s):
    return {r: x.process for r, x in s.roles.items()}


def _big_org():
    """Default scenario with 400 reps per role and no market shocks (levels then equal the template's)."""
    d = yaml.safe_load(DEFAULT.read_text())
    d["market"] = {"growth_mean": 0.0, "growth_sd": 0.0, "monthly_sd": 0.0, "monthly_rho": 0.0}
    for r in d["roles"]:
        d["roles"][r]["headcount"] = 400
    return scenario_from_dict(d, "big-org")


def _history(scen, tmp_path, seed, **kw):
    frame, truth = synth_history(scen, rng=seed, **kw)
    path = tmp_path / f"h{seed}.csv"
    write_history(frame, path)
    return read_history(path, _roles(scen)), truth


def test_parameters_recovered_within_standard_errors(tmp_path):
    scen = _big_org()
    z, exact = [], []
    for seed in (0, 1):
        hist, _ = _history(scen, tmp_path, seed)
        cal = calibrate(hist, scen, bootstrap=40, rng=seed, trials=0)
        tab = cal.table()
        # every fitted parameter: population, production, seasonality, and the quota level and noise
        assert len(tab) > 60
        for e in cal.estimates:
            if e.se > 0:
                z.append((e.path, (e.value - e.template) / e.se))
            else:
                exact.append((e.path, e.value, e.template))
    zs = np.array([v for _, v in z])
    worst = sorted(z, key=lambda t: -abs(t[1]))[:5]
    assert np.all(np.isfinite(zs))
    assert np.mean(np.abs(zs) > 3) <= 0.03, worst
    assert np.max(np.abs(zs)) < 4.5, worst
    # standard errors are not inflated: about two thirds of estimates lie within one SE
    assert np.mean(np.abs(zs) < 1) >= 0.5
    for path, v, t in exact:  # integer ramp months identical in every bootstrap replicate
        assert v == t, path


def test_key_parameters_recovered(tmp_path):
    scen = _big_org()
    hist, _ = _history(scen, tmp_path, 2)
    cal = calibrate(hist, scen, bootstrap=40, rng=2, trials=0)
    for path, truth in [
        ("roles.telesales.ability_sd", 0.20), ("roles.telesales.territory_sd", 0.15),
        ("roles.key_account.ability_sd", 0.30), ("roles.key_account.territory_sd", 0.35),
        ("roles.key_account.production.deal_size_sd_log", 0.8),
        ("roles.channel.production.partner_ramp_months", 4.0),
        ("roles.telesales.production.conversion_rate", 0.25),
    ]:
        e = cal.estimate(path)
        assert abs(e.value - truth) <= 3 * e.se, (path, e)
        assert e.se < 0.25 * truth, (path, e)  # identifiable: SE well below the value


def test_round_trip_reproduces_attainment_distribution(tmp_path):
    scen = load_scenario(DEFAULT)
    hist, _ = _history(scen, tmp_path, 5)
    cal = calibrate(hist, scen, bootstrap=0, rng=11, trials=40)
    for role, d in cal.diagnostics["roles"].items():
        assert d["n_history"] == scen.roles[role].headcount
        assert all(q["within"] for q in d["attainment_quantiles"]), (role, d["attainment_quantiles"])
        assert d["ks"]["pvalue"] > 0.001, (role, d["ks"])
        m = d["mean_attainment"]
        assert abs(m["history"] - m["simulated"]) < 3 * m["sd"]
        p = d["payout_per_rep"]
        assert abs(p["history"] - p["simulated"]) < 3 * p["sd"]
    # the report's fit figure writes attainment and monthly shares in percent, as its text does
    fig = fit_figure(cal)
    fig.canvas.draw()
    for ax in fig.axes:
        ticks = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
        assert ticks and all(t.endswith("%") for t in ticks), (ax.get_title(), ticks)
    assert fig.axes[0].get_xlabel() == "simulated quantile (% of quota)"
    # roles in words and no bare "QQ" / "KS" (the chart titles read "key_account: attainment QQ (KS p=0.45)")
    titles = [ax.get_title() for ax in fig.axes]
    assert not [t for t in titles if "_" in t or "QQ" in t or "KS " in t], titles
    assert any(t.startswith("key account: attainment quantiles") for t in titles), titles
    import matplotlib.pyplot as plt

    plt.close(fig)
    out = write_scenario(cal, tmp_path / "cal.yaml")
    again = load_scenario(out)
    assert again.roles["telesales"].headcount == 120
    assert set(again.plans) == set(scen.plans)
    assert main(["run", str(out), "--trials", "20"]) == 0


def test_same_seed_same_numbers(tmp_path):
    scen = load_scenario(DEFAULT)
    hist, _ = _history(scen, tmp_path, 1)
    a = calibrate(hist, scen, bootstrap=5, rng=3, trials=3)
    b = calibrate(hist, scen, bootstrap=5, rng=3, trials=3)
    assert a.to_dict() == b.to_dict()


def test_partial_columns_keep_template_values_with_reasons(tmp_path):
    scen = load_scenario(DEFAULT)
    frame, _ = synth_history(scen, rng=4)
    frame = frame[["rep_id", "role", "month", "quota", "revenue"]]
    frame = frame[~((frame["rep_id"] == "TE00003") & (frame["month"] > 6))]  # a rep who left mid-year
    frame.to_csv(tmp_path / "h.csv", index=False)
    hist = read_history(tmp_path / "h.csv", _roles(scen))
    cal = calibrate(hist, scen, bootstrap=0, trials=20, rng=1)
    assert "roles.telesales.production.calls_per_month" in cal.kept
    assert cal.kept["roles.telesales.new_hire_share"] == "no new_hire column in the history"
    assert any("telesales: 1 rep-year(s) without a full year" in n for n in cal.notes)
    assert cal.scenario.roles["telesales"].production["calls_per_month"] == 900
    # seasonality and the channel's existing revenue are still fitted from revenue alone
    assert cal.estimate("roles.channel.production.existing_revenue_per_month").n == 40
    # revenue-only history still reproduces the attainment distribution: the revenue level is matched
    # through deal values, dispersion through quota covariance
    for role, d in cal.diagnostics["roles"].items():
        assert all(q["within"] for q in d["attainment_quantiles"]), (role, d["attainment_quantiles"])
        m = d["mean_attainment"]
        assert abs(m["history"] - m["simulated"]) < 3 * m["sd"], role


def test_cli_writes_atomically_and_never_overwrites(tmp_path, capsys):
    scen = load_scenario(DEFAULT)
    frame, _ = synth_history(scen, rng=2)
    write_history(frame, tmp_path / "h.parquet")
    out = tmp_path / "cal.yaml"
    args = ["calibrate", str(tmp_path / "h.parquet"), "--scenario", str(DEFAULT), "--out", str(out),
            "--bootstrap", "3", "--trials", "2", "--report", str(tmp_path / "cal.json")]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "telesales (roles.telesales.*" in text and "\nability_sd " in text and "wrote" in text
    before = out.read_text()
    out.write_text("mine")
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "exists; use --force" in err and "Traceback" not in err
    assert out.read_text() == "mine"
    assert main(args + ["--force"]) == 0
    assert out.read_text().split("\n", 1)[1] == before.split("\n", 1)[1]  # same numbers; only the timestamp differs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cal.json", "cal.yaml", "h.parquet"]  # no temp files left


def test_cli_errors_without_traceback(tmp_path, capsys):
    scen = load_scenario(DEFAULT)
    frame, _ = synth_history(scen, rng=2)
    frame.to_csv(tmp_path / "h.csv", index=False)
    rc = main(["calibrate", str(tmp_path / "h.csv"), "--scenario", str(DEFAULT), "--out", str(tmp_path / "c.yaml"),
               "--plan", "nope"])
    err = capsys.readouterr().err
    assert rc == 1 and "'nope' is not a plan" in err and "Traceback" not in err
    rc = main(["calibrate", str(tmp_path / "h.csv"), "--scenario", str(tmp_path / "missing.yaml"),
               "--out", str(tmp_path / "c.yaml")])
    err = capsys.readouterr().err
    assert rc == 1 and "missing.yaml" in err and "file not found" in err
    with pytest.raises(SystemExit):
        main(["calibrate", str(tmp_path / "h.csv"), "--out", str(tmp_path / "c.yaml"), "--bootstrap", "-1"])
    with pytest.raises(SimlibError, match="exists"):
        cal = calibrate(read_history(tmp_path / "h.csv", _roles(scen)), scen, bootstrap=0, trials=0)
        (tmp_path / "x.yaml").write_text("")
        write_scenario(cal, tmp_path / "x.yaml")


def test_calibration_notebook_runs_with_papermill(tmp_path):
    pm = pytest.importorskip("papermill")
    from jupyter_client.kernelspec import KernelSpecManager

    if "simlib" not in KernelSpecManager().find_kernel_specs():
        pytest.skip("Jupyter kernel 'simlib' not installed (run make setup)")
    out = tmp_path / "results.json"
    pm.execute_notebook(str(ROOT / "notebooks" / "calibration.ipynb"), str(tmp_path / "out.ipynb"),
                        parameters={"trials": 3, "bootstrap": 2, "seed": 1, "output_json": str(out)},
                        cwd=str(tmp_path), progress_bar=False, kernel_name="simlib")
    import json

    res = json.loads(out.read_text())
    assert res["notebook"] == "calibration" and res["parameters"]["seed"] == 1
    assert {r["role"] for r in res["fit"]} == {"key_account", "telesales", "channel"}
    # the answer names roles in words (it read "key_account: mean attainment ...")
    import nbformat

    shown = " ".join(str(o.get("data", {}).get("text/html", "")) for c in nbformat.read(tmp_path / "out.ipynb", 4).cells
                     for o in c.get("outputs", []))
    assert "key account: mean attainment" in shown and "key_account: mean attainment" not in shown
    assert any(e["path"] == "roles.telesales.ability_sd" for e in res["estimates"])


def test_role_map_and_unusable_history(tmp_path, capsys):
    scen = load_scenario(DEFAULT)
    frame, _ = synth_history(scen, rng=6)
    frame["role"] = frame["role"].replace({"telesales": "inside_sales"})
    frame.to_csv(tmp_path / "h.csv", index=False)
    base = ["calibrate", str(tmp_path / "h.csv"), "--scenario", str(DEFAULT), "--bootstrap", "0", "--trials", "0"]
    assert main(base + ["--out", str(tmp_path / "a.yaml")]) == 1
    assert "unknown role: 'inside_sales'" in capsys.readouterr().err
    assert main(base + ["--out", str(tmp_path / "b.yaml"), "--role-map", "inside_sales=telesales"]) == 0
    assert load_scenario(tmp_path / "b.yaml").roles["telesales"].headcount == 120
    assert main(base + ["--out", str(tmp_path / "c.yaml"), "--role-map", "inside_sales=phone"]) == 1
    assert "--role-map: expected FILE_ROLE=SCENARIO_ROLE" in capsys.readouterr().err
    half = frame[frame["month"] > 6].replace({"inside_sales": "telesales"})
    half.to_csv(tmp_path / "half.csv", index=False)
    hist = read_history(tmp_path / "half.csv", _roles(scen))
    with pytest.raises(SimlibError, match="no role could be fitted: roles.key_account: only 0 rep-year"):
        calibrate(hist, scen, bootstrap=0, trials=0)


#: parameters of defect 8 (boundary and integer estimates): where their intervals must cover the truth
BOUNDARY_PARAMS = [
    ("roles.key_account.ramp_months", lambda s: s.roles["key_account"].ramp_months),
    ("roles.channel.ramp_months", lambda s: s.roles["channel"].ramp_months),
    ("plans.current.roles.key_account.quota.noise", lambda s: s.plans["current"].roles["key_account"].quota.noise),
    ("plans.current.roles.telesales.quota.noise", lambda s: s.plans["current"].roles["telesales"].quota.noise),
    ("plans.current.roles.channel.quota.noise", lambda s: s.plans["current"].roles["channel"].quota.noise),
]


def test_boundary_and_integer_estimates_get_honest_intervals(tmp_path):
    # seed 2 of the default scenario: key-account ramp months fitted 7 (truth 9) with every bootstrap
    # replicate 7, and key-account quota noise 0 (truth 0.15): once reported as "7 +- 0" and "0 +- 0"
    scen = load_scenario(DEFAULT)
    hist, _ = _history(scen, tmp_path, 2)
    cal = calibrate(hist, scen, bootstrap=40, rng=2, trials=0)
    for path, truth in BOUNDARY_PARAMS:
        e = cal.estimate(path)
        assert e.lo <= truth(scen) <= e.hi, (path, e)
        assert e.hi > e.lo and e.level == 0.90, (path, e)
    ka = cal.estimate("plans.current.roles.key_account.quota.noise")
    assert ka.value == 0.0 and ka.at_bound == "lower" and ka.lo == 0.0 and ka.interval.startswith("bootstrap+chi-square")
    assert cal.estimate("roles.key_account.ramp_months").interval == "bootstrap+profile"
    # every fitted parameter has an interval holding its estimate, flagged in the JSON report
    for e in cal.estimates:
        assert e.lo <= e.value <= e.hi, e
    rows = cal.to_dict()["estimates"]
    assert {"lo", "hi", "level", "at_bound", "interval"} <= set(rows[0])


def _judge_truth():
    """Default scenario with more telesales new hires on a 5-month ramp, key-account quota noise 0.05 and
    channel quota noise 0.2 (a truth the template does not hold)."""
    d = yaml.safe_load(DEFAULT.read_text())
    d["roles"]["telesales"].update(ramp_months=5, new_hire_share=0.3)
    d["plans"]["current"]["roles"]["key_account"]["quota"]["noise"] = 0.05
    d["plans"]["current"]["roles"]["channel"]["quota"]["noise"] = 0.2
    return scenario_from_dict(d, "judge-truth")


@pytest.mark.parametrize("truth, seed", [("default", 41), ("judge", 52), ("judge", 54)])
def test_whole_month_and_bound_estimates_never_read_as_exact(tmp_path, truth, seed):
    # through `simlib synth` + `simlib calibrate`: telesales ramp months 3 (default, seed 41) and 5 (seed 52)
    # with every bootstrap replicate on the same month once read "3 +- 0 [3, 3]"; key-account quota noise
    # at its bound 0 with every replicate negative (seed 54) read SE 0 beside the interval [0, 0.19]
    scen = load_scenario(DEFAULT) if truth == "default" else _judge_truth()
    hist, _ = _history(scen, tmp_path, seed)
    cal = calibrate(hist, load_scenario(DEFAULT), bootstrap=50, rng=seed, trials=0)
    for e in cal.estimates:
        if e.at_bound or e.path.endswith(".ramp_months"):
            assert e.se > 0 and e.hi > e.lo and e.lo <= e.value <= e.hi, e
        if e.path.endswith(".ramp_months"):
            # a whole month: the interval spans at least the half month either side the grid cannot tell
            assert e.lo <= max(e.value - 0.5, 1.0) and e.hi >= min(e.value + 0.5, 24.0), e
    ramp = cal.estimate("roles.telesales.ramp_months")
    assert ramp.lo <= scen.roles["telesales"].ramp_months <= ramp.hi, ramp


def test_interval_starts_from_the_bound_when_the_moment_estimate_is_negative():
    from simlib.fit.calibrate import _interval

    # signed estimate -0.05 with replicates spread +-0.04 about it: the interval is that spread
    # (its 95th percentile, 0.036) above the constrained estimate 0, not [0, 0]
    reps = list(np.linspace(-0.09, -0.01, 41))
    lo, hi = _interval(-0.05, reps, 0.90, bounded=True, floor=False)
    assert lo == 0.0 and hi == pytest.approx(0.036)
    lo, hi = _interval(0.3, [0.2, 0.3, 0.4], 0.90, bounded=False, floor=False)
    assert lo == pytest.approx(0.21) and hi == pytest.approx(0.39)
    assert all(np.isnan(_interval(0.3, [], 0.9, bounded=False)))
    # with the floor (the default) each side is at least t(replicates - 1) times the replicates' sd
    t_sd = stats.t.ppf(0.95, 40) * np.std(reps, ddof=1)
    assert _interval(-0.05, reps, 0.90, bounded=True) == (0.0, pytest.approx(t_sd))
    lo, hi = _interval(0.3, [0.2, 0.3, 0.4], 0.90, bounded=False)
    assert lo == pytest.approx(0.3 - stats.t.ppf(0.95, 2) * 0.1) and hi == pytest.approx(0.3 + stats.t.ppf(0.95, 2) * 0.1)


@pytest.mark.slow
def test_boundary_intervals_cover_at_nominal_rate_and_quota_noise_unbiased(tmp_path):
    # 20 synthetic histories of the default scenario; each of the five parameters' 90% intervals
    # covers its truth in about 90% of them: binomial sd over 20 x 5 = 100 intervals is 3 points
    scen = load_scenario(DEFAULT)
    hits, noise = [], {p: [] for p, _ in BOUNDARY_PARAMS if "noise" in p}
    for seed in range(20):
        hist, _ = _history(scen, tmp_path, 100 + seed)
        cal = calibrate(hist, scen, bootstrap=60, rng=seed, trials=0)
        fitted = {e.path: e for e in cal.estimates}
        for path, truth in BOUNDARY_PARAMS:
            if path not in fitted:  # ramp months: too few new hires in this history to fit them
                continue
            e = fitted[path]
            hits.append(e.lo <= truth(scen) <= e.hi)
            if path in noise:
                noise[path].append(e.value)
    cover = float(np.mean(hits))
    assert abs(cover - 0.90) <= 3 * math.sqrt(0.9 * 0.1 / len(hits)) + 0.02, cover
    for path, v in noise.items():  # the noise estimators are unbiased within 3 standard errors of their mean
        truth = next(t for p, t in BOUNDARY_PARAMS if p == path)(scen)
        assert abs(np.mean(v) - truth) <= 3 * np.std(v, ddof=1) / math.sqrt(len(v)) + 0.01, (path, np.mean(v))


def test_window_interval_covers_every_window_at_nominal_rate():
    # delays uniform on 1..W, as the model's 1 + floor(u W): the interval [longest, longest (1-level)^(-1/n)]
    # covers W at least 90% of the time for every window and count (exact, not a bootstrap of a maximum,
    # which never reaches above the sample's longest delay)
    from simlib.fit.calibrate import window_interval

    gen = np.random.default_rng(4)
    for W in (1, 2, 4, 7, 12):
        for n in (1, 3, 10, 40):
            longest = (1 + np.floor(gen.uniform(size=(2000, n)) * W)).max(axis=1)
            cover = [lo <= W <= hi for lo, hi in (window_interval(m, n, 0.90) for m in longest)]
            assert np.mean(cover) >= 0.90 - 3 * math.sqrt(0.09 / 2000), (W, n, np.mean(cover))
    assert window_interval(4.0, 30, 0.90) == (4.0, 4.0)  # 30 delays all within 4 months: a window of 5 is ruled out
    assert window_interval(3.0, 2, 0.90) == (3.0, 9.0)
    assert window_interval(12.0, 1, 0.90) == (12.0, 12.0)  # at most 12 months


def test_cancel_window_estimated_from_cancelled_after(tmp_path):
    # mechanics.yaml's key accounts cancel within 4 months; the history's deals cancel within 7: calibrate reads
    # the window off cancelled_after (whole months, interval up from the longest delay), and keeps the
    # template's, with the reason, when the history does not date its cancellations
    d = yaml.safe_load((ROOT / "simlib" / "shipped" / "scenarios" / "mechanics.yaml").read_text())
    template = scenario_from_dict(d, "mechanics")
    d["roles"]["key_account"]["production"]["cancel_window_months"] = 7
    truth = scenario_from_dict(d, "mechanics, window 7")
    frame, _ = synth_history(truth, plan="clawback", rng=3)
    assert frame["cancelled_after"].max() <= 7
    for name, f in (("dated", frame), ("undated", frame.drop(columns="cancelled_after"))):
        path = tmp_path / f"{name}.csv"
        write_history(f, path)
        cal = calibrate(read_history(path, _roles(template)), template, plan="clawback", bootstrap=10, trials=0)
        key = "roles.key_account.production.cancel_window_months"
        if name == "undated":
            assert key not in {e.path for e in cal.estimates} and "cancelled_after" in cal.kept[key]
            assert cal.scenario.roles["key_account"].process_params().cancel_window == 4
            continue
        e = cal.estimate(key)
        assert e.value == frame["cancelled_after"].max() and e.lo == e.value <= 7 <= e.hi <= 12, e
        assert e.interval == "exact" and e.template == 4
        assert cal.scenario.roles["key_account"].production["cancel_window_months"] == int(e.value)


def test_a_history_without_sales_is_a_clear_error_or_keeps_the_template(tmp_path, capsys):
    """A valid history whose role books no revenue (or no deals) has nothing to fit: the role keeps the template
    with the reason, and with no role left the command says so, naming the file and each role (it ended on
    pydantic's "deal_size_mean: Input should be greater than 0")."""
    scen = load_scenario(DEFAULT)
    frame, _ = synth_history(scen, rng=2)
    zero = frame.copy()
    for c in ("revenue", "deals", "large_order_value", "new_accounts", "conversions", "partners_opened"):
        if c in zero:
            zero[c] = np.where(zero[c].isna(), np.nan, 0.0)
    zero.to_csv(tmp_path / "zero.csv", index=False)
    rc = main(["calibrate", str(tmp_path / "zero.csv"), "--scenario", str(DEFAULT), "--out", str(tmp_path / "c.yaml")])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err and "zero.csv" in err and "internal error" not in err, err
    assert "roles.key_account: no revenue" in err and "roles.telesales: no revenue" in err
    # revenue but no deal recorded: the deal parameters are kept from the template, the rest fitted
    nodeals = frame.copy()
    nodeals["deals"] = np.where(nodeals["deals"].isna(), np.nan, 0.0)
    nodeals.to_csv(tmp_path / "nodeals.csv", index=False)
    cal = calibrate(read_history(tmp_path / "nodeals.csv", _roles(scen)), scen, bootstrap=0, trials=0)
    ka = cal.scenario.roles["key_account"]
    assert ka.production["deals_per_month"] > 0 and ka.production["deal_size_mean"] > 0
