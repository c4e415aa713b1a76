"""analytics.results, the dashboard's read API, on the fixture workspace with known answers."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
import app_fixture  # noqa: E402

from analytics import audit, results  # noqa: E402
from analytics.errors import UserError  # noqa: E402
from analytics.ingest.columns import file_columns  # noqa: E402

PID, RUN, PREV = 1, 2, 1


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    return app_fixture.build(tmp_path_factory.mktemp("results") / "ws")


@pytest.fixture
def con(ws):
    c = duckdb.connect(str(ws / "workspace.duckdb"), read_only=True)
    yield c
    c.close()


def _answers(con, pid=PID) -> pd.DataFrame:
    return con.execute("SELECT task, worker, label FROM annotations WHERE project_id = ?", [pid]).df()


def test_projects_and_stats(con):
    p = results.projects(con)
    assert p["name"].tolist() == ["fixture", "untimed"]
    assert p["latest_run"].iloc[0] == 2 and pd.isna(p["latest_run"].iloc[1])
    s = results.project_stats(con, PID)
    assert (s["labels"], s["workers"], s["gold"], s["has_time"]) == (1640, 40, 30, True)
    assert results.project_stats(con, 2)["has_time"] is False
    assert results.latest_run(con, PID) == 2            # the failed run 3 is never "latest"
    assert results.previous_run(con, PID, 2) == 1


def test_verdicts_follow_the_audit_log(con, ws):
    t = results.workers_table(con, RUN, PID)
    v = dict(zip(t["worker"], t["verdict"], strict=True))
    assert v["w_bot"] == "banned" and v["w_flip"] == "suspect" and v["w05"] == "watch" and v["w06"] == "trusted"
    # an unban lifts the ban; a workspace-scope ban applies to every project
    con.close()
    w = duckdb.connect(str(ws / "workspace.duckdb"))
    try:
        w.execute("BEGIN")
        audit.append(w, actor="t", action="unban", project_id=PID, target_kind="worker", target="w_bot",
                     scope="project")
        audit.append(w, actor="t", action="ban", project_id=None, target_kind="worker", target="w06",
                     scope="workspace")
        t2 = results.workers_table(w, RUN, PID)
        v2 = dict(zip(t2["worker"], t2["verdict"], strict=True))
        assert v2["w_bot"] == "suspect" and v2["w06"] == "banned"
    finally:
        w.execute("ROLLBACK")
        w.close()


def test_workers_table_filters_sort_and_columns(con):
    t = results.workers_table(con, RUN, PID, results.WorkerFilter(verdicts=["suspect", "banned"]))
    assert set(t["worker"]) == set(app_fixture.SUSPECTS)
    t = results.workers_table(con, RUN, PID, sort="labels", descending=True, limit=3)
    assert t["n_labels"].tolist() == [60, 50, 45]
    t = results.workers_table(con, RUN, PID, results.WorkerFilter(search="C1"))
    assert t["worker"].tolist() == ["w_c1"]
    assert t["gold_accuracy"].iloc[0] == pytest.approx(0.3) and t["gold_lo"].iloc[0] == pytest.approx(0.2)
    # agreement with the consensus, recomputed by hand
    a = _answers(con).merge(con.execute("SELECT task, label AS cons FROM run_tasks WHERE run_id = 2").df(), on="task")
    bot = a[a["worker"] == "w_bot"]
    row = results.workers_table(con, RUN, PID, results.WorkerFilter(search="w_bot"))
    assert row["agreement"].iloc[0] == pytest.approx((bot["label"] == bot["cons"]).mean())
    with pytest.raises(UserError):
        results.workers_table(con, RUN, PID, sort="salary")


def test_significant_signals_are_named_so(con):
    """run_signals.fired stores the verdict's ``significant``: the read API calls it that, and
    the old names (sort key "signals fired", fired_signal_names) still work."""
    stored = con.execute("""SELECT worker, string_agg(signal, ', ' ORDER BY signal) FROM run_signals
                            WHERE run_id = ? AND fired AND signal <> 'verdict' GROUP BY worker""", [RUN]).fetchall()
    t = results.workers_table(con, RUN, PID, limit=1000).set_index("worker")
    assert "n_fired" not in t.columns and "fired_signals" not in t.columns
    assert stored and all(t.loc[w, "significant_signals"] == s for w, s in stored)
    assert (t["n_significant"] > 0).sum() == len(stored)
    sig = results.worker_signals(con, RUN, "w_bot")
    assert "fired" not in sig.columns and sig["significant"].iloc[0]
    names = results.significant_signal_names(con, RUN)
    assert names == results.fired_signal_names(con, RUN) and names
    new = results.workers_table(con, RUN, PID, sort="significant signals", descending=True, limit=5)
    old = results.workers_table(con, RUN, PID, sort="signals fired", descending=True, limit=5)
    assert new["worker"].tolist() == old["worker"].tolist() and new["n_significant"].iloc[0] >= 1


def test_worker_overlap_kappa_matches_sklearn(con):
    ov = results.worker_overlap(con, RUN, PID, "w_c1")
    assert ov["worker"].iloc[0] == "w_c2" and ov["shared"].iloc[0] == 45 and ov["agreement"].iloc[0] == 1.0
    a = _answers(con)
    for other in ov["worker"].head(5):
        m = a[a["worker"] == "w_c1"].merge(a[a["worker"] == other], on="task")
        expect = cohen_kappa_score(m["label_x"], m["label_y"])
        got = ov.loc[ov["worker"] == other, "kappa"].iloc[0]
        if np.isfinite(expect):
            assert got == pytest.approx(expect, abs=1e-9)


def test_page_kappas_equal_the_analysis_kappa(con):
    """One Cohen's kappa: the pages' SQL (worker overlap, agreement matrix) and the analysis'
    worker x worker table (analytics.agreement.worker_pair_kappa) give the same value per pair."""
    from analytics.agreement import worker_pair_kappa
    from analytics.dataset import from_frame

    d = from_frame(_answers(con))
    ids = d.worker_ids.astype(str)
    pk = worker_pair_kappa(d, top_n=d.n_workers, min_shared=1, n_boot=0)
    ref = {(ids[a], ids[b]): k for a, b, k in zip(pk["worker_a"], pk["worker_b"], pk["kappa"], strict=True)}
    mat = results.agreement_matrix(con, RUN, PID, n=12, min_shared=3)
    ov = results.worker_overlap(con, RUN, PID, "w_c1", limit=40)
    got = [((r.worker_a, r.worker_b), r.kappa) for r in mat.itertuples(index=False)]
    got += [(tuple(sorted(("w_c1", r.worker))), r.kappa) for r in ov.itertuples(index=False)]
    assert len(got) > 20
    for pair, k in got:
        np.testing.assert_allclose(k, ref[pair], atol=1e-12, equal_nan=True)


def test_agreement_matrix_sql_kappa_matches_sklearn(con):
    mat = results.agreement_matrix(con, RUN, PID, n=8, min_shared=3)   # the fixture stores no kappa pairs
    assert len(mat) > 0
    a = _answers(con)
    for r in mat.head(6).itertuples(index=False):
        m = a[a["worker"] == r.worker_a].merge(a[a["worker"] == r.worker_b], on="task")
        assert r.shared == len(m)
        expect = cohen_kappa_score(m["label_x"], m["label_y"])
        if np.isfinite(expect) and r.kappa is not None and np.isfinite(r.kappa):
            assert r.kappa == pytest.approx(expect, abs=1e-9)


def test_items_exposure_and_detail(con):
    t = results.items_table(con, RUN, PID, results.ItemFilter(), sort="item", limit=1000)
    assert len(t) == 300
    a = _answers(con)
    bad = a["worker"].isin(app_fixture.SUSPECTS)
    share = bad.groupby(a["task"]).mean()
    got = t.set_index("task")["suspect_share"].dropna()
    assert np.allclose(got.sort_index(), share.reindex(got.index).sort_index())
    risky = results.items_table(con, RUN, PID, results.ItemFilter(only_suspect=True))
    assert len(risky) == 51 and risky["suspect"].all()
    task = risky["task"].iloc[0]
    ans = results.item_answers(con, RUN, PID, task)
    assert len(ans) == int(t.set_index("task").loc[task, "n_labels"])
    assert results.item_probs(con, RUN, task)["p"].sum() == pytest.approx(1.0)
    with pytest.raises(UserError):
        results.item_detail(con, RUN, "no-such-item")


def test_time_series_and_histogram_add_up(con):
    lot = results.labels_over_time(con, RUN, PID)
    assert lot["labels"].sum() == 1640 and lot.attrs["unit"] == "hour"
    assert lot.loc[lot["verdict"] == "banned", "labels"].sum() == 60
    h = results.trust_histogram(con, RUN, PID, bins=10)
    assert h["workers"].sum() == 40
    assert results.labels_over_time(con, RUN, 2).empty          # no timestamps
    tl = results.worker_timeline(con, PID, "w_bot")
    assert tl["labels"].sum() == 60 and tl.attrs["unit"] == "minute"
    bursts = results.worker_bursts(results.worker_signals(con, RUN, "w_bot"))
    assert len(bursts) == 1 and bursts["labels"].iloc[0] == 60


def test_collusion_group_and_run_diff(con):
    c = results.communities(con, RUN)
    assert c["suspect"].iloc[0] and list(c["members"].iloc[0]) == ["w_c1", "w_c2"]
    s = results.community_summary(con, RUN, PID, ["w_c1", "w_c2"])
    assert s == {"shared_items": 45, "same_answer": 45, "co_errors": 45, "median_time_spread_s": 4.0}
    d = results.run_diff(con, PREV, RUN, PID)
    assert (d["newly_suspect"], d["cleared"], d["labels_changed"]) == (2, 0, 12)
    assert set(d["workers"]["worker"]) == {"w_c1", "w_c2"}


def test_summary_and_headline(con):
    r = results.run_summary(con, RUN)
    assert (r["alpha"], r["alpha_lo"], r["alpha_hi"], r["accuracy"]) == (0.61, 0.57, 0.65, 0.86)
    h = results.headline(con, RUN, PID)
    assert h["workers_by_verdict"] == {"banned": 1, "suspect": 3, "watch": 1, "trusted": 35}
    assert h["items_at_risk"] == 51
    assert results.fmt_interval(0.5, 0.4, 0.6, 2) == "0.50 [0.40, 0.60]" and results.fmt_interval(None, 1, 2) == "—"


def test_ingest_history_quarantine_and_files(con, tmp_path):
    h = results.ingest_history(con)
    assert h["rows_quarantined"].iloc[0] == 2 and h["actor"].iloc[0] == "tester"
    assert h["project_id"].iloc[0] == PID
    f = tmp_path / "batch.csv"
    f.write_text("HITId,AssignmentId,WorkerId,AcceptTime,SubmitTime,Input.text,Answer.sentiment,Answer.other\n"
                 "h1,a1,w1,,,x,pos,1\n")
    info = file_columns(f)
    assert info["format"] == "mturk" and info["answer_columns"] == ["Answer.sentiment", "Answer.other"]
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(UserError):
        file_columns(empty)


def test_attribute_docs_reads_settings_documentation():
    from analytics.trust import TrustSettings
    from app.docs import attribute_docs

    docs = attribute_docs(TrustSettings)
    assert "fdr_q" in docs and "Benjamini" in docs["fdr_q"]
