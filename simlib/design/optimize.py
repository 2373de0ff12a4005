"""Constrained plan optimisation by sample average approximation (SAA).

Every candidate plan is simulated with the same seed, so each sees the same
reps, market and shocks (common random numbers) and the Monte Carlo
objective is a deterministic function of the plan parameters. The
optimiser:

1. evaluates a scrambled Sobol' design over the parameter box (one engine
   call for the whole batch);
2. polishes the best start with ``scipy.optimize.minimize`` (Nelder-Mead on
   an exact-penalty objective, or COBYLA with the constraints), in
   coordinates scaled to the unit box;
3. returns the best *feasible* plan evaluated (constraints hold on the SAA
   means), re-simulated next to the base plan for paired differences, with
   95% CIs, which constraints bind, and -- optionally -- how the answer moves
   when behavioural or scenario parameters are perturbed.

Constraints are written ``metric OP bound`` (``OP`` one of ``<=``, ``>=``),
optionally ``low <= metric <= high`` and ``metric@role`` for one role.
``over_budget <= p`` means P(incentive cost > budget) <= p and is enforced
through the equivalent order statistic of the per-trial incentive cost (a
continuous function of the parameters, unlike the share itself).
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from simlib.design.sweep import PLANS_PER_CALL, ParamSpec, build_variants, parse_param
from simlib.design.transforms import scale_path, set_path
from simlib.engine.core import check_request, resolve_behaviour
from simlib.engine.results import TAIL_METRICS
from simlib.errors import PlanError, SimlibError
from simlib.format import interval
from simlib.model.metrics import METRICS
from simlib.present import unit as metric_unit
from simlib.scenario import Scenario, as_scenario, scenario_from_dict

#: perturbations of behavioural parameters re-optimised under by default when a behaviour model is on
BEHAVIOUR_SENSITIVITY = (
    "scenario.roles.*.effort_elasticity*=0.8",
    "scenario.behaviour.effort.cost_exponent*=0.75,1.25",
    "scenario.behaviour.effort.risk_aversion=0.5",
)
_OPS = ("<=", ">=")
_TAIL = set(TAIL_METRICS)


# --------------------------------------------------------------------------
# Objective and constraints
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Constraint:
    """``metric[@group] op bound`` on the SAA mean of a metric.

    Attributes
    ----------
    metric : str
        A metric name (:data:`simlib.model.metrics.METRICS`).
    group : str
        Role name or ``"total"``.
    op : str
        ``"<="`` or ``">="``.
    bound : float
        In the metric's unit.
    """

    metric: str
    group: str
    op: str
    bound: float

    def __str__(self) -> str:
        g = "" if self.group == "total" else f"@{self.group}"
        return f"{self.metric}{g} {self.op} {self.bound:g}"


_NAME = r"([A-Za-z_][\w]*)(?:@([A-Za-z_][\w]*))?"
_NUM = r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"  # one way to match each string: no backtracking blow-up
#: longest constraint or objective text accepted (characters)
MAX_EXPRESSION = 200


def _finite(value: float, what: str) -> float:
    """``value`` when finite, else a :class:`PlanError` naming ``what``."""
    if not math.isfinite(value):
        raise PlanError(f"{what}: expected a finite number, got {value}")
    return value


def _known_metrics() -> list[str]:
    return sorted(set(METRICS) | _TAIL)


def _did_you_mean(name: str) -> str:
    """`` (did you mean 'profit'?)`` for a misspelt metric name, else ``''``."""
    close = difflib.get_close_matches(name, _known_metrics(), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _percent_bound(c: Constraint) -> None:
    """Refuse a bound of 10 or more on a metric shown in percent (``share_at_quota >= 50``): it is a fraction."""
    if metric_unit(c.metric) == "percent" and abs(c.bound) >= 10:
        raise PlanError(f"constraint '{c}': {c.metric} is a fraction (0.5 is 50%), got {c.bound:g}: "
                        f"write {c.bound / 100:g} for {c.bound:g}%")


def parse_constraints(text: str | Constraint | Sequence, groups: Sequence[str]) -> list[Constraint]:
    """Parse ``"metric <= x"``, ``"metric >= x"``, ``"a <= metric <= b"`` (or Constraint objects)."""
    if isinstance(text, Constraint):
        out = [text]
    elif isinstance(text, (list, tuple)) and text and not isinstance(text[0], str) and len(text) == 4:
        out = [Constraint(*text)]
    elif isinstance(text, str):
        if len(text) > MAX_EXPRESSION:
            raise PlanError(f"constraint {text[:40]!r}...: longer than {MAX_EXPRESSION} characters")
        t = text.replace(" ", "")
        m2 = re.fullmatch(_NUM + r"<=" + _NAME + r"<=" + _NUM, t)
        m1 = re.fullmatch(_NAME + r"(<=|>=)" + _NUM, t)
        if m2:
            lo, name, grp, hi = m2.group(1), m2.group(2), m2.group(3), m2.group(4)
            out = [Constraint(name, grp or "total", ">=", float(lo)), Constraint(name, grp or "total", "<=", float(hi))]
        elif m1:
            out = [Constraint(m1.group(1), m1.group(2) or "total", m1.group(3), float(m1.group(4)))]
        else:
            raise PlanError(
                f"constraint {text!r}: expected 'metric <= x', 'metric >= x' or 'a <= metric <= b' "
                f"(metric optionally metric@role), e.g. 'comp_cost_of_sales <= 0.2'"
                + ("; shares are fractions, without '%': 0.5 for 50%" if "%" in text else "")
            )
    else:
        raise PlanError(f"constraint: expected a string or Constraint, got {text!r}")
    for c in out:
        _finite(float(c.bound), f"constraint '{c}'")
        if c.metric not in METRICS and c.metric not in _TAIL:
            raise PlanError(f"constraint '{c}': unknown metric '{c.metric}'{_did_you_mean(c.metric)}, expected one of "
                            f"{_known_metrics()}")
        if c.group not in groups:
            raise PlanError(f"constraint '{c}': unknown group '{c.group}', expected one of {list(groups)}")
        if c.op not in _OPS:
            raise PlanError(f"constraint '{c}': operator must be <= or >=")
        if c.metric == "over_budget" and not (c.op == "<=" and 0.0 <= c.bound < 1.0):
            raise PlanError(f"constraint '{c}': write P(incentive cost > budget) as 'over_budget <= p' with 0 <= p < 1")
        _percent_bound(c)
    return out


def parse_objective(objective: str | dict[str, float]) -> dict[str, float]:
    """``"profit"``, ``"revenue"``, ``{"profit": 1, "revenue": 0.05}`` or ``"profit=1,revenue=0.05"``.

    The objective is the weighted sum of the total group's metric means (maximised).
    """
    if isinstance(objective, str):
        if len(objective) > MAX_EXPRESSION:
            raise PlanError(f"objective {objective[:40]!r}...: longer than {MAX_EXPRESSION} characters")
        if "=" in objective:
            w = {}
            for part in objective.split(","):
                k, _, v = part.partition("=")
                try:
                    w[k.strip()] = float(v)
                except ValueError:
                    raise PlanError(f"objective {objective!r}: weight of '{k.strip()}' must be a number, got {v!r}") from None
        else:
            w = {objective.strip(): 1.0}
    elif isinstance(objective, dict):
        w = {str(k): float(v) for k, v in objective.items()}
    else:
        raise PlanError(f"objective: expected a metric name or a dict metric -> weight, got {objective!r}")
    if not w:
        raise PlanError("objective: expected at least one metric")
    for k, v in w.items():
        _finite(v, f"objective: weight of '{k}'")
    bad = [k for k in w if k not in METRICS and k not in _TAIL]
    if bad:
        hint = "".join(_did_you_mean(k) for k in bad[:1])
        raise PlanError(f"objective: unknown metric(s) {bad}{hint}, expected some of {_known_metrics()}")
    return w


# --------------------------------------------------------------------------
# Evaluating candidate plans on common random numbers
# --------------------------------------------------------------------------


@dataclass
class Evaluation:
    """Numbers of one candidate plan (SAA means over the fixed trials)."""

    x: tuple[float, ...]
    mean: dict[tuple[str, str], float]
    se: dict[tuple[str, str], float]
    cost_trials: np.ndarray  # per-trial total incentive cost
    objective: float = math.nan
    objective_se: float = math.nan
    g: np.ndarray = field(default_factory=lambda: np.zeros(0))  # scaled violations (<= 0 feasible)

    @property
    def violation(self) -> float:
        return float(np.sum(np.maximum(self.g, 0.0)))

    @property
    def feasible(self) -> bool:
        return bool(np.all(self.g <= 0.0))


class Problem:
    """The SAA problem: parameters, objective, constraints, and a cached evaluator."""

    def __init__(
        self,
        scenario: Scenario,
        params: dict[str, tuple[float, float]],
        objective: dict[str, float],
        constraints: list[Constraint],
        base_plan: str,
        trials: int,
        rng: Any,
        behaviour: Any,
        executor: Any,
        chunk_size: int | None,
    ):
        self.scenario = scenario
        self.params = dict(params)
        self.names = list(params)
        self.specs: list[ParamSpec] = [parse_param(n, scenario) for n in params]
        self.lo = np.array([float(params[n][0]) for n in params])
        self.hi = np.array([float(params[n][1]) for n in params])
        self.objective = objective
        self.constraints = constraints
        self.base_plan = base_plan
        self.trials = trials
        self.rng = rng
        self.behaviour = behaviour
        self.executor = executor
        self.chunk_size = chunk_size
        self.cache: dict[tuple, Evaluation] = {}
        self.history: list[Evaluation] = []
        self.budget = scenario.budget.incentive
        if any(c.metric == "over_budget" for c in constraints) and not self.budget:
            raise PlanError(f"constraint over_budget: the scenario {scenario.source} has no budget.incentive")

    # unit box <-> parameter values
    def to_x(self, u: np.ndarray) -> tuple[float, ...]:
        u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
        return tuple(float(v) for v in self.lo + u * (self.hi - self.lo))

    def to_u(self, x: Sequence[float]) -> np.ndarray:
        span = np.where(self.hi > self.lo, self.hi - self.lo, 1.0)
        return (np.asarray(x, dtype=float) - self.lo) / span

    def evaluate_many(self, xs: Sequence[tuple[float, ...]]) -> list[Evaluation]:
        """Evaluate points (cached); the new ones as one batch of runs (:func:`simlib.engine.core.simulate_runs`)."""
        from simlib.engine.core import prepare_run, simulate_runs
        from simlib.engine.results import SimulationResult

        keys = [tuple(round(v, 12) for v in x) for x in xs]
        todo = list(dict.fromkeys(k for k in keys if k not in self.cache))
        if todo:
            runs, owners = [], []
            for vscen, _base, named in build_variants(self.scenario, self.specs, todo, self.base_plan):
                plans = [n for _, n in named]
                for k in range(0, len(plans), PLANS_PER_CALL):
                    part = plans[k : k + PLANS_PER_CALL]
                    runs.append(prepare_run(vscen, part, part[0], self.behaviour, keep_draws=True))
                    owners.append({n: todo[i] for i, n in named if n in part})
            # optimize checked the whole request's size
            raws = simulate_runs(runs, trials=self.trials, rng=self.rng, chunk_size=self.chunk_size,
                                 executor=self.executor)
            for raw, plan_to_x in zip(raws, owners, strict=True):
                self._store(SimulationResult(raw), plan_to_x)
        return [self.cache[k] for k in keys]

    def evaluate(self, x: tuple[float, ...]) -> Evaluation:
        return self.evaluate_many([x])[0]

    def on(self, scenario: Scenario) -> Problem:
        """The same problem on another (e.g. perturbed) scenario, with its own cache and history."""
        return Problem(scenario, self.params, self.objective, self.constraints, self.base_plan, self.trials,
                       self.rng, self.behaviour, self.executor, self.chunk_size)

    def portable(self) -> Problem:
        """The same problem, empty, evaluated in the process that holds it (to send as a task's argument)."""
        return Problem(self.scenario, self.params, self.objective, self.constraints, self.base_plan, self.trials,
                       self.rng, self.behaviour, None, self.chunk_size)

    def _store(self, res, plan_to_x: dict[str, tuple]) -> None:
        lay = res.raw.layout
        levels = lay.level_index()
        kinds = len(lay.groups) * len(lay.metrics)
        trials = res.raw.keep
        from simlib.engine.results import tail_metrics
        from simlib.model.metrics import KEEP

        tails = tail_metrics(res.raw)

        per_plan_keep = len(lay.groups) * len(KEEP)
        ti = list(KEEP).index("incentive_cost")
        tot = lay.groups.index("total")
        for pi, plan in enumerate(lay.plans):
            if plan not in plan_to_x:
                continue
            mean, se = {}, {}
            for j in range(pi * kinds, (pi + 1) * kinds):
                _, g, m = levels[j]
                mean[(g, m)] = float(res.raw.mean[j])
                se[(g, m)] = float(res.raw.se[j])
            cost = trials[:, pi * per_plan_keep + tot * len(KEEP) + ti].copy()
            for row in tails:
                if row["plan"] == plan:
                    mean[(row["group"], row["metric"])] = float(row["mean"])
                    se[(row["group"], row["metric"])] = float(row["se"])
            ev = Evaluation(plan_to_x[plan], mean, se, cost)
            self._score(ev)
            key = tuple(round(v, 12) for v in plan_to_x[plan])
            self.cache[key] = ev
            self.history.append(ev)

    def constraint_value(self, ev: Evaluation, c: Constraint) -> float:
        """The constrained quantity (for over_budget: the order statistic compared with the budget)."""
        if c.metric == "over_budget":
            return float(self.budget_quantile(ev.cost_trials, c.bound))
        return ev.mean[(c.group, c.metric)]

    @staticmethod
    def budget_quantile(cost: np.ndarray, p: float) -> float:
        """The (floor(pT)+1)-th largest trial cost: P(cost > budget) <= p exactly when it is <= budget."""
        s = np.sort(cost)[::-1]
        return float(s[min(len(s) - 1, int(math.floor(p * len(s) + 1e-12)))])

    def _score(self, ev: Evaluation) -> None:
        obj, var = 0.0, 0.0
        for m, w in self.objective.items():
            obj += w * ev.mean[("total", m)]
            s = ev.se.get(("total", m), math.nan)
            var += (w * s) ** 2 if np.isfinite(s) else 0.0
        ev.objective = obj
        ev.objective_se = math.sqrt(var)
        g = []
        for c in self.constraints:
            v = self.constraint_value(ev, c)
            b = self.budget if c.metric == "over_budget" else c.bound
            scale = max(abs(b), 1e-9)
            g.append(((v - b) if c.op == "<=" else (b - v)) / scale)
        ev.g = np.array(g, dtype=float)


# --------------------------------------------------------------------------
# The optimiser
# --------------------------------------------------------------------------


@dataclass
class OptimizeResult:
    """What :func:`optimize` returns.

    Attributes
    ----------
    params : dict
        Optimal parameter values.
    objective : float
        Objective (weighted metric means, maximised) at the optimum, with ``objective_se``.
    feasible : bool
        Whether any evaluated point met every constraint (if not, ``params`` is the least infeasible).
    constraints : DataFrame
        One row per constraint: value at the optimum, bound, 95% CI, slack, satisfied, binding.
    metrics : DataFrame
        Summary at the optimum (``plan='optimum'``) and for the base plan.
    differences : DataFrame
        Paired differences optimum - base plan (CRN) with SE and 95% CI.
    history : DataFrame
        Every evaluated point: parameters, objective, violation, feasible.
    sensitivity : DataFrame
        Per perturbation: re-optimised parameters and objective, the original optimum's
        objective under the perturbation (and its regret), and whether it stays feasible.
    plan : dict
        The optimal plan (as a plan dict, ready for a scenario's ``plans:``).
    provenance : dict
        Seed, trials, behaviour, scenario hash, evaluations, optimiser messages.
    """

    params: dict[str, float]
    objective: float
    objective_se: float
    feasible: bool
    constraints: pd.DataFrame
    metrics: pd.DataFrame
    differences: pd.DataFrame
    history: pd.DataFrame
    sensitivity: pd.DataFrame
    plan: dict
    provenance: dict
    #: with ``behaviour_draws`` K >= 1: optimum - base plan over K behavioural parameter draws
    #: (:meth:`simlib.engine.ensemble.EnsembleResult.differences`; plan named ``optimum``), else empty
    robustness: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_dict(self) -> dict:
        def frame(df):
            return json.loads(df.to_json(orient="records"))

        return {
            "params": self.params, "objective": self.objective, "objective_se": self.objective_se,
            "feasible": self.feasible, "constraints": frame(self.constraints), "metrics": frame(self.metrics),
            "differences": frame(self.differences), "sensitivity": frame(self.sensitivity),
            "history": frame(self.history), "plan": self.plan, "provenance": self.provenance,
            "robustness": frame(self.robustness),
        }

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), default=str, **kw)


