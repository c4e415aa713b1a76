"""MACE: Multi-Annotator Competence Estimation (Hovy, Berg-Kirkpatrick, Vaswani & Hovy,
"Learning whom to trust with MACE", NAACL 2013), as crowd-kit 1.4.2 ``MACE`` fits it (variational
Bayes), vectorised in log space.

Model: for every label, worker w is spamming with probability 1 - c_w; a worker who is not
spamming gives the true class, a spamming one draws from their own label distribution
theta_w. So P(y_wi = k | z_i = c) = (1 - c_w) theta_w[k] + c_w [k = c]. Priors: Beta(0.5, 0.5)
on (1 - c_w, c_w) and Dirichlet(10) on theta_w; the true class is uniform. VB: the E-step gives
each task's posterior and each label's expected "spamming" and "knowing" counts; the M-step sets
the parameters to exp(digamma(counts + prior)) / exp(digamma(sum)) (crowd-kit's
``variational_normalize``); 50 iterations from a random start drawn with ``scipy.stats.uniform(1,
1.5)`` and ``random_state``.

crowd-kit runs 10 restarts but re-seeds each with the same ``random_state``, so its restarts are
one run repeated: we run it once (same result, a tenth of the time). It multiplies per-label
factors (which underflows on tasks with hundreds of labels); we add logs. ``skills`` = c_w (the
competence), ``confusion`` the implied confusion matrices A_w[c, k] = (1 - c_w) theta_w[k] + c_w [k = c].
"""

from __future__ import annotations

import numpy as np
import scipy.stats as sps
from scipy.special import digamma

from analytics.consensus import Consensus, argmax_lowest
from analytics.dataset import LabelArrays


def _vnorm(x: np.ndarray, prior: float) -> np.ndarray:
    return np.exp(digamma(x + prior) - digamma((x + prior).sum(axis=1, keepdims=True)))


def mace(data: LabelArrays, n_iter: int = 50, alpha: float = 0.5, beta: float = 0.5, default_noise: float = 0.5,
         random_state: int = 0, init: dict | None = None) -> Consensus:
    """Fit MACE (VB); ``init`` = {'spamming': (W, 2), 'thetas': (W, K)} from an earlier fit starts there."""
    T, W, K = data.n_tasks, data.n_workers, data.n_classes
    t, w, y = data.task, data.worker, data.label
    if init is not None:
        spam, theta = np.asarray(init["spamming"], float).copy(), np.asarray(init["thetas"], float).copy()
    else:
        spam = sps.uniform(1, 1 + default_noise).rvs(size=(W, 2), random_state=random_state)
        theta = sps.uniform(1, 1 + default_noise).rvs(size=(W, K), random_state=random_state)
        spam /= spam.sum(axis=1, keepdims=True)
        theta /= theta.sum(axis=1, keepdims=True)
    tk = t.astype(np.int64) * K + y
    wk = w.astype(np.int64) * K + y

    def e_step(spam: np.ndarray, theta: np.ndarray):
        a = spam[w, 0] * theta[w, y]                       # P(label | spamming)
        b = a + spam[w, 1]                                 # P(label | true class = label)
        la = np.log(np.maximum(a, 1e-300))
        lb = np.log(np.maximum(b, 1e-300))
        ll = np.bincount(t, weights=la, minlength=T)[:, None] + np.bincount(
            tk, weights=lb - la, minlength=T * K).reshape(T, K) - np.log(K)
        ll -= ll.max(axis=1, keepdims=True)
        q = np.exp(ll)
        q /= q.sum(axis=1, keepdims=True)
        qy = q[t, y]
        strat = qy * a / b + (1.0 - qy)                   # P(spamming | everything)
        know = qy * spam[w, 1] / b
        s_counts = np.bincount(wk, weights=strat, minlength=W * K).reshape(W, K)
        k_counts = np.stack([np.bincount(w, weights=strat, minlength=W), np.bincount(w, weights=know, minlength=W)],
                            axis=1)
        return q, s_counts, k_counts

    q, s_counts, k_counts = e_step(spam, theta)
    for _ in range(n_iter):
        spam = np.exp(digamma(k_counts + np.array([alpha, beta])[None, :])
                      - digamma((k_counts + np.array([alpha, beta])[None, :]).sum(axis=1, keepdims=True)))
        theta = _vnorm(s_counts, 10.0)
        q, s_counts, k_counts = e_step(spam, theta)
    has_w = np.bincount(w, minlength=W) > 0
    comp = spam[:, 1]
    errors = (spam[:, 0:1, None] * theta[:, None, :]) + comp[:, None, None] * np.eye(K)[None]
    errors /= errors.sum(axis=2, keepdims=True)
    has_t = np.bincount(t, minlength=T) > 0
    q[~has_t] = 1.0 / K
    priors = q[has_t].mean(axis=0) if has_t.any() else np.full(K, 1.0 / K)
    return Consensus("mace", q, argmax_lowest(q), priors, confusion=errors, skills=np.where(has_w, comp, np.nan),
                     params={"spamming": spam, "thetas": theta})
