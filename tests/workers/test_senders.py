"""SenderProcesses.nudge: the nudges of one event-loop iteration reach each sender as one byte."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from textgate.config import Settings
from textgate.workers.senders import SenderProcesses

# A stand-in sender: counts the nudge bytes it is sent until its stdin closes.
COUNTER = "import sys; print(len(sys.stdin.buffer.read()))"


def _counter() -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", COUNTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None
    os.set_blocking(proc.stdin.fileno(), False)
    return proc


def _bytes_read(proc: subprocess.Popen[bytes]) -> int:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    out = proc.stdout.read()
    proc.wait(timeout=30)
    return int(out)


def test_nudges_in_one_loop_iteration_are_one_write_per_sender() -> None:
    senders = SenderProcesses(Settings(), 2)
    senders.procs = [_counter(), _counter()]

    async def main() -> None:
        for _ in range(500):  # e.g. every receipt of one recorded batch
            senders.nudge()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        senders.nudge()  # a later iteration: a nudge of its own
        await asyncio.sleep(0)

    asyncio.run(main())
    assert [_bytes_read(p) for p in senders.procs] == [2, 2]


def test_nudge_outside_an_event_loop_writes_at_once() -> None:
    senders = SenderProcesses(Settings(), 1)
    senders.procs = [_counter()]
    senders.nudge()
    senders.nudge()
    assert _bytes_read(senders.procs[0]) == 2
