"""The dynamic behaviour model (issue 3): normalisation, determinism, research findings' signs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import DEFAULT

import simlib
from simlib.behaviour.dynamic import DynamicBehaviour, dynamic
from simlib.engine.core import BEHAVIOURS
from simlib.errors import ScenarioError, SimlibError
from simlib.fit import findings as V
from simlib.model.contracts import Controls, PolicyBase
from simlib.model.metrics import BEHAVIOUR_METRICS
from simlib.model.plans import set_quotas
from simlib.model.population import Layout, draw_chunk, market_multiplier, role_world, root_seed
from simlib.model.production import run_year
from simlib.scenario import scenario_from_dict


def _variant(scen, **sections):
    data = scen.model_dump(by_alias=True)
    for k, v in sections.items():
        data["behaviour"][k].update(v)
    return scenario_from_dict(data, scen.source)


def test_registered_and_metrics_reported_for_every_mode():
    assert BEHAVIOURS["dynamic"] is dynamic
    s = simlib.load_scenario(DEFAULT)
    res = simlib.simulate(s, ["current"], trials=8, rng=3, behaviour="none")
    summ = res.summary()
    for m in BEHAVIOUR_METRICS:
        assert m in set(summ["metric"]), m
        assert summ.loc[summ.metric == m, "unit"].ne("").all()
    tot = summ[(summ.group == "total")].set_index("metric")["mean"]
    assert tot["effort_index"] == 1.0 and tot["help_given"] == 1.0
    assert tot["discount_cost"] == 0.0 and tot["give_up_share"] == 0.0
    assert 0.0 < tot["last_month_share"] < 1.0


def test_current_plan_reproduces_none_exactly():
    """Under the current plan the dynamic model predicts today's behaviour: the 'none' numbers."""
    s = simlib.load_scenario(DEFAULT)
    a = simlib.simulate(s, ["current", "harder_target"], trials=16, rng=5, behaviour="dynamic").summary()
    b = simlib.simulate(s, ["current", "harder_target"], trials=16, rng=5, behaviour="none").summary()
    beh = set(BEHAVIOUR_METRICS) - {"last_month_share", "effort_index", "help_given"}  # model-implied levels
    ka = a[(a.plan == "current") & ~a.metric.isin(beh)].reset_index(drop=True)
    kb = b[(b.plan == "current") & ~b.metric.isin(beh)].reset_index(drop=True)
    pd.testing.assert_frame_equal(ka, kb)
    # ... while the candidate plan does change behaviour
    h = a[(a.plan == "harder_target") & (a.group == "total")].set_index("metric")["mean"]
    assert h["effort_index"] != 1.0


@pytest.mark.parametrize("role", ["key_account", "telesales", "channel"])
def test_cost_normalisation_makes_today_optimal_on_average(role):
    """k is scaled per rep type so that under the current plan E[e^eta] along the year is one."""
    m = DynamicBehaviour(simlib.load_scenario(DEFAULT))
    rs = m.solve("current", role)
    np.testing.assert_allclose(rs.info["mean_output"].ravel(), 1.0, atol=1e-3)  # the normalisation's stopping rule


def test_dynamic_is_chunk_and_executor_invariant():
    from concurrent.futures import ThreadPoolExecutor

    s = V._load("accelerator_timing")
    kw = dict(trials=40, rng=11, behaviour="dynamic")
    a = simlib.simulate(s, chunk_size=7, **kw).summary()
    b = simlib.simulate(s, chunk_size=40, **kw).summary()
    with ThreadPoolExecutor(2) as ex:
        c = simlib.simulate(s, chunk_size=13, executor=ex, **kw).summary()
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)
    # same seed, same numbers; another seed, other numbers
    d = simlib.simulate(s, chunk_size=40, trials=40, rng=12, behaviour="dynamic").summary()
    assert not np.allclose(a["mean"].to_numpy(), d["mean"].to_numpy())


