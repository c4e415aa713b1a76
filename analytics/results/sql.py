"""The SQL every read of the pages shares: a project's final answers and small frame helpers.

Final answers follow :data:`analytics.dataset.FINAL_ANSWERS_SQL`: per (task, worker) the
latest ``create``/``update`` event counts and a ``delete`` removes the answer.
"""

from __future__ import annotations

import json

import pandas as pd

_FINAL_CTE = """
final AS (
    SELECT task, worker, label, started_at, submitted_at,
           coalesce(duration_s, epoch(submitted_at) - epoch(started_at)) AS duration_s,
           coalesce(submitted_at, started_at) AS ts
    FROM (
        SELECT *, row_number() OVER (
            PARTITION BY task, worker
            ORDER BY coalesce(submitted_at, started_at) DESC NULLS LAST, ingest_id DESC, source_row DESC) AS rn
        FROM annotations
        WHERE project_id = $pid {filter}
    )
    WHERE rn = 1 AND event <> 'delete'
)"""


_SIMPLE_FINAL_CTE = """
final AS (
    SELECT task, worker, label, started_at, submitted_at,
           coalesce(duration_s, epoch(submitted_at) - epoch(started_at)) AS duration_s,
           coalesce(submitted_at, started_at) AS ts
    FROM annotations
    WHERE project_id = $pid {filter}
)"""


def _final(con, project_id: int, filter_sql: str = "") -> str:
    """The ``final`` CTE (one row per final answer) for a project.

    Ingest stores a worker's second answer to an item as an ``update`` event, so a project
    whose events are all ``create`` has exactly one row per (task, worker): its final
    answers are its rows and the window of :data:`_FINAL_CTE` (the costliest step on a
    million labels) is skipped.
    """
    edited = _one(con, "SELECT count(*) FROM annotations WHERE project_id = ? AND event <> 'create'",
                  [project_id])[0]
    return (_FINAL_CTE if edited else _SIMPLE_FINAL_CTE).format(filter=filter_sql)


def _df(con, sql: str, params: dict | list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or {}).df()


def _one(con, sql: str, params: dict | list | None = None):
    return con.execute(sql, params or {}).fetchone()


def _ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _literal(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def _json(value) -> dict:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    try:
        out = json.loads(value)
    except (TypeError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


def _clean(v):
    """JSON-friendly scalar: NaN/NA become None, numpy scalars become Python ones."""
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        return v
    return v.item() if hasattr(v, "item") else v
