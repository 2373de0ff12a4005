"""``simlib replay SCENARIO HISTORY [--plan P ...]``: recorded history through any plan's pay rules, reconciled.

Exit status 0 when the plan in force reconciles with the recorded payouts to
the cent (or the history records none), 1 when some rep differs (each is
listed) or on an input error.
"""

from __future__ import annotations

import argparse
import sys

from simlib.cli.args import add_output_arguments, check_out, print_skipped, resolve_output, write_table

#: output formats of replay (``--format`` / the ``--out`` file's ending)
FORMATS = ("table", "csv", "json", "xlsx", "parquet")


def add_parser(subparsers) -> None:
    """Register ``simlib replay``."""
    r = subparsers.add_parser(
        "replay", help="replay recorded rep-months through plans' pay rules (no simulation); reconcile the payouts",
        description="Take every recorded rep-month of the history through each plan's pay rules (no random "
                    "draws): per role and year, quota, revenue, the recorded payout and each plan's incentive "
                    "cost. Exit 1 if the plan in force does not give back the recorded payouts to the cent.")
    r.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file: roles, pay levels and plans")
    r.add_argument("history", metavar="HISTORY", help="rep-level monthly history (.csv or .parquet; docs/history-format.md)")
    r.add_argument("--plan", nargs="+", metavar="P", help="plans to replay (default: every plan of the scenario)")
    r.add_argument("--in-force", metavar="P",
                   help="the plan the recorded quotas and payouts were made under (default: the current plan)")
    r.add_argument("--year", type=int, help="replay only this year of the history")
    r.add_argument("--on-error", choices=("stop", "skip"), default="stop",
                   help="bad rows: stop and list them (default), or skip them and report the count")
    r.add_argument("--role-map", nargs="+", metavar="FILE_ROLE=SCENARIO_ROLE",
                   help="read the file's role names as the scenario's (e.g. inside_sales=telesales)")
    add_output_arguments(r, FORMATS, what="the per-rep table (one row per rep and year, a pay column per plan; "
                                          "json: its rows; xlsx: a sheet per table, with totals, mismatches, "
                                          "components and notes)")
    r.add_argument("--mismatches", metavar="FILE", help="also write the reps that do not reconcile (.csv or .json)")
    r.add_argument("--components", metavar="FILE",
                   help="also write each component's pay per rep, year and plan (.csv, .parquet or .json)")
    r.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Replay, print totals, every mismatch and the verdict; 0 when reconciled (or nothing to reconcile), else 1."""
    from simlib.errors import SimlibError
    from simlib.fit.calibrate import load_for
    from simlib.fit.replay import replay

    out = resolve_output(args, FORMATS)
    check_out(args.mismatches, args.force, (".csv", ".json"))
    check_out(args.components, args.force)
    scen, hist = load_for(args.scenario, args.history, args.on_error, args.role_map)
    print_skipped(hist)
    if args.year is not None:
        if args.year not in hist.years:
            raise SimlibError(f"--year {args.year}: {hist.source} has years {hist.years}")
        hist = hist.year(args.year)
    rp = replay(scen, hist, args.plan, in_force=args.in_force)
    lines = [f"replay of {hist.source} ({len(rp.reps)} rep-years, years {hist.years}) under plan(s) {rp.plans}; "
             f"in force: '{rp.in_force}' (no simulation: the recorded months through each plan's pay rules)",
             format_totals(rp.totals, rp.plans)]
    if not rp.mismatches.empty:
        lines += [f"reps whose pay recomputed under '{rp.in_force}' differs from the recorded payout:",
                  format_mismatches(rp.mismatches)]
    lines += [f"note: {n}" for n in rp.notes]
    out.emit(text=lambda: "\n".join(lines), tables=lambda: replay_tables(rp), main="reps",
             json=lambda: rp.reps.to_json(orient="records", indent=1))
    # a csv or json document on stdout stays clean: the rest goes to stderr
    info = sys.stdout if out.format == "table" or out.path else sys.stderr
    for path, table in ((args.mismatches, rp.mismatches), (args.components, rp.components)):
        if path:
            write_table(table, path)
            print(f"wrote {path}", file=info)
    print(rp.summary(), file=info)
    return 1 if rp.reconciled is False else 0


def replay_tables(rp) -> dict:
    """Sheets of a replay: per rep, totals, mismatches, each component's pay, notes."""
    import pandas as pd

    return {"reps": rp.reps, "totals": rp.totals, "mismatches": rp.mismatches, "components": rp.components,
            "notes": pd.DataFrame({"note": list(rp.notes)})}


def format_totals(totals, plans: list[str]) -> str:
    """The totals per year and role as text, as ``run``'s tables read: display names, money with its currency.

    Money to three significant digits on a k / M scale (``1.08 M USD``), each
    amount with the currency it is in (a role's own; the total's is the
    scenario's, see :func:`simlib.fit.replay._totals`); the per-rep table and
    the mismatches keep the cents.
    """
    import simlib.present as present

    money = {"quota": "Quota", "revenue": "Revenue", "recorded": "Recorded payouts",
             **{p: present.readable(p) for p in plans}}
    t = totals.copy()
    out = {"Year": t["year"], "Role": [present.readable(r) for r in t["role"]], "Reps": t["reps"].astype(int)}
    for c, name in money.items():
        out[name] = ["" if v != v else present.fmt_value(v, unit_="money", currency=cur)
                     for v, cur in zip(t[c], t["currency"], strict=True)]
    return _blocks(out, ["Year", "Role", "Reps"], width=100)


def _blocks(columns: dict, keep: list[str], width: int) -> str:
    """A text table of ``columns`` in blocks of at most ``width`` characters, each block led by the ``keep`` columns."""
    import pandas as pd

    frame = pd.DataFrame(columns)
    rest = [c for c in frame.columns if c not in keep]
    blocks, block = [], []
    for c in rest:
        if block and len(frame[[*keep, *block, c]].to_string(index=False).splitlines()[0]) > width:
            blocks.append(block)
            block = []
        block.append(c)
    blocks.append(block)
    return "\n\n".join(frame[[*keep, *b]].to_string(index=False) for b in blocks)


def format_mismatches(mismatches) -> str:
    """The reps that do not reconcile as text: display names, money to the cent with the role's currency."""
    import pandas as pd

    import simlib.present as present

    m = mismatches
    out = {"Year": m["year"], "Role": [present.readable(r) for r in m["role"]], "Team": m["team"].fillna(""),
           "Rep": m["rep_id"]}
    for c, sign in (("recorded", ""), ("recomputed", ""), ("difference", "+")):
        out[c.capitalize()] = ["" if v != v else f"{v:{sign},.2f} {cur}" for v, cur in zip(m[c], m["currency"], strict=True)]
    return pd.DataFrame(out).to_string(index=False)
