"""The incident report: JSON for machines, one self-contained HTML file for people.

:func:`report_data` gathers, from the workspace alone, the summary, the timeline (alerts,
onset, deliveries, every incident step and the audit entries it caused), the detection (the
alert rules that fired with their thresholds and evidence, and the detector signals that
fired on the incident's workers), the scope (:mod:`analytics.incidents.scope`), the actions,
the affected and corrected exports, the audit chain's range for the incident with the
chain's head hash and a fresh verification, and the fields of a MITRE ATLAS case study
(``name``, ``summary``, ``incident-date``, ``incident-date-granularity``, ``procedure`` of
tactic/technique/description steps, ``reporter``, ``target``, ``actor``, ``case-study-type``,
``references``; schema of the ATLAS website's case-study files, mitre-atlas/atlas-data) so
the report can be filed with a security team.

:func:`write_report` writes ``.json`` or ``.html`` by the file's extension. The HTML embeds
plotly.js inline (the bundle shipped with the installed plotly package; no CDN), the charts as
figure specs (:mod:`analytics.monitor.charts`) and every table, so it opens offline.
"""

from __future__ import annotations

import html
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

import analytics
from analytics import audit
from analytics.errors import UserError
from analytics.incidents.records import get_incident
from analytics.incidents.scope import activity_frame, activity_unit, incident_scope
from analytics.monitor.alerts import _jsonable, get_alert
from analytics.monitor.rules import RULE_TITLES

#: MITRE ATLAS tactics and techniques used by the procedure (https://atlas.mitre.org).
ATLAS = {
    "establish_accounts": ("AML.TA0003", "AML.T0021", "Resource Development: Establish Accounts"),
    "valid_accounts": ("AML.TA0004", "AML.T0012", "Initial Access: Valid Accounts"),
    "poison": ("AML.TA0003", "AML.T0020", "Resource Development: Poison Training Data"),
    "erode": ("AML.TA0011", "AML.T0059", "Impact: Erode Dataset Integrity"),
}
REFERENCES = [
    {"title": "MITRE ATLAS, AML.T0020 Poison Training Data", "url": "https://atlas.mitre.org/techniques/AML.T0020"},
    {"title": "MITRE ATLAS, AML.T0059 Erode Dataset Integrity", "url": "https://atlas.mitre.org/techniques/AML.T0059"},
]


def _iso(v) -> str | None:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    ts = pd.Timestamp(v)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).isoformat()


def incident_actions(con, pid: int, inc: dict) -> pd.DataFrame:
    """Audit entries of the incident: its steps, the bans/re-queues/exports/run it caused, its alerts."""
    corrected = [int(c["audit_seq"]) for c in inc["corrected_exports"] if c.get("audit_seq") is not None]
    runs = [str(json.loads(r[0]).get("run_id")) for r in con.execute(
        "SELECT evidence::VARCHAR FROM actions WHERE target_kind = 'incident' AND target = ? AND action = 'incident_repair'",
        [str(inc["incident_id"])]).fetchall()]
    return con.execute("""
        SELECT seq, created_at, actor, action, target_kind, target, reason, evidence::VARCHAR AS evidence, hash
        FROM actions WHERE project_id = $pid AND (
            (target_kind = 'incident' AND target = $iid)
            OR TRY_CAST(evidence->>'incident' AS INTEGER) = $iid_int
            OR (target_kind = 'alert' AND list_contains($alerts, target))
            OR list_contains($exports, seq)
            OR (action = 'analyze' AND list_contains($runs, target)))
        ORDER BY seq""", {"pid": pid, "iid": str(inc["incident_id"]), "iid_int": int(inc["incident_id"]),
                          "alerts": [str(a) for a in inc["alerts"]], "exports": corrected, "runs": runs}).df()


