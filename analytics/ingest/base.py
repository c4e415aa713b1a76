"""What every reader returns, and the bulk readers they share (DuckDB ``read_csv``,
``read_parquet``, ``read_json``; every column read as text so nothing is lost).

A reader turns one file into a :class:`Source`: a SQL ``SELECT`` over the file with the
columns of :data:`STAGE_COLUMNS`, plus the timestamp parser of its platform. The validator
(:mod:`analytics.ingest.validate`) runs that ``SELECT`` once, in bulk.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb

from analytics.errors import UserError
from analytics.ingest.detect import Sniff, choose_delimiter
from analytics.ingest.times import iso_utc

# Columns of a reader's SELECT (all VARCHAR except source_row BIGINT and extra JSON).
STAGE_COLUMNS = (
    "source_row", "task", "worker", "label", "started_raw", "submitted_raw", "duration_raw",
    "assignment", "event_raw", "skip_reason", "gold_raw", "extra",
)
CANONICAL = ("task", "worker", "label", "started_at", "submitted_at", "duration_s", "assignment", "event")
REQUIRED = ("task", "worker", "label")
# Text files up to this size are read by DuckDB's single-threaded CSV reader, which pads
# short rows with NULLs; larger files by the parallel reader (rows must be complete).
PADDED_READ_MAX_BYTES = 64 * 1024 * 1024


@dataclass
class ReadOptions:
    """What the user told us about the file."""

    label_field: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    delimiter: str | None = None


@dataclass
class Source:
    """A file mapped onto the canonical columns, as SQL to be run in bulk."""

    format: str
    select_sql: str
    parse_time: Callable[[str], str] = iso_utc
    raw_names: dict[str, str] = field(default_factory=dict)   # canonical -> source column, for quarantine
    label_field: str | None = None
    gold_source: str | None = None          # e.g. "platform golden column GOLDEN:result"
    warnings: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)
    # True when ``source_row`` is a placeholder (0): the reader is parallel and its rows arrive
    # in file order, so the validator numbers them from their insertion order afterwards.
    rows_in_file_order: bool = False
    # Names the column that most looks like the answers (a scan of the file), for error messages.
    suggest: Callable[[], str | None] | None = None


def lit(value: str) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


_CSV_LINE = re.compile(r"line[: ]+(\d+)", re.IGNORECASE)


def duckdb_read_error(exc: duckdb.Error, shown: str) -> UserError:
    """Turn a DuckDB reader error into one sentence naming the file and line."""
    msg = str(exc)
    first = msg.strip().splitlines()[0] if msg.strip() else type(exc).__name__
    m = _CSV_LINE.search(msg)
    where = f" near line {m.group(1)}" if m else ""
    if "Expected Number of Columns" in msg or "expected" in msg.lower() and "columns" in msg.lower():
        return UserError(
            f"file {shown}{where} has a different number of fields than its header; fix that row "
            f"(quote fields that contain the delimiter) or pass --delimiter"
        )
    if "invalid unicode" in msg.lower():
        return UserError(f"file {shown}{where} is not valid UTF-8; save it as UTF-8 and load it again")
    if "sniffing file" in msg:
        return UserError(f"cannot work out the CSV layout of {shown}: some rows do not have as many fields as "
                         f"the header; check the delimiter (pass --delimiter) and that quotes inside fields are doubled")
    return UserError(f"cannot read {shown}{where}: {first}; check that it is a valid file of the chosen --format")


def parallel_csv(path: str | os.PathLike, s: Sniff) -> bool:
    """Whether :func:`read_tabular` reads this file with DuckDB's parallel CSV reader."""
    return s.kind not in ("parquet", "json") and os.path.getsize(path) > PADDED_READ_MAX_BYTES


