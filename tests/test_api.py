"""The public API re-exported from ``simlib``."""

import inspect

import pandas as pd
import pytest
from conftest import DEFAULT

import simlib


@pytest.mark.parametrize("name", sorted(simlib._LAZY))
def test_lazy_exports_resolve_to_public_functions(name):
    obj = getattr(simlib, name)
    assert callable(obj)
    assert obj.__module__ == f"simlib.{simlib._LAZY[name]}"
    assert name in simlib.__all__


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        simlib.nope  # noqa: B018


def test_simulate_compare_summarise_return_tidy_frames(tmp_path):
    scen = simlib.load_scenario(DEFAULT)
    res = simlib.simulate(scen, ["current", "harder_target"], trials=16, rng=5, behaviour="none")
    assert isinstance(res, simlib.SimulationResult)
    s = res.summary()
    assert {"plan", "group", "metric", "mean", "se", "ci_low", "ci_high", "n"} <= set(s.columns)
    assert set(s["group"]) == set(scen.roles) | {"total"}
    d = simlib.compare(scen, ["current", "harder_target"], trials=16, rng=5, behaviour="none")
    pd.testing.assert_frame_equal(d, res.differences())
    table = simlib.summarise(res, group="telesales")
    assert list(table.columns[:2]) == ["current", "harder_target"]
    assert res.provenance["scenario_sha256"] == scen.sha256


def test_simulate_accepts_a_path_and_keyword_only_options():
    params = inspect.signature(simlib.simulate).parameters
    assert all(params[n].kind is inspect.Parameter.KEYWORD_ONLY for n in ("trials", "rng", "behaviour", "executor"))
    res = simlib.simulate(str(DEFAULT), ["current"], trials=8, rng=1, behaviour="none")
    assert res.plans == ["current"]


def test_summarise_reads_as_run_prints_and_keeps_the_raw_table():
    """Display names, money in the scenario's currency on k / M, shares in %; ``raw=True`` keeps metric ids."""
    import simlib.present as present

    scen = simlib.load_scenario(DEFAULT)
    res = simlib.simulate(scen, ["current", "harder_target"], trials=16, rng=5, behaviour="none")
    table = simlib.summarise(res)
    assert list(table.columns) == ["current", "harder_target", "Δ harder_target"]
    assert present.label("comp_cost_of_sales") in table.index and "comp_cost_of_sales" not in table.index
    profit = table.loc[present.label("profit"), "current"]
    assert f" M {scen.currency} ± " in profit, profit  # e.g. 21.8 M EUR ± 680 k
    assert table.loc[present.label("share_at_quota"), "current"].split(" ± ")[0].endswith("%")
    assert table.loc[present.label("share_at_quota"), "Δ harder_target"].split(" ± ")[0].endswith(" pp")
    assert " M GBP" in simlib.summarise(res, currency="GBP").loc[present.label("revenue"), "current"]
    raw = simlib.summarise(res, raw=True)
    assert "comp_cost_of_sales" in raw.index and list(raw.columns)[-1] == "harder_target - current"


def test_summarise_reads_an_ensemble_as_run_prints_it():
    """An ensemble over behavioural draws summarises as ``run --behaviour-draws`` prints it (display names, the
    scenario's currency, ``model ±`` and ``>0`` columns); ``raw=True`` keeps its table by metric id."""
    import simlib.present as present

    scen = simlib.load_scenario(DEFAULT)
    ens = simlib.simulate_ensemble(scen, ["current", "harder_target"], behaviour_draws=2, trials=8, rng=3)
    table = simlib.summarise(ens)
    assert list(table.columns) == ["current", "current model ±", "harder_target", "harder_target model ±",
                                   "Δ harder_target", "Δ harder_target model ±", "Δ harder_target >0"]
    assert f" {scen.currency} ± " in table.loc[present.label("profit"), "current"]
    assert table.loc[present.label("profit"), "Δ harder_target >0"] in {"0/2", "1/2", "2/2"}
    assert "profit" in simlib.summarise(ens, raw=True).index
