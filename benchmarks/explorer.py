"""``python -m benchmarks.explorer``: seconds an explorer update takes at its default trial count.

Times :meth:`simlib.report.explorer.Explorer.update` (simulation of the base
and the variant plan on the same draws and the key table; its charts are
built when first looked at), the update with its four chart figures built
(the variant's rep-by-rep draws and the matplotlib figures), and the
widget's whole refresh (:class:`simlib.report.explorer.ExplorerApp`: the table
shown, then the four charts rendered to PNG), for the telesales role of
``scenarios/default.yaml`` with the target level moved, after one warm-up
update. Prints the median and the range of ``--repeat`` updates, and the
machine's load average at the start (the times scale with it on a shared
machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from simlib.report.explorer import Explorer, ExplorerApp

    p = argparse.ArgumentParser(prog="python -m benchmarks.explorer")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--trials", type=int, default=None, help="default: the explorer's default")
    a = p.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    ex = Explorer(str(ROOT / "scenarios" / "default.yaml"), role="telesales")
    if a.trials:
        ex.trials = a.trials
    ex.update(target_level=1.1)  # warm-up: imports, compiled passes
    upd, figs = [], []
    for i in range(a.repeat):
        t0 = time.perf_counter()
        r = ex.update(target_level=1.0 + 0.02 * (i + 1))
        upd.append(time.perf_counter() - t0)
        list(r["figures"])
        figs.append(time.perf_counter() - t0)
    app = ExplorerApp(ex, debounce=0)
    table, total = [], []
    for i in range(a.repeat):
        app.controls["target_level"].value = 1.05 + 0.05 * (i % 4)
        table.append(app.timings["table"])
        total.append(app.timings["total"])

    def show(name, xs):
        print(f"{name:34s} median {statistics.median(xs):.2f} s  (min {min(xs):.2f}, max {max(xs):.2f})")

    print(f"explorer, telesales of default.yaml, {ex.trials} trials per update, behaviour {ex.behaviour or 'default'}, "
          f"load average {load:.1f} on {os.cpu_count()} cores")
    show("Explorer.update", upd)
    show("Explorer.update, 4 charts built", figs)
    show("widget: table shown", table)
    show("widget: table and 4 charts shown", total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
