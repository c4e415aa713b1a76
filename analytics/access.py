"""Accounts, roles, and the acting identity every state-changing function takes.

Roles are ordered, each one has the rights of those below it::

    viewer    read every page
    analyst   + ingest, analyse, red team, acknowledge alerts
    manager   + ban, unban, trust, re-queue, export labels and platform files, incidents
    admin     + accounts, settings, delete, encryption keys

Every function of :mod:`analytics` that changes a workspace or exports data is declared
with :func:`requires` and takes the acting :class:`Identity` as ``actor``::

    @requires("ban")
    def ban(ws, project, workers, reason, actor, ...): ...

The check runs in the function, below any UI: the identity must be one the sign-in gave
(:mod:`analytics.signin`, the CLI's ``--user``), its account must exist in *this*
workspace and be active, and the account's current role (read again from the workspace,
so a demotion takes effect at once) must include the permission; otherwise
:class:`AccessDenied`, one sentence. The audit chain records ``actor.name``, the account,
never a typed name. :data:`GUARDED` lists every guarded function; ``tests/test_access_matrix.py``
fails when a public function that writes is missing from it.

Passwords are hashed with Argon2id (RFC 9106; argon2-cffi's ``PasswordHasher``, a
memory-hard function: each guess costs 64 MiB and ~0.1 s).
"""

from __future__ import annotations

import functools
import inspect
import secrets
from dataclasses import dataclass

import pandas as pd
from argon2 import PasswordHasher

from analytics import audit
from analytics.errors import UserError

ROLES = ("viewer", "analyst", "manager", "admin")

#: permission -> the least role that holds it
PERMISSIONS: dict[str, str] = {
    "ingest": "analyst", "analyze": "analyst", "redteam": "analyst", "alerts": "analyst",
    "ban": "manager", "incident": "manager", "trust": "manager", "requeue": "manager", "export": "manager",
    "settings": "admin", "accounts": "admin", "delete": "admin", "keys": "admin",
}

#: what each permission lets a role do, for messages
WHAT = {
    "ingest": "load files", "analyze": "run analyses", "redteam": "create red-team copies",
    "alerts": "acknowledge alerts", "incident": "open or act on incidents",
    "ban": "ban or unban workers", "trust": "mark workers as trusted", "requeue": "re-queue items",
    "export": "export data", "settings": "change settings", "accounts": "manage accounts",
    "delete": "delete projects", "keys": "change the encryption key",
}

MIN_PASSWORD_CHARS = 10

#: Argon2id with argon2-cffi's defaults (RFC 9106 second recommendation: t=3, 64 MiB, p=4).
PASSWORD_HASHER = PasswordHasher()

#: "module.function" -> permission, filled by :func:`requires`
GUARDED: dict[str, str] = {}


class AccessDenied(UserError):
    """The acting identity may not do this (or is not a signed-in account of this workspace)."""


def rank(role: str) -> int:
    return ROLES.index(role)


def check_role(role: str) -> str:
    role = str(role).strip().lower()
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    return role


def role_can(role: str, permission: str) -> bool:
    """Whether ``role`` holds ``permission`` (``"read"`` is every role's)."""
    if permission == "read":
        return role in ROLES
    return role in ROLES and rank(role) >= rank(PERMISSIONS[permission])


@dataclass(frozen=True)
class Identity:
    """Who is acting: a signed-in account of a workspace.

    name : the account name (what the audit chain records)
    role : its role when the identity was issued (checks re-read the current one)
    via : how it signed in: ``password``, ``oidc``, ``bootstrap`` (the first admin) or
        ``session`` (a dashboard session resumed after a reload)
    must_change : signed in with a one-time password that must be replaced first
    """

    name: str
    role: str
    via: str = "password"
    must_change: bool = False

    def can(self, permission: str) -> bool:
        return not self.must_change and role_can(self.role, permission)

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"


def _account(con, name: str):
    rows = con.execute("SELECT name, role, disabled, locked_at, must_change FROM accounts WHERE name = ?",
                       [name]).fetchall()
    return rows[0] if rows else None


def current(ws, actor) -> Identity:
    """The account behind ``actor`` as the workspace has it now; AccessDenied when there is none."""
    if not isinstance(actor, Identity):
        shown = f"{actor!r} is a name, not a signed-in account" if isinstance(actor, str) else "nobody is signed in"
        raise AccessDenied(f"sign in first: {shown} (dashboard: the sign-in page; command line: --user NAME "
                           "or CROWDTRUST_USER)")
    row = _account(ws.con, actor.name)
    if row is None:
        raise AccessDenied(f"account {actor.name!r} does not exist in workspace {ws.path}; sign in with an "
                           "account of this workspace")
    if row[2]:
        raise AccessDenied(f"account {actor.name!r} is disabled; ask an admin to enable it")
    if row[3] is not None:
        raise AccessDenied(f"account {actor.name!r} is locked after too many wrong passwords; ask an admin to "
                           f"unlock it (`python -m analytics users unlock {actor.name}`)")
    return Identity(actor.name, row[1], actor.via, bool(row[4]))


