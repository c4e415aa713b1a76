"""Too-fast answers (detection-methods.md §2.2).

:class:`TooFastDetector` (signal ``fast``) is item-aware and accuracy-aware:

1. Item-aware speed. log d_wi = μ + a_w + b_i + ε is fitted by a two-way median polish
   (Tukey 1977, *Exploratory Data Analysis*, ch. 11) on the labels with a known duration:
   b_i is how long item i takes the crowd, a_w how fast worker w is everywhere. A label is
   *fast* when d_wi < ``fast_ratio`` · exp(μ + b_i) (a fifth of the item's typical time by
   default); a worker's speed is the robust z of a_w (Iglewicz-Hoaglin).
2. Reported with agreement. Fast-and-accurate workers exist (in act_CF_amt the fastest 5%
   of labels are the most accurate), so speed alone never fires. The null is "the worker's
   fast labels agree with the leave-worker-out consensus as often as a typical worker's
   labels on the same items would": with e_t = P(typical worker gives the consensus label on
   item t) from the population confusion matrix, k = agreements among the n_f fast labels,
   p = P(K <= k), K ~ Binomial(n_f, mean e_t) (the binomial with the mean rate is more
   dispersed than the exact Poisson-binomial, so the lower tail is conservative; Hoeffding
   1956). The detector fires when the worker is fast
   (share of fast labels >= ``min_fast_share`` or robust z <= -``z_threshold``) *and* p <
   ``alpha``.

:class:`FastSubmitRule` (signal ``toloka_fast``) reproduces the platform semantics of
Toloka's ``AssignmentSubmitTime(history_size=N, fast_submit_threshold_seconds=T)`` collector
with the rule "fast submits >= k among the last N": each label is one assignment, taken in
submit order. It has no null model (p-value NaN); it exists so a manager can apply the same
rule as on the platform.

Durations come from :meth:`LabelArrays.durations` (``duration_s``, else submitted - started),
so logs with durations but no timestamps (act_CF_amt) are supported; without any durations
both return NaN scores and no signals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analytics.behaviour.context import (
    BehaviourContext,
    check_fraction,
    check_positive,
    fmt_p,
    group_argmax,
    grouped_median,
    iso,
    robust_z,
)
from analytics.consensus import Consensus, argmax_lowest
from analytics.crowdstats import median_or
from analytics.dataset import LabelArrays
from analytics.errors import UserError
from analytics.evidence import empty_signals, make_signals


def median_polish(y: np.ndarray, row: np.ndarray, col: np.ndarray, n_rows: int, n_cols: int,
                  n_iter: int = 4) -> tuple[float, np.ndarray, np.ndarray]:
    """Two-way additive median polish y ≈ mu + a[row] + b[col] on sparse cells (Tukey 1977).

    Returns (mu, a, b) with median(a) = median(b) = 0 over the observed rows/columns.
    Each sweep is one grouped median (a lexsort), so the cost is O(n log n) per sweep.
    """
    mu = float(np.median(y))
    a = np.zeros(n_rows)
    b = np.zeros(n_cols)
    seen_r = np.bincount(row, minlength=n_rows) > 0
    seen_c = np.bincount(col, minlength=n_cols) > 0
    for _ in range(n_iter):
        b = np.nan_to_num(grouped_median(y - mu - a[row], col, n_cols))
        shift = np.median(b[seen_c])
        b -= shift
        mu += shift
        a = np.nan_to_num(grouped_median(y - mu - b[col], row, n_rows))
        shift = np.median(a[seen_r])
        a -= shift
        mu += shift
    return mu, a, b


def _any(flags: np.ndarray) -> bool:
    return bool(np.asarray(flags).any())


@dataclass
class TooFastDetector:
    """Item-aware fast answers, tested together with the worker's agreement.

    Example
    -------
    >>> from analytics.aggregate import aggregate
    >>> from analytics.examples import names, tiny_crowd
    >>> data = tiny_crowd()          # 60 items, 24 honest workers and 8 planted ones (analytics.examples)
    >>> det = TooFastDetector().fit(data, aggregate(data, "ds"))
    >>> names(data, det.signals_.query("fired"))
    ['bot']

    Attributes
    ----------
    fast_ratio : a label is fast when it took less than this fraction of the item's typical
        time exp(μ + b_i)
    min_duration_s : durations are floored here before taking logs (clock resolution)
    min_labels : workers with fewer timed labels are not tested
    min_fast_share : share of fast labels that makes a worker "fast"
    z_threshold : ... or robust z of the worker speed a_w at or below minus this
    alpha : fires when the agreement test on the fast labels has p below this
    n_iter : median-polish sweeps
    max_items : how many item ids the evidence lists
    """

    fast_ratio: float = 0.2
    min_duration_s: float = 0.5
    min_labels: int = 5
    min_fast_share: float = 0.3
    z_threshold: float = 3.5
    alpha: float = 1e-3
    n_iter: int = 4
    max_items: int = 20

    scores_: pd.DataFrame = field(init=False, repr=False)
    signals_: pd.DataFrame = field(init=False, repr=False)
    item_typical_s_: np.ndarray | None = field(init=False, default=None, repr=False)

    def fit(self, data: LabelArrays, consensus: Consensus, context: BehaviourContext | None = None):
        check_fraction("fast_ratio", self.fast_ratio)
        check_fraction("min_fast_share", self.min_fast_share)
        check_fraction("alpha", self.alpha)
        check_positive("min_duration_s", self.min_duration_s)
        W = data.n_workers
        cols = ["fast_speed", "fast_speed_z", "fast_share", "fast_agreement",
                "fast_expected_agreement", "fast_p"]
        self.scores_ = pd.DataFrame(np.nan, index=pd.RangeIndex(W, name="worker"), columns=cols)
        self.signals_ = empty_signals()
        d = data.durations()
        if d is None or not np.isfinite(d).any():
            return self
        ctx = context or BehaviourContext.build(data, consensus)
        ok = np.isfinite(d) & (d >= 0)
        y = np.log(np.maximum(d[ok], self.min_duration_s))
        wk, tk = data.worker[ok], data.task[ok]
        # the two-way fit needs every label of an item and of a worker at once; the partitioned
        # engine fits it over partitions of items and of workers and gives it here
        mu, a, b = ctx.crowd.value("fast.polish", lambda: median_polish(y, wk, tk, W, data.n_tasks, self.n_iter))
        typical = np.exp(mu + b)                        # per task
        self.item_typical_s_ = typical
        n_timed = np.bincount(wk, minlength=W)
        tested = n_timed >= self.min_labels
        if not ctx.crowd.stat("fast.any_tested", _any, (np.array([tested.any()]),), "max"):
            return self
        z = robust_z(a, mask=tested, crowd=ctx.crowd, key="fast.speed_z")
        fast = d[ok] < self.fast_ratio * typical[tk]
        cons = argmax_lowest(ctx.loo[ok])
        agree = (data.label[ok] == cons).astype(float)
        e = ctx.expected[ok][np.arange(cons.shape[0]), cons]   # typical worker's agreement
        n_fast = np.bincount(wk, weights=fast, minlength=W)
        k_fast = np.bincount(wk, weights=fast * agree, minlength=W)
        e_fast = np.bincount(wk, weights=fast * e, minlength=W)
        share = n_fast / np.maximum(n_timed, 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = k_fast / n_fast
            exp_acc = e_fast / n_fast
        p = np.where(n_fast > 0, stats.binom.cdf(k_fast, n_fast.astype(np.int64), np.nan_to_num(exp_acc)), 1.0)
        is_fast = (share >= self.min_fast_share) | (z <= -self.z_threshold)
        fired = tested & is_fast & (p < self.alpha)
        speed = np.exp(a)
        med_d = grouped_median(d[ok], wk, W)
        med_typ = grouped_median(typical[tk], wk, W)

        sc = self.scores_
        sc.loc[tested, "fast_speed"] = speed[tested]
        sc.loc[tested, "fast_speed_z"] = z[tested]
        sc.loc[tested, "fast_share"] = share[tested]
        sc.loc[tested, "fast_agreement"] = acc[tested]
        sc.loc[tested, "fast_expected_agreement"] = exp_acc[tested]
        sc.loc[tested, "fast_p"] = p[tested]

        if ctx.crowd.provisional:                    # reasons only once the crowd's numbers are final
            return self
        workers = np.flatnonzero(tested)
        rows_ok = np.flatnonzero(ok)
        fast_rows = rows_ok[fast]
        fast_w = wk[fast]
        o = np.argsort(fast_w, kind="stable")
        fast_rows, fast_w = fast_rows[o], fast_w[o]
        f_start = np.searchsorted(fast_w, workers, side="left")
        f_end = np.searchsorted(fast_w, workers, side="right")
        reasons, evidence = [], []
        for j, w in enumerate(workers):
            frac = share[w]
            if n_fast[w] > 0:
                txt = (f"answered {frac:.0%} of {n_timed[w]} items in under {self.fast_ratio:.0%} of the "
                       f"time they take others (median {med_d[w]:.0f} s vs {med_typ[w]:.0f} s), agreeing "
                       f"with the crowd on {acc[w]:.0%} of those fast answers where a typical worker "
                       f"would on {exp_acc[w]:.0%} (p={fmt_p(p[w])})")
                if not fired[w] and is_fast[w] and acc[w] >= exp_acc[w]:
                    txt += "; fast but accurate, so not flagged for speed"
            else:
                txt = f"no answer much faster than usual (median {med_d[w]:.0f} s vs {med_typ[w]:.0f} s typical)"
            reasons.append(txt)
            fr = fast_rows[f_start[j]:f_end[j]][: self.max_items]
            evidence.append({
                "n_timed": int(n_timed[w]),
                "n_fast": int(n_fast[w]),
                "fast_share": float(frac),
                "median_duration_s": float(med_d[w]),
                "median_item_typical_s": float(med_typ[w]),
                "speed_factor": float(speed[w]),
                "speed_robust_z": float(z[w]),
                "agreement_on_fast": None if n_fast[w] == 0 else float(acc[w]),
                "expected_agreement_on_fast": None if n_fast[w] == 0 else float(exp_acc[w]),
                "items": data.task_ids[data.task[fr]].tolist(),
            })
        self.signals_ = make_signals(workers, "fast", share[workers], p[workers], fired[workers],
                                     reasons, evidence)
        return self


@dataclass
class FastSubmitRule:
    """Toloka-style rule: fire when at least ``min_fast`` of the last ``history_size``
    assignments were submitted in under ``fast_submit_threshold_s`` seconds.

    Example
    -------
    >>> from analytics.aggregate import aggregate
    >>> from analytics.examples import names, tiny_crowd
    >>> data = tiny_crowd()          # 60 items, 24 honest workers and 8 planted ones (analytics.examples)
    >>> # the rule fires only with a threshold the manager chose: here 5 s
    >>> det = FastSubmitRule(fast_submit_threshold_s=5).fit(data, aggregate(data, "ds"))
    >>> names(data, det.signals_.query("fired"))
    ['bot']

    Attributes
    ----------
    history_size : N, the number of most recent assignments the rule looks at
    fast_submit_threshold_s : T in seconds; None uses ``auto_fraction`` x the project's
        median duration (Toloka sets T per task suite, so scale it with items per page)
    min_fast : k, fast submits among the last N that trigger the rule
    auto_fraction : fraction of the median duration used when T is None
    fire_on_auto : whether the rule may fire with an automatic T. By default it does not:
        a threshold derived from the data is not a policy the manager chose, and the rule
        has no null model (p-value NaN), so it is reported (scores, reason) without firing
        until ``fast_submit_threshold_s`` is set
    """

    history_size: int = 10
    fast_submit_threshold_s: float | None = None
    min_fast: int = 4
    auto_fraction: float = 0.2
    fire_on_auto: bool = False

    scores_: pd.DataFrame = field(init=False, repr=False)
    signals_: pd.DataFrame = field(init=False, repr=False)
    threshold_s_: float = field(init=False, default=float("nan"))

    def fit(self, data: LabelArrays, consensus: Consensus, context: BehaviourContext | None = None):
        if self.history_size < 1 or not (1 <= self.min_fast <= self.history_size):
            raise UserError("FastSubmitRule needs history_size >= 1 and 1 <= min_fast <= history_size")
        W = data.n_workers
        cols = ["toloka_fast_max", "toloka_fast_total", "toloka_fast_threshold_s"]
        self.scores_ = pd.DataFrame(np.nan, index=pd.RangeIndex(W, name="worker"), columns=cols)
        self.signals_ = empty_signals()
        d = data.durations()
        if d is None or not np.isfinite(d).any():
            return self
        ctx = context or BehaviourContext.build(data, consensus)
        T = self.fast_submit_threshold_s
        if T is None:
            T = self.auto_fraction * ctx.crowd.stat("toloka_fast.median_duration", median_or,
                                                    (d[np.isfinite(d)], np.nan), ("values", "max"))
        check_positive("fast_submit_threshold_s", T)
        self.threshold_s_ = T
        ds = d[ctx.order]
        fast = (np.isfinite(ds) & (ds < T)).astype(np.int64)
        c = np.concatenate([[0], np.cumsum(fast)])
        idx = np.arange(ds.shape[0])
        lo = np.maximum(idx - self.history_size + 1, ctx.starts[ctx.worker_sorted])
        roll = c[idx + 1] - c[lo]                       # fast among the last N (or fewer) labels
        W_s = ctx.worker_sorted
        tested = ctx.counts > 0
        best, first = group_argmax(roll.astype(float), W_s, W)
        best = np.where(np.isfinite(best), best, 0.0)
        total = np.bincount(W_s, weights=fast, minlength=W)
        fired = best >= self.min_fast
        advisory = self.fast_submit_threshold_s is None and not self.fire_on_auto
        sc = self.scores_
        sc["toloka_fast_max"] = np.where(tested, best, np.nan)
        sc["toloka_fast_total"] = np.where(tested, total, np.nan)
        sc["toloka_fast_threshold_s"] = np.where(tested, T, np.nan)
        if ctx.crowd.provisional:                    # reasons only once the crowd's numbers are final
            return self
        workers = np.flatnonzero(tested)
        t_s = ctx.time_sorted
        reasons, evidence = [], []
        for w in workers:
            e = int(first[w])
            s = int(lo[e])
            txt = (f"{int(best[w])} of their last {min(self.history_size, int(ctx.counts[w]))} answers were "
                   f"submitted in under {T:.1f} s (rule: {self.min_fast} of {self.history_size})")
            if advisory and fired[w]:
                txt += "; advisory only, set fast_submit_threshold_s to enforce the rule"
            reasons.append(txt)
            evidence.append({
                "history_size": self.history_size,
                "threshold_s": T,
                "min_fast": self.min_fast,
                "rule_met": bool(fired[w]),
                "advisory": advisory,
                "max_fast_in_history": int(best[w]),
                "total_fast": int(total[w]),
                "window_start": iso(t_s[s]) if t_s is not None else None,
                "window_end": iso(t_s[e]) if t_s is not None else None,
                "window_first_label": int(s - ctx.starts[w]),
                "items": data.task_ids[data.task[ctx.order[s:e + 1]]].tolist(),
            })
        self.signals_ = make_signals(workers, "toloka_fast", best[workers] / self.history_size, np.nan,
                                     fired[workers] & (not advisory), reasons, evidence)
        return self
