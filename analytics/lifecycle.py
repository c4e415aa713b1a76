"""Undo an ingest, delete a project: both audited, both reversible until the user confirms.

Two steps each, so a slip costs nothing:

1. :func:`withdraw_ingest` moves the ingest's annotations, quarantined rows and gold answers
   to the ``trash_*`` tables and marks the ingest withdrawn; every page, analysis and export
   stops seeing them at once. :func:`delete_project` marks the project deleted; it disappears
   from every list and its name cannot be reused meanwhile.
2. :func:`restore_ingest` / :func:`restore_project` put everything back exactly;
   :func:`purge_ingest` / :func:`purge_project` confirm: the held rows (a project's results and
   runs too) are removed for good, and stored source files no other ingest uses are deleted
   from ``files/`` after the transaction commits.

Every step is one transaction and one hash-chained audit entry (``withdraw_ingest``,
``restore_ingest``, ``purge_ingest``, ``delete_project``, ``restore_project``,
``purge_project``) with the actor and the counts; the audit log itself is never edited.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd

from analytics import audit
from analytics.access import Identity, requires
from analytics.errors import UserError
from analytics.store import Workspace, first_row

_HELD = (("annotations", "trash_annotations"), ("quarantine", "trash_quarantine"), ("gold", "trash_gold"))
_RUN_TABLES = ("run_tasks", "run_task_probs", "run_task_scores", "run_workers", "run_worker_scores", "run_signals",
               "run_confusion", "run_pairs", "run_communities")


def _ingest(con, ingest_id: int) -> tuple:
    row = first_row(con.execute(
        "SELECT i.ingest_id, i.project_id, i.file_name, i.withdrawn_at, p.name, p.deleted_at, i.sha256 "
        "FROM ingests i JOIN projects p USING (project_id) WHERE i.ingest_id = ?", [int(ingest_id)]))
    if row is None:
        raise UserError(f"there is no ingest {ingest_id} in this workspace; pick one from the ingest history")
    if row[5] is not None:
        raise UserError(f"ingest {ingest_id} belongs to project {row[4]!r}, which is waiting to be deleted; "
                        "restore the project first")
    return row


def _writable(ws: Workspace) -> None:
    if ws.read_only:
        raise UserError(f"workspace {ws.path} is open read-only; open it for writing to change it")


def _move(con, ingest_id: int, back: bool) -> dict[str, int]:
    counts = {}
    for live, trash in _HELD:
        src, dst = (trash, live) if back else (live, trash)
        verb = "INSERT OR REPLACE INTO" if (back and live == "gold") else "INSERT INTO"
        n = con.execute(f"{verb} {dst} SELECT * FROM {src} WHERE ingest_id = ?", [ingest_id]).fetchall()[0][0]
        con.execute(f"DELETE FROM {src} WHERE ingest_id = ?", [ingest_id])
        counts[live] = int(n)
    return counts


@requires("ingest")
def withdraw_ingest(ws: Workspace, ingest_id: int, actor: Identity | None, reason: str = "") -> dict:
    """Step 1 of undoing an ingest: hold its rows back (restorable). Returns the counts."""
    from analytics.ingest.kinds import recompute_kind

    _writable(ws)
    iid, pid, name, withdrawn, project, _, _ = _ingest(ws.con, ingest_id)
    if withdrawn is not None:
        raise UserError(f"ingest {iid} ({name}) is already undone; restore it or delete it for good")
    with ws.transaction() as con:
        counts = _move(con, iid, back=False)
        con.execute("UPDATE ingests SET withdrawn_at = now() WHERE ingest_id = ?", [iid])
        recompute_kind(con, pid)
        audit.append(con, actor=actor.name, action="withdraw_ingest", project_id=pid, target_kind="file", target=name,
                     scope="project", reason=reason or "undo ingest", evidence={"ingest_id": iid, **counts})
    audit.write_anchor(ws.path, ws.con)
    return {"ingest_id": iid, "file_name": name, "project": project, **counts}


@requires("ingest")
def restore_ingest(ws: Workspace, ingest_id: int, actor: Identity | None) -> dict:
    """Put a withdrawn ingest's rows back exactly as they were."""
    from analytics.ingest.kinds import recompute_kind

    _writable(ws)
    iid, pid, name, withdrawn, project, _, _ = _ingest(ws.con, ingest_id)
    if withdrawn is None:
        raise UserError(f"ingest {iid} ({name}) is not undone; there is nothing to restore")
    if _purged(ws.con, iid):
        raise UserError(f"the undo of ingest {iid} ({name}) was confirmed, so its rows are gone; load the file again")
    with ws.transaction() as con:
        counts = _move(con, iid, back=True)
        con.execute("UPDATE ingests SET withdrawn_at = NULL WHERE ingest_id = ?", [iid])
        recompute_kind(con, pid)
        audit.append(con, actor=actor.name, action="restore_ingest", project_id=pid, target_kind="file", target=name,
                     scope="project", reason="restored an undone ingest", evidence={"ingest_id": iid, **counts})
    audit.write_anchor(ws.path, ws.con)
    return {"ingest_id": iid, "file_name": name, "project": project, **counts}


