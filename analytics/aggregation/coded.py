"""Sparse views of coded labels that every aggregation model reads.

All models work on the integer codes of :class:`~analytics.dataset.LabelArrays` through a
few shared views, built once per fit:

* :class:`LabelMatrix` – ``M`` (tasks x workers*K, CSR) with ``M[i, w*K + l]`` = number of
  times worker ``w`` gave label ``l`` on task ``i``, and its transpose ``Mt``. An E-step of any
  confusion-matrix model is ``M @ log(A)`` and an M-step ``Mt @ posteriors``, so one EM
  iteration costs O(labels * K) in two sparse products;
* vote counts per task, the unique (task, worker, label) rows crowd-kit's accuracy counts,
  row-wise softmax, and the per-worker agreement with a set of labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from analytics.dataset import LabelArrays

EPS = 1e-10  # crowd-kit's clip in the Dawid-Skene M-step and on the priors


@dataclass(frozen=True)
class LabelMatrix:
    """``M`` (T x W*K) label counts per task and (worker, label), and ``Mt`` = ``M.T`` (CSR both)."""

    M: sp.csr_matrix
    Mt: sp.csr_matrix
    T: int
    W: int
    K: int

    @classmethod
    def of(cls, data: LabelArrays) -> LabelMatrix:
        T, W, K = data.n_tasks, data.n_workers, data.n_classes
        wy = data.worker.astype(np.int64) * K + data.label
        M = sp.csr_matrix((np.ones(data.n), (data.task, wy)), shape=(T, W * K))
        M.sum_duplicates()
        return cls(M, M.T.tocsr(), T, W, K)

    def soft_counts(self, post: np.ndarray) -> np.ndarray:
        """N[w, c, l] = sum over w's labels l of P(z_task = c): (W, K_true, K_obs)."""
        C = post.shape[1]
        return np.ascontiguousarray((self.Mt @ post).reshape(self.W, self.K, C).transpose(0, 2, 1))

    def log_lik(self, logA: np.ndarray) -> np.ndarray:
        """sum over task i's labels of logA[w, c, y_wi]: (T, C) for logA (W, C, K_obs)."""
        C = logA.shape[1]
        return self.M @ np.ascontiguousarray(logA.transpose(0, 2, 1)).reshape(self.W * self.K, C)


def vote_counts(data: LabelArrays, weights: np.ndarray | None = None) -> np.ndarray:
    """(T, K) number (or weight sum) of labels of each class per task."""
    K = data.n_classes
    return np.bincount(data.task.astype(np.int64) * K + data.label, weights=weights,
                       minlength=data.n_tasks * K).reshape(data.n_tasks, K).astype(np.float64)


def vote_shares(counts: np.ndarray) -> np.ndarray:
    """Rows of ``counts`` normalised to sum 1 (all-zero rows stay zero)."""
    tot = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, tot, out=np.zeros_like(counts), where=tot > 0)


def fill_empty(probas: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Tasks without any label get the class prior (in place)."""
    empty = probas.sum(axis=1) <= 0
    if empty.any():
        probas[empty] = priors
    return probas


def row_max(x: np.ndarray) -> np.ndarray:
    """Row-wise max of a (n, K) array; column-by-column, which is much faster than ``max(axis=1)`` for small K."""
    m = x[:, 0].copy()
    for k in range(1, x.shape[1]):
        np.maximum(m, x[:, k], out=m)
    return m


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax (a new array)."""
    z = logits - row_max(logits)[:, None]
    np.exp(z, out=z)
    tot = z[:, 0].copy()
    for k in range(1, z.shape[1]):
        tot += z[:, k]
    z /= tot[:, None]
    return z


def unique_rows(data: LabelArrays) -> np.ndarray:
    """Boolean mask of the first occurrence of each (task, worker, label) triple.

    crowd-kit's ``get_accuracy`` drops repeated triples before scoring a worker; models that
    use it (Wawa, ZBS) do the same here.
    """
    key = (data.task.astype(np.int64) * data.n_workers + data.worker) * max(data.n_classes, 1) + data.label
    _, first = np.unique(key, return_index=True)
    mask = np.zeros(data.n, bool)
    mask[first] = True
    return mask


def agreement_with(data: LabelArrays, labels: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Per worker: share of their labels equal to ``labels[task]`` (NaN without labels).

    ``rows`` (boolean) restricts the labels counted (e.g. :func:`unique_rows`).
    """
    W = data.n_workers
    w = data.worker if rows is None else data.worker[rows]
    hit = (data.label == labels[data.task]) if rows is None else (data.label[rows] == labels[data.task[rows]])
    n = np.bincount(w, minlength=W).astype(float)
    h = np.bincount(w, weights=hit.astype(float), minlength=W)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, h / np.maximum(n, 1), np.nan)
