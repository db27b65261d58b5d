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
    #: Parts of a multi-part message a carrier already took in earlier rounds: part number (1-based) ->
    #: carrier id. A connector sends only the others, with the same concatenation reference.
    parts_done: Mapping[int, str] | None = None
    #: The connector that took those parts: the rest must go there too (set with ``parts_done``).
    pinned: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> OutboundMessage:
        """From a ``messages`` row as the dispatch worker claimed it (``attempts`` already counted;
        ``parts_done`` added by the claim for multi-part messages)."""
        parts_done = row.get("parts_done") or None
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
            parts_done=parts_done,
            pinned=row.get("connector") if parts_done else None,
        )


#: How the receipts of a multi-part message's parts decide the message's status (docs/routing.md):
#: ``all`` - delivered when every part was; a failed part decides once every part reported (or
#: ``rollup_wait`` seconds after it); ``first_failure`` - the first failed part decides at once;
#: ``first_part`` - the first part's receipt decides alone.
ROLLUPS: tuple[str, ...] = ("all", "first_failure", "first_part")


@dataclass(frozen=True, slots=True)
class Receipt:
    """A delivery report, normalised; ``raw`` keeps the carrier's own payload beside it.

    ``alternatives``: other readings of the carrier id (an SMSC may write it in decimal or hexadecimal),
    tried after ``carrier_id``. ``rollup``/``rollup_wait``: the connector's rule for a receipt about one
    part of a multi-part message (see :data:`ROLLUPS`)."""

    carrier_id: str
    status: MessageStatus
    error_kind: ErrorKind | None = None
    error_message: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    alternatives: tuple[str, ...] = ()
    rollup: str = "all"
    rollup_wait: float = 3600.0

    @property
    def candidates(self) -> tuple[str, ...]:
        return (self.carrier_id, *self.alternatives)


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
    members; receipts are matched by connector name and carrier id).

    For a message sent as several parts: ``parts`` holds the carrier id of each part taken in *this*
    round (part number -> id; earlier rounds' are in ``OutboundMessage.parts_done``), ``total`` the number
    of parts, and ``carrier_id`` is the first part's."""

    carrier_id: str
    connector: str
    parts: Mapping[int, str] | None = None
    total: int = 1


@dataclass(frozen=True, slots=True)
class Deferred:
    """Not tried now and not a failure (a rate limit had no room, the carrier throttled, no connector can
    take it now): queue it again after ``seconds`` without counting an attempt."""

    seconds: float
    reason: str = "rate limited"


@dataclass(frozen=True, slots=True)
class Unknown:
    """The submission went out but no answer came (timeout, dropped connection): the carrier may have it.
    Not an attempt and not a failure: the message waits ``seconds`` for a late answer to settle it, then
    it is submitted again (a resubmission, in its timeline and in ``/metrics``)."""

    seconds: float
    reason: str
    connector: str | None = None


@dataclass(frozen=True, slots=True)
class Partial:
    """Some parts of a multi-part message were taken this round and the rest not (yet): ``rest`` says
    why. ``accepted``: part number -> carrier id; ``unknown``: parts written whose answer never came."""

    accepted: Mapping[int, str]
    unknown: tuple[int, ...]
    total: int
    rest: Deferred | Unknown | CarrierError
    connector: str | None = None


#: ``str`` is the carrier id with the connector itself as the taker.
SubmitOutcome = str | Submitted | Deferred | Unknown | Partial | CarrierError


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


@dataclass(frozen=True, slots=True)
class InboundPart:
    """One part of a multi-part inbound message. The parts with the same ``key`` (sender, recipient,
    reference, total) make one message; after ``wait`` seconds what arrived is reported as it is."""

    key: str
    number: int
    total: int
    text: str
    from_addr: str
    to_addr: str
    wait: float
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LateAnswer:
    """A carrier took a submission after its connector had stopped waiting (the submit timed out):
    message ``message_id`` (part ``part`` of ``total``) has carrier id ``carrier_id`` after all."""

    message_id: str
    carrier_id: str
    part: int = 1
    total: int = 1


class ReportSink(Protocol):
    async def receipts(self, connector: str, receipts: list[Receipt]) -> list[bool]:
        """Record receipts, in order. For each, False when no message carries its carrier id (yet)."""

    async def inbound(self, connector: str, message: InboundMessage) -> str | None:
        """Record an inbound message; returns its id, or None if no account owns the number."""


@runtime_checkable
class DurableSink(ReportSink, Protocol):
    """A sink that also stores what a connector must not hold in memory (the gateway's does; the SMPP
    connector needs one): receipts that came before their message was known, parts of inbound messages,
    and answers that came late."""

    async def keep_receipts(self, connector: str, receipts: list[Receipt]) -> list[str | None]:
        """Record receipts, in order; for each, the carrier id (of its candidates) that matched a message
        or part, or None: stored, to be applied once a message or part gets that id."""

    async def inbound_part(self, connector: str, part: InboundPart) -> str | None:
        """Store one part; once all have come, the message is recorded: its id (else None)."""

    async def late_answer(self, connector: str, answer: LateAnswer) -> None:
        """Record a late acceptance (the message is sent after all; see :class:`LateAnswer`)."""


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
        """The dispatcher has stored the carrier ids of a round of :meth:`submit_many`."""

    def capacity(self) -> int | None:
        """About how many messages the connector can take now without holding them back (None: no
        limit known). 0: none at all (nothing bound, everything throttled): the dispatcher does not claim,
        so queued messages wait untouched, oldest first."""
        return None

    def round_seconds(self) -> float:
        """The longest a :meth:`submit_many` round may take; the dispatcher's lease covers it."""
        return 0.0

    @abc.abstractmethod
    def health(self) -> Health: ...

    async def callback(self, request: CallbackRequest) -> CallbackResponse:
        """Handle a delivery report or inbound message the upstream posts to textgate (reporting them to
        the sink given to :meth:`start`). Connectors without callbacks answer 404."""
        return CallbackResponse(status_code=404, body="this connector takes no callbacks")
