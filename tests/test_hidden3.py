"""Defects found by a third judge's run on organisations not shipped (rosters, plan versions, currencies,
scorecards, pure commission, roles of one to three reps beside 200), each pinned by a small case built here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

import simlib
from simlib.fit.history import read_history, write_history
from simlib.fit.replay import replay
from simlib.fit.synth import synth_history
from simlib.io import SHIPPED

ROSTER = """rep_id,role,team,base_salary,target_incentive,tenure_months
K1,key_account,K,90000,60000,40
K2,key_account,K,90000,30000,40
T1,telesales,T,42000,18000,40
T2,telesales,T,42000,9000,40
T3,telesales,T,42000,27000,40
C1,channel,C,70000,40000,40
C2,channel,C,70000,20000,40
"""


def _scorecard_roster_scenario(tmp_path, roster=ROSTER):
    """scorecards.yaml (every role paid by a scorecard under plan ``scorecard``) on a roster of reps whose target
    incentives differ."""
    (tmp_path / "roster.csv").write_text(roster)
    data = yaml.safe_load((SHIPPED / "scenarios" / "scorecards.yaml").read_text())
    for spec in data["roles"].values():
        spec.pop("headcount", None)
        spec.pop("team_size", None)
    data.update(roster="roster.csv", year_start="2026-01-01")
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(data))
    return simlib.load_scenario(p)


def test_a_scorecard_pays_each_roster_rep_at_their_own_target_incentive(tmp_path):
    """A roster gives each rep their own target incentive; a scorecard multiplied the (T, R, P) coefficients by the
    (R,) target incentives and stopped `simlib run` with 'operands could not be broadcast together with shapes
    (16,200,4) (200,)' (an internal error). Under the scorecard plan every number is finite, and doubling every
    rep's target incentive doubles the scorecard plan's incentive cost exactly (behaviour none, same draws)."""
    s = _scorecard_roster_scenario(tmp_path)
    for mode in ("dynamic", "none"):
        tab = simlib.simulate(s, ["scorecard"], trials=8, rng=3, behaviour=mode).summary()
        cost = tab[(tab.plan == "scorecard") & (tab.metric == "incentive_cost")].set_index("group")["mean"]
        assert np.isfinite(cost).all() and (cost > 0).all(), cost
    doubled = "\n".join(
        line if i == 0 else ",".join(f[:4] + [str(2 * int(f[4]))] + f[5:]) for i, (line, f) in
        enumerate((ln, ln.split(",")) for ln in ROSTER.strip().splitlines())) + "\n"
    (tmp_path / "d").mkdir()
    s2 = _scorecard_roster_scenario(tmp_path / "d", doubled)
    a = simlib.simulate(s, ["scorecard"], trials=8, rng=3, behaviour="none").summary()
    b = simlib.simulate(s2, ["scorecard"], trials=8, rng=3, behaviour="none").summary()
    ka = a[(a.plan == "scorecard") & (a.metric == "incentive_cost")].set_index("group")["mean"]
    kb = b[(b.plan == "scorecard") & (b.metric == "incentive_cost")].set_index("group")["mean"]
    assert kb.to_numpy() == pytest.approx(2 * ka.to_numpy(), rel=1e-9)


def test_replay_pays_a_scorecard_at_each_roster_reps_own_target_incentive(tmp_path):
    """Replayed under the scorecard plan, a rep on twice another's target incentive with the same recorded results
    is paid twice as much (replay failed with the same broadcast error)."""
    s = _scorecard_roster_scenario(tmp_path)
    frame, _ = synth_history(s, rng=4)
    # T2 records exactly T1's results: only the target incentive (9,000 against 18,000) differs
    t1 = frame[frame["rep_id"] == "T1"].copy()
    t1["rep_id"] = "T2"
    frame = pd.concat([frame[frame["rep_id"] != "T2"], t1], ignore_index=True)
    path = tmp_path / "h.csv"
    write_history(frame, path)
    hist = read_history(path, {r: x.process for r, x in s.roles.items()})
    pay = replay(s, hist, plans=["scorecard"]).reps.set_index("rep_id")["scorecard"]
    assert pay["T1"] > 0 and pay["T2"] == pytest.approx(pay["T1"] / 2, abs=0.02)


def _versioned_with_cancellations():
    """midyear.yaml with key-account deals that cancel (10% within 3 months)."""
    data = yaml.safe_load((SHIPPED / "scenarios" / "midyear.yaml").read_text())
    data["roles"]["us_key_account"]["production"].update(cancel_rate=0.1, cancel_window_months=3)
    return simlib.scenario_from_dict(data, "midyear with cancellations")


def test_deals_still_cancel_under_a_plan_with_mid_year_versions():
    """Cancellations are the role's, not the plan's: under h2_richer (a version from July) 'Revenue of deals that
    cancel' read 0 CAD where the current plan's read 551 k CAD on the same draws (a CAD roster of 3 key accounts),
    and `synth` wrote no `cancelled` in a year under such a plan. With behaviour none the revenue is the same, so the
    cancelled revenue is too, to the cent, and synth records it."""
    s = _versioned_with_cancellations()
    tab = simlib.simulate(s, ["current", "h2_richer"], trials=16, rng=5, behaviour="none").summary()
    c = tab[(tab.metric == "cancelled_revenue") & (tab.group == "us_key_account")].set_index("plan")["mean"]
    assert c["current"] > 0 and c["h2_richer"] == pytest.approx(c["current"], rel=1e-12), c
    frame, _ = synth_history(s, rng=6, years=2, plan2="h2_richer", behaviour="none")
    ka = frame[frame["role"] == "us_key_account"]
    by_year = ka.groupby(ka["year"] if "year" in ka else pd.to_datetime(ka["month"].astype(str)).dt.year)["cancelled"]
    assert (by_year.sum() > 0).all(), by_year.sum()


def test_backtest_reports_each_role_in_its_currency_and_converts_the_total(tmp_path, capsys):
    """midyear.yaml pays key accounts in USD beside inside sales in EUR. The backtest labelled every amount EUR and
    its total added USD to EUR (a CAD roster: partners' 2.11 M EUR shown as '2.11 M CAD', the total 64.4 M 'CAD'
    the sum of USD, CAD and EUR). Each role's rows are in the role's currency, named; the total's money, actual and
    predicted, is the roles' converted at the scenario's fx rate, as `replay` converts."""
    from simlib.cli import main
    from simlib.fit.backtest import backtest

    s = simlib.load_scenario(SHIPPED / "scenarios" / "midyear.yaml")
    frame, _ = synth_history(s, rng=7, years=2, plan2="h2_richer", behaviour="none")
    path = tmp_path / "h.csv"
    write_history(frame, path)
    hist = read_history(path, {r: x.process for r, x in s.roles.items()})
    bt = backtest(hist, s, plan_after="h2_richer", trials=8, rng=1, bootstrap=0, behaviour="none")
    f = bt.frame().set_index(["group", "metric"])
    assert f.loc[("us_key_account", "revenue"), "currency"] == "USD"
    assert f.loc[("eu_inside_sales", "revenue"), "currency"] == "EUR"
    assert f.loc[("total", "revenue"), "currency"] == "EUR"
    rate = s.fx["USD"]
    for col in ("actual", "predicted", "actual_year1"):
        for m in ("revenue", "payout"):
            want = f.loc[("us_key_account", m), col] * rate + f.loc[("eu_inside_sales", m), col]
            assert f.loc[("total", m), col] == pytest.approx(want, rel=1e-9), (col, m)
    assert any("USD" in n and "per USD" in n for n in bt.notes), bt.notes
    assert main(["backtest", str(path), "--scenario", str(SHIPPED / "scenarios" / "midyear.yaml"), "--plan-after",
                 "h2_richer", "--trials", "8", "--bootstrap", "0", "--behaviour", "none", "--seed", "1"]) == 0
    text = capsys.readouterr().out
    line = next(ln for ln in text.splitlines() if ln.startswith("us key account") and "Revenue" in ln)
    assert "USD" in line and "EUR" not in line, line


def _midyear_history(tmp_path, key_accounts=30):
    data = yaml.safe_load((SHIPPED / "scenarios" / "midyear.yaml").read_text())
    data["roles"]["us_key_account"].update(headcount=key_accounts, team_size=min(5, key_accounts))
    s = simlib.scenario_from_dict(data, "midyear")
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(data))
    frame, _ = synth_history(s, rng=8, behaviour="none")
    path = tmp_path / "h.csv"
    write_history(frame, path)
    return tmp_path / "t.yaml", path


def test_calibrate_prints_money_of_a_role_paid_in_another_currency_in_that_currency(tmp_path, capsys):
    """midyear.yaml's key accounts are paid in USD: calibrate printed their deal size as 'EUR per deal' (the
    scenario's currency) though the history and the fitted value are in USD."""
    from simlib.cli import main

    template, hist = _midyear_history(tmp_path)
    assert main(["calibrate", str(hist), "--scenario", str(template), "--out", str(tmp_path / "c.yaml"),
                 "--bootstrap", "4", "--trials", "2"]) == 0
    text = capsys.readouterr().out
    line = next(ln for ln in text.splitlines() if ln.startswith("production.deal_size_mean"))
    assert "USD per deal" in line, line
    line = next(ln for ln in text.splitlines() if ln.startswith("production.deal_value "))
    assert "EUR per deal" in line, line


