"""Backtest a plan change (``simlib backtest``).

Given two years of history with a plan change between them: calibrate on
year one only (:func:`simlib.fit.calibrate.calibrate`), simulate year two under
the new plan from the calibrated scenario, and report predicted against
actual outcomes per role and in total, each prediction with a predictive
interval (quantiles of the simulated years) and the predicted effect of the
change (new plan minus old plan on common random numbers) beside the actual
change from year one to year two.

The predictive intervals carry three sources of uncertainty:

- the market: each simulated year draws a new market year; the fitted levels
  absorbed year one's (unknown) market shock, so the prediction's year-level
  and monthly shock sds are those of the ratio of two independent years,
  sqrt(2) times the calibrated scenario's (with replicates, year one's
  year-level shock is drawn per group of trials instead and netted out of the
  reps' expectation, :func:`predictive_scenario`; one
  year of history cannot estimate them, so they are the template's, named in
  a note). Pay is computed on each simulated year, so the intervals of pay
  and attainment carry the market through the plan's steps, caps, gates,
  scorecard bands and accelerators (pay moves 1.5-2 times as much as revenue
  under an accelerator), not a revenue interval scaled;
- the fit: the trials are split among refits of the calibration to
  synthetic years of the same reps with fresh sales noise
  (:func:`noise_replicates`, a parametric bootstrap conditional on the reps;
  ``fit_uncertainty="reps"``: the calibration's bootstrap over reps,
  :meth:`simlib.fit.calibrate.Calibration.replicate_scenario`);
- behaviour: the prediction runs under the behaviour resolved like
  ``simlib run`` (the argument, else the scenario's ``behaviour.mode``, else
  ``dynamic``); with ``behaviour_draws`` K (default: the scenario's
  ``behaviour.uncertainty.draws``, as ``run``) the replicates also cycle
  through K draws of the behavioural parameters from their priors
  (:mod:`simlib.priors`); an ensemble of behaviour models can instead be
  passed as ``behaviours``.

Year two keeps most of year one's reps: the simulated reps' mean ability and
territory, and their spread, vary only as much as the share replaced makes them
(:func:`keep_reps`). The fitted levels hold year one's market shock, which the
history's reps did not plan on: with replicates, each group of trials draws
that shock and nets it out of the reps' expectation and of the demand ahead,
quotas kept (:func:`predictive_scenario`, :func:`year_one_shocks`), so that an
accelerator's response moves with it as the history's reps' did.
Measured coverage on synthetic histories: ``python -m benchmarks.coverage``
(docs/history-format.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import ndtri

from simlib.engine.core import resolve_behaviour
from simlib.engine.ensemble import draw_parameters, robustness_sentence, scenario_for_draw
from simlib.errors import PlanError, SimlibError
from simlib.fit.calibrate import Calibration, calibrate, check_fit_request, scale_role_level
from simlib.fit.history import History, Panel
from simlib.fit.replay import currency_note, role_currency, team_notes
from simlib.fit.synth import RolePanelSim, same_reps_histories, simulate_outcomes
from simlib.scenario import Scenario, scenario_from_dict

#: metrics compared, with their unit
METRICS_BT = {
    "revenue": "money per year, all reps",
    "payout": "money per year, all reps",
    "revenue_per_rep": "money per rep-year",
    "payout_per_rep": "money per rep-year",
    "mean_attainment": "fraction of quota",
    "median_attainment": "fraction of quota",
    "share_at_quota": "fraction of reps",
}


def _actual(panels: list[Panel], rates: list[float] | None = None) -> dict[str, float]:
    """Actual metrics of the panels pooled; ``rates`` (one per panel) convert each panel's money to one currency."""
    rates = [1.0] * len(panels) if rates is None else rates
    rev = np.concatenate([np.nansum(p.measures["revenue"], axis=1) * r for p, r in zip(panels, rates, strict=True)])
    pay = np.concatenate([np.nansum(p.payout, axis=1) * r for p, r in zip(panels, rates, strict=True)])
    has_pay = any(np.isfinite(p.payout).any() for p in panels)
    att = np.concatenate([p.attainment for p in panels])
    att = att[np.isfinite(att)]
    return {
        "revenue": float(rev.sum()),
        "payout": float(pay.sum()) if has_pay else float("nan"),
        "revenue_per_rep": float(rev.mean()),
        "payout_per_rep": float(pay.mean()) if has_pay else float("nan"),
        "mean_attainment": float(att.mean()) if att.size else float("nan"),
        "median_attainment": float(np.median(att)) if att.size else float("nan"),
        "share_at_quota": float(np.mean(att >= 1.0)) if att.size else float("nan"),
    }


