"""Inbound (mobile-originated) messages: stored as ``received`` for the account owning the number, and
announced to its webhooks as ``message.received``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from textgate.domain.encoding import analyze
from textgate.domain.errors import NotFound, TextgateError, TooLarge
from textgate.domain.message import Direction, MessageStatus, MessageType
from textgate.domain.phone import normalize_number, parse_sender
from textgate.ids import new_id
from textgate.providers.base import InboundPart
from textgate.service.accounts import get_account
from textgate.service.messages import message_view
from textgate.service.optouts import keyword, keyword_reply, one_word, opt_in, opt_out
from textgate.service.send import MAX_MEDIA_BYTES, SendRequest, send_messages, store_media_object
from textgate.store.schema import inbound_parts, message_events, messages, numbers
from textgate.webhooks.outbox import EndpointCache, enqueue_event

log = logging.getLogger(__name__)


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
    files: Sequence[tuple[bytes, str, str | None]] = (),
    raw: dict[str, Any] | None = None,
    cache: EndpointCache | None = None,
) -> dict[str, Any]:
    """Store an inbound message to an owned number. Raises NotFound when no account owns ``to_addr``.
    ``media``: references the carrier gave (URLs); ``files``: attachments' ``(bytes, content type,
    filename)``, kept for the account and served by ``GET /v1/media/{id}``."""
    to_e164 = normalize_number(to_addr, field="to")
    sender = parse_sender(from_addr, field="from")
    owner = conn.execute(select(numbers.c.account_id).where(numbers.c.number == to_e164)).scalar_one_or_none()
    if owner is None:
        raise NotFound(f"{to_e164} is not a number of any account", field="to")
    if files:
        total = sum(len(data) for data, _, _ in files)
        if total > MAX_MEDIA_BYTES:
            raise TooLarge(f"media larger than {MAX_MEDIA_BYTES} bytes in all", field="media")
        media = [
            *(media or []),
            *(store_media_object(conn, owner, data, ctype, name, now=now) for data, ctype, name in files),
        ]
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
    if word is None and not one_word(body):  # ordinary texts need no account lookup
        return
    account = get_account(conn, account_id)
    word = word or keyword(body, account.settings)  # the account's own extra keywords
    if word is None:
        return
    if word == "stop":
        opt_out(conn, account_id, handset, word=body.strip().upper(), now=now)
    elif word == "start" and not opt_in(conn, account_id, handset):
        return  # "yes" to a question from a subscribed handset is an answer, not a resubscription
    reply = keyword_reply(account.settings, word)
    if reply is None:
        return
    req = SendRequest(sender=number, to=[handset], body=reply, source=f"keyword:{word}", system=True)
    try:
        send_messages(conn, account, req, now=now)
    except TextgateError as exc:
        # Checks refuse before anything is written: the inbound message and the opt-out stand.
        log.warning("no %s reply from %s to %s: %s", word, number, handset, exc.message)


# -- multi-part inbound messages ------------------------------------------------------------------------
def receive_inbound_part(
    conn: Connection, connector: str, part: InboundPart, *, now: datetime, cache: EndpointCache | None = None
) -> dict[str, Any] | None:
    """Store one part of a long inbound message; when it completes its set, record the message (and
    forget the parts): its view. None while parts are missing, or when no account owns the number."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(
        insert(inbound_parts)
        .values(
            connector=connector,
            key=part.key,
            number=part.number,
            total=part.total,
            text=part.text,
            from_addr=part.from_addr,
            to_addr=part.to_addr,
            raw=part.raw or None,
            received_at=now,
            report_at=now + timedelta(seconds=part.wait),
        )
        .on_conflict_do_nothing(index_elements=["connector", "key", "number"])
    )
    i = inbound_parts.c
    rows = conn.execute(
        select(inbound_parts).where(i.connector == connector, i.key == part.key).order_by(i.number)
    ).all()
    if len(rows) < part.total:
        return None
    return _assemble(conn, connector, part.key, rows, now=now, cache=cache, incomplete=False)


def report_incomplete_inbound(conn: Connection, *, now: datetime, cache: EndpointCache | None = None) -> int:
    """Long inbound messages whose missing parts did not come in time: recorded as they are."""
    i = inbound_parts.c
    keys = conn.execute(
        select(i.connector, i.key).where(i.report_at <= now).group_by(i.connector, i.key).limit(100)
    ).all()
    for connector, key in keys:
        rows = conn.execute(
            select(inbound_parts).where(i.connector == connector, i.key == key).order_by(i.number)
        ).all()
        log.warning(
            "%s: long inbound message from %s incomplete; recorded as it is", connector, rows[0].from_addr
        )
        _assemble(conn, connector, key, rows, now=now, cache=cache, incomplete=True)
    return len(keys)


def _assemble(
    conn: Connection,
    connector: str,
    key: str,
    rows: Sequence[Any],
    *,
    now: datetime,
    cache: EndpointCache | None,
    incomplete: bool,
) -> dict[str, Any] | None:
    first = rows[0]
    raw = dict(first.raw or {})
    if incomplete:
        raw["incomplete"] = True
        raw["parts_received"] = [r.number for r in rows]
    i = inbound_parts.c
    conn.execute(delete(inbound_parts).where(i.connector == connector, i.key == key))
    try:
        with conn.begin_nested():
            return receive_inbound(
                conn,
                from_addr=first.from_addr,
                to_addr=first.to_addr,
                body="".join(r.text for r in rows),
                now=now,
                source=connector,
                raw=raw,
                cache=cache,
            )
    except TextgateError as exc:  # no account owns the number, or it cannot be read: nothing to keep
        log.warning("inbound message to %s dropped: %s", first.to_addr, exc.message)
        return None