def check(ws, actor, permission: str, self_target: str | None = None) -> Identity:
    """Refuse unless ``actor`` currently holds ``permission`` in ``ws``; return the current identity.

    ``self_target``: the account the call acts on; acting on oneself needs no permission
    (changing one's own password).
    """
    who = current(ws, actor)
    if self_target is not None and self_target == who.name:
        return who
    if who.must_change:
        raise AccessDenied(f"{who.name} signed in with a one-time password: choose a new password first "
                           f"(`python -m analytics users passwd {who.name}`)")
    if not role_can(who.role, permission):
        need = PERMISSIONS[permission]
        article = "an" if who.role[0] in "aeiou" else "a"
        raise AccessDenied(f"{who.name} is {article} {who.role} and may not {WHAT.get(permission, permission)}; "
                           f"that needs the {need} role (ask an admin)")
    return who


def requires(permission: str, self_param: str | None = None):
    """Declare that a function needs ``permission``; it must take ``ws`` and ``actor``.

    The wrapper checks :func:`check` before the body runs and passes the *current*
    identity on as ``actor``. ``self_param`` names an argument holding the account acted
    on, for operations a user may do on their own account.
    """
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    def deco(fn):
        sig = inspect.signature(fn)
        if "ws" not in sig.parameters or "actor" not in sig.parameters:
            raise TypeError(f"{fn.__qualname__} must take `ws` and `actor` to be guarded")

        @functools.wraps(fn)
        def guarded(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            target = bound.arguments.get(self_param) if self_param else None
            bound.arguments["actor"] = check(bound.arguments["ws"], bound.arguments.get("actor"), permission,
                                             self_target=target)
            return fn(*bound.args, **bound.kwargs)

        guarded.permission = permission
        GUARDED[f"{fn.__module__}.{fn.__qualname__}"] = permission
        return guarded

    return deco


# -- passwords -------------------------------------------------------------------------------------

def check_password(password: str, name: str = "") -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_CHARS:
        raise UserError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
    if name and password.strip().lower() == name.strip().lower():
        raise UserError("the password must not be the account name")
    return password


def hash_password(password: str) -> str:
    return PASSWORD_HASHER.hash(password)


def one_time_password() -> str:
    """A random password of 16 URL-safe characters (96 bits)."""
    return secrets.token_urlsafe(12)


def check_name(name: str) -> str:
    name = str(name or "").strip()
    if not name or len(name) > 64 or not all(ch.isalnum() or ch in "._@-" for ch in name):
        raise UserError(f"account name {name!r} must be 1-64 letters, digits or . _ @ -")
    return name


# -- accounts ------------------------------------------------------------------------------------

def has_accounts(con) -> bool:
    return bool(con.execute("SELECT count(*) FROM accounts").fetchall()[0][0])


def _log(con, actor: str, action: str, name: str, reason: str | None = None, evidence: dict | None = None) -> None:
    audit.append(con, actor=actor, action=action, target_kind="account", target=name, scope="workspace",
                 reason=reason, evidence=evidence)


def _insert(con, name: str, role: str, password: str | None, oidc: str | None, one_time: bool) -> None:
    if _account(con, name) is not None:
        raise UserError(f"account {name!r} already exists; change it with `users role` or `users passwd`")
    if oidc and con.execute("SELECT name FROM accounts WHERE oidc_subject = ?", [oidc]).fetchall():
        raise UserError(f"the sign-in identity {oidc!r} already belongs to another account")
    con.execute("INSERT INTO accounts (name, role, password_hash, oidc_subject, must_change) VALUES (?, ?, ?, ?, ?)",
                [name, role, hash_password(password) if password else None, oidc or None, bool(one_time)])


def bootstrap_admin(ws, name: str, password: str | None, one_time: bool = False) -> Identity:
    """Create the first account, an admin, on a workspace that has none; no sign-in needed.

    ``password=None`` makes an account that cannot sign in with a password (the throw-away
    workspace of ``run``). Refused once any account exists.
    """
    name = check_name(name)
    if password is not None:
        check_password(password, name)
    _writable(ws)
    with ws.transaction() as con:
        if has_accounts(con):
            raise AccessDenied(f"workspace {ws.path} already has accounts; sign in as an admin to add one "
                               "(--user NAME)")
        _insert(con, name, "admin", password, None, one_time)
        _log(con, name, "account-add", name, "first account of the workspace",
             {"role": "admin", "bootstrap": True, "one_time_password": bool(one_time)})
    audit.write_anchor(ws.path, ws.con)
    return Identity(name, "admin", "bootstrap", bool(one_time))


def _writable(ws) -> None:
    if ws.read_only:
        raise UserError("the workspace is open read-only; open it for writing to change accounts")


def _change(ws, actor: Identity, name: str, sql: str, params: list, action: str, reason: str | None,
            evidence: dict) -> None:
    _writable(ws)
    with ws.transaction() as con:
        if _account(con, name) is None:
            raise UserError(f"no account named {name!r} in {ws.path}; see `python -m analytics users list`")
        con.execute(sql, [*params, name])
        _log(con, actor.name, action, name, reason, evidence)
    audit.write_anchor(ws.path, ws.con)


@requires("accounts")
def add_account(ws, name: str, role: str, actor: Identity, password: str | None = None, oidc: str | None = None,
                one_time: bool = False) -> Identity:
    """Create account ``name`` with ``role``; a password, an OpenID Connect identity, or both."""
    name, role = check_name(name), check_role(role)
    if password is None and not oidc:
        raise UserError(f"give {name} a password or a sign-in identity (--oidc EMAIL)")
    if password is not None:
        check_password(password, name)
    _writable(ws)
    with ws.transaction() as con:
        _insert(con, name, role, password, oidc, one_time)
        _log(con, actor.name, "account-add", name, None,
             {"role": role, "oidc": oidc or None, "one_time_password": bool(one_time)})
    audit.write_anchor(ws.path, ws.con)
    return Identity(name, role, "password", bool(one_time))


@requires("accounts", self_param="name")
def set_password(ws, name: str, password: str, actor: Identity, one_time: bool = False) -> None:
    """Set an account's password (an admin for anyone, everyone for themselves); clears a lock."""
    check_password(password, name)
    own = actor.name == name
    _change(ws, actor, name, "UPDATE accounts SET password_hash = ?, must_change = ?, failed_count = 0, "
            "locked_at = NULL, changed_at = now() WHERE name = ?", [hash_password(password), bool(one_time) and not own],
            "account-password", "own password" if own else "reset by an admin", {"one_time_password": bool(one_time)})


@requires("accounts")
def set_role(ws, name: str, role: str, actor: Identity) -> str:
    """Change an account's role; returns the previous one. The last admin cannot be demoted."""
    role = check_role(role)
    row = _account(ws.con, name)
    if row is None:
        raise UserError(f"no account named {name!r} in {ws.path}; see `python -m analytics users list`")
    old = row[1]
    if old == "admin" and role != "admin" and _other_admins(ws.con, name) == 0:
        raise UserError(f"{name} is the only active admin; make another account admin first")
    _change(ws, actor, name, "UPDATE accounts SET role = ?, changed_at = now() WHERE name = ?", [role],
            "account-role", f"{old} -> {role}", {"from": old, "to": role})
    return old


def _other_admins(con, name: str) -> int:
    return int(con.execute("SELECT count(*) FROM accounts WHERE role = 'admin' AND NOT disabled AND locked_at IS NULL"
                           " AND name <> ?", [name]).fetchall()[0][0])


@requires("accounts")
def set_disabled(ws, name: str, actor: Identity, disabled: bool = True) -> None:
    """Disable an account (it can no longer sign in or act), or enable it again."""
    if disabled and name == actor.name:
        raise UserError("you cannot disable your own account")
    row = _account(ws.con, name)
    if disabled and row is not None and row[1] == "admin" and _other_admins(ws.con, name) == 0:
        raise UserError(f"{name} is the only active admin; make another account admin first")
    _change(ws, actor, name, "UPDATE accounts SET disabled = ?, changed_at = now() WHERE name = ?", [bool(disabled)],
            "account-disable" if disabled else "account-enable", None, {})


@requires("accounts")
def unlock(ws, name: str, actor: Identity) -> None:
    """Lift a lockout after too many wrong passwords (the password stays the same)."""
    _change(ws, actor, name, "UPDATE accounts SET locked_at = NULL, failed_count = 0, changed_at = now() "
            "WHERE name = ?", [], "account-unlock", None, {})


def account_status(con, name: str) -> dict | None:
    """``role, disabled, locked, must_change`` of account ``name`` (None when there is none)."""
    row = _account(con, name)
    if row is None:
        return None
    return {"role": row[1], "disabled": bool(row[2]), "locked": row[3] is not None, "must_change": bool(row[4])}


def list_accounts(con) -> pd.DataFrame:
    """Every account: ``name, role, status, password, oidc_subject, failed_count, created_at, changed_at``."""
    return con.execute(
        "SELECT name, role, CASE WHEN disabled THEN 'disabled' WHEN locked_at IS NOT NULL THEN 'locked'"
        " WHEN must_change THEN 'one-time password' ELSE 'active' END AS status,"
        " password_hash IS NOT NULL AS password, oidc_subject, failed_count, created_at, changed_at"
        " FROM accounts ORDER BY array_position(?, role) DESC, name", [list(ROLES)]).df()


def account_events(con, limit: int = 200) -> pd.DataFrame:
    """Audit entries about accounts (sign-in, sign-out, lockout, role changes ...), newest first."""
    return con.execute(
        "SELECT seq, created_at, actor, action, target, reason, evidence::VARCHAR AS evidence FROM actions"
        " WHERE target_kind = 'account' ORDER BY seq DESC LIMIT ?", [int(limit)]).df()
