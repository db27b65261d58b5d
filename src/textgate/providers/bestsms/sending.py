"""One send path for both BestSMS surfaces (``/bestsms/send`` and the v3.00 REST API's ``POST /sms``).

What BestSMS adds to textgate's send, and why it is done here:

* **MessageID.** The client's (at most 40 letters, digits or hyphens — hyphens so the GUIDs BestSMS hands
  out are valid too), or a new upper-case GUID. It becomes the messages' ``client_ref`` and is recorded
  as an idempotency key (scope ``bestsms``), which makes it unique per account: repeating a request with
  the same MessageID (a client retrying after a lost answer) returns the first answer and sends nothing;
  reusing a MessageID for a different request is refused, as BestSMS asks for resends to be "submitted
  as a new, unique message".
* **The sending number.** BestSMS's send names no originator. textgate sends from the account's
  ``bestsms_from`` setting if set, else from its oldest active number; the REST API's ``FromNumber``
  overrides both but must be one of the account's active numbers (or an alphanumeric sender ID where the
  account allows those).
* **Parts.** One part unless the account's ``bestsms_max_parts`` allows more.
* **Mode=Test** sends are validated, stored and answered like real ones, never dispatched nor charged.
* **SMSEmailReply** is validated and kept in the message's meta; emailing replies is not done yet.

Account-dependent checks run inside the send transaction, in the ``authenticate`` step ``accept_send``
runs first, so a send still costs one transaction.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from fastapi import Request
from sqlalchemy import Connection, select

from textgate.api.deps import now_of
from textgate.api.sending import accept_send
from textgate.domain.clock import checked_instant
from textgate.domain.errors import Conflict, ErrorKind, TextgateError, ValidationError
from textgate.domain.phone import normalize_number, parse_sender
from textgate.providers.bestsms import settings as opts
from textgate.providers.bestsms.email import ensure_reply_endpoint
from textgate.providers.bestsms.threads import SCOPE
from textgate.service.accounts import Account
from textgate.service.send import Idempotency, SendRequest, request_fingerprint
from textgate.store.schema import numbers

MESSAGE_ID = re.compile(r"[A-Za-z0-9-]{1,40}")
EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+")
SOURCE = "bestsms"

#: textgate field names in core error messages → the BestSMS parameter the caller sent.
FIELD_NAMES = {"to": "Number", "body": "Message", "from": "FromNumber", "client_ref": "MessageID"}


@dataclass(slots=True)
class Submission:
    """A BestSMS send, as parsed from either surface."""

    numbers: list[str]
    message: str
    message_id: str | None = None
    email_reply: str | None = None
    test: bool = False
    from_number: str | None = None
    send_time: str | None = None
    timezone: str | None = None
    #: The API key name the caller authenticated with (reported as the webhook's default Sender).
    sender_name: str | None = None
    extra_meta: dict[str, Any] = field(default_factory=dict)
    number_field: str = "Number"


def new_message_id() -> str:
    """A GUID in BestSMS's shape: ``AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE`` (upper-case hex)."""
    return str(uuid.uuid4()).upper()


