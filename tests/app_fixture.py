"""A small workspace with analysis results written straight into the tables.

Used by the dashboard tests so they do not depend on the whole pipeline: one project
``fixture`` with timestamps (40 workers, 300 items, 3 classes), two complete runs and one
failed run, detector signals with evidence, pairs, a community and a ban. The planted
cases: ``w_bot`` answers at random in a 10-minute burst, ``w_flip`` flips labels, and
``w_c1``/``w_c2`` copy each other's wrong answers. Accounts: one per role
(tests/auth_support.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from auth_support import add_accounts

from analytics import audit
from analytics.store import open_workspace

CLASSES = ["cat", "dog", "fox"]
SUSPECTS = ["w_bot", "w_flip", "w_c1", "w_c2"]


def _labels(rng: np.random.Generator):
    n_tasks, honest = 300, [f"w{i:02d}" for i in range(36)]
    truth = rng.integers(0, 3, n_tasks)
    rows = []
    t0 = pd.Timestamp("2026-03-02 08:00", tz="UTC")
    for w_i, w in enumerate(honest):
        tasks = rng.choice(n_tasks, 40, replace=False)
        correct = rng.random(40) < 0.85
        lab = np.where(correct, truth[tasks], (truth[tasks] + rng.integers(1, 3, 40)) % 3)
        at = t0 + pd.to_timedelta(np.sort(rng.uniform(0, 5 * 86400, 40)), unit="s") + pd.Timedelta(minutes=w_i)
        dur = rng.gamma(4, 8, 40)
        rows.append(pd.DataFrame({"task": tasks, "worker": w, "label": lab, "submitted_at": at, "duration_s": dur}))
    # a bot: 60 random answers inside 10 minutes, 2 seconds each
    tasks = rng.choice(n_tasks, 60, replace=False)
    at = t0 + pd.Timedelta(days=2) + pd.to_timedelta(np.sort(rng.uniform(0, 600, 60)), unit="s")
    rows.append(pd.DataFrame({"task": tasks, "worker": "w_bot", "label": rng.integers(0, 3, 60),
                              "submitted_at": at, "duration_s": np.full(60, 2.0)}))
    # a flipper: always the next class
    tasks = rng.choice(n_tasks, 50, replace=False)
    at = t0 + pd.to_timedelta(np.sort(rng.uniform(0, 5 * 86400, 50)), unit="s")
    rows.append(pd.DataFrame({"task": tasks, "worker": "w_flip", "label": (truth[tasks] + 1) % 3,
                              "submitted_at": at, "duration_s": rng.gamma(4, 8, 50)}))
    # colluders: same wrong answers on the same items within seconds
    tasks = rng.choice(n_tasks, 45, replace=False)
    at = t0 + pd.Timedelta(days=3) + pd.to_timedelta(np.sort(rng.uniform(0, 7200, 45)), unit="s")
    for w, lag in (("w_c1", 0), ("w_c2", 4)):
        rows.append(pd.DataFrame({"task": tasks, "worker": w, "label": (truth[tasks] + 2) % 3,
                                  "submitted_at": at + pd.Timedelta(seconds=lag), "duration_s": rng.gamma(4, 3, 45)}))
    df = pd.concat(rows, ignore_index=True)
    df["task"] = "item" + df["task"].astype(str).str.zfill(3)
    df["label"] = np.asarray(CLASSES, dtype=object)[df["label"].to_numpy()]
    return df, truth


def _run(con, project_id, run_id, method, df, truth, gold_acc, prev=False):
    """Write the result tables of one run (labels by majority of the honest, fake scores)."""
    tasks = np.array([f"item{i:03d}" for i in range(len(truth))], dtype=object)
    lab = np.asarray(CLASSES, dtype=object)[truth]
    if prev:  # the earlier run got 12 items wrong and did not flag the colluders
        lab = lab.copy()
        lab[:12] = np.asarray(CLASSES, dtype=object)[(truth[:12] + 1) % 3]
    n_per = df.groupby("task").size().reindex(tasks).fillna(0).astype(int).to_numpy()
    conf = np.clip(0.55 + 0.4 * np.cos(np.arange(len(tasks))) ** 2, 0, 0.99)
    suspect_items = df[df["worker"].isin(SUSPECTS)].groupby("task").size().reindex(tasks).fillna(0).to_numpy() >= 2
    tdf = pd.DataFrame({"run_id": run_id, "task": tasks, "label": lab, "confidence": conf, "n_labels": n_per,  # noqa: F841 (scanned by DuckDB)
                        "suspect": suspect_items,
                        "reasons": np.where(suspect_items, "2 or more labels from suspect workers", "")})
    con.execute("INSERT INTO run_tasks SELECT * FROM tdf")
    probs = pd.DataFrame({"run_id": run_id, "task": np.repeat(tasks, 3), "label": np.tile(CLASSES, len(tasks))})
    chosen = np.repeat(lab, 3) == probs["label"].to_numpy()
    probs["p"] = np.where(chosen, np.repeat(conf, 3), np.repeat((1 - conf) / 2, 3))
    con.execute("INSERT INTO run_task_probs SELECT * FROM probs")
    con.execute("INSERT INTO run_task_scores SELECT run_id, task, 'entropy', 1 - confidence FROM tdf")

    workers = sorted(df["worker"].unique())
    flagged = SUSPECTS if not prev else ["w_bot", "w_flip"]
    wdf = df.groupby("worker").size().rename("n_labels").reset_index()
    wdf["trust"] = np.where(wdf["worker"].isin(flagged), 0.12, 0.6 + 0.35 * (np.arange(len(wdf)) % 7) / 6)
    wdf["suspect"] = wdf["worker"].isin(flagged)
    reason_map = {"w_bot": "answered 60 items in 10 minutes, 30x their usual rate; random answers",
                  "w_flip": "systematically answers the next class (confusion off the diagonal)",
                  "w_c1": "copies w_c2: 45 identical wrong answers within seconds",
                  "w_c2": "copies w_c1: 45 identical wrong answers within seconds"}
    wdf["reasons"] = [reason_map.get(w, "") if s else "" for w, s in zip(wdf["worker"], wdf["suspect"], strict=True)]
    con.execute("INSERT INTO run_workers SELECT ?, worker, n_labels, trust, suspect, reasons FROM wdf", [run_id])
    scores = pd.DataFrame({"worker": workers})
    scores["gold_accuracy"] = np.where(scores["worker"].isin(SUSPECTS), 0.3, gold_acc)
    scores["gold_accuracy_lo"] = scores["gold_accuracy"] - 0.1
    scores["gold_accuracy_hi"] = np.minimum(scores["gold_accuracy"] + 0.08, 1.0)
    scores["burst_rate_ratio"] = np.where(scores["worker"] == "w_bot", 30.0, 1.0)
    long = scores.melt(id_vars="worker", var_name="name", value_name="value")  # noqa: F841
    con.execute("INSERT INTO run_worker_scores SELECT ?, worker, name, value FROM long", [run_id])

    start = df.loc[df["worker"] == "w_bot", "submitted_at"].min()
    end = df.loc[df["worker"] == "w_bot", "submitted_at"].max()
    sig = [
        ("w_bot", "burst", 30.0, 1e-9, True, "answered 60 items in 10 minutes, 30x their usual rate",
         {"windows": [{"start": start.isoformat(), "end": end.isoformat(), "n": 60}]}),
        ("w_bot", "fast", 0.1, 1e-6, True, "median 2 s per item, peers 30 s", {"median_s": 2.0, "peer_median_s": 30.0}),
        ("w_flip", "skew", 0.4, 1e-5, True, "label distribution far from peers", {"jsd": 0.4}),
        ("w05", "fast", 0.6, 0.03, True, "somewhat fast on 5 items", {"median_s": 12.0}),
        ("w06", "burst", 1.2, 0.4, False, "no burst", {}),
    ]
    if not prev:
        sig += [("w_c1", "coerror", 0.9, 1e-8, True, "45 shared wrong answers with w_c2", {"partner": "w_c2"}),
                ("w_c2", "coerror", 0.9, 1e-8, True, "45 shared wrong answers with w_c1", {"partner": "w_c1"})]
    sdf = pd.DataFrame(sig, columns=["worker", "signal", "score", "p_value", "fired", "reason", "evidence"])
    sdf["evidence"] = sdf["evidence"].map(json.dumps)
    con.execute("INSERT INTO run_signals SELECT ?, worker, signal, score, p_value, fired, reason, evidence::JSON "
                "FROM sdf", [run_id])
    conf_rows = []
    for w in workers:
        for i, t in enumerate(CLASSES):
            for j, k in enumerate(CLASSES):
                p = 0.85 if i == j else 0.075
                if w == "w_flip":
                    p = 0.9 if j == (i + 1) % 3 else 0.05
                conf_rows.append((run_id, w, t, k, p))
    con.executemany("INSERT INTO run_confusion VALUES (?, ?, ?, ?, ?)", conf_rows)
    con.execute("""INSERT INTO run_pairs VALUES (?, 'w_c1', 'w_c2', 'collusion', 45, 0.95, '{"co_errors": 45}'),
                   (?, 'w_c1', 'w03', 'collusion', 6, 0.2, '{}'), (?, 'w00', 'w01', 'collusion', 5, 0.1, '{}')""",
                [run_id] * 3)
    con.execute("""INSERT INTO run_communities VALUES
        (?, 1, ['w_c1', 'w_c2'], 0.95, true, 'identical wrong answers within seconds', '{"co_errors": 45}'),
        (?, 2, ['w00', 'w01', 'w03'], 0.1, false, '', '{}')""", [run_id, run_id])
    summary = {"alpha": 0.61 if not prev else 0.58, "alpha_lo": 0.57, "alpha_hi": 0.65,
               "kappa": 0.6, "kappa_lo": 0.55, "kappa_hi": 0.64, "gold_accuracy": gold_acc}
    con.execute("""INSERT INTO runs (run_id, project_id, method, params, input_fingerprint, code_version,
                   finished_at, duration_s, status, summary) VALUES (?, ?, ?, '{}', 'fp', 'test', now(), 1.5,
                   'complete', ?)""", [run_id, project_id, method, json.dumps(summary)])


def build(path: Path) -> Path:
    """Create the fixture workspace at ``path`` (a folder) and return it."""
    rng = np.random.default_rng(7)
    df, truth = _labels(rng)
    ws = open_workspace(path)
    add_accounts(ws)
    con = ws.con
    with ws.transaction():
        pid = ws.project_id("fixture", create=True)
        con.execute("""INSERT INTO ingests (project_id, file_name, size_bytes, sha256, format, rows_read,
                       rows_loaded, rows_quarantined, rows_duplicate, actor)
                       VALUES (?, 'labels.csv', 12345, 'ab12cd', 'csv', ?, ?, 2, 1, 'tester')""",
                    [pid, len(df) + 3, len(df)])
        df["source_row"] = np.arange(1, len(df) + 1)
        con.execute("""INSERT INTO annotations (project_id, ingest_id, source_row, task, worker, label,
                       submitted_at, duration_s) SELECT ?, 1, source_row, task, worker, label, submitted_at, duration_s
                       FROM df""", [pid])
        con.execute("""INSERT INTO quarantine VALUES (?, 1, 5, 'unparseable timestamp "yesterday"', '{"task": "x"}'),
                       (?, 1, 9, 'missing worker', '{"task": "y"}')""", [pid, pid])
        gold_df = pd.DataFrame({"task": [f"item{i:03d}" for i in range(30)],  # noqa: F841
                             "label": np.asarray(CLASSES, dtype=object)[truth[:30]]})
        con.execute("INSERT INTO gold SELECT ?, task, label, 'gold.csv', 1 FROM gold_df", [pid])
        _run(con, pid, 1, "mv", df, truth, 0.8, prev=True)
        _run(con, pid, 2, "ds", df, truth, 0.86)
        con.execute("""INSERT INTO runs (run_id, project_id, method, params, input_fingerprint, code_version, status,
                       error) VALUES (3, ?, 'glad', '{}', 'fp', 'test', 'failed', 'too slow')""", [pid])
        con.execute("SELECT nextval('run_seq') FROM range(3)").fetchall()  # keep the sequence past the ids used
        audit.append(con, actor="tester", action="ban", project_id=pid, target_kind="worker", target="w_bot",
                     scope="project", reason="bot")
        # a second project with labels but no timestamps and no analysis yet
        pid2 = ws.project_id("untimed", create=True)
        small = df.head(200)[["task", "worker", "label", "source_row"]]  # noqa: F841
        con.execute("""INSERT INTO annotations (project_id, ingest_id, source_row, task, worker, label)
                       SELECT ?, 1, source_row, task, worker, label FROM small""", [pid2])
    ws.close()
    return path
