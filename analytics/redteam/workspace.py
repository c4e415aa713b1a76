"""Attacked copies as projects of a workspace, with the answer key kept out of the database.

:func:`inject_project` reads a project's final answers and gold, plants an attack
(:func:`analytics.redteam.attacks.inject`) and writes the attacked copy as a new project
``<project>~rt-<attack>-s<seed>`` (``projects.parent_project_id`` = the original) in one
transaction, with an ``ingests`` row of format ``redteam`` and an audit entry. The original
project's rows are only read. The answer key is written to
``<workspace>/redteam/<new project>.json``, outside the tables every detector reads.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from analytics import audit
from analytics.access import Identity, requires
from analytics.dataset import load_project
from analytics.encryption import read_private, write_private
from analytics.errors import UserError
from analytics.redteam.attacks import Attacked, inject
from analytics.store import Workspace, sealer_for

KEY_DIR = "redteam"


def key_path(ws: Workspace | str | Path, project: str) -> Path:
    """Where the answer key of red-team copy ``project`` is stored (``ws``: a Workspace or its folder)."""
    root = ws.path if isinstance(ws, Workspace) else ws
    return Path(root) / KEY_DIR / f"{project}.json"


def key_document(att: Attacked, project: str, parent: str) -> dict:
    """The JSON answer key: attack, parameters, planted workers, targets and takeover onsets."""
    key = att.key.copy()
    key["takeover_onset_time"] = key["takeover_onset_time"].astype(object).where(key["takeover_onset_time"].notna(), None)
    return {
        "project": project, "parent": parent, "attack": att.attack, "share": att.share, "seed": att.seed,
        "params": att.params, "reference": att.reference, "synthetic_time": att.synthetic_time,
        "n_planted": int(key["planted"].sum()),
        "key": key[key["planted"]].to_dict("records"),
        "targets": att.targets.astype(str).to_dict("records"),
    }


def load_key(ws: Workspace | str | Path, project: str) -> dict:
    """Read the answer key of a red-team copy (UserError when the project has none).

    In an encrypted workspace the key file is sealed; given a folder, it is opened with the
    workspace key from ``CROWDTRUST_KEY``.
    """
    p = key_path(ws, project)
    if not p.exists():
        raise UserError(f"project {project!r} has no red-team answer key at {p}; it is not a red-team copy")
    sealer = ws.sealer if isinstance(ws, Workspace) else sealer_for(Path(ws))
    return json.loads(read_private(p, sealer))


def _free_name(ws: Workspace, name: str) -> str:
    taken = set(ws.project_names())
    if name not in taken:
        return name
    i = 2
    while f"{name}-{i}" in taken:
        i += 1
    return f"{name}-{i}"


@requires("redteam")
def inject_project(ws: Workspace, project: str, attack: str, share: float, seed: int, *,
                   actor: Identity | None = None, name: str | None = None, **params) -> str:
    """Plant ``attack`` into a copy of ``project`` and store it as a new project; return its name.

    ``params`` go to :func:`~analytics.redteam.attacks.inject`. An existing name gets a
    ``-2``, ``-3`` ... suffix. The copy carries the original's gold (for evaluation pages; the
    analysis ignores gold unless its settings say otherwise).
    """
    if ws.read_only:
        raise UserError("the workspace is open read-only; open it for writing to create a red-team copy")
    pid = ws.project_id(project)
    # a cursor: duckdb 2.0 refuses new work on a connection with a half-fetched result (fetchone)
    data = load_project(ws.con.cursor(), pid)
    att = inject(data, attack, share=share, seed=seed, **params)
    new = _free_name(ws, name or f"{project}~rt-{attack}-s{seed}")
    d = att.data
    ann = pd.DataFrame({
        "source_row": np.arange(1, d.n + 1, dtype=np.int64),
        "task": np.asarray(d.task_ids, dtype=object)[d.task].astype(str),
        "worker": np.asarray(d.worker_ids, dtype=object)[d.worker].astype(str),
        "label": np.asarray(d.classes, dtype=object)[d.label].astype(str),
        "submitted_at": d.submitted_at if d.submitted_at is not None else np.full(d.n, np.nan),
        "duration_s": d.duration_s if d.duration_s is not None else np.full(d.n, np.nan),
    })
    doc = key_document(att, new, project)
    blob = json.dumps(doc, sort_keys=True, default=str).encode()
    with ws.transaction() as con:
        label_set, descr, kind, kind_options = con.execute(
            "SELECT label_set, description, kind, kind_options FROM projects WHERE project_id = ?", [pid]).fetchall()[0]
        new_pid = int(con.execute(
            "INSERT INTO projects (name, label_set, description, parent_project_id, kind, kind_options)"
            " VALUES (?, ?, ?, ?, ?, ?::JSON) RETURNING project_id",
            [new, label_set, f"red-team copy of {project}: attack {attack}, share {share:g}, seed {seed}", pid,
             kind, kind_options],
        ).fetchall()[0][0])
        ingest_id = int(con.execute(
            "INSERT INTO ingests (project_id, file_name, size_bytes, sha256, format, rows_read, rows_loaded,"
            " rows_quarantined, rows_duplicate, actor, options) VALUES (?, ?, 0, ?, 'redteam', ?, ?, 0, 0, ?, ?::JSON)"
            " RETURNING ingest_id",
            [new_pid, f"redteam:{project}:{attack}:s{seed}", hashlib.sha256(blob).hexdigest(), d.n, d.n, actor.name,
             json.dumps({"attack": attack, "share": share, "seed": seed, "parent": project}, default=str)],
        ).fetchall()[0][0])
        con.register("_rt_ann", ann)
        try:
            con.execute(
                "INSERT INTO annotations (project_id, ingest_id, source_row, task, worker, label, submitted_at,"
                " duration_s, event) SELECT ?, ?, source_row, task, worker, label,"
                " CASE WHEN isnan(submitted_at) THEN NULL ELSE to_timestamp(submitted_at) END,"
                " CASE WHEN isnan(duration_s) THEN NULL ELSE duration_s END, 'create' FROM _rt_ann",
                [new_pid, ingest_id],
            )
        finally:
            con.unregister("_rt_ann")
        con.execute(
            "INSERT INTO gold (project_id, task, label, source, ingest_id)"
            " SELECT ?, task, label, source, NULL FROM gold WHERE project_id = ?", [new_pid, pid])
        audit.append(con, actor=actor.name, action="redteam", project_id=new_pid, target_kind="project", target=new,
                     scope="project", reason=f"red-team copy of {project} with attack {attack}",
                     evidence={"parent": project, "attack": attack, "share": share, "seed": seed,
                               "n_planted": doc["n_planted"], "key_sha256": hashlib.sha256(blob).hexdigest()})
    write_private(key_path(ws, new), blob, ws.sealer)
    return new
