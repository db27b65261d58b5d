"""Wiring: build the engine, the connector and the workers from settings, and run them.

The connector is the built-in simulator when no ``[[connectors]]`` are configured, otherwise the router
over the configured ones (:mod:`textgate.routing`); either way the dispatch worker sees one connector.

``Gateway`` owns every long-lived object of one serving process; the web app starts and stops it in its
lifespan. Tests build one directly to drive workers step by step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, Engine

from textgate.config import Settings
from textgate.domain.clock import Clock, utcnow
from textgate.domain.errors import NotFound, TextgateError
from textgate.providers.base import (
    Connector,
    ConnectorContext,
    InboundMessage,
    InboundPart,
    LateAnswer,
    Receipt,
)
from textgate.providers.simulator.connector import SimulatorConnector
from textgate.routing.registry import build_connector_from_settings
from textgate.routing.router import Router
from textgate.service.inbound import receive_inbound, receive_inbound_part
from textgate.service.receipts import record_receipts
from textgate.service.submissions import record_late_answer
from textgate.store.batch import Coalescer
from textgate.store.db import make_engine, run_sync
from textgate.store.migrate import current_revision, head_revision, upgrade
from textgate.webhooks.outbox import EndpointCache
from textgate.workers.bulk import BulkWorker
from textgate.workers.dispatch import DispatchWorker, RetryPolicy
from textgate.workers.housekeeping import Housekeeping
from textgate.workers.senders import SenderProcesses
from textgate.workers.webhooks import WebhookWorker

log = logging.getLogger(__name__)


class DatabaseOutOfDate(RuntimeError):
    pass


def prepare_database(engine: Engine) -> None:
    """Upgrade an empty database; refuse to serve one at an older revision (``textgate db upgrade``)."""
    current = current_revision(engine)
    if current is None:
        upgrade(engine)
    elif current != head_revision():
        raise DatabaseOutOfDate(
            f"the database is at revision {current}, this textgate needs {head_revision()}: "
            "run `textgate db upgrade` first"
        )


class GatewaySink:
    """Where connectors report: receipts, inbound messages, parts of them and late answers become store
    transactions (a :class:`~textgate.providers.base.DurableSink`)."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        on_change: Callable[[], None] | None = None,
        *,
        keep_for: timedelta = timedelta(hours=1),
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.keep_for = keep_for
        # Called after a receipt or inbound message was stored (it may have queued webhooks).
        self.on_change = on_change or (lambda: None)
        # Receipts from every connector and session that arrive while a transaction is running are
        # applied together by one record_receipts call per connector in the next one.
        self._receipts: Coalescer[tuple[str, Receipt, bool], str | None] = Coalescer(engine, self._record)

    def _record(self, conn: Connection, items: list[tuple[str, Receipt, bool]]) -> list[str | None]:
        now = self.clock()
        cache = EndpointCache()
        groups: dict[tuple[str, bool], list[int]] = {}
        for i, (connector, _receipt, keep) in enumerate(items):
            groups.setdefault((connector, keep), []).append(i)
        found: list[str | None] = [None] * len(items)
        for (connector, keep), indexes in groups.items():
            matched = record_receipts(
                conn,
                connector,
                [items[i][1] for i in indexes],
                now=now,
                cache=cache,
                keep=keep,
                keep_for=self.keep_for,
            )
            for i, hit in zip(indexes, matched, strict=True):
                found[i] = hit
        return found

    async def receipts(self, connector: str, receipts: list[Receipt]) -> list[bool]:
        matched = await self._receipts.submit([(connector, r, False) for r in receipts])
        if any(m is not None for m in matched):
            self.on_change()
        return [m is not None for m in matched]

    async def keep_receipts(self, connector: str, receipts: list[Receipt]) -> list[str | None]:
        matched = await self._receipts.submit([(connector, r, True) for r in receipts])
        if any(m is not None for m in matched):
            self.on_change()
        return matched

    async def inbound_part(self, connector: str, part: InboundPart) -> str | None:
        def _apply() -> str | None:
            with self.engine.begin() as conn:
                view = receive_inbound_part(conn, connector, part, now=self.clock())
                return str(view["id"]) if view is not None else None

        stored = await run_sync(self.engine, _apply)
        if stored is not None:
            self.on_change()
        return stored

    async def late_answer(self, connector: str, answer: LateAnswer) -> None:
        def _apply() -> str:
            with self.engine.begin() as conn:
                return record_late_answer(conn, connector, answer, now=self.clock())

        outcome = await run_sync(self.engine, _apply)
        log.info("late answer for %s via %s: %s", answer.message_id, connector, outcome)
        self.on_change()

    async def inbound(self, connector: str, message: InboundMessage) -> str | None:
        def _apply() -> str | None:
            with self.engine.begin() as conn:
                view = receive_inbound(
                    conn,
                    from_addr=message.from_addr,
                    to_addr=message.to_addr,
                    body=message.body,
                    now=self.clock(),
                    source=connector,
                    carrier_id=message.carrier_id,
                    media=message.media,
                    raw=message.raw,
                )
                return str(view["id"])

        try:
            stored = await run_sync(self.engine, _apply)
            self.on_change()
            return stored
        except NotFound:
            log.warning("inbound message to %s dropped: no account owns that number", message.to_addr)
            return None
        except TextgateError as exc:
            log.warning("inbound message dropped: %s", exc.message)
            return None


