"""The dispatch worker: takes due messages from the queue (the ``messages`` table) and hands them to a
connector.

One round:

1. **claim** (one transaction): due messages (``due_at <= now``), oldest first, ``FOR UPDATE SKIP LOCKED``
   on PostgreSQL so several workers and nodes share the queue. A message past its validity becomes
   ``expired``; a scheduled one becomes ``queued``; the rest move to ``sending`` with ``due_at`` pushed to
   the end of this worker's lease. A worker that dies lets the lease run out and another claims the work.
2. **submit** the batch to the connector, outside any transaction.
3. **record** (one transaction): ``sent`` with the carrier id (and the parts of a multi-part message);
   a carrier's retryable refusal goes back to ``queued`` with exponential backoff (an attempt; after
   ``max_attempts``, ``failed``), a permanent one is ``rejected``. What is not a refusal costs no
   attempt: a throttle or "not now" (:class:`Deferred`) goes back to the queue for a moment, and a
   submission that got no answer (:class:`Unknown`) stays ``sending`` for the connector's window before it
   is submitted again (a resubmission: an event in the timeline, ``textgate_resubmissions_total``).
   Receipts that came before their submission was recorded are applied here too.

When the connector can take nothing at all (no SMSC bound, every breaker open: ``capacity() == 0``) the
worker claims nothing: queued messages wait untouched, in order, and only those past their validity
period are taken out (``expired``, refunded).

Messages are delivered at least once: a worker killed between the carrier's answer and step 3 leaves
the message to be submitted again when its lease expires (also counted as a resubmission). The lease is
at least what one round may take (``Connector.round_seconds``), so a slow round never loses its lease.
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
from textgate.providers.base import (
    Connector,
    Deferred,
    OutboundMessage,
    Partial,
    SubmitOutcome,
    Submitted,
    Unknown,
)
from textgate.providers.metrics import count_answers
from textgate.routing.router import Router
from textgate.service.receipts import apply_early, settle_from_receipts, settle_parts
from textgate.service.status import ConcurrentUpdate, change_status, change_statuses
from textgate.service.submissions import parts_done, record_parts
from textgate.store.db import run_sync
from textgate.store.fast import fetch_dicts, insert_rows
from textgate.store.schema import message_events, messages
from textgate.webhooks.outbox import EndpointCache
from textgate.workers.idle import IdleWait

log = logging.getLogger(__name__)

SUBMITTED = Counter("textgate_submissions_total", "Submissions to connectors by outcome", ["outcome"])
RESUBMISSIONS = Counter(
    "textgate_resubmissions_total",
    "Messages submitted again without knowing whether the carrier had taken them (no answer came, or a "
    "worker stopped before recording the answer)",
    ["reason"],
)
SETTLED = Counter(
    "textgate_resubmissions_spared_total",
    "Messages whose submission got no answer but whose receipt then showed the carrier had them, so they "
    "were not submitted again",
)
#: Seconds the lease covers beyond the longest round the connector may take.
LEASE_MARGIN = 10.0
#: How often a worker whose connector can take nothing looks for messages past their validity.
EXPIRY_SWEEP_SECONDS = 5.0

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
        self.lease = timedelta(seconds=max(lease_seconds, connector.round_seconds() + LEASE_MARGIN))
        self._next_expiry_sweep = 0.0
        #: How often, while the connector can take nothing, messages past their validity are looked for.
        self.expiry_sweep_seconds = EXPIRY_SWEEP_SECONDS
        self.poll_interval = poll_interval
        self.retry = retry or RetryPolicy()
        self.worker_id = worker_id or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.idle = IdleWait(poll_interval, idle_max)
        #: Called after a round's results are recorded (they may have queued webhooks).
        self.on_recorded: Callable[[], None] = lambda: None

    # -- claim ------------------------------------------------------------------------------------
    def claim(self, room: int | None = None) -> list[Mapping[str, Any]]:
        """Take up to ``room`` (default: a batch, or what the connector can take) due messages under this
        worker's lease (one transaction)."""
        now = self.clock()
        with self.engine.begin() as conn:
            return self._claim_in(conn, now, room)

    def _room(self) -> int:
        """How many messages to claim now: a batch, or what the connector says it can take."""
        capacity = self.connector.capacity()
        return self.batch if capacity is None else min(self.batch, max(0, capacity))

    def expire_due(self) -> int:
        """Take out the due messages past their validity without claiming anything else (the connector
        can take nothing now). Returns how many expired."""
        now = self.clock()
        cache = EndpointCache()
        with self.engine.begin() as conn:
            query = (
                select(messages)
                .where(
                    messages.c.due_at <= now,
                    messages.c.status.in_(_CLAIMABLE),
                    messages.c.expires_at <= now,
                )
                .limit(self.batch)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = fetch_dicts(conn, query)
            for row in rows:
                self._expire(conn, row, now, cache)
            return len(rows)

    @staticmethod
    def _expire(conn: Connection, row: Mapping[str, Any], now: datetime, cache: EndpointCache) -> None:
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

    def _claim_in(self, conn: Connection, now: datetime, room: int | None = None) -> list[Mapping[str, Any]]:
        cache = EndpointCache()
        room = self._room() if room is None else room
        if room <= 0:
            return []
        query = (
            select(messages)
            .where(messages.c.due_at <= now, messages.c.status.in_(_CLAIMABLE))
            .order_by(messages.c.due_at)
            .limit(room)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = fetch_dicts(conn, query)
        claimed: list[Mapping[str, Any]] = []
        for row in rows:
            if row["expires_at"] is not None and row["expires_at"] <= now:
                self._expire(conn, row, now, cache)
                continue
            if row["status"] == MessageStatus.SCHEDULED.value:
                queued = change_status(conn, row, MessageStatus.QUEUED, now=now, source="scheduler")
                row = dict(queued or row)
            claimed.append(row)
        unknown = [r for r in claimed if r["status"] == MessageStatus.SENDING.value]
        if unknown:
            # About to be submitted again: unless the carrier's own receipt shows it has them already.
            settled, _parts = settle_from_receipts(conn, unknown, now=now, cache=cache)
            if settled:
                SETTLED.inc(len(settled))
                claimed = [r for r in claimed if r["id"] not in settled]
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
        events = [
            {
                "message_id": i,
                "status": MessageStatus.SENDING.value,
                "at": now,
                "source": "dispatch",
                "detail": None,
            }
            for i in fresh
        ]
        for r in claimed:
            if r["status"] == MessageStatus.SENDING.value:
                # Claimed while sending: its last submission's outcome is unknown (no answer came, or the
                # worker that sent it stopped before recording the answer). It goes again.
                reason = "no_answer" if r["lease_owner"] is None else "lease_expired"
                RESUBMISSIONS.labels(reason).inc()
                events.append(
                    {
                        "message_id": r["id"],
                        "status": MessageStatus.SENDING.value,
                        "at": now,
                        "source": "dispatch",
                        "detail": {"resubmission": reason},
                    }
                )
        if events:
            insert_rows(conn, message_events, events)
        long = [r["id"] for r in claimed if r["segments"] > 1]
        done = parts_done(conn, long) if long else {}
        return [
            {
                **r,
                "status": MessageStatus.SENDING.value,
                "attempts": r["attempts"] + 1,
                "due_at": lease_end,
                "parts_done": done.get(r["id"]),
            }
            for r in claimed
        ]

    # -- record -----------------------------------------------------------------------------------
    def record(self, claimed: list[Mapping[str, Any]], outcomes: list[SubmitOutcome]) -> None:
        """Store a round's outcomes (one transaction)."""
        with self.engine.begin() as conn:
            self._record_in(conn, claimed, outcomes, self.clock())

    def record_and_claim(
        self, claimed: list[Mapping[str, Any]], outcomes: list[SubmitOutcome], room: int | None = None
    ) -> list[Mapping[str, Any]]:
        """Store a round's outcomes and take the next round's messages, in ONE transaction: under load
        that halves the times the dispatcher queues for SQLite's write lock. The claim runs in a
        savepoint: if it fails, it is logged and nothing is taken, and the outcomes are still stored."""
        now = self.clock()
        with self.engine.begin() as conn:
            self._record_in(conn, claimed, outcomes, now)
            savepoint = conn.begin_nested()
            try:
                taken = self._claim_in(conn, now, room)
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
        new_ids: dict[str, list[str]] = {}
        long_sent: list[str] = []
        for row, outcome in zip(claimed, outcomes, strict=True):
            cur = held.get(row["id"])
            if cur is None:
                continue
            taken: dict[str, Any] = {}  # columns to set when parts were taken but the message goes on
            unknown_parts: tuple[int, ...] = ()
            if isinstance(outcome, Partial):
                taker = outcome.connector or self.connector.name
                record_parts(
                    conn,
                    cur["id"],
                    total=outcome.total,
                    connector=taker,
                    accepted=outcome.accepted,
                    unknown=outcome.unknown,
                    now=now,
                )
                new_ids.setdefault(taker, []).extend(outcome.accepted.values())
                if outcome.accepted or outcome.unknown:
                    # The other parts must follow to the same carrier (OutboundMessage.pinned).
                    taken["connector"] = taker
                if outcome.accepted and cur["carrier_id"] is None:
                    taken["carrier_id"] = outcome.accepted[min(outcome.accepted)]
                unknown_parts = outcome.unknown
                outcome = outcome.rest
            if isinstance(outcome, str | Submitted):
                carrier_id, taker = self._taker(outcome)
                if isinstance(outcome, Submitted) and outcome.parts is not None:
                    record_parts(
                        conn, cur["id"], total=outcome.total, connector=taker, accepted=outcome.parts, now=now
                    )
                    new_ids.setdefault(taker, []).extend(outcome.parts.values())
                    long_sent.append(cur["id"])
                new_ids.setdefault(taker, []).append(carrier_id)
                extra = {"carrier_id": carrier_id, "connector": taker, "due_at": None, "lease_owner": None}
                accepted.setdefault(taker, []).append((cur, extra))
            elif isinstance(outcome, Deferred):
                note = None if outcome.reason.startswith("rate limit") else outcome.reason
                self._defer(conn, cur, outcome.seconds, now, taken, reason=None, note=note)
            elif isinstance(outcome, Unknown):
                self._park(conn, cur, outcome, now, taken)
            elif outcome.kind is ErrorKind.THROTTLED and outcome.retryable:
                # The carrier said "not now": not a refusal of the message, so not an attempt.
                SUBMITTED.labels("throttled").inc()
                seconds = float(outcome.context.get("retry_after") or self.retry.delay(1))
                self._defer(conn, cur, seconds, now, taken, reason=outcome, note=outcome.message)
            elif outcome.retryable and cur["attempts"] < self.retry.max_attempts:
                SUBMITTED.labels("retry").inc()
                due = self._retry_at(cur, now)
                if unknown_parts:  # some parts got no answer: give a late answer its chance first
                    due = max(due, min(now + timedelta(seconds=self._window()), cur["expires_at"] or due))
                change_status(
                    conn,
                    cur,
                    MessageStatus.QUEUED,
                    now=now,
                    source=f"submit:{taken.get('connector') or self.connector.name}",
                    error_kind=outcome.kind,
                    error_message=outcome.message,
                    detail={"error": outcome.message, "attempt": cur["attempts"]},
                    extra={"due_at": due, "lease_owner": None, **taken},
                    cache=cache,
                )
            else:
                SUBMITTED.labels("refused").inc()
                # Rejected: nothing of it reached a carrier. Failed: the carrier took some parts.
                some_taken = bool(taken.get("carrier_id") or cur["carrier_id"])
                final = MessageStatus.FAILED if outcome.retryable or some_taken else MessageStatus.REJECTED
                change_status(
                    conn,
                    cur,
                    final,
                    now=now,
                    source=f"submit:{taken.get('connector') or self.connector.name}",
                    error_kind=outcome.kind,
                    error_message=outcome.message,
                    detail={"error": outcome.message, "attempt": cur["attempts"]},
                    extra=taken or None,
                    cache=cache,
                )
        for taker, items in accepted.items():
            SUBMITTED.labels("accepted").inc(len(items))
            change_statuses(conn, items, MessageStatus.SENT, now=now, source=f"submit:{taker}", cache=cache)
        for taker, ids in new_ids.items():
            apply_early(conn, taker, ids, now=now, cache=cache)
        for message_id in long_sent:  # parts' receipts may have come before the last part was taken
            settle_parts(conn, message_id, now=now, cache=cache)

    def _taker(self, outcome: str | Submitted) -> tuple[str, str]:
        if isinstance(outcome, str):
            return outcome, self.connector.name
        return outcome.carrier_id, outcome.connector

    def _window(self) -> float:
        return max(0.0, self.connector.round_seconds())

    def _defer(
        self,
        conn: Connection,
        cur: Mapping[str, Any],
        seconds: float,
        now: datetime,
        taken: Mapping[str, Any],
        *,
        reason: CarrierError | None,
        note: str | None,
    ) -> None:
        """Back to the queue for ``seconds`` without counting an attempt (the claim counted one); ``note``
        (why it waits) goes into its timeline. Rate limits are not noted: they are the usual pace."""
        due = now + timedelta(seconds=max(0.01, seconds))
        if cur["expires_at"] is not None:
            due = min(due, cur["expires_at"])
        conn.execute(
            update(messages)
            .where(messages.c.id == cur["id"])
            .values(
                status=MessageStatus.QUEUED.value,
                due_at=due,
                lease_owner=None,
                attempts=messages.c.attempts - 1,
                updated_at=now,
                **taken,
            )
        )
        if note is not None or taken:
            insert_rows(
                conn,
                message_events,
                [
                    {
                        "message_id": cur["id"],
                        "status": MessageStatus.QUEUED.value,
                        "at": now,
                        "source": f"submit:{self.connector.name}",
                        "error_code": reason.kind.value if reason is not None else None,
                        "detail": {"deferred": note or "parts pending", "retry_in": round(seconds, 3)},
                    }
                ],
            )

    def _park(
        self,
        conn: Connection,
        cur: Mapping[str, Any],
        outcome: Unknown,
        now: datetime,
        taken: Mapping[str, Any],
    ) -> None:
        """No answer came: the message stays ``sending``, with no lease, until ``outcome.seconds`` passed.
        A late answer then finds it (and records it as sent); else it is claimed and submitted again."""
        SUBMITTED.labels("unknown").inc()
        due = now + timedelta(seconds=outcome.seconds)
        if cur["expires_at"] is not None:
            due = min(due, cur["expires_at"])
        values: dict[str, Any] = {
            "due_at": due,
            "lease_owner": None,
            "attempts": messages.c.attempts - 1,
            "updated_at": now,
            **taken,
        }
        if outcome.connector is not None:
            values["connector"] = outcome.connector
        conn.execute(update(messages).where(messages.c.id == cur["id"]).values(**values))
        insert_rows(
            conn,
            message_events,
            [
                {
                    "message_id": cur["id"],
                    "status": MessageStatus.SENDING.value,
                    "at": now,
                    "source": f"submit:{outcome.connector or self.connector.name}",
                    "error_code": "unknown_outcome",
                    "detail": {"reason": outcome.reason, "resubmit_after": outcome.seconds},
                }
            ],
        )

    def _record_all_taken(
        self,
        conn: Connection,
        claimed: list[Mapping[str, Any]],
        outcomes: list[SubmitOutcome],
        now: datetime,
        cache: EndpointCache,
    ) -> bool:
        """The usual round, recorded without reading the messages again: every one taken by the carrier
        in one piece and still as this worker claimed it (status ``sending`` under its lease; the guarded
        update checks both). False, with nothing written, if any outcome is not such an acceptance or any
        message moved meanwhile (a lease lost to another worker): then :meth:`record` reads them and goes
        one by one."""
        accepted: dict[str, list[tuple[Mapping[str, Any], Mapping[str, Any] | None]]] = {}
        for row, outcome in zip(claimed, outcomes, strict=True):
            if isinstance(outcome, str):
                carrier_id, taker = outcome, self.connector.name
            elif isinstance(outcome, Submitted) and outcome.parts is None:
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
        for taker, items in accepted.items():
            SUBMITTED.labels("accepted").inc(len(items))
            apply_early(
                conn, taker, [extra["carrier_id"] for _, extra in items if extra], now=now, cache=cache
            )
        return True

    def _retry_at(self, row: Mapping[str, Any], now: datetime) -> datetime:
        """The next attempt, but never later than the end of the validity period (so it expires on time)."""
        at = now + timedelta(seconds=self.retry.delay(row["attempts"]))
        expires = row["expires_at"]
        return min(at, expires) if expires is not None else at

    # -- loop -------------------------------------------------------------------------------------
    async def run_once(self) -> int:
        """One round: claim, submit, record. Returns how many messages it handled."""
        room = self._room()
        if room <= 0:
            await self._sweep_expired()
            return 0
        claimed = await run_sync(self.engine, self.claim, room)
        if not claimed:
            return 0
        outcomes = await self._submit(claimed)
        await run_sync(self.engine, self.record, claimed, outcomes)
        self._recorded()
        return len(claimed)

    async def _submit(self, claimed: list[Mapping[str, Any]]) -> list[SubmitOutcome]:
        batch = [OutboundMessage.from_row(r) for r in claimed]
        try:
            answers = await self.connector.submit_many(batch)
        except Exception as exc:  # a connector bug must not strand the batch: retry it later
            log.exception("connector %s failed on a batch", self.connector.name)
            err = CarrierError(f"connector failure: {exc}", kind=ErrorKind.PLATFORM_ERROR, retryable=True)
            answers = [err] * len(batch)
        if not isinstance(self.connector, Router):  # a router counts its members' answers itself
            count_answers(self.connector.name, answers)
        return answers

    def _recorded(self) -> None:
        self.connector.recorded()
        self.on_recorded()

    async def _sweep_expired(self) -> None:
        """While the connector can take nothing, messages past their validity still expire on time."""
        loop = asyncio.get_running_loop()
        if loop.time() < self._next_expiry_sweep:
            return
        self._next_expiry_sweep = loop.time() + self.expiry_sweep_seconds
        if await run_sync(self.engine, self.expire_due):
            self.on_recorded()

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds until ``stop``. When more work is known (a full round, or a nudge meanwhile), a round's
        outcomes and the next round's claim share one transaction; a round claimed before ``stop`` is
        still submitted and recorded."""
        claimed: list[Mapping[str, Any]] = []
        while claimed or not stop.is_set():
            worked = 0
            try:
                if not claimed and not stop.is_set():
                    room = self._room()
                    if room > 0:
                        claimed = await run_sync(self.engine, self.claim, room)
                    else:
                        await self._sweep_expired()
                worked = len(claimed)
                if claimed:
                    outcomes = await self._submit(claimed)
                    more = not stop.is_set() and (worked >= self.batch or self.idle.take_nudge())
                    done, claimed = claimed, []
                    if more:
                        room = self._room()
                        claimed = await run_sync(self.engine, self.record_and_claim, done, outcomes, room)
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
