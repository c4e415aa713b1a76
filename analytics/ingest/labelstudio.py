"""Label Studio JSON export: a list of tasks, each with ``annotations[]``.

One row per annotation, in file order: task ``id`` -> task, ``completed_by`` -> worker (an
integer user id, or an object whose ``id`` -- else ``email`` -- is taken), ``created_at`` ->
submitted_at (ISO-8601, UTC), ``lead_time`` (seconds) -> duration_s, and the choices of the
``choices`` (or ``rating``) control named with ``--label-field`` (its ``from_name``; the only
one is taken when there is just one) -> label; several chosen values are sorted and joined
with ``|``. Annotations with ``was_cancelled: true`` were skipped by the annotator: they are
counted and quarantined with reason ``cancelled``. Annotations marked ``ground_truth: true``
also become the gold answer of their task. The annotation id, ``updated_at``, the raw
``result`` and the task ``data`` are kept in ``extra``.
"""

from __future__ import annotations

import os

import duckdb

from analytics.errors import UserError
from analytics.ingest.base import ReadOptions, Source, lit, pick_label_field
from analytics.ingest.detect import Sniff
from analytics.ingest.times import iso_utc

CONTROL_TYPES = ("choices", "rating")


def _annotations_sql(path) -> str:
    p = lit(os.fspath(path))
    return (
        "(SELECT task_row, j, a, row_number() OVER (ORDER BY task_row, k) AS source_row FROM ("
        "  SELECT task_row, j, unnest(json_extract(j, '$.annotations[*]')) AS a,"
        "         generate_subscripts(json_extract(j, '$.annotations[*]'), 1) AS k"
        f"  FROM (SELECT row_number() OVER () AS task_row, json AS j FROM read_json_objects({p}, format='auto'))"
        "))"
    )


def read(con: duckdb.DuckDBPyConnection, path, s: Sniff, shown: str, opts: ReadOptions) -> Source:
    ann = _annotations_sql(path)
    types = ", ".join(lit(t) for t in CONTROL_TYPES)
    try:
        n_tasks, n_with_ann = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE json_type(json, '$.annotations') = 'ARRAY') "
            f"FROM read_json_objects({lit(os.fspath(path))}, format='auto')"
        ).fetchone()
        names = [r[0] for r in con.execute(
            f"SELECT DISTINCT json_extract_string(r, '$.from_name') AS n FROM "
            f"(SELECT unnest(json_extract(a, '$.result[*]')) AS r FROM {ann}) "
            f"WHERE json_extract_string(r, '$.type') IN ({types}) AND n IS NOT NULL ORDER BY n"
        ).fetchall()]
    except duckdb.Error as exc:
        raise UserError(f"cannot read {shown} as a Label Studio JSON export: {str(exc).splitlines()[0]}; "
                        f"export the project as JSON (not JSON_MIN) and load it again") from None
    if n_with_ann == 0:
        raise UserError(f"file {shown} has {n_tasks} tasks but no 'annotations' lists; export the Label Studio "
                        f"project as JSON with annotations, or use --format canonical")
    label_field = pick_label_field(names, opts.label_field, "", shown, "choices control (from_name)", names)
    res = (f"[r for r in json_extract(a, '$.result[*]') if json_extract_string(r, '$.type') IN ({types}) "
           f"AND json_extract_string(r, '$.from_name') = {lit(label_field)}][1]")
    label = (f"coalesce(array_to_string(list_sort(json_extract_string({res}, '$.value.choices[*]')), '|'), "
             f"json_extract_string({res}, '$.value.rating'))")
    cancelled = "coalesce(json_extract_string(a, '$.was_cancelled') = 'true', false)"
    worker = ("coalesce(json_extract_string(a, '$.completed_by.id'), json_extract_string(a, '$.completed_by.email'), "
              "CASE WHEN json_type(a, '$.completed_by') NOT IN ('OBJECT', 'NULL') "
              "THEN json_extract_string(a, '$.completed_by') END)")
    select = (
        "SELECT source_row, json_extract_string(j, '$.id') AS task, "
        f"{worker} AS worker, {label} AS label, "
        "NULL::VARCHAR AS started_raw, json_extract_string(a, '$.created_at') AS submitted_raw, "
        "json_extract_string(a, '$.lead_time') AS duration_raw, NULL::VARCHAR AS assignment, "
        "NULL::VARCHAR AS event_raw, "
        f"CASE WHEN {cancelled} THEN 'cancelled' END AS skip_reason, "
        f"CASE WHEN json_extract_string(a, '$.ground_truth') = 'true' AND NOT {cancelled} THEN {label} END AS gold_raw, "
        "json_object('annotation_id', json_extract(a, '$.id'), 'updated_at', json_extract(a, '$.updated_at'), "
        "'was_cancelled', json_extract(a, '$.was_cancelled'), 'ground_truth', json_extract(a, '$.ground_truth'), "
        "'result', json_extract(a, '$.result'), 'data', json_extract(j, '$.data'), "
        "'completed_by', json_extract(a, '$.completed_by')) AS extra "
        f"FROM {ann}"
    )
    return Source(
        format="labelstudio",
        select_sql=select,
        parse_time=iso_utc,
        raw_names={"task": "task.id", "worker": "completed_by_id", "label": label_field,
                   "submitted_at": "created_at", "duration_s": "lead_time"},
        label_field=label_field,
        gold_source="Label Studio ground_truth annotations",
    )
