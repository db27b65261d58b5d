"""The dispatch worker: takes due messages from the queue (the ``messages`` table) and hands them to a
connector.

One round:

1. **claim** (one transaction): due messages (``due_at <= now``), oldest first, ``FOR UPDATE SKIP LOCKED``
   on PostgreSQL so several workers and nodes share the queue. A message past its validity becomes
   ``expired``; a scheduled one becomes ``queued``; the rest move to ``sending`` with ``due_at`` pushed to
   the end of this worker's lease. A worker that dies lets the lease run out and another claims the work.
2. **submit** the batch to the connector, outside any transaction.
3. **record** (one transaction): ``sent`` with the carrier id; a retryable refusal goes back to ``queued``
   with exponential backoff (until ``max_attempts``, then ``failed``); a permanent one ``rejected``.

Messages are delivered at least once: a worker killed between the carrier's answer and step 3 leaves
the message to be submitted again when its lease expires. The simulator recognises that resubmission.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy import Connection, Engine, Update, select, update

from textgate.domain.clock import Clock, utcnow
from textgate.domain.errors import CarrierError, ErrorKind
from textgate.domain.message import MessageStatus
from textgate.providers.base import Connector, Deferred, OutboundMessage, SubmitOutcome, Submitted
from textgate.service.status import ConcurrentUpdate, change_status, change_statuses
from textgate.store.db import run_sync
from textgate.store.fast import fetch_dicts, insert_rows
from textgate.store.schema import message_events, messages
from textgate.webhooks.outbox import EndpointCache
from textgate.workers.idle import IdleWait

log = logging.getLogger(__name__)

SUBMITTED = Counter("textgate_submissions_total", "Submissions to connectors by outcome", ["outcome"])

_CLAIMABLE = (MessageStatus.QUEUED.value, MessageStatus.SCHEDULED.value, MessageStatus.SENDING.value)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float = 2.0
    max_seconds: float = 600.0
    max_attempts: int = 8

    def delay(self, attempt: int) -> float:
        """Exponential backoff with jitter: base·2^(attempt-1), capped, then 50–100 % of that."""
        raw = min(self.max_seconds, self.base_seconds * (2 ** max(0, attempt - 1)))
        return float(raw * (0.5 + random.random() / 2))


class DispatchWorker:
    def __init__(
        self,
        engine: Engine,
        connector: Connector,
        *,
        clock: Clock = utcnow,
        batch: int = 200,
        lease_seconds: float = 30.0,
        poll_interval: float = 0.05,
        idle_max: float = 1.0,
        retry: RetryPolicy | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.engine = engine
        self.connector = connector
        self.clock = clock
        self.batch = batch
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_interval = poll_interval
        self.retry = retry or RetryPolicy()
        self.worker_id = worker_id or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.idle = IdleWait(poll_interval, idle_max)
        #: Called after a round's results are recorded (they may have queued webhooks).
        self.on_recorded: Callable[[], None] = lambda: None

    # -- claim ------------------------------------------------------------------------------------
    def claim(self) -> list[Mapping[str, Any]]:
        """Take up to a batch of due messages under this worker's lease (one transaction)."""
        now = self.clock()
        with self.engine.begin() as conn:
            return self._claim_in(conn, now)

    def _claim_in(self, conn: Connection, now: datetime) -> list[Mapping[str, Any]]:
        cache = EndpointCache()
        query = (
            select(messages)
            .where(messages.c.due_at <= now, messages.c.status.in_(_CLAIMABLE))
            .order_by(messages.c.due_at)
            .limit(self.batch)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = fetch_dicts(conn, query)
        claimed: list[Mapping[str, Any]] = []
        for row in rows:
            if row["expires_at"] is not None and row["expires_at"] <= now:
                change_status(
                    conn,
                    row,
                    MessageStatus.EXPIRED,
                    now=now,
                    source="dispatch",
                    error_kind=ErrorKind.EXPIRED,
                    error_message="the validity period ended before the message could be sent",
                    cache=cache,
                )
                continue
            if row["status"] == MessageStatus.SCHEDULED.value:
                queued = change_status(conn, row, MessageStatus.QUEUED, now=now, source="scheduler")
                row = dict(queued or row)
            claimed.append(row)
        if not claimed:
            return []
        ids = [r["id"] for r in claimed]
        lease_end = now + self.lease
        fresh = [r["id"] for r in claimed if r["status"] != MessageStatus.SENDING.value]
        stmt: Update = (
            update(messages)
            .where(messages.c.id.in_(ids))
            .values(
                status=MessageStatus.SENDING.value,
                due_at=lease_end,
                lease_owner=self.worker_id,
                attempts=messages.c.attempts + 1,
                updated_at=now,
            )
        )
        conn.execute(stmt)
        if fresh:
            insert_rows(
                conn,
                message_events,
                [
                    {
                        "message_id": i,
                        "status": MessageStatus.SENDING.value,
                        "at": now,
                        "source": "dispatch",
                    }
                    for i in fresh
                ],
            )
        return [
            {
                **r,
                "status": MessageStatus.SENDING.value,
                "attempts": r["attempts"] + 1,
                "due_at": lease_end,
            }
            for r in claimed
        ]

    # -- record -----------------------------------------------------------------------------------
    def record(self, claimed: list[Mapping[str, Any]], outcomes: list[SubmitOutcome]) -> None:
        """Store a round's outcomes (one transaction)."""
        with self.engine.begin() as conn:
            self._record_in(conn, claimed, outcomes, self.clock())

    def record_and_claim(
        self, claimed: list[Mapping[str, Any]], outcomes: list[SubmitOutcome]
    ) -> list[Mapping[str, Any]]:
        """Store a round's outcomes and take the next round's messages, in ONE transaction: under load
        that halves the times the dispatcher queues for SQLite's write lock. The claim runs in a
        savepoint: if it fails, it is logged and nothing is taken, and the outcomes are still stored."""
        now = self.clock()
        with self.engine.begin() as conn:
            self._record_in(conn, claimed, outcomes, now)
            savepoint = conn.begin_nested()
            try:
                taken = self._claim_in(conn, now)
            except Exception:
                savepoint.rollback()
                log.exception("claiming the next round failed (this round's outcomes are stored)")
                return []
            savepoint.commit()
            return taken

    def _record_in(
        self, conn: Connection, claimed: list[Mapping[str, Any]], outcomes: list[SubmitOutcome], now: datetime
    ) -> None:
        cache = EndpointCache()
        connector = self.connector.name
        if self._record_all_taken(conn, claimed, outcomes, now, cache):
            return
        # Only touch messages this worker still holds: a lease lost to another worker is theirs.
        query = select(messages).where(
            messages.c.id.in_([r["id"] for r in claimed]), messages.c.lease_owner == self.worker_id
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()  # receipts may race for the same rows
        held = {r["id"]: r for r in fetch_dicts(conn, query)}
        # By the connector that took them: a router's member, so the ``sent`` event names it.
        accepted: dict[str, list[tuple[Mapping[str, Any], Mapping[str, Any] | None]]] = {}
        for row, outcome in zip(claimed, outcomes, strict=True):
            cur = held.get(row["id"])
            if cur is None:
                continue
            if isinstance(outcome, Deferred):
                # Not an attempt: give back the one the claim counted, and come back later.
                conn.execute(
                    update(messages)
                    .where(messages.c.id == cur["id"])
                    .values(
                        status=MessageStatus.QUEUED.value,
                        due_at=now + timedelta(seconds=max(0.01, outcome.seconds)),
                        lease_owner=None,
                        attempts=messages.c.attempts - 1,
                        updated_at=now,
                    )
                )
                continue
            if isinstance(outcome, str | Submitted):
                if isinstance(outcome, str):
                    carrier_id, taker = outcome, connector
                else:
                    carrier_id, taker = outcome.carrier_id, outcome.connector
                extra = {
                    "carrier_id": carrier_id,
                    "connector": taker,
                    "due_at": None,
                    "lease_owner": None,
                }
                accepted.setdefault(taker, []).append((cur, extra))
            elif outcome.retryable and cur["attempts"] < self.retry.max_attempts:
                SUBMITTED.labels("retry").inc()
                change_status(
                    conn,
                    cur,
                    MessageStatus.QUEUED,
                    now=now,
                    source=f"submit:{connector}",
                    error_kind=outcome.kind,
                    error_message=outcome.message,
                    extra={"due_at": self._retry_at(cur, now), "lease_owner": None},
                    cache=cache,
                )
            else:
                SUBMITTED.labels("refused").inc()
                final = MessageStatus.FAILED if outcome.retryable else MessageStatus.REJECTED
                change_status(
                    conn,
                    cur,
                    final,
                    now=now,
                    source=f"submit:{connector}",
                    error_kind=outcome.kind,
                    error_message=outcome.message,
                    cache=cache,
                )
        for taker, items in accepted.items():
            SUBMITTED.labels("accepted").inc(len(items))
            change_statuses(conn, items, MessageStatus.SENT, now=now, source=f"submit:{taker}", cache=cache)

    def _record_all_taken(
        self,
        conn: Connection,
        claimed: list[Mapping[str, Any]],
        outcomes: list[SubmitOutcome],
        now: datetime,
        cache: EndpointCache,
    ) -> bool:
        """The usual round, recorded without reading the messages again: every one taken by the carrier
        and still as this worker claimed it (status ``sending`` under its lease; the guarded update checks
        both). False, with nothing written, if any outcome is not an acceptance or any message moved
        meanwhile (a lease lost to another worker): then :meth:`record` reads them and goes one by one."""
        accepted: dict[str, list[tuple[Mapping[str, Any], Mapping[str, Any] | None]]] = {}
        for row, outcome in zip(claimed, outcomes, strict=True):
            if isinstance(outcome, str):
                carrier_id, taker = outcome, self.connector.name
            elif isinstance(outcome, Submitted):
                carrier_id, taker = outcome.carrier_id, outcome.connector
            else:
                return False
            extra = {"carrier_id": carrier_id, "connector": taker, "due_at": None, "lease_owner": None}
            accepted.setdefault(taker, []).append((row, extra))
        savepoint = conn.begin_nested()
        try:
            for taker, items in accepted.items():
                change_statuses(
                    conn,
                    items,
                    MessageStatus.SENT,
                    now=now,
                    source=f"submit:{taker}",
                    cache=cache,
                    guard={"lease_owner": self.worker_id},
                )
        except ConcurrentUpdate:
            savepoint.rollback()
            return False
        savepoint.commit()
        for items in accepted.values():
            SUBMITTED.labels("accepted").inc(len(items))
        return True

    def _retry_at(self, row: Mapping[str, Any], now: datetime) -> datetime:
        """The next attempt, but never later than the end of the validity period (so it expires on time)."""
        at = now + timedelta(seconds=self.retry.delay(row["attempts"]))
        expires = row["expires_at"]
        return min(at, expires) if expires is not None else at

    # -- loop -------------------------------------------------------------------------------------
    async def run_once(self) -> int:
        """One round: claim, submit, record. Returns how many messages it handled."""
        claimed = await run_sync(self.engine, self.claim)
        if not claimed:
            return 0
        outcomes = await self._submit(claimed)
        await run_sync(self.engine, self.record, claimed, outcomes)
        self._recorded()
        return len(claimed)

    async def _submit(self, claimed: list[Mapping[str, Any]]) -> list[SubmitOutcome]:
        batch = [OutboundMessage.from_row(r) for r in claimed]
        try:
            return await self.connector.submit_many(batch)
        except Exception as exc:  # a connector bug must not strand the batch: retry it later
            log.exception("connector %s failed on a batch", self.connector.name)
            err = CarrierError(f"connector failure: {exc}", kind=ErrorKind.PLATFORM_ERROR, retryable=True)
            return [err] * len(batch)

    def _recorded(self) -> None:
        self.connector.recorded()
        self.on_recorded()

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds until ``stop``. When more work is known (a full round, or a nudge meanwhile), a round's
        outcomes and the next round's claim share one transaction; a round claimed before ``stop`` is
        still submitted and recorded."""
        claimed: list[Mapping[str, Any]] = []
        while claimed or not stop.is_set():
            worked = 0
            try:
                if not claimed:
                    claimed = await run_sync(self.engine, self.claim)
                worked = len(claimed)
                if claimed:
                    outcomes = await self._submit(claimed)
                    more = not stop.is_set() and (worked >= self.batch or self.idle.take_nudge())
                    done, claimed = claimed, []
                    if more:
                        claimed = await run_sync(self.engine, self.record_and_claim, done, outcomes)
                    else:
                        await run_sync(self.engine, self.record, done, outcomes)
                    self._recorded()
            except Exception:
                log.exception("dispatch round failed; retrying")
                claimed = []
            if worked:
                self.idle.worked()
            if not claimed and worked < self.batch and not stop.is_set():
                await self.idle.wait(stop)
