"""Provenance: the SHA-256 of the source bytes, a content-addressed copy in the workspace,
and the refusal to load the same file into the same project twice.

The copy is written to a temporary name inside ``<workspace>/files`` and renamed to its
SHA-256, so a reader never sees half a file. The same pass checks that text files are valid
UTF-8 (with the line and byte of the first bad byte), so the file is read only once here.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb

from analytics.errors import UserError

CHUNK = 1 << 20


def store_file(path: str | os.PathLike, files_dir: Path, shown: str, check_utf8: bool,
               sealer=None) -> tuple[str, int, str]:
    """Copy ``path`` to ``files_dir/<sha256>`` and return (sha256, size in bytes, stored name).

    Raises :class:`UserError` (and keeps nothing) when ``check_utf8`` and the bytes are not UTF-8.
    In an encrypted workspace (``sealer``, :class:`analytics.encryption.Sealer`) the copy is
    sealed with AES-256-GCM and named by an HMAC of the SHA-256 instead of the SHA-256.
    """
    files_dir.mkdir(parents=True, exist_ok=True)
    tmp = files_dir / f".incoming-{uuid.uuid4().hex}"
    h = hashlib.sha256()
    dec = codecs.getincrementaldecoder("utf-8")() if check_utf8 else None
    size = 0
    newlines = 0

    def chunks(src):
        nonlocal size, newlines
        while chunk := src.read(CHUNK):
            h.update(chunk)
            if dec is not None:
                try:
                    dec.decode(chunk)
                except UnicodeDecodeError as exc:
                    raise _not_utf8(shown, chunk, exc.start, size, newlines) from None
                newlines += chunk.count(b"\n")
            size += len(chunk)
            yield chunk

    try:
        with open(path, "rb") as src, open(tmp, "wb") as out:
            if sealer is not None:
                sealer.seal_stream(chunks(src), out)
            else:
                for chunk in chunks(src):
                    out.write(chunk)
            if dec is not None:
                try:
                    dec.decode(b"", final=True)
                except UnicodeDecodeError:
                    raise _not_utf8(shown, b"", 0, size, newlines, truncated=True) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    digest = h.hexdigest()
    name = sealer.stored_name(digest) if sealer is not None else digest
    final = files_dir / name
    if final.exists():
        tmp.unlink(missing_ok=True)
    else:
        os.replace(tmp, final)
    return digest, size, f"files/{name}"


@contextlib.contextmanager
def files_kept_on_success(files_dir: Path) -> Iterator[None]:
    """Remove the files a failed ingest added to ``files_dir``, so a rejected upload leaves the
    workspace exactly as it was (a copy already there before is kept). One writer at a time holds
    the workspace, so nothing else adds files meanwhile."""
    before = set(os.listdir(files_dir)) if files_dir.exists() else set()
    try:
        yield
    except BaseException:
        if files_dir.exists():
            for name in set(os.listdir(files_dir)) - before:
                with contextlib.suppress(OSError):
                    (files_dir / name).unlink()
        raise


def _not_utf8(shown: str, chunk: bytes, start: int, offset: int, newlines: int, truncated: bool = False) -> UserError:
    stem = Path(shown).stem
    suffix = Path(shown).suffix or ".csv"
    convert = f"`iconv -f WINDOWS-1252 -t UTF-8 {shown} > {stem}.utf8{suffix}`"
    if truncated:
        return UserError(f"file {shown} is not valid UTF-8: it ends in the middle of a character; "
                         f"save it as UTF-8 (e.g. {convert}) and load that")
    line = newlines + chunk[:start].count(b"\n") + 1
    byte = chunk[start]
    return UserError(
        f"file {shown} is not UTF-8: byte 0x{byte:02X} at line {line} (byte offset {offset + start}) is not valid "
        f"UTF-8, so the file is probably Latin-1/Windows-1252; convert it, e.g. {convert}, and load that"
    )


def previous_ingest(con: duckdb.DuckDBPyConnection, project_id: int, sha256: str) -> tuple[int, str] | None:
    """(ingest_id, date) of an earlier ingest of the same bytes into the project, if any."""
    row = con.execute(
        "SELECT ingest_id, strftime(loaded_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M UTC') FROM ingests "
        "WHERE project_id = ? AND sha256 = ? AND withdrawn_at IS NULL ORDER BY ingest_id LIMIT 1",
        [project_id, sha256],
    ).fetchone()
    return (int(row[0]), row[1]) if row else None
