"""The ``textingline`` webhook format: the message object, as GET answers it, for every status change and
inbound message."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tests.helpers import ManualClock, Tenant
from tests.providers.textingline.media_server import MediaServer
from tests.providers.textingline.seed import FAILED_RESPONSE, RECIPIENT, SENDER
from tests.providers.textingline.util import API, auth, send
from textgate.domain.message import MessageStatus
from textgate.service.inbound import receive_inbound
from textgate.service.messages import get_message_row
from textgate.service.status import change_status
from textgate.store.schema import webhook_deliveries
from textgate.webhooks.endpoints import create_endpoint
from textgate.webhooks.formats import format_names

HOOK = "http://127.0.0.1:9/hooks"


def _endpoint(engine: Engine, tenant: Tenant, clock: ManualClock, **kw: Any) -> None:
    with engine.begin() as conn:
        create_endpoint(
            conn,
            tenant.account.id,
            HOOK,
            ["message.status", "message.received"],
            now=clock(),
            allow_private=True,
            format="textingline",
            **kw,
        )


def _deliveries(engine: Engine) -> list[tuple[str, str, str | None, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(webhook_deliveries).order_by(webhook_deliveries.c.created_at)).all()
    return [(r.event_type, r.method, r.content_type, json.loads(r.payload)) for r in rows]


def test_format_is_registered() -> None:
    assert "textingline" in format_names()


def test_status_changes_post_the_message_object(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    _endpoint(engine, tenant, clock, number=SENDER)
    message_id = send(client, tenant).json()["id"]
    clock.advance(5)
    with engine.begin() as conn:
        for status in (MessageStatus.SENDING, MessageStatus.SENT):
            row = get_message_row(conn, tenant.account.id, message_id)
            change_status(conn, row, status, now=clock(), source="test")
    got = client.get(f"{API}/{message_id}", auth=auth(tenant)).json()
    assert _deliveries(engine) == [("message.status", "POST", "application/json", got)]
    assert got["sentAt"] == "2026-03-15T14:30:05.000Z"


def test_a_failure_at_acceptance_is_announced(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    _endpoint(engine, tenant, clock)
    with engine.begin() as conn:
        receive_inbound(conn, from_addr=RECIPIENT, to_addr=SENDER, body="STOP", now=clock(), source="test")
    answer = send(client, tenant, body="Your verification code is 482910").json()
    assert answer == {**json.loads(FAILED_RESPONSE), "id": answer["id"]}
    events = _deliveries(engine)
    assert [e[0] for e in events] == ["message.received", "message.status"]
    assert events[0][3]["direction"] == "inbound" and events[0][3]["body"] == "STOP"
    assert events[0][3]["status"] == "received" and "sentAt" not in events[0][3]
    assert events[1][3] == answer


def test_mms_events_carry_the_media_url(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock, media: MediaServer
) -> None:
    _endpoint(engine, tenant, clock)
    with engine.begin() as conn:
        from textgate.service.accounts import update_account

        update_account(conn, tenant.account.id, settings={"blocked_prefixes": ["+1800"]})
    url = media.url("/images/promo.jpg")
    answer = send(client, tenant, mediaUrl=url).json()
    assert answer["status"] == "failed" and answer["mediaUrl"] == url
    assert _deliveries(engine)[-1][3] == answer
