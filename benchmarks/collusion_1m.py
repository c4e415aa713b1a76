"""Speed and memory of CollusionDetector on 1 million labels with timestamps.

200,000 tasks x 5 labels, 5,000 workers (volumes ~ log-normal), binary labels with 85%
accurate honest workers, timestamps in per-worker sessions, plus one copy ring of 8 accounts
and 5 co-timed bots so the community and co-timing paths do real work.

Run: .venv/bin/python benchmarks/collusion_1m.py  (writes nothing; paste the output into
benchmarks/results/collusion_1m.md)
"""

from __future__ import annotations

import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.aggregate import aggregate  # noqa: E402
from analytics.collusion import CollusionDetector  # noqa: E402
from analytics.dataset import LabelArrays  # noqa: E402


def make(seed=0, n_tasks=200_000, per_item=5, n_workers=5_000):
    rng = np.random.default_rng(seed)
    vol = rng.lognormal(0, 1.0, n_workers)
    p = vol / vol.sum()
    # each task draws 5 workers by volume (a repeated worker on a task is dropped at the end)
    task = np.repeat(np.arange(n_tasks), per_item)
    worker = rng.choice(n_workers, task.size, p=p)
    truth = rng.integers(0, 2, n_tasks)
    label = np.where(rng.random(task.size) < 0.85, truth[task], 1 - truth[task])
    # ring: 8 accounts copy one random sheet on 300 tasks (replacing honest labels)
    ring_tasks = rng.choice(n_tasks, 300, replace=False)
    sheet = rng.integers(0, 2, n_tasks)
    for i in ring_tasks:                       # 3 of the 8 ring accounts take slots 0-2 of each ring task
        rows = i * per_item + np.arange(3)
        worker[rows] = n_workers - 1 - rng.permutation(8)[:3]
        label[rows] = np.where(rng.random(3) < 0.9, sheet[i], rng.integers(0, 2, 3))
    # timestamps: per-worker sessions
    order = np.lexsort((rng.random(task.size), worker))
    gaps = np.where(rng.random(task.size) < 0.05, rng.uniform(3600, 86400, task.size), rng.exponential(40, task.size))
    t = np.empty(task.size)
    ws = worker[order]
    cs = np.cumsum(gaps)
    start = np.r_[0, np.flatnonzero(ws[1:] != ws[:-1]) + 1]
    base = np.repeat(cs[start] - gaps[start], np.diff(np.r_[start, ws.size]))
    t[order] = cs - base + rng.uniform(0, 30 * 86400, n_workers)[ws]
    # bots: 5 co-timed accounts answering 200 extra tasks at random, within 3 s of each other
    bt = rng.choice(np.setdiff1d(np.arange(n_tasks), ring_tasks), 200, replace=False)
    bot_w = np.repeat(np.arange(n_workers - 30, n_workers - 25), 200)
    bot_task = np.tile(bt, 5)
    bot_t = 10 * 86400.0 + np.tile(np.arange(200) * 20.0, 5) + rng.uniform(0, 3, 1000)
    task = np.r_[task, bot_task]
    worker = np.r_[worker, bot_w]
    label = np.r_[label, rng.integers(0, 2, 1000)]
    t = np.r_[t, bot_t]
    # one answer per (task, worker)
    _, keep = np.unique(task.astype(np.int64) * n_workers + worker, return_index=True)
    task, worker, label, t = task[keep], worker[keep], label[keep], t[keep]
    return LabelArrays(
        task=task.astype(np.int32), worker=worker.astype(np.int32), label=label.astype(np.int32),
        task_ids=np.array([f"t{i}" for i in range(n_tasks)], dtype=object),
        worker_ids=np.array([f"w{i:05d}" for i in range(n_workers)], dtype=object),
        classes=np.array(["0", "1"], dtype=object), submitted_at=t,
    )


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    t0 = time.perf_counter()
    data = make()
    t1 = time.perf_counter()
    cons = aggregate(data, "ds")
    t2 = time.perf_counter()
    before = rss_mb()
    det = CollusionDetector(seed=0).fit(data, cons)
    t3 = time.perf_counter()
    after = rss_mb()
    ring = set(range(data.n_workers - 8, data.n_workers))
    bots = set(range(data.n_workers - 30, data.n_workers - 25))
    s = det.signals_
    low = set(s.loc[s.p_value < 1e-4, "worker"])
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")
    print(f"labels {data.n:,}  tasks {data.n_tasks:,}  workers {data.n_workers:,}")
    print(f"generate {t1 - t0:.1f} s   ds {t2 - t1:.1f} s   collusion fit {t3 - t2:.1f} s")
    print(f"peak RSS before fit {before:.0f} MB, after fit {after:.0f} MB")
    print(f"pairs with evidence {len(det.pairs_):,}, communities {len(det.communities_)}, "
          f"suspect {int(det.communities_['suspect'].sum()) if len(det.communities_) else 0}")
    print(f"ring members with p < 1e-4: {len(ring & low)}/8; bots: {len(bots & low)}/5; "
          f"other workers with p < 1e-4: {len(low - ring - bots)}")


if __name__ == "__main__":
    main()
