"""``python -m benchmarks.rep_coverage``: do per-rep pay intervals cover each rep's actual next-year pay?

For each synthetic organisation (the shipped example population,
``simlib/shipped/scenarios/example_org/synthetic.yaml``, headcounts times
``--scale``, one organisation per seed) the truth is known:
:func:`simlib.fit.synth.synth_history` draws two years of it, the reps' true
ability and territory held across the years except the replaced share (new
hires in year two). Year one runs under the current plan; year two under the
current plan ("same plan") or under ``--plan`` ("plan change"), on the same
draws.

The model sees what an analyst has at the start of year two: a roster of the
year-two reps (role, team, base salary and target incentive of the role,
tenure: 0 for the year's new hires) and the year-one history only. Loaded
with :func:`simlib.fit.individuals.with_history`, each rep's pay over
``--trials`` simulated years (:func:`simlib.engine.reps.rep_chunk`, the pass
``simlib reps`` runs) gives the rep's P10-P90 (nominal 80%, the interval
``simlib reps`` states) and P5-P95 (nominal 90%). A rep is covered when their
actual year-two pay (role base salary plus the year's recorded payouts) lies
inside.

The reps of one organisation share its market year, so the binomial standard
error counts organisations, not reps: it is the sd of the per-organisation
coverages over sqrt(organisations) (printed beside the naive per-rep one).

Usage::

    nice python -m benchmarks.rep_coverage [--orgs 30] [--first-seed 0] [--scale 2] [--trials 300]
                                           [--plan accelerated] [--behaviour dynamic] [--out reps.csv]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from simlib.engine.core import behaviour_model, resolve_behaviour
from simlib.engine.reps import rep_chunk
from simlib.fit.history import write_history
from simlib.fit.individuals import with_history
from simlib.fit.synth import synth_history
from simlib.io import SHIPPED
from simlib.model.population import rep_labels, root_seed
from simlib.scenario import Scenario, load_scenario, scenario_from_dict

POPULATION = SHIPPED / "scenarios" / "example_org" / "synthetic.yaml"
#: nominal levels and the quantiles bounding them
LEVELS = {"80%": (0.10, 0.90), "90%": (0.05, 0.95)}
#: the per-rep draws of the role that the roster and history replace
ROSTER_FIELDS = ("headcount", "team_size", "new_hire_share")
START_YEAR = 2024


def truth_data(scale: int = 1) -> dict:
    """The truth population as a scenario dict: the shipped example population, headcounts times ``scale``."""
    data = yaml.safe_load(POPULATION.read_text(encoding="utf-8"))
    for role in data["roles"].values():
        role["headcount"] *= scale
    return data


def year_frames(truth: Scenario, seed: int, plan2: str, behaviour: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Year one and year two of a two-year synthetic history (year two under ``plan2``)."""
    hist, _ = synth_history(truth, rng=seed, years=2, plan2=plan2, start_year=START_YEAR, behaviour=behaviour)
    y1 = hist[hist["month"].str.startswith(str(START_YEAR))].reset_index(drop=True)
    y2 = hist[hist["month"].str.startswith(str(START_YEAR + 1))].reset_index(drop=True)
    return y1, y2


def year_two_reps(truth: Scenario, y1: pd.DataFrame, y2: pd.DataFrame) -> pd.DataFrame:
    """One row per year-two rep: role, team, actual pay (base + the year's payouts) and history class.

    ``history``: ``12 months`` (a year-one rep past ramp), ``hired in year one``
    (their year-one months are ramp months, which the fit does not use) or
    ``hired in year two`` (no history).
    """
    g = y2.groupby("rep_id", sort=False)
    reps = pd.DataFrame({"role": g["role"].first(), "team": g["team"].first(), "payout": g["payout"].sum()})
    reps["pay"] = reps["payout"] + reps["role"].map({r: role.base_salary for r, role in truth.roles.items()})
    new1 = y1.groupby("rep_id")["new_hire"].max().astype(bool)
    reps["history"] = np.where(~reps.index.isin(new1.index), "hired in year two",
                               np.where(reps.index.map(new1).fillna(False).astype(bool), "hired in year one",
                                        "12 months"))
    return reps.rename_axis("rep_id").reset_index()


