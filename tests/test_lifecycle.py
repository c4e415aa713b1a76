"""Undo an ingest and delete a project (issue 12): held back at once, restorable exactly until
confirmed, every step in the audit chain; on the real CrowdFlower and MTurk exports."""

from __future__ import annotations

import os

import pytest
from auth_support import me  # noqa: E402
from conftest import dataset_path

from analytics import audit, lifecycle, results
from analytics.errors import UserError
from analytics.ingest import ingest_file

ADMIN = me("admin")

CF1 = ("crowdflower_medical_relations", "raw/RelDir_batch_01.csv")
CF2 = ("crowdflower_medical_relations", "raw/RelDir_batch_02.csv")
MT = ("mturk_open_domain_relations", "raw/Batch_2963456_batch_results.csv")


def _rows(ws, table="annotations"):
    return ws.con.execute(f"SELECT * FROM {table} ORDER BY ingest_id, source_row").fetchall()


def test_undo_an_ingest_then_restore_it_exactly(workspace):
    a = ingest_file(workspace, dataset_path(*CF1), "cf", actor=ADMIN)
    b = ingest_file(workspace, dataset_path(*CF2), "cf", actor=ADMIN)
    before = _rows(workspace)
    out = lifecycle.withdraw_ingest(workspace, b.ingest_id, ADMIN, "wrong batch")
    assert out["annotations"] == b.rows_loaded
    assert workspace.con.execute("SELECT count(*) FROM annotations").fetchone()[0] == a.rows_loaded
    hist = results.ingest_history(workspace.con, None)
    assert b.ingest_id not in set(hist["ingest_id"])
    assert list(lifecycle.pending(workspace.con)["ingests"]["ingest_id"]) == [b.ingest_id]
    lifecycle.restore_ingest(workspace, b.ingest_id, ADMIN)
    assert _rows(workspace) == before
    log = workspace.con.execute("SELECT action, actor FROM actions ORDER BY seq").fetchall()
    assert ("withdraw_ingest", "admin") in log and ("restore_ingest", "admin") in log
    assert audit.verify(workspace.con, anchor=workspace.path / audit.ANCHOR_NAME).ok


def test_confirmed_undo_removes_the_rows_and_the_unused_file(workspace):
    ingest_file(workspace, dataset_path(*CF1), "cf", actor=ADMIN)
    b = ingest_file(workspace, dataset_path(*MT), "cf-extra", label_field="Answer.Q1", actor=ADMIN)
    lifecycle.withdraw_ingest(workspace, b.ingest_id, ADMIN)
    lifecycle.purge_ingest(workspace, b.ingest_id, ADMIN)
    assert b.sha256 not in os.listdir(workspace.files_dir)
    assert workspace.con.execute("SELECT count(*) FROM trash_annotations").fetchone()[0] == 0
    assert lifecycle.pending(workspace.con)["ingests"].empty
    with pytest.raises(UserError):
        lifecycle.restore_ingest(workspace, b.ingest_id, ADMIN)
    # the same file can be loaded again after its ingest was undone
    again = ingest_file(workspace, dataset_path(*MT), "cf-extra", label_field="Answer.Q1", actor=ADMIN)
    assert again.rows_loaded == b.rows_loaded


def test_undo_recomputes_the_projects_kind(workspace):
    ingest_file(workspace, dataset_path(*CF1), "mixed", kind="single", actor=ADMIN)
    mt = ingest_file(workspace, dataset_path(*MT), "mixed", label_field="Answer.Q1", actor=ADMIN)
    assert mt.project_kind == "multilabel"
    lifecycle.withdraw_ingest(workspace, mt.ingest_id, ADMIN)
    assert results.projects(workspace.con).set_index("name").loc["mixed", "kind"] == "single"


def test_delete_a_project_restore_it_then_confirm(workspace):
    ingest_file(workspace, dataset_path(*CF1), "keep", actor=ADMIN)
    d = ingest_file(workspace, dataset_path(*CF2), "drop", actor=ADMIN)
    lifecycle.delete_project(workspace, "drop", ADMIN, "duplicate")
    assert list(results.projects(workspace.con)["name"]) == ["keep"]
    assert workspace.project_names() == ["keep"]
    with pytest.raises(UserError, match="waiting to be deleted"):
        ingest_file(workspace, dataset_path(*CF2), "drop", force=True, actor=ADMIN)
    lifecycle.restore_project(workspace, "drop", ADMIN)
    assert set(results.projects(workspace.con)["name"]) == {"keep", "drop"}
    lifecycle.delete_project(workspace, "drop", ADMIN)
    out = lifecycle.purge_project(workspace, d.project_id, ADMIN)
    assert out["labels"] == d.rows_loaded
    assert workspace.con.execute("SELECT count(*) FROM annotations WHERE project_id = ?",
                                 [d.project_id]).fetchone()[0] == 0
    assert d.sha256 not in os.listdir(workspace.files_dir)
    actions = [r[0] for r in workspace.con.execute("SELECT action FROM actions ORDER BY seq").fetchall()]
    assert actions[-4:] == ["delete_project", "restore_project", "delete_project", "purge_project"]
    assert audit.verify(workspace.con, anchor=workspace.path / audit.ANCHOR_NAME).ok
    ingest_file(workspace, dataset_path(*CF2), "drop", actor=ADMIN)                     # the name is free again
