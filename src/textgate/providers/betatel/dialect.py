"""Betatel's SMS API at Betatel's own paths: ``POST /api/v1/connect-hub/sms`` (the documented send) and the
two look-ups the published ``betatelsdk`` calls, ``GET /api/v1/connect-hub/sms/{messageId}`` and
``GET /api/v1/connect-hub/sms/{messageId}/status``.

Credentials: ``x-api-key`` is a textgate API key's secret and ``x-user-id`` its key id (``key_…``) — or the
key's *name* when the value does not start with ``key_``, so an operator can give a key the user id a
client already has configured (``textgate keys create ACCOUNT --name USER_ID``).

Choices where Betatel's document is silent, each what its real clients accept:

* The body is read as JSON only when ``Content-Type`` says JSON (as Betatel's framework does); any other
  type, a body that is not a JSON object, or a missing, non-string or empty ``from``/``to``/``text`` is a
  400 naming the field(s).
* ``to`` is "in international format": its digits are always read with the country code first (``+``
  optional, ``00`` accepted), never as a national number of the account's region — so the doc's
  ``12345678548`` is ``+1 234-567-8548`` (a valid US number) on every account. A numeric ``from`` is read
  the same way; anything with a letter is an alphanumeric sender ID (1–11 letters, digits, spaces).
* Credentials are checked before the body, like Betatel's auth guard: bad credentials are a 401 even
  when the body is also wrong. (The happy path still authenticates once, inside the send transaction.)
* A send is one message to one recipient, answered **200** ``{"messageId", "from", "to"}``; ``messageId``
  is a version-1 UUID computed from the message (see ``ids``). A recipient refused at acceptance (opted
  out, blocked prefix, not mobile) is still answered 200; the look-up then shows ``"Failed"`` with
  ``errorCode``. Numbers in answers are digits without ``+``, as the doc's answer shows.
* Error bodies are ``{"statusCode", "message", "error"}``; statuses per kind are in ``wire.STATUS_BY_KIND``
  (notably 402 for insufficient credits, which the document does not list).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from sqlalchemy import Connection

from textgate.api.deps import run_db
from textgate.api.responses import FastJSONResponse
from textgate.api.sending import accept_send
from textgate.domain.errors import AuthenticationError, TextgateError, ValidationError
from textgate.domain.phone import normalize_number, parse_sender
from textgate.providers.betatel import wire
from textgate.providers.betatel.ids import find_message_row
from textgate.service.accounts import Account, authenticate_key
from textgate.service.messages import message_view
from textgate.service.send import SendRequest

NAME = "betatel"
PATH = "/api/v1/connect-hub/sms"

router = APIRouter(tags=["Betatel dialect"], include_in_schema=True)

ApiKey = Annotated[str | None, Header(alias="x-api-key", description="A textgate API key's secret.")]
UserId = Annotated[
    str | None, Header(alias="x-user-id", description="The key's id (key_…), or the key's name.")
]

_SEND_EXAMPLE = {"from": "Sender", "to": "12345678548", "text": "Your code is 555345"}
_SEND_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["from", "to", "text"],
                    "properties": {
                        "from": {"type": "string", "description": "Sender ID (e.g. Sender) or number."},
                        "to": {"type": "string", "description": "Recipient, international, '+' optional."},
                        "text": {"type": "string", "description": "The message (at most 1600 characters)."},
                    },
                },
                "example": _SEND_EXAMPLE,
            }
        },
    }
}


def _error_example(status: int, message: str) -> dict[str, Any]:
    return {"content": {"application/json": {"example": wire.error_body(status, message)}}}


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error_example(400, "to: 'abc' is not a valid phone number: it contains characters other than …"),
    401: _error_example(401, "invalid API key"),
    402: _error_example(402, "this send costs 1 credits and the balance is 0"),
}
_LOOKUP_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _ERRORS[401],
    404: _error_example(404, "message '0a62face-6d15-11f0-962f-d89d6729654c' not found"),
}


def _error(exc: TextgateError) -> Response:
    status = wire.error_status(exc)
    return FastJSONResponse(wire.error_body(status, wire.error_message(exc)), status_code=status)


def _authenticator(api_key: str | None, user_id: str | None) -> Callable[[Connection], Account]:
    if not api_key or not user_id:
        missing = " and ".join(h for h, v in (("x-api-key", api_key), ("x-user-id", user_id)) if not v)
        raise AuthenticationError(f"missing {missing} header")
    by_name = not user_id.startswith("key_")
    return lambda conn: authenticate_key(conn, user_id, api_key, by_name=by_name)


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def parse_send(content_type: str | None, raw: bytes) -> tuple[str, str, str]:
    """(sender, E.164 recipient, text) from a send's body; ValidationError naming the field otherwise."""
    if not _is_json(content_type):
        raise ValidationError("Content-Type must be application/json", field="Content-Type")
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise ValidationError("the request body must be a JSON object with from, to and text")
    problems: list[tuple[str, str]] = []
    for name in ("from", "to", "text"):
        value = payload.get(name)
        if value is None:
            problems.append((name, f"{name} is required"))
        elif not isinstance(value, str):
            problems.append((name, f"{name} must be a string"))
        elif not value.strip():
            problems.append((name, f"{name} should not be empty"))
    if problems:
        raise ValidationError("; ".join(text for _, text in problems), field=problems[0][0])
    raw_from: str = payload["from"]
    if any(ch.isalpha() for ch in raw_from):
        sender = parse_sender(raw_from, region=None, field="from").value
    else:
        sender = international(raw_from, "from")
    return sender, international(payload["to"], "to"), payload["text"]