def _signals(con, pid: int, workers: list[str]) -> list[dict]:
    run = con.execute("SELECT max(run_id) FROM runs WHERE project_id = ? AND status = 'complete'", [pid]).fetchall()[0][0]
    if run is None or not workers:
        return []
    # the latest run before containment saw the workers; later runs leave banned workers out
    seen = con.execute("""SELECT max(r.run_id) FROM runs r JOIN run_workers w USING (run_id)
                          WHERE r.project_id = ? AND r.status = 'complete' AND list_contains(?, w.worker)""",
                       [pid, workers]).fetchall()[0][0]
    if seen is None:
        return []
    df = con.execute("""SELECT signal, count(DISTINCT worker) AS workers, min(p_value) AS min_p,
                               any_value(reason) AS example FROM run_signals
                        WHERE run_id = ? AND fired AND signal <> 'verdict' AND list_contains(?, worker)
                        GROUP BY signal ORDER BY workers DESC, signal""", [seen, workers]).df()
    n_susp = con.execute("SELECT count(*) FILTER (WHERE suspect) FROM run_workers WHERE run_id = ? AND"
                         " list_contains(?, worker)", [seen, workers]).fetchall()[0][0]
    out = [_jsonable(r) for r in df.to_dict(orient="records")]
    for o in out:
        o["run_id"] = int(seen)
    return [{"signal": "verdict: suspect", "workers": int(n_susp), "run_id": int(seen), "min_p": None,
             "example": "combined evidence of the trust verdict (analytics.trust)"}] + out


def _timeline(inc: dict, alerts: list[dict], scope: dict, acts: pd.DataFrame) -> list[dict]:
    ev = []
    if scope["onset"] is not None:
        ev.append({"time": _iso(scope["onset"]), "event": "onset: first suspicious label",
                   "detail": f"worker {scope['onset_worker']}", "actor": None, "audit_seq": None})
    for a in scope.get("affected_exports", []):
        ev.append({"time": a["exported_at"], "event": f"delivered {a['kind']} export {a['file']}",
                   "detail": f"sha256 {a['sha256'][:16]}..., {a['incident_labels']} labels of the incident's workers",
                   "actor": a["exported_by"], "audit_seq": a["audit_seq"]})
    for a in alerts:
        ev.append({"time": _iso(a["raised_at"]), "event": f"alert {a['alert_id']} raised ({a['rule']})",
                   "detail": a["message"], "actor": None, "audit_seq": a["audit_seq"]})
    for r in acts.itertuples(index=False):
        if r.target_kind == "alert" and r.action == "alert":
            continue
        if r.action in ("ban", "requeue", "unban", "unrequeue"):
            continue                                  # summarised by the step entries below
        ev.append({"time": _iso(r.created_at), "event": r.action.replace("_", " ") +
                   (f" {r.target}" if r.target_kind not in ("incident",) else ""),
                   "detail": r.reason, "actor": r.actor, "audit_seq": int(r.seq)})
    for kind, verb in (("ban", "banned"), ("requeue", "re-queued")):
        sel = acts[acts["action"] == kind]
        if len(sel):
            ev.append({"time": _iso(sel["created_at"].min()), "event": f"{verb} {len(sel)} {sel['target_kind'].iloc[0]}s",
                       "detail": str(sel["reason"].iloc[0]), "actor": str(sel["actor"].iloc[0]),
                       "audit_seq": int(sel["seq"].min())})
    return sorted(ev, key=lambda e: (e["time"] or "", e["audit_seq"] or 0))


def _atlas(inc: dict, project: str, scope: dict, alerts: list[dict], detection: list[dict], n_changed: int,
           affected: list[dict]) -> dict:
    wt = scope["workers"]
    new_accounts = int((~wt["onset_source"].str.contains("established account")).sum()) if len(wt) else 0
    established = len(wt) - new_accounts
    onset = scope["onset"]
    procedure = []
    if new_accounts:
        t, tech, _ = ATLAS["establish_accounts"]
        procedure.append({"tactic": t, "technique": tech,
                          "description": f"The adversary worked through {new_accounts} crowd-worker accounts that "
                                         f"started labelling in project {project} at or after the onset."})
    if established:
        t, tech, _ = ATLAS["valid_accounts"]
        procedure.append({"tactic": t, "technique": tech,
                          "description": f"{established} established worker accounts changed behaviour after the onset "
                                         "(taken over or turned)."})
    t, tech, _ = ATLAS["poison"]
    signals = ", ".join(d["signal"] for d in detection[:6]) or "no detector signal"
    procedure.append({"tactic": t, "technique": tech,
                      "description": f"The accounts submitted {scope['n_labels_from_onset']} poisoned labels on "
                                     f"{scope['n_items']} items (detectors that fired: {signals})."})
    t, tech, _ = ATLAS["erode"]
    procedure.append({"tactic": t, "technique": tech,
                      "description": f"{len(affected)} delivered export(s) contained their labels; "
                                     f"{n_changed} delivered labels differ from the corrected ones."})
    return {
        "name": inc["title"],
        "summary": None,       # filled by report_data
        "incident-date": onset.strftime("%Y-%m-%d") if onset is not None else _iso(inc["opened_at"])[:10],
        "incident-date-granularity": "DATE",
        "procedure": procedure,
        "reporter": f"CrowdTrust {analytics.__version__} (opened by {inc['opened_by']})",
        "target": f"crowdsourced labels of project {project} and the training data exported from it",
        "actor": (f"{len(wt)} crowd-worker accounts" + (" acting in concert (collusion community)"
                                                        if any(a["rule"] == "collusion" for a in alerts) else "")),
        "case-study-type": "incident",
        "references": REFERENCES,
    }


