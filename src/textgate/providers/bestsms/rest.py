"""BestSMS's v3.00 REST API — the part the published ``bestsms`` Python SDK (3.0.0.0) calls — so the SDK
works unchanged with its base URL pointed at textgate (``BaseURL=`` or ``BESTSMS_API_URL``, e.g.
``http://127.0.0.1:8080/api/v3.00``; the SDK wants ``BESTSMS_ALLOW_INSECURE_HTTP=true`` for plain HTTP).

Served at the real API's paths under ``/api/v3.00`` and, the same, under ``/bestsms/api/v3.00``:

* ``POST /sms`` — JSON: ``Message``, destinations (``Destination``, ``ToNumber``, or ``Destinations``: a
  list of numbers or of ``{"ToNumber"|"MobilePhone"|"Recipient": ...}``), ``MessageID``, ``Reference``,
  ``SendTime`` (+ ``Timezone``), ``FromNumber``, ``SMSEmailReply``, ``Mode``, ``SubAccount``,
  ``Department``. Several destinations share one MessageID (one job). Features textgate cannot honour
  are refused with 400 rather than silently dropped: ``TemplateID``, address-book ``ContactID``/
  ``GroupID``, ``Files``, per-message ``WebhookCallbackURL`` (configure a ``bestsms_json``/``_xml``
  webhook instead) and ``ReportTo`` emails. Other fields (``CharacterConversion``...) are ignored.
* ``GET /sms/{MessageID}`` — status, recipients and their ``SMSReplies`` (what ``SMS.Status``,
  ``SMS.Reply``, ``Reports.Status.Poll`` and ``Reports.SMSReply.Poll`` read).
* ``GET /sms/received`` — inbound messages in a time frame (``timePeriod``, ``dateFrom``, ``dateTo``).
* ``PATCH /sms/{MessageID}/abort`` and ``/reschedule`` answer 400: not supported.

Authentication is ``Authorization: Bearer <textgate secret>`` (the SDK's AuthToken) or Basic
``Sender:Token``. Answers are ``{"Result": "Success", ...}``; errors ``{"Result", "ErrorMessage": [...]}``
with 400, 401 (the SDK's ``Unauthorized``) or 404 (``RecordNotFound``).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import Connection

from textgate.api.deps import now_of, parse_authorization
from textgate.api.responses import FastJSONResponse
from textgate.domain.errors import TextgateError, ValidationError
from textgate.providers.bestsms import settings as opts
from textgate.providers.bestsms.reports import paging, received_document, time_frame
from textgate.providers.bestsms.sending import Submission, check_email, check_message_id, parse_mode, submit
from textgate.providers.bestsms.web import (
    answer_poll,
    header_authenticator,
    json_error,
    poll_authenticator,
    status_poll,
)
from textgate.service.accounts import Account

PREFIXES = ("/api/v3.00", "/bestsms/api/v3.00")
router = APIRouter()  # tagged by the dialect router that includes it

#: Request fields that ask for something textgate does not do; refused so the caller knows.
UNSUPPORTED = {
    "TemplateID": "message templates are not supported; send the Message text",
    "ContactID": "address-book destinations are not supported; give the number",
    "GroupID": "address-book destinations are not supported; give the numbers",
    "Files": "attachments are not supported",
    "WebhookCallbackURL": "per-message webhooks are not supported; configure a bestsms_json or "
    "bestsms_xml webhook for the account",
    "ReportTo": "email reports are not supported yet",
}
_NUMBER_KEYS = ("ToNumber", "MobilePhone", "Recipient")


def _string(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValidationError(f"{name} must be a string", field=name)
    return str(value)


def _label(data: dict[str, Any], name: str) -> str | None:
    """A tag kept with the message and shown in polls: one line of at most 200 characters."""
    value = _string(data, name)
    if value is not None and (len(value) > 200 or any(ord(ch) < 32 for ch in value)):
        raise ValidationError(f"{name} must be one line of at most 200 characters", field=name)
    return value


def _destinations(data: dict[str, Any]) -> list[str]:
    found = [v for v in (_string(data, "Destination"), _string(data, "ToNumber")) if v]
    listed = data.get("Destinations") or []
    if not isinstance(listed, list):
        raise ValidationError("Destinations must be a list", field="Destinations")
    for i, item in enumerate(listed):
        if isinstance(item, str | int) and not isinstance(item, bool):
            found.append(str(item))
            continue
        if not isinstance(item, dict):
            raise ValidationError(f"Destinations[{i}] must be a number or an object", field="Destinations")
        for key in ("ContactID", "GroupID", "GroupCode"):
            if item.get(key):
                raise ValidationError(f"Destinations[{i}].{key}: {UNSUPPORTED['ContactID']}", field=key)
        number = next((item[k] for k in _NUMBER_KEYS if isinstance(item.get(k), str) and item[k]), None)
        if number is None:
            raise ValidationError(f"Destinations[{i}] has no ToNumber", field="Destinations")
        found.append(number)
    return found


async def _submission(request: Request, sender_name: str | None) -> Submission:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise ValidationError(f"Content-Type must be application/json, not {ctype or '(none)'!r}")
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object")
    for name, why in UNSUPPORTED.items():
        if data.get(name):
            raise ValidationError(f"{name}: {why}", field=name)
    return Submission(
        numbers=_destinations(data),
        message=_string(data, "Message") or "",
        message_id=check_message_id(_string(data, "MessageID")),
        email_reply=check_email(_string(data, "SMSEmailReply")),
        test=parse_mode(_string(data, "Mode")),
        from_number=_string(data, "FromNumber"),
        send_time=_string(data, "SendTime"),
        timezone=_string(data, "Timezone"),
        sender_name=sender_name,
        extra_meta={
            "reference": _label(data, "Reference"),
            "sub_account": _label(data, "SubAccount"),
            "department": _label(data, "Department"),
        },
        number_field="Destination",
    )


@router.post(
    "/sms", summary="Send an SMS to one or more destinations (REST API v3.00)", include_in_schema=True
)
async def send_sms(request: Request) -> Response:
    try:
        key_ref, _secret = parse_authorization(request.headers.get("authorization"))
        authenticate = header_authenticator(request)
        sub = await _submission(request, key_ref)
        message_id = await submit(request, authenticate, sub)
    except TextgateError as exc:
        return json_error(exc)
    return FastJSONResponse({"Result": "Success", "MessageID": message_id})


@router.get("/sms/received", summary="SMS received in a time frame (REST API v3.00)", include_in_schema=True)
async def sms_received(request: Request) -> Response:
    now = now_of(request)

    def build(conn: Connection, account: Account, params: dict[str, str]) -> dict[str, Any]:
        page, per_page = paging(params)
        start, end = time_frame(params, opts.account_zone(account.settings), now)
        return received_document(conn, account, start, end, page=page, per_page=per_page)

    return await answer_poll(request, poll_authenticator, build)


@router.get(
    "/sms/{message_id}", summary="Status and replies of a message (REST API v3.00)", include_in_schema=True
)
async def sms_status(message_id: str, request: Request) -> Response:
    return await answer_poll(request, poll_authenticator, status_poll(message_id))


@router.patch(
    "/sms/{message_id}/{action}", summary="Abort or reschedule (not supported)", include_in_schema=True
)
async def sms_action(message_id: str, action: str) -> Response:
    return json_error(ValidationError(f"{action} is not supported by this gateway", field="MessageID"))
