"""Work on one partition of items: load, the EM models' E-step and sufficient statistics.

A partition holds every label of a contiguous range of task codes, so everything that is a
function of one item's labels (its posterior, its vote counts, its leave-one-out posteriors,
its agreement statistics) is computed here exactly as :mod:`analytics.aggregate` and
:mod:`analytics.consensus` compute it for all items at once: the functions below call the
same numpy kernels on the partition's arrays (task codes local to the partition, worker codes
global). What crosses partitions is small and additive: per-worker soft counts (W x K x K),
class totals, the terms of the evidence lower bound.

Models (the M-step on the client, :mod:`analytics.engine.em`):

* ``ds``: Dawid & Skene (1979) EM exactly as :func:`analytics.aggregate.dawid_skene`;
* ``cbds``: the crowd-prior Bayesian Dawid-Skene of :mod:`analytics.aggregation.cbds`
  (variational Bayes with the crowd's pooled matrix as the prior's centre);
* ``mv``: majority vote.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from analytics.consensus import argmax_lowest
from analytics.dataset import LabelArrays

EPS = 1e-10


@dataclass
class ItemPart:
    """One item partition: ``data`` has local task codes (global = local + ``task_lo``),
    global worker codes, and the partition's row offset in the canonical (task, worker) order."""

    part: int
    task_lo: int
    row_offset: int
    data: LabelArrays
    gold: np.ndarray          # per label: gold class code of its task, -1 without gold
    _M: sp.csr_matrix | None = None

    @property
    def n_tasks(self) -> int:
        return self.data.n_tasks

    def matrix(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """M (tasks x workers*K label counts) and its transpose, built once per partition."""
        if self._M is None:
            d = self.data
            wy = d.worker.astype(np.int64) * d.n_classes + d.label
            M = sp.csr_matrix((np.ones(d.n), (d.task, wy)), shape=(d.n_tasks, d.n_workers * d.n_classes))
            M.sum_duplicates()
            self._M = M
        return self._M, self._M.T.tocsr()


def load_part(meta: dict, n_workers: int, classes: list[str], columns: list[str]) -> ItemPart:
    """Read one item partition's Parquet files into an :class:`ItemPart` (rows in canonical order)."""
    import pyarrow.parquet as pq

    tab = pq.read_table(meta["path"], columns=[c for c in columns if c != "part"])
    cols = {c: tab.column(c).to_numpy() for c in tab.column_names}
    task = cols["task"].astype(np.int64) - meta["task_lo"]
    worker = cols["worker"].astype(np.int32)
    order = np.lexsort((worker, task))
    T = int(meta["task_hi"] - meta["task_lo"])

    def pick(c, dtype=np.float64):
        return None if c not in cols else np.ascontiguousarray(cols[c][order], dtype=dtype)

    gold = cols["gold"][order].astype(np.int32)
    has_gold = gold >= 0
    g_task, first = np.unique(task[order][has_gold], return_index=True)
    data = LabelArrays(
        task=task[order].astype(np.int32), worker=worker[order], label=cols["label"][order].astype(np.int32),
        task_ids=np.arange(meta["task_lo"], meta["task_hi"]), worker_ids=_Codes(n_workers),
        classes=np.asarray(classes, dtype=object),
        submitted_at=pick("submitted_at"), started_at=pick("started_at"), duration_s=pick("duration_s"),
        n_edits=pick("n_edits", np.int32),
        gold_task=g_task.astype(np.int32), gold_label=gold[has_gold][first].astype(np.int32),
    )
    assert data.n_tasks == T
    return ItemPart(part=int(meta["part"]), task_lo=int(meta["task_lo"]), row_offset=int(meta["row_offset"]),
                    data=data, gold=gold)


class _Codes:
    """A stand-in id table of length n (only its length is read on item partitions)."""

    def __init__(self, n: int):
        self.shape = (int(n),)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, idx):
        return np.asarray(idx)


# -- shared statistics ---------------------------------------------------------------------

def vote_counts(data: LabelArrays) -> np.ndarray:
    K = data.n_classes
    return np.bincount(data.task.astype(np.int64) * K + data.label, minlength=data.n_tasks * K
                       ).reshape(data.n_tasks, K).astype(np.float64)


