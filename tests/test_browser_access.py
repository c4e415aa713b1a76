"""Sign-in and roles in a real browser: `streamlit run` driven by headless Chromium (Playwright).

Checks the issue's list: without signing in no project data is visible (not even through a
page's address); a viewer has no ban, export or settings controls, and a direct call of the
ban function with a viewer identity is refused; a manager's ban is recorded under the
manager's account; ten wrong passwords lock the account and every one is audited; a reload
keeps the session and signing out ends it. Screenshots of the sign-in page and of a
viewer's and a manager's view go to test-output/screenshots/.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from auth_support import PASSWORDS, me  # noqa: E402
from browser_support import (  # noqa: E402
    CHROME_ARGS,
    CHROMIUM,
    SHOTS,
    check_clean,
    nav_titles,
    require_browser,
    settle,
    sign_in,
    streamlit_server,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser()
    from actions_support import FLIPPERS, insert_run, make_workspace

    root = tmp_path_factory.mktemp("browser_access")
    ws = make_workspace(root)
    insert_run(ws)
    path = ws.path
    ws.close()
    with streamlit_server(path, root / "streamlit.log") as url:
        yield url, path, FLIPPERS


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)
        yield b
        b.close()


def _page(browser):
    """A fresh browser context: its own cookies, like another person's browser."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1800})
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    return pg


def _text(pg) -> str:
    return pg.locator('[data-testid="stApp"]').inner_text()


def _open(pg, title: str) -> str:
    pg.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
    pg.locator("h1", has_text=title).first.wait_for()
    settle(pg)
    return pg.locator('[data-testid="stMain"]').inner_text()


def test_nothing_is_visible_without_signing_in(server, browser):
    url, _, flippers = server
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg = _page(browser)
    for path in ("", "/workers", "/actions", "/export", "/data"):
        pg.goto(url + path)
        pg.get_by_label("Account", exact=True).wait_for(timeout=90_000)
        settle(pg)
        text = _text(pg)
        assert "Sign in" in text and "Page not found" not in text, path
        assert not any(w in text for w in (*flippers, "h00", "Project")), (path, text[:500])
        assert pg.locator('[data-testid="stSidebarNav"]').count() == 0
        assert pg.locator('[data-testid="stDataFrame"]').count() == 0
    pg.goto(url)
    pg.get_by_label("Account", exact=True).wait_for()
    settle(pg)
    pg.screenshot(path=str(SHOTS / "signin.png"), full_page=True)
    pg.context.close()


def test_viewer_reads_but_has_no_ban_export_or_settings_controls(server, browser):
    url, ws_path, flippers = server
    pg = _page(browser)
    pg.goto(url)
    sign_in(pg, "viewer", PASSWORDS["viewer"])
    titles = nav_titles(pg)
    assert {"Overview", "Workers", "Items", "Actions", "Data"} <= set(titles)
    assert not {"Export", "Settings", "Accounts", "Red team"} & set(titles), titles
    main = _open(pg, "Workers")
    assert flippers[0] in main or pg.locator('[data-testid="stDataFrame"]').count()   # the data is readable
    main = _open(pg, "Actions")
    check_clean(pg, "actions as viewer")
    assert "can read the review queue" in main
    for name in ("Preview impact", "Ban", "Unban", "Record decision"):
        assert pg.get_by_role("button", name=name).count() == 0, name
    pg.screenshot(path=str(SHOTS / "viewer_actions.png"), full_page=True)
    main = _open(pg, "Data")
    assert "Loading files is for analysts" in main
    assert pg.locator('[data-testid="stFileUploader"]').count() == 0
    for slug in ("export", "settings", "accounts"):        # typed addresses do not open them either
        pg.goto(f"{url}/{slug}")
        pg.locator('[data-testid="stSidebarNav"]').first.wait_for()
        settle(pg)
        assert pg.get_by_role("button", name="Prepare download").count() == 0
        assert pg.get_by_role("button", name="Save settings").count() == 0
        assert pg.locator("h1", has_text="Accounts").count() == 0
    pg.context.close()

    # below the UI: the ban function itself refuses the viewer
    from analytics import actions
    from analytics.access import AccessDenied
    from analytics.store import open_workspace

    with open_workspace(ws_path, wait_s=30) as ws, pytest.raises(AccessDenied, match="viewer and may not ban"):
        actions.ban(ws, "p", [flippers[0]], "viewer tries", me("viewer"))


