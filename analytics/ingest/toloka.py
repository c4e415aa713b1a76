"""Toloka results TSV (toloka-kit ``GetAssignmentsTsvParameters``; one row per task per assignment).

``ASSIGNMENT:worker_id`` -> worker, ``ASSIGNMENT:task_id`` -> task (when the export has no
task id, the task is identified by its ``INPUT:*`` values: the single input column, or an
MD5 of all of them, with a warning), ``ASSIGNMENT:assignment_id`` -> assignment,
``ASSIGNMENT:started`` / ``ASSIGNMENT:submitted`` -> times (ISO-8601, UTC), and the
``OUTPUT:<field>`` named with ``--label-field`` (or the only one) -> label. Rows whose
``ASSIGNMENT:status`` is SKIPPED or EXPIRED carry no answer and go to quarantine with that
status as the reason; REJECTED rows are kept (the rejection is evidence) with the status
in ``extra``. ``GOLDEN:<field>`` values become the gold answers of their tasks.
"""

from __future__ import annotations

import duckdb

from analytics.errors import UserError
from analytics.ingest.answers import answer_sql
from analytics.ingest.base import (
    ReadOptions,
    Source,
    ident,
    lit,
    pick_label_field,
    read_tabular,
    stage_select,
)
from analytics.ingest.detect import Sniff
from analytics.ingest.times import iso_utc
from analytics.ingest.vocabulary import suggest_label_column

COLUMNS = {"task": "ASSIGNMENT:task_id", "worker": "ASSIGNMENT:worker_id",
           "assignment": "ASSIGNMENT:assignment_id", "started_at": "ASSIGNMENT:started",
           "submitted_at": "ASSIGNMENT:submitted"}
NO_ANSWER_STATUSES = ("SKIPPED", "EXPIRED")


def read(con: duckdb.DuckDBPyConnection, path, s: Sniff, shown: str, opts: ReadOptions) -> Source:
    src, columns = read_tabular(con, path, s, shown, opts.delimiter, expected_delim="\t")
    cols = dict(COLUMNS)
    cols.update(opts.mapping or {})
    if cols["worker"] not in columns:
        raise UserError(f"file {shown} has no {cols['worker']} column (columns found: {', '.join(columns)}); "
                        f"export the results with the worker_id field, or use --map worker=<column>")
    warnings: list[str] = []
    task_expr = None
    if cols["task"] not in columns:
        inputs = [c for c in columns if c.startswith("INPUT:")]
        if not inputs:
            raise UserError(f"file {shown} has neither ASSIGNMENT:task_id nor INPUT:* columns to identify the task; "
                            f"export with the task_id field, or use --map task=<column>")
        if len(inputs) == 1:
            task_expr = ident(inputs[0])
            warnings.append(f"no ASSIGNMENT:task_id column: tasks identified by {inputs[0]}")
        else:
            task_expr = "md5(concat_ws(chr(31), " + ", ".join(f"coalesce({ident(c)}, '')" for c in inputs) + "))"
            warnings.append("no ASSIGNMENT:task_id column: tasks identified by an MD5 of their INPUT:* values")
        del cols["task"]
    for k in list(cols):
        if cols[k] not in columns:
            del cols[k]
    outputs = [c for c in columns if c.startswith("OUTPUT:")]
    label = pick_label_field(outputs, opts.label_field, "OUTPUT:", shown, "OUTPUT:*", columns)
    cols["label"] = label
    field = label.split(":", 1)[1] if label.startswith("OUTPUT:") else label
    gold_col = f"GOLDEN:{field}"
    gold = f"nullif(trim({ident(gold_col)}), '')" if gold_col in columns else "NULL::VARCHAR"
    skip = "NULL::VARCHAR"
    if "ASSIGNMENT:status" in columns:
        st = f"upper(trim({ident('ASSIGNMENT:status')}))"
        statuses = ", ".join(lit(x) for x in NO_ANSWER_STATUSES)
        skip = f"CASE WHEN {st} IN ({statuses}) THEN 'status ' || {st} END"
    extra = [c for c in columns if c not in cols.values()]
    return Source(
        format="toloka",
        select_sql=stage_select(src, cols, extra, skip_reason=skip, gold=gold, task_expr=task_expr,
                                label_expr=answer_sql(ident(label))),
        parse_time=iso_utc,
        raw_names=cols,
        label_field=label,
        gold_source=f"platform golden column {gold_col}" if gold_col in columns else None,
        warnings=warnings,
        suggest=lambda: suggest_label_column(con, src, cols.get("task"), outputs),
    )
