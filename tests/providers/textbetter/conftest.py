"""Fixtures for the TextBetter dialect tests: an in-process app, a tenant owning the document's sender
number ``15551230001``, and a local HTTP server that records webhook deliveries (GET and POST)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine

from tests.helpers import ManualClock, Tenant, make_tenant

#: The document's sender number (it owns it in every test) and a recipient textgate accepts.
SENDER = "15551230001"
RECIPIENT = "15550001000"


@pytest.fixture
def tenant(engine: Engine, clock: ManualClock) -> Tenant:
    return make_tenant(engine, credits=100, number="+" + SENDER, now=clock())


@dataclass
class Hit:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HookServer:
    """Records every request and answers 200 (TextBetter customers' endpoints answer anything 2xx)."""

    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sms"

    def snapshot(self) -> list[Hit]:
        with self.lock:
            return list(self.hits)


def start_hook_server() -> tuple[HookServer, ThreadingHTTPServer]:
    rec = HookServer()

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            with rec.lock:
                rec.hits.append(
                    Hit(
                        self.command,
                        parts.path,
                        parts.query,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                )
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

        do_GET = _record
        do_POST = _record

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    rec.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return rec, server


@pytest.fixture
def hooks() -> Iterator[HookServer]:
    rec, server = start_hook_server()
    yield rec
    server.shutdown()
    server.server_close()
