"""The explorer's widget logic without a browser: controls start at the plan's values, any moved control
takes effect, updates are debounced with a visible "computing" state, no comparison of a plan with itself."""

from __future__ import annotations

import time

import pytest
from conftest import DEFAULT

from simlib.report.explorer import AS_BASE, Explorer, ExplorerApp, controls_from_parameters
from simlib.scenario import load_scenario


@pytest.fixture(scope="module")
def explorer():
    return Explorer(load_scenario(DEFAULT), role="telesales", trials=24, seed=1, rep_trials=2, behaviour="none")


@pytest.fixture
def app(explorer):
    explorer.role = "telesales"
    return ExplorerApp(explorer, debounce=0)


def rp(plan, role):
    return plan["roles"][role]


def test_controls_start_at_the_plans_values(app, explorer):
    base = rp(explorer.scenario.plans["current"].model_dump(by_alias=True, mode="json"), "telesales")
    curve = next(c for c in base["components"] if c.get("kind", "curve") == "curve" and c.get("measure", "revenue") == "revenue")
    c = app.controls
    assert c["target_level"].value == pytest.approx(base["quota"].get("level", 1.0))
    assert c["threshold"].value == pytest.approx(curve["points"][0][0]) and c["threshold"].value != 0.5
    assert c["cap"].value == pytest.approx(curve["cap"]) and c["cap_rule"].value == "slider"
    assert c["commission_gate"].disabled  # telesales has no revenue commission
    assert app.plan_controls() == {k: AS_BASE for k in app.plan_controls()}
    # at the base plan nothing is compared with an identical copy of itself
    assert explorer.last["changed"] is False and "variant" not in explorer.last["table"].columns
    assert "move a control" in app.status.value


def revenue_curves(p):
    return [c for c in p["components"] if c.get("kind", "curve") == "curve" and c.get("measure", "revenue") == "revenue"]


@pytest.mark.parametrize("name, value, check", [
    ("cap", 3.0, lambda p, b: all(c.get("cap") == 3.0 for c in revenue_curves(p))),
    ("threshold", 0.6, lambda p, b: revenue_curves(p)[0]["points"][0][0] == 0.6),
    ("accelerator", 1.5, lambda p, b: revenue_curves(p)[0]["points"][-1][1] > revenue_curves(b)[0]["points"][-1][1]),
    ("target_level", 1.1, lambda p, b: p["quota"]["level"] == 1.1),
])
def test_moving_any_single_control_takes_effect(app, explorer, name, value, check):
    before = app.table.value
    app.controls[name].value = value  # as a user's move does; nothing else set first
    assert explorer.last["controls"][name] == value and explorer.last["changed"] is True
    base = rp(explorer.scenario.plans["current"].model_dump(by_alias=True, mode="json"), "telesales")
    assert check(rp(explorer.last["plan"], "telesales"), base)
    assert app.table.value != before and "variant" in explorer.last["table"].columns
    assert len(app.figures.children) == 4 and app.updates == 2
    app.controls[name].value = app.base[name]  # back at the base value: the base plan again
    assert explorer.last["controls"][name] == AS_BASE and explorer.last["changed"] is False


def test_uncapped_and_role_switch(app, explorer):
    app.controls["cap_rule"].value = "none"
    assert explorer.last["controls"]["cap"] is None
    app.controls["cap"].value = 3.5  # moving the cap slider means "capped at the slider"
    assert app.controls["cap_rule"].value == "slider" and explorer.last["controls"]["cap"] == 3.5
    app.controls["role"].value = "channel"  # commission-only: threshold and cap do not apply, the gate does
    assert explorer.last["role"] == "channel" and explorer.last["changed"] is False
    assert app.controls["threshold"].disabled and app.controls["cap"].disabled
    assert not app.controls["commission_gate"].disabled
    app.controls["commission_gate"].value = 0.5
    gates = rp(explorer.last["plan"], "channel")["gates"]
    assert gates[-1]["min_attainment"] == 0.5 and app.error == ""


def test_updates_are_debounced_with_a_computing_state(explorer):
    explorer.role = "telesales"
    app = ExplorerApp(explorer, debounce=0.3)
    n = app.updates
    for v in (1.02, 1.04, 1.06, 1.08):  # key presses in quick succession
        app.controls["target_level"].value = v
    assert "computing" in app.status.value and app.updates == n
    deadline = time.monotonic() + 60
    while app.updates == n and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    assert app.updates == n + 1  # one simulation, for the last value
    assert explorer.last["controls"]["target_level"] == 1.08 and "computing" not in app.status.value


