"""The invariants of issue "Predictions an analyst can trust", checked on every shipped scenario and mechanic.

- No crash at target incentive 0 (a pure-commission role, ``pay_mix = 0``), base salary 0, headcount 1:
  every plan runs under ``dynamic`` with finite metrics (payout multiples, incentive / TI, are undefined
  at TI 0 and reported as NaN).
- Relabelling neutrality: where pay does not use ``target_incentive`` (commissions, per-unit pay, lump
  sums, draws, SPIFFs, clawbacks, programmes, projects, versions, crediting ...), changing the label
  changes no metric but the payout multiples that report it; relabelling the currency unit (all money
  x 1000) scales money by 1000 and leaves effort and attainment as they were.
- Behavioural uncertainty in every answer: run, sweep, optimise and backtest with parameter draws on
  the shipped scenarios, and the same numbers on a process pool as serially.

docs/model.md, section 4.10 ("Invariants checked on every shipped scenario") lists what is checked.
"""

from __future__ import annotations

import copy
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from conftest import ROOT

import simlib
from simlib.design.optimize import optimize
from simlib.design.sweep import run_sweep
from simlib.engine.years import run_years
from simlib.scenario import Scenario, scenario_from_dict

SHIPPED = sorted((ROOT / "simlib" / "shipped" / "scenarios").rglob("*.yaml"))
#: the scenarios of the plan mechanics (the validation scenarios are one role each, for the findings)
MAIN = [p for p in SHIPPED if "validation" not in p.parts]
#: the metrics that report the target-incentive label itself (incentive / TI)
LABEL = {"payout_p10", "payout_p50", "leverage"}
#: money fields of a role's ``production`` section
_MONEY_PRODUCTION = {"deal_value", "deal_size_mean", "large_order_threshold", "existing_revenue_per_month",
                     "partner_mature_revenue", "revenue_per_month", "revenue_per_unit"}
K = 1000.0


def _id(p) -> str:
    return str(p.relative_to(ROOT / "simlib" / "shipped" / "scenarios"))


def _load(path) -> tuple[Scenario, dict]:
    s = simlib.load_scenario(path)
    return s, s.model_dump(by_alias=True)


def _role_plans(d: dict):
    for plan in d["plans"].values():
        yield from plan["roles"].items()


def _set_pay(d: dict, field: str, value=None, factor=None) -> dict:
    """``field`` (base_salary or target_incentive) of every role, and of every plan that sets its own, to
    ``value`` or times ``factor`` (a dict role -> factor)."""
    d = copy.deepcopy(d)
    for r, role in d["roles"].items():
        role[field] = value if factor is None else role[field] * factor[r]
    for r, rp in _role_plans(d):
        if rp.get(field) is not None:
            rp[field] = value if factor is None else rp[field] * factor[r]
    return d


def _summary(s: Scenario, trials: int = 4, rng: int = 3):
    return simlib.simulate(s, None, trials=trials, rng=rng, behaviour="dynamic").summary()


def _finite(summ) -> None:
    from simlib.engine.results import NOT_APPLICABLE

    # a metric not applicable to a group (no trial has a value: the last month's share of a plan paid monthly) is n/a
    rest = summ[~summ.metric.isin(LABEL) & ~((summ["n"] == 0) & summ.metric.isin(NOT_APPLICABLE))]
    bad = rest[~np.isfinite(rest["mean"].to_numpy(dtype=float))]
    assert bad.empty, sorted(set(zip(bad.plan, bad.group, bad.metric, strict=True)))[:10]


# --------------------------------------------------------------------------
# 1. No crash at target incentive 0, base salary 0, headcount 1
# --------------------------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED, ids=_id)
def test_every_plan_runs_at_target_incentive_zero(path):
    """Every role at target incentive 0 (plans paying by it then pay nothing by it): finite metrics."""
    s, d = _load(path)
    summ = _summary(scenario_from_dict(_set_pay(d, "target_incentive", 0.0), s.source))
    _finite(summ)
    # payout multiples are undefined without a target incentive: NaN, not a huge or infinite multiple
    assert summ[summ.metric.isin(LABEL)]["mean"].isna().all()


