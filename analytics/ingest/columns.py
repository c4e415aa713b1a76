"""What an uploaded file holds before it is ingested: format, columns and likely answer
columns, read from the first bytes only (the Data page's mapping form)."""

from __future__ import annotations

import json

from analytics.ingest.base import CANONICAL

#: Canonical annotation columns a mapping can fill (DESIGN.md, "Canonical annotation record").
CANONICAL_COLUMNS: tuple[str, ...] = tuple(CANONICAL)

_ANSWER_PREFIXES = ("Answer.", "OUTPUT:")


def file_columns(path, name: str | None = None) -> dict:
    """Format, columns and likely answer columns of a file, read from its first bytes only.

    Returns ``{"format": str, "columns": [...], "answer_columns": [...]}``; raises
    :class:`UserError` for empty, binary or unreadable files (the same checks as ingest).
    """
    from analytics.ingest.detect import detect_format, guess_delimiter, header_columns, sniff

    s = sniff(path, name)
    fmt = detect_format(path, name)
    cols: list[str] = []
    if s.kind == "text":
        delim = {".tsv": "\t", ".tab": "\t"}.get(s.suffix) or guess_delimiter(s.header)
        cols = header_columns(s.header, delim)
    elif s.kind == "parquet":
        import duckdb

        with duckdb.connect() as con:
            cols = [r[0] for r in con.execute("SELECT name FROM parquet_schema(?) WHERE name <> 'schema'",
                                              [str(path)]).fetchall()]
    else:
        first = s.head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0]
        try:
            rec = json.loads(first)
            cols = list(rec) if isinstance(rec, dict) else []
        except ValueError:
            cols = []
    answers = [c for c in cols if c.startswith(_ANSWER_PREFIXES)]
    if fmt == "crowdflower":
        answers = [c for c in cols if not c.startswith("_") and not c.endswith("_gold") and f"{c}_gold" in cols] \
            or [c for c in cols if not c.startswith("_")]
    return {"format": fmt, "columns": cols, "answer_columns": answers}
