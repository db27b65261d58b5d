"""What the SMPP connector remembers between PDUs: receipts read but not yet matched to a message, the
parts of long messages whose receipts roll up into one status, and parts of inbound messages still being
reassembled. It lives in memory; the parts of long messages are also stored through the sink when it keeps
connector memory, so they survive a restart (docs/routing.md, "SMPP: what is kept where")."""

from __future__ import annotations

import asyncio
import time
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


def _wall(monotonic: float) -> float:
    return time.time() - (time.monotonic() - monotonic)


def _monotonic(wall: float) -> float:
    return time.monotonic() - max(0.0, time.time() - wall)


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

    def to_json(self) -> dict[str, Any]:
        """What is stored to survive a restart (times as wall-clock seconds, not this process's monotonic)."""
        return {
            "message_id": self.message_id,
            "total": self.total,
            "part_ids": list(self.part_ids),
            "outcomes": {
                str(i): [s.value, k.value if k is not None else None, text, raw]
                for i, (s, k, text, raw) in self.outcomes.items()
            },
            "created": _wall(self.created),
            "first_failure": _wall(self.first_failure) if self.first_failure is not None else None,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> LongMessage:
        record = cls(message_id=str(value["message_id"]), total=int(value["total"]), created=0.0)
        record.created = _monotonic(float(value["created"]))
        record.part_ids = [str(p) if p is not None else None for p in value["part_ids"]]
        record.outcomes = {
            int(i): (MessageStatus(s), ErrorKind(k) if k is not None else None, text, dict(raw))
            for i, (s, k, text, raw) in value["outcomes"].items()
        }
        failed = value.get("first_failure")
        record.first_failure = _monotonic(float(failed)) if failed is not None else None
        return record

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
