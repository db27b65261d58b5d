"""TextingLine connector end to end: A's connector → B's TextingLine dialect → B's simulator → B's
``textingline`` webhook → A's callback → a receipt carrying the id A got at submit."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.providers.upstream.support import (
    DELIVERED,
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
from textgate.providers.textingline.connector import CONNECTOR_TYPES

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayB]:
    hooks = {"/tl": ("--format", "textingline", "--event", "message.status")}
    with gateway_b(tmp_path_factory.mktemp("tl"), hooks) as gateway:
        yield gateway


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
    async def body() -> None:
        async with httpx.AsyncClient() as http:
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

    run(body())


def test_resubmission_is_idempotent(b: GatewayB) -> None:
    async def body() -> None:
        async with httpx.AsyncClient() as http:
            tl = connector(CONNECTOR_TYPES, table(b), http)
            message = outbound(DELIVERED)
            assert await tl.submit(message) == await tl.submit(message)

    run(body())


def test_error_answers(b: GatewayB) -> None:
    async def body() -> None:
        async with httpx.AsyncClient() as http:
            tl = connector(CONNECTOR_TYPES, table(b), http)
            with pytest.raises(CarrierError) as dest:
                await tl.submit(outbound("+12"))
            assert (dest.value.kind, dest.value.retryable) == (ErrorKind.INVALID_DESTINATION, False)
            with pytest.raises(CarrierError) as sender:  # TextingLine code 33004
                await tl.submit(outbound(DELIVERED, sender="+15551239999"))
            assert (sender.value.kind, sender.value.retryable) == (ErrorKind.INVALID_SENDER, False)
            assert tl.health() is Health.UP  # refusals of a message say nothing about the provider

            wrong = connector(CONNECTOR_TYPES, table(b, secret="tgs_wrong"), http)
            with pytest.raises(CarrierError) as auth:
                await wrong.submit(outbound(DELIVERED))
            assert (auth.value.kind, auth.value.retryable) == (ErrorKind.AUTHENTICATION, False)
            assert wrong.health() is Health.DOWN

            stopped = connector(CONNECTOR_TYPES, table(b, base_url=dead_url()), http)
            with pytest.raises(CarrierError) as down:
                await stopped.submit(outbound(DELIVERED))
            assert (down.value.kind, down.value.retryable) == (ErrorKind.PROVIDER_ERROR, True)
            assert stopped.health() is Health.DEGRADED

    run(body())
