"""Edit churn: an unusually high share of changed answers (issue 4, item 1).

Where the log records ``update`` events, :attr:`LabelArrays.n_edits` counts how many
earlier answers of the same worker to the same task each final answer replaced. For worker
w, k_w = #{answers with n_edits > 0} out of n_w. Workers differ in how often they fix
honest mistakes, so the null is a beta-binomial: k_w ~ BetaBinomial(n_w, a, b) with (a, b)
fitted by the method of moments across workers (Skellam 1948; the overdispersed binomial
of Williams 1975), and p = P(K >= k_w). High churners would inflate that fit, so it is
refitted ``refit_rounds`` times without the workers whose p-value is below ``alpha``
(a simple outlier-trimmed moment estimate). The effect size is the ratio of the worker's edit
rate to the crowd's pooled rate. Logs without any edit give NaN scores and no signals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analytics.behaviour.context import BehaviourContext, check_fraction, fmt_p
from analytics.consensus import Consensus
from analytics.crowdstats import Crowd
from analytics.dataset import LabelArrays
from analytics.evidence import empty_signals, make_signals


def fit_beta_binomial(k: np.ndarray, n: np.ndarray) -> tuple[float, float]:
    """Method-of-moments Beta(a, b) prior of per-unit rates from counts k out of n.

    Uses the pooled mean m and the between-unit variance of k/n minus its binomial part
    (detection-methods.md §1.6); falls back to a near-binomial prior (a + b = 1e6) when the
    data show no overdispersion.
    """
    m = k.sum() / max(n.sum(), 1)
    if m <= 0 or m >= 1:
        return float(max(m, 1e-9) * 1e6), float(max(1 - m, 1e-9) * 1e6)
    r = k / n
    v_obs = np.average((r - m) ** 2, weights=n)
    v_bin = m * (1 - m) * np.mean(1.0 / n)
    v = v_obs - v_bin
    if v <= 0:
        s = 1e6
    else:
        s = max(m * (1 - m) / v - 1.0, 1e-3)
    return float(m * s), float((1 - m) * s)


def _any(flags: np.ndarray) -> bool:
    return bool(np.asarray(flags).any())


def _trimmed_prior(k: np.ndarray, n: np.ndarray, alpha: float, refit_rounds: int) -> tuple[float, float]:
    """Beta-binomial prior of the tested workers' edit counts, refitted up to ``refit_rounds``
    times without the workers whose p-value falls below ``alpha``."""
    keep = np.ones(k.shape[0], bool)
    for _ in range(int(refit_rounds) + 1):
        a, b = fit_beta_binomial(k[keep], n[keep])
        p = stats.betabinom.sf(k - 1, n.astype(np.int64), a, b)
        new_keep = p >= alpha
        if (new_keep == keep).all() or new_keep.sum() < 3:
            break
        keep = new_keep
    return a, b


@dataclass
class EditChurnDetector:
    """Beta-binomial test of a worker's share of changed answers against the crowd.

    Example
    -------
    >>> from analytics.aggregate import aggregate
    >>> from analytics.examples import names, tiny_crowd
    >>> data = tiny_crowd()          # 60 items, 24 honest workers and 8 planted ones (analytics.examples)
    >>> # on a crowd this small one heavy editor widens the crowd's prior: alpha 0.01, not 1e-3
    >>> det = EditChurnDetector(alpha=0.01).fit(data, aggregate(data, "ds"))
    >>> names(data, det.signals_.query("fired"))
    ['editor']

    Attributes
    ----------
    min_labels : workers with fewer labels are not tested
    alpha : fires when p is below this ...
    min_ratio : ... and the worker's edit rate is at least this many times the crowd's
    refit_rounds : prior refits without the workers flagged in the previous round
    max_items : how many edited item ids the evidence lists
    """

    min_labels: int = 10
    alpha: float = 1e-3
    min_ratio: float = 3.0
    refit_rounds: int = 2
    max_items: int = 20

    scores_: pd.DataFrame = field(init=False, repr=False)
    signals_: pd.DataFrame = field(init=False, repr=False)
    prior_: tuple[float, float] | None = field(init=False, default=None)

    def fit(self, data: LabelArrays, consensus: Consensus, context: BehaviourContext | None = None):
        check_fraction("alpha", self.alpha)
        W = data.n_workers
        cols = ["churn_edited", "churn_rate", "churn_ratio", "churn_p"]
        self.scores_ = pd.DataFrame(np.nan, index=pd.RangeIndex(W, name="worker"), columns=cols)
        self.signals_ = empty_signals()
        crowd = context.crowd if context is not None else Crowd()
        edits_here = data.n_edits is not None and bool((data.n_edits > 0).any())
        if not crowd.stat("churn.any_edits", _any, (np.array([edits_here]),), "max"):
            return self
        edited = data.n_edits > 0
        n = np.bincount(data.worker, minlength=W).astype(float)
        k = np.bincount(data.worker, weights=edited, minlength=W)
        edits = np.bincount(data.worker, weights=data.n_edits, minlength=W)
        tested = n >= self.min_labels
        if not tested.any():
            return self
        # the crowd's prior, refitted without the high churners (over every partition's workers)
        a, b = crowd.stat("churn.prior", _trimmed_prior, (k[tested], n[tested], self.alpha, self.refit_rounds),
                              ("concat", "concat", "max", "max"))
        p = np.ones(W)
        p[tested] = stats.betabinom.sf(k[tested] - 1, n[tested].astype(np.int64), a, b)
        self.prior_ = (a, b)
        pooled = a / (a + b)
        rate = k / np.maximum(n, 1)
        ratio = rate / pooled
        fired = tested & (p < self.alpha) & (ratio >= self.min_ratio)
        sc = self.scores_
        sc.loc[tested, "churn_edited"] = k[tested]
        sc.loc[tested, "churn_rate"] = rate[tested]
        sc.loc[tested, "churn_ratio"] = ratio[tested]
        sc.loc[tested, "churn_p"] = p[tested]
        workers = np.flatnonzero(tested)
        ed_rows = np.flatnonzero(edited)
        ed_w = data.worker[ed_rows]
        o = np.argsort(ed_w, kind="stable")
        ed_rows, ed_w = ed_rows[o], ed_w[o]
        lo = np.searchsorted(ed_w, workers, side="left")
        hi = np.searchsorted(ed_w, workers, side="right")
        reasons, evidence = [], []
        for j, w in enumerate(workers):
            reasons.append(
                f"changed {int(k[w])} of {int(n[w])} answers ({rate[w]:.0%}), {ratio[w]:.1f}x the crowd's "
                f"{pooled:.1%} (p={fmt_p(p[w])})")
            evidence.append({
                "edited_answers": int(k[w]),
                "total_edits": int(edits[w]),
                "n_labels": int(n[w]),
                "crowd_rate": pooled,
                "items": data.task_ids[data.task[ed_rows[lo[j]:hi[j]][: self.max_items]]].tolist(),
            })
        self.signals_ = make_signals(workers, "churn", ratio[workers], p[workers], fired[workers],
                                     reasons, evidence)
        return self
