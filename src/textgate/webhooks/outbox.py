"""The durable webhook outbox: events are written in the same transaction as the change they describe.

The worker in ``textgate.workers.webhooks`` sends them. Each delivery carries an ``order_key`` (the
message id), and deliveries with the same endpoint and key go out strictly one after another.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select

from textgate.domain.clock import isoformat
from textgate.ids import new_id
from textgate.store.schema import webhook_deliveries, webhook_endpoints

EVENT_TYPES = ("message.status", "message.received")
DEFAULT_RETRY_WINDOW = timedelta(hours=24)


class EndpointCache:
    """Endpoints per account, looked up once per transaction (a batch can touch one account many times)."""

    def __init__(self) -> None:
        self._by_account: dict[str, list[tuple[str, frozenset[str]]]] = {}

    def get(self, conn: Connection, account_id: str) -> list[tuple[str, frozenset[str]]]:
        found = self._by_account.get(account_id)
        if found is None:
            rows = conn.execute(
                select(webhook_endpoints.c.id, webhook_endpoints.c.events).where(
                    webhook_endpoints.c.account_id == account_id, webhook_endpoints.c.deleted_at.is_(None)
                )
            ).all()
            found = [(r.id, frozenset(r.events)) for r in rows]
            self._by_account[account_id] = found
        return found


def event_payload(event_type: str, data: dict[str, Any], now: datetime) -> str:
    return orjson.dumps({"type": event_type, "timestamp": isoformat(now), "data": data}).decode()


def enqueue_event(
    conn: Connection,
    account_id: str,
    event_type: str,
    data: dict[str, Any],
    *,
    order_key: str,
    now: datetime,
    cache: EndpointCache | None = None,
    retry_window: timedelta = DEFAULT_RETRY_WINDOW,
) -> int:
    """Queue ``event_type`` for every endpoint of the account subscribed to it. Returns how many."""
    endpoints = (cache or EndpointCache()).get(conn, account_id)
    targets = [ep_id for ep_id, events in endpoints if event_type in events]
    if not targets:
        return 0
    payload = event_payload(event_type, data, now)
    conn.execute(
        insert(webhook_deliveries),
        [
            {
                "id": new_id("evt"),
                "endpoint_id": ep_id,
                "account_id": account_id,
                "order_key": order_key,
                "event_type": event_type,
                "payload": payload,
                "status": "pending",
                "attempts": 0,
                "due_at": now,
                "give_up_at": now + retry_window,
                "created_at": now,
            }
            for ep_id in targets
        ],
    )
    return len(targets)
