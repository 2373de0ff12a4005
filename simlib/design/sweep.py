"""Parameter sweeps: grids and space-filling designs over plan and scenario parameters.

Every point of a sweep is simulated on the same random numbers (common
random numbers, CRN): all points use one seed, and variant plans that share a
scenario are simulated together in one :func:`simlib.simulate` call, so the
differences between points -- and against the base plan -- are paired and
have far smaller Monte Carlo error than the points themselves.

Parameters are named by an alias or by a dotted path:

========================  ==================================================
``target_level``          quota level (``quota.level``) of every role
``team_weight``           team share of incentive (``team.weight``)
``threshold``             attainment of the first point of revenue curves
``cap``                   cap of revenue curves (multiple of target payout;
                          ``None`` = uncapped)
``accelerator``           multiplier of the slope above 100% attainment
                          (revenue curves and revenue commission tiers)
``commission_rate``       multiplier of every commission tier's rate
``pay_mix``               variable share of on-target earnings (OTE) at
                          constant OTE; money-denominated elements
                          (commission rates, per-unit rates, lump sums) are
                          scaled with the target incentive
``period``                assessment period of revenue components
                          (``month``, ``quarter``, ``half``, ``year``)
``roles.R.a.b``           any field of the base plan; ``R`` may be ``*``
                          (every role); components are addressed by name
``scenario.a.b``          any field of the scenario, e.g.
                          ``scenario.market.growth_sd``
========================  ==================================================

An alias may be restricted to one role with ``alias@role`` (for example
``target_level@telesales``).
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from simlib.engine.core import resolve_behaviour
from simlib.errors import PlanError, Problem, ScenarioError
from simlib.scenario import PERIODS, Plan, Scenario, as_scenario, scenario_from_dict

#: alias -> short description (for help texts and errors)
ALIASES: dict[str, str] = {
    "target_level": "quota level of every role (quota.level), e.g. 0.9,1.0,1.1",
    "team_weight": "team share of incentive (team.weight), 0..1",
    "threshold": "attainment at the first point of revenue pay curves (fraction of quota)",
    "cap": "cap of revenue pay curves (multiple of target payout); 'none' = uncapped",
    "accelerator": "multiplier of the pay slope above 100% attainment (revenue curves and commission tiers)",
    "commission_rate": "multiplier of every commission tier's rate",
    "pay_mix": "variable share of OTE (target incentive / (base + target incentive)) at constant OTE, 0..1",
    "period": "assessment period of revenue components: month, quarter, half or year",
}

DESIGNS = ("grid", "sobol", "lhs")

#: variant plans simulated together in one engine call (bounds memory; the base plan joins every call)
PLANS_PER_CALL = 40

SWEEP_PREFIX = "__sweep_"


# --------------------------------------------------------------------------
# Parameters: names -> edits of a plan dict or a scenario dict
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamSpec:
    """A parsed sweep parameter.

    Attributes
    ----------
    name : str
        As given by the user (and used as the output column).
    kind : str
        ``"alias"``, ``"plan"`` (dotted path into the plan) or ``"scenario"``.
    key : str
        The alias name, or the dotted path without the ``scenario.`` prefix.
    roles : tuple of str or None
        Roles an alias applies to (None = every role).
    """

    name: str
    kind: str
    key: str
    roles: tuple[str, ...] | None = None

    @property
    def scenario_level(self) -> bool:
        return self.kind == "scenario"


def parse_param(name: str, scenario: Scenario) -> ParamSpec:
    """Recognise a parameter name (alias, ``alias@role``, plan path or ``scenario.`` path)."""
    if not isinstance(name, str) or not name.strip():
        raise PlanError(f"sweep parameter: expected a non-empty name, got {name!r}")
    name = name.strip()
    if name.startswith("scenario."):
        key = name[len("scenario."):]
        if not key:
            raise PlanError("sweep parameter 'scenario.': expected a field path after 'scenario.'")
        return ParamSpec(name, "scenario", key)
    if name.startswith("plan."):
        return ParamSpec(name, "plan", name[len("plan."):])
    if name.startswith("roles.") or name in ("description",):
        return ParamSpec(name, "plan", name)
    alias, _, roles = name.partition("@")
    if alias not in ALIASES:
        raise PlanError(
            f"sweep parameter '{name}': unknown; expected one of the aliases {sorted(ALIASES)} "
            f"(optionally alias@role), a plan path such as 'roles.telesales.team.weight' "
            f"('*' for every role) or a scenario path such as 'scenario.market.growth_sd'"
        )
    rs = None
    if roles:
        rs = tuple(r for r in roles.split("+") if r)
        bad = [r for r in rs if r not in scenario.roles]
        if bad:
            raise PlanError(f"sweep parameter '{name}': unknown role(s) {bad}, expected some of {sorted(scenario.roles)}")
    return ParamSpec(name, "alias", alias, rs)


def _segments(path: str) -> list[str]:
    return [s for s in path.split(".")]


def _set_path(obj: Any, segs: list[str], value: Any, where: str) -> int:
    """Set ``value`` at dotted ``segs`` inside nested dicts/lists; ``*`` fans out. Returns edits made."""
    if not segs:
        raise PlanError(f"{where}: empty path")
    head, rest = segs[0], segs[1:]
    if isinstance(obj, dict):
        keys = list(obj) if head == "*" else [head]
        n = 0
        for k in keys:
            if not rest:
                obj[k] = copy.deepcopy(value)
                n += 1
                continue
            if k not in obj or obj[k] is None:
                raise PlanError(f"{where}: no field '{k}' here, expected one of {sorted(obj)}")
            n += _set_path(obj[k], rest, value, where)
        return n
    if isinstance(obj, list):
        if head == "*":
            idx = list(range(len(obj)))
        elif head.lstrip("-").isdigit():
            i = int(head)
            if not -len(obj) <= i < len(obj):
                raise PlanError(f"{where}: index {i} out of range for a list of {len(obj)}")
            idx = [i]
        else:
            idx = [i for i, x in enumerate(obj) if isinstance(x, dict) and x.get("name") == head]
            if not idx:
                names = [x.get("name") for x in obj if isinstance(x, dict)]
                raise PlanError(f"{where}: no element named '{head}', expected one of {names} or an index")
        n = 0
        for i in idx:
            if not rest:
                obj[i] = copy.deepcopy(value)
                n += 1
            else:
                n += _set_path(obj[i], rest, value, where)
        return n
    raise PlanError(f"{where}: cannot descend into a {type(obj).__name__} at '{head}'")


def set_threshold(c: dict, t: float, where: str) -> None:
    """Move a pay curve's first point (the attainment below which it pays nothing) to ``t``."""
    pts = [[float(x), float(y)] for x, y in c["points"]]
    if len(pts) > 1 and t >= pts[1][0]:
        raise PlanError(f"{where}: threshold {t:g} must stay below the next curve point ({pts[1][0]:g}) "
                        f"of component '{c['name']}'")
    pts[0][0] = t
    c["points"] = pts


