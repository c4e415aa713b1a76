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

The file is streamed, never held in memory: valid rows go straight into ``annotations``
(one parallel ``INSERT ... SELECT`` over the reader), the file is counted, and only when
some rows are missing is it read again to put the failing rows into ``quarantine``. Large
CSV files read by DuckDB's parallel reader (``Source.rows_in_file_order``) are instead
inserted whole, numbered from their insertion order, and their failing rows then moved to
``quarantine`` (:func:`_insert_in_file_order`): one read, on every core. Pairs answered
more than once are found afterwards from a 64-bit hash of (task, worker) (sorted, or grouped
for very large ingests) and checked exactly.

Rows that pass are then, per (task, worker) and ordered by time (then file order):

* **exact duplicates** -- the same label, times, duration, assignment and event as the
  previous row of that worker on that task (so a -> b -> a keeps all three rows, and ``a``
  wins when the times tie or are absent), or as a row already in the project unless
  dropping it would change the final answer -- are collapsed and counted in ``rows_duplicate``;
* the first remaining answer is a ``create`` event, and every later one (or any answer to a
  (task, worker) the project already has) an ``update`` event, counted in ``rows_updates``.
  :func:`analytics.dataset.load_project` lets the latest one count. ``delete`` events in
  the source are kept as they are.

Invariant: ``rows_read = rows_loaded + rows_quarantined + rows_duplicate``.

Large files (over :data:`FAST_WRITE_MIN_BYTES`) are written with DuckDB's FSST string
compression switched off and committed with an immediate checkpoint (:func:`bulk_write_settings`):
choosing and applying FSST costs about 40 % of the insert's CPU time on 10 million rows,
while dictionary compression, which stays on, already fits task/worker/label ids well.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import numpy as np

from analytics.ingest.base import Source, lit

REASONS = (
    "empty task", "empty worker", "empty label", "unparseable started_at", "unparseable submitted_at",
    "unparseable duration_s", "negative duration_s", "unknown event", "label not in label set",
)
EVENTS = ("create", "update", "delete")
FAST_WRITE_MIN_BYTES = 64 * 1024 * 1024
# Checkpoint threshold while a large file is committed: low, so the commit checkpoints the new
# rows straight into the database file. Otherwise DuckDB logs rows renumbered after their
# optimistic write (:func:`_insert_in_file_order`) row by row in the write-ahead log (~600 MB
# for 10M rows, 2 s) and checkpoints them again later.
BULK_CHECKPOINT_THRESHOLD = "1KB"
# Up to this many new rows, repeated (task, worker) pairs are first looked for by sorting their
# hashes in numpy (8 bytes a row in memory); larger ingests group them in DuckDB.
SORT_CHECK_MAX_ROWS = 20_000_000
SLOW_COMPRESSION = ("FSST", "DICT_FSST")
# Columns that make two answers "exact duplicates" (with task and worker).
DUP_KEY = ("label", "started_at", "submitted_at", "duration_s", "assignment", "event_in")


@contextlib.contextmanager
def bulk_write_settings(con: duckdb.DuckDBPyConnection, size_bytes: int) -> Iterator[None]:
    """Switch off FSST compression while a large file is written, and let its commit checkpoint
    at once (:data:`BULK_CHECKPOINT_THRESHOLD`); restore both settings after.

    The options are database-wide: other writers to the same workspace during those seconds
    also store strings without FSST (valid, slightly larger)."""
    if size_bytes < FAST_WRITE_MIN_BYTES:
        yield
        return
    old = con.execute("SELECT current_setting('disabled_compression_methods')").fetchone()[0] or ""
    old_threshold = con.execute("SELECT current_setting('checkpoint_threshold')").fetchone()[0]
    methods = sorted({m.strip().upper() for m in old.split(",") if m.strip()} | set(SLOW_COMPRESSION))
    con.execute(f"SET disabled_compression_methods = '{','.join(methods)}'")
    con.execute(f"SET checkpoint_threshold = '{BULK_CHECKPOINT_THRESHOLD}'")
    try:
        yield
    finally:
        con.execute(f"SET checkpoint_threshold = '{old_threshold}'")
        if old:
            con.execute(f"SET disabled_compression_methods = '{old}'")
        else:
            con.execute("RESET disabled_compression_methods")


