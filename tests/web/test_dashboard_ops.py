"""The dashboard for operators and the message timeline over HTTP (TestClient): the connectors' and routes'
live health on the overview (operators only, refreshed with the figures), a message's webhook deliveries
with each attempt, the ``link_tracking`` setting on the Settings page and a click in the timeline.
In a browser: tests/e2e/test_dashboard_clicks_browser.py."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.e2e.harness import Receiver
from tests.helpers import Tenant, make_tenant
from tests.web.dashboard_kit import PASSWORD, Setup, csrf_of, enqueue, send, send_due, sign_in
from textgate.config import Settings
from textgate.providers.base import Health
from textgate.service.accounts import get_account
from textgate.service.dashboard_ops import connector_health
from textgate.service.operators import create_operator
from textgate.service.users import set_login
from textgate.store.db import make_engine
from textgate.web.app import create_app
from textgate.webhooks import endpoints


# -- connector health ---------------------------------------------------------------------------------
def running_gateway(tmp_path: Path, **settings: Any) -> Iterator[tuple[TestClient, Engine, Tenant]]:
    """A gateway running its connectors (workers on), with account acme (acme-admin) and operator ops."""
    url = f"sqlite:///{tmp_path}/ops.db"
    app = create_app(Settings(database_url=url, **settings), workers=True)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        engine = make_engine(url)
        acme = make_tenant(engine, name="acme", credits=100)
        with engine.begin() as conn:
            set_login(conn, acme.account.id, "acme-admin", PASSWORD)
            create_operator(conn, "ops", PASSWORD, now=datetime.now(UTC))
        yield client, engine, acme


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[TestClient, Engine, Tenant]]:
    yield from running_gateway(tmp_path)


@pytest.fixture
def routed(tmp_path: Path) -> Iterator[tuple[TestClient, Engine, Tenant]]:
    yield from running_gateway(
        tmp_path,
        connectors=[{"name": "sim-a", "type": "simulator"}, {"name": "sim-b", "type": "simulator"}],
        routes=[
            {"name": "uk", "prefixes": ["+44"], "connectors": ["sim-b"]},
            {"name": "default", "connectors": ["sim-a", "sim-b"]},
        ],
    )


def test_an_operator_sees_the_simulator_connector_and_its_health(
    running: tuple[TestClient, Engine, Tenant],
) -> None:
    client, _engine, _acme = running
    assert sign_in(client, "ops", operator="on").status_code == 303  # type: ignore[attr-defined]
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert 'id="health"' in page.text and ">Connectors and routes</h2>" in page.text
    row = re.search(r'<tr id="connector-simulator">(.*?)</tr>', page.text, re.S)
    assert row, page.text
    assert '<th scope="row">simulator</th><td>simulator</td>' in row.group(1)
    assert 'class="health health-up">up</td>' in row.group(1)
    assert 'id="health-status">Sending: <strong class="health health-up">up</strong>' in page.text
    assert 'id="routes"' in page.text  # the configured route (the implicit one), as routes list shows it

    # The figures' polling brings it back too, live: a connector going down shows at the next refresh.
    connector = client.app.state.gateway.connector  # type: ignore[attr-defined]
    connector.health = lambda: Health.DOWN
    polled = client.get("/dashboard", headers={"HX-Request": "true"})
    assert polled.status_code == 200 and "<html" not in polled.text
    assert 'class="health health-down">down</td>' in polled.text
    assert "no connector can take messages now" in polled.text


def test_an_account_does_not_see_connector_health(running: tuple[TestClient, Engine, Tenant]) -> None:
    client, _engine, _acme = running
    assert sign_in(client, "acme-admin").status_code == 303  # type: ignore[attr-defined]
    for headers in ({}, {"HX-Request": "true"}):
        page = client.get("/dashboard", headers=headers)
        assert page.status_code == 200 and 'id="balance"' in page.text
        assert 'id="health"' not in page.text and "simulator" not in page.text


def test_routes_list_each_member_with_its_health_and_breaker(
    routed: tuple[TestClient, Engine, Tenant],
) -> None:
    client, _engine, _acme = routed
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    gateway.connector.members["sim-b"].connector.health = lambda: Health.DOWN
    view = connector_health(gateway)
    assert view["running"] and view["status"] == "degraded"
    assert [(c["name"], c["type"], c["health"], c["breaker"]["state"]) for c in view["connectors"]] == [
        ("sim-a", "simulator", "up", "closed"),
        ("sim-b", "simulator", "down", "closed"),
    ]
    assert [(r["name"], [(m["name"], m["health"]) for m in r["members"]]) for r in view["routes"]] == [
        ("uk", [("sim-b", "down")]),
        ("default", [("sim-a", "up"), ("sim-b", "down")]),
    ]
    sign_in(client, "ops", operator="on")
    page = client.get("/dashboard").text
    assert (
        '<tr id="connector-sim-b">' in page and 'sim-b (<span class="health health-down">down</span>)' in page
    )
    assert '<th scope="row">uk</th>' in page and "prefixes +44" in page


def test_a_process_without_connectors_says_health_is_unknown(setup: Setup) -> None:
    client, _engine, _acme, _other = setup  # workers off: nothing runs the connectors here
    assert connector_health(None) == {"running": False, "status": "unknown", "connectors": [], "routes": []}
    sign_in(client, "ops", operator="on")
    page = client.get("/dashboard")
    assert 'id="health"' in page.text and "Health unknown" in page.text and 'id="connectors"' not in page.text


# -- webhook deliveries in the timeline ---------------------------------------------------------------
@pytest.fixture
def receiver() -> Iterator[str]:
    """A local HTTP receiver answering 204 to every POST (tests/e2e/harness.py); yields its URL."""
    with Receiver() as rec:
        yield rec.url


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/gone"  # closed when the block ends: refused


def test_the_message_page_lists_its_webhook_deliveries_with_each_attempt(setup: Setup, receiver: str) -> None:
    client, engine, acme, other = setup
    mine = send(client, acme, body="with deliveries")
    elsewhere = send(client, acme, body="another message")
    now = datetime.now(UTC)
    with engine.begin() as conn:  # local receivers: the gateway's own guard refuses 127.0.0.1
        good = endpoints.create_endpoint(
            conn, acme.account.id, receiver, ["message.status"], now=now, allow_private=True
        )
        bad = endpoints.create_endpoint(
            conn, acme.account.id, closed_port_url(), ["message.status"], now=now, allow_private=True
        )
        theirs = endpoints.create_endpoint(
            conn, other.account.id, receiver, ["message.status"], now=now, allow_private=True
        )
    assert enqueue(engine, acme.account.id, mine) == 2
    assert enqueue(engine, acme.account.id, elsewhere) == 2
    assert enqueue(engine, other.account.id, mine) == 1  # another account's, with the same key: not shown
    assert send_due(engine) >= 3

    sign_in(client, "acme-admin")
    page = client.get(f"/dashboard/messages/{mine}")
    assert page.status_code == 200
    items = re.findall(r'<li id="delivery-([\w-]+)">', page.text)
    assert len(items) == 2, items
    assert page.text.count(f"<code>{good['url']}</code>") == 1 and f"<code>{bad['url']}</code>" in page.text
    assert theirs["id"] not in page.text
    assert '<span class="ok">HTTP 204</span>' in page.text  # the receiver's answer
    assert 'class="status status-succeeded">succeeded' in page.text
    assert 'class="status status-pending">pending' in page.text and "next attempt" in page.text
    assert re.search(r'<span class="bad">[^<]+</span> <span class="source">\d+ ms</span>', page.text)
    assert "/dashboard/webhooks/deliveries/" in page.text

    # The live part (htmx polling) carries them too; a message with none says so.
    live = client.get(f"/dashboard/messages/{mine}", headers={"HX-Request": "true"})
    assert 'id="deliveries"' in live.text and "HTTP 204" in live.text
    quiet = send(client, acme, body="nobody was told")
    assert "None: no webhook endpoint" in client.get(f"/dashboard/messages/{quiet}").text

    # An operator sees the same, with ?account=.
    client.cookies.clear()
    sign_in(client, "ops", operator="on")
    as_ops = client.get(f"/dashboard/messages/{mine}?account={acme.account.id}")
    assert as_ops.status_code == 200 and "HTTP 204" in as_ops.text and theirs["id"] not in as_ops.text
    assert f"?account={acme.account.id}" in as_ops.text.split('id="deliveries"')[1]


# -- link_tracking on the Settings page, and a click in the timeline -----------------------------------
def _settings_form(client: TestClient, **changes: str) -> dict[str, str]:
    """The Settings form as the page fills it (the box unticked unless ``link_tracking="on"``)."""
    page = client.get("/dashboard/settings")
    values = {
        "csrf": csrf_of(page.text),
        "account": "",
        "region": "US",
        "timezone": "",
        "bestsms_max_parts": "1",
        "bestsms_reply_window_hours": "72",
        "bestsms_from": "",
    }
    values.update(changes)
    return values


def test_an_account_turns_tracked_links_on_and_off_and_a_click_shows(setup: Setup) -> None:
    client, engine, acme, _other = setup
    sign_in(client, "acme-admin")
    page = client.get("/dashboard/settings").text
    box = re.search(
        r'<input type="checkbox" id="set-link_tracking" name="link_tracking" value="on"([^>]*)>', page
    )
    assert box and "checked" not in box.group(1)
    assert '<label for="set-link_tracking">Tracked links' in page

    # Without its CSRF token the form changes nothing.
    refused = client.post("/dashboard/settings", data={"link_tracking": "on"}, follow_redirects=False)
    assert refused.status_code == 403

    saved = client.post(
        "/dashboard/settings", data=_settings_form(client, link_tracking="on"), follow_redirects=False
    )
    assert saved.status_code == 303
    with engine.connect() as conn:
        assert get_account(conn, acme.account.id).settings.get("link_tracking") is True
    shown = client.get("/dashboard/settings").text
    assert re.search(r'id="set-link_tracking" name="link_tracking" value="on" checked', shown)

    message_id = send(client, acme, body="Our offer: https://shop.example.com/winter?x=1 today.")
    body = client.get(f"/dashboard/messages/{message_id}").text
    link = re.search(r"(http://[^\s<]+/l/)([A-Za-z0-9]{8})", body)
    assert link, body
    visit = client.get(f"/l/{link.group(2)}", follow_redirects=False)
    assert visit.status_code == 302 and visit.headers["location"] == "https://shop.example.com/winter?x=1"
    timeline = client.get(f"/dashboard/messages/{message_id}").text.split('id="timeline"')[1]
    assert '<li class="event-clicked"><time>' in timeline and "<strong>clicked</strong>" in timeline
    assert "https://shop.example.com/winter?x=1" in timeline

    off = client.post("/dashboard/settings", data=_settings_form(client), follow_redirects=False)
    assert off.status_code == 303
    with engine.connect() as conn:
        assert "link_tracking" not in get_account(conn, acme.account.id).settings  # removed, not False
    plain = send(client, acme, body="Plain: https://shop.example.com/spring")
    assert "https://shop.example.com/spring" in client.get(f"/dashboard/messages/{plain}").text


def test_a_refused_settings_form_keeps_the_box_as_ticked(setup: Setup) -> None:
    client, engine, acme, _other = setup
    sign_in(client, "acme-admin")
    refused = client.post(
        "/dashboard/settings",
        data=_settings_form(client, link_tracking="on", timezone="Mars/Olympus"),
        follow_redirects=False,
    )
    assert refused.status_code == 400
    assert re.search(r'id="set-link_tracking" name="link_tracking" value="on" checked', refused.text)
    with engine.connect() as conn:
        assert "link_tracking" not in get_account(conn, acme.account.id).settings  # nothing written
