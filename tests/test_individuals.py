"""Reps as individuals: each roster rep's productivity from their own history, shrunk toward the role."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

import simlib
from simlib.fit.history import read_history, write_history
from simlib.fit.individuals import MIN_MONTHS, posterior, rep_levels, shrink
from simlib.io import SHIPPED
from simlib.model.pipeline import passes, worlds
from simlib.model.population import Layout, draw_chunk, market_multiplier, role_world, root_seed
from simlib.model.production import run_year
from simlib.scenario import load_scenario

N_REPS = 20


def _org(tmp_path, star=1.5, years=3, seed=0):
    """One telesales role of 20 reps; rep T00 sold ``star`` times the others' level for ``years`` years."""
    rng = np.random.default_rng(seed)
    ids = [f"T{i:02d}" for i in range(N_REPS)]
    roster = pd.DataFrame({"rep_id": ids, "role": "telesales", "team": [f"team{i // 5}" for i in range(N_REPS)],
                           "base_salary": 42000, "target_incentive": 18000, "tenure_months": 48})
    roster.to_csv(tmp_path / "roster.csv", index=False)
    rows = []
    for y in range(2023, 2023 + years):
        for i, rid in enumerate(ids):
            level = star if i == 0 else 1.0
            for m in range(1, 13):
                rev = 25000 * level * rng.lognormal(-0.02, 0.2)
                rows.append({"rep_id": rid, "role": "telesales", "month": f"{y}-{m:02d}", "quota": 25000,
                             "revenue": round(rev, 2)})
    pd.DataFrame(rows).to_csv(tmp_path / "history.csv", index=False)
    d = yaml.safe_load((SHIPPED / "scenarios" / "default.yaml").read_text())
    ts = d["roles"]["telesales"]
    ts.pop("headcount")
    d["roles"] = {"telesales": ts}
    for p in d["plans"].values():
        if "roles" in p:
            p["roles"] = {"telesales": p["roles"]["telesales"]} if "telesales" in p["roles"] else {}
        if "changes" in p:
            p["changes"].get("roles", {}).pop("key_account", None)
            p["changes"].get("roles", {}).pop("channel", None)
    d.pop("budget", None)
    d.update(roster="roster.csv", history="history.csv")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(d))
    return tmp_path / "s.yaml"


def test_a_rep_who_beat_quota_three_years_running_is_simulated_above_the_role_mean(tmp_path):
    s = simlib.load_scenario(_org(tmp_path))
    mean, var, months = s.track_record.roles["telesales"]
    assert months[0] == 36 and mean[0] > np.log(1.3) and np.all(np.abs(mean[1:]) < 0.2)
    draws = draw_chunk(Layout.of(s), root_seed(2), np.arange(200))
    o = next(passes(s, [s.current_plan], worlds(s, draws), None))
    rev = o.measures["revenue"].sum(axis=-1)
    star, others = rev[:, 0].mean(), rev[:, 1:].mean()
    assert star > 1.3 * others
    assert o.pay.attainment[:, 0].mean() > o.pay.attainment[:, 1:].mean()


def test_shrinkage_strength_follows_months_of_history():
    lv = pd.DataFrame({"level": [1.5, 1.5, 1.0, 1.0], "months": [6, 36, 12, 12], "ss": [6 * 0.3, 36 * 0.3, 3.6, 3.6]},
                      index=["short", "long", "a", "b"])
    m, v, c2 = posterior(lv, tau2=0.1)
    assert c2 == pytest.approx(lv["ss"].sum() / (lv["months"] - 1).sum())
    assert 0 < m[0] < m[1] < np.log(1.5) + c2 / 72  # both shrunk toward the role; the longer record less
    assert v[1] < v[0] < 0.1  # and known better than the role's spread
    m2, v2 = shrink(np.array([1.5]), np.array([10_000.0]), c2, 0.1)
    assert m2[0] == pytest.approx(np.log(1.5), abs=0.01)  # a very long record speaks for itself
    few = posterior(lv.assign(months=[MIN_MONTHS - 1, 36, 12, 12]), 0.1)[0]
    assert np.isnan(few[0])  # too short a record: the rep draws from the role


def test_reps_without_history_draw_from_the_role(tmp_path):
    p = _org(tmp_path)
    h = pd.read_csv(tmp_path / "history.csv")
    h[h.rep_id != "T05"].to_csv(tmp_path / "history.csv", index=False)
    s = simlib.load_scenario(p)
    mean, _, months = s.track_record.roles["telesales"]
    assert np.isnan(mean[5]) and months[5] == 0
    draws = draw_chunk(Layout.of(s), root_seed(4), np.arange(50))
    w = worlds(s, draws)["telesales"]
    role = s.roles["telesales"]
    z = draws["telesales.ability"][:, 5]
    assert np.allclose(w.ability[:, 5], np.exp(role.ability_sd * z - 0.5 * role.ability_sd**2))


def test_same_seed_same_numbers_on_any_chunking(tmp_path):
    s = simlib.load_scenario(_org(tmp_path))
    a = simlib.simulate(s, trials=12, rng=9, chunk_size=12, behaviour="none").trials()
    b = simlib.simulate(s, trials=12, rng=9, chunk_size=5, behaviour="none").trials()
    pd.testing.assert_frame_equal(a.sort_values(["plan", "group", "trial"]).reset_index(drop=True),
                                  b.sort_values(["plan", "group", "trial"]).reset_index(drop=True))


