"""Finding a BestSMS job's messages by its MessageID, and threading replies to the message they answer.

BestSMS identifies a send by its ``MessageID`` (the client's, or a GUID it hands out), and every poll and
report is keyed on it; textgate keeps it as the messages' ``client_ref``. The send path also records the
MessageID as an idempotency key (scope :data:`SCOPE`), whose primary key makes it unique per account and
whose stored answer lists the job's message ids — so a poll is a primary-key look-up, not a scan of
``client_ref``. Messages that carry a ``client_ref`` but were sent another way (the native API) are
still found, by a scan of the account's messages, and any message can be polled by textgate's own id
(``msg_...``), so messages sent through other APIs are visible here too.

Replies are not linked by the carrier; they are threaded here, by query, without any schema of their
own: an inbound message from handset X to the account's number Y answers the latest outbound message
Y→X sent before it, within the account's reply window (``bestsms_reply_window_hours``, 72 by default).
Test-mode messages never reached a handset, so nothing threads to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from textgate.domain.errors import NotFound
from textgate.domain.message import Direction
from textgate.store.schema import idempotency_keys, messages

#: Idempotency scope of BestSMS MessageIDs: shared by ``/bestsms/send`` and the v3.00 REST API.
SCOPE = "bestsms"
#: Outbound candidates looked at per thread look-up (test messages in between are skipped).
_CANDIDATES = 20

Row = dict[str, Any]


def is_test(row: Mapping[str, Any]) -> bool:
    return bool((row.get("meta") or {}).get("test"))


def job_messages(conn: Connection, account_id: str, message_id: str) -> list[Row]:
    """The outbound messages of the job ``message_id``, in send order. Raises NotFound."""
    if len(message_id) > 200 or any(ord(ch) < 32 for ch in message_id):
        raise NotFound(f"no message with MessageID {message_id!r}", field="MessageID")  # no such client_ref
    record = conn.execute(
        select(idempotency_keys.c.response).where(
            idempotency_keys.c.account_id == account_id,
            idempotency_keys.c.scope == SCOPE,
            idempotency_keys.c.key == message_id,
        )
    ).scalar_one_or_none()
    rows: list[Row] = []
    if record is not None:
        ids = [m["id"] for m in record.get("messages", [])]
        found = {
            r.id: dict(r._mapping)
            for r in conn.execute(
                select(messages).where(messages.c.id.in_(ids), messages.c.account_id == account_id)
            )
        }
        rows = [found[i] for i in ids if i in found]
    if not rows:
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                select(messages)
                .where(
                    messages.c.account_id == account_id,
                    messages.c.client_ref == message_id,
                    messages.c.direction == Direction.OUTBOUND.value,
                )
                .order_by(messages.c.created_at, messages.c.id)
            )
        ]
    if not rows and message_id.startswith("msg_"):
        # A message sent through another API (native, another dialect) is polled by textgate's own id.
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                select(messages).where(
                    messages.c.account_id == account_id,
                    messages.c.id == message_id,
                    messages.c.direction == Direction.OUTBOUND.value,
                )
            )
        ]
    if not rows:
        raise NotFound(f"no message with MessageID {message_id!r}", field="MessageID")
    return rows


def thread_of(conn: Connection, inbound: Mapping[str, Any], window: timedelta) -> Row | None:
    """The outbound message ``inbound`` replies to, or None."""
    at: datetime = inbound["created_at"]
    m = messages.c
    rows = conn.execute(
        select(messages)
        .where(
            m.account_id == inbound["account_id"],
            m.direction == Direction.OUTBOUND.value,
            m.from_addr == inbound["to_addr"],
            m.to_addr == inbound["from_addr"],
            m.created_at <= at,
            m.created_at >= at - window,
        )
        .order_by(m.created_at.desc(), m.id.desc())
        .limit(_CANDIDATES)
    ).all()
    for r in rows:
        row = dict(r._mapping)
        if not is_test(row):
            return row
    return None


def replies_to(conn: Connection, outbound: Mapping[str, Any], window: timedelta) -> list[Row]:
    """Inbound messages threaded to ``outbound``, oldest first."""
    if is_test(outbound):
        return []
    m = messages.c
    start: datetime = outbound["created_at"]
    candidates = conn.execute(
        select(messages)
        .where(
            m.account_id == outbound["account_id"],
            m.direction == Direction.INBOUND.value,
            m.from_addr == outbound["to_addr"],
            m.to_addr == outbound["from_addr"],
            m.created_at >= start,
            m.created_at <= start + window,
        )
        .order_by(m.created_at, m.id)
    ).all()
    out: list[Row] = []
    for r in candidates:
        row = dict(r._mapping)
        thread = thread_of(conn, row, window)
        if thread is not None and thread["id"] == outbound["id"]:
            out.append(row)
    return out


def inbound_between(
    conn: Connection, account_id: str, start: datetime, end: datetime, *, offset: int, limit: int
) -> tuple[int, list[Row]]:
    """(total, page) of the account's inbound messages received in ``[start, end]``, oldest first."""
    m = messages.c
    conditions = (
        m.account_id == account_id,
        m.direction == Direction.INBOUND.value,
        m.created_at >= start,
        m.created_at <= end,
    )
    total = int(conn.execute(select(func.count()).select_from(messages).where(*conditions)).scalar_one())
    rows = conn.execute(
        select(messages).where(*conditions).order_by(m.created_at, m.id).offset(offset).limit(limit)
    ).all()
    return total, [dict(r._mapping) for r in rows]


def message_row(conn: Connection, message_id: str) -> Row | None:
    row = conn.execute(select(messages).where(messages.c.id == message_id)).first()
    return dict(row._mapping) if row is not None else None
