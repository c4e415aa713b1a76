"""Partitions of workers: every label of a contiguous range of worker codes.

Built by one shuffle from the item partitions (:func:`shuffle`): each item partition splits
its rows by worker range, and a worker partition concatenates its pieces in item-partition
order, so its rows keep the canonical (task, worker) order of the in-memory path (the row
tie-break of every detector's time sort). With the rows go the per-label results of the item
steps: the leave-worker-out posterior of the label's task and whether somebody else labelled it.

On a worker partition the detectors of :mod:`analytics.behaviour` and the reliability scores of
:mod:`analytics.workers` run unchanged on a partition-local :class:`~analytics.dataset.LabelArrays`;
their crowd-level statistics come from :mod:`analytics.crowdstats` (:func:`settle`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from analytics.crowdstats import Crowd, combine_recorded, same_values
from analytics.dataset import LabelArrays
from analytics.engine.core import Engine, PerPart

#: Labels per worker partition.
PARTITION_LABELS: int = 2_000_000
#: At most this many passes to settle the detectors' crowd statistics (chains are 4 long).
MAX_PASSES: int = 8

STATIC = ("task", "worker", "label", "submitted_at", "started_at", "duration_s", "n_edits", "gold")


def bounds(n_w: np.ndarray, target: int | None = None) -> np.ndarray:
    """Worker-code boundaries [b_0 = 0, ..., b_m = W] of ranges holding about ``target`` labels
    (default :data:`PARTITION_LABELS`)."""
    target = PARTITION_LABELS if target is None else target
    cum = np.concatenate([[0], np.cumsum(n_w)])
    part = cum[:-1] // max(int(target), 1)
    starts = np.flatnonzero(np.r_[True, part[1:] != part[:-1]])
    return np.r_[starts, len(n_w)].astype(np.int64)


def split(part, columns: dict, wb: np.ndarray) -> list[dict]:
    """The partition's rows (with ``columns``, per label) cut by worker range."""
    d = part.data
    out = {"task": d.task.astype(np.int32) + np.int32(part.task_lo), "worker": d.worker, "label": d.label,
           "n_edits": d.n_edits, "gold": part.gold}
    for c in ("submitted_at", "started_at", "duration_s"):
        if getattr(d, c) is not None:
            out[c] = getattr(d, c)
    out.update(columns)
    which = np.searchsorted(wb, d.worker, side="right") - 1
    order = np.argsort(which, kind="stable")
    cuts = np.searchsorted(which[order], np.arange(len(wb)))
    return [{k: v[order[cuts[j]:cuts[j + 1]]] for k, v in out.items()} for j in range(len(wb) - 1)]


@dataclass
class WorkerPart:
    """One worker partition: a local LabelArrays (worker codes local: global = local + ``w_lo``)."""

    w_lo: int
    data: LabelArrays
    task_global: np.ndarray          # global code of each local task
    cols: dict                       # per-label arrays from the item steps (loo, checkable, ...)


def assemble(w_lo: int, w_hi: int, worker_ids: np.ndarray, classes: list[str], task_ids_path: str,
             *pieces: dict) -> WorkerPart:
    """Concatenate the pieces (in item-partition order) into a :class:`WorkerPart`."""
    keys = pieces[0].keys()
    cat = {k: np.concatenate([p[k] for p in pieces]) for k in keys}
    task_global, task_local = np.unique(cat["task"], return_inverse=True)
    gold = cat["gold"]
    has = gold >= 0
    g_task, first = np.unique(task_local[has], return_index=True)
    data = LabelArrays(
        task=task_local.astype(np.int32), worker=(cat["worker"] - w_lo).astype(np.int32), label=cat["label"],
        task_ids=TaskIds(task_ids_path, task_global), worker_ids=np.asarray(worker_ids, dtype=object),
        classes=np.asarray(classes, dtype=object),
        submitted_at=cat.get("submitted_at"), started_at=cat.get("started_at"), duration_s=cat.get("duration_s"),
        n_edits=cat["n_edits"], gold_task=g_task.astype(np.int32), gold_label=gold[has][first].astype(np.int32))
    extra = {k: v for k, v in cat.items() if k not in STATIC}
    return WorkerPart(w_lo=w_lo, data=data, task_global=task_global, cols=extra)


def with_columns(wp: WorkerPart, *pieces: dict) -> WorkerPart:
    """The same partition with new per-label columns (pieces cut as in :func:`shuffle`)."""
    cols = {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}
    return dataclasses.replace(wp, cols={**wp.cols, **cols})


class TaskIds:
    """Task ids of a worker partition's local tasks, read from the layout when a reason needs them."""

    _cache: dict = {}

    def __init__(self, path: str, codes: np.ndarray):
        self.path, self.codes = path, codes
        self.shape = (len(codes),)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, idx):
        if getattr(self, "_ids", None) is None:        # the partition's ids, read once
            table = TaskIds._cache.get(self.path)
            if table is None:
                import pyarrow.parquet as pq

                TaskIds._cache.clear()
                table = TaskIds._cache[self.path] = pq.read_table(self.path, columns=["id"]).column("id")
            self._ids = np.asarray(table.take(self.codes).to_numpy(zero_copy_only=False), dtype=object)
        return self._ids[idx]

    def __getstate__(self):
        return {"path": self.path, "codes": self.codes, "shape": self.shape}


