"""Child processes ``serve`` keeps beside itself (webhook senders, API processes): started together,
restarted when one exits, stopped with ``serve``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import subprocess
import time

log = logging.getLogger(__name__)

#: How often exited children are noticed and replaced.
RESTART_PAUSE_SECONDS = 1.0
#: How long a child has to stop after SIGTERM before it is killed.
STOP_GRACE_SECONDS = 10.0


class ChildProcesses:
    """``count`` children made by :meth:`_spawn`, kept running from :meth:`start_all` until :meth:`stop`.

    Stopping closes each child's standard input (children watch it, so they also end when ``serve`` is
    killed), sends SIGTERM, and kills what has not exited after ``STOP_GRACE_SECONDS``.
    """

    #: How log lines name one child.
    kind = "child process"

    def __init__(self, count: int) -> None:
        self.count = count
        self.procs: list[subprocess.Popen[bytes]] = []
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False

    async def _spawn(self) -> subprocess.Popen[bytes]:
        raise NotImplementedError

    async def start_all(self) -> None:
        self._stopping = False
        self.procs = [await self._spawn() for _ in range(self.count)]
        log.info("started %d %ses (pids %s)", self.count, self.kind, [p.pid for p in self.procs])
        self._watch = asyncio.create_task(self._keep_running(), name=self.kind)

    async def _keep_running(self) -> None:
        while not self._stopping:
            await asyncio.sleep(RESTART_PAUSE_SECONDS)
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None and not self._stopping:
                    log.warning(
                        "%s %d exited with %s; starting another", self.kind, proc.pid, proc.returncode
                    )
                    self.procs[i] = await self._spawn()

    async def stop(self) -> None:
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        for proc in self.procs:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for proc in self.procs:
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if proc.poll() is None:
                log.warning("%s %d did not stop in time; killing it", self.kind, proc.pid)
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                with contextlib.suppress(OSError):
                    proc.stdout.close()
        self.procs = []
