"""TextingLine's messaging API at its own paths: ``POST /api/v1/messaging/message`` and
``GET /api/v1/messaging/message/{id}``, so a TextingLine client works by changing only its base URL.

Why the routes read the raw request instead of declaring a pydantic body: every answer — a malformed
body, a wrong number, bad credentials — must be TextingLine's own error body (``{"code", "message",
"field"}``), never textgate's native one, so parsing, authentication and rendering all happen here.

Credentials: HTTP Basic ``key_id:secret`` with a textgate API key. The user part may also be the key's
*name* (``textgate keys create ACCOUNT --name ...``), so operators can hand out TextingLine-looking key ids.
A ``Bearer <secret>`` header is accepted too (a textgate addition).

How a send goes (choices documented in docs/dialects/textingline.md):

1. The body is checked (see :mod:`.wire`): 400 naming the field, 33016 for unsupported characters.
2. Inside the send transaction the key is authenticated, an ``idempotencyKey`` already used is answered
   from its record (another body with that key is 409), and ``from`` must be an *active* number of the
   account: 33004 when it is not the account's, 33009 when it is inactive.
3. With ``mediaUrl`` the same checks run first in their own transaction, so nothing is fetched for an
   unauthenticated caller, a foreign sender or a replay; then the media is fetched (:mod:`.media`) and
   handed to the core as bytes.
4. 201 with the message object. A recipient refused at acceptance (opted out, blocked prefix, not mobile
   under ``require_mobile``) is a 201 with ``status: failed``, ``errorType`` and ``errorMessage``.

Where the document is silent: a fresh answer is ``queued`` without ``sentAt`` (textgate answers once the
message is stored, before any carrier has it; ``GET`` and the ``textingline`` webhook format follow it to
``sent``); an idempotent replay is the first answer as it was (201, ``Idempotent-Replayed: true``); a key
reused with another body is 409 with code 409 and field ``idempotencyKey``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import Connection

from textgate.api.deps import parse_authorization, run_db
from textgate.api.responses import FastJSONResponse
from textgate.api.sending import accept_send
from textgate.domain.errors import AuthenticationError, Conflict, ErrorKind, TextgateError, ValidationError
from textgate.providers.textingline import wire
from textgate.providers.textingline.media import fetch_media
from textgate.service.accounts import Account, authenticate_key, authenticate_secret, owned_number
from textgate.service.messages import get_message_row, message_view
from textgate.service.send import Idempotency, SendRequest, SendResult, lookup_idempotent

TAG = "TextingLine dialect"
router = APIRouter(prefix="/api/v1/messaging", tags=[TAG], include_in_schema=True)

_JSON_TYPES = ("application/json",)

_MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "example": "msg_DsAdb4EBYBh3z25sBA1qnv"},
        "direction": {"type": "string", "enum": ["outbound", "inbound"]},
        "to": {"type": "string", "example": "+18005551234"},
        "from": {"type": "string", "example": "+18005559876"},
        "body": {"type": "string"},
        "mediaUrl": {"type": "string", "description": "Present for MMS (a textgate addition)."},
        "status": {
            "type": "string",
            "enum": ["sent", "queued", "failed", "received"],
            "description": "received: an inbound message (a textgate addition).",
        },
        "errorType": {"type": "string", "description": "Only when status is failed."},
        "errorMessage": {"type": "string", "description": "Only when status is failed."},
        "sentAt": {"type": "string", "format": "date-time", "description": "Only when status is sent."},
        "receivedAt": {
            "type": "string",
            "format": "date-time",
            "description": "Only when status is received: when textgate received it (a textgate addition).",
        },
        "createdAt": {"type": "string", "format": "date-time"},
    },
    "required": ["id", "direction", "to", "from", "body", "status", "createdAt"],
}
_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "code": {"type": "integer", "example": 33004},
        "message": {"type": "string"},
        "field": {"type": "string", "nullable": True},
    },
    "required": ["code", "message", "field"],
}
_SEND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["to", "from"],
    "properties": {
        "to": {"type": "string", "example": "+18005551234", "description": "E.164 with '+'."},
        "from": {"type": "string", "example": "+18005559876", "description": "An active number of yours."},
        "body": {"type": "string", "maxLength": wire.MAX_BODY_CHARS, "example": "Your code is 482910"},
        "mediaUrl": {"type": "string", "description": "http(s) URL of an image, video, audio or PDF."},
        "idempotencyKey": {"type": "string", "maxLength": wire.MAX_IDEMPOTENCY_KEY},
    },
}


def _answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"content": {"application/json": {"schema": _ERROR_SCHEMA}}} for s in statuses}


def _error(exc: TextgateError) -> FastJSONResponse:
    status, body = wire.error_answer(exc)
    headers = {"WWW-Authenticate": 'Basic realm="textingline"'} if status == 401 else None
    return FastJSONResponse(body, status_code=status, headers=headers)


def _authenticator(request: Request) -> Callable[[Connection], Account]:
    """The caller's credentials as a function of a connection (checked inside the caller's transaction)."""
    key_id, secret = parse_authorization(request.headers.get("authorization"))

    def authenticate(conn: Connection) -> Account:
        if key_id is None:
            return authenticate_secret(conn, secret)
        try:
            return authenticate_key(conn, key_id, secret)
        except AuthenticationError as first:
            try:
                return authenticate_key(conn, key_id, secret, by_name=True)
            except AuthenticationError:
                raise first from None

    return authenticate


def _check_sender(conn: Connection, account: Account, sender: str) -> None:
    row = owned_number(conn, account.id, sender)
    if row is None:
        raise ValidationError(
            f"from: {sender} is not a number assigned to your account",
            field="from",
            kind=ErrorKind.INVALID_SENDER,
            code=wire.SENDER_NOT_ASSIGNED,
        )
    if row.status != "active":
        raise ValidationError(
            f"from: {sender} is not in an active state",
            field="from",
            kind=ErrorKind.INVALID_SENDER,
            code=wire.SENDER_NOT_ACTIVE,
        )


def _check_content_type(request: Request) -> None:
    raw = request.headers.get("content-type")
    if raw is None:
        return  # no header: read the body as JSON anyway
    ctype = raw.split(";", 1)[0].strip().lower()
    if ctype not in _JSON_TYPES and not ctype.endswith("+json"):
        raise ValidationError(
            f"Content-Type must be application/json, not {raw!r}", field=None, status=415, code=415
        )


async def _send(
    request: Request, authenticate: Callable[[Connection], Account], msg: wire.SendMessage
) -> SendResult:
    idem = None
    if msg.idempotency_key is not None:
        idem = Idempotency(scope=wire.NAME, key=msg.idempotency_key, request_hash=msg.fingerprint())

    def authorize(conn: Connection) -> tuple[Account, SendResult | None]:
        account = authenticate(conn)
        if idem is not None:
            replay = lookup_idempotent(conn, account.id, idem)
            if replay is not None:
                return account, replay  # the core replays it too; the sender's state no longer matters
        _check_sender(conn, account, msg.from_)
        return account, None

    media = []
    meta = None
    if msg.media_url is not None:
        _account, replay = await run_db(request, authorize)
        if replay is not None:
            return replay
        fetched = await fetch_media(
            msg.media_url, allow_private=request.app.state.settings.allow_private_urls
        )
        media = [fetched.as_input()]
        meta = {wire.NAME: {"mediaUrl": msg.media_url}}
    req = SendRequest(
        sender=msg.from_,
        to=[msg.to],
        body=msg.body,
        media=media,
        source=wire.NAME,
        meta=meta,
        max_recipients=1,
    )
    return await accept_send(request, lambda conn: authorize(conn)[0], req, idem)


@router.post(
    "/message",
    status_code=201,
    operation_id="textingline_send_message",
    summary="Send an SMS or MMS to a single recipient",
    responses={
        201: {"description": "The message", "content": {"application/json": {"schema": _MESSAGE_SCHEMA}}},
        **_answers(400, 401, 402, 403, 409, 413, 415),
    },
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _SEND_SCHEMA}}}
    },
)
async def send_message(request: Request) -> Response:
    msg: wire.SendMessage | None = None
    try:
        authenticate = _authenticator(request)  # no credentials at all: 401 before anything
        try:
            _check_content_type(request)
            msg = wire.parse_send(await request.body())
        except ValidationError:
            await run_db(request, authenticate)  # wrong credentials win over a bad body
            raise
        result = await _send(request, authenticate, msg)
    except Conflict as exc:
        if exc.field == "Idempotency-Key":
            exc = Conflict(
                "idempotencyKey was already used with a different request; use a new key for a new message",
                field="idempotencyKey",
            )
        return _error(exc)
    except TextgateError as exc:
        return _error(exc)
    view = result.body["messages"][0]
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return FastJSONResponse(wire.message_object(view, msg.media_url), status_code=201, headers=headers)


@router.get(
    "/message/{message_id}",
    operation_id="textingline_get_message",
    summary="A message with its current status",
    responses={
        200: {"description": "The message", "content": {"application/json": {"schema": _MESSAGE_SCHEMA}}},
        **_answers(401, 404),
    },
)
async def get_message(message_id: str, request: Request) -> Response:
    try:
        authenticate = _authenticator(request)
        row = await run_db(request, lambda conn: get_message_row(conn, authenticate(conn).id, message_id))
    except TextgateError as exc:
        return _error(exc)
    media_url = wire.media_url_of(row.get("meta"), row.get("media"))
    return FastJSONResponse(wire.message_object(message_view(row), media_url))


#: Paths of this dialect (lower case): errors raised before a route runs, such as a body over the size
#: limit, are answered in TextingLine's shape there.
ERROR_PATHS = ("/api/v1/messaging/",)


def render_error(_path: str, exc: TextgateError) -> Response:
    return _error(exc)
