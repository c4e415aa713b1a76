"""Signing in and out: password checks with throttling and lockout, OpenID Connect identities,
and the dashboard's server-side sessions.

* :func:`authenticate` verifies a password against the account's Argon2id hash. After
  ``throttle_after`` consecutive wrong passwords an account accepts one attempt per
  ``throttle_s`` seconds (attempts in between are refused without being checked), and
  ``max_failures`` consecutive wrong passwords lock it until an admin unlocks it or resets
  the password (OWASP Authentication Cheat Sheet, "Account lockout"; NIST SP 800-63B
  §5.2.2 rate limiting). Unknown names cost the same hash time as known ones, and both get
  the same message, so the form does not reveal which accounts exist.
* Every sign-in, wrong password, lockout and sign-out is an entry in the audit chain.
* :func:`oidc_identity` maps an identity confirmed by an OpenID Connect provider
  (Streamlit's ``st.login``) to the workspace account registered for it.
* :class:`SessionStore` keeps dashboard sessions in the server's memory, keyed by the
  SHA-256 of a random token that lives in a browser-session cookie: a reload resumes the
  session, closing the browser ends it, and a session idle for ``session_idle_s`` expires.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from argon2.exceptions import InvalidHashError, VerificationError

from analytics import access, audit
from analytics.access import Identity, check_role
from analytics.errors import UserError

#: a hash to verify against when the name is unknown, so both cases take the same time
_DUMMY_HASH = None


@dataclass
class AccessSettings:
    """How sign-in resists guessing, and how long an idle dashboard session lasts."""

    max_failures: int = 10          #: consecutive wrong passwords that lock the account
    throttle_after: int = 3         #: consecutive wrong passwords after which attempts are spaced out
    throttle_s: float = 2.0         #: seconds between two attempts on a throttled account
    session_idle_s: float = 1800.0  #: a dashboard session without activity for this long expires


DEFAULT_SETTINGS = AccessSettings()


class SignInError(UserError):
    """A sign-in that did not succeed; the message says what to do."""


def _now() -> datetime:
    return datetime.now(UTC)


def _dummy_verify(password: str) -> None:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = access.PASSWORD_HASHER.hash(secrets.token_hex(8))
    try:
        access.PASSWORD_HASHER.verify(_DUMMY_HASH, password)
    except VerificationError:
        pass


def _verify(stored: str | None, password: str) -> bool:
    if not stored:
        _dummy_verify(password)
        return False
    try:
        return access.PASSWORD_HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(ws, name: str, password: str, settings: AccessSettings = DEFAULT_SETTINGS,
                 client: str | None = None, record: bool = True) -> Identity:
    """Check ``name``'s password and return its identity.

    Raises :class:`SignInError` (one sentence) for a wrong name or password, a throttled,
    locked or disabled account. Wrong passwords and lockouts are always audited, a
    successful sign-in when ``record`` (the dashboard; a command-line sign-in lasts one
    command, whose own entries carry the account). ``client`` (an IP address, or ``cli``)
    is kept in the audit evidence.
    """
    if ws.read_only:
        raise UserError("signing in records the attempt; open the workspace for writing")
    name = str(name or "").strip()
    password = password or ""
    if not name or not password:
        raise SignInError("enter your account name and password")
    row = ws.con.execute("SELECT role, password_hash, disabled, must_change, failed_count, last_failed_at, locked_at"
                         " FROM accounts WHERE name = ?", [name]).fetchall()
    ev = {"client": client} if client else {}
    if not row:
        _dummy_verify(password)
        _record(ws, "anonymous", "sign-in-failed", name, "unknown account", ev)
        raise SignInError("wrong account name or password")
    role, stored, disabled, must_change, failures, last_failed, locked = row[0]
    if locked is not None:
        raise SignInError(f"account {name} is locked after {settings.max_failures} wrong passwords; an admin can "
                          f"unlock it (`python -m analytics users unlock {name}`)")
    if failures >= settings.throttle_after and last_failed is not None:
        wait = settings.throttle_s - (_now() - last_failed).total_seconds()
        if wait > 0:
            raise SignInError(f"too many wrong passwords for {name}: wait {wait:.0f} s before trying again")
    if not _verify(stored, password):
        _wrong_password(ws, name, settings, ev)
    if disabled:
        _record(ws, "anonymous", "sign-in-failed", name, "account disabled", ev)
        raise SignInError(f"account {name} is disabled; ask an admin to enable it")
    rehash = access.PASSWORD_HASHER.check_needs_rehash(stored)
    if not (record or rehash or failures):
        return Identity(name, role, "password", bool(must_change))
    with ws.transaction() as con:
        con.execute("UPDATE accounts SET failed_count = 0, last_failed_at = NULL"
                    + (", password_hash = ?" if rehash else "") + " WHERE name = ?",
                    [access.PASSWORD_HASHER.hash(password), name] if rehash else [name])
        if record:
            audit.append(con, actor=name, action="sign-in", target_kind="account", target=name, scope="workspace",
                         evidence={"via": "password", "role": role, **ev})
    if record:
        audit.write_anchor(ws.path, ws.con)
    return Identity(name, role, "password", bool(must_change))


def _wrong_password(ws, name: str, settings: AccessSettings, ev: dict) -> None:
    with ws.transaction() as con:
        n = int(con.execute("UPDATE accounts SET failed_count = failed_count + 1, last_failed_at = now()"
                            " WHERE name = ? RETURNING failed_count", [name]).fetchall()[0][0])
        audit.append(con, actor="anonymous", action="sign-in-failed", target_kind="account", target=name,
                     scope="workspace", reason="wrong password", evidence={"consecutive_failures": n, **ev})
        locked = n >= settings.max_failures
        if locked:
            con.execute("UPDATE accounts SET locked_at = now() WHERE name = ?", [name])
            audit.append(con, actor="anonymous", action="lockout", target_kind="account", target=name,
                         scope="workspace", reason=f"{n} wrong passwords in a row", evidence=ev)
    audit.write_anchor(ws.path, ws.con)
    if locked:
        raise SignInError(f"wrong password; account {name} is now locked after {n} wrong passwords in a row "
                          "(an admin can unlock it)")
    left = settings.max_failures - n
    raise SignInError("wrong account name or password" + (f" ({left} attempts left before the account locks)"
                                                          if left <= 3 else ""))


def _record(ws, actor: str, action: str, name: str, reason: str | None, evidence: dict) -> None:
    with ws.transaction() as con:
        audit.append(con, actor=actor, action=action, target_kind="account", target=name, scope="workspace",
                     reason=reason, evidence=evidence)
    audit.write_anchor(ws.path, ws.con)


def sign_out(ws, who: Identity, reason: str = "signed out") -> None:
    """Record the end of a session (the user signed out, or it expired)."""
    if not isinstance(who, Identity):
        raise UserError("nobody to sign out")
    _record(ws, who.name, "sign-out", who.name, reason, {"via": who.via})


def oidc_identity(ws, subject: str, issuer: str | None = None) -> Identity:
    """The account registered for an identity confirmed by an OpenID Connect provider.

    ``subject`` is what the account was registered with (``users add NAME --oidc EMAIL``:
    the e-mail address, or the provider's ``sub``). Audited as a sign-in.
    """
    subject = str(subject or "").strip()
    rows = ws.con.execute("SELECT name, role, disabled, locked_at FROM accounts WHERE oidc_subject = ?",
                          [subject]).fetchall() if subject else []
    if not rows:
        _record(ws, "anonymous", "sign-in-failed", subject or "?", "identity not registered",
                {"via": "oidc", "issuer": issuer})
        raise SignInError(f"{subject or 'this identity'} has no account in this workspace; ask an admin to add one "
                          f"(`python -m analytics users add NAME --role viewer --oidc {subject or 'EMAIL'}`)")
    name, role, disabled, locked = rows[0]
    if disabled or locked is not None:
        raise SignInError(f"account {name} is {'disabled' if disabled else 'locked'}; ask an admin")
    check_role(role)
    _record(ws, name, "sign-in", name, None, {"via": "oidc", "issuer": issuer, "role": role})
    return Identity(name, role, "oidc")


class ClientThrottle:
    """Failed sign-ins per client address in a sliding window, across accounts (password
    spraying): after ``limit`` failures in ``window_s`` seconds the address must wait."""

    def __init__(self, limit: int = 20, window_s: float = 600.0, clock=time.monotonic):
        self.limit, self.window_s, self._clock = limit, window_s, clock
        self._fails: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> list[float]:
        kept = [t for t in self._fails.get(client, []) if now - t < self.window_s]
        self._fails[client] = kept
        return kept

    def check(self, client: str | None) -> None:
        """Raise :class:`SignInError` while ``client`` is over its limit."""
        if not client:
            return
        now = self._clock()
        with self._lock:
            recent = self._recent(client, now)
            if len(recent) >= self.limit:
                wait = self.window_s - (now - recent[0])
                raise SignInError(f"too many failed sign-ins from your address: wait {wait / 60:.0f} min")

    def failed(self, client: str | None) -> None:
        if client:
            with self._lock:
                self._recent(client, self._clock()).append(self._clock())


# -- dashboard sessions ---------------------------------------------------------------------------------

@dataclass
class _Session:
    identity: Identity
    workspace: str
    last_seen: float
    created: float = field(default_factory=time.monotonic)


class SessionStore:
    """Dashboard sessions of one server process: token hash -> signed-in identity."""

    def __init__(self, clock=time.monotonic):
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._clock = clock

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def create(self, identity: Identity, workspace: str) -> str:
        """Start a session; returns the token for the browser's cookie."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[self._key(token)] = _Session(identity, str(workspace), self._clock())
        return token

    def resume(self, token: str | None, workspace: str, idle_s: float) -> tuple[Identity | None, bool]:
        """(identity, expired): the session of ``token`` on ``workspace``, refreshed; expired
        sessions are dropped and reported once."""
        if not token:
            return None, False
        key = self._key(token)
        now = self._clock()
        with self._lock:
            s = self._sessions.get(key)
            if s is None or s.workspace != str(workspace):
                return None, False
            if now - s.last_seen > idle_s:
                del self._sessions[key]
                return s.identity, True
            s.last_seen = now
            return s.identity, False

    def update(self, token: str, identity: Identity) -> None:
        with self._lock:
            s = self._sessions.get(self._key(token))
            if s is not None:
                s.identity = identity

    def drop(self, token: str | None) -> Identity | None:
        if not token:
            return None
        with self._lock:
            s = self._sessions.pop(self._key(token), None)
        return s.identity if s else None

    def __len__(self) -> int:
        return len(self._sessions)
