"""`python -m analytics export KIND --out FILE`: labels, reports and platform files, with a manifest.

The manifest (input hashes, run, banned set, audit-chain head, time, the signed-in account) is written
beside the file as ``FILE.manifest.json``, and the export is recorded in the audit log.
"""

from __future__ import annotations

from analytics.cli import add_workspace_args
from analytics.cli.cmd_actions import open_ws_waiting
from analytics.cli.common import add_auth_args, resolve_project, sign_in


def add_parser(sub) -> None:
    from analytics.export import FORMATS, FORMS, KINDS

    p = sub.add_parser("export", help="export labels without banned workers, reports, platform block/re-queue files")
    add_workspace_args(p)
    p.add_argument("kind", choices=KINDS, help="what to export")
    p.add_argument("--out", required=True, metavar="FILE", help="output file; the manifest goes to FILE.manifest.json")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="csv, parquet or jsonl (default: from the file extension, else csv)")
    p.add_argument("--form", choices=FORMS, default="canonical",
                   help="requeue only: canonical task list, or the source platform's input form")
    add_auth_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from analytics.export import write_export

    ws = open_ws_waiting(args)
    try:
        actor = sign_in(args, ws)
        name, _pid = resolve_project(ws, args.project)
        out, man, exp = write_export(ws, name, args.kind, args.out, fmt=args.format, actor=actor, form=args.form)
    finally:
        ws.close()
    print(f"project {name}: wrote {len(exp.frame)} rows to {out} ({exp.fmt}, sha256 {exp.sha256[:12]}); "
          f"manifest {man}; audit entry {exp.manifest['audit']['seq']}")
    return 0