@pytest.mark.parametrize("path", MAIN, ids=_id)
@pytest.mark.parametrize("variant", ["headcount_1", "base_salary_0_zero_weights"])
def test_every_plan_runs_without_salary_with_one_rep_and_with_zero_weights(path, variant):
    s, d = _load(path)
    if variant == "headcount_1":
        if s.roster is not None:
            pytest.skip("headcount comes from the roster")
        for role in d["roles"].values():
            role["headcount"] = 1
    else:  # no salary, and every weighted pay element (curves, scorecards) at weight 0: the rest pays
        d = _set_pay(d, "base_salary", 0.0)
        for _, rp in _role_plans(d):
            for c in rp["components"]:
                if c["kind"] == "curve":
                    c["weight"] = 0.0
            for sc in rp.get("scorecards") or []:
                sc["weight"] = 0.0
            weighted = any(c["kind"] == "curve" for c in rp["components"]) or rp.get("scorecards")
            rp["weights_total"] = 0.0 if weighted else None  # stated: the weights sum to 0 on purpose
    _finite(_summary(scenario_from_dict(d, s.source)))


# --------------------------------------------------------------------------
# 2. Relabelling neutrality: the target-incentive label and the currency unit
# --------------------------------------------------------------------------


def _commissions_only(d: dict) -> dict:
    """The scenario with every pay element that uses the target incentive replaced by one that does not:
    curves by commissions on the same measure and period, scorecards by a revenue commission. Everything
    else (lump sums, per-unit pay, draws, SPIFFs, clawbacks, programmes, projects, versions, crediting,
    currencies, gates, modifiers, team pay, recognition) stays as shipped."""
    d = copy.deepcopy(d)
    for _, rp in _role_plans(d):
        comps = []
        for c in rp["components"]:
            if c["kind"] == "curve":
                c = {k: v for k, v in c.items() if k in ("name", "measure", "period", "ytd_true_up", "target", "cap")}
                c.update(kind="commission", tiers=[{"from": 0.0, "rate": 0.01}, {"from": 1.0, "rate": 0.03}])
            comps.append(c)
        if rp.get("scorecards"):
            rp["scorecards"] = []
            comps.append({"name": "card_commission", "measure": "revenue", "kind": "commission", "period": "quarter",
                          "tiers": [{"from": 0.0, "rate": 0.02}]})
        rp["components"] = comps
        rp.pop("weights_total", None)
    return d


def _identical_but_the_label(a, b) -> None:
    """Every metric of every plan and role the same to the last bit, the payout multiples (the label) aside."""
    a, b = a[~a.metric.isin(LABEL)], b[~b.metric.isin(LABEL)]
    m = a.merge(b, on=["plan", "group", "metric"], suffixes=("", "_relabelled"))
    assert len(m) == len(a) == len(b)
    np.testing.assert_array_equal(m["mean"].to_numpy(dtype=float), m["mean_relabelled"].to_numpy(dtype=float))


@pytest.mark.parametrize("path", SHIPPED, ids=_id)
def test_relabelling_the_target_incentive_changes_nothing(path):
    """Plans that pay no money by the target incentive: the label at 0 for some roles and 2.5x for the others
    (every plan, also the current one) leaves every metric of every role and plan identical."""
    s, d = _load(path)
    d = _commissions_only(d)
    factor = {r: (0.0 if i % 2 == 0 else 2.5) for i, r in enumerate(d["roles"])}
    a = _summary(scenario_from_dict(d, s.source))
    _identical_but_the_label(a, _summary(scenario_from_dict(_set_pay(d, "target_incentive", factor=factor), s.source)))
    # the plans pay money by which reps steer (a check that the comparison is not empty)
    assert (a[a.metric == "incentive_cost"]["mean"].to_numpy(dtype=float) > 0).all()


def _money_measure(m: str) -> bool:
    return (m == "revenue" or m.startswith("revenue_")
            or m in ("profit_after_discounts", "market_size", "base_revenue", "large_order_value", "partner_revenue_new"))


