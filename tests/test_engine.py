"""The partitioned engine (analytics.engine) gives the in-memory answers, on a real Dask cluster.

One small project (an honest crowd of the 'timezones' shape with every red-team attack planted,
so every detector has something to find) is analysed in memory and partitioned into 6 item and
6 worker partitions on a local cluster of two worker processes; labels, suspects, every worker
score and the agreement statistics must agree. The CLI paths (`run --engine dask` on a Parquet
folder, `--cluster` to an existing scheduler, `analyze --engine dask`) are checked on the same
cluster.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="2GB",
                           dashboard_address=None, silence_logs=40)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """(workspace path, project parquet) of the attacked crowd."""
    from auth_support import add_accounts, me

    from analytics.dataset import from_frame
    from analytics.ingest import ingest_file
    from analytics.redteam.attacks import inject
    from analytics.redteam.crowds import generate
    from analytics.store import open_workspace

    tmp = tmp_path_factory.mktemp("engine")
    labels, _ = generate("timezones", 24_000, seed=3)
    att = inject(from_frame(labels), "all", share=0.1, seed=5)
    d = att.data
    frame = d.to_frame()
    frame["submitted_at"] = pd.to_datetime(d.submitted_at, unit="s", utc=True)
    if d.duration_s is not None:
        frame["duration_s"] = d.duration_s
    folder = tmp / "lake"
    folder.mkdir()
    half = len(frame) // 2                     # a Parquet dataset of two files, read in place
    frame.iloc[:half].to_parquet(folder / "a.parquet", index=False)
    frame.iloc[half:].to_parquet(folder / "b.parquet", index=False)
    single = tmp / "labels.parquet"
    frame.to_parquet(single, index=False)
    ws = open_workspace(tmp / "ws")
    add_accounts(ws)
    ingest_file(ws, single, "p", actor=me("admin"))
    ws.close()
    return tmp, folder, single


def _compare_workers(mem: pd.DataFrame, part: pd.DataFrame) -> list[str]:
    """Columns whose values differ (numbers beyond 1e-6 relative, text exactly); drift's onset
    position is a tie-break between equal CUSUM maxima and may differ."""
    a = mem.set_index("worker")
    b = part.set_index("worker").reindex(a.index)
    bad = []
    for c in a.columns:
        if c.startswith(("drift_onset", "drift_rate_", "drift_alarm")):
            continue
        if pd.api.types.is_numeric_dtype(a[c]):
            x, y = a[c].to_numpy(float), b[c].to_numpy(float)
            if not (np.isclose(x, y, rtol=1e-6, atol=1e-9) | (np.isnan(x) & np.isnan(y))).all():
                bad.append(c)
        elif c != "reasons" and (a[c].astype(str) != b[c].astype(str)).any():
            bad.append(c)
    return bad


def test_partitioned_analysis_equals_in_memory(project, client, monkeypatch):
    from analytics.dataset import load_project
    from analytics.engine import analyze_layout
    from analytics.engine import layout as lay
    from analytics.engine import workers as ew
    from analytics.pipeline import analyze_arrays
    from analytics.settings import AnalysisSettings
    from analytics.store import open_workspace

    tmp, _, _ = project
    ws = open_workspace(tmp / "ws")
    pid = ws.project_id("p")
    data = load_project(ws.con, pid)
    settings = AnalysisSettings()
    mem = analyze_arrays(data, settings)
    layout = lay.from_workspace(ws.con, pid, tmp / "layout", partition_labels=data.n // 6 + 1)
    ws.close()
    monkeypatch.setattr(ew, "PARTITION_LABELS", data.n // 6 + 1)
    part = analyze_layout(layout, settings, tmp / "items", cluster=client)
    assert len(layout.parts) >= 5 and part.summary["engine"]["worker_partitions"] >= 5
    assert part.summary["engine"]["workers"] == 2
    # labels from cbds, evidence against the ds reference: both paths fit both models
    assert (mem.summary["method"], mem.summary["evidence_method"]) == ("cbds", "ds")
    assert (part.summary["method"], part.summary["evidence_method"]) == ("cbds", "ds")

    pl = pd.concat([pd.read_parquet(p) for p in part.item_files("labels")]).set_index("task")
    ml = mem.labels.set_index("task")
    assert (ml["label"] == pl["label"].reindex(ml.index)).mean() >= 0.999
    p_cols = [c for c in ml.columns if c.startswith("p_")]
    assert np.allclose(ml[p_cols].to_numpy(), pl[p_cols].reindex(ml.index).to_numpy(), atol=1e-6)

    mw, pw = mem.workers, part.workers
    assert mw["suspect"].sum() >= 10                      # the planted attackers are found ...
    assert set(mw.loc[mw["suspect"], "worker"]) == set(pw.loc[pw["suspect"], "worker"])   # ... by both paths
    assert _compare_workers(mw, pw) == []
    assert abs(mem.summary["alpha"] - part.summary["alpha"]) < 1e-6
    assert abs(mem.summary["kappa"] - part.summary["kappa"]) < 1e-6
    assert mem.summary["kappa_kind"] == part.summary["kappa_kind"]
    # bootstrap intervals: the same resampling scheme with other random numbers
    for k in ("alpha_ci", "kappa_ci"):
        assert np.allclose(mem.summary[k], part.summary[k], atol=0.03)
    assert mem.summary["n_suspect_items"] == part.summary["n_suspect_items"]
    assert mem.summary["rescore"] == part.summary["rescore"]

    mi = mem.items.set_index("task")
    pi = pd.concat([pd.read_parquet(p) for p in part.item_files("items")]).set_index("task").reindex(mi.index)
    assert (mi["suspect"] == pi["suspect"]).all()
    assert np.allclose(mi["entropy"], pi["entropy"], atol=1e-9)

    key = ["worker_a", "worker_b", "kind"]
    mp = mem.pairs.sort_values(key).reset_index(drop=True)
    pp = part.pairs.sort_values(key).reset_index(drop=True)
    assert mp[key].equals(pp[key]) and np.allclose(mp["value"], pp["value"], rtol=1e-6, equal_nan=True)
    assert mem.communities["members"].tolist() == part.communities["members"].tolist()
    ms = mem.signals[mem.signals["signal"] != "verdict"]
    assert len(ms) == len(part.signals)


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analytics", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def test_run_cli_on_a_parquet_folder_with_an_existing_cluster(project, client, tmp_path):
    _, folder, single = project
    addr = client.scheduler.address
    r = _run("run", str(folder), "--out", str(tmp_path / "dask"), "--engine", "dask", "--cluster", addr, "--quiet")
    assert r.returncode == 0, r.stderr
    assert "dask:" in r.stdout
    m = _run("run", str(single), "--out", str(tmp_path / "mem"), "--quiet")
    assert m.returncode == 0, m.stderr
    for name, key in (("labels", "task"), ("items", "task"), ("workers", "worker")):
        a = pd.read_csv(tmp_path / "mem" / f"{name}.csv").set_index(key).sort_index()
        b = pd.read_csv(tmp_path / "dask" / f"{name}.csv").set_index(key).sort_index()
        assert list(a.columns[:5]) == list(b.columns[:5])       # the CLI contract's columns, in order
        assert (a["label" if name != "workers" else "suspect"] == b["label" if name != "workers" else
                                                                     "suspect"]).mean() >= 0.999


def test_cli_errors_are_one_line(project, tmp_path):
    _, folder, _ = project
    r = _run("run", str(folder), "--out", str(tmp_path / "o"), "--engine", "dask", "--cluster", "tcp://127.0.0.1:9",
             "--quiet")
    assert r.returncode == 2 and "no Dask scheduler answers at tcp://127.0.0.1:9" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = _run("run", str(folder), "--out", str(tmp_path / "o"), "--cluster", "tcp://127.0.0.1:9", "--quiet")
    assert r.returncode == 2 and "need --engine dask" in r.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    pd.DataFrame({"task": ["a"], "annotator": ["w"], "label": ["x"]}).to_parquet(bad / "x.parquet")
    r = _run("run", str(bad), "--out", str(tmp_path / "o"), "--engine", "dask", "--quiet")
    assert r.returncode == 2 and "missing column(s) worker" in r.stderr


def test_analyze_in_a_workspace_stores_the_same_run(project, client, users):
    from analytics.access import AccessDenied
    from analytics.pipeline import analyze
    from analytics.store import open_workspace

    tmp, _, _ = project
    ws = open_workspace(tmp / "ws")
    try:
        n_runs = ws.con.execute("SELECT count(*) FROM runs").fetchone()[0]
        with pytest.raises(AccessDenied):          # the access check of the in-memory analyze holds here too
            analyze(ws, "p", engine="dask", engine_options={"cluster": client}, actor=users["viewer"], force=True)
        with pytest.raises(AccessDenied):
            analyze(ws, "p", engine="dask", engine_options={"cluster": client}, actor="analyst", force=True)
        assert ws.con.execute("SELECT count(*) FROM runs").fetchone()[0] == n_runs
        analyst = users["analyst"]
        r_mem = analyze(ws, "p", force=True, actor=analyst)
        seen = []
        r_dask = analyze(ws, "p", engine="dask", engine_options={"cluster": client}, force=True, actor=analyst,
                         progress=lambda f, m: seen.append((f, m)))
        fracs = [f for f, _ in seen]        # reported as the in-memory analyze reports: fraction and step
        assert fracs == sorted(fracs) and fracs[-1] == 1.0 and seen[-1][1] == f"run {r_dask} complete"
        msgs = " / ".join(m for _, m in seen)
        for step in ("writing the partitioned layout", "aggregating labels", "step 2", "behaviour detectors",
                     "collusion detectors", "writing results"):
            assert step in msgs, step
        assert ws.con.execute("SELECT actor FROM actions WHERE action = 'analyze' AND target = ?",
                              [str(r_dask)]).fetchone()[0] == "analyst"
        assert r_dask != r_mem
        con = ws.con
        diff = con.execute("SELECT count(*) FROM run_tasks a JOIN run_tasks b USING (task) WHERE a.run_id = ? "
                           "AND b.run_id = ? AND a.label <> b.label", [r_mem, r_dask]).fetchone()[0]
        n = con.execute("SELECT count(*) FROM run_tasks WHERE run_id = ?", [r_dask]).fetchone()[0]
        assert n > 0 and diff <= 0.001 * n
        sus = con.execute("SELECT count(*) FROM run_workers a JOIN run_workers b USING (worker) WHERE a.run_id = ? "
                          "AND b.run_id = ? AND a.suspect <> b.suspect", [r_mem, r_dask]).fetchone()[0]
        assert sus == 0
        for table in ("run_task_probs", "run_task_scores", "run_worker_scores", "run_confusion"):
            counts = con.execute(f"SELECT run_id, count(*) FROM {table} WHERE run_id IN (?, ?) GROUP BY 1",
                                 [r_mem, r_dask]).fetchall()
            assert len(counts) == 2 and counts[0][1] == counts[1][1], table
        assert analyze(ws, "p", engine="dask", engine_options={"cluster": client}, actor=analyst) == r_dask  # reused
    finally:
        ws.close()


@pytest.mark.parametrize("method", ["ds", "mv", "cbds"])
def test_partitioned_em_equals_the_in_memory_model(project, client, method, tmp_path):
    """E-step per item partition, M-step from summed statistics: the in-memory fit, step for step."""
    from analytics.aggregate import MODELS, aggregate
    from analytics.dataset import load_project
    from analytics.engine import em
    from analytics.engine import layout as lay
    from analytics.engine.core import Engine
    from analytics.store import open_workspace

    if method not in MODELS:
        pytest.skip(f"{method} is not an aggregation model of this version")
    tmp, _, _ = project
    ws = open_workspace(tmp / "ws")
    pid = ws.project_id("p")
    data = load_project(ws.con, pid)
    layout = lay.from_workspace(ws.con, pid, tmp_path / "layout", partition_labels=data.n // 7 + 1)
    ws.close()
    ref = aggregate(data, method=method)
    c = em.fit(Engine(client=client, layout=layout), method)
    q = np.concatenate(client.gather(c.q))
    assert np.abs(q - ref.probas).max() < 1e-9
    assert (q.argmax(axis=1) == ref.labels).mean() >= 0.999
    if ref.errors is not None:
        assert np.abs(c.errors - ref.errors).max() < 1e-9
    assert np.allclose(c.priors, ref.priors, atol=1e-12)
