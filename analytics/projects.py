"""Deleting a project (admins): its labels, quarantine, gold, ingests and analysis runs.

The audit chain is never edited, so the project's decisions stay in the log; the deletion
itself is one more entry with the counts of what went. Stored originals that no other
project's ingest refers to are deleted from ``files/``, and a red-team copy's answer key
with its project.
"""

from __future__ import annotations

from analytics import audit
from analytics.access import Identity, requires
from analytics.errors import UserError
from analytics.store import Workspace

_RUN_TABLES = ("run_tasks", "run_task_probs", "run_task_scores", "run_workers", "run_worker_scores", "run_signals",
               "run_confusion", "run_pairs", "run_communities")
_PROJECT_TABLES = ("annotations", "quarantine", "gold", "ingests", "runs")


def _stored(con, where: str, params: list) -> set[str]:
    """Stored originals (data and gold files) referred to by the ingests ``where`` selects."""
    rows = con.execute(f"SELECT stored_path, options->'gold_file'->>'stored_path' FROM ingests {where}",
                       params).fetchall()
    return {p for r in rows for p in r if p}


@requires("delete")
def delete_project(ws: Workspace, project: str, reason: str, actor: Identity | None = None) -> dict[str, int]:
    """Delete ``project`` and everything loaded or computed for it; returns rows deleted per table."""
    if ws.read_only:
        raise UserError("the workspace is open read-only; open it for writing to delete a project")
    if not isinstance(reason, str) or not reason.strip():
        raise UserError("a reason is required to delete a project: say why, it is kept in the audit log")
    pid = ws.project_id(project)
    counts: dict[str, int] = {}
    with ws.transaction() as con:
        stored = _stored(con, "WHERE project_id = ?", [pid])
        for t in _RUN_TABLES:
            counts[t] = int(con.execute(f"DELETE FROM {t} WHERE run_id IN (SELECT run_id FROM runs WHERE "
                                        "project_id = ?) RETURNING 1", [pid]).df().shape[0])
        for t in _PROJECT_TABLES:
            counts[t] = int(con.execute(f"DELETE FROM {t} WHERE project_id = ? RETURNING 1", [pid]).df().shape[0])
        con.execute("DELETE FROM projects WHERE project_id = ?", [pid])
        still = _stored(con, "", [])
        audit.append(con, actor=actor.name, action="delete-project", project_id=None, target_kind="project",
                     target=project, scope="workspace", reason=reason.strip(),
                     evidence={"project_id": pid, "rows": {k: v for k, v in counts.items() if v}})
    audit.write_anchor(ws.path, ws.con)
    for rel in stored - still:
        (ws.path / rel).unlink(missing_ok=True)
    from analytics.redteam.workspace import key_path

    key_path(ws, project).unlink(missing_ok=True)
    return counts
