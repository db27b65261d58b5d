"""``/v1/webhooks`` through the real app: create, list, read, delete, deliveries, replay, tenancy, errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from textgate.config import Settings
from textgate.domain.clock import utcnow
from textgate.service.accounts import create_account
from textgate.store.schema import webhook_deliveries
from textgate.webhooks import outbox

app_module = pytest.importorskip("textgate.web.app")

PUBLIC_URL = "https://93.184.216.34/hook"  # a literal public IP: no DNS needed

MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(engine: sa.Engine) -> Iterator[MakeClient]:
    clients: list[TestClient] = []

    def make(*, allow_private: bool = False) -> TestClient:
        settings = Settings(allow_private_urls=allow_private, run_workers=False)
        client = TestClient(app_module.create_app(settings, engine=engine, workers=False))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def new_account(engine: sa.Engine, name: str) -> tuple[str, dict[str, str]]:
    with engine.begin() as conn:
        account, key = create_account(conn, name, now=utcnow())
    return account.id, {"Authorization": f"Bearer {key.secret}"}


def status_events(engine: sa.Engine, account_id: str, *statuses: str) -> None:
    """Queue ``message.status`` events for one message, one per status, as status changes would."""
    with engine.begin() as conn:
        for status in statuses:
            outbox.enqueue_event(
                conn,
                account_id,
                "message.status",
                {"id": "msg_1", "status": status},
                order_key="msg_1",
                now=utcnow(),
            )


def error_of(resp: Any) -> dict[str, Any]:
    body: dict[str, Any] = resp.json()["error"]
    return body


def test_create_list_get_delete(engine: sa.Engine, make_client: MakeClient) -> None:
    client = make_client()
    _acme, auth = new_account(engine, "acme")

    resp = client.post("/v1/webhooks", json={"url": PUBLIC_URL}, headers=auth)
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created["id"].startswith("wh_")
    assert created["url"] == PUBLIC_URL
    assert created["events"] == list(outbox.EVENT_TYPES)
    assert created["secret"].startswith("whsec_")
    assert created["created_at"].endswith("Z")

    only_status = client.post(
        "/v1/webhooks", json={"url": PUBLIC_URL + "/2", "events": ["message.status"]}, headers=auth
    ).json()
    assert only_status["events"] == ["message.status"]

    listed = client.get("/v1/webhooks", headers=auth)
    assert listed.status_code == 200
    data = listed.json()["data"]
    assert [e["id"] for e in data] == [created["id"], only_status["id"]]
    assert all("secret" not in e for e in data)

    got = client.get(f"/v1/webhooks/{created['id']}", headers=auth)
    assert got.status_code == 200 and got.json() == created  # the owner sees the secret again

    gone = client.delete(f"/v1/webhooks/{created['id']}", headers=auth)
    assert gone.status_code == 204 and gone.content == b""
    assert client.get(f"/v1/webhooks/{created['id']}", headers=auth).status_code == 404
    assert client.delete(f"/v1/webhooks/{created['id']}", headers=auth).status_code == 404
    assert [e["id"] for e in client.get("/v1/webhooks", headers=auth).json()["data"]] == [only_status["id"]]


def test_requires_authentication(engine: sa.Engine, make_client: MakeClient) -> None:
    client = make_client()
    assert client.get("/v1/webhooks").status_code == 401
    assert client.post("/v1/webhooks", json={"url": PUBLIC_URL}).status_code == 401
    assert client.get("/v1/webhooks", headers={"Authorization": "Bearer tgs_nope"}).status_code == 401


def test_tenants_only_see_their_own(engine: sa.Engine, make_client: MakeClient) -> None:
    client = make_client()
    acme, acme_auth = new_account(engine, "acme")
    _evil, evil_auth = new_account(engine, "evil")
    ep = client.post("/v1/webhooks", json={"url": PUBLIC_URL}, headers=acme_auth).json()
    with engine.begin() as conn:
        outbox.enqueue_event(conn, acme, "message.status", {"id": "msg_1"}, order_key="msg_1", now=utcnow())
        conn.execute(sa.update(webhook_deliveries).values(status="failed", due_at=None))
        delivery_id = conn.execute(sa.select(webhook_deliveries.c.id)).scalar_one()

    assert client.get("/v1/webhooks", headers=evil_auth).json() == {"data": []}
    for method, path in (
        ("GET", f"/v1/webhooks/{ep['id']}"),
        ("DELETE", f"/v1/webhooks/{ep['id']}"),
        ("GET", f"/v1/webhooks/{ep['id']}/deliveries"),
        ("POST", f"/v1/webhooks/deliveries/{delivery_id}/replay"),
    ):
        resp = client.request(method, path, headers=evil_auth)
        assert resp.status_code == 404, (method, path, resp.text)
        assert error_of(resp)["code"] == "not_found"
    # Still there for its owner.
    assert client.get(f"/v1/webhooks/{ep['id']}", headers=acme_auth).status_code == 200


def test_deliveries_and_replay(engine: sa.Engine, make_client: MakeClient) -> None:
    client = make_client()
    acme, auth = new_account(engine, "acme")
    ep = client.post("/v1/webhooks", json={"url": PUBLIC_URL}, headers=auth).json()
    status_events(engine, acme, "queued", "delivered")

    resp = client.get(f"/v1/webhooks/{ep['id']}/deliveries", headers=auth)
    assert resp.status_code == 200
    data = resp.json()["data"]
    assert [d["payload"]["data"]["status"] for d in data] == ["delivered", "queued"]  # newest first
    assert all(d["status"] == "pending" and d["attempts"] == [] for d in data)
    assert client.get(f"/v1/webhooks/{ep['id']}/deliveries?limit=1", headers=auth).json()["data"] == data[:1]
    assert client.get(f"/v1/webhooks/{ep['id']}/deliveries?limit=0", headers=auth).status_code == 422

    first = data[1]["id"]
    pending = client.post(f"/v1/webhooks/deliveries/{first}/replay", headers=auth)
    assert pending.status_code == 409  # still pending: nothing to replay yet

    with engine.begin() as conn:
        conn.execute(
            sa.update(webhook_deliveries)
            .where(webhook_deliveries.c.id == first)
            .values(status="failed", due_at=None, last_error="HTTP 500")
        )
    replayed = client.post(f"/v1/webhooks/deliveries/{first}/replay", headers=auth)
    assert replayed.status_code == 202, replayed.text
    body = replayed.json()
    assert body["id"] == first and body["status"] == "pending" and body["next_attempt_at"]

    assert client.post("/v1/webhooks/deliveries/evt_missing/replay", headers=auth).status_code == 404


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"url": "ftp://93.184.216.34/hook"}, 400, "url"),
        ({"url": "https://user:pass@93.184.216.34/hook"}, 400, "url"),
        ({"url": "not a url"}, 400, "url"),
        ({"url": PUBLIC_URL, "events": []}, 400, "events"),
        ({"url": PUBLIC_URL, "events": ["message.nope"]}, 400, "events"),
        ({"events": ["message.status"]}, 422, "url"),
        ({"url": PUBLIC_URL, "events": "message.status"}, 422, "events"),
        ({"url": PUBLIC_URL, "statuses": []}, 400, "statuses"),
        ({"url": PUBLIC_URL, "statuses": ["delivered", "queued"]}, 400, "statuses"),
        ({"url": PUBLIC_URL, "statuses": ["received"]}, 400, "statuses"),
        ({"url": PUBLIC_URL, "statuses": "delivered"}, 422, "statuses"),
        ({"url": PUBLIC_URL, "options": {"token": "x"}}, 400, "options.token"),  # standard takes none
        ({"url": PUBLIC_URL, "format": "textconnect", "options": {"method": "PUT"}}, 400, "options.method"),
        ({"url": PUBLIC_URL, "format": "textconnect", "options": {"auth": 7}}, 400, "options.auth"),
        # A format that carries inbound messages only would never send a status: refused, not kept silent.
        ({"url": PUBLIC_URL, "format": "textbetter_v2", "events": ["message.status"]}, 400, "events"),
        (
            {"url": PUBLIC_URL, "format": "textconnect", "events": ["message.received", "message.status"]},
            400,
            "events",
        ),
        (
            {"url": PUBLIC_URL, "format": "bestsms_json", "options": {"timezone": "Mars/Base"}},
            400,
            "options.timezone",
        ),
    ],
)
def test_invalid_requests_name_the_field(
    engine: sa.Engine, make_client: MakeClient, payload: dict[str, Any], status: int, field: str
) -> None:
    client = make_client()
    _acme, auth = new_account(engine, "acme")
    resp = client.post("/v1/webhooks", json=payload, headers=auth)
    assert resp.status_code == status, resp.text
    assert error_of(resp)["field"] == field
    assert client.get("/v1/webhooks", headers=auth).json() == {"data": []}


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9000/hook", "http://localhost/hook", "http://169.254.169.254/", "http://[::1]/"]
)
def test_private_urls_follow_the_setting(engine: sa.Engine, make_client: MakeClient, url: str) -> None:
    _acme, auth = new_account(engine, "acme")
    strict = make_client(allow_private=False)
    resp = strict.post("/v1/webhooks", json={"url": url}, headers=auth)
    assert resp.status_code == 400
    assert error_of(resp)["code"] == "validation" and error_of(resp)["field"] == "url"

    relaxed = make_client(allow_private=True)
    resp = relaxed.post("/v1/webhooks", json={"url": url}, headers=auth)
    assert resp.status_code == 201, resp.text


def test_statuses_limit_which_status_events_an_endpoint_gets(
    engine: sa.Engine, make_client: MakeClient
) -> None:
    """An endpoint with ``statuses`` hears about those statuses only (say, final ones); inbound messages and
    other endpoints are unaffected."""
    client = make_client()
    acme, auth = new_account(engine, "acme")
    final = client.post(
        "/v1/webhooks",
        json={"url": PUBLIC_URL, "statuses": ["undelivered", "delivered", "delivered"]},
        headers=auth,
    )
    assert final.status_code == 201, final.text
    assert final.json()["statuses"] == ["delivered", "undelivered"]  # lifecycle order, once each
    every = client.post("/v1/webhooks", json={"url": PUBLIC_URL + "/all"}, headers=auth).json()
    assert every["statuses"] is None
    status_events(engine, acme, "sent", "delivered")
    with engine.begin() as conn:
        outbox.enqueue_event(
            conn,
            acme,
            "message.received",
            {"id": "msg_2", "status": "received", "direction": "inbound"},
            order_key="msg_2",
            now=utcnow(),
        )

    def heard(endpoint_id: str) -> list[tuple[str, str]]:
        data = client.get(f"/v1/webhooks/{endpoint_id}/deliveries", headers=auth).json()["data"]
        return sorted((d["event_type"], d["payload"]["data"]["status"]) for d in data)

    assert heard(final.json()["id"]) == [("message.received", "received"), ("message.status", "delivered")]
    assert heard(every["id"]) == [
        ("message.received", "received"),
        ("message.status", "delivered"),
        ("message.status", "sent"),
    ]


def test_format_options_are_checked_and_normalised(engine: sa.Engine, make_client: MakeClient) -> None:
    client = make_client()
    _acme, auth = new_account(engine, "acme")
    resp = client.post(
        "/v1/webhooks",
        json={
            "url": PUBLIC_URL,
            "format": "textconnect",
            "events": ["message.received"],
            "options": {"method": "post", "auth": "s3cret", "mailmerge_list": "Customers"},
        },
        headers=auth,
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["options"] == {"method": "POST", "auth": "s3cret", "mailmerge_list": "Customers"}
    refused = client.post(
        "/v1/webhooks", json={"url": PUBLIC_URL, "format": "betatel", "options": {"a": "b"}}, headers=auth
    )
    assert refused.status_code == 400
    assert error_of(refused) == {
        "code": "validation",
        "message": "format 'betatel' has no option 'a'; it takes none",
        "field": "options.a",
    }


def test_a_format_without_events_named_gets_the_events_it_carries(
    engine: sa.Engine, make_client: MakeClient
) -> None:
    client = make_client()
    _acme, auth = new_account(engine, "acme")
    resp = client.post("/v1/webhooks", json={"url": PUBLIC_URL, "format": "textbetter_v2"}, headers=auth)
    assert resp.status_code == 201, resp.text
    assert resp.json()["events"] == ["message.received"]
    standard = client.post("/v1/webhooks", json={"url": PUBLIC_URL}, headers=auth)
    assert set(standard.json()["events"]) >= {"message.status", "message.received"}
