"""A tracked link clicked, in a real browser (Playwright driving Debian's chromium, tests/e2e/pages.py)
against ``textgate serve`` in its own process: an account turns on tracked links on the Settings page (by
keyboard, through the box's label), sends a message with a link over the API, reads the short link on the
message's page, opens it, and sees the click in the message's timeline. Short links point at the gateway
itself (TEXTGATE_SHORT_LINK_URL) and the link leads to its /healthz, so nothing leaves 127.0.0.1."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.dashboard_kit import NUMBER, send, set_login, sign_in, unlabelled
from tests.e2e.harness import Server, cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, Any]]]:
    workdir = tmp_path_factory.mktemp("clicks")
    server = Server(f"sqlite:///{workdir}/textgate.db", workdir, sim_report_latency="0.1")
    server.env["TEXTGATE_SHORT_LINK_URL"] = server.url  # the port is chosen by Server itself
    acme = json.loads(cli(server.env, "accounts", "create", "acme", "--credits", "100", "--json"))
    cli(server.env, "numbers", "add", "acme", NUMBER)
    set_login(server.env, "acme", "acme-admin")
    server.start()
    try:
        yield server, acme
    finally:
        server.stop()


def test_a_click_on_a_tracked_link_shows_in_the_timeline(
    gateway: tuple[Server, dict[str, Any]], page: Any
) -> None:
    server, acme = gateway
    sign_in(page, server.url, "acme-admin")
    page.wait_for_url(f"{server.url}/dashboard")

    page.get_by_role("link", name="Settings").click()
    page.wait_for_url(f"{server.url}/dashboard/settings")
    assert unlabelled(page) == []
    box = page.get_by_label("Tracked links")
    assert not box.is_checked()
    box.focus()
    page.keyboard.press("Space")  # by keyboard: the box is reachable and named by its label
    assert box.is_checked()
    page.get_by_role("button", name="Save settings").click()
    page.wait_for_url(f"{server.url}/dashboard/settings?done=saved")
    assert page.get_by_role("status").inner_text() == "Settings saved."
    assert page.get_by_label("Tracked links").is_checked()

    target = f"{server.url}/healthz"
    message_id = send(server, acme["secret"], NUMBER, f"Is it up? See {target} now.")
    page.goto(f"{server.url}/dashboard/messages/{message_id}")
    body = page.locator("#field-body").inner_text()
    found = re.search(rf"{re.escape(server.url)}/l/[A-Za-z0-9]{{8}}", body)
    assert found, body
    assert target not in body  # the text as sent has the short link instead
    assert page.locator("#timeline .event-clicked").count() == 0

    response = page.goto(found.group(0))
    assert response is not None and response.status == 200
    assert page.url == target  # followed the 302 to the original address
    assert json.loads(page.locator("body").inner_text())["status"] == "ok"

    page.goto(f"{server.url}/dashboard/messages/{message_id}")
    clicked = page.locator("#timeline li.event-clicked")
    clicked.wait_for()
    text = clicked.inner_text()
    assert "clicked" in text and "link" in text and target in text
    assert clicked.count() == 1
