"""The TextBetter connectors: textgate sending through a TextBetter account, over v2 (type
``textbetter_v2``) or v1 (type ``textbetter_v1``).

v2: ``POST {base_url}/api/SendOutgoingMessages?code={key_id}`` (the function access code) with JSON
``{"fromNumber", "toNumber": [..], "body", "APIKey": api_key}``, numbers digits-only
(:func:`wire.digits`), one message per request with an ``Idempotency-Key`` header of textgate's message id
(a textgate extension; real TextBetter ignores it). ``201`` with ``RecordID`` → the carrier id
(``CarrierID`` is the downstream carrier's, "when available"). Errors are ``400`` with the same three
fields and a ``message``; problems are joined by ``"; "`` and the first one is classified through
:data:`REASON_KINDS`.

v1: ``GET {base_url}/SendTexts.aspx?KEY=&DID=&ToNumber=&Message=``; HTTP 200 whatever happens, success only
when the body is exactly ``Success!``, else ``Error: <reason>`` (same table). v1 answers no id, so the
carrier id is textgate's own message id.

TextBetter's one documented error, ``Invalid Company/KEY/DID combination``, means a wrong credential *or*
a sender number the account does not own; it cannot tell which, so it is classified ``authentication``
(permanent, health DOWN): a misconfigured sender is as much an operator problem as a wrong key.

MMS (v2 ``images`` with base64 content) is not sent yet: the connector does not read attachment bytes;
an MMS is refused with ``service_restricted``.

Reports: TextBetter has no delivery reports, so messages sent through it end ``sent``. Its inbound
deliveries are taken: v2 JSON ``{"id", "to", "from", "timestamp", "type", "text", "images"}`` and v1
``GET ?From=&To=&Message=`` (either connector type takes either shape).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

import httpx

from textgate.domain.errors import CarrierError, ErrorKind
from textgate.providers.base import (
    CallbackRequest,
    CallbackResponse,
    ConnectorFactory,
    InboundMessage,
    OutboundMessage,
    ReportSink,
)
from textgate.providers.http_upstream import (
    CallbackRefused,
    HttpUpstream,
    ReasonTable,
    Rule,
    callback_json,
    match_reason,
    plus_digits,
    reason_table,
    response_json,
)
from textgate.providers.textbetter import wire

V2_PATH = "/api/SendOutgoingMessages"
V1_PATH = "/SendTexts.aspx"
V1_ERROR = "Error:"

#: TextBetter's error messages → classification; the first pattern found in the first problem wins.
REASON_KINDS: ReasonTable = reason_table(
    (rf"^{wire.INVALID_COMBINATION}$", Rule(ErrorKind.AUTHENTICATION, False)),
    (r"\bcredits\b", Rule(ErrorKind.INSUFFICIENT_CREDITS, True)),
    (r"opted out", Rule(ErrorKind.OPTED_OUT, False)),
    (r"\bblock", Rule(ErrorKind.DESTINATION_BLOCKED, False)),
    (r"^toNumber\b|^to\b|destination prefixes", Rule(ErrorKind.INVALID_DESTINATION, False)),
    (r"^(fromNumber|DID)\b|active number", Rule(ErrorKind.INVALID_SENDER, False)),
    (r"^(body|message|images)\b|\bparts?\b|characters", Rule(ErrorKind.INVALID_CONTENT, False)),
)


def _refusal(connector: HttpUpstream, response: httpx.Response, text: str) -> CarrierError:
    first = text.split("; ", 1)[0].strip()
    rule = match_reason(REASON_KINDS, first)
    if rule is None:
        return connector.status_error(response, text or None)
    return connector.error(f"textbetter refused the message: {text}", rule, status=response.status_code)


def _text_only(message: OutboundMessage) -> None:
    if message.media:
        raise CarrierError(
            "MMS through TextBetter is not supported by this connector yet",
            kind=ErrorKind.SERVICE_RESTRICTED,
            retryable=False,
        )


class _TextBetter(HttpUpstream):
    PROVIDER = "textbetter"

    async def handle_callback(self, request: CallbackRequest, sink: ReportSink) -> CallbackResponse:
        if request.method.upper() == "GET" or not request.body.strip():
            q = {k.lower(): v for k, v in request.query.items()}
            if "from" not in q:
                raise CallbackRefused("expected TextBetter's v1 inbound query (From, To, Message)")
            message = InboundMessage(
                from_addr=plus_digits(q["from"]),
                to_addr=plus_digits(q.get("to")),
                body=q.get("message", ""),
                raw=dict(q),
            )
        else:
            event = callback_json(request.body)
            if not event.get("from"):
                raise CallbackRefused("expected TextBetter's v2 inbound message (id, to, from, text)")
            stamp = event.get("timestamp")
            images = event.get("images")
            message = InboundMessage(
                from_addr=plus_digits(event.get("from")),
                to_addr=plus_digits(event.get("to")),
                body=str(event.get("text") or ""),
                carrier_id=str(event["id"]) if event.get("id") else None,
                received_at=datetime.fromtimestamp(stamp, UTC) if isinstance(stamp, int) else None,
                # Media stays in ``raw``: textgate's inbound media refs are URLs, TextBetter sends bytes.
                media=[{"url": i["url"]} for i in images if isinstance(i, dict) and i.get("url")]
                if isinstance(images, list)
                else None,
                raw=event,
            )
        return await self.report_inbound(sink, message)


class TextBetterV2Connector(_TextBetter):
    REQUIRED: ClassVar[dict[str, str]] = {"key_id": "text", "api_key": "text"}

    async def send(self, message: OutboundMessage) -> str:
        _text_only(message)
        payload = {
            "fromNumber": wire.digits(message.from_addr),
            "toNumber": [wire.digits(message.to_addr)],
            "body": message.body,
            "APIKey": self.config.values["api_key"],
        }
        response = await self.request(
            "POST",
            V2_PATH,
            params={"code": self.config.values["key_id"]},
            json=payload,
            headers={"Idempotency-Key": message.id},
        )
        body = response_json(response)
        record = str(body.get("RecordID") or "")
        if response.status_code in (200, 201) and record and record != "0":
            return record.split(",", 1)[0]
        text = body.get("message")
        if 400 <= response.status_code < 500 and isinstance(text, str):
            raise _refusal(self, response, text)
        raise self.status_error(response, text if isinstance(text, str) else None)


class TextBetterV1Connector(_TextBetter):
    REQUIRED: ClassVar[dict[str, str]] = {"api_key": "text"}

    async def send(self, message: OutboundMessage) -> str:
        _text_only(message)
        params = {
            "KEY": self.config.values["api_key"],
            "DID": wire.digits(message.from_addr),
            "ToNumber": wire.digits(message.to_addr),
            "Message": message.body,
        }
        response = await self.request("GET", V1_PATH, params=params)
        text = response.text.strip()
        if response.status_code == 200 and text == wire.V1_SUCCESS:
            return message.id  # v1 answers no id of its own
        if response.status_code == 200 and text.startswith(V1_ERROR):
            raise _refusal(self, response, text[len(V1_ERROR) :].strip())
        raise self.status_error(response, text or None)


CONNECTOR_TYPES: dict[str, ConnectorFactory] = {
    "textbetter_v2": TextBetterV2Connector.factory,
    "textbetter_v1": TextBetterV1Connector.factory,
}
