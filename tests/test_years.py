"""Multi-year runs with attrition and backfill (simlib.engine.years, simlib.model.attrition)."""

from __future__ import annotations

import copy
import io
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simlib.engine.years import run_years, simulate_years
from simlib.errors import SimlibError
from simlib.fit import findings as V
from simlib.model import attrition as att
from simlib.scenario import scenario_from_dict


def _people(cap: float | None = 1.2, pay_cut: float = 0.6, **attrition) -> object:
    """The ratchet validation scenario (60 telesales reps) with attrition on and two more plans:
    ``capped`` (the bonus capped at ``cap`` x target) and ``pay_cut`` (target incentive x ``pay_cut``)."""
    s = V._load("ratchet")
    data = s.model_dump(by_alias=True)
    data["people"]["attrition"].update({"enabled": True, **attrition})
    cur = data["plans"]["current"]
    capped = copy.deepcopy(cur)
    capped["roles"]["reps"]["components"][0]["cap"] = cap
    cut = copy.deepcopy(cur)
    cut["roles"]["reps"]["target_incentive"] = s.roles["reps"].target_incentive * pay_cut
    data["plans"].update(capped=capped, pay_cut=cut)
    return scenario_from_dict(data, s.source)


def _diff(res, plan: str, metric: str, year: int = 1, group: str = "total"):
    d = res.diffs
    row = d[(d.plan == plan) & (d.metric == metric) & (d.year == year) & (d.group == group)].iloc[0]
    return row["mean"], row["se"]


def test_attrition_off_nobody_leaves_and_one_plan_matches_simulate_years():
    s = V._load("ratchet")
    res = run_years(s, ["last_year_quota"], years=2, trials=8, rng=5, behaviour="none")
    f = res.frame
    for m in ("turnover_rate", "vacancy_months", "hires", "hiring_cost", "lost_revenue"):
        assert (f[f.metric == m]["mean"] == 0).all(), m
    one = simulate_years(s, "last_year_quota", years=2, trials=8, rng=5, behaviour="none")
    mine = f[(f.plan == "last_year_quota") & (f.group != "total")].drop(columns="plan").reset_index(drop=True)
    pd.testing.assert_frame_equal(one, mine)


def test_years_table_reads_as_run_prints_and_keeps_the_raw_table():
    """Rows by display name and year, money in the scenario's currency, shares in %; ``raw=True``: metric ids."""
    import simlib.present as present

    s = V._load("ratchet")
    res = run_years(s, years=2, trials=8, rng=5, behaviour="none")
    t = res.table("total")
    assert t.index.names == ["metric", "year"] and (present.label("profit"), 2) in t.index
    assert f" {s.currency}" in t.loc[(present.label("profit"), 1), res.plans[0]]
    assert t.loc[(present.label("turnover_rate"), 1), res.plans[0]].split(" ± ")[0].split(" (in ")[0].endswith("%")
    assert f"Δ {res.plans[1]}" in t.columns
    raw = res.table("total", raw=True)
    assert ("profit", 1) in raw.index and f"Δ{res.plans[1]}" in raw.columns


def test_years_table_says_a_share_of_none_in_every_trial_as_run_does():
    # attrition off: nobody leaves in any trial; the table printed a bare "0.0%" beside "46.8% ± 3.3" rows
    import simlib.present as present

    s = V._load("ratchet")
    res = run_years(s, years=2, trials=8, rng=5, behaviour="none")
    t = res.table("total")
    cell = t.loc[(present.label("turnover_rate"), 1), res.plans[0]]
    assert cell == present.fmt(0.0, 0.0, "turnover_rate", trials=8) == "0.0% (in none of 8 trials)"
    assert t.loc[(present.label("regretted_turnover"), 2), res.plans[0]] == "0.0% (in none of 8 trials)"
    assert " ± " in t.loc[(present.label("share_at_quota"), 1), res.plans[0]]  # an estimate keeps its error bar


def test_same_numbers_on_any_chunking_and_executor():
    s = _people()
    kw = dict(years=2, trials=10, rng=7, behaviour="none")
    a = run_years(s, **kw)
    b = run_years(s, chunk=3, **kw)
    with ThreadPoolExecutor(2) as ex:
        c = run_years(s, chunk=4, executor=ex, **kw)
    assert a.frame[a.frame.metric == "turnover_rate"]["mean"].max() > 0  # people do leave
    pd.testing.assert_frame_equal(a.frame, b.frame)
    pd.testing.assert_frame_equal(a.frame, c.frame)
    pd.testing.assert_frame_equal(a.diffs, c.diffs)


