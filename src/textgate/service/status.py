"""Moving a message from one status to the next, with everything that must happen in the same transaction:
the row update (guarded by the status it was read in), the timeline event, the webhook outbox entry and,
for a message that ends without ever reaching a carrier, the one refund of its credits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from textgate.domain.errors import ErrorKind
from textgate.domain.message import Direction, MessageStatus, check_transition
from textgate.service.messages import message_view
from textgate.store.schema import accounts, ledger_entries, message_events, messages
from textgate.webhooks.outbox import EndpointCache, enqueue_event

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
    }
)


def change_status(
    conn: Connection,
    row: Mapping[str, Any],
    new: MessageStatus,
    *,
    now: datetime,
    source: str,
    error_kind: ErrorKind | None = None,
    error_message: str | None = None,
    detail: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    cache: EndpointCache | None = None,
) -> Mapping[str, Any] | None:
    """Apply ``new`` to the message ``row`` (as read in this transaction).

    Returns the updated row, or None when nothing changed: a repeat, a report after a final status, or a
    concurrent writer that moved the message first. Raises IllegalTransition for a forbidden move.
    """
    current = MessageStatus(row["status"])
    if not check_transition(current, new):
        return None
    values: dict[str, Any] = {"status": new.value, "updated_at": now}
    if extra:
        values.update(extra)
    if new is MessageStatus.SENT and row.get("sent_at") is None:
        values.setdefault("sent_at", now)
    if new is MessageStatus.DELIVERED:
        values.setdefault("delivered_at", now)
        if row.get("sent_at") is None:
            values.setdefault("sent_at", now)
    if error_kind is not None:
        values["error_code"] = error_kind.value
        values["error_message"] = error_message
    elif new in (MessageStatus.SENT, MessageStatus.DELIVERED):
        # A retry that succeeded leaves no stale "throttled" behind.
        values["error_code"] = None
        values["error_message"] = None
    if new.is_final:
        values["due_at"] = None
        values["lease_owner"] = None
    result = conn.execute(
        update(messages)
        .where(messages.c.id == row["id"], messages.c.status == current.value)
        .values(**values)
    )
    if result.rowcount == 0:
        return None
    updated = {**row, **values}
    conn.execute(
        insert(message_events).values(
            message_id=row["id"],
            status=new.value,
            at=now,
            source=source,
            error_code=error_kind.value if error_kind else None,
            detail=detail,
        )
    )
    if new.is_final and _never_submitted(updated):
        refund(conn, updated, now=now)
    if new in NOTIFY_STATUSES:
        enqueue_event(
            conn,
            row["account_id"],
            "message.status",
            message_view(updated),
            order_key=row["id"],
            now=now,
            cache=cache,
        )
    return updated


def _never_submitted(row: Mapping[str, Any]) -> bool:
    return (
        row["direction"] == Direction.OUTBOUND.value
        and row.get("carrier_id") is None
        and row.get("sent_at") is None
        and int(row.get("credits") or 0) > 0
    )


def refund(conn: Connection, row: Mapping[str, Any], *, now: datetime) -> bool:
    """Give back a message's credits, once. Returns False if it was already refunded."""
    already = conn.execute(
        select(ledger_entries.c.id).where(
            ledger_entries.c.message_id == row["id"], ledger_entries.c.kind == "refund"
        )
    ).first()
    if already is not None:
        return False
    amount = int(row["credits"])
    new_balance = conn.execute(
        update(accounts)
        .where(accounts.c.id == row["account_id"])
        .values(balance=accounts.c.balance + amount)
        .returning(accounts.c.balance)
    ).scalar_one()
    conn.execute(
        insert(ledger_entries).values(
            account_id=row["account_id"],
            amount=amount,
            balance_after=new_balance,
            kind="refund",
            message_id=row["id"],
            note=f"refund: {row.get('error_code') or 'not sent'}",
            created_at=now,
        )
    )
    return True
