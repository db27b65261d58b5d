"""How background loops wait when there is nothing to do.

Polling a database every 50 ms costs an idle server a tenth of a core. A loop instead waits
``base`` seconds after a round that found work, doubling the wait on every empty round up to ``cap``;
a :meth:`IdleWait.nudge` (new work known in this process: a send was accepted, a receipt recorded)
ends the wait at once and brings the next wait back to ``base``. Work that only the database knows of
(another node's, a scheduled time) is found within ``cap``.
"""

from __future__ import annotations

import asyncio
import contextlib


class IdleWait:
    def __init__(self, base: float, cap: float) -> None:
        self.base = max(0.001, base)
        self.cap = max(cap, self.base)
        self.current = self.base
        self._event = asyncio.Event()

    def nudge(self) -> None:
        """Wake the loop now (call from the event loop's thread)."""
        self._event.set()

    def take_nudge(self) -> bool:
        """Whether a nudge came since the last wait (and consume it: the next wait waits again)."""
        if not self._event.is_set():
            return False
        self._event.clear()
        self.current = self.base
        return True

    def worked(self) -> None:
        """A round found work: the next idle wait starts short again."""
        self.current = self.base

    async def wait(self, stop: asyncio.Event, *, at_most: float | None = None) -> None:
        """Sleep until nudged, stopped, or the current idle interval (or ``at_most``) has passed."""
        if self._event.is_set():  # nudged while the last round ran
            self._event.clear()
            self.current = self.base
            return
        timeout = self.current if at_most is None else max(0.0, min(self.current, at_most))
        nudged = asyncio.ensure_future(self._event.wait())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({nudged, stopped}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (nudged, stopped):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._event.is_set():
            self._event.clear()
            self.current = self.base
        else:
            self.current = min(self.current * 2, self.cap)