def test_capping_pay_raises_top_performer_attrition():
    res = run_years(_people(), ["capped"], years=1, trials=60, rng=1, behaviour="none")
    m, se = _diff(res, "capped", "regretted_turnover")
    assert m > 3 * se > 0
    m_all, _ = _diff(res, "capped", "turnover_rate")
    assert m_all == pytest.approx(m, rel=0.35)  # nearly all of the extra leavers are top performers


def test_pay_cut_raises_turnover_and_its_cost():
    res = run_years(_people(), ["pay_cut"], years=2, trials=40, rng=2, behaviour="none")
    for year in (1, 2):
        m, se = _diff(res, "pay_cut", "turnover_rate", year)
        assert m > 3 * se > 0
        m, se = _diff(res, "pay_cut", "cost_of_turnover", year)
        assert m > 3 * se > 0
    m, se = _diff(res, "pay_cut", "vacancy_months", 2)
    assert m > 3 * se > 0


def test_turnover_rate_matches_the_base_rate_at_market_pay():
    # nobody short of quota or of the outside option (elasticities 0): leavers ~ Binomial(seats, annual_rate)
    s = _people(annual_rate=0.2, pay_elasticity=0.0, attainment_effect=0.0, cap_effect=0.0)
    res = run_years(s, ["current"], years=1, trials=40, rng=3, behaviour="none")
    v = res.per_trial[("current", 1, "total", "turnover_rate")]
    se = np.sqrt(0.2 * 0.8 / (60 * len(v)))
    assert abs(v.mean() - 0.2) < 4 * se


def test_ratchet_raises_next_years_quota_of_reps_running_ahead():
    s = V._load("ratchet")
    data = s.model_dump(by_alias=True)
    data["behaviour"]["ratchet"]["up"] = 0.0
    flat = scenario_from_dict(data, s.source)
    kw = dict(years=2, trials=12, rng=4, behaviour="none")
    up = run_years(s, ["last_year_quota"], **kw).per_trial[("last_year_quota", 2, "total", "quota_mean")]
    no_up = run_years(flat, ["last_year_quota"], **kw).per_trial[("last_year_quota", 2, "total", "quota_mean")]
    assert (up > no_up).all()  # same draws: only the reps above quota differ, and their quota rises
    q = att.ramp_of(np.array([[0, -20, 5]]), 0, 3)
    np.testing.assert_allclose(q[0, 0, :3], [1 / 3, 2 / 3, 1.0])
    assert q[0, 1].min() == 1.0 and q[0, 2, :5].max() == 0.0


def test_hazard_coefficients_round_trip():
    s = _people(annual_rate=0.25, pay_elasticity=2.0, attainment_effect=1.0, top_premium=0.2, cap_effect=0.4)
    p = att.params_from_coef(att.coef_of(s.people.attrition))
    assert p == pytest.approx({"annual_rate": 0.25, "pay_elasticity": 2.0, "attainment_effect": 1.0,
                               "top_premium": 0.2, "cap_effect": 0.4})
    x = att.design(np.array([1.0]), np.array([0.0]), np.array([False]), np.array([False]))
    monthly = att.monthly_probability(att.coef_of(s.people.attrition), x)[0]
    assert 1 - (1 - monthly) ** 12 == pytest.approx(0.25)


def test_run_years_command(tmp_path, capsys):
    from simlib.cli import main

    s = V._load("ratchet")
    path = tmp_path / "people.yaml"
    path.write_text(Path(s.source).read_text() + "people:\n  attrition: {enabled: true}\n  hiring: {lag_months: 2}\n")
    args = ["run", str(path), "--years", "2", "--trials", "6", "--behaviour", "none", "--seed", "3"]
    assert main([*args, "--format", "csv"]) == 0
    out = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert set(out.year) == {1, 2} and {"level", "difference"} == set(out.kind)
    assert out[(out.metric == "turnover_rate") & (out.kind == "level")]["mean"].max() > 0
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "Turnover (leavers / seats)" in text and "Δ last_year_quota" in text and "attrition on" in text
    # rows and cells read as in the one-year table: display names, money with its currency, shares in %
    assert "turnover_rate" not in text and "EUR" in text and re.search(r"\d\.\d% ± ", text)
    with pytest.raises(SystemExit) as e:
        main([*args[:3], "0"])
    assert e.value.code == 1
    assert "expected a number of years" in capsys.readouterr().err
    assert main([*args, "--group", "nope"]) == 1
    assert "'nope' is not a role" in capsys.readouterr().err


