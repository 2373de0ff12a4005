"""Prior ranges of the behavioural parameters (docs/model.md, section 4.11).

The behaviour model's parameters (scenario ``behaviour:`` section, section
4.7) are not known for an analyst's organisation. Each has a documented prior
here: a distribution, bounds and the literature the range comes from. The
ensemble runner (:mod:`simlib.engine.ensemble`) draws parameter sets from
these priors and runs each on the same common random numbers; a scenario can
override any prior under ``behaviour.uncertainty.priors``.

Every prior is written in the parameter's own unit (as in the scenario),
except ``effort_elasticity_scale``, a multiplier on every role's
``effort_elasticity`` (the scenario's values have scale 1).

Base layer: imports only the standard library and NumPy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: distributions a prior may have: ``uniform`` on [low, high]; ``loguniform``: log uniform on [low, high]
DISTRIBUTIONS = ("uniform", "loguniform")


@dataclass(frozen=True)
class Prior:
    """A prior range of one behavioural parameter.

    Attributes
    ----------
    path : str
        Where the value goes: ``"effort.cost_exponent"`` (a field of the
        scenario's ``behaviour:`` section) or ``"roles.*.effort_elasticity"``
        (a multiplier on every role's value).
    dist : str
        ``"uniform"`` or ``"loguniform"``.
    low, high : float
        Bounds, in the parameter's unit (``low == high``: the value is fixed).
    valid : tuple of float
        The closed interval any bound must lie in (mirrors the scenario
        schema; parameters in :data:`STRICT_LOW` exclude the lower end).
    source : str
        Literature or rationale of the range (author, year, title).
    """

    path: str
    dist: str
    low: float
    high: float
    valid: tuple[float, float]
    source: str

    @property
    def centre(self) -> float:
        """Middle of the prior: the midpoint (uniform) or geometric mean (log uniform), in the parameter's unit."""
        if self.dist == "loguniform":
            return math.sqrt(self.low * self.high)
        return 0.5 * (self.low + self.high)

    def quantile(self, u: np.ndarray) -> np.ndarray:
        """Values at probabilities ``u`` in [0, 1] (an array), in the parameter's unit."""
        u = np.asarray(u, dtype=float)
        if self.low == self.high:
            return np.full_like(u, self.low)
        if self.dist == "loguniform":
            return np.exp(np.log(self.low) + u * (np.log(self.high) - np.log(self.low)))
        return self.low + u * (self.high - self.low)


#: default priors, keyed by the name used under ``behaviour.uncertainty.priors``
PRIORS: dict[str, Prior] = {
    "effort_elasticity_scale": Prior(
        "roles.*.effort_elasticity", "uniform", 0.75, 1.25, (0.0, 2.0),
        "Misra & Nair (2011), 'A structural model of sales-force compensation dynamics: estimation and field "
        "implementation'; Chung, Steenburgh & Sudhir (2014), 'Do bonuses enhance sales productivity? A dynamic "
        "structural analysis of bonus-based compensation plans': structural estimates of the sales response to "
        "effort differ by about a quarter either way across reps, products and specifications"),
    "cost_exponent": Prior(
        "effort.cost_exponent", "uniform", 3.0, 5.0, (1.0, 10.0),
        "Misra & Nair (2011); Chung, Steenburgh & Sudhir (2014): implied elasticities of output to marginal pay "
        "eta/(g - eta) of about 0.3-0.7 (telesales) and 0.12-0.27 (key accounts) at g = 5 and 3"),
    "intrinsic": Prior(
        "effort.intrinsic", "loguniform", 1.0, 4.0, (0.0, math.inf),
        "Benabou & Tirole (2003), 'Intrinsic and extrinsic motivation'; calibrated level 2 x S (today's pay "
        "at stake, section 4.1) matches Misra & Nair's +9% (section 4.7); a factor 2 either way"),
    "risk_aversion": Prior(
        "effort.risk_aversion", "uniform", 0.0, 1.0, (0.0, math.inf),
        "Basu, Lal, Srinivasan & Staelin (1985), 'Salesforce compensation plans: an agency theoretic "
        "perspective'; Misra & Nair (2011) find reps close to risk neutral: from risk neutral to a CARA "
        "coefficient of 1 per S (today's pay at stake)"),
    "choice_noise": Prior(
        "effort.choice_noise", "loguniform", 0.025, 0.1, (0.0, math.inf),
        "Rust (1987), 'Optimal replacement of GMC bus engines: an empirical model of Harold Zurcher': scale of "
        "taste shocks is weakly identified; a factor 2 either way of 0.05 x S (today's pay at stake) per month "
        "(assumption)"),
    "monthly_discount": Prior(
        "effort.monthly_discount", "uniform", 0.99, 1.0, (0.0, 1.0),
        "Chung, Steenburgh & Sudhir (2014) and Misra & Nair (2011) fix the discount factor near 1 within a "
        "year; 0.99-1.0 a month is 0-11% a year"),
    "inertia": Prior(
        "multitask.inertia", "loguniform", 0.5, 2.0, (0.0, math.inf),
        "Holmstrom & Milgrom (1991), 'Multitask principal-agent analyses: incentive contracts, asset ownership, "
        "and job design'; weight on today's task split a factor 2 either way of the money weight (assumption)"),
    "social_weight": Prior(
        "team.social_weight", "uniform", 0.5, 1.5, (0.0, 3.0),
        "Holmstrom (1982), 'Moral hazard in teams' (free riding when 0); Bandiera, Barankay & Rasul (2005), "
        "'Social preferences and the response to incentives: evidence from personnel data' (workers weigh "
        "co-workers' pay at up to about their own)"),
    "help_productivity": Prior(
        "team.help_productivity", "uniform", 0.1, 0.2, (0.0, math.inf),
        "Hamilton, Nickerson & Owan (2003), 'Team incentives and worker heterogeneity: an empirical analysis "
        "of the impact of teams on productivity and participation' (+14% with team pay); Bandiera, Barankay "
        "& Rasul (2013), 'Team incentives: evidence from a firm level experiment'"),
    "price_discount": Prior(
        "timing.price_discount", "uniform", 0.2, 0.5, (0.0, 1.0),
        "Oyer (1998), 'Fiscal year ends and nonlinear incentive contracts: the effect on business "
        "seasonality'; Larkin (2014), 'The cost of high-powered incentives: employee gaming in enterprise "
        "software sales' (timing games cost 6-8% of all revenue; the concession per pulled-in deal is "
        "calibrated to that total, so its range is an assumption around the calibrated 0.35)"),
}

#: prior range of ``effort.loss_aversion`` (reference-dependent pay, docs/model.md sections 4.1.2 and 4.11). Kept out
#: of :data:`PRIORS`, so ensembles do not draw it: the parameter is opt-in (default 1, no reference point), at the
#: sources' value of about 2 the model loses validation checks it holds at 1 (section 4.10), and a further prior
#: would change every ensemble's design (each Sobol' dimension's scrambling depends on the number of dimensions)
LOSS_AVERSION_PRIOR = Prior(
    "effort.loss_aversion", "uniform", 1.0, 3.0, (1.0, 10.0),
    "Kahneman & Tversky (1979), 'Prospect theory: an analysis of decision under risk'; Tversky & Kahneman (1992), "
    "'Advances in prospect theory: cumulative representation of uncertainty' (loss aversion 2.25); Fehr & Goette "
    "(2007), 'Do workers work more if wages are high? Evidence from a randomized field experiment' (loss-averse "
    "messengers lower effort per shift when pay rises); 1 (no reference point) to 3 around the usual 2")

#: parameters whose valid range is open at its lower end (the schema has ``gt``)
STRICT_LOW = frozenset({"effort_elasticity_scale", "cost_exponent", "choice_noise", "monthly_discount"})


def prior_problems(name: str, dist: str, low: float, high: float) -> list[str]:
    """What is wrong with a prior override (empty when valid); messages name the bound at fault.

    Parameters
    ----------
    name : str
        Key under ``behaviour.uncertainty.priors`` (one of :data:`PRIORS`).
    dist : str
        Distribution name.
    low, high : float
        Bounds, in the parameter's unit.
    """
    if name not in PRIORS:
        return [f"unknown behavioural parameter '{name}', expected one of {sorted(PRIORS)}"]
    if dist not in DISTRIBUTIONS:
        return [f"dist: expected one of {list(DISTRIBUTIONS)}, got {dist!r}"]
    out = []
    lo_ok, hi_ok = PRIORS[name].valid
    for which, v in (("low", low), ("high", high)):
        if not math.isfinite(v) or v < lo_ok or v > hi_ok:
            out.append(f"{which} = {v!r} is outside the parameter's valid range [{lo_ok}, {hi_ok}]")
    if not out and low > high:
        out.append(f"low = {low!r} is above high = {high!r}")
    if not out and name in STRICT_LOW and low <= lo_ok:
        out.append(f"low = {low!r}: {name} must be above {lo_ok}")
    if not out and dist == "loguniform" and low <= 0:
        out.append(f"a loguniform prior needs low > 0, got {low!r}")
    return out
