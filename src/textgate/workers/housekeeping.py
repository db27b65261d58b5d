"""Delivery state that waits on time, looked after by every serving node about once a second:

* long inbound messages whose missing parts did not come within their wait: recorded as they are;
* long outbound messages with a failed part whose wait for the other parts' receipts is over: decided;
* early receipts: tried again (on PostgreSQL a receipt stored while its submission was being recorded can
  miss it), and dropped when they expire.

Each pass is one short transaction over indexed columns that are empty most of the time; several nodes
running it at once is harmless (every step is guarded by the state it reads).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine

from textgate.domain.clock import Clock, utcnow
from textgate.service.inbound import report_incomplete_inbound
from textgate.service.receipts import decide_waiting_parts, retry_early
from textgate.store.db import run_sync

log = logging.getLogger(__name__)

#: An early receipt is tried again once it is this old (its submission's round has long been recorded).
RETRY_AFTER = timedelta(seconds=2)


class Housekeeping:
    def __init__(self, engine: Engine, *, clock: Clock = utcnow, interval: float = 1.0) -> None:
        self.engine = engine
        self.clock = clock
        self.interval = interval
        #: Called when a pass changed something (it may have queued webhooks).
        self.on_change: Callable[[], None] = lambda: None

    def run_once(self) -> int:
        now = self.clock()
        with self.engine.begin() as conn:
            done = report_incomplete_inbound(conn, now=now)
            done += decide_waiting_parts(conn, now=now)
            done += retry_early(conn, now=now, older_than=RETRY_AFTER)
        return done

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                if await run_sync(self.engine, self.run_once):
                    self.on_change()
            except Exception:
                log.exception("housekeeping pass failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
