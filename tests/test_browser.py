"""The dashboard in a real browser: `streamlit run` driven by headless Chromium (Playwright).

Signs in to a freshly built demo workspace (``analytics.demo.build_demo``, as ``make run``) with
the admin's one-time password and chooses a new one, opens every page, selects the lowest-trust worker in the
workers table, opens their detail (confusion matrix and timeline), and saves one screenshot
per page under test-output/screenshots/. Skips cleanly without Chromium or Playwright.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser_support import (  # noqa: E402
    CHROME_ARGS,
    CHROMIUM,
    SHOTS,
    check_clean,
    require_browser,
    settle,
    sign_in,
    streamlit_server,
)

PAGES = [("overview", "Overview"), ("data", "Data"), ("items", "Items"), ("collusion", "Collusion"),
         ("agreement", "Agreement"), ("settings", "Settings"), ("workers", "Workers")]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser()
    from analytics.demo import build_demo

    ws = tmp_path_factory.mktemp("browser") / "demo"
    demo = build_demo(ws)                       # as `make run` does: an admin with a one-time password
    with streamlit_server(ws, tmp_path_factory.mktemp("log") / "streamlit.log") as url:
        yield url, demo


@pytest.fixture(scope="module")
def page(server):
    """One browser session, signed in as the demo admin (who replaces the one-time password first)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)
        ctx = browser.new_context(viewport={"width": 1500, "height": 2200})
        pg = ctx.new_page()
        pg.set_default_timeout(90_000)
        url, demo = server
        pg.goto(url)
        pg.get_by_label("Account", exact=True).wait_for(timeout=90_000)
        settle(pg)
        SHOTS.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(SHOTS / "signin_demo.png"), full_page=True)
        assert "reviews-simulated" not in pg.locator('[data-testid="stApp"]').inner_text()   # no data before sign-in
        sign_in(pg, demo.admin, demo.password, expect_ok=False)
        pg.get_by_text("Choose your password").first.wait_for()
        pg.get_by_label("New password", exact=True).fill("demo-admin-password")
        pg.get_by_label("New password again", exact=True).fill("demo-admin-password")
        pg.get_by_role("button", name="Save password").click()
        pg.locator('[data-testid="stSidebarNav"]').first.wait_for()
        settle(pg)
        yield pg
        browser.close()





def _open(pg, server: str, slug: str, title: str) -> None:
    """Go to a page through the sidebar navigation (one session, like a user), or by URL the first time."""
    nav = pg.locator('[data-testid="stSidebarNav"] a', has_text=title)
    if nav.count():
        nav.first.click()
    else:
        pg.goto(f"{server[0]}/{'' if slug == 'overview' else slug}")
    pg.locator("h1", has_text=title).first.wait_for()
    settle(pg)


def _pick_project(pg, name: str) -> None:
    pg.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    pg.get_by_role("option", name=name).first.click()
    settle(pg)


def test_every_page_and_worker_detail(server, page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    _open(page, server, "overview", "Overview")
    check_clean(page, "overview of the first project")
    _pick_project(page, "reviews-simulated")   # the demo project with timestamps and planted attacks
    page.locator("h1", has_text="reviews-simulated").first.wait_for()
    for slug, title in PAGES:
        _open(page, server, slug, title)
        check_clean(page, slug)
        page.screenshot(path=str(SHOTS / f"{slug}.png"), full_page=True)

    # Workers: the table is sorted by trust, lowest first; select its first row.
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 14, box["y"] + 35 + 17)   # the row-selection marker of row 1
    settle(page)
    heading = page.get_by_role("heading", name="Worker ").first
    if not heading.count() or not heading.is_visible():
        # fall back to the picker under the table (the same state the table drives)
        page.get_by_label("Worker detail", exact=True).click()
        page.keyboard.type("w_")
        page.keyboard.press("Enter")
        settle(page)
    heading = page.locator("h3", has_text="Worker ").first
    heading.wait_for()
    assert any(v in heading.inner_text() for v in ("suspect", "banned")), heading.inner_text()
    page.locator(".js-plotly-plot").last.wait_for()
    svg_text = " ".join(page.eval_on_selector_all(".js-plotly-plot .gtitle", "els => els.map(e => e.textContent)"))
    assert "Confusion matrix" in svg_text or "against the consensus" in svg_text, svg_text
    assert "Activity of" in svg_text, svg_text
    check_clean(page, "worker detail")
    page.screenshot(path=str(SHOTS / "worker_detail.png"), full_page=True)

    # Items: open an at-risk item, then follow its answerer to the worker detail.
    _open(page, server, "items", "Items")
    page.get_by_label("Item detail", exact=True).click()
    page.keyboard.press("Enter")
    settle(page)
    page.locator("h3", has_text="Item ").first.wait_for()
    check_clean(page, "item detail")
    page.screenshot(path=str(SHOTS / "item_detail.png"), full_page=True)
    page.get_by_label("Open a worker's detail", exact=True).click()
    page.keyboard.press("Enter")
    settle(page)
    page.locator("h3", has_text="Worker ").first.wait_for()
    assert "/workers" in page.url and "worker=" in page.url
    check_clean(page, "worker detail from items")


def test_upload_ingests_and_shows_quarantine(server, page, tmp_path):
    """The Data page's upload form ingests through analytics.ingest and shows the summary and quarantine."""
    f = tmp_path / "browser_upload.csv"
    f.write_text("task,worker,label,submitted_at\n"
                 "t1,alice,cat,2026-05-01T10:00:00Z\n"
                 "t1,bob,dog,2026-05-01T10:01:00Z\n"
                 "t2,alice,dog,yesterday\n"
                 "t2,carol,dog,2026-05-01T10:03:00Z\n")
    _open(page, server, "data", "Data")
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(f))
    page.get_by_text("would be quarantined").first.wait_for()      # the dry run, before anything is written
    settle(page)
    name = page.get_by_label("New project name", exact=True)
    name.fill("uploaded")
    name.press("Enter")
    settle(page)
    page.get_by_role("button", name="Load into new project uploaded").click()
    try:
        page.get_by_text("Rows read").first.wait_for()
    except Exception:
        page.screenshot(path=str(SHOTS / "data_upload_failed.png"), full_page=True)
        raise
    settle(page)
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert "Quarantined rows" in text and "unparseable" in text, text[:2000]
    check_clean(page, "data upload")
    page.screenshot(path=str(SHOTS / "data_upload.png"), full_page=True)
