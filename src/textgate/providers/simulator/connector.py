"""The built-in carrier: the default connector, so textgate runs anywhere with no carrier account.

It behaves like a carrier: it accepts a submission and answers with its own message id, later reports
delivery, and can be told per destination to refuse, throttle, stay silent or reply. What it still has
to report is kept in the ``simulator_events`` table (a real carrier keeps that on its side), so a
gateway restart loses no report. Submitting the same message twice (after a crash) yields the same
carrier id and one report.

Test numbers — like a payment provider's test cards — work on every account::

    +15550000001  delivered (as every number not listed here)
    +15550000002  refused at submission: invalid_destination      → rejected
    +15550000003  refused at submission: opted_out                → rejected
    +15550000004  refused at submission: destination_blocked      → rejected
    +15550000005  throttled twice (queued again, no attempt counted), then delivered
    +15550000006  always throttled: waits, queued again and again, until its validity period ends
    +15550000007  accepted, never reports                         → stays sent
    +15550000008  accepted, reported undelivered
    +15550000009  delivered, then the recipient replies "Thanks, got it!"

More can be configured under ``[simulator.numbers]`` in the TOML configuration.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from textgate.domain.clock import Clock, utcnow
from textgate.domain.errors import CarrierError, ErrorKind
from textgate.domain.message import MessageStatus
from textgate.providers.base import (
    Connector,
    ConnectorContext,
    ConnectorFactory,
    Health,
    InboundMessage,
    OutboundMessage,
    Receipt,
    ReportSink,
    SubmitOutcome,
)
from textgate.store.db import run_sync
from textgate.store.schema import simulator_events
from textgate.workers.idle import IdleWait

log = logging.getLogger(__name__)


DEFAULT_REPLY = "Thanks, got it!"


@dataclass(frozen=True, slots=True)
class Behaviour:
    kind: str = "deliver"
    reply: str = DEFAULT_REPLY
    report_latency: float | None = None
    throttle_times: int = 2


#: Behaviours a destination can be given.
BEHAVIOURS = (
    "deliver",
    "invalid_destination",
    "opted_out",
    "blocked",
    "throttled",
    "always_throttled",
    "never_reports",
    "undelivered",
    "reply",
)

TEST_NUMBERS: dict[str, Behaviour] = {
    "+15550000001": Behaviour("deliver"),
    "+15550000002": Behaviour("invalid_destination"),
    "+15550000003": Behaviour("opted_out"),
    "+15550000004": Behaviour("blocked"),
    "+15550000005": Behaviour("throttled"),
    "+15550000006": Behaviour("always_throttled"),
    "+15550000007": Behaviour("never_reports"),
    "+15550000008": Behaviour("undelivered"),
    "+15550000009": Behaviour("reply"),
}

_REFUSALS: dict[str, tuple[ErrorKind, str]] = {
    "invalid_destination": (ErrorKind.INVALID_DESTINATION, "unknown subscriber"),
    "opted_out": (ErrorKind.OPTED_OUT, "the recipient has opted out"),
    "blocked": (ErrorKind.DESTINATION_BLOCKED, "destination barred"),
}


def parse_behaviours(config: dict[str, Any]) -> dict[str, Behaviour]:
    """``{"+61421000009": {"behaviour": "reply", "reply": "hi", "report_latency": 1.5}}`` → behaviours."""
    out = dict(TEST_NUMBERS)
    for number, spec in (config or {}).items():
        kind = str(spec.get("behaviour", "deliver"))
        if kind not in BEHAVIOURS:
            raise ValueError(f"simulator behaviour for {number} must be one of {', '.join(BEHAVIOURS)}")
        out[number] = Behaviour(
            kind=kind,
            reply=str(spec.get("reply", DEFAULT_REPLY)),
            report_latency=float(spec["report_latency"]) if "report_latency" in spec else None,
            throttle_times=int(spec.get("throttle_times", 2)),
        )
    return out


def carrier_id_for(message_id: str) -> str:
    # Deterministic, so a resubmission after a crash is recognised as the same submission.
    return "SIM" + hashlib.sha256(message_id.encode()).hexdigest()[:29].upper()


class SimulatorConnector(Connector):
    def __init__(
        self,
        engine: Engine,
        *,
        name: str = "simulator",
        submit_latency: float = 0.0,
        report_latency: float = 0.2,
        numbers: dict[str, Any] | None = None,
        clock: Clock = utcnow,
        poll_interval: float = 0.05,
        idle_max: float = 1.0,
        batch: int = 500,
    ) -> None:
        self.name = name
        self.engine = engine
        self.submit_latency = submit_latency
        self.report_latency = report_latency
        self.behaviours = parse_behaviours(numbers or {})
        self.clock = clock
        self.poll_interval = poll_interval
        self.idle = IdleWait(poll_interval, idle_max)
        self._next_due: datetime | None = None
        self.batch = batch
        self._sink: ReportSink | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        # Throttles given per message (a throttle is not an attempt, so attempts cannot count them).
        self._throttled: dict[str, int] = {}

    def behaviour(self, number: str) -> Behaviour:
        return self.behaviours.get(number, Behaviour())

    # -- submission -------------------------------------------------------------------------------
    def _outcome(self, m: OutboundMessage, now: datetime) -> tuple[str | CarrierError, dict[str, Any] | None]:
        b = self.behaviour(m.to_addr)
        if b.kind in _REFUSALS:
            kind, text = _REFUSALS[b.kind]
            return CarrierError(text, kind=kind, retryable=False, carrier="simulator"), None
        if b.kind == "always_throttled" or (
            b.kind == "throttled" and self._throttled.get(m.id, 0) < b.throttle_times
        ):
            if len(self._throttled) > 100_000:
                self._throttled.clear()
            self._throttled[m.id] = self._throttled.get(m.id, 0) + 1
            return CarrierError("throttled, try again later", kind=ErrorKind.THROTTLED, retryable=True), None
        self._throttled.pop(m.id, None)
        carrier_id = carrier_id_for(m.id)
        if b.kind == "never_reports":
            return carrier_id, None
        latency = b.report_latency if b.report_latency is not None else self.report_latency
        stat = "UNDELIV" if b.kind == "undelivered" else "DELIVRD"
        event = {
            "kind": "dlr",
            "carrier_id": carrier_id,
            "payload": {
                "id": carrier_id,
                "stat": stat,
                "err": "001" if stat == "UNDELIV" else "000",
                "to": m.to_addr,
                "from": m.from_addr,
                "reply": b.reply if b.kind == "reply" else None,
            },
            "due_at": now + timedelta(seconds=latency),
        }
        return carrier_id, event

    async def submit(self, message: OutboundMessage) -> str:
        (outcome,) = await self.submit_many([message])
        if isinstance(outcome, CarrierError):
            raise outcome
        assert isinstance(outcome, str)
        return outcome

    async def submit_many(self, messages: list[OutboundMessage]) -> list[SubmitOutcome]:
        if self.submit_latency:
            await asyncio.sleep(self.submit_latency)
        now = self.clock()
        outcomes: list[SubmitOutcome] = []
        events: list[dict[str, Any]] = []
        for m in messages:
            outcome, event = self._outcome(m, now)
            outcomes.append(outcome)
            if event is not None:
                events.append(event)
        if events:
            await run_sync(self.engine, self._store_events, events)
            earliest = min(e["due_at"] for e in events)
            self._next_due = earliest if self._next_due is None else min(self._next_due, earliest)
            self.idle.nudge()
        return outcomes

    def _store_events(self, events: list[dict[str, Any]]) -> None:
        with self.engine.begin() as conn:
            ids = [e["carrier_id"] for e in events]
            known = set(
                conn.execute(
                    select(simulator_events.c.carrier_id).where(simulator_events.c.carrier_id.in_(ids))
                ).scalars()
            )
            fresh = [e for e in events if e["carrier_id"] not in known]
            if fresh:
                conn.execute(insert(simulator_events), fresh)

    def inject_inbound(self, from_addr: str, to_addr: str, body: str, *, delay: float = 0.0) -> None:
        """Queue an inbound (MO) message as if a handset sent it."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(simulator_events).values(
                    kind="mo",
                    carrier_id=None,
                    payload={"from": from_addr, "to": to_addr, "text": body},
                    due_at=self.clock() + timedelta(seconds=delay),
                )
            )

    # -- reporting --------------------------------------------------------------------------------
    async def start(self, sink: ReportSink) -> None:
        self._sink = sink
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name=f"{self.name}-reports")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None

    def health(self) -> Health:
        if self._task is None:
            return Health.DOWN
        return Health.UP if not self._task.done() else Health.DOWN

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                worked = await self.report_due()
            except Exception:  # keep reporting whatever one bad event does
                log.exception("simulator report loop failed; continuing")
                worked = 0
            if worked:
                self.idle.worked()
                continue
            # Sleep until the next report this process knows of is due (reports queued by another
            # process are found within the idle cap).
            at_most = None
            if self._next_due is not None:
                at_most = (self._next_due - self.clock()).total_seconds()
                if at_most <= 0:
                    self._next_due = None
                    at_most = None
            await self.idle.wait(self._stop, at_most=at_most)

    def _due(self) -> list[Any]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(simulator_events)
                    .where(simulator_events.c.due_at <= self.clock())
                    .order_by(simulator_events.c.due_at)
                    .limit(self.batch)
                ).all()
            )

    async def report_due(self) -> int:
        """Report every event that is due. Returns how many were handled."""
        assert self._sink is not None, "start() the connector first"
        rows = await run_sync(self.engine, self._due)
        done: list[int] = []
        later: list[int] = []
        replies: list[dict[str, Any]] = []
        dlrs: list[tuple[Any, Receipt]] = []
        for row in rows:
            p = row.payload
            if row.kind == "mo":
                await self._sink.inbound(
                    self.name,
                    InboundMessage(from_addr=p["from"], to_addr=p["to"], body=p["text"], raw=dict(p)),
                )
                done.append(row.id)
                continue
            delivered = p["stat"] == "DELIVRD"
            receipt = Receipt(
                carrier_id=row.carrier_id,
                status=MessageStatus.DELIVERED if delivered else MessageStatus.UNDELIVERED,
                error_kind=None if delivered else ErrorKind.UNKNOWN,
                error_message=None if delivered else "handset unreachable (absent subscriber)",
                raw={"id": p["id"], "stat": p["stat"], "err": p["err"]},
            )
            dlrs.append((row, receipt))
        if dlrs:
            matched = await self._sink.receipts(self.name, [r for _, r in dlrs])
            for (row, _), ok in zip(dlrs, matched, strict=True):
                if ok:
                    done.append(row.id)
                    if row.payload.get("reply"):
                        p = row.payload
                        replies.append({"from": p["to"], "to": p["from"], "text": p["reply"]})
                else:
                    # The submission has not been recorded yet (the receipt overtook it): try again shortly.
                    later.append(row.id)
        await run_sync(self.engine, self._finish, done, later, replies)
        return len(done)

    def _finish(self, done: list[int], later: list[int], replies: list[dict[str, Any]]) -> None:
        now = self.clock()
        with self.engine.begin() as conn:
            if done:
                conn.execute(delete(simulator_events).where(simulator_events.c.id.in_(done)))
            if later:
                conn.execute(
                    update(simulator_events)
                    .where(simulator_events.c.id.in_(later))
                    .values(due_at=now + timedelta(seconds=0.5))
                )
            if replies:
                conn.execute(
                    insert(simulator_events),
                    [{"kind": "mo", "carrier_id": None, "payload": r, "due_at": now} for r in replies],
                )


