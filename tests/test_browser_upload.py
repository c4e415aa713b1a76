"""A quality manager's upload in a real browser (issue 12), on the raw platform exports.

Headless Chromium drives `streamlit run`: the MTurk batch goes into a *new* project (never
the one being viewed), its label column is found, it is analysed per option right after
loading; the CrowdFlower report is recognised as answers worded per item before anything
is written; a rejected upload leaves the workspace (tables and files/) exactly as it was and
no upload folder in the temp directory.
"""

from __future__ import annotations

import os
import time

import pytest
from auth_support import PASSWORDS, add_accounts, me
from browser_support import CHROME_ARGS, CHROMIUM, SHOTS, require_browser, settle, sign_in, streamlit_server
from conftest import dataset_path

ADMIN = me("admin")

pytestmark = pytest.mark.browser

MTURK = ("mturk_open_domain_relations", "raw/Batch_2963456_batch_results.csv")
CF = ("crowdflower_medical_relations", "raw/RelDir_batch_01.csv")


def _state(root):
    from analytics.store import open_workspace

    with open_workspace(root, create=False, read_only=True) as ws:
        return ws.table_counts(), sorted(os.listdir(root / "files"))


def _upload(pg, files):
    pg.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files([str(f) for f in files])
    settle(pg, 3)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (pg.get_by_text("✔").count() or pg.locator('[data-testid="stAlert"]')
                                                 .count()):
        time.sleep(0.5)
    settle(pg, 1)


def _open_data(pg, url):
    """The Data page while viewing the existing project, signed in (a reload starts a new session)."""
    pg.goto(f"{url}/data?project=weather")
    settle(pg, 2)
    if pg.get_by_label("Account", exact=True).count():        # the first time; then the session cookie
        sign_in(pg, "analyst", PASSWORDS["analyst"])


def _wait_idle(pg, seconds=180):
    deadline = time.monotonic() + seconds
    time.sleep(2)
    while time.monotonic() < deadline and pg.locator('[data-testid="stStatusWidget"]').count():
        time.sleep(0.5)
    settle(pg, 2)


def test_uploads_go_where_chosen_and_rejections_change_nothing(tmp_path, monkeypatch):
    require_browser()
    from analytics.ingest import ingest_file
    from analytics.store import open_workspace

    root = tmp_path / "ws"
    with open_workspace(root) as ws:
        add_accounts(ws)
        ingest_file(ws, dataset_path(*CF), "weather", actor=ADMIN)          # the project being viewed
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    SHOTS.mkdir(parents=True, exist_ok=True)
    bad = tmp_path / "answers.csv"                           # a free-text answer column: refused
    bad.write_text("task,worker,label\n" + "".join(f"t{i % 50},w{i % 7},free text {i}\n" for i in range(400)))
    monkeypatch.setenv("TMPDIR", str(private_tmp))           # the server's temp directory only
    server = streamlit_server(root, tmp_path / "server.log")
    url = server.__enter__()
    monkeypatch.undo()
    try:
        _drive(url, root, private_tmp, bad)
    finally:
        server.__exit__(None, None, None)
    from analytics import results

    with open_workspace(root, create=False, read_only=True) as ws:
        proj = results.projects(ws.con).set_index("name")
        assert proj.loc["weather", "labels"] == 448                  # the viewed project is untouched
        new = "Batch_2963456_batch_results"
        assert proj.loc[new, "kind"] == "multilabel" and proj.loc[new, "labels"] == 210
        run = results.latest_run(ws.con, int(proj.loc[new, "project_id"]))
        assert run is not None                                       # analysed right after loading
        assert results.run_summary(ws.con, run)["summary"]["answer_kind"] == "multilabel"
    assert not list(private_tmp.glob("crowdtrust-upload-*"))


def _drive(url, root, private_tmp, bad) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 2200})
        pg.set_default_timeout(90_000)          # a loaded CI machine renders the upload box slowly
        _open_data(pg, url)

        # 1. a rejected upload: an error naming the picker, no button, nothing written, no temp folder
        before = _state(root)
        _upload(pg, [bad])
        main = pg.locator('[data-testid="stMain"]').inner_text()
        assert "free text or an id, not a label" in main and "--" not in main.split("Data", 1)[1]
        assert pg.locator("button:has-text('into new project')").count() == 0
        assert _state(root) == before
        assert not list(private_tmp.glob("crowdtrust-upload-*"))
        pg.screenshot(path=str(SHOTS / "upload_rejected.png"))

        # 2. the CrowdFlower report is recognised as answers worded per item before loading
        _open_data(pg, url)
        _upload(pg, [dataset_path(*CF)])
        assert "worded per item" in pg.locator('[data-testid="stMain"]').inner_text()
        assert _state(root) == before

        # 3. the MTurk batch: label column found, a new project by default, analysed per option
        _open_data(pg, url)
        _upload(pg, [dataset_path(*MTURK)])
        text = pg.locator('[data-testid="stMain"]').inner_text()
        assert "labels from Answer.Q1" in text and "multi-select answers" in text
        pg.locator("button:has-text('into new project')").first.click()
        _wait_idle(pg)
        pg.screenshot(path=str(SHOTS / "upload_loaded.png"))
        browser.close()
