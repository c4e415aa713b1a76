"""Straight-lining and repeating answer patterns (detection-methods.md §2.3, §1.4).

Both tests read a worker's labels y_1..y_n in the order given (submit time, else data
order) and compare them with a null in which label t is drawn independently from
q_t = loo_t @ A_pop: what a typical worker of this crowd answers on *that* item, from the
leave-worker-out posterior of the items the worker actually saw. A queue sorted by class
therefore does not look like straight-lining (Vuurens et al. 2011's failure mode).

For straight-lining the null is sharpened to "an honest worker as accurate as this one":
q_t = acc_w p_t + (1 - acc_w)(1 - p_t)/(K - 1), with acc_w the worker's agreement with the
leave-worker-out consensus (shrunk towards the crowd's with ``shrinkage`` pseudo-labels;
an accurate worker on a sorted queue produces long runs honestly, a constant answerer's
agreement is only the class share), then tilted by the worker's personal class preference
q_t(k) ∝ q_t(k) τ_wk, τ_wk = observed / expected share of class k, clipped to
[1/``max_tilt``, ``max_tilt``] so a constant answerer cannot explain their runs away.

:class:`StraightLining` (signal ``straightline``)
    R = the longest run of identical consecutive labels. The expected number of maximal runs
    of length >= R is λ = Σ_t Σ_k (1 - q_{t-1}(k)) Π_{j=t}^{t+R-1} q_j(k) (the first factor is
    1 at the start), computed with per-class log cumulative sums, and
    p = 1 - exp(-λ) by Poisson clumping (Arratia, Goldstein & Gordon, Stat. Sci. 1990). The
    effect size is the label entropy H_w = -Σ_k f_k ln f_k (shown with the crowd's expected
    entropy for the same items).

:class:`RepeatingPattern` (signal ``pattern``)
    Periodic answering (ABAB..., ABCABC...) for lags L = 2..``max_period``: m_L = #{t :
    y_t = y_{t-L} and y_t != y_{t-1}} (the second condition keeps constant answerers out of
    this signal), with null probability e_t = Σ_k q_t(k) q_{t-L}(k) (1 - q_{t-1}(k)) under the
    same personal null as straight-lining (with the crowd's typical q_t instead, honest
    class-biased workers on an 85/15 crowd fired at p < 0.01 five times as often as nominal).
    p_L = P(Poisson(Σe) >= m_L) (conservative for the Poisson-binomial, Hoeffding 1956; shown
    as the equivalent normal z), Bonferroni over the lags. The effect size is the share of positions that repeat the pattern. This
    is the vectorised stand-in for a zlib compression ratio (§2.3): both measure periodicity,
    but lag agreement has a null distribution.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analytics.behaviour.context import BehaviourContext, check_fraction, fmt_p, iso
from analytics.consensus import Consensus, argmax_lowest
from analytics.crowdstats import ratio_of_sums
from analytics.dataset import LabelArrays
from analytics.errors import UserError
from analytics.evidence import empty_signals, make_signals

_FLOOR = 1e-12


def _entropy(counts: np.ndarray) -> np.ndarray:
    f = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.0 - np.where(f > 0, f * np.log(f), 0.0).sum(axis=1) + 0.0   # no '-0.00' in reasons


def _any(flags: np.ndarray) -> bool:
    return bool(np.asarray(flags).any())


def personal_null(data: LabelArrays, ctx: BehaviourContext, shrinkage: float, max_accuracy: float,
                  max_tilt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """q_t in the workers' time order: an honest worker as accurate as this one, tilted by
    their class preference (see the module docstring); rows sum to 1. Also returns each
    worker's observed class counts and the counts expected before the tilt (W x K)."""
    W, K = data.n_workers, data.n_classes
    y = data.label[ctx.order]
    g = ctx.worker_sorted
    loo = ctx.loo[ctx.order]
    agree = (y == argmax_lowest(loo)).astype(float)
    n_w = np.maximum(ctx.counts, 1)
    crowd_acc = ctx.crowd.stat("personal_null.agreement", ratio_of_sums,
                               (np.array(agree.sum()), np.array(float(agree.size))), "sum")
    acc = (np.bincount(g, weights=agree, minlength=W) + shrinkage * crowd_acc) / (n_w + shrinkage)
    acc = np.clip(acc, 1.0 / K, max_accuracy)[g][:, None]
    q = acc * loo + (1.0 - acc) * (1.0 - loo) / max(K - 1, 1)
    obs = np.zeros((W, K))
    np.add.at(obs, (g, y), 1.0)
    expc = np.stack([np.bincount(g, weights=q[:, k], minlength=W) for k in range(K)], axis=1)
    tilt = np.clip((obs + 0.5) / (expc + 0.5), 1.0 / max_tilt, max_tilt)
    q = q * tilt[g]
    return np.clip(q / q.sum(axis=1, keepdims=True), _FLOOR, 1.0), obs, expc


