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
import os
import shutil
import signal
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import Provenance  # noqa: E402

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
    """Sums the RSS of a process and its descendants every ``period`` seconds, and their CPU
    time (user + system, the last value seen of every process: a load-independent cost)."""

    def __init__(self, pid: int, period: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.period, self.peak, self.kinds, self.stop = pid, period, 0, {}, False
        self.cpu_by_pid: dict[int, float] = {}

    @property
    def cpu(self) -> float:
        return sum(self.cpu_by_pid.values())

    def run(self) -> None:
        while not self.stop:
            total = 0
            for pid, kind in _tree(self.pid):
                rss = _rss(pid)
                total += rss
                self.kinds[kind] = max(self.kinds.get(kind, 0), rss)
                self.cpu_by_pid[pid] = max(self.cpu_by_pid.get(pid, 0.0), _cpu(pid))
            self.peak = max(self.peak, total)
            time.sleep(self.period)


def _cpu(pid: int) -> float:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


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


def run_one(data: Path, path: str, memory_limit: str, workers: int, budget: float | None = None) -> dict:
    """One `analytics run` in a child process (its own process group), sampled by :class:`Sampler`;
    stopped (the whole group) when it runs past ``budget`` seconds. Progress lines
    (CROWDTRUST_PROGRESS=lines) tell how far it got."""
    out = Path(tempfile.mkdtemp(prefix="scale-out-"))
    if path == "memory":                  # the in-memory `run` reads one file: the folder as one Parquet file
        single = data.with_suffix(".parquet")
        if not single.exists():
            import duckdb

            duckdb.execute(f"COPY (SELECT * FROM read_parquet('{data}/*.parquet')) TO '{single}' (FORMAT parquet)")
        data = single
    cmd = [sys.executable, "-m", "analytics", "run", str(data), "--out", str(out)]
    if path == "dask":
        cmd += ["--engine", "dask", "--workers", str(workers), "--memory-limit", memory_limit]
    t0 = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="scale-tmp-"))      # the run's temporary files, removed after it
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            env={**os.environ, "CROWDTRUST_PROGRESS": "lines", "TMPDIR": str(scratch)})
    s = Sampler(proc.pid)
    s.start()
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    stopped = False
    try:
        proc.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        stopped = True
    finally:                              # past the budget, or this script stopped: end the run's group
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    wall = time.perf_counter() - t0
    shutil.rmtree(scratch, ignore_errors=True)          # a stopped run leaves its layout behind
    stdout = proc.stdout.read()
    reader.join(timeout=5)
    s.stop = True
    s.join()
    steps = [ln.strip()[len("progress "):] for ln in err if ln.startswith("progress ")]
    other = "".join(ln for ln in err if not ln.startswith("progress ")).strip()
    return {"wall": wall, "peak": s.peak, "kinds": s.kinds, "cpu": s.cpu, "rc": proc.returncode, "out": out, "stopped": stopped,
            "last_step": steps[-1] if steps else "", "steps": steps,
            "stdout": stdout.strip().splitlines()[-1] if stdout.strip() else "", "stderr": other[-600:]}


def compare(mem_out: Path, dask_out: Path) -> str:
    a = pd.read_csv(mem_out / "labels.csv", usecols=["task", "label"]).set_index("task")["label"]
    b = pd.read_csv(dask_out / "labels.csv", usecols=["task", "label"]).set_index("task")["label"].reindex(a.index)
    wa = pd.read_csv(mem_out / "workers.csv", usecols=["worker", "suspect"]).set_index("worker")["suspect"]
    wb = pd.read_csv(dask_out / "workers.csv", usecols=["worker", "suspect"]).set_index("worker")["suspect"]
    wb = wb.reindex(wa.index)
    return (f"same label on {(a == b).mean():.4%} of {len(a):,} items; suspects {int(wa.sum())} in memory, "
            f"{int(wb.sum())} partitioned, {int((wa != wb).sum())} differ")


def _step_names(steps: list[str]) -> list[str]:
    """The top-level steps of progress lines ``NN% step[: detail]``, in order, once each."""
    names: list[str] = []
    for st in steps:
        name = st.split(" ", 1)[-1].split(":", 1)[0]
        if not names or names[-1] != name:
            names.append(name)
    return names


