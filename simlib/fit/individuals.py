"""Reps as individuals: each roster rep's productivity from their own history, shrunk toward the role.

A scenario that names ``roster: FILE`` and ``history: FILE`` is simulated
with each rep's productivity ``x_i = log(a_i p_i)`` (ability times territory)
drawn, per trial, from its empirical-Bayes posterior given the rep's months
of history (docs/model.md, "Reps as individuals"):

- the rep's level ``R_i`` = their revenue over the role's average revenue in
  the same months (market and season cancel), over the months they were not
  ramping; ``n_i`` months;
- the month-to-month noise ``c^2``: the pooled squared coefficient of
  variation of a rep's monthly revenue ratio around their own level;
- observation ``y_i = log R_i + c^2 / (2 n_i)`` with variance
  ``s_i^2 = log(1 + c^2 / n_i) + log(1 + (exp(tau^2) - 1) / N)``, the second
  term the uncertainty of the role's average level itself (N reps);
- prior from the role: ``x ~ N(-tau^2/2, tau^2)``, ``tau^2 = ability_sd^2 + territory_sd^2``;
- posterior precision ``1/v_i = 1/tau^2 + 1/s_i^2``, mean ``m_i = v_i (-tau^2/2 / tau^2 + y_i / s_i^2)``:
  the more months, the smaller ``s_i^2`` and the less the estimate is shrunk.

Reps without history (new hires, or ids the history does not have) draw
from the role's distribution as a synthetic rep does.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from simlib.errors import SimlibError
from simlib.fit.history import History, credited_roles, read_history
from simlib.roster import TrackRecord
from simlib.scenario import Scenario, roster_path
from simlib.scenario import load_scenario as load_plain

#: fewest months of a rep's own history used (fewer: the rep draws from the role)
MIN_MONTHS = 3


def rep_levels(history: History, role: str) -> pd.DataFrame:
    """Each rep's revenue relative to the role's average in the same months.

    Channel revenue counts existing partners only when the history has
    ``partner_revenue_new`` (new partners' revenue grows with ability alone).

    Returns
    -------
    DataFrame indexed by rep_id with columns ``level`` (R_i, ratio of sums),
    ``months`` (n_i) and ``ss`` (sum over months of ``(r_im / R_i - 1)^2``,
    ``r_im`` the month's ratio), from rows not flagged ``new_hire``.
    """
    f = history.frame[history.frame["role"] == role]
    if history.has_new_hire:
        f = f[~f["new_hire"].astype(bool)]
    f = f[["rep_id", "year", "month", "revenue"] + (["partner_revenue_new"] if "partner_revenue_new" in f else [])].copy()
    if history.roles.get(role) == "channel" and "partner_revenue_new" in history.columns:
        # existing partners' revenue is the part proportional to ability x territory (docs/model.md section 2)
        f["revenue"] = (f["revenue"] - f["partner_revenue_new"].fillna(0.0)).clip(lower=0.0)
    f["ref"] = f.groupby(["year", "month"])["revenue"].transform("mean")
    f = f[f["ref"] > 0]
    if f.empty:  # no month with any revenue (or no rows): no rep has a level; every rep draws from the role
        return pd.DataFrame({"level": [], "months": [], "ss": []}, index=pd.Index([], name="rep_id"), dtype=float)
    f["r"] = f["revenue"] / f["ref"]
    g = f.groupby("rep_id", sort=False)
    out = pd.DataFrame({"level": g["revenue"].sum() / g["ref"].sum(), "months": g.size()})
    f["dev"] = (f["r"] / f["rep_id"].map(out["level"]).replace(0.0, np.nan) - 1.0) ** 2
    out["ss"] = f.groupby("rep_id", sort=False)["dev"].sum()
    return out


def shrink(level: np.ndarray, months: np.ndarray, c2: float, tau2: float,
           n_reps: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and variance of ``log(a p)`` from each rep's level and months (module docstring).

    ``n_reps``: the reps whose average is the reference level; its own
    uncertainty, ``log(1 + (exp(tau^2) - 1) / n_reps)``, is added to each
    observation's variance (None: a known reference).
    """
    n = np.maximum(months, 1.0)
    y = np.log(np.maximum(level, 1e-6)) + c2 / (2.0 * n)
    s2 = np.log1p(c2 / n)
    if n_reps:
        s2 = s2 + np.log1p(np.expm1(tau2) / n_reps)
    if tau2 <= 0:
        return np.full(level.shape, 0.0), np.zeros(level.shape)
    v = 1.0 / (1.0 / tau2 + 1.0 / np.maximum(s2, 1e-12))
    m = v * (-0.5 + y / np.maximum(s2, 1e-12))
    return m, v


def posterior(levels: pd.DataFrame, tau2: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Posterior mean and variance of each rep's ``log(a p)`` (NaN below :data:`MIN_MONTHS`), and the noise ``c^2``.

    ``levels`` is :func:`rep_levels`'s frame; ``c^2`` pools the reps with at least 2 months.
    """
    many = levels[levels["months"] >= 2]
    dof = float((many["months"] - 1).sum())
    c2 = float(many["ss"].sum() / dof) if dof > 0 else 0.25
    months = levels["months"].to_numpy(dtype=float)
    m, v = shrink(levels["level"].to_numpy(dtype=float), months, c2, tau2, n_reps=len(levels))
    enough = months >= MIN_MONTHS
    return np.where(enough, m, np.nan), np.where(enough, v, np.nan), c2


def estimate(scenario: Scenario, history: History) -> TrackRecord:
    """Each roster rep's posterior productivity from ``history`` (see the module docstring).

    Raises
    ------
    SimlibError
        The scenario has no roster.
    """
    roster = scenario.roster_data
    if roster is None:
        raise SimlibError(f"{scenario.source}: reps' histories are used with a roster (roster: FILE)")
    roles, notes = {}, []
    for name, rr in roster.roles.items():
        role = scenario.roles[name]
        tau2 = role.ability_sd**2 + role.territory_sd**2
        lv = rep_levels(history, name) if name in history.roles else pd.DataFrame(columns=["level", "months", "ss"])
        m_all, v_all, c2 = posterior(lv, tau2)
        known = pd.DataFrame({"m": m_all, "v": v_all, "months": lv["months"]}, index=lv.index).reindex(list(rr.ids))
        has = known["m"].notna().to_numpy()
        months = known["months"].fillna(0).to_numpy(dtype=float)
        roles[name] = (known["m"].to_numpy(dtype=float), known["v"].to_numpy(dtype=float), months)
        notes.append(f"{name}: {int(has.sum())} of {rr.headcount} reps with at least {MIN_MONTHS} months of "
                     f"history (median {np.median(months[has]) if has.any() else 0:.0f}); monthly revenue "
                     f"CV around a rep's own level {np.sqrt(c2):.2f}")
    digest = hashlib.sha256(Path(history.source).read_bytes()).hexdigest()
    return TrackRecord(history.source, digest, roles, notes)


def with_history(scenario: Scenario) -> Scenario:
    """The scenario with the history it names applied to its roster's reps (unchanged when it names none).

    The history is read and checked as ``simlib calibrate`` reads one
    (:func:`simlib.fit.history.read_history`, bad rows refused with file and line).
    A scenario that already has its history's track record (loaded again in
    the same process, the history file unchanged) is returned as it is, so
    loading a file twice gives the same scenario and hash.
    """
    if scenario.history is None or scenario.track_record is not None:
        return scenario
    path = roster_path(scenario.history, scenario.source)
    history = read_history(path, {r: role.process for r, role in scenario.roles.items()}, rolled_up=credited_roles(scenario))
    return scenario.with_track_record(estimate(scenario, history))


def load_scenario(path: str | Path) -> Scenario:
    """:func:`simlib.scenario.load_scenario`, then the history it names applied (:func:`with_history`)."""
    return with_history(load_plain(path))
