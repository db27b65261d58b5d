"""Request limits as plain ASGI middleware, in front of every route (native API and dialects alike):

* size: refuses early on Content-Length, and counts streamed bodies too, so a client cannot exhaust
  memory by omitting the header. A client that writes its whole body before it reads (``urllib``,
  ``requests``) still gets the 413: the body is read and thrown away first, up to a bound (lingering
  close), instead of the connection being reset under it;
* text: a JSON body whose strings hold a lone UTF-16 surrogate (``"\\ud800"``: valid JSON, but no text
  any database or answer can carry) is refused with a 400 naming the field, before any route runs.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from textgate.domain.errors import ErrorKind, TextgateError, TooLarge, ValidationError
from textgate.providers.registry import ErrorRenderer

#: A refused body is read and discarded (so the client, which may be writing all of it before reading,
#: gets the 413 instead of a reset connection) when it declares at most this many times the limit, or
#: ``DRAIN_MIN_BYTES``; a larger one is answered at once.
DRAIN_FACTOR = 4
DRAIN_MIN_BYTES = 16 * 1024 * 1024

Renderers = list[tuple[str, ErrorRenderer]]


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def refuse(
    renderers: Renderers, error: TextgateError, status: int, scope: Scope, receive: Receive, send: Send
) -> None:
    """Answer ``error`` in the shape of the dialect whose path this is, or the native API's."""
    path = str(scope.get("path", "")).lower()
    for prefix, render in renderers:
        if path.startswith(prefix):
            await render(path, error)(scope, receive, send)
            return
    body = orjson.dumps({"error": {"code": error.kind.value, "message": error.message, "field": error.field}})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _sorted(renderers: list[tuple[tuple[str, ...], ErrorRenderer]] | None) -> Renderers:
    # The longest matching prefix wins: one dialect's path may begin another's (``/api`` vs ``/api/v1/``).
    pairs = [(prefix, render) for prefixes, render in renderers or [] for prefix in prefixes]
    return sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)


class BodySizeLimit:
    """``renderers`` answer the refusal in a provider dialect's own shape on that dialect's paths."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        renderers: list[tuple[tuple[str, ...], ErrorRenderer]] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.renderers = _sorted(renderers)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = TooLarge(f"request body larger than {self.max_bytes} bytes")
        await refuse(self.renderers, error, 413, scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    break
                if declared > self.max_bytes:
                    if declared <= max(self.max_bytes * DRAIN_FACTOR, DRAIN_MIN_BYTES):
                        await _drain(receive)  # so a client still writing its body reads the answer
                    await self._reject(scope, receive, send)
                    return
                # The HTTP server delivers no more than the declared length: nothing to count.
                await self.app(scope, receive, send)
                return
        seen = 0
        started = False
        rejected = False

        async def counted_receive() -> Message:
            nonlocal seen, rejected
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Answer 413 now and tell the application the client went away, so it stops reading
                    # (frameworks turn exceptions raised from receive() into their own 400s).
                    if not started and not rejected:
                        rejected = True
                        await self._reject(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return  # the 413 already went out
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracking_send)
        except Exception:
            if not rejected:
                raise


def _lone_surrogate_at(value: Any, path: str) -> str | None:
    """The path (``body``, ``to[1]``, ``meta.note``) of the first string in ``value`` that holds a lone
    surrogate, or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "body"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            found = _lone_surrogate_at(key, name) or _lone_surrogate_at(item, name)
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _lone_surrogate_at(item, f"{path}[{i}]" if path else f"[{i}]")
            if found:
                return found
    return None


class TextCheck:
    """Refuses a JSON body with a lone surrogate in any string (see the module docstring). Bodies without
    a ``\\u`` escape - nearly all - are passed on after one scan of their bytes."""

    def __init__(
        self, app: ASGIApp, renderers: list[tuple[tuple[str, ...], ErrorRenderer]] | None = None
    ) -> None:
        self.app = app
        self.renderers = _sorted(renderers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        ctype = next((v for k, v in scope.get("headers", []) if k == b"content-type"), b"").lower()
        if b"json" not in ctype:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        messages: list[Message] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if b"\\u" in body or b"\\U" in body:
            try:
                field = _lone_surrogate_at(json.loads(body), "")
            except (ValueError, RecursionError):
                field = None  # not JSON at all: the route says so in its own words
            if field is not None:
                error = ValidationError(
                    f"{field}: the text holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape), "
                    "which is not a character",
                    field=field,
                    kind=ErrorKind.INVALID_CONTENT,
                )
                await refuse(self.renderers, error, 400, scope, receive, send)
                return
        replay = iter(messages)

        async def replayed() -> Message:
            try:
                return next(replay)
            except StopIteration:
                return await receive()

        await self.app(scope, replayed, send)


class RelativeSlashRedirects:
    """The router answers ``/v1/messages/`` with a 307 to ``/v1/messages``, and builds the ``Location``
    from the request's ``Host`` header - which the client writes (``Host: evil.example`` would send it,
    method and body kept, elsewhere). Those redirects are rewritten to a path-only ``Location``; any other
    redirect is left alone."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        twins = {path.rstrip("/") or "/", path + "/"}

        async def rewriting(message: Message) -> None:
            if message["type"] == "http.response.start" and message.get("status") in (307, 308):
                headers = []
                for name, value in message.get("headers", []):
                    if name == b"location":
                        value = _same_path(value, twins) or value
                    headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, rewriting)


def _same_path(location: bytes, twins: set[str]) -> bytes | None:
    """The path and query of ``location`` when its path is one of ``twins``, else None."""
    from urllib.parse import urlsplit

    parts = urlsplit(location.decode("latin-1"))
    if parts.path not in twins:
        return None
    return (parts.path + (f"?{parts.query}" if parts.query else "")).encode("latin-1")
