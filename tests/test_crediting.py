"""Crediting: split deals, overlays credited on others' results, managers paid on their team's (roll-up).

Hand-computed cases (tests/golden/crediting.yaml) checked against the
pipeline and the slow reference; the two agreeing draw for draw on a small
organisation; validation messages naming the field; the crediting metrics;
runs of the shipped example (scenarios/crediting.yaml) under ``none`` and
``dynamic`` and from the CLI.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml
from conftest import GOLDEN, ROOT

import simlib
import simlib.model.pipeline as pipeline
from simlib import ScenarioError, scenario_from_dict
from simlib.cli import main
from simlib.model import reference
from simlib.model.crediting import roll_up, split_giver, uses_crediting
from simlib.model.pipeline import passes, worlds
from simlib.model.population import Layout, draw_chunk, root_seed
from simlib.model.production import run_year

CASES = yaml.safe_load((GOLDEN / "crediting.yaml").read_text())
SETUP = CASES["setup"]
CREDITING = ROOT / "scenarios" / "crediting.yaml"


# ---------------------------------------------------------------------------
# hand-computed cases
# ---------------------------------------------------------------------------
def _golden_scenario(case: dict) -> dict:
    fr = {
        "process": "generic", "headcount": SETUP["headcount"], "team_size": SETUP["team_size"], "base_salary": 50000,
        "target_incentive": SETUP["target_incentive"], "ability_sd": 0.0, "territory_sd": 0.0,
        "new_hire_share": 0.0, "production": {"revenue_per_month": SETUP["revenue_per_month"]},
    }
    if "split" in case:
        fr["split"] = case["split"]
    roles = {"fr": fr, **copy.deepcopy(case.get("roles", {}))}
    plans = {r: {"quota": {"method": "flat"}, "components": [SETUP["curve"]]} for r in roles}
    for r, rp in case.get("plans", {}).items():
        plans[r] = {**plans[r], **rp}
    return {
        "name": "golden-crediting",
        "market": {"growth_mean": 0.0, "growth_sd": 0.0, "monthly_sd": 0.0, "monthly_rho": 0.0},
        "roles": roles,
        "plans": {"current": {"roles": plans}},
    }


def _handmade() -> dict[str, np.ndarray]:
    """The front-line reps' hand-made year: each rep the same value every month, (1, 4, 12)."""
    return {k: np.array([[x] * 12 for x in v], float)[None] for k, v in SETUP["monthly"].items()}


def _engine(scen, monkeypatch) -> dict[str, pipeline.RoleOutcome]:
    """The pipeline's outcomes with the front-line role's year replaced by the hand-made one."""
    produce = pipeline.run_year
    monkeypatch.setattr(pipeline, "run_year", lambda w, p=None: _handmade() if w.name == "fr" else produce(w, p))
    lay = Layout.of(scen)
    draws = {k: np.zeros((1, *shape)) for k, (_, shape) in lay.normals.items()}
    draws.update({k: np.full((1, *shape), 0.5) for k, (_, shape) in lay.uniforms.items()})
    return {o.role: o for o in passes(scen, ["current"], worlds(scen, draws), None)}


