"""Text-Connect's wire vocabulary: its negative error codes, its status words, its dates, and the shape of an
inbound message forwarded to a customer's page (the ``textconnect`` webhook format).

Shared by the dialect (textgate serving Text-Connect's API) and any client of it, so each table is written
once. Answers are plain text; an error is its code, and with ``ShowErrorMessage`` the code's text on the
line beneath.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select

from textgate.domain.errors import ErrorKind
from textgate.domain.message import MessageStatus
from textgate.service.accounts import zone_of
from textgate.service.lists import mail_merge
from textgate.store.schema import accounts
from textgate.webhooks.formats import (
    Endpoint,
    OptionCheck,
    RenderContext,
    Rendered,
    Renderer,
    choice_option,
    text_option,
)

#: Every error code of the API, with its text as Text-Connect words it.
ERRORS: dict[int, str] = {
    -100: "Not Enough Credits",
    -101: "Invalid CreditID",
    -200: "Invalid Contact",
    -300: "General Database Error",
    -301: "Unknown Error",
    -302: "Return XML Error",
    -303: "Received XML Error",
    -400: "Some numbers in list failed",
    -401: "Invalid Destination Address",
    -402: "Invalid Source Address \u2013 Alphanumeric too long",
    -403: "Invalid Source Address \u2013 Invalid Number",
    -404: "Blank Body",
    -405: "Invalid Validity Period",
    -406: "No Route Available",
    -407: "Invalid Schedule Date",
    -408: "Distribution List is Empty",
    -409: "Group is Empty",
    -410: "Invalid Distribution List",
    -411: "You have exceeded the limit of messages you can send in a single day to a single number",
    -412: "Number is blacklisted",
    -414: "Invalid Group",
    -501: "Unknown Username/Password",
    -502: "Unknown Action",
    -503: "Unknown Message ID",
    -504: "Invalid From Timestamp",
    -505: "Invalid To Timestamp",
    -506: "Source Address Not Allowed (Email2SMS)",
    -507: "Invalid/Missing Details",
    -508: "Error Creating User",
    -509: "Unknown/Invalid User",
    -510: "You cannot set a user\u2019s credits to be less than 0",
    -511: "The system is down for maintenance",
    -512: "User Suspended",
    -513: "License in use",
    -514: "License expired",
    -515: "No License available",
    -516: "Unknown List",
    -517: "Unable to create List",
    -518: "Blank or Invalid Source Address",
    -519: "Blank Message Body",
    -520: "Unknown Group",
    -601: "Unknown Report Type",
    -701: "No UserID Specified",
    -702: "Invalid Amount Specified",
    -703: "Invalid Currency Requested",
}

#: Background-send errors are answered as JSON, with the texts of the GetBGSendMessages section.
BG_ERRORS: dict[int, str] = {
    -521: "Unknown Background SendID",
    -522: "Background Send Not Finished",
    -523: "No messages were found",
}

#: Why one recipient of a send was refused at acceptance → the code answered in its place.
REFUSAL_CODES: dict[str, int] = {
    ErrorKind.OPTED_OUT.value: -412,
    ErrorKind.DESTINATION_BLOCKED.value: -412,
    ErrorKind.RATE_LIMITED.value: -411,
    ErrorKind.INVALID_DESTINATION.value: -401,
    ErrorKind.GEOGRAPHIC_RESTRICTION.value: -406,
    ErrorKind.ROUTING_ERROR.value: -406,
}

#: textgate's statuses in Text-Connect's words (its document shows "Sent").
STATUS_WORDS: dict[str, str] = {
    MessageStatus.QUEUED.value: "Pending",
    MessageStatus.SCHEDULED.value: "Scheduled",
    MessageStatus.SENDING.value: "Pending",
    MessageStatus.SENT.value: "Sent",
    MessageStatus.DELIVERED.value: "Delivered",
    MessageStatus.UNDELIVERED.value: "Undelivered",
    MessageStatus.FAILED.value: "Failed",
    MessageStatus.EXPIRED.value: "Expired",
    MessageStatus.REJECTED.value: "Rejected",
    MessageStatus.RECEIVED.value: "Received",
    MessageStatus.CANCELED.value: "Failed",
}

DATE_FORMAT = "%Y%m%d%H%M%S"


def error_text(code: int, show: bool, detail: list[str] | None = None) -> str:
    """``-401``, or with ``show`` ``-401\\nInvalid Destination Address`` (plus any detail lines)."""
    lines = [str(code)]
    if show:
        lines.append(ERRORS.get(code) or BG_ERRORS.get(code) or "")
    lines.extend(detail or [])
    return "\n".join(lines)


def parse_date(raw: str | None, zone_name: str | None) -> datetime | None:
    """``YYYYMMDDHHMMSS`` in the account's time zone, as an aware datetime; None when it is not one."""
    text = (raw or "").strip()
    if len(text) != 14 or not text.isdigit():
        return None
    try:
        naive = datetime.strptime(text, DATE_FORMAT)
    except ValueError:
        return None
    return naive.replace(tzinfo=zone_of(zone_name))


