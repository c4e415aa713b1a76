"""`python -m analytics impact WORKER...`: what a ban would change, before it is made."""

from __future__ import annotations

import json

from analytics.cli import add_workspace_args
from analytics.cli.cmd_actions import open_ws_waiting, read_ids
from analytics.errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser("impact", help="preview a ban: changed labels, items left short of trusted labels, gold accuracy")
    add_workspace_args(p)
    p.add_argument("ids", nargs="*", metavar="WORKER", help="worker ids to preview banning")
    p.add_argument("--from-file", metavar="FILE", help="also read worker ids from FILE, one per line")
    p.add_argument("--refit", action="store_true", help="re-fit the model without them (exact; slower on large projects)")
    p.add_argument("--min-trusted", type=int, default=None,
                   help="items with fewer trusted labels are listed for re-queue (default: project setting)")
    p.add_argument("--limit", type=int, default=20, help="changed labels to print (default 20)")
    p.add_argument("--json", action="store_true", help="print the summary and the changed labels as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from analytics.impact import preview_workspace

    ids = read_ids(args)
    if not ids:
        raise UserError("name at least one worker to preview (or use --from-file)")
    ws = open_ws_waiting(args, read_only=True)
    try:
        from analytics.cli.common import resolve_project

        name, pid = resolve_project(ws, args.project)
        prev = preview_workspace(ws.con, pid, ids, refit=args.refit, min_trusted_labels=args.min_trusted)
    finally:
        ws.close()
    s = prev.summary()
    if args.json:
        print(json.dumps({"project": name, **s, "changed": prev.changed.to_dict(orient="records"),
                          "requeue": prev.requeue}, default=str, indent=2))
        return 0
    print(f"project {name}: banning {len(prev.workers)} worker(s) removes {s['n_labels_removed']} labels "
          f"on {s['n_tasks_touched']} tasks ({s['mode']} {s['method']}{', exact' if s['exact'] else ''})")
    print(f"labels that change: {s['n_labels_changed']} (left without any label: {s['n_left_without_labels']}); "
          f"mean TV shift on touched tasks {s['mean_tv_touched']:.3f}")
    print(f"items left with fewer than {s['min_trusted_labels']} trusted labels (suggested re-queue): {s['n_below_min']}")
    g = s["gold"]
    if g:
        print(f"gold accuracy ({g['n_gold']} gold tasks): {g['acc_before']:.3f} -> {g['acc_after']:.3f} "
              f"({g['delta']:+.3f})")
    for note in s.get("notes", []):
        print(f"note: {note}")
    if len(prev.changed):
        ch = prev.changed.head(args.limit).copy()
        for c in ("old_conf", "new_conf", "tv"):
            ch[c] = ch[c].round(3)
        print(ch.to_string(index=False))
    return 0
