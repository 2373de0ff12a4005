"""``python -m benchmarks.kishore``: the bonus-to-commission finding (Kishore et al. 2013) by quintile of ``a``.

Runs ``scenarios/validation/bonus_to_commission.yaml`` (telesales) and its
``swap_role`` variants (key accounts, channel) as ``simlib validate-model``
does, under the lump sum (today's plan) and the commission, on the same
draws, and prints per role type: the revenue change, the low-minus-high
tercile check of ``validate-model`` with its 95% CI, the change without the
top quintile, and per quintile of expected attainment ``a`` the mean ``a``,
the revenue change, effort under the commission over under the lump sum,
the model's effort at the rep's state under each plan (1 = today's) and the
share of rep-months at or below 0.8 of today's effort (giving up or
coasting). Evidence for docs/model.md section 4.10 (the Kishore item).

Options for the questions asked there: ``--from-quota`` pays the same
commission rate from the quota on only ("for every sale beyond their
targets"), ``--effort-elasticity X`` sets the role's effort elasticity after
the swap (channel: how much of the size is the elasticity), ``--loss-aversion X``
sets ``behaviour.effort.loss_aversion`` (reference-dependent pay, docs/model.md
section 4.1.2), ``--present-bias X`` sets ``behaviour.effort.present_bias``
(quasi-hyperbolic discounting, section 4.1.3).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from simlib.behaviour.dynamic import DynamicBehaviour
from simlib.behaviour.policy import LOW_EFFORT
from simlib.errors import SimlibError
from simlib.fit.findings import FINDINGS, SCENARIO_DIR, swap_role
from simlib.format import interval
from simlib.model.pipeline import passes, worlds
from simlib.model.plans import set_quotas
from simlib.model.population import Layout, draw_chunk, root_seed
from simlib.scenario import Scenario, load_scenario, scenario_from_dict

KEY = "bonus_to_commission"


def change(new: np.ndarray, old: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-trial % change (T,) of the revenue summed over the reps in ``mask`` (T, R)."""
    n = np.where(mask, new, 0.0).sum(axis=1)
    o = np.where(mask, old, 0.0).sum(axis=1)
    return 100.0 * (n / np.maximum(o, 1e-12) - 1.0)


def variant(scen: Scenario, from_quota: bool, elasticity: float | None, loss_aversion: float | None = None,
            present_bias: float | None = None) -> Scenario:
    """The scenario with the commission paid from the quota on (same rate), the role's effort elasticity, the reps'
    loss aversion and/or their present bias set."""
    if not from_quota and elasticity is None and loss_aversion is None and present_bias is None:
        return scen
    data = scen.model_dump(by_alias=True)
    if loss_aversion is not None:
        data["behaviour"]["effort"]["loss_aversion"] = loss_aversion
    if present_bias is not None:
        data["behaviour"]["effort"]["present_bias"] = present_bias
    (name, role), = data["roles"].items()
    if elasticity is not None:
        role["effort_elasticity"] = elasticity
    if from_quota:
        comp = data["plans"]["commission"]["roles"][name]["components"][0]
        if comp["kind"] == "per_unit":  # the rate per euro, on each period's revenue beyond its quota
            comp.update(kind="commission", mode="marginal", rate=None,
                        tiers=[{"from": 0.0, "rate": 0.0}, {"from": 1.0, "rate": comp["rate"]}])
        else:
            comp["points"] = [[0.0, 0.0], [1.0, 0.0], [2.0, 1.0]]
    return scenario_from_dict(data, f"{scen.source} (variant)")


def run(scen: Scenario, plan: str, trials: int, seed: int, model: DynamicBehaviour):
    """Annual revenue (T, R), the policy's record and ``a`` (T, R) of the role under ``plan``."""
    role = next(iter(scen.roles))
    draws = draw_chunk(Layout.of(scen), root_seed(seed), np.arange(trials))
    o = next(passes(scen, [plan], worlds(scen, draws, [role]), model))
    a = model.expected_revenue(o.world) / np.maximum(set_quotas(scen, scen.current_plan, o.world), 1e-12)
    return o.measures["revenue"].sum(axis=-1), o.policy.recorded, a


