"""TextingLine's JSON on the wire: the send request, the message object, the error body, the webhook format.

Why a module of its own: the routes (``dialect``) and the webhook worker (through :data:`FORMATS`) must
render a message exactly alike, and both must read textgate's native message view the same way. Keeping
the translation tables here — textgate status → TextingLine ``status``, textgate error kind →
TextingLine ``errorType`` and error ``code`` — means one place to read when a client disagrees.

Choices where TextingLine's document is silent (also in docs/dialects/textingline.md):

* ``to``/``from`` must be E.164 *with* the ``+`` (the document says "E.164 format"); anything else is a
  400 naming the field, before any number guessing could turn a typo into someone else's number.
* ``body`` is counted in Unicode code points (an emoji is one character), at most 640.
* "Unsupported characters" (code 33016) are control characters other than TAB, LF and CR (C0, DEL,
  C1), lone surrogates and Unicode noncharacters: nothing a handset can display or a carrier carry.
* ``null`` and ``""`` for the optional ``mediaUrl`` and ``idempotencyKey`` mean "not given"; unknown
  fields are ignored (clients often send extra fields; refusing them would break them for no gain).
* Error body: ``{"code", "message", "field"}``. ``code`` is TextingLine's 33xxx code where the document
  names one (33004, 33009, 33016, 33019, 33023), otherwise the HTTP status itself (400, 401, 404, 409,
  413, 415), so the two kinds can never be confused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select

from textgate.domain.errors import DEFAULT_MESSAGES, ErrorKind, TextgateError, ValidationError
from textgate.domain.phone import normalize_number
from textgate.service.send import media_url as checked_media_url
from textgate.service.send import request_fingerprint
from textgate.store.schema import messages
from textgate.webhooks.formats import Endpoint, RenderContext, Rendered, Renderer

NAME = "textingline"
FORMAT = "textingline"
MAX_BODY_CHARS = 640
MAX_IDEMPOTENCY_KEY = 255

# TextingLine's documented error codes.
SENDER_NOT_ASSIGNED = 33004
SENDER_NOT_ACTIVE = 33009
UNSUPPORTED_CHARACTERS = 33016
COMPLIANCE = 33019
INSUFFICIENT_CREDITS = 33023

#: textgate status → TextingLine status (``sent``, ``queued`` or ``failed``). Inbound messages
#: (``received``) reached textgate, so they read as ``sent``.
STATUS_MAP: dict[str, str] = {
    "queued": "queued",
    "scheduled": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "sent",
    "received": "received",  # inbound: beyond the three outbound words, it was never "sent"
    "failed": "failed",
    "undelivered": "failed",
    "rejected": "failed",
    "expired": "failed",
    "canceled": "failed",
}

#: TextingLine's errorType vocabulary; textgate's first eleven error kinds are these, verbatim.
ERROR_TYPES = frozenset(
    {
        "unknown",
        "platform_error",
        "provider_error",
        "invalid_destination",
        "invalid_sender",
        "destination_blocked",
        "opted_out",
        "invalid_content",
        "routing_error",
        "geographic_restriction",
        "service_restricted",
    }
)
#: textgate kinds outside that vocabulary, translated; anything else (``expired``, none) is ``unknown``.
_EXTRA_ERROR_TYPES = {"throttled": "provider_error"}

#: (HTTP status, code) per textgate error kind, for request-level errors.
_ERRORS: dict[ErrorKind, tuple[int, int]] = {
    ErrorKind.INVALID_SENDER: (400, SENDER_NOT_ASSIGNED),
    ErrorKind.INVALID_CONTENT: (400, UNSUPPORTED_CHARACTERS),
    ErrorKind.GEOGRAPHIC_RESTRICTION: (403, COMPLIANCE),
    ErrorKind.SERVICE_RESTRICTED: (403, COMPLIANCE),
    ErrorKind.INSUFFICIENT_CREDITS: (402, INSUFFICIENT_CREDITS),
    ErrorKind.AUTHENTICATION: (401, 401),
    ErrorKind.PERMISSION_DENIED: (403, 403),
    ErrorKind.NOT_FOUND: (404, 404),
    ErrorKind.CONFLICT: (409, 409),
    ErrorKind.TOO_LARGE: (413, 413),
    ErrorKind.RATE_LIMITED: (429, 429),
}

_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


# -- the send request -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SendMessage:
    """A checked ``POST /api/v1/messaging/message`` body; numbers are E.164."""

    to: str
    from_: str
    body: str
    media_url: str | None
    idempotency_key: str | None

    def fingerprint(self) -> str:
        """What "the same request" means for ``idempotencyKey``: the same recipient, sender, body and
        media URL (JSON spacing and key order do not matter)."""
        canonical = {"to": self.to, "from": self.from_, "body": self.body, "mediaUrl": self.media_url}
        return request_fingerprint(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS))


def unsupported_character(text: str) -> str | None:
    """A description of the first character a message must not carry, or None."""
    for i, ch in enumerate(text):
        cp = ord(ch)
        if (
            (cp < 0x20 and ch not in "\t\n\r")
            or 0x7F <= cp <= 0x9F
            or 0xD800 <= cp <= 0xDFFF
            or 0xFDD0 <= cp <= 0xFDEF
            or (cp & 0xFFFE) == 0xFFFE
        ):
            return f"U+{cp:04X} at position {i}"
    return None


def _optional_text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string", field=name)
    return value or None


def _number(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None or value == "":
        raise ValidationError(f"{name} is required (E.164, e.g. +18005551234)", field=name)
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string in E.164 format, e.g. +18005551234", field=name)
    if not _E164.fullmatch(value):
        raise ValidationError(
            f"{name}: {value!r} is not in E.164 format: a '+', the country code and the number, "
            "digits only, e.g. +18005551234",
            field=name,
        )
    return normalize_number(value, field=name)


def parse_json(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise ValidationError("the request body is empty; send a JSON object")
    try:
        # The standard library, not orjson: it keeps lone surrogates ("\ud800"), which deserve the
        # unsupported-characters answer (33016) rather than "not JSON".
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ValidationError(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValidationError("the request body must be a JSON object")
    return data


def parse_send(raw: bytes) -> SendMessage:
    """Check a send request; raises :class:`ValidationError` naming the field (33016 for characters)."""
    data = parse_json(raw)
    to = _number(data, "to")
    from_ = _number(data, "from")
    body = data.get("body")
    if body is None:
        body = ""
    if not isinstance(body, str):
        raise ValidationError("body must be a string", field="body")
    media_url = _optional_text(data, "mediaUrl")
    if media_url is not None:
        media_url = checked_media_url(media_url, field="mediaUrl")  # the address: right before the fetch
    if len(body) > MAX_BODY_CHARS:
        raise ValidationError(f"body is {len(body)} characters; at most {MAX_BODY_CHARS}", field="body")
    bad = unsupported_character(body)
    if bad is not None:
        raise ValidationError(
            f"body contains an unsupported character ({bad}); control characters other than tab and "
            "line breaks, lone surrogates and noncharacters cannot be sent",
            field="body",
            kind=ErrorKind.INVALID_CONTENT,
            code=UNSUPPORTED_CHARACTERS,
        )
    if not body.strip() and media_url is None:
        raise ValidationError("body is required unless mediaUrl is given", field="body")
    key = _optional_text(data, "idempotencyKey")
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
        raise ValidationError(
            f"idempotencyKey is longer than {MAX_IDEMPOTENCY_KEY} characters", field="idempotencyKey"
        )
    return SendMessage(to=to, from_=from_, body=body, media_url=media_url, idempotency_key=key)


# -- the message object -----------------------------------------------------------------------------------
def error_type(code: str | None) -> str:
    if code in ERROR_TYPES:
        return str(code)
    return _EXTRA_ERROR_TYPES.get(code or "", "unknown")


def media_url_of(meta: Mapping[str, Any] | None, media: list[dict[str, Any]] | None) -> str | None:
    """The URL a message's media came from: the ``mediaUrl`` this dialect recorded, or a URL the media
    reference carries (inbound MMS, native sends by URL)."""
    recorded = ((meta or {}).get(NAME) or {}).get("mediaUrl")
    if isinstance(recorded, str):
        return recorded
    for item in media or []:
        if isinstance(item.get("url"), str):
            return str(item["url"])
    return None


def message_object(view: Mapping[str, Any], media_url: str | None = None) -> dict[str, Any]:
    """TextingLine's message object from textgate's native message view (``message_view``)."""
    status = STATUS_MAP.get(str(view["status"]), "queued")
    out: dict[str, Any] = {
        "id": view["id"],
        "direction": view["direction"],
        "to": view["to"],
        "from": view["from"],
        "body": view["body"] or "",
    }
    if media_url is not None:
        out["mediaUrl"] = media_url
    out["status"] = status
    if status == "failed":
        kind = error_type(view.get("error_code"))
        out["errorType"] = kind
        out["errorMessage"] = view.get("error_message") or DEFAULT_MESSAGES[ErrorKind(kind)]
    elif status == "sent":
        out["sentAt"] = view.get("sent_at") or view.get("delivered_at") or view["created_at"]
    elif status == "received":
        out["receivedAt"] = view["created_at"]
    out["createdAt"] = view["created_at"]
    return out


# -- errors -----------------------------------------------------------------------------------------------
def error_answer(exc: TextgateError) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) for a request-level error. A raiser may pin ``code``/``status`` in its
    context (e.g. 33009 for an inactive sender, 415 for a wrong content type)."""
    status, code = _ERRORS.get(exc.kind, (400, 400))
    status = int(exc.context.get("status", status))
    code = int(exc.context.get("code", code))
    return status, {"code": code, "message": exc.message, "field": exc.field}


# -- webhook format ---------------------------------------------------------------------------------------
def render_event(event_type: str, data: dict[str, Any], _ep: Endpoint, ctx: RenderContext) -> Rendered:
    """The message object, exactly as ``GET /api/v1/messaging/message/{id}`` answers it, POSTed as JSON
    for every status change and every inbound message."""
    media_url = media_url_of(None, data.get("media"))
    if data.get("type") == "mms" and media_url is None:
        meta = ctx.conn.execute(select(messages.c.meta).where(messages.c.id == data["id"])).scalar()
        media_url = media_url_of(meta, None)
    return Rendered(body=orjson.dumps(message_object(data, media_url)).decode())


FORMATS: dict[str, Renderer] = {FORMAT: render_event}
#: Status changes and inbound messages: the provider has no event for a link visit.
FORMAT_EVENTS: dict[str, frozenset[str]] = {FORMAT: frozenset({"message.status", "message.received"})}