def _revenue_components(rp: dict, kinds: tuple[str, ...]) -> list[dict]:
    return [c for c in rp["components"] if c.get("measure", "revenue") == "revenue" and c.get("kind", "curve") in kinds]


def _curve_value(points: list, x: float, beyond: str) -> float:
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    if x < xs[0]:
        return 0.0
    if x >= xs[-1]:
        if len(xs) == 1 or beyond == "flat":
            return ys[-1]
        return ys[-1] + (ys[-1] - ys[-2]) / (xs[-1] - xs[-2]) * (x - xs[-1])
    return float(np.interp(x, xs, ys))


def accelerate_curve(c: dict, a: float) -> None:
    """Multiply the slope of a pay curve (component dict, in place) above 100% attainment by ``a``."""
    pts = [[float(x), float(y)] for x, y in c["points"]]
    if pts[-1][0] <= 1.0:
        if c.get("beyond", "extend") == "flat" or len(pts) == 1:
            return  # nothing is paid for attainment above 100% beyond a flat end
        # the extension beyond the last point is the slope above 100%: add an explicit point
        v2 = _curve_value(pts, 2.0, "extend")
        pts.append([2.0, v2])
    v1 = _curve_value(pts, 1.0, c.get("beyond", "extend"))
    if pts[0][0] < 1.0 and not any(abs(x - 1.0) < 1e-12 for x, _ in pts):
        pts.append([1.0, v1])
        pts.sort()
    c["points"] = [[x, (v1 + a * (y - v1)) if x > 1.0 else y] for x, y in pts]