def test_a_scenario_naming_history_needs_it_applied(tmp_path):
    plain = load_scenario(_org(tmp_path))  # the scenario module alone does not read histories
    with pytest.raises(simlib.SimlibError, match="names history 'history.csv'"):
        simlib.simulate(plain, trials=2, rng=1, behaviour="none")
    assert plain.track_record is None
    applied = simlib.load_scenario(tmp_path / "s.yaml")
    assert applied.sha256 != plain.sha256  # the history's contents are part of the scenario's identity
    rebuilt = applied.with_plan("copy", applied.plans[applied.current_plan])  # as a sweep rebuilds it
    assert rebuilt.track_record is applied.track_record
    simlib.simulate(rebuilt, trials=2, rng=1, behaviour="none")


def _synthetic_history(tmp_path, role, trials=(0, 1), seed=11):
    """Two years of the model's own history of one role of the default scenario: same reps, known a p."""
    scen = load_scenario("scenarios/default.yaml")
    lay = Layout.of(scen)
    d1 = draw_chunk(lay, root_seed(seed), np.array([trials[0]]))
    d2 = draw_chunk(lay, root_seed(seed), np.array([trials[1]]))
    for key in ("ability", "territory", "new_hire"):
        d2[f"{role}.{key}"] = d1[f"{role}.{key}"]
    rows = []
    truth = None
    for year, d in ((2024, d1), (2025, d2)):
        w = role_world(scen, role, d, market_multiplier(scen, d))
        truth = np.log(w.ability[0] * w.territory[0])
        year_m = run_year(w)
        rev = year_m["revenue"][0]
        for r in range(rev.shape[0]):
            for m in range(12):
                rows.append({"rep_id": f"R{r:04d}", "role": role, "month": f"{year}-{m + 1:02d}", "quota": 1.0,
                             "revenue": rev[r, m], "new_hire": int(w.new_hire[0, r])})
                if role == "channel":
                    rows[-1]["partner_revenue_new"] = year_m["partner_revenue_new"][0][r, m]
    write_history(pd.DataFrame(rows), tmp_path / "h.csv")
    h = read_history(tmp_path / "h.csv", {role: scen.roles[role].process})
    return scen, h, truth


def _coverage(tmp_path, role, seed=11):
    scen, h, truth = _synthetic_history(tmp_path, role, seed=seed)
    lv = rep_levels(h, role)
    r = scen.roles[role]
    m, v, _ = posterior(lv, r.ability_sd**2 + r.territory_sd**2)
    idx = np.array([int(i[1:]) for i in lv.index])
    ok = ~np.isnan(m)
    x = truth[idx][ok]
    return np.abs(x - m[ok]) <= 1.645 * np.sqrt(v[ok]), x, m[ok]


def test_posterior_intervals_cover_truth_at_about_their_nominal_rate(tmp_path):
    cover, x, m = _coverage(tmp_path, "telesales")
    n = cover.size
    assert n > 80
    assert abs(cover.mean() - 0.90) < 3 * np.sqrt(0.09 / n), cover.mean()
    assert np.corrcoef(x, m)[0, 1] > 0.7  # the estimates track each rep's truth


@pytest.mark.slow
@pytest.mark.parametrize("role", ["telesales", "channel", "key_account"])
def test_coverage_over_many_histories(tmp_path, role):
    """Over 20 synthetic histories: the mean coverage of the 90% intervals is 0.90 within 3 SE.

    A history's reps share one estimated reference level (the role's average), so their
    errors are correlated: the SE is taken from the spread of the 20 histories' coverages.
    """
    per = np.array([_coverage(tmp_path, role, seed)[0].mean() for seed in range(200, 220)])
    se = per.std(ddof=1) / np.sqrt(per.size)
    assert abs(per.mean() - 0.90) < 3 * se + 0.01, (role, per.mean(), se)


def test_calibrate_fits_a_generic_role(tmp_path):
    """simlib calibrate recovers a generic role's revenue level, CV and revenue per unit from its synthetic history."""
    from simlib.fit.calibrate import calibrate
    from simlib.fit.synth import synth_history

    d = yaml.safe_load((SHIPPED / "scenarios" / "example_org" / "synthetic.yaml").read_text())
    d["roles"]["field_service"]["headcount"] = 120
    (tmp_path / "g.yaml").write_text(yaml.safe_dump(d))
    scen = load_scenario(tmp_path / "g.yaml")
    frame, truth = synth_history(scen, rng=5)
    write_history(frame, tmp_path / "h.csv")
    h = read_history(tmp_path / "h.csv", {r: s.process for r, s in scen.roles.items()})
    cal = calibrate(h, scen, bootstrap=0, trials=2)
    gen = cal.scenario.roles["field_service"].production
    level = truth["market_level"][0]  # the history year's demand
    assert gen["revenue_per_unit"] == pytest.approx(1600, rel=0.03)
    assert gen["revenue_per_month"] == pytest.approx(32000 * level, rel=0.15)
    assert gen["revenue_cv"] == pytest.approx(0.5, abs=0.05)


def test_a_history_of_no_sales_leaves_every_rep_drawing_from_the_role(tmp_path):
    """A role whose history books no revenue at all (a valid file): no rep has a level to read, the scenario loads
    and runs (it stopped on an internal TypeError), every rep drawing from the role."""
    p = _org(tmp_path)
    h = pd.read_csv(tmp_path / "history.csv")
    h.assign(revenue=0.0).to_csv(tmp_path / "history.csv", index=False)
    s = simlib.load_scenario(p)
    mean, _, months = s.track_record.roles["telesales"]
    assert np.isnan(mean).all() and (months == 0).all()
    assert len(rep_levels(read_history(tmp_path / "history.csv"), "telesales")) == 0
    assert simlib.simulate(s, trials=4, rng=1, behaviour="none").summary()["mean"].notna().any()
