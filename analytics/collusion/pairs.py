"""Pairwise evidence: co-errors and excess agreement, enumerated per item (detection-methods.md §3.1-§3.2).

Pairs are enumerated inside each item only, so the cost is O(sum_i |W_i|^2), never
O(n_workers^2). Items with more than ``cap`` labels contribute a seeded random subset of
``cap`` of their labels to the enumeration (the per-worker tests in
:mod:`analytics.collusion.detector` still use every label).

For a pair (a, b) on a shared item i the *leave-pair-out* reference posterior
p^{-ab}_i (the reference without a's and b's votes) defines the reference answer
c^_i = argmax p^{-ab}_i and the independence null (Dawid & Skene 1979)

    P(y_a = y_b = k | others) = q_k = sum_c p^{-ab}_ic A_a[c,k] A_b[c,k].

* co-error: k_ab = #{i : y_ai = y_bi != c^_i}, null mean sum_i sum_{k != c^} q_k; p-value from the
  Poisson tail (conservative for the Poisson-binomial, :mod:`analytics.collusion.tails`).
  With A_w = (1 - e_w) on the diagonal this is the e_a e_b r_i null of §3.1, but the
  model-based q also charges the chance that the reference itself is wrong, which matters
  when only one or two other labels remain on the item.
* excess agreement: observed agreements minus sum_i sum_k q_k, z = (obs - E) / sqrt(sum q(1 - q)) (§3.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from analytics.collusion.reference import Reference, argmax_rows, softmax_rows
from analytics.collusion.tails import quasi_poisson_tail


@dataclass(frozen=True)
class PairRows:
    """One row per (pair, shared item): label row indices ``la``, ``lb`` with worker[la] < worker[lb]."""

    la: np.ndarray
    lb: np.ndarray


def enumerate_pairs(task: np.ndarray, worker: np.ndarray, cap: int, seed: int, row_offset: int = 0) -> PairRows:
    """All label pairs that share an item, at most ``cap`` labels per item (seeded subset).

    One uniform draw per label row, from the seeded stream; ``row_offset`` starts the stream at
    that row (a partition of items whose first label is row ``row_offset`` of the whole data
    draws exactly the numbers the whole data would give its rows)."""
    n = task.shape[0]
    bits = np.random.PCG64(seed)
    if row_offset:
        bits.advance(int(row_offset))
    rng = np.random.Generator(bits)
    order = np.lexsort((rng.random(n), task))
    ts = task[order]
    starts = np.flatnonzero(np.r_[True, ts[1:] != ts[:-1]])
    sizes = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, sizes)
    keep = rank < cap
    order = order[keep]
    sizes = np.minimum(sizes, cap)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    la_parts, lb_parts = [], []
    for s in np.unique(sizes):
        if s < 2:
            continue
        st = starts[sizes == s]
        iu, ju = np.triu_indices(int(s), 1)
        la_parts.append(order[(st[:, None] + iu[None, :]).ravel()])
        lb_parts.append(order[(st[:, None] + ju[None, :]).ravel()])
    if not la_parts:
        e = np.empty(0, np.int64)
        return PairRows(e, e)
    la = np.concatenate(la_parts).astype(np.int64)
    lb = np.concatenate(lb_parts).astype(np.int64)
    wa, wb = worker[la], worker[lb]
    swap = wa > wb
    la, lb = np.where(swap, lb, la), np.where(swap, la, lb)
    same = worker[la] == worker[lb]                      # duplicate answers of one worker
    return PairRows(la[~same], lb[~same])


def pair_row_stats(rows: PairRows, data, ref: Reference, chunk: int = 250_000) -> dict[str, np.ndarray]:
    """Per (pair, item) row: agree, co-error and their null probabilities, vectorised in chunks."""
    m = rows.la.shape[0]
    agree = np.zeros(m, bool)
    coerr = np.zeros(m, bool)
    q_agree = np.zeros(m)
    q_co = np.zeros(m)
    y, w, t = data.label, data.worker, data.task
    for s in range(0, m, chunk):
        la, lb = rows.la[s:s + chunk], rows.lb[s:s + chunk]
        p = softmax_rows(ref.logpost[t[la]] - ref.own[la] - ref.own[lb])
        c_hat = argmax_rows(p)
        q = np.einsum("nc,nck,nck->nk", p, ref.A_null[w[la]], ref.A_null[w[lb]])
        ya, yb = y[la], y[lb]
        ag = ya == yb
        agree[s:s + chunk] = ag
        coerr[s:s + chunk] = ag & (ya != c_hat)
        qa = q.sum(axis=1)
        q_agree[s:s + chunk] = qa
        q_co[s:s + chunk] = qa - q[np.arange(q.shape[0]), c_hat]
    return {"agree": agree, "coerr": coerr, "q_agree": q_agree, "q_co": q_co}


def aggregate_pairs(rows: PairRows, data, stats: dict[str, np.ndarray],
                    min_expected: float = 1.0) -> tuple[pd.DataFrame, np.ndarray]:
    """Sum the row statistics per pair. Returns the pair frame and each row's pair index.

    The co-error null mean is multiplied by kappa = max(1, median observed/expected over pairs
    with at least ``min_expected`` expected co-errors) and tested with the quasi-Poisson tail.
    """
    uniq, inv, sums = pair_sums(rows, data, stats)
    return pair_frame(uniq, sums, data.n_workers, coerror_kappa(sums, min_expected)), inv


SUM_COLUMNS = ("n_shared", "co", "eco", "ag", "eag", "vag")


def pair_sums(rows: PairRows, data, stats: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, dict]:
    """Pair keys (worker_a * W + worker_b, sorted), each row's pair index, and the per-pair sums
    :data:`SUM_COLUMNS` of the row statistics (additive: partitions of items add them up)."""
    W = np.int64(data.n_workers)
    key = data.worker[rows.la].astype(np.int64) * W + data.worker[rows.lb]
    uniq, inv = np.unique(key, return_inverse=True)
    npairs = uniq.shape[0]

    def s(x):
        return np.bincount(inv, weights=x, minlength=npairs)

    sums = {"n_shared": np.bincount(inv, minlength=npairs).astype(np.float64),
            "co": s(stats["coerr"].astype(np.float64)), "eco": s(stats["q_co"]),
            "ag": s(stats["agree"].astype(np.float64)), "eag": s(stats["q_agree"]),
            "vag": s(stats["q_agree"] * (1.0 - stats["q_agree"]))}
    return uniq, inv, sums


def coerror_kappa(sums: dict, min_expected: float = 1.0) -> float:
    """Empirical null (Efron 2004), conservative direction only: honest errors cluster on hard
    items, so the pairs' typical observed/expected co-error ratio scales the null."""
    co, eco = sums["co"], sums["eco"]
    enough = eco >= min_expected
    return float(max(1.0, np.median(co[enough] / eco[enough]))) if enough.any() else 1.0


def pair_frame(uniq: np.ndarray, sums: dict, n_workers: int, kappa: float) -> pd.DataFrame:
    """The pair table from the per-pair sums and the co-error null factor ``kappa``."""
    W = np.int64(n_workers)
    n_shared, co, eco, ag, eag, vag = (sums[c] for c in SUM_COLUMNS)
    z = (ag - eag) / np.sqrt(np.maximum(vag, 1e-9))
    frame = pd.DataFrame({
        "worker_a": (uniq // W).astype(np.int32),
        "worker_b": (uniq % W).astype(np.int32),
        "n_shared": n_shared.astype(np.int32),
        "co_errors": co.astype(np.int32),
        "expected_co_errors": eco,
        "coerror_p": quasi_poisson_tail(co, kappa * eco, kappa * kappa * eco),
        "agree": ag.astype(np.int32),
        "expected_agree": eag,
        "agree_z": z,
        "agree_p": norm.sf(z),
    })
    return frame
