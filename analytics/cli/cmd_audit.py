"""`python -m analytics audit verify|log`: check the hash chain, or list recent entries."""

from __future__ import annotations

import sys

from analytics.cli import add_workspace_args
from analytics.cli.cmd_actions import open_ws_waiting


def add_parser(sub) -> None:
    p = sub.add_parser("audit", help="the tamper-evident audit log: `audit verify` checks the chain, "
                                     "`audit log` lists the newest entries")
    asub = p.add_subparsers(dest="audit_command", metavar="SUBCOMMAND")
    v = asub.add_parser("verify", help="recompute the hash chain: exit 0 when intact, 1 naming the first bad entry")
    add_workspace_args(v, project=False)
    v.set_defaults(func=verify)
    lg = asub.add_parser("log", help="print the newest audit entries")
    add_workspace_args(lg)
    lg.add_argument("--limit", type=int, default=20, help="entries to print (default 20)")
    lg.add_argument("--accounts", action="store_true",
                    help="list the account entries instead: sign-in, sign-out, lockout, role changes ...")
    lg.set_defaults(func=log)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def verify(args) -> int:
    from analytics import audit

    ws = open_ws_waiting(args, read_only=True)
    try:
        res = audit.verify(ws.con, anchor=ws.path / audit.ANCHOR_NAME)
    finally:
        ws.close()
    if res.ok:
        print(res.message)
        if res.warning:
            print(f"warning: {res.warning}", file=sys.stderr)
        return 0
    print(f"audit chain BROKEN at entry {res.first_bad_seq}: {res.message}", file=sys.stderr)
    return 1


def log(args) -> int:
    from analytics import actions
    from analytics.access import account_events
    from analytics.cli.common import resolve_project

    ws = open_ws_waiting(args, read_only=True)
    try:
        if args.accounts:
            name, df = "workspace", account_events(ws.con, limit=args.limit)
        else:
            name, pid = resolve_project(ws, args.project)
            df = actions.history(ws.con, pid, limit=args.limit)
    finally:
        ws.close()
    if df.empty:
        print(f"project {name}: no audit entries")
        return 0
    df["created_at"] = df["created_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    cols = [c for c in ("seq", "created_at", "actor", "action", "target", "scope", "reason") if c in df.columns]
    shown = df[cols].astype(object).where(df[cols].notna(), "")   # no NaN/None in the listing
    print(shown.to_string(index=False, max_colwidth=60))
    return 0
