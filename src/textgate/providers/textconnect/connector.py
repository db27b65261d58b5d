"""The Text-Connect connector: textgate sending through a Text-Connect account (type ``textconnect``).

Sending: ``POST {base_url}/api`` as a form: ``Token``, ``Action=Send``, ``DestinationAddress`` and
``SourceAddress`` as digits (:func:`wire.digits`), ``SourceTON`` 1 (international) or 5 (alphanumeric),
``Body``. The answer is plain text with HTTP 200: the message id (→ the carrier id; a long message answers
its first part's id, which Text-Connect's status look-up accepts for the whole message) or a negative
code, classified through :data:`CODE_KINDS` (every code of ``wire.ERRORS`` that a send can answer).
Text-Connect takes no idempotency key, so a transport failure after the request left may, on retry, send
twice; that is Text-Connect's limit.

Reports: Text-Connect pushes no delivery reports, so the connector polls ``CheckMessageStatus`` every
``poll_interval`` seconds (default 30; 0 turns polling off) for the messages it has sent and not yet
seen final. What to poll lives in the database, not only in memory: on start the connector reads this
connector's messages still ``sent`` (at most :data:`POLL_BATCH`), and adds each new submission. A status
word (the dialect's ``wire.STATUS_WORDS`` read backwards) that is final becomes a receipt: ``Delivered`` →
delivered; ``Undelivered``, ``Failed``, ``Expired`` as they are, ``Rejected`` (refused downstream after
Text-Connect accepted it) → undelivered. A message still not final after ``poll_for`` seconds (default a
day) is dropped from polling and stays ``sent``.

Inbound: Text-Connect forwards messages to the virtual number's page as ``GET`` (query) or ``POST`` (form)
with ``source``, ``dest``, ``msg``, ``id``, ``receivedts`` and the page's ``auth`` value. With
``callback_secret`` set, that ``auth`` value is accepted in place of the ``secret`` query parameter (it is
what Text-Connect's page configuration lets one set).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from sqlalchemy import select

from textgate.domain.errors import ErrorKind
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
from textgate.providers.http_upstream import (
    CallbackRefused,
    HttpUpstream,
    Poller,
    Rule,
    plus_digits,
    same_secret,
)
from textgate.providers.textconnect import wire
from textgate.store.db import run_sync
from textgate.store.schema import messages

log = logging.getLogger(__name__)

PATH = "/api"
POLL_BATCH = 1000

_K = ErrorKind
#: Text-Connect's codes a send can answer → classification (texts in ``wire.ERRORS``).
CODE_KINDS: dict[int, Rule] = {
    -100: Rule(_K.INSUFFICIENT_CREDITS, True),
    -300: Rule(_K.PROVIDER_ERROR, True),
    -301: Rule(_K.PROVIDER_ERROR, True),
    -302: Rule(_K.PROVIDER_ERROR, True),
    -303: Rule(_K.PROVIDER_ERROR, True),
    -401: Rule(_K.INVALID_DESTINATION, False),
    -402: Rule(_K.INVALID_SENDER, False),
    -403: Rule(_K.INVALID_SENDER, False),
    -404: Rule(_K.INVALID_CONTENT, False),
    -405: Rule(_K.VALIDATION, False),
    -406: Rule(_K.ROUTING_ERROR, False),
    -407: Rule(_K.VALIDATION, False),
    # A daily cap per number: worth trying again later (dispatch's backoff spreads the attempts).
    -411: Rule(_K.THROTTLED, True),
    # "Blacklisted" covers the recipient's opt-out as well as the account's blocklist.
    -412: Rule(_K.DESTINATION_BLOCKED, False),
    -501: Rule(_K.AUTHENTICATION, False),
    -502: Rule(_K.PLATFORM_ERROR, True),
    -507: Rule(_K.VALIDATION, False),
    -511: Rule(_K.PROVIDER_ERROR, True),
    -512: Rule(_K.PERMISSION_DENIED, False),
    -513: Rule(_K.PERMISSION_DENIED, False),
    -514: Rule(_K.PERMISSION_DENIED, False),
    -515: Rule(_K.PERMISSION_DENIED, False),
    -518: Rule(_K.INVALID_SENDER, False),
    -519: Rule(_K.INVALID_CONTENT, False),
}
#: Any other negative code.
OTHER_CODE = Rule(_K.PROVIDER_ERROR, False)

#: Status word → textgate status (``Pending`` reads as queued: not final, keep polling).
STATUS_OF_WORD: dict[str, MessageStatus] = {}
for _status, _word in wire.STATUS_WORDS.items():
    STATUS_OF_WORD.setdefault(_word, MessageStatus(_status))
#: How a final upstream status is reported (a message textgate sent cannot become "rejected").
RECEIPT_STATUS: dict[MessageStatus, MessageStatus] = {
    MessageStatus.DELIVERED: MessageStatus.DELIVERED,
    MessageStatus.UNDELIVERED: MessageStatus.UNDELIVERED,
    MessageStatus.FAILED: MessageStatus.FAILED,
    MessageStatus.EXPIRED: MessageStatus.EXPIRED,
    MessageStatus.REJECTED: MessageStatus.UNDELIVERED,
}


def parse_answer(text: str) -> tuple[str | None, int | None]:
    """(message id, None) or (None, negative code) from a plain-text answer's first line."""
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    if first.startswith("-") and first[1:].isdigit():
        return None, int(first)
    return (first or None), None


