"""The result of an aggregation model, in the coded space of :class:`~analytics.dataset.LabelArrays`.

Every aggregation model in :mod:`analytics.aggregate` returns a :class:`Consensus`; every
worker score, detector and the trust verdict read it. Conventions follow crowd-kit's
fitted attributes (``probas_``, ``labels_``, ``errors_``) but as dense numpy arrays indexed
by the integer codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Consensus:
    """Aggregated labels and the model's view of each worker.

    Attributes
    ----------
    method : short model name ('ds', 'mv', 'glad', ...)
    probas : (n_tasks, K) posterior P(z_i = k | data); rows sum to 1
    labels : (n_tasks,) int32 argmax of ``probas``; ties go to the lowest class code
    errors : (n_workers, K, K) confusion matrices A_w[c, k] = P(y = k | z = c) (rows are the
        true class), or None for models without one (MV, Wawa, GLAD, ...)
    priors : (K,) class prior
    skills : (n_workers,) the model's scalar worker skill, or None
    difficulty : (n_tasks,) item difficulty (GLAD exp(-beta_i)), or None
    """

    method: str
    probas: np.ndarray
    labels: np.ndarray
    priors: np.ndarray
    errors: np.ndarray | None = None
    skills: np.ndarray | None = None
    difficulty: np.ndarray | None = None

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