def test_snapshot_parameters_and_provenance(explorer):
    ctl = controls_from_parameters(target_level=-1.0, threshold=-1.0, cap=0.0, accelerator=1.0)
    assert ctl["target_level"] == AS_BASE and ctl["threshold"] == AS_BASE and ctl["cap"] is None
    r = explorer.update(role="telesales", **ctl)
    assert r["changed"] and r["provenance"]["scenario_sha256"] == explorer.scenario.sha256
    assert r["provenance"]["explored_controls"] == {"cap": None}


def test_an_update_simulates_each_plan_once_and_keeps_the_base_plans_rep_view(explorer, monkeypatch):
    import simlib.engine.core as core

    real, seen = core.passes, []

    def counting(scenario, plans, worlds, model, quotas=None):
        for o in real(scenario, plans, worlds, model, quotas):
            seen.append((o.plan, o.role, o.pay.incentive.shape[0]))
            yield o

    monkeypatch.setattr(core, "passes", counting)
    assert len(explorer.update(role="telesales", target_level=1.1)["figures"]) == 4  # the base rep view drawn
    seen.clear()
    r = explorer.update(role="telesales", target_level=1.2)
    table_only = [t for q, role, t in seen if role == "telesales"]
    assert r["changed"] and len(r["figures"]) == 4  # the charts drawn now
    trials = {p: sum(t for q, role, t in seen if q == p and role == "telesales") for p in ("current", "explore")}
    # the base plan: the table's trials only (its rep view is kept); the variant: the table's trials and,
    # for the distribution charts, the first rep_trials of the same draws, drawn when the charts are looked at
    assert trials == {"current": explorer.trials, "explore": explorer.trials + explorer.rep_trials}
    assert sum(table_only) == 2 * explorer.trials
    seen.clear()
    again = explorer.update(role="telesales", target_level=1.2)  # same controls, same seed: same numbers
    assert again["table"].equals(r["table"])


def test_an_updates_charts_are_built_when_first_looked_at(explorer):
    """The table comes without drawing charts; the charts, once looked at, are four matplotlib Figures of the
    update's own data (the variant's lines beside the base plan's), the same objects when looked at again."""
    from matplotlib.figure import Figure

    r = explorer.update(role="telesales", target_level=1.15)
    figs = r["figures"]
    assert not figs.built
    assert len(figs) == 4 and figs.built and all(isinstance(f, Figure) for f in figs)
    assert list(r["figures"]) == list(figs)  # built once
    labels = [t.get_text() for ax in figs[0].axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert any("explore" in t for t in labels) and any("current" in t for t in labels)


def test_the_explorer_table_and_headline_read_in_units_with_the_currency():
    """The widget's and the snapshot's table: display names, money in the scenario's currency, shares in %,
    changes with their CI; no raw floats or exponents. The headline names the moved control and the change."""
    from simlib.report.explorer import Explorer, headline, readable_table

    app = Explorer(DEFAULT, role="telesales", trials=20, seed=0, behaviour="none")
    snap = app.update(target_level=1.1)
    text = readable_table(snap["table"], "EUR").to_string()
    assert "Revenue" in text and "M EUR" in text and "%" in text and " pp ± " in text
    assert "comp_cost_of_sales" not in text and "e+0" not in text and "e-0" not in text
    line = headline(snap, "EUR")
    assert line.startswith("telesales with target level 1.1: profit ") and "EUR" in line and "±" in line
    base = headline(app.update(), "EUR")
    assert "under the base plan" in base and "EUR" in base
    ka = Explorer(DEFAULT, role="key_account", trials=8, seed=0, behaviour="none")
    assert headline(ka.update(), "EUR").startswith("key account under the base plan: profit ")  # a role in words


def test_the_explorer_snapshot_gives_its_levels_with_their_error_bars():
    # the index promises "each simulated figure of an answer carries ±", yet the explorer's read
    # "telesales under the base plan: profit 7.34 M EUR, incentive cost 2.04 M EUR" from a few hundred trials
    import re

    from simlib.report.explorer import Explorer, headline, readable_table

    app = Explorer(DEFAULT, role="telesales", trials=20, seed=0, behaviour="none")
    snap = app.update()
    base = headline(snap, "EUR")
    assert re.search(r"profit [\d.]+ M EUR ± \d+(\.\d+)? k, incentive cost [\d.]+ [kM] EUR ± ", base), base
    t = readable_table(snap["table"], "EUR")
    assert t["base plan"].str.contains(" ± ").sum() >= len(t) - 2  # an exact figure (0 SE) may stand alone
    moved = readable_table(app.update(target_level=1.1)["table"], "EUR")
    assert moved["variant"].str.contains(" ± ").sum() >= len(moved) - 2
