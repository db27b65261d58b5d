"""Email deliveries through the outbox, received by a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from tests.helpers import ManualClock, make_tenant
from tests.smtp import Inbox, smtp_server
from textgate.config import Settings
from textgate.domain.errors import ValidationError
from textgate.store.schema import webhook_deliveries
from textgate.webhooks.endpoints import create_endpoint
from textgate.webhooks.formats import Endpoint, RenderContext, Rendered, register_format
from textgate.webhooks.mail import mailto, parse_mailto
from textgate.webhooks.outbox import enqueue_event
from textgate.workers.webhooks import WebhookWorker


def _report(event_type: str, data: dict[str, Any], _ep: Endpoint, _ctx: RenderContext) -> Rendered | None:
    return Rendered(body=f"<p>{data['id']} is {data['status']}</p>", content_type="text/html")


def _reply_to_sender(event_type: str, data: dict[str, Any], _ep: Endpoint, _ctx: RenderContext) -> Rendered:
    return Rendered(body=data["body"], content_type="text/plain", url=mailto("owner@example.com", "Reply"))


register_format("test_mail_report", _report)
register_format("test_mail_reply", _reply_to_sender)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as inbox:
        yield inbox, inbox.port


def _run(engine: Engine, settings: Settings, clock: ManualClock) -> int:
    async def go() -> int:
        worker = WebhookWorker(engine, settings, clock=clock)
        try:
            return await worker.run_once()
        finally:
            await worker.aclose()

    return asyncio.run(go())


def test_mailto_parsing() -> None:
    target = parse_mailto(mailto("reports@example.com", "Delivery report: msg_1"))
    assert (target.address, target.subject) == ("reports@example.com", "Delivery report: msg_1")
    with pytest.raises(ValidationError):
        parse_mailto("mailto:not-an-address?subject=x")


def test_mail_endpoint_and_per_delivery_address(engine: Engine, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    clock = ManualClock(datetime.now(UTC))
    t = make_tenant(engine, now=clock())
    settings = Settings(
        smtp_host="127.0.0.1", smtp_port=port, smtp_from="gw@example.com", allow_private_urls=True
    )
    with engine.begin() as conn:
        create_endpoint(
            conn, t.account.id, mailto("ops@example.com", "SMS report"), ["message.status"],
            now=clock(), allow_private=False, format="test_mail_report",
        )  # fmt: skip
        create_endpoint(
            conn, t.account.id, "http://127.0.0.1:9/unused", ["message.received"],
            now=clock(), allow_private=True, format="test_mail_reply",
        )  # fmt: skip
        with pytest.raises(ValidationError) as info:
            create_endpoint(
                conn,
                t.account.id,
                "mailto:ops@example.com",
                ["message.status"],
                now=clock(),
                allow_private=False,
            )
        assert info.value.field == "url"
        enqueue_event(
            conn,
            t.account.id,
            "message.status",
            {"id": "msg_1", "status": "delivered"},
            order_key="m1",
            now=clock(),
        )
        enqueue_event(
            conn, t.account.id, "message.received",
            {"id": "msg_2", "direction": "inbound", "body": "Yes please"}, order_key="m2", now=clock(),
        )  # fmt: skip
    assert _run(engine, settings, clock) == 2
    by_to = {m["To"]: m for m in inbox.messages}
    report, reply = by_to["ops@example.com"], by_to["owner@example.com"]
    assert report["Subject"] == "SMS report" and report["From"] == "gw@example.com"
    assert report.get_content_type() == "text/html" and "msg_1 is delivered" in report.get_payload()
    assert reply["Subject"] == "Reply" and "Yes please" in reply.get_payload()
    with engine.connect() as conn:
        assert set(conn.execute(select(webhook_deliveries.c.status)).scalars()) == {"succeeded"}


def test_mail_without_relay_is_kept_and_retried(engine: Engine, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    clock = ManualClock(datetime.now(UTC))
    t = make_tenant(engine, now=clock())
    with engine.begin() as conn:
        create_endpoint(
            conn, t.account.id, mailto("ops@example.com", "r"), ["message.status"],
            now=clock(), allow_private=False, format="test_mail_report",
        )  # fmt: skip
        enqueue_event(
            conn, t.account.id, "message.status", {"id": "m", "status": "sent"}, order_key="m", now=clock()
        )
    _run(engine, Settings(smtp_host=None), clock)
    with engine.connect() as conn:
        row = conn.execute(select(webhook_deliveries)).one()
    assert row.status == "pending" and "TEXTGATE_SMTP_HOST" in row.last_error
    clock.advance(timedelta(hours=1).total_seconds())
    _run(engine, Settings(smtp_host="127.0.0.1", smtp_port=port), clock)
    assert [m["To"] for m in inbox.messages] == ["ops@example.com"]