def _scale_role_plan(rp: dict) -> None:
    """Every money amount of a role plan times :data:`K` (rates per unit of money stay)."""
    for f in ("base_salary", "target_incentive"):
        if rp.get(f) is not None:
            rp[f] *= K
    if (rp.get("quota") or {}).get("company_target") is not None:
        rp["quota"]["company_target"] *= K
    for c in rp["components"]:
        money = _money_measure(c["measure"])
        if c.get("target") not in (None, "quota") and money:
            c["target"] *= K
        if c["kind"] == "per_unit" and not money:
            c["rate"] *= K
        if c["kind"] == "commission" and not money:
            c["tiers"] = [{**t, "rate": t["rate"] * K} for t in c["tiers"]]
        if c["kind"] == "lump_sum":
            c["steps"] = [{**st, "amount": st["amount"] * K} for st in c["steps"]]
    for g in rp.get("gates") or []:
        if g.get("target") not in (None, "quota") and _money_measure(g["measure"]):
            g["target"] *= K
    for sc in rp.get("scorecards") or []:
        for m in sc["measures"]:
            if m.get("target") not in (None, "quota") and _money_measure(m["measure"]):
                m["target"] *= K
    for key, field in (("recognition", "value"), ("draw", "amount"), ("projects", "payout")):
        if rp.get(key):
            rp[key][field] *= K
    for sp in rp.get("spiffs") or []:
        sp["min_units" if _money_measure(sp["measure"]) else "rate"] *= K
        if sp.get("budget") is not None:
            sp["budget"] *= K
    for pg in rp.get("programmes") or []:
        for f in ("raise", "value", "cost_per_winner", "cost_per_head"):
            if pg.get(f) is not None:
                pg[f] *= K
        if pg["kind"] == "honour" and pg.get("measure", "revenue") != "revenue" and _money_measure(pg["measure"]):
            pg["threshold"] *= K


def _in_thousandths(d: dict) -> dict:
    """The scenario with its currency unit a thousandth of today's: every money amount times :data:`K`."""
    d = copy.deepcopy(d)
    for role in d["roles"].values():
        role["base_salary"] *= K
        role["target_incentive"] *= K
        for k in _MONEY_PRODUCTION & set(role.get("production") or {}):
            role["production"][k] *= K
    for _, rp in _role_plans(d):
        _scale_role_plan(rp)
    if (d.get("budget") or {}).get("incentive") is not None:
        d["budget"]["incentive"] *= K
    return d


@pytest.mark.parametrize("path", [p for p in MAIN if p.name in ("default.yaml", "mechanics.yaml", "midyear.yaml",
                                                                  "crediting.yaml", "role_examples.yaml")], ids=_id)
def test_relabelling_the_currency_unit_scales_money_only(path):
    """All money x 1000 (pay, deal sizes, plan amounts, fixed prizes; exchange rates are ratios of units
    scaled alike): money metrics x 1000, effort, attainment and pay shape as they were."""
    s, d = _load(path)
    a = _summary(s, trials=4)
    b = _summary(scenario_from_dict(_in_thousandths(d), s.source), trials=4)
    m = a.merge(b, on=["plan", "group", "metric"], suffixes=("", "_k"))
    same = m[m.metric.isin(["effort_index", "attainment_p50", "attainment_p90", "share_at_quota", "payout_p50",
                            "leverage", "gini_pay", "comp_cost_of_sales", "help_given", "last_month_share"])]
    np.testing.assert_allclose(same["mean_k"].to_numpy(dtype=float), same["mean"].to_numpy(dtype=float), rtol=1e-9)
    money = m[m.metric.isin(["revenue", "incentive_cost", "total_comp", "profit", "base_cost"])]
    np.testing.assert_allclose(money["mean_k"].to_numpy(dtype=float) / K, money["mean"].to_numpy(dtype=float), rtol=1e-9)