def _simulated(sims: list[RolePanelSim], rates: list[float] | None = None) -> dict[str, np.ndarray]:
    """Per-trial metrics (T,) of one role or several pooled; ``rates`` (one per role) convert money to one currency."""
    rates = [1.0] * len(sims) if rates is None else rates
    rev = np.concatenate([s.measures["revenue"].sum(axis=-1) * r for s, r in zip(sims, rates, strict=True)], axis=1)
    pay = np.concatenate([s.incentive * r for s, r in zip(sims, rates, strict=True)], axis=1)
    att = np.concatenate([s.attainment for s in sims], axis=1)
    return {
        "revenue": rev.sum(axis=1),
        "payout": pay.sum(axis=1),
        "revenue_per_rep": rev.mean(axis=1),
        "payout_per_rep": pay.mean(axis=1),
        "mean_attainment": att.mean(axis=1),
        "median_attainment": np.median(att, axis=1),
        "share_at_quota": np.mean(att >= 1.0, axis=1),
    }


def _group_metrics(history: History, years: tuple[int, int], after: dict[str, RolePanelSim],
                   before: dict[str, RolePanelSim], members: list[str],
                   rates: dict[str, float] | None = None) -> tuple[dict, dict, dict, dict]:
    """Actual metrics of a group of roles in year two and year one, and simulated under the new and old plan.

    ``rates`` (role -> rate): each role's money times its rate, so that roles paid in different currencies are
    pooled in one (the scenario's, at its ``fx`` rates); by default as recorded.
    """
    y1, y2 = years
    rate = (lambda r: 1.0) if rates is None else rates.__getitem__

    def actual(y):
        pr = [(p, rate(r)) for r in members for p in history.panels(r, [y])]
        return _actual([p for p, _ in pr], [x for _, x in pr])

    return (actual(y2), actual(y1), _simulated([after[r] for r in members], [rate(r) for r in members]),
            _simulated([before[r] for r in members], [rate(r) for r in members]))


def _booking_note(roles: list[str], booking: list[str]) -> list[str]:
    """The note on a total whose revenue leaves out the roles credited on others (none when every role books)."""
    if len(booking) == len(roles):
        return []
    return [f"total revenue counts booked revenue once: the rows of {sorted(set(roles) - set(booking))} "
            "(credited on other roles' reps) are left out of it, not out of pay and attainment"]


def _market_note(cal: Calibration, template: Scenario, year_one: bool = False) -> str:
    """Which market shock sds the intervals draw year two with, and where they come from (``year_one``: year
    one's year-level shock drawn per replicate, :func:`predictive_scenario`)."""
    m = cal.scenario.market
    fitted = any(e.path == "market.growth_sd" for e in cal.estimates)
    source = "fitted" if fitted else f"kept from {template.source}: one year of history cannot estimate them"
    if year_one:
        return (f"market: year one's shock (growth_sd {m.growth_sd:g}) drawn for each replicate and netted out of "
                f"the reps' expectation and the demand ahead (quotas kept), year two's drawn with growth_sd "
                f"{m.growth_sd:g}, monthly shocks with sqrt(2) times monthly_sd {m.monthly_sd:g} ({source}); "
                "pay is simulated under each drawn market year")
    return (f"market: year two drawn relative to year one with sqrt(2) times growth_sd {m.growth_sd:g} and "
            f"monthly_sd {m.monthly_sd:g} ({source}); pay is simulated under each drawn market year")


def _quota_prior_note(posterior: tuple[float, float] | None, quota_prior_sd: float | None, growth_sd: float) -> str:
    """How year one's shock was drawn: from the market's prior, or given the fitted quota levels."""
    if posterior is None:
        why = ("no prior on quota setting" if quota_prior_sd is None or growth_sd <= 0 else
               "no fitted quota level that scales with expected revenue")
        return f"year one's market shock drawn from the market's prior ({why})"
    return (f"year one's market shock drawn given the fitted quota levels against the template's (quotas set at the "
            f"stated level give or take {quota_prior_sd:g} in logs): log-mean {posterior[0]:+.3f}, sd "
            f"{posterior[1]:.3f} (the market's prior alone: {-0.5 * growth_sd**2:+.3f}, {growth_sd:.3f})")


def predictive_scenario(scenario: Scenario, year_one: float | None = None) -> Scenario:
    """A calibrated scenario with the market shocks of a prediction one year ahead.

    Levels fitted to one year of history carry that year's market shock
    (year-level and monthly), unknown and independent of the next year's: the
    next year relative to the fitted one is the ratio of two independent market
    years, whose log-sd is sqrt(2) times one year's. Without ``year_one``,
    ``growth_sd`` and ``monthly_sd`` (fractions) are scaled by sqrt(2);
    everything else is kept.

    ``year_one``: a draw of year one's year-level market shock (a multiplier,
    mean about 1). The fitted levels are taken as that shock times the demand
    the history's reps and quotas were planned on, so it is netted out of the
    reps' expectation and of the demand ahead: ``growth_mean`` becomes
    (1 + growth_mean) / year_one - 1, every quota level that scales with
    expected revenue (methods ``flat``, ``territory``, ``top_down`` without a
    ``company_target``) is multiplied by ``year_one`` (quotas in money are
    kept), and ``growth_sd`` is year two's own (not scaled); ``monthly_sd`` is
    still scaled by sqrt(2). Over draws of ``year_one`` the market ratio has
    the same spread as without it, and the reps' expected attainment moves
    with it as the history's reps' did (docs/model.md 4.13.3).
    """
    data = scenario.model_dump(by_alias=True, mode="json")
    data["market"]["monthly_sd"] = float(data["market"]["monthly_sd"]) * math.sqrt(2.0)
    if year_one is None:
        data["market"]["growth_sd"] = float(data["market"]["growth_sd"]) * math.sqrt(2.0)
    else:
        data["market"]["growth_mean"] = (1.0 + float(data["market"]["growth_mean"])) / year_one - 1.0
        for plan in data["plans"].values():
            for rp in plan["roles"].values():
                q = rp["quota"]
                if q["method"] in ("flat", "territory") or (q["method"] == "top_down" and not q.get("company_target")):
                    q["level"] = float(q["level"]) * year_one
    return scenario_from_dict(data, f"<prediction from {scenario.source}>")


