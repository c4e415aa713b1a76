"""Workspace overview queries: what is in each project, where it came from, what was quarantined.

All counts are computed in DuckDB (one grouped query per table), never by pulling
annotations into pandas. Used by ``python -m analytics projects`` and the overview page.
"""

from __future__ import annotations

import duckdb
import pandas as pd

DEFAULT_QUARANTINE_LIMIT = 1000

PROJECT_SUMMARY_SQL = """
WITH a AS (
    SELECT project_id,
           count(DISTINCT (task, worker)) AS labels,
           count(DISTINCT worker) AS workers,
           count(DISTINCT task) AS tasks,
           count(DISTINCT label) AS classes,
           min(coalesce(submitted_at, started_at)) AS first_time,
           max(coalesce(submitted_at, started_at)) AS last_time
    FROM annotations GROUP BY project_id
),
g AS (SELECT project_id, count(*) AS gold FROM gold GROUP BY project_id),
i AS (SELECT project_id, count(*) AS n_ingests, sum(rows_quarantined) AS quarantined,
             max(loaded_at) AS last_ingest FROM ingests WHERE withdrawn_at IS NULL GROUP BY project_id)
SELECT p.project_id, p.name,
       coalesce(a.labels, 0)::BIGINT AS labels, coalesce(a.workers, 0)::BIGINT AS workers,
       coalesce(a.tasks, 0)::BIGINT AS tasks, coalesce(a.classes, 0)::BIGINT AS classes,
       coalesce(g.gold, 0)::BIGINT AS gold,
       a.first_time, a.last_time,
       coalesce(i.n_ingests, 0)::BIGINT AS n_ingests, coalesce(i.quarantined, 0)::BIGINT AS quarantined,
       i.last_ingest, p.label_set, p.created_at, p.parent_project_id
FROM projects p
LEFT JOIN a USING (project_id) LEFT JOIN g USING (project_id) LEFT JOIN i USING (project_id)
WHERE p.deleted_at IS NULL
ORDER BY p.project_id
"""


def project_summaries(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per project: project_id, name, labels (distinct worker answers to tasks),
    workers, tasks, classes, gold, first_time, last_time (UTC, from submitted/started times),
    n_ingests, quarantined, last_ingest, label_set, created_at, parent_project_id."""
    return con.execute(PROJECT_SUMMARY_SQL).df()


def ingest_history(con: duckdb.DuckDBPyConnection, project_id: int) -> pd.DataFrame:
    """The ingests of one project, oldest first, with their row counts and provenance."""
    return con.execute(
        "SELECT ingest_id, file_name, format, rows_read, rows_loaded, rows_quarantined, rows_duplicate, "
        "rows_updates, gold_loaded, actor, loaded_at, size_bytes, sha256, stored_path, options "
        "FROM ingests WHERE project_id = ? AND withdrawn_at IS NULL ORDER BY ingest_id",
        [project_id],
    ).df()


def quarantine_rows(con: duckdb.DuckDBPyConnection, project_id: int, ingest_id: int | None = None,
                    limit: int = DEFAULT_QUARANTINE_LIMIT) -> pd.DataFrame:
    """Quarantined rows of a project (optionally of one ingest): ingest_id, file_name,
    source_row, reason, raw (the source row as JSON text), at most ``limit`` rows."""
    where = "q.project_id = ?"
    params: list = [project_id]
    if ingest_id is not None:
        where += " AND q.ingest_id = ?"
        params.append(ingest_id)
    params.append(int(limit))
    return con.execute(
        f"SELECT q.ingest_id, i.file_name, q.source_row, q.reason, q.raw::VARCHAR AS raw "
        f"FROM quarantine q LEFT JOIN ingests i USING (ingest_id) WHERE {where} "
        f"ORDER BY q.ingest_id, q.source_row LIMIT ?",
        params,
    ).df()


def quarantine_reasons(con: duckdb.DuckDBPyConnection, project_id: int, ingest_id: int | None = None) -> pd.DataFrame:
    """Quarantine counts by reason (most frequent first)."""
    where = "project_id = ?"
    params: list = [project_id]
    if ingest_id is not None:
        where += " AND ingest_id = ?"
        params.append(ingest_id)
    return con.execute(
        f"SELECT reason, count(*) AS rows FROM quarantine WHERE {where} GROUP BY reason ORDER BY rows DESC, reason",
        params,
    ).df()
