"""Accepting a send: one transaction that validates, prices, debits, stores the messages and their first
timeline events, stores the idempotency record and enqueues delivery (``due_at``).

Nothing here talks to a carrier; the dispatch worker picks the messages up from the queue.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy import Connection, bindparam, insert, select, update

from textgate.domain.clock import checked_instant
from textgate.domain.encoding import analyze
from textgate.domain.errors import (
    Conflict,
    ErrorKind,
    InsufficientCredits,
    TooLarge,
    ValidationError,
)
from textgate.domain.message import Direction, MessageStatus, MessageType
from textgate.domain.phone import normalize_number, parse_sender
from textgate.ids import new_id
from textgate.net import guard_url
from textgate.service import links
from textgate.service.accounts import Account
from textgate.service.messages import message_view
from textgate.service.policy import Refusal, daily_limit, refusals
from textgate.store.fast import group_lookup, insert_later, insert_rows
from textgate.store.schema import (
    accounts,
    idempotency_keys,
    ledger_entries,
    media_objects,
    message_events,
    messages,
    numbers,
)
from textgate.webhooks.outbox import EndpointCache, enqueue_event

MAX_RECIPIENTS = 100
MAX_BODY_CHARS = 1600
MAX_MEDIA_ITEMS = 10
MAX_MEDIA_BYTES = 5 * 1024 * 1024
DEFAULT_VALIDITY = timedelta(hours=48)
MAX_VALIDITY = timedelta(days=7)
MAX_SCHEDULE_AHEAD = timedelta(days=366)
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*$")


@dataclass(frozen=True, slots=True)
class MediaInput:
    url: str | None = None
    content_base64: str | None = None
    content_type: str | None = None
    filename: str | None = None


@dataclass(slots=True)
class SendRequest:
    sender: str
    to: list[str]
    body: str = ""
    media: list[MediaInput] = field(default_factory=list)
    schedule_at: datetime | None = None
    validity_seconds: int | None = None
    client_ref: str | None = None
    source: str = "api"
    meta: dict[str, Any] | None = None
    max_recipients: int = MAX_RECIPIENTS
    #: A dialect's limit on message parts (e.g. one part by default); None means no limit beyond the body's.
    max_segments: int | None = None
    #: System messages (keyword replies) cost nothing and reach numbers that have just opted out.
    system: bool = False
    #: Test sends are validated and stored like real ones, answered the same way, but never dispatched
    #: and never charged; they are final ``canceled`` at once (``error_message`` "test mode: not sent") and
    #: marked ``test``.
    test: bool = False


@dataclass(frozen=True, slots=True)
class Idempotency:
    scope: str
    key: str
    request_hash: str


@dataclass(slots=True)
class SendResult:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


# Statements on the hot path are built once: building one costs more than SQLite takes to run it.
_NUMBER_OWNER = select(numbers.c.account_id, numbers.c.status).where(numbers.c.number == bindparam("number"))
#: Messages accepted, by the API that took them (``bulk`` for the recipients of bulk sends, counted as
#: they are expanded into messages).
#: The ``error_message`` of a test send (BestSMS ``Mode=Test``): final ``canceled`` when accepted.
TEST_NOT_SENT = "test mode: not sent"
ACCEPTED = Counter("textgate_messages_accepted_total", "Messages accepted for sending", ["source"])
_DEBIT = (
    update(accounts)
    .where(accounts.c.id == bindparam("b_account"), accounts.c.balance >= bindparam("b_total"))
    .values(balance=accounts.c.balance - bindparam("b_total"))
    .returning(accounts.c.balance)
)
_IDEMPOTENCY = select(idempotency_keys).where(
    idempotency_keys.c.account_id == bindparam("b_account"),
    idempotency_keys.c.scope == bindparam("b_scope"),
    idempotency_keys.c.key == bindparam("b_key"),
)


def _has_control(text: str) -> bool:
    # PostgreSQL refuses NUL in text, and no identifier or file name needs control characters.
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def request_fingerprint(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def lookup_idempotent(conn: Connection, account_id: str, idem: Idempotency) -> SendResult | None:
    """The recorded answer for this key, or None. The same key with another request is a Conflict."""
    row = conn.execute(
        _IDEMPOTENCY, {"b_account": account_id, "b_scope": idem.scope, "b_key": idem.key}
    ).first()
    if row is None:
        return None
    if row.request_hash != idem.request_hash:
        raise Conflict(
            "this idempotency key was already used with a different request", field="Idempotency-Key"
        )
    return SendResult(status_code=row.status_code, body=row.response, replayed=True)


def store_idempotent(
    conn: Connection,
    account_id: str,
    idem: Idempotency,
    result: SendResult,
    now: datetime,
    *,
    later: bool = False,
) -> None:
    row = {
        "account_id": account_id,
        "scope": idem.scope,
        "key": idem.key,
        "request_hash": idem.request_hash,
        "status_code": result.status_code,
        "response": result.body,
        "created_at": now,
    }
    if later:
        insert_later(conn, idempotency_keys, [row])
    else:
        conn.execute(insert(idempotency_keys).values(**row))


def _validate_sender(conn: Connection, account: Account, raw: str) -> str:
    if not raw or not raw.strip():
        raise ValidationError("from is required", field="from")
    sender = parse_sender(raw, region=account.region, field="from")
    if sender.is_alphanumeric:
        if account.owned_senders_only:
            raise ValidationError(
                "this account may only send from its own numbers", field="from", kind=ErrorKind.INVALID_SENDER
            )
        return sender.value
    number = sender.value
    row = group_lookup(
        conn, ("number-owner", number), lambda: conn.execute(_NUMBER_OWNER, {"number": number}).first()
    )
    if row is not None and row.account_id != account.id:
        raise ValidationError(
            f"{sender.value} is assigned to another account", field="from", kind=ErrorKind.INVALID_SENDER
        )
    if row is None and not account.settings.get("unregistered_senders"):
        # A numeric sender is one of the account's numbers unless an operator opted the account out
        # (setting ``unregistered_senders``: numbers no account has registered, e.g. an SMSC's own pool).
        raise ValidationError(
            f"{sender.value} is not a number of this account", field="from", kind=ErrorKind.INVALID_SENDER
        )
    if row is not None and row.status != "active":
        raise ValidationError(
            f"{sender.value} is not an active number", field="from", kind=ErrorKind.INVALID_SENDER
        )
    return sender.value


def _validate_recipients(account: Account, to: list[str], limit: int) -> list[str]:
    if not to:
        raise ValidationError("to must name at least one recipient", field="to")
    if len(to) > limit:
        raise ValidationError(f"to may list at most {limit} recipients, not {len(to)}", field="to")
    allowed = account.settings.get("allowed_destination_prefixes") or []
    strict = bool(account.settings.get("strict_numbers"))
    out = []
    for i, raw in enumerate(to):
        name = "to" if len(to) == 1 else f"to[{i}]"
        if not isinstance(raw, str):
            raise ValidationError("recipient must be a string", field=name)
        e164 = normalize_number(raw, region=account.region, field=name, strict=strict)
        if allowed and not e164.startswith(tuple(allowed)):
            # Toll-fraud protection: destinations outside the account's prefixes are refused outright.
            raise ValidationError(
                f"{e164} is outside this account's allowed destination prefixes ({', '.join(allowed)})",
                field=name,
                kind=ErrorKind.GEOGRAPHIC_RESTRICTION,
            )
        out.append(e164)
    return out


def media_url(url: str, *, field: str) -> str:
    """A media URL given at acceptance, checked as every API checks one (native ``media[].url``,
    TextingLine ``mediaUrl``): http or https, a host, no credentials, no whitespace or control characters.
    Its address is checked by whoever fetches it, right before the fetch (textgate's own fetches:
    :func:`textgate.net.check_url_at_send`), not here: DNS may change in between."""
    try:
        return guard_url(url, allow_private=True, field=field)
    except ValidationError as exc:
        raise ValidationError(f"{field}: {exc.message}", field=field) from exc


def _store_media(
    conn: Connection, account: Account, media: list[MediaInput], now: datetime
) -> list[dict[str, Any]]:
    if len(media) > MAX_MEDIA_ITEMS:
        raise ValidationError(f"at most {MAX_MEDIA_ITEMS} media items per message", field="media")
    refs: list[dict[str, Any]] = []
    total = 0
    for i, item in enumerate(media):
        name = f"media[{i}]"
        if item.url is not None:
            if item.content_base64 is not None:
                raise ValidationError("give either url or content_base64, not both", field=name)
            refs.append({"url": media_url(item.url, field=f"{name}.url")})
            continue
        if item.content_base64 is None:
            raise ValidationError("each media item needs url or content_base64", field=name)
        ctype = (item.content_type or "").strip().lower()
        if item.filename is not None and (len(item.filename) > 255 or _has_control(item.filename)):
            raise ValidationError(
                "filename must be at most 255 characters without control characters", field=f"{name}.filename"
            )
        if len(ctype) > 100 or not _CONTENT_TYPE.match(ctype):
            raise ValidationError(
                "content_type must be a MIME type such as image/jpeg", field=f"{name}.content_type"
            )
        if len(item.content_base64) > (MAX_MEDIA_BYTES * 4) // 3 + 8:
            raise TooLarge(f"media larger than {MAX_MEDIA_BYTES} bytes", field=f"{name}.content_base64")
        try:
            data = base64.b64decode(item.content_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationError(
                "content_base64 is not valid base64", field=f"{name}.content_base64"
            ) from exc
        if not data:
            raise ValidationError("content_base64 is empty", field=f"{name}.content_base64")
        total += len(data)
        if total > MAX_MEDIA_BYTES:
            raise TooLarge(f"media larger than {MAX_MEDIA_BYTES} bytes in all", field="media")
        refs.append(store_media_object(conn, account.id, data, ctype, item.filename, now=now))
    return refs


def store_media_object(
    conn: Connection, account_id: str, data: bytes, content_type: str, filename: str | None, *, now: datetime
) -> dict[str, Any]:
    """Keep an attachment's bytes (an upload, an inbound MMS's file); the message's reference to it, which
    ``GET /v1/media/{id}`` serves to the account."""
    media_id = new_id("med")
    conn.execute(
        insert(media_objects).values(
            id=media_id,
            account_id=account_id,
            content_type=content_type,
            filename=filename,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            data=data,
            created_at=now,
        )
    )
    return {"media_id": media_id, "content_type": content_type, "filename": filename, "size": len(data)}


def _timing(req: SendRequest, now: datetime) -> tuple[datetime | None, datetime]:
    schedule_at = req.schedule_at
    if schedule_at is not None:
        if schedule_at.tzinfo is None:
            raise ValidationError("schedule_at must carry a time zone (RFC 3339)", field="schedule_at")
        checked_instant(schedule_at, "schedule_at")
        if schedule_at - now > MAX_SCHEDULE_AHEAD:
            raise ValidationError("schedule_at is more than a year ahead", field="schedule_at")
        if schedule_at <= now:
            schedule_at = None  # due already: send now
    validity = DEFAULT_VALIDITY
    if req.validity_seconds is not None:
        if not 1 <= req.validity_seconds <= MAX_VALIDITY.total_seconds():
            raise ValidationError(
                f"validity_period must be between 1 and {int(MAX_VALIDITY.total_seconds())} seconds",
                field="validity_period",
            )
        validity = timedelta(seconds=req.validity_seconds)
    return schedule_at, (schedule_at or now) + validity


def debit(conn: Connection, account_id: str, total: int) -> int:
    """Take ``total`` credits atomically; the guarded UPDATE is what keeps balances non-negative under
    concurrent sends (the row lock serialises writers). Returns the new balance."""
    new_balance = conn.execute(_DEBIT, {"b_account": account_id, "b_total": total}).scalar_one_or_none()
    if new_balance is None:
        have = conn.execute(select(accounts.c.balance).where(accounts.c.id == account_id)).scalar_one()
        raise InsufficientCredits(
            f"this send costs {total} credits and the balance is {have}", field="credits"
        )
    return int(new_balance)


@dataclass(frozen=True, slots=True)
class Prepared:
    """What every message of one send shares, validated: who sends, what, when, at what price."""

    sender: str
    body: str
    encoding: str
    segments: int
    type: MessageType
    price: int
    schedule_at: datetime | None
    expires_at: datetime
    media: list[dict[str, Any]] | None


def prepare(conn: Connection, account: Account, req: SendRequest, *, now: datetime) -> Prepared:
    """Validate everything but the recipients (and store uploaded media)."""
    sender = _validate_sender(conn, account, req.sender)
    body = req.body or ""
    if len(body) > MAX_BODY_CHARS:
        raise ValidationError(f"body is {len(body)} characters; at most {MAX_BODY_CHARS}", field="body")
    if "\x00" in body:
        raise ValidationError(
            "body must not contain NUL characters", field="body", kind=ErrorKind.INVALID_CONTENT
        )
    if not body.strip() and not req.media:
        raise ValidationError("body is required unless media is given", field="body")
    if req.client_ref is not None:
        if len(req.client_ref) > 200:
            raise ValidationError("client_ref is longer than 200 characters", field="client_ref")
        if _has_control(req.client_ref):
            raise ValidationError("client_ref must not contain control characters", field="client_ref")
    schedule_at, expires_at = _timing(req, now)
    media = _store_media(conn, account, req.media, now) if req.media else None
    # Parts and price of the text as sent: with tracked links, the short links replace the long ones.
    info = analyze(links.measured(body) if links.tracks_links(account.settings) else body)
    if req.max_segments is not None and info.segments > req.max_segments:
        raise ValidationError(
            f"the message needs {info.segments} parts; this account allows {req.max_segments}",
            field="body",
            kind=ErrorKind.INVALID_CONTENT,
        )
    mtype = MessageType.MMS if media else MessageType.SMS
    price = 0 if req.system or req.test else account.prices.price(mtype, info.segments)
    return Prepared(
        sender=sender,
        body=body,
        encoding=info.encoding.value,
        segments=info.segments,
        type=mtype,
        price=price,
        schedule_at=schedule_at,
        expires_at=expires_at,
        media=media,
    )


def build_rows(
    account: Account,
    req: SendRequest,
    p: Prepared,
    recipients: list[str],
    refused: list[Refusal | None],
    *,
    now: datetime,
    batch_id: str | None,
) -> list[dict[str, Any]]:
    """The ``messages`` rows of a send; a refused recipient's row is ``failed``, uncharged, not queued."""
    status = MessageStatus.SCHEDULED if p.schedule_at else MessageStatus.QUEUED
    if req.test:  # never dispatched: final at once, so a client waiting for a final status gets one
        status = MessageStatus.CANCELED
    meta = {**(req.meta or {}), "test": True} if req.test else req.meta
    rows: list[dict[str, Any]] = []
    for to, refusal in zip(recipients, refused, strict=True):
        row = {
            "id": new_id("msg"),
            "account_id": account.id,
            "direction": Direction.OUTBOUND.value,
            "type": p.type.value,
            "from_addr": p.sender,
            "to_addr": to,
            "body": p.body,
            "media": p.media,
            "encoding": p.encoding,
            "segments": p.segments,
            "credits": p.price,
            "status": status.value,
            # Every row carries every key: executemany needs one shape, and a refused row sets these.
            "error_code": None,
            "error_message": TEST_NOT_SENT if req.test else None,
            "client_ref": req.client_ref,
            "batch_id": batch_id,
            "attempts": 0,
            "due_at": None if req.test else (p.schedule_at or now),  # test sends are never dispatched
            "schedule_at": p.schedule_at,
            "expires_at": p.expires_at,
            "created_at": now,
            "updated_at": now,
            "meta": meta,
        }
        if refusal is not None:
            kind, text = refusal
            row.update(
                status=MessageStatus.FAILED.value,
                error_code=kind.value,
                error_message=text,
                credits=0,
                due_at=None,
                schedule_at=None,
                expires_at=None,
            )
        rows.append(row)
    return rows