def fitted_scenario(truth_dict: dict, truth: Scenario, y1: pd.DataFrame, reps: pd.DataFrame,
                    folder: Path) -> Scenario:
    """The analyst's scenario: the truth's roles and plans, the year-two roster and the year-one history."""
    write_history(y1, folder / "history.csv")
    tenure = np.where(reps["history"] == "hired in year two", 0,
                      np.where(reps["history"] == "hired in year one", 12, 48))
    roster = pd.DataFrame({"rep_id": reps["rep_id"], "role": reps["role"], "team": reps["team"],
                           "base_salary": reps["role"].map({r: x.base_salary for r, x in truth.roles.items()}),
                           "target_incentive": reps["role"].map({r: x.target_incentive for r, x in truth.roles.items()}),
                           "tenure_months": tenure})
    roster.sort_values(["role", "team", "rep_id"]).to_csv(folder / "roster.csv", index=False)
    data = {**truth_dict, "roles": {r: {k: v for k, v in spec.items() if k not in ROSTER_FIELDS}
                                    for r, spec in truth_dict["roles"].items()}}
    data.update(roster="roster.csv", history="history.csv", year_start=f"{START_YEAR + 1}-01-01")
    (folder / "org.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return with_history(load_scenario(folder / "org.yaml"))


def rep_intervals(scen: Scenario, plan: str, trials: int, seed: int, behaviour: str | None,
                  actual: pd.Series) -> pd.DataFrame:
    """Each rep's pay quantiles under ``plan`` over ``trials`` simulated years, and where the actual pay falls.

    Columns ``q0.05`` ... ``q0.95``; ``floor`` and ``cap``, the share of
    trials at the rep's lowest / highest simulated pay (the atoms of pay at
    base salary and at the plan's cap); and ``pit``, the randomised PIT
    ``P(X < a) + u P(X = a)`` of the actual pay ``a`` (``actual``, by
    rep_id; ``u`` uniform, seeded by ``seed``): uniform on (0, 1) for a
    calibrated model even where pay has atoms.
    """
    b = resolve_behaviour(scen, behaviour)
    _, out = rep_chunk(scen, [plan], root_seed(seed), 0, trials, b, behaviour_model(scen, b))
    qs = sorted({q for pair in LEVELS.values() for q in pair} | {0.5})
    frames = []
    for role, vals in out[plan].items():
        ids, _ = rep_labels(scen, role)
        x = vals["pay"]
        q = np.quantile(x, qs, axis=0)
        a = actual.reindex(list(ids)).to_numpy(dtype=float)
        tie = np.isclose(x, a, rtol=0, atol=0.01)
        u = np.random.default_rng([seed, len(frames)]).random(len(ids))
        frames.append(pd.DataFrame({"rep_id": list(ids), **{f"q{p:.2f}": q[k] for k, p in enumerate(qs)},
                                    "floor": np.isclose(x, x.min(axis=0), rtol=0, atol=0.01).mean(axis=0),
                                    "cap": np.isclose(x, x.max(axis=0), rtol=0, atol=0.01).mean(axis=0),
                                    "pit": ((x < a) & ~tie).mean(axis=0) + u * tie.mean(axis=0)}))
    return pd.concat(frames, ignore_index=True)


def one_org(seed: int, *, scale: int = 1, trials: int = 200, plan: str = "accelerated",
            behaviour: str | None = None) -> pd.DataFrame:
    """Every year-two rep of organisation ``seed``, under the same plan and under ``plan``, with its intervals.

    Columns: org, case (``same plan`` / ``plan change``), rep_id, role, team,
    history, pay (actual), :func:`rep_intervals`'s columns, ``in_80%``,
    ``in_90%`` (actual inside the interval) and ``pit_80%``, ``pit_90%``
    (randomised PIT inside the interval's quantile levels).
    """
    data = truth_data(scale)
    truth = scenario_from_dict(data, f"{POPULATION.name} x{scale}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        scen = None  # year one and the year-two reps are the same in both cases (same draws): one fit
        for case, plan2 in (("same plan", truth.current_plan), ("plan change", plan)):
            y1, y2 = year_frames(truth, seed, plan2, behaviour)
            reps = year_two_reps(truth, y1, y2)
            scen = scen or fitted_scenario(data, truth, y1, reps, Path(tmp))
            iv = rep_intervals(scen, plan2, trials, 10_000 + seed, behaviour, reps.set_index("rep_id")["pay"])
            r = reps.merge(iv, on="rep_id", validate="one_to_one")
            for name, (lo, hi) in LEVELS.items():
                r[f"in_{name}"] = (r["pay"] >= r[f"q{lo:.2f}"]) & (r["pay"] <= r[f"q{hi:.2f}"])
                r[f"pit_{name}"] = (r["pit"] >= lo) & (r["pit"] <= hi)
            r.insert(0, "case", case)
            r.insert(0, "org", seed)
            rows.append(r)
    return pd.concat(rows, ignore_index=True)


def summary(reps: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Coverage per case, group and level, each with its binomial SE over organisations.

    ``80%``: share of actual pays inside [P10, P90]; ``80%_pit``: share with
    the randomised PIT inside [0.1, 0.9] (the interval's coverage net of the
    atoms of pay, which make a closed [P10, P90] hold more than 80%);
    ``se_rep``: the naive per-rep binomial SE of ``80%``; ``pit_mean``
    (0.5 when calibrated); ``floor``: mean model share of trials at the rep's
    lowest pay.
    """
    out = []
    for key, g in reps.groupby(["case"] + by, sort=False):
        row = dict(zip(["case"] + by, key if isinstance(key, tuple) else (key,), strict=True))
        row["reps"] = len(g)
        orgs = g.groupby("org")
        for name in LEVELS:
            for col, label in ((f"in_{name}", name), (f"pit_{name}", f"{name}_pit")):
                per_org = orgs[col].mean()
                row[label] = float(g[col].mean())
                row[f"{label}_se"] = float(per_org.std(ddof=1) / np.sqrt(len(per_org))) if len(per_org) > 1 else np.nan
        row["se_rep"] = float(np.sqrt(row["80%"] * (1 - row["80%"]) / len(g)))
        row["pit_mean"] = float(g["pit"].mean())
        row["floor"] = float(g["floor"].mean())
        out.append(row)
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.rep_coverage")
    p.add_argument("--orgs", type=int, default=30, help="synthetic organisations (seeds)")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--scale", type=int, default=2, help="headcount multiple of the example population (60 reps)")
    p.add_argument("--trials", type=int, default=300)
    p.add_argument("--plan", default="accelerated", help="the year-two plan of the plan-change case")
    p.add_argument("--behaviour", default=None, help="behaviour of the truth and the model (default as simlib run)")
    p.add_argument("--out", default=None, help="write the per-rep rows to this CSV")
    a = p.parse_args(argv)
    reps = pd.concat([one_org(s, scale=a.scale, trials=a.trials, plan=a.plan, behaviour=a.behaviour)
                      for s in range(a.first_seed, a.first_seed + a.orgs)], ignore_index=True)
    if a.out:
        reps.to_csv(a.out, index=False)
    pd.set_option("display.width", 200)
    print(f"per-rep interval coverage: {a.orgs} organisations x {reps.groupby('org').size().iloc[0] // 2} reps, "
          f"{a.trials} trials; binomial SEs over organisations")
    for by in ([], ["role"], ["history"], ["role", "history"]):
        print(summary(reps, by).round(3).to_string(index=False))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
