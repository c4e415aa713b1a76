"""The scope of an incident: its workers, items and labels, the onset, and the affected exports.

* Workers: the incident's workers with their labels, items, first and last label, verdict in
  the latest run and whether they are banned now.
* Onset: per worker, the first suspicious label (:func:`analytics.monitor.evidence.worker_onsets`:
  a fired drift change point, else a fired burst window, else the first label); for a worker
  who was labelling before the period of the alert that named them (an established account),
  the most likely change point of their agreement with the consensus from that period's
  start on (:func:`change_points`), since the periods before raised nothing. The incident's
  onset is the earliest of them.
* Items: every task the workers labelled; labels: their labels, and those from the onset on.
* Affected exports: every ``labels`` or ``items`` export recorded in the audit log whose data
  held labels of the incident's workers (labels ingested before the export while the worker
  was not banned), with its file name, SHA-256, time and, when the delivered file is archived
  (:func:`analytics.export.archived_path`), how many of its labels differ from the labels
  aggregated without the incident's workers.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.monitor.evidence import worker_onsets
from analytics.monitor.series import period_key
from analytics.store import first_row

EXPORT_KINDS = ("labels", "items")
#: span of a project (days) up to which the activity chart counts labels per day
ACTIVITY_DAY_SPAN = 120


def _latest_run(con, pid: int) -> int | None:
    row = first_row(con.execute("SELECT max(run_id) FROM runs WHERE project_id = ? AND status = 'complete'", [pid]))
    return int(row[0]) if row and row[0] is not None else None


def worker_table(con, pid: int, workers: list[str], alert_start=None) -> pd.DataFrame:
    """``worker, labels, items, first_at, last_at, onset, onset_source, labels_from_onset, suspect, trust, banned``."""
    from analytics.actions import banned_workers

    if not workers:
        return pd.DataFrame(columns=["worker", "labels", "items", "first_at", "last_at", "onset", "onset_source",
                                     "labels_from_onset", "suspect", "trust", "banned"])
    run = _latest_run(con, pid)
    on = worker_onsets(con, pid, run, workers)
    if alert_start is not None:
        start = pd.Timestamp(alert_start)
        start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
        # established accounts whose detected onset (if any) lies before the period that raised nothing
        early = (on["first_at"] < start) & ((on["onset_source"] == "first label") | (on["onset"] < start))
        if early.any():
            cp = change_points(con, pid, on.loc[early, "worker"].tolist(), start)
            t = on["worker"].map(cp)
            pick = early & t.notna()
            on.loc[pick, "onset"] = pd.to_datetime(t[pick], utc=True)
            on.loc[pick, "onset_source"] = "change point in the alert period (established account)"
    stats = con.execute("""SELECT worker, count(*) AS labels, count(DISTINCT task) AS items,
                                  max(coalesce(submitted_at, started_at)) AS last_at
                           FROM annotations WHERE project_id = ? AND list_contains(?, worker) AND event <> 'delete'
                           GROUP BY worker""", [pid, workers]).df()
    on_ts = on[["worker", "onset"]]
    con.register("_onsets", on_ts)
    try:
        after = con.execute("""SELECT a.worker, count(*) AS labels_from_onset FROM annotations a JOIN _onsets o
                               USING (worker) WHERE a.project_id = ? AND a.event <> 'delete'
                                 AND (o.onset IS NULL OR coalesce(a.submitted_at, a.started_at) IS NULL
                                      OR coalesce(a.submitted_at, a.started_at) >= o.onset)
                               GROUP BY a.worker""", [pid]).df()
    finally:
        con.unregister("_onsets")
    out = on.merge(stats, on="worker", how="left").merge(after, on="worker", how="left")
    # the verdict of the newest run that saw each worker (runs after a ban leave the worker out)
    v = con.execute("""SELECT w.worker, arg_max(w.suspect, w.run_id) AS suspect, arg_max(w.trust, w.run_id) AS trust
                       FROM run_workers w JOIN runs r USING (run_id)
                       WHERE r.project_id = ? AND r.status = 'complete' AND list_contains(?, w.worker)
                       GROUP BY w.worker""", [pid, workers]).df()
    out = out.merge(v, on="worker", how="left")
    out["banned"] = out["worker"].isin(set(banned_workers(con, pid)))
    out["labels_from_onset"] = out["labels_from_onset"].fillna(0).astype(int)
    cols = ["worker", "labels", "items", "first_at", "last_at", "onset", "onset_source", "labels_from_onset",
            "suspect", "trust", "banned"]
    return out[cols].sort_values(["onset", "worker"]).reset_index(drop=True)


def change_points(con, pid: int, workers: list[str], start: pd.Timestamp) -> dict[str, pd.Timestamp]:
    """Per worker, the time of the first label after the most likely change in their agreement with
    the latest run's consensus, searched from ``start`` on.

    x_t = 1 when the worker's t-th label (time order) disagrees with the consensus; the split s
    maximises s H(x_1..s) + (n - s) H(x_s+1..n), H the Bernoulli log-likelihood at the segment's
    own rate (the maximum-likelihood single change point, Hinkley 1970, Biometrika 57:1-17),
    among the splits whose next label is at or after ``start``. A worker with no label from
    ``start`` on gets none.
    """
    run = _latest_run(con, pid)
    if run is None or not workers:
        return {}
    df = con.execute("""SELECT a.worker, coalesce(a.submitted_at, a.started_at) AS t,
                               (a.label <> rt.label)::INTEGER AS x
                        FROM annotations a JOIN run_tasks rt ON rt.run_id = ? AND rt.task = a.task
                        WHERE a.project_id = ? AND list_contains(?, a.worker) AND a.event <> 'delete'
                          AND coalesce(a.submitted_at, a.started_at) IS NOT NULL
                        ORDER BY a.worker, t""", [run, pid, list(workers)]).df()
    out: dict[str, pd.Timestamp] = {}
    df["t"] = pd.to_datetime(df["t"], utc=True)
    for w, d in df.groupby("worker", sort=False):
        x = d["x"].to_numpy(float)
        n = x.size
        after = np.flatnonzero((d["t"] >= start).to_numpy())
        if after.size == 0:
            continue
        c = np.cumsum(x)
        split = np.arange(max(int(after[0]), 1), n)          # labels [0, s) before, [s, n) after
        if split.size == 0:
            out[str(w)] = d["t"].iloc[int(after[0])]
            continue
        p1, p2 = c[split - 1] / split, (c[-1] - c[split - 1]) / (n - split)

        def ll(p, m):
            with np.errstate(divide="ignore", invalid="ignore"):
                v = m * (p * np.log(p) + (1 - p) * np.log(1 - p))
            return np.nan_to_num(v)

        best = split[int(np.argmax(ll(p1, split) + ll(p2, n - split)))]
        out[str(w)] = d["t"].iloc[int(best)]
    return out


def incident_items(con, pid: int, workers: list[str]) -> list[str]:
    """Tasks the workers labelled, sorted."""
    if not workers:
        return []
    return [r[0] for r in con.execute("SELECT DISTINCT task FROM annotations WHERE project_id = ? AND"
                                      " list_contains(?, worker) ORDER BY task", [pid, workers]).fetchall()]


# -- exports -------------------------------------------------------------------------------

def delivered_exports(con, pid: int, kinds=EXPORT_KINDS) -> pd.DataFrame:
    """Label-carrying exports recorded in the audit log: ``seq, exported_at, actor, file, kind, format, sha256, rows, run_id``."""
    df = con.execute("""SELECT seq, created_at AS exported_at, actor, target AS file,
                               evidence->>'kind' AS kind, evidence->>'format' AS format, evidence->>'sha256' AS sha256,
                               TRY_CAST(evidence->>'rows' AS BIGINT) AS rows, TRY_CAST(evidence->>'run_id' AS BIGINT) AS run_id
                        FROM actions WHERE project_id = ? AND action = 'export' ORDER BY seq""", [pid]).df()
    return df[df["kind"].isin(kinds)].reset_index(drop=True)


def exports_containing(con, pid: int, workers: list[str], exports: pd.DataFrame) -> pd.DataFrame:
    """Per export, how many labels of ``workers`` its data held (ingested before it, not banned then)."""
    if exports.empty or not workers:
        return exports.assign(incident_labels=pd.Series(dtype="int64"), incident_workers=pd.Series(dtype="int64"))
    ex = exports[["seq", "exported_at"]]  # noqa: F841  (scanned by DuckDB)
    con.register("_exports", ex)
    try:
        counts = con.execute("""
            WITH lab AS (SELECT a.worker, i.loaded_at FROM annotations a JOIN ingests i USING (ingest_id)
                         WHERE a.project_id = $pid AND a.event <> 'delete' AND list_contains($workers, a.worker)),
            bans AS (SELECT seq, target AS worker, action, scope FROM actions
                     WHERE target_kind = 'worker' AND action IN ('ban', 'unban') AND list_contains($workers, target)
                       AND ((scope = 'project' AND project_id = $pid) OR scope = 'workspace')),
            last AS (SELECT e.seq AS ex_seq, b.worker, b.scope, arg_max(b.action, b.seq) AS act
                     FROM _exports e JOIN bans b ON b.seq < e.seq GROUP BY ALL),
            banned AS (SELECT DISTINCT ex_seq, worker FROM last WHERE act = 'ban')
            SELECT e.seq, count(*) AS incident_labels, count(DISTINCT lab.worker) AS incident_workers
            FROM _exports e JOIN lab ON lab.loaded_at <= e.exported_at
            LEFT JOIN banned b ON b.ex_seq = e.seq AND b.worker = lab.worker
            WHERE b.worker IS NULL GROUP BY e.seq""", {"pid": pid, "workers": list(workers)}).df()
    finally:
        con.unregister("_exports")
    out = exports.merge(counts, on="seq", how="left")
    out["incident_labels"] = out["incident_labels"].fillna(0).astype(int)
    out["incident_workers"] = out["incident_workers"].fillna(0).astype(int)
    return out


def read_export_labels(data: bytes, fmt: str) -> pd.DataFrame:
    """``task, label, confidence`` of a labels or items export's bytes (CSV escaping undone)."""
    if fmt == "parquet":
        df = pd.read_parquet(io.BytesIO(data))
    elif fmt == "jsonl":
        df = pd.read_json(io.BytesIO(data), lines=True, dtype=False)
    else:
        df = pd.read_csv(io.BytesIO(data), dtype={"task": str, "label": str}, keep_default_na=False,
                         na_values=[""])
        for c in ("task", "label"):
            s = df[c].astype("string")
            esc = s.str.match(r"^'[=+\-@\t\r]", na=False)
            df[c] = s.mask(esc, s.str.slice(1))
    keep = [c for c in ("task", "label", "confidence") if c in df.columns]
    out = df[keep].copy()
    out["task"] = out["task"].astype(str)
    out["label"] = out["label"].astype("string")
    return out


