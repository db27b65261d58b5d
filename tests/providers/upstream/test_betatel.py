"""Betatel connector end to end: A's connector → B's Betatel dialect → B's simulator → B's ``betatel``
event webhook → A's callback → a receipt carrying the ``messageId`` A got at submit."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.providers.upstream.support import (
    DELIVERED,
    REPLIES,
    UNDELIVERED,
    FakeSink,
    GatewayB,
    connector,
    dead_url,
    gateway_b,
    outbound,
    run,
)
from textgate.domain.errors import CarrierError, ErrorKind
from textgate.domain.message import MessageStatus
from textgate.providers.base import Health
from textgate.providers.betatel.connector import CONNECTOR_TYPES

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayB]:
    with gateway_b(tmp_path_factory.mktemp("bt"), {"/bt": ("--format", "betatel")}) as gateway:
        yield gateway


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
    async def body() -> None:
        async with httpx.AsyncClient() as http:
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
            assert (message.from_addr, message.to_addr, message.body) == (
                REPLIES,
                "+15551230001",
                "Thanks, got it!",
            )

    run(body())


def test_error_answers(b: GatewayB) -> None:
    async def body() -> None:
        async with httpx.AsyncClient() as http:
            bt = connector(CONNECTOR_TYPES, table(b), http)
            with pytest.raises(CarrierError) as dest:
                await bt.submit(outbound("+12"))
            assert (dest.value.kind, dest.value.retryable) == (ErrorKind.INVALID_DESTINATION, False)
            with pytest.raises(CarrierError) as content:  # 400 "text should not be empty"
                await bt.submit(outbound(DELIVERED, body=""))
            assert (content.value.kind, content.value.retryable) == (ErrorKind.INVALID_CONTENT, False)

            wrong = connector(CONNECTOR_TYPES, table(b, api_key="tgs_wrong"), http)
            with pytest.raises(CarrierError) as auth:
                await wrong.submit(outbound(DELIVERED))
            assert (auth.value.kind, auth.value.retryable) == (ErrorKind.AUTHENTICATION, False)
            assert wrong.health() is Health.DOWN

            stopped = connector(CONNECTOR_TYPES, table(b, base_url=dead_url()), http)
            for _ in range(3):
                with pytest.raises(CarrierError) as down:
                    await stopped.submit(outbound(DELIVERED))
                assert down.value.retryable
            assert stopped.health() is Health.DOWN

    run(body())
