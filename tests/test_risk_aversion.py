"""CARA risk aversion in the dynamic model prices risk, not the level of pay (docs/model.md section 4.1).

With effort costs in money and exponential utility of money net of them, a
sure payment changes nothing a rep chooses (no wealth effect), and money from
team pay is worth the same as money from individual pay. Found by
``python -m benchmarks.finding_variants`` (docs/model.md section 4.9.1): with
the old utility of each period's pay alone, ``U(F) = (1 - exp(-r F / S)) / (r / S)``,
a euro at target was worth ``exp(-r)`` of a euro of linear money at the margin,
and the free-riding, overachievement and bonus-to-commission findings turned
with risk aversion.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from simlib.behaviour.dynamic import DynamicBehaviour
from simlib.fit import findings as V
from simlib.scenario import scenario_from_dict


def _with_sure_pay(risk: float):
    """The accelerator scenario with two candidate plans: today's linear commission, and the same plus a sure
    lump sum each quarter (paid at 0% attainment), with CARA risk aversion ``risk`` (per S)."""
    s = V._load("accelerator_timing")
    d = s.model_dump(by_alias=True)
    d["behaviour"]["effort"]["risk_aversion"] = risk
    plain = copy.deepcopy(d["plans"]["current"])
    sure = copy.deepcopy(plain)
    sure["roles"]["reps"]["components"].append(
        {"name": "sure", "measure": "revenue", "kind": "lump_sum", "period": "quarter", "steps": [{"at": 0.0, "amount": 3000.0}]})
    d["plans"]["plain"], d["plans"]["sure"] = plain, sure
    return scenario_from_dict(d, s.source + " (sure pay)")


@pytest.mark.parametrize("risk", [0.0, 1.0])
def test_a_sure_payment_does_not_change_effort(risk):
    s = _with_sure_pay(risk)
    m = DynamicBehaviour(s)
    a, b = m.solve("plain", "reps"), m.solve("sure", "reps")
    assert a.c_grid.tolist() == b.c_grid.tolist()
    np.testing.assert_allclose(b.effort, a.effort, atol=1e-6)
    np.testing.assert_allclose(b.shift, a.shift, atol=1e-9)


def test_risk_aversion_lowers_effort_when_more_output_is_riskier():
    """Output noise is proportional to output, so at a given effort cost (no normalisation to today's effort) a
    risk-averse rep works less than a risk-neutral one, under a linear and an accelerating plan (Basu et al.)."""
    base = V._load("accelerator_timing")
    out = {}
    for risk in (0.0, 1.0):
        d = base.model_dump(by_alias=True)
        d["behaviour"]["effort"].update(risk_aversion=risk, normalise=False)
        m = DynamicBehaviour(scenario_from_dict(d, base.source))
        out[risk] = [float(m.solve(p, "reps").info["mean_output"].mean()) for p in ("current", "accelerating")]
    assert out[1.0][0] < out[0.0][0] and out[1.0][1] < out[0.0][1]


def test_free_riding_survives_risk_aversion():
    """All-team pay lowers effort for risk-averse reps too (Hamilton, Nickerson & Owan 2003; Holmstrom 1982)."""
    s = V._load("team_weight")
    d = s.model_dump(by_alias=True)
    d["behaviour"]["effort"]["risk_aversion"] = 1.0
    s = scenario_from_dict(d, s.source + " (risk averse)")
    ind = V.role_run(s, "current", trials=12, rng=4)
    team = V.role_run(s, "team_100", trials=12, rng=4)
    diff = team.effort.mean(axis=(1, 2)) - ind.effort.mean(axis=(1, 2))
    assert diff.mean() + 3 * diff.std(ddof=1) / np.sqrt(len(diff)) < 0
