"""Per-rep and per-team answers: a candidate plan against the reference plan, rep by rep, on the same draws.

For every rep of the scenario (named by
:func:`simlib.model.population.rep_labels`), its pay (base + incentive,
money per year) under the reference plan and the candidate, trial by trial on
common random numbers, through the engine's one pass
(:func:`simlib.engine.core.role_outcomes`): expected pay, P10/P50/P90 over
trials, the Monte Carlo SE and 95% CI of each expected pay and of the paired
change (from the rep's trial values), and the share of trials in
which the candidate pays less. Reps whose expected pay changes by more than a
fraction ``loss`` of their expected pay under the reference are losers (or
winners); per team, the incentive cost and attainment (team revenue / team
quota) under both plans with standard errors.

Memory is bounded by bounding the trials, not by approximating: per-rep
quantiles need each rep's trial values, so a chunk returns its trials x reps
pay under the two plans (and trials x teams sums); chunks are gathered in
trial order, so the numbers are the same for any chunk size, worker count or
executor. A request past :data:`MAX_REP_VALUES` (trials x reps x 2 plans) is
refused before any work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from simlib.engine.core import (
    RequestTooLarge,
    behaviour_model,
    check_request,
    chunk_spans,
    default_chunk_size,
    map_chunks,
    resolve_behaviour,
    role_outcomes,
)
from simlib.errors import PlanError
from simlib.format import interval
from simlib.model.contracts import BehaviourModel
from simlib.model.plans import year_sum
from simlib.model.population import Layout, draw_chunk, fx_rate, rep_labels, root_seed
from simlib.scenario import Scenario

#: most per-rep trial values kept (trials x reps x 2 plans, 8 bytes each: 400 MB)
MAX_REP_VALUES = 50_000_000
#: quantiles of each rep's pay over trials
QUANTILES = (0.1, 0.5, 0.9)


def _team_matrix(team: np.ndarray, n_teams: int) -> np.ndarray:
    """(R, n_teams) 0/1 membership, so that ``x @ m`` sums each team's members."""
    m = np.zeros((len(team), n_teams))
    m[np.arange(len(team)), team] = 1.0
    return m


def rep_chunk(scenario: Scenario, plans: list[str], root: np.random.SeedSequence, start: int, stop: int,
              behaviour: str | BehaviourModel, model: BehaviourModel | None) -> tuple[int, dict[str, dict]]:
    """Trials ``start..stop-1`` under the plans: per plan and role, the per-rep and per-team trial values.

    Returns
    -------
    start : int
    out : plan -> role -> {"pay": (T, R) base + incentive; "team_incentive",
        "team_revenue", "team_quota": (T, n_teams); "base": (R,) base salary
        and "team": (R,) team index of each rep}
    """
    draws = draw_chunk(Layout.of(scenario), root, np.arange(start, stop))
    out: dict[str, dict] = {p: {} for p in plans}
    for o in role_outcomes(scenario, plans, draws, behaviour=behaviour, model=model):
        inc = o.pay.incentive
        members = _team_matrix(o.world.team, o.world.n_teams)
        base = np.broadcast_to(o.pay.base, inc.shape[1:])
        pay = inc + base
        rate = fx_rate(scenario, o.role, draws)
        if rate is not None:  # a role paid in another currency: pay in the reporting currency at the trial's rate
            inc, pay = inc * rate[:, None], pay * rate[:, None]
        out[o.plan][o.role] = {
            "pay": pay,
            "base": base,
            "team_incentive": inc @ members,
            "team_revenue": year_sum(o.measures, "revenue", o.memo) @ members,
            "team_quota": o.quota @ members,
            "team": o.world.team,
        }
        if rate is not None:
            out[o.plan][o.role]["incentive"] = inc
    return start, out


