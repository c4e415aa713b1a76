"""Tamper-evident audit log: an append-only, SHA-256 hash-chained table ``actions``.

Each entry stores the hash of the previous entry; the entry's own hash covers its fields
and that previous hash, so altering or deleting any row breaks every hash after it
(Haber & Stornetta, "How to time-stamp a digital document", J. Cryptology 1991; the same
construction as a blockchain without the consensus). Entries are appended inside the
caller's transaction, so an action and its log entry land together or not at all.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

GENESIS = "0" * 64


def entry_hash(seq: int, project_id, created_at: str, actor: str, action: str, target_kind, target,
               scope, reason, evidence_json: str, prev_hash: str) -> str:
    """SHA-256 of the canonical JSON of an entry's fields plus the previous hash."""
    payload = json.dumps(
        [seq, project_id, created_at, actor, action, target_kind, target, scope, reason, evidence_json, prev_hash],
        separators=(",", ":"), ensure_ascii=False, default=str,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def append(con, *, actor: str, action: str, project_id: int | None = None, target_kind: str | None = None,
           target: str | None = None, scope: str | None = None, reason: str | None = None,
           evidence: dict | None = None) -> str:
    """Append one entry to the chain and return its hash.

    Call it inside the transaction that performs the action. The time is stored as an
    ISO-8601 UTC string in the hash and as TIMESTAMPTZ in the row.
    """
    head = con.execute("SELECT seq, hash FROM actions ORDER BY seq DESC LIMIT 1").fetchone()
    seq = (int(head[0]) + 1) if head else 1
    prev = head[1] if head else GENESIS
    now = datetime.now(UTC)
    at = now.isoformat(timespec="microseconds")
    ev = json.dumps(evidence if evidence is not None else {}, sort_keys=True, separators=(",", ":"), default=str)
    h = entry_hash(seq, project_id, at, actor, action, target_kind, target, scope, reason, ev, prev)
    con.execute(
        "INSERT INTO actions (seq, project_id, created_at, actor, action, target_kind, target, scope, reason, evidence,"
        " prev_hash, hash) VALUES (?, ?, ?::TIMESTAMPTZ, ?, ?, ?, ?, ?, ?, ?::JSON, ?, ?)",
        [seq, project_id, at, actor, action, target_kind, target, scope, reason, ev, prev, h],
    )
    return h


def append_many(con, entries: list[dict]) -> list[tuple[int, str]]:
    """Append several entries (dicts of :func:`append`'s keyword arguments) in one insert.

    Same chain and hashes as calling :func:`append` once per entry (all entries share one
    timestamp); a bulk decision on thousands of workers costs one round trip instead of
    thousands. Returns ``(seq, hash)`` per entry. Call it inside the caller's transaction.
    """
    if not entries:
        return []
    import pandas as pd

    rows_head = con.execute("SELECT seq, hash FROM actions ORDER BY seq DESC LIMIT 1").fetchall()  # fully fetched
    head = rows_head[0] if rows_head else None
    seq = int(head[0]) if head else 0
    prev = head[1] if head else GENESIS
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    rows, out = [], []
    for e in entries:
        seq += 1
        ev = json.dumps(e.get("evidence") if e.get("evidence") is not None else {}, sort_keys=True,
                        separators=(",", ":"), default=str)
        vals = [e.get("project_id"), at, e["actor"], e["action"], e.get("target_kind"), e.get("target"),
                e.get("scope"), e.get("reason")]
        h = entry_hash(seq, *vals, ev, prev)
        rows.append([seq, *vals, ev, prev, h])
        out.append((seq, h))
        prev = h
    batch = pd.DataFrame(rows, columns=["seq", "project_id", "created_at", "actor", "action", "target_kind", "target",
                                        "scope", "reason", "evidence", "prev_hash", "hash"], dtype=object)
    con.register("_audit_batch", batch)
    try:
        con.execute(
            "INSERT INTO actions (seq, project_id, created_at, actor, action, target_kind, target, scope, reason,"
            " evidence, prev_hash, hash) SELECT seq::BIGINT, project_id::INTEGER, created_at::TIMESTAMPTZ, actor,"
            " action, target_kind, target, scope, reason, evidence::JSON, prev_hash, hash FROM _audit_batch"
            " ORDER BY seq")
    finally:
        con.unregister("_audit_batch")
    return out


# -- verification --------------------------------------------------------------------------

ANCHOR_NAME = "audit_anchor.json"


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify`.

    ok : the chain is intact (and matches the external anchor when one was given)
    n_entries : rows in the log
    first_bad_seq : sequence number of the first entry that is altered, missing or out of
        place, or None when ``ok``
    message : one sentence for the user naming the entry and what is wrong with it
    head_seq, head_hash : the last entry of the log (0 and the genesis hash when empty)
    """

    ok: bool
    n_entries: int
    first_bad_seq: int | None
    message: str
    head_seq: int = 0
    head_hash: str = GENESIS
    warning: str | None = None
    """Set when the chain is intact but cannot be fully checked (the anchor file is missing)."""


def _iso(epoch_us: int) -> str:
    """The ISO-8601 UTC string :func:`append` hashed, rebuilt exactly from epoch microseconds."""
    return (_EPOCH + timedelta(microseconds=int(epoch_us))).isoformat(timespec="microseconds")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _canonical_evidence(text) -> str:
    """Evidence JSON in the canonical form :func:`append` hashed (sorted keys, no spaces)."""
    if text is None:
        return "{}"
    try:
        return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return str(text)


def chain_head(con) -> tuple[int, str]:
    """(seq, hash) of the newest entry; (0, GENESIS) for an empty log."""
    row = con.execute("SELECT seq, hash FROM actions ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


def _describe(row) -> str:
    seq, _pid, us, actor, action, _tk, target = row[:7]
    when = _iso(us)[:19].replace("T", " ") if us is not None else "?"
    what = f"{action} {target}" if target else str(action)
    return f"entry {seq} ({what} by {actor} at {when} UTC)"


def verify(con, anchor: str | os.PathLike | None = None) -> VerifyResult:
    """Recompute the hash chain from the first entry and report the first broken one.

    Checks, in order of sequence number: numbering starts at 1 without gaps (a gap is a
    deleted entry), each ``prev_hash`` equals the previous entry's ``hash``, and each
    ``hash`` equals the SHA-256 of the entry's own fields (an altered row). A chain alone
    cannot notice its *last* entries being removed, so when ``anchor`` (a file written by
    :func:`write_anchor` after each action) is given, the anchored entry must still exist
    with the same hash. The whole log is read once, as columns, in sequence order.
    """
    rows = con.execute(
        "SELECT seq, project_id, epoch_us(created_at), actor, action, target_kind, target, scope, reason,"
        " evidence::VARCHAR, prev_hash, hash FROM actions ORDER BY seq"
    ).fetchall()
    n = len(rows)
    prev_hash, prev_seq = GENESIS, 0
    for row in rows:
        seq, pid, us, actor, action, tk, target, scope, reason, ev, stored_prev, stored_hash = row
        if seq != prev_seq + 1:
            missing = prev_seq + 1
            return VerifyResult(False, n, missing,
                                f"entry {missing} is missing: {_describe(row)} follows entry {prev_seq}; "
                                "audit rows were deleted", prev_seq, prev_hash)
        if stored_prev != prev_hash:
            return VerifyResult(False, n, seq,
                                f"{_describe(row)} does not link to entry {prev_seq}: its previous-hash field "
                                f"is not entry {prev_seq}'s hash, so entry {prev_seq} or this one was altered",
                                prev_seq, prev_hash)
        h = entry_hash(seq, pid, _iso(us), actor, action, tk, target, scope, reason, _canonical_evidence(ev),
                       stored_prev)
        if h != stored_hash:
            return VerifyResult(False, n, seq,
                                f"{_describe(row)} was altered after it was written: its contents no longer "
                                "match its hash", prev_seq, prev_hash)
        prev_hash, prev_seq = stored_hash, seq
    warning = None
    if anchor is not None:
        bad = _check_anchor(Path(anchor), rows, prev_seq)
        if bad is not None:
            return VerifyResult(False, n, bad[0], bad[1], prev_seq, prev_hash)
        if n and not Path(anchor).exists():
            warning = (f"the audit anchor {Path(anchor).name} is missing, so the chain cannot show whether its "
                       "newest entries were deleted; restore the file from a backup, or re-anchor the current "
                       "head with the next action")
    msg = f"audit chain intact: {n} entries, head {prev_hash[:12]}" if n else "audit log is empty"
    if warning:
        msg += f" (warning: {warning})"
    return VerifyResult(True, n, None, msg, prev_seq, prev_hash, warning)


def _check_anchor(path: Path, rows, last_seq: int) -> tuple[int, str] | None:
    if not path.exists():
        return None
    try:
        a = json.loads(path.read_text())
        seq, h = int(a["seq"]), str(a["hash"])
    except (ValueError, KeyError, TypeError):
        return (last_seq + 1, f"the audit anchor {path} is unreadable; it was edited or corrupted")
    if seq == 0:
        return None
    if seq > last_seq:
        return (last_seq + 1, f"entry {last_seq + 1} is missing: the log ends at entry {last_seq} but entry {seq} "
                              f"was recorded in {path.name}; the last audit rows were deleted")
    if rows[seq - 1][11] != h:
        return (seq, f"{_describe(rows[seq - 1])} differs from the hash recorded in {path.name}; "
                     "the chain was rewritten from this entry on")
    return None


def write_anchor(workspace_path: str | os.PathLike, con, head: tuple[int, str] | None = None) -> tuple[int, str]:
    """Record the current head outside the database (``<workspace>/audit_anchor.json``).

    Call it after the transaction that appended entries has committed (or pass the
    ``head`` to record). The anchor only moves forward: a head older than the recorded one
    is not written (another process may have anchored a newer head already).
    """
    seq, h = head if head is not None else chain_head(con)
    path = Path(workspace_path) / ANCHOR_NAME
    try:
        old = json.loads(path.read_text()) if path.exists() else {}
    except ValueError:
        old = {}
    if int(old.get("seq", 0) or 0) > seq:
        return seq, h
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"seq": seq, "hash": h,
                               "written_at": datetime.now(UTC).isoformat(timespec="seconds")}))
    os.replace(tmp, path)
    return seq, h
