"""The Betatel connector: textgate sending through a Betatel Connect Hub account (type ``betatel``).

Sending: ``POST {base_url}/api/v1/connect-hub/sms`` with ``x-user-id``/``x-api-key`` headers and JSON
``{"from", "to", "text"}``, numbers as Betatel writes them (international digits without ``+``;
:func:`wire.wire_address`). 200 with ``messageId`` → the carrier id. Betatel takes no idempotency key, so
a transport failure after the request left may, on retry, send twice; that is Betatel's limit. MMS is not
in Betatel's API and is refused (``service_restricted``).

Errors are ``{"statusCode", "message", "error"}``. ``statusCode`` reads through :data:`STATUS_KINDS` — the
reverse of the dialect's ``wire.STATUS_BY_KIND``, so both sides agree — and a 400 through the field its
``message`` leads with (:data:`FIELD_KINDS`: Betatel's messages start with ``to``, ``from`` or ``text``).

Reports: the ``betatel`` event format POSTs the look-up's details object with ``event``: a
``message.status`` event's ``status`` word (``Sent``, ``Delivered``, ``Undelivered``…, the dialect's
``wire.STATUS_NAMES`` read backwards) becomes a receipt keyed by ``messageId``, its ``errorCode`` (a textgate
kind) the receipt's kind; a ``message.received`` event (``direction: inbound``) an inbound message.
"""

from __future__ import annotations

from typing import ClassVar

from textgate.domain.errors import CarrierError, ErrorKind
from textgate.domain.message import NOTIFY_STATUSES, MessageStatus
from textgate.providers.base import (
    CallbackRequest,
    CallbackResponse,
    ConnectorFactory,
    InboundMessage,
    OutboundMessage,
    Receipt,
    ReportSink,
)
from textgate.providers.betatel import wire
from textgate.providers.http_upstream import (
    STATUS_ERRORS,
    CallbackRefused,
    HttpUpstream,
    Rule,
    callback_json,
    error_kind,
    plus_digits,
    response_json,
)

PATH = "/api/v1/connect-hub/sms"

#: Betatel's ``statusCode`` → classification: the dialect's kind per status, read backwards. Kinds that
#: are request-level on the serving side keep their delivery meaning here (rate limited → throttled).
_DELIVERY_KIND = {ErrorKind.RATE_LIMITED: ErrorKind.THROTTLED, ErrorKind.TOO_LARGE: ErrorKind.INVALID_CONTENT}
STATUS_KINDS: dict[int, Rule] = {
    status: Rule(
        _DELIVERY_KIND.get(kind, kind),
        STATUS_ERRORS[status].retryable if status in STATUS_ERRORS else False,
    )
    for kind, status in wire.STATUS_BY_KIND.items()
}
#: A 400's ``message`` leads with the request field it is about.
FIELD_KINDS: dict[str, Rule] = {
    "to": Rule(ErrorKind.INVALID_DESTINATION, False),
    "from": Rule(ErrorKind.INVALID_SENDER, False),
    "text": Rule(ErrorKind.INVALID_CONTENT, False),
}
#: Betatel's status word → textgate status, from the dialect's table.
STATUS_OF_NAME: dict[str, MessageStatus] = {name: MessageStatus(s) for s, name in wire.STATUS_NAMES.items()}
#: Statuses a report may carry (queued/sending are not reports; received is an inbound message): the ones
#: textgate announces.
REPORTED = NOTIFY_STATUSES
#: A message refused downstream after Betatel accepted it has, for textgate, been sent and not delivered.
_AFTER_ACCEPTANCE = {MessageStatus.REJECTED: MessageStatus.UNDELIVERED}


def _field_of(message: str) -> str:
    head = message.split(":", 1)[0].split(" ", 1)[0].strip().strip("'\"")
    return head


class BetatelConnector(HttpUpstream):
    PROVIDER = "betatel"
    REQUIRED: ClassVar[dict[str, str]] = {"user_id": "text", "api_key": "text"}

    async def send(self, message: OutboundMessage) -> str:
        if message.media:
            raise CarrierError(
                "Betatel's API sends text only", kind=ErrorKind.SERVICE_RESTRICTED, retryable=False
            )
        headers = {"x-user-id": self.config.values["user_id"], "x-api-key": self.config.values["api_key"]}
        payload = {
            "from": wire.wire_address(message.from_addr),
            "to": wire.wire_address(message.to_addr),
            "text": message.body,
        }
        response = await self.request("POST", PATH, json=payload, headers=headers)
        body = response_json(response)
        if response.status_code in (200, 201) and isinstance(body.get("messageId"), str):
            return str(body["messageId"])
        text = body.get("message")
        if isinstance(text, list):  # NestJS validation answers a list of messages
            text = "; ".join(str(t) for t in text)
        text = text if isinstance(text, str) else None
        rule = STATUS_KINDS.get(response.status_code)
        if response.status_code == 400 and text:
            rule = FIELD_KINDS.get(_field_of(text), rule)
        if rule is None:
            raise self.status_error(response, text)
        raise self.error(
            f"betatel answered {response.status_code}: {text or response.reason_phrase}",
            rule,
            status=response.status_code,
        )

    async def handle_callback(self, request: CallbackRequest, sink: ReportSink) -> CallbackResponse:
        event = callback_json(request.body)
        message_id = event.get("messageId")
        if not isinstance(message_id, str):
            raise CallbackRefused("expected a Betatel event with a messageId")
        if event.get("direction") == "inbound" or event.get("event") == "message.received":
            return await self.report_inbound(
                sink,
                InboundMessage(
                    from_addr=plus_digits(event.get("from")),
                    to_addr=plus_digits(event.get("to")),
                    body=str(event.get("text") or ""),
                    carrier_id=message_id,
                    raw=event,
                ),
            )
        status = STATUS_OF_NAME.get(str(event.get("status")))
        if status is None:
            raise CallbackRefused(f"unknown status {event.get('status')!r}")
        if status not in REPORTED:
            return CallbackResponse()
        status = _AFTER_ACCEPTANCE.get(status, status)
        failed = status in (MessageStatus.UNDELIVERED, MessageStatus.FAILED, MessageStatus.EXPIRED)
        code = event.get("errorCode")
        kind = error_kind(code)
        receipt = Receipt(
            carrier_id=message_id,
            status=status,
            error_kind=kind if failed else None,
            error_message=(str(event.get("errorMessage") or "") or None) if failed else None,
            raw=event,
        )
        return await self.report(sink, [receipt])


CONNECTOR_TYPES: dict[str, ConnectorFactory] = {"betatel": BetatelConnector.factory}
