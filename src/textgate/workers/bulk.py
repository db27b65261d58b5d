"""The bulk worker: turns accepted bulk sends into queued messages, a chunk at a time.

One round is one transaction: take the bulk send that has been due longest (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so several nodes share the work), and if fewer than ``backlog`` of its messages still wait in
the dispatch queue, expand the next ``chunk`` recipients; then push its ``due_at`` forward — to now when it
made progress (it goes to the back of the line behind other bulk sends), a little later when its backlog
was full. A node that dies mid-round loses nothing: the transaction rolls back and the send stays due.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine, select, update

from textgate.domain.clock import Clock, utcnow
from textgate.service.bulk import BACKLOG, CHUNK, backlog, expand
from textgate.service.send import ACCEPTED
from textgate.store.db import is_sqlite, reading, run_sync
from textgate.store.schema import bulk_sends
from textgate.workers.idle import IdleWait

log = logging.getLogger(__name__)


class BulkWorker:
    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock = utcnow,
        chunk: int = CHUNK,
        backlog: int = BACKLOG,
        recheck_seconds: float = 0.5,
        poll_interval: float = 0.05,
        idle_max: float = 1.0,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.chunk = chunk
        self.backlog = backlog
        self.recheck = timedelta(seconds=recheck_seconds)
        self.idle = IdleWait(poll_interval, idle_max)
        #: Called when a round queued messages (the dispatcher should look).
        self.on_expanded: Callable[[], None] = lambda: None

    def round(self) -> int:
        """Expand one chunk of one due bulk send; returns the number of messages created."""
        now = self.clock()
        query = (
            select(bulk_sends.c.id)
            .where(bulk_sends.c.due_at <= now, bulk_sends.c.status.in_(("queued", "running")))
            .order_by(bulk_sends.c.due_at)
            .limit(1)
        )
        if is_sqlite(self.engine):
            # Nothing due (the common case): a snapshot says so without queueing for the write lock.
            with reading(self.engine) as snapshot:
                if snapshot.execute(query).first() is None:
                    return 0
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            bulk_id = conn.execute(query).scalar_one_or_none()
            if bulk_id is None:
                return 0
            if backlog(conn, bulk_id) >= self.backlog:
                conn.execute(
                    update(bulk_sends).where(bulk_sends.c.id == bulk_id).values(due_at=now + self.recheck)
                )
                return 0
            added = expand(conn, bulk_id, now=now, limit=self.chunk)
            conn.execute(
                update(bulk_sends)
                .where(bulk_sends.c.id == bulk_id, bulk_sends.c.status != "finished")
                .values(due_at=now)
            )
        ACCEPTED.labels("bulk").inc(added)  # committed: as a send's messages are counted once stored
        return added

    async def run_once(self) -> int:
        added = await run_sync(self.engine, self.round)
        if added:
            self.on_expanded()
        return added

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                added = await self.run_once()
            except Exception:
                log.exception("bulk round failed; retrying")
                added = 0
            if added:
                self.idle.worked()
                await asyncio.sleep(
                    0
                )  # let request handlers and the dispatcher have the database between chunks
            else:
                await self.idle.wait(stop, at_most=self.recheck.total_seconds())
