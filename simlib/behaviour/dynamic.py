"""Reps respond to the plan: the ``dynamic`` behaviour model (MODEL.md section 4).

Each rep chooses monthly effort ``e`` to maximise expected discounted pay
(plus money-equivalent rewards) minus the cost of effort ``c(e) = k e^g / g``
by backward induction over each plan period. The state is the period's
cumulative attainment on revenue, ``x``, and the months left. Expected output
of a month is ``a * s_m * e^eta`` attainment units times a noise ``eps`` of
mean one (a few quadrature nodes), where ``a`` is the rep's expected attainment
at today's effort (ability x territory / quota), ``s_m`` the month's share of
the period's expected revenue and ``eta`` the elasticity of revenue to effort
in the role's production process.

The Bellman equation of month ``m`` in a period (docs/model.md, section 4.1, eq. 1)::

    V_m(x) = max_e  delta * E[V_{m+1}(x + a s_m e^eta eps)] + l_m e^eta - k e^g / g

with terminal value ``V_end(x) = U(F(x)) + extras`` (the period's pay curve,
recognition, expected ratchet, timing option), and a linear term ``l_m``
collecting money that is nearly linear in output (other measures, team pay
seen through one's own share, non-money value of output).

``k`` is normalised per rep type so that under the scenario's current plan
the expected output multiplier along the year, ``E[e^eta]``, equals one: the
model then predicts only changes from today. Giving up, coasting at a cap,
pacing under quarterly periods, bunching above lump sums and holding back
under an expected ratchet are not rules: they come out of the maximisation.

Everything is solved on a fixed grid of rep types, independent of the chunk
of trials, so results stay chunk- and executor-invariant; the forward
simulation uses each rep's realised state (common random numbers are kept).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simlib.model.paycurves import compile_component, evaluate
from simlib.model.plans import compute_pay, primary_structure, revenue_profile, set_quotas
from simlib.model.population import Layout, RoleWorld, draw_chunk, market_multiplier, role_world
from simlib.model.production import BASELINE, Controls, run_year
from simlib.scenario import MEASURES, MONTHS, PERIODS, Scenario

# --------------------------------------------------------------------------
# Grids (fixed: part of what makes results independent of the chunking)
# --------------------------------------------------------------------------

#: attainment state grid (fraction of the period target)
X_LO, X_HI, X_N = -1.0, 5.0, 81
X_GRID = np.linspace(X_LO, X_HI, X_N)
X_H = X_GRID[1] - X_GRID[0]
#: rep types: expected attainment at today's effort under the current plan (cost normalisation nodes)
C_GRID = np.exp(np.linspace(math.log(0.25), math.log(4.0), 9))
#: second type dimension: expected attainment under a candidate plan / under the current plan
R_GRID = np.exp(np.linspace(math.log(0.5), math.log(2.0), 9))
#: timing choices in units of a month's expected revenue (scaled by max_pull / max_push)
Z_UNITS = np.linspace(-1.0, 1.0, 9)
#: fixed seed and size of the calibration sample (marginal values of measures)
CAL_SEED, CAL_TRIALS = 20240611, 16
#: model effort at or below this (a fifth under today's) counts as giving up (short of target) or coasting
LOW_EFFORT = 0.8

#: elasticity of each measure to (activity, quality) effort, by process (production.py)
_ELAS: dict[str, dict[str, tuple[float, float]]] = {
    "telesales": {
        "revenue": (1, 1), "calls": (1, 0), "talk_time": (1, 1), "leads": (1, 0),
        "conversions": (1, 1), "conversion_rate": (0, 1), "record_accuracy": (0, 1),
    },
    "key_account": {
        "revenue": (1, 0), "large_order_value": (1, 0), "deals": (1, 0), "new_accounts": (1, 0),
        "milestones": (0, 1), "satisfaction": (0, 1),
    },
    "channel": {
        "revenue": (0.1, 0), "partners_opened": (1, 0), "partner_revenue_new": (1, 0),
        "partner_satisfaction": (0, 1), "policy_adherence": (0, 0.5),
    },
}


def revenue_elasticity(scenario: Scenario, role: str) -> float:
    """Elasticity of a rep's revenue to effort at today's task split (production.py)."""
    r = scenario.roles[role]
    beta = r.effort_elasticity
    if r.process == "telesales":
        return beta + r.process_params().quality_elasticity
    return beta


def _interp(V: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Linear interpolation (with linear extrapolation) of V (NT, G) on X_GRID at X (NT, ...)."""
    NT, G = V.shape
    u = (X - X_LO) / X_H
    i = np.clip(np.floor(u), 0, G - 2).astype(np.intp)
    w = u - i
    base = (np.arange(NT) * G).reshape((NT,) + (1,) * (X.ndim - 1))
    flat = V.ravel()
    v0 = flat[base + i]
    return v0 + w * (flat[base + i + 1] - v0)


