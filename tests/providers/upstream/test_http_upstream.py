"""The shared base: config checks, the HTTP-status classification table, health and the callback secret
(with ``httpx.MockTransport``, the injected-transport way), plus each connector's tables against the
dialect's wire tables they are computed from."""

from __future__ import annotations

import importlib

import httpx
import pytest

from tests.providers.upstream.support import DELIVERED, FakeSink, context, outbound, run
from textgate.domain.errors import CarrierError, ErrorKind
from textgate.providers.base import CallbackRequest, Health
from textgate.providers.betatel.connector import STATUS_KINDS
from textgate.providers.textconnect import wire as tc_wire
from textgate.providers.textconnect.connector import CODE_KINDS
from textgate.providers.textingline.connector import CONNECTOR_TYPES as TL

PROVIDERS = ["textbetter", "bestsms", "textingline", "betatel", "textconnect"]
BASE = {"name": "tl", "type": "textingline", "base_url": "http://b.example", "key_id": "k", "secret": "s"}


def test_every_provider_exposes_its_types() -> None:
    types = {}
    for name in PROVIDERS:
        types.update(importlib.import_module(f"textgate.providers.{name}.connector").CONNECTOR_TYPES)
    assert set(types) == {
        "textbetter_v2",
        "textbetter_v1",
        "bestsms",
        "textingline",
        "betatel",
        "textconnect",
    }


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"secret": None}, "'secret'"),
        ({"base_url": None}, "'base_url'"),
        ({"sender": "x"}, "'sender'"),
        ({"base_url": "ftp://b"}, "'base_url'"),
        ({"timeout": 0}, "'timeout'"),
        ({"key_id": ""}, "'key_id'"),
    ],
)
def test_config_errors_name_the_key(change: dict[str, object], named: str) -> None:
    table = {k: v for k, v in {**BASE, **change}.items() if v is not None}
    with pytest.raises(ValueError, match=named):
        TL["textingline"](table, context(httpx.AsyncClient()))


def _answering(status: int, body: str = "") -> object:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, text=body))
    return TL["textingline"](BASE, context(httpx.AsyncClient(transport=transport)))


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (401, ErrorKind.AUTHENTICATION, False),
        (403, ErrorKind.PERMISSION_DENIED, False),
        (402, ErrorKind.INSUFFICIENT_CREDITS, True),
        (404, ErrorKind.PLATFORM_ERROR, True),
        (418, ErrorKind.VALIDATION, False),
        (429, ErrorKind.THROTTLED, True),
        (500, ErrorKind.PROVIDER_ERROR, True),
        (503, ErrorKind.PROVIDER_ERROR, True),
    ],
)
def test_http_status_classification(status: int, kind: ErrorKind, retryable: bool) -> None:
    connector = _answering(status, "<html>oops</html>")
    with pytest.raises(CarrierError) as err:
        run(connector.submit(outbound(DELIVERED)))
    assert (err.value.kind, err.value.retryable, err.value.context["status"]) == (kind, retryable, status)


def test_timeout_is_retryable_and_health_follows_outcomes() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    connector = TL["textingline"](BASE, context(httpx.AsyncClient(transport=httpx.MockTransport(slow))))
    assert connector.health() is Health.UP
    with pytest.raises(CarrierError) as err:
        run(connector.submit(outbound(DELIVERED)))
    assert (err.value.kind, err.value.retryable) == (ErrorKind.PROVIDER_ERROR, True)
    assert connector.health() is Health.DEGRADED
    for _ in range(2):
        with pytest.raises(CarrierError):
            run(connector.submit(outbound(DELIVERED)))
    assert connector.health() is Health.DOWN


def test_callback_secret() -> None:
    connector = TL["textingline"]({**BASE, "callback_secret": "s3"}, context(httpx.AsyncClient()))
    assert connector.callback_url == "http://a.example:8080/callbacks/tl?secret=s3"
    body = b'{"id": "msg_1", "direction": "outbound", "status": "queued"}'

    async def calls() -> list[int]:
        await connector.start(FakeSink())
        return [
            (await connector.callback(CallbackRequest("POST", query, {}, body))).status_code
            for query in ({}, {"secret": "nope"}, {"secret": "s3"})
        ]

    assert run(calls()) == [401, 401, 200]


def test_tables_agree_with_the_dialects() -> None:
    assert set(CODE_KINDS) <= set(tc_wire.ERRORS)
    assert set(tc_wire.REFUSAL_CODES.values()) <= set(CODE_KINDS)  # every refusal B answers is read
    assert STATUS_KINDS[401].kind is ErrorKind.AUTHENTICATION
    assert STATUS_KINDS[429].kind is ErrorKind.THROTTLED and STATUS_KINDS[429].retryable
