"""The real platform files in ../shared/datasets/*/raw/ round-trip against the cleaned labels.csv."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from auth_support import me  # noqa: E402

from analytics.dataset import load_project
from analytics.ingest import detect_format, ingest_file
from tests.conftest import dataset_path

ADMIN = me("admin")

MTURK = "mturk_open_domain_relations"
MTURK_FILES = ["Batch_2947651_batch_results.csv", "Batch_2963456_batch_results.csv"]
CF = "crowdflower_medical_relations"
CF_FILES = ["RelDir_batch_01.csv", "RelDir_batch_02.csv", "RelDir_batch_03.csv"]


def frame(ws, ingest_id):
    return ws.con.execute("SELECT * FROM annotations WHERE ingest_id = ? ORDER BY source_row", [ingest_id]).df()


@pytest.mark.parametrize("name", MTURK_FILES)
def test_mturk_batch_results(workspace, name):
    raw = dataset_path(MTURK, f"raw/{name}")
    clean = pd.read_csv(dataset_path(MTURK), dtype=str)
    clean = clean[clean["batch"] == name.replace("_batch_results.csv", "")]
    assert detect_format(raw) == "mturk"
    s = ingest_file(workspace, raw, "rel", label_field="Q1", actor=ADMIN)
    assert s.label_field == "Answer.Q1"
    assert (s.rows_read, s.rows_loaded, s.rows_quarantined, s.rows_duplicate) == (len(clean), len(clean), 0, 0)
    got = frame(workspace, s.ingest_id)
    assert got["worker"].nunique() == clean["worker"].nunique()
    assert got["task"].nunique() == clean["hit_id"].nunique() == clean["task"].nunique()
    # Rows of the cleaned file are in the raw order; the labels are the sorted multi-select.
    assert got["worker"].tolist() == clean["worker"].tolist()
    assert got["task"].tolist() == clean["hit_id"].tolist()
    assert got["assignment"].tolist() == clean["assignment_id"].tolist()
    assert got["label"].tolist() == clean["label"].tolist()
    assert got["duration_s"].tolist() == clean["work_time_s"].astype(float).tolist()
    # The cleaned file keeps US Pacific wall-clock times (the PDT/PST suffix dropped); ours are UTC.
    for ours, theirs in (("started_at", "accept_time"), ("submitted_at", "submit_time")):
        utc = pd.to_datetime(got[ours], utc=True)
        local = utc.dt.tz_convert("America/Los_Angeles").dt.strftime("%Y-%m-%d %H:%M:%S")
        assert local.tolist() == clean[theirs].tolist()
    arrays = load_project(workspace.con, s.project_id)
    assert arrays.n == len(clean) and arrays.has_time


def test_mturk_pdt_to_utc(workspace):
    raw = dataset_path(MTURK, f"raw/{MTURK_FILES[0]}")
    s = ingest_file(workspace, raw, "rel", label_field="Answer.Q1", actor=ADMIN)
    first = frame(workspace, s.ingest_id).iloc[0]
    # "Mon Sep 25 09:38:35 PDT 2017" is 16:38:35 UTC (PDT = UTC-7).
    assert first["started_at"] == pd.Timestamp("2017-09-25 16:38:35", tz="UTC")
    assert first["submitted_at"] == pd.Timestamp("2017-09-25 16:39:11", tz="UTC")


@pytest.mark.parametrize("name", CF_FILES)
def test_crowdflower_full_report(workspace, name):
    raw = dataset_path(CF, f"raw/{name}")
    clean = pd.read_csv(dataset_path(CF), dtype=str)
    clean = clean[clean["batch"] == name.removesuffix(".csv")]
    assert detect_format(raw) == "crowdflower"
    s = ingest_file(workspace, raw, "med", actor=ADMIN)
    assert s.label_field == "direction"                       # the field with a direction_gold column
    assert (s.rows_read, s.rows_loaded, s.rows_quarantined, s.rows_duplicate) == (len(clean), len(clean), 0, 0)
    got = frame(workspace, s.ingest_id)
    assert got["worker"].nunique() == clean["worker"].nunique()
    assert got["task"].nunique() == clean["task"].nunique()
    assert got["worker"].tolist() == clean["worker"].tolist()
    assert got["task"].tolist() == clean["task"].tolist()
    assert got["label"].tolist() == clean["raw_answer"].tolist()   # cleaned file derives t1_rel_t2 from this
    # CrowdFlower times are UTC; the cleaned file writes them as naive UTC.
    for ours, theirs in (("started_at", "started_at"), ("submitted_at", "created_at")):
        assert pd.to_datetime(got[ours], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S").tolist() == clean[theirs].tolist()
    extra = pd.json_normalize(got["extra"].map(json.loads))
    assert extra["_trust"].tolist() == clean["trust"].tolist()


def test_all_crowdflower_batches_into_one_project(workspace):
    clean = pd.read_csv(dataset_path(CF), dtype=str)
    total = 0
    for name in CF_FILES:
        s = ingest_file(workspace, dataset_path(CF, f"raw/{name}"), "med", actor=ADMIN)
        total += s.rows_loaded
    part = clean[clean["batch"].isin([n.removesuffix(".csv") for n in CF_FILES])]
    arrays = load_project(workspace.con, workspace.project_id("med"))
    assert arrays.n == total == len(part)
    assert arrays.n_workers == part["worker"].nunique() and arrays.n_tasks == part["task"].nunique()
