"""Incident records, scope, containment, repair and the report, on a small weekly project with a
planted poisoned week (fast; the real-data flow is tests/test_incident_flow.py)."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from auth_support import accounts_at, cli_env, me

from analytics import audit
from analytics.access import AccessDenied
from analytics.errors import UserError
from analytics.incidents import records, response
from analytics.incidents.report import report_data, write_report
from analytics.incidents.scope import diff_labels, incident_scope, read_export_labels
from analytics.redteam.batches import plant_in_batch, weekly_batches
from analytics.redteam.replay import replay_batches
from analytics.redteam.weekly_crowds import weekly_crowd
from analytics.store import open_workspace

ROOT = Path(__file__).resolve().parent.parent
QA = me("manager")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    labels, gold = weekly_crowd("steady", seed=21, n_weeks=5, items_per_week=150)
    batches = weekly_batches(labels)
    planted = plant_in_batch(batches[-1].frame, "flipper", share=0.3, seed=2, gold=gold,
                             avoid_workers=set(labels["worker"]))
    root = tmp_path_factory.mktemp("inc")
    frames = [b.frame for b in batches[:-1]] + [planted.frame]
    rep = replay_batches(accounts_at(root / "ws"), "p", frames, [b.name for b in batches], root / "files", gold=gold,
                         deliver_dir=root / "deliveries", actor=me("manager"))
    return {"root": root, "rep": rep, "planted": planted, "batches": batches}


@pytest.fixture
def ws_copy(base, tmp_path):
    shutil.copytree(base["root"] / "ws", tmp_path / "ws")
    ws = open_workspace(tmp_path / "ws")
    yield ws
    ws.close()


def test_open_validates_and_records(ws_copy, base):
    with pytest.raises(UserError, match="names no workers"):
        records.open_incident(ws_copy, "p", QA)
    with pytest.raises(UserError, match="no labels in this project"):
        records.open_incident(ws_copy, "p", QA, workers=["nobody"])
    with pytest.raises(AccessDenied, match="sign in first"):
        records.open_incident(ws_copy, "p", "qa", workers=base["planted"].workers[:1])
    with pytest.raises(AccessDenied, match="analyst and may not open or act on incidents"):
        records.open_incident(ws_copy, "p", me("analyst"), workers=base["planted"].workers[:1])
    alert = base["rep"].alerts[-1][0]
    iid = records.open_incident(ws_copy, "p", QA, alert_ids=[alert["id"]])
    inc = records.get_incident(ws_copy.con, ws_copy.project_id("p"), iid)
    # every alert of the week joined, and they are acknowledged with an audit entry each
    assert sorted(inc["alerts"]) == sorted(a["id"] for a in base["rep"].alerts[-1])
    assert set(inc["workers"]) == set().union(*[set(a["workers"]) for a in base["rep"].alerts[-1]])
    assert inc["status"] == "open" and inc["steps"][0]["action"] == "incident_open"
    acks = ws_copy.con.execute("SELECT count(*) FROM actions WHERE action = 'acknowledge' AND reason = ?",
                               [f"incident {iid} opened"]).fetchone()[0]
    assert acks == len(inc["alerts"])
    assert records.list_incidents(ws_copy.con, ws_copy.project_id("p"))["incident_id"].tolist() == [iid]


def test_attach_and_close(ws_copy, base):
    w = base["planted"].workers
    iid = records.open_incident(ws_copy, "p", QA, workers=w[:2], title="two of them")
    res = records.attach(ws_copy, "p", iid, QA, workers=w[2:4])
    assert res["workers"] == w[2:4]
    with pytest.raises(UserError, match="nothing to attach"):
        records.attach(ws_copy, "p", iid, QA, workers=w[:2])
    with pytest.raises(UserError, match="review note is required"):
        records.close_incident(ws_copy, "p", iid, QA, "  ")
    records.close_incident(ws_copy, "p", iid, QA, "false alarm after review")
    inc = records.get_incident(ws_copy.con, ws_copy.project_id("p"), iid)
    assert inc["status"] == "closed" and inc["close_note"] == "false alarm after review"
    with pytest.raises(UserError, match="closed"):
        response.contain(ws_copy, "p", iid, QA)


def test_scope_onset_and_affected_exports(ws_copy, base):
    planted = base["planted"]
    iid = records.open_incident(ws_copy, "p", QA, workers=planted.workers)
    pid = ws_copy.project_id("p")
    scope = incident_scope(ws_copy.con, ws_copy.path, pid, records.get_incident(ws_copy.con, pid, iid))
    assert scope["onset"] == planted.onset
    assert scope["n_labels"] == int(planted.frame["worker"].isin(planted.workers).sum())
    assert set(scope["items"]) == set(planted.frame.loc[planted.frame["worker"].isin(planted.workers), "task"])
    # only the delivery made after the poisoned week holds their labels
    last = base["rep"].deliveries[-1]
    assert [(a["file"], a["sha256"]) for a in scope["affected_exports"]] == [(last["file"], last["sha256"])]
    assert scope["affected_exports"][0]["labels_would_change"] > 0


def test_contain_then_repair_write_corrected_exports(ws_copy, base, tmp_path):
    planted = base["planted"]
    iid = records.open_incident(ws_copy, "p", QA, workers=planted.workers)
    with pytest.raises(UserError, match="contain incident"):
        response.repair(ws_copy, "p", iid, QA, out_dir=tmp_path / "out")
    res = response.contain(ws_copy, "p", iid, QA)
    assert sorted(res["banned"]) == sorted(planted.workers)
    ban_ev = json.loads(ws_copy.con.execute("SELECT evidence::VARCHAR FROM actions WHERE seq = ?",
                                            [res["ban_seqs"][0]]).fetchone()[0])
    assert ban_ev["incident"] == iid and "impact" in ban_ev
    with pytest.raises(UserError, match="already banned"):
        response.contain(ws_copy, "p", iid, QA)
    rep = response.repair(ws_copy, "p", iid, QA, out_dir=tmp_path / "out")
    assert len(rep["corrected_exports"]) == 1
    c = rep["corrected_exports"][0]
    data = Path(c["path"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == c["sha256"]
    delivered = read_export_labels(Path(base["rep"].deliveries[-1]["path"]).read_bytes(), "csv")
    corrected = read_export_labels(data, "csv")
    assert set(corrected["task"]) <= set(delivered["task"])          # a drop-in replacement
    diff = pd.read_csv(c["diff_file"], dtype={"task": str})
    assert len(diff) == c["labels_changed"] + c["labels_removed"] + c["labels_added"] > 0
    assert set(diff["task"]) <= set(delivered["task"])
    # the corrected export is recorded in the audit chain like any export and archived
    row = ws_copy.con.execute("SELECT action, evidence->>'sha256' FROM actions WHERE seq = ?",
                              [c["audit_seq"]]).fetchone()
    assert row == ("export", c["sha256"])
    inc = records.get_incident(ws_copy.con, ws_copy.project_id("p"), iid)
    assert inc["status"] == "repaired" and [s["action"] for s in inc["steps"]][-1] == "incident_repair"
    assert audit.verify(ws_copy.con, ws_copy.path / audit.ANCHOR_NAME).ok


def test_report_json_and_self_contained_html(ws_copy, base, tmp_path):
    planted = base["planted"]
    iid = records.open_incident(ws_copy, "p", QA, alert_ids=[base["rep"].alerts[-1][0]["id"]])
    response.contain(ws_copy, "p", iid, QA)
    response.repair(ws_copy, "p", iid, QA, out_dir=tmp_path / "out")
    records.close_incident(ws_copy, "p", iid, QA, "reviewed")
    pid = ws_copy.project_id("p")
    data = report_data(ws_copy.con, ws_copy.path, "p", pid, iid)
    for key in ("workers", "items", "onset", "affected_exports", "corrected_exports", "actions", "audit", "timeline",
                "detection", "summary", "atlas"):
        assert key in data
    assert data["incident"]["status"] == "closed" and data["incident"]["close_note"] == "reviewed"
    assert pd.Timestamp(data["onset"]) == planted.onset
    assert data["audit"]["verified"] and data["audit"]["head_hash"] == audit.chain_head(ws_copy.con)[1]
    lo, hi = data["audit"]["range"]
    kinds = {a["action"] for a in data["actions"]}
    assert {"incident_open", "ban", "incident_contain", "analyze", "export", "incident_repair", "incident_close",
            "alert", "acknowledge"} <= kinds
    assert all(lo <= a["seq"] <= hi for a in data["actions"])
    assert data["atlas"]["case-study-type"] == "incident" and data["atlas"]["incident-date-granularity"] == "DATE"
    assert data["atlas"]["incident-date"] == f"{planted.onset:%Y-%m-%d}"
    assert [p["technique"] for p in data["atlas"]["procedure"]][-2:] == ["AML.T0020", "AML.T0059"]
    assert data["detection"]["alerts"] and data["detection"]["alerts"][0]["threshold"] is not None
    out = write_report(ws_copy.con, ws_copy.path, "p", pid, iid, tmp_path / "r.html")
    page = out.read_text()
    # self-contained: plotly.js inlined, nothing fetched from elsewhere
    assert page.startswith("<!DOCTYPE html>") and "<script src=" not in page and "<link " not in page
    assert "plotly.js v" in page.lower() or "plotly.js" in page
    assert page.count("Plotly.newPlot") >= 3 and f"Incident {iid}" in page
    with pytest.raises(UserError, match=".json or .html"):
        write_report(ws_copy.con, ws_copy.path, "p", pid, iid, tmp_path / "r.txt")


def test_diff_and_csv_unescaping():
    delivered = pd.DataFrame({"task": ["a", "b", "c"], "label": ["x", "y", "z"], "confidence": [0.9, 0.8, 0.7]})
    corrected = pd.DataFrame({"task": ["a", "b", "d"], "label": ["x", "q", "z"], "confidence": [0.9, 0.6, 0.5]})
    d = diff_labels(delivered, corrected)
    assert d[["task", "change"]].values.tolist() == [["b", "changed"], ["c", "removed"], ["d", "added"]]
    raw = b"task,label,confidence\n'=cmd,'-x,0.5\n-1,-1,0.2\n"
    got = read_export_labels(raw, "csv")
    assert got["task"].tolist() == ["=cmd", "-1"] and got["label"].tolist() == ["-x", "-1"]
    assert read_export_labels(pd.DataFrame({"task": ["t"], "label": ["l"]}).to_json(orient="records", lines=True)
                              .encode(), "jsonl")["label"].tolist() == ["l"]
    buf = io.BytesIO()
    pd.DataFrame({"task": ["t"], "label": ["l"]}).to_parquet(buf)
    assert read_export_labels(buf.getvalue(), "parquet")["task"].tolist() == ["t"]


def cli(*args, user="manager"):
    env = cli_env(user) if user else {"PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "analytics", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=env)


def test_cli_errors_are_one_line(ws_copy, tmp_path):
    path = ws_copy.path
    ws_copy.close()
    res = cli("incident", "open", "--project", "p", "--workspace", path, "--workers", "ghost")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "ghost" in res.stderr
    res = cli("incident", "contain", "7", "--project", "p", "--workspace", path)
    assert res.returncode == 2 and "no incident 7" in res.stderr
    res = cli("incident", "report", "7", "--project", "p", "--workspace", path, "--out", tmp_path / "x.pdf")
    assert res.returncode == 2 and ".json or .html" in res.stderr
    res = cli("incident", "open", "--project", "p", "--workspace", path)
    assert res.returncode == 2                         # argparse: --from-alert or --workers is required
    res = cli("incident", "open", "--project", "p", "--workspace", path, "--workers", "x", user=None)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "--user" in res.stderr
    res = cli("incident", "open", "--project", "p", "--workspace", path, "--workers", "x", user="analyst")
    assert res.returncode == 2 and "may not open or act on incidents" in res.stderr