@dataclass
class RepAnswers:
    """A candidate plan against the reference, rep by rep and team by team.

    Attributes
    ----------
    statement : DataFrame
        The rep statement, one row per rep: rep_id, role, team, expected pay
        under the reference (``expected_current``) and the candidate
        (``expected_candidate``), ``change`` (candidate - reference, money per
        year), ``change_pct`` (of expected pay under the reference),
        ``change_se`` (Monte Carlo SE of the paired change), ``p_lower``
        (share of trials in which the candidate pays less), the Monte Carlo SE
        of each expected pay (``expected_current_se``, ``expected_candidate_se``)
        and 95% CIs of both and of the change (``expected_current_ci_low``,
        ``expected_current_ci_high``, ... ``change_ci_high``), the P10/P50/P90 of
        pay under each (``current_p10`` ... ``candidate_p90``), expected
        incentive under each, and ``verdict`` (winner, loser, unchanged).
    teams : DataFrame
        One row per team: role, team, reps, winners, losers, then for
        incentive cost (money per year) and attainment (team revenue / team
        quota) under the reference (``cost_current`` ...), the candidate and
        their paired change, each with ``_se``, ``_ci_low`` and ``_ci_high``
        (95%).
    plan, reference : str
    loss : float
        The threshold of a winner or loser: a change of more than this
        fraction of expected pay under the reference.
    trials : int
    provenance : dict
    """

    statement: pd.DataFrame
    teams: pd.DataFrame
    plan: str
    reference: str
    loss: float
    trials: int
    provenance: dict[str, Any] = field(default_factory=dict)

    def winners_losers(self) -> pd.DataFrame:
        """How many reps win, lose or keep their pay, by role and team, then per role (team ``all``) and in total."""
        s = self.statement
        rows = []
        for (role, team), g in s.groupby(["role", "team"], sort=False):
            rows.append(_counts(g, role, team))
        for role, g in s.groupby("role", sort=False):
            rows.append(_counts(g, role, "all"))
        rows.append(_counts(s, "total", "all"))
        return pd.DataFrame(rows)

    def losers(self) -> pd.DataFrame:
        """The statement rows of the reps who lose more than ``loss`` of their expected pay, largest loss first."""
        s = self.statement
        return s[s["verdict"] == "loser"].sort_values("change_pct").reset_index(drop=True)


def _counts(g: pd.DataFrame, role: str, team: str) -> dict[str, Any]:
    v = g["verdict"]
    return {"role": role, "team": team, "reps": len(g), "winners": int((v == "winner").sum()),
            "losers": int((v == "loser").sum()), "unchanged": int((v == "unchanged").sum()),
            "change": float(g["change"].sum())}


def rep_answers(
    scenario: Scenario,
    plan: str,
    *,
    reference: str | None = None,
    trials: int = 500,
    rng: int | np.random.SeedSequence | None = 0,
    loss: float = 0.05,
    behaviour: str | BehaviourModel | None = None,
    chunk_size: int | None = None,
    executor: Any = None,
) -> RepAnswers:
    """Each rep's and team's pay under ``plan`` against ``reference`` on common random numbers.

    Parameters
    ----------
    scenario : Scenario
    plan : str
        The candidate plan.
    reference : str, optional
        The plan compared against (default: the scenario's current plan).
    trials : int
        Simulated years; trial ``t`` is trial ``t`` of :func:`simlib.simulate` with the same ``rng``.
    rng : int or SeedSequence
    loss : float
        Winners and losers change their expected pay by more than this fraction (0.05 = 5%).
    behaviour : str or BehaviourModel, optional
        As in :func:`simlib.simulate` (default: the scenario's ``behaviour.mode``, else dynamic).
    chunk_size, executor
        As in :func:`simlib.simulate`; the numbers do not depend on them.

    Raises
    ------
    PlanError
        An unknown plan, fewer than 2 trials, a negative ``loss``.
    RequestTooLarge
        More than :data:`MAX_REP_VALUES` per-rep values, or past the engine's limits.
    """
    reference = reference or scenario.current_plan
    _check(scenario, plan, reference, trials, loss)
    plans = list(dict.fromkeys([reference, plan]))
    root = root_seed(rng)
    behaviour = resolve_behaviour(scenario, behaviour)
    local = executor is None or executor == "serial"
    model = behaviour_model(scenario, behaviour) if local else None
    cs = int(chunk_size) if chunk_size else default_chunk_size(scenario)
    args = [(scenario, plans, root, a, b, behaviour, model) for a, b in chunk_spans(int(trials), cs)]
    parts = [out for _, out in map_chunks(executor, rep_chunk, args)]
    joined = {p: {r: {k: (v if k in ("team", "base") else np.concatenate([c[p][r][k] for c in parts]))
                      for k, v in parts[0][p][r].items()}
                  for r in scenario.roles} for p in plans}
    ref, cand = joined[reference], joined[plan]
    statement = pd.concat([_rep_rows(scenario, r, ref[r], cand[r], loss) for r in scenario.roles], ignore_index=True)
    teams = pd.concat([_team_rows(scenario, r, ref[r], cand[r], statement) for r in scenario.roles], ignore_index=True)
    prov = {"scenario": scenario.name, "scenario_file": scenario.source, "scenario_sha256": scenario.sha256,
            "seed_entropy": str(root.entropy), "trials": int(trials), "chunk_size": cs, "plan": plan,
            "reference": reference, "loss": loss,
            "behaviour": behaviour if isinstance(behaviour, str) else type(behaviour).__name__}
    return RepAnswers(statement, teams, plan, reference, loss, int(trials), prov)


