"""Encryption at rest: an encrypted workspace keeps no worker id in plain text in any file
(database, write-ahead log, stored originals, red-team keys); without the key or with a
wrong one every command exits 2 with one line; with it the CLI and the dashboard work;
rotate-key re-encrypts (and encrypts a plain workspace)."""

from __future__ import annotations

import io
import json
import secrets
import sys
from pathlib import Path

import pandas as pd
import pytest
from auth_support import PASSWORDS

from analytics import encryption
from analytics.cli import main
from analytics.store import open_workspace

ROOT = Path(__file__).resolve().parent.parent
LABELS = ROOT / "data" / "demo" / "act_cf_amt" / "labels.csv"
GOLD = ROOT / "data" / "demo" / "act_cf_amt" / "gold.csv"


def _worker_ids() -> list[bytes]:
    return [w.encode() for w in pd.read_csv(LABELS, dtype=str)["worker"].unique()]


def _plaintext_hits(folder: Path, needles: list[bytes]) -> dict[str, int]:
    """Files of ``folder`` (recursively) that contain any of ``needles``, with the count found."""
    out = {}
    for f in folder.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            n = sum(1 for x in needles if x in data)
            if n:
                out[str(f.relative_to(folder))] = n
    return out


# -- sealed files ---------------------------------------------------------------------------------------

@pytest.fixture
def sealer():
    doc = encryption.new_sidecar_doc()
    return encryption.Sealer(encryption.derive(encryption.check_secret("k" * 32, "test"), doc))


@pytest.mark.parametrize("size", [0, 1, encryption.CHUNK - 1, encryption.CHUNK, encryption.CHUNK + 1,
                                  3 * encryption.CHUNK + 17])
def test_sealed_round_trip(sealer, size):
    data = secrets.token_bytes(size)
    blob = sealer.seal_bytes(data)
    assert blob.startswith(encryption.MAGIC) and data[:64] not in blob[40:] if size >= 64 else True
    assert sealer.open_bytes(blob) == data


def test_tampering_truncation_and_a_wrong_key_are_detected(sealer):
    data = secrets.token_bytes(2 * encryption.CHUNK + 100)
    blob = bytearray(sealer.seal_bytes(data))
    flipped = bytes(blob[:100]) + bytes([blob[100] ^ 1]) + bytes(blob[101:])
    with pytest.raises(encryption.EncryptionKeyError, match="cannot be decrypted"):
        sealer.open_bytes(flipped)
    chunk = encryption.CHUNK + encryption.TAG
    truncated = bytes(blob[:len(encryption.MAGIC) + 20 + 2 * chunk])     # the last (flagged) chunk dropped
    with pytest.raises(encryption.EncryptionKeyError, match="truncated"):
        sealer.open_bytes(truncated)
    other = encryption.Sealer(encryption.derive(encryption.check_secret("z" * 32, "t"), encryption.new_sidecar_doc()))
    with pytest.raises(encryption.EncryptionKeyError):
        other.open_bytes(bytes(blob))
    assert sealer.stored_name("ab" * 32) != other.stored_name("ab" * 32) != "ab" * 32


def test_keys_must_be_long_enough(tmp_path):
    with pytest.raises(encryption.EncryptionKeyError, match="at least 16"):
        encryption.check_secret("short", "CROWDTRUST_KEY")
    (tmp_path / "k").write_text("\n")
    with pytest.raises(encryption.EncryptionKeyError, match="is empty"):
        encryption.secret_from_file(tmp_path / "k")


# -- the command line on an encrypted workspace --------------------------------------------------------------

