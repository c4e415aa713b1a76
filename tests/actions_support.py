"""Small synthetic workspaces for the action, audit, impact and export tests.

Labels are inserted straight into the workspace tables (with an ``ingests`` row that
carries the SHA-256 of the CSV file written alongside), so these tests do not depend on a
particular importer.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from auth_support import add_accounts, me

from analytics.store import Workspace, open_workspace

EVIL = '=HYPERLINK("http://x","y")'
FLIPPERS = ["w00", "w01", "w02"]
CLASSES = ["-1", "0", "1"]


def synthetic_frame(n_tasks: int = 150, n_honest: int = 20, redundancy: int = 5, seed: int = 3,
                    evil_worker: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Labels (task, worker, label, extra JSON) and gold: honest workers are 80% right,
    the flippers answer the next class, the evil-id worker answers at random."""
    rng = np.random.default_rng(seed)
    workers = FLIPPERS + [f"h{i:02d}" for i in range(n_honest)] + ([EVIL] if evil_worker else [])
    truth = rng.integers(0, len(CLASSES), n_tasks)
    t_idx = np.repeat(np.arange(n_tasks), redundancy)
    w_idx = np.concatenate([rng.choice(len(workers), redundancy, replace=False) for _ in range(n_tasks)])
    w_names = np.asarray(workers, dtype=object)[w_idx]
    honest = rng.random(t_idx.size) < 0.8
    lab = np.where(honest, truth[t_idx], rng.integers(0, len(CLASSES), t_idx.size))
    flip = np.isin(w_names, FLIPPERS)
    lab = np.where(flip, (truth[t_idx] + 1) % len(CLASSES), lab)
    evil = w_names == EVIL
    lab = np.where(evil, rng.integers(0, len(CLASSES), t_idx.size), lab)
    tasks = np.asarray([f"t{i:03d}" for i in range(n_tasks)], dtype=object)
    df = pd.DataFrame({"task": tasks[t_idx], "worker": w_names, "label": np.asarray(CLASSES, dtype=object)[lab]})
    df["extra"] = [f'{{"Input.text": "sentence {t}", "Input.id": "{t}", "HITId": "H{t}"}}' for t in df["task"]]
    g = np.arange(0, n_tasks, 5)
    gold = pd.DataFrame({"task": tasks[g], "label": np.asarray(CLASSES, dtype=object)[truth[g]]})
    return df, gold


def make_workspace(root: Path, project: str = "p", seed: int = 3, analyze: bool = False, **kw) -> Workspace:
    """A workspace with one synthetic project; the labels CSV is at ``root / 'labels.csv'``."""
    root.mkdir(parents=True, exist_ok=True)
    df, gold = synthetic_frame(seed=seed, **kw)
    csv = root / "labels.csv"
    df[["task", "worker", "label"]].to_csv(csv, index=False)
    raw = csv.read_bytes()
    ws = open_workspace(root / "ws")
    add_accounts(ws)
    pid = ws.project_id(project, create=True)
    with ws.transaction() as con:
        con.execute("UPDATE projects SET label_set = ? WHERE project_id = ?", [CLASSES, pid])
        iid = con.execute(
            "INSERT INTO ingests (project_id, file_name, size_bytes, sha256, format, rows_read, rows_loaded,"
            " rows_quarantined, rows_duplicate, actor) VALUES (?, ?, ?, ?, 'mturk', ?, ?, 0, 0, 'test')"
            " RETURNING ingest_id",
            [pid, csv.name, len(raw), hashlib.sha256(raw).hexdigest(), len(df), len(df)]).fetchone()[0]
        ann = df.assign(project_id=pid, ingest_id=iid, source_row=np.arange(1, len(df) + 1))  # noqa: F841
        con.execute("INSERT INTO annotations (project_id, ingest_id, source_row, task, worker, label, extra)"
                    " SELECT project_id, ingest_id, source_row, task, worker, label, extra::JSON FROM ann")
        g = gold.assign(project_id=pid, source="gold.csv")  # noqa: F841
        con.execute("INSERT INTO gold (project_id, task, label, source) SELECT project_id, task, label, source FROM g")
    if analyze:
        from analytics.pipeline import analyze as run_analysis

        run_analysis(ws, project, actor=me("admin"))
    return ws


def insert_run(ws: Workspace, project: str = "p", suspects: tuple[str, ...] = tuple(FLIPPERS)) -> int:
    """A complete run with a plausible verdict (suspects = ``suspects``), without running the pipeline."""
    from analytics.aggregate import aggregate
    from analytics.dataset import load_project

    pid = ws.project_id(project)
    data = load_project(ws.con, pid)
    cons = aggregate(data, "mv")
    n_w = np.bincount(data.worker, minlength=data.n_workers)
    sus = np.isin(data.worker_ids, list(suspects))
    workers = pd.DataFrame({"worker": data.worker_ids, "n_labels": n_w, "trust": np.where(sus, 0.1, 0.9),  # noqa: F841
                            "suspect": sus, "reasons": np.where(sus, "answers the next class", "")})
    susp_task = np.zeros(data.n_tasks, bool)
    susp_task[np.unique(data.task[sus[data.worker]])[:10]] = True
    tasks = pd.DataFrame({"task": data.task_ids, "label": np.asarray(data.classes, dtype=object)[cons.labels],  # noqa: F841
                          "confidence": cons.confidence, "n_labels": np.bincount(data.task, minlength=data.n_tasks),
                          "suspect": susp_task, "reasons": np.where(susp_task, "pivotal on suspects", "")})
    with ws.transaction() as con:
        rid = con.execute("INSERT INTO runs (project_id, method, params, input_fingerprint, code_version, status,"
                          " finished_at) VALUES (?, 'mv', '{\"method\": \"mv\"}', ?, 'test', 'complete', now())"
                          " RETURNING run_id", [pid, data.fingerprint()]).fetchone()[0]
        con.execute("INSERT INTO run_workers SELECT ?, worker, n_labels, trust, suspect, reasons FROM workers", [rid])
        con.execute("INSERT INTO run_worker_scores SELECT ?, worker, 'accuracy', trust FROM workers", [rid])
        con.execute("INSERT INTO run_worker_scores SELECT ?, worker, 'spammer', 1 - trust FROM workers", [rid])
        con.execute("INSERT INTO run_tasks SELECT ?, task, label, confidence, n_labels, suspect, reasons FROM tasks",
                    [rid])
        con.execute("INSERT INTO run_task_scores SELECT ?, task, 'entropy', 1 - confidence FROM tasks", [rid])
    return int(rid)
