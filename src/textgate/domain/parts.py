"""The parts of a multi-part message, and how their outcomes make the message's status.

A long message goes to an SMSC as several ``submit_sm`` (concatenated on the handset). Each part is its
own unit::

    (not tried) ──► sent ──► delivered / undelivered / failed / expired / rejected   (its receipt)
         │  ▲        ▲
         ▼  │        │ a late answer
        unknown ─────┘  (written, no answer: sent again after a wait, same reference and number)

The message is ``sent`` once every part is; its final status comes from the parts' receipts by a rule
(:data:`~textgate.providers.base.ROLLUPS`):

* ``all`` (default): ``delivered`` when every part was delivered; otherwise the first failing part's
  status and reason, once every part has reported - or once the failed part's wait is over
  (``timed_out``), so a part that never reports does not hold the message forever;
* ``first_failure``: ``delivered`` when every part was; the first part to fail decides at once;
* ``first_part``: the first part's receipt decides alone (for carriers that only report on it).

Pure: the service reads the parts, asks :func:`rollup`, and writes what it says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textgate.domain.errors import ErrorKind
from textgate.domain.message import MessageStatus

#: A part's status before any receipt: taken by the carrier, or written without an answer.
PART_SENT = "sent"
PART_UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class PartState:
    number: int
    status: str  # PART_SENT, PART_UNKNOWN or a final MessageStatus value
    error_kind: ErrorKind | None = None
    error_message: str | None = None

    @property
    def final(self) -> bool:
        return self.status not in (PART_SENT, PART_UNKNOWN) and MessageStatus(self.status).is_final

    @property
    def failed(self) -> bool:
        return self.final and self.status != MessageStatus.DELIVERED.value


@dataclass(frozen=True, slots=True)
class Decision:
    status: MessageStatus
    error_kind: ErrorKind | None = None
    error_message: str | None = None


def rollup(parts: Sequence[PartState], total: int, rule: str, *, timed_out: bool = False) -> Decision | None:
    """The message's final status from its parts, or None while it is not decided yet."""
    by_number = {p.number: p for p in parts}
    if rule == "first_part":
        first = by_number.get(1)
        if first is None or not first.final:
            return None
        return _decision(first)
    failed = sorted((p for p in parts if p.failed), key=lambda p: p.number)
    delivered = sum(1 for p in parts if p.final and not p.failed)
    if not failed:
        return Decision(MessageStatus.DELIVERED) if delivered == total else None
    everyone = len([p for p in parts if p.final]) == total
    if rule == "first_failure" or everyone or timed_out:
        decision = _decision(failed[0])
        missing = total - len([p for p in parts if p.final])
        if missing and rule == "all":
            text = decision.error_message or decision.status.value
            text = f"{text}; {missing} of {total} parts did not report"
            return Decision(decision.status, decision.error_kind, text)
        return decision
    return None


def _decision(part: PartState) -> Decision:
    status = MessageStatus(part.status)
    if status is MessageStatus.DELIVERED:
        return Decision(status)
    prefix = f"part {part.number}: "
    return Decision(
        status, part.error_kind or ErrorKind.UNKNOWN, prefix + (part.error_message or status.value)
    )
