"""A bare ASGI endpoint on the same server stack as ``textgate serve``: the baseline for ``send_rate.py``.

It reads the whole request body and answers 202 with a fixed JSON body about the size of textgate's
single-message answer. No framework, no validation, no database: what is left is uvicorn, its HTTP
parser and event loop, and the kernel's loopback, i.e. the ceiling any ASGI app can reach on this box.

``--app fastapi`` serves the same answer from a minimal FastAPI route instead (a pydantic body model
like textgate's, a header dependency, ``JSONResponse``; no middleware, no database): a diagnostic for
what the framework alone costs per request.

``uvicorn.run`` is called exactly as ``textgate.cli.serve`` calls it (default ``loop``/``http``, i.e.
uvloop and httptools when installed; ``access_log=False``).

Run: ``.venv/bin/python bench/bare_asgi.py --port 8099 [--app fastapi]``
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Shaped like textgate's answer to a one-recipient send (same keys, similar length: ~460 bytes).
BODY = (
    b'{"messages":[{"id":"msg_000000000000000000000000","direction":"outbound","type":"sms",'
    b'"from":"+15551230001","to":"+15550001000","body":"bench message","media":[],"status":"queued",'
    b'"encoding":"gsm7","segments":1,"credits":1,"error_code":null,"error_message":null,'
    b'"client_ref":null,"batch_id":null,"schedule_at":null,"expires_at":"2026-01-01T00:00:00.000Z",'
    b'"created_at":"2026-01-01T00:00:00.000Z","updated_at":"2026-01-01T00:00:00.000Z",'
    b'"sent_at":null,"delivered_at":null}]}'
)
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more_body = True
    while more_body:  # read (and drop) the whole request body, as a real endpoint must
        message = await receive()
        more_body = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 202, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--log-level", default="info", help="textgate's default log level is info")
    parser.add_argument("--app", choices=["bare", "fastapi"], default="bare")
    args = parser.parse_args()
    if args.app == "fastapi":
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root
        from bench.fastapi_app import create_app

        application: Any = create_app(BODY)
    else:
        application = app
    uvicorn.run(application, host=args.host, port=args.port, log_level=args.log_level, access_log=False)


if __name__ == "__main__":
    main()
