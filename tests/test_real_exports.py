"""Issue 12 on the real platform exports in ../shared/datasets/*/raw/: how answers are read.

MTurk multi-select answers are sets (a multi-label project), the CrowdFlower relation report's
sentences are recognised as answers worded per item (mapped by rules, or kept and analysed
per item), free-text columns are refused naming the likely label column, and a refused file
leaves the workspace exactly as it was, ``files/`` included.
"""

from __future__ import annotations

import json
import os

import pytest
from auth_support import me  # noqa: E402
from conftest import dataset_path

from analytics.errors import UserError
from analytics.ingest import ingest_file
from analytics.ingest.kinds import project_kind
from analytics.ingest.labelmap import parse_rules, read_rules
from analytics.ingest.messages import for_form
from analytics.ingest.preview import compare_with_project, preview_file

ADMIN = me("admin")

MTURK = ("mturk_open_domain_relations", "raw/Batch_2947651_batch_results.csv")
MTURK_SMALL = ("mturk_open_domain_relations", "raw/Batch_2963456_batch_results.csv")
CF = [("crowdflower_medical_relations", f"raw/RelDir_batch_0{i}.csv") for i in (1, 2, 3)]
CF_RULES = "pattern,label\n{term1} .+ {term2},t1_rel_t2\n{term2} .+ {term1},t2_rel_t1\nno_relation,no_relation\n"


def _state(ws):
    """Everything a failed ingest must leave unchanged: row counts of every table and files/."""
    return ws.table_counts(), sorted(os.listdir(ws.files_dir))


def test_mturk_several_answer_columns_names_the_likely_one(workspace):
    path = dataset_path(*MTURK)
    with pytest.raises(UserError) as err:
        ingest_file(workspace, path, "relations", actor=ADMIN)
    msg = str(err.value)
    assert "the answers look like they are in Answer.Q1" in msg and "--label-field Answer.Q1" in msg
    ui = for_form(msg)
    assert "--" not in ui and "**Label field** picker" in ui


def test_mturk_multi_select_is_a_multilabel_project(workspace):
    s = ingest_file(workspace, dataset_path(*MTURK), "relations", label_field="Answer.Q1", actor=ADMIN)
    assert s.answer_kind == "multilabel" and s.project_kind == "multilabel"
    kind, opts = project_kind(workspace.con, s.project_id)
    assert kind == "multilabel" and len(opts["options"]) == 19 and "per:place_of_birth" in opts["options"]
    # the same set in any order is the same label (sorted, '|'-joined)
    labels = {r[0] for r in workspace.con.execute("SELECT DISTINCT label FROM annotations").fetchall()}
    assert all(lab.split("|") == sorted(lab.split("|")) for lab in labels)
    # a second batch offering fewer options keeps the project multi-label, with the union of options
    s2 = ingest_file(workspace, dataset_path(*MTURK_SMALL), "relations", label_field="Q1", actor=ADMIN)
    assert s2.project_kind == "multilabel"


def test_free_text_column_is_refused_and_nothing_is_kept(workspace):
    ingest_file(workspace, dataset_path(*MTURK_SMALL), "relations", label_field="Answer.Q1", actor=ADMIN)
    before = _state(workspace)
    with pytest.raises(UserError) as err:
        ingest_file(workspace, dataset_path(*MTURK), "relations", label_field="Answer.Q2a", actor=ADMIN)
    msg = str(err.value)
    assert "column 'Answer.Q2a' has 646 distinct values in 1,205 rows" in msg
    assert "'Answer.Q1'" in msg                                  # the likely label column
    assert _state(workspace) == before                           # tables and files/ as they were


def test_crowdflower_report_is_recognised_as_item_specific(workspace):
    s = None
    for f in CF:
        s = ingest_file(workspace, dataset_path(*f), "cf", actor=ADMIN)
        assert s.answer_kind == "item-specific"
        assert s.gold_source == "platform golden column direction_gold"     # the *_gold column is offered
        assert any("worded per item" in w for w in s.warnings)
    kind, _ = project_kind(workspace.con, s.project_id)
    assert kind == "item-specific"
    assert "--map-labels" in " ".join(s.warnings)


def test_crowdflower_report_mapped_to_shared_classes(workspace, tmp_path):
    rules_file = tmp_path / "rules.csv"
    rules_file.write_text(CF_RULES)
    rules = read_rules(rules_file)
    for f in CF:
        s = ingest_file(workspace, dataset_path(*f), "cf", label_rules=rules, label_rules_name="rules.csv", actor=ADMIN)
        assert s.answer_kind == "single" and s.rows_quarantined == 0
    got = dict(workspace.con.execute("SELECT label, count(*) FROM annotations GROUP BY 1").fetchall())
    assert set(got) == {"t1_rel_t2", "t2_rel_t1", "no_relation"}
    # the mapping agrees with the dataset's own normalisation of the same judgements
    import pandas as pd

    ref = pd.read_csv(dataset_path("crowdflower_medical_relations"), dtype=str)
    ref["label"] = ref["label"].str.replace("other:no_relation", "no_relation")
    ours = workspace.con.execute("SELECT task, worker, label FROM annotations").df()
    m = ours.merge(ref[["task", "worker", "label"]], on=["task", "worker"], suffixes=("", "_ref"))
    assert len(m) == len(ours) and (m["label"] == m["label_ref"]).all()
    raw = json.loads(workspace.con.execute("SELECT extra FROM annotations LIMIT 1").fetchone()[0])
    assert "raw_answer" in raw


