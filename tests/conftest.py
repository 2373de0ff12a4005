"""Shared fixtures: paths, a small scenario that exercises every plan feature, YAML helpers."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "scenarios" / "default.yaml"
DATA = Path(__file__).resolve().parent / "data"
GOLDEN = Path(__file__).resolve().parent / "golden"

SEASON_A = [0.8, 0.9, 1.1, 1.0, 0.95, 1.05, 0.85, 0.8, 1.1, 1.0, 1.1, 1.35]


def small_scenario_dict() -> dict:
    """A small organisation (22 reps) whose plans use every pay feature of docs/model.md section 3.

    Teams of uneven size, new hires, all four quota methods, every component
    kind and period, year-to-date true-up (also for per-unit pay), gates,
    modifiers, team weighting with both splits and recognition.
    """
    return {
        "name": "small",
        "market": {"growth_mean": 0.02, "growth_sd": 0.06, "monthly_sd": 0.04, "monthly_rho": 0.4},
        "roles": {
            "ka": {
                "process": "key_account", "headcount": 7, "team_size": 3, "base_salary": 90000,
                "target_incentive": 60000, "gross_margin": 0.55, "seasonality": SEASON_A,
                "ability_sd": 0.3, "territory_sd": 0.3, "new_hire_share": 0.3, "ramp_months": 4,
                "production": {"deals_per_month": 0.9, "deal_size_mean": 100000, "pipeline_lag_months": 2},
            },
            "ts": {
                "process": "telesales", "headcount": 9, "team_size": 4, "base_salary": 42000,
                "target_incentive": 18000, "gross_margin": 0.4, "new_hire_share": 0.3, "ramp_months": 3,
                "production": {"calls_per_month": 600},
            },
            "ch": {
                "process": "channel", "headcount": 6, "team_size": 4, "base_salary": 70000,
                "target_incentive": 40000, "gross_margin": 0.35, "seasonality": SEASON_A[::-1],
                "new_hire_share": 0.25, "production": {"partners_per_month": 0.8},
            },
        },
        "budget": {"incentive": 700000},
        "current_plan": "current",
        "plans": {
            "current": {
                "description": "mixed features",
                "roles": {
                    "ka": {
                        "quota": {"method": "territory", "noise": 0.15},
                        "components": [
                            {"name": "rev", "weight": 0.8, "points": [[0.5, 0.0], [1.0, 1.0], [1.5, 2.5]], "cap": 2.5},
                            {"name": "newacc", "measure": "new_accounts", "weight": 0.2, "target": 3,
                             "points": [[0.5, 0.25], [1.0, 1.0], [2.0, 2.0]], "cap": 2.0},
                        ],
                        "modifiers": [{"measure": "satisfaction", "points": [[0.6, 0.9], [0.82, 1.0], [0.95, 1.1]]}],
                    },
                    "ts": {
                        "quota": {"method": "territory"},
                        "components": [
                            {"name": "rev", "weight": 0.9, "period": "quarter",
                             "points": [[0.75, 0.5], [1.0, 1.0], [1.5, 2.0]], "cap": 2.0},
                            {"name": "conv", "measure": "conversions", "kind": "per_unit", "rate": 6},
                        ],
                        "gates": [{"measure": "record_accuracy", "target": 0.92, "min_attainment": 0.995,
                                   "components": ["conv"]}],
                        "recognition": {"top_k": 2, "value": 3000, "measure": "revenue"},
                    },
                    "ch": {
                        "quota": {"method": "territory"},
                        "components": [
                            {"name": "comm", "kind": "commission", "mode": "marginal", "period": "quarter",
                             "ytd_true_up": True,
                             "tiers": [{"from": 0.0, "rate": 0.045}, {"from": 0.8, "rate": 0.10}, {"from": 1.2, "rate": 0.12}]},
                            {"name": "partners", "measure": "partners_opened", "kind": "per_unit", "rate": 1000},
                        ],
                    },
                },
            },
            "variant": {
                "description": "other quota methods, team pay, lump sums, retroactive tiers, YTD per-unit",
                "base": "current",
                "changes": {
                    "roles": {
                        "ka": {
                            "quota": {"method": "flat", "level": 1.1},
                            "team": {"weight": 0.4, "split": "contribution"},
                            "components": [
                                {"name": "newacc", "remove": True},
                                {"name": "lump", "kind": "lump_sum", "period": "half",
                                 "steps": [{"at": 0.8, "amount": 2000}, {"at": 1.2, "amount": 5000}]},
                            ],
                            "gates": [{"measure": "revenue", "min_attainment": 0.5, "components": ["rev"]}],
                        },
                        "ts": {
                            "quota": {"method": "last_year", "growth": 0.08},
                            "team": {"weight": 0.5, "split": "equal"},
                            "components": [
                                {"name": "rev", "kind": "commission", "mode": "retroactive", "period": "half",
                                 "points": None,
                                 "tiers": [{"from": 0.5, "rate": 0.03}, {"from": 1.0, "rate": 0.06}], "cap": 0.09},
                                {"name": "conv", "period": "month", "ytd_true_up": True, "cap": 400},
                            ],
                            "recognition": {"top_k": 3, "value": 1000, "measure": "calls"},
                        },
                        "ch": {
                            "quota": {"method": "top_down", "level": 0.95},
                            "team": {"weight": 0.5, "split": "contribution"},
                            "components": [
                                {"name": "curve", "weight": 0.7, "period": "month", "beyond": "flat",
                                 "points": [[0.6, 0.2], [1.0, 1.0], [1.3, 1.6]]},
                                {"name": "partners", "period": "quarter", "ytd_true_up": True},
                                {"name": "comm", "remove": True},
                            ],
                            "modifiers": [{"measure": "policy_adherence", "points": [[0.9, 0.8], [0.95, 1.0]]}],
                        },
                    },
                },
            },
            "company": {
                "description": "top-down with a company number; score-measure team curve",
                "base": "current",
                "changes": {
                    "roles": {
                        "ch": {
                            "quota": {"method": "top_down", "company_target": 3000000},
                            "team": {"weight": 1.0, "split": "equal"},
                        },
                        "ts": {
                            "team": {"weight": 0.3, "split": "contribution"},
                            "components": [
                                {"name": "acc", "measure": "record_accuracy", "target": 0.9, "weight": 0.1,
                                 "period": "quarter", "ytd_true_up": True, "points": [[0.95, 0.0], [1.05, 1.5]]},
                            ],
                        },
                    },
                },
            },
        },
    }


@pytest.fixture
def small_dict() -> dict:
    return copy.deepcopy(small_scenario_dict())


@pytest.fixture(scope="session")
def small_scenario():
    from simlib import scenario_from_dict

    return scenario_from_dict(small_scenario_dict(), "small.yaml")


@pytest.fixture(scope="session")
def default_scenario():
    from simlib import load_scenario

    return load_scenario(DEFAULT)


@pytest.fixture(scope="session")
def scen(default_scenario):
    """The default scenario (validated scenarios are immutable: one per session)."""
    return default_scenario


@functools.cache
def kernel_installed() -> bool:
    """Whether the Jupyter kernel the reports run on is registered (``make setup`` does it).

    Asked only when a test that needs the kernel runs (Jupyter is not imported to collect tests).
    """
    try:
        from jupyter_client.kernelspec import KernelSpecManager
    except ImportError:
        return False
    from simlib.report import build as report

    return report.KERNEL in KernelSpecManager().find_kernel_specs()


#: marks a test that runs notebooks on the "simlib" kernel: skipped when it is not registered
needs_kernel = pytest.mark.needs_kernel


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_kernel: runs notebooks on the Jupyter kernel 'simlib' (skipped without it)")


def pytest_runtest_setup(item):
    if item.get_closest_marker("needs_kernel") and not kernel_installed():
        pytest.skip("Jupyter kernel 'simlib' not installed (run make setup)")


def write_yaml(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def image_alts(page: str) -> list[str | None]:
    """The alt text of every ``<img>`` of an HTML page, in order (None where an image has no alt attribute)."""
    from html.parser import HTMLParser

    class Images(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.alts: list[str | None] = []

        def handle_starttag(self, tag, attrs):
            if tag == "img":
                self.alts.append(dict(attrs).get("alt"))

        handle_startendtag = handle_starttag

    finder = Images()
    finder.feed(page)
    finder.close()
    return finder.alts


def runs_compiled_and_numpy(monkeypatch, scenario, plans, **kw):
    """``simlib.simulate(scenario, plans, **kw).raw`` with the compiled kernels on and off (asserting the two
    agree bit for bit in mean, SE and count), returned as run with them on."""
    import numpy as np

    import simlib
    from simlib.model import compiled

    out = []
    for flag in ("1", "0"):
        monkeypatch.setenv(compiled.ENV, flag)
        out.append(simlib.simulate(scenario, plans, **kw).raw)
    for k in ("mean", "se", "n"):
        on, off = (np.ascontiguousarray(getattr(r, k), dtype=float).view(np.uint64) for r in out)
        assert np.array_equal(on, off), k
    return out[0]


def assert_effort_option_rejected(tmp_path: Path, scenario: Path, option: str, value) -> None:
    """Loading ``scenario`` with ``behaviour.effort.<option>: value`` fails with an error naming the field and file."""
    from simlib.errors import SimlibError
    from simlib.scenario import load_scenario

    path = tmp_path / "bad.yaml"
    path.write_text(scenario.read_text() + f"behaviour:\n  effort: {{{option}: {value}}}\n")
    with pytest.raises(SimlibError) as err:
        load_scenario(path)
    assert f"behaviour.effort.{option}" in str(err.value) and str(path) in str(err.value)


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """``simlib`` with ``args`` in this process: (exit code, stdout, stderr); no traceback or internal error."""
    from simlib.cli import main

    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "internal error" not in out.err, out.err
    return code, out.out, out.err
