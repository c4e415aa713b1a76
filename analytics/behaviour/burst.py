"""Burst labelling: too many labels in a short window (detection-methods.md §2.1).

Own baseline
    Crowd work arrives in pages, so a per-second Poisson rate would call every page a burst.
    Instead, for each window length τ (default 1, 5 and 15 minutes) the worker's timeline
    is cut into τ-bins and the baseline μ_w(τ) is the median count over the worker's
    *active* bins (bins with at least one label): what a busy τ usually looks like for this
    worker, a robust level that one burst does not move. Workers with few active bins have
    no baseline of their own (a new bot account is all burst), so μ_w(τ) is shrunk towards
    the crowd's median level with ``baseline_prior_bins`` pseudo-bins (empirical Bayes):
    μ = (b_w μ_w + m μ_crowd) / (b_w + m) for b_w active bins. The busiest sliding window
    N_w(τ) = max_t #{labels in [t, t+τ)} is found by one searchsorted over labels sorted by
    (worker, time). Its single-window tail p₁ = P(N >= n) is taken under a negative
    binomial (Gamma-Poisson) with mean μ_w(τ) and the dispersion φ(τ) (variance μ + φ μ²)
    pooled by moments over the workers' active-bin counts (Poisson when φ = 0). Because the
    busiest of many windows is chosen, it is corrected for the m = 2 x (active bins) windows
    scanned (a Bonferroni-type bound on the scan statistic, Kulldorff 1997):
    p = 1 - (1 - p₁)^m, then Bonferroni over the window lengths.

Population
    x_w(τ) = log(1 + N_w(τ)); the robust z-score z = 0.6745 (x - median) / MAD across
    workers (Iglewicz & Hoaglin 1993), maximised over τ, flags workers whose peak rate is
    far above the crowd's even when they have no quieter history of their own (new bot
    accounts). Its p-value is the one-sided Student-t tail with ``pop_tail_df`` degrees of
    freedom: across real workers robust z is far heavier-tailed than normal (on
    crowdflower_medical_relations 7% of workers exceed z = 3.5, where a normal gives 0.02%
    and t with 5 df 0.9%), so a normal tail would turn every fast-paced honest worker into
    overwhelming evidence.

The signal's p-value is the Bonferroni minimum of the two. Sources: Kulldorff, "A spatial
scan statistic", Comm. Stat. 1997; Iglewicz & Hoaglin, "How to detect and handle outliers",
ASQC 1993; Cameron & Trivedi, "Regression analysis of count data" (NB2 dispersion).

Example
-------
>>> det = BurstDetector(windows_s=(60, 300)).fit(data, consensus)   # doctest: +SKIP
>>> det.signals_.query("fired")[["worker", "reason"]]                 # doctest: +SKIP
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
    fmt_duration,
    fmt_p,
    group_argmax,
    grouped_median,
    iso,
    robust_z,
)
from analytics.consensus import Consensus
from analytics.dataset import LabelArrays
from analytics.errors import UserError
from analytics.evidence import empty_signals, make_signals

SIGNAL = "burst"


def _window_name(seconds: float) -> str:
    """'1-minute', '15-minute', '45-second', '2-hour' for reason sentences."""
    if seconds < 60 or seconds % 60:
        return f"{seconds:.0f}-second"
    if seconds < 3600 or seconds % 3600:
        return f"{seconds / 60:.0f}-minute"
    return f"{seconds / 3600:.0f}-hour"


@dataclass
class BurstDetector:
    """Sliding-window burst test against the worker's own rate and against the crowd.

    Example
    -------
    >>> det = BurstDetector().fit(data, aggregate(data, "ds"))          # doctest: +SKIP
    >>> det.signals_.query("fired")[["worker", "score", "p_value", "reason"]]  # doctest: +SKIP

    Attributes
    ----------
    windows_s : window lengths τ in seconds
    min_labels : workers with fewer timed labels are not tested (NaN scores)
    alpha : the detector fires when the combined p-value is below this ...
    min_rate_ratio : ... and the busiest window holds at least this many times the
        expected count λ_w τ, or the population robust z exceeds ``z_threshold``
    min_count : a window must hold at least this many labels to fire
    z_threshold : Iglewicz-Hoaglin cut-off on the population robust z (3.5)
    baseline_prior_bins : pseudo-bins at the crowd's median level added to each worker's
        own baseline (weight of the population for workers with little history)
    pop_tail_df : degrees of freedom of the Student-t tail that turns the population z
        into a p-value
    dispersion : "pooled" (negative binomial with the pooled moment estimate), "poisson",
        or a fixed NB dispersion φ >= 0
    max_items : how many item ids the evidence lists
    """

    windows_s: tuple[float, ...] = (60.0, 300.0, 900.0)
    min_labels: int = 10
    alpha: float = 1e-3
    min_rate_ratio: float = 5.0
    min_count: int = 8
    z_threshold: float = 3.5
    pop_tail_df: float = 5.0
    baseline_prior_bins: float = 5.0
    dispersion: str | float = "pooled"
    max_items: int = 20

    scores_: pd.DataFrame = field(init=False, repr=False)
    signals_: pd.DataFrame = field(init=False, repr=False)
    dispersion_: dict = field(init=False, default_factory=dict)

    def _validate(self) -> None:
        if not self.windows_s:
            raise UserError("setting windows_s needs at least one window length")
        for w in self.windows_s:
            check_positive("windows_s", w)
        check_fraction("alpha", self.alpha)
        if not (self.dispersion in ("pooled", "poisson") or
                (isinstance(self.dispersion, (int, float)) and self.dispersion >= 0)):
            raise UserError("setting dispersion must be 'pooled', 'poisson' or a number >= 0")

    def fit(self, data: LabelArrays, consensus: Consensus, context: BehaviourContext | None = None):
        self._validate()
        W = data.n_workers
        cols = ["burst_count", "burst_window_s", "burst_expected", "burst_rate_ratio", "burst_pop_z",
                "burst_p"]
        self.scores_ = pd.DataFrame(np.nan, index=pd.RangeIndex(W, name="worker"), columns=cols)
        self.signals_ = empty_signals()
        if not data.has_time:
            return self
        ctx = context or BehaviourContext.build(data, consensus)
        t_all = ctx.time_sorted
        valid = np.isfinite(t_all)
        pos = np.flatnonzero(valid)                 # positions in the sorted order
        t = t_all[valid]
        g = ctx.worker_sorted[valid].astype(np.int64)
        n_timed = np.bincount(g, minlength=W)
        tested = n_timed >= self.min_labels
        if not tested.any():
            return self

        t0 = t.min()
        taus = np.asarray(self.windows_s, dtype=float)
        span = (t.max() - t0) + taus.max() + 1.0
        key = (t - t0) + g * span                   # strictly grouped, time-increasing key

        best = {}
        disp = {}
        for tau in taus:
            # own baseline: median count of the worker's active tau-bins
            b = np.floor((t - t0) / tau).astype(np.int64)
            nb = int(b.max()) + 1
            uniq, bcount = np.unique(g * nb + b, return_counts=True)
            bw = (uniq // nb).astype(np.int64)
            bcount = bcount.astype(float)
            n_active = np.bincount(bw, minlength=W)
            mu_own = np.maximum(grouped_median(bcount, bw, W), 1.0)
            mu_crowd = float(np.median(mu_own[tested]))
            m0 = self.baseline_prior_bins
            mu = (n_active * np.nan_to_num(mu_own) + m0 * mu_crowd) / (n_active + m0)
            phi = self._dispersion(bcount, bw, W)
            disp[float(tau)] = phi
            end = np.searchsorted(key, key + tau, side="left")
            cnt = (end - np.arange(key.shape[0])).astype(float)
            peak, at = group_argmax(cnt, g, W)
            peak = np.where(np.isfinite(peak), peak, 0.0)
            p1 = self._tail(peak, mu, phi)
            m = np.maximum(2.0 * n_active, 1.0)
            p_scan = -np.expm1(m * np.log1p(-np.minimum(p1, 1 - 1e-16)))
            z = robust_z(np.log1p(peak), mask=tested)
            best[tau] = (peak, at, mu, np.clip(p_scan, 0, 1), z, n_active)
        self.dispersion_ = disp

        k = len(taus)
        p_own = np.stack([best[tau][3] for tau in taus])          # (k, W)
        z_pop = np.stack([best[tau][4] for tau in taus])
        i_own = np.argmin(p_own, axis=0)
        i_pop = np.argmax(z_pop, axis=0)
        wi = np.arange(W)
        p_own_min = np.minimum(p_own[i_own, wi] * k, 1.0)
        z_max = z_pop[i_pop, wi]
        p_pop = np.minimum(stats.t.sf(z_max, self.pop_tail_df) * k, 1.0)
        p = np.minimum(2 * np.minimum(p_own_min, p_pop), 1.0)
        # window shown: the one with the stronger evidence
        use_pop = p_pop < p_own_min
        i_show = np.where(use_pop, i_pop, i_own)
        peak = np.stack([best[tau][0] for tau in taus])[i_show, wi]
        at = np.stack([best[tau][1] for tau in taus])[i_show, wi]
        mu = np.stack([best[tau][2] for tau in taus])[i_show, wi]
        bins = np.stack([best[tau][5] for tau in taus])[i_show, wi]
        tau_show = taus[i_show]
        ratio = peak / mu
        fired = tested & (peak >= self.min_count) & (
            ((p_own_min < self.alpha) & (ratio >= self.min_rate_ratio)) | (z_max > self.z_threshold))
        fired &= p < self.alpha

        sc = self.scores_
        sc.loc[tested, "burst_count"] = peak[tested]
        sc.loc[tested, "burst_window_s"] = tau_show[tested]
        sc.loc[tested, "burst_expected"] = mu[tested]
        sc.loc[tested, "burst_rate_ratio"] = ratio[tested]
        sc.loc[tested, "burst_pop_z"] = z_max[tested]
        sc.loc[tested, "burst_p"] = p[tested]

        workers = np.flatnonzero(tested)
        reasons, evidence = [], []
        task_sorted = data.task[ctx.order]
        for w in workers:
            a = int(at[w])
            tau = float(tau_show[w])
            n_in = int(peak[w])
            sl = pos[a:a + n_in]                    # sorted positions inside the window
            items = data.task_ids[task_sorted[sl[: self.max_items]]].tolist()
            if bins[w] >= self.baseline_prior_bins:
                usual = f"usually {mu[w]:.0f} per active {_window_name(tau)} window"
            else:
                usual = f"{mu[w]:.0f} expected from the crowd's pace; little history of their own"
            reasons.append(
                f"answered {n_in} items in {fmt_duration(tau)}, {ratio[w]:.0f}x their usual rate "
                f"({usual}); peak rate {z_max[w]:+.1f} robust SD from the crowd (p={fmt_p(p[w])})"
                if ratio[w] >= 1.5 else
                f"busiest {fmt_duration(tau)} held {n_in} labels, {ratio[w]:.1f}x their usual rate "
                f"({usual}); peak rate {z_max[w]:+.1f} robust SD from the crowd"
            )
            evidence.append({
                "window_seconds": tau,
                "window_start": iso(t[a]),
                "window_end": iso(t[a + n_in - 1]),
                "count": n_in,
                "expected": float(mu[w]),
                "rate_ratio": float(ratio[w]),
                "baseline_per_window": float(mu[w]),
                "active_windows": int(bins[w]),
                "population_robust_z": float(z_max[w]),
                "p_own_baseline": float(p_own_min[w]),
                "p_population": float(p_pop[w]),
                "dispersion": float(self.dispersion_[tau]),
                "items": items,
            })
        self.signals_ = make_signals(workers, SIGNAL, ratio[workers], p[workers], fired[workers],
                                     reasons, evidence)
        return self

    # ------------------------------------------------------------------ internals
    def _dispersion(self, hcount: np.ndarray, hw: np.ndarray, W: int) -> float:
        if self.dispersion == "poisson":
            return 0.0
        if not isinstance(self.dispersion, str):
            return float(self.dispersion)
        n = np.bincount(hw, minlength=W)
        s1 = np.bincount(hw, weights=hcount, minlength=W)
        s2 = np.bincount(hw, weights=hcount ** 2, minlength=W)
        ok = n >= 3
        if not ok.any():
            return 0.0
        m = s1[ok] / n[ok]
        v = (s2[ok] - n[ok] * m ** 2) / (n[ok] - 1)
        phi = np.maximum((v - m) / m ** 2, 0.0)
        return float(np.median(phi))

    @staticmethod
    def _tail(count: np.ndarray, mu: np.ndarray, phi: float) -> np.ndarray:
        """P(N >= count) under Poisson(mu) or NB(mean mu, dispersion φ)."""
        if not phi > 0:
            return stats.poisson.sf(count - 1, mu)
        r = 1.0 / phi
        return stats.nbinom.sf(count - 1, r, r / (r + mu))
