"""Shared contract tests of behaviour models and their policies, and the one simulation pass.

:class:`BehaviourContract` states what the engine relies on
(:mod:`simlib.model.contracts`); every registered behaviour model runs it
(:class:`TestRegistered`), and so does a small model written against
:class:`~simlib.model.contracts.PolicyBase` (:class:`TestSteadyEffort`), in
the manner of a shared test base that each implementation subclasses.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DEFAULT

from simlib.engine.core import BEHAVIOURS, role_outcomes
from simlib.model.contracts import BehaviourModel, Controls, Policy, PolicyBase, PolicyRecord
from simlib.model.pipeline import RoleOutcome, passes, worlds
from simlib.model.plans import set_quotas
from simlib.model.population import Layout, draw_chunk, root_seed
from simlib.model.production import run_year
from simlib.scenario import MONTHS, load_scenario

TRIALS = 5


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(DEFAULT)


@pytest.fixture(scope="module")
def chunk(scenario):
    """Worlds of a small chunk of trials, shared by every test of the module (read only)."""
    return worlds(scenario, draw_chunk(Layout.of(scenario), root_seed(4), np.arange(TRIALS)))


class _Recording(PolicyBase):
    """Steps another policy and keeps the controls it chose and the moves it settled."""

    def __init__(self, inner: Policy):
        self.inner, self.controls, self.moves = inner, [], []

    def __call__(self, month, history):
        c = self.inner(month, history)
        self.controls.append(c)
        return c

    def settle(self, month, history):
        mv = self.inner.settle(month, history)
        self.moves.append(mv)
        return mv


class BehaviourContract:
    """What every behaviour model and its policies must do; subclasses provide the ``model`` fixture."""

    def _policies(self, scenario, chunk, model):
        """(plan, role, world, quota, policy) for every plan and role of the scenario."""
        for plan in scenario.plans:
            for role, world in chunk.items():
                quota = set_quotas(scenario, plan, world)
                yield plan, role, world, quota, model.policy(plan, world, quota)

    def test_model_meets_the_protocol(self, model):
        assert isinstance(model, BehaviourModel)

    def test_policies_meet_the_protocol(self, scenario, chunk, model):
        for plan, role, _world, _quota, pol in self._policies(scenario, chunk, model):
            if pol is None:
                continue
            assert isinstance(pol, Policy), (plan, role)
            assert isinstance(pol.record_only, bool)
            rec = pol.recorded
            assert rec is None or isinstance(rec, PolicyRecord)

    def test_todays_plan_keeps_todays_effort(self, scenario, chunk, model):
        """Under the current plan a model gives no policy or a record-only one: today's year, bit for bit
        (a model predicts changes from today, docs/model.md section 4.1)."""
        cur = scenario.current_plan
        for role, world in chunk.items():
            pol = model.policy(cur, world, set_quotas(scenario, cur, world))
            assert pol is None or pol.record_only, role

    def test_controls_are_deterministic_shaped_finite_and_non_negative(self, scenario, chunk, model):
        """The same inputs give the same controls; each broadcasts to (T, R), finite, effort >= 0."""
        for plan, role, world, quota, pol in self._policies(scenario, chunk, model):
            if pol is None or pol.record_only:
                continue
            a, b = _Recording(pol), _Recording(model.policy(plan, world, quota))
            ya, yb = run_year(world, a), run_year(world, b)
            assert len(a.controls) == MONTHS
            for ca, cb in zip(a.controls, b.controls, strict=True):
                assert isinstance(ca, Controls)
                for name in ("effort", "focus", "help_mult"):
                    x, y = np.asarray(getattr(ca, name), float), np.asarray(getattr(cb, name), float)
                    assert np.array_equal(x, y), (plan, role, name)
                    assert np.broadcast_to(x, world.shape).shape == world.shape
                    assert np.all(np.isfinite(x)), (plan, role, name)
                assert np.all(np.asarray(ca.effort) >= 0.0), (plan, role)
            for now, later in a.moves:
                assert (now is None) == (later is None)
                if now is not None:
                    assert np.broadcast_to(now, world.shape).shape == world.shape
                    assert np.all(np.isfinite(now)) and np.all(np.isfinite(later))
            for k in ya:
                assert np.array_equal(ya[k], yb[k]), (plan, role, k)
            ra, rb = a.inner.recorded, b.inner.recorded
            if ra is not None:
                assert ra.effort.shape == world.shape + (MONTHS,)
                assert np.array_equal(ra.effort, rb.effort) and np.array_equal(ra.discount, rb.discount)

    def test_record_only_policy_records_what_stepping_records(self, scenario, chunk, model):
        """Replaying a record-only policy over today's year records exactly what stepping the year records."""
        base_of: dict = {}
        for plan, role, world, quota, pol in self._policies(scenario, chunk, model):
            if pol is None or not pol.record_only:
                continue
            stepped, replayed = pol, model.policy(plan, world, quota)
            year = run_year(world, stepped)
            base = base_of.setdefault(role, run_year(world))
            for k in base:
                assert np.array_equal(year[k], base[k]), (plan, role, k)
            replayed.record(base)
            rs, rr = stepped.recorded, replayed.recorded
            assert (rs is None) == (rr is None)
            if rs is not None:
                for attr in ("effort", "model_effort", "expected_left", "model_discount", "discount", "help"):
                    assert np.array_equal(getattr(rs, attr), getattr(rr, attr)), (plan, role, attr)
        if not base_of:
            pytest.skip("no record-only policy under any plan")

    def test_record_refuses_a_policy_that_changes_effort(self, scenario, chunk, model):
        for _plan, _role, world, _quota, pol in self._policies(scenario, chunk, model):
            if pol is not None and not pol.record_only:
                with pytest.raises(ValueError, match="record-only"):
                    pol.record(run_year(world))
                return
        pytest.skip("no policy that changes effort under any plan")


