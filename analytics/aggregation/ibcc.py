"""IBCC: Independent Bayesian Classifier Combination (Kim & Ghahramani, AISTATS 2012), by
variational Bayes as in Li, Rubinstein & Cohn's reference implementation (ICML 2019).

Model: Dawid-Skene with conjugate priors. Class prior pi ~ Dirichlet(alpha); each row of each
worker's confusion matrix A_w[c, :] ~ Dirichlet(b + (a - b) [k = c]) – ``a`` pseudo-labels on
the diagonal, ``b`` off it (a = 4, b = 1: a worker is believed right 4 times in K + 3 until
their labels say otherwise). Mean-field VB alternates
q(z_i = c) proportional to exp(E[log pi_c] + sum_w E[log A_w[c, y_wi]]) with the Dirichlet
posteriors of A_w (prior + soft counts) and pi, from majority-vote shares, until no posterior
moves by more than ``tol``. The prior is what Dawid-Skene lacks: a worker with three labels no
longer gets an extreme confusion matrix.

``confusion`` are the posterior-mean confusion matrices; ``params`` keeps (a, b, alpha).
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma

from analytics.aggregation.coded import LabelMatrix, softmax_rows, vote_counts, vote_shares
from analytics.consensus import Consensus, argmax_lowest
from analytics.dataset import LabelArrays


def ibcc(data: LabelArrays, a: float = 4.0, b: float = 1.0, alpha: float = 1.0, max_iter: int = 500,
         tol: float = 1e-3, init: np.ndarray | None = None) -> Consensus:
    """Fit IBCC by VB; ``init`` (T x K posteriors) replaces the majority-vote start."""
    T, W, K = data.n_tasks, data.n_workers, data.n_classes
    LM = LabelMatrix.of(data)
    prior = np.full((K, K), b) + np.eye(K) * (a - b)                   # [c_true, k_obs]
    q = vote_shares(vote_counts(data)) if init is None else np.array(init, float, copy=True)
    empty = q.sum(axis=1) <= 0
    q[empty] = 1.0 / K
    done = 0
    for it in range(1, max_iter + 1):
        done = it
        post = LM.soft_counts(q) + prior[None]                          # (W, K, K)
        elog_a = digamma(post) - digamma(post.sum(axis=2, keepdims=True))
        elog_pi = digamma(q.sum(axis=0) + alpha) - digamma(T + K * alpha)
        new = softmax_rows(LM.log_lik(elog_a) + elog_pi[None, :])
        converged = np.allclose(new, q, atol=tol)
        q = new
        if converged:
            break
    post = LM.soft_counts(q) + prior[None]
    errors = post / post.sum(axis=2, keepdims=True)
    priors = (q.sum(axis=0) + alpha) / (T + K * alpha)
    n_w = np.bincount(data.worker, minlength=W)
    skills = np.where(n_w > 0, np.einsum("c,wcc->w", priors, errors), np.nan)
    return Consensus("ibcc", q, argmax_lowest(q), priors, confusion=errors, skills=skills,
                     params={"a": a, "b": b, "alpha": alpha, "iterations": done})
