"""Honest crowds of many shapes: the null every alarm is checked against.

A detector is only as good as its null. The shared datasets show one kind of crowd (random
assignment, times spread over weeks); real platforms produce many others, and each one
breaks a naive timing or pattern test in its own way. :func:`generate` simulates an honest
crowd (no attacker: every worker's accuracy on every class is at least ``min_margin`` above
chance) in one of the :data:`SHAPES`, with gold for every item:

==================  ===========================================================================
shape               what is realistic about it (and which naive test it breaks)
==================  ===========================================================================
busy_pool_in_order  items served in order to a busy pool, so an item's answers arrive within
                    seconds of each other (naive co-timing)
inhouse_team        12 employees working one queue in order together, office hours, weekdays
                    (co-timing; a population z-score over 12 nearly equal workers)
daily_rush          a batch published at 09:00 every day, the crowd rushes at it and tails off
                    (burst against the worker's own quiet hours; co-timing)
timezones           workers in sessions in their own time zones, items at random (drift, time of day)
fast_pros           10% fast, very accurate professionals (too-fast, burst)
shift_work          three 8-hour shifts working the queue in order (co-timing within a shift)
heavy_tail          Pareto-distributed volumes: a few workers do most of the work (burst, drift)
imbalanced          85/15 classes and class-biased honest workers (skew, straight-lining, quality)
hard_items          4 classes, a fifth of the items with one shared plausible wrong answer
                    (co-error, collusion communities)
mixed_skill         accuracies from 0.6 to 0.95 on an 85/15 prior: weak but honest workers
                    (a low-quality rule without a test against chance)
small_team          5 in-house annotators, every item labelled by 3 of them (small-sample tests)
==================  ===========================================================================

The generative model (all vectorised, seeded):

* **Workers.** Per-class accuracy a_wc ~ U(1/K + ``min_margin``, ``max_accuracy``); errors spread
  over the other classes with a Dirichlet draw, so some honest workers are class-biased.
  ``fast_share`` of the workers are professionals: accuracy >= ``fast_accuracy`` and durations
  divided by ``fast_speedup``.
* **Volumes.** ``volume`` = "equal" (Poisson around the mean), "lognormal" (sigma 0.8) or
  "pareto" (alpha 1.3), capped at the number of items.
* **Time.** Labels come in sessions (geometric lengths, mean ``session_labels``); inside a
  session t_k = t_{k-1} + d_k + g_k with a log-normal duration d_k (item effect, worker
  effect, noise) and an exponential pause g_k. Session starts follow ``schedule``: "anytime"
  (uniform over ``days``), "timezones" (local evening in one of 17 time-zone offsets),
  "office" (09:00-17:00 weekdays, one session a day), "shifts" (one of three 8-hour shifts)
  or "rush" (09:00 plus an exponential delay with mean ``rush_mean_s``; sessions that start in
  the first hour work ``rush_speedup`` times faster, racing for the fresh batch). A worker's
  sessions never overlap.
* **Items.** ``serving`` = "random" (any item, redundancy ``redundancy`` distinct workers per
  item), "in_order" (labels sorted by time take the next item in the queue, ``redundancy``
  consecutive labels per item) or "daily_batch" (each day's labels take items of that day's
  batch, in any order). A worker never answers an item twice.
* **Answers.** y ~ A_w[z_i] with z_i ~ ``prior``; on a ``hard_share`` of the items a shared
  plausible wrong answer d_i replaces the worker's answer with probability ``hard_pull``.

References: the failure modes of detection-methods.md §2.1 (queue releases make everyone
burst), §2.3 (class-homogeneous queues), §3.3 (queue-release synchrony); Ipeirotis et al.
2010 (honest class-biased workers).

Example
-------
>>> labels, gold = generate("inhouse_team", n_labels=3000, seed=1)
>>> sorted(labels.columns)
['duration_s', 'label', 'started_at', 'submitted_at', 'task', 'worker']
>>> labels["worker"].nunique()
12
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.errors import UserError
from analytics.redteam.timing import SYNTH_T0, group_starts, segmented_cumsum

DAY = 86_400.0
HOUR = 3_600.0


@dataclass(frozen=True)
class CrowdShape:
    """Parameters of an honest crowd (see the module docstring)."""

    n_workers: int = 800
    n_classes: int = 2
    prior: tuple[float, ...] | None = None          #: class prior; None = uniform
    redundancy: int = 5                              #: distinct workers per item
    min_margin: float = 0.27                         #: least accuracy above chance on every class
    max_accuracy: float = 0.97
    volume: str = "lognormal"                        #: equal | lognormal | pareto
    schedule: str = "anytime"                        #: anytime | timezones | office | shifts | rush
    serving: str = "random"                          #: random | in_order | daily_batch
    days: float = 14.0
    labels_per_day: float | None = None              #: if set, days = n_labels / this (a pool as busy at any size)
    session_labels: float = 30.0
    duration_s: float = 20.0                         #: typical time on one item
    pause_s: float = 4.0                             #: mean pause between labels in a session
    rush_mean_s: float = 2.0 * HOUR
    rush_speedup: float = 2.5                        #: sessions in the first hour of a rush work this much faster
    fast_share: float = 0.0
    fast_accuracy: float = 0.93
    fast_speedup: float = 4.0
    hard_share: float = 0.0
    hard_pull: float = 0.3
    bias_concentration: float = 1.0                  #: Dirichlet concentration of each worker's errors


SHAPES: dict[str, CrowdShape] = {
    "busy_pool_in_order": CrowdShape(n_workers=1000, serving="in_order", schedule="anytime", labels_per_day=100_000),
    "inhouse_team": CrowdShape(n_workers=12, redundancy=3, volume="equal", schedule="office",
                               serving="in_order", session_labels=400.0, days=60.0),
    "daily_rush": CrowdShape(n_workers=800, schedule="rush", serving="daily_batch", days=14.0),
    "timezones": CrowdShape(n_workers=666, redundancy=3, schedule="timezones", serving="random", days=21.0),
    "fast_pros": CrowdShape(n_workers=800, fast_share=0.1, serving="random"),
    "shift_work": CrowdShape(n_workers=300, redundancy=3, volume="equal", schedule="shifts",
                             serving="in_order", session_labels=200.0, days=30.0),
    "heavy_tail": CrowdShape(n_workers=2000, volume="pareto", serving="random", days=21.0),
    "imbalanced": CrowdShape(n_workers=800, prior=(0.85, 0.15), bias_concentration=0.3, serving="random"),
    "hard_items": CrowdShape(n_workers=600, n_classes=4, redundancy=5, hard_share=0.2, hard_pull=0.3,
                             serving="random"),
    "mixed_skill": CrowdShape(n_workers=800, min_margin=0.1, max_accuracy=0.95, prior=(0.85, 0.15),
                              serving="random"),
    "small_team": CrowdShape(n_workers=5, redundancy=3, volume="equal", schedule="office", serving="random",
                             session_labels=300.0, days=60.0),
}


def generate(shape: str | CrowdShape, n_labels: int = 200_000, seed: int = 0,
             **overrides) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate an honest crowd; return ``(labels, gold)`` frames.

    ``labels`` has the canonical columns task, worker, label, started_at, submitted_at (UTC
    timestamps) and duration_s; ``gold`` has task, label for every item. ``overrides`` replace
    fields of the named shape (e.g. ``n_workers=50``).
    """
    spec = _resolve(shape, overrides)
    if spec.labels_per_day:
        spec = dataclasses.replace(spec, days=max(n_labels / spec.labels_per_day, 0.05))
    rng = np.random.default_rng(seed)
    K = spec.n_classes
    r = spec.redundancy
    n_items = max(int(np.ceil(n_labels / r)), 1)
    if spec.n_workers < r:
        raise UserError(f"a crowd of {spec.n_workers} workers cannot give {r} distinct answers per item")
    vol = _volumes(spec, n_items * r, n_items, rng)
    worker = np.repeat(np.arange(spec.n_workers), vol)
    start, dur = _times(spec, worker, vol, rng)
    task = _serve(spec, worker, start + dur, n_items, rng)
    kept = task >= 0
    worker, start, dur, task = worker[kept], start[kept], dur[kept], task[kept]
    prior = np.full(K, 1.0 / K) if spec.prior is None else np.asarray(spec.prior, float) / np.sum(spec.prior)
    truth = rng.choice(K, size=n_items, p=prior)
    label = _answers(spec, worker, task, truth, rng)
    # the item effect on duration: harder items take longer for everyone
    item_effect = np.exp(rng.normal(0.0, 0.4, n_items))
    dur = dur * item_effect[task]
    names = _ids("w", spec.n_workers)
    items = _ids("item", n_items)
    submitted = start + dur
    labels = pd.DataFrame({
        "task": items[task], "worker": names[worker], "label": _class_names(K)[label],
        "started_at": pd.to_datetime(start, unit="s", utc=True),
        "submitted_at": pd.to_datetime(submitted, unit="s", utc=True),
        "duration_s": np.round(dur, 3),
    }).sort_values("submitted_at", kind="stable").reset_index(drop=True)
    gold = pd.DataFrame({"task": items, "label": _class_names(K)[truth]})
    used = np.unique(task)
    return labels, gold.iloc[used].reset_index(drop=True)