def accelerate_tiers(c: dict, a: float) -> None:
    """Multiply the commission rates (component dict, in place) from 100% attainment on by ``a``."""
    tiers = [dict(t) for t in c["tiers"]]
    starts = [float(t["from"]) for t in tiers]
    if not any(s >= 1.0 for s in starts) and starts[0] < 1.0:
        # the last tier straddles 100%: split it at 1.0
        tiers.append({"from": 1.0, "rate": tiers[-1]["rate"]})
    else:
        for i in range(len(tiers) - 1):
            if starts[i] < 1.0 < starts[i + 1]:
                tiers.insert(i + 1, {"from": 1.0, "rate": tiers[i]["rate"]})
                break
    for t in tiers:
        if float(t["from"]) >= 1.0:
            t["rate"] = float(t["rate"]) * a
    c["tiers"] = tiers


def _number(spec: ParamSpec, v: Any, lo: float | None = None, hi: float | None = None) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise PlanError(f"sweep parameter '{spec.name}': expected a number, got {v!r}") from None
    if not math.isfinite(x) or (lo is not None and x < lo) or (hi is not None and x > hi):
        rng = f" in [{lo}, {hi}]" if hi is not None else (f" >= {lo}" if lo is not None else "")
        raise PlanError(f"sweep parameter '{spec.name}': expected a finite number{rng}, got {v!r}")
    return x


def _apply_alias(spec: ParamSpec, plan: dict, scen: dict, value: Any) -> None:
    roles = spec.roles or tuple(plan["roles"])
    touched = 0
    for rname in roles:
        rp = plan["roles"][rname]
        role = scen["roles"][rname]
        a = spec.key
        if a == "target_level":
            rp.setdefault("quota", {})["level"] = _number(spec, value, 1e-9, 5.0)
            touched += 1
        elif a == "team_weight":
            rp.setdefault("team", {})["weight"] = _number(spec, value, 0.0, 1.0)
            touched += 1
        elif a == "threshold":
            t = _number(spec, value, 0.0)
            for c in _revenue_components(rp, ("curve",)):
                set_threshold(c, t, f"sweep parameter '{spec.name}', role {rname}")
                touched += 1
        elif a == "cap":
            cap = None if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "inf")) else _number(spec, value, 1e-9)
            for c in _revenue_components(rp, ("curve",)):
                c["cap"] = cap
                touched += 1
        elif a == "accelerator":
            m = _number(spec, value, 0.0)
            for c in _revenue_components(rp, ("curve",)):
                accelerate_curve(c, m)
                touched += 1
            for c in _revenue_components(rp, ("commission",)):
                accelerate_tiers(c, m)
                touched += 1
        elif a == "commission_rate":
            m = _number(spec, value, 0.0)
            for c in rp["components"]:
                if c.get("kind") == "commission":
                    c["tiers"] = [{**t, "rate": float(t["rate"]) * m} for t in c["tiers"]]
                    touched += 1
        elif a == "pay_mix":
            v = _number(spec, value, 0.0, 1.0)
            base = rp.get("base_salary")
            ti = rp.get("target_incentive")
            base = role["base_salary"] if base is None else base
            ti = role["target_incentive"] if ti is None else ti
            ote = float(base) + float(ti)
            new_ti = v * ote
            r = new_ti / ti if ti > 0 else None
            rp["base_salary"] = ote - new_ti
            rp["target_incentive"] = new_ti
            if r is None and any(c.get("kind") in ("commission", "per_unit", "lump_sum") for c in rp["components"]):
                raise PlanError(f"sweep parameter '{spec.name}': role {rname} has no target incentive to scale money elements from")
            for c in rp["components"]:
                if c.get("kind") == "commission":
                    c["tiers"] = [{**t, "rate": float(t["rate"]) * r} for t in c["tiers"]]
                elif c.get("kind") == "per_unit":
                    c["rate"] = float(c["rate"]) * r
                elif c.get("kind") == "lump_sum":
                    c["steps"] = [{**s, "amount": float(s["amount"]) * r} for s in c["steps"]]
            touched += 1
        elif a == "period":
            if value not in PERIODS:
                raise PlanError(f"sweep parameter '{spec.name}': expected one of {list(PERIODS)}, got {value!r}")
            for c in _revenue_components(rp, ("curve", "commission", "lump_sum")):
                c["period"] = value
                touched += 1
    if touched == 0:
        raise PlanError(
            f"sweep parameter '{spec.name}': the base plan has nothing it applies to "
            f"in role(s) {list(roles)} (e.g. no revenue curve or commission component)"
        )


