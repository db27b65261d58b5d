"""Request size limit as plain ASGI middleware: refuses early on Content-Length, and counts streamed
bodies too, so a client cannot exhaust memory by omitting the header."""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from textgate.domain.errors import ErrorKind, TooLarge
from textgate.providers.registry import ErrorRenderer


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
        # The longest matching prefix wins: one dialect's path may begin another's (``/api`` vs ``/api/v1/``).
        pairs = [(prefix, render) for prefixes, render in renderers or [] for prefix in prefixes]
        self.renderers = sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", "")).lower()
        for prefix, render in self.renderers:
            if path.startswith(prefix):
                error = TooLarge(f"request body larger than {self.max_bytes} bytes")
                await render(path, error)(scope, receive, send)
                return
        body = orjson.dumps(
            {
                "error": {
                    "code": ErrorKind.TOO_LARGE.value,
                    "message": f"request body larger than {self.max_bytes} bytes",
                    "field": None,
                }
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

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