def _reference(scen) -> dict[str, dict]:
    hand = _handmade()
    roles = {}
    for rname, role in scen.roles.items():
        R = role.headcount
        reps = [dict(ability=1.0, territory=1.0, new_hire=False, ramp=[1.0] * 12, team=r // role.team_size)
                for r in range(R)]
        measures = [{k: list(hand[k][0, r % 4]) for k in hand} for r in range(R)]
        roles[rname] = dict(reps=reps, measures=measures, draws={"quota_noise": [0.0] * R, "last_year": [0.0] * R})
    return reference.reference_credited_pay(scen, "current", roles, [1.0] * 12)


@pytest.mark.parametrize("case", CASES["cases"], ids=[c["name"] for c in CASES["cases"]])
def test_crediting_golden(case, monkeypatch):
    scen = scenario_from_dict(_golden_scenario(case), "golden/crediting.yaml")
    eng, ref = _engine(scen, monkeypatch), _reference(scen)
    for rname, want in case["expect"].items():
        o = eng[rname]
        got = {"booked": o.credit.booked[0], "credited": o.credit.credited[0],
               "attainment": o.pay.attainment[0], "incentive": o.pay.incentive[0]}
        for key, values in want.items():
            np.testing.assert_allclose(got[key], values, rtol=1e-9, atol=1e-6, err_msg=f"{rname} {key}")
            np.testing.assert_allclose(ref[rname][key], values, rtol=1e-9, atol=1e-6, err_msg=f"reference {rname} {key}")


def test_split_partner_is_the_next_teammate_and_a_team_of_one_keeps_its_own():
    # teams 0 0 0 1 2 2: rep 0 is credited by rep 2 (the one before it, cyclically), rep 3 by itself
    assert list(split_giver(np.array([0, 0, 0, 1, 2, 2]))) == [2, 0, 1, 3, 5, 4]
    # teams given out of order (a replayed history) give the same pairs
    assert list(split_giver(np.array([1, 0, 1, 0]))) == [2, 3, 0, 1]


def test_roll_up_sums_each_owner_in_rep_order():
    x = np.arange(12.0).reshape(1, 6, 2)
    out = roll_up(x, np.array([1, 0, 1, 2, 0, 2]), 3)
    np.testing.assert_array_equal(out[0], [[2 + 8, 3 + 9], [0 + 4, 1 + 5], [6 + 10, 7 + 11]])


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------
def _small_crediting() -> dict:
    """A small organisation with every crediting feature: 7 key accounts (teams of 3: 3 teams), split deals,
    2 overlays, key-account managers, telesales managers and a second-line manager over the telesales ones."""
    d = yaml.safe_load(CREDITING.read_text())
    d["roles"]["key_account"].update(headcount=7, team_size=3)
    d["roles"]["telesales"].update(headcount=9, team_size=4)
    d["roles"]["sales_engineer"]["headcount"] = 2
    d["roles"]["ka_manager"]["headcount"] = 3
    d["roles"]["ts_manager"].update(headcount=3, team_size=2)
    d["roles"]["director"] = {"headcount": 2, "base_salary": 180000, "target_incentive": 60000,
                              "credited_on": {"role": "ts_manager", "kind": "manager", "share": 0.9}}
    cur = d["plans"]["current"]["roles"]
    cur["director"] = {"components": [{"name": "revenue", "points": [[0.8, 0.0], [1.0, 1.0], [1.2, 1.5]]}],
                       "quota": {"level": 1.05}}
    cur["sales_engineer"]["components"].append(
        {"name": "deals", "measure": "deals", "kind": "per_unit", "rate": 200})
    return d


@pytest.mark.parametrize("change, field, words", [
    (lambda r: r["sales_engineer"]["credited_on"].update(role="solutions"), "roles.sales_engineer.credited_on.role",
     "'solutions' is not a role of the scenario"),
    (lambda r: r["sales_engineer"]["credited_on"].update(role="sales_engineer"),
     "roles.sales_engineer.credited_on.role", "cannot be credited on its own results"),
    (lambda r: (r["ka_manager"]["credited_on"].update(role="sales_engineer"),
                r["sales_engineer"]["credited_on"].update(role="ka_manager")),
     "roles.sales_engineer.credited_on.role", "cycle: sales_engineer -> ka_manager -> sales_engineer"),
    (lambda r: r["sales_engineer"].update(process="telesales"), "roles.sales_engineer.process",
     "has the process of the role it is credited on ('key_account')"),
    (lambda r: r["ka_manager"].update(headcount=4), "roles.ka_manager.headcount",
     "key_account has 3 teams (headcount 7, team_size 3) and a manager leads one team: expected 3"),
    (lambda r: r["sales_engineer"].update(headcount=8), "roles.sales_engineer.headcount",
     "8 overlays for 7 key_account reps: expected at most 7"),
    (lambda r: r["sales_engineer"]["credited_on"].update(share=1.5), "roles.sales_engineer.credited_on.share",
     "less than or equal to 1"),
    (lambda r: r["sales_engineer"]["credited_on"].update(kind="specialist"), "roles.sales_engineer.credited_on.kind",
     "'overlay' or 'manager'"),
    (lambda r: r["key_account"]["split"].update(partner=-0.1), "roles.key_account.split.partner",
     "greater than or equal to 0"),
    (lambda r: r["key_account"].update(team_size=1), "roles.key_account.split", "expected team_size >= 2"),
    (lambda r: r["ka_manager"].update(split={"share": 0.1}), "roles.ka_manager.split",
     "a credited role books no deals to split"),
])
def test_bad_crediting_names_the_field(change, field, words):
    d = _small_crediting()
    change(d["roles"])
    with pytest.raises(ScenarioError) as ei:
        scenario_from_dict(d, "case.yaml")
    assert any(p.field == field and words in p.message for p in ei.value.problems), [str(p) for p in ei.value.problems]


def test_a_credited_role_takes_the_covered_roles_process_and_measures():
    s = scenario_from_dict(_small_crediting())
    assert s.roles["sales_engineer"].process == "key_account"
    assert s.roles["director"].process == "telesales"  # through the telesales managers
    assert s.roles["sales_engineer"].production == s.roles["key_account"].production
    d = _small_crediting()
    d["plans"]["current"]["roles"]["ts_manager"]["components"][0]["measure"] = "deals"
    with pytest.raises(ScenarioError, match="'deals' is not a measure of process telesales"):
        scenario_from_dict(d, "case.yaml")


def test_scenarios_without_crediting_keep_their_hash_and_path(small_scenario):
    assert not uses_crediting(small_scenario)
    d = small_scenario.model_dump()
    assert all("credited_on" not in r and "split" not in r for r in d["roles"].values())


# ---------------------------------------------------------------------------
# the engine against the reference, draw for draw
# ---------------------------------------------------------------------------
TRIALS = 4


def test_engine_agrees_with_reference_draw_for_draw():
    s = scenario_from_dict(_small_crediting())
    root = root_seed(20261130)
    draws = draw_chunk(Layout.of(s), root, np.arange(TRIALS))
    eng = {(o.plan, o.role): o for o in passes(s, list(s.plans), worlds(s, draws), None)}
    refs = [reference.reference_trial(s, list(s.plans), root, t) for t in range(TRIALS)]
    for (plan, rname), o in eng.items():
        for t in range(TRIALS):
            rp = refs[t]["pay"][plan][rname]
            what = f"{plan}/{rname} trial {t}"
            for key, got in (("quota", o.pay.quota), ("attainment", o.pay.attainment), ("incentive", o.pay.incentive),
                             ("booked", o.credit.booked), ("credited", o.credit.credited)):
                np.testing.assert_allclose(got[t], rp[key], rtol=1e-9, atol=1e-6, err_msg=f"{what} {key}")
    # not degenerate: every credited role earns something, and the split credits more than is booked
    for rname in ("sales_engineer", "ka_manager", "director"):
        assert eng[("current", rname)].pay.incentive.sum() > 0, rname
    ka = eng[("current", "key_account")].credit
    assert ka.credited.sum() > ka.booked.sum()


def test_simulate_reference_matches_simulate_with_crediting():
    s = scenario_from_dict(_small_crediting())
    ref = reference.simulate_reference(s, trials=3, rng=5)
    res = simlib.simulate(s, trials=3, rng=5, behaviour="none")
    summ = res.summary().set_index(["plan", "group", "metric"])["mean"]
    for plan in s.plans:
        for g in (*s.roles, "total"):
            for m in ("revenue", "incentive_cost", "total_comp", "share_at_quota"):
                want = float(np.mean(ref["metrics"][plan][g][m]))
                assert summ[(plan, g, m)] == pytest.approx(want, rel=1e-9, abs=1e-6), (plan, g, m)


# ---------------------------------------------------------------------------
# metrics and runs
# ---------------------------------------------------------------------------
def test_crediting_metrics_add_up():
    s = scenario_from_dict(_small_crediting())
    res = simlib.simulate(s, ["current"], trials=64, rng=2, behaviour="none")
    m = res.summary().set_index(["plan", "group", "metric"])["mean"]
    split = s.roles["key_account"].split
    # a split moves a fixed share of revenue: credited / booked is exactly 1 + share (booker + partner - 1)
    assert m[("current", "key_account", "credit_ratio")] == pytest.approx(
        1 + split.share * (split.booker + split.partner - 1), rel=1e-9)
    assert m[("current", "telesales", "credit_ratio")] == pytest.approx(1.0)
    # overlays book nothing and are credited with what they cover
    assert m[("current", "sales_engineer", "revenue")] == 0
    assert m[("current", "sales_engineer", "credited_revenue")] == pytest.approx(
        m[("current", "key_account", "credited_revenue")], rel=1e-9)
    # managers' roll-ups are not deal credit; their cost is their base and incentive
    assert m[("current", "ka_manager", "credited_revenue")] == 0
    for g, metric in (("sales_engineer", "overlay_cost"), ("ka_manager", "manager_cost")):
        assert m[("current", g, metric)] == pytest.approx(m[("current", g, "total_comp")], rel=1e-9)
    assert m[("current", "total", "manager_cost")] == pytest.approx(
        sum(m[("current", g, "total_comp")] for g in ("ka_manager", "ts_manager", "director")), rel=1e-9)
    assert m[("current", "total", "revenue")] == pytest.approx(
        m[("current", "key_account", "revenue")] + m[("current", "telesales", "revenue")], rel=1e-9)


def test_crediting_numbers_do_not_depend_on_chunking():
    s = scenario_from_dict(_small_crediting())
    a = simlib.simulate(s, trials=70, rng=4, behaviour="none", chunk_size=70).summary()
    b = simlib.simulate(s, trials=70, rng=4, behaviour="none", chunk_size=16).summary()
    assert a["mean"].equals(b["mean"]) and a["se"].equals(b["se"])


def test_shipped_example_under_dynamic_pays_overlays_and_managers_who_do_not_respond():
    """Front-line reps respond to a harder plan; overlays and managers are paid on what they roll up, at today's effort."""
    scen = simlib.load_scenario(CREDITING)
    harder = scen.with_plan("harder", {"base": "current", "changes": {
        "roles": {"key_account": {"quota": {"level": 1.15}}}}})
    res = simlib.simulate(harder, ["current", "harder"], trials=64, rng=6, behaviour="dynamic")
    m = res.summary().set_index(["plan", "group", "metric"])["mean"]
    d = res.differences().set_index(["plan", "group", "metric"])
    assert m[("harder", "sales_engineer", "effort_index")] == 1 and m[("harder", "ka_manager", "effort_index")] == 1
    assert m[("harder", "key_account", "effort_index")] != 1
    # the overlay and the managers are credited with the key accounts' changed results
    delta_ka = d.loc[("harder", "key_account", "credited_revenue"), "diff"]
    assert d.loc[("harder", "sales_engineer", "credited_revenue"), "diff"] == pytest.approx(delta_ka, rel=1e-9)
    assert m[("current", "total", "overlay_cost")] > 0 and m[("current", "total", "manager_cost")] > 0


def test_cli_runs_the_example_and_refuses_a_bad_credit(capsys, tmp_path):
    assert main(["run", str(CREDITING), "--trials", "20", "--group", "total"]) == 0
    out = capsys.readouterr().out
    assert "Overlay cost" in out or "overlay_cost" in out
    d = yaml.safe_load(CREDITING.read_text())
    d["roles"]["ka_manager"]["credited_on"]["role"] = "key_acount"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(d))
    assert main(["validate", str(bad)]) == 1
    err = capsys.readouterr()
    text = err.out + err.err
    assert "roles.ka_manager.credited_on.role" in text and "'key_acount' is not a role" in text
    assert "Traceback" not in text


