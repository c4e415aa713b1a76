"""Stored alerts: evaluated after every ingest and analysis, listed, acknowledged, paged.

:func:`evaluate` runs the rules of :mod:`analytics.monitor.rules` on the periods that changed
since they last looked, so each period is judged once by each pass, with the data (and the
first run) that made it: after an ingest, the rules that need no run (``gold_accuracy``, and
the new- and turned-accounts rules against the leave-one-out plurality) on periods holding
labels of ingests newer than the last evaluated one; after an analysis, the run rules on
periods whose labels the newest complete run has seen and that the run rules have not judged
yet (a run that started before the newest ingest leaves the newest periods for the next
run). ``monitor_state`` keeps both watermarks; a rule fires at most once per period.

A fired rule becomes one row of ``alerts`` (unique per project, rule and period, so a
re-evaluation never repeats it) with the numbers, the threshold, one sentence, the evidence
(baseline, test, and the workers behind the change with their per-worker numbers and onsets)
and one ``alert`` entry in the audit chain; after the commit it is appended as one JSON line
to the pager file (``<workspace>/alerts.jsonl`` unless the settings name another), which a
pager or chat bot can tail (an encrypted workspace pages the number of workers, not their
ids). Acknowledging an alert (:func:`acknowledge`) writes an audit entry and a pager line too.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from analytics import audit
from analytics.access import Identity, requires
from analytics.errors import UserError
from analytics.monitor import evidence as ev
from analytics.monitor.rules import (
    AGREEMENT_RULES,
    RULE_TITLES,
    RUN_RULES,
    AlertSettings,
    baseline_sums,
    bh_select,
)
from analytics.monitor.rules import evaluate as evaluate_rules
from analytics.monitor.series import label_counts, period_unit, quality_series
from analytics.store import Workspace, first_row

PAGER_NAME = "alerts.jsonl"
ALERT_COLUMNS = ["alert_id", "rule", "severity", "status", "period_name", "period_start", "raised_at", "message",
                 "value", "threshold", "n_workers", "run_id", "ingest_id", "acked_by", "acked_at", "ack_note",
                 "audit_seq", "period_unit", "period"]


# -- settings -------------------------------------------------------------------------------

def load_settings(con, project_id: int) -> AlertSettings:
    row = first_row(con.execute("SELECT settings::VARCHAR FROM alert_rules WHERE project_id = ?", [int(project_id)]))
    return AlertSettings.from_dict(json.loads(row[0]) if row else None)


@requires("settings")
def save_settings(ws: Workspace, project: str, settings: AlertSettings, actor: Identity | None = None) -> None:
    """Store the project's alert rules (validated) and record the change in the audit chain (admins)."""
    _writable(ws, "change the alert rules")
    pid = ws.project_id(project)
    AlertSettings.from_dict(settings.to_dict())          # validates
    with ws.transaction() as con:
        con.execute("INSERT OR REPLACE INTO alert_rules VALUES (?, ?::JSON)", [pid, json.dumps(settings.to_dict())])
        audit.append(con, actor=actor.name, action="alert_rules", project_id=pid, target_kind="project",
                     target=project, scope="project", reason="alert rules changed", evidence=settings.to_dict())
    audit.write_anchor(ws.path, ws.con)


def pager_path(workspace: Path, settings: AlertSettings) -> Path:
    """The JSON-lines file alerts are appended to."""
    if settings.pager_file:
        p = Path(settings.pager_file).expanduser()
        return p if p.is_absolute() else Path(workspace) / p
    return Path(workspace) / PAGER_NAME


def _writable(ws: Workspace, what: str) -> None:
    if ws.read_only:
        raise UserError(f"the workspace is open read-only; open it for writing to {what}")


# -- evaluation -----------------------------------------------------------------------------

def _state(con, pid: int) -> tuple[int, int, int]:
    row = first_row(con.execute("SELECT data_ingest_id, run_ingest_id, run_id FROM monitor_state WHERE project_id = ?",
                                [pid]))
    return tuple(int(v) if v is not None else 0 for v in row) if row else (0, 0, 0)


def _run_coverage(con, pid: int) -> tuple[int | None, int]:
    """(latest complete run, newest ingest it has seen: loaded before the run started)."""
    from analytics.pipeline import latest_run

    run = latest_run(con, pid)
    if run is None:
        return None, 0
    row = first_row(con.execute("""SELECT max(i.ingest_id) FROM ingests i, runs r
                                   WHERE r.run_id = ? AND i.project_id = ? AND i.loaded_at <= r.started_at""",
                                [run, pid]))
    return run, int(row[0]) if row and row[0] is not None else 0


