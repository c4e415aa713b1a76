"""Issue 12: the pages on projects built from the real platform exports, and numbers that agree.

Every page renders on a multi-label MTurk project, an item-specific CrowdFlower project and the
same CrowdFlower files forced to single-choice labels (the 244-"class" project of the issue);
the collusion graph survives p-values that underflow to 0; worker ids that look like numbers
are drawn as names; verdicts never show "trusted" below a "watch" worker without a reason; the
sidebar's label count is the pages' count; estimates are labelled as estimates.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import dataset_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from auth_support import add_accounts, me  # noqa: E402
from test_app_pages import app, assert_clean, texts  # noqa: E402

from analytics import results  # noqa: E402
from analytics.ingest import ingest_file  # noqa: E402
from analytics.pipeline import analyze  # noqa: E402

ADMIN = me("admin")

PAGES = ["overview", "workers", "items", "collusion", "agreement", "actions", "export", "redteam", "data", "settings"]
CF = [("crowdflower_medical_relations", f"raw/RelDir_batch_0{i}.csv") for i in (1, 2, 3)]


@pytest.fixture(scope="module")
def real_ws(tmp_path_factory) -> Path:
    from analytics.store import open_workspace

    root = tmp_path_factory.mktemp("real") / "ws"
    with open_workspace(root) as ws:
        add_accounts(ws)
        ingest_file(ws, dataset_path("mturk_open_domain_relations", "raw/Batch_2947651_batch_results.csv"),
                    "relations", label_field="Answer.Q1", actor=ADMIN)
        for f in CF:
            ingest_file(ws, dataset_path(*f), "cf", actor=ADMIN)
            ingest_file(ws, dataset_path(*f), "cf-raw", kind="single", actor=ADMIN)
        for p in ("relations", "cf", "cf-raw"):
            analyze(ws, p, actor=ADMIN)
    return root


@pytest.mark.parametrize("project", ["relations", "cf", "cf-raw"])
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_real_projects(real_ws, project, page):
    at = app(real_ws, page, project)
    assert_clean(at)


def test_worker_page_of_the_multilabel_project_shows_options(real_ws):
    at = app(real_ws, "workers", "relations")
    at.session_state["worker_pick"] = "A1T9DFT0XOO3V5"
    at.run()
    assert_clean(at)
    body = texts(at) + "\n".join(e.value for e in at.error)
    assert "ticks almost every option" in body
    assert any("Agrees per option" in m.label for m in at.metric)
    assert any(m.label == "Accuracy (estimated)" for m in at.metric)


def test_estimated_accuracy_is_labelled_as_an_estimate(real_ws):
    at = app(real_ws, "overview", "cf")
    labels = [m.label for m in at.metric]
    assert "Est. accuracy" in labels and "Label accuracy" not in labels


def _con(ws: Path):
    import duckdb

    return duckdb.connect(str(ws / "workspace.duckdb"), read_only=True)


def test_trusted_is_never_below_watch_without_a_reason(real_ws):
    con = _con(real_ws)
    try:
        for name in ("relations", "cf", "cf-raw"):
            pid = results.project_id(con, name)
            run = results.latest_run(con, pid)
            w = results.workers_table(con, run, pid, limit=10_000)
            trusted = w.loc[w["verdict"] == "trusted", "trust"]
            watch = w[w["verdict"] == "watch"]
            assert (watch["reasons"].fillna("").str.len() > 0).all()           # every watch has its reason
            low = watch[watch["n_significant"] == 0]                                 # on watch for low trust only
            if len(low) and len(trusted):
                assert low["trust"].max() < trusted.min()
            # watch workers above some trusted worker are there for a detector that is named
            above = watch[watch["trust"] > (trusted.min() if len(trusted) else 1)]
            assert (above["n_significant"] > 0).all()
            # a signal firing on most of the crowd would describe the crowd
            assert (w["verdict"] == "watch").mean() < 0.5
    finally:
        con.close()


def test_sidebar_count_is_the_pages_count(real_ws, tmp_path):
    from analytics.store import open_workspace

    con = _con(real_ws)
    try:
        proj = results.projects(con).set_index("name")
        for name in proj.index:
            pid = int(proj.loc[name, "project_id"])
            assert proj.loc[name, "labels"] == results.project_stats(con, pid)["labels"]
    finally:
        con.close()
    # with repeated answers (a file loaded twice, its answers become updates) the counts still agree
    with open_workspace(tmp_path / "ws") as ws:
        add_accounts(ws)
        f = dataset_path(*CF[0])
        ingest_file(ws, f, "twice", actor=ADMIN)
        ingest_file(ws, f, "twice", force=True, actor=ADMIN)
        pid = ws.project_id("twice")
        assert results.projects(ws.con).iloc[0]["labels"] == results.project_stats(ws.con, pid)["labels"] == 448


def test_collusion_weights_are_finite_on_real_mturk(real_ws):
    """The combination-labels project of the issue: p-values underflow to 0 and must stay finite."""
    from analytics.aggregate import aggregate
    from analytics.collusion import CollusionDetector
    from analytics.consensus import Consensus  # noqa: F401
    from analytics.dataset import load_project
    from app import charts

    con = _con(real_ws)
    try:
        data = load_project(con, results.project_id(con, "relations"))   # combinations as classes
    finally:
        con.close()
    det = CollusionDetector().fit(data, aggregate(data, "ds"))
    assert np.isfinite(det.pairs_["weight"]).all()
    edges = pd.DataFrame({"worker_a": ["a", "b", "c"], "worker_b": ["b", "c", "a"], "value": [math.inf, 2.0, np.nan],
                          "n_shared": [5, 5, 5]})
    nodes = pd.DataFrame({"worker": ["a", "b", "c"], "verdict": ["suspect", "trusted", "watch"],
                          "trust": [0.1, 0.9, 0.5]})
    comms = pd.DataFrame({"community": [0], "members": [["a", "b"]], "suspect": [True]})
    fig = charts.collusion_network(edges, nodes, comms, selected=0)
    assert len(fig.data) > 0


def test_numeric_worker_ids_are_names_on_the_charts(real_ws):
    from app import charts

    con = _con(real_ws)
    try:
        pid = results.project_id(con, "cf-raw")
        run = results.latest_run(con, pid)
        top = results.top_workers(con, run, 25)
        mat = results.agreement_matrix(con, run, pid, 25, 2)
        by_label = results.agreement_by_label(con, run, pid)
    finally:
        con.close()
    assert all(str(w).isdigit() for w in top)                      # CrowdFlower worker ids are numbers
    fig = charts.kappa_heatmap(mat, top)
    assert fig.layout.xaxis.type == "category" and fig.layout.yaxis.type == "category"
    assert len(by_label) > charts.MAX_BARS                         # one "label" per consensus sentence
    fig = charts.agreement_by_label(by_label)
    assert len(fig.data[0].x) <= charts.MAX_BARS
