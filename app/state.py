"""Frame helpers shared by the pages: which workspace, project and run; reading and writing.

Reading: every query goes through :func:`read`, which calls one read function of
:mod:`analytics.results` (or another analytics read module), passed as itself, on a
*read-only* DuckDB connection (:func:`q`, which named the function in a string, is a
deprecated shim over it). The connection is opened on the first cache miss of a rerun and closed when
the rerun ends (:func:`close_run_connection`, called by the entrypoint), so a page that is
served from the cache opens none, and a page that queries opens one (about 60 ms on a
million-label workspace) instead of one per query. Results are cached with
``st.cache_data`` keyed on the workspace file's modification stamp, so any write (ingest,
analysis, ban) invalidates them and unchanged results are served from memory.

Writing: :func:`write_workspace` opens the workspace for writing only for the duration of
one operation. One writer at a time (:mod:`analytics.connections`): sessions of this
dashboard queue for the workspace, another process's writer (a command-line ``analyze``)
is waited for, and while they wait the page shows "busy, retrying" instead of an error;
a reader that meets a write of this process shares its database (committed data only).

Who is acting: :class:`Ctx` carries the signed-in :class:`analytics.access.Identity`
(``ctx().actor``), which every write passes to :mod:`analytics`, where the role is checked.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import streamlit as st

from analytics import results
from analytics.access import Identity
from analytics.errors import UserError, WorkspaceLockedError
from analytics.store import DB_NAME, DEFAULT_WORKSPACE, Workspace, open_workspace

log = logging.getLogger("crowdtrust.app")

#: Seconds a page waits for a busy workspace (another writer) before giving up, showing "busy, retrying".
CONNECT_WAIT_S: float = 60.0
#: Seconds one read attempt waits inside the cache before the page shows that it is retrying.
READ_ATTEMPT_S: float = 1.0
#: Pause between read attempts, seconds.
CONNECT_RETRY_S: float = 0.2


@dataclass(frozen=True)
class Ctx:
    """What the current page works on. ``project``/``project_id``/``run_id`` may be None;
    ``actor`` is the signed-in account (None only before sign-in)."""

    ws: Path
    exists: bool
    actor: Identity | None
    project: str | None = None
    project_id: int | None = None
    run_id: int | None = None

    def can(self, permission: str) -> bool:
        return isinstance(self.actor, Identity) and self.actor.can(permission)


# -- workspace path and connections -------------------------------------------------------

def cli_workspace(argv: list[str] | None = None) -> Path:
    """The workspace given after ``--`` on the streamlit command line, else $CROWDTRUST_WORKSPACE,
    else the bundled demo workspace. A ``--key-file FILE`` there becomes this server's
    workspace key (as if it were in $CROWDTRUST_KEY)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--workspace", default=None)
    parser.add_argument("--key-file", default=None)
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if args.key_file:
        from analytics.encryption import ENV_KEY, secret_from_file

        os.environ[ENV_KEY] = secret_from_file(args.key_file).value
    chosen = args.workspace or os.environ.get("CROWDTRUST_WORKSPACE") or str(DEFAULT_WORKSPACE)
    return Path(chosen).expanduser().resolve()


def stamp(ws: Path) -> tuple:
    """Modification stamp of the workspace files: changes whenever anything is written."""
    out = []
    for name in (DB_NAME, DB_NAME + ".wal"):
        try:
            s = (ws / name).stat()
            out.append((s.st_mtime_ns, s.st_size))
        except FileNotFoundError:
            out.append(None)
    return tuple(out)


class _Busy:
    """A "busy, retrying" notice in the page while a workspace is held by another writer."""

    def __init__(self) -> None:
        self._box = None
        self._t0 = time.monotonic()

    def __call__(self, waited: float, why: str) -> None:
        if self._box is None:
            self._box = st.empty()
        self._box.info(f"Busy, retrying: {why}. Waiting {time.monotonic() - self._t0:.0f} s "
                       f"(up to {CONNECT_WAIT_S:.0f} s)…", icon=":material/hourglass_top:")

    def clear(self) -> None:
        if self._box is not None:
            self._box.empty()


@contextlib.contextmanager
def connect(ws: Path, wait_s: float = READ_ATTEMPT_S) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived read-only connection to the workspace (closed on exit)."""
    if not (ws / DB_NAME).exists():
        raise UserError(f"no workspace at {ws}: create it with `python -m analytics users add NAME --role admin "
                        f"--workspace {ws}`, or build the demo with `make demo`")
    handle = open_workspace(ws, create=False, read_only=True, wait_s=wait_s)
    try:
        yield handle.con
    finally:
        handle.close()


@contextlib.contextmanager
def write_workspace(ws: Path, create: bool = False) -> Iterator[Workspace]:
    """Open the workspace for writing for one operation; waits its turn behind other writers."""
    close_run_connection()
    busy = _Busy()
    try:
        handle = open_workspace(ws, create=create, wait_s=CONNECT_WAIT_S, on_wait=busy)
    finally:
        busy.clear()
    try:
        yield handle
    finally:
        handle.close()
        st.cache_data.clear()


# -- cached reads ---------------------------------------------------------------------------

_RUN = threading.local()   # Streamlit runs each session's script in its own thread


def _run_connection(ws: Path) -> duckdb.DuckDBPyConnection:
    """The read-only connection of the current rerun, opened on first use."""
    held = getattr(_RUN, "held", None)
    if held is not None and held[0] == ws:
        return held[2]
    close_run_connection()
    cm = connect(ws)
    con = cm.__enter__()
    _RUN.held = (ws, cm, con)
    return con


def close_run_connection() -> None:
    """Close the rerun's read connection (end of a rerun, and before this thread writes)."""
    held = getattr(_RUN, "held", None)
    _RUN.held = None
    if held is not None:
        with contextlib.suppress(Exception):
            held[1].__exit__(None, None, None)