def _n_classes(con, pid: int) -> int:
    row = first_row(con.execute("""SELECT coalesce(len(label_set), 0), (SELECT count(DISTINCT label) FROM annotations
                                   WHERE project_id = $pid) FROM projects WHERE project_id = $pid""", {"pid": pid}))
    return max(int(row[0] or 0), int(row[1] or 0), 2)


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in o]
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating, float)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, pd.Timestamp):
        return None if pd.isna(o) else o.isoformat()
    if o is pd.NaT:
        return None
    return o


def _named_workers(rule: str, found: dict, pw: pd.DataFrame, onsets: pd.DataFrame, start,
                   newcomer_rate: float | None) -> pd.DataFrame:
    """The workers behind a fired rule (the ones an incident opened from the alert starts with).

    Suspect workers whose activity began in the period (new accounts, or a drift/burst onset
    inside it), and new accounts whose labels agree with the consensus less often than the new
    accounts of the baseline periods did (``newcomer_rate``; binomial tests with
    Benjamini-Hochberg; honest newcomers agree less than established workers, so comparing with
    those would name many); for the gold rule also the workers whose gold answers are worse than
    the baseline's accuracy; for the collusion rule the communities' members that the verdict
    marks suspect or that are poor newcomers (a community can take in honest workers who share
    items with the ring; all members when none is).
    """
    if rule == "turned_accounts":
        return pw[pw["worker"].isin(set(found["evidence"]["turned_workers"]))]
    suspect = pw["suspect"].fillna(False).astype(bool) & ~pw["banned"].fillna(False).astype(bool)
    new = pw["new"].astype(bool)
    fresh = new.copy()
    if start is not None and len(onsets):
        late = pw["worker"].map(onsets.set_index("worker")["onset"]) >= start
        fresh = fresh | late.fillna(False).astype(bool)
    poor_new = _poor(pw["agree"], pw["judged"], newcomer_rate, new) if newcomer_rate else new & False
    if rule == "collusion":
        members = pw["worker"].isin({m for c in found["evidence"]["communities"] for m in c["members"]})
        pick = members & (suspect | poor_new)
        return pw[pick] if pick.any() else pw[members]
    if rule == "suspect_share":
        pick = suspect & fresh
        return pw[pick] if pick.any() else pw[suspect]
    if rule == "new_accounts":
        return pw[new & (suspect | poor_new)]
    if rule == "gold_accuracy":
        ref = found["evidence"].get("baseline_accuracy") or found["evidence"]["floor"]
        return pw[_poor(pw["gold_correct"], pw["gold_n"], ref, pw["gold_n"] > 0) | (suspect & fresh) | poor_new]
    if rule == "label_drift":
        return pw[(suspect & fresh) | poor_new]
    return pw.iloc[0:0]


def _newcomer_rate(series: pd.DataFrame, period: int, settings: AlertSettings, pre: str = "") -> float | None:
    """Share of the new accounts' labels that agreed with the consensus in the period's baseline
    (``pre`` = ``mv_``: with the leave-one-out plurality)."""
    cols = [pre + c for c in ("agree_new", "judged_new", "agree", "judged")]
    if cols[0] not in series.columns:
        return None
    base = baseline_sums(series, cols, settings)
    i = int(np.flatnonzero(series["period"].to_numpy() == period)[0])
    b = base.iloc[i]
    if b[cols[1]] >= settings.min_period_labels:
        return float(b[cols[0]] / b[cols[1]])
    return float(b[cols[2]] / b[cols[3]]) if b[cols[3]] > 0 else None


def suggest_workers(con, project_id: int, alert: dict) -> list[str]:
    """The workers behind a stored alert, named again with the latest run (for an alert raised
    before any run covered its period, e.g. a gold alert right after an ingest)."""
    from analytics.pipeline import latest_run

    run = latest_run(con, project_id)
    unit, period = alert["period_unit"], int(alert["period"])
    series = quality_series(con, project_id, run_id=run, unit=unit)
    if period not in set(series["period"]):
        return []
    settings = load_settings(con, project_id)
    pw = ev.period_workers(con, project_id, unit, period, run, consensus_run=run)
    onsets = ev.worker_onsets(con, project_id, run, pw["worker"].tolist())
    start = pd.Timestamp(alert["period_start"]) if alert.get("period_start") else None
    named = _named_workers(alert["rule"], {"evidence": alert["evidence"]}, pw, onsets,
                           start if unit != "ingest" else None,
                           _newcomer_rate(series, period, settings, "" if run is not None else "mv_"))
    return named["worker"].astype(str).tolist()


