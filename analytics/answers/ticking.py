"""Ticks almost every option, or almost none: the tell of a spammer on multi-select tasks.

A worker who ticks nearly every box (or only the catch-all one) on every item agrees with the
crowd on many options by accident, so per-option reliability can miss them. On each item the
worker answered, their number of ticked options is compared with the median of the *other*
answerers of the item; under the null of an honest worker of this crowd, ticking more or
fewer than the item's median is a coin flip (items' own difficulty and option count are
controlled by comparing within the item). The one-sided sign test (Dixon & Mood 1946) gives

    p_more = P(Binom(n_more + n_fewer, 1/2) >= n_more),   p_fewer likewise,

and the signal fires in the direction whose share of ticked options also differs from the
crowd's on the same items by :attr:`TickCount.min_ratio` (twice as many, or half as many).
The p-value (the smaller direction, Bonferroni x2) is adjusted across workers by the verdict
(Benjamini-Hochberg) like every other detector.

Input: the pseudo-task arrays of :mod:`analytics.answers.multilabel` (classes ``no``, ``yes``)
and the item index of each pseudo-task. Example::

    det = TickCount().fit(data, item_of_task)
    det.signals_[det.signals_["fired"]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analytics.evidence import empty_signals, make_signals

SIGNAL = "tick_count"


@dataclass
class TickCount:
    """Sign test of each worker's ticked options against the other answerers of the same items."""

    min_items: int = 5
    """Items (with at least one other answerer) a worker needs before the test is run."""
    min_ratio: float = 2.0
    """The worker's share of ticked options must be at least this many times the crowd's on the
    same items (or at most its inverse) for the signal to fire."""
    alpha: float = 0.01
    """Nominal p-value below which the detector's own threshold fires (the verdict adjusts it)."""

    def fit(self, data, item_of_task: np.ndarray) -> TickCount:
        W = data.n_workers
        yes = (data.label == 1).astype(np.int64)
        item = np.asarray(item_of_task)[data.task]
        key = data.worker.astype(np.int64) * (int(item.max()) + 1 if len(item) else 1) + item
        uniq, inv = np.unique(key, return_inverse=True)
        ticks = np.bincount(inv, weights=yes)
        offered = np.bincount(inv)
        a_worker = (uniq // (int(item.max()) + 1 if len(item) else 1)).astype(np.int64)
        a_item = (uniq % (int(item.max()) + 1 if len(item) else 1)).astype(np.int64)
        frame = pd.DataFrame({"w": a_worker, "i": a_item, "t": ticks, "k": offered})
        # median ticks of the *other* answerers of the item: via the sorted ticks of the item
        frame["others_med"] = _others_median(frame["i"].to_numpy(), frame["t"].to_numpy())
        frame["others_mean"] = _others_mean(frame["i"].to_numpy(), frame["t"].to_numpy())
        ok = frame["others_med"].notna()
        f = frame[ok]
        more = np.bincount(f["w"], weights=(f["t"] > f["others_med"]).astype(float), minlength=W)
        fewer = np.bincount(f["w"], weights=(f["t"] < f["others_med"]).astype(float), minlength=W)
        n_items = np.bincount(f["w"], minlength=W)
        own = np.bincount(f["w"], weights=f["t"], minlength=W)
        crowd = np.bincount(f["w"], weights=f["others_mean"], minlength=W)
        offered_w = np.bincount(f["w"], weights=f["k"], minlength=W)
        n = more + fewer
        p_more = np.where(n > 0, stats.binom.sf(more - 1, np.maximum(n, 1), 0.5), 1.0)
        p_fewer = np.where(n > 0, stats.binom.sf(fewer - 1, np.maximum(n, 1), 0.5), 1.0)
        ratio = (own + 0.5) / (crowd + 0.5)
        up = p_more <= p_fewer
        p = np.minimum(1.0, 2 * np.minimum(p_more, p_fewer))
        tested = n_items >= self.min_items
        fires = tested & (p < self.alpha) & np.where(up, ratio >= self.min_ratio, ratio <= 1 / self.min_ratio)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_own = own / np.maximum(n_items, 1)
            mean_crowd = crowd / np.maximum(n_items, 1)
            mean_offered = offered_w / np.maximum(n_items, 1)
        self.scores_ = pd.DataFrame({
            "tick_mean": np.where(tested, mean_own, np.nan),
            "tick_crowd_mean": np.where(tested, mean_crowd, np.nan),
            "tick_ratio": np.where(tested, ratio, np.nan),
        }, index=pd.RangeIndex(W, name="worker"))
        idx = np.flatnonzero(tested)
        if not len(idx):
            self.signals_ = empty_signals()
            return self
        reasons, evidence = [], []
        for wk in idx:
            direction = "more" if up[wk] else "fewer"
            if not fires[wk]:
                word = "about as many options as the others"
            elif up[wk]:
                word = "almost every option" if mean_own[wk] >= 0.7 * mean_offered[wk] else "more options than the others"
            else:
                word = "almost no option" if mean_own[wk] <= 1.0 else "fewer options than the others"
            reasons.append(
                f"ticks {word}: {mean_own[wk]:.1f} of {mean_offered[wk]:.0f} options per item on average, "
                f"the other answerers of the same items {mean_crowd[wk]:.1f}; {direction} than the others on "
                f"{int(more[wk] if up[wk] else fewer[wk])} of {int(n_items[wk])} items (sign test p={p[wk]:.2g})")
            evidence.append({"items": int(n_items[wk]), "more": int(more[wk]), "fewer": int(fewer[wk]),
                             "mean_ticked": round(float(mean_own[wk]), 3),
                             "crowd_mean_ticked": round(float(mean_crowd[wk]), 3),
                             "mean_offered": round(float(mean_offered[wk]), 3), "direction": direction})
        self.signals_ = make_signals(idx, SIGNAL, ratio[idx], p[idx], fires[idx], reasons, evidence)
        return self


def _others_median(item: np.ndarray, ticks: np.ndarray) -> np.ndarray:
    """Median ticks of the other answerers of each answer's item (NaN when alone), vectorised:
    in the item's sorted ticks v (length m), dropping position j leaves r[q] = v[q + (q >= j)]."""
    order = np.lexsort((ticks, item))
    it, tk = item[order], ticks[order].astype(float)
    n = len(it)
    if n == 0:
        return np.empty(0)
    new = np.concatenate([[True], it[1:] != it[:-1]])
    start = np.maximum.accumulate(np.where(new, np.arange(n), 0))
    sizes = np.bincount(np.cumsum(new) - 1)
    m = sizes[np.cumsum(new) - 1]
    j = np.arange(n) - start
    L = m - 1

    def r(q):
        q = np.clip(q, 0, np.maximum(L - 1, 0))
        return tk[np.clip(start + q + (q >= j), 0, n - 1)]

    odd = (L % 2) == 1
    med = np.where(odd, r((L - 1) // 2), (r(L // 2 - 1) + r(L // 2)) / 2)
    med = np.where(L >= 1, med, np.nan)
    out = np.empty(n)
    out[order] = med
    return out


def _others_mean(item: np.ndarray, ticks: np.ndarray) -> np.ndarray:
    total = np.bincount(item, weights=ticks)
    cnt = np.bincount(item)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt[item] > 1, (total[item] - ticks) / (cnt[item] - 1), np.nan)
