"""``ingest_file`` and ``ingest_gold``: one file into one project, in one transaction."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from analytics import audit
from analytics.access import Identity, requires
from analytics.errors import UserError
from analytics.ingest import canonical, crowdflower, labelstudio, mturk, toloka
from analytics.ingest.base import ReadOptions, Source, duckdb_read_error
from analytics.ingest.detect import detect_format, normalize_format, sniff
from analytics.ingest.kinds import KIND_NAMES, settle_kind
from analytics.ingest.labelmap import apply_rules
from analytics.ingest.provenance import files_kept_on_success, previous_ingest, store_file
from analytics.ingest.times import session_utc
from analytics.ingest.validate import bulk_write_settings, load
from analytics.store import Workspace

# Files from this size on are hashed and copied while DuckDB reads them (bytes).
BACKGROUND_HASH_MIN_BYTES = 64 * 1024 * 1024

READERS = {
    "canonical": canonical.read,
    "mturk": mturk.read,
    "toloka": toloka.read,
    "labelstudio": labelstudio.read,
    "crowdflower": crowdflower.read,
}


@dataclass
class IngestSummary:
    """What one ingest did. ``rows_read = rows_loaded + rows_quarantined + rows_duplicate``."""

    ingest_id: int
    project: str
    file_name: str
    format: str
    sha256: str
    size_bytes: int
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    rows_duplicate: int
    rows_updates: int
    gold_loaded: int
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    project_id: int | None = None
    label_field: str | None = None
    answer_kind: str = "single"
    project_kind: str = "single"
    gold_source: str | None = None
    alerts: list[dict] = field(default_factory=list)   # raised by the alert rules after this ingest

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self, top: int = 5) -> str:
        """A few readable lines for the CLI and the upload form."""
        lines = [
            f"{self.file_name} -> project {self.project!r} (ingest {self.ingest_id}, format {self.format}"
            + (f", label {self.label_field}" if self.label_field and self.format != "gold" else "")
            + (f", {KIND_NAMES[self.answer_kind]}" if self.answer_kind != "single" else "") + ")",
            f"  rows read {self.rows_read:,}: loaded {self.rows_loaded:,} (updates {self.rows_updates:,}), "
            f"quarantined {self.rows_quarantined:,}, duplicates {self.rows_duplicate:,}"
            + (f"; gold answers {self.gold_loaded:,}" if self.gold_loaded else ""),
        ]
        if self.quarantine_reasons:
            items = list(self.quarantine_reasons.items())
            shown = ", ".join(f"{r} ({n:,})" for r, n in items[:top])
            more = f", and {len(items) - top} more reasons" if len(items) > top else ""
            lines.append(f"  quarantine: {shown}{more}")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        for a in self.alerts:
            lines.append(f"  ALERT {a['alert_id']} ({a['severity']}): {a['message']}")
        return "\n".join(lines)


def _check_label_set(con, project_id: int, label_set: list[str] | None, shown: str) -> list[str] | None:
    row = con.execute("SELECT label_set FROM projects WHERE project_id = ?", [project_id]).fetchone()
    declared = list(row[0]) if row and row[0] is not None else None
    if label_set is None:
        return declared
    clean = [x.strip() for x in label_set if x and x.strip()]
    if not clean:
        raise UserError("--label-set is empty; give the labels separated by commas, e.g. --label-set pos,neg")
    if len(set(clean)) != len(clean):
        raise UserError(f"--label-set lists a label twice: {', '.join(clean)}")
    if declared is None:
        con.execute("UPDATE projects SET label_set = ? WHERE project_id = ?", [clean, project_id])
        return clean
    if sorted(declared) != sorted(clean):
        raise UserError(f"project already declares the label set {', '.join(declared)}; "
                        f"leave out --label-set or give the same labels (loading {shown})")
    return declared


def _store_gold(con, rows: list[tuple[str, str]], project_id: int, ingest_id: int, source: str) -> int:
    if not rows:
        return 0
    con.execute(
        "INSERT OR REPLACE INTO gold (project_id, task, label, source, ingest_id) "
        "SELECT ?, t.task, t.label, ?, ? FROM (SELECT unnest(?) AS task, unnest(?) AS label) t",
        [project_id, source, ingest_id, [r[0] for r in rows], [r[1] for r in rows]],
    )
    return len(rows)


def _read_gold_file(con, path, shown: str, label_set: list[str] | None) -> list[tuple[str, str]]:
    s = sniff(path, shown)
    sql = canonical.read_gold(con, path, s, shown)
    try:
        bad = con.execute(f"SELECT source_row, task, label FROM ({sql}) WHERE task IS NULL OR label IS NULL "
                          f"ORDER BY source_row LIMIT 1").fetchone()
        if bad:
            col = "task" if bad[1] is None else "label"
            raise UserError(f"gold file {shown} row {bad[0]} has an empty {col}; fill it in or remove the row")
        conflict = con.execute(f"SELECT task, list(DISTINCT label ORDER BY label) FROM ({sql}) GROUP BY task "
                               f"HAVING count(DISTINCT label) > 1 ORDER BY task LIMIT 1").fetchone()
        if conflict:
            raise UserError(f"gold file {shown} gives task {conflict[0]!r} two different labels "
                            f"({', '.join(conflict[1])}); keep one")
        rows = con.execute(f"SELECT DISTINCT task, label FROM ({sql}) ORDER BY task").fetchall()
    except duckdb.Error as exc:
        raise UserError(f"cannot read gold file {shown}: {str(exc).splitlines()[0]}") from None
    if not rows:
        raise UserError(f"gold file {shown} has no rows; it needs columns task and label")
    if label_set:
        outside = sorted({lab for _, lab in rows if lab not in set(label_set)})
        if outside:
            raise UserError(f"gold file {shown} has labels outside the project's label set "
                            f"({', '.join(label_set)}): {', '.join(outside[:5])}; fix the gold file or the label set")
    return [(r[0], r[1]) for r in rows]


def _finish(con, *, project_id: int, ingest_id: int, shown: str, size: int, sha: str, fmt: str, counts: dict,
            actor: str, stored: str, options: dict) -> None:
    con.execute(
        "INSERT INTO ingests (ingest_id, project_id, file_name, size_bytes, sha256, format, rows_read, rows_loaded, "
        "rows_quarantined, rows_duplicate, rows_updates, gold_loaded, actor, stored_path, options) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::JSON)",
        [ingest_id, project_id, shown, size, sha, fmt, counts["rows_read"], counts["rows_loaded"],
         counts["rows_quarantined"], counts["rows_duplicate"], counts["rows_updates"], counts["gold_loaded"],
         actor, stored, json.dumps(options, sort_keys=True, default=str)],
    )
    audit.append(con, actor=actor, action="ingest", project_id=project_id, target_kind="file", target=shown,
                 scope="project", evidence={"sha256": sha, "ingest_id": ingest_id, "format": fmt, **counts})


def _writable(ws: Workspace) -> None:
    if ws.read_only:
        raise UserError(f"workspace {ws.path} is open read-only; open it for writing to ingest files")


@requires("ingest")
def ingest_file(ws: Workspace, path, project: str, actor: Identity | None = None, **kwargs) -> IngestSummary:
    """Load one annotation file into ``project`` as the signed-in ``actor``; see :func:`_ingest_file`
    for the arguments.

    A failure leaves the workspace as it was, the content-addressed copies in ``files/`` included.
    """
    _writable(ws)
    with files_kept_on_success(ws.files_dir):
        return _ingest_file(ws, path, project, actor=actor, **kwargs)


def _ingest_file(
    ws: Workspace,
    path,
    project: str,
    *,
    format: str | None = None,
    label_field: str | None = None,
    mapping: dict[str, str] | None = None,
    gold_path=None,
    label_set: list[str] | None = None,
    force: bool = False,
    actor: Identity | None = None,
    file_name: str | None = None,
    delimiter: str | None = None,
    gold_file_name: str | None = None,
    label_rules: list | None = None,
    label_rules_name: str | None = None,
    kind: str | None = None,
) -> IngestSummary:
    """Load one annotation file into ``project`` (created on first use), in one transaction.

    The file is read in bulk by DuckDB with the reader of ``format`` (detected when None),
    validated (failing rows go to quarantine with the reason and the raw row), exact
    duplicates are collapsed and repeated answers kept as ``update`` events. The source bytes
    are kept as ``<workspace>/files/<sha256>``; the ``ingests`` row, an optional gold file
    and the audit entry are written in the same transaction, so on any error the workspace
    is unchanged. Loading the same bytes into the same project again is refused unless
    ``force``. ``file_name`` / ``gold_file_name`` are the original names when ``path`` /
    ``gold_path`` are temporary copies (uploads); they are what provenance records.
    ``label_rules`` (:mod:`analytics.ingest.labelmap`) map answers worded per item onto shared
    classes; the project's kind of answers is settled by :mod:`analytics.ingest.kinds`
    (``kind`` forces it).
    """
    shown = file_name or Path(path).name
    if not project or not str(project).strip():
        raise UserError(f"no project name for {shown}; give one with --project")
    project = str(project).strip()
    fmt = normalize_format(format) if format else None
    s = sniff(path, shown)
    if fmt is None:
        fmt = detect_format(path, shown)
    if gold_path is not None:
        sniff(gold_path, gold_file_name)
    kept = _KeptFile(ws, path, shown, text=s.kind != "parquet")
    opts = ReadOptions(label_field=label_field, mapping=dict(mapping or {}), delimiter=delimiter)
    con = ws.con
    try:
        gold_info = _keep_gold(ws, gold_path, gold_file_name)
        with session_utc(con), bulk_write_settings(con, os.path.getsize(path)), ws.transaction():
            project_id = ws.project_id(project, create=True)
            if not kept.background:
                sha, size, stored = kept.check_new(con, project_id, project, force)
            try:
                declared = _check_label_set(con, project_id, label_set, shown)
                source, res, ingest_id, had_rows = _read_and_validate(
                    con, path, s, shown, fmt, opts, project_id, declared, label_rules, label_rules_name)
            except BaseException:
                if kept.background:       # a not-UTF-8 file or a repeated file is the better message
                    kept.check_new(con, project_id, project, force)
                raise
            if kept.background:
                sha, size, stored = kept.check_new(con, project_id, project, force)
            _refuse_empty(res, fmt, shown)
            file_kind, project_kind, kind_notes = settle_kind(
                con, project_id, ingest_id, shown=shown, label_field=source.label_field, forced=kind,
                had_rows=had_rows, suggest=source.suggest)
            warnings, gold_rows = _ingest_warnings(source, res, declared, kind_notes)
            gold_n = _store_gold(con, gold_rows, project_id, ingest_id, source.gold_source or "platform golden column")
            if gold_info is not None:
                rows = _read_gold_file(con, gold_path, gold_info["file"], declared)
                gold_n += _store_gold(con, rows, project_id, ingest_id, gold_info["file"])
            counts = _counts(res, gold_n)
            options = {"format": fmt, "label_field": source.label_field, "mapping": opts.mapping or None,
                       "delimiter": delimiter, "label_set": declared, "force": force, "gold_file": gold_info,
                       "answer_kind": file_kind, **source.options}
            _finish(con, project_id=project_id, ingest_id=ingest_id, shown=shown, size=size, sha=sha, fmt=fmt,
                    counts=counts, actor=actor.name, stored=stored, options=options)
    finally:
        kept.close()
    alerts = _evaluate_alerts(ws, project, actor, ingest_id, warnings)
    return IngestSummary(ingest_id=ingest_id, project=project, file_name=shown, format=fmt, sha256=sha,
                         size_bytes=size, quarantine_reasons=res.reasons, warnings=warnings, project_id=project_id,
                         label_field=source.label_field, answer_kind=file_kind, project_kind=project_kind,
                         gold_source=source.gold_source, alerts=alerts, **counts)


def _evaluate_alerts(ws: Workspace, project: str, actor: Identity, ingest_id: int, warnings: list[str]) -> list[dict]:
    """The alert rules after a committed ingest (analytics.monitor); a failure becomes a warning."""
    from analytics.monitor.alerts import evaluate_quietly

    alerts, problem = evaluate_quietly(ws, project, actor, f"ingest {ingest_id}")
    if problem:
        warnings.append(problem)
    return alerts


class _KeptFile:
    """The source bytes kept as ``<workspace>/files/<sha256>`` (:func:`store_file`).

    Large files are hashed and copied in a background thread while DuckDB reads them
    (hashlib and file I/O release the GIL); small ones first, as the errors come in that order.
    """

    def __init__(self, ws: Workspace, path, shown: str, text: bool) -> None:
        self.shown = shown
        self.background = os.path.getsize(path) >= BACKGROUND_HASH_MIN_BYTES
        self._pool = ThreadPoolExecutor(max_workers=1) if self.background else None
        if self._pool is not None:
            self._future = self._pool.submit(store_file, path, ws.files_dir, shown, text, ws.sealer)
        else:
            self._now = store_file(path, ws.files_dir, shown, check_utf8=text, sealer=ws.sealer)

    def check_new(self, con, project_id: int, project: str, force: bool) -> tuple[str, int, str]:
        """The stored file's (sha256, size, name); refuses a file already loaded into the project."""
        sha, size, stored = self._future.result() if self._pool is not None else self._now
        prev = previous_ingest(con, project_id, sha)
        if prev and not force:
            raise UserError(f"{self.shown} is already loaded into project {project!r} as ingest {prev[0]} on "
                            f"{prev[1]}; use --force to load it again")
        return sha, size, stored

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def _keep_gold(ws: Workspace, gold_path, gold_file_name: str | None) -> dict | None:
    """Keep a gold file given with the annotations; its provenance for the ``ingests`` row."""
    if gold_path is None:
        return None
    gname = gold_file_name or Path(gold_path).name
    gsha, gsize, gstored = store_file(gold_path, ws.files_dir, gname, check_utf8=sniff(gold_path).kind != "parquet",
                                      sealer=ws.sealer)
    return {"file": gname, "sha256": gsha, "size_bytes": gsize, "stored_path": gstored}


