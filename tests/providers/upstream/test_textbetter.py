"""TextBetter connectors (v2 and v1) end to end: A's connector → B's TextBetter dialect → B's simulator
delivers (TextBetter has no delivery reports: B's own record shows it) and the simulated reply reaches A's
callback through B's ``textbetter_v2`` and ``textbetter_v1`` inbound formats."""

from __future__ import annotations

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
    expect_refusal,
    expect_unreachable,
    expect_wrong_credentials,
    gateway_fixture,
    outbound,
    wait_status,
    with_http,
)
from textgate.domain.errors import ErrorKind
from textgate.providers.textbetter.connector import CONNECTOR_TYPES

pytestmark = pytest.mark.e2e

b = gateway_fixture(
    "tb",
    {
        "/v2": ("--format", "textbetter_v2", "--event", "message.received"),
        "/v1": ("--format", "textbetter_v1", "--event", "message.received"),
    },
)


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
    async def body(http: httpx.AsyncClient) -> None:
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

    with_http(body)


def test_v1_submit(b: GatewayB) -> None:
    async def body(http: httpx.AsyncClient) -> None:
        tb = connector(CONNECTOR_TYPES, v1(b), http)
        message = outbound(DELIVERED)
        assert await tb.submit(message) == message.id  # v1 answers no id of its own
        await expect_refusal(tb, outbound("+12"), ErrorKind.INVALID_DESTINATION)
        await expect_wrong_credentials(connector(CONNECTOR_TYPES, v1(b, api_key="tgs_wrong"), http))

    with_http(body)


def test_v2_error_answers(b: GatewayB) -> None:
    async def body(http: httpx.AsyncClient) -> None:
        tb = connector(CONNECTOR_TYPES, v2(b), http)
        await expect_refusal(tb, outbound("+12"), ErrorKind.INVALID_DESTINATION)
        # "body is required ..."
        await expect_refusal(tb, outbound(DELIVERED, body=""), ErrorKind.INVALID_CONTENT)
        # "Invalid Company/KEY/DID combination"
        await expect_wrong_credentials(connector(CONNECTOR_TYPES, v2(b, api_key="tgs_wrong"), http))
        await expect_unreachable(connector(CONNECTOR_TYPES, v2(b, base_url=dead_url()), http))

    with_http(body)