#: (finding, role type) pairs the model does not reproduce (docs/model.md, section 4.10); role types in the order of
#: ``Finding.role_types``: the validation scenario's own, ``Finding.also``, the remaining one
KNOWN_FAILING = {("quarterly_low", "second"), ("quarterly_low", "third"), ("cap_quarterly", "third")}

#: effects (by the starts of their labels) the model does not reproduce, per (finding, role type); the
#: finding's other effects must hold (docs/model.md, section 4.10)
KNOWN_FAILING_EFFECTS = {
    ("bonus_to_commission", "first"): ("low tercile",),
    ("bonus_to_commission", "second"): ("low tercile",),
    ("bonus_to_commission", "third"): ("low tercile", "revenue change beside"),
}

#: trials per finding: enough that the expected effect is several SEs from zero
#: (the quarterly-bonus tercile difference on key accounts is small: +1.22 pp, SE 0.19 at 200 trials)
#: (the salary-under-risk net gain on key accounts: +4.1% of OTE, SE 0.67 at 200 trials)
#: (the lump-sum incremental share on key accounts: 52.5%, SE 0.5 at 200 trials, against the 50% it must exceed)
FINDING_TRIALS = {"quarterly_low": 120, "salary_risk": 80, "lump_sums": 200}


@pytest.mark.parametrize("which", ["first", "second", "third"])
@pytest.mark.parametrize("key", [f.key for f in V.FINDINGS])
def test_research_finding_signs(key, which):
    """Each research finding (docs/model.md, section 4.9) holds (sign, CI excluding zero) at a modest trial count,
    on all three role types."""
    df = V.validate_model(trials=FINDING_TRIALS.get(key, 24), rng=1, only=[key], roles=which)
    assert len(df) >= 1
    assert df["role"].nunique() == 1
    bad = df[~df["holds"]]
    known = KNOWN_FAILING_EFFECTS.get((key, which))
    if known is not None:
        is_known = df["effect"].str.startswith(known)
        assert all(df["effect"].str.startswith(k).any() for k in known), f"no effect starting with one of {known!r}"
        assert bad.index.equals(df.index[is_known]), (
            "a known failure now holds or another effect fails: update KNOWN_FAILING_EFFECTS and docs/model.md "
            "section 4.10\n" + df[["role", "effect", "measured", "ci_low", "ci_high", "holds"]].to_string())
        pytest.xfail(f"known failure ({known}), docs/model.md section 4.10")
    if (key, which) in KNOWN_FAILING:
        assert not bad.empty, "a known failure now holds: update KNOWN_FAILING and docs/model.md section 4.10"
        pytest.xfail(f"known failure on the {which} role type, docs/model.md section 4.10")
    assert bad.empty, bad[["role", "effect", "measured", "ci_low", "ci_high"]].to_string()


def test_switching_everything_off_gives_the_plain_model():
    s = _variant(simlib.load_scenario(DEFAULT), effort={"enabled": False}, multitask={"enabled": False},
                 team={"enabled": False}, timing={"enabled": False})
    a = simlib.simulate(s, ["current", "uncapped_quarterly"], trials=8, rng=2, behaviour="dynamic").summary()
    b = simlib.simulate(s, ["current", "uncapped_quarterly"], trials=8, rng=2, behaviour="none").summary()
    beh = ["discount_cost", "give_up_share", "coast_share"]
    pd.testing.assert_frame_equal(a[~a.metric.isin(beh)].reset_index(drop=True), b[~b.metric.isin(beh)].reset_index(drop=True))


def test_timing_switch_controls_discounts():
    s = V._load("accelerator_timing")
    on = simlib.simulate(s, trials=16, rng=4, behaviour="dynamic").summary()
    off = simlib.simulate(_variant(s, timing={"enabled": False}), trials=16, rng=4, behaviour="dynamic").summary()
    pick = lambda d: d[(d.plan == "accelerating") & (d.group == "total")].set_index("metric")["mean"]  # noqa: E731
    assert pick(on)["discount_cost"] > 0
    assert pick(off)["discount_cost"] == 0


