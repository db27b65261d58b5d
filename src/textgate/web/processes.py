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
from collections.abc import Callable

from textgate.children import ChildProcesses

log = logging.getLogger(__name__)

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


class ApiProcesses(ChildProcesses):
    """``count`` children answering HTTP on the inherited socket ``listen_fd``, forwarding to ``forward``."""

    kind = "API process"

    def __init__(self, count: int, listen_fd: int, forward: str) -> None:
        super().__init__(count)
        self.listen_fd = listen_fd
        self.forward = forward
        self._on_nudge: Callable[[], None] = lambda: None

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
        await self.start_all()


# -- in the child -----------------------------------------------------------------------------------
def nudge_parent() -> None:
    """Tell the parent ``serve`` that sends were accepted (a full pipe already says so)."""
    with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
        os.write(1, b"!")


def exit_with_parent() -> None:
    """End this child (as SIGTERM would) once the parent's end of its standard input closes. Also makes
    standard output, the nudge pipe, non-blocking (see :func:`nudge_parent`)."""
    os.set_blocking(1, False)

    def watch() -> None:
        with contextlib.suppress(OSError):
            while sys.stdin.buffer.read(4096):
                pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
