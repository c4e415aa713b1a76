"""The reference consensus and the independence null that every collusion test compares against.

Two confusion matrices per worker are built from the aggregation model's output
(:class:`~analytics.consensus.Consensus`):

* **Reference matrices** ``A_ref`` decide what counts as a *wrong* answer. Each row of the
  model's matrix is shrunk towards an *uninformative* row (the pooled label distribution)
  with a Dirichlet prior of ``reference_prior_labels`` pseudo-labels,
  ``A_ref[c,.] = (N_wc A_w[c,.] + lam_ref u) / (N_wc + lam_ref)``. A vote's weight (its
  log-likelihood ratio) therefore grows with the worker's history, the "trust is earned
  slowly" defence of detection-methods.md §4.4 (3). The default is mild (2 pseudo-labels):
  a strong prior also flattens honest posteriors on sparse data (3 labels per item), which
  miscalibrates the null; swarms that out-vote the crowd on their items are handled by the
  leave-community-out test of :mod:`analytics.collusion.graph` instead.
* **Null matrices** ``A_null`` give each worker's own answer distribution under the null
  hypothesis that the worker answers independently of everyone else given the true class
  (Dawid & Skene 1979). They are one M-step against the *leave-worker-out* reference posterior,
  shrunk towards the pooled matrix with ``null_prior_labels`` pseudo-labels (§1.6):
  ``A_null[c,.] = (N_wc. + lam_null Abar_c.) / (N_wc + lam_null)``. Shrinking keeps a
  low-volume account that is always wrong from explaining its own co-errors away (its error
  rate is pulled towards the crowd's), which is what makes sybil swarms visible (§3.1 trap).

All arrays are dense numpy, indexed by the integer codes of
:class:`~analytics.dataset.LabelArrays`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.consensus import Consensus, argmax_lowest
from analytics.crowdstats import Crowd, identity

_EPS = 1e-9


@dataclass(frozen=True)
class Reference:
    """Reference posteriors and null matrices (see module docstring).

    Attributes
    ----------
    own : (n, K) log A_ref[w_l, c, y_l]: the log-likelihood factor of each label per true class
    logpost : (n_tasks, K) log prior + sum of ``own`` over the task's labels (unnormalised)
    A_null : (n_workers, K, K) null confusion matrices, rows = true class
    loo : (n, K) leave-worker-out reference posterior of each label's task
    counts : (n_tasks, K) number of labels of each class per task
    n_w : (n_workers,) labels per worker
    by_worker, starts : label rows sorted by worker and each worker's offset (CSR index)
    """

    own: np.ndarray
    logpost: np.ndarray
    A_null: np.ndarray
    loo: np.ndarray
    counts: np.ndarray
    n_w: np.ndarray
    by_worker: np.ndarray
    starts: np.ndarray

    def rows_of(self, w: int) -> np.ndarray:
        """Label row indices of worker ``w``."""
        return self.by_worker[self.starts[w]:self.starts[w + 1]]


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def _soft_counts(worker, label, post, n_workers, K) -> np.ndarray:
    """N[w, c, k] = sum over w's labels of post[l, c] * 1[y_l = k]."""
    N = np.zeros((n_workers * K, K))
    np.add.at(N, worker.astype(np.int64) * K + label, post)
    return N.reshape(n_workers, K, K).transpose(0, 2, 1).copy()


def build_reference(data, consensus: Consensus, reference_prior_labels: float,
                    null_prior_labels: float, crowd: Crowd | None = None) -> Reference:
    """Compute the reference posterior and null matrices of :mod:`analytics.collusion.reference`.

    The per-worker soft counts and the label totals are sums over every label of the crowd
    (``crowd``, :mod:`analytics.crowdstats`, when the items are partitioned)."""
    crowd = crowd or Crowd()
    K, W = data.n_classes, data.n_workers
    t, w, y = data.task, data.worker, data.label
    post = np.asarray(consensus.probas, dtype=np.float64)[t]          # (n, K)
    N = crowd.stat("collusion.soft_counts", identity, (_soft_counts(w, y, post, W, K),), "sum")  # (W, K_true, K_obs)
    n_wc = N.sum(axis=2, keepdims=True)                                # (W, K, 1)
    if consensus.confusion is not None:
        A_fit = np.asarray(consensus.confusion, dtype=np.float64)
    else:
        A_fit = N / np.maximum(n_wc, _EPS)
    u = crowd.stat("collusion.label_totals", identity, (np.bincount(y, minlength=K).astype(np.float64),), "sum")
    u = (u + 1.0) / (u.sum() + K)                                      # pooled label distribution
    A_ref = (n_wc * A_fit + reference_prior_labels * u[None, None, :]) / (n_wc + reference_prior_labels)
    logA_ref = np.log(np.clip(A_ref, _EPS, 1.0))
    own = logA_ref[w, :, y]                                            # (n, K)
    prior = np.log(np.clip(np.asarray(consensus.priors, dtype=np.float64), _EPS, 1.0))
    logpost = np.tile(prior, (data.n_tasks, 1))
    np.add.at(logpost, t, own)
    loo = softmax_rows(logpost[t] - own)
    # null matrices: one M-step against the leave-worker-out reference, shrunk to the pooled matrix
    C = crowd.stat("collusion.null_counts", identity, (_soft_counts(w, y, loo, W, K),), "sum")
    c_wc = C.sum(axis=2, keepdims=True)
    Abar = C.sum(axis=0)
    Abar = (Abar + 1.0) / (Abar.sum(axis=1, keepdims=True) + K)
    A_null = (C + null_prior_labels * Abar[None]) / (c_wc + null_prior_labels)
    counts = np.zeros((data.n_tasks, K))
    np.add.at(counts, (t, y), 1.0)
    n_w = np.bincount(w, minlength=W)
    by_worker = np.argsort(w, kind="stable")
    starts = np.r_[0, np.cumsum(n_w)]
    return Reference(own=own, logpost=logpost, A_null=A_null, loo=loo, counts=counts, n_w=n_w,
                     by_worker=by_worker, starts=starts)


def predictive(A_null: np.ndarray, worker: np.ndarray, post: np.ndarray, chunk: int = 500_000) -> np.ndarray:
    """P(y = k | others) = sum_c post[l, c] A_null[w_l, c, k] for each row l, shape (n, K)."""
    out = np.empty_like(post)
    for s in range(0, post.shape[0], chunk):
        e = slice(s, s + chunk)
        out[e] = np.einsum("nc,nck->nk", post[e], A_null[worker[e]])
    return out


def conditional_moments(pi: np.ndarray, g: np.ndarray, observed_label: np.ndarray):
    """Observed value, mean and variance of g(y) when y ~ pi, row by row.

    ``g`` (n, K) is the statistic as a function of the worker's answer given everyone else's
    labels; conditioning on the others makes items independent under the null.
    """
    obs = g[np.arange(g.shape[0]), observed_label]
    mean = (pi * g).sum(axis=1)
    var = np.maximum((pi * g * g).sum(axis=1) - mean * mean, 0.0)
    return obs, mean, var


def argmax_rows(p: np.ndarray) -> np.ndarray:
    return argmax_lowest(p)
