"""The API keys, Numbers and Settings pages in a real browser (Playwright driving Debian's chromium,
tests/e2e/pages.py) against ``textgate serve``: create a key (its secret shown once, and it works) and
revoke it, set a number's inbound forwarding, change a setting — every field found by its label."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.dashboard_kit import NUMBER, dashboard_server, sign_in, unlabelled
from tests.e2e.harness import Server

pytestmark = pytest.mark.e2e

HOOK = "http://93.184.216.34/sms/incoming.php"


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Server, dict[str, Any], dict[str, Any]]]:
    yield from dashboard_server(tmp_path_factory)


def test_keys_forwarding_and_settings(
    gateway: tuple[Server, dict[str, Any], dict[str, Any]], page: Any
) -> None:
    server, acme, _other = gateway
    sign_in(page, server.url, "acme-admin")
    page.wait_for_url(f"{server.url}/dashboard")

    # -- an API key: created, its secret once, used, revoked ------------------------------------------
    page.get_by_role("link", name="API keys", exact=True).click()
    page.wait_for_url(f"{server.url}/dashboard/keys")
    assert unlabelled(page) == []
    page.get_by_label("Name", exact=True).fill("browser@acme.example")
    page.get_by_label("BestSMS answers").select_option("plain")
    page.get_by_role("button", name="Create key").click()
    page.wait_for_url(lambda u: u.endswith("/created"))
    secret = page.get_by_label("Secret").input_value()
    assert secret.startswith("tgs_") and secret not in page.url
    assert "cannot be shown again" in page.locator("main").inner_text()
    with server.client(secret) as api:
        assert api.get("/v1/account").status_code == 200
    page.reload()
    assert page.locator("#secret-gone").is_visible() and secret not in page.content()

    page.get_by_role("link", name="Back to API keys").click()
    row = page.locator("#keys tbody tr", has_text="browser@acme.example")
    assert "plain" in row.inner_text() and "active" in row.inner_text()
    row.get_by_role("link", name="Revoke browser@acme.example…").click()
    page.get_by_role("button", name="Revoke key").click()
    page.wait_for_url(lambda u: "done=revoked" in u)
    assert "revoked" in page.get_by_role("status").inner_text()
    assert "revoked" in page.locator("#keys tbody tr", has_text="browser@acme.example").inner_text()
    with server.client(secret) as api:
        assert api.get("/v1/account").status_code == 401

    # -- a number's inbound forwarding ----------------------------------------------------------------
    page.get_by_role("link", name="Numbers", exact=True).click()
    page.get_by_role("link", name=f"Manage {NUMBER}").click()
    page.wait_for_url(f"{server.url}/dashboard/numbers/%2B{NUMBER[1:]}")
    assert unlabelled(page) == []
    page.get_by_label("Forwarding URL").fill(HOOK)
    page.get_by_label("Format").select_option("textconnect")
    page.get_by_label("Method").select_option("POST")
    page.get_by_label("auth value").fill("s3cret")
    page.get_by_role("button", name="Save forwarding").click()
    page.wait_for_url(lambda u: u.endswith("done=saved"))
    assert "Forwarding saved" in page.get_by_role("status").inner_text()
    assert page.get_by_label("Forwarding URL").input_value() == HOOK
    assert page.get_by_label("Method").input_value() == "POST"
    with server.client(acme["secret"]) as api:
        (hook,) = api.get("/v1/webhooks").json()["data"]
    assert (hook["url"], hook["number"], hook["format"]) == (HOOK, NUMBER, "textconnect")
    assert hook["options"] == {"method": "POST", "auth": "s3cret"}

    # -- a setting ------------------------------------------------------------------------------------
    page.get_by_role("link", name="Settings", exact=True).click()
    page.wait_for_url(f"{server.url}/dashboard/settings")
    assert unlabelled(page) == []
    page.get_by_label("Time zone").fill("Mars/Olympus")
    page.get_by_role("button", name="Save settings").click()
    assert page.get_by_role("alert").inner_text().startswith("Time zone: ")
    page.get_by_label("Time zone").fill("Europe/London")
    page.get_by_label("BestSMS part limit").fill("2")
    page.get_by_role("button", name="Save settings").click()
    page.wait_for_url(lambda u: u.endswith("done=saved"))
    assert page.get_by_role("status").inner_text() == "Settings saved."
    page.reload()
    assert page.get_by_label("Time zone").input_value() == "Europe/London"
    assert page.get_by_label("BestSMS part limit").input_value() == "2"
    assert page.locator("#field-price_sms_part").inner_text() == "1"  # the operator's, read-only