def basic_sums(part: ItemPart) -> dict:
    """Per-worker label counts, per (worker, label) counts, class totals of the votes."""
    d = part.data
    W, K = d.n_workers, d.n_classes
    wy = d.worker.astype(np.int64) * K + d.label
    return {"n_w": np.bincount(d.worker, minlength=W).astype(np.int64),
            "wy": np.bincount(wy, minlength=W * K).astype(np.int64),
            "class_counts": np.bincount(d.label, minlength=K).astype(np.int64),
            "labelled_tasks": int((np.bincount(d.task, minlength=d.n_tasks) > 0).sum())}


def rows(part: ItemPart, keep: np.ndarray | None) -> ItemPart:
    """The partition restricted to labels where ``keep`` (per label) is true; tasks keep their codes."""
    if keep is None:
        return part
    d = part.data.subset(keep)
    g_task = d.gold_task
    return ItemPart(part=part.part, task_lo=part.task_lo, row_offset=part.row_offset,
                    data=LabelArrays(task=d.task, worker=d.worker, label=d.label, task_ids=d.task_ids,
                                     worker_ids=d.worker_ids, classes=d.classes, submitted_at=d.submitted_at,
                                     started_at=d.started_at, duration_s=d.duration_s, n_edits=d.n_edits,
                                     gold_task=g_task, gold_label=d.gold_label),
                    gold=part.gold[keep])


# -- EM: start ------------------------------------------------------------------------------

def start_posteriors(part: ItemPart, method: str, gold: np.ndarray | None) -> np.ndarray:
    """Majority-vote shares (uniform for tasks without labels), gold tasks clamped."""
    d = part.data
    K = d.n_classes
    counts = vote_counts(d)
    tot = counts.sum(axis=1, keepdims=True)
    if method == "ds":
        p = np.divide(counts, tot, out=np.full_like(counts, 1.0 / K), where=tot > 0)
        return clamp(p, gold)
    p = np.divide(counts, tot, out=np.zeros_like(counts), where=tot > 0)
    if method == "cbds":
        p[p.sum(axis=1) <= 0] = 1.0 / K
    return p


def clamp(p: np.ndarray, gold: np.ndarray | None) -> np.ndarray:
    """Gold tasks' posteriors set to their answer (``gold`` per local task, -1 none)."""
    if gold is not None:
        g = np.flatnonzero(gold >= 0)
        if g.size:
            p[g] = 0.0
            p[g, gold[g]] = 1.0
    return p


def soft_sums(part: ItemPart, p: np.ndarray) -> dict:
    """Sufficient statistics of posteriors ``p``: Mt @ p (W*K x K), sum of p over tasks, and
    the ELBO terms sum_i n_i p_i (K) and sum_i sum_c p_ic log p_ic (clipped as crowd-kit)."""
    M, Mt = part.matrix()
    n_per_task = np.asarray(M.sum(axis=1)).ravel()
    pc = np.maximum(p, EPS)
    return {"N": Mt @ p, "psum": p.sum(axis=0), "np_sum": n_per_task @ p,
            "plogp": float((pc * np.log(pc)).sum())}


# -- EM: E-steps ----------------------------------------------------------------------------

def ds_estep(part: ItemPart, logE: np.ndarray, logpri: np.ndarray, gold: np.ndarray | None
             ) -> tuple[np.ndarray, dict]:
    """Dawid-Skene E-step (posteriors from log confusion matrices and log priors) and the sums
    of the new posteriors that the M-step and the stopping rule need."""
    M, _ = part.matrix()
    ll = M @ logE + logpri[None, :]
    ll -= ll.max(axis=1, keepdims=True)
    p = np.exp(ll)
    p /= p.sum(axis=1, keepdims=True)
    p = clamp(p, gold)
    return p, soft_sums(part, p)


def cbds_estep(part: ItemPart, q: np.ndarray, elog_a_t: np.ndarray, elog_pi: np.ndarray
               ) -> tuple[np.ndarray, dict]:
    """One VB step of cbds: new posteriors, how far they moved (max and sum of each task's
    largest move), and the soft counts of the new posteriors for the next step."""
    from analytics.aggregation.coded import row_max, softmax_rows

    M, _ = part.matrix()
    new = softmax_rows(M @ elog_a_t + elog_pi[None, :])
    moved = row_max(np.abs(new - q)) if new.shape[0] else np.zeros(0)
    s = soft_sums(part, new)
    s["moved_max"] = float(moved.max()) if moved.size else 0.0
    s["moved_sum"] = float(moved.sum())
    return new, s


