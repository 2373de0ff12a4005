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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from simlib.design.transforms import TRANSFORMS, get_transform, plan_data
from simlib.errors import PlanError

__all__ = ["Explorer", "ExplorerApp", "Figures", "variant_plan", "controls_from_parameters", "AS_BASE", "CONTROLS",
           "DEFAULT_CONTROLS", "KEY_METRICS"]

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


def controls_from_parameters(*, target_level: float = -1.0, team_weight: float = -1.0, team_split: str = "",
                             threshold: float = -1.0, commission_gate: float = -1.0, cap: float = -1.0,
                             accelerator: float = 1.0) -> dict[str, Any]:
    """The explorer notebook's parameters (numbers, papermill-friendly) as explorer controls.

    The notebook marks "as in the base plan" with a negative number (an
    empty ``team_split``, an ``accelerator`` of 1); those become
    :data:`AS_BASE`, ``cap`` 0 becomes None (uncapped). Show the result, not
    the raw parameters: the markers are not values of the plan.
    """
    def num(v: float) -> Any:
        return AS_BASE if v < 0 else v

    return dict(target_level=num(target_level), team_weight=num(team_weight), team_split=team_split or AS_BASE,
                threshold=num(threshold), commission_gate=num(commission_gate),
                cap=AS_BASE if cap < 0 else (cap or None), accelerator=AS_BASE if accelerator == 1 else accelerator)


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