def _best(evals: Sequence[Evaluation]) -> Evaluation:
    feas = [e for e in evals if e.feasible]
    if feas:
        return max(feas, key=lambda e: e.objective)
    return min(evals, key=lambda e: (e.violation, -e.objective))


def _start_points(prob: Problem, starts: int, x0: tuple | None, seed: int) -> list[tuple]:
    """``x0`` (if given) and the first ``starts`` points of a scrambled Sobol' design over the box (else its centre)."""
    from scipy.stats import qmc

    d = len(prob.names)
    pts: list[tuple] = []
    if x0 is not None:
        pts.append(tuple(x0))
    if starts > 0:
        u = qmc.Sobol(d, scramble=True, rng=np.random.default_rng(seed)).random(2 ** int(math.ceil(math.log2(starts))))[:starts]
        pts += [prob.to_x(r) for r in u]
    if not pts:
        pts = [prob.to_x(np.full(d, 0.5))]
    return pts


def _polish(prob: Problem, start: Evaluation, maxiter: int, method: str, penalty: float, bar=None) -> str:
    """Local search from ``start`` in unit-box coordinates (``maxiter`` evaluations); returns the optimiser's message.

    Nelder-Mead minimises the exact-penalty objective ``-objective / |start objective| + penalty x violation``;
    COBYLA minimises the scaled objective with the scaled constraint values as inequality constraints.
    """
    from scipy.optimize import minimize

    d = len(prob.names)
    scale = max(abs(start.objective), 1e-9)

    def f(u):
        ev = prob.evaluate(prob.to_x(u))
        if bar is not None:
            bar.update(1)
        return -ev.objective / scale + penalty * ev.violation

    u0 = np.clip(prob.to_u(start.x), 0.0, 1.0)
    if method == "nelder-mead":
        step = 0.1
        simplex = [u0] + [np.clip(u0 + step * np.eye(d)[i] * (1 if u0[i] <= 0.5 else -1), 0, 1) for i in range(d)]
        r = minimize(f, u0, method="Nelder-Mead", bounds=[(0.0, 1.0)] * d,
                     options=dict(maxfev=maxiter, xatol=1e-4, fatol=1e-7, initial_simplex=np.array(simplex)))
    elif method == "cobyla":
        cons = []
        for i in range(len(prob.constraints)):
            cons.append({"type": "ineq", "fun": (lambda u, i=i: -prob.evaluate(prob.to_x(u)).g[i])})
        r = minimize(lambda u: -prob.evaluate(prob.to_x(u)).objective / scale, u0, method="COBYLA",
                     bounds=[(0.0, 1.0)] * d, constraints=cons, options=dict(maxiter=maxiter, rhobeg=0.1, tol=1e-5))
    else:
        raise PlanError(f"method: expected 'nelder-mead' or 'cobyla', got {method!r}")
    return f"{method}: {r.message}"