def test_unmatched_answers_are_quarantined_with_a_reason(workspace):
    rules = parse_rules("answer,label\nno_relation,none\n", "rules")
    s = ingest_file(workspace, dataset_path(*CF[0]), "cf", label_rules=rules, actor=ADMIN)
    assert s.quarantine_reasons.get("answer matches no mapping rule", 0) > 0
    assert s.rows_loaded + s.rows_quarantined + s.rows_duplicate == s.rows_read


def test_preview_checks_before_anything_is_written(workspace):
    p = preview_file(dataset_path(*MTURK), label_field="Answer.Q1")
    assert p["kind"] == "multilabel" and p["options"] == 19 and p["rows"] == 1205
    with pytest.raises(UserError) as err:
        preview_file(dataset_path(*MTURK))
    assert "Answer.Q1" in str(err.value)
    cf = preview_file(dataset_path(*CF[0]))
    assert cf["kind"] == "item-specific" and cf["label_field"] == "direction"
    # a CrowdFlower file offered to the multi-label MTurk project is flagged before it is added
    ingest_file(workspace, dataset_path(*MTURK), "relations", label_field="Answer.Q1", actor=ADMIN)
    pid = workspace.project_id("relations")
    diffs = compare_with_project(workspace.con, pid, cf)
    assert any("crowdflower file" in d for d in diffs) and any("worded per item" in d for d in diffs)
    same = preview_file(dataset_path(*MTURK_SMALL), label_field="Answer.Q1")
    assert compare_with_project(workspace.con, pid, same) == []


def test_answer_spellings_of_other_exports(tmp_path, workspace):
    """Variants the readers must accept: MTurk taskAnswers JSON, one-hot groups, JSON arrays."""
    mt = tmp_path / "Batch_1_batch_results.csv"
    rows = ['HITId,WorkerId,AssignmentId,AcceptTime,SubmitTime,WorkTimeInSeconds,Answer.taskAnswers']
    for i in range(30):
        for w in range(3):
            lab = ['[{""sentiment"":{""label"":""Positive""}}]', '[{""sentiment"":{""label"":""Negative""}}]'][(i + w) % 2]
            rows.append(f'H{i},W{w},A{i}{w},Mon Sep 25 09:38:35 PDT 2017,Mon Sep 25 09:39:35 PDT 2017,60,"{lab}"')
    mt.write_text("\n".join(rows) + "\n")
    s = ingest_file(workspace, mt, "tasks", actor=ADMIN)
    assert set(r[0] for r in workspace.con.execute(
        "SELECT DISTINCT label FROM annotations WHERE ingest_id = ?", [s.ingest_id]).fetchall()) == {"Positive",
                                                                                                      "Negative"}
    oh = tmp_path / "Batch_2_batch_results.csv"
    rows = ["HITId,WorkerId,AssignmentId,Answer.topic.sports,Answer.topic.politics,Answer.topic.music"]
    for i in range(30):
        for w in range(3):
            rows.append(f"H{i},W{w},B{i}{w},true,{'true' if (i + w) % 3 == 0 else 'false'},false")
    oh.write_text("\n".join(rows) + "\n")
    s = ingest_file(workspace, oh, "topics", label_field="topic", actor=ADMIN)
    assert s.project_kind == "multilabel"
    got = {r[0] for r in workspace.con.execute(
        "SELECT DISTINCT label FROM annotations WHERE ingest_id = ?", [s.ingest_id]).fetchall()}
    assert got == {"sports", "politics|sports"}


def test_checkboxes_and_reports_of_the_wrong_kind(tmp_path, workspace):
    cb = tmp_path / "Batch_3_batch_results.csv"
    rows = ["HITId,WorkerId,AssignmentId,Answer.cat.on,Answer.dog.on,Answer.fox.on"]
    for i in range(20):
        for w in range(3):
            rows.append(f"H{i},W{w},C{i}{w},true,{'true' if (i + w) % 2 else 'false'},false")
    cb.write_text("\n".join(rows) + "\n")
    s = ingest_file(workspace, cb, "pets", actor=ADMIN)                 # the only answer field: the checkbox group
    assert s.label_field == "Answer.checked" and s.project_kind == "multilabel"
    agg = tmp_path / "f123_aggregated.csv"
    agg.write_text("_unit_id,_golden,_unit_state,_trusted_judgments,_last_judgment_at,sentiment,sentiment:confidence\n"
                   "1,false,finalized,3,7/13/2014 13:48:35,pos,0.9\n")
    with pytest.raises(UserError, match="aggregated report"):
        ingest_file(workspace, agg, "agg", actor=ADMIN)
    hits = tmp_path / "input.csv"
    hits.write_text("HITId,Input.text\nH1,hello\n")
    with pytest.raises(UserError, match="MTurk input file"):
        ingest_file(workspace, hits, "hits", actor=ADMIN)