def test_attrition_fit_recovers_known_parameters_from_history_with_leave_dates(tmp_path):
    from simlib.fit.attrition import fit_attrition, synth_leave_dates
    from simlib.fit.history import read_history, write_history
    from simlib.fit.synth import synth_history

    s = V._load("ratchet")
    data = s.model_dump(by_alias=True)
    data["roles"]["reps"]["headcount"] = 800
    truth = {"annual_rate": 0.2, "pay_elasticity": 2.0, "attainment_effect": 1.5, "top_premium": 0.25}
    data["people"]["attrition"].update(enabled=True, **truth)
    s = scenario_from_dict(data, s.source)
    roles = {"reps": "telesales"}
    frame, _ = synth_history(s, rng=1, years=2)
    write_history(frame, tmp_path / "h.csv")
    full = read_history(tmp_path / "h.csv", roles)
    write_history(synth_leave_dates(full, s, rng=5), tmp_path / "left.csv")
    hist = read_history(tmp_path / "left.csv", roles)
    assert hist.has_leave_date and len(hist.frame) < len(full.frame)  # leavers' later months are gone
    fit = fit_attrition(hist, s)
    assert fit.leavers > 200
    assert fit.wald(att.coef_of(s.people.attrition)) < 18.47  # chi-square(4) 0.999 quantile
    assert fit.se["pay_elasticity"] < 1.0 and fit.se["attainment_effect"] < 0.7
    assert fit.params["annual_rate"] == pytest.approx(0.2, abs=4 * 0.2 * fit.se["log_base"])
    wrong = att.coef_of(s.people.attrition).copy()
    wrong[1] = 0.0  # pay does not matter: rejected
    assert fit.wald(wrong) > 18.47


def test_history_leave_date_is_read_and_checked(tmp_path):
    from simlib.fit.history import HistoryError, read_history

    head = "rep_id,role,month,quota,revenue,leave_date\n"
    good = head + "a,telesales,2025-01,10,9,2025-02\na,telesales,2025-02,10,9,\nb,telesales,2025-01,10,12,\n"
    (tmp_path / "good.csv").write_text(good)
    h = read_history(tmp_path / "good.csv")
    assert h.has_leave_date
    assert h.frame.loc[h.frame.rep_id == "a", "leave_date"].max() == 12 * 2025 + 1
    bad = head + ("a,telesales,2025-01,10,9,soon\nb,telesales,2025-03,10,9,2025-02\n"
                  "c,telesales,2025-01,10,9,2025-05\nc,telesales,2025-02,10,9,2025-06\n")
    (tmp_path / "bad.csv").write_text(bad)
    with pytest.raises(HistoryError) as e:
        read_history(tmp_path / "bad.csv")
    text = str(e.value)
    assert "line 2: bad leave_date: 'soon'" in text
    assert "line 3: row after the rep's leave_date '2025-02'" in text
    assert "line 5: rep 'c' has two leave dates" in text


def test_notebook_helper_switches_attrition_on_and_plots_by_year():
    from simlib.report import notebook as nb
    from simlib.report import plots

    s = V._load("ratchet")
    assert not s.people.attrition.enabled
    res = nb.people_years(s, ["last_year_quota"], years=2, trials=4, rng=1, behaviour="none")
    assert res.frame[res.frame.metric == "turnover_rate"]["mean"].max() > 0
    off = nb.people_years(s, ["last_year_quota"], years=2, trials=4, rng=1, behaviour="none", attrition="scenario")
    assert off.frame[off.frame.metric == "turnover_rate"]["mean"].max() == 0
    fig = plots.by_year(res.frame, ["profit", "turnover_rate"])
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 2
    with pytest.raises(SimlibError, match="attrition: expected"):
        nb.people_years(s, attrition="sometimes")