def _purged(con, ingest_id: int) -> bool:
    row = first_row(con.execute("SELECT coalesce((options->>'purged')::BOOLEAN, false) FROM ingests "
                                "WHERE ingest_id = ?", [ingest_id]))
    return bool(row and row[0])


def _unused_files(con, shas: list[str]) -> list[str]:
    """Of ``shas``, those no remaining ingest references (their stored copies can go)."""
    if not shas:
        return []
    used = {r[0] for r in con.execute("SELECT DISTINCT sha256 FROM ingests WHERE list_contains(?, sha256) "
                                      "AND withdrawn_at IS NULL", [shas]).fetchall()}
    return [s for s in shas if s not in used]


def _remove_files(ws: Workspace, shas: list[str]) -> None:
    for sha in shas:
        name = ws.sealer.stored_name(sha) if ws.sealer is not None else sha    # sealed copies have other names
        with contextlib.suppress(OSError):
            (Path(ws.files_dir) / name).unlink()


@requires("delete")
def purge_ingest(ws: Workspace, ingest_id: int, actor: Identity | None) -> dict:
    """Step 2: confirm an undone ingest; its held rows (and its stored file, if unused) are deleted."""
    _writable(ws)
    iid, pid, name, withdrawn, project, _, sha = _ingest(ws.con, ingest_id)
    if withdrawn is None:
        raise UserError(f"ingest {iid} ({name}) is not undone; undo it first, then confirm")
    if _purged(ws.con, iid):
        raise UserError(f"the undo of ingest {iid} ({name}) is already confirmed")
    with ws.transaction() as con:
        counts = {}
        for live, trash in _HELD:
            counts[live] = int(con.execute(f"DELETE FROM {trash} WHERE ingest_id = ?", [iid]).fetchall()[0][0])
        con.execute("UPDATE ingests SET stored_path = NULL, options = json_merge_patch(coalesce(options, '{}'), "
                    "'{\"purged\": true}') WHERE ingest_id = ?", [iid])
        gone = _unused_files(con, [sha])
        audit.append(con, actor=actor.name, action="purge_ingest", project_id=pid, target_kind="file", target=name,
                     scope="project", reason="confirmed the undo of an ingest",
                     evidence={"ingest_id": iid, **counts, "files_removed": gone})
    audit.write_anchor(ws.path, ws.con)
    _remove_files(ws, gone)
    return {"ingest_id": iid, "file_name": name, "project": project, **counts}


def _project(con, project) -> tuple[int, str, object]:
    col = "project_id" if isinstance(project, int) else "name"
    row = first_row(con.execute(f"SELECT project_id, name, deleted_at FROM projects WHERE {col} = ?", [project]))
    if row is None:
        raise UserError(f"no project {project!r} in this workspace")
    return int(row[0]), str(row[1]), row[2]


