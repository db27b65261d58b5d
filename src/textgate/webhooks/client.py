"""The HTTP client webhook deliveries go out with: HTTP/1.1 over keep-alive connections, one request at a
time per connection, responses read by ``httptools`` (the parser uvicorn serves with).

A gateway sends at least one webhook for every message, so the client's CPU per request counts. A
general client pays for features a webhook POST does not use (cookies, redirects, proxies, compression,
streaming bodies, tracing hooks): against a local receiver aiohttp's session costs about 160-190 µs of
CPU a POST on uvloop, this client about 35 µs (measured on the same receiver; see docs/benchmarks.md).

What it does, and nothing more:

* ``http`` and ``https`` URLs (TLS with the system's CA store, certificate and host name verified);
  ``user:password@`` in the URL becomes HTTP Basic authorization;
* one request, one response: the status is returned, at most ``max_body`` bytes of the response body are
  read (a longer body is cut off and its connection closed, so a receiver cannot keep a sender busy);
* redirects are not followed (the status is the answer); no cookies, no proxies, no compression;
* idle connections are kept per origin (``max_idle`` each) and reused; a request whose reused connection
  turns out to have been closed by the receiver before answering is sent once more on a new connection
  (receivers deduplicate on ``webhook-id``: delivery is at least once anyway);
* ``timeout`` bounds the whole request (connecting included) and raises ``TimeoutError``.

Errors: :class:`ConnectFailed` when no connection could be made, :class:`ResponseError` for a broken or
missing response, ``ValueError`` for a URL or header it cannot send.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from dataclasses import dataclass
from functools import lru_cache
from typing import cast
from urllib.parse import unquote, urlsplit

import httptools

_FORBIDDEN = frozenset("\r\n\0")


class ConnectFailed(OSError):
    """No connection to the receiver (refused, unreachable, DNS, TLS handshake)."""


class ResponseError(Exception):
    """The connection broke or the receiver's answer was not HTTP."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a URL's requests go, parsed once."""

    secure: bool
    host: str
    port: int
    host_header: str
    path: str
    authorization: str | None

    @property
    def origin(self) -> tuple[bool, str, int]:
        return (self.secure, self.host, self.port)


@lru_cache(maxsize=4096)
def target(url: str) -> Target:
    """Parse ``url``; ValueError for one this client cannot send to."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"unsupported URL scheme {parts.scheme!r}")
    host = parts.hostname
    if not host:
        raise ValueError("the URL has no host")
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)  # (.port raises ValueError for a bad one)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if any(ch in _FORBIDDEN or ch.isspace() for ch in path):
        raise ValueError("the URL's path contains whitespace or control characters")
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode("ascii")
    return Target(secure, host, port, parts.netloc.rpartition("@")[2], path, authorization)


def _head(method: str, t: Target, headers: dict[str, str], length: int | None) -> bytes:
    lines = [f"{method} {t.path} HTTP/1.1", f"Host: {t.host_header}"]
    lowered = set()
    for name, value in headers.items():
        if any(ch in _FORBIDDEN for ch in name + value) or ":" in name:
            raise ValueError(f"header {name!r} contains characters HTTP does not allow")
        lines.append(f"{name}: {value}")
        lowered.add(name.lower())
    if t.authorization is not None and "authorization" not in lowered:
        lines.append(f"Authorization: {t.authorization}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Stale(ResponseError):
    """A connection closed before any byte of the answer: a reused one may be retried."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; ``exchange`` sends a request and waits for its response's status."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.reusable = False
        self._waiter: asyncio.Future[int] | None = None
        self._status = 0
        self._body = 0
        self._max_body = 0
        self._answered = False  # any byte of the response arrived

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports do not derive from asyncio.Transport, but have its methods)
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # nothing asked: a receiver talking out of turn
            self.close()
            return
        self._answered = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._finish(error=ResponseError(f"malformed HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        if self._waiter is not None and not self._waiter.done():
            if self._status >= 200:  # a body delimited by the connection's end
                self._waiter.set_result(self._status)
            elif self._answered:
                self._waiter.set_exception(ResponseError("the receiver closed the connection mid-answer"))
            else:
                self._waiter.set_exception(_Stale("the receiver closed the connection without answering"))

    # -- httptools callbacks
    def on_headers_complete(self) -> None:
        self._status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self._body += len(body)
        if self._body > self._max_body:  # answer taken; the rest is not worth reading
            self._finish(status=self._status)

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:  # an interim answer; the real one follows
            self._status = 0
            return
        self._finish(status=self._status, reusable=self.parser.should_keep_alive())

    # --
    def _finish(self, *, status: int = 0, error: Exception | None = None, reusable: bool = False) -> None:
        waiter, self._waiter = self._waiter, None
        self.reusable = reusable and not self.closed
        if not self.reusable:
            self.close()
        if waiter is not None and not waiter.done():
            if error is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(status)

    async def exchange(self, request: bytes, max_body: int) -> int:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._status = self._body = 0
        self._max_body = max_body
        self._answered = False
        self.reusable = False
        self.transport.write(request)
        try:
            return await self._waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class WebhookClient:
    """Keep-alive connections per origin; see the module docstring."""

    def __init__(
        self, *, max_idle: int = 64, max_body: int = 64 * 1024, tls: ssl.SSLContext | None = None
    ) -> None:
        self.max_idle = max_idle
        self.max_body = max_body
        self._idle: dict[tuple[bool, str, int], list[_Connection]] = {}
        self._tls = tls  # default: the system's CA store, made on the first https request

    async def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        *,
        timeout: float,
        address: str | None = None,
    ) -> int:
        """Send one request; the response's status code. ``address``: connect a new connection to this
        IP (one the SSRF guard checked) rather than resolving the URL's host again; ``Host`` and TLS
        (SNI, certificate) still use the host name."""
        t = target(url)
        request = _head(method, t, headers, None if body is None else len(body)) + (body or b"")
        async with asyncio.timeout(timeout):
            for attempt in (1, 2):
                conn, reused = await self._connection(t, address)
                try:
                    status = await conn.exchange(request, self.max_body)
                except _Stale:
                    conn.close()
                    if reused and attempt == 1:
                        continue
                    raise
                except BaseException:
                    conn.close()
                    raise
                if conn.reusable:
                    idle = self._idle.setdefault(t.origin, [])
                    if len(idle) < self.max_idle:
                        idle.append(conn)
                    else:
                        conn.close()
                return status
        raise AssertionError("unreachable")  # pragma: no cover

    async def _connection(self, t: Target, address: str | None = None) -> tuple[_Connection, bool]:
        idle = self._idle.get(t.origin)
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn, True
        loop = asyncio.get_running_loop()
        try:
            if t.secure:
                if self._tls is None:
                    self._tls = ssl.create_default_context()
                _transport, conn = await loop.create_connection(
                    _Connection, address or t.host, t.port, ssl=self._tls, server_hostname=t.host
                )
            else:
                _transport, conn = await loop.create_connection(_Connection, address or t.host, t.port)
        except OSError as exc:  # refused, unreachable, DNS, TLS handshake or certificate
            raise ConnectFailed(f"cannot connect to {t.host_header}: {exc}") from exc
        return conn, False

    async def close(self) -> None:
        """Close every idle connection."""
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
