"""BestSMS's simple HTTP API at ``/bestsms/...``, plus its v3.00 REST API (see ``rest``).

``GET`` or ``POST /bestsms/send`` takes ``Sender``, ``Token``, ``Number``, ``Message`` and optionally
``MessageID``, ``SMSEmailReply`` and ``Mode=Test``, from the query string or a form body
(urlencoded or multipart). Choices where the document leaves room:

* Parameter names are matched without regard to case, and ``APIKey`` is accepted for ``Token`` (the
  older SDK's name). A flat JSON object is read like a form, so clients that post JSON work; a body of
  any other type (``text/plain``...) is refused with 400 naming the types that work, since silently
  reading it as "no parameters" would hide the client's mistake.
* Success is ``200 {"Result": "Success", "MessageID": "..."}``; errors are the status and the reason as
  plain text (``400 BAD REQUEST, %ERROR REASON%``), 401 for missing or wrong Sender/Token.
* Plain answers, per API key: a key created with ``--bestsms-answers plain`` (key option
  ``bestsms_answers``) gets the document's plain answers from the send: ``200`` ``OK Thanks`` and
  every error but an authentication (401) or permission (403) one as ``400`` with the reason, all
  ``text/plain``. The key is known only once the request has authenticated, so an answer to a request
  that never got that far is the same in both modes (400 with the reason, or 401). Polls and the REST
  API answer JSON whatever the key says: their answers carry data, and the SDK reads JSON.
* One ``Number`` per request, in dialling format read with the account's region (``0421000001`` in an
  ``AU`` account, ``0064...``, ``+64...``).
* Polls answer in the REST API's JSON shape (see ``reports``): ``GET /bestsms/status/{MessageID}``,
  ``GET /bestsms/replies/{MessageID}`` (the same document plus a flat ``Replies`` list) and
  ``GET /bestsms/inbound`` (a time frame: ``TimePeriod`` minutes, or ``DateFrom``/``DateTo`` — also
  ``From``/``To``). They authenticate with ``Sender``/``Token`` query parameters (or the REST API's
  Authorization header) and answer errors as ``{"Result": ..., "ErrorMessage": [...]}``.

Sending itself (MessageID rules, the number sent from, part limits, test mode) is in ``sending``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import Connection

from textgate.api.deps import now_of
from textgate.api.responses import FastJSONResponse
from textgate.domain.errors import TextgateError
from textgate.providers.bestsms import rest
from textgate.providers.bestsms import settings as opts
from textgate.providers.bestsms.reports import (
    paging,
    param,
    received_document,
    replies_document,
    time_frame,
)
from textgate.providers.bestsms.sending import (
    Submission,
    check_email,
    check_message_id,
    parse_mode,
    reason,
    submit,
)
from textgate.providers.bestsms.web import (
    answer_poll,
    http_status,
    json_error,
    key_authenticator,
    poll_authenticator,
    read_params,
    status_poll,
    text_error,
)
from textgate.service.accounts import Account

TAG = "BestSMS dialect"
router = APIRouter(tags=[TAG])


def _query(name: str, description: str, required: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "string"},
    }


_SEND_PARAMETERS = [
    _query("Sender", "The API key's name (e.g. api@department01.co).", True),
    _query("Token", "The API key's secret.", True),
    _query("Number", "Destination in dialling format: 0421000001, 0064..., +64...", True),
    _query("Message", "The text; one SMS part unless the account allows more.", True),
    _query("MessageID", "Your tracking id: at most 40 letters, digits or hyphens; unique per account."),
    _query("SMSEmailReply", "Email address for reply notifications (stored; emailing is not done yet)."),
    _query("Mode", "Test: validated, stored and answered, never sent nor charged."),
]
_POLL_AUTH = [_query("Sender", "The API key's name."), _query("Token", "The API key's secret.")]
_PAGING = [_query("RecordsPerPage", "Recipients per page (default 100)."), _query("Page", "Page, from 1.")]


_SEND_ROUTE: dict[str, Any] = {
    "summary": "Send an SMS (query string, or form body)",
    "include_in_schema": True,
    "openapi_extra": {"parameters": _SEND_PARAMETERS},
}


#: The document's plain answer to a send it accepted ("200 OK, OK Thanks").
PLAIN_SUCCESS = "OK Thanks"
#: Statuses a plain-answer key still gets as they are; every other error is the document's 400.
PLAIN_KEPT_STATUSES = (401, 403)


def plain_error(exc: TextgateError) -> PlainTextResponse:
    """A plain-answer key's error: "400 BAD REQUEST, %ERROR REASON%" (authentication errors keep theirs)."""
    status = http_status(exc)
    return PlainTextResponse(reason(exc), status_code=status if status in PLAIN_KEPT_STATUSES else 400)


