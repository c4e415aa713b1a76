"""Ban / unban / trust / re-queue: state from the audit log, nothing deleted, concurrent writers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
from actions_support import FLIPPERS, make_workspace
from auth_support import PASSWORDS, me

from analytics import actions, audit
from analytics.errors import UserError
from analytics.export import labels_frame
from analytics.impact import preview_workspace
from analytics.store import Workspace

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def ws(tmp_path):
    w = make_workspace(tmp_path)
    yield w
    w.close()


def _pid(ws):
    return ws.project_id("p")


def test_ban_excludes_and_unban_restores_without_deleting(ws):
    pid = _pid(ws)
    n_before = ws.con.execute("SELECT count(*) FROM annotations").fetchone()[0]
    res = actions.ban(ws, "p", FLIPPERS, "answers the next class on every item", me("alice"))
    assert res.applied == FLIPPERS and res.seqs == [1, 2, 3]
    assert actions.banned_workers(ws.con, pid) == sorted(FLIPPERS)
    assert ws.con.execute("SELECT count(*) FROM annotations").fetchone()[0] == n_before
    again = actions.ban(ws, "p", ["w00"], "again", me("alice"))
    assert again.applied == [] and again.skipped == ["w00"]
    actions.unban(ws, "p", ["w01"], "appeal accepted", me("bob"))
    assert actions.banned_workers(ws.con, pid) == ["w00", "w02"]
    h = actions.history(ws.con, pid)
    assert list(h["action"][:2]) == ["unban", "ban"] and h["reason"].iloc[0] == "appeal accepted"
    assert audit.verify(ws.con).ok


def test_reason_actor_and_ids_are_checked(ws):
    with pytest.raises(UserError, match="reason is required"):
        actions.ban(ws, "p", ["w00"], "  ", me("alice"))
    with pytest.raises(UserError, match="sign in first"):
        actions.ban(ws, "p", ["w00"], "why", "")
    with pytest.raises(UserError, match="sign in first"):
        actions.ban(ws, "p", ["w00"], "why", "alice")       # a typed name is not an account
    with pytest.raises(UserError, match="no labels in this project"):
        actions.ban(ws, "p", ["w00", "nobody"], "why", me("alice"))
    with pytest.raises(UserError, match="scope"):
        actions.ban(ws, "p", ["w00"], "why", me("alice"), scope="galaxy")
    # The bulk action is all-or-nothing: the known worker was not banned either.
    assert actions.banned_workers(ws.con, _pid(ws)) == []
    assert ws.con.execute("SELECT count(*) FROM actions").fetchone()[0] == 0


def test_workspace_scope_reaches_other_projects(ws):
    p2 = ws.project_id("other", create=True)
    ws.con.execute("INSERT INTO annotations (project_id, ingest_id, source_row, task, worker, label)"
                   " VALUES (?, 0, 1, 'x', 'w00', '1')", [p2])
    actions.ban(ws, "p", ["w00"], "fraud ring", me("alice"), scope="workspace")
    assert actions.banned_workers(ws.con, p2) == ["w00"]
    assert actions.banned_workers(ws.con, _pid(ws)) == ["w00"]
    with pytest.raises(UserError, match="workspace-wide"):
        actions.unban(ws, "p", ["w00"], "oops", me("alice"))
    actions.unban(ws, "p", ["w00"], "cleared", me("alice"), scope="workspace")
    assert actions.banned_workers(ws.con, p2) == []


def test_trust_and_requeue_state(ws):
    pid = _pid(ws)
    actions.trust_workers(ws, "p", ["h01", "h02"], "in-house expert", me("alice"))
    actions.untrust_workers(ws, "p", ["h02"], "left the team", me("alice"))
    assert actions.trusted_workers(ws.con, pid) == ["h01"]
    actions.requeue(ws, "p", ["t001", "t002", "t001"], "needs more labels", me("alice"))
    actions.unrequeue(ws, "p", ["t002"], "resolved", me("alice"))
    assert actions.requeued_tasks(ws.con, pid) == ["t001"]
    with pytest.raises(UserError, match="task"):
        actions.requeue(ws, "p", ["no-such-task"], "x", me("alice"))


def test_ban_changes_labels_as_previewed_and_unban_restores_exactly(ws):
    pid = _pid(ws)
    before, _ = labels_frame(ws.con, pid)
    prev = preview_workspace(ws.con, pid, FLIPPERS, refit=True)
    assert prev.exact and len(prev.changed) > 0
    actions.ban(ws, "p", FLIPPERS, "flippers", me("alice"), evidence=prev.summary())
    after, _ = labels_frame(ws.con, pid)
    merged = before.merge(after, on="task", suffixes=("_b", "_a"))
    changed = merged.loc[merged["label_b"] != merged["label_a"]].set_index("task")
    expect = prev.changed.set_index("task")
    assert sorted(changed.index) == sorted(expect.index)
    assert (changed["label_a"] == expect.loc[changed.index, "new"]).all()
    assert (changed["label_b"] == expect.loc[changed.index, "old"]).all()
    assert (after["n_labels"] <= before.set_index("task").loc[after["task"], "n_labels"].to_numpy()).all()
    ev = ws.con.execute("SELECT evidence->>'n_labels_changed' FROM actions WHERE seq = 1").fetchone()[0]
    assert int(ev) == len(prev.changed)
    actions.unban(ws, "p", FLIPPERS, "test over", me("alice"))
    restored, _ = labels_frame(ws.con, pid)
    pd.testing.assert_frame_equal(restored, before)


def _ban_in_thread(ws_main: Workspace, worker: str, barrier: threading.Barrier, errors: list):
    cur = Workspace(path=ws_main.path, con=ws_main.con.cursor())
    try:
        barrier.wait()
        actions.ban(cur, "p", [worker], f"concurrent {worker}", me("manager"))
    except Exception as exc:  # noqa: BLE001
        errors.append(exc)
    finally:
        cur.con.close()


def test_concurrent_actions_in_threads_both_land(ws):
    workers = ["h00", "h01", "h02", "h03"]
    barrier = threading.Barrier(len(workers))
    errors: list = []
    threads = [threading.Thread(target=_ban_in_thread, args=(ws, w, barrier, errors)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert actions.banned_workers(ws.con, _pid(ws)) == workers
    res = audit.verify(ws.con, ws.path / audit.ANCHOR_NAME)
    assert res.ok and res.n_entries == len(workers)


def test_concurrent_cli_processes_both_land(ws):
    path = ws.path
    ws.close()
    cmd = [sys.executable, "-m", "analytics", "ban", "--workspace", str(path), "--project", "p",
           "--reason", "concurrent", "--user", "manager"]
    env = {**os.environ, "CROWDTRUST_PASSWORD": PASSWORDS["manager"]}
    procs = [subprocess.Popen([*cmd, w], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for w in ("h05", "h06")]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    from analytics.store import open_workspace

    with open_workspace(path, read_only=True) as w2:
        assert actions.banned_workers(w2.con, w2.project_id("p")) == ["h05", "h06"]
        assert audit.verify(w2.con, path / audit.ANCHOR_NAME).ok


def test_cli_user_errors_exit_2(ws, capsys, monkeypatch):
    from analytics.cli import main

    path = str(ws.path)
    ws.close()
    assert main(["ban", "w00", "--reason", "x", "--workspace", path, "--project", "p"]) == 2
    assert "needs an account" in capsys.readouterr().err
    monkeypatch.setenv("CROWDTRUST_USER", "viewer")
    monkeypatch.setenv("CROWDTRUST_PASSWORD", PASSWORDS["viewer"])
    assert main(["ban", "w00", "--reason", "x", "--workspace", path, "--project", "p"]) == 2
    assert "viewer and may not ban" in capsys.readouterr().err
    monkeypatch.setenv("CROWDTRUST_USER", "manager")
    monkeypatch.setenv("CROWDTRUST_PASSWORD", PASSWORDS["manager"])
    assert main(["ban", "nobody", "--reason", "x", "--workspace", path, "--project", "p"]) == 2
    assert "no labels" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:          # --reason is required
        main(["ban", "w00", "--workspace", path, "--project", "p"])
    assert e.value.code == 2
    monkeypatch.setenv("CROWDTRUST_USER", "alice")
    monkeypatch.setenv("CROWDTRUST_PASSWORD", PASSWORDS["alice"])
    assert main(["ban", "w00", "w01", "--reason", "flips", "--workspace", path, "--project", "p"]) == 0
    assert "banned 2 workers" in capsys.readouterr().out
