"""Calibrate a scenario to rep-level history (``simlib calibrate``).

Population and production parameters are fitted role by role by the method
of moments (closed forms of the model in ``docs/model.md``), the partner ramp
by nonlinear least squares (``scipy.optimize``). Standard errors come from a
nonparametric bootstrap over reps (reps resampled with replacement within
each role, the whole fit repeated). Goodness of fit compares the history with
years simulated from the calibrated scenario: attainment quantiles and QQ
data, a two-sample KS test, seasonality, revenue and payout per rep.

What one year of history identifies (and what is kept from the template
scenario) is listed in ``docs/history-format.md``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from scipy import optimize, special, stats

from simlib.errors import PlanError, SimlibError
from simlib.fit.history import History, Panel, credited_roles, read_history
from simlib.fit.individuals import with_history
from simlib.io import SHIPPED
from simlib.model.production import DEAL_MEASURE, expected_monthly_revenue
from simlib.scenario import (
    MONTHS,
    Scenario,
    load_scenario,
    production_bounds,
    roster_path,
    scenario_from_dict,
)
from simlib.version import __version__

#: quantile probabilities reported for the attainment distribution
PROBS = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95)


def default_template() -> Path:
    """The shipped ``scenarios/default.yaml`` (the template when none is given)."""
    return SHIPPED / "scenarios" / "default.yaml"


# ----------------------------------------------------------------------------
# panel arrays
# ----------------------------------------------------------------------------


@dataclass
class _Data:
    """A role's history as arrays, years stacked as extra reps (rep-years)."""

    m: dict[str, np.ndarray]  # measure -> (N, 12)
    present: np.ndarray  # (N, 12)
    new_hire: np.ndarray | None  # (N,)
    quota: np.ndarray  # (N, 12)
    payout: np.ndarray  # (N, 12)
    year: np.ndarray  # (N,)
    rep: np.ndarray | None = None  # (N,) rep ids: a rep's years are one draw of ability and territory
    start: np.ndarray | None = None  # (N,) months of the ramp behind a rep at the year's start (a roster's tenure)

    def take(self, idx: np.ndarray) -> _Data:
        return _Data({k: v[idx] for k, v in self.m.items()}, self.present[idx],
                     None if self.new_hire is None else self.new_hire[idx], self.quota[idx], self.payout[idx],
                     self.year[idx], None if self.rep is None else self.rep[idx],
                     None if self.start is None else self.start[idx])

    def clusters(self) -> list[np.ndarray]:
        """Row indices of each rep (all their years): the unit a bootstrap resamples."""
        if self.rep is None:
            return [np.array([i]) for i in range(len(self.year))]
        _, inv = np.unique(self.rep, return_inverse=True)
        order = np.argsort(inv, kind="stable")
        return np.split(order, np.flatnonzero(np.diff(inv[order])) + 1)

    @property
    def complete(self) -> np.ndarray:
        ok = self.present.all(axis=1)
        for v in self.m.values():
            ok &= np.isfinite(v).all(axis=1)
        return ok


def _data(panels: list[Panel], tenure: Callable[[str, int], float] | None = None) -> _Data:
    """A role's panels as arrays; ``tenure(rep_id, year)``: months of the ramp behind a rep at the year's start
    (a roster's tenure; 0 where unknown: a new hire joins in January)."""
    keys = set.intersection(*(set(p.measures) for p in panels))
    nh = None if any(p.new_hire is None for p in panels) else np.concatenate([p.new_hire for p in panels])
    m = {k: np.concatenate([p.measures[k] for p in panels]) for k in keys}
    if all(p.cancelled is not None for p in panels):  # revenue of deals that later cancelled, beside the measures
        m["cancelled"] = np.concatenate([p.cancelled for p in panels])
        if all(p.cancelled_after is not None for p in panels):
            m["cancelled_after"] = _delays(m["cancelled"], np.concatenate([p.cancelled_after for p in panels]))
    return _Data(
        m,
        np.concatenate([p.present for p in panels]),
        nh,
        np.concatenate([p.quota for p in panels]),
        np.concatenate([p.payout for p in panels]),
        np.concatenate([np.full(len(p.rep_ids), p.year) for p in panels]),
        np.concatenate([np.asarray(p.rep_ids, dtype=str) for p in panels]),
        None if tenure is None else np.concatenate([[tenure(r, p.year) for r in p.rep_ids] for p in panels]),
    )


def _delays(cancelled: np.ndarray, after: np.ndarray) -> np.ndarray:
    """(N, 12) months after booking that each month's cancelled deals cancelled: the ``cancelled_after``
    cell where the month has cancelled revenue (an empty cell is 1, the next month), 0 where it has none,
    NaN where the rep was absent (as ``cancelled``)."""
    return np.where(np.isnan(cancelled), np.nan, np.where(cancelled > 0, np.nan_to_num(after, nan=1.0), 0.0))


def _ramp(new_hire: np.ndarray | None, n: int, months: float, start: np.ndarray | None = None) -> np.ndarray:
    """(N, 12) productivity ramp: min(1, (t+m+1)/ramp_months) for new hires, ``t`` the months of ramp behind them at
    the year's start (``start``, default 0: hired in January; a roster rep's tenure), 1 otherwise."""
    r = np.ones((n, MONTHS))
    if new_hire is not None:
        t = np.zeros(n) if start is None else start
        r[new_hire] = np.minimum(1.0, (t[new_hire, None] + np.arange(MONTHS)[None, :] + 1.0) / months)
    return r