def apply_point(scenario: Scenario, base_plan: str, specs: Sequence[ParamSpec], values: Sequence[Any]) -> tuple[dict, dict]:
    """Apply one point's parameter values.

    Returns
    -------
    scenario_dict : dict
        The scenario as a dict with scenario-level parameters applied.
    plan_dict : dict
        The base plan as a dict with plan parameters applied.
    """
    scen = scenario.model_dump(by_alias=True, mode="json")
    for spec, v in zip(specs, values, strict=False):
        if spec.scenario_level:
            _set_path(scen, _segments(spec.key), v, f"sweep parameter '{spec.name}'")
    plan = copy.deepcopy(scen["plans"][base_plan])
    for spec, v in zip(specs, values, strict=False):
        if spec.kind == "alias":
            _apply_alias(spec, plan, scen, v)
        elif spec.kind == "plan":
            segs = _segments(spec.key)
            if segs[0] == "roles" and len(segs) > 1 and segs[1] not in plan["roles"] and segs[1] != "*":
                raise PlanError(f"sweep parameter '{spec.name}': unknown role '{segs[1]}', expected one of {sorted(plan['roles'])} or '*'")
            _set_path(plan, segs, v, f"sweep parameter '{spec.name}'")
    return scen, plan


# --------------------------------------------------------------------------
# Designs
# --------------------------------------------------------------------------


def _is_range(v: Any) -> bool:
    return isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, (int, float, np.number)) and not isinstance(x, bool) for x in v)


