"""End-to-end analysis: the one-shot `run` contract, workspace runs, reuse, and the demo's planted attackers."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from analytics.dataset import from_frame, load_project
from analytics.demo import simulate_reviews
from analytics.pipeline import analyze, analyze_arrays, latest_run
from tests.conftest import ROOT, dataset_path


@pytest.fixture(scope="module")
def simulated():
    labels, gold, key = simulate_reviews()
    return labels, gold, key


@pytest.fixture(scope="module")
def simulated_analysis(simulated):
    labels, gold, key = simulated
    return analyze_arrays(from_frame(labels, gold))


def test_planted_attackers_are_suspect_and_honest_mostly_not(simulated, simulated_analysis):
    _, _, key = simulated
    w = simulated_analysis.workers.merge(key, on="worker")
    planted = w[w["attack"] != "honest"]
    honest = w[w["attack"] == "honest"]
    assert planted["suspect"].mean() >= 0.8, planted[["worker", "attack", "trust", "suspect", "reasons"]]
    assert honest["suspect"].mean() <= 0.05, honest.loc[honest["suspect"], ["worker", "trust", "reasons"]]
    # Every suspect carries a reason, and trust ranks planted workers below honest ones.
    assert (w.loc[w["suspect"], "reasons"].str.len() > 0).all()
    assert planted["trust"].median() < honest["trust"].quantile(0.1)


def test_labels_from_cbds_evidence_against_dawid_skene(simulated, simulated_analysis):
    """Default: delivered labels are cbds's, the detectors' reference is Dawid-Skene's fit; with
    evidence_method = method one fit serves both; an unknown model is refused by name."""
    from analytics.aggregate import aggregate
    from analytics.errors import UserError
    from analytics.trust import TrustSettings

    labels, gold, _ = simulated
    data = from_frame(labels, gold)
    s = simulated_analysis.summary
    assert (s["method"], s["evidence_method"]) == ("cbds", "ds")
    assert simulated_analysis.consensus.method == "cbds"
    cb = aggregate(data, "cbds", use_gold=False)
    assert (simulated_analysis.consensus.labels == cb.labels).all()
    same = analyze_arrays(data, TrustSettings(evidence_method="cbds"))
    assert same.summary["evidence_method"] == "cbds"
    assert (same.consensus.labels == simulated_analysis.consensus.labels).all()
    with pytest.raises(UserError, match="evidence_method"):
        TrustSettings(evidence_method="nope")


def test_output_columns_follow_the_contract(simulated_analysis):
    r = simulated_analysis
    assert list(r.labels.columns[:3]) == ["task", "label", "confidence"]
    assert all(c.startswith("p_") for c in r.labels.columns[3:])
    assert list(r.workers.columns[:5]) == ["worker", "n_labels", "trust", "suspect", "reasons"]
    assert list(r.items.columns[:6]) == ["task", "label", "confidence", "n_labels", "suspect", "reasons"]
    assert r.workers["trust"].between(0, 1).all()
    np.testing.assert_allclose(r.labels.filter(like="p_").sum(axis=1), 1.0, atol=1e-6)


def test_workspace_run_is_stored_and_reused(workspace, simulated, tmp_path, admin):
    from analytics.ingest import ingest_file

    labels, gold, _ = simulated
    f = tmp_path / "l.csv"
    labels.to_csv(f, index=False)
    ingest_file(workspace, f, "sim", actor=admin)
    run1 = analyze(workspace, "sim", actor=admin)
    con = workspace.con
    pid = workspace.project_id("sim")
    assert latest_run(con, pid) == run1
    n_workers = con.execute("SELECT count(*) FROM run_workers WHERE run_id = ?", [run1]).fetchone()[0]
    assert n_workers == load_project(con, pid).n_workers
    assert con.execute("SELECT count(*) FROM run_signals WHERE run_id = ? AND fired", [run1]).fetchone()[0] > 0
    assert analyze(workspace, "sim", actor=admin) == run1, "unchanged data and settings must reuse the run"
    assert analyze(workspace, "sim", force=True, actor=admin) != run1
    assert con.execute("SELECT count(*) FROM actions WHERE action = 'analyze'").fetchone()[0] == 2


def test_run_cli_on_real_file(tmp_path):
    src = dataset_path("zheng_sentiment")
    gold = dataset_path("zheng_sentiment", "gold.csv")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "analytics", "run", str(src), "--gold", str(gold), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    labels = pd.read_csv(out / "labels.csv", dtype={"task": str})
    workers = pd.read_csv(out / "workers.csv")
    items = pd.read_csv(out / "items.csv")
    assert labels.columns[:3].tolist() == ["task", "label", "confidence"] and len(labels) == 1000
    assert workers.columns[:5].tolist() == ["worker", "n_labels", "trust", "suspect", "reasons"] and len(workers) == 85
    assert items.columns[:6].tolist() == ["task", "label", "confidence", "n_labels", "suspect", "reasons"]
    g = pd.read_csv(gold, dtype={"task": str}).merge(labels, on="task", suffixes=("_gold", ""))
    assert (g["label_gold"] == g["label"]).mean() >= 0.958   # DS on D_PosSent (Zheng et al. 2017: 0.960)


def test_run_cli_bad_input_exits_2(tmp_path):
    bad = tmp_path / "empty.csv"
    bad.write_text("")
    proc = subprocess.run([sys.executable, "-m", "analytics", "run", str(bad), "--out", str(tmp_path / "o")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0
    assert "empty" in proc.stderr.lower()


def test_ban_and_trust_overrides_reach_the_next_run(workspace, simulated, tmp_path, admin):
    from analytics.actions import ban, trust_workers
    from analytics.ingest import ingest_file

    labels, _, key = simulated
    f = tmp_path / "l.csv"
    labels.to_csv(f, index=False)
    ingest_file(workspace, f, "sim", actor=admin)
    run1 = analyze(workspace, "sim", actor=admin)
    con = workspace.con
    suspects = con.execute("SELECT worker FROM run_workers WHERE run_id = ? AND suspect ORDER BY trust",
                           [run1]).df()["worker"].tolist()
    banned, vetted = suspects[0], suspects[1]
    ban(workspace, "sim", [banned], reason="test ban", actor=admin)
    trust_workers(workspace, "sim", [vetted], reason="known expert", actor=admin)
    run2 = analyze(workspace, "sim", actor=admin)
    assert run2 != run1
    rows = con.execute("SELECT worker, suspect, reasons FROM run_workers WHERE run_id = ?", [run2]).df().set_index("worker")
    assert banned not in rows.index, "a banned worker's labels are left out of the analysis"
    assert not rows.loc[vetted, "suspect"] and rows.loc[vetted, "reasons"].startswith("vetted")


def test_small_real_batch_does_not_flag_a_quarter_of_the_crowd(tmp_path):
    """A 448-label CrowdFlower batch once had 11 of 44 workers flagged by thin community evidence."""
    src = dataset_path("crowdflower_medical_relations", "raw/RelDir_batch_01.csv")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "analytics", "run", str(src), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    workers = pd.read_csv(out / "workers.csv")
    assert len(workers) == 44
    assert workers["suspect"].mean() <= 0.1


def test_defended_consensus_leaves_suspects_out():
    """The re-fit ignores the suspects' labels; tasks only they labelled keep the first fit."""
    from analytics.aggregate import aggregate
    from analytics.consensus import leave_one_out_posteriors
    from analytics.pipeline import defended_consensus
    from analytics.trust import TrustSettings

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 60)
    rows = [(t, f"h{w}", int(truth[t]) if rng.random() < 0.9 else int(1 - truth[t]))
            for t in range(60) for w in range(4)]
    rows += [(t, f"s{w}", 1) for t in range(40) for w in range(5)]          # a block voting 1
    rows += [(t, "s0", 0) for t in range(60, 63)]                           # tasks only s0 labelled
    data = from_frame(pd.DataFrame(rows, columns=["task", "worker", "label"]).astype(str))
    first = aggregate(data, "ds")
    suspect = np.char.startswith(np.asarray(data.worker_ids).astype(str), "s")
    d = defended_consensus(data, first, suspect, TrustSettings())
    honest_only = aggregate(data.subset(~suspect[data.worker]), "ds")
    covered = np.bincount(data.task[~suspect[data.worker]], minlength=data.n_tasks) > 0
    assert np.array_equal(d.labels[covered], honest_only.labels[covered])
    assert np.allclose(d.probas[~covered], first.probas[~covered])
    assert np.allclose(d.confusion[suspect], 0.5)
    # excluded votes do not move anybody's leave-one-out reference
    loo = leave_one_out_posteriors(data, d, exclude=suspect)
    h = ~suspect[data.worker]
    ref = leave_one_out_posteriors(data.subset(h), d)
    assert np.allclose(loo[h], ref)
    assert defended_consensus(data, first, np.zeros(data.n_workers, bool), TrustSettings()) is None


