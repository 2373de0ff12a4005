"""Synthetic history from any scenario (``simlib synth``).

One Monte Carlo trial of the engine is one year of an organisation's
history: the same pieces as :func:`simlib.simulate` (``draw_chunk``,
``role_world``, ``run_year``, ``set_quotas``, ``compute_pay``) produce
rep-level monthly rows in the format of ``docs/history-format.md``.

With ``years=2`` the second year keeps the same reps (ability and territory
carried over) except a share ``new_hire_share`` who are replaced by new
hires, draws a new market year, and may run under another plan, so that a
plan change can be backtested (:mod:`simlib.fit.backtest`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtri

from simlib.engine.core import resolve_behaviour, role_outcomes
from simlib.errors import PlanError, SimlibError
from simlib.fit.replay import role_pay, unrecorded_measures
from simlib.model.plans import revenue_profile
from simlib.model.population import Layout, draw_chunk, market_multiplier, rep_labels, root_seed
from simlib.model.production import cancellations
from simlib.scenario import MEASURES, MONTHS, Scenario, scenario_from_dict


@dataclass
class RolePanelSim:
    """Simulated rep-level outcomes of one role under one plan.

    Attributes
    ----------
    measures : measure -> (T, R, 12)
    quota : (T, R) annual quota, money per year
    incentive : (T, R) incentive paid, money per year
    attainment : (T, R) annual revenue / quota
    new_hire : (T, R) bool
    team : (R,) team index
    cancelled : (T, R, 12) or None
        Revenue booked each month whose deals later cancel (None: the role
        has no cancellation process).
    cancel_delay : (T, R, 12) int or None
        Months after booking that each month's cancelled deals cancel (None
        with ``cancelled``).
    """

    measures: dict[str, np.ndarray]
    quota: np.ndarray
    incentive: np.ndarray
    attainment: np.ndarray
    new_hire: np.ndarray
    team: np.ndarray
    cancelled: np.ndarray | None = None
    cancel_delay: np.ndarray | None = None


def simulate_panels(
    scenario: Scenario,
    plan: str | None = None,
    *,
    rng: int | np.random.SeedSequence | None = 0,
    trials: int | np.ndarray = 1,
    behaviour: str | Any = "none",
    draws: dict[str, np.ndarray] | None = None,
) -> tuple[dict[str, RolePanelSim], np.ndarray]:
    """Rep-level outcomes of ``trials`` simulated years under one plan.

    Parameters
    ----------
    scenario : Scenario
    plan : str, optional
        Plan in force (default: the scenario's current plan).
    rng : int or SeedSequence
        Root seed; trial ``t`` uses the same stream as in :func:`simlib.simulate`.
    trials : int or array of trial indices
    behaviour : str
        Behaviour model name (``"none"``: today's effort).
    draws : dict, optional
        Pre-drawn random numbers (from :func:`simlib.model.population.draw_chunk`), overriding ``rng``/``trials``.

    Returns
    -------
    panels : role -> :class:`RolePanelSim`
    market : (T, 12) demand multiplier of each simulated year
    """
    plan = plan or scenario.current_plan
    if draws is None:
        idx = np.arange(trials) if np.isscalar(trials) else np.asarray(trials)
        draws = draw_chunk(Layout.of(scenario), root_seed(rng), idx)
    return _panels(scenario, [plan], draws, behaviour)[plan], market_multiplier(scenario, draws)


def _panels(scenario: Scenario, plans: Sequence[str], draws: dict[str, np.ndarray], behaviour) -> dict[str, dict[str, RolePanelSim]]:
    """plan -> role -> :class:`RolePanelSim`, the plans sharing the draws (and today's measures)."""
    for plan in plans:
        if plan not in scenario.plans:
            raise PlanError(f"unknown plan '{plan}'; the scenario {scenario.source} has {sorted(scenario.plans)}")
    out: dict[str, dict[str, RolePanelSim]] = {p: {} for p in plans}
    for o in role_outcomes(scenario, list(plans), draws, behaviour=behaviour):
        cancelled, delay = None, None
        if o.pay.clawback is not None:
            cancelled = o.pay.clawback.by_month
            delay = cancellations(o.world, o.measures).delay  # the same draws as the engine's pay
        out[o.plan][o.role] = RolePanelSim(o.measures, o.quota, o.pay.incentive, o.pay.attainment, o.world.new_hire,
                                           o.world.team, cancelled, delay)
    return out


def simulate_outcomes(
    scenario: Scenario,
    plan: str | Sequence[str] | None = None,
    *,
    rng: int | np.random.SeedSequence | None = 0,
    trials: int = 20,
    behaviour: str | Any = "none",
    chunk_size: int = 32,
    adjust_draws: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
) -> dict[str, RolePanelSim] | dict[str, dict[str, RolePanelSim]]:
    """Like :func:`simulate_panels` for many trials, in chunks, keeping only revenue among the measures.

    Memory grows with trials x reps x 12 (revenue) rather than with every
    measure and random draw; the numbers equal :func:`simulate_panels`'s.
    ``plan`` may be a list of plans: they share the draws, and the result is
    plan -> role -> outcomes. ``adjust_draws``, when given, maps each chunk's
    random numbers (:func:`simlib.model.population.draw_chunk`) before they are used.
    """
    plans = [plan or scenario.current_plan] if plan is None or isinstance(plan, str) else list(plan)
    parts: dict[str, dict[str, list[RolePanelSim]]] = {p: {} for p in plans}
    for start in range(0, int(trials), chunk_size):
        idx = np.arange(start, min(int(trials), start + chunk_size))
        draws = draw_chunk(Layout.of(scenario), root_seed(rng), idx)
        if adjust_draws is not None:
            draws = adjust_draws(draws)
        for p, sims in _panels(scenario, plans, draws, behaviour).items():
            for r, sim in sims.items():
                parts[p].setdefault(r, []).append(RolePanelSim({"revenue": sim.measures["revenue"]}, sim.quota,
                                                               sim.incentive, sim.attainment, sim.new_hire, sim.team))
    out = {p: {r: RolePanelSim({"revenue": np.concatenate([x.measures["revenue"] for x in ps])},
                               np.concatenate([x.quota for x in ps]), np.concatenate([x.incentive for x in ps]),
                               np.concatenate([x.attainment for x in ps]), np.concatenate([x.new_hire for x in ps]),
                               ps[0].team)
               for r, ps in by_role.items()}
           for p, by_role in parts.items()}
    return out[plans[0]] if plan is None or isinstance(plan, str) else out


def _rep_ids(scenario: Scenario) -> dict[str, list[str]]:
    """Each role's rep ids: the roster's when the scenario names one (so a replay pays each rep at their own
    level), else ``KE00001``-style ids."""
    if scenario.roster_data is not None:
        return {r: list(rep_labels(scenario, r)[0]) for r in scenario.roles}
    return {r: [f"{r[:2].upper()}{i + 1:05d}" for i in range(role.headcount)] for r, role in scenario.roles.items()}


def _rows(scenario: Scenario, plan: str, panels: dict[str, RolePanelSim], rep_ids: dict[str, list[str]],
          year: int, multi_year: bool) -> pd.DataFrame:
    """One year's rows in the history format; each rep's payout is its plan's pay on the rows as written.

    Measures and quotas are rounded as written (money to the cent, scores to
    4 decimals), and the plan's pay rules are applied to those recorded
    numbers (:func:`simlib.fit.replay.role_pay`, reps in the order a reader
    sorts them), so that replaying the history under ``plan`` reconciles to
    the cent. The annual payout, in whole cents, is booked in proportion to
    the month's revenue (evenly when there was none), the months summing to
    it exactly.
    """
    frames = []
    for rname, sim in panels.items():
        role = scenario.roles[rname]
        R = role.headcount
        prof = revenue_profile(scenario, rname)
        share = prof / prof.sum()
        names = (rep_labels(scenario, rname)[1] if scenario.roster_data is not None  # the roster's own teams
                 else [f"{rname}-t{t + 1:02d}" for t in range(int(np.max(sim.team, initial=-1)) + 1)])
        teams = np.array([names[t] for t in sim.team], dtype=object)
        quota = np.round(sim.quota[0][:, None] * share[None, :], 2)
        measures = {m: np.round(sim.measures[m][0], 4 if kind == "score" else 2)
                    for m, kind in MEASURES[role.process].items()}
        order = np.argsort(np.asarray(rep_ids[rname], dtype=str), kind="stable")
        cancelled = None if sim.cancelled is None else np.round(sim.cancelled[0], 2)
        delay = None if sim.cancel_delay is None else sim.cancel_delay[0]
        pay = np.empty(R)
        pay[order] = role_pay(scenario, plan, rname, {m: v[order] for m, v in measures.items()}, quota[order],
                              teams[order], rep_ids=np.asarray(rep_ids[rname], dtype=str)[order],
                              cancelled=None if cancelled is None else cancelled[order],
                              new_hire=sim.new_hire[0][order],
                              cancel_delay=None if delay is None else delay[order]).incentive[0]
        month = np.tile(np.arange(1, MONTHS + 1), R)
        f = pd.DataFrame({
            "rep_id": np.repeat(rep_ids[rname], MONTHS),
            "role": rname,
            "team": np.repeat(teams, MONTHS),
            "month": [f"{year}-{m:02d}" for m in month] if multi_year else month,
            "new_hire": np.repeat(sim.new_hire[0].astype(int), MONTHS),
            "quota": quota.ravel(),
            "payout": in_cents(pay, measures["revenue"]).ravel(),
        })
        for m, v in measures.items():
            f[m] = v.ravel()
        if cancelled is not None:  # a role with a cancellation process: revenue of deals that later cancelled
            f["cancelled"] = np.minimum(cancelled, measures["revenue"]).ravel()
            f["cancelled_after"] = np.where(cancelled > 0, delay, np.nan).ravel()  # when they cancelled
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def in_cents(annual: np.ndarray, revenue: np.ndarray) -> np.ndarray:
    """Annual pay (R,) rounded to the cent, split over 12 months (R, 12) in whole cents by revenue share.

    Largest remainders: each month gets the floor of its share in cents, and
    the cents left go to the months with the largest remainders (earliest
    first on ties), so the months add up to the rounded annual pay exactly.
    """
    total = np.round(annual * 100).astype(np.int64)
    rev_year = revenue.sum(axis=1, keepdims=True)
    alloc = np.where(rev_year > 0, revenue / np.where(rev_year > 0, rev_year, 1.0), 1.0 / MONTHS)
    exact = alloc * total[:, None]
    cents = np.floor(exact).astype(np.int64)
    left = total - cents.sum(axis=1)
    rank = np.argsort(-(exact - cents), axis=1, kind="stable")
    extra = np.zeros_like(cents)
    np.put_along_axis(extra, rank, (np.arange(MONTHS)[None, :] < left[:, None]).astype(np.int64), axis=1)
    return (cents + extra) / 100.0


def truth_of(scenario: Scenario, market: np.ndarray) -> dict[str, Any]:
    """The parameters a synthetic history was drawn from, for checking a calibration."""
    out: dict[str, Any] = {"market": scenario.market.model_dump(), "market_level": [float(x) for x in market.mean(axis=1)],
                           "market_monthly": market.tolist(), "roles": {}}
    for rname, role in scenario.roles.items():
        out["roles"][rname] = {
            "process": role.process, "headcount": role.headcount, "team_size": role.team_size,
            "ability_sd": role.ability_sd, "territory_sd": role.territory_sd,
            "new_hire_share": role.new_hire_share, "ramp_months": role.ramp_months,
            "seasonality": role.season, "production": dict(role.production),
        }
    return out


def synth_history(
    scenario: Scenario,
    *,
    plan: str | None = None,
    rng: int = 0,
    years: int = 1,
    plan2: str | None = None,
    start_year: int = 2025,
    behaviour: str | Any | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Synthetic rep-level monthly history of a scenario.

    Parameters
    ----------
    scenario : Scenario
    plan : str, optional
        Plan in force in year one (default: the current plan).
    rng : int
        Seed; the same seed gives the same history.
    years : {1, 2}
        With 2, year two keeps the reps of year one except replacements.
    plan2 : str, optional
        Plan in force in year two (default: ``plan``).
    start_year : int
        Calendar year of year one; with ``years=2`` months are written ``YYYY-MM``.
    behaviour : str or behaviour model, optional
        Behaviour model reps follow, resolved like ``simlib run``
        (:func:`simlib.engine.core.resolve_behaviour`): this argument, else the
        scenario's ``behaviour.mode``, else ``dynamic``. ``"none"``: today's effort
        under every plan. Under the current plan ``dynamic`` gives today's effort,
        so only a year under another plan differs.

    Returns
    -------
    frame : DataFrame in the history format
    truth : dict of the generating parameters and the realised market
    """
    if years not in (1, 2):
        raise SimlibError(f"years: expected 1 or 2, got {years!r}")
    if plan2 is not None and years == 1:  # a plan for a year that is not written: say so rather than ignore it
        raise SimlibError(f"plan2 '{plan2}': the plan of year two needs years 2 (--years 2), got years 1")
    plan = plan or scenario.current_plan
    plan2 = plan2 or plan
    for p in (plan, plan2):
        if p not in scenario.plans:
            raise PlanError(f"unknown plan '{p}'; the scenario {scenario.source} has {sorted(scenario.plans)}")
    unrecorded = [m for p in dict.fromkeys((plan, plan2)) for m in unrecorded_measures(scenario, p, scenario.roles)]
    if unrecorded:  # its payouts could not be written, nor replayed
        raise PlanError(f"{scenario.source}: a history cannot be written under this plan: {'; '.join(unrecorded)}; "
                        f"choose a plan that pays on recorded measures (e.g. '{scenario.current_plan}')")
    behaviour = resolve_behaviour(scenario, behaviour)
    root = root_seed(rng)
    lay = Layout.of(scenario)
    d1 = draw_chunk(lay, root, np.array([0]))
    panels1, m1 = simulate_panels(scenario, plan, draws=d1, behaviour=behaviour)
    ids1 = _rep_ids(scenario)
    multi = years == 2
    frames = [_rows(scenario, plan, panels1, ids1, start_year, multi)]
    markets = [m1[0]]
    if multi:
        d2 = draw_chunk(lay, root, np.array([1]))
        ids2 = {}
        for r, role in scenario.roles.items():
            leave = d2[f"{r}.new_hire"][0] < role.new_hire_share  # replaced by a new hire
            for key in ("ability", "territory", "last_year"):
                d2[f"{r}.{key}"][0] = np.where(leave, d2[f"{r}.{key}"][0], d1[f"{r}.{key}"][0])
            d2[f"{r}.new_hire"][0] = np.where(leave, 0.0, 1.0)
            used = set(ids1[r])  # a roster's ids may look like the new ones: skip those taken
            nxt = (f"{r[:2].upper()}{k:05d}" for k in range(role.headcount + 1, 10**6) if f"{r[:2].upper()}{k:05d}" not in used)
            ids2[r] = [next(nxt) if lv else ids1[r][i] for i, lv in enumerate(leave)]
        panels2, m2 = simulate_panels(scenario, plan2, draws=d2, behaviour=behaviour)
        frames.append(_rows(scenario, plan2, panels2, ids2, start_year + 1, multi))
        markets.append(m2[0])
    truth = truth_of(scenario, np.array(markets))
    truth.update({"plans": [plan] + ([plan2] if multi else []), "seed": rng, "years": years,
                  "scenario": scenario.name, "scenario_sha256": scenario.sha256, "behaviour": str(behaviour)})
    return pd.concat(frames, ignore_index=True), truth


def standardised(z: np.ndarray) -> np.ndarray:
    """Normals ``z`` (..., R) replaced along the last axis by the normal scores of their ranks, scaled to
    sample mean 0 and sample sd 1 (n - 1 divisor): the same order of reps, an exactly normal spread.

    Held reps drawn at random have a spread that is itself random (the sd
    of 60 normals is off by 9% about one time in three, and the tails of
    a lognormal ability add more), so every history drawn from them would
    carry one shared error in the spread of ability and territory, and
    refits to those histories with it (on the accelerator validation case,
    ability_sd refitted 14% under the fit it came from in one history, 17%
    over in another). The scores ``Phi^-1((rank + 1/2) / R)`` keep
    which rep is above which and give the scenario's spread, so refits are
    centred on the fit. With fewer than two reps only the mean is taken off.
    """
    if z.shape[-1] < 2:
        return z - z.mean(axis=-1, keepdims=True)
    rank = np.argsort(np.argsort(z, axis=-1, kind="stable"), axis=-1, kind="stable")
    c = ndtri((rank + 0.5) / z.shape[-1])
    return c / c.std(axis=-1, ddof=1, keepdims=True)


#: per-rep draws that make a rep who they are (held fixed by :func:`same_reps_histories`)
REP_DRAWS = ("ability", "territory", "new_hire", "last_year")


def same_reps_histories(
    scenario: Scenario,
    plan: str,
    *,
    n: int,
    rng: int | np.random.SeedSequence,
    behaviour: str | Any = "none",
) -> list[pd.DataFrame]:
    """``n`` synthetic one-year histories of one organisation: the same reps, the same market, fresh sales noise.

    One draw of every rep's ability, territory, new-hire status and last
    year (:data:`REP_DRAWS`, trial 0 of ``rng``; the ability and territory
    normals replaced by the normal scores of their ranks within each role,
    :func:`standardised`, so that the reps' mean and spread are the
    scenario's) is held in all ``n`` histories; the market is held at its expected level (``growth_sd`` and
    ``monthly_sd`` 0); quota noise and the month-to-month noise of sales are
    drawn afresh (trials 1..n). Refitting each history gives the spread of a
    fit that comes from sales noise alone, not from which reps happen to be
    in the sample (:func:`simlib.fit.backtest.noise_replicates`).

    Returns
    -------
    list of DataFrames in the history format (months 1-12, one year)
    """
    data = scenario.model_dump(by_alias=True, mode="json")
    data["market"]["growth_sd"] = 0.0
    data["market"]["monthly_sd"] = 0.0
    quiet = scenario_from_dict(data, f"{scenario.source} (market held)")
    lay = Layout.of(quiet)
    root = root_seed(rng)
    reps = draw_chunk(lay, root, np.array([0]))
    for r in quiet.roles:  # the reps' mean and spread are the fitted ones: standardise their normals
        for key in ("ability", "territory"):
            reps[f"{r}.{key}"] = standardised(reps[f"{r}.{key}"])
    ids = {r: [f"{r[:2].upper()}{i + 1:05d}" for i in range(role.headcount)] for r, role in quiet.roles.items()}
    out = []
    for b in range(n):
        d = draw_chunk(lay, root, np.array([b + 1]))
        for r in quiet.roles:
            for key in REP_DRAWS:
                d[f"{r}.{key}"] = reps[f"{r}.{key}"]
        panels, _ = simulate_panels(quiet, plan, draws=d, behaviour=behaviour)
        out.append(_rows(quiet, plan, panels, ids, 0, False))
    return out
