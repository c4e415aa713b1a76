"""`python -m analytics analyze`: analyse a project of a workspace and store the run."""

from __future__ import annotations

from analytics.cli import add_workspace_args
from analytics.cli.cmd_run import add_engine_args, engine_kw
from analytics.cli.common import add_auth_args, open_ws, resolve_project, sign_in
from analytics.cli.progress import progress_printer


def add_parser(sub) -> None:
    p = sub.add_parser("analyze", help="analyse a project and store the results as a new run")
    add_workspace_args(p)
    p.add_argument("--method", default=None, help="aggregation model (default: the project's setting, ds)")
    p.add_argument("--settings", metavar="FILE", default=None,
                   help="analysis settings (TOML or JSON, groups trust/reliability/behaviour/collusion); "
                        "saved as the project's settings")
    p.add_argument("--force", action="store_true", help="recompute even if an identical run exists")
    add_auth_args(p)
    add_engine_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from analytics.pipeline import analyze, save_project_settings
    from analytics.settings import load_settings_file

    settings = load_settings_file(args.settings) if args.settings else None
    kw = engine_kw(args)
    ws = open_ws(args)
    try:
        actor = sign_in(args, ws)
        name, pid = resolve_project(ws, args.project)
        if settings is not None:
            save_project_settings(ws, name, settings, actor)      # an admin's change
        run_id = analyze(ws, name, method=args.method, actor=actor, force=args.force,
                         progress=progress_printer(), engine=args.engine, engine_options=kw)
        row = ws.con.execute("SELECT duration_s, summary->>'n_suspect_workers', summary->>'n_suspect_items',"
                             " summary->>'crowd_wide_note' FROM runs WHERE run_id = ?", [run_id]).fetchone()
        print(f"project {name}: run {run_id} complete in {row[0]:.1f} s; "
              f"{row[1]} suspect workers, {row[2]} suspect items")
        if row[3]:
            print(f"note: {row[3]}")
    finally:
        ws.close()
    return 0
