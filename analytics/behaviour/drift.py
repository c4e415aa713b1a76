"""Quality drift and account takeover: Bernoulli CUSUM with onset (detection-methods.md §2.6).

x_t = 1 when the worker's t-th label (submit-time order, else data order) disagrees with the
argmax of the *leave-worker-out* posterior of its task. Under control x_t ~ Bernoulli(p₀),
after a takeover Bernoulli(p₁ = p₀ + δ). Page's CUSUM of the log-likelihood ratio

    S_t = max(0, S_{t-1} + x_t ln(p₁/p₀) + (1 - x_t) ln((1 - p₁)/(1 - p₀))),   S_0 = 0

(Page 1954; Reynolds & Stoumbos, J. Qual. Technol. 1999 for the Bernoulli case) is computed
for all workers at once as S = C - min(0, running min C) on per-worker cumulative sums.

- p₀ is the worker's disagreement over the first ``baseline_fraction`` of their labels,
  shrunk towards the crowd's rate with ``shrinkage`` pseudo-labels (new workers inherit the
  crowd's rate), then rounded to a logit grid so calibration is shared.
- The alarm level h per grid value is calibrated by simulation so that the in-control
  average run length ARL₀ >= ``arl0`` labels: ``n_sim`` in-control chains of ``sim_length``
  labels give the per-label hazard of max S crossing s, ARL(s) = 1 / hazard(s).
- The p-value is the simulated exceedance probability of the worker's max S over their n
  labels, P(max_{t<=n} S_t >= S* | in control) = 1 - exp(-n hazard(S*)); beyond the
  simulated range the tail is extended with the exact exponential rate of an LLR CUSUM
  (E₀[e^{X}] = 1, so P(S >= s) decays as e^{-s}; Siegmund, *Sequential Analysis*, 1985).
- The onset is the label after the last time S was 0 before the alarm (or before the
  maximum of S when there is no alarm): the maximum-likelihood change point of the CUSUM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from analytics.behaviour.context import BehaviourContext, check_fraction, check_positive, fmt_p, iso
from analytics.consensus import Consensus, argmax_lowest
from analytics.dataset import LabelArrays
from analytics.errors import UserError
from analytics.evidence import empty_signals, make_signals


def _increments(p0: np.ndarray, delta: float, p1_max: float) -> tuple[np.ndarray, np.ndarray]:
    p1 = np.minimum(p0 + delta, p1_max)
    return np.log(p1 / p0), np.log((1 - p1) / (1 - p0))


@lru_cache(maxsize=16)
def _calibrate(grid: tuple[float, ...], delta: float, p1_max: float, arl0: float, n_sim: int,
               sim_length: int, seed: int, s_step: float = 0.05, s_max: float = 25.0):
    """Simulate in-control CUSUM chains per grid value of p0.

    Returns (levels, hazard[g, s], h[g], s_ref[g]): per-label hazard of crossing each level,
    the alarm level reaching ARL0, and the highest level with >= 20 simulated crossings.
    """
    p0 = np.asarray(grid)
    a, b = _increments(p0, delta, p1_max)
    rng = np.random.default_rng(seed)
    S = np.zeros((p0.shape[0], n_sim))
    top = np.zeros_like(S)
    for _ in range(sim_length):
        x = rng.random(S.shape) < p0[:, None]
        S += np.where(x, a[:, None], b[:, None])
        np.maximum(S, 0.0, out=S)
        np.maximum(top, S, out=top)
    levels = np.arange(0.0, s_max + s_step / 2, s_step)
    exceed = (top[:, :, None] >= levels[None, None, :]).sum(axis=1)          # (G, L)
    frac = exceed / n_sim
    with np.errstate(divide="ignore"):
        hazard = -np.log1p(-np.minimum(frac, 1 - 1e-12)) / sim_length
    hazard = np.where(exceed >= 1, hazard, 0.0)
    ok_ref = exceed >= 20
    s_ref = np.array([levels[np.flatnonzero(r)[-1]] if r.any() else 0.0 for r in ok_ref])
    h = np.empty(p0.shape[0])
    for gi in range(p0.shape[0]):
        # hazard at a level: simulated up to s_ref, exponential tail e^{-s} beyond it
        hz = _hazard_row(levels, hazard[gi], s_ref[gi], levels)
        h[gi] = levels[np.flatnonzero(hz <= 1.0 / arl0)[0]]
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

    Attributes
    ----------
    delta : shift in disagreement rate to detect, p1 = p0 + delta
    arl0 : in-control average run length (labels) the alarm level is calibrated to
    baseline_fraction : share of a worker's first labels that estimates their p0
    shrinkage : pseudo-labels of the crowd's disagreement rate added to that baseline
    p0_bounds : p0 is clipped to this range before calibration
    grid_size : number of logit-spaced p0 values the simulation calibrates
    p1_max : cap on p1
    n_sim, sim_length, seed : simulation size (chains per grid value, labels per chain), seed
    min_labels : workers with fewer labels are not tested
    alpha : fires when the CUSUM alarms and the exceedance p-value is below this
    max_items : how many item ids (from the onset on) the evidence lists
    """

    delta: float = 0.25
    arl0: float = 1000.0
    baseline_fraction: float = 0.3
    shrinkage: float = 10.0
    p0_bounds: tuple[float, float] = (0.02, 0.6)
    grid_size: int = 24
    p1_max: float = 0.98
    n_sim: int = 1000
    sim_length: int = 2000
    seed: int = 0
    min_labels: int = 20
    alpha: float = 0.01
    max_items: int = 20

    scores_: pd.DataFrame = field(init=False, repr=False)
    signals_: pd.DataFrame = field(init=False, repr=False)
    thresholds_: pd.Series = field(init=False, repr=False)

    def _validate(self) -> None:
        check_fraction("delta", self.delta)
        check_fraction("baseline_fraction", self.baseline_fraction)
        check_fraction("alpha", self.alpha)
        check_positive("arl0", self.arl0)
        lo, hi = self.p0_bounds
        if not (0 < lo < hi < 1 and hi + self.delta < 1):
            raise UserError("setting p0_bounds must satisfy 0 < low < high and high + delta < 1")
        if self.sim_length < self.arl0 / 2:
            raise UserError("setting sim_length must be at least half of arl0 for a stable calibration")

    def fit(self, data: LabelArrays, consensus: Consensus, context: BehaviourContext | None = None):
        self._validate()
        W = data.n_workers
        ctx = context or BehaviourContext.build(data, consensus)
        cols = ["drift_p0", "drift_threshold", "drift_cusum_max", "drift_onset_index", "drift_onset_time",
                "drift_alarm_index", "drift_rate_before", "drift_rate_after", "drift_p"]
        self.scores_ = pd.DataFrame(np.nan, index=pd.RangeIndex(W, name="worker"), columns=cols)
        self.signals_ = empty_signals()
        tested = ctx.counts >= self.min_labels
        if not tested.any():
            return self
        n = ctx.order.shape[0]
        g = ctx.worker_sorted.astype(np.int64)
        cons = argmax_lowest(ctx.loo)
        x = (data.label != cons)[ctx.order].astype(float)
        p_pop = float(x.mean())
        cx = np.concatenate([[0.0], np.cumsum(x)])
        starts, counts = ctx.starts, ctx.counts
        n_base = np.minimum(np.maximum(np.ceil(self.baseline_fraction * counts), 1), counts).astype(np.int64)
        k_base = cx[starts + n_base] - cx[starts]
        p0_raw = (k_base + self.shrinkage * p_pop) / (n_base + self.shrinkage)
        lo, hi = self.p0_bounds
        grid_logit = np.linspace(np.log(lo / (1 - lo)), np.log(hi / (1 - hi)), self.grid_size)
        grid = 1.0 / (1.0 + np.exp(-grid_logit))
        p0c = np.clip(p0_raw, lo, hi)
        gi = np.abs(np.log(p0c / (1 - p0c))[:, None] - grid_logit[None, :]).argmin(axis=1)
        p0 = grid[gi]
        levels, hazard, h_grid, s_ref = _calibrate(
            tuple(np.round(grid, 12)), float(self.delta), float(self.p1_max), float(self.arl0),
            int(self.n_sim), int(self.sim_length), int(self.seed))
        h = h_grid[gi]
        self.thresholds_ = pd.Series(h_grid, index=pd.Index(grid, name="p0"), name="h")

        # CUSUM for all workers: S = C - min(0, running min of C) within each worker
        a, b = _increments(p0, self.delta, self.p1_max)
        inc = np.where(x > 0, a[g], b[g])
        C = np.cumsum(inc)
        C_before = np.concatenate([[0.0], C])[starts]
        C_local = C - C_before[g]
        R = float(np.abs(C_local).max()) if n else 0.0
        big = 2.0 * R + 1.0
        D = C_local - g * big
        S = D - np.minimum(np.minimum.accumulate(D), -g * big)
        S_max = np.zeros(W)
        np.maximum.at(S_max, g, S)
        over = S > h[g]
        alarm_pos = np.full(W, -1, dtype=np.int64)
        u, fi = np.unique(g[over], return_index=True)
        alarm_pos[u] = np.flatnonzero(over)[fi]
        hit_max = S >= S_max[g]
        argmax_pos = np.full(W, -1, dtype=np.int64)
        u, fi = np.unique(g[hit_max], return_index=True)
        argmax_pos[u] = np.flatnonzero(hit_max)[fi]
        ref = np.where(alarm_pos >= 0, alarm_pos, argmax_pos)
        zeros = np.flatnonzero(S <= 0.0)
        j = np.searchsorted(zeros, ref, side="left") - 1
        zp = np.where(j >= 0, zeros[np.maximum(j, 0)], -1)
        onset = np.where((j >= 0) & (zp >= starts), zp + 1, starts)
        onset = np.where(ref >= 0, onset, starts)
        end = starts + counts
        before = np.where(onset > starts, (cx[onset] - cx[starts]) / np.maximum(onset - starts, 1), np.nan)
        after = (cx[end] - cx[onset]) / np.maximum(end - onset, 1)
        hz = np.zeros(W)
        for gidx in np.unique(gi[tested]):
            m = tested & (gi == gidx)
            hz[m] = _hazard_row(levels, hazard[gidx], s_ref[gidx], S_max[m])
        p = np.where(S_max > 0, -np.expm1(-counts * hz), 1.0)
        alarm = alarm_pos >= 0
        fired = tested & alarm & (p < self.alpha)

        t_s = ctx.time_sorted
        onset_time = t_s[np.minimum(onset, n - 1)] if t_s is not None else np.full(W, np.nan)
        sc = self.scores_
        sc.loc[tested, "drift_p0"] = p0[tested]
        sc.loc[tested, "drift_threshold"] = h[tested]
        sc.loc[tested, "drift_cusum_max"] = S_max[tested]
        sc.loc[tested, "drift_onset_index"] = (onset - starts)[tested]
        sc.loc[tested, "drift_onset_time"] = onset_time[tested]
        sc.loc[tested, "drift_alarm_index"] = np.where(alarm, alarm_pos - starts, np.nan)[tested]
        sc.loc[tested, "drift_rate_before"] = before[tested]
        sc.loc[tested, "drift_rate_after"] = after[tested]
        sc.loc[tested, "drift_p"] = p[tested]

        workers = np.flatnonzero(tested)
        reasons, evidence = [], []
        for w in workers:
            o = int(onset[w] - starts[w])
            when = iso(onset_time[w]) if t_s is not None else None
            rb = before[w]
            rb_txt = f"{rb:.0%}" if np.isfinite(rb) else f"{p0[w]:.0%} (baseline)"
            if alarm[w]:
                txt = (f"disagreement with the crowd rose from {rb_txt} to {after[w]:.0%} from their "
                       f"label {o + 1}{' (' + when + ')' if when else ''} on; CUSUM {S_max[w]:.1f} crossed "
                       f"the alarm level {h[w]:.1f} (in-control ARL {self.arl0:.0f} labels, p={fmt_p(p[w])})")
            else:
                txt = (f"no sustained rise in disagreement (CUSUM peak {S_max[w]:.1f} below the alarm level "
                       f"{h[w]:.1f}; overall {cx[end[w]] - cx[starts[w]]:.0f} of {counts[w]} labels disagree)")
            reasons.append(txt)
            seg = ctx.order[onset[w]:onset[w] + self.max_items]
            evidence.append({
                "onset_index": o,
                "onset_time": when,
                "alarm_index": int(alarm_pos[w] - starts[w]) if alarm[w] else None,
                "alarm_time": iso(t_s[alarm_pos[w]]) if (alarm[w] and t_s is not None) else None,
                "n_labels": int(counts[w]),
                "rate_before": None if not np.isfinite(rb) else float(rb),
                "rate_after": float(after[w]),
                "p0": float(p0[w]),
                "p1": float(min(p0[w] + self.delta, self.p1_max)),
                "threshold": float(h[w]),
                "cusum_max": float(S_max[w]),
                "order": "time" if ctx.time_ordered else "data",
                "items_from_onset": data.task_ids[data.task[seg]].tolist(),
            })
        score = np.nan_to_num(after - np.where(np.isfinite(before), before, p0))
        self.signals_ = make_signals(workers, "drift", score[workers], p[workers], fired[workers],
                                     reasons, evidence)
        return self