def final_posteriors(part: ItemPart, log_errors_t: np.ndarray, log_priors: np.ndarray) -> np.ndarray:
    """One E-step with fixed matrices (cbds's consistent posteriors)."""
    from analytics.aggregation.coded import softmax_rows

    M, _ = part.matrix()
    return softmax_rows(M @ log_errors_t + log_priors[None, :])


def mv_sums(part: ItemPart, p: np.ndarray) -> dict:
    """Majority vote: the worker agreement with the argmax (skills) and the vote totals."""
    d = part.data
    W = d.n_workers
    labels = argmax_lowest(p) if p.shape[0] else np.zeros(0, np.int32)
    hit = (d.label == labels[d.task]).astype(float) if d.n else np.zeros(0)
    return {"hit": np.bincount(d.worker, weights=hit, minlength=W), "counts": vote_counts(d).sum(axis=0)}


# -- per-label and per-item results ---------------------------------------------------------

def label_columns(part: ItemPart, q: np.ndarray, cons, exclude: np.ndarray | None, name: str = "loo"
                  ) -> tuple[dict, dict]:
    """Each label's leave-worker-out posterior (:func:`analytics.consensus.leave_one_out_posteriors`)
    and whether somebody else labelled its task; with the crowd's soft counts of the posteriors
    (the behaviour detectors' pooled confusion matrix)."""
    from analytics.consensus import leave_one_out_posteriors
    from analytics.workers import _own_counts

    d = part.data
    K = d.n_classes
    loo = leave_one_out_posteriors(d, cons.local(q), exclude)
    per_task = np.bincount(d.task, minlength=d.n_tasks)
    checkable = (per_task[d.task] - _own_counts(d)) > 0
    soft = np.stack([np.bincount(d.label, weights=loo[:, c], minlength=K) for c in range(K)])
    return {name: loo, "checkable": checkable}, {"soft": soft}


def item_results(part: ItemPart, q: np.ndarray, cons, suspect: np.ndarray, ts, out_dir: str,
                 task_ids_path: str, use_gold: bool) -> dict:
    """The item verdict and scores of one partition, written as Parquet (labels and items), and
    the partition's sums for the run summary (suspect items, confidence, gold accuracy)."""
    import pandas as pd
    import pyarrow.parquet as pq

    from analytics.items import item_scores
    from analytics.trust import item_verdict

    d = part.data
    c = cons.local(q)
    iv = item_verdict(d, c, suspect, ts)
    sc = item_scores(d, c)
    ids = pq.read_table(task_ids_path, columns=["id"], filters=[("code", ">=", part.task_lo),
                                                                 ("code", "<", part.task_lo + d.n_tasks)])
    tid = np.asarray(ids.column("id").to_numpy(zero_copy_only=False), dtype=object)
    cls = d.classes
    conf = c.confidence
    labels = pd.concat([pd.DataFrame({"task": tid, "label": cls[c.labels], "confidence": conf.round(6)}),
                        pd.DataFrame(c.probas, columns=[f"p_{x}" for x in cls])], axis=1)
    items = pd.DataFrame({
        "task": tid, "label": cls[c.labels], "confidence": conf.round(6),
        "n_labels": iv["n_labels"].to_numpy(), "suspect": iv["suspect"].to_numpy(bool),
        "reasons": iv["reasons"].to_numpy(), "n_trusted_labels": iv["n_trusted_labels"].to_numpy(),
        "exposure": iv["exposure"].round(4).to_numpy(), "pivotal": iv["pivotal"].to_numpy(bool)})
    extra = sc.drop(columns=[x for x in items.columns if x in sc.columns], errors="ignore")
    items = pd.concat([items, extra.select_dtypes(include=["number", "bool"]).astype(float).reset_index(drop=True)],
                      axis=1)
    labels.to_parquet(f"{out_dir}/labels-{part.part:05d}.parquet", index=False)
    items.to_parquet(f"{out_dir}/items-{part.part:05d}.parquet", index=False)
    gold = d.gold_vector()
    has = gold >= 0
    return {"n_suspect_items": int(items["suspect"].sum()), "confidence": float(conf.sum()),
            "gold_n": int(has.sum()), "gold_correct": int((c.labels[has] == gold[has]).sum())}
