"""A dry run of an ingest, before anything is written, and how a file compares with a project.

:func:`preview_file` reads a file with the same reader, options and validation as
:func:`analytics.ingest.ingest_file`, in a private in-memory DuckDB, and reports what the
ingest would do: the format, the label column (and the likely one when several could be),
valid and quarantined rows, the kind of answers, the most common labels and the golden
columns. Any problem the ingest would refuse is raised here as the same
:class:`~analytics.errors.UserError`, so the upload form shows it before the user clicks.
At most :data:`PREVIEW_ROWS` rows are read.

:func:`compare_with_project` lists the ways a previewed file differs from an existing
project (format, label column, kind of answers, labels the project has never seen), for a
warning the user confirms before the file is added.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from analytics.errors import UserError
from analytics.ingest.answers import SEPARATOR
from analytics.ingest.base import ReadOptions, duckdb_read_error
from analytics.ingest.detect import detect_format, normalize_format, sniff
from analytics.ingest.labelmap import apply_rules
from analytics.ingest.times import session_utc
from analytics.ingest.validate import validated_sql
from analytics.ingest.vocabulary import describe_kind, profile_labels, refuse_vocabulary

PREVIEW_ROWS = 200_000
TOP_LABELS = 12


def preview_file(path: str | os.PathLike, name: str | None = None, *, format: str | None = None,
                 label_field: str | None = None, mapping: dict[str, str] | None = None,
                 delimiter: str | None = None, rules: list | None = None, kind: str | None = None) -> dict:
    """What ingesting ``path`` would do (see the module docstring); raises UserError where it would fail."""
    from analytics.ingest.loader import READERS

    shown = name or Path(path).name
    s = sniff(path, shown)
    fmt = normalize_format(format) if format else detect_format(path, shown)
    con = duckdb.connect()
    try:
        with session_utc(con):
            opts = ReadOptions(label_field=label_field, mapping=dict(mapping or {}), delimiter=delimiter)
            source = READERS[fmt](con, path, s, shown, opts)
            if rules:
                source = apply_rules(source, rules, "label mapping")
            v = f"SELECT * FROM ({validated_sql(source, None)}) LIMIT {PREVIEW_ROWS}"
            try:
                con.execute(f"CREATE TEMP TABLE p AS {v}")
            except duckdb.Error as exc:
                raise duckdb_read_error(exc, shown) from None
            rows = int(con.execute("SELECT count(*) FROM p").fetchall()[0][0])
            reasons = dict(con.execute("SELECT reason, count(*) FROM p WHERE reason IS NOT NULL GROUP BY 1 "
                                       "ORDER BY 2 DESC").fetchall())
            valid = rows - sum(reasons.values())
            if rows == 0:
                raise UserError(f"file {shown} has no data rows (only a header or an empty list); "
                                "export the results again and check that they contain answers")
            if valid == 0:
                top = ", ".join(f"{r} ({n})" for r, n in list(reasons.items())[:3])
                raise UserError(f"no row of {shown} could be loaded: all {rows} rows fail validation ({top}); "
                                "check --format, --label-field and --map")
            prof = profile_labels(con, "SELECT task, label FROM p WHERE reason IS NULL")
            found = prof.kind()
            if found == "too-large" and kind is None:
                raise refuse_vocabulary(prof, source.label_field, shown, source.suggest() if source.suggest else None)
            top = con.execute(f"SELECT label, count(*) AS n FROM p WHERE reason IS NULL GROUP BY 1 "
                              f"ORDER BY n DESC, label LIMIT {TOP_LABELS}").fetchall()
            gold_n = int(con.execute("SELECT count(DISTINCT task) FROM p WHERE gold IS NOT NULL").fetchall()[0][0])
            labels = [r[0] for r in con.execute("SELECT DISTINCT label FROM p WHERE reason IS NULL LIMIT 5000").fetchall()]
    finally:
        con.close()
    return {
        "file_name": shown, "format": fmt, "label_field": source.label_field, "rows": rows, "valid": valid,
        "truncated": rows >= PREVIEW_ROWS, "reasons": reasons, "kind": kind or (found if found != "too-large" else "single"),
        "kind_text": describe_kind(prof, source.label_field), "labels": prof.labels, "options": prof.options,
        "items": prof.items, "top_labels": [(r[0], int(r[1])) for r in top], "label_sample": labels,
        "gold_source": source.gold_source, "gold_items": gold_n, "warnings": list(source.warnings),
    }


def compare_with_project(con, project_id: int, preview: dict) -> list[str]:
    """Sentences naming how the previewed file differs from the project (empty when it fits)."""
    from analytics.ingest.kinds import KIND_NAMES, project_kind

    rows = con.execute("SELECT format, options->>'label_field' FROM ingests WHERE project_id = ? "
                       "AND withdrawn_at IS NULL AND format <> 'gold'", [project_id]).fetchall()
    if not rows:
        return []
    out = []
    formats = sorted({r[0] for r in rows})
    if preview["format"] not in formats:
        out.append(f"{preview['file_name']} is a {preview['format']} file; the project holds "
                   f"{', '.join(formats)} files")
    fields = sorted({r[1] for r in rows if r[1]})
    if preview["label_field"] and fields and preview["label_field"] not in fields:
        out.append(f"its labels come from column {preview['label_field']}; the project's come from "
                   f"{', '.join(fields)}")
    kind, _ = project_kind(con, project_id)
    if preview["kind"] != kind:
        out.append(f"it holds {KIND_NAMES.get(preview['kind'], preview['kind'])} answers; the project holds "
                   f"{KIND_NAMES.get(kind, kind)} answers")
    sample = preview.get("label_sample") or []
    if sample and kind != "item-specific" and preview["kind"] != "item-specific":
        split = kind == "multilabel" or preview["kind"] == "multilabel"
        known = {r[0] for r in con.execute(
            (f"SELECT DISTINCT unnest(string_split(label, '{SEPARATOR}')) FROM annotations WHERE project_id = ?"
             if split else "SELECT DISTINCT label FROM annotations WHERE project_id = ?"), [project_id]).fetchall()}
        mine = {o for lab in sample for o in (lab.split(SEPARATOR) if split else [lab])}
        new = sorted(mine - known)
        if known and len(new) > 0.5 * len(mine):
            shown = ", ".join(new[:5]) + (f" and {len(new) - 5} more" if len(new) > 5 else "")
            out.append(f"{len(new)} of its {len(mine)} labels never occur in the project ({shown})")
    return out


def likely_label_field(path: str | os.PathLike, name: str | None = None, format: str | None = None) -> str | None:
    """The answer column a reader would ask the user to choose among several, picked by
    :func:`analytics.ingest.vocabulary.likely_label` (None when there is no choice to make)."""
    from analytics.ingest.answers import onehot_groups
    from analytics.ingest.base import read_tabular
    from analytics.ingest.vocabulary import suggest_label_column

    shown = name or Path(path).name
    s = sniff(path, shown)
    fmt = normalize_format(format) if format else detect_format(path, shown)
    if fmt not in ("mturk", "crowdflower", "toloka") or s.kind != "text":
        return None
    con = duckdb.connect()
    try:
        src, columns = read_tabular(con, path, s, shown, None, expected_delim="\t" if fmt == "toloka" else ",")
        groups: dict[str, list[str]] = {}
        if fmt == "mturk":
            groups = onehot_groups(columns, "Answer.")
            grouped = {c for cs in groups.values() for c in cs}
            cands = [c for c in columns if c.startswith("Answer.") and c not in grouped] + list(groups)
            task = "HITId"
        elif fmt == "toloka":
            cands, task = [c for c in columns if c.startswith("OUTPUT:")], "ASSIGNMENT:task_id"
        else:
            with_gold = [c for c in columns if not c.startswith("_") and f"{c}_gold" in columns]
            cands = with_gold or [c for c in columns if not c.startswith("_") and not c.endswith("_gold")]
            task = "_unit_id"
        if len(cands) < 2:
            return None
        return suggest_label_column(con, src, task if task in columns else None, cands, groups)
    except (duckdb.Error, UserError):
        return None
    finally:
        con.close()