def _search(prob: Problem, starts: int, maxiter: int, method: str, x0: tuple | None, penalty: float,
            seed: int, bar=None) -> tuple[Evaluation, list[str]]:
    """Evaluate the start design, polish the best start, and return the best point evaluated and the messages."""
    pts = _start_points(prob, starts, x0, seed)
    evals = prob.evaluate_many(pts)
    if bar is not None:
        bar.update(len(pts))
    _require_values(prob, evals)
    messages = []
    if maxiter > 0:
        messages.append(_polish(prob, _best(evals), maxiter, method, penalty, bar))
    return _best(prob.history), messages


#: why a metric can have no value at all
_NO_VALUE = {m: "payout multiples are left out where a role's target incentive is 0 (nothing to divide by)"
             for m in ("payout_p10", "payout_p50", "leverage")}


def _require_values(prob: Problem, evals: Sequence[Evaluation]) -> None:
    """A :class:`PlanError` when the objective or a constraint has no value (NaN) at every start point.

    Every point would then be infeasible (or unscored) and the search would end with "no feasible point" and an
    arbitrary plan, rather than with what is wrong.
    """
    def none_at_all(group: str, metric: str) -> bool:
        return all(not math.isfinite(e.mean.get((group, metric), math.nan)) for e in evals)

    bad = [(f"objective {metric}", metric) for metric in prob.objective if none_at_all("total", metric)]
    bad += [(f"constraint '{c}'", c.metric) for c in prob.constraints
            if c.metric != "over_budget" and none_at_all(c.group, c.metric)]
    if bad:
        what, metric = bad[0]
        why = _NO_VALUE.get(metric, "the metric is not defined for this scenario's plan")
        raise PlanError(f"{what}: {metric} has no value at any of the {len(evals)} start point(s) of "
                        f"{prob.scenario.source}: {why}; drop it or constrain another metric")


