"""End-to-end `python -m analytics run` on 1M labels with timestamps (issues 3 and 4).

Generates a canonical CSV (200k tasks x 5 labels, 5,000 workers, 4 classes, submit and
start times in working sessions) in a temp folder, runs the one-shot command in a child
process and records wall seconds and the child's peak resident memory, then writes
``benchmarks/results/pipeline_1m.md``. Targets: under 60 s and 4 GB on a 2-core machine.

    .venv/bin/python benchmarks/pipeline_1m.py [--tasks 200000] [--workers 5000]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from provenance import RESULTS, Provenance  # noqa: E402


def make_csv(path: Path, tasks: int, workers: int, seed: int = 0) -> int:
    from reliability_1m import simulate

    data, _, _ = simulate(tasks, workers, 5, 4, seed)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(data.n), data.worker))
    w = data.worker[order]
    seq = np.arange(data.n) - np.searchsorted(w, w)          # position within the worker's labels
    session = seq // 30
    start = rng.uniform(0, 30 * 86400, size=data.n_workers * 2000)
    s0 = start[(w.astype(np.int64) * 2000 + np.minimum(session, 1999))]
    dur = rng.lognormal(np.log(20), 0.4, data.n)
    submitted = s0 + (seq % 30 + 1) * 25.0 + rng.uniform(0, 5, data.n)
    t0 = pd.Timestamp("2026-09-01", tz="UTC").value / 1e9
    df = pd.DataFrame({
        "task": data.task_ids[data.task[order]], "worker": data.worker_ids[w],
        "label": data.classes[data.label[order]],
        "submitted_at": pd.to_datetime(t0 + submitted, unit="s", utc=True).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_s": dur.round(1),
    })
    df.to_csv(path, index=False)
    return len(df)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=5_000)
    ap.add_argument("--out", type=Path, default=RESULTS / "pipeline_1m.md")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    prov = Provenance(None if argv is None else [__file__, *argv])
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "labels_1m.csv"
        n = make_csv(csv, args.tasks, args.workers)
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "analytics", "run", str(csv), "--out", str(Path(tmp) / "out"),
                               "--quiet"], cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if proc.returncode != 0:
            print(proc.stderr)
            return 1
        workers = pd.read_csv(Path(tmp) / "out" / "workers.csv", usecols=["suspect"])
    lines = [
        "# `analytics run` end to end on 1M labels with timestamps",
        "",
        prov.header(),
        "",
        f"Input: {n:,} labels, {args.tasks:,} tasks, {args.workers:,} workers, 4 classes, submit times and durations.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| wall seconds (ingest + DS + agreement + worker/item scores + all detectors + verdicts + CSVs) | {wall:.1f} |",
        f"| peak resident memory of the child | {peak_mb:,.0f} MB |",
        f"| suspect workers | {int(workers['suspect'].sum())} of {len(workers):,} |",
        "",
        "Command output: " + proc.stdout.strip(),
    ]
    print("\n".join(lines))
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
