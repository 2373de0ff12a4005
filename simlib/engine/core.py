"""The Monte Carlo engine: trials x reps x months in NumPy, in chunks, with CRN.

Every plan in a run sees the same reps, market and shocks draw for draw
(common random numbers); per-trial metrics are reduced exactly and in trial
order (:class:`simlib.model.metrics.Reducer`), so the same seed gives the same
numbers for any ``chunk_size`` and any executor.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import itertools
import multiprocessing
import os
import platform
import threading
from collections import ChainMap
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simlib.behaviour.dynamic import dynamic
from simlib.behaviour.policy import behaviour_metrics, production_weights
from simlib.engine.parallel import (
    cpu_count,
    is_dask_client,
    received,
    ship,
    submit_task,
    task_result,
    worker_count,
)
from simlib.errors import PlanError
from simlib.memo import ContentCache, by_identity
from simlib.model.contracts import BehaviourModel
from simlib.model.crediting import uses_crediting
from simlib.model.metrics import (
    CALENDAR_METRICS,
    CLAWBACK_METRICS,
    CREDIT_METRICS,
    CURRENCY_METRICS,
    DRAW_METRICS,
    KEEP,
    METRICS,
    NAMED_METRIC_BLOCKS,
    NAMED_METRICS,
    PROGRAMME_METRICS,
    PROJECT_METRICS,
    SPIFF_METRICS,
    GroupArrays,
    Reducer,
    group_metrics,
    in_reporting_currency,
    local_metrics,
    named_metrics,
    named_sums,
    named_sums_in_currency,
    pool_named,
)
from simlib.model.pipeline import RoleOutcome, passes, worlds
from simlib.model.plans import (
    expected_quota,
    period_structures,
    revenue_profile,
    uses_cancellations,
    uses_draws,
    uses_payout,
    uses_spiffs,
    year_sum,
)
from simlib.model.population import (
    Layout,
    chunk_memory,
    draw_chunk,
    draw_width,
    fx_rate,
    root_seed,
    sum_months,
    uses_currencies,
)
from simlib.model.programmes import uses_programmes
from simlib.model.projects import uses_projects
from simlib.scenario import MONTHS, Scenario
from simlib.version import __version__

TOTAL = "total"

#: most trials of one simulation without ``allow_large`` (``--allow-large``)
MAX_TRIALS = 10_000_000
#: most rep-months one command simulates without ``allow_large``:
#: trials x reps x 12 months x plans x behavioural draws x design points
MAX_REP_MONTHS = 5e9
#: peak bytes of one trial of one rep inside a chunk (measured about 35 KB under behaviour dynamic, docs/scale-out.md)
BYTES_PER_REP_TRIAL = 40_000


def memory_size() -> float:
    """This machine's physical memory in bytes (16 GB where the system does not say)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 16e9


class RequestTooLarge(PlanError):
    """A request past :data:`MAX_TRIALS` or :data:`MAX_REP_MONTHS`, refused before anything is allocated."""


def request_size(scenario: Scenario, trials: int, n_plans: int, *, points: int = 1, draws: int = 0) -> float:
    """Rep-months a request simulates: trials x headcount x 12 x plans x max(draws, 1) x points."""
    return float(trials) * scenario.headcount * 12 * max(n_plans, 1) * max(draws, 1) * max(points, 1)


def check_request(scenario: Scenario, trials: int, n_plans: int, *, points: int = 1, draws: int = 0,
                  allow_large: bool = False) -> None:
    """Refuse a request larger than the limits, before any work starts.

    The limits: :data:`MAX_TRIALS` trials, :data:`MAX_REP_MONTHS` rep-months,
    and one trial of every rep (:data:`BYTES_PER_REP_TRIAL` x headcount) within
    the machine's memory.

    Parameters
    ----------
    scenario : Scenario
        Gives the headcount.
    trials, n_plans, points, draws : int
        Trials per simulation, plans per simulation, simulations (design
        points or optimiser evaluations) and behavioural draws.
    allow_large : bool
        Skip the check (``--allow-large``): the user means it.

    Raises
    ------
    RequestTooLarge
        Naming the size asked for, the limit and the way past it.
    """
    if allow_large:
        return
    if trials > MAX_TRIALS:
        raise RequestTooLarge(f"--trials {trials:,}: at most {MAX_TRIALS:,} trials per simulation "
                              f"(pass --allow-large if you mean it)")
    size = request_size(scenario, trials, n_plans, points=points, draws=draws)
    if size > MAX_REP_MONTHS:
        raise RequestTooLarge(
            f"the request simulates {size:.3g} rep-months ({trials:,} trials x {scenario.headcount:,} reps x 12 months "
            f"x {n_plans} plan(s) x {max(draws, 1)} draw(s) x {points:,} point(s)), more than the limit of "
            f"{MAX_REP_MONTHS:.0e}; ask for fewer trials, points or plans (or pass --allow-large if you mean it)")
    need, have = BYTES_PER_REP_TRIAL * scenario.headcount, memory_size()
    if need > have:  # the engine holds at least one trial of every rep at once
        raise RequestTooLarge(
            f"headcount {scenario.headcount:,}: one trial of every rep needs about {need / 1e9:.1f} GB of memory, "
            f"more than this machine's {have / 1e9:.1f} GB; model fewer reps (or pass --allow-large if you mean it)")