@dataclass
class StraightLining:
    """Longest run of identical answers against chance, with the label entropy.

    Example
    -------
    >>> from analytics.aggregate import aggregate
    >>> from analytics.examples import names, tiny_crowd
    >>> data = tiny_crowd()          # 60 items, 24 honest workers and 8 planted ones (analytics.examples)
    >>> det = StraightLining().fit(data, aggregate(data, "ds"))
    >>> names(data, det.signals_.query("fired"))
    ['constant']

    Attributes
    ----------
    min_labels : workers with fewer labels are not tested
    alpha : fires when p is below this ...
    min_run : ... and the longest run has at least this many labels
    max_tilt : largest personal class tilt (observed / expected share) the null allows
    shrinkage : pseudo-labels at the crowd's agreement added to the worker's agreement
    max_accuracy : cap on the worker accuracy used by the null
    max_items : how many item ids the evidence lists
    """

    min_labels: int = 10
    alpha: float = 1e-3
    min_run: int = 8
    max_tilt: float = 2.0
    shrinkage: float = 10.0
    max_accuracy: float = 0.995
    max_items: int = 20

    scores_: pd.DataFrame = field(init=False, repr=False)
    signals_: pd.DataFrame = field(init=False, repr=False)

    def fit(self, data: LabelArrays, consensus: Consensus, context: BehaviourContext | None = None):
        check_fraction("alpha", self.alpha)
        W, K = data.n_workers, data.n_classes
        ctx = context or BehaviourContext.build(data, consensus)
        cols = ["straightline_longest_run", "straightline_expected_runs", "straightline_entropy",
                "straightline_expected_entropy", "straightline_p"]
        self.scores_ = pd.DataFrame(np.nan, index=pd.RangeIndex(W, name="worker"), columns=cols)
        self.signals_ = empty_signals()
        tested = ctx.counts >= self.min_labels
        if not ctx.crowd.stat("straightline.any_tested", _any, (np.array([tested.any()]),), "max"):
            return self
        n = ctx.order.shape[0]
        y = data.label[ctx.order]
        g = ctx.worker_sorted
        q, obs, expc = personal_null(data, ctx, self.shrinkage, self.max_accuracy, self.max_tilt)

        # runs: boundaries where worker or label changes
        new = np.ones(n, dtype=bool)
        new[1:] = (g[1:] != g[:-1]) | (y[1:] != y[:-1])
        run_start = np.flatnonzero(new)
        run_len = np.diff(np.append(run_start, n))
        run_w = g[run_start]
        longest = np.zeros(W, dtype=np.int64)
        np.maximum.at(longest, run_w, run_len)
        order_runs = np.lexsort((-run_start, run_len, run_w))   # per worker: longest, earliest last
        last = np.flatnonzero(np.append(run_w[order_runs][1:] != run_w[order_runs][:-1], True))
        best_start = np.full(W, -1, dtype=np.int64)
        best_start[run_w[order_runs][last]] = run_start[order_runs][last]

        # expected number of maximal runs of length >= R_w (Poisson clumping)
        L = np.vstack([np.zeros((1, K)), np.cumsum(np.log(q), axis=0)])   # (n+1, K)
        R = longest[g]
        idx = np.arange(n)
        end = idx + R                                  # exclusive end of a run starting at t
        w_end = ctx.starts[g] + ctx.counts[g]
        ok = end <= w_end
        first = idx == ctx.starts[g]
        prev = np.where(first, 0, idx - 1)
        log_run = L[np.where(ok, end, idx)] - L[idx]   # (n, K), meaningless where not ok
        decl = np.where(first[:, None], 1.0, 1.0 - q[prev])
        term = (decl * np.exp(log_run)).sum(axis=1)
        term = np.where(ok, term, 0.0)
        lam = np.bincount(g, weights=term, minlength=W)
        p = -np.expm1(-lam)
        p = np.where(longest <= 1, 1.0, p)

        counts = obs
        ent = _entropy(counts)
        exp_ent = _entropy(expc)
        fired = tested & (p < self.alpha) & (longest >= self.min_run)

        sc = self.scores_
        sc.loc[tested, "straightline_longest_run"] = longest[tested]
        sc.loc[tested, "straightline_expected_runs"] = lam[tested]
        sc.loc[tested, "straightline_entropy"] = ent[tested]
        sc.loc[tested, "straightline_expected_entropy"] = exp_ent[tested]
        sc.loc[tested, "straightline_p"] = p[tested]

        if ctx.crowd.provisional:                    # reasons only once the crowd's numbers are final
            return self
        workers = np.flatnonzero(tested)
        t_s = ctx.time_sorted
        reasons, evidence = [], []
        for w in workers:
            s = int(best_start[w])
            r = int(longest[w])
            cls = data.classes[y[s]]
            top = counts[w].argmax()
            reasons.append(
                f"gave the same answer '{cls}' {r} times in a row (chance p={fmt_p(p[w])}); "
                f"{counts[w, top] / ctx.counts[w]:.0%} of their {ctx.counts[w]} answers are "
                f"'{data.classes[top]}', label entropy {ent[w]:.2f} vs {exp_ent[w]:.2f} expected")
            evidence.append({
                "longest_run": r,
                "run_label": str(cls),
                "run_first_label": int(s - ctx.starts[w]),
                "run_start": iso(t_s[s]) if t_s is not None else None,
                "run_end": iso(t_s[s + r - 1]) if t_s is not None else None,
                "expected_runs_this_long": float(lam[w]),
                "entropy": float(ent[w]),
                "expected_entropy": float(exp_ent[w]),
                "label_counts": {str(c): int(v) for c, v in zip(data.classes, counts[w], strict=True)},
                "order": "time" if ctx.time_ordered else "data",
                "items": data.task_ids[data.task[ctx.order[s:s + min(r, self.max_items)]]].tolist(),
            })
        self.signals_ = make_signals(workers, "straightline", longest[workers], p[workers], fired[workers],
                                     reasons, evidence)
        return self


