"""Multi-year runs: quotas by the plan's method each year, ratchets, attrition and backfill
(docs/model.md, sections 4.5 and 4.12).

The same seats (territory, team) are worked several years in a row; each
year has its own independent draws (market, noise): year ``y`` draws trial
``t`` from the per-trial stream (:func:`simlib.model.population.draw_chunk`)
of the root ``SeedSequence(entropy, spawn_key=root.spawn_key + (y,))``, and
the people draws of that year (a uniform per seat and month for leaving, a
normal for the ability of the seat's next hire, a uniform for the first
year's tenures) from ``spawn_key + (y, 1)``. Every plan sees the same draws
(common random numbers), and a trial's numbers do not depend on which other
trials share its chunk.

Under a plan whose quotas follow last year's sales (``quota.method:
last_year``), next year's quota is revised from this year's attainment,
asymmetrically (Leone, Misra & Zimmerman 2004)::

    q_{y+1} = q_y (1 + growth) (1 + up max(att - 1, 0) - down max(1 - att, 0))

with ``up`` and ``down`` from the scenario's ``behaviour.ratchet`` (the reps'
expectation is the firm's rule). Other quota methods set quotas afresh each
year. With the ``dynamic`` behaviour, reps who expect the ratchet hold back
when far above quota.

With ``people.attrition.enabled`` a year is simulated twice: first with the
year's starting roster (everyone stays), which gives each rep's pay, the
attainment to date of each month, top quartile and caps, hence the monthly
hazard (:mod:`simlib.model.attrition`) and who leaves when; then again with
those seats empty after the leaving month until the hire (``hiring``) starts
and ramps. Quotas are those set at the start of the year. The metrics are the
second pass's. A seat's pay is that of its occupants together (one quota).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from simlib.behaviour.dynamic import DynamicBehaviour
from simlib.behaviour.policy import effort_index, production_weights
from simlib.errors import PlanError
from simlib.format import interval
from simlib.memo import by_identity
from simlib.model import attrition as att
from simlib.model.pipeline import RoleOutcome, passes, worlds
from simlib.model.plans import revenue_profile, uses_draws
from simlib.model.population import Layout, RoleWorld, TrialStreams, draw_chunk, lognormal_mean_one, root_seed
from simlib.scenario import MONTHS, Scenario

#: metrics of a multi-year run, per plan, year and group (a role or ``total``), with their unit
YEAR_METRICS = {
    "revenue": "money per year",
    "incentive_cost": "money per year",
    "base_cost": "money per year (salaries of occupied months)",
    "hiring_cost": "money per year (hires started x cost per hire)",
    "lost_revenue": "money per year (empty and ramping months of seats that turned over, at today's expected revenue)",
    "cost_of_turnover": "money per year (hiring cost + lost revenue x gross margin)",
    "profit": "money per year (gross margin - incentive - salaries - hiring cost)",
    "profit_cumulative": "money (profit of the years so far)",
    "quota_mean": "money per year",
    "attainment_mean": "fraction",
    "share_at_quota": "fraction",
    "effort_index": "1 = today",
    "turnover_rate": "leavers / seats, per year",
    "regretted_turnover": "top-quartile leavers / seats, per year",
    "seats": "mean number of open seats in the year (the headcount plan)",
    "vacancy_months": "empty seat-months per year",
    "hires": "hires started per year",
    "tenure_under_1y": "share of reps at year end",
    "tenure_1_3y": "share of reps at year end",
    "tenure_over_3y": "share of reps at year end",
}

#: metrics of a multi-year run whose scenario has draws (some plan has one), with their unit
DRAW_YEAR_METRICS = {
    "draw_forgiven_on_exit": "money per year (recoverable draw balances of leavers written off, part of incentive)",
    "draw_recovered_on_exit": "money per year (recoverable draw balances taken from leavers' last pay)",
}

_SUMS = ("revenue", "incentive", "base_cost", "hiring_cost", "lost_revenue", "lost_margin", "margin", "quota",
         "attainment", "at_quota", "effort", "open_seats", "seats", "leavers", "regretted", "vacancy_months", "hires",
         "present_end", "ten_lt1", "ten_1_3", "ten_ge3")


def ratchet_quota(quota: np.ndarray, attainment: np.ndarray, up: float, down: float, growth: float = 0.0) -> np.ndarray:
    """Next year's quota from this year's quota and attainment (asymmetric revision)."""
    rev = 1.0 + up * np.maximum(attainment - 1.0, 0.0) - down * np.maximum(1.0 - attainment, 0.0)
    return quota * (1.0 + growth) * np.maximum(rev, 0.05)


@dataclass
class Seats:
    """One role's seats under one plan, for a chunk of trials: who sits there and since when.

    ability (T, R): the occupant's (or, for an empty seat, the awaited hire's); start (T, R): absolute
    month the occupant starts (0 = the run's first month); hired (T, R): the occupant was hired by the run;
    turned (T, R): the seat has turned over during the run (its empty and ramping months count as lost
    revenue); opens (R,): absolute month a seat of the growth plan opens (-1: one of the scenario's seats).
    """

    ability: np.ndarray
    territory: np.ndarray
    start: np.ndarray
    hired: np.ndarray
    turned: np.ndarray
    opens: np.ndarray


@dataclass
class YearsResult:
    """A multi-year run: per-trial metrics and their estimates.

    Attributes
    ----------
    frame : DataFrame
        plan, year, group, metric, mean, se, ci_low, ci_high, n (95% CIs over trials).
    diffs : DataFrame
        The same columns for each plan minus the current plan, paired on common random numbers.
    per_trial : (plan, year, group, metric) -> (trials,) array
    currency : str
        The scenario's currency (money in :meth:`table`).
    """

    frame: object
    diffs: object
    per_trial: dict = field(repr=False)
    plans: list[str] = field(default_factory=list)
    years: int = 0
    trials: int = 0
    currency: str = "EUR"

    @property
    def groups(self) -> list[str]:
        """Roles, then ``total``."""
        return list(dict.fromkeys(self.frame["group"]))

    def table(self, group: str = "total", metrics: Sequence[str] | None = None, *, currency: str | None = None,
              raw: bool = False):
        """Readable comparison of one group, as ``simlib run --years`` prints it: rows (metric by display name,
        year), a column per plan and one per other plan's paired difference from the current plan (``Δ plan``,
        ``*`` when the CI excludes 0); money in the scenario's currency (``currency`` overrides it) on one k / M
        scale per row, shares in %, changes of shares in points, each ``± 95% CI half-width``
        (:mod:`simlib.present`).

        ``raw=True``: rows by metric id, plain :func:`simlib.format.estimate` texts, ``Δplan`` columns; the
        numbers themselves are :attr:`frame`, :attr:`diffs` and :meth:`long`.
        """
        if not raw:
            return self._readable(group, metrics, currency or self.currency)
        return self._estimates_table(group, metrics)

    def _readable(self, group: str, metrics: Sequence[str] | None, currency: str):
        import pandas as pd

        import simlib.present as present

        table = self._estimates_table(group, metrics)  # checks the group; its rows and columns are the ones shown
        key = ["plan", "group", "metric", "year"]
        levels = self.frame[self.frame["group"] == group].set_index(key)
        diffs = self.diffs[self.diffs["group"] == group].set_index(key)
        lv = present.row_scales(levels.reset_index(), "mean", ["metric", "year"])  # one money scale per row
        dv = present.row_scales(diffs.reset_index(), "mean", ["metric", "year"])
        rows = {}
        for m, y in table.index:
            row = {p: present.fmt(*levels.loc[(p, group, m, y), ["mean", "se"]], m, currency, scale=lv[(m, y)],
                                  trials=self.trials) for p in self.plans}
            for p in self.plans[1:]:
                mean, se, lo, hi = diffs.loc[(p, group, m, y), ["mean", "se", "ci_low", "ci_high"]]
                row[f"Δ {p}"] = (present.fmt(mean, se, m, currency, signed=True, scale=dv[(m, y)])
                                 + (" *" if lo > 0 or hi < 0 else ""))
            rows[(present.label(m), y)] = row
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index = pd.MultiIndex.from_tuples(out.index, names=["metric", "year"])
        return out

    def _estimates_table(self, group: str, metrics: Sequence[str] | None):
        import pandas as pd

        from simlib.format import estimate

        if group not in self.groups:
            raise PlanError(f"group: '{group}' is not a role of the scenario, expected one of {self.groups}")
        if metrics is None:
            present = set(self.frame["metric"])
            metrics = [*YEAR_METRICS, *(m for m in DRAW_YEAR_METRICS if m in present)]
        metrics = list(metrics)
        key = ["plan", "group", "metric", "year"]
        f = dict(zip(self.frame[key].itertuples(index=False, name=None), self.frame[["mean", "se"]].to_numpy(),
                     strict=True))
        d = dict(zip(self.diffs[key].itertuples(index=False, name=None),
                     self.diffs[["mean", "se", "ci_low", "ci_high"]].to_numpy(), strict=True))
        rows = {}
        for m in metrics:
            for y in range(1, self.years + 1):
                row = {p: estimate(*f[(p, group, m, y)]) for p in self.plans}
                for p in self.plans[1:]:
                    mean, se, lo, hi = d[(p, group, m, y)]
                    row[f"Δ{p}"] = estimate(mean, se, signed=True) + (" *" if lo > 0 or hi < 0 else "")
                rows[(m, y)] = row
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index = pd.MultiIndex.from_tuples(out.index, names=["metric", "year"])
        return out

    def long(self):
        """Levels and paired differences in one long table: kind (level/difference), plan, reference, year, group,
        metric, mean, se, ci_low, ci_high, n."""
        import pandas as pd

        lv = self.frame.assign(kind="level", reference="")
        df = self.diffs.assign(kind="difference", reference=self.plans[0])
        cols = ["kind", "plan", "reference", "year", "group", "metric", "mean", "se", "ci_low", "ci_high", "n"]
        return pd.concat([lv[cols], df[cols]], ignore_index=True)


def run_years(
    scenario: Scenario,
    plans: Sequence[str] | None = None,
    *,
    years: int = 3,
    trials: int = 200,
    rng: int | np.random.SeedSequence | None = 0,
    behaviour: str = "dynamic",
    chunk: int | None = None,
    executor=None,
) -> YearsResult:
    """Run every plan over ``years`` consecutive years on common random numbers.

    Parameters
    ----------
    scenario : Scenario
    plans : sequence of str, optional
        Plans to compare (default: all; the current plan is always included, first).
    years : int
        Number of consecutive years (1-20).
    trials : int
        Monte Carlo trials (each a run of ``years`` years).
    rng : int or SeedSequence
        The one randomness argument.
    behaviour : {"dynamic", "none"}
    chunk : int, optional
        Trials simulated together (memory); results do not depend on it.
    executor : concurrent.futures.Executor, optional
        Runs the chunks (``submit``: a ``concurrent.futures`` executor or a Dask client); results do not
        depend on it either.
    """
    plans = _check(scenario, plans, years, trials, behaviour)
    opens = {r: _openings(scenario, r) for r in scenario.roles}
    scenario = _grown(scenario)
    root = root_seed(rng)
    model = DynamicBehaviour(scenario) if behaviour == "dynamic" else None
    size = trials if chunk is None else max(1, int(chunk))
    chunks = [np.arange(lo, min(lo + size, trials)) for lo in range(0, trials, size)]
    n = len(chunks)
    args = ([scenario] * n, [plans] * n, [years] * n, [root] * n, chunks, [model] * n, [opens] * n)
    if executor is None:
        parts = list(map(_run_chunk, *args))
    else:  # a concurrent.futures executor or a Dask client: submit, then collect in order
        parts = [f.result() for f in [executor.submit(_run_chunk, *a) for a in zip(*args, strict=True)]]
    per_trial = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    frame, diffs = _estimates(per_trial, plans, scenario.current_plan)
    return YearsResult(frame, diffs, per_trial, plans, years, trials, scenario.currency)


def simulate_years(
    scenario: Scenario,
    plan: str | None = None,
    *,
    years: int = 3,
    trials: int = 200,
    rng: int | np.random.SeedSequence | None = 0,
    behaviour: str = "dynamic",
):
    """Simulate the same seats over several years under one plan (:func:`run_years` for one plan).

    Returns
    -------
    pandas.DataFrame
        One row per year, role (``group``) and metric of :data:`YEAR_METRICS`
        (revenue, incentive_cost: money per year; quota_mean: money; attainment_mean,
        share_at_quota: fractions; effort_index: 1 = today; people metrics), with mean,
        se, ci_low, ci_high over trials.
    """
    plan = plan or scenario.current_plan
    if plan not in scenario.plans:
        raise PlanError(f"unknown plan '{plan}'; the scenario {scenario.source} has {sorted(scenario.plans)}")
    res = run_years(scenario, [plan], years=years, trials=trials, rng=rng, behaviour=behaviour)
    f = res.frame
    return f[(f.plan == plan) & (f.group != "total")].drop(columns="plan").reset_index(drop=True)


def _check(scenario: Scenario, plans: Sequence[str] | None, years: int, trials: int, behaviour: str) -> list[str]:
    """The plans to run (current first), after checking every argument."""
    if behaviour not in ("dynamic", "none"):
        raise PlanError(f"behaviour: expected 'dynamic' or 'none', got {behaviour!r}")
    if isinstance(years, bool) or not isinstance(years, (int, np.integer)) or not 1 <= years <= 20:
        raise PlanError(f"years: expected a whole number 1-20, got {years!r}")
    if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials < 1:
        raise PlanError(f"trials: expected a positive whole number, got {trials!r}")
    paid_apart = sorted(r for r, x in scenario.roles.items() if x.currency and x.currency != scenario.currency)
    if paid_apart:
        raise PlanError(f"{scenario.source}: roles {paid_apart} are paid in another currency than {scenario.currency}; "
                        "several years (--years) are reported in one currency only: run them one year at a time")
    chosen = list(scenario.plans) if plans is None else list(dict.fromkeys(plans))
    unknown = [p for p in chosen if p not in scenario.plans]
    if unknown:
        raise PlanError(f"unknown plan(s) {unknown}; the scenario {scenario.source} has {sorted(scenario.plans)}")
    for role, targets in scenario.people.hiring.growth.items():
        where = f"{scenario.source}: people.hiring.growth.{role}"
        if role not in scenario.roles:
            raise PlanError(f"{where}: unknown role, expected one of {sorted(scenario.roles)}")
        low = [q + 1 for q, t in enumerate(targets) if t < scenario.roles[role].headcount]
        if low:
            raise PlanError(f"{where}: quarter {low[0]} is below the headcount {scenario.roles[role].headcount}; "
                            "expected targets at or above it (growth only)")
    return [scenario.current_plan] + [p for p in chosen if p != scenario.current_plan]


def _openings(scenario: Scenario, role: str) -> np.ndarray:
    """(R,) absolute month each seat opens: -1 for the scenario's seats; a growth seat opens at the start of the
    first quarter whose target exceeds its index (its hire recruited ahead, starting that month)."""
    head = scenario.roles[role].headcount
    targets = np.asarray(scenario.people.hiring.growth.get(role, []), dtype=np.int64)
    extra = np.arange(head, max(head, int(targets.max(initial=head))))
    if not extra.size:
        return np.full(head, -1, dtype=np.int64)
    first_q = (targets[None, :] > extra[:, None]).argmax(axis=1)
    return np.concatenate([np.full(head, -1, dtype=np.int64), 3 * first_q.astype(np.int64)])


def _grown(scenario: Scenario) -> Scenario:
    """The scenario with each role's headcount raised to its largest growth target (unchanged without growth)."""
    growth = scenario.people.hiring.growth
    if all(max(t) <= scenario.roles[r].headcount for r, t in growth.items()):
        return scenario
    from simlib.scenario import scenario_from_dict

    data = scenario.model_dump(by_alias=True)
    for r, t in growth.items():
        data["roles"][r]["headcount"] = max(scenario.roles[r].headcount, max(t))
    return scenario_from_dict(data, scenario.source)


def _people_draws(scenario: Scenario, root: np.random.SeedSequence, year: int, idx: np.ndarray) -> dict:
    """role -> (u (T, R, 12) leaving uniforms, z (T, R, 12) next-hire ability normals, u0 (T, R) tenure uniforms)."""
    streams = TrialStreams(np.random.SeedSequence(root.entropy, spawn_key=tuple(root.spawn_key) + (year, 1)))
    out = {r: (np.empty((len(idx), ro.headcount, MONTHS)), np.empty((len(idx), ro.headcount, MONTHS)),
               np.empty((len(idx), ro.headcount))) for r, ro in scenario.roles.items()}
    for i, t in enumerate(idx):
        g = streams.generator(int(t))
        for r, ro in scenario.roles.items():
            out[r][0][i] = g.random((ro.headcount, MONTHS))
            out[r][1][i] = g.standard_normal((ro.headcount, MONTHS))
            out[r][2][i] = g.random(ro.headcount)
    return out


def _run_chunk(scenario: Scenario, plans: list[str], years: int, root: np.random.SeedSequence,
               idx: np.ndarray, model, opens: dict[str, np.ndarray]) -> dict:
    """(plan, year, group, metric) -> (T,) for the trials ``idx``."""
    seats: dict[str, dict[str, Seats]] = {}
    quota: dict[str, dict[str, np.ndarray]] = {p: {} for p in plans}
    profit = {p: {} for p in plans}
    out: dict = {}
    layout = Layout.of(scenario)
    for y in range(years):
        yroot = np.random.SeedSequence(root.entropy, spawn_key=tuple(root.spawn_key) + (y,))
        base = worlds(scenario, draw_chunk(layout, yroot, idx))
        people = _people_draws(scenario, root, y, idx)
        if y == 0:
            seats = {p: {r: _first_seats(scenario, w, people[r][2], opens[r]) for r, w in base.items()} for p in plans}
        for plan in plans:
            raw = {o.role: _year_of_role(scenario, plan, y, o, seats[plan][o.role], people[o.role], model)
                   for o in _first_pass(scenario, plan, y, base, seats[plan], quota[plan], model)}
            for r, (_, final) in raw.items():
                rp = scenario.role_plan(plan, r)
                if rp.quota.method == "last_year":
                    rat = scenario.behaviour.ratchet
                    quota[plan][r] = ratchet_quota(final.quota, final.pay.attainment, rat.up, rat.down, rp.quota.growth)
            _record(out, plan, y, {r: s for r, (s, _) in raw.items()}, profit[plan])
    return out


def _first_seats(scenario: Scenario, w: RoleWorld, u0: np.ndarray, opens: np.ndarray) -> Seats:
    """The run's first roster: the first year's reps, new hires starting in month 0 (a roster's reps at their
    own tenure: started that many months before the first year); growth seats' hires starting when their seat
    opens."""
    start = att.initial_start(w.new_hire, u0, w.role.ramp_months, scenario.people.attrition.annual_rate)
    roster = scenario.roster_data
    if roster is not None and w.name in roster.roles and roster.roles[w.name].headcount == start.shape[-1]:
        start = np.broadcast_to(-np.asarray(roster.roles[w.name].tenure, dtype=np.int64), start.shape).copy()
    grow = np.broadcast_to(opens >= 0, start.shape)
    return Seats(w.ability, w.territory, np.where(grow, opens, start), grow.copy(),
                 np.zeros(w.ability.shape, dtype=bool), opens)


def _seat_world(w: RoleWorld, s: Seats, year: int) -> RoleWorld:
    """This year's world of a role with the seats' occupants (the first year's world itself in year 0,
    unless a growth plan has seats that open later)."""
    if year == 0 and (s.opens < 0).all():
        return w
    return dataclasses.replace(w, ability=s.ability, territory=s.territory, new_hire=s.start >= MONTHS * year,
                               ramp=att.ramp_of(s.start, year, w.role.ramp_months))


def _first_pass(scenario: Scenario, plan: str, year: int, base: dict[str, RoleWorld], seats: dict[str, Seats],
                quota: dict[str, np.ndarray], model) -> list[RoleOutcome]:
    """Each role's year with the roster at the year's start (nobody leaves)."""
    ws = {r: _seat_world(w, seats[r], year) for r, w in base.items()}
    with np.errstate(invalid="ignore", divide="ignore"):  # a growth seat not yet open: no revenue, no quota (0/0)
        return list(passes(scenario, [plan], ws, model, quotas=dict(quota)))


def _year_of_role(scenario: Scenario, plan: str, year: int, o: RoleOutcome, s: Seats, draws, model):
    """A role's year under ``plan``: who leaves, the year again with their seats empty then refilled,
    the seats' new state (``s`` updated in place) and the year's sums (:data:`_SUMS`)."""
    u, z, _ = draws
    role = o.world.role
    occ = att.ramp_of(s.start, year, role.ramp_months)  # occupancy ramp of the year's starting roster
    a = scenario.people.attrition
    if a.enabled:
        leave, top = _leavers(scenario, plan, o, occ, u)
    else:
        leave, top = np.full(s.start.shape, -1), att.top_quartile(o.pay.attainment, occ.any(axis=-1))
    gone = leave >= 0
    final, occ_end, by_run, new_start, new_ability = o, occ, np.broadcast_to(s.turned[..., None], occ.shape), None, None
    if gone.any():
        h = scenario.people.hiring
        lag = h.lag_months if h.backfill else 10**6
        new_start = np.where(gone, MONTHS * year + leave + 1 + lag, s.start)
        new_ability = np.where(gone, lognormal_mean_one(role.ability_sd, np.take_along_axis(
            z, np.maximum(leave, 0)[..., None], axis=-1)[..., 0]), s.ability)
        after = gone[..., None] & (np.arange(MONTHS) > leave[..., None])
        occ_new = att.ramp_of(new_start, year, role.ramp_months)
        occ_end = np.where(after, occ_new, occ)
        by_run = np.where(after, True, by_run)
        ramp_b = np.where(after, occ_new * (new_ability / s.ability)[..., None], occ)
        w_b = dataclasses.replace(o.world, ramp=ramp_b, exit_month=leave)  # a leaver's draw balance is settled
        with np.errstate(invalid="ignore", divide="ignore"):
            final = next(iter(passes(scenario, [plan], {o.role: w_b}, model, quotas={o.role: o.quota})))
    sums = _sums(scenario, plan, year, final, s, occ_end, by_run, gone, top, new_start)
    if gone.any():
        s.hired, s.turned = s.hired | gone, s.turned | gone
        s.start, s.ability = new_start, new_ability
    return sums, final


@by_identity()
def on_target(scenario: Scenario, role: str) -> float:
    """Today's on-target pay of a role (:func:`simlib.model.attrition.on_target_pay`), money per year.

    Where the current plan pays nothing by its target incentive, today's
    mean incentive (and, where nothing at all is paid, mean revenue) comes
    from the dynamic model's calibration sample (the same under either
    behaviour model, so ``none`` and ``dynamic`` runs share it).
    """
    model = functools.cache(lambda: DynamicBehaviour(scenario))  # one calibration sample for both, made if asked
    return att.on_target_pay(scenario, role, lambda: model().incentive_today(role), lambda: model().revenue_today(role))


def _leavers(scenario: Scenario, plan: str, o: RoleOutcome, occ: np.ndarray, u: np.ndarray):
    """(leave month (T, R), -1 for none; top quartile (T, R)) from the first pass's year."""
    a = scenario.people.attrition
    role = o.role
    ote = on_target(scenario, role)
    pay_ratio = (scenario.base_salary(plan, role) + o.pay.incentive) / (a.outside_option * ote)
    present = occ > 0
    weight = np.asarray(o.world.season)[None, None, :] * occ
    shortfall = att.ytd_shortfall(o.measures["revenue"], o.quota, weight)
    top = att.top_quartile(o.pay.attainment, present.any(axis=-1))
    x = att.design(pay_ratio[..., None], shortfall, top[..., None], o.pay.capped[..., None])
    prob = att.monthly_probability(att.coef_of(a), x)
    return att.leave_month(u, prob, present), top


def _sums(scenario: Scenario, plan: str, year: int, o: RoleOutcome, s: Seats, occ: np.ndarray, by_run: np.ndarray,
          gone: np.ndarray, top: np.ndarray, new_start: np.ndarray | None) -> dict[str, np.ndarray]:
    """The year's per-trial sums (T,) of one role (:data:`_SUMS`); seats of a growth plan count once open."""
    role = scenario.roles[o.role]
    ote = on_target(scenario, o.role)
    lo, hi = MONTHS * year, MONTHS * (year + 1)
    is_open = (lo + np.arange(MONTHS))[None, :] >= s.opens[:, None]  # (R, 12)
    open_any = np.broadcast_to(is_open.any(axis=1), gone.shape)
    hires = ((s.start >= lo) & (s.start < hi) & s.hired).sum(axis=1)
    end_start = s.start
    if new_start is not None:
        hires = hires + (gone & (new_start < hi)).sum(axis=1)
        end_start = new_start
    lost = (by_run * (1.0 - occ) * revenue_profile(scenario, o.role)[None, None, :]).sum(axis=2)
    lost = (lost * s.territory).sum(axis=1)
    tenure = hi - 1 - end_start
    present = tenure >= 0
    rec = None if o.policy is None else o.policy.recorded
    effort = effort_index(rec.effort, production_weights(revenue_profile(scenario, o.role))) if rec is not None \
        else np.ones(gone.shape)  # weighted by the months' production (docs/model.md section 4.8)
    revenue = o.measures["revenue"].sum(axis=2).sum(axis=1)
    n = len(revenue)
    extra = {}
    if uses_draws(scenario):  # leavers' draw balances settled on exit (0 without a draw or a leaver)
        d = o.pay.draw
        for key, part in (("draw_exit_forgiven", "exit_forgiven"), ("draw_exit_recovered", "exit_recovered")):
            v = None if d is None else getattr(d, part)
            extra[key] = np.zeros(n) if v is None else v.sum(axis=1)
    return extra | {
        "revenue": revenue, "incentive": o.pay.incentive.sum(axis=1),
        "base_cost": scenario.base_salary(plan, o.role) * (occ > 0).sum(axis=(1, 2)) / MONTHS,
        "hiring_cost": scenario.people.hiring.cost * ote * hires, "lost_revenue": lost,
        "lost_margin": role.gross_margin * lost, "margin": role.gross_margin * revenue,
        "quota": (o.quota * open_any).sum(axis=1), "attainment": (o.pay.attainment * open_any).sum(axis=1),
        "at_quota": ((o.pay.attainment >= 1.0) & open_any).sum(axis=1), "effort": (effort * open_any).sum(axis=1),
        "open_seats": open_any.sum(axis=1), "seats": np.full(n, is_open.sum() / MONTHS),
        "leavers": gone.sum(axis=1), "regretted": (gone & top).sum(axis=1),
        "vacancy_months": ((occ <= 0) & is_open[None]).sum(axis=(1, 2)), "hires": hires,
        "present_end": present.sum(axis=1), "ten_lt1": (present & (tenure < 12)).sum(axis=1),
        "ten_1_3": (present & (tenure >= 12) & (tenure < 36)).sum(axis=1), "ten_ge3": (tenure >= 36).sum(axis=1),
    }


def _record(out: dict, plan: str, year: int, sums: dict[str, dict[str, np.ndarray]], cumulative: dict) -> None:
    """Store the year's metrics of each role and the total under (plan, year + 1, group, metric)."""
    groups = dict(sums)
    keys = [k for k in next(iter(sums.values())) if k in _SUMS or k.startswith("draw_exit_")]
    groups["total"] = {k: sum(np.asarray(v[k], dtype=float) for v in sums.values()) for k in keys}
    for g, s in groups.items():
        m = _metrics(s)
        cumulative[g] = cumulative.get(g, 0.0) + m["profit"]
        m["profit_cumulative"] = cumulative[g]
        for name in [*YEAR_METRICS, *(k for k in DRAW_YEAR_METRICS if k in m)]:
            out[(plan, year + 1, g, name)] = np.asarray(m[name], dtype=float)


def _metrics(s: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A group's metrics (:data:`YEAR_METRICS`) from its per-trial sums."""
    f = {k: np.asarray(v, dtype=float) for k, v in s.items()}
    n, k, present = f["seats"], np.maximum(f["open_seats"], 1.0), np.maximum(f["present_end"], 1.0)
    extra = {}
    if "draw_exit_forgiven" in f:
        extra = {"draw_forgiven_on_exit": f["draw_exit_forgiven"], "draw_recovered_on_exit": f["draw_exit_recovered"]}
    return extra | {
        "revenue": f["revenue"], "incentive_cost": f["incentive"], "base_cost": f["base_cost"],
        "hiring_cost": f["hiring_cost"], "lost_revenue": f["lost_revenue"],
        "cost_of_turnover": f["hiring_cost"] + f["lost_margin"],
        "profit": f["margin"] - f["incentive"] - f["base_cost"] - f["hiring_cost"],
        "quota_mean": f["quota"] / k, "attainment_mean": f["attainment"] / k, "share_at_quota": f["at_quota"] / k,
        "effort_index": f["effort"] / k, "turnover_rate": f["leavers"] / n, "regretted_turnover": f["regretted"] / n,
        "seats": n, "vacancy_months": f["vacancy_months"], "hires": f["hires"],
        "tenure_under_1y": f["ten_lt1"] / present, "tenure_1_3y": f["ten_1_3"] / present,
        "tenure_over_3y": f["ten_ge3"] / present,
    }


def _estimates(per_trial: dict, plans: list[str], current: str):
    """(frame, diffs): mean, se and 95% CI of every metric, and of each plan minus the current plan (paired)."""
    import pandas as pd

    def row(key, v):
        n = len(v)
        m = float(v.mean())
        se = float(v.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
        lo, hi = interval(m, se)
        return dict(plan=key[0], year=key[1], group=key[2], metric=key[3], mean=m, se=se, ci_low=lo, ci_high=hi, n=n)

    frame = pd.DataFrame([row(k, v) for k, v in per_trial.items()])
    diffs = pd.DataFrame([row(k, v - per_trial[(current, *k[1:])]) for k, v in per_trial.items()
                          if k[0] != current and (current, *k[1:]) in per_trial],
                         columns=list(frame.columns))
    return frame, diffs
