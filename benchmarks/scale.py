"""Scale benchmark: `analytics run` in memory against `--engine dask`, 1M to 100M labels.

Generates a crowd as a folder of Parquet files (written in chunks, never held whole): items
with 5 labels each from distinct workers, 50,000 workers with accuracies U(0.6, 0.95) on 4
classes, 0.5% random spammers, random submit times over 30 days and log-normal durations.
Each configuration runs `python -m analytics run DATA --out DIR [--engine dask ...]` in a child
process while a sampler adds up the resident memory of the child and all its descendants (the
client, the Dask scheduler, nannies and worker processes) every 0.5 s; the row records the wall
time, the peak of that sum and the peak of each process kind. A configuration whose in-memory
run would need more memory than the machine has (measured ~840 bytes per label) is not started
and the row says why. Rows are appended to benchmarks/results/scale.md as they finish.

    .venv/bin/python benchmarks/scale.py --sizes 1e6 1e7 3e7 1e8 [--paths memory dask]
           [--memory-limit 4GB] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "scale.md"
WORKERS = 50_000
K = 4
PER_ITEM = 5
CHUNK_ITEMS = 400_000
MEM_BYTES_PER_LABEL = 840        # measured: 10M labels in memory peaked at 8.4 GB
MACHINE_BYTES = 24 * 2**30


def workers_for(n_labels: int) -> int:
    return WORKERS if n_labels >= 5_000_000 else 5_000


def generate(folder: Path, n_labels: int, seed: int = 0) -> None:
    """Write the crowd as Parquet chunks of CHUNK_ITEMS items (see the module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    W = workers_for(n_labels)
    acc = rng.uniform(0.6, 0.95, W)
    spam = rng.random(W) < 0.005
    wid = np.array([f"w{i:06d}" for i in range(W)], dtype=object)
    cls = np.array([f"c{k}" for k in range(K)], dtype=object)
    n_items = n_labels // PER_ITEM
    t0 = pd.Timestamp("2026-06-01", tz="UTC").value // 1000          # microseconds
    for c, lo in enumerate(range(0, n_items, CHUNK_ITEMS)):
        m = min(CHUNK_ITEMS, n_items - lo)
        truth = rng.integers(0, K, m)
        start = rng.integers(0, W, m)
        stride = rng.integers(1, W // PER_ITEM, m)
        w = (start[:, None] + stride[:, None] * np.arange(PER_ITEM)[None, :]) % W
        w = w.ravel()
        t = np.repeat(truth, PER_ITEM)
        right = rng.random(w.size) < acc[w]
        other = (t + rng.integers(1, K, w.size)) % K
        y = np.where(right, t, other)
        y = np.where(spam[w], rng.integers(0, K, w.size), y)
        dur = rng.lognormal(np.log(20.0), 0.5, w.size)
        sub = t0 + (rng.random(w.size) * 30 * 86400e6).astype(np.int64)
        items = np.array([f"t{i:09d}" for i in range(lo, lo + m)], dtype=object)
        table = pa.table({
            "task": pa.array(np.repeat(items, PER_ITEM), pa.string()),
            "worker": pa.array(wid[w], pa.string()),
            "label": pa.array(cls[y], pa.string()),
            "submitted_at": pa.array(sub, pa.timestamp("us", tz="UTC")),
            "duration_s": pa.array(dur.round(2)),
        })
        pq.write_table(table, folder / f"part-{c:05d}.parquet")


class Sampler(threading.Thread):
    """Sums the RSS of a process and its descendants every ``period`` seconds."""

    def __init__(self, pid: int, period: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.period, self.peak, self.kinds, self.stop = pid, period, 0, {}, False

    def run(self) -> None:
        while not self.stop:
            total = 0
            for pid, kind in _tree(self.pid):
                rss = _rss(pid)
                total += rss
                self.kinds[kind] = max(self.kinds.get(kind, 0), rss)
            self.peak = max(self.peak, total)
            time.sleep(self.period)


def _tree(root: int) -> list[tuple[int, str]]:
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="ignore")
            kids = []
            for task in Path(f"/proc/{pid}/task").iterdir():       # children of every thread
                kids += (task / "children").read_text().split()
        except OSError:
            continue
        kind = "client" if pid == root else ("worker" if "spawn_main" in cmd or "multiprocessing" in cmd else "other")
        out.append((pid, kind))
        todo.extend(int(k) for k in kids)
    return out


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_one(data: Path, path: str, memory_limit: str, workers: int) -> dict:
    out = Path(tempfile.mkdtemp(prefix="scale-out-"))
    if path == "memory":                  # the in-memory `run` reads one file: the folder as one Parquet file
        single = data.with_suffix(".parquet")
        if not single.exists():
            import duckdb

            duckdb.execute(f"COPY (SELECT * FROM read_parquet('{data}/*.parquet')) TO '{single}' (FORMAT parquet)")
        data = single
    cmd = [sys.executable, "-m", "analytics", "run", str(data), "--out", str(out), "--quiet"]
    if path == "dask":
        cmd += ["--engine", "dask", "--workers", str(workers), "--memory-limit", memory_limit]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    s = Sampler(proc.pid)
    s.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    s.stop = True
    s.join()
    return {"wall": wall, "peak": s.peak, "kinds": s.kinds, "rc": proc.returncode, "out": out,
            "stdout": stdout.strip().splitlines()[-1] if stdout.strip() else "", "stderr": stderr.strip()[-600:]}


def compare(mem_out: Path, dask_out: Path) -> str:
    a = pd.read_csv(mem_out / "labels.csv", usecols=["task", "label"]).set_index("task")["label"]
    b = pd.read_csv(dask_out / "labels.csv", usecols=["task", "label"]).set_index("task")["label"].reindex(a.index)
    wa = pd.read_csv(mem_out / "workers.csv", usecols=["worker", "suspect"]).set_index("worker")["suspect"]
    wb = pd.read_csv(dask_out / "workers.csv", usecols=["worker", "suspect"]).set_index("worker")["suspect"]
    wb = wb.reindex(wa.index)
    return (f"same label on {(a == b).mean():.4%} of {len(a):,} items; suspects {int(wa.sum())} in memory, "
            f"{int(wb.sum())} partitioned, {int((wa != wb).sum())} differ")


def gb(b: float) -> str:
    return f"{b / 1e9:.2f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", type=float, default=[1e6, 1e7, 3e7, 1e8])
    ap.add_argument("--paths", nargs="+", default=["memory", "dask"])
    ap.add_argument("--memory-limit", default="4GB", help="per Dask worker process")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--data-dir", default=None, help="keep generated data here (default: a temp folder)")
    args = ap.parse_args(argv)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    base = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="scale-data-"))
    if not RESULTS.exists() or "| labels |" not in RESULTS.read_text():
        RESULTS.write_text(_header())
    for size in args.sizes:
        n = int(size)
        data = base / f"crowd_{n}_{workers_for(n)}w"
        if not data.exists():
            t = time.perf_counter()
            generate(data, n)
            print(f"generated {n:,} labels in {time.perf_counter() - t:.0f} s", flush=True)
        outs = {}
        for path in args.paths:
            load0 = os.getloadavg()
            if path == "memory" and n * MEM_BYTES_PER_LABEL > 0.9 * MACHINE_BYTES:
                row = (f"| {n:,} | memory | not run | ~{gb(n * MEM_BYTES_PER_LABEL)} (projected) | | | would need "
                       f"{gb(n * MEM_BYTES_PER_LABEL)} GB at the measured ~{MEM_BYTES_PER_LABEL} B/label, more than the "
                       f"machine's 24 GiB |")
            else:
                r = run_one(data, path, args.memory_limit, args.workers)
                outs[path] = r["out"]
                k = r["kinds"]
                note = r["stdout"] if r["rc"] == 0 else f"FAILED (exit {r['rc']}): {r['stderr']}"
                row = (f"| {n:,} | {path}{' (' + str(args.workers) + ' x ' + args.memory_limit + ')' if path == 'dask' else ''}"
                       f" | {r['wall']:.0f} | {gb(r['peak'])} | {gb(k.get('client', 0))} | "
                       f"{gb(k.get('worker', 0))} | load {load0[0]:.1f} -> {os.getloadavg()[0]:.1f}; {note} |")
            if len(outs) == 2 and path == args.paths[-1]:
                row = row[:-2] + f"; {compare(outs['memory'], outs['dask'])} |"
            with open(RESULTS, "a") as fh:
                fh.write(row + "\n")
            print(row, flush=True)
    with open(RESULTS, "a") as fh:
        fh.write(f"\nCommit {commit}, finished {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.\n")
    return 0


def _header() -> str:
    return f"""# Scale: in memory against partitioned on Dask (`benchmarks/scale.py`)

Machine: {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, 24 GiB, shared with
other engineers while it ran (the load average before -> after each run is in its row; above 2 the
runs competed for the two cores). Data: items with 5 labels from distinct workers, 50,000 workers
(5,000 at 1M labels), 4 classes, 0.5% random spammers, random submit times over 30 days and durations (`generate()`),
as a folder of Parquet files. Command per row: `python -m analytics run DATA --out DIR` (memory:
ingest into a throw-away workspace, then the in-memory pipeline) or with
`--engine dask --workers 2 --memory-limit L` (DuckDB writes the item-partitioned layout from the
Parquet folder in place, then the partitioned pipeline on a local cluster of two worker processes).
Peak memory is the largest sum of the resident memory of every process of the run (client,
scheduler, nannies, workers) sampled every 0.5 s; the client and worker columns are the largest
single process of each kind.

| labels | path | wall s | peak GB, all processes | client GB | largest worker GB | notes |
|---|---|---|---|---|---|---|
"""


if __name__ == "__main__":
    raise SystemExit(main())