#: behaviour name -> factory(scenario) returning a :class:`simlib.model.contracts.BehaviourModel`
#: (None: today's effort everywhere)
BEHAVIOURS: dict[str, Callable[[Scenario], BehaviourModel] | None] = {"none": None, "dynamic": dynamic}

#: behaviour used when neither the call nor the scenario's ``behaviour.mode`` names one
DEFAULT_BEHAVIOUR = "dynamic"


def resolve_behaviour(scenario: Scenario, behaviour: str | BehaviourModel | None) -> str | BehaviourModel:
    """The behaviour to run: the argument, else the scenario's ``behaviour.mode``, else the default."""
    if behaviour is not None:
        return behaviour
    return scenario.behaviour.mode or DEFAULT_BEHAVIOUR


def register_behaviour(name: str, factory: Callable[[Scenario], BehaviourModel]) -> None:
    """Make a behaviour model selectable by name in :func:`simulate`."""
    BEHAVIOURS[name] = factory


@dataclass
class Layouts:
    """Column layout of the per-trial rows a chunk returns."""

    plans: list[str]
    reference: str
    groups: list[str]
    metrics: list[str]

    @property
    def n_levels(self) -> int:
        return len(self.plans) * len(self.groups) * len(self.metrics)

    @property
    def diff_plans(self) -> list[str]:
        return [p for p in self.plans if p != self.reference]

    @property
    def ncols(self) -> int:
        return self.n_levels + len(self.diff_plans) * len(self.groups) * len(self.metrics)

    def level_index(self) -> list[tuple[str, str, str]]:
        return [(p, g, m) for p in self.plans for g in self.groups for m in self.metrics]

    def keep_index(self) -> list[tuple[str, str, str]]:
        return [(p, g, m) for p in self.plans for g in self.groups for m in KEEP]


def _resolve_plans(scenario: Scenario, plans: Sequence[str] | None, reference: str | None) -> tuple[list[str], str]:
    ref = reference or scenario.current_plan
    if plans is None:
        plans = list(scenario.plans)
    plans = list(dict.fromkeys(plans))
    unknown = [p for p in plans + [ref] if p not in scenario.plans]
    if unknown:
        raise PlanError(f"unknown plan(s) {unknown}; the scenario {scenario.source} has {sorted(scenario.plans)}")
    if ref not in plans:
        plans = [ref] + plans
    else:
        plans = [ref] + [p for p in plans if p != ref]
    return plans, ref


def _behaviour_model(scenario: Scenario, behaviour: str | BehaviourModel | None) -> BehaviourModel | None:
    behaviour = resolve_behaviour(scenario, behaviour)
    if behaviour == "none":
        return None
    if isinstance(behaviour, str):
        if behaviour not in BEHAVIOURS:
            raise PlanError(f"unknown behaviour '{behaviour}', expected one of {sorted(BEHAVIOURS)}")
        factory = BEHAVIOURS[behaviour]
        return None if factory is None else factory(scenario)
    return behaviour


def role_outcomes(
    scenario: Scenario,
    plans: Sequence[str],
    draws: dict[str, np.ndarray],
    *,
    behaviour: str | BehaviourModel | None = None,
    model: BehaviourModel | None = None,
) -> Iterator[RoleOutcome]:
    """The engine's pass over plans and roles for pre-drawn trials, without metrics.

    Yields a :class:`simlib.model.pipeline.RoleOutcome` per plan and role
    (plan by plan), for rep-level views (notebook charts, synthetic history).
    ``behaviour`` is resolved as in :func:`simulate_raw` unless ``model`` is
    given. The pass is :func:`run_chunk`'s, so the numbers are the same
    trials as :func:`simulate`'s.
    """
    if model is None:
        model = _behaviour_model(scenario, behaviour)
    yield from passes(scenario, plans, worlds(scenario, draws), model)


def run_chunk(
    scenario: Scenario,
    lay: Layouts,
    root: np.random.SeedSequence,
    start: int,
    stop: int,
    behaviour: str | BehaviourModel = "none",
    model: BehaviourModel | None = None,
    keep_draws: bool = False,
    drawn: dict[str, np.ndarray] | None = None,
) -> tuple[int, np.ndarray, np.ndarray]:
    """Simulate trials ``start..stop-1`` under every plan (``keep_draws``: the random numbers from :func:`chunk_draws`).

    ``drawn``: these trials' random numbers, already drawn (:class:`DrawAhead`), in memory nothing else writes
    while the chunk runs. Returns ``(start, rows, keep)``: rows (T, ncols) of per-trial metric levels
    followed by paired differences against the reference plan, and the kept
    per-trial values (T, len(keep_index)).
    """
    T = stop - start
    if model is None:
        model = _behaviour_model(scenario, behaviour)
    if drawn is not None:
        draws = drawn
    elif keep_draws:
        draws = chunk_draws(scenario, root, start, stop)
    else:  # a run that keeps no draws keeps nothing of a chunk past it: its random numbers go in this thread's scratch buffer
        layout = Layout.of(scenario)
        draws = draw_chunk(layout, root, np.arange(start, stop), scratch_buffer(T * draw_width(layout)))
    # behaviour off, nothing kept: the year's measures go in this thread's reused memory (rows and keep are new arrays)
    with chunk_memory() if model is None and not keep_draws else contextlib.nullcontext():
        outcomes = passes(scenario, lay.plans, worlds(scenario, draws), model)
        per_plan = {plan: _plan_metrics(scenario, group, T, draws)
                    for plan, group in itertools.groupby(outcomes, key=lambda o: o.plan)}
        rows, keep = _rows(lay, per_plan, T)
    return start, rows, keep


