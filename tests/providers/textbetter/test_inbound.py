"""Inbound messages in TextBetter's shapes (formats ``textbetter_v2`` and ``textbetter_v1``), delivered by
textgate's WebhookWorker to a real local HTTP server. The document's examples give the shapes; the
values come from the actual inbound message."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from typing import Any
from urllib.parse import parse_qsl

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock, Tenant
from tests.providers.textbetter.conftest import HookServer
from textgate.config import Settings
from textgate.domain.errors import ValidationError
from textgate.service.accounts import add_number
from textgate.service.inbound import receive_inbound
from textgate.service.optouts import opt_out
from textgate.service.send import SendRequest, send_messages
from textgate.store.schema import media_objects, webhook_deliveries
from textgate.webhooks.endpoints import create_endpoint
from textgate.workers.webhooks import WebhookWorker

SMS_EXAMPLE = """{
"id": "123",
"to": "15551230001",
"from": "12003004001",
"timestamp": 1666798041,
"type": "SMS",
"text": "Hello World"
}"""

MMS_EXAMPLE = """{
"id": "124",
"to": "15551230001",
"from": "12003004001",
"timestamp": 1666798123,
"type": "MMS",
"text": "",
"images": [
{
"Base64": "BASE64_ENCODED_IMAGE",
"type": "image/png"
}
]
}"""

V1_EXAMPLE = "https://your-endpoint.example?From=12003004001&To=15551230001&Message=Hi"

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
#: The handset. The document's 12003004001 (+1 200 ...) is not an assigned number, and textgate refuses
#: inbound messages from invalid numbers as it refuses sends to them, so a 555 number stands in.
HANDSET = "+15550001000"
SETTINGS = Settings(allow_private_urls=True, webhook_timeout=5.0, poll_interval=0.01)


def shape(value: Any) -> Any:
    """Key sets and value types, recursively: what must match the document's examples."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__


def endpoint(engine: Engine, tenant: Tenant, url: str, fmt: str, clock: ManualClock, **kw: Any) -> None:
    with engine.begin() as conn:
        create_endpoint(
            conn,
            tenant.account.id,
            url,
            kw.pop("events", ["message.received"]),
            now=clock(),
            allow_private=True,
            format=fmt,
            **kw,
        )


def deliver(engine: Engine, clock: ManualClock) -> int:
    async def main() -> int:
        worker = WebhookWorker(engine, SETTINGS, clock=clock, rng=lambda: 1.0)
        try:
            total = 0
            while sent := await worker.run_once():
                total += sent
            return total
        finally:
            await worker.aclose()

    return asyncio.run(main())


def inbound(
    engine: Engine,
    clock: ManualClock,
    body: str,
    media: list[dict[str, Any]] | None = None,
    to: str = "+15551230001",
) -> dict[str, Any]:
    with engine.begin() as conn:
        return receive_inbound(
            conn, from_addr=HANDSET, to_addr=to, body=body, now=clock(), source="simulator", media=media
        )


def stored_png(engine: Engine, tenant: Tenant, clock: ManualClock) -> dict[str, Any]:
    with engine.begin() as conn:
        conn.execute(
            sa.insert(media_objects).values(
                id="med_inbound1",
                account_id=tenant.account.id,
                content_type="image/png",
                filename="pic.png",
                size=len(PNG),
                sha256=hashlib.sha256(PNG).hexdigest(),
                data=PNG,
                created_at=clock(),
            )
        )
    return {"media_id": "med_inbound1", "content_type": "image/png", "filename": "pic.png", "size": len(PNG)}


