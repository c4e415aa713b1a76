"""`python -m analytics monitor`: a project's quality per day, week or ingest batch (read-only)."""

from __future__ import annotations

import json

from analytics.cli import add_workspace_args
from analytics.cli.cmd_actions import open_ws_waiting
from analytics.cli.common import resolve_project


def add_parser(sub) -> None:
    p = sub.add_parser("monitor", help="quality over time: gold accuracy, agreement, suspects, new workers, drift, "
                                       "throughput and the alerts raised per period",
                       description="Print one line per period (day or week by the data's span; ingest batch without "
                                   "timestamps) with the numbers the alert rules test. Read-only.")
    add_workspace_args(p)
    p.add_argument("--unit", choices=["day", "week", "ingest"], default=None,
                   help="period length (default: days for data spanning up to 3 weeks, else weeks; "
                        "ingest batches when the labels carry no time)")
    p.add_argument("--json", action="store_true", help="print the full table as JSON records")
    p.set_defaults(func=run)


def run(args) -> int:
    from analytics.monitor.alerts import _jsonable
    from analytics.monitor.view import summary_table, timeline

    ws = open_ws_waiting(args, read_only=True)
    try:
        name, pid = resolve_project(ws, args.project)
        tl = timeline(ws.con, pid, unit=args.unit)
    finally:
        ws.close()
    if args.json:
        print(json.dumps({"project": name, "unit": tl.attrs.get("unit"), "run_id": tl.attrs.get("run_id"),
                          "periods": [_jsonable(r) for r in tl.to_dict(orient="records")]}, indent=1, default=str))
        return 0
    if tl.empty:
        print(f"project {name}: no labels yet")
        return 0
    run = tl.attrs.get("run_id")
    print(f"project {name}: {len(tl)} {tl.attrs['unit']} periods"
          + (f", verdicts of analysis run {run}" if run is not None else ", not analysed yet (no suspect shares)"))
    table = summary_table(tl)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}", max_colwidth=40))
    return 0
