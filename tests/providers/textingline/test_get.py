"""``GET /api/v1/messaging/message/{id}``: the message object with its current status, for its owner only."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock, Tenant, make_tenant
from tests.providers.textingline.seed import RECIPIENT, SENDER
from tests.providers.textingline.util import API, assert_error, auth, send
from textgate.domain.errors import ErrorKind
from textgate.domain.message import MessageStatus
from textgate.service.inbound import receive_inbound
from textgate.service.messages import get_message_row
from textgate.service.status import change_status


def _move(
    engine: Engine, tenant: Tenant, message_id: str, status: MessageStatus, clock: ManualClock, **kw: Any
) -> None:
    with engine.begin() as conn:
        row = get_message_row(conn, tenant.account.id, message_id)
        assert change_status(conn, row, status, now=clock(), source="test", **kw) is not None


def test_status_follows_the_message(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    message_id = send(client, tenant).json()["id"]

    def get() -> dict[str, object]:
        response = client.get(f"{API}/{message_id}", auth=auth(tenant))
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body

    assert get()["status"] == "queued"
    clock.advance(1)
    _move(engine, tenant, message_id, MessageStatus.SENDING, clock)
    assert get()["status"] == "queued"
    assert "sentAt" not in get()
    clock.advance(2)
    _move(engine, tenant, message_id, MessageStatus.SENT, clock)
    sent = get()
    assert (sent["status"], sent["sentAt"], sent["createdAt"]) == (
        "sent",
        "2026-03-15T14:30:03.000Z",
        "2026-03-15T14:30:00.000Z",
    )
    clock.advance(4)
    _move(engine, tenant, message_id, MessageStatus.DELIVERED, clock)
    assert get() == sent  # delivered is still "sent", sent at the same time


def test_a_later_failure_reads_as_failed(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    message_id = send(client, tenant).json()["id"]
    _move(engine, tenant, message_id, MessageStatus.SENDING, clock)
    _move(
        engine,
        tenant,
        message_id,
        MessageStatus.REJECTED,
        clock,
        error_kind=ErrorKind.ROUTING_ERROR,
        error_message="No route to the destination network.",
    )
    body = client.get(f"{API}/{message_id}", auth=auth(tenant)).json()
    assert body["status"] == "failed"
    assert body["errorType"] == "routing_error"
    assert body["errorMessage"] == "No route to the destination network."
    assert "sentAt" not in body


def test_expiry_reads_as_failed_unknown(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    message_id = send(client, tenant).json()["id"]
    _move(engine, tenant, message_id, MessageStatus.EXPIRED, clock, error_kind=ErrorKind.EXPIRED)
    body = client.get(f"{API}/{message_id}", auth=auth(tenant)).json()
    assert (body["status"], body["errorType"]) == ("failed", "unknown")
    assert body["errorMessage"]


def test_inbound_messages(client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock) -> None:
    with engine.begin() as conn:
        view = receive_inbound(
            conn, from_addr=RECIPIENT, to_addr=SENDER, body="Thanks!", now=clock(), source="test"
        )
    body = client.get(f"{API}/{view['id']}", auth=auth(tenant)).json()
    assert body == {
        "id": view["id"],
        "direction": "inbound",
        "to": SENDER,
        "from": RECIPIENT,
        "body": "Thanks!",
        "status": "received",  # never "sent": nobody sent it from here
        "receivedAt": "2026-03-15T14:30:00.000Z",
        "createdAt": "2026-03-15T14:30:00.000Z",
    }


def test_unknown_and_foreign_ids_are_404(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    assert_error(client.get(f"{API}/msg_DsAdb4EBYBh3z25sBA1qnv", auth=auth(tenant)), 404, 404, "id")
    other = make_tenant(engine, name="other", number="+15551239999", now=clock())
    theirs = send(client, other).json()["id"]
    assert_error(client.get(f"{API}/{theirs}", auth=auth(tenant)), 404, 404, "id")
    assert client.get(f"{API}/{theirs}", auth=auth(other)).status_code == 200


def test_get_needs_credentials(client: TestClient, tenant: Tenant) -> None:
    message_id = send(client, tenant).json()["id"]
    assert_error(client.get(f"{API}/{message_id}"), 401, 401, None)
    assert_error(client.get(f"{API}/{message_id}", auth=(tenant.key.key_id, "tgs_wrong")), 401, 401, None)


def test_routes_are_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    post = paths["/api/v1/messaging/message"]["post"]
    get = paths["/api/v1/messaging/message/{message_id}"]["get"]
    assert post["tags"] == get["tags"] == ["TextingLine dialect"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {"to", "from", "body", "mediaUrl", "idempotencyKey"}
    assert {"201", "400", "401", "402", "403", "409"} <= set(post["responses"])
