"""The presentation layer: every metric has a name and unit; money, percent and ratios read as people write them."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from conftest import DEFAULT

import simlib
from simlib import present as P
from simlib.design import guardrails as gr
from simlib.engine.results import TAIL_METRICS
from simlib.model.metrics import METRICS

EXPONENT = re.compile(r"\d[eE][+-]?\d")


@pytest.fixture(scope="module")
def emitted():
    """Every metric id a run (dynamic behaviour), its tails and the guardrails emit."""
    scen = simlib.load_scenario(DEFAULT)
    res = simlib.simulate(scen, trials=4, rng=0, behaviour="dynamic")
    ids = set(res.summary()["metric"]) | set(res.differences()["metric"])
    ids |= set(gr.guardrail_table(res.summary())["metric"]) | set(gr.plan_rules(scen, res.plans)["metric"])
    return ids | set(METRICS) | set(TAIL_METRICS)


def test_every_metric_the_engine_emits_has_a_display_name_and_unit(emitted):
    missing = sorted(m for m in emitted if m not in P.CATALOGUE)
    assert missing == [], f"add these metrics to simlib.present.CATALOGUE: {missing}"
    for m in emitted:
        assert P.unit(m) in P.UNITS
        assert P.label(m) and P.label(m) != m and "_" not in P.label(m)
        assert P.number_format(m)  # an Excel format for each


def test_units_follow_the_engine_units():
    for m, (_, u) in METRICS.items():
        if u == "money":
            assert P.unit(m) == "money", m
        elif u in ("fraction", "probability", "fraction of quota"):
            assert P.unit(m) == "percent", m
        elif u == "count":
            assert P.unit(m) == "count", m
        elif u == "local money":  # a role's cost in its own currency
            assert P.unit(m) == "local", m
        else:
            assert P.unit(m) in ("ratio", "index"), m


@pytest.mark.parametrize("args, kw, text", [
    ((1.8e6, 12e3, "profit", "EUR"), {"signed": True}, "+1.80 M EUR ± 24 k"),
    ((0.19516, 0.00045, "comp_cost_of_sales"), {}, "19.5% ± 0.1"),
    ((0.012, 0.003, "share_at_quota"), {"signed": True}, "+1.2 pp ± 0.6"),
    ((730_600.0, 1234.0, "incentive_cost", "USD"), {}, "731 k USD ± 2.4 k"),
    ((36_044_036.1213, 0.0, "revenue", "EUR"), {}, "36.0 M EUR"),
    ((9850.0, 30.0, "revenue", "GBP"), {}, "9,850 GBP ± 59"),
    ((2.4567, 0.0123, "leverage"), {}, "2.46 ± 0.02"),
    ((-23_000.0, 5000.0, "profit"), {"signed": True}, "-23.0 k EUR ± 9.8 k"),
    ((1.0, 0.0, "help_given"), {}, "1.00"),
    ((0.5, float("nan"), "share_120"), {}, "50.0% ± n/a"),
])
def test_fmt_reads_as_people_write_numbers(args, kw, text):
    assert P.fmt(*args, **kw) == text


@pytest.mark.parametrize("args, text", [
    ((0.0032, 0.00005, "gini_pay"), "+0.0032 ± 0.0001"),          # clearly up, but 0.00 at two decimals
    ((-0.00016, 0.00003, "give_up_share"), "-0.016 pp ± 0.006"),  # a share's change in points, the same
    ((0.003, 0.01, "gini_pay"), "0.00 ± 0.02"),                   # not distinguishable from 0: usual decimals
    ((0.3, 0.01, "gini_pay"), "+0.30 ± 0.02"),                    # visible at usual decimals: unchanged
])
def test_a_clear_change_never_reads_as_zero(args, text):
    # beside the star that says "the 95% CI excludes 0", a change written "0.00" would say the opposite
    assert P.fmt(*args, signed=True) == text
    assert P.fmt(*args) == P.fmt(*args, signed=False)  # levels keep their usual decimals


def test_no_scientific_notation_at_any_size():
    for x in (1e-9, 3.3e-5, 0.5, 7.306e5, 3.6e7, 8.9e9, 1.2e12):
        for m in ("revenue", "share_120", "leverage", "effort_index"):
            for se in (0.0, x * 1e-3, x * 0.5):
                assert not EXPONENT.search(P.fmt(x, se, m)), (x, se, m, P.fmt(x, se, m))
                assert not EXPONENT.search(P.fmt(-x, se, m, signed=True))


def test_money_scale_is_chosen_per_table():
    assert P.money_scale([9_850.0, 12.0]) == (1.0, "")
    assert P.money_scale([730_600.0, 15_000.0]) == (1e3, "k")
    assert P.money_scale([3.6e7, 5.0, float("nan")]) == (1e6, "M")
    # one scale for the whole table: small values in a table of millions show in M
    # with their three significant digits (-12,100 is not "-0.01 M"); exactly zero has no scale
    assert P.fmt(250_000.0, 0.0, "profit", scale=(1e6, "M")) == "0.250 M EUR"
    assert P.fmt(-12_100.0, 0.0, "profit", scale=(1e6, "M"), signed=True) == "-0.0121 M EUR"
    assert P.fmt(0.0, 0.0, "profit", scale=(1e3, "k")) == "0 EUR"


def test_terminal_tables_put_each_row_on_one_money_scale():
    import pandas as pd

    frame = pd.DataFrame({"metric": ["profit", "profit", "share_at_quota", "share_at_quota"],
                          "diff": [-305_000.0, 9_358.0, 0.1, 0.2]})
    scales = P.row_scales(frame, "diff")
    assert scales["profit"] == (1e3, "k")
    cells = [P.fmt(v, 1000.0, "profit", signed=True, scale=scales["profit"]) for v in frame["diff"][:2]]
    assert cells == ["-305 k EUR ± 2.0 k", "+9.4 k EUR ± 2.0 k"]


def test_report_tables_put_each_money_row_on_its_own_scale_with_the_error_bar_on_it():
    import types

    import simlib.report.summary as rs

    # a report's levels table: a row of millions and a row of thousands (a plan without the award has 0)
    rows = [("current", "incentive_cost", 4.52e6, 12_000.0), ("team", "incentive_cost", 4.61e6, 12_500.0),
            ("current", "recognition_value", 18_000.0, 300.0), ("team", "recognition_value", 0.0, 0.0),
            ("current", "share_at_quota", 0.468, 0.0025), ("team", "share_at_quota", 0.504, 0.0025)]
    frame = pd.DataFrame([dict(plan=p, group="total", metric=m, mean=v, se=e) for p, m, v, e in rows])
    res = types.SimpleNamespace(summary=lambda: frame, plans=["current", "team"])
    page = rs.levels_table(res, currency="USD").to_html()
    cells = re.findall(r"<td [^>]*>([^<]*)</td>", page)
    # each row on its own scale; the error bar beside a k value in k, not a bare "± 588" read as thousands
    assert cells[:2] == ["4.52 M USD ± 24 k", "4.61 M USD ± 24 k"]
    assert cells[2:4] == ["46.8% ± 0.5", "50.4% ± 0.5"]
    assert cells[4:] == ["18.0 k USD ± 0.59 k", "0 USD"]
    assert not re.search(r"\b0\.0\d* [kM]", page)  # no "0.0180 M" anywhere
    # a cell far below its row's scale reads on its own (a change of +18 k beside +1.32 M), as the answer's sentences do
    assert P.cell_scale(18_000.0, (1e6, "M")) == (1e3, "k") and P.cell_scale(2.63e5, (1e6, "M")) == (1e3, "k")
    assert P.cell_scale(1.32e6, (1e6, "M")) == (1e6, "M") and P.cell_scale(9_358.0, (1e3, "k")) == (1e3, "k")
    d = pd.DataFrame({"a vs b": [1.32e6, 0.45], "c vs b": [2.63e5, 0.01]}, index=["profit", "share_at_quota"])
    page = P.style_table(d, se=d * 0.01, signed=True).to_html()
    assert "+1.32 M EUR ± 26 k" in page and "+263 k EUR ± 5.2 k" in page
    assert P.style_table(d, se=d * 0.01, signed=True).data.equals(d)  # the numbers stay numbers (CSV, XLSX unchanged)


def test_number_formats_for_spreadsheets():
    assert P.number_format("profit", "USD") == '#,##0 "USD"'
    assert P.number_format("share_at_quota") == "0.0%"
    assert P.number_format("leverage") == "0.00"


def test_style_table_keeps_numbers_and_formats_display():
    df = pd.DataFrame({"current": [3.6e7, 0.195, 2.4], "team": [3.7e7, 0.19, 2.5]},
                      index=["revenue", "comp_cost_of_sales", "leverage"])
    st = P.style_table(df, se=df * 1e-3, currency="USD", caption="<b>levels</b>")
    assert st.data.equals(df)  # numbers stay numbers
    page = st.to_html()
    assert "36.0 M USD ± 71 k" in page and "19.5% ± 0.04" not in page and "19.5% ±" in page
    assert "Comp cost of sales" in page and "comp_cost_of_sales" not in page.split("<tbody>")[1]
    assert "&lt;b&gt;levels&lt;/b&gt;" in page
    # (the Styler's random element ids, such as T_466e8, are not numbers)
    assert not EXPONENT.search(re.sub(r'id="[^"]*"', "", page.split("<tbody>")[1]))


def test_format_axis_writes_currency_and_percent_without_offset():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.subplots()
    ax.plot([0, 1], [1.2e6, 3.4e6])
    ax.set_ylabel("profit")
    P.format_axis(ax, "profit", "EUR")
    labels = [ax.yaxis.get_major_formatter()(v) for v in ax.get_yticks()]
    assert labels and all(re.fullmatch(r"-?[\d.,]+", t) for t in labels), labels
    assert ax.get_ylabel() == "profit (M EUR)"
    assert ax.yaxis.get_offset_text().get_text() == ""
    ax.set_ylim(0.1, 0.3)
    P.format_axis(ax, "share_120")
    assert ax.yaxis.get_major_formatter()(0.195) == "19.5%"


@pytest.mark.parametrize("name, text", [("harder_target", "harder target"), ("key_account", "key account"),
                                        ("Q4_SPIFF", "Q4 SPIFF"), ("current", "current"), ("a__b  c", "a b c"),
                                        ("R&D <x>", "R&D <x>")])
def test_readable_writes_plan_and_role_ids_as_words(name, text):
    # the one place ids become display names; escaping is the templates' and style_table's job
    assert P.readable(name) == text


@pytest.mark.parametrize("args, text", [((0.1732, 0.002), "+17.3% ± 0.4"), ((-0.05, 0.01), "-5.0% ± 2.0"),
                                        ((0.0, 0.0), "0.0%"), ((0.05, None), "+5.0%"),
                                        ((0.0004, 0.0001), "+0.040% ± 0.020"), ((float("nan"), 0.1), "n/a")])
def test_fmt_relative_writes_a_change_in_percent_of_its_level_with_its_ci(args, text):
    # percent of a level (not percentage points), signed, and a clear small change never reads as zero
    assert P.fmt_relative(*args) == text


def test_style_table_shows_each_cells_own_se_when_values_are_equal():
    """Two cells with exactly the same value but different SEs each read their own ± (rows of metrics and columns)."""
    d = pd.DataFrame({"a": [1.5e6, 0.25], "b": [1.5e6, 0.25]}, index=["profit", "share_at_quota"])
    se = pd.DataFrame({"a": [1e4, 0.001], "b": [4e4, 0.004]}, index=d.index)
    cells = re.findall(r"<td [^>]*>([^<]*)</td>", P.style_table(d, se=se).to_html())
    assert cells == ["1.50 M EUR ± 20 k", "1.50 M EUR ± 78 k", "25.0% ± 0.2", "25.0% ± 0.8"]
    reps = pd.DataFrame({"change": [500.0, 500.0, 20.0]}, index=["r1", "r2", "r3"])
    ses = pd.DataFrame({"change": [10.0, 100.0, 1.0]}, index=reps.index)
    cells = re.findall(r"<td [^>]*>([^<]*)</td>", P.style_table(reps, {"change": "incentive_cost"}, se=ses,
                                                                  signed=True).to_html())
    assert cells == ["+500 EUR ± 20", "+500 EUR ± 196", "+20.0 EUR ± 2.0"]


@pytest.mark.parametrize("args, text", [
    # a report cell read "-6,008 EUR ± 3.0 k": four digits on a number known to ± 50%; on the error bar's scale it
    # keeps the digits its SE allows
    ((-6008.0, 1530.0, "discount_cost"), "-6.0 k EUR ± 3.0 k"),
    ((668.0, 1270.0, "discount_cost"), "+0.7 k EUR ± 2.5 k"),
    ((-6008.0, 1530.0, "discount_cost", "EUR", (1e6, "M")), "-0.0060 M EUR ± 3.0 k"),  # a terminal row on M
    ((9850.0, 30.0, "revenue"), "+9,850 EUR ± 59"),                                     # SE below 1,000: whole
])
def test_money_known_to_thousands_is_not_written_to_the_unit(args, text):
    value, se, metric, *rest = args
    scale = rest[1] if len(rest) > 1 else None
    assert P.fmt(value, se, metric, signed=True, scale=scale) == text
    d = pd.DataFrame({"a vs b": [168_000.0, 0.0], "c vs b": [-6008.0, 0.0]}, index=["discount_cost", "share_120"])
    page = P.style_table(d, se=pd.DataFrame({"a vs b": [4000.0, 0.0], "c vs b": [1530.0, 0.0]}, index=d.index),
                         signed=True).to_html()
    assert "-6.0 k EUR ± 3.0 k" in page and "6,008" not in page


@pytest.mark.parametrize("x, text", [(0.002782, "+0.0028"), (-0.0004637, "-0.0005"), (0.04, "+0.04"),
                                     (1e-15, "0.00"), (0.0, "0.00")])
def test_an_exact_change_never_reads_as_zero(x, text):
    # `simlib run` printed "Help to teammates ... 0.00 *" for an exact change of +0.0028 (no Monte Carlo error):
    # "0.00" beside the star that says it is not zero
    assert P.fmt(x, 0.0, "help_given", signed=True) == text


def test_a_share_of_none_or_all_says_so_in_runs_table_and_the_reports(capsys):
    """"Reps who hit a cap" for channel (no cap in its plan) printed a bare "0.0%" beside shares carrying ±: a share
    that is 0 (or 1) in every trial has no Monte Carlo error to show, so it says what was counted instead:
    "0.0% (in none of 8 trials)", in `simlib run`'s table and in the report's levels table alike."""
    from simlib.cli import main
    from simlib.report.summary import levels_table

    assert P.fmt(0.0, 0.0, "share_capped", trials=8) == "0.0% (in none of 8 trials)"
    assert P.fmt(1.0, 0.0, "over_budget", trials=1000) == "100.0% (in all 1,000 trials)"
    assert P.fmt(0.0, 0.0, "share_capped") == "0.0%"  # not knowing the trials: as before
    assert P.fmt(0.25, 0.035, "share_capped", trials=8).startswith("25.0% ± ")  # an estimate keeps its ±
    assert P.fmt(0.0, 0.0, "attainment_p10", trials=8) == "0.0%"  # a percentile is no count of reps or trials
    assert P.fmt(0.0, 0.0, "share_capped", trials=8, signed=True) == "0.0 pp"  # an exact zero change

    assert main(["run", str(DEFAULT), "--trials", "8", "--seed", "1", "--behaviour", "none", "--plans", "current",
                 "--scheduler", "serial"]) == 0
    out = capsys.readouterr().out
    capped = [x for x in out.splitlines() if x.startswith("Reps who hit a cap")]
    assert any(x.rstrip().endswith("0.0% (in none of 8 trials)") for x in capped), capped  # channel
    assert any("±" in x for x in capped), capped  # key account, telesales, total

    res = simlib.simulate(simlib.load_scenario(DEFAULT), ["current"], trials=8, rng=1, behaviour="none")
    page = levels_table(res, group="channel", metrics=["share_at_quota", "share_capped"]).to_html()
    assert ">0.0% (in none of 8 trials)<" in page and "% ± " in page, page
