"""BWA: Bayesian Weighted Average (Li, Rubinstein & Cohn, "Truth inference at scale: a Bayesian
model for adjudicating highly redundant crowd annotations", WWW 2019).

Model, per class k as a one-vs-rest problem: worker j reports x_ij = [y_ij = k] as the task's
score z_ik plus Gaussian noise of precision v_j, with v_j ~ Gamma(a_v, b_v) and
z_ik ~ N(mu_k, 1 / (lambda v)). The coordinate-ascent updates are closed-form weighted averages:

    v_j  = (a_v + N_j) / (b_v + sum_{i in j} (z_ik - x_ij)^2)
    z_ik = (lambda mu_k + sum_{j in i} v_j x_ij) / (lambda + sum_{j in i} v_j),   mu_k = mean_i z_ik

from vote shares, until no z moves by more than a relative 1e-3. b_v is set from the data as
a_v * sum_i n_i z_ik (1 - z_ik) / n_labels, times 4 (1 - 1 / K) (the authors' prior correction).
Each update is two ``bincount`` passes over the labels. The task's probabilities are the K scores
normalised to sum 1. BWA has no confusion matrices; ``skills`` is each worker's mean precision
over the classes relative to the median worker's.
"""

from __future__ import annotations

import numpy as np

from analytics.consensus import Consensus, argmax_lowest
from analytics.dataset import LabelArrays


def bwa(data: LabelArrays, a_v: float = 15.0, lam: float = 1.0, prior_correction: bool = True,
        max_iter: int = 500, rtol: float = 1e-3) -> Consensus:
    """Fit BWA on the (task, worker) pairs; a pair labelled twice counts once per distinct label."""
    T, W, K = data.n_tasks, data.n_workers, data.n_classes
    key = data.task.astype(np.int64) * W + data.worker
    pair_key, pair_inv = np.unique(key, return_inverse=True)
    pt, pw = pair_key // W, pair_key % W                                  # distinct (task, worker) pairs
    ones = np.zeros((len(pair_key), K))
    ones[pair_inv, data.label] = 1.0                                      # x_ij for each class
    n_t = np.bincount(pt, minlength=T).astype(float)
    n_w = np.bincount(pw, minlength=W).astype(float)
    adj = 4.0 * (1.0 - 1.0 / K) if prior_correction else 1.0
    z = np.zeros((T, K))
    prec = np.zeros((W, K))
    has_t = n_t > 0
    for k in range(K):
        x = ones[:, k]
        zk = np.bincount(pt, weights=x, minlength=T) / np.maximum(n_t, 1.0)
        b_v = a_v * float((n_t * zk * (1 - zk)).sum()) / max(len(pair_key), 1) * adj
        for _ in range(max_iter):
            last = zk
            mu = zk[has_t].mean() if has_t.any() else 0.0
            v = (a_v + n_w) / (b_v + np.bincount(pw, weights=(zk[pt] - x) ** 2, minlength=W))
            zk = (lam * mu + np.bincount(pt, weights=v[pw] * x, minlength=T)) / (
                lam + np.bincount(pt, weights=v[pw], minlength=T))
            if np.allclose(last, zk, rtol=rtol):
                break
        z[:, k] = zk
        prec[:, k] = v
    z = np.clip(z, 0.0, None)
    tot = z.sum(axis=1, keepdims=True)
    probas = np.divide(z, tot, out=np.full_like(z, 1.0 / K), where=tot > 0)
    priors = probas[has_t].mean(axis=0) if has_t.any() else np.full(K, 1.0 / K)
    mean_prec = prec.mean(axis=1)
    med = np.median(mean_prec[n_w > 0]) if (n_w > 0).any() else 1.0
    skills = np.where(n_w > 0, mean_prec / max(med, 1e-12), np.nan)
    return Consensus("bwa", probas, argmax_lowest(probas), priors, skills=skills)
