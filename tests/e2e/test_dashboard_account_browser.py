"""The Webhooks, Users & credits and Reports pages in a real browser (Playwright driving Debian's chromium,
tests/e2e/pages.py) against ``textgate serve`` in its own process, its workers running: an endpoint added
by its labels receives the message's status events, a delivery is replayed, a user is created and given
credits, a report is downloaded as CSV. The same over HTTP: tests/web/test_dashboard_{webhooks,users,
reports}.py."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.dashboard_kit import NUMBER, dashboard_server, send, sign_in, unlabelled
from tests.e2e.harness import Receiver, Server

pytestmark = pytest.mark.e2e

Gateway = tuple[Server, dict[str, Any], dict[str, Any]]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from dashboard_server(tmp_path_factory)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local webhook receiver answering 204, recording what it got (tests/e2e/harness.py)."""
    with Receiver() as rec:
        yield rec


def test_webhook_user_credits_and_report_csv(
    gateway: Gateway, page: Any, receiver: Receiver, tmp_path: Path
) -> None:
    server, acme, _other = gateway
    hook_url = receiver.url
    sign_in(page, server.url, "acme-admin")
    page.wait_for_url(f"{server.url}/dashboard")

    # -- a webhook endpoint, by its labels -------------------------------------------------------------
    page.get_by_role("link", name="Webhooks").click()
    assert unlabelled(page) == []
    page.get_by_label("Endpoint URL").fill(hook_url)
    page.get_by_label("Format", exact=True).select_option("standard")
    page.get_by_label("message.status", exact=True).check()
    page.get_by_role("button", name="Add endpoint").click()
    page.wait_for_url(f"{server.url}/dashboard/webhooks?done=added")
    assert page.get_by_role("status").first.inner_text() == "Endpoint added."
    assert page.get_by_label("Signing secret").input_value().startswith("whsec_")
    assert page.locator("#endpoints tbody tr", has_text=hook_url).count() == 1

    mine = send(server, acme["secret"], NUMBER, "hello webhook")
    deadline = time.monotonic() + 20
    while "HTTP 204" not in page.locator("#deliveries").inner_text():
        assert time.monotonic() < deadline, "no delivery reached the receiver"
        time.sleep(0.3)
        page.reload()
    assert any(mine in body.decode() for _headers, body in receiver.requests)
    page.locator("#deliveries tbody tr", has_text="HTTP 204").first.get_by_role("link").click()
    page.wait_for_url(re.compile(r".*/dashboard/webhooks/deliveries/evt_[^?]+$"))
    assert "204" in page.locator("#attempts").inner_text()
    sent_before = len(receiver.requests)
    page.get_by_role("button", name="Replay").click()
    page.wait_for_url(re.compile(r".*\?done=replayed$"))
    assert page.get_by_role("status").inner_text().startswith("Delivery queued again")
    deadline = time.monotonic() + 20
    while len(receiver.requests) == sent_before:  # the worker sends it again
        assert time.monotonic() < deadline, "the replayed delivery was not sent"
        time.sleep(0.2)

    # -- a user, and credits moved to it ----------------------------------------------------------------
    page.get_by_role("link", name="Users & credits").click()
    page.wait_for_url(f"{server.url}/dashboard/users")
    assert unlabelled(page) == []
    page.get_by_label("Username", exact=True).fill("dept01")
    page.get_by_label("Password", exact=True).fill("a long sub-user password")
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Last name").fill("Lovelace")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Starting credits").fill("5")
    page.get_by_role("button", name="Create user").click()
    page.wait_for_url(f"{server.url}/dashboard/users?done=created")
    assert page.get_by_label("API secret").input_value().startswith("tgs_")
    row = page.locator("#users tbody tr", has_text="dept01")
    assert row.locator(".balance").inner_text() == "5"

    page.get_by_label("Direction").select_option("give")
    page.get_by_label("User", exact=True).select_option(label="dept01 (5)")
    page.get_by_label("Credits", exact=True).fill("20")
    page.get_by_label("Note (optional)").fill("for March")
    page.get_by_role("button", name="Move credits").click()
    page.wait_for_url(f"{server.url}/dashboard/users?done=transferred")
    assert page.get_by_role("status").inner_text() == "Credits moved."
    assert page.locator("#users tbody tr", has_text="dept01").locator(".balance").inner_text() == "25"
    assert page.locator("#transfers tbody tr", has_text="for March").count() == 1
    with server.client(acme["secret"]) as api:
        assert api.get("/v1/account").json()["credits"] == 100 - 1 - 5 - 20

    # -- a report, downloaded as CSV -----------------------------------------------------------------
    page.get_by_role("link", name="Reports").click()
    assert unlabelled(page) == []
    page.get_by_label("Report", exact=True).select_option("messages")
    page.get_by_role("button", name="Show report").click()
    page.locator("#report").wait_for()
    assert page.locator("#report tbody tr", has_text="hello webhook").count() == 1
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    download = info.value
    assert re.fullmatch(r"messages-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    table = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert table[0][:3] == ["message_id", "created", "scheduled"]
    assert [r[0] for r in table[1:]] == [mine]

    for path in ("/dashboard/ledger", "/dashboard/webhooks?done=added"):
        response = page.goto(f"{server.url}{path}")
        assert response is not None and response.status == 200, path
        assert unlabelled(page) == [], path
