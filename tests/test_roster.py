"""Rosters: your own reps in the simulation (headcount, teams, pay levels, quotas, ramp from tenure) and bad rows."""

from __future__ import annotations

import datetime

import numpy as np
import openpyxl
import pytest
import yaml

from simlib.cli import main
from simlib.errors import ScenarioError
from simlib.io import SHIPPED
from simlib.model.pipeline import passes, worlds
from simlib.model.population import Layout, draw_chunk, rep_labels, root_seed
from simlib.roster import tenure_months
from simlib.scenario import load_scenario

HEADER = "Rep ID,Role,Team,Manager,Base Salary,Target Incentive,Quota,Hire Date,Currency,Region"
ROWS = [
    'T1,telesales,North,Ann,"42,000","€18,000",,2020-01-15,EUR,x',
    "T2,telesales,South,Bob,40000,24000,400000,2025-10-01,EUR,x",
    "T3,Telesales,North,Ann,44000,12000,,2019-05-01,EUR,x",
    "K1,key_account,Enterprise,Cy,90000,60000,,2018-01-01,EUR,x",
    "C1,channel,Partners,Di,70000,40000,,2026-01-01,EUR,x",
]


def _scenario(tmp_path, rows=ROWS, header=HEADER, name="roster.csv", **extra):
    (tmp_path / name).write_text("\ufeff" + "\n".join([header, *rows]) + "\n", encoding="utf-8")
    data = yaml.safe_load((SHIPPED / "scenarios" / "default.yaml").read_text())
    for spec in data["roles"].values():
        spec.pop("headcount")
    data.update(roster=name, year_start="2026-01-01", **extra)
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def _outcomes(scen, trials=64, seed=5):
    draws = draw_chunk(Layout.of(scen), root_seed(seed), np.arange(trials))
    return {(o.plan, o.role): o for o in passes(scen, [scen.current_plan], worlds(scen, draws), None)}


def test_roster_sets_reps_teams_and_labels(tmp_path):
    s = load_scenario(_scenario(tmp_path))
    assert {r: s.roles[r].headcount for r in s.roles} == {"telesales": 3, "key_account": 1, "channel": 1}
    ids, teams = rep_labels(s, "telesales")
    assert ids == ["T1", "T3", "T2"] and teams == ["North", "South"]  # team by team, in order of first appearance
    o = _outcomes(s)[("current", "telesales")]
    assert list(o.world.team) == [0, 0, 1] and o.world.n_teams == 2
    assert s.roster_data.roles["telesales"].managers == ("Ann", "Ann", "Bob")


def test_roster_pay_levels_and_quotas_reach_pay(tmp_path):
    s = load_scenario(_scenario(tmp_path))
    assert s.roles["telesales"].base_salary == 42000 and s.roles["telesales"].target_incentive == 18000  # means
    o = _outcomes(s)[("current", "telesales")]
    assert np.allclose(o.pay.base, [42000, 44000, 40000]) and np.allclose(o.pay.target_incentive, [18000, 12000, 24000])
    assert np.all(o.quota[:, 2] == 400000)  # T2's own quota; the others from the plan's method
    assert np.all(o.quota[:, 0] != 400000)


def test_a_plan_level_scales_every_rep(tmp_path):
    data = yaml.safe_load(_scenario(tmp_path).read_text())
    cur = data["current_plan"]
    data["plans"]["richer"] = {"base": cur, "changes": {"roles": {"telesales": {"target_incentive": 36000,
                                                                                "quota": {"level": 2.0}}}}}
    lvl = data["plans"][cur]["roles"]["telesales"]["quota"]["level"]
    (tmp_path / "s2.yaml").write_text(yaml.safe_dump(data))
    s = load_scenario(tmp_path / "s2.yaml")
    draws = draw_chunk(Layout.of(s), root_seed(1), np.arange(8))
    out = {o.plan: o for o in passes(s, [cur, "richer"], worlds(s, draws, ["telesales"]), None)}
    assert np.allclose(out["richer"].pay.target_incentive, 2 * out[cur].pay.target_incentive)
    assert np.allclose(out["richer"].quota[:, 2], 400000 * 2.0 / lvl)


