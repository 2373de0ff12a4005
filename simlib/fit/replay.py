"""Replay of recorded history through any plan's pay rules (``simlib replay``).

"What would last year's actual results have paid under plan P?" Each
recorded rep-year of a history (``docs/history-format.md``) goes, as it was
recorded, through the pay rules of :func:`simlib.model.plans.compute_pay`:
no simulation and no random draws. Replaying the plan that was in force
reconciles with the payouts the history records, rep by rep, to the cent.

Conventions (``docs/history-format.md``, "Replay"):

- the annual quota is the sum of the recorded monthly quotas; a quota target
  of a shorter period (a quarter) is the sum of that period's monthly quotas;
- under another plan, each rep's quota is the recorded one times the ratio of
  the plans' ``quota.level`` (``harder_target`` at level 1.1 against 1.0 asks
  10% more of every rep); the plan's quota *method* cannot be replayed
  without draws, and a note says when the methods differ;
- a month without a row books nothing: flows and quota 0; a score measure
  (a 0-1 rate) in such a month is the rep's mean over the months it has;
- a rep whose recorded quota is 0 all year has no attainment and is not
  replayed (a note names them);
- a target given as a number of a flow (a scorecard's calls, milestones) is
  that number x the plan's ``quota.level`` in the scenario, not something the
  recorded quotas set: where such a role does not reconcile, a note says so,
  with its reps and money apart;
- a month's cancelled deals cancel ``cancelled_after`` months after booking
  (the history's column; the next month where it is empty or absent);
- teams are the history's ``team`` column (needed when a plan pays on team
  results; a rep without one is a team of one); recognition ranks the role's
  reps of that year.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simlib.errors import PlanError, SimlibError
from simlib.fit.history import ALL_MEASURES, History, HistoryError, Panel
from simlib.model.plans import PayResult, compute_pay
from simlib.model.population import RoleWorld
from simlib.model.production import Cancellations
from simlib.scenario import MEASURES, MONTHS, RolePlan, Scenario

#: recomputed and recorded pay reconcile when they round to the same cent
CENT = 0.01
_COMPONENT_COLUMNS = ["year", "role", "rep_id", "plan", "component", "pay"]


def plan_measures(rp: RolePlan) -> dict[str, str]:
    """The measures a role plan reads, each with the first part of the plan that needs it.

    Revenue is always read (attainment); then the measures of components,
    scorecards, SPIFFs, gates, modifiers and recognition.
    """
    need = {"revenue": "attainment"}
    for c in rp.components:
        need.setdefault(c.measure, f"component '{c.name}'")
    for sc in rp.scorecards:
        for sm in sc.measures:
            need.setdefault(sm.measure, f"scorecard '{sc.name}'")
    for sp in rp.spiffs:
        need.setdefault(sp.measure, f"SPIFF '{sp.name}'")
    for i, g in enumerate(rp.gates):
        need.setdefault(g.measure, f"gate {i + 1}")
    for m in rp.modifiers:
        need.setdefault(m.measure, f"modifier on {m.measure}")
    if rp.recognition is not None:
        need.setdefault(rp.recognition.measure, "recognition")
    return need


def unrecorded_measures(scenario: Scenario, plan: str, roles) -> list[str]:
    """Why ``plan`` cannot be paid from a history: each named measure (docs/model.md section 2) it pays ``roles``
    on, in its own terms or a version's; they are simulated, and the history format has no column for them.
    Also each part of the plan whose pay depends on what a history does not record (:func:`unrecorded_parts`)."""
    out = []
    for role in roles:
        rp = scenario.role_plan(plan, role)
        out += unrecorded_parts(plan, role, [rp, *(scenario.role_plan(v.plan, role) for v in rp.versions)])
        for rpv in [rp, *(scenario.role_plan(v.plan, role) for v in rp.versions)]:
            for measure, why in plan_measures(rpv).items():
                if measure not in ALL_MEASURES:
                    out.append(f"plan '{plan}' pays {role} on '{measure}' ({why}), a named measure that is simulated "
                               f"and not recorded in the history format (docs/history-format.md)")
    return list(dict.fromkeys(out))


def unrecorded_parts(plan: str, role: str, terms: list[RolePlan]) -> list[str]:
    """The parts of a role plan (its own terms and its versions', ``terms``) whose pay depends on what the
    history format does not record: a team project pays on the reps' simulated project results (their
    ability), and quota relief moves quotas with the simulated market."""
    out = []
    for rp in terms:
        if rp.projects is not None:
            out.append(f"plan '{plan}' pays {role} on team projects ('projects'), whose results are simulated "
                       f"from the reps' ability and not recorded in the history format (docs/history-format.md)")
        if rp.quota_relief is not None:
            out.append(f"plan '{plan}' moves {role} quotas with the market ('quota_relief'), which the history "
                       f"format does not record (docs/history-format.md)")
    return out


def column_problems(scenario: Scenario, history: History, plan: str) -> list[str]:
    """What ``history`` lacks for ``plan``: each missing column, with the role and the part of the plan needing it."""
    problems = unrecorded_measures(scenario, plan, history.roles)
    for role in history.roles:
        rp = scenario.role_plan(plan, role)
        for measure, why in plan_measures(rp).items():
            if measure != "revenue" and measure in ALL_MEASURES and measure not in history.columns:
                problems.append(f"column '{measure}' is missing: plan '{plan}' pays {role} on it ({why}); "
                                f"add a '{measure}' column (one value per rep-month)")
        if rp.team.weight > 0 and not history.has_team:
            problems.append(f"column 'team' is missing: plan '{plan}' pays {role} {rp.team.weight:.0%} on team "
                            f"results; add a 'team' column naming each rep's team")
    return problems


def check_columns(scenario: Scenario, history: History, plans: list[str]) -> None:
    """Refuse, before any work, a plan that needs a column the history does not have.

    Raises
    ------
    HistoryError
        Naming the file, the column, the plan, role and the part of the plan that needs it.
    """
    problems = [m for plan in plans for m in column_problems(scenario, history, plan)]
    if problems:
        raise HistoryError(history.source, list(dict.fromkeys(problems)))


def role_pay(scenario: Scenario, plan: str, role: str, measures: dict[str, np.ndarray], quota: np.ndarray,
             team: np.ndarray | None = None, level_ratio: float = 1.0,
             rep_ids: np.ndarray | None = None, cancelled: np.ndarray | None = None,
             new_hire: np.ndarray | None = None, cancel_delay: np.ndarray | None = None) -> PayResult:
    """Pay of R reps' recorded year under one plan, by the model's pay rules (no draws).

    Parameters
    ----------
    scenario : Scenario
    plan, role : str
    measures : measure -> ndarray (R, 12)
        Recorded measures per month, every month filled (no NaN).
    quota : ndarray (R, 12)
        Recorded quota per month, money; each rep's year must sum to more than 0.
    team : ndarray (R,), optional
        Team name of each rep; None (or a rep's None): each rep alone.
    level_ratio : float
        The plan's quota level over the level of the plan the quotas were set under.
    rep_ids : ndarray (R,), optional
        The reps' ids: with a scenario that names a roster, a rep found in it
        is paid at their own base and target incentive (relative to the
        role's, as the simulation does); others at the role's.
    cancelled : ndarray (R, 12), optional
        Recorded revenue of each month's deals that later cancelled (the
        history's ``cancelled`` column): a plan's ``clawback`` takes their pay
        back from the month they cancelled on (``cancel_delay``). None: no
        cancellations.
    new_hire : ndarray (R,), optional
        The reps hired this year (the history's ``new_hire`` column, 1/0 or
        bool; NaN: not a new hire): a draw for new hires only
        (``draw: {new_hires_only: true}``) covers them. None: nobody is.
    cancel_delay : ndarray (R, 12) of int, optional
        Months after booking that each month's cancelled deals cancelled (1
        or more): a clawback takes their pay back from that month on, and
        only within its ``window_months``. None: 1 (the next month).

    Returns
    -------
    PayResult
        Arrays shaped (1, R): one "trial", the recorded year.

    Raises
    ------
    PlanError
        The plan pays the role on something a history does not record
        (:func:`unrecorded_measures`), naming the plan, role and field.
    """
    unrecorded = unrecorded_measures(scenario, plan, [role])
    if unrecorded:
        raise PlanError(f"{scenario.source}: cannot replay: {'; '.join(unrecorded)}")
    R = quota.shape[0]
    annual = quota.sum(axis=1)
    share = quota / annual[:, None]
    alone = [team is None or team[i] is None or team[i] != team[i] for i in range(R)]  # no team (None, NaN)
    labels = [f"~{i:09d}" if alone[i] else f"={team[i]}" for i in range(R)]
    _, idx = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
    world = RoleWorld(
        name=role, role=scenario.roles[role], draws={}, ability=np.ones((1, R)), territory=np.ones((1, R)),
        new_hire=_new_hires(new_hire, R), ramp=np.ones((1, R, MONTHS)),
        season=np.asarray(scenario.roles[role].season), market=np.ones((1, MONTHS)),
        team=idx.astype(np.intp), n_teams=int(idx.max()) + 1,
        **_pay_levels(scenario, role, rep_ids),
    )
    meas = {m: v[None] for m, v in measures.items()}
    cancel = None
    if cancelled is not None:
        delay = np.ones((R, MONTHS)) if cancel_delay is None else np.nan_to_num(cancel_delay, nan=1.0)
        cancel = Cancellations(revenue=np.nan_to_num(cancelled)[None],
                               delay=np.maximum(np.asarray(delay), 1).astype(np.intp)[None])
    return compute_pay(scenario, plan, world, meas, (annual * level_ratio)[None], {}, share[None], cancel)


def _new_hires(new_hire: np.ndarray | None, R: int) -> np.ndarray:
    """(1, R) bool: the recorded new hires (a missing or NaN flag: not a new hire)."""
    if new_hire is None:
        return np.zeros((1, R), dtype=bool)
    return (np.nan_to_num(np.asarray(new_hire, dtype=float)) > 0)[None, :]


def _pay_levels(scenario: Scenario, role: str, rep_ids: np.ndarray | None) -> dict[str, np.ndarray]:
    """``base_share``/``ti_share`` of reps found in the scenario's roster (1 for the others); empty without one."""
    roster = scenario.roster_data
    if roster is None or rep_ids is None or role not in roster.roles:
        return {}
    rr, spec = roster.roles[role], scenario.roles[role]
    where = {rid: i for i, rid in enumerate(rr.ids)}
    at = np.array([where.get(str(r), -1) for r in rep_ids])
    found = at >= 0
    if not found.any():
        return {}
    base = np.ones(len(at))
    ti = np.ones(len(at))
    if spec.base_salary > 0:
        base[found] = rr.base_salary[at[found]] / spec.base_salary
    if spec.target_incentive > 0:
        ti[found] = rr.target_incentive[at[found]] / spec.target_incentive
    return {"base_share": base, "ti_share": ti}


def _filled(panel: Panel) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A panel's measures and quota with months without a row filled: flows and quota 0, scores the rep's mean."""
    kinds = MEASURES[panel.process]
    out = {}
    for m, v in panel.measures.items():
        if kinds[m] == "flow":
            out[m] = np.where(panel.present, np.nan_to_num(v), 0.0)
        else:
            n = panel.present.sum(axis=1, keepdims=True)
            mean = np.where(panel.present, np.nan_to_num(v), 0.0).sum(axis=1, keepdims=True) / np.maximum(n, 1)
            out[m] = np.where(panel.present, v, mean)
    return out, np.where(panel.present, np.nan_to_num(panel.quota), 0.0)


@dataclass
class Replay:
    """A history replayed under plans.

    Attributes
    ----------
    reps : DataFrame
        One row per rep and year: year, role, team, rep_id, months (with a
        row), quota, revenue, attainment, recorded (payout, NaN when the
        history has none), then one column per plan (incentive, money per year).
    totals : DataFrame
        Per year and role, then ``total`` per year: currency, reps, quota,
        revenue, recorded, then one column per plan. A role's money is in its
        currency; ``total`` is in the scenario's, other currencies converted
        at the scenario's ``fx`` rate.
    mismatches : DataFrame
        Reps whose pay recomputed under the plan in force differs from the
        recorded payout by a cent or more: year, role, team, rep_id,
        currency (the role's), recorded, recomputed, difference (recomputed - recorded).
    plans : plans replayed, the plan in force first.
    in_force : the plan the history's quotas and payouts were made under.
    has_payout : the history records payouts.
    notes : what was left out or assumed.
    components : DataFrame
        Each component's pay per rep, year and plan (after gates, before
        modifiers; with team weighting): year, role, rep_id, plan, component,
        pay (money per year), to see which part of a plan a difference comes from.
    """

    reps: pd.DataFrame
    totals: pd.DataFrame
    mismatches: pd.DataFrame
    plans: list[str]
    in_force: str
    has_payout: bool
    notes: list[str] = field(default_factory=list)
    components: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_COMPONENT_COLUMNS))

    @property
    def reconciled(self) -> bool | None:
        """True when every rep's recomputed pay equals the recorded payout to the cent; None without payouts."""
        return None if not self.has_payout else self.mismatches.empty

    def role_currencies(self, default: str = "") -> dict[str, str]:
        """Each role's currency (its money in :attr:`reps` and :attr:`totals` is in it), from :attr:`totals`;
        ``default`` for every role when the totals carry no currency."""
        t = self.totals[self.totals["role"] != "total"]
        if "currency" not in t:
            return dict.fromkeys(t["role"], default)
        return dict(zip(t["role"], t["currency"], strict=True))

    def summary(self) -> str:
        """One sentence: reconciled or not, how many reps, by how much in total."""
        n = len(self.reps)
        if not self.has_payout:
            return f"nothing to reconcile: the history records no payout ({n} rep-years replayed)"
        if self.reconciled:
            return f"reconciled: all {n} rep-years recomputed under '{self.in_force}' equal the recorded payouts to the cent"
        m = self.mismatches
        total = cents_per_currency(m["difference"], m["currency"] if "currency" in m else "", signed=True)
        big = m.loc[m["difference"].abs().idxmax()]
        largest = f"{abs(big['difference']):,.2f} {big.get('currency', '')}".strip()
        return (f"NOT reconciled: {len(m)} of {n} rep-years differ from the recorded payouts under '{self.in_force}' "
                f"(recomputed - recorded: total {total}, largest {largest})")


def cents_per_currency(amounts: pd.Series, currencies: Any, *, signed: bool = False) -> str:
    """Money summed per currency, to the cent and never added across currencies: ``"+100.00 USD and -10.00 EUR"``.

    ``currencies`` gives each amount's currency (a sequence as long as ``amounts``, or one code for all); the
    sums are in order of the codes.
    """
    cur = pd.Series(currencies if not isinstance(currencies, str) else [currencies] * len(amounts),
                    index=amounts.index, dtype=object)
    sums = pd.Series(amounts.to_numpy(dtype=float), index=amounts.index).groupby(cur, sort=True).sum()
    return " and ".join(f"{v:{'+' if signed else ''},.2f} {c}".strip() for c, v in sums.items())


def replay(scenario: Scenario, history: History, plans: list[str] | None = None, *,
           in_force: str | None = None) -> Replay:
    """Replay every recorded rep-year of ``history`` under ``plans`` and reconcile the plan in force.

    Parameters
    ----------
    scenario : Scenario
        Gives the plans, pay levels and roles (the history's roles must be its roles).
    history : History
        As read by :func:`simlib.fit.history.read_history`.
    plans : list of str, optional
        Plans to replay (default: every plan the history has the columns for,
        the others named in a note); the plan in force is always included, first.
    in_force : str, optional
        The plan the recorded quotas and payouts were made under (default: the current plan).

    Raises
    ------
    PlanError
        An unknown plan.
    HistoryError
        A column a plan needs is missing (:func:`check_columns`).
    """
    in_force = in_force or scenario.current_plan
    wanted = list(dict.fromkeys([in_force, *(plans if plans is not None else scenario.plans)]))
    unknown = [p for p in wanted if p not in scenario.plans]
    if unknown:
        raise PlanError(f"unknown plan(s) {unknown}; the scenario {scenario.source} has {sorted(scenario.plans)}")
    missing = [r for r in history.roles if r not in scenario.roles]
    if missing:
        raise SimlibError(f"{history.source}: role(s) {missing} are not roles of the scenario {scenario.source} "
                          f"({sorted(scenario.roles)}); use --role-map")
    notes = []
    if plans is None:  # every plan: leave out, with a note, those the history lacks columns for
        lacking = {p: column_problems(scenario, history, p) for p in wanted if p != in_force}
        notes += [f"plan '{p}' not replayed: {'; '.join(m)}" for p, m in lacking.items() if m]
        wanted = [p for p in wanted if not lacking.get(p)]
    check_columns(scenario, history, wanted)
    notes += _method_notes(scenario, wanted, in_force, list(history.roles))
    frames, comps = [], []
    for year in history.years:
        for role in history.roles:
            for panel in history.panels(role, [year]):
                rows, parts = _replay_panel(scenario, panel, wanted, in_force, notes)
                frames.append(rows)
                comps += parts
    reps = pd.concat(frames, ignore_index=True)
    components = pd.concat(comps, ignore_index=True) if comps else pd.DataFrame(columns=_COMPONENT_COLUMNS)
    notes += currency_note(scenario, list(history.roles))
    notes += _not_in_roster(scenario, reps)
    notes += team_notes(scenario, reps)
    mismatches = _mismatches(reps, in_force, history.has_payout, scenario)
    notes += _level_notes(scenario, in_force, reps, mismatches)
    return Replay(reps, _totals(reps, wanted, scenario), mismatches, wanted, in_force, history.has_payout, notes,
                  components)


def _not_in_roster(scenario: Scenario, reps: pd.DataFrame, show: int = 10) -> list[str]:
    """A note per role naming the reps of the history's last year that the scenario's roster lacks (a typo in an
    id, a rep who left during the year): they are replayed at the role's pay levels (:func:`_pay_levels`), so their
    pay may not reconcile. Reps of earlier years only are not named: they left before the roster was drawn up."""
    roster = scenario.roster_data
    if roster is None or reps.empty:
        return []
    out = []
    last = reps[reps["year"] == reps["year"].max()]
    for role, ids in last.groupby("role", sort=False)["rep_id"]:
        if role not in roster.roles:
            continue
        known = set(roster.roles[role].ids)
        lacking = [str(i) for i in dict.fromkeys(ids) if str(i) not in known]
        if lacking:
            n = len(lacking)
            names = ", ".join(lacking[:show]) + (f" and {n - show} more" if n > show else "")
            out.append(f"{n} {role} rep{'s' if n != 1 else ''} of the history's last year, {last['year'].iloc[0]}, "
                       f"{'are' if n != 1 else 'is'} not in the roster {Path(roster.source).name} ({names}): replayed at the role's base salary and target "
                       "incentive, not their own")
    return out


def team_notes(scenario: Scenario, frame: pd.DataFrame, show: int = 5,
               so: str = "team results are replayed on the history's teams") -> list[str]:
    """A note per role naming the reps whose team in the history's last year (their last row: ``frame`` has
    ``year``, ``role``, ``team``, ``rep_id``, in time order) is not their team in the scenario's roster, with both
    teams, and ``so``, what follows: team pay is replayed on the history's teams, a simulation uses the roster's."""
    roster = scenario.roster_data
    if roster is None or frame.empty or "team" not in frame or frame["team"].isna().all():
        return []
    last = frame[frame["year"] == frame["year"].max()].dropna(subset=["team"]).drop_duplicates("rep_id", keep="last")
    out = []
    for role, g in last.groupby("role", sort=False):
        if role not in roster.roles:
            continue
        rr = roster.roles[role]
        team_of = {i: rr.teams[t] for i, t in zip(rr.ids, rr.team, strict=True)}
        moved = sorted((str(i), str(t), team_of[str(i)]) for i, t in zip(g["rep_id"], g["team"], strict=True)
                       if str(i) in team_of and str(t) != team_of[str(i)])
        if moved:
            n = len(moved)
            named = "; ".join(f"{i}: '{h}' in the history, '{r}' in the roster" for i, h, r in moved[:show])
            out.append(f"{n} {role} rep{'s' if n != 1 else ''} of the history's last year, {last['year'].iloc[0]}, "
                       f"{'are' if n != 1 else 'is'} in another team in the roster {Path(roster.source).name} "
                       f"({named}{f' and {n - show} more' if n > show else ''}): {so}")
    return out


def _number_targets(rp: RolePlan, kinds: dict[str, str]) -> list[str]:
    """The role plan's targets on flows that are numbers a year (not the quota), as ``"scorecard 'x' targets
    calls 10,800 a year"``: the model sets them to the number x the plan's quota level (docs/model.md section 3)."""
    out = []
    for sc in rp.scorecards:
        ts = [f"{sm.measure} {float(sm.target):,g}" for sm in sc.measures
              if sm.target != "quota" and kinds.get(sm.measure) == "flow"]
        if ts:
            out.append(f"scorecard '{sc.name}' targets {', '.join(ts)} a year")
    for c in rp.components:
        if c.target != "quota" and kinds.get(c.measure) == "flow":
            out.append(f"component '{c.name}' targets {c.measure} {float(c.target):,g} a year")
    return out


def _level_notes(scenario: Scenario, in_force: str, reps: pd.DataFrame, mismatches: pd.DataFrame) -> list[str]:
    """Why a role's reps differ when its plan in force targets numbers of a flow (calls, milestones), and by how much.

    Those targets are the plan's numbers x its ``quota.level`` in the scenario, which the recorded quotas do not
    carry (they set the revenue targets alone), so a history whose plan set quotas at another level was paid
    against other targets. The level is not inferred from the recorded quotas: their mean over the role's
    expected quota also moves with territories and new hires' ramps (0.82 to 1.00 for a history made at 0.9).
    """
    out = []
    for role in dict.fromkeys(mismatches["role"]):
        rp = scenario.role_plan(in_force, role)
        targets = _number_targets(rp, scenario.roles[role].measure_kinds)
        if not targets:
            continue
        mine = mismatches[mismatches["role"] == role]
        cur = mine["currency"].iloc[0] if "currency" in mine and len(mine) else ""
        out.append(
            f"{role}: {len(mine)} of {int((reps['role'] == role).sum())} rep-years differ (recomputed - recorded: "
            f"{mine['difference'].sum():+,.2f} {cur}); under '{in_force}' its {'; '.join(targets)}, each x quota "
            f"level {rp.quota.level:g} of the scenario, which the recorded quotas do not carry (they set only the targets given as "
            f"quota): a history whose plan set quotas at another level was paid against other targets; "
            f"set quota.level of '{in_force}' for {role} to that plan's level to replay them")
    return out


def _method_notes(scenario: Scenario, plans: list[str], in_force: str, roles: list[str]) -> list[str]:
    notes = []
    for p in plans:
        for r in roles:
            a, b = scenario.role_plan(in_force, r).quota, scenario.role_plan(p, r).quota
            if a.method != b.method:
                notes.append(f"plan '{p}' sets {r} quotas by '{b.method}', the plan in force by '{a.method}': "
                             f"replayed on the recorded quotas times the level ratio {b.level / a.level:.3g}")
    return notes


def _replay_panel(scenario: Scenario, panel: Panel, plans: list[str], in_force: str,
                  notes: list[str]) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """One role-year replayed: one row per rep (see :attr:`Replay.reps`), and its components' pay per plan."""
    measures, quota = _filled(panel)
    annual_q = quota.sum(axis=1)
    ok = annual_q > 0
    ids = np.asarray(panel.rep_ids, dtype=object)
    if not ok.all():
        notes.append(f"quota 0 all year: {int((~ok).sum())} {panel.role} rep(s) in {panel.year} not replayed "
                     f"({', '.join(map(str, ids[~ok][:5]))}{' ...' if (~ok).sum() > 5 else ''})")
    partial = int((ok & ~panel.present.all(axis=1)).sum())
    if partial:
        notes.append(f"{partial} {panel.role} rep(s) in {panel.year} have rows for part of the year only: "
                     f"months without a row book nothing")
    revenue = measures["revenue"].sum(axis=1)
    recorded = np.where(np.isnan(panel.payout).all(axis=1), np.nan, np.nansum(panel.payout, axis=1))
    out = pd.DataFrame({
        "year": panel.year, "role": panel.role,
        "team": panel.team if panel.team is not None else None, "rep_id": ids,
        "months": panel.present.sum(axis=1), "quota": annual_q, "revenue": revenue,
        "attainment": np.where(ok, revenue / np.where(ok, annual_q, 1.0), np.nan),
        "recorded": recorded,
    })
    base_level = scenario.role_plan(in_force, panel.role).quota.level
    team = None if panel.team is None else panel.team[ok]
    parts = []
    for plan in plans:
        pay = np.full(len(ids), np.nan)
        if ok.any():
            ratio = scenario.role_plan(plan, panel.role).quota.level / base_level
            res = role_pay(scenario, plan, panel.role, {m: v[ok] for m, v in measures.items()}, quota[ok], team, ratio,
                           rep_ids=ids[ok], cancelled=None if panel.cancelled is None else panel.cancelled[ok],
                           new_hire=None if panel.new_hire is None else panel.new_hire[ok],
                           cancel_delay=None if panel.cancelled_after is None else panel.cancelled_after[ok])
            pay[ok] = np.round(res.incentive[0], 2)  # pay is paid in cents
            parts += [pd.DataFrame({"year": panel.year, "role": panel.role, "rep_id": ids[ok], "plan": plan,
                                    "component": name, "pay": v[0]}) for name, v in res.components.items()]
        out[plan] = pay
    return out, parts


def role_currency(scenario: Scenario, role: str) -> str:
    """The currency a role's money (recorded and replayed) is in: its own ``currency:``, else the scenario's."""
    return scenario.roles[role].currency or scenario.currency


def _totals(reps: pd.DataFrame, plans: list[str], scenario: Scenario) -> pd.DataFrame:
    """Sums per year and role (in the role's currency), then per year over roles (role ``total``).

    The total is in the scenario's (reporting) currency: a role paid in
    another currency counts at the scenario's ``fx`` rate (its expected rate,
    the mean of the rates ``run`` draws), as ``run`` converts before summing
    roles; money in different currencies is never added as it stands.
    """
    cols = ["quota", "revenue", "recorded", *plans]

    def agg(g: pd.DataFrame) -> pd.Series:
        s = g[cols].sum(min_count=1)
        s["reps"] = len(g)
        return s

    rows = []
    for year, gy in reps.groupby("year", sort=True):
        parts = []
        for role, gr in gy.groupby("role", sort=False):
            cur = role_currency(scenario, role)
            s = agg(gr)
            rows.append({"year": year, "role": role, "currency": cur, **s})
            parts.append(s[cols] * (1.0 if cur == scenario.currency else scenario.fx[cur]))
        total = pd.concat(parts, axis=1).sum(axis=1, min_count=1)
        rows.append({"year": year, "role": "total", "currency": scenario.currency, **total, "reps": len(gy)})
    out = pd.DataFrame(rows)
    return out[["year", "role", "currency", "reps", *cols]]


def currency_note(scenario: Scenario, roles: list[str]) -> list[str]:
    """What the total over roles converts, and at which rate (none when every role is paid in one currency)."""
    other = sorted({role_currency(scenario, r) for r in roles} - {scenario.currency})
    if not other:
        return []
    rates = ", ".join(f"{scenario.fx[c]:g} {scenario.currency} per {c}" for c in other)
    return [f"each role's money is in its own currency; the total over roles is in {scenario.currency}, "
            f"converted at the scenario's fx rate ({rates}: the expected rate, as `run` converts at each "
            f"trial's rate around it)"]


def _mismatches(reps: pd.DataFrame, in_force: str, has_payout: bool, scenario: Scenario) -> pd.DataFrame:
    """Reps whose pay under the plan in force differs from the recorded payout, to the cent (in the role's currency)."""
    cols = ["year", "role", "team", "rep_id", "currency", "recorded", "recomputed", "difference"]
    if not has_payout:
        return pd.DataFrame(columns=cols)
    recomputed = reps[in_force].round(2)
    recorded = reps["recorded"].round(2)
    diff = (recomputed - recorded).round(2)
    bad = ~(diff.abs() < CENT / 2)  # NaN (no recorded payout, or not replayed) counts as a difference
    out = reps.loc[bad, ["year", "role", "team", "rep_id"]].copy()
    out["currency"] = [role_currency(scenario, r) for r in out["role"]]
    out["recorded"], out["recomputed"], out["difference"] = recorded[bad], recomputed[bad], diff[bad]
    return out[cols].reset_index(drop=True)
