"""Aggregation over item partitions: E-step per partition, M-step from summed statistics.

For a confusion-matrix model the E-step of item i needs only item i's labels and the worker
matrices; the M-step needs, per worker, the soft counts sum_i p_ic [y_wi = k], a sum over
items. So each iteration is one map over item partitions (E-step, then that partition's soft
counts Mt_p @ p_p, W*K x K) and one tree reduction of those counts; the client takes the
(tiny) M-step and broadcasts the new matrices. The posteriors stay on the workers. The
iteration count, stopping rules and tie rule are those of the in-memory models, so the
partitioned fit is the same fit up to the order of floating-point sums:

* ``ds`` (:func:`analytics.aggregate.dawid_skene`): majority-vote start, M-step clipped at
  1e-10 on used (worker, label) pairs, stop when crowd-kit's ELBO per label gains < ``tol``;
* ``cbds`` (:mod:`analytics.aggregation.cbds`): VB with the crowd-matrix prior, stop when no
  posterior moves by more than ``tol`` (or the mean move is below ``tol`` / 100), then one
  E-step with the posterior-mean matrices;
* ``mv``: vote shares, empty tasks get the class prior.

Any other model falls back to collecting the coded labels on the client and fitting the
in-memory model there (when its own cost guard lets it), then handing each partition its
rows of the posteriors: :attr:`PartConsensus.note` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import digamma

from analytics.consensus import Consensus
from analytics.engine import items as it
from analytics.engine.core import Engine, PerPart

PARTITIONED = ("ds", "cbds", "mv")
CBDS_STRENGTH = 1.0


@dataclass
class PartConsensus:
    """A consensus whose posteriors live in the item partitions (``q``: one future per partition)."""

    method: str
    priors: np.ndarray
    errors: np.ndarray | None
    skills: np.ndarray | None
    q: list
    params: dict = field(default_factory=dict)
    note: str | None = None

    def local(self, probas: np.ndarray) -> Consensus:
        """The in-memory :class:`Consensus` of one partition (its tasks' posteriors)."""
        from analytics.consensus import argmax_lowest

        return Consensus(self.method, probas, argmax_lowest(probas), self.priors, confusion=self.errors,
                         skills=self.skills)

    def shell(self) -> Consensus:
        """The consensus without posteriors (for the worker-level steps)."""
        return self.local(np.zeros((0, len(self.priors))))


def _gold(part, use_gold: bool):
    if not use_gold or part.data.gold_task.size == 0:
        return None
    return part.data.gold_vector()


def _start(part, method, use_gold):
    return it.start_posteriors(part, method, _gold(part, use_gold))


def _ds_step(part, params, use_gold):
    logE, logpri = params
    return it.ds_estep(part, logE, logpri, _gold(part, use_gold))


def fit(eng: Engine, method: str, parts: list | None = None, use_gold: bool = True, n_iter: int = 100,
        tol: float = 1e-5, seed: int = 0) -> PartConsensus:
    """Fit ``method`` over the item partitions ``parts`` (default: all labels)."""
    parts = eng.open_parts() if parts is None else parts
    L = eng.layout
    base = eng.reduce(eng.map(it.basic_sums, parts=parts))
    if method == "ds":
        return _ds(eng, parts, base, use_gold, n_iter, tol)
    if method == "cbds":
        return _cbds(eng, parts, base)
    if method == "mv":
        return _mv(eng, parts, base)
    return _collected(eng, parts, method, use_gold, n_iter, tol, seed, L)


def _ds(eng, parts, base, use_gold, n_iter, tol) -> PartConsensus:
    L = eng.layout
    T, W, K = L.n_tasks, L.n_workers, L.n_classes
    n = int(base["n_w"].sum())
    used = base["wy"] > 0

    def m_step(N):
        E = np.where(used[:, None], np.maximum(N, it.EPS), 0.0).reshape(W, K, K)
        s = E.sum(axis=1, keepdims=True)
        return np.divide(E, s, out=np.full_like(E, 1.0 / K), where=s > 0)      # E[w, k_obs, c_true]

    def log_e(E):
        with np.errstate(divide="ignore"):
            return np.where(E > 0, np.log(E), 0.0).reshape(W * K, K)

    q = eng.map(_start, "ds", use_gold, parts=parts)
    s = eng.reduce(eng.map(it.soft_sums, PerPart(q), parts=parts))
    priors = s["psum"] / T
    E = m_step(s["N"])
    loss = -np.inf
    done = 0
    for i in range(1, n_iter + 1):
        done = i
        eng.progress(min(0.9, i / 40), f"Dawid-Skene step {i}")
        params = eng.broadcast((log_e(E), np.log(np.maximum(priors, it.EPS))))
        res = eng.map(_ds_step, params, use_gold, parts=parts)
        new_q = eng.item(res, 0)
        s = eng.reduce(eng.item(res, 1))
        eng.release(q, res)
        q = new_q
        priors = s["psum"] / T
        N = s["N"]
        E = m_step(N)
        logpri = np.log(np.maximum(priors, it.EPS))
        joint = float((N * log_e(E)).sum() + (s["np_sum"] * logpri).sum())
        new_loss = (joint - s["plogp"]) / n
        if new_loss - loss < tol:
            break
        loss = new_loss
    errors = np.ascontiguousarray(E.transpose(0, 2, 1))
    skills = np.where(base["n_w"] > 0, np.einsum("c,wcc->w", priors, errors), np.nan)
    return PartConsensus("ds", priors, errors, skills, q, params={"iterations": done})


def _crowd_matrix(N: np.ndarray) -> np.ndarray:
    P = N.sum(axis=0) + 1.0
    return P / P.sum(axis=1, keepdims=True)


def _soft(N_flat: np.ndarray, W: int, K: int) -> np.ndarray:
    """(Mt @ q) as N[w, c_true, k_obs]."""
    return np.ascontiguousarray(N_flat.reshape(W, K, K).transpose(0, 2, 1))


def _to_lik(logA: np.ndarray, W: int, K: int) -> np.ndarray:
    """logA[w, c, k] as the (W*K x C) matrix that M multiplies."""
    return np.ascontiguousarray(logA.transpose(0, 2, 1)).reshape(W * K, K)


def _cbds_step(part, q, params):
    return it.cbds_estep(part, q, *params)


def _cbds(eng, parts, base, strength: float = CBDS_STRENGTH, max_iter: int = 300, tol: float = 1e-3
          ) -> PartConsensus:
    L = eng.layout
    T, W, K = L.n_tasks, L.n_workers, L.n_classes
    q = eng.map(_start, "cbds", False, parts=parts)
    s = eng.reduce(eng.map(it.soft_sums, PerPart(q), parts=parts))
    done = 0
    for i in range(1, max_iter + 1):
        done = i
        eng.progress(min(0.9, i / 40), f"cbds step {i}")
        N = _soft(s["N"], W, K)
        post = N + strength * _crowd_matrix(N)[None]
        elog_a = digamma(post) - digamma(post.sum(axis=2, keepdims=True))
        elog_pi = digamma(s["psum"] + 1.0) - digamma(T + K)
        params = eng.broadcast((_to_lik(elog_a, W, K), elog_pi))
        res = eng.map(_cbds_step, PerPart(q), params, parts=parts)
        new_q = eng.item(res, 0)
        s = eng.reduce(eng.item(res, 1))
        eng.release(q, res)
        q = new_q
        if s["moved_max"] < tol or s["moved_sum"] / T < tol / 100:
            break
    N = _soft(s["N"], W, K)
    abar = _crowd_matrix(N)
    post = N + strength * abar[None]
    errors = post / post.sum(axis=2, keepdims=True)
    priors = (s["psum"] + 1.0) / (T + K)
    final = eng.map(it.final_posteriors, eng.broadcast(_to_lik(np.log(errors), W, K)), np.log(priors), parts=parts)
    eng.release(q)
    skills = np.where(base["n_w"] > 0, np.einsum("c,wcc->w", priors, errors), np.nan)
    return PartConsensus("cbds", priors, errors, skills, final,
                         params={"strength": float(strength), "crowd_matrix": abar, "iterations": done})


def _mv_fill(part, priors):
    p = it.start_posteriors(part, "mv", None)
    empty = p.sum(axis=1) <= 0
    p[empty] = priors
    return p


def _mv(eng, parts, base) -> PartConsensus:
    totals = base["class_counts"].astype(float)
    priors = totals / max(totals.sum(), 1.0)
    q = eng.map(_mv_fill, priors, parts=parts)
    s = eng.reduce(eng.map(it.mv_sums, PerPart(q), parts=parts))
    n_w = base["n_w"].astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        skills = np.where(n_w > 0, s["hit"] / np.maximum(n_w, 1), np.nan)
    return PartConsensus("mv", priors, None, skills, q)


def _arrays(part):
    d = part.data
    return d.task.astype(np.int64) + part.task_lo, d.worker, d.label, d.gold_task + part.task_lo, d.gold_label


def _slice(part, probas):
    return np.ascontiguousarray(probas[part.task_lo:part.task_lo + part.n_tasks])


def _collected(eng, parts, method, use_gold, n_iter, tol, seed, L) -> PartConsensus:
    """Fit an in-memory model on the coded labels collected on the client (see the module docstring)."""
    from analytics.aggregate import aggregate
    from analytics.dataset import LabelArrays

    got = eng.gather(eng.map(_arrays, parts=parts))
    data = LabelArrays(
        task=np.concatenate([g[0] for g in got]).astype(np.int32), worker=np.concatenate([g[1] for g in got]),
        label=np.concatenate([g[2] for g in got]), task_ids=np.arange(L.n_tasks), worker_ids=np.arange(L.n_workers),
        classes=np.asarray(L.classes, dtype=object),
        gold_task=np.concatenate([g[3] for g in got]).astype(np.int32),
        gold_label=np.concatenate([g[4] for g in got]).astype(np.int32))
    del got
    cons = aggregate(data, method=method, use_gold=use_gold, n_iter=n_iter, tol=tol, seed=seed)
    probas = eng.broadcast(cons.probas)
    q = eng.map(_slice, probas, parts=parts)
    return PartConsensus(method, cons.priors, cons.errors, cons.skills, q,
                         note=f"the {method} model has no partitioned form: its labels were collected on one "
                              f"machine ({data.n:,} labels) and fitted there; the other steps ran partitioned")
