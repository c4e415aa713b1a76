"""Agreement statistics from per-partition sufficient statistics (:mod:`analytics.agreement`).

Krippendorff's alpha and Fleiss' kappa are ratios of sums over items of per-item statistics
(``_alpha_stats``, ``_fleiss_stats``), so each item partition returns its column sums and the
client takes the ratio: the same numbers as in memory up to the order of the sums. The pooled
pairwise Cohen's kappa and the worker x worker kappa table read only the label pairs of the
busiest workers (200 and 50 by volume): each partition enumerates its instances of those pairs
(with the enumeration step and task, so the client can put them back in the in-memory order)
and the client runs the in-memory code on them, bootstrap included.

The bootstrap of alpha and Fleiss' kappa resamples tasks with replacement, T draws from T
tasks, as in memory, but drawn in two stages so no process holds a T x replicates matrix: the
client draws how many of the T draws fall in each partition (multinomial in the partitions'
task counts), and each partition draws which of its tasks they hit (multinomial, uniform),
seeded by (seed, partition). That is the same resampling distribution with other random
numbers, so its intervals agree with the in-memory ones to Monte-Carlo error, not digit for
digit; the point estimates agree to rounding.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics import agreement as ag
from analytics.engine.core import Engine, PerPart

BOOT_CHUNK = 16


def _labelled_counts(part) -> np.ndarray:
    c = ag._counts(part.data)
    return c[c.sum(axis=1) > 0]


def part_stats(part) -> dict:
    c = _labelled_counts(part)
    n = c.sum(axis=1)
    a = ag._alpha_stats(c).sum(axis=0)
    ok = n >= 2
    f = ag._fleiss_stats(c[ok]).sum(axis=0) if ok.any() else np.zeros(2 + c.shape[1])
    return {"alpha": a, "fleiss": f, "n_tasks": np.array([len(c)]), "pairable": np.array([int(ok.sum())]),
            "n_min": np.array([n.min() if len(n) else np.inf]), "n_max": np.array([n.max() if len(n) else -np.inf])}


def instances(part, workers: np.ndarray) -> dict:
    """Label pairs between the selected workers on the partition's tasks, with the enumeration
    step d and global task code (the in-memory order is by d, then task, then worker)."""
    d = part.data
    sel = np.zeros(d.n_workers, bool)
    sel[workers] = True
    keep = sel[d.worker]
    t, w, y = d.task[keep], d.worker[keep], d.label[keep]
    order = np.lexsort((w, t))
    t, w, y = t[order], w[order], y[order]
    out = {k: [] for k in ("t", "wa", "wb", "ya", "yb", "d")}
    if len(t):
        per_task = np.bincount(t)
        for step in range(1, int(per_task.max())):
            i = np.flatnonzero((t[step:] == t[:-step]) & (w[step:] != w[:-step]))
            for k, arr in zip(("t", "wa", "wb", "ya", "yb"), (t[i] + part.task_lo, w[i], w[i + step], y[i], y[i + step]),
                              strict=True):
                out[k].append(arr.astype(np.int64))
            out["d"].append(np.full(i.size, step, np.int64))
    return {k: (np.concatenate(v) if v else np.empty(0, np.int64)) for k, v in out.items()}


def _in_memory_order(inst: dict) -> dict:
    order = np.lexsort((inst["wa"], inst["t"], inst["d"]))
    return {k: v[order] for k, v in inst.items()}


def _pairs(inst: dict, W: int):
    key = inst["wa"] * W + inst["wb"]
    uniq, pid = np.unique(key, return_inverse=True)
    return pid.astype(np.int64), uniq // W, uniq % W


def _cat(*ds):
    return {k: np.concatenate([d[k] for d in ds]) for k in ds[0]}


def boot_part(part, totals: np.ndarray, seed: int, p_index: int, fleiss: bool, inst_tasks: np.ndarray) -> dict:
    """One chunk of bootstrap replicates on one partition: ``totals[r]`` draws among its labelled
    tasks; returns the weighted alpha (and Fleiss) sums and the weights of ``inst_tasks``."""
    c_all = ag._counts(part.data)
    labelled = np.flatnonzero(c_all.sum(axis=1) > 0)
    c = c_all[labelled]
    a_stats = ag._alpha_stats(c)
    rng = np.random.default_rng([int(seed), int(p_index)])
    m = len(totals)
    Tp = len(labelled)
    wts = np.stack([rng.multinomial(int(k), np.full(Tp, 1.0 / Tp)) if Tp else np.zeros(0) for k in totals]
                   ).astype(np.float64) if Tp else np.zeros((m, 0))
    out = {"alpha": wts @ a_stats if Tp else np.zeros((m, a_stats.shape[1]))}
    if fleiss:
        k_stats = ag._fleiss_stats(c) if Tp else np.zeros((0, 2 + c.shape[1]))
        out["fleiss"] = wts @ k_stats if Tp else np.zeros((m, k_stats.shape[1]))
    if inst_tasks.size:
        local = inst_tasks - part.task_lo
        mine = (local >= 0) & (local < part.n_tasks)
        row = np.full(part.n_tasks, -1)
        row[labelled] = np.arange(Tp)
        w_inst = np.zeros((m, inst_tasks.size), np.float32)
        r = row[local[mine]]
        w_inst[:, mine] = wts[:, r]
        out["inst_w"] = w_inst
    return out


def summary(eng: Engine, n_w: np.ndarray, n_boot: int = ag.N_BOOT, seed: int = 0, level: float = ag.CI_LEVEL,
            pairwise_top_n: int = ag.PAIRWISE_TOP_N, min_shared: int = ag.MIN_SHARED) -> ag.AgreementSummary:
    """:func:`analytics.agreement.agreement_summary` over item partitions (see the module docstring)."""
    L = eng.layout
    K, W = L.n_classes, L.n_workers
    s = eng.reduce(eng.map(part_stats))
    T = int(s["n_tasks"][0])
    alpha = float(ag._alpha_from_stats(s["alpha"]))
    equal = s["n_min"][0] == s["n_max"][0] and s["n_min"][0] >= 2
    inst_t = np.empty(0, np.int64)
    if equal:
        kind = "fleiss"
        kappa = float(ag._fleiss_from_stats(s["fleiss"]))
    else:
        kind = "pairwise_cohen"
        workers = _top_workers(n_w, pairwise_top_n)
        inst = _in_memory_order(eng.reduce(eng.map(instances, workers), fn=_cat) or {})
        pid, a, _ = _pairs(inst, W)
        kappa = ag._pooled(ag._instance_sums(pid, inst["ya"], inst["yb"], K, len(a), np.ones(len(pid))), K, min_shared)
        qualifies = np.bincount(pid, minlength=len(a)) >= max(min_shared, 2)
        keep = qualifies[pid]
        new_id = np.cumsum(qualifies) - 1
        pid2, ya, yb, inst_t = new_id[pid[keep]], inst["ya"][keep], inst["yb"][keep], inst["t"][keep]
        n_pairs = int(qualifies.sum())
    a_boot = np.full(n_boot, np.nan)
    k_boot = np.full(n_boot, np.nan)
    B = n_boot if T > 1 else 0
    sizes = np.asarray(eng.gather(eng.map(_n_labelled)), dtype=float)
    rng = np.random.default_rng(seed)
    u_tasks, u_inv = np.unique(inst_t, return_inverse=True) if inst_t.size else (inst_t, inst_t)
    for start in range(0, B, BOOT_CHUNK):
        m = min(BOOT_CHUNK, B - start)
        totals = rng.multinomial(T, sizes / sizes.sum(), size=m)                 # (m, partitions)
        res = eng.reduce(eng.map(boot_part, PerPart(list(totals.T)), seed + 1 + start, PerPart(range(len(sizes))),
                                 equal, u_tasks))
        a_boot[start:start + m] = ag._alpha_from_stats(res["alpha"])
        if equal:
            k_boot[start:start + m] = ag._fleiss_from_stats(res["fleiss"])
        elif inst_t.size:
            wi = res["inst_w"][:, u_inv].T.astype(np.float64)                     # (instances, m)
            k_boot[start:start + m] = _pooled_boot(wi, pid2, ya, yb, K, n_pairs, min_shared)
    return ag.AgreementSummary(alpha=alpha, alpha_ci=ag._ci(a_boot, level), kappa=kappa, kappa_kind=kind,
                               kappa_ci=ag._ci(k_boot, level), n_pairable_tasks=int(s["pairable"][0]),
                               n_boot=int(n_boot))


def _n_labelled(part) -> int:
    return int((np.bincount(part.data.task, minlength=part.n_tasks) > 0).sum())


def _pooled_boot(wi, pid, ya, yb, K, n_pairs, min_shared):
    import scipy.sparse as sp

    to_pair = sp.csr_matrix((np.ones(len(pid)), (pid, np.arange(len(pid)))), shape=(n_pairs, len(pid)))
    w2 = wi * wi
    eq = (ya == yb)[:, None]
    parts = [wi, wi * eq, w2, w2 * eq]
    parts += [wi * (ya == k)[:, None] for k in range(K)] + [wi * (yb == k)[:, None] for k in range(K)]
    per_pair = np.empty((wi.shape[1], n_pairs, len(parts)))
    for i, x in enumerate(parts):
        per_pair[:, :, i] = np.asarray(to_pair @ x).T
    return ag._pooled(per_pair, K, min_shared)


def _top_workers(n_w: np.ndarray, top_n: int) -> np.ndarray:
    order = np.lexsort((np.arange(len(n_w)), -n_w))
    top = order[: max(int(top_n), 0)]
    return np.sort(top[n_w[top] > 0])


def pair_kappa(eng: Engine, n_w: np.ndarray, top_n: int = ag.TOP_N, **kw) -> pd.DataFrame:
    """:func:`analytics.agreement.worker_pair_kappa` from the partitions' pair instances."""
    workers = _top_workers(n_w, top_n)
    inst = _in_memory_order(eng.reduce(eng.map(instances, workers), fn=_cat))
    pid, a, b = _pairs(inst, eng.layout.n_workers)
    return ag.pair_kappa_table(pid, inst["ya"], inst["yb"], a, b, eng.layout.n_classes, **kw)
