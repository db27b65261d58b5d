"""The BestSMS connector: textgate sending through a BestSMS account (type ``bestsms``).

Sending: ``POST {base_url}/bestsms/send`` as a form with ``Sender``, ``Token``, ``Number`` (E.164 with
``+``, which BestSMS reads in every account region), ``Message`` and ``MessageID``. The MessageID is
textgate's message id in BestSMS's alphabet (:func:`message_id_for`): BestSMS answers a repeated MessageID
with the first answer and sends nothing, so a retry after a lost answer cannot send twice, and delivery
reports name the message by it — it is the carrier id. MMS is not in this API and is refused
(``service_restricted``).

Errors: 401 is a wrong Sender/Token; every other refusal is ``400`` with a plain-text reason and nothing
else, so the reason is classified by :data:`REASON_KINDS` (patterns, first match wins), falling back to
the HTTP status.

Reports: the ``bestsms_json`` and ``bestsms_xml`` webhooks (``<DeliveryReport>``) carry ``MessageID``,
``Status`` and ``Result``: SUCCESS → delivered, FAILED → undelivered (``Result``, the cause, classified by
the same patterns), PENDING → sent. ``Type=SMSReply`` is a reply: reported as an inbound message from
``Destination`` to the number the replied-to message was sent from (looked up in textgate's database by
carrier id). With ``report_token`` set, a report must carry it as ``Token`` (the endpoint's ``token``
option at BestSMS), else it is refused with 401.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from xml.etree import ElementTree

from sqlalchemy import select

from textgate.domain.errors import CarrierError, ErrorKind
from textgate.domain.message import MessageStatus
from textgate.providers.base import (
    CallbackRequest,
    CallbackResponse,
    ConnectorFactory,
    InboundMessage,
    OutboundMessage,
    Receipt,
    ReportSink,
)
from textgate.providers.bestsms.sending import MESSAGE_ID
from textgate.providers.bestsms.wire import REPORT_FIELDS
from textgate.providers.http_upstream import (
    CallbackRefused,
    HttpUpstream,
    ReasonTable,
    Rule,
    callback_json,
    match_reason,
    reason_table,
    response_json,
    same_secret,
)
from textgate.store.db import run_sync
from textgate.store.schema import messages

PATH = "/bestsms/send"

#: BestSMS's error reasons (plain text) → classification; the first pattern that matches wins.
REASON_KINDS: ReasonTable = reason_table(
    (r"sender and token|invalid sender or token", Rule(ErrorKind.AUTHENTICATION, False)),
    (r"\bcredits\b", Rule(ErrorKind.INSUFFICIENT_CREDITS, True)),
    (r"opted out", Rule(ErrorKind.OPTED_OUT, False)),
    (r"\bblock|\bbarred\b", Rule(ErrorKind.DESTINATION_BLOCKED, False)),
    (
        r"^FromNumber\b|number to send from|assigned to another account|not an active number|"
        r"not a number of this account|own numbers",
        Rule(ErrorKind.INVALID_SENDER, False),
    ),
    (
        r"^Number\b|destination prefixes|not a valid phone number|unknown subscriber",
        Rule(ErrorKind.INVALID_DESTINATION, False),
    ),
    (r"^Message\b|\bparts?\b|\bcharacters\b", Rule(ErrorKind.INVALID_CONTENT, False)),
    (r"^MessageID\b|already used|new, unique", Rule(ErrorKind.CONFLICT, False)),
)
#: Report ``Status`` → textgate status.
REPORT_STATUS: dict[str, MessageStatus] = {
    "SUCCESS": MessageStatus.DELIVERED,
    "FAILED": MessageStatus.UNDELIVERED,
    "PENDING": MessageStatus.SENT,
}
REPLY_TYPE = "SMSReply"
_NOT_MESSAGE_ID = re.compile(r"[^A-Za-z0-9-]")


def message_id_for(message_id: str) -> str:
    """textgate's id as a BestSMS MessageID (letters, digits, hyphens; at most 40): ``msg_x`` → ``msg-x``."""
    out = _NOT_MESSAGE_ID.sub("-", message_id)[:40]
    assert MESSAGE_ID.fullmatch(out), out
    return out


