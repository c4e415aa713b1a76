"""The dashboard's sign-in frame and role-dependent pages (Streamlit AppTest): one-time
passwords, idle expiry, sign-out, settings and exports by role, the Accounts page, deleting a
project, and single sign-on offered when secrets.toml configures it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import app_fixture  # noqa: E402
from auth_support import PASSWORDS, me  # noqa: E402

from analytics import access  # noqa: E402
from analytics.store import open_workspace  # noqa: E402

APP = str(Path(__file__).resolve().parent.parent / "app" / "streamlit_app.py")


@pytest.fixture(scope="module")
def base_ws(tmp_path_factory) -> Path:
    return app_fixture.build(tmp_path_factory.mktemp("access") / "fixture")


@pytest.fixture
def ws(base_ws, tmp_path) -> Path:
    path = tmp_path / "ws"
    shutil.copytree(base_ws, path)
    return path


def _start(ws: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["workspace_path"] = str(ws)
    return at.run()


def _sign_in(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input(key="signin_name").input(name)
    at.text_input(key="signin_password").input(password)
    return at.button(key="FormSubmitter:signin-Sign in").click().run()


def _signed_in(ws: Path, name: str, page: str | None = None) -> AppTest:
    at = _sign_in(_start(ws), name, PASSWORDS[name])
    assert not at.exception, at.exception
    if page:
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception, at.exception
    return at


def _events(ws: Path, name: str) -> list[tuple]:
    with open_workspace(ws, read_only=True) as h:
        return h.con.execute("SELECT action, reason FROM actions WHERE target_kind = 'account' AND target = ? "
                             "ORDER BY seq", [name]).fetchall()


def test_sign_in_page_shows_no_data_and_a_wrong_password_is_refused(ws):
    at = _start(ws)
    assert "Sign in" in at.title[0].value and not at.dataframe and not at.sidebar.selectbox
    at = _sign_in(at, "viewer", "not-the-password")
    assert any("wrong account name or password" in e.value for e in at.error)
    assert at.text_input(key="signin_password").value == ""                 # cleared for the next try
    assert _events(ws, "viewer") == [("sign-in-failed", "wrong password")]


def test_one_time_password_leads_to_choosing_one(ws):
    with open_workspace(ws) as h:
        access.set_password(h, "carol", "one-time-pass-1", me("admin"), one_time=True)
    at = _sign_in(_start(ws), "carol", "one-time-pass-1")
    assert at.title[0].value == "Choose your password" and not at.dataframe
    at.text_input(key="np_1").input("carols-own-password")
    at.text_input(key="np_2").input("carols-own-password")
    at.button(key="FormSubmitter:new_password-Save password").click().run()
    assert not at.exception, at.exception
    assert "fixture" in at.title[0].value                                    # the overview
    assert [e[0] for e in _events(ws, "carol")] == ["account-password", "sign-in", "account-password"]


def test_idle_session_expires_and_is_audited(ws, monkeypatch):
    from analytics.signin import AccessSettings
    from app import auth

    at = _signed_in(ws, "viewer")
    monkeypatch.setattr(auth, "SETTINGS", AccessSettings(session_idle_s=0.0))
    at.run()
    assert "Sign in" in at.title[0].value
    assert any("without activity" in i.value for i in at.info)
    assert _events(ws, "viewer")[-1][0] == "sign-out" and "expired" in _events(ws, "viewer")[-1][1]


def test_sign_out_ends_the_session(ws):
    at = _signed_in(ws, "manager")
    at.sidebar.button(key="signout").click().run()
    assert "Sign in" in at.title[0].value and any("signed out" in i.value for i in at.info)
    assert [e[0] for e in _events(ws, "manager")] == ["sign-in", "sign-out"]


def test_settings_are_read_only_for_an_analyst_and_export_closed(ws):
    at = _signed_in(ws, "analyst", "settings")
    assert not [b for b in at.button if "Save" in b.label]                  # no settings form, the values shown
    assert any("Only an admin changes the analysis settings" in i.value for i in at.info)
    assert any(b.key == "settings_analyze" for b in at.button)              # re-analysing is allowed
    assert not [e for e in at.expander if "Delete project" in e.label]
    for page in ("export", "accounts"):                                      # not in the analyst's navigation
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(f"views/{page}.py")
    # and the pages themselves refuse, should anyone reach them
    from app.state import Ctx

    views = Path(APP).parent / "views"
    for page, text in (("export.py", "managers and admins"), ("accounts.py", "managed by admins")):
        direct = AppTest.from_file(str(views / page), default_timeout=60)
        direct.session_state["workspace_path"] = str(ws)
        direct.session_state["_ctx"] = Ctx(ws=ws, exists=True, actor=me("analyst"), project="fixture",
                                           project_id=1, run_id=2)
        direct.run()
        assert any(text in i.value for i in direct.info), page
        assert not [b for b in direct.button if b.key == "exp_prepare"] and not direct.text_input


def test_admin_manages_accounts_on_the_accounts_page(ws):
    at = _signed_in(ws, "admin", "accounts")
    assert set(at.dataframe[0].value["name"]) >= {"admin", "viewer", "manager"}
    at.text_input(key="acc_name").input("newbie")
    at.selectbox(key="acc_role").set_value("analyst")
    at.button(key="FormSubmitter:acc_add-Add with a one-time password").click().run()
    assert not at.exception, at.exception
    assert any("One-time password for **newbie**" in s.value for s in at.success)
    at.selectbox(key="acc_who").set_value("viewer")
    at.selectbox(key="acc_new_role").set_value("manager")
    at.radio(key="acc_what").set_value("Set the role")
    at.button(key="FormSubmitter:acc_change-Apply").click().run()
    assert not at.exception, at.exception
    with open_workspace(ws, read_only=True) as h:
        roles = dict(h.con.execute("SELECT name, role FROM accounts").fetchall())
        must = h.con.execute("SELECT must_change FROM accounts WHERE name = 'newbie'").fetchall()[0][0]
    assert roles["newbie"] == "analyst" and must and roles["viewer"] == "manager"
    assert [e[0] for e in _events(ws, "viewer")] == ["account-role"]
    assert "account-role" in set(at.dataframe[-1].value["action"])          # the sign-in history table


def test_only_an_admin_deletes_a_project(ws):
    at = _signed_in(ws, "analyst", "data")
    assert not [b for b in at.button if b.key == "del_go"]
    at = _signed_in(ws, "admin", "data")
    at.selectbox(key="del_pick").set_value("untimed")
    at.text_input(key="del_reason").input("test data")
    at.run()
    at.button(key="del_go").click().run()
    assert not at.exception, at.exception
    with open_workspace(ws, read_only=True) as h:
        row = h.con.execute("SELECT actor, target, reason FROM actions WHERE action = 'delete_project'").fetchall()
        assert h.con.execute("SELECT deleted_at IS NOT NULL FROM projects WHERE name = 'untimed'").fetchall() == [(True,)]
    assert row == [("admin", "untimed", "test data")]


def test_single_sign_on_is_offered_when_configured(ws):
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["workspace_path"] = str(ws)
    at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
                          "client_id": "id", "client_secret": "s",
                          "server_metadata_url": "https://idp.example.org/.well-known/openid-configuration"}
    at.run()
    assert not at.exception, at.exception
    assert any(b.label == "Sign in with single sign-on" for b in at.button)
    assert not at.text_input                                               # instead of the password form


def test_a_provider_identity_maps_to_its_account_and_strangers_see_nothing(ws):
    with open_workspace(ws) as h:
        access.add_account(h, "dora", "viewer", me("admin"), oidc="dora@example.org")
    secrets = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32, "client_id": "id",
               "client_secret": "s", "server_metadata_url": "https://idp.example.org/.well-known/openid-configuration"}
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["workspace_path"] = str(ws)
    at.secrets["auth"] = secrets
    at.user = {"is_logged_in": True, "email": "dora@example.org", "iss": "https://idp.example.org"}
    at.run()
    assert not at.exception, at.exception
    assert "fixture" in at.title[0].value and any("dora" in m.value for m in at.sidebar.markdown)
    assert _events(ws, "dora")[-1][0] == "sign-in"
    at.sidebar.button(key="signout").click().run()                          # st.logout as well
    assert "Sign in" in at.title[0].value
    stranger = AppTest.from_file(APP, default_timeout=60)
    stranger.session_state["workspace_path"] = str(ws)
    stranger.secrets["auth"] = secrets
    stranger.user = {"is_logged_in": True, "email": "eve@example.org"}
    stranger.run()
    assert "Sign in" in stranger.title[0].value and not stranger.dataframe
    assert any("has no account in this workspace" in e.value for e in stranger.error)
    stranger.run()                                                          # refused once, not audited on every rerun
    assert _events(ws, "eve@example.org") == [("sign-in-failed", "identity not registered")]
