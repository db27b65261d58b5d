"""TextBetter connectors (v2 and v1) end to end: A's connector → B's TextBetter dialect → B's simulator
delivers (TextBetter has no delivery reports: B's own record shows it) and the simulated reply reaches A's
callback through B's ``textbetter_v2`` and ``textbetter_v1`` inbound formats."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.providers.upstream.support import (
    DELIVERED,
    NUMBER,
    REPLIES,
    FakeSink,
    GatewayB,
    connector,
    dead_url,
    gateway_b,
    outbound,
    run,
    wait_status,
)
from textgate.domain.errors import CarrierError, ErrorKind
from textgate.providers.base import Health
from textgate.providers.textbetter.connector import CONNECTOR_TYPES

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayB]:
    hooks = {
        "/v2": ("--format", "textbetter_v2", "--event", "message.received"),
        "/v1": ("--format", "textbetter_v1", "--event", "message.received"),
    }
    with gateway_b(tmp_path_factory.mktemp("tb"), hooks) as gateway:
        yield gateway


def v2(b: GatewayB, **over: object) -> dict[str, object]:
    return {
        "name": "tb2",
        "type": "textbetter_v2",
        "base_url": b.url,
        "key_id": b.key_id,
        "api_key": b.secret,
        **over,
    }


def v1(b: GatewayB, **over: object) -> dict[str, object]:
    return {"name": "tb1", "type": "textbetter_v1", "base_url": b.url, "api_key": b.secret, **over}


def test_v2_submit_delivers_and_replies_come_back(b: GatewayB) -> None:
    async def body() -> None:
        async with httpx.AsyncClient() as http:
            tb = connector(CONNECTOR_TYPES, v2(b), http)
            sink = FakeSink()
            await tb.start(sink)
            record = await tb.submit(outbound(DELIVERED))
            assert record.startswith("msg_")  # B's RecordID
            await wait_status(b, record, "delivered")

            await tb.submit(outbound(REPLIES))
            for method in ("POST", "GET"):  # v2 JSON and v1 query string
                hook = await b.hooks.wait(lambda h, m=method: h.method == m)
                assert (await tb.callback(hook.as_callback())).status_code == 200
            assert [(m.from_addr, m.to_addr, m.body) for m in sink.messages] == [
                (REPLIES, NUMBER, "Thanks, got it!")
            ] * 2

    run(body())


def test_v1_submit(b: GatewayB) -> None:
    async def body() -> None:
        async with httpx.AsyncClient() as http:
            tb = connector(CONNECTOR_TYPES, v1(b), http)
            message = outbound(DELIVERED)
            assert await tb.submit(message) == message.id  # v1 answers no id of its own
            with pytest.raises(CarrierError) as dest:
                await tb.submit(outbound("+12"))
            assert (dest.value.kind, dest.value.retryable) == (ErrorKind.INVALID_DESTINATION, False)
            wrong = connector(CONNECTOR_TYPES, v1(b, api_key="tgs_wrong"), http)
            with pytest.raises(CarrierError) as auth:
                await wrong.submit(outbound(DELIVERED))
            assert (auth.value.kind, auth.value.retryable) == (ErrorKind.AUTHENTICATION, False)
            assert wrong.health() is Health.DOWN

    run(body())


def test_v2_error_answers(b: GatewayB) -> None:
    async def body() -> None:
        async with httpx.AsyncClient() as http:
            tb = connector(CONNECTOR_TYPES, v2(b), http)
            with pytest.raises(CarrierError) as dest:
                await tb.submit(outbound("+12"))
            assert (dest.value.kind, dest.value.retryable) == (ErrorKind.INVALID_DESTINATION, False)
            with pytest.raises(CarrierError) as content:  # "body is required ..."
                await tb.submit(outbound(DELIVERED, body=""))
            assert (content.value.kind, content.value.retryable) == (ErrorKind.INVALID_CONTENT, False)

            wrong = connector(CONNECTOR_TYPES, v2(b, api_key="tgs_wrong"), http)
            with pytest.raises(CarrierError) as auth:  # "Invalid Company/KEY/DID combination"
                await wrong.submit(outbound(DELIVERED))
            assert (auth.value.kind, auth.value.retryable) == (ErrorKind.AUTHENTICATION, False)
            assert wrong.health() is Health.DOWN

            stopped = connector(CONNECTOR_TYPES, v2(b, base_url=dead_url()), http)
            with pytest.raises(CarrierError) as down:
                await stopped.submit(outbound(DELIVERED))
            assert (down.value.kind, down.value.retryable) == (ErrorKind.PROVIDER_ERROR, True)

    run(body())
