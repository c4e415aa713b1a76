"""Sign-in for the dashboard: the sign-in page, sessions that survive a reload, sign-out.

A successful sign-in (:func:`analytics.signin.authenticate`, or an OpenID Connect provider
through ``st.login`` when ``.streamlit/secrets.toml`` has an ``[auth]`` section) starts a
server-side session (:class:`analytics.signin.SessionStore`) whose random token is kept in a
browser-session cookie: a reload resumes it, closing the browser ends it, and it expires
after :attr:`AccessSettings.session_idle_s` without activity. On every rerun the account is
read again from the workspace, so a role change, a lock or a disabled account takes effect
at once. Without a session, only the sign-in page is drawn: no project data.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import streamlit as st

from analytics import access, signin
from analytics.access import Identity
from analytics.errors import UserError
from app import state

COOKIE = "crowdtrust_session"
SETTINGS = signin.DEFAULT_SETTINGS


@st.cache_resource
def sessions() -> signin.SessionStore:
    """The sessions of this server process."""
    return signin.SessionStore()


@st.cache_resource
def client_throttle() -> signin.ClientThrottle:
    return signin.ClientThrottle()


def _client() -> str | None:
    try:
        return st.context.ip_address
    except Exception:  # noqa: BLE001  (no request context, e.g. in AppTest)
        return None


def _cookie_token() -> str | None:
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001  (no request context)
        return None
    return value if isinstance(value, str) and value else None


def oidc_providers() -> list[str | None]:
    """The OpenID Connect providers configured in secrets.toml ``[auth]`` ([] when none)."""
    try:
        auth = st.secrets.get("auth")
    except Exception:  # noqa: BLE001  (no secrets file)
        return []
    if not auth:
        return []
    named = [k for k, v in auth.items() if isinstance(v, Mapping)]
    return named or [None]


def _cookie(token: str | None) -> None:
    """Set (or clear) the session cookie in the browser; it lasts for the browser session."""
    value = f"{COOKIE}={token}; path=/; SameSite=Strict" if token else f"{COOKIE}=; path=/; max-age=0; SameSite=Strict"
    st.html(f"<script>document.cookie = '{value}' + (location.protocol === 'https:' ? '; Secure' : '');</script>",
            unsafe_allow_javascript=True)


def _start(ws: Path, who: Identity) -> None:
    token = sessions().create(who, str(ws))
    st.session_state["_token"] = token
    st.session_state["_cookie"] = token
    st.session_state.pop("signin_password", None)


def _end(note: str) -> None:
    sessions().drop(st.session_state.pop("_token", None))
    st.session_state["_cookie"] = ""
    st.session_state["_signin_note"] = note


def _record_end(ws: Path, who: Identity, reason: str) -> None:
    try:
        with state.write_workspace(ws) as handle:
            signin.sign_out(handle, who, reason)
    except UserError:
        pass            # the session ends anyway; a busy workspace must not keep anyone signed in


def current(ws: Path) -> Identity | None:
    """The identity of this browser session on ``ws``, refreshed from the workspace; None when signed out."""
    token = st.session_state.get("_token") or _cookie_token()
    who, expired = sessions().resume(token, str(ws), SETTINGS.session_idle_s)
    if expired:
        _end(f"Your session ended after {SETTINGS.session_idle_s / 60:.0f} minutes without activity; sign in again.")
        _record_end(ws, who, f"session expired after {SETTINGS.session_idle_s / 60:.0f} min without activity")
        return None
    if who is None:
        st.session_state.pop("_token", None)
        return _oidc_session(ws)
    st.session_state["_token"] = token
    status = state.read(access.account_status, who.name) if (ws / state.DB_NAME).exists() else None
    if status is None or status["disabled"] or status["locked"]:
        _end(f"Account {who.name} is no longer active ({'locked' if status and status['locked'] else 'disabled'}"
             f" or removed); ask an admin.")
        return None
    now = Identity(who.name, status["role"], who.via, status["must_change"])
    if now != who:
        sessions().update(token, now)
    return now


def _oidc_session(ws: Path) -> Identity | None:
    """Map a provider identity (st.login) to the workspace account registered for it."""
    if not oidc_providers() or not st.user.get("is_logged_in", False) or not (ws / state.DB_NAME).exists():
        return None
    subject = st.user.get("email") or st.user.get("sub")
    if st.session_state.get("_oidc_refused") == subject:
        return None             # refused once in this session: say it once, do not audit every rerun
    try:
        with state.write_workspace(ws) as handle:
            who = signin.oidc_identity(handle, subject, issuer=st.user.get("iss"))
    except UserError as exc:
        st.session_state["_oidc_refused"] = subject
        st.session_state["_signin_error"] = str(exc)
        return None
    _start(ws, who)
    return who


def cookie_update() -> None:
    """Draw the pending cookie change (after a sign-in or sign-out) once."""
    pending = st.session_state.pop("_cookie", None)
    if pending is not None:
        with st.sidebar:
            _cookie(pending or None)


def sign_in_page(ws: Path) -> None:
    """The only page without a session: the sign-in form (and single sign-on when configured)."""
    st.title("CrowdTrust · Sign in")
    note = st.session_state.pop("_signin_note", None)
    if note:
        st.info(note, icon=":material/info:")
    failed = st.session_state.pop("_signin_error", None)
    if not (ws / state.DB_NAME).exists():
        st.warning(f"There is no workspace at `{ws}` yet. Create it with its first admin: "
                   f"`python -m analytics users add NAME --role admin --workspace {ws}` (or `make demo`).")
        return
    if not state.read(access.has_accounts):
        st.warning("This workspace has no accounts yet. Create its first admin on the command line: "
                   f"`python -m analytics users add NAME --role admin --workspace {ws}`.")
        return
    providers = oidc_providers()
    if providers:              # an OpenID Connect provider is configured: it replaces the password form
        if failed:
            st.error(failed, icon=":material/lock:")
        for provider in providers:
            label = f"Sign in with {provider}" if provider else "Sign in with single sign-on"
            if st.button(label, key=f"oidc_{provider}", type="primary", icon=":material/key:"):
                st.login(provider) if provider else st.login()
        st.caption("Your identity is checked by the organisation's sign-in provider; an admin maps it to an account "
                   "of this workspace (`users add NAME --role ROLE --oidc EMAIL`).")
        return
    with st.form("signin", border=True):
        name = st.text_input("Account", key="signin_name", autocomplete="username")
        password = st.text_input("Password", type="password", key="signin_password",
                                 autocomplete="current-password")
        go = st.form_submit_button("Sign in", type="primary", icon=":material/login:")
    st.caption("Ten wrong passwords in a row lock an account; an admin unlocks it. Sessions end when the browser "
               f"closes or after {SETTINGS.session_idle_s / 60:.0f} minutes without activity.")
    if failed:
        st.error(failed, icon=":material/lock:")
    if not go:
        return
    client = _client()
    try:
        client_throttle().check(client)
        with state.write_workspace(ws) as handle:
            who = signin.authenticate(handle, name, password, SETTINGS, client=client)
    except UserError as exc:
        if isinstance(exc, signin.SignInError):
            client_throttle().failed(client)
        st.session_state["_signin_error"] = str(exc)
        st.session_state.pop("signin_password", None)       # an empty password field for the next try
        st.rerun()
    _start(ws, who)
    st.rerun()


def change_password_page(ws: Path, who: Identity) -> None:
    """After a sign-in with a one-time password: choose one's own before anything else."""
    st.title("Choose your password")
    st.info(f"You signed in as **{who.name}** with a one-time password. Choose your own password (at least "
            f"{access.MIN_PASSWORD_CHARS} characters) to continue.", icon=":material/password:")
    with st.form("new_password", border=True):
        first = st.text_input("New password", type="password", key="np_1", autocomplete="new-password")
        again = st.text_input("New password again", type="password", key="np_2", autocomplete="new-password")
        go = st.form_submit_button("Save password", type="primary")
    if not go:
        return
    if first != again:
        st.error("The two passwords differ.")
        return
    try:
        with state.write_workspace(ws) as handle:
            access.set_password(handle, who.name, first, who)
    except UserError as exc:
        st.error(str(exc))
        return
    st.session_state["_flash"] = "Password saved."
    st.rerun()


def sidebar_block(ws: Path, who: Identity) -> None:
    """Who is signed in, and the sign-out button."""
    box = st.sidebar.container(border=True)
    box.markdown(f":material/account_circle: **{who.name}** · {who.role}")
    if box.button("Sign out", key="signout", icon=":material/logout:"):
        _end("You are signed out.")
        _record_end(ws, who, "signed out")
        if who.via == "oidc":
            st.logout()
        st.rerun()