def _perturbed(scenario: Scenario, spec: str) -> tuple[str, Scenario]:
    """Apply ``scenario.path=value`` or ``scenario.path*=factor`` (factor scales each matched value)."""
    if len(spec) > MAX_EXPRESSION:
        raise PlanError(f"sensitivity {spec[:40]!r}...: longer than {MAX_EXPRESSION} characters")
    m = re.fullmatch(r"\s*(?:scenario\.)?([\w.*]+?)\s*(\*?=)\s*(\S+)\s*", spec.strip())
    if not m:
        raise PlanError(f"sensitivity {spec!r}: expected 'scenario.path=value' or 'scenario.path*=factor', "
                        f"e.g. 'scenario.roles.*.effort_elasticity*=0.5'")
    path, op, val = m.group(1), m.group(2), m.group(3)
    try:
        v = float(val)
    except ValueError:
        raise PlanError(f"sensitivity {spec!r}: value must be a number") from None
    _finite(v, f"sensitivity {spec!r}")
    data = scenario.model_dump(by_alias=True, mode="json")
    if op == "=":
        set_path(data, path, v, f"sensitivity '{spec}'")
    else:
        scale_path(data, path, v, f"sensitivity '{spec}'")
    return spec.strip(), scenario_from_dict(data, scenario.source)


