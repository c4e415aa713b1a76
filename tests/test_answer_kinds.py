"""Multi-label and item-specific projects analysed end to end on the real exports (issue 12).

The MTurk relation batch is analysed per option (each option a yes/no judgement per item):
one probability per option in the results and the export, the worker who ticks nearly every
option on every sentence is named by the tick-count detector, and per-option sensitivity
and specificity are available for the worker page. The CrowdFlower report's per-item
sentences are analysed with the one-coin model on per-item options and decoded back to the
answers' words, without a class per sentence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from auth_support import add_accounts, me  # noqa: E402
from conftest import dataset_path

from analytics import export, options, results
from analytics.answers.ticking import TickCount, _others_median
from analytics.dataset import from_frame
from analytics.ingest import ingest_file
from analytics.pipeline import analyze

ADMIN = me("admin")

TICKER = "A1T9DFT0XOO3V5"   # ticks 16 of 19 relations on every sentence of the batch


@pytest.fixture(scope="module")
def ml_ws(tmp_path_factory):
    from analytics.store import open_workspace

    ws = open_workspace(tmp_path_factory.mktemp("ml") / "ws")
    add_accounts(ws)
    ingest_file(ws, dataset_path("mturk_open_domain_relations", "raw/Batch_2947651_batch_results.csv"),
                "relations", label_field="Answer.Q1", actor=ADMIN)
    run = analyze(ws, "relations", actor=ADMIN)
    yield ws, run
    ws.close()


def test_multilabel_results_are_per_item_and_per_option(ml_ws):
    ws, run = ml_ws
    con = ws.con
    n_items = con.execute("SELECT count(DISTINCT task) FROM annotations").fetchone()[0]
    assert con.execute("SELECT count(*) FROM run_tasks WHERE run_id = ?", [run]).fetchone()[0] == n_items
    probs = con.execute("SELECT task, label, p FROM run_task_probs WHERE run_id = ?", [run]).df()
    assert probs["label"].nunique() == 19 and len(probs) == 19 * n_items      # one per (item, option)
    assert not probs["label"].str.contains("|", regex=False).any()            # options, never combinations
    # the item's label is the set of options with P >= 0.5
    t = con.execute("SELECT task, label FROM run_tasks WHERE run_id = ?", [run]).df().set_index("task")["label"]
    chosen = probs[probs["p"] >= 0.5].groupby("task")["label"].agg(lambda s: "|".join(sorted(s)))
    assert (t[chosen.index] == chosen).all()
    # the pooled confusion matrix is 2 x 2 (ticked / not), not 86 x 86 combinations
    assert con.execute("SELECT count(DISTINCT true_label) FROM run_confusion WHERE run_id = ?", [run]).fetchone()[0] == 2
    s = results.run_summary(con, run)["summary"]
    assert s["answer_kind"] == "multilabel" and len(s["options"]) == 19
    assert s["n_labels"] == 1205 and s["n_pseudo_labels"] == 19 * 1205


def test_the_ticker_is_named_with_a_plain_reason(ml_ws):
    ws, run = ml_ws
    tick = options.tick_signal(ws.con, run, TICKER)
    assert tick["significant"] and tick["reason"].startswith("ticks almost every option: 16.0 of 19 options")
    w = results.workers_table(ws.con, run, ws.project_id("relations"), results.WorkerFilter(search=TICKER))
    assert w.iloc[0]["verdict"] == "suspect" and "ticks almost every option" in w.iloc[0]["reasons"]
    assert w.iloc[0]["n_labels"] == 48                                     # answers, not option judgements
    stats = options.option_stats(ws.con, run, ws.project_id("relations"), TICKER)
    assert len(stats) == 19
    assert (stats["sensitivity"] > 0.9).sum() >= 15 and stats["specificity"].median() < 0.2
    honest = options.option_stats(ws.con, run, ws.project_id("relations"), "A3SW7C50H0E9U3")
    assert honest["specificity"].median() > 0.9


def test_multilabel_export_has_one_column_per_option(ml_ws):
    ws, _ = ml_ws
    exp = export.build_export(ws, "relations", "labels", "csv", actor=ADMIN)
    p_cols = [c for c in exp.frame.columns if c.startswith("p_")]
    assert len(p_cols) == 19 and "p_per:place_of_birth" in p_cols
    assert exp.frame["task"].is_unique and len(exp.frame) == 79
    assert ((exp.frame[p_cols] >= 0) & (exp.frame[p_cols] <= 1)).all().all()


def test_item_specific_report_uses_per_item_options(workspace):
    for i in (1, 2, 3):
        ingest_file(workspace, dataset_path("crowdflower_medical_relations", f"raw/RelDir_batch_0{i}.csv"), "cf", actor=ADMIN)
    run = analyze(workspace, "cf", actor=ADMIN)
    con = workspace.con
    info = results.run_summary(con, run)
    assert info["method"] == "onecoin" and info["summary"]["answer_kind"] == "item-specific"
    assert con.execute("SELECT count(*) FROM run_confusion WHERE run_id = ?", [run]).fetchone()[0] == 0
    probs = con.execute("SELECT task, label FROM run_task_probs WHERE run_id = ?", [run]).df()
    per_item = con.execute("SELECT task, count(DISTINCT label) AS n FROM annotations GROUP BY task").df()
    assert len(probs) == int(per_item["n"].sum())          # each item's own answers only (not 244 x 151)
    labels = con.execute("SELECT t.task, t.label FROM run_tasks t WHERE run_id = ?", [run]).df()
    answers = set(map(tuple, con.execute("SELECT DISTINCT task, label FROM annotations").fetchall()))
    assert all((r.task, r.label) in answers for r in labels.itertuples())   # decoded to the item's own words
    reasons = " ".join(con.execute("SELECT coalesce(reasons, '') FROM run_tasks WHERE run_id = ?",
                                   [run]).df().iloc[:, 0])
    assert "label 0" not in reasons                                        # no per-item codes leak
    size = sum(f.stat().st_size for f in workspace.path.rglob("*") if f.is_file())
    assert size < 30 * 2**20


def test_tick_count_detector_finds_planted_tickers_and_spares_the_honest():
    rng = np.random.default_rng(3)
    rows = []
    n_items, options_ = 60, [f"o{k}" for k in range(10)]
    truth = rng.random((n_items, 10)) < 0.15
    for w in range(30):
        for i in rng.choice(n_items, 30, replace=False):
            if w == 0:
                ticked = rng.random(10) < 0.9              # ticks almost everything
            elif w == 1:
                ticked = np.zeros(10, bool)                  # ticks nothing but the first option
                ticked[0] = True
            else:
                ticked = truth[i] ^ (rng.random(10) < 0.08)
            for k, o in enumerate(options_):
                rows.append((f"i{i}\x1f{o}", f"w{w:02d}", "yes" if ticked[k] else "no"))
    df = pd.DataFrame(rows, columns=["task", "worker", "label"])
    data = from_frame(df, classes=["no", "yes"])
    item = pd.factorize(pd.Series(data.task_ids).str.split("\x1f").str[0], sort=True)[0]
    det = TickCount().fit(data, item)
    fired = set(data.worker_ids[det.signals_.loc[det.signals_["fired"], "worker"].to_numpy()])
    assert "w00" in fired
    assert len(fired - {"w00", "w01"}) <= 1


def test_leave_one_out_median_matches_numpy():
    rng = np.random.default_rng(0)
    item, t = rng.integers(0, 30, 400), rng.integers(0, 6, 400)
    got = _others_median(item, t)
    for k in range(0, 400, 7):
        others = t[(item == item[k]) & (np.arange(400) != k)]
        assert (np.isnan(got[k]) and others.size == 0) or got[k] == np.median(others)
