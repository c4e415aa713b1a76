"""Canonical files: CSV, TSV, Parquet, JSON Lines / JSON with the columns of DESIGN.md
(``task, worker, label`` required; ``started_at, submitted_at, duration_s, assignment,
event`` optional; every other column is kept in ``extra``).

Files that name the columns differently are mapped with ``--map worker=annotator_id``
(``mapping={"worker": "annotator_id"}``). Without a mapping, a few common spellings
(:data:`ALIASES`) are recognised when the canonical name is absent, with a warning.
"""

from __future__ import annotations

import duckdb

from analytics.errors import UserError
from analytics.ingest.answers import answer_sql
from analytics.ingest.base import (
    CANONICAL,
    REQUIRED,
    ReadOptions,
    Source,
    ident,
    parallel_csv,
    read_tabular,
    stage_select,
)
from analytics.ingest.detect import Sniff
from analytics.ingest.vocabulary import suggest_label_column

# Spellings accepted for a canonical column when it is absent (first match wins).
ALIASES: dict[str, tuple[str, ...]] = {
    "task": ("task_id", "item", "item_id", "object", "question"),
    "worker": ("worker_id", "annotator", "annotator_id", "user_id"),
    "label": ("answer", "response", "worker_label"),
    "started_at": ("start_time", "accept_time", "accepted_at"),
    "submitted_at": ("submit_time", "created_at", "timestamp"),
    "duration_s": ("duration", "time_spent_s", "work_time_s", "lead_time"),
    "assignment": ("assignment_id",),
}
GOLD_ALIASES: dict[str, tuple[str, ...]] = {
    "task": ALIASES["task"],
    "label": ("gold", "gold_label", "true_label", "truth", "answer"),
}


def resolve_columns(columns: list[str], mapping: dict[str, str], label_field: str | None, shown: str,
                    required=REQUIRED, aliases=ALIASES, wanted=CANONICAL) -> tuple[dict[str, str], list[str]]:
    """Canonical name -> source column, from the explicit mapping, exact names and aliases."""
    warnings: list[str] = []
    mapping = dict(mapping or {})
    if label_field:
        mapping.setdefault("label", label_field)
    unknown = [k for k in mapping if k not in wanted]
    if unknown:
        raise UserError(f"--map {unknown[0]}=...: {unknown[0]!r} is not a column CrowdTrust knows; "
                        f"map onto one of: {', '.join(wanted)}")
    for canon, src in mapping.items():
        if src not in columns:
            raise UserError(f"--map {canon}={src}: file {shown} has no column {src!r} "
                            f"(columns found: {', '.join(columns)})")
    out: dict[str, str] = dict(mapping)
    used = set(out.values())
    for canon in wanted:
        if canon in out:
            continue
        if canon in columns and canon not in used:
            out[canon] = canon
            used.add(canon)
            continue
        for alias in aliases.get(canon, ()):
            if alias in columns and alias not in used:
                out[canon] = alias
                used.add(alias)
                warnings.append(f"used column {alias!r} as {canon}")
                break
    missing = [c for c in required if c not in out]
    if missing:
        m = missing[0]
        raise UserError(
            f"file {shown} has no {m} column (columns found: {', '.join(columns)}); "
            f"name it with --map {m}=<column>"
        )
    return out, warnings


def read(con: duckdb.DuckDBPyConnection, path, s: Sniff, shown: str, opts: ReadOptions) -> Source:
    in_order = parallel_csv(path, s)
    src, columns = read_tabular(con, path, s, shown, opts.delimiter, numbered=not in_order)
    cols, warnings = resolve_columns(columns, opts.mapping, opts.label_field, shown)
    extra = [c for c in columns if c not in cols.values()]
    kind = {"parquet": "parquet", "json": "json"}.get(s.kind, "csv")
    return Source(
        format="canonical",
        select_sql=stage_select(src, cols, extra, label_expr=answer_sql(ident(cols["label"]))),
        raw_names=dict(cols),
        label_field=cols["label"],
        warnings=warnings,
        options={"container": kind},
        rows_in_file_order=in_order,
        suggest=lambda: suggest_label_column(
            con, src, cols["task"], [c for c in columns if c not in cols.values() or c == cols["label"]]),
    )


def read_gold(con: duckdb.DuckDBPyConnection, path, s: Sniff, shown: str, delimiter: str | None = None) -> str:
    """SQL selecting ``source_row, task, label`` from a gold file (task, label)."""
    from analytics.ingest.base import ident

    src, columns = read_tabular(con, path, s, shown, delimiter)
    cols, _ = resolve_columns(columns, {}, None, shown, required=("task", "label"),
                              aliases=GOLD_ALIASES, wanted=("task", "label"))
    return (f"SELECT source_row, nullif(trim({ident(cols['task'])}), '') AS task, "
            f"nullif(trim({ident(cols['label'])}), '') AS label FROM {src}")
