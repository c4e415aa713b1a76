"""Write ``tiny_crowd.csv``, the small crowd the detectors' docstring examples run on.

``python -m analytics.examples.build`` rewrites the file (seeded, so the same bytes each time).
60 items with three classes and a hidden truth; 24 honest workers (accuracy 0.8, working in
sessions over five days, about 20 s per item, changing one answer in twenty) and eight planted ones, each named after what it does:

- ``bot``         answers 50 items at random within three minutes, 2 s each (burst, too fast);
- ``constant``    answers ``a`` to everything it sees (straight-lining, label skew);
- ``cycler``      answers a, b, c, a, b, c ... in the order it works (a repeating pattern);
- ``drifter``     answers well for its first 30 items, then at random (drift);
- ``editor``      answers well, but changes most answers before submitting (edit churn);
- ``ring_1..3``   a colluding group: they copy one shared answer sheet that is wrong on a
                  third of the items, and submit within a minute of each other.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).with_name("tiny_crowd.csv")
CLASSES = np.array(["a", "b", "c"])
N_ITEMS, N_HONEST, SEED = 60, 24, 7
T0 = pd.Timestamp("2024-03-04 08:00", tz="UTC").timestamp()


def _other(rng, truth: np.ndarray) -> np.ndarray:
    """A wrong class for each true class."""
    return (truth + rng.integers(1, len(CLASSES), truth.size)) % len(CLASSES)


def _noisy(rng, truth: np.ndarray, acc: float) -> np.ndarray:
    return np.where(rng.random(truth.size) < acc, truth, _other(rng, truth))


def _session_times(rng, n: int) -> np.ndarray:
    """Submit times of an honest worker: sessions of 5-15 items on random days, ~20 s apart."""
    out, day = [], 0
    while len(out) < n:
        start = T0 + 86400 * min(day, 4) + rng.uniform(0, 8 * 3600)
        k = int(rng.integers(5, 16))
        out.extend(start + np.cumsum(rng.lognormal(np.log(20), 0.4, k)))
        day += 1
    return np.asarray(out[:n])


def build(seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, len(CLASSES), N_ITEMS)
    rows = []

    def add(worker, items, labels, times, durations, edits=None):
        rows.append(pd.DataFrame({
            "task": [f"item{i:02d}" for i in items], "worker": worker, "label": CLASSES[labels],
            "submitted_at": pd.to_datetime(np.round(times), unit="s", utc=True), "duration_s": np.round(durations, 1),
            "n_edits": 0 if edits is None else edits}))

    for w in range(N_HONEST):
        items = np.sort(rng.choice(N_ITEMS, 40, replace=False))
        add(f"w{w:02d}", items, _noisy(rng, truth[items], 0.8), _session_times(rng, items.size),
            rng.lognormal(np.log(20), 0.4, items.size), edits=(rng.random(items.size) < 0.05).astype(int))
    items = rng.choice(N_ITEMS, 50, replace=False)
    start = T0 + 2 * 86400 + 3600
    add("bot", items, rng.integers(0, 3, items.size), start + np.arange(items.size) * 3.0, np.full(items.size, 2.0))
    items = rng.choice(N_ITEMS, 40, replace=False)
    add("constant", items, np.zeros(items.size, int), _session_times(rng, items.size),
        rng.lognormal(np.log(15), 0.4, items.size))
    items = rng.choice(N_ITEMS, 40, replace=False)
    add("cycler", items, np.arange(items.size) % 3, _session_times(rng, items.size),
        rng.lognormal(np.log(15), 0.4, items.size))
    items = rng.permutation(N_ITEMS)
    labels = np.where(np.arange(N_ITEMS) < 30, _noisy(rng, truth[items], 0.9), rng.integers(0, 3, N_ITEMS))
    add("drifter", items, labels, np.sort(_session_times(rng, N_ITEMS)), rng.lognormal(np.log(20), 0.4, N_ITEMS))
    items = np.sort(rng.choice(N_ITEMS, 40, replace=False))
    add("editor", items, _noisy(rng, truth[items], 0.8), _session_times(rng, items.size),
        rng.lognormal(np.log(25), 0.4, items.size), edits=(rng.random(items.size) < 0.9).astype(int) * 2)
    sheet = np.where(rng.random(N_ITEMS) < 1 / 3, _other(rng, truth), truth)
    items = np.sort(rng.choice(N_ITEMS, 45, replace=False))
    base = _session_times(rng, items.size)
    for k in range(1, 4):
        add(f"ring_{k}", items, sheet[items], base + rng.uniform(0, 60, items.size),
            rng.lognormal(np.log(20), 0.4, items.size))
    df = pd.concat(rows, ignore_index=True)
    df["submitted_at"] = df["submitted_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return df.sort_values(["submitted_at", "worker", "task"], ignore_index=True)


def truth(seed: int = SEED) -> pd.DataFrame:
    """The hidden answer of each item (task, label)."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, len(CLASSES), N_ITEMS)
    return pd.DataFrame({"task": [f"item{i:02d}" for i in range(N_ITEMS)], "label": CLASSES[t]})


if __name__ == "__main__":
    build().to_csv(OUT, index=False)
    print(f"wrote {OUT}")
