"""The result of an aggregation model, in the coded space of :class:`~analytics.dataset.LabelArrays`.

Every aggregation model in :mod:`analytics.aggregate` returns a :class:`Consensus`; every
worker score, detector and the trust verdict read it. Conventions follow crowd-kit's
fitted attributes (``probas_``, ``labels_``, ``errors_``, here ``confusion``) but as dense numpy arrays indexed
by the integer codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Consensus:
    """Aggregated labels and the model's view of each worker.

    Attributes
    ----------
    method : short model name ('ds', 'mv', 'glad', ...)
    probas : (n_tasks, K) posterior P(z_i = k | data); rows sum to 1
    labels : (n_tasks,) int32 argmax of ``probas``; ties go to the lowest class code
    confusion : (n_workers, K, K) confusion matrices A_w[c, k] = P(y = k | z = c) (rows are the
        true class), or None for models without one (MV, Wawa, GLAD, ...); ``errors`` is a
        read-only alias kept for older code (crowd-kit calls them ``errors_``)
    priors : (K,) class prior
    skills : (n_workers,) the model's scalar worker skill, or None
    difficulty : (n_tasks,) item difficulty (GLAD exp(-beta_i)), or None
    params : the model's fitted settings and state a warm re-fit starts from (e.g. the
        prior strength chosen by ``cbds``, GLAD's alpha/beta, iterations run), or None
    """

    method: str
    probas: np.ndarray
    labels: np.ndarray
    priors: np.ndarray
    confusion: np.ndarray | None = None
    skills: np.ndarray | None = None
    difficulty: np.ndarray | None = None
    params: dict | None = field(default=None, compare=False)

    @property
    def errors(self) -> np.ndarray | None:
        """Read-only alias of :attr:`confusion` (the name crowd-kit uses, ``errors_``)."""
        return self.confusion

    @property
    def confidence(self) -> np.ndarray:
        """Posterior probability of the chosen label."""
        return self.probas[np.arange(self.probas.shape[0]), self.labels]


def argmax_lowest(probas: np.ndarray, atol: float = 1e-12) -> np.ndarray:
    """Row-wise argmax where near-ties (within ``atol``) go to the lowest class code.

    This is the documented deterministic tie rule of every aggregator in CrowdTrust.
    """
    top = probas.max(axis=1, keepdims=True)
    return np.argmax(probas >= top - atol, axis=1).astype(np.int32)


def leave_one_out_posteriors(data, consensus: Consensus, exclude: np.ndarray | None = None) -> np.ndarray:
    """Posterior of each label's task with that label's own vote removed, shape (n_labels, K).

    For a model with confusion matrices (Dawid & Skene 1979) the task posterior is
    proportional to prior * prod_w A_w[:, y_wi]; dividing out the worker's own factor gives
    the exact one-E-step leave-worker-out posterior (detection-methods.md §2.6, §5). Models
    without matrices fall back to the other workers' vote shares (majority vote without w),
    with the model posterior used where the worker was the task's only labeller.

    ``exclude`` (boolean per worker) leaves those workers' votes out of every posterior, as if
    their matrices were uniform: the reference the rest of the crowd gives without them.
    """
    n, K = data.n, data.n_classes
    out_rows = None if exclude is None else np.asarray(exclude, bool)[data.worker]
    if consensus.confusion is not None:
        A = np.clip(consensus.confusion, 1e-6, 1.0)
        logA = np.log(A)                                   # (W, K_true, K_obs)
        own = logA[data.worker, :, data.label]             # (n, K_true)
        if out_rows is not None:
            own[out_rows] = 0.0                            # a uniform matrix: no information
        logpost = np.log(np.clip(consensus.priors, 1e-12, 1.0))[None, :] + np.zeros((data.n_tasks, K))
        np.add.at(logpost, data.task, own)
        loo = logpost[data.task] - own
        loo -= loo.max(axis=1, keepdims=True)
        p = np.exp(loo)
        return p / p.sum(axis=1, keepdims=True)
    vote = np.ones(n) if out_rows is None else (~out_rows).astype(float)
    counts = np.zeros((data.n_tasks, K))
    np.add.at(counts, (data.task, data.label), vote)
    loo = counts[data.task].copy()
    loo[np.arange(n), data.label] -= vote
    tot = loo.sum(axis=1, keepdims=True)
    fallback = consensus.probas[data.task]
    return np.where(tot > 0, loo / np.where(tot > 0, tot, 1.0), fallback)