def _poor(k: pd.Series, n: pd.Series, rate: float, tested: pd.Series, q: float = 0.05) -> pd.Series:
    """Workers whose ``k`` of ``n`` labels are right (agree, or match gold) less often than ``rate``
    beyond chance: one-sided binomial p-values, Benjamini-Hochberg at ``q`` over the ``tested`` workers."""
    from scipy import stats

    tested = tested.astype(bool) & (n > 0)
    m = int(tested.sum())
    if m == 0:
        return pd.Series(False, index=k.index)
    p = np.ones(len(k))
    p[tested.to_numpy()] = stats.binom.cdf(k[tested], n[tested], min(max(float(rate), 1e-9), 1.0))
    keep = np.zeros(len(k), bool)
    keep[tested.to_numpy()] = bh_select(p[tested.to_numpy()], q)
    return pd.Series(keep & tested.to_numpy(), index=k.index)


def _worker_rows(named: pd.DataFrame, onsets: pd.DataFrame) -> list[dict]:
    m = named.merge(onsets[["worker", "onset", "onset_source"]], on="worker", how="left")
    with np.errstate(invalid="ignore", divide="ignore"):
        m["agreement"] = m["agree"] / m["judged"].where(m["judged"] > 0)
        m["gold_accuracy"] = m["gold_correct"] / m["gold_n"].where(m["gold_n"] > 0)
    keep = ["worker", "labels", "new", "suspect", "trust", "agreement", "gold_n", "gold_accuracy", "first_at", "onset",
            "onset_source"]
    return [_jsonable(r) for r in m[keep].to_dict(orient="records")]


@requires("analyze")
def evaluate(ws: Workspace, project: str, actor: Identity | None = None, trigger: str = "") -> list[dict]:
    """Run the alert rules on what changed since the last evaluation; store and page new alerts.

    Returns the new alerts (dicts as in :func:`get_alert`). ``trigger`` says what caused the
    evaluation (e.g. ``ingest 4``, ``run 7``) and is kept in the evidence.
    """
    if ws.read_only:
        return []
    con = ws.con
    pid = ws.project_id(project)
    settings = load_settings(con, pid)
    data_wm, run_wm, _ = _state(con, pid)
    newest = first_row(con.execute("SELECT max(ingest_id) FROM ingests WHERE project_id = ?", [pid]))[0] or 0
    run, covered_ingest = _run_coverage(con, pid)
    if newest <= data_wm and covered_ingest <= run_wm:
        return []
    unit = period_unit(con, pid)
    series = quality_series(con, pid, run_id=run, unit=unit)
    if series.empty:
        return []
    counts = label_counts(con, pid, unit=unit)
    last = series["last_ingest"].to_numpy()
    data_new = last > data_wm
    run_new = (last > run_wm) & (last <= covered_ingest) if run is not None else np.zeros(len(series), bool)
    k = _n_classes(con, pid)
    fired = []
    if data_new.any():
        f = evaluate_rules(series, counts, settings, k, covered=data_new, agreement="mv",
                           worker_agreement=ev.worker_period_agreement(con, pid, unit, None),
                           rules=[r for r in settings.enabled_rules if r not in RUN_RULES or r in AGREEMENT_RULES])
        fired.append(f[f["period"].isin(series.loc[data_new, "period"])].assign(consensus_run=None))
    if run_new.any():
        f = evaluate_rules(series, counts, settings, k, covered=run_new,
                           consensus_counts=ev.consensus_counts(con, pid, unit, run),
                           communities=ev.community_periods(con, pid, unit, run),
                           worker_agreement=ev.worker_period_agreement(con, pid, unit, run),
                           rules=sorted(RUN_RULES))
        fired.append(f[f["period"].isin(series.loc[run_new, "period"])].assign(consensus_run=run))
    fired_df = pd.concat(fired, ignore_index=True) if fired else pd.DataFrame()
    if len(fired_df):
        fired_df = fired_df.drop_duplicates(["period", "rule"], keep="first")
    new_alerts = _store(ws, pid, project, unit, series, fired_df, settings, run, newest, actor, trigger) \
        if len(fired_df) else []
    with ws.transaction() as c:
        c.execute("INSERT OR REPLACE INTO monitor_state VALUES (?, ?, ?, ?, now())",
                  [pid, max(newest, data_wm), max(covered_ingest, run_wm), run])
    if new_alerts:
        audit.write_anchor(ws.path, con)
        _page(pager_path(ws.path, settings), [_pager_event(ws, project, a) for a in new_alerts])
    return new_alerts


