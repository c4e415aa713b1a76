"""The common output of every worker-level detector.

A detector (a small estimator in :mod:`analytics.behaviour`, :mod:`analytics.collusion` or
:mod:`analytics.workers`) is a dataclass whose fields are its documented settings and whose
``fit(data, consensus)`` sets two attributes, following the scikit-learn convention:

``scores_`` : pandas DataFrame indexed by worker code (0..n_workers-1, every worker present),
    numeric columns named ``<signal>_<quantity>``; NaN where the score does not apply.
``signals_`` : pandas DataFrame with one row per (worker, signal) that was tested, columns
    :data:`SIGNAL_COLUMNS`:

    - ``worker``   int worker code
    - ``signal``   short name, e.g. ``burst``, ``fast``, ``straightline``, ``skew``, ``drift``,
      ``churn``, ``coerror``, ``cotiming``
    - ``score``    the effect size shown to the user (e.g. rate ratio, JSD)
    - ``p_value``  evidence under the detector's null (NaN when the detector has none)
    - ``fired``    whether the detector's own documented threshold was crossed
    - ``reason``   one plain sentence with the numbers, e.g. "answered 212 items in 6 minutes,
      14x their usual rate"
    - ``evidence`` a JSON-serialisable dict the UI shows (window, counts, item ids ...)

The trust verdict (:mod:`analytics.trust`) combines ``p_value`` across workers with
Benjamini-Hochberg; ``fired`` alone never bans anyone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SIGNAL_COLUMNS = ["worker", "signal", "score", "p_value", "fired", "reason", "evidence"]


def empty_signals() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
        SIGNAL_COLUMNS, ["int32", "object", "float64", "float64", "bool", "object", "object"], strict=True)})


def make_signals(worker, signal: str, score, p_value, fired, reason, evidence) -> pd.DataFrame:
    """Build a signals frame from equal-length arrays (scalars broadcast)."""
    worker = np.asarray(worker, dtype=np.int32)
    n = worker.shape[0]

    def col(x, dtype=None):
        if isinstance(x, (list, np.ndarray, pd.Series)):
            return np.asarray(x, dtype=dtype)
        return np.full(n, x, dtype=dtype if dtype else object)

    return pd.DataFrame({
        "worker": worker,
        "signal": signal,
        "score": col(score, "float64"),
        "p_value": col(p_value, "float64"),
        "fired": col(fired, "bool"),
        "reason": col(reason, object),
        "evidence": col(evidence, object),
    })
