"""TextBetter's outgoing-message APIs, at TextBetter's own paths, so its clients only change the base URL.

Credentials. v2 (``POST /api/SendOutgoingMessages?code=...``): ``code`` — TextBetter's "function access
code" — is the textgate API key's ``key_id`` (also accepted as the ``x-functions-key`` header, the other
way an Azure Functions code is passed), and the body's ``APIKey`` is that key's secret. v1
(``GET /SendTexts.aspx?KEY=...``): ``KEY`` is the secret alone. In both the sender (``fromNumber`` /
``DID``) must be an active number of the key's account; anything else — unknown key, wrong pair, a number
the account does not own — is TextBetter's one documented error, ``Invalid Company/KEY/DID combination``.
Credentials are checked before the request's other problems are reported, inside the send transaction.

Choices where TextBetter's document is silent, made for what its clients parse:

* v2 success is ``201 {"message": "Valid Message", "CarrierID", "RecordID"}``. ``RecordID`` is textgate's
  message id; several recipients give several ids, comma-separated in ``toNumber`` order (one recipient,
  the common case, gives exactly one id). ``CarrierID`` is not known at acceptance — the carrier answers
  later — so it repeats the message ids: never ``"0"``, which TextBetter uses only in errors and which
  clients may test for.
* Every v2 error is ``400`` with the same three fields, ``CarrierID``/``RecordID`` ``"0"`` and a clear
  ``message`` (all problems of a request at once, separated by ``"; "``). When every recipient is refused
  at acceptance (opted out, blocked prefix), nothing will be sent: that is a 400 too, whose ``RecordID``
  lists the stored (failed, uncharged) records. If only some are refused the answer is 201 and the
  refused ones show as failed in textgate's API and status webhooks.
* The body is read like TextBetter's .NET back end reads JSON: field names case-insensitively, numbers as
  strings or JSON numbers, ``toNumber`` as an array or one string. ``Content-Type`` must be JSON
  (``application/json``, ``text/json`` or ``*+json``) when present.
* v1 answers HTTP 200 whatever happens; the body is exactly ``Success!`` or starts with ``Error:``.
  Parameter names are case-insensitive (ASP.NET's ``Request.QueryString`` is), ``POST`` with a
  form-encoded body works like ``GET``, and ``ToNumber`` takes one number.
* Paths match case-insensitively as on IIS/Azure (lower-case aliases are served too).
* textgate adds an optional ``Idempotency-Key`` header on v2 (scope ``textbetter.v2``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import Connection

from textgate.api.sending import accept_send
from textgate.domain.errors import ErrorKind, TextgateError, ValidationError
from textgate.providers.textbetter import parsing
from textgate.providers.textbetter.wire import INVALID_COMBINATION, V1_SUCCESS, VALID_MESSAGE, digits, v2_body
from textgate.service.accounts import Account, authenticate_key, authenticate_secret, owned_number
from textgate.service.send import MAX_RECIPIENTS, Idempotency, SendRequest, SendResult, request_fingerprint

log = logging.getLogger(__name__)

router = APIRouter(tags=["TextBetter dialect"], include_in_schema=True)

V2_PATH = "/api/SendOutgoingMessages"
V1_PATH = "/SendTexts.aspx"
_JSON_TYPES = re.compile(r"^(application/json|text/json|application/[a-z0-9.+-]+\+json)$")
_TO_ITEM = re.compile(r"^to\[(\d+)\]$")
_MEDIA_WORD = re.compile(r"\b(content_base64|media)\b")


# -- shared -------------------------------------------------------------------------------------------
def _authenticator(
    check: Callable[[Connection], Account], sender: str | None, problems: parsing.Problems, did: str
) -> Callable[[Connection], Account]:
    """Authenticate, require the sender to be one of the account's active numbers, then — only for a
    caller who passed both — report the request's other problems."""

    def authenticate(conn: Connection) -> Account:
        account = check(conn)
        if sender is not None:
            row = owned_number(conn, account.id, sender)
            if row is None or row.status != "active":
                raise ValidationError(
                    f"{sender} is not an active number of this account",
                    field=did,
                    kind=ErrorKind.INVALID_SENDER,
                )
        if problems:
            raise ValidationError(problems.text())
        return account

    return authenticate


