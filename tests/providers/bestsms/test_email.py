"""BestSMS's email features through the outbox, received by a real SMTP server: replies to a message sent
with SMSEmailReply are emailed to that address, and delivery reports can go out as HTML email."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock
from tests.providers.bestsms.support import BestTenant, advance, inbound, rows_by_ref
from tests.smtp import smtp_server
from textgate.config import Settings
from textgate.domain.message import MessageStatus
from textgate.webhooks.endpoints import create_endpoint
from textgate.webhooks.mail import mailto
from textgate.workers.webhooks import WebhookWorker


def _deliver(engine: Engine, clock: ManualClock, port: int) -> int:
    async def go() -> int:
        settings = Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_from="sms@gateway.example")
        worker = WebhookWorker(engine, settings, clock=clock)
        try:
            return await worker.run_once()
        finally:
            await worker.aclose()

    return asyncio.run(go())


def _send(client: TestClient, tenant: BestTenant, **params: Any) -> str:
    r = client.get("/bestsms/send", params={**tenant.creds(), "Number": "0421000001", **params})
    assert r.status_code == 200, r.text
    return str(r.json()["MessageID"])


def test_replies_are_emailed_to_the_sms_email_reply_address(
    client: TestClient, tenant: BestTenant, engine: Engine, clock: ManualClock
) -> None:
    clock.now = datetime.now(UTC)
    with smtp_server() as inbox:
        ref = _send(client, tenant, Message="Can you make 3pm?", SMSEmailReply="ops@department01.co")
        clock.advance(1)
        _send(client, tenant, Message="no email for this one")  # a later message without the option
        (row,) = rows_by_ref(engine, ref)
        clock.advance(60)
        inbound(engine, "+61421000001", tenant.number, "Yes, see you then", clock())
        _deliver(engine, clock, inbox.port)
        # The reply threads to the latest outbound message (the one without SMSEmailReply): no email.
        assert inbox.messages == []
        ref2 = _send(client, tenant, Message="And 4pm?", SMSEmailReply="ops@department01.co")
        clock.advance(60)
        inbound(engine, "+61421000001", tenant.number, "4pm works", clock())
        assert _deliver(engine, clock, inbox.port) >= 1
        (mail,) = inbox.to("ops@department01.co")
        assert mail["From"] == "sms@gateway.example"
        assert "+61421000001" in mail["Subject"] and ref2 in mail["Subject"]
        text = mail.get_payload(decode=True).decode()
        assert text.startswith("4pm works") and "And 4pm?" in text
        assert row["to_addr"] == "+61421000001"


def test_delivery_reports_by_email(
    client: TestClient, tenant: BestTenant, engine: Engine, clock: ManualClock
) -> None:
    clock.now = datetime.now(UTC)
    with engine.begin() as conn:
        create_endpoint(
            conn,
            tenant.account.id,
            mailto("reports@department01.co", "unused"),
            ["message.status"],
            now=clock(),
            allow_private=False,
            format="bestsms_email",
        )
    with smtp_server() as inbox:
        ref = _send(client, tenant, Message="Your order has shipped")
        (row,) = rows_by_ref(engine, ref)
        advance(
            engine, row["id"], MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.DELIVERED, now=clock()
        )
        for _ in range(3):  # per-message order: sent, then delivered
            _deliver(engine, clock, inbox.port)
        mails = inbox.to("reports@department01.co")
        assert [" ".join(m["Subject"].split()).rsplit(" - ", 1)[-1] for m in mails] == ["PENDING", "SUCCESS"]
        html = mails[-1].get_payload(decode=True).decode()
        assert mails[-1].get_content_type() == "text/html"
        for field in ("Destination", "MessageID", "JobNumber", "SentTime", "Status", "Price", "Detail"):
            assert f"<th align='left'>{field}</th>" in html
        assert ref in html and "SMSParts:1" in html