def gb(b: float) -> str:
    return f"{b / 1e9:.2f}"


# -- the results file: rows kept across invocations, each citing the run that made it ----------

TABLE_HEAD = ("| labels | path | wall s | peak GB, all processes | client GB | largest worker GB | run | notes |\n"
              "|---|---|---|---|---|---|---|---|\n")


def _read_results(path: Path = RESULTS) -> tuple[list[str], list[str]]:
    """(table rows, run blocks) of a results file (empty when it has none)."""
    if not path.exists():
        return [], []
    text = path.read_text()
    rows = [ln for ln in text.splitlines() if ln.startswith("| ") and ln[2:3].isdigit() and ln.count("|") >= 9]
    runs = text.split("## Runs", 1)[1].split("\n### ")[1:] if "## Runs" in text else []
    return rows, ["### " + r.rstrip() for r in runs]


def _key(row: str) -> tuple[str, str]:
    cells = [c.strip() for c in row.strip("|").split("|")]
    return cells[0], cells[1].split(" (")[0]


def merge(others: list[Path]) -> None:
    """Add the rows of other results files of this script (e.g. made by runs in parallel in other
    checkouts) to RESULTS, their runs renumbered after this file's; a row replaces this file's
    row of the same size and path; runs no row cites any more are dropped."""
    rows, runs = _read_results()
    for other in others:
        o_rows, o_runs = _read_results(other)
        shift = len(runs)
        renum = {}
        for block in o_runs:
            old_no = int(block.split()[2])
            renum[old_no] = old_no + shift
            runs.append(f"### Run {old_no + shift}\n" + block.split("\n", 1)[1])
        for r in o_rows:
            cells = r.split("|")
            cells[7] = f" {renum[int(cells[7])]} "
            r = "|".join(cells)
            rows[:] = [x for x in rows if _key(x) != _key(r)] + [r]
    cited = {int(r.split("|")[7]) for r in rows}
    kept = [b for b in runs if int(b.split()[2]) in cited]
    renum = {int(b.split()[2]): i + 1 for i, b in enumerate(kept)}
    runs = [f"### Run {renum[int(b.split()[2])]}" + "\n" + b.split("\n", 1)[1] for b in kept]
    out = []
    for r in rows:
        cells = r.split("|")
        cells[7] = f" {renum[int(cells[7])]} "
        out.append("|".join(cells))
    _write_results(out, runs)


def _write_results(rows: list[str], runs: list[str]) -> None:
    order = {"memory": 0, "dask": 1}
    rows = sorted(rows, key=lambda r: (int(_key(r)[0].replace(",", "")), order.get(_key(r)[1], 2)))
    RESULTS.write_text(_description() + TABLE_HEAD + "\n".join(rows) + "\n\n## Runs\n\n" + "\n\n".join(runs) + "\n")