def test_invariants_hold_for_mechanics_no_shipped_scenario_uses():
    """Quota relief, quarterly feedback, help rivalry, top-down (a money company target) and last-year quotas
    on the default scenario: TI 0 runs, the label is neutral and money x 1000 scales money only."""
    s, d = _load(ROOT / "scenarios" / "default.yaml")
    d["behaviour"]["rivalry"] = {"enabled": True, "target_pressure": 2.0, "rank_rivalry": 3.0}
    for _, rp in _role_plans(d):
        rp.update(quota_relief={"band": 0.05, "share": 0.8}, feedback={"cadence": "quarter"})
    hard = d["plans"]["harder_target"]["roles"]
    hard["channel"]["quota"] = {"method": "top_down", "level": 1.0, "company_target": 22_000_000}
    hard["telesales"]["quota"] = {"method": "last_year", "growth": 0.05}
    _finite(_summary(scenario_from_dict(_set_pay(d, "target_incentive", 0.0), s.source)))
    dc = _commissions_only(d)
    factor = {r: (0.0 if i % 2 == 0 else 2.5) for i, r in enumerate(dc["roles"])}
    _identical_but_the_label(_summary(scenario_from_dict(dc, s.source)),
                             _summary(scenario_from_dict(_set_pay(dc, "target_incentive", factor=factor), s.source)))
    a, b = _summary(scenario_from_dict(d, s.source)), _summary(scenario_from_dict(_in_thousandths(d), s.source))
    m = a.merge(b, on=["plan", "group", "metric"], suffixes=("", "_k"))
    same = m[m.metric.isin(["effort_index", "attainment_p50", "share_at_quota", "help_given"])]
    np.testing.assert_allclose(same["mean_k"].to_numpy(dtype=float), same["mean"].to_numpy(dtype=float), rtol=1e-9)
    money = m[m.metric.isin(["revenue", "incentive_cost"])]
    np.testing.assert_allclose(money["mean_k"].to_numpy(dtype=float) / K, money["mean"].to_numpy(dtype=float), rtol=1e-9)


def test_relabelling_the_rosters_target_incentives_changes_nothing(tmp_path):
    """example_org/org.yaml paid by commissions: every rep's target incentive in the roster x 2.5 (so the
    roles' too, their means) changes no metric but the payout multiples."""
    import pandas as pd
    import yaml

    src = ROOT / "scenarios" / "example_org"
    plans = _commissions_only(simlib.load_scenario(src / "org.yaml").model_dump(by_alias=True))["plans"]
    out = []
    for f in (1.0, 2.5):
        where = tmp_path / f"x{f:g}"
        where.mkdir()
        (where / "history.csv").write_bytes((src / "history.csv").read_bytes())
        roster = pd.read_csv(src / "roster.csv")
        roster["target_incentive"] *= f
        roster.to_csv(where / "roster.csv", index=False)
        d = yaml.safe_load((src / "org.yaml").read_text())
        d["plans"] = plans
        for role in d["roles"].values():
            role.pop("target_incentive", None)  # the roster's mean
        (where / "org.yaml").write_text(yaml.safe_dump(d, sort_keys=False))
        s = simlib.load_scenario(where / "org.yaml")
        assert s.roles["telesales"].target_incentive == pytest.approx(f * 18280.0)
        out.append(_summary(s))
    _identical_but_the_label(*out)


def test_relabelling_one_currency_with_its_exchange_rate_changes_nothing_reported():
    """midyear.yaml: the US role's money in thousandths of a dollar (x 1000) and the USD rate / 1000. In the
    reporting currency nothing changes (to rounding); in the role's own currency money is x 1000."""
    s, d = _load(ROOT / "scenarios" / "midyear.yaml")
    d2 = copy.deepcopy(d)
    usd = [r for r, role in d2["roles"].items() if role.get("currency") == "USD"]
    assert usd
    for r in usd:
        role = d2["roles"][r]
        role["base_salary"] *= K
        role["target_incentive"] *= K
        for k in _MONEY_PRODUCTION & set(role.get("production") or {}):
            role["production"][k] *= K
        for plan in d2["plans"].values():
            _scale_role_plan(plan["roles"][r])
    d2["fx"]["USD"] /= K
    a, b = _summary(s), _summary(scenario_from_dict(d2, s.source))
    m = a.merge(b, on=["plan", "group", "metric"], suffixes=("", "_k"))
    local = m.metric.isin(["incentive_cost_local", "total_comp_local", "fx_rate"])
    np.testing.assert_allclose(m.loc[~local, "mean_k"].to_numpy(dtype=float), m.loc[~local, "mean"].to_numpy(dtype=float),
                               rtol=1e-9, atol=1e-9)
    us = m[m.group.isin(usd) & m.metric.isin(["incentive_cost_local", "total_comp_local"])]
    assert len(us)
    np.testing.assert_allclose(us["mean_k"].to_numpy(dtype=float) / K, us["mean"].to_numpy(dtype=float), rtol=1e-9)


