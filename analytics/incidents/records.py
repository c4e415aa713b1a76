"""Incident records: open, attach, close, and read them back.

An incident is one row of ``incidents`` (title, severity, status, who opened and closed it)
and the rows of ``incident_links`` that say what it is about and what it did: ``alert`` (the
alerts it came from), ``worker`` (the workers involved), ``requeued`` (tasks sent back for
labelling), ``corrected_export`` (files produced by the repair) and ``step`` (each step, with
its audit entry). Every step appends an entry to the hash-chained audit log whose target is
the incident (``target_kind = 'incident'``) and writes the same transaction's links, so the
audit chain and the incident agree or neither changed.

Status moves ``open -> contained -> repaired -> closed`` (:data:`NEXT`); attaching workers
to a contained incident re-opens containment for the new ones.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd

from analytics import audit
from analytics.access import Identity, requires
from analytics.actions import run_in_transaction
from analytics.errors import UserError
from analytics.store import Workspace, first_row

SEVERITIES = ("low", "medium", "high", "critical")
STATUSES = ("open", "contained", "repaired", "closed")
#: alert severity -> default incident severity
FROM_ALERT = {"warning": "medium", "critical": "high"}


def _check(ws: Workspace, actor: Identity, what: str) -> str:
    """The acting account's name (the role was checked by ``@requires``); refuses a read-only workspace."""
    if ws.read_only:
        raise UserError(f"the workspace is open read-only; open it for writing to {what}")
    return actor.name


def _now() -> str:
    return datetime.now(UTC).isoformat()


def link(con, incident_id: int, kind: str, ref: str, detail: dict | None = None, audit_seq: int | None = None) -> None:
    con.execute("INSERT INTO incident_links VALUES (?, ?, ?, ?::JSON, ?, ?::TIMESTAMPTZ)",
                [int(incident_id), kind, str(ref), json.dumps(detail or {}, default=str), audit_seq, _now()])


def step(con, project_id: int, incident_id: int, actor: str, action: str, reason: str, evidence: dict) -> int:
    """Append the audit entry of one incident step and link it; returns its sequence number."""
    audit.append(con, actor=actor, action=action, project_id=project_id, target_kind="incident",
                 target=str(incident_id), scope="project", reason=reason, evidence={"incident": incident_id, **evidence})
    seq = audit.chain_head(con)[0]
    link(con, incident_id, "step", action, {"reason": reason}, seq)
    return seq


def _known_workers(con, project_id: int, workers: list[str]) -> None:
    unknown = [r[0] for r in con.execute(
        "SELECT w FROM unnest(?::TEXT[]) AS u(w) WHERE w NOT IN (SELECT DISTINCT worker FROM annotations"
        " WHERE project_id = ?) ORDER BY w", [workers, int(project_id)]).fetchall()]
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise UserError(f"{len(unknown)} worker id(s) have no labels in this project: {shown}; check the spelling")


def _alerts(con, project_id: int, alert_ids: list[int]) -> list[dict]:
    from analytics.monitor.alerts import get_alert

    return [get_alert(con, project_id, int(a)) for a in alert_ids]


def same_period_alerts(con, project_id: int, alert_ids: list[int]) -> list[int]:
    """The alerts given, then the other open alerts raised for the same periods (one change seen by
    several rules is one incident)."""
    rows = con.execute("""SELECT b.alert_id FROM alerts a JOIN alerts b ON a.project_id = b.project_id
                          AND a.period_unit = b.period_unit AND a.period = b.period
                          WHERE a.project_id = ? AND list_contains(?, a.alert_id) AND b.status = 'open'
                          ORDER BY b.alert_id""", [int(project_id), list(alert_ids)]).fetchall()
    return list(dict.fromkeys(list(alert_ids) + [int(r[0]) for r in rows]))