def _overdispersion(counts: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Mixed Poisson, mean mu w_i x_i with E x = 1: returns (mu, Var x) by moments.

    The squared deviations are about the fitted mean, so their sum has
    expectation (1 - sum w^2 / (sum w)^2) times that about the true one
    (1 - 1/n for equal weights): it is divided by that (the n - 1 divisor of
    a sample variance; without it Var x was biased low by about 1/n, the sd
    by 1/(2n): -0.8% with 60 reps).
    """
    mu = counts.sum() / max(w.sum(), 1e-12)
    e = mu * w
    keep = 1.0 - float(np.sum(w**2)) / max(float(w.sum()) ** 2, 1e-300)
    ss = float(np.sum((counts - e) ** 2)) / keep if keep > 0 else float("nan")
    v = float((ss - np.sum(e)) / max(np.sum(e**2), 1e-12))
    return float(mu), v


#: least count of every rep-year for :func:`_log_spread`: a Poisson count's log then has variance ~1/count
LOG_SPREAD_MIN_COUNT = 100


def _log_spread(counts: np.ndarray, w: np.ndarray) -> float | None:
    """Signed log-sd of a mean-one lognormal ``x`` from counts Poisson(mu w_i x_i), on the log scale, or None.

    ``Var log(count / w) = Var log x + E 1/count`` (the Poisson part by the
    delta method, good where every count is large): the log scale is the
    lognormal's own, so the estimate follows the reps' own spread closely. The
    moment of :func:`_overdispersion` works in levels, where a lognormal's
    sample variance leans on its few largest reps: on 32 telesales histories of
    60 reps (calls about 10,000 a rep-year) its ability_sd was off the reps' own
    sample spread by 0.016 (sd), this one by 0.0013 (docs/model.md 4.13.3).
    None when fewer than 10 counts or any below :data:`LOG_SPREAD_MIN_COUNT`.
    """
    ok = w > 0
    if ok.sum() < 10 or np.min(counts[ok]) < LOG_SPREAD_MIN_COUNT:
        return None
    v = float(np.var(np.log(counts[ok] / w[ok]), ddof=1) - np.mean(1.0 / counts[ok]))
    return _signed_sqrt(v)


def _sd_from_var(v: float) -> float:
    """Log-sd of a mean-one lognormal with variance v (0 when v <= 0)."""
    return float(math.sqrt(math.log1p(max(v, 0.0))))


def _signed_sqrt(x: float) -> float:
    """sign(x) sqrt(|x|): a moment estimate of a variance on the scale of an sd, kept signed.

    A variance found by subtracting moments can come out negative; its signed
    square root is monotone in it, so bootstrap percentiles of the signed value
    map to those of the variance, and :func:`_constrain` clips it to the bound 0
    for the point estimate.
    """
    return math.copysign(math.sqrt(abs(x)), x)


def _signed_sd_from_var(v: float) -> float:
    """Like :func:`_sd_from_var`, signed: ``_signed_sqrt(log1p(v))`` (negative when v < 0)."""
    return _signed_sqrt(math.log1p(max(v, -0.999)))


#: parameters estimated as the square root of a difference of moments: bounded below by 0
AT_ZERO = ("ability_sd", "territory_sd", "quota.noise")


def _constrain(fit: dict[str, Any]) -> dict[str, Any]:
    """The point estimates: signed sd-type estimates (:data:`AT_ZERO`) clipped at their bound 0."""
    return {k: (max(float(v), 0.0) if k in AT_ZERO else v) for k, v in fit.items()}


#: least monthly index, as a share of the mean month: a month with nothing booked (a few lumpy deals)
SEASON_FLOOR = 1e-3


def _season(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Monthly index sum(num)/sum(den) normalised to mean 1, each month at least :data:`SEASON_FLOOR` of the mean.

    A scenario's seasonality must be positive; a month in which no rep booked
    anything (key accounts with a few deals a year, or one of the backtest's
    refits to a synthetic year) would otherwise make the calibrated scenario
    invalid.
    """
    s = np.nansum(num, axis=0) / np.maximum(np.nansum(den, axis=0), 1e-12)
    if not s.sum() > 0:
        return np.ones(MONTHS)
    s = np.maximum(s, SEASON_FLOOR * s.mean())
    return s * MONTHS / s.sum()


def _fit_ramp(activity: np.ndarray, new_hire: np.ndarray | None, present: np.ndarray,
              start: np.ndarray | None = None) -> float | None:
    """Ramp months R minimising squared error of new-hire/tenured activity vs the new hires' mean of
    min(1, (t+m+1)/R) (``t``: ``start``, the months of ramp behind each at the year's start, default 0)."""
    if new_hire is None or new_hire.sum() < 2 or (~new_hire).sum() < 2:
        return None
    a = np.where(present, activity, np.nan)
    ten = np.nanmean(a[~new_hire], axis=0)
    nh = np.nanmean(a[new_hire], axis=0)
    ratio = nh / np.maximum(ten, 1e-12)
    sse = _ramp_sse(ratio, _starts(new_hire, present, start))
    return float(np.argmin(sse) + 1)


def _starts(new_hire: np.ndarray, present: np.ndarray, start: np.ndarray | None) -> np.ndarray | None:
    """(K, 12) the new hires' months of ramp behind them, NaN in months they have no row; None when all are 0."""
    if start is None or not np.any(start[new_hire] > 0):
        return None
    return np.where(present[new_hire], start[new_hire, None], np.nan)


#: ramp months searched by :func:`_fit_ramp` (whole months)
RAMP_GRID = np.arange(1, 25)


def _ramp_sse(ratio: np.ndarray, starts: np.ndarray | None = None) -> np.ndarray:
    """Squared error of the monthly new-hire/tenured activity ratio (12,) against min(1, m/R), for R in :data:`RAMP_GRID`;
    with ``starts`` (K, 12: each new hire's months of ramp behind them at the year's start, NaN where absent) against
    the new hires' mean of min(1, (t+m)/R)."""
    m = np.arange(MONTHS) + 1.0
    if starts is None:
        return np.array([np.nansum((ratio - np.minimum(1.0, m / R)) ** 2) for R in RAMP_GRID])
    return np.array([np.nansum((ratio - np.nanmean(np.minimum(1.0, (starts + m) / R), axis=0)) ** 2) for R in RAMP_GRID])


def _ramp_profile(activity: np.ndarray, new_hire: np.ndarray | None, present: np.ndarray,
                  level: float, start: np.ndarray | None = None) -> tuple[float, float] | None:
    """Profile-likelihood interval of ramp months (whole months), or None when the ramp cannot be fitted.

    The monthly ratios of new-hire to tenured mean activity are taken as
    min(1, m/R) plus independent normal errors of common variance; the
    ramp months R whose squared error exceeds the least by at most
    F(1, n - 1; level) times the residual variance (n months with a ratio)
    form the interval (whole months, so its coverage is at least about ``level``
    where the errors are as assumed).
    """
    if new_hire is None or new_hire.sum() < 2 or (~new_hire).sum() < 2:
        return None
    a = np.where(present, activity, np.nan)
    ratio = np.nanmean(a[new_hire], axis=0) / np.maximum(np.nanmean(a[~new_hire], axis=0), 1e-12)
    n = int(np.isfinite(ratio).sum())
    if n < 3:
        return None
    sse = _ramp_sse(ratio, _starts(new_hire, present, start))
    s2 = sse.min() / (n - 1)
    inside = RAMP_GRID[sse - sse.min() <= s2 * stats.f.ppf(level, 1, n - 1)]
    return float(inside.min()), float(inside.max())


def _partner_ramp(opened: np.ndarray, new_rev: np.ndarray, season: np.ndarray) -> tuple[float, float] | None:
    """Fit partner_mature_revenue M and partner_ramp_months tau (least squares).

    new_rev[i, m] = M season[m] sum_{j<m} opened[i, j] (1 - exp(-(m - j)/tau)).
    """
    if opened.sum() < 3 or not np.isfinite(new_rev).all():
        return None
    m = np.arange(MONTHS)
    lag = m[:, None] - m[None, :]  # (m, j)
    mask = lag > 0

    def design(tau):
        k = np.where(mask, 1.0 - np.exp(-np.maximum(lag, 0) / tau), 0.0)  # (12, 12)
        return (opened @ k.T) * season[None, :]

    def sse(log_tau):
        x = design(math.exp(log_tau))
        xx = float(np.sum(x * x))
        if xx <= 0:
            return float(np.sum(new_rev**2))
        b = float(np.sum(x * new_rev)) / xx
        return float(np.sum((new_rev - b * x) ** 2))

    res = optimize.minimize_scalar(sse, bounds=(math.log(0.05), math.log(60.0)), method="bounded",
                                   options={"xatol": 1e-4})
    tau = math.exp(res.x)
    x = design(tau)
    M = float(np.sum(x * new_rev) / max(np.sum(x * x), 1e-12))
    return M, tau


# ----------------------------------------------------------------------------
# point estimates, one role
# ----------------------------------------------------------------------------


def _territory_from_quotas(d: _Data, c: np.ndarray, rc: np.ndarray, revenue: np.ndarray) -> float | None:
    """Territory log-sd from Cov(log quota, log revenue), both per unit of ramped time.

    With quotas set from a noisy view of territory potential (method
    ``territory`` or ``top_down``), log quota = const + log p + manager's error
    and log revenue = const + log a + log p + production noise, so their
    covariance is Var(log p) = territory_sd^2. Tenured reps only where known
    (:func:`_tenured`): a new hire's ramp, estimated, would enter both logs
    alike and inflate the covariance. Signed (:func:`_signed_sqrt`).
    """
    Q = np.nansum(d.quota[c], axis=1)
    ok = (Q > 0) & (revenue > 0) & _tenured(d, c)
    if ok.sum() < 10:
        return None
    w = rc.sum(axis=1)[ok]
    cov = np.cov(np.log(Q[ok] / w), np.log(revenue[ok] / w))[0, 1]
    return _signed_sqrt(float(cov))


def _activity(d: _Data, process: str) -> tuple[np.ndarray, np.ndarray]:
    """(existing revenue, activity) of a role, each (rep-years, 12): the activity the ramp is fitted to
    (calls, milestones, else revenue of existing business)."""
    act_name = {"telesales": "calls", "key_account": "milestones"}.get(process)
    if process == "channel" and "partner_revenue_new" in d.m:
        existing = np.maximum(d.m["revenue"] - d.m["partner_revenue_new"], 0.0)
    else:
        existing = d.m["revenue"]
    return existing, (d.m[act_name] if act_name in d.m else existing)


def _fit_role(d: _Data, process: str, template_ramp: int, quota_method: str = "flat",
              template_prod: dict | None = None) -> dict[str, float | np.ndarray]:
    """Moment estimates of one role's parameters from its rep-year arrays.

    Keys are scenario paths relative to the role (``ability_sd``,
    ``production.lead_rate``, ``seasonality``...). Parameters the data cannot
    identify are left out. The sd-type estimates of :data:`AT_ZERO` are
    signed (negative where the moments imply a negative variance): the point
    estimates are ``_constrain(_fit_role(...))``. ``quota_method`` is the quota method of the plan in
    force; with ``territory``/``top_down`` quotas carry information on
    territory potential (used for the channel role, whose count of partners
    opened is too small to separate ability from territory).

    When the measures that set a role's revenue level are absent (revenue-only
    history), the level is matched through the process's value parameter
    (telesales ``deal_value``, key-account ``deal_size_mean``) with the other
    production parameters at ``template_prod``.
    """
    out: dict[str, Any] = {}
    existing, activity = _activity(d, process)
    if d.new_hire is not None:
        out["new_hire_share"] = float(np.mean(d.new_hire))
        R = _fit_ramp(activity, d.new_hire, d.present, d.start)
        if R is not None:
            out["ramp_months"] = R
    c = d.complete
    rc = _ramp(d.new_hire, len(d.present), out.get("ramp_months", template_ramp), d.start)[c]
    if process == "telesales":
        _fit_telesales(d, c, rc, out, quota_method, template_prod)
    elif process == "key_account":
        _fit_key_account(d, c, rc, out)
    elif process == "generic":
        _fit_generic(d, c, rc, out, quota_method)
    else:
        _fit_channel(d, c, rc, existing[c], out, quota_method, template_prod)
    _match_revenue_level(d, c, rc, process, out, template_prod)
    if "cancelled" in d.m and process != "channel":
        _fit_cancel_rate(d, c, out, process)
        _fit_cancel_window(d, c, out)
    return out


def _fit_cancel_rate(d: _Data, c: np.ndarray, out: dict[str, Any], process: str) -> None:
    """Add ``production.cancel_rate``: the share of booked deals that cancelled (:func:`cancelled_deals`), else
    revenue of deals that later cancelled over revenue booked (a ratio estimator).

    In the model a month's ``k ~ Binomial(n, rate)`` cancelled deals take
    ``k / n`` of its revenue, so the ratio's expectation is the rate too (deals
    of equal size; with unequal sizes, the revenue-weighted rate), but it weighs
    each cancelled deal by its size: the count share is the binomial
    maximum-likelihood estimate.
    """
    counts = cancelled_deals(d, c, process)
    if counts is not None:
        out["production.cancel_rate"] = float(counts[0] / counts[1])
        return
    rev = _flow(d, c, "revenue").sum()
    if rev > 0:
        out["production.cancel_rate"] = float(min(1.0, _flow(d, c, "cancelled").sum() / rev))


#: a month's cancelled share of revenue times its deals within this of a whole number reads as whole deals
#: (the history's money is written to the cent)
WHOLE_DEALS_TOL = 1e-3


def cancelled_deals(d: _Data, c: np.ndarray, process: str) -> tuple[int, int] | None:
    """Deals cancelled and deals booked over the rep-years ``c``, or None when the history does not hold them.

    A month whose ``n`` deals (the process's deal count, ``DEAL_MEASURE``:
    key-account ``deals``, telesales ``conversions``, generic ``units``) booked
    revenue ``r`` of which ``x`` later cancelled cancelled ``k = n x / r``
    deals, a whole number where deals cancel whole at the month's mean size (as
    in the model, and as ``simlib synth`` writes). None without the count
    column, without booked deals, or when any month's ``k`` is not whole (deals
    of different sizes): the rate is then the revenue ratio.
    """
    name = DEAL_MEASURE.get(process)
    n, rev, x = _flow(d, c, name) if name else None, _flow(d, c, "revenue"), _flow(d, c, "cancelled")
    if n is None or x is None or not n.sum() > 0:
        return None
    booked = rev > 0
    k = np.zeros_like(x)
    k[booked] = n[booked] * x[booked] / rev[booked]
    whole = np.round(k)
    if np.any(x[~booked] > 0) or np.any(np.abs(k - whole) > WHOLE_DEALS_TOL) or np.any(whole > n):
        return None
    return int(whole.sum()), int(round(float(n.sum())))


def _cancel_delays(d: _Data, c: np.ndarray) -> np.ndarray | None:
    """The ``cancelled_after`` of every month of the complete rep-years ``c`` with cancelled revenue (one
    draw of the model's delay each), or None when the history does not date its cancellations."""
    delays = _flow(d, c, "cancelled_after")
    return None if delays is None else delays[delays > 0]


def _fit_cancel_window(d: _Data, c: np.ndarray, out: dict[str, Any]) -> None:
    """Add ``production.cancel_window_months``: the longest ``cancelled_after`` recorded (at most 12).

    In the model a month's cancelled deals cancel ``1 + floor(u W)`` months after booking, uniform on
    1..W, so the longest of the recorded delays is the maximum-likelihood estimate of W (never above
    it; its interval, :func:`window_interval`, reaches up).
    """
    delays = _cancel_delays(d, c)
    if delays is not None and delays.size:
        out["production.cancel_window_months"] = float(min(delays.max(), MONTHS))


def window_interval(longest: float, n: int, level: float) -> tuple[float, float]:
    """Interval of ``cancel_window_months`` W from the ``longest`` of ``n`` delays uniform on 1..W, at ``level``.

    W is at least the longest delay seen. The chance that ``n`` delays all
    stay at or below ``longest`` is ``(longest / W)^n``; the windows W for which
    that chance is at least ``1 - level`` (W up to ``longest (1 - level)^(-1/n)``,
    whole months, at most 12) form the interval, whose coverage is at least
    ``level`` for every W (a bootstrap of a maximum never reaches above it).
    """
    if n < 1:
        return float("nan"), float("nan")
    hi = math.floor(longest * (1.0 - level) ** (-1.0 / n) + 1e-9)
    return float(longest), float(min(max(hi, longest), MONTHS))


def _flow(d: _Data, c: np.ndarray, name: str) -> np.ndarray | None:
    """A measure's array over the complete rep-years ``c`` (rep-years, 12), or None when the history lacks it."""
    return d.m[name][c] if name in d.m else None


def _score(d: _Data, name: str, out: dict[str, Any]) -> None:
    """Add the mean and spread of a score measure (0-1) over the months reps were present to ``out``."""
    if name in d.m:
        a = d.m[name][d.present]
        out[f"production.{name}"], out[f"production.{name}_sd"] = censored_normal(a[np.isfinite(a)])


#: a recorded score within this of 0 or 1 is taken as clipped there (scores are written to 4 decimals)
SCORE_EDGE = 5e-5


def censored_normal(a: np.ndarray) -> tuple[float, float]:
    """Mean and sd of a normal score clipped to [0, 1] (the model's ``clip(mean + sd z, 0, 1)``).

    Without values at 0 or 1 (within :data:`SCORE_EDGE`) these are the sample
    mean and sd. With some, the sample moments of the clipped values are
    biased toward the middle (a satisfaction of mean 0.97 and sd 0.06 gives
    sample sd 0.05): the maximum-likelihood fit of a normal censored at 0 and
    1 (Tobit) is returned instead, its mean kept in [0, 1] (the scenario's
    range of a score).
    """
    if a.size < 2:
        return float(np.mean(a)) if a.size else float("nan"), float("nan")
    lo, hi = a <= SCORE_EDGE, a >= 1.0 - SCORE_EDGE
    m0, s0 = float(np.mean(a)), float(np.std(a, ddof=1))
    if not (lo.any() or hi.any()) or s0 <= 0:
        return m0, s0
    mid = a[~(lo | hi)]
    n_lo, n_hi, n, s1, s2 = int(lo.sum()), int(hi.sum()), mid.size, float(mid.sum()), float(np.sum(mid**2))

    def nll(x: np.ndarray) -> float:  # the uncensored values through their sums: O(1) an evaluation
        mu, sd = float(x[0]), math.exp(float(x[1]))
        ll = -n * math.log(sd) - 0.5 * (s2 - 2.0 * mu * s1 + n * mu * mu) / (sd * sd)
        ll += n_lo * float(special.log_ndtr(-mu / sd)) + n_hi * float(special.log_ndtr((mu - 1.0) / sd))
        return -ll

    # the mean is a score's (a Fraction of the scenario): maximised over [0, 1], so a history mostly at 1 fits 1,
    # not a mean above it that no scenario may hold
    res = optimize.minimize(nll, np.array([min(max(m0, 0.0), 1.0), math.log(s0)]), method="Nelder-Mead",
                            bounds=[(0.0, 1.0), (None, None)],
                            options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 2000})
    return float(min(max(res.x[0], 0.0), 1.0)), float(math.exp(res.x[1]))


