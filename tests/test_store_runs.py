"""Runs left 'running' by a process that died are not shown as running and are closed on open."""

import os
import subprocess
import sys

import duckdb

from analytics.results import running_run
from analytics.store import DB_NAME, MIGRATIONS, SCHEMA_VERSION, open_workspace


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _running(ws, pid: int) -> int:
    import socket

    ws.con.execute("INSERT INTO projects (name) VALUES ('p') ON CONFLICT DO NOTHING")
    project = ws.project_id("p")
    return int(ws.con.execute(
        "INSERT INTO runs (project_id, method, params, input_fingerprint, code_version, host, pid)"
        " VALUES (?, 'ds', '{}', 'x', 'test', ?, ?) RETURNING run_id", [project, socket.gethostname(), pid]
    ).fetchone()[0])


def test_killed_run_is_not_running_and_is_closed_on_next_open(tmp_path):
    ws = open_workspace(tmp_path / "w")
    dead = _running(ws, _dead_pid())
    alive = _running(ws, os.getpid())
    project = ws.project_id("p")
    assert running_run(ws.con, project)["run_id"] == alive
    ws.con.execute("UPDATE runs SET status = 'complete' WHERE run_id = ?", [alive])
    assert running_run(ws.con, project) is None            # the dead one is not reported
    ws.close()
    ws = open_workspace(tmp_path / "w")
    status, error = ws.con.execute("SELECT status, error FROM runs WHERE run_id = ?", [dead]).fetchone()
    assert status == "failed" and "interrupted" in error
    ws.close()


def test_live_run_survives_reopen(tmp_path):
    ws = open_workspace(tmp_path / "w")
    rid = _running(ws, os.getpid())
    ws.close()
    ws = open_workspace(tmp_path / "w")
    assert ws.con.execute("SELECT status FROM runs WHERE run_id = ?", [rid]).fetchone()[0] == "running"
    ws.close()


def test_version_1_workspace_gains_the_process_columns(tmp_path):
    root = tmp_path / "old"
    root.mkdir()
    con = duckdb.connect(str(root / DB_NAME))
    con.execute(MIGRATIONS[0])
    con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', '1')")
    con.close()
    ws = open_workspace(root)
    cols = {r[0] for r in ws.con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'runs'").fetchall()}
    assert {"host", "pid"} <= cols
    assert ws.con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    ws.close()
