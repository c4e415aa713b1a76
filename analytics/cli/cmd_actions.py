"""`python -m analytics ban|unban|trust|untrust|requeue|unrequeue`: decisions with a reason.

Each command signs in as a manager (``--user`` / ``CROWDTRUST_USER``), appends one audit
entry per worker or task under that account (analytics.actions) and prints what changed. Ids come as arguments and/or from ``--from-file`` (one id per line), so a
selection of any size is one all-or-nothing action.
"""

from __future__ import annotations

from pathlib import Path

from analytics.cli import add_workspace_args
from analytics.cli.common import add_auth_args, open_ws, resolve_project, sign_in
from analytics.errors import UserError

_HELP = {
    "ban": "exclude workers' labels from aggregation and exports (nothing is deleted)",
    "unban": "lift a ban: the workers' labels count again",
    "trust": "mark workers as vetted (detectors still run; the verdict shows the override)",
    "untrust": "withdraw the vetted mark",
    "requeue": "put tasks on the re-queue list (export it with `export requeue`)",
    "unrequeue": "take tasks off the re-queue list",
}


def open_ws_waiting(args, read_only: bool = False, wait_s: float | None = None):
    """Open the workspace, waiting up to ``wait_s`` (default LOCK_WAIT_S) while another process holds its lock."""
    return open_ws(args, read_only=read_only, wait_s=wait_s)


def read_ids(args) -> list[str]:
    ids = list(args.ids or [])
    if getattr(args, "from_file", None):
        p = Path(args.from_file)
        if not p.exists():
            raise UserError(f"--from-file {p} does not exist")
        ids += [line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    return ids


def add_parser(sub) -> None:
    for name, help_text in _HELP.items():
        what = "TASK" if "queue" in name else "WORKER"
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_workspace_args(p)
        p.add_argument("ids", nargs="*", metavar=what, help=f"{what.lower()} ids")
        p.add_argument("--from-file", metavar="FILE", help=f"also read {what.lower()} ids from FILE, one per line")
        p.add_argument("--reason", required=True, help="why (required; kept in the audit log)")
        add_auth_args(p)
        if what == "WORKER":
            p.add_argument("--scope", choices=["project", "workspace"], default="project",
                           help="this project only (default) or every project of the workspace")
        p.set_defaults(func=run, action_name=name)


def run(args) -> int:
    from analytics import actions

    ids = read_ids(args)
    if not ids:
        raise UserError(f"name at least one id to {args.action_name} (or use --from-file)")
    ws = open_ws_waiting(args)
    try:
        actor = sign_in(args, ws)
        name, _pid = resolve_project(ws, args.project)
        fn = {"ban": actions.ban, "unban": actions.unban, "trust": actions.trust_workers,
              "untrust": actions.untrust_workers}.get(args.action_name)
        if fn is not None:
            res = fn(ws, name, ids, args.reason, actor, scope=args.scope)
        else:
            fn = actions.requeue if args.action_name == "requeue" else actions.unrequeue
            res = fn(ws, name, ids, args.reason, actor)
        print(f"project {name}: {res.summary()}")
    finally:
        ws.close()
    return 0