class Figures(Sequence):
    """An update's charts (a sequence of matplotlib Figures), built when first looked at.

    Building four figures is about a third of an update; the widget shows the
    table first and the charts after it, and a caller that only reads the
    numbers never pays for them. The figures are built once, from the data
    computed in the update, so looking again gives the same objects.
    """

    def __init__(self, build: Callable[[], list]):
        self._build: Callable[[], list] | None = build
        self._figs: list | None = None

    def _all(self) -> list:
        if self._figs is None:
            self._figs = self._build()
            self._build = None
        return self._figs

    def __len__(self) -> int:
        return len(self._all())

    def __getitem__(self, i):
        return self._all()[i]

    @property
    def built(self) -> bool:
        """Whether the figures have been built (looked at)."""
        return self._figs is not None


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
        Trials per update: 200 keep an update near a second on one core, with
        paired differences' CIs a few percent of a typical change (common
        random numbers).
    seed : int
        Seed; every update uses the same draws (common random numbers).
    behaviour : str or None
        Behaviour model name; None = the scenario's behaviour.mode, else "dynamic".
    rep_trials : int
        Trials drawn rep by rep for the distribution charts (trials ``0..rep_trials-1``
        of the table's run). The base plan's rep-level outcomes and pay curves do
        not change when a control moves: they are computed once per role and
        kept, so an update's charts draw only the variant rep by rep (when the
        charts are first looked at).
    """

    scenario: Any
    role: str = "telesales"
    base_plan: str | None = None
    trials: int = 200
    seed: int = 0
    behaviour: str | None = None
    rep_trials: int = 10
    last: dict = field(default_factory=dict, repr=False)
    _base_views: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        from simlib.fit.individuals import load_scenario  # with the history it names applied (a roster's reps)
        from simlib.io import resolve_path
        from simlib.scenario import Scenario

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
            given, as applied), ``changed`` (whether the variant differs from
            the base plan; when it does not, only the base plan is simulated
            and there is nothing to compare), ``plan`` (the variant plan as
            data), ``table`` (key metrics of the role and total: base, and
            when changed the variant and the paired difference with its 95%
            CI), ``metrics`` (variant's role metrics, mean), ``differences``
            (variant - base, role and total; empty when unchanged),
            ``figures`` (:class:`Figures`, a sequence of matplotlib Figures
            built when first looked at: pay curve, attainment and payout
            distributions, revenue vs cost), ``provenance`` (of the
            scenario as loaded, with ``explored_role`` and ``explored_controls``).
        """
        from simlib.engine.api import simulate

        new_role = self.role if role is None else role
        if new_role not in self.scenario.roles:
            raise PlanError(f"explorer: role '{new_role}' not in {sorted(self.scenario.roles)}")
        ctl = {**DEFAULT_CONTROLS, **controls}
        plan = variant_plan(self.scenario, self.base_plan, new_role, **ctl)
        self.role = new_role
        changed = plan != plan_data(self.scenario, self.base_plan)
        scen = self.scenario.with_plan("explore", plan) if changed else self.scenario
        plans = [self.base_plan, "explore"] if changed else [self.base_plan]
        res = simulate(scen, plans, trials=self.trials, rng=self.seed, reference=self.base_plan,
                       behaviour=self.behaviour)
        s, d = res.summary(), res.differences()
        groups = [self.role, "total"]
        sv = s[(s.plan == plans[-1]) & (s.group == self.role)].set_index("metric")["mean"]
        prov = dict(res.provenance, scenario_sha256=self.scenario.sha256, explored_role=self.role,
                    explored_controls={k: v for k, v in ctl.items() if not _is_base(v)})
        self.last = dict(
            role=self.role, controls=ctl, changed=changed, plan=plan,
            table=_key_table(s, d, self.base_plan, groups), figures=self._figures(scen, res, plans),
            metrics={m: float(sv[m]) for m in KEY_METRICS if m in sv.index},
            differences=d[d["group"].isin(groups)].reset_index(drop=True), provenance=prov,
        )
        return self.last

    def _figures(self, scen: Any, res: Any, plans: list[str]) -> Figures:
        """Pay curves, attainment and payout distributions (rep by rep), revenue vs cost: base and variant.

        The charts, and the variant's rep-by-rep draws only they use, are made
        when first looked at (:class:`Figures`), for the role, seed and plans
        of this update.
        """
        key = (self.role, self.seed, self.rep_trials, self.behaviour)

        def build() -> list:
            from simlib.report import plots

            reps, curves = self._rep_views(scen, plans, key)
            return [
                plots.pay_curves(curves),
                plots.attainment_distribution(reps),
                plots.payout_distribution(reps),
                plots.revenue_vs_cost(res.trials(), group=key[0]),
            ]

        return Figures(build)

    def _rep_views(self, scen: Any, plans: list[str], key: tuple) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The role's rep outcomes and pay curves, base plan then variant; the base plan's from the cache.

        ``key`` is ``(role, seed, rep_trials, behaviour)`` of the update. The rep
        draws are trials ``0..rep_trials-1`` of the seed; they depend on the
        roles only, so the base plan's outcomes are the same in every variant's
        scenario and are drawn once per role (and seed, trial count and behaviour).
        """
        from simlib.report.notebook import pay_curve_table, rep_outcomes

        role, seed, rep_trials, behaviour = key
        if key not in self._base_views:
            reps = rep_outcomes(self.scenario, [self.base_plan], trials=rep_trials, rng=seed, behaviour=behaviour)
            curves = pay_curve_table(self.scenario, [self.base_plan])
            self._base_views[key] = (reps[reps["role"] == role], curves[curves["role"] == role])
        reps, curves = self._base_views[key]
        new = [p for p in plans if p != self.base_plan]
        if new:
            vr = rep_outcomes(scen, new, trials=rep_trials, rng=seed, behaviour=behaviour)
            vc = pay_curve_table(scen, new)
            reps = pd.concat([reps, vr[vr["role"] == role]], ignore_index=True)
            curves = pd.concat([curves, vc[vc["role"] == role]], ignore_index=True)
        return reps, curves

    def base_values(self, role: str | None = None) -> dict[str, Any]:
        """Where the widget's controls start for a role: the base plan's value of each control.

        ``target_level`` and ``team_weight`` (quota level, team share),
        ``team_split``, ``threshold`` (first point of the first revenue pay
        curve; None without one), ``cap`` (of that curve; None = uncapped),
        ``commission_gate`` (revenue gate on the revenue commissions, 0 =
        none; None without a revenue commission) and ``accelerator`` (1).
        """
        rp = plan_data(self.scenario, self.base_plan)["roles"][role or self.role]
        curves = [c for c in rp["components"] if c.get("measure", "revenue") == "revenue"
                  and c.get("kind", "curve") == "curve"]
        comms = [c["name"] for c in rp["components"] if c.get("measure", "revenue") == "revenue"
                 and c.get("kind") == "commission"]
        gates = [float(g.get("min_attainment", 0.0)) for g in rp.get("gates") or []
                 if g.get("measure", "revenue") == "revenue" and g.get("target", "quota") == "quota"
                 and set(g.get("components") or ()) & set(comms)]
        team = rp.get("team") or {}
        return {
            "target_level": float((rp.get("quota") or {}).get("level", 1.0)),
            "team_weight": float(team.get("weight", 0.0)),
            "team_split": team.get("split", "equal"),
            "threshold": float(curves[0]["points"][0][0]) if curves else None,
            "threshold_max": float(curves[0]["points"][1][0]) if curves and len(curves[0]["points"]) > 1 else 2.0,
            "cap": (None if curves[0].get("cap") is None else float(curves[0]["cap"])) if curves else None,
            "commission_gate": (max(gates) if gates else 0.0) if comms else None,
            "accelerator": 1.0,
        }

    def widget(self, debounce: float = 0.4):
        """An ipywidgets app (:class:`ExplorerApp`): a role selector and the controls; results redrawn on change.

        Every control starts at the role's base-plan value and takes effect as
        soon as it is moved (one back at its base value leaves the base plan
        as it is); updates wait until the controls have been still for
        ``debounce`` seconds and show "computing..." meanwhile.
        """
        return ExplorerApp(self, debounce=debounce).box


class ExplorerApp:
    """The explorer's widgets and their logic, usable without a browser.

    ``controls`` holds the widgets by name; setting a widget's ``value``
    (as a user's move does) schedules an update, which runs after
    ``debounce`` seconds without another change (at once when ``debounce``
    is 0), shows "computing..." in ``status`` meanwhile and then redraws
    ``table`` (HTML) and ``figures`` (PNG images); ``timings`` holds the
    seconds the last update took to the table and to the charts. :meth:`plan_controls` is the
    state as :meth:`Explorer.update` controls; ``box`` is the whole app.
    """

    def __init__(self, explorer: Explorer, debounce: float = 0.4):
        import ipywidgets as w

        self.explorer, self.debounce, self.w = explorer, float(debounce), w
        self.base = explorer.base_values()
        self.controls = _control_widgets(w, explorer.scenario, explorer.role, self.base)
        self.status = w.HTML(value="")
        self.table = w.HTML(value="")
        self.figures = w.VBox([])
        self.error = ""
        self.updates = 0
        self.timings: dict[str, float] = {}
        self._pending = 0
        self._resetting = False
        self.controls["role"].observe(self._new_role, names="value")
        self.controls["cap"].observe(self._cap_moved, names="value")  # before the update it schedules
        for name, ctl in self.controls.items():
            if name != "role":
                ctl.observe(self._changed, names="value")
        c = self.controls
        self.box = w.VBox([w.VBox([c["role"], c["target_level"], c["team_weight"], c["team_split"], c["threshold"],
                                   c["commission_gate"], w.HBox([c["cap_rule"], c["cap"]]), c["accelerator"]]),
                           self.status, self.table, self.figures])
        self.refresh()

    def plan_controls(self) -> dict[str, Any]:
        """The widget's state as explorer controls: a control's value where it differs from the base plan's,
        else :data:`AS_BASE`."""
        return _control_values(self.controls, self.base)

    def _changed(self, *_):
        if not self._resetting:
            self.schedule()

    def _cap_moved(self, change):
        if not self._resetting and self.controls["cap_rule"].value != "slider":
            self._resetting = True  # moving the cap slider means "capped at the slider"
            try:
                self.controls["cap_rule"].value = "slider"
            finally:
                self._resetting = False

    def _new_role(self, change):
        self._resetting = True
        try:  # every control starts at the new role's base-plan values
            self.base = self.explorer.base_values(change["new"])
            _reset_controls(self.controls, self.base)
        finally:
            self._resetting = False
        self.schedule()

    def schedule(self) -> None:
        """Show "computing..." and update after ``debounce`` seconds unless another change comes first."""
        self._pending += 1
        ticket = self._pending
        self.status.value = "<i>computing...</i>"
        if self.debounce <= 0:
            self.refresh()
            return
        try:
            import asyncio

            asyncio.get_running_loop().call_later(self.debounce, self._fire, ticket)
        except RuntimeError:  # no event loop (plain Python): a timer thread
            import threading

            t = threading.Timer(self.debounce, self._fire, args=(ticket,))
            t.daemon = True
            t.start()

    def _fire(self, ticket: int) -> None:
        if ticket == self._pending:  # the controls have been still since this change
            self.refresh()

    def refresh(self) -> None:
        """Simulate the current controls now and redraw the table and figures (an error is shown, not raised)."""
        import time

        from simlib.report.notebook import escape_frame

        t0 = time.perf_counter()
        self.status.value = "<i>computing...</i>"
        try:
            r = self.explorer.update(role=self.controls["role"].value, **self.plan_controls())
        except Exception as exc:  # noqa: BLE001 - show the user what was wrong, keep the app alive
            import html

            self.error = str(exc)
            self.status.value = f"<b>error:</b> {html.escape(self.error)}"
            return
        self.error = ""
        currency = self.explorer.scenario.currency
        self.table.value = escape_frame(readable_table(r["table"], currency)).style.hide(axis="index").to_html()
        t_table = time.perf_counter() - t0
        self.status.value = "<i>drawing the charts...</i>"
        self.figures.children = [self.w.Image(value=_png(f), format="png") for f in r["figures"]]
        self.updates += 1
        self.timings = {"table": t_table, "total": time.perf_counter() - t0}
        what = "variant vs base plan" if r["changed"] else "base plan (move a control to compare)"
        self.status.value = f"{what}; table in {t_table:.2f} s, charts in {self.timings['total']:.2f} s"


#: margins of the widget's charts around their axes (left, bottom, right, top), inches: room for tick
#: labels (money as "1.2 M"), axis labels and a title
MARGINS = (0.95, 0.65, 0.2, 0.4)

#: most intervals between ticks on a widget chart's axis
TICKS = 4

#: resolution of the widget's chart images (screen resolution: a quarter of the pixels of 144 dpi)
PNG_DPI = 72


def _png(fig: Any) -> bytes:
    """A single-chart matplotlib figure as PNG bytes at :data:`PNG_DPI` (Agg, no pyplot state).

    The chart gets fixed margins (:data:`MARGINS`, inches) instead of the
    figure's layout engine (a layout engine, or a tight bounding box, draws
    the figure once more to measure its labels, which doubles the time) and
    at most :data:`TICKS` intervals between ticks per axis (ticks and their
    labels are most of a small chart's drawing time).
    """
    import io

    w, h = fig.get_size_inches()
    left, bottom, right, top = MARGINS
    fig.set_layout_engine("none")
    for ax in fig.axes:
        if ax.get_visible():
            ax.set_position([left / w, bottom / h, 1 - (left + right) / w, 1 - (bottom + top) / h])
            ax.locator_params(nbins=TICKS)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PNG_DPI)
    return buf.getvalue()


def _key_table(s: pd.DataFrame, d: pd.DataFrame, base_plan: str, groups: list[str]) -> pd.DataFrame:
    """Key metrics per group: base, and when there is a variant (``explore``) its value and the paired
    difference with its 95% CI."""
    level = s.set_index(["plan", "group", "metric"])["mean"].to_dict()
    level_se = s.set_index(["plan", "group", "metric"])["se"].to_dict()
    diff = d[d["plan"] == "explore"].set_index(["group", "metric"])[["diff", "ci_low", "ci_high"]].to_dict("index")
    variant = any(k[0] == "explore" for k in level)
    rows = []
    for g in groups:
        for m in KEY_METRICS:
            if (base_plan, g, m) not in level or (variant and ("explore", g, m) not in level):
                continue
            row = dict(group=g, metric=m, base=float(level[(base_plan, g, m)]),
                       base_se=float(level_se.get((base_plan, g, m), np.nan)))
            if variant:
                dd = diff.get((g, m), {})
                row.update(variant=float(level[("explore", g, m)]),
                           variant_se=float(level_se.get(("explore", g, m), np.nan)), diff=float(dd.get("diff", np.nan)),
                           diff_ci_low=float(dd.get("ci_low", np.nan)), diff_ci_high=float(dd.get("ci_high", np.nan)))
            rows.append(row)
    return pd.DataFrame(rows)


def readable_table(table: pd.DataFrame, currency: str = "EUR") -> pd.DataFrame:
    """The key table as people read it: metric display names, values in their unit (money in ``currency``
    scaled to k / M, shares in %) with their 95% CI half-width, and the paired change with its 95% CI half-width
    (changes of shares in pp).

    ``table`` is :meth:`Explorer.update`'s ``"table"`` (numbers); the result holds text cells.
    """
    import simlib.present as present
    from simlib.format import Z95

    def level(col):  # each level with its 95% CI half-width, as every simulated figure of a report
        ses = table[f"{col}_se"] if f"{col}_se" in table else [None] * len(table)
        return [present.fmt(v, None if s is None or s != s else s, m, currency)
                for v, s, m in zip(table[col], ses, table["metric"], strict=False)]

    out = pd.DataFrame({"group": table["group"], "metric": [present.label(m) for m in table["metric"]],
                        "base plan": level("base")})
    if "variant" in table:
        out["variant"] = level("variant")
        out["change (95% CI)"] = [
            present.fmt(r.diff, (r.diff_ci_high - r.diff_ci_low) / (2 * Z95), r.metric, currency, signed=True)
            for r in table.itertuples()]
    return out


def headline(snap: dict[str, Any], currency: str = "EUR") -> str:
    """One sentence for the report index: the role's profit and incentive cost under the snapshot's plan, and
    the change against the base plan when a control was moved."""
    t = readable_table(snap["table"], currency)
    t = t[t["group"] == snap["role"]].set_index("metric")
    import simlib.present as present

    prof, cost = present.label("profit"), present.label("incentive_cost")
    role = present.readable(snap["role"])  # in words, as the other reports' answers name roles
    if prof not in t.index or cost not in t.index:
        return f"Snapshot of {role}: open the report for its results."
    if "variant" in t:
        moved = ", ".join(f"{present.readable(k)} {v}" for k, v in snap["controls"].items() if not _is_base(v))
        return (f"{role} with {moved}: profit {t.loc[prof, 'change (95% CI)']} and incentive cost "
                f"{t.loc[cost, 'change (95% CI)']} against the base plan.")
    return (f"{role} under the base plan: profit {t.loc[prof, 'base plan']}, incentive cost "
            f"{t.loc[cost, 'base plan']} (move the controls in JupyterLab to compare).")


#: the controls' slider ranges (lowest, highest, step); a base value outside widens the range
SLIDERS = {"target_level": (0.7, 1.4, 0.05), "team_weight": (0.0, 1.0, 0.05), "threshold": (0.0, 0.95, 0.05),
           "commission_gate": (0.0, 1.0, 0.05), "cap": (1.0, 5.0, 0.1), "accelerator": (0.0, 3.0, 0.1)}

#: a slider within this of its base value is at the base value
_TOL = 1e-9


def _control_widgets(w: Any, scenario: Any, role: str, base: dict[str, Any]) -> dict[str, Any]:
    """The widget's controls by name (ipywidgets module ``w``), each at the role's base-plan value."""
    style = {"description_width": "110px"}

    def slider(name, desc):
        lo, hi, step = SLIDERS[name]
        return w.FloatSlider(value=lo, min=lo, max=hi, step=step, description=desc, style=style,
                             continuous_update=False)

    c = {
        "role": w.Dropdown(options=list(scenario.roles), value=role, description="role", style=style),
        "target_level": slider("target_level", "target level"),
        "team_weight": slider("team_weight", "team weight"),
        "team_split": w.Dropdown(options=[("equal", "equal"), ("by contribution", "contribution")],
                                 value="equal", description="team split", style=style),
        "threshold": slider("threshold", "threshold"),
        "commission_gate": slider("commission_gate", "commission gate"),
        "cap_rule": w.Dropdown(options=[("capped at", "slider"), ("uncapped", "none")], value="slider",
                               description="cap", style=style),
        "cap": slider("cap", "cap (x target)"),
        "accelerator": slider("accelerator", "accelerator"),
    }
    _reset_controls(c, base)
    return c


def _reset_controls(c: dict[str, Any], base: dict[str, Any]) -> None:
    """Put every control at its base value; a control the role has nothing to apply to is disabled."""
    for name in ("target_level", "team_weight", "threshold", "commission_gate", "cap", "accelerator"):
        lo, hi, _ = SLIDERS[name]
        v = base[name]
        if name == "threshold" and base["threshold"] is not None:
            hi = min(hi, base["threshold_max"] - 0.01)
        s = c[name]
        s.disabled = v is None and name in ("threshold", "commission_gate")
        v = (lo if name != "cap" else 2.5) if v is None else v
        s.max = max(hi, v, lo)  # the maximum first: the old minimum is never above it
        s.min = min(lo, v)
        s.value = v
    c["team_split"].value = base["team_split"]
    no_curve = base["threshold"] is None
    c["cap_rule"].value = "none" if base["cap"] is None else "slider"
    c["cap_rule"].disabled = c["cap"].disabled = no_curve
    c["accelerator"].disabled = no_curve and base["commission_gate"] is None


def _control_values(c: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The widget's state as explorer controls: a value where it differs from ``base``, else :data:`AS_BASE`."""

    def moved(name):
        v = c[name].value
        return AS_BASE if c[name].disabled or (base[name] is not None and abs(v - base[name]) <= _TOL) else v

    cap = None if c["cap_rule"].value == "none" else c["cap"].value
    same_cap = cap == base["cap"] or (cap is not None and base["cap"] is not None and abs(cap - base["cap"]) <= _TOL)
    return dict(
        target_level=moved("target_level"),
        team_weight=moved("team_weight"),
        team_split=AS_BASE if c["team_split"].value == base["team_split"] else c["team_split"].value,
        threshold=moved("threshold"),
        commission_gate=moved("commission_gate"),
        cap=AS_BASE if c["cap"].disabled or same_cap else cap,
        accelerator=moved("accelerator"),
    )
