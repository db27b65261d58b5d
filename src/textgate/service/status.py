"""Moving messages from one status to the next, with everything that must happen in the same transaction:
the row update (guarded by the status it was read in), the timeline event, the webhook outbox entry and,
for a message that ends without ever reaching a carrier, the one refund of its credits.

:func:`change_statuses` moves many messages to the same status with one statement per table (the
dispatch worker records hundreds of carrier answers per round); :func:`change_status` is the one-message
form. Callers read the rows in the same transaction (locked with ``FOR UPDATE`` on PostgreSQL when
others may write them), so the status guard holds; if it ever does not, the whole transaction is
refused rather than half-applied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from textgate.domain.errors import Conflict, ErrorKind, NotFound
from textgate.domain.message import NOTIFY_STATUSES, Direction, MessageStatus, check_transition
from textgate.service.messages import message_view
from textgate.service.status_metrics import record_changes
from textgate.store.fast import insert_rows, update_rows
from textgate.store.schema import (
    accounts,
    ledger_entries,
    message_events,
    message_parts,
    messages,
    webhook_deliveries,
)
from textgate.webhooks.outbox import EndpointCache, delivery_rows


class ConcurrentUpdate(RuntimeError):
    """A guarded status update found a row already moved by someone else; the transaction is void."""


def _values(
    row: Mapping[str, Any],
    new: MessageStatus,
    now: datetime,
    error_kind: ErrorKind | None,
    error_message: str | None,
    extra: Mapping[str, Any] | None,
) -> dict[str, Any]:
    values: dict[str, Any] = {"status": new.value, "updated_at": now}
    if new in (MessageStatus.SENT, MessageStatus.DELIVERED):
        values["sent_at"] = row.get("sent_at") or now
    if new is MessageStatus.DELIVERED:
        values["delivered_at"] = now
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
    if extra:
        values.update(extra)
    return values


def change_statuses(
    conn: Connection,
    items: Sequence[tuple[Mapping[str, Any], Mapping[str, Any] | None]],
    new: MessageStatus,
    *,
    now: datetime,
    source: str,
    error_kind: ErrorKind | None = None,
    error_message: str | None = None,
    detail: dict[str, Any] | None = None,
    details: Sequence[dict[str, Any] | None] | None = None,
    cache: EndpointCache | None = None,
    guard: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Move every ``(row, extra)`` to ``new``. ``extra`` adds column values (same keys for every item).

    Rows for which the move is a no-op (a repeat, or already final) are skipped; the updated rows are
    returned. Raises IllegalTransition for a forbidden move, ConcurrentUpdate if a guard failed: every
    row must still be in the status it was read in and, with ``guard``, hold those column values too.
    """
    match = ("id", "status", *(guard or {}))
    guarded = tuple((guard or {}).values())
    cache = cache or EndpointCache()
    params_by_keys: dict[tuple[str, ...], list[list[Any]]] = {}
    updated: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for i, (row, extra) in enumerate(items):
        if not check_transition(MessageStatus(row["status"]), new):
            continue
        values = _values(row, new, now, error_kind, error_message, extra)
        params_by_keys.setdefault(tuple(values), []).append(
            [row["id"], row["status"], *guarded, *values.values()]
        )
        updated.append({**row, **values})
        events.append(
            {
                "message_id": row["id"],
                "status": new.value,
                "at": now,
                "source": source,
                "error_code": error_kind.value if error_kind else None,
                "detail": details[i] if details is not None else detail,
            }
        )
    if not updated:
        return []
    for keys, params_list in params_by_keys.items():
        changed = update_rows(conn, messages, match, keys, params_list)
        if changed != len(params_list):
            raise ConcurrentUpdate(f"{len(params_list) - changed} message(s) moved concurrently")
    insert_rows(conn, message_events, events)
    record_changes(conn, items, updated, new, now)
    deliveries: list[dict[str, Any]] = []
    for row in updated:
        if new.is_final and _never_submitted(row):
            refund(conn, row, now=now)
        if new in NOTIFY_STATUSES and cache.get(conn, row["account_id"]):
            deliveries += delivery_rows(
                conn,
                row["account_id"],
                "message.status",
                message_view(row),
                order_key=row["id"],
                now=now,
                cache=cache,
            )
    insert_rows(conn, webhook_deliveries, deliveries)
    return updated


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
    try:
        done = change_statuses(
            conn,
            [(row, extra)],
            new,
            now=now,
            source=source,
            error_kind=error_kind,
            error_message=error_message,
            detail=detail,
            cache=cache,
        )
    except ConcurrentUpdate:
        return None
    return done[0] if done else None


def _never_submitted(row: Mapping[str, Any]) -> bool:
    return (
        row["direction"] == Direction.OUTBOUND.value
        and row.get("carrier_id") is None
        and row.get("sent_at") is None
        and int(row.get("credits") or 0) > 0
    )


def _refund_reason(row: Mapping[str, Any]) -> str:
    if row.get("status") == MessageStatus.CANCELED.value:
        return "canceled"
    return str(row.get("error_code") or "not sent")


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
            note=f"refund: {_refund_reason(row)}",
            created_at=now,
        )
    )
    return True


#: Statuses a message can be canceled from: nothing of it has reached a carrier yet.
CANCELABLE = frozenset({MessageStatus.SCHEDULED, MessageStatus.QUEUED})


def cancel_message(
    conn: Connection, account_id: str, message_id: str, *, now: datetime, source: str = "api"
) -> dict[str, Any]:
    """Cancel one of the account's outbound messages that no carrier has seen: it becomes ``canceled``
    and its credits are refunded (one ledger entry). A message already taken by the dispatcher, sent or
    final is a Conflict naming its status; another account's message is NotFound."""
    row = conn.execute(
        select(messages)
        .where(messages.c.id == message_id, messages.c.account_id == account_id)
        .with_for_update()
    ).first()
    if row is None:
        raise NotFound(f"message {message_id!r} not found", field="id")
    current = dict(row._mapping)
    seen = conn.execute(select(message_parts.c.part).where(message_parts.c.message_id == message_id)).first()
    status = MessageStatus(current["status"])
    if (
        current["direction"] != Direction.OUTBOUND.value
        or status not in CANCELABLE
        or seen is not None
        or current.get("carrier_id") is not None
    ):
        why = "is inbound" if current["direction"] != Direction.OUTBOUND.value else f"is {status.value}"
        if status in CANCELABLE:
            why = "has already reached a carrier"
        raise Conflict(f"message {message_id} {why}: only a message not yet sent can be canceled", field="id")
    done = change_status(conn, current, MessageStatus.CANCELED, now=now, source=source)
    if done is None:  # the dispatcher took it between our read and our write
        raise Conflict(f"message {message_id} is being sent: it can no longer be canceled", field="id")
    return message_view(done)
