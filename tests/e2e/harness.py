"""Real processes for end-to-end tests: ``textgate serve`` as a subprocess and a webhook receiver on a
real local HTTP server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

TEXTGATE = [sys.executable, "-m", "textgate"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli_result(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``textgate ARGS`` and return the finished process, whatever its exit code."""
    return subprocess.run([*TEXTGATE, *args], env=env, capture_output=True, text=True, timeout=60)


def cli(env: dict[str, str], *args: str) -> str:
    proc = cli_result(env, *args)
    if proc.returncode != 0:
        raise AssertionError(f"textgate {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


class Server:
    """``textgate serve`` on a free loopback port; its log goes to a file for post-mortems."""

    def __init__(self, db_url: str, workdir: Path, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "TEXTGATE_DATABASE_URL": db_url,
            "TEXTGATE_ALLOW_PRIVATE_URLS": "true",
            "TEXTGATE_LOG_LEVEL": "warning",
            **{f"TEXTGATE_{k.upper()}": v for k, v in settings.items()},
        }
        self.log = workdir / f"serve-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*TEXTGATE, "serve", "--port", str(self.port)], env=self.env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"textgate serve exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"textgate serve did not become healthy: {self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flushing — a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self, secret: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {secret}"}, timeout=30)


class Receiver:
    """A webhook receiver: records every request (headers and raw body) and answers 204."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with outer._lock:
                    outer.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(body) for _, body in self.requests]


def wait_for(
    predicate: Callable[[], bool],
    timeout: float = 30,
    interval: float = 0.1,
    describe: Callable[[], object] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    state = f": {describe()}" if describe is not None else ""
    raise AssertionError(f"condition not met in {timeout} s{state}")