def _describe(exc: TextgateError, names: dict[str, str]) -> str:
    """A core error in the dialect's words: TextBetter's field names, the credential text for mismatches."""
    if exc.kind is ErrorKind.INVALID_SENDER:
        return INVALID_COMBINATION
    if exc.kind is ErrorKind.AUTHENTICATION:
        # "invalid API key" is the mismatch TextBetter names; a suspended account says so.
        return (
            INVALID_COMBINATION
            if exc.message == "invalid API key"
            else f"{INVALID_COMBINATION}: {exc.message}"
        )
    core = exc.field or ""
    message = _MEDIA_WORD.sub("images", exc.message) if core.startswith("media") else exc.message
    if exc.kind is ErrorKind.INSUFFICIENT_CREDITS:
        return f"Insufficient credits: {message}"
    match = _TO_ITEM.match(core)
    name = names["to[]"].format(match.group(1)) if match else names.get(core)
    if name is None:
        return message
    first, _, rest = message.partition(" ")
    if first == core:
        return f"{name} {rest}"
    if first == f"{core}:":  # "to: '+1...' is not a valid phone number: ..."
        return f"{name}: {rest}"
    return f"{name}: {message}"


def _refusals(views: list[dict[str, Any]]) -> str:
    return "; ".join(f"{digits(v['to'])}: {v.get('error_message') or v.get('error_code')}" for v in views)


# -- v2 ------------------------------------------------------------------------------------------------
_V2_NAMES = {"to": "toNumber[0]", "to[]": "toNumber[{}]", "from": "fromNumber", "body": "body"}
_V2_BODY_SCHEMA = {
    "type": "object",
    "required": ["fromNumber", "toNumber", "APIKey"],
    "properties": {
        "fromNumber": {"type": "string", "example": "15551230001"},
        "toNumber": {
            "type": "array",
            "items": {"type": "string"},
            "maxItems": 100,
            "example": ["15550001000"],
        },
        "body": {"type": "string", "example": "Hello World"},
        "APIKey": {"type": "string", "description": "The textgate API key's secret (tgs_...)."},
        "filenames": {"type": "array", "items": {"type": "string"}},
        "contentTypes": {"type": "array", "items": {"type": "string"}},
        "images": {"type": "array", "items": {"type": "string", "format": "byte"}},
    },
}


def _v2_error(message: str, record_id: str = "0") -> JSONResponse:
    return JSONResponse(v2_body(message, "0", record_id), status_code=400)


def _v2_answer(result: SendResult) -> JSONResponse:
    views: list[dict[str, Any]] = result.body["messages"]
    ids = ",".join(v["id"] for v in views)
    if all(v["status"] == "failed" for v in views):
        return _v2_error(f"Message not sent: {_refusals(views)}", record_id=ids)
    return JSONResponse(v2_body(VALID_MESSAGE, ids, ids), status_code=201)