@dataclass
class RepeatingPattern:
    """Periodic answer patterns (ABAB, ABCABC, ...) by lag agreement against chance.

    Example
    -------
    >>> from analytics.aggregate import aggregate
    >>> from analytics.examples import names, tiny_crowd
    >>> data = tiny_crowd()          # 60 items, 24 honest workers and 8 planted ones (analytics.examples)
    >>> det = RepeatingPattern().fit(data, aggregate(data, "ds"))
    >>> names(data, det.signals_.query("fired"))
    ['cycler']

    Attributes
    ----------
    max_period : longest period L tested (lags 2..max_period)
    min_labels : workers with fewer labels are not tested
    alpha : fires when the Bonferroni p-value is below this ...
    min_share : ... and at least this share of positions repeat the pattern
    period_tolerance : the reported period is the shortest lag whose z is at least this
        fraction of the best lag's z
    shrinkage, max_accuracy, max_tilt : the personal null, as for :class:`StraightLining`
    max_items : how many item ids the evidence lists
    """

    max_period: int = 6
    period_tolerance: float = 0.8
    shrinkage: float = 10.0
    max_accuracy: float = 0.995
    max_tilt: float = 2.0
    min_labels: int = 12
    alpha: float = 1e-3
    min_share: float = 0.5
    max_items: int = 20

    scores_: pd.DataFrame = field(init=False, repr=False)
    signals_: pd.DataFrame = field(init=False, repr=False)

    def fit(self, data: LabelArrays, consensus: Consensus, context: BehaviourContext | None = None):
        if self.max_period < 2:
            raise UserError("setting max_period must be at least 2 (period 1 is straight-lining)")
        check_fraction("alpha", self.alpha)
        W = data.n_workers
        ctx = context or BehaviourContext.build(data, consensus)
        cols = ["pattern_period", "pattern_share", "pattern_expected_share", "pattern_z", "pattern_p"]
        self.scores_ = pd.DataFrame(np.nan, index=pd.RangeIndex(W, name="worker"), columns=cols)
        self.signals_ = empty_signals()
        tested = ctx.counts >= self.min_labels
        if data.n_classes < 2 or not ctx.crowd.stat("pattern.any_tested", _any, (np.array([tested.any()]),), "max"):
            return self
        y = data.label[ctx.order]
        g = ctx.worker_sorted
        q, _, _ = personal_null(data, ctx, self.shrinkage, self.max_accuracy, self.max_tilt)
        pos = ctx.position_in_worker()
        lags = np.arange(2, self.max_period + 1)
        res = np.zeros((len(lags), 5, W))     # obs, exp, var, n, z
        for li, lag in enumerate(lags):
            # position t (>= lag within its worker) against t-1 and t-lag: contiguous slices
            ok = pos[lag:] >= lag
            yt, y1, yl = y[lag:], y[lag - 1:-1], y[:-lag]
            qt, q1, ql = q[lag:], q[lag - 1:-1], q[:-lag]
            hit = ok & (yt == yl) & (yt != y1)
            e = np.where(ok, np.einsum("ij,ij,ij->i", qt, ql, 1.0 - q1), 0.0)
            gi = g[lag:]
            obs = np.bincount(gi, weights=hit, minlength=W)
            ex = np.bincount(gi, weights=e, minlength=W)
            var = np.bincount(gi, weights=e * (1 - e), minlength=W)
            cnt = np.bincount(gi, weights=ok, minlength=W)
            # upper tail of the count: Poisson, which bounds the Poisson-binomial above its mean
            # (Hoeffding 1956); a normal tail turned 2 hits against 0.05 expected into p ~ 1e-11
            lp = np.where(obs > ex, stats.poisson.logsf(obs - 1, np.maximum(ex, 1e-12)), 0.0)
            z = stats.norm.isf(np.clip(np.exp(lp), 1e-300, 0.5))
            res[li] = obs, ex, var, cnt, z
        zs = res[:, 4]
        # the shortest period whose evidence is close to the best (ABAB also repeats at lag 4)
        zmax = zs.max(axis=0)
        best = np.argmax(zs >= np.where(zmax > 0, self.period_tolerance * zmax, zmax), axis=0)
        wi = np.arange(W)
        z = zs[best, wi]
        obs, ex, cnt = res[best, 0, wi], res[best, 1, wi], res[best, 3, wi]
        p = np.minimum(stats.norm.sf(zmax) * len(lags), 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = obs / cnt
            exp_share = ex / cnt
        period = lags[best]
        fired = tested & (p < self.alpha) & (share >= self.min_share)

        sc = self.scores_
        sc.loc[tested, "pattern_period"] = period[tested]
        sc.loc[tested, "pattern_share"] = share[tested]
        sc.loc[tested, "pattern_expected_share"] = exp_share[tested]
        sc.loc[tested, "pattern_z"] = z[tested]
        sc.loc[tested, "pattern_p"] = p[tested]
        if ctx.crowd.provisional:                    # reasons only once the crowd's numbers are final
            return self
        workers = np.flatnonzero(tested)
        reasons, evidence = [], []
        for w in workers:
            s = int(ctx.starts[w])
            head = ctx.order[s:s + self.max_items]
            seq = [str(c) for c in data.classes[data.label[head]]]
            reasons.append(
                f"answers repeat with period {period[w]} on {share[w]:.0%} of their labels where chance "
                f"gives {exp_share[w]:.0%} (p={fmt_p(p[w])}), e.g. {' '.join(seq[:8])}")
            evidence.append({
                "period": int(period[w]),
                "repeat_share": float(share[w]),
                "expected_share": float(exp_share[w]),
                "z": float(z[w]),
                "first_labels": seq,
                "order": "time" if ctx.time_ordered else "data",
                "items": data.task_ids[data.task[head]].tolist(),
            })
        self.signals_ = make_signals(workers, "pattern", share[workers], p[workers], fired[workers],
                                     reasons, evidence)
        return self