def diff_labels(delivered: pd.DataFrame, corrected: pd.DataFrame) -> pd.DataFrame:
    """One row per task whose label differs: ``task, delivered_label, corrected_label, delivered_confidence,
    corrected_confidence, change`` (``changed``, ``removed``: no label any more, ``added``)."""
    d = delivered.rename(columns={"label": "delivered_label", "confidence": "delivered_confidence"})
    c = corrected.rename(columns={"label": "corrected_label", "confidence": "corrected_confidence"})
    m = d.merge(c, on="task", how="outer")
    for col in ("delivered_confidence", "corrected_confidence"):
        if col not in m:
            m[col] = np.nan
    dl, cl = m["delivered_label"].astype(object), m["corrected_label"].astype(object)
    d_na, c_na = dl.isna().to_numpy(), cl.isna().to_numpy()
    differs = (dl.fillna("").astype(str) != cl.fillna("").astype(str)).to_numpy()
    change = np.where(d_na, "added", np.where(c_na, "removed", np.where(differs, "changed", "")))
    m["change"] = change
    m = m[m["change"] != ""]
    return m[["task", "delivered_label", "corrected_label", "delivered_confidence", "corrected_confidence",
              "change"]].sort_values("task").reset_index(drop=True)


def labels_without(con, pid: int, workers: list[str]) -> pd.DataFrame:
    """``task, label, confidence`` aggregated with the project's model without the banned workers and ``workers``."""
    from analytics.actions import banned_workers
    from analytics.aggregate import aggregate
    from analytics.dataset import load_project
    from analytics.pipeline import project_settings

    settings = project_settings(con, pid).trust
    data = load_project(con, pid, exclude_workers=sorted(set(banned_workers(con, pid)) | set(workers)))
    cons = aggregate(data, settings.method, use_gold=settings.use_gold)
    return pd.DataFrame({"task": data.task_ids.astype(str), "label": data.classes[cons.labels].astype(str),
                         "confidence": cons.confidence})


