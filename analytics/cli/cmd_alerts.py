"""`python -m analytics alerts`: list a project's alerts, acknowledge one, or evaluate the rules now.

``alerts --project P [--json]`` lists every alert, newest first; with ``--json`` each alert is a
JSON object with ``id``, ``rule``, ``time`` (when it was raised, ISO-8601 UTC), ``period``,
``severity``, ``status``, ``message``, ``workers`` and ``evidence``. ``--ack ID --note TEXT``
acknowledges an alert (an audit entry; an analyst or above, ``--user``); ``--evaluate`` runs the
rules on what changed since they last ran (they also run after every ingest and analysis).
"""

from __future__ import annotations

import json

from analytics.cli import add_workspace_args
from analytics.cli.cmd_actions import open_ws_waiting
from analytics.cli.common import add_auth_args, resolve_project, sign_in


def add_parser(sub) -> None:
    p = sub.add_parser("alerts", help="list alerts (--json), acknowledge one (--ack ID), or evaluate the rules now",
                       description=__doc__.split("\n\n", 1)[1])
    add_workspace_args(p)
    p.add_argument("--json", action="store_true", help="print the alerts as a JSON list with their evidence")
    p.add_argument("--status", choices=["open", "acknowledged"], default=None, help="only alerts in this state")
    p.add_argument("--ack", type=int, default=None, metavar="ID", help="acknowledge alert ID")
    p.add_argument("--note", default="", help="with --ack: why (kept in the audit log)")
    p.add_argument("--evaluate", action="store_true", help="evaluate the alert rules now and print new alerts")
    add_auth_args(p)
    p.set_defaults(func=run)


def alert_record(a: dict) -> dict:
    """One alert as `alerts --json` prints it."""
    return {"id": a["alert_id"], "rule": a["rule"], "time": a["raised_at"], "severity": a["severity"],
            "status": a["status"], "period": {"unit": a["period_unit"], "name": a["period_name"],
                                              "start": a["period_start"], "end": a["period_end"]},
            "message": a["message"], "value": a["value"], "threshold": a["threshold"], "workers": a["workers"],
            "run_id": a["run_id"], "ingest_id": a["ingest_id"], "audit_seq": a["audit_seq"],
            "acknowledged": ({"by": a["acked_by"], "at": a["acked_at"], "note": a["ack_note"]}
                             if a["status"] == "acknowledged" else None),
            "evidence": a["evidence"]}


def run(args) -> int:
    from analytics.monitor import alerts

    if args.ack is not None or args.evaluate:
        ws = open_ws_waiting(args)
        try:
            actor = sign_in(args, ws)
            name, pid = resolve_project(ws, args.project)
            if args.ack is not None:
                ev = alerts.acknowledge(ws, name, args.ack, actor, args.note)
                print(f"project {name}: alert {args.ack} acknowledged by {ev['by']} (audit entry {ev['audit']['seq']})")
            if args.evaluate:
                new = alerts.evaluate(ws, name, actor=actor, trigger="manual")
                print(f"project {name}: {len(new)} new alert{'s' if len(new) != 1 else ''}")
                for a in new:
                    print(f"  alert {a['alert_id']} ({a['severity']}, {a['rule']}): {a['message']}")
        finally:
            ws.close()
        return 0
    ws = open_ws_waiting(args, read_only=True)
    try:
        name, pid = resolve_project(ws, args.project)
        if args.json:
            print(json.dumps([alert_record(a) for a in alerts.alerts_json(ws.con, pid, args.status)], indent=1,
                             default=str))
            return 0
        df = alerts.list_alerts(ws.con, pid, args.status)
    finally:
        ws.close()
    if df.empty:
        print(f"project {name}: no alerts")
        return 0
    df["raised_at"] = df["raised_at"].dt.strftime("%Y-%m-%d %H:%M")
    print(df[["alert_id", "raised_at", "severity", "status", "rule", "period_name", "n_workers", "message"]]
          .rename(columns={"alert_id": "id", "raised_at": "raised (UTC)", "period_name": "period",
                           "n_workers": "workers"}).to_string(index=False, max_colwidth=110))
    return 0
