"""Row-wise kernels the aggregation models share (the same as :mod:`analytics.aggregation.coded`)."""

from __future__ import annotations

import numpy as np

try:  # the aggregation package (one model per module) when it is present
    from analytics.aggregation.coded import row_max, softmax_rows  # noqa: F401
except ImportError:  # pragma: no cover - older layout with a single aggregate module
    def row_max(x: np.ndarray) -> np.ndarray:
        """Row-wise max of a (n, K) array, column by column."""
        m = x[:, 0].copy()
        for k in range(1, x.shape[1]):
            np.maximum(m, x[:, k], out=m)
        return m

    def softmax_rows(logits: np.ndarray) -> np.ndarray:
        """Row-wise softmax (a new array)."""
        z = logits - row_max(logits)[:, None]
        np.exp(z, out=z)
        tot = z[:, 0].copy()
        for k in range(1, z.shape[1]):
            tot += z[:, k]
        z /= tot[:, None]
        return z
