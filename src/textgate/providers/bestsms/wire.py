"""BestSMS's vocabulary on the wire: its status words, its time formats, its Job Numbers, and the delivery
and reply reports it POSTs to a customer's webhook (JSON or XML, the customer's choice).

Reports carry the fields of the BestSMS webhook table, in its order: Sender, Token, Type, Destination,
MessageID, JobNumber, SentTime, Status, Result, Message, Price, Detail. Choices where the document is
silent or loose:

* ``Sender``/``Token`` come from the endpoint's ``sender``/``token`` options ("can configure a unique
  Sender/Token"). Without a ``sender`` option the report names the API key (Sender) the message was sent
  with; textgate keeps only digests of secrets, so ``Token`` is empty unless the ``token`` option is set.
* ``MessageID`` is the job's MessageID (the message's ``client_ref``; its textgate id if it has none).
  ``JobNumber`` is eight upper-case hex digits derived from account and MessageID (SHA-256), so every
  report and poll of one job shows the same Job Number without storing one.
* ``SentTime`` is when the report's event happened (delivered, failed, sent, reply received), in the
  endpoint's ``timezone`` option, else the account's ``timezone`` setting, else UTC, written the way the
  document's own example is: ``16/10/2023 13:43 p.m.`` — a 24-hour hour followed by ``a.m.``/``p.m.``.
* ``Status``: delivered → SUCCESS; undelivered, failed, rejected, expired → FAILED; sent → PENDING;
  replies → RECEIVED. Queued and sending are not announced (textgate's core does not announce them).
  ``Result`` is ``delivered``/``sent``, the failure's cause, or ``RECEIVED`` for replies.
* ``Price`` is the credits the message cost after any refund, times the account's
  ``bestsms_price_per_credit`` (default 1), with two decimals (``"1.00"``); replies cost ``"0.00"``.
  ``Detail`` is ``SMSParts:N``.
* Inbound messages are reported (``Type=SMSReply``) only when they thread to an outbound message (see
  ``threads``); others have no MessageID to report against — the inbound poll lists them all.
* XML reports are ``<DeliveryReport>`` with one child element per field, in the same order.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any
from xml.sax.saxutils import escape

import orjson
from sqlalchemy import Connection, func, select

from textgate.domain.message import MessageStatus
from textgate.providers.bestsms import email
from textgate.providers.bestsms import settings as opts
from textgate.providers.bestsms.threads import message_row, thread_of
from textgate.service.accounts import get_account
from textgate.store.schema import ledger_entries
from textgate.webhooks.formats import (
    Endpoint,
    OptionCheck,
    RenderContext,
    Rendered,
    Renderer,
    text_option,
)

log = logging.getLogger(__name__)
_S = MessageStatus
#: Webhook ``Status`` per textgate status; statuses not listed are not reported.
REPORT_STATUS: dict[str, str] = {
    _S.DELIVERED: "SUCCESS",
    _S.UNDELIVERED: "FAILED",
    _S.FAILED: "FAILED",
    _S.REJECTED: "FAILED",
    _S.EXPIRED: "FAILED",
    _S.CANCELED: "FAILED",
    _S.SENT: "PENDING",
}
#: Per-recipient ``Status`` in polls (the REST API's words): everything not final is Pending.
RECIPIENT_STATUS: dict[str, str] = {
    _S.DELIVERED: "Success",
    _S.UNDELIVERED: "Failed",
    _S.FAILED: "Failed",
    _S.REJECTED: "Failed",
    _S.EXPIRED: "Failed",
    _S.CANCELED: "Failed",
}
REPORT_FIELDS = (
    "Sender",
    "Token",
    "Type",
    "Destination",
    "MessageID",
    "JobNumber",
    "SentTime",
    "Status",
    "Result",
    "Message",
    "Price",
    "Detail",
)
# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def job_number(account_id: str, message_id: str) -> str:
    return hashlib.sha256(f"{account_id}:{message_id}".encode()).hexdigest()[:8].upper()


def report_time(at: datetime, tz: tzinfo) -> str:
    """``dd/MM/yyyy HH:mm tt`` as the document shows it: ``16/10/2023 13:43 p.m.``."""
    local = at.astimezone(tz)
    return f"{local:%d/%m/%Y %H:%M} {'a.m.' if local.hour < 12 else 'p.m.'}"


def poll_time(at: datetime | None, tz: tzinfo) -> str | None:
    """The REST API's ``yyyy-MM-dd HH:mm:ss`` in ``tz``."""
    return None if at is None else f"{at.astimezone(tz):%Y-%m-%d %H:%M:%S}"


def result_text(status: str, error_code: str | None, error_message: str | None) -> str:
    """``Result``: the status word, or the cause of a failure."""
    if RECIPIENT_STATUS.get(status) == "Failed":
        return error_message or error_code or status
    return status


def charged(conn: Connection, message_ids: list[str]) -> dict[str, int]:
    """Credits each message cost after refunds (the ledger is the truth; ``credits`` is the price)."""
    if not message_ids:
        return {}
    rows = conn.execute(
        select(ledger_entries.c.message_id, func.sum(ledger_entries.c.amount))
        .where(ledger_entries.c.message_id.in_(message_ids))
        .group_by(ledger_entries.c.message_id)
    ).all()
    return {str(mid): -int(total) for mid, total in rows}


def _when(value: Any, fallback: datetime) -> datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return value if isinstance(value, datetime) else fallback


def _sender_of(meta: Mapping[str, Any] | None) -> str:
    bestsms = (meta or {}).get("bestsms") or {}
    return str(bestsms.get("sender") or "")


