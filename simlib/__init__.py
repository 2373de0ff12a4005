"""simlib: Monte Carlo workbench for sales incentive plan design.

Public API::

    import simlib
    scen = simlib.load_scenario("scenarios/default.yaml")
    res = simlib.simulate(scen, trials=1000, rng=1)
    res.summary(); res.differences(); simlib.summarise(res)
"""

from ._version import __version__
from .errors import PlanError, Problem, ScenarioError, SimlibError
from .scenario import Scenario, load_scenario, scenario_from_dict, validate_paths
from .api import compare, simulate, summarise
from .results import SimulationResult

__all__ = [
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