#: the random numbers of recent trial chunks, by content: every run of a sweep or optimiser uses the same seed and
#: trials, so each chunk's draws are made once per process (bounded in entries and bytes)
_DRAWS = ContentCache(max_items=256, max_bytes=128e6)
_DRAWS_LOCK = threading.Lock()  # a thread pool's workers share the table


def chunk_draws(scenario: Scenario, root: np.random.SeedSequence, start: int, stop: int) -> dict[str, np.ndarray]:
    """:func:`draw_chunk` of trials ``start..stop-1``, kept by content (the layout, the seed and the trials).

    The arrays are read-only (shared by every run that asks again); the dict is the caller's own.
    """
    layout = Layout.of(scenario)
    key = (repr(layout), root.entropy, tuple(root.spawn_key), root.pool_size, int(start), int(stop))
    with _DRAWS_LOCK:
        hit = _DRAWS.get(key)
    if hit is None:
        hit = draw_chunk(layout, root, np.arange(start, stop))
        for a in hit.values():
            a.flags.writeable = False
        with _DRAWS_LOCK:
            _DRAWS.put(key, hit, float(sum(a.nbytes for a in hit.values())))
    return dict(hit)


#: most float64 numbers a thread keeps in its scratch buffer between chunks (48 MB; larger chunks draw into new memory)
SCRATCH_MAX = 6_000_000
_SCRATCH = threading.local()


def scratch_buffer(n: int, slot: int = 0) -> np.ndarray | None:
    """This thread's buffer of at least ``n`` float64 numbers, reused chunk after chunk (None past :data:`SCRATCH_MAX`).

    A chunk's random numbers are drawn into it instead of new memory, which
    the operating system would otherwise hand over page by page, zeroed, for
    every chunk. Only for numbers nothing keeps past the chunk. ``slot`` 0 or
    1: a serial run that draws the next chunk while this one runs
    (:class:`DrawAhead`) alternates between the thread's two buffers.
    """
    if n > SCRATCH_MAX:
        return None
    bufs = getattr(_SCRATCH, "bufs", None)
    if bufs is None:
        bufs = _SCRATCH.bufs = [None, None]
    buf = bufs[slot]
    if buf is None or buf.size < n:
        buf = bufs[slot] = np.empty(n)
    return buf


#: environment variable: ``0`` turns off drawing a serial run's next chunk in a background thread (:func:`draw_ahead`)
PREFETCH_ENV = "SIMLIB_PREFETCH"


def draw_ahead(executor: Any, runs: Sequence[RunSpec], spans: list[tuple[int, list]]) -> bool:
    """Whether a batch draws each serial chunk's successor in a background thread while the chunk runs.

    Only where it can help without oversubscribing: this process runs the
    chunks itself (``executor`` None or ``"serial"``), it is not itself a
    worker of a process pool or Dask cluster (their cores are busy already),
    it may use more than one core, ``SIMLIB_PREFETCH`` is not ``0``, and
    some run keeps no draws (:func:`chunk_draws` shares those) over more
    than one chunk.
    """
    if not (executor is None or executor == "serial"):
        return False
    if os.environ.get(PREFETCH_ENV, "1").strip().lower() in ("0", "off", "false", "no"):
        return False
    if cpu_count() < 2 or multiprocessing.parent_process() is not None:
        return False
    return any(not r.keep_draws and len(sp) > 1 for r, (_, sp) in zip(runs, spans, strict=True))


class DrawAhead:
    """A serial run's chunks, each one's random numbers drawn in ``pool``'s thread while the chunk before it runs.

    A pipeline of depth one: asking for chunk ``i`` takes its draws (drawn
    ahead, or drawn now for the first chunk), hands the drawing of chunk
    ``i + 1`` to the thread, and runs chunk ``i`` here. Draws alternate
    between this thread's two scratch buffers (:func:`scratch_buffer` slots 0
    and 1), so chunk ``i + 1``'s numbers never overwrite chunk ``i``'s while
    they are read; chunk ``i + 2`` is drawn only once chunk ``i`` is done.
    NumPy's bulk fills and ufuncs and the compiled kernels release the GIL,
    so drawing overlaps the passes on a second core. The numbers are those
    of :func:`run_chunk` drawing for itself: the same :func:`draw_chunk` of
    the same trials. An error in the thread is raised here when its chunk is
    asked for.
    """

    def __init__(self, pool: Any, run: RunSpec, root: np.random.SeedSequence, spans: list[tuple[int, int]]):
        self.pool, self.run, self.root, self.spans = pool, run, root, spans
        self.layout = Layout.of(run.scenario)
        self.buffers: list[np.ndarray | None] | None = None
        self.pending: dict[int, Any] = {}  # chunk index -> future of its draws

    def _draw(self, i: int) -> dict[str, np.ndarray]:
        a, b = self.spans[i]
        assert self.buffers is not None
        return draw_chunk(self.layout, self.root, np.arange(a, b), self.buffers[i % 2])

    def chunk(self, i: int) -> tuple[int, np.ndarray, np.ndarray]:
        """:func:`run_chunk` of chunk ``i`` (asked for in order), chunk ``i + 1`` drawn meanwhile."""
        if self.buffers is None:  # taken when the run starts: an earlier run of the batch is done with them
            n = max(b - a for a, b in self.spans) * draw_width(self.layout)
            self.buffers = [scratch_buffer(n, 0), scratch_buffer(n, 1)]
        ahead = self.pending.pop(i, None)
        draws = ahead.result() if ahead is not None else self._draw(i)
        if i + 1 < len(self.spans):
            self.pending[i + 1] = self.pool.submit(self._draw, i + 1)
        run, (a, b) = self.run, self.spans[i]
        behaviour = run.behaviour if isinstance(run.behaviour, str) else "none"
        return run_chunk(run.scenario, run.layout, self.root, a, b, behaviour, run.model, False, drawn=draws)


