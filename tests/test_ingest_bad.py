"""Bad input: one clear UserError naming the file/row/column and what to do, and the
workspace unchanged (table counts before == after)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from auth_support import PASSWORDS, add_accounts, me  # noqa: E402

import analytics.cli.common as cli_common
from analytics.cli import main as cli_main
from analytics.errors import SchemaTooNewError, UserError, WorkspaceLockedError
from analytics.ingest import ingest_file
from analytics.store import open_workspace

ADMIN = me("admin")

GOOD = "task,worker,label,submitted_at\nt1,w1,a,2024-01-01 10:00:00\nt2,w1,b,2024-01-01 10:01:00\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"


@pytest.fixture
def loaded(workspace, tmp_path):
    """A workspace that already holds one project, so 'unchanged' is not trivially empty."""
    p = tmp_path / "seed.csv"
    p.write_text(GOOD)
    ingest_file(workspace, p, "seed", actor=ADMIN)
    return workspace


def refused(ws, path, match, **kw):
    before = ws.table_counts()
    files_before = sorted(ws.files_dir.iterdir())
    with pytest.raises(UserError, match=match) as err:
        ingest_file(ws, path, kw.pop("project", "p"), **kw, actor=ADMIN)
    assert ws.table_counts() == before
    assert "\n" not in str(err.value)
    return err.value, files_before


def test_empty_file(loaded, tmp_path):
    p = tmp_path / "empty.csv"
    p.write_bytes(b"")
    refused(loaded, p, r"file empty.csv is empty")
    p.write_bytes(b"  \n\n")
    refused(loaded, p, r"file empty.csv is empty")


def test_header_only(loaded, tmp_path):
    p = tmp_path / "header.csv"
    p.write_text("task,worker,label\n")
    refused(loaded, p, r"file header.csv has no data rows")


def test_png_image(loaded, tmp_path):
    p = tmp_path / "labels.csv"
    p.write_bytes(PNG)
    _, files_before = refused(loaded, p, r"file labels.csv is a PNG image, not an annotation log; export")
    assert sorted(loaded.files_dir.iterdir()) == files_before        # nothing stored either


def test_binary_garbage(loaded, tmp_path):
    p = tmp_path / "dump.bin"
    p.write_bytes(b"abc\x00\x01\x02" * 100)
    refused(loaded, p, r"dump.bin contains binary data")


def test_semicolon_csv(loaded, tmp_path):
    p = tmp_path / "excel.csv"
    p.write_text(GOOD.replace(",", ";"))
    refused(loaded, p, r"excel.csv looks ';'-separated, not comma-separated .*use --delimiter ';'")
    s = ingest_file(loaded, p, "p", delimiter=";", actor=ADMIN)                  # the suggested fix works
    assert s.rows_loaded == 2


def test_missing_required_column(loaded, tmp_path):
    p = tmp_path / "nowork.csv"
    p.write_text("task,annotator_x,label\nt1,w1,a\n")
    refused(loaded, p, r"nowork.csv has no worker column \(columns found: task, annotator_x, label\); "
                       r"name it with --map worker=<column>")


def test_unknown_format(loaded, tmp_path):
    p = tmp_path / "ok.csv"
    p.write_text(GOOD)
    refused(loaded, p, r"unknown format 'xlsx'; use one of: canonical, mturk, toloka, labelstudio, crowdflower",
            format="xlsx")


def test_wrong_format_override(loaded, tmp_path):
    p = tmp_path / "ok.csv"
    p.write_text(GOOD)
    refused(loaded, p, r"ok.csv is missing the MTurk column HITId", format="mturk")


def test_not_utf8(loaded, tmp_path):
    p = tmp_path / "latin.csv"
    p.write_bytes("task,worker,label\nt1,w1,caf\u00e9\nt2,Jos\u00e9,a\n".encode("latin-1"))
    refused(loaded, p, r"latin.csv is not UTF-8: byte 0xE9 at line 2 .*convert it, e\.g\. `iconv -f WINDOWS-1252")


def test_utf16(loaded, tmp_path):
    p = tmp_path / "unicode.txt"
    p.write_bytes(GOOD.encode("utf-16"))
    refused(loaded, p, r"unicode.txt is UTF-16 text")


def test_unparseable_timestamps_quarantined_rest_loaded(loaded, tmp_path):
    p = tmp_path / "times.csv"
    p.write_text("task,worker,label,submitted_at\nt1,w1,a,2024-01-01 10:00:00\nt2,w1,a,31/31/2024 99:00\n"
                 "t3,w1,b,2024-01-01T10:02:00Z\n")
    before = loaded.table_counts()
    s = ingest_file(loaded, p, "p", actor=ADMIN)
    assert (s.rows_loaded, s.rows_quarantined) == (2, 1)
    assert s.quarantine_reasons == {"unparseable submitted_at": 1}
    q = loaded.con.execute("SELECT source_row, reason, raw->>'submitted_at' FROM quarantine").fetchall()
    assert q == [(2, "unparseable submitted_at", "31/31/2024 99:00")]
    assert loaded.table_counts()["annotations"] == before["annotations"] + 2


def test_every_row_bad_changes_nothing(loaded, tmp_path):
    p = tmp_path / "times.csv"
    p.write_text("task,worker,label,submitted_at\nt1,w1,a,soon\nt2,w1,a,later\n")
    refused(loaded, p, r"no row of times.csv could be loaded: all 2 rows fail validation "
                       r"\(unparseable submitted_at \(2\)\)")


def test_labels_outside_declared_set(loaded, tmp_path):
    p = tmp_path / "labels.csv"
    p.write_text("task,worker,label\nt1,w1,cat\nt2,w1,dgo\nt3,w2,dog\n")
    s = ingest_file(loaded, p, "p", label_set=["cat", "dog"], actor=ADMIN)
    assert (s.rows_loaded, s.rows_quarantined, s.quarantine_reasons) == (2, 1, {"label not in label set": 1})
    p2 = tmp_path / "labels2.csv"
    p2.write_text("task,worker,label\nt4,w1,cat\n")
    refused(loaded, p2, r"project already declares the label set cat, dog", label_set=["cat", "bird"])


def test_same_file_twice(loaded, tmp_path):
    p = tmp_path / "seed_copy.csv"
    p.write_text(GOOD)                                          # same bytes as the seed ingest
    refused(loaded, p, r"seed_copy.csv is already loaded into project 'seed' as ingest 1 on "
                       r"\d{4}-\d\d-\d\d \d\d:\d\d UTC; use --force to load it again", project="seed")


def test_ragged_row_large_reader(loaded, tmp_path, monkeypatch):
    import analytics.ingest.base as base

    monkeypatch.setattr(base, "PADDED_READ_MAX_BYTES", 0)        # force the parallel reader
    p = tmp_path / "ragged.csv"
    p.write_text("task,worker,label\nt1,w1,a\nt2,w1,a,EXTRA,MORE\n")
    refused(loaded, p, r"ragged.csv: some rows do not have as many fields as the header; check the delimiter")


def test_multiple_answer_fields_need_label_field(loaded, tmp_path):
    p = tmp_path / "Batch_1_batch_results.csv"
    p.write_text("HITId,WorkerId,AssignmentId,AcceptTime,SubmitTime,WorkTimeInSeconds,Answer.q1,Answer.q2\n"
                 "H1,W1,A1,Mon Sep 25 09:38:35 PDT 2017,Mon Sep 25 09:39:11 PDT 2017,36,yes,no\n")
    refused(loaded, p, r"several Answer.\* columns \(Answer.q1, Answer.q2\); say which one is the label "
                       r"with --label-field")
    s = ingest_file(loaded, p, "p", label_field="q2", actor=ADMIN)
    assert loaded.con.execute("SELECT label FROM annotations WHERE ingest_id = ?", [s.ingest_id]).fetchall() == [("no",)]


def _counts(db: Path) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        return {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        con.close()


def test_workspace_locked_by_another_process(tmp_path, capsys, monkeypatch):
    ws_dir = tmp_path / "ws"
    p = tmp_path / "seed.csv"
    p.write_text(GOOD)
    with open_workspace(ws_dir) as ws:
        add_accounts(ws)
        ingest_file(ws, p, "seed", actor=ADMIN)
    before = _counts(ws_dir / "workspace.duckdb")
    monkeypatch.setattr(cli_common, "LOCK_WAIT_S", 0.5)     # the CLI waits for a busy workspace, briefly here
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(ws_dir / 'workspace.duckdb')!r})
            print("ready", flush=True)
            sys.stdin.read()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WorkspaceLockedError, match=r"workspace .* is in use by another process"):
            open_workspace(ws_dir)
        other = tmp_path / "other.csv"
        other.write_text(GOOD.replace("t1", "t9"))
        assert cli_main(["ingest", str(other), "--workspace", str(ws_dir)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "in use by another process" in err
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert _counts(ws_dir / "workspace.duckdb") == before


def test_workspace_from_newer_schema(tmp_path, capsys):
    ws_dir = tmp_path / "ws"
    with open_workspace(ws_dir) as ws:
        ws.con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    before = _counts(ws_dir / "workspace.duckdb")
    with pytest.raises(SchemaTooNewError, match=r"schema version 999, newer than this CrowdTrust"):
        open_workspace(ws_dir)
    p = tmp_path / "labels.csv"
    p.write_text(GOOD)
    assert cli_main(["ingest", str(p), "--workspace", str(ws_dir)]) == 2
    assert "upgrade CrowdTrust" in capsys.readouterr().err
    assert _counts(ws_dir / "workspace.duckdb") == before


def test_cli_bad_inputs_exit_2_one_line(tmp_path, capsys, monkeypatch):
    ws = str(tmp_path / "ws")
    assert cli_main(["ingest", str(tmp_path / "x.csv"), "--workspace", ws]) == 2
    err = capsys.readouterr().err
    assert "no workspace at" in err and "users add NAME --role admin" in err and err.count("\n") == 1
    with open_workspace(ws) as handle:
        add_accounts(handle)
    monkeypatch.setenv("CROWDTRUST_USER", "analyst")
    monkeypatch.setenv("CROWDTRUST_PASSWORD", PASSWORDS["analyst"])
    png = tmp_path / "photo.png"
    png.write_bytes(PNG)
    assert cli_main(["ingest", str(png), "--workspace", ws]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: file photo.png is a PNG image") and err.count("\n") == 1
    csv = tmp_path / "x.csv"
    pd.DataFrame({"task": ["a"], "worker": ["b"], "label": ["c"]}).to_csv(csv, index=False)
    assert cli_main(["ingest", str(csv), "--workspace", ws, "--map", "worker"]) == 2
    assert "write it as canonical=column" in capsys.readouterr().err
    assert cli_main(["ingest", str(tmp_path / "missing.csv"), "--workspace", ws]) == 2
    assert "does not exist" in capsys.readouterr().err