@pytest.mark.slow
def test_people_years_notebook_runs(tmp_path):
    import json

    from conftest import kernel_installed

    from simlib.report import build as report

    if not kernel_installed():
        pytest.skip("Jupyter kernel 'simlib' not installed")
    out = report.build_reports([str(Path(__file__).parents[1] / "scenarios" / "default.yaml")], ["people_years"], out=tmp_path, trials=8, progress=False,
                               params=["people_years.behaviour=none", "people_years.plans=[harder_target]"])
    assert out[0].status == "ok", out[0].message
    data = json.loads(Path(out[0].json).read_text())
    assert data["plans"] == ["current", "harder_target"]


def test_sweep_over_years_reports_each_point_against_the_base_plan(tmp_path, capsys):
    from simlib.cli import main
    from simlib.design.years import sweep_years

    s = _people()
    df = sweep_years(s, {"cap": [1.1, None], "scenario.people.hiring.lag_months": [1, 6]}, years=2, trials=16, rng=2,
                     behaviour="none")
    assert list(df.columns[:3]) == ["point", "cap", "scenario.people.hiring.lag_months"]
    assert df["point"].nunique() == 4 and set(df["year"]) == {1, 2}
    lag = "scenario.people.hiring.lag_months"
    at = lambda m, y: df[(df.group == "total") & (df.metric == m) & (df.year == y)].set_index(["cap", lag])  # noqa: E731
    reg = at("regretted_turnover", 1)
    for lg in (1, 6):  # each against the base plan on the same draws (its curve ends flat at 3x target)
        capped, uncapped = reg.loc[(1.1, lg)], reg.loc[(None, lg)]
        assert capped["diff"] > 3 * capped["diff_se"] > 0
        assert uncapped["diff"] < capped["diff"]
    vac = at("vacancy_months", 2)["mean"]
    assert vac.loc[(1.1, 6)] > vac.loc[(1.1, 1)]  # a longer hiring lag leaves seats empty longer
    out = tmp_path / "sweep.csv"
    args = ["sweep", s.source, "--param", "cap=1.1", "--years", "2", "--trials", "4", "--behaviour", "none"]
    assert main([*args, "--out", str(out)]) == 0  # the validation scenario: attrition off, nobody leaves
    assert "over 2 years" in capsys.readouterr().out
    assert main([*args[:3], "cap=1.1,none", *args[4:]]) == 0
    best = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("best on the profit of 2 years")]
    assert len(best) == 1 and re.search(r"point \d \(cap=(1\.1|none)\), chosen", best[0]), best  # as typed
    assert (pd.read_csv(out).query("metric == 'turnover_rate'")["mean"] == 0).all()


def test_growth_plan_opens_seats_by_quarter_and_counts_their_hires():
    s = V._load("ratchet")  # 60 reps; attrition off, so every hire is a growth hire
    data = s.model_dump(by_alias=True)
    data["people"]["hiring"].update(growth={"reps": [60, 70, 70, 80, 90]}, cost=0.5)
    g = scenario_from_dict(data, s.source)
    res = run_years(g, ["last_year_quota"], years=2, trials=6, rng=2, behaviour="none")
    at = lambda m, y: res.per_trial[("current", y, "total", m)]  # noqa: E731
    assert (at("hires", 1) == 20).all() and (at("hires", 2) == 10).all()  # quarters 2 and 4, then quarter 5
    assert at("seats", 1) == pytest.approx(60 + 10 * 9 / 12 + 10 * 3 / 12)  # mean open seats
    ote = 42000 + 18000
    np.testing.assert_allclose(at("hiring_cost", 1), 20 * 0.5 * ote)
    assert (at("vacancy_months", 1) == 0).all() and (at("lost_revenue", 1) == 0).all()  # planned seats, not turnover
    assert (at("turnover_rate", 2) == 0).all()
    flat = run_years(s, ["last_year_quota"], years=2, trials=6, rng=2, behaviour="none")
    assert (at("revenue", 2) > flat.per_trial[("current", 2, "total", "revenue")]).all()
    data["people"]["hiring"]["growth"] = {"reps": [50]}
    with pytest.raises(SimlibError, match=r"people.hiring.growth.reps: quarter 1 is below the headcount 60"):
        run_years(scenario_from_dict(data, s.source), years=1, trials=2)
    data["people"]["hiring"]["growth"] = {"nobody": [70]}
    with pytest.raises(SimlibError, match=r"people.hiring.growth.nobody: unknown role"):
        run_years(scenario_from_dict(data, s.source), years=1, trials=2)


