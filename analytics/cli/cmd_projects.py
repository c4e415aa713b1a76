"""`python -m analytics projects`: one line per project of a workspace."""

from __future__ import annotations

import argparse

from analytics.cli import add_workspace_args

HELP = "list the projects of a workspace: labels, workers, tasks, gold, time range"


def add_parser(sub) -> None:
    p = sub.add_parser("projects", help=HELP, description=HELP + ".")
    add_workspace_args(p, project=False)
    p.set_defaults(func=run)


def _time(v) -> str:
    if v is None or v != v:  # None or NaT
        return "-"
    return v.strftime("%Y-%m-%d %H:%M")


def run(args: argparse.Namespace) -> int:
    from analytics.catalog import project_summaries
    from analytics.cli.common import open_ws

    with open_ws(args, read_only=True) as ws:
        df = project_summaries(ws.con)
    if df.empty:
        print(f"workspace {args.workspace} has no projects; load one with `python -m analytics ingest FILE`")
        return 0
    width = max(len("project"), int(df["name"].str.len().max()))
    print(f"{'project':<{width}}  {'labels':>9}  {'workers':>7}  {'tasks':>8}  {'gold':>6}  time range (UTC)")
    for r in df.itertuples():
        span = "-" if _time(r.first_time) == "-" else f"{_time(r.first_time)} .. {_time(r.last_time)}"
        extra = f"  ({r.quarantined:,} quarantined)" if r.quarantined else ""
        print(f"{r.name:<{width}}  {r.labels:>9,}  {r.workers:>7,}  {r.tasks:>8,}  {r.gold:>6,}  {span}{extra}")
    return 0
