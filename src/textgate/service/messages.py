"""Reading messages: the public view of a message row, look-ups, listing with cursors, timelines."""

from __future__ import annotations

import base64
import heapq
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson
from sqlalchemy import Connection, and_, or_, select

from textgate.domain.clock import isoformat
from textgate.domain.errors import NotFound, ValidationError
from textgate.service.links import clicks_of
from textgate.store.schema import media_objects, message_events, messages


def media_view(media: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Media as callers see it: URLs, or the name/type/size of uploaded content (never the bytes again)."""
    out: list[dict[str, Any]] = []
    for item in media or []:
        if "url" in item:
            out.append({"url": item["url"]})
        else:  # kept by the gateway: its id downloads it (GET /v1/media/{id})
            out.append(
                {"id": item.get("media_id"), **{k: item.get(k) for k in ("filename", "content_type", "size")}}
            )
    return out


def get_media(conn: Connection, account_id: str, media_id: str) -> dict[str, Any]:
    """One of the account's media objects, bytes included; NotFound for another account's."""
    row = conn.execute(
        select(media_objects).where(media_objects.c.id == media_id, media_objects.c.account_id == account_id)
    ).first()
    if row is None:
        raise NotFound(f"no media {media_id}", field="media_id")
    return dict(row._mapping)


def content_disposition(filename: str) -> str:
    """``attachment`` with the filename, as RFC 6266 asks: an ASCII fallback and the UTF-8 name."""
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def message_view(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "direction": row["direction"],
        "type": row["type"],
        "from": row["from_addr"],
        "to": row["to_addr"],
        "body": row["body"],
        "media": media_view(row.get("media")),
        "status": row["status"],
        "encoding": row["encoding"],
        "segments": row["segments"],
        "credits": row["credits"],
        "error_code": row.get("error_code"),
        "error_message": row.get("error_message"),
        "client_ref": row.get("client_ref"),
        "batch_id": row.get("batch_id"),
        # Which connector took the message (with routing and failover, the member that did).
        "connector": row.get("connector"),
        "schedule_at": isoformat(row.get("schedule_at")),
        "expires_at": isoformat(row.get("expires_at")),
        "created_at": isoformat(row["created_at"]),
        "updated_at": isoformat(row.get("updated_at")),
        "sent_at": isoformat(row.get("sent_at")),
        "delivered_at": isoformat(row.get("delivered_at")),
        "test": bool((row.get("meta") or {}).get("test")),
    }


def get_message_row(conn: Connection, account_id: str, message_id: str) -> Mapping[str, Any]:
    row = conn.execute(
        select(messages).where(messages.c.id == message_id, messages.c.account_id == account_id)
    ).first()
    if row is None:
        raise NotFound(f"message {message_id!r} not found", field="id")
    return dict(row._mapping)


def get_message(conn: Connection, account_id: str, message_id: str) -> dict[str, Any]:
    return message_view(get_message_row(conn, account_id, message_id))


def encode_cursor(created_at: datetime, message_id: str) -> str:
    raw = orjson.dumps([created_at.isoformat(), message_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, message_id = orjson.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created), str(message_id)
    except (ValueError, TypeError) as exc:
        raise ValidationError("cursor is not one this API returned", field="cursor") from exc


def list_messages(
    conn: Connection,
    account_id: str,
    *,
    direction: str | None = None,
    status: str | None = None,
    from_addr: str | None = None,
    to_addr: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first. Returns the page and the cursor of the next page (None at the end)."""
    conditions = [messages.c.account_id == account_id]
    if direction:
        conditions.append(messages.c.direction == direction)
    if status:
        conditions.append(messages.c.status == status)
    if from_addr:
        conditions.append(messages.c.from_addr == from_addr)
    if to_addr:
        conditions.append(messages.c.to_addr == to_addr)
    if created_after:
        conditions.append(messages.c.created_at > created_after)
    if created_before:
        conditions.append(messages.c.created_at < created_before)
    if cursor:
        at, last_id = decode_cursor(cursor)
        conditions.append(
            or_(messages.c.created_at < at, and_(messages.c.created_at == at, messages.c.id < last_id))
        )
    rows = conn.execute(
        select(messages)
        .where(*conditions)
        .order_by(messages.c.created_at.desc(), messages.c.id.desc())
        .limit(limit + 1)
    ).all()
    page = [message_view(dict(r._mapping)) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last.created_at, last.id)
    return page, next_cursor


def message_events_view(conn: Connection, account_id: str, message_id: str) -> list[dict[str, Any]]:
    get_message_row(conn, account_id, message_id)  # tenancy check
    rows = conn.execute(
        select(message_events).where(message_events.c.message_id == message_id).order_by(message_events.c.id)
    ).all()
    events = [
        {
            "status": r.status,
            "at": r.at,
            "source": r.source,
            "error_code": r.error_code,
            "detail": r.detail,
        }
        for r in rows
    ]
    # Visits of the message's tracked links (service/links.py) are entries ``clicked``, source ``link``.
    clicks = [
        {"status": "clicked", "at": c["at"], "source": "link", "error_code": None, "detail": c["url"]}
        for c in clicks_of(conn, message_id)
    ]
    if clicks:  # by time, and the status changes keep their recorded order whatever their clocks said
        events = list(heapq.merge(events, clicks, key=lambda e: e["at"]))
    return [{**e, "at": isoformat(e["at"])} for e in events]
