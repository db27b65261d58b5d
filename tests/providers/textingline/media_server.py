"""A real local HTTP server that serves media for the MMS tests (and misbehaves on purpose)."""

from __future__ import annotations

import contextlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: A tiny JPEG: SOI, a JFIF APP0 segment, filler, EOI.
PROMO_JPG = (
    bytes.fromhex("ffd8ffe000104a46494600010100000100010000") + bytes(range(64)) + bytes.fromhex("ffd9")
)
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
TOO_BIG = 5 * 1024 * 1024 + 1


class MediaServer:
    """Serves fixed routes on 127.0.0.1; ``hits`` lists the paths requested, in order."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with outer.lock:
                    outer.hits.append(self.path)
                # The fetcher may hang up (too large, too slow): that is the point.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    outer.answer(self)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def url(self, path: str) -> str:
        return self.base + path

    def __enter__(self) -> MediaServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str | None, length: bool = True
    ) -> None:
        h.send_response(status)
        if ctype is not None:
            h.send_header("Content-Type", ctype)
        if length:
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        if path == "/images/promo.jpg":
            self._send(h, 200, PROMO_JPG, "image/jpeg")
        elif path == "/files/menu.pdf":
            self._send(h, 200, PDF, "application/pdf")
        elif path == "/page.html":
            self._send(h, 200, b"<html>hello</html>", "text/html; charset=utf-8")
        elif path == "/no-type":
            self._send(h, 200, PROMO_JPG, None)
        elif path == "/empty.jpg":
            self._send(h, 200, b"", "image/jpeg")
        elif path == "/big.jpg":
            self._send(h, 200, b"\xff" * TOO_BIG, "image/jpeg")
        elif path == "/big-unannounced.jpg":
            # HTTP/1.0 without Content-Length: the body ends when the connection closes.
            self._send(h, 200, b"\xff" * TOO_BIG, "image/jpeg", length=False)
        elif path == "/redirect":
            h.send_response(302)
            h.send_header("Location", "/images/promo.jpg")
            h.send_header("Content-Length", "0")
            h.end_headers()
        elif path == "/loop":
            h.send_response(302)
            h.send_header("Location", "/loop")
            h.send_header("Content-Length", "0")
            h.end_headers()
        elif path == "/slow.jpg":
            time.sleep(2.0)
            self._send(h, 200, PROMO_JPG, "image/jpeg")
        else:
            self._send(h, 404, b"not found", "text/plain")
