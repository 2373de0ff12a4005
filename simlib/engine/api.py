"""The small public API: load a scenario, simulate plans, compare, summarise."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simlib.engine.core import check_request, simulate_raw
from simlib.engine.ensemble import EnsembleResult
from simlib.engine.ensemble import simulate_ensemble as _simulate_ensemble
from simlib.engine.results import SimulationResult
from simlib.scenario import Scenario, as_scenario


def simulate(
    scenario: Scenario | str | Path,
    plans: Sequence[str] | None = None,
    *,
    trials: int = 1000,
    rng: int | np.random.SeedSequence | np.random.Generator | None = 0,
    reference: str | None = None,
    behaviour: str | Any | None = None,
    chunk_size: int | None = None,
    executor: Any = None,
    progress: bool = False,
    allow_large: bool = False,
) -> SimulationResult:
    """Simulate plans on common random numbers.

    Parameters
    ----------
    scenario : Scenario or path
        A validated scenario, or a YAML file to load.
    plans : list of str, optional
        Plans to simulate (default: all); the reference plan is always included.
    trials : int
        Monte Carlo trials (years of the whole organisation).
    rng : int, SeedSequence, Generator or None
        The one randomness argument; ``None`` draws fresh entropy (recorded
        in ``result.provenance``).
    reference : str, optional
        Plan that differences are taken against (default: the scenario's current plan).
    behaviour : str, optional
        ``"none"`` (effort fixed at today's), ``"dynamic"`` (reps respond to
        the plan, :mod:`simlib.behaviour.dynamic`) or another registered model; by
        default the scenario's ``behaviour.mode``, else
        :data:`simlib.engine.core.DEFAULT_BEHAVIOUR`.
    chunk_size : int, optional
        At most this many trials per chunk (trials are split into equal chunks);
        results do not depend on it.
    executor : None, concurrent.futures.Executor or dask.distributed.Client
        Where chunks run; results do not depend on it.
    progress : bool
        Show a progress bar.
    allow_large : bool
        Run a request past the size limits (``--allow-large``); without it a
        request larger than :func:`simlib.engine.core.check_request` allows
        raises :class:`simlib.engine.core.RequestTooLarge` before any work starts.
    """
    scen = as_scenario(scenario)
    _check(scen, trials, _n_plans(scen, plans, reference), 0, allow_large)
    raw = simulate_raw(
        scen, plans, trials=trials, rng=rng, reference=reference, behaviour=behaviour,
        chunk_size=chunk_size, executor=executor, progress=progress,
    )
    return SimulationResult(raw)


def simulate_ensemble(
    scenario: Scenario | str | Path,
    plans: Sequence[str] | None = None,
    *,
    behaviour_draws: int | None = None,
    allow_large: bool = False,
    **kw,
) -> EnsembleResult:
    """Simulate plans under behavioural uncertainty: ``behaviour_draws`` parameter draws from the priors.

    Every draw runs on the same common random numbers (see
    :mod:`simlib.engine.ensemble`). ``behaviour_draws`` defaults to the
    scenario's ``behaviour.uncertainty.draws``; the other keywords are those
    of :func:`simulate` plus ``design_seed`` and ``method`` of the parameter
    design. ``result.summary()`` and ``result.differences()`` give the mean
    over draws with ``mc_se`` (Monte Carlo), ``model_sd`` (between draws) and
    a total interval; ``result.sentences("profit")`` the sign robustness.
    ``allow_large`` as in :func:`simulate`.
    """
    scen = as_scenario(scenario)
    draws = scen.behaviour.uncertainty.draws if behaviour_draws is None else behaviour_draws
    _check(scen, kw.get("trials", 1000), _n_plans(scen, plans, kw.get("reference")), draws or 0, allow_large)
    return _simulate_ensemble(scen, plans, draws=behaviour_draws, **kw)


def _check(scen: Scenario, trials: Any, n_plans: int, draws: Any, allow_large: bool) -> None:
    """:func:`check_request` on whole-number arguments (others are refused, by name, by the engine)."""
    if all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in (trials, draws)):
        check_request(scen, int(trials), n_plans, draws=int(draws), allow_large=allow_large)


def _n_plans(scen: Scenario, plans: Sequence[str] | None, reference: str | None) -> int:
    """Plans a simulation runs: those asked for (all by default), plus the reference plan if not among them."""
    if plans is None or isinstance(plans, str):
        return len(scen.plans)
    return len(set(plans) | {reference or scen.current_plan})


def compare(scenario: Scenario | str | Path, plans: Sequence[str] | None = None, **kw) -> pd.DataFrame:
    """Paired differences of every plan against the reference plan (see :func:`simulate`)."""
    return simulate(scenario, plans, **kw).differences()


def summarise(result: SimulationResult | EnsembleResult, group: str = "total", metrics: list[str] | None = None, *,
              currency: str | None = None, raw: bool = False) -> pd.DataFrame:
    """A readable comparison table (metric rows, plan columns, then paired differences), as ``simlib run`` prints it.

    Rows by display name, money in the scenario's currency (``currency``
    overrides it) on a k / M scale, shares in %, differences ``Δ plan``
    (shares in points), each with its 95% CI half-width
    (:meth:`SimulationResult.readable`). ``raw=True``: the table by metric
    id with plain estimate texts (:meth:`SimulationResult.table`); the
    numbers themselves are ``result.summary()`` and ``result.differences()``.
    An ensemble over behavioural draws (:func:`simulate_ensemble`) reads as
    ``simlib run --behaviour-draws`` prints it, with ``model ±`` and ``>0``
    columns (:meth:`EnsembleResult.readable`).
    """
    if raw:
        return result.table(group=group, metrics=metrics)
    return result.readable(group=group, metrics=metrics, currency=currency)