@router.get("/bestsms/send", operation_id="bestsms_send_get", **_SEND_ROUTE)
@router.post("/bestsms/send", operation_id="bestsms_send_post", **_SEND_ROUTE)
async def send(request: Request) -> Response:
    caller: list[Account] = []  # the authenticated account, with its key's options

    def plain() -> bool:
        return bool(caller) and caller[-1].key_option("bestsms_answers") == "plain"

    try:
        params = await read_params(request)
        sender = param(params, "Sender")
        check = key_authenticator(sender, param(params, "Token", "APIKey"))

        def authenticate(conn: Connection) -> Account:
            account = check(conn)
            caller.append(account)
            return account

        sub = Submission(
            numbers=[param(params, "Number") or ""],
            message=param(params, "Message") or "",
            message_id=check_message_id(param(params, "MessageID")),
            email_reply=check_email(param(params, "SMSEmailReply")),
            test=parse_mode(param(params, "Mode")),
            sender_name=sender,
        )
        message_id = await submit(request, authenticate, sub)
    except TextgateError as exc:
        return plain_error(exc) if plain() else text_error(exc)
    if plain():
        return PlainTextResponse(PLAIN_SUCCESS)
    return FastJSONResponse({"Result": "Success", "MessageID": message_id})


@router.get(
    "/bestsms/status/{message_id}",
    summary="Poll the status of a sent message (by MessageID)",
    include_in_schema=True,
    openapi_extra={"parameters": _POLL_AUTH + _PAGING},
)
async def status(message_id: str, request: Request) -> Response:
    return await answer_poll(request, poll_authenticator, status_poll(message_id))


@router.get(
    "/bestsms/replies/{message_id}",
    summary="Poll the replies to a sent message (by MessageID)",
    include_in_schema=True,
    openapi_extra={"parameters": _POLL_AUTH + _PAGING},
)
async def replies(message_id: str, request: Request) -> Response:
    def build(conn: Connection, account: Account, params: dict[str, str]) -> dict[str, Any]:
        page, per_page = paging(params)
        return replies_document(conn, account, message_id, page=page, per_page=per_page)

    return await answer_poll(request, poll_authenticator, build)


@router.get(
    "/bestsms/inbound",
    summary="Poll the SMS received in a time frame",
    include_in_schema=True,
    openapi_extra={
        "parameters": [
            *_POLL_AUTH,
            _query("TimePeriod", "The last N minutes."),
            _query("DateFrom", "Start (also From): ISO 8601 or dd/MM/yyyy HH:mm; local time without offset."),
            _query("DateTo", "End (also To); default now."),
            *_PAGING,
        ]
    },
)
async def inbound(request: Request) -> Response:
    now = now_of(request)

    def build(conn: Connection, account: Account, params: dict[str, str]) -> dict[str, Any]:
        page, per_page = paging(params)
        start, end = time_frame(params, opts.account_zone(account.settings), now)
        return received_document(conn, account, start, end, page=page, per_page=per_page)

    return await answer_poll(request, poll_authenticator, build)


# The REST API the published SDK calls, at the real API's path and under /bestsms as well.
for _prefix in rest.PREFIXES:
    router.include_router(rest.router, prefix=_prefix)


#: Paths of this dialect (lower case): errors raised before a route runs, such as a body over the size
#: limit, are answered in BestSMS's shape there (JSON for the REST API, text for the HTTPS API).
ERROR_PATHS = ("/bestsms/", "/api/v3.00/")


def render_error(path: str, exc: TextgateError) -> Response:
    return json_error(exc) if "/api/v3.00/" in path else text_error(exc)