def _fit_telesales(d: _Data, c: np.ndarray, rc: np.ndarray, out: dict[str, Any], quota_method: str,
                   template_prod: dict | None) -> None:
    """Add telesales estimates to ``out``: the funnel calls -> leads -> conversions -> revenue, and the spread of reps."""
    calls, leads, conv, rev = _flow(d, c, "calls"), _flow(d, c, "leads"), _flow(d, c, "conversions"), _flow(d, c, "revenue")
    if calls is not None:
        out["seasonality"] = _season(rev, calls)
        mu, v = _overdispersion(calls.sum(axis=1), rc.sum(axis=1))
        out["production.calls_per_month"] = mu
        ten = _tenured(d, c)  # a new hire's estimated ramp would enter the log as spread
        s_log = _log_spread(calls.sum(axis=1)[ten], rc.sum(axis=1)[ten])
        out["ability_sd"] = _signed_sd_from_var(v) if s_log is None else s_log
        if leads is not None:
            C, L = calls.sum(axis=1), leads.sum(axis=1)
            ok = C > 0
            qbar = L.sum() / C.sum()
            # calls of ramping new hires fall in later months: weight months by the lead-rate season
            lead_season = _season(leads, calls)
            out["production.lead_rate"] = float(L.sum() / np.sum(calls * lead_season))
            q = L[ok] / C[ok]
            vp = (np.var(q, ddof=1) - np.mean(qbar * (1 - qbar) / C[ok])) / qbar**2
            out["territory_sd"] = _signed_sd_from_var(vp)
        if "talk_time" in d.m:
            out["production.talk_minutes_per_call"] = float(_flow(d, c, "talk_time").sum() * 60.0 / calls.sum())
    else:
        out["seasonality"] = _season(rev, rc)
    if leads is not None and conv is not None:
        out["production.conversion_rate"] = float(conv.sum() / max(leads.sum(), 1e-12))
    if conv is not None:
        k = conv > 0
        out["production.deal_value"], out["production.deal_value_cv"] = clipped_deal_value(conv[k], rev[k] / conv[k])
    _score(d, "record_accuracy", out)
    if calls is None and quota_method in ("territory", "top_down") and template_prod:
        _telesales_spread_from_revenue(d, c, rc, rev, out, template_prod)


def clipped_cv(n: np.ndarray, dev: np.ndarray) -> float:
    """Telesales ``deal_value_cv`` from months' average deal values, ``dev`` = average / deal_value - 1 over ``n`` deals.

    The model draws a month's average as ``deal_value max(0, 1 + cv z / sqrt(n))``:
    the clip at 0 takes the lower tail off, so ``n dev^2`` has expectation
    ``g(cv, n) = cv^2 (1 - a phi(a) - Phi(-a)) + n Phi(-a)``, ``a = sqrt(n)/cv``,
    below ``cv^2`` (by 4.5% for a month of one deal at cv 0.5; the plain
    moment ``sqrt(mean(n dev^2))`` was low by about 0.3 SE). The cv solves
    ``mean(g(cv, n)) = mean(n dev^2)`` (``g`` increases in ``cv``, and
    ``g <= cv^2``, so the root lies above the plain moment).
    """
    target = float(np.mean(n * dev**2))
    if not target > 0:
        return 0.0
    sq = np.sqrt(n.astype(float))

    def excess(cv: float) -> float:
        a = sq / cv
        tail = special.ndtr(-a)
        return float(np.mean(cv * cv * (1.0 - a * np.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi) - tail) + n * tail)) - target

    lo = math.sqrt(target)
    hi = 2.0 * lo
    while excess(hi) < 0 and hi < 1e3 * lo:
        hi *= 2.0
    if excess(lo) >= 0 or excess(hi) < 0:
        return lo
    return float(optimize.brentq(excess, lo, hi, xtol=1e-10))


def clipped_mean(s: np.ndarray) -> np.ndarray:
    """``E max(0, 1 + s z)`` for a standard normal z: ``Phi(1/s) + s phi(1/s)`` (1 at s = 0, above 1 otherwise)."""
    s = np.asarray(s, dtype=float)
    a = 1.0 / np.where(s > 0, s, 1.0)
    return np.where(s > 0, special.ndtr(a) + s * np.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi), 1.0)


def clipped_deal_value(n: np.ndarray, avg: np.ndarray) -> tuple[float, float]:
    """Telesales ``deal_value`` and ``deal_value_cv`` from months' average deal values ``avg`` over ``n`` (> 0) deals.

    The model's month average is ``deal_value max(0, 1 + cv z / sqrt(n))``,
    whose expectation is ``deal_value`` times :func:`clipped_mean` of
    ``cv / sqrt(n)``: the clip at 0 takes the lower tail off and lifts the
    mean (3.7% for a month of one deal at cv 0.78), so revenue over
    conversions is biased up where months have few deals. The value solves
    ``sum(n avg) = deal_value sum(n clipped_mean(cv / sqrt(n)))`` jointly with
    the clip-aware cv (:func:`clipped_cv`, whose deviations are from the
    value), by fixed-point iteration from the plain ratio (the correction is
    small: a few steps).
    """
    total = float(np.sum(n * avg))
    value = total / max(float(np.sum(n)), 1e-12)
    cv = 0.0
    for _ in range(50):
        if not value > 0:
            break
        cv = clipped_cv(n, avg / value - 1.0)
        new = total / float(np.sum(n * clipped_mean(cv / np.sqrt(n))))
        if abs(new - value) <= 1e-12 * value:
            return new, clipped_cv(n, avg / new - 1.0)
        value = new
    return value, cv


def _telesales_spread_from_revenue(d: _Data, c: np.ndarray, rc: np.ndarray, rev: np.ndarray, out: dict[str, Any],
                                   template_prod: dict) -> None:
    """Revenue-only telesales history: territory from quotas, ability from the rest of Var log(annual revenue)."""
    s_p = _territory_from_quotas(d, c, rc, rev.sum(axis=1))
    if s_p is None:
        return
    prod = template_prod | {k.split(".", 1)[1]: v for k, v in out.items() if k.startswith("production.")}
    n_conv = MONTHS * prod["calls_per_month"] * prod["lead_rate"] * prod["conversion_rate"]
    noise = (1.0 + prod["deal_value_cv"] ** 2) / n_conv
    R = rev.sum(axis=1)
    pos = R > 0
    v_ap = float(np.var(np.log(R[pos] / (rc * out["seasonality"]).sum(axis=1)[pos]), ddof=1)) - noise
    out["territory_sd"] = s_p
    out["ability_sd"] = _signed_sqrt(v_ap - max(s_p, 0.0) ** 2)


def _fit_key_account(d: _Data, c: np.ndarray, rc: np.ndarray, out: dict[str, Any]) -> None:
    """Add key-account estimates to ``out``: milestones (ability), deals (ability, territory), deal sizes, satisfaction."""
    deals, rev = _flow(d, c, "deals"), _flow(d, c, "revenue")
    s_a = None
    if "milestones" in d.m:
        mu, v = _overdispersion(_flow(d, c, "milestones").sum(axis=1), rc.sum(axis=1))
        out["production.milestones_per_month"] = mu
        out["ability_sd"] = _signed_sd_from_var(v)
        s_a = _sd_from_var(v)
    if deals is not None and not deals.sum() > 0:  # no deal recorded: the deal parameters stay the template's
        deals = None
    if deals is not None:
        season = _season(deals, rc)
        out["seasonality"] = season
        ws = (rc * season).sum(axis=1)
        mu, v = _overdispersion(deals.sum(axis=1), ws)
        out["production.deals_per_month"] = mu
        s_ap2 = math.log1p(max(v, -0.999))
        if s_a is not None:
            out["territory_sd"] = _signed_sqrt(s_ap2 - s_a**2)
        out["production.deal_size_mean"] = float(rev.sum() / max(deals.sum(), 1e-12))
        one = (deals == 1) & (rev > 0)
        if one.sum() >= 5:
            out["production.deal_size_sd_log"] = float(np.std(np.log(rev[one])))
        if "new_accounts" in d.m:
            out["production.new_account_share"] = float(_flow(d, c, "new_accounts").sum() / max(deals.sum(), 1e-12))
    else:
        out["seasonality"] = _season(rev, rc)
    _score(d, "satisfaction", out)


def _fit_channel(d: _Data, c: np.ndarray, rc: np.ndarray, ex: np.ndarray, out: dict[str, Any], quota_method: str,
                 template_prod: dict | None) -> None:
    """Add channel estimates to ``out``: revenue of existing partners (``ex``, complete rep-years), partners opened, ramp."""
    season = _season(ex, rc)
    out["seasonality"] = season
    sr = rc * season
    out["production.existing_revenue_per_month"] = float(ex.sum() / sr.sum())
    if "partner_revenue_new" not in d.m and template_prod:
        # revenue includes this year's new partners: take off their expected revenue (template's partner model)
        tau = template_prod["partner_ramp_months"]
        k = np.arange(MONTHS)
        built = np.array([np.sum(1.0 - np.exp(-(j - np.arange(j)) / tau)) for j in k])
        new_rev = template_prod["partners_per_month"] * template_prod["partner_mature_revenue"] * built.mean()
        out["production.existing_revenue_per_month"] = max(out["production.existing_revenue_per_month"] - new_rev,
                                                           0.05 * out["production.existing_revenue_per_month"])
    base = ex.sum(axis=1) / sr.sum(axis=1)
    resid = ex / np.maximum(base[:, None] * sr, 1e-12) - 1.0
    cv2 = float(np.sum(resid**2) / max(resid.size - len(base), 1))
    out["production.revenue_cv"] = math.sqrt(cv2)
    pos = base > 0
    noise = cv2 * np.mean(np.sum(sr**2, axis=1) / np.sum(sr, axis=1) ** 2)
    s_ap2 = float(np.var(np.log(base[pos]), ddof=1)) - noise
    op = _flow(d, c, "partners_opened")
    if op is not None:
        mu, v = _overdispersion(op.sum(axis=1), rc.sum(axis=1))
        out["production.partners_per_month"] = mu
        s_a = _sd_from_var(v)
        out["ability_sd"] = _signed_sd_from_var(v)
        out["territory_sd"] = _signed_sqrt(s_ap2 - s_a**2)
    s_p = _territory_from_quotas(d, c, rc, ex.sum(axis=1)) if quota_method in ("territory", "top_down") else None
    if s_p is not None:
        out["territory_sd"] = s_p
        out["ability_sd"] = _signed_sqrt(s_ap2 - max(s_p, 0.0) ** 2)
    if op is not None and "partner_revenue_new" in d.m:
        fit = _partner_ramp(op, _flow(d, c, "partner_revenue_new"), season)
        if fit is not None:
            out["production.partner_mature_revenue"], out["production.partner_ramp_months"] = fit
    _score(d, "partner_satisfaction", out)
    _score(d, "policy_adherence", out)


def _fit_generic(d: _Data, c: np.ndarray, rc: np.ndarray, out: dict[str, Any], quota_method: str) -> None:
    """Add generic-process estimates to ``out``: revenue per ramped rep-month, its CV, seasonality, units.

    Ability and territory enter revenue only as their product: their total
    log variance is Var log(annual revenue) minus the noise; it is split by
    territory from quotas (``territory``/``top_down``), else left to the template.
    """
    rev = d.m["revenue"][c]
    season = _season(rev, rc)
    out["seasonality"] = season
    sr = rc * season
    out["production.revenue_per_month"] = float(rev.sum() / sr.sum())
    base = rev.sum(axis=1) / np.maximum(sr.sum(axis=1), 1e-12)
    resid = rev / np.maximum(base[:, None] * sr, 1e-12) - 1.0
    cv2 = float(np.sum(resid**2) / max(resid.size - len(base), 1))
    out["production.revenue_cv"] = min(math.sqrt(cv2), 5.0)
    units = _flow(d, c, "units")
    if units is not None and units.sum() > 0:
        out["production.revenue_per_unit"] = float(rev.sum() / units.sum())
    pos = base > 0
    noise = cv2 * np.mean(np.sum(sr**2, axis=1) / np.sum(sr, axis=1) ** 2)
    s_ap2 = float(np.var(np.log(base[pos]), ddof=1)) - noise if pos.sum() > 2 else None
    s_p = _territory_from_quotas(d, c, rc, rev.sum(axis=1)) if quota_method in ("territory", "top_down") else None
    if s_p is not None and s_ap2 is not None:
        out["territory_sd"] = s_p
        out["ability_sd"] = _signed_sqrt(s_ap2 - max(s_p, 0.0) ** 2)


def _match_revenue_level(d: _Data, c: np.ndarray, rc: np.ndarray, process: str, out: dict[str, Any], template_prod: dict | None) -> None:
    """Without the measures that set the revenue level, match it through the process's value parameter."""
    level_param = {"telesales": "deal_value", "key_account": "deal_size_mean"}.get(process)
    if not level_param or f"production.{level_param}" in out or not template_prod:
        return
    per_month = float(d.m["revenue"][c].sum() / np.sum(rc * out["seasonality"]))
    prod = template_prod | {k.split(".", 1)[1]: v for k, v in out.items() if k.startswith("production.")}
    if process == "telesales":
        out["production.deal_value"] = per_month / (prod["calls_per_month"] * prod["lead_rate"] * prod["conversion_rate"])
    else:
        out["production.deal_size_mean"] = per_month / prod["deals_per_month"]


