"""The randomized audit of behaviour ``dynamic`` on valid set-ups (benchmarks/dynamic_audit.py, docs/model.md 6.2).

Random scenarios of the closed-form audit's generator, varied (headcount 1, no
target incentive or base salary, extreme spreads, several plans per role), run
under ``dynamic``: no exception, finite metrics, the current plan equal to
behaviour ``none``, target-incentive relabelling neutral, money x1000 scaling
money only, the same numbers on any chunking and worker count and on both the
compiled and NumPy paths.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import simlib
from benchmarks import dynamic_audit as da

#: seed 1: telesales with a team and a draw, TI 0, 40 reps (0); key accounts with a gate and a draw, TI 0 (1); a
#: channel role of extreme spreads (2); a generic role of one rep, extreme spreads (7); key accounts with a SPIFF and a
#: gate, extreme ability spread (5); a draw-swamped per-unit plan that moved focus under money x1000 (29)
SEEDED = [0, 1, 2, 5, 7, 29]


#: (case, check) of seed 1 known to fail, each pinned by a strict xfail of its own below
KNOWN: set[tuple[int, str]] = set()


@pytest.mark.slow
@pytest.mark.parametrize("index", SEEDED)
def test_dynamic_audit_case_passes(index):
    got = da.audit_case(index, 8, 1, ensemble=index == 0)
    assert {o.check for o in got} >= {"runs", "finite", "current=none", "chunks+workers", "compiled=numpy"}
    bad = [f"{o.check}: {o.detail}" for o in got if not o.ok and (index, o.check) not in KNOWN]
    assert not bad, bad


@pytest.mark.slow
def test_seed_1_case_1_smooth_draws_passes():
    """Seed 1, case 1, ``smooth draws``: seasonality[2] x0.99999 moves plan n_milestones' attainment_p50 0.83767 ->
    0.83675 (revenue -0.016%, effort index equal to 4 digits, ``none`` 0; its solution's tables move by 7e-7): one
    rep-year of the 40 (trial 6, the median rep of 5) closes 37 deals, not 38, so that trial's median goes 0.7586 ->
    0.7513 and the mean over 8 trials by 0.00092, beyond ``1e-3`` of the median (0.00084). A quantile over finitely
    many reps flips by one order statistic as ``share_at_quota`` by one rep-year: the bound now allows the largest
    neighbouring gap at the median over the trials (:func:`benchmarks.dynamic_audit.order_statistic_step`)."""
    got = {o.check: o for o in da.audit_case(1, 8, 1)}
    assert got["smooth draws"].ok, got["smooth draws"].detail


def test_money_x1000_scales_every_amount_once():
    """The audit's scaling: money amounts x1000 (each once, though plans share components), fractions kept."""
    data = da.audit_scenario(1, 1)
    big = da.money_x1000(data)
    role, brole = data["roles"]["r"], big["roles"]["r"]
    assert brole["base_salary"] == 1000 * role["base_salary"]
    assert brole["production"]["deal_size_mean"] == 1000 * role["production"]["deal_size_mean"]
    rp, brp = data["plans"]["current"]["roles"]["r"], big["plans"]["current"]["roles"]["r"]
    for c, bc in zip(rp["components"], brp["components"], strict=True):
        if c["kind"] == "lump_sum":
            assert [s["amount"] * 1000 for s in c["steps"]] == [s["amount"] for s in bc["steps"]]
        if c["kind"] == "commission":
            assert c["tiers"] == bc["tiers"]
    assert brp["draw"]["amount"] == 1000 * rp["draw"]["amount"]
    assert data["plans"]["c1"]["roles"]["r"]["components"][0] == rp["components"][1]  # the original is untouched
    simlib.scenario_from_dict(big, "x1000")  # valid
    assert np.isfinite(brole["target_incentive"])


def test_a_metric_seen_in_one_trial_has_no_standard_error_and_is_no_failure():
    """Seed 12, case 15: a capped curve every rep tops in all but one of 5 trials, so the pay-performance correlation
    is defined in one trial; its mean is reported, its SE is undefined ("± n/a"), which the checks accept."""
    data = da.audit_scenario(15, 12)
    r = da.Runs(15, data, 10, 12, simlib.scenario_from_dict(data, "case 15"), extra={"ensemble": True})
    s = simlib.simulate_ensemble(r.scen, behaviour_draws=2, trials=5, rng=12, behaviour="dynamic").summary()
    one = s[s.n == 1]
    assert len(one) and np.isfinite(one["mean"]).all() and one["mc_se"].isna().all()
    assert da.check_ensemble(r) == ""
    r.dyn = da.summary(r.scen, 5, 12)
    assert (r.dyn.n == 1).any() and da.check_finite(r) == ""


def test_relabelling_a_copy_of_todays_plan_keeps_todays_help():
    """Seed 13, case 17: today's plan pays only money (a lump sum, a draw, team weighting), so its money-only copy is
    today's plan and its relabelled copies are solved as new plans; their help came out 1 + 2e-16, not 1 (the mean
    field's output moved the team pool's marginal pay in its last bits), and the relabelling check failed."""
    data = da.audit_scenario(17, 13)
    r = da.Runs(17, data, 6, 13, simlib.scenario_from_dict(data, "case 17"))
    r.dyn = da.summary(r.scen, 6, 13)
    assert da.check_relabel(r) == ""
    help_given = r.dyn[(r.dyn.metric == "help_given") & (r.dyn.group == "r")].set_index("plan")["mean"]
    assert (help_given[["current", "money", "label_high", "label_zero"]] == 1.0).all(), help_given


def test_a_metric_defined_in_one_draw_has_no_model_spread_and_is_no_failure():
    """Seed 14, case 55: the pay-performance correlation of a scorecard plan is defined in 4 of 10 trials under one
    behavioural draw and in none under the other; the ensemble reports that draw's mean with no between-draw spread
    ("± n/a"), which the ensemble check accepts."""
    data = da.audit_scenario(55, 14)
    r = da.Runs(55, data, 20, 14, simlib.scenario_from_dict(data, "case 55"), extra={"ensemble": True})
    s = simlib.simulate_ensemble(r.scen, behaviour_draws=2, trials=10, rng=14, behaviour="dynamic").summary()
    row = s[(s.plan == "sc") & (s.group == "r") & (s.metric == "pay_performance_corr")].iloc[0]
    assert np.isfinite(row["mean"]) and np.isfinite(row["mc_se"]) and np.isnan(row["model_sd"])
    assert da.check_ensemble(r) == ""


def test_a_spiff_todays_plan_has_too_moves_nothing():
    """Seed 14, case 59: today's plan pays only money, with a SPIFF on units; its relabelled copy pulled the SPIFF's
    deals forward and undid today's same pull, which left units (and cancelled revenue) off in their last bits, so
    relabelling changed numbers. A pull today's plan makes too is not made."""
    data = da.audit_scenario(59, 14)
    r = da.Runs(59, data, 20, 14, simlib.scenario_from_dict(data, "case 59"))
    r.dyn = da.summary(r.scen, 20, 14)
    assert da.check_relabel(r) == ""


def test_a_standard_error_of_rounding_is_compared_on_the_means_scale():
    """Seed 15, case 73: a SPIFF budget that binds in every trial costs the budget, 6.4e8, up to rounding; the SE is
    that rounding (2.7e-8, 4e-17 of the mean) and at 1000 times the money 1.5e-5, not 2.7e-5. An SE is compared
    within 1e-9 of its mean's size, as the mean is."""
    data = da.audit_scenario(73, 15)
    r = da.Runs(73, data, 12, 15, simlib.scenario_from_dict(data, "case 73"))
    r.dyn = da.summary(r.scen, 12, 15)
    cost = r.dyn[(r.dyn.plan == "current") & (r.dyn.group == "r") & (r.dyn.metric == "spiff_cost")].iloc[0]
    assert 0 < cost["se"] < 1e-12 * cost["mean"]
    assert da.check_x1000(r) == ""


@pytest.mark.parametrize("index", [13, 69])
def test_a_relabelled_copy_of_a_money_only_plan_is_todays_plan(index):
    """Seed 17, cases 13 and 69: today's plan pays only money (commissions, per-unit pay, lump sums, a SPIFF; team pay
    of weight 0.99 and 0.58), so a copy with another target incentive is today's plan under another label; solved as
    a new plan it came out 1 + 2e-16 in effort (13) and off in the last bits of incentive cost (69). It now takes
    today's solution, and gives today's numbers bit for bit."""
    data = da.audit_scenario(index, 17)
    r = da.Runs(index, data, 12, 17, simlib.scenario_from_dict(data, f"case {index}"))
    r.dyn = da.summary(r.scen, 12, 17)
    assert da.check_relabel(r) == ""


def test_rank_correlation_of_pay_does_not_depend_on_the_unit_of_money():
    """Seed 18, case 75 (a generic role with a draw, a gate and lump sums, 13 reps): pay 0 after the draw is paid
    back came out +-1e-12, ranked by its rounding, so the pay-performance correlation under the current plan was 0.732
    at one scale of money and 0.767 at 1000 times it (the audit's ``ties x1000`` check). Now equal to 1e-9."""
    data = da.audit_scenario(75, 18)
    got = []
    for d in (data, da.money_x1000(data)):
        s = simlib.simulate(simlib.scenario_from_dict(d, "case 75"), ["current"], trials=12, rng=18,
                            behaviour="dynamic").summary()
        got.append(s[(s.group == "r") & s.metric.isin(da.RANK_METRICS)].set_index("metric")["mean"])
    np.testing.assert_allclose(got[1].to_numpy(), got[0].to_numpy(), rtol=1e-9, atol=1e-12)


def _headline(revenue: float, cost: float, share: float) -> pd.Series:
    idx = pd.MultiIndex.from_tuples([("p", "revenue"), ("p", "incentive_cost"), ("p", "share_at_quota")],
                                    names=["plan", "metric"])
    return pd.Series([revenue, cost, share], idx)


def test_the_smoothness_bound_flags_a_jump_not_a_move_none_makes_too():
    """A 1e-5 step that moves revenue by 0.5% under ``dynamic`` is beyond the bound (1e-3 of its size); a move of pay
    that ``none`` makes too (a rep exactly at a pay threshold) or one within the bound is not."""
    base = _headline(1e6, 1e5, 0.4)
    assert (da.smooth_excess(base, _headline(1.005e6, 1e5, 0.4), None, None) > 0).sum() == 1
    assert (da.smooth_excess(base, _headline(1e6 + 500, 1e5 + 50, 0.4002), None, None) <= 0).all()
    jump = _headline(1e6, 1.02e5, 0.4)
    assert (da.smooth_excess(base, jump, None, None) > 0).any()
    assert (da.smooth_excess(base, jump, base, jump) <= 0).all()  # the same step of pay under ``none``


def test_the_smoothness_check_moves_plan_numbers_and_draws_numbers_apart():
    """``smooth`` moves the plans' numbers and the role's pay (never a headcount); ``smooth draws`` the role's
    production rates and spreads only; every number moved is one of the scenario's."""
    data = da.audit_scenario(0, 40)
    plan, draws = da.smooth_parameters(data), da.smooth_parameters(data, draws=True)
    assert ("plans", "current", "roles", "r", "quota", "level") in plan
    assert ("roles", "r", "effort_elasticity") in plan and ("roles", "r", "base_salary") in plan
    assert all(p[0] == "roles" and p[2] not in da.ROLE_PAY_KEYS for p in draws)
    assert ("roles", "r", "production", "calls_per_month") in draws
    assert not any("headcount" in p or "team_size" in p for p in plan + draws)
    moved = da.moved(data, ("plans", "current", "roles", "r", "quota", "level"), 1 + da.SMOOTH_STEP)
    assert moved["plans"]["current"]["roles"]["r"]["quota"]["level"] == pytest.approx(0.937 * (1 + 1e-5), rel=1e-12)
    assert data["plans"]["current"]["roles"]["r"]["quota"]["level"] == 0.937  # the case itself untouched


@pytest.mark.slow
def test_a_scorecard_threshold_on_the_state_grid_moves_smoothly():
    """Seed 40, case 0: a scorecard curve's first point at 0.95 attainment (a point of the behaviour model's state
    grid) moved by 1e-5 moved the scorecard plan's revenue 6% until the terminal pay became a window mean."""
    got = da.audit_case(0, 10, 40, only=frozenset({"smooth"}))
    assert [(o.check, o.ok) for o in got] == [("runs", True), ("smooth", True)], got


def test_share_at_quota_may_move_by_one_rep_year():
    """A step that moves one rep of 600 rep-years across quota (seed 40, case 49: a month's seasonality x1.00001 under
    ``dynamic``) is a threshold crossing, not a jump of the model; two reps are not."""
    base = _headline(1e6, 1e5, 0.4)
    assert (da.smooth_excess(base, _headline(1e6, 1e5, 0.4 - 1 / 600), None, None, 600) <= 0).all()
    assert (da.smooth_excess(base, _headline(1e6, 1e5, 0.4 - 2 / 600), None, None, 600) > 0).any()


def _one_changed(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``x`` (T, R) with one value of each row replaced: by a draw over the row's range and beyond, or by one just
    past a neighbour of an order statistic."""
    y = x.copy()
    T, R = x.shape
    lo, hi = x.min(axis=1), x.max(axis=1)
    for t in range(T):
        y[t, rng.integers(R)] = rng.choice([rng.uniform(lo[t] - 1, hi[t] + 1), -1e9, 1e9, np.sort(x[t])[rng.integers(R)]])
    return y


@pytest.mark.parametrize("R", [3, 4, 5, 6, 13, 40, 41])
@pytest.mark.parametrize("q", [0.1, 0.5, 0.9])
def test_one_value_changed_moves_a_quantile_by_at_most_its_order_statistic_step_and_can_move_it_that_far(R, q):
    """:func:`benchmarks.dynamic_audit.quantile_step` bounds what one rep-year changed does to a trial's quantile
    (NumPy's linear one, as the metrics), and the bound is reached: the gap is measured on the values, not a
    constant."""
    rng = np.random.default_rng([R, int(q * 10)])
    x = rng.lognormal(-0.2, 0.4, (200, R))
    step = da.quantile_step(np.sort(x, axis=1), q)
    defined = step > 0  # 0: a neighbour is missing (the 10th percentile of 3 reps), the move unbounded
    if q == 0.5:
        assert defined.all()
    base = np.quantile(x, q, axis=1)
    worst = np.zeros(len(x))
    for _ in range(60):
        moved = np.abs(np.quantile(_one_changed(x, rng), q, axis=1) - base)
        assert (moved <= step * (1 + 1e-12) + 1e-15)[defined].all(), (moved - step)[defined].max()
        worst = np.maximum(worst, moved)
    # a rep at or beside the quantile sent to either end reaches the bound in every trial where it is defined
    v = (R - 1) * q
    i = int(np.floor(v))
    order = np.argsort(x, axis=1)
    for k in {i, min(i + 1, R - 1)}:
        for far in (-1e9, 1e9):
            y = x.copy()
            y[np.arange(len(x)), order[:, k]] = far
            worst = np.maximum(worst, np.abs(np.quantile(y, q, axis=1) - base))
    assert np.allclose(worst[defined], step[defined], rtol=1e-9), np.abs(worst - step)[defined].max()


def test_a_quantile_without_neighbours_gets_no_allowance():
    """Two reps (a median of two) or one: a changed value moves the quantile without bound, so nothing is allowed."""
    assert (da.quantile_step(np.sort(np.array([[0.5, 0.9], [0.2, 1.4]]), axis=1), 0.5) == 0).all()
    assert (da.quantile_step(np.array([[0.7], [1.1]]), 0.5) == 0).all()
    assert da.quantile_step(np.array([[0.5, 0.6, 0.9]]), 0.5)[0] == pytest.approx(0.3)


def test_the_median_may_move_by_one_order_statistic_not_two():
    """The bound of ``attainment_p50`` takes one rep-year's order-statistic step (measured) beside ``1e-3`` of its
    size; two such steps are beyond it, and without the step the same one-step move is beyond it too."""
    idx = pd.MultiIndex.from_tuples([("p", "revenue"), ("p", "attainment_p50")], names=["plan", "metric"])
    base = pd.Series([1e6, 0.84], idx)
    step = pd.Series([0.004], pd.MultiIndex.from_tuples([("p", "attainment_p50")], names=["plan", "metric"]))
    one = pd.Series([1e6, 0.84 - 0.00084 - 0.004], idx)
    two = pd.Series([1e6, 0.84 - 0.00084 - 0.008], idx)
    assert (da.smooth_excess(base, one, None, None, 40, step) <= 0).all()
    assert (da.smooth_excess(base, one, None, None, 40) > 0).any()
    assert (da.smooth_excess(base, two, None, None, 40, step) > 0).any()


@pytest.mark.slow
def test_a_jump_of_attainment_beyond_one_order_statistic_still_fails_the_audit(monkeypatch):
    """Seed 1, case 10 (60 channel reps, 8 trials): an engine defect injected in the dynamic pass, every rep's
    attainment under plan n_partners_opened times 1.02 once its quota level falls below the case's (a jump at a
    point, as the state grid's of section 6.2 was), moves the median by 2%, many order-statistic steps: the
    ``smooth`` check still fails on it with the quantile allowance, while the same case without the defect passes.
    The steps are measured on the run's own attainments: they give the summary's median."""
    from simlib.engine import core
    from simlib.model.population import Layout, draw_chunk, root_seed

    data = da.audit_scenario(10, 1)
    data["plans"] = {k: v for k, v in data["plans"].items() if k in ("current", "n_partners_opened")}
    path = ("plans", "n_partners_opened", "roles", "r", "quota", "level")
    level = data["plans"]["n_partners_opened"]["roles"]["r"]["quota"]["level"]
    monkeypatch.setattr(da, "smooth_parameters", lambda data, draws=False: [path])

    def runs() -> da.Runs:
        r = da.Runs(10, data, 8, 1)
        r.scen = simlib.scenario_from_dict(data, "case 10")
        r.dyn, r.none = da.summary(r.scen, 8, 1), da.summary(r.scen, 8, 1, behaviour="none")
        return r

    clean = runs()
    assert da.check_smooth(clean) == ""
    steps = da.order_statistic_step(clean.scen, 8, 1)
    draws = draw_chunk(Layout.of(clean.scen), root_seed(1), np.arange(8))
    att = {o.plan: o.pay.attainment for o in core.role_outcomes(clean.scen, ["n_partners_opened"], draws,
                                                                behaviour="dynamic")}
    p50 = clean.dyn.set_index(["plan", "group", "metric"])["mean"][("n_partners_opened", "total", "attainment_p50")]
    assert np.quantile(att["n_partners_opened"], 0.5, axis=1).mean() == pytest.approx(p50, rel=1e-12)
    step = steps[("n_partners_opened", "attainment_p50")]
    assert 0 < step < 0.02 * p50 / 5  # the injected jump is more than five order-statistic steps

    real = core.passes

    def defective(scenario, plans, worlds, model, quotas=None):
        for o in real(scenario, plans, worlds, model, quotas):
            below = scenario.plans[o.plan].roles["r"].quota.level < level
            if model is not None and o.plan == "n_partners_opened" and below:
                o.pay.attainment = o.pay.attainment * 1.02
            yield o

    monkeypatch.setattr(core, "passes", defective)
    r = runs()
    got = da.check_smooth(r)
    assert "n_partners_opened/roles/r/quota/level x0.99999" in got, got
    moved = da._headline(da.summary(simlib.scenario_from_dict(da.moved(data, path, 1 - da.SMOOTH_STEP), "jump"), 8, 1))
    excess = da.smooth_excess(da._headline(r.dyn), moved, None, None, 8 * 60, r.extra["order_step"])
    assert excess[("n_partners_opened", "attainment_p50")] > 0, excess


@pytest.mark.slow
def test_an_oscillating_mean_field_settles_where_a_hair_does_not_move_it():
    """Seed 41, case 12: 60 telesales reps, team weight 0.78, a retroactive monthly commission. Teammates' output
    read back through the pool overshoots (omega 1 -> 0.994 -> 1.008 -> 0.983, a slope of about -2.4), and the third
    iterate of that oscillation depended on a calibration rep-month 1e-5 from a tier: moving the tier from 0.9 to
    0.900009 moved help from 0.95 to 1.05 and the plan's revenue 4.5%. A step that reverses the last one is now a
    secant step on omega - F(omega), so the mean field settles near its fixed point either way."""
    from simlib.behaviour.dynamic import dynamic

    data = da.audit_scenario(12, 41)
    path = ("plans", "money", "roles", "r", "components", 1, "tiers", 0, "from")
    got = []
    for f in (1.0, 1 + da.SMOOTH_STEP):
        rs = dynamic(simlib.scenario_from_dict(da.moved(data, path, f), "case 12")).solve("money", "r")
        got.append((rs.info["omega"], rs.help))
    assert abs(got[0][0] - got[1][0]) < 2e-3, got
    assert abs(got[0][1] - got[1][1]) < 1e-2, got


def test_seeds_from_50_draw_clawbacks_and_earlier_cases_are_as_they_were():
    """The generator draws a clawback (docs/model.md section 3) for a role with a cancellation process from seed
    ``CLAWBACK_FROM_SEED`` on, last, so the rest of the case is the one the seed gave before; earlier seeds' cases
    (their documented runs and the pinned cases here) have none."""
    old = [da.audit_scenario(i, 1) for i in range(40)]
    assert not any(d["plans"]["current"]["roles"]["r"].get("clawback") for d in old)
    drawn = 0
    for i in range(40):
        d = da.audit_scenario(i, da.CLAWBACK_FROM_SEED)
        cb = d["plans"]["current"]["roles"]["r"].get("clawback")
        if cb is None:
            continue
        drawn += 1
        assert "cancel_rate" in d["roles"]["r"]["production"]
        assert 1 <= cb["window_months"] <= 24 and cb["at_year_end"] in ("forgive", "carry")
        scen = simlib.scenario_from_dict(d, f"case {i}")  # valid, the money-only copies too
        assert scen.plans["current"].roles["r"].clawback is not None
        without = json.loads(json.dumps(d))
        without["plans"]["current"]["roles"]["r"].pop("clawback")
        for p in ("money", "label_high", "label_zero"):
            if p in without["plans"]:
                without["plans"][p]["roles"]["r"].pop("clawback", None)
        assert without == drawn_before(i)
    assert drawn >= 3


def drawn_before(index: int) -> dict:
    """Case ``index`` of seed ``CLAWBACK_FROM_SEED`` as the generator gave it before clawbacks were drawn."""
    saved = da.CLAWBACK_FROM_SEED
    try:
        da.CLAWBACK_FROM_SEED = 10**9
        return da.audit_scenario(index, saved)
    finally:
        da.CLAWBACK_FROM_SEED = saved


@pytest.mark.slow
def test_a_retroactive_tier_moves_the_team_pool_derivative_smoothly():
    """Seed 52, case 27: 40 generic reps of nearly equal ability in teams of 12, team weight 0.35, a retroactive
    half-year commission with true-up (rates 0.009, 0.067, 0.1 from 0.1, 0.9, 1.0). Its quota level x0.99999 moved
    the team pool's derivative ``D`` by 0.54% and the plan's incentive cost by +1.22% (127,482 to 129,041 on 10
    trials; the same move under ``none``: 0): a team-year's attainment times ``exp(0.05 z_j)`` crossing a tier at
    one of the 12 Gauss-Hermite nodes enters or leaves the derivative whole (trial 2's team 0 at node z=+2.26: 12
    reps +5,114 each). The shifts now sit on a lattice anchored to the quota level (docs/model.md 4.6): +0.007%."""
    data = da.audit_scenario(27, 52)
    data["plans"] = {k: v for k, v in data["plans"].items() if k in ("current", "c0")}
    path = ("plans", "c0", "roles", "r", "quota", "level")
    cost = []
    for f in (1.0, 1.0 - da.SMOOTH_STEP):
        s = da.summary(simlib.scenario_from_dict(da.moved(data, path, f), "smooth"), 10, 52)
        cost.append(float(s[(s.plan == "c0") & (s.group == "total") & (s.metric == "incentive_cost")]["mean"].iloc[0]))
    assert abs(cost[1] / cost[0] - 1.0) < da.SMOOTH_TOL
