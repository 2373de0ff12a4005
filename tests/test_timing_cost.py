"""Timing games cost what the research finds (Larkin 2014): discounts under an accelerating plan, 6-8% of revenue."""

from __future__ import annotations

import numpy as np
import pytest

from simlib.fit import findings as V

#: Larkin (2014): mispricing from timing games under an accelerating plan costs 6-8% of revenue
LARKIN = (6.0, 8.0)


@pytest.mark.parametrize("process", ["telesales", "key_account"])
def test_timing_game_cost_within_a_factor_two_of_larkin(process):
    """Accelerating minus linear quarterly commission: the discount cost, % of revenue, within [3, 16]
    (a factor of two of Larkin's range), up to three standard errors over trials."""
    s = V._load("accelerator_timing")
    if next(iter(s.roles.values())).process != process:
        s = V.swap_role(s, process)
    rows = {label: values for label, values, _ in V._f_accelerator(s, 24, 1)}
    disc = next(v for k, v in rows.items() if k.startswith("discount cost"))
    m, se = float(np.mean(disc)), float(np.std(disc, ddof=1) / np.sqrt(len(disc)))
    assert LARKIN[0] / 2 - 3 * se <= m <= LARKIN[1] * 2 + 3 * se, (m, se)
