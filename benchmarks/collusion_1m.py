"""Speed and memory of CollusionDetector on 1 million labels with timestamps.

200,000 tasks x 5 labels, 5,000 workers (volumes ~ log-normal), binary labels with 85%
accurate honest workers, timestamps in per-worker sessions, plus one copy ring of 8 accounts
and 5 co-timed bots so the community and co-timing paths do real work.

    .venv/bin/python benchmarks/collusion_1m.py [--out benchmarks/results/collusion_1m.md] [--no-write]

Writes benchmarks/results/collusion_1m.md (timings, memory, what was found) with the command,
commit and machine.
"""

from __future__ import annotations

import argparse
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


def main(argv=None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from provenance import RESULTS, Provenance

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=RESULTS / "collusion_1m.md")
    ap.add_argument("--no-write", action="store_true", help="print the results, do not write the file")
    args = ap.parse_args(argv)
    prov = Provenance()
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
    comms = det.communities_
    n_suspect = int(comms["suspect"].sum()) if len(comms) else 0
    home = ""
    if len(comms) and {"members", "size"} <= set(comms.columns):
        hit = comms[[bool(ring & set(m)) for m in comms["members"]]]          # members are worker codes
        if len(hit):
            r = hit.iloc[0]
            core = len(r["core"]) if "core" in hit.columns and len(r["core"]) else None
            home = (f" The ring sits in a Louvain community of {int(r['size'])} members"
                    + (f", pruned to a core of {core} before it is tested" if core is not None else "")
                    + f"; that community is {'suspect' if bool(r.get('suspect', False)) else 'not suspect'}.")
    lines = [
        "# CollusionDetector on 1 million labels",
        "",
        prov.header(),
        "",
        f"Data: {data.n_tasks:,} tasks x 5 labels ({data.n:,} labels after dropping repeated workers), "
        f"{data.n_workers:,} workers (log-normal volumes), binary, honest accuracy 0.85, per-worker session "
        "timestamps; one ring of 8 accounts copying one random answer sheet on 300 tasks (3 of them per task), "
        "5 co-timed bots answering 200 extra tasks at random within 3 s of each other. "
        'Consensus: `aggregate(data, "ds")`.',
        "",
        "| step | seconds |",
        "|---|---:|",
        f"| generate data | {t1 - t0:.1f} |",
        f"| Dawid-Skene (`analytics.aggregate`) | {t2 - t1:.1f} |",
        f"| **CollusionDetector.fit** (pairs, co-timing permutations, Louvain, community tests) | **{t3 - t2:.1f}** |",
        "",
        f"Peak resident memory of the whole process (ru_maxrss): {before:,.0f} MB before the fit, "
        f"**{after:,.0f} MB** after it.",
        "",
        f"Result: {len(det.pairs_):,} pairs with evidence, {len(comms)} Louvain communities, {n_suspect} suspect; "
        f"workers with a signal p < 1e-4: ring members {len(ring & low)}/8, bots {len(bots & low)}/5, "
        f"other workers {len(low - ring - bots)}.{home} "
        "(`tests/test_collusion.py::test_one_ring_inside_a_large_busy_community_is_found` keeps this case.)",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
