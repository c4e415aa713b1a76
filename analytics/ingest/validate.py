"""Validation, quarantine, duplicate collapsing and update detection, all in DuckDB SQL.

Rules, applied to every row of a :class:`~analytics.ingest.base.Source` in one bulk pass
(the first failing rule is the row's quarantine reason, :data:`REASONS`):

1. a reason given by the platform reader (``cancelled`` in Label Studio, ``status SKIPPED``
   in Toloka);
2. empty ``task``, ``worker`` or ``label`` (after trimming spaces);
3. a non-empty time or duration that does not parse (``unparseable submitted_at`` ...),
   or a negative duration;
4. an ``event`` other than create / update / delete;
5. a label outside the project's declared label set.

Rows that pass are then, per (task, worker) and ordered by time (then file order):

* **exact duplicates** -- the same label, times, duration, assignment and event as the
  previous row of that worker on that task, or as a row already in the project -- are
  collapsed and counted in ``rows_duplicate``;
* the first remaining answer is a ``create`` event, and every later one (or any answer to a
  (task, worker) the project already has) an ``update`` event, counted in ``rows_updates``.
  :func:`analytics.dataset.load_project` lets the latest one count. ``delete`` events in
  the source are kept as they are.

Invariant: ``rows_read = rows_loaded + rows_quarantined + rows_duplicate``.
"""

from __future__ import annotations

import duckdb

from analytics.ingest.base import Source, lit

REASONS = (
    "empty task", "empty worker", "empty label", "unparseable started_at", "unparseable submitted_at",
    "unparseable duration_s", "negative duration_s", "unknown event", "label not in label set",
)
EVENTS = ("create", "update", "delete")
# Columns that make two answers "exact duplicates" (with task and worker).
DUP_KEY = ("label", "started_at", "submitted_at", "duration_s", "assignment", "event_in")


def build_stage(con: duckdb.DuckDBPyConnection, source: Source, stage: str, label_set: list[str] | None) -> None:
    """Run the reader's SELECT once into temp table ``stage`` with parsed columns, a
    ``reason`` (NULL = valid) and, for quarantined rows only, the ``raw`` source row as JSON."""
    t = source.parse_time
    ls_rule = ""
    if label_set:
        ls_rule = f"WHEN label NOT IN ({', '.join(lit(x) for x in label_set)}) THEN 'label not in label set' "
    events = ", ".join(lit(e) for e in EVENTS)
    names = source.raw_names
    raw_pairs = []
    for canon, rawcol in (("task", "task_raw"), ("worker", "worker_raw"), ("label", "label_raw"),
                          ("started_at", "started_raw"), ("submitted_at", "submitted_raw"),
                          ("duration_s", "duration_raw"), ("assignment", "assignment"), ("event", "event_raw")):
        if canon in names:
            raw_pairs.append(f"{lit(names[canon])}, {rawcol}")
    raw_obj = f"json_object({', '.join(raw_pairs)})" if raw_pairs else "'{}'::JSON"
    sql = f"""
    CREATE TEMP TABLE {stage} AS
    SELECT source_row, task, worker, label, started_at, submitted_at, duration_s, assignment, event_in,
           extra, gold, reason,
           CASE WHEN reason IS NOT NULL THEN json_merge_patch(coalesce(extra, '{{}}'::JSON), {raw_obj}) END AS raw
    FROM (
        SELECT *,
            CASE
                WHEN skip_reason IS NOT NULL THEN skip_reason
                WHEN task IS NULL THEN 'empty task'
                WHEN worker IS NULL THEN 'empty worker'
                WHEN label IS NULL THEN 'empty label'
                WHEN nullif(trim(started_raw), '') IS NOT NULL AND started_at IS NULL THEN 'unparseable started_at'
                WHEN nullif(trim(submitted_raw), '') IS NOT NULL AND submitted_at IS NULL THEN 'unparseable submitted_at'
                WHEN nullif(trim(duration_raw), '') IS NOT NULL AND duration_s IS NULL THEN 'unparseable duration_s'
                WHEN duration_s < 0 THEN 'negative duration_s'
                WHEN event_in IS NOT NULL AND event_in NOT IN ({events}) THEN 'unknown event'
                {ls_rule}
            END AS reason
        FROM (
            SELECT r.source_row,
                   nullif(trim(r.task), '') AS task, nullif(trim(r.worker), '') AS worker,
                   nullif(trim(r.label), '') AS label,
                   {t('r.started_raw')} AS started_at,
                   {t('r.submitted_raw')} AS submitted_at,
                   TRY_CAST(nullif(trim(r.duration_raw), '') AS DOUBLE) AS duration_s,
                   nullif(trim(r.assignment), '') AS assignment,
                   lower(nullif(trim(r.event_raw), '')) AS event_in,
                   r.extra, nullif(trim(r.gold_raw), '') AS gold, r.skip_reason,
                   r.task AS task_raw, r.worker AS worker_raw, r.label AS label_raw,
                   r.started_raw, r.submitted_raw, r.duration_raw, r.event_raw
            FROM ({source.select_sql}) r
        )
    )
    """
    con.execute(sql)