def year_one_shocks(growth_sd: float, groups: int, seed: int,
                    posterior: tuple[float, float] | None = None) -> np.ndarray | None:
    """Draws of year one's year-level market shock for ``groups`` groups of trials (None for fewer than 2).

    Stratified: the normal scores ``Phi^-1((k + 1/2) / groups)``, scaled to sd 1,
    in an order drawn from ``seed``, as lognormal mean-one multipliers
    ``exp(growth_sd z - growth_sd^2 / 2)``, so that even 4 groups spread the
    shock as the market's sd says, and the order does not line up with the
    behavioural parameter draws, which cycle over the groups. ``posterior``
    (mean, sd) of the log shock (:func:`year_one_posterior`) replaces the
    market's prior: ``exp(mean + sd z)``.
    """
    if groups < 2:
        return None
    z = ndtri((np.arange(groups) + 0.5) / groups)
    z = z / z.std()
    z = np.random.default_rng(np.random.SeedSequence([seed, 3])).permutation(z)
    if posterior is not None:
        return np.exp(posterior[0] + posterior[1] * z)
    return np.exp(growth_sd * z - 0.5 * growth_sd**2)


#: log-sd of the prior on quota setting (docs/model.md 4.13, "Quota level and year one's market"): the
#: plan in force's quotas were set at the template's quota level of the demand the firm planned on, give or
#: take this much, all roles together
QUOTA_PRIOR_SD = 0.10

def _level_scales(q) -> bool:
    """Whether a quota's level scales with expected revenue (the methods :func:`predictive_scenario` moves)."""
    return q.method in ("flat", "territory") or (q.method == "top_down" and not q.company_target)


def year_one_posterior(cal: Calibration, template: Scenario, plan: str,
                       quota_prior_sd: float | None = QUOTA_PRIOR_SD) -> tuple[float, float] | None:
    """Mean and sd of log year one's market shock given the fitted quota levels and a prior on quota setting.

    One year cannot tell a hard quota from a bad market year: a role's fitted
    quota level L_k (quotas over the fitted expected revenue, which holds year
    one's market level m1) is the level the firm set, L, over m1. With the
    market's prior alone (log m1 normal, mean -s^2/2, sd s = ``growth_sd``)
    every L_k is explained, and the prediction's reps expect m1 / y of what
    the history's reps expected, y the drawn shock: their response to a plan
    change is averaged over a spread of expected attainment centred off the
    truth's by m1. The prior on quota setting: the firm set quotas at the
    template's level L0 of the plan in force (the level the plan states; 1.0,
    quota = expected revenue, unless it says otherwise) of the demand it
    planned on, give or take ``quota_prior_sd`` in logs, one departure for
    all roles together. Each role's d_k = log(L0_k / L_k) is then log m1 less
    that departure less the fit's error (the calibration's SE of L_k in logs,
    e_k); their precision-weighted mean d, of variance q^2 + 1 / sum e_k^-2,
    is combined with the market's prior by precision: mean (-1/2 + d / v) / P,
    sd P^-1/2, P = 1/s^2 + 1/v, v = q^2 + 1 / sum e_k^-2.

    None (the market's prior, :func:`year_one_shocks` without ``posterior``) when ``quota_prior_sd`` is None,
    when no role of ``plan`` has a fitted level that scales with expected revenue, or when ``growth_sd`` is 0.
    """
    s = float(cal.scenario.market.growth_sd)
    if quota_prior_sd is None or s <= 0:
        return None
    d, e2 = [], []
    for est in cal.estimates:
        parts = est.path.split(".")
        if (len(parts) != 6 or parts[:3] != ["plans", plan, "roles"] or parts[4:] != ["quota", "level"]
                or parts[3] in cal.small_levels):  # a role of few reps: its quotas, not the market, moved it
            continue
        q = template.role_plan(plan, parts[3]).quota
        if not _level_scales(q) or not (est.value > 0 and q.level > 0):
            continue
        d.append(math.log(q.level / est.value))
        e2.append((est.se / est.value) ** 2 if np.isfinite(est.se) else 0.0)
    if not d:
        return None
    d_, e2_ = np.array(d), np.array(e2)
    if np.all(e2_ > 0):
        dbar, fit_var = float(np.sum(d_ / e2_) / np.sum(1.0 / e2_)), float(1.0 / np.sum(1.0 / e2_))
    else:
        dbar, fit_var = float(d_.mean()), 0.0
    v = float(quota_prior_sd) ** 2 + fit_var
    if v <= 0:  # quotas known to be at the stated level exactly: the levels give m1
        return dbar, 0.0
    prec = 1.0 / s**2 + 1.0 / v
    return (-0.5 + dbar / v) / prec, 1.0 / math.sqrt(prec)


