"""Red-team report: the whole attack catalogue planted into the real datasets with gold.

For every dataset in ../shared/datasets with gold (zheng_product, zheng_sentiment,
act_CF_amt, act_SP_amt; zheng_relevance with --relevance) and every attack of
analytics.redteam (share 0.1 of the original workers, default parameters), over several
seeds: plant the attack, run the full analysis (analytics.pipeline.analyze_arrays, default
TrustSettings, no gold), and score it against the answer key with
analytics.redteam.scorecard. Writes benchmarks/results/redteam_report.md (with the date,
the machine and the commit) and the per-seed rows as redteam_report.csv next to it.

    .venv/bin/python benchmarks/redteam_report.py [--seeds 3] [--share 0.1] [--relevance]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from provenance import DATASETS, Provenance  # noqa: E402

from analytics.dataset import from_frame  # noqa: E402
from analytics.redteam.attacks import strip_gold  # noqa: E402
from analytics.redteam.grid import sweep  # noqa: E402
from analytics.redteam.scorecard import (  # noqa: E402
    evaluate,
    format_table,
    gold_honest_workers,
    pipeline_analyzer,
    summarize,
)

BASE = ["zheng_product", "zheng_sentiment", "act_CF_amt", "act_SP_amt"]

GRID_DATASET = "zheng_product"
GRID_GAMMAS = [0.0, 0.3, 0.5, 0.7]

# Issue 4's acceptance targets for worker-level PR-AUC of 1 - trust, and its quoted baseline.
TARGETS = {"random": 0.9, "constant": 0.9, "flipper": 0.9, "colluders": 0.9, "sybils": 0.9, "burst": 0.9,
           "takeover": 0.8, "disguised": 0.7, "campaign": 0.8}

# Datasets no detector change of the calibration work (issue 11) was tried on before this report:
# their figures are the held-out check of the others'.
HELD_OUT = {"zheng_product", "zheng_relevance"}


def load(name: str):
    lab = pd.read_csv(DATASETS / name / "labels.csv", dtype={"task": str, "worker": str, "label": str})
    gold = pd.read_csv(DATASETS / name / "gold.csv", dtype={"task": str, "label": str})
    if "time_spent_s" in lab.columns:
        lab = lab.rename(columns={"time_spent_s": "duration_s"})
    n_dup = int(lab.duplicated(["task", "worker"], keep="last").sum())
    lab = lab.drop_duplicates(["task", "worker"], keep="last")       # final answers: the last row wins
    return from_frame(lab, gold=gold), n_dup


def label_blind_honest(data) -> tuple[int, int]:
    """(gold-honest original workers by issue 4's rule, those among them who gave the same answer
    on every label). A planted constant answerer of that class cannot be told from them."""
    honest = gold_honest_workers(data)
    per = np.zeros((data.n_workers, data.n_classes))
    np.add.at(per, (data.worker, data.label), 1.0)
    single = (per > 0).sum(axis=1) == 1
    return int(honest.sum()), int((honest & single).sum())


def _kinds(col: pd.Series) -> str:
    tot: dict[str, int] = {}
    for cell in col.fillna(""):
        for part in filter(None, (p.strip() for p in str(cell).split(","))):
            k, _, v = part.rpartition(":")
            tot[k] = tot.get(k, 0) + int(v)
    return ", ".join(f"{k} {v}" for k, v in sorted(tot.items(), key=lambda kv: -kv[1])) or "–"


def blind_note(data, summ: pd.DataFrame) -> str:
    n_h, n_blind = label_blind_honest(data)
    if not n_blind:
        return ""
    row = summ[summ["attack"] == "constant"]
    p = float(row["n_planted"].iloc[0]) if len(row) else float("nan")
    return (f"**Ceiling:** {n_blind} of the {n_h} gold-honest original workers gave the same answer on every "
            f"label. A planted constant answerer writes exactly such labels, so any score computed from the "
            f"labels ties them; with {p:.0f} planted constants the PR-AUC of the constant attack cannot "
            f"reliably exceed about {p / (p + n_blind):.2f} here, whatever the detector.\n\n")


def verdict(summary: pd.DataFrame) -> pd.DataFrame:
    """Issue 4's targets next to the measured PR-AUC and the agreement baseline."""
    rows = []
    for r in summary.to_dict("records"):
        a = r["attack"]
        tgt = TARGETS.get(a)
        lo = r.get("pr_auc_lo")
        rows.append({
            "attack": a, "pr_auc": f"{r['pr_auc']:.3f}", "baseline_pr_auc": f"{r['baseline_pr_auc']:.3f}",
            "target": "–" if tgt is None else f"≥ {tgt}",
            "meets target (mean)": "–" if tgt is None else ("yes" if r["pr_auc"] >= tgt else "no"),
            "beats baseline": "yes" if r["pr_auc"] > r["baseline_pr_auc"] + 0.02 else (
                "no" if r["pr_auc"] < r["baseline_pr_auc"] - 0.02 else "tie"),
            "pr_auc 95% low": "–" if lo is None or not np.isfinite(lo) else f"{lo:.3f}",
            "pr_auc (strict honest)": f"{r['pr_auc_strict']:.3f}",
            "honest flagged": f"{r['honest_flag_rate']:.3f}",
        })
    return pd.DataFrame(rows)