def check_message_id(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not MESSAGE_ID.fullmatch(value):
        raise ValidationError(
            "MessageID must be at most 40 characters: letters, digits and hyphens", field="MessageID"
        )
    return value


def check_email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > 254 or not EMAIL.fullmatch(value):
        raise ValidationError(f"SMSEmailReply {value!r} is not an email address", field="SMSEmailReply")
    return value


def parse_mode(value: str | None) -> bool:
    """True for test mode. BestSMS knows ``Test`` and ``Live`` (the default)."""
    mode = (value or "").strip().lower()
    if mode in ("", "live"):
        return False
    if mode == "test":
        return True
    raise ValidationError(f"Mode must be Test or Live, not {value!r}", field="Mode")


def reason(exc: TextgateError) -> str:
    """The error's text, naming the BestSMS parameter rather than textgate's field."""
    text = exc.message
    name = FIELD_NAMES.get(exc.field or "")
    if name and text.startswith(exc.field or ""):
        text = name + text[len(exc.field or "") :]
    return text


def default_sender(conn: Connection, account: Account) -> str:
    configured = account.settings.get(opts.FROM)
    if isinstance(configured, str) and configured.strip():
        return configured.strip()
    number = conn.execute(
        select(numbers.c.number)
        .where(numbers.c.account_id == account.id, numbers.c.status == "active")
        .order_by(numbers.c.created_at, numbers.c.id)
        .limit(1)
    ).scalar_one_or_none()
    if number is None:
        raise ValidationError(
            f"this account has no active number to send from (assign one, or set {opts.FROM})",
            field="FromNumber",
            kind=ErrorKind.INVALID_SENDER,
        )
    return str(number)


def _from_number(conn: Connection, account: Account, raw: str) -> str:
    sender = parse_sender(raw, region=account.region, field="FromNumber")
    if sender.is_alphanumeric:
        return sender.value  # the core applies the account's sender-ID policy
    owned = conn.execute(
        select(numbers.c.status).where(numbers.c.number == sender.value, numbers.c.account_id == account.id)
    ).scalar_one_or_none()
    if owned != "active":
        raise ValidationError(
            f"FromNumber {sender.value} is not an active number of this account",
            field="FromNumber",
            kind=ErrorKind.INVALID_SENDER,
        )
    return sender.value


def _send_time(raw: str, zone_name: str | None, account: Account) -> datetime:
    text = raw.strip().replace("T", " ")
    try:
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValidationError(
            f"SendTime {raw!r} is not a date and time such as 2023-07-10T09:00", field="SendTime"
        ) from exc
    checked_instant(at, "SendTime")
    if at.tzinfo is None:
        tz = opts.zone(zone_name) if zone_name else opts.account_zone(account.settings)
        if tz is None:
            raise ValidationError(f"Timezone {zone_name!r} is not a known time zone", field="Timezone")
        at = at.replace(tzinfo=tz)
    return at


def _fingerprint(sub: Submission) -> str:
    canonical = {
        "numbers": sub.numbers,
        "message": sub.message,
        "test": sub.test,
        "email": sub.email_reply,
        "from": sub.from_number,
        "send_time": sub.send_time,
        "timezone": sub.timezone,
        "extra": sub.extra_meta,
    }
    return request_fingerprint(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS))


async def submit(request: Request, authenticate: Callable[[Connection], Account], sub: Submission) -> str:
    """Send ``sub``; returns its MessageID. Raises TextgateError for the surface to render."""
    if not sub.numbers or not any(n.strip() for n in sub.numbers):
        raise ValidationError(f"{sub.number_field} is required", field=sub.number_field)
    if not sub.message.strip():
        raise ValidationError("Message is required", field="Message")
    message_id = sub.message_id or new_message_id()
    meta: dict[str, Any] = {k: v for k, v in sub.extra_meta.items() if v is not None}
    if sub.sender_name:
        meta["sender"] = sub.sender_name
    if sub.email_reply:
        meta["sms_email_reply"] = sub.email_reply
    req = SendRequest(
        sender="",
        to=list(sub.numbers),
        body=sub.message,
        client_ref=message_id,
        source=SOURCE,
        meta={"bestsms": meta},
        test=sub.test,
    )

    now = now_of(request)

    def _prepare(conn: Connection) -> Account:
        # Runs inside the send transaction, before the core reads the request.
        account = authenticate(conn)
        if sub.email_reply and not sub.test:
            ensure_reply_endpoint(conn, account.id, sub.email_reply, now)
        for i, raw in enumerate(sub.numbers):
            name = sub.number_field if len(sub.numbers) == 1 else f"{sub.number_field}[{i}]"
            normalize_number(raw, region=account.region, field=name)
        req.sender = (
            _from_number(conn, account, sub.from_number) if sub.from_number else default_sender(conn, account)
        )
        req.max_segments = opts.max_parts(account.settings)
        if sub.send_time:
            req.schedule_at = _send_time(sub.send_time, sub.timezone, account)
        return account

    idem = Idempotency(scope=SCOPE, key=message_id, request_hash=_fingerprint(sub))
    try:
        await accept_send(request, _prepare, req, idem)
    except Conflict as exc:
        raise ValidationError(
            f"MessageID {message_id!r} was already used for another message; "
            "a resend needs a new, unique MessageID",
            field="MessageID",
            kind=ErrorKind.CONFLICT,
        ) from exc
    return message_id
