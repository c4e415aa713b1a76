"""Audit chain: verify finds any edited or deleted row and names it."""

from __future__ import annotations

import duckdb
import pytest
from actions_support import make_workspace
from auth_support import me

from analytics import actions, audit
from analytics.cli import main

EDITS = {
    "reason": "UPDATE actions SET reason = 'nothing to see' WHERE seq = ?",
    "actor": "UPDATE actions SET actor = 'mallory' WHERE seq = ?",
    "target": "UPDATE actions SET target = 'h05' WHERE seq = ?",
    "time": "UPDATE actions SET created_at = created_at + INTERVAL 1 SECOND WHERE seq = ?",
    "evidence": "UPDATE actions SET evidence = '{\"trust\": 1.0}'::JSON WHERE seq = ?",
    "action": "UPDATE actions SET action = 'erased' WHERE seq = ?",
}


@pytest.fixture
def ws5(tmp_path):
    ws = make_workspace(tmp_path)
    actions.ban(ws, "p", ["w00", "w01"], "flips labels", me("alice"))
    actions.requeue(ws, "p", ["t001"], "too few labels", me("alice"))
    actions.trust_workers(ws, "p", ["h01"], "vetted expert", me("bob"))
    actions.unban(ws, "p", ["w01"], "appeal accepted", me("bob"))
    yield ws
    ws.close()


def test_intact_chain_verifies(ws5):
    res = audit.verify(ws5.con, ws5.path / audit.ANCHOR_NAME)
    assert res.ok and res.n_entries == 5 and res.first_bad_seq is None
    assert (res.head_seq, res.head_hash) == audit.chain_head(ws5.con)


def test_empty_log_verifies(workspace):
    res = audit.verify(workspace.con)
    assert res.ok and res.n_entries == 0


@pytest.mark.parametrize("field", sorted(EDITS))
def test_any_edited_row_is_named(ws5, field):
    con = ws5.con
    for seq in range(1, 6):
        con.execute("BEGIN TRANSACTION")
        con.execute(EDITS[field], [seq])
        res = audit.verify(con)
        con.execute("ROLLBACK")
        assert not res.ok and res.first_bad_seq == seq, (field, seq, res)
        assert f"entry {seq}" in res.message
    assert audit.verify(con).ok


def test_any_deleted_row_is_named(ws5):
    con = ws5.con
    anchor = ws5.path / audit.ANCHOR_NAME
    for seq in range(1, 6):
        con.execute("BEGIN TRANSACTION")
        con.execute("DELETE FROM actions WHERE seq = ?", [seq])
        res = audit.verify(con, anchor)
        con.execute("ROLLBACK")
        assert not res.ok and res.first_bad_seq == seq, (seq, res)
        assert f"entry {seq}" in res.message and "missing" in res.message


def test_rehashed_edit_breaks_the_next_link(ws5):
    con = ws5.con
    row = con.execute("SELECT seq, project_id, epoch_us(created_at), actor, action, target_kind, target, scope,"
                      " evidence::VARCHAR, prev_hash FROM actions WHERE seq = 2").fetchone()
    forged = audit.entry_hash(row[0], row[1], audit._iso(row[2]), row[3], row[4], row[5], row[6], row[7],
                              "forged", audit._canonical_evidence(row[8]), row[9])
    con.execute("UPDATE actions SET reason = 'forged', hash = ? WHERE seq = 2", [forged])
    res = audit.verify(con)
    assert not res.ok and res.first_bad_seq == 3 and "entry 2" in res.message


def test_cli_verify_on_the_file(ws5, capsys):
    path = ws5.path
    ws5.close()
    assert main(["audit", "verify", "--workspace", str(path)]) == 0
    assert "intact" in capsys.readouterr().out
    # Delete the newest row straight in the DuckDB file: only the anchor can tell.
    con = duckdb.connect(str(path / "workspace.duckdb"))
    con.execute("DELETE FROM actions WHERE seq = 5")
    con.close()
    assert main(["audit", "verify", "--workspace", str(path)]) == 1
    err = capsys.readouterr().err
    assert "entry 5" in err and "missing" in err
    # Edit a middle row in the file.
    con = duckdb.connect(str(path / "workspace.duckdb"))
    con.execute("UPDATE actions SET reason = 'benign' WHERE seq = 2")
    con.close()
    assert main(["audit", "verify", "--workspace", str(path)]) == 1
    assert "entry 2" in capsys.readouterr().err


def test_log_lists_newest_first(ws5, capsys):
    ws5.close()
    assert main(["audit", "log", "--workspace", str(ws5.path), "--project", "p"]) == 0
    out = capsys.readouterr().out
    assert out.index("appeal accepted") < out.index("flips labels")


def test_bulk_append_continues_the_same_chain(workspace):
    con = workspace.con
    audit.append(con, actor="a", action="ingest", target="f.csv")
    out = audit.append_many(con, [{"actor": "b", "action": "ban", "target": f"w{i}", "project_id": 1,
                                   "evidence": {"i": i}} for i in range(3)])
    audit.append(con, actor="c", action="export", target="x.csv")
    assert [s for s, _ in out] == [2, 3, 4]
    res = audit.verify(con)
    assert res.ok and res.n_entries == 5
    con.execute("UPDATE actions SET evidence = '{\"i\": 9}'::JSON WHERE seq = 3")
    assert audit.verify(con).first_bad_seq == 3
