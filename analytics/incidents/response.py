"""Containing and repairing an incident.

Contain (:func:`contain`): the incident's workers are banned through
:func:`analytics.actions.ban` (one audit entry per worker, evidence: the incident and the
impact preview of :func:`analytics.impact.preview_workspace`, i.e. which aggregated labels
change and which items fall below the minimum of trusted labels), so their labels leave
aggregation and exports; nothing is deleted and an unban restores them.

Repair (:func:`repair`), once every worker is banned:

1. re-queue the incident's items that the ban leaves with fewer than ``min_trusted_labels``
   trusted labels (:func:`analytics.actions.requeue`);
2. re-aggregate: a new analysis run without the banned workers (:func:`analytics.pipeline.analyze`);
3. for every affected delivered export (:func:`analytics.incidents.scope.affected_exports`)
   a corrected export of the same kind and format over the same tasks (a drop-in
   replacement), recorded in the audit log like any export, written to
   ``<out_dir>/<name>.corrected.<ext>`` with its manifest, and a diff against the delivered
   file (``<name>.corrected.diff.csv``: task, delivered and corrected label and confidence,
   change; a task whose labels all came from the banned workers is ``removed``); with no
   affected export, one corrected labels export of the whole project.

Each step is one ``incident_contain`` / ``incident_repair`` entry in the audit chain whose
evidence lists what it did; the bans, re-queues, run and exports it caused carry the incident
number in their own entries or in that step's evidence.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from analytics import actions, audit
from analytics.access import Identity, requires
from analytics.encryption import write_private
from analytics.errors import UserError
from analytics.incidents import records
from analytics.incidents.scope import affected_exports, diff_labels, read_export_labels
from analytics.store import Workspace

Progress = Callable[[float, str], None]
INCIDENTS_DIR = "incidents"


def _noop(frac: float, msg: str) -> None:
    pass


def incident_dir(workspace, incident_id: int) -> Path:
    """Default folder of an incident's corrected exports and reports: ``<workspace>/incidents/<N>``."""
    return Path(workspace) / INCIDENTS_DIR / str(int(incident_id))


def read_output(workspace, path) -> bytes | None:
    """The bytes of a file :func:`repair` wrote (unsealed when it lies in an encrypted workspace);
    None when it is gone."""
    from analytics.encryption import read_private
    from analytics.store import sealer_for

    path, root = Path(path), Path(workspace)
    if not path.exists():
        return None
    inside = path.resolve().is_relative_to(root.resolve())
    return read_private(path, sealer_for(root) if inside else None)


def contain_preview(con, pid: int, workers: list[str]):
    """The impact preview of banning the incident's not-yet-banned workers (None when all are banned)."""
    from analytics.impact import preview_workspace

    todo = sorted(set(workers) - set(actions.banned_workers(con, pid)))
    return preview_workspace(con, pid, todo) if todo else None


@requires("incident")
def contain(ws: Workspace, project: str, incident_id: int, actor: Identity | None = None,
            reason: str | None = None) -> dict:
    """Ban the incident's workers (see the module docstring); returns what was done."""
    who = records._check(ws, actor, "contain an incident")
    pid = ws.project_id(project)
    inc = records.get_incident(ws.con, pid, incident_id)
    if inc["status"] == "closed":
        raise UserError(f"incident {incident_id} is closed")
    preview = contain_preview(ws.con, pid, inc["workers"])
    if preview is None:
        raise UserError(f"every worker of incident {incident_id} is already banned; repair it next")
    summary = preview.summary()
    reason = (reason or f"incident {incident_id}: {inc['title']}").strip()
    evidence = {w: {"incident": int(incident_id), "title": inc["title"], "impact": {
        k: summary[k] for k in ("n_labels_removed", "n_tasks_touched", "n_labels_changed", "n_below_min", "gold")}}
        for w in preview.workers}
    res = actions.ban(ws, project, preview.workers, reason, actor, evidence=evidence)

    def body(con) -> int:
        seq = records.step(con, pid, incident_id, who, "incident_contain",
                           f"banned {len(res.applied)} worker(s)",
                           {"banned": res.applied, "ban_seqs": res.seqs, "impact": summary})
        records.set_status(con, incident_id, "contained")
        return seq

    seq = actions.run_in_transaction(ws, body)
    audit.write_anchor(ws.path, ws.con)
    return {"banned": res.applied, "ban_seqs": res.seqs, "impact": summary, "audit_seq": seq}


def _requeue_candidates(con, pid: int, workers: list[str]) -> list[str]:
    """The incident's items left with fewer than ``min_trusted_labels`` trusted labels after the ban."""
    from analytics.impact import current_state
    from analytics.incidents.scope import incident_items

    items = incident_items(con, pid, workers)
    if not items:
        return []
    try:
        data, _, untrusted, settings = current_state(con, pid)
    except UserError:                                  # nothing left at all
        return items
    import numpy as np

    trusted = ~np.isin(data.worker_ids, np.asarray(untrusted, dtype=object))[data.worker]
    n_trusted = pd.Series(np.bincount(data.task[trusted], minlength=data.n_tasks), index=data.task_ids.astype(str))
    left = n_trusted.reindex(items).fillna(0)
    return sorted(left[left < settings.min_trusted_labels].index.astype(str))


def _corrected_name(file: str, fmt: str) -> tuple[str, str]:
    stem = re.sub(r"\.(csv|parquet|jsonl|json)$", "", Path(file or "labels").name, flags=re.IGNORECASE)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem) or "labels"
    return f"{stem}.corrected.{fmt}", f"{stem}.corrected.diff.csv"




