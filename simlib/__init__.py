"""simlib: Monte Carlo workbench for sales incentive plan design.

Public API::

    import simlib
    scen = simlib.load_scenario("scenarios/default.yaml")
    res = simlib.simulate(scen, trials=1000, rng=1)
    res.summary(); res.differences(); simlib.summarise(res)
    ens = simlib.simulate_ensemble(scen, behaviour_draws=16, trials=200)  # behavioural uncertainty
"""

from simlib.errors import PlanError, Problem, ScenarioError, SimlibError
from simlib.scenario import Scenario, scenario_from_dict, validate_paths
from simlib.version import __version__


def load_scenario(path):
    """Load and validate a scenario file (:func:`simlib.scenario.load_scenario`), with the history it names
    applied to its roster's reps (:func:`simlib.fit.individuals.with_history`)."""
    from simlib.fit.individuals import load_scenario as load

    return load(path)


#: heavier parts of the API, imported on first use (name -> module), so that ``simlib --help`` and
#: the commands that do not simulate start without NumPy's engine, SciPy and pandas. Functions
#: named like their module (``simlib.design.optimize.optimize``, ``simlib.fit.calibrate.calibrate``,
#: ``simlib.fit.backtest.backtest``) are reached through the module, since importing a
#: submodule rebinds that name on the package.
_LAZY = {
    "simulate": "engine.api",
    "simulate_ensemble": "engine.api",
    "compare": "engine.api",
    "summarise": "engine.api",
    "SimulationResult": "engine.results",
    "run_sweep": "design.sweep",
    "read_history": "fit.history",
    "synth_history": "fit.synth",
    "validate_model": "fit.findings",
    "simulate_years": "engine.years",
}


def __getattr__(name: str):
    # plain import statements (one per entry of _LAZY), so that lint-imports sees them
    match name:
        case "simulate":
            from simlib.engine.api import simulate as obj
        case "simulate_ensemble":
            from simlib.engine.api import simulate_ensemble as obj
        case "compare":
            from simlib.engine.api import compare as obj
        case "summarise":
            from simlib.engine.api import summarise as obj
        case "SimulationResult":
            from simlib.engine.results import SimulationResult as obj
        case "run_sweep":
            from simlib.design.sweep import run_sweep as obj
        case "read_history":
            from simlib.fit.history import read_history as obj
        case "synth_history":
            from simlib.fit.synth import synth_history as obj
        case "validate_model":
            from simlib.fit.findings import validate_model as obj
        case "simulate_years":
            from simlib.engine.years import simulate_years as obj
        case _:
            raise AttributeError(f"module 'simlib' has no attribute {name!r}")
    return obj


__all__ = [
    *_LAZY,
    "__version__",
    "PlanError",
    "Problem",
    "Scenario",
    "ScenarioError",
    "SimlibError",
    "load_scenario",
    "scenario_from_dict",
    "validate_paths",
]