def _read_and_validate(con, path, s, shown: str, fmt: str, opts: ReadOptions, project_id: int,
                       declared: list[str] | None, label_rules: list | None, label_rules_name: str | None):
    """Read the file with its format's reader, map labels, validate and load the rows
    (:func:`analytics.ingest.validate.load`). Returns (source, load result, ingest id, whether
    the project had rows before)."""
    source: Source = READERS[fmt](con, path, s, shown, opts)
    if label_rules:
        source = apply_rules(source, label_rules, label_rules_name or "label mapping")
    had_rows = bool(con.execute("SELECT count(*) FROM (SELECT 1 FROM annotations WHERE project_id = ? "
                                "LIMIT 1)", [project_id]).fetchall()[0][0])
    ingest_id = int(con.execute("SELECT nextval('ingest_seq')").fetchone()[0])
    try:
        res = load(con, source, project_id, ingest_id, declared)
    except duckdb.Error as exc:
        raise duckdb_read_error(exc, shown) from None
    return source, res, ingest_id, had_rows


def _refuse_empty(res, fmt: str, shown: str) -> None:
    """One sentence when nothing of the file could be loaded (the transaction then rolls back)."""
    if res.rows_read == 0:
        what = "annotations" if fmt == "labelstudio" else "data rows"
        raise UserError(f"file {shown} has no {what} (only a header or an empty list); "
                        f"export the results again and check that they contain answers")
    if res.rows_valid == 0:
        top = ", ".join(f"{r} ({n})" for r, n in list(res.reasons.items())[:3])
        raise UserError(f"no row of {shown} could be loaded: all {res.rows_read} rows fail validation "
                        f"({top}); check --format, --label-field and --map, nothing was changed")


