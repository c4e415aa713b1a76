"""Amazon Mechanical Turk batch results CSV (one row per assignment).

``HITId`` -> task, ``WorkerId`` -> worker, ``AssignmentId`` -> assignment, ``AcceptTime`` ->
started_at, ``SubmitTime`` -> submitted_at (``Mon Sep 25 09:38:35 PDT 2017``, converted to UTC
from the zone abbreviation), ``WorkTimeInSeconds`` -> duration_s, and the ``Answer.<field>``
the user names with ``--label-field`` -> label (the only ``Answer.*`` column is taken when
there is just one). Multi-select answers, which MTurk joins with ``|``, are sorted so the same
set of choices is the same label. Every other column (``Input.*``, approval rates, status)
is kept in ``extra``.
"""

from __future__ import annotations

import duckdb

from analytics.ingest.base import (
    ReadOptions,
    Source,
    ident,
    pick_label_field,
    platform_columns,
    read_tabular,
    stage_select,
)
from analytics.ingest.detect import Sniff
from analytics.ingest.times import mturk_utc

COLUMNS = {"task": "HITId", "worker": "WorkerId", "assignment": "AssignmentId",
           "started_at": "AcceptTime", "submitted_at": "SubmitTime", "duration_s": "WorkTimeInSeconds"}
MULTI_SEPARATOR = "|"


def read(con: duckdb.DuckDBPyConnection, path, s: Sniff, shown: str, opts: ReadOptions) -> Source:
    src, columns = read_tabular(con, path, s, shown, opts.delimiter, expected_delim=",")
    cols = platform_columns(COLUMNS, columns, opts.mapping, shown, "MTurk")
    answers = [c for c in columns if c.startswith("Answer.")]
    label = pick_label_field(answers, opts.label_field, "Answer.", shown, "Answer.*", columns)
    cols["label"] = label
    v = ident(label)
    sep = MULTI_SEPARATOR
    label_expr = (f"CASE WHEN contains({v}, '{sep}') THEN array_to_string(list_sort("
                  f"[trim(x) for x in string_split({v}, '{sep}') if trim(x) <> '']), '{sep}') ELSE {v} END")
    extra = [c for c in columns if c not in cols.values()]
    return Source(
        format="mturk",
        select_sql=stage_select(src, cols, extra, label_expr=label_expr),
        parse_time=mturk_utc,
        raw_names=cols,
        label_field=label,
    )
