"""Helpers of the salary-under-risk, bonus-to-commission and lump-sum findings (simlib.fit.findings)."""

import numpy as np
import pytest

from simlib.behaviour.kernels import shock_nodes
from simlib.fit import findings as V
from simlib.model.plans import expected_quota
from simlib.scenario import scenario_from_dict


def _monthly_cv(scen) -> float:
    """CV of a rep's monthly revenue at expected attainment one, from the production parameters."""
    r = next(iter(scen.roles.values()))
    p = r.process_params()
    if r.process == "telesales":
        return float(np.sqrt((1.0 + p.deal_value_cv**2) / (p.calls_per_month * p.lead_rate * p.conversion_rate)))
    if r.process == "key_account":  # compound Poisson of lognormal deal sizes
        return float(np.sqrt(np.exp(p.deal_size_sd_log**2) / p.deals_per_month))
    return float(p.revenue_cv)


@pytest.mark.parametrize("process", ["telesales", "key_account", "channel"])
def test_noisier_scales_the_monthly_revenue_cv(process):
    s = V._load("salary_under_risk")
    if process != "telesales":
        s = V.swap_role(s, process)
    n = V.noisier(s, 2.0)
    assert _monthly_cv(n) == pytest.approx(2.0 * _monthly_cv(s), rel=1e-9)
    if process == "telesales":  # the programme's lognormal nodes (5 Gauss-Hermite points) see it too
        role = next(iter(s.roles))
        cvq = [float(np.sqrt((w * v**2).sum() - 1.0)) for v, w in (shock_nodes(x, role, np.array([1.0])) for x in (s, n))]
        assert cvq[1] == pytest.approx(2.0 * cvq[0], rel=1e-4)


def test_risk_premium_of_normal_pay_is_half_rho_variance():
    rng = np.random.default_rng(3)
    pay = rng.normal(10_000.0, 1_000.0, size=(4, 200_000))
    rho = 1e-4
    rp = V._risk_premium(pay, rho)
    # CARA with normal pay: rho sd^2 / 2 = 50; SE of the estimate about 0.3
    assert rp == pytest.approx(np.full(4, 50.0), abs=2.0)
    assert np.all(V._risk_premium(pay, 0.0) == 0.0)


def test_swap_role_scales_lump_sums_and_plan_pay():
    s = V._load("lump_sums")
    t = V.swap_role(s, "telesales")
    (name, r0), (_, r1) = next(iter(s.roles.items())), next(iter(t.roles.items()))
    amt = lambda sc: sc.role_plan("lump_sums", name).components[1].steps[0].amount  # noqa: E731
    assert amt(t) / r1.target_incentive == pytest.approx(amt(s) / r0.target_incentive)
    b = V._load("salary_under_risk")
    k = V.swap_role(b, "key_account")
    for sc in (b, k):
        role = next(iter(sc.roles))
        ote = sc.roles[role].base_salary + sc.roles[role].target_incentive
        weight = sc.role_plan("salary_heavy", role).components[0].weight
        at_target = sc.base_salary("salary_heavy", role) + weight * sc.target_incentive("salary_heavy", role)
        assert at_target == pytest.approx(ote)  # the same OTE as the incentive-heavy plan


def test_added_findings_are_deterministic():
    a = V.validate_model(trials=6, rng=4, only=["lump_sums", "salary_risk"], roles="first")
    b = V.validate_model(trials=6, rng=4, only=["lump_sums", "salary_risk"], roles="first")
    assert a["measured"].tolist() == b["measured"].tolist()


def test_kishore_commission_pays_one_rate_per_euro_and_the_target_incentive_at_quota():
    """Kishore et al.'s commission: one rate on every euro all year, the target incentive at the expected annual
    quota, on all three role types (the rate follows each role swap's target incentive and quota)."""
    finding = next(f for f in V.FINDINGS if f.key == "bonus_to_commission")
    for s in V.role_scenarios(finding, "all"):
        name = next(iter(s.roles))
        (comp,) = s.role_plan("commission", name).components
        assert comp.kind == "per_unit" and comp.measure == "revenue" and comp.period == "quarter"
        at_quota = comp.rate * expected_quota(s, "commission", name)
        assert at_quota == pytest.approx(s.roles[name].target_incentive, rel=1e-6)
        # the lump sum pays the same at quota: a quarter's target incentive in each quarter
        assert 4 * s.role_plan("bonus", name).components[0].steps[0].amount == pytest.approx(at_quota, rel=1e-6)


def test_kishore_commission_pays_the_same_per_euro_in_every_season():
    """With seasonal quarterly quotas the commission still pays its one rate on each rep's revenue (a curve on
    each quarter's attainment would pay more per euro in a low-season quarter)."""
    s = V._load("bonus_to_commission")
    data = s.model_dump(by_alias=True)
    data["roles"]["reps"]["seasonality"] = [0.7, 0.8, 1.3, 0.8, 0.9, 1.2, 0.7, 0.8, 1.1, 1.0, 1.2, 1.5]
    seasonal = scenario_from_dict(data, "seasonal")
    rate = seasonal.role_plan("commission", "reps").components[0].rate
    run = V.role_run(seasonal, "commission", trials=2, rng=5)
    assert np.allclose(run.incentive, rate * run.measures["revenue"].sum(axis=-1), rtol=1e-9)
