"""Inter-annotator agreement: Krippendorff's alpha, Fleiss' / pairwise Cohen's kappa, per-task
agreement, a sparse worker x worker kappa table, and bootstrap intervals over tasks.

Everything works on the integer codes of :class:`~analytics.dataset.LabelArrays` with
``np.bincount`` and sparse products; nothing is quadratic in the number of workers.

Conventions
-----------
- A task's labels are counted as given: duplicate labels of one worker on one task (kept
  in some published data) count as separate values, as in crowd-kit / NLTK.
- Tasks with fewer than two labels carry no agreement information and are skipped
  (Krippendorff's "pairable values").
- Confidence intervals: percentile bootstrap over tasks (tasks resampled with
  replacement, :data:`N_BOOT` replicates, seeded), Efron & Tibshirani 1993; for the
  pairwise kappa the same task resample weights the pairs' shared tasks, over the fixed set
  of pairs that qualify in the observed data.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from analytics.dataset import LabelArrays
from analytics.errors import UserError

#: Default number of bootstrap replicates for confidence intervals.
N_BOOT: int = 200
#: Default confidence level of the bootstrap intervals.
CI_LEVEL: float = 0.95
#: Default number of workers (highest label volume first) in the worker x worker table.
TOP_N: int = 50
#: Default minimum number of shared tasks for a worker pair's kappa to be reported.
MIN_SHARED: int = 5
#: Workers (by volume) whose pairs form the pairwise pooled kappa when Fleiss' does not apply.
PAIRWISE_TOP_N: int = 200


def _counts(data: LabelArrays) -> np.ndarray:
    K = data.n_classes
    return np.bincount(data.task.astype(np.int64) * K + data.label,
                       minlength=data.n_tasks * K).reshape(data.n_tasks, K).astype(np.float64)


# --------------------------------------------------------------------------- alpha

def _alpha_stats(c: np.ndarray) -> np.ndarray:
    """Per-task linear statistics of nominal alpha: [n_i, d_i, c_i1..c_iK] for pairable tasks.

    d_i = (n_i^2 - sum_k c_ik^2) / (n_i - 1) is the task's contribution to the coincidence
    matrix's off-diagonal mass; rows of unpairable tasks (n_i < 2) are zero.
    """
    n = c.sum(axis=1)
    ok = n >= 2
    d = np.where(ok, (n * n - (c * c).sum(axis=1)) / np.where(ok, n - 1, 1), 0.0)
    return np.column_stack([np.where(ok, n, 0.0), d, c * ok[:, None]])


def _alpha_from_stats(s: np.ndarray) -> np.ndarray:
    """Alpha from summed stats (..., 2+K): 1 - Do/De with Do = sum d / N, De = (N^2 - sum N_k^2)/(N(N-1))."""
    N, D, Nk = s[..., 0], s[..., 1], s[..., 2:]
    with np.errstate(invalid="ignore", divide="ignore"):
        do = D / N
        de = (N * N - (Nk * Nk).sum(axis=-1)) / (N * (N - 1))
        a = 1.0 - do / de
    one_value = (Nk > 0).sum(axis=-1) == 1
    return np.where(N < 2, np.nan, np.where(one_value, 1.0, a))


def krippendorff_alpha(data: LabelArrays) -> float:
    """Krippendorff's alpha for nominal data, from the coincidence matrix (Krippendorff 2004,
    *Content Analysis*, ch. 11; Hayes & Krippendorff 2007).

    alpha = 1 - D_o / D_e, with observed disagreement D_o = (1/N) sum_i (n_i^2 - sum_k n_ik^2)/(n_i - 1)
    over tasks with n_i >= 2 (N = their number of labels) and expected disagreement
    D_e = (N^2 - sum_k N_k^2) / (N (N - 1)). Equal to crowd-kit's ``alpha_krippendorff`` (NLTK
    ``AnnotationTask.alpha``) to 1e-9; vectorised. Returns 1.0 when only one value was
    ever used on pairable tasks (NLTK's convention) and NaN when no task has two labels.
    """
    return float(_alpha_from_stats(_alpha_stats(_counts(data)).sum(axis=0)))


def krippendorff_alpha_crowdkit(data: LabelArrays) -> float:
    """crowd-kit's ``alpha_krippendorff`` on the same labels (slow: pure Python, for checks)."""
    from crowdkit.metrics.data import alpha_krippendorff

    return float(alpha_krippendorff(data.to_frame()))


# --------------------------------------------------------------------------- kappa

def _fleiss_stats(c: np.ndarray) -> np.ndarray:
    n = c.sum(axis=1)
    P = ((c * c).sum(axis=1) - n) / (n * (n - 1))
    return np.column_stack([np.ones(len(c)), P, c / n[:, None]])


def _fleiss_from_stats(s: np.ndarray) -> np.ndarray:
    T, Psum, pk = s[..., 0], s[..., 1], s[..., 2:]
    with np.errstate(invalid="ignore", divide="ignore"):
        Pbar = Psum / T
        p = pk / T[..., None]
        Pe = (p * p).sum(axis=-1)
        return np.where(Pe >= 1.0, np.nan, (Pbar - Pe) / (1.0 - Pe))


def _equal_raters(c: np.ndarray) -> int | None:
    n = c.sum(axis=1)
    n = n[n > 0]
    if len(n) == 0 or n.min() != n.max() or n[0] < 2:
        return None
    return int(n[0])


def fleiss_kappa(data: LabelArrays) -> float | None:
    """Fleiss' kappa (Fleiss 1971, Psychological Bulletin 76(5)), defined when every labelled task
    has the same number n >= 2 of labels; otherwise None (use :func:`pairwise_kappa`).

    kappa = (P_bar - P_e) / (1 - P_e), P_i = (sum_k n_ik^2 - n) / (n (n - 1)), P_e = sum_k p_k^2,
    p_k = share of all labels equal to k. NaN when every label is the same class.
    """
    c = _counts(data)
    c = c[c.sum(axis=1) > 0]
    if _equal_raters(c) is None:
        return None
    return float(_fleiss_from_stats(_fleiss_stats(c).sum(axis=0)))


def _top_workers(data: LabelArrays, top_n: int) -> np.ndarray:
    vol = np.bincount(data.worker, minlength=data.n_workers)
    order = np.lexsort((np.arange(data.n_workers), -vol))        # volume desc, code asc
    return np.sort(order[: max(int(top_n), 0)][vol[order[: max(int(top_n), 0)]] > 0])


def _pair_instances(data: LabelArrays, workers: np.ndarray):
    """All (label a, label b) pairs on the same task between two distinct selected workers.

    Enumerated per task by sorting labels on (task, worker) and pairing each label with the
    next d labels for d = 1..(largest per-task count - 1): no loop over labels, no W x W array.
    Returns (task, worker_a, worker_b, label_a, label_b) with worker_a < worker_b.
    """
    sel = np.zeros(data.n_workers, bool)
    sel[workers] = True
    keep = sel[data.worker]
    t, w, y = data.task[keep], data.worker[keep], data.label[keep]
    order = np.lexsort((w, t))
    t, w, y = t[order], w[order], y[order]
    out = [[], [], [], [], []]
    if len(t) == 0:
        return [np.empty(0, np.int64) for _ in range(5)]
    per_task = np.bincount(t)
    for d in range(1, int(per_task.max())):
        same = t[d:] == t[:-d]
        i = np.flatnonzero(same & (w[d:] != w[:-d]))
        for lst, arr in zip(out, (t[i], w[i], w[i + d], y[i], y[i + d]), strict=True):
            lst.append(arr)
    return [np.concatenate(x).astype(np.int64) if x else np.empty(0, np.int64) for x in out]


def _pair_stats(pid, ya, yb, K, n_pairs, weights=None):
    """Per-pair sums: n_shared, agreements, marginals of a (K), marginals of b (K)."""
    wts = np.ones(len(pid)) if weights is None else weights
    n = np.bincount(pid, weights=wts, minlength=n_pairs)
    agree = np.bincount(pid, weights=wts * (ya == yb), minlength=n_pairs)
    ma = np.bincount(pid * K + ya, weights=wts, minlength=n_pairs * K).reshape(n_pairs, K)
    mb = np.bincount(pid * K + yb, weights=wts, minlength=n_pairs * K).reshape(n_pairs, K)
    return n, agree, ma, mb


def cohen_kappa(n, agree, marginal_products):
    """Cohen's kappa (Cohen 1960, "A coefficient of agreement for nominal scales", Educational
    and Psychological Measurement 20(1)) of worker pairs from three sums per pair: ``n`` shared
    items, ``agree`` items given the same label, and ``marginal_products`` = sum_k n_ak n_bk,
    the products of the two workers' label counts on those items.

    kappa = (p_o - p_e) / (1 - p_e), p_o = agree / n, p_e = sum_k n_ak n_bk / n^2. Arrays (or
    scalars) of equal shape; NaN where p_e = 1 (both always give the same single label) or
    n = 0. The one implementation of the statistic: the pages' SQL (analytics.results) only
    counts the three sums. Equal to sklearn's ``cohen_kappa_score`` (tests/test_agreement.py).
    """
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        po = np.asarray(agree, dtype=float) / n
        pe = np.asarray(marginal_products, dtype=float) / (n * n)
        return np.where((n > 0) & (pe < 1.0 - 1e-12), (po - pe) / (1.0 - pe), np.nan)


def _cohen(n, agree, ma, mb):
    """:func:`cohen_kappa` from the per-pair marginals (K columns each) of :func:`_pair_stats`."""
    return cohen_kappa(n, agree, (ma * mb).sum(axis=-1))


def _pairs_for(data: LabelArrays, top_n: int):
    workers = _top_workers(data, top_n)
    t, wa, wb, ya, yb = _pair_instances(data, workers)
    key = wa * data.n_workers + wb
    uniq, pid = np.unique(key, return_inverse=True)
    return t, pid.astype(np.int64), ya, yb, uniq // data.n_workers, uniq % data.n_workers


def worker_pair_kappa(data: LabelArrays, top_n: int = TOP_N, min_shared: int = MIN_SHARED,
                      n_boot: int = N_BOOT, seed: int = 0, level: float = CI_LEVEL) -> pd.DataFrame:
    """Cohen's kappa (Cohen 1960) for every pair of the ``top_n`` workers by label volume that
    share at least ``min_shared`` tasks, with a percentile-bootstrap interval over each pair's
    shared tasks (``n_boot`` replicates, seeded).

    Columns: worker_a, worker_b (codes, a < b), n_shared, agreement (raw share of equal
    labels), kappa (NaN when both always use the same single class), kappa_lo, kappa_hi.
    Pairs are enumerated per task among the selected workers only, so cost is bounded by
    top_n, never by W^2.
    """
    t, pid, ya, yb, a, b = _pairs_for(data, top_n)
    return pair_kappa_table(pid, ya, yb, a, b, data.n_classes, min_shared, n_boot, seed, level)


def pair_kappa_table(pid, ya, yb, a, b, K: int, min_shared: int = MIN_SHARED, n_boot: int = N_BOOT, seed: int = 0,
                     level: float = CI_LEVEL) -> pd.DataFrame:
    """:func:`worker_pair_kappa` from the enumerated pair instances (pair index, labels) and the
    pairs' worker codes; the partitioned engine enumerates the instances per partition of items."""
    n, agree, ma, mb = _pair_stats(pid, ya, yb, K, len(a))
    ok = n >= max(int(min_shared), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = agree / n
    kappa = _cohen(n, agree, ma, mb)
    lo = np.full(len(a), np.nan)
    hi = np.full(len(a), np.nan)
    if n_boot > 0 and ok.any():
        keep = ok[pid]
        new_id = np.cumsum(ok) - 1
        p2, ya2, yb2 = new_id[pid[keep]], ya[keep], yb[keep]
        order = np.argsort(p2, kind="stable")
        p2, ya2, yb2 = p2[order], ya2[order], yb2[order]
        P = int(ok.sum())
        size = np.bincount(p2, minlength=P)
        start = np.concatenate([[0], np.cumsum(size)[:-1]])
        rng = np.random.default_rng(seed)
        boots = np.empty((n_boot, P))
        for r in range(n_boot):                       # resample each pair's shared tasks
            idx = start[p2] + (rng.random(len(p2)) * size[p2]).astype(np.int64)
            boots[r] = _cohen(*_pair_stats(p2, ya2[idx], yb2[idx], K, P))
        q = (1 - level) / 2
        finite = np.isfinite(boots).sum(axis=0) >= 2
        with warnings.catch_warnings():             # pairs whose replicates are all undefined
            warnings.simplefilter("ignore", RuntimeWarning)
            qs = np.nanquantile(np.where(np.isfinite(boots), boots, np.nan), [q, 1 - q], axis=0)
        lo[ok] = np.where(finite, qs[0], np.nan)
        hi[ok] = np.where(finite, qs[1], np.nan)
    return pd.DataFrame({
        "worker_a": a[ok].astype(np.int32), "worker_b": b[ok].astype(np.int32),
        "n_shared": n[ok].astype(np.int64), "agreement": raw[ok], "kappa": kappa[ok],
        "kappa_lo": lo[ok], "kappa_hi": hi[ok],
    })


def pairwise_kappa(data: LabelArrays, top_n: int = PAIRWISE_TOP_N, min_shared: int = MIN_SHARED) -> float:
    """Pairwise pooled Cohen's kappa over the worker pairs of the ``top_n`` workers by volume
    that share at least ``min_shared`` tasks (pooling as in De Vries, Elliott, Kanouse & Teleki
    2008, "Using pooled kappa to summarize interrater agreement across many items", Field
    Methods 20(3)):

    kappa = (P_o - P_e) / (1 - P_e), P_o = sum_p agree_p / sum_p n_p, P_e = sum_p n_p pe_p / sum_p n_p,

    with each pair's chance agreement taken over *different* tasks,
    pe_p = (sum_k m_ak m_bk - agree_p) / (n_p (n_p - 1)), i.e. Cohen's product of marginals without
    the same-task terms, which are correlated through the true label and bias Cohen's pe upwards
    on pairs with few shared tasks (the same n(n-1) correction as Krippendorff's alpha). Pooling
    keeps the estimate stable where per-pair kappas are noisy. NaN when no pair qualifies.
    Used instead of Fleiss' kappa when tasks have different numbers of labels."""
    t, pid, ya, yb, a, _ = _pairs_for(data, top_n)
    K = data.n_classes
    sums = _instance_sums(pid, ya, yb, K, len(a), np.ones(len(pid)))
    return _pooled(sums, K, min_shared)


def _instance_sums(pid, ya, yb, K, n_pairs, w, to_pair=None) -> np.ndarray:
    """Per pair (rows): [sum w, sum w*eq, sum w^2, sum w^2*eq, marginals of a (K), of b (K)],
    where w is each pair instance's weight (its task's bootstrap multiplicity)."""
    eq = (ya == yb).astype(float)
    cols = [w, w * eq, w * w, w * w * eq]
    cols += [w * (ya == k) for k in range(K)] + [w * (yb == k) for k in range(K)]
    X = np.column_stack(cols)
    if to_pair is None:
        to_pair = sp.csr_matrix((np.ones(len(pid)), (pid, np.arange(len(pid)))), shape=(n_pairs, len(pid)))
    return np.asarray(to_pair @ X)


def _pooled(sums: np.ndarray, K: int, min_shared: int) -> np.ndarray | float:
    """Pooled kappa from per-pair sums of shape (P, 4 + 2K), or (m, P, 4 + 2K) for m replicates."""
    n, agree, s2, a2 = sums[..., 0], sums[..., 1], sums[..., 2], sums[..., 3]
    ma, mb = sums[..., 4:4 + K], sums[..., 4 + K:4 + 2 * K]
    denom = n * n - s2
    ok = (n >= max(min_shared, 2)) & (denom > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        pe_p = np.where(ok, ((ma * mb).sum(axis=-1) - a2) / np.where(ok, denom, 1.0), 0.0)
        n_ok = np.where(ok, n, 0.0).sum(axis=-1)
        po = np.where(ok, agree, 0.0).sum(axis=-1) / n_ok
        pe = (np.where(ok, n, 0.0) * pe_p).sum(axis=-1) / n_ok
        out = np.where((n_ok > 0) & (pe < 1.0 - 1e-12), (po - pe) / (1.0 - pe), np.nan)
    return float(out) if out.ndim == 0 else out


# --------------------------------------------------------------------------- summary

@dataclass
class AgreementSummary:
    """Project-level agreement with bootstrap intervals.

    alpha : Krippendorff's alpha (nominal); alpha_ci : (low, high)
    kappa : Fleiss' kappa when every task has the same number of labels, else the
        pairwise pooled Cohen's kappa (:func:`pairwise_kappa`); kappa_kind : 'fleiss' or 'pairwise_cohen'; kappa_ci
    n_pairable_tasks : tasks with at least two labels; n_boot : bootstrap replicates
    """

    alpha: float
    alpha_ci: tuple[float, float]
    kappa: float
    kappa_kind: str
    kappa_ci: tuple[float, float]
    n_pairable_tasks: int
    n_boot: int


_BOOT_CHUNK = 16  # bootstrap replicates drawn and evaluated together (one matrix product)


def _ci(samples: np.ndarray, level: float) -> tuple[float, float]:
    s = samples[np.isfinite(samples)]
    if len(s) < 2:
        return (float("nan"), float("nan"))
    q = (1 - level) / 2
    lo, hi = np.quantile(s, [q, 1 - q])
    return (float(lo), float(hi))


def agreement_summary(data: LabelArrays, n_boot: int = N_BOOT, seed: int = 0, level: float = CI_LEVEL,
                      pairwise_top_n: int = PAIRWISE_TOP_N, min_shared: int = MIN_SHARED) -> AgreementSummary:
    """Alpha and kappa with percentile-bootstrap intervals over tasks (``n_boot`` replicates,
    seeded by ``seed``). Never raises on degenerate data: values are NaN when undefined."""
    if n_boot < 0:
        raise UserError(f"n_boot must be 0 or more, got {n_boot}")
    c = _counts(data)
    c = c[c.sum(axis=1) > 0]
    T = len(c)
    a_stats = _alpha_stats(c)
    alpha = float(_alpha_from_stats(a_stats.sum(axis=0)))
    rng = np.random.default_rng(seed)
    n_rep = _equal_raters(c)
    if n_rep is not None:
        kind = "fleiss"
        k_stats = _fleiss_stats(c)
        kappa = float(_fleiss_from_stats(k_stats.sum(axis=0)))
    else:
        kind = "pairwise_cohen"
        k_stats = None
        t, pid, ya, yb, a, _ = _pairs_for(data, pairwise_top_n)
        kappa = _pooled(_instance_sums(pid, ya, yb, data.n_classes, len(a), np.ones(len(pid))),
                        data.n_classes, min_shared)
        # the bootstrap keeps the pair set fixed: pairs that qualify in the observed data
        qualifies = np.bincount(pid, minlength=len(a)) >= max(min_shared, 2)
        keep = qualifies[pid]
        new_id = np.cumsum(qualifies) - 1
        t, pid, ya, yb = t[keep], new_id[pid[keep]], ya[keep], yb[keep]
        a = a[qualifies]
        # map original task codes to rows of c (labelled tasks only)
        row = np.cumsum(np.bincount(data.task, minlength=data.n_tasks) > 0) - 1
        t_row = row[t]
    a_boot = np.full(n_boot, np.nan)
    k_boot = np.full(n_boot, np.nan)
    B = n_boot if T > 1 else 0
    pair_boot = kind == "pairwise_cohen" and len(pid) > 0
    if pair_boot:
        K = data.n_classes
        to_pair = sp.csr_matrix((np.ones(len(pid)), (pid, np.arange(len(pid)))), shape=(len(a), len(pid)))
    for start in range(0, B, _BOOT_CHUNK):
        m = min(_BOOT_CHUNK, B - start)
        draws = rng.integers(0, T, (m, T)) + (np.arange(m) * T)[:, None]
        wts = np.bincount(draws.ravel(), minlength=m * T).reshape(m, T).astype(np.float64)
        a_boot[start:start + m] = _alpha_from_stats(wts @ a_stats)
        if kind == "fleiss":
            k_boot[start:start + m] = _fleiss_from_stats(wts @ k_stats)
        elif pair_boot:
            wi = wts[:, t_row].T                              # (n_instances, m)
            w2 = wi * wi
            eq = (ya == yb)[:, None]
            parts = [wi, wi * eq, w2, w2 * eq]
            parts += [wi * (ya == k)[:, None] for k in range(K)] + [wi * (yb == k)[:, None] for k in range(K)]
            per_pair = np.empty((m, len(a), len(parts)))
            for i, x in enumerate(parts):
                per_pair[:, :, i] = np.asarray(to_pair @ x).T
            k_boot[start:start + m] = _pooled(per_pair, K, min_shared)
    return AgreementSummary(alpha=alpha, alpha_ci=_ci(a_boot, level), kappa=kappa, kappa_kind=kind,
                            kappa_ci=_ci(k_boot, level), n_pairable_tasks=int((c.sum(axis=1) >= 2).sum()),
                            n_boot=int(n_boot))


# --------------------------------------------------------------------------- per task / per label

def task_agreement(data: LabelArrays) -> pd.DataFrame:
    """Per task (index = task code): n_labels, n_distinct, majority_share (max_k n_ik / n_i),
    pair_agreement (share of agreeing label pairs, sum_k n_ik(n_ik-1) / (n_i(n_i-1)); NaN
    for n_i < 2) and entropy (nats) of the raw label distribution."""
    c = _counts(data)
    n = c.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = c / n[:, None]
        pair = np.where(n >= 2, (c * (c - 1)).sum(axis=1) / (n * (n - 1)), np.nan)
        ent = -np.where(share > 0, share * np.log(np.where(share > 0, share, 1.0)), 0.0).sum(axis=1)
        maj = c.max(axis=1) / n
    return pd.DataFrame({
        "n_labels": n.astype(np.int64), "n_distinct": (c > 0).sum(axis=1).astype(np.int64),
        "majority_share": np.where(n > 0, maj, np.nan), "pair_agreement": pair,
        "entropy": np.where(n > 0, ent, np.nan),
    }, index=pd.RangeIndex(data.n_tasks, name="task"))


def agreement_by_label(data: LabelArrays, consensus) -> pd.DataFrame:
    """Per class (index = class code): label value, tasks whose consensus is that class,
    labels given, specific agreement (Fleiss 1971 / Uebersax: P(another label on the task is k |
    one label is k) = sum_i n_ik(n_ik - 1) / sum_i n_ik(n_i - 1)), mean pair agreement and mean
    consensus confidence of the tasks assigned to the class."""
    c = _counts(data)
    n = c.sum(axis=1)
    K = data.n_classes
    ta = task_agreement(data)["pair_agreement"].to_numpy()
    lab = np.asarray(consensus.labels)
    conf = consensus.confidence
    with np.errstate(invalid="ignore", divide="ignore"):
        spec = (c * (c - 1)).sum(axis=0) / (c * (n[:, None] - 1)).sum(axis=0)
    n_tasks = np.bincount(lab, minlength=K)
    ok = np.isfinite(ta)
    mean_pair = np.bincount(lab[ok], weights=ta[ok], minlength=K) / np.maximum(np.bincount(lab[ok], minlength=K), 1)
    mean_conf = np.bincount(lab, weights=conf, minlength=K) / np.maximum(n_tasks, 1)
    return pd.DataFrame({
        "label": data.classes, "n_tasks": n_tasks, "n_labels": c.sum(axis=0).astype(np.int64),
        "specific_agreement": spec,
        "mean_pair_agreement": np.where(np.bincount(lab[ok], minlength=K) > 0, mean_pair, np.nan),
        "mean_confidence": np.where(n_tasks > 0, mean_conf, np.nan),
    }, index=pd.RangeIndex(K, name="class"))
