"""Help to teammates under a team pool split by contribution (docs/model.md, section 4.3).

Under ``split: contribution`` each member is paid the pool times their share of the team's revenue. Help raises a
teammate's revenue, so it shifts the split away from the helper: per unit of help that raises the team's log output by
``1/N``, the helper's share of the pool ``P`` falls by ``P/N^2`` and the teammates gain it, valued at the teammate
weight ``s``. The helper nets ``-(1 - s) P / N^2`` on top of their part of the pool's growth, the mirror of the share a
rep gains from their own output (``+(1 - s) (P/N) (N-1)/N``, which own effort counts). Help ignored it: at half team
pay, key accounts in teams of 3 helped 2.126 under the contribution split against 2.104 under the equal split.
"""

from __future__ import annotations

import pytest

import simlib
from simlib.behaviour.dynamic import dynamic, help_rivalry

ROLE = "key_account"


def _splits(default_scenario, team_size: int, weight: float = 0.5):
    data = default_scenario.model_dump(by_alias=True)
    data["roles"][ROLE]["team_size"] = team_size
    cur = data["plans"][data["current_plan"]]
    for split in ("equal", "contribution"):
        rp = {**cur["roles"][ROLE], "team": {"weight": weight, "split": split}}
        data["plans"][split] = {**cur, "roles": {**cur["roles"], ROLE: rp}}
    return simlib.scenario_from_dict(data, f"key accounts in teams of {team_size}")


def _help_sq(dm, scen, ing):
    """h^(g_h - 1) of a plan's ingredients against today's (what help's cost curve equates to the ratio of motives)."""
    ic = dm._ingredients(scen.current_plan, ROLE)
    return dm._help(ing, ic) ** (dm.params.team.help_cost_exponent - 1.0), ic


@pytest.mark.parametrize("team_size", [3, 6])
def test_help_under_a_contribution_split_nets_the_share_it_hands_to_teammates(default_scenario, team_size):
    s = _splits(default_scenario, team_size)
    dm = dynamic(s)
    bt = dm.params.team
    ing = dm._ingredients("contribution", ROLE, 1.0)
    N, sig, w = ing["N"], ing["sig"], ing["w"]
    assert sig < 1.0  # teammates' money counts less than one's own: the share shift costs the helper
    ratio, ic = _help_sq(dm, s, ing)
    m0 = bt.help_productivity * bt.help_norm * ic["mv_ind"]["revenue"]
    # the same ingredients without the share shift: the pool's growth alone
    pool_only = bt.help_productivity * (bt.help_norm * ic["mv_ind"]["revenue"]
                                        + w * ing["D"] / N * (1.0 / N + sig * (N - 1.0) / N))
    shift = bt.help_productivity * w * (1.0 - sig) * ing["P"] / N**2
    rho = help_rivalry(dm.params.rivalry, ing, ic)
    assert ratio * m0 * rho == pytest.approx(pool_only - shift, rel=1e-9)
    assert ratio * m0 * rho < pool_only * (1.0 - 0.05)  # a visible effect, not rounding


def test_a_pair_that_values_each_others_money_as_its_own_loses_nothing_to_the_split(default_scenario):
    """Pairs at the default social weight: s = 1, so the share handed over is still the pair's money."""
    s = _splits(default_scenario, 2)
    dm = dynamic(s)
    ing = dm._ingredients("contribution", ROLE, 1.0)
    assert ing["sig"] == 1.0
    bt = dm.params.team
    ratio, ic = _help_sq(dm, s, ing)
    rho = help_rivalry(dm.params.rivalry, ing, ic)
    pool_only = bt.help_productivity * (bt.help_norm * ic["mv_ind"]["revenue"] + ing["w"] * ing["D"] / ing["N"])
    assert ratio * bt.help_productivity * bt.help_norm * ic["mv_ind"]["revenue"] * rho == pytest.approx(pool_only, rel=1e-9)


def test_contribution_split_helps_less_than_equal_split_in_teams_of_three(default_scenario):
    """The behaviour's solved help, mean field included: the split that hands help's gain to the helped helps less."""
    s = _splits(default_scenario, 3)
    dm = dynamic(s)
    h_eq, h_con = dm.solve("equal", ROLE).help, dm.solve("contribution", ROLE).help
    assert h_con < h_eq, (h_con, h_eq)
