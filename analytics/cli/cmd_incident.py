"""`python -m analytics incident open|attach|show|list|contain|repair|close|report`: incident response.

``incident open --project P (--from-alert ID | --workers W1,W2,...) [--title T]`` prints
``incident N``; ``contain N`` bans its workers (the impact preview is printed first);
``repair N`` re-queues items left without enough trusted labels, re-analyses without the banned
workers and writes corrected exports with diffs against each affected delivered export;
``close N --note TEXT``; ``report N --out FILE`` writes JSON or self-contained HTML by the
file's extension. Every step is recorded in the audit chain; the steps that change the
workspace sign in as a manager (``--user`` / ``CROWDTRUST_USER``).
"""

from __future__ import annotations

import json

from analytics.cli import add_workspace_args
from analytics.cli.cmd_actions import open_ws_waiting
from analytics.cli.common import add_auth_args, resolve_project, sign_in
from analytics.cli.progress import progress_printer
from analytics.errors import UserError


def _ids(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def add_parser(sub) -> None:
    p = sub.add_parser("incident", help="open, scope, contain, repair, close and report a poisoning incident",
                       description=__doc__.split("\n\n", 1)[1])
    isub = p.add_subparsers(dest="incident_command", metavar="SUBCOMMAND")

    def cmd(name: str, help_text: str, number: bool = True, write: bool = True):
        c = isub.add_parser(name, help=help_text, description=help_text)
        add_workspace_args(c)
        if number:
            c.add_argument("incident", type=int, metavar="N", help="incident number")
        if write:
            add_auth_args(c)
        return c

    o = cmd("open", "open an incident from an alert or a list of workers; prints `incident N`", number=False)
    src = o.add_mutually_exclusive_group(required=True)
    src.add_argument("--from-alert", type=int, metavar="ID", help="the alert whose workers start the incident")
    src.add_argument("--workers", metavar="W1,W2,...", help="comma-separated worker ids")
    o.add_argument("--title", default=None, help="a short title (default: from the alert)")
    o.add_argument("--severity", choices=["low", "medium", "high", "critical"], default=None,
                   help="default: high for a critical alert, else medium")
    o.set_defaults(func=run_open)
    a = cmd("attach", "add alerts or workers to an incident")
    a.add_argument("--alert", type=int, action="append", default=[], metavar="ID", help="an alert (repeatable)")
    a.add_argument("--workers", default=None, metavar="W1,W2,...", help="comma-separated worker ids")
    a.set_defaults(func=run_attach)
    c = cmd("contain", "ban the incident's workers (prints the impact preview)")
    c.add_argument("--reason", default=None, help="reason recorded with the bans (default: the incident and its title)")
    c.set_defaults(func=run_contain)
    r = cmd("repair", "re-queue, re-aggregate and write corrected exports with diffs")
    r.add_argument("--out-dir", default=None, help="where corrected exports go (default: <workspace>/incidents/N)")
    r.set_defaults(func=run_repair)
    cl = cmd("close", "close the incident with a review note")
    cl.add_argument("--note", required=True, help="the review note (required)")
    cl.set_defaults(func=run_close)
    rp = cmd("report", "write the incident report (.json or .html by the extension)", write=False)
    rp.add_argument("--out", required=True, metavar="FILE", help="report file: FILE.json or FILE.html")
    rp.set_defaults(func=run_report)
    sh = cmd("show", "print the incident's scope: workers, onset, items, affected exports", write=False)
    sh.add_argument("--json", action="store_true", help="print the full report data as JSON")
    sh.set_defaults(func=run_show)
    ls = cmd("list", "list the project's incidents", number=False, write=False)
    ls.set_defaults(func=run_list)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_open(args) -> int:
    from analytics.incidents.records import open_incident

    ws = open_ws_waiting(args)
    try:
        name, _ = resolve_project(ws, args.project)
        workers = _ids(args.workers)
        if args.workers is not None and not workers:
            raise UserError("--workers is empty: give comma-separated worker ids")
        iid = open_incident(ws, name, sign_in(args, ws),
                            alert_ids=[args.from_alert] if args.from_alert is not None else [],
                            workers=workers, title=args.title, severity=args.severity)
    finally:
        ws.close()
    print(f"incident {iid}")
    return 0


def run_attach(args) -> int:
    from analytics.incidents.records import attach

    ws = open_ws_waiting(args)
    try:
        name, _ = resolve_project(ws, args.project)
        res = attach(ws, name, args.incident, sign_in(args, ws), alert_ids=args.alert,
                     workers=_ids(args.workers))
    finally:
        ws.close()
    print(f"incident {args.incident}: attached {len(res['alerts'])} alert(s) and {len(res['workers'])} worker(s) "
          f"(audit entry {res['audit_seq']})")
    return 0


def run_contain(args) -> int:
    from analytics.incidents.response import contain

    ws = open_ws_waiting(args)
    try:
        name, _ = resolve_project(ws, args.project)
        res = contain(ws, name, args.incident, sign_in(args, ws), reason=args.reason)
    finally:
        ws.close()
    imp = res["impact"]
    print(f"incident {args.incident}: impact preview: {imp['n_labels_removed']} labels removed on "
          f"{imp['n_tasks_touched']} items, {imp['n_labels_changed']} aggregated labels change, "
          f"{imp['n_below_min']} items fall below {imp['min_trusted_labels']} trusted labels"
          + (f", gold accuracy {imp['gold']['acc_before']:.1%} -> {imp['gold']['acc_after']:.1%}" if imp.get("gold")
             else ""))
    print(f"incident {args.incident}: banned {len(res['banned'])} workers (audit entries "
          f"{res['ban_seqs'][0]}-{res['ban_seqs'][-1]}); status contained")
    return 0


def run_repair(args) -> int:
    from analytics.incidents.response import repair

    ws = open_ws_waiting(args)
    try:
        name, _ = resolve_project(ws, args.project)
        res = repair(ws, name, args.incident, sign_in(args, ws), out_dir=args.out_dir,
                     progress=progress_printer())
    finally:
        ws.close()
    print(f"incident {args.incident}: re-queued {len(res['requeued'])} items; analysis run {res['run_id']}; "
          f"{len(res['affected_exports'])} affected delivered export(s)")
    for c in res["corrected_exports"]:
        changed = "" if c["labels_changed"] is None else (f", {c['labels_changed']} labels changed, "
                                                         f"{c['labels_removed']} removed against {c['replaces']['file']}")
        print(f"  corrected {c['kind']} export {c['path']} (sha256 {c['sha256'][:12]}, {c['rows']} rows{changed})")
    print(f"incident {args.incident}: status repaired (audit entry {res['audit_seq']})")
    return 0


def run_close(args) -> int:
    from analytics.incidents.records import close_incident

    ws = open_ws_waiting(args)
    try:
        name, _ = resolve_project(ws, args.project)
        seq = close_incident(ws, name, args.incident, sign_in(args, ws), args.note)
    finally:
        ws.close()
    print(f"incident {args.incident}: closed (audit entry {seq})")
    return 0


def run_report(args) -> int:
    from analytics.incidents.report import write_report

    ws = open_ws_waiting(args, read_only=True)
    try:
        name, pid = resolve_project(ws, args.project)
        out = write_report(ws.con, ws, name, pid, args.incident, args.out)
    finally:
        ws.close()
    print(f"incident {args.incident}: report written to {out}")
    return 0


def run_show(args) -> int:
    from analytics.incidents.report import report_data

    ws = open_ws_waiting(args, read_only=True)
    try:
        name, pid = resolve_project(ws, args.project)
        data = report_data(ws.con, ws, name, pid, args.incident)
    finally:
        ws.close()
    if args.json:
        print(json.dumps(data, indent=1, default=str))
        return 0
    inc = data["incident"]
    print(f"incident {inc['id']}: {inc['title']} ({inc['severity']}, {inc['status']})")
    print(data["summary"])
    print(f"onset {data['onset']} ({data['onset_detail']['source']}, worker {data['onset_detail']['worker']})")
    print(f"workers: {', '.join(data['workers'][:30])}{' ...' if len(data['workers']) > 30 else ''}")
    for a in data["affected_exports"]:
        print(f"affected export {a['file']} sha256 {a['sha256'][:12]} ({a['exported_at']}): "
              f"{a['incident_labels']} labels of the incident's workers, "
              f"{a['labels_would_change'] if a['labels_would_change'] is not None else '?'} labels would change")
    return 0


def run_list(args) -> int:
    from analytics.incidents.records import list_incidents

    ws = open_ws_waiting(args, read_only=True)
    try:
        name, pid = resolve_project(ws, args.project)
        df = list_incidents(ws.con, pid)
    finally:
        ws.close()
    if df.empty:
        print(f"project {name}: no incidents")
        return 0
    print(df[["incident_id", "status", "severity", "title", "workers", "alert_ids", "opened_at", "opened_by"]]
          .to_string(index=False, max_colwidth=60))
    return 0
