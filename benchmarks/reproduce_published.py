"""Reproduce published aggregation accuracies on the real datasets in ../shared/datasets/.

Runs CrowdTrust's aggregators (analytics.aggregate, gold NOT given to the models) on
zheng_product, zheng_sentiment, zheng_relevance, act_CF_amt and act_SP_amt, scores them on
the gold answers, and prints a markdown table beside the published numbers of
../shared/reference/published-results.md. Also checks that our numpy Dawid-Skene gives the
same labels as crowd-kit's DawidSkene(n_iter=100) on each file.

    .venv/bin/python benchmarks/reproduce_published.py [--out benchmarks/results/reproduce_published.md]
        [--models mv,wawa,ds,onecoin,kos,glad,mace] [--slow-limit 30000]

Models in --slow (glad, mace, zbs) run only on datasets with at most --slow-limit labels.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from provenance import DATASETS, Provenance  # noqa: E402

from analytics.aggregate import aggregate  # noqa: E402
from analytics.dataset import from_frame  # noqa: E402

NAMES = ["zheng_product", "zheng_sentiment", "zheng_relevance", "act_CF_amt", "act_SP_amt"]
SLOW = {"glad", "mace", "zbs"}

# published-results.md: Zheng et al. PVLDB 2017 Table 6 (acc), Crowd-Kit paper (JOSS 2024), crowd-kit 1.4.2 on these files
ZHENG = {
    "zheng_product": {"mv": .8966, "glad": .9220, "ds": .9366, "kos": .8955},
    "zheng_sentiment": {"mv": .9331, "glad": .9520, "ds": .9600, "kos": .9380},
    "zheng_relevance": {"mv": .5419, "glad": .5359, "ds": .6130},
}
ZHENG_F1 = {"mv": .5905, "glad": .6017, "ds": .7159, "kos": .5031}
CKPAPER = {
    "zheng_product": {"mv": .897, "wawa": .897, "ds": .940, "glad": .928, "kos": .895, "mace": .929},
    "zheng_sentiment": {"mv": .932, "wawa": .951, "ds": .960, "glad": .948, "kos": .933, "mace": .950},
    "zheng_relevance": {"mv": .536, "wawa": .557, "ds": .615, "glad": .511, "mace": .501},
}
CK142 = {
    "zheng_product": {"mv": .8966, "ds": .9397}, "zheng_sentiment": {"mv": .9320, "ds": .9600},
    "zheng_relevance": {"mv": .5428, "ds": .6173}, "act_CF_amt": {"mv": .847, "ds": .840},
    "act_SP_amt": {"mv": .944, "ds": .944},
}


def _fmt(x):
    return "" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.4f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="also write the markdown here")
    ap.add_argument("--models", default="mv,wawa,ds,onecoin,kos,glad,mace")
    ap.add_argument("--slow-limit", type=int, default=30000)
    args = ap.parse_args(argv)
    prov = Provenance(None if argv is None else [__file__, *argv])
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not DATASETS.exists():
        print(f"{DATASETS} not found: nothing to reproduce", file=sys.stderr)
        return 1
    rows, checks = [], []
    for name in NAMES:
        df = pd.read_csv(DATASETS / name / "labels.csv", dtype={"task": str, "worker": str, "label": str})
        gold = pd.read_csv(DATASETS / name / "gold.csv", dtype={"task": str, "label": str})
        d = from_frame(df, gold=gold)
        g = d.gold_vector()
        has = g >= 0
        for m in models:
            if m == "kos" and d.n_classes != 2:
                continue
            if m in SLOW and d.n > args.slow_limit:
                continue
            t0 = time.perf_counter()
            c = aggregate(d, m, use_gold=False, max_seconds=600)
            secs = time.perf_counter() - t0
            acc = float((c.labels[has] == g[has]).mean())
            f1 = None
            if name == "zheng_product":
                pos = list(d.classes).index("1")
                y, p = g[has] == pos, c.labels[has] == pos
                f1 = 2 * float((y & p).sum()) / float(y.sum() + p.sum())
            rows.append({
                "dataset": name, "labels": d.n, "model": m, "accuracy": acc, "F1 (label 1)": f1,
                "Zheng 2017": ZHENG.get(name, {}).get(m), "Zheng F1": ZHENG_F1.get(m) if name == "zheng_product" else None,
                "Crowd-Kit paper": CKPAPER.get(name, {}).get(m), "crowd-kit 1.4.2": CK142.get(name, {}).get(m),
                "seconds": secs,
            })
        # our DS vs crowd-kit's DawidSkene on the same file
        from crowdkit.aggregation import DawidSkene

        t0 = time.perf_counter()
        ck = DawidSkene(n_iter=100).fit(d.to_frame())
        ck_secs = time.perf_counter() - t0
        t0 = time.perf_counter()
        ours = aggregate(d, "ds", use_gold=False)
        our_secs = time.perf_counter() - t0
        theirs = ck.labels_.reindex(d.task_ids).astype(str).to_numpy()
        checks.append({"dataset": name, "tasks": d.n_tasks,
                       "same label as crowd-kit DS": float((theirs == d.classes[ours.labels]).mean()),
                       "crowd-kit DS s": ck_secs, "CrowdTrust DS s": our_secs})
    table = pd.DataFrame(rows)
    chk = pd.DataFrame(checks)
    lines = [
        "# Reproducing published aggregation accuracy",
        "",
        prov.header(),
        "",
        "Accuracy on tasks with gold; models are *not* given gold (`use_gold=False`). Ties go to the "
        "lowest class code (`0` before `1`). Slow models (GLAD, MACE) only on files with at most "
        f"{args.slow_limit:,} labels. Published columns from ../shared/reference/published-results.md "
        "(Zheng et al. PVLDB 2017 Table 6; Ustalov et al. JOSS 2024; crowd-kit 1.4.2 on the same files, "
        "where MV broke ties at random).",
        "",
        "| dataset | labels | model | accuracy | F1 (label 1) | Zheng 2017 | Zheng F1 | Crowd-Kit paper | crowd-kit 1.4.2 | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['labels']:,} | {r['model']} | {_fmt(r['accuracy'])} | {_fmt(r['F1 (label 1)'])} | "
                     f"{_fmt(r['Zheng 2017'])} | {_fmt(r['Zheng F1'])} | {_fmt(r['Crowd-Kit paper'])} | "
                     f"{_fmt(r['crowd-kit 1.4.2'])} | {r['seconds']:.2f} |")
    lines += ["", "## Our numpy Dawid-Skene against crowd-kit's DawidSkene(n_iter=100)", "",
              "| dataset | tasks | same label | crowd-kit s | CrowdTrust s |", "|---|---|---|---|---|"]
    for r in checks:
        lines.append(f"| {r['dataset']} | {r['tasks']:,} | {r['same label as crowd-kit DS']:.4f} | "
                     f"{r['crowd-kit DS s']:.2f} | {r['CrowdTrust DS s']:.2f} |")
    lines += ["", "Notes:",
              "- MV on zheng_product has no ties (3 labels per two-class task), so 0.8966 holds under any "
              "deterministic rule; on zheng_sentiment (43 ties) lowest-code gives 0.9320, highest-code 0.9350.",
              "- OneCoin on zheng_relevance is crowd-kit's own result (OneCoinDawidSkene on the original "
              "string labels also gives 0.2578): its one-coin model collapses on this 4-class file.",
              "- Timings are wall-clock on a shared 2-core machine while other jobs ran; see "
              "benchmarks/results/reliability_1m.md for the speed benchmark."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    ok = table.loc[table.model == "ds"].set_index("dataset")["accuracy"]
    need = {"zheng_product": 0.936, "zheng_sentiment": 0.958, "zheng_relevance": 0.61}
    bad = [n for n, v in need.items() if n in ok and ok[n] < v]
    agree_bad = chk.loc[chk["same label as crowd-kit DS"] < 0.995, "dataset"].tolist()
    if bad or agree_bad:
        print(f"BELOW TARGET: {bad} {agree_bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
