"""What Betatel clients see: answers, message details, statuses, errors, and the ``betatel`` event format.

Betatel's document shows only the send answer (``{"messageId", "from", "to"}``, ``to`` as digits without
``+``) and names three error statuses (400, 401, 500) without a body. The published ``betatelsdk``
(0.0.8) adds two look-ups, ``GET …/sms/{messageId}`` and ``GET …/sms/{messageId}/status``, whose typed
answers (``SMSDetailsResponse``, ``SMSStatusResponse``) this module follows, statuses capitalised as the
SDK's example ``"Delivered"`` is. Error bodies take the shape of Betatel's framework (NestJS):
``{"statusCode", "message", "error"}`` — the SDK prints ``message`` when there is one, and any client that
only reads the status code is served as well.

Why an event format: textgate's ``standard`` webhook names messages by textgate id, which a Betatel client
never saw. The ``betatel`` format posts the same details object the look-up answers, keyed by the
``messageId`` the send returned, so such a client can correlate status changes and inbound messages.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson

from textgate.domain.errors import ErrorKind, TextgateError
from textgate.domain.message import MessageStatus
from textgate.providers.betatel.ids import message_uuid
from textgate.webhooks.formats import Endpoint, RenderContext, Rendered, Renderer

#: textgate status → the status word Betatel clients read (capitalised, as the SDK's "Delivered").
STATUS_NAMES: dict[str, str] = {s.value: s.value.capitalize() for s in MessageStatus}

#: HTTP status per error kind; every other kind (validation, sender, content, destination…) is 400.
STATUS_BY_KIND: dict[ErrorKind, int] = {
    ErrorKind.AUTHENTICATION: 401,
    ErrorKind.INSUFFICIENT_CREDITS: 402,
    ErrorKind.PERMISSION_DENIED: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.RATE_LIMITED: 429,
}

#: textgate's field names in error messages → the names of Betatel's request fields.
_FIELD_NAMES = {"body": "text"}


def wire_address(address: str) -> str:
    """A number as Betatel writes it (international digits, no ``+``); a sender ID as it is."""
    return address[1:] if address.startswith("+") and address[1:].isdigit() else address


def status_name(status: str) -> str:
    return STATUS_NAMES.get(status, status.capitalize())


def send_answer(view: dict[str, Any]) -> dict[str, Any]:
    """The 200 answer to a send, for the one message it created."""
    return {
        "messageId": message_uuid(view["id"], view["created_at"]),
        "from": wire_address(view["from"]),
        "to": wire_address(view["to"]),
    }


def details(view: dict[str, Any], user_id: str | None = None) -> dict[str, Any]:
    """A message as ``GET /api/v1/connect-hub/sms/{messageId}`` answers it (the SDK's
    ``SMSDetailsResponse`` plus textgate's error and delivery times)."""
    out: dict[str, Any] = {
        "messageId": message_uuid(view["id"], view["created_at"]),
        "status": status_name(view["status"]),
        "from": wire_address(view["from"]),
        "to": wire_address(view["to"]),
        "text": view["body"],
        "timestamp": view["created_at"],
    }
    if user_id is not None:
        out["userId"] = user_id
    out.update(
        segments=view["segments"],
        direction=view["direction"],
        errorCode=view.get("error_code"),
        errorMessage=view.get("error_message"),
        sentAt=view.get("sent_at"),
        deliveredAt=view.get("delivered_at"),
    )
    return out


def status_answer(view: dict[str, Any], user_id: str) -> dict[str, Any]:
    """``GET /api/v1/connect-hub/sms/{messageId}/status`` (the SDK's ``SMSStatusResponse``)."""
    return {
        "messageId": message_uuid(view["id"], view["created_at"]),
        "status": status_name(view["status"]),
        "userId": user_id,
    }


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"statusCode": status, "message": message, "error": HTTPStatus(status).phrase}


def error_status(exc: TextgateError) -> int:
    return STATUS_BY_KIND.get(exc.kind, 400)


def error_message(exc: TextgateError) -> str:
    """textgate's message, led by the field it is about in Betatel's words (``body`` is ``text``)."""
    message = exc.message
    if not exc.field:
        return message
    ours, theirs = exc.field, _FIELD_NAMES.get(exc.field, exc.field)
    if message.startswith(theirs):
        return message
    if message.startswith(ours + " "):
        return theirs + message[len(ours) :]
    return f"{theirs}: {message}"


def render_event(event_type: str, data: dict[str, Any], _ep: Endpoint, _ctx: RenderContext) -> Rendered:
    """``betatel`` format: the look-up's details object with the event type, for status changes and
    inbound messages alike."""
    return Rendered(body=orjson.dumps({"event": event_type, **details(data)}).decode())


FORMATS: dict[str, Renderer] = {"betatel": render_event}
#: Status changes and inbound messages: the provider has no event for a link visit.
FORMAT_EVENTS: dict[str, frozenset[str]] = {"betatel": frozenset({"message.status", "message.received"})}