def report_data(con, workspace, project: str, project_id: int, incident_id: int) -> dict:
    """Everything the report says (see the module docstring), JSON-serialisable; ``workspace`` is
    the open :class:`analytics.store.Workspace` or its folder."""
    inc = get_incident(con, project_id, incident_id)
    alerts = [get_alert(con, project_id, a) for a in inc["alerts"]]
    scope = incident_scope(con, workspace, project_id, inc)
    acts = incident_actions(con, project_id, inc)
    detection_signals = _signals(con, project_id, inc["workers"])
    root = Path(getattr(workspace, "path", workspace))        # a Workspace (its sealer reads archives) or a folder
    res = audit.verify(con, anchor=root / audit.ANCHOR_NAME)
    head_seq, head_hash = audit.chain_head(con)
    affected = scope["affected_exports"]
    corrected = inc["corrected_exports"]
    n_changed = sum(int(c.get("labels_changed") or 0) + int(c.get("labels_removed") or 0) for c in corrected) or \
        sum(int(a.get("labels_would_change") or 0) for a in affected)
    wt = scope["workers"]
    onset = scope["onset"]
    summary = (f"Incident {incident_id} ({inc['severity']}, {inc['status']}): {len(wt)} worker accounts wrote "
               f"{scope['n_labels']} labels on {scope['n_items']} items of project {project}"
               + (f", the first suspicious one at {onset:%Y-%m-%d %H:%M} UTC" if onset is not None else "")
               + f". Detected by {len(alerts)} alert(s)" + (f" ({', '.join(sorted({a['rule'] for a in alerts}))})"
                                                             if alerts else "")
               + f"; {int(wt['banned'].sum()) if len(wt) else 0} of the workers are banned, "
               f"{len(inc['requeued'])} items were re-queued, {len(affected)} delivered export(s) were affected and "
               f"{len(corrected)} corrected export(s) produced.")
    rng = (int(acts["seq"].min()), int(acts["seq"].max())) if len(acts) else (None, None)
    atlas = _atlas(inc, project, scope, alerts, detection_signals[1:] if detection_signals else [], n_changed,
                   affected)
    atlas["summary"] = summary
    workers_rows = [_jsonable(r) for r in wt.to_dict(orient="records")]
    return _jsonable({
        "report": {"generated_at": datetime.now(UTC).isoformat(), "crowdtrust_version": analytics.__version__,
                   "workspace": str(root), "project": project},
        "incident": {"id": int(incident_id), "title": inc["title"], "severity": inc["severity"],
                     "status": inc["status"], "opened_at": _iso(inc["opened_at"]), "opened_by": inc["opened_by"],
                     "closed_at": _iso(inc["closed_at"]), "closed_by": inc["closed_by"],
                     "close_note": inc["close_note"]},
        "summary": summary,
        "timeline": _timeline(inc, alerts, scope, acts),
        "detection": {"alerts": [{"id": a["alert_id"], "rule": a["rule"], "title": RULE_TITLES.get(a["rule"]),
                                  "time": a["raised_at"], "period": a["period_name"], "severity": a["severity"],
                                  "value": a["value"], "threshold": a["threshold"],
                                  "p_value": a["evidence"].get("p_value"), "message": a["message"],
                                  "evidence": {k: v for k, v in a["evidence"].items() if k != "workers"}}
                                 for a in alerts],
                      "signals": detection_signals},
        "workers": [str(w) for w in wt["worker"]] if len(wt) else list(inc["workers"]),
        "worker_details": workers_rows,
        "items": scope["items"],
        "labels": {"total": scope["n_labels"], "from_onset": scope["n_labels_from_onset"]},
        "onset": _iso(onset),
        "onset_detail": {"worker": scope["onset_worker"],
                         "source": (wt.loc[wt["worker"] == scope["onset_worker"], "onset_source"].iloc[0]
                                    if scope["onset_worker"] is not None else None)},
        "affected_exports": affected,
        "corrected_exports": corrected,
        "requeued_items": inc["requeued"],
        "actions": [{"seq": int(r.seq), "time": _iso(r.created_at), "actor": r.actor, "action": r.action,
                     "target_kind": r.target_kind, "target": r.target, "reason": r.reason, "hash": r.hash}
                    for r in acts.itertuples(index=False)],
        "audit": {"range": list(rng), "first_seq": rng[0], "last_seq": rng[1], "entries": int(len(acts)),
                  "head_seq": int(head_seq), "head_hash": head_hash, "verified": bool(res.ok),
                  "verification": res.message},
        "atlas": atlas,
    })


