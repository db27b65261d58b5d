"""The connector contract every carrier path implements: the built-in simulator today, SMPP and the
upstream HTTP providers next.

A connector:

* ``submit_many(messages)`` — hands messages to the carrier; for each, returns the carrier's message id or
  a classified :class:`~textgate.domain.errors.CarrierError` (``retryable`` says whether to try again);
* reports delivery receipts and inbound messages to the :class:`ReportSink` it was started with;
* tells its :class:`Health`.

Connectors are given their transports (HTTP client, SMPP session, database engine) by whoever builds
them; nothing here opens a socket at import time.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from textgate.domain.errors import CarrierError, ErrorKind
from textgate.domain.message import MessageStatus


class Health(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    id: str
    account_id: str
    from_addr: str
    to_addr: str
    body: str
    encoding: str
    segments: int
    type: str
    attempt: int
    media: list[dict[str, Any]] | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> OutboundMessage:
        """From a ``messages`` row as the dispatch worker claimed it (``attempts`` already counted)."""
        return cls(
            id=row["id"],
            account_id=row["account_id"],
            from_addr=row["from_addr"],
            to_addr=row["to_addr"],
            body=row["body"],
            encoding=row["encoding"],
            segments=row["segments"],
            type=row["type"],
            attempt=row["attempts"],
            media=row.get("media"),
        )


@dataclass(frozen=True, slots=True)
class Receipt:
    """A delivery report, normalised; ``raw`` keeps the carrier's own payload beside it."""

    carrier_id: str
    status: MessageStatus
    error_kind: ErrorKind | None = None
    error_message: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    from_addr: str
    to_addr: str
    body: str
    carrier_id: str | None = None
    received_at: datetime | None = None
    media: list[dict[str, Any]] | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Submitted:
    """A carrier took the message: its id there, and which connector took it (a router answers for its
    members; receipts are matched by connector name and carrier id)."""

    carrier_id: str
    connector: str


@dataclass(frozen=True, slots=True)
class Deferred:
    """Not tried now and not a failure (a rate limit had no room): queue it again after ``seconds``
    without counting an attempt."""

    seconds: float
    reason: str = "rate limited"


#: ``str`` is the carrier id with the connector itself as the taker.
SubmitOutcome = str | Submitted | Deferred | CarrierError


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """An HTTP request to ``/callbacks/{connector}``: an upstream provider reporting to textgate."""

    method: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass(frozen=True, slots=True)
class CallbackResponse:
    status_code: int = 200
    body: str = "OK"
    content_type: str = "text/plain"


class ReportSink(Protocol):
    async def receipts(self, connector: str, receipts: list[Receipt]) -> list[bool]:
        """Record receipts, in order. For each, False when no message carries its carrier id (yet)."""

    async def inbound(self, connector: str, message: InboundMessage) -> str | None:
        """Record an inbound message; returns its id, or None if no account owns the number."""


@runtime_checkable
class ConnectorMemory(Protocol):
    """A sink that also keeps a connector's small JSON values across restarts (the gateway's does)."""

    async def remember(self, connector: str, values: dict[str, dict[str, Any]], ttl: float) -> None:
        """Store (or replace) each ``key: value`` for ``ttl`` seconds."""

    async def recall(self, connector: str, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The stored, unexpired values of ``keys``."""

    async def forget(self, connector: str, keys: list[str]) -> None: ...


@dataclass(frozen=True, slots=True)
class ConnectorContext:
    """What a connector factory may use: the shared HTTP client, the database, the clock, and the base
    URL upstreams call back on (``{public_url}/callbacks/{connector name}``)."""

    http: Any  # httpx.AsyncClient
    engine: Any  # sqlalchemy Engine
    clock: Callable[[], datetime]
    public_url: str

    def callback_url(self, name: str) -> str:
        return f"{self.public_url.rstrip('/')}/callbacks/{name}"


#: ``CONNECTOR_TYPES`` in ``providers/<name>/connector.py`` maps a ``type`` of ``[[connectors]]`` to one:
#: it gets that table (name, type and the type's own keys) and the context, and checks the keys.
ConnectorFactory = Callable[[Mapping[str, Any], ConnectorContext], "Connector"]


class Connector(abc.ABC):
    name: str

    async def start(self, sink: ReportSink) -> None:  # noqa: B027 - optional hook
        """Connect and begin reporting to ``sink``."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Disconnect; pending work stays in the database."""

    @abc.abstractmethod
    async def submit(self, message: OutboundMessage) -> str:
        """Submit one message; return the carrier's id or raise CarrierError."""

    async def submit_many(self, messages: list[OutboundMessage]) -> list[SubmitOutcome]:
        async def one(m: OutboundMessage) -> SubmitOutcome:
            try:
                return await self.submit(m)
            except CarrierError as exc:
                return exc

        return list(await asyncio.gather(*(one(m) for m in messages)))

    def recorded(self) -> None:  # noqa: B027 - optional hook
        """The dispatcher has stored the carrier ids of a round of :meth:`submit_many`: receipts kept
        because they came before their submission was recorded can be matched now."""

    @abc.abstractmethod
    def health(self) -> Health: ...

    async def callback(self, request: CallbackRequest) -> CallbackResponse:
        """Handle a delivery report or inbound message the upstream posts to textgate (reporting them to
        the sink given to :meth:`start`). Connectors without callbacks answer 404."""
        return CallbackResponse(status_code=404, body="this connector takes no callbacks")