def expand_sensitivity(specs: Sequence[str] | None) -> list[str]:
    """``path*=0.5,1.5`` -> ``[path*=0.5, path*=1.5]`` (several values per spec allowed)."""
    out = []
    for s in specs or []:
        if len(s) > 50 * MAX_EXPRESSION:  # several values per spec; each is checked again when applied
            raise PlanError(f"sensitivity {s[:40]!r}...: longer than {50 * MAX_EXPRESSION} characters")
        head, eq, values = s.partition("=")  # split by hand: a regex here backtracks quadratically on long input
        path, op = head.strip(), "="
        if path.endswith("*"):
            path, op = path[:-1].rstrip(), "*="
        if not eq or not path or not values.strip():
            raise PlanError(f"sensitivity {s[:MAX_EXPRESSION]!r}: expected 'scenario.path=v1,v2' or "
                            f"'scenario.path*=f1,f2'")
        for v in values.split(","):
            if v.strip():
                out.append(f"{path}{op}{v.strip()}")
    return out


def _check_problem(scen: Scenario, params: dict, objective: Any, constraints: Sequence, base_plan: str | None,
                   method: str) -> tuple[str, dict[str, float], list[Constraint]]:
    """Validate the inputs of :func:`optimize`; returns the base plan name, objective weights and constraints."""
    base = base_plan or scen.current_plan
    if base not in scen.plans:
        raise PlanError(f"base_plan: '{base}' is not a plan of {scen.source}, expected one of {sorted(scen.plans)}")
    if not params:
        raise PlanError("optimize: expected at least one parameter with (low, high) bounds")
    for n, b in params.items():
        if not (isinstance(b, (tuple, list)) and len(b) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in b)):
            raise PlanError(f"parameter '{n}': expected (low, high) bounds, got {b!r}")
        for v in b:
            _finite(float(v), f"parameter '{n}' bounds")
        if not b[0] <= b[1]:
            raise PlanError(f"parameter '{n}': low {b[0]} is above high {b[1]}")
    obj = parse_objective(objective)
    groups = list(scen.roles) + ["total"]
    cons: list[Constraint] = []
    for c in constraints:
        cons += parse_constraints(c, groups)
    if method not in ("nelder-mead", "cobyla"):
        raise PlanError(f"method: expected 'nelder-mead' or 'cobyla', got {method!r}")
    return base, obj, cons


