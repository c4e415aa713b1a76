"""Speed of every aggregation model on 1M synthetic labels, CrowdTrust's numpy against crowd-kit's, and the
what-if preview (re-aggregating without a set of workers) on the same data.

Data: benchmarks/reliability_1m.py's generator (200,000 tasks x 5 labels, 5,000 workers with a
log-normal volume, honest workers of accuracy 0.55-0.95 plus random, constant and flipping
spammers), two classes by default. Each model runs once on the same arrays, ours first, then
crowd-kit 1.4.2's on the coded frame (same n_iter); the table gives both times, the speed-up and
the share of tasks where the two label alike. Models crowd-kit does not have (cbds, ibcc, ebcc,
bwa) are timed alone. crowd-kit's GLAD alone takes ~20 minutes here; ``--skip-crowdkit glad`` leaves
it out.

What-if: with the default model fitted, ban the ``--ban`` busiest flagged spammers and time
:func:`analytics.impact.preview_ban` in its three modes (warm re-fit from the current fit, the
one-step E-step, the exact cold re-fit), and the label agreement of warm and exact.

    .venv/bin/python benchmarks/aggregation_speed.py [--out benchmarks/results/aggregation_speed.md]
        [--tasks 200000 --workers 5000 --per-task 5 --classes 2] [--models ...] [--skip-crowdkit glad,...]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from provenance import Provenance  # noqa: E402
from reliability_1m import simulate  # noqa: E402

from analytics.aggregation import aggregate, run_crowdkit  # noqa: E402
from analytics.impact import preview_ban  # noqa: E402

CROWDKIT_HAS = {"mv", "wawa", "zbs", "ds", "onecoin", "glad", "mace"}
ALL = ["cbds", "mv", "wawa", "zbs", "ds", "onecoin", "mace", "ibcc", "ebcc", "bwa", "glad"]   # crowd-kit GLAD last: ~30 min


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _write(args, data, rows, skip, prov, whatif, ids, ban, t_fit) -> None:
    """Write the results so far (called after every model, so a long crowd-kit run leaves a partial table)."""
    exact = whatif["refit"][0].new_labels if whatif else None
    lines = [
        "# Aggregation speed on 1M labels: CrowdTrust's numpy models against crowd-kit 1.4.2, and the what-if preview",
        "",
        prov.header(),
        "",
        f"Data: {data.n:,} synthetic labels ({data.n_tasks:,} tasks, {data.n_workers:,} workers, {data.n_classes} classes; "
        "benchmarks/reliability_1m.py's generator, seed 0). Each model runs once, with its default settings "
        "(n_iter = 100 where crowd-kit has one; MACE 50 iterations; crowd-kit's MACE makes 10 identical restarts). "
        "'agree' is the share of tasks where crowd-kit's label equals ours; 'accuracy' is against the planted truth.",
        "",
        "| model | CrowdTrust s | crowd-kit s | speed-up | agree | accuracy (ours) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        ck = f"{r['ck']:.1f}" if r["ck"] else ("skipped" if r["model"] in skip else "–")
        sp = f"{r['ck'] / r['ours']:.0f}x" if r["ck"] else "–"
        ag = f"{r['agree']:.4f}" if r["agree"] is not None else "–"
        lines.append(f"| {r['model']} | {r['ours']:.2f} | {ck} | {sp} | {ag} | {r['acc']:.4f} |")
    lines += [
        "",
        "crowd-kit has no cbds, IBCC, EBCC or BWA; for scale, crowd-kit's Dawid-Skene time is in the ds row.",
        "",
        f"## What-if: re-aggregating without {len(ids)} workers ({int(np.isin(data.worker, ban).sum()):,} labels)",
        "",
        f"Default model (cbds) fitted once in {t_fit:.2f} s; then `analytics.impact.preview_ban` for the "
        f"{len(ids)} busiest planted spammers:",
        "",
        "| mode | seconds | labels changed | same new label as the exact re-fit |",
        "|---|---|---|---|",
    ]
    for mode, (prev, secs) in whatif.items():
        same = float((prev.new_labels == exact).mean())
        lines.append(f"| {mode} | {secs:.2f} | {len(prev.changed):,} | {same:.4f} |")
    lines += ["", "warm: the model re-fitted on the remaining labels starting from the current fit (the default "
              "preview); one-step: one E-step with everyone else's matrices fixed; refit: the exact re-fit from scratch "
              "(what the export gives)."]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "aggregation_speed.md")
    ap.add_argument("--tasks", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=5_000)
    ap.add_argument("--per-task", type=int, default=5)
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--models", default=",".join(ALL))
    ap.add_argument("--skip-crowdkit", default="", help="models whose crowd-kit run is skipped")
    ap.add_argument("--ban", type=int, default=20, help="workers removed in the what-if timing")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    prov = Provenance()
    data, kind, z = simulate(args.tasks, args.workers, args.per_task, args.classes)
    print(f"{data.n:,} labels, {data.n_tasks:,} tasks, {data.n_workers:,} workers, {data.n_classes} classes", flush=True)
    skip = {m.strip() for m in args.skip_crowdkit.split(",") if m.strip()}
    rows = []
    # what-if: the default model, ban the busiest planted spammers
    base, t_fit = _timed(lambda: aggregate(data, "cbds", use_gold=False))
    n_w = np.bincount(data.worker, minlength=data.n_workers)
    spam = np.flatnonzero(kind > 0)
    ban = spam[np.argsort(n_w[spam])[::-1][: args.ban]]
    ids = list(data.worker_ids[ban])
    whatif = {}
    for mode, kw in (("warm", {}), ("one-step", {"warm": False}), ("refit", {"refit": True})):
        prev, secs = _timed(lambda kw=kw: preview_ban(data, base, ids, use_gold=False, **kw))
        whatif[mode] = (prev, secs)
        print(f"what-if {mode:9s} {secs:6.2f} s  labels changed {len(prev.changed):,}", flush=True)
    for m in [x.strip() for x in args.models.split(",") if x.strip()]:
        ours, t_ours = _timed(lambda m=m: aggregate(data, m, use_gold=False, max_seconds=1e9))
        acc = float((ours.labels == z).mean())
        row = {"model": m, "ours": t_ours, "acc": acc, "ck": None, "agree": None}
        if m in CROWDKIT_HAS and m not in skip:
            ck, t_ck = _timed(lambda m=m: run_crowdkit(data, m))
            row.update(ck=t_ck, agree=float((ck.labels == ours.labels).mean()), ck_acc=float((ck.labels == z).mean()))
        rows.append(row)
        _write(args, data, rows, skip, prov, whatif, ids, ban, t_fit)
        ck_txt = f"crowd-kit {row['ck']:.1f} s ({row['ck'] / t_ours:.0f}x), agree {row['agree']:.4f}" if row["ck"] else ""
        print(f"{m:8s} ours {t_ours:7.2f} s  acc {acc:.4f}  {ck_txt}", flush=True)

    _write(args, data, rows, skip, prov, whatif, ids, ban, t_fit)
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
