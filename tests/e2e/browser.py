"""A real browser for end-to-end tests: Debian's headless chromium, driven by selenium through Debian's
chromedriver (both installed by scripts/ensure-chromium), cut off from every host but loopback.

Every name resolves to nothing (``--host-resolver-rules``) and every connection that is not to
127.0.0.1 goes to a proxy port that refuses it (``--proxy-server``), so a page that needs anything from
the internet (a CDN script, a web font) breaks as it would on a gateway without internet. The browser
also records every request its pages make (chromedriver's performance log): ``Browser.foreign_requests``
names those that went, or tried to go, anywhere but the gateway under test.

Tests take the ``browser`` fixture (tests/conftest.py): a fresh browser and profile per test.

Environment:
  TEXTGATE_TEST_BROWSER=required  the browser must be available (implied by CI=true): a missing one fails
  TEXTGATE_TEST_BROWSER=skip      never try to install it; the browser tests are skipped
  TEXTGATE_CHROMIUM, TEXTGATE_CHROMEDRIVER  other binaries than /usr/bin/chromium, /usr/bin/chromedriver
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests import needs

REPO_ROOT = Path(__file__).resolve().parents[2]
ENSURE_SCRIPT = REPO_ROOT / "scripts" / "ensure-chromium"
#: The schemes of requests that go to a host; the rest (``data:``, ``blob:``, ``chrome://``) stay inside.
WEB_SCHEMES = frozenset({"http", "https", "ws", "wss"})


class BrowserUnavailable(RuntimeError):
    """chromium or chromedriver cannot be had on this machine."""


def mode() -> str:
    """'required', 'skip' or 'auto' (from TEXTGATE_TEST_BROWSER and CI)."""
    return needs.mode("TEXTGATE_TEST_BROWSER")


def binaries() -> tuple[Path, Path]:
    return (
        Path(os.environ.get("TEXTGATE_CHROMIUM", "/usr/bin/chromium")),
        Path(os.environ.get("TEXTGATE_CHROMEDRIVER", "/usr/bin/chromedriver")),
    )


def _installed() -> bool:
    return all(os.access(path, os.X_OK) for path in binaries())


def ensure_installed() -> tuple[Path, Path]:
    """chromium and chromedriver, installed by scripts/ensure-chromium when missing (once for all the
    test processes of a run); raises BrowserUnavailable."""
    if _installed():
        return binaries()
    if mode() == "skip":
        missing = " and ".join(str(path) for path in binaries() if not os.access(path, os.X_OK))
        raise BrowserUnavailable(f"{missing} not found and TEXTGATE_TEST_BROWSER=skip forbids installing")
    lock = Path(tempfile.gettempdir()) / "textgate-ensure-chromium.lock"
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # pytest-xdist workers: one apt-get at a time
        if not _installed():
            proc = subprocess.run(
                ["bash", str(ENSURE_SCRIPT)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=1200,
                check=False,
            )
            if proc.returncode != 0 or not _installed():
                tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
                raise BrowserUnavailable(
                    f"chromium not found and {ENSURE_SCRIPT.relative_to(REPO_ROOT)} could not install it "
                    f"(exit {proc.returncode}):\n{tail}"
                )
    return binaries()


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses every connection for as long as this lasts: bound, never listening,
    so no other process can take it meanwhile."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


class Browser:
    """A selenium Chrome session (``driver``) plus the requests its pages made."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self._asked: list[tuple[str, str]] = []  # (DevTools request id, URL), redirects included
        self._blocked: dict[str, str] = {}  # request id -> why the browser itself refused it ("csp", ...)

    def get(self, url: str) -> None:
        self.driver.get(url)

    def wait_for(self, css: str, timeout: float = 30) -> list[Any]:
        """The elements matching ``css`` once there is at least one; fails naming the page's state."""
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return list(
                WebDriverWait(self.driver, timeout).until(lambda d: d.find_elements(By.CSS_SELECTOR, css))
            )
        except TimeoutException:
            raise AssertionError(
                f"no {css!r} on {self.driver.current_url} in {timeout} s; "
                f"requests: {self.requests(web=True)}; console: {self.console()}; "
                f"page text: {self.text()[:500]!r}"
            ) from None

    def text(self) -> str:
        from selenium.webdriver.common.by import By

        return str(self.driver.find_element(By.TAG_NAME, "body").text)

    def _read_log(self) -> None:
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message.get("method") == "Network.requestWillBeSent":
                self._asked.append((params["requestId"], params["request"]["url"]))
            elif message.get("method") == "Network.loadingFailed" and params.get("blockedReason"):
                self._blocked[params["requestId"]] = params["blockedReason"]

    def requests(self, *, web: bool = False) -> list[str]:
        """Every URL the pages asked for so far (documents, scripts, styles, fonts, XHR...), but those
        the browser refused itself by the page's own rules (its Content-Security-Policy): they never
        went out. The sandbox's refusals (no name resolves, the proxy refuses) do count: they went out.
        ``web``: only those to a host (http, https, ws, wss), not ``data:``, ``blob:`` or the browser's
        own ``chrome://`` pages."""
        self._read_log()
        asked = [url for rid, url in self._asked if rid not in self._blocked]
        return [url for url in asked if urlsplit(url).scheme in WEB_SCHEMES] if web else asked

    def refused(self) -> list[tuple[str, str]]:
        """(URL, reason) of the requests the browser refused by the page's own rules (``csp``, ...)."""
        self._read_log()
        return [(url, self._blocked[rid]) for rid, url in self._asked if rid in self._blocked]

    def foreign_requests(self, origin: str) -> list[str]:
        """The requests to a host other than ``origin`` (``http://127.0.0.1:8080``)."""
        want = urlsplit(origin)
        return [
            url
            for url in self.requests(web=True)
            if (urlsplit(url).scheme, urlsplit(url).netloc) != (want.scheme, want.netloc)
        ]

    def console(self) -> list[str]:
        return [f"{e['level']}: {e['message']}" for e in self.driver.get_log("browser")]


@contextlib.contextmanager
def open_browser() -> Iterator[Browser]:
    """A headless chromium with a fresh profile that can reach 127.0.0.1 only."""
    from selenium import webdriver

    chromium, chromedriver = ensure_installed()
    with refusing_port() as dead, tempfile.TemporaryDirectory(prefix="textgate-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(chromium)
        for arg in (
            "--headless=new",
            "--no-sandbox",  # as root, and in containers
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,1024",
            f"--user-data-dir={profile}",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            # No name resolves (the IP literal 127.0.0.1 needs none), and every connection but to
            # loopback goes to a port that refuses it: nothing from the internet loads.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--proxy-server=http://127.0.0.1:{dead}",
            "--proxy-bypass-list=127.0.0.1",
        ):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        service = webdriver.ChromeService(executable_path=str(chromedriver), log_output=subprocess.DEVNULL)
        try:
            driver = webdriver.Chrome(service=service, options=options)
        except Exception as exc:
            raise BrowserUnavailable(f"{chromium} with {chromedriver} did not start: {exc}") from exc
        try:
            driver.set_page_load_timeout(60)
            yield Browser(driver)
        finally:
            driver.quit()
