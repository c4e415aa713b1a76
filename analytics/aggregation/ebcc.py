"""EBCC: Enhanced Bayesian Classifier Combination (Li, Rubinstein & Cohn, "Exploiting worker
correlation for label aggregation in crowdsourcing", ICML 2019), by variational Bayes.

Model: each task has a true class c and, within it, a latent subtype m (``n_groups`` per
class), drawn as c ~ tau, m | c ~ pi_c; a worker's confusion depends on (c, m):
y_wi | c, m ~ V_w[c, m, :]. Subtypes let workers' errors be correlated through the tasks
(a hard subtype fools many workers the same way), which plain Dawid-Skene treats as
independent evidence. Priors: tau ~ Dirichlet(alpha), pi_c ~ Dirichlet(a_pi / n_groups),
V_w[c, m, :] ~ Dirichlet(b + (a - b)[k = c]). Mean-field VB over q(c, m) per task, started
from majority-vote shares split over subtypes at random (``seed``); stop when no class posterior
moves by more than ``tol``. With ``n_restarts`` > 1 the run with the highest evidence lower bound
is kept (the authors ran 40 seeds).

One VB step is two sparse products of the task x (worker, label) matrix with a
(T x K*n_groups) matrix. ``confusion`` are the subtype-averaged posterior-mean confusion matrices
A_w[c, k] = sum_m E[pi_c,m] E[V_w[c, m, k]]; ``params`` keeps the subtype posteriors for a
warm start.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from analytics.aggregation.coded import LabelMatrix, softmax_rows, vote_counts, vote_shares
from analytics.consensus import Consensus, argmax_lowest
from analytics.dataset import LabelArrays


def _dir_entropy_sum(conc: np.ndarray) -> float:
    """Sum of the entropies of Dirichlet distributions along the last axis."""
    a0 = conc.sum(axis=-1)
    k = conc.shape[-1]
    log_b = gammaln(conc).sum(axis=-1) - gammaln(a0)
    return float((log_b + (a0 - k) * digamma(a0) - ((conc - 1) * digamma(conc)).sum(axis=-1)).sum())


def _run(LM: LabelMatrix, z: np.ndarray, zg: np.ndarray, G: int, a_pi: float, alpha: np.ndarray,
         beta: np.ndarray, max_iter: int, tol: float):
    T, W, K = LM.T, LM.W, LM.K
    for _ in range(max_iter):
        eta = a_pi / G + zg.sum(axis=0)                                   # (K, G)
        nu = alpha + z.sum(axis=0)                                        # (K,)
        N = LM.soft_counts(zg.reshape(T, K * G)).reshape(W, K, G, K)      # [w, c, m, k]
        mu = N + beta[None, :, None, :]
        elog_pi = digamma(eta) - digamma(eta.sum(axis=1, keepdims=True))
        elog_tau = digamma(nu) - digamma(nu.sum())
        elog_v = digamma(mu) - digamma(mu.sum(axis=3, keepdims=True))
        s = LM.log_lik(elog_v.reshape(W, K * G, K)) + (elog_pi + elog_tau[:, None]).reshape(1, K * G)
        zg = softmax_rows(s).reshape(T, K, G)
        new = zg.sum(axis=2)
        done = np.allclose(new, z, atol=tol)
        z = new
        if done:
            break
    elbo = (((eta - 1) * elog_pi).sum() + ((nu - 1) * elog_tau).sum() + ((mu - 1) * elog_v).sum()
            + _dir_entropy_sum(nu) + _dir_entropy_sum(eta) + _dir_entropy_sum(mu))
    pz = np.maximum(zg.reshape(T, -1), 1e-300)
    elbo -= float((pz * np.log(pz)).sum())
    return z, zg, eta, mu, float(elbo)


def ebcc(data: LabelArrays, n_groups: int = 10, a_pi: float = 0.1, alpha: float = 1.0, a: float = 4.0,
         b: float = 1.0, seed: int = 1234, n_restarts: int = 1, max_iter: int = 500, tol: float = 1e-3,
         empirical_prior: bool = True, init: dict | None = None) -> Consensus:
    """Fit EBCC by VB; ``init`` = {'subtypes': (T, K, G)} from an earlier fit starts there."""
    T, W, K = data.n_tasks, data.n_workers, data.n_classes
    G = int(n_groups)
    LM = LabelMatrix.of(data)
    beta = np.full((K, K), b) + np.eye(K) * (a - b)
    z0 = vote_shares(vote_counts(data))
    z0[z0.sum(axis=1) <= 0] = 1.0 / K
    alpha_v = z0.sum(axis=0) if empirical_prior else np.full(K, float(alpha))
    best = None
    starts = [np.asarray(init["subtypes"], float)] if init is not None else [
        np.random.RandomState(seed + r).dirichlet(np.ones(G), (T, K)) * z0[:, :, None] for r in range(n_restarts)]
    for zg0 in starts:
        out = _run(LM, zg0.sum(axis=2), zg0, G, a_pi, alpha_v, beta, max_iter, tol)
        if best is None or out[4] > best[4]:
            best = out
    z, zg, eta, mu, elbo = best
    pi = eta / eta.sum(axis=1, keepdims=True)                              # (K, G)
    v = mu / mu.sum(axis=3, keepdims=True)                                 # (W, K, G, K)
    errors = np.einsum("cm,wcmk->wck", pi, v)
    priors = z.mean(axis=0)
    n_w = np.bincount(data.worker, minlength=W)
    skills = np.where(n_w > 0, np.einsum("c,wcc->w", priors, errors), np.nan)
    return Consensus("ebcc", z, argmax_lowest(z), priors, confusion=errors, skills=skills,
                     params={"subtypes": zg, "elbo": elbo})
