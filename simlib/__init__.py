"""simlib: Monte Carlo workbench for sales incentive plan design.

Public API::

    import simlib
    scen = simlib.load_scenario("scenarios/default.yaml")
    res = simlib.simulate(scen, trials=1000, rng=1)
    res.summary(); res.differences(); simlib.summarise(res)
"""

from ._version import __version__
from .api import compare, simulate, summarise
from .errors import PlanError, Problem, ScenarioError, SimlibError
from .results import SimulationResult
from .scenario import Scenario, load_scenario, scenario_from_dict, validate_paths

#: heavier parts of the API, imported on first use (name -> module). Functions
#: named like their module (``simlib.optimize.optimize``, ``simlib.calibrate.calibrate``,
#: ``simlib.backtest.backtest``) are reached through the module, since importing a
#: submodule rebinds that name on the package.
_LAZY = {
    "run_sweep": "sweep",
    "read_history": "history",
    "synth_history": "synth",
    "validate_model": "validation",
    "simulate_years": "behavior_multiyear",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"simlib.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'simlib' has no attribute {name!r}")


__all__ = [
    *_LAZY,
    "__version__",
    "PlanError",
    "Problem",
    "Scenario",
    "ScenarioError",
    "SimlibError",
    "SimulationResult",
    "compare",
    "load_scenario",
    "scenario_from_dict",
    "simulate",
    "summarise",
    "validate_paths",
]