def _store(ws, pid, project, unit, series, fired, settings, run, newest, actor, trigger) -> list[dict]:
    con = ws.con
    out = []
    by_period = series.set_index("period")
    with ws.transaction() as c:
        for f in fired.to_dict(orient="records"):
            if first_row(c.execute("SELECT alert_id FROM alerts WHERE project_id = ? AND rule = ? AND period_unit = ?"
                                   " AND period = ?", [pid, f["rule"], unit, int(f["period"])])):
                continue
            row = by_period.loc[f["period"]]
            start = None if pd.isna(row["start"]) else pd.Timestamp(row["start"])
            crun = None if pd.isna(f["consensus_run"]) else int(f["consensus_run"])
            pw = ev.period_workers(con, pid, unit, int(f["period"]), run, consensus_run=crun)
            onsets = ev.worker_onsets(con, pid, run, pw["worker"].tolist())
            named = _named_workers(f["rule"], f, pw, onsets, start if unit != "ingest" else None,
                                   _newcomer_rate(series, int(f["period"]), settings, "" if crun else "mv_"))
            rows = _worker_rows(named, onsets)
            evid = {**_jsonable(f["evidence"]), "p_value": _jsonable(f["p"]), "trigger": trigger,
                    "period": {"unit": unit, "key": int(f["period"]), "name": row["name"],
                               "start": _jsonable(start), "end": _jsonable(row["end"]),
                               "labels": int(row["labels"]), "workers": int(row["workers"])},
                    "workers": rows[: settings.max_workers], "n_workers": len(rows), "run_id": run}
            message = f"{RULE_TITLES[f['rule']]} in {row['name']}: {f['message']}"
            now = datetime.now(UTC)
            aid = int(first_row(c.execute(
                """INSERT INTO alerts (project_id, rule, severity, period_unit, period, period_name, period_start,
                       period_end, raised_at, run_id, ingest_id, value, threshold, message, evidence, workers)
                   VALUES (?, ?, ?, ?, ?, ?, ?::TIMESTAMPTZ, ?::TIMESTAMPTZ, ?::TIMESTAMPTZ, ?, ?, ?, ?, ?, ?::JSON, ?)
                   RETURNING alert_id""",
                [pid, f["rule"], f["severity"], unit, int(f["period"]), row["name"], _jsonable(start),
                 _jsonable(row["end"]), now.isoformat(), run, int(newest), _jsonable(f["value"]),
                 _jsonable(f["threshold"]), message, json.dumps(evid), [r["worker"] for r in rows]]))[0])
            h = audit.append(c, actor=actor.name, action="alert", project_id=pid, target_kind="alert", target=str(aid),
                             scope="project", reason=message[:500],
                             evidence={"rule": f["rule"], "severity": f["severity"], "period": row["name"],
                                       "value": _jsonable(f["value"]), "threshold": _jsonable(f["threshold"]),
                                       "p_value": _jsonable(f["p"]), "n_workers": len(rows), "run_id": run,
                                       "trigger": trigger})
            seq = audit.chain_head(c)[0]
            c.execute("UPDATE alerts SET audit_seq = ? WHERE alert_id = ?", [seq, aid])
            out.append({"alert_id": aid, "rule": f["rule"], "severity": f["severity"], "period": row["name"],
                        "period_start": _jsonable(start), "raised_at": now.isoformat(), "message": message,
                        "value": _jsonable(f["value"]), "threshold": _jsonable(f["threshold"]),
                        "workers": [r["worker"] for r in rows], "audit": {"seq": seq, "hash": h}})
    return out


def _pager_event(ws: Workspace, project: str, alert: dict) -> dict:
    """An alert as the pager file gets it; an encrypted workspace pages how many workers, not
    their ids (the file is read by other programs and is not sealed)."""
    event = {"event": "alert", "project": project, **alert}
    if ws.encrypted:
        event["workers"] = len(alert["workers"])
    return event


