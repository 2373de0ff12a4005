"""Scenarios as data: the organisation, the market, the current plan and candidates.

A scenario is a YAML file validated on load with pydantic. Unknown keys are
rejected, and every problem is reported at once with the file, the dotted
field path and what was expected (:class:`simlib.errors.ScenarioError`).

A candidate plan may be written in full, or as ``base: <plan>`` plus
``changes:`` that are deep-merged into the base plan (lists of components are
merged by ``name``), in the spirit of OpenFisca reforms.
"""

from __future__ import annotations

import copy
import datetime
import difflib
import hashlib
import json
import math
import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from simlib.errors import Problem, ScenarioError
from simlib.io import SHIPPED
from simlib.memo import by_identity
from simlib.priors import PRIORS, prior_problems
from simlib.roster import Roster, RosterError, TrackRecord, read_roster
from simlib.tables import currency_code_problem

MONTHS = 12
#: most reps in one role, and in one team
MAX_HEADCOUNT, MAX_TEAM_SIZE = 200_000, 10_000
#: a role name the results use for the organisation total
RESERVED_ROLES = ("total",)
PROCESSES = ("telesales", "key_account", "channel", "generic")
PERIODS = {"month": 12, "quarter": 4, "half": 2, "year": 1}

#: Measures each production process yields. ``flow`` measures are summed over
#: an assessment period; ``score`` measures (0-1 quality scores, rates) are
#: averaged.
MEASURES: dict[str, dict[str, str]] = {
    "telesales": {
        "revenue": "flow",
        "calls": "flow",
        "talk_time": "flow",
        "leads": "flow",
        "conversions": "flow",
        "conversion_rate": "score",
        "record_accuracy": "score",
    },
    "key_account": {
        "revenue": "flow",
        "large_order_value": "flow",
        "deals": "flow",
        "new_accounts": "flow",
        "milestones": "flow",
        "satisfaction": "score",
    },
    "channel": {
        "revenue": "flow",
        "partners_opened": "flow",
        "partner_revenue_new": "flow",
        "partner_satisfaction": "score",
        "policy_adherence": "score",
    },
    "generic": {
        "revenue": "flow",
        "units": "flow",
    },
}


_SEP = " ;; "


def _nested(exc: ValidationError, prefix: str) -> str:
    """Encode a nested model's errors so :func:`_problems_from` can give each its own path."""
    parts = []
    for err in exc.errors():
        loc = ".".join(x for x in [prefix, *(str(y) for y in err["loc"])] if x)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (not allowed here; check the spelling)"
        elif "input" in err and err["type"] != "value_error":
            msg = f"{msg}; got {excerpt(err['input'])}{_percent_hint(err)}"
        parts.append(f"@{loc}: {msg}")
    return _SEP.join(parts)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: largest magnitude of any number in a scenario: money per rep-year, counts per month, rates
MAX_MAGNITUDE = 1e12
#: longest excerpt of the input quoted in an error message (characters)
EXCERPT = 80


def excerpt(value: Any, limit: int = EXCERPT) -> str:
    """``repr(value)`` cut to ``limit`` characters, so an error never prints a huge input."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def _plain_number(value: Any) -> Any:
    """Refuse YAML ``true``/``false`` (pydantic reads them as 1 and 0) and ``.inf``/``.nan`` where a number is expected."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got the boolean {str(value).lower()}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value}")
    return value


#: every number of a scenario: not a boolean, finite, within +-MAX_MAGNITUDE
Real = Annotated[float, BeforeValidator(_plain_number),
                 Field(allow_inf_nan=False, ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE)]
#: every whole number of a scenario: not a boolean, within +-MAX_MAGNITUDE
Whole = Annotated[int, BeforeValidator(_plain_number), Field(ge=-int(MAX_MAGNITUDE), le=int(MAX_MAGNITUDE))]
Fraction = Annotated[Real, Field(ge=0.0, le=1.0)]
Positive = Annotated[Real, Field(gt=0.0)]
NonNeg = Annotated[Real, Field(ge=0.0)]

#: largest attainment (result / target) a pay schedule may name: 10 is 1,000% of target; a larger number is
#: almost surely a percent written as a number (120 for 120%), which would otherwise pay nothing, silently
MAX_ATTAINMENT = 10.0


def _as_percent(value: float, limit: float) -> str:
    """``: write 1.2 for 120%`` when ``value`` reads as a percent (10 or more) of a number at most ``limit``, else ``''``."""
    return f": write {value / 100:g} for {value:g}%" if max(limit, 10.0) <= value <= 100 * limit and value > limit else ""


def _attainment(value: float) -> float:
    """Refuse an attainment beyond :data:`MAX_ATTAINMENT`, saying how to write a percent."""
    if value > MAX_ATTAINMENT:
        raise ValueError(f"expected attainment as a multiple of target (1.1 is 110%), at most {MAX_ATTAINMENT:g}; "
                         f"got {value:g}{_as_percent(value, MAX_ATTAINMENT)}")
    return value


#: an attainment (result / target) in a pay schedule: 0 to MAX_ATTAINMENT
Attainment = Annotated[NonNeg, AfterValidator(_attainment)]


def _percent_hint(err: dict) -> str:
    """For a number above a field's upper bound that reads as a percent (45 for a share of at most 1), how to write it."""
    bound = (err.get("ctx") or {}).get("le", (err.get("ctx") or {}).get("lt"))
    value = err.get("input")
    if err.get("type") not in ("less_than_equal", "less_than") or isinstance(value, bool):
        return ""
    if not isinstance(value, int | float) or not isinstance(bound, int | float) or not 1 <= bound <= MAX_ATTAINMENT:
        return ""  # shares and multiples only, not money or counts
    return _as_percent(float(value), float(bound))


# --------------------------------------------------------------------------
# Organisation and market
# --------------------------------------------------------------------------


class Market(_Model):
    """Demand common to every rep in a trial (correlates revenue and cost risk)."""

    growth_mean: Real = Field(0.03, ge=-0.5, le=1.0, description="expected annual demand growth, fraction")
    growth_sd: NonNeg = Field(0.05, description="sd of the log annual shock")
    monthly_sd: NonNeg = Field(0.03, description="sd of monthly AR(1) log shocks")
    monthly_rho: Real = Field(0.5, ge=0.0, lt=1.0, description="AR(1) persistence of monthly shocks")


class _Cancellable(_Model):
    """The cancellation process of a role's deals (docs/model.md section 3, clawbacks).

    Each deal booked (telesales conversions, key-account deals, generic
    units) cancels with probability ``cancel_rate``, in one of the
    ``cancel_window_months`` months after the month it was booked (each as
    likely). Both are left out of dumps when unset, so roles without
    cancellations keep their sha256.
    """

    cancel_rate: Fraction | None = Field(
        None, exclude_if=lambda v: v is None,
        description="probability that a booked deal later cancels (share of deals, so of revenue)")
    cancel_window_months: Annotated[Whole, Field(ge=1, le=MONTHS)] | None = Field(
        None, exclude_if=lambda v: v is None,
        description="deals that cancel do so within this many months after booking (default 3)")

    @field_validator("cancel_window_months")
    @classmethod
    def _window_needs_rate(cls, v: int | None, info: ValidationInfo) -> int | None:
        if v is not None and info.data.get("cancel_rate") is None:
            raise ValueError("given without cancel_rate; expected cancel_rate (the share of booked deals that "
                             "later cancel) beside it")
        return v

    @property
    def cancel_window(self) -> int:
        """Months after booking within which cancelled deals cancel (3 unless set)."""
        return 3 if self.cancel_window_months is None else int(self.cancel_window_months)


class TelesalesProduction(_Cancellable):
    """Funnel: calls -> leads -> conversions -> revenue (docs/model.md section 2)."""

    calls_per_month: Positive = 900.0
    talk_minutes_per_call: Positive = 4.0
    lead_rate: Fraction = 0.10
    conversion_rate: Fraction = 0.25
    deal_value: Positive = 1100.0
    deal_value_cv: NonNeg = 0.6
    record_accuracy: Fraction = 0.92
    record_accuracy_sd: NonNeg = 0.03
    activity_share: Annotated[Real, Field(gt=0.0, lt=1.0)] = 0.5
    quality_elasticity: NonNeg = 0.5


class KeyAccountProduction(_Cancellable):
    """Few large deals: compound Poisson with lognormal deal sizes, pipeline lag."""

    deals_per_month: Positive = 0.5
    deal_size_mean: Positive = 120000.0
    deal_size_sd_log: NonNeg = 0.8
    large_order_threshold: NonNeg = 150000.0
    pipeline_lag_months: Annotated[Whole, Field(ge=0, le=6)] = 1
    new_account_share: Fraction = 0.3
    milestones_per_month: Positive = 2.0
    satisfaction: Fraction = 0.82
    satisfaction_sd: NonNeg = 0.05
    activity_share: Annotated[Real, Field(gt=0.0, lt=1.0)] = 0.7
    quality_elasticity: NonNeg = 0.3


class ChannelProduction(_Model):
    """Partners opened, each ramping up; revenue of existing partners."""

    existing_revenue_per_month: Positive = 42000.0
    revenue_cv: NonNeg = 0.15
    partners_per_month: NonNeg = 0.6
    partner_mature_revenue: Positive = 4000.0
    partner_ramp_months: Positive = 4.0
    partner_satisfaction: Fraction = 0.78
    partner_satisfaction_sd: NonNeg = 0.05
    policy_adherence: Fraction = 0.95
    policy_adherence_sd: NonNeg = 0.02
    activity_share: Annotated[Real, Field(gt=0.0, lt=1.0)] = 0.3
    quality_elasticity: NonNeg = 0.3

    # a channel role has no cancellation process: the field exists only to say so (left out of dumps)
    cancel_rate: Any = Field(None, exclude_if=lambda v: v is None)

    @field_validator("cancel_rate")
    @classmethod
    def _no_cancellations(cls, v: Any) -> Any:
        if v is not None:
            raise ValueError("a channel role's revenue is its partners' sales, not deals its reps book, so it has no "
                             "cancellation process; expected cancel_rate only for telesales, key_account or generic "
                             "roles")
        return v


class GenericProduction(_Cancellable):
    """Any other role: monthly revenue from a lognormal, and units sold in proportion to it (docs/model.md section 2)."""

    revenue_per_month: Positive = Field(40000.0, description="mean revenue of an average ramped rep-month, money")
    revenue_cv: Annotated[Real, Field(ge=0.0, le=5.0)] = Field(
        0.5, description="coefficient of variation of a rep-month's revenue around its mean")
    revenue_per_unit: Positive = Field(
        2000.0, description="revenue per unit sold (order, contract, item): units have mean revenue / this")
    activity_share: Annotated[Real, Field(gt=0.0, lt=1.0)] = 0.5
    quality_elasticity: NonNeg = 0.3


class MarketShareMeasure(_Model):
    """Market share: revenue over a simulated market size per rep-month (docs/model.md section 2, named measures)."""

    share: Annotated[Real, Field(gt=0.0, le=1.0)] = Field(
        0.2, description="an average ramped rep's share of their territory's market at today's effort, fraction")
    size_cv: Annotated[Real, Field(ge=0.0, le=2.0)] = Field(
        0.1, description="coefficient of variation of a rep-month's market size around its mean (lognormal)")


class RetentionMeasure(_Model):
    """Customer retention: a book of existing customers churning month by month (docs/model.md section 2, named measures)."""

    customers: Annotated[Whole, Field(ge=1, le=1000)] = Field(
        40, description="existing customers in each rep's book at the start of the year")
    churn: Annotated[Real, Field(ge=0.0, le=0.5)] = Field(
        0.015, description="monthly probability that an existing customer leaves, at today's quality effort")
    quality_effect: Annotated[Real, Field(ge=0.0, le=5.0)] = Field(
        1.0, description="elasticity of churn to account care: churn x quality**-quality_effect")


class ProfitMeasure(_Model):
    """Profit after discounts: revenue less cost of goods at the discount given (docs/model.md section 2, named measures)."""

    discount: Annotated[Real, Field(ge=0.0, le=0.9)] = Field(
        0.05, description="today's mean discount off list price, fraction (gross_margin is the margin at it)")
    discount_cv: Annotated[Real, Field(ge=0.0, le=2.0)] = Field(
        0.3, description="coefficient of variation of a rep-month's discount (lognormal)")
    quality_effect: Annotated[Real, Field(ge=0.0, le=5.0)] = Field(
        0.5, description="elasticity of the discount to selling care: discount x quality**-quality_effect")


class GrowthMeasure(_Model):
    """Growth against last year: revenue over each rep's base-year revenue (docs/model.md section 2, named measures).

    The base year is the last year's revenue a ``last_year`` quota uses
    (the role's ``last_year_sd``); it has no parameters of its own.
    """


class VisitsMeasure(_Model):
    """Customer visits: a field activity that competes with time per visit (docs/model.md section 2, named measures)."""

    per_day: Annotated[Real, Field(gt=0.0, le=100.0)] = Field(
        3.0, description="customer visits per working day of an average ramped rep at today's effort")
    working_days: Annotated[Real, Field(gt=0.0, le=31.0)] = Field(21.0, description="working days per month")
    elasticity: Annotated[Real, Field(gt=0.0, le=3.0)] = Field(
        1.0, description="elasticity of visits to activity effort (revenue's is the role's effort_elasticity)")