def test_manager_ban_is_recorded_under_the_manager_and_session_survives_reload(server, browser):
    url, ws_path, flippers = server
    pg = _page(browser)
    pg.goto(url + "/actions")
    sign_in(pg, "manager", PASSWORDS["manager"])
    pg.locator("h1", has_text="Actions").first.wait_for()
    settle(pg)
    assert {"Export", "Actions"} <= set(nav_titles(pg)) and "Accounts" not in nav_titles(pg)
    pg.reload()                                        # the session cookie brings the account back
    pg.locator("h1", has_text="Actions").first.wait_for(timeout=90_000)
    settle(pg)
    assert "manager · manager" in pg.locator('[data-testid="stSidebar"]').inner_text()
    worker = flippers[1]
    pg.get_by_label("Workers to act on", exact=True).click()
    pg.get_by_role("option").filter(has_text=worker).first.click()
    pg.keyboard.press("Escape")
    settle(pg)
    pg.get_by_role("button", name="Preview impact").click()
    settle(pg)
    pg.get_by_label("Reason (required, kept in the audit log)").fill("flips labels; browser check")
    pg.get_by_role("button", name="Ban 1 worker(s)").click()
    pg.get_by_text("banned 1 worker").first.wait_for()
    settle(pg)
    check_clean(pg, "actions as manager")
    pg.screenshot(path=str(SHOTS / "manager_actions.png"), full_page=True)
    pg.get_by_role("button", name="Sign out").click()
    pg.get_by_label("Account", exact=True).wait_for()
    pg.reload()                                        # signed out stays signed out
    pg.get_by_label("Account", exact=True).wait_for(timeout=90_000)
    settle(pg)
    assert pg.locator('[data-testid="stSidebarNav"]').count() == 0
    pg.context.close()

    from analytics import audit
    from analytics.store import open_workspace

    with open_workspace(ws_path, read_only=True, wait_s=30) as ws:
        rows = ws.con.execute("SELECT actor, reason FROM actions WHERE action = 'ban' AND target = ?",
                              [worker]).fetchall()
        assert rows == [("manager", "flips labels; browser check")]
        kinds = [r[0] for r in ws.con.execute("SELECT action FROM actions WHERE target_kind = 'account' AND "
                                              "target = 'manager' ORDER BY seq").fetchall()]
        assert kinds[:1] == ["sign-in"] and kinds[-1] == "sign-out"
        assert audit.verify(ws.con, ws_path / audit.ANCHOR_NAME).ok


def test_ten_wrong_passwords_lock_the_account_and_are_audited(server, browser):
    from analytics.signin import DEFAULT_SETTINGS

    url, ws_path, _ = server
    pg = _page(browser)
    pg.goto(url)
    messages = []
    for i in range(10):
        if i >= DEFAULT_SETTINGS.throttle_after:
            time.sleep(DEFAULT_SETTINGS.throttle_s + 0.3)        # the throttle spaces attempts out
        sign_in(pg, "analyst", f"wrong-password-{i}", expect_ok=False)
        messages.append(pg.locator('[data-testid="stAlert"]').last.inner_text())
    assert all("wrong" in m for m in messages), messages
    assert "now locked" in messages[-1]
    time.sleep(DEFAULT_SETTINGS.throttle_s + 0.3)
    sign_in(pg, "analyst", PASSWORDS["analyst"], expect_ok=False)        # the right password no longer works
    assert "locked" in pg.locator('[data-testid="stAlert"]').last.inner_text()
    assert pg.locator('[data-testid="stSidebarNav"]').count() == 0
    pg.screenshot(path=str(SHOTS / "signin_locked.png"), full_page=True)
    pg.context.close()

    from analytics import audit
    from analytics.store import open_workspace

    with open_workspace(ws_path, read_only=True, wait_s=30) as ws:
        events = ws.con.execute("SELECT action, reason FROM actions WHERE target_kind = 'account' AND "
                                "target = 'analyst' ORDER BY seq").fetchall()
        assert [e[0] for e in events] == ["sign-in-failed"] * 10 + ["lockout"]
        assert ws.con.execute("SELECT locked_at IS NOT NULL, failed_count FROM accounts WHERE name = 'analyst'"
                              ).fetchall() == [(True, 10)]
        assert audit.verify(ws.con, ws_path / audit.ANCHOR_NAME).ok


def test_a_ban_waits_for_another_process_and_says_busy_retrying(server, browser):
    """A command-line writer holds the workspace: the dashboard says "busy, retrying" and the
    ban lands when it is released, instead of a lock error."""
    import subprocess
    import textwrap

    url, ws_path, flippers = server
    worker = flippers[2]
    pg = _page(browser)
    pg.goto(url + "/actions")
    sign_in(pg, "manager", PASSWORDS["manager"])
    pg.locator("h1", has_text="Actions").first.wait_for()
    settle(pg)
    pg.get_by_label("Workers to act on", exact=True).click()
    pg.get_by_role("option").filter(has_text=worker).first.click()
    pg.keyboard.press("Escape")
    settle(pg)
    pg.get_by_role("button", name="Preview impact").click()
    settle(pg)
    pg.get_by_label("Reason (required, kept in the audit log)").fill("while the CLI writes")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time, duckdb
        con = duckdb.connect({str(ws_path / 'workspace.duckdb')!r})
        print("ready", flush=True)
        time.sleep(8)
        con.close()
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        pg.get_by_role("button", name="Ban 1 worker(s)").click()
        pg.get_by_text("Busy, retrying").first.wait_for(timeout=30_000)
        pg.screenshot(path=str(SHOTS / "busy_retrying.png"), full_page=True)
        pg.get_by_text("banned 1 worker").first.wait_for(timeout=90_000)
    finally:
        holder.wait(timeout=60)
    settle(pg)
    check_clean(pg, "actions after waiting")
    pg.context.close()
