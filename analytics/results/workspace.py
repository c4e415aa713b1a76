"""Projects, runs and ingests of a workspace: what the sidebar, Overview and Data pages list."""

from __future__ import annotations

import pandas as pd

from analytics.errors import UserError
from analytics.results.sql import _df, _final, _one


def table_exists(con, name: str) -> bool:
    return bool(_one(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])[0])


def projects(con) -> pd.DataFrame:
    """One row per project: id, name, labels (final answers, as :func:`project_stats` counts
    them), workers, tasks, gold items, time range, latest run."""
    return _df(con, """
        WITH edited AS (SELECT DISTINCT project_id FROM annotations WHERE event <> 'create'),
        fin AS (
            SELECT project_id, task, worker, submitted_at, started_at FROM annotations
            WHERE project_id NOT IN (SELECT project_id FROM edited)
            UNION ALL
            SELECT project_id, task, worker, submitted_at, started_at FROM (
                SELECT *, row_number() OVER (
                    PARTITION BY project_id, task, worker
                    ORDER BY coalesce(submitted_at, started_at) DESC NULLS LAST, ingest_id DESC, source_row DESC) AS rn
                FROM annotations WHERE project_id IN (SELECT project_id FROM edited))
            WHERE rn = 1 AND event <> 'delete'
        ), a AS (
            SELECT project_id, count(*) AS labels, count(DISTINCT worker) AS workers,
                   count(DISTINCT task) AS tasks,
                   min(coalesce(submitted_at, started_at)) AS first_at,
                   max(coalesce(submitted_at, started_at)) AS last_at
            FROM fin GROUP BY project_id
        ), g AS (SELECT project_id, count(*) AS gold FROM gold GROUP BY project_id),
        r AS (SELECT project_id, max(run_id) AS latest_run FROM runs WHERE status = 'complete' GROUP BY project_id)
        SELECT p.project_id, p.name, coalesce(a.labels, 0) AS labels, coalesce(a.workers, 0) AS workers,
               coalesce(a.tasks, 0) AS tasks, coalesce(g.gold, 0) AS gold, a.first_at, a.last_at,
               r.latest_run, p.created_at, coalesce(p.kind, 'single') AS kind
        FROM projects p LEFT JOIN a USING (project_id) LEFT JOIN g USING (project_id)
        LEFT JOIN r USING (project_id)
        WHERE p.deleted_at IS NULL
        ORDER BY p.project_id""")


def project_id(con, name: str) -> int:
    row = _one(con, "SELECT project_id FROM projects WHERE name = ?", [name])
    if not row:
        raise UserError(f"no project named {name!r} in this workspace; pick one from the sidebar")
    return int(row[0])


def project_stats(con, project_id: int) -> dict:
    """Labels (final answers), events, workers, tasks, gold, time range and which time columns exist."""
    row = _one(con, f"""
        WITH {_final(con, project_id)}
        SELECT count(*), count(DISTINCT worker), count(DISTINCT task),
               min(ts), max(ts), count(ts), count(duration_s)
        FROM final""", {"pid": project_id})
    events = _one(con, "SELECT count(*) FROM annotations WHERE project_id = ?", [project_id])[0]
    gold = _one(con, "SELECT count(*) FROM gold WHERE project_id = ?", [project_id])[0]
    return {
        "labels": int(row[0]), "events": int(events), "workers": int(row[1]), "tasks": int(row[2]),
        "gold": int(gold), "first_at": row[3], "last_at": row[4],
        "has_time": bool(row[5]), "has_duration": bool(row[6]),
    }


def label_set(con, project_id: int) -> pd.DataFrame:
    """The project's labels: declared or not, how many final answers and gold items use each."""
    declared = _one(con, "SELECT label_set FROM projects WHERE project_id = ?", [project_id])
    declared = list(declared[0]) if declared and declared[0] else []
    df = _df(con, f"""
        WITH {_final(con, project_id)},
        used AS (SELECT label, count(*) AS answers FROM final GROUP BY label),
        g AS (SELECT label, count(*) AS gold_items FROM gold WHERE project_id = $pid GROUP BY label),
        d AS (SELECT unnest($declared::TEXT[]) AS label)
        SELECT label, coalesce(answers, 0) AS answers, coalesce(gold_items, 0) AS gold_items,
               label IN (SELECT label FROM d) AS declared
        FROM (SELECT label FROM used UNION SELECT label FROM g UNION SELECT label FROM d)
        LEFT JOIN used USING (label) LEFT JOIN g USING (label)
        ORDER BY answers DESC, label""", {"pid": project_id, "declared": declared})
    return df


def gold_summary(con, project_id: int) -> pd.DataFrame:
    """Gold answers grouped by where they came from."""
    return _df(con, """
        SELECT source, count(*) AS items, count(DISTINCT label) AS labels, min(ingest_id) AS ingest_id
        FROM gold WHERE project_id = ? GROUP BY source ORDER BY items DESC""", [project_id])


def runs(con, project_id: int, limit: int = 50) -> pd.DataFrame:
    """The project's analysis runs, newest first."""
    return _df(con, """
        SELECT run_id, method, status, started_at, finished_at, duration_s, code_version, error
        FROM runs WHERE project_id = ? ORDER BY run_id DESC LIMIT ?""", [project_id, limit])


def latest_run(con, project_id: int) -> int | None:
    """The newest complete run of the project (a run in progress never replaces it)."""
    row = _one(con, "SELECT max(run_id) FROM runs WHERE project_id = ? AND status = 'complete'", [project_id])
    return None if row is None or row[0] is None else int(row[0])


def previous_run(con, project_id: int, run_id: int) -> int | None:
    """The complete run before ``run_id`` in the same project."""
    row = _one(con, "SELECT max(run_id) FROM runs WHERE project_id = ? AND status = 'complete' AND run_id < ?",
               [project_id, run_id])
    return None if row is None or row[0] is None else int(row[0])


def running_run(con, project_id: int) -> dict | None:
    """A run of the project still in progress (started by any live process), or None.

    A run whose process on this machine no longer exists was interrupted; it is marked failed
    the next time the workspace is opened for writing and is not reported here."""
    from analytics.store import process_alive

    rows = con.execute("""SELECT run_id, started_at, method, host, pid FROM runs
                          WHERE project_id = ? AND status = 'running' ORDER BY run_id DESC""", [project_id]).fetchall()
    for r in rows:
        if process_alive(r[3], r[4]):
            return {"run_id": int(r[0]), "started_at": r[1], "method": r[2]}
    return None


def ingest_history(con, project_id: int | None = None, limit: int = 200) -> pd.DataFrame:
    """Ingests of the whole workspace (or one project), newest first, with the project name and
    provenance: file, format, SHA-256, row counts, who and when. (Per-project history, oldest
    first, and the quarantined rows themselves are :mod:`analytics.catalog`.)"""
    return _df(con, """
        SELECT i.ingest_id, i.project_id, p.name AS project, i.file_name, i.format, i.size_bytes, i.sha256,
               i.rows_read, i.rows_loaded, i.rows_quarantined, i.rows_duplicate, i.rows_updates, i.gold_loaded,
               i.actor, i.loaded_at
        FROM ingests i JOIN projects p USING (project_id)
        WHERE ($pid IS NULL OR i.project_id = $pid) AND p.deleted_at IS NULL AND i.withdrawn_at IS NULL
        ORDER BY i.ingest_id DESC LIMIT $limit""", {"pid": project_id, "limit": int(limit)})
