"""Cost guard: predicted seconds and peak bytes of a model, and the limits :func:`aggregate` enforces.

Speeds are those of CrowdTrust's own numpy implementations measured on 1M synthetic labels on a
2-core machine (benchmarks/results/aggregation_speed.md), per label and scaled by ``n_iter``
relative to the iterations measured; M-MSR still runs in crowd-kit, whose memory grows with
workers^4 (31 GiB at 500 workers, ../shared/reference/published-results.md), and KOS too. The
estimates are rough (an unloaded machine; a busy one is 2-5x slower): they exist to refuse a
model that would not finish, not to promise a time.
"""

from __future__ import annotations

from analytics.dataset import LabelArrays

#: Refuse a model whose estimated run time exceeds this many seconds (override per call).
MAX_SECONDS: float = 120.0
#: Refuse a model whose estimated peak memory exceeds this many bytes (override per call).
MAX_BYTES: float = 4 * 2**30

# Seconds per 1M two-class labels, about twice what benchmarks/aggregation_speed.py measured on a busy
# 2-core machine (cbds 1.3 s, ds 0.7, onecoin 0.8, mace 7.6, zbs 8.1, ebcc 4.4, bwa 16, glad ~12 s in 12
# EM steps; budgeted here for its full 100), scaled by n_iter for the models in _MEASURED_ITERS.
_SEC_PER_1M = {"mv": 0.3, "wawa": 0.5, "zbs": 16.0, "ds": 1.5, "onecoin": 2.0, "glad": 60.0, "mace": 15.0,
               "ibcc": 2.0, "ebcc": 10.0, "bwa": 32.0, "cbds": 3.0, "kos": 30.0, "mmsr": 10.0}
_MEASURED_ITERS = {"ds": 100, "onecoin": 100, "glad": 100, "zbs": 100, "mace": 50, "kos": 100}
_SEC_FIXED = {"kos": 0.8, "mmsr": 1.0}
_BYTES_PER_LABEL = {"mv": 200.0, "wawa": 300.0, "zbs": 300.0, "ds": 400.0, "onecoin": 400.0, "glad": 500.0,
                    "mace": 500.0, "ibcc": 400.0, "ebcc": 1200.0, "bwa": 400.0, "cbds": 600.0, "kos": 800.0,
                    "mmsr": 400.0}
# M-MSR: 500 workers asked for 31 GiB, memory ~ workers^4.
_MMSR_BYTES_AT_500 = 31 * 2**30


def estimate_cost(data: LabelArrays, method: str, n_iter: int = 100) -> tuple[float, float]:
    """Predicted (seconds, peak bytes) of ``aggregate(data, method)`` on a 2-core machine.

    Linear in labels (times K / 2 for the confusion-matrix models, whose steps are K-wide), scaled
    by ``n_iter`` for the models with a fixed iteration count; M-MSR's memory grows with workers^4.
    """
    n = max(data.n, 1)
    k_factor = max(data.n_classes, 2) / 2.0
    secs = _SEC_PER_1M[method] * n / 1e6
    if method in ("ds", "onecoin", "ibcc", "ebcc", "cbds", "mace"):
        secs *= k_factor
    if method in _MEASURED_ITERS:
        secs *= max(n_iter, 1) / _MEASURED_ITERS[method]
    secs += _SEC_FIXED.get(method, 0.0)
    nbytes = _BYTES_PER_LABEL[method] * n * (k_factor if method == "ebcc" else 1.0) + 8.0 * data.n_tasks * data.n_classes * 4
    if method == "mmsr":
        nbytes += _MMSR_BYTES_AT_500 * (data.n_workers / 500.0) ** 4
    return float(secs), float(nbytes)