def test_calibrate_says_which_roles_it_kept_from_the_template_and_why(tmp_path, capsys):
    """A role of 3 reps beside 50 is too small to fit (fewer than 5 full rep-years): calibrate kept all of its
    parameters from the template and printed nothing about it (the JSON's kept_from_template said so), so a
    reader took the printed roles for the whole fit. The printout names the role and the reason."""
    from simlib.cli import main

    template, hist = _midyear_history(tmp_path, key_accounts=3)
    assert main(["calibrate", str(hist), "--scenario", str(template), "--out", str(tmp_path / "c.yaml"),
                 "--bootstrap", "4", "--trials", "2"]) == 0
    text = capsys.readouterr().out
    line = next((ln for ln in text.splitlines() if "us_key_account" in ln and "kept" in ln), None)
    assert line is not None and "too few to fit" in line, text


def test_backtest_says_a_role_too_small_to_fit_is_predicted_from_the_template(tmp_path):
    """3 key accounts beside 50 inside-sales reps: year one cannot be fitted for them (fewer than 5 full rep-years),
    so their prediction is the template's, and its intervals hold no uncertainty about those parameters (a CAD
    roster's 3 key accounts: predicted 3.13 M USD, 90% interval 1.56 M to 5.07 M, after 5.23 M in year one). The
    backtest said nothing of it; a note now names the role and the reason."""
    from simlib.fit.backtest import backtest

    data = yaml.safe_load((SHIPPED / "scenarios" / "midyear.yaml").read_text())
    data["roles"]["us_key_account"].update(headcount=3, team_size=3)
    s = simlib.scenario_from_dict(data, "midyear, 3 key accounts")
    frame, _ = synth_history(s, rng=9, years=2, plan2="h2_richer", behaviour="none")
    path = tmp_path / "h.csv"
    write_history(frame, path)
    hist = read_history(path, {r: x.process for r, x in s.roles.items()})
    bt = backtest(hist, s, plan_after="h2_richer", trials=8, rng=1, bootstrap=0, behaviour="none")
    note = next((n for n in bt.notes if n.startswith("us_key_account: not fitted")), None)
    assert note is not None and "too few to fit" in note and "template" in note, bt.notes
    assert not any(n.startswith("eu_inside_sales: not fitted") for n in bt.notes)