class SegmentsMeasure(_Model):
    """Revenue by product or customer segment: each rep-month's revenue split by a noisy mix (docs/model.md section 2, named measures)."""

    shares: dict[str, Annotated[Real, Field(gt=0.0, le=1.0)]] = Field(
        description="segment name -> share of revenue (summing to 1); measures revenue_<segment>")
    cv: Annotated[Real, Field(ge=0.0, le=2.0)] = Field(
        0.2, description="coefficient of variation of a segment's share in a rep-month (lognormal, renormalised)")
    mix_elasticity: Annotated[Real, Field(ge=0.0, le=5.0)] = Field(
        0.5, description="how far reps move selling toward segments that pay more per unit of revenue than today "
                         "(behaviour dynamic; 0: the mix does not respond)")

    @field_validator("shares")
    @classmethod
    def _shares(cls, v: dict[str, float]) -> dict[str, float]:
        if not 1 <= len(v) <= MAX_SEGMENTS:
            raise ValueError(f"expected 1 to {MAX_SEGMENTS} segments, got {len(v)}")
        bad = [k for k in v if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", k)]
        if bad:
            raise ValueError(f"segment names must be lower-case letters, digits and '_' (starting with a letter, "
                             f"at most 40), got {bad}")
        if abs(sum(v.values()) - 1.0) > WEIGHT_TOLERANCE:
            raise ValueError(f"segment shares must sum to 1, got {sum(v.values()):g}")
        return v


#: most segments in a role's revenue split
MAX_SEGMENTS = 20


class NamedMeasures(_Model):
    """The measures a role adds to its process's (``measures:`` in a role; docs/model.md section 2, named measures).

    Each block present (``{}`` takes its defaults) adds its measures to the
    role: ``market_share`` (and ``market_size``), ``retention`` (and
    ``customers_lost``), ``profit_after_discounts`` (and ``discount_rate``),
    ``growth`` (and ``base_revenue``), ``visits``, and ``revenue_<segment>``
    for each segment of ``segments``. A block left out draws no random
    numbers, so a role without it has the same results as before.
    """

    market_share: MarketShareMeasure | None = None
    retention: RetentionMeasure | None = None
    profit_after_discounts: ProfitMeasure | None = None
    growth: GrowthMeasure | None = None
    visits: VisitsMeasure | None = None
    segments: SegmentsMeasure | None = None


#: the measures each block of a role's ``measures:`` adds, and their kinds (segments add revenue_<name>, flow)
NAMED_MEASURES: dict[str, dict[str, str]] = {
    "market_share": {"market_share": "score", "market_size": "flow"},
    "retention": {"retention": "score", "customers_lost": "flow"},
    "profit_after_discounts": {"profit_after_discounts": "flow", "discount_rate": "score"},
    "growth": {"growth": "flow", "base_revenue": "flow"},
    "visits": {"visits": "flow"},
}


def measure_kinds(process: str, named: Any) -> dict[str, str]:
    """Measure -> kind ("flow" or "score") of a role: its process's, then those its ``measures:`` block adds.

    ``named`` is the block as a dict (raw or dumped; ``None`` entries are
    absent blocks) or None.
    """
    out = dict(MEASURES[process])
    if not isinstance(named, dict):
        return out
    for block, adds in NAMED_MEASURES.items():
        if named.get(block) is not None:
            out.update(adds)
    seg = named.get("segments")
    shares = seg.get("shares") if isinstance(seg, dict) else None
    for name in shares if isinstance(shares, dict) else ():
        out[f"revenue_{name}"] = "flow"
    return out


def named_measure_hint(measure: str, role: str | None) -> str:
    """What to add to a role to get a named measure it lacks ('' for a name that is no named measure)."""
    where = f"roles.{role}.measures" if role else "the role's measures"
    for block, adds in NAMED_MEASURES.items():
        if measure in adds:
            return f"; '{measure}' needs {where}.{block} ({{}} takes its defaults, docs/model.md section 2, named measures)"
    if measure.startswith("revenue_"):
        return f"; revenue by segment needs {where}.segments with shares naming '{measure[8:]}'"
    return ""


_PRODUCTION_MODELS = {
    "telesales": TelesalesProduction,
    "key_account": KeyAccountProduction,
    "channel": ChannelProduction,
    "generic": GenericProduction,
}


def production_bounds(process: str) -> dict[str, tuple[float, float]]:
    """The range a scenario allows each production parameter of ``process``: ``{name: (low, high)}`` from the
    fields' tightest ``ge``/``gt`` and ``le``/``lt`` (``partner_ramp_months``, ``Positive``: ``(0, MAX_MAGNITUDE)``)."""
    out = {}
    for k, f in _PRODUCTION_MODELS[process].model_fields.items():
        lows = [float(v) for m in f.metadata for v in (getattr(m, "ge", None), getattr(m, "gt", None)) if v is not None]
        highs = [float(v) for m in f.metadata for v in (getattr(m, "le", None), getattr(m, "lt", None)) if v is not None]
        out[k] = (max(lows, default=-MAX_MAGNITUDE), min(highs, default=MAX_MAGNITUDE))
    return out


class CreditedOn(_Model):
    """A role paid on another role's results instead of its own (docs/model.md section 3, crediting).

    An ``overlay`` rep (a specialist, a sales engineer) is credited with
    ``share`` of the results of the front-line reps they cover: the covered
    role's reps in consecutive blocks, as even as the headcounts allow. A
    ``manager`` is credited with ``share`` of the results of one team of the
    covered role (one manager per team). Flows (revenue, counts) are summed,
    scores averaged; quotas roll up the same way.
    """

    role: str = Field(description="the role whose results are credited")
    kind: Literal["overlay", "manager"]
    share: Fraction = Field(1.0, description="share of the covered reps' flows credited (1 = full double credit)")


class Split(_Model):
    """Split credit on a front-line role's deals (docs/model.md section 3, crediting).

    A ``share`` of each rep's booked revenue is on split deals: the booking
    rep is credited ``booker`` of it and a teammate (the next member of the
    team) ``partner``. With ``booker + partner > 1`` total credited revenue
    exceeds booked revenue: the double credit a plan pays for.
    """

    share: Fraction = Field(description="share of each rep's booked revenue on split deals")
    booker: Fraction = Field(0.5, description="credit the booking rep keeps on a split deal")
    partner: Fraction = Field(0.5, description="credit a teammate gets on a split deal")


@by_identity()
def _role_measure_kinds(role: Role) -> dict[str, str]:
    return measure_kinds(role.process, None if role.measures is None else role.measures.model_dump())


@by_identity()
def _process_params(role: Role):
    return _PRODUCTION_MODELS[role.process](**role.production)


class Role(_Model):
    """A sales role: headcount, pay levels and its production process."""

    process: Literal["telesales", "key_account", "channel", "generic"]
    headcount: Annotated[Whole, Field(ge=1, le=MAX_HEADCOUNT)]
    team_size: Annotated[Whole, Field(ge=1, le=MAX_TEAM_SIZE)] = 8
    base_salary: NonNeg = Field(description="money per year")
    target_incentive: NonNeg = Field(description="money per year at 100% attainment")
    gross_margin: Fraction = 0.5
    seasonality: list[Positive] = Field(default_factory=lambda: [1.0] * MONTHS)
    ability_sd: NonNeg = 0.25
    territory_sd: NonNeg = 0.25
    new_hire_share: Fraction = 0.1
    ramp_months: Annotated[Whole, Field(ge=1, le=24)] = 6
    effort_elasticity: Annotated[Real, Field(gt=0.0, le=1.0)] = 0.6
    last_year_sd: NonNeg = 0.15
    production: dict[str, Any] = Field(default_factory=dict, validate_default=True)
    measures: NamedMeasures | None = Field(
        None, description="measures added to the process's: market share, retention, profit after discounts, "
                          "growth, visits, revenue by segment (docs/model.md section 2, named measures)")
    # left out of dumps when unset, so scenarios without it keep their sha256
    currency: str | None = Field(
        None, exclude_if=lambda v: v is None,
        description="currency of the role's money (pay, production, plan amounts); default the scenario's")
    # left out of dumps when unset, so scenarios without crediting keep their sha256
    credited_on: CreditedOn | None = Field(None, exclude_if=lambda v: v is None)
    # left out of dumps when unset, so scenarios without split credit keep their sha256
    split: Split | None = Field(None, exclude_if=lambda v: v is None)

    @field_validator("seasonality")
    @classmethod
    def _twelve(cls, v: list[float]) -> list[float]:
        if len(v) != MONTHS:
            raise ValueError(f"expected 12 monthly weights, got {len(v)}")
        return v

    @field_validator("production")
    @classmethod
    def _production(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        # a field validator, so production is checked even when other fields of the role are wrong
        process = info.data.get("process")
        if process not in _PRODUCTION_MODELS:
            return v  # the process field reports its own error
        try:
            parsed = _PRODUCTION_MODELS[process](**v)
        except ValidationError as exc:
            raise ValueError(_nested(exc, "")) from None
        return parsed.model_dump()

    @property
    def season(self) -> list[float]:
        """Seasonality weights normalised to mean 1."""
        s = sum(self.seasonality)
        return [MONTHS * w / s for w in self.seasonality]

    def process_params(self):
        """The validated production parameters of this role's process (built once per role)."""
        return _process_params(self)

    @property
    def measure_kinds(self) -> dict[str, str]:
        """Measure -> "flow" or "score": the process's measures, then the ``measures:`` block's (built once per role)."""
        return _role_measure_kinds(self)


# --------------------------------------------------------------------------
# Cross-field checks on plain dicts: used by the models' validators and, when
# field validation already failed (so those validators never ran), on the raw
# input, so that every problem is reported at once.
# --------------------------------------------------------------------------


def _name_problems(rp: Any) -> list[tuple[str, str]]:
    """Repeated component names and gates naming unknown components, in a role plan dict."""
    if not isinstance(rp, dict) or not isinstance(rp.get("components"), list):
        return []
    names = [c.get("name") for c in rp["components"] if isinstance(c, dict)]
    cards = rp.get("scorecards")
    names += [c.get("name") for c in (cards if isinstance(cards, list) else []) if isinstance(c, dict)]
    spiffs = rp.get("spiffs")
    spiff_names = [c.get("name") for c in (spiffs if isinstance(spiffs, list) else []) if isinstance(c, dict)]
    out = []
    dup = sorted({str(n) for n in names if names.count(n) > 1})
    if dup:
        out.append(("components", f"component and scorecard names must be unique, repeated: {dup}"))
    dup = sorted({str(n) for n in spiff_names if (names + spiff_names).count(n) > 1})
    if dup:
        out.append(("spiffs", f"SPIFF names must differ from each other and from components and scorecards, "
                              f"repeated: {dup}"))
    gates = rp.get("gates")
    for i, g in enumerate(gates if isinstance(gates, list) else []):
        gc = g.get("components") if isinstance(g, dict) else None
        if isinstance(gc, list) and not gc:
            out.append((f"gates.{i}.components", "an empty list gates nothing; name the gated components, "
                                                 "or leave 'components' out to gate them all"))
        for n in gc if isinstance(gc, list) else []:
            if n not in names:
                out.append((f"gates.{i}.components", f"gate names component '{n}', expected one of {names}"))
    return out


#: tolerance on the sum of a role plan's weights (written as decimals such as 0.1 + 0.2 + 0.7)
WEIGHT_TOLERANCE = 1e-6
#: component kinds paid as a share (``weight``) of the target incentive; scorecards are too
WEIGHTED_KINDS = ("curve",)


def weight_problems(rp: Any) -> list[tuple[str, str]]:
    """A role plan dict's weights against the target incentive they share: (field, message) pairs.

    The weights of the curve components and scorecards (each pays
    ``weight x target incentive`` at target) must sum to 1; below 1 when
    commissions, per-unit rates or lump sums pay the rest; or exactly the
    analyst's ``weights_total`` when it is stated. A plan of only
    commissions, per-unit rates and lump sums has no weights to check.
    """
    if not isinstance(rp, dict) or not isinstance(rp.get("components", []), list):
        return []
    comps = [c for c in rp.get("components", []) if isinstance(c, dict)]
    cards = rp.get("scorecards") if isinstance(rp.get("scorecards"), list) else []
    items = [(c.get("name"), c.get("weight", 1.0)) for c in comps if c.get("kind", "curve") in WEIGHTED_KINDS]
    items += [(c.get("name"), c.get("weight", 1.0)) for c in cards if isinstance(c, dict)]
    nums = [w for _, w in items if isinstance(w, int | float) and not isinstance(w, bool)]
    stated = rp.get("weights_total")
    if not items or len(nums) != len(items) or (stated is not None and not isinstance(stated, int | float)):
        return []  # nothing weighted, or a weight's own field reports it
    got = sum(nums)
    listed = " + ".join(f"{n} {w:g}" for n, w in items)
    if stated is not None:
        if abs(got - stated) > WEIGHT_TOLERANCE:
            return [("weights_total", f"the curve and scorecard weights sum to {got:g} ({listed}), "
                                      f"not the stated weights_total {stated:g}")]
        return []
    others = [c.get("name") for c in comps if c.get("kind", "curve") not in WEIGHTED_KINDS]
    if not others and abs(got - 1.0) > WEIGHT_TOLERANCE:
        return [("components", f"weights sum to {got:g} ({listed}), expected 1: each weight is a share of the "
                               f"target incentive; fix the weights, or state the sum with 'weights_total: {got:g}'")]
    if others and got > 1.0 + WEIGHT_TOLERANCE:
        return [("components", f"weights sum to {got:g} ({listed}), expected at most 1 (the rest paid by "
                               f"{others}): each weight is a share of the target incentive; fix the weights, "
                               f"or state the sum with 'weights_total: {got:g}'")]
    return []


def _cross_problems(data: Any) -> list[tuple[str, str]]:
    """Problems that involve several parts of a scenario dict: (field path, message) pairs.

    Listed in the order of the file: the current plan, then plan by plan and
    role by role (:func:`_role_plan_problems`), each plan ending with the
    roles it has no plan for.
    """
    if not isinstance(data, dict):
        return []
    out: list[tuple[str, str]] = []
    roles, plans = data.get("roles"), data.get("plans")
    current = data.get("current_plan", "current")
    for name in roles if isinstance(roles, dict) else ():
        if name in RESERVED_ROLES:
            out.append((f"roles.{name}", f"'{name}' is reserved for the organisation total in results; "
                                         f"give the role another name"))
        elif not isinstance(name, str) or not name or "." in name:
            out.append((f"roles.{name}", "a role name must be non-empty text without '.' (dots separate the "
                                         "parts of field paths such as roles.telesales.quota)"))
    if isinstance(plans, dict) and plans and isinstance(current, str) and current not in plans:
        out.append(("current_plan", f"'{current}' is not one of plans {sorted(plans)}"))
    out += credit_problems(roles, roster=data.get("roster") is not None)
    if not isinstance(roles, dict) or not isinstance(plans, dict):
        return out
    process = {k: (r.get("process") if isinstance(r, dict) else None) for k, r in roles.items()}
    for pname, plan in plans.items():
        proles = plan.get("roles") if isinstance(plan, dict) else None
        if not isinstance(proles, dict):
            continue
        for rname, rp in proles.items():
            where = f"plans.{pname}.roles.{rname}"
            if rname not in process:
                out.append((where, f"unknown role, expected one of {sorted(process)}"))
                continue
            if isinstance(rp, dict):
                named = roles[rname].get("measures") if isinstance(roles[rname], dict) else None
                # a credited role's named measures are its front-line role's: the hint names that role
                out += _role_plan_problems(where, rp, process[rname], named, credited_chain(roles, rname)[-1])
                out += version_problems(where, rp, plans, rname)
        missing = set(process) - set(proles)
        if missing:
            out.append((f"plans.{pname}.roles", f"no plan for role(s) {sorted(missing)}"))
    out += _clawback_problems(roles, plans)
    return out + currency_problems(data)


def currency_problems(data: dict) -> list[tuple[str, str]]:
    """Problems of the roles' currencies and the exchange rates: (field path, message) pairs.

    A role paid in another currency than the scenario's (the reporting
    currency) needs its rate in ``fx``; ``fx`` and ``fx_sd`` list only
    currencies other than the reporting one, and ``fx_sd`` only ones in ``fx``.
    """
    out: list[tuple[str, str]] = []
    report = str(data.get("currency", "EUR"))
    fx, sd = data.get("fx") or {}, data.get("fx_sd") or {}
    out += _code_problems("currency", data.get("currency", "EUR"))
    for rname, role in (data.get("roles") or {}).items() if isinstance(data.get("roles"), dict) else ():
        if isinstance(role, dict) and role.get("currency") is not None:
            out += _code_problems(f"roles.{rname}.currency", role["currency"])
    if not isinstance(fx, dict) or not isinstance(sd, dict):
        return out
    for name, rates in (("fx", fx), ("fx_sd", sd)):
        for cur in rates:
            out += _code_problems(f"{name}.{cur}", cur)
    if out:  # a malformed code: said once, not again as a missing rate
        return out
    for cur in fx:
        if cur == report:
            out.append((f"fx.{cur}", f"'{cur}' is the reporting currency (currency: {report}); list only other currencies"))
    for cur in sd:
        if cur not in fx:
            out.append((f"fx_sd.{cur}", f"no rate for '{cur}' in fx; expected one of {sorted(fx)}"))
    for rname, role in (data.get("roles") or {}).items():
        cur = role.get("currency") if isinstance(role, dict) else None
        if isinstance(cur, str) and cur != report and cur not in fx:
            out.append((f"roles.{rname}.currency", f"'{cur}' has no exchange rate: add fx: {{{cur}: rate}} "
                                                   f"({report} per {cur}), or use one of {sorted([report, *fx])}"))
    return out + _credit_currency_problems(data.get("roles") or {}, report)


def _code_problems(field: str, cur: Any) -> list[tuple[str, str]]:
    """``cur`` at ``field`` unless it is a currency code (:data:`simlib.tables.CURRENCY_CODE`): the problem,
    with the uppercase form when that is one. A non-string is left to the field's type check."""
    problem = currency_code_problem(cur) if isinstance(cur, str) else None
    return [(field, problem)] if problem else []


def _credit_currency_problems(roles: dict, report: str) -> list[tuple[str, str]]:
    """A role credited on another's results (``credited_on``) is paid on that role's money, so in its currency:
    a commission rate or a quota on credited revenue has no meaning across currencies (not converted)."""
    def cur(spec) -> str:
        c = spec.get("currency") if isinstance(spec, dict) else None
        return c if isinstance(c, str) and c else report

    out = []
    for rname, spec in roles.items():
        co = spec.get("credited_on") if isinstance(spec, dict) else None
        cov = co.get("role") if isinstance(co, dict) else None
        if isinstance(cov, str) and cov in roles and cur(spec) != cur(roles[cov]):
            out.append((f"roles.{rname}.currency",
                        f"'{rname}' is credited on '{cov}', whose results are in {cur(roles[cov])}, but is paid in "
                        f"{cur(spec)}; credited results are not converted between currencies: "
                        f"set currency: {cur(roles[cov])} on '{rname}'"))
    return out


#: role-plan mechanics that settle over the whole year, not (yet) combined with effective-dated versions
_UNVERSIONED = ("draw", "spiffs", "payout", "quota_relief", "clawback", "programmes", "projects")


def version_problems(where: str, rp: dict, plans: dict, role: str) -> list[tuple[str, str]]:
    """Problems of a role plan's ``versions`` (a dict at field path ``where``): (field path, message) pairs.

    Each version names a plan of the scenario that has a plan for the role
    and no versions of its own; the months are in increasing order; every
    segment of the year (the role plan's own months, then each version's)
    starts and ends on a boundary of the pay periods of the terms in force
    then (a quarterly component changes in month 1, 4, 7 or 10).
    """
    versions = rp.get("versions")
    if not versions or not isinstance(versions, list):
        return []
    out: list[tuple[str, str]] = []
    for key in _UNVERSIONED:
        if rp.get(key):
            out.append((f"{where}.{key}", f"'{key}' is not supported in a plan with versions (mid-year changes)"))
    segments: list[tuple[str, dict, int]] = [(where, rp, 1)]
    last = 1
    for i, v in enumerate(versions):
        at = f"{where}.versions.{i}"
        if not isinstance(v, dict) or not isinstance(v.get("from_month"), int) or not isinstance(v.get("plan"), str):
            continue  # the field's own validation reports it
        month, name = v["from_month"], v["plan"]
        if not 2 <= month <= MONTHS:
            continue  # the field's own validation reports it
        if month <= last:
            out.append((f"{at}.from_month", f"{month}: versions must start in increasing months after month {last} "
                                            f"(overlapping or unsorted versions)"))
            continue
        last = month
        other = plans.get(name) if isinstance(plans, dict) else None
        if not isinstance(other, dict) or name not in plans:
            out.append((f"{at}.plan", f"unknown plan '{name}', expected one of {sorted(plans)}"))
            continue
        orp = other.get("roles", {}).get(role) if isinstance(other.get("roles"), dict) else None
        if not isinstance(orp, dict):
            out.append((f"{at}.plan", f"plan '{name}' has no plan for role '{role}'"))
            continue
        if orp.get("versions"):
            out.append((f"{at}.plan", f"plan '{name}' has versions of its own for role '{role}'; "
                                      f"a version must name a plan without versions"))
            continue
        for key in _UNVERSIONED:
            if orp.get(key):
                out.append((f"{at}.plan", f"plan '{name}' has '{key}' for role '{role}', not supported in a version"))
        segments.append((at, orp, month))
    for j, (at, srp, month) in enumerate(segments):
        end = segments[j + 1][2] if j + 1 < len(segments) else MONTHS + 1
        out += _segment_period_problems(at, srp, month, end)
    return out


def _segment_period_problems(at: str, rp: dict, first: int, end: int) -> list[tuple[str, str]]:
    """A segment (months ``first`` to ``end - 1``, 1-12) that splits a pay period of a term in force then."""
    out = []
    items = [c for c in rp.get("components", []) or [] if isinstance(c, dict)]
    items += [c for c in rp.get("scorecards", []) or [] if isinstance(c, dict)]
    for c in items:
        period = c.get("period", "year")
        if period not in PERIODS or period == "year":
            continue
        size = MONTHS // PERIODS[period]
        if (first - 1) % size or (end - 1) % size:
            starts = ", ".join(str(m) for m in range(1, MONTHS + 1, size))
            out.append((at, f"months {first}-{end - 1} split a {period} of '{c.get('name')}': a version must start "
                            f"at the start of a pay period (months {starts})"))
    return out


def _clawback_problems(roles: dict, plans: dict) -> list[tuple[str, str]]:
    """Clawbacks of roles without a cancellation process, or naming pay that is not paid on revenue."""
    out: list[tuple[str, str]] = []
    for pname, plan in plans.items():
        proles = plan.get("roles") if isinstance(plan, dict) else None
        for rname, rp in (proles.items() if isinstance(proles, dict) else ()):
            cb = rp.get("clawback") if isinstance(rp, dict) else None
            role = roles.get(rname)
            if not isinstance(cb, dict) or not isinstance(role, dict):
                continue
            where = f"plans.{pname}.roles.{rname}.clawback"
            prod = role.get("production")
            if not isinstance(prod, dict) or prod.get("cancel_rate") is None:
                out.append((where, f"role '{rname}' has no cancellation process, so nothing would be clawed back; "
                                   f"expected roles.{rname}.production.cancel_rate (the share of booked deals "
                                   "that later cancel)"))
            paid = [c.get("name") for key in ("components", "spiffs")
                    for c in (rp.get(key) if isinstance(rp.get(key), list) else [])
                    if isinstance(c, dict) and c.get("measure", "revenue") == "revenue"]
            named = cb.get("components")
            for i, n in enumerate(named if isinstance(named, list) else []):
                if n not in paid:
                    out.append((f"{where}.components.{i}",
                                f"'{n}' is not a component or SPIFF of this plan paid on revenue (a cancelled deal "
                                f"takes back revenue pay); expected one of {paid}"))
            if isinstance(named, list) and not named:
                out.append((f"{where}.components", "an empty list claws back nothing; name the components, or "
                                                   "leave 'components' out to claw back all revenue pay"))
    return out


#: what a credited role takes from the role it is credited on when it does not say
CREDIT_INHERITED = ("process", "seasonality", "production")


def credited_chain(roles: Any, name: str) -> list[str]:
    """``name`` and the roles it is credited on, in turn (a cycle ends the list where it closes)."""
    chain = [name]
    while True:
        spec = roles.get(chain[-1]) if isinstance(roles, dict) else None
        co = spec.get("credited_on") if isinstance(spec, dict) else None
        cov = co.get("role") if isinstance(co, dict) else None
        if not isinstance(cov, str) or cov not in roles or cov in chain:
            return chain + ([cov] if isinstance(cov, str) and cov in chain else [])
        chain.append(cov)


def inherit_credited(roles: Any) -> Any:
    """Roles with each credited role's process, seasonality and production taken from the role its chain
    of credit ends at (the front-line role): the process where it leaves it out (a different one is
    reported by :func:`credit_problems`), seasonality and production always (they are the covered reps')."""
    if not isinstance(roles, dict):
        return roles
    out = dict(roles)
    for name, spec in roles.items():
        chain = credited_chain(roles, name)
        if not isinstance(spec, dict) or len(chain) < 2 or chain[-1] in chain[:-1]:
            continue  # not credited, or a cycle (reported by credit_problems)
        source = roles.get(chain[-1])
        if isinstance(source, dict):
            new = {k: v for k, v in spec.items() if k not in CREDIT_INHERITED[1:]}
            new.update({k: source[k] for k in CREDIT_INHERITED[1:] if k in source})
            if "process" in source:
                new.setdefault("process", source["process"])
            if source.get("measures") is not None:  # its named measures roll up from the covered reps'
                new.setdefault("measures", source["measures"])
            out[name] = new
    return out


def credit_problems(roles: Any, roster: bool = False) -> list[tuple[str, str]]:
    """Crediting problems of a roles dict (``credited_on`` and ``split``): (field path, message) pairs.

    Unknown or own role referenced, cycles, a process other than the covered
    role's, a manager count other than the covered role's teams (checked
    against the roster's teams at run time when there is one), more overlays
    than covered reps, and splits that have no teammate or no deals.
    """
    out: list[tuple[str, str]] = []
    if not isinstance(roles, dict):
        return out
    cycles: set[frozenset] = set()
    for name, spec in roles.items():
        if not isinstance(spec, dict):
            continue
        co = spec.get("credited_on")
        if isinstance(co, dict):
            out += _credited_on_problems(roles, name, spec, co, roster, cycles)
        sp = spec.get("split")
        if sp is not None and isinstance(co, dict):
            out.append((f"roles.{name}.split", "a credited role books no deals to split; put split on the "
                                               "front-line role whose deals are split"))
        elif isinstance(sp, dict) and not roster and isinstance(spec.get("team_size", 8), int) \
                and spec.get("team_size", 8) < 2:
            out.append((f"roles.{name}.split", f"split credit goes to a teammate: expected team_size >= 2, "
                                               f"got {spec.get('team_size')}"))
    return out


def _credited_on_problems(roles: dict, name: str, spec: dict, co: dict, roster: bool,
                          cycles: set) -> list[tuple[str, str]]:
    """Problems of one role's ``credited_on`` (``co``) against the roles it names."""
    where = f"roles.{name}"
    cov = co.get("role")
    if not isinstance(cov, str):
        return []  # the field reports its own type
    if cov == name:
        return [(f"{where}.credited_on.role", "a role cannot be credited on its own results; "
                                              "name the role whose results it is credited on")]
    if cov not in roles:
        return [(f"{where}.credited_on.role", f"'{cov}' is not a role of the scenario, "
                                              f"expected one of {sorted(r for r in roles if r != name)}")]
    chain = credited_chain(roles, name)
    if chain[-1] in chain[:-1]:
        loop = chain[chain.index(chain[-1]):]
        if frozenset(loop) in cycles:
            return []
        cycles.add(frozenset(loop))
        return [(f"{where}.credited_on.role", f"credited_on forms a cycle: {' -> '.join(loop)}; "
                                              f"a chain of credit must end at a front-line role")]
    out = []
    cspec = roles[cov] if isinstance(roles[cov], dict) else {}
    front = roles.get(chain[-1]) if isinstance(roles.get(chain[-1]), dict) else {}
    if "process" in spec and "process" in front and spec["process"] != front["process"]:
        out.append((f"{where}.process", f"a credited role has the process of the role it is credited on "
                                         f"('{front['process']}'); leave process out"))
    if spec.get("measures") is not None and spec.get("measures") != front.get("measures"):
        out.append((f"{where}.measures", f"a credited role's named measures roll up from the reps of "
                                          f"'{chain[-1]}', on that role's terms; leave measures out here and "
                                          f"give them in roles.{chain[-1]}.measures"))
    H, S, n = cspec.get("headcount"), cspec.get("team_size", 8), spec.get("headcount")
    if roster or not all(isinstance(x, int) and x >= 1 for x in (H, S, n)):
        return out
    teams = -(-H // S)
    if co.get("kind") == "manager" and n != teams:
        out.append((f"{where}.headcount", f"{n}, but {cov} has {teams} teams (headcount {H}, team_size {S}) "
                                          f"and a manager leads one team: expected {teams}"))
    elif co.get("kind") == "overlay" and n > H:
        out.append((f"{where}.headcount", f"{n} overlays for {H} {cov} reps: expected at most {H}"))
    return out


def roster_credit_problems(roles: dict[str, Role], roster: Roster, source: str) -> list[Problem]:
    """A roster's managers against the manager roles credited on its roles.

    Where the covered reps name their managers (the roster's ``manager``
    column), each must name a rep of the manager role, every covered rep must
    name one and every manager must lead someone; where none does, the
    manager role has one rep per team of the covered role.
    """
    out = []
    for name, role in roles.items():
        co = role.credited_on
        if co is None or co.kind != "manager" or name not in roster.roles or co.role not in roster.roles:
            continue
        cov, mgr = roster.roles[co.role], roster.roles[name]
        if not any(cov.managers):
            if len(cov.teams) != mgr.headcount:
                out.append(Problem(source, f"roles.{name}.headcount",
                                   f"the roster has {mgr.headcount} {name} reps for {len(cov.teams)} {co.role} teams: "
                                   f"expected one per team, or each {co.role} rep's manager in the roster's "
                                   f"manager column"))
            continue
        unknown = sorted({m for m in cov.managers if m and m not in mgr.ids})
        missing = sum(1 for m in cov.managers if not m)
        idle = [m for m in mgr.ids if m not in cov.managers]
        if unknown:
            out.append(Problem(roster.source, "manager", f"{co.role} reps name managers {unknown[:5]} who are not "
                                                       f"{name} reps of the roster (rep_id)"))
        if missing:
            out.append(Problem(roster.source, "manager", f"{missing} {co.role} reps have no manager; name the "
                                                       f"{name} rep who leads each of them"))
        if idle:
            out.append(Problem(roster.source, "manager", f"{name} reps {idle[:5]} lead no {co.role} rep"))
    return out


def _role_plan_problems(where: str, rp: dict, process: Any, named: Any = None,
                        role: str | None = None) -> list[tuple[str, str]]:
    """Problems of one role's plan (a dict at field path ``where``) against its role's process.

    Repeated or unknown component names first, then the measures of the
    components, gates, modifiers and recognition: each must be a measure of
    the process or of the role's ``measures:`` block (``named``; ``process``
    as the scenario file gives it; nothing is checked when it is not a known
    process). An unknown measure that a ``measures:`` block would add says
    which block (of role ``role``) to add.
    """
    out = [(f"{where}.{f}", m) for f, m in _name_problems(rp)]
    out += [(f"{where}.{f}", m) for f, m in weight_problems(rp)]
    known = measure_kinds(process, named) if process in MEASURES else None
    if known is None:
        return out
    problems = out
    out = []
    out += _component_measure_problems(where, rp.get("components"), process, known)
    out += _scorecard_measure_problems(where, rp.get("scorecards"), process, known)
    spiffs = rp.get("spiffs")
    for i, sp in enumerate(spiffs if isinstance(spiffs, list) else []):
        measure = sp.get("measure", "revenue") if isinstance(sp, dict) else None
        if isinstance(measure, str) and known.get(measure) != "flow":
            out.append((f"{where}.spiffs.{i}.measure",
                        f"'{measure}' is not a count or money measure of process {process}: a SPIFF pays per unit "
                        f"booked, expected one of {sorted(k for k, v in known.items() if v == 'flow')}"))
    for section in ("gates", "modifiers"):
        items = rp.get(section)
        for i, g in enumerate(items if isinstance(items, list) else []):
            if not isinstance(g, dict):
                continue
            measure = g.get("measure", "revenue")
            if isinstance(measure, str) and measure not in known:
                out.append((f"{where}.{section}.{i}.measure",
                            f"'{measure}' unknown, expected one of {sorted(known)}"))
            elif section == "gates" and measure != "revenue" and g.get("target", "quota") == "quota":
                out.append((f"{where}.gates.{i}.target",
                            f"'quota' applies to revenue only; give a number per year for '{measure}'"))
    out += _programme_problems(where, rp.get("programmes"), process, known)
    out += _score_percent_problems(where, rp, known)
    rec = rp.get("recognition")
    if isinstance(rec, dict) and isinstance(rec.get("measure", "revenue"), str):
        if rec.get("measure", "revenue") not in known:
            out.append((f"{where}.recognition.measure",
                        f"'{rec['measure']}' unknown, expected one of {sorted(known)}"))
    return problems + [(f, m + _hint_for(f[len(where) + 1:], rp, known, role)) for f, m in out]


def _score_percent_problems(where: str, rp: dict, known: dict[str, str]) -> list[tuple[str, str]]:
    """A score measure's value (record accuracy, satisfaction, retention: 0 to 1) written as a percent: a target
    of components, gates and scored measures, or a modifier's point, of 10 or more (92 for 92%)."""
    found: list[tuple[str, Any]] = []
    for section in ("components", "gates"):
        items = rp.get(section)
        for i, c in enumerate(items if isinstance(items, list) else []):
            if isinstance(c, dict) and known.get(c.get("measure", "revenue")) == "score":
                found.append((f"{section}.{i}.target", c.get("target")))
    cards = rp.get("scorecards")
    for i, card in enumerate(cards if isinstance(cards, list) else []):
        ms = card.get("measures") if isinstance(card, dict) else None
        for j, m in enumerate(ms if isinstance(ms, list) else []):
            if isinstance(m, dict) and known.get(m.get("measure", "revenue")) == "score":
                found.append((f"scorecards.{i}.measures.{j}.target", m.get("target")))
    mods = rp.get("modifiers")
    for i, m in enumerate(mods if isinstance(mods, list) else []):
        if isinstance(m, dict) and known.get(m.get("measure")) == "score" and isinstance(m.get("points"), list):
            found += [(f"modifiers.{i}.points.{j}.0", pt[0]) for j, pt in enumerate(m["points"])
                      if isinstance(pt, list | tuple) and pt]
    return [(f"{where}.{f}", f"a score measure's value is a fraction between 0 and 1 (0.92 is 92%); got {v:g}"
                             f"{_as_percent(v, 1.0)}")
            for f, v in found if isinstance(v, int | float) and not isinstance(v, bool) and v >= 10]


def _hint_for(field: str, rp: dict, known: dict[str, str], role: str | None) -> str:
    """The :func:`named_measure_hint` of the measure at ``field`` (a ``<section>.<i>...measure`` path in ``rp``) when unknown."""
    parts = field.split(".")
    if parts[-1] != "measure":
        return ""
    node: Any = rp
    for p in parts:
        if isinstance(node, list):
            node = node[int(p)] if p.isdigit() and int(p) < len(node) else None
        else:
            node = node.get(p) if isinstance(node, dict) else None
    return named_measure_hint(node, role) if isinstance(node, str) and node not in known else ""


def _programme_problems(where: str, progs: Any, process: str, known: dict[str, str]) -> list[tuple[str, str]]:
    """Programmes (the list at ``<where>.programmes``) with a repeated name or a measure the process lacks."""
    out = []
    items = progs if isinstance(progs, list) else []
    names = [p.get("name") for p in items if isinstance(p, dict)]
    dup = sorted({str(n) for n in names if names.count(n) > 1})
    if dup:
        out.append((f"{where}.programmes", f"programme names must be unique, repeated: {dup}"))
    for i, p in enumerate(items):
        measure = p.get("measure", "revenue") if isinstance(p, dict) else None
        if isinstance(measure, str) and measure not in known:
            out.append((f"{where}.programmes.{i}.measure",
                        f"'{measure}' is not a measure of process {process}, expected one of {sorted(known)}"))
    return out


def _component_measure_problems(where: str, comps: Any, process: str,
                                known: dict[str, str]) -> list[tuple[str, str]]:
    """Components (``comps``, the list at ``<where>.components``) whose measure does not fit the process.

    A component's measure must be one of ``known`` (measure -> "flow" or
    "score"); ``per_unit`` pays per unit of a count ("flow") measure; the
    ``quota`` target is for revenue only.
    """
    out = []
    for i, c in enumerate(comps if isinstance(comps, list) else []):
        if not isinstance(c, dict):
            continue
        measure, kind, target = c.get("measure", "revenue"), c.get("kind", "curve"), c.get("target", "quota")
        if not isinstance(measure, str):
            continue
        if measure not in known:
            out.append((f"{where}.components.{i}.measure",
                        f"'{measure}' is not a measure of process {process}, expected one of {sorted(known)}"))
        elif kind == "per_unit" and known[measure] != "flow":
            out.append((f"{where}.components.{i}.measure",
                        f"per_unit needs a count measure, expected one of "
                        f"{sorted(k for k, v in known.items() if v == 'flow')}"))
        elif target == "quota" and kind != "per_unit" and measure != "revenue":
            out.append((f"{where}.components.{i}.target",
                        f"'quota' applies to revenue only; give a number per year for '{measure}'"))
    return out


def _scorecard_measure_problems(where: str, cards: Any, process: str,
                                known: dict[str, str]) -> list[tuple[str, str]]:
    """Scored measures (in ``cards``, the list at ``<where>.scorecards``) that are not measures of the process.

    The ``quota`` target is for revenue only; other measures need a number
    per year (flows, times the plan's quota level) or a score to reach.
    """
    out = []
    for i, card in enumerate(cards if isinstance(cards, list) else []):
        ms = card.get("measures") if isinstance(card, dict) else None
        if isinstance(ms, list) and all(isinstance(m, dict) for m in ms):
            out += [(f"{where}.scorecards.{i}.{f}", m) for f, m in _scorecard_weight_problems(
                [m.get("measure", "revenue") for m in ms], [m.get("weight") for m in ms], card.get("total", 100.0))]
        for j, m in enumerate(ms if isinstance(ms, list) else []):
            if not isinstance(m, dict) or not isinstance(m.get("measure", "revenue"), str):
                continue
            measure, target = m.get("measure", "revenue"), m.get("target", "quota")
            at = f"{where}.scorecards.{i}.measures.{j}"
            if measure not in known:
                out.append((f"{at}.measure",
                            f"'{measure}' is not a measure of process {process}, expected one of {sorted(known)}"))
            elif target == "quota" and measure != "revenue":
                out.append((f"{at}.target", f"'quota' applies to revenue only; give a number per year for '{measure}'"))
    return out


# --------------------------------------------------------------------------
# Plans
# --------------------------------------------------------------------------


class Quota(_Model):
    """How quotas (annual revenue targets) are set (docs/model.md section 3)."""

    method: Literal["flat", "territory", "last_year", "top_down"] = "territory"
    level: Annotated[Real, Field(gt=0.0, le=5.0)] = 1.0
    noise: NonNeg = Field(0.10, description="sd of managers' log error in judging potential")
    growth: Real = Field(0.05, ge=-0.5, le=2.0, description="last_year: uplift on last year's sales")
    company_target: Positive | None = Field(None, description="top_down: company number for the role, money per year")


class Tier(_Model):
    start: Attainment = Field(alias="from")
    rate: NonNeg

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Step(_Model):
    at: Attainment
    amount: NonNeg


class Component(_Model):
    """One pay element on one measure.

    ``kind``:

    - ``curve``: payout multiple of (weight x target incentive / periods) as a
      piecewise-linear function of attainment through ``points``; nothing is
      paid below the first point; ``beyond`` sets the slope after the last.
    - ``commission``: rate ``tiers`` on attainment, paid on the period quota
      (``marginal``: each tier's rate on the slice in it; ``retroactive``: the
      reached tier's rate on everything).
    - ``per_unit``: ``rate`` money per unit of a count measure.
    - ``lump_sum``: ``steps`` of money paid when attainment reaches ``at``.
    """

    name: str
    measure: str = "revenue"
    kind: Literal["curve", "commission", "per_unit", "lump_sum"] = "curve"
    weight: Fraction = 1.0
    period: Literal["month", "quarter", "half", "year"] = "year"
    ytd_true_up: bool = False
    target: Literal["quota"] | Positive = "quota"
    points: list[tuple[Attainment, NonNeg]] | None = None
    beyond: Literal["extend", "flat"] = "extend"
    tiers: list[Tier] | None = None
    mode: Literal["marginal", "retroactive"] = "marginal"
    rate: NonNeg | None = None
    steps: list[Step] | None = None
    cap: Positive | None = None

    @model_validator(mode="after")
    def _shape(self) -> Component:
        need = {"curve": "points", "commission": "tiers", "per_unit": "rate", "lump_sum": "steps"}[self.kind]
        if getattr(self, need) is None:
            raise ValueError(f"@{need}: required for kind '{self.kind}'")
        if self.kind == "curve":
            xs = [p[0] for p in self.points]
            if len(xs) < 1 or any(b <= a for a, b in zip(xs, xs[1:], strict=False)):
                raise ValueError("@points: expected [attainment, payout] pairs with strictly increasing attainment")
            if self.cap is not None and self.cap > MAX_ATTAINMENT:
                raise ValueError(f"@cap: expected a multiple of the component's target payout (1.5 is 150%), at most "
                                 f"{MAX_ATTAINMENT:g}; got {self.cap:g}{_as_percent(self.cap, MAX_ATTAINMENT)}; "
                                 f"leave cap out for no cap")
        if self.kind == "commission":
            xs = [t.start for t in self.tiers]
            if len(xs) < 1 or any(b <= a for a, b in zip(xs, xs[1:], strict=False)):
                raise ValueError("@tiers: expected at least one tier, with strictly increasing 'from'")
        if self.kind == "lump_sum":
            xs = [s.at for s in self.steps]
            if len(xs) < 1 or any(b <= a for a, b in zip(xs, xs[1:], strict=False)):
                raise ValueError("@steps: expected at least one step, with strictly increasing 'at'")
        return self


def _interval_problems(intervals: list) -> list[str]:
    """Gaps and overlaps of a table of [from, to) intervals (in order); the last may be open."""
    out = []
    for i, (a, b) in enumerate(zip(intervals, intervals[1:], strict=False)):
        if b.start <= a.start:
            out.append(f"interval {i + 1} starts at {b.start:g}, not after interval {i} (from {a.start:g}): "
                       f"expected intervals in increasing order")
        elif a.end is None:
            out.append(f"interval {i} has no 'to' but is not the last: expected 'to: {b.start:g}'")
        elif a.end < b.start:
            out.append(f"gap: interval {i} ends at {a.end:g} but interval {i + 1} starts at {b.start:g}")
        elif a.end > b.start:
            out.append(f"overlap: interval {i} ends at {a.end:g} after interval {i + 1} starts at {b.start:g}")
    for i, iv in enumerate(intervals):
        if iv.end is not None and iv.end <= iv.start:
            out.append(f"interval {i}: 'to' ({iv.end:g}) must be above 'from' ({iv.start:g})")
    return out


def _scorecard_weight_problems(measures: list, weights: list, total: Any) -> list[tuple[str, str]]:
    """A scorecard's measure list: not empty, each measure once, weights summing to the stated ``total``."""
    out = []
    if not measures:
        out.append(("measures", "expected at least one scored measure"))
    nums = [w for w in weights if isinstance(w, int | float) and not isinstance(w, bool)]
    if measures and len(nums) == len(weights) and isinstance(total, int | float) and not isinstance(total, bool):
        got = sum(nums)
        if abs(got - total) > 1e-9 * max(1.0, abs(total)):
            out.append(("measures", f"measure weights sum to {got:g}, expected the stated total {total:g} "
                                    f"(set 'total' or fix the weights)"))
    dup = sorted({str(n) for n in measures if measures.count(n) > 1})
    if dup:
        out.append(("measures", f"each measure may be scored once per scorecard, repeated: {dup}"))
    return out


class ScoreInterval(_Model):
    """Values in ``[from, to)`` score ``score`` (``to`` omitted: no upper end)."""

    start: NonNeg = Field(alias="from")
    end: NonNeg | None = Field(None, alias="to")
    score: NonNeg

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ScoreScale(_Model):
    """A step table (``intervals``) or a piecewise-linear ``curve`` of ``[x, y]`` points: exactly one.

    Below the first interval or point the result is 0. Beyond the last
    interval its score holds; beyond the last point of a curve it is flat
    (``beyond: flat``) or continues the last segment (``extend``).
    """

    intervals: list[ScoreInterval] | None = None
    curve: list[tuple[NonNeg, NonNeg]] | None = None
    beyond: Literal["extend", "flat"] = "flat"

    @model_validator(mode="after")
    def _one_scale(self):
        if (self.intervals is None) == (self.curve is None):
            raise ValueError("@intervals: give exactly one of 'intervals' (a table of [from, to) -> score) "
                             "or 'curve' ([x, y] points)")
        if self.intervals is not None:
            if not self.intervals:
                raise ValueError("@intervals: expected at least one interval")
            problems = _interval_problems(self.intervals)
            if problems:
                raise ValueError(_SEP.join(f"@intervals: {m}" for m in problems))
        else:
            xs = [p[0] for p in self.curve]
            if not xs or any(b <= a for a, b in zip(xs, xs[1:], strict=False)):
                raise ValueError("@curve: expected [x, y] points with strictly increasing x")
        return self


class ScoredMeasure(ScoreScale):
    """One measure of a scorecard: attainment (value / target per period) scored by intervals or a curve."""

    measure: str = "revenue"
    target: Literal["quota"] | Positive = "quota"
    weight: NonNeg

    @model_validator(mode="after")
    def _attainments(self) -> ScoredMeasure:
        """The scale's x values are attainments (0.8 is 80%): one above :data:`MAX_ATTAINMENT` is a percent."""
        xs = [(f"curve.{i}.0", x) for i, (x, _) in enumerate(self.curve or [])]
        for i, iv in enumerate(self.intervals or []):
            xs += [(f"intervals.{i}.from", iv.start)] + ([(f"intervals.{i}.to", iv.end)] if iv.end is not None else [])
        parts = [f"@{where}: expected attainment as a multiple of target (1.1 is 110%), at most {MAX_ATTAINMENT:g}; "
                 f"got {x:g}{_as_percent(x, MAX_ATTAINMENT)}" for where, x in xs if x > MAX_ATTAINMENT]
        if parts:
            raise ValueError(_SEP.join(parts))
        return self


class Scorecard(_Model):
    """Measures scored into points, weighted into a composite, paid by a function of the composite.

    Per period, each measure's attainment gets a score (points, often out of
    100); the composite is ``sum(weight * score) / total``; the period pays
    ``weight x target incentive / periods x coefficient``, with the
    coefficient ``payout(composite)`` (capped at ``cap``), and nothing when the
    composite is below ``min_score`` (docs/model.md section 3, scorecards).
    """

    name: str
    period: Literal["month", "quarter", "half", "year"] = "year"
    weight: Fraction = 1.0
    total: Positive = Field(100.0, description="the measure weights' sum (100 for percentage weights, 1 for fractions)")
    measures: list[ScoredMeasure]
    payout: ScoreScale
    min_score: NonNeg = Field(0.0, description="composite below which nothing is paid (a gate on the score)")
    cap: Positive | None = Field(None, description="highest payout coefficient")

    @model_validator(mode="after")
    def _weights(self) -> Scorecard:
        problems = _scorecard_weight_problems([m.measure for m in self.measures], [m.weight for m in self.measures],
                                              self.total)
        if problems:
            raise ValueError(_SEP.join(f"@{f}: {m}" for f, m in problems))
        return self


class Gate(_Model):
    """Pay the listed components only when attainment on ``measure`` reaches ``min_attainment``."""

    measure: str = "revenue"
    min_attainment: Attainment = 0.8
    target: Literal["quota"] | Positive = "quota"
    components: list[str] | None = Field(None, description="names gated; all when omitted")


class Modifier(_Model):
    """Multiply incentive by a piecewise-linear function of a (score) measure's annual value."""

    measure: str
    points: list[tuple[Real, NonNeg]]

    @field_validator("points")
    @classmethod
    def _increasing(cls, v):
        xs = [p[0] for p in v]
        if len(v) < 1 or any(b <= a for a, b in zip(xs, xs[1:], strict=False)):
            raise ValueError("expected [value, multiplier] pairs with strictly increasing value")
        return v


class QuotaRelief(_Model):
    """An adjustment rule agreed in advance: quotas follow the market beyond a band (docs/model.md section 3).

    When the realised market (demand over its expected level) moves by more
    than ``band`` either way, revenue quotas move by ``share`` of the part of
    the move beyond the band.
    """

    band: Fraction = Field(0.10, description="tolerated market move either way, as a fraction of expected demand")
    share: Fraction = Field(1.0, description="share of the move beyond the band passed on to quotas")


class Draw(_Model):
    """An advance against incentive pay each draw period (docs/model.md section 3, draws and guarantees).

    Each draw period (a month or a quarter) in the draw's first ``months``
    months, a rep earning less incentive than ``amount`` is paid ``amount``.
    A ``recoverable`` draw is an advance: the shortfall is carried forward
    as a balance and recovered from later earnings above the draw (every
    period, also after the draw has ended); what is left at year end is
    forgiven (``at_year_end: forgive``) or carried into next year, still owed
    (``carry``). A non-recoverable draw (a guarantee) is a floor: the
    shortfall is never recovered. ``new_hires_only`` pays it to the new hires
    only (ramp pay for their first ``months`` months).
    """

    amount: NonNeg = Field(description="money per draw period")
    period: Literal["month", "quarter"] = "month"
    recoverable: bool = True
    months: Annotated[Whole, Field(ge=1, le=MONTHS)] = Field(
        MONTHS, description="the draw is paid in the year's first N months (a whole number of draw periods)")
    at_year_end: Literal["forgive", "carry"] = Field(
        "forgive", description="a recoverable draw's balance left at year end: written off, or owed into next year")
    new_hires_only: bool = False
    # left out of dumps when unset, so scenarios without it keep their sha256
    on_exit: Literal["forgive", "recover"] | None = Field(
        None, exclude_if=lambda v: v is None,
        description="a recoverable draw's balance when the rep leaves (multi-year runs with attrition): written off "
                    "(forgive, the default) or taken from the leaver's last pay (recover)")

    @model_validator(mode="after")
    def _whole_periods(self) -> Draw:
        size = MONTHS // PERIODS[self.period]
        if self.months % size:
            raise ValueError(f"@months: {self.months} is not a whole number of {self.period}s; "
                             f"expected a multiple of {size}")
        if not self.recoverable and self.at_year_end == "carry":
            raise ValueError("@at_year_end: a non-recoverable draw leaves nothing owed to carry; "
                             "use 'recoverable: true' or leave at_year_end out")
        if not self.recoverable and self.on_exit is not None:
            raise ValueError("@on_exit: a non-recoverable draw leaves no balance to settle when a rep leaves; "
                             "use 'recoverable: true' or leave on_exit out")
        return self


class Payout(_Model):
    """When a role plan's pay is paid out: the payout calendar (docs/model.md section 3, payout calendar).

    Each pay period's pay (the accrual of its last month; gates and modifiers
    settle in December) is paid ``lag_months`` months after that month. A
    ``holdback`` share of every period's pay is held and paid at the annual
    true-up: in December (``holdback_paid: year_end``) or in January of the
    next year (``next_year``). Cash that lands after December is payable next
    year. The calendar moves cash, not the year's incentive cost.
    """

    lag_months: Annotated[Whole, Field(ge=0, le=MONTHS)] = Field(
        0, description="months from a pay period's last month to its payment (0 = paid in that month)")
    holdback: Fraction = Field(0.0, description="share of each period's pay held back to the annual true-up")
    holdback_paid: Literal["year_end", "next_year"] = Field(
        "year_end", description="the held-back pay is paid in December, or in January of the next year")


class Spiff(_Model):
    """A time-limited bonus on a measure with its own budget (docs/model.md section 3, SPIFFs).

    Each rep is paid ``rate`` per unit of a flow ``measure`` (for revenue: per
    unit of money, a commission rate) booked in the window of months
    ``from``-``to`` (1-12, inclusive), when they book at least ``min_units``
    there; paid at the window's last month, outside gates and modifiers.
    With a ``budget`` (money for the role's reps together), payouts above it
    are scaled down pro rata.
    """

    name: str
    measure: str = "revenue"
    start: Annotated[Whole, Field(ge=1, le=MONTHS)] = Field(alias="from", description="first month of the window, 1-12")
    end: Annotated[Whole, Field(ge=1, le=MONTHS)] = Field(alias="to", description="last month of the window, 1-12")
    rate: NonNeg = Field(description="money per unit of the measure booked in the window")
    min_units: NonNeg = Field(0.0, description="units in the window below which nothing is paid")
    budget: Positive | None = Field(None, description="most paid to the role's reps together, money")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _window(self) -> Spiff:
        if self.end < self.start:
            raise ValueError(f"@to: the window ends in month {self.end}, before it starts (from: {self.start}); "
                             "expected to >= from within one year")
        return self


class Clawback(_Model):
    """Pay recovered on deals that cancel (docs/model.md section 3, clawbacks).

    A deal of the role's cancellation process (``cancel_rate`` in the role's
    production) that cancels at most ``window_months`` months after it was
    booked takes back the pay it earned: the pay of each named component (or
    SPIFF) in the period it was booked, times the cancelled share of that
    period's revenue. What is owed falls due in the month the deal cancels
    and is recovered from the rep's pay of that month and later months; the
    balance left at year end (or falling due after it) is forgiven
    (``at_year_end: forgive``) or carried into next year, still owed
    (``carry``).
    """

    components: list[str] | None = Field(
        None, description="components and SPIFFs paid on revenue that are clawed back; all of them when omitted")
    window_months: Annotated[Whole, Field(ge=1, le=24)] = Field(
        12, description="a deal cancelling at most this many months after booking is clawed back")
    at_year_end: Literal["forgive", "carry"] = Field(
        "forgive", description="the balance not recovered by year end: written off, or owed into next year")


class Version(_Model):
    """An effective-dated version of a role's plan: from month ``from_month`` on, plan ``plan``'s terms apply.

    The role plan that lists versions applies from January up to the first
    version; each version up to the next one or December. Quotas and the pay
    at target prorate by the months in force (docs/model.md section 3,
    mid-year changes).
    """

    from_month: Annotated[Whole, Field(ge=2, le=MONTHS)] = Field(
        description="first month (2-12) in which the version applies")
    plan: str = Field(description="the plan whose terms for this role apply from that month")


class Team(_Model):
    """Team/individual weighting: pay = (1 - weight) individual + weight team."""

    weight: Fraction = 0.0
    split: Literal["equal", "contribution"] = "equal"


class Recognition(_Model):
    """Non-money award to the top k of the role by annual attainment on ``measure``."""

    top_k: Annotated[Whole, Field(ge=1, le=MAX_HEADCOUNT)] = 3
    value: NonNeg = Field(0.0, description="money-equivalent the analyst assigns")
    measure: str = "revenue"


class Feedback(_Model):
    """What reps know of their standing, and when (docs/model.md section 3, feedback cadence).

    Statements of each rep's attainment come every ``cadence`` (and with
    every payment); between them reps condition effort on their expected
    standing (the last statement plus the expected sales since), not on the
    realised one. Without a ``feedback`` section reps know it every month.
    """

    cadence: Literal["month", "quarter", "half", "year"] = Field(
        "month", description="how often reps get a statement of their attainment")


class Project(_Model):
    """Team project work with an individual and a shared part (docs/model.md section 3, projects).

    Each rep spends ``share_of_effort`` of their working time on their team's
    project instead of selling. Their project result is their ability times
    their project effort to the role's effort elasticity (1 for an average
    rep at the planned effort); the team's result is its members' mean. The
    project pays ``payout`` a year at a result of 1: ``1 - shared_weight`` of
    it on the rep's own result, ``shared_weight`` on the team's.
    """

    share_of_effort: Annotated[Real, Field(ge=0.0, lt=1.0)] = Field(
        description="share of a rep's working time the project takes from selling")
    shared_weight: Fraction = Field(0.5, description="share of the project pay assessed on the team's result")
    payout: NonNeg = Field(description="project pay at a result of 1 (the planned result), money per year")


#: what a programme is: a promotion tournament, an honour (a club) reached by a threshold, or training
PROGRAMME_KINDS = ("promotion", "honour", "training")

#: the fields each kind of programme needs, and the fields it cannot use (Programme._kind_fields)
_PROGRAMME_NEEDS = {"promotion": ("slots", "raise"), "honour": ("threshold", "value"),
                    "training": ("share", "cost_per_head", "ability_gain")}
_PROGRAMME_USES = {"promotion": {"slots", "raise", "years", "discount_rate", "cost_per_winner", "measure"},
                   "honour": {"threshold", "value", "cost_per_winner", "measure"},
                   "training": {"share", "cost_per_head", "ability_gain", "delay_months", "select"}}


class Programme(_Model):
    """A promotion, honour or training programme of a role (docs/model.md section 3, programmes).

    ``promotion``: the ``slots`` best reps of the role by ``measure`` over the
    year (revenue: attainment) are promoted; each winner's money-equivalent is
    the present value of the ``raise`` over ``years`` at ``discount_rate``.
    ``honour``: every rep whose year on ``measure`` reaches ``threshold``
    (revenue: attainment; another measure: its year total, or year mean for a
    score) is honoured, worth ``value``. ``training``: a ``share`` of the reps
    (those of ``select`` ability) is trained at ``cost_per_head``; their
    ability rises by ``ability_gain`` from month ``delay_months + 1``.
    ``cost_per_winner`` is the company's cost of a winner (default: the
    winner's money-equivalent).
    """

    name: str
    kind: Literal["promotion", "honour", "training"]
    measure: str = "revenue"
    slots: Annotated[Whole, Field(ge=1, le=MAX_HEADCOUNT)] | None = Field(
        None, description="promotion: reps promoted a year (the best by the measure)")
    raise_: NonNeg | None = Field(None, alias="raise", description="promotion: the promotion's pay rise, money per year")
    years: Annotated[Real, Field(gt=0.0, le=40.0)] = Field(
        5.0, description="promotion: years the raise is valued over (expected tenure in the new job)")
    discount_rate: Annotated[Real, Field(ge=0.0, le=1.0)] = Field(
        0.10, description="promotion: yearly discount rate of the raise")
    threshold: Positive | None = Field(
        None, description="honour: attainment (revenue) or year's total of the measure that qualifies")
    value: NonNeg | None = Field(None, description="honour: money-equivalent to a winner")
    cost_per_winner: NonNeg | None = Field(None, description="company's cost of a winner, money (default: the winner's value)")
    share: Fraction | None = Field(None, description="training: share of the role's reps trained")
    cost_per_head: NonNeg | None = Field(None, description="training: cost per rep trained, money")
    ability_gain: Annotated[Real, Field(ge=0.0, le=1.0)] | None = Field(
        None, description="training: rise in a trained rep's ability, a fraction")
    delay_months: Annotated[Whole, Field(ge=0, le=MONTHS - 1)] = Field(
        3, description="training: months before the gain shows (training and practice)")
    select: Literal["lowest", "highest"] = Field("lowest", description="training: train the reps of lowest or highest ability")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _kind_fields(self) -> Programme:
        # a field counts as given when it differs from its default (a dumped and re-read programme has them all)
        given = {("raise" if f == "raise_" else f) for f, info in type(self).model_fields.items()
                 if f in self.model_fields_set and getattr(self, f) != info.default}
        an = "an" if self.kind == "honour" else "a"
        problems = [f"@{f}: {an} {self.kind} programme needs '{f}'" for f in _PROGRAMME_NEEDS[self.kind] if f not in given]
        used = _PROGRAMME_USES[self.kind] | {"name", "kind"}
        problems += [f"@{f}: not a field of {an} {self.kind} programme; it uses {sorted(used)}"
                     for f in sorted(given - used)]
        if problems:
            raise ValueError(_SEP.join(problems))
        return self


class RolePlan(_Model):
    """The plan for one role."""

    base_salary: NonNeg | None = None
    target_incentive: NonNeg | None = None
    quota: Quota = Field(default_factory=Quota)
    components: list[Component]
    gates: list[Gate] = Field(default_factory=list)
    modifiers: list[Modifier] = Field(default_factory=list)
    team: Team = Field(default_factory=Team)
    recognition: Recognition | None = None
    # left out of dumps when empty, so scenarios without scorecards keep their sha256
    scorecards: list[Scorecard] = Field(default_factory=list, exclude_if=lambda v: not v)
    # left out of dumps when unset, so scenarios without it keep their sha256
    quota_relief: QuotaRelief | None = Field(None, exclude_if=lambda v: v is None)
    # left out of dumps when unset, so scenarios without it keep their sha256
    draw: Draw | None = Field(None, exclude_if=lambda v: v is None)
    # left out of dumps when empty, so scenarios without SPIFFs keep their sha256
    spiffs: list[Spiff] = Field(default_factory=list, exclude_if=lambda v: not v)
    # left out of dumps when unset, so scenarios without it keep their sha256
    payout: Payout | None = Field(None, exclude_if=lambda v: v is None)
    # left out of dumps when empty, so scenarios without programmes keep their sha256
    programmes: list[Programme] = Field(default_factory=list, exclude_if=lambda v: not v)
    # left out of dumps when unset, so scenarios without it keep their sha256
    projects: Project | None = Field(None, exclude_if=lambda v: v is None)
    # left out of dumps when unset, so scenarios without it keep their sha256
    feedback: Feedback | None = Field(None, exclude_if=lambda v: v is None)
    # left out of dumps when unset, so scenarios without it keep their sha256
    clawback: Clawback | None = Field(None, exclude_if=lambda v: v is None)
    # effective-dated versions (mid-year changes): left out of dumps when empty, so scenarios without them keep their sha256
    versions: list[Version] = Field(default_factory=list, exclude_if=lambda v: not v)
    # a check only (no effect on results): left out of dumps when unset, and of the sha256 always
    weights_total: NonNeg | None = Field(
        None, exclude_if=lambda v: v is None,
        description="the stated sum of the curve and scorecard weights when it is not 1 (0: none paid, on purpose)")

    @model_validator(mode="before")
    @classmethod
    def _scorecard_only(cls, data: Any) -> Any:
        """A plan paid by scorecards alone may leave out ``components``."""
        if isinstance(data, dict) and data.get("scorecards") and "components" not in data:
            data = {**data, "components": []}
        return data

    @model_validator(mode="after")
    def _names(self) -> RolePlan:
        problems = _name_problems(self.model_dump(by_alias=True))
        if problems:
            raise ValueError(_SEP.join(f"@{f}: {m}" for f, m in problems))
        return self


class Plan(_Model):
    description: str = ""
    roles: dict[str, RolePlan]


class Budget(_Model):
    incentive: Positive | None = Field(None, description="total incentive budget, money per year")


#: default ``behaviour.effort.loss_aversion`` (1: pay valued without a reference point, docs/model.md section 4.1.2)
LOSS_AVERSION = 1.0
#: default ``behaviour.effort.present_bias`` (1: exponential discounting only, docs/model.md section 4.1.3)
PRESENT_BIAS = 1.0


class EffortBehaviour(_Model):
    """Monthly effort chosen by backward induction (docs/model.md, section 4.1)."""

    enabled: bool = True
    cost_exponent: Real = Field(4.0, gt=1.0, le=10.0, description="g in c(e) = k e^g / g")
    monthly_discount: Real = Field(0.995, gt=0.0, le=1.0, description="discount factor per month")
    intrinsic: NonNeg = Field(2.0, description="non-money value of output, x today's incentive pay (current plan) per year of quota")
    risk_aversion: NonNeg = Field(0.0, description="CARA coefficient per today's incentive pay (0 = risk neutral)")
    # left out of dumps at its default, so scenarios without it keep their sha256
    loss_aversion: Real = Field(LOSS_AVERSION, ge=1.0, le=10.0, exclude_if=lambda v: v == LOSS_AVERSION,
                                description="weight of each unit of a period's pay below the plan's pay at 100% of "
                                "target, x a unit above it (1 = no reference point; docs/model.md section 4.1.2)")
    # left out of dumps at its default, so scenarios without it keep their sha256
    present_bias: Real = Field(PRESENT_BIAS, gt=0.0, le=1.0, exclude_if=lambda v: v == PRESENT_BIAS,
                               description="quasi-hyperbolic beta: weight of everything not received this month "
                               "(pay at a later period end, next year) against what is (1 = exponential "
                               "discounting only; docs/model.md section 4.1.3)")
    choice_noise: Positive = Field(0.05, description="scale of effort taste shocks, x today's incentive pay per month")
    min_effort: Real = Field(0.2, gt=0.0, le=1.0)
    max_effort: Real = Field(2.5, ge=1.0, le=10.0)
    normalise: bool = Field(True, description="scale effort cost so today's effort is optimal under the current plan")


class MultitaskBehaviour(_Model):
    """Split of effort between the paid activity and quality (Holmstrom & Milgrom 1991)."""

    enabled: bool = True
    inertia: NonNeg = Field(1.0, description="non-money weight on today's split, x today's money weight")


class TeamBehaviour(_Model):
    """Free riding on team pay, help to teammates, mean-field equilibrium."""

    enabled: bool = True
    social_weight: NonNeg = Field(1.0, le=3.0, description="value of the teammates' money relative to one's own, in total "
                                  "(spread over the n - 1 teammates)")
    help_productivity: NonNeg = Field(0.15, description="output gain of a teammate per unit of extra help from all others, "
                                      "per unit of the role's revenue elasticity to effort")
    help_norm: NonNeg = Field(0.15, description="today's motive to help, x the marginal pay on one's own output")
    help_cost_exponent: Real = Field(3.0, gt=1.0, le=10.0)
    iterations: Annotated[Whole, Field(ge=0, le=20)] = 3


class TimingBehaviour(_Model):
    """Pulling next period's sales in at a discount, or pushing sales out (Oyer 1998; Larkin 2014)."""

    enabled: bool = True
    price_discount: Fraction = Field(0.35, description="price concession on a deal pulled into the period")
    max_pull: NonNeg = Field(1.25, description="most revenue that can be pulled in, months of expected revenue")
    max_push: NonNeg = Field(0.5, description="most of this month's expected revenue that can be pushed out")


class RatchetBehaviour(_Model):
    """Reps' expectation that next quota follows this year's sales (Leone, Misra & Zimmerman 2004)."""

    enabled: bool = True
    up: NonNeg = Field(0.6, description="share of sales above quota added to next year's quota")
    down: NonNeg = Field(0.3, description="share of a shortfall taken off next year's quota")


class PriorSpec(_Model):
    """A prior range overriding a default of :data:`simlib.priors.PRIORS` (docs/model.md, section 4.11)."""

    dist: Literal["uniform", "loguniform"] | None = Field(None, description="default: the built-in prior's")
    low: Real
    high: Real
    source: str = Field("", description="where the range comes from (shown in provenance)")


class Uncertainty(_Model):
    """Behavioural uncertainty: an ensemble over parameter draws from priors (docs/model.md, section 4.11)."""

    draws: Annotated[Whole, Field(ge=0, le=1024)] = Field(0, description="parameter draws K (0 = off)")
    seed: Annotated[Whole, Field(ge=0)] = Field(0, description="seed of the draws' design")
    method: Literal["sobol", "lhs"] = "sobol"
    priors: dict[str, PriorSpec] = Field(default_factory=dict, description="overrides: name -> [low, high] or mapping")

    @field_validator("priors", mode="before")
    @classmethod
    def _short_forms(cls, v: Any) -> Any:
        """``[low, high]`` and a lone number (a fixed value) are short for ``{low, high}``."""
        if not isinstance(v, dict):
            return v
        out = {}
        for k, x in v.items():
            if isinstance(x, (list, tuple)) and len(x) == 2:
                x = {"low": x[0], "high": x[1]}
            elif isinstance(x, (int, float)) and not isinstance(x, bool):
                x = {"low": x, "high": x}
            out[k] = x
        return out

    @model_validator(mode="after")
    def _known(self) -> Uncertainty:
        problems = []
        for name, spec in self.priors.items():
            dist = spec.dist or (PRIORS[name].dist if name in PRIORS else "uniform")
            problems += [(f"priors.{name}", m) for m in prior_problems(name, dist, spec.low, spec.high)]
        if problems:
            raise ValueError(_SEP.join(f"@{f}: {m}" for f, m in problems))
        return self


class RivalryBehaviour(_Model):
    """Help to teammates falls as individual targets get harder and as rewards become rank-based (docs/model.md, 4.3)."""

    enabled: bool = True
    target_pressure: NonNeg = Field(1.0, le=5.0, description="elasticity of the cost of helping to individual target "
                                    "difficulty (mean quota over today's), on the individual revenue share of pay")
    rank_rivalry: NonNeg = Field(1.0, le=10.0, description="rise of the cost of helping per unit of the share of the "
                                 "money at stake that is awarded by rank (top-k recognition)")


class Behaviour(_Model):
    """How reps respond to a plan; every part can be switched off (``enabled: false``)."""

    mode: Literal["none", "dynamic"] | None = Field(None, description="default behaviour for this scenario")
    effort: EffortBehaviour = Field(default_factory=EffortBehaviour)
    multitask: MultitaskBehaviour = Field(default_factory=MultitaskBehaviour)
    team: TeamBehaviour = Field(default_factory=TeamBehaviour)
    timing: TimingBehaviour = Field(default_factory=TimingBehaviour)
    ratchet: RatchetBehaviour = Field(default_factory=RatchetBehaviour)
    uncertainty: Uncertainty = Field(default_factory=Uncertainty)
    # left out of dumps at its defaults, so scenarios that do not set it keep their sha256
    rivalry: RivalryBehaviour = Field(default_factory=RivalryBehaviour, exclude_if=lambda v: v == RivalryBehaviour())


class Attrition(_Model):
    """Reps leaving, month by month, with a hazard driven by pay (docs/model.md, section 4.12); multi-year runs only."""

    enabled: bool = Field(False, description="off: nobody leaves (the behaviour of every run before attrition existed)")
    annual_rate: Annotated[Real, Field(ge=0.0, lt=1.0)] = Field(
        0.2, description="share of reps leaving in a year when paid the outside option at quota")
    pay_elasticity: NonNeg = Field(1.5, description="d log hazard / d log(outside option / expected pay)")
    attainment_effect: NonNeg = Field(1.5, description="log hazard added per unit of year-to-date shortfall below quota")
    outside_option: Positive = Field(1.0, description="pay elsewhere, as a multiple of today's on-target pay (base + TI; "
                                                         "base + today's incentive where TI is a label)")
    top_premium: NonNeg = Field(0.15, description="top-quartile reps' outside option above the role's, a fraction")
    cap_effect: NonNeg = Field(0.5, description="log hazard added for a top-quartile rep whose pay hit a cap")


class Hiring(_Model):
    """Backfilling vacancies: a hiring lag, a cost per hire, then a ramping new hire (docs/model.md, section 4.12)."""

    backfill: bool = Field(True, description="off: a leaver's seat stays empty")
    lag_months: Annotated[Whole, Field(ge=0, le=11)] = Field(3, description="months a seat is empty before the hire starts")
    cost: NonNeg = Field(0.3, description="cost per hire (recruiting, onboarding), a multiple of the role's on-target pay")
    growth: dict[str, Annotated[list[Annotated[Whole, Field(ge=1, le=MAX_HEADCOUNT)]], Field(min_length=1, max_length=80)]] = Field(
        default_factory=dict, description="role -> headcount target of each quarter of the run (growth only); "
                                          "the last target holds after the list ends")


class People(_Model):
    """Who leaves and who is hired over a multi-year run (``simlib years``)."""

    attrition: Attrition = Field(default_factory=Attrition)
    hiring: Hiring = Field(default_factory=Hiring)


class Checks(_Model):
    """Thresholds of ``simlib check``: the largest tolerated probability that a plan breaches a guardrail.

    ``rules`` maps a guardrail metric (``share_at_quota``, ``share_120``,
    ``leverage``, ``comp_cost_of_sales``) to its own ``low`` / ``high`` edges
    and ``max_breach_probability`` (each optional; unset ones come from the
    guardrail bands and the top-level level, :mod:`simlib.design.review`).
    ``budget.max_over_budget_probability`` bounds P(incentive cost > budget.incentive).
    """

    max_breach_probability: Fraction = Field(0.2, description="default tolerated probability of breach")
    groups: list[str] = Field(default_factory=lambda: ["total"], description="groups checked: total and/or roles")
    rules: dict[Literal["share_at_quota", "share_120", "leverage", "comp_cost_of_sales"],
                dict[Literal["low", "high", "max_breach_probability"], float | None]] = Field(default_factory=dict)
    budget: dict[Literal["max_over_budget_probability"], Fraction] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _rule_values(self) -> Checks:
        """Each rule's edges in its metric's unit (shares as fractions), low not above high, a probability 0-1:
        checked by ``simlib validate`` as by ``simlib check``."""
        parts = []
        for metric, spec in self.rules.items():
            for edge in ("low", "high"):
                v = spec.get(edge)
                if v is not None and metric != "leverage" and not 0.0 <= v <= 1.0:
                    parts.append(f"@rules.{metric}.{edge}: expected a share between 0 and 1 (0.5 is 50%); "
                                 f"got {v:g}{_as_percent(v, 1.0)}")
            low, high = spec.get("low"), spec.get("high")
            if low is not None and high is not None and low > high:
                parts.append(f"@rules.{metric}: low {low:g} is above high {high:g}")
            lvl = spec.get("max_breach_probability")
            if lvl is not None and not 0.0 <= lvl <= 1.0:
                parts.append(f"@rules.{metric}.max_breach_probability: expected a probability between 0 and 1; "
                             f"got {lvl:g}{_as_percent(lvl, 1.0)}")
        if parts:
            raise ValueError(_SEP.join(parts))
        return self


class Scenario(_Model):
    """A validated scenario. Build with :func:`load_scenario`."""

    name: str
    description: str = ""
    currency: str = "EUR"
    # exchange rates (left out of dumps when empty, so scenarios without them keep their sha256)
    fx: dict[str, Positive] = Field(default_factory=dict, exclude_if=lambda v: not v,
                                    description="units of the reporting currency per unit of each role currency")
    fx_sd: dict[str, Annotated[Real, Field(ge=0.0, le=1.0)]] = Field(
        default_factory=dict, exclude_if=lambda v: not v, description="sd of the log of a rate over the year (a draw per trial)")
    market: Market = Field(default_factory=Market)
    roles: dict[str, Role] = Field(min_length=1)
    budget: Budget = Field(default_factory=Budget)
    behaviour: Behaviour = Field(default_factory=Behaviour)
    people: People = Field(default_factory=People)
    current_plan: str = "current"
    plans: dict[str, Plan] = Field(min_length=1)
    checks: Checks | None = Field(None, exclude=True, description="thresholds of simlib check (not hashed: no effect on results)")
    roster: str | None = Field(None, description="roster file (CSV, XLSX, Parquet), relative to the scenario file")
    year_start: datetime.date | None = Field(
        None, description="first day of the simulated year; roster tenure from hire dates is counted to it")
    history: str | None = Field(
        None, description="history of the roster's reps (CSV, XLSX, Parquet), relative to the scenario file")
    source: str = Field("<memory>", exclude=True)
    sha256: str = Field("", exclude=True)
    _roster: Roster | None = PrivateAttr(None)
    _track: TrackRecord | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _cross(self) -> Scenario:
        problems = _cross_problems(self.model_dump(by_alias=True))
        if problems:
            raise ValueError(_SEP.join(f"@{f}: {m}" for f, m in problems))
        return self

    # convenience -----------------------------------------------------------
    def role_plan(self, plan: str, role: str) -> RolePlan:
        return self.plans[plan].roles[role]

    def target_incentive(self, plan: str, role: str) -> float:
        rp = self.role_plan(plan, role)
        return self.roles[role].target_incentive if rp.target_incentive is None else rp.target_incentive

    def base_salary(self, plan: str, role: str) -> float:
        rp = self.role_plan(plan, role)
        return self.roles[role].base_salary if rp.base_salary is None else rp.base_salary

    @property
    def headcount(self) -> int:
        return sum(r.headcount for r in self.roles.values())

    @property
    def roster_data(self) -> Roster | None:
        """The validated roster the scenario names (None for a synthetic population)."""
        return self._roster

    @property
    def track_record(self) -> TrackRecord | None:
        """Each roster rep's productivity estimated from the history the scenario names (None before it is applied)."""
        return self._track

    def with_track_record(self, track: TrackRecord) -> Scenario:
        """A copy whose roster reps are simulated from ``track`` (see :func:`simlib.fit.individuals.with_history`).

        Scenarios rebuilt from this one's data in the same process (sweeps,
        plan edits) get the same track record back while the history file,
        the roster and the roles' ability and territory spreads are unchanged.
        """
        new = self.model_copy()
        new._roster, new._track = self._roster, track
        object.__setattr__(new, "sha256", _with_track_sha(self.sha256, track))
        key = _track_key(self)
        if key is not None:
            if len(_TRACKS) > 16:
                _TRACKS.clear()
            _TRACKS[key] = track
        return new

    def with_plan(self, name: str, plan: Plan | dict) -> Scenario:
        """Return a copy with plan ``name`` added or replaced (used by sweeps)."""
        data = self.model_dump()
        data["plans"][name] = plan.model_dump(by_alias=True) if isinstance(plan, Plan) else plan
        return _build(data, self.source)


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


def deep_merge(base: Any, changes: Any, *, _path: str = "") -> Any:
    """Merge ``changes`` into ``base``: dicts recursively, lists of named dicts by ``name``.

    A change value of ``null`` deletes the key. Other values replace. In a list
    of named items, ``{name: x, remove: true}`` drops item ``x``.

    Raises
    ------
    ValueError
        When asked to remove an item the base does not have (message starts with the dotted path).
    """
    if isinstance(base, dict) and isinstance(changes, dict):
        out = copy.deepcopy(base)
        for k, v in changes.items():
            if v is None:
                out.pop(k, None)
            elif k in out:
                out[k] = deep_merge(out[k], v, _path=f"{_path}.{k}" if _path else str(k))
            else:
                out[k] = copy.deepcopy(v)
        return out
    if (
        isinstance(base, list)
        and isinstance(changes, list)
        and all(isinstance(x, dict) and "name" in x for x in base + changes)
    ):
        out = [copy.deepcopy(x) for x in base]
        index = {x["name"]: i for i, x in enumerate(out)}
        for item in changes:
            if item.get("remove"):
                if item["name"] not in index:
                    raise ValueError(f"{_path}: cannot remove '{item['name']}', the base has only {list(index)}")
                out = [x for x in out if x["name"] != item["name"]]
                index = {x["name"]: i for i, x in enumerate(out)}
            elif item["name"] in index:
                out[index[item["name"]]] = deep_merge(out[index[item["name"]]], item)
            else:
                out.append(copy.deepcopy(item))
                index[item["name"]] = len(out) - 1
        return out
    return copy.deepcopy(changes)


def _resolve_plans(raw_plans: Any, source: str, problems: list[Problem]) -> Any:
    """Expand ``base`` + ``changes`` plans into full plan dicts."""
    if not isinstance(raw_plans, dict):
        return raw_plans
    resolved: dict[str, Any] = {}

    def resolve(name: str, stack: tuple[str, ...]) -> Any:
        if name in resolved:
            return resolved[name]
        spec = raw_plans[name]
        if not isinstance(spec, dict) or "base" not in spec:
            resolved[name] = spec
            return spec
        base = spec["base"]
        extra = set(spec) - {"base", "changes", "description"}
        if extra:
            problems.append(Problem(source, f"plans.{name}", f"a plan with 'base' takes only base, changes, description; got {sorted(extra)}"))
        if base not in raw_plans:
            problems.append(Problem(source, f"plans.{name}.base", f"'{base}' is not a plan, expected one of {sorted(raw_plans)}"))
            resolved[name] = None
            return None
        if base in stack:
            problems.append(Problem(source, f"plans.{name}.base", f"circular base chain {' -> '.join(stack + (base,))}"))
            resolved[name] = None
            return None
        base_full = resolve(base, stack + (base,))
        if base_full is None:
            resolved[name] = None
            return None
        changes = spec.get("changes") or {}
        if not isinstance(changes, dict):
            problems.append(Problem(source, f"plans.{name}.changes", "expected a mapping of changes"))
            changes = {}
        try:
            merged = deep_merge(base_full, changes)
        except ValueError as exc:
            where, _, msg = str(exc).partition(": ")
            problems.append(Problem(source, f"plans.{name}.changes.{where}", msg))
            resolved[name] = None
            return None
        merged["description"] = spec.get("description", f"{base} with changes")
        resolved[name] = merged
        return merged

    for name in raw_plans:
        resolve(name, (name,))
    return {k: v for k, v in resolved.items() if v is not None}


def _problems_from(exc: ValidationError, source: str) -> list[Problem]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (not allowed here; check the spelling)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif "input" in err and err["type"] != "value_error":
            msg = f"{msg}; got {excerpt(err['input'])}{_percent_hint(err)}"
        if msg.startswith("@"):
            # encoded list of (relative path, message) from a model validator
            for part in msg.split(_SEP):
                field, _, rest = part[1:].partition(": ")
                out.append(Problem(source, ".".join(x for x in (loc, field) if x), rest))
            continue
        out.append(Problem(source, loc, msg))
    return out


def _model_fields(model: type[BaseModel]) -> set[str]:
    """The names a user may write in ``model``: its fields, by alias where they have one (``from``)."""
    return {f.alias or name for name, f in model.model_fields.items() if not f.exclude}


def _all_models() -> list[type[BaseModel]]:
    """Every model of the scenario language (subclasses of ``_Model``)."""
    out, todo = [], [_Model]
    while todo:
        m = todo.pop()
        out.append(m)
        todo.extend(m.__subclasses__())
    return out


def _as_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field's type names (``Market``, ``Checks | None``, ``Annotated[Role, ...]``), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return _as_model(args[0])
    if origin in (list, tuple, dict, Literal) or not args:
        return None
    models = [m for m in map(_as_model, args) if m is not None]  # a union
    return models[0] if len(models) == 1 else None


def _inner(annotation: Any, key: str) -> Any:
    """The type one step ``key`` of a path further into a field of type ``annotation`` (an item of a list or
    mapping, a field of a model), or None when the path cannot be followed."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return _inner(args[0], key)
    if origin in (list, tuple) and key.isdigit() and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    model = _as_model(annotation)
    if model is None:
        return None
    field = model.model_fields.get(key) or next((f for f in model.model_fields.values() if f.alias == key), None)
    return field.annotation if field is not None else None


def _fields_at(path: list[str]) -> set[str] | None:
    """The names a scenario may hold at a dotted path's parts (``plans.current.roles.ts.components.0``), or None."""
    t: Any = Scenario
    for key in path:
        t = _inner(t, key)
        if t is None:
            return None
    model = _as_model(t)
    return _model_fields(model) if model is not None else None


def _did_you_mean(problems: list[Problem]) -> list[Problem]:
    """An unknown field gets the closest name that is allowed where it stands (else anywhere in a scenario)."""
    out = []
    for p in problems:
        if p.message.startswith("unknown field") and p.field:
            *parent, name = p.field.split(".")
            here = _fields_at(parent)
            names = here if here else set().union(*(_model_fields(m) for m in _all_models()))
            close = difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.6 if here else 0.75)
            if close and close[0] != name:
                p = Problem(p.source, p.field, f"{p.message}; did you mean '{close[0]}'?")
        out.append(p)
    return out


def problems_of(exc: ValidationError, source: str = "") -> list[Problem]:
    """A model's validation error (a plan built by a sweep, say) as problems with field paths and plain messages,
    as a scenario file's are reported."""
    return _problems_from(exc, source)


def _drop_inherited(problems: list[Problem], raw_plans: Any) -> list[Problem]:
    """Drop a derived plan's problem when its base plan has the same one (it was inherited)."""
    if not isinstance(raw_plans, dict):
        return problems
    seen = {(p.field, p.message) for p in problems}
    out = []
    for p in problems:
        parts = p.field.split(".", 2)
        spec = raw_plans.get(parts[1]) if len(parts) == 3 and parts[0] == "plans" else None
        base = spec.get("base") if isinstance(spec, dict) else None
        if isinstance(base, str) and (f"plans.{base}.{parts[2]}", p.message) in seen:
            continue
        out.append(p)
    return out


def _build(data: dict, source: str) -> Scenario:
    problems: list[Problem] = []
    data = dict(data)
    for reserved in ("source", "sha256"):  # set by the loader, not by the file
        if reserved in data:
            data.pop(reserved)
            problems.append(Problem(source, reserved, "unknown field (not allowed here; check the spelling)"))
    raw_plans = data.get("plans")
    if "plans" in data:
        data["plans"] = _resolve_plans(raw_plans, source, problems)
    roster = _roster_into(data, source, problems)
    if "roles" in data:  # credited roles take their process from the role they are credited on
        data["roles"] = inherit_credited(data["roles"])
    try:
        scen = Scenario(**data)
    except ValidationError as exc:
        problems.extend(_problems_from(exc, source))
        # cross-field validators do not run once a field has failed: check the raw input too
        seen = {(p.field, p.message) for p in problems}
        for f, m in _cross_problems(data):
            if (f, m) not in seen:
                problems.append(Problem(source, f, m))
                seen.add((f, m))
        current = data.get("current_plan", "current")
        if isinstance(raw_plans, dict) and isinstance(current, str) and current in raw_plans:
            # the current plan exists but its base chain failed, which is reported already
            problems = [p for p in problems if p.field != "current_plan"]
        if isinstance(raw_plans, dict) and raw_plans:  # plans exist but every base chain failed
            problems = [p for p in problems if not (p.field == "plans" and p.message.startswith("Dictionary should"))]
        problems = _drop_inherited(problems, raw_plans)
        raise ScenarioError(_did_you_mean(problems)) from None
    if roster is not None:  # the roster's managers against the manager roles credited on its roles
        problems += roster_credit_problems(scen.roles, roster, source)
    if problems:
        raise ScenarioError(problems)
    dumped = scen.model_dump(by_alias=True, mode="json")
    if scen.behaviour.uncertainty == Uncertainty():  # unset: the hash of scenarios written before it existed
        del dumped["behaviour"]["uncertainty"]
    for key in ("roster", "year_start", "history"):  # unset: the hash of scenarios written before they existed
        if dumped[key] is None:
            del dumped[key]
    for role in dumped["roles"].values():  # no named measures: the hash of scenarios written before them
        if role.get("measures") is None:
            role.pop("measures", None)
    for plan in dumped["plans"].values():  # a check only, with no effect on results
        for rp in plan["roles"].values():
            rp.pop("weights_total", None)
    if roster is not None:  # the roster's contents, not only its name, decide the results
        dumped["roster"] = {"file": scen.roster, "sha256": roster.sha256}
    scen._roster = roster
    if scen.history is not None:
        if roster is None:
            raise ScenarioError([Problem(source, "history", "a history is used with a roster: name the reps' "
                                                            "roster file too (roster: FILE)")])
        hp = roster_path(scen.history, source)
        if not hp.is_file():
            raise ScenarioError([Problem(str(hp), "", _not_found("history", scen.history, source))])
    if scen.people == People():  # unset: likewise for the people section (multi-year runs only)
        del dumped["people"]
    canonical = json.dumps(dumped, sort_keys=True)
    object.__setattr__(scen, "sha256", hashlib.sha256(canonical.encode()).hexdigest())
    object.__setattr__(scen, "source", source)
    track = _TRACKS.get(_track_key(scen)) if scen.history is not None else None
    if track is not None:  # rebuilt from a scenario whose history was applied (a sweep's plan edits)
        scen._track = track
        object.__setattr__(scen, "sha256", _with_track_sha(scen.sha256, track))
    return scen


#: track records applied, by :func:`_track_key`, so that scenarios rebuilt from data keep theirs
_TRACKS: dict[tuple, TrackRecord] = {}


def _track_key(scen: Scenario) -> tuple | None:
    """What a track record depends on: the history file (as on disk), the roster, the roles' spreads."""
    if scen.history is None or scen.roster_data is None:
        return None
    p = roster_path(scen.history, scen.source)
    try:
        st = p.stat()
    except OSError:
        return None
    spreads = tuple((r, role.ability_sd, role.territory_sd) for r, role in scen.roles.items())
    return (str(p.resolve()), st.st_size, st.st_mtime_ns, scen.roster_data.sha256, spreads)


def _with_track_sha(sha: str, track: TrackRecord) -> str:
    return hashlib.sha256(f"{sha}+history:{track.sha256}".encode()).hexdigest()


#: rosters read, by (file, size, modification time, roles, currency, year start); a sweep rebuilds its scenario often
_ROSTERS: dict[tuple, Roster] = {}


def roster_path(name: str, source: str) -> Path:
    """A roster (or other) file named in a scenario: relative to the scenario file's folder (cwd for ``<memory>``)."""
    p = Path(name)
    if p.is_absolute() or source.startswith("<"):
        return p
    return Path(source).parent / p


def _not_found(field: str, name: str, source: str) -> str:
    """The message for a file a scenario names that does not exist: which scenario and field named it, and how."""
    where = "" if source.startswith("<") else f" by {source}"
    how = "an absolute path" if Path(name).is_absolute() or source.startswith("<") else \
        "relative to the scenario file's folder"
    return f"file not found: the {field} named{where} ({field}: {name}; {how})"


def _roster_into(data: dict, source: str, problems: list[Problem]) -> Roster | None:
    """Read the roster a scenario names, and give its roles their headcount and default pay levels from it.

    A role's ``headcount``, when written, must equal the roster's; its
    ``base_salary`` and ``target_incentive``, when not written, are the
    roster's means (the level a plan's ``base_salary``/``target_incentive``
    replaces; each rep keeps their own relative to it). Problems are added to
    ``problems`` (the roster's bad rows with its file and line).
    """
    name = data.get("roster")
    if name is None:
        return None
    roles = data.get("roles")
    if not isinstance(name, str) or not name.strip():
        problems.append(Problem(source, "roster", f"expected the name of a roster file, got {excerpt(name)}"))
        return None
    if not isinstance(roles, dict) or not roles:
        return None  # the roles field reports its own problem
    start = data.get("year_start")
    if isinstance(start, str):
        try:
            start = datetime.date.fromisoformat(start)
        except ValueError:
            return None  # year_start reports its own problem
    if start is not None and not isinstance(start, datetime.date):
        return None
    path = roster_path(name, source)
    if not path.exists():
        problems.append(Problem(str(path), "", _not_found("roster", name, source)))
        data["roles"] = {r: ({"headcount": 1, "base_salary": 0.0, "target_incentive": 0.0, **spec}
                             if isinstance(spec, dict) else spec) for r, spec in roles.items()}
        return None
    currency: Any = str(data.get("currency", "EUR"))
    if any(isinstance(spec, dict) and spec.get("currency") for spec in roles.values()):  # roles paid in their own
        currency = tuple((r, str(spec.get("currency") or currency)) for r, spec in roles.items() if isinstance(spec, dict))
    credited = tuple(r for r, spec in roles.items() if isinstance(spec, dict) and spec.get("credited_on"))
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns, tuple(roles), currency, start, credited)
    except OSError:
        key = None
    roster = _ROSTERS.get(key) if key else None
    if roster is None:
        try:
            roster = read_roster(path, list(roles), currency if isinstance(currency, str) else dict(currency), start,
                                 credited)
        except RosterError as exc:
            for p in exc.problems:
                problems.append(Problem(exc.source, getattr(p, "where", ""), getattr(p, "reason", str(p))))
            # the run is refused for the roster's problems: do not also report the fields it would have filled
            data["roles"] = {r: ({"headcount": 1, "base_salary": 0.0, "target_incentive": 0.0, **spec}
                                 if isinstance(spec, dict) else spec) for r, spec in roles.items()}
            return None
        if key:
            if len(_ROSTERS) > 16:
                _ROSTERS.clear()
            _ROSTERS[key] = roster
    data["roles"] = {r: _with_roster(data, r, spec, roster, source, problems) for r, spec in roles.items()}
    return roster


def _with_roster(data: dict, r: str, spec: Any, roster: Roster, source: str, problems: list[Problem]) -> Any:
    """Role ``r``'s spec with the roster's headcount and mean pay levels filled in."""
    if not isinstance(spec, dict):
        return spec
    rr = roster.roles[r]
    spec = dict(spec)
    if "headcount" in spec and spec["headcount"] != rr.headcount:
        problems.append(Problem(source, f"roles.{r}.headcount",
                                f"{excerpt(spec['headcount'])} but the roster has {rr.headcount} {r} reps; "
                                "leave headcount out when the scenario names a roster"))
    spec["headcount"] = rr.headcount
    spec.setdefault("team_size", max(1, int(np.max(np.bincount(rr.team)))))
    # the roster's counts past the limits are the roster's problem, not the scenario's headcount or team_size fields
    if rr.headcount > MAX_HEADCOUNT:
        problems.append(Problem(roster.source, "role", f"{rr.headcount:,} {r} reps, more than the {MAX_HEADCOUNT:,} a "
                                                       "role may have; split the role or model fewer reps"))
        spec["headcount"] = spec["team_size"] = 1
    sizes = np.bincount(rr.team)
    if sizes.max() > MAX_TEAM_SIZE:
        big = int(np.argmax(sizes))
        problems.append(Problem(roster.source, "team", f"{r} team '{rr.teams[big]}' has {int(sizes[big]):,} reps, more "
                                                       f"than the {MAX_TEAM_SIZE:,} a team may have"))
        spec["team_size"] = 1
    for col in ("base_salary", "target_incentive"):
        spec.setdefault(col, round(float(np.mean(getattr(rr, col))), 2))
    return spec


def scenario_from_dict(data: dict, source: str = "<memory>") -> Scenario:
    """Validate a scenario given as a dict (as read from YAML)."""
    if not isinstance(data, dict):
        raise ScenarioError([Problem(source, "", f"expected a mapping at the top level, got {type(data).__name__}")])
    return _build(data, source)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects a key given twice in one mapping (PyYAML keeps the last silently)."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    first: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # '<<: *anchor' may be overridden by explicit keys
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            if key in first:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' appears twice in one mapping (first on line {first[key] + 1})",
                    key_node.start_mark)
            first[key] = key_node.start_mark.line
        except TypeError:  # an unhashable key: construct_mapping reports it
            pass
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)

