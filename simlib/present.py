"""Metrics as a reader sees them: display names, units, money in the scenario's currency, percent, no exponents.

One presentation layer for HTML reports, the command line, the explorer and
spreadsheet exports. Every metric the engine emits has an entry in
:data:`CATALOGUE`: a display name and one of five units

========  ===============================================  =====================
unit      shown as                                         examples
========  ===============================================  =====================
money     ``1.80 M EUR``, ``734 k EUR``, ``9,850 EUR``     revenue, profit
percent   ``19.5%`` (differences in points: ``+1.2 pp``)   comp_cost_of_sales
count     ``1,234``                                        counts of reps
ratio     ``2.45`` (a multiple or a correlation)           leverage
index     ``1.02`` (1 = today)                             effort_index
local     ``1.20 M`` (money in a role's own currency)      incentive_cost_local
========  ===============================================  =====================

The API:

- :func:`label` and :func:`unit` of a metric id; :func:`is_diagnostic` for
  model diagnostics that reports keep out of the main tables;
- :func:`fmt` writes one estimate with its 95% CI half-width
  (``fmt(1.8e6, 12e3, "profit", "EUR", signed=True) == "+1.80 M EUR ± 24 k"``);
- :func:`money_scale` picks one k / M scale for a set of money values (a row
  of a table; :func:`row_scales` for each row, :func:`cell_scale` for a cell
  that would read below 1 on its row's scale);
- :func:`style_table` formats a numeric table (a pandas ``Styler``: the data
  stay numbers, only their display is formatted); :func:`show_texts` shows
  texts made per cell in a ``Styler``'s cells, by position;
- :func:`number_format` gives the Excel number format of a metric;
- :func:`format_axis` formats a matplotlib axis (money with the currency,
  percent with ``%``; never an offset such as ``1e6``).

Precision follows :mod:`simlib.format` (two significant digits of the
standard error), capped for reading: money to three significant digits of
its scale, percent to one decimal, ratios and indices to two. No output
uses scientific notation.

Base layer: the standard library, NumPy and :mod:`simlib.format`; pandas and
matplotlib only inside the functions that take their objects.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from simlib.format import Z95, decimals

__all__ = ["MetricInfo", "CATALOGUE", "UNITS", "label", "unit", "info", "is_diagnostic", "money_scale", "row_scales", "fmt",
           "cell_scale", "fmt_value", "half_width", "plain", "number_format", "style_table", "format_axis", "axis_label",
           "readable", "fmt_relative", "show_texts"]

#: the units a metric can have
UNITS = ("money", "percent", "count", "ratio", "index", "local")


@dataclass(frozen=True)
class MetricInfo:
    """How one metric is shown.

    Attributes
    ----------
    label : str
        Display name (sentence case, no unit).
    unit : str
        One of :data:`UNITS`.
    diagnostic : bool
        A model diagnostic (behaviour internals): shown once, collapsed, at the end of reports.
    na : str
        Why the metric can be not applicable (NaN), said beside ``n/a`` (:func:`fmt_value`); "" for none.
    """

    label: str
    unit: str
    diagnostic: bool = False
    na: str = ""


#: every metric id the engine, the guardrails and the sweeps emit -> how it is shown
#: month names for the payout calendar's metrics (fixed, not the locale's)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

CATALOGUE: dict[str, MetricInfo] = {
    "revenue": MetricInfo("Revenue", "money"),
    "gross_profit": MetricInfo("Gross profit", "money"),
    "incentive_cost": MetricInfo("Incentive cost", "money"),
    "base_cost": MetricInfo("Base salaries", "money"),
    "total_comp": MetricInfo("Total compensation", "money"),
    "comp_cost_of_sales": MetricInfo("Comp cost of sales (comp / revenue)", "percent"),
    "profit": MetricInfo("Profit (gross profit - comp)", "money"),
    "share_at_quota": MetricInfo("Reps at or above quota", "percent"),
    "share_120": MetricInfo("Reps at 120%+ of quota", "percent"),
    "attainment_p10": MetricInfo("Attainment, 10th percentile", "percent"),
    "attainment_p50": MetricInfo("Attainment, median", "percent"),
    "attainment_p90": MetricInfo("Attainment, 90th percentile", "percent"),
    "payout_p10": MetricInfo("Payout / target, 10th percentile", "ratio"),
    "payout_p50": MetricInfo("Payout / target, median", "ratio"),
    "leverage": MetricInfo("Leverage (payout / target, 90th pct.)", "ratio"),
    "share_capped": MetricInfo("Reps who hit a cap", "percent"),
    "pay_performance_corr": MetricInfo("Pay-performance correlation", "ratio"),
    "gini_pay": MetricInfo("Pay inequality (Gini)", "index"),
    "recognition_value": MetricInfo("Value of non-money awards", "money"),
    "over_budget": MetricInfo("Chance of exceeding the incentive budget", "percent"),
    "p95_incentive_cost": MetricInfo("Incentive cost, bad year (95th pct.)", "money"),
    "p95_total_comp": MetricInfo("Total compensation, bad year (95th pct.)", "money"),
    # behaviour model
    "last_month_share": MetricInfo("Revenue booked in a period's last month", "percent", True,
                                   na="paid monthly: every month ends a period"),
    "discount_cost": MetricInfo("Discounts given to pull deals forward", "money"),
    "help_given": MetricInfo("Help to teammates (index, 1 = today)", "index", True),
    "effort_index": MetricInfo("Effort (index, 1 = today)", "index", True),
    "give_up_share": MetricInfo("Reps easing off while short of target", "percent", True),
    "coast_share": MetricInfo("Reps coasting once on track", "percent", True),
    # plan mechanics
    "draw_paid": MetricInfo("Draws paid beyond earnings", "money"),
    "draw_outstanding": MetricInfo("Draw balance still owed", "money"),
    "draw_forgiven_on_exit": MetricInfo("Draw balances of leavers forgiven", "money"),
    "draw_recovered_on_exit": MetricInfo("Draw balances recovered from leavers", "money"),
    "spiff_cost": MetricInfo("SPIFF payouts", "money"),
    # named measures (roles with a measures: block; docs/model.md section 2, named measures)
    "market_share": MetricInfo("Market share", "percent"),
    "retention_rate": MetricInfo("Customer retention (kept / opening book)", "percent"),
    "customers_lost": MetricInfo("Existing customers lost", "count"),
    "profit_after_discounts": MetricInfo("Profit after discounts", "money"),
    "growth_rate": MetricInfo("Growth on last year", "percent"),
    "visits_per_day": MetricInfo("Customer visits per rep-day", "ratio"),
    # payout calendar: accrual by performance month, cash by calendar month
    **{f"accrual_m{m:02d}": MetricInfo(f"Accrued for {name} performance", "money")
       for m, name in enumerate(_MONTHS, start=1)},
    **{f"cash_m{m:02d}": MetricInfo(f"Paid out in {name}", "money")
       for m, name in enumerate(_MONTHS, start=1)},
    "payable_next_year": MetricInfo("Payable next year (lag and holdbacks)", "money"),
    # programmes: promotion, honours, training
    "programme_cost": MetricInfo("Programme cost (promotions, honours, training)", "money"),
    "programme_value": MetricInfo("Value of promotions and honours won", "money"),
    "programme_winners": MetricInfo("Promotions and honours won", "count"),
    "programme_trained": MetricInfo("Reps trained", "count"),
    "profit_after_programmes": MetricInfo("Profit after programme cost", "money"),
    # team projects
    "project_pay": MetricInfo("Project pay (individual and shared parts)", "money"),
    "project_result": MetricInfo("Team project result (index, 1 = planned)", "index"),
    "project_effort": MetricInfo("Project effort (index, 1 = planned)", "index", True),
    # cancelled deals and clawbacks
    "cancelled_revenue": MetricInfo("Revenue of deals that cancel", "money"),
    "clawback_recovered": MetricInfo("Pay clawed back", "money"),
    "clawback_unrecovered": MetricInfo("Clawback balance not recovered", "money"),
    # roles paid in their own currencies: cost in the role's currency (no code: it differs by role), the rate
    "incentive_cost_local": MetricInfo("Incentive cost in the role's own currency", "local"),
    "total_comp_local": MetricInfo("Total compensation in the role's own currency", "local"),
    "fx_rate": MetricInfo("Exchange rate (reporting currency per unit of the role's)", "ratio"),
    # crediting: splits, overlays, managers
    "credited_revenue": MetricInfo("Revenue credited for pay", "money"),
    "credit_ratio": MetricInfo("Credited / booked revenue", "ratio"),
    "overlay_cost": MetricInfo("Overlay cost (base + incentive)", "money"),
    "manager_cost": MetricInfo("Manager cost (base + incentive)", "money"),
    # several years (simlib run --years): people and money
    "hiring_cost": MetricInfo("Hiring cost", "money"),
    "lost_revenue": MetricInfo("Revenue lost to empty and ramping seats", "money"),
    "cost_of_turnover": MetricInfo("Cost of turnover", "money"),
    "profit_cumulative": MetricInfo("Profit, years so far", "money"),
    "quota_mean": MetricInfo("Mean quota", "money"),
    "attainment_mean": MetricInfo("Mean attainment", "percent"),
    "turnover_rate": MetricInfo("Turnover (leavers / seats)", "percent"),
    "regretted_turnover": MetricInfo("Regretted turnover (top-quartile leavers / seats)", "percent"),
    "vacancy_months": MetricInfo("Empty seat-months", "count"),
    "seats": MetricInfo("Open seats (headcount plan)", "count"),
    "hires": MetricInfo("Hires started", "count"),
    "tenure_under_1y": MetricInfo("Reps under one year in post", "percent"),
    "tenure_1_3y": MetricInfo("Reps one to three years in post", "percent"),
    "tenure_over_3y": MetricInfo("Reps over three years in post", "percent"),
    # exact plan properties judged by the guardrails
    "base_share": MetricInfo("Base share of on-target pay", "percent"),
    "quota_to_ote": MetricInfo("Quota / on-target earnings", "ratio"),
}

#: display precision caps: decimals of a scaled money value's three significant digits, percent, ratio, index
_CAP = {"percent": 1, "ratio": 2, "index": 2, "count": 0}


def info(metric: str) -> MetricInfo:
    """The :class:`MetricInfo` of a metric id; an unknown id raises ``KeyError`` naming the known ones."""
    try:
        return CATALOGUE[metric]
    except KeyError:
        raise KeyError(f"metric '{metric}' has no display entry; known: {', '.join(CATALOGUE)}") from None


def label(metric: str) -> str:
    """Display name of a metric id (``label("share_120") == "Reps at 120%+ of quota"``); unknown ids are returned as given."""
    return CATALOGUE[metric].label if metric in CATALOGUE else str(metric)


def unit(metric: str) -> str:
    """Unit of a metric id, one of :data:`UNITS` (``"ratio"`` for an unknown id)."""
    return CATALOGUE[metric].unit if metric in CATALOGUE else "ratio"


def is_diagnostic(metric: str) -> bool:
    """Whether a metric is a model diagnostic (kept out of main tables)."""
    return metric in CATALOGUE and CATALOGUE[metric].diagnostic


def _unit_of(metric: str | None, unit_: str | None) -> str:
    if unit_ is not None:
        if unit_ not in UNITS:
            raise ValueError(f"unit '{unit_}': expected one of {', '.join(UNITS)}")
        return unit_
    return unit(metric) if metric else "ratio"


def money_scale(values: Iterable[float]) -> tuple[float, str]:
    """One scale for a set of money values: ``(1e6, "M")``, ``(1e3, "k")`` or ``(1.0, "")``.

    Chosen from the largest finite magnitude: M from a million, k from ten
    thousand (so 9,850 stays whole), else none.
    """
    mags = [abs(float(v)) for v in values if v is not None and math.isfinite(float(v))]
    top = max(mags, default=0.0)
    if top >= 1e6:
        return 1e6, "M"
    if top >= 1e4:
        return 1e3, "k"
    return 1.0, ""


def row_scales(frame: Any, value: str, by: str | Sequence[str] = "metric") -> dict[Any, tuple[float, str]]:
    """One money scale per row of a text table: :func:`money_scale` of ``frame[value]`` per ``by`` key.

    A row (a metric, for every plan or point of the table) then reads on one
    scale (``-305 k EUR`` beside ``+9.36 k EUR``, not ``+9,358 EUR``). Keys
    of non-money metrics get a scale too; :func:`fmt` ignores it for them.
    """
    return {k: money_scale(g[value].to_numpy(dtype=float)) for k, g in frame.groupby(by, sort=False)}


def cell_scale(value: float, scale: tuple[float, str] | None) -> tuple[float, str] | None:
    """The money scale of one cell of a row (or column) that reads on ``scale``.

    ``scale`` itself for a value from 1 of its unit on (a row on k reads
    ``9.36 k EUR`` beside ``-305 k EUR``), else the value's own scale
    (:func:`money_scale`): ``18.0 k EUR`` beside ``4.52 M EUR``, not
    ``0.0180 M EUR``. HTML tables (:func:`style_table`) use it for every
    money cell; exactly zero and values that are not finite keep ``scale``.
    """
    x = float(value)
    if scale is None or not math.isfinite(x) or x == 0 or abs(x) >= scale[0]:
        return scale
    return money_scale([x])


def _places(x: float, se: float, cap: int) -> int:
    """Decimals the SE allows (:func:`simlib.format.decimals`), at most ``cap``."""
    d = decimals(x, se)
    return cap if d is None else min(d, cap)


def _change_places(x: float, se: float, cap: int, signed: bool) -> int:
    """Decimals of a non-money value; a clear change that would round to zero gets up to two more, as its SE allows.

    A paired difference can be clearly non-zero and still round to ``0.00``
    at the usual decimals (Gini +0.003 ± 0.001); written so, it reads as "no
    change" beside the star that says the CI excludes zero.
    """
    places = _places(x, se, cap)
    if signed and abs(x) > Z95 * se and round(x, places) == 0:  # the 95% CI excludes 0
        d = decimals(x, se)
        if d is None:  # an exact change (no Monte Carlo error): two significant digits, if they fit in cap + 2
            d = 1 - math.floor(math.log10(abs(x)))
            d = d if round(x, min(d, cap + 2)) != 0 else places
        places = max(places, min(d, cap + 2))
    return places


def _money_cap(scaled: float) -> int:
    """Decimals giving three significant digits of a scaled money value (none from 100 on, at most four).

    A value below 1 on its table's scale (``0.0180 M EUR`` in a row of
    millions) keeps its three digits rather than reading ``0.02``.
    """
    a = abs(scaled)
    if a >= 1 or a == 0:
        return 0 if a >= 100 or a == 0 else (1 if a >= 10 else 2)
    return min(4, 2 - math.floor(math.log10(a)))


def _number(x: float, places: int, signed: bool) -> str:
    if not math.isfinite(x):
        return "n/a"
    r = round(x, places)
    if r == 0:
        r = 0.0  # no "-0.0" or "+0.0"
    return f"{r:{'+' if signed and r else ''},.{places}f}"


def fmt_value(value: float, metric: str | None = None, currency: str = "EUR", *, unit_: str | None = None,
              se: float = 0.0, signed: bool = False, scale: tuple[float, str] | None = None) -> str:
    """A value alone, in its unit: ``"1.80 M EUR"``, ``"19.5%"``, ``"+1.2 pp"``, ``"2.45"``.

    Parameters
    ----------
    value : float
    metric : str, optional
        Metric id (its unit from :data:`CATALOGUE`).
    currency : str
        Currency code written after money.
    unit_ : str, optional
        A unit from :data:`UNITS` instead of the metric's.
    se : float
        Standard error: no more decimals than it allows.
    signed : bool
        A change: ``+`` before positive values, percent changes in percentage points.
    scale : (divisor, suffix), optional
        Money scale (:func:`money_scale`); default chosen for this value.
    """
    u, x, se = _unit_of(metric, unit_), float(value), abs(float(se)) if se is not None else 0.0
    if not math.isfinite(x):  # with why, where the metric says (the last month's share of a plan paid monthly)
        why = CATALOGUE[metric].na if metric in CATALOGUE else ""
        return f"n/a ({why})" if why else "n/a"
    if u in ("money", "local"):  # money in a role's own currency has no code (it is not the table's currency)
        div, suf = _value_scale(x, u, scale)
        # no finer than the error bar's scale (:func:`half_width`): "-6.0 k EUR ± 3.0 k", not "-6,008 EUR ± 3.0 k"
        h = Z95 * se if math.isfinite(se) else 0.0
        if x != 0 and h >= 1e3 and div < (1e6 if h >= 1e6 else 1e3):
            div, suf = (1e6, "M") if h >= 1e6 else (1e3, "k")
        places = _places(x / div, se / div, _money_cap(x / div))
        code = currency if u == "money" else ""
        return f"{_number(x / div, places, signed)} {suf + ' ' if suf else ''}{code}".strip()
    if u == "percent":
        text = _number(100 * x, _change_places(100 * x, 100 * se, _CAP["percent"], signed), signed)
        return f"{text} pp" if signed else f"{text}%"
    return _number(x, _change_places(x, se, _CAP[u], signed), signed)


def _value_scale(x: float, u: str, scale: tuple[float, str] | None) -> tuple[float, str]:
    """The scale a money value is written on: ``scale`` if given (money, not exactly 0: that reads "0 EUR"), else its own."""
    return (scale if u == "money" and x != 0 else None) or money_scale([x])


def half_width(se: float, metric: str | None = None, *, unit_: str | None = None, places: int | None = None,
               beside: tuple[float, str] | None = None) -> str:
    """The 95% CI half-width ``Z95 * se`` in the metric's unit: ``"24 k"``, ``"0.1"``.

    Money is written with two significant digits on its own k / M scale,
    without the currency; other units to ``places`` decimals (default two
    significant digits), percent in points. ``beside``: the scale of the
    money value it stands beside; below 1,000 beside a value in k or M it
    is written in k (``"18.0 k EUR ± 0.59 k"``, never a bare ``"± 588"``
    that reads as thousands). ``"<0.1"`` when it rounds to zero, ``"n/a"``
    for a missing or infinite SE.
    """
    u = _unit_of(metric, unit_)
    se = float(se) if se is not None else float("nan")
    if not math.isfinite(se):
        return "n/a"
    h = Z95 * abs(se) * (100 if u == "percent" else 1)
    if h == 0:
        return "0"
    mon = u in ("money", "local")
    div, suf = (1e6, "M") if mon and h >= 1e6 else ((1e3, "k") if mon and h >= 1e3 else (1.0, ""))
    if mon and not suf and beside is not None and beside[1]:
        div, suf = 1e3, "k"
    if mon or places is None:
        places = max(0, 1 - math.floor(math.log10(h / div)))
    text = _number(h / div, places, False)
    if float(text.replace(",", "")) == 0:
        return f"<{10 ** -places:.{places}f}"
    return f"{text} {suf}" if suf else text


#: percent metrics that count reps or trials: a share of them that is 0 (or 1) in every trial is a count, not an
#: estimate with an error bar, and reads so (:func:`fmt` with ``trials``)
COUNTED_SHARES = frozenset({"share_at_quota", "share_120", "share_capped", "over_budget",
                            "give_up_share", "coast_share",  # reps easing off / coasting (behaviour diagnostics)
                            "turnover_rate", "regretted_turnover",  # leavers / seats (several years)
                            "tenure_under_1y", "tenure_1_3y", "tenure_over_3y"})  # reps at year end


def fmt(value: float, se: float | None, metric: str | None = None, currency: str = "EUR", *, unit_: str | None = None,
        signed: bool = False, scale: tuple[float, str] | None = None, trials: int | None = None) -> str:
    """An estimate with its 95% CI half-width: ``"+1.80 M EUR ± 24 k"``, ``"19.5% ± 0.1"``.

    ``se`` None or 0 writes the value alone (an exact figure). A counted
    share (:data:`COUNTED_SHARES`) with SE 0 that is none or all, given the
    ``trials`` it was counted over, says so: ``"0.0% (in none of 1,000
    trials)"`` (no rep hit a cap in any trial), ``"100.0% (in all 1,000
    trials)"``. Other arguments as for :func:`fmt_value`.
    """
    text = fmt_value(value, metric, currency, unit_=unit_, se=se or 0.0, signed=signed, scale=scale)
    if se is None or not math.isfinite(float(value)) or float(se) == 0:
        if trials and se is not None and not signed and metric in COUNTED_SHARES and float(value) in (0.0, 1.0):
            return f"{text} (in {'none of' if float(value) == 0 else 'all'} {int(trials):,} trials)"
        return text
    u = _unit_of(metric, unit_)
    x = 100 * float(value) if u == "percent" else float(value)
    money = u in ("money", "local")
    places = None if money else _change_places(x, 100 * float(se) if u == "percent" else float(se), _CAP[u], signed)
    beside = _value_scale(float(value), u, scale) if money else None
    return f"{text} ± {half_width(se, metric, unit_=unit_, places=places, beside=beside)}"


def readable(name: Any) -> str:
    """A plan, role or other id of a user's scenario as words: ``readable("harder_target") == "harder target"``.

    The one place ids become display names (the scenario has no display-name
    fields): underscores and runs of white space read as one space, the case
    is kept (``"Q4_SPIFF"`` reads ``"Q4 SPIFF"``). Not escaped: HTML goes
    through the autoescaped templates or :func:`style_table`.
    """
    return " ".join(str(name).replace("_", " ").split()) or str(name)


def fmt_relative(value: float, se: float | None = None) -> str:
    """A relative change (a fraction of a level) in percent with its 95% CI half-width: ``"+17.3% ± 0.4"``.

    Not percentage points: ``0.173`` is a rise of 17.3% of the level. Decimals
    as for a signed percent (:func:`fmt_value`: one, more for a clear change
    that would round to zero); ``"n/a"`` when the value is not finite.
    """
    x = float(value)
    if not math.isfinite(x):
        return "n/a"
    s = 0.0 if se is None or not math.isfinite(float(se)) else abs(float(se))
    text = _number(100 * x, _change_places(100 * x, 100 * s, _CAP["percent"], True), True) + "%"
    if not s:
        return text
    return f"{text} ± {half_width(s, unit_='percent', places=_change_places(100 * x, 100 * s, _CAP['percent'], True))}"


def plain(value: float, digits: int = 3) -> str:
    """A number without a unit and without exponent: whole with separators from 1,000, else ``digits`` significant.

    ``plain(1032690.4) == "1,032,690"``, ``plain(0.000123456) == "0.000123"``, ``plain(2.5) == "2.50"``.
    """
    x = float(value)
    if not math.isfinite(x):
        return "n/a"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if x == 0:
        return "0"
    return f"{x:.{max(0, digits - 1 - math.floor(math.log10(abs(x))))}f}"


#: Excel number format of each unit (``{cur}`` is replaced by the currency code)
_EXCEL = {"money": '#,##0 "{cur}"', "percent": "0.0%", "count": "#,##0", "ratio": "0.00", "index": "0.00",
          "local": "#,##0"}


def number_format(metric: str, currency: str = "EUR") -> str:
    """The Excel number format of a metric: ``'#,##0 "EUR"'`` (money), ``"0.0%"``, ``"#,##0"``, ``"0.00"``.

    Values stay numeric in the cell (fractions for percent, money in units).
    """
    cur = str(currency).replace('"', "")
    return _EXCEL[unit(metric)].replace("{cur}", cur)


def style_table(df: Any, metrics: Sequence[str] | Mapping[Any, str] | None = None, *, se: Any = None,
                currency: str = "EUR", signed: bool = False, caption: str = "", index_labels: bool = True,
                trials: int | None = None) -> Any:
    """A pandas ``Styler`` showing a numeric table in readable units; the data stay numbers.

    Parameters
    ----------
    df : DataFrame
        Numeric cells. Rows are metrics (the index holds metric ids) unless
        ``metrics`` maps columns to metric ids.
    metrics : list or dict, optional
        Row metric ids (default: the index), or a dict column -> metric id
        (columns not in it are left as they are).
    se : DataFrame, optional
        Standard errors of the same shape: cells then read ``value ± half-width``,
        each with the SE at its own position (rows by position; columns by
        position, or by label when ``metrics`` maps columns).
    currency : str
        Currency code for money.
    signed : bool
        The cells are changes (``+``, percentage points).
    caption : str
        Table caption (escaped).
    index_labels : bool
        Show row metric ids as display names.
    trials : int, optional
        Trials the values were counted over: a counted share of none or all
        says so (:func:`fmt`).

    Returns
    -------
    pandas.io.formats.style.Styler
        Money on one k / M scale per row (per column when ``metrics`` maps
        columns), as the terminal tables (:func:`row_scales`), a cell below
        1 on it on its own scale (:func:`cell_scale`: ``18.0 k EUR`` beside
        ``4.52 M EUR``); labels HTML-escaped.
    """
    import pandas as pd

    by_col = isinstance(metrics, Mapping)
    rows = list(metrics) if metrics is not None and not by_col else list(df.index)
    if by_col:
        texts = pd.DataFrame({c: _cell_texts(m, df[c], None if se is None else se[c], currency, signed,
                                             money_scale(df[c].to_numpy(dtype=float)) if unit(m) == "money" else None,
                                             trials)
                              for c, m in metrics.items() if c in df}, index=df.index)
    else:
        long = pd.DataFrame({"row": np.repeat(np.arange(len(df.index)), df.shape[1]),
                             "value": df.to_numpy(dtype=float).ravel()})
        scales = row_scales(long, "value", "row") if len(long) else {}
        texts = pd.DataFrame([_cell_texts(rows[i], df.iloc[i], None if se is None else se.iloc[i], currency, signed,
                                          scales.get(i) if unit(rows[i]) == "money" else None, trials)
                              for i in range(len(df.index))], index=df.index, columns=df.columns)
    st = show_texts(df.style, texts)
    if index_labels and not by_col:
        st = st.format_index(lambda m: html.escape(label(m)), axis=0)
    else:
        st = st.format_index(lambda v: html.escape(str(v)), axis=0)
    st = st.format_index(lambda v: html.escape(str(v)), axis=1)
    if caption:
        st = st.set_caption(html.escape(caption))
    return st


def _cell_texts(metric: str, values: Any, ses: Any, currency: str, signed: bool,
                scale: tuple[float, str] | None, trials: int | None = None) -> list[str]:
    """The display texts of cells of one metric, in order: ``value ± half-width`` with each cell's own SE (``ses``
    in the same order), money on ``scale`` (the row's or column's) or, below 1 on it, its own (:func:`cell_scale`);
    ``""`` for a missing value."""
    errs = [None] * len(values) if ses is None else list(ses)
    return ["" if v is None or v != v else fmt(v, e, metric, currency, signed=signed, scale=cell_scale(v, scale),
                                               trials=trials)
            for v, e in zip(values, errs, strict=True)]


def show_texts(st: Any, texts: Any) -> Any:
    """Show ``texts`` in cells of the ``Styler`` ``st`` by position; the data stay numbers.

    ``texts`` is a DataFrame of display strings with the rows of ``st.data``
    (in the same order) and some of its columns; each cell of those columns
    shows the text of its own position, so two cells with equal values can
    read differently (the same value with different standard errors). One
    formatter per column looks texts up by value; only cells whose value is
    shown differently elsewhere in their column get a formatter of their own.
    """
    import pandas as pd

    for c in texts.columns:
        shown: dict[Any, str] = {}
        clashes: list[int] = []
        for i, (v, t) in enumerate(zip(st.data[c], texts[c], strict=True)):
            key = _cell_key(v)
            if shown.setdefault(key, t) != t:
                clashes.append(i)
        st = st.format(lambda v, shown=shown: shown.get(_cell_key(v), str(v)), subset=[c])
        for i in clashes:
            st = st.format(lambda _v, t=texts[c].iloc[i]: t, subset=pd.IndexSlice[st.data.index[[i]], [c]])
    return st


def _cell_key(v: Any) -> Any:
    """A cell's value as a key of its text: every missing value (None, NaN) is one key."""
    return None if v is None or v != v else v


