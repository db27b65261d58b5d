"""The TextingLine connector: textgate sending through a TextingLine account (type ``textingline``).

Sending: ``POST {base_url}/api/v1/messaging/message`` with HTTP Basic ``key_id:secret``, one message per
request, ``to``/``from`` in E.164 with ``+``. ``idempotencyKey`` is textgate's message id, so a retry after
a lost answer (timeout, dropped connection) returns the first message instead of sending twice. An MMS is
sent with ``mediaUrl`` when its attachment is known by URL; one held only as bytes cannot be expressed in
TextingLine's API and is refused (``service_restricted``).

Answers: 201 with the message object → its ``id`` is the carrier id. A 201 whose ``status`` is already
``failed`` (refused at acceptance: opted out, blocked) is a permanent refusal of that ``errorType``.
Errors ``{"code", "message", "field"}`` read through :data:`CODE_KINDS` (TextingLine's 33xxx codes) and,
for the generic codes (equal to the HTTP status), :data:`FIELD_KINDS` by the field named; the rest by the
HTTP status (see :mod:`textgate.providers.http_upstream`).

Reports: TextingLine POSTs the message object on every status change (textgate's ``textingline`` webhook
format). ``sent`` → ``sent`` (TextingLine has no separate delivered state, so messages sent through it
end ``sent`` unless a failure follows); ``failed`` → ``undelivered`` with the ``errorType`` as the kind;
``queued`` is ignored. Inbound messages (``direction: inbound``) are reported as received.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

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
from textgate.providers.http_upstream import CallbackRefused, HttpUpstream, Rule, callback_json, response_json
from textgate.providers.textingline import wire

PATH = "/api/v1/messaging/message"

#: TextingLine's own error codes → classification.
CODE_KINDS: dict[int, Rule] = {
    wire.SENDER_NOT_ASSIGNED: Rule(ErrorKind.INVALID_SENDER, False),
    wire.SENDER_NOT_ACTIVE: Rule(ErrorKind.INVALID_SENDER, False),
    wire.UNSUPPORTED_CHARACTERS: Rule(ErrorKind.INVALID_CONTENT, False),
    wire.COMPLIANCE: Rule(ErrorKind.SERVICE_RESTRICTED, False),
    wire.INSUFFICIENT_CREDITS: Rule(ErrorKind.INSUFFICIENT_CREDITS, True),
}
#: A generic 400's ``field`` → classification.
FIELD_KINDS: dict[str, Rule] = {
    "to": Rule(ErrorKind.INVALID_DESTINATION, False),
    "from": Rule(ErrorKind.INVALID_SENDER, False),
    "body": Rule(ErrorKind.INVALID_CONTENT, False),
    "mediaUrl": Rule(ErrorKind.INVALID_CONTENT, False),
}
#: TextingLine ``status`` in a report → textgate status (None: not reported).
REPORT_STATUS: dict[str, MessageStatus | None] = {
    "queued": None,
    "sent": MessageStatus.SENT,
    "failed": MessageStatus.UNDELIVERED,
}


def kind_of(error_type: Any) -> ErrorKind:
    """``errorType`` → kind; textgate's first eleven kinds are TextingLine's vocabulary verbatim."""
    return ErrorKind(error_type) if error_type in wire.ERROR_TYPES else ErrorKind.UNKNOWN


class TextingLineConnector(HttpUpstream):
    PROVIDER = "textingline"
    REQUIRED: ClassVar[dict[str, str]] = {"key_id": "text", "secret": "text"}

    async def send(self, message: OutboundMessage) -> str:
        payload: dict[str, Any] = {
            "to": message.to_addr,
            "from": message.from_addr,
            "body": message.body,
            "idempotencyKey": message.id,
        }
        if message.media:
            url = next((m["url"] for m in message.media if isinstance(m.get("url"), str)), None)
            if url is None:
                raise CarrierError(
                    "TextingLine takes MMS media by URL only; this message's media has none",
                    kind=ErrorKind.SERVICE_RESTRICTED,
                    retryable=False,
                )
            payload["mediaUrl"] = url
        auth = (self.config.values["key_id"], self.config.values["secret"])
        response = await self.request("POST", PATH, json=payload, auth=auth)
        body = response_json(response)
        if response.status_code in (200, 201) and isinstance(body.get("id"), str):
            if body.get("status") == "failed":
                kind = kind_of(body.get("errorType"))
                raise CarrierError(
                    f"textingline refused the message: {body.get('errorMessage') or kind.value}",
                    kind=kind,
                    retryable=False,
                    carrier=self.PROVIDER,
                    carrier_id=body["id"],
                )
            return str(body["id"])
        raise self._error(response, body)

    def _error(self, response: httpx.Response, body: dict[str, Any]) -> CarrierError:
        code, field, text = body.get("code"), body.get("field"), body.get("message")
        rule = CODE_KINDS.get(code) if isinstance(code, int) else None
        if rule is None and response.status_code == 400 and isinstance(field, str):
            rule = FIELD_KINDS.get(field)
        if rule is None:
            return self.status_error(response, text if isinstance(text, str) else None)
        return self.error(
            f"textingline answered {response.status_code} ({code}): {text}", rule, status=response.status_code
        )

    async def handle_callback(self, request: CallbackRequest, sink: ReportSink) -> CallbackResponse:
        event = _event(request.body)
        if event.get("direction") == "inbound":
            return await self.report_inbound(
                sink,
                InboundMessage(
                    from_addr=str(event.get("from") or ""),
                    to_addr=str(event.get("to") or ""),
                    body=str(event.get("body") or ""),
                    carrier_id=str(event["id"]),
                    media=[{"url": event["mediaUrl"]}] if isinstance(event.get("mediaUrl"), str) else None,
                    raw=event,
                ),
            )
        raw_status = event.get("status")
        if raw_status not in REPORT_STATUS:
            raise CallbackRefused(f"unknown status {raw_status!r}")
        status = REPORT_STATUS[str(raw_status)]
        if status is None:
            return CallbackResponse()
        failed = status is MessageStatus.UNDELIVERED
        receipt = Receipt(
            carrier_id=str(event["id"]),
            status=status,
            error_kind=kind_of(event.get("errorType")) if failed else None,
            error_message=str(event.get("errorMessage") or "") or None if failed else None,
            raw=event,
        )
        return await self.report(sink, [receipt])


def _event(raw: bytes) -> dict[str, Any]:
    data = callback_json(raw)
    if not isinstance(data.get("id"), str):
        raise CallbackRefused("expected TextingLine's message object (with an id)")
    return data


CONNECTOR_TYPES: dict[str, ConnectorFactory] = {"textingline": TextingLineConnector.factory}