def _expect_shifted(V: np.ndarray, d: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """E_q[V(x + d_eq)] on the state grid: V (NT, G), shifts d (NT, E, Q) >= 0, weights (NT, Q) -> (NT, G, E).

    The shift does not depend on x, so for each (type, effort) the expectation
    is a kernel over grid offsets (interpolation weights times node
    probabilities, built once), applied to V padded on the right by linear
    extrapolation: one batched matrix product per call.
    """
    NT, G = V.shape
    E = d.shape[1]
    u = d / X_H
    k = np.floor(u)
    w = u - k
    k = k.astype(np.intp)
    J = int(k.max()) + 2  # offsets 0 .. max k + 1
    slope = V[:, -1:] - V[:, -2:-1]
    Vp = np.concatenate([V, V[:, -1:] + slope * np.arange(1, J + 1)[None, :]], axis=1)  # (NT, G + J)
    idx = ((np.arange(NT)[:, None, None] * E + np.arange(E)[None, :, None]) * J + k).ravel()
    pw = np.broadcast_to(prob[:, None, :], k.shape)
    n = NT * E * J
    kern = np.bincount(idx, (pw * (1.0 - w)).ravel(), minlength=n) + np.bincount(idx + 1, (pw * w).ravel(), minlength=n + 1)[:n]
    win = np.lib.stride_tricks.sliding_window_view(Vp, G, axis=1)[:, :J, :]  # (NT, J, G): Vp[n, j + g]
    return np.matmul(win.transpose(0, 2, 1), kern.reshape(NT, E, J).transpose(0, 2, 1))


def _shock_nodes(scenario: Scenario, role: str, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes and weights (NT, Q) of a month's output noise, mean one.

    telesales, channel: lognormal with the process's coefficient of variation
    (Gauss-Hermite, 5 nodes); key_account: compound Poisson (number of deals,
    lognormal sizes) with a rate proportional to the type's expected attainment.
    """
    r = scenario.roles[role]
    p = r.process_params()
    NT = len(a)
    if r.process == "key_account":
        lam = np.maximum(p.deals_per_month * a, 1e-3)  # (NT,)
        nmax = 5
        s = p.deal_size_sd_log
        cv2 = math.exp(s * s) - 1.0
        gh_x, gh_w = np.polynomial.hermite_e.hermegauss(2)
        gh_w = gh_w / gh_w.sum()
        vals, probs = [np.zeros(NT)], [np.exp(-lam)]
        pk = np.exp(-lam)
        for n in range(1, nmax + 1):
            pk = pk * lam / n
            sig = math.sqrt(math.log(1.0 + cv2 / n))
            for zx, zw in zip(gh_x, gh_w, strict=True):
                vals.append(np.full(NT, n * math.exp(sig * zx - 0.5 * sig * sig)))
                probs.append(pk * zw)
        V = np.stack(vals, axis=1) / lam[:, None]
        P = np.stack(probs, axis=1)
        P = P / P.sum(axis=1, keepdims=True)
        V = V / (V * P).sum(axis=1, keepdims=True)
        return V, P
    if r.process == "telesales":
        n = max(p.calls_per_month * p.lead_rate * p.conversion_rate, 1.0)
        cv = math.sqrt((1.0 + p.deal_value_cv**2) / n)
    else:
        cv = p.revenue_cv * p.existing_revenue_per_month / (p.existing_revenue_per_month + p.partners_per_month * p.partner_mature_revenue * 3)
    sig = math.sqrt(math.log(1.0 + cv * cv))
    gx, gw = np.polynomial.hermite_e.hermegauss(5)
    gw = gw / gw.sum()
    v = np.exp(sig * gx - 0.5 * sig * sig)
    return np.broadcast_to(v, (NT, 5)).copy(), np.broadcast_to(gw, (NT, 5)).copy()


# --------------------------------------------------------------------------
# Calibration sample: marginal value of each measure under a plan
# --------------------------------------------------------------------------


@dataclass
class _Calibration:
    """A small fixed-seed baseline sample of each role (today's effort everywhere)."""

    worlds: dict[str, RoleWorld]
    measures: dict[str, dict[str, np.ndarray]]

    @classmethod
    def of(cls, scenario: Scenario) -> _Calibration:
        root = np.random.SeedSequence(CAL_SEED)
        draws = draw_chunk(Layout.of(scenario), root, np.arange(CAL_TRIALS))
        market = market_multiplier(scenario, draws)
        worlds = {r: role_world(scenario, r, draws, market) for r in scenario.roles}
        return cls(worlds, {r: run_year(w) for r, w in worlds.items()})


def _team_variant(scenario: Scenario, plan: str, weight: float) -> tuple[Scenario, str]:
    """The scenario with a copy of ``plan`` whose team weight is ``weight`` for every role."""
    data = scenario.plans[plan].model_dump(by_alias=True)
    for rp in data["roles"].values():
        rp["team"] = {"weight": weight, "split": rp["team"]["split"]}
    name = f"__{plan}__team{weight:g}"
    return scenario.with_plan(name, data), name


def _marginal_values(scenario, plan, role, world, measures, quota, scale=1.0, rel=0.02):
    """d E[incentive + recognition] / d log(measure) per rep, for each measure (money per year).

    ``scale`` multiplies every flow measure first (teammates' equilibrium output, mean field).
    """
    kinds = MEASURES[world.role.process]
    base = {k: (v * scale if kinds[k] == "flow" else v) for k, v in measures.items()}

    def pay(ms):
        pr = compute_pay(scenario, plan, world, ms, quota)
        return pr.incentive + pr.recognition, pr

    p0, pr0 = pay(base)
    out, comps = {}, {}
    for k in kinds:
        ms = dict(base)
        ms[k] = np.minimum(base[k] * (1 + rel), 1.0) if kinds[k] == "score" else base[k] * (1 + rel)
        p1, pr1 = pay(ms)
        out[k] = float(np.mean(p1 - p0)) / math.log1p(rel)
        if k == "revenue":
            comps = {c: float(np.mean(pr1.components[c] - pr0.components[c])) / math.log1p(rel) for c in pr0.components}
    return out, comps, pr0


# --------------------------------------------------------------------------
# The dynamic programme of one role under one plan
# --------------------------------------------------------------------------


@dataclass
class _Problem:
    """Everything the Bellman recursion needs, for NT rep types."""

    a: np.ndarray  # (NT,) expected attainment at today's effort (incl. focus and help)
    k: np.ndarray  # (NT,) effort cost scale, money per year
    starts: list[int]
    ends: list[int]
    inc: np.ndarray  # (12,) expected attainment increment per unit a in month m (period units)
    prof: np.ndarray  # (12,) month's share of annual expected revenue
    terminal: list[np.ndarray]  # per period (NT, G): money at period end
    lin: np.ndarray  # (NT, 12) money per unit of e^eta in month m
    eta: float
    g: float
    delta: float
    e_grid: np.ndarray
    nodes: tuple[np.ndarray, np.ndarray]
    timing: tuple[float, float, float] | None  # (discount, max_pull, max_push)
    next_year_value: np.ndarray | None  # (NT,) money per unit of January attainment
    tau: np.ndarray  # (NT,) scale of the effort taste shocks, money


@dataclass
class _Solution:
    effort: np.ndarray  # (NT, 12, G)
    shift: np.ndarray  # (NT, 12, G): timing choice at period ends, units of a month's expected revenue
    mean_output: np.ndarray  # (NT,) E[sum_m prof_m e_m^eta] along the year


def _solve(pb: _Problem) -> _Solution:
    NT, G = len(pb.a), X_N
    E = pb.e_grid
    eE = E**pb.eta
    cost = pb.k[:, None] * E[None, :] ** pb.g / pb.g  # (NT, E)
    nv, npb = pb.nodes  # (NT, Q)
    eff = np.ones((NT, MONTHS, G))
    shift = np.zeros((NT, MONTHS, G))
    V_next_start = None  # value at the start of the following period (NT, G)
    x = X_GRID
    for p in range(len(pb.starts) - 1, -1, -1):
        s, t = pb.starts[p], pb.ends[p]
        V = pb.terminal[p].copy()
        if pb.timing is not None:
            d, mpull, mpush = pb.timing
            m_next = (t + 1) % MONTHS
            z = Z_UNITS * np.where(Z_UNITS > 0, mpull, mpush)  # (Z,)
            month_now = np.where(z > 0, pb.prof[m_next] * (1 - d), pb.prof[t])  # share of annual expected revenue
            amount = np.where(z > 0, z * pb.prof[m_next], z * pb.prof[t])  # moved out of (into) the future
            dx_now = pb.a[:, None] * np.where(z > 0, z * month_now, z * pb.prof[t])[None, :] / pb.prof[s : t + 1].sum()
            if V_next_start is not None and m_next != 0:
                share_next = pb.prof[m_next] / pb.inc[m_next]
                x0 = -pb.a[:, None] * amount[None, :] / share_next  # (NT, Z) next period start state
                later = pb.delta * (_interp(V_next_start, x0) - _interp(V_next_start, np.zeros((NT, 1))))
            else:
                later = -pb.delta * pb.next_year_value[:, None] * pb.a[:, None] * amount[None, :]
            cand = _interp(V, x[None, :, None] + dx_now[:, None, :]) + later[:, None, :]  # (NT, G, Z)
            j = np.argmax(cand, axis=2)
            V = np.take_along_axis(cand, j[..., None], axis=2)[..., 0]
            shift[:, t, :] = z[j]
        for m in range(t, s - 1, -1):
            EV = _expect_shifted(V, (pb.a * pb.inc[m])[:, None, None] * eE[None, :, None] * nv[:, None, :], npb)
            Q = pb.delta * EV + pb.lin[:, m][:, None, None] * eE[None, None, :] - cost[:, None, :]
            # logit choice over the effort grid (extreme-value taste shocks, Rust 1987):
            # V = tau log sum exp(Q / tau), effort = its choice-probability mean
            qmax = Q.max(axis=2, keepdims=True)
            P = np.exp((Q - qmax) / pb.tau[:, None, None])
            S = P.sum(axis=2)
            eff[:, m, :] = (P * E[None, None, :]).sum(axis=2) / S
            V = qmax[..., 0] + pb.tau[:, None] * np.log(S)
        V_next_start = V
    return _Solution(eff, shift, _forward(pb, eff, shift))


def _forward(pb: _Problem, eff: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Propagate the state distribution along the year on the grid; output-weighted mean of e^eta."""
    NT, G = len(pb.a), X_N
    nv, npb = pb.nodes
    out = np.zeros(NT)
    tidx = (np.arange(NT) * G)[:, None, None]
    for p in range(len(pb.starts)):
        s, t = pb.starts[p], pb.ends[p]
        dist = np.zeros((NT, G))
        dist[:, np.searchsorted(X_GRID, 0.0)] = 1.0
        for m in range(s, t + 1):
            e = eff[:, m, :]
            out += pb.prof[m] * (dist * e**pb.eta).sum(axis=1)
            Xn = X_GRID[None, :, None] + (pb.a * pb.inc[m])[:, None, None] * (e**pb.eta)[:, :, None] * nv[:, None, :]
            u = np.clip((Xn - X_LO) / X_H, 0, G - 1 - 1e-9)
            i = np.floor(u).astype(np.intp)
            w = u - i
            mass = dist[:, :, None] * npb[:, None, :]
            new = np.bincount((tidx + i).ravel(), (mass * (1 - w)).ravel(), minlength=NT * G)
            new += np.bincount((tidx + i + 1).ravel(), (mass * w).ravel(), minlength=NT * G + 1)[: NT * G]
            dist = new.reshape(NT, G)
    return out


# --------------------------------------------------------------------------
# The model object the engine talks to
# --------------------------------------------------------------------------


@dataclass
class _RoleSolution:
    """Solved behaviour of one role under one plan, on the type grid."""

    effort: np.ndarray  # (NA, NC, 12, G)
    shift: np.ndarray  # (NA, NC, 12, G)
    a_grid: np.ndarray  # (NA,)
    c_grid: np.ndarray  # (NC,)
    starts: list[int]
    ends: list[int]
    inc: np.ndarray
    prof: np.ndarray
    focus: float
    help: float
    help_mult: float
    rev_focus: float
    info: dict[str, Any] = field(default_factory=dict)
    _tables: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False, compare=False)

    def table(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Table ``name`` ("effort" or "shift") flattened, and each entry's difference to the next."""
        if name not in self._tables:
            flat = getattr(self, name).reshape(-1)
            step = np.empty_like(flat)
            np.subtract(flat[1:], flat[:-1], out=step[:-1])
            step[-1] = 0.0
            self._tables[name] = (flat, step)
        return self._tables[name]


class DynamicBehaviour:
    """The ``dynamic`` behaviour model (see the module docstring).

    Parameters
    ----------
    scenario : Scenario
        Its ``behaviour`` section sets every parameter (docs/model.md, section 4).
    """


    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.params = scenario.behaviour
        self._cal: _Calibration | None = None
        self._solved: dict[tuple[str, str], _RoleSolution] = {}
        self._k: dict[str, tuple[np.ndarray, dict]] = {}
        # solutions depend only on the organisation, market, behaviour and current plan (and the
        # candidate's role plan): shared across scenario copies such as a sweep's ``with_plan`` variants
        base = scenario.model_dump(by_alias=True, mode="json", include={"roles", "market", "behaviour"})
        base["current"] = scenario.plans[scenario.current_plan].model_dump(by_alias=True, mode="json")
        self._base = hashlib.sha256(json.dumps(base, sort_keys=True).encode()).hexdigest()

    def _plan_key(self, plan: str, role: str) -> tuple[str, str, str]:
        rp = self.scenario.role_plan(plan, role).model_dump(by_alias=True, mode="json")
        return (self._base, role, json.dumps(rp, sort_keys=True))

    # -- calibration ---------------------------------------------------------
    @property
    def cal(self) -> _Calibration:
        if self._cal is None:
            self._cal = _Calibration.of(self.scenario)
        return self._cal

    def _expected_revenue(self, world: RoleWorld) -> np.ndarray:
        """Expected annual revenue per rep at today's effort (T, R)."""
        E = float(revenue_profile(self.scenario, world.name).sum())
        return E * world.ability * world.territory * world.ramp_mean

    # -- ingredients -----------------------------------------------------------
    def _ingredients(self, plan: str, role: str, omega: float = 1.0) -> dict[str, Any]:
        """Role-level money terms of a plan from the calibration sample (mean field: teammates at ``omega``)."""
        scen, bp = self.scenario, self.params
        world = self.cal.worlds[role]
        meas = self.cal.measures[role]
        rp = scen.role_plan(plan, role)
        TI = scen.target_incentive(plan, role)
        w = rp.team.weight if bp.team.enabled else 0.0
        quota = set_quotas(scen, plan, world)
        s_ind, p_ind = _team_variant(scen, plan, 0.0)
        mv_ind, comp_ind, pr_ind = _marginal_values(s_ind, p_ind, role, world, meas, quota)
        mv_full, _, _ = _marginal_values(scen, plan, role, world, meas, quota)
        team_lin, D, P = 0.0, 0.0, 0.0
        N = float(scen.roles[role].team_size)
        sig = bp.team.social_weight if bp.team.enabled else 0.0
        if w > 0:
            s_team, p_team = _team_variant(scen, plan, 1.0)
            mv_team, _, pr_team = _marginal_values(s_team, p_team, role, world, meas, quota, scale=omega)
            D = sum(v * (1.0 if k == "revenue" or MEASURES[world.role.process][k] == "flow" else 0.0) for k, v in mv_team.items())
            D = D * N  # derivative of a team's pool w.r.t. log team output
            P = float(np.mean(pr_team.incentive)) * N
            own = 1.0 / N + sig * (N - 1.0) / N
            team_lin = w * D / N * own
            if rp.team.split == "contribution":
                team_lin += w * (P / N) * (N - 1.0) / N * (1.0 - sig)
        return dict(
            world=world, rp=rp, TI=TI, w=w, quota=quota, mv_ind=mv_ind, comp_ind=comp_ind,
            mv_full=mv_full, pr_ind=pr_ind, team_lin=team_lin, D=D, P=P, N=N, sig=sig,
        )

    def _focus(self, ing: dict, ing_cur: dict, role: str) -> tuple[float, float]:
        """Multitask split f (1 = today) and the revenue multiplier it implies."""
        bp = self.params.multitask
        r = self.scenario.roles[role]
        pp = r.process_params()
        s0, beta, qe = pp.activity_share, r.effort_elasticity, pp.quality_elasticity
        if not bp.enabled:
            return 1.0, 1.0
        elas = _ELAS[r.process]

        def ab(mv):
            a = sum(max(mv[k], 0.0) * elas[k][0] for k in mv) * beta
            b = sum(max(mv[k], 0.0) * elas[k][1] for k in mv) * qe
            return a, b

        a0, b0 = ab(ing_cur["mv_full"])
        a1, b1 = ab(ing["mv_full"])
        S = a0 + b0
        if S <= 0:
            return 1.0, 1.0
        T = max((1.0 + bp.inertia) * S, a0 / s0, b0 / (1.0 - s0))
        A0, B0 = s0 * T - a0, (1.0 - s0) * T - b0
        s = (a1 + A0) / (a1 + b1 + A0 + B0)
        f = float(np.clip(s / s0, 0.05, 0.99 / s0))
        if r.process == "telesales":
            rev = f**beta * ((1.0 - s0 * f) / (1.0 - s0)) ** qe
        elif r.process == "key_account":
            rev = f**beta
        else:
            rev = 1.0
        return f, float(rev)

    def _help(self, ing: dict, ing_cur: dict) -> float:
        """Help effort h (1 = today): h^(gh-1) = MV_help(plan) / MV_help(current).

        The marginal value of help is ``kappa (n0 M + w D/N (1/N + s (N-1)/N))``:
        a norm ``n0`` times the marginal pay on one's own output today, ``M``,
        plus the team pool that teammates' extra output feeds (valued with the
        social weight ``s``). Under individual pay a rep earns nothing from a
        teammate's sales, so help rises with the team weight.
        """
        bt = self.params.team
        if not bt.enabled or bt.help_productivity <= 0:
            return 1.0

        def mv(i):
            own = 1.0 / i["N"] + i["sig"] * (i["N"] - 1.0) / i["N"]
            # today's motive to help (a norm) plus the team pool a teammate's extra output feeds
            return bt.help_productivity * (bt.help_norm * max(ing_cur["mv_ind"]["revenue"], 0.0) + i["w"] * i["D"] / i["N"] * own)

        m0, m1 = mv(ing_cur), mv(ing)
        if m0 <= 0:
            return 1.0
        return float(max(m1, 0.0) / m0) ** (1.0 / (bt.help_cost_exponent - 1.0))

    def _problem(self, plan: str, role: str, ing: dict, a: np.ndarray, k: np.ndarray) -> _Problem:
        scen, bp = self.scenario, self.params
        rp, TI, w = ing["rp"], ing["TI"], ing["w"]
        prof_raw = revenue_profile(scen, role)
        prof = prof_raw / prof_raw.sum()
        st = primary_structure(rp, TI)
        n = PERIODS[st.period] if not st.ytd else 1
        L = MONTHS // n
        starts = [i * L for i in range(n)]
        ends = [s + L - 1 for s in starts]
        share = np.array([prof[s : t + 1].sum() for s, t in zip(starts, ends, strict=True)])
        inc = np.array([prof[m] / share[m // L] for m in range(MONTHS)])
        qref = float(np.mean(ing["quota"]))
        NT = len(a)
        terminal = []
        for p, t in enumerate(ends):
            F = np.zeros(X_N)
            for c in rp.components:
                if c.measure != "revenue" or c.name not in st.names:
                    continue
                sched = compile_component(c)

                def money(xx, c=c, sched=sched, p=p):
                    if c.kind == "per_unit":
                        v = evaluate(sched, xx * qref * share[p])[0]
                    else:
                        v = evaluate(sched, xx)[0]
                    if c.kind == "curve":  # weight x TI per period; a year-to-date true-up pays the year on the year
                        v = v * c.weight * TI / (PERIODS[c.period] if not c.ytd_true_up else 1)
                    elif c.kind == "commission":
                        v = v * qref * share[p]
                    return v

                # below zero (a period that starts with pulled-in deals still owed): the deals come out of
                # later sales, so they cost pay at the lowest rate rather than nothing
                v0, v1 = money(np.array([0.0, X_H]))
                F += (1.0 - w) * (money(np.maximum(X_GRID, 0.0)) + (v1 - v0) / X_H * np.minimum(X_GRID, 0.0))
            r_aversion = bp.effort.risk_aversion / max(TI, 1e-9)
            U = F if r_aversion <= 0 else (1.0 - np.exp(-r_aversion * F)) / r_aversion
            U = np.broadcast_to(U, (NT, X_N)).copy()
            rec = rp.recognition
            if rec is not None and rec.value > 0 and rec.measure == "revenue" and p == n - 1:
                att = ing["pr_ind"].attainment
                k_top = min(rec.top_k, att.shape[1])
                a_star = float(np.mean(np.sort(att, axis=1)[:, -k_top]))
                annual = (1.0 - share[p]) * a[:, None] + share[p] * X_GRID[None, :]
                U += rec.value * (annual >= a_star)
            if bp.ratchet.enabled and rp.quota.method == "last_year":
                lam = (1.0 - w) * max(ing["mv_ind"]["revenue"], 0.0)
                months_left = MONTHS - t
                pen = bp.ratchet.up * np.maximum(X_GRID - 1.0, 0.0) - bp.ratchet.down * np.maximum(1.0 - X_GRID, 0.0)
                U -= bp.effort.monthly_discount**months_left * lam * share[p] * pen[None, :]
            terminal.append(U)
        # linear terms: revenue components outside the primary structure, other measures, team pay, intrinsic
        elas_q = revenue_elasticity(scen, role)
        proc = scen.roles[role].process
        lin_year = sum(v for c, v in ing["comp_ind"].items() if c not in st.names) * (1.0 - w)
        for kname, v in ing["mv_ind"].items():
            if kname == "revenue":
                continue
            kind = MEASURES[proc][kname]
            lin_year += (1.0 - w) * v * (1.0 if kind == "flow" else 0.5)
        lin_year += ing["team_lin"]
        lin_year += bp.effort.intrinsic * TI
        lin = np.broadcast_to(lin_year * prof[None, :], (NT, MONTHS)).copy()
        e_grid = np.exp(np.linspace(math.log(bp.effort.min_effort), math.log(bp.effort.max_effort), 21))
        timing = None
        if bp.timing.enabled:
            timing = (bp.timing.price_discount, bp.timing.max_pull, bp.timing.max_push)
        # next year's revenue is valued at its pay only: the non-money value of output belongs to the
        # effort that produced it (lin), not to the period it is booked in, so timing cannot create it
        nyv = np.full(NT, (1.0 - w) * max(ing["mv_ind"]["revenue"], 0.0))
        return _Problem(
            a=a, k=k, starts=starts, ends=ends, inc=inc, prof=prof, terminal=terminal, lin=lin,
            eta=elas_q, g=bp.effort.cost_exponent, delta=bp.effort.monthly_discount, e_grid=e_grid,
            nodes=_shock_nodes(scen, role, a), timing=timing, next_year_value=nyv,
            tau=np.full(NT, bp.effort.choice_noise * TI / MONTHS),
        )

    # -- normalisation: effort cost under the current plan ---------------------
    def _cost_scale(self, role: str) -> tuple[np.ndarray, dict]:
        """k on C_GRID such that under the current plan E[e^eta] = 1 along the year."""
        if role in self._k:
            return self._k[role]
        hit = _SHARED.get(("k", self._base, role))
        if hit is not None:
            self._k[role] = hit
            return hit
        cur = self.scenario.current_plan
        ing = self._ingredients(cur, role)
        eta, g = revenue_elasticity(self.scenario, role), self.params.effort.cost_exponent
        a = C_GRID.copy()
        # first guess: linearised marginal value of output at e = 1
        lin0 = max(ing["mv_ind"]["revenue"], 0.0) + self.params.effort.intrinsic * ing["TI"] + ing["team_lin"]
        k = np.full(len(a), max(lin0 * eta, 1e-6))
        if self.params.effort.normalise:
            k = self._bisect_k(cur, role, ing, a, k, eta, g)
        self._k[role] = (k, ing)
        _share(("k", self._base, role), self._k[role])
        return self._k[role]

    def _bisect_k(self, plan, role, ing, a, k, eta, g, tol=1e-3):
        """Find k per type with mean output one: safeguarded secant in log k (output falls as k rises)."""
        el = -eta / max(g - eta, 1e-6)  # d log(output) / d log(k) of an interior optimum
        lk = np.log(k)
        m = np.maximum(_solve(self._problem(plan, role, ing, a, k)).mean_output, 1e-9)
        lo = np.full(len(a), -np.inf)  # log k known to give output > 1
        hi = np.full(len(a), np.inf)  # log k known to give output < 1
        prev_lk, prev_m = None, None
        for _ in range(40):
            err = np.log(m)
            if np.max(np.abs(m - 1.0)) < tol:
                break
            lo = np.where(m > 1.0, np.maximum(lo, lk), lo)
            hi = np.where(m < 1.0, np.minimum(hi, lk), hi)
            slope = np.full(len(a), el)
            if prev_lk is not None:
                dl = lk - prev_lk
                with np.errstate(divide="ignore", invalid="ignore"):
                    sec = (err - np.log(prev_m)) / dl
                ok = np.isfinite(sec) & (sec < -1e-3) & (np.abs(dl) > 1e-12)
                slope = np.where(ok, sec, slope)
            step = np.clip(-err / slope, -3.0, 3.0)
            new = lk + step
            both = np.isfinite(lo) & np.isfinite(hi)
            outside = both & ((new <= lo) | (new >= hi))
            new = np.where(outside, 0.5 * (lo + hi), new)
            new = np.where(np.abs(m - 1.0) < tol, lk, new)  # converged types stay put
            prev_lk, prev_m = lk, m
            lk = new
            m = np.maximum(_solve(self._problem(plan, role, ing, a, np.exp(lk))).mean_output, 1e-9)
        return np.exp(lk)

    # -- solve a role under a plan --------------------------------------------
    def solve(self, plan: str, role: str) -> _RoleSolution:
        """Solve (and cache) a role's behaviour under a plan on the type grid."""
        key = (plan, role)
        if key in self._solved:
            return self._solved[key]
        shared_key = ("sol",) + self._plan_key(plan, role) + (plan == self.scenario.current_plan,)
        hit = _SHARED.get(shared_key)
        if hit is not None:
            self._solved[key] = hit
            return hit
        scen, bp = self.scenario, self.params
        k_c, ing_cur = self._cost_scale(role)
        is_cur = plan == scen.current_plan
        omega = 1.0
        iters = bp.team.iterations if (bp.team.enabled and scen.role_plan(plan, role).team.weight > 0) else 0
        for it in range(iters + 1):
            ing = ing_cur if (is_cur and it == 0 and omega == 1.0) else self._ingredients(plan, role, omega)
            f, rev_f = self._focus(ing, ing_cur, role) if not is_cur else (1.0, 1.0)
            h = self._help(ing, ing_cur) if not is_cur else 1.0
            hm = 1.0 + bp.team.help_productivity * (h - 1.0) if bp.team.enabled else 1.0
            if is_cur:
                a_grid, c_grid = C_GRID, np.array([1.0])
                a_types, k_types = C_GRID, k_c
            else:
                a_grid, c_grid = C_GRID, self._ratio_grid(plan, role)
                a_types = np.repeat(C_GRID, len(c_grid)) * np.tile(c_grid, len(C_GRID))
                k_types = np.repeat(k_c, len(c_grid))
            pb = self._problem(plan, role, ing, a_types * rev_f * hm, k_types)
            sol = _solve(pb)
            if it < iters:
                omega_new = self._population_mean(plan, role, sol, a_grid, c_grid, rev_f * hm)
                if abs(omega_new - omega) < 1e-3:
                    break
                omega = omega_new
        NA, NC = len(a_grid), len(c_grid)
        rs = _RoleSolution(
            effort=sol.effort.reshape(NA, NC, MONTHS, X_N),
            shift=sol.shift.reshape(NA, NC, MONTHS, X_N),
            a_grid=a_grid, c_grid=c_grid, starts=pb.starts, ends=pb.ends, inc=pb.inc, prof=pb.prof,
            focus=f, help=h, help_mult=hm, rev_focus=rev_f,
            info=dict(omega=omega, mean_output=sol.mean_output.reshape(NA, NC)),
        )
        self._solved[key] = rs
        _share(shared_key, rs)
        return rs

    def _ratio_grid(self, plan: str, role: str) -> np.ndarray:
        """Nodes of the second type dimension (attainment ratio, candidate over current plan).

        The ratio is ``q_current / q_plan`` per rep. When the calibration sample
        shows one value for every rep (same quota method and noise, e.g. a
        different level), a single node at that value is exact and the
        programme has 9 types instead of 81; otherwise ``R_GRID``.
        """
        world = self.cal.worlds[role]
        q_new = set_quotas(self.scenario, plan, world)
        q_cur = set_quotas(self.scenario, self.scenario.current_plan, world)
        ratio = q_cur / np.maximum(q_new, 1e-12)
        lo, hi = float(ratio.min()), float(ratio.max())
        if lo > 0 and hi / lo - 1.0 < 1e-9:
            return np.array([0.5 * (lo + hi)])
        return R_GRID

    def _population_mean(self, plan, role, sol, a_grid, c_grid, mult) -> float:
        """Mean output multiplier of the role's reps (calibration sample) under a solution."""
        world = self.cal.worlds[role]
        er = self._expected_revenue(world)
        a_new = er / np.maximum(set_quotas(self.scenario, plan, world), 1e-12)
        a_cur = er / np.maximum(set_quotas(self.scenario, self.scenario.current_plan, world), 1e-12)
        mo = sol.mean_output.reshape(len(a_grid), len(c_grid))
        vals = _bilinear(mo[:, :, None], a_grid, c_grid, a_cur.ravel(), (a_new / a_cur).ravel())[:, 0] * mult
        return float(np.mean(vals))

    # -- engine hooks -----------------------------------------------------------
    def policy(self, plan: str, world: RoleWorld, quota: np.ndarray) -> _Policy | None:
        """Policy of a role's reps under a plan for a chunk of trials.

        Under the current plan (or a plan whose role plan is the same) the policy only records: today's behaviour is
        what the baseline (effort 1) already reproduces, so the current plan
        gives exactly the ``none`` numbers, while the model-implied levels of
        give-up, coasting and discounting are still reported.
        """
        bp = self.params
        if not (bp.effort.enabled or bp.timing.enabled or bp.multitask.enabled or bp.team.enabled):
            return None
        cur = self.scenario.current_plan
        rc = self.solve(cur, world.name)
        same = plan == cur or self.scenario.role_plan(plan, world.name) == self.scenario.role_plan(cur, world.name)
        rs = rc if same else self.solve(plan, world.name)
        er = self._expected_revenue(world)
        q_cur = set_quotas(self.scenario, self.scenario.current_plan, world)
        a_new = er / np.maximum(quota, 1e-12)
        a_cur = er / np.maximum(q_cur, 1e-12)
        return _Policy(self, rs, rc, world, quota, q_cur, a_cur, a_new / a_cur, rs.rev_focus * rs.help_mult, er,
                       record_only=rs is rc)


#: solutions shared by content across model objects in this process (bounded)
_SHARED: dict[tuple, Any] = {}
_SHARED_MAX = 96


def _share(key: tuple, value: Any) -> None:
    if len(_SHARED) >= _SHARED_MAX:
        _SHARED.pop(next(iter(_SHARED)))
    _SHARED[key] = value


def _corners(grid: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower index and weight of v on a log-spaced grid (clamped at the ends)."""
    if len(grid) == 1:
        return np.zeros(v.shape, dtype=np.intp), np.zeros(v.shape)
    lg = np.log(grid)
    u = (np.log(np.clip(v, grid[0], grid[-1])) - lg[0]) / (lg[1] - lg[0])
    i = np.clip(np.floor(u), 0, len(grid) - 2).astype(np.intp)
    return i, u - i


def _type_corners(ga: np.ndarray, gc: np.ndarray, va: np.ndarray, vc: np.ndarray) -> list:
    """Bilinear interpolation over the (a, c) type grid: ``[(ja, jc, weight), ...]`` per corner.

    Indices and weights have the shape of ``va``; with a single ``c`` grid
    point the interpolation is linear in ``a`` (two corners).
    """
    ia, wa = _corners(ga, va)
    ic, wc = _corners(gc, vc)
    ia1, ic1 = np.minimum(ia + 1, len(ga) - 1), np.minimum(ic + 1, len(gc) - 1)
    out = []
    for ja, ua in ((ia, 1 - wa), (ia1, wa)):
        for jc, uc in ((ic, 1 - wc), (ic1, wc)):
            if len(gc) == 1 and jc is ic1:
                continue
            out.append((ja, jc, ua * uc if len(gc) > 1 else ua))
    return out


def _bilinear(tab: np.ndarray, ga, gc, va, vc) -> np.ndarray:
    """tab (NA, NC, ...) at points (va, vc) -> (n, ...)."""
    sh = (-1,) + (1,) * (tab.ndim - 2)
    out = 0.0
    for ja, jc, w in _type_corners(ga, gc, va, vc):
        out = out + w.reshape(sh) * tab[ja, jc]
    return out


class _Track:
    """A rep's position in one plan's pay periods, and lookups in that plan's solved tables."""

    def __init__(self, rs: _RoleSolution, quota: np.ndarray, va: np.ndarray, vc: np.ndarray):
        self.rs = rs
        share = np.array([rs.prof[s : t + 1].sum() for s, t in zip(rs.starts, rs.ends, strict=True)])
        L = rs.ends[0] + 1
        self.period_of = np.arange(MONTHS) // L
        self.target = quota[..., None] * share[None, None, :]  # (T, R, P)
        self.quota = quota
        # bilinear corners over the type grid as flat offsets into a (NA, NC, 12, G) table, with weights
        NC = len(rs.c_grid)
        self.corners = [((ja * NC + jc) * (MONTHS * X_N), w) for ja, jc, w in _type_corners(rs.a_grid, rs.c_grid, va, vc)]

    def x(self, m: int, hist, through: int | None = None) -> np.ndarray:
        """Period attainment before month m (or through month ``through`` inclusive)."""
        p = self.period_of[m]
        s = self.rs.starts[p]
        last = m if through is None else through + 1
        done = self._period_sum(hist["revenue"], s, last) if last > s else np.zeros(self.quota.shape)
        return done / np.maximum(self.target[..., p], 1e-12)

    def _period_sum(self, rev: list, s: int, last: int) -> np.ndarray:
        """``sum(rev[s:last])`` (0 + rev[s] + rev[s+1] + ..., in order), extending the last such sum.

        The running sum is kept with the months' arrays it was built from; a month
        whose array was since replaced (a timing settlement) makes it start again.
        """
        run = getattr(self, "_run", None)
        if run is not None and run[0] == s and run[1] <= last and all(rev[j] is a for j, a in zip(range(s, run[1]), run[2], strict=True)):
            total, used = run[3], list(run[2])
            start = run[1]
        else:
            total, used, start = 0, [], s
        for j in range(start, last):
            total = total + rev[j]
            used.append(rev[j])
        self._run = (s, last, used, total)
        return total

    def lookup(self, name: str, m: int, x: np.ndarray) -> np.ndarray:
        """Table (NA, NC, 12, G) at month m, interpolated over the rep's type and state x."""
        u = (x - X_LO) / X_H
        i = np.clip(np.floor(u), 0, X_N - 2).astype(np.intp)
        w = np.clip(u - i, 0.0, 1.0)
        flat, step = self.rs.table(name)
        off = i + m * X_N
        out = 0.0
        for base, wt in self.corners:
            j = base + off
            out = out + wt * (flat[j] + w * step[j])  # step[j] = flat[j + 1] - flat[j], the same subtraction
        return out


class _Policy:
    """Forward policy of a role's reps under a candidate plan; records what the reps did.

    Effort is today's effort times the model's change, ``e_P(x_P) / e_C(x_C)``,
    and timing shifts are ``z_P - z_C``, each evaluated at the rep's realised
    state under the plan's and the current plan's own pay periods.
    """

    def __init__(self, model: DynamicBehaviour, rs: _RoleSolution, rc: _RoleSolution, world: RoleWorld,
                 quota, q_cur, a_cur, ratio, mult, er, record_only: bool = False):
        bp = model.params
        self.record_only = record_only
        self.world, self.rs = world, rs
        T, R = world.shape
        self.P = _Track(rs, quota, a_cur, ratio)
        self.C = _Track(rc, q_cur, a_cur, np.ones_like(a_cur))
        self.P.a, self.C.a = a_cur * ratio * mult, a_cur
        pp = world.role.process_params()
        self.lag = int(getattr(pp, "pipeline_lag_months", 0)) if world.role.process == "key_account" else 0
        self.eff_on = bp.effort.enabled
        self.lo, self.hi = bp.effort.min_effort, bp.effort.max_effort
        self.er, self.quota = er, quota
        self.effort = np.ones((T, R, MONTHS))
        self.model_effort = np.ones((T, R, MONTHS))  # e_P at the rep's state (absolute, for give-up/coast)
        self.model_discount = np.zeros((T, R))  # discounts of the plan's own pull-ins
        self.expected_left = np.zeros((T, R, MONTHS))
        self.discount = np.zeros((T, R))
        self.help = np.full((T, R), rs.help)
        self.help_mult = rs.help_mult
        self.focus = rs.focus
        self.timing = bp.timing.price_discount if bp.timing.enabled else None
        self.held = None  # pushed revenue held to the plan's next period end (T, R)

    def __call__(self, m: int, hist) -> Controls:
        shape = self.world.shape
        if self.eff_on:
            xp = self.P.x(m, hist)
            ep = self._lagged(self.P, m, xp)
            self.model_effort[..., m] = ep
            if self.record_only:
                e = 1.0
            else:
                e = np.clip(ep / np.maximum(self._lagged(self.C, m, self.C.x(m, hist)), 1e-9), self.lo, self.hi)
            p = self.P.period_of[m]
            left = self.rs.inc[m : self.rs.ends[p] + 1].sum()
            self.expected_left[..., m] = xp + left * self.er / np.maximum(self.quota, 1e-12)
        else:
            e = np.ones(shape)
            self.expected_left[..., m] = 1.0
        self.effort[..., m] = e
        if self.record_only:
            return BASELINE
        return Controls(effort=e, focus=self.focus, help_mult=self.help_mult)

    def record(self, measures) -> None:
        """Record, over today's finished year, what a record-only policy would record month by month.

        A record-only policy (the plan's role plan is today's) keeps today's
        effort, so the year is today's measures: replaying the calls on them
        records the same numbers as stepping the year through :func:`run_year`.
        """
        if not self.record_only:
            raise ValueError("record: only for a record-only policy (one that keeps today's effort)")
        rev = measures["revenue"]
        hist = {"revenue": [rev[..., m] for m in range(MONTHS)]}
        for m in range(MONTHS):
            self(m, hist)
            self.settle(m, hist)

    def _lagged(self, tr: _Track, m: int, x: np.ndarray) -> np.ndarray:
        """Effort for month m when it pays off ``lag`` months later (key-account pipeline).

        The programme is solved without the lag; a rep then picks this
        month's effort from the table of the month the deals will close in,
        at the state expected by then (today's pipeline arriving at today's
        effort).
        """
        if not self.lag:
            return tr.lookup("effort", m, x)
        mm = m + self.lag
        p, inc = tr.period_of, tr.rs.inc
        if mm >= MONTHS:  # closes next year: that year's month, at the expected state then
            mm -= MONTHS
            x_then = tr.a * inc[tr.rs.starts[p[mm]] : mm].sum()
        elif p[mm] == p[m]:
            x_then = x + tr.a * inc[m:mm].sum()
        else:
            x_then = tr.a * inc[tr.rs.starts[p[mm]] : mm].sum()
        return tr.lookup("effort", mm, np.broadcast_to(x_then, x.shape))

    def _move(self, tr: _Track, m: int, hist, d: float):
        """A plan's timing choice at month m, if a period ends there: (pulled now net of the discount,
        pulled out of the following months, pushed out of month m, discount), each (T, R) or 0."""
        if m not in tr.rs.ends:
            return 0.0, 0.0, 0.0, 0.0
        z = tr.lookup("shift", m, tr.x(m, hist, through=m))
        nxt = self.er * tr.rs.prof[(m + 1) % MONTHS]
        cur = self.er * tr.rs.prof[m]
        pulled = np.where(z > 0, z * nxt, 0.0)  # next month's deals closed now
        pushed = np.where(z < 0, -z * cur, 0.0)  # this month's deals delayed
        return pulled * (1 - d), -pulled, pushed, pulled * d

    def settle(self, m: int, hist):
        """Timing at period ends: the plan's pull-ins and push-outs, minus today's (the current plan's).

        Pulls and pushes are differenced separately. Fewer pulls than today
        (a negative pull difference) take the discounted deals out of month
        ``m`` and give them back, at full price, to the following months: the
        discount today's pull-ins cost is saved. More pushes than today delay
        deals closed in month ``m`` (at most its revenue) to the plan's next
        period end; fewer pushes than today book now the deals today's rep
        delayed, out of the following months.
        """
        if self.timing is None:
            return None, None
        nP, lP, uP, dP = self._move(self.P, m, hist, self.timing)
        self.model_discount += dP
        if self.record_only:
            return None, None
        nC, lC, uC, dC = self._move(self.C, m, hist, self.timing)
        ends = self.P.rs.ends
        release = self.held if (m in ends and self.held is not None) else None
        if np.isscalar(nP) and np.isscalar(nC) and release is None:
            return None, None
        shape = self.world.shape
        rev_m = np.maximum(hist["revenue"][m], 0.0)
        # pull-ins: the plan's minus today's, either sign (fewer pulls give back at most month m's revenue)
        dn = np.broadcast_to(nP - nC, shape)
        dl = np.broadcast_to(lP - lC, shape)
        scale = np.where(dn < 0, np.minimum(1.0, rev_m / np.maximum(-dn, 1e-12)), 1.0)
        now, later = dn * scale, dl * scale
        self.discount += (dP - dC) * scale  # revenue moved in total: now + later = -(discount change)
        # push-outs: extra delays are held to the plan's next period end (booked when their value is
        # known), at most the deals closed this month; fewer delays than today book those deals now
        du = np.broadcast_to(uP - uC, shape)
        push = np.minimum(np.maximum(du, 0.0), np.maximum(rev_m + now, 0.0))
        unpush = np.maximum(-du, 0.0)
        now = now - push + unpush
        later = later - unpush
        if release is not None:
            now = now + release
            self.held = None
        if np.any(push > 0):
            if m >= ends[-1]:  # past the year's last period end: into January (steady state, as for pulls)
                later = later + push
            else:
                self.held = push if self.held is None else self.held + push
        return now, later


def behaviour_metrics(rec: _Policy | None, measures: dict[str, np.ndarray], ends: list[int], R: int, T: int,
                      total: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-trial behaviour metrics of one group; ``rec`` None means today's behaviour (behaviour 'none').

    ``total``: the group's revenue per trial, ``revenue.sum(axis=2).sum(axis=1)``, when already known.
    """
    rev = measures["revenue"]
    # one axis at a time (months, then reps): per-trial sums that do not depend on the chunk's shape
    tot = rev.sum(axis=2).sum(axis=1) if total is None else total
    last = rev[..., ends].sum(axis=2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        lms = np.where(tot > 0, last / np.where(tot > 0, tot, 1.0), np.nan)
    if rec is None:
        return {
            "last_month_share": lms, "discount_cost": np.zeros(T), "help_given": np.ones(T),
            "effort_index": np.ones(T), "give_up_share": np.zeros(T), "coast_share": np.zeros(T),
        }
    low = rec.model_effort <= LOW_EFFORT
    short = rec.expected_left < 1.0
    return {
        "last_month_share": lms,
        "discount_cost": rec.model_discount.sum(axis=1),
        "help_given": rec.help.mean(axis=1),
        "effort_index": rec.effort.mean(axis=2).mean(axis=1),
        "give_up_share": (low & short).any(axis=2).mean(axis=1),
        "coast_share": (low & ~short).any(axis=2).mean(axis=1),
    }


_MODELS: dict[str, DynamicBehaviour] = {}


def dynamic(scenario: Scenario) -> DynamicBehaviour:
    """Factory registered as behaviour ``'dynamic'``; reuses solutions for the same scenario in a process."""
    key = scenario.sha256 or str(id(scenario))
    m = _MODELS.get(key)
    if m is None:
        if len(_MODELS) > 16:
            _MODELS.clear()
        m = _MODELS[key] = DynamicBehaviour(scenario)
    return m
