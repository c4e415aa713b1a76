"""The kind of answers a project holds, decided at ingest and recorded on the project.

``single`` (one class per answer, shared across items), ``multilabel`` (a set of options per
answer, analysed per option) or ``item-specific`` (answers worded per item, analysed with
per-item options and a one-coin model). :func:`settle_kind` profiles the labels an ingest just
wrote (:mod:`analytics.ingest.vocabulary`), refuses a vocabulary that is not a label set,
combines the file's kind with the project's, and records it (with the option set of a
multi-label project) in ``projects.kind`` / ``projects.kind_options`` inside the ingest's
transaction. :func:`recompute_kind` re-derives it from the remaining ingests after an undo.
"""

from __future__ import annotations

import json

import duckdb

from analytics.errors import UserError
from analytics.ingest.answers import SEPARATOR
from analytics.ingest.vocabulary import (
    VOCAB_MAX_SHARE,
    VOCAB_MIN_REFUSE,
    describe_kind,
    profile_labels,
    refuse_vocabulary,
)

KINDS: tuple[str, ...] = ("single", "multilabel", "item-specific")
KIND_NAMES = {"single": "single choice", "multilabel": "multi-select, analysed per option",
              "item-specific": "answers worded per item"}


def project_kind(con: duckdb.DuckDBPyConnection, project_id: int) -> tuple[str, dict]:
    """(kind, kind_options) of a project; ``single`` and ``{}`` when nothing was recorded."""
    rows = con.execute("SELECT kind, kind_options FROM projects WHERE project_id = ?", [project_id]).fetchall()
    if not rows:
        return "single", {}
    kind, opts = rows[0]
    return (kind or "single"), (json.loads(opts) if isinstance(opts, str) and opts else (opts or {}))


def combine(existing: str, new: str, has_rows_before: bool) -> str:
    """The project's kind after adding a file of kind ``new``."""
    if not has_rows_before or existing == new:
        return new
    if {existing, new} == {"single", "multilabel"}:
        return "multilabel"          # a single choice is a set of one option
    if {existing, new} == {"single", "item-specific"}:
        return "item-specific"       # per-item options cover shared labels too
    raise UserError("cannot mix multi-select answers with answers worded per item in one project; "
                    "load this file into a new project")


def _options(con, project_id: int) -> list[str]:
    rows = con.execute(
        f"SELECT DISTINCT unnest(string_split(label, '{SEPARATOR}')) AS o FROM annotations "
        "WHERE project_id = ? ORDER BY o", [project_id]).fetchall()
    return [r[0] for r in rows if r[0]]


def _record(con, project_id: int, kind: str) -> dict:
    opts: dict = {}
    if kind == "multilabel":
        opts = {"options": _options(con, project_id), "separator": SEPARATOR}
    con.execute("UPDATE projects SET kind = ?, kind_options = ?::JSON WHERE project_id = ?",
                [kind, json.dumps(opts), project_id])
    return opts


def file_kind(con, ingest_id: int) -> tuple[str, object]:
    """(kind, profile) of the labels one ingest wrote; cheap when the vocabulary is small."""
    approx = con.execute(
        f"SELECT approx_count_distinct(label), count(*), count(*) FILTER (WHERE contains(label, '{SEPARATOR}')) "
        "FROM annotations WHERE ingest_id = ?", [ingest_id]).fetchall()[0]
    if approx[2] == 0 and approx[0] <= max(VOCAB_MIN_REFUSE, VOCAB_MAX_SHARE * approx[1]) * 0.8:
        return "single", None
    p = profile_labels(con, "SELECT task, label FROM annotations WHERE ingest_id = $iid", {"iid": ingest_id})
    return p.kind(), p


def settle_kind(con, project_id: int, ingest_id: int, *, shown: str, label_field: str | None,
                forced: str | None, had_rows: bool, suggest=None) -> tuple[str, str, list[str]]:
    """Decide and record the project's kind after an ingest; returns (file kind, project kind, warnings).

    Raises :class:`UserError` (the caller's transaction rolls back) for a vocabulary that is
    not a label set, naming the column and, from ``suggest()``, the likely label column."""
    if forced is not None and forced not in KINDS:
        raise UserError(f"unknown answer kind {forced!r}; use one of: {', '.join(KINDS)}")
    kind, profile = file_kind(con, ingest_id)
    warnings: list[str] = []
    if kind == "too-large" and forced is None:
        raise refuse_vocabulary(profile, label_field, shown, suggest() if suggest else None)
    if forced is not None:
        kind = forced
    elif kind == "item-specific":
        warnings.append(describe_kind(profile, label_field) + ". It is analysed with options per item (one-coin "
                        "reliability and agreement with each item's consensus); to map the answers to shared "
                        "classes instead, load it again with a label mapping (--map-labels FILE)")
    elif kind == "multilabel":
        warnings.append(describe_kind(profile, label_field))
    existing, _ = project_kind(con, project_id)
    project = combine(existing, kind, had_rows)
    _record(con, project_id, project)
    return kind, project, warnings


def recompute_kind(con, project_id: int) -> str:
    """The project's kind from the kinds its remaining (not withdrawn) ingests recorded."""
    rows = con.execute(
        "SELECT options->>'answer_kind' FROM ingests WHERE project_id = ? AND withdrawn_at IS NULL "
        "AND format <> 'gold' ORDER BY ingest_id", [project_id]).fetchall()
    kind, seen = "single", False
    for (k,) in rows:
        kind = combine(kind, k or "single", seen)
        seen = True
    _record(con, project_id, kind)
    return kind