@router.post(
    V2_PATH,
    status_code=201,
    summary="TextBetter v2: send an SMS or MMS (JSON)",
    response_class=JSONResponse,
    responses={400: {"description": 'Error: `{"message", "CarrierID": "0", "RecordID": "0"}`'}},
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _V2_BODY_SCHEMA}}}
    },
)
async def send_outgoing_messages(
    request: Request,
    code: Annotated[str | None, Query(description="The textgate API key's key_id.")] = None,
    functions_key: Annotated[str | None, Header(alias="x-functions-key", include_in_schema=False)] = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    ctype = request.headers.get("content-type")
    if ctype is not None and not _JSON_TYPES.match(ctype.split(";")[0].strip().lower()):
        return _v2_error(f"Content-Type must be application/json, not {ctype[:60]}")
    raw = await request.body()
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _v2_error("the request body is not valid JSON")
    if not isinstance(payload, dict):
        return _v2_error("the request body must be a JSON object")
    fields = {str(k).lower(): v for k, v in payload.items()}
    key_id = code or functions_key
    secret = fields.get("apikey")
    if not key_id:
        return _v2_error(f"{INVALID_COMBINATION}: the code query parameter is missing")
    if not key_id.isprintable():  # no key id has control characters (PostgreSQL refuses NUL in text)
        return _v2_error(INVALID_COMBINATION)
    if not isinstance(secret, str) or not secret:
        return _v2_error(f"{INVALID_COMBINATION}: APIKey is missing (a string)")

    problems = parsing.Problems()
    sender = parsing.eleven_digits(fields.get("fromnumber"), "fromNumber", problems)
    to = parsing.recipients(fields.get("tonumber"), "toNumber", MAX_RECIPIENTS, problems)
    body = parsing.text_field(fields.get("body"), "body", problems)
    media = parsing.media(fields.get("images"), fields.get("contenttypes"), fields.get("filenames"), problems)
    if not body.strip() and fields.get("images") is None and isinstance(fields.get("body"), str | None):
        problems.add("body is required (or images, for an MMS)")
    idem = None
    if idempotency_key:
        if len(idempotency_key) > 255:
            problems.add("the Idempotency-Key header is longer than 255 characters")
        else:
            idem = Idempotency("textbetter.v2", idempotency_key, request_fingerprint(raw))

    req = SendRequest(
        sender=sender or "", to=to, body=body, media=media, source="textbetter", max_recipients=MAX_RECIPIENTS
    )
    check = _authenticator(
        lambda conn: authenticate_key(conn, key_id, secret), sender, problems, "fromNumber"
    )
    try:
        result = await accept_send(request, check, req, idem)
    except TextgateError as exc:
        return _v2_error(_describe(exc, _V2_NAMES))
    return _v2_answer(result)


# -- v1 ------------------------------------------------------------------------------------------------
_V1_NAMES = {"to": "ToNumber", "to[]": "ToNumber", "from": "DID", "body": "Message"}
_V1_PARAMS = [
    {"name": name, "in": "query", "required": True, "schema": {"type": "string"}, "description": text}
    for name, text in (
        ("KEY", "The textgate API key's secret (tgs_...)."),
        ("DID", "Sender: an 11-digit number of the account, e.g. 15551230001."),
        ("ToNumber", "One recipient, 11 digits, e.g. 15550001000."),
        ("Message", "The text, URL-encoded."),
    )
]


def _v1_text(text: str) -> PlainTextResponse:
    return PlainTextResponse(text, status_code=200)


async def _v1_params(request: Request) -> dict[str, str]:
    """Query and (for POST) form parameters, by lower-cased name; the first occurrence wins."""
    items = list(request.query_params.multi_items())
    if request.method == "POST":
        ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if ctype == "application/x-www-form-urlencoded":
            raw = await request.body()
            items += parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
    params: dict[str, str] = {}
    for name, value in items:
        params.setdefault(name.lower(), value)
    return params


async def _send_texts(request: Request) -> str:
    params = await _v1_params(request)
    secret = params.get("key", "").strip()
    if not secret:
        return f"Error: {INVALID_COMBINATION}: KEY is missing"
    problems = parsing.Problems()
    sender = parsing.eleven_digits(params.get("did"), "DID", problems)
    raw_to = params.get("tonumber")
    to: list[str] = []
    if raw_to is not None and "," in raw_to:
        problems.add("ToNumber takes one number per request (use v2 for several)")
    else:
        one = parsing.recipient(raw_to, "ToNumber", problems)
        to = [one] if one is not None else []
    body = params.get("message", "")
    if not body.strip():
        problems.add("Message is required")
    req = SendRequest(sender=sender or "", to=to, body=body, source="textbetter_v1", max_recipients=1)
    check = _authenticator(lambda conn: authenticate_secret(conn, secret), sender, problems, "DID")
    try:
        result = await accept_send(request, check, req)
    except TextgateError as exc:
        return f"Error: {_describe(exc, _V1_NAMES)}"
    views: list[dict[str, Any]] = result.body["messages"]
    if all(v["status"] == "failed" for v in views):
        return f"Error: Message not sent: {_refusals(views)}"
    return V1_SUCCESS


_V1_SUMMARY = "TextBetter v1: send one SMS (querystring); always HTTP 200, body `Success!` on success"


@router.get(
    V1_PATH,
    summary=_V1_SUMMARY,
    response_class=PlainTextResponse,
    openapi_extra={"parameters": _V1_PARAMS},
    operation_id="textbetter_v1_send_get",
)
@router.post(
    V1_PATH,
    summary=_V1_SUMMARY + " (form or querystring)",
    response_class=PlainTextResponse,
    openapi_extra={"parameters": _V1_PARAMS},
    operation_id="textbetter_v1_send_post",
)
async def send_texts(request: Request) -> PlainTextResponse:
    try:
        return _v1_text(await _send_texts(request))
    except Exception:  # v1 promises HTTP 200; the failure is logged and the body says it failed
        log.exception("TextBetter v1 send failed")
        return _v1_text("Error: the message could not be accepted (internal error); try again")


# IIS and Azure Functions match paths case-insensitively; the lower-case spellings are served too.
router.add_api_route(
    V2_PATH.lower(), send_outgoing_messages, methods=["POST"], status_code=201, include_in_schema=False
)
router.add_api_route(V1_PATH.lower(), send_texts, methods=["GET", "POST"], include_in_schema=False)


#: Paths of this dialect (lower case): errors raised before a route runs, such as a body over the size
#: limit, are answered in TextBetter's shape there (v1 keeps its promise of HTTP 200).
ERROR_PATHS = (V2_PATH.lower(), V1_PATH.lower())


def render_error(path: str, exc: TextgateError) -> Response:
    if path.startswith(V1_PATH.lower()):
        return _v1_text(f"Error: {exc.message}")
    return _v2_error(exc.message)