@requires("delete")
def delete_project(ws: Workspace, project, actor: Identity | None, reason: str = "") -> dict:
    """Step 1 of deleting a project: hide it everywhere (restorable until purged)."""
    _writable(ws)
    pid, name, deleted = _project(ws.con, project)
    if deleted is not None:
        raise UserError(f"project {name!r} is already waiting to be deleted")
    labels = int(ws.con.execute("SELECT count(*) FROM annotations WHERE project_id = ?", [pid]).fetchall()[0][0])
    with ws.transaction() as con:
        con.execute("UPDATE projects SET deleted_at = now() WHERE project_id = ?", [pid])
        audit.append(con, actor=actor.name, action="delete_project", project_id=pid, target_kind="project", target=name,
                     scope="project", reason=reason or "delete project", evidence={"labels": labels})
    audit.write_anchor(ws.path, ws.con)
    return {"project_id": pid, "project": name, "labels": labels}


@requires("delete")
def restore_project(ws: Workspace, project, actor: Identity | None) -> dict:
    _writable(ws)
    pid, name, deleted = _project(ws.con, project)
    if deleted is None:
        raise UserError(f"project {name!r} is not deleted; there is nothing to restore")
    with ws.transaction() as con:
        con.execute("UPDATE projects SET deleted_at = NULL WHERE project_id = ?", [pid])
        audit.append(con, actor=actor.name, action="restore_project", project_id=pid, target_kind="project", target=name,
                     scope="project", reason="restored a deleted project", evidence={})
    audit.write_anchor(ws.path, ws.con)
    return {"project_id": pid, "project": name}


@requires("delete")
def purge_project(ws: Workspace, project, actor: Identity | None) -> dict:
    """Step 2: remove a deleted project's labels, gold, results and unused stored files for good."""
    _writable(ws)
    pid, name, deleted = _project(ws.con, project)
    if deleted is None:
        raise UserError(f"project {name!r} is not deleted; delete it first, then confirm")
    with ws.transaction() as con:
        runs = [r[0] for r in con.execute("SELECT run_id FROM runs WHERE project_id = ?", [pid]).fetchall()]
        shas = [r[0] for r in con.execute("SELECT DISTINCT sha256 FROM ingests WHERE project_id = ?", [pid]).fetchall()]
        counts = {"labels": int(con.execute("SELECT count(*) FROM annotations WHERE project_id = ?",
                                            [pid]).fetchall()[0][0]), "runs": len(runs)}
        for t in _RUN_TABLES:
            con.execute(f"DELETE FROM {t} WHERE list_contains(?, run_id)", [runs])
        for t in ("annotations", "quarantine", "gold", "trash_annotations", "trash_quarantine", "trash_gold",
                  "runs", "ingests"):
            con.execute(f"DELETE FROM {t} WHERE project_id = ?", [pid])
        con.execute("DELETE FROM projects WHERE project_id = ?", [pid])
        gone = _unused_files(con, shas)
        audit.append(con, actor=actor.name, action="purge_project", project_id=pid, target_kind="project", target=name,
                     scope="project", reason="confirmed the deletion of a project",
                     evidence={**counts, "files_removed": gone})
    audit.write_anchor(ws.path, ws.con)
    _remove_files(ws, gone)
    return {"project_id": pid, "project": name, **counts}


def pending(con) -> dict[str, pd.DataFrame]:
    """What waits for confirmation: undone ingests and deleted projects."""
    return {
        "ingests": con.execute(
            "SELECT i.ingest_id, p.name AS project, i.file_name, i.rows_loaded, i.withdrawn_at FROM ingests i "
            "JOIN projects p USING (project_id) WHERE i.withdrawn_at IS NOT NULL AND p.deleted_at IS NULL "
            "AND NOT coalesce((i.options->>'purged')::BOOLEAN, false) ORDER BY i.ingest_id DESC").df(),
        "projects": con.execute(
            "SELECT p.project_id, p.name AS project, p.deleted_at, "
            "(SELECT count(*) FROM annotations a WHERE a.project_id = p.project_id) AS labels "
            "FROM projects p WHERE p.deleted_at IS NOT NULL ORDER BY p.deleted_at DESC").df(),
    }
