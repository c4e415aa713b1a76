"""GLAD: worker ability and item difficulty (Whitehill, Ruvolo, Wu, Bergsma & Movellan,
"Whose vote should count more", NIPS 2009), as crowd-kit 1.4.2 ``GLAD`` fits it, vectorised.

Model: worker w answers task i correctly with probability sigma(alpha_w * exp(beta_i)) and
otherwise picks one of the K - 1 wrong classes uniformly; alpha_w ~ N(1, 1) is the worker's
ability, exp(beta_i) with beta_i ~ N(1, 1) the task's inverse difficulty, and the class
prior is uniform over the classes in use. EM: the E-step is the posterior of every task; the
M-step raises the expected complete log-likelihood Q plus the Gaussian log-priors; stop when Q
per (label, class) row improves by less than ``tol`` (crowd-kit's rule). Two M-steps:

* ``m_step="newton"`` (default): two rounds of one Newton step per worker ability (Q is concave
  in each alpha_w) and one Fisher-scoring step per task (beta_i), both capped at 1, each a couple
  of ``bincount`` passes. EM with such partial M-steps (generalised EM, Dempster, Laird & Rubin
  1977) climbs the same objective about ten times cheaper per iteration than the CG step; with
  crowd-kit's stopping rule its labels agree with crowd-kit's on 99-100% of tasks of the two- and
  five-class files and on 94% of zheng_relevance, where crowd-kit's own run stops after two EM
  steps, far from converged (tests/test_aggregation_models.py);
* ``m_step="cg"``: scipy's conjugate gradient over all (alpha, beta) at once, 25 iterations,
  tolerance 1e-2, from the current point: crowd-kit's own M-step, which reproduces its posteriors
  to ~1e-8.

Results: ``skills`` = alpha, ``difficulty`` = exp(-beta) (higher is harder), ``params`` holds
alpha and beta for a warm start.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from analytics.consensus import Consensus, argmax_lowest
from analytics.dataset import LabelArrays

_LOG_2PI = float(np.log(2 * np.pi))


def _log_sig(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log sigma(x), log(1 - sigma(x)), sigma(x)) with one exp and one log1p."""
    l1p = np.log1p(np.exp(-np.abs(x)))
    log_s = np.minimum(x, 0.0) - l1p
    log_1ms = -np.maximum(x, 0.0) - l1p
    return log_s, log_1ms, np.exp(log_s)


def glad(data: LabelArrays, n_iter: int = 100, tol: float = 1e-5, m_step: str = "newton", m_step_max_iter: int = 25,
         m_step_tol: float = 1e-2, init: dict | None = None) -> Consensus:
    """Fit GLAD; ``init`` = {'alpha': (W,), 'beta': (T,)} from an earlier fit starts there."""
    T, W, K = data.n_tasks, data.n_workers, data.n_classes
    t, w, y = data.task, data.worker, data.label
    present = np.bincount(y, minlength=K) > 0
    k_used = int(present.sum())
    log_km1 = np.log(max(k_used - 1, 1))
    log_prior = np.where(present, -np.log(k_used), -np.inf)
    has_w = np.bincount(w, minlength=W) > 0
    has_t = np.bincount(t, minlength=T) > 0
    n_rows = data.n * k_used                                   # crowd-kit's len(data) after its melt
    alpha = np.ones(W) if init is None else np.asarray(init["alpha"], float).copy()
    beta = np.ones(T) if init is None else np.asarray(init["beta"], float).copy()
    tk = t.astype(np.int64) * K + y

    def e_step(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ls, l1s, _ = _log_sig(a[w] * np.exp(b[t]))
        base = np.bincount(t, weights=l1s - log_km1, minlength=T)
        gain = np.bincount(tk, weights=ls - l1s + log_km1, minlength=T * K).reshape(T, K)
        ll = base[:, None] + gain + log_prior[None, :]
        ll -= ll.max(axis=1, keepdims=True)
        q = np.exp(ll)
        return q / q.sum(axis=1, keepdims=True)

    def q_of(x: np.ndarray, qy: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = x[:W], x[W:]
        eb = np.exp(b[t])
        ls, l1s, sig = _log_sig(a[w] * eb)
        val = float((qy * ls + (1.0 - qy) * (l1s - log_km1)).sum())
        da, db = a - 1.0, b - 1.0
        val += float(-0.5 * (da[has_w] ** 2).sum() - 0.5 * (db[has_t] ** 2).sum()
                     - 0.5 * _LOG_2PI * (has_w.sum() + has_t.sum()))
        r = qy - sig
        ga = np.bincount(w, weights=r * eb, minlength=W) - da
        gb = np.bincount(t, weights=r * a[w] * eb, minlength=T) - db
        return val, np.concatenate([ga, gb])

    def newton(a: np.ndarray, b: np.ndarray, qy: np.ndarray, rounds: int = 2) -> tuple[np.ndarray, np.ndarray]:
        for _ in range(rounds):
            eb = np.exp(b[t])
            _, _, sig = _log_sig(a[w] * eb)
            r, v = qy - sig, sig * (1.0 - sig)
            g = np.bincount(w, weights=r * eb, minlength=W) - (a - 1.0)
            h = np.bincount(w, weights=v * eb * eb, minlength=W) + 1.0
            a = a + np.clip(g / h, -1.0, 1.0)                    # Q is concave in each alpha_w; step capped
            x = a[w] * eb
            _, _, sig = _log_sig(x)
            r, v = qy - sig, sig * (1.0 - sig)
            g = np.bincount(t, weights=r * x, minlength=T) - (b - 1.0)
            h = np.bincount(t, weights=v * x * x, minlength=T) + 1.0
            b = b + np.clip(g / h, -1.0, 1.0)                    # Fisher scoring, step capped
        return a, b

    q = e_step(alpha, beta)
    Q = q_of(np.concatenate([alpha, beta]), q[t, y])[0]        # crowd-kit: the first Q is not per row
    done = 0
    for it in range(1, n_iter + 1):
        done = it
        last = Q
        q = e_step(alpha, beta)
        qy = q[t, y]
        if m_step == "cg":
            res = minimize(lambda x, qy=qy: tuple(-v for v in q_of(x, qy)), np.concatenate([alpha, beta]),
                           jac=True, method="CG", tol=m_step_tol, options={"maxiter": m_step_max_iter, "disp": False})
            alpha, beta = res.x[:W].copy(), res.x[W:].copy()
        else:
            alpha, beta = newton(alpha, beta, qy)
        Q = q_of(np.concatenate([alpha, beta]), qy)[0] / n_rows
        if Q - last < tol:
            break
    probas = q.copy()
    probas[~has_t] = np.where(present, 1.0 / k_used, 0.0)
    priors = np.where(present, 1.0 / k_used, 0.0)
    return Consensus("glad", probas, argmax_lowest(probas), priors, skills=np.where(has_w, alpha, np.nan),
                     difficulty=np.exp(-beta), params={"alpha": alpha, "beta": beta, "iterations": done})