def test_rescoring_without_suspects_clears_honest_workers_under_a_large_attack():
    """zheng_relevance with 15 planted rings (one of them 5 x 3,338 labels): against the consensus
    the rings dragged, honest workers look like chance; re-scored without the first pass's
    suspects, the honest flags fall (21 -> 4 of 162 when this was written)."""
    from analytics.redteam.attacks import inject
    from analytics.redteam.scorecard import honest_originals
    from analytics.trust import TrustSettings
    from tests.conftest import load_dataset

    df, gold = load_dataset("zheng_relevance")
    df = df[["task", "worker", "label"]].drop_duplicates(["task", "worker"], keep="last")
    att = inject(from_frame(df, gold=gold), "colluders", share=0.1, seed=2)
    honest = att.key["worker"][honest_originals(att).to_numpy()]
    rates = {}
    for on in (True, False):
        r = analyze_arrays(att.blind(), TrustSettings(rescore_without_suspects=on))
        w = r.workers.set_index("worker")
        rates[on] = w.loc[honest, "suspect"].mean()
        if on:
            planted = att.key["worker"][att.key["planted"].to_numpy(bool)]
            assert w.loc[planted, "suspect"].mean() >= 0.6
    assert rates[True] <= 0.03
    assert rates[True] < rates[False] / 2