def _identity(fn) -> str:
    """``module:qualname`` of a read function: the part of the cache key that names it."""
    return f"{fn.__module__}:{fn.__qualname__}"


@st.cache_data(show_spinner=False, max_entries=1000, ttl=3600)
def _cached(ws: str, ws_stamp: tuple, fn_id: str, args: tuple, kwargs: tuple, _fn=None):
    # keyed on workspace, stamp, the function's identity and the arguments; ``_fn`` (not hashed) is the callable
    return _fn(_run_connection(Path(ws)), *args, **dict(kwargs))


def _read(ws: Path, fn, args: tuple, kwargs: dict):
    """:func:`_cached` with the "busy, retrying" loop of :func:`read`."""
    busy = None
    deadline = time.monotonic() + CONNECT_WAIT_S
    while True:
        try:
            out = _cached(str(ws), stamp(ws), _identity(fn), args, tuple(sorted(kwargs.items())), _fn=fn)
        except WorkspaceLockedError as exc:
            if time.monotonic() > deadline:
                raise WorkspaceLockedError(f"{exc}; still busy after {CONNECT_WAIT_S:.0f} s, reload the page "
                                           "when the other work has finished") from None
            busy = busy or _Busy()
            busy(0.0, str(exc).split(";")[0])
            time.sleep(CONNECT_RETRY_S)
            continue
        if busy is not None:
            busy.clear()
        return out


def read(fn, *args, **kwargs):
    """``fn(con, *args, **kwargs)`` on a read-only connection to the current workspace, cached.

    ``fn`` is a read function of :mod:`analytics` taking the connection first, passed as
    itself (``state.read(results.workers_table, run_id, project_id)``), so a reader can jump
    from a chart to its query. Results are cached per workspace, workspace stamp (any write
    invalidates them), function and arguments. While another process writes the workspace,
    shows "busy, retrying" and tries again for up to :data:`CONNECT_WAIT_S` seconds.
    """
    return _read(current_ws(), fn, args, kwargs)


def _resolve(name: str):
    """``"workers_table"`` -> analytics.results.workers_table; ``"catalog:ingest_history"`` -> analytics.catalog."""
    module, _, fn = name.rpartition(":")
    mod = importlib.import_module(f"analytics.{module or 'results'}")
    return getattr(mod, fn)


def q(name: str, *args, **kwargs):
    """Deprecated: use :func:`read` with the function itself.

    ``q("module:name", ...)`` calls ``analytics.<module>.<name>`` (default module ``results``)
    through :func:`read`, with the same cache and busy-retry. Kept only for branches written
    before :func:`read`; no page on main uses it.
    """
    return read(_resolve(name), *args, **kwargs)


@st.cache_data(show_spinner=False, max_entries=64, ttl=3600)
def _impact_preview(ws: str, ws_stamp: tuple, project_id: int, run_id: int | None, workers: tuple, refit: bool,
                    settings_key: str):
    from analytics.impact import current_state, preview_state

    # the model fit, once per workspace state (the same cache entry as read(current_state, project_id))
    state = _cached(ws, ws_stamp, _identity(current_state), (project_id,), (), _fn=current_state)
    return preview_state(state, list(workers), refit=refit)


def impact_preview(c: Ctx, workers, refit: bool = False):
    """What banning ``workers`` changes (:func:`analytics.impact.preview_state`), cached per
    workspace state, run, selection and settings: showing the same preview again (any rerun
    of the Actions page) costs nothing, and the current model is fitted once per workspace
    state for every selection (an exact re-fit fits only the model without the selection)."""
    ws = current_ws()
    from analytics.pipeline import project_settings

    settings = read(project_settings, c.project_id)
    key = json.dumps(settings.to_dict(), sort_keys=True, default=str)
    return _impact_preview(str(ws), stamp(ws), c.project_id, c.run_id, tuple(sorted(map(str, workers))),
                           bool(refit), key)


# -- the page context -------------------------------------------------------------------------

def current_ws() -> Path:
    if "workspace_path" not in st.session_state:
        st.session_state["workspace_path"] = str(cli_workspace())
    return Path(st.session_state["workspace_path"])


