"""Benchmark: bans, audit verification, impact preview and label export on 1 million labels.

Builds a workspace with 1,000,000 synthetic labels (200,000 tasks x 5 labels, 5,000 workers,
4 classes, 80%-accurate workers; seeded, vectorised) inserted straight into the tables, then
times:

- a bulk ban of 2,000 workers (one audit entry each) and the unban, both with the anchor write;
- ``banned_workers`` (the state derived from the log) and ``audit.verify`` over the log;
- the one-step impact preview of banning 50 workers, against the exact re-fit;
- the labels export (load without banned workers, Dawid-Skene, CSV, manifest, audit entry).

    .venv/bin/python benchmarks/actions_1m.py [--labels 1000000] [--out FILE] [--no-write]

Results are written to benchmarks/results/actions_1m.md with the command, commit and machine;
the closing summary is computed from the measured steps.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provenance import RESULTS, Provenance  # noqa: E402

from analytics import actions, audit, export  # noqa: E402
from analytics.access import Identity, bootstrap_admin  # noqa: E402
from analytics.aggregate import aggregate  # noqa: E402
from analytics.dataset import load_project  # noqa: E402
from analytics.impact import current_state, preview_ban  # noqa: E402
from analytics.store import open_workspace  # noqa: E402


def build(root: Path, n_labels: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n_tasks, n_workers, K, red = n_labels // 5, 5_000, 4, 5
    truth = rng.integers(0, K, n_tasks)
    task = np.repeat(np.arange(n_tasks), red)
    # distinct workers per task: a random offset plus a stride, modulo the worker count
    worker = (rng.integers(0, n_workers, n_tasks)[:, None] + np.arange(red)[None, :] * 997) % n_workers
    worker = worker.ravel()
    right = rng.random(task.size) < 0.8
    label = np.where(right, truth[task], rng.integers(0, K, task.size))
    df = pd.DataFrame({"task": pd.Series(task).map("t{:06d}".format), "worker": pd.Series(worker).map("w{:04d}".format),
                       "label": label.astype(str)})
    ws = open_workspace(root / "ws")
    bootstrap_admin(ws, "bench", None)                # a service account: no password sign-in
    pid = ws.project_id("bench", create=True)
    ann = df.assign(project_id=pid, ingest_id=1, source_row=np.arange(1, len(df) + 1))  # noqa: F841
    with ws.transaction() as con:
        con.execute("INSERT INTO ingests (project_id, file_name, size_bytes, sha256, format, rows_read, rows_loaded,"
                    " rows_quarantined, rows_duplicate, actor) VALUES (?, 'synthetic', 0, '', 'canonical', ?, ?, 0, 0,"
                    " 'bench')", [pid, len(df), len(df)])
        con.execute("INSERT INTO annotations (project_id, ingest_id, source_row, task, worker, label)"
                    " SELECT project_id, ingest_id, source_row, task, worker, label FROM ann")
    return ws, sorted(df["worker"].unique())


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def conclusion(rows: list[tuple[str, float, str]], load_s: float, fit_s: float, one_step_s: float,
               refit_s: float, agree: float) -> str:
    """The closing paragraph, from the measured steps (nothing in it is typed in by hand)."""
    timed = [r for r in rows if r[0] != "build workspace"]
    name, sec, _ = max(timed, key=lambda r: r[1])
    total = sum(r[1] for r in timed)
    part = "loading the labels" if load_s >= fit_s else "the Dawid-Skene fit"
    return (f"Slowest step: {name} ({sec:.2f} s, {sec / total:.0%} of the {total:.1f} s timed after the build). "
            f"Timed on their own, `dataset.load_project` took {load_s:.2f} s and `aggregate(..., 'ds')` "
            f"{fit_s:.2f} s, so {part} is the larger part of `current_state` and of the export, which does "
            f"both. The one-step preview took {one_step_s:.2f} s, {refit_s / max(one_step_s, 1e-9):.0f}x less "
            f"than the exact re-fit ({refit_s:.2f} s), and gave the re-fit's label on {agree:.2%} of tasks.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=RESULTS / "actions_1m.md")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    prov = Provenance()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        (ws, workers), t = timed(lambda: build(Path(tmp), args.labels))
        rows.append(("build workspace", t, f"{args.labels:,} labels"))
        pid = ws.project_id("bench")
        me = Identity("bench", "admin")
        _, t = timed(lambda: actions.ban(ws, "bench", workers[:2000], "benchmark", me))
        rows.append(("ban 2,000 workers (2,000 audit entries)", t, ""))
        b, t = timed(lambda: actions.banned_workers(ws.con, pid))
        rows.append(("banned_workers", t, f"{len(b):,} banned"))
        v, t = timed(lambda: audit.verify(ws.con, ws.path / audit.ANCHOR_NAME))
        rows.append(("audit.verify", t, f"{v.n_entries:,} entries, ok={v.ok}"))
        _, t = timed(lambda: actions.unban(ws, "bench", workers[:2000], "benchmark", me))
        rows.append(("unban 2,000 workers", t, ""))
        loaded, load_s = timed(lambda: load_project(ws.con, pid))
        _, fit_s = timed(lambda: aggregate(loaded, "ds"))
        loaded = None          # free it before current_state loads the same labels again
        (data, cons, untrusted, settings), t = timed(lambda: current_state(ws.con, pid))
        rows.append(("load + Dawid-Skene fit (current_state)", t, f"{data.n:,} labels"))
        sel = workers[:50]
        p1, one_step_s = timed(lambda: preview_ban(data, cons, sel))
        rows.append(("one-step preview, ban 50 workers", one_step_s, f"{len(p1.changed)} labels change"))
        p2, refit_s = timed(lambda: preview_ban(data, cons, sel, refit=True))
        agree = float((p1.new_labels == p2.new_labels).mean())
        rows.append(("exact re-fit preview, ban 50 workers", refit_s,
                     f"{len(p2.changed)} labels change; one-step agrees on {agree:.4%} of tasks"))
        _, t = timed(lambda: export.write_export(ws, "bench", "labels", Path(tmp) / "labels.csv", actor=me))
        rows.append(("export labels (CSV + manifest + audit)", t, f"{data.n_tasks:,} rows"))
        ws.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [f"# Actions, audit, impact and export on {args.labels:,} labels", "", prov.header(), "",
             f"Peak resident memory of the process: {peak:,.0f} MiB.", "",
             "| step | seconds | note |", "|---|---:|---|"]
    lines += [f"| {name} | {sec:.2f} | {note} |" for name, sec, note in rows]
    lines += ["", conclusion(rows, load_s, fit_s, one_step_s, refit_s, agree)]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
