"""The Bellman kernels of the ``dynamic`` model: a role's monthly effort programme on a fixed state grid.

For ``NT`` rep types at once, :func:`solve` runs backward induction over each
pay period (docs/model.md, section 4.1, eq. 1)::

    V_m(x) = E_taste max_e  delta * E_eps[V_{m+1}(x + a s_m e^eta eps)] + l_m e^eta - k e^g / g + taste_e

(with CARA risk aversion ``r > 0``, ``E_eps`` is the certainty equivalent
``-log E_eps[exp(-r V)] / r``, :func:`certainty_equivalent`)

from the period's terminal value (with the timing option of section 4.4 at
the period end), and :func:`forward` propagates the state distribution along
the year to give each type's mean output multiplier. The state ``x`` is the
period's cumulative attainment on revenue (fraction of the period target),
on :data:`X_GRID`; the grids are fixed, which is part of what makes results
independent of the chunking of trials.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from simlib.scenario import MONTHS, Scenario

#: attainment state grid (fraction of the period target)
X_LO, X_HI, X_N = -1.0, 5.0, 81
X_GRID = np.linspace(X_LO, X_HI, X_N)
X_H = X_GRID[1] - X_GRID[0]
#: timing choices in units of a month's expected revenue (scaled by max_pull / max_push): steps of a twentieth,
#: fine enough that a rep pulling in to reach a step stops at it (9 points overstated pull-ins near lump sums;
#: results change by under 0.5 points from 41 to 161 points, docs/model.md section 4.4)
Z_UNITS = np.linspace(-1.0, 1.0, 41)
#: timing candidates whose values are within this share of the candidates' size of the best are tied (rounding, not
#: a motive: a pull-in past a cap and a larger one are worth the same), and a tie takes the first, as an exact tie
#: does; so the choice does not follow the scale of money (docs/model.md section 6.2)
TIE = 1e-12


#: the widest kernel, in state cells, that :func:`expect_shifted` applies as one dense matrix product; a wider one (a
#: strong type's month of noisy output moving the state hundreds of cells: a role of one or two reps with a wide
#: ability spread) is read node by node, whose work and memory do not grow with the span (the product is the faster
#: below about 128 to 256 cells). Kernels up to it keep the product's numbers bit for bit (the default scenario's and
#: sweep's reach 143 cells); a wider one's differ from it by rounding, 1e-14 of the values (docs/model.md section 6.2)
DENSE_SPAN = 256


#: the year's state at an inner period's start (two period structures, :class:`Outer`): annual attainment relative to
#: the type's expectation then, ``y0 = a cum (1 + r)``; from none to two and a half times the expected sales
R_OUTER = np.linspace(-1.0, 1.5, 26)


@dataclass
class Outer:
    """The year's pay beside a shorter period's (docs/model.md section 4.1, two period structures).

    The state is then two-dimensional: the inner period's attainment ``x``
    (on :data:`X_GRID`) and the year's attainment at the inner period's
    start ``y0`` (on :data:`R_OUTER`, per type). Within an inner period
    ``y0`` is fixed and the year's attainment is ``y0 + share_p x``, so each
    inner period is solved as the one-dimensional programme of :func:`solve`
    for every ``y0`` at once, from the terminal value ``F(x) +`` the rest of
    the year's value at ``y0 + share_p x``.
    """

    cum: np.ndarray  # (P,) the year's expected revenue share before each inner period
    share: np.ndarray  # (P,) each inner period's share of the year's expected revenue
    year_pay: np.ndarray  # (Y,) money paid at the year's end at annual attainment ``year_y`` (smoothed, cell_mean)
    year_y: np.ndarray  # (Y,) an even grid of annual attainment; linear beyond it

    def final(self, y: np.ndarray) -> np.ndarray:
        """The year's pay at annual attainment ``y`` (any shape): the table interpolated, linear beyond it."""
        t, v = self.year_y, self.year_pay
        h = t[1] - t[0]
        u = np.clip((y - t[0]) / h, 0.0, len(t) - 1.0)
        i = np.minimum(np.floor(u).astype(np.intp), len(t) - 2)
        w = u - i
        out = v[i] + w * (v[i + 1] - v[i])
        lo, hi = (v[1] - v[0]) / h, (v[-1] - v[-2]) / h
        return out + np.where(y < t[0], (y - t[0]) * lo, 0.0) + np.where(y > t[-1], (y - t[-1]) * hi, 0.0)