def _ramp_roster(tmp_path, ramp):
    """default.yaml's telesales alone, on a roster of 120 reps: 30 hired 0, 1 or 2 months before the year, the rest
    tenured; ramp ``ramp`` months."""
    rows = ["rep_id,role,team,base_salary,target_incentive,tenure_months"]
    rows += [f"T{i:03d},telesales,T{i // 10},42000,18000,{[0, 1, 2][i % 3] if i < 30 else 40}" for i in range(120)]
    (tmp_path / "roster.csv").write_text("\n".join(rows) + "\n")
    data = yaml.safe_load((SHIPPED / "scenarios" / "default.yaml").read_text())
    data["roles"] = {"telesales": data["roles"]["telesales"]}
    data["roles"]["telesales"].pop("headcount")
    data["roles"]["telesales"].pop("team_size")
    data["roles"]["telesales"]["ramp_months"] = ramp
    data["plans"] = {"current": {"roles": {"telesales": data["plans"]["current"]["roles"]["telesales"]}}}
    data.pop("budget", None)
    data.pop("checks", None)
    data.update(roster="roster.csv", year_start="2025-01-01")
    p = tmp_path / f"s{ramp}.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_calibrate_fits_the_ramp_of_roster_reps_hired_before_the_year_from_their_tenure(tmp_path):
    """A roster's new hires start the year part-way up their ramp (tenure t: min(1, (t + m + 1) / R)), as the
    simulation and synth ramp them; calibrate fitted min(1, (m + 1) / R) as if every new hire joined in January, so
    on rosters whose new hires had 0-2 months of tenure it came out one month short (telesales 2, 3, 2 against truths
    3, 4, 3 in three of three CAD histories; a 25-rep channel 4 against 8). With the template's roster the ramp is
    fitted from each rep's tenure at the history year's start: on 6 histories the truth's ramp (6 months) is the
    estimate in most and inside every 90% interval."""
    from simlib.fit.calibrate import calibrate

    truth = simlib.load_scenario(_ramp_roster(tmp_path, 6))
    hits, inside = 0, 0
    for seed in range(6):
        frame, _ = synth_history(truth, rng=100 + seed, behaviour="none", start_year=2025)
        path = tmp_path / f"h{seed}.csv"
        write_history(frame, path)
        hist = read_history(path, {"telesales": "telesales"})
        cal = calibrate(hist, truth, bootstrap=20, rng=seed, trials=0)
        e = next(e for e in cal.estimates if e.path == "roles.telesales.ramp_months")
        hits += e.value == 6
        inside += e.lo <= 6 <= e.hi
    assert hits >= 4 and inside == 6, (hits, inside)


