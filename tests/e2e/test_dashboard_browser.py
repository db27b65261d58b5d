"""The dashboard in a real browser (Playwright driving Debian's chromium, tests/e2e/pages.py) against
``textgate serve`` in its own process: sign-in by keyboard, a wrong password, every page, the live
chart, Resubmit and Forward, another account's message, sign-out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.dashboard_kit import NUMBER, dashboard_server, send, sign_in
from tests.e2e.harness import Server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Server, dict[str, Any], dict[str, Any]]]:
    yield from dashboard_server(tmp_path_factory)


def test_sign_in_pages_resubmit_forward_and_sign_out(
    gateway: tuple[Server, dict[str, Any], dict[str, Any]], page: Any
) -> None:
    server, acme, other = gateway
    mine = send(server, acme["secret"], NUMBER, "hello from the browser")
    theirs = send(server, other["secret"], "+15551238888", "other's own")

    sign_in(page, server.url, "acme-admin", "not the password")
    assert page.get_by_role("alert").inner_text() == "Wrong username or password."
    assert not [c for c in page.context.cookies() if c["name"] == "textgate_session"]

    sign_in(page, server.url, "acme-admin")
    page.wait_for_url(f"{server.url}/dashboard")
    assert page.locator("#balance").inner_text().endswith("credits")
    page.locator(".chart .uplot").wait_for()  # the chart drew (uPlot, served by the gateway)
    session = next(c for c in page.context.cookies() if c["name"] == "textgate_session")
    assert session["httpOnly"] and session["sameSite"] == "Lax"

    page.get_by_role("link", name="Messages").click()
    row = page.locator("#messages tbody tr", has_text="hello from the browser")
    assert row.count() == 1
    assert page.locator("#messages", has_text="other's own").count() == 0
    row.get_by_role("link").click()
    assert page.url.endswith(f"/dashboard/messages/{mine}")
    page.locator("#timeline li").first.wait_for()
    assert "queued" in page.locator("#timeline").inner_text()

    page.get_by_role("button", name="Resubmit").click()
    page.wait_for_url(lambda u: "/dashboard/messages/msg_" in u and not u.endswith(mine))
    assert page.locator("#field-body").inner_text() == "hello from the browser"
    page.get_by_label("Forward to").fill("+15550000011")
    page.get_by_role("button", name="Forward").click()
    page.wait_for_url(lambda u: "/dashboard/messages/msg_" in u)
    assert page.locator("#field-to").inner_text() == "+15550000011"
    with server.client(acme["secret"]) as api:
        assert api.get("/v1/account").json()["credits"] == 97  # three sends, each charged

    response = page.goto(f"{server.url}/dashboard/messages/{theirs}")
    assert response is not None and response.status == 404

    page.goto(f"{server.url}/dashboard")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{server.url}/dashboard/login")
    page.goto(f"{server.url}/dashboard/messages")
    assert page.url == f"{server.url}/dashboard/login"


def test_a_post_without_the_csrf_token_is_refused(
    gateway: tuple[Server, dict[str, Any], dict[str, Any]], page: Any
) -> None:
    server, acme, _ = gateway
    mine = send(server, acme["secret"], NUMBER, "csrf target")
    sign_in(page, server.url, "acme-admin")
    page.wait_for_url(f"{server.url}/dashboard")
    # The browser's own session cookie, a request the page did not make with its token.
    answer = page.request.post(f"{server.url}/dashboard/messages/{mine}/resubmit", form={"account": ""})
    assert answer.status == 403
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert httpx.post(f"{server.url}/dashboard/messages/{mine}/resubmit", cookies=cookies).status_code == 403


def test_every_page_renders_with_labelled_keyboard_reachable_fields(
    gateway: tuple[Server, dict[str, Any], dict[str, Any]], page: Any
) -> None:
    """Every page the navigation leads to, and every dashboard page linked from those (one level down),
    renders (200) with no field lacking a label and none taken out of the keyboard order."""
    server, acme, _ = gateway
    mine = send(server, acme["secret"], NUMBER, "labels")
    sign_in(page, server.url, "acme-admin")
    page.wait_for_url(f"{server.url}/dashboard")
    nav = page.eval_on_selector_all("nav a", "els => els.map(a => a.getAttribute('href'))")
    assert len(nav) >= 9, nav
    start = [*nav, "/dashboard?days=7", f"/dashboard/messages/{mine}"]
    seen: set[str] = set()
    queue = [(path, 0) for path in start]
    while queue:
        path, depth = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        response = page.goto(f"{server.url}{path}")
        assert response is not None and response.status == 200, path
        problems = page.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
                 .filter(el => (el.tagName !== 'BUTTON' && !(el.labels && el.labels.length)
                                && !el.getAttribute('aria-label'))
                               || el.tabIndex < 0)
                 .map(el => el.name || el.outerHTML.slice(0, 80))"""
        )
        assert problems == [], (path, problems)
        if depth == 0:
            links = page.eval_on_selector_all(
                "main a[href^='/dashboard']", "els => els.map(a => a.getAttribute('href'))"
            )
            queue += [
                (link, 1)
                for link in links
                if not link.startswith("/dashboard/static") and ".csv" not in link and "logout" not in link
            ]
    assert len(seen) >= 12, sorted(seen)