def _fit_quota(d: _Data, role_fit: dict, role, method: str, quota_growth: float) -> dict[str, float]:
    """Quota level and noise of the plan in force (see ``plans.set_quotas``)."""
    c = d.complete & (np.nansum(d.quota, axis=1) > 0)
    if c.sum() < 3:
        return {}
    ramp = _ramp(d.new_hire, len(d.present), role_fit.get("ramp_months", role.ramp_months), d.start)[c].mean(axis=1)
    Q = np.nansum(d.quota[c], axis=1)
    E = float(expected_monthly_revenue(role, 0.0).sum())
    out: dict[str, float] = {}
    if method == "last_year":
        ten = ~d.new_hire[c] if d.new_hire is not None else np.ones(len(Q), dtype=bool)
        out["level"] = float(np.mean(Q[ten]) / (E * (1.0 + quota_growth)))
        return out
    x = Q / ramp
    out["level"] = float(np.mean(x) / E)
    if method in ("territory", "top_down"):
        # tenured reps only where known: a new hire's quota is scaled by a ramp that is itself estimated
        ten = _tenured(d, c)
        s_p = max(role_fit.get("territory_sd", role.territory_sd), 0.0)
        out["noise"] = _signed_sqrt(float(np.var(np.log(x[ten]), ddof=1)) - s_p**2)
    return out


def _tenured(d: _Data, c: np.ndarray) -> np.ndarray:
    """Mask over the rep-years ``c`` of those not new hires (all of them when the history has no
    new_hire column or fewer than 10 tenured rep-years)."""
    if d.new_hire is None or (~d.new_hire[c]).sum() < 10:
        return np.ones(int(c.sum()), dtype=bool)
    return ~d.new_hire[c]


# ----------------------------------------------------------------------------
# the calibration
# ----------------------------------------------------------------------------


@dataclass
class Estimate:
    """One fitted parameter.

    Attributes
    ----------
    path : dotted scenario path (``roles.telesales.ability_sd``).
    value : fitted value (written to the scenario).
    se : standard error (NaN when not available): the bootstrap's over reps, binomial for ``cancel_rate``, the
        jackknife's for market changes.
    template : the template scenario's value.
    n : rep-years used.
    lo, hi : interval at ``level`` (NaN when not available), in the parameter's unit. Bootstrap
        percentiles of the (signed) estimate, shifted to start from the constrained point estimate
        and clipped at the bound, each side at least t times the replicates' sd (:func:`_interval`);
        for ``ramp_months`` the union with the profile-likelihood interval (:func:`_ramp_profile`);
        for ``cancel_window_months`` exact (:func:`window_interval`); for market changes value +- t se,
        the jackknife SE with Student's t at Satterthwaite's degrees of freedom (:func:`market_changes`).
    level : nominal coverage of (lo, hi).
    at_bound : ``"lower"`` when the estimate sits at its lower bound (0 for an sd, 1 month for
        ``ramp_months``), ``"upper"`` at the upper (24 months; 12 for ``cancel_window_months``), else ``""``.
    interval : how (lo, hi) was found: ``"bootstrap"``, ``"bootstrap+profile"``, ``"exact"``, ``"normal"``, ``"jackknife-t"`` or ``""``.
    """

    path: str
    value: float
    se: float
    template: float
    n: int
    lo: float = float("nan")
    hi: float = float("nan")
    level: float = float("nan")
    at_bound: str = ""
    interval: str = ""


@dataclass
class Calibration:
    """Result of :func:`calibrate`.

    Attributes
    ----------
    scenario : the calibrated scenario (validated).
    estimates : every fitted parameter with its standard error.
    kept : parameters kept from the template, with the reason.
    notes : data notes (skipped rows, incomplete years, absent columns).
    diagnostics : goodness of fit (see :func:`diagnose`), filled by :func:`calibrate` when ``trials`` > 0.
    zero_quota_rep_months : rep-months of reps with quota 0 all year (:attr:`History.zero_quota`), left out
        of the quota fit and the attainment checks; ``zero_quota_reps`` the rep-years they make up.
    small_levels : roles too small to fit whose level was fitted from their reps' year (:func:`small_role_level`),
        each with its posterior; the backtest draws it per replicate.
    """

    scenario: Scenario
    estimates: list[Estimate]
    kept: dict[str, str]
    notes: list[str]
    plan: str
    history_source: str
    bootstrap: int
    diagnostics: dict[str, Any] = field(default_factory=dict)
    replicates: dict[str, list[tuple[dict, dict]]] = field(default_factory=dict, repr=False)
    zero_quota_rep_months: int = 0
    zero_quota_reps: int = 0
    small_levels: dict[str, SmallRoleLevel] = field(default_factory=dict)

    def replicate_scenario(self, b: int) -> Scenario:
        """The calibrated scenario refitted to bootstrap replicate ``b`` of the history (reps resampled
        within role and year); roles are resampled independently, each cycling through its replicates.

        Market parameters stay at the calibrated values. Raises :class:`SimlibError` when the
        calibration was run without bootstrap replicates.
        """
        fits = {r: reps[b % len(reps)] for r, reps in self.replicates.items() if reps}
        if not fits:
            raise SimlibError(f"{self.history_source}: no bootstrap replicates; calibrate with bootstrap > 0")
        data = self.scenario.model_dump(by_alias=True, mode="json")
        for rname, (point, _q) in fits.items():
            _write_role(data["roles"][rname], point)
        _write_quotas(data, self.scenario, self.plan, {r: q for r, (_p, q) in fits.items()})
        return scenario_from_dict(data, f"<bootstrap replicate {b} of {self.scenario.source}>")

    def table(self):
        """Estimates as a DataFrame (path, value, se, template, n, lo, hi, level, at_bound, interval,
        z = (value - template)/se)."""
        import pandas as pd

        f = pd.DataFrame([e.__dict__ for e in self.estimates])
        f["z_vs_template"] = (f["value"] - f["template"]) / f["se"].where(f["se"] > 0)
        return f

    def estimate(self, path: str) -> Estimate:
        for e in self.estimates:
            if e.path == path:
                return e
        raise KeyError(f"no estimate '{path}'; fitted: {[e.path for e in self.estimates]}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "history": self.history_source,
            "plan_in_force": self.plan,
            "bootstrap": self.bootstrap,
            "estimates": [e.__dict__ for e in self.estimates],
            "kept_from_template": self.kept,
            "notes": self.notes,
            "zero_quota_rep_months": self.zero_quota_rep_months,
            "zero_quota_reps": self.zero_quota_reps,
            "diagnostics": self.diagnostics,
            "simlib_version": __version__,
        }


def _flatten(role_fit: dict) -> dict[str, float]:
    out = {}
    for k, v in role_fit.items():
        if isinstance(v, np.ndarray):
            for i, x in enumerate(v):
                out[f"{k}.{i + 1}"] = float(x)
        else:
            out[k] = float(v)
    return out


def _template_value(role, key: str) -> float:
    if key.startswith("seasonality."):
        return float(role.season[int(key.split(".")[1]) - 1])
    if key.startswith("production."):  # an optional parameter the template leaves unset (cancel_rate): NaN
        value = role.production.get(key.split(".", 1)[1])
        return float("nan") if value is None else float(value)
    return float(getattr(role, key))


def expansion(n: int, level: float) -> float:
    """Factor widening a bootstrap percentile interval from ``n`` independent units (reps) at ``level``.

    The percentile bootstrap of a mean undercovers in small samples: its
    spread is the plug-in sd (divisor n, not n - 1) and its quantiles are
    normal where Student's t applies. The expanded percentile interval
    (Hesterberg 2015, "What teachers should know about the bootstrap")
    scales the replicates' deviations by ``sqrt(n / (n - 1)) t_{n-1} / z``:
    1.12 with 14 reps, 1.02 with 120, 1 in the limit.
    """
    if n < 3:
        return float("nan")
    q = 0.5 + level / 2.0
    return float(math.sqrt(n / (n - 1.0)) * stats.t.ppf(q, n - 1) / stats.norm.ppf(q))


def _interval(raw: float, reps: list[float], level: float, bounded: bool, n: int | None = None,
              floor: bool = True) -> tuple[float, float]:
    """Bootstrap percentile interval of an estimate, at ``level``.

    ``raw`` is the unconstrained (signed) estimate and ``reps`` its bootstrap
    replicates. The interval is the point estimate plus the ``(1-level)/2`` and
    ``(1+level)/2`` quantiles of the replicates' deviations from ``raw``: the
    plain percentile interval when nothing is bounded; for a parameter bounded
    below by 0 it starts from the constrained estimate ``max(raw, 0)`` and is
    clipped at 0, so that an estimate at the bound still gets the upper limit
    its sampling spread allows (never a bare 0 +- 0). With ``n`` (the
    independent units resampled) the deviations are widened by
    :func:`expansion` (``n`` < 3: no interval).

    The quantiles of a few dozen replicates are noisy and pulled in: a
    percentile interval from 50 replicates of exactly the estimate's sampling
    distribution covers 87% at nominal 90% (the audit's intervals 86-88%).
    Each deviation is therefore at least Student's t (replicates - 1 degrees of
    freedom) times the replicates' sd (:func:`replicate_floor`), the interval
    whose coverage allows for the sd read off that many replicates (unless
    ``floor`` is false: :func:`spread_interval` takes instead the hull with
    the chi-square interval, its own interval from the replicates' sd).
    """
    if len(reps) < 2:
        return float("nan"), float("nan")
    a = (1.0 - level) / 2.0
    dev = np.asarray(reps, dtype=float) - raw
    half = replicate_floor(dev, level) if floor else 0.0
    dlo, dhi = np.quantile(dev, [a, 1.0 - a])
    dlo, dhi = np.array([min(dlo, -half), max(dhi, half)]) * (1.0 if n is None else expansion(n, level))
    v = max(raw, 0.0) if bounded else raw
    lo, hi = v + float(dlo), v + float(dhi)
    return (max(lo, 0.0), max(hi, 0.0)) if bounded else (lo, hi)


def replicate_floor(dev: np.ndarray, level: float) -> float:
    """Half-width of the normal interval at ``level`` from bootstrap deviations ``dev``: Student's t with
    ``len(dev) - 1`` degrees of freedom times their sd (90%, 50 replicates: 1.68 sd)."""
    return float(stats.t.ppf(0.5 + level / 2.0, dev.size - 1) * np.std(dev, ddof=1))


#: plain sds and CVs (of observations, not a difference of moments): intervals from their variance's sampling distribution
SPREADS = ("production.deal_size_sd_log", "production.deal_value_cv", "production.revenue_cv")


def _is_spread(key: str) -> bool:
    """An sd-type estimate: :data:`AT_ZERO`, :data:`SPREADS` or a score's sd (``production.*_sd``)."""
    return key in AT_ZERO or key in SPREADS or (key.startswith("production.") and key.endswith("_sd"))


def sd_interval(raw: float, reps: list[float], level: float, df: float | None = None,
                inflate: float = 1.0) -> tuple[float, float]:
    """Interval of an sd-type estimate from the sampling distribution of its variance (scaled chi-square).

    A sample variance is ``T chi2_df / df`` about its expectation ``T``: its
    spread grows with ``T``, so a sample that happens to be tight (the estimate
    low) has bootstrap replicates that are tight too and a percentile interval
    that stops short of the truth (sd-type parameters from 10-20 reps
    covered 76-78% at nominal 90%). Here the variance ``V`` (``raw`` squared,
    signed for :data:`AT_ZERO`; ``reps`` likewise) gets the interval
    ``V + T (df/chi2_df(1-a) - 1, df/chi2_df(a) - 1)`` with ``T`` =
    ``max(V, se sqrt(df/2))``, ``se`` the bootstrap sd of the replicates'
    variances times ``inflate``: the exact chi-square limits of a plain
    variance (``T = V``), with ``df = 2 V^2 / se^2`` (Satterthwaite's, the
    default) unless given; for a difference of moments (``V`` small or
    negative, ``df`` = reps - 1) ``T`` is read off the bootstrap spread, as
    in the modified large-sample interval of a variance component (Graybill
    and Wang 1980). The sd limits are the square roots, clipped at 0, so an
    estimate at the bound 0 gets the upper limit the spread allows.
    """
    r = np.asarray(reps, dtype=float)
    if r.size < 2:
        return float("nan"), float("nan")
    V = math.copysign(raw * raw, raw)
    se = inflate * float(np.std(np.sign(r) * r * r, ddof=1))
    if not np.isfinite(se):
        return float("nan"), float("nan")
    if se <= 0:
        v = math.sqrt(max(V, 0.0))
        return v, v
    if df is None:
        df = 2.0 * V * V / (se * se) if V > 0 else float("nan")
    if not np.isfinite(df) or df < 1.0:
        df = 1.0
    a = (1.0 - level) / 2.0
    T = max(V, se * math.sqrt(df / 2.0))
    lo = V - T * (1.0 - df / float(stats.chi2.ppf(1.0 - a, df)))
    hi = V + T * (df / float(stats.chi2.ppf(a, df)) - 1.0)
    return math.sqrt(max(lo, 0.0)), math.sqrt(max(hi, 0.0))