def read_tabular(con: duckdb.DuckDBPyConnection, path: str | os.PathLike, s: Sniff, shown: str,
                 delimiter: str | None, expected_delim: str | None = None,
                 numbered: bool = True) -> tuple[str, list[str]]:
    """A subquery with ``source_row`` (1-based) and every column of the file as VARCHAR.

    Returns the SQL and the column names. CSV/TSV are read with all_varchar; Parquet and
    JSON columns are cast to text. With ``numbered=False`` and the parallel CSV reader,
    ``source_row`` is 0: ``WITH ORDINALITY`` runs the whole read in one thread (half the
    speed on two cores), so the caller numbers the rows from their file order instead
    (:attr:`Source.rows_in_file_order`).
    """
    p = lit(os.fspath(path))
    if s.kind == "parquet":
        rel = f"read_parquet({p}, file_row_number=true)"
        rownum = "file_row_number + 1"
    elif s.kind == "json":
        rel = f"read_json({p}, format='auto', records=true)"
        rownum = "ordinality"
    else:
        delim = choose_delimiter(s, shown, expected_delim, delimiter)
        # Platform exports can have short rows (MTurk drops trailing empty fields) and quoted
        # newlines; DuckDB pads short rows only in its single-threaded reader, so files up to
        # PADDED_READ_MAX_BYTES are read that way and larger ones by the parallel reader.
        padded = not parallel_csv(path, s)
        pad = "null_padding=true, parallel=false, " if padded else ""
        rel = (f"read_csv({p}, header=true, all_varchar=true, delim={lit(delim)}, quote='\"', escape='\"', "
               f"{pad}skip=0, sample_size=20480)")
        rownum = "ordinality" if numbered or padded else "0::BIGINT"
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()
    except duckdb.Error as exc:
        raise duckdb_read_error(exc, shown) from None
    types = {r[0]: str(r[1]).upper() for r in described}
    cols = [c for c in types if not (s.kind == "parquet" and c == "file_row_number")]

    def as_text(c: str) -> str:
        t = types[c]
        if t.startswith(("STRUCT", "MAP", "UNION")) or t.endswith("]") or t == "JSON":
            return f"to_json({ident(c)})::VARCHAR"      # nested values stay JSON, not a Python-like repr
        return f"CAST({ident(c)} AS VARCHAR)"

    body = ", ".join(f"{as_text(c)} AS {ident(c)}" for c in cols)
    numbered = f"{rel} WITH ORDINALITY" if rownum == "ordinality" else rel
    return f"(SELECT {rownum} AS source_row, {body} FROM {numbered})", cols


def extra_json(columns: list[str]) -> str:
    """``json_object`` of the given source columns, or NULL when there are none."""
    if not columns:
        return "NULL::JSON"
    return "json_object(" + ", ".join(f"{lit(c)}, {ident(c)}" for c in columns) + ")"


def col_or_null(name: str | None) -> str:
    return ident(name) if name else "NULL::VARCHAR"


def stage_select(src: str, cols: dict[str, str | None], extra_cols: list[str], *,
                 skip_reason: str = "NULL::VARCHAR", gold: str = "NULL::VARCHAR",
                 label_expr: str | None = None, task_expr: str | None = None) -> str:
    """The reader SELECT from a tabular subquery given canonical -> source column names."""
    return (
        "SELECT source_row, "
        f"{task_expr or col_or_null(cols.get('task'))} AS task, "
        f"{col_or_null(cols.get('worker'))} AS worker, "
        f"{label_expr or col_or_null(cols.get('label'))} AS label, "
        f"{col_or_null(cols.get('started_at'))} AS started_raw, "
        f"{col_or_null(cols.get('submitted_at'))} AS submitted_raw, "
        f"{col_or_null(cols.get('duration_s'))} AS duration_raw, "
        f"{col_or_null(cols.get('assignment'))} AS assignment, "
        f"{col_or_null(cols.get('event'))} AS event_raw, "
        f"{skip_reason} AS skip_reason, {gold} AS gold_raw, "
        f"{extra_json(extra_cols)} AS extra "
        f"FROM {src}"
    )


def platform_columns(defaults: dict[str, str], columns: list[str], mapping: dict[str, str] | None, shown: str,
                     platform: str) -> dict[str, str]:
    """The platform's source column for each canonical column, after the user's ``--map``.

    Raises a UserError naming the missing task/worker column; optional columns the file
    does not have are dropped.
    """
    cols = {**defaults, **(mapping or {})}
    missing = [c for c in ("task", "worker") if cols[c] not in columns]
    if missing:
        raise UserError(f"file {shown} is missing the {platform} column {cols[missing[0]]} (columns found: "
                        f"{', '.join(columns)}); use --format canonical with --map {missing[0]}=<column>")
    return {k: v for k, v in cols.items() if v in columns}


def pick_label_field(candidates: list[str], given: str | None, prefix: str, shown: str, what: str,
                     all_columns: list[str], suggest: Callable[[], str | None] | None = None) -> str:
    """The answer column: ``given`` (with or without ``prefix``), or the only candidate.

    With several candidates the error names the likely one, from ``suggest`` (a scan of the
    file, :func:`analytics.ingest.vocabulary.suggest_label_column`) when given."""
    if given:
        for name in (given, prefix + given):
            if name in all_columns:
                return name
        raise UserError(
            f"file {shown} has no answer column {given!r}; use --label-field with one of: "
            f"{', '.join(candidates) if candidates else ', '.join(all_columns)}"
        )
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise UserError(f"file {shown} has no {what} column; name the answer column with --label-field "
                        f"(columns found: {', '.join(all_columns)})")
    likely = suggest() if suggest is not None else None
    example = likely or candidates[0]
    which = f"; the answers look like they are in {likely}" if likely else ""
    raise UserError(
        f"file {shown} has several {what} columns ({', '.join(candidates)}){which}; say which one is the label "
        f"with --label-field, e.g. --label-field {example}"
    )