@contextlib.contextmanager
def no_filter_pushdown(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Keep ``WHERE reason IS NULL`` above the projection that computes ``reason``.

    Pushed below it, DuckDB inlines the validation CASE into the filter and parses every
    timestamp and trims every id twice; on 1M rows that is about 30 % of the insert's CPU.
    DuckDB only has this option database-wide, so other connections to the same workspace
    plan without filter pushdown (correct, possibly slower) for the seconds of the insert.
    """
    old = con.execute("SELECT current_setting('disabled_optimizers')").fetchone()[0] or ""
    names = sorted({n.strip() for n in old.split(",") if n.strip()} | {"filter_pushdown"})
    con.execute(f"SET disabled_optimizers = '{','.join(names)}'")
    try:
        yield
    finally:
        if old:
            con.execute(f"SET disabled_optimizers = '{old}'")
        else:
            con.execute("RESET disabled_optimizers")


def validated_sql(source: Source, label_set: list[str] | None) -> str:
    """The reader's SELECT with parsed columns, a ``reason`` (NULL = valid) and, for failing
    rows only, the ``raw`` source row as JSON."""
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
    return f"""
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


@dataclass
class LoadResult:
    rows_read: int
    rows_valid: int
    rows_loaded: int
    rows_updates: int
    reasons: dict[str, int]
    gold: list[tuple[str, str]]
    gold_conflicts: int


def load(con: duckdb.DuckDBPyConnection, source: Source, project_id: int, ingest_id: int,
         label_set: list[str] | None) -> LoadResult:
    """Validate ``source`` and write its rows into ``annotations`` and ``quarantine``."""
    v = validated_sql(source, label_set)
    params = {"pid": project_id, "iid": ingest_id}
    has_prior = con.execute(
        "SELECT count(*) > 0 FROM (SELECT 1 FROM annotations WHERE project_id = ? LIMIT 1)", [project_id]
    ).fetchone()[0]
    prior_join, prior_cond = "", "false"
    if has_prior:
        prior_join = ("LEFT JOIN (SELECT DISTINCT task, worker, true AS seen FROM annotations "
                      "WHERE project_id = $pid) p ON p.task = x.task AND p.worker = x.worker")
        prior_cond = "coalesce(p.seen, false)"
    reasons: dict[str, int] = {}
    if source.rows_in_file_order:
        total, valid, reasons = _insert_in_file_order(con, v, params, has_prior)
    else:
        with no_filter_pushdown(con):
            valid = con.execute(
                "INSERT INTO annotations (project_id, ingest_id, source_row, task, worker, label, started_at, submitted_at, "
                "duration_s, assignment, event, extra) "
                "SELECT $pid, $iid, x.source_row, x.task, x.worker, x.label, x.started_at, x.submitted_at, x.duration_s, "
                f"x.assignment, CASE WHEN x.event_in = 'delete' THEN 'delete' WHEN {prior_cond} THEN 'update' "
                f"ELSE 'create' END, x.extra FROM ({v}) x {prior_join} WHERE x.reason IS NULL",
                params,
            ).fetchone()[0]
        total = con.execute(f"SELECT count(*) FROM ({source.select_sql})").fetchone()[0]
        if total > valid:
            with no_filter_pushdown(con):
                con.execute(
                    f"INSERT INTO quarantine (project_id, ingest_id, source_row, reason, raw) "
                    f"SELECT $pid, $iid, source_row, reason, raw FROM ({v}) WHERE reason IS NOT NULL", params)
            rows = con.execute("SELECT reason, count(*) AS n FROM quarantine WHERE ingest_id = ? "
                               "GROUP BY reason ORDER BY n DESC, reason", [ingest_id]).fetchall()
            reasons = {r: int(n) for r, n in rows}
    dup_removed = _collapse_repeats(con, project_id, ingest_id, has_prior) if valid else 0
    loaded, updates = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE event = 'update') FROM annotations WHERE ingest_id = ?", [ingest_id]
    ).fetchone()
    if loaded != valid - dup_removed:
        raise RuntimeError(f"ingest {ingest_id}: {valid} valid rows, {dup_removed} duplicates but {loaded} stored")
    gold, conflicts = [], 0
    if source.gold_source:
        g = con.execute(
            f"SELECT task, mode(gold) AS label, count(DISTINCT gold) AS n FROM ({v}) "
            f"WHERE gold IS NOT NULL AND task IS NOT NULL GROUP BY task ORDER BY task"
        ).fetchall()
        gold = [(r[0], r[1]) for r in g]
        conflicts = sum(1 for r in g if r[2] > 1)
    return LoadResult(int(total), int(valid), int(loaded), int(updates), reasons, gold, conflicts)