def md(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in df.itertuples(index=False):
        out.append("| " + " | ".join(str(v) for v in r) + " |")
    return "\n".join(out)


def write(args, started, all_rows, sections, grid_md="", partial=False) -> Path:
    rows = pd.concat(all_rows, ignore_index=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(out.with_suffix(".csv"), index=False)
    overall = rows.groupby("attack", sort=False)[["pr_auc", "pr_auc_strict", "baseline_pr_auc", "recall_at_1pct_fpr",
                                                  "honest_flag_rate", "minority_false_flag_rate"]].mean().round(3).reset_index()
    header = f"""# Red-team report: the attack catalogue planted into real datasets

{args.prov.header()}

Protocol (../shared/reference/detection-methods.md §6): each attack of `analytics.redteam` with its default
parameters is planted into a copy of the dataset at {args.share:g} attacker accounts per original worker
(takeover: that share of honest original workers turned bad at half their history), volumes drawn from the real
workers' label counts (sybils: 5 labels each by design). The full analysis
(`analytics.pipeline.analyze_arrays`, default `TrustSettings`, **no gold**) runs on the clean and the attacked copy;
all gold is held out for evaluation. Detection compares planted workers with the *honest* original workers
(gold accuracy ≥ chance + 0.2 on ≥ 10 gold items; "strict honest" also asks the balanced accuracy to clear that bar,
which drops label-blind majority-class answerers that pass it on imbalanced data such as zheng_product). Cells are
the mean over {args.seeds} seeds with a Student-t 95% interval; `baseline_pr_auc` ranks workers by plain agreement with the Dawid-Skene labels, the yardstick of
issue 4. Metric definitions: `analytics/redteam/scorecard.py`. Per-seed rows: `{out.with_suffix('.csv').name}`.

{"**Partial report: the run was still going when this was written.**" if partial else ""}

## Summary over datasets (mean of seeds and datasets)

{md(overall)}

"""
    out.write_text(header + "\n".join(sections) + ("\n" + grid_md if grid_md else ""))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--share", type=float, default=0.1)
    ap.add_argument("--relevance", action="store_true", help="also run zheng_relevance (98k labels, slower)")
    ap.add_argument("--datasets", default=None, help="comma-separated subset of the datasets")
    ap.add_argument("--no-grid", action="store_true", help="skip the disguise sweep on zheng_product")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "redteam_report.md"))
    args = ap.parse_args()
    names = args.datasets.split(",") if args.datasets else BASE + (["zheng_relevance"] if args.relevance else [])
    names = [n for n in names if (DATASETS / n / "gold.csv").exists()]
    if not names:
        print(f"no datasets with gold under {DATASETS}; nothing to do", file=sys.stderr)
        return 1
    analyze = pipeline_analyzer()
    started = datetime.now(UTC)
    args.prov = Provenance()
    sections, all_rows = [], []
    for name in names:
        data, n_dup = load(name)
        t0 = time.perf_counter()
        clean = analyze(strip_gold(data))
        flagged = float(clean.workers["suspect"].mean())
        rows = evaluate(data, "all", share=args.share, seeds=args.seeds, analyze=analyze,
                        progress=lambda f, m, name=name: print(f"\r{name}: {100 * f:5.1f}% {m:60s}", end="",
                                                                 file=sys.stderr, flush=True))
        secs = time.perf_counter() - t0
        print(f"\r{name}: done in {secs:.0f} s{' ' * 60}", file=sys.stderr)
        rows.insert(0, "dataset", name)
        all_rows.append(rows)
        summ = summarize(rows)
        tab = format_table(summ, metrics=("pr_auc", "baseline_pr_auc", "roc_auc", "precision", "recall",
                                          "recall_at_1pct_fpr", "precision_at_k", "planted_labels_caught",
                                          "honest_flag_rate", "minority_false_flag_rate"))
        down = format_table(summ, metrics=("acc_clean", "acc_attacked", "acc_defended", "collateral", "attack_success_rate",
                                           "attack_success_defended", "detection_delay_labels", "onset_error_labels",
                                           "takeover_detected", "burst_delay_windows", "burst_detected"))
        counts = summ[["attack", "n_planted", "n_honest", "n_honest_strict"]].round(1)
        counts["caught by (verdict kind: workers, all seeds)"] = [_kinds(rows[rows["attack"] == a]["caught_by"])
                                                                  for a in counts["attack"]]
        time_note = ("no timestamps: a synthetic timeline (analytics/redteam/timing.py) is given to clean and "
                     "attacked copies alike" if not data.has_time else "real timestamps")
        if data.durations() is not None and not data.has_time:
            time_note = "durations only (time_spent_s); submit times synthesised, real durations kept"
        sections.append(
            f"## {name}{' (held out from tuning)' if name in HELD_OUT else ''}\n\n{data.n:,} labels, {data.n_workers} workers, {data.n_tasks:,} items, "
            f"{data.n_classes} classes, gold on {data.gold_task.size:,} items"
            + (f" ({n_dup} duplicate (task, worker) rows dropped, last kept)" if n_dup else "")
            + f"; {time_note}. Workers flagged suspect on the unmodified data: **{flagged:.1%}**. "
            f"Wall time {secs:.0f} s.\n\n" + blind_note(data, summ)
            + f"### Detection (worker level)\n\n{md(verdict(summ))}\n\n{md(tab)}\n\n"
            f"### Downstream\n\n{md(down)}\n\n"
            f"Planted and honest-original workers per seed (mean), and which verdict caught the planted ones:"
            f"\n\n{md(counts)}\n")
        write(args, started, all_rows, sections, partial=True)      # keep partial results if interrupted
    grid_md = ""
    if not args.no_grid and (DATASETS / GRID_DATASET / "gold.csv").exists():
        data, _ = load(GRID_DATASET)
        t0 = time.perf_counter()
        grid, _rows = sweep(data, "disguised", "gamma", GRID_GAMMAS, share=args.share, seeds=args.seeds,
                            analyze=analyze, crowd=True)
        secs = time.perf_counter() - t0
        cols = ["gamma", "pr_auc", "baseline_pr_auc", "recall", "acc_clean", "acc_attacked", "acc_defended",
                "attack_success_rate", "attack_success_defended"]
        g = grid[cols].copy()
        for ccol in cols[1:]:
            g[ccol] = g[ccol].map(lambda v: "–" if not np.isfinite(v) else f"{v:.3f}")
        grid_md = (f"## Disguise sweep: crowding disguised attackers on {GRID_DATASET}\n\n"
                   f"Attack `disguised` with `crowd=True` (the attackers take floor(r/2)+1 of the r slots of every "
                   f"target item, 5% of items, pushing the most common class), share {args.share:g}, honest share "
                   f"gamma swept; {args.seeds} seeds, means ({secs:.0f} s). The §6.2 pass criterion for A5 at "
                   f"gamma = 0.5 is an attack success rate of at most 10% (after the defence).\n\n{md(g)}\n")
    out = write(args, started, all_rows, sections, grid_md)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
