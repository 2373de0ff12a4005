"""Monte Carlo discipline of the engine (docs/model.md, section 5): CRN, chunk and executor invariance, rng, provenance."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import simlib
from simlib import PlanError


def simulate(*args, **kw):
    """simlib.simulate with behaviour off unless a test asks otherwise (these checks are about behaviour 'none')."""
    return simlib.simulate(*args, **{"behaviour": "none", **kw})

TRIALS = 40


@pytest.fixture(scope="module")
def serial(small_scenario):
    return simulate(small_scenario, trials=TRIALS, rng=99, chunk_size=16)


def _identical(a, b):
    lay = b.raw.layout
    for name in ("n", "mean", "se", "keep"):
        x, y = getattr(a.raw, name), getattr(b.raw, name)
        assert x.shape == y.shape
        same = (x == y) | (np.isnan(x) & np.isnan(y))
        if not same.all():
            where = sorted({lay.level_index()[i % lay.n_levels][2] for i in np.flatnonzero(~same)}) if name != "keep" else ""
            pytest.fail(f"{name} not bit-identical (metrics {where})")


# ---------------------------------------------------------------------------
# common random numbers
# ---------------------------------------------------------------------------
def test_plans_see_the_same_world(serial, small_scenario):
    """With behaviour off, a plan cannot change production: revenue is identical in every plan, trial by trial."""
    tr = serial.trials()
    ref = tr[tr.plan == "current"].sort_values(["group", "trial"])["revenue"].to_numpy()
    for plan in small_scenario.plans:
        other = tr[tr.plan == plan].sort_values(["group", "trial"])["revenue"].to_numpy()
        assert np.array_equal(ref, other), plan
    d = serial.differences()
    rev = d[d.metric == "revenue"]
    assert (rev["diff"] == 0).all() and (rev["se"] == 0).all() and not rev["significant"].any()


def test_paired_differences_are_much_more_precise_than_levels(default_scenario):
    res = simulate(default_scenario, ["current", "harder_target"], trials=120, rng=5)
    s = res.summary().set_index(["plan", "group", "metric"])
    d = res.differences().set_index(["plan", "group", "metric"])
    for g in ("total", "telesales", "key_account"):
        se_level = s.loc[("current", g, "incentive_cost"), "se"]
        se_diff = d.loc[("harder_target", g, "incentive_cost"), "se"]
        assert se_diff < 0.5 * se_level, (g, se_diff, se_level)
    # the paired SE is the SE of the per-trial differences
    tr = res.trials()
    a = tr[(tr.plan == "harder_target") & (tr.group == "total")].sort_values("trial")["incentive_cost"].to_numpy()
    b = tr[(tr.plan == "current") & (tr.group == "total")].sort_values("trial")["incentive_cost"].to_numpy()
    diff = a - b
    row = d.loc[("harder_target", "total", "incentive_cost")]
    assert row["diff"] == pytest.approx(diff.mean(), rel=1e-9)
    assert row["se"] == pytest.approx(diff.std(ddof=1) / np.sqrt(len(diff)), rel=1e-9)
    assert row["diff"] < 0 and row["significant"]  # higher quotas cost less, clearly


def test_reported_se_is_the_standard_error_of_the_mean(serial):
    tr = serial.trials()
    s = serial.summary().set_index(["plan", "group", "metric"])
    for plan in ("current", "variant"):
        for metric in ("revenue", "incentive_cost", "total_comp", "profit"):
            x = tr[(tr.plan == plan) & (tr.group == "total")][metric].to_numpy()
            row = s.loc[(plan, "total", metric)]
            assert row["mean"] == pytest.approx(x.mean(), rel=1e-10)
            assert row["se"] == pytest.approx(x.std(ddof=1) / np.sqrt(len(x)), rel=1e-8)
            assert row["ci_low"] == pytest.approx(row["mean"] - 1.959963984540054 * row["se"])
            assert row["n"] == TRIALS


# ---------------------------------------------------------------------------
# same seed, same numbers
# ---------------------------------------------------------------------------
def test_a_trial_does_not_depend_on_how_many_trials_run(small_scenario, serial):
    short = simulate(small_scenario, trials=10, rng=99, chunk_size=3)
    assert np.array_equal(short.raw.keep, serial.raw.keep[:10])


def test_thread_pool_gives_identical_results(small_scenario, serial):
    with ThreadPoolExecutor(max_workers=2) as ex:
        _identical(simulate(small_scenario, trials=TRIALS, rng=99, chunk_size=16, executor=ex), serial)


def test_serial_string_executor(small_scenario, serial):
    _identical(simulate(small_scenario, trials=TRIALS, rng=99, chunk_size=16, executor="serial"), serial)


def test_bad_executor(small_scenario):
    with pytest.raises(TypeError, match="executor"):
        simulate(small_scenario, trials=4, rng=1, executor="threads")


# ---------------------------------------------------------------------------
# the one randomness argument
# ---------------------------------------------------------------------------
def test_rng_forms(small_scenario, serial):
    by_ss = simulate(small_scenario, trials=TRIALS, rng=np.random.SeedSequence(99), chunk_size=16)
    _identical(by_ss, serial)
    other = simulate(small_scenario, trials=TRIALS, rng=100, chunk_size=16)
    assert not np.array_equal(other.raw.keep, serial.raw.keep)
    g1 = simulate(small_scenario, trials=6, rng=np.random.default_rng(3))
    g2 = simulate(small_scenario, trials=6, rng=np.random.default_rng(3))
    _identical(g1, g2)
    big = simulate(small_scenario, trials=4, rng=2**70)
    assert big.provenance["seed_entropy"] == str(2**70)


def test_fresh_entropy_is_recorded_and_replayable(small_scenario):
    a = simulate(small_scenario, trials=6, rng=None)
    b = simulate(small_scenario, trials=6, rng=None)
    assert a.provenance["seed_entropy"] != b.provenance["seed_entropy"]
    replay = simulate(small_scenario, trials=6, rng=np.random.SeedSequence(int(a.provenance["seed_entropy"])))
    _identical(a, replay)


@pytest.mark.parametrize("bad", [-1, 1.5, "7", True, [1, 2]])
def test_bad_rng(small_scenario, bad):
    with pytest.raises(TypeError, match="rng"):
        simulate(small_scenario, trials=4, rng=bad)


def test_no_global_state(small_scenario, serial):
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    again = simulate(small_scenario, trials=TRIALS, rng=99, chunk_size=16)
    assert np.random.random() == before  # the legacy global stream was not touched
    _identical(again, serial)


# ---------------------------------------------------------------------------
# arguments and provenance
# ---------------------------------------------------------------------------
def test_provenance(serial, small_scenario):
    p = serial.provenance
    assert p["scenario_sha256"] == small_scenario.sha256 and len(p["scenario_sha256"]) == 64
    assert p["scenario"] == "small" and p["scenario_file"] == "small.yaml"
    assert p["seed_entropy"] == "99" and p["trials"] == TRIALS and p["chunk_size"] == 16
    assert p["simlib_version"] == simlib.__version__ and p["numpy_version"] == np.__version__
    assert p["plans"] == ["current", "variant", "company"] and p["reference"] == "current"
    created = dt.datetime.fromisoformat(p["created"])
    assert created.tzinfo is not None and abs((dt.datetime.now(dt.timezone.utc) - created).total_seconds()) < 3600
    assert serial.to_dict()["provenance"] == p


def test_plan_selection_and_reference(small_scenario):
    res = simulate(small_scenario, ["variant"], trials=4, rng=1)
    assert res.plans == ["current", "variant"]  # the reference is always included, first
    res = simulate(small_scenario, ["current", "company"], trials=4, rng=1, reference="company")
    assert res.plans == ["company", "current"] and res.reference == "company"
    assert set(res.differences()["plan"]) == {"current"} and set(res.differences()["reference"]) == {"company"}


@pytest.mark.parametrize("kw, match", [
    (dict(plans=["nope"]), "unknown plan"),
    (dict(reference="nope"), "unknown plan"),
    (dict(trials=1), "trials"),
    (dict(trials=2.5), "trials"),
    (dict(chunk_size=-3), "chunk_size"),
    (dict(behaviour="clairvoyant"), "unknown behaviour"),
])
def test_bad_arguments_raise_plan_errors(small_scenario, kw, match):
    kw = {"trials": 4, "rng": 1, **kw}
    plans = kw.pop("plans", None)
    with pytest.raises(PlanError, match=match):
        simulate(small_scenario, plans, **kw)


def test_result_tables_are_tidy(serial, small_scenario):
    s = serial.summary()
    assert list(s.columns) == ["plan", "group", "metric", "mean", "se", "ci_low", "ci_high", "n", "unit"]
    assert set(s.group) == {*small_scenario.roles, "total"}
    assert {"p95_incentive_cost", "p95_total_comp", "over_budget", "leverage", "gini_pay"} <= set(s.metric)
    assert not s.duplicated(["plan", "group", "metric"]).any()
    ok = s.dropna(subset=["mean", "se"])
    assert ((ok.ci_low <= ok["mean"]) & (ok["mean"] <= ok.ci_high)).all()
    d = serial.differences()
    assert list(d.columns) == ["plan", "reference", "group", "metric", "diff", "se", "ci_low", "ci_high", "n",
                               "significant"]
    assert set(d.plan) == {"variant", "company"}
    t = serial.table("total")
    assert list(t.columns) == ["current", "variant", "company", "variant - current", "company - current"]
    assert "±" in t.loc["incentive_cost", "current"]
    assert simlib.summarise(serial, raw=True).equals(t)
    cmp = simlib.compare(small_scenario, trials=6, rng=99)
    assert list(cmp.columns) == list(d.columns)


# ---------------------------------------------------------------------------
# the random numbers of a chunk are kept by content (an optimiser's or sweep's runs share them)
# ---------------------------------------------------------------------------
def test_kept_draws_are_the_chunk_draws_and_read_only(small_scenario):
    from simlib.engine.core import chunk_draws, clear_draws
    from simlib.model.population import Layout, draw_chunk, root_seed

    clear_draws()
    root = root_seed(7)
    first = chunk_draws(small_scenario, root, 3, 9)
    fresh = draw_chunk(Layout.of(small_scenario), root, np.arange(3, 9))
    assert first.keys() == fresh.keys()
    assert all(np.array_equal(first[k], fresh[k]) for k in fresh)
    again = chunk_draws(small_scenario, root_seed(7), 3, 9)  # an equal seed, built again: the same numbers, kept
    assert all(again[k] is first[k] for k in first) and again is not first
    with pytest.raises(ValueError):
        first["market.growth"][0, 0] = 0.0  # shared by every run that asks: nobody may change them
    other = chunk_draws(small_scenario, root_seed(8), 3, 9)
    assert not np.array_equal(other["market.growth"], first["market.growth"])
    assert np.array_equal(chunk_draws(small_scenario, root, 3, 5)["market.growth"], fresh["market.growth"][:2])


def test_results_do_not_depend_on_kept_draws(small_scenario, serial):
    """A run keeping its chunks' random numbers (a sweep's, an optimiser's) gives a plain run's numbers, cold and warm."""
    from types import SimpleNamespace

    from simlib.engine.core import _DRAWS, clear_draws, prepare_run, simulate_runs

    clear_draws()
    simulate(small_scenario, trials=TRIALS, rng=99, chunk_size=16)
    assert len(_DRAWS) == 0  # a single run lets its random numbers go
    run = prepare_run(small_scenario, behaviour="none", keep_draws=True)
    cold = simulate_runs([run], trials=TRIALS, rng=99, chunk_size=16)[0]
    assert len(_DRAWS) > 0
    warm = simulate_runs([run], trials=TRIALS, rng=99, chunk_size=16)[0]
    _identical(SimpleNamespace(raw=cold), serial)
    _identical(SimpleNamespace(raw=warm), serial)


def test_last_month_share_does_not_follow_the_target_incentive_label():
    """The pay periods ``last_month_share`` reads are the largest revenue pay's in money, as the behaviour model's:
    a plan of a large annual commission and a small monthly lump sum has annual periods whatever its TI (with TI 0
    the lump sum's size in TIs was unbounded, and every month counted as a period's last)."""
    comps = [{"name": "com", "measure": "revenue", "kind": "commission", "tiers": [{"from": 0.0, "rate": 0.05}]},
             {"name": "club", "measure": "revenue", "kind": "lump_sum", "period": "month",
              "steps": [{"at": 1.0, "amount": 100}]}]
    rp = {"quota": {"method": "flat"}, "components": comps}
    data = {"name": "label", "roles": {"r": {"process": "generic", "headcount": 4, "team_size": 4,
                                             "base_salary": 50000, "target_incentive": 20000}},
            "plans": {"current": {"roles": {"r": rp}}, "ti0": {"roles": {"r": {**rp, "target_incentive": 0.0}}},
                      "ti_high": {"roles": {"r": {**rp, "target_incentive": 90000.0}}}}}
    s = simulate(simlib.scenario_from_dict(data, "label"), trials=6, rng=2).summary()
    share = s[(s.group == "r") & (s.metric == "last_month_share")].set_index("plan")["mean"]
    assert share["ti0"] == share["ti_high"] == share["current"] < 0.5


def test_a_difference_of_rounding_is_not_significant():
    """Team pay on teams of one pays what individual pay does, but for rounding (0.7 x + 0.3 x is not x in the last
    bit): a paired difference of 4e-18 with an SE of 1e-18 is rounding, not an effect, and gets no star; a real one
    (a higher rate) still does."""
    role = {"process": "telesales", "headcount": 5, "team_size": 1, "base_salary": 42000, "target_incentive": 18000,
            "production": {"calls_per_month": 900}}
    conv = {"name": "conv", "measure": "conversions", "kind": "per_unit", "rate": 6}
    s = simlib.scenario_from_dict({
        "name": "teams of one", "roles": {"ts": role}, "current_plan": "current",
        "plans": {"current": {"roles": {"ts": {"components": [conv]}}},
                  "team": {"base": "current", "changes": {"roles": {"ts": {"team": {"weight": 0.3, "split": "equal"}}}}},
                  "higher": {"base": "current", "changes": {"roles": {"ts": {"components": [{"name": "conv", "rate": 7}]}}}}},
    }, "teams_of_one.yaml")
    d = simlib.simulate(s, trials=20, rng=1, behaviour="dynamic").differences()
    team = d[(d.plan == "team") & (d.group == "ts")].set_index("metric")
    assert 0 < abs(team.loc["payout_p50", "diff"]) < 1e-12  # rounding, and its CI excludes 0
    assert team.loc["payout_p50", "ci_high"] < 0 or team.loc["payout_p50", "ci_low"] > 0
    assert not team["significant"].any()
    higher = d[(d.plan == "higher") & (d.group == "ts")].set_index("metric")
    assert higher.loc["incentive_cost", "significant"] and higher.loc["payout_p50", "significant"]


def test_a_cap_that_withholds_no_money_is_not_a_cap_hit():
    """``share_capped`` (and the attrition hazard's ``capped``) counts reps whose pay a cap held back. A capped
    curve at target incentive 0 pays nothing at any attainment, so nobody is capped, on either path
    (the fused compiled one for one TI, the per-rep one); at TI 20,000 the same curve caps the top reps."""
    curve = {"name": "bonus", "measure": "revenue", "kind": "curve", "period": "year", "cap": 1.2,
             "points": [[0.5, 0.0], [1.0, 1.0], [1.2, 1.4]]}
    rp = {"quota": {"method": "flat", "level": 0.8}, "components": [curve]}
    data = {"name": "caps", "roles": {"r": {"process": "generic", "headcount": 40, "team_size": 5,
                                             "base_salary": 50000, "target_incentive": 20000}},
            "plans": {"current": {"roles": {"r": rp}}, "ti0": {"roles": {"r": {**rp, "target_incentive": 0.0}}}}}
    s = simulate(simlib.scenario_from_dict(data, "caps"), trials=8, rng=3).summary()
    capped = s[(s.group == "r") & (s.metric == "share_capped")].set_index("plan")["mean"]
    assert capped["current"] > 0.05
    assert capped["ti0"] == 0.0


def test_last_month_share_of_a_plan_paid_monthly_is_not_applicable_and_says_why():
    """Paid monthly, every month is a period's last: the share read 100.0% ± <0.1 for every monthly role (and the
    total of crediting.yaml), a figure that says nothing; it is NaN, shown "n/a (paid monthly: ...)", and a total
    pools only the roles with longer periods."""
    import simlib.present as present

    comps = [{"name": "com", "measure": "revenue", "kind": "commission", "period": "month",
              "tiers": [{"from": 0.0, "rate": 0.05}]}]
    quarterly = [{**comps[0], "period": "quarter"}]
    roles = {r: {"process": "generic", "headcount": 4, "team_size": 4, "base_salary": 50000, "target_incentive": 20000}
             for r in ("m", "q")}
    data = {"name": "monthly", "roles": roles,
            "plans": {"current": {"roles": {"m": {"quota": {"method": "flat"}, "components": comps},
                                            "q": {"quota": {"method": "flat"}, "components": quarterly}}},
                      "all_monthly": {"roles": {r: {"quota": {"method": "flat"}, "components": comps}
                                                for r in ("m", "q")}}}}
    s = simulate(simlib.scenario_from_dict(data, "monthly"), trials=6, rng=2).summary()
    share = s[s.metric == "last_month_share"].set_index(["plan", "group"])["mean"]
    assert np.isnan(share["current", "m"]) and np.isnan(share["all_monthly", "total"])
    assert share["current", "total"] == share["current", "q"] < 0.6  # the quarterly role's alone
    text = present.fmt(share["current", "m"], float("nan"), "last_month_share")
    assert text.startswith("n/a (") and "monthly" in text, text


def test_last_month_share_of_a_role_without_revenue_stays_left_out_not_called_monthly():
    """crediting.yaml: telesales is paid monthly (n/a, with why); its managers and sales engineers book no revenue
    of their own, so they have no such share at all, and are not said to be paid monthly."""
    from conftest import ROOT

    s = simulate(simlib.load_scenario(ROOT / "scenarios" / "crediting.yaml"), ["current"], trials=4, rng=1,
                 behaviour="none").summary()
    rows = s[(s.metric == "last_month_share") & (s.plan == "current")].set_index("group")
    assert np.isnan(rows.loc["telesales", "mean"]) and rows.loc["telesales", "n"] == 0
    assert 0 < rows.loc["total", "mean"] == rows.loc["key_account", "mean"] < 0.6
    assert not {"ts_manager", "ka_manager", "sales_engineer"} & set(rows.index), rows
