"""CrowdTrust dashboard entrypoint: page config, sign-in, workspace and project picker, navigation.

Nothing of a project is drawn before sign-in (:mod:`app.auth`); the navigation then lists
only the pages the account's role may use.

Run with ``streamlit run app/streamlit_app.py -- --workspace data/workspaces/demo``.
Each page is a short script in ``app/views/`` that asks :mod:`analytics.results` for data
(through :func:`app.state.read`) and hands it to :mod:`app.charts`.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from analytics import results  # noqa: E402
from analytics.access import Identity  # noqa: E402
from analytics.errors import UserError  # noqa: E402
from app import auth, state  # noqa: E402

VIEWS = Path(__file__).resolve().parent / "views"
log = logging.getLogger("crowdtrust.app")

st.set_page_config(page_title="CrowdTrust", page_icon=":material/verified_user:", layout="wide")


def _page(file: str, title: str, icon: str, default: bool = False):
    return st.Page(f"views/{file}", title=title, icon=icon, url_path=file.removesuffix(".py"), default=default)


def build_pages(user: Identity) -> dict[str, list]:
    """The pages ``user``'s role may use: viewers read, analysts also load and analyse and
    run the red team, managers act and export, admins change settings and accounts."""
    review = [
        _page("overview.py", "Overview", ":material/dashboard:", default=True),
        _page("monitoring.py", "Monitoring", ":material/monitoring:"),
        _page("workers.py", "Workers", ":material/group:"),
        _page("items.py", "Items", ":material/list_alt:"),
        _page("collusion.py", "Collusion", ":material/hub:"),
        _page("agreement.py", "Agreement", ":material/handshake:"),
    ]
    act = [_page("actions.py", "Actions", ":material/gavel:"),          # read-only below a manager
           _page("incidents.py", "Incidents", ":material/emergency:")]   # read-only below a manager
    if user.can("export"):
        act.append(_page("export.py", "Export", ":material/download:"))
    if user.can("redteam"):
        act.append(_page("redteam.py", "Red team", ":material/security:"))
    manage = [_page("data.py", "Data", ":material/upload_file:")]
    if user.can("analyze"):
        manage.append(_page("settings.py", "Settings", ":material/tune:"))
    if user.can("accounts"):
        manage.append(_page("accounts.py", "Accounts", ":material/manage_accounts:"))
    return {"Review": review, "Act": act, "Manage": manage}


def gate_pages(render, title: str, icon: str) -> list:
    """Before sign-in (or before a one-time password is replaced) every page's address shows
    ``render()``, so a bookmark or a reload lands on it and, afterwards, on the page it names."""

    def page_for(slug: str):
        def page() -> None:
            render()
        page.__name__ = f"gate_{slug}"
        return page

    slugs = sorted(p.stem for p in VIEWS.glob("*.py") if p.stem != "overview")
    return [st.Page(page_for("overview"), title=title, icon=icon, default=True),
            *[st.Page(page_for(slug), title=title, icon=icon, url_path=slug) for slug in slugs]]


def sidebar(user: Identity) -> state.Ctx:
    ws = state.current_ws()
    auth.sidebar_block(ws, user)
    exists = (ws / state.DB_NAME).exists()
    project = project_id = run_id = None
    if exists:
        projects = state.read(results.projects)
        names = projects["name"].tolist()
        if names:
            wanted = st.query_params.get("project") or st.session_state.get("_project_keep")
            switch = st.session_state.pop("_project_switch", None)   # set by a page (e.g. after an ingest)
            if switch in names:
                st.session_state["project"] = switch
            elif st.session_state.get("project") not in names:
                st.session_state["project"] = wanted if wanted in names else names[0]
            project = st.sidebar.selectbox(
                "Project", names, key="project",
                format_func=lambda n: _project_label(projects, n),
                help="Every page shows this project. Projects are isolated: own labels, gold and results.")
            st.session_state["_project_keep"] = project
            st.query_params["project"] = project
            row = projects[projects["name"] == project].iloc[0]
            project_id = int(row["project_id"])
            run_id = None if pd.isna(row["latest_run"]) else int(row["latest_run"])
            if run_id is not None:
                info = state.read(results.run_summary, run_id)
                st.sidebar.caption(
                    f"Showing analysis run **{run_id}** ({info['method']}, "
                    f"{info['finished_at']:%Y-%m-%d %H:%M} UTC). Change the model on **Settings**.")
            else:
                st.sidebar.caption("Not analysed yet.")
            running = state.read(results.running_run, project_id)
            if running:
                st.sidebar.caption(f":orange[An analysis ({running['method']}) started "
                                   f"{running['started_at']:%Y-%m-%d %H:%M} UTC is running; pages show the previous "
                                   "results until it completes.]")
    st.sidebar.caption(f"Workspace `{ws}`")
    return state.Ctx(ws=ws, exists=exists, actor=user, project=project, project_id=project_id,
                     run_id=run_id)


def _project_label(projects, name: str) -> str:
    row = projects[projects["name"] == name].iloc[0]
    return f"{name} ({int(row['labels']):,} labels)"


def main() -> None:
    ws = state.current_ws()
    try:
        try:
            user = auth.current(ws)
        except UserError as exc:
            st.error(str(exc), icon=":material/error:")
            st.stop()
        auth.cookie_update()
        if user is None:
            st.session_state["_ctx"] = state.Ctx(ws=ws, exists=False, actor=None)
            st.navigation(gate_pages(lambda: auth.sign_in_page(ws), "Sign in", ":material/login:"),
                          position="hidden").run()
            return
        if user.must_change:
            st.session_state["_ctx"] = state.Ctx(ws=ws, exists=False, actor=user)
            auth.sidebar_block(ws, user)
            st.navigation(gate_pages(lambda: auth.change_password_page(ws, user), "Choose your password",
                                     ":material/password:"), position="hidden").run()
            return
        nav = st.navigation(build_pages(user), position="sidebar", expanded=True)   # every page listed (13 for an admin)
        run_page(nav, user)
    finally:
        state.close_run_connection()


def run_page(nav, user: Identity) -> None:
    try:
        st.session_state["_ctx"] = sidebar(user)
    except UserError as exc:
        st.session_state["_ctx"] = state.Ctx(ws=state.current_ws(), exists=False, actor=user)
        st.error(str(exc), icon=":material/error:")
        st.stop()
    state.flash()
    try:
        nav.run()
    except UserError as exc:
        state.user_error_box(exc)
    except Exception as exc:  # a bug: one line for the user, the traceback in the server log
        # (st.stop / st.rerun / st.switch_page raise BaseException subclasses and pass through)
        log.exception("page %s failed", nav.title)
        st.error(f"Unexpected error on this page ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). "
                 "The details are in the server log; please report it.", icon=":material/bug_report:")


main()
