"""Co-timing: shared items answered within seconds of each other, against the crowd's own timing (§3.3).

c_ab = #{i in S_ab : |t_ai - t_bi| < delta}. Whether that is evidence depends on how an item's
answers arrive anyway: when items are served in order to a busy pool, or a team works one
queue together, every item's answers arrive within seconds and *every* pair is co-timed.
The null therefore keeps each item's arrival profile and the period it was served in:

* For a pair (a, b) on item i, the null probability that two of the item's answers fall
  within delta of each other is estimated from the *other* answer pairs of the same item,
  leaving out every pair that involves a or b (so a ring cannot explain itself away by
  being most of an item's answers):  r_i^{-ab} = tight pairs / pairs among the rest.
* Items with few answers say little, so r_i^{-ab} is shrunk towards the rate of the item's
  period (items whose first answer falls in the same ``period_s`` bin, itself shrunk to the
  whole log's rate) with ``prior_pairs`` pseudo-pairs (empirical Bayes):
  q_ab,i = (tight^{-ab}_i + m Q_period) / (pairs^{-ab}_i + m).
* A worker's statistic sums over its pair rows: O_w = sum 1[tight], E_w = sum q. A worker's
  answer to one item is tight with its partners there together or not at all (one cluster),
  so the variance of its count on item i is bounded by m_wi sum q (1 - q), m_wi its timed
  partners on the item (the design effect at intra-cluster correlation 1: conservative).
  The mean is scaled only ever upwards by the typical O/E of the crowd (empirical null,
  Efron 2004, conservative direction), estimated only when at least half of the tested
  workers (and 10) expect one co-timed answer or more, so that a few workers with tight
  items (a bot farm) cannot set their own null. Pairs: one Bernoulli row per shared item,
  Poisson tail (conservative for the Poisson-binomial). p-values from the quasi-Poisson
  tail (:func:`analytics.collusion.tails.quasi_poisson_tail`); pairs the same way.

No permutations: the cost is one pass over the pair rows (O(sum_i |W_i|^2)), and the crowd's
synchrony (served in order, shifts, daily rushes) is in the null by construction. The
previous circular-shift permutation null kept only each worker's rhythm and flagged every
worker of a crowd whose items are served in order (issue 11).

Sources: detection-methods.md §3.3 (queue-release synchrony failure mode); Efron (2004),
JASA 99:96-104 (empirical null); McCullagh & Nelder (1989) §6.2 (quasi-Poisson).
"""

from __future__ import annotations

import numpy as np

from analytics.collusion.tails import quasi_poisson_tail
from analytics.crowdstats import Crowd, fit_length, identity


def _span(first: np.ndarray, last: np.ndarray) -> tuple[float, float]:
    return float(np.min(first)), float(np.max(last))


def cotiming(times: np.ndarray, task: np.ndarray, worker: np.ndarray, la: np.ndarray, lb: np.ndarray,
             pair_index: np.ndarray, n_pairs: int, n_workers: int, window_s: float, period_s: float,
             prior_pairs: float, min_expected_for_calibration: float = 1.0) -> dict[str, np.ndarray]:
    """Observed and null co-timing counts per pair and per worker.

    Returns arrays ``pair_obs, pair_mean, pair_p`` (length n_pairs), ``worker_obs,
    worker_mean, worker_var, worker_p`` (length n_workers) and the calibration ``scale``;
    p = 1 where nothing was observed above the null.
    """
    tight, q, obs, E, V = cotiming_sums(times, task, worker, la, lb, n_workers, window_s, period_s, prior_pairs)
    PO = np.bincount(pair_index, weights=tight, minlength=n_pairs)
    PE = np.bincount(pair_index, weights=q, minlength=n_pairs)
    return cotiming_tests(obs, E, V, PO, PE, min_expected_for_calibration)


def cotiming_sums(times, task, worker, la, lb, n_workers: int, window_s: float, period_s: float, prior_pairs: float,
                  crowd: Crowd | None = None):
    """Per pair row: tight (0/1) and its null probability q; per worker: observed, expected and
    variance bound of co-timed answers (additive over partitions of items)."""
    ta, tb = times[la], times[lb]
    timed = np.isfinite(ta) & np.isfinite(tb)
    tight_b = (np.abs(ta - tb) < window_s) & timed
    q = _null_rate(times, task, la, lb, tight_b, timed, window_s, period_s, prior_pairs, crowd or Crowd())
    q = np.where(timed, q, 0.0)
    tight = tight_b.astype(float)
    timed = timed.astype(float)
    wa, wb = worker[la], worker[lb]
    # a worker's answer to an item is tight with its partners there together or not at all
    # (one cluster): the variance of its count on the item is at most m times the binomial
    # one, m = its timed partners on the item (design effect with intra-cluster correlation 1)
    n = times.shape[0]
    deg = np.bincount(la, weights=timed, minlength=n) + np.bincount(lb, weights=timed, minlength=n)
    bern = q * (1 - q)
    obs = (np.bincount(wa, weights=tight, minlength=n_workers) + np.bincount(wb, weights=tight, minlength=n_workers))
    E = np.bincount(wa, weights=q, minlength=n_workers) + np.bincount(wb, weights=q, minlength=n_workers)
    V = (np.bincount(wa, weights=deg[la] * bern, minlength=n_workers)
         + np.bincount(wb, weights=deg[lb] * bern, minlength=n_workers))
    return tight, q, obs, E, V