# -- HTML ------------------------------------------------------------------------------------

_CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#222;padding:0 1rem}h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0;width:100%}th,td{border:1px solid #ddd;
padding:.25rem .45rem;text-align:left;vertical-align:top}th{background:#f4f4f4}.meta{color:#555}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:.6rem;background:#d62728;color:#fff;font-size:.8rem}
code{font-size:.8rem;word-break:break-all}.ok{color:#2c8c5a}.bad{color:#d62728}.wide{overflow-x:auto}
td{word-break:break-word}"""


_ISO = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?(?:\+00:00|Z)$")


def _table(rows: list[dict], cols: list[str] | None = None, limit: int = 500) -> str:
    if not rows:
        return "<p class='meta'>None.</p>"
    df = pd.DataFrame(rows)
    if cols:
        df = df[[c for c in cols if c in df.columns]]
    for c in df.columns:                      # whole numbers (sequence numbers, counts) without ".0"
        v = pd.to_numeric(df[c], errors="coerce")
        if df[c].dtype.kind == "f" and v.notna().any() and (v.dropna() % 1 == 0).all():
            df[c] = v.astype("Int64").astype(object).where(v.notna(), "")
        elif not pd.api.types.is_numeric_dtype(df[c]):        # ISO times in UTC, to the second
            df[c] = df[c].map(lambda x: _ISO.sub(r"\1 \2 UTC", x) if isinstance(x, str) else x)
    more = f"<p class='meta'>{len(df) - limit} more rows in the JSON report.</p>" if len(df) > limit else ""
    return ("<div class='wide'>" + df.head(limit).to_html(index=False, escape=True, na_rep="", border=0)
            + "</div>" + more)


def render_html(data: dict, figures: list[dict]) -> str:
    """The report as one HTML document; ``figures`` are plotly figure specs drawn by the inlined plotly.js."""
    from analytics.monitor.charts import plotly_js

    e = html.escape
    inc = data["incident"]
    charts = []
    for i, fig in enumerate(figures):
        spec = json.dumps(fig, default=str).replace("</", "<\\/")
        charts.append(f"<div id='chart{i}' class='chart'></div><script>Plotly.newPlot('chart{i}', {spec}.data, "
                      f"{spec}.layout, {{displaylogo: false, responsive: true}});</script>")
    aud = data["audit"]
    atlas = data["atlas"]
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Incident {inc['id']}: {e(inc['title'])}"
        f"</title><style>{_CSS}</style><script>{plotly_js()}</script></head><body>",
        f"<h1>Incident {inc['id']}: {e(inc['title'])} <span class='badge'>{e(inc['severity'])}</span></h1>",
        f"<p class='meta'>Project {e(data['report']['project'])} · status <b>{e(inc['status'])}</b> · opened "
        f"{e(str(inc['opened_at']))} by {e(str(inc['opened_by']))}"
        + (f" · closed {e(str(inc['closed_at']))} by {e(str(inc['closed_by']))}" if inc["closed_at"] else "")
        + f" · report generated {e(data['report']['generated_at'])} by CrowdTrust {e(data['report']['crowdtrust_version'])}</p>",
        "<h2>Summary</h2>", f"<p>{e(data['summary'])}</p>",
        *( [f"<p><b>Review note:</b> {e(inc['close_note'])}</p>"] if inc["close_note"] else []),
        "<h2>Timeline</h2>", _table(data["timeline"], ["time", "event", "detail", "actor", "audit_seq"]),
        "<h2>Detection</h2>",
        _table([{k: a[k] for k in ("id", "rule", "time", "period", "severity", "value", "threshold", "p_value",
                                   "message")} for a in data["detection"]["alerts"]]),
        "<p>Detector signals that fired on the incident's workers:</p>",
        _table(data["detection"]["signals"], ["signal", "workers", "min_p", "example", "run_id"]),
        *charts[:2],
        "<h2>Scope</h2>",
        f"<p>{len(data['workers'])} workers, {len(data['items'])} items, {data['labels']['total']} labels "
        f"({data['labels']['from_onset']} from the onset on). Estimated onset: <b>{e(str(data['onset']))}</b> "
        f"({e(str(data['onset_detail']['source']))}, worker {e(str(data['onset_detail']['worker']))}).</p>",
        *charts[2:],
        _table(data["worker_details"], ["worker", "labels", "items", "first_at", "onset", "onset_source",
                                        "labels_from_onset", "suspect", "trust", "banned"]),
        "<h2>Affected exports</h2>",
        _table(data["affected_exports"], ["file", "sha256", "exported_at", "exported_by", "kind", "format", "rows",
                                          "incident_labels", "labels_would_change", "audit_seq"]),
        "<h2>Corrected exports</h2>",
        _table([{**c, "replaces": (c.get("replaces") or {}).get("file")} for c in data["corrected_exports"]],
               ["file", "sha256", "replaces", "rows", "labels_changed", "labels_removed", "labels_added", "diff_file",
                "audit_seq"]),
        f"<p>{len(data['requeued_items'])} items re-queued for labelling.</p>",
        "<h2>Actions</h2>", _table(data["actions"], ["seq", "time", "actor", "action", "target", "reason"]),
        "<h2>Audit chain</h2>",
        f"<p>Entries {aud['first_seq']}-{aud['last_seq']} of the chain belong to this incident "
        f"({aud['entries']} entries). Chain head: entry {aud['head_seq']}, hash <code>{e(aud['head_hash'])}</code>. "
        f"Verification when the report was made: <span class='{'ok' if aud['verified'] else 'bad'}'>"
        f"{e(aud['verification'])}</span>.</p>",
        "<h2>MITRE ATLAS case study</h2>",
        "<table>" + "".join(f"<tr><th>{e(k)}</th><td>{e(str(atlas[k]))}</td></tr>"
                            for k in ("name", "summary", "incident-date", "incident-date-granularity", "reporter",
                                      "target", "actor", "case-study-type")) + "</table>",
        _table(atlas["procedure"], ["tactic", "technique", "description"]),
        "<p class='meta'>References: " + "; ".join(f"{e(r['title'])} ({e(r['url'])})" for r in atlas["references"])
        + "</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def report_figures(con, project_id: int, data: dict) -> list:
    """The charts of the HTML report: suspect share and new accounts over time, the incident's activity."""
    from analytics.monitor import charts
    from analytics.monitor.view import timeline

    tl = timeline(con, project_id)
    figs = [charts.suspect_chart(tl), charts.new_workers_chart(tl)]
    if tl["gold_n"].gt(0).any():
        figs.append(charts.gold_chart(tl))
    act = activity_frame(con, project_id, data["workers"], activity_unit(con, project_id))
    onset = pd.Timestamp(data["onset"]) if data["onset"] else None
    figs.insert(2, charts.incident_activity_chart(act, onset, act.attrs.get("unit", "day")))
    return figs


def report_bytes(con, workspace, project: str, project_id: int, incident_id: int, fmt: str) -> bytes:
    """The report as ``json`` or ``html`` bytes (the Incidents page's download buttons)."""
    data = report_data(con, workspace, project, project_id, incident_id)
    if fmt == "json":
        return json.dumps(data, indent=1, default=str).encode("utf-8")
    if fmt == "html":
        return render_html(data, report_figures(con, project_id, data)).encode("utf-8")
    raise UserError(f"report format must be json or html, not {fmt!r}")


def write_report(con, workspace, project: str, project_id: int, incident_id: int, out: str | os.PathLike) -> Path:
    """Write the report to ``out``: JSON for ``.json``, self-contained HTML for ``.html``/``.htm``."""
    out = Path(out)
    ext = out.suffix.lower()
    if ext not in (".json", ".html", ".htm"):
        raise UserError(f"--out {out}: give a file ending in .json or .html (the format follows the extension)")
    if not out.parent.exists():
        raise UserError(f"folder {out.parent} does not exist; create it or choose another --out")
    payload = report_bytes(con, workspace, project, project_id, incident_id, "json" if ext == ".json" else "html")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, out)
    return out
