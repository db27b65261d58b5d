"""The API reference as an operator on a network without internet sees it: ``textgate serve`` in its
own process, ``/docs`` and ``/redoc`` in a real headless chromium that can reach 127.0.0.1 and nothing
else (tests/e2e/browser.py). A page that still loaded Swagger UI or ReDoc from a CDN stays blank here,
and any request it made to another host is named."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.browser import Browser
from tests.e2e.harness import Server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("docs")
    server = Server(f"sqlite:///{workdir}/textgate.db", workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_swagger_ui_lists_the_operations_offline(gateway: Server, browser: Browser) -> None:
    browser.get(f"{gateway.url}/docs")
    browser.wait_for(".opblock")
    paths = {el.text for el in browser.wait_for(".opblock-summary-path")}
    assert {"/v1/messages", "/healthz", "/api/v1/messaging/message"} <= paths
    assert browser.driver.title == "textgate - Swagger UI"
    assert browser.foreign_requests(gateway.url) == []
    assert browser.refused() == []  # the page's Content-Security-Policy got in the way of nothing
    requested = browser.requests()
    assert f"{gateway.url}/docs/assets/swagger-ui-bundle.js" in requested
    assert f"{gateway.url}/openapi.json" in requested


def test_redoc_lists_the_operations_offline(gateway: Server, browser: Browser) -> None:
    browser.get(f"{gateway.url}/redoc")
    operations = browser.wait_for("[data-section-id*='/operation/']")  # built from /openapi.json
    ids = {el.get_attribute("data-section-id") for el in operations}
    assert "tag/messages/operation/create_messages_v1_messages_post" in ids
    assert "/v1/messages" in browser.text()
    assert browser.driver.title == "textgate - ReDoc"
    assert browser.foreign_requests(gateway.url) == []
    # ReDoc's menu always asks cdn.redoc.ly for the Redocly logo: the policy stops it in the browser.
    assert {url for url, _ in browser.refused()} <= {"https://cdn.redoc.ly/redoc/logo-mini.svg"}
    assert f"{gateway.url}/docs/assets/redoc.standalone.js" in browser.requests()