def cotiming_tests(obs, E, V, PO, PE, min_expected_for_calibration: float = 1.0) -> dict[str, np.ndarray]:
    """The empirical-null scale and the per-worker and per-pair p-values (see :func:`cotiming`)."""
    # empirical null (conservative direction only), estimated when most of the crowd carries
    # enough expectation: a handful of workers with tight items (a bot farm) must not set it
    enough = E >= min_expected_for_calibration
    if enough.sum() < max(10, 0.5 * (E > 0).sum()):
        enough = np.zeros_like(enough)
    scale = float(max(1.0, np.median(obs[enough] / E[enough]))) if enough.any() else 1.0
    worker_p = quasi_poisson_tail(obs, scale * E, scale * np.maximum(V, E))
    # one row per shared item: independent Bernoulli trials, Poisson tail (conservative)
    pair_p = np.where(PO > 0, quasi_poisson_tail(PO, scale * PE, scale * PE), 1.0)
    return {"pair_obs": PO, "pair_mean": scale * PE, "pair_p": pair_p,
            "worker_obs": obs, "worker_mean": scale * E, "worker_var": scale * V, "worker_p": worker_p,
            "scale": scale}


def _null_rate(times, task, la, lb, tight, timed, window_s, period_s, prior_pairs, crowd: Crowd) -> np.ndarray:
    """q per pair row: the leave-pair-out tight rate of the item, shrunk to its period's rate."""
    n = times.shape[0]
    item = task[la]
    n_items = int(task.max()) + 1 if task.size else 0
    t_f = tight.astype(float)
    ok = timed.astype(float)
    # per label: pair rows (timed) and tight pair rows that involve it
    deg = np.bincount(la, weights=ok, minlength=n) + np.bincount(lb, weights=ok, minlength=n)
    deg_t = np.bincount(la, weights=t_f, minlength=n) + np.bincount(lb, weights=t_f, minlength=n)
    item_pairs = np.bincount(item, weights=ok, minlength=n_items)
    item_tight = np.bincount(item, weights=t_f, minlength=n_items)
    rest_pairs = item_pairs[item] - deg[la] - deg[lb] + ok
    rest_tight = item_tight[item] - deg_t[la] - deg_t[lb] + t_f
    # period of an item: the bin of its first answer
    fin = np.isfinite(times)
    first = np.full(n_items, np.inf)
    np.minimum.at(first, task[fin], times[fin])
    fin_first = first[np.isfinite(first)]
    # the periods are the crowd's: from its first item to its last (partitions of items see a part)
    lo, hi = crowd.stat("cotiming.span", _span, (np.array([fin_first.min() if fin_first.size else np.inf]),
                                                  np.array([fin_first.max() if fin_first.size else -np.inf])),
                        ("min", "max"))
    t0 = lo if np.isfinite(lo) else 0.0
    period = np.floor((np.where(np.isfinite(first), first, t0) - t0) / period_s).astype(np.int64)
    n_periods = int(np.floor((hi - t0) / period_s)) + 1 if np.isfinite(hi) else 1
    per_pairs, per_tight = crowd.stat(
        "cotiming.periods", identity,
        (np.bincount(period, weights=item_pairs, minlength=n_periods), np.bincount(period, weights=item_tight,
                                                                                  minlength=n_periods)), "sum")
    per_pairs, per_tight = fit_length(per_pairs, n_periods), fit_length(per_tight, n_periods)
    tot_tight, tot_pairs = crowd.stat("cotiming.totals", identity, (np.array(item_tight.sum()),
                                                                    np.array(item_pairs.sum())), "sum")
    overall = (tot_tight + 0.5) / (tot_pairs + 1.0)
    # a period's rate, shrunk to the whole log's with as many pseudo-pairs as an item gets
    Q = (per_tight + prior_pairs * overall) / (per_pairs + prior_pairs)
    return (np.maximum(rest_tight, 0.0) + prior_pairs * Q[period[item]]) / (np.maximum(rest_pairs, 0.0) + prior_pairs)
