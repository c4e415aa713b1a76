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
from datetime import UTC, datetime

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
