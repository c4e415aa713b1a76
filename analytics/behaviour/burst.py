"""Burst labelling: too many labels in a short window (detection-methods.md §2.1).

A burst is a worker labelling far faster than *their own usual pace*, beyond *what the crowd
does at the same time*. Both halves matter on honest crowds: fast professionals are always
fast (their pace is not a burst), and when a batch is published at 09:00 everybody races
for it (a rush that everybody joins is not a burst).

Usual pace
    A worker's pace is labels per second of sitting time: the number of gaps between
    consecutive labels of one sitting (gaps under ``session_gap_s``) over their total length
    (a page of five answers submitted at once counts five labels in one gap's time). A burst
    is judged against the worker's pace on *other days* (leave-day-out: a burst cannot raise
    its own baseline, and one long sitting is not a history), weighted by the number of
    those days d and shrunk towards the pace of a fast honest worker of this crowd (the
    ``baseline_quantile`` of the paces of workers with at least three active days) with
    ``baseline_prior_days`` pseudo-days (empirical Bayes):
    rate = (d rate_other + m rate_fast) / (d + m). A new account that does all its work in
    one sitting is compared with the crowd's fast workers; a fast professional with a
    history of fast days with itself. A window of length τ that starts at a label is
    expected to hold c + τ x rate labels, c the worker's labels per distinct submit time.

Crowd concurrency
    For each τ-bin and each worker active in it, the crowd's level L is the geometric mean
    over the *other* workers active in the bin of count / (τ x own rate) (each capped at
    ``concurrency_cap`` times, and divided by the median over all cells), shrunk towards 1
    with ``concurrency_prior_workers`` pseudo-workers: 1 when everybody works at their usual
    pace, about 2.5 in a rush where everybody works 2.5 times faster. Leaving the worker out
    and capping the others keeps a bursting account (or a few) from excusing itself. A
    window's expected count is c + τ x rate x max(1, L), L the larger level of the two bins
    it touches.

Test
    The busiest sliding window relative to its expectation, N_w(τ) = #{labels in [t, t+τ)},
    is found by one searchsorted over labels sorted by (worker, time). Its single-window
    tail p₁ = P(N >= n) is taken under a negative binomial (Gamma-Poisson) with that mean
    and the dispersion φ(τ) (variance μ + φ μ²) pooled by moments over the workers'
    active-bin counts (Poisson when φ = 0). Because the busiest of many windows is chosen,
    it is corrected for the m = 2 x (active bins) windows scanned (a Bonferroni-type bound
    on the scan statistic, Kulldorff 1997): p = 1 - (1 - p₁)^m, then Bonferroni over the
    window lengths.

    The peak rate's robust z-score against the crowd, z = 0.6745 (x - median) / MAD of
    x = log(1 + N) (Iglewicz & Hoaglin 1993), is kept as evidence but no longer tested:
    across honest workers it mostly measures who is fast (10% fast professionals sit at
    z > 3.5), and on a team of twelve equally fast people its MAD is close to zero.

Sources: Kulldorff, "A spatial scan statistic", Comm. Stat. 1997; Iglewicz & Hoaglin, "How
to detect and handle outliers", ASQC 1993; Cameron & Trivedi, "Regression analysis of count
data" (NB2 dispersion); detection-methods.md §2.1 failure modes (queue releases make
everyone burst, experts are fast).

Example
-------
>>> from analytics.aggregate import aggregate
>>> from analytics.examples import names, tiny_crowd
>>> data = tiny_crowd()          # 60 items, 24 honest workers and 8 planted ones (analytics.examples)
>>> det = BurstDetector(windows_s=(60, 300)).fit(data, aggregate(data, "ds"))
>>> names(data, det.signals_.query("fired"))
['bot']
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
    iso,
    robust_z,
)
from analytics.consensus import Consensus
from analytics.crowdstats import Crowd, fit_length, median_or
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
    """Sliding-window burst test against the worker's usual pace and the crowd's concurrent pace.

    Example
    -------
    >>> from analytics.aggregate import aggregate
    >>> from analytics.examples import names, tiny_crowd
    >>> data = tiny_crowd()          # 60 items, 24 honest workers and 8 planted ones (analytics.examples)
    >>> det = BurstDetector().fit(data, aggregate(data, "ds"))
    >>> names(data, det.signals_.query("fired"))
    ['bot']

    Attributes
    ----------
    windows_s : window lengths τ in seconds
    min_labels : workers with fewer timed labels are not tested (NaN scores)
    alpha : the detector fires when the p-value is below this ...
    min_rate_ratio : ... and the busiest window holds at least this many times its expected count
    min_count : a window must hold at least this many labels to fire
    session_gap_s : a longer pause between two labels starts a new sitting (not part of the pace)
    baseline_quantile : quantile of the pace of established workers (three or more active
        days) that a worker with little history is compared with (a fast honest worker's pace)
    baseline_prior_days : pseudo-days at that pace added to each worker's other active days
    concurrency_prior_workers : pseudo-workers at level 1 in each bin's crowd level
    concurrency_cap : one worker's relative pace counts at most this much in the crowd level
    dispersion : "pooled" (negative binomial with the pooled moment estimate), "poisson",
        or a fixed NB dispersion φ >= 0
    max_items : how many item ids the evidence lists
    """

    windows_s: tuple[float, ...] = (60.0, 300.0, 900.0)
    min_labels: int = 10
    alpha: float = 1e-3
    min_rate_ratio: float = 3.0
    min_count: int = 8
    session_gap_s: float = 1800.0
    baseline_quantile: float = 0.9
    baseline_prior_days: float = 2.0
    concurrency_prior_workers: float = 5.0
    concurrency_cap: float = 3.0
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
        check_fraction("baseline_quantile", self.baseline_quantile)
        for name in ("baseline_prior_days", "concurrency_prior_workers", "min_rate_ratio"):
            check_positive(name, getattr(self, name))
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
        valid = np.isfinite(ctx.time_sorted)
        pos = np.flatnonzero(valid)                 # positions in the sorted order
        t = ctx.time_sorted[valid]
        g = ctx.worker_sorted[valid].astype(np.int64)
        tested = np.bincount(g, minlength=W) >= self.min_labels
        crowd = ctx.crowd
        # whether anybody is tested, and the crowd's first and last timed labels (they anchor the
        # time bins), are the crowd's: a partition of workers sees only its own
        anyone = crowd.stat("burst.any_tested", _any, (np.array([tested.any()]),), "max")
        if not anyone:
            return self
        span = crowd.stat("burst.span", _span, (np.array([t.min() if t.size else np.inf]),
                                                np.array([t.max() if t.size else -np.inf])), ("min", "max"))
        pace = _Pace.build(t, g, W, self.session_gap_s, self.baseline_quantile, self.baseline_prior_days, tested,
                           crowd)
        per_tau = [self._window(t, g, W, float(tau), pace, span, crowd) for tau in self.windows_s]
        self.dispersion_ = {float(tau): r["phi"] for tau, r in zip(self.windows_s, per_tau, strict=True)}
        best = self._combine(per_tau, W)
        self._score(best, tested)
        if not crowd.provisional:                    # reasons only once the crowd's numbers are final
            self._explain(data, ctx, pos, t, best, tested, pace.days)
        return self

    def _window(self, t, g, W, tau, pace: _Pace, span: tuple[float, float], crowd: Crowd) -> dict:
        """Busiest window of length ``tau`` per worker relative to its expectation, and its p-value."""
        t0 = span[0]
        b = np.floor((t - t0) / tau).astype(np.int64)
        nb = int(np.floor((span[1] - t0) / tau)) + 1
        uniq, bcount = np.unique(g * nb + b, return_counts=True)
        bw, bbin = (uniq // nb).astype(np.int64), (uniq % nb).astype(np.int64)
        cell = pace.crowd_level(bw, bbin, bcount.astype(float), tau, nb, self.concurrency_prior_workers,
                                self.concurrency_cap, crowd)
        level = _cell_lookup(uniq, cell, g * nb + b)
        n_active = np.bincount(bw, minlength=W)
        # sliding windows [t_j, t_j + tau) inside each worker's block (key keeps workers apart)
        width = ((t.max() - t0) + tau + 1.0) if t.size else 1.0
        key = (t - t0) + g * width
        end = np.searchsorted(key, key + tau, side="left")
        cnt = (end - np.arange(key.shape[0])).astype(float)
        b_end = np.floor((t[end - 1] - t0) / tau).astype(np.int64)
        lvl = np.maximum(1.0, np.maximum(level, _cell_lookup(uniq, cell, g * nb + b_end)))
        expected = pace.clump[g] + tau * pace.rate_other * lvl
        ratio = np.where(cnt >= self.min_count, cnt / expected, cnt / expected * 1e-3)
        _, at = group_argmax(ratio, g, W)
        hit = np.maximum(at, 0)
        peak = np.where(at >= 0, cnt[hit], 0.0)
        exp_at = np.where(at >= 0, expected[hit], 1.0)
        usual = np.where(at >= 0, pace.clump + tau * pace.rate_other[hit], 1.0)
        phi = self._dispersion(bcount.astype(float), bw, W, crowd, f"burst.phi.{tau:g}")
        p1 = self._tail(peak, exp_at, phi)
        m = np.maximum(2.0 * n_active, 1.0)
        p_scan = np.clip(-np.expm1(m * np.log1p(-np.minimum(p1, 1 - 1e-16))), 0, 1)
        z = robust_z(np.log1p(peak), mask=pace.tested, crowd=crowd, key=f"burst.z.{tau:g}")
        return {"peak": peak, "at": at, "expected": exp_at, "usual": usual, "p": p_scan, "z": z,
                "active": n_active, "phi": phi, "level": exp_at / usual}

    def _combine(self, per_tau: list[dict], W: int) -> dict:
        """The window length with the strongest evidence per worker (Bonferroni over lengths)."""
        k = len(per_tau)
        p_all = np.stack([r["p"] for r in per_tau])
        i = np.argmin(p_all, axis=0)
        wi = np.arange(W)
        out = {key: np.stack([r[key] for r in per_tau])[i, wi]
               for key in ("peak", "at", "expected", "usual", "active", "level")}
        out["p"] = np.minimum(p_all[i, wi] * k, 1.0)
        out["z"] = np.max(np.stack([r["z"] for r in per_tau]), axis=0)
        out["tau"] = np.asarray(self.windows_s, dtype=float)[i]
        out["ratio"] = out["peak"] / out["expected"]
        return out

    def _score(self, best: dict, tested: np.ndarray) -> None:
        sc = self.scores_
        for col, key in (("burst_count", "peak"), ("burst_window_s", "tau"), ("burst_expected", "expected"),
                         ("burst_rate_ratio", "ratio"), ("burst_pop_z", "z"), ("burst_p", "p")):
            sc.loc[tested, col] = best[key][tested]

    def _explain(self, data, ctx, pos, t, best, tested, days) -> None:
        """Signals: one plain sentence and the window's evidence per tested worker."""
        fired = tested & (best["peak"] >= self.min_count) & (best["ratio"] >= self.min_rate_ratio) & (
            best["p"] < self.alpha)
        workers = np.flatnonzero(tested)
        reasons, evidence = [], []
        task_sorted = data.task[ctx.order]
        for w in workers:
            a, n_in, tau = int(best["at"][w]), int(best["peak"][w]), float(best["tau"][w])
            sl = pos[a:a + n_in]                    # sorted positions inside the window
            items = data.task_ids[task_sorted[sl[: self.max_items]]].tolist()
            usual = (f"{best['usual'][w]:.0f} at their usual pace on other days"
                     if days[w] - 1 >= self.baseline_prior_days else
                     f"{best['usual'][w]:.0f} at a fast worker's pace; little history of their own")
            crowd = (f", the crowd was working {best['level'][w]:.1f}x its usual pace then"
                     if best["level"][w] >= 1.2 else "")
            reasons.append(
                f"answered {n_in} items in {fmt_duration(tau)}, {best['ratio'][w]:.1f}x the expected "
                f"{best['expected'][w]:.1f} ({usual}{crowd}; p={fmt_p(best['p'][w])})")
            evidence.append({
                "window_seconds": tau, "window_start": iso(t[a]), "window_end": iso(t[a + n_in - 1]),
                "count": n_in, "expected": float(best["expected"][w]), "rate_ratio": float(best["ratio"][w]),
                "baseline_per_window": float(best["usual"][w]), "crowd_level": float(best["level"][w]),
                "active_windows": int(best["active"][w]), "active_days": int(days[w]),
                "population_robust_z": float(best["z"][w]),
                "dispersion": float(self.dispersion_[tau]), "items": items,
            })
        self.signals_ = make_signals(workers, SIGNAL, best["ratio"][workers], best["p"][workers], fired[workers],
                                     reasons, evidence)

    # ------------------------------------------------------------------ internals
    def _dispersion(self, hcount: np.ndarray, hw: np.ndarray, W: int, crowd: Crowd, key: str) -> float:
        if self.dispersion == "poisson":
            return 0.0
        if not isinstance(self.dispersion, str):
            return float(self.dispersion)
        n = np.bincount(hw, minlength=W)
        s1 = np.bincount(hw, weights=hcount, minlength=W)
        s2 = np.bincount(hw, weights=hcount ** 2, minlength=W)
        ok = n >= 3
        m = s1[ok] / n[ok]
        v = (s2[ok] - n[ok] * m ** 2) / (n[ok] - 1)
        phi = np.maximum((v - m) / m ** 2, 0.0)
        return crowd.stat(key, median_or, (phi, 0.0), ("concat", "max"))

    @staticmethod
    def _tail(count: np.ndarray, mu: np.ndarray, phi: float) -> np.ndarray:
        """P(N >= count) under Poisson(mu) or NB(mean mu, dispersion φ)."""
        if not phi > 0:
            return stats.poisson.sf(count - 1, mu)
        r = 1.0 / phi
        return stats.nbinom.sf(count - 1, r, r / (r + mu))




@dataclass
class _Pace:
    """The usual pace behind every label of the sorted timeline (see "Usual pace" in the module docstring)."""

    rate_other: np.ndarray     # (n,) labels per second on the other days (shrunk), per label
    rate: np.ndarray           # (W,) labels per second over the whole history
    clump: np.ndarray          # (W,) labels per distinct submit time (pages submitted at once)
    days: np.ndarray           # (W,) active days
    tested: np.ndarray         # (W,) bool

    @classmethod
    def build(cls, t, g, W, session_gap_s, quantile, prior_days, tested, crowd: Crowd | None = None) -> _Pace:
        gap = np.r_[np.inf, np.diff(t)]
        same_w = np.r_[False, g[1:] == g[:-1]]
        within = same_w & (gap < session_gap_s)
        gsec = np.where(within, gap, 0.0)
        day = np.floor(t / 86_400.0).astype(np.int64)
        day -= day.min()
        nd = int(day.max()) + 1
        uwd, inv = np.unique(g * nd + day, return_inverse=True)
        w_of = (uwd // nd).astype(np.int64)
        days = np.bincount(w_of, minlength=W).astype(float)
        n_wd = np.bincount(inv, weights=within.astype(float))
        s_wd = np.bincount(inv, weights=gsec)
        N = np.bincount(w_of, weights=n_wd, minlength=W)
        S = np.bincount(w_of, weights=s_wd, minlength=W)
        rate = np.where(S > 0, N / np.maximum(S, 1e-9), np.nan)
        distinct = np.bincount(g, weights=(~same_w | (gap > 0)).astype(float), minlength=W)
        clump = np.bincount(g, minlength=W) / np.maximum(distinct, 1.0)
        established = tested & (days >= 3) & np.isfinite(rate)
        rate_fast = (crowd or Crowd()).stat("burst.rate_fast", _rate_fast,
                                            (rate[established], rate[tested & np.isfinite(rate)], quantile),
                                            ("concat", "concat", "max"))
        # leave-day-out pace: labels per second of sitting time on the worker's other days
        other_s = S[w_of] - s_wd
        other_n = N[w_of] - n_wd
        has_other = other_s > 0
        rate_o = np.where(has_other, other_n / np.maximum(other_s, 1e-9), rate_fast)
        other_days = np.where(has_other, days[w_of] - 1, 0.0)
        rate_wd = (other_days * rate_o + prior_days * rate_fast) / (other_days + prior_days)
        return cls(rate_other=rate_wd[inv], rate=np.nan_to_num(rate, nan=rate_fast), clump=clump, days=days,
                   tested=tested)

    def crowd_level(self, bw: np.ndarray, bbin: np.ndarray, bcount: np.ndarray, tau: float, nb: int,
                    prior_workers: float, cap: float, crowd: Crowd | None = None) -> np.ndarray:
        """L per (worker, bin) cell: the geometric mean over the *other* workers active in the
        bin of count / (tau x own rate), each capped at ``cap`` x, normalised by the median
        cell, shrunk towards 1 with ``prior_workers`` pseudo-workers."""
        crowd = crowd or Crowd()
        rel = bcount / np.maximum(tau * self.rate[bw], 1e-9)
        med = crowd.stat(f"burst.cell_median.{tau:g}", median_or, (rel, np.nan), ("values", "max"))
        x = np.log(np.clip(rel / max(float(med), 1e-9), 1.0 / cap, cap))
        # the crowd's totals per bin (bins are global: they start at the crowd's first label)
        S, n_b = crowd.stat(f"burst.bins.{tau:g}", _pad_sums,
                            (np.bincount(bbin, weights=x, minlength=nb), np.bincount(bbin, minlength=nb).astype(float)),
                            "sum")
        S, n_b = fit_length(S, nb), fit_length(n_b, nb)
        others = n_b[bbin] - 1
        loo = (S[bbin] - x) / np.maximum(others, 1)
        return np.exp(others * loo / (others + prior_workers))


def _any(flags: np.ndarray) -> bool:
    return bool(np.asarray(flags).any())


def _span(first: np.ndarray, last: np.ndarray) -> tuple[float, float]:
    return float(np.min(first)), float(np.max(last))


def _rate_fast(established: np.ndarray, usable: np.ndarray, quantile: float) -> float:
    """The pace of a fast honest worker: ``quantile`` of the established workers' paces (or of
    every tested worker's when fewer than five are established)."""
    ref = established if established.size >= 5 else usable
    return float(np.quantile(ref, quantile)) if ref.size else 1.0 / 60.0


def _pad_sums(S: np.ndarray, n_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return S, n_b


def _cell_lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """values[k] for the sorted unique ``keys`` at each ``query`` key (all present)."""
    return values[np.searchsorted(keys, query)]