def _resolve(shape: str | CrowdShape, overrides: dict) -> CrowdShape:
    if isinstance(shape, str):
        if shape not in SHAPES:
            raise UserError(f"unknown crowd shape {shape!r}; choose from {', '.join(SHAPES)}")
        shape = SHAPES[shape]
    return dataclasses.replace(shape, **overrides) if overrides else shape


def _ids(prefix: str, n: int) -> np.ndarray:
    width = len(str(max(n - 1, 0)))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(n)], dtype=object)


def _class_names(K: int) -> np.ndarray:
    return np.array(["neg", "pos"] if K == 2 else [f"c{k}" for k in range(K)], dtype=object)


def _volumes(spec: CrowdShape, total: int, n_items: int, rng) -> np.ndarray:
    """Labels per worker summing to ``total``, each at most ``n_items`` and at least 1."""
    W = spec.n_workers
    if spec.volume == "equal":
        raw = rng.poisson(50.0, W) + 1.0
    elif spec.volume == "lognormal":
        raw = rng.lognormal(0.0, 0.8, W)
    elif spec.volume == "pareto":
        raw = rng.pareto(1.3, W) + 1.0
    else:
        raise UserError(f"unknown volume {spec.volume!r}: equal, lognormal or pareto")
    vol = np.ones(W, np.int64)
    cap = n_items
    remaining = total - W
    if remaining < 0:
        raise UserError(f"{total} labels cannot be spread over {W} workers")
    share = raw / raw.sum()
    for _ in range(20):                       # water-filling under the per-worker cap
        room = cap - vol
        open_ = room > 0
        if remaining <= 0 or not open_.any():
            break
        s = np.where(open_, share, 0.0)
        add = np.minimum(np.floor(remaining * s / s.sum()).astype(np.int64), room)
        if add.sum() == 0:
            idx = np.flatnonzero(open_)[: remaining]
            add = np.zeros(W, np.int64)
            add[idx] = 1
        vol += add
        remaining = total - int(vol.sum())
    return vol


