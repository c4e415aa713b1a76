"""Co-timing: shared items answered within seconds of each other, with a permutation null (§3.3).

c_ab = #{i in S_ab : |t_ai - t_bi| < delta}. The null keeps each worker's own rhythm and
breaks only the alignment between workers: every worker's timeline is circularly shifted by
an independent random offset u_w (uniform in [min_shift, max_shift] seconds, random sign,
wrapped inside the worker's active span), and the counts are recomputed, ``n_permutations``
times (seeded, vectorised over all rows at once). Bounding the offset by ``max_shift`` keeps
coarse synchrony (workers online in the same minutes because a batch was released then) in
the null, so only second-level coincidence counts as evidence (the queue-release failure
mode of §3.3).

Only workers with at least ``min_cotimed`` co-timed answers (and their partners' rows) are
permuted, so the cost is B x (rows of candidate workers), not B x all rows.
p-values: the permutation moments feed the quasi-Poisson tail
(:func:`analytics.collusion.tails.quasi_poisson_tail`), which resolves p-values below
1/(B+1); the plain permutation p-value (1 + #{c* >= c}) / (B + 1) is kept as evidence.
"""

from __future__ import annotations

import numpy as np

from analytics.collusion.tails import quasi_poisson_tail


def cotiming(times: np.ndarray, worker: np.ndarray, la: np.ndarray, lb: np.ndarray, pair_index: np.ndarray,
             n_pairs: int, n_workers: int, window_s: float, n_permutations: int,
             min_shift_s: float, max_shift_s: float, min_cotimed: int, seed: int) -> dict[str, np.ndarray]:
    """Observed and null co-timing counts per pair and per worker.

    Returns arrays ``pair_obs, pair_mean, pair_p`` (length n_pairs) and ``worker_obs,
    worker_mean, worker_p, worker_perm_p`` (length n_workers); p = 1 where nothing was tested.
    """
    ta, tb = times[la], times[lb]
    wa, wb = worker[la], worker[lb]
    cot = np.abs(ta - tb) < window_s                     # NaN compares False
    pair_obs = np.bincount(pair_index, weights=cot, minlength=n_pairs)
    worker_obs = (np.bincount(wa, weights=cot, minlength=n_workers)
                  + np.bincount(wb, weights=cot, minlength=n_workers))
    out = {
        "pair_obs": pair_obs, "pair_mean": np.zeros(n_pairs), "pair_p": np.ones(n_pairs),
        "worker_obs": worker_obs, "worker_mean": np.zeros(n_workers), "worker_p": np.ones(n_workers),
        "worker_perm_p": np.ones(n_workers),
    }
    cand_w = worker_obs >= min_cotimed
    if not cand_w.any() or n_permutations < 1:
        return out
    rows = np.flatnonzero((cand_w[wa] | cand_w[wb]) & np.isfinite(ta) & np.isfinite(tb))
    if rows.size == 0:
        return out
    fin = np.isfinite(times)
    t0 = np.full(n_workers, np.inf)
    t1 = np.full(n_workers, -np.inf)
    np.minimum.at(t0, worker[fin], times[fin])
    np.maximum.at(t1, worker[fin], times[fin])
    span = np.where(np.isfinite(t0), t1 - t0, 0.0) + window_s
    ra, rb = wa[rows], wb[rows]
    xa, xb = ta[rows] - t0[ra], tb[rows] - t0[rb]
    pidx = pair_index[rows]
    rng = np.random.default_rng(seed)
    B = int(n_permutations)
    p_sum = np.zeros(n_pairs)
    p_sq = np.zeros(n_pairs)
    w_sum = np.zeros(n_workers)
    w_sq = np.zeros(n_workers)
    w_ge = np.zeros(n_workers)
    for _ in range(B):
        u = rng.uniform(min_shift_s, max_shift_s, n_workers) * rng.choice([-1.0, 1.0], n_workers)
        sa = t0[ra] + np.mod(xa + u[ra], span[ra])
        sb = t0[rb] + np.mod(xb + u[rb], span[rb])
        c = (np.abs(sa - sb) < window_s).astype(np.float64)
        pc = np.bincount(pidx, weights=c, minlength=n_pairs)
        wc = np.bincount(ra, weights=c, minlength=n_workers) + np.bincount(rb, weights=c, minlength=n_workers)
        p_sum += pc
        p_sq += pc * pc
        w_sum += wc
        w_sq += wc * wc
        w_ge += wc >= worker_obs
    floor = 1.0 / (B + 1)
    pm = p_sum / B
    pv = np.maximum(p_sq / B - pm * pm, 0.0)
    wm = w_sum / B
    wv = np.maximum(w_sq / B - wm * wm, 0.0)
    tested_p = np.zeros(n_pairs, bool)
    tested_p[np.unique(pidx)] = True
    tested_p &= pair_obs > 0
    out["pair_mean"] = pm
    out["pair_p"] = np.where(tested_p, quasi_poisson_tail(pair_obs, np.maximum(pm, floor), pv), 1.0)
    out["worker_mean"] = wm
    out["worker_p"] = np.where(cand_w, quasi_poisson_tail(worker_obs, np.maximum(wm, floor), wv), 1.0)
    out["worker_perm_p"] = np.where(cand_w, (1.0 + w_ge) / (B + 1.0), 1.0)
    return out