@requires("incident")
def open_incident(ws: Workspace, project: str, actor: Identity | None = None, *, alert_ids=(), workers=(), title: str | None = None,
                  severity: str | None = None) -> int:
    """Open an incident from alerts and/or a list of workers; returns its number.

    The other open alerts of the same periods join the given ones (:func:`same_period_alerts`).
    The workers are the union of the alerts' named workers and ``workers``. The alerts are
    acknowledged (each with its own audit entry) since someone is now handling them.
    """
    actor = _check(ws, actor, "open an incident")
    pid = ws.project_id(project)
    alert_ids = [int(a) for a in alert_ids]
    if alert_ids:
        alert_ids = same_period_alerts(ws.con, pid, alert_ids)
    alerts = _alerts(ws.con, pid, alert_ids)
    for a in alerts:
        if not a["workers"]:                 # raised before a run covered its period: name them now
            from analytics.monitor.alerts import suggest_workers

            a["workers"] = suggest_workers(ws.con, pid, a)
    chosen = list(dict.fromkeys([str(w) for a in alerts for w in a["workers"]] + [str(w) for w in workers if str(w)]))
    if not chosen:
        raise UserError("the incident names no workers: the alert lists none; give them with --workers W1,W2")
    if severity is None:
        severity = max((FROM_ALERT.get(a["severity"], "medium") for a in alerts), key=SEVERITIES.index,
                       default="medium")
    if severity not in SEVERITIES:
        raise UserError(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    if not title or not title.strip():
        title = (alerts[0]["message"].split(":")[0] if alerts else f"Suspected poisoning by {len(chosen)} workers")
    title = title.strip()[:200]

    def body(con) -> int:
        _known_workers(con, pid, chosen)
        iid = int(first_row(con.execute(
            "INSERT INTO incidents (project_id, title, severity, status, opened_at, opened_by) VALUES"
            " (?, ?, ?, 'open', ?::TIMESTAMPTZ, ?) RETURNING incident_id", [pid, title, severity, _now(), actor]))[0])
        for a in alerts:
            link(con, iid, "alert", str(a["alert_id"]), {"rule": a["rule"], "period": a["period_name"],
                                                         "period_start": a["period_start"]})
        for w in chosen:
            link(con, iid, "worker", w, {"source": "alert" if any(w in a["workers"] for a in alerts) else "manual"})
        step(con, pid, iid, actor, "incident_open", title,
             {"severity": severity, "alerts": alert_ids, "workers": chosen, "n_workers": len(chosen)})
        for a in alerts:
            if a["status"] == "open":
                audit.append(con, actor=actor, action="acknowledge", project_id=pid, target_kind="alert",
                             target=str(a["alert_id"]), scope="project", reason=f"incident {iid} opened",
                             evidence={"rule": a["rule"], "period": a["period_name"], "incident": iid})
                con.execute("UPDATE alerts SET status = 'acknowledged', acked_by = ?, acked_at = now(), ack_note = ?"
                            " WHERE alert_id = ?", [actor, f"incident {iid}", a["alert_id"]])
        return iid

    iid = run_in_transaction(ws, body)
    audit.write_anchor(ws.path, ws.con)
    return iid


@requires("incident")
def attach(ws: Workspace, project: str, incident_id: int, actor: Identity | None = None, *, alert_ids=(), workers=()) -> dict:
    """Add alerts (and their workers) and/or workers to an incident that is not closed."""
    actor = _check(ws, actor, "attach to an incident")
    pid = ws.project_id(project)
    inc = get_incident(ws.con, pid, incident_id)
    if inc["status"] == "closed":
        raise UserError(f"incident {incident_id} is closed; open a new one")
    alerts = _alerts(ws.con, pid, [int(a) for a in alert_ids])
    have_alerts = {int(a) for a in inc["alerts"]}
    alerts = [a for a in alerts if int(a["alert_id"]) not in have_alerts]
    new = [w for w in dict.fromkeys([str(w) for a in alerts for w in a["workers"]] + [str(w) for w in workers])
           if w and w not in set(inc["workers"])]
    if not alerts and not new:
        raise UserError("nothing to attach: the alerts and workers given are already part of the incident")

    def body(con) -> int:
        _known_workers(con, pid, new)
        for a in alerts:
            link(con, incident_id, "alert", str(a["alert_id"]), {"rule": a["rule"], "period": a["period_name"],
                                                                 "period_start": a["period_start"]})
        for w in new:
            link(con, incident_id, "worker", w, {"source": "attached"})
        if new and inc["status"] in ("contained", "repaired"):
            con.execute("UPDATE incidents SET status = 'open' WHERE incident_id = ?", [int(incident_id)])
        return step(con, pid, incident_id, actor, "incident_attach",
                    f"attached {len(alerts)} alert(s) and {len(new)} worker(s)",
                    {"alerts": [a["alert_id"] for a in alerts], "workers": new})

    seq = run_in_transaction(ws, body)
    audit.write_anchor(ws.path, ws.con)
    return {"alerts": [a["alert_id"] for a in alerts], "workers": new, "audit_seq": seq}


@requires("incident")
def close_incident(ws: Workspace, project: str, incident_id: int, actor: Identity | None = None,
                   note: str = "") -> int:
    """Close an incident with a review note (required); returns the audit entry's sequence number."""
    actor = _check(ws, actor, "close an incident")
    if not isinstance(note, str) or not note.strip():
        raise UserError("a review note is required to close an incident (--note TEXT): what happened, what was done")
    pid = ws.project_id(project)
    inc = get_incident(ws.con, pid, incident_id)
    if inc["status"] == "closed":
        raise UserError(f"incident {incident_id} is already closed")

    def body(con) -> int:
        seq = step(con, pid, incident_id, actor, "incident_close", note.strip()[:2000],
                   {"status_before": inc["status"]})
        con.execute("UPDATE incidents SET status = 'closed', closed_at = ?::TIMESTAMPTZ, closed_by = ?, close_note = ?"
                    " WHERE incident_id = ?", [_now(), actor, note.strip(), int(incident_id)])
        return seq

    seq = run_in_transaction(ws, body)
    audit.write_anchor(ws.path, ws.con)
    return seq


def set_status(con, incident_id: int, status: str) -> None:
    if status not in STATUSES:
        raise ValueError(status)
    con.execute("UPDATE incidents SET status = ? WHERE incident_id = ?", [status, int(incident_id)])


# -- reading -----------------------------------------------------------------------------------

def list_incidents(con, project_id: int) -> pd.DataFrame:
    """The project's incidents, newest first, with counts of their workers and alerts."""
    return con.execute("""
        SELECT i.incident_id, i.title, i.severity, i.status, i.opened_at, i.opened_by, i.closed_at, i.closed_by,
               count(*) FILTER (WHERE l.kind = 'worker') AS workers,
               count(*) FILTER (WHERE l.kind = 'alert') AS alerts,
               string_agg(l.ref, ', ' ORDER BY TRY_CAST(l.ref AS INTEGER)) FILTER (WHERE l.kind = 'alert') AS alert_ids
        FROM incidents i LEFT JOIN incident_links l USING (incident_id)
        WHERE i.project_id = ? GROUP BY ALL ORDER BY i.incident_id DESC""", [int(project_id)]).df()


def get_incident(con, project_id: int, incident_id: int) -> dict:
    """One incident: its row, ``alerts``, ``workers``, ``requeued``, ``corrected_exports`` and ``steps``."""
    df = con.execute("SELECT * FROM incidents WHERE project_id = ? AND incident_id = ?",
                     [int(project_id), int(incident_id)]).df()
    if df.empty:
        raise UserError(f"no incident {incident_id} in this project; list them on the Incidents page")
    out = df.iloc[0].to_dict()
    links = con.execute("SELECT kind, ref, detail::VARCHAR AS detail, audit_seq, created_at FROM incident_links"
                        " WHERE incident_id = ? ORDER BY created_at, rowid", [int(incident_id)]).df()
    links["detail"] = [json.loads(d) if d else {} for d in links["detail"]]
    out["alerts"] = [int(r) for r in links.loc[links["kind"] == "alert", "ref"]]
    out["workers"] = links.loc[links["kind"] == "worker", "ref"].tolist()
    out["requeued"] = links.loc[links["kind"] == "requeued", "ref"].tolist()
    out["corrected_exports"] = [dict(d, file=r) for r, d in zip(links.loc[links["kind"] == "corrected_export", "ref"],
                                                                  links.loc[links["kind"] == "corrected_export", "detail"],
                                                                  strict=True)]
    out["steps"] = links[links["kind"] == "step"][["ref", "audit_seq", "created_at", "detail"]].rename(
        columns={"ref": "action"}).to_dict(orient="records")
    return out
