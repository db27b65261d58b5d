"""Inbound (mobile-originated) messages: stored as ``received`` for the account owning the number, and
announced to its webhooks as ``message.received``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from textgate.domain.encoding import analyze
from textgate.domain.errors import NotFound
from textgate.domain.message import Direction, MessageStatus, MessageType
from textgate.domain.phone import normalize_number, parse_sender
from textgate.ids import new_id
from textgate.service.accounts import get_account
from textgate.service.messages import message_view
from textgate.service.optouts import DEFAULT_HELP_TEXT, keyword, opt_in, opt_out
from textgate.service.send import SendRequest, send_messages
from textgate.store.schema import message_events, messages, numbers
from textgate.webhooks.outbox import EndpointCache, enqueue_event


def receive_inbound(
    conn: Connection,
    *,
    from_addr: str,
    to_addr: str,
    body: str,
    now: datetime,
    source: str,
    carrier_id: str | None = None,
    media: list[dict[str, Any]] | None = None,
    raw: dict[str, Any] | None = None,
    cache: EndpointCache | None = None,
) -> dict[str, Any]:
    """Store an inbound message to an owned number. Raises NotFound when no account owns ``to_addr``."""
    to_e164 = normalize_number(to_addr, field="to")
    sender = parse_sender(from_addr, field="from")
    owner = conn.execute(select(numbers.c.account_id).where(numbers.c.number == to_e164)).scalar_one_or_none()
    if owner is None:
        raise NotFound(f"{to_e164} is not a number of any account", field="to")
    info = analyze(body)
    row: dict[str, Any] = {
        "id": new_id("msg"),
        "account_id": owner,
        "direction": Direction.INBOUND.value,
        "type": (MessageType.MMS if media else MessageType.SMS).value,
        "from_addr": sender.value,
        "to_addr": to_e164,
        "body": body,
        "media": media,
        "encoding": info.encoding.value,
        "segments": info.segments,
        "credits": 0,
        "status": MessageStatus.RECEIVED.value,
        "connector": source,
        "carrier_id": carrier_id,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
        "meta": {"raw": raw} if raw else None,
    }
    conn.execute(insert(messages).values(**row))
    conn.execute(
        insert(message_events).values(
            message_id=row["id"], status=MessageStatus.RECEIVED.value, at=now, source=source, detail=None
        )
    )
    view = message_view(row)
    enqueue_event(conn, owner, "message.received", view, order_key=row["id"], now=now, cache=cache)
    if not sender.is_alphanumeric:
        _handle_keyword(conn, owner, handset=sender.value, number=to_e164, body=body, now=now)
    return view


def _handle_keyword(
    conn: Connection, account_id: str, *, handset: str, number: str, body: str, now: datetime
) -> None:
    """STOP / START / HELP from a handset to one of the account's numbers."""
    word = keyword(body)
    if word is None:
        return
    account = get_account(conn, account_id)
    reply: str | None
    if word == "stop":
        opt_out(conn, account_id, handset, word=body.strip().upper(), now=now)
        reply = account.settings.get("stop_text")
    elif word == "start":
        opt_in(conn, account_id, handset)
        reply = account.settings.get("start_text")
    else:
        reply = account.settings.get("help_text") or DEFAULT_HELP_TEXT
    if reply:
        req = SendRequest(sender=number, to=[handset], body=str(reply), source=f"keyword:{word}", system=True)
        send_messages(conn, account, req, now=now)