def spread_interval(raw: float, reps: list[float], level: float, bounded: bool, n: int) -> tuple[float, float]:
    """Interval of an sd-type estimate from ``n`` reps: the hull of the (expanded) bootstrap percentile
    interval (:func:`_interval`) and the chi-square interval of its variance (:func:`sd_interval`).

    Each alone undercovers where the other's assumption holds: the percentile
    interval when the estimate's spread grows with the sd itself (a plain
    sample sd from 14 reps: 76-79% at nominal 90%), the chi-square one when the
    variance is a difference dominated by the noise subtracted (84-87%);
    their hull covered 85-96% in both. A difference of moments
    (``bounded``, :data:`AT_ZERO`) takes ``n - 1`` degrees of freedom; a
    plain spread Satterthwaite's, from its bootstrap spread.
    """
    lo, hi = _interval(raw, reps, level, bounded, n, floor=False)
    if not np.isfinite(lo) or n < 3:
        return lo, hi
    clo, chi = sd_interval(raw, reps, level, n - 1.0 if bounded else None, math.sqrt(n / (n - 1.0)))
    return min(lo, clo), max(hi, chi)


def share_interval(k: int, n: int, level: float) -> tuple[float, float]:
    """Clopper-Pearson interval of a binomial share ``k`` of ``n`` at ``level`` (coverage at least ``level``).

    A bootstrap of a share that is 0 in the sample (no new hires among a few
    reps) is 0 in every replicate: ``[0, 0]``; the exact interval is ``[0,
    1 - ((1 - level)/2)^(1/n)]``.
    """
    a = (1.0 - level) / 2.0
    lo = float(stats.beta.ppf(a, k, n - k + 1)) if k > 0 else 0.0
    hi = float(stats.beta.ppf(1.0 - a, k + 1, n - k)) if k < n else 1.0
    return lo, hi


def _bootstrap_fits(d: _Data, role, qmethod, bootstrap: int, gen: np.random.Generator,
                    keys) -> tuple[dict[str, list[float]], list[tuple[dict, dict]]]:
    """Refit ``bootstrap`` replicates of a role's history, reps resampled with replacement (each with all its
    years: a rep's years share their ability and territory). Returns each key's replicate values and the
    constrained (point, quota) of each replicate that could be fitted."""
    reps: dict[str, list[float]] = {k: [] for k in keys}
    boot: list[tuple[dict, dict]] = []
    clusters = d.clusters()
    for _ in range(bootstrap):
        idx = np.concatenate([clusters[i] for i in gen.integers(0, len(clusters), len(clusters))])
        db = d.take(idx)
        try:
            pb = _fit_role(db, role.process, role.ramp_months, qmethod.method, dict(role.production))
            qb = _fit_quota(db, _constrain(pb), _role_with(role, _constrain(pb)), qmethod.method, qmethod.growth)
        except (ValueError, FloatingPointError, ZeroDivisionError):
            continue
        fb = _flatten(pb) | {f"quota.{k}": v for k, v in qb.items()}
        for k in reps:
            if k in fb and np.isfinite(fb[k]):
                reps[k].append(fb[k])
        boot.append((_constrain(pb), {k: (max(v, 0.0) if k == "noise" else v) for k, v in qb.items()}))
    return reps, boot


def _bounds(process: str) -> dict[str, tuple[float, float]]:
    """The range a scenario allows each fitted parameter of a role of ``process``, by path relative to the role:
    the production parameters' declared bounds (shares and scores [0, 1], rates and months above 0) and
    ``ramp_months`` 1 to 24 months."""
    out = {f"production.{k}": b for k, b in production_bounds(process).items()}
    return out | {"ramp_months": (float(RAMP_GRID[0]), float(RAMP_GRID[-1]))}


def _fit_role_boot(d: _Data, role, qmethod, bootstrap: int, gen: np.random.Generator,
                   level: float, market=None) -> tuple[dict, dict, list[Estimate], list[tuple[dict, dict]]]:
    """Fit one role (:func:`_fit_role`, :func:`_fit_quota`), bootstrap it over reps, and
    give each parameter its standard error and interval at ``level`` (the seasonality's widened by the
    ``market``'s monthly shocks, :func:`_with_market_shocks`).

    Returns
    -------
    point, qfit : the constrained point estimates of the role and of its quota
    estimates : one :class:`Estimate` per parameter, paths relative to the role (quota ones ``quota.*``)
    replicates : the constrained (point, qfit) of every bootstrap replicate that could be fitted
    """
    raw = _fit_role(d, role.process, role.ramp_months, qmethod.method, dict(role.production))
    point = _constrain(raw)
    qraw = _fit_quota(d, point, _role_with(role, point), qmethod.method, qmethod.growth)
    qfit = {k: (max(v, 0.0) if k == "noise" else v) for k, v in qraw.items()}
    flat = _flatten(raw) | {f"quota.{k}": v for k, v in qraw.items()}
    reps, boot = _bootstrap_fits(d, role, qmethod, bootstrap, gen, flat)
    n_used = int(d.complete.sum())
    n_reps = len(d.clusters())
    inflate = math.sqrt(n_reps / (n_reps - 1.0)) if n_reps > 1 else float("nan")
    profile = (_ramp_profile(_activity(d, role.process)[1], d.new_hire, d.present, level, d.start)
               if "ramp_months" in raw else None)
    out = []
    bounds = _bounds(role.process)
    for k, v in flat.items():
        bounded = k in AT_ZERO
        se = (inflate * float(np.std(np.maximum(reps[k], 0.0) if bounded else reps[k], ddof=1))
              if len(reps[k]) > 1 else float("nan"))
        tv = float(getattr(qmethod, k.split(".")[1])) if k.startswith("quota.") else _template_value(role, k)
        if _is_spread(k):
            lo, hi = spread_interval(v, reps[k], level, bounded, n_reps)
            how = "bootstrap+chi-square" if np.isfinite(lo) else ""
        else:
            lo, hi = _interval(v, reps[k], level, bounded, n_reps)
            how = "bootstrap" if np.isfinite(lo) else ""
        at = "lower" if bounded and v <= 0.0 else ""
        if k == "ramp_months":
            at = "lower" if v <= RAMP_GRID[0] else "upper" if v >= RAMP_GRID[-1] else ""
            if profile is not None:
                lo, hi = np.nanmin([lo, profile[0]]), np.nanmax([hi, profile[1]])
                how = "bootstrap+profile" if how else "profile"
        elif k == "new_hire_share" and d.new_hire is not None:
            lo, hi = share_interval(int(d.new_hire.sum()), len(d.new_hire), level)
            how = "binomial"
        elif k == "production.cancel_rate" and (counts := cancelled_deals(d, d.complete, role.process)) is not None:
            # whole deals: a rep-month's k of n deals cancel independently (binomial), whose share has the
            # exact interval and the binomial SE (a bootstrap of a few rare events is noisy)
            lo, hi = share_interval(*counts, level)
            se, how = math.sqrt(v * (1.0 - v) / counts[1]), "binomial"
        elif k == "production.cancel_window_months":
            lo, hi = window_interval(v, int(_cancel_delays(d, d.complete).size), level)
            how, at = "exact", "upper" if v >= MONTHS else ""
        if k in bounds:  # a value the scenario holds in a range (a share in [0, 1], months above 0): so do the ends
            b_lo, b_hi = bounds[k]
            lo, hi = min(max(lo, b_lo), b_hi), min(max(hi, b_lo), b_hi)
            at = at or ("upper" if v >= b_hi else "lower" if v <= b_lo else "")
        value = max(v, 0.0) if bounded else v
        out.append(Estimate(k, value, se, tv, n_used, float(lo), float(hi), level if how else float("nan"), at, how))
    if role.process == "key_account":
        _with_deal_counts(out, d, point, dict(role.production), role.ramp_months, level)
    if market is not None:
        _with_market_shocks(out, market, len(np.unique(d.year[d.complete])), level)
    if "talk_time" in d.m and "calls" in d.m:
        _with_talk_time_rounding(out, d, level)
    if "noise" in qraw and "territory_sd" in point:
        _noise_given_territory(out, math.copysign(qraw["noise"] ** 2, qraw["noise"]) + point["territory_sd"] ** 2)
    _never_exact(out, level)
    return point, qfit, out, boot


def _with_deal_counts(est: list[Estimate], d: _Data, point: dict, template_prod: dict, template_ramp: int,
                      level: float) -> None:
    """Give a key-account month that booked no deal an honest seasonality interval, from its count.

    The monthly index is the month's deals over its ramped rep-months, over
    the mean month's (:func:`_season`). A bootstrap over reps cannot see the
    noise of a month with no deal: every replicate reads the same empty
    month (14 reps with none in June read [0.00096, 0.001] for a truth of
    1.04). Given the reps, a month's count is Poisson (their rates cancel
    from the index), so such a month's index is at its lower bound and its
    interval reaches up to the exact limit of a count of 0
    (-log((1 - level) / 2): 3.0 deals at 90%) over the mean month's rate.
    Months with deals keep the bootstrap interval (hulling every month with
    its count interval covered 94.9% at nominal 90%). A history without
    deal counts counts revenue in mean deal sizes.
    """
    c = d.complete
    if "deals" in d.m and np.nansum(d.m["deals"][c]) > 0:
        n = np.nansum(d.m["deals"][c], axis=0)
    else:
        size = point.get("production.deal_size_mean", template_prod.get("deal_size_mean", 0.0))
        if "revenue" not in d.m or not size > 0:
            return
        n = np.nansum(d.m["revenue"][c], axis=0) / size
    expo = _ramp(d.new_hire, len(d.present), point.get("ramp_months", template_ramp), d.start)[c].sum(axis=0)
    if not (n.sum() > 0 and np.all(expo > 0)):
        return
    mean_rate = float(np.mean(n / expo))
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    hi = -math.log((1.0 - level) / 2.0) / expo / mean_rate  # exact upper limit of a Poisson mean after a count of 0
    for e in est:
        if not e.path.startswith("seasonality.") or not np.isfinite(e.lo):
            continue
        m = int(e.path.split(".")[1]) - 1
        if n[m] > 0:
            continue
        e.lo, e.hi, e.at_bound, e.interval = 0.0, float(hi[m]), "lower", "count"
        e.se = max(e.se, e.hi / (2.0 * z)) if np.isfinite(e.se) else e.hi / (2.0 * z)


def _noise_given_territory(est: list[Estimate], total: float) -> None:
    """Widen the ``quota.noise`` interval to the noise that the ``territory_sd`` interval leaves.

    With quotas set from territory (``territory``/``top_down``) the variance of
    log quota per ramped month, ``total``, is territory_sd^2 + noise^2: the
    data fix the sum, and the noise is found by taking off the fitted
    territory. Where the territory is weakly identified (key accounts from
    few lumpy deals: 0.11 read for a truth of 0.44) the noise took up the
    rest (0.38 for a truth of 0.14) with a bootstrap interval that did not
    reach the truth (key-account quota noise covered 60-70%). The interval
    becomes the hull of its own and ``sqrt(total - territory^2)`` over the
    territory's interval.
    """
    by = {e.path: e for e in est}
    t, q = by.get("territory_sd"), by.get("quota.noise")
    if t is None or q is None or not (np.isfinite(t.lo) and np.isfinite(q.lo)):
        return
    q.lo = min(q.lo, math.sqrt(max(total - t.hi**2, 0.0)))
    q.hi = max(q.hi, math.sqrt(max(total - t.lo**2, 0.0)))
    q.interval += "+territory"


def _never_exact(est: list[Estimate], level: float) -> None:
    """Keep a whole-month or bounded estimate from reading as exact (SE 0, a zero-width interval).

    ``ramp_months`` is fitted on a grid of whole months (:data:`RAMP_GRID`):
    where every bootstrap replicate and the profile land on the same month
    (telesales, whose many calls a month pin the ramp), the interval read
    ``[3, 3]`` and the SE 0, though the grid cannot tell the half month
    either side. Its interval is therefore at least the estimate +- 0.5
    (within the grid; ``interval`` gains ``+month``). Any estimate whose
    replicates all agree (an sd at its bound 0 with every replicate
    negative, a share of 0) but whose interval has width gets the standard
    error that interval implies, (hi - lo) / (2 z), instead of 0.
    """
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    for e in est:
        if e.path == "ramp_months" and np.isfinite(e.lo):
            lo, hi = max(e.value - 0.5, float(RAMP_GRID[0])), min(e.value + 0.5, float(RAMP_GRID[-1]))
            if lo < e.lo or hi > e.hi:
                e.lo, e.hi, e.interval = min(e.lo, lo), max(e.hi, hi), e.interval + "+month"
        if e.se == 0.0 and e.hi > e.lo:
            e.se = (e.hi - e.lo) / (2.0 * z)


