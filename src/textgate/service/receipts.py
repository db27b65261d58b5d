"""Delivery reports from carriers, applied to the messages they describe."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from textgate.domain.message import MessageStatus
from textgate.providers.base import Receipt
from textgate.service.status import change_statuses
from textgate.store.fast import fetch_dicts
from textgate.store.schema import messages
from textgate.webhooks.outbox import EndpointCache


def record_receipts(
    conn: Connection,
    connector: str,
    receipts: Sequence[Receipt],
    *,
    now: datetime,
    cache: EndpointCache | None = None,
) -> list[bool]:
    """Apply receipts; for each, whether a message carries its carrier id.

    False means the receipt overtook the submission's answer: the caller keeps it and tries again. A
    receipt for a message that is already final is accepted and ignored (final statuses never move).
    Receipts are applied in order; several for one message in one call are applied one after another.
    """
    cache = cache or EndpointCache()
    ids = list({r.carrier_id for r in receipts})
    query = select(messages).where(messages.c.connector == connector, messages.c.carrier_id.in_(ids))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    rows: dict[str, dict[str, Any]] = {r["carrier_id"]: r for r in fetch_dicts(conn, query)}
    found = [r.carrier_id in rows for r in receipts]
    pending = [r for r in receipts if r.carrier_id in rows]
    while pending:
        # One pass applies at most one receipt per message, so each guarded update sees fresh state.
        this_pass: dict[str, Receipt] = {}
        later: list[Receipt] = []
        for receipt in pending:
            if receipt.carrier_id in this_pass:
                later.append(receipt)
            else:
                this_pass[receipt.carrier_id] = receipt
        by_status: dict[tuple[MessageStatus, Any, Any], list[Receipt]] = {}
        for receipt in this_pass.values():
            key = (receipt.status, receipt.error_kind, receipt.error_message)
            by_status.setdefault(key, []).append(receipt)
        for (status, error_kind, error_message), group in by_status.items():
            items: list[tuple[Mapping[str, Any], Mapping[str, Any] | None]] = [
                (rows[r.carrier_id], None) for r in group
            ]
            updated = change_statuses(
                conn,
                items,
                status,
                now=now,
                source=f"receipt:{connector}",
                error_kind=error_kind,
                error_message=error_message,
                details=[{"raw": r.raw} if r.raw else None for r in group],
                cache=cache,
            )
            for row in updated:
                rows[row["carrier_id"]] = row
        pending = later
    return found


def record_receipt(
    conn: Connection, connector: str, receipt: Receipt, *, now: datetime, cache: EndpointCache | None = None
) -> bool:
    """Apply one receipt; see :func:`record_receipts`."""
    return record_receipts(conn, connector, [receipt], now=now, cache=cache)[0]
