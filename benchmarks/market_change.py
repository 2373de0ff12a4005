"""``python -m benchmarks.market_change``: does the ``market.change`` interval cover the realised change?

A panel simulation of the calibration's market change: for each template
scenario, ``--truths`` truths moved as in :mod:`benchmarks.calibration`
(:func:`~benchmarks.calibration.perturbed`, indices from ``--first-seed``,
odd ones, a third with few reps), each drawn ``--histories`` times as a
two-year history the way ``simlib synth`` draws one (year two keeps year
one's reps but those replaced by new hires, and a new market year), straight
from :func:`simlib.fit.synth.simulate_panels` (no files, so thousands of
histories take seconds). Per history each role's ratio of year-two to
year-one revenue of its tenured reps is estimated as
:func:`simlib.fit.calibrate.market_changes` does, and the interval is
checked against the realised change (the truth of
:func:`benchmarks.calibration.truths`: roles' seasonality-weighted market
levels, weighted by expected revenue). Two intervals are compared: the
calibration's (``jackknife-t``: each role's jackknife SE, inverse-variance
combination with Meier's term for estimated weights, Student's t at Satterthwaite's df) and the one it replaced
(``bootstrap-normal``: 50 bootstrap replicates per role, normal quantile).

Usage::

    nice python -m benchmarks.market_change [--truths 60] [--histories 100] [--first-seed 1401] [--scenarios ...]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd
from scipy import stats

from benchmarks.calibration import SCENARIOS, perturbed

#: least tenured reps for a role's ratio (as :func:`simlib.fit.calibrate.market_changes`)
MIN_REPS = 10


def _panels(truth, seed: int, histories: int):
    """Year one and year two panels of ``histories`` two-year histories, and which reps were replaced."""
    from simlib.fit.synth import simulate_panels
    from simlib.model.population import Layout, draw_chunk, root_seed

    d = draw_chunk(Layout.of(truth), root_seed(seed), np.arange(2 * histories))
    d1 = {k: v[0::2].copy() for k, v in d.items()}
    d2 = {k: v[1::2].copy() for k, v in d.items()}
    leave = {}
    for r, role in truth.roles.items():  # as simlib.fit.synth.synth_history's year two
        lv = d2[f"{r}.new_hire"] < role.new_hire_share
        for key in ("ability", "territory", "last_year"):
            d2[f"{r}.{key}"] = np.where(lv, d2[f"{r}.{key}"], d1[f"{r}.{key}"])
        d2[f"{r}.new_hire"] = np.where(lv, 0.0, 1.0)
        leave[r] = lv
    p1, m1 = simulate_panels(truth, draws=d1, behaviour="none")
    p2, m2 = simulate_panels(truth, draws=d2, behaviour="none")
    return p1, p2, m1, m2, leave


def audit(name: str, first_seed: int, truths: int, histories: int, level: float = 0.90) -> pd.DataFrame:
    """One row per history: z and coverage of both intervals."""
    from simlib.fit.calibrate import combine_roles, ratio_jackknife
    from simlib.io import SHIPPED
    from simlib.model.production import expected_monthly_revenue
    from simlib.scenario import load_scenario, scenario_from_dict

    k = SCENARIOS.index(name)
    data = load_scenario(SHIPPED / "scenarios" / name).model_dump(by_alias=True, mode="json")
    z = float(stats.norm.ppf(0.5 + level / 2))
    gen = np.random.default_rng(first_seed)
    rows = []
    for i in range(first_seed | 1, (first_seed | 1) + 2 * truths, 2):
        seed = 1000 * k + i
        truth = scenario_from_dict(perturbed(data, np.random.default_rng(seed), 0.3, i % 3 == 2), f"{name} moved")
        p1, p2, m1, m2, leave = _panels(truth, 7_000_000 + seed, histories)
        weight = {r: role.headcount * float(expected_monthly_revenue(role, 0.0).sum()) for r, role in truth.roles.items()}
        for h in range(histories):
            jk, boot, num, den = [], [], 0.0, 0.0
            for r, role in truth.roles.items():
                s = np.asarray(role.season)
                num += weight[r] * float(m2[h] @ s) / s.sum()
                den += weight[r] * float(m1[h] @ s) / s.sum()
                keep = ~p1[r].new_hire[h] & ~leave[r][h]
                a = p1[r].measures["revenue"][h].sum(-1)[keep]
                b = p2[r].measures["revenue"][h].sum(-1)[keep]
                if len(a) < MIN_REPS or a.sum() <= 0:
                    continue
                ratio, se = ratio_jackknife(a, b)
                jk.append((ratio - 1.0, se, len(a)))
                i_ = gen.integers(0, len(a), (50, len(a)))
                boot.append((ratio - 1.0, float(np.std(b[i_].sum(1) / a[i_].sum(1), ddof=1)), len(a)))
            if not jk:
                continue
            true = num / den - 1.0
            v, se, _, df = combine_roles(jk)
            vb, seb, _, _ = combine_roles(boot)
            rows.append({"scenario": name, "seed": seed, "few": i % 3 == 2, "truth": true,
                         "z": (v - true) / se, "covered": abs(v - true) <= stats.t.ppf(0.5 + level / 2, df) * se,
                         "z_old": (vb - true) / seb, "covered_old": abs(vb - true) <= z * seb})
        print(f"{name} seed {seed}", file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.market_change", description=__doc__.split("\n")[0])
    ap.add_argument("--truths", type=int, default=60, help="moved truths per scenario (default 60)")
    ap.add_argument("--histories", type=int, default=100, help="two-year histories per truth (default 100)")
    ap.add_argument("--first-seed", type=int, default=1401, help="index of the first truth (odd; default 1401)")
    ap.add_argument("--scenarios", help=f"comma-separated (default {','.join(SCENARIOS)})")
    args = ap.parse_args(argv)
    if args.truths < 1 or args.histories < 2:
        ap.error("--truths must be at least 1 and --histories at least 2")
    scen = [s.strip() for s in args.scenarios.split(",")] if args.scenarios else list(SCENARIOS)
    f = pd.concat([audit(s, args.first_seed, args.truths, args.histories) for s in scen], ignore_index=True)
    tab = f.groupby(["scenario", "few"]).agg(n=("z", "size"), jackknife_t=("covered", "mean"), sd_z=("z", "std"),
                                              bootstrap_normal=("covered_old", "mean"), sd_z_old=("z_old", "std"))
    with pd.option_context("display.width", 200, "display.max_columns", 10, "display.precision", 3):
        print(tab)
    print(f"\n{len(f)} intervals: jackknife-t covers {f['covered'].mean():.1%} (sd z {f['z'].std():.2f}), "
          f"bootstrap-normal {f['covered_old'].mean():.1%} (sd z {f['z_old'].std():.2f}); nominal 90%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