def ctx() -> Ctx:
    """The context the entrypoint resolved for this rerun."""
    c = st.session_state.get("_ctx")
    if c is None:
        ws = current_ws()
        c = Ctx(ws=ws, exists=(ws / DB_NAME).exists(), actor=None)
    return c


def require_workspace(title: str | None = None) -> Ctx:
    """Draw the page title, then stop the page with a helpful message when there is no
    workspace or no project."""
    c = ctx()
    if title:
        st.title(f"{title} · {c.project}" if c.project else title)
    if not c.exists:
        st.info(f"There is no workspace at `{c.ws}` yet. Load an annotation file on the **Data** page to create it, "
                "or build the demo with `make demo`.")
        link("views/data.py", "Go to Data", icon=":material/upload_file:")
        st.stop()
    if c.project is None:
        st.info("This workspace has no projects yet. Load an annotation file on the **Data** page to start one.")
        link("views/data.py", "Go to Data", icon=":material/upload_file:")
        st.stop()
    return c


def require_run(title: str | None = None) -> Ctx:
    """Like :func:`require_workspace`, and stop with an 'analyse now' button when the project
    has no complete analysis run."""
    c = require_workspace(title)
    if c.run_id is None:
        running = read(results.running_run, c.project_id)
        if running:
            st.info(f"An analysis of **{c.project}** started at {running['started_at']:%Y-%m-%d %H:%M} UTC is still "
                    "running. Reload the page when it finishes.")
            st.stop()
        st.info(f"Project **{c.project}** has no analysis yet: trust scores, suspects and charts appear after one run.")
        analyze_button(c, label="Analyse this project now", key="empty_analyze")
        st.stop()
    return c


def link(page: str, label: str, icon: str | None = None) -> None:
    """A link to another page (falls back to a caption when the page is not registered)."""
    try:
        st.page_link(page, label=label, icon=icon)
    except Exception:  # page not registered in st.navigation (e.g. in a page-level test)
        st.caption(f"→ {label}")


#: what a page asks for -> the permission it needs (analytics.access.PERMISSIONS)
_NEEDS = {"ban": "ban", "unban": "ban", "ingest": "ingest", "gold upload": "ingest", "export": "export",
          "red-team copy": "redteam", "analysis": "analyze", "settings change and analysis": "settings",
          "settings change": "settings", "undo": "ingest", "deletion": "delete", "re-queue": "requeue",
          "incident": "incident", "containment": "incident", "repair": "incident", "closing": "incident",
          "acknowledgement": "alerts", "alert rules change": "settings"}


def need_actor(c: Ctx, what: str, permission: str | None = None) -> bool:
    """True when the signed-in account may do ``what``; otherwise say which role it needs.

    The check that counts is in :mod:`analytics` (every write re-checks the account's role);
    this one only spares the user a refused form.
    """
    from analytics.access import PERMISSIONS

    permission = permission or _NEEDS.get(what)
    if not isinstance(c.actor, Identity):
        st.warning(f"Sign in first: every {what} is recorded under your account.")
        return False
    if permission is not None and not c.actor.can(permission):
        st.warning(f"Your account ({c.actor.name}, {c.actor.role}) may not do this {what}: it needs the "
                   f"{PERMISSIONS[permission]} role. Ask an admin.")
        return False
    return True


def analyze_button(c: Ctx, label: str = "Re-analyse", key: str = "analyze", settings=None, method: str | None = None,
                   force: bool = False) -> int | None:
    """A button that analyses the project with a progress display; returns the new run id."""
    if not c.can("analyze"):
        st.caption("An analyst, manager or admin can run the analysis.")
        return None
    if not st.button(label, key=key, type="primary", icon=":material/play_arrow:"):
        return None
    if not need_actor(c, "analysis"):
        return None
    return run_analysis(c, settings=settings, method=method, force=force)


def run_analysis(c: Ctx, settings=None, method: str | None = None, force: bool = False) -> int | None:
    """Run :func:`analytics.pipeline.analyze` inside ``st.status`` with a progress bar."""
    from analytics.pipeline import analyze

    with st.status(f"Analysing {c.project}…", expanded=True) as status:
        bar = st.progress(0.0, text="starting")

        def progress(frac: float, msg: str) -> None:
            bar.progress(min(max(float(frac), 0.0), 1.0), text=msg)

        try:
            with write_workspace(c.ws, create=False) as ws:
                run_id = analyze(ws, c.project, settings=settings, method=method, actor=c.actor,
                                 progress=progress, force=force)
        except UserError as exc:
            status.update(label=f"Analysis stopped: {exc}", state="error")
            st.error(str(exc))
            return None
        status.update(label=f"Analysis complete: run {run_id}", state="complete", expanded=False)
    st.session_state["_flash"] = f"Analysis run {run_id} of {c.project} is complete; every page now shows it."
    st.rerun()
    return run_id


def flash() -> None:
    """Show (once) a message left by the previous rerun."""
    msg = st.session_state.pop("_flash", None)
    if msg:
        st.success(msg)


def user_error_box(exc: UserError) -> None:
    st.error(str(exc), icon=":material/error:")