def affected_exports(con, workspace, pid: int, workers: list[str], clean: pd.DataFrame | None = None,
                     before_seq: int | None = None) -> list[dict]:
    """The delivered exports holding the workers' labels (see the module docstring).

    ``clean`` (labels without the workers) is computed when needed; ``before_seq`` ignores
    exports recorded at or after that audit entry (e.g. the repair's own corrected files).
    """
    from analytics.export import archived_path, read_archived
    from analytics.store import Workspace, sealer_for

    root = workspace.path if isinstance(workspace, Workspace) else Path(workspace)
    ex = delivered_exports(con, pid)
    if before_seq is not None:
        ex = ex[ex["seq"] < before_seq]
    ex = exports_containing(con, pid, workers, ex)
    ex = ex[ex["incident_labels"] > 0]
    out = []
    for r in ex.itertuples(index=False):
        item = {"file": r.file, "sha256": r.sha256, "audit_seq": int(r.seq),
                "exported_at": pd.Timestamp(r.exported_at).isoformat(), "exported_by": r.actor, "kind": r.kind,
                "format": r.format, "rows": None if pd.isna(r.rows) else int(r.rows),
                "incident_labels": int(r.incident_labels), "incident_workers": int(r.incident_workers),
                "archived": False, "labels_would_change": None}
        if archived_path(root, r.sha256).exists():
            item["archived"] = True
            if clean is None:
                clean = labels_without(con, pid, workers)
            sealer = workspace.sealer if isinstance(workspace, Workspace) else sealer_for(root)
            delivered = read_export_labels(read_archived(root, r.sha256, sealer), r.format)
            d = diff_labels(delivered, clean[clean["task"].isin(set(delivered["task"]))])
            item["labels_would_change"] = int((d["change"] != "added").sum())
        out.append(item)
    return out


