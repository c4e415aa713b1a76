"""`python -m analytics redteam`: plant attacks into copies of a project and score the defences.

Prints the scorecard (mean and 95% interval over seeds per attack type) and writes
``DIR/scorecard.json``, ``DIR/scorecard.csv`` (one row per attack: each metric, its ``_lo``
and ``_hi``), ``DIR/scorecard_seeds.csv`` (one row per seed); with ``--grid`` also
``DIR/grid.csv``. The project itself is only read; ``--save-copy`` additionally stores the
first seed's attacked copy as a new project of the workspace.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import UTC, datetime
from pathlib import Path

from analytics.cli import add_workspace_args
from analytics.cli.progress import progress_printer


def add_parser(sub) -> None:
    from analytics.redteam.attacks import ATTACKS

    p = sub.add_parser("redteam", help="plant attacks into a copy of a project and score how well they are caught",
                       description=__doc__)
    add_workspace_args(p)
    p.add_argument("--attack", required=True, choices=[*ATTACKS, "all"], help="attack to plant ('all': each in turn)")
    p.add_argument("--share", type=float, default=0.1, help="attacker accounts per original worker (default 0.1)")
    p.add_argument("--seeds", type=int, default=5, help="number of seeds 0..n-1 (default 5)")
    p.add_argument("--out", required=True, help="output folder for scorecard.json / scorecard.csv / grid.csv")
    p.add_argument("--grid", default=None, help="sweep one parameter, e.g. share=0.05,0.1,0.2 or gamma=0,0.3,0.7")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="attack parameter, repeatable (e.g. --param gamma=0.5 --param crowd=true)")
    p.add_argument("--method", default=None, help="aggregation model of the analysis (default: the settings' model)")
    p.add_argument("--save-copy", action="store_true",
                   help="also store the first seed's attacked copy as a new project of the workspace "
                        "(needs an analyst account: --user)")
    from analytics.cli.common import add_auth_args

    add_auth_args(p)
    p.set_defaults(func=run)


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item"):
        return _clean(v.item())
    return v


def _default(attack: str, name: str):
    """The attack parameter's default value (None when unknown), to reuse the grid's rows."""
    import dataclasses

    from analytics.redteam.attacks import PARAMS

    for f in dataclasses.fields(PARAMS.get(attack, object)) if attack in PARAMS else ():
        if f.name == name:
            return f.default
    return None


def _project_settings(ws, pid):
    """The project's saved trust settings (the analysis the manager configured), or the defaults."""
    try:
        from analytics.pipeline import project_settings
    except ImportError:
        return None
    return project_settings(ws.con.cursor(), pid)


def run(args) -> int:
    import pandas as pd

    from analytics.cli.common import open_ws, resolve_project, sign_in
    from analytics.dataset import load_project
    from analytics.errors import UserError
    from analytics.redteam import scorecard
    from analytics.redteam.grid import parse_grid, parse_value, sweep
    from analytics.redteam.workspace import inject_project

    params = {}
    for item in args.param:
        name, sep, val = item.partition("=")
        if not sep or not name.strip():
            raise UserError(f"--param must look like NAME=VALUE (e.g. gamma=0.5), got {item!r}")
        params[name.strip()] = parse_value(val)
    if args.seeds < 1:
        raise UserError(f"--seeds must be at least 1, got {args.seeds}")
    out = Path(args.out)
    ws = open_ws(args, read_only=not args.save_copy)
    try:
        project, pid = resolve_project(ws, args.project)
        data = load_project(ws.con.cursor(), pid)   # cursor: resolve_project leaves a half-fetched result
        settings = _project_settings(ws, pid)
        copy_name = None
        if args.save_copy:
            copy_name = inject_project(ws, project, args.attack, args.share, 0, actor=sign_in(args, ws), **params)
    finally:
        ws.close()
    if data.gold_task.size == 0:
        print(f"warning: project {project!r} has no gold: accuracy metrics are empty and every original worker "
              "counts as honest", file=sys.stderr)
    analyze = scorecard.pipeline_analyzer(settings, method=args.method)
    progress = progress_printer()
    seeds = list(range(args.seeds))
    if args.grid:
        gparam, values = parse_grid(args.grid)
        grid_summary, rows = sweep(data, args.attack, gparam, values, share=args.share, seeds=seeds,
                                   analyze=analyze, progress=progress, **params)
        base = args.share if gparam == "share" else params.get(gparam, _default(args.attack, gparam))
        rows_main = rows[rows[gparam] == base] if base is not None and (rows[gparam] == base).any() else None
    else:
        grid_summary, rows_main = None, None
    if rows_main is None or not len(rows_main):
        rows_main = scorecard.evaluate(data, args.attack, share=args.share, seeds=seeds, analyze=analyze,
                                       progress=progress, **params)
    summary = scorecard.summarize(rows_main)
    out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(out / "scorecard.csv", index=False)
    rows_main.to_csv(out / "scorecard_seeds.csv", index=False)
    doc = {
        "project": project, "workspace": str(args.workspace), "attack": args.attack, "share": args.share,
        "seeds": seeds, "params": params, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "interval": "Student-t 95% over seeds",
        "attacks": {r["attack"]: {m: _clean(r[m]) for m in scorecard.METRICS if m in r}
                    for r in summary.to_dict("records")},
        "ci95": {r["attack"]: {m: [_clean(r[f"{m}_lo"]), _clean(r[f"{m}_hi"])] for m in scorecard.METRICS
                               if f"{m}_lo" in r} for r in summary.to_dict("records")},
    }
    if copy_name:
        doc["saved_copy"] = copy_name
    (out / "scorecard.json").write_text(json.dumps(doc, indent=2, default=str))
    if grid_summary is not None:
        grid_summary.to_csv(out / "grid.csv", index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        print(f"red team on {project}: attack {args.attack}, share {args.share:g}, {len(seeds)} seed(s)")
        print(scorecard.format_table(summary).to_string(index=False))
        if grid_summary is not None:
            cols = [c for c in ("attack", gparam, "pr_auc", "acc_clean", "acc_attacked", "acc_defended",
                                "attack_success_rate", "attack_success_defended") if c in grid_summary.columns]
            print(f"\ngrid over {gparam}:")
            print(grid_summary[cols].round(3).to_string(index=False))
    print(f"wrote {out / 'scorecard.json'} and {out / 'scorecard.csv'}" + (" and grid.csv" if args.grid else ""))
    if copy_name:
        print(f"stored the attacked copy (seed 0) as project {copy_name!r}")
    return 0
