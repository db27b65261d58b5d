"""What the SMPP connector remembers between PDUs: receipts read but not yet matched to a message, the
parts of long messages whose receipts roll up into one status, and parts of inbound messages still being
reassembled. It lives in memory: a restart forgets it (docs/routing.md, "SMPP: what is kept where")."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from textgate.domain.errors import ErrorKind
from textgate.domain.message import MessageStatus
from textgate.providers.base import Receipt


@dataclass(frozen=True, slots=True)
class ReceiptData:
    """A receipt as read from a deliver_sm, before its id is resolved."""

    id: str
    stat: str | None
    err: str | None
    raw: dict[str, Any]


@dataclass
class LongMessage:
    """The parts of one submitted long message, for rolling their receipts up."""

    message_id: str
    total: int
    created: float
    part_ids: list[str | None] = field(default_factory=list)
    outcomes: dict[int, tuple[MessageStatus, ErrorKind | None, str | None, dict[str, Any]]] = field(
        default_factory=dict
    )
    first_failure: float | None = None
    reported: float | None = None

    def __post_init__(self) -> None:
        self.part_ids = [None] * self.total

    @property
    def first_id(self) -> str | None:
        return self.part_ids[0]

    def complete(self) -> bool:
        return len(self.outcomes) == self.total

    def rollup(self) -> Receipt:
        assert self.first_id is not None
        ordered = [self.outcomes[i] for i in sorted(self.outcomes)]
        failed = [o for o in ordered if o[0] is not MessageStatus.DELIVERED]
        parts_raw = [{"part": i + 1, **self.outcomes[i][3]} for i in sorted(self.outcomes)]
        raw = {"id": self.first_id, "parts": parts_raw, "part_ids": list(self.part_ids)}
        if len(failed) == 0 and self.complete():
            return Receipt(carrier_id=self.first_id, status=MessageStatus.DELIVERED, raw=raw)
        status, kind, text, _ = failed[0]
        missing = self.total - len(self.outcomes)
        if missing:
            text = f"{text}; {missing} of {self.total} parts did not report"
        return Receipt(carrier_id=self.first_id, status=status, error_kind=kind, error_message=text, raw=raw)


@dataclass
class Parked:
    """A receipt waiting for its message to be known: unresolved (``data``) or rolled up (``receipt``)."""

    until: float
    data: ReceiptData | None = None
    receipt: Receipt | None = None
    #: Resolved once the receipt is applied (True) or dropped at ``until`` (False).
    settled: asyncio.Future[bool] | None = None

    def settle(self, applied: bool) -> None:
        if self.settled is not None and not self.settled.done():
            self.settled.set_result(applied)


@dataclass
class InboundParts:
    first_seen: float
    total: int
    texts: dict[int, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
