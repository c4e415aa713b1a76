"""Accounts (admins): who may sign in, with which role; lockouts; the account audit trail."""

import pandas as pd
import streamlit as st

from analytics import access
from analytics.errors import UserError
from app import state

c = state.ctx()
st.title("Accounts")
state.flash()
if not c.can("accounts"):
    st.info("Accounts are managed by admins.", icon=":material/lock:")
    st.stop()

st.caption("viewer: reads every page · analyst: + loads files, analyses, red team · manager: + bans, trust, "
           "re-queue, exports · admin: + accounts, settings, deleting projects. Every change is an audit entry.")
accounts = state.read(access.list_accounts)
st.dataframe(accounts, hide_index=True, width="stretch", column_config={
    "password": st.column_config.CheckboxColumn("password"),
    "oidc_subject": st.column_config.TextColumn("single sign-on identity"),
    "failed_count": st.column_config.NumberColumn("wrong passwords", format="%d"),
    "created_at": st.column_config.DatetimeColumn("created (UTC)", format="YYYY-MM-DD HH:mm"),
    "changed_at": st.column_config.DatetimeColumn("changed (UTC)", format="YYYY-MM-DD HH:mm")})
names = accounts["name"].tolist()


def _write(fn, done: str) -> None:
    """Run ``fn(ws)`` on the workspace opened for writing; flash ``done`` or show the refusal."""
    try:
        with state.write_workspace(c.ws) as ws:
            fn(ws)
    except UserError as exc:
        st.error(str(exc))
        return
    st.session_state["_flash"] = done
    st.rerun()


left, right = st.columns(2)
with left.form("acc_add", border=True):
    st.markdown("**Add an account**")
    name = st.text_input("Account name", key="acc_name")
    role = st.selectbox("Role", access.ROLES, key="acc_role")
    oidc = st.text_input("Single sign-on identity (e-mail; optional)", key="acc_oidc",
                         help="For sign-in through the OpenID Connect provider configured in secrets.toml [auth].")
    add = st.form_submit_button("Add with a one-time password", icon=":material/person_add:")
if add:
    pw = access.one_time_password()
    st.session_state["_acc_new"] = (name.strip(), pw)
    _write(lambda ws: access.add_account(ws, name, role, c.actor, password=pw, oidc=oidc.strip() or None,
                                         one_time=True),
           f"Added {role} {name.strip()}. Give them the one-time password shown below; they choose their own at "
           "the first sign-in.")
new = st.session_state.pop("_acc_new", None)
if new and new[0] in names:
    left.success(f"One-time password for **{new[0]}**: `{new[1]}` (shown only now).")

with right.form("acc_change", border=True):
    st.markdown("**Change an account**")
    who = st.selectbox("Account", names, key="acc_who")
    new_role = st.selectbox("New role", access.ROLES, key="acc_new_role")
    what = st.radio("Change", ["Set the role", "Reset the password (one-time)", "Unlock", "Disable", "Enable"],
                    key="acc_what", horizontal=True)
    go = st.form_submit_button("Apply", icon=":material/edit:")
if go and who:
    if what == "Set the role":
        _write(lambda ws: access.set_role(ws, who, new_role, c.actor), f"{who} is now {new_role}.")
    elif what.startswith("Reset"):
        pw = access.one_time_password()
        st.session_state["_acc_new"] = (who, pw)
        _write(lambda ws: access.set_password(ws, who, pw, c.actor, one_time=True),
               f"Password of {who} reset; the one-time password is shown below.")
    elif what == "Unlock":
        _write(lambda ws: access.unlock(ws, who, c.actor), f"{who} unlocked.")
    else:
        _write(lambda ws: access.set_disabled(ws, who, c.actor, disabled=what == "Disable"),
               f"{who} {what.lower()}d.")

st.subheader("Sign-ins and account changes")
events = state.read(access.account_events, 200)
if events.empty:
    st.caption("None yet.")
else:
    events["created_at"] = pd.to_datetime(events["created_at"], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S")
    st.dataframe(events[["seq", "created_at", "actor", "action", "target", "reason"]], hide_index=True,
                 width="stretch", height=min(38 + 35 * len(events), 400))
