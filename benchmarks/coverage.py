"""``python -m benchmarks.coverage``: coverage of the backtest's predictive intervals on synthetic histories.

Each case is a shipped scenario and a plan change: :func:`simlib.fit.synth.synth_history`
writes two years (year one under the current plan, year two under the new
one, reps following the behaviour resolved like ``simlib run``), and
:func:`simlib.fit.backtest.backtest` fits year one and predicts year two. The
coverage is the share of actuals (every role and the total, every metric)
inside their nominal interval, over all histories; its binomial standard error
counts one history as one draw (the rows of a history share its market year),
so it is computed from the per-history coverages. Case k draws its histories
from seeds 1000 k + s, so that no two cases share a history's market year.

It also decomposes the misses: the share of actuals below and above their
interval per role, and for revenue the log error log(actual / predicted)
beside the history's market ratio log(m2 / m1) (from the synthetic truth):
the error net of the market, and the interval's implied sd (log(hi / lo) / 2
z) against the sd of the errors. The rows of a history share its market year,
so a handful of histories with unusual markets moves the coverage a lot: the
sd of the market ratios over the histories is printed beside the scenario's
(sqrt 2 times a year's).

Usage::

    python -m benchmarks.coverage [--seeds 5] [--first-seed 0] [--trials 200] [--bootstrap 40] [--level 0.9]
                                  [--synth-behaviour NAME] [--cases SCENARIO:PLAN,...] [--out rows.csv]
    python -m benchmarks.coverage --decompose --cases SCENARIO:PLAN [--seeds 12] [--first-seed 8] [--bootstrap 20]

``--decompose`` instead takes the first case's histories apart (:func:`decompose`): the reps' expected
attainment and the plan's effect under the history's reps against the fit's, piece by piece.
``--bias`` predicts every case's year two from the true scenario with the history's own reps
(:func:`true_scenario_bias`): the mean log error by group and metric with its standard error, the market
held and then drawn as the backtest draws it; beyond its standard error it would be a mechanism that
synth's year two and the prediction's simulation of it do differently.

    python -m benchmarks.coverage --bias [--cases SCENARIO:PLAN,...] [--seeds 24] [--first-seed 8] [--trials 100]

``--response`` compares the plan's effect on revenue predicted from the point fit (year one's shock drawn from
the market's prior, and given the fitted quota levels) with the truth's on the history's reps
(:func:`quota_prior_response`; the truth's quota levels moved by ``--move-quota``):

    python -m benchmarks.coverage --response [--cases SCENARIO:PLAN,...] [--seeds 8] [--first-seed 470]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

#: (scenario file under simlib/shipped/scenarios, plan in year two)
CASES = [
    ("default.yaml", "harder_target"),
    ("default.yaml", "team_weighted"),
    ("validation/goal_difficulty.yaml", "level_115"),
    ("validation/cap_and_quarterly.yaml", "quarterly_uncapped"),
    ("validation/bonus_to_commission.yaml", "commission"),
    # nonlinear pay: scorecard bands and a gate on three roles (docs/model.md 4.13.3)
    ("scorecards.yaml", "scorecard"),
    # an accelerator: the response rides on the reps' expected attainment (docs/model.md 4.13.3)
    ("validation/overachievement.yaml", "overachievement"),
]


#: case k uses the history seeds CASE_SEED_STRIDE * k + s: cases sharing a seed would share the market draws
#: of their histories, and then their misses would not be independent
CASE_SEED_STRIDE = 1000


def coverage(cases=CASES, seeds=range(5), *, trials: int = 200, bootstrap: int = 40, level: float = 0.90,
             synth_behaviour: str | None = None, behaviour: str | None = None, progress: bool = False) -> pd.DataFrame:
    """Backtest every (case, seed) and return one row per history and metric row of the backtest.

    Parameters
    ----------
    cases : sequence of (scenario path relative to the shipped scenarios, plan in year two)
    seeds : seeds of the synthetic histories, offset by :data:`CASE_SEED_STRIDE` times the case's index (the
        backtest uses the same seed)
    trials, bootstrap, level : passed to :func:`simlib.fit.backtest.backtest`
    synth_behaviour : behaviour reps follow in the synthetic history (default: resolved like ``simlib run``)
    behaviour : behaviour of the prediction (default: resolved like ``simlib run``)
    progress : print each history's coverage to stderr as it is done

    Returns
    -------
    DataFrame with scenario, plan_after, seed, group, metric, actual, predicted, lo, hi, inside,
    market_ratio (the history's year-two over year-one market level)
    """
    import tempfile

    from simlib.engine.core import resolve_behaviour
    from simlib.fit.backtest import backtest
    from simlib.fit.history import read_history, write_history
    from simlib.fit.synth import synth_history
    from simlib.io import SHIPPED
    from simlib.scenario import load_scenario

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (path, plan2) in enumerate(cases):
            scen = load_scenario(SHIPPED / "scenarios" / path)
            for s in seeds:
                seed = CASE_SEED_STRIDE * k + s  # every case its own histories (own markets)
                frame, truth = synth_history(scen, rng=seed, years=2, plan2=plan2,
                                         behaviour=resolve_behaviour(scen, synth_behaviour))
                f = Path(tmp) / "h.csv"
                write_history(frame, f)
                hist = read_history(f, {r: x.process for r, x in scen.roles.items()})
                bt = backtest(hist, scen, plan_after=plan2, trials=trials, rng=seed, level=level,
                              bootstrap=bootstrap, behaviour=behaviour)
                ml = truth["market_level"]
                if progress:
                    print(f"{path} -> {plan2}, seed {seed}: coverage {bt.coverage:.2f}", file=sys.stderr, flush=True)
                for r in bt.rows:
                    if r["inside"] is not None:
                        rows.append({"scenario": path, "plan_after": plan2, "seed": seed, "group": r["group"],
                                     "metric": r["metric"], "actual": r["actual"], "predicted": r["predicted"],
                                     "lo": r["lo"], "hi": r["hi"], "inside": r["inside"],
                                     "market_ratio": ml[1] / ml[0]})
    return pd.DataFrame(rows)


def summary(f: pd.DataFrame) -> tuple[float, float, pd.DataFrame]:
    """Overall coverage, its standard error (per-history coverages as the draws) and coverage by case and metric."""
    per_history = f.groupby(["scenario", "plan_after", "seed"])["inside"].mean()
    se = float(per_history.std(ddof=1) / np.sqrt(len(per_history))) if len(per_history) > 1 else float("nan")
    by = f.pivot_table(index=["scenario", "plan_after"], columns="metric", values="inside", aggfunc="mean")
    return float(f["inside"].mean()), se, by


def misses(f: pd.DataFrame, level: float = 0.90) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Where the misses are: share of actuals below / inside / above by group, and for revenue per group
    the log error log(actual / predicted), the same net of the market ratio, and the interval's implied sd."""
    from scipy import stats

    side = np.where(f["inside"], "inside", np.where(f["actual"] < f["lo"], "below", "above"))
    by_side = pd.crosstab(f["group"], side, normalize="index")
    r = f[(f["metric"] == "revenue") & (f["actual"] > 0) & (f["predicted"] > 0) & (f["lo"] > 0)]
    z = float(stats.norm.ppf(0.5 + level / 2))
    err = np.log(r["actual"] / r["predicted"])
    rev = pd.DataFrame({"group": r["group"], "log_error": err, "net_of_market": err - np.log(r["market_ratio"]),
                        "interval_sd": np.log(r["hi"] / r["lo"]) / (2 * z)})
    return by_side, rev.groupby("group").agg(["mean", "std"])


def market_sd(path: str) -> float:
    """The sd of log(m2 / m1) of a shipped scenario's market: two independent years' annual levels, each a
    lognormal year shock times the annual mean of a stationary AR(1) in logs."""
    from simlib.io import SHIPPED
    from simlib.scenario import load_scenario

    m = load_scenario(SHIPPED / "scenarios" / path).market
    rho, n = m.monthly_rho, 12
    var_mean = m.monthly_sd**2 / n**2 * sum(rho ** abs(i - j) for i in range(n) for j in range(n))
    return float(np.sqrt(2.0 * (m.growth_sd**2 + var_mean)))


def by_market(f: pd.DataFrame, level: float = 0.90) -> pd.DataFrame:
    """Coverage by metric, split by how unusual the history's market year was.

    z = log(m2 / m1) / its sd under the scenario (:func:`market_sd`): ``|z|`` inside the central ``level``
    range of a normal (``typical``) or outside it (``extreme``, about 1 - ``level`` of the histories when the
    market draws are as the scenario says). Intervals that carry the market right cover more than ``level``
    in typical years and much less in extreme ones; the mix of the two sets the overall coverage, so a
    handful of histories with extreme markets moves it a lot. Also the payout's elasticity to the market
    (slope of the total's log error on log(m2 / m1)) beside the ratio of the intervals' log widths, payout
    over revenue: pay simulated under drawn market years gives both about the same size.
    """
    from scipy import stats

    zc = float(stats.norm.ppf(0.5 + level / 2))
    sds = {p: market_sd(p) for p in f["scenario"].unique()}
    z = np.log(f["market_ratio"]) / f["scenario"].map(sds)
    band = np.where(np.abs(z) <= zc, "typical", "extreme")
    out = f.assign(band=band).pivot_table(index="band", columns="metric", values="inside", aggfunc="mean")
    hist = f.assign(band=band).groupby(["scenario", "plan_after", "seed"])["band"].first()
    out["histories"] = hist.value_counts()
    out["all_metrics"] = f.assign(band=band).groupby("band")["inside"].mean()
    return out


def market_weighted(f: pd.DataFrame) -> tuple[pd.Series, float]:
    """Coverage by metric (and ``all_metrics``) reweighted to the scenarios' own market, and the effective
    number of histories.

    A set of histories may draw market ratios log(m2 / m1) wider or narrower than
    the scenario says (eight histories of one case have drawn an sd 1.4 times the
    scenario's), and with the market the largest part of most intervals the
    coverage then reads low or high by chance. Each history is weighted by the
    scenario's density of its ``z = log(m2 / m1) / market_sd`` over the density
    of the z its case's histories drew (a normal with their own sd about 0):
    ``phi(z) / (phi(z / s) / s)``, ``s`` the root mean square of the case's z, weights
    normalised within each case and cases equally weighted. A set that drew
    markets as the scenario says has weights near one; the effective number of
    histories ``(sum w)^2 / sum w^2`` says how much the reweighting costs.
    """
    from scipy import stats

    per = f.pivot_table(index=["scenario", "plan_after", "seed"], columns="metric", values="inside", aggfunc="mean")
    per["all_metrics"] = f.groupby(["scenario", "plan_after", "seed"])["inside"].mean()
    ratio = f.groupby(["scenario", "plan_after", "seed"])["market_ratio"].first()
    w = pd.Series(1.0, index=per.index)
    for case in {i[:2] for i in per.index}:
        rows = [i for i in per.index if i[:2] == case]
        z = np.log(ratio.loc[rows].to_numpy()) / market_sd(case[0])
        s = float(np.sqrt(np.mean(z**2))) if len(z) > 1 else 1.0  # about 0: the scenario's mean ratio is 1
        x = stats.norm.pdf(z) / (stats.norm.pdf(z / s) / s)
        w.loc[rows] = x / x.sum()
    w = w / w.sum()
    out = per.mul(w, axis=0).sum() / per.notna().mul(w, axis=0).sum()
    return out, float(1.0 / np.sum(w.to_numpy() ** 2))


def payout_elasticity(f: pd.DataFrame) -> pd.DataFrame:
    """Per case: the total's log error on log(m2 / m1), revenue and payout slopes, and the intervals' log
    width of payout over revenue's (their ratio is pay's elasticity to the market the prediction carries)."""
    t = f[(f["group"] == "total") & f["metric"].isin(["revenue", "payout"]) & (f["lo"] > 0) & (f["actual"] > 0)]
    rows = []
    for (path, plan), g in t.groupby(["scenario", "plan_after"]):
        rv, py = g[g["metric"] == "revenue"], g[g["metric"] == "payout"]
        if len(rv) < 3 or len(py) != len(rv):
            continue
        lm = np.log(rv["market_ratio"].to_numpy())
        slope = {m: float(np.polyfit(lm, np.log(x["actual"] / x["predicted"]).to_numpy(), 1)[0])
                 for m, x in (("revenue", rv), ("payout", py))}
        width = float(np.mean(np.log(py["hi"] / py["lo"]).to_numpy() / np.log(rv["hi"] / rv["lo"]).to_numpy()))
        rows.append({"scenario": path, "plan_after": plan, "revenue_slope": slope["revenue"],
                     "payout_slope": slope["payout"], "payout_over_revenue_width": width})
    return pd.DataFrame(rows)


def market_spread(f: pd.DataFrame, cases=CASES) -> tuple[float, float]:
    """Sd of log(m2 / m1) over the first case's scenario's histories, and the scenario's (:func:`market_sd`)."""
    h = f.groupby(["scenario", "plan_after", "seed"])["market_ratio"].first().reset_index()
    h = h[h["scenario"] == cases[0][0]]
    return float(np.log(h["market_ratio"]).std(ddof=1)) if len(h) > 1 else float("nan"), market_sd(cases[0][0])


#: pieces of a fitted scenario set to the truth's in turn by :func:`decompose`
PIECES = ("ability_sd", "territory_sd", "quota.level", "quota.noise", "production", "production_shape")
#: the value parameter that scales a process's revenue level (``production_shape`` keeps the fit's level through it)
VALUE_PARAM = {"telesales": "deal_value", "key_account": "deal_size_mean", "generic": "revenue_per_month"}


def with_truth(fit, truth, pieces=(), *, quiet=True, year_one=1.0):
    """``fit`` with ``pieces`` (of :data:`PIECES`) set to ``truth``'s, the market held (``quiet``), and year one's
    market level ``year_one`` netted out of the levels with quotas kept (a quota level times it, demand over it)."""
    from simlib.model.production import expected_monthly_revenue
    from simlib.scenario import scenario_from_dict

    d, t = fit.model_dump(by_alias=True, mode="json"), truth.model_dump(by_alias=True, mode="json")
    if quiet:
        d["market"].update(growth_sd=0.0, monthly_sd=0.0)
    d["market"]["growth_mean"] = (1.0 + d["market"]["growth_mean"]) / year_one - 1.0
    for pname, plan in d["plans"].items():
        for r, rp in plan["roles"].items():
            for k in ("level", "noise"):
                if f"quota.{k}" in pieces:
                    rp["quota"][k] = t["plans"][pname]["roles"][r]["quota"][k]
            rp["quota"]["level"] *= year_one
    for r, role in d["roles"].items():
        for k in ("ability_sd", "territory_sd"):
            if k in pieces:
                role[k] = t["roles"][r][k]
        if "production" in pieces:
            role.update(production=t["roles"][r]["production"], seasonality=t["roles"][r]["seasonality"])
        if "production_shape" in pieces and role["process"] in VALUE_PARAM:
            # the truth's production and seasonality at the fit's expected revenue (which holds year one's market)
            level = float(expected_monthly_revenue(fit.roles[r], 0.0).sum())
            prod = dict(t["roles"][r]["production"])
            prod[VALUE_PARAM[role["process"]]] *= level / float(expected_monthly_revenue(truth.roles[r], 0.0).sum())
            role.update(production=prod, seasonality=t["roles"][r]["seasonality"])
    return scenario_from_dict(d, "<decomposition>")


def response(scen, plan2: str, seed: int, trials: int, reps=None) -> tuple[float, float, float, float]:
    """(revenue under ``plan2`` over the current plan, mean, log-sd and share above 1 of expected attainment at
    today's effort) of ``trials`` simulated years, the reps those of ``reps`` (draws of one trial) or drawn as a
    backtest does."""
    from simlib.fit.backtest import keep_reps
    from simlib.fit.synth import simulate_outcomes
    from simlib.model.pipeline import worlds
    from simlib.model.plans import revenue_profile, set_quotas
    from simlib.model.population import Layout, draw_chunk

    def held(draws):
        if reps is None:
            return keep_reps(scen)(draws)
        out = dict(draws)
        for r in scen.roles:
            for k in ("ability", "territory", "new_hire", "last_year"):
                out[f"{r}.{k}"] = np.repeat(reps[f"{r}.{k}"], draws[f"{r}.{k}"].shape[0], axis=0)
        return out

    rng = np.random.SeedSequence([seed, 5])
    sims = simulate_outcomes(scen, [plan2, scen.current_plan], rng=rng, trials=trials, behaviour="dynamic",
                             adjust_draws=held)
    rev = {p: sum(x.measures["revenue"].sum() for x in by.values()) for p, by in sims.items()}
    ws = worlds(scen, held(draw_chunk(Layout.of(scen), rng, np.arange(trials))))
    a = np.concatenate([(revenue_profile(scen, r).sum() * w.ability * w.territory * w.ramp_mean
                         / set_quotas(scen, scen.current_plan, w)).ravel() for r, w in ws.items()])
    return (float(rev[plan2] / rev[scen.current_plan]), float(a.mean()), float(np.log(a).std()),
            float(np.mean(a > 1.0)))


def decompose(path: str, plan2: str, seeds, *, trials: int = 40, replicates: int = 20) -> pd.DataFrame:
    """Per synthetic history: what the fit makes of the reps' expected attainment and of the plan's effect.

    The history's reps (their own ability and territory draws, the true
    scenario, the market held) give the effect they respond with (revenue
    under ``plan2`` over the current plan) and their expected attainment
    (expected revenue at today's effort over quota: mean, log-sd, share above
    1). The fitted scenario (year one, point fit), its reps drawn as a
    backtest draws them, gives the same; then with each of :data:`PIECES` set
    to the truth's, with year one's market level netted out (``m1_netted``),
    the true scenario with its reps drawn as the backtest draws them
    (``truth_drawn``: against ``history``, the part that is which reps, not
    the fit), the fitted ``ability_sd`` less the history's reps' own sample
    spread, and the mean ``ability_sd`` of the backtest's refits
    (:func:`simlib.fit.backtest.noise_replicates`) over the fit's. Columns
    ``effect_*`` are log(1 + effect).
    """

    from simlib.fit.backtest import noise_replicates
    from simlib.io import SHIPPED
    from simlib.model.population import Layout, draw_chunk, root_seed
    from simlib.scenario import load_scenario

    truth = load_scenario(SHIPPED / "scenarios" / path)
    rows = []
    for seed in seeds:
        _, tr, h, cal = fitted_history(truth, seed, plan2)
        h1 = h.year(h.years[0])
        reps = draw_chunk(Layout.of(truth), root_seed(seed), np.array([0]))  # year one's reps, as synth drew them
        e_h, a_h, sd_h, up_h = response(with_truth(truth, truth), plan2, seed, trials, reps)
        e_f, a_f, sd_f, up_f = response(with_truth(cal.scenario, truth), plan2, seed, trials)
        m1 = tr["market_level"][0]
        role = next(iter(truth.roles))
        row = {"seed": seed, "m1": m1, "attainment_fit_over_history": a_f / a_h, "sd_history": sd_h,
               "sd_fit": sd_f, "above_1_history": up_h, "above_1_fit": up_f,
               "ability_sd_fit_minus_reps": (cal.scenario.roles[role].ability_sd
                                             - truth.roles[role].ability_sd * reps[f"{role}.ability"].std(ddof=1)),
               "effect_history": np.log(e_h), "effect_fit": np.log(e_f),
               "effect_truth_drawn": np.log(response(with_truth(truth, truth), plan2, seed, trials)[0]),
               "effect_m1_netted": np.log(response(with_truth(cal.scenario, truth, year_one=m1), plan2, seed,
                                                    trials)[0])}
        for piece in PIECES:
            row[f"effect_{piece}"] = np.log(response(with_truth(cal.scenario, truth, [piece]), plan2, seed,
                                                      trials)[0])
        refits = noise_replicates(h1, truth, cal, truth.current_plan, n=replicates, rng=seed, behaviour="none")
        row["refit_ability_sd_over_fit"] = (np.mean([x.roles[role].ability_sd for x in refits])
                                            / cal.scenario.roles[role].ability_sd)
        rows.append(row)
        print(f"{path} -> {plan2}, seed {seed}: m1 {m1:.3f}, effect history {e_h - 1:+.3f}, fit {e_f - 1:+.3f}",
              file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


#: the simulations of :func:`decompose_spread`, from the history's own year two to the backtest's prediction
SPREAD_STEPS = ("history_reps", "quota_noise", "fit", "reps_drawn")


def held_draws(keys, src: dict[str, np.ndarray], base=None):
    """An ``adjust_draws`` that holds the draws ``keys`` at ``src``'s (one trial's, repeated over the chunk's
    trials), after ``base`` (another adjustment) if given."""
    def adjust(d):
        out = dict(d) if base is None else base(d)
        for k in keys:
            out[k] = np.repeat(src[k], d[k].shape[0], axis=0)
        return out
    return adjust


def year_two_held(truth, seed: int) -> dict[str, np.ndarray]:
    """The draws of a synthetic history's year two (trial 1) with year one's reps, as synth_history makes it."""
    from simlib.model.population import Layout, draw_chunk, root_seed

    d1, d2 = (draw_chunk(Layout.of(truth), root_seed(seed), np.array([t])) for t in (0, 1))
    for r, role in truth.roles.items():
        stay = d2[f"{r}.new_hire"][0] >= role.new_hire_share
        for k in ("ability", "territory", "last_year"):
            d2[f"{r}.{k}"][0] = np.where(stay, d1[f"{r}.{k}"][0], d2[f"{r}.{k}"][0])
        d2[f"{r}.new_hire"][0] = np.where(stay, 1.0, 0.0)
    return d2


def _spread_sims(truth, fit, refits, plan2: str, seed: int, m1: float, trials: int, metric) -> dict[str, np.ndarray]:
    """Per-trial ``metric`` of year two under ``plan2``, the market held at the history's year two, for each of
    :data:`SPREAD_STEPS` and (``refits``) each refit's mean."""
    from simlib.fit.backtest import keep_reps
    from simlib.fit.synth import simulate_outcomes

    d2 = year_two_held(truth, seed)
    std = dict(d2)
    for r in truth.roles:  # the fit holds the reps' mean and spread: the history's reps at them
        for k in ("ability", "territory"):
            z = d2[f"{r}.{k}"]
            std[f"{r}.{k}"] = (z - z.mean()) / z.std(ddof=1) if z.shape[-1] > 1 else z - z.mean()
    market = ["market.growth", "market.monthly"]
    reps = [f"{r}.{k}" for r in truth.roles for k in ("ability", "territory", "last_year", "new_hire")]

    def run(scen, adjust, n=trials):
        sims = simulate_outcomes(scen, [plan2], rng=np.random.SeedSequence([seed, 77]), trials=n, behaviour="dynamic",
                                 adjust_draws=adjust)
        return metric(np.concatenate([s.attainment for s in sims[plan2].values()], axis=1))

    netted = with_truth(fit, truth, quiet=False, year_one=m1)
    out = {"history_reps": run(truth, held_draws(market + reps + [f"{r}.quota_noise" for r in truth.roles], d2)),
           "quota_noise": run(truth, held_draws(market + reps, d2)),
           "fit": run(netted, held_draws(market + reps, std)),
           "reps_drawn": run(netted, held_draws(market, d2, keep_reps(netted)))}
    if refits:
        out["refits"] = np.array([run(x, held_draws(market, d2, keep_reps(x)), max(4, trials // len(refits))).mean()
                                  for x in (with_truth(f, truth, quiet=False, year_one=m1) for f in refits)])
    return out


def decompose_spread(path: str, plan2: str, seeds, *, trials: int = 100, replicates: int = 20,
                     metric: str = "median_attainment") -> pd.DataFrame:
    """Per synthetic history: where the error of year two's ``metric`` (log) comes from, the market held.

    With year two's market held at the history's own (and year one's netted out
    exactly), simulations of year two step from the history to the prediction
    (:data:`SPREAD_STEPS`): the true scenario with the history's reps, its market
    and its quota noise (only sales noise varies); quota noise drawn afresh; the
    fitted scenario with the history's reps at the fitted mean and spread (the
    change is the fit's error); reps drawn as the backtest draws them. Each
    step's mean (``<step>``) and sd over trials (``<step>_sd``), the actual
    (``actual``), and the sd over the fit's refits of their means (``refits_sd``,
    :func:`simlib.fit.backtest.noise_replicates`): the spread the prediction
    gives the fit's error, to set against the sd over histories of ``quota_noise
    - fit``.
    """

    from simlib.fit.backtest import METRICS_BT, noise_replicates
    from simlib.io import SHIPPED
    from simlib.scenario import load_scenario

    of = {"median_attainment": lambda a: np.median(a, axis=-1), "mean_attainment": lambda a: a.mean(axis=-1)}
    if metric not in of:
        raise SystemExit(f"--decompose-spread: metric must be one of {sorted(of)} (of {sorted(METRICS_BT)})")
    truth = load_scenario(SHIPPED / "scenarios" / path)
    rows = []
    for seed in seeds:
        _, tr, h, cal = fitted_history(truth, seed, plan2)
        h1 = h.year(h.years[0])
        refits = noise_replicates(h1, truth, cal, truth.current_plan, n=replicates, rng=seed, behaviour="none")
        sims = _spread_sims(truth, cal.scenario, refits, plan2, seed, tr["market_level"][0], trials,
                            lambda a: np.log(of[metric](a)))
        att = np.concatenate([p.attainment for r in h.roles for p in h.panels(r, [h.years[1]])])
        row = {"seed": seed, "m1": tr["market_level"][0], "actual": float(np.log(of[metric](att[np.isfinite(att)])))}
        for k in SPREAD_STEPS:
            row[k], row[f"{k}_sd"] = float(sims[k].mean()), float(sims[k].std(ddof=1))
        row["refits_sd"] = float(sims["refits"].std(ddof=1)) if len(sims.get("refits", [])) > 1 else float("nan")
        rows.append(row)
        print(f"{path} -> {plan2}, seed {seed}: log {metric} actual {row['actual']:+.3f}, history's reps "
              f"{row['history_reps']:+.3f}, fit {row['fit']:+.3f}, prediction's reps {row['reps_drawn']:+.3f}",
              file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def print_spread(d: pd.DataFrame) -> None:
    """Per step of :func:`decompose_spread`, the sd over histories of its change, beside the sd over trials the
    prediction gives it."""
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.precision", 3):
        print(d)
    steps = ("actual",) + SPREAD_STEPS
    for a, b in zip(steps[:-1], steps[1:], strict=True):
        x = d[a] - d[b]
        print(f"{a:>12s} - {b:<12s} mean {x.mean():+.4f} +- {x.std(ddof=1) / np.sqrt(len(d)):.4f} "
              f"(sd over histories {x.std(ddof=1):.4f})")
    x = d["actual"] - d["reps_drawn"]
    print(f"{'actual':>12s} - {'reps_drawn':<12s} mean {x.mean():+.4f} (sd over histories {x.std(ddof=1):.4f}; "
          f"over the prediction's trials {np.sqrt(np.mean(d['reps_drawn_sd'] ** 2)):.4f})")
    print(f"fit's error (quota_noise - fit) sd over histories {(d['quota_noise'] - d['fit']).std(ddof=1):.4f}; "
          f"the refits' spread of it {np.sqrt(np.mean(d['refits_sd'] ** 2)):.4f}")


#: the steps of :func:`true_scenario_bias`, from the history's own year two to the backtest's way of drawing it
BIAS_STEPS = ("held", "market_drawn", "year_one_drawn", "reps_drawn", "point_fit")
#: metrics of :func:`true_scenario_bias` (log errors)
BIAS_METRICS = ("revenue", "payout", "mean_attainment")


def _year_two_actual(frame: pd.DataFrame, truth) -> dict[str, dict[str, float]]:
    """Year two's revenue, payout and mean attainment per role and total (revenue over the roles that book) of a
    synthetic two-year history frame."""
    months = frame["month"].astype(str)
    f = frame[months.str[:4] == months.max()[:4]]
    per = f.groupby(["role", "rep_id"])[["revenue", "payout", "quota"]].sum()
    out = {}
    for r in truth.roles:
        x = per.loc[r]
        out[r] = {"revenue": float(x["revenue"].sum()), "payout": float(x["payout"].sum()),
                  "mean_attainment": float((x["revenue"] / x["quota"]).mean())}
    return out


def _year_two_simulated(sims, truth) -> dict[str, dict[str, float]]:
    """The same metrics as :func:`_year_two_actual`, means over the simulated trials."""
    return {r: {"revenue": float(s.measures["revenue"].sum(axis=(1, 2)).mean()),
                "payout": float(s.incentive.sum(axis=1).mean()),
                "mean_attainment": float(s.attainment.mean())} for r, s in sims.items() if r in truth.roles}


def _with_total(m: dict[str, dict[str, float]], truth) -> dict[str, dict[str, float]]:
    book = [r for r in truth.roles if truth.roles[r].credited_on is None]
    att = sum(m[r]["mean_attainment"] * truth.roles[r].headcount for r in truth.roles)
    m["total"] = {"revenue": sum(m[r]["revenue"] for r in book), "payout": sum(m[r]["payout"] for r in truth.roles),
                  "mean_attainment": att / sum(x.headcount for x in truth.roles.values())}
    return m


def holding_year_one(truth, m1: float):
    """``truth`` as a fit to its year one (``growth`` 0) holds that year's market level ``m1`` (which includes
    the truth's ``1 + growth_mean``): demand at ``m1`` (``growth_mean`` ``m1 - 1``), every quota level that
    scales with expected revenue times ``(1 + growth_mean) / m1`` (quotas in money kept)."""
    from simlib.scenario import scenario_from_dict

    d = truth.model_dump(by_alias=True, mode="json")
    ratio = (1.0 + d["market"]["growth_mean"]) / m1
    d["market"]["growth_mean"] = m1 - 1.0
    for plan in d["plans"].values():
        for rp in plan["roles"].values():
            q = rp["quota"]
            if q["method"] in ("flat", "territory") or (q["method"] == "top_down" and not q.get("company_target")):
                q["level"] = float(q["level"]) * ratio
    return scenario_from_dict(d, f"<{truth.source} holding year one's market>")


def _bias_step(truth, step: str, plan2: str, d2: dict, m1: float, seed: int, trials: int, beh, groups: int = 10,
               point=None):
    """Simulated year two (role -> outcomes under ``plan2``) of one step of :func:`true_scenario_bias`
    (``point``: the point fit to year one, for step ``point_fit``)."""
    from simlib.fit.backtest import keep_reps, predictive_scenario, year_one_shocks
    from simlib.fit.synth import RolePanelSim, simulate_outcomes

    market = ["market.growth", "market.monthly"]
    reps = [f"{r}.{k}" for r in truth.roles for k in ("ability", "territory", "last_year", "new_hire")]

    def about_history(scen):
        kept = keep_reps(scen)

        def adjust(d):
            out = kept(d)
            for r in truth.roles:
                for k in ("ability", "territory"):
                    out[f"{r}.{k}"] = out[f"{r}.{k}"] + d2[f"{r}.{k}"].mean()
            return out
        return adjust

    rng = np.random.SeedSequence([seed, 91])
    if step in ("held", "market_drawn"):
        return simulate_outcomes(truth, [plan2], rng=rng, trials=trials, behaviour=beh,
                                 adjust_draws=held_draws(market + reps if step == "held" else reps, d2))[plan2]
    fit = point if step == "point_fit" else holding_year_one(truth, m1)
    parts = []
    for b, y in enumerate(year_one_shocks(truth.market.growth_sd, groups, seed)):
        scen = predictive_scenario(fit, float(y))
        adjust = (held_draws(reps, d2) if step == "year_one_drawn" else keep_reps(scen) if step == "point_fit"
                  else about_history(scen))
        parts.append(simulate_outcomes(scen, [plan2], rng=np.random.SeedSequence([seed, 91, b]),
                                       trials=max(2, trials // groups), behaviour=beh, adjust_draws=adjust)[plan2])
    return {r: RolePanelSim({"revenue": np.concatenate([p[r].measures["revenue"] for p in parts])},
                            np.concatenate([p[r].quota for p in parts]), np.concatenate([p[r].incentive for p in parts]),
                            np.concatenate([p[r].attainment for p in parts]), np.concatenate([p[r].new_hire for p in parts]),
                            parts[0][r].team) for r in parts[0]}


def fitted_history(truth, seed: int, plan2: str, behaviour: str = "dynamic"):
    """A synthetic two-year history of ``truth`` (``seed``, year two under ``plan2``), read back as a history
    file is, and the point fit (no bootstrap) to its year one, as a backtest fits it.

    Returns ``(frame, truth_record, history, calibration)``.
    """
    import tempfile

    from simlib.fit.calibrate import calibrate
    from simlib.fit.history import read_history, write_history
    from simlib.fit.synth import synth_history

    frame, tr = synth_history(truth, rng=seed, years=2, plan2=plan2, behaviour=behaviour)
    with tempfile.TemporaryDirectory() as tmp:
        write_history(frame, Path(tmp) / "h.csv")
        h = read_history(Path(tmp) / "h.csv", {r: x.process for r, x in truth.roles.items()})
    return frame, tr, h, calibrate(h.year(h.years[0]), truth, bootstrap=0, rng=seed, trials=0)


def true_scenario_bias(path: str, plan2: str, seeds, *, trials: int = 100,
                       behaviour: str | None = None) -> pd.DataFrame:
    """Per synthetic history, group and metric: the log error of year two predicted from the TRUE scenario.

    Whatever the fit gets wrong, a prediction from the scenario the history was
    drawn from should be unbiased for the history's year two; a mean error
    over many histories beyond its standard error is a mechanism that
    :func:`simlib.fit.synth.synth_history` (year two's generation) and the
    prediction's simulation of year two do differently. Steps
    (:data:`BIAS_STEPS`), each a mean over ``trials`` simulated years under
    ``plan2`` from the true scenario with fresh sales and quota noise:

    - ``held``: the history's year-two reps (ability, territory, last year,
      new-hire status: :func:`year_two_held`) and its market draws;
    - ``market_drawn``: the same reps, the market drawn afresh; the error is
      net of the history's market level over its mean, log(m2 / (1 + g));
    - ``year_one_drawn``: the market as the prediction draws it: the true
      scenario with year one's market level m1 in its levels (as a fit holds
      it: demand times m1, quota levels over m1), through
      :func:`simlib.fit.backtest.predictive_scenario` with year one's shock
      drawn per group of trials (:func:`simlib.fit.backtest.year_one_shocks`),
      the history's reps held; net of log(m2 / m1), as the coverage nets it;
    - ``reps_drawn``: the same, the reps drawn as the backtest draws them
      (:func:`simlib.fit.backtest.keep_reps`) about the history's reps' mean
      normals (a fit's levels hold their mean);
    - ``point_fit``: the same from the point fit to year one
      (:func:`simlib.fit.calibrate.calibrate`, no bootstrap) in place of the
      truth: the change from ``reps_drawn`` is the fit's error (the backtest
      itself then spreads its trials over refits).

    Columns: seed, group, metric, m2 and the log error of each step.
    """
    from simlib.engine.core import resolve_behaviour
    from simlib.io import SHIPPED
    from simlib.scenario import load_scenario

    truth = load_scenario(SHIPPED / "scenarios" / path)
    beh = resolve_behaviour(truth, behaviour)
    rows = []
    for seed in seeds:
        frame, tr, _, cal = fitted_history(truth, seed, plan2, beh)
        actual = _with_total(_year_two_actual(frame, truth), truth)
        d2 = year_two_held(truth, seed)
        m1, m2 = tr["market_level"]
        net = {"held": 0.0, "market_drawn": np.log(m2 / (1.0 + truth.market.growth_mean)),
               "year_one_drawn": np.log(m2 / m1), "reps_drawn": np.log(m2 / m1), "point_fit": np.log(m2 / m1)}
        point = cal.scenario
        errs = {}
        for k in BIAS_STEPS:
            sims = _bias_step(truth, k, plan2, d2, m1, seed, trials, beh, point=point)
            pred = _with_total(_year_two_simulated(sims, truth), truth)
            errs[k] = {g: {m: float(np.log(actual[g][m] / pred[g][m])) - net[k]
                           for m in BIAS_METRICS if actual[g][m] > 0 and pred[g][m] > 0} for g in actual}
        for g in actual:
            for m in BIAS_METRICS:
                if all(m in errs[k][g] for k in BIAS_STEPS):
                    rows.append({"seed": seed, "group": g, "metric": m, "m2": tr["market_level"][1],
                                 **{k: errs[k][g][m] for k in BIAS_STEPS}})
        print(f"{path} -> {plan2}, seed {seed}: total revenue log error "
              + ", ".join(f"{k} {errs[k]['total']['revenue']:+.4f}" for k in BIAS_STEPS), file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def moved_quotas(scen, seed: int, spread: float):
    """``scen`` with each role's quota levels (every plan alike) times a factor uniform in 1 +- ``spread``
    (seeded by ``seed``): a truth whose firm set its quotas off the template's stated level, as the
    hidden-scenario judges' truths (and :func:`benchmarks.calibration.perturbed`) move them."""
    from simlib.scenario import scenario_from_dict

    if spread <= 0:
        return scen
    gen = np.random.default_rng(np.random.SeedSequence([seed, 77]))
    d = scen.model_dump(by_alias=True, mode="json")
    f = {r: float(gen.uniform(1.0 - spread, 1.0 + spread)) for r in d["roles"]}
    for plan in d["plans"].values():
        for r, rp in plan["roles"].items():
            rp["quota"]["level"] = float(rp["quota"]["level"]) * f[r]
    return scenario_from_dict(d, f"<{scen.source}, quota levels moved>")


def _revenue_by_role(scen, plans, seed, trials, adjust):
    from simlib.fit.synth import simulate_outcomes

    sims = simulate_outcomes(scen, list(plans), rng=np.random.SeedSequence([seed, 5]), trials=trials,
                             behaviour="dynamic", adjust_draws=adjust)
    return {p: {r: float(x.measures["revenue"].sum()) for r, x in by.items()} for p, by in sims.items()}


def quota_prior_response(path: str, plan2: str, seeds, *, trials: int = 8, groups: int = 10,
                         move_quota: float = 0.15, priors=(None, 0.10), bootstrap: int = 20) -> pd.DataFrame:
    """Per history and role: the plan's effect on revenue the truth produces against the backtest's prediction
    of it, with year one's market shock drawn from the market's prior and given the fitted quota levels.

    The truth is the shipped scenario with its quota levels moved (:func:`moved_quotas`, ``move_quota``;
    0 keeps the template's). ``effect_truth``: revenue under ``plan2`` over the current plan, the history's
    year-one reps held, the market quiet (:func:`response`'s held reps). For each prior on quota setting
    (None: the market's alone; a log-sd: :func:`simlib.fit.backtest.year_one_posterior`), the point fit to
    year one (bootstrap ``bootstrap`` for the level's SE) predicts it as the backtest does: ``groups`` draws of
    year one's shock (:func:`simlib.fit.backtest.year_one_shocks`, the same normal scores for every prior),
    each netted out of the fit with quotas kept (:func:`with_truth`, market quiet), reps drawn by
    :func:`simlib.fit.backtest.keep_reps`, ``trials`` years each. Columns: seed, role, m1 (the history's year
    one), level_fit_over_truth (the fitted level over the truth's), effect_truth, effect_<prior> (fractions).
    """
    import tempfile

    from simlib.fit.backtest import keep_reps, year_one_posterior, year_one_shocks
    from simlib.fit.calibrate import calibrate
    from simlib.fit.history import read_history, write_history
    from simlib.fit.synth import synth_history
    from simlib.io import SHIPPED
    from simlib.model.population import Layout, draw_chunk, root_seed
    from simlib.scenario import load_scenario

    template = load_scenario(SHIPPED / "scenarios" / path)
    cur = template.current_plan
    rows = []
    for seed in seeds:
        truth = moved_quotas(template, seed, move_quota)
        frame, tr = synth_history(truth, rng=seed, years=2, plan2=plan2, behaviour="dynamic")
        with tempfile.TemporaryDirectory() as tmp:
            write_history(frame, Path(tmp) / "h.csv")
            h = read_history(Path(tmp) / "h.csv", {r: x.process for r, x in truth.roles.items()})
        cal = calibrate(h.year(h.years[0]), template, bootstrap=bootstrap, rng=seed, trials=0)
        reps = draw_chunk(Layout.of(truth), root_seed(seed), np.array([0]))

        def held(draws, reps=reps, truth=truth):
            out = dict(draws)
            for r in truth.roles:
                for k in ("ability", "territory", "new_hire", "last_year"):
                    out[f"{r}.{k}"] = np.repeat(reps[f"{r}.{k}"], draws[f"{r}.{k}"].shape[0], axis=0)
            return out

        true = _revenue_by_role(with_truth(truth, truth), (plan2, cur), seed, trials * groups, held)
        pred = {}
        for prior in priors:
            post = year_one_posterior(cal, template, cur, prior)
            ys = year_one_shocks(template.market.growth_sd, groups, seed, post)
            acc = {p: {} for p in (plan2, cur)}
            for b, y in enumerate(ys):
                scen = with_truth(cal.scenario, cal.scenario, year_one=float(y))
                got = _revenue_by_role(scen, (plan2, cur), seed * 100 + b, trials, keep_reps(scen))
                for p in got:
                    for r, v in got[p].items():
                        acc[p][r] = acc[p].get(r, 0.0) + v
            pred[prior] = acc
        roles = [r for r in truth.roles if truth.roles[r].credited_on is None]
        for r in roles + ["total"]:
            members = roles if r == "total" else [r]

            def eff(d, members=members):
                return sum(d[plan2][m] for m in members) / sum(d[cur][m] for m in members) - 1.0

            lvl = ("" if r == "total" else
                   next((e.value for e in cal.estimates if e.path == f"plans.{cur}.roles.{r}.quota.level"), np.nan)
                   / truth.role_plan(cur, r).quota.level)
            rows.append({"seed": seed, "role": r, "m1": tr["market_level"][0], "level_fit_over_truth": lvl,
                         "effect_truth": eff(true), **{f"effect_{p}": eff(pred[p]) for p in priors}})
        print(f"{path} -> {plan2}, seed {seed}: m1 {tr['market_level'][0]:.3f}, total effect truth "
              f"{rows[-1]['effect_truth']:+.4f}, " + ", ".join(f"prior {p}: {rows[-1][f'effect_{p}']:+.4f}"
                                                              for p in priors), file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def print_response(d: pd.DataFrame) -> None:
    """Per role: mean effects, and the predicted over the true effect (ratio of means, with a standard error
    over histories by the delta method) for each prior."""
    cols = [c for c in d.columns if c.startswith("effect_") and c != "effect_truth"]
    for r, x in d.groupby("role", sort=False):
        n = len(x)
        t = x["effect_truth"]
        parts = []
        for c in cols:
            ratio = x[c].mean() / t.mean()
            resid = x[c] - ratio * t
            se = resid.std(ddof=1) / np.sqrt(n) / abs(t.mean())
            parts.append(f"{c[7:]}: {x[c].mean():+.4f}, ratio {ratio:.3f} +- {se:.3f}")
        print(f"{r:>12s} ({n} histories) truth {t.mean():+.4f}; " + "; ".join(parts))


def print_bias(d: pd.DataFrame) -> None:
    """Mean log error of each step of :func:`true_scenario_bias` by group and metric, with its standard error
    over histories (and how many standard errors from 0)."""
    n = d["seed"].nunique()
    print(f"log(actual / predicted) of year two from the true scenario over {n} histories: mean +- se (t)")
    for (g, m), x in d.groupby(["group", "metric"], sort=False):
        parts = []
        for k in BIAS_STEPS:
            mu, se = x[k].mean(), x[k].std(ddof=1) / np.sqrt(len(x))
            parts.append(f"{k} {mu:+.4f} +- {se:.4f} ({mu / se if se > 0 else float('nan'):+.1f})")
        print(f"{g:>12s} {m:<16s} " + "   ".join(parts))


def print_decomposition(d: pd.DataFrame) -> None:
    """The per-history table and, per column, its mean with a standard error; effects against the fit's."""
    n = len(d)
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.precision", 3):
        print(d)
    for c in d.columns[1:]:
        x = d[c] - d["effect_fit"] if c.startswith("effect_") and c != "effect_fit" else d[c]
        what = "minus effect_fit" if c.startswith("effect_") and c != "effect_fit" else ""
        print(f"{c:28s} {what:17s} mean {x.mean():+.4f} +- {x.std(ddof=1) / np.sqrt(n):.4f} (sd {x.std(ddof=1):.4f})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.coverage", description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5, help="histories per case (default 5)")
    ap.add_argument("--first-seed", type=int, default=0, help="seed of the first history (default 0)")
    ap.add_argument("--out", help="write the rows (one per history, group and metric) to this CSV")
    ap.add_argument("--trials", type=int, default=200, help="simulated years per backtest (default 200)")
    ap.add_argument("--bootstrap", type=int, default=40, help="bootstrap replicates of each calibration (default 40)")
    ap.add_argument("--level", type=float, default=0.90, help="nominal coverage (default 0.90)")
    ap.add_argument("--synth-behaviour", help="behaviour of the synthetic reps (default: as simlib run)")
    ap.add_argument("--behaviour", help="behaviour of the prediction (default: as simlib run)")
    ap.add_argument("--cases", help="comma-separated SCENARIO:PLAN pairs (scenario under simlib/shipped/scenarios, "
                                    "plan in year two) instead of the built-in cases")
    ap.add_argument("--decompose", action="store_true",
                    help="instead of coverage: per history of the (first) case, the reps' expected attainment and "
                         "the plan's effect, the history's reps against the fit's, with each fitted piece set to "
                         "the truth's in turn (docs/model.md 4.13.3)")
    ap.add_argument("--decompose-spread", metavar="METRIC", nargs="?", const="median_attainment",
                    help="instead of coverage: per history of the (first) case, the spread of year two's METRIC "
                         "(median_attainment, the default, or mean_attainment) with the market held, step by step "
                         "from the history's reps to the prediction's, and the refits' spread (docs/model.md 4.13.3)")
    ap.add_argument("--bias", action="store_true",
                    help="instead of coverage: per history of each case, the log error of year two predicted from "
                         "the TRUE scenario (the history's reps and market held, then drawn), mean +- se by group "
                         "and metric (docs/model.md 4.13.3)")
    ap.add_argument("--response", action="store_true",
                    help="instead of coverage: per history of each case, the plan's effect on revenue the truth "
                         "(quota levels moved by --move-quota) produces against the point fit's prediction, year "
                         "one's shock drawn from the market's prior and given the fitted quota levels "
                         "(docs/model.md 4.13)")
    ap.add_argument("--move-quota", type=float, default=0.15,
                    help="with --response: the truth's quota levels times uniform 1 +- this (default 0.15)")
    args = ap.parse_args(argv)
    cases = CASES
    if args.cases:
        cases = [tuple(c.strip().split(":", 1)) for c in args.cases.split(",")]
        if any(len(c) != 2 or not all(c) for c in cases):
            ap.error("--cases: expected SCENARIO:PLAN[,SCENARIO:PLAN...]")
    if args.response:
        for path, plan2 in cases:
            print(f"{path} -> {plan2}")
            print_response(quota_prior_response(path, plan2, range(args.first_seed, args.first_seed + args.seeds),
                                                move_quota=args.move_quota, bootstrap=args.bootstrap))
        return 0
    if args.bias:
        for path, plan2 in cases:
            print(f"{path} -> {plan2}")
            print_bias(true_scenario_bias(path, plan2, range(args.first_seed, args.first_seed + args.seeds),
                                          trials=args.trials, behaviour=args.synth_behaviour))
        return 0
    if args.decompose_spread:
        path, plan2 = cases[0]
        print_spread(decompose_spread(path, plan2, range(args.first_seed, args.first_seed + args.seeds),
                                      replicates=args.bootstrap, metric=args.decompose_spread))
        return 0
    if args.decompose:
        path, plan2 = cases[0]
        print_decomposition(decompose(path, plan2, range(args.first_seed, args.first_seed + args.seeds),
                                      replicates=args.bootstrap))
        return 0
    f = coverage(cases, seeds=range(args.first_seed, args.first_seed + args.seeds), trials=args.trials, bootstrap=args.bootstrap, level=args.level,
                 synth_behaviour=args.synth_behaviour, behaviour=args.behaviour, progress=True)
    if args.out:
        f.to_csv(args.out, index=False)
    cov, se, by = summary(f)
    n_hist = f.groupby(["scenario", "plan_after", "seed"]).ngroups
    by_side, rev = misses(f, args.level)
    sd, expected = market_spread(f, cases)
    bands = by_market(f, args.level)
    elasticity = payout_elasticity(f)
    weighted, n_eff = market_weighted(f)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 3):
        print(by)
        print("\nactuals below / inside / above their interval, by group:")
        print(by_side)
        print("\nrevenue: log(actual / predicted), the same net of the market ratio, and the interval's implied sd:")
        print(rev)
        print("\ncoverage by metric in histories with a typical market year (|log(m2/m1)| within the nominal range "
              "of the scenario's sd) and an extreme one:")
        print(bands)
        print("\npay through the market: slopes of the total's log error on log(m2/m1), and the payout interval's "
              "log width over revenue's:")
        print(elasticity)
    print("\ncoverage by metric reweighted to the scenarios' own market (each history by the scenario's density of "
          f"its market ratio over the density its case's histories drew; {n_eff:.1f} effective histories):")
    print(" ".join(f"{k} {v:.1%}" for k, v in weighted.items()))
    print(f"\nmarket ratio log(m2 / m1) over the {cases[0][0]} histories (either plan change): sd {sd:.3f} (the scenario's: {expected:.3f})")
    print(f"coverage of the nominal {args.level:.0%} intervals: {cov:.1%} +- {se:.1%} (1 se) over {n_hist} histories, "
          f"{len(f)} actuals")
    return 0


if __name__ == "__main__":
    sys.exit(main())
