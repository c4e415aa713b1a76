"""Integer-coded annotation arrays: the one input every model and detector reads.

:class:`LabelArrays` holds one row per *final* answer (the latest ``create``/``update``
event of each worker on each task; a worker's ``delete`` removes their answer), coded as
integers into sorted id tables. It is built straight from DuckDB through Arrow
(:func:`load_project`) or from a pandas frame (:func:`from_frame`), never by looping over
rows in Python.

Class order: labels sort numerically when every label parses as a number, otherwise
lexicographically. That order is the deterministic tie-break rule of the aggregators
(the lowest class code wins a tie).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics.errors import UserError
from analytics.store import first_row


def sort_classes(values) -> np.ndarray:
    """Sort label values numerically if all are numbers, else as strings."""
    vals = pd.unique(pd.Series(values, dtype="object").astype(str))
    num = pd.to_numeric(pd.Series(vals), errors="coerce")
    if num.notna().all():
        order = np.lexsort((vals, num.to_numpy()))
    else:
        order = np.argsort(vals, kind="stable")
    return np.asarray(vals[order], dtype=object)


@dataclass(frozen=True)
class LabelArrays:
    """Coded labels of one project.

    Attributes
    ----------
    task, worker, label : int32 arrays of length n (codes into the id tables)
    task_ids, worker_ids, classes : object arrays of the original ids, sorted
    submitted_at, started_at : float64 epoch seconds (NaN where unknown), or None when the
        project has no such column at all
    duration_s : float64 seconds spent (NaN where unknown), or None
    n_edits : int32, how many earlier answers of the same worker to the same task this
        answer superseded (0 for most rows)
    gold_task, gold_label : codes of the gold answers whose task has labels and whose
        label is in ``classes``
    """

    task: np.ndarray
    worker: np.ndarray
    label: np.ndarray
    task_ids: np.ndarray
    worker_ids: np.ndarray
    classes: np.ndarray
    submitted_at: np.ndarray | None = None
    started_at: np.ndarray | None = None
    duration_s: np.ndarray | None = None
    n_edits: np.ndarray | None = None
    gold_task: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    gold_label: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))

    @property
    def n(self) -> int:
        return int(self.task.shape[0])

    @property
    def n_tasks(self) -> int:
        return int(self.task_ids.shape[0])

    @property
    def n_workers(self) -> int:
        return int(self.worker_ids.shape[0])

    @property
    def n_classes(self) -> int:
        return int(self.classes.shape[0])

    @property
    def has_time(self) -> bool:
        """True when at least some labels carry a submit (or start) time."""
        t = self.timestamps()
        return t is not None and bool(np.isfinite(t).any())

    def timestamps(self) -> np.ndarray | None:
        """Best available event time per label: submitted, else started + duration, else started."""
        if self.submitted_at is None and self.started_at is None:
            return None
        t = self.submitted_at.copy() if self.submitted_at is not None else np.full(self.n, np.nan)
        if self.started_at is not None:
            fill = self.started_at + (np.nan_to_num(self.duration_s, nan=0.0) if self.duration_s is not None else 0.0)
            t = np.where(np.isfinite(t), t, fill)
        return t

    def durations(self) -> np.ndarray | None:
        """Seconds spent per label: duration_s, else submitted - started; None if neither exists."""
        d = self.duration_s.copy() if self.duration_s is not None else None
        if self.submitted_at is not None and self.started_at is not None:
            diff = self.submitted_at - self.started_at
            d = diff if d is None else np.where(np.isfinite(d), d, diff)
        return d

    def gold_vector(self) -> np.ndarray:
        """Gold label code per task, -1 where the task has no gold."""
        g = np.full(self.n_tasks, -1, dtype=np.int32)
        g[self.gold_task] = self.gold_label
        return g

    def to_frame(self) -> pd.DataFrame:
        """The crowd-kit input frame: columns task, worker, label (original ids)."""
        return pd.DataFrame(
            {
                "task": self.task_ids[self.task],
                "worker": self.worker_ids[self.worker],
                "label": self.classes[self.label],
            }
        )

    def fingerprint(self) -> str:
        """SHA-256 over the coded arrays and id tables: equal data gives an equal fingerprint."""
        h = hashlib.sha256()
        for arr in (self.task, self.worker, self.label):
            h.update(np.ascontiguousarray(arr).tobytes())
        for ids in (self.task_ids, self.worker_ids, self.classes):
            h.update("\x1f".join(map(str, ids)).encode())
        for arr in (self.submitted_at, self.started_at, self.duration_s, self.gold_task, self.gold_label):
            if arr is not None:
                h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()

    def subset(self, keep: np.ndarray) -> LabelArrays:
        """Rows where the boolean mask ``keep`` is true; id tables are kept as they are."""
        def pick(a):
            return None if a is None else a[keep]
        return LabelArrays(
            task=self.task[keep], worker=self.worker[keep], label=self.label[keep],
            task_ids=self.task_ids, worker_ids=self.worker_ids, classes=self.classes,
            submitted_at=pick(self.submitted_at), started_at=pick(self.started_at),
            duration_s=pick(self.duration_s), n_edits=pick(self.n_edits),
            gold_task=self.gold_task, gold_label=self.gold_label,
        )


def _epoch(col: pd.Series | None) -> np.ndarray | None:
    if col is None:
        return None
    if pd.api.types.is_numeric_dtype(col):
        return col.to_numpy(dtype="float64", na_value=np.nan)
    ts = pd.to_datetime(col, utc=True, errors="coerce")
    out = (ts - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    return out.to_numpy(dtype="float64", na_value=np.nan)


def from_frame(
    df: pd.DataFrame,
    gold: pd.DataFrame | None = None,
    classes: list[str] | None = None,
) -> LabelArrays:
    """Code a frame with columns task, worker, label (and optionally started_at,
    submitted_at, duration_s, event, n_edits) into :class:`LabelArrays`.

    Rows must already be final answers (one per worker and task); use
    :func:`load_project` for raw event logs.
    """
    missing = [c for c in ("task", "worker", "label") if c not in df.columns]
    if missing:
        raise UserError(f"labels need columns task, worker, label; missing {', '.join(missing)}")
    if len(df) == 0:
        raise UserError("no labels to analyse: the project is empty")
    for col in ("task", "worker", "label"):
        blank = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if blank.any():
            raise UserError(f"row {int(np.flatnonzero(blank.to_numpy())[0]) + 1} has an empty {col}; "
                            "fill it in or remove the row")
    task_s = df["task"].astype(str)
    worker_s = df["worker"].astype(str)
    label_s = df["label"].astype(str)
    t_codes, task_ids = pd.factorize(task_s, sort=True)
    w_codes, worker_ids = pd.factorize(worker_s, sort=True)
    task_ids = np.asarray(task_ids, dtype=object)
    worker_ids = np.asarray(worker_ids, dtype=object)
    cls = np.asarray(classes, dtype=object) if classes is not None else sort_classes(label_s)
    t_codes = t_codes.astype(np.int32)
    w_codes = w_codes.astype(np.int32)
    l_codes = pd.Categorical(label_s, categories=list(cls)).codes.astype(np.int32)
    if (l_codes < 0).any():
        bad = label_s[l_codes < 0].iloc[0]
        raise UserError(f"label {bad!r} is not in the label set {list(cls)}")
    g_task = np.empty(0, np.int32)
    g_label = np.empty(0, np.int32)
    if gold is not None and len(gold):
        gt = gold["task"].astype(str).to_numpy(dtype=object)
        gl = pd.Categorical(gold["label"].astype(str), categories=list(cls)).codes
        pos = np.searchsorted(task_ids, gt)
        pos_c = np.clip(pos, 0, max(len(task_ids) - 1, 0))
        ok = (pos < len(task_ids)) & (task_ids[pos_c] == gt) & (gl >= 0)
        g_task = pos[ok].astype(np.int32)
        g_label = gl[ok].astype(np.int32)
    n_edits = df["n_edits"].to_numpy(dtype=np.int32) if "n_edits" in df.columns else np.zeros(len(df), np.int32)
    return LabelArrays(
        task=t_codes, worker=w_codes, label=l_codes,
        task_ids=task_ids, worker_ids=worker_ids, classes=cls,
        submitted_at=_epoch(df["submitted_at"]) if "submitted_at" in df.columns else None,
        started_at=_epoch(df["started_at"]) if "started_at" in df.columns else None,
        duration_s=df["duration_s"].to_numpy(dtype="float64", na_value=np.nan) if "duration_s" in df.columns else None,
        n_edits=n_edits,
        gold_task=g_task, gold_label=g_label,
    )


FINAL_ANSWERS_SQL = """
WITH ranked AS (
    SELECT task, worker, label, started_at, submitted_at, duration_s, event,
           row_number() OVER w AS rn,
           count(*) OVER (PARTITION BY task, worker) - 1 AS n_edits
    FROM annotations
    WHERE project_id = $project_id {extra_filter}
    WINDOW w AS (PARTITION BY task, worker
                 ORDER BY coalesce(submitted_at, started_at) DESC NULLS LAST, ingest_id DESC, source_row DESC)
)
SELECT task, worker, label,
       epoch(started_at)   AS started_at,
       epoch(submitted_at) AS submitted_at,
       duration_s, n_edits::INTEGER AS n_edits
