"""``simlib plan export|import``: a scenario's plans as an XLSX workbook for finance, and back to scenario YAML."""

from __future__ import annotations

import argparse

from simlib.cli.args import check_out, write_out


def add_parser(subparsers) -> None:
    """Register ``simlib plan`` with its ``export`` and ``import`` subcommands."""
    p = subparsers.add_parser("plan", help="plan workbooks: export a scenario's plans to .xlsx, import them back to YAML")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    e = sub.add_parser("export", help="write the scenario's plans as an .xlsx workbook (one sheet per part of a plan)",
                       description="Write the scenario's plans as an Excel workbook finance can read and edit "
                                   "(docs/plan-workbook.md).")
    e.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    e.add_argument("--out", required=True, metavar="FILE.xlsx", help="workbook to write")
    e.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    e.set_defaults(func=run_export)
    i = sub.add_parser("import", help="convert a plan workbook back to a scenario YAML file (validated)",
                       description="Convert a plan workbook back to a validated scenario YAML file; a bad cell is "
                                   "refused with its sheet, cell and what was expected.")
    i.add_argument("workbook", metavar="WORKBOOK", help="plan workbook (.xlsx) written by simlib plan export, maybe edited")
    i.add_argument("--into", metavar="SCENARIO",
                   help="take roles, market, behaviour ... from this scenario and replace its plans with the "
                        "workbook's (default: the rest of the scenario kept in the workbook's Scenario sheet)")
    i.add_argument("--out", required=True, metavar="FILE.yaml", help="scenario YAML to write")
    i.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    i.set_defaults(func=run_import)


def run_export(args: argparse.Namespace) -> int:
    """Write the workbook; 0 on success."""
    from simlib.design.workbook import export_workbook
    from simlib.errors import SimlibError
    from simlib.scenario import load_scenario

    check_out(args.out, args.force, (".xlsx",))
    scen = load_scenario(args.scenario)
    try:
        export_workbook(scen, args.out)
    except OSError as exc:
        raise SimlibError(f"--out {args.out}: cannot write the file ({exc.strerror or exc})") from None
    print(f"wrote {args.out}: {len(scen.plans)} plan(s) x {len(scen.roles)} role(s) of '{scen.name}'; "
          f"edit it, then: simlib plan import {args.out} --out scenario.yaml")
    return 0


def run_import(args: argparse.Namespace) -> int:
    """Read, validate and write the scenario; 0 on success."""
    from simlib.design.workbook import read_workbook, scenario_yaml
    from simlib.scenario import load_scenario

    check_out(args.out, args.force, (".yaml", ".yml"))
    into = load_scenario(args.into) if args.into else None
    scen = read_workbook(args.workbook, into)
    write_out(args.out, scenario_yaml(scen, args.out))
    print(f"wrote {args.out}: scenario '{scen.name}' with plan(s) {list(scen.plans)} (current: '{scen.current_plan}'), "
          f"validated")
    return 0