def incident_scope(con, workspace, pid: int, incident: dict, with_exports: bool = True) -> dict:
    """Everything the Incidents page and the report show about what the incident touched."""
    workers = list(incident["workers"])
    starts = [pd.Timestamp(d.get("period_start")) for d in _alert_details(con, incident) if d.get("period_start")]
    wt = worker_table(con, pid, workers, alert_start=min(starts) if starts else None)
    items = incident_items(con, pid, workers)
    onset = wt["onset"].min() if len(wt) and wt["onset"].notna().any() else None
    scope = {
        "workers": wt, "items": items, "n_items": len(items), "n_labels": int(wt["labels"].fillna(0).sum()),
        "n_labels_from_onset": int(wt["labels_from_onset"].sum()),
        "onset": None if onset is None or pd.isna(onset) else pd.Timestamp(onset),
        "onset_worker": None if onset is None or pd.isna(onset) else str(wt.loc[wt["onset"].idxmin(), "worker"]),
    }
    if with_exports:
        scope["affected_exports"] = affected_exports(con, workspace, pid, workers)
    return scope


def _alert_details(con, incident: dict) -> list[dict]:
    rows = con.execute("SELECT detail::VARCHAR FROM incident_links WHERE incident_id = ? AND kind = 'alert'",
                       [int(incident["incident_id"])]).fetchall()
    return [json.loads(r[0]) for r in rows if r[0]]



def scope_of(con, workspace, pid: int, incident_id: int) -> dict:
    """:func:`incident_scope` of incident ``incident_id`` (the Incidents page's cached read)."""
    from analytics.incidents.records import get_incident

    return incident_scope(con, workspace, pid, get_incident(con, pid, incident_id))


def activity_unit(con, pid: int) -> str:
    """Days for projects spanning up to ACTIVITY_DAY_SPAN days, weeks beyond."""
    row = first_row(con.execute("""SELECT epoch(max(coalesce(submitted_at, started_at)))
                                          - epoch(min(coalesce(submitted_at, started_at)))
                                   FROM annotations WHERE project_id = ?""", [pid]))
    return "day" if row is None or row[0] is None or row[0] <= ACTIVITY_DAY_SPAN * 86400 else "week"


def activity(con, pid: int, incident_id: int) -> pd.DataFrame:
    """Labels per day (or week, for long projects) by the incident's workers and by the others."""
    from analytics.incidents.records import get_incident

    return activity_frame(con, pid, get_incident(con, pid, incident_id)["workers"], activity_unit(con, pid))


def activity_frame(con, pid: int, workers: list[str], unit: str) -> pd.DataFrame:
    """``bucket, who, labels``: labels per day or week by ``workers`` ('incident workers') and the others."""
    if unit == "ingest":
        unit = "day"
    key = period_key(unit, "coalesce(submitted_at, started_at)")
    width = {"day": 86400, "week": 604800}[unit]
    off = {"day": 0, "week": 345600}[unit]
    df = con.execute(f"""
        SELECT to_timestamp({key} * {width} + {off}) AS bucket,
               CASE WHEN list_contains($w, worker) THEN 'incident workers' ELSE 'other workers' END AS who,
               count(*) AS labels
        FROM annotations WHERE project_id = $pid AND coalesce(submitted_at, started_at) IS NOT NULL
        GROUP BY ALL ORDER BY bucket, who""", {"pid": pid, "w": workers}).df()
    df.attrs["unit"] = unit
    return df