FROM ranked WHERE rn = 1 AND event <> 'delete'
ORDER BY task, worker   -- a stable row order: equal data gives an equal fingerprint
"""


def load_project(con, project_id: int, exclude_workers: list[str] | None = None) -> LabelArrays:
    """Read the final answers of one project from the workspace as coded arrays.

    The latest event per (task, worker) wins; a ``delete`` removes the answer. Workers in
    ``exclude_workers`` (e.g. the banned set) are left out. Timestamps come back as epoch
    seconds; a column that is NULL on every row becomes ``None``.
    """
    extra = ""
    params: dict = {"project_id": project_id}
    if exclude_workers:
        extra = "AND NOT list_contains($excluded, worker)"
        params["excluded"] = list(exclude_workers)
    # execute(), not sql(): duckdb 2.0's sql() refuses to run while an earlier execute()
    # result on the same connection is not fully fetched (e.g. after a fetchone()).
    df = con.execute(FINAL_ANSWERS_SQL.format(extra_filter=extra), params).df()
    for col in ("started_at", "submitted_at", "duration_s"):
        if df[col].isna().all():
            df = df.drop(columns=col)
    label_set = first_row(con.execute("SELECT label_set FROM projects WHERE project_id = ?", [project_id]))
    declared = list(label_set[0]) if label_set and label_set[0] else None
    gold = con.execute("SELECT task, label FROM gold WHERE project_id = ?", [project_id]).df()
    classes = None
    if declared:
        classes = [c for c in declared]
        extra_labels = sorted(set(df["label"].unique()) - set(classes))
        classes += extra_labels
    return from_frame(df, gold=gold, classes=classes)
