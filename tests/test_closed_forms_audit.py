"""The randomized closed-form audit (benchmarks/closed_forms.py, docs/model.md section 6, step 3a).

Random role and plan set-ups run through the engine (behaviour ``none``) must
match expected values derived independently of simlib (closed forms,
quadrature over lognormal attainment, or an independent Monte Carlo of
docs/model.md's equations) within 4 standard errors. The audit must also have
the power to catch a rule like the large-order defect (only the first four
deals of a month counted): with that rule in the derivation, the engine is
flagged.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import closed_forms as cf

TRIALS = 30
MC_TRIALS = 1000
# seed 11: telesales with a scorecard, a gate on leads and a modifier on conversions (0); key accounts with a draw,
# new hires, cancellations and large orders paid with true-up (1); channel with a draw, a team, a territory quota and
# a gate on a score (2); telesales with a scorecard, a draw, a team and a curve on a score (4); key accounts with a
# SPIFF and a modifier on new accounts (5); generic with a draw, a team, new hires and a top-down quota (11); channel
# with lognormal attainment under territory quotas (22, 26: quadrature); channel with a SPIFF, a team and last-year
# quotas (30); key accounts with a scorecard, a SPIFF, a team and new hires (37); channel with lognormal attainment and
# a one-point curve at 1.65 times the quota, gated, that no rep reaches (34: quadrature of a payout too rare to see)
SEEDED = [0, 1, 2, 4, 5, 11, 22, 26, 30, 34, 37]


def _failures(rows: list[cf.Row]) -> list[str]:
    return [f"case {r.case} {r.metric}: engine {r.engine:,.2f} ± {r.engine_se:,.2f}, expected {r.expected:,.2f} ± "
            f"{r.expected_se:,.2f} ({r.method}), z {r.z:+.2f}" for r in rows if r.flagged]


@pytest.mark.parametrize("index", SEEDED)
def test_random_case_matches_independent_expectations(index):
    """Seeded random cases of every process, the lognormal channel case (quadrature), scorecards, SPIFFs, teams, new
    hires and every quota method."""
    case = cf.draw_case(index, np.random.default_rng([11, index]))
    rows = cf.audit_case(case, TRIALS, 11, MC_TRIALS)
    assert {r.metric for r in rows} >= {"revenue", "pay:current", "share_at_quota", "attainment_p50"}
    assert case.draw is None or {"draw_paid", "draw_outstanding"} <= {r.metric for r in rows}
    assert all(np.isfinite(r.z) for r in rows)
    assert not _failures(rows), "\n".join(_failures(rows))


def test_the_seeded_cases_cover_every_method():
    methods = set()
    for index in SEEDED:
        case = cf.draw_case(index, np.random.default_rng([11, index]))
        methods |= {v[2] for v in cf.expectations(case, 200, 11).values()}
    assert methods >= {"exact", "quad", "mc"}


def _many_deals_case() -> cf.Case:
    role = {"process": "key_account", "headcount": cf.REPS, "team_size": 10, "base_salary": 90_000,
            "target_incentive": 50_000, "ability_sd": 0.2, "territory_sd": 0.2, "new_hire_share": 0.0,
            "ramp_months": 6, "last_year_sd": 0.15, "seasonality": [1.0] * 12,
            "production": {"deals_per_month": 5.0, "deal_size_mean": 200_000, "deal_size_sd_log": 0.8,
                           "large_order_threshold": 150_000, "pipeline_lag_months": 1, "new_account_share": 0.3,
                           "milestones_per_month": 2.0, "satisfaction": 0.82, "satisfaction_sd": 0.05}}
    market = {"growth_mean": 0.0, "growth_sd": 0.0, "monthly_sd": 0.0, "monthly_rho": 0.0}
    quota = {"method": "flat", "level": 1.0, "noise": 0.1, "growth": 0.05}
    comp = {"name": "c0", "measure": "large_order_value", "kind": "per_unit", "rate": 0.01}
    return cf.Case(900, "key_account", role, market, quota, [comp])


def test_large_order_closed_form_agrees():
    rows = {r.metric: r for r in cf.audit_case(_many_deals_case(), TRIALS, 5, MC_TRIALS)}
    assert rows["pay:current"].method == "exact" and rows["pay:n_large_order_value"].method == "exact"
    assert not rows["pay:current"].flagged and not rows["pay:n_large_order_value"].flagged


def test_audit_flags_a_rule_counting_only_the_first_four_deals(monkeypatch):
    """The defect that went unseen because engine and reference shared it: with it in the derivation instead of the
    engine, the audit flags the difference (the engine is checked against the same rule either way)."""
    right = cf._key_account_means

    def first_four_only(case, sm, s_dem):
        out = dict(right(case, sm, s_dem))
        p, r = case.role["production"], case.role
        s_lam = np.hypot(np.hypot(r["ability_sd"], r["territory_sd"]), s_dem)
        # E[(min(N, 12) - 4)+] a month: the deals beyond the four drawn sizes, valued at the mean (above the threshold)
        K = cf.deals_cap(r)
        beyond = sum(cf._ln1_expect(lambda L, lam=lam: cf._poisson_sf_terms(lam * L, K)[:, 4:].sum(axis=1), s_lam)
                     for lam in p["deals_per_month"] * sm)
        out["large_order_value"] -= p["deal_size_mean"] * beyond
        return out

    monkeypatch.setattr(cf, "_key_account_means", first_four_only)
    rows = {r.metric: r for r in cf.audit_case(_many_deals_case(), TRIALS, 5, MC_TRIALS)}
    assert rows["pay:current"].flagged and rows["pay:current"].z > 4


@pytest.mark.slow
def test_sixty_random_cases_at_more_trials():
    """`make validate`: 60 random cases (15 per process) at 120 trials, none beyond 4 SE."""
    rows = cf.audit(60, 120, 3, 4000)
    assert not _failures(rows), "\n".join(_failures(rows))


def test_a_lone_per_unit_element_under_a_draw_is_not_its_closed_form():
    """Seed 31, case 98: one per-unit element on partners opened (55 a rep-year) under a forgiven quarterly draw of
    10,120 that the rep never earns back. The current plan pays the draw, so its expected pay is the draw's cash by
    Monte Carlo, not the element's closed form (z was +1.8e11)."""
    case = cf.draw_case(98, np.random.default_rng([31, 98]))
    assert case.draw is not None and len(case.components) == 1 and case.components[0]["kind"] == "per_unit"
    rows = {r.metric: r for r in cf.audit_case(case, 10, 31, 300)}
    assert rows["pay:current"].method == "mc"
    assert rows["pay:current"].expected == pytest.approx(case.draw["amount"], rel=1e-6)
    assert not _failures(list(rows.values())), "\n".join(_failures(list(rows.values())))