def test_behaviour_section_is_validated():
    s = simlib.load_scenario(DEFAULT)
    data = s.model_dump(by_alias=True)
    data["behaviour"]["effort"]["cost_exponnent"] = 3
    data["behaviour"]["team"]["social_weight"] = -1
    with pytest.raises(ScenarioError) as exc:
        scenario_from_dict(data, "x.yaml")
    fields = {p.field for p in exc.value.problems}
    assert "behaviour.effort.cost_exponnent" in fields
    assert "behaviour.team.social_weight" in fields
    assert all(p.source == "x.yaml" for p in exc.value.problems)


def test_scenario_mode_sets_the_default_behaviour():
    s = simlib.load_scenario(DEFAULT)
    data = s.model_dump(by_alias=True)
    data["behaviour"]["mode"] = "dynamic"
    sd = scenario_from_dict(data, "mode.yaml")
    raw = simlib.engine.core.simulate_raw(sd, ["current", "harder_target"], trials=4, rng=0)
    assert raw.provenance["behaviour"] == "dynamic"


def test_run_year_settle_moves_revenue_without_creating_it():
    s = simlib.load_scenario(DEFAULT)
    draws = draw_chunk(Layout.of(s), root_seed(0), np.arange(3))
    world = role_world(s, "telesales", draws, market_multiplier(s, draws))
    base = run_year(world)

    class Pull(PolicyBase):
        def __call__(self, m, hist):
            return Controls()

        def settle(self, m, hist):
            if m != 2:
                return None, None
            x = np.full(world.shape, 1000.0)
            return 0.9 * x, -x  # pull 1000 of next month's sales in at a 10% discount

    moved = run_year(world, Pull())
    r0, r1 = base["revenue"], moved["revenue"]
    np.testing.assert_allclose(r1[..., 2] - r0[..., 2], 900.0)
    assert np.all(r1[..., 3] <= r0[..., 3])
    np.testing.assert_allclose(r1.sum(axis=-1), r0.sum(axis=-1) - 100.0, rtol=1e-12, atol=1e-6)
    for k in base:
        if k != "revenue":
            np.testing.assert_array_equal(base[k], moved[k])


def test_ratchet_rule_is_asymmetric():
    from simlib.engine.years import ratchet_quota

    q = np.array([100.0, 100.0, 100.0])
    nxt = ratchet_quota(q, np.array([1.2, 1.0, 0.8]), up=0.6, down=0.3)
    np.testing.assert_allclose(nxt, [112.0, 100.0, 94.0])
    assert nxt[0] - 100.0 > 100.0 - nxt[2]


def test_multiyear_ratchet_and_anticipation():
    from simlib.engine.years import simulate_years

    s = V._load("ratchet")
    none = simulate_years(s, "last_year_quota", years=2, trials=16, rng=3, behaviour="none")
    piv = none[none.metric == "quota_mean"].set_index("year")["mean"]
    assert piv[2] != piv[1]  # quotas carried from last year's sales
    on = simulate_years(s, "last_year_quota", years=2, trials=16, rng=3)
    off = simulate_years(_variant(s, ratchet={"enabled": False}), "last_year_quota", years=2, trials=16, rng=3)
    eff = lambda d: d[(d.metric == "effort_index") & (d.year == 1)]["mean"].iloc[0]  # noqa: E731
    assert eff(on) < eff(off)  # reps who expect the ratchet hold back
    again = simulate_years(s, "last_year_quota", years=2, trials=16, rng=3)
    pd.testing.assert_frame_equal(on, again)


def test_validate_model_command(capsys):
    from simlib.cli import main

    assert main(["validate-model", "--only", "ratchet", "--trials", "12"]) == 0
    out = capsys.readouterr().out
    assert "HOLDS" in out and "expected ratchet" in out
    assert main(["validate-model", "--only", "no_such_finding"]) == 1
    assert "unknown finding" in capsys.readouterr().err
    df = V.validate_model(trials=8, only=["pay_on_calls"])
    assert list(df.columns) == ["key", "role", "finding", "source", "expected", "effect", "measured", "se",
                                "ci_low", "ci_high", "holds", "trials", "seconds"]
    assert list(df["role"].unique()) == ["telesales", "channel", "key_account"]  # every role type, first to third
    assert set(V.validate_model(trials=4, only=["pay_on_calls"], roles="both")["role"]) == {"telesales", "channel"}
    with pytest.raises(SimlibError, match="roles"):
        V.validate_model(trials=4, roles="second_and_third")