# --------------------------------------------------------------------------
# 3. Behavioural uncertainty in every answer
# --------------------------------------------------------------------------


@pytest.mark.parametrize("path", MAIN, ids=_id)
def test_run_with_behavioural_draws_reports_model_uncertainty_and_sign_robustness(path):
    """Each scenario's last plan (its richest mechanics) against the current one, two parameter draws."""
    s = simlib.load_scenario(path)
    plans = [s.current_plan, [p for p in s.plans if p != s.current_plan][-1]]
    ens = simlib.simulate_ensemble(s, plans, trials=4, rng=2, behaviour="dynamic", behaviour_draws=2)
    diff = ens.differences()
    assert {"mc_se", "model_sd", "total_sd", "n_positive", "share_positive"} <= set(diff.columns)
    tot = diff[(diff.group == "total") & (diff.metric == "profit")]
    assert len(tot) == 1
    assert np.isfinite(tot[["diff", "mc_se", "model_sd", "total_sd"]].to_numpy(dtype=float)).all()
    [sentence] = ens.sentences("profit")
    assert plans[1] in sentence and "2" in sentence


def test_pure_commission_role_under_behavioural_draws():
    """A target incentive of 0 with parameter draws: every draw runs, the spread between draws is finite."""
    s, d = _load(MAIN[0].parent / "default.yaml")
    s0 = scenario_from_dict(_set_pay(d, "target_incentive", 0.0), s.source)
    ens = simlib.simulate_ensemble(s0, trials=4, rng=1, behaviour="dynamic", behaviour_draws=2)
    summ = ens.summary()
    rest = summ[~summ.metric.isin(LABEL)]
    assert np.isfinite(rest[["mean", "model_sd"]].to_numpy(dtype=float)).all()


@pytest.mark.parametrize("name", ["mechanics.yaml", "crediting.yaml", "midyear.yaml"])
def test_pay_mix_sweep_to_pure_commission_with_behavioural_draws(name):
    out = run_sweep(ROOT / "scenarios" / name, {"pay_mix": [0.0, 0.4]}, trials=4, rng=0, behaviour="dynamic",
                    behaviour_draws=2)
    assert {"model_sd", "draws"} <= set(out.columns)
    tot = out[(out.group == "total") & out.metric.isin(["revenue", "profit", "effort_index"])]
    assert np.isfinite(tot[["mean", "se", "model_sd", "diff"]].to_numpy(dtype=float)).all()


def test_optimise_pay_mix_down_to_zero_with_behavioural_draws():
    res = optimize(ROOT / "scenarios" / "mechanics.yaml", {"pay_mix": (0.0, 0.4)}, trials=4, starts=2, maxiter=2,
                   sensitivity=[], behaviour="dynamic", behaviour_draws=2)
    rob = res.to_dict()["robustness"]
    # a row without trials is a metric not applicable to its group (inside sales paid monthly: its last month's share)
    assert rob and all(np.isfinite(r["model_sd"]) and r["n_positive"] + r["n_negative"] <= 2 for r in rob if r["n"])
    assert all(r["metric"] == "last_month_share" for r in rob if not r["n"])


def test_ensemble_same_numbers_on_a_process_pool(tmp_path):
    """Draws, SPIFFs, clawbacks and guarantees (mechanics.yaml) under parameter draws: a pool of two
    processes and other chunks give the serial run's numbers exactly."""
    path = ROOT / "scenarios" / "mechanics.yaml"
    kw = dict(trials=6, rng=4, behaviour="dynamic", behaviour_draws=2)
    grid = {"pay_mix": [0.0, 0.4]}
    serial = simlib.simulate_ensemble(path, **kw).summary()
    serial_sweep = run_sweep(path, grid, **kw)
    with ProcessPoolExecutor(2) as ex:
        pooled = simlib.simulate_ensemble(path, chunk_size=4, executor=ex, **kw).summary()
        pooled_sweep = run_sweep(path, grid, chunk_size=4, executor=ex, **kw)
    cols = ["mean", "mc_se", "model_sd"]
    np.testing.assert_array_equal(serial[cols].to_numpy(dtype=float), pooled[cols].to_numpy(dtype=float))
    cols = ["mean", "se", "model_sd", "diff"]
    np.testing.assert_array_equal(serial_sweep[cols].to_numpy(dtype=float), pooled_sweep[cols].to_numpy(dtype=float))