def _restrict(exp, tasks: set[str]):
    """The export limited to the tasks of the delivered file it replaces (a drop-in replacement)."""
    import hashlib
    from dataclasses import replace

    from analytics.export import DEFAULT_SETTINGS, to_bytes

    frame = exp.frame[exp.frame["task"].astype(str).isin(tasks)].reset_index(drop=True)
    data = to_bytes(frame, exp.fmt, escape=DEFAULT_SETTINGS.csv_escape)
    manifest = dict(exp.manifest, rows=int(len(frame)), sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data),
                    restricted_to_delivered_tasks=True)
    return replace(exp, frame=frame, data=data, manifest=manifest)


@requires("incident")
def repair(ws: Workspace, project: str, incident_id: int, actor: Identity | None = None,
           out_dir: str | os.PathLike | None = None,
           progress: Progress | None = None) -> dict:
    """Re-queue, re-aggregate and write corrected exports with diffs (see the module docstring)."""
    from analytics import export
    from analytics.pipeline import analyze

    progress = progress or _noop
    who = records._check(ws, actor, "repair an incident")
    pid = ws.project_id(project)
    inc = records.get_incident(ws.con, pid, incident_id)
    if inc["status"] == "closed":
        raise UserError(f"incident {incident_id} is closed")
    not_banned = sorted(set(inc["workers"]) - set(actions.banned_workers(ws.con, pid)))
    if not_banned:
        raise UserError(f"contain incident {incident_id} first: {len(not_banned)} of its workers are not banned "
                        f"({', '.join(not_banned[:5])}{' ...' if len(not_banned) > 5 else ''})")
    out = Path(out_dir) if out_dir is not None else incident_dir(ws.path, incident_id)
    sealer = ws.sealer if out_dir is None else None        # inside an encrypted workspace: sealed
    out.mkdir(parents=True, exist_ok=True)
    progress(0.05, "finding the affected exports")
    affected = affected_exports(ws.con, ws, pid, inc["workers"])
    progress(0.15, "re-queueing items left without enough trusted labels")
    requeue = [t for t in _requeue_candidates(ws.con, pid, inc["workers"]) if t not in set(inc["requeued"])]
    rq = None
    if requeue:
        rq = actions.requeue(ws, project, requeue, f"incident {incident_id}: too few trusted labels after the ban",
                             actor, evidence={"incident": int(incident_id)})
    progress(0.25, "re-aggregating without the banned workers")
    run_id = analyze(ws, project, actor=actor,
                     progress=lambda f, m: progress(0.25 + 0.5 * f, m))
    corrected = []
    targets = affected or [{"file": f"{project}_labels.csv", "format": "csv", "kind": "labels", "sha256": None,
                            "archived": False}]
    for i, a in enumerate(targets):
        progress(0.8 + 0.15 * i / max(len(targets), 1), f"writing the corrected {a['kind']} export")
        name, diff_name = _corrected_name(a["file"], a["format"])
        exp = export.build_export(ws, project, a["kind"], a["format"], actor=actor)
        raw = export.read_archived(ws.path, a["sha256"], ws.sealer) if a.get("sha256") else None
        delivered = None
        if raw is not None:
            delivered = read_export_labels(raw, a["format"])
            exp = _restrict(exp, set(delivered["task"]))
        exp.manifest["file"] = name
        exp.manifest["incident"] = {"id": int(incident_id), "replaces": {"file": a["file"], "sha256": a["sha256"]}}
        export.record_export(ws, exp, actor)
        write_private(out / name, exp.data, sealer)
        write_private(out / (name + ".manifest.json"), exp.manifest_bytes(), sealer)
        item = {"file": name, "path": str(out / name), "sha256": exp.sha256, "kind": a["kind"], "format": exp.fmt,
                "rows": int(len(exp.frame)), "audit_seq": exp.manifest["audit"]["seq"],
                "replaces": {"file": a["file"], "sha256": a["sha256"], "audit_seq": a.get("audit_seq")},
                "diff_file": None, "labels_changed": None, "labels_removed": None, "labels_added": None}
        if delivered is not None:
            d = diff_labels(delivered, read_export_labels(exp.data, exp.fmt))
            write_private(out / diff_name, export.to_bytes(d, "csv"), sealer)
            item.update(diff_file=str(out / diff_name), labels_changed=int((d["change"] == "changed").sum()),
                        labels_removed=int((d["change"] == "removed").sum()),
                        labels_added=int((d["change"] == "added").sum()))
        corrected.append(item)

    def body(con) -> int:
        for c in corrected:
            records.link(con, incident_id, "corrected_export", c["file"], c, c["audit_seq"])
        for t in requeue:
            records.link(con, incident_id, "requeued", t, {}, None)
        seq = records.step(con, pid, incident_id, who, "incident_repair",
                           f"re-queued {len(requeue)} item(s), run {run_id}, {len(corrected)} corrected export(s)",
                           {"requeued": len(requeue), "requeue_seqs": rq.seqs if rq else [], "run_id": run_id,
                            "corrected_exports": [{k: c[k] for k in ("file", "sha256", "audit_seq", "replaces",
                                                                     "labels_changed", "labels_removed")}
                                                  for c in corrected],
                            "affected_exports": [{k: a[k] for k in ("file", "sha256", "audit_seq")} for a in affected]})
        records.set_status(con, incident_id, "repaired")
        return seq

    seq = actions.run_in_transaction(ws, body)
    audit.write_anchor(ws.path, ws.con)
    progress(1.0, "repaired")
    return {"requeued": requeue, "run_id": run_id, "affected_exports": affected, "corrected_exports": corrected,
            "out_dir": str(out), "audit_seq": seq}