def _page(path: Path, events: list[dict]) -> None:
    """Append events as JSON lines (one write per event, flushed; readers see whole lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        for e in events:
            fh.write(json.dumps(_jsonable(e), separators=(",", ":"), default=str) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def evaluate_quietly(ws: Workspace, project: str, actor: Identity | None, trigger: str) -> tuple[list[dict], str | None]:
    """:func:`evaluate` for the hooks after an ingest or analysis, which must not undo their
    committed work: returns (new alerts, None), or ([], a one-line warning) when it failed."""
    import logging

    try:
        return evaluate(ws, project, actor=actor, trigger=trigger), None
    except UserError as exc:
        return [], f"alert rules not evaluated: {exc}"
    except Exception as exc:  # a bug: logged with its traceback; the ingest/analysis stays done
        logging.getLogger("crowdtrust.monitor").exception("alert evaluation failed")
        return [], f"alert rules not evaluated ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"


# -- reading and acknowledging ------------------------------------------------------------------

def list_alerts(con, project_id: int, status: str | None = None, limit: int | None = None) -> pd.DataFrame:
    """The project's alerts, newest first (``ALERT_COLUMNS``)."""
    sql = """SELECT alert_id, rule, severity, status, period_name, period_start, raised_at, message, value, threshold,
                    coalesce(len(workers), 0) AS n_workers, run_id, ingest_id, acked_by, acked_at, ack_note, audit_seq,
                    period_unit, period
             FROM alerts WHERE project_id = ?"""
    params: list = [int(project_id)]
    if status:
        sql += " AND status = ?"
        params.append(status)
    sql += " ORDER BY alert_id DESC"
    if limit:
        sql += " LIMIT ?"
        params.append(int(limit))
    return con.execute(sql, params).df()


def get_alert(con, project_id: int, alert_id: int) -> dict:
    """One alert with its evidence (UserError when the project has no such alert)."""
    df = con.execute("""SELECT alert_id, rule, severity, status, period_unit, period, period_name, period_start,
                               period_end, raised_at, run_id, ingest_id, value, threshold, message,
                               evidence::VARCHAR AS evidence, workers, acked_by, acked_at, ack_note, audit_seq
                        FROM alerts WHERE project_id = ? AND alert_id = ?""", [int(project_id), int(alert_id)]).df()
    if df.empty:
        raise UserError(f"no alert {alert_id} in this project; list them with `python -m analytics alerts`")
    out = _jsonable(df.iloc[0].to_dict())
    out["evidence"] = json.loads(df["evidence"].iloc[0]) if df["evidence"].iloc[0] else {}
    out["workers"] = list(df["workers"].iloc[0]) if df["workers"].iloc[0] is not None else []
    return out


def alerts_json(con, project_id: int, status: str | None = None) -> list[dict]:
    """Every alert of the project with its evidence, newest first (``alerts --json``)."""
    ids = list_alerts(con, project_id, status)["alert_id"].tolist()
    return [get_alert(con, project_id, int(a)) for a in ids]


@requires("alerts")
def acknowledge(ws: Workspace, project: str, alert_id: int, actor: Identity | None = None, note: str = "") -> dict:
    """Mark an alert acknowledged, with who and why, in the table and the audit chain (analysts and up)."""
    _writable(ws, "acknowledge an alert")
    pid = ws.project_id(project)
    alert = get_alert(ws.con, pid, alert_id)
    if alert["status"] == "acknowledged":
        raise UserError(f"alert {alert_id} was already acknowledged by {alert['acked_by']} at {alert['acked_at']}")
    note = (note or "").strip()
    with ws.transaction() as con:
        h = audit.append(con, actor=actor.name, action="acknowledge", project_id=pid, target_kind="alert",
                         target=str(alert_id), scope="project", reason=note or "acknowledged",
                         evidence={"rule": alert["rule"], "period": alert["period_name"], "message": alert["message"]})
        seq = audit.chain_head(con)[0]
        con.execute("UPDATE alerts SET status = 'acknowledged', acked_by = ?, acked_at = now(), ack_note = ? "
                    "WHERE alert_id = ?", [actor.name, note, int(alert_id)])
    audit.write_anchor(ws.path, ws.con)
    settings = load_settings(ws.con, pid)
    event = {"event": "acknowledge", "project": project, "alert_id": int(alert_id), "by": actor.name,
             "note": note, "at": datetime.now(UTC).isoformat(), "audit": {"seq": seq, "hash": h}}
    _page(pager_path(ws.path, settings), [event])
    return event