def test_every_finding_is_checked_on_all_three_role_types():
    """Issue 11: every finding's sign on all three roles; each finding names three distinct role types."""
    for f in V.FINDINGS:
        first = next(iter(V._load(f.scenario).roles.values())).process
        assert sorted(f.role_types(first)) == sorted(V.PROCESSES), f.key


def test_bellman_expectation_equals_direct_interpolation():
    from simlib.behaviour.kernels import X_GRID, expect_shifted, interp

    rng = np.random.default_rng(7)
    V = np.cumsum(rng.random((3, len(X_GRID))), axis=1)
    d = rng.random((3, 4, 5)) * 1.5
    d[..., 0] = 0.0
    p = rng.random((3, 5))
    p /= p.sum(axis=1, keepdims=True)
    X = X_GRID[None, :, None, None] + d[:, None, :, :]  # (3, G, 4, 5)
    direct = (interp(V, X) * p[:, None, None, :]).sum(axis=3)
    np.testing.assert_allclose(expect_shifted(V, d, p), direct, rtol=1e-12, atol=1e-10)


def test_pushes_only_delay_deals_that_closed():
    """Lumpy key-account sales under an accelerator: pushes never make a month's revenue negative."""
    s = V.swap_role(V._load("accelerator_timing"), "key_account")
    r = V.role_run(s, "accelerating", trials=12, rng=3)
    assert r.measures["revenue"].min() >= 0.0
    assert np.all(np.isfinite(r.revenue))


@pytest.mark.parametrize("process", ["telesales", "key_account"])
def test_timing_moves_conserve_revenue_up_to_the_discount(process):
    """What the policy moves across period ends (plan's minus today's) nets to minus the discount change.

    Under the quarterly plan low performers pull in at quarter ends and pull in
    less than today at the year end; pulling in less gives today's discounted
    deals back at full price, so the discount today's pull-ins cost is saved.
    """
    s = V._load("quarterly_bonus")
    if process != "key_account":
        s = V.swap_role(s, process)
    m = DynamicBehaviour(s)
    draws = draw_chunk(Layout.of(s), root_seed(1), np.arange(12))
    world = role_world(s, "reps", draws, market_multiplier(s, draws))
    pol = m.policy("quarterly", world, set_quotas(s, "quarterly", world))
    moved, fewer_pulls, orig = [0.0], [False], pol.settle

    def settle(mm, hist):
        now, later = orig(mm, hist)
        if now is not None:
            moved[0] += float(np.sum(now) + np.sum(later))
            fewer_pulls[0] |= bool(np.any((now < 0) & (later > 0)))
        return now, later

    pol.settle = settle
    run_year(world, pol)
    assert pol.recorded.discount.sum() > 0
    assert fewer_pulls[0]  # the case that used to lose the saved discount
    np.testing.assert_allclose(moved[0], -pol.recorded.discount.sum(), rtol=1e-9)


def _single_peaked(d: np.ndarray, se: np.ndarray, z: float = 3.0) -> bool:
    """True if ``d`` rises to one peak and then falls, each step allowed to go the wrong way by ``z`` SEs
    (the SE of a step bounded by the sum of the two SEs, whatever their correlation)."""
    p = int(np.argmax(d))
    tol = z * (se[1:] + se[:-1])
    step = np.diff(d)
    return bool(np.all(step[:p] >= -tol[:p]) and np.all(step[p:] <= tol[p:]))


