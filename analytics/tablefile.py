"""Writing result tables to CSV, Parquet or JSONL, safely.

CSV cells that a spreadsheet would run as a formula (OWASP "CSV injection": cells starting
with ``=``, ``+``, ``-``, ``@``, tab or carriage return) are prefixed with a single quote.
Worker ids and labels come from outside, so every text column is escaped; a cell that is a
plain number (``-1``, ``+3.5``) is left as it is, since a spreadsheet reads it as a number,
not a formula.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from analytics.errors import UserError

FORMATS = ("csv", "parquet", "jsonl")
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def escape_cell(value):
    """Return ``value`` made inert for spreadsheets (see module docstring)."""
    if isinstance(value, str) and value.startswith(_DANGEROUS) and not _NUMBER.match(value):
        return "'" + value
    return value


def escape_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Escape every text column of ``df`` (numbers and booleans are untouched)."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(escape_cell)
    out.columns = [escape_cell(str(c)) for c in out.columns]
    return out


def format_of(path: str | Path, fmt: str | None = None) -> str:
    fmt = (fmt or Path(path).suffix.lstrip(".") or "csv").lower()
    if fmt == "json":
        fmt = "jsonl"
    if fmt not in FORMATS:
        raise UserError(f"unknown output format {fmt!r}: use one of {', '.join(FORMATS)}")
    return fmt


def write_table(df: pd.DataFrame, path: str | Path, fmt: str | None = None) -> Path:
    """Write ``df`` to ``path`` as csv (escaped), parquet or jsonl; return the path."""
    path = Path(path)
    fmt = format_of(path, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        escape_frame(df).to_csv(path, index=False)
    elif fmt == "parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_json(path, orient="records", lines=True, force_ascii=False)
    return path
