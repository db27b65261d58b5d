"""Text-Connect's HTTP API at its own path, ``/api``: GET (query string) or POST (form), Token + Action.

Every answer is plain text with HTTP 200, as Text-Connect's clients expect: a value (a message id, ``1``,
a balance, CSV, import results) or a negative error code, with ``ShowErrorMessage`` (set to any value,
even empty) adding the code's text on the line beneath. ``GetBGSendMessages`` answers JSON, as the
document shows.

Choices where the document is silent (also in docs/dialects/textconnect.md):

* ``Token`` is a textgate API secret, checked before anything else: a bad token is ``-501`` and a
  suspended account ``-512`` whatever else is wrong with the request. Parameter names are matched
  without regard to case, like ``Action``; a POST may also carry a flat JSON object.
* Message ids are textgate's (``msg_…``); ``GetAllMessageIDs=1`` lists a long message's parts as the
  message id, then ``<id>-2``, ``<id>-3``…; ``CheckMessageStatus`` accepts either and answers a status word
  (Pending, Scheduled, Sent, Delivered, Undelivered, Failed, Expired, Rejected, Received).
* ``Send`` to several numbers validates each on its own: an invalid one answers ``-401`` in its place, one
  outside the account's allowed prefixes ``-406``, and the others are sent, in one transaction; a recipient
  the account's rules refuse answers ``-412`` (blacklisted or opted out) or ``-411`` (daily limit per
  number) in its place. A send to a single number that is refused is that error (so ``ShowErrorMessage``
  explains it). Not enough credits refuses the whole request (``-100``).
* ``Body`` missing is ``-404``; present but blank ``-519``; longer than 459 characters ``-507``.
  ``SourceAddress`` missing or blank is ``-518``, an alphanumeric one over 11 characters ``-402``, one with
  characters other than A-Z, a-z, 0-9 and space ``-518``, an unusable number (invalid, unregistered,
  another account's, inactive) ``-403``. ``SourceTON`` must be 1 or 5 (else ``-507``) and is kept with
  the message.
* List and group sends: ``ListName`` missing ``-410``, unknown ``-516``, empty ``-408``; ``GroupName``
  missing ``-414``, unknown ``-520``, empty ``-409``. The answer is ``1`` — or ``-400`` when the send ran at
  once (≤ 200 recipients) and some recipients were refused — or, with ``GetBGSendID=1``, the background
  send id (every list/group send has one, so its per-number results can be fetched).
* ``ScheduleDate`` and ``Report``'s ``From``/``To`` are in the account's time zone (setting ``timezone``);
  a schedule date already past sends at once.
* ``CreateUser`` errors always carry text lines beneath the code, as the document describes; a Normal
  user asking is ``-508``. The new user's token is created with it; the parent reads it with
  ``textgate keys create`` or ``POST /v1/users/{id}/keys``. ``UpdateCredits`` from a Normal user (who has
  no users) is ``-509``.
* A request body over the size limit is ``-507``.

Layout: this module has the route, the dispatch by ``Action`` and the sending actions; :mod:`.platform` the
account actions (reports, users, credits, contacts, groups); :mod:`.calls` what all of them share.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import Connection, select

from textgate.api.deps import now_of
from textgate.api.errors import error_response
from textgate.api.sending import accept_send
from textgate.domain.errors import (
    AuthenticationError,
    ErrorKind,
    InsufficientCredits,
    NotFound,
    TextgateError,
    TooLarge,
    ValidationError,
)
from textgate.domain.phone import normalize_number
from textgate.providers.bestsms.web import read_params
from textgate.providers.textconnect import wire
from textgate.providers.textconnect.calls import Call, TCError, authenticate_token, text_answer
from textgate.providers.textconnect.platform import (
    create_user,
    delete_all_contacts,
    delete_all_groups,
    delete_group_action,
    empty_group_action,
    import_contacts,
    report,
    update_credits,
)
from textgate.service import bulk
from textgate.service.accounts import Account, balance
from textgate.service.send import SendRequest
from textgate.store.schema import messages

TAG = "Text-Connect dialect"
router = APIRouter(tags=[TAG])
PATH = "/api"
MAX_BODY = 459
MAX_NUMBERS = 1000
MAX_VALIDITY = 86400
_ALPHANUMERIC = re.compile(r"[A-Za-z0-9 ]+")


# -- actions ----------------------------------------------------------------------------------------


async def check_credits(call: Call) -> Response:
    return text_answer(str(await call.db(lambda conn, acc: balance(conn, acc.id))))


async def check_message_status(call: Call) -> Response:
    raw = (call.get("MessageID") or "").strip()
    if not raw or len(raw) > 64:
        raise TCError(-503)
    message_id = wire.message_id_of(raw)

    def _status(conn: Connection, acc: Account) -> str:
        status = conn.execute(
            select(messages.c.status, messages.c.segments).where(
                messages.c.id == message_id, messages.c.account_id == acc.id
            )
        ).first()
        if status is None or (raw != message_id and raw not in wire.part_ids(message_id, status.segments)):
            raise TCError(-503)
        return wire.STATUS_WORDS[status.status]

    return text_answer(await call.db(_status))


def _source(raw: str | None) -> str:
    sender = (raw or "").strip()
    if not sender:
        raise TCError(-518)
    if any(ch.isalpha() for ch in sender):
        if len(sender) > 11:
            raise TCError(-402)
        if not _ALPHANUMERIC.fullmatch(sender):
            # An ID with characters carriers do not carry is a bad source address, not a bad number.
            raise TCError(-518)
    return sender


def _message(call: Call, account_zone: str | None) -> SendRequest:
    """Everything of a send but its recipients, checked in Text-Connect's terms."""
    sender = _source(call.get("SourceAddress"))
    body = call.get("Body")
    if body is None:
        raise TCError(-404)
    if not body.strip():
        raise TCError(-519)
    if len(body) > MAX_BODY:
        raise TCError(-507, f"Body is {len(body)} characters; at most {MAX_BODY}")
    schedule = None
    if (call.get("ScheduleDate") or "").strip():
        schedule = wire.parse_date(call.get("ScheduleDate"), account_zone)
        if schedule is None:
            raise TCError(-407)
    validity = None
    if (call.get("ValidityPeriod") or "").strip():
        raw = (call.get("ValidityPeriod") or "").strip()
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_VALIDITY:
            raise TCError(-405)
        validity = int(raw)
    ton = (call.get("SourceTON") or "").strip()
    if ton and ton not in ("1", "5"):
        raise TCError(-507, "SourceTON must be 1 (international) or 5 (alphanumeric)")
    return SendRequest(
        sender=sender,
        to=[],
        body=body,
        schedule_at=schedule,
        validity_seconds=validity,
        source="textconnect",
        meta={"source_ton": int(ton)} if ton else None,
        max_recipients=MAX_NUMBERS,
    )