def design_points(
    params: dict[str, Any],
    design: str = "grid",
    n_points: int | None = None,
    seed: int = 0,
) -> list[tuple[Any, ...]]:
    """The points of a design, as tuples of values in the order of ``params``.

    Parameters
    ----------
    params : dict
        name -> list of values (grid, or the choices of a categorical parameter
        in a space-filling design) or ``(low, high)`` tuple (a range, for
        ``sobol``/``lhs``; integer bounds give integer values).
    design : {"grid", "sobol", "lhs"}
        Full factorial grid, scrambled Sobol' sequence or Latin hypercube.
    n_points : int
        Number of points of a space-filling design.
    seed : int
        Seed of the design's scrambling (the simulation seed is separate).
    """
    if design not in DESIGNS:
        raise PlanError(f"design: expected one of {list(DESIGNS)}, got {design!r}")
    if not params:
        raise PlanError("sweep: expected at least one parameter")
    names = list(params)
    for n, v in params.items():
        if _is_range(v):
            if design == "grid":
                raise PlanError(f"sweep parameter '{n}': a (low, high) range needs design 'sobol' or 'lhs'; for a grid give a list of values (CLI: low:high:count)")
            if not v[0] <= v[1]:
                raise PlanError(f"sweep parameter '{n}': range low {v[0]} is above high {v[1]}")
        elif isinstance(v, (list, tuple, np.ndarray)):
            if len(v) == 0:
                raise PlanError(f"sweep parameter '{n}': expected at least one value")
        else:
            raise PlanError(f"sweep parameter '{n}': expected a list of values or a (low, high) range, got {v!r}")
    if design == "grid":
        if n_points is not None:
            raise PlanError("n_points applies to 'sobol' and 'lhs' designs only; a grid has every combination")
        import itertools

        return [tuple(p) for p in itertools.product(*(list(params[n]) for n in names))]
    if not isinstance(n_points, (int, np.integer)) or n_points < 1:
        raise PlanError(f"n_points: design '{design}' needs a positive number of points, got {n_points!r}")
    from scipy.stats import qmc

    d = len(names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Sobol' balance warning for n not a power of 2
        if design == "sobol":
            u = qmc.Sobol(d, scramble=True, rng=np.random.default_rng(seed)).random(int(n_points))
        else:
            u = qmc.LatinHypercube(d, rng=np.random.default_rng(seed)).random(int(n_points))
    pts = []
    for row in u:
        vals = []
        for j, n in enumerate(names):
            v = params[n]
            if _is_range(v):
                lo, hi = v
                x = lo + row[j] * (hi - lo)
                if isinstance(lo, (int, np.integer)) and isinstance(hi, (int, np.integer)):
                    x = int(min(hi, math.floor(lo + row[j] * (hi - lo + 1))))
                vals.append(float(x) if not isinstance(x, int) else x)
            else:
                choices = list(v)
                vals.append(choices[min(len(choices) - 1, int(row[j] * len(choices)))])
        pts.append(tuple(vals))
    return pts


# --------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------


def _seed_label(rng: Any) -> Any:
    if isinstance(rng, (int, np.integer)):
        return int(rng)
    if isinstance(rng, np.random.SeedSequence):
        return str(rng.entropy)
    return str(rng)


def build_variants(
    scenario: Scenario,
    specs: Sequence[ParamSpec],
    points: Sequence[tuple],
    base_plan: str,
) -> list[tuple[Scenario, str, list[tuple[int, str]]]]:
    """Group points by their scenario-level values and build one scenario per group.

    Returns a list of ``(scenario, base_plan, [(point index, plan name), ...])``;
    each scenario holds the base plan (as ``base_plan``) and one plan per point.
    """
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(points):
        key = tuple(repr(v) for s, v in zip(specs, p, strict=False) if s.scenario_level)
        groups.setdefault(key, []).append(i)
    out = []
    for idx in groups.values():
        plans: dict[str, dict] = {}
        scen_dict = None
        names = []
        for i in idx:
            try:
                sd, pd_ = apply_point(scenario, base_plan, specs, points[i])
            except PlanError as exc:
                raise PlanError(f"point {i} ({_describe(specs, points[i])}): {exc}") from None
            if scen_dict is None:
                scen_dict = sd
            name = f"{SWEEP_PREFIX}{i:05d}"
            try:
                Plan(**pd_)
            except Exception as exc:  # pydantic ValidationError: say which point and field
                raise PlanError(f"point {i} ({_describe(specs, points[i])}) gives an invalid plan: {_short(exc)}") from None
            plans[name] = pd_
            names.append((i, name))
        scen_dict = dict(scen_dict)
        scen_dict["plans"] = {base_plan: scen_dict["plans"][base_plan], **plans}
        scen_dict["current_plan"] = base_plan
        try:
            scen = scenario_from_dict(scen_dict, scenario.source)
        except ScenarioError as exc:
            pts = ", ".join(f"{n} = point {i} ({_describe(specs, points[i])})" for i, n in names[:3])
            probs = [Problem(p.source, p.field, p.message) for p in exc.problems]
            raise ScenarioError(probs + [Problem(scenario.source, "sweep", f"plans named {SWEEP_PREFIX}N are sweep points: {pts} ...")]) from None
        out.append((scen, base_plan, names))
    return out


def _describe(specs: Sequence[ParamSpec], values: Sequence[Any]) -> str:
    return ", ".join(f"{s.name}={v!r}" for s, v in zip(specs, values, strict=False))


def _short(exc: Exception) -> str:
    errs = getattr(exc, "errors", None)
    if callable(errs):
        return "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in errs()[:5])
    return str(exc)


def run_sweep(
    scenario: Scenario | str,
    params: dict[str, Any],
    *,
    base_plan: str | None = None,
    trials: int = 1000,
    rng: int | np.random.SeedSequence | None = 0,
    behaviour: str | Any | None = None,
    design: str = "grid",
    n_points: int | None = None,
    executor: Any = None,
    progress: bool = False,
    chunk_size: int | None = None,
    design_seed: int = 0,
    plans_per_call: int = PLANS_PER_CALL,
) -> pd.DataFrame:
    """Simulate a plan at every point of a parameter design on common random numbers.

    Parameters
    ----------
    scenario : Scenario or path
        The scenario (or its YAML file).
    params : dict
        Parameter name -> list of values, or ``(low, high)`` range for
        ``sobol``/``lhs`` designs (see the module docstring for names).
    base_plan : str, optional
        Plan the parameters modify and differences are taken against
        (default: the scenario's current plan).
    trials : int
        Monte Carlo trials per point (the same trials at every point).
    rng : int or SeedSequence
        Seed shared by every point (common random numbers).
    behaviour : str, optional
        Behaviour model name (``"none"``: effort fixed at today's); default:
        the scenario's ``behaviour.mode``, else ``"none"``.
    design : {"grid", "sobol", "lhs"}
        Full grid or space-filling design.
    n_points : int, optional
        Points of a space-filling design.
    executor : None, "auto", concurrent.futures.Executor or dask Client
        Where trial chunks run; results do not depend on it (see
        :mod:`simlib.engine.parallel`).
    progress : bool
        Show a progress bar over points.
    chunk_size : int, optional
        Trials per chunk (results do not depend on it).
    design_seed : int
        Seed of the Sobol' scrambling / Latin hypercube.
    plans_per_call : int
        Variant plans simulated together per engine call (memory bound).

    Returns
    -------
    pandas.DataFrame
        Tidy: one row per point x group x metric with columns ``point``, one
        column per parameter, ``group``, ``metric``, ``mean``, ``se``,
        ``ci_low``, ``ci_high``, ``n``, ``seed``, ``unit``, and the paired
        difference against the base plan (under the same scenario-level
        values): ``diff``, ``diff_se``, ``diff_ci_low``, ``diff_ci_high``.
        Money is per year; ``se`` is the Monte Carlo standard error.
    """
    from simlib.engine.api import simulate
    from simlib.engine.parallel import resolve_executor, work_estimate

    scen = as_scenario(scenario)
    behaviour = resolve_behaviour(scen, behaviour)
    base = base_plan or scen.current_plan
    if base not in scen.plans:
        raise PlanError(f"base_plan: '{base}' is not a plan of {scen.source}, expected one of {sorted(scen.plans)}")
    if not isinstance(params, dict):
        raise PlanError(f"params: expected a dict of name -> values, got {type(params).__name__}")
    specs = [parse_param(n, scen) for n in params]
    points = design_points(params, design, n_points, design_seed)
    variants = build_variants(scen, specs, points, base)
    names = [s.name for s in specs]
    frames = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(points), desc=f"sweep ({trials} trials/point)", unit="point")
    seed = _seed_label(rng)
    with resolve_executor(executor, work=work_estimate(trials * scen.headcount * 12 * max(1, len(points)), behaviour)) as ex:
        for vscen, vbase, named in variants:
            for k in range(0, len(named), max(1, int(plans_per_call))):
                part = named[k : k + plans_per_call]
                res = simulate(
                    vscen, [n for _, n in part], trials=trials, rng=rng, reference=vbase,
                    behaviour=behaviour, chunk_size=chunk_size, executor=ex,
                )
                frames.append(_tidy(res, part, points, names, vbase, seed))
                if bar is not None:
                    bar.update(len(part))
    if bar is not None:
        bar.close()
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values("point", kind="stable").reset_index(drop=True)


def _tidy(res, part, points, names, base, seed) -> pd.DataFrame:
    s = res.summary()
    d = res.differences()
    plan_to_point = {n: i for i, n in part}
    s = s[s["plan"].isin(plan_to_point)].copy()
    d = d[d["plan"].isin(plan_to_point)][["plan", "group", "metric", "diff", "se", "ci_low", "ci_high"]]
    d = d.rename(columns={"se": "diff_se", "ci_low": "diff_ci_low", "ci_high": "diff_ci_high"})
    s = s.merge(d, on=["plan", "group", "metric"], how="left")
    s.insert(0, "point", s["plan"].map(plan_to_point).astype(int))
    for j, n in enumerate(names):
        s.insert(1 + j, n, [points[i][j] for i in s["point"]])
    s["seed"] = seed
    s = s.drop(columns=["plan"])
    cols = ["point", *names, "group", "metric", "mean", "se", "ci_low", "ci_high", "n", "seed", "unit",
            "diff", "diff_se", "diff_ci_low", "diff_ci_high"]
    return s[cols].sort_values(["point"], kind="stable").reset_index(drop=True)
