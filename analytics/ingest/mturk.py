"""Amazon Mechanical Turk batch results CSV (one row per assignment).

``HITId`` -> task, ``WorkerId`` -> worker, ``AssignmentId`` -> assignment, ``AcceptTime`` ->
started_at, ``SubmitTime`` -> submitted_at (``Mon Sep 25 09:38:35 PDT 2017``, converted to UTC
from the zone abbreviation), ``WorkTimeInSeconds`` -> duration_s, and the ``Answer.<field>``
the user names with ``--label-field`` -> label (the only ``Answer.*`` column is taken when
there is just one; with several, the error names the likely one, see
:mod:`analytics.ingest.vocabulary`). Multi-select answers (``a|b``, crowd-html-elements'
``Answer.taskAnswers`` JSON) are normalised by :mod:`analytics.ingest.answers`; a group of
one-hot columns ``Answer.<q>.<option>`` (crowd-checkbox, crowd-radio-button) is one answer
field ``Answer.<q>``, whose label is the set of options marked true. Every other column
(``Input.*``, approval rates, status) is kept in ``extra``.
"""

from __future__ import annotations

import duckdb

from analytics.ingest.answers import answer_sql, onehot_groups, onehot_sql
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
from analytics.ingest.vocabulary import suggest_label_column

COLUMNS = {"task": "HITId", "worker": "WorkerId", "assignment": "AssignmentId",
           "started_at": "AcceptTime", "submitted_at": "SubmitTime", "duration_s": "WorkTimeInSeconds"}


def read(con: duckdb.DuckDBPyConnection, path, s: Sniff, shown: str, opts: ReadOptions) -> Source:
    src, columns = read_tabular(con, path, s, shown, opts.delimiter, expected_delim=",")
    cols = platform_columns(COLUMNS, columns, opts.mapping, shown, "MTurk")
    groups = onehot_groups(columns, "Answer.")
    grouped = {c for cs in groups.values() for c in cs}
    answers = [c for c in columns if c.startswith("Answer.") and c not in grouped] + list(groups)
    given = opts.label_field
    if given and given not in columns and "Answer." + given in groups:
        given = "Answer." + given
    if given in groups:
        label = given
    else:
        label = pick_label_field(answers, given, "Answer.", shown, "Answer.*", columns + list(groups),
                                 suggest=lambda: suggest_label_column(con, src, cols["task"], answers, groups))
    if label in groups:
        label_expr = onehot_sql(groups[label])
        used = set(groups[label])
    else:
        cols["label"] = label
        label_expr = answer_sql(ident(label))
        used = {label}
    extra = [c for c in columns if c not in cols.values() and c not in used]
    return Source(
        format="mturk",
        select_sql=stage_select(src, cols, extra, label_expr=label_expr),
        parse_time=mturk_utc,
        raw_names=cols,
        label_field=label,
        suggest=lambda: suggest_label_column(con, src, cols["task"], answers, groups),
    )