def _run(capsys, monkeypatch, *argv, stdin: str | None = None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture
def keys(tmp_path):
    k1, k2 = tmp_path / "k1", tmp_path / "k2"
    k1.write_text(secrets.token_hex(32) + "\n")
    k2.write_text(secrets.token_hex(32) + "\n")
    return k1, k2


def test_encrypted_workspace_end_to_end(tmp_path, keys, capsys, monkeypatch):
    k1, k2 = keys
    ws = str(tmp_path / "enc")
    base = ["--workspace", ws, "--key-file", str(k1)]
    run = lambda *a, **kw: _run(capsys, monkeypatch, *a, **kw)   # noqa: E731
    assert run("users", "add", "boss", "--role", "admin", "--password-stdin", "--encrypt", *base,
               stdin="boss-password-1\n")[0] == 0
    monkeypatch.setenv("CROWDTRUST_USER", "boss")
    monkeypatch.setenv("CROWDTRUST_PASSWORD", "boss-password-1")
    assert run("users", "add", "vic", "--role", "manager", "--password-stdin", *base, stdin=PASSWORDS["manager"])[0] == 0
    assert run("ingest", str(LABELS), "--project", "p", "--gold", str(GOLD), "--map", "duration_s=time_spent_s",
               *base)[0] == 0
    assert run("analyze", *base)[0] == 0
    rc, out, _ = run("report", *base)
    assert rc == 0 and "suspect workers" in out
    worker, other = pd.read_csv(LABELS, dtype=str)["worker"].unique()[:2]
    assert run("ban", worker, "--reason", "encrypted ban", *base)[0] == 0
    assert run("export", "labels", "--out", str(tmp_path / "labels.csv"), *base)[0] == 0
    assert run("impact", other, *base)[0] == 0
    assert run("projects", *base)[0] == 0
    assert run("users", "list", *base)[0] == 0
    rc, out, _ = run("audit", "verify", *base)
    assert rc == 0 and "intact" in out
    assert run("redteam", "--attack", "random", "--seeds", "1", "--out", str(tmp_path / "rt"), "--save-copy",
               *base)[0] == 0
    assert (tmp_path / "enc" / "redteam").exists()

    # the write-ahead log of an open workspace, and every file at rest: no worker id in clear
    needles = _worker_ids()
    with open_workspace(ws, key=encryption.secret_from_file(k1)) as handle:
        handle.con.execute("UPDATE projects SET description = 'x' WHERE name = 'p'")
        wal = Path(ws) / "workspace.duckdb.wal"
        assert wal.exists() and wal.stat().st_size > 0
        assert _plaintext_hits(Path(ws), needles) == {}
    assert _plaintext_hits(Path(ws), needles) == {}
    assert len(list((Path(ws) / "files").iterdir())) == 2                 # labels and gold, sealed
    assert any(w in LABELS.read_bytes() for w in needles)                 # (the check can find them)

    # without the key, or with a wrong one: exit 2 and one line, for reads and writes alike
    monkeypatch.delenv("CROWDTRUST_KEY", raising=False)
    for argv in (("report", "--workspace", ws), ("ban", worker, "--reason", "x", "--workspace", ws),
                 ("audit", "verify", "--workspace", ws), ("report", "--workspace", ws, "--key-file", str(k2))):
        rc, _, err = run(*argv)
        assert rc == 2 and err.count("\n") == 1 and ("encrypted" in err or "wrong key" in err), (argv, err)

    # rotate the key: the old one stops working, the new one opens everything
    monkeypatch.setenv("CROWDTRUST_NEW_KEY", k2.read_text().strip())
    rc, out, err = run("rotate-key", *base)
    assert rc == 0, err
    rc, _, err = run("report", *base)
    assert rc == 2 and "wrong key" in err
    new = ["--workspace", ws, "--key-file", str(k2)]
    rc, out, _ = run("audit", "verify", *new)
    assert rc == 0 and "intact" in out
    assert run("report", *new)[0] == 0
    assert run("unban", worker, "--reason", "after rotation", *new)[0] == 0
    assert _plaintext_hits(Path(ws), needles) == {}
    with open_workspace(ws, read_only=True, key=encryption.secret_from_file(k2)) as handle:
        stored = [r[0] for r in handle.con.execute("SELECT stored_path FROM ingests WHERE stored_path IS NOT NULL"
                                                   ).fetchall()]
        assert all((Path(ws) / s).exists() for s in stored)
        assert handle.read_private(f"redteam/{handle.project_names()[-1]}.json").startswith(b"{")
        assert "key-rotate" in [r[0] for r in handle.con.execute("SELECT action FROM actions").fetchall()]
    assert run("project", "delete", "p", "--reason", "done", *new)[0] == 0
    assert run("project", "purge", "p", *new)[0] == 0
    assert _plaintext_hits(Path(ws), needles) == {}


def test_rotate_key_encrypts_a_plain_workspace(tmp_path, keys, capsys, monkeypatch):
    _, k2 = keys
    ws = tmp_path / "plain"
    with open_workspace(ws) as handle:
        from auth_support import add_accounts, me

        from analytics.ingest import ingest_file

        add_accounts(handle)
        ingest_file(handle, LABELS, "p", actor=me("admin"))
    needles = _worker_ids()
    assert _plaintext_hits(ws, needles)                                   # plain text before
    monkeypatch.setenv("CROWDTRUST_USER", "admin")
    monkeypatch.setenv("CROWDTRUST_PASSWORD", PASSWORDS["admin"])
    rc, _, err = _run(capsys, monkeypatch, "rotate-key", "--workspace", str(ws), "--new-key-file", str(k2))
    assert rc == 0, err
    assert _plaintext_hits(ws, needles) == {}
    rc, _, err = _run(capsys, monkeypatch, "projects", "--workspace", str(ws))
    assert rc == 2 and "encrypted" in err
    rc, out, _ = _run(capsys, monkeypatch, "projects", "--workspace", str(ws), "--key-file", str(k2))
    assert rc == 0 and "p " in out
    rc, _, err = _run(capsys, monkeypatch, "users", "add", "x", "--role", "admin", "--encrypt", "--password-stdin",
                      "--workspace", str(tmp_path / "other"), stdin="x-password-123\n")
    assert rc == 2 and "CROWDTRUST_KEY" in err                            # --encrypt needs a key


def test_dashboard_reads_an_encrypted_workspace(tmp_path, keys, monkeypatch):
    from auth_support import add_accounts, me
    from streamlit.testing.v1 import AppTest

    from analytics.demo import build_demo

    k1, _ = keys
    key = encryption.secret_from_file(k1)
    build_demo(tmp_path / "demo", password=PASSWORDS["admin"], encrypt=True, key=key)
    with open_workspace(tmp_path / "demo", key=key) as handle:
        add_accounts(handle)                                              # (admin exists already)
        assert handle.encrypted and me("admin")
        weekly = json.loads(handle.read_private("weekly_key.json"))      # the weekly project's planted workers
    monkeypatch.setenv("CROWDTRUST_KEY", k1.read_text().strip())
    at = AppTest.from_file(str(ROOT / "app" / "streamlit_app.py"), default_timeout=90)
    at.session_state["workspace_path"] = str(tmp_path / "demo")
    at.run()
    at.text_input(key="signin_name").input("admin")
    at.text_input(key="signin_password").input(PASSWORDS["admin"])
    at.button(key="FormSubmitter:signin-Sign in").click().run()
    assert not at.exception, at.exception
    assert "act-cf-weather" in at.title[0].value                          # the overview of the first project
    for page in ("overview", "workers", "actions", "data"):
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception, (page, at.exception)
        assert not [e.value for e in at.error], page
    assert _plaintext_hits(tmp_path / "demo", [b"A1X2U32G8UXG1T", b"reviews-simulated"]) == {}
    # the weekly incident's archived, delivered and corrected exports are sealed; the pager file names no worker
    assert (tmp_path / "demo" / "alerts.jsonl").exists() and (tmp_path / "demo" / "exports").is_dir()
    assert _plaintext_hits(tmp_path / "demo", [w.encode() for w in weekly["workers"][:3]]) == {}
