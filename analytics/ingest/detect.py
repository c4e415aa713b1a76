"""Format auto-detection and the first checks on a file's bytes.

:func:`detect_format` looks at the file's first bytes and header, never at the whole file:

* ``PAR1`` magic -> ``canonical`` (Parquet);
* JSON whose tasks carry ``"annotations"`` -> ``labelstudio``; other JSON / JSON Lines -> ``canonical``;
* a header with ``HITId``, ``WorkerId`` and ``AssignmentId`` -> ``mturk``;
* a header with ``ASSIGNMENT:``/``INPUT:``/``OUTPUT:`` columns -> ``toloka``;
* a header with ``_unit_id`` and ``_worker_id`` -> ``crowdflower``;
* anything else that is text -> ``canonical`` (CSV/TSV).

Binary files (images, archives, office documents), empty files and UTF-16 text are refused
here with a message that says what the file looks like and what to export instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from analytics.errors import UserError

FORMATS: tuple[str, ...] = ("canonical", "mturk", "toloka", "labelstudio", "crowdflower")

FORMAT_ALIASES: dict[str, str] = {
    "csv": "canonical", "tsv": "canonical", "parquet": "canonical", "jsonl": "canonical",
    "json": "canonical", "ndjson": "canonical",
    "amt": "mturk", "mechanical-turk": "mturk",
    "label-studio": "labelstudio", "label_studio": "labelstudio", "ls": "labelstudio",
    "cf": "crowdflower", "figure-eight": "crowdflower", "figureeight": "crowdflower", "appen": "crowdflower",
}

# First bytes of files people upload by mistake, and what they are.
MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook is one)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xd0\xcf\x11\xe0", "a legacy Office document (.xls/.doc)"),
    (b"SQLite format 3", "an SQLite database"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ", "an xz archive"),
)
HEAD_BYTES = 65536
DELIMITERS = (",", "\t", ";", "|")
DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "';'", "|": "'|'"}


@dataclass(frozen=True)
class Sniff:
    """What the first bytes of a file say about it."""

    kind: str            # "parquet" | "json" | "text"
    head: bytes          # the first HEAD_BYTES bytes
    header: str          # first line of a text file ("" otherwise)
    suffix: str          # lower-case extension of the original file name, with the dot


def normalize_format(name: str) -> str:
    key = name.strip().lower()
    key = FORMAT_ALIASES.get(key, key)
    if key not in FORMATS:
        raise UserError(f"unknown format {name!r}; use one of: {', '.join(FORMATS)} (or leave --format out to detect it)")
    return key


def sniff(path: str | os.PathLike, name: str | None = None) -> Sniff:
    """Read the head of ``path`` and refuse empty, binary and UTF-16 files."""
    p = Path(path)
    shown = name or p.name
    if not p.exists():
        raise UserError(f"file {shown} does not exist; check the path")
    if p.is_dir():
        raise UserError(f"{shown} is a folder; give the annotation file inside it")
    with open(p, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    suffix = Path(name or p.name).suffix.lower()
    if not head.strip():
        raise UserError(f"file {shown} is empty; export the annotation log again and check that it has rows")
    if head.startswith(b"PAR1"):
        return Sniff("parquet", head, "", suffix)
    for magic, what in MAGIC:
        if head.startswith(magic):
            raise UserError(
                f"file {shown} is {what}, not an annotation log; export the results as CSV, TSV, JSON or Parquet"
            )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UserError(
            f"file {shown} is UTF-16 text (as Excel's 'Unicode text' writes it); save it as 'CSV UTF-8' "
            f"or convert it with `iconv -f UTF-16 -t UTF-8 {shown} > converted.csv`"
        )
    if b"\x00" in head:
        raise UserError(
            f"file {shown} contains binary data (NUL bytes), not text; export the results as CSV, TSV, JSON or Parquet"
        )
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text[:1] in (b"[", b"{"):
        return Sniff("json", head, "", suffix)
    first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].rstrip(b"\r")
    return Sniff("text", head, first.decode("utf-8", errors="replace"), suffix)


def header_columns(header: str, delim: str) -> list[str]:
    return [c.strip().strip('"').strip() for c in header.split(delim)]


def guess_delimiter(header: str) -> str:
    """The candidate delimiter that splits the header line into the most columns."""
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def choose_delimiter(s: Sniff, shown: str, expected: str | None, explicit: str | None) -> str:
    """The delimiter to read with: ``explicit`` if given, else the format's or extension's.

    When the expected delimiter leaves the header as one column but another candidate
    splits it into several, the file is refused with the delimiter it seems to use.
    """
    if explicit:
        return "\t" if explicit.lower() in ("tab", "\\t") else explicit
    if expected is None:
        expected = {".tsv": "\t", ".tab": "\t", ".csv": ","}.get(s.suffix) or guess_delimiter(s.header)
    if len(header_columns(s.header, expected)) == 1:
        other = guess_delimiter(s.header)
        if other != expected and len(header_columns(s.header, other)) >= 2:
            raise UserError(
                f"file {shown} looks {DELIMITER_NAMES[other]}-separated, not {DELIMITER_NAMES[expected]}-separated "
                f"(its header splits into {len(header_columns(s.header, other))} columns on {other!r}); "
                f"use --delimiter {other!r} (or --format to pick the right reader)"
            )
    return expected


def detect_format(path: str | os.PathLike, name: str | None = None) -> str:
    """Name of the reader for ``path`` (one of :data:`FORMATS`), from its first bytes and header.

    ``name`` is the original file name when ``path`` is a temporary copy (uploads).
    """
    s = sniff(path, name)
    if s.kind == "parquet":
        return "canonical"
    if s.kind == "json":
        return "labelstudio" if b'"annotations"' in s.head else "canonical"
    cols = set(header_columns(s.header, guess_delimiter(s.header)))
    if {"HITId", "WorkerId", "AssignmentId"} <= cols:
        return "mturk"
    if any(c.startswith(("ASSIGNMENT:", "INPUT:", "OUTPUT:", "GOLDEN:")) for c in cols):
        return "toloka"
    if {"_unit_id", "_worker_id"} <= cols:
        return "crowdflower"
    if "_unit_id" in cols and cols & {"_trusted_judgments", "_last_judgment_at", "_unit_state"}:
        raise UserError(f"file {name or Path(path).name} is a CrowdFlower/Figure Eight aggregated report (one row per "
                        "item, no worker ids); export the full report (one row per judgment) and load that")
    if "HITId" in cols and "WorkerId" not in cols and any(c.startswith("Input.") for c in cols):
        raise UserError(f"file {name or Path(path).name} is an MTurk input file (HITs without workers' answers); "
                        "download the batch results (Manage > Results > Download CSV) and load that")
    return "canonical"