def shuffle(eng: Engine, columns_futs: list, wb: np.ndarray, worker_ids: np.ndarray, base: list | None = None
            ) -> list:
    """Worker partitions from item partitions: each item partition's rows (and its per-label
    ``columns_futs``) split by worker range ``wb``; with ``base`` only the new columns are added."""
    pieces = eng.map(_split_cols, PerPart(columns_futs), wb)
    m = len(wb) - 1
    cuts = [[eng.client.submit(_nth, p, j, pure=False) for p in pieces] for j in range(m)]
    path = str(eng.layout.path / "task_ids.parquet")
    if base is None:
        out = [eng.client.submit(assemble, int(wb[j]), int(wb[j + 1]), worker_ids[wb[j]:wb[j + 1]],
                                 eng.layout.classes, path, *cuts[j], pure=False, retries=2) for j in range(m)]
    else:
        out = [eng.client.submit(with_columns, base[j], *cuts[j], pure=False, retries=2) for j in range(m)]
    eng.release(pieces, *cuts)
    return out


def _split_cols(part, columns: dict, wb):
    return split(part, columns, wb)


def _nth(pieces: list, j: int) -> dict:
    return pieces[j]


# -- detectors on a worker partition ------------------------------------------------------------

def fit_detectors(wp: WorkerPart, consensus, settings, soft: np.ndarray, polish, names: list[str],
                  given: dict, record: bool = True):
    """The behaviour detectors ``names`` on one partition, each with its own crowd statistics
    (``given[name]``); returns ({name: (scores, signals)} in global worker codes, {name: recorded})."""
    from analytics.behaviour import BehaviourContext

    ctx = BehaviourContext.from_parts(wp.data, wp.cols["loo"], soft)
    out, recorded = {}, {}
    for name in names:
        g = dict(given.get(name, {}), worker_offset=wp.w_lo)
        if polish is not None and name == "fast":
            mu, a, b = polish
            g["fast.polish"] = (mu, a[wp.w_lo:wp.w_lo + wp.data.n_workers], b[wp.task_global])
        crowd = Crowd(given=g, record=record)
        proto = getattr(settings, name)
        det = type(proto)(**{f.name: getattr(proto, f.name) for f in fields(proto) if f.init})
        det.fit(wp.data, consensus, context=dataclasses.replace(ctx, crowd=crowd))
        out[name] = _globalise(det.scores_, det.signals_, wp.w_lo)
        recorded[name] = crowd.recorded
    return out, recorded


def behaviour(eng: Engine, wparts: list, consensus, settings, soft: np.ndarray, polish) -> list:
    """Every enabled detector on every worker partition, each detector re-run until its own
    crowd statistics settle (see :func:`settle`); per partition (scores, signals)."""
    from analytics.behaviour import DETECTORS

    pending = [n for n in DETECTORS if n in settings.enabled]
    given: dict = {n: {} for n in pending}
    done: dict = {}
    for i in range(MAX_PASSES):
        if not pending:
            break
        eng.progress(0.0, f"pass {i + 1}: {', '.join(pending)}")
        res = eng.map(fit_detectors, consensus, settings, soft, polish, pending, {n: given[n] for n in pending},
                      parts=wparts)
        recorded = eng.gather(eng.item(res, 1))
        outs = eng.item(res, 0)
        still = []
        for n in pending:
            new = combine_recorded([r[n] for r in recorded])
            if same_values(new, given[n]):
                done[n] = eng.gather([eng.client.submit(_pick, o, n, pure=False) for o in outs])
            else:
                given[n] = new
                still.append(n)
        eng.release(res, outs)
        pending = still
    if pending:
        raise RuntimeError(f"behaviour detectors {pending}: crowd statistics did not settle in {MAX_PASSES} passes")
    names = [n for n in DETECTORS if n in done]
    results = []
    for j in range(len(wparts)):
        frames = [done[n][j] for n in names]
        scores = pd.concat([f[0] for f in frames], axis=1) if frames else pd.DataFrame()
        sigs = [f[1] for f in frames if len(f[1])]
        results.append((scores, pd.concat(sigs, ignore_index=True) if sigs else frames[0][1] if frames else None))
    return results


def _pick(d: dict, key):
    return d[key]


def fit_reliability(wp: WorkerPart, consensus, reliability, given: dict, record: bool, loo_col: str = "loo"):
    rel = dataclasses.replace(reliability)
    crowd = Crowd(given=given, record=record)
    rel.fit(wp.data, consensus, inputs={"loo": wp.cols[loo_col], "checkable": wp.cols["checkable"]}, crowd=crowd)
    scores, signals = _globalise(rel.scores_, rel.signals_, wp.w_lo)
    A = rel.shrunk_errors_
    return (scores, signals, A), crowd.recorded


def _globalise(scores: pd.DataFrame, signals: pd.DataFrame, w_lo: int):
    scores = scores.copy()
    scores.index = scores.index + w_lo
    signals = signals.copy()
    signals["worker"] = signals["worker"].astype(np.int64) + w_lo
    return scores, signals


def settle(eng: Engine, fn, wparts: list, *args, label: str = "") -> list:
    """Run ``fn(part, *args, given, record=True)`` on every worker partition until the crowd
    statistics it records are a fixed point (see :mod:`analytics.crowdstats`); returns the
    futures of the final pass's outputs."""
    given: dict = {}
    for i in range(MAX_PASSES):
        eng.progress(0.0, f"{label} (pass {i + 1})")
        res = eng.map(fn, *args, given, True, parts=wparts)
        recorded = eng.gather(eng.item(res, 1))
        new = combine_recorded(recorded)
        if same_values(new, given):
            return eng.item(res, 0)
        eng.release(res)
        given = new
    raise RuntimeError(f"{label}: crowd statistics did not settle in {MAX_PASSES} passes")
