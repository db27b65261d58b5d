"""The SMPP 3.4 connector: sessions (binds) to one SMSC, submitting, and what the SMSC reports back.

Submitting (:meth:`SmppConnector.submit_many`): each message is split and encoded by
:mod:`textgate.providers.smpp.parts`; every part is one ``submit_sm`` in the connector-wide queue that
all bound sessions write from (:mod:`textgate.providers.smpp.session`). What each message comes to:

* every part accepted: the carrier id (of the first part, for a long message, with every part's id);
* throttled, or not written within ``queue_timeout`` (window full, paced): :class:`Deferred` - never
  left textgate, not an attempt;
* written but not answered (timeout, connection dropped): :class:`Unknown` - waits ``resubmit_after``
  seconds for a late answer (:meth:`_late`) before it is submitted again;
* refused by the SMSC: :class:`CarrierError` through :attr:`SmppConnector.STATUS_ERRORS` (anything not
  listed is a retryable provider error);
* a long message with some parts accepted and others not: :class:`Partial`. The parts taken are stored
  with the message; the next round sends only the others, with the **same concatenation reference**
  (derived from the message id, so it survives restarts) and part numbers, so the handset gets one set.

Receipts and inbound messages (:mod:`textgate.providers.smpp.delivering`) are stored through the sink
(a :class:`~textgate.providers.base.DurableSink`) before their ``deliver_sm`` is answered; nothing about
delivery lives only in this process's memory.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
import zlib
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from aiosmpplib import (  # type: ignore[import-untyped]
    NPI,
    TON,
    BindMode,
    OptionalParam,
    SmppCommandStatus,
)
from aiosmpplib.protocol import DEFAULT_ENCODING  # type: ignore[import-untyped]
from prometheus_client import Counter

from textgate.domain.errors import CarrierError, ErrorKind
from textgate.providers.base import (
    Connector,
    Deferred,
    DurableSink,
    Health,
    LateAnswer,
    OutboundMessage,
    Partial,
    ReportSink,
    SubmitOutcome,
    Submitted,
    Unknown,
)
from textgate.providers.smpp.config import SmppConfig, config_from_table
from textgate.providers.smpp.delivering import Deliveries
from textgate.providers.smpp.pacing import Pacer
from textgate.providers.smpp.parts import LIBRARY_ENCODING, Part, plan_parts
from textgate.providers.smpp.pdus import Address, TrustedSubmitSm
from textgate.providers.smpp.receipts import canonical_id
from textgate.providers.smpp.session import (
    CODECS,
    Accepted,
    NoAnswer,
    NotSent,
    PduResult,
    Refused,
    Session,
    SessionConfig,
    SubmitItem,
    SubmitQueue,
    TokenBucket,
    status_name,
)

log = logging.getLogger(__name__)

LATE = Counter(
    "textgate_smpp_late_answers_total",
    "submit_sm_resp that came after their submit had timed out, by what they said",
    ["connector", "outcome"],
)

# TLV tags (SMPP 3.4 5.3.2).
SAR_MSG_REF_NUM = 0x020C
SAR_TOTAL_SEGMENTS = 0x020E
SAR_SEGMENT_SEQNUM = 0x020F

_DIGITS = re.compile(r"^[0-9]+$")


def _all_digits(text: str) -> bool:
    """Non-empty and ASCII digits only (``str.isdigit`` alone takes other scripts' digits too)."""
    return text.isdigit() and text.isascii()


def concat_reference(message_id: str) -> int:
    """The concatenation reference of a message's parts (16 bits; UDH uses the low 8): derived from the
    message id, so a part sent again later - by this process or after a restart - carries the same one."""
    return zlib.crc32(message_id.encode()) & 0xFFFF or 1


_S = SmppCommandStatus


class SmppConnector(Connector):
    """SMPP 3.4 over textgate's own sessions (aiosmpplib PDUs); see the module docstring."""

    #: submit_sm_resp command_status -> (error kind, retryable). Not listed: provider_error, retryable.
    #: (ESME_RTHROTTLED and ESME_RMSGQFUL never get here: the session paces and sends them again.)
    STATUS_ERRORS: ClassVar[Mapping[int, tuple[ErrorKind, bool]]] = {
        _S.ESME_RTHROTTLED: (ErrorKind.THROTTLED, True),
        _S.ESME_RMSGQFUL: (ErrorKind.THROTTLED, True),
        _S.ESME_RSYSERR: (ErrorKind.PROVIDER_ERROR, True),
        _S.ESME_RSUBMITFAIL: (ErrorKind.PROVIDER_ERROR, True),
        _S.ESME_RUNKNOWNERR: (ErrorKind.PROVIDER_ERROR, True),
        _S.ESME_RX_T_APPN: (ErrorKind.PROVIDER_ERROR, True),
        _S.ESME_RINVBNDSTS: (ErrorKind.PROVIDER_ERROR, True),
        _S.ESME_RINVDSTADR: (ErrorKind.INVALID_DESTINATION, False),
        _S.ESME_RINVDSTTON: (ErrorKind.INVALID_DESTINATION, False),
        _S.ESME_RINVDSTNPI: (ErrorKind.INVALID_DESTINATION, False),
        _S.ESME_RINVNUMDESTS: (ErrorKind.INVALID_DESTINATION, False),
        _S.ESME_RINVSRCADR: (ErrorKind.INVALID_SENDER, False),
        _S.ESME_RINVSRCTON: (ErrorKind.INVALID_SENDER, False),
        _S.ESME_RINVSRCNPI: (ErrorKind.INVALID_SENDER, False),
        _S.ESME_RINVMSGLEN: (ErrorKind.INVALID_CONTENT, False),
        _S.ESME_RINVESMCLASS: (ErrorKind.INVALID_CONTENT, False),
        _S.ESME_RINVDFTMSGID: (ErrorKind.INVALID_CONTENT, False),
        _S.ESME_RINVPARLEN: (ErrorKind.INVALID_CONTENT, False),
        _S.ESME_RINVOPTPARAMVAL: (ErrorKind.INVALID_CONTENT, False),
        _S.ESME_RINVOPTPARSTREAM: (ErrorKind.INVALID_CONTENT, False),
        _S.ESME_ROPTPARNOTALLWD: (ErrorKind.INVALID_CONTENT, False),
        _S.ESME_RMISSINGOPTPARAM: (ErrorKind.INVALID_CONTENT, False),
        _S.ESME_RINVSERTYP: (ErrorKind.SERVICE_RESTRICTED, False),
        _S.ESME_RINVREGDLVFLG: (ErrorKind.SERVICE_RESTRICTED, False),
        _S.ESME_RINVPRTFLG: (ErrorKind.SERVICE_RESTRICTED, False),
        _S.ESME_RINVSCHED: (ErrorKind.SERVICE_RESTRICTED, False),
        _S.ESME_RINVEXPIRY: (ErrorKind.SERVICE_RESTRICTED, False),
        _S.ESME_RX_P_APPN: (ErrorKind.DESTINATION_BLOCKED, False),
        _S.ESME_RX_R_APPN: (ErrorKind.DESTINATION_BLOCKED, False),
        _S.ESME_RDELIVERYFAILURE: (ErrorKind.ROUTING_ERROR, False),
    }

    def __init__(self, config: SmppConfig) -> None:
        self.config = config
        self.name = config.name
        self.sessions: list[Session] = []
        self.queue: SubmitQueue | None = None
        self.deliveries = Deliveries(self)
        self._sink: DurableSink | None = None
        self._late_tasks: set[asyncio.Task[None]] = set()
        self._settle_until = 0.0
        c = config
        self._kinds = (  # (TON, NPI) of international, national and alphanumeric addresses
            (TON(c.international_ton), NPI(c.international_npi)),
            (TON(c.national_ton), NPI(c.national_npi)),
            (TON(c.alphanumeric_ton), NPI(c.alphanumeric_npi)),
        )

    # -- life -------------------------------------------------------------------------------------
    async def start(self, sink: ReportSink) -> None:
        if not isinstance(sink, DurableSink):
            raise TypeError("the SMPP connector needs a sink that stores early receipts and message parts")
        c = self.config
        self._sink = sink
        self.deliveries.sink = sink
        self.queue = SubmitQueue()
        throughput = TokenBucket(c.throughput) if c.throughput > 0 else None
        modes = (
            [BindMode.TRANSCEIVER]
            if c.bind_mode == "transceiver"
            else [BindMode.TRANSMITTER, BindMode.RECEIVER]
        )
        self.sessions = [
            Session(
                label=f"{c.name}-{index}-{mode.name.lower()}",
                connector=c.name,
                config=SessionConfig(
                    host=c.host,
                    port=c.port,
                    system_id=c.system_id,
                    password=c.password,
                    system_type=c.system_type,
                    mode=mode,
                    window=c.window,
                    enquire_link=c.enquire_link,
                    socket_timeout=c.socket_timeout,
                    submit_timeout=c.submit_timeout,
                    reconnect_initial=c.reconnect_initial,
                    reconnect_max=c.reconnect_max,
                    late_window=c.resubmit_after + c.submit_timeout,
                ),
                queue=self.queue,
                throughput=throughput,
                classify=self.classify,
                on_deliver=self.deliveries.handle,
                on_late=self._late,
                on_bound=self._bound,
                pacer=Pacer(floor=c.min_rate),
            )
            for index in range(c.binds)
            for mode in modes
        ]
        for session in self.sessions:
            session.start()

    async def stop(self) -> None:
        if self.queue is not None:
            self.queue.drain(NotSent("the gateway is stopping"))
        await asyncio.gather(*(s.stop(self.config.socket_timeout) for s in self.sessions))
        if self._late_tasks:
            await asyncio.wait(set(self._late_tasks), timeout=self.config.socket_timeout)
        self.sessions = []

    def health(self) -> Health:
        bound = sum(1 for s in self.sessions if s.bound)
        if not self.sessions or bound == 0:
            return Health.DOWN
        return Health.UP if bound == len(self.sessions) else Health.DEGRADED

    def bind_statuses(self) -> list[str | None]:
        """Each session's last bind answer (``ESME_ROK``, ``ESME_RINVPASWD``, ...; None: none yet)."""
        return [s.last_bind_status for s in self.sessions]

    async def wait_bound(self, timeout: float) -> Health:
        """Wait until every session is bound (or ``timeout``); the health then."""
        loop = asyncio.get_running_loop()
        until = loop.time() + timeout
        while self.health() is not Health.UP and loop.time() < until:
            await asyncio.sleep(0.02)
        return self.health()

    def _bound(self) -> None:
        """A session bound. The first after none was: let what the SMSC kept for us come in first."""
        if sum(1 for s in self.sessions if s.bound) <= 1:
            self._settle_until = time.monotonic() + self.config.bind_settle

    def capacity(self) -> int | None:
        senders = [s for s in self.sessions if s.can_submit and s.bound]
        if not senders or time.monotonic() < self._settle_until:
            return 0
        rates = [s.rate() for s in senders]
        queued = len(self.queue) if self.queue is not None else 0
        c = self.config
        if c.throughput > 0:
            limit = c.throughput
        elif any(r is None for r in rates):
            return None
        else:
            limit = sum(r for r in rates if r is not None)
        # What can be written in half the queue timeout, plus the windows' room, less what already waits.
        room = sum(max(0, s.room) for s in senders)
        return max(0, int(limit * c.queue_timeout / 2) + room - queued)

    def round_seconds(self) -> float:
        # Queued up to queue_timeout, then written and answered within submit_timeout.
        return self.config.queue_timeout + self.config.submit_timeout + self.config.socket_timeout

    def view(self) -> dict[str, Any]:
        """Per session: bound, window room and pacing (for /healthz)."""
        return {
            "sessions": [
                {
                    "label": s.label,
                    "bound": s.bound,
                    "in_flight": len(s.inflight),
                    "rate": None if (r := s.rate()) is None else round(r, 1),
                    "throttles": s.pacer.throttles,
                }
                for s in self.sessions
            ],
            "queued": len(self.queue) if self.queue is not None else 0,
        }

    # -- errors -----------------------------------------------------------------------------------
    @classmethod
    def classify(cls, status: int) -> CarrierError:
        kind, retryable = cls.STATUS_ERRORS.get(status, (ErrorKind.PROVIDER_ERROR, True))
        return CarrierError(
            f"the SMSC refused the message: {status_name(status)}",
            kind=kind,
            retryable=retryable,
            carrier="smpp",
            command_status=status,
        )

    # -- addresses --------------------------------------------------------------------------------
    def address(self, addr: str) -> Any:
        """A PhoneNumber for ``addr``: +international, all-digit national/short code, or alphanumeric."""
        international, national, alphanumeric = self._kinds
        if addr[:1] == "+" and _all_digits(addr[1:]):
            return Address(addr[1:], *international)
        if _all_digits(addr):
            return Address(addr, *national)
        return Address(addr, *alphanumeric)

    @staticmethod
    def number(address: str, ton: int) -> str:
        """How textgate writes an address received over SMPP: international numbers get their ``+``."""
        if ton == TON.INTERNATIONAL and _DIGITS.match(address):
            return "+" + address
        return address

    # -- submitting -------------------------------------------------------------------------------
    def _submit_sm(self, message: OutboundMessage, part: Part, number: int) -> bytes:
        optional: list[Any] = []
        if part.sar is not None:
            reference, total, sequence = part.sar
            optional = [
                OptionalParam(SAR_MSG_REF_NUM, reference),
                OptionalParam(SAR_TOTAL_SEGMENTS, total),
                OptionalParam(SAR_SEGMENT_SEQNUM, sequence),
            ]
        sm = TrustedSubmitSm(
            short_message=(part.text or " ") if part.short_message is not None else "",
            message_payload=part.payload_text or "",
            source=self.address(message.from_addr),
            destination=self.address(message.to_addr),
            esm_class=part.esm_class,
            registered_delivery=self.config.registered_delivery,
            encoding=LIBRARY_ENCODING[part.encoding],
            optional_params=optional,
            log_id=f"{message.id}/{number}",
        )
        sm.set_encoding_info(DEFAULT_ENCODING, CODECS)
        if part.short_message:
            sm.set_encoded_message(part.short_message)
        pdu: bytes = sm.pdu()
        return pdu

    async def submit(self, message: OutboundMessage) -> str:
        """One message; its carrier id, or CarrierError (for tests and simple callers)."""
        (outcome,) = await self.submit_many([message])
        if isinstance(outcome, str):
            return outcome
        if isinstance(outcome, Submitted):
            return outcome.carrier_id
        if isinstance(outcome, CarrierError):
            raise outcome
        reason = outcome.reason if isinstance(outcome, Deferred | Unknown) else "only some parts were taken"
        raise CarrierError(reason, kind=ErrorKind.PROVIDER_ERROR, retryable=True, carrier="smpp")

    async def submit_many(self, messages: list[OutboundMessage]) -> list[SubmitOutcome]:
        return list(await asyncio.gather(*(self._submit_one(m) for m in messages)))

    async def _submit_one(self, message: OutboundMessage) -> SubmitOutcome:
        queue = self.queue
        if queue is None or not any(s.bound and s.can_submit for s in self.sessions):
            return Deferred(_jitter(2.0), "no SMPP session is bound")
        try:
            parts = plan_parts(message.body, self.config.long_messages, concat_reference(message.id))
            done = dict(message.parts_done or {})
            todo = [(n, p) for n, p in enumerate(parts, start=1) if n not in done]
            pdus = [(n, self._submit_sm(message, p, n)) for n, p in todo]
        except ValueError as exc:
            return CarrierError(str(exc), kind=ErrorKind.INVALID_CONTENT, retryable=False, carrier="smpp")
        total = len(parts)
        if not pdus:  # every part was taken before (a late answer settled the last one)
            return Submitted(done[1], self.name, parts={}, total=total)
        loop = asyncio.get_running_loop()
        until = time.monotonic() + self.config.queue_timeout
        items = []
        for number, pdu in pdus:
            item = SubmitItem(
                pdu=pdu,
                future=loop.create_future(),
                label=f"{message.id}/{number}",
                queue_until=until,
                tag=(message.id, number, total),
            )
            # Not written by then: back to the dispatcher unsent (a throttled PDU is settled when it is
            # answered, so it is never taken back while on the wire).
            loop.call_at(loop.time() + self.config.queue_timeout, _not_written, item)
            queue.put(item)
            items.append((number, item))
        results: list[PduResult] = list(await asyncio.gather(*(item.future for _, item in items)))
        return self._outcome(message, done, total, [(n, r) for (n, _), r in zip(items, results, strict=True)])

    def _outcome(
        self,
        message: OutboundMessage,
        done: dict[int, str],
        total: int,
        results: list[tuple[int, PduResult]],
    ) -> SubmitOutcome:
        accepted = {n: canonical_id(r.message_id) for n, r in results if isinstance(r, Accepted)}
        if len(done) + len(accepted) == total:
            first = done.get(1) or accepted[1]
            if total == 1:
                return first
            return Submitted(first, self.name, parts=accepted, total=total)
        refused = [r.error for _, r in results if isinstance(r, Refused)]
        unknown = tuple(n for n, r in results if isinstance(r, NoAnswer))
        rest: Deferred | Unknown | CarrierError
        if refused:
            permanent = [e for e in refused if not e.retryable]
            rest = (permanent or refused)[0]
        elif unknown:
            reason = next(r.reason for _, r in results if isinstance(r, NoAnswer))
            rest = Unknown(self.config.resubmit_after, reason, connector=self.name)
        else:
            not_sent = [r for _, r in results if isinstance(r, NotSent)]
            throttled = any(r.throttled for r in not_sent)
            rest = Deferred(_jitter(1.0 if throttled else 0.5), not_sent[0].reason)
        if total == 1:
            return rest
        return Partial(accepted=accepted, unknown=unknown, total=total, rest=rest, connector=self.name)

    def _late(self, item: SubmitItem, status: int, message_id: str) -> None:
        """An answer after the submit had timed out: an acceptance is recorded (the message is sent after
        all, and not submitted again); a refusal changes nothing (the resubmission will go)."""
        if status != 0:
            LATE.labels(self.name, "refused").inc()
            log.info("SMPP %s: a late answer to %s: %s", self.name, item.label, status_name(status))
            return
        LATE.labels(self.name, "accepted").inc()
        message, part, total = item.tag
        answer = LateAnswer(message_id=message, carrier_id=canonical_id(message_id), part=part, total=total)
        log.warning("SMPP %s: the SMSC accepted %s late (id %s); recorded", self.name, item.label, message_id)
        assert self._sink is not None
        task = asyncio.create_task(self._record_late(answer))
        self._late_tasks.add(task)
        task.add_done_callback(self._late_tasks.discard)

    async def _record_late(self, answer: LateAnswer) -> None:
        assert self._sink is not None
        try:
            await self._sink.late_answer(self.name, answer)
        except Exception:
            log.exception("SMPP %s: recording the late answer for %s failed", self.name, answer.message_id)


def _not_written(item: SubmitItem) -> None:
    if not item.in_flight and not item.future.done():
        reason = "throttled by the SMSC" if item.throttles else "not written before the queue timeout"
        item.settle(NotSent(reason, throttled=item.throttles > 0))


def _jitter(seconds: float) -> float:
    return seconds * (0.75 + random.random() / 2)


# -- configuration ----------------------------------------------------------------------------------------
def smpp_connector(table: Mapping[str, Any], ctx: Any) -> SmppConnector:
    """An ``[[connectors]]`` table of ``type = "smpp"`` (see :func:`.config.config_from_table`)."""
    return SmppConnector(config_from_table(table))


CONNECTOR_TYPES: Mapping[str, Callable[[Mapping[str, Any], Any], Connector]] = {"smpp": smpp_connector}
