"""Key rotation: re-encrypt a workspace under a new key (or encrypt a plain one).

The database is copied into a new file encrypted with the new key (DuckDB's ``COPY FROM
DATABASE``: every table, sequence and constraint, sequences at their current values),
every stored original is resealed under its new name, and the files are swapped in this
order so that an interruption leaves a workspace one of the two keys still opens:

1. the new database is written beside the old one (``workspace.duckdb.rekey``) and the
   resealed files beside theirs (new names, or ``.rekey`` for fixed names);
2. the sidecar gets the new salt and keeps the old one as ``previous`` (opening tries
   both, so the old key keeps working until step 3);
3. the database file is replaced by the new one (one atomic rename), then the fixed-name
   files; the old files are deleted and ``previous`` is dropped.

The rotation is an audit entry (``key-rotate``) in the new database, under the admin who did it.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from analytics import audit, connections, encryption
from analytics.access import Identity, requires
from analytics.errors import UserError
from analytics.store import DB_NAME, Workspace

#: files of a workspace, besides ``files/``, that hold project data and are sealed when encrypted
PRIVATE_FILES = ("redteam/*.json", "demo_key.csv")
NEW_DB = DB_NAME + ".rekey"


@dataclass
class Rotation:
    """What :func:`rotate_key` did."""

    was_encrypted: bool
    n_files: int
    n_private: int
    audit_seq: int


def _old_plain(path: Path, sealer: encryption.Sealer | None):
    if sealer is None:
        with open(path, "rb") as f:
            while chunk := f.read(encryption.CHUNK):
                yield chunk
    else:
        with open(path, "rb") as f:
            yield from sealer.open_stream(f, str(path))


def _reseal_stored(ws: Workspace, new: encryption.Sealer) -> dict[str, str]:
    """Reseal every stored original under its new name; returns old relative path -> new one."""
    import hashlib

    moved: dict[str, str] = {}
    def hashed(chunks, h):
        for c in chunks:
            h.update(c)
            yield c

    for path in sorted(p for p in ws.files_dir.iterdir() if p.is_file() and not p.name.startswith(".")):
        h = hashlib.sha256()
        tmp = ws.files_dir / f".rekey-{path.name}"
        with open(tmp, "wb") as out:
            new.seal_stream(hashed(_old_plain(path, ws.sealer), h), out)
        final = ws.files_dir / new.stored_name(h.hexdigest())
        os.replace(tmp, final)
        moved[f"files/{path.name}"] = f"files/{final.name}"
    return moved


def _private_files(root: Path) -> list[Path]:
    out: list[Path] = []
    for pattern in PRIVATE_FILES:
        out += sorted(p for p in root.glob(pattern) if p.is_file())
    return out


def _copy_database(ws: Workspace, km: encryption.KeyMaterial, moved: dict[str, str], actor: Identity,
                   was_encrypted: bool) -> tuple[int, str]:
    """Write the database encrypted with ``km`` to ``NEW_DB``; return the audit head (the rotation's entry)."""
    con = ws.con
    target = ws.path / NEW_DB
    target.unlink(missing_ok=True)
    current = con.execute("SELECT current_database()").fetchall()[0][0]
    con.execute("CHECKPOINT")
    if not was_encrypted:
        con.execute(f"LOAD '{connections.httpfs_extension()}'")
    con.execute(f"ATTACH '{str(target).replace(chr(39), chr(39) * 2)}' AS rekey_new "
                f"(ENCRYPTION_KEY '{km.db_key}', ENCRYPTION_CIPHER 'GCM')")
    try:
        con.execute(f'COPY FROM DATABASE "{current}" TO rekey_new')
        cur = con.cursor()
        cur.execute("USE rekey_new")
        if moved:
            cur.executemany("UPDATE ingests SET stored_path = ? WHERE stored_path = ?",
                            [[new, old] for old, new in moved.items()])
            cur.executemany("UPDATE ingests SET options = json_merge_patch(options, json_object('gold_file', "
                            "json_merge_patch(options->'gold_file', json_object('stored_path', ?::VARCHAR))))"
                            " WHERE options->'gold_file'->>'stored_path' = ?",
                            [[new, old] for old, new in moved.items()])
        cur.execute("BEGIN TRANSACTION")
        audit.append(cur, actor=actor.name, action="key-rotate", target_kind="workspace", target=str(ws.path),
                     scope="workspace", reason="encrypted with a new key" if was_encrypted else "encrypted",
                     evidence={"cipher": "AES-256-GCM", "files": len(moved), "was_encrypted": was_encrypted})
        cur.execute("COMMIT")
        head = audit.chain_head(cur)
        cur.execute("CHECKPOINT")
        cur.close()
    finally:
        with contextlib.suppress(Exception):
            con.execute(f'USE "{current}"')
        con.execute("DETACH rekey_new")
    return head


@requires("keys")
def rotate_key(ws: Workspace, new_key: encryption.Secret, actor: Identity | None = None) -> Rotation:
    """Re-encrypt ``ws`` (an encrypted or plain workspace open for writing) under ``new_key``.

    The workspace is closed when this returns; open it again with the new key.
    """
    if ws.read_only:
        raise UserError("open the workspace for writing to change its key")
    root = ws.path
    was_encrypted = ws.encrypted
    old_doc = encryption.read_sidecar(root) if was_encrypted else None
    doc = encryption.new_sidecar_doc()
    km = encryption.derive(new_key, doc)
    new = encryption.Sealer(km)
    stale = [p for p in ws.files_dir.iterdir() if p.is_file() and not p.name.startswith(".")]
    moved = _reseal_stored(ws, new)
    private = _private_files(root)
    for p in private:
        encryption.write_private(p.with_name(p.name + ".rekey"), encryption.read_private(p, ws.sealer), new)
    head = _copy_database(ws, km, moved, actor, was_encrypted)
    ws.close()
    prev = {"salt": old_doc["salt"], "kdf_params": old_doc["kdf_params"]} if old_doc else "plain"
    encryption.write_sidecar(root, {**doc, "previous": prev})
    (root / (DB_NAME + ".wal")).unlink(missing_ok=True)      # empty after the checkpoint
    os.replace(root / NEW_DB, root / DB_NAME)
    for p in private:
        os.replace(p.with_name(p.name + ".rekey"), p)
    keep = set(moved.values())
    for p in stale:
        if f"files/{p.name}" not in keep:
            p.unlink(missing_ok=True)
    encryption.write_sidecar(root, doc)
    audit.write_anchor(root, None, head=head)
    return Rotation(was_encrypted, len(moved), len(private), head[0])
