"""Delivery reports from carriers, applied to the messages they describe."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from textgate.domain.message import MessageStatus
from textgate.providers.base import Receipt
from textgate.service.status import change_status
from textgate.store.schema import messages
from textgate.webhooks.outbox import EndpointCache


def record_receipt(
    conn: Connection, connector: str, receipt: Receipt, *, now: datetime, cache: EndpointCache | None = None
) -> bool:
    """Apply a receipt. Returns False when no message carries that carrier id yet (the receipt overtook
    the submission's answer; the caller keeps it and tries again). A receipt for a message that is
    already final is accepted and ignored: final statuses never move."""
    row = conn.execute(
        select(messages).where(messages.c.connector == connector, messages.c.carrier_id == receipt.carrier_id)
    ).first()
    if row is None:
        return False
    status = receipt.status
    if status is MessageStatus.SENT and row.status == MessageStatus.SENT.value:
        return True
    change_status(
        conn,
        dict(row._mapping),
        status,
        now=now,
        source=f"receipt:{connector}",
        error_kind=receipt.error_kind,
        error_message=receipt.error_message,
        detail={"raw": receipt.raw} if receipt.raw else None,
        cache=cache,
    )
    return True