@dataclass
class Problem:
    """Everything the Bellman recursion needs, for NT rep types (money per year unless noted)."""

    a: np.ndarray  # (NT,) expected attainment at today's effort (incl. focus and help)
    k: np.ndarray  # (NT,) effort cost scale, money per year
    starts: list[int]  # first month (0-11) of each pay period
    ends: list[int]  # last month of each pay period
    inc: np.ndarray  # (12,) expected attainment increment per unit a in month m (period units)
    prof: np.ndarray  # (12,) month's share of annual expected revenue
    terminal: list[np.ndarray]  # per period (NT, G): money at period end
    lin: np.ndarray  # (NT, 12) money per unit of e^eta in month m
    eta: float  # elasticity of revenue to effort
    g: float  # cost exponent
    delta: float  # monthly discount factor
    e_grid: np.ndarray  # effort choices, 1 = today's
    nodes: tuple[np.ndarray, np.ndarray]  # (NT, Q) output noise nodes (mean one) and their weights
    timing: tuple[float, float, float] | None  # (discount, max_pull, max_push)
    next_year_value: np.ndarray | None  # (NT,) money per unit of January attainment
    tau: np.ndarray  # (NT,) scale of the effort taste shocks, money
    # (12,) the plan's annual quota over the quota of the version in force in month m (mid-year changes;
    # None: one set of terms all year): ``inc`` already carries it, a timing move's attainment too
    ratio: np.ndarray | None = None
    # CARA coefficient per unit of money (0: risk neutral): the expectation over a month's output noise is then
    # the certainty equivalent -log E[exp(-risk V)] / risk (utility of money net of effort costs, no wealth effect)
    risk: float = 0.0
    # quasi-hyperbolic beta (1: exponential discounting, today's model bit for bit; docs/model.md section 4.1.3):
    # each month's self weighs by beta everything not received in that month
    present_bias: float = 1.0
    # (NT, 12) the part of ``lin`` received in the month it is earned (the non-money value of output); the rest
    # is money paid with the period's pay at its end. None: all of ``lin`` is received in its month
    lin_now: np.ndarray | None = None
    # the year's pay beside the periods' (two period structures; None: one). Not under present bias or versions
    outer: Outer | None = None


@dataclass
class Solution:
    """Optimal behaviour of NT types on the state grid (with two period structures, NY values of the year's state
    after the type: (NT, NY, 12, G))."""

    effort: np.ndarray  # (NT, 12, G)
    shift: np.ndarray  # (NT, 12, G): timing choice at period ends, units of a month's expected revenue
    mean_output: np.ndarray  # (NT,) E[sum_m prof_m e_m^eta] along the year


