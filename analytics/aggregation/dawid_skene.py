"""Dawid-Skene and one-coin Dawid-Skene by EM, vectorised on one sparse label matrix.

Model (Dawid & Skene, "Maximum likelihood estimation of observer error-rates using the EM
algorithm", JRSS C 28(1), 1979): P(z_i = c) = pi_c and P(y_wi = k | z_i = c) = A_w[c, k].

* :func:`dawid_skene` – one full confusion matrix per worker; the same algorithm as
  crowd-kit 1.4.2 ``DawidSkene``: majority-vote start, M-step
  A_w[c, k] proportional to sum_i p_ic [y_wi = k] (clipped below at 1e-10 on the labels the
  worker used, no prior), pi = mean_i p_i, E-step p_ic proportional to
  pi_c prod_w A_w[c, y_wi]; stop when the evidence lower bound per label improves by less
  than ``tol`` (crowd-kit's rule, including its per-label prior term).
* :func:`one_coin` – the one-coin model of crowd-kit ``OneCoinDawidSkene`` (Zhang, Chen,
  Zhou & Jordan, "Spectral methods meet EM", JMLR 17, 2016): A_w[c, c] = s_w and
  A_w[c, k] = (1 - s_w) / (K - 1), with s_w the mean posterior of the worker's own labels,
  clipped to [1e-10, 1 - 1e-10]; same start and stopping rule.

Both steps are products with the task x (worker, label) count matrix
(:class:`~analytics.aggregation.coded.LabelMatrix`), so an iteration costs O(labels * K).
``init`` (T x K posteriors) replaces the majority-vote start: a warm start from an earlier
fit, used by the what-if preview (:mod:`analytics.impact`).
"""

from __future__ import annotations

import numpy as np

from analytics.aggregation.coded import EPS, LabelMatrix, vote_counts, vote_shares
from analytics.consensus import Consensus, argmax_lowest
from analytics.dataset import LabelArrays


def _start(data: LabelArrays, init: np.ndarray | None) -> np.ndarray:
    K = data.n_classes
    if init is not None:
        p = np.array(init, dtype=float, copy=True)
    else:
        p = vote_shares(vote_counts(data))
    empty = p.sum(axis=1) <= 0
    p[empty] = 1.0 / K
    return p


def _elbo(N: np.ndarray, logE: np.ndarray, p: np.ndarray, logpri: np.ndarray, n_per_task: np.ndarray,
          n: int) -> float:
    """crowd-kit's evidence lower bound per label: E[log joint] + entropy of the posteriors."""
    joint = float((N * logE).sum() + (n_per_task[:, None] * p * logpri[None, :]).sum())
    pc = np.maximum(p, EPS)
    return (joint - float((pc * np.log(pc)).sum())) / n


def _em(data: LabelArrays, m_step, n_iter: int, tol: float, gold: np.ndarray | None,
        init: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Shared EM loop; ``m_step(N) -> E[w, k_obs, c_true]``. Returns (p, E, priors, iterations)."""
    LM = LabelMatrix.of(data)
    W, K = data.n_workers, data.n_classes
    n_per_task = np.asarray(LM.M.sum(axis=1)).ravel()
    g_rows = np.flatnonzero(gold >= 0) if gold is not None else np.empty(0, np.int64)

    def clamp(p: np.ndarray) -> np.ndarray:
        if g_rows.size:
            p[g_rows] = 0.0
            p[g_rows, gold[g_rows]] = 1.0
        return p

    def log_e(E: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.where(E > 0, np.log(E), 0.0).reshape(W * K, K)

    p = clamp(_start(data, init))
    priors = p.mean(axis=0)
    E = m_step(LM.Mt @ p, p)
    loss = -np.inf
    done = 0
    for it in range(1, n_iter + 1):
        done = it
        ll = LM.M @ log_e(E) + np.log(np.maximum(priors, EPS))[None, :]
        ll -= ll.max(axis=1, keepdims=True)
        p = np.exp(ll)
        p /= p.sum(axis=1, keepdims=True)
        p = clamp(p)
        priors = p.mean(axis=0)
        N = LM.Mt @ p
        E = m_step(N, p)
        new_loss = _elbo(N, log_e(E), p, np.log(np.maximum(priors, EPS)), n_per_task, data.n)
        if new_loss - loss < tol:
            break
        loss = new_loss
    return p, E, priors, done


def dawid_skene(data: LabelArrays, n_iter: int = 100, tol: float = 1e-5, gold: np.ndarray | None = None,
                init: np.ndarray | None = None) -> Consensus:
    """Dawid-Skene EM (crowd-kit ``DawidSkene``); ``gold`` (task -> code, -1 none) clamps gold tasks each step."""
    W, K = data.n_workers, data.n_classes
    used = np.bincount(data.worker.astype(np.int64) * K + data.label, minlength=W * K) > 0

    def m_step(N: np.ndarray, p: np.ndarray) -> np.ndarray:
        E = np.where(used[:, None], np.maximum(N, EPS), 0.0).reshape(W, K, K)
        s = E.sum(axis=1, keepdims=True)
        return np.divide(E, s, out=np.full_like(E, 1.0 / K), where=s > 0)   # E[w, k_obs, c_true]

    has_gold = gold is not None and bool((gold >= 0).any())
    p, E, priors, it = _em(data, m_step, n_iter, tol, gold if has_gold else None, init)
    errors = np.ascontiguousarray(E.transpose(0, 2, 1))                    # A_w[c, k]
    n_w = np.bincount(data.worker, minlength=W)
    skills = np.where(n_w > 0, np.einsum("c,wcc->w", priors, errors), np.nan)
    return Consensus("ds", p, argmax_lowest(p), priors, confusion=errors, skills=skills, params={"iterations": it})


def one_coin(data: LabelArrays, n_iter: int = 100, tol: float = 1e-5, init: np.ndarray | None = None) -> Consensus:
    """One-coin Dawid-Skene EM (crowd-kit ``OneCoinDawidSkene``): one accuracy s_w per worker."""
    W, K = data.n_workers, data.n_classes
    wy = data.worker.astype(np.int64) * K + data.label
    used = np.bincount(wy, minlength=W * K).reshape(W, K) > 0
    n_w = np.bincount(data.worker, minlength=W).astype(float)
    state = {}

    def m_step(N: np.ndarray, p: np.ndarray) -> np.ndarray:
        own = p[data.task, data.label]                                        # posterior of the worker's label
        s = np.bincount(data.worker, weights=own, minlength=W) / np.maximum(n_w, 1.0)
        state["skills"] = s
        off = (1.0 - s) / max(K - 1, 1)
        E = np.repeat(off[:, None, None], K, axis=1).repeat(K, axis=2)      # E[w, k_obs, c_true]
        idx = np.arange(K)
        E[:, idx, idx] = s[:, None]
        E = np.clip(E, EPS, 1.0 - EPS)
        return np.where(used[:, :, None], E, 0.0)

    p, E, priors, it = _em(data, m_step, n_iter, tol, None, init)
    s = state["skills"]
    off = np.clip((1.0 - s) / max(K - 1, 1), EPS, 1 - EPS)
    errors = np.repeat(off[:, None, None], K, axis=1).repeat(K, axis=2)
    idx = np.arange(K)
    errors[:, idx, idx] = np.clip(s, EPS, 1 - EPS)[:, None]
    errors /= errors.sum(axis=2, keepdims=True)
    skills = np.where(n_w > 0, s, np.nan)
    return Consensus("onecoin", p, argmax_lowest(p), priors, confusion=errors, skills=skills,
                     params={"iterations": it})