def month_shock_var(monthly_sd: float, rho: float) -> np.ndarray:
    """(12,) variance of each month's log market shock about the year's mean log shock.

    The market's monthly log shocks are a stationary AR(1) with sd
    ``monthly_sd`` and autocorrelation ``rho`` (``docs/model.md``, Market);
    a fitted seasonality index (normalised to mean 1) holds x_m - mean(x) of
    each history year.
    """
    k = np.arange(MONTHS)
    cov = monthly_sd**2 * rho ** np.abs(k[:, None] - k[None, :])
    return np.diag(cov) - 2.0 * cov.mean(axis=1) + cov.mean()


def _with_market_shocks(est: list[Estimate], market, years: int, level: float) -> None:
    """Widen the seasonality estimates' SE and interval by the history's monthly market shocks.

    A bootstrap over reps cannot see a shock every rep shared: the fitted
    index of month m is the seasonality times exp(x_m - mean x) averaged over
    the history's ``years``, so its sd about the seasonality is about
    s_m sqrt(:func:`month_shock_var` / years), with the template's
    ``monthly_sd`` and ``monthly_rho`` (kept: one year cannot separate them
    from the seasonality). The SE is combined in quadrature, and so is each
    side of the interval with z times that sd.
    """
    var = month_shock_var(market.monthly_sd, market.monthly_rho) / max(years, 1)
    if not np.any(var > 0):
        return
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    for e in est:
        if not e.path.startswith("seasonality."):
            continue
        sd = e.value * math.sqrt(var[int(e.path.split(".")[1]) - 1])
        e.se = math.sqrt(e.se**2 + sd**2) if np.isfinite(e.se) else sd
        if np.isfinite(e.lo):
            e.lo = max(e.value - math.hypot(e.value - e.lo, z * sd), 0.0)
            e.hi = e.value + math.hypot(e.hi - e.value, z * sd)
            e.interval += "+market"


