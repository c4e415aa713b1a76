"""Accounts and sign-in: hashing, bootstrap, role changes, throttling, lockout, sessions, and
the audit entries each of them leaves."""

from __future__ import annotations

import pytest
from auth_support import PASSWORDS, me

from analytics import access, audit, signin
from analytics.access import AccessDenied, Identity
from analytics.errors import UserError
from analytics.signin import AccessSettings, SignInError
from analytics.store import open_workspace


@pytest.fixture
def empty(tmp_path):
    ws = open_workspace(tmp_path / "ws")
    yield ws
    ws.close()


def _events(ws, name=None):
    sql = "SELECT actor, action, target, reason FROM actions WHERE target_kind = 'account'"
    params = []
    if name:
        sql += " AND target = ?"
        params.append(name)
    return ws.con.execute(sql + " ORDER BY seq", params).fetchall()


def test_production_hashes_are_argon2id_memory_hard():
    from argon2 import PasswordHasher

    h = PasswordHasher().hash("correct horse battery")         # the hasher access.PASSWORD_HASHER defaults to
    assert h.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert type(access.PASSWORD_HASHER).__name__ == "PasswordHasher"


def test_bootstrap_creates_one_admin_and_only_once(empty):
    me_ = access.bootstrap_admin(empty, "root", "a-long-password")
    assert me_ == Identity("root", "admin", "bootstrap")
    stored = empty.con.execute("SELECT role, password_hash FROM accounts").fetchall()
    assert stored[0][0] == "admin" and stored[0][1].startswith("$argon2id$") and "a-long-password" not in stored[0][1]
    assert _events(empty) == [("root", "account-add", "root", "first account of the workspace")]
    with pytest.raises(AccessDenied, match="already has accounts"):
        access.bootstrap_admin(empty, "mallory", "another-password")
    with pytest.raises(UserError, match="at least 10 characters"):
        access.bootstrap_admin(open_workspace(empty.path.parent / "w2"), "x", "short")


def test_accounts_are_managed_by_admins_and_audited(empty):
    root = access.bootstrap_admin(empty, "root", "a-long-password")
    bob = access.add_account(empty, "bob", "viewer", root, password="bobs-password")
    with pytest.raises(AccessDenied, match="bob is a viewer and may not manage accounts"):
        access.add_account(empty, "eve", "admin", bob, password="eves-password")
    assert access.set_role(empty, "bob", "manager", root) == "viewer"
    access.set_password(empty, "bob", "bobs-new-password", me_bob := Identity("bob", "manager"))   # own password
    with pytest.raises(AccessDenied, match="may not manage accounts"):
        access.set_password(empty, "root", "taken-over-pass", me_bob)                          # not someone else's
    with pytest.raises(UserError, match="only active admin"):
        access.set_role(empty, "root", "viewer", root)
    with pytest.raises(UserError, match="cannot disable your own"):
        access.set_disabled(empty, "root", root)
    access.set_disabled(empty, "bob", root)
    access.set_disabled(empty, "bob", root, disabled=False)
    with pytest.raises(UserError, match="already exists"):
        access.add_account(empty, "bob", "viewer", root, password="whatever-pass")
    assert [e[1] for e in _events(empty, "bob")] == ["account-add", "account-role", "account-password",
                                                     "account-disable", "account-enable"]
    assert _events(empty, "bob")[1][3] == "viewer -> manager"
    df = access.list_accounts(empty.con)
    assert df["name"].tolist() == ["root", "bob"] and df["status"].tolist() == ["active", "active"]
    assert audit.verify(empty.con, empty.path / audit.ANCHOR_NAME).ok


def test_wrong_passwords_are_throttled_then_lock_the_account(workspace):
    t = AccessSettings(max_failures=10, throttle_after=3, throttle_s=0.0)
    assert signin.authenticate(workspace, "analyst", PASSWORDS["analyst"], t) == Identity("analyst", "analyst")
    for i in range(9):
        with pytest.raises(SignInError, match="wrong account name or password"):
            signin.authenticate(workspace, "analyst", f"bad-{i}", t)
    with pytest.raises(SignInError, match="now locked after 10 wrong passwords"):
        signin.authenticate(workspace, "analyst", "bad-9", t)
    with pytest.raises(SignInError, match="locked"):
        signin.authenticate(workspace, "analyst", PASSWORDS["analyst"], t)    # the right one no longer works
    ev = [e[1] for e in _events(workspace, "analyst")]
    assert ev == ["sign-in"] + ["sign-in-failed"] * 10 + ["lockout"]
    with pytest.raises(AccessDenied, match="locked"):                        # nor does an earlier identity
        access.check(workspace, me("analyst"), "ingest")
    access.unlock(workspace, "analyst", me("admin"))
    assert signin.authenticate(workspace, "analyst", PASSWORDS["analyst"], t).role == "analyst"
    assert audit.verify(workspace.con, workspace.path / audit.ANCHOR_NAME).ok


