"""Issue 12, point 9: the audit log's leftovers. A missing anchor is warned about, the `audit`
help names its `log` subcommand, and `audit log` prints no NaN/None; on a workspace built from
the real CrowdFlower export."""

from __future__ import annotations

from auth_support import me  # noqa: E402
from conftest import dataset_path

from analytics import audit
from analytics.cli import build_parser, main
from analytics.ingest import ingest_file

ADMIN = me("admin")


def _ws(workspace):
    for i in (1, 2):
        ingest_file(workspace, dataset_path("crowdflower_medical_relations", f"raw/RelDir_batch_0{i}.csv"), "cf", actor=ADMIN)
    audit.write_anchor(workspace.path, workspace.con)
    return workspace


def test_missing_anchor_is_warned_about(workspace, capsys):
    ws = _ws(workspace)
    anchor = ws.path / audit.ANCHOR_NAME
    assert audit.verify(ws.con, anchor=anchor).warning is None
    # delete the last entry and the anchor file together: the chain alone looks intact
    ws.con.execute("DELETE FROM actions WHERE seq = (SELECT max(seq) FROM actions)")
    anchor.unlink()
    res = audit.verify(ws.con, anchor=anchor)
    assert res.ok and res.warning and "anchor" in res.warning and "missing" in res.warning
    ws.close()
    assert main(["audit", "verify", "--workspace", str(ws.path)]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "anchor" in err


def test_audit_help_names_log_and_log_prints_no_nan(workspace, capsys):
    help_text = build_parser().format_help()
    assert "audit log" in help_text and "verify or list" not in help_text
    ws = _ws(workspace)
    ws.close()
    assert main(["audit", "log", "--workspace", str(ws.path), "--project", "cf"]) == 0
    out = capsys.readouterr().out
    assert "ingest" in out and "NaN" not in out and "None" not in out