def digits(address: str | None) -> str:
    """Text-Connect's number form: international digits without ``+`` (an alphanumeric sender unchanged)."""
    return (address or "").removeprefix("+")


def part_ids(message_id: str, segments: int) -> list[str]:
    """Ids for each part of a long message: the message's own id for the first, then ``<id>-2``, ..."""
    return [message_id] + [f"{message_id}-{n}" for n in range(2, max(1, segments) + 1)]


def message_id_of(part_id: str) -> str:
    head, sep, tail = part_id.rpartition("-")
    return head if sep and tail.isdigit() and head else part_id


# -- inbound forwarding -------------------------------------------------------------------------------


def render_forward(
    event_type: str, data: dict[str, Any], endpoint: Endpoint, ctx: RenderContext
) -> Rendered | None:
    """An inbound message as Text-Connect forwards it to a virtual mobile number's page.

    Endpoint options: ``method`` (GET, the default, or POST as a form), ``auth`` (passed through as is),
    ``mailmerge_list`` (a distribution list: when the sender is in it, its MMName, MMEmail and MM1–MM5
    are added). ``receivedts`` is in the account's time zone.
    """
    if event_type != "message.received":
        return None
    settings = ctx.conn.execute(
        select(accounts.c.settings).where(accounts.c.id == endpoint.account_id)
    ).scalar()
    zone = zone_of((settings or {}).get("timezone"))
    received = datetime.fromisoformat(str(data["created_at"]).replace("Z", "+00:00")).astimezone(zone)
    params: dict[str, str] = {
        "source": digits(data.get("from")),
        "dest": digits(data.get("to")),
        "msg": data.get("body") or "",
        "id": data["id"],
        "receivedts": received.strftime("%Y-%m-%d %H:%M:%S"),
        "auth": str(endpoint.options.get("auth") or ""),
    }
    list_name = endpoint.options.get("mailmerge_list")
    if list_name and data.get("from"):
        entry = mail_merge(ctx.conn, endpoint.account_id, str(list_name), str(data["from"]))
        if entry is not None:
            params["MMName"] = entry.name or ""
            params["MMEmail"] = entry.email or ""
            values = list(entry.fields) + [""] * 5
            for i in range(5):
                params[f"MM{i + 1}"] = values[i]
    if str(endpoint.options.get("method") or "GET").upper() == "POST":
        return Rendered(
            body=urlencode(params), method="POST", content_type="application/x-www-form-urlencoded"
        )
    return Rendered(body="", method="GET", content_type=None, query=params)


FORMATS: dict[str, Renderer] = {"textconnect": render_forward}
#: Text-Connect's forwarding carries inbound messages only.
FORMAT_EVENTS: dict[str, frozenset[str]] = {"textconnect": frozenset({"message.received"})}
#: What the forwarding format reads from its endpoint's options.
FORMAT_OPTIONS: dict[str, dict[str, OptionCheck]] = {
    "textconnect": {
        "auth": text_option(200),
        "mailmerge_list": text_option(100),
        "method": choice_option("GET", "POST"),
    }
}