def international(raw: str, field: str) -> str:
    """E.164 for a number "in international format": the country code comes first whether or not a ``+``
    (or the ITU prefix ``00``) leads, so the account's region never turns it into a national number."""
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    elif not text.startswith("+"):
        text = "+" + text
    try:
        return normalize_number(text, region=None, field=field)
    except ValidationError as exc:
        # Quote the number as the client wrote it, not as rewritten here.
        raise ValidationError(exc.message.replace(repr(text), repr(raw), 1), field=field) from exc


@router.post(
    PATH,
    summary="Send an SMS (Betatel)",
    response_class=FastJSONResponse,
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "messageId": "0a62face-6d15-11f0-962f-d89d6729654c",
                        "from": "Sender",
                        "to": "38161444555",
                    }
                }
            }
        },
        **_ERRORS,
    },
    openapi_extra=_SEND_SCHEMA,
)
async def send_sms(request: Request, x_api_key: ApiKey = None, x_user_id: UserId = None) -> Response:
    try:
        authenticate = _authenticator(x_api_key, x_user_id)
        try:
            sender, to, text = parse_send(request.headers.get("content-type"), await request.body())
        except ValidationError:
            await run_db(request, authenticate)  # bad credentials win over a bad body, as at Betatel
            raise
        req = SendRequest(sender=sender, to=[to], body=text, source=NAME, max_recipients=1)
        result = await accept_send(request, authenticate, req)
    except TextgateError as exc:
        return _error(exc)
    return FastJSONResponse(wire.send_answer(result.body["messages"][0]), status_code=200)


async def _look_up(
    request: Request, api_key: str | None, user_id: str | None, message_id: str
) -> dict[str, Any]:
    authenticate = _authenticator(api_key, user_id)

    def _find(conn: Connection) -> dict[str, Any]:
        return message_view(find_message_row(conn, authenticate(conn).id, message_id))

    return await run_db(request, _find)


async def _answer_look_up(
    request: Request,
    api_key: str | None,
    user_id: str | None,
    message_id: str,
    render: Callable[..., dict[str, Any]],
) -> Response:
    try:
        view = await _look_up(request, api_key, user_id, message_id)
    except TextgateError as exc:
        return _error(exc)
    return FastJSONResponse(render(view, user_id=user_id or ""))


@router.get(
    PATH + "/{messageId}",
    summary="A message's details and status (Betatel)",
    response_class=FastJSONResponse,
    responses=_LOOKUP_ERRORS,
)
async def get_sms(
    request: Request, messageId: str, x_api_key: ApiKey = None, x_user_id: UserId = None
) -> Response:
    return await _answer_look_up(request, x_api_key, x_user_id, messageId, wire.details)


@router.get(
    PATH + "/{messageId}/status",
    summary="A message's status (Betatel)",
    response_class=FastJSONResponse,
    responses=_LOOKUP_ERRORS,
)
async def get_sms_status(
    request: Request, messageId: str, x_api_key: ApiKey = None, x_user_id: UserId = None
) -> Response:
    return await _answer_look_up(request, x_api_key, x_user_id, messageId, wire.status_answer)


#: Paths of this dialect (lower case): errors raised before a route runs, such as a body over the size
#: limit, are answered in Betatel's shape there.
ERROR_PATHS = ("/api/v1/connect-hub/",)


def render_error(_path: str, exc: TextgateError) -> Response:
    return _error(exc)
