"""CrowdFlower / Figure Eight / Appen "full report" CSV (one row per judgment).

``_unit_id`` -> task, ``_worker_id`` -> worker, ``_started_at`` -> started_at, ``_created_at``
-> submitted_at (``M/D/YYYY HH:MM:SS`` in UTC), the answer field -> label. The answer field is
the one named with ``--label-field``, else the only field ``<f>`` that has a ``<f>_gold``
column beside it (with several, the error names the likely one). Several checkbox answers on
separate lines are one multi-select answer (:mod:`analytics.ingest.answers`). Gold: rows marked ``_golden`` (or, without that column, rows with a
non-empty ``<f>_gold``) give the gold answer of their unit; CrowdFlower separates several
accepted answers with a newline, and the first one is taken. ``_trust``, ``_channel``,
``_country``, ``_id`` and the unit's fields go to ``extra``.
"""

from __future__ import annotations

import duckdb

from analytics.ingest.answers import answer_sql
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
from analytics.ingest.times import crowdflower_utc
from analytics.ingest.vocabulary import suggest_label_column

COLUMNS = {"task": "_unit_id", "worker": "_worker_id", "started_at": "_started_at", "submitted_at": "_created_at"}


def read(con: duckdb.DuckDBPyConnection, path, s: Sniff, shown: str, opts: ReadOptions) -> Source:
    src, columns = read_tabular(con, path, s, shown, opts.delimiter, expected_delim=",")
    cols = platform_columns(COLUMNS, columns, opts.mapping, shown, "CrowdFlower")
    with_gold = [c for c in columns if not c.startswith("_") and f"{c}_gold" in columns]
    fields = with_gold or [c for c in columns if not c.startswith("_") and not c.endswith("_gold")]
    label = pick_label_field(with_gold or fields, opts.label_field, "", shown, "answer (<field>_gold)", fields,
                             suggest=lambda: suggest_label_column(con, src, cols["task"], with_gold or fields))
    cols["label"] = label
    gold_col = f"{label}_gold"
    gold = "NULL::VARCHAR"
    gold_source = None
    if gold_col in columns:
        g = f"nullif(trim(split_part(replace({ident(gold_col)}, chr(13), ''), chr(10), 1)), '')"
        if "_golden" in columns:
            gold = f"CASE WHEN lower(trim({ident('_golden')})) IN ('true', '1', 'yes') THEN {g} END"
        else:
            gold = g
        gold_source = f"platform golden column {gold_col}"
    extra = [c for c in columns if c not in cols.values()]
    warnings = []
    if "_golden" in columns and gold_col not in columns:
        warnings.append(f"the file marks _golden rows but has no {gold_col} column; no gold was loaded from it")
    return Source(
        format="crowdflower",
        select_sql=stage_select(src, cols, extra, gold=gold,
                                label_expr=answer_sql(ident(label), newline_sets=True)),
        parse_time=crowdflower_utc,
        raw_names=cols,
        label_field=label,
        gold_source=gold_source,
        warnings=warnings,
        suggest=lambda: suggest_label_column(con, src, cols["task"], with_gold or fields),
    )
