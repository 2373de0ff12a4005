"""``python -m benchmarks.roster_speed [TRIALS]``: time a 2,000-rep roster, dynamic behaviour, every plan.

Writes a synthetic roster of 2,000 reps (400 key-account, 1,200 telesales,
400 channel in teams of 8, pay levels and tenure drawn around the default
scenario's) and the default scenario naming it to a temporary folder, then
times ``simlib.simulate`` (serial, every plan of the default scenario).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

import simlib
from simlib.io import SHIPPED

HEADCOUNT = {"key_account": 400, "telesales": 1200, "channel": 400}


def write_org(folder: Path, seed: int = 0) -> Path:
    """The 2,000-rep roster and the default scenario naming it; returns the scenario file."""
    rng = np.random.default_rng(seed)
    d = yaml.safe_load((SHIPPED / "scenarios" / "default.yaml").read_text())
    rows = []
    for role, n in HEADCOUNT.items():
        spec = d["roles"][role]
        for i in range(n):
            rows.append({"rep_id": f"{role[:2].upper()}{i:05d}", "role": role, "team": f"{role}-{i // 8 + 1}",
                         "base_salary": round(spec["base_salary"] * rng.lognormal(0, 0.08), -2),
                         "target_incentive": round(spec["target_incentive"] * rng.lognormal(0, 0.10), -2),
                         "tenure_months": int(rng.integers(0, 120))})
        spec.pop("headcount")
    pd.DataFrame(rows).to_csv(folder / "roster.csv", index=False)
    d.pop("budget", None)
    d["roster"] = "roster.csv"
    (folder / "org.yaml").write_text(yaml.safe_dump(d))
    return folder / "org.yaml"


def main(argv: list[str] | None = None) -> int:
    trials = int((argv or sys.argv[1:] or ["1000"])[0])
    with tempfile.TemporaryDirectory() as tmp:
        scen = simlib.load_scenario(write_org(Path(tmp)))
        t0 = time.perf_counter()
        simlib.simulate(scen, trials=trials, rng=0, behaviour="dynamic", executor=None)
        dt = time.perf_counter() - t0
    print(f"{scen.headcount:,} reps, {trials:,} trials, {len(scen.plans)} plans, dynamic, serial: {dt:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
