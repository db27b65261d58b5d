"""Helpers for the upstream connector tests: gateway B (a real ``textgate serve`` on loopback with an
account, a named key, a number and provider-format webhooks), a receiver that keeps every callback B
makes (GET or POST, query and body), and the gateway-A side: a connector built by its factory.

Every connector shares :mod:`textgate.providers.http_upstream`, so the answers it classifies the same way
for all providers (a wrong credential, B unreachable, a refused message) are asserted here once, by
``expect_*`` helpers; each test module keeps only its provider's table, hooks and wire-specific cases."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.e2e.harness import Server, cli, free_port
from tests.providers.smpp.support import FakeSink
from textgate.domain.errors import CarrierError, ErrorKind
from textgate.providers.base import CallbackRequest, Connector, ConnectorContext, Health, OutboundMessage

NUMBER = "+15551230001"
DELIVERED = "+15550000001"
UNDELIVERED = "+15550000008"
REPLIES = "+15550000009"
KEY_NAME = "api@acme.example"
_ids = itertools.count(1)

__all__ = ["FakeSink"]


@dataclass(frozen=True)
class Hook:
    method: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def as_callback(self) -> CallbackRequest:
        """Exactly what B sent, as the web route hands it to ``connector.callback``."""
        return CallbackRequest(method=self.method, query=self.query, headers=self.headers, body=self.body)

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


class Hooks:
    """A real HTTP server on loopback recording every request B's webhook worker makes; answers 200."""

    def __init__(self) -> None:
        self.requests: list[Hook] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0) or 0))
                parts = urlsplit(self.path)
                hook = Hook(
                    method=self.command,
                    query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with outer._lock:
                    outer.requests.append(hook)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            do_GET = do_POST = _record

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    async def wait(self, match: Callable[[Hook], bool], timeout: float = 20.0) -> Hook:
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            with self._lock:
                found = [h for h in self.requests if match(h)]
            if found:
                return found[0]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no matching callback from B in {timeout} s; got {self.requests!r}")


@dataclass
class GatewayB:
    server: Server
    key_id: str
    secret: str
    named_secret: str
    hooks: Hooks

    @property
    def url(self) -> str:
        return self.server.url

    def message_status(self, message_id: str) -> str:
        with self.server.client(self.secret) as native:
            answer = native.get(f"/v1/messages/{message_id}")
            assert answer.status_code == 200, answer.text
            return str(answer.json()["status"])


@contextmanager
def gateway_b(workdir: Path, hooks: Mapping[str, tuple[str, ...]]) -> Iterator[GatewayB]:
    """B with one webhook endpoint per ``{path: (--format X, --event Y, --option k=v...)}``."""
    server = Server(f"sqlite:///{workdir}/b.db", workdir, sim_report_latency="0.1")
    created = json.loads(cli(server.env, "accounts", "create", "acme", "--credits", "1000", "--json"))
    cli(server.env, "numbers", "add", "acme", NUMBER)
    named = json.loads(cli(server.env, "keys", "create", "acme", "--name", KEY_NAME, "--json"))
    receiver = Hooks()
    for path, args in hooks.items():
        cli(server.env, "webhooks", "add", "acme", receiver.base + path, *args)
    server.start()
    try:
        yield GatewayB(server, created["key_id"], created["secret"], named["secret"], receiver)
    finally:
        server.stop()
        receiver.close()


def gateway_fixture(tag: str, hooks: Mapping[str, tuple[str, ...]]) -> Any:
    """The module's ``b`` fixture: one gateway B per test module (starting one takes seconds)."""

    @pytest.fixture(scope="module", name="b")
    def b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayB]:
        with gateway_b(tmp_path_factory.mktemp(tag), hooks) as gateway:
            yield gateway

    return b


def context(http: httpx.AsyncClient, engine: Any = None) -> ConnectorContext:
    return ConnectorContext(
        http=http, engine=engine, clock=lambda: datetime.now(UTC), public_url="http://a.example:8080"
    )


def connector(
    types: Mapping[str, Any], table: dict[str, Any], http: httpx.AsyncClient, engine: Any = None
) -> Any:
    """A connector built by its module's factory, as bootstrap builds it from ``[[connectors]]``."""
    built = types[table["type"]](table, context(http, engine))
    assert isinstance(built, Connector)
    return built


def outbound(to: str, body: str = "hello from A", sender: str = NUMBER) -> OutboundMessage:
    n = next(_ids)
    return OutboundMessage(
        id=f"msg_upstream{n:08d}{int(time.time() * 1000) % 10**8:08d}",
        account_id="acc_a",
        from_addr=sender,
        to_addr=to,
        body=body,
        encoding="gsm7",
        segments=1,
        type="sms",
        attempt=1,
    )


def dead_url() -> str:
    """A loopback port nothing listens on: B stopped."""
    return f"http://127.0.0.1:{free_port()}"


def run(coro: Any, timeout: float = 60.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def with_http(body: Callable[[httpx.AsyncClient], Awaitable[None]], timeout: float = 60.0) -> None:
    """Run ``body`` with the HTTP client A's connectors share, closed afterwards."""

    async def main() -> None:
        async with httpx.AsyncClient() as http:
            await body(http)

    run(main(), timeout)


async def expect_refusal(
    upstream: Any, message: OutboundMessage, kind: ErrorKind, retryable: bool = False
) -> CarrierError:
    """``submit`` raises a CarrierError of this kind and retryability; returned for any further check."""
    with pytest.raises(CarrierError) as refused:
        await upstream.submit(message)
    assert (refused.value.kind, refused.value.retryable) == (kind, retryable)
    return refused.value


async def expect_wrong_credentials(upstream: Any) -> None:
    """B refuses the credentials: no retry can help, and the connector reports itself DOWN."""
    await expect_refusal(upstream, outbound(DELIVERED), ErrorKind.AUTHENTICATION)
    assert upstream.health() is Health.DOWN


async def expect_unreachable(upstream: Any, *, attempts: int = 1, health: Health = Health.DEGRADED) -> None:
    """Nothing answers at the connector's base_url: each of ``attempts`` submits fails retryably
    (PROVIDER_ERROR), and then its health is ``health`` (DEGRADED at first, DOWN after DOWN_AFTER)."""
    for _ in range(attempts):
        await expect_refusal(upstream, outbound(DELIVERED), ErrorKind.PROVIDER_ERROR, retryable=True)
    assert upstream.health() is health


async def wait_status(b: GatewayB, message_id: str, status: str, timeout: float = 20.0) -> None:
    """Until B's own record of the message shows ``status``."""
    until = time.monotonic() + timeout
    while (seen := await asyncio.to_thread(b.message_status, message_id)) != status:
        assert time.monotonic() < until, f"{message_id} is {seen} at B, not {status}"
        await asyncio.sleep(0.1)
