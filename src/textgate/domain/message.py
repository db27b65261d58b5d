"""Messages and their status machine.

Outbound life::

    scheduled ──► queued ──► sending ──► sent ──► delivered
        │           │  ▲        │  │       └────► undelivered / failed / expired
        │           │  └────────┘  │   (retry with backoff)
        ├───────────┴──────────────┴──► failed / rejected / expired
        └───────────┴──► canceled (by the sender, before any submission)

``rejected`` means a carrier refused the submission for good (unknown number, opted out, barred);
``failed`` means textgate gave up (retryable refusals until attempts ran out) or the carrier reported a
failure; ``expired`` means the validity period ended first; ``canceled`` means the sender withdrew a
scheduled (or still unsent) message and got its credits back. Inbound messages are born ``received``.
Final statuses never change again: a late or repeated delivery report is ignored, never applied
backwards.
"""

from __future__ import annotations

from enum import StrEnum


class Direction(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class MessageStatus(StrEnum):
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    EXPIRED = "expired"
    REJECTED = "rejected"
    RECEIVED = "received"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


class MessageType(StrEnum):
    SMS = "sms"
    MMS = "mms"


FINAL_STATUSES = frozenset(
    {
        MessageStatus.DELIVERED,
        MessageStatus.UNDELIVERED,
        MessageStatus.FAILED,
        MessageStatus.EXPIRED,
        MessageStatus.REJECTED,
        MessageStatus.RECEIVED,
        MessageStatus.CANCELED,
    }
)

#: Statuses announced to webhooks. ``queued``/``scheduled`` are in the send answer already and ``sending``
#: is internal churn (it repeats on every retry), so they only appear in the message's timeline.
NOTIFY_STATUSES = frozenset(
    {
        MessageStatus.SENT,
        MessageStatus.DELIVERED,
        MessageStatus.UNDELIVERED,
        MessageStatus.FAILED,
        MessageStatus.EXPIRED,
        MessageStatus.REJECTED,
        MessageStatus.CANCELED,
    }
)

_S = MessageStatus
#: Every legal move. A move to the same status is never listed: it is a repeat, not a transition.
TRANSITIONS: dict[MessageStatus, frozenset[MessageStatus]] = {
    _S.SCHEDULED: frozenset({_S.QUEUED, _S.FAILED, _S.EXPIRED, _S.REJECTED, _S.CANCELED}),
    # queued -> sent: a carrier's late answer to an earlier submission (the message had gone back to the
    # queue meanwhile) says it took the message after all.
    _S.QUEUED: frozenset({_S.SENDING, _S.SENT, _S.FAILED, _S.EXPIRED, _S.REJECTED, _S.CANCELED}),
    # A receipt may overtake the submit response, so sending may jump straight to a carrier outcome.
    _S.SENDING: frozenset(
        {_S.QUEUED, _S.SENT, _S.DELIVERED, _S.UNDELIVERED, _S.FAILED, _S.EXPIRED, _S.REJECTED}
    ),
    _S.SENT: frozenset({_S.DELIVERED, _S.UNDELIVERED, _S.FAILED, _S.EXPIRED}),
}


class IllegalTransition(ValueError):
    def __init__(self, current: MessageStatus, new: MessageStatus) -> None:
        super().__init__(f"a message cannot move from {current.value} to {new.value}")
        self.current = current
        self.new = new


def check_transition(current: MessageStatus, new: MessageStatus) -> bool:
    """Decide a status change.

    Returns True when the change should be applied, False when it is a no-op (a repeat, or any report
    arriving after the message reached a final status). Raises :class:`IllegalTransition` for a move the
    machine forbids from a non-final status (e.g. ``queued`` → ``delivered``).
    """
    if current == new or current.is_final:
        return False
    if new in TRANSITIONS.get(current, frozenset()):
        return True
    raise IllegalTransition(current, new)