def test_recognition_response_is_single_peaked_in_the_number_of_winners():
    """A top-k award of 20k on telesales: the effort response over k = 3, 6, 12, 24, 60 (of 120 reps) is single-peaked
    within SE, as a rank-order tournament's (Lazear & Rosen 1981; Moldovanu & Sela 2001), not a jump between type
    grid nodes (docs/model.md, section 4.1)."""
    ks = [3, 6, 12, 24, 60]
    data = simlib.load_scenario(DEFAULT).model_dump(by_alias=True)
    cur = data["plans"]["current"]
    for k in ks:
        p = {**cur, "roles": {**cur["roles"]}}
        p["roles"]["telesales"] = {**cur["roles"]["telesales"], "recognition": {"top_k": k, "value": 20000.0, "measure": "revenue"}}
        data["plans"][f"rec{k}"] = p
    s = scenario_from_dict(data, DEFAULT)
    d = simlib.simulate(s, ["current"] + [f"rec{k}" for k in ks], trials=24, rng=2, behaviour="dynamic").differences()
    d = d[(d.group == "telesales") & (d.metric == "effort_index")].set_index("plan").loc[[f"rec{k}" for k in ks]]
    diff, se = d["diff"].to_numpy(), d["se"].to_numpy()
    assert np.all(diff > 0), diff  # a bigger prize than today's (6 x 3,000) raises effort at every k
    assert _single_peaked(diff, se), (diff, se)
    # the old step-at-the-grid award gave +1.5, +0.5, -0.3, +4.9, -0.3%: a dip of many SEs
    assert not _single_peaked(np.array([1.5, 0.5, -0.3, 4.9, -0.3]) / 100, se)


def test_team_free_riding_scales_like_one_over_team_size():
    """A rep keeps (1 + social weight) / N of the team part's money incentive (Holmstrom 1982; Encinosa, Gaynor &
    Rebitzer 2007), docs/model.md section 4.3."""
    from simlib.behaviour.dynamic import _teammate_weight

    for n in (2, 3, 6, 10, 40):
        kept = 1.0 / n + _teammate_weight(1.0, n) * (n - 1.0) / n
        assert kept == pytest.approx(2.0 / n)
    assert _teammate_weight(1.0, 1) == 0.0 and _teammate_weight(3.0, 2) == 1.0  # never more than one's own money


def test_team_weight_interior_optimum_on_channel():
    """The third role type: the best team weight is interior too (section 4.9 checks telesales and key accounts)."""
    s = V.swap_role(V._load("team_weight"), "channel")
    (_, eff, _), (_, hlp, _), (_, gain, _) = V._f_team(s, 24, 1)
    for x, sign in ((eff, -1), (hlp, 1), (gain, 1)):
        m, se, lo, hi = V._ci(x)
        assert (lo > 0) if sign > 0 else (hi < 0), (m, lo, hi)


@pytest.mark.parametrize("process", ["telesales", "channel"])
def test_quarterly_bonus_helps_low_performers_through_effort_not_timing(process):
    """Chung, Steenburgh & Sudhir 2014 (docs/model.md, section 4.10): the pacing effect of quarterly bonuses on effort
    holds on the role types where the check fails (low minus high tercile > 0 with timing games off); the quarter-end
    timing games reverse it (the known failure of section 4.9)."""
    s = V.swap_role(V._load("quarterly_bonus"), process)
    off = _variant(s, timing={"enabled": False})
    (_, x_off, _), = V._f_quarterly_low(off, 200, 1)
    (_, x_on, _), = V._f_quarterly_low(s, 200, 1)
    m_off, _, lo_off, _ = V._ci(x_off)
    m_on, _, _, hi_on = V._ci(x_on)
    assert lo_off > 0, (m_off, lo_off)
    assert hi_on < 0, (m_on, hi_on)