def reason_rule(text: str) -> Rule | None:
    return match_reason(REASON_KINDS, text)


class BestSmsConnector(HttpUpstream):
    PROVIDER = "bestsms"
    REQUIRED: ClassVar[dict[str, str]] = {"sender": "text", "token": "text"}
    OPTIONAL: ClassVar[dict[str, tuple[str, Any]]] = {"report_token": ("text", None)}

    async def send(self, message: OutboundMessage) -> str:
        if message.media:
            raise CarrierError(
                "BestSMS's API sends text only", kind=ErrorKind.SERVICE_RESTRICTED, retryable=False
            )
        form = {
            "Sender": self.config.values["sender"],
            "Token": self.config.values["token"],
            "Number": message.to_addr,
            "Message": message.body,
            "MessageID": message_id_for(message.id),
        }
        response = await self.request("POST", PATH, data=form)
        body = response_json(response)
        if response.status_code == 200 and body.get("Result") == "Success" and body.get("MessageID"):
            return str(body["MessageID"])
        text = response.text.strip()
        rule = reason_rule(text) if 400 <= response.status_code < 500 else None
        if rule is None:
            raise self.status_error(response, text or None)
        raise self.error(
            f"bestsms answered {response.status_code}: {text}", rule, status=response.status_code
        )

    async def handle_callback(self, request: CallbackRequest, sink: ReportSink) -> CallbackResponse:
        report = _report(request)
        expected = self.config.values.get("report_token")
        if expected and not same_secret(report.get("Token"), expected):
            raise CallbackRefused("wrong Token in the report", status=401)
        message_id = report.get("MessageID")
        if not message_id:
            raise CallbackRefused("the report names no MessageID")
        if report.get("Type") == REPLY_TYPE:
            return await self.report_inbound(
                sink,
                InboundMessage(
                    from_addr=str(report.get("Destination") or ""),
                    to_addr=await self._sent_from(message_id),
                    body=str(report.get("Message") or ""),
                    raw=report,
                ),
            )
        status = REPORT_STATUS.get(str(report.get("Status", "")).upper())
        if status is None:
            raise CallbackRefused(f"unknown Status {report.get('Status')!r}")
        failed = status is MessageStatus.UNDELIVERED
        result = str(report.get("Result") or "")
        rule = reason_rule(result) if failed else None
        receipt = Receipt(
            carrier_id=message_id,
            status=status,
            error_kind=(rule.kind if rule else ErrorKind.UNKNOWN) if failed else None,
            error_message=(result or None) if failed else None,
            raw=report,
        )
        return await self.report(sink, [receipt])

    async def _sent_from(self, carrier_id: str) -> str:
        """The number the replied-to message was sent from (the reply's recipient); "" if unknown."""
        engine = self.ctx.engine
        if engine is None:
            return ""

        def lookup() -> object:
            with engine.connect() as conn:
                return conn.execute(
                    select(messages.c.from_addr).where(
                        messages.c.connector == self.name, messages.c.carrier_id == carrier_id
                    )
                ).scalar()

        found = await run_sync(engine, lookup)
        return str(found or "")


def _report(request: CallbackRequest) -> dict[str, str]:
    """A JSON or XML (``<DeliveryReport>``) report's fields."""
    ctype = request.headers.get("content-type", "")
    if "xml" in ctype or request.body.lstrip().startswith(b"<"):
        if b"<!DOCTYPE" in request.body.upper():
            # BestSMS's reports declare no DTD; refusing one rules out entity expansion attacks.
            raise CallbackRefused("a report must not declare a DTD")
        try:
            root = ElementTree.fromstring(request.body)  # noqa: S314 - DTDs refused above
        except ElementTree.ParseError as exc:
            raise CallbackRefused(f"the report is not XML: {exc}") from exc
        return {child.tag: child.text or "" for child in root if child.tag in REPORT_FIELDS}
    return {k: str(v) for k, v in callback_json(request.body).items() if k in REPORT_FIELDS and v is not None}


CONNECTOR_TYPES: dict[str, ConnectorFactory] = {"bestsms": BestSmsConnector.factory}