def measure(scen: Scenario, trials: int, seed: int) -> dict:
    """The figures for one role type: ``total`` and ``without_top`` (% revenue change), ``low_high`` (mean and SE
    of the tercile check, pp) and ``quintiles`` (one dict per quintile of ``a``, lowest first)."""
    model = DynamicBehaviour(scen)
    rb, recb, a = run(scen, "bonus", trials, seed, model)
    rc, recc, _ = run(scen, "commission", trials, seed, model)
    lo, hi = np.quantile(a, [1 / 3, 2 / 3], axis=1, keepdims=True)
    diff = change(rc, rb, a <= lo) - change(rc, rb, a >= hi)
    q = np.quantile(a, [0.2, 0.4, 0.6, 0.8], axis=1, keepdims=True)
    idx = sum((a > q[k]).astype(int) for k in range(4))
    quint = []
    for k in range(5):
        mk = idx == k
        quint.append(dict(a=float(a[mk].mean()), revenue=float(change(rc, rb, mk).mean()),
                          effort=float(recc.effort[mk].mean()),
                          model_bonus=float(recb.model_effort[mk].mean()),
                          low_bonus=float((recb.model_effort[mk] <= LOW_EFFORT).mean()),
                          model_commission=float(recc.model_effort[mk].mean()),
                          low_commission=float((recc.model_effort[mk] <= LOW_EFFORT).mean())))
    return dict(total=float(change(rc, rb, np.ones(a.shape, dtype=bool)).mean()),
                without_top=float(change(rc, rb, idx < 4).mean()),
                low_high=(float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(trials))), quintiles=quint)


def table(res: dict) -> list[str]:
    """The lines printed for one role type's figures (:func:`measure`)."""
    d, se = res["low_high"]
    lo, hi = interval(d, se)
    out = [f"  revenue change {res['total']:+.2f}%; without the top quintile {res['without_top']:+.2f}%; "
           f"low minus high tercile {d:+.2f} pp [{lo:+.2f}, {hi:+.2f}]"]
    for k, r in enumerate(res["quintiles"]):
        out.append(f"  quintile {k + 1}: a {r['a']:.2f}, revenue {r['revenue']:+.1f}%, effort commission / bonus "
                   f"{r['effort']:.2f}; model effort bonus {r['model_bonus']:.2f} ({100 * r['low_bonus']:.0f}% of "
                   f"rep-months <= {LOW_EFFORT}), commission {r['model_commission']:.2f} ({100 * r['low_commission']:.0f}%)")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.kishore")
    p.add_argument("--trials", type=int, default=200, help="trials (2 to 10,000; default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--from-quota", action="store_true", help="the commission pays its rate from the quota on only")
    p.add_argument("--effort-elasticity", type=float, default=None, help="the role's effort elasticity (0 to 1)")
    p.add_argument("--loss-aversion", type=float, default=None, help="the reps' loss aversion (1 to 10)")
    p.add_argument("--present-bias", type=float, default=None, help="the reps' present bias beta (0 to 1)")
    a = p.parse_args(argv)
    if not 2 <= a.trials <= 10_000:
        p.error(f"--trials: expected 2 to 10,000, got {a.trials}")
    finding = next(f for f in FINDINGS if f.key == KEY)
    try:
        base = load_scenario(SCENARIO_DIR / f"{finding.scenario}.yaml")
        for i, process in enumerate(finding.role_types(next(iter(base.roles.values())).process)):
            scen = variant(base if i == 0 else swap_role(base, process), a.from_quota, a.effort_elasticity,
                           a.loss_aversion, a.present_bias)
            print(process)
            print("\n".join(table(measure(scen, a.trials, a.seed))))
    except SimlibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