def _send_error(exc: TextgateError) -> TCError:
    """A core refusal of a send, in Text-Connect's codes."""
    if isinstance(exc, InsufficientCredits):
        return TCError(-100)
    if exc.field == "from":
        return TCError(-403)
    if exc.field == "schedule_at":
        return TCError(-407)
    if exc.field == "validity_period":
        return TCError(-405)
    if exc.field and (exc.field == "to" or exc.field.startswith("to[")):
        return TCError(-406 if exc.kind == ErrorKind.GEOGRAPHIC_RESTRICTION else -401)
    if exc.field == "body":
        return TCError(-507, exc.message)
    return TCError(-301, exc.message)


async def send(call: Call) -> Response:
    destination = (call.get("DestinationAddress") or "").strip()
    account = call.account
    assert account is not None  # authenticated by api()
    req = _message(call, account.settings.get("timezone"))
    if destination.lower() in ("list", "group"):
        return await _send_bulk(call, destination.lower(), req)
    if not destination:
        raise TCError(-401)
    raw_numbers = [n.strip() for n in destination.split(",")]
    if len(raw_numbers) > MAX_NUMBERS:
        raise TCError(-507, f"at most {MAX_NUMBERS} numbers per request; send to a list or group instead")
    # The core refuses a whole request for one number outside the account's allowed prefixes; here each
    # number answers for itself, so those are refused (-406) in their place like invalid ones (-401).
    allowed = tuple(account.settings.get("allowed_destination_prefixes") or ())
    valid: list[str] = []
    slots: list[int] = []  # per input number: index into valid, or a negative code answered in its place
    for raw in raw_numbers:
        try:
            e164 = normalize_number(raw, region=account.region, field="DestinationAddress")
        except ValidationError:
            slots.append(-401)
            continue
        if allowed and not e164.startswith(allowed):
            slots.append(-406)
            continue
        valid.append(e164)
        slots.append(len(valid) - 1)
    if not valid:
        return _numbers_answer([str(code) for code in slots])
    req.to = valid
    token = call.get("Token") or ""
    try:
        result = await accept_send(call.request, lambda conn: authenticate_token(conn, token), req)
    except TextgateError as exc:
        raise _send_error(exc) from exc
    sent = result.body["messages"]
    all_parts = call.flag("GetAllMessageIDs")
    out: list[str] = []
    for slot in slots:
        if slot < 0:
            out.append(str(slot))
            continue
        m = sent[slot]
        if m["status"] == "failed":
            out.append(str(wire.REFUSAL_CODES.get(m["error_code"] or "", -401)))
        elif all_parts:
            out.extend(wire.part_ids(m["id"], m["segments"]))
        else:
            out.append(m["id"])
    return _numbers_answer(out)


def _numbers_answer(out: list[str]) -> Response:
    """Ids and codes, one per number; a send to one refused number is that error (so ShowErrorMessage
    explains it), while a refused number among several is only its code, in its place."""
    if len(out) == 1 and out[0].startswith("-"):
        raise TCError(int(out[0]))
    return text_answer(",".join(out))


