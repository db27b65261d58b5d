"""What both BestSMS surfaces share at the HTTP edge: credentials, reading parameters, and errors.

Credentials. BestSMS's ``Sender``/``Token`` pair is a textgate API key's *name* and its secret (keys get
names with ``textgate keys create ACCOUNT --name api@department01.co``); a key id is accepted as the
Sender too, for keys created without a name. The REST API (and the SDK) sends
``Authorization: Bearer <AuthToken>``: the AuthToken is a textgate secret. ``Basic`` with
``Sender:Token`` works as well.

Errors. Bad or missing credentials are 401 — the SDK turns 401 into ``Result: "Unauthorized"`` —, an
unknown MessageID is 404 (the SDK's ``RecordNotFound``), anything else the request got wrong is 400
with the reason (the document: "400 BAD REQUEST, %ERROR REASON%"), including a refused
destination, too many parts, a reused MessageID and insufficient credits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import Connection

from textgate.api.deps import parse_authorization, run_db
from textgate.api.responses import FastJSONResponse
from textgate.domain.errors import AuthenticationError, ErrorKind, TextgateError, ValidationError
from textgate.providers.bestsms.reports import paging, param, status_document
from textgate.providers.bestsms.sending import reason
from textgate.service.accounts import Account, authenticate_key, authenticate_secret

Authenticate = Callable[[Connection], Account]

STATUS_BY_KIND: dict[ErrorKind, int] = {
    ErrorKind.AUTHENTICATION: 401,
    ErrorKind.PERMISSION_DENIED: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.RATE_LIMITED: 429,
}
#: The SDK's ``Result`` for an error status (it derives the same from the status code).
RESULT_BY_STATUS = {401: "Unauthorized", 404: "RecordNotFound"}
#: The core's answer for an unknown key or wrong secret; reworded in BestSMS's terms.
INVALID_KEY = "invalid API key"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def http_status(exc: TextgateError) -> int:
    return STATUS_BY_KIND.get(exc.kind, 400)


def text_error(exc: TextgateError) -> PlainTextResponse:
    """``/bestsms/send``'s error: the status and the reason as plain text."""
    return PlainTextResponse(reason(exc), status_code=http_status(exc))


def json_error(exc: TextgateError) -> FastJSONResponse:
    """The REST API's error: ``{"Result": ..., "ErrorMessage": [reason]}``."""
    status = http_status(exc)
    body = {"Result": RESULT_BY_STATUS.get(status, "Failed"), "ErrorMessage": [reason(exc)]}
    return FastJSONResponse(body, status_code=status)


def key_authenticator(sender: str | None, token: str | None) -> Authenticate:
    """Sender (key name, or key id) and Token (secret)."""
    if not sender or not token:
        raise AuthenticationError("Sender and Token are required")
    if len(sender) > 200 or any(ord(ch) < 32 for ch in sender):
        raise AuthenticationError("invalid Sender or Token")  # names no key (and PostgreSQL refuses NUL)

    def _authenticate(conn: Connection) -> Account:
        try:
            try:
                return authenticate_key(conn, sender, token, by_name=True)
            except AuthenticationError:
                if not sender.startswith("key_"):
                    raise
                return authenticate_key(conn, sender, token)
        except AuthenticationError as exc:
            if exc.message == INVALID_KEY:
                raise AuthenticationError("invalid Sender or Token") from exc
            raise

    return _authenticate


def header_authenticator(request: Request) -> Authenticate:
    """``Authorization: Bearer <secret>`` or ``Basic <Sender:Token>``."""
    key_ref, secret = parse_authorization(request.headers.get("authorization"))
    if key_ref is None:
        return lambda conn: _reworded(authenticate_secret, conn, secret)
    return key_authenticator(key_ref, secret)


def _reworded(check: Callable[[Connection, str], Account], conn: Connection, secret: str) -> Account:
    try:
        return check(conn, secret)
    except AuthenticationError as exc:
        if exc.message == INVALID_KEY:
            raise AuthenticationError("invalid AuthToken") from exc
        raise


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


async def read_params(request: Request) -> dict[str, str]:
    """Parameters from the query string and, for a POST, a form (urlencoded or multipart) or a flat JSON
    object; body values win over query values. Any other body is refused with the content types that
    work, rather than read as "no parameters"."""
    params: dict[str, str] = dict(request.query_params)
    if request.method != "POST":
        return params
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in FORM_TYPES:
        try:
            form = await request.form()
        except Exception as exc:  # malformed multipart or urlencoded body
            raise ValidationError(f"the form body could not be read: {exc}") from exc
        for key, value in form.multi_items():
            if isinstance(value, str):
                params[key] = value
        return params
    raw = await request.body()
    if not raw.strip():
        return params
    if ctype == "application/json" or ctype.endswith("+json"):
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValidationError(f"the body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValidationError("a JSON body must be an object of parameters")
        for key, value in data.items():
            text = _text(value)
            if text is not None:
                params[str(key)] = text
        return params
    raise ValidationError(
        f"unsupported Content-Type {ctype or '(none)'!r}: send the parameters in the query string, as "
        "application/x-www-form-urlencoded or multipart/form-data, or as a JSON object"
    )


def poll_authenticator(request: Request, params: dict[str, str]) -> Authenticate:
    """Polls take ``Sender``/``Token`` query parameters, or the Authorization header when they are absent."""
    sender, token = param(params, "Sender"), param(params, "Token", "APIKey")
    if sender is None and token is None and request.headers.get("authorization"):
        return header_authenticator(request)
    return key_authenticator(sender, token)


def status_poll(message_id: str) -> Callable[[Connection, Account, dict[str, str]], dict[str, Any]]:
    """The status poll's document builder, shared by ``/bestsms/status`` and the REST ``/sms/{id}``."""

    def build(conn: Connection, account: Account, params: dict[str, str]) -> dict[str, Any]:
        page, per_page = paging(params)
        return status_document(conn, account, message_id, page=page, per_page=per_page)

    return build


async def answer_poll(
    request: Request,
    authenticate: Callable[[Request, dict[str, str]], Authenticate],
    build: Callable[[Connection, Account, dict[str, str]], dict[str, Any]],
) -> FastJSONResponse:
    """Authenticate and build a poll's document in one transaction; errors in the REST API's shape."""
    params = dict(request.query_params)
    try:
        check = authenticate(request, params)
        doc = await run_db(request, lambda conn: build(conn, check(conn), params))
    except TextgateError as exc:
        return json_error(exc)
    return FastJSONResponse(doc)
