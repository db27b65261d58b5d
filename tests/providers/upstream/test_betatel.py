"""Betatel connector end to end: A's connector → B's Betatel dialect → B's simulator → B's ``betatel``
event webhook → A's callback → a receipt carrying the ``messageId`` A got at submit."""

from __future__ import annotations

import httpx
import pytest

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
from textgate.providers.base import Health
from textgate.providers.betatel.connector import CONNECTOR_TYPES

pytestmark = pytest.mark.e2e

b = gateway_fixture("bt", {"/bt": ("--format", "betatel")})


def table(b: GatewayB, **over: object) -> dict[str, object]:
    return {
        "name": "bt",
        "type": "betatel",
        "base_url": b.url,
        "user_id": b.key_id,
        "api_key": b.secret,
        **over,
    }


def test_submit_then_receipts_and_inbound(b: GatewayB) -> None:
    async def body(http: httpx.AsyncClient) -> None:
        bt = connector(CONNECTOR_TYPES, table(b), http)
        sink = FakeSink()
        await bt.start(sink)
        ok = sink.store(await bt.submit(outbound(DELIVERED)))
        bad = sink.store(await bt.submit(outbound(UNDELIVERED)))
        reply = sink.store(await bt.submit(outbound(REPLIES)))

        def event(cid: str, status: str):  # type: ignore[no-untyped-def]
            return lambda h: h.json().get("messageId") == cid and h.json().get("status") == status

        for cid, status in ((ok, "Delivered"), (bad, "Undelivered")):
            hook = await b.hooks.wait(event(cid, status))
            assert (await bt.callback(hook.as_callback())).status_code == 200
        got = {(r.carrier_id, r.status) for r in sink.accepted}
        assert {(ok, MessageStatus.DELIVERED), (bad, MessageStatus.UNDELIVERED)} <= got
        failed = next(r for r in sink.accepted if r.carrier_id == bad)
        assert failed.error_kind is ErrorKind.UNKNOWN and failed.error_message

        assert reply
        inbound = await b.hooks.wait(lambda h: h.json().get("direction") == "inbound")
        assert (await bt.callback(inbound.as_callback())).status_code == 200
        (message,) = sink.messages
        assert (message.from_addr, message.to_addr, message.body) == (REPLIES, NUMBER, "Thanks, got it!")

    with_http(body)


def test_error_answers(b: GatewayB) -> None:
    async def body(http: httpx.AsyncClient) -> None:
        bt = connector(CONNECTOR_TYPES, table(b), http)
        await expect_refusal(bt, outbound("+12"), ErrorKind.INVALID_DESTINATION)
        # 400 "text should not be empty"
        await expect_refusal(bt, outbound(DELIVERED, body=""), ErrorKind.INVALID_CONTENT)
        await expect_wrong_credentials(connector(CONNECTOR_TYPES, table(b, api_key="tgs_wrong"), http))
        stopped = connector(CONNECTOR_TYPES, table(b, base_url=dead_url()), http)
        await expect_unreachable(stopped, attempts=3, health=Health.DOWN)

    with_http(body)