async def _send_bulk(call: Call, kind: str, message: SendRequest) -> Response:
    name = (call.get("ListName") if kind == "list" else call.get("GroupName")) or ""
    missing, unknown, empty = (-410, -516, -408) if kind == "list" else (-414, -520, -409)
    if not name.strip():
        raise TCError(missing)
    now = now_of(call.request)

    def _accept(conn: Connection, acc: Account) -> bulk.BulkSend:
        try:
            return bulk.accept_bulk_send(
                conn, acc, bulk.BulkSendRequest(target_kind=kind, target=name, message=message), now=now
            )
        except bulk.EmptyTarget as exc:
            raise TCError(empty) from exc
        except NotFound as exc:
            raise TCError(unknown) from exc
        except TextgateError as exc:
            raise _send_error(exc) from exc

    sent: bulk.BulkSend = await call.db(_accept)
    gateway = getattr(call.request.app.state, "gateway", None)
    if gateway is not None:
        gateway.nudge(bulk=True)
    if call.flag("GetBGSendID"):
        return text_answer(sent.id)
    if sent.finished and sent.counts.get("failed", 0) > 0:
        raise TCError(-400)  # the others were sent; ShowErrorMessage still explains the code
    return text_answer("1")


async def get_bg_send_messages(call: Call) -> Response:
    bulk_id = (call.get("BGSendID") or "").strip()

    def _messages(conn: Connection, acc: Account) -> Any:
        try:
            sent = bulk.get_bulk_send(conn, acc, bulk_id)
        except NotFound:
            return -521
        if not sent.finished:
            return -522
        rows = conn.execute(
            select(messages.c.id, messages.c.to_addr, messages.c.status)
            .where(messages.c.batch_id == sent.id, messages.c.account_id == acc.id)
            .order_by(messages.c.id)
        ).all()
        if not rows:
            return -523
        return [
            {"MessageID": r.id, "Destination": wire.digits(r.to_addr), "Status": wire.STATUS_WORDS[r.status]}
            for r in rows
        ]

    result = await call.db(_messages) if bulk_id and len(bulk_id) <= 64 else -521
    if isinstance(result, int):
        result = {"error": str(result), "message": wire.BG_ERRORS[result]}
    return Response(orjson.dumps(result), media_type="application/json")


ACTIONS: dict[str, Callable[[Call], Awaitable[Response]]] = {
    "checkcredits": check_credits,
    "checkmessagestatus": check_message_status,
    "send": send,
    "report": report,
    "createuser": create_user,
    "updatecredits": update_credits,
    "importcontactscsv": import_contacts,
    "deleteallcontacts": delete_all_contacts,
    "deleteallgroups": delete_all_groups,
    "emptygroup": empty_group_action,
    "deletegroup": delete_group_action,
    "getbgsendmessages": get_bg_send_messages,
}


def _param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


_ROUTE: dict[str, Any] = {
    "summary": "Text-Connect HTTP API (Token + Action; query string or form body)",
    "response_class": PlainTextResponse,
    "openapi_extra": {
        "parameters": [
            _param("Token", "Your API secret."),
            _param("Action", "One of: " + ", ".join(sorted(ACTIONS)) + " (any case)."),
            _param("ShowErrorMessage", "Any value: show the error's text on the line beneath its code."),
        ]
    },
}


@router.get(PATH, operation_id="textconnect_api_get", **_ROUTE)
@router.post(PATH, operation_id="textconnect_api_post", **_ROUTE)
async def api(request: Request) -> Response:
    show = False
    try:
        try:
            raw = await read_params(request)
        except ValidationError as exc:
            raise TCError(-507, exc.message) from exc
        params = {k.lower(): v for k, v in raw.items()}
        show = "showerrormessage" in params
        call = Call(request, params)
        # Who is asking comes first: a bad token is -501 (a suspended user -512) whatever else is wrong.
        call.account = await call.db(lambda _conn, acc: acc)
        action = ACTIONS.get((call.get("Action") or "").strip().lower())
        if action is None:
            raise TCError(-502)
        return await action(call)
    except TCError as exc:
        return text_answer(wire.error_text(exc.code, show))
    except TextgateError as exc:
        return text_answer(wire.error_text(_generic_code(exc), show))


def _generic_code(exc: TextgateError) -> int:
    if isinstance(exc, AuthenticationError):
        return -512 if exc.context.get("suspended") else -501
    if isinstance(exc, InsufficientCredits):
        return -100
    if isinstance(exc, ValidationError | TooLarge):
        return -507
    return -301


#: Errors raised before the route runs (a body over the size limit) are answered as Text-Connect codes.
ERROR_PATHS = (PATH,)


def render_error(path: str, exc: TextgateError) -> Response:
    if path.rstrip("/") != PATH:
        # ERROR_PATHS are prefixes: "/api" also begins paths that are not this API's (``/api/v9/…``).
        return error_response(exc)
    return text_answer(wire.error_text(_generic_code(exc), False))