# Marks a failing row inside ``annotations.event`` between the insert and its move to quarantine.
_QMARK = "quarantine: "


def _insert_in_file_order(con: duckdb.DuckDBPyConnection, v: str, params: dict,
                          has_prior: bool) -> tuple[int, int, dict[str, int]]:
    """Insert every row of a parallel reader, number it, then move failing rows to quarantine.

    ``WITH ORDINALITY`` would run the whole read-validate-insert pipeline in one thread, so
    the rows are inserted with ``source_row = 0`` by DuckDB's order-preserving parallel
    insert (``preserve_insertion_order``, on by default): their row ids are then consecutive
    and in file order, and ``source_row = rowid - first rowid + 1``. Failing rows are
    inserted too (reason in ``event``, raw row in ``extra``) so the numbering has no gaps,
    and are moved to ``quarantine`` in the same transaction. Returns (rows read, rows
    valid, quarantine reasons).
    """
    order = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0]
    if not order:
        con.execute("SET preserve_insertion_order = true")
    try:
        total = con.execute(
            "INSERT INTO annotations (project_id, ingest_id, source_row, task, worker, label, started_at, "
            "submitted_at, duration_s, assignment, event, extra) "
            "SELECT $pid, $iid, 0, coalesce(x.task, ''), coalesce(x.worker, ''), coalesce(x.label, ''), "
            "x.started_at, x.submitted_at, x.duration_s, x.assignment, "
            f"CASE WHEN x.reason IS NOT NULL THEN {lit(_QMARK)} || x.reason "
            "WHEN x.event_in = 'delete' THEN 'delete' ELSE 'create' END, "
            f"CASE WHEN x.reason IS NOT NULL THEN x.raw ELSE x.extra END FROM ({v}) x",
            params,
        ).fetchone()[0]
    finally:
        if not order:
            con.execute("SET preserve_insertion_order = false")
    iid = params["iid"]
    first, last, n, bad = con.execute(
        "SELECT min(rowid), max(rowid), count(*), count(*) FILTER (WHERE starts_with(event, $q)) "
        "FROM annotations WHERE ingest_id = $iid", {"iid": iid, "q": _QMARK}).fetchone()
    if n != total or (n and last - first + 1 != n):
        raise RuntimeError(f"ingest {iid}: {total} rows inserted but {n} rows with ids {first}..{last}")
    if total:
        con.execute("UPDATE annotations SET source_row = rowid - $first + 1 WHERE ingest_id = $iid",
                    {"iid": iid, "first": first})
    reasons: dict[str, int] = {}
    if bad:
        sel = f"ingest_id = $iid AND starts_with(event, {lit(_QMARK)})"
        con.execute(f"INSERT INTO quarantine (project_id, ingest_id, source_row, reason, raw) "
                    f"SELECT $pid, $iid, source_row, substr(event, {len(_QMARK) + 1}), extra FROM annotations "
                    f"WHERE {sel}", params)
        con.execute(f"DELETE FROM annotations WHERE {sel}", {"iid": iid})
        rows = con.execute("SELECT reason, count(*) AS n FROM quarantine WHERE ingest_id = ? "
                           "GROUP BY reason ORDER BY n DESC, reason", [iid]).fetchall()
        reasons = {r: int(c) for r, c in rows}
    if has_prior:
        con.execute(
            "UPDATE annotations x SET event = 'update' WHERE x.ingest_id = $iid AND x.event = 'create' AND EXISTS "
            "(SELECT 1 FROM annotations a WHERE a.project_id = $pid AND a.ingest_id <> $iid "
            "AND a.task = x.task AND a.worker = x.worker)", params)
    return int(total), int(total - bad), reasons