def _sensitivity_scenarios(scen: Scenario, sensitivity: Sequence[str] | None, behaviour: Any) -> list[tuple[str, Scenario]]:
    """The perturbed scenarios to re-optimise under, as ``(label, scenario)``, built before the long run.

    ``None``: with a behaviour model, those of :data:`BEHAVIOUR_SENSITIVITY` the scenario has; with
    behaviour ``"none"``, none.
    """
    if sensitivity is not None:
        return [_perturbed(scen, s) for s in expand_sensitivity(sensitivity)]
    out = []
    if behaviour != "none":
        for spec in expand_sensitivity(BEHAVIOUR_SENSITIVITY):
            try:
                out.append(_perturbed(scen, spec))
            except SimlibError:
                continue  # the scenario has no such behavioural parameter
    return out


def _report_optimum(prob: Problem, best: Evaluation) -> tuple[pd.DataFrame, pd.DataFrame, dict, dict]:
    """The optimum re-simulated next to the base plan on the same draws.

    Returns the summary and paired differences (the optimum's plan named ``optimum``), the optimal
    plan as data, and the run's provenance.
    """
    from simlib.engine.api import simulate

    vscen, _, named = build_variants(prob.scenario, prob.specs, [best.x], prob.base_plan)[0]
    name = named[0][1]
    res = simulate(vscen, [name], trials=prob.trials, rng=prob.rng, reference=prob.base_plan,
                   behaviour=prob.behaviour, chunk_size=prob.chunk_size, executor=prob.executor, allow_large=True)
    summ = res.summary().replace({"plan": {name: "optimum"}})
    diff = res.differences().replace({"plan": {name: "optimum"}})
    plan_dict = vscen.plans[name].model_dump(by_alias=True, mode="json")
    plan_dict["description"] = "optimum: " + ", ".join(f"{n}={v:.6g}" for n, v in zip(prob.names, best.x, strict=False))
    return summ, diff, plan_dict, dict(res.provenance)


def _robustness(prob: Problem, best: Evaluation, draws: int, design_seed: int | None) -> pd.DataFrame:
    """The optimum against the base plan under ``draws`` behavioural parameter draws (same random numbers)."""
    from simlib.engine.api import simulate_ensemble

    if not draws:
        return pd.DataFrame()
    vscen, _, named = build_variants(prob.scenario, prob.specs, [best.x], prob.base_plan)[0]
    name = named[0][1]
    ens = simulate_ensemble(vscen, [name], behaviour_draws=int(draws), trials=prob.trials, rng=prob.rng,
                            reference=prob.base_plan, behaviour=prob.behaviour, chunk_size=prob.chunk_size,
                            executor=prob.executor, design_seed=design_seed, allow_large=True)
    return ens.differences().replace({"plan": {name: "optimum"}})


CONSTRAINT_COLUMNS = ["constraint", "metric", "group", "op", "bound", "value", "se", "ci_low", "ci_high", "slack",
                      "satisfied", "binding"]


def _constraint_row(prob: Problem, best: Evaluation, c: Constraint, g: float) -> dict:
    """One constraint at the optimum: value with SE and 95% CI, slack (in the constrained quantity's unit), binding.

    ``over_budget`` is reported as the share of trials over budget, with a binomial SE. A constraint
    binds when it sits at its bound within Monte Carlo error (2 SE) or 1% of the bound.
    """
    v = prob.constraint_value(best, c)
    b = prob.budget if c.metric == "over_budget" else c.bound
    if c.metric == "over_budget":
        p_hat = float(np.mean(best.cost_trials > prob.budget))
        se = math.sqrt(max(p_hat * (1 - p_hat), 1e-300) / len(best.cost_trials))
        val, bound = p_hat, c.bound
        tol = max(2 * se, 1.0 / len(best.cost_trials))
        binding = abs(val - bound) <= tol or abs(g) <= 0.01
    else:
        se = best.se.get((c.group, c.metric), math.nan)
        val, bound = v, b
        tol = max(2 * se if np.isfinite(se) else 0.0, 0.01 * max(abs(b), 1e-9))
        binding = abs(v - b) <= tol
    slack = -g * max(abs(b), 1e-9)
    lo, hi = interval(val, se)
    return dict(constraint=str(c), metric=c.metric, group=c.group, op=c.op, bound=bound, value=val, se=se,
                ci_low=lo, ci_high=hi, slack=slack, satisfied=bool(g <= 0),
                binding=bool(binding))