def test_run_year_is_not_called_for_overlays(monkeypatch):
    """Overlays and managers produce nothing: only front-line roles' years are simulated."""
    s = scenario_from_dict(_small_crediting())
    seen = []
    monkeypatch.setattr(pipeline, "run_year", lambda w, p=None: seen.append(w.name) or run_year(w, p))
    draws = draw_chunk(Layout.of(s), root_seed(1), np.arange(2))
    list(passes(s, list(s.plans), worlds(s, draws), None))
    assert sorted(set(seen)) == ["key_account", "telesales"]


# ---------------------------------------------------------------------------
# managers named in a roster
# ---------------------------------------------------------------------------
ROSTER_HEADER = "rep_id,role,team,manager,base_salary,target_incentive,hire_date"
ROSTER_ROWS = [
    "K1,key_account,East,M2,90000,60000,2018-01-01",
    "K2,key_account,East,M1,90000,60000,2019-01-01",
    "K3,key_account,West,M1,90000,60000,2017-01-01",
    "K4,key_account,West,M2,90000,60000,2020-01-01",
    "K5,key_account,West,M1,90000,60000,2016-01-01",
    "M1,ka_manager,Leads,,130000,50000,2015-01-01",
    "M2,ka_manager,Leads,,125000,45000,2015-06-01",
]