def test_ramp_follows_tenure(tmp_path):
    s = load_scenario(_scenario(tmp_path))
    ramp_months = s.roles["telesales"].ramp_months
    w = _outcomes(s)[("current", "telesales")].world
    # T2 hired 2025-10-01: 3 months of tenure at 2026-01-01, so month m ramps at (3 + m + 1) / R
    expect = np.minimum(1.0, (3 + np.arange(12) + 1.0) / ramp_months)
    assert np.allclose(w.ramp[0, 2], expect) and np.all(w.ramp[:, 0] == 1.0)
    c = _outcomes(s)[("current", "channel")].world  # hired on the first day: a new hire from month 0
    assert np.allclose(c.ramp[0, 0], np.minimum(1.0, (np.arange(12) + 1.0) / s.roles["channel"].ramp_months))
    assert tenure_months(datetime.date(2025, 3, 15), datetime.date(2026, 1, 1)) == 9


def test_team_pay_sums_over_roster_teams(tmp_path):
    data = yaml.safe_load(_scenario(tmp_path).read_text())
    cur = data["current_plan"]
    data["plans"][cur]["roles"]["telesales"]["team"] = {"weight": 1.0}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(data))
    o = _outcomes(load_scenario(tmp_path / "t.yaml"))[("current", "telesales")]
    # North (T1, T3) share one team pool, split equally; South is T2 alone
    inc = o.pay.incentive
    assert np.allclose(inc[:, 0], inc[:, 1]) and not np.allclose(inc[:, 0], inc[:, 2])


def test_xlsx_roster(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["rep_id", "role", "team", "base_salary", "target_incentive", "hire_date"])
    for r in ("telesales", "key_account", "channel"):
        ws.append([f"{r}-1", r, "A" if r == "telesales" else r, 50000, 20000, datetime.datetime(2024, 6, 1)])
    ws.append(["x-2", "telesales", "A", 50000, 20000, 45366])  # an Excel serial date: 2024-03-15
    wb.save(tmp_path / "r.xlsx")
    p = _scenario(tmp_path)
    data = yaml.safe_load(p.read_text())
    data["roster"] = "r.xlsx"
    p.write_text(yaml.safe_dump(data))
    s = load_scenario(p)
    assert s.roles["telesales"].headcount == 2
    assert list(s.roster_data.roles["telesales"].tenure) == [19, 21]


