"""Crowd-level statistics of a detector: computed from the data at hand, or given by the engine.

A detector is mostly per worker (a bincount over the worker's own labels) plus a few numbers
about the whole crowd that calibrate it: a quantile of the workers' paces, the median of a
statistic over workers, a pooled confusion matrix, the bin totals of the crowd's activity.
On one machine those are computed from the arrays the detector sees. When the labels are
split into partitions of workers (:mod:`analytics.engine`) each partition sees only some of
the crowd, so every such number goes through :meth:`Crowd.stat`:

``value = crowd.stat(key, fn, inputs, combine)``

In memory (the default :class:`Crowd`) this is just ``fn(*inputs)``. The partitioned engine
runs the detector in *record* mode on every partition, combines each statistic's inputs
across partitions (``"concat"``: concatenation in partition order, which is the global worker
order; ``"sum"``, ``"min"``, ``"max"``: elementwise reductions), evaluates ``fn`` once on the
combined inputs (:func:`combine_recorded`), and runs the detector again with the values
given. A statistic whose inputs depend on another statistic settles one pass later; the
engine repeats until every given value equals the value recomputed from that very pass
(a fixed point of a dependency chain, reached after chain length + 1 passes), so the
partitioned result is the one-machine result. ``fn`` must be a module-level function or a
:func:`functools.partial` of one (it is pickled to the engine's workers and back).

:meth:`Crowd.value` is for statistics the engine computes in its own way (e.g. the two-way
median polish of item times, which alternates between item and worker partitions): given,
or else computed here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

COMBINES = ("concat", "sum", "min", "max")


@dataclass
class Crowd:
    """Crowd-level statistics (see the module docstring).

    given : values supplied by the engine, by key
    record : when true, every :meth:`stat` call stores (fn, inputs, combine) in ``recorded``
    """

    given: dict = field(default_factory=dict)
    record: bool = False
    recorded: dict = field(default_factory=dict)
    missing: int = 0

    @property
    def provisional(self) -> bool:
        """True while recording with some statistic not yet given: the detector's numbers are
        provisional, so it may skip writing its reasons (the engine runs it again)."""
        return self.record and self.missing > 0

    def stat(self, key: str, fn: Callable, inputs: Sequence, combine: str | Sequence[str] = "concat"):
        """``fn(*inputs)`` over the whole crowd; ``combine`` says how partitions' inputs join."""
        combine = (combine,) * len(inputs) if isinstance(combine, str) else tuple(combine)
        if self.record:
            self.recorded[key] = (fn, [_compact(x, how) for x, how in zip(inputs, combine, strict=True)], combine)
        if key in self.given:
            return self.given[key]
        if self.record:
            self.missing += 1
        return fn(*inputs)

    def value(self, key: str, compute: Callable):
        """A statistic the engine supplies itself; ``compute()`` when it does not."""
        if key in self.given:
            return self.given[key]
        return compute()


def combine_recorded(parts: list[dict]) -> dict:
    """Evaluate every recorded statistic on its inputs combined across partitions (in order)."""
    out = {}
    keys = []
    for p in parts:
        keys.extend(k for k in p if k not in keys)
    for key in keys:
        present = [p[key] for p in parts if key in p]
        fn, _, combine = present[0]
        args = []
        for i, how in enumerate(combine):
            xs = [p[1][i] for p in present]
            if how == "concat":
                args.append(np.concatenate([np.atleast_1d(x) for x in xs]))
            elif how == "values":
                args.append(_merge_counts(xs))
            elif how == "sum":
                args.append(_reduce(np.add, xs))
            elif how == "min":
                args.append(_reduce(np.minimum, xs))
            elif how == "max":
                args.append(_reduce(np.maximum, xs))
            else:  # pragma: no cover - a programming error
                raise ValueError(f"unknown combine {how!r}")
        out[key] = fn(*args)
    return out


def _compact(x, how: str):
    """What a partition sends for one input: the array, or for ``"values"`` (a multiset whose
    order does not matter, e.g. the input of a median) its distinct values and their counts."""
    x = np.asarray(x)
    if how == "values":
        u, c = np.unique(x, return_counts=True)
        return (u, c)
    return x


def _merge_counts(parts) -> Counts:
    u = np.concatenate([p[0] for p in parts])
    c = np.concatenate([p[1] for p in parts])
    order = np.argsort(u, kind="stable")
    return Counts(u[order], c[order])


@dataclass
class Counts:
    """A sorted multiset as distinct values and counts (what ``"values"`` inputs become)."""

    values: np.ndarray
    counts: np.ndarray

    @property
    def size(self) -> int:
        return int(self.counts.sum())

    def at(self, ranks: np.ndarray) -> np.ndarray:
        """The values at 0-based ``ranks`` of the sorted multiset."""
        return self.values[np.searchsorted(np.cumsum(self.counts), np.asarray(ranks), side="right")]


def _reduce(op, xs):
    """Elementwise reduction; 1-d arrays of different lengths (bins counted from a partition's own
    span before the crowd's span is known) are zero-padded to the longest."""
    xs = [np.asarray(x) for x in xs]
    if all(x.ndim == 1 for x in xs) and len({x.shape[0] for x in xs}) > 1:
        n = max(x.shape[0] for x in xs)
        xs = [np.pad(x, (0, n - x.shape[0])) for x in xs]
    acc = np.array(xs[0], copy=True)
    for x in xs[1:]:
        acc = op(acc, x)
    return acc


def same_values(a: dict, b: dict) -> bool:
    """True when both dicts hold the same keys with identical values (arrays elementwise)."""
    if set(a) != set(b):
        return False
    return all(_same(a[k], b[k]) for k in a)


def _same(x, y) -> bool:
    if isinstance(x, (tuple, list)) and isinstance(y, (tuple, list)):
        return len(x) == len(y) and all(_same(u, v) for u, v in zip(x, y, strict=True))
    if isinstance(x, dict) and isinstance(y, dict):
        return same_values(x, y)
    xa, ya = np.asarray(x), np.asarray(y)
    if xa.shape != ya.shape:
        return False
    if xa.dtype.kind in "fc" or ya.dtype.kind in "fc":
        return bool(np.array_equal(xa, ya, equal_nan=True))
    return bool(np.array_equal(xa, ya))


# -- statistics shared by several detectors ------------------------------------------------

def quantile_or(values: np.ndarray, q: float, default: float) -> float:
    return float(np.quantile(values, q)) if values.size else default


def median_or(values, default: float) -> float:
    """np.median of ``values`` (an array, or a :class:`Counts` multiset: the same number)."""
    if isinstance(values, Counts):
        n = values.size
        if n == 0:
            return default
        a, b = values.at(np.array([(n - 1) // 2, n // 2]))
        return float(np.mean(np.array([a, b]))) if n % 2 == 0 else float(a)
    return float(np.median(values)) if values.size else default


def center_scale(values: np.ndarray) -> tuple[float, float, float]:
    """(median, MAD, mean absolute deviation) of finite values; NaNs when empty."""
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    med = float(np.median(values))
    dev = np.abs(values - med)
    return med, float(np.median(dev)), float(np.mean(dev))


def ratio_of_sums(num: np.ndarray, den: np.ndarray) -> float:
    return float(num) / float(den) if float(den) else float("nan")


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """``x`` cut or zero-padded to length ``n`` (bin totals of a pass that used an earlier span)."""
    x = np.asarray(x)
    return x[:n] if x.shape[0] >= n else np.pad(x, (0, n - x.shape[0]))


def identity(*x):
    return x[0] if len(x) == 1 else x
