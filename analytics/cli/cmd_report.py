"""`python -m analytics report`: the suspects of a project's latest run, as a table."""

from __future__ import annotations

from analytics.cli import add_workspace_args
from analytics.cli.common import open_ws, resolve_project
from analytics.errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="print the suspect workers and items of the latest run")
    add_workspace_args(p)
    p.add_argument("--limit", type=int, default=20, help="rows per table (default 20)")
    p.set_defaults(func=run)


def run(args) -> int:
    from analytics.pipeline import latest_run

    ws = open_ws(args, read_only=True)
    try:
        name, pid = resolve_project(ws, args.project)
        run_id = latest_run(ws.con, pid)
        if run_id is None:
            raise UserError(f"project {name} has no analysis yet: run `python -m analytics analyze --project {name}`")
        con = ws.con
        head = con.execute("SELECT method, finished_at, summary FROM runs WHERE run_id = ?", [run_id]).fetchone()
        print(f"project {name}, run {run_id} ({head[0]}, {head[1]:%Y-%m-%d %H:%M} UTC)")
        w = con.execute("SELECT worker, n_labels, round(trust, 3) AS trust, reasons FROM run_workers"
                        " WHERE run_id = ? AND suspect ORDER BY trust, worker LIMIT ?", [run_id, args.limit]).df()
        n_w = con.execute("SELECT count(*) FILTER (suspect), count(*) FROM run_workers WHERE run_id = ?",
                          [run_id]).fetchone()
        print(f"\nsuspect workers: {n_w[0]} of {n_w[1]}")
        if len(w):
            print(w.to_string(index=False, max_colwidth=90))
        t = con.execute("SELECT task, label, round(confidence, 3) AS confidence, n_labels, reasons FROM run_tasks"
                        " WHERE run_id = ? AND suspect ORDER BY confidence, task LIMIT ?", [run_id, args.limit]).df()
        n_t = con.execute("SELECT count(*) FILTER (suspect), count(*) FROM run_tasks WHERE run_id = ?",
                          [run_id]).fetchone()
        print(f"\nsuspect items: {n_t[0]} of {n_t[1]}")
        if len(t):
            print(t.to_string(index=False, max_colwidth=90))
    finally:
        ws.close()
    return 0
