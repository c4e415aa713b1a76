"""`python -m analytics delete-project NAME --reason R`: delete a project (admins)."""

from __future__ import annotations

from analytics.cli import add_workspace_args
from analytics.cli.common import add_auth_args, open_ws, sign_in


def add_parser(sub) -> None:
    p = sub.add_parser("delete-project", help="delete a project's labels, gold, ingests and runs (admins; the "
                       "audit log keeps its decisions)")
    p.add_argument("name", metavar="NAME", help="the project to delete")
    p.add_argument("--reason", required=True, help="why (required; kept in the audit log)")
    add_workspace_args(p, project=False)
    add_auth_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from analytics.projects import delete_project

    ws = open_ws(args)
    try:
        counts = delete_project(ws, args.name, args.reason, sign_in(args, ws))
    finally:
        ws.close()
    print(f"deleted project {args.name}: {counts.get('annotations', 0):,} labels, {counts.get('runs', 0)} runs, "
          f"{counts.get('ingests', 0)} ingests")
    return 0
