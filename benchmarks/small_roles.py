"""``python -m benchmarks.small_roles``: backtest coverage of roles of one and two reps.

The template is ``default.yaml``'s telesales (60 reps) beside two roles too
small to fit (fewer than 5 full rep-years): ``partners``, a copy of its
channel role with 2 reps, and ``director``, a copy of its key-account role
with 1 rep; year two under ``harder_target`` (quotas 10% higher). For each
seed the truth is the template moved as in docs/model.md 4.13.1
(:func:`benchmarks.calibration.perturbed`, spread 0.3; ``harder_target``'s
quota levels 1.1 times the moved current ones), then two years are drawn
(:func:`simlib.fit.synth.synth_history`, behaviour ``none``) and backtested
from the template (``--trials``, ``--bootstrap``, behaviour ``none``). Each
row's actual year two is inside its nominal 90% interval or not; coverage is
given per history and role group, with the SE over histories (docs/model.md
4.13, "Roles of one to three reps").

Usage::

    nice python -m benchmarks.small_roles [--first-seed 460] [--seeds 20] [--trials 200] [--bootstrap 20]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

SMALL = ("partners", "director")


def template_dict() -> dict:
    """The template as a scenario dict (module docstring)."""
    from simlib.io import SHIPPED  # noqa: PLC0415 - simlib loads when the benchmark runs

    d = yaml.safe_load((SHIPPED / "scenarios" / "default.yaml").read_text())
    roles = {"telesales": dict(d["roles"]["telesales"], headcount=60, team_size=10),
             "partners": dict(copy.deepcopy(d["roles"]["channel"]), headcount=2, team_size=2),
             "director": dict(copy.deepcopy(d["roles"]["key_account"]), headcount=1, team_size=1)}
    cur = d["plans"]["current"]["roles"]
    d["roles"] = roles
    d["plans"] = {"current": {"roles": {"telesales": cur["telesales"], "partners": cur["channel"],
                                        "director": cur["key_account"]}},
                  "harder_target": {"base": "current",
                                    "changes": {"roles": {r: {"quota": {"level": 1.1}} for r in roles}}}}
    d.pop("budget", None)
    d.pop("checks", None)
    return d


def one_history(seed: int, trials: int, bootstrap: int) -> list[dict]:
    """The backtest rows of one synthetic history (seed ``seed``)."""
    import simlib  # noqa: PLC0415
    from benchmarks.calibration import perturbed  # noqa: PLC0415
    from simlib.fit.backtest import backtest  # noqa: PLC0415
    from simlib.fit.history import read_history, write_history  # noqa: PLC0415
    from simlib.fit.synth import synth_history  # noqa: PLC0415

    td = template_dict()
    template = simlib.scenario_from_dict(td, "small roles template")
    tr = perturbed(td, np.random.default_rng(seed), 0.3, False)
    for r, rp in tr["plans"]["current"]["roles"].items():  # the other plan's quota level moves with the current's
        tr["plans"]["harder_target"]["changes"]["roles"][r]["quota"]["level"] = 1.1 * rp["quota"]["level"]
    truth = simlib.scenario_from_dict(tr, f"truth {seed}")
    frame, _ = synth_history(truth, rng=seed, years=2, plan2="harder_target", behaviour="none")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "h.csv"
        write_history(frame, path)
        hist = read_history(path, {r: x.process for r, x in template.roles.items()})
    bt = backtest(hist, template, plan_after="harder_target", trials=trials, rng=seed, bootstrap=bootstrap,
                  behaviour="none")
    return [{"seed": seed} | {k: r[k] for k in ("group", "metric", "actual", "predicted", "lo", "hi", "inside")}
            for r in bt.rows]


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Coverage by group (the small roles together, each small role, the fitted role, the total): mean over
    histories of each history's share inside, with its SE over histories."""
    d = rows[rows["inside"].notna()].assign(inside=lambda x: x["inside"].astype(float))
    groups = {"roles of 1-2 reps": d["group"].isin(SMALL)} | {g: d["group"] == g for g in
                                                            (*SMALL, "telesales", "total")}
    out = []
    for name, mask in groups.items():
        per = d[mask].groupby("seed")["inside"].mean()
        out.append({"group": name, "coverage": per.mean(), "se": per.std(ddof=1) / np.sqrt(len(per)),
                    "histories": len(per), "rows": int(mask.sum())})
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.small_roles", description=__doc__.splitlines()[0])
    p.add_argument("--first-seed", type=int, default=460)
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--bootstrap", type=int, default=20)
    a = p.parse_args(argv)
    rows = pd.DataFrame([r for s in range(a.first_seed, a.first_seed + a.seeds)
                         for r in one_history(s, a.trials, a.bootstrap)])
    print(summary(rows).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    small = rows[rows["group"].isin(SMALL)]
    print(small.pivot_table(index="group", columns="metric", values="inside", aggfunc="mean").round(2).to_string())


if __name__ == "__main__":
    main()