def _constraint_table(prob: Problem, best: Evaluation) -> pd.DataFrame:
    rows = [_constraint_row(prob, best, c, g) for c, g in zip(prob.constraints, best.g, strict=False)]
    return pd.DataFrame(rows, columns=CONSTRAINT_COLUMNS)


def _history_table(prob: Problem) -> pd.DataFrame:
    return pd.DataFrame([dict(zip(prob.names, e.x, strict=False), objective=e.objective, objective_se=e.objective_se,
                              violation=e.violation, feasible=e.feasible) for e in prob.history])


def sensitivity_task(prob: Problem, label: str, scenario: Scenario, x0: tuple[float, ...], maxiter: int, method: str,
                     penalty: float, seed: int) -> dict:
    """A worker's task: re-optimise from ``x0`` under one perturbed scenario, its evaluations run in this process.

    ``prob`` arrives without its executor (:meth:`Problem.portable`). The row compares the re-optimised
    plan with the original optimum kept as is (:func:`_sensitivity_table`): ``regret`` is the re-optimised
    objective minus the kept one's, both on the same trials (common random numbers), and the search starts
    from the kept optimum and returns the best point it evaluated, so ``regret >= 0`` exactly whenever the
    kept optimum is feasible (``original_feasible``). Below 0 only when the kept optimum breaks a constraint
    under the perturbation: then it is the objective given up to meet the constraints, not Monte Carlo noise.
    """
    sp = prob.on(scenario)
    old = sp.evaluate(x0)
    new, _ = _search(sp, 0, maxiter, method, x0, penalty, seed)
    names = prob.names
    return dict(perturbation=label, **{n: v for n, v in zip(names, new.x, strict=False)},
                objective=new.objective, objective_se=new.objective_se, feasible=new.feasible,
                objective_at_original=old.objective, original_feasible=old.feasible,
                regret=new.objective - old.objective,
                **{f"shift_{n}": v - b for n, v, b in zip(names, new.x, x0, strict=False)})


def _start_sensitivity(prob: Problem, best: Evaluation, scenarios: Sequence[tuple[str, Scenario]], maxiter: int,
                       method: str, penalty: float, seed: int) -> list:
    """Submit one re-optimisation per perturbed scenario as a task (they are independent); handles in order."""
    from simlib.engine.parallel import submit_task

    port = prob.portable()
    return [submit_task(prob.executor, sensitivity_task, (port, label, pscen, best.x, maxiter, method, penalty, seed))
            for label, pscen in scenarios]


def _sensitivity_table(handles: list, bar=None, step: int = 0) -> pd.DataFrame:
    """The rows of the re-optimisations :func:`_start_sensitivity` started, in the order of the perturbations."""
    from simlib.engine.parallel import task_result

    rows = []
    for h in handles:
        rows.append(task_result(h))
        if bar is not None:
            bar.update(step)
    return pd.DataFrame(rows)


def _progress_bar(progress: bool, total: int):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="optimising", unit="eval")


