"""Exports: banned workers left out, manifest traceability, platform files, formats, re-import."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import numpy as np
import pandas as pd
import pytest
from actions_support import CLASSES, EVIL, FLIPPERS, insert_run, make_workspace
from auth_support import PASSWORDS, add_accounts, me

from analytics import actions, audit, export
from analytics.aggregate import aggregate
from analytics.cli import main
from analytics.dataset import load_project
from analytics.trust import TrustSettings

RISKY = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture
def ws(tmp_path):
    w = make_workspace(tmp_path)
    insert_run(w)
    yield w
    w.close()


def _cells(raw: bytes) -> list[str]:
    return [c for row in csv.reader(io.StringIO(raw.decode())) for c in row]


def test_labels_exclude_banned_workers(ws):
    pid = ws.project_id("p")
    banned = [*FLIPPERS, EVIL]
    actions.ban(ws, "p", banned, "planted attackers", me("alice"))
    exp = export.build_export(ws, "p", "labels", actor=me("manager"))
    frame = exp.frame
    assert list(frame.columns) == ["task", "label", "confidence", *[f"p_{c}" for c in CLASSES],
                                   "n_labels", "n_trusted_labels", "suspect"]
    counts = ws.con.execute("SELECT task, count(*) AS n FROM annotations WHERE project_id = ? AND NOT list_contains(?, worker)"
                            " GROUP BY task", [pid, banned]).df().set_index("task")["n"]
    assert (frame.set_index("task")["n_labels"] == counts.loc[frame["task"]].to_numpy()).all()
    # Same labels as aggregating the project without them, and different from keeping them.
    method = TrustSettings().method                                     # the project's (default) model
    clean = aggregate(load_project(ws.con, pid, exclude_workers=banned), method)
    assert (frame["label"].to_numpy() == np.asarray(CLASSES, dtype=object)[clean.labels]).all()
    dirty = aggregate(load_project(ws.con, pid), method)
    assert (np.asarray(CLASSES, dtype=object)[dirty.labels] != frame["label"].to_numpy()).any()
    np.testing.assert_allclose(frame[[f"p_{c}" for c in CLASSES]].sum(axis=1), 1.0)
    assert exp.manifest["banned_workers"] == sorted(banned)


def test_manifest_traces_inputs_run_and_audit(ws, tmp_path):
    actions.ban(ws, "p", ["w00"], "flipper", me("alice"))
    out, man, exp = export.write_export(ws, "p", "labels", tmp_path / "labels_out.csv", actor=me("carol"))
    m = json.loads(man.read_text())
    assert man.name == "labels_out.csv.manifest.json"
    src = hashlib.sha256((tmp_path / "labels.csv").read_bytes()).hexdigest()
    assert [i["sha256"] for i in m["inputs"]] == [src]
    assert m["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert m["run"]["run_id"] == 1 and m["banned_workers"] == ["w00"] and m["actor"] == "carol"
    seq, head = audit.chain_head(ws.con)
    assert m["audit"] == {"seq": seq, "hash": head}
    entry = ws.con.execute("SELECT action, actor, evidence->>'sha256' FROM actions WHERE seq = ?", [seq]).fetchone()
    assert entry == ("export", "carol", m["sha256"])
    assert audit.verify(ws.con, ws.path / audit.ANCHOR_NAME).ok


def test_malicious_ids_are_exported_inert_but_numbers_are_not_touched(ws):
    actions.ban(ws, "p", [EVIL, "w00"], "=cmd|' /C calc'!A0", me("alice"))
    raw = export.build_export(ws, "p", "mturk-block", actor=me("manager")).data
    cells = _cells(raw)
    assert "'" + EVIL in cells and EVIL not in cells
    assert all(not c.startswith(RISKY) for c in cells)
    back = pd.read_csv(io.BytesIO(raw), dtype=str)
    assert back.loc[0, "Worker ID"] == "'" + EVIL and back.loc[0, "BlockReason"].startswith("'=")
    labels = export.build_export(ws, "p", "labels", actor=me("manager")).data
    assert "-1" in set(pd.read_csv(io.BytesIO(labels), dtype=str)["label"])      # the label -1 stays -1
    parquet = export.build_export(ws, "p", "mturk-block", fmt="parquet", actor=me("manager")).frame
    assert EVIL in set(parquet["Worker ID"])         # typed formats keep the real id


@pytest.mark.parametrize("value, escaped", [
    ("=1+2", "'=1+2"), ("+SUM(A1)", "'+SUM(A1)"), ("-2+3", "'-2+3"), ("@x", "'@x"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("-1", "-1"), ("+0.5", "+0.5"), ("-2e3", "-2e3"), ("plain", "plain"), ("-", "'-"),
])
def test_escape_rule(value, escaped):
    assert export.escape_cells(pd.Series([value], dtype=object)).iloc[0] == escaped


def test_mturk_block_has_exactly_the_upload_columns(ws):
    actions.ban(ws, "p", FLIPPERS, "flips every label", me("alice"))
    raw = export.build_export(ws, "p", "mturk-block", actor=me("manager")).data
    header = raw.decode().splitlines()[0]
    assert header == "Worker ID,UPDATE BlockStatus,BlockReason"
    df = pd.read_csv(io.BytesIO(raw), dtype=str)
    assert df["Worker ID"].tolist() == FLIPPERS and set(df["UPDATE BlockStatus"]) == {"Block"}
    assert set(df["BlockReason"]) == {"flips every label"}


def test_toloka_restrictions(ws):
    actions.ban(ws, "p", ["w00"], "flipper", me("alice"))
    actions.ban(ws, "p", ["w01"], "fraud ring", me("alice"), scope="workspace")
    df = export.build_export(ws, "p", "toloka-restrictions", actor=me("manager")).frame
    assert list(df.columns) == export.TOLOKA_COLUMNS
    assert dict(zip(df["user_id"], df["scope"], strict=True)) == {"w00": "PROJECT", "w01": "ALL_PROJECTS"}
    assert set(df["duration_unit"]) == {"PERMANENT"} and df["private_comment"].tolist() == ["flipper", "fraud ring"]


def test_requeue_canonical_and_source_forms(ws):
    actions.requeue(ws, "p", ["t003", "t001"], "fewer than 3 trusted labels", me("alice"))
    canon = export.build_export(ws, "p", "requeue", actor=me("manager")).frame
    assert canon["task"].tolist() == ["t001", "t003"] and (canon["n_labels"] == 5).all()
    src = export.build_export(ws, "p", "requeue", form="source", actor=me("manager"))
    assert list(src.frame.columns) == ["text", "id"] and src.frame["id"].tolist() == ["t001", "t003"]
    assert src.manifest["source_form"]["platform"] == "mturk"


def test_reports_carry_run_columns_and_state(ws):
    actions.ban(ws, "p", ["w00"], "flipper", me("alice"))
    w = export.build_export(ws, "p", "workers", actor=me("manager")).frame
    assert list(w.columns) == ["worker", "n_labels", "trust", "suspect", "reasons", "accuracy", "spammer",
                               "banned", "trusted"]
    assert w.set_index("worker").loc["w00", "banned"]
    it = export.build_export(ws, "p", "items", actor=me("manager")).frame
    assert list(it.columns)[:6] == ["task", "label", "confidence", "n_labels", "suspect", "reasons"]
    assert "entropy" in it.columns and "requeued" in it.columns


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_formats_round_trip(ws, fmt):
    exp = export.build_export(ws, "p", "labels", fmt=fmt, actor=me("manager"))
    reader = {"csv": lambda b: pd.read_csv(io.BytesIO(b), dtype={"task": str, "label": str}),
              "parquet": lambda b: pd.read_parquet(io.BytesIO(b)),
              "jsonl": lambda b: pd.read_json(io.BytesIO(b), lines=True, dtype={"task": str, "label": str})}[fmt]
    back = reader(exp.data)
    assert back["task"].tolist() == exp.frame["task"].tolist()
    assert back["label"].astype(str).tolist() == exp.frame["label"].astype(str).tolist()
    np.testing.assert_allclose(back["confidence"], exp.frame["confidence"], rtol=1e-12)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_exported_labels_load_back_through_the_canonical_reader(ws, tmp_path, fmt):
    """The label file is a canonical gold file: a next round can use it as its reference answers."""
    from analytics.ingest import ingest_file

    out, _, exp = export.write_export(ws, "p", "labels", tmp_path / f"consensus.{fmt}", actor=me("tester"))
    new = tmp_path / "round2.csv"
    pd.DataFrame({"task": ["t000", "t001"], "worker": ["z1", "z1"], "label": ["0", "1"]}).to_csv(new, index=False)
    ingest_file(ws, new, "round2", format="canonical", gold_path=out, actor=me("tester"))
    gold = ws.con.execute("SELECT task, label FROM gold WHERE project_id = ? ORDER BY task",
                          [ws.project_id("round2")]).df()
    expect = exp.frame[["task", "label"]].sort_values("task").reset_index(drop=True)
    pd.testing.assert_frame_equal(gold, expect, check_dtype=False)


def test_cli_export_and_impact(ws, tmp_path, capsys, monkeypatch):
    path = str(ws.path)
    ws.close()
    base = ["--workspace", path, "--project", "p"]
    assert main(["impact", *FLIPPERS, *base]) == 0
    out = capsys.readouterr().out
    assert "labels that change" in out and "gold accuracy" in out
    assert main(["impact", *FLIPPERS, "--json", *base]) == 0
    js = json.loads(capsys.readouterr().out)
    assert js["workers"] == FLIPPERS and len(js["changed"]) == js["n_labels_changed"]
    monkeypatch.setenv("CROWDTRUST_USER", "alice")
    monkeypatch.setenv("CROWDTRUST_PASSWORD", PASSWORDS["alice"])
    assert main(["ban", *FLIPPERS, "--reason", "flippers", *base]) == 0
    target = tmp_path / "block.csv"
    assert main(["export", "mturk-block", "--out", str(target), *base]) == 0
    assert target.exists() and (tmp_path / "block.csv.manifest.json").exists()
    assert main(["export", "labels", "--out", str(tmp_path / "l.parquet"), *base]) == 0
    assert pd.read_parquet(tmp_path / "l.parquet").shape[0] == 150
    assert main(["export", "requeue", "--out", str(tmp_path / "r.csv"), *base]) == 2
    assert "re-queue list is empty" in capsys.readouterr().err
    assert main(["export", "labels", "--out", str(tmp_path / "nodir" / "x.csv"), *base]) == 2


def test_manifest_lists_the_gold_file_hash(tmp_path):
    from analytics.ingest import ingest_file
    from analytics.store import open_workspace

    labels, gold = tmp_path / "l.csv", tmp_path / "g.csv"
    pd.DataFrame({"task": ["a", "a", "b", "b"], "worker": ["x", "y", "x", "y"], "label": ["1", "1", "0", "1"]}
                 ).to_csv(labels, index=False)
    pd.DataFrame({"task": ["a"], "label": ["1"]}).to_csv(gold, index=False)
    with open_workspace(tmp_path / "ws") as ws:
        add_accounts(ws)
        ingest_file(ws, labels, "q", format="canonical", gold_path=gold, actor=me("tester"))
        m = export.build_export(ws, "q", "labels", actor=me("tester")).manifest
    (inp,) = m["inputs"]
    assert inp["sha256"] == hashlib.sha256(labels.read_bytes()).hexdigest()
    assert inp["gold_file"]["sha256"] == hashlib.sha256(gold.read_bytes()).hexdigest()


def test_escaping_is_inert_and_reversible_for_any_text():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=100, deadline=None)
    @given(st.text(max_size=12))
    def check(value):
        out = export.escape_cells(pd.Series([value], dtype=object)).iloc[0]
        plain_number = export._PLAIN_NUMBER.fullmatch(value) is not None
        assert not out.startswith(RISKY) or plain_number
        assert out == value or out == "'" + value

    check()
