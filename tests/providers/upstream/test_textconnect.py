"""Text-Connect connector end to end: A's connector → B's ``/api`` Send → B's simulator; Text-Connect
pushes no delivery reports, so the connector polls B's ``CheckMessageStatus`` and the sink gets the
receipt; B's inbound forwarding (``textconnect`` format) reaches A's callback as an inbound message."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import Engine, insert

from tests.providers.upstream.support import (
    DELIVERED,
    NUMBER,
    REPLIES,
    UNDELIVERED,
    FakeSink,
    GatewayB,
    connector,
    dead_url,
    expect_refusal,
    expect_unreachable,
    expect_wrong_credentials,
    gateway_fixture,
    outbound,
    with_http,
)
from textgate.domain.errors import ErrorKind
from textgate.domain.message import MessageStatus
from textgate.providers.base import CallbackRequest
from textgate.providers.textconnect.connector import CONNECTOR_TYPES
from textgate.store.schema import accounts, messages

pytestmark = pytest.mark.e2e
AUTH = "page-auth-7"

b = gateway_fixture(
    "tc", {"/tc": ("--format", "textconnect", "--event", "message.received", "--option", f"auth={AUTH}")}
)


def table(b: GatewayB, **over: object) -> dict[str, object]:
    return {
        "name": "tc",
        "type": "textconnect",
        "base_url": b.url,
        "token": b.secret,
        "poll_interval": 0.1,
        **over,
    }


async def _eventually(check, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    loop = asyncio.get_running_loop()
    until = loop.time() + timeout
    while not check():
        assert loop.time() < until, "condition not met"
        await asyncio.sleep(0.05)


def _a_message_sent_before_a_restart(engine: Engine, carrier_id: str) -> None:
    """A's database holds a message this connector sent before A restarted (still ``sent``)."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(accounts).values(id="acc_a", name="a", region="US", created_at=now))
        conn.execute(
            insert(messages).values(
                id="msg_before", account_id="acc_a", direction="outbound", type="sms", from_addr=NUMBER,
                to_addr=DELIVERED, body="x", encoding="gsm7", segments=1, credits=1, status="sent",
                connector="tc", carrier_id=carrier_id, attempts=1, created_at=now, updated_at=now,
            )
        )  # fmt: skip


def test_submit_poll_receipts_and_inbound(b: GatewayB, engine: Engine) -> None:
    async def body(http: httpx.AsyncClient) -> None:
        earlier = connector(CONNECTOR_TYPES, table(b, poll_interval=0), http)
        before = await earlier.submit(outbound(DELIVERED))
        _a_message_sent_before_a_restart(engine, before)

        tc = connector(CONNECTOR_TYPES, table(b, callback_secret=AUTH), http, engine)
        sink = FakeSink()
        sink.store(before)
        ok = sink.store(await tc.submit(outbound(DELIVERED)))
        bad = sink.store(await tc.submit(outbound(UNDELIVERED)))
        await tc.start(sink)  # reads what is still pending from A's database
        sink.store(await tc.submit(outbound(REPLIES)))
        want = {
            (before, MessageStatus.DELIVERED),
            (ok, MessageStatus.DELIVERED),
            (bad, MessageStatus.UNDELIVERED),
        }
        await _eventually(lambda: want <= {(r.carrier_id, r.status) for r in sink.accepted})

        forward = await b.hooks.wait(lambda h: h.query.get("source") == REPLIES[1:])
        assert forward.method == "GET" and forward.query["auth"] == AUTH
        assert (await tc.callback(forward.as_callback())).status_code == 200
        (message,) = sink.messages
        assert (message.from_addr, message.to_addr, message.body) == (REPLIES, NUMBER, "Thanks, got it!")
        forged = CallbackRequest("GET", {**forward.query, "auth": "nope"}, {}, b"")
        assert (await tc.callback(forged)).status_code == 401
        await tc.stop()

    with_http(body)


def test_error_answers(b: GatewayB) -> None:
    async def body(http: httpx.AsyncClient) -> None:
        tc = connector(CONNECTOR_TYPES, table(b), http)
        await expect_refusal(tc, outbound("+12"), ErrorKind.INVALID_DESTINATION)  # -401
        # -402: alphanumeric source over 11 characters
        sender = await expect_refusal(
            tc, outbound(DELIVERED, sender="ALPHASENDERTOOLONG"), ErrorKind.INVALID_SENDER
        )
        assert sender.context["code"] == -402
        # -501: the token is not B's
        await expect_wrong_credentials(connector(CONNECTOR_TYPES, table(b, token="tgs_wrong"), http))
        await expect_unreachable(connector(CONNECTOR_TYPES, table(b, base_url=dead_url()), http))

    with_http(body)