def test_a_pull_to_reach_a_lump_sum_step_takes_no_more_than_the_step_needs():
    """Steenburgh 2008 (docs/model.md, sections 4.4 and 4.10): below a quarterly lump-sum step, on top of a linear
    commission, a pulled deal beyond what crosses the step only costs its discount. The timing choice must be fine
    enough that a rep who pulls stops at the step (within a twentieth of the largest pull), not at the next
    coarse option: a 9-point choice grid (smallest pull a quarter of ``max_pull``) overstated pull-ins near a step."""
    from simlib.behaviour.kernels import X_GRID, Problem, solve

    a = np.array([0.8, 1.0, 1.3])
    NT, G = len(a), len(X_GRID)
    prof = np.full(12, 1.0 / 12)
    d, max_pull = 0.35, 1.25
    terminal = [np.broadcast_to(1000.0 * X_GRID + 300.0 * (X_GRID >= 1.0), (NT, G)).copy() for _ in range(4)]
    pb = Problem(a=a, k=np.full(NT, 500.0), starts=[0, 3, 6, 9], ends=[2, 5, 8, 11], inc=np.full(12, 1.0 / 3), prof=prof,
                 terminal=terminal, lin=np.zeros((NT, 12)), eta=0.6, g=4.0, delta=0.995,
                 e_grid=np.exp(np.linspace(np.log(0.2), np.log(2.5), 21)),
                 nodes=(np.ones((NT, 1)), np.ones((NT, 1))), timing=(d, max_pull, 0.5),
                 next_year_value=np.full(NT, 1000.0), tau=np.full(NT, 5.0))
    z = solve(pb).shift[:, 2, :]  # the first quarter's end
    dx = a[:, None] * z * prof[3] * (1 - d) / 0.25  # quarter attainment the pull adds now (net of the discount)
    pulls = (z > 0) & (X_GRID[None, :] < 1.0)
    assert pulls.any(), "no rep below the step pulls: the test's premise is gone"
    top = X_GRID[np.searchsorted(X_GRID, 1.0)]  # the step, as the grid's interpolation sees it: 0 at 0.95, all at 1.025
    over = (X_GRID[None, :] + dx - top)[pulls]
    step = a[:, None].repeat(G, axis=1)[pulls] * max_pull / 20 * prof[3] * (1 - d) / 0.25
    assert (np.abs(over) <= step + 1e-9).all(), np.c_[X_GRID[np.nonzero(pulls)[1]], over, step]


def test_pushed_deals_held_to_the_next_period_end_count_in_the_reps_state():
    """A rep who pushes deals out of a quarter holds them and knows they count at the next quarter's end, as the
    programme assumes (the next period starts that far ahead, docs/model.md section 4.4). Looked up at the state
    without them, the rep worked the next quarter as if behind, and pushes alone reversed the pacing effect of
    quarterly bonuses on low performers (Chung, Steenburgh & Sudhir 2014): telesales, pulls off, low minus high
    tercile -3.2 pp; with the held deals in the state it is positive."""
    s = _variant(V.swap_role(V._load("quarterly_bonus"), "telesales"), timing={"max_pull": 0.0})
    (_, x, _), = V._f_quarterly_low(s, 100, 1)
    m, _, lo, _ = V._ci(x)
    assert lo > 0, (m, lo)


def test_plan_variants_share_the_calibration_sample_and_solve_the_same():
    """A sweep's or optimiser's variant scenarios (same organisation, another plan) share the sample, same numbers."""
    from simlib.behaviour.dynamic import clear_solutions

    scen = simlib.load_scenario(DEFAULT)
    other = next(p for p in scen.plans if p != scen.current_plan)
    variant = scen.with_plan("variant_of_" + other, scen.plans[other].model_dump(by_alias=True))
    role = next(iter(scen.roles))
    clear_solutions()
    cold = DynamicBehaviour(variant)
    cold_sol, cold_stake = cold.solve("variant_of_" + other, role), cold.pay_at_stake(role)
    clear_solutions()
    first, second = DynamicBehaviour(scen), DynamicBehaviour(variant)
    assert second.cal is first.cal and second.pay_at_stake(role) == first.pay_at_stake(role) == cold_stake
    warm_sol = second.solve("variant_of_" + other, role)  # solved again, on the sample the first model drew
    assert np.array_equal(warm_sol.effort, cold_sol.effort) and np.array_equal(warm_sol.shift, cold_sol.shift)