class TestRegistered(BehaviourContract):
    """Every behaviour model registered with the engine (``"none"`` is no model)."""

    @pytest.fixture(scope="class", params=[n for n, f in BEHAVIOURS.items() if f is not None])
    @classmethod
    def model(cls, request, scenario):
        return BEHAVIOURS[request.param](scenario)


class _Steady(PolicyBase):
    """Effort ``e`` every month, and a record of it."""

    def __init__(self, world, e):
        self.e = e
        self.log = PolicyRecord.today(world.shape)
        self.log.effort[:] = e

    @property
    def recorded(self):
        return self.log

    def __call__(self, month, history):
        return Controls(effort=np.full(self.log.help.shape, self.e))


class SteadyEffort:
    """Reps work 10% more under any plan but today's (None: today's effort, nothing recorded)."""

    def __init__(self, scenario):
        self.current = scenario.current_plan

    def policy(self, plan, world, quota):
        return None if plan == self.current else _Steady(world, 1.1)


class TestSteadyEffort(BehaviourContract):
    """A model written against :class:`PolicyBase`, returning None for today's plan."""

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, scenario):
        return SteadyEffort(scenario)


# ---------------------------------------------------------------------------
# the one pass
# ---------------------------------------------------------------------------
def test_passes_yield_one_outcome_per_plan_and_role_in_order(scenario, chunk):
    plans = ["harder_target", "current", "uncapped_quarterly"]
    out = list(passes(scenario, plans, chunk, BEHAVIOURS["dynamic"](scenario)))
    assert all(isinstance(o, RoleOutcome) for o in out)
    assert [(o.plan, o.role) for o in out] == [(p, r) for p in plans for r in scenario.roles]
    for o in out:
        assert o.quota.shape == o.pay.incentive.shape == o.world.shape
        assert o.measures["revenue"].shape == o.world.shape + (MONTHS,)


def test_todays_measures_are_simulated_once_and_shared(scenario, chunk):
    """Plans under which a role keeps today's effort share one year of measures (and its memo);
    a plan that changes effort gets its own."""
    model = SteadyEffort(scenario)
    out = {(o.plan, o.role): o for o in passes(scenario, ["current", "harder_target"], chunk, None)}
    steady = {(o.plan, o.role): o for o in passes(scenario, ["current", "harder_target"], chunk, model)}
    for role in scenario.roles:
        today, other = out[("current", role)], out[("harder_target", role)]
        assert other.measures is today.measures and other.memo is today.memo
        cur, moved = steady[("current", role)], steady[("harder_target", role)]
        assert cur.policy is None and moved.policy is not None
        assert moved.measures is not cur.measures
        for k in today.measures:
            assert np.array_equal(cur.measures[k], today.measures[k])
        assert moved.measures["revenue"].sum() > cur.measures["revenue"].sum()


def test_quotas_given_replace_the_plans_quotas(scenario, chunk):
    role = next(iter(scenario.roles))
    q = np.full(chunk[role].shape, 1e6)
    out = list(passes(scenario, ["current"], chunk, None, quotas={role: q}))
    assert out[0].quota is q
    np.testing.assert_allclose(out[0].pay.attainment, out[0].measures["revenue"].sum(axis=-1) / q, rtol=1e-12)
    assert not np.array_equal(out[1].quota, q)


def test_engine_outcomes_are_the_pass(scenario):
    """The engine's rep-level view is the pass over the same draws."""
    draws = draw_chunk(Layout.of(scenario), root_seed(2), np.arange(3))
    a = list(role_outcomes(scenario, ["current", "harder_target"], draws, behaviour="dynamic"))
    b = list(passes(scenario, ["current", "harder_target"], worlds(scenario, draws), BEHAVIOURS["dynamic"](scenario)))
    assert [(o.plan, o.role) for o in a] == [(o.plan, o.role) for o in b]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.pay.incentive, y.pay.incentive)
        np.testing.assert_array_equal(x.measures["revenue"], y.measures["revenue"])