def interp(V: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Linear interpolation (with linear extrapolation) of V (NT, G) on X_GRID at X (NT, ...)."""
    NT, G = V.shape
    u = (X - X_LO) / X_H
    i = np.clip(np.floor(u), 0, G - 2).astype(np.intp)
    w = u - i
    base = (np.arange(NT) * G).reshape((NT,) + (1,) * (X.ndim - 1))
    flat = V.ravel()
    v0 = flat[base + i]
    return v0 + w * (flat[base + i + 1] - v0)


def expect_shifted(V: np.ndarray, d: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """E_q[V(x + d_eq)] on the state grid: V (NT, G), shifts d (NT, E, Q) >= 0, weights (NT, Q) -> (NT, G, E).

    The shift does not depend on x, so for each (type, effort) the expectation
    is a kernel over grid offsets (interpolation weights times node
    probabilities, built once), applied to V padded on the right by linear
    extrapolation: one batched matrix product per call. Its work spans the
    largest move of any type, so a kernel wider than :data:`DENSE_SPAN`
    cells is read node by node instead (:func:`_expect_nodes`).
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
    if J > DENSE_SPAN:
        return _expect_nodes(Vp, G, k, w, prob)
    idx = ((np.arange(NT)[:, None, None] * E + np.arange(E)[None, :, None]) * J + k).ravel()
    pw = np.broadcast_to(prob[:, None, :], k.shape)
    n = NT * E * J
    kern = np.bincount(idx, (pw * (1.0 - w)).ravel(), minlength=n) + np.bincount(idx + 1, (pw * w).ravel(), minlength=n + 1)[:n]
    win = np.lib.stride_tricks.sliding_window_view(Vp, G, axis=1)[:, :J, :]  # (NT, J, G): Vp[n, j + g]
    return np.matmul(win.transpose(0, 2, 1), kern.reshape(NT, E, J).transpose(0, 2, 1))


def _expect_nodes(Vp: np.ndarray, G: int, k: np.ndarray, w: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """:func:`expect_shifted` node by node: ``sum_q p_q (Vp[g + k_q] + w_q (Vp[g + k_q + 1] - Vp[g + k_q]))``, (NT, G, E).

    The same interpolation weights times node probabilities as the dense
    kernel, gathered at each node's two cells instead of multiplied across
    every offset up to the largest type's: work and memory NT x G x E per
    node, whatever the span. ``Vp`` (NT, G + J) is V padded by linear
    extrapolation, ``k``, ``w`` (NT, E, Q) each move's whole cells and
    fraction, ``prob`` (NT, Q) the nodes' weights.
    """
    NT, L = Vp.shape
    step = Vp[:, 1:] - Vp[:, :-1]  # (NT, L - 1): the last cell is only ever a right neighbour
    flat, fstep = Vp[:, :-1].ravel(), step.ravel()
    base = (np.arange(NT) * (L - 1))[:, None, None] + np.arange(G)[None, :, None]  # (NT, G, 1)
    out = None
    for q in range(k.shape[2]):
        i = base + k[:, None, :, q]  # (NT, G, E)
        t = (flat[i] + w[:, None, :, q] * fstep[i]) * prob[:, None, None, q]
        out = t if out is None else out + t
    return out


def certainty_equivalent(V: np.ndarray, d: np.ndarray, prob: np.ndarray, risk: float) -> np.ndarray:
    """``-log E_q[exp(-risk V(x + d_eq))] / risk`` on the state grid, shaped as :func:`expect_shifted`'s result.

    The CARA certainty equivalent of the value after a month's noise (money;
    ``risk`` per unit of money). ``V`` is interpolated at every shifted state
    (linearly extrapolated past the grid, as :func:`expect_shifted` does) and
    the log of the expectation taken as a log-sum-exp, so nothing overflows.
    """
    NT, G = V.shape
    Vq = interp(V, X_GRID[None, :, None, None] + d[:, None, :, :])  # (NT, G, E, Q)
    z = -risk * Vq + np.log(np.maximum(prob, 1e-300))[:, None, None, :]
    zmax = z.max(axis=3)
    return -(zmax + np.log(np.exp(z - zmax[..., None]).sum(axis=3))) / risk


def shock_nodes(scenario: Scenario, role: str, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes and weights (NT, Q) of a month's output noise, mean one.

    telesales, channel, generic: lognormal with the process's coefficient of variation
    (Gauss-Hermite, 5 nodes); key_account: compound Poisson (number of deals,
    lognormal sizes) with a rate proportional to the type's expected attainment.
    """
    r = scenario.roles[role]
    p = r.process_params()
    if r.process == "key_account":
        return _compound_poisson_nodes(p.deals_per_month * a, p.deal_size_sd_log)
    if r.process == "telesales":
        n = max(p.calls_per_month * p.lead_rate * p.conversion_rate, 1.0)
        cv = math.sqrt((1.0 + p.deal_value_cv**2) / n)
    elif r.process == "generic":
        cv = p.revenue_cv
    else:
        cv = p.revenue_cv * p.existing_revenue_per_month / (p.existing_revenue_per_month + p.partners_per_month * p.partner_mature_revenue * 3)
    sig = math.sqrt(math.log(1.0 + cv * cv))
    gx, gw = np.polynomial.hermite_e.hermegauss(5)
    gw = gw / gw.sum()
    v = np.exp(sig * gx - 0.5 * sig * sig)
    NT = len(a)
    return np.broadcast_to(v, (NT, 5)).copy(), np.broadcast_to(gw, (NT, 5)).copy()


def _compound_poisson_nodes(rate: np.ndarray, s: float, nmax: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (NT, Q) of a month's deals over their mean: 0..nmax deals (Poisson, ``rate``
    deals a month per type), each count's lognormal total size (log sd ``s`` per deal) on 2 nodes."""
    lam = np.maximum(rate, 1e-3)  # (NT,)
    NT = len(lam)
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


def solve(pb: Problem) -> Solution:
    """Backward induction over the year's pay periods, last first; then the forward pass (:func:`forward`)."""
    if pb.outer is not None:
        return _solve_nested(pb)
    NT, G = len(pb.a), X_N
    eE = pb.e_grid**pb.eta
    cost = pb.k[:, None] * pb.e_grid[None, :] ** pb.g / pb.g  # (NT, E)
    eff = np.ones((NT, MONTHS, G))
    shift = np.zeros((NT, MONTHS, G))
    V_next_start = None  # value at the start of the following period (NT, G)
    for p in range(len(pb.starts) - 1, -1, -1):
        s, t = pb.starts[p], pb.ends[p]
        V = pb.terminal[p].copy()
        if pb.present_bias != 1.0:  # quasi-hyperbolic discounting (section 4.1.3): its own recursion
            V_next_start = _biased_period(pb, p, V, V_next_start, eE, cost, eff, shift)
            continue
        if pb.timing is not None:
            V, shift[:, t, :] = _timing_choice(pb, p, V, V_next_start)
        for m in range(t, s - 1, -1):
            V, eff[:, m, :] = _month_back(pb, m, V, eE, cost)
        V_next_start = V
    return Solution(eff, shift, forward(pb, eff))


def _timing_choice(pb: Problem, p: int, V: np.ndarray, V_next_start: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Value at period ``p``'s end with the best pull-in or push-out, and that choice, each (NT, G)
    (the candidates: :func:`_timing_candidates`)."""
    now, later, z = _timing_candidates(pb, p, V, V_next_start)
    cand = now + later[:, None, :]  # (NT, G, Z)
    j = _first_best(cand, now, later)
    return np.take_along_axis(cand, j[..., None], axis=2)[..., 0], z[j]


def _timing_candidates(pb: Problem, p: int, V: np.ndarray,
                       V_next_start: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Period ``p``'s timing candidates: the value received at the period's end (NT, G, Z), the next period's or
    year's value (NT, Z) and the moves (Z,); :func:`_timing_choice` and, under present bias,
    :func:`_biased_timing` pick among them.

    The moves are :func:`_moves`'. The next period is valued by its start
    value (``V_next_start``), the year's last by the next year's linear value
    of attainment.
    """
    NT = len(pb.a)
    dx_now, x0, later_year, z = _moves(pb, p)
    if V_next_start is not None and (pb.ends[p] + 1) % MONTHS != 0:
        later = pb.delta * (interp(V_next_start, x0) - interp(V_next_start, np.zeros((NT, 1))))
    else:
        later = later_year
    return interp(V, X_GRID[None, :, None] + dx_now[:, None, :]), later, z


def _first_best(cand: np.ndarray, now: np.ndarray, later: np.ndarray) -> np.ndarray:
    """Index (NT, G) of the first timing candidate within :data:`TIE` of the best (NT, G, Z), the tolerance relative
    to the size of the values summed (``now`` (NT, G, Z), ``later`` (NT, Z)); without near ties ``argmax``'s."""
    size = np.abs(now).max(axis=2) + np.abs(later).max(axis=1)[:, None]  # (NT, G)
    best = cand.max(axis=2)
    return np.argmax(cand >= (best - TIE * size)[..., None], axis=2)


def _month_back(pb: Problem, m: int, V: np.ndarray, eE: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One Bellman step: value before month ``m`` from the value after it, and the month's effort, each (NT, G).

    Choice is logit over the effort grid (extreme-value taste shocks, Rust
    1987): ``V = tau log sum exp(Q / tau)``, effort is the choice-probability
    mean. ``eE`` (E,) is the grid's ``e^eta``, ``cost`` (NT, E) the cost of each effort.
    """
    EV = _expect_after(pb, V, _month_shifts(pb, m, eE))
    Q = pb.delta * EV + pb.lin[:, m][:, None, None] * eE[None, None, :] - cost[:, None, :]
    value, eff, _, _ = _logit(pb, Q)
    return value, eff


def _month_shifts(pb: Problem, m: int, eE: np.ndarray) -> np.ndarray:
    """The move of the state over month ``m`` (NT, E, Q): at each effort (``eE`` its ``e^eta``) and output node."""
    nv, _ = pb.nodes  # (NT, Q)
    return (pb.a * pb.inc[m])[:, None, None] * eE[None, :, None] * nv[:, None, :]


def _expect_after(pb: Problem, V: np.ndarray, d: np.ndarray) -> np.ndarray:
    """The expectation of ``V`` (NT, G) after a month's moves ``d`` (:func:`_month_shifts`), (NT, G, E): the
    mean over the output nodes, or the certainty equivalent under CARA risk aversion (``pb.risk > 0``)."""
    npb = pb.nodes[1]
    return expect_shifted(V, d, npb) if pb.risk <= 0 else certainty_equivalent(V, d, npb, pb.risk)


def _logit(pb: Problem, Q: np.ndarray) -> tuple[np.ndarray, ...]:
    """Logit choice over the effort grid of the values ``Q`` (NT, G, E): the value ``tau log sum exp(Q / tau)`` and
    the mean effort (NT, G), and the unnormalised choice weights (NT, G, E) with their sum (NT, G)."""
    qmax = Q.max(axis=2, keepdims=True)
    P = np.exp((Q - qmax) / pb.tau[:, None, None])
    S = P.sum(axis=2)
    eff = (P * pb.e_grid[None, None, :]).sum(axis=2) / S
    return qmax[..., 0] + pb.tau[:, None] * np.log(S), eff, P, S


def _biased_timing(pb: Problem, p: int, V: np.ndarray, V_next_start: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """Period ``p``'s end under present bias: the self of its last month picks the move that maximises the pay
    received now plus ``beta`` times the next period's (or year's) value; returns the value that self sees, the
    long-run (exponentially discounted) value of the same move, and the move, each (NT, G)."""
    b = pb.present_bias
    if pb.timing is None:
        return V, V, np.zeros_like(V)
    now, later, z = _timing_candidates(pb, p, V, V_next_start)
    j = _first_best(now + b * later[:, None, :], now, b * later)[..., None]
    v_now = np.take_along_axis(now, j, axis=2)[..., 0]
    v_later = np.take_along_axis(np.broadcast_to(later[:, None, :], now.shape), j, axis=2)[..., 0]
    return v_now + b * v_later, v_now + v_later, z[j[..., 0]]


def _biased_period(pb: Problem, p: int, V: np.ndarray, V_next_start: np.ndarray | None, eE: np.ndarray,
                   cost: np.ndarray, eff: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Backward induction over period ``p`` for a sophisticated quasi-hyperbolic agent (docs/model.md 4.1.3).

    Fills ``eff`` and ``shift`` for the period's months and returns the
    long-run value at the period's start (NT, G), the exponentially
    discounted value of following every month's self's choices, which the
    previous period's timing choice reads. The period's pay (terminal value
    ``V``) and the linear money paid with it are received in its last month;
    every earlier month's self weighs them, and the following months' value,
    by ``beta``.
    """
    s, t = pb.starts[p], pb.ends[p]
    Vq, Vw, shift[:, t, :] = _biased_timing(pb, p, V, V_next_start)
    eff[:, t, :], Vw = _biased_month(pb, t, Vq, Vw, 1.0, True, eE, cost)
    for m in range(t - 1, s - 1, -1):
        eff[:, m, :], Vw = _biased_month(pb, m, Vw, Vw, pb.present_bias, False, eE, cost)
    return Vw


def _biased_month(pb: Problem, m: int, Vq: np.ndarray, Vw: np.ndarray, bq: float, paid_now: bool, eE: np.ndarray,
                  cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One step of the sophisticated agent's recursion: month ``m``'s effort and the long-run value before it.

    The month's self chooses by ``Q = bq delta E[Vq] + flow - cost`` (logit,
    :func:`_logit`, as :func:`_month_back`), ``flow`` being the non-money value of output
    plus the linear money, the latter weighed by ``beta`` unless it is paid
    this month (``paid_now``, the period's last month). The long-run value
    is the expectation over the taste shocks of the chosen effort's
    exponentially discounted value ``U = delta E[Vw] + lin - cost``:
    ``W = tau LSE(Q / tau) + sum_e p_e (U_e - Q_e)``.
    """
    d = _month_shifts(pb, m, eE)
    EQ = _expect_after(pb, Vq, d)
    EW = EQ if Vw is Vq else _expect_after(pb, Vw, d)
    lin = pb.lin[:, m]
    imm = lin if pb.lin_now is None else pb.lin_now[:, m]
    flow = lin if paid_now else imm + pb.present_bias * (lin - imm)
    Q = bq * pb.delta * EQ + flow[:, None, None] * eE[None, None, :] - cost[:, None, :]
    U = pb.delta * EW + lin[:, None, None] * eE[None, None, :] - cost[:, None, :]
    value, eff, P, S = _logit(pb, Q)
    return eff, value + (P * (U - Q)).sum(axis=2) / S


def forward(pb: Problem, eff: np.ndarray) -> np.ndarray:
    """Output-weighted mean of ``e^eta`` along the year per type (NT,), from the state distribution on the grid.

    Each period starts at ``x = 0``; a month's effort moves the distribution
    by the expected increment times each noise node (mass split linearly
    between grid points, clamped to the grid). Timing choices are left out:
    they move revenue, not output.
    """
    if pb.outer is not None:
        return _forward_nested(pb, eff)
    NT, G = len(pb.a), X_N
    out = np.zeros(NT)
    for p in range(len(pb.starts)):
        s, t = pb.starts[p], pb.ends[p]
        dist = np.zeros((NT, G))
        dist[:, np.searchsorted(X_GRID, 0.0)] = 1.0
        for m in range(s, t + 1):
            e = eff[:, m, :]
            out += pb.prof[m] * (dist * e**pb.eta).sum(axis=1)
            dist = _month_forward(dist, e, pb.a * pb.inc[m], pb.eta, pb.nodes)
    return out


def _month_forward(dist: np.ndarray, e: np.ndarray, step: np.ndarray, eta: float, nodes) -> np.ndarray:
    """The state distribution (NT, G) after a month at effort ``e`` (NT, G), expected increment ``step`` (NT,)."""
    NT, G = dist.shape
    nv, npb = nodes
    tidx = (np.arange(NT) * G)[:, None, None]
    Xn = X_GRID[None, :, None] + step[:, None, None] * (e**eta)[:, :, None] * nv[:, None, :]
    u = np.clip((Xn - X_LO) / X_H, 0, G - 1 - 1e-9)
    i = np.floor(u).astype(np.intp)
    w = u - i
    mass = dist[:, :, None] * npb[:, None, :]
    new = np.bincount((tidx + i).ravel(), (mass * (1 - w)).ravel(), minlength=NT * G)
    new += np.bincount((tidx + i + 1).ravel(), (mass * w).ravel(), minlength=NT * G + 1)[: NT * G]
    return new.reshape(NT, G)


# --------------------------------------------------------------------------
# Two period structures: the year's pay beside a shorter period's (Outer)
# --------------------------------------------------------------------------


def _outer_points(pb: Problem, p: int) -> np.ndarray:
    """The year's attainment at inner period ``p``'s start on its grid, per type (NT, NY_p): one point (none
    sold yet) in the first period."""
    cum = float(pb.outer.cum[p])
    if cum <= 0.0:
        return np.zeros((len(pb.a), 1))
    return pb.a[:, None] * cum * (1.0 + R_OUTER[None, :])


def _tiled(pb: Problem, ny: int) -> Problem:
    """``pb`` for ``NT x ny`` pseudo-types: each type once per value of the year's state (type-major)."""
    if ny == 1:
        return dataclasses.replace(pb, outer=None)
    rep = lambda v: None if v is None else np.repeat(v, ny, axis=0)  # noqa: E731
    nv, npb = pb.nodes
    return dataclasses.replace(
        pb, a=rep(pb.a), k=rep(pb.k), lin=rep(pb.lin), nodes=(rep(nv), rep(npb)), tau=rep(pb.tau),
        next_year_value=rep(pb.next_year_value), lin_now=rep(pb.lin_now), terminal=[], outer=None)


def _outer_value(pb: Problem, q: int, Vs: np.ndarray, y: np.ndarray, x: np.ndarray | float) -> np.ndarray:
    """Inner period ``q``'s start value ``Vs`` (NT, NY_q, G) at the year's attainment ``y`` (NT, ...) and the period's
    state ``x`` (broadcast to ``y``): bilinear over the year's grid (per type) and :data:`X_GRID`, linear beyond both."""
    NT, ny, G = Vs.shape
    x = np.broadcast_to(x, y.shape)
    ux = (x - X_LO) / X_H
    ix = np.clip(np.floor(ux), 0, G - 2).astype(np.intp)
    wx = ux - ix
    sh = (NT,) + (1,) * (y.ndim - 1)
    if ny == 1:
        iy, wy = np.zeros(y.shape, dtype=np.intp), np.zeros(y.shape)
    else:
        r = y / (pb.a * float(pb.outer.cum[q])).reshape(sh) - 1.0
        dr = R_OUTER[1] - R_OUTER[0]
        uy = (r - R_OUTER[0]) / dr
        iy = np.clip(np.floor(uy), 0, ny - 2).astype(np.intp)
        wy = uy - iy
    base = (np.arange(NT) * ny).reshape(sh)
    flat = Vs.reshape(-1)

    def at(jy, jx):
        return flat[(base + jy) * G + jx]

    v0 = at(iy, ix) + wx * (at(iy, ix + 1) - at(iy, ix))
    if ny == 1:
        return v0
    iy1 = iy + 1
    v1 = at(iy1, ix) + wx * (at(iy1, ix + 1) - at(iy1, ix))
    return v0 + wy * (v1 - v0)


def _rest_of_year(pb: Problem, p: int, y: np.ndarray, Vs_next: np.ndarray | None):
    """The value of the year after inner period ``p`` at the year's attainment ``y`` (NT, ...): the next period's start
    value at ``y`` (state 0), or after the last period the year's pay."""
    if Vs_next is None:
        return pb.outer.final(y)
    return _outer_value(pb, p + 1, Vs_next, y, 0.0)


def _nested_end(pb: Problem, p: int, y0: np.ndarray, Vs_next: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Value at inner period ``p``'s end (NT, NY_p, G), with the timing option, and the timing choice.

    Without timing it is ``F(x) + rest(y0 + share_p x)``. A move ``z`` (as
    :func:`_timing_candidates`) books ``dx`` more now, so the period pays
    ``F(x + dx)`` and the year stands at ``y0 + share_p (x + dx)`` when the
    next period starts ``x0`` behind (pulls) or ahead (pushes); its change
    of that value is discounted a month, as there. After the year's last
    period the moved deals leave next year's value as there too.
    """
    NT, ny = y0.shape
    sh = float(pb.outer.share[p])
    F = pb.terminal[p]  # (NT, G)
    base_y = y0[:, :, None] + sh * X_GRID[None, None, :]  # (NT, ny, G)
    stay = _rest_of_year(pb, p, base_y, Vs_next)
    if pb.timing is None:
        return F[:, None, :] + stay, np.zeros((NT, ny, X_N))
    dx, x0, later_year, z = _moves(pb, p)
    V = np.empty((NT, ny, X_N))
    shift = np.empty((NT, ny, X_N))
    for j in range(ny):  # one value of the year's state at a time: (NT, G, Z) arrays
        now = interp(F, X_GRID[None, :, None] + dx[:, None, :])
        y_after = y0[:, j, None, None] + sh * (X_GRID[None, :, None] + dx[:, None, :])
        if Vs_next is None:
            rest = pb.outer.final(y_after)
            later = np.broadcast_to(later_year[:, None, :], rest.shape)
            cand = now + rest + later
        else:
            moved = _outer_value(pb, p + 1, Vs_next, y_after, x0[:, None, :])
            later = pb.delta * (moved - stay[:, j, :, None])
            cand = now + stay[:, j, :, None] + later
        size = np.abs(now).max(axis=2) + np.abs(cand - now).max(axis=2)
        best = cand.max(axis=2)
        k = np.argmax(cand >= (best - TIE * size)[..., None], axis=2)
        V[:, j, :] = np.take_along_axis(cand, k[..., None], axis=2)[..., 0]
        shift[:, j, :] = z[k]
    return V, shift


def _moves(pb: Problem, p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Period ``p``'s timing moves (:func:`_timing_candidates`): the attainment booked now ``dx`` (NT, Z), the next
    period's start state ``x0`` (NT, Z; zero after the year's last period), next year's value of the move (NT, Z)
    and the moves ``z`` (Z,), in units of a month's expected revenue.

    A pull of ``z > 0`` months' worth of next month's expected revenue adds it
    now, net of the price discount, and the next period starts that far
    behind; a push ``z < 0`` moves this month's revenue to the next period.
    """
    s, t = pb.starts[p], pb.ends[p]
    d, mpull, mpush = pb.timing
    m_next = (t + 1) % MONTHS
    z = Z_UNITS * np.where(Z_UNITS > 0, mpull, mpush)  # (Z,)
    month_now = np.where(z > 0, pb.prof[m_next] * (1 - d), pb.prof[t])  # share of annual expected revenue
    amount = np.where(z > 0, z * pb.prof[m_next], z * pb.prof[t])  # moved out of (into) the future
    dx = pb.a[:, None] * np.where(z > 0, z * month_now, z * pb.prof[t])[None, :] / pb.prof[s : t + 1].sum()
    if pb.ratio is not None:  # attainment against the quota of the version in force
        dx = dx * pb.ratio[t]
    x0 = np.zeros((len(pb.a), len(z)))
    if m_next != 0:
        share_next = pb.prof[m_next] / pb.inc[m_next]
        x0 = -pb.a[:, None] * amount[None, :] / share_next  # (NT, Z) next period start state
    later_year = -pb.delta * pb.next_year_value[:, None] * pb.a[:, None] * amount[None, :]
    return dx, x0, later_year, z


def _solve_nested(pb: Problem) -> Solution:
    """:func:`solve` with two period structures (:class:`Outer`): each inner period, last first, for every value of
    the year's state at its start; effort and timing (NT, NY, 12, G), the first period's the same for every value."""
    NT, G, NY = len(pb.a), X_N, len(R_OUTER)
    eE = pb.e_grid**pb.eta
    eff = np.ones((NT, NY, MONTHS, G))
    shift = np.zeros((NT, NY, MONTHS, G))
    Vs_next = None
    for p in range(len(pb.starts) - 1, -1, -1):
        s, t = pb.starts[p], pb.ends[p]
        y0 = _outer_points(pb, p)
        ny = y0.shape[1]
        V, z = _nested_end(pb, p, y0, Vs_next)
        shift[:, :, t, :] = z
        sub = _tiled(pb, ny)
        cost = sub.k[:, None] * sub.e_grid[None, :] ** sub.g / sub.g
        V = V.reshape(NT * ny, G)
        for m in range(t, s - 1, -1):
            V, e = _month_back(sub, m, V, eE, cost)
            eff[:, :, m, :] = e.reshape(NT, ny, G)
        Vs_next = V.reshape(NT, ny, G)
    return Solution(eff, shift, _forward_nested(pb, eff))


def _forward_nested(pb: Problem, eff: np.ndarray) -> np.ndarray:
    """:func:`forward` with two period structures: the distribution over the year's state at each inner period's
    start (on its grid, mass split linearly, clamped) times the period's state distribution."""
    NT, G, NY = len(pb.a), X_N, len(R_OUTER)
    out = np.zeros(NT)
    mass = np.ones((NT, 1))
    for p in range(len(pb.starts)):
        s, t = pb.starts[p], pb.ends[p]
        y0 = _outer_points(pb, p)
        ny = y0.shape[1]
        sub = _tiled(pb, ny)
        dist = np.zeros((NT * ny, G))
        dist[:, np.searchsorted(X_GRID, 0.0)] = mass.reshape(-1)
        for m in range(s, t + 1):
            e = eff[:, :ny, m, :].reshape(NT * ny, G)
            out += pb.prof[m] * (dist * e**pb.eta).reshape(NT, -1).sum(axis=1)
            dist = _month_forward(dist, e, sub.a * pb.inc[m], pb.eta, sub.nodes)
        if p + 1 < len(pb.starts):
            y = y0[:, :, None] + float(pb.outer.share[p]) * X_GRID[None, None, :]  # (NT, ny, G)
            r = y / (pb.a * float(pb.outer.cum[p + 1]))[:, None, None] - 1.0
            u = np.clip((r - R_OUTER[0]) / (R_OUTER[1] - R_OUTER[0]), 0, NY - 1 - 1e-9)
            i = np.floor(u).astype(np.intp)
            w = u - i
            d = dist.reshape(NT, ny, G)
            idx = np.arange(NT)[:, None, None] * NY + i
            mass = (np.bincount(idx.ravel(), (d * (1 - w)).ravel(), minlength=NT * NY)
                    + np.bincount((idx + 1).ravel(), (d * w).ravel(), minlength=NT * NY + 1)[: NT * NY]).reshape(NT, NY)
    return out