def _roster_scenario(tmp_path, rows=ROSTER_ROWS):
    (tmp_path / "roster.csv").write_text("\n".join([ROSTER_HEADER, *rows]) + "\n")
    d = yaml.safe_load(CREDITING.read_text())
    d["roles"] = {"key_account": d["roles"]["key_account"], "ka_manager": d["roles"]["ka_manager"]}
    for spec in d["roles"].values():
        spec.pop("headcount")
    d["roles"]["key_account"].pop("split")
    d["plans"] = {"current": {"roles": {r: d["plans"]["current"]["roles"][r] for r in d["roles"]}}}
    d.update(roster="roster.csv", year_start="2026-01-01")
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


def test_roster_managers_lead_the_reps_who_name_them(tmp_path):
    s = simlib.load_scenario(_roster_scenario(tmp_path))
    draws = draw_chunk(Layout.of(s), root_seed(3), np.arange(8))
    out = {o.role: o for o in passes(s, ["current"], worlds(s, draws), None)}
    ids = list(s.roster_data.roles["key_account"].ids)
    rev = dict(zip(ids, np.moveaxis(out["key_account"].credit.booked, 1, 0), strict=True))
    mgr = list(s.roster_data.roles["ka_manager"].ids)
    credited = out["ka_manager"].credit.credited
    np.testing.assert_allclose(credited[:, mgr.index("M1")], rev["K2"] + rev["K3"] + rev["K5"], rtol=1e-12)
    np.testing.assert_allclose(credited[:, mgr.index("M2")], rev["K1"] + rev["K4"], rtol=1e-12)


