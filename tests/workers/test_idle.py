from __future__ import annotations

import asyncio
import time

from textgate.workers.idle import IdleWait


def test_idle_waits_grow_to_the_cap_and_a_nudge_resets_them() -> None:
    async def go() -> None:
        idle = IdleWait(0.01, 0.04)
        stop = asyncio.Event()
        seen = []
        for _ in range(4):
            seen.append(idle.current)
            await idle.wait(stop)
        assert seen == [0.01, 0.02, 0.04, 0.04]
        # A nudge during a long wait ends it at once and brings the interval back to the base.
        idle.current = 10.0
        asyncio.get_running_loop().call_later(0.02, idle.nudge)
        t0 = time.monotonic()
        await idle.wait(stop)
        assert time.monotonic() - t0 < 1.0 and idle.current == 0.01
        # A nudge that arrives while the loop is busy is not lost: the next wait returns at once.
        idle.current = 10.0
        idle.nudge()
        t0 = time.monotonic()
        await idle.wait(stop)
        assert time.monotonic() - t0 < 0.5
        # at_most bounds a wait (a report known to be due soon); stop ends it.
        idle.current = 10.0
        t0 = time.monotonic()
        await idle.wait(stop, at_most=0.02)
        assert time.monotonic() - t0 < 1.0
        stop.set()
        t0 = time.monotonic()
        await idle.wait(stop)
        assert time.monotonic() - t0 < 0.5

    asyncio.run(go())