def test_v2_sms_and_mms_to_a_real_server(
    engine: Engine, tenant: Tenant, clock: ManualClock, hooks: HookServer
) -> None:
    endpoint(
        engine,
        tenant,
        hooks.url,
        "textbetter_v2",
        clock,
        number="+15551230001",
    )
    sms = inbound(engine, clock, "Hello World")
    clock.advance(82)
    mms = inbound(
        engine, clock, "", media=[stored_png(engine, tenant, clock), {"url": "https://cdn.example/x.gif"}]
    )
    assert deliver(engine, clock) == 2

    first, second = sorted((json.loads(h.body) for h in hooks.snapshot()), key=lambda e: e["type"] == "MMS")
    for hit in hooks.snapshot():
        assert (hit.method, hit.path, hit.query) == ("POST", "/sms", "")
        assert hit.headers["content-type"] == "application/json"
    assert shape(first) == shape(json.loads(SMS_EXAMPLE))
    assert list(first) == list(json.loads(SMS_EXAMPLE))  # and in the document's order
    started = int(clock.now.timestamp()) - 82  # when the SMS was received
    assert first == {
        "id": sms["id"],
        "to": "15551230001",
        "from": "15550001000",
        "timestamp": started,
        "type": "SMS",
        "text": "Hello World",
    }
    example = json.loads(MMS_EXAMPLE)
    assert shape({**second, "images": second["images"][:1]}) == shape(example)
    assert (second["id"], second["type"], second["text"], second["timestamp"]) == (
        mms["id"],
        "MMS",
        "",
        started + 82,
    )
    png, by_url = second["images"]
    assert base64.b64decode(png["Base64"], validate=True) == PNG and png["type"] == "image/png"
    # An attachment held only as a URL has no content to inline: it keeps its URL.
    assert by_url == {"Base64": "", "type": "", "url": "https://cdn.example/x.gif"}


def test_v1_get_to_a_real_server(
    engine: Engine, tenant: Tenant, clock: ManualClock, hooks: HookServer
) -> None:
    endpoint(engine, tenant, hooks.url + "?site=7", "textbetter_v1", clock, number="+15551230001")
    inbound(engine, clock, "Hi")
    inbound(engine, clock, "Ça va? 50% & more")
    assert deliver(engine, clock) == 2
    example = parse_qsl(V1_EXAMPLE.partition("?")[2])
    # Two messages, two deliveries, sent concurrently: told apart by their text.
    hi, other = sorted(hooks.snapshot(), key=lambda h: "Message=Hi" not in h.query)
    for hit in (hi, other):
        assert (hit.method, hit.path, hit.body) == ("GET", "/sms", b"")
        assert "content-type" not in hit.headers
    got = parse_qsl(hi.query)
    assert got[0] == ("site", "7")  # the endpoint's own query is kept
    assert [k for k, _ in got[1:]] == [k for k, _ in example]
    assert got[1:] == [("From", "15550001000"), ("To", "15551230001"), ("Message", "Hi")]
    assert hi.query == "site=7&From=15550001000&To=15551230001&Message=Hi"
    assert dict(parse_qsl(other.query))["Message"] == "Ça va? 50% & more"


def test_only_received_events_for_the_configured_number(
    engine: Engine, tenant: Tenant, clock: ManualClock, hooks: HookServer
) -> None:
    with engine.begin() as conn:
        add_number(conn, tenant.account, "+15551230002", now=clock())
    for fmt in ("textbetter_v2", "textbetter_v1"):
        # The formats carry inbound messages only: asking them for status events is refused at creation.
        with pytest.raises(ValidationError, match="would never be sent"):
            endpoint(engine, tenant, hooks.url, fmt, clock, events=["message.status", "message.received"])
        endpoint(engine, tenant, hooks.url, fmt, clock, number="+15551230001")
    inbound(engine, clock, "to the other number", to="+15551230002")
    with engine.begin() as conn:  # a status event (an opted-out recipient fails at once): not rendered
        opt_out(conn, tenant.account.id, HANDSET, word="STOP", now=clock())
        send_messages(
            conn, tenant.account, SendRequest(sender="+15551230001", to=[HANDSET], body="x"), now=clock()
        )
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(webhook_deliveries)).scalar_one() == 0
    assert deliver(engine, clock) == 0 and hooks.snapshot() == []


def test_formats_are_configured_through_the_api(client: TestClient, tenant: Tenant) -> None:
    auth = {"Authorization": f"Bearer {tenant.key.secret}"}
    for fmt in ("textbetter_v2", "textbetter_v1"):
        response = client.post(
            "/v1/webhooks",
            json={
                "url": "http://127.0.0.1:9/sms",
                "events": ["message.received"],
                "format": fmt,
                "number": "+15551230001",
            },
            headers=auth,
        )
        assert response.status_code == 201, response.text
        assert (response.json()["format"], response.json()["number"]) == (fmt, "+15551230001")
