"""BestSMS connector end to end: A's connector → B's ``/bestsms/send`` → B's simulator → B's
``bestsms_json`` and ``bestsms_xml`` delivery-report webhooks → A's callback → a receipt carrying the
MessageID A got at submit."""

from __future__ import annotations

import httpx
import pytest

from tests.providers.upstream.support import (
    DELIVERED,
    KEY_NAME,
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
from textgate.providers.bestsms.connector import CONNECTOR_TYPES, message_id_for

pytestmark = pytest.mark.e2e
TOKEN = "report-token-1"

b = gateway_fixture(
    "bs",
    {
        "/json": ("--format", "bestsms_json", "--event", "message.status", "--option", f"token={TOKEN}"),
        "/xml": ("--format", "bestsms_xml", "--event", "message.status", "--option", f"token={TOKEN}"),
    },
)


def table(b: GatewayB, **over: object) -> dict[str, object]:
    return {
        "name": "bs",
        "type": "bestsms",
        "base_url": b.url,
        "sender": KEY_NAME,
        "token": b.named_secret,
        "report_token": TOKEN,
        **over,
    }


def test_submit_then_json_and_xml_reports(b: GatewayB) -> None:
    async def body(http: httpx.AsyncClient) -> None:
        bs = connector(CONNECTOR_TYPES, table(b), http)
        sink = FakeSink()
        await bs.start(sink)
        message = outbound(DELIVERED)
        ok = sink.store(await bs.submit(message))
        assert ok == message_id_for(message.id)
        assert await bs.submit(message) == ok  # a repeated MessageID is answered, not sent again
        bad = sink.store(await bs.submit(outbound(UNDELIVERED)))

        for path in ("/json", "/xml"):
            for cid, status in ((ok, "SUCCESS"), (bad, "FAILED")):
                hook = await b.hooks.wait(
                    lambda h, cid=cid, status=status, path=path: (
                        h.query == {}
                        and h.headers.get("content-type", "").startswith("application/" + path[1:])
                        and cid.encode() in h.body
                        and status.encode() in h.body
                    )
                )
                assert (await bs.callback(hook.as_callback())).status_code == 200
        got = [(r.carrier_id, r.status) for r in sink.accepted]
        assert got.count((ok, MessageStatus.DELIVERED)) == 2
        assert got.count((bad, MessageStatus.UNDELIVERED)) == 2
        assert all(r.error_message for r in sink.accepted if r.carrier_id == bad)

        forged = CallbackRequest("POST", {}, {"content-type": "application/json"}, b'{"MessageID": "x"}')
        assert (await bs.callback(forged)).status_code == 401  # no report_token

    with_http(body)


def test_error_answers(b: GatewayB) -> None:
    async def body(http: httpx.AsyncClient) -> None:
        bs = connector(CONNECTOR_TYPES, table(b), http)
        await expect_refusal(bs, outbound("+12"), ErrorKind.INVALID_DESTINATION)
        # "the message needs 2 parts; this account allows 1"
        await expect_refusal(bs, outbound(DELIVERED, body="x" * 200), ErrorKind.INVALID_CONTENT)
        await expect_wrong_credentials(connector(CONNECTOR_TYPES, table(b, token="wrong"), http))
        await expect_unreachable(connector(CONNECTOR_TYPES, table(b, base_url=dead_url()), http))

    with_http(body)
