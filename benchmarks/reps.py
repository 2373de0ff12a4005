"""``python -m benchmarks.reps``: time per-rep answers (``simlib reps``) on a large organisation.

The default scenario with every role's headcount times ``--scale`` (10: 2,000
reps), ``harder_target`` against the current plan, ``--trials`` trials
(default 1,000), behaviour ``--behaviour`` (default dynamic), on
``--scheduler`` (default processes:2). Prints reps, trials, seconds and the
memory the kept per-rep values take.
"""

from __future__ import annotations

import argparse
import time

import yaml

from simlib.engine.parallel import resolve_executor
from simlib.engine.reps import rep_answers
from simlib.io import SHIPPED
from simlib.scenario import scenario_from_dict


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.reps")
    p.add_argument("--scale", type=int, default=10, help="headcount multiple of the default scenario (default 10)")
    p.add_argument("--trials", type=int, default=1000)
    p.add_argument("--behaviour", default="dynamic")
    p.add_argument("--scheduler", default="processes:2")
    a = p.parse_args(argv)
    data = yaml.safe_load((SHIPPED / "scenarios" / "default.yaml").read_text(encoding="utf-8"))
    for role in data["roles"].values():
        role["headcount"] *= a.scale
    scen = scenario_from_dict(data, f"default.yaml x{a.scale}")
    t = time.perf_counter()
    with resolve_executor(a.scheduler, work=None) as ex:
        ans = rep_answers(scen, "harder_target", trials=a.trials, behaviour=a.behaviour, executor=ex)
    s = time.perf_counter() - t
    mb = a.trials * scen.headcount * 2 * 8 / 2**20
    print(f"simlib reps: {scen.headcount:,} reps x {a.trials:,} trials x 2 plans, behaviour {a.behaviour}, "
          f"{a.scheduler}: {s:.1f} s ({len(ans.statement):,} rep statements; kept pay values {mb:.0f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
