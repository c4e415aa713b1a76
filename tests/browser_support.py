"""Shared plumbing of the browser tests: start `streamlit run` on a workspace, drive Debian's
Chromium with Playwright, wait for Streamlit to settle, and check no error text is shown."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--disable-dev-shm-usage"]
ERROR_TEXT = ("Traceback", "Unexpected error", "StreamlitAPIException", "KeyError", "TypeError")


def require_browser() -> None:
    """Skip the test cleanly when Chromium or Playwright is missing (fail it under
    ``CROWDTRUST_REQUIRE_DATASETS=1``, as in CI, which installs both)."""
    from conftest import missing, note_use

    note_use("browser")
    if CHROMIUM is None:
        missing("browser", "chromium is not installed (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("browser", "the playwright package is not installed (make install-dev)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit did not answer on {url}")


@contextlib.contextmanager
def streamlit_server(workspace: Path, log_path: Path, env: dict | None = None,
                     extra: list[str] | None = None) -> Iterator[str]:
    """Serve the dashboard on ``workspace`` at a free localhost port; yield its URL.
    ``extra`` goes after ``--workspace`` (e.g. ``["--key-file", path]``)."""
    port = free_port()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "streamlit_app.py"),
             "--server.port", str(port), "--server.headless", "true", "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false", "--", "--workspace", str(workspace), *(extra or [])],
            cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, stdout=log,
            stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_http(url, proc)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def settle(pg, pause: float = 0.6) -> None:
    """Wait until Streamlit has finished running the script and charts have drawn."""
    pg.wait_for_selector('[data-testid="stApp"]')
    time.sleep(0.5)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and pg.locator('[data-testid="stStatusWidget"]').count():
        time.sleep(0.2)
    time.sleep(pause)


def check_clean(pg, where: str) -> None:
    """No exception box and no error text in the page's main area."""
    assert pg.locator('[data-testid="stException"]').count() == 0, f"exception shown on {where}"
    text = pg.locator('[data-testid="stMain"]').inner_text()
    for bad in ERROR_TEXT:
        assert bad not in text, f"{bad!r} shown on {where}"


def sign_in(pg, name: str, password: str, expect_ok: bool = True) -> str:
    """Fill the sign-in form and submit it; returns the main area's text afterwards."""
    pg.get_by_label("Account", exact=True).wait_for(timeout=90_000)     # a cold server takes a while
    pg.get_by_label("Account", exact=True).fill(name)
    pg.get_by_label("Password", exact=True).fill(password)
    pg.get_by_role("button", name="Sign in", exact=True).click()
    settle(pg)
    if expect_ok:
        pg.locator('[data-testid="stSidebarNav"]').first.wait_for()
        settle(pg)
    return pg.locator('[data-testid="stMain"]').inner_text()


def nav_titles(pg) -> list[str]:
    """The page titles the sidebar navigation offers."""
    return [t.strip().splitlines()[-1].strip() for t in pg.locator('[data-testid="stSidebarNav"] a').all_inner_texts()]
