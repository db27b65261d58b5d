"""API processes: ``serve`` answering HTTP in child processes while it dispatches.

One ``serve`` runs Python on one core: the API, the carrier sessions, receipts and the database work all
share its interpreter lock. With ``TEXTGATE_API_PROCESSES=N`` (N >= 1), ``serve``:

* opens the public listening socket itself and starts N child processes (``textgate serve --api-fd``)
  that accept on it, with their workers off. Every API request (each dialect, the native API, the
  dashboard) is answered by one of them; the kernel hands each new connection to whichever is waiting;
* runs the workers itself (dispatch, connectors, receipts, webhooks), and listens only on a loopback
  port of its own. The children pass it what needs the running connectors: ``/healthz`` and provider
  callbacks (``/callbacks/{connector}``), so both answer exactly as in a single process;
* is woken by the children when they accept a send (a byte on a pipe), as its own API would wake it;
* restarts a child that dies, and stops them when it stops; a child whose parent is gone exits.

``/metrics`` in this mode shows the process that answered it: the API counters of one child. The
carriers' and workers' metrics are in the parent, on its loopback port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

RESTART_PAUSE_SECONDS = 1.0
STOP_GRACE_SECONDS = 10.0
#: Request headers not passed on when a child forwards a request to the parent.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "host"}
)


class _Nudges(asyncio.Protocol):
    """Bytes from a child's standard output: it accepted sends (one call per read, however many)."""

    def __init__(self, on_nudge: Callable[[], None]) -> None:
        self.on_nudge = on_nudge

    def data_received(self, data: bytes) -> None:
        self.on_nudge()


class ApiProcesses:
    """``count`` children answering HTTP on the inherited socket ``listen_fd``, forwarding to ``forward``."""

    def __init__(self, count: int, listen_fd: int, forward: str) -> None:
        self.count = count
        self.listen_fd = listen_fd
        self.forward = forward
        self.procs: list[subprocess.Popen[bytes]] = []
        self._on_nudge: Callable[[], None] = lambda: None
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False

    async def _spawn(self) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "textgate", "serve", "--api-fd", str(self.listen_fd)]
        cmd += ["--forward", self.forward]
        env = {
            **os.environ,
            "TEXTGATE_RUN_WORKERS": "false",
            "TEXTGATE_API_PROCESSES": "0",
            "TEXTGATE_WEBHOOK_PROCESSES": "0",
        }
        proc = subprocess.Popen(
            cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=(self.listen_fd,)
        )
        assert proc.stdout is not None
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: _Nudges(self._on_nudge), proc.stdout)
        return proc

    async def start(self, on_nudge: Callable[[], None]) -> None:
        self._on_nudge = on_nudge
        self._stopping = False
        self.procs = [await self._spawn() for _ in range(self.count)]
        log.info("started %d API processes (pids %s)", self.count, [p.pid for p in self.procs])
        self._watch = asyncio.create_task(self._keep_running(), name="api-processes")

    async def _keep_running(self) -> None:
        while not self._stopping:
            await asyncio.sleep(RESTART_PAUSE_SECONDS)
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None and not self._stopping:
                    log.warning("API process %d exited with %s; starting another", proc.pid, proc.returncode)
                    self.procs[i] = await self._spawn()

    async def stop(self) -> None:
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for proc in self.procs:
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if proc.poll() is None:
                log.warning("API process %d did not stop in time; killing it", proc.pid)
                proc.kill()
                proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
        self.procs = []


# -- in the child -----------------------------------------------------------------------------------
def nudge_parent() -> None:
    """Tell the parent ``serve`` that sends were accepted (a full pipe already says so)."""
    with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
        os.write(1, b"!")


def exit_with_parent() -> None:
    """End this child (as SIGTERM would) once the parent's end of its standard input closes."""
    os.set_blocking(1, False)

    def watch() -> None:
        with contextlib.suppress(OSError):
            while sys.stdin.buffer.read(4096):
                pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
