"""Webhook sender processes: ``textgate webhooks worker``, alone or started by ``serve``.

A gateway sends at least one webhook for every message, and in one Python process that competes for the
one interpreter lock with the API and the carrier sessions. Sending is already a queue in the database
(``webhook_deliveries``: claimed under a lease, at-least-once, in order per message), so any number of
processes - on this host or on others sharing the database - can share it. With
``TEXTGATE_WEBHOOK_PROCESSES=N``, ``serve`` starts N such processes, restarts one that dies, stops them
when it stops, and sends no webhooks itself. It wakes them through a pipe on their standard input when it
queued webhooks, as it would wake its own worker; senders started on their own find work by polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys

from sqlalchemy import Engine

from textgate.children import ChildProcesses
from textgate.config import Settings
from textgate.store.db import in_memory
from textgate.workers.webhooks import WebhookWorker

log = logging.getLogger(__name__)

#: Settings a sender process takes from its ``serve`` (they may have been given to ``serve`` in code).
INHERITED = (
    "database_url",
    "sqlite_synchronous",
    "lease_seconds",
    "poll_interval",
    "idle_poll_max",
    "webhook_timeout",
    "webhook_batch",
    "webhook_concurrency",
    "allow_private_urls",
    "smtp_host",
    "smtp_port",
    "smtp_from",
    "smtp_username",
    "smtp_password",
    "smtp_starttls",
    "log_level",
)


class _Nudges(asyncio.Protocol):
    """Any bytes on the pipe from ``serve`` mean "new webhooks are queued": wake the worker. The pipe's end
    means ``serve`` is gone (stopped, or killed outright): stop too, rather than live on as an orphan."""

    def __init__(self, worker: WebhookWorker, stop: asyncio.Event) -> None:
        self.worker = worker
        self.stop = stop

    def data_received(self, data: bytes) -> None:
        self.worker.idle.nudge()

    def eof_received(self) -> bool | None:
        self.stop.set()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop.set()


async def run_sender(
    settings: Settings, engine: Engine, *, stop: asyncio.Event | None = None, stdin_nudges: bool = False
) -> None:
    """Send webhooks until ``stop`` is set, or until SIGTERM/SIGINT when no event is given.

    ``stdin_nudges``: standard input is a pipe from ``serve``, which writes to it when it queued webhooks,
    so a quiet gateway's webhook goes out at once instead of at the sender's next poll; the sender stops
    when the pipe closes.
    """
    loop = asyncio.get_running_loop()
    if stop is None:
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    worker = WebhookWorker(
        engine, settings, batch_size=settings.webhook_batch, concurrency=settings.webhook_concurrency
    )
    pipe: asyncio.BaseTransport | None = None
    if stdin_nudges:
        pipe, _ = await loop.connect_read_pipe(lambda: _Nudges(worker, stop), sys.stdin.buffer)
    try:
        await worker.run(stop)
    finally:
        if pipe is not None:
            pipe.close()
        await worker.aclose()


def sender_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    for name in INHERITED:
        value = getattr(settings, name)
        key = f"TEXTGATE_{name.upper()}"
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


class SenderProcesses(ChildProcesses):
    """``count`` child processes running ``textgate webhooks worker``, kept running until :meth:`stop`."""

    kind = "webhook sender"

    def __init__(self, settings: Settings, count: int) -> None:
        super().__init__(count)
        self.settings = settings
        self._nudge_pending = False

    async def _spawn(self) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "textgate", "webhooks", "worker", "--stdin-nudges"]
        proc = subprocess.Popen(cmd, env=sender_env(self.settings), stdin=subprocess.PIPE)
        assert proc.stdin is not None
        os.set_blocking(proc.stdin.fileno(), False)
        return proc

    def nudge(self) -> None:
        """Tell every sender that webhooks were queued (one byte each; a full pipe already says so).

        On the event loop, the nudges of one loop iteration (every receipt of a batch reports a change)
        become one write per sender, at the end of the iteration."""
        if self._nudge_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write_nudges()
            return
        self._nudge_pending = True
        loop.call_soon(self._write_nudges)

    def _write_nudges(self) -> None:
        self._nudge_pending = False
        for proc in self.procs:
            # (A sender that exited is restarted by _keep_running; writing to its pipe fails quietly.)
            if proc.stdin is None or proc.returncode is not None:
                continue
            with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
                os.write(proc.stdin.fileno(), b"!")

    async def start(self) -> None:
        if in_memory(self.settings.database_url):
            raise ValueError("webhook sender processes need a database file or server, not an in-memory one")
        await self.start_all()