def keep_reps(scenario: Scenario) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Draw adjustment for predicting the same organisation a year on: the reps are mostly the same.

    In a simulated year the mean of the reps' ability and territory normals
    ``z`` (``{role}.ability``, ``{role}.territory``, shape (T, R)) varies from
    trial to trial as if every rep were new; a year on, only the share ``s``
    replaced (``new_hire_share``) changes it, with about ``2 s`` times that
    variance (leavers out, newcomers in). Each trial's mean of ``z`` is
    shrunk to ``k = sqrt(min(2 s, 1))`` of itself. So is the sample spread's
    departure from the scenario's: the deviations about the mean are scaled
    so that their sample sd (n - 1 divisor) is ``1 + k (sd - 1)``. A year on,
    the staying reps' spread is the one fitted (its uncertainty is the fit's,
    in the replicates); drawn afresh in every trial it varied by about
    1/sqrt(2 R) of itself (9% with 60 reps), which under an accelerator moved
    the predicted response by about 2% of revenue from trial to trial.
    """
    shrink = {r: math.sqrt(min(2.0 * role.new_hire_share, 1.0)) for r, role in scenario.roles.items()}

    def adjust(draws: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = dict(draws)
        for r, k in shrink.items():
            for key in (f"{r}.ability", f"{r}.territory"):
                z = draws[key]
                m = z.mean(axis=-1, keepdims=True)
                dev = z - m
                if z.shape[-1] > 1:  # the reps' spread: its sample deviation from 1 shrunk alike
                    sd = dev.std(axis=-1, ddof=1, keepdims=True)
                    dev = np.divide(dev * (1.0 + k * (sd - 1.0)), sd, out=dev.copy(), where=sd > 0)
                out[key] = k * m + dev
        return out

    return adjust


def _concat(parts: list[RolePanelSim]) -> RolePanelSim:
    """Simulated years of one role from several replicates, stacked along the trial axis."""
    return RolePanelSim({"revenue": np.concatenate([p.measures["revenue"] for p in parts])},
                        np.concatenate([p.quota for p in parts]), np.concatenate([p.incentive for p in parts]),
                        np.concatenate([p.attainment for p in parts]), np.concatenate([p.new_hire for p in parts]),
                        parts[0].team)


def noise_replicates(history: History, template: Scenario, cal: Calibration, plan: str, *, n: int, rng: int,
                     behaviour, growth: float = 0.0) -> list[Scenario]:
    """Scenarios refitted to ``n`` synthetic year-ones of the calibrated organisation with the same reps.

    The fitted levels (lead rate, deal size, existing revenue, quota level...)
    carry the sales noise of the history's year: that is the fit uncertainty a
    prediction for the same organisation a year on has. A bootstrap over reps
    also varies which reps are in the sample, which for reps who stay is no
    uncertainty at all (their levels are in the data), and the share replaced
    is simulated by :func:`keep_reps`. Here each replicate is a parametric
    bootstrap conditional on the reps: :func:`simlib.fit.synth.same_reps_histories`
    simulates the calibrated scenario's year under ``plan`` with one set of reps held
    fixed, the market held (its shock is in :func:`predictive_scenario`) and fresh
    sales noise; each history keeps only the roles and columns of ``history`` and
    is calibrated from ``template`` exactly as the history was (no bootstrap).
    """
    # under the current plan every behaviour model gives today's effort (docs/model.md 4.1): skip the solve
    beh = "none" if plan == cal.scenario.current_plan else behaviour
    frames = same_reps_histories(cal.scenario, plan, n=n, rng=np.random.SeedSequence([rng, 1]), behaviour=beh)
    year = history.years[0]
    out = []
    for f in frames:
        # the history's roles and columns only, in the form read_history gives (synthetic rows need no checks)
        f = f.loc[f["role"].isin(list(history.roles))].copy()
        f["process"] = f["role"].map(history.roles)
        f["year"] = year
        f["team"] = f["team"] if history.has_team else None
        f["new_hire"] = f["new_hire"].astype(float) if history.has_new_hire else np.nan
        f["payout"] = f["payout"] if history.has_payout else np.nan
        keep = ["rep_id", "role", "process", "team", "year", "month", "new_hire", "quota", "payout"]
        f = f[keep + [c for c in history.columns if c in f.columns]]
        f = f.sort_values(["year", "role", "rep_id", "month"], kind="stable").reset_index(drop=True)
        h = History(f, f"<synthetic year of {history.source}>", dict(history.roles), [], [], list(history.columns))
        out.append(calibrate(h, template, plan=plan, growth=growth, bootstrap=0, rng=rng, trials=0).scenario)
    return out


def with_small_levels(fit: Scenario, cal: Calibration, draws: dict[str, float]) -> Scenario:
    """``fit`` (a replicate of the calibration) with each role too small to fit at a draw of its level
    (:attr:`Calibration.small_levels`): the template's money per sale times the draw, its quota level divided by
    the draw's ratio to the point (its reps' quotas in money as the calibration has them, their revenue drawn),
    everything else of the role as the calibration has it. A refit to a synthetic year would shrink the level towards the template a
    second time, and its spread is the estimator's, not the posterior's."""
    data = fit.model_dump(by_alias=True, mode="json")
    point = cal.scenario.model_dump(by_alias=True, mode="json")["roles"]
    for r, x in draws.items():
        data["roles"][r] = point[r]
        f = x / cal.small_levels[r].mean
        scale_role_level(data["roles"][r], cal.scenario.roles[r].process, f)
        for plan in data["plans"].values():  # quotas in money as the calibration has them: the reps' own
            q = plan["roles"][r]["quota"]
            if q["method"] in ("flat", "territory") or (q["method"] == "top_down" and not q.get("company_target")):
                q["level"] = float(min(5.0, float(q["level"]) / f))  # the scenario's bound, as calibrate's
    return scenario_from_dict(data, f"<{fit.source}, roles of few reps at drawn levels>")


def predict(cal: Calibration, plans: Sequence[str], *, trials: int, rng: int, behaviour, behaviours: Sequence | None = None,
            behaviour_draws: int = 0, behaviour_seed: int | None = None, replicates: Sequence[Scenario] | None = None,
            progress: bool = False, year_one: tuple[float, float] | None = None,
            ) -> tuple[dict[str, dict[str, RolePanelSim]], int, int]:
    """Simulated years of the calibrated organisation under ``plans`` with fit and market uncertainty.

    The trials are split evenly among ``replicates`` (refitted scenarios,
    e.g. :func:`noise_replicates`) when given, else among the calibration's
    bootstrap replicates (all of them on the point fit when it has none);
    replicate ``b`` runs :func:`predictive_scenario` of that scenario, with year one's
    market shock ``b`` of :func:`year_one_shocks` netted out when there are two or more
    replicates (else the market ratio's sqrt(2) sds), under
    ``behaviours[b % len(behaviours)]`` when an ensemble is given, else under
    ``behaviour``, with the behavioural parameters of draw ``b % behaviour_draws``
    from the priors (:func:`simlib.engine.ensemble.draw_parameters`; none when
    ``behaviour_draws`` is 0), on its own seed ``SeedSequence([rng, b])``, with the reps
    mostly those of the history (:func:`keep_reps`); the plans share each
    replicate's random numbers (paired differences). ``progress`` shows a bar
    over the replicates. ``year_one``: (mean, sd) of log year one's shock
    (:func:`year_one_posterior`) for its draws in place of the market's prior.

    Returns
    -------
    sims : plan -> role -> :class:`RolePanelSim` over all trials
    trials : trials simulated (replicates x trials per replicate)
    replicates : replicates used (0: the point fit only)
    """
    if replicates:
        n_rep = len(replicates)
    else:
        n_rep = min(len(r) for r in cal.replicates.values()) if cal.replicates else 0
    groups = max(1, min(n_rep, trials))
    per = max(1, round(trials / groups))
    params = draw_parameters(cal.scenario, behaviour_draws, behaviour_seed) if behaviour_draws > 0 else None
    shocks = year_one_shocks(cal.scenario.market.growth_sd, groups, rng, year_one) if n_rep else None
    parts: dict[str, dict[str, list[RolePanelSim]]] = {p: {} for p in plans}
    steps: Any = range(groups)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc=f"backtest prediction ({per} trials/replicate)", unit="replicate")
    levels = {r: lv.draws(groups, rng, i) for i, (r, lv) in enumerate(cal.small_levels.items())} if n_rep else {}
    for b in steps:
        fit = replicates[b] if replicates else cal.replicate_scenario(b) if n_rep else cal.scenario
        if levels:
            fit = with_small_levels(fit, cal, {r: float(x[b]) for r, x in levels.items()})
        scen = predictive_scenario(fit, None if shocks is None else float(shocks[b]))
        if params is not None:
            scen = scenario_for_draw(scen, params.iloc[b % behaviour_draws].to_dict())
        beh = behaviours[b % len(behaviours)] if behaviours else behaviour
        sims = simulate_outcomes(scen, list(plans), rng=np.random.SeedSequence([rng, b]), trials=per, behaviour=beh,
                                 adjust_draws=keep_reps(scen))
        for p in plans:
            for r, sim in sims[p].items():
                parts[p].setdefault(r, []).append(sim)
    out = {p: {r: _concat(ps) for r, ps in by_role.items()} for p, by_role in parts.items()}
    return out, groups * per, (groups if n_rep else 0)


#: metrics whose predicted change :attr:`Backtest.robustness` states across the behavioural draws
ROBUSTNESS_METRICS = ("revenue", "payout")


def draw_index(trials: int, replicates: int, draws: int) -> np.ndarray:
    """(trials,) the behavioural draw each simulated year of :func:`predict` ran under.

    :func:`predict` runs its replicates one after another, each on ``trials /
    max(1, replicates)`` years, replicate ``b`` under draw ``b % draws``.
    """
    per = max(1, trials // max(1, replicates))
    return (np.arange(trials) // per) % draws


def change_signs(d: np.ndarray, draw_of: np.ndarray | None) -> dict[str, int]:
    """Draws of the behavioural priors in which the mean predicted change ``d`` (per simulated year, new
    minus old plan) is above / below 0, and the draws used; nothing without draws (``draw_of`` None)."""
    if draw_of is None or len(draw_of) != len(d):
        return {}
    means = np.array([d[draw_of == j].mean() for j in np.unique(draw_of)])
    return {"change_draws": int(means.size), "change_draws_positive": int((means > 0).sum()),
            "change_draws_negative": int((means < 0).sum())}


@dataclass
class Backtest:
    """Result of :func:`backtest`.

    Attributes
    ----------
    rows : one dict per (group, metric): actual year two, predicted mean,
        predictive interval (lo, hi), whether the actual is inside, the
        Monte Carlo standard error of the predicted mean, actual year one,
        predicted effect of the plan change (new - old plan, paired) with its
        standard error, and the actual change (year two - year one).
    calibration : the year-one calibration.
    behaviour : the behaviour model of the prediction (name or description).
    replicates : bootstrap replicates of the calibration the trials were spread over (0: point fit only).
    """

    rows: list[dict[str, Any]]
    calibration: Calibration
    plan_before: str
    plan_after: str
    years: tuple[int, int]
    trials: int
    level: float
    notes: list[str] = field(default_factory=list)
    behaviour: str = ""
    replicates: int = 0

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows)

    @property
    def robustness(self) -> list[str]:
        """Whether each group's predicted change of revenue and payout keeps its sign across the behavioural
        draws (``--behaviour-draws K``), in the words of ``simlib run``: "total: harder_target is below
        current on payout in 100% of plausible behaviours (4 of 4 draws)"; empty without draws."""
        return [f"{r['group']}: " + robustness_sentence(self.plan_after, self.plan_before, r["metric"],
                                                        r["change_draws_positive"], r["change_draws_negative"],
                                                        r["change_draws"])
                for r in self.rows if "change_draws" in r and r["metric"] in ROBUSTNESS_METRICS]

    @property
    def coverage(self) -> float:
        """Share of (group, metric) actuals inside their predictive interval."""
        ins = [r["inside"] for r in self.rows if r["inside"] is not None]
        return float(np.mean(ins)) if ins else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {"plan_before": self.plan_before, "plan_after": self.plan_after, "years": list(self.years),
                "trials": self.trials, "interval_level": self.level, "coverage": self.coverage,
                "behaviour": self.behaviour, "bootstrap_replicates": self.replicates,
                "rows": self.rows, "notes": self.notes, "robustness": self.robustness,
                "calibration": self.calibration.to_dict()}


def _check_backtest_args(history: History, template, plans: tuple[str, str], years: tuple[int, int] | None,
                         level: float, fit_uncertainty: str) -> tuple[int, int]:
    """The two years a backtest compares (default: the history's first two), after checking its arguments.

    Raises
    ------
    PlanError, SimlibError
        An unknown plan, fewer than two years or a year without rows, a level outside (0, 1), an unknown
        ``fit_uncertainty``.
    """
    for p in plans:
        if p not in template.plans:
            raise PlanError(f"unknown plan '{p}'; {template.source} has {sorted(template.plans)}")
    if years is None:
        if len(history.years) < 2:
            raise SimlibError(f"{history.source}: a backtest needs two years of history, found {history.years}; "
                              "write months as YYYY-MM or add a year column")
        years = (history.years[0], history.years[1])
    for y in years:
        if y not in history.years:
            raise SimlibError(f"{history.source}: no rows for year {y}; years present {history.years}")
    if not 0 < level < 1:
        raise SimlibError(f"level: expected a fraction between 0 and 1, got {level}")
    if fit_uncertainty not in ("noise", "reps"):
        raise SimlibError(f"fit_uncertainty: expected 'noise' or 'reps', got {fit_uncertainty!r}")
    return years


def _notes(cal: Calibration, template: Scenario, roles: list[str], booking: list[str], y1: int, n_rep: int,
           refits: bool, k: int, first: str, posterior: tuple[float, float] | None,
           quota_prior_sd: float | None) -> list[str]:
    """The backtest's notes: behaviour (``first``), zero quotas, fit uncertainty, behavioural draws, the market and
    year one's shock (``posterior`` of :func:`year_one_posterior`), the total's booked revenue and currencies,
    and roles too small to fit (predicted from the template)."""
    scen = cal.scenario
    notes = [first]
    if cal.zero_quota_rep_months:
        notes.append(f"the fit on {y1} left out {cal.zero_quota_rep_months} rep-month(s) of {cal.zero_quota_reps} "
                     "rep(s) with quota 0 all year (attainment undefined): not in the quota fit or attainment checks")
    if not n_rep:
        notes.append("no bootstrap replicates: the intervals leave out the uncertainty of the fit")
    elif refits:
        notes.append(f"fit uncertainty: {n_rep} refits to synthetic years of the same reps with fresh sales noise "
                     "(parametric bootstrap conditional on the reps)")
    else:
        notes.append(f"fit uncertainty: {n_rep} bootstrap replicates over reps")
    notes.append(f"behavioural parameters: {k} draws from the priors spread over the replicates" if k else
                 "behavioural parameters at the scenario's values (--behaviour-draws K to spread them over the priors)")
    notes.append(_market_note(cal, template, year_one=n_rep >= 2))
    if n_rep >= 2:
        notes.append(_quota_prior_note(posterior, quota_prior_sd, cal.scenario.market.growth_sd))
    notes += _booking_note(roles, booking)
    notes += currency_note(scen, roles)
    for r in roles:
        if f"roles.{r}" not in cal.kept:
            continue
        if r in cal.small_levels:
            lv = cal.small_levels[r]
            notes.append(f"{r}: not fitted ({cal.kept[f'roles.{r}']}): predicted at its level "
                         f"{lv.mean:.2f} times the template's money per sale"
                         + (f", drawn from its posterior (log-sd {lv.sd:.2f}) in each replicate; its other "
                            "parameters the template's, whose uncertainty the intervals leave out" if n_rep else
                            "; without replicates the intervals leave out its uncertainty"))
        else:
            notes.append(f"{r}: not fitted ({cal.kept[f'roles.{r}']}): predicted with the template's parameters, "
                         "whose uncertainty the intervals leave out")
    return notes


def backtest(
    history: History,
    template,
    *,
    plan_after: str,
    plan_before: str | None = None,
    years: tuple[int, int] | None = None,
    trials: int = 200,
    rng: int = 0,
    level: float = 0.90,
    growth: float = 0.0,
    bootstrap: int = 40,
    behaviour: str | Any | None = None,
    behaviours: Sequence | None = None,
    behaviour_draws: int | None = None,
    behaviour_seed: int | None = None,
    fit_uncertainty: str = "noise",
    progress: bool = False,
    allow_large: bool = False,
    quota_prior_sd: float | None = QUOTA_PRIOR_SD,
) -> Backtest:
    """Fit on year one, predict year two under ``plan_after``, compare with the actual year two.

    Parameters
    ----------
    history : History
        At least two years of history.
    template : Scenario
        Scenario holding both plans.
    plan_after, plan_before : str
        Plan in force in year two, and in year one (default: the current plan).
    years : (int, int), optional
        The two years (default: the first two in the history).
    trials : int
        Simulated years for the prediction (rounded to a multiple of the replicates used).
    rng : int
        Seed (same seed, same numbers).
    level : float
        Coverage of the predictive intervals (0.90: 5% to 95% quantiles).
    growth : float
        Expected demand growth from year one to year two, fraction.
    bootstrap : int
        Replicates of the fit; the prediction's trials are spread over them
        (fit uncertainty). 0: the point fit only, intervals then too narrow.
    behaviour : str or behaviour model, optional
        Behaviour model of the prediction, resolved like ``simlib run``: this argument, else the
        scenario's ``behaviour.mode``, else ``dynamic``.
    behaviours : sequence of behaviour models or names, optional
        An ensemble (e.g. draws from a prior over behavioural parameters), spread over the
        replicates in turn; overrides ``behaviour``.
    behaviour_draws : int, optional
        Behavioural parameter draws K from the priors (:mod:`simlib.priors`, docs/model.md 4.11),
        spread over the replicates in turn (behavioural uncertainty; best with K dividing the
        replicates). Default: the scenario's ``behaviour.uncertainty.draws`` (0 = off), as ``simlib run``.
    behaviour_seed : int, optional
        Seed of the parameter draws (default: the scenario's ``behaviour.uncertainty.seed``).
    fit_uncertainty : {"noise", "reps"}
        How the replicates of the fit are made. ``noise`` (default): refits to synthetic years of the
        same reps with fresh sales noise (:func:`noise_replicates`), the uncertainty of predicting the
        same organisation a year on. ``reps``: the calibration's bootstrap over reps, which also varies
        which reps are in the sample (intervals too wide where most reps stay).
    progress : bool
        Show a progress bar over the prediction's replicates.
    allow_large : bool
        Skip the size limits (:func:`simlib.fit.calibrate.check_fit_request`: ``bootstrap``, ``trials``),
        otherwise checked before any work starts.
    quota_prior_sd : float or None
        Log-sd of the prior on quota setting (:func:`year_one_posterior`): year one's market shock is drawn
        given the fitted quota levels against the template's; None: from the market's prior alone.
    """
    check_fit_request(template, trials, bootstrap, 2, draws=behaviour_draws or 0, allow_large=allow_large)
    plan_before = plan_before or template.current_plan
    if quota_prior_sd is not None and not (math.isfinite(quota_prior_sd) and quota_prior_sd >= 0):
        raise SimlibError(f"quota_prior_sd: expected a log-sd >= 0 or None (no prior), got {quota_prior_sd}")
    y1, y2 = years = _check_backtest_args(history, template, (plan_before, plan_after), years, level, fit_uncertainty)
    cal = calibrate(history.year(y1), template, plan=plan_before, growth=growth, bootstrap=bootstrap, rng=rng, trials=0,
                    allow_large=allow_large)
    scen = cal.scenario
    behaviour = resolve_behaviour(scen, behaviour)
    k = scen.behaviour.uncertainty.draws if behaviour_draws is None else int(behaviour_draws)
    reps = (noise_replicates(history.year(y1), template, cal, plan_before, n=min(bootstrap, trials), rng=rng,
                             behaviour=behaviour, growth=growth)
            if fit_uncertainty == "noise" and bootstrap > 0 else None)
    posterior = year_one_posterior(cal, template, plan_before, quota_prior_sd)
    sims, trials, n_rep = predict(cal, list(dict.fromkeys([plan_after, plan_before])), trials=trials, rng=rng, behaviour=behaviour,
                                  behaviours=behaviours, behaviour_draws=k, behaviour_seed=behaviour_seed,
                                  replicates=reps, progress=progress, year_one=posterior)
    after, before = sims[plan_after], sims[plan_before]
    draw_of = draw_index(trials, n_rep, k) if k and not behaviours else None
    rows: list[dict[str, Any]] = []
    roles = [r for r in scen.roles if r in history.roles]
    groups = [(r, [r]) for r in roles] + [("total", roles)]
    booking = [r for r in roles if scen.roles[r].credited_on is None]
    notes = _notes(cal, template, roles, booking, y1, n_rep, bool(reps), k,
                   f"prediction under behaviour '{behaviour}'" if not behaviours else
                   f"prediction over an ensemble of {len(behaviours)} behaviour models", posterior, quota_prior_sd)
    notes += team_notes(template, history.frame.sort_values(["year", "month"], kind="stable"),
                        so="the prediction simulates the roster's teams")
    # each role's rows in its own currency; the total's money in the scenario's, at its fx rates (as replay)
    currency = {r: role_currency(scen, r) for r in roles} | {"total": scen.currency}
    rates = {r: 1.0 if currency[r] == scen.currency else scen.fx[currency[r]] for r in roles}
    for g, members in groups:
        p2 = [p for r in members for p in history.panels(r, [y2])]
        p1 = [p for r in members for p in history.panels(r, [y1])]
        if not p2 or not p1:
            notes.append(f"{g}: not in both years; left out")
            continue
        act2, act1, sa, sb = _group_metrics(history, (y1, y2), after, before, members,
                                            rates if g == "total" else None)
        if g == "total" and booking and len(booking) < len(roles):  # revenue as booked, as simlib run counts it
            for part, booked in zip((act2, act1, sa, sb),
                                    _group_metrics(history, (y1, y2), after, before, booking, rates), strict=True):
                part.update(revenue=booked["revenue"], revenue_per_rep=booked["revenue_per_rep"])
        n2 = sum(len(p.rep_ids) for p in p2)
        n_sim = sum(scen.roles[r].headcount for r in members)
        if n2 != n_sim and g == "total":
            notes.append(f"year {y2} has {n2} reps, the calibrated scenario {n_sim}: compare per-rep metrics")
        for m in METRICS_BT:
            x = sa[m]
            lo, hi = np.quantile(x, [(1 - level) / 2, 1 - (1 - level) / 2])
            d = x - sb[m]
            act = act2[m]
            rows.append({
                "group": g, "metric": m, "unit": METRICS_BT[m],
                "currency": currency[g] if METRICS_BT[m].startswith("money") else None,
                "actual": act, "predicted": float(x.mean()), "se": float(x.std(ddof=1) / np.sqrt(len(x))),
                "lo": float(lo), "hi": float(hi),
                "inside": None if not np.isfinite(act) else bool(lo <= act <= hi),
                "actual_year1": act1[m],
                "predicted_change": float(d.mean()), "predicted_change_se": float(d.std(ddof=1) / np.sqrt(len(d))),
                "actual_change": act - act1[m],
            } | change_signs(d, draw_of))
    return Backtest(rows, cal, plan_before, plan_after, (y1, y2), trials, level, notes,
                    behaviour=str(behaviour) if not behaviours else f"ensemble of {len(behaviours)}", replicates=n_rep)
