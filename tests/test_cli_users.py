"""The command line as a named account: `users add|passwd|role|disable|enable|unlock|list`,
`--user` / `--password-stdin` / CROWDTRUST_USER / CROWDTRUST_PASSWORD, the bootstrap admin,
refusals with exit status 2 and one line, and `demo` / `run` without an account."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from analytics.cli import main
from analytics.store import open_workspace

ROOT = Path(__file__).resolve().parent.parent
LABELS = ROOT / "data" / "demo" / "act_cf_amt" / "labels.csv"


@pytest.fixture
def cli(capsys, monkeypatch):
    monkeypatch.delenv("CROWDTRUST_USER", raising=False)
    monkeypatch.delenv("CROWDTRUST_PASSWORD", raising=False)

    def run(*argv, stdin: str | None = None, user: str | None = None, password: str | None = None):
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        for var, value in (("CROWDTRUST_USER", user), ("CROWDTRUST_PASSWORD", password)):
            if value is None:
                monkeypatch.delenv(var, raising=False)
            else:
                monkeypatch.setenv(var, value)
        rc = main([str(a) for a in argv])
        out = capsys.readouterr()
        return rc, out.out, out.err
    return run


def test_bootstrap_then_admins_manage_accounts(tmp_path, cli):
    ws = tmp_path / "ws"
    w = ["--workspace", ws]
    rc, _, err = cli("users", "add", "root", "--role", "viewer", "--password-stdin", *w, stdin="root-password-1\n")
    assert rc == 2 and "first account of a workspace is its admin" in err
    rc, out, _ = cli("users", "add", "root", "--role", "admin", "--password-stdin", *w, stdin="root-password-1\n")
    assert rc == 0 and "created admin root" in out
    # from now on: an admin must sign in
    rc, _, err = cli("users", "add", "ann", "--role", "analyst", "--password-stdin", *w, stdin="ann-password-1\n")
    assert rc == 2 and err.count("\n") == 1 and "needs an account" in err
    rc, _, err = cli("users", "add", "ann", "--role", "analyst", "--password-stdin", *w, stdin="ann-password-1\n",
                     user="root", password="not-the-password")
    assert rc == 2 and "wrong account name or password" in err
    rc, out, _ = cli("users", "add", "ann", "--role", "analyst", "--password-stdin", *w, stdin="ann-password-1\n",
                     user="root", password="root-password-1")
    assert rc == 0 and "created analyst ann" in out
    rc, out, _ = cli("users", "add", "max", "--role", "manager", "--one-time", *w, user="root",
                     password="root-password-1")
    assert rc == 0 and "one-time password for max:" in out
    one_time = out.split("one-time password for max: ")[1].split()[0]
    # an analyst cannot manage accounts
    rc, _, err = cli("users", "list", *w, user="ann", password="ann-password-1")
    assert rc == 2 and "ann is an analyst and may not manage accounts" in err
    rc, out, _ = cli("users", "role", "ann", "manager", *w, user="root", password="root-password-1")
    assert rc == 0 and "ann: analyst -> manager" in out
    # the one-time password works once, for changing it (own password: --user defaults to the name)
    rc, _, err = cli("ingest", LABELS, "--project", "p", *w, user="max", password=one_time)
    assert rc == 2 and "one-time password" in err
    rc, out, _ = cli("users", "passwd", "max", "--password-stdin", *w, stdin="max-password-1\n", password=one_time)
    assert rc == 0 and "password of max changed" in out
    rc, out, _ = cli("ingest", LABELS, "--project", "p", *w, user="max", password="max-password-1")
    assert rc == 0 and "project 'p'" in out
    rc, out, _ = cli("users", "disable", "max", *w, user="root", password="root-password-1")
    assert rc == 0 and "max: disabled" in out
    rc, _, err = cli("analyze", *w, user="max", password="max-password-1")
    assert rc == 2 and "disabled" in err
    rc, out, _ = cli("users", "list", *w, user="root", password="root-password-1")
    assert rc == 0 and all(n in out for n in ("root", "ann", "max")) and "disabled" in out
    with open_workspace(ws, read_only=True) as h:
        roles = dict(h.con.execute("SELECT name, role FROM accounts").fetchall())
        actors = {r[0] for r in h.con.execute("SELECT DISTINCT actor FROM actions").fetchall()}
        kinds = [r[0] for r in h.con.execute("SELECT action FROM actions WHERE target_kind = 'account' ORDER BY seq"
                                             ).fetchall()]
    assert roles == {"root": "admin", "ann": "manager", "max": "manager"}
    assert actors <= {"root", "ann", "max", "anonymous"}                  # accounts, never a typed name
    assert kinds.count("account-add") == 3 and "account-role" in kinds and "account-disable" in kinds
    assert "sign-in-failed" in kinds


def test_state_changing_commands_refuse_without_credentials(tmp_path, cli):
    ws = tmp_path / "ws"
    assert cli("users", "add", "root", "--role", "admin", "--password-stdin", "--workspace", ws,
               stdin="root-password-1\n")[0] == 0
    for argv in (("ingest", LABELS, "--project", "p"), ("analyze",), ("ban", "w1", "--reason", "x"),
                 ("export", "labels", "--out", tmp_path / "x.csv"), ("project", "delete", "p", "--reason", "x"),
                 ("users", "list"), ("rotate-key", "--new-key-file", tmp_path / "nokey")):
        rc, _, err = cli(*argv, "--workspace", ws)
        assert rc == 2 and err.count("\n") == 1, (argv, err)
    rc, _, err = cli("ingest", LABELS, "--project", "p", "--workspace", ws, "--password-stdin", "--user", "root",
                     stdin="root-password-1\n")
    assert rc == 0, err
    with pytest.raises(SystemExit) as e:                                  # the free-text --actor is gone
        main(["ban", "w1", "--reason", "x", "--actor", "anyone", "--workspace", str(ws)])
    assert e.value.code == 2


def test_demo_prints_a_one_time_admin_password_and_run_needs_no_account(tmp_path, cli):
    rc, out, _ = cli("demo", "--workspace", tmp_path / "demo", "--no-analyze")
    assert rc == 0 and "Sign in to the dashboard as  admin  with the one-time password" in out
    password = out.split("one-time password  ")[1].split()[0]
    rc, _, err = cli("analyze", "--workspace", tmp_path / "demo", user="admin", password=password)
    assert rc == 2 and "one-time password" in err                        # it must be replaced first
    rc, out, err = cli("run", LABELS, "--out", tmp_path / "out", "--quiet")
    assert rc == 0, err
    assert (tmp_path / "out" / "workers.csv").exists()
