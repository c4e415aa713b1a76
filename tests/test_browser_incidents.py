"""Monitoring and incident response in a real browser: `streamlit run` driven by headless Chromium.

On a weekly project whose last batch carries planted spammers (the demo's ``moderation-weekly``
built without its incident), signed in as a manager: the Monitoring page lists the alert for the poisoned week; opening
an incident from it lands on the Incidents page, which contains it (ban with the impact preview),
repairs it (corrected export), builds the HTML report and closes it with a note. Screenshots of
every step go to test-output/screenshots/. Skips cleanly without Chromium or Playwright.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from auth_support import PASSWORDS, accounts_at, me  # noqa: E402
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
    from analytics.demo import WEEKLY_PROJECT, build_weekly_incident

    root = tmp_path_factory.mktemp("browser_incidents")
    build_weekly_incident(accounts_at(root / "ws"), actor=me("manager"), incident=False)
    with streamlit_server(root / "ws", root / "streamlit.log") as url:
        yield url, root / "ws", WEEKLY_PROJECT


def _tab(pg, name: str) -> None:
    """Click a tab of the incident (waiting out the stale copy Streamlit keeps during a rerun)."""
    tabs = pg.get_by_role("tab", name=name)
    for _ in range(100):
        if tabs.count() == 1:
            break
        pg.wait_for_timeout(200)
    tabs.first.click()
    settle(pg)


def test_alert_to_incident_to_report(server):
    from playwright.sync_api import sync_playwright

    url, ws_path, project = server
    key = json.loads((ws_path / "weekly_key.json").read_text())
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)
        ctx = browser.new_context(viewport={"width": 1400, "height": 2200}, accept_downloads=True)
        pg = ctx.new_page()
        pg.set_default_timeout(120_000)
        try:
            pg.goto(url)
            sign_in(pg, "manager", PASSWORDS["manager"])
            assert {"Monitoring", "Incidents"} <= set(nav_titles(pg))
            pg.goto(f"{url}/monitoring?project={project}")
            pg.locator("h1", has_text="Monitoring").first.wait_for()
            settle(pg)
            main = pg.locator('[data-testid="stMain"]')
            text = main.inner_text()
            week = f"week of {key['poisoned_week']}"
            assert week in text and "Open alerts" in text
            check_clean(pg, "monitoring")
            pg.screenshot(path=str(SHOTS / "monitoring_alerts.png"), full_page=True)

            pg.get_by_role("button", name="Open an incident from this alert").click()
            pg.locator("h1", has_text="Incidents").first.wait_for()
            settle(pg)
            pg.get_by_text("Incident 1:").first.wait_for()
            check_clean(pg, "incidents after open")
            pg.screenshot(path=str(SHOTS / "incident_scope.png"), full_page=True)

            _tab(pg, "Contain")
            pg.get_by_text("Aggregated labels that change").first.wait_for()
            pg.screenshot(path=str(SHOTS / "incident_contain_preview.png"), full_page=True)
            pg.get_by_role("button", name="Ban ").first.click()
            settle(pg)
            pg.get_by_text("contained").first.wait_for()

            _tab(pg, "Repair")
            pg.get_by_role("button", name="Repair").last.click()
            settle(pg, pause=2)
            pg.get_by_text("repaired").first.wait_for()
            _tab(pg, "Repair")
            pg.get_by_text(".corrected.csv").first.wait_for()
            check_clean(pg, "incidents after repair")
            pg.screenshot(path=str(SHOTS / "incident_repaired.png"), full_page=True)

            _tab(pg, "Report")
            pg.get_by_role("button", name="Build the HTML report").click()
            settle(pg, pause=2)
            _tab(pg, "Report")                  # a rerun shows the first tab again
            with pg.expect_download() as info:
                pg.get_by_role("button", name="Download incident_1.html").click()
            saved = SHOTS.parent / "incident_1.html"
            info.value.save_as(saved)
            html = saved.read_text()
            assert "<script src=" not in html and "Plotly.newPlot" in html and "MITRE ATLAS" in html
            report = pg.context.new_page()
            report.goto(saved.as_uri())
            report.wait_for_timeout(2500)
            report.screenshot(path=str(SHOTS / "incident_report.png"), full_page=False)
            report.close()

            _tab(pg, "Close")
            pg.get_by_label("Review note (required)").fill("spam batch removed; platform accounts blocked")
            pg.get_by_role("button", name="Close incident").click()
            settle(pg)
            pg.get_by_text("Incident 1 closed").first.wait_for()
            check_clean(pg, "incidents after close")
            pg.screenshot(path=str(SHOTS / "incident_closed.png"), full_page=True)
        finally:
            browser.close()

    from analytics import actions, audit
    from analytics.incidents.records import get_incident
    from analytics.store import open_workspace

    with open_workspace(ws_path, read_only=True) as ws:
        pid = ws.project_id(project)
        inc = get_incident(ws.con, pid, 1)
        assert inc["status"] == "closed" and inc["opened_by"] == "manager"
        assert [s["action"] for s in inc["steps"]] == ["incident_open", "incident_contain", "incident_repair",
                                                      "incident_close"]
        assert set(key["workers"]) & set(actions.banned_workers(ws.con, pid))
        assert inc["corrected_exports"]
        assert audit.verify(ws.con, ws_path / audit.ANCHOR_NAME).ok
