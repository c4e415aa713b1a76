"""`python -m analytics project delete|restore|purge NAME` and `... project undo-ingest|restore-ingest|purge-ingest ID`.

Deleting a project or undoing an ingest takes effect at once and can be reversed until the
``purge`` step confirms it (:mod:`analytics.lifecycle`); every step is an audit entry under the
signed-in account (``--user``): undoing and restoring an ingest need an analyst, deleting
projects and confirming deletions an admin.
"""

from __future__ import annotations

from analytics.cli import add_workspace_args
from analytics.cli.common import add_auth_args, open_ws, sign_in

HELP = "delete / restore / purge a project, or undo / restore / purge an ingest (two steps, audited)"
STEPS = {
    "delete": ("delete_project", "project", "hide a project everywhere (restorable until purged)"),
    "restore": ("restore_project", "project", "bring back a deleted project"),
    "purge": ("purge_project", "project", "confirm a deletion: remove the project's data for good"),
    "undo-ingest": ("withdraw_ingest", "ingest", "hold an ingest's rows back (restorable until purged)"),
    "restore-ingest": ("restore_ingest", "ingest", "put an undone ingest's rows back exactly"),
    "purge-ingest": ("purge_ingest", "ingest", "confirm an undo: remove the held rows for good"),
}


def add_parser(sub) -> None:
    p = sub.add_parser("project", help=HELP, description=__doc__.split("\n\n")[1])
    psub = p.add_subparsers(dest="project_command", metavar="STEP")
    for name, (_, what, help_) in STEPS.items():
        s = psub.add_parser(name, help=help_)
        s.add_argument("target", metavar="NAME" if what == "project" else "INGEST_ID",
                       help="project name" if what == "project" else "ingest id (see the Data page or `projects`)")
        add_workspace_args(s, project=False)
        add_auth_args(s)
        if name in ("delete", "undo-ingest"):
            s.add_argument("--reason", default="", help="why (recorded in the audit log)")
        s.set_defaults(func=run, step=name)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run(args) -> int:
    from analytics import lifecycle
    from analytics.errors import UserError

    fn, what, _ = STEPS[args.step]
    target = args.target
    if what == "ingest":
        try:
            target = int(target)
        except ValueError:
            raise UserError(f"ingest id {args.target!r} is not a number; see the ingest history") from None
    extra = [args.reason] if hasattr(args, "reason") else []
    with open_ws(args) as ws:
        out = getattr(lifecycle, fn)(ws, target, sign_in(args, ws), *extra)
    print(f"{args.step}: " + ", ".join(f"{k} {v}" for k, v in out.items()))
    return 0
