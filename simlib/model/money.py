"""The money scale of a role: one rule for every term that needs an amount of money per rep-year.

The behaviour model's non-money terms (value of output, taste shocks, risk
aversion; ``DynamicBehaviour.pay_at_stake``, docs/model.md section 4.1) and
the attrition hazard and hiring cost of multi-year runs (today's on-target
pay, :func:`simlib.model.attrition.on_target_pay`, section 4.12) are scaled by
what a rep of the role is paid today. Where today's plan pays nothing at all
(no incentive, no base salary), they fall back on a fifth of a rep's revenue
in a year (on-target earnings where quotas are 5 times them), which moves
with money too: every amount of money x1000 then leaves attainment, effort,
leaving and hiring as they were. A fixed unit of money did not.
"""

from __future__ import annotations

#: a rep's revenue in a year over the fallback money scale (on-target earnings where quotas are 5 times them)
REVENUE_PER_SCALE = 5.0


def rep_pay_scale(*pay: float, revenue: float) -> float:
    """The money scale of a rep-year (what a rep is paid today): the first positive amount of ``pay`` (money per
    rep-year, in order of preference); else a fifth of ``revenue`` (a rep's expected revenue in a year today) if
    positive; else 1, where there is no money at all.

    Not :func:`simlib.present.money_scale`, the k / M display scale of numbers in tables.

    NaN counts as not positive.
    """
    for amount in pay:
        if amount > 0:
            return float(amount)
    return revenue / REVENUE_PER_SCALE if revenue > 0 else 1.0
