"""Backtest a plan change (``simlib backtest``).

Given two years of history with a plan change between them: calibrate on
year one only (:func:`simlib.fit.calibrate.calibrate`), simulate year two under
the new plan from the calibrated scenario, and report predicted against
actual outcomes per role and in total, each prediction with a predictive
interval (quantiles of the simulated years) and the predicted effect of the
change (new plan minus old plan on common random numbers) beside the actual
change from year one to year two.

The simulated years draw new reps and a new market year each, so the
intervals cover rep sampling and market risk; the actual year two keeps most
of year one's reps, so the intervals are conservative for rep-level spread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simlib.errors import PlanError, SimlibError
from simlib.fit.calibrate import Calibration, calibrate
from simlib.fit.history import History, Panel
from simlib.fit.synth import RolePanelSim, simulate_outcomes

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


def _actual(panels: list[Panel]) -> dict[str, float]:
    rev = np.concatenate([np.nansum(p.measures["revenue"], axis=1) for p in panels])
    pay = np.concatenate([np.nansum(p.payout, axis=1) for p in panels])
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


def _simulated(sims: list[RolePanelSim]) -> dict[str, np.ndarray]:
    """Per-trial metrics (T,) of one role or several pooled."""
    rev = np.concatenate([s.measures["revenue"].sum(axis=-1) for s in sims], axis=1)
    pay = np.concatenate([s.incentive for s in sims], axis=1)
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
    """

    rows: list[dict[str, Any]]
    calibration: Calibration
    plan_before: str
    plan_after: str
    years: tuple[int, int]
    trials: int
    level: float
    notes: list[str] = field(default_factory=list)

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows)

    @property
    def coverage(self) -> float:
        """Share of (group, metric) actuals inside their predictive interval."""
        ins = [r["inside"] for r in self.rows if r["inside"] is not None]
        return float(np.mean(ins)) if ins else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {"plan_before": self.plan_before, "plan_after": self.plan_after, "years": list(self.years),
                "trials": self.trials, "interval_level": self.level, "coverage": self.coverage,
                "rows": self.rows, "notes": self.notes, "calibration": self.calibration.to_dict()}


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
    bootstrap: int = 0,
    behaviour: str = "none",
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
        Simulated years for the prediction.
    rng : int
        Seed (same seed, same numbers).
    level : float
        Coverage of the predictive intervals (0.90: 5% to 95% quantiles).
    growth : float
        Expected demand growth from year one to year two, fraction.
    bootstrap : int
        Bootstrap replicates of the calibration (standard errors only; 0 for speed).
    behaviour : str
        Behaviour model used for the prediction.
    """
    plan_before = plan_before or template.current_plan
    for p in (plan_before, plan_after):
        if p not in template.plans:
            raise PlanError(f"unknown plan '{p}'; {template.source} has {sorted(template.plans)}")
    if years is None:
        if len(history.years) < 2:
            raise SimlibError(f"{history.source}: a backtest needs two years of history, found {history.years}; "
                              "write months as YYYY-MM or add a year column")
        years = (history.years[0], history.years[1])
    y1, y2 = years
    for y in years:
        if y not in history.years:
            raise SimlibError(f"{history.source}: no rows for year {y}; years present {history.years}")
    if not 0 < level < 1:
        raise SimlibError(f"level: expected a fraction between 0 and 1, got {level}")
    cal = calibrate(history.year(y1), template, plan=plan_before, growth=growth, bootstrap=bootstrap, rng=rng, trials=0)
    scen = cal.scenario
    sims = simulate_outcomes(scen, [plan_after, plan_before], rng=rng, trials=trials, behaviour=behaviour)
    after, before = sims[plan_after], sims[plan_before]
    a = (1 - level) / 2
    rows: list[dict[str, Any]] = []
    roles = [r for r in scen.roles if r in history.roles]
    groups = [(r, [r]) for r in roles] + [("total", roles)]
    notes = []
    for g, members in groups:
        p2 = [p for r in members for p in history.panels(r, [y2])]
        p1 = [p for r in members for p in history.panels(r, [y1])]
        if not p2 or not p1:
            notes.append(f"{g}: not in both years; left out")
            continue
        act2, act1 = _actual(p2), _actual(p1)
        sa, sb = _simulated([after[r] for r in members]), _simulated([before[r] for r in members])
        n2 = sum(len(p.rep_ids) for p in p2)
        n_sim = sum(scen.roles[r].headcount for r in members)
        if n2 != n_sim and g == "total":
            notes.append(f"year {y2} has {n2} reps, the calibrated scenario {n_sim}: compare per-rep metrics")
        for m in METRICS_BT:
            x = sa[m]
            lo, hi = np.quantile(x, [a, 1 - a])
            d = x - sb[m]
            act = act2[m]
            rows.append({
                "group": g, "metric": m, "unit": METRICS_BT[m],
                "actual": act, "predicted": float(x.mean()), "se": float(x.std(ddof=1) / np.sqrt(len(x))),
                "lo": float(lo), "hi": float(hi),
                "inside": None if not np.isfinite(act) else bool(lo <= act <= hi),
                "actual_year1": act1[m],
                "predicted_change": float(d.mean()), "predicted_change_se": float(d.std(ddof=1) / np.sqrt(len(d))),
                "actual_change": act - act1[m],
            })
    return Backtest(rows, cal, plan_before, plan_after, (y1, y2), trials, level, notes)
