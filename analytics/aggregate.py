"""Aggregation models behind one interface: coded labels in, :class:`~analytics.consensus.Consensus` out.

Every model of crowd-kit 1.4.2's categorical family is available by a short name
(:data:`MODELS`). Dawid-Skene, the default, runs as a vectorised numpy EM that reproduces
crowd-kit's ``DawidSkene`` step for step (same majority-vote start, same M-step clip, same
stopping rule on the evidence lower bound) but works on integer codes through one sparse
task x (worker, label) matrix, so 1M labels take seconds. Its labels agree with
crowd-kit's on the real datasets (tests/test_aggregate.py). The other models call
crowd-kit on an integer-coded frame and convert its outputs to dense arrays in code order.

Tie rule (all models): the label of a task is the class with the highest posterior; a
tie (within 1e-12) goes to the **lowest class code**, i.e. the first class in
``LabelArrays.classes`` order (numeric order when every label is a number, e.g. ``0``
beats ``1``; otherwise lexicographic). crowd-kit's own ``idxmax`` picks the first column,
and its column order depends on the order labels appear in the file, so its majority vote
changes between files with the same content (and it breaks MV ties at random); ours does
not. Majority vote scores 0.8966 on ``zheng_product`` (3 labels per two-class task, so no
ties: the published figure holds under any deterministic rule) and 0.932 on
``zheng_sentiment`` (43 tied tasks; ties to the highest code would give 0.935).

Gold: with ``use_gold=True`` the models that accept gold (Dawid-Skene, as crowd-kit's
``DawidSkene.fit(true_labels=...)``) clamp the gold tasks' posteriors to the gold answer
at every EM step, which sharpens the confusion matrices. Those tasks' posteriors then *are*
the gold: code that scores consensus against gold must call ``aggregate(...,
use_gold=False)`` or hold the scored gold tasks out. Models without gold support ignore it.

Cost guard: :func:`estimate_cost` predicts seconds and bytes from the speeds measured on a
2-core machine (../shared/reference/published-results.md); :func:`aggregate` refuses a
model whose estimate exceeds :data:`MAX_SECONDS` / :data:`MAX_BYTES` (override per call)
with a :class:`~analytics.errors.UserError` that states the estimate and suggests ``ds``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from analytics.consensus import Consensus, argmax_lowest
from analytics.dataset import LabelArrays
from analytics.errors import UserError

#: Model names for the UI picker, in display order.
MODELS: dict[str, str] = {
    "ds": "Dawid-Skene: one confusion matrix per worker (EM). Default; best on most data.",
    "mv": "Majority vote: every label counts once.",
    "wawa": "Wawa: majority vote weighted by each worker's agreement with the majority.",
    "zbs": "Zero-Based Skill: weighted majority vote with skills learned by gradient steps.",
    "onecoin": "One-coin Dawid-Skene: one accuracy per worker, errors spread evenly.",
    "glad": "GLAD: worker ability and item difficulty (slow on large projects).",
    "mace": "MACE: each worker either knows the answer or spams from their own distribution.",
    "kos": "KOS: Karger-Oh-Shah message passing (two-class projects only).",
    "mmsr": "M-MSR: matrix completion of worker skills (memory grows with workers^4).",
}

#: Refuse a model whose estimated run time exceeds this many seconds (override per call).
MAX_SECONDS: float = 120.0
#: Refuse a model whose estimated peak memory exceeds this many bytes (override per call).
MAX_BYTES: float = 4 * 2**30

# Measured seconds per 500k labels and bytes per label (published-results.md, 2-core
# machine, crowd-kit 1.4.2; 'ds' is our numpy EM, measured in benchmarks/reliability_1m.py),
# corrected upwards where benchmarks/reproduce_published.py measured slower runs on the real
# files (GLAD does not stop early on zheng_product: ~80-150 s for 25k labels at 100 iterations).
# Iterative models scale with n_iter relative to the iterations they were measured at.
_SEC_PER_500K = {"mv": 0.3, "wawa": 0.8, "zbs": 29.0, "ds": 1.0, "onecoin": 7.3,
                 "glad": 1500.0, "mace": 12.8, "kos": 15.0, "mmsr": 5.0}
_MEASURED_ITERS = {"ds": 100, "glad": 100, "onecoin": 100, "kos": 100}
# Fixed start-up seconds measured on ~20k-label projects (MACE: 10 restarts x 50 iterations).
_SEC_FIXED = {"mace": 10.0, "glad": 1.0, "onecoin": 0.3, "kos": 0.8, "zbs": 1.0, "mmsr": 1.0}
# OneCoinDawidSkene assigns skills row by row over the (worker, label) error table every
# iteration: ~2.5e-4 s per worker x class x iteration (72 s on zheng_relevance).
_ONECOIN_SEC_PER_WK_ITER = 2.5e-4
_BYTES_PER_LABEL = {"mv": 400.0, "wawa": 600.0, "zbs": 800.0, "ds": 300.0, "onecoin": 600.0,
                    "glad": 2200.0, "mace": 1500.0, "kos": 800.0, "mmsr": 400.0}
# M-MSR: 500 workers asked for 31 GiB, memory ~ workers^4.
_MMSR_BYTES_AT_500 = 31 * 2**30

_EPS = 1e-10  # crowd-kit's clip in the DS M-step and on the priors


def estimate_cost(data: LabelArrays, method: str, n_iter: int = 100) -> tuple[float, float]:
    """Predicted (seconds, peak bytes) of ``aggregate(data, method)`` on a 2-core machine.

    Linear in the number of labels from the measured speeds in
    ../shared/reference/published-results.md (GLAD ~312 s per 500k labels at 50
    iterations on easy synthetic data; we budget 1500 s per 500k at 100 iterations because
    it ran that slowly on zheng_product; MACE 12.8 s + 10 s of restarts, ...), scaled by
    ``n_iter`` for iterative models; OneCoin adds a per worker x class x iteration term; M-MSR's
    memory grows with workers^4 (31 GiB at 500 workers). Rough (an unloaded machine; a busy
    one can be 2-5x slower), meant to refuse models that would not finish, not to promise a time.
    """
    method = _check_method(method)
    n = max(data.n, 1)
    secs = _SEC_PER_500K[method] * n / 5e5
    if method in _MEASURED_ITERS:
        secs *= max(n_iter, 1) / _MEASURED_ITERS[method]
    secs += _SEC_FIXED.get(method, 0.0)
    if method == "onecoin":
        secs += _ONECOIN_SEC_PER_WK_ITER * data.n_workers * data.n_classes * max(n_iter, 1)
    nbytes = _BYTES_PER_LABEL[method] * n + 8.0 * data.n_tasks * data.n_classes * 4
    if method == "mmsr":
        nbytes += _MMSR_BYTES_AT_500 * (data.n_workers / 500.0) ** 4
    return float(secs), float(nbytes)


def _check_method(method: str) -> str:
    m = str(method).lower()
    if m not in MODELS:
        raise UserError(f"unknown aggregation method {method!r}; choose one of {', '.join(MODELS)}")
    return m


def _check_codes(data: LabelArrays) -> None:
    """Refuse arrays whose codes fall outside their id tables (e.g. missing labels coded -1)."""
    for name, codes, size in (("label", data.label, data.n_classes), ("task", data.task, data.n_tasks),
                              ("worker", data.worker, data.n_workers)):
        if len(codes) and (int(codes.min()) < 0 or int(codes.max()) >= size):
            raise UserError(f"some {name} values are missing or outside the project's {name} list; "
                            "drop or fix those rows and analyse again")


def _fmt_bytes(b: float) -> str:
    return f"{b / 2**30:.1f} GiB" if b >= 2**30 else f"{b / 2**20:.0f} MiB"


def aggregate(
    data: LabelArrays,
    method: str = "ds",
    *,
    use_gold: bool = True,
    n_iter: int = 100,
    tol: float = 1e-5,
    seed: int = 0,
    max_seconds: float | None = None,
    max_bytes: float | None = None,
) -> Consensus:
    """Fit aggregation model ``method`` (a key of :data:`MODELS`) and return its Consensus.

    ``probas`` is (n_tasks, K) in code order, ``labels`` the argmax with ties to the lowest
    class code, ``errors`` (W, K, K) with A_w[c, k] = P(y = k | z = c) for models with
    confusion matrices (ds, onecoin), ``skills`` the model's scalar worker skill
    (ds/onecoin: diagonal mass sum_c prior_c A_w[c, c]; mv/wawa: agreement with the
    aggregate; zbs: its skill; glad: ability alpha; mace: competence P(not spamming)),
    ``difficulty`` exp(-beta_i) for GLAD. Tasks without any label get the class prior;
    workers without labels get NaN skill and a uniform matrix.

    Raises UserError for an unknown method, KOS on a non-binary project, or a model whose
    :func:`estimate_cost` exceeds ``max_seconds``/``max_bytes`` (defaults
    :data:`MAX_SECONDS`, :data:`MAX_BYTES`).
    """
    method = _check_method(method)
    if data.n == 0:
        raise UserError("no labels to aggregate: the project (or the labels left after exclusions) is empty")
    if n_iter < 1:
        raise UserError(f"n_iter must be at least 1, got {n_iter}")
    _check_codes(data)
    lim_s = MAX_SECONDS if max_seconds is None else max_seconds
    lim_b = MAX_BYTES if max_bytes is None else max_bytes
    secs, nbytes = estimate_cost(data, method, n_iter=n_iter)
    if secs > lim_s or nbytes > lim_b:
        if data.n_classes > max(30, data.n / 5):
            raise UserError(
                f"{method} would need about {_fmt_bytes(nbytes)}: the project has {data.n_classes:,} distinct labels "
                f"in {data.n:,} answers, so its label column is free text or an id, not a set of classes; load the "
                "file again choosing the answer column")
        other = "'mv' (majority vote)" if method == "ds" else "'ds' (Dawid-Skene)"
        raise UserError(
            f"{method} would take about {secs:.0f} s and {_fmt_bytes(nbytes)} on {data.n:,} labels "
            f"from {data.n_workers:,} workers (limits {lim_s:.0f} s, {_fmt_bytes(lim_b)}); "
            f"use method {other}, or raise the limit if you can wait"
        )
    K = data.n_classes
    if K == 1 and method not in ("ds", "mv"):
        # one class: every model can only say that class; skip crowd-kit (GLAD divides by K - 1)
        ones = np.ones((data.n_tasks, 1))
        skills = np.where(np.bincount(data.worker, minlength=data.n_workers) > 0, 1.0, np.nan)
        errors = np.ones((data.n_workers, 1, 1)) if method == "onecoin" else None
        return Consensus(method, ones, np.zeros(data.n_tasks, np.int32), np.ones(1), errors=errors, skills=skills,
                         difficulty=np.ones(data.n_tasks) if method == "glad" else None)
    if method == "kos" and K != 2:
        raise UserError(f"KOS works on two-class projects only; this one has {K} classes: use method 'ds'")
    if method == "ds":
        gold = data.gold_vector() if use_gold else None
        return dawid_skene(data, n_iter=n_iter, tol=tol, gold=gold)
    if method == "mv":
        return majority_vote(data)
    try:
        return _crowdkit(data, method, n_iter=n_iter, tol=tol, seed=seed)
    except (ValueError, KeyError, IndexError, ZeroDivisionError, np.linalg.LinAlgError) as err:
        # crowd-kit models can fail on degenerate projects (e.g. M-MSR with two workers)
        raise UserError(f"crowd-kit's {method} model failed on this project ({type(err).__name__}: "
                        f"{str(err).splitlines()[0] if str(err) else 'no message'}); use method 'ds'") from err


# --------------------------------------------------------------------------- helpers

def _vote_counts(data: LabelArrays) -> np.ndarray:
    K = data.n_classes
    return np.bincount(data.task.astype(np.int64) * K + data.label, minlength=data.n_tasks * K
                       ).reshape(data.n_tasks, K).astype(np.float64)


def _fill_empty(probas: np.ndarray, priors: np.ndarray) -> np.ndarray:
    empty = probas.sum(axis=1) <= 0
    if empty.any():
        probas[empty] = priors
    return probas


def _agreement_with(data: LabelArrays, labels: np.ndarray) -> np.ndarray:
    """Per worker: share of their labels equal to ``labels[task]`` (NaN without labels)."""
    W = data.n_workers
    hit = np.bincount(data.worker, weights=(data.label == labels[data.task]).astype(float), minlength=W)
    n = np.bincount(data.worker, minlength=W).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, hit / np.maximum(n, 1), np.nan)


def majority_vote(data: LabelArrays) -> Consensus:
    """Majority vote: P(z_i = k) = share of task i's labels equal to k; ties to the lowest code.

    Skills are each worker's agreement with the aggregate (crowd-kit MajorityVote.skills_).
    """
    counts = _vote_counts(data)
    tot = counts.sum(axis=1, keepdims=True)
    probas = np.divide(counts, tot, out=np.zeros_like(counts), where=tot > 0)
    priors = counts.sum(axis=0) / max(counts.sum(), 1.0)
    probas = _fill_empty(probas, priors)
    labels = argmax_lowest(probas)
    return Consensus("mv", probas, labels, priors, skills=_agreement_with(data, labels))


def dawid_skene(
    data: LabelArrays,
    n_iter: int = 100,
    tol: float = 1e-5,
    gold: np.ndarray | None = None,
) -> Consensus:
    """Dawid-Skene EM, vectorised; the same algorithm as crowd-kit 1.4.2 ``DawidSkene``.

    Model (Dawid & Skene, "Maximum likelihood estimation of observer error-rates using the
    EM algorithm", JRSS C 28(1), 1979): P(z_i = c) = pi_c and
    P(y_wi = k | z_i = c) = A_w[c, k]. Start from majority-vote shares; M-step
    A_w[c, k] proportional to sum_i p_ic [y_wi = k] (clipped below at 1e-10 on the labels the
    worker used, no prior), pi = mean_i p_i; E-step
    p_ic proportional to pi_c prod_w A_w[c, y_wi]. Stop when the evidence lower bound per label
    improves by less than ``tol`` (crowd-kit's rule, including its per-label prior term).
    ``gold`` (task -> class code, -1 = none) clamps gold tasks to their answer each step.

    Both steps are products with one sparse (task x worker*K+label) count matrix, so one
    iteration costs O(labels * K).
    """
    T, W, K = data.n_tasks, data.n_workers, data.n_classes
    wy = data.worker.astype(np.int64) * K + data.label
    M = sp.csr_matrix((np.ones(data.n), (data.task, wy)), shape=(T, W * K))
    M.sum_duplicates()
    Mt = M.T.tocsr()
    used = np.asarray(Mt.sum(axis=1)).ravel() > 0            # (W*K,) labels each worker used
    # per-label multiplicity of the prior term in crowd-kit's ELBO
    n_per_task = np.asarray(M.sum(axis=1)).ravel()

    has_gold = gold is not None and (gold >= 0).any()
    g_rows = np.flatnonzero(gold >= 0) if has_gold else None

    def clamp(p: np.ndarray) -> np.ndarray:
        if has_gold:
            p[g_rows] = 0.0
            p[g_rows, gold[g_rows]] = 1.0
        return p

    def m_step(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        N = Mt @ p                                           # (W*K, K_true) soft counts
        E = np.where(used[:, None], np.maximum(N, _EPS), 0.0).reshape(W, K, K)
        s = E.sum(axis=1, keepdims=True)
        E = np.divide(E, s, out=np.full_like(E, 1.0 / K), where=s > 0)
        return N, E                                          # E[w, k_obs, c_true]

    counts = _vote_counts(data)
    tot = counts.sum(axis=1, keepdims=True)
    p = np.divide(counts, tot, out=np.full_like(counts, 1.0 / K), where=tot > 0)
    p = clamp(p)
    priors = p.mean(axis=0)
    _, E = m_step(p)
    loss = -np.inf
    for _ in range(n_iter):
        with np.errstate(divide="ignore"):
            logE = np.where(E > 0, np.log(E), 0.0).reshape(W * K, K)
        logpri = np.log(np.maximum(priors, _EPS))
        ll = M @ logE + logpri[None, :]
        ll -= ll.max(axis=1, keepdims=True)
        p = np.exp(ll)
        p /= p.sum(axis=1, keepdims=True)
        p = clamp(p)
        priors = p.mean(axis=0)
        N, E = m_step(p)
        with np.errstate(divide="ignore"):
            logE = np.where(E > 0, np.log(E), 0.0).reshape(W * K, K)
        logpri = np.log(np.maximum(priors, _EPS))
        joint = float((N * logE).sum() + (n_per_task[:, None] * p * logpri[None, :]).sum())
        pc = np.maximum(p, _EPS)
        entropy = float(-(pc * np.log(pc)).sum())
        new_loss = (joint + entropy) / data.n
        if new_loss - loss < tol:
            break
        loss = new_loss
    errors = np.ascontiguousarray(E.transpose(0, 2, 1))     # A_w[c, k]
    n_w = np.bincount(data.worker, minlength=W)
    skills = np.einsum("c,wcc->w", priors, errors)
    skills = np.where(n_w > 0, skills, np.nan)
    return Consensus("ds", p, argmax_lowest(p), priors, errors=errors, skills=skills)


def _crowdkit(data: LabelArrays, method: str, *, n_iter: int, tol: float, seed: int) -> Consensus:
    """Run a crowd-kit model on the integer-coded frame and map its outputs to code order."""
    from crowdkit import aggregation as ca

    T, W, K = data.n_tasks, data.n_workers, data.n_classes
    df = pd.DataFrame({"task": data.task.astype(np.int64), "worker": data.worker.astype(np.int64),
                       "label": data.label.astype(np.int64)})
    skills = errors = difficulty = None
    probas_df = None
    if method == "wawa":
        m = ca.Wawa()
        probas_df = m.fit_predict_proba(df)
        skills = m.skills_
    elif method == "zbs":
        m = ca.ZeroBasedSkill(n_iter=n_iter)
        probas_df = m.fit_predict_proba(df)
        skills = m.skills_
    elif method == "onecoin":
        m = ca.OneCoinDawidSkene(n_iter=n_iter, tol=tol).fit(df)
        probas_df, skills = m.probas_, m.skills_
        errors = _crowdkit_errors(m.errors_, W, K)
    elif method == "glad":
        m = ca.GLAD(n_iter=n_iter, tol=tol).fit(df)
        probas_df, skills = m.probas_, m.alphas_
        difficulty = np.exp(-m.betas_.reindex(range(T)).to_numpy(dtype=float))
    elif method == "mace":
        m = ca.MACE(random_state=seed).fit(df)
        probas_df = m.probas_
        wnames = np.asarray(pd.factorize(df["worker"])[1], dtype=np.int64)
        skills = pd.Series(m.spamming_[:, 1], index=wnames)
    elif method == "kos":
        m = ca.KOS(n_iter=n_iter, random_state=seed).fit(df)
        lab = m.labels_.reindex(range(T))
        probas_df = pd.get_dummies(lab).astype(float)
    elif method == "mmsr":
        m = ca.MMSR(random_state=seed)
        probas_df = m.fit_predict_score(df)
        skills = m.skills_
    else:  # pragma: no cover - guarded by _check_method
        raise UserError(f"unknown aggregation method {method!r}")
    probas = probas_df.reindex(index=range(T), columns=range(K)).fillna(0.0).to_numpy(dtype=float)
    probas = np.clip(probas, 0.0, None)
    rs = probas.sum(axis=1, keepdims=True)
    probas = np.divide(probas, rs, out=np.zeros_like(probas), where=rs > 0)
    priors = probas[rs[:, 0] > 0].mean(axis=0) if (rs > 0).any() else np.full(K, 1.0 / K)
    probas = _fill_empty(probas, priors)
    labels = argmax_lowest(probas)
    if skills is not None:
        skills = pd.Series(skills).reindex(range(W)).to_numpy(dtype=float)
    elif method == "kos":
        skills = _agreement_with(data, labels)
    return Consensus(method, probas, labels, priors, errors=errors, skills=skills, difficulty=difficulty)


def _crowdkit_errors(errors_df: pd.DataFrame, W: int, K: int) -> np.ndarray:
    """crowd-kit errors_.loc[(worker, observed k), true c] -> dense A[w, c, k]."""
    idx = pd.MultiIndex.from_product([range(W), range(K)], names=["worker", "label"])
    E = errors_df.reindex(index=idx, columns=range(K)).fillna(0.0).to_numpy(dtype=float).reshape(W, K, K)
    A = E.transpose(0, 2, 1)
    s = A.sum(axis=2, keepdims=True)
    return np.divide(A, s, out=np.full_like(A, 1.0 / K), where=s > 0)


def crowdkit_errors(errors_df: pd.DataFrame, W: int, K: int) -> np.ndarray:
    """Public alias of the converter from crowd-kit ``errors_`` to A[w, c, k] (for tests)."""
    return _crowdkit_errors(errors_df, W, K)