def _may_repeat(con: duckdb.DuckDBPyConnection, ingest_id: int) -> bool:
    """False when no two new rows share a 64-bit hash of (task, worker), so no pair repeats.

    Up to :data:`SORT_CHECK_MAX_ROWS` rows the hashes are sorted with numpy (a radix sort,
    about a third of the CPU of DuckDB grouping 10M distinct keys); above, or when a hash
    repeats, the caller's exact grouping decides."""
    n = con.execute("SELECT count(*) FROM annotations WHERE ingest_id = ?", [ingest_id]).fetchone()[0]
    if n > SORT_CHECK_MAX_ROWS:
        return True
    h = con.execute("SELECT hash(task, worker) AS h FROM annotations WHERE ingest_id = ?",
                    [ingest_id]).fetchnumpy()["h"]
    h = np.sort(np.asarray(h))
    return bool(np.any(h[1:] == h[:-1]))


def _collapse_repeats(con: duckdb.DuckDBPyConnection, project_id: int, ingest_id: int, has_prior: bool) -> int:
    """Delete exact duplicates among the new rows (and of rows already in the project) and mark
    every later answer of a worker to a task as an ``update``. Returns the rows deleted.

    A row is a repeat when it equals the answer just before it in (time, file row) order, the
    order in which :func:`analytics.dataset.load_project` lets the latest answer win; so
    a -> b -> a keeps all three rows and ends with ``a`` when times tie or are absent. A row
    that equals an answer of an earlier ingest is a repeat unless deleting it would change the
    final answer (:func:`_drop_prior_repeats`)."""
    removed = 0
    if _may_repeat(con, ingest_id):
        removed += _drop_repeats_within(con, ingest_id)
    if has_prior:
        removed += _drop_prior_repeats(con, project_id, ingest_id)
    return removed


# Orders the answers of one (task, worker) as load_project does, earliest first: by time (rows
# without one first), then file row. Ties are therefore resolved by the order in the file.
_ANSWER_ORDER = "coalesce(submitted_at, started_at) NULLS FIRST, source_row"
_KEY = ", ".join(c if c != "event_in" else "(event = 'delete')" for c in DUP_KEY)


def _drop_repeats_within(con: duckdb.DuckDBPyConnection, ingest_id: int) -> int:
    """Delete each new row equal to the previous answer of its (task, worker) in this ingest
    (:data:`_ANSWER_ORDER`), and mark the later remaining answers as updates."""
    # Candidate pairs by a 64-bit hash (cheap to group); the window below checks them exactly.
    n_multi = con.execute(
        "CREATE TEMP TABLE _ingest_multi AS SELECT hash(task, worker) AS h FROM annotations WHERE ingest_id = ? "
        "GROUP BY h HAVING count(*) > 1", [ingest_id]
    ).fetchone()[0]
    if not n_multi:
        con.execute("DROP TABLE _ingest_multi")
        return 0
    con.execute(
        f"""CREATE TEMP TABLE _ingest_repeats AS
        SELECT source_row, row_number() OVER w AS pos,
               row({_KEY}) IS NOT DISTINCT FROM lag(row({_KEY})) OVER w AS is_dup
        FROM annotations WHERE ingest_id = $iid AND hash(task, worker) IN (SELECT h FROM _ingest_multi)
        WINDOW w AS (PARTITION BY task, worker ORDER BY {_ANSWER_ORDER})""",
        {"iid": ingest_id},
    )
    try:
        removed = con.execute(
            "DELETE FROM annotations WHERE ingest_id = $iid AND source_row IN "
            "(SELECT source_row FROM _ingest_repeats WHERE is_dup)", {"iid": ingest_id}).fetchone()[0]
        con.execute(
            "UPDATE annotations SET event = 'update' WHERE ingest_id = $iid AND event = 'create' AND source_row IN "
            "(SELECT source_row FROM _ingest_repeats WHERE pos > 1 AND NOT is_dup)", {"iid": ingest_id})
    finally:
        con.execute("DROP TABLE IF EXISTS _ingest_repeats")
        con.execute("DROP TABLE IF EXISTS _ingest_multi")
    return removed


