"""Accuracy and time of every aggregation model on every dataset with gold, and the default's mean against the
best crowd-kit model's.

Datasets: the five with gold in ../shared/datasets/ (zheng_product, zheng_sentiment, zheng_relevance,
act_CF_amt, act_SP_amt) and any public truth-inference benchmark copied into benchmarks/data/NAME/
(``label.csv`` = item, worker, label and ``truth.csv`` = item, truth, the layout of the authors'
repository yuan-li/truth-inference-at-scale; git-ignored, not redistributed). Models are never given
gold. Each dataset is marked **tuning** (looked at while choosing the default model and its prior
strength) or **held-out** (scored once, after the choice): see TUNING below.

crowd-kit columns: MV and DS run in crowd-kit 1.4.2 itself; Wawa, ZBS, one-coin DS, GLAD and MACE run in
crowd-kit on files of at most ``--slow-limit`` labels and otherwise as CrowdTrust's numpy ports
(which reproduce crowd-kit's labels: tests/test_aggregation_models.py, benchmarks/aggregation_speed.py),
marked with *.

    .venv/bin/python benchmarks/accuracy_table.py [--out benchmarks/results/accuracy.md] [--slow-limit 30000]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))

from provenance import DATASETS, Provenance  # noqa: E402

from analytics.aggregation import aggregate, run_crowdkit  # noqa: E402
from analytics.dataset import from_frame  # noqa: E402

SHARED = DATASETS
EXTRA = ROOT / "benchmarks" / "data"
SHARED_NAMES = ["zheng_product", "zheng_sentiment", "zheng_relevance", "act_CF_amt", "act_SP_amt"]
#: datasets looked at while choosing the default (cbds, strength 1); every other one is held out
TUNING = set(SHARED_NAMES) | {"CF", "bluebird"}
DEFAULT = "cbds"
OURS = ["cbds", "ibcc", "ebcc", "bwa"]
CROWDKIT = ["mv", "ds", "wawa", "zbs", "onecoin", "glad", "mace"]
CK_ALWAYS = {"mv", "ds"}


def datasets() -> list[tuple[str, pd.DataFrame, pd.DataFrame]]:
    out = []
    for name in SHARED_NAMES:
        if (SHARED / name / "gold.csv").exists():
            df = pd.read_csv(SHARED / name / "labels.csv", dtype={"task": str, "worker": str, "label": str})
            gold = pd.read_csv(SHARED / name / "gold.csv", dtype={"task": str, "label": str})
            out.append((name, df, gold))
    for folder in sorted(p for p in EXTRA.glob("*") if (p / "label.csv").exists() and (p / "truth.csv").exists()):
        df = pd.read_csv(folder / "label.csv", dtype=str).rename(columns={"item": "task"})
        gold = pd.read_csv(folder / "truth.csv", dtype=str).rename(columns={"item": "task", "truth": "label"})
        out.append((folder.name, df[["task", "worker", "label"]], gold[["task", "label"]]))
    return out


def _acc(d, labels) -> float:
    g = d.gold_vector()
    has = g >= 0
    return float((labels[has] == g[has]).mean())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "accuracy.md")
    ap.add_argument("--slow-limit", type=int, default=30_000)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    prov = Provenance()
    sets = datasets()
    if not sets:
        print(f"no dataset with gold under {SHARED} or {EXTRA}", file=sys.stderr)
        return 1
    rows, info = [], []
    for name, df, gold in sets:
        d = from_frame(df, gold=gold)
        split = "tuning" if name in TUNING else "held-out"
        info.append({"dataset": name, "split": split, "labels": d.n, "workers": d.n_workers, "tasks": d.n_tasks,
                     "classes": d.n_classes, "gold": int((d.gold_vector() >= 0).sum())})
        for m in OURS + CROWDKIT:
            port = m in CROWDKIT and m not in CK_ALWAYS and d.n > args.slow_limit
            t0 = time.perf_counter()
            if m in CROWDKIT and not port:
                c = run_crowdkit(d, m)
            else:
                c = aggregate(d, m, use_gold=False, max_seconds=1e9)
            secs = time.perf_counter() - t0
            rows.append({"dataset": name, "split": split, "model": m, "acc": _acc(d, c.labels), "secs": secs,
                         "port": port})
            print(f"{name:18s} {m:8s} {rows[-1]['acc']:.4f} {secs:7.2f} s{' (numpy port)' if port else ''}", flush=True)
    res = pd.DataFrame(rows)
    acc = res.pivot(index="dataset", columns="model", values="acc")
    secs = res.pivot(index="dataset", columns="model", values="secs")
    port = res.pivot(index="dataset", columns="model", values="port")
    meta = pd.DataFrame(info).set_index("dataset")
    order = [n for n, _, _ in sets]
    cols = OURS + CROWDKIT

    def fmt_row(name):
        cells = []
        best = acc.loc[name, cols].max()
        for m in cols:
            v = f"{acc.loc[name, m]:.4f}{'*' if port.loc[name, m] else ''}"
            cells.append(f"**{v}**" if acc.loc[name, m] >= best - 1e-12 else v)
        r = meta.loc[name]
        return (f"| {name} | {r['split']} | {r['labels']:,} | {r['workers']:,} | {r['classes']} | "
                + " | ".join(cells) + " |")

    lines = [
        "# Aggregation accuracy against gold: every model on every dataset",
        "",
        prov.header(),
        "",
        "No model is given gold; ties go to the lowest class code.",
        "",
        "Default model: **cbds** (crowd-prior Bayesian Dawid-Skene, `analytics/aggregation/cbds.py`). "
        "*tuning* datasets were looked at while choosing it and its one setting (prior strength 1); "
        "*held-out* datasets were scored only after that choice. Extra datasets come from the public "
        "repository yuan-li/truth-inference-at-scale (CF, bluebird, MS: active-crowd-toolkit and "
        "Spectral-Methods-Meet-EM benchmarks), copied into the git-ignored benchmarks/data/. "
        "Columns after `classes`: ours (cbds, ibcc, ebcc, bwa), then crowd-kit's models "
        "(* = CrowdTrust's numpy port of the crowd-kit model, used on files over "
        f"{args.slow_limit:,} labels). Bold: best on the row.",
        "",
        "| dataset | split | labels | workers | classes | " + " | ".join(cols) + " |",
        "|---|---|---|---|---|" + "---|" * len(cols),
    ]
    lines += [fmt_row(n) for n in order]
    lines += ["", "## Means", "", "| split | datasets | " + " | ".join(cols) + " | best crowd-kit model | "
              "cbds minus best crowd-kit |", "|---|---|" + "---|" * len(cols) + "---|---|"]
    for split, names in (("tuning", [n for n in order if n in TUNING]), ("held-out", [n for n in order if n not in TUNING]),
                         ("all", order)):
        if not names:
            continue
        means = acc.loc[names, cols].mean()
        ck_best = means[CROWDKIT].idxmax()
        lines.append(f"| {split} | {len(names)} | " + " | ".join(f"{means[m]:.4f}" for m in cols)
                     + f" | {ck_best} {means[ck_best]:.4f} | {means[DEFAULT] - means[ck_best]:+.4f} |")
    worst = (acc.loc[order, DEFAULT] - acc.loc[order, "ds"]).min()
    lines += ["", f"cbds against crowd-kit's Dawid-Skene, worst dataset: {worst:+.4f}.", "",
              "## Seconds per fit", "", "| dataset | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for n in order:
        lines.append(f"| {n} | " + " | ".join(f"{secs.loc[n, m]:.2f}" for m in cols) + " |")
    lines += ["", "crowd-kit's own times include its pandas overhead; CrowdTrust's numpy times are for the same model "
              "(see benchmarks/results/aggregation_speed.md for 1M labels)."]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
