"""crowd-kit 1.4.2 on integer codes: the models CrowdTrust does not re-implement (KOS, M-MSR), and
every model as crowd-kit computes it, for the side-by-side checks of tests/ and benchmarks/.

:func:`run_crowdkit` passes crowd-kit a frame coded in order of first appearance (task, worker
and label codes 0, 1, ... in the order they occur), because crowd-kit's MACE indexes its
per-worker and per-label arrays by first appearance in some places and by sorted value in
others, which only agree on such a frame. Its outputs are mapped back to dense arrays in
CrowdTrust's code order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.aggregation.coded import agreement_with, fill_empty
from analytics.consensus import Consensus, argmax_lowest
from analytics.dataset import LabelArrays


def crowdkit_errors(errors_df: pd.DataFrame, W: int, K: int) -> np.ndarray:
    """crowd-kit ``errors_.loc[(worker, observed k), true c]`` -> dense A[w, c, k] (rows sum to 1)."""
    idx = pd.MultiIndex.from_product([range(W), range(K)], names=["worker", "label"])
    E = errors_df.reindex(index=idx, columns=range(K)).fillna(0.0).to_numpy(dtype=float).reshape(W, K, K)
    A = E.transpose(0, 2, 1)
    s = A.sum(axis=2, keepdims=True)
    return np.divide(A, s, out=np.full_like(A, 1.0 / K), where=s > 0)


def _appearance_codes(codes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(new codes in order of first appearance, map new -> old code)."""
    _, first = np.unique(codes, return_index=True)
    order = np.unique(codes)[np.argsort(first)]
    remap = np.full(size, -1, np.int64)
    remap[order] = np.arange(len(order))
    return remap[codes], order


def run_crowdkit(data: LabelArrays, method: str, *, n_iter: int = 100, tol: float = 1e-5, seed: int = 0) -> Consensus:
    """Fit crowd-kit's model ``method`` (ds, mv, wawa, zbs, onecoin, glad, mace, kos, mmsr)."""
    from crowdkit import aggregation as ca

    T, W, K = data.n_tasks, data.n_workers, data.n_classes
    t, t_old = _appearance_codes(data.task, T)
    w, w_old = _appearance_codes(data.worker, W)
    y, y_old = _appearance_codes(data.label, K)
    df = pd.DataFrame({"task": t, "worker": w, "label": y})
    skills = errors = difficulty = None
    if method == "mv":
        m = ca.MajorityVote().fit(df)
        probas_df, skills = m.probas_, m.skills_
    elif method == "ds":
        m = ca.DawidSkene(n_iter=n_iter, tol=tol).fit(df)
        probas_df = m.probas_
        errors = m.errors_
    elif method == "wawa":
        m = ca.Wawa()
        probas_df = m.fit_predict_proba(df)
        skills = m.skills_
    elif method == "zbs":
        m = ca.ZeroBasedSkill(n_iter=n_iter)
        probas_df = m.fit_predict_proba(df)
        skills = m.skills_
    elif method == "onecoin":
        m = ca.OneCoinDawidSkene(n_iter=n_iter, tol=tol).fit(df)
        probas_df, skills, errors = m.probas_, m.skills_, m.errors_
    elif method == "glad":
        m = ca.GLAD(n_iter=n_iter, tol=tol).fit(df)
        probas_df, skills = m.probas_, m.alphas_
        difficulty = pd.Series(np.exp(-m.betas_.to_numpy(float)), index=m.betas_.index)
    elif method == "mace":
        m = ca.MACE(random_state=seed).fit(df)
        probas_df = m.probas_
        skills = pd.Series(m.spamming_[:, 1], index=np.arange(len(w_old)))
    elif method == "kos":
        m = ca.KOS(n_iter=n_iter, random_state=seed).fit(df)
        probas_df = pd.get_dummies(m.labels_).astype(float)
    elif method == "mmsr":
        m = ca.MMSR(random_state=seed)
        probas_df = m.fit_predict_score(df)
        skills = m.skills_
    else:
        raise ValueError(f"crowd-kit has no model {method!r} here")
    # back to CrowdTrust's codes
    new_T = probas_df.reindex(index=range(len(t_old)), columns=range(len(y_old))).fillna(0.0).to_numpy(float)
    probas = np.zeros((T, K))
    probas[np.ix_(t_old, y_old)] = np.clip(new_T, 0.0, None)
    rs = probas.sum(axis=1, keepdims=True)
    probas = np.divide(probas, rs, out=np.zeros_like(probas), where=rs > 0)
    priors = probas[rs[:, 0] > 0].mean(axis=0) if (rs > 0).any() else np.full(K, 1.0 / K)
    probas = fill_empty(probas, priors)
    labels = argmax_lowest(probas)
    if skills is not None:
        s = pd.Series(skills).reindex(range(len(w_old))).to_numpy(float)
        skills = np.full(W, np.nan)
        skills[w_old] = s
    elif method == "kos":
        skills = agreement_with(data, labels)
    if errors is not None:
        A_new = crowdkit_errors(errors, len(w_old), len(y_old))
        errors = np.full((W, K, K), 1.0 / K)
        errors[np.ix_(w_old, y_old, y_old)] = A_new
    if difficulty is not None:
        d = difficulty.reindex(range(len(t_old))).to_numpy(float)
        difficulty = np.ones(T)
        difficulty[t_old] = d
    return Consensus(method, probas, labels, priors, confusion=errors, skills=skills, difficulty=difficulty)