def stage_counts(con: duckdb.DuckDBPyConnection, stage: str) -> tuple[int, dict[str, int]]:
    """(rows read, quarantine reason -> count)."""
    rows = con.execute(f"SELECT reason, count(*) FROM {stage} GROUP BY reason").fetchall()
    total = sum(int(n) for _, n in rows)
    reasons = {r: int(n) for r, n in sorted(rows, key=lambda x: -x[1]) if r is not None}
    return total, reasons


def insert_quarantine(con: duckdb.DuckDBPyConnection, stage: str, project_id: int, ingest_id: int) -> None:
    con.execute(
        f"INSERT INTO quarantine (project_id, ingest_id, source_row, reason, raw) "
        f"SELECT ?, ?, source_row, reason, raw FROM {stage} WHERE reason IS NOT NULL ORDER BY source_row",
        [project_id, ingest_id],
    )


def insert_annotations(con: duckdb.DuckDBPyConnection, stage: str, project_id: int, ingest_id: int) -> tuple[int, int]:
    """Insert the valid rows, collapsing exact duplicates and marking updates.

    Most (task, worker) pairs are answered once: those rows are inserted straight from the
    stage. Only the rows of pairs answered several times in the file go through the window
    that finds exact duplicates and orders the answers. Returns (rows loaded, of which updates).
    """
    has_prior = con.execute(
        "SELECT count(*) > 0 FROM (SELECT 1 FROM annotations WHERE project_id = ? LIMIT 1)", [project_id]
    ).fetchone()[0]
    multi = f"{stage}_multi"
    con.execute(f"CREATE TEMP TABLE {multi} AS SELECT task, worker FROM {stage} WHERE reason IS NULL "
                f"GROUP BY task, worker HAVING count(*) > 1")
    n_multi = con.execute(f"SELECT count(*) FROM {multi}").fetchone()[0]
    key = ", ".join(DUP_KEY)
    prior_join, prior_cond, prior_dup = "", "false", ""
    if has_prior:
        prior_join = (
            "LEFT JOIN (SELECT DISTINCT task, worker, true AS seen FROM annotations WHERE project_id = $pid) p "
            "ON p.task = x.task AND p.worker = x.worker"
        )
        prior_cond = "coalesce(p.seen, false)"
        prior_dup = (
            "AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.project_id = $pid AND a.task = x.task "
            "AND a.worker = x.worker AND a.label = x.label "
            "AND a.started_at IS NOT DISTINCT FROM x.started_at AND a.submitted_at IS NOT DISTINCT FROM x.submitted_at "
            "AND a.duration_s IS NOT DISTINCT FROM x.duration_s AND a.assignment IS NOT DISTINCT FROM x.assignment "
            "AND a.event = coalesce(x.event_in, a.event))"
        )
    insert = (
        "INSERT INTO annotations (project_id, ingest_id, source_row, task, worker, label, started_at, submitted_at, "
        "duration_s, assignment, event, extra) "
        "SELECT $pid, $iid, x.source_row, x.task, x.worker, x.label, x.started_at, x.submitted_at, x.duration_s, "
        "x.assignment, CASE WHEN x.event_in = 'delete' THEN 'delete' "
        f"WHEN x.pos > 1 OR {prior_cond} THEN 'update' ELSE 'create' END, x.extra "
    )
    params = {"pid": project_id, "iid": ingest_id}
    single = f"(SELECT *, 1 AS pos FROM {stage} WHERE reason IS NULL)"
    if n_multi:
        single = f"(SELECT s.*, 1 AS pos FROM {stage} s ANTI JOIN {multi} m USING (task, worker) WHERE s.reason IS NULL)"
    con.execute(f"{insert} FROM {single} x {prior_join} WHERE true {prior_dup}", params)
    if n_multi:
        order = f"coalesce(submitted_at, started_at) NULLS FIRST, {key}, source_row"
        repeated = (
            f"(SELECT * FROM (SELECT s.*, row_number() OVER w AS pos, "
            f"struct_pack({key}) IS NOT DISTINCT FROM lag(struct_pack({key})) OVER w AS is_dup "
            f"FROM {stage} s SEMI JOIN {multi} m USING (task, worker) WHERE s.reason IS NULL "
            f"WINDOW w AS (PARTITION BY task, worker ORDER BY {order})) WHERE NOT is_dup)"
        )
        con.execute(f"{insert} FROM {repeated} x {prior_join} WHERE true {prior_dup}", params)
    con.execute(f"DROP TABLE {multi}")
    loaded, updates = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE event = 'update') FROM annotations WHERE ingest_id = ?", [ingest_id]
    ).fetchone()
    return int(loaded), int(updates)


def platform_gold(con: duckdb.DuckDBPyConnection, stage: str) -> tuple[list[tuple[str, str]], int]:
    """Gold answers from the platform's golden columns: (task, label) pairs and the number of
    tasks whose rows disagree on the gold answer (the most frequent answer is taken)."""
    rows = con.execute(
        f"SELECT task, mode(gold) AS label, count(DISTINCT gold) AS n FROM {stage} "
        f"WHERE gold IS NOT NULL AND task IS NOT NULL GROUP BY task ORDER BY task"
    ).fetchall()
    return [(r[0], r[1]) for r in rows], sum(1 for r in rows if r[2] > 1)
