"""Actions and Export in a real browser: `streamlit run` driven by headless Chromium (Playwright).

Select a suspect on the Actions page, preview the impact, confirm the ban with a reason,
see the entry in the history, then download the labels file and the MTurk block file on
the Export page. Screenshots go to test-output/screenshots/. Skips cleanly without
Chromium or Playwright.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from auth_support import PASSWORDS  # noqa: E402
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

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser()
    from actions_support import insert_run, make_workspace

    root = tmp_path_factory.mktemp("browser_actions")
    ws = make_workspace(root)
    insert_run(ws)
    path = ws.path
    ws.close()
    with streamlit_server(path, root / "streamlit.log") as url:
        yield url, path


def test_ban_from_the_queue_and_download_exports(server):
    from playwright.sync_api import sync_playwright

    url, ws_path = server
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)
        ctx = browser.new_context(viewport={"width": 1400, "height": 2000}, accept_downloads=True)
        pg = ctx.new_page()
        pg.set_default_timeout(90_000)
        try:
            pg.goto(f"{url}/actions")
            settle(pg)
            pg.screenshot(path=str(SHOTS / "actions_signin.png"), full_page=True)
            sign_in(pg, "manager", PASSWORDS["manager"])
            pg.locator("h1", has_text="Actions").first.wait_for()
            settle(pg)
            assert "Audit log intact" in pg.locator('[data-testid="stMain"]').inner_text()

            # select the first suspect of the queue
            pg.get_by_label("Workers to act on", exact=True).click()
            option = pg.get_by_role("option").filter(has_text="suspect").first
            worker = option.inner_text().split(" · ")[0].strip()
            option.click()
            pg.keyboard.press("Escape")
            settle(pg)
            pg.get_by_role("button", name="Preview impact").click()
            settle(pg)
            pg.get_by_text("Aggregated labels that change").first.wait_for()
            check_clean(pg, "actions preview")
            pg.screenshot(path=str(SHOTS / "actions_preview.png"), full_page=True)

            pg.get_by_label("Reason (required, kept in the audit log)").fill("answers the next class; gold confirms")
            pg.get_by_role("button", name="Ban 1 worker(s)").click()
            settle(pg)
            pg.get_by_text("banned 1 worker").first.wait_for()
            pg.get_by_text("Latest entry").first.wait_for()
            settle(pg)
            text = pg.locator('[data-testid="stMain"]').inner_text()
            assert f"ban {worker} by manager" in text and "answers the next class; gold confirms" in text
            check_clean(pg, "actions after ban")
            pg.screenshot(path=str(SHOTS / "actions_history.png"), full_page=True)

            # Export: labels, then the MTurk block file
            pg.locator('[data-testid="stSidebarNav"] a', has_text="Export").first.click()
            pg.locator("h1", has_text="Export").first.wait_for()
            settle(pg)
            labels = _download(pg)
            df = pd.read_csv(io.BytesIO(labels), dtype=str)
            assert {"task", "label", "confidence", "n_labels", "n_trusted_labels", "suspect"} <= set(df.columns)
            pg.screenshot(path=str(SHOTS / "export_labels.png"), full_page=True)

            pg.get_by_label("What", exact=True).click()
            pg.get_by_role("option", name="MTurk worker file that blocks the banned workers").click()
            settle(pg)
            block = pd.read_csv(io.BytesIO(_download(pg)), dtype=str)
            assert list(block.columns) == ["Worker ID", "UPDATE BlockStatus", "BlockReason"]
            assert block["Worker ID"].tolist() == [worker]
            check_clean(pg, "export")
            pg.screenshot(path=str(SHOTS / "export_mturk_block.png"), full_page=True)
        finally:
            browser.close()

    from analytics import actions, audit
    from analytics.store import open_workspace

    with open_workspace(ws_path, read_only=True) as ws:
        assert actions.banned_workers(ws.con, ws.project_id("p")) == [worker]
        kinds = [r[0] for r in ws.con.execute("SELECT evidence->>'kind' FROM actions WHERE action = 'export'"
                                              " ORDER BY seq").fetchall()]
        assert kinds == ["labels", "mturk-block"]
        assert audit.verify(ws.con, ws_path / audit.ANCHOR_NAME).ok


def _download(pg) -> bytes:
    pg.get_by_role("button", name="Prepare download").click()
    settle(pg)
    with pg.expect_download() as info:
        pg.get_by_role("button", name="Download file").click()
    path = info.value.path()
    return Path(path).read_bytes()