def recorded_resolution(values: np.ndarray, finest: int = 9) -> float:
    """The coarsest power of ten (1, 0.1, ... down to ``10**-finest``) of which every value is a whole multiple,
    or 0 when the values are not rounded to a decimal (then nothing is known of their rounding)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0
    for k in range(finest + 1):
        u = v * 10.0**k
        if np.all(np.abs(u - np.rint(u)) <= np.maximum(1e-6, 1e-12 * np.abs(u))):
            return 10.0**-k
    return 0.0


def _with_talk_time_rounding(est: list[Estimate], d: _Data, level: float) -> None:
    """Give ``talk_minutes_per_call`` the error the recorded talk time's rounding can make.

    Talk time is calls times minutes per call exactly, so the pooled ratio's
    only error is the rounding of the recorded hours: each of ``n`` rep-months
    with calls is off by at most half the file's resolution ``r``
    (:func:`recorded_resolution`; 0.01 h from ``simlib synth``). The errors
    are not independent draws (talk time sits on the lattice of whole calls
    times the minutes per call, so they can share a sign: a history of 2,880
    rep-months had a mean error of -3 of its SEs), so the interval reaches at
    least the bound ``(r / 2) n 60 / calls`` on each side (coverage at least
    ``level``: always, for the rounding) and the SE is at least the sd of
    uniform errors, ``r sqrt(n / 12) 60 / calls``. The bootstrap over reps
    sees neither reliably (its SE 0.7-1.1 times that sd).
    """
    c = d.complete
    talk, calls = d.m["talk_time"][c], d.m["calls"][c]
    r, total = recorded_resolution(talk), float(np.nansum(calls))
    if r <= 0.0 or total <= 0.0:
        return
    n = np.count_nonzero(calls > 0)
    sd, bound = r * math.sqrt(n / 12.0) * 60.0 / total, 0.5 * r * n * 60.0 / total
    for e in est:
        if e.path == "production.talk_minutes_per_call":
            e.se = max(e.se, sd) if np.isfinite(e.se) else sd
            if np.isfinite(e.lo):
                e.lo, e.hi = min(e.lo, e.value - bound), max(e.hi, e.value + bound)
                e.interval += "+rounding"


def _write_role(rd: dict[str, Any], point: dict[str, Any]) -> None:
    """Write a role's point estimates into the role's scenario dict ``rd`` (ramp months rounded to 1-24)."""
    for k, v in point.items():
        if k == "seasonality":
            rd["seasonality"] = [round(float(x), 6) for x in v]
        elif k == "production.cancel_window_months":  # whole months, 1-12
            rd["production"]["cancel_window_months"] = int(min(MONTHS, max(1, round(v))))
        elif k.startswith("production."):
            rd["production"][k.split(".", 1)[1]] = float(v)
        elif k == "ramp_months":
            rd["ramp_months"] = int(min(24, max(1, round(v))))
        else:
            rd[k] = float(v)


def _write_quotas(data: dict[str, Any], base: Scenario, plan: str, fitted_quota: dict[str, dict[str, float]]) -> None:
    """Quotas: the plan in force gets the fitted level and noise; every plan's level is rescaled alike
    (relative to ``base``'s level in ``plan``; ``data`` is ``base`` as a dict)."""
    for _pname, pd_ in data["plans"].items():
        for rname, qfit in fitted_quota.items():
            base_q = base.role_plan(plan, rname).quota
            q = pd_["roles"][rname]["quota"]
            if "level" in qfit:
                q["level"] = float(min(5.0, qfit["level"] * q["level"] / base_q.level))
            if "noise" in qfit and q["method"] == base_q.method:
                q["noise"] = float(qfit["noise"])


def _own_files(data: dict, template: Scenario) -> dict:
    """``data`` with the template's roster and history named by resolved path (the calibrated scenario has no folder)."""
    for key in ("roster", "history"):
        if data.get(key):
            data[key] = str(roster_path(data[key], template.source).resolve())
    return data


def _not_fitted(rname: str, role: Any, history: History) -> str | None:
    """Why a template role is kept as it is (not in the history, or credited on another role), or None."""
    if rname not in history.roles:
        return "role not in the history: all parameters kept from the template"
    if role.credited_on is not None:  # paid on the covered role's results: nothing of its own to fit
        return (f"credited on {role.credited_on.role} ({role.credited_on.kind}): no production of its own to fit; "
                "all parameters kept from the template")
    return None


def _roster_tenure(template: Scenario, rname: str) -> Callable[[str, int], float] | None:
    """``tenure(rep_id, year)``: months in the role at the start of the history's ``year`` of a rep of the
    template's roster (its tenure at ``year_start``, less the months from that year's January to it; at least 0;
    a history without calendar years, months 1-12, is the roster's year), 0 for a rep not in it; None without a
    roster. The roster's new hires start the year part-way up their ramp, as the simulation and ``simlib synth``
    ramp them (docs/model.md, "Your own reps")."""
    roster = template.roster_data
    if roster is None or rname not in roster.roles or template.year_start is None:
        return None
    rr = roster.roles[rname]
    at = dict(zip(rr.ids, np.asarray(rr.tenure, dtype=float), strict=True))
    ys = template.year_start

    def tenure(rep: str, year: int) -> float:
        t = at.get(str(rep))
        if t is None:
            return 0.0
        return max(0.0, t - ((ys.year - int(year)) * 12 + ys.month - 1)) if int(year) >= 1000 else float(t)

    return tenure


#: fewest rep-years with a full year a role's history is fitted on
MIN_FULL_REP_YEARS = 5


def _too_little(d: _Data) -> str | None:
    """Why a role's history cannot be fitted (too few full years; no revenue, of which every level is a rate), or None."""
    n = int(d.complete.sum())
    if n < MIN_FULL_REP_YEARS:
        return f"only {n} rep-year(s) with a full year: too few to fit"
    if not np.nansum(d.m["revenue"][d.complete]) > 0:
        return f"no revenue in its {n} rep-year(s) with a full year: nothing to fit (expected some sales)"
    return None


#: money per sale of each process: the parameters a small role's fitted level scales (:func:`small_role_level`)
LEVEL_PARAMS = {
    "telesales": ("deal_value",),
    "key_account": ("deal_size_mean",),
    "channel": ("existing_revenue_per_month", "partner_mature_revenue"),
    "generic": ("revenue_per_month", "revenue_per_unit"),
}


@dataclass
class SmallRoleLevel:
    """A role too small to fit, its level from year one: the posterior of the mean over its reps of each rep's
    ability times territory (``a p``, relative to the template's average rep), as a lognormal of log-mean ``mu``
    and log-sd ``sd``; ``mean`` = exp(mu + sd^2/2), the factor written on the template's money per sale."""

    mean: float
    mu: float
    sd: float
    reps: int  # reps with months of their own (the others are at the prior)
    months: int
    quota: float  # mean annual quota of the role's full rep-years not a new hire's (NaN: none)
    quota_n: int  # those rep-years
    observed: float  # the reps' revenue over the template's expected revenue in the same months, unshrunk
    prior_sd: float  # tau, the template's log-sd of a rep's a p

    def reason(self, why: str) -> str:
        """What calibrate kept of the role, and what it fitted (``why``: the reason it is too small to fit)."""
        return (f"{why}; its level fitted from {self.months} rep-month(s) of {self.reps} rep(s) "
                f"({self.observed:.2f} times the template's expected revenue, shrunk towards the template's "
                f"average rep by its spread of ability and territory, log-sd {self.prior_sd:.2f}, to "
                f"{self.mean:.2f}, log-sd {self.sd:.2f}) on its money per sale, its quota level from its reps' "
                "quotas; every other parameter kept from the template")

    def draws(self, groups: int, seed: int, key: int = 0) -> np.ndarray:
        """``groups`` stratified draws of the level (normal scores of ``(k + 1/2) / groups``, scaled to sd 1, in
        an order drawn from ``seed`` and ``key``, e.g. the role's index), mean about ``mean``; one group:
        ``mean``."""
        if groups < 2 or self.sd <= 0:
            return np.full(max(groups, 1), self.mean)
        z = special.ndtri((np.arange(groups) + 0.5) / groups)
        z = np.random.default_rng(np.random.SeedSequence([seed, 7, key])).permutation(z / z.std())
        return np.exp(self.mu + self.sd * z)


def small_role_level(d: _Data, role: Any) -> SmallRoleLevel | None:
    """The level of a role too small to fit (docs/model.md 4.13, "Roles of one to three reps"), or None (no
    rep with :data:`simlib.fit.individuals.MIN_MONTHS` months of revenue outside a new hire's year).

    Each rep's level R_i is their revenue over the template's expected revenue of a ramped average rep in the
    same months (season included; year one's market level stays in it, as in the fitted roles' levels), over
    the months present of years they were not a new hire; ``c^2`` the pooled squared CV of a month's ratio
    around the rep's own level (one rep: its 11 degrees of freedom). Each rep's ``x_i = log(a_i p_i)`` has the
    template's spread as prior, ``N(-tau^2/2, tau^2)``, ``tau^2 = ability_sd^2 + territory_sd^2`` (empirical
    Bayes, as a roster rep's own level, :func:`simlib.fit.individuals.shrink`), and the observation
    ``log R_i + c^2/(2 n_i)`` of variance ``log(1 + c^2/n_i)``: the posterior ``N(m_i, v_i)`` is shrunk
    towards the template the more, the fewer the months and the noisier they are; a rep without such months
    (a new hire's year) is at the prior. The role's level, the mean of ``exp(x_i)`` over its reps, is taken
    lognormal with the posterior's mean and variance.
    """
    from simlib.fit.individuals import MIN_MONTHS, shrink  # noqa: PLC0415 - beside the fit's other helpers

    ref = expected_monthly_revenue(role, 0.0)
    rev = d.m["revenue"]
    ok = d.present & np.isfinite(rev) & (ref > 0)[None, :]
    if d.new_hire is not None:
        ok &= ~np.asarray(d.new_hire, dtype=bool)[:, None]
    ids = d.rep if d.rep is not None else np.arange(len(d.year)).astype(str)
    levels, months, ss = [], [], []
    reps = list(dict.fromkeys(ids.tolist()))
    for r in reps:
        rows = ids == r
        mask = ok[rows]
        n = int(mask.sum())
        if n < MIN_MONTHS:  # a new hire's year, or too few months: this rep is the template's, below
            continue
        x = rev[rows][mask]
        e = np.broadcast_to(ref, mask.shape)[mask]
        level = float(x.sum() / e.sum())
        levels.append(level)
        months.append(n)
        ss.append(float(np.sum((x / e / level - 1.0) ** 2)) if level > 0 else 0.0)
    if not levels or not sum(levels) > 0:
        return None
    lv, n = np.array(levels), np.array(months, dtype=float)
    c2 = float(np.sum(ss) / np.sum(n - 1.0))
    tau2 = float(role.ability_sd**2 + role.territory_sd**2)
    m, v = shrink(lv, n, c2, tau2)
    k = len(reps)  # reps without months of their own: the prior, N(-tau^2/2, tau^2)
    m = np.concatenate([m, np.full(k - len(lv), -tau2 / 2.0)])
    v = np.concatenate([v, np.full(k - len(lv), tau2)])
    mean = float(np.mean(np.exp(m + v / 2.0)))
    var = float(np.sum(np.exp(2.0 * m + v) * np.expm1(v))) / k**2
    sd2 = math.log1p(var / mean**2)
    full = d.present.all(axis=1) & (np.nansum(d.quota, axis=1) > 0)
    if d.new_hire is not None:
        full &= ~np.asarray(d.new_hire, dtype=bool)
    q = float(np.nansum(d.quota[full], axis=1).mean()) if full.any() else float("nan")
    return SmallRoleLevel(mean, math.log(mean) - sd2 / 2.0, math.sqrt(sd2), len(lv), int(n.sum()), q, int(full.sum()),
                          float(np.sum(lv * n) / n.sum()), math.sqrt(tau2))


def _small_role(data: dict[str, Any], d: _Data, rname: str, role: Any, why: str, level: float,
                estimates: list[Estimate], levels: dict[str, SmallRoleLevel]) -> str:
    """A role too small to fit (``why``): its level fitted where its reps sold (:func:`small_role_level`), written
    into the scenario dict ``data``, its estimates and posterior added to ``estimates`` and ``levels``; returns
    what calibrate kept of it and why."""
    small = None if "no revenue" in why else small_role_level(d, role)
    if small is None:
        return why
    levels[rname] = small
    estimates += _write_small_role(data["roles"][rname], rname, role.process, small, level)
    return small.reason(why)


def _small_quotas(levels: dict[str, SmallRoleLevel], template: Scenario, plan: str, level: float,
                  estimates: list[Estimate]) -> dict[str, dict[str, float]]:
    """The quota level of the plan in force of each small role whose quota scales with expected revenue: its
    reps' mean annual quota over the fitted expected revenue (the template's times the level), as for a fitted
    role, so that the role's quotas in money are those its reps had; its estimate (no SE: a few reps' quotas,
    not resampled) is added to ``estimates``. Roles without a full year of quotas keep the template's level."""
    out = {}
    for r, lv in levels.items():
        q = template.role_plan(plan, r).quota
        if not (math.isfinite(lv.quota) and (q.method in ("flat", "territory")
                                             or (q.method == "top_down" and not q.company_target))):
            continue
        value = lv.quota / (lv.mean * float(expected_monthly_revenue(template.roles[r], 0.0).sum()))
        out[r] = {"level": value}
        estimates.append(Estimate(f"plans.{plan}.roles.{r}.quota.level", value, float("nan"), float(q.level),
                                  lv.quota_n, level=level, interval=""))
    return out


def _write_small_role(rd: dict[str, Any], rname: str, process: str, small: SmallRoleLevel,
                      level: float) -> list[Estimate]:
    """Write a small role's fitted level into its scenario dict ``rd``; the estimates of the money per sale it
    scales, each with the posterior's sd and its lognormal interval at ``level``."""
    prod = dict(rd["production"])
    scale_role_level(rd, process, small.mean)
    z = float(stats.norm.ppf(0.5 + level / 2))
    out = []
    for k in LEVEL_PARAMS[process]:
        t = float(prod[k])
        out.append(Estimate(f"roles.{rname}.production.{k}", t * small.mean,
                            t * small.mean * math.sqrt(math.expm1(small.sd**2)), t, small.reps,
                            t * math.exp(small.mu - z * small.sd), t * math.exp(small.mu + z * small.sd),
                            level, "", "empirical Bayes"))
    return out


def scale_role_level(rd: dict[str, Any], process: str, factor: float) -> None:
    """Multiply a role's money per sale (:data:`LEVEL_PARAMS`) in its scenario dict ``rd`` by ``factor``."""
    for k in LEVEL_PARAMS[process]:
        rd["production"][k] = float(rd["production"][k]) * float(factor)


#: most bootstrap replicates of a calibration or backtest without ``allow_large`` (each refits every role)
MAX_BOOTSTRAP = 10_000


def check_fit_request(template: Scenario, trials: int, bootstrap: int, n_plans: int = 1, *, draws: int = 0,
                      allow_large: bool = False) -> None:
    """Refuse a calibration or backtest past the limits before any work starts: at most :data:`MAX_BOOTSTRAP`
    replicates, and ``trials`` simulated years within :func:`simlib.engine.core.check_request`'s limits.

    Raises
    ------
    RequestTooLarge
        Naming the option, what was asked for, the limit and the way past it (``--allow-large``).
    """
    from simlib.engine.core import RequestTooLarge, check_request  # noqa: PLC0415 - the engine loads when a fit runs

    if allow_large:
        return
    if bootstrap > MAX_BOOTSTRAP:
        raise RequestTooLarge(f"--bootstrap {bootstrap:,}: at most {MAX_BOOTSTRAP:,} replicates (each refits every "
                              "role; pass --allow-large if you mean it)")
    check_request(template, trials, n_plans, draws=draws)


def _checked_plan(template: Scenario, plan: str | None, trials: int, bootstrap: int, allow_large: bool) -> str:
    """The plan in force (default: the template's current plan), after checking it and the request's size
    (:func:`check_fit_request`)."""
    check_fit_request(template, trials, bootstrap, allow_large=allow_large)
    plan = plan or template.current_plan
    if plan not in template.plans:
        raise PlanError(f"--plan: '{plan}' is not a plan of {template.source}, expected one of {sorted(template.plans)}")
    return plan


def calibrate(
    history: History,
    template: Scenario,
    *,
    plan: str | None = None,
    growth: float = 0.0,
    bootstrap: int = 50,
    rng: int = 0,
    trials: int = 20,
    level: float = 0.90,
    allow_large: bool = False,
) -> Calibration:
    """Fit a scenario's population and production parameters to history.

    Parameters
    ----------
    history : History
        Validated history (:func:`simlib.fit.history.read_history`); every year is used.
    template : Scenario
        Scenario supplying the roles, pay levels and plans; its parameters are
        replaced by the fitted ones where the history identifies them.
    plan : str, optional
        Plan that was in force in the history (default: the template's current plan);
        its quota level and noise are fitted, and every plan's quota level is
        rescaled by the same factor.
    growth : float
        Expected demand growth of the simulated year over the history, fraction
        (``market.growth_mean``; 0 = demand as in the history).
    bootstrap : int
        Bootstrap replicates for standard errors (0: none).
    rng : int
        Seed of the bootstrap and of the goodness-of-fit simulation.
    trials : int
        Simulated years for the goodness-of-fit diagnostics (0: none).
    level : float
        Nominal coverage of each estimate's interval (``Estimate.lo``, ``Estimate.hi``).
    allow_large : bool
        Skip the size limits (:func:`check_fit_request`).

    Returns
    -------
    Calibration

    Raises
    ------
    RequestTooLarge
        ``bootstrap`` or ``trials`` past the limits, before any work starts.
    """
    plan = _checked_plan(template, plan, trials, bootstrap, allow_large)
    notes = [f"skipped {len(history.skipped)} bad row(s)"] if history.skipped else []
    notes += history.notes
    kept: dict[str, str] = {}
    data = template.model_dump(by_alias=True, mode="json")
    estimates: list[Estimate] = []
    gen = np.random.default_rng(rng)
    fitted_quota: dict[str, dict[str, float]] = {}
    replicates: dict[str, list[tuple[dict, dict]]] = {}
    levels: dict[str, SmallRoleLevel] = {}
    last_year = history.years[-1]
    for rname, role in template.roles.items():
        why = _not_fitted(rname, role, history)
        if why:
            kept[f"roles.{rname}"] = why
            continue
        panels = history.panels(rname)
        d = _data(panels, _roster_tenure(template, rname))
        n_inc = int((~d.complete).sum())
        if n_inc:
            notes.append(f"{rname}: {n_inc} rep-year(s) without a full year of rows or with missing measures; "
                         "left out of annual moments")
        if why := _too_little(d):
            kept[f"roles.{rname}"] = _small_role(data, d, rname, role, why, level, estimates, levels)
            continue
        qmethod = template.role_plan(plan, rname).quota
        point, qfit, role_est, boot = _fit_role_boot(d, role, qmethod, bootstrap, gen, level, template.market)
        for e in role_est:
            e.path = f"plans.{plan}.roles.{rname}.{e.path}" if e.path.startswith("quota.") else f"roles.{rname}.{e.path}"
        estimates += role_est
        replicates[rname] = boot
        fitted_quota[rname] = qfit
        rd = data["roles"][rname]
        _write_role(rd, point)
        year_reps = {y: len(p.rep_ids) for y, p in zip([p.year for p in panels], panels, strict=False)}
        rd["headcount"] = int(year_reps.get(last_year, max(year_reps.values())))
        if history.has_team:
            sizes = [np.unique(p.team.astype(str), return_counts=True)[1] for p in panels if p.team is not None]
            rd["team_size"] = int(max(1, round(float(np.median(np.concatenate(sizes))))))
        else:
            kept[f"roles.{rname}.team_size"] = "no team column"
        for name in ("ability_sd", "territory_sd", "new_hire_share", "ramp_months", "seasonality"):
            if name not in point:
                kept[f"roles.{rname}.{name}"] = _why(name, role.process, history)
        for pk in role.production:
            if f"production.{pk}" not in point:
                kept[f"roles.{rname}.production.{pk}"] = _why(pk, role.process, history)
    if not fitted_quota:
        raise SimlibError(f"{history.source}: no role could be fitted: "
                          + "; ".join(f"{k}: {v}" for k, v in kept.items() if k.count(".") == 1))
    _write_quotas(data, template, plan, fitted_quota | _small_quotas(levels, template, plan, level, estimates))
    data["market"]["growth_mean"] = float(growth)
    changes = market_changes(history)
    for (y0, y1), (v, se, n, df) in changes.items():
        t = float(stats.t.ppf(0.5 + level / 2, df))
        estimates.append(Estimate(f"market.change.{y0}-{y1}", v, se, float("nan"), n, v - t * se, v + t * se, level,
                                  "", "jackknife-t"))
    if len(changes) >= 2:
        # log levels of n years: log(1+g) + s z_y - s^2/2, so their variance is growth_sd^2
        logs = np.concatenate([[0.0], np.cumsum([math.log1p(v) for v, *_ in changes.values()])])
        gsd = float(np.std(logs, ddof=1))
        data["market"]["growth_sd"] = gsd
        gse = gsd / math.sqrt(2 * (len(logs) - 1))
        z = float(stats.norm.ppf(0.5 + level / 2))
        estimates.append(Estimate("market.growth_sd", gsd, gse, template.market.growth_sd, len(logs),
                                  max(gsd - z * gse, 0.0), gsd + z * gse, level, "", "normal"))
    else:
        kept["market.growth_sd"] = "needs three or more years of history (one market draw per year); kept from the template"
    kept["market.monthly_sd"] = "monthly market shocks are absorbed in the fitted seasonality; kept from the template"
    kept["market.monthly_rho"] = "kept from the template"
    data["name"] = f"{template.name}-calibrated"
    data["description"] = (f"{template.name} calibrated to {Path(history.source).name} "
                           f"(years {history.years}, plan in force '{plan}') by simlib {__version__}.")
    scen = with_history(scenario_from_dict(_own_files(data, template), f"<calibrated from {history.source}>"))
    zero = history.zero_quota
    cal = Calibration(scen, estimates, kept, notes, plan, history.source, bootstrap, replicates=replicates,
                      zero_quota_rep_months=int(zero["months"].sum()), zero_quota_reps=len(zero),
                      small_levels=levels)
    if trials > 0:
        cal.diagnostics = diagnose(cal, history, trials=trials, rng=rng)
    return cal


def market_changes(history: History) -> dict[tuple[int, int], tuple[float, float, int, float]]:
    """Realised change of the market from one history year to the next.

    For each pair of consecutive years and each role: total revenue of the
    reps present for the full year in both (and not new hires in either) in
    the later year over the earlier, minus 1, with the delete-one-rep
    jackknife standard error of that ratio (:func:`ratio_jackknife`); roles
    are combined with inverse-variance weights (with Meier's term for the
    weights' noise, :func:`combine_roles`), and the combination's
    degrees of freedom are Satterthwaite's from each role's reps - 1. The
    same reps in both years hold ability and territory fixed, so the ratio
    measures demand (and, with behaviour, any effect of a plan change).

    A bootstrap of 50 replicates gave each role an SE that was itself about
    10% noisy (and from the plug-in divisor n), which the inverse-variance
    weights then favoured where it happened to be small; with a normal
    quantile on few reps the intervals covered 86-88% at nominal 90%
    (docs/model.md 4.13.1).

    Returns
    -------
    dict (year, next year) -> (change as a fraction, standard error, reps used, degrees of freedom)
    """
    years = history.years
    out: dict[tuple[int, int], tuple[float, float, int, float]] = {}
    f = history.frame
    for y0, y1 in zip(years[:-1], years[1:], strict=False):
        est = []
        for role in history.roles:
            per_year = []
            for y in (y0, y1):
                g = f[(f["year"] == y) & (f["role"] == role)]
                full = g.groupby("rep_id")["month"].nunique() == MONTHS
                if history.has_new_hire:
                    full &= ~(g.groupby("rep_id")["new_hire"].max() > 0.5)
                per_year.append(g[g["rep_id"].isin(full[full].index)].groupby("rep_id")["revenue"].sum())
            common = per_year[0].index.intersection(per_year[1].index)
            if len(common) < 10:
                continue
            a, b = per_year[0].loc[common].to_numpy(), per_year[1].loc[common].to_numpy()
            if a.sum() <= 0:
                continue
            ratio, se = ratio_jackknife(a, b)
            if se > 0:
                est.append((ratio - 1.0, se, len(common)))
        if est:
            out[(int(y0), int(y1))] = combine_roles(est)
    return out


def combine_roles(est: list[tuple[float, float, int]]) -> tuple[float, float, int, float]:
    """Roles' (change, SE, reps) combined by inverse variance: (change, SE, reps, Satterthwaite's degrees of freedom).

    With weights known, the combination's variance would be 1 / sum w, w =
    1 / SE^2, a sum of the roles' shares f = w / sum w squared times SE^2, each
    with reps - 1 = df_k degrees of freedom (Satterthwaite's df 1 / sum f^2 /
    df_k). The weights are estimated from the same few reps, and their noise
    adds to the variance: Meier's (1953) first-order term, 1 / sum w times
    1 + 4 sum f (1 - f) / df_k (two roles of like precision on 10 and 12 reps:
    t intervals covered 86-87% at nominal 90% under normal theory without it,
    90% with it; docs/model.md 4.13.1). One role: SE^2 as it is.
    """
    w = np.array([1.0 / se**2 for _, se, _ in est])
    dfs = np.array([n - 1.0 for _, _, n in est])
    f = w / w.sum()
    v = float(np.sum(w * np.array([e[0] for e in est])) / w.sum())
    df = float(1.0 / np.sum(f**2 / dfs))
    var = float((1.0 + 4.0 * np.sum(f * (1.0 - f) / dfs)) / w.sum())
    return v, math.sqrt(var), int(sum(e[2] for e in est)), df


def ratio_jackknife(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """sum(b) / sum(a) and its delete-one jackknife standard error, over the units (reps) of ``a`` and ``b``.

    sqrt((n - 1) / n sum (R_(i) - mean R_(.))^2), R_(i) the ratio without
    unit i: no resampling noise, and the n - 1 a bootstrap's plug-in spread
    lacks. Where leaving one unit out leaves nothing in the denominator, the
    linearised (delta-method) SE sqrt(sum (b - R a)^2 / (n (n - 1))) / mean(a).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n, sa, sb = len(a), float(a.sum()), float(b.sum())
    ratio = sb / sa
    rest = sa - a
    if np.all(rest > 0):
        loo = (sb - b) / rest
        return ratio, float(math.sqrt((n - 1.0) / n * np.sum((loo - loo.mean()) ** 2)))
    e = b - ratio * a
    return ratio, float(math.sqrt(np.sum(e**2) / (n * (n - 1.0))) / a.mean())


def _role_with(role, point: dict):
    """The template role with fitted production parameters (for expected revenue)."""
    upd = {k.split(".", 1)[1]: float(v) for k, v in point.items() if k.startswith("production.")}
    prod = dict(role.production) | upd
    season = point.get("seasonality", role.seasonality)
    return role.model_copy(update={"production": prod, "seasonality": [float(x) for x in season]})


def _why(name: str, process: str, history: History) -> str:
    if name in ("new_hire_share", "ramp_months") and not history.has_new_hire:
        return "no new_hire column in the history"
    if name == "ramp_months":
        return "too few new hires (or tenured reps) in the history to fit the ramp"
    if name == "cancel_window_months":
        return ("needs a cancelled_after column (months after booking the cancelled deals cancelled) "
                "and some cancelled revenue")
    if name in ("large_order_threshold", "pipeline_lag_months", "activity_share", "quality_elasticity"):
        return "a definition or behavioural parameter, not identifiable from history at today's effort"
    return "the measures it needs are absent or too few"


# ----------------------------------------------------------------------------
# goodness of fit
# ----------------------------------------------------------------------------


def diagnose(cal: Calibration, history: History, *, trials: int = 20, rng: int = 0) -> dict[str, Any]:
    """Compare the history with ``trials`` years simulated from the calibrated scenario.

    For each role: attainment quantiles (history vs simulated mean and
    trial-to-trial sd, flagged ``within`` when the difference is below 3
    combined sd), QQ data at percentiles 1..99, a two-sample KS test against
    the pooled simulated attainments, monthly revenue share (seasonality),
    mean annual revenue and payout per rep.
    """
    from simlib.fit.synth import simulate_outcomes

    scen = cal.scenario
    sims = simulate_outcomes(scen, cal.plan, rng=rng, trials=trials)
    out: dict[str, Any] = {"trials": trials, "plan": cal.plan, "roles": {}}
    for rname in scen.roles:
        if rname not in history.roles:
            continue
        panels = history.panels(rname)
        att = np.concatenate([p.attainment for p in panels])
        att = att[np.isfinite(att)]
        sim = sims[rname]
        sat = sim.attainment  # (T, R)
        rdiag: dict[str, Any] = {"n_history": int(att.size)}
        if att.size >= 5:
            per_trial = np.quantile(sat, PROBS, axis=1)  # (P, T)
            mean, sd = per_trial.mean(axis=1), per_trial.std(axis=1, ddof=1)
            act = np.quantile(att, PROBS)
            # sd of a history quantile: trial-to-trial spread rescaled to the history's sample size
            tol = 3.0 * np.sqrt(sd**2 * sat.shape[1] / att.size + sd**2 / trials)
            rdiag["attainment_quantiles"] = [
                {"p": p, "history": float(a), "simulated": float(m_), "sd": float(s), "within": bool(abs(a - m_) <= t)}
                for p, a, m_, s, t in zip(PROBS, act, mean, sd, tol, strict=False)]
            pp = np.arange(1, 100) / 100
            rdiag["qq"] = {"p": pp.tolist(), "history": np.quantile(att, pp).tolist(),
                           "simulated": np.quantile(sat.ravel(), pp).tolist()}
            ks = stats.ks_2samp(att, sat.ravel())
            rdiag["ks"] = {"statistic": float(ks.statistic), "pvalue": float(ks.pvalue)}
            rdiag["mean_attainment"] = {"history": float(att.mean()), "simulated": float(sat.mean()),
                                        "sd": float(sat.mean(axis=1).std(ddof=1))}
        rev = np.sum([np.nansum(p.measures["revenue"], axis=0) for p in panels], axis=0)  # all years, as the fit
        rdiag["seasonality"] = {"history": (rev / rev.sum()).tolist(),
                                "simulated": (sim.measures["revenue"].sum(axis=(0, 1)) / sim.measures["revenue"].sum()).tolist()}
        full = np.concatenate([p.complete for p in panels])
        arev = np.concatenate([np.nansum(p.measures["revenue"], axis=1) for p in panels])[full]
        srev = sim.measures["revenue"].sum(axis=-1)
        rdiag["revenue_per_rep"] = {"history": float(arev.mean()), "simulated": float(srev.mean()),
                                    "sd": float(srev.mean(axis=1).std(ddof=1))}
        if history.has_payout:
            pay = np.concatenate([np.nansum(p.payout, axis=1) for p in panels])[full]
            rdiag["payout_per_rep"] = {"history": float(pay.mean()), "simulated": float(sim.incentive.mean()),
                                       "sd": float(sim.incentive.mean(axis=1).std(ddof=1))}
        out["roles"][rname] = rdiag
    return out


# ----------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------


def scenario_yaml(cal: Calibration, history_sha256: str = "") -> str:
    """The calibrated scenario as YAML text, with a provenance header."""
    data = cal.scenario.model_dump(by_alias=True, mode="json")
    head = [
        f"# Calibrated by simlib {__version__} on {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}",
        f"# history: {cal.history_source}" + (f" (sha256 {history_sha256[:16]})" if history_sha256 else ""),
        f"# plan in force in the history: {cal.plan}; bootstrap replicates: {cal.bootstrap}",
        "# Standard errors and diagnostics: see the --report JSON of `simlib calibrate`.",
    ]
    return "\n".join(head) + "\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)


def write_scenario(cal: Calibration, out: str | Path, *, force: bool = False, history_sha256: str = "") -> Path:
    """Write the calibrated scenario atomically; refuse to overwrite unless ``force``.

    The text is validated with :func:`simlib.load_scenario` before it replaces anything.
    """
    from simlib.io import write_atomic

    p = Path(out)
    if p.exists() and not force:
        raise SimlibError(f"{p} exists; use --force to overwrite it")
    text = scenario_yaml(cal, history_sha256)
    scenario_from_dict(yaml.safe_load(text), str(p))  # never write a file that does not load
    write_atomic(p, text)
    return p


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_for(template_path: str | Path | None, history_path: str | Path, on_error: Literal["stop", "skip"],
             role_map: list[str] | dict[str, str] | None = None):
    """Load the template scenario and the history validated against its roles.

    ``role_map``: ``{"file role": "scenario role"}`` or a list of ``"FILE_ROLE=SCENARIO_ROLE"`` strings.
    """
    tpath = Path(template_path) if template_path else default_template()
    template = load_scenario(tpath)
    mapping: dict[str, str] = {}
    if isinstance(role_map, dict):
        mapping = dict(role_map)
    else:
        for item in role_map or []:
            old, sep, new = item.partition("=")
            if not sep or not old.strip() or new.strip() not in template.roles:
                raise SimlibError(f"--role-map: expected FILE_ROLE=SCENARIO_ROLE with a scenario role of "
                                  f"{sorted(template.roles)}, got {item!r}")
            mapping[old.strip()] = new.strip()
    hist = read_history(history_path, {r: x.process for r, x in template.roles.items()}, on_error=on_error,
                        role_map=mapping, rolled_up=credited_roles(template))
    return template, hist


# ----------------------------------------------------------------------------
# tidy views of the diagnostics (for notebooks and reports)
# ----------------------------------------------------------------------------


def quantile_table(cal: Calibration):
    """Attainment quantiles, history vs simulated: role, p, history, simulated, sd, within."""
    import pandas as pd

    rows = [{"role": r, **q} for r, d in cal.diagnostics.get("roles", {}).items() for q in d.get("attainment_quantiles", [])]
    return pd.DataFrame(rows, columns=["role", "p", "history", "simulated", "sd", "within"])


def fit_table(cal: Calibration):
    """Per role: history size, KS test, and mean attainment, revenue and payout per rep, history vs simulated."""
    import pandas as pd

    rows = []
    for r, d in cal.diagnostics.get("roles", {}).items():
        row = {"role": r, "n_history": d["n_history"]}
        if "ks" in d:
            row |= {"ks_statistic": d["ks"]["statistic"], "ks_pvalue": d["ks"]["pvalue"]}
        for key in ("mean_attainment", "revenue_per_rep", "payout_per_rep"):
            if key in d:
                row |= {f"{key}_history": d[key]["history"], f"{key}_simulated": d[key]["simulated"],
                        f"{key}_sd": d[key]["sd"]}
        rows.append(row)
    return pd.DataFrame(rows)


def fit_figure(cal: Calibration):
    """QQ plot of annual attainment (history vs simulated) and monthly revenue share, one column per role."""
    import matplotlib.pyplot as plt

    import simlib.present as present

    roles = [r for r, d in cal.diagnostics.get("roles", {}).items() if "qq" in d]
    fig, axes = plt.subplots(2, max(len(roles), 1), figsize=(4.2 * max(len(roles), 1), 7.5), squeeze=False)
    for j, r in enumerate(roles):
        d = cal.diagnostics["roles"][r]
        ax = axes[0, j]
        h, s = np.array(d["qq"]["history"]), np.array(d["qq"]["simulated"])
        ax.plot(s, h, ".", ms=4)
        lo, hi = min(h.min(), s.min()), max(h.max(), s.max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set(title=f"{present.readable(r)}: attainment quantiles\n(Kolmogorov-Smirnov p = {d['ks']['pvalue']:.2g})",
               xlabel="simulated quantile (% of quota)",
               ylabel="history quantile (% of quota)")
        present.format_axis(ax, unit_="percent", axis="x")  # attainment in percent, as the report's text writes it
        present.format_axis(ax, unit_="percent")
        ax = axes[1, j]
        m = np.arange(1, MONTHS + 1)
        ax.plot(m, d["seasonality"]["history"], "o-", label="history")
        ax.plot(m, d["seasonality"]["simulated"], "s--", label="calibrated model")
        ax.set(title=f"{present.readable(r)}: share of annual revenue by month", xlabel="month",
               ylabel="share of the year")
        present.format_axis(ax, unit_="percent")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