def clear_draws() -> None:
    """Forget the kept random numbers of this process (benchmarks time a cold run with it)."""
    with _DRAWS_LOCK:
        _DRAWS.clear()


def _plan_metrics(scenario: Scenario, outcomes: Iterable[RoleOutcome], T: int,
                  draws: dict[str, np.ndarray] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Group (each role, then :data:`TOTAL`) -> metric -> (T,) per-trial values, for one plan's role outcomes.

    Money is in the reporting currency: a role paid in another is converted
    at the trial's rate (``draws``), and keeps its cost in its own currency
    in the currency metrics.
    """
    per_group: dict[str, dict[str, np.ndarray]] = {}
    pooled: list[GroupArrays] = []
    beh: dict[str, list[np.ndarray]] = {}
    named = named_metric_names(scenario)
    sums = []
    currencies = uses_currencies(scenario)
    for o in outcomes:
        arrays, rev_tot = _group_arrays(scenario, o)
        bm = _role_behaviour(scenario, o, T, rev_tot)
        local = local_metrics(arrays, None) if currencies else {}
        rate = fx_rate(scenario, o.role, draws) if currencies and draws is not None else None
        if rate is not None:  # to the reporting currency
            local = local_metrics(arrays, rate)
            arrays, rev_tot = in_reporting_currency(arrays, rate), rev_tot * rate
            bm = {**bm, "discount_cost": bm["discount_cost"] * rate}
        _add_behaviour(beh, bm, rev_tot, o.world.role.headcount)
        g = group_metrics(arrays)
        g.update(bm)
        if named:
            sums.append(_named_sums(o) if rate is None else named_sums_in_currency(_named_sums(o), rate))
            g.update(named_metrics(sums[-1], named, T))
        g.update(local)
        per_group[o.role] = g
        pooled.append(arrays)
    tot = group_metrics(GroupArrays.pooled(pooled))
    tot.update(_pooled_behaviour(beh, scenario.headcount))
    if named:
        tot.update(named_metrics(pool_named(sums), named, T))
    if currencies:  # a role's own currency does not add up across roles
        tot.update({m: np.full(T, np.nan) for m in CURRENCY_METRICS})
    budget = scenario.budget.incentive
    tot["over_budget"] = (tot["incentive_cost"] > budget).astype(float) if budget else np.full(T, np.nan)
    per_group[TOTAL] = tot
    return per_group


def named_metric_names(scenario: Scenario) -> list[str]:
    """The named measures' metrics of a scenario: those whose ``measures:`` block some role has."""
    have = {b for r in scenario.roles.values() if r.measures is not None
            for b, v in r.measures.model_dump().items() if v is not None}
    return [m for m in NAMED_METRICS if NAMED_METRIC_BLOCKS[m] in have]


def _named_sums(o: RoleOutcome) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A role's sums behind the named metrics (none for a role without named measures)."""
    nm, R = o.world.role.measures, o.world.role.headcount
    if nm is None or o.world.role.credited_on is not None:  # credited roles' are their covered reps', counted there
        return {}
    measures = o.measures if o.credit is None else ChainMap({"revenue": o.credit.booked[..., None]}, o.measures)
    return named_sums(measures, None if nm.retention is None else float(nm.retention.customers * R),
                      None if nm.visits is None else float(nm.visits.working_days * MONTHS * R))


def _group_arrays(scenario: Scenario, o: RoleOutcome) -> tuple[GroupArrays, np.ndarray]:
    """A role's inputs to :func:`group_metrics`, and its revenue per trial (T,) (kept in the outcome's memo)."""
    # (T, R), shared with compute_pay; under crediting the measures are the credited ones, and revenue is booked
    rev = year_sum(o.measures, "revenue", o.memo) if o.credit is None else o.credit.booked
    if "rev_tot" not in o.memo:
        o.memo["rev_tot"] = rev.sum(axis=1)
    R = o.world.role.headcount
    pay = o.pay
    arrays = GroupArrays(
        revenue=rev, margin=np.full(R, o.world.role.gross_margin), incentive=pay.incentive,
        base=np.full(R, pay.base), target_incentive=np.full(R, pay.target_incentive),
        attainment=pay.attainment, capped=pay.capped, recognition=pay.recognition,
    )
    if uses_draws(scenario):  # every role and plan then has the draw metrics (0 without a draw)
        zero = np.zeros_like(pay.incentive)
        arrays.draw_paid = zero if pay.draw is None else pay.draw.paid_over_earned
        arrays.draw_outstanding = zero if pay.draw is None else pay.draw.outstanding
    if uses_spiffs(scenario):  # every role and plan then has the SPIFF metric (0 without one)
        arrays.spiff = np.zeros_like(pay.incentive) if pay.spiff is None else pay.spiff
    if pay.calendar is not None:  # some plan of the scenario has a payout calendar: every role has the metrics
        arrays.accrual, arrays.cash, arrays.next_year = pay.calendar.accrual, pay.calendar.cash, pay.calendar.next_year
    if uses_programmes(scenario):  # every role and plan then has the programme metrics (0 without one)
        pg, zero = pay.programmes, np.zeros_like(pay.incentive)
        arrays.programme_cost = zero if pg is None else pg.cost
        arrays.programme_value = zero if pg is None else pg.value
        arrays.programme_winners = zero if pg is None else pg.winners
        arrays.programme_trained = zero if pg is None else pg.trained
    if uses_projects(scenario):  # every role and plan then has the project metrics (none: no pay, nothing done)
        pj, zero = pay.projects, np.zeros_like(pay.incentive)
        arrays.project_pay = zero if pj is None else pj.pay
        arrays.project_result = zero if pj is None else pj.team
        arrays.project_effort = zero if pj is None else pj.effort
    if uses_cancellations(scenario):  # every role and plan then has the clawback metrics (0 without cancellations)
        cb, zero = pay.clawback, np.zeros_like(pay.incentive)
        arrays.cancelled = zero if cb is None else cb.cancelled
        arrays.clawed = zero if cb is None else sum_months(cb.recovered)
        arrays.unrecovered = zero if cb is None else cb.unrecovered
    if o.credit is not None:  # a scenario with crediting: every role has the metrics
        comp = pay.base + pay.incentive
        zero = np.zeros_like(pay.incentive)
        # deal credit: a manager's roll-up of their team is paid on, but credits no deal
        arrays.credited = zero if o.credit.kind == "manager" else o.credit.credited
        arrays.overlay_comp = comp if o.credit.kind == "overlay" else zero
        arrays.manager_comp = comp if o.credit.kind == "manager" else zero
    return arrays, o.memo["rev_tot"]


def _role_behaviour(scenario: Scenario, o: RoleOutcome, T: int, rev_tot: np.ndarray) -> dict[str, np.ndarray]:
    """A role's behaviour metrics: from what its policy recorded, else today's (memoised with today's measures)."""
    ends = list(_period_ends(scenario, o.plan, o.role))
    rec = None if o.policy is None else o.policy.recorded
    if rec is not None:  # what this plan's policy recorded; effort weighted by the months' production
        return behaviour_metrics(rec, o.measures, ends, T, rev_tot, production_weights(revenue_profile(scenario, o.role)))
    # today's behaviour: the same for every plan with these period ends
    key = ("behaviour_metrics", tuple(ends))
    if key not in o.memo:
        o.memo[key] = behaviour_metrics(None, o.measures, ends, T, rev_tot)
    return o.memo[key]


@by_identity()
def _period_ends(scenario: Scenario, plan: str, role: str) -> tuple[int, ...]:
    """The last months of the pay periods of a role plan's primary structure, or with annual pay beside a shorter
    period's the shorter one's, unless that is monthly (every month would be a period's last): then the year's
    (:func:`simlib.model.plans.period_structures`; of the frozen scenario: kept).

    Its components are compared in money, on the plan's expected quota (as the behaviour model compares them), so
    the periods do not follow the target incentive's label (docs/model.md section 6.2)."""
    inner, outer = period_structures(scenario.role_plan(plan, role), scenario.target_incentive(plan, role),
                                     quota=expected_quota(scenario, plan, role))
    return outer.ends if outer is not None and len(inner.ends) == MONTHS else inner.ends


def paid_monthly(scenario: Scenario, plan: str, role: str) -> bool:
    """Whether every month ends one of the role plan's pay periods (as the behaviour model reads them): then the
    share of revenue booked in a period's last month says nothing and is not applicable (NaN)."""
    return len(set(_period_ends(scenario, plan, role))) >= MONTHS


def _add_behaviour(beh: dict[str, list[np.ndarray]], bm: dict[str, np.ndarray], rev_tot: np.ndarray, headcount: int) -> None:
    """Collect a role's behaviour metrics in ``beh`` as sums to pool: revenue-weighted or headcount-weighted."""
    lms = bm["last_month_share"]
    known = np.isfinite(lms)  # a role paid monthly has no share (NaN): the total pools the others
    for key, v in (("last", np.where(known, lms, 0.0) * rev_tot), ("revtot", np.where(known, rev_tot, 0.0)),
                   ("discount_cost", bm["discount_cost"])):
        beh.setdefault(key, []).append(v)
    for key in ("help_given", "effort_index", "give_up_share", "coast_share"):
        beh.setdefault(key, []).append(bm[key] * headcount)


def _pooled_behaviour(beh: dict[str, list[np.ndarray]], headcount: int) -> dict[str, np.ndarray]:
    """Behaviour metrics of all roles together from the sums :func:`_add_behaviour` collected."""
    bsum = {k: np.sum(v, axis=0) for k, v in beh.items()}
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        out["last_month_share"] = np.where(bsum["revtot"] > 0, bsum["last"] / np.where(bsum["revtot"] > 0, bsum["revtot"], 1.0), np.nan)
    out["discount_cost"] = bsum["discount_cost"]
    for key in ("help_given", "effort_index", "give_up_share", "coast_share"):
        out[key] = bsum[key] / float(headcount)  # headcount-weighted means
    return out


def _rows(lay: Layouts, per_plan: dict[str, dict[str, dict[str, np.ndarray]]], T: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-trial rows (levels, then differences against the reference plan) and kept values of a chunk."""
    nan = np.full(T, np.nan)
    levels = np.stack([per_plan[p][g].get(m, nan) for p, g, m in lay.level_index()], axis=1)
    parts = [levels]
    n = len(lay.groups) * len(lay.metrics)
    ref_block = levels[:, :n]
    for i, p in enumerate(lay.plans):
        if p == lay.reference:
            continue
        parts.append(levels[:, i * n : (i + 1) * n] - ref_block)
    keep = np.stack([per_plan[p][g][m] for p, g, m in lay.keep_index()], axis=1)
    return np.concatenate(parts, axis=1), keep


def _chunks(trials: int, chunk_size: int) -> list[tuple[int, int]]:
    """Spans of at most ``chunk_size`` trials, as equal as possible (no small last chunk)."""
    if trials <= 0:
        return []
    n = -(-trials // chunk_size)
    edges = [trials * i // n for i in range(n + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))


#: random numbers per chunk the engine aims at (16 MB), and for a run into the scratch buffer (:func:`scratch_chunk_size`)
CHUNK_NUMBERS = 2_000_000
SCRATCH_CHUNK_NUMBERS = 4_000_000


def default_chunk_size(scenario: Scenario, numbers: int = CHUNK_NUMBERS) -> int:
    """Trials per chunk so one chunk's draws stay near ``numbers`` float64s (16 MB; one trial per chunk for the
    largest organisations)."""
    lay = Layout.of(scenario)
    per_trial = lay.n_normal + lay.n_uniform
    return int(np.clip(numbers // max(per_trial, 1), 1, 1024))


def scratch_chunk_size(scenario: Scenario) -> int:
    """Trials per chunk of a run with behaviour off that keeps no draws: chunks twice the usual (32 MB of draws).

    Its chunks draw into the thread's reused scratch buffer and do their
    elementwise work tile by tile, so a larger chunk costs little more
    memory traffic and halves the fixed cost per chunk (about 3 ms for the
    default scenario: per role and metric, NumPy calls on small arrays).
    """
    return default_chunk_size(scenario, SCRATCH_CHUNK_NUMBERS)


#: fewest trials per chunk the engine picks by itself for a parallel executor (below: overhead dominates)
MIN_PARALLEL_CHUNK = 64


def solve_task(model: Any, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str, Any]]:
    """A worker's task: solve roles' behaviour under plans (see :func:`solve_many`); ``model`` as :func:`ship` sent it."""
    model = received(model)
    return [(plan, role, model.solve(plan, role)) for plan, role in pairs]


def solve_ahead(model: BehaviourModel, plans: Sequence[str], executor: Any = None) -> None:
    """Solve every plan's behaviour once, before any chunk runs, so no worker solves it again (:func:`solve_many`)."""
    for _ in solve_many([(model, plans)], executor):
        pass


def _solve_groups(todo: list[tuple[str, str]], per_plan: bool) -> list[list[tuple[str, str]]]:
    """(plan, role) pairs as tasks: one per plan (its roles share a worker's set-up) or one per pair."""
    if not per_plan:
        return [[pair] for pair in todo]
    groups: dict[str, list[tuple[str, str]]] = {}
    for plan, role in todo:
        groups.setdefault(plan, []).append((plan, role))
    return list(groups.values())


def solve_many(work: Sequence[tuple[Any, Sequence[str]]], executor: Any = None) -> Iterator[None]:
    """Solve the plans of several runs, all their tasks submitted at once; yields as each run's model is complete.

    ``work`` is ``(model, plans)`` per run. A behaviour model that solves per
    plan says so with ``unsolved(plans)`` (the (plan, role) pairs it has not
    solved yet, its own set-up done), ``solve(plan, role)`` and ``adopt(plan,
    role, solution)``; other models (and None) are left alone. With an
    executor the pairs are solved as tasks on its workers (one task per plan
    when there are plans enough to keep every worker busy, else one per role)
    and adopted here, the model sent to each worker once (:func:`ship`).
    Yielding after each run lets the caller start that run's chunks while the
    later runs' plans are still being solved. Solutions are deterministic, so
    where they are made changes no number.
    """
    local = executor is None or executor == "serial"
    todos = []
    for model, plans in work:
        unsolved = getattr(model, "unsolved", None)
        todos.append([] if unsolved is None else unsolved(list(plans)))
    n_plans = len({(id(m), p) for (m, _), todo in zip(work, todos, strict=True) for p, _ in todo})
    per_plan = local or n_plans >= 2 * worker_count(executor)
    pending = []
    for (model, _), todo in zip(work, todos, strict=True):
        if local or len(todo) < 2:  # solved here, in place, when the run's turn comes
            pending.append([submit_task(None, solve_task, (model, todo))] if todo else [])
            continue
        sent = ship(executor, model)
        pending.append([submit_task(executor, solve_task, (sent, g)) for g in _solve_groups(todo, per_plan)])
    for (model, _), handles in zip(work, pending, strict=True):
        for h in handles:
            for plan, role, rs in task_result(h):
                model.adopt(plan, role, rs)  # type: ignore[attr-defined]
        yield None


def _map(executor, fn, args_list: list[tuple]) -> Iterable:
    """Apply fn to each args tuple, yielding results in order."""
    if executor is None or executor == "serial":
        for a in args_list:
            yield fn(*a)
        return
    if is_dask_client(executor):
        futures = [executor.submit(fn, *a, pure=False) for a in args_list]
        for f in futures:
            yield f.result()
            f.release()
        return
    if hasattr(executor, "submit"):  # concurrent.futures.Executor
        futures = [executor.submit(fn, *a) for a in args_list]
        for f in futures:
            yield f.result()
        return
    raise TypeError(f"executor: expected None, 'serial', a concurrent.futures Executor or a dask Client, got {executor!r}")


def chunk_spans(trials: int, chunk_size: int) -> list[tuple[int, int]]:
    """The ``(start, stop)`` spans the engine splits ``trials`` into (at most ``chunk_size`` each, as equal as possible)."""
    return _chunks(trials, chunk_size)


def map_chunks(executor, fn, args_list: list[tuple]) -> Iterable:
    """Apply ``fn`` to each args tuple where ``executor`` runs chunks, yielding results in order."""
    return _map(executor, fn, args_list)


def behaviour_model(scenario: Scenario, behaviour: str | BehaviourModel | None) -> BehaviourModel | None:
    """The behaviour model a run uses (:func:`resolve_behaviour`, then built by name); None: today's effort."""
    return _behaviour_model(scenario, behaviour)


@dataclass
class RawResult:
    """Numbers of a run before labelling (see :class:`simlib.engine.results.SimulationResult`)."""

    layout: Layouts
    n: np.ndarray
    mean: np.ndarray
    se: np.ndarray
    keep: np.ndarray
    provenance: dict[str, Any] = field(default_factory=dict)


def simulate_raw(
    scenario: Scenario,
    plans: Sequence[str] | None = None,
    *,
    trials: int = 1000,
    rng: int | np.random.SeedSequence | np.random.Generator | None = None,
    reference: str | None = None,
    behaviour: str | BehaviourModel | None = None,
    chunk_size: int | None = None,
    executor: Any = None,
    progress: bool = False,
) -> RawResult:
    """Run the Monte Carlo and reduce it; see :func:`simlib.simulate`."""
    if not isinstance(trials, (int, np.integer)) or trials < 2:
        raise PlanError(f"trials: expected an integer >= 2, got {trials!r}")
    run = prepare_run(scenario, plans, reference, behaviour)
    return simulate_runs([run], trials=trials, rng=rng, chunk_size=chunk_size, executor=executor, progress=progress)[0]


@dataclass
class RunSpec:
    """One simulation of a batch (:func:`simulate_runs`): a scenario, its layout (reference plan first) and behaviour."""

    scenario: Scenario
    layout: Layouts
    behaviour: str | BehaviourModel
    model: BehaviourModel | None
    keep_draws: bool = False


def prepare_run(scenario: Scenario, plans: Sequence[str] | None = None, reference: str | None = None,
                behaviour: str | BehaviourModel | None = None, keep_draws: bool = False) -> RunSpec:
    """Plans, metrics and behaviour model of a simulation, checked before any work (unknown plans, behaviours).

    ``keep_draws``: keep each chunk's random numbers for later runs of the same layout, seed and trials
    (:func:`chunk_draws`; a sweep's or optimiser's runs share them); a single run draws and lets them go.
    """
    plan_list, ref = _resolve_plans(scenario, plans, reference)
    left_out = {m for family, used in _metric_families(scenario) if not used for m in family}
    left_out |= set(NAMED_METRICS) - set(named_metric_names(scenario))
    metrics = [m for m in METRICS if m not in left_out]
    behaviour = resolve_behaviour(scenario, behaviour)
    model = _behaviour_model(scenario, behaviour)
    lay = Layouts(plans=plan_list, reference=ref, groups=list(scenario.roles) + [TOTAL], metrics=metrics)
    return RunSpec(scenario, lay, behaviour, model, keep_draws)


def _metric_families(scenario: Scenario) -> tuple[tuple[dict, bool], ...]:
    """The metrics of each optional mechanic, and whether the scenario uses it (its metrics are in results only then)."""
    return (
        (DRAW_METRICS, uses_draws(scenario)),
        (SPIFF_METRICS, uses_spiffs(scenario)),
        (CALENDAR_METRICS, uses_payout(scenario)),
        (CLAWBACK_METRICS, uses_cancellations(scenario)),
        (PROGRAMME_METRICS, uses_programmes(scenario)),
        (PROJECT_METRICS, uses_projects(scenario)),
        (CURRENCY_METRICS, uses_currencies(scenario)),
        (CREDIT_METRICS, uses_crediting(scenario)),
    )


def shipped_chunk(run: Any, root: np.random.SeedSequence, start: int, stop: int) -> tuple[int, np.ndarray, np.ndarray]:
    """A worker's task: :func:`run_chunk` of a :class:`RunSpec` sent once per worker (:func:`ship`)."""
    run = received(run)
    behaviour = run.behaviour if isinstance(run.behaviour, str) else "none"  # a model object is ``run.model``
    return run_chunk(run.scenario, run.layout, root, start, stop, behaviour, run.model, run.keep_draws)


def _chunk_size(scenario: Scenario, trials: int, chunk_size: int | None, executor: Any, scratch: bool = False) -> int:
    """Trials per chunk: as asked, else :func:`default_chunk_size` (:func:`scratch_chunk_size` for a run with
    behaviour off that keeps no draws), made small enough to keep every worker busy."""
    cs = int(chunk_size) if chunk_size else scratch_chunk_size(scenario) if scratch else default_chunk_size(scenario)
    if cs < 1:
        raise PlanError(f"chunk_size: expected a positive integer, got {chunk_size!r}")
    local = executor is None or executor == "serial"
    if not chunk_size and not local:  # enough chunks to keep every worker busy (the numbers do not depend on it)
        cs = max(min(cs, -(-int(trials) // (2 * worker_count(executor)))), MIN_PARALLEL_CHUNK)
    return cs


def simulate_runs(
    runs: Sequence[RunSpec],
    *,
    trials: int = 1000,
    rng: int | np.random.SeedSequence | np.random.Generator | None = None,
    chunk_size: int | None = None,
    executor: Any = None,
    progress: bool = False,
    on_done: Callable[[int], Any] | None = None,
) -> list[RawResult]:
    """Several simulations on the same trials and seed (common random numbers), as one batch of tasks.

    A sweep's groups of points and an optimiser's batch of candidates are
    runs of one batch: every plan of every run is solved as a task
    (:func:`solve_many`), and each run's trial chunks are submitted as soon
    as its plans are solved, without waiting for other runs, so the workers
    always have tasks queued. Each run's scenario, layout and solved model go
    to every worker once (:func:`simlib.engine.parallel.ship`). Results are
    reduced per run in trial order, so each run's numbers are those of
    :func:`simulate_raw` on it alone, on any executor and chunking.
    ``on_done(i)`` is called as run ``i``'s numbers are complete (progress over runs).
    """
    if not isinstance(trials, (int, np.integer)) or trials < 2:
        raise PlanError(f"trials: expected an integer >= 2, got {trials!r}")
    root = root_seed(rng)
    sizes = [_chunk_size(r.scenario, int(trials), chunk_size, executor, r.model is None and not r.keep_draws)
             for r in runs]
    spans = [(cs, _chunks(int(trials), cs)) for cs in sizes]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(len(sp) for _, sp in spans), desc=f"simulating {trials} trials", unit="chunk")
    solving = solve_many([(r.model, r.layout.plans) for r in runs], executor)
    handles: list[list | None] = []
    out: list[RawResult] = []
    # one thread drawing serial chunks ahead (draw_ahead), ended with the batch, also on an error or interrupt
    pool = ThreadPoolExecutor(1, thread_name_prefix="simlib-draw") if draw_ahead(executor, runs, spans) else None
    try:
        for run, (_, sp) in zip(runs, spans, strict=True):
            next(solving)  # this run's plans are solved: its chunks can start
            handles.append(_chunk_tasks(executor, pool, run, root, sp))
            while len(handles) - len(out) > RUNS_IN_FLIGHT:  # bound what is held at once: reduce the oldest run
                out.append(_reduce_run(runs, spans, handles, len(out), root, int(trials), bar, on_done))
        while len(out) < len(runs):
            out.append(_reduce_run(runs, spans, handles, len(out), root, int(trials), bar, on_done))
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if bar is not None:
        bar.close()
    return out


def _chunk_tasks(executor: Any, pool: Any, run: RunSpec, root: np.random.SeedSequence,
                 sp: list[tuple[int, int]]) -> list:
    """A run's chunk tasks: drawn ahead in ``pool``'s thread (:class:`DrawAhead`) where it helps, else shipped."""
    if pool is not None and not run.keep_draws and len(sp) > 1:
        ahead = DrawAhead(pool, run, root, sp)
        return [submit_task(None, ahead.chunk, (i,)) for i in range(len(sp))]
    sent = ship(executor, run)
    return [submit_task(executor, shipped_chunk, (sent, root, a, b)) for a, b in sp]


#: runs of a batch whose chunks are queued at once (each holds its shipped model and, as they finish, its rows)
RUNS_IN_FLIGHT = 4


def _reduce_run(runs: Sequence[RunSpec], spans: list[tuple[int, list]], handles: list, i: int, root: np.random.SeedSequence,
                trials: int, bar, on_done) -> RawResult:
    """Run ``i``'s chunk results reduced in trial order (its handles are then dropped)."""
    run, hs = runs[i], handles[i]
    red = Reducer(run.layout.ncols)
    keeps = []
    for h in hs:
        start, rows, keep = task_result(h)
        red.add(start, rows)
        keeps.append(keep)
        if bar is not None:
            bar.update(1)
    handles[i] = None
    n, mean, se = red.finish()
    cs = spans[i][0]  # the chunk size asked for or chosen (spans are at most that long)
    prov = _provenance(run.scenario, root, trials, cs, run.behaviour, run.layout)
    if on_done is not None:
        on_done(i)
    return RawResult(run.layout, n, mean, se, np.concatenate(keeps, axis=0), prov)


def _provenance(scenario: Scenario, root: np.random.SeedSequence, trials: int, chunk_size: int,
                behaviour: str | BehaviourModel, lay: Layouts) -> dict[str, Any]:
    """What a run's numbers came from: scenario, seed, sizes, behaviour, plans, versions and time of creation."""
    return {
        "scenario": scenario.name,
        "scenario_file": scenario.source,
        "scenario_sha256": scenario.sha256,
        "currency": scenario.currency,
        "seed_entropy": str(root.entropy),
        "seed_spawn_key": list(root.spawn_key),
        "trials": trials,
        "chunk_size": chunk_size,
        "behaviour": behaviour if isinstance(behaviour, str) else type(behaviour).__name__,
        "plans": lay.plans,
        "reference": lay.reference,
        "simlib_version": __version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
