"""Alert rules on weekly replays: quiet on honest weeks, loud after a poisoned batch.

For every source (crowdflower_medical_relations on its real timestamps; act_CF_amt,
act_SP_amt, zheng_sentiment and zheng_product on a synthetic weekly timeline, items served
in order; simulated honest crowds of several shapes, analytics.redteam.weekly_crowds) the labels are
cut into weekly batches and replayed batch by batch (ingest, analysis, alert rules;
analytics.redteam.replay). The clean replay must raise no alert. Then, for each attack and
seed, an attack is planted into one late batch (analytics.redteam.batches.plant_in_batch,
share of the batch's workers) and that batch is replayed on a copy of the clean prefix:
``detected`` = an alert fires for the poisoned week; ``precision`` / ``recall`` of the
workers the week's alerts name against the planted ones; ``onset error`` = |earliest onset
of the named workers (analytics.incidents.scope.worker_table) - first planted label|.

Writes benchmarks/results/monitor_alerts.md (date, machine, load, commit) and .csv.

    .venv/bin/python benchmarks/monitor_alerts.py [--seeds 2] [--share 0.2] [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from analytics.access import bootstrap_admin  # noqa: E402
from analytics.redteam.batches import plant_in_batch, synthetic_weeks, weekly_batches  # noqa: E402
from analytics.redteam.replay import Replay, replay_batches  # noqa: E402
from analytics.redteam.weekly_crowds import SHAPES, weekly_crowd  # noqa: E402
from analytics.store import open_workspace  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"
REAL = ["crowdflower_medical_relations", "act_CF_amt", "act_SP_amt", "zheng_sentiment", "zheng_product"]
ATTACKS = ["random", "flipper", "constant", "colluders", "sybils", "burst", "disguised", "takeover"]


def load_dataset(name: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    lab = pd.read_csv(DATASETS / name / "labels.csv", dtype={"task": str, "worker": str, "label": str})
    g = DATASETS / name / "gold.csv"
    gold = pd.read_csv(g, dtype={"task": str, "label": str}) if g.exists() else None
    lab = lab.rename(columns={"created_at": "submitted_at", "time_spent_s": "duration_s"})
    keep = [c for c in ("task", "worker", "label", "started_at", "submitted_at", "duration_s") if c in lab.columns]
    lab = lab[keep].drop_duplicates(["task", "worker"], keep="last")
    if "submitted_at" not in lab.columns:
        lab = synthetic_weeks(lab, n_weeks=8, seed=1)
    return lab, gold


def sources(quick: bool):
    names = REAL[:3] if quick else REAL
    for n in names:
        if (DATASETS / n / "labels.csv").exists():
            yield n, *load_dataset(n)
    for shape in (SHAPES[:3] if quick else SHAPES):
        lab, gold = weekly_crowd(shape, seed=3)
        yield f"simulated:{shape}", lab, gold


def md(df: pd.DataFrame) -> str:
    """A GitHub markdown table (floats with two decimals)."""
    def cell(v):
        if v is None or (isinstance(v, float) and pd.isna(v)):
            return ""
        return f"{v:.2f}" if isinstance(v, float) else str(v)
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def named_onset(ws_path: Path, project: str, alerts: list[dict]):
    """The workers an incident opened from these alerts would hold, and their earliest onset."""
    from analytics.incidents.scope import worker_table
    from analytics.monitor.alerts import get_alert, suggest_workers

    with open_workspace(ws_path, read_only=True) as ws:
        pid = ws.project_id(project)
        workers = set()
        for a in alerts:
            workers |= set(a["workers"] or suggest_workers(ws.con, pid, get_alert(ws.con, pid, a["id"])))
        workers = sorted(workers)
        if not workers:
            return workers, None
        start = min(pd.Timestamp(a["period"]["start"]) for a in alerts if a["period"]["start"])
        wt = worker_table(ws.con, pid, workers, alert_start=start)
    return workers, wt["onset"].min()


def run_source(name, labels, gold, attacks, seeds, share, tmp: Path) -> list[dict]:
    batches = weekly_batches(labels)
    late = len(batches) - 2 if len(batches) >= 4 else len(batches) - 1
    root = tmp / name.replace(":", "_")
    t = time.perf_counter()
    with open_workspace(root / "clean") as ws:
        me = bootstrap_admin(ws, "bench", None)       # a service account: no password sign-in
    rep = replay_batches(root / "clean", "p", [b.frame for b in batches[:late]], [b.name for b in batches[:late]],
                         root / "files", gold=gold, actor=me)
    shutil.copytree(root / "clean", root / "prefix")
    rest = replay_batches(root / "clean", "p", [b.frame for b in batches[late:]], [b.name for b in batches[late:]],
                          root / "files", start=late, into=Replay(alerts=list(rep.alerts)), actor=me)
    rows = [{"source": name, "case": "clean", "batches": len(batches), "labels": len(labels),
             "alerts_on_clean_weeks": len(rest.alerts[-1]),
             "rules": ", ".join(sorted({a["rule"] for a in rest.alerts[-1]})), "detected": None,
             "seconds": round(time.perf_counter() - t, 1)}]
    others = set(labels["worker"].astype(str))
    for attack in attacks:
        for seed in range(seeds):
            t = time.perf_counter()
            try:
                pb = plant_in_batch(batches[late].frame, attack, share, seed, gold=gold, avoid_workers=others)
            except Exception as exc:  # noqa: BLE001  (an attack that cannot be planted here, e.g. takeover without history)
                rows.append({"source": name, "case": f"{attack}-s{seed}", "note": str(exc)[:80]})
                continue
            case = root / f"{attack}-s{seed}"
            shutil.copytree(root / "prefix", case)
            r = replay_batches(case, "p", [pb.frame], [batches[late].name], root / "files", start=late, actor=me)
            week = pd.Timestamp(batches[late].start)
            fired = [a for a in r.alerts[-1] if pd.Timestamp(a["period"]["start"]) >= week]
            named, onset = named_onset(case, "p", fired)
            hit = set(named) & set(pb.workers)
            rows.append({"source": name, "case": f"{attack}-s{seed}", "batches": len(batches), "labels": len(labels),
                         "planted": len(pb.workers), "detected": bool(fired),
                         "rules": ", ".join(sorted({a["rule"] for a in fired})),
                         "named": len(named), "precision": len(hit) / len(named) if named else None,
                         "recall": len(hit) / len(pb.workers),
                         "onset_error_h": (abs(onset - pb.onset).total_seconds() / 3600 if onset is not None
                                           and pd.notna(onset) else None),
                         "seconds": round(time.perf_counter() - t, 1)})
            shutil.rmtree(case, ignore_errors=True)
            print(rows[-1], flush=True)
    shutil.rmtree(root, ignore_errors=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--share", type=float, default=0.2)
    ap.add_argument("--quick", action="store_true", help="three datasets, three crowd shapes, four attacks")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "monitor_alerts.md"))
    args = ap.parse_args()
    attacks = ATTACKS[:4] if args.quick else ATTACKS
    t0 = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="monitor_bench_") as tmp:
        for name, labels, gold in sources(args.quick):
            print(f"-- {name}", flush=True)
            rows += run_source(name, labels, gold, attacks, args.seeds, args.share, Path(tmp))
    df = pd.DataFrame(rows)
    out = Path(args.out)
    df.to_csv(out.with_suffix(".csv"), index=False)
    clean = df[df["case"] == "clean"][["source", "batches", "labels", "alerts_on_clean_weeks", "seconds"]]
    att = df[df["case"] != "clean"].copy()
    att["attack"] = att["case"].str.rsplit("-s", n=1).str[0]
    summary = att.groupby("attack").agg(cases=("case", "size"), detected=("detected", "mean"),
                                        precision=("precision", "mean"), recall=("recall", "mean"),
                                        onset_error_h_median=("onset_error_h", "median")).reset_index()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    load = os.getloadavg()
    lines = [
        "# Alert rules on weekly replays", "",
        f"Command: `.venv/bin/python benchmarks/monitor_alerts.py --seeds {args.seeds} --share {args.share}"
        f"{' --quick' if args.quick else ''}`  ",
        f"Commit {commit}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()} ({os.cpu_count()} cores, "
        f"shared with other engineers; load average at the end {load[0]:.1f}), {time.perf_counter() - t0:.0f} s.", "",
        "Default alert settings (analytics.monitor.rules.AlertSettings). Each source is cut into weekly batches and "
        "replayed batch by batch (ingest, analysis, rules); an attack of the given share of the batch's workers is "
        "planted into the second-to-last batch.", "",
        "## Clean replays (every alert here is a false alarm)", "", md(clean), "",
        "## Poisoned batch, per attack (mean over sources and seeds)", "",
        md(summary), "",
        "`detected`: an alert fired for the poisoned week; `precision`/`recall`: workers named by that week's "
        "alerts against the planted ones; `onset_error_h_median`: hours between the earliest onset of the named "
        "workers and the first planted label.", "",
        "## Every case", "",
        md(att.drop(columns=["attack"])), "",
    ]
    out.write_text("\n".join(lines))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