def test_people_section_leaves_existing_scenario_hashes_alone():
    s = V._load("ratchet")
    data = s.model_dump(by_alias=True)
    assert scenario_from_dict(data, s.source).sha256 == s.sha256
    data["people"]["attrition"]["enabled"] = True
    assert scenario_from_dict(data, s.source).sha256 != s.sha256


def test_calibrate_command_fits_attrition_when_the_history_has_leave_dates(tmp_path, capsys):
    import simlib
    from simlib.cli import main
    from simlib.fit.attrition import synth_leave_dates
    from simlib.fit.history import read_history, write_history
    from simlib.fit.synth import synth_history

    s = _people(annual_rate=0.25)
    frame, _ = synth_history(s, rng=4)
    write_history(frame, tmp_path / "h.csv")
    write_history(synth_leave_dates(read_history(tmp_path / "h.csv", {"reps": "telesales"}), s, rng=1),
                  tmp_path / "left.csv")
    out = tmp_path / "cal.yaml"
    assert main(["calibrate", str(tmp_path / "left.csv"), "--scenario", s.source, "--out", str(out),
                 "--bootstrap", "0", "--trials", "0"]) == 0
    assert "attrition:" in capsys.readouterr().out
    a = simlib.load_scenario(out).people.attrition
    assert a.enabled and 0.05 < a.annual_rate < 0.6 and a.cap_effect == s.people.attrition.cap_effect


def test_best_over_years_is_rechecked_on_independent_trials():
    from simlib.design.years import best_over_years

    s = _people()
    b = best_over_years(s, {"cap": [1.1, None]}, objective="regretted_turnover", maximize=False, years=1, trials=12,
                        rng=3, behaviour="none")
    assert b["values"] == {"cap": None}  # the uncapped point keeps more top performers
    assert b["selection"]["mean"] != b["check"]["mean"]  # other trials
    assert b["check"]["ci_low"] <= b["check"]["mean"] <= b["check"]["ci_high"]
    with pytest.raises(SimlibError, match="not a multi-year metric"):
        best_over_years(s, {"cap": [1.1]}, objective="happiness", years=1, trials=2)


#: multi-year metrics in money (x1000 with every amount of money); the others are counts, shares and ratios
_MONEY_YEAR_METRICS = ("revenue", "incentive_cost", "base_cost", "hiring_cost", "lost_revenue", "cost_of_turnover",
                       "profit", "profit_cumulative", "quota_mean", "draw_forgiven_on_exit", "draw_recovered_on_exit")


@pytest.mark.parametrize("method", ["territory", "last_year"])
def test_years_do_not_depend_on_the_unit_of_money(method):
    """Dynamic audit seed 17, case 113: a role with no base salary whose current plan pays nothing (territory
    quotas; and with every plan's quotas following last year's, through the ratchet). Today's on-target pay, the
    money scale of the leaving hazard and of the hiring cost, fell back on one unit of money, so 1000 times every
    amount of money changed who left (plan n_deals, year 1: turnover 0.106 against
    0.013). It now falls back on the behaviour model's money scale (a fifth of
    a rep's revenue): attainment, headcount and leaving identical, money x1000, every plan and year."""
    from benchmarks import dynamic_audit as da

    data = da.audit_scenario(113, 17)
    data["people"] = {"attrition": {"enabled": True}}
    for plan in data["plans"].values():
        plan["roles"]["r"]["quota"]["method"] = method
    assert data["roles"]["r"]["base_salary"] == 0.0
    a, b = (run_years(scenario_from_dict(d, f"case 113 {method}"), years=3, trials=4, rng=5, behaviour="dynamic")
            .frame.set_index(["plan", "year", "group", "metric"])["mean"] for d in (data, da.money_x1000(data)))
    turnover = a.index.get_level_values("metric") == "turnover_rate"
    assert a[turnover].max() > 0  # people do leave
    money = a.index.get_level_values("metric").isin(_MONEY_YEAR_METRICS)
    np.testing.assert_allclose(b[money].to_numpy() / 1000.0, a[money].to_numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(b[~money].to_numpy(), a[~money].to_numpy(), rtol=1e-9, atol=1e-12)