def report_fields(
    event_type: str, data: Mapping[str, Any], endpoint: Endpoint, ctx: RenderContext
) -> dict[str, str] | None:
    """The report for one event, field by field, or None when BestSMS would not send one."""
    account = get_account(ctx.conn, endpoint.account_id)
    tz = opts.zone(endpoint.options.get("timezone")) or opts.account_zone(account.settings)
    if event_type == "message.status":
        status = REPORT_STATUS.get(str(data.get("status")))
        if status is None or data.get("direction") != "outbound" or data.get("test"):
            return None
        row = message_row(ctx.conn, str(data["id"])) or {}
        status_name = str(data["status"])
        at_field = {"delivered": "delivered_at", "sent": "sent_at"}.get(status_name, "updated_at")
        cost = charged(ctx.conn, [str(data["id"])]).get(str(data["id"]), 0)
        ref = str(data.get("client_ref") or data["id"])
        fields = {
            "Type": "SMS",
            "Destination": str(data["to"]),
            "SentTime": report_time(_when(data.get(at_field), ctx.now), tz),
            "Status": status,
            "Result": result_text(status_name, data.get("error_code"), data.get("error_message")),
            "Message": "",
            "Price": opts.price(cost, account.settings),
            "Detail": f"SMSParts:{data.get('segments') or 1}",
        }
        sender = _sender_of(row.get("meta"))
    elif event_type == "message.received":
        inbound = message_row(ctx.conn, str(data["id"]))
        if inbound is None:
            return None
        thread = thread_of(ctx.conn, inbound, opts.reply_window(account.settings))
        if thread is None:
            return None
        ref = str(thread.get("client_ref") or thread["id"])
        fields = {
            "Type": "SMSReply",
            "Destination": str(inbound["from_addr"]),
            "SentTime": report_time(inbound["created_at"], tz),
            "Status": "RECEIVED",
            "Result": "RECEIVED",
            "Message": str(inbound["body"]),
            "Price": opts.price(0, account.settings),
            "Detail": f"SMSParts:{inbound['segments']}",
        }
        sender = _sender_of(thread.get("meta"))
    elif event_type == "message.clicked":
        # "For additional analytics, this will be UPDATED"; Result is the event's description.
        click = data.get("click") or {}
        row = message_row(ctx.conn, str(data["id"])) or {}
        ref = str(data.get("client_ref") or data["id"])
        fields = {
            "Type": "SMS",
            "Destination": str(data["to"]),
            "SentTime": report_time(_when(click.get("at"), ctx.now), tz),
            "Status": "UPDATED",
            "Result": f"Link clicked: {click.get('url', '')}",
            "Message": "",
            "Price": opts.price(0, account.settings),
            "Detail": f"SMSParts:{data.get('segments') or 1}",
        }
        sender = _sender_of(row.get("meta"))
    else:
        return None
    fields.update(
        Sender=str(endpoint.options.get("sender") or sender),
        Token=str(endpoint.options.get("token") or ""),
        MessageID=ref,
        JobNumber=job_number(endpoint.account_id, ref),
    )
    return {name: fields[name] for name in REPORT_FIELDS}


def xml_document(root: str, fields: Mapping[str, str]) -> str:
    children = "".join(f"<{k}>{escape(_NOT_XML.sub(chr(0xFFFD), v))}</{k}>" for k, v in fields.items())
    return f'<?xml version="1.0" encoding="utf-8"?>\n<{root}>{children}</{root}>'


def _safe_fields(
    event_type: str, data: dict[str, Any], ep: Endpoint, ctx: RenderContext
) -> dict[str, str] | None:
    # Renderers run inside the transaction that records the event (a carrier's receipts, an inbound
    # message): a report that cannot be rendered is logged and skipped rather than undoing that work.
    try:
        return report_fields(event_type, data, ep, ctx)
    except Exception:
        log.exception("BestSMS report for %s %s not rendered", event_type, data.get("id"))
        return None


def render_json(event_type: str, data: dict[str, Any], ep: Endpoint, ctx: RenderContext) -> Rendered | None:
    fields = _safe_fields(event_type, data, ep, ctx)
    if fields is None:
        return None
    return Rendered(body=orjson.dumps(fields).decode(), content_type="application/json")


def render_xml(event_type: str, data: dict[str, Any], ep: Endpoint, ctx: RenderContext) -> Rendered | None:
    fields = _safe_fields(event_type, data, ep, ctx)
    if fields is None:
        return None
    return Rendered(
        body=xml_document("DeliveryReport", fields), content_type="application/xml; charset=utf-8"
    )


FORMATS: dict[str, Renderer] = {
    "bestsms_json": render_json,
    "bestsms_xml": render_xml,
    email.REPORT_FORMAT: email.render_report_email,
    email.REPLY_FORMAT: email.render_reply_email,
}


def _zone_option(value: Any) -> str:
    if opts.zone(value) is None:
        raise ValueError("must be an IANA time zone name such as Europe/London")
    return str(value).strip()


_REPORT_OPTIONS: dict[str, OptionCheck] = {
    "sender": text_option(100),
    "token": text_option(200),
    "timezone": _zone_option,
}
#: What each format reads from its endpoint's options (``created_by`` marks endpoints textgate made).
FORMAT_OPTIONS: dict[str, dict[str, OptionCheck]] = {
    "bestsms_json": _REPORT_OPTIONS,
    "bestsms_xml": _REPORT_OPTIONS,
    email.REPORT_FORMAT: {"created_by": text_option(40)},
    email.REPLY_FORMAT: {"created_by": text_option(40)},
}
