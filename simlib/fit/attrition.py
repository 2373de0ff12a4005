"""The attrition hazard from history with leave dates: fit, and synthetic leave dates (docs/model.md, section 4.12).

The hazard is :mod:`simlib.model.attrition`'s, with covariates a history can
give at the start of each month, from the rep's months before it (so that a
leaver's covariates do not use months after leaving):

- pay: base salary (the scenario's current plan) + 12 x the mean monthly
  payout so far, over ``outside_option`` x today's on-target pay (month 1:
  at the outside option);
- shortfall: ``(1 - revenue so far / quota so far)+`` (month 1: 0);
- top: attainment so far in the top quartile of the role's reps present that
  month (month 1: nobody).

Caps cannot be seen in a history without the plan's cap, so ``cap_effect``
keeps the scenario's value. The fit is maximum likelihood of the monthly
leave-or-stay outcomes (complementary log-log link), by Newton's method.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simlib.engine.years import on_target
from simlib.errors import SimlibError
from simlib.fit.history import YEAR_RANGE, History, Panel
from simlib.model import attrition as att
from simlib.scenario import MONTHS, Attrition, Scenario

#: the coefficients a history identifies (the cap effect is not among them)
FITTED = att.COEFFICIENTS[:4]


@dataclass
class AttritionFit:
    """A fitted attrition hazard.

    Attributes
    ----------
    params : dict
        ``annual_rate``, ``pay_elasticity``, ``attainment_effect``, ``top_premium`` (fitted) and
        ``cap_effect`` (the scenario's), as in the scenario's ``people.attrition``.
    coef, se : dict
        Fitted coefficients of :data:`FITTED` and their standard errors (inverse observed information).
    rep_months, leavers : int
        Months at risk and leavers in the data.
    cov : (4, 4) covariance of the fitted coefficients.
    """

    params: dict[str, float]
    coef: dict[str, float]
    se: dict[str, float]
    rep_months: int
    leavers: int
    cov: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((4, 4)))
    notes: list[str] = field(default_factory=list)

    def wald(self, coef: np.ndarray) -> float:
        """Wald statistic of the hypothesis that the fitted coefficients equal ``coef`` (chi-square, 4 df)."""
        e = np.array([self.coef[k] for k in FITTED]) - np.asarray(coef, dtype=float)[:4]
        return float(e @ np.linalg.solve(self.cov, e))

    def table(self) -> pd.DataFrame:
        """Coefficients with SE and 95% CI."""
        from simlib.format import interval

        rows = []
        for k in FITTED:
            lo, hi = interval(self.coef[k], self.se[k])
            rows.append(dict(coefficient=k, estimate=self.coef[k], se=self.se[k], ci_low=lo, ci_high=hi))
        return pd.DataFrame(rows)


def covariates(panel: Panel, base: float, outside_pay: float, present: np.ndarray | None = None) -> np.ndarray:
    """(R, 12, 5) covariates of :func:`simlib.model.attrition.design` at the start of each month, from the months
    before it in which the rep has a row (``present``, default the panel's)."""
    present = panel.present if present is None else present
    rev = np.where(present, np.nan_to_num(panel.measures["revenue"]), 0.0)
    quota = np.where(present, np.nan_to_num(panel.quota), 0.0)
    pay = np.where(present, np.nan_to_num(panel.payout), 0.0)
    before = lambda a: np.concatenate([np.zeros((a.shape[0], 1)), np.cumsum(a, axis=1)[:, :-1]], axis=1)  # noqa: E731
    k, r_sum, q_sum, p_sum = before(present.astype(float)), before(rev), before(quota), before(pay)
    ratio = np.where(k > 0, (base + MONTHS * p_sum / np.maximum(k, 1.0)) / outside_pay, 1.0)
    a_ytd = np.where(q_sum > 0, r_sum / np.where(q_sum > 0, q_sum, 1.0), np.nan)
    shortfall = np.where(np.isfinite(a_ytd), np.maximum(1.0 - np.nan_to_num(a_ytd, nan=1.0), 0.0), 0.0)
    top = np.zeros(present.shape, dtype=bool)
    for m in range(1, MONTHS):
        ok = present[:, m] & np.isfinite(a_ytd[:, m])
        if ok.sum() >= 4:
            top[:, m] = ok & (a_ytd[:, m] >= np.percentile(a_ytd[ok, m], 75))
    return att.design(ratio, shortfall, top, np.zeros(present.shape, dtype=bool))


def _pay_scale(scenario: Scenario, role: str) -> tuple[float, float]:
    """(base salary, outside option in money) of a role under the scenario's current plan."""
    cur = scenario.current_plan
    ote = on_target(scenario, role)
    return scenario.base_salary(cur, role), scenario.people.attrition.outside_option * ote


def _leave_months(history: History, panel: Panel) -> np.ndarray:
    """(R,) month (0-11) of the panel's year in which each rep left, -1 for none."""
    f = history.frame
    f = f[(f["role"] == panel.role) & f["leave_date"].notna()]
    when = f.groupby("rep_id")["leave_date"].max()
    ld = np.array([when.get(r, np.nan) for r in panel.rep_ids], dtype=float) - MONTHS * panel.year
    return np.where(np.isfinite(ld) & (ld >= 0) & (ld < MONTHS), np.nan_to_num(ld, nan=-1.0), -1).astype(int)


def fit_attrition(history: History, scenario: Scenario, *, iterations: int = 50) -> AttritionFit:
    """Fit the attrition hazard to a history with a ``leave_date`` column.

    Raises
    ------
    SimlibError
        No leave dates, or no leavers or stayers to tell apart.
    """
    if not history.has_leave_date:
        raise SimlibError(f"{history.source}: no leave dates: the history needs a 'leave_date' column "
                          "(docs/history-format.md) to fit attrition")
    xs, ds = [], []
    for role in history.roles:
        if role not in scenario.roles:
            continue
        base, outside = _pay_scale(scenario, role)
        for p in history.panels(role):
            x = covariates(p, base, outside)
            leave = _leave_months(history, p)
            months = np.arange(MONTHS)
            risk = p.present & ((leave[:, None] < 0) | (months[None, :] <= leave[:, None]))
            xs.append(x[risk])
            ds.append((months[None, :] == leave[:, None])[risk])
    if not xs:
        raise SimlibError(f"{history.source}: no rows of the scenario's roles {sorted(scenario.roles)}")
    x, d = np.concatenate(xs)[:, :4], np.concatenate(ds).astype(float)
    if d.sum() < 5 or (1 - d).sum() < 5:
        raise SimlibError(f"{history.source}: {int(d.sum())} leavers in {len(d)} rep-months: too few to fit attrition")
    start = att.coef_of(scenario.people.attrition)[:4]
    coef, cov = _newton(x, d, start, iterations)
    full = np.append(coef, scenario.people.attrition.cap_effect)
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    return AttritionFit(att.params_from_coef(full), dict(zip(FITTED, map(float, coef), strict=True)),
                        dict(zip(FITTED, map(float, se), strict=True)), len(d), int(d.sum()), cov,
                        ["cap_effect kept at the scenario's value (caps are not visible in a history)"])


def _newton(x: np.ndarray, d: np.ndarray, start: np.ndarray, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Maximum likelihood of ``P(leave) = 1 - exp(-exp(x b))`` by Newton's method with step halving;
    (b, inverse observed information)."""

    def loglik(b):
        lam = np.exp(np.minimum(x @ b, 30.0))
        return float(np.sum(d * np.log(-np.expm1(-np.maximum(lam, 1e-300))) - (1 - d) * lam))

    b, ll = start.astype(float), loglik(start)
    for _ in range(iterations):
        lam = np.exp(np.minimum(x @ b, 30.0))
        em1 = np.expm1(np.maximum(lam, 1e-12))
        g = lam / em1  # d log(1 - e^-lam) / d eta
        grad = x.T @ (d * g - (1 - d) * lam)
        w = d * lam * (em1 - lam * (em1 + 1.0)) / em1**2 - (1 - d) * lam  # second derivative in eta
        hess = (x * w[:, None]).T @ x
        try:
            step = np.linalg.solve(hess, -grad)
        except np.linalg.LinAlgError:
            raise SimlibError("attrition fit: the covariates do not vary enough to fit the hazard") from None
        t = 1.0
        while t > 1e-6 and loglik(b + t * step) < ll - 1e-12:
            t /= 2
        b, ll_new = b + t * step, loglik(b + t * step)
        done = abs(ll_new - ll) < 1e-10 * (1 + abs(ll))
        ll = ll_new
        if done:
            break
    return b, np.linalg.inv(-hess)


def synth_leave_dates(history: History, scenario: Scenario, attrition: Attrition | None = None,
                      rng: int = 0) -> pd.DataFrame:
    """The history's frame with leave dates drawn month by month from the hazard with ``attrition``'s parameters
    (default: the scenario's), on the covariates of :func:`covariates`; a leaver's later rows are dropped.

    Years are taken in order; a rep who left does not come back in a later year.
    """
    a = attrition or scenario.people.attrition
    coef = att.coef_of(a)
    gen = np.random.default_rng(rng)
    frame = history.frame.copy()
    left: dict[str, int] = {}
    for year in history.years:
        for role in history.roles:
            panels = history.panels(role, [year]) if role in scenario.roles else []
            for p in panels:
                base, outside = _pay_scale(scenario, role)
                present = p.present & np.array([r not in left for r in p.rep_ids])[:, None]
                u = gen.random(present.shape)
                for m in range(MONTHS):
                    prob = att.monthly_probability(coef, covariates(p, base, outside, present)[:, m])
                    for i in np.flatnonzero(present[:, m] & (u[:, m] < prob)):
                        left[p.rep_ids[i]] = MONTHS * year + m
                        present[i, m + 1:] = False
    when = frame["rep_id"].map(left)
    frame = frame[when.isna() | (MONTHS * frame["year"] + frame["month"] - 1 <= when)].copy()
    ld = frame["rep_id"].map(left)
    dated = frame["year"].min() >= YEAR_RANGE[0]  # else a one-year file without years: the month alone
    frame["leave_date"] = [("" if not np.isfinite(v) else f"{int(v) // MONTHS:04d}-{int(v) % MONTHS + 1:02d}"
                            if dated else str(int(v) % MONTHS + 1)) for v in ld.to_numpy(dtype=float)]
    if not dated:
        frame = frame.drop(columns="year")  # the reader's placeholder year of a file without years
    nh = frame["new_hire"].to_numpy(dtype=float)
    frame["new_hire"] = np.where(np.isnan(nh), "", np.where(nh > 0.5, "1", "0"))  # as the format writes it
    return frame.reset_index(drop=True)