def _bytes_per_label(rows: list[str]) -> tuple[float, str]:
    """In-memory peak bytes per label of the largest measured in-memory row (else the issue's 840)."""
    best = None
    for r in rows:
        cells = [c.strip() for c in r.strip("|").split("|")]
        if cells[1] == "memory" and cells[2].replace(".", "").isdigit():
            n = int(cells[0].replace(",", ""))
            if best is None or n > best[0]:
                best = (n, float(cells[3]) * 1e9, float(cells[2]))
    if best is None:
        return MEM_BYTES_PER_LABEL, "the ~840 B/label measured in issue 17 (10M labels: 8.4 GB)"
    n, peak, wall = best
    return peak / n, f"{peak / n:.0f} B/label and {wall / n * 1e6:.0f} µs/label measured at {n:,} labels above"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", type=float, default=[1e6, 1e7, 3e7, 1e8])
    ap.add_argument("--paths", nargs="+", default=["memory", "dask"])
    ap.add_argument("--memory-limit", default="4GB", help="per Dask worker process")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-max-labels", type=float, default=None,
                    help="do not start the in-memory path above this many labels (the row gives the extrapolated cost)")
    ap.add_argument("--time-budget", type=float, default=None,
                    help="stop a run after this many seconds (the row says so and how far it got)")
    ap.add_argument("--data-dir", default=None, help="keep generated data here (default: a temp folder)")
    ap.add_argument("--merge", nargs="+", type=Path, default=None, metavar="RESULTS_MD",
                    help="only add the rows of other results files of this script (runs made elsewhere in parallel)")
    args = ap.parse_args(argv)
    if args.merge:
        merge(args.merge)
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))    # so a stopped benchmark ends its run too
    prov = Provenance(["benchmarks/scale.py", *(sys.argv[1:] if argv is None else argv)])
    base = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="scale-data-"))
    rows, runs = _read_results()
    run_no = len(runs) + 1
    runs.append(f"### Run {run_no}\n\n" + prov.header())

    def put(row: str) -> None:
        rows[:] = [r for r in rows if _key(r) != _key(row)] + [row]
        runs[-1] = f"### Run {run_no}\n\n" + prov.header()
        _write_results(rows, runs)
        print(row, flush=True)

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
            bpl, src = _bytes_per_label(rows)
            over = n * bpl > 0.9 * MACHINE_BYTES
            if path == "memory" and (over or (args.memory_max_labels and n > args.memory_max_labels)):
                why = (f"infeasible: would need ~{gb(n * bpl)} GB, more than the machine's 24 GiB" if over else
                       "not started in this session's time budget; it would fit in memory")
                put(f"| {n:,} | memory | not run | ~{gb(n * bpl)} (extrapolated) | | | {run_no} | {why} "
                    f"(extrapolated linearly from {src}) |")
                continue
            r = run_one(data, path, args.memory_limit, args.workers, args.time_budget)
            if r["rc"] == 0:
                outs[path] = r["out"]
            k = r["kinds"]
            if r["stopped"]:
                note = (f"NOT COMPLETE: stopped at the time budget of {args.time_budget:.0f} s, at step "
                        f"'{r['last_step']}' (steps reached: {' -> '.join(_step_names(r['steps']))}); the peak is "
                        f"that of the steps it ran")
            else:
                note = r["stdout"] if r["rc"] == 0 else f"FAILED (exit {r['rc']}): {r['stderr']}"
            note = (f"CPU {r['cpu']:,.0f} s over all processes ({r['cpu'] / n * 1e6:.0f} µs per label); "
                    + note.replace("|", "/"))
            name = f"dask ({args.workers} x {args.memory_limit})" if path == "dask" else path
            wall = f"> {r['wall']:.0f} (stopped)" if r["stopped"] else f"{r['wall']:.0f}"
            row = (f"| {n:,} | {name} | {wall} | {gb(r['peak'])} | {gb(k.get('client', 0))} | "
                   f"{gb(k.get('worker', 0))} | {run_no} | load {load0[0]:.1f} -> {os.getloadavg()[0]:.1f}; {note}")
            if len(outs) == 2 and path == args.paths[-1]:
                row += f"; {compare(outs['memory'], outs['dask'])}"
            put(row + " |")
    runs[-1] = f"### Run {run_no}\n\n" + prov.header()
    _write_results(rows, runs)
    return 0


def _description() -> str:
    return f"""# Scale: in memory against partitioned on Dask (`benchmarks/scale.py`)

Data: items with 5 labels from distinct workers, 50,000 workers (5,000 at 1M labels, about 200
labels each), 4 classes, 0.5% random spammers, random submit times over 30 days and log-normal
durations (`generate()`), as a folder of Parquet files. Command per row:
`python -m analytics run DATA --out DIR` (memory: ingest into a throw-away workspace, then the
in-memory pipeline) or with `--engine dask --workers 2 --memory-limit L` (DuckDB writes the
item-partitioned layout from the Parquet folder in place, then the partitioned pipeline on a
local cluster of two worker processes with L each). Peak memory is the largest sum of the
resident memory of every process of the run (client, scheduler, nannies, workers) sampled every
0.5 s; the client and worker columns are the largest single process of each kind. The machine
({os.cpu_count()} CPUs, 24 GiB) is shared with other engineers: each row gives the 1-minute load
average before -> after it, each run (last column) its command, commit and load below; above 2 the
rows competed for the two cores, so wall times are upper bounds; the notes give the CPU seconds
of all processes together (user + system), which the load does not inflate. A run stopped at
`--time-budget` is marked NOT COMPLETE with the steps it reached. "extrapolated" figures were
not measured: they scale the measured row they name linearly in labels.

"""


if __name__ == "__main__":
    raise SystemExit(main())
