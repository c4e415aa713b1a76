"""Small bundled data for the runnable examples in the docstrings.

:func:`tiny_crowd` is 60 items answered by 24 honest workers and eight planted ones named
after what they do (``bot``, ``constant``, ``cycler``, ``drifter``, ``editor``,
``ring_1..3``); :mod:`analytics.examples.build` wrote it and describes each.

>>> data = tiny_crowd()
>>> data.n, data.n_workers, data.n_tasks, list(data.classes)
(1325, 32, 60, ['a', 'b', 'c'])
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analytics.dataset import LabelArrays, from_frame

TINY_CROWD = Path(__file__).with_name("tiny_crowd.csv")


def tiny_crowd_frame() -> pd.DataFrame:
    """The bundled crowd as a frame: task, worker, label, submitted_at (UTC), duration_s, n_edits."""
    df = pd.read_csv(TINY_CROWD, dtype={"task": str, "worker": str, "label": str})
    df["submitted_at"] = pd.to_datetime(df["submitted_at"], utc=True)
    return df


def tiny_crowd() -> LabelArrays:
    """The bundled crowd as coded arrays (:func:`analytics.dataset.from_frame`)."""
    return from_frame(tiny_crowd_frame())


def names(data: LabelArrays, signals: pd.DataFrame) -> list[str]:
    """The worker names of a detector's ``signals_`` rows, sorted (for short example output)."""
    return sorted(str(w) for w in data.worker_ids[signals["worker"].to_numpy(int)])