def axis_label(metric: str, currency: str = "EUR", *, change: bool = False) -> str:
    """An axis title: the metric's name and unit, e.g. ``"Profit (EUR per year)"``, ``"Reps at quota (%)"``."""
    u = unit(metric)
    what = {"money": f"{currency} per year", "percent": "percentage points" if change else "%"}.get(u)
    return f"{label(metric)} ({what})" if what else label(metric)


def format_axis(ax: Any, metric: str | None = None, currency: str = "EUR", *, unit_: str | None = None,
                axis: str = "y", signed: bool = False) -> None:
    """Format a matplotlib axis in a metric's unit: money as ``1.8 M EUR``, percent as ``19.5%``, no offset."""
    from matplotlib.ticker import FuncFormatter

    u = _unit_of(metric, unit_)
    target = ax.yaxis if axis == "y" else ax.xaxis
    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    sign = "+" if signed else ""
    div, suf, mult, tail = 1.0, "", 1.0, ""
    if u == "money":
        div, suf = money_scale([lo, hi])
        note = f"({suf + ' ' if suf else ''}{currency})"
    elif u == "percent":
        mult, tail = 100.0, "" if signed else "%"
        note = "(percentage points)" if signed else ""
    else:
        note = ""

    def tick(v, _pos=None):
        locs = sorted(target.get_majorticklocs())
        step = min((b - a for a, b in zip(locs, locs[1:], strict=False) if b > a), default=abs(v) or 1.0)
        places = _tick_places(step * mult / div)
        x = round(v * mult / div, places)
        return f"{x:{sign if x else ''},.{places}f}{tail}"

    target.set_major_formatter(FuncFormatter(tick))
    if note:
        name = ax.get_ylabel() if axis == "y" else ax.get_xlabel()
        (ax.set_ylabel if axis == "y" else ax.set_xlabel)(" ".join(x for x in (name, note) if x))


def _tick_places(step: float) -> int:
    """Decimals that write a tick ``step`` exactly (2.5 needs one), 0 to 3."""
    if not math.isfinite(step) or step <= 0:
        return 0
    return next((p for p in range(4) if abs(round(step, p) - step) <= 1e-6 * step), 3)