class TextConnectConnector(HttpUpstream):
    PROVIDER = "textconnect"
    REQUIRED: ClassVar[dict[str, str]] = {"token": "text"}
    OPTIONAL: ClassVar[dict[str, tuple[str, Any]]] = {
        "poll_interval": ("seconds_or_0", 30.0),
        "poll_for": ("seconds", 86400.0),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: carrier id → when it was submitted (when to give up polling it).
        self.pending: dict[str, datetime] = {}
        self._poller: Poller | None = None

    # -- sending ------------------------------------------------------------------------------------
    async def send(self, message: OutboundMessage) -> str:
        if message.media:
            raise self.error("Text-Connect's API sends text only", Rule(_K.SERVICE_RESTRICTED, False))
        alphanumeric = any(ch.isalpha() for ch in message.from_addr)
        form = {
            "Token": self.config.values["token"],
            "Action": "Send",
            "DestinationAddress": wire.digits(message.to_addr),
            "SourceAddress": wire.digits(message.from_addr),
            "SourceTON": "5" if alphanumeric else "1",
            "Body": message.body,
            "ShowErrorMessage": "1",
        }
        response = await self.request("POST", PATH, data=form)
        if response.status_code != 200:
            raise self.status_error(response)
        carrier_id, code = parse_answer(response.text)
        if code is not None:
            rule = CODE_KINDS.get(code, OTHER_CODE)
            text = wire.ERRORS.get(code, "unknown code")
            raise self.error(f"textconnect answered {code}: {text}", rule, code=code)
        if carrier_id is None:
            raise self.status_error(response, "an empty answer")
        self.pending[carrier_id] = self.ctx.clock()
        return carrier_id

    # -- status polling -----------------------------------------------------------------------------
    async def start(self, sink: ReportSink) -> None:
        await super().start(sink)
        interval = self.config.values["poll_interval"]
        if interval > 0:
            if self.ctx.engine is not None:
                for carrier_id, created in await run_sync(self.ctx.engine, self._unfinished):
                    self.pending.setdefault(carrier_id, created)
            self._poller = Poller(self.name, interval, self.poll)
            self._poller.start()

    async def stop(self) -> None:
        if self._poller is not None:
            await self._poller.stop()
            self._poller = None
        await super().stop()

    def _unfinished(self) -> list[tuple[str, datetime]]:
        with self.ctx.engine.connect() as conn:
            rows = conn.execute(
                select(messages.c.carrier_id, messages.c.created_at)
                .where(
                    messages.c.connector == self.name,
                    messages.c.status == MessageStatus.SENT.value,
                    messages.c.carrier_id.is_not(None),
                )
                .order_by(messages.c.created_at)
                .limit(POLL_BATCH)
            ).all()
        return [(str(r.carrier_id), r.created_at) for r in rows]

    async def status_of(self, carrier_id: str) -> MessageStatus | None:
        """Text-Connect's status of one message (None: not known there, or not readable)."""
        form = {"Token": self.config.values["token"], "Action": "CheckMessageStatus", "MessageID": carrier_id}
        response = await self.request("POST", PATH, data=form)
        word, code = parse_answer(response.text) if response.status_code == 200 else (None, None)
        if code is not None or word is None:
            log.warning("%s: status of %s not readable: %s", self.name, carrier_id, response.text[:200])
            return None
        return STATUS_OF_WORD.get(word)

    async def poll(self) -> int:
        """One round over the pending messages; returns how many receipts were reported."""
        sink = self.sink
        if sink is None:
            return 0
        give_up = self.ctx.clock() - timedelta(seconds=self.config.values["poll_for"])
        receipts: list[Receipt] = []
        for carrier_id, since in list(self.pending.items()):
            status = await self.status_of(carrier_id)
            final = RECEIPT_STATUS.get(status) if status is not None else None
            if status is not None and final is not None:
                failed = final is not MessageStatus.DELIVERED
                receipts.append(
                    Receipt(
                        carrier_id=carrier_id,
                        status=final,
                        error_kind=_K.UNKNOWN if failed else None,
                        error_message=f"Text-Connect status {wire.STATUS_WORDS[status]}" if failed else None,
                        raw={"MessageID": carrier_id, "Status": wire.STATUS_WORDS[status]},
                    )
                )
            elif _utc(since) < _utc(give_up):
                self.pending.pop(carrier_id, None)
        if not receipts:
            return 0
        matched = await sink.receipts(self.name, receipts)
        for receipt, ok in zip(receipts, matched, strict=True):
            if ok:  # not matched: the submission is not recorded yet; ask again next round
                self.pending.pop(receipt.carrier_id, None)
        return sum(matched)

    # -- inbound forwarding -------------------------------------------------------------------------
    def callback_authorized(self, request: CallbackRequest) -> bool:
        # Text-Connect's page configuration carries an ``auth`` value; it may serve as the secret.
        secret = self.config.callback_secret
        return super().callback_authorized(request) or (
            secret is not None and same_secret(_params(request).get("auth"), secret)
        )

    async def handle_callback(self, request: CallbackRequest, sink: ReportSink) -> CallbackResponse:
        p = _params(request)
        if not p.get("source") or not p.get("dest"):
            raise CallbackRefused("expected Text-Connect's forward (source, dest, msg, id, receivedts)")
        message = InboundMessage(
            from_addr=plus_digits(p["source"]),
            to_addr=plus_digits(p["dest"]),
            body=p.get("msg", ""),
            carrier_id=p.get("id") or None,
            raw={k: v for k, v in p.items() if k != "auth"},
        )
        return await self.report_inbound(sink, message, CallbackResponse(200, "OK"))


def _params(request: CallbackRequest) -> dict[str, str]:
    params = {k.lower(): v for k, v in request.query.items()}
    if request.body:
        params.update({k.lower(): v for k, v in parse_qsl(request.body.decode("utf-8", "replace"))})
    return params


def _utc(at: datetime) -> datetime:
    # SQLite hands back naive UTC datetimes; the clock is aware.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


CONNECTOR_TYPES: dict[str, ConnectorFactory] = {"textconnect": TextConnectConnector.factory}