def test_several_years_start_a_rosters_reps_at_their_own_tenure():
    """`run --years 3` on a roster (178 reps, tenures 0-60 months) read 'Reps one to three years in post 24.1% ± 0.7'
    and 'over three years 59.0% ± 0.7' at the end of year one, where the roster gives 51.1% and 48.9% exactly: the
    first year's seats drew tenure (new hires at 0, the others an exponential time) instead of the roster's. Each
    rep now starts at their own tenure, so the tenure mix is the roster's, the same in every trial."""
    from simlib.engine.years import run_years

    s = simlib.load_scenario(SHIPPED / "scenarios" / "example_org" / "org.yaml")
    ten = np.concatenate([np.asarray(s.roster_data.roles[r].tenure, dtype=float) for r in s.roles])
    res = run_years(s, [s.current_plan], years=2, trials=4, rng=3, behaviour="none")
    f = res.frame[(res.frame.group == "total") & (res.frame.plan == s.current_plan)].set_index(["metric", "year"])
    for y in (1, 2):
        at_end = ten + 12 * y - 1  # whole months in post at the last month of year y
        want = {"tenure_under_1y": np.mean(at_end < 12), "tenure_1_3y": np.mean((at_end >= 12) & (at_end < 36)),
                "tenure_over_3y": np.mean(at_end >= 36)}
        for m, v in want.items():
            assert f.loc[(m, y), "mean"] == pytest.approx(v, abs=1e-12), (m, y, f.loc[(m, y), "mean"], v)
            assert f.loc[(m, y), "se"] == pytest.approx(0.0, abs=1e-12)