@pytest.mark.parametrize("change, words", [
    (lambda rows: [rows[0].replace(",M2,", ",M9,"), *rows[1:]], "name managers ['M9'] who are not ka_manager reps"),
    (lambda rows: [rows[0].replace(",M2,", ",,"), *rows[1:]], "1 key_account reps have no manager"),
    (lambda rows: [r.replace(",M2,", ",M1,") for r in rows], "ka_manager reps ['M2'] lead no key_account rep"),
])
def test_bad_roster_managers_name_the_file_and_column(tmp_path, change, words):
    with pytest.raises(ScenarioError) as ei:
        simlib.load_scenario(_roster_scenario(tmp_path, change(ROSTER_ROWS)))
    assert any(p.source.endswith("roster.csv") and p.field == "manager" and words in p.message
               for p in ei.value.problems), [str(p) for p in ei.value.problems]


def test_roster_without_managers_needs_one_manager_per_team(tmp_path):
    rows = [",".join(r.split(",")[:3] + [""] + r.split(",")[4:]) for r in ROSTER_ROWS]
    s = simlib.load_scenario(_roster_scenario(tmp_path, rows))  # 2 teams (East, West), 2 managers
    assert s.roster_data.roles["ka_manager"].headcount == 2
    with pytest.raises(ScenarioError, match="3 ka_manager reps for 2 key_account teams"):
        simlib.load_scenario(_roster_scenario(tmp_path, [*rows, "M3,ka_manager,Leads,,120000,40000,2015-01-01"]))


def test_report_tables_show_overlay_and_manager_cost_only_where_there_is_crediting(small_scenario):
    import simlib.report.summary as rs

    res = simlib.simulate(CREDITING, ["current", "overlay_commission"], trials=8, rng=0, behaviour="none")
    rows = rs.levels_table(res, "total").data.index.tolist()
    assert {"credited_revenue", "credit_ratio", "overlay_cost", "manager_cost"} <= set(rows)
    assert rs.better("overlay_cost") == -1 and rs.better("manager_cost") == -1
    plain = simlib.simulate(small_scenario, trials=4, rng=0, behaviour="none")
    assert not set(rs.CREDIT_ROWS) & set(rs.levels_table(plain, "total").data.index)


def test_a_calibrated_front_line_carries_over_to_its_credited_roles():
    """Credited roles always take the covered reps' seasonality and production (a calibrated scenario's
    dump keeps stale copies of them, which are replaced)."""
    d = _small_crediting()
    d["roles"]["sales_engineer"]["seasonality"] = [1.0] * 12
    d["roles"]["sales_engineer"]["production"] = {"deals_per_month": 9.0}
    s = scenario_from_dict(d)
    assert s.roles["sales_engineer"].seasonality == s.roles["key_account"].seasonality
    assert s.roles["sales_engineer"].production == s.roles["key_account"].production


def test_calibrate_keeps_credited_roles_from_the_template(tmp_path):
    from simlib.fit.calibrate import calibrate
    from simlib.fit.synth import synth_history

    scen = simlib.load_scenario(CREDITING)
    frame, _ = synth_history(scen, rng=2)
    hist = tmp_path / "h.csv"
    frame.to_csv(hist, index=False)
    from simlib.fit.history import read_history

    fit = calibrate(read_history(hist, {r: x.process for r, x in scen.roles.items()}), scen, trials=8)
    assert "no production of its own to fit" in fit.kept["roles.sales_engineer"]
    assert not any(e.path.startswith("roles.sales_engineer.") for e in fit.estimates)


def test_roster_managers_may_sit_in_the_team_they_lead(tmp_path):
    """A front-line rep in a team of another role is refused (test_roster.py); a credited role's rep (a manager,
    an overlay) listed in the team of the reps it covers is not: that is where an analyst writes them."""
    rows = [r.replace(",Leads,", ",East,") for r in ROSTER_ROWS]
    s = simlib.load_scenario(_roster_scenario(tmp_path, rows))
    assert s.roster_data.roles["ka_manager"].teams == ("East",)