def _session_starts(spec: CrowdShape, sess_worker: np.ndarray, sess_index: np.ndarray, rng) -> np.ndarray:
    """Start time of every session (seconds after SYNTH_T0), before overlap removal."""
    S = sess_worker.shape[0]
    days = spec.days
    if spec.schedule == "anytime":
        return rng.uniform(0.0, days * DAY, S)
    if spec.schedule == "timezones":
        tz = rng.integers(-8, 9, spec.n_workers).astype(float)       # UTC offset in hours
        day = rng.integers(0, max(int(days), 1), S).astype(float)
        local = rng.uniform(18.0, 23.0, S)
        return day * DAY + (local - tz[sess_worker]) * HOUR + 12 * HOUR
    if spec.schedule == "office":
        # one session a day, weekdays only, starting 09:00 +- 15 minutes
        day = _weekday(sess_index)
        return day * DAY + 9 * HOUR + rng.normal(0.0, 900.0, S)
    if spec.schedule == "shifts":
        shift = rng.integers(0, 3, spec.n_workers)
        day = sess_index.astype(float)
        return day * DAY + shift[sess_worker] * 8 * HOUR + rng.normal(0.0, 600.0, S)
    if spec.schedule == "rush":
        day = rng.integers(0, max(int(days), 1), S).astype(float)
        return day * DAY + 9 * HOUR + rng.exponential(spec.rush_mean_s, S)
    raise UserError(f"unknown schedule {spec.schedule!r}")


