"""The dashboard's Webhooks page over HTTP (TestClient): endpoints added and removed with the API's checks,
the secret shown once, recent deliveries with their attempts, a delivery's page, Replay, CSRF, tenancy.
In a browser: tests/e2e/test_dashboard_account_browser.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.e2e.harness import Receiver
from tests.web.dashboard_kit import Setup, csrf_of, enqueue, send_due, sign_in
from textgate.webhooks import endpoints

PUBLIC_URL = "https://93.184.215.14/hooks/sms"  # a literal public address: no DNS, never contacted


def sign_in_as(client: TestClient, username: str, **extra: str) -> None:
    """Sign in afresh (signed in already, the sign-in form leads to the overview)."""
    client.cookies.clear()
    r = sign_in(client, username, **extra)
    assert getattr(r, "status_code", None) == 303


def page_csrf(client: TestClient, path: str = "/dashboard/webhooks") -> str:
    return csrf_of(client.get(path).text)


def add(client: TestClient, csrf: str, **fields: Any) -> Any:
    data = {"csrf": csrf, "url": PUBLIC_URL, "format": "standard", **fields}
    return client.post("/dashboard/webhooks", data=data, follow_redirects=False)


def public_delivery(engine: Engine, account_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """An endpoint at PUBLIC_URL (never contacted) and the delivery of an event queued for it."""
    with engine.begin() as conn:
        ep = endpoints.create_endpoint(
            conn, account_id, PUBLIC_URL, ["message.status"], now=datetime.now(UTC), allow_private=False
        )
    enqueue(engine, account_id)
    with engine.connect() as conn:
        [delivery] = endpoints.list_deliveries(conn, account_id, ep["id"])
    return ep, delivery


@pytest.fixture
def receiver() -> Iterator[str]:
    """A local HTTP receiver answering 204 to every POST (tests/e2e/harness.py); yields its URL."""
    with Receiver() as rec:
        yield rec.url


def test_the_page_renders_for_an_account_and_an_operator(setup: Setup) -> None:
    client, _engine, acme, _ = setup
    sign_in_as(client, "acme-admin")
    r = client.get("/dashboard/webhooks")
    assert r.status_code == 200
    assert 'id="endpoints"' in r.text and 'id="deliveries"' in r.text and 'id="add-endpoint"' in r.text
    assert '<label for="url">' in r.text and '<label for="format">' in r.text
    assert "default-src 'none'" in r.headers["content-security-policy"]

    sign_in_as(client, "ops", operator="1")
    picker = client.get("/dashboard/webhooks")
    assert picker.status_code == 200 and "Enter an account id" in picker.text
    chosen = client.get(f"/dashboard/webhooks?account={acme.account.id}")
    assert chosen.status_code == 200 and 'id="add-endpoint"' in chosen.text
    assert f'name="account" value="{acme.account.id}"' in chosen.text
    assert client.get("/dashboard/webhooks?account=acc_nobody").status_code == 404


def test_an_added_endpoint_is_listed_shows_its_secret_once_and_receives_deliveries(setup: Setup) -> None:
    client, engine, acme, _ = setup
    sign_in_as(client, "acme-admin")
    r = add(client, page_csrf(client), events="message.status", statuses="delivered")
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/webhooks?done=added"
    with engine.connect() as conn:
        [made] = endpoints.list_endpoints(conn, acme.account.id)
        secret = endpoints.get_endpoint(conn, acme.account.id, made["id"])["secret"]
    assert made["url"] == PUBLIC_URL and made["events"] == ["message.status"]
    assert made["statuses"] == ["delivered"]

    shown = client.get(r.headers["location"])
    assert shown.status_code == 200 and "Endpoint added." in shown.text
    assert secret in shown.text and 'id="new-secret"' in shown.text
    assert PUBLIC_URL in shown.text
    again = client.get(r.headers["location"])
    assert secret not in again.text  # shown once
    assert secret not in client.get("/dashboard/webhooks").text

    assert enqueue(engine, acme.account.id) == 1
    with engine.connect() as conn:
        [delivery] = endpoints.list_deliveries(conn, acme.account.id, made["id"])
    assert delivery["status"] == "pending" and delivery["event_type"] == "message.status"
    listing = client.get("/dashboard/webhooks")
    assert f'id="delivery-{delivery["id"]}"' in listing.text and "none yet" in listing.text
    assert delivery["next_attempt_at"] in listing.text
    one = client.get(f"/dashboard/webhooks?endpoint={made['id']}")
    assert f'id="delivery-{delivery["id"]}"' in one.text


def test_the_default_events_are_the_formats_and_an_endpoint_can_be_removed(setup: Setup) -> None:
    client, engine, acme, _ = setup
    sign_in_as(client, "acme-admin")
    assert add(client, page_csrf(client), format="textconnect").status_code == 303
    with engine.connect() as conn:
        [made] = endpoints.list_endpoints(conn, acme.account.id)
    assert made["format"] == "textconnect" and made["events"] == ["message.received"]
    r = client.post(
        f"/dashboard/webhooks/{made['id']}/remove", data={"csrf": page_csrf(client)}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/webhooks?done=removed"
    with engine.connect() as conn:
        assert endpoints.list_endpoints(conn, acme.account.id) == []
    assert "Endpoint removed" in client.get(r.headers["location"]).text


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"format": "textconnect", "events": "message.status"}, "events", "carries only message.received"),
        ({"url": "http://127.0.0.1:9/hook"}, "url", ""),
        ({"url": "http://10.0.0.5/hook"}, "url", ""),
        ({"url": "ftp://93.184.215.14/x"}, "url", "scheme"),
        ({"format": "nosuch"}, "format", "unknown format"),
        ({"options": "colour=blue"}, "options.colour", "has no option"),
        ({"number": "+15551238888"}, "number", "not a number of this account"),
    ],
)
def test_a_refused_endpoint_names_the_field_and_writes_nothing(
    setup: Setup, fields: dict[str, str], field: str, words: str
) -> None:
    client, engine, acme, _ = setup
    sign_in_as(client, "acme-admin")
    r = add(client, page_csrf(client), **fields)
    assert r.status_code == 400, r.text
    assert f'data-field="{field}"' in r.text and f"<strong>{field}</strong>" in r.text
    assert words in r.text
    assert 'id="add-endpoint"' in r.text  # the form again, with what was typed
    with engine.connect() as conn:
        assert endpoints.list_endpoints(conn, acme.account.id) == []


def test_a_delivery_shows_its_attempts_and_replay_queues_it_again(setup: Setup, receiver: str) -> None:
    client, engine, acme, _ = setup
    with engine.begin() as conn:  # a local receiver: the gateway's own guard refuses 127.0.0.1
        ep = endpoints.create_endpoint(
            conn, acme.account.id, receiver, ["message.status"], now=datetime.now(UTC), allow_private=True
        )
    enqueue(engine, acme.account.id)
    assert send_due(engine) == 1
    with engine.connect() as conn:
        [delivery] = endpoints.list_deliveries(conn, acme.account.id, ep["id"])
    assert delivery["status"] == "succeeded" and len(delivery["attempts"]) == 1

    sign_in_as(client, "acme-admin")
    listing = client.get("/dashboard/webhooks")
    assert "HTTP 204" in listing.text
    page = client.get(f"/dashboard/webhooks/deliveries/{delivery['id']}")
    assert page.status_code == 200
    assert 'id="attempts"' in page.text and "<td>204</td>" in page.text and 'id="payload"' in page.text
    assert 'id="field-status" class="status status-succeeded">succeeded' in page.text

    r = client.post(
        f"/dashboard/webhooks/deliveries/{delivery['id']}/replay",
        data={"csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/dashboard/webhooks/deliveries/{delivery['id']}?done=replayed"
    with engine.connect() as conn:
        queued = endpoints.get_delivery(conn, acme.account.id, delivery["id"])
    assert queued["status"] == "pending" and queued["attempt_count"] == 0 and queued["next_attempt_at"]
    shown = client.get(r.headers["location"])
    assert "Delivery queued again" in shown.text and "status-pending" in shown.text

    # Still pending: a second replay is refused, naming the field.
    refused = client.post(
        f"/dashboard/webhooks/deliveries/{delivery['id']}/replay",
        data={"csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert refused.status_code == 400 and "<strong>delivery_id</strong>" in refused.text

    assert send_due(engine) == 1  # the worker sends it again: a new attempt
    with engine.connect() as conn:
        sent = endpoints.get_delivery(conn, acme.account.id, delivery["id"])
    assert sent["status"] == "succeeded" and len(sent["attempts"]) == 2


def test_a_post_without_the_csrf_token_is_refused(setup: Setup) -> None:
    client, engine, acme, _ = setup
    ep, delivery = public_delivery(engine, acme.account.id)
    sign_in_as(client, "acme-admin")
    assert client.post("/dashboard/webhooks", data={"url": PUBLIC_URL}).status_code == 403
    assert client.post("/dashboard/webhooks", data={"url": PUBLIC_URL, "csrf": "forged"}).status_code == 403
    assert client.post(f"/dashboard/webhooks/{ep['id']}/remove").status_code == 403
    assert client.post(f"/dashboard/webhooks/deliveries/{delivery['id']}/replay").status_code == 403
    with engine.connect() as conn:
        assert [e["id"] for e in endpoints.list_endpoints(conn, acme.account.id)] == [ep["id"]]


def test_another_accounts_endpoint_and_delivery_are_not_found(setup: Setup) -> None:
    client, engine, _acme, other = setup
    theirs, delivery = public_delivery(engine, other.account.id)
    sign_in_as(client, "acme-admin")
    csrf = page_csrf(client)
    listing = client.get("/dashboard/webhooks")
    assert theirs["id"] not in listing.text and delivery["id"] not in listing.text
    assert client.get(f"/dashboard/webhooks?endpoint={theirs['id']}").status_code == 404
    assert client.get(f"/dashboard/webhooks/deliveries/{delivery['id']}").status_code == 404
    # An account's ?account= is ignored: it always sees its own.
    assert delivery["id"] not in client.get(f"/dashboard/webhooks?account={other.account.id}").text
    r = client.post(f"/dashboard/webhooks/{theirs['id']}/remove", data={"csrf": csrf})
    assert r.status_code == 404
    r = client.post(f"/dashboard/webhooks/deliveries/{delivery['id']}/replay", data={"csrf": csrf})
    assert r.status_code == 404
    with engine.connect() as conn:
        assert [e["id"] for e in endpoints.list_endpoints(conn, other.account.id)] == [theirs["id"]]

    # The operator reaches it through ?account=.
    sign_in_as(client, "ops", operator="1")
    page = client.get(f"/dashboard/webhooks/deliveries/{delivery['id']}?account={other.account.id}")
    assert page.status_code == 200 and delivery["id"] in page.text