BAD = {
    "unknown role": ("X1,sales_engineer,North,,1,1,,2020-01-01,EUR,", "line 7", "unknown role: 'sales_engineer'"),
    "duplicate id": ("T1,telesales,North,,1,1,,2020-01-01,EUR,", "line 7", "duplicate rep_id: 'T1' is already at line 2"),
    "negative pay": ("X1,telesales,North,,-1,1,,2020-01-01,EUR,", "line 7", "negative pay: 'base_salary' is -1"),
    "bad date": ("X1,telesales,North,,1,1,,15/03/2024,EUR,", "line 7", "bad date: 'hire_date' is '15/03/2024'"),
    "late hire": ("X1,telesales,North,,1,1,,2026-02-01,EUR,", "line 7", "after the start of the simulated year"),
    "currency": ("X1,telesales,North,,1,1,,2020-01-01,USD,", "line 7", "currency mismatch: 'USD'"),
    # a currency code is 3 uppercase letters everywhere (the scenario's own are refused otherwise)
    "lowercase currency": ("X1,telesales,North,,1,1,,2020-01-01,eur,", "line 7",
                           "'eur' is not a currency code: expected 3 uppercase letters (ISO 4217), e.g. 'EUR'"),
    "no team": ("X1,telesales,,,1,1,,2020-01-01,EUR,", "line 7", "missing team"),
    # a key account typed into a telesales team was simulated silently as a one-rep key-account team 'North'
    # beside the telesales 'North' (a team's reps share one role: team pay and help are computed within a role)
    "team of another role": ("X1,key_account,North,,1,1,,2020-01-01,EUR,", "line 7",
                             "team 'North' is a telesales team (2 reps, first at line 2): a team's reps share one "
                             "role; expected role telesales or a key_account team"),
    # '91700,5' (a decimal comma, here quoted in a comma-separated file) was refused with no hint of why
    "decimal comma": ('X1,telesales,North,,"91700,5",1,,2020-01-01,EUR,', "line 7",
                      "non-numeric value: 'base_salary' is '91700,5'; looks like a decimal comma: write 91700.5"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_rows_are_reported_with_line_and_reason(tmp_path, case):
    row, where, words = BAD[case]
    p = _scenario(tmp_path, ROWS + [row])
    with pytest.raises(ScenarioError) as ei:
        load_scenario(p)
    (prob,) = ei.value.problems
    assert prob.source.endswith("roster.csv") and prob.field == where and words in prob.message


def test_file_level_problems(tmp_path):
    with pytest.raises(ScenarioError, match=r"role 'channel' has no reps in the roster"):
        load_scenario(_scenario(tmp_path, ROWS[:4]))
    with pytest.raises(ScenarioError, match=r"missing required column\(s\) \['base_salary'\]"):
        load_scenario(_scenario(tmp_path, [r.replace(',"42,000"', "") for r in ROWS[:1]],
                                HEADER.replace("Base Salary,", "")))
    with pytest.raises(ScenarioError, match="roster.csv: file not found"):
        p = _scenario(tmp_path)
        (tmp_path / "roster.csv").unlink()
        load_scenario(p)
    data = yaml.safe_load(_scenario(tmp_path).read_text())
    data["roles"]["telesales"]["headcount"] = 5
    (tmp_path / "h.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError, match="the roster has 3 telesales reps"):
        load_scenario(tmp_path / "h.yaml")


def test_a_missing_roster_or_history_names_the_scenario_and_its_field(tmp_path, capsys):
    """A mistyped file name is reported once, with the scenario that names it and how the path is read."""
    p = _scenario(tmp_path)
    data = yaml.safe_load(p.read_text())
    data["roster"] = "rooster.csv"
    p.write_text(yaml.safe_dump(data))
    assert main(["validate", str(p)]) == 1
    out = capsys.readouterr()
    err = out.out + out.err
    assert f"{tmp_path / 'rooster.csv'}: file not found: the roster named by {p} (roster: rooster.csv; relative " \
           "to the scenario file's folder)" in err
    assert err.count("file not found") == 1 and "headcount" not in err
    data.update(roster="roster.csv", history="histroy.csv")
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError, match=r"histroy.csv: file not found: the history named by .*s.yaml "
                                            r"\(history: histroy.csv;"):
        load_scenario(p)


def test_a_workbook_with_a_cover_sheet_first_names_the_sheet_read(tmp_path):
    """The first worksheet is the roster; a cover sheet in front is named, with the sheets there are."""
    import csv

    p = _scenario(tmp_path)
    wb = openpyxl.Workbook()
    wb.active.title = "Cover"
    wb.active["A1"] = "Sales roster 2026"
    sheet = wb.create_sheet("Roster")
    for row in csv.reader((tmp_path / "roster.csv").read_text(encoding="utf-8-sig").splitlines()):
        sheet.append(row)
    wb.save(tmp_path / "roster.xlsx")
    data = yaml.safe_load(p.read_text())
    data["roster"] = "roster.xlsx"
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError) as ei:
        load_scenario(p)
    (prob,) = ei.value.problems
    assert prob.source.endswith("roster.xlsx") and "missing required column(s)" in prob.message
    assert prob.message.endswith("(read the first worksheet, 'Cover', of ['Cover', 'Roster']: put the roster on the "
                                 "workbook's first sheet)")
    wb.move_sheet("Roster", offset=-1)
    wb.save(tmp_path / "roster.xlsx")
    assert load_scenario(p).roles["telesales"].headcount == 3


def test_cli_refuses_a_bad_roster_before_any_work(tmp_path, capsys):
    p = _scenario(tmp_path, ROWS + ["X1,telesales,North,,-1,1,,2020-01-01,EUR,"])
    rc = main(["run", str(p), "--trials", "10", "--behaviour", "none"])
    err = capsys.readouterr().err
    assert rc == 1 and "roster.csv: line 7: negative pay" in err and "Traceback" not in err


def test_hash_follows_the_roster_contents(tmp_path):
    a = load_scenario(_scenario(tmp_path)).sha256
    b = load_scenario(_scenario(tmp_path, [ROWS[0].replace("42,000", "43,000"), *ROWS[1:]])).sha256
    assert a != b


def test_shipped_example_organisation_runs_from_its_roster_and_history(tmp_path, monkeypatch, capsys):
    import simlib

    s = simlib.load_scenario("scenarios/example_org/org.yaml")
    assert s.headcount == 60 and s.track_record is not None
    assert set(s.roles) == {"key_account", "telesales", "field_service"} and s.roles["field_service"].process == "generic"
    ids, teams = rep_labels(s, "field_service")
    assert len(ids) == 18 and set(teams) == {"Service East", "Service West", "Service Central"}
    assert any("region" in n for n in s.roster_data.notes)  # the extra column is listed, not silently dropped
    _, _, months = s.track_record.roles["telesales"]
    assert (months >= 12).sum() > 20  # most reps have their own history
    monkeypatch.chdir(tmp_path)
    rc = main(["run", "scenarios/example_org/org.yaml", "--trials", "20", "--behaviour", "none"])
    assert rc == 0 and "accelerated" in capsys.readouterr().out


def test_same_numbers_on_a_process_pool(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    import pandas as pd

    import simlib

    s = simlib.load_scenario("scenarios/example_org/org.yaml")
    a = simlib.simulate(s, trials=6, rng=3, behaviour="none", chunk_size=6).trials()
    with ProcessPoolExecutor(max_workers=2) as ex:
        b = simlib.simulate(s, trials=6, rng=3, behaviour="none", chunk_size=4, executor=ex).trials()
    k = ["plan", "group", "trial"]
    pd.testing.assert_frame_equal(a.sort_values(k).reset_index(drop=True), b.sort_values(k).reset_index(drop=True))


def _far_out_scenario(tmp_path, territories, process="key_account", production=None, behaviour="none"):
    """One role of reps whose roster territories are given (the role's spreads 0), flat season, no market noise."""
    rows = [f"R{i},r,T{i // 5},50000,20000,60,{t}" for i, t in enumerate(territories)]
    (tmp_path / "far.csv").write_text("\n".join(["rep_id,role,team,base_salary,target_incentive,tenure_months,"
                                                 "territory", *rows]) + "\n")
    comps = [{"name": "c", "measure": "revenue", "kind": "commission", "tiers": [{"from": 0.0, "rate": 0.05}]}]
    data = {"name": "far", "roster": "far.csv", "year_start": "2026-01-01",
            "market": {"growth_mean": 0.0, "growth_sd": 0.0, "monthly_sd": 0.0},
            "roles": {"r": {"process": process, "ability_sd": 0.0, "territory_sd": 0.0, "ramp_months": 1,
                            "production": production or {"deals_per_month": 3.0, "deal_size_sd_log": 0.0}}},
            "plans": {"current": {"roles": {"r": {"quota": {"method": "flat"}, "components": comps}}}},
            "behaviour": {"mode": behaviour}}
    (tmp_path / "far.yaml").write_text(yaml.safe_dump(data))
    return load_scenario(tmp_path / "far.yaml")


def test_a_roster_rep_far_beyond_the_roles_spread_is_not_truncated(tmp_path):
    """A rep whose roster territory is ~20x the mean (the role's spreads 0) wins all the deals their mean implies.

    Poisson truncation was sized from the role's spreads: the rep's ~59 deals a month were cut at 38.
    """
    s = _far_out_scenario(tmp_path, [1.0] * 19 + [1000.0])
    o = _outcomes(s, trials=40)[("current", "r")]
    big = 3.0 * 1000.0 / (1019.0 / 20)  # deals a month of the far-out rep
    deals = o.measures["deals"][:, -1, :]
    se = np.sqrt(big / deals.size)
    assert abs(deals.mean() - big) < 4 * se, (deals.mean(), big)
    small = 3.0 * 1.0 / (1019.0 / 20)
    assert abs(o.measures["deals"][:, :19].mean() - small) < 4 * np.sqrt(small / deals.size / 19)


def test_a_roster_past_the_headcount_or_team_size_limit_is_named_as_the_roster(tmp_path, monkeypatch):
    """A 1,000,000-rep roster was refused as 'org.yaml: roles.key_account.headcount: Input should be less than or
    equal to 200000; got 333334', a field the scenario does not have: the roster, the role and the limit are named."""
    import simlib.scenario as sc

    monkeypatch.setattr(sc, "MAX_HEADCOUNT", 2)
    monkeypatch.setattr(sc, "MAX_TEAM_SIZE", 1)
    with pytest.raises(ScenarioError) as ei:
        load_scenario(_scenario(tmp_path))
    probs = {(p.source.rsplit("/", 1)[-1], p.field): p.message for p in ei.value.problems}
    assert probs == {
        ("roster.csv", "role"): "3 telesales reps, more than the 2 a role may have; split the role or model fewer reps",
        ("roster.csv", "team"): "telesales team 'North' has 2 reps, more than the 1 a team may have",
    }


def test_a_decimal_comma_territory_is_named_as_such(tmp_path):
    """'1,5' as a territory potential was 'bad territory' with no hint; now the reason says how to write it."""
    rows = [r + ",1" for r in ROWS] + ['X1,telesales,North,,1,1,,2020-01-01,EUR,x,"1,5"']
    with pytest.raises(ScenarioError) as ei:
        load_scenario(_scenario(tmp_path, rows, header=HEADER + ",Territory"))
    (prob,) = ei.value.problems
    assert prob.message == ("bad territory: '1,5', expected a positive number (potential, any scale); looks like a "
                            "decimal comma: write 1.5")