def store_rows(
    conn: Connection,
    account_id: str,
    rows: list[dict[str, Any]],
    *,
    source: str,
    now: datetime,
    later: bool = False,
    track_links: bool = False,
) -> None:
    """Insert messages and their first events; a message refused at acceptance notifies webhooks now.
    ``later``: with the group commit's other rows (:func:`~textgate.store.fast.insert_later`).
    ``track_links``: the account's links become short links first (service/links.py)."""
    if track_links:
        links.rewrite(conn, account_id, rows, now=now, later=later)
    write = insert_later if later else insert_rows
    write(conn, messages, rows)
    write(
        conn,
        message_events,
        [
            {
                "message_id": r["id"],
                "status": r["status"],
                "at": now,
                "source": source,
                "error_code": r["error_code"],
                "detail": None,
            }
            for r in rows
        ],
    )
    cache = EndpointCache()
    for r in rows:
        if r["status"] == MessageStatus.FAILED.value and cache.get(conn, account_id):
            enqueue_event(
                conn, account_id, "message.status", message_view(r), order_key=r["id"], now=now, cache=cache
            )


def send_messages(
    conn: Connection,
    account: Account,
    req: SendRequest,
    *,
    now: datetime,
    idempotency: Idempotency | None = None,
) -> SendResult:
    if idempotency is not None:
        replay = lookup_idempotent(conn, account.id, idempotency)
        if replay is not None:
            return replay
    p = prepare(conn, account, req, now=now)
    recipients = _validate_recipients(account, req.to, req.max_recipients)
    refused = refusals(conn, account, recipients, now=now, system=req.system)
    price = p.price
    total = price * sum(1 for r in refused if r is None)
    new_balance = debit(conn, account.id, total) if total else None
    batch_id = new_id("bat") if len(recipients) > 1 else None
    rows = build_rows(account, req, p, recipients, refused, now=now, batch_id=batch_id)
    # Inside a group commit the rows go in with the group's (nothing here reads them back) - unless a
    # per-recipient daily limit must count this send's messages for the next request in the group.
    later = daily_limit(account) is None
    store_rows(
        conn,
        account.id,
        rows,
        source=req.source,
        now=now,
        later=later,
        track_links=links.tracks_links(account.settings),
    )
    if new_balance is not None:
        balance = new_balance + total
        entries = []
        for r in rows:
            if r["status"] == MessageStatus.FAILED.value:
                continue
            balance -= price
            entries.append(
                {
                    "account_id": account.id,
                    "amount": -price,
                    "balance_after": balance,
                    "kind": "debit",
                    "message_id": r["id"],
                    "note": None,
                    "ref": None,
                    "created_at": now,
                }
            )
        (insert_later if later else insert_rows)(conn, ledger_entries, entries)
    result = SendResult(status_code=202, body={"messages": [message_view(r) for r in rows]})
    if idempotency is not None:
        store_idempotent(conn, account.id, idempotency, result, now, later=later)
    return result
