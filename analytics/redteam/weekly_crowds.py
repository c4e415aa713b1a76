"""Honest crowds that arrive week by week, in several shapes, for checking the alert rules
(the per-label timing shapes of the detectors are in :mod:`analytics.redteam.crowds`).

An alert rule must stay quiet on honest data of every shape, not only on the shared
datasets (DESIGN.md: "Check each detector's false-alarm rate on honest crowds of many
shapes"). :func:`weekly_crowd` simulates ``n_weeks`` of labelling with no attacker; each week
brings ``items_per_week`` new items with ``redundancy`` labels each from the workers active
that week. Workers have their own accuracy (errors spread over the other classes), volume and
working hours; gold covers 10% of the items. Shapes:

``steady``      one pool of workers, most of them active every week
``growing``     the pool grows by half each week (many new accounts every week)
``turnover``    a new cohort of workers every week (nobody comes back)
``item_mix``    the items' class balance swings from week to week (labels shift with the items)
``learning``    new workers are less accurate in their first week (0.1 lower) than later
``uneven``      week sizes vary tenfold (quiet and busy weeks)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SHAPES = ("steady", "growing", "turnover", "item_mix", "learning", "uneven")
WEEK_S = 604800


def _recruit(pool: list[dict], rng: np.random.Generator, n: int, week: int) -> None:
    for _ in range(n):
        pool.append({"id": f"W{len(pool):04d}{rng.integers(100, 999)}", "acc": rng.uniform(0.65, 0.95),
                     "vol": rng.lognormal(0, 0.7), "speed": rng.lognormal(np.log(25), 0.3),
                     "hour": rng.uniform(7, 18), "first": week})


def _active(pool: list[dict], shape: str, week: int, rng: np.random.Generator) -> list[dict]:
    if shape == "turnover":
        return [w for w in pool if w["first"] == week]
    return [w for w in pool if w["first"] == week or rng.random() < 0.85]


def weekly_crowd(shape: str = "steady", seed: int = 0, n_weeks: int = 8, items_per_week: int = 300,
                 redundancy: int = 5, n_classes: int = 3, start: str = "2025-03-03",
                 classes: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(labels, gold): labels in canonical columns task, worker, label, started_at, submitted_at,
    duration_s, sorted by submit time; gold (task, label) for 10% of the items. ``classes`` names
    the labels (default c0, c1, ...; its length sets the number of classes)."""
    if shape not in SHAPES:
        raise ValueError(f"unknown crowd shape {shape!r}; choose one of {', '.join(SHAPES)}")
    rng = np.random.default_rng(seed)
    classes = np.array(classes if classes is not None else [f"c{k}" for k in range(n_classes)])
    n_classes = len(classes)
    t0 = pd.Timestamp(start, tz="UTC").value / 1e9
    base_prior = rng.dirichlet(np.full(n_classes, 4.0))
    pool: list[dict] = []
    _recruit(pool, rng, 40, 0)
    weeks = []
    for wk in range(n_weeks):
        if wk and shape == "growing":
            _recruit(pool, rng, len(pool) // 2, wk)
        elif wk and shape == "turnover":
            _recruit(pool, rng, 40, wk)
        elif wk:
            _recruit(pool, rng, int(rng.integers(1, 4)), wk)
        active = _active(pool, shape, wk, rng)
        n_items = items_per_week if shape != "uneven" else int(items_per_week * rng.choice([0.3, 1.0, 3.0]))
        prior = base_prior if shape != "item_mix" else rng.dirichlet(np.full(n_classes, 1.5))
        truth = rng.choice(n_classes, size=n_items, p=prior)
        r = min(redundancy, len(active))
        g = np.log([w["vol"] for w in active])[None, :] + rng.gumbel(size=(n_items, len(active)))
        picks = np.argsort(-g, axis=1)[:, :r].ravel()
        item = np.repeat(np.arange(n_items), r)
        acc = np.array([active[i]["acc"] - (0.1 if shape == "learning" and active[i]["first"] == wk and wk else 0.0)
                        for i in picks])
        correct = rng.random(item.size) < acc
        lab = np.where(correct, truth[item], (truth[item] + rng.integers(1, n_classes, item.size)) % n_classes)
        dur = np.array([active[i]["speed"] for i in picks]) * rng.lognormal(0, 0.3, item.size)
        hour = np.array([active[i]["hour"] for i in picks]) + rng.uniform(0, 3, item.size)
        sub = t0 + wk * WEEK_S + rng.integers(0, 5, item.size) * 86400 + hour * 3600 + rng.uniform(0, 600, item.size)
        weeks.append(pd.DataFrame({"task": [f"it{wk:02d}-{i:05d}" for i in item], "truth": truth[item],
                                   "worker": [active[i]["id"] for i in picks], "y": lab, "dur": dur, "sub": sub}))
    df = pd.concat(weeks, ignore_index=True)
    labels = pd.DataFrame({
        "task": df["task"], "worker": df["worker"], "label": classes[df["y"].to_numpy()],
        "started_at": pd.to_datetime(df["sub"] - df["dur"], unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "submitted_at": pd.to_datetime(df["sub"], unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_s": df["dur"].round(1),
    }).sort_values("submitted_at", kind="stable").reset_index(drop=True)
    truth = df.drop_duplicates("task").set_index("task")["truth"]
    gold_tasks = truth.sample(frac=0.1, random_state=seed)
    gold = pd.DataFrame({"task": gold_tasks.index, "label": classes[gold_tasks.to_numpy()]})
    return labels, gold
