"""Labelled results: tidy pandas DataFrames with Monte Carlo errors and provenance."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from simlib.engine.core import RawResult
from simlib.format import estimate, interval
from simlib.model.metrics import KEEP, METRICS, quantile_with_ci

#: cross-trial quantile metrics computed from kept per-trial values
TAIL_METRICS = {"p95_incentive_cost": "incentive_cost", "p95_total_comp": "total_comp"}

#: metrics kept in the summary and differences when no trial has a value (NaN, n 0): not applicable to that group,
#: which the tables say with why (the last month's share of a plan paid monthly, whose every month ends a period)
NOT_APPLICABLE = frozenset({"last_month_share"})


def tail_metrics(raw: RawResult) -> list[dict[str, Any]]:
    """The P95 tail metrics of every plan and group from the kept per-trial values.

    One dict per plan, group and tail metric: plan, group, metric, mean (the
    estimate), se, ci_low, ci_high (distribution-free order-statistic CI,
    :func:`simlib.model.metrics.quantile_with_ci`) and n (trials).
    """
    col = {key: i for i, key in enumerate(raw.layout.keep_index())}
    rows = []
    for plan in raw.layout.plans:
        for group in raw.layout.groups:
            for name, m in TAIL_METRICS.items():
                v = raw.keep[:, col[(plan, group, m)]]
                est, se, lo, hi = quantile_with_ci(v, 0.95)
                rows.append(dict(plan=plan, group=group, metric=name, mean=est, se=se, n=len(v), ci_low=lo, ci_high=hi))
    return rows


def metric_table(summary: pd.DataFrame, differences: pd.DataFrame, plans: list[str], reference: str, *,
                 group: str, metrics: list[str] | None, level, difference) -> pd.DataFrame:
    """A readable comparison of one group: one row per metric, text cells.

    Parameters
    ----------
    summary, differences : DataFrame
        Tidy levels (``plan``, ``group``, ``metric``, ...) and paired differences against ``reference``.
    plans, reference : list of str, str
        Plans in column order; the reference gets no difference columns.
    group : str
        Role or ``"total"``.
    metrics : list of str, optional
        Rows (default: every metric of the group, in summary order).
    level, difference : callable ``(plan, row) -> {column: text}``
        The cells a plan's level row, and its difference row, give; a metric
        without a row leaves its cells empty.
    """
    s = summary[summary["group"] == group]
    d = differences[differences["group"] == group]
    metrics = list(metrics or dict.fromkeys(s["metric"]))
    index = pd.Index(metrics, name="metric")
    parts = []
    for frame, names, cells in ((s, plans, level), (d, [p for p in plans if p != reference], difference)):
        for p in names:
            rows = frame[frame["plan"] == p].set_index("metric")
            parts.append(pd.DataFrame([cells(p, rows.loc[m]) if m in rows.index else {} for m in metrics], index=index))
    return pd.concat(parts, axis=1).fillna("")


def readable_metric_table(summary: pd.DataFrame, differences: pd.DataFrame, plans: list[str], reference: str, *,
                          group: str, metrics: list[str] | None = None, currency: str = "EUR") -> pd.DataFrame:
    """A group's comparison as ``simlib run`` prints it, rows still by metric id (:func:`metric_table`).

    Cells are :func:`simlib.present.fmt` texts: money in ``currency`` on one
    k / M scale per row, shares in %, differences signed (shares in points),
    each with its 95% CI half-width; a difference column ``Δ plan`` per plan
    other than ``reference``, ``*`` when its CI excludes 0.
    """
    import simlib.present as present

    lv = present.row_scales(summary[summary["group"] == group], "mean")  # one money scale per row of each table
    dv = present.row_scales(differences[differences["group"] == group], "diff")
    return metric_table(
        summary, differences, plans, reference, group=group, metrics=metrics,
        level=lambda p, r: {p: present.fmt(r["mean"], r["se"], r.name, currency, scale=lv[r.name],
                                           trials=r.get("n"))},
        difference=lambda p, r: {f"Δ {p}": present.fmt(r["diff"], r["se"], r.name, currency, signed=True,
                                                       scale=dv[r.name]) + (" *" if r["significant"] else "")},
    )


@dataclass
class SimulationResult:
    """What :func:`simlib.simulate` returns.

    Attributes
    ----------
    raw : RawResult
        Unlabelled numbers (means, SEs, kept per-trial values).
    provenance : dict
        Scenario hash, seed, simlib version, time, trials, plans.
    """

    raw: RawResult
    _frames: dict[str, pd.DataFrame] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def provenance(self) -> dict[str, Any]:
        return self.raw.provenance

    @property
    def plans(self) -> list[str]:
        return self.raw.layout.plans

    @property
    def reference(self) -> str:
        return self.raw.layout.reference

    @property
    def groups(self) -> list[str]:
        return self.raw.layout.groups

    # ------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """One row per plan, group (role or total) and metric: mean, se, 95% CI, n."""
        if "summary" not in self._frames:  # computed once; callers get a copy
            self._frames["summary"] = self._summary()
        return self._frames["summary"].copy()

    def _summary(self) -> pd.DataFrame:
        lay = self.raw.layout
        k = lay.n_levels
        idx = pd.DataFrame(lay.level_index(), columns=["plan", "group", "metric"])
        df = idx.assign(
            mean=self.raw.mean[:k],
            se=self.raw.se[:k],
            n=self.raw.n[:k].astype(int),
        )
        booked = self._booked()  # n/a with why, not left out, where the group booked revenue (else: no such metric)
        na = df["metric"].isin(NOT_APPLICABLE) & pd.Series([(p, g) in booked for p, g in zip(df["plan"], df["group"],
                                                                                               strict=True)],
                                                             index=df.index, dtype=bool)
        df = df[(df["n"] > 0) | na].copy()
        tails = tail_metrics(self.raw)
        df["ci_low"], df["ci_high"] = interval(df["mean"], df["se"])
        out = pd.concat([df, pd.DataFrame(tails)], ignore_index=True)
        units = {**{m: u for m, (_, u) in METRICS.items()}, **{m: "money" for m in TAIL_METRICS}}
        out["unit"] = out["metric"].map(units).fillna("")
        return out[["plan", "group", "metric", "mean", "se", "ci_low", "ci_high", "n", "unit"]]

    def differences(self) -> pd.DataFrame:
        """Paired differences (plan - reference) on common random numbers, with SE and 95% CI; ``significant`` when the
        CI excludes 0 and the difference is more than rounding (1e-12 of the plans' levels)."""
        if "differences" not in self._frames:  # computed once; callers get a copy
            self._frames["differences"] = self._differences()
        return self._frames["differences"].copy()

    def _differences(self) -> pd.DataFrame:
        lay = self.raw.layout
        k = lay.n_levels
        per = len(lay.groups) * len(lay.metrics)
        booked = self._booked()
        rows = []
        for i, p in enumerate(lay.diff_plans):
            off = k + i * per
            j = 0
            for g in lay.groups:
                for m in lay.metrics:
                    n = int(self.raw.n[off + j])
                    if n > 0 or (m in NOT_APPLICABLE and ((p, g) in booked or (lay.reference, g) in booked)):
                        d, se = self.raw.mean[off + j], self.raw.se[off + j]
                        lo, hi = interval(d, se)
                        rows.append(dict(plan=p, reference=lay.reference, group=g, metric=m, diff=d, se=se,
                                         ci_low=lo, ci_high=hi, n=n))
                    j += 1
        df = pd.DataFrame(rows, columns=["plan", "reference", "group", "metric", "diff", "se", "ci_low", "ci_high", "n"])
        df["significant"] = ((df["ci_low"] > 0) | (df["ci_high"] < 0)) & ~self._rounding(df)
        return df

    def _booked(self) -> set[tuple[str, str]]:
        """(plan, group) pairs whose mean revenue is above 0: there a metric of :data:`NOT_APPLICABLE` without
        trials is not applicable (a plan paid monthly), not missing for want of revenue (an overlay role)."""
        lay = self.raw.layout
        return {(p, g) for (p, g, m), v, n in zip(lay.level_index(), self.raw.mean[: lay.n_levels],
                                                   self.raw.n[: lay.n_levels], strict=True)
                if m == "revenue" and n > 0 and v > 0}

    def _rounding(self, df: pd.DataFrame) -> pd.Series:
        """Differences within 1e-12 of the larger of the two plans' levels: rounding, not an effect (pay equal in
        exact arithmetic, such as team pay on teams of one, differs in the last bits, and so by a tiny but steady
        amount whose CI can exclude 0)."""
        lay = self.raw.layout
        level = dict(zip(lay.level_index(), np.abs(self.raw.mean[: lay.n_levels]), strict=True))
        scale = [max(level[(p, g, m)], level[(lay.reference, g, m)])
                 for p, g, m in zip(df["plan"], df["group"], df["metric"], strict=True)]
        return pd.Series(np.abs(df["diff"].to_numpy(float)) <= 1e-12 * np.asarray(scale, float), index=df.index)

    def trials(self) -> pd.DataFrame:
        """Per-trial kept values (revenue, incentive cost, total comp, profit) per plan and group."""
        lay = self.raw.layout
        keep = self.raw.keep
        T = keep.shape[0]
        frames = []
        ncol = len(KEEP)
        for i, (p, g) in enumerate((p, g) for p in lay.plans for g in lay.groups):
            block = keep[:, i * ncol : (i + 1) * ncol]
            f = pd.DataFrame(block, columns=list(KEEP))
            f.insert(0, "group", g)
            f.insert(0, "plan", p)
            f.insert(0, "trial", np.arange(T))
            frames.append(f)
        return pd.concat(frames, ignore_index=True)

    def table(self, group: str = "total", metrics: list[str] | None = None) -> pd.DataFrame:
        """Human-readable comparison: one row per metric, per plan and per paired difference.

        Cells are :func:`simlib.format.estimate` texts (mean ± 95% CI
        half-width, rounded to what the SE allows); a difference whose CI
        excludes 0 is marked ``*``.
        """
        ref = self.reference
        return metric_table(
            self.summary(), self.differences(), self.plans, ref, group=group, metrics=metrics,
            level=lambda p, r: {p: estimate(r["mean"], r["se"])},
            difference=lambda p, r: {f"{p} - {ref}": estimate(r["diff"], r["se"]) + (" *" if r["significant"] else "")},
        )

    def readable(self, group: str = "total", metrics: list[str] | None = None,
                 currency: str | None = None) -> pd.DataFrame:
        """The comparison as ``simlib run`` prints it: rows by display name (:func:`simlib.present.label`), money
        in the scenario's currency (``currency`` overrides it) on k / M, shares in %, ``Δ plan`` differences
        (:func:`readable_metric_table`). :meth:`table` keeps metric ids; :meth:`summary` the numbers."""
        import simlib.present as present

        cur = currency or self.provenance.get("currency") or "EUR"
        out = readable_metric_table(self.summary(), self.differences(), self.plans, self.reference, group=group,
                                    metrics=metrics, currency=cur)
        out.index = pd.Index([present.label(m) for m in out.index], name="metric")
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: provenance, summary and differences records."""

        def clean(records):
            return [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()} for r in records]

        return {
            "provenance": self.provenance,
            "summary": clean(self.summary().to_dict(orient="records")),
            "differences": clean(self.differences().to_dict(orient="records")),
        }

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), default=_json_default, **kw)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
