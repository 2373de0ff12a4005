"""Parameter sweeps: grids and space-filling designs over plan and scenario parameters.

Every point of a sweep is simulated on the same random numbers (common
random numbers, CRN): all points use one seed, and variant plans that share a
scenario are simulated together in one :func:`simlib.simulate` call, so the
differences between points -- and against the base plan -- are paired and
have far smaller Monte Carlo error than the points themselves.

Parameters are named by an alias or by a dotted path:

========================  ==================================================
``target_level`` ...      a plan transform of :mod:`simlib.design.transforms`
                          (``target_level``, ``team_weight``, ``team_split``,
                          ``threshold``, ``commission_gate``, ``cap``,
                          ``accelerator``, ``commission_rate``, ``pay_mix``,
                          ``period``), with the one meaning declared there
``roles.R.a.b``           any field of the base plan; ``R`` may be ``*``
                          (every role); components are addressed by name
``scenario.a.b``          any field of the scenario, e.g.
                          ``scenario.market.growth_sd``
========================  ==================================================

An alias may be restricted to one role with ``alias@role`` (for example
``target_level@telesales``), or to several with ``alias@role1+role2``.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import ValidationError

if TYPE_CHECKING:
    import pandas as pd

from simlib.design.transforms import TRANSFORMS, get_transform, set_path
from simlib.errors import PlanError, Problem, ScenarioError
from simlib.scenario import Plan, Scenario, as_scenario, problems_of, scenario_from_dict

#: alias -> one line on its meaning and values (for help texts); the transforms are in TRANSFORMS
ALIASES: dict[str, str] = {name: t.help for name, t in TRANSFORMS.items()}

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
        ``"alias"`` (a plan transform), ``"plan"`` (dotted path into the plan) or ``"scenario"``.
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
    if alias not in TRANSFORMS:
        raise PlanError(
            f"sweep parameter '{name}': unknown; expected one of the aliases {sorted(TRANSFORMS)} "
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


def apply_point(scenario: Scenario, base_plan: str, specs: Sequence[ParamSpec], values: Sequence[Any]) -> tuple[dict, dict]:
    """Apply one point's parameter values: scenario paths first, then plan edits in the order given.

    Returns
    -------
    scenario_dict : dict
        The scenario as a dict with scenario-level parameters applied.
    plan_dict : dict
        The base plan as a dict with plan parameters (transforms and plan paths) applied.
    """
    scen = scenario.model_dump(by_alias=True, mode="json")
    for spec, v in zip(specs, values, strict=False):
        if spec.scenario_level:
            set_path(scen, spec.key, v, f"sweep parameter '{spec.name}'")
    plan = copy.deepcopy(scen["plans"][base_plan])
    for spec, v in zip(specs, values, strict=False):
        where = f"sweep parameter '{spec.name}'"
        if spec.kind == "alias":
            plan = get_transform(spec.key).apply(plan, v, roles=spec.roles, scenario=scen, where=where)
        elif spec.kind == "plan":
            segs = spec.key.split(".")
            if segs[0] == "roles" and len(segs) > 1 and segs[1] not in plan["roles"] and segs[1] != "*":
                raise PlanError(f"{where}: unknown role '{segs[1]}', expected one of {sorted(plan['roles'])} or '*'")
            set_path(plan, segs, v, where)
    return scen, plan


# --------------------------------------------------------------------------
# Designs
# --------------------------------------------------------------------------


def _is_range(v: Any) -> bool:
    return isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, (int, float, np.number)) and not isinstance(x, bool) for x in v)


#: most points of one sweep design (a grid's combinations, or a sobol/lhs design's points)
MAX_POINTS = 1_000_000


def design_size(params: dict[str, Any], design: str = "grid", n_points: int | None = None) -> int:
    """Points a design has, computed without building it (the product of a grid's value counts, else ``n_points``)."""
    if design != "grid":
        return int(n_points or 0)
    return math.prod(len(v) for v in params.values() if isinstance(v, (list, tuple, np.ndarray)) and not _is_range(v))


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
    size = design_size(params, design, n_points)
    if size > MAX_POINTS:
        raise PlanError(f"sweep: the design has {size:,} points, more than the limit of {MAX_POINTS:,}")
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
    each scenario holds the base plan (as ``base_plan``) and one plan per point, and keeps the scenario's
    ``current_plan`` as today's plan (also held when it is not the base plan), as ``simlib run`` has it.
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
        # today's plan (the behaviour anchor) stays the scenario's current plan, as `run` has it: a sweep of
        # another base plan shows each point's levels as `run` does, not as if reps worked under the base today
        today = scenario.current_plan
        keep = {base_plan: scen_dict["plans"][base_plan]}
        if today != base_plan:
            keep[today] = scen_dict["plans"][today]
        scen_dict["plans"] = {**keep, **plans}
        scen_dict["current_plan"] = today
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
    if isinstance(exc, ValidationError):  # as a scenario file's problems read: field path, plain message
        return "; ".join(f"{p.field}: {p.message}" for p in problems_of(exc)[:5])
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
    behaviour_draws: int = 0,
    behaviour_seed: int | None = None,
    allow_large: bool = False,
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
        Behaviour model name (``"none"``: effort fixed at today's;
        ``"dynamic"``: reps respond to each plan), resolved as in ``run``
        (:func:`simlib.engine.core.resolve_behaviour`): this argument, else
        the scenario's ``behaviour.mode``, else ``"dynamic"``.
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
    behaviour_draws : int
        0 (default): one run at the scenario's behavioural parameters. K >= 1:
        every point under K behavioural parameter draws from the priors, on
        the same random numbers (:func:`simlib.engine.ensemble.simulate_ensemble`);
        ``mean``/``diff`` are then means over draws, ``se``/``diff_se`` pooled
        Monte Carlo SEs, the CIs total intervals, and the table gains
        ``model_sd``, ``diff_model_sd`` and ``diff_share_positive`` (share of
        draws where the point beats the base plan's value, i.e. its difference is above 0).
    behaviour_seed : int, optional
        Seed of the behavioural parameter design (default: the scenario's
        ``behaviour.uncertainty.seed``); every point uses the same draws.
    allow_large : bool
        Run past the size limits of :func:`simlib.engine.core.check_request`
        (``--allow-large``); without it an oversized sweep (trials x reps x
        points x draws) is refused before any point is simulated.

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
    import pandas as pd

    from simlib.engine.api import simulate_ensemble
    from simlib.engine.core import check_request, prepare_run, resolve_behaviour, simulate_runs
    from simlib.engine.parallel import resolve_executor, work_estimate
    from simlib.engine.results import SimulationResult

    scen = as_scenario(scenario)
    behaviour = resolve_behaviour(scen, behaviour)
    base = base_plan or scen.current_plan
    if base not in scen.plans:
        raise PlanError(f"base_plan: '{base}' is not a plan of {scen.source}, expected one of {sorted(scen.plans)}")
    if not isinstance(params, dict):
        raise PlanError(f"params: expected a dict of name -> values, got {type(params).__name__}")
    specs = [parse_param(n, scen) for n in params]
    points = design_points(params, design, n_points, design_seed)
    if all(isinstance(x, (int, np.integer)) for x in (trials, behaviour_draws)):
        check_request(scen, int(trials), 2, points=len(points), draws=int(behaviour_draws), allow_large=allow_large)
    variants = build_variants(scen, specs, points, base)
    names = [s.name for s in specs]
    frames = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(points), desc=f"sweep ({trials} trials/point)", unit="point")
    seed = _seed_label(rng)
    work = trials * scen.headcount * 12 * max(1, len(points)) * max(1, int(behaviour_draws))
    ppc = max(1, int(plans_per_call))
    parts = [(vscen, vbase, named[k : k + ppc]) for vscen, vbase, named in variants for k in range(0, len(named), ppc)]
    with resolve_executor(executor, work=work_estimate(work, behaviour)) as ex:
        if behaviour_draws:
            for vscen, vbase, part in parts:
                ens = simulate_ensemble(vscen, [n for _, n in part], behaviour_draws=int(behaviour_draws),
                                        design_seed=behaviour_seed, trials=trials, rng=rng, reference=vbase,
                                        behaviour=behaviour, chunk_size=chunk_size, executor=ex,
                                        allow_large=True)  # the whole sweep was checked above
                frames.append(_tidy_ensemble(ens, part, points, names, seed))
                if bar is not None:
                    bar.update(len(part))
        else:
            # every part is a run of one batch: all plans solved as tasks, every part's chunks queued as soon as
            # its plans are solved (no part waits for the one before it)
            runs = [prepare_run(vscen, [n for _, n in part], vbase, behaviour, keep_draws=True)
                    for vscen, vbase, part in parts]
            done = (lambda i: bar.update(len(parts[i][2]))) if bar is not None else None
            raws = simulate_runs(runs, trials=trials, rng=rng, chunk_size=chunk_size, executor=ex, on_done=done)
            for raw, (_, vbase, part) in zip(raws, parts, strict=True):
                frames.append(_tidy(SimulationResult(raw), part, points, names, vbase, seed))
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


def _tidy_ensemble(ens, part, points, names, seed) -> pd.DataFrame:
    """:func:`_tidy` of an :class:`~simlib.engine.ensemble.EnsembleResult`: pooled MC SEs, total CIs, model SDs, sign shares."""
    s = ens.summary().rename(columns={"mc_se": "se"})
    d = ens.differences().rename(columns={"mc_se": "se"})
    plan_to_point = {n: i for i, n in part}
    s = s[s["plan"].isin(plan_to_point)].copy()
    d = d[d["plan"].isin(plan_to_point)][["plan", "group", "metric", "diff", "se", "ci_low", "ci_high", "model_sd",
                                          "share_positive"]]
    d = d.rename(columns={"se": "diff_se", "ci_low": "diff_ci_low", "ci_high": "diff_ci_high",
                          "model_sd": "diff_model_sd", "share_positive": "diff_share_positive"})
    s = s.merge(d, on=["plan", "group", "metric"], how="left")
    s.insert(0, "point", s["plan"].map(plan_to_point).astype(int))
    for j, n in enumerate(names):
        s.insert(1 + j, n, [points[i][j] for i in s["point"]])
    s["seed"] = seed
    cols = ["point", *names, "group", "metric", "mean", "se", "model_sd", "ci_low", "ci_high", "n", "draws", "seed",
            "unit", "diff", "diff_se", "diff_model_sd", "diff_ci_low", "diff_ci_high", "diff_share_positive"]
    return s[cols].sort_values(["point"], kind="stable").reset_index(drop=True)
