"""Interactive plan explorer for JupyterLab (ipywidgets), testable without a browser.

:class:`Explorer` holds a scenario and a base plan. :meth:`Explorer.update`
derives a variant of the base plan for one role from five controls, re-runs
a fast simulation (a few hundred trials, common random numbers with the base
plan) and returns tables and figures; :meth:`Explorer.widget` wires the
controls to ``update`` with ipywidgets. Tests call ``update`` directly.

Controls (built on the same curve edits as the sweep aliases of
:mod:`simlib.design.sweep`, with two differences: the explorer's target level is
relative to the base plan's, and a team weight on a role without team pay
splits the pool by contribution):

* ``target_level`` -- quota level of the role relative to the base plan's
  (1.0 = the base plan's, 1.1 = 10% harder);
* ``team_weight`` -- share of incentive paid on the team result (0..1); the
  pool is split by contribution unless the base plan already pays on teams;
* ``threshold`` -- attainment (fraction of quota) below which the role's
  revenue incentive pays nothing: the first point of revenue pay curves; for
  revenue commissions, a gate at that attainment;
* ``cap`` -- cap of revenue pay curves, as a multiple of the component's
  target payout (``None`` or 0 = uncapped); commissions are not capped;
* ``accelerator`` -- multiplier of the pay slope above 100% attainment
  (revenue curves, and commission tiers from 100%); 1 = today's.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from simlib.design.sweep import accelerate_curve, accelerate_tiers, set_threshold
from simlib.errors import PlanError

__all__ = ["Explorer", "variant_plan", "DEFAULT_CONTROLS", "KEY_METRICS"]

#: metrics shown in the explorer table
KEY_METRICS = ("revenue", "incentive_cost", "comp_cost_of_sales", "profit", "share_at_quota", "share_120",
               "leverage", "share_capped", "pay_performance_corr", "over_budget")

DEFAULT_CONTROLS = dict(target_level=1.0, team_weight=0.0, threshold=None, cap="base", accelerator=1.0)


def variant_plan(
    scenario: Any,
    base_plan: str,
    role: str,
    *,
    target_level: float = 1.0,
    team_weight: float = 0.0,
    threshold: float | None = None,
    cap: float | None | str = "base",
    accelerator: float = 1.0,
) -> dict:
    """The base plan with one role's quota level, team weight and revenue pay curve changed.

    Parameters
    ----------
    scenario : Scenario
    base_plan, role : str
    target_level : float
        Quota level of the role (multiplies its quota).
    team_weight : float
        Team share of incentive, 0..1 (pool split by contribution unless the base plan says otherwise).
    threshold : float or None
        Attainment below which revenue pay is nothing (None = as in the base plan).
    cap : float, None or "base"
        Cap of revenue curves (multiple of target payout); None or 0 = uncapped; "base" = unchanged.
    accelerator : float
        Multiplier of the slope above 100% attainment (1 = unchanged).

    Returns
    -------
    dict
        A plan (as data) to pass to :meth:`simlib.Scenario.with_plan`.

    Raises
    ------
    PlanError
        For an unknown plan or role, or a control out of range.
    """
    if base_plan not in scenario.plans:
        raise PlanError(f"explorer: base plan '{base_plan}' not in {sorted(scenario.plans)}")
    if role not in scenario.roles:
        raise PlanError(f"explorer: role '{role}' not in {sorted(scenario.roles)}")
    if not (0.0 <= float(team_weight) <= 1.0):
        raise PlanError(f"explorer: team_weight expected 0..1, got {team_weight}")
    if float(target_level) <= 0 or float(accelerator) < 0:
        raise PlanError("explorer: target_level must be > 0 and accelerator >= 0")
    plan = copy.deepcopy(scenario.plans[base_plan].model_dump(by_alias=True))
    plan["description"] = f"explorer variant of {base_plan} for {role}"
    rp = plan["roles"][role]
    rp["quota"]["level"] = float(rp["quota"]["level"]) * float(target_level)
    team = rp.get("team") or {}
    team["weight"] = float(team_weight)
    rp["team"] = team
    if float(team_weight) > 0 and scenario.plans[base_plan].roles[role].team.weight == 0:
        team["split"] = "contribution"
    for c in rp["components"]:
        if c.get("measure") != "revenue":
            continue
        if c["kind"] == "curve":
            if threshold is not None:
                set_threshold(c, float(threshold), "explorer")
            if cap != "base":
                c["cap"] = float(cap) if cap else None
            if float(accelerator) != 1.0:
                accelerate_curve(c, float(accelerator))
        elif c["kind"] == "commission":
            if threshold is not None and float(threshold) > 0:
                gates = [g for g in (rp.get("gates") or []) if c["name"] not in (g.get("components") or [])]
                gates.append({"measure": "revenue", "min_attainment": float(threshold), "target": "quota",
                              "components": [c["name"]]})
                rp["gates"] = gates
            if float(accelerator) != 1.0:
                accelerate_tiers(c, float(accelerator))
    return plan


@dataclass
class Explorer:
    """Fast what-if simulation of one role's plan, with charts.

    Parameters
    ----------
    scenario : Scenario or path
    role : str
        Role whose plan the controls change (others keep the base plan).
    base_plan : str, optional
        Default: the scenario's current plan.
    trials : int
        Trials per update (a few hundred keep an update near a second).
    seed : int
        Seed; every update uses the same draws (common random numbers).
    behaviour : str or None
        Behaviour model name; None = the scenario's behaviour.mode, else "dynamic".
    rep_trials : int
        Trials drawn rep by rep for the distribution charts.
    """

    scenario: Any
    role: str = "telesales"
    base_plan: str | None = None
    trials: int = 300
    seed: int = 0
    behaviour: str | None = None
    rep_trials: int = 10
    last: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        from simlib.report.notebook import resolve_path
        from simlib.scenario import Scenario, load_scenario

        if not isinstance(self.scenario, Scenario):
            self.scenario = load_scenario(resolve_path(self.scenario))
        self.base_plan = self.base_plan or self.scenario.current_plan
        if self.role not in self.scenario.roles:
            raise PlanError(f"explorer: role '{self.role}' not in {sorted(self.scenario.roles)}")

    def update(self, role: str | None = None, **controls: Any) -> dict[str, Any]:
        """Re-run the simulation for the given controls.

        Parameters
        ----------
        role : str, optional
            Switch the role the controls apply to.
        **controls
            ``target_level``, ``team_weight``, ``threshold``, ``cap``,
            ``accelerator`` (see :func:`variant_plan`).

        Returns
        -------
        dict
            ``controls`` (as applied), ``table`` (key metrics of the role and
            total: base, variant, paired difference with 95% CI), ``metrics``
            (variant's role metrics, mean), ``differences`` (variant - base,
            role and total), ``figures`` (list of matplotlib Figures: pay
            curve, attainment and payout distributions, revenue vs cost).
        """
        from simlib.engine.api import simulate
        from simlib.report import plots
        from simlib.report.notebook import pay_curve_table, rep_outcomes

        unknown = set(controls) - set(DEFAULT_CONTROLS)
        if unknown:
            raise PlanError(f"explorer: unknown control(s) {sorted(unknown)}, expected {sorted(DEFAULT_CONTROLS)}")
        if role is not None:
            if role not in self.scenario.roles:
                raise PlanError(f"explorer: role '{role}' not in {sorted(self.scenario.roles)}")
            self.role = role
        ctl = {**DEFAULT_CONTROLS, **controls}
        plan = variant_plan(self.scenario, self.base_plan, self.role, **ctl)
        scen = self.scenario.with_plan("explore", plan)
        res = simulate(scen, [self.base_plan, "explore"], trials=self.trials, rng=self.seed,
                       reference=self.base_plan, behaviour=self.behaviour)
        s, d = res.summary(), res.differences()
        groups = [self.role, "total"]
        rows = []
        for g in groups:
            for m in KEY_METRICS:
                b = s[(s.plan == self.base_plan) & (s.group == g) & (s.metric == m)]
                v = s[(s.plan == "explore") & (s.group == g) & (s.metric == m)]
                dd = d[(d.group == g) & (d.metric == m)]
                if b.empty or v.empty:
                    continue
                rows.append(dict(group=g, metric=m, base=float(b["mean"].iloc[0]), variant=float(v["mean"].iloc[0]),
                                 diff=float(dd["diff"].iloc[0]) if len(dd) else np.nan,
                                 diff_ci_low=float(dd["ci_low"].iloc[0]) if len(dd) else np.nan,
                                 diff_ci_high=float(dd["ci_high"].iloc[0]) if len(dd) else np.nan))
        table = pd.DataFrame(rows)
        reps = rep_outcomes(scen, [self.base_plan, "explore"], trials=self.rep_trials, rng=self.seed, behaviour=self.behaviour)
        reps = reps[reps["role"] == self.role]
        curves = pay_curve_table(scen, [self.base_plan, "explore"])
        curves = curves[curves["role"] == self.role]
        figs = [
            plots.pay_curves(curves),
            plots.attainment_distribution(reps),
            plots.payout_distribution(reps),
            plots.revenue_vs_cost(res.trials(), group=self.role),
        ]
        sv = s[(s.plan == "explore") & (s.group == self.role)].set_index("metric")["mean"]
        self.last = dict(
            role=self.role, controls=ctl, plan=plan, table=table, figures=figs,
            metrics={m: float(sv[m]) for m in KEY_METRICS if m in sv.index},
            differences=d[d["group"].isin(groups)].reset_index(drop=True),
            provenance=res.provenance,
        )
        return self.last

    def widget(self):
        """An ipywidgets app: sliders for the controls, a role selector, charts redrawn on change."""
        import ipywidgets as w
        from IPython.display import display

        from simlib.report.notebook import show

        style = {"description_width": "110px"}
        role = w.Dropdown(options=list(self.scenario.roles), value=self.role, description="role", style=style)
        tl = w.FloatSlider(value=1.0, min=0.7, max=1.4, step=0.05, description="target level", style=style,
                           continuous_update=False)
        tw = w.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05, description="team weight", style=style,
                           continuous_update=False)
        th = w.FloatSlider(value=0.5, min=0.0, max=0.95, step=0.05, description="threshold", style=style,
                           continuous_update=False)
        use_th = w.Checkbox(value=False, description="change threshold")
        cap = w.FloatSlider(value=2.5, min=1.0, max=5.0, step=0.1, description="cap", style=style,
                            continuous_update=False)
        cap_mode = w.Dropdown(options=[("as base plan", "base"), ("capped at slider", "slider"), ("uncapped", "none")],
                              value="base", description="cap rule", style=style)
        acc = w.FloatSlider(value=1.0, min=0.0, max=3.0, step=0.1, description="accelerator", style=style,
                            continuous_update=False)
        out = w.Output()

        def redraw(*_):
            with out:
                out.clear_output(wait=True)
                c = {"base": "base", "slider": cap.value, "none": None}[cap_mode.value]
                try:
                    r = self.update(role=role.value, target_level=tl.value, team_weight=tw.value,
                                    threshold=th.value if use_th.value else None, cap=c, accelerator=acc.value)
                except Exception as exc:  # noqa: BLE001 - show the user what was wrong, keep the app alive
                    print(f"error: {exc}")
                    return
                display(r["table"].style.format(precision=3).hide(axis="index"))
                for f in r["figures"]:
                    show(f)

        for ctl in (role, tl, tw, th, use_th, cap, cap_mode, acc):
            ctl.observe(redraw, names="value")
        redraw()
        controls = w.VBox([role, tl, tw, w.HBox([use_th, th]), w.HBox([cap_mode, cap]), acc])
        return w.VBox([controls, out])