# --------------------------------------------------------------------------
# Several years: attrition and hiring cost on today's on-target pay
# --------------------------------------------------------------------------


def _with_attrition(d: dict) -> dict:
    d = copy.deepcopy(d)
    d.setdefault("people", {}).setdefault("attrition", {})["enabled"] = True
    return d


@pytest.mark.parametrize("name", ["default.yaml", "mechanics.yaml"])
def test_attrition_does_not_read_the_target_incentive_label_of_a_commission_plan(name):
    """Plans paid without the target incentive (the scenario's commission variant): over two years with
    attrition, leavers and hiring cost do not move with the label (they use today's mean incentive).
    Before, channel's label in the default scenario moved them (base + TI was today's on-target pay)."""
    s, d = _load(ROOT / "scenarios" / name)
    d = _with_attrition(_commissions_only(d))
    factor = {r: (0.0 if i % 2 == 0 else 2.5) for i, r in enumerate(d["roles"])}
    frames = []
    for dd in (d, _set_pay(d, "target_incentive", factor=factor)):
        res = run_years(scenario_from_dict(dd, s.source), None, years=2, trials=3, rng=5)
        frames.append(res.frame.set_index(["plan", "year", "group", "metric"])["mean"])
    np.testing.assert_array_equal(frames[0].to_numpy(dtype=float), frames[1].to_numpy(dtype=float))


def test_relabelling_is_neutral_for_risk_averse_reps_and_under_behavioural_draws():
    """CARA risk aversion and the ensemble's parameter draws (which vary it) scale with today's pay at
    stake, not with the label: identical results, model SD included."""
    s, d = _load(ROOT / "scenarios" / "default.yaml")
    d = _commissions_only(d)
    d["behaviour"]["effort"]["risk_aversion"] = 0.8
    factor = {r: (0.0 if i % 2 == 0 else 2.5) for i, r in enumerate(d["roles"])}
    _identical_but_the_label(*(simlib.simulate(scenario_from_dict(dd, s.source), ["current", "harder_target"], trials=4,
                                               rng=3, behaviour="dynamic").summary()
                               for dd in (d, _set_pay(d, "target_incentive", factor=factor))))
    # the draws replace risk aversion (0 to 1 per S) and the other parameters
    out = [simlib.simulate_ensemble(scenario_from_dict(dd, s.source), ["current", "harder_target"], trials=4, rng=2,
                                    behaviour="dynamic", behaviour_draws=2).summary()
           for dd in (d, _set_pay(d, "target_incentive", factor=factor))]
    a, b = (o[~o.metric.isin(LABEL)].set_index(["plan", "group", "metric"]) for o in out)
    assert (out[0].loc[out[0].plan == "harder_target", "model_sd"] > 0).any()  # the draws do differ
    np.testing.assert_array_equal(a[["mean", "model_sd"]].to_numpy(dtype=float), b[["mean", "model_sd"]].to_numpy(dtype=float))


