"""TextingLine connector end to end: A's connector → B's TextingLine dialect → B's simulator → B's
``textingline`` webhook → A's callback → a receipt carrying the id A got at submit."""

from __future__ import annotations

import httpx
import pytest

from tests.providers.upstream.support import (
    DELIVERED,
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
from textgate.providers.textingline.connector import CONNECTOR_TYPES

pytestmark = pytest.mark.e2e

b = gateway_fixture("tl", {"/tl": ("--format", "textingline", "--event", "message.status")})


def table(b: GatewayB, **over: object) -> dict[str, object]:
    return {
        "name": "tl",
        "type": "textingline",
        "base_url": b.url,
        "key_id": b.key_id,
        "secret": b.secret,
        **over,
    }


def test_submit_then_receipts_from_bs_webhooks(b: GatewayB) -> None:
    async def body(http: httpx.AsyncClient) -> None:
        tl = connector(CONNECTOR_TYPES, table(b), http)
        sink = FakeSink()
        await tl.start(sink)
        ok = sink.store(await tl.submit(outbound(DELIVERED)))
        bad = sink.store(await tl.submit(outbound(UNDELIVERED)))
        assert ok.startswith("msg_") and ok != bad

        sent = await b.hooks.wait(lambda h: h.json()["id"] == ok and h.json()["status"] == "sent")
        assert (await tl.callback(sent.as_callback())).status_code == 200
        failed = await b.hooks.wait(lambda h: h.json()["id"] == bad and h.json()["status"] == "failed")
        assert (await tl.callback(failed.as_callback())).status_code == 200

        got = {(r.carrier_id, r.status, r.error_kind) for r in sink.accepted}
        assert (ok, MessageStatus.SENT, None) in got
        assert (bad, MessageStatus.UNDELIVERED, ErrorKind.UNKNOWN) in got
        assert b.message_status(ok) == "delivered"
        assert tl.health() is Health.UP

        # A report for a message A has not recorded yet: 503, so B delivers it again later.
        unknown = FakeSink()
        await tl.start(unknown)
        assert (await tl.callback(sent.as_callback())).status_code == 503

    with_http(body)


def test_resubmission_is_idempotent(b: GatewayB) -> None:
    async def body(http: httpx.AsyncClient) -> None:
        tl = connector(CONNECTOR_TYPES, table(b), http)
        message = outbound(DELIVERED)
        assert await tl.submit(message) == await tl.submit(message)

    with_http(body)


def test_error_answers(b: GatewayB) -> None:
    async def body(http: httpx.AsyncClient) -> None:
        tl = connector(CONNECTOR_TYPES, table(b), http)
        await expect_refusal(tl, outbound("+12"), ErrorKind.INVALID_DESTINATION)
        # TextingLine code 33004
        await expect_refusal(tl, outbound(DELIVERED, sender="+15551239999"), ErrorKind.INVALID_SENDER)
        assert tl.health() is Health.UP  # refusals of a message say nothing about the provider
        await expect_wrong_credentials(connector(CONNECTOR_TYPES, table(b, secret="tgs_wrong"), http))
        await expect_unreachable(connector(CONNECTOR_TYPES, table(b, base_url=dead_url()), http))

    with_http(body)
