"""The pipe between API processes and their serve: a child's nudge wakes the parent's dispatcher."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from textgate.web.processes import _Nudges


def test_a_child_nudges_its_parent_through_its_standard_output() -> None:
    code = "from textgate.web.processes import nudge_parent; nudge_parent(); nudge_parent()"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, timeout=60).stdout
    assert out == b"!!"


def test_the_parent_turns_each_read_of_nudges_into_a_wake_up() -> None:
    woken: list[int] = []

    async def main() -> None:
        read, write = os.pipe()
        loop = asyncio.get_running_loop()
        with os.fdopen(read, "rb", buffering=0) as pipe:
            transport, _ = await loop.connect_read_pipe(lambda: _Nudges(lambda: woken.append(1)), pipe)
            os.write(write, b"!!!")
            for _ in range(100):
                if woken:
                    break
                await asyncio.sleep(0.01)
            count = len(woken)
            os.write(write, b"!")
            await asyncio.sleep(0.05)
            assert len(woken) == count + 1
            transport.close()
        os.close(write)

    asyncio.run(main())
    assert 1 <= len(woken) <= 4