@pytest.mark.parametrize("index", [4, 143])
def test_a_clawback_matches_its_independent_derivation(index):
    """Seed 40 on draws clawbacks (section 3): case 4 (telesales, 70% team pay, all revenue pay clawed within 18
    months, carried) and case 143 (generic, a gate, a scorecard, only the revenue SPIFF clawed) agree with the
    Monte Carlo of section 3's equations on pay after recoveries, recovered and unrecovered pay."""
    case = cf.draw_case(index, np.random.default_rng([40, index]), clawback=True)
    assert case.clawback is not None
    rows = cf.audit_case(case, TRIALS, 40, MC_TRIALS)
    assert {"clawback_recovered", "clawback_unrecovered", "cancelled_revenue"} <= {r.metric for r in rows}
    assert not _failures(rows), "\n".join(_failures(rows))


def test_audit_flags_a_clawback_window_it_does_not_derive():
    """With the engine's clawback window at 1 month against the derivation's 18 (every cancellation clawed back, W =
    3), the engine recovers about a third of what the derivation does: flagged."""
    case = cf.draw_case(4, np.random.default_rng([40, 4]), clawback=True)
    assert case.clawback["window_months"] >= 3
    narrow = cf.Case(**{**case.__dict__, "clawback": {**case.clawback, "window_months": 1}})
    eng = cf.run_engine(narrow, TRIALS, 44)
    exp = cf.expectations(case, MC_TRIALS, 40)
    row = cf.Row(4, "clawback_recovered", *eng["clawback_recovered"], *exp["clawback_recovered"][:3])
    assert row.flagged and row.z < -4
    assert cf.draw_case(4, np.random.default_rng([40, 4])).clawback is None  # drawn only when asked (seeds >= 40)
