"""Shared per-run preparation for the behaviour detectors.

Every behaviour detector reads the labels of each worker *in the order the worker gave
them* (submit time when the log has it, else data order) together with what an honest
worker would have answered on the same items. :class:`BehaviourContext` computes that once
per run, vectorised:

- ``order``: label indices sorted by (worker, time, row) with :func:`numpy.lexsort`;
- ``starts`` / ``counts``: where each worker's block starts in ``order`` and its length;
- ``loo``: the leave-worker-out posterior of each label's task
  (:func:`analytics.consensus.leave_one_out_posteriors`), so a worker is never compared with
  a consensus that contains their own vote;
- ``pop_confusion``: the pooled confusion matrix A_pop[c, k] of all labels (soft counts
  sum_i p_ic 1[y = k], Laplace-smoothed, rows normalised), i.e. how a typical worker of this
  crowd answers an item of true class c (detection-methods.md §2.3-§2.4);
- ``expected``: q_t = loo_t @ A_pop, the label distribution a typical worker would give on
  that item; the null model of the straight-lining, pattern and skew tests;
- ``crowd``: where the detectors' crowd-level statistics come from (:mod:`analytics.crowdstats`):
  computed from these arrays, or given by the partitioned engine when the arrays hold only
  some of the crowd's workers (:meth:`from_parts`).

The helpers at the bottom (robust z, grouped medians, per-group argmax, ISO times) are the
small vectorised building blocks the detectors share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from analytics.consensus import Consensus, leave_one_out_posteriors
from analytics.crowdstats import Crowd, center_scale
from analytics.dataset import LabelArrays

#: consistency constant of the MAD for a normal distribution (Iglewicz & Hoaglin 1993)
MAD_TO_SIGMA = 0.6745


@dataclass
class BehaviourContext:
    """Per-run arrays shared by all behaviour detectors (see the module docstring)."""

    order: np.ndarray            # (n,) label indices sorted by (worker, time, row)
    worker_sorted: np.ndarray    # (n,) worker code of order[j]
    starts: np.ndarray           # (W,) first position of each worker in ``order``
    counts: np.ndarray           # (W,) labels per worker
    time_sorted: np.ndarray | None  # (n,) event time of order[j], None without timestamps
    loo: np.ndarray              # (n, K) leave-worker-out posteriors, original row order
    pop_confusion: np.ndarray    # (K, K) pooled confusion A_pop[c, k]
    expected: np.ndarray         # (n, K) typical-worker label distribution, original row order
    time_ordered: bool           # True when ``order`` follows timestamps
    crowd: Crowd = field(default_factory=Crowd)   # crowd-level statistics (computed here by default)

    @classmethod
    def build(cls, data: LabelArrays, consensus: Consensus, smoothing: float = 1.0) -> BehaviourContext:
        if consensus.probas.shape != (data.n_tasks, data.n_classes):
            raise ValueError("consensus.probas does not match the data's tasks and classes")
        loo = leave_one_out_posteriors(data, consensus)
        K = data.n_classes
        soft = np.stack([np.bincount(data.label, weights=loo[:, c], minlength=K) for c in range(K)])
        return cls.from_parts(data, loo, soft, smoothing=smoothing)

    @classmethod
    def from_parts(cls, data: LabelArrays, loo: np.ndarray, soft: np.ndarray, smoothing: float = 1.0,
                   crowd: Crowd | None = None) -> BehaviourContext:
        """The context from leave-worker-out posteriors ``loo`` (n, K) and the crowd's soft
        counts ``soft[c, k] = sum_i p_ic 1[y = k]`` over *all* labels (the partitioned engine
        computes both on partitions of items and hands a partition of workers its rows)."""
        t = data.timestamps()
        has_time = t is not None and bool(np.isfinite(t).any())
        rows = np.arange(data.n)
        if has_time:
            tkey = np.where(np.isfinite(t), t, np.inf)
            order = np.lexsort((rows, tkey, data.worker))
        else:
            order = np.lexsort((rows, data.worker))
        counts = np.bincount(data.worker, minlength=data.n_workers).astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        soft = np.asarray(soft, float) + smoothing  # soft[c, k] = sum_i p_ic 1[y = k] + smoothing
        a_pop = soft / soft.sum(axis=1, keepdims=True)
        return cls(
            order=order,
            worker_sorted=data.worker[order],
            starts=starts,
            counts=counts,
            time_sorted=t[order] if has_time else None,
            loo=loo,
            pop_confusion=a_pop,
            expected=loo @ a_pop,
            time_ordered=has_time,
            crowd=crowd if crowd is not None else Crowd(),
        )

    @property
    def n_workers(self) -> int:
        return int(self.counts.shape[0])

    def position_in_worker(self) -> np.ndarray:
        """0-based index of each sorted label within its worker's sequence."""
        return np.arange(self.order.shape[0]) - self.starts[self.worker_sorted]