def _check(scenario: Scenario, plan: str, reference: str, trials: int, loss: float) -> None:
    unknown = [p for p in (plan, reference) if p not in scenario.plans]
    if unknown:
        raise PlanError(f"unknown plan(s) {unknown}; the scenario {scenario.source} has {sorted(scenario.plans)}")
    if not isinstance(trials, (int, np.integer)) or trials < 2:
        raise PlanError(f"trials: expected an integer >= 2, got {trials!r}")
    if not (isinstance(loss, (int, float)) and 0.0 <= loss <= 1.0):
        raise PlanError(f"loss: expected a fraction between 0 and 1 (0.05 = 5% of expected pay), got {loss!r}")
    values = float(trials) * scenario.headcount * 2
    if values > MAX_REP_VALUES:
        raise RequestTooLarge(
            f"per-rep answers keep every rep's pay in every trial: {trials:,} trials x {scenario.headcount:,} reps "
            f"x 2 plans = {values:.3g} values, more than {MAX_REP_VALUES:.0e}; ask for at most "
            f"{MAX_REP_VALUES // (2 * scenario.headcount):,} trials")
    check_request(scenario, int(trials), 2)


def _rep_rows(scenario: Scenario, role: str, ref: dict, cand: dict, loss: float) -> pd.DataFrame:
    """The statement rows of one role's reps (see :attr:`RepAnswers.statement`)."""
    ids, team_names = rep_labels(scenario, role)
    team = ref["team"]
    a, b = ref["pay"], cand["pay"]
    T = a.shape[0]
    ea, eb = a.mean(axis=0), b.mean(axis=0)
    d = b - a
    change = d.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(ea != 0, change / np.where(ea != 0, ea, 1.0), np.nan)
    verdict = np.where(pct > loss, "winner", np.where(pct < -loss, "loser", "unchanged"))
    qa, qb = np.quantile(a, QUANTILES, axis=0), np.quantile(b, QUANTILES, axis=0)
    out = pd.DataFrame({"rep_id": ids, "role": role, "team": np.asarray(team_names, dtype=object)[team],
                        "expected_current": ea, "expected_candidate": eb, "change": change, "change_pct": pct,
                        "change_se": d.std(axis=0, ddof=1) / np.sqrt(T), "p_lower": (d < 0).mean(axis=0)})
    for name, x in (("expected_current", a), ("expected_candidate", b)):
        out[f"{name}_se"] = x.std(axis=0, ddof=1) / np.sqrt(T)
    for name in ("expected_current", "expected_candidate", "change"):
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = interval(out[name], out[f"{name}_se"])
    for name, q in (("current", qa), ("candidate", qb)):
        for k, p in enumerate(QUANTILES):
            out[f"{name}_p{round(100 * p)}"] = q[k]
    if "incentive" in ref:  # converted at each trial's rate: the base's mean in the reporting currency varies
        out["incentive_current"], out["incentive_candidate"] = ref["incentive"].mean(axis=0), cand["incentive"].mean(axis=0)
    else:
        out["incentive_current"] = ea - ref["base"]
        out["incentive_candidate"] = eb - cand["base"]
    out["verdict"] = verdict
    return out


def _mean_se(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over trials (axis 0) and its Monte Carlo SE."""
    return x.mean(axis=0), x.std(axis=0, ddof=1) / np.sqrt(x.shape[0])


def _team_rows(scenario: Scenario, role: str, ref: dict, cand: dict, statement: pd.DataFrame) -> pd.DataFrame:
    """The per-team rows of one role (see :attr:`RepAnswers.teams`)."""
    _, team_names = rep_labels(scenario, role)
    s = statement[statement["role"] == role]
    counts = s.groupby("team", sort=False)["verdict"].value_counts().unstack(fill_value=0)
    out = pd.DataFrame({"role": role, "team": team_names,
                        "reps": s.groupby("team", sort=False).size().reindex(team_names).to_numpy()})
    for v in ("winners", "losers"):
        col = v[:-1]
        out[v] = counts[col].reindex(team_names).fillna(0).astype(int).to_numpy() if col in counts else 0
    with np.errstate(invalid="ignore", divide="ignore"):
        series = {
            "cost_current": ref["team_incentive"], "cost_candidate": cand["team_incentive"],
            "cost_change": cand["team_incentive"] - ref["team_incentive"],
            "attainment_current": ref["team_revenue"] / ref["team_quota"],
            "attainment_candidate": cand["team_revenue"] / cand["team_quota"],
        }
    for name, x in series.items():
        m, se = _mean_se(x)
        lo, hi = interval(m, se)
        out[name], out[f"{name}_se"], out[f"{name}_ci_low"], out[f"{name}_ci_high"] = m, se, lo, hi
    return out