#: most YAML nodes a scenario may expand to, aliases counted at every use (a shipped scenario has ~2,000)
MAX_YAML_NODES = 200_000
#: deepest nesting of mappings and lists in a scenario file (a shipped scenario nests ~8 deep)
MAX_YAML_DEPTH = 64
#: largest scenario file, bytes
MAX_YAML_BYTES = 16 * 2**20


def _yaml_size(root: yaml.Node) -> int:
    """Nodes ``root`` expands to when every alias is replaced by its anchor's content.

    Shared (aliased) nodes are counted once per use without being expanded,
    so an alias bomb is measured in time linear in the file.

    Raises
    ------
    ValueError
        Nesting deeper than :data:`MAX_YAML_DEPTH`, or an alias inside its own anchor.
    """
    size: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 0, False)]
    open_: set[int] = set()
    while stack:
        node, depth, done = stack.pop()
        if depth > MAX_YAML_DEPTH:
            raise ValueError(f"nested more than {MAX_YAML_DEPTH} levels deep")
        kids = _children(node)
        if done:
            open_.discard(id(node))
            size[id(node)] = 1 + sum(size[id(k)] for k in kids)
            continue
        if id(node) in size:
            continue
        if id(node) in open_:
            raise ValueError("an alias refers to the anchor that contains it")
        open_.add(id(node))
        stack.append((node, depth, True))
        stack.extend((k, depth + 1, False) for k in kids if id(k) not in size)
    return size[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [x for pair in node.value for x in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _read_yaml(text: str) -> Any:
    """Parse scenario YAML with :class:`_UniqueKeyLoader`, refusing inputs past the limits before constructing them.

    Raises
    ------
    yaml.YAMLError
        Not valid YAML.
    ValueError
        Deeper than :data:`MAX_YAML_DEPTH` or larger than :data:`MAX_YAML_NODES` once aliases are expanded.
    """
    loader = _UniqueKeyLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise ValueError(f"nested more than {MAX_YAML_DEPTH} levels deep") from None
        if node is None:
            return None
        n = _yaml_size(node)
        if n > MAX_YAML_NODES:
            raise ValueError(f"expands to {n:,} values once aliases (*name) are replaced; "
                             f"at most {MAX_YAML_NODES:,} are accepted")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate a scenario YAML file.

    A relative path that does not exist in the working directory is looked
    up among the scenarios shipped with simlib, so ``scenarios/default.yaml``
    works from any folder.

    Raises
    ------
    ScenarioError
        Listing every problem with file, field path and what was expected.
    """
    p = Path(path)
    src = str(path)
    if not p.exists() and not p.is_absolute() and (SHIPPED / p).is_file():
        p = SHIPPED / p
        src = str(p)
    if not p.exists():
        raise ScenarioError([Problem(src, "", "file not found")])
    if p.is_dir():
        raise ScenarioError([Problem(src, "", "is a directory, expected a scenario YAML file")])
    try:
        if p.stat().st_size > MAX_YAML_BYTES:
            raise ScenarioError([Problem(src, "", f"larger than {MAX_YAML_BYTES // 2**20} MiB; "
                                                  "expected a scenario YAML file")])
        data = _read_yaml(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = str(getattr(exc, "problem", None) or exc)
        raise ScenarioError([Problem(src, where, f"not valid YAML: {what[:200]}")]) from None
    except UnicodeDecodeError:
        raise ScenarioError([Problem(src, "", "not a UTF-8 text file")]) from None
    except ValueError as exc:  # past the size or depth limits
        raise ScenarioError([Problem(src, "", f"refused: {exc}")]) from None
    except OSError as exc:
        raise ScenarioError([Problem(src, "", f"cannot read the file: {exc.strerror or exc}")]) from None
    if data is None:
        raise ScenarioError([Problem(src, "", "the file is empty; expected a scenario mapping with name, roles and plans")])
    return scenario_from_dict(data, src)


def as_scenario(scenario: Scenario | str | Path) -> Scenario:
    """The scenario itself, or the one loaded from a YAML file (:func:`load_scenario`)."""
    return scenario if isinstance(scenario, Scenario) else load_scenario(scenario)


def validate_paths(paths: list[str | Path]) -> list[Problem]:
    """Validate several scenario files; return every problem found (empty when all are valid)."""
    out: list[Problem] = []
    for p in paths:
        try:
            load_scenario(p)
        except ScenarioError as exc:
            out.extend(exc.problems)
    return out