def optimize(
    scenario: Scenario | str,
    params: dict[str, tuple[float, float]],
    *,
    objective: str | dict[str, float] = "profit",
    constraints: Sequence[str | Constraint] = (),
    base_plan: str | None = None,
    trials: int = 500,
    rng: int = 0,
    behaviour: str | Any | None = None,
    method: str = "nelder-mead",
    starts: int = 16,
    maxiter: int = 150,
    penalty: float = 1000.0,
    sensitivity: Sequence[str] | None = None,
    sensitivity_maxiter: int | None = None,
    executor: Any = None,
    chunk_size: int | None = None,
    progress: bool = False,
    design_seed: int = 0,
    behaviour_draws: int = 0,
    behaviour_seed: int | None = None,
    allow_large: bool = False,
) -> OptimizeResult:
    """Choose plan parameters that maximise an objective subject to constraints.

    Parameters
    ----------
    scenario : Scenario or path
        The scenario (or YAML file).
    params : dict
        Parameter name (as in :func:`simlib.design.sweep.run_sweep`: plan
        transforms of :mod:`simlib.design.transforms` such as
        ``target_level``, ``cap``, ``pay_mix``, or plan/scenario paths) ->
        ``(low, high)`` bounds. Numeric parameters only.
    objective : str or dict
        Metric of the total group to maximise (``"profit"``: gross profit
        minus total comp, money per year; ``"revenue"``), or a dict metric ->
        weight for a weighted sum.
    constraints : list of str
        E.g. ``"comp_cost_of_sales <= 0.2"``, ``"0.5 <= share_at_quota <= 0.7"``,
        ``"over_budget <= 0.1"`` (P(incentive cost > budget) <= 10%),
        ``"1.5 <= leverage <= 3"``; ``metric@role`` for one role.
    base_plan : str, optional
        Plan the parameters modify (default: current plan).
    trials, rng, behaviour
        The SAA sample: every evaluation uses the same ``trials`` and seed.
        ``behaviour`` is resolved as in ``run``
        (:func:`simlib.engine.core.resolve_behaviour`): this argument, else
        the scenario's ``behaviour.mode``, else ``"dynamic"``.
    method : {"nelder-mead", "cobyla"}
        Local polish after the Sobol' start design (``maxiter`` 0 = design only).
    starts : int
        Points of the Sobol' start design.
    maxiter : int
        Evaluations allowed to the local polish.
    penalty : float
        Weight of scaled constraint violations (Nelder-Mead).
    sensitivity : list of str, optional
        Perturbations to re-optimise under, e.g.
        ``["scenario.roles.*.effort_elasticity*=0.5", "scenario.market.growth_mean=0.0"]``.
        ``None`` (default): with a behaviour model, :data:`BEHAVIOUR_SENSITIVITY`
        (those of its paths the scenario has); with behaviour ``"none"``, no
        perturbations (behavioural parameters have no effect then). ``[]``: none.
    sensitivity_maxiter : int, optional
        Evaluations of each local re-optimisation from the optimum (default
        ``max(5, maxiter // 4)``; 0 = only re-evaluate the optimum).
    executor : None, "auto", Executor or dask Client
        Where trial chunks run (see :mod:`simlib.engine.parallel`); results do not depend on it.
    behaviour_draws : int
        K >= 1: re-evaluate the optimum against the base plan under K
        behavioural parameter draws from the priors (``result.robustness``;
        :mod:`simlib.engine.ensemble`); 0 (default): skip.
    behaviour_seed : int, optional
        Seed of those draws (default: the scenario's ``behaviour.uncertainty.seed``).
    allow_large : bool
        Run past the size limits of :func:`simlib.engine.core.check_request`
        (``--allow-large``); without it an oversized request (trials x reps x
        (starts + maxiter) evaluations x draws) is refused before any evaluation.

    Returns
    -------
    OptimizeResult
    """
    from simlib.engine.parallel import resolve_executor, work_estimate

    scen = as_scenario(scenario)
    behaviour = resolve_behaviour(scen, behaviour)
    base, obj, cons = _check_problem(scen, params, objective, constraints, base_plan, method)
    if all(isinstance(x, int) for x in (trials, starts, maxiter, behaviour_draws)):
        check_request(scen, trials, 2, points=starts + maxiter, draws=behaviour_draws, allow_large=allow_large)
    sens_scen = _sensitivity_scenarios(scen, sensitivity, behaviour)
    smax = sensitivity_maxiter if sensitivity_maxiter is not None else max(5, maxiter // 4)
    total_work = trials * scen.headcount * 12 * (starts + maxiter + behaviour_draws) * (1 + len(sens_scen))
    bar = _progress_bar(progress, starts + maxiter + len(sens_scen) * (1 + smax))
    with resolve_executor(executor, work=work_estimate(total_work, behaviour)) as ex:
        prob = Problem(scen, dict(params), obj, cons, base, trials, rng, behaviour, ex, chunk_size)
        best, messages = _search(prob, starts, maxiter, method, None, penalty, design_seed, bar)
        # the re-optimisations under perturbed scenarios run as tasks beside the optimum's report
        sens = _start_sensitivity(prob, best, sens_scen, smax, method, penalty, design_seed)
        summ, diff, plan_dict, prov = _report_optimum(prob, best)
        robust = _robustness(prob, best, behaviour_draws, behaviour_seed)
        sens_df = _sensitivity_table(sens, bar, 1 + smax)
    if bar is not None:
        bar.close()
    prov.update(evaluations=len(prob.history), method=method, starts=starts, maxiter=maxiter, penalty=penalty,
                objective=obj, constraints=[str(c) for c in cons], base_plan=base, messages=messages,
                bounds={n: list(map(float, params[n])) for n in prob.names})
    return OptimizeResult(
        params=dict(zip(prob.names, best.x, strict=False)), objective=best.objective, objective_se=best.objective_se,
        feasible=best.feasible, constraints=_constraint_table(prob, best), metrics=summ, differences=diff,
        history=_history_table(prob), sensitivity=sens_df, plan=plan_dict, provenance=prov, robustness=robust,
    )
