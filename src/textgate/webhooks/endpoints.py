"""Webhook endpoints and their delivery history, as the owning account manages them.

Every function takes the caller's ``Connection`` (one transaction) and an ``account_id``; ids belonging to
other accounts are answered with :class:`NotFound`, exactly like ids that do not exist, so tenants cannot
probe each other. Answers are plain dicts in the API's shape (times as RFC 3339 strings), so routes and
the CLI can return them as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select, update

from textgate.domain.clock import isoformat
from textgate.domain.errors import Conflict, NotFound, ValidationError
from textgate.domain.message import NOTIFY_STATUSES, MessageStatus
from textgate.ids import new_id
from textgate.net import guard_url
from textgate.store.schema import numbers, webhook_attempts, webhook_deliveries, webhook_endpoints
from textgate.webhooks.formats import check_format_events, check_options, format_names, renderer
from textgate.webhooks.mail import parse_mailto
from textgate.webhooks.outbox import DEFAULT_RETRY_WINDOW, EVENT_TYPES
from textgate.webhooks.secrets import seal, unseal
from textgate.webhooks.signing import new_secret

MAX_DELIVERY_LIMIT = 500
DELETED_ERROR = "endpoint deleted"


def _check_events(events: Iterable[str] | None) -> list[str]:
    if events is None or isinstance(events, str):
        raise ValidationError("events must be a list of event types", field="events")
    chosen = list(dict.fromkeys(events))
    if not chosen:
        raise ValidationError(
            f"events must name at least one of: {', '.join(EVENT_TYPES)}",
            field="events",
        )
    unknown = [e for e in chosen if e not in EVENT_TYPES]
    if unknown:
        raise ValidationError(
            f"unknown event type(s) {', '.join(map(repr, unknown))}; known: {', '.join(EVENT_TYPES)}",
            field="events",
        )
    # A canonical order, so equal subscriptions look equal.
    return [e for e in EVENT_TYPES if e in chosen]


#: What ``statuses`` may name: the statuses a message.status event is sent for, in lifecycle order.
STATUS_CHOICES = tuple(s.value for s in MessageStatus if s in NOTIFY_STATUSES)


def _check_statuses(statuses: Iterable[str] | None) -> list[str] | None:
    if statuses is None:
        return None
    if isinstance(statuses, str):
        raise ValidationError("statuses must be a list of message statuses", field="statuses")
    chosen = list(dict.fromkeys(statuses))
    unknown = [s for s in chosen if s not in STATUS_CHOICES]
    if unknown or not chosen:
        raise ValidationError(
            (f"unknown status(es) {', '.join(map(repr, unknown))}; " if unknown else "no status named; ")
            + f"choose from: {', '.join(STATUS_CHOICES)}",
            field="statuses",
        )
    return [s for s in STATUS_CHOICES if s in chosen]


def _endpoint_dict(row: Any, *, with_secret: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "url": row.url,
        "events": list(row.events),
        "format": row.format,
        "number": row.number,
        "options": dict(row.options or {}),
        "statuses": list(row.statuses) if row.statuses is not None else None,
        "created_at": isoformat(row.created_at),
    }
    if with_secret:
        out["secret"] = unseal(row.secret)
    return out


def _delivery_dict(row: Any, attempts: Sequence[Any]) -> dict[str, Any]:
    try:
        payload: Any = orjson.loads(row.payload)
    except orjson.JSONDecodeError:
        payload = row.payload
    return {
        "id": row.id,
        "endpoint_id": row.endpoint_id,
        "event_type": row.event_type,
        "order_key": row.order_key,
        "status": row.status,
        "attempt_count": row.attempts,
        "next_attempt_at": isoformat(row.due_at) if row.status == "pending" else None,
        "give_up_at": isoformat(row.give_up_at),
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "created_at": isoformat(row.created_at),
        "delivered_at": isoformat(row.delivered_at),
        "payload": payload,
        "attempts": [
            {
                "at": isoformat(a.at),
                "status_code": a.status_code,
                "error": a.error,
                "duration_ms": a.duration_ms,
            }
            for a in attempts
        ],
    }


def _owned_endpoint(conn: Connection, account_id: str, endpoint_id: str) -> Any:
    row = conn.execute(
        select(webhook_endpoints).where(
            webhook_endpoints.c.id == endpoint_id,
            webhook_endpoints.c.account_id == account_id,
            webhook_endpoints.c.deleted_at.is_(None),
        )
    ).first()
    if row is None:
        raise NotFound(f"webhook endpoint {endpoint_id!r} not found", field="id")
    return row


def _attempts_by_delivery(conn: Connection, delivery_ids: Sequence[str]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {d: [] for d in delivery_ids}
    if not delivery_ids:
        return grouped
    rows = conn.execute(
        select(webhook_attempts)
        .where(webhook_attempts.c.delivery_id.in_(delivery_ids))
        .order_by(webhook_attempts.c.id)
    ).all()
    for row in rows:
        grouped[row.delivery_id].append(row)
    return grouped


def create_endpoint(
    conn: Connection,
    account_id: str,
    url: str,
    events: Sequence[str],
    *,
    now: datetime,
    allow_private: bool,
    format: str = "standard",
    number: str | None = None,
    options: dict[str, Any] | None = None,
    statuses: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Register an endpoint; the answer includes its signing ``secret``.

    ``format`` picks how events are rendered (``standard`` or a provider's format); ``number`` limits the
    endpoint to events about one of the account's numbers (e.g. inbound forwarding per number);
    ``statuses`` limits ``message.status`` events to those statuses (e.g. only final ones).
    """
    if url.startswith("mailto:"):
        if format == "standard":
            raise ValidationError(
                "standard events go to http(s) URLs; mailto: needs a mail format", field="url"
            )
        parse_mailto(url)
    else:
        url = guard_url(url, allow_private=allow_private, field="url")
    chosen = _check_events(events)
    wanted = _check_statuses(statuses)
    if renderer(format) is None:
        raise ValidationError(
            f"unknown format {format!r}; known: {', '.join(format_names())}", field="format"
        )
    options = check_options(format, options)
    check_format_events(format, chosen)
    if number is not None:
        owner = conn.execute(
            select(numbers.c.account_id).where(numbers.c.number == number)
        ).scalar_one_or_none()
        if owner != account_id:
            raise ValidationError(f"{number} is not a number of this account", field="number")
    endpoint_id = new_id("wh")
    conn.execute(
        insert(webhook_endpoints).values(
            id=endpoint_id,
            account_id=account_id,
            url=url,
            events=chosen,
            format=format,
            number=number,
            options=options or None,
            statuses=wanted,
            secret=seal(new_secret()),
            created_at=now,
        )
    )
    return get_endpoint(conn, account_id, endpoint_id)