def _ingest_warnings(source: Source, res, declared: list[str] | None,
                     kind_notes: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """The warnings worth telling the user, and the platform's golden answers to store (those
    inside the declared label set)."""
    warnings = list(source.warnings) + kind_notes
    gold_rows = res.gold
    if res.gold_conflicts:
        warnings.append(f"{res.gold_conflicts} tasks have different golden answers in different rows; "
                        f"the most frequent one was kept")
    if declared and gold_rows:
        inside = [g for g in gold_rows if g[1] in set(declared)]
        if len(inside) < len(gold_rows):
            warnings.append(f"{len(gold_rows) - len(inside)} golden answers are outside the label set "
                            f"and were not stored as gold")
        gold_rows = inside
    return warnings, gold_rows


def _counts(res, gold_n: int) -> dict:
    """Row counts of the ``ingests`` row: ``rows_read = loaded + quarantined + duplicate``."""
    quarantined = sum(res.reasons.values())
    return {"rows_read": res.rows_read, "rows_loaded": res.rows_loaded, "rows_quarantined": quarantined,
            "rows_duplicate": res.rows_read - res.rows_loaded - quarantined, "rows_updates": res.rows_updates,
            "gold_loaded": gold_n}


@requires("ingest")
def ingest_gold(ws: Workspace, path, project: str, actor: Identity | None = None, *, file_name: str | None = None,
                force: bool = False) -> IngestSummary:
    """Load a gold file (columns task, label) into ``project`` (created if needed).

    Recorded like any ingest (format ``gold``, the file kept content-addressed, an audit
    entry); a task that already has gold gets the new answer.
    """
    _writable(ws)
    shown = file_name or Path(path).name
    s = sniff(path, shown)
    with files_kept_on_success(ws.files_dir):
        sha, size, stored = store_file(path, ws.files_dir, shown, check_utf8=s.kind != "parquet", sealer=ws.sealer)
        return _load_gold(ws, path, project, actor, shown, force, sha, size, stored)


def _load_gold(ws: Workspace, path, project: str, actor: Identity, shown: str, force: bool, sha: str, size: int,
               stored: str) -> IngestSummary:
    con = ws.con
    with ws.transaction():
        project_id = ws.project_id(project, create=True)
        prev = previous_ingest(con, project_id, sha)
        if prev and not force:
            raise UserError(f"{shown} is already loaded into project {project!r} as ingest {prev[0]} on {prev[1]}; "
                            f"use --force to load it again")
        declared = _check_label_set(con, project_id, None, shown)
        rows = _read_gold_file(con, path, shown, declared)
        ingest_id = int(con.execute("SELECT nextval('ingest_seq')").fetchone()[0])
        n = _store_gold(con, rows, project_id, ingest_id, shown)
        counts = {"rows_read": n, "rows_loaded": 0, "rows_quarantined": 0, "rows_duplicate": 0,
                  "rows_updates": 0, "gold_loaded": n}
        _finish(con, project_id=project_id, ingest_id=ingest_id, shown=shown, size=size, sha=sha, fmt="gold",
                counts=counts, actor=actor.name, stored=stored, options={"format": "gold", "force": force})
    return IngestSummary(ingest_id=ingest_id, project=project, file_name=shown, format="gold", sha256=sha,
                         size_bytes=size, project_id=project_id, **counts)


__all__ = ["READERS", "IngestSummary", "ingest_file", "ingest_gold"]