def test_throttle_refuses_fast_retries_without_counting_them(workspace):
    t = AccessSettings(throttle_after=2, throttle_s=60.0)
    for i in range(2):
        with pytest.raises(SignInError, match="wrong"):
            signin.authenticate(workspace, "viewer", f"bad-{i}", t)
    with pytest.raises(SignInError, match="too many wrong passwords for viewer: wait"):
        signin.authenticate(workspace, "viewer", PASSWORDS["viewer"], t)     # not even checked
    assert workspace.con.execute("SELECT failed_count FROM accounts WHERE name = 'viewer'").fetchall() == [(2,)]


def test_unknown_names_and_disabled_accounts(workspace):
    with pytest.raises(SignInError, match="wrong account name or password"):
        signin.authenticate(workspace, "nobody", "whatever-password")
    assert _events(workspace, "nobody") == [("anonymous", "sign-in-failed", "nobody", "unknown account")]
    access.set_disabled(workspace, "bob", me("admin"))
    with pytest.raises(SignInError, match="disabled"):
        signin.authenticate(workspace, "bob", PASSWORDS["bob"])
    with pytest.raises(SignInError, match="wrong"):                          # a wrong password says nothing more
        signin.authenticate(workspace, "bob", "not-bobs-password")


def test_one_time_password_must_be_replaced_before_acting(workspace):
    access.set_password(workspace, "carol", "one-time-pass-123", me("admin"), one_time=True)
    who = signin.authenticate(workspace, "carol", "one-time-pass-123")
    assert who.must_change and not who.can("ban")
    with pytest.raises(AccessDenied, match="one-time password"):
        access.check(workspace, who, "ban")
    access.set_password(workspace, "carol", "carols-own-password", who)     # allowed: her own
    assert not signin.authenticate(workspace, "carol", "carols-own-password").must_change


def test_sign_out_and_oidc_identities(workspace):
    access.add_account(workspace, "dora", "viewer", me("admin"), oidc="dora@example.org")
    who = signin.oidc_identity(workspace, "dora@example.org", issuer="https://idp.example.org")
    assert who == Identity("dora", "viewer", "oidc")
    with pytest.raises(SignInError, match="has no account in this workspace"):
        signin.oidc_identity(workspace, "stranger@example.org")
    with pytest.raises(SignInError, match="enter your account name and password"):
        signin.authenticate(workspace, "dora", "")                            # no password sign-in for her
    signin.sign_out(workspace, who, "signed out")
    assert [e[1] for e in _events(workspace, "dora")] == ["account-add", "sign-in", "sign-out"]


def test_session_store_resumes_and_expires():
    clock = [0.0]
    store = signin.SessionStore(clock=lambda: clock[0])
    who = Identity("alice", "manager")
    token = store.create(who, "/ws")
    assert store.resume(token, "/ws", idle_s=60) == (who, False)
    assert store.resume(token, "/other", idle_s=60) == (None, False)          # bound to its workspace
    assert store.resume("forged", "/ws", idle_s=60) == (None, False)
    clock[0] = 50.0
    assert store.resume(token, "/ws", idle_s=60) == (who, False)              # activity keeps it alive
    clock[0] = 111.0
    assert store.resume(token, "/ws", idle_s=60) == (who, True)               # idle too long: expired, once
    assert store.resume(token, "/ws", idle_s=60) == (None, False)
    t2 = store.create(who, "/ws")
    assert store.drop(t2) == who and store.resume(t2, "/ws", 60) == (None, False)


def test_client_throttle_limits_spraying_across_accounts():
    clock = [0.0]
    ct = signin.ClientThrottle(limit=3, window_s=100, clock=lambda: clock[0])
    for _ in range(3):
        ct.check("10.0.0.1")
        ct.failed("10.0.0.1")
    with pytest.raises(SignInError, match="too many failed sign-ins from your address"):
        ct.check("10.0.0.1")
    ct.check("10.0.0.2")
    clock[0] = 101.0
    ct.check("10.0.0.1")