def list_endpoints(conn: Connection, account_id: str) -> list[dict[str, Any]]:
    """The account's live endpoints, oldest first, without secrets."""
    rows = conn.execute(
        select(webhook_endpoints)
        .where(webhook_endpoints.c.account_id == account_id, webhook_endpoints.c.deleted_at.is_(None))
        .order_by(webhook_endpoints.c.created_at, webhook_endpoints.c.id)
    ).all()
    return [_endpoint_dict(r, with_secret=False) for r in rows]


def get_endpoint(conn: Connection, account_id: str, endpoint_id: str) -> dict[str, Any]:
    """One endpoint of the account, with its secret (the owner may read it again)."""
    return _endpoint_dict(_owned_endpoint(conn, account_id, endpoint_id), with_secret=True)


def delete_endpoint(conn: Connection, account_id: str, endpoint_id: str, now: datetime) -> None:
    """Stop delivering to an endpoint; its pending deliveries fail with ``endpoint deleted``."""
    _owned_endpoint(conn, account_id, endpoint_id)
    conn.execute(
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.deleted_at.is_(None))
        .values(deleted_at=now)
    )
    conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.endpoint_id == endpoint_id, webhook_deliveries.c.status == "pending")
        .values(status="failed", due_at=None, last_error=DELETED_ERROR)
    )


def list_deliveries(
    conn: Connection, account_id: str, endpoint_id: str, limit: int = 50
) -> list[dict[str, Any]]:
    """The endpoint's most recent deliveries, newest first, each with its attempts (oldest first)."""
    if limit < 1 or limit > MAX_DELIVERY_LIMIT:
        raise ValidationError(f"limit must be between 1 and {MAX_DELIVERY_LIMIT}", field="limit")
    _owned_endpoint(conn, account_id, endpoint_id)
    rows = conn.execute(
        select(webhook_deliveries)
        .where(
            webhook_deliveries.c.endpoint_id == endpoint_id,
            webhook_deliveries.c.account_id == account_id,
        )
        .order_by(webhook_deliveries.c.seq.desc())
        .limit(limit)
    ).all()
    attempts = _attempts_by_delivery(conn, [r.id for r in rows])
    return [_delivery_dict(r, attempts[r.id]) for r in rows]


def get_delivery(conn: Connection, account_id: str, delivery_id: str) -> dict[str, Any]:
    row = conn.execute(
        select(webhook_deliveries).where(
            webhook_deliveries.c.id == delivery_id, webhook_deliveries.c.account_id == account_id
        )
    ).first()
    if row is None:
        raise NotFound(f"webhook delivery {delivery_id!r} not found", field="delivery_id")
    return _delivery_dict(row, _attempts_by_delivery(conn, [row.id])[row.id])


def replay_delivery(
    conn: Connection,
    account_id: str,
    delivery_id: str,
    now: datetime,
    *,
    retry_window: timedelta = DEFAULT_RETRY_WINDOW,
) -> dict[str, Any]:
    """Send a finished (failed or succeeded) delivery again: pending, due now, a fresh retry window.

    The attempt counter restarts (so backoff starts small again); the attempt log keeps the history.
    """
    row = conn.execute(
        select(webhook_deliveries.c.status, webhook_deliveries.c.endpoint_id).where(
            webhook_deliveries.c.id == delivery_id, webhook_deliveries.c.account_id == account_id
        )
    ).first()
    if row is None:
        raise NotFound(f"webhook delivery {delivery_id!r} not found", field="delivery_id")
    if row.status == "pending":
        raise Conflict("this delivery is still pending; it will be sent", field="delivery_id")
    live = conn.execute(
        select(webhook_endpoints.c.id).where(
            webhook_endpoints.c.id == row.endpoint_id, webhook_endpoints.c.deleted_at.is_(None)
        )
    ).first()
    if live is None:
        raise Conflict("the delivery's endpoint has been deleted", field="delivery_id")
    conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == delivery_id, webhook_deliveries.c.status == row.status)
        .values(status="pending", due_at=now, give_up_at=now + retry_window, attempts=0, delivered_at=None)
    )
    return get_delivery(conn, account_id, delivery_id)