#: Keys of a ``type = "simulator"`` ``[[connectors]]`` table besides ``name`` and ``type``.
SIMULATOR_KEYS = frozenset({"submit_latency", "report_latency", "numbers"})


def simulator_connector(table: Mapping[str, Any], ctx: ConnectorContext) -> SimulatorConnector:
    """A configured simulator (``submit_latency``, ``report_latency``, ``numbers`` as in ``[simulator]``).
    Configure one: several would share the ``simulator_events`` table, and a receipt picked up by another
    simulator is only retried until its own reports it."""
    unknown = sorted(set(table) - SIMULATOR_KEYS - {"name", "type"})
    if unknown:
        raise ValueError(
            f"unknown key {', '.join(unknown)} (simulator keys: {', '.join(sorted(SIMULATOR_KEYS))})"
        )
    numbers = table.get("numbers", {})
    if not isinstance(numbers, Mapping):
        raise ValueError("numbers must be a table of number = {behaviour = ...}")
    return SimulatorConnector(
        ctx.engine,
        name=str(table["name"]),
        submit_latency=float(table.get("submit_latency", 0.0)),
        report_latency=float(table.get("report_latency", 0.2)),
        numbers=dict(numbers),
        clock=ctx.clock,
    )


CONNECTOR_TYPES: Mapping[str, ConnectorFactory] = {"simulator": simulator_connector}
