"""The durable outbox: events are written in the same transaction as the change they describe.

The worker in ``textgate.workers.webhooks`` sends them. Each delivery carries an ``order_key`` (the
message id), and deliveries with the same endpoint and key go out strictly one after another. What a
delivery carries is decided here, at enqueue time, by the endpoint's format (see ``formats``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Connection, select

from textgate.ids import new_id
from textgate.store.fast import insert_rows
from textgate.store.schema import webhook_deliveries, webhook_endpoints
from textgate.webhooks.formats import Endpoint, RenderContext, renderer

EVENT_TYPES = ("message.status", "message.received", "message.clicked")
DEFAULT_RETRY_WINDOW = timedelta(hours=24)


class EndpointCache:
    """Endpoints per account, looked up once per transaction (a batch can touch one account many times)."""

    def __init__(self) -> None:
        self._by_account: dict[str, list[Endpoint]] = {}

    def get(self, conn: Connection, account_id: str) -> list[Endpoint]:
        found = self._by_account.get(account_id)
        if found is None:
            e = webhook_endpoints.c
            rows = conn.execute(
                select(e.id, e.url, e.events, e.format, e.number, e.options, e.statuses).where(
                    e.account_id == account_id, e.deleted_at.is_(None)
                )
            ).all()
            found = [
                Endpoint(
                    id=r.id,
                    account_id=account_id,
                    url=r.url,
                    events=frozenset(r.events),
                    format=r.format,
                    number=r.number,
                    options=dict(r.options or {}),
                    statuses=frozenset(r.statuses) if r.statuses is not None else None,
                )
                for r in rows
            ]
            self._by_account[account_id] = found
        return found


def _concerns(ep: Endpoint, event_type: str, data: dict[str, Any]) -> bool:
    if ep.statuses is not None and event_type == "message.status" and data.get("status") not in ep.statuses:
        return False
    if ep.number is None:
        return True
    own = data.get("to") if data.get("direction") == "inbound" else data.get("from")
    return own == ep.number


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
    """Queue ``event_type`` for every endpoint of the account that wants it. Returns how many."""
    rows = delivery_rows(
        conn,
        account_id,
        event_type,
        data,
        order_key=order_key,
        now=now,
        cache=cache,
        retry_window=retry_window,
    )
    insert_rows(conn, webhook_deliveries, rows)
    return len(rows)


def delivery_rows(
    conn: Connection,
    account_id: str,
    event_type: str,
    data: dict[str, Any],
    *,
    order_key: str,
    now: datetime,
    cache: EndpointCache | None = None,
    retry_window: timedelta = DEFAULT_RETRY_WINDOW,
) -> list[dict[str, Any]]:
    """The ``webhook_deliveries`` rows :func:`enqueue_event` inserts (for callers that insert many
    events' rows with one statement)."""
    endpoints = (cache or EndpointCache()).get(conn, account_id)
    rows: list[dict[str, Any]] = []
    ctx = RenderContext(conn=conn, now=now)
    for ep in endpoints:
        if event_type not in ep.events or not _concerns(ep, event_type, data):
            continue
        render = renderer(ep.format)
        out = render(event_type, data, ep, ctx) if render is not None else None
        if out is None:
            continue
        target = out.url
        if out.query:
            base = target or ep.url
            target = base + ("&" if "?" in base else "?") + urlencode(out.query)
        rows.append(
            {
                "id": new_id("evt"),
                "endpoint_id": ep.id,
                "account_id": account_id,
                "order_key": order_key,
                "event_type": event_type,
                "payload": out.body,
                "method": out.method,
                "content_type": out.content_type,
                "target_url": target,
                "status": "pending",
                "attempts": 0,
                "due_at": now,
                "give_up_at": now + retry_window,
                "created_at": now,
            }
        )
    return rows
