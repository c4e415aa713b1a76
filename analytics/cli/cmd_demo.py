"""`python -m analytics demo`: build the bundled demo workspace (see analytics/demo.py).

The workspace's first account is an admin (``--admin``, default ``admin``) with a random
one-time password printed here: sign in with it and choose a new password.
"""

from __future__ import annotations

from analytics.cli import add_workspace_args
from analytics.cli.progress import progress_printer


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="build the demo workspace (real act-cf data + a simulated project with attacks)")
    add_workspace_args(p, project=False, creates=True)
    p.add_argument("--no-analyze", action="store_true", help="only ingest; do not run the analysis")
    p.add_argument("--admin", default="admin", metavar="NAME", help="name of the demo admin account (default admin)")
    p.set_defaults(func=run)


def run(args) -> int:
    from analytics.cli.common import workspace_key
    from analytics.demo import build_demo

    demo = build_demo(args.workspace, admin=args.admin, analyze=not args.no_analyze, progress=progress_printer(),
                      encrypt=args.encrypt, key=workspace_key(args))
    print(f"demo workspace ready at {args.workspace}: projects {', '.join(demo.projects)}")
    bar = "=" * 78
    print(f"{bar}\n  Sign in to the dashboard as  {demo.admin}  with the one-time password  {demo.password}\n"
          f"  (you choose your own password at the first sign-in; it is shown only now)\n{bar}", flush=True)
    return 0