def test_attrition_with_nothing_paid_on_target_is_finite():
    """A role with base salary 0 and target incentive 0 (commission only) over two years: no division
    by a zero on-target pay, finite people metrics."""
    s, d = _load(ROOT / "scenarios" / "default.yaml")
    d = _with_attrition(d)
    d["roles"]["key_account"].update(base_salary=0.0, target_incentive=0.0)
    for _, rp in _role_plans(d):
        if _ == "key_account":
            rp.update(base_salary=None, target_incentive=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = run_years(scenario_from_dict(d, s.source), ["current", "harder_target"], years=2, trials=4, rng=5)
    f = res.frame[res.frame.group == "key_account"]
    assert np.isfinite(f["mean"].to_numpy(dtype=float)).all()
    assert f[f.metric == "turnover_rate"]["mean"].sum() > 0  # a commission-only role still has leavers


# --------------------------------------------------------------------------
# Reports: the figures of the notebooks and the explorer at target incentive 0
# --------------------------------------------------------------------------


def test_report_figures_draw_a_role_without_target_incentive():
    """Pay curves and payout histograms are drawn as multiples of the target incentive: at TI 0 there is
    nothing to draw, and the figure says so instead of failing (the policy-comparison, role-schemes and
    explorer notebooks stopped with "Number of rows must be a positive integer, not 0")."""
    from simlib.report import plots
    from simlib.report.explorer import Explorer
    from simlib.report.notebook import pay_curve_table, rep_outcomes

    s, d = _load(ROOT / "scenarios" / "default.yaml")
    s0 = scenario_from_dict(_set_pay(d, "target_incentive", 0.0), s.source)
    curves = pay_curve_table(s0)
    assert curves.empty  # no multiple of a target incentive to draw
    reps = rep_outcomes(s0, ["current"], trials=1, rng=0, behaviour="none")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "no artists with labels" legend warning either
        for fig in (plots.pay_curves(curves), plots.payout_distribution(reps), plots.attainment_distribution(reps)):
            assert fig.axes
        for fig in (plots.pay_curves(curves), plots.payout_distribution(reps)):
            note = [t.get_text() for ax in fig.axes for t in ax.texts]
            assert any("target incentive" in t for t in note), note
    ex = Explorer(s0, role="channel", trials=4, seed=1, rep_trials=1, behaviour="none")
    snap = ex.update(target_level=1.1)
    assert len(snap["figures"]) == 4 and all(f.axes for f in snap["figures"])


# --------------------------------------------------------------------------
# Backtest on a scenario with crediting: the synthetic history is readable
# --------------------------------------------------------------------------


def test_synthetic_history_of_managers_and_overlays_reads_back_and_backtests(tmp_path):
    """A manager's row holds their team's credited results: its talk time is the team's hours, above one
    person's 744 a month (crediting.yaml: 10 telesales reps a manager). synth wrote it, and reading it
    back stopped with "value too large: 'talk_time'"; a rep's own row keeps the per-person bound."""
    from simlib.fit.backtest import backtest
    from simlib.fit.history import HistoryError, credited_roles, read_history, write_history
    from simlib.fit.synth import synth_history

    s = simlib.load_scenario(ROOT / "scenarios" / "crediting.yaml")
    frame, _ = synth_history(s, rng=2, years=2, plan2="overlay_commission")
    assert frame.loc[frame.role == "ts_manager", "talk_time"].max() > 744
    path = tmp_path / "h.csv"
    write_history(frame, path)
    roles = {r: x.process for r, x in s.roles.items()}
    hist = read_history(path, roles, rolled_up=credited_roles(s))
    bt = backtest(hist, s, plan_after="overlay_commission", trials=4, rng=0, bootstrap=0, behaviour_draws=2)
    f = bt.frame().set_index(["group", "metric"])
    assert np.isfinite(f.loc["total", ["predicted", "lo", "hi"]].to_numpy(dtype=float)).all()
    # the total counts booked revenue once, as simlib run does: managers' and overlays' rows are the
    # covered reps' revenue again; their pay is the company's cost and counts
    for col in ("actual", "predicted"):
        booked = f.at[("key_account", "revenue"), col] + f.at[("telesales", "revenue"), col]
        assert f.at[("total", "revenue"), col] == pytest.approx(booked, rel=1e-12)
        paid = sum(f.at[(r, "payout"), col] for r in s.roles)
        assert f.at[("total", "payout"), col] == pytest.approx(paid, rel=1e-12)
    # the same hours on a telesales rep's own row are still refused
    frame.loc[frame.index[frame.role == "telesales"][0], "talk_time"] = 800.0
    write_history(frame, tmp_path / "bad.csv")
    with pytest.raises(HistoryError, match="talk_time"):
        read_history(tmp_path / "bad.csv", roles, rolled_up=credited_roles(s))