def _drop_prior_repeats(con: duckdb.DuckDBPyConnection, project_id: int, ingest_id: int) -> int:
    """Delete new rows equal to a row of an earlier ingest of the project (a file loaded
    again, or an export overlapping the last one), except a row that is the final answer of
    its (task, worker) and whose deletion would let a different answer win (a worker who
    went a -> b in earlier files and back to a in this one keeps a)."""
    params = {"pid": project_id, "iid": ingest_id}
    n = con.execute(
        "CREATE TEMP TABLE _ingest_prior AS SELECT x.source_row, x.task, x.worker FROM annotations x "
        "WHERE x.ingest_id = $iid AND EXISTS (SELECT 1 FROM annotations a "
        "WHERE a.project_id = $pid AND a.ingest_id <> $iid AND a.task = x.task AND a.worker = x.worker "
        "AND a.label = x.label AND a.started_at IS NOT DISTINCT FROM x.started_at "
        "AND a.submitted_at IS NOT DISTINCT FROM x.submitted_at AND a.duration_s IS NOT DISTINCT FROM x.duration_s "
        "AND a.assignment IS NOT DISTINCT FROM x.assignment AND (a.event = 'delete') = (x.event = 'delete'))",
        params).fetchone()[0]
    try:
        if not n:
            return 0
        # The final answer of each affected pair (load_project's order), with and without the candidates.
        latest = "coalesce(a.submitted_at, a.started_at) DESC NULLS LAST, a.ingest_id DESC, a.source_row DESC"
        key = ", ".join(f"a.{c}" if c != "event_in" else "(a.event = 'delete')" for c in DUP_KEY)
        con.execute(
            f"""CREATE TEMP TABLE _ingest_keep AS
            WITH pairs AS (SELECT DISTINCT task, worker FROM _ingest_prior),
            ranked AS (
                SELECT a.task, a.worker, a.source_row, row({key}) AS k, d.source_row IS NOT NULL AS cand,
                       row_number() OVER (PARTITION BY a.task, a.worker ORDER BY {latest}) AS rn_all,
                       row_number() OVER (PARTITION BY a.task, a.worker, d.source_row IS NOT NULL
                                          ORDER BY {latest}) AS rn_kind
                FROM annotations a JOIN pairs p ON p.task = a.task AND p.worker = a.worker
                LEFT JOIN _ingest_prior d ON a.ingest_id = $iid AND d.source_row = a.source_row
                WHERE a.project_id = $pid
            )
            SELECT b.source_row FROM ranked b JOIN ranked f ON f.task = b.task AND f.worker = b.worker
            WHERE b.rn_all = 1 AND b.cand AND NOT f.cand AND f.rn_kind = 1 AND b.k IS DISTINCT FROM f.k""",
            params)
        return con.execute(
            "DELETE FROM annotations WHERE ingest_id = $iid AND source_row IN (SELECT source_row FROM _ingest_prior) "
            "AND source_row NOT IN (SELECT source_row FROM _ingest_keep)", {"iid": ingest_id}).fetchone()[0]
    finally:
        con.execute("DROP TABLE IF EXISTS _ingest_keep")
        con.execute("DROP TABLE IF EXISTS _ingest_prior")
