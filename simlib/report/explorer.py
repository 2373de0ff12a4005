"""Interactive plan explorer for JupyterLab (ipywidgets), testable without a browser.

:class:`Explorer` holds a scenario and a base plan. :meth:`Explorer.update`
derives a variant of the base plan for one role from a few controls, re-runs
a fast simulation (a few hundred trials, common random numbers with the base
plan) and returns tables and figures; :meth:`Explorer.widget` wires the
controls to ``update`` with ipywidgets. Tests call ``update`` directly.

Every control is a plan transform of :mod:`simlib.design.transforms` applied
to the chosen role, with the meaning it has in ``simlib sweep`` and
``simlib optimize``: ``target_level=1.1`` in the explorer is the plan that
``target_level@<role>=1.1`` is in a sweep. A control set to
:data:`AS_BASE` (``"base"``, the default) leaves the base plan as it is. The
widget shows:

* ``target_level`` -- the role's quota level (``quota.level``; 1.1 = quotas
  at 1.1 x expected revenue at today's effort), not a multiple of the base
  plan's level;
* ``team_weight`` -- share of incentive paid on the team result (0..1); it
  does not change how the pool is split;
* ``team_split`` -- how the team pool is shared: ``equal`` or
  ``contribution``;
* ``threshold`` -- attainment (fraction of quota) at the first point of the
  role's revenue pay curves, below which they pay nothing; an error for a role
  without a revenue curve (a commission-only role: use ``commission_gate``);
* ``commission_gate`` -- annual revenue attainment below which the role's
  revenue commissions pay nothing;
* ``cap`` -- cap of revenue pay curves, as a multiple of the component's
  target payout (``None`` = uncapped); commissions are not capped;
* ``accelerator`` -- multiplier of the pay slope above 100% attainment
  (revenue curves, and revenue commission tiers from 100%); 1 = today's.

:meth:`Explorer.update` also takes the other transforms (``pay_mix``,
``commission_rate``, ``period``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from simlib.design.transforms import TRANSFORMS, get_transform, plan_data
from simlib.errors import PlanError

__all__ = ["Explorer", "variant_plan", "AS_BASE", "CONTROLS", "DEFAULT_CONTROLS", "KEY_METRICS"]

#: metrics shown in the explorer table
KEY_METRICS = ("revenue", "incentive_cost", "comp_cost_of_sales", "profit", "share_at_quota", "share_120",
               "leverage", "share_capped", "pay_performance_corr", "over_budget")

#: a control's value meaning "as in the base plan"
AS_BASE = "base"

#: the controls the widget shows (plan transforms; see :mod:`simlib.design.transforms`)
CONTROLS = ("target_level", "team_weight", "team_split", "threshold", "commission_gate", "cap", "accelerator")

DEFAULT_CONTROLS: dict[str, Any] = {name: AS_BASE for name in CONTROLS}


def _is_base(value: Any) -> bool:
    return isinstance(value, str) and value == AS_BASE


def variant_plan(scenario: Any, base_plan: str, role: str, **controls: Any) -> dict:
    """The base plan with the controls applied to one role, through the plan transforms.

    Parameters
    ----------
    scenario : Scenario
    base_plan, role : str
    **controls
        Transform name -> value (see :mod:`simlib.design.transforms` for each
        one's meaning, unit and domain), or :data:`AS_BASE` to leave it as in
        the base plan. Applied in the registry's order
        (:data:`simlib.design.transforms.TRANSFORMS`), each to ``role`` only.

    Returns
    -------
    dict
        A plan (as data) to pass to :meth:`simlib.Scenario.with_plan`; the
        same plan a sweep builds from ``alias@role`` parameters with these
        values in that order.

    Raises
    ------
    PlanError
        For an unknown plan, role or control, a value outside a control's
        domain, or a control the role has nothing to apply to (e.g.
        ``threshold`` on a role without a revenue pay curve).
    """
    if base_plan not in scenario.plans:
        raise PlanError(f"explorer: base plan '{base_plan}' not in {sorted(scenario.plans)}")
    if role not in scenario.roles:
        raise PlanError(f"explorer: role '{role}' not in {sorted(scenario.roles)}")
    unknown = [n for n in controls if n not in TRANSFORMS]
    if unknown:
        raise PlanError(f"explorer: unknown control(s) {sorted(unknown)}, expected some of {list(TRANSFORMS)} "
                        f"(plan transforms) with a value, or '{AS_BASE}' for as in the base plan")
    plan = plan_data(scenario, base_plan)
    for name in TRANSFORMS:
        if name in controls and not _is_base(controls[name]):
            plan = get_transform(name).apply(plan, controls[name], roles=(role,), scenario=scenario,
                                             where=f"explorer control '{name}' (role {role})")
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
        from simlib.io import resolve_path
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
            Plan transforms applied to the role (:data:`CONTROLS` and the
            other transforms of :mod:`simlib.design.transforms`); omitted or
            :data:`AS_BASE` = as in the base plan. See :func:`variant_plan`.

        Returns
        -------
        dict
            ``controls`` (every control of :data:`CONTROLS` and any other
            given, as applied), ``plan`` (the variant plan as data),
            ``table`` (key metrics of the role and total: base, variant,
            paired difference with 95% CI), ``metrics`` (variant's role
            metrics, mean), ``differences`` (variant - base, role and total),
            ``figures`` (list of matplotlib Figures: pay curve, attainment
            and payout distributions, revenue vs cost), ``provenance``.
        """
        from simlib.engine.api import simulate

        new_role = self.role if role is None else role
        if new_role not in self.scenario.roles:
            raise PlanError(f"explorer: role '{new_role}' not in {sorted(self.scenario.roles)}")
        ctl = {**DEFAULT_CONTROLS, **controls}
        plan = variant_plan(self.scenario, self.base_plan, new_role, **ctl)
        self.role = new_role
        scen = self.scenario.with_plan("explore", plan)
        res = simulate(scen, [self.base_plan, "explore"], trials=self.trials, rng=self.seed,
                       reference=self.base_plan, behaviour=self.behaviour)
        s, d = res.summary(), res.differences()
        groups = [self.role, "total"]
        sv = s[(s.plan == "explore") & (s.group == self.role)].set_index("metric")["mean"]
        self.last = dict(
            role=self.role, controls=ctl, plan=plan, table=_key_table(s, d, self.base_plan, groups),
            figures=self._figures(scen, res),
            metrics={m: float(sv[m]) for m in KEY_METRICS if m in sv.index},
            differences=d[d["group"].isin(groups)].reset_index(drop=True),
            provenance=res.provenance,
        )
        return self.last

    def _figures(self, scen: Any, res: Any) -> list:
        """Pay curves, attainment and payout distributions (rep by rep), revenue vs cost: base and variant."""
        from simlib.report import plots
        from simlib.report.notebook import pay_curve_table, rep_outcomes

        reps = rep_outcomes(scen, [self.base_plan, "explore"], trials=self.rep_trials, rng=self.seed,
                            behaviour=self.behaviour)
        reps = reps[reps["role"] == self.role]
        curves = pay_curve_table(scen, [self.base_plan, "explore"])
        curves = curves[curves["role"] == self.role]
        return [
            plots.pay_curves(curves),
            plots.attainment_distribution(reps),
            plots.payout_distribution(reps),
            plots.revenue_vs_cost(res.trials(), group=self.role),
        ]

    def base_values(self, role: str | None = None) -> dict[str, float]:
        """The base plan's ``target_level`` and ``team_weight`` for a role (where the widget's sliders start)."""
        rp = self.scenario.role_plan(self.base_plan, role or self.role)
        return {"target_level": float(rp.quota.level), "team_weight": float(rp.team.weight)}

    def widget(self):
        """An ipywidgets app: a role selector and the controls; charts redrawn on change.

        Sliders for ``target_level`` and ``team_weight`` start at the role's
        base-plan values (and return there when the role changes); the
        threshold, commission gate, cap and team split apply only when
        switched on; an accelerator of 1 leaves the base plan as it is.
        """
        import ipywidgets as w
        from IPython.display import display

        from simlib.report.notebook import escape_frame, show

        c = _control_widgets(w, self.scenario, self.role, self.base_values())
        out = w.Output()
        resetting = [False]

        def redraw(*_):
            if resetting[0]:
                return
            with out:
                out.clear_output(wait=True)
                try:
                    r = self.update(role=c["role"].value, **_control_values(c))
                except Exception as exc:  # noqa: BLE001 - show the user what was wrong, keep the app alive
                    print(f"error: {exc}")
                    return
                display(escape_frame(r["table"]).style.format(precision=3).hide(axis="index"))
                for f in r["figures"]:
                    show(f)

        def new_role(change):
            resetting[0] = True
            try:  # sliders start at the new role's base-plan values
                for name, v in self.base_values(change["new"]).items():
                    c[name].value = v
            finally:
                resetting[0] = False
            redraw()

        c["role"].observe(new_role, names="value")
        for name, ctl in c.items():
            if name != "role":
                ctl.observe(redraw, names="value")
        redraw()
        controls = w.VBox([c["role"], c["target_level"], c["team_weight"], c["team_split"],
                           w.HBox([c["use_threshold"], c["threshold"]]),
                           w.HBox([c["use_commission_gate"], c["commission_gate"]]),
                           w.HBox([c["cap_rule"], c["cap"]]), c["accelerator"]])
        return w.VBox([controls, out])


def _key_table(s: pd.DataFrame, d: pd.DataFrame, base_plan: str, groups: list[str]) -> pd.DataFrame:
    """Key metrics per group: base, variant (``explore``), paired difference with its 95% CI."""
    rows = []
    for g in groups:
        for m in KEY_METRICS:
            b = s[(s.plan == base_plan) & (s.group == g) & (s.metric == m)]
            v = s[(s.plan == "explore") & (s.group == g) & (s.metric == m)]
            dd = d[(d.group == g) & (d.metric == m)]
            if b.empty or v.empty:
                continue
            rows.append(dict(group=g, metric=m, base=float(b["mean"].iloc[0]), variant=float(v["mean"].iloc[0]),
                             diff=float(dd["diff"].iloc[0]) if len(dd) else np.nan,
                             diff_ci_low=float(dd["ci_low"].iloc[0]) if len(dd) else np.nan,
                             diff_ci_high=float(dd["ci_high"].iloc[0]) if len(dd) else np.nan))
    return pd.DataFrame(rows)


def _control_widgets(w: Any, scenario: Any, role: str, base: dict[str, float]) -> dict[str, Any]:
    """The widget's controls by name (ipywidgets module ``w``); sliders start at the role's base values."""
    style = {"description_width": "110px"}

    def slider(desc, value, lo, hi, step):
        return w.FloatSlider(value=value, min=min(lo, value), max=max(hi, value), step=step, description=desc,
                             style=style, continuous_update=False)

    as_base = ("as base plan", AS_BASE)
    return {
        "role": w.Dropdown(options=list(scenario.roles), value=role, description="role", style=style),
        "target_level": slider("target level", base["target_level"], 0.7, 1.4, 0.05),
        "team_weight": slider("team weight", base["team_weight"], 0.0, 1.0, 0.05),
        "team_split": w.Dropdown(options=[as_base, ("equal", "equal"), ("by contribution", "contribution")],
                                 value=AS_BASE, description="team split", style=style),
        "use_threshold": w.Checkbox(value=False, description="change threshold"),
        "threshold": slider("threshold", 0.5, 0.0, 0.95, 0.05),
        "use_commission_gate": w.Checkbox(value=False, description="gate commissions"),
        "commission_gate": slider("commission gate", 0.5, 0.0, 1.0, 0.05),
        "cap_rule": w.Dropdown(options=[as_base, ("capped at slider", "slider"), ("uncapped", "none")],
                               value=AS_BASE, description="cap rule", style=style),
        "cap": slider("cap", 2.5, 1.0, 5.0, 0.1),
        "accelerator": slider("accelerator", 1.0, 0.0, 3.0, 0.1),
    }


def _control_values(c: dict[str, Any]) -> dict[str, Any]:
    """The widget's state as explorer controls (:data:`AS_BASE` where a control is off)."""
    return dict(
        target_level=c["target_level"].value,
        team_weight=c["team_weight"].value,
        team_split=c["team_split"].value,
        threshold=c["threshold"].value if c["use_threshold"].value else AS_BASE,
        commission_gate=c["commission_gate"].value if c["use_commission_gate"].value else AS_BASE,
        cap={AS_BASE: AS_BASE, "slider": c["cap"].value, "none": None}[c["cap_rule"].value],
        accelerator=AS_BASE if c["accelerator"].value == 1.0 else c["accelerator"].value,
    )
