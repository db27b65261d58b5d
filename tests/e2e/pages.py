"""Playwright driving Debian's chromium (the same binary as tests/e2e/browser.py, installed by
scripts/ensure-chromium), for the dashboard's browser tests. Like tests/e2e/browser.py, the browser
reaches 127.0.0.1 only: every name resolves to nothing and other connections go to a refusing port.

The ``page`` fixture (tests/conftest.py) gives a fresh browser context per test and, when the test
fails, saves a screenshot and the page's HTML under ``$TEXTGATE_TEST_ARTIFACTS`` (default
``test-artifacts/``) named after the test.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.e2e.browser import BrowserUnavailable, ensure_installed, refusing_port

ARTIFACTS = Path(os.environ.get("TEXTGATE_TEST_ARTIFACTS", "test-artifacts"))


@contextlib.contextmanager
def open_page() -> Iterator[Any]:
    from playwright.sync_api import Error, sync_playwright

    chromium, _driver = ensure_installed()
    with refusing_port() as dead, sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(
                executable_path=str(chromium),
                args=[
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                    f"--proxy-server=http://127.0.0.1:{dead}",
                    "--proxy-bypass-list=127.0.0.1",
                ],
            )
        except Error as exc:
            raise BrowserUnavailable(f"{chromium} did not start under playwright: {exc}") from exc
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()


def save_artifacts(page: Any, test_name: str) -> Path:
    """A screenshot and the HTML of ``page``, for a failed test: the screenshot's path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)[:150]
    shot = ARTIFACTS / f"{stem}.png"
    with contextlib.suppress(Exception):
        page.screenshot(path=str(shot), full_page=True)
        (ARTIFACTS / f"{stem}.html").write_text(page.content())
    return shot
