"""`python -m analytics demo`: build the bundled demo workspace (see analytics/demo.py)."""

from __future__ import annotations

from analytics.cli import add_workspace_args
from analytics.cli.progress import progress_printer


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="build the demo workspace (real act-cf data + a simulated project with attacks)")
    add_workspace_args(p, project=False)
    p.add_argument("--no-analyze", action="store_true", help="only ingest; do not run the analysis")
    p.set_defaults(func=run)


def run(args) -> int:
    from analytics.demo import build_demo

    names = build_demo(args.workspace, analyze=not args.no_analyze, progress=progress_printer())
    print(f"demo workspace ready at {args.workspace}: projects {', '.join(names)}")
    return 0