def build_connector(settings: Settings, engine: Engine, clock: Clock) -> Connector:
    sim: dict[str, Any] = dict(settings.simulator)
    return SimulatorConnector(
        engine,
        submit_latency=float(sim.get("submit_latency", settings.sim_submit_latency)),
        report_latency=float(sim.get("report_latency", settings.sim_report_latency)),
        numbers=sim.get("numbers", {}),
        clock=clock,
        poll_interval=settings.poll_interval,
        idle_max=settings.idle_poll_max,
    )


def build_gateway_connector(
    settings: Settings, engine: Engine, clock: Clock, http: httpx.AsyncClient
) -> Connector:
    """The connector ``serve`` dispatches to; RoutingConfigError (a ValueError) names a configuration
    mistake."""
    ctx = ConnectorContext(http=http, engine=engine, clock=clock, public_url=settings.public_url)
    return build_connector_from_settings(settings, ctx, lambda: build_connector(settings, engine, clock))


def check_configuration(settings: Settings, engine: Engine) -> None:
    """Build (without starting) what ``serve`` would run, so a configuration mistake stops it up front."""
    # Factories only keep the client; it never opens a connection here, so there is nothing to close.
    build_gateway_connector(settings, engine, utcnow, httpx.AsyncClient())


@dataclass
class Gateway:
    settings: Settings
    engine: Engine
    clock: Clock = utcnow
    connector: Connector | None = None
    dispatcher: DispatchWorker | None = None  # the first of ``dispatchers``
    dispatchers: list[DispatchWorker] = field(default_factory=list)
    webhooks: WebhookWorker | None = None
    bulk: BulkWorker | None = None
    housekeeping: Housekeeping | None = None
    http: httpx.AsyncClient | None = None
    senders: SenderProcesses | None = None
    #: Called on every nudge as well (an API process tells its parent ``serve`` this way).
    on_nudge: Callable[[], None] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    @classmethod
    def from_settings(
        cls, settings: Settings, engine: Engine | None = None, clock: Clock = utcnow
    ) -> Gateway:
        engine = engine or make_engine(settings.database_url, synchronous=settings.sqlite_synchronous)
        return cls(settings=settings, engine=engine, clock=clock)

    def build(self) -> None:
        s = self.settings
        self.http = httpx.AsyncClient(timeout=s.webhook_timeout, follow_redirects=False)
        self.connector = self.connector or build_gateway_connector(s, self.engine, self.clock, self.http)
        self.dispatchers = [self._dispatch_worker() for _ in range(s.dispatch_rounds)]
        self.dispatcher = self.dispatchers[0]
        self.webhooks = WebhookWorker(
            self.engine,
            s,
            clock=self.clock,
            batch_size=s.webhook_batch,
            concurrency=s.webhook_concurrency,
        )
        for dispatcher in self.dispatchers:
            dispatcher.on_recorded = self.nudge_webhooks
        self.bulk = BulkWorker(
            self.engine, clock=self.clock, poll_interval=s.poll_interval, idle_max=s.idle_poll_max
        )
        self.bulk.on_expanded = self.nudge_dispatch
        self.housekeeping = Housekeeping(self.engine, clock=self.clock)
        self.housekeeping.on_change = self.nudge_webhooks

    def _dispatch_worker(self) -> DispatchWorker:
        s = self.settings
        assert self.connector is not None
        return DispatchWorker(
            self.engine,
            self.connector,
            clock=self.clock,
            batch=s.dispatch_batch,
            lease_seconds=s.lease_seconds,
            poll_interval=s.poll_interval,
            idle_max=s.idle_poll_max,
            retry=RetryPolicy(s.retry_base_seconds, s.retry_max_seconds, s.max_attempts),
        )

    async def start(self, *, workers: bool = True) -> None:
        self.build()
        assert self.connector is not None and self.dispatcher is not None and self.webhooks is not None
        if not workers:
            return
        self._stop.clear()
        sink = GatewaySink(
            self.engine,
            self.clock,
            on_change=self.nudge_webhooks,
            keep_for=timedelta(seconds=self.settings.early_receipt_ttl),
        )
        await self.connector.start(sink)
        # Several rounds in flight: while one batch is with the carrier, the next is claimed and the last
        # recorded (each claims under its own lease, so no message is in two rounds).
        self._tasks = [
            asyncio.create_task(d.run(self._stop), name=f"dispatch-{i}")
            for i, d in enumerate(self.dispatchers)
        ]
        if self.settings.webhook_processes:
            self.senders = SenderProcesses(self.settings, self.settings.webhook_processes)
            await self.senders.start()
        else:
            self._tasks.append(asyncio.create_task(self.webhooks.run(self._stop), name="webhooks"))
        if self.bulk is not None:
            self._tasks.append(asyncio.create_task(self.bulk.run(self._stop), name="bulk"))
        if self.housekeeping is not None:
            self._tasks.append(asyncio.create_task(self.housekeeping.run(self._stop), name="housekeeping"))

    def connectors(self) -> dict[str, Connector]:
        """Every carrier connector by name: the router's members, or the one connector."""
        if isinstance(self.connector, Router):
            return {name: member.connector for name, member in self.connector.members.items()}
        return {self.connector.name: self.connector} if self.connector is not None else {}

    def nudge_webhooks(self) -> None:
        """Webhooks were queued: wake whoever sends them (this process's worker or the sender processes)."""
        if self.senders is not None:
            self.senders.nudge()
        elif self.webhooks is not None:
            self.webhooks.idle.nudge()

    def nudge_dispatch(self) -> None:
        for dispatcher in self.dispatchers:
            dispatcher.idle.nudge()

    def nudge(self, *, bulk: bool = False) -> None:
        """Tell the dispatcher there is new work (saves a poll interval of latency); ``bulk``: a bulk send
        was accepted, wake its worker too (an idle one otherwise finds it at its next poll)."""
        self.nudge_dispatch()
        self.nudge_webhooks()  # a send may have stored failed messages with webhooks
        if self.on_nudge is not None:
            self.on_nudge()
        if bulk and self.bulk is not None:
            self.bulk.idle.nudge()

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            await task
        self._tasks = []
        if self.connector is not None:
            await self.connector.stop()
        if self.senders is not None:
            await self.senders.stop()
            self.senders = None
        if self.webhooks is not None:
            await self.webhooks.aclose()
        if self.http is not None:
            await self.http.aclose()
