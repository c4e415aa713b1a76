"""Quality drift and account takeover: Bernoulli CUSUM with onset (detection-methods.md §2.6).

x_t = 1 when the worker's t-th label (submit-time order, else data order) disagrees with the
argmax of the *leave-worker-out* posterior of its task. Items differ in difficulty (and
queues are often grouped by topic), so the in-control rate is risk-adjusted per label
(Steiner, Cook, Farewell & Treasure, Biostatistics 2000):

    p₀,t = logistic(logit e_t + β_w),   p₁,t = min(p₀,t + δ, p1_max)

where e_t = 1 - q_t[consensus] is how often a typical worker of this crowd disagrees on that
item (leave-worker-out posterior through the pooled confusion matrix) and β_w the worker's
own log-odds offset, estimated on the first ``baseline_fraction`` of their labels and shrunk
towards 0 with ``shrinkage`` pseudo-labels. Page's CUSUM of the log-likelihood ratio

    S_t = max(0, S_{t-1} + x_t ln(p₁,t/p₀,t) + (1 - x_t) ln((1 - p₁,t)/(1 - p₀,t))),  S_0 = 0

(Page 1954) is computed for all workers at once as S = C - min(0, running min C) on
per-worker cumulative sums.

- The alarm level h is calibrated by simulation so that the in-control average run length
  is at least ``arl0`` labels: ``n_sim`` in-control chains of ``sim_length`` labels, each
  label's p₀,t drawn from the run's own p₀,t values, give the per-label hazard of max S
  crossing a level s, and ARL(s) = 1 / hazard(s).
- The p-value is the simulated exceedance probability of the worker's max S over their n
  labels, P(max_{t<=n} S_t >= S* | in control) = 1 - exp(-n hazard(S*)); beyond the
  simulated range the tail is extended with the exact exponential rate of an LLR CUSUM
  (E₀[e^{X}] = 1, so P(S >= s) decays as e^{-s}; Siegmund, *Sequential Analysis*, 1985).
- A flip that only touches one class (answering '0' on every item that is really '1') barely
  moves the overall disagreement on imbalanced data, so with ``per_class`` the same CUSUM
  also runs on each class stream (the worker's labels on items whose consensus is c, offset
  shrunk towards the worker's), and the worker's p-value is the Bonferroni minimum over the
  K + 1 streams (one shared calibration: the e^{-s} tail is the same for every stream).
- The onset is the label after the last time S was 0 before its maximum, i.e. the start
  of the strongest excursion (the maximum-likelihood change point of a single sustained
  change, Page 1954); the alarm is the first crossing of h inside that excursion. A noise
  excursion earlier in a long history therefore does not pull the onset forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics.behaviour.context import (
    BehaviourContext,
    check_fraction,
    check_positive,
    fmt_p,
    group_argmax,
    iso,
)
from analytics.consensus import Consensus, argmax_lowest
from analytics.crowdstats import Crowd
from analytics.dataset import LabelArrays
from analytics.errors import UserError
from analytics.evidence import empty_signals, make_signals


def _max_or_zero(x: np.ndarray) -> float:
    return float(np.max(x)) if np.size(x) else 0.0


def _logit(v):
    return np.log(v / (1 - v))


def _increments(p0: np.ndarray, delta: float, p1_max: float) -> tuple[np.ndarray, np.ndarray]:
    p1 = np.minimum(p0 + delta, p1_max)
    return np.log(p1 / p0), np.log((1 - p1) / (1 - p0))


def _bridge_p(x: np.ndarray, e: np.ndarray, grp: np.ndarray, n_groups: int, lo: float, hi: float,
              max_offset: float) -> np.ndarray:
    """One-sided change-point p-value per contiguous group: did disagreement rise at some point?

    Under no change the worker's risk-adjusted disagreement is constant: p̂_t = logistic(logit
    e_t + β) with β fitted on *all* the group's labels (three Newton steps, so that the
    residuals r_t = x_t - p̂_t sum to zero). Their partial sums, in the variance clock
    u_t = sum_{s<=t} p̂_s (1 - p̂_s) / V, form a Brownian bridge (Donsker; the CUSUM-of-residuals
    change-point test, Brown, Durbin & Evans 1975, JRSS-B 37:149-192). A rise after some
    point pulls the partial sums below zero first, so with d = -min_t R_t / sqrt(V),
    p = P(min of a Brownian bridge <= -d) = exp(-2 d^2). Its null needs no baseline period,
    whose estimation error otherwise inflates the CUSUM's false alarms (Jones, Champ & Rigdon
    2004, Technometrics 46:87-98); the drift p-value is the larger of the two.
    """
    counts = np.bincount(grp, minlength=n_groups)
    le = _logit(e)
    beta = np.zeros(n_groups)
    k = np.bincount(grp, weights=x, minlength=n_groups)
    for _ in range(3):
        p = 1.0 / (1.0 + np.exp(-(le + beta[grp])))
        grad = k - np.bincount(grp, weights=p, minlength=n_groups)
        hess = np.bincount(grp, weights=p * (1 - p), minlength=n_groups)
        beta = np.clip(beta + grad / np.maximum(hess, 1e-9), -2 * max_offset, 2 * max_offset)
    p = np.clip(1.0 / (1.0 + np.exp(-(le + beta[grp]))), lo / 10, 1 - lo / 10)
    r = x - p
    V = np.bincount(grp, weights=p * (1 - p), minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    C = np.cumsum(r)
    R = C - np.concatenate([[0.0], C])[starts][grp]
    low, _ = group_argmax(-R, grp, n_groups)
    d = np.where(np.isfinite(low), np.maximum(low, 0.0), 0.0) / np.sqrt(np.maximum(V, 1e-12))
    return np.where(counts > 0, np.exp(-2.0 * d * d), 1.0)


def _calibrate(p0_pool: np.ndarray, delta: float, p1_max: float, arl0: float, n_sim: int,
               sim_length: int, seed: int, s_step: float = 0.05, s_max: float = 25.0):
    """Simulate in-control CUSUM chains whose per-label p0 is drawn from ``p0_pool``.

    Returns (levels, hazard[s], h, s_ref): per-label hazard of max S crossing each level,
    the alarm level reaching ARL0, and the highest level with >= 20 simulated crossings.
    """
    rng = np.random.default_rng(int(seed))
    n_sim, sim_length = int(n_sim), int(sim_length)
    S = np.zeros(n_sim)
    top = np.zeros(n_sim)
    for _ in range(sim_length):
        p0 = p0_pool[rng.integers(0, p0_pool.shape[0], size=n_sim)]
        a, b = _increments(p0, delta, p1_max)
        S += np.where(rng.random(n_sim) < p0, a, b)
        np.maximum(S, 0.0, out=S)
        np.maximum(top, S, out=top)
    levels = np.arange(0.0, s_max + s_step / 2, s_step)
    exceed = (top[:, None] >= levels[None, :]).sum(axis=0)
    frac = exceed / n_sim
    hazard = -np.log1p(-np.minimum(frac, 1 - 1e-12)) / sim_length
    hazard = np.where(exceed >= 1, hazard, 0.0)
    ok = np.flatnonzero(exceed >= 20)
    s_ref = float(levels[ok[-1]]) if ok.size else 0.0
    hz = _hazard_row(levels, hazard, s_ref, levels)
    h = float(levels[np.flatnonzero(hz <= 1.0 / arl0)[0]])
    return levels, hazard, h, s_ref


def _hazard_row(levels, hazard_row, s_ref, s):
    s = np.asarray(s, dtype=float)
    i_ref = int(round(s_ref / (levels[1] - levels[0])))
    inside = np.interp(np.minimum(s, s_ref), levels, hazard_row)
    tail = hazard_row[i_ref] * np.exp(-(s - s_ref))
    return np.where(s <= s_ref, inside, tail)


@dataclass
class DriftDetector:
    """Bernoulli CUSUM on disagreement with the leave-worker-out consensus, with onset.

    Example
    -------
    >>> from analytics.aggregate import aggregate
    >>> from analytics.examples import names, tiny_crowd
    >>> data = tiny_crowd()          # 60 items, 24 honest workers and 8 planted ones (analytics.examples)
    >>> det = DriftDetector().fit(data, aggregate(data, "ds"))
    >>> names(data, det.signals_.query("fired"))
    ['drifter']

    Attributes
    ----------
    delta : shift in disagreement rate to detect, p1 = p0 + delta
    arl0 : in-control average run length (labels) the alarm level is calibrated to
    baseline_fraction : share of a worker's first labels that estimates their offset β_w
        (0.5: on 1,500 simulated stationary workers 0.7% get p < 0.01 and 3.6% p < 0.05;
        with 0.3 the noisier offset gave 2.4% and 5.5%)
    shrinkage : pseudo-labels at the crowd's item-level rates added to that baseline
    p0_bounds : per-label p0 is clipped to this range
    max_offset : |β_w| (log-odds) is capped here
    p1_max : cap on p1
    n_sim, sim_length, seed : simulation size (chains, labels per chain) and seed
    min_labels : workers with fewer labels are not tested
    alpha : fires when the CUSUM alarms and the exceedance p-value is below this ...
    min_increase : ... and disagreement from the onset to the end of the history is at least
        this much higher than before it (a sustained change, not a bad streak)
    per_class : also run one CUSUM per consensus class (the worker's labels on items the
        crowd gives class c), Bonferroni over the K + 1 streams; None = only for two-class
        projects, where one-sided flips hide in the overall rate (on the multi-class sets
        tried, zheng_relevance in data order, class streams doubled honest false alarms)
    min_stream_labels : class streams shorter than this are not tested
    max_items : how many item ids (from the onset on) the evidence lists
    max_points : fired workers' evidence carries the CUSUM and a rolling disagreement rate
        at up to this many evenly spaced labels (for the UI's chart)
    rolling_window : labels in the rolling disagreement rate
    """

    delta: float = 0.25
    arl0: float = 1000.0
    baseline_fraction: float = 0.5
    shrinkage: float = 10.0
    p0_bounds: tuple[float, float] = (0.01, 0.9)
    max_offset: float = 3.0
    p1_max: float = 0.98
    n_sim: int = 2000
    sim_length: int = 2000
    seed: int = 0
    min_labels: int = 20
    alpha: float = 0.01
    min_increase: float = 0.15
    per_class: bool | None = None
    min_stream_labels: int = 10
    max_items: int = 20
    max_points: int = 200
    rolling_window: int = 20

    scores_: pd.DataFrame = field(init=False, repr=False)
    signals_: pd.DataFrame = field(init=False, repr=False)
    threshold_: float = field(init=False, default=float("nan"))

    def _validate(self) -> None:
        check_fraction("delta", self.delta)
        check_fraction("baseline_fraction", self.baseline_fraction)
        check_fraction("alpha", self.alpha)
        check_positive("arl0", self.arl0)
        lo, hi = self.p0_bounds
        if not (0 < lo < hi < self.p1_max < 1):
            raise UserError("setting p0_bounds must satisfy 0 < low < high < p1_max < 1")
        if self.sim_length < self.arl0 / 2:
            raise UserError("setting sim_length must be at least half of arl0 for a stable calibration")

    def _streams(self, x: np.ndarray, e: np.ndarray, grp: np.ndarray, n_groups: int,
                 beta_prior: np.ndarray, crowd: Crowd | None = None, name: str = "all", per_worker: int = 1) -> dict:
        """Risk-adjusted CUSUM on contiguous groups (positions sorted by group, then time).

        The group's offset β comes from its first ``baseline_fraction`` of labels, shrunk
        towards ``beta_prior`` (per group) with ``shrinkage`` pseudo-labels."""
        lo, hi = self.p0_bounds
        counts = np.bincount(grp, minlength=n_groups).astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        cx = np.concatenate([[0.0], np.cumsum(x)])
        ce = np.concatenate([[0.0], np.cumsum(e)])
        n_base = np.minimum(np.maximum(np.ceil(self.baseline_fraction * counts), 1), counts).astype(np.int64)
        k_base = cx[starts + n_base] - cx[starts]
        rate_exp = np.clip((ce[starts + n_base] - ce[starts]) / np.maximum(n_base, 1), lo, hi)
        prior_rate = 1.0 / (1.0 + np.exp(-(_logit(rate_exp) + beta_prior)))
        rate_obs = np.clip((k_base + self.shrinkage * prior_rate) / (n_base + self.shrinkage), lo, hi)
        beta = np.clip(_logit(rate_obs) - _logit(rate_exp), -self.max_offset, self.max_offset)
        beta = np.where(counts > 0, beta, 0.0)
        p0_t = np.clip(1.0 / (1.0 + np.exp(-(_logit(e) + beta[grp]))), lo, hi)
        a, b = _increments(p0_t, self.delta, self.p1_max)
        inc = np.where(x > 0, a, b)
        # S = C - min(0, running min of C) within each group, all groups at once
        C = np.cumsum(inc)
        C_local = C - np.concatenate([[0.0], C])[starts][grp]
        # groups are kept apart by offsets of the crowd's size (the same numbers on a partition of
        # workers: the crowd's largest |C| and the partition's first worker code)
        crowd = crowd or Crowd()
        big = 2.0 * crowd.stat(f"drift.cusum_scale.{name}", _max_or_zero,
                               (np.array([np.abs(C_local).max() if C_local.size else 0.0]),), "max") + 1.0
        gg = grp + crowd.value("worker_offset", lambda: 0) * per_worker
        D = C_local - gg * big
        S = D - np.minimum(np.minimum.accumulate(D), -gg * big)
        S_max, argmax_pos = group_argmax(S, grp, n_groups)
        S_max = np.where(np.isfinite(S_max), S_max, 0.0)
        # onset: the label after the last zero of S before its maximum (the strongest excursion)
        zeros = np.flatnonzero(S <= 0.0)
        j = np.searchsorted(zeros, argmax_pos, side="left") - 1
        zp = np.where(j >= 0, zeros[np.maximum(j, 0)] if zeros.size else -1, -1)
        onset = np.where((argmax_pos >= 0) & (j >= 0) & (zp >= starts), zp + 1, starts)
        end = starts + counts
        before = np.where(onset > starts, (cx[onset] - cx[starts]) / np.maximum(onset - starts, 1), np.nan)
        after = (cx[end] - cx[onset]) / np.maximum(end - onset, 1)
        p0_mean = np.bincount(grp, weights=p0_t, minlength=n_groups) / np.maximum(counts, 1)
        return {"S": S, "x": x, "S_max": S_max, "argmax": argmax_pos, "onset": onset, "starts": starts,
                "counts": counts, "before": before, "after": after, "beta": beta, "p0": p0_t,
                "p0_mean": p0_mean, "p_bridge": _bridge_p(x, e, grp, n_groups, lo, hi, self.max_offset)}

    def fit(self, data: LabelArrays, consensus: Consensus, context: BehaviourContext | None = None):
        self._validate()
        W = data.n_workers
        ctx = context or BehaviourContext.build(data, consensus)
        cols = ["drift_p0", "drift_offset", "drift_threshold", "drift_cusum_max", "drift_onset_index",
                "drift_onset_time", "drift_alarm_index", "drift_rate_before", "drift_rate_after", "drift_p"]
        self.scores_ = pd.DataFrame(np.nan, index=pd.RangeIndex(W, name="worker"), columns=cols)
        self.signals_ = empty_signals()
        tested = ctx.counts >= self.min_labels
        if not tested.any():
            return self
        g = ctx.worker_sorted.astype(np.int64)
        cons = argmax_lowest(ctx.loo)
        x = (data.label != cons)[ctx.order].astype(float)
        lo, hi = self.p0_bounds
        # item-level in-control disagreement of a typical worker
        e = np.clip(1.0 - ctx.expected[np.arange(data.n), cons], lo, hi)[ctx.order]
        allw = self._streams(x, e, g, W, np.zeros(W), ctx.crowd)
        # the simulation draws from every tested worker's p0 values (in the crowd's worker order)
        levels, hazard, h, s_ref = ctx.crowd.stat(
            "drift.calibration", _calibrate,
            (allw["p0"][tested[g]], float(self.delta), float(self.p1_max), float(self.arl0),
             int(self.n_sim), int(self.sim_length), int(self.seed)),
            ("concat",) + ("max",) * 6)
        self.threshold_ = h

        def pvalue(st):
            hz = _hazard_row(levels, hazard, s_ref, st["S_max"])
            p_cusum = np.where((st["S_max"] > 0) & (st["counts"] > 0), -np.expm1(-st["counts"] * hz), 1.0)
            return np.maximum(p_cusum, st["p_bridge"])

        cls = self._class_streams(data, ctx, x, e, g, cons, allw) if self._per_class(data) else None
        v = self._winner(data, ctx, allw, cls, pvalue)
        self._alarms(v, allw, cls, h, data.n_classes)
        # effect size: a sustained rise from the onset to the end of the history, not a bad streak
        # (on 15,000-label histories a 3-point wobble is significant but is no takeover)
        rise = np.nan_to_num(v["after"] - v["before"], nan=0.0)
        v["fired"] = tested & v["alarm"] & (v["p"] < self.alpha) & (rise >= self.min_increase)
        t_s = ctx.time_sorted
        n = ctx.order.shape[0]
        v["onset_time"] = t_s[np.minimum(v["onset_pos"], n - 1)] if t_s is not None else np.full(W, np.nan)
        self._score(v, allw, tested, h, ctx.starts)
        if ctx.crowd.provisional:                    # reasons only once the crowd's numbers are final
            return self
        self._explain(data, ctx, v, allw, cls, tested, h, x, g)
        return self

    def _per_class(self, data: LabelArrays) -> bool:
        K = data.n_classes
        return bool(((K == 2) if self.per_class is None else self.per_class) and K >= 2)

    def _class_streams(self, data, ctx, x, e, g, cons, allw) -> dict:
        """One stream per (worker, consensus class): the labels on items the crowd gives class c
        (catches class-conditional flips), sorted by (worker, class, time)."""
        K, W = data.n_classes, data.n_workers
        key = g * K + cons[ctx.order].astype(np.int64)
        so = np.argsort(key, kind="stable")
        cls = self._streams(x[so], e[so], key[so], W * K, np.repeat(allw["beta"], K), ctx.crowd, "class", K)
        cls["so"] = so
        return cls

    def _winner(self, data, ctx, allw, cls, pvalue) -> dict:
        """Per worker: the stream with the strongest evidence (all labels, or one class),
        Bonferroni over the streams, and that stream's onset, CUSUM and rates in the worker's order."""
        W, K = data.n_workers, data.n_classes
        n = ctx.order.shape[0]
        p_all = pvalue(allw)
        best_p, stream, n_streams = p_all.copy(), np.full(W, -1), 1
        if cls is not None:
            p_c = np.where(cls["counts"] >= self.min_stream_labels, pvalue(cls), 1.0).reshape(W, K)
            k_best = np.argmin(p_c, axis=1)
            p_cbest = p_c[np.arange(W), k_best]
            use_c = p_cbest < p_all
            best_p = np.where(use_c, p_cbest, p_all)
            stream = np.where(use_c, k_best, -1)
            n_streams = K + 1
        v = {"p": np.minimum(best_p * n_streams, 1.0), "stream": stream, "S_max": allw["S_max"].copy(),
             "before": allw["before"].copy(), "after": allw["after"].copy(),
             "onset_pos": allw["onset"].copy()}                 # positions in ctx order
        if cls is not None:
            wc = np.flatnonzero(stream >= 0)
            gi = wc * K + stream[wc]
            v["onset_pos"][wc] = cls["so"][np.minimum(cls["onset"][gi], n - 1)]
            v["S_max"][wc] = cls["S_max"][gi]
            v["before"][wc], v["after"][wc] = cls["before"][gi], cls["after"][gi]
        v["onset_idx"] = v["onset_pos"] - ctx.starts
        return v

    @staticmethod
    def _alarms(v: dict, allw: dict, cls: dict | None, h: float, K: int) -> None:
        """Alarm: the first crossing of h inside the winning excursion (positions of that stream)."""
        W = v["stream"].shape[0]
        v["alarm"] = np.zeros(W, dtype=bool)
        v["alarm_pos"] = np.full(W, -1, dtype=np.int64)
        for st, sel in ((allw, v["stream"] < 0), (cls, v["stream"] >= 0)):
            if st is None or not sel.any():
                continue
            ws = np.flatnonzero(sel)
            gi = ws if st is allw else ws * K + v["stream"][ws]
            over_pos = np.flatnonzero(st["S"] > h)
            if not over_pos.size:
                continue
            k = np.searchsorted(over_pos, st["onset"][gi], side="left")
            cand = over_pos[np.minimum(k, over_pos.size - 1)]
            ok = (k < over_pos.size) & (cand <= st["argmax"][gi]) & (st["argmax"][gi] >= 0)
            v["alarm"][ws] = ok
            v["alarm_pos"][ws] = np.where(ok, cand if st is allw else st["so"][cand], -1)

    def _score(self, v: dict, allw: dict, tested: np.ndarray, h: float, starts_w: np.ndarray) -> None:
        sc = self.scores_
        sc.loc[tested, "drift_p0"] = allw["p0_mean"][tested]
        sc.loc[tested, "drift_offset"] = allw["beta"][tested]
        sc.loc[tested, "drift_threshold"] = h
        sc.loc[tested, "drift_cusum_max"] = v["S_max"][tested]
        sc.loc[tested, "drift_onset_index"] = v["onset_idx"][tested]
        sc.loc[tested, "drift_onset_time"] = v["onset_time"][tested]
        sc.loc[tested, "drift_alarm_index"] = np.where(v["alarm"], v["alarm_pos"] - starts_w, np.nan)[tested]
        sc.loc[tested, "drift_rate_before"] = v["before"][tested]
        sc.loc[tested, "drift_rate_after"] = v["after"][tested]
        sc.loc[tested, "drift_p"] = v["p"][tested]

    def _explain(self, data, ctx, v, allw, cls, tested, h, x, g) -> None:
        """Signals: one sentence and the evidence (onset, alarm, rates, series) per tested worker."""
        W, K = data.n_workers, data.n_classes
        t_s = ctx.time_sorted
        starts_w, counts = ctx.starts, ctx.counts
        p0_w = allw["p0_mean"]
        n_dis = np.bincount(g, weights=x, minlength=W)
        workers = np.flatnonzero(tested)
        reasons, evidence = [], []
        for w in workers:
            o, stream = int(v["onset_idx"][w]), int(v["stream"][w])
            when = iso(v["onset_time"][w]) if t_s is not None else None
            rb, ra = v["before"][w], v["after"][w]
            rb_txt = f"{rb:.0%}" if np.isfinite(rb) else f"{p0_w[w]:.0%} (baseline)"
            where = "" if stream < 0 else f" on items the crowd labels '{data.classes[stream]}'"
            if v["alarm"][w]:
                txt = (f"disagreement with the crowd{where} rose from {rb_txt} to {ra:.0%} from their "
                       f"label {o + 1}{' (' + when + ')' if when else ''} on; CUSUM {v['S_max'][w]:.1f} crossed "
                       f"the alarm level {h:.1f} (in-control ARL {self.arl0:.0f} labels, p={fmt_p(v['p'][w])})")
            else:
                txt = (f"no sustained rise in disagreement (CUSUM peak {v['S_max'][w]:.1f} below the alarm level "
                       f"{h:.1f}; overall {n_dis[w]:.0f} of {counts[w]} labels disagree)")
            reasons.append(txt)
            seg = ctx.order[v["onset_pos"][w]:starts_w[w] + counts[w]][: self.max_items]
            series = None
            if v["fired"][w]:
                st, gi = (allw, w) if stream < 0 else (cls, w * K + stream)
                series = self._series(st["S"], st["x"], int(st["starts"][gi]), int(st["counts"][gi]))
            alarm_pos = int(v["alarm_pos"][w])
            evidence.append({
                "onset_index": o,
                "onset_time": when,
                "alarm_index": alarm_pos - int(starts_w[w]) if v["alarm"][w] else None,
                "alarm_time": iso(t_s[alarm_pos]) if (v["alarm"][w] and t_s is not None) else None,
                "stream": "all labels" if stream < 0 else f"items labelled {data.classes[stream]}",
                "n_labels": int(counts[w]),
                "rate_before": None if not np.isfinite(rb) else float(rb),
                "rate_after": float(ra),
                "p0_mean": float(p0_w[w]),
                "offset_log_odds": float(allw["beta"][w]),
                "delta": self.delta,
                "threshold": float(h),
                "cusum_max": float(v["S_max"][w]),
                "order": "time" if ctx.time_ordered else "data",
                "items_from_onset": data.task_ids[data.task[seg]].tolist(),
                "series": series,
            })
        score = np.nan_to_num(v["after"] - np.where(np.isfinite(v["before"]), v["before"], p0_w))
        self.signals_ = make_signals(workers, "drift", score[workers], v["p"][workers], v["fired"][workers],
                                     reasons, evidence)

    def _series(self, S: np.ndarray, x: np.ndarray, start: int, n: int) -> dict:
        """CUSUM and rolling disagreement of one worker at <= max_points evenly spaced labels."""
        idx = np.unique(np.linspace(0, n - 1, min(n, self.max_points)).round().astype(np.int64))
        c = np.concatenate([[0.0], np.cumsum(x[start:start + n])])
        lo = np.maximum(idx + 1 - self.rolling_window, 0)
        rate = (c[idx + 1] - c[lo]) / (idx + 1 - lo)
        return {"label_index": idx.tolist(), "cusum": np.round(S[start + idx], 3).tolist(),
                "disagreement": np.round(rate, 3).tolist()}
