"""The dynamic behaviour model (issue 3): normalisation, determinism, research findings' signs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import DEFAULT

import simlib
from simlib.behaviour.dynamic import DynamicBehaviour, dynamic
from simlib.engine.core import BEHAVIOURS
from simlib.errors import ScenarioError
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


#: (finding, role type) pairs the model does not reproduce (docs/model.md, section 4.10)
KNOWN_FAILING = {("quarterly_low", "second"), ("team_weight", "second")}

#: single effects (by the start of their label) the model does not reproduce, per (finding, role type); the
#: finding's other effects must hold (docs/model.md, section 4.10)
KNOWN_FAILING_EFFECTS = {
    ("bonus_to_commission", "first"): "low tercile",
    ("bonus_to_commission", "second"): "low tercile",
}

#: trials per finding: enough that the expected effect is several SEs from zero
#: (the quarterly-bonus tercile difference is small: +0.67 pp, SE 0.17 at 200 trials)
#: (the salary-under-risk net gain on key accounts: +4.1% of OTE, SE 0.67 at 200 trials)
FINDING_TRIALS = {"quarterly_low": 120, "salary_risk": 80}


@pytest.mark.parametrize("which", ["first", "second"])
@pytest.mark.parametrize("key", [f.key for f in V.FINDINGS])
def test_research_finding_signs(key, which):
    """Each research finding (docs/model.md, section 4.9) holds (sign, CI excluding zero) at a modest trial count,
    on two role types."""
    df = V.validate_model(trials=FINDING_TRIALS.get(key, 24), rng=1, only=[key], roles=which)
    assert len(df) >= 1
    assert df["role"].nunique() == 1
    bad = df[~df["holds"]]
    known = KNOWN_FAILING_EFFECTS.get((key, which))
    if known is not None:
        is_known = df["effect"].str.startswith(known)
        assert is_known.any(), f"no effect starting with {known!r}"
        assert bad.index.equals(df.index[is_known]), (
            "a known failure now holds or another effect fails: update KNOWN_FAILING_EFFECTS and docs/model.md "
            "section 4.10\n" + df[["role", "effect", "measured", "ci_low", "ci_high", "holds"]].to_string())
        pytest.xfail(f"known failure ({known}), docs/model.md section 4.10")
    if (key, which) in KNOWN_FAILING:
        assert not bad.empty, "a known failure now holds: update KNOWN_FAILING and docs/model.md section 4.10"
        pytest.xfail("known failure on the second role type, docs/model.md section 4.10")
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
    assert list(df["role"].unique()) == ["telesales", "channel"]


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
