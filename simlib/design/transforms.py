"""Plan transforms: every named edit of a plan, declared once.

A transform (cf. OpenFisca's reforms) derives a variant plan from a base
plan's data: :meth:`Transform.apply` takes a plan as a dict (as in a
scenario's ``plans:``), a value and optionally the roles to edit, and returns
a new plan dict; the input is left alone. Sweeps
(:mod:`simlib.design.sweep`), optimisation (:mod:`simlib.design.optimize`)
and the explorer (:mod:`simlib.report.explorer`) all build their variants
through :data:`TRANSFORMS`, so one alias and one value give one plan
everywhere.

=====================  ======================================================
``target_level``       quota level (``quota.level``): quotas are this
                       multiple of expected revenue at today's effort (per
                       the quota method); number in (0, 5]
``team_weight``        team share of incentive (``team.weight``), 0..1
``team_split``         how a team pool is shared (``team.split``):
                       ``equal`` or ``contribution``
``threshold``          attainment (fraction of quota) at the first point of
                       revenue pay curves, below which they pay nothing;
                       must stay below the curve's next point
``commission_gate``    annual revenue attainment (fraction of quota) below
                       which revenue commissions pay nothing (a gate on
                       them); 0 gates nothing
``cap``                cap of revenue pay curves, multiple of the
                       component's target payout (> 0); ``None``/``"none"``
                       = uncapped
``accelerator``        multiplier (>= 0) of the pay slope above 100%
                       attainment: revenue curves and revenue commission
                       tiers (1 = today's)
``commission_rate``    multiplier (>= 0) of every commission tier's rate
``pay_mix``            variable share of on-target earnings (OTE), 0..1, at
                       constant OTE; commission rates, per-unit rates and
                       lump sums scale with the target incentive
``period``             assessment period of revenue curves, commissions and
                       lump sums: ``month``, ``quarter``, ``half``, ``year``
=====================  ======================================================

Roles without anything a transform acts on are left as they are; when none
of the roles it is applied to has any (for example ``threshold`` on a role
paid only by commission), it is an error that names the transform.

Any other field is reached by a dotted path: :func:`set_path` sets it
(``roles.telesales.team.weight``, ``roles.*.quota.noise``,
``market.growth_sd`` in a scenario dict) and :func:`scale_path` multiplies
it; ``*`` fans out over every key or element, and list elements are
addressed by index or by ``name``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_args

import numpy as np

from simlib.errors import PlanError
from simlib.model.paycurves import Schedule, evaluate
from simlib.scenario import PERIODS, Scenario, Team

__all__ = ["Transform", "TRANSFORMS", "get_transform", "plan_data", "set_path", "scale_path"]

#: values of ``team.split``
TEAM_SPLITS: tuple[str, ...] = get_args(Team.model_fields["split"].annotation)

#: values of ``cap`` that mean uncapped
UNCAPPED = ("none", "null", "inf")


@dataclass(frozen=True)
class RoleEdit:
    """What an edit of one role plan may need besides the value.

    Attributes
    ----------
    role : str
        Role name.
    pay : Mapping or None
        The scenario's role data (``base_salary``, ``target_incentive``;
        money per year), when a scenario was given.
    where : str
        Prefix of error messages (names the transform).
    """

    role: str
    pay: Mapping[str, Any] | None
    where: str


@dataclass(frozen=True)
class Transform:
    """One named plan edit with one meaning.

    Attributes
    ----------
    name : str
        The alias (``target_level``, ``cap``, ...).
    meaning : str
        What the value sets, for help texts.
    domain : str
        The values accepted and their unit, as said in errors ("expected ...").
    acts_on : str
        What in a role plan it edits (said when a role has none of it).
    check : callable
        ``check(value) -> value`` normalised; raises ``TypeError`` or
        ``ValueError`` for a value outside ``domain``.
    edit : callable
        ``edit(role_plan, value, RoleEdit) -> int``: edits one role plan dict
        in place and returns the number of edits made.
    multiplier : bool
        The value multiplies what the plan has (1 = today's), rather than
        setting it: a table header says so (``commission rate ×``).
    """

    name: str
    meaning: str
    domain: str
    acts_on: str
    check: Callable[[Any], Any]
    edit: Callable[[dict, Any, RoleEdit], int]
    multiplier: bool = False

    @property
    def help(self) -> str:
        """One line for help texts: meaning [domain]."""
        return f"{self.meaning} [{self.domain}]"

    def validate(self, value: Any, where: str | None = None) -> Any:
        """The value normalised (e.g. a float), or a :class:`PlanError` saying what was expected."""
        try:
            return self.check(value)
        except (TypeError, ValueError):
            raise PlanError(f"{where or self._where}: expected {self.domain}, got {value!r}"
                            f"{self._as_percent(value)}") from None

    def _as_percent(self, value: Any) -> str:
        """``: write 0.98 for 98%`` when ``value`` is refused but reads as a percent of a value this takes."""
        if isinstance(value, bool) or not isinstance(value, int | float | np.number) or not 10 <= value <= 1000:
            return ""
        try:
            self.check(value / 100)
        except (TypeError, ValueError):
            return ""
        return f": write {value / 100:g} for {value:g}%"

    def apply(
        self,
        plan: Mapping[str, Any],
        value: Any,
        *,
        roles: Sequence[str] | None = None,
        scenario: Scenario | Mapping[str, Any] | None = None,
        where: str | None = None,
    ) -> dict:
        """A copy of ``plan`` with this transform applied.

        Parameters
        ----------
        plan : dict
            A plan as data (``{"description": ..., "roles": {role: role plan}}``).
        value : Any
            The transform's value (see ``domain``).
        roles : sequence of str, optional
            Roles to edit (default: every role of the plan).
        scenario : Scenario or dict, optional
            The scenario (object or data) whose role pay a role plan without
            its own ``base_salary``/``target_incentive`` uses (``pay_mix``
            needs it then).
        where : str, optional
            Prefix of error messages (default ``"plan transform '<name>'"``).

        Returns
        -------
        dict
            The variant plan.

        Raises
        ------
        PlanError
            For a value outside the domain, an unknown role, or roles with
            nothing the transform acts on.
        """
        where = where or self._where
        v = self.validate(value, where)
        out = copy.deepcopy(dict(plan))
        names = tuple(out["roles"]) if roles is None else tuple(roles)
        unknown = [r for r in names if r not in out["roles"]]
        if unknown:
            raise PlanError(f"{where}: unknown role(s) {unknown}, expected some of {sorted(out['roles'])}")
        touched = sum(self.edit(out["roles"][r], v, RoleEdit(r, _role_pay(scenario, r), where)) for r in names)
        if touched == 0:
            raise PlanError(f"{where}: the plan has no {self.acts_on} in role(s) {list(names)} to apply it to")
        return out

    @property
    def _where(self) -> str:
        return f"plan transform '{self.name}'"


def _role_pay(scenario: Scenario | Mapping[str, Any] | None, role: str) -> Mapping[str, Any] | None:
    if scenario is None:
        return None
    if isinstance(scenario, Scenario):
        r = scenario.roles.get(role)
        return None if r is None else {"base_salary": r.base_salary, "target_incentive": r.target_incentive}
    return scenario.get("roles", {}).get(role)


def plan_data(scenario: Scenario, plan: str) -> dict:
    """Plan ``plan`` of ``scenario`` as data, the input of :meth:`Transform.apply`."""
    if plan not in scenario.plans:
        raise PlanError(f"plan '{plan}' is not a plan of {scenario.source}, expected one of {sorted(scenario.plans)}")
    return scenario.plans[plan].model_dump(by_alias=True, mode="json")


# --------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------


def _number(lo: float | None = None, hi: float | None = None, *, above: bool = False) -> Callable[[Any], float]:
    """A check for a finite number >= lo (> lo when ``above``) and <= hi."""

    def check(v: Any) -> float:
        if isinstance(v, bool):
            raise TypeError(v)
        x = float(v)
        if not math.isfinite(x) or (lo is not None and (x < lo or (above and x == lo))) or (hi is not None and x > hi):
            raise ValueError(v)
        return x

    return check


def _choice(options: Sequence[str]) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if not isinstance(v, str) or v not in options:
            raise ValueError(v)
        return v

    return check


def _cap(v: Any) -> float | None:
    if v is None or (isinstance(v, str) and v.strip().lower() in UNCAPPED):
        return None
    if not isinstance(v, bool) and isinstance(v, (int, float, np.number)) and math.isinf(v) and v > 0:
        return None
    return _number(0.0, above=True)(v)


# --------------------------------------------------------------------------
# Edits of one role plan (in place; each returns the number of edits)
# --------------------------------------------------------------------------


def _revenue_components(rp: dict, kinds: tuple[str, ...]) -> list[dict]:
    return [c for c in rp["components"] if c.get("measure", "revenue") == "revenue" and c.get("kind", "curve") in kinds]


def _polyline_value(points: list, x: float, beyond: str) -> float:
    """A curve's points as a function at ``x``: 0 below the first point, the last segment extended
    (``beyond="extend"``) or flat after the last; no cap and no floor at 0 (the geometry edits work on)."""
    k = np.array([p[0] for p in points], dtype=float)
    v = np.array([p[1] for p in points], dtype=float)
    s = np.diff(v) / np.diff(k) if len(k) > 1 else np.zeros(0)
    s = np.append(s, s[-1] if len(s) and beyond == "extend" else 0.0)
    return float(evaluate(Schedule(k, v, s), x)[0])


def _set_level(rp: dict, v: float, e: RoleEdit) -> int:
    rp.setdefault("quota", {})["level"] = v
    return 1


def _set_team_weight(rp: dict, v: float, e: RoleEdit) -> int:
    rp.setdefault("team", {})["weight"] = v
    return 1


def _set_team_split(rp: dict, v: str, e: RoleEdit) -> int:
    rp.setdefault("team", {})["split"] = v
    return 1


def _set_threshold(rp: dict, t: float, e: RoleEdit) -> int:
    """Move the first point of each revenue curve (the attainment below which it pays nothing) to ``t``."""
    curves = _revenue_components(rp, ("curve",))
    for c in curves:
        pts = [[float(x), float(y)] for x, y in c["points"]]
        if len(pts) > 1 and t >= pts[1][0]:
            raise PlanError(f"{e.where}, role {e.role}: threshold {t:g} must stay below the next curve point "
                            f"({pts[1][0]:g}) of component '{c['name']}'")
        pts[0][0] = t
        c["points"] = pts
    return len(curves)


def _set_commission_gate(rp: dict, t: float, e: RoleEdit) -> int:
    """Gate each revenue commission at annual revenue attainment ``t`` (replacing its revenue gate at quota)."""
    comms = [c["name"] for c in _revenue_components(rp, ("commission",))]
    gates = []
    for g in rp.get("gates") or []:
        names = g.get("components")
        if g.get("measure", "revenue") == "revenue" and g.get("target", "quota") == "quota" and names:
            names = [n for n in names if n not in comms]
            if not names:
                continue  # it gated only commissions the new gate replaces
            g = {**g, "components": names}
        gates.append(g)
    gates += [{"measure": "revenue", "min_attainment": t, "target": "quota", "components": [n]} for n in comms]
    rp["gates"] = gates
    return len(comms)


def _set_cap(rp: dict, cap: float | None, e: RoleEdit) -> int:
    curves = _revenue_components(rp, ("curve",))
    for c in curves:
        c["cap"] = cap
    return len(curves)


def _accelerate_curve(c: dict, a: float) -> None:
    """Multiply the slope of a pay curve (component dict, in place) above 100% attainment by ``a``."""
    pts = [[float(x), float(y)] for x, y in c["points"]]
    if pts[-1][0] <= 1.0:
        if c.get("beyond", "extend") == "flat" or len(pts) == 1:
            return  # nothing is paid for attainment above 100% beyond a flat end
        # the extension beyond the last point is the slope above 100%: add an explicit point
        pts.append([2.0, _polyline_value(pts, 2.0, "extend")])
    v1 = _polyline_value(pts, 1.0, c.get("beyond", "extend"))
    if pts[0][0] < 1.0 and not any(abs(x - 1.0) < 1e-12 for x, _ in pts):
        pts.append([1.0, v1])
        pts.sort()
    c["points"] = [[x, (v1 + a * (y - v1)) if x > 1.0 else y] for x, y in pts]


def _accelerate_tiers(c: dict, a: float) -> None:
    """Multiply the commission rates (component dict, in place) from 100% attainment on by ``a``."""
    tiers = [dict(t) for t in c["tiers"]]
    starts = [float(t["from"]) for t in tiers]
    if not any(s >= 1.0 for s in starts) and starts[0] < 1.0:
        tiers.append({"from": 1.0, "rate": tiers[-1]["rate"]})  # the last tier straddles 100%: split it at 1.0
    else:
        for i in range(len(tiers) - 1):
            if starts[i] < 1.0 < starts[i + 1]:
                tiers.insert(i + 1, {"from": 1.0, "rate": tiers[i]["rate"]})
                break
    for t in tiers:
        if float(t["from"]) >= 1.0:
            t["rate"] = float(t["rate"]) * a
    c["tiers"] = tiers


def _accelerate(rp: dict, a: float, e: RoleEdit) -> int:
    curves = _revenue_components(rp, ("curve",))
    comms = _revenue_components(rp, ("commission",))
    for c in curves:
        _accelerate_curve(c, a)
    for c in comms:
        _accelerate_tiers(c, a)
    return len(curves) + len(comms)


def _scale_commissions(rp: dict, m: float, e: RoleEdit) -> int:
    comms = [c for c in rp["components"] if c.get("kind") == "commission"]
    for c in comms:
        c["tiers"] = [{**t, "rate": float(t["rate"]) * m} for t in c["tiers"]]
    return len(comms)


def _set_pay_mix(rp: dict, v: float, e: RoleEdit) -> int:
    """Target incentive = ``v`` x OTE at constant OTE; money elements scale with the target incentive."""
    base, ti = rp.get("base_salary"), rp.get("target_incentive")
    if (base is None or ti is None) and e.pay is None:
        raise PlanError(f"{e.where}: role {e.role} takes its pay from the scenario; pass the scenario")
    base = e.pay["base_salary"] if base is None else base
    ti = e.pay["target_incentive"] if ti is None else ti
    ote = float(base) + float(ti)
    new_ti = v * ote
    r = new_ti / ti if ti > 0 else None
    if r is None and any(c.get("kind") in ("commission", "per_unit", "lump_sum") for c in rp["components"]):
        raise PlanError(f"{e.where}: role {e.role} has no target incentive to scale money elements from")
    rp["base_salary"] = ote - new_ti
    rp["target_incentive"] = new_ti
    for c in rp["components"]:
        if c.get("kind") == "commission":
            c["tiers"] = [{**t, "rate": float(t["rate"]) * r} for t in c["tiers"]]
        elif c.get("kind") == "per_unit":
            c["rate"] = float(c["rate"]) * r
        elif c.get("kind") == "lump_sum":
            c["steps"] = [{**s, "amount": float(s["amount"]) * r} for s in c["steps"]]
    return 1


def _set_period(rp: dict, p: str, e: RoleEdit) -> int:
    comps = _revenue_components(rp, ("curve", "commission", "lump_sum"))
    for c in comps:
        c["period"] = p
    return len(comps)


# --------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------

_REVENUE_CURVES = "revenue pay curve (kind curve, measure revenue)"

#: alias -> transform, in the order the explorer applies its controls
TRANSFORMS: dict[str, Transform] = {t.name: t for t in (
    Transform("target_level", "quota level of each role (quota.level): quotas are this multiple of expected "
              "revenue at today's effort", "a number in (0, 5], e.g. 0.9, 1.0, 1.1", "quota",
              _number(0.0, 5.0, above=True), _set_level),
    Transform("team_weight", "team share of incentive (team.weight)", "a number in [0, 1]", "team settings",
              _number(0.0, 1.0), _set_team_weight),
    Transform("team_split", "how a team pool is shared among the team (team.split)",
              f"one of {list(TEAM_SPLITS)}", "team settings", _choice(TEAM_SPLITS), _set_team_split),
    Transform("threshold", "attainment (fraction of quota) at the first point of revenue pay curves, below which "
              "they pay nothing", "a number >= 0, below each curve's second point", _REVENUE_CURVES,
              _number(0.0), _set_threshold),
    Transform("commission_gate", "annual revenue attainment (fraction of quota) below which revenue commissions "
              "pay nothing (a gate on each)", "a number >= 0 (0 gates nothing)",
              "revenue commission (kind commission, measure revenue)", _number(0.0), _set_commission_gate),
    Transform("cap", "cap of revenue pay curves (multiple of the component's target payout)",
              "a number > 0, or 'none' for uncapped", _REVENUE_CURVES, _cap, _set_cap),
    Transform("accelerator", "multiplier of the pay slope above 100% attainment (revenue curves and revenue "
              "commission tiers)", "a number >= 0 (1 = today's slope)",
              "revenue pay curve or revenue commission", _number(0.0), _accelerate, multiplier=True),
    Transform("commission_rate", "multiplier of every commission tier's rate", "a number >= 0",
              "commission component", _number(0.0), _scale_commissions, multiplier=True),
    Transform("pay_mix", "variable share of OTE (target incentive / (base + target incentive)) at constant OTE, "
              "with commission, per-unit and lump-sum money scaled as the target incentive", "a number in [0, 1]",
              "pay", _number(0.0, 1.0), _set_pay_mix),
    Transform("period", "assessment period of revenue curves, commissions and lump sums", f"one of {list(PERIODS)}",
              "revenue curve, commission or lump sum", _choice(tuple(PERIODS)), _set_period),
)}


def get_transform(name: str, where: str = "plan transform") -> Transform:
    """The transform called ``name``, or a :class:`PlanError` listing the known ones."""
    t = TRANSFORMS.get(name) if isinstance(name, str) else None
    if t is None:
        raise PlanError(f"{where} {name!r}: unknown, expected one of {list(TRANSFORMS)}")
    return t


# --------------------------------------------------------------------------
# Dotted paths
# --------------------------------------------------------------------------


def set_path(data: Any, path: str | Sequence[str], value: Any, where: str = "path") -> int:
    """Set ``value`` at a dotted path inside nested dicts and lists, in place.

    Parameters
    ----------
    data : dict or list
        E.g. a plan or scenario as data.
    path : str or sequence of str
        ``"roles.telesales.team.weight"``; ``*`` fans out over every key or
        element; a list element is addressed by index or by its ``name``. A
        missing last key is created (validation of the result says whether
        it is a field).
    value : Any
        Copied into every place the path reaches.
    where : str
        Prefix of error messages.

    Returns
    -------
    int
        Number of places set.
    """

    def put(obj: Any, key: Any) -> None:
        obj[key] = copy.deepcopy(value)

    return _walk(data, _segments(path), put, where, create=True)


def scale_path(data: Any, path: str | Sequence[str], factor: float, where: str = "path") -> int:
    """Multiply the number at a dotted path (as in :func:`set_path`) by ``factor``, in place; returns places scaled."""

    def scale(obj: Any, key: Any) -> None:
        x = obj[key]
        if not isinstance(x, (int, float)) or isinstance(x, bool):
            raise PlanError(f"{where}: '{key}' is not a number")
        obj[key] = x * factor

    return _walk(data, _segments(path), scale, where, create=False)


def _segments(path: str | Sequence[str]) -> list[str]:
    return path.split(".") if isinstance(path, str) else list(path)


def _walk(obj: Any, segs: list[str], leaf: Callable[[Any, Any], None], where: str, create: bool) -> int:
    if not segs or not segs[0]:
        raise PlanError(f"{where}: empty path or path segment")
    head, rest = segs[0], segs[1:]
    if isinstance(obj, dict):
        keys = list(obj) if head == "*" else [head]
    elif isinstance(obj, list):
        keys = _list_keys(obj, head, where)
    else:
        raise PlanError(f"{where}: cannot descend into a {type(obj).__name__} at '{head}'")
    n = 0
    for k in keys:
        if isinstance(obj, dict) and (k not in obj or obj[k] is None) and (rest or not create):
            raise PlanError(f"{where}: no field '{k}' here, expected one of {sorted(obj)}")
        if rest:
            n += _walk(obj[k], rest, leaf, where, create)
        else:
            leaf(obj, k)
            n += 1
    return n


def _list_keys(obj: list, head: str, where: str) -> list[int]:
    if head == "*":
        return list(range(len(obj)))
    if head.lstrip("-").isdigit():
        i = int(head)
        if not -len(obj) <= i < len(obj):
            raise PlanError(f"{where}: index {i} out of range for a list of {len(obj)}")
        return [i]
    idx = [i for i, x in enumerate(obj) if isinstance(x, dict) and x.get("name") == head]
    if not idx:
        names = [x.get("name") for x in obj if isinstance(x, dict)]
        raise PlanError(f"{where}: no element named '{head}', expected one of {names} or an index")
    return idx
