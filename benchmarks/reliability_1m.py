"""Speed and memory of the reliability engine on 1 million synthetic labels.

200,000 tasks x 5 labels, 5,000 workers with a skewed (log-normal) volume, 4 classes;
workers are honest (accuracy 0.55-0.95), random spammers (5%), constant spammers (3%) or
label flippers (2%). Times each step of the statistical core (analytics.aggregate DS,
analytics.agreement, analytics.workers, analytics.items) and, when available, the whole
in-memory analysis (analytics.pipeline.analyze_arrays). Peak memory is the process's peak
resident set size (getrusage), measured in a fresh process per stage.

    .venv/bin/python benchmarks/reliability_1m.py [--out benchmarks/results/reliability_1m.md]
        [--tasks 200000 --workers 5000 --per-task 5 --classes 4] [--no-pipeline]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from provenance import Provenance  # noqa: E402


def simulate(T: int, W: int, per: int, K: int, seed: int = 0):
    """Coded LabelArrays plus the planted worker kinds."""
    from analytics.dataset import LabelArrays

    rng = np.random.default_rng(seed)
    vol = rng.lognormal(0.0, 1.0, W)
    p = vol / vol.sum()
    z = rng.integers(0, K, T)
    task = np.repeat(np.arange(T, dtype=np.int32), per)
    worker = rng.choice(W, T * per, p=p).astype(np.int32)
    # one label per (task, worker): drop the rare repeats
    key = task.astype(np.int64) * W + worker
    _, first = np.unique(key, return_index=True)
    keep = np.zeros(len(key), bool)
    keep[first] = True
    task, worker = task[keep], worker[keep]
    kind = rng.choice(4, W, p=[0.90, 0.05, 0.03, 0.02])            # honest, random, constant, flipper
    acc = rng.uniform(0.55, 0.95, W)
    zt = z[task]
    wrong = (zt + rng.integers(1, K, len(task))) % K
    y = np.where(rng.random(len(task)) < acc[worker], zt, wrong)
    kw = kind[worker]
    y = np.where(kw == 1, rng.integers(0, K, len(task)), y)
    y = np.where(kw == 2, 0, y)
    y = np.where(kw == 3, (zt + 1) % K, y)
    data = LabelArrays(
        task=task, worker=worker, label=y.astype(np.int32),
        task_ids=np.array([f"t{i}" for i in range(T)], dtype=object),
        worker_ids=np.array([f"w{i:05d}" for i in range(W)], dtype=object),
        classes=np.array([str(k) for k in range(K)], dtype=object),
        n_edits=np.zeros(len(task), np.int32),
    )
    return data, kind, z


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def stage(name: str, args) -> dict:
    """Run one stage in this process and return its timings (called in a child process)."""
    from analytics import agreement, items, workers
    from analytics.aggregate import aggregate

    t0 = time.perf_counter()
    data, kind, z = simulate(args.tasks, args.workers, args.per_task, args.classes)
    out = {"simulate_s": time.perf_counter() - t0, "n_labels": data.n}
    base = _peak_mb()
    if name == "core":
        marks, cpu = {}, {}
        cpu0 = [time.process_time()]

        def tick(label, t):
            marks[label] = round(time.perf_counter() - t, 3)
            cpu[label] = round(time.process_time() - cpu0[0], 3)
            cpu0[0] = time.process_time()

        t = time.perf_counter()
        c = aggregate(data, "ds", use_gold=False)
        tick("ds_aggregate", t)
        t = time.perf_counter()
        summ = agreement.agreement_summary(data)
        tick("agreement_summary (alpha, kappa, 200 bootstrap)", t)
        t = time.perf_counter()
        pk = agreement.worker_pair_kappa(data)
        tick("worker_pair_kappa (top 50)", t)
        t = time.perf_counter()
        agreement.task_agreement(data)
        agreement.agreement_by_label(data, c)
        tick("task_agreement + agreement_by_label", t)
        t = time.perf_counter()
        rel = workers.WorkerReliability().fit(data, c)
        tick("WorkerReliability", t)
        t = time.perf_counter()
        items.item_scores(data, c)
        tick("item_scores", t)
        out["steps_s"] = marks
        out["steps_cpu_s"] = cpu
        out["core_total_s"] = round(sum(marks.values()), 3)
        out["core_cpu_s"] = round(sum(cpu.values()), 3)
        sc = rel.scores_
        out["ds_accuracy_vs_truth"] = float((c.labels == z).mean())
        out["alpha"] = summ.alpha
        out["kappa"] = summ.kappa
        out["kappa_kind"] = summ.kappa_kind
        out["n_pairs"] = len(pk)
        out["flippers_flagged"] = f"{int(sc.adversarial[kind == 3].sum())}/{int((kind == 3).sum())}"
        out["honest_flagged_adversarial"] = int(sc.adversarial[kind == 0].sum())
        sig = rel.signals_
        spam = sig[(sig.signal == "spammer") & sig.fired]["worker"].to_numpy()
        out["spammers_flagged"] = f"{int(np.isin(np.flatnonzero(kind == 1), spam).sum() + np.isin(np.flatnonzero(kind == 2), spam).sum())}/{int(((kind == 1) | (kind == 2)).sum())}"
        out["honest_flagged_spammer"] = int(np.isin(np.flatnonzero(kind == 0), spam).sum())
    elif name == "pipeline":
        from analytics.pipeline import analyze_arrays

        t = time.perf_counter()
        res = analyze_arrays(data)
        out["pipeline_total_s"] = round(time.perf_counter() - t, 3)
        out["pipeline_steps_s"] = res.summary.get("timings_s")
    out["peak_rss_mb"] = round(_peak_mb(), 1)
    out["rss_after_simulate_mb"] = round(base, 1)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=5_000)
    ap.add_argument("--per-task", type=int, default=5)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--no-pipeline", action="store_true")
    ap.add_argument("--stage", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.stage:
        print(json.dumps(stage(args.stage, args)))
        return 0
    prov = Provenance(None if argv is None else [__file__, *argv])
    results = {}
    stages = ["core"] + ([] if args.no_pipeline else ["pipeline"])
    for st in stages:
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, "--stage", st, "--tasks", str(args.tasks), "--workers", str(args.workers),
               "--per-task", str(args.per_task), "--classes", str(args.classes)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            results[st] = {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
        else:
            results[st] = json.loads(proc.stdout.strip().splitlines()[-1])
        results[st]["process_wall_s"] = round(time.perf_counter() - t0, 1)
    core = results["core"]
    lines = [
        "# Reliability engine on 1M labels",
        "",
        prov.header(),
        "",
        f"Synthetic data: {args.tasks:,} tasks x {args.per_task} labels ({core.get('n_labels', 0):,} labels after "
        f"removing repeats), {args.workers:,} workers (log-normal volume; 90% honest with accuracy 0.55-0.95, "
        f"5% random spammers, 3% constant, 2% label flippers), {args.classes} classes.",
        "",
    ]
    if "error" in core:
        lines.append(f"core stage failed: {core['error']}")
    else:
        lines += ["## Statistical core (aggregate, agreement, workers, items)", "",
                  "| step | wall seconds | CPU seconds |", "|---|---|---|"]
        for k, v in core["steps_s"].items():
            lines.append(f"| {k} | {v:.2f} | {core['steps_cpu_s'][k]:.2f} |")
        lines += [f"| **total** | **{core['core_total_s']:.2f}** | **{core['core_cpu_s']:.2f}** |", "",
                  f"Peak resident memory of the process: **{core['peak_rss_mb']:,.0f} MB** "
                  f"({core['rss_after_simulate_mb']:,.0f} MB after building the data).", "",
                  f"DS accuracy against the planted truth {core['ds_accuracy_vs_truth']:.4f}; alpha {core['alpha']:.3f}, "
                  f"kappa ({core['kappa_kind']}) {core['kappa']:.3f}; {core['n_pairs']} worker pairs in the kappa table.",
                  f"Label flippers with the adversarial flag: {core['flippers_flagged']} "
                  f"(honest workers flagged: {core['honest_flagged_adversarial']}); spammers caught by the "
                  f"spammer rule: {core['spammers_flagged']} (honest flagged: {core['honest_flagged_spammer']}).", ""]
    if "pipeline" in results:
        p = results["pipeline"]
        if "error" in p:
            lines += ["## Whole analysis (analytics.pipeline.analyze_arrays)", "", f"failed: {p['error']}", ""]
        else:
            lines += ["## Whole analysis (analytics.pipeline.analyze_arrays, all detectors and verdicts)", "",
                      "| step | seconds |", "|---|---|"]
            for k, v in (p.get("pipeline_steps_s") or {}).items():
                lines.append(f"| {k} | {v:.2f} |")
            lines += [f"| **total** | **{p['pipeline_total_s']:.2f}** |", "",
                      f"Peak resident memory: **{p['peak_rss_mb']:,.0f} MB**.", ""]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 1 if any("error" in r for r in results.values()) else 0     # a failed stage fails `make bench`


if __name__ == "__main__":
    raise SystemExit(main())