def _weekday(index: np.ndarray) -> np.ndarray:
    """The index-th weekday (Monday-Friday) as a day number, counting from a Monday."""
    index = index.astype(np.int64)
    return (index // 5) * 7 + index % 5


def _session_cap(spec: CrowdShape) -> float:
    """Longest a session may run, seconds (office hours, a shift, or open-ended)."""
    return {"office": 8 * HOUR, "shifts": 8 * HOUR}.get(spec.schedule, np.inf)


def _times(spec: CrowdShape, worker: np.ndarray, vol: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """Start time and duration of every label; labels arrive worker by worker (``worker`` sorted)."""
    n = worker.shape[0]
    W = spec.n_workers
    speed = np.exp(rng.normal(0.0, 0.35, W))
    fast = _fast_workers(spec, W)
    speed = np.where(fast, speed / spec.fast_speedup, speed)
    dur = spec.duration_s * speed[worker] * np.exp(rng.normal(0.0, 0.4, n))
    gap = rng.exponential(spec.pause_s, n)
    step = dur + gap
    # sessions: a new one starts with probability 1/session_labels, or when the session's
    # running time would pass the schedule's cap (office hours, a shift)
    new = group_starts(worker)
    new |= rng.random(n) < 1.0 / spec.session_labels
    cap = _session_cap(spec)
    if np.isfinite(cap):
        for _ in range(50):
            run = segmented_cumsum(step, new)
            over = run > cap
            first_over = over & ~np.r_[False, over[:-1]] & ~new
            if not first_over.any():
                break
            new |= first_over
    sess = np.cumsum(new) - 1                          # global session id
    sess_worker = worker[new]
    first_sess = np.r_[0, np.cumsum(np.bincount(sess_worker, minlength=W))[:-1]]
    sess_index = np.arange(sess_worker.shape[0]) - first_sess[sess_worker]
    starts = _session_starts(spec, sess_worker, sess_index, rng)
    if spec.schedule == "rush" and spec.rush_speedup != 1.0:
        # sessions that start in the first hour after 09:00 race for the fresh batch
        early = np.mod(starts - 9 * HOUR, DAY) < HOUR
        step = np.where(early[sess], step / spec.rush_speedup, step)
        dur = np.where(early[sess], dur / spec.rush_speedup, dur)
    offset = segmented_cumsum(step, new) - step        # time since the session start
    length = np.bincount(sess, weights=step)
    # sessions of one worker in start order, never overlapping: s'_k = max(s_k, s'_{k-1} + L_{k-1} + break)
    order = np.lexsort((starts, sess_worker))
    s_sorted = starts[order]
    w_sorted = sess_worker[order]
    L = length[order] + rng.exponential(1800.0, order.shape[0])
    first = group_starts(w_sorted)
    C = segmented_cumsum(L, first) - L                 # total length of the earlier sessions
    u = s_sorted - C
    big = (np.abs(u).max() + 1.0) * 4.0
    u = np.maximum.accumulate(u + w_sorted * big) - w_sorted * big
    fixed = np.empty_like(starts)
    fixed[order] = u + C
    start = SYNTH_T0 + fixed[sess] + offset
    return start, dur


def _fast_workers(spec: CrowdShape, W: int) -> np.ndarray:
    k = int(round(spec.fast_share * W))
    fast = np.zeros(W, bool)
    fast[np.linspace(0, W - 1, k).astype(int) if k else []] = True
    return fast


def _serve(spec: CrowdShape, worker: np.ndarray, t: np.ndarray, n_items: int, rng) -> np.ndarray:
    """Item of every label; each item gets ``redundancy`` distinct workers."""
    n = worker.shape[0]
    r = spec.redundancy
    if spec.serving == "random":
        task = rng.permutation(np.arange(n) % n_items)
    elif spec.serving == "in_order":
        order = np.argsort(t, kind="stable")
        task = np.empty(n, np.int64)
        task[order] = np.arange(n) // r
    elif spec.serving == "daily_batch":
        # each day's labels take items of that day's batch, in any order within the batch
        order = np.lexsort((rng.random(n), np.floor((t - SYNTH_T0) / DAY)))
        task = np.empty(n, np.int64)
        task[order] = np.arange(n) // r
    else:
        raise UserError(f"unknown serving {spec.serving!r}: random, in_order or daily_batch")
    task = np.minimum(task, n_items - 1)
    return _distinct(worker, task, t, spec.serving != "random", rng)


def _distinct(worker: np.ndarray, task: np.ndarray, t: np.ndarray, local: bool, rng) -> np.ndarray:
    """Swap items until no worker answers an item twice (with a label close in time when
    ``local``); the few repeats left after 30 rounds get item -1 and are dropped."""
    n = worker.shape[0]
    order = np.argsort(t, kind="stable")
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    for _ in range(30):
        dup = _repeats(worker, task)
        idx = np.flatnonzero(dup)
        if idx.size == 0:
            return task
        if local:
            step = rng.integers(1, 40, idx.size) * rng.choice([-1, 1], idx.size)
            partner = order[np.clip(rank[idx] + step, 0, n - 1)]
        else:
            partner = rng.integers(0, n, idx.size)
        partner, first = np.unique(partner, return_index=True)
        idx = idx[first]
        keep = ~np.isin(partner, idx)
        idx, partner = idx[keep], partner[keep]
        a, b = task[idx].copy(), task[partner].copy()
        task[idx], task[partner] = b, a
    return np.where(_repeats(worker, task), -1, task)


def _repeats(worker: np.ndarray, task: np.ndarray) -> np.ndarray:
    """True on every label whose (task, worker) appeared earlier."""
    key = task.astype(np.int64) * (int(worker.max()) + 1) + worker
    srt = np.argsort(key, kind="stable")
    dup = np.zeros(key.shape[0], bool)
    dup[srt[1:]] = key[srt[1:]] == key[srt[:-1]]
    return dup


def _answers(spec: CrowdShape, worker: np.ndarray, task: np.ndarray, truth: np.ndarray, rng) -> np.ndarray:
    """Honest answers from per-worker confusion matrices, with hard items' shared wrong answer."""
    K, W = spec.n_classes, spec.n_workers
    lo = 1.0 / K + spec.min_margin
    if lo >= spec.max_accuracy:
        raise UserError(f"min_margin {spec.min_margin} leaves no room for accuracies on {K} classes")
    acc = rng.uniform(lo, spec.max_accuracy, (W, K))
    fast = _fast_workers(spec, W)
    acc[fast] = rng.uniform(max(spec.fast_accuracy, lo), 0.995, (int(fast.sum()), K))
    A = np.zeros((W, K, K))
    if K > 1:
        err = rng.dirichlet(np.full(K - 1, spec.bias_concentration), (W, K))
        for c in range(K):
            others = [k for k in range(K) if k != c]
            A[:, c, others] = (1 - acc[:, c])[:, None] * err[:, c, :]
    A[:, np.arange(K), np.arange(K)] = acc
    z = truth[task]
    cdf = np.cumsum(A[worker, z, :], axis=1)
    label = (rng.random(worker.shape[0])[:, None] > cdf).sum(axis=1)
    label = np.minimum(label, K - 1)
    if spec.hard_share > 0 and K > 1:
        n_items = truth.shape[0]
        hard = rng.random(n_items) < spec.hard_share
        decoy = (truth + rng.integers(1, K, n_items)) % K
        pull = hard[task] & (rng.random(task.shape[0]) < spec.hard_pull)
        label = np.where(pull, decoy[task], label)
    return label