# ----------------------------------------------------------------------------- helpers

def robust_z(x: np.ndarray, mask: np.ndarray | None = None, crowd: Crowd | None = None,
             key: str = "robust_z") -> np.ndarray:
    """Iglewicz-Hoaglin modified z-score 0.6745 (x - median) / MAD over the finite entries
    (restricted to ``mask`` for the reference); NaN stays NaN. A zero MAD falls back to
    1.253314 * mean absolute deviation (the usual MeanAD rule), then to 1. The median and
    MAD are the crowd's (``crowd``, statistic ``key``) when the workers are partitioned."""
    x = np.asarray(x, dtype=float)
    ref = np.isfinite(x) if mask is None else (np.isfinite(x) & mask)
    med, mad, mean_ad = (crowd or Crowd()).stat(key, center_scale, (x[ref],))
    if not np.isfinite(med):
        return np.full_like(x, np.nan)
    if mad > 0:
        return MAD_TO_SIGMA * (x - med) / mad
    return (x - med) / (1.253314 * mean_ad) if mean_ad > 0 else (x - med)


def grouped_median(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Median of ``values`` per integer group (NaN for empty groups), by one sort.

    Finite values are sorted on the single float key group * span + (value - min), which is
    several times faster than a two-key lexsort; non-finite values fall back to lexsort.
    """
    values = np.asarray(values, dtype=float)
    groups = np.asarray(groups)
    if values.size and np.isfinite(values).all():
        vmin = values.min()
        span = (values.max() - vmin) + 1.0
        order = np.argsort(groups.astype(np.float64) * span + (values - vmin), kind="quicksort")
        if (np.diff(groups[order]) < 0).any() or span * max(int(groups.max()), 1) > 2**40:
            order = np.lexsort((values, groups))
    else:
        order = np.lexsort((values, groups))
    v = values[order]
    cnt = np.bincount(groups, minlength=n_groups)
    start = np.concatenate([[0], np.cumsum(cnt)[:-1]])
    out = np.full(n_groups, np.nan)
    ok = cnt > 0
    lo = start[ok] + (cnt[ok] - 1) // 2
    hi = start[ok] + cnt[ok] // 2
    out[ok] = 0.5 * (v[lo] + v[hi])
    return out


def group_argmax(values: np.ndarray, groups: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Per group: the maximum of ``values`` and the first position where it is reached
    (-1 for empty groups). ``groups`` must be sorted (contiguous blocks)."""
    best = np.full(n_groups, -np.inf)
    if values.size:
        first = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
        best[groups[first]] = np.maximum.reduceat(values, first)
    hit = values >= best[groups]
    pos = np.full(n_groups, -1, dtype=np.int64)
    g_hit = groups[hit]
    idx = np.flatnonzero(hit)
    uniq, first = np.unique(g_hit, return_index=True)
    pos[uniq] = idx[first]
    return best, pos


def iso(t: float) -> str | None:
    """Epoch seconds to an ISO-8601 UTC string (None for NaN)."""
    if t is None or not np.isfinite(t):
        return None
    return datetime.fromtimestamp(float(t), tz=UTC).isoformat()


def fmt_duration(seconds: float) -> str:
    """'45 seconds', '6 minutes', '2.5 hours' for reason sentences."""
    if seconds < 90:
        return f"{seconds:.0f} seconds"
    if seconds < 5400:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"


def fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "n/a"
    return f"{p:.2g}" if p >= 1e-300 else "<1e-300"


def check_fraction(name: str, value: float, allow_zero: bool = False) -> None:
    from analytics.errors import UserError

    lo_ok = value >= 0 if allow_zero else value > 0
    if not (lo_ok and value < 1):
        raise UserError(f"setting {name} must be between 0 and 1, got {value}")


def check_positive(name: str, value: float) -> None:
    from analytics.errors import UserError

    if not (value > 0):
        raise UserError(f"setting {name} must be positive, got {value}")
