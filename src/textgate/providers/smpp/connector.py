"""The SMPP 3.4 connector: submits over one or more sessions, reports receipts and inbound messages.

Submitting: a message is split and encoded by :mod:`textgate.providers.smpp.parts`, every part goes to
the same session (the one with the most window room), and ``submit`` returns the canonical id of the
first part. A long message's receipts are rolled up: one :class:`Receipt` for the first part's id once
every part has a final state - delivered if all parts were, otherwise the first failed part's outcome
(after ``part_receipt_wait`` a failure is reported even if other parts never report).

SMSC answers become :class:`CarrierError` through :attr:`SmppConnector.STATUS_ERRORS`; anything not listed
is a retryable provider error (a transient fault is likelier than a malformed request that passed our
own checks).

Receipts: the receipted_message_id / message_state TLVs when present, else the receipt text. A receipt
whose message the sink does not know yet (it overtook the submit_sm_resp, or the dispatcher has not stored
the carrier id yet) is kept and retried every ``receipt_retry_interval`` - and as soon as the dispatcher
has recorded a round (without a dispatcher: right after each submit returns) - for ``receipt_retry_for``
seconds. Receipts and inbound messages are handed to the sink before the deliver_sm is answered, so a
crash in between makes the SMSC send them again rather than lose them; a kept receipt for an id this
process submitted has its deliver_sm answered once it is applied (or after ``receipt_hold`` seconds).
The parts of long messages (for the roll-up) are also stored through a sink that keeps connector memory
(:mod:`textgate.providers.smpp.longparts`). What is kept in memory only: receipts waiting to be
retried, and parts of long inbound messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

from aiosmpplib import (  # type: ignore[import-untyped]
    NPI,
    TON,
    BindMode,
    OptionalParam,
    SmppCommandStatus,
)
from prometheus_client import Gauge

from textgate.domain.errors import CarrierError, ErrorKind
from textgate.domain.message import MessageStatus
from textgate.providers.base import (
    Connector,
    ConnectorMemory,
    Health,
    InboundMessage,
    OutboundMessage,
    Receipt,
    ReportSink,
)
from textgate.providers.smpp.config import SmppConfig
from textgate.providers.smpp.longparts import LongMessages
from textgate.providers.smpp.parts import LIBRARY_ENCODING, Part, plan_parts
from textgate.providers.smpp.pdus import Address, TrustedSubmitSm
from textgate.providers.smpp.receipts import (
    MESSAGE_STATES,
    canonical_id,
    error_text,
    parse_receipt_text,
    receipt_id_candidates,
    stat_outcome,
)
from textgate.providers.smpp.session import Link, TokenBucket
from textgate.providers.smpp.tracking import InboundParts, LongMessage, Parked, ReceiptData

log = logging.getLogger(__name__)
KEPT = Gauge(
    "textgate_smpp_receipts_kept",
    "SMPP receipts kept for retrying because no message had their carrier id yet",
    ["connector"],
)
HELD = Gauge(
    "textgate_smpp_deliver_sm_held",
    "deliver_sm left unanswered while their receipt waits for its submission to be recorded",
    ["connector"],
)

# TLV tags (SMPP 3.4 5.3.2).
RECEIPTED_MESSAGE_ID = 0x001E
MESSAGE_STATE = 0x0427
NETWORK_ERROR_CODE = 0x0423
SAR_MSG_REF_NUM = 0x020C
SAR_TOTAL_SEGMENTS = 0x020E
SAR_SEGMENT_SEQNUM = 0x020F

_ESM_UDHI = 0x40
_DIGITS = re.compile(r"^[0-9]+$")


def _all_digits(text: str) -> bool:
    """Non-empty and ASCII digits only (``str.isdigit`` alone takes other scripts' digits too)."""
    return text.isdigit() and text.isascii()


_S = SmppCommandStatus


class SmppConnector(Connector):
    """SMPP 3.4 over aiosmpplib; see the module docstring."""

    #: submit_sm_resp command_status -> (error kind, retryable). Not listed: provider_error, retryable.
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

    #: deliver_sm esm_class message type (bits 2-5) -> what it is. Others (SME acks, aborts) are ignored.
    DELIVER_KINDS: ClassVar[Mapping[int, str]] = {0: "mo", 1: "receipt", 8: "receipt"}

    def __init__(self, config: SmppConfig) -> None:
        self.config = config
        self.name = config.name
        self._sink: ReportSink | None = None
        self._links: list[Link] = []
        self._rate: TokenBucket | None = None
        self._worker: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._log_ids = itertools.count(1)
        self._refs = itertools.count(random.randrange(1, 0xFFFF))
        self._long = LongMessages(config.name, config.receipt_memory)
        self._recent_ids: OrderedDict[str, None] = OrderedDict()  # single-part ids, for id_format=auto
        self._parked: list[Parked] = []
        self._dispatched = False  # a dispatcher reports recorded rounds (see recorded())
        self._inbound_parts: dict[tuple[str, str, int, int], InboundParts] = {}
        c = config
        self._kinds = (  # (TON, NPI) of international, national and alphanumeric addresses
            (TON(c.international_ton), NPI(c.international_npi)),
            (TON(c.national_ton), NPI(c.national_npi)),
            (TON(c.alphanumeric_ton), NPI(c.alphanumeric_npi)),
        )

    # -- life -------------------------------------------------------------------------------------
    async def start(self, sink: ReportSink) -> None:
        c = self.config
        self._sink = sink
        self._long.memory = sink if isinstance(sink, ConnectorMemory) else None
        self._stopping = False
        self._wake = asyncio.Event()
        self._rate = TokenBucket(c.throughput) if c.throughput > 0 else None
        modes = (
            [BindMode.TRANSCEIVER]
            if c.bind_mode == "transceiver"
            else [BindMode.TRANSMITTER, BindMode.RECEIVER]
        )
        self._links = [
            Link(
                label=f"{c.name}-{index}-{mode.name.lower()}",
                host=c.host,
                port=c.port,
                system_id=c.system_id,
                password=c.password,
                system_type=c.system_type,
                mode=mode,
                window=c.window,
                enquire_link=c.enquire_link,
                socket_timeout=c.socket_timeout,
                reconnect=(c.reconnect_initial, c.reconnect_max),
                throttle_pause=c.throttle_pause,
                rate_limiter=self._rate,
                response_ttl=max(c.submit_timeout * 2, 60.0),
                classify=self.classify,
                on_deliver=self._on_deliver,
            )
            for index in range(c.binds)
            for mode in modes
        ]
        for link in self._links:
            link.start()
        self._worker = asyncio.create_task(self._maintain(), name=f"{c.name}-smpp-receipts")

    async def stop(self) -> None:
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        await asyncio.gather(*(link.stop(self.config.socket_timeout) for link in self._links))
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        self._links = []

    def health(self) -> Health:
        bound = sum(1 for link in self._links if link.bound)
        if not self._links or bound == 0:
            return Health.DOWN
        return Health.UP if bound == len(self._links) else Health.DEGRADED

    def bind_statuses(self) -> list[str | None]:
        """Each session's last bind answer (``ESME_ROK``, ``ESME_RINVPASWD``, ...; None: none yet)."""
        return [link.last_bind_status for link in self._links]

    async def wait_bound(self, timeout: float) -> Health:
        """Wait until every session is bound (or ``timeout``); the health then."""
        loop = asyncio.get_running_loop()
        until = loop.time() + timeout
        while self.health() is not Health.UP and loop.time() < until:
            await asyncio.sleep(0.02)
        return self.health()

    # -- errors -----------------------------------------------------------------------------------
    @classmethod
    def classify(cls, status: int) -> CarrierError:
        kind, retryable = cls.STATUS_ERRORS.get(status, (ErrorKind.PROVIDER_ERROR, True))
        try:
            name = SmppCommandStatus(status).name
        except ValueError:
            name = f"0x{status:08X}"
        return CarrierError(
            f"the SMSC refused the message: {name}",
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
    def _pick_link(self) -> Link:
        candidates = [link for link in self._links if link.can_submit and link.bound]
        if not candidates:
            raise CarrierError(
                "no SMPP session is bound",
                kind=ErrorKind.PROVIDER_ERROR,
                retryable=True,
                carrier="smpp",
                sent=False,
            )
        return max(candidates, key=lambda link: link.room)

    def _submit_sm(self, message: OutboundMessage, part: Part, number: int) -> Any:
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
            log_id=f"{message.id}/{number}/{next(self._log_ids)}",
        )
        if part.short_message:
            sm.set_encoded_message(part.short_message)
        return sm

    async def submit(self, message: OutboundMessage) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.submit_timeout
        try:
            parts = plan_parts(message.body, self.config.long_messages, next(self._refs))
            pdus = [self._submit_sm(message, part, n) for n, part in enumerate(parts, start=1)]
        except ValueError as exc:
            raise CarrierError(
                str(exc), kind=ErrorKind.INVALID_CONTENT, retryable=False, carrier="smpp"
            ) from exc
        link = self._pick_link()
        try:
            if len(pdus) == 1:
                # Known as this process's as soon as the answer is read: a receipt right behind it in the
                # same read is then recognised (held for the record, not looked up in connector memory).
                return canonical_id(await link.send(pdus[0], deadline, on_accept=self._submitted))
            return await self._submit_long(message, link, pdus, deadline)
        finally:
            if not self._dispatched:
                self._nudge()  # receipts that overtook this submit can be matched now

    def _submitted(self, message_id: str) -> None:
        self._recent_ids[canonical_id(message_id)] = None
        while len(self._recent_ids) > 100_000:
            self._recent_ids.popitem(last=False)

    async def _submit_long(
        self, message: OutboundMessage, link: Link, pdus: list[Any], deadline: float
    ) -> str:
        record = LongMessage(message_id=message.id, total=len(pdus), created=time.monotonic())

        def accepted(index: int) -> Callable[[str], None]:
            def register(message_id: str) -> None:
                self._long.part_accepted(record, index, canonical_id(message_id))

            return register

        async def one(index: int, pdu: Any) -> str:
            return await link.send(pdu, deadline, on_accept=accepted(index))

        results = await asyncio.gather(*(one(i, pdu) for i, pdu in enumerate(pdus)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            self._long.drop(record)
            carrier_errors = [e for e in errors if isinstance(e, CarrierError)]
            if len(carrier_errors) < len(errors):
                raise next(e for e in errors if not isinstance(e, CarrierError))
            permanent = [e for e in carrier_errors if not e.retryable]
            raise (permanent or carrier_errors)[0]
        self._long.add(record)
        assert record.first_id is not None
        await self._long.save(record, with_parts=True)
        return record.first_id

    # -- deliver_sm -------------------------------------------------------------------------------
    async def _on_deliver(self, dsm: Any) -> Awaitable[Any] | None:
        """Handle one deliver_sm; what to wait for before answering it, if anything (see ``_hold``)."""
        kind = self.DELIVER_KINDS.get((int(dsm.esm_class) >> 2) & 0x0F)
        if kind == "receipt":
            return await self._on_receipt(dsm)
        if kind == "mo":
            await self._on_mo(dsm)
        else:
            log.info("SMPP %s: ignoring a deliver_sm with esm_class 0x%02X", self.name, dsm.esm_class)
        return None

    @staticmethod
    def _tlvs(dsm: Any) -> dict[int, Any]:
        return {p.tag: p.value for p in dsm.optional_params or []}

    def read_receipt(self, dsm: Any) -> ReceiptData | None:
        tlvs = self._tlvs(dsm)
        text = dsm.short_message or dsm.message_payload or ""
        parsed = parse_receipt_text(text)
        receipt_id = str(tlvs.get(RECEIPTED_MESSAGE_ID) or parsed.id or "").strip()
        if not receipt_id:
            return None
        state = tlvs.get(MESSAGE_STATE)
        stat = MESSAGE_STATES.get(int(state), "UNKNOWN") if state is not None else parsed.stat
        raw: dict[str, Any] = {"id": receipt_id, "stat": stat, "err": parsed.err, "text": text}
        if state is not None:
            raw["message_state"] = int(state)
        if NETWORK_ERROR_CODE in tlvs:
            raw["network_error_code"] = str(tlvs[NETWORK_ERROR_CODE])
        raw["source"] = self.number(dsm.source.number, int(dsm.source.ton))
        return ReceiptData(id=receipt_id, stat=stat, err=parsed.err, raw=raw)

    async def _on_receipt(self, dsm: Any) -> Awaitable[Any] | None:
        data = self.read_receipt(dsm)
        if data is None:
            log.warning(
                "SMPP %s: a receipt without a message id was dropped: %r", self.name, dsm.short_message
            )
            return None
        routed = await self._route(data)
        if routed is False:
            parked = self._park(Parked(until=time.monotonic() + self.config.receipt_retry_for, data=data))
            # Held only when this process submitted that id and its record is pending. An id it never
            # submitted (sent before a restart, or by another node) would hold the SMSC's window in vain.
            return self._hold(parked) if self._resolve(data.id) in self._recent_ids else None
        return self._hold(routed) if isinstance(routed, Parked) else None

    def _hold(self, item: Parked) -> Awaitable[Any] | None:
        """Until the kept receipt is applied (or ``receipt_hold`` passed), its deliver_sm stays unanswered."""
        if item.settled is None or self.config.receipt_hold <= 0:
            return None
        return self._held(item.settled)

    async def _held(self, settled: asyncio.Future[bool]) -> None:
        HELD.labels(self.name).inc()
        try:
            await asyncio.wait_for(asyncio.shield(settled), self.config.receipt_hold)
        finally:
            HELD.labels(self.name).dec()

    def _resolve(self, raw_id: str) -> str:
        candidates = receipt_id_candidates(raw_id, self.config.id_format)
        for candidate in candidates:
            if candidate in self._long or candidate in self._recent_ids:
                return candidate
        return candidates[0]

    async def _route(self, data: ReceiptData) -> bool | Parked:
        """Apply one receipt; False when no message is known for it yet. A part of a long message is taken
        into its roll-up: True, or the rolled-up receipt when that had to be kept for later."""
        carrier_id = self._resolve(data.id)
        status, kind = stat_outcome(data.stat)
        message = error_text(status, data.stat, data.err)
        long = self._long.find(carrier_id)
        if long is None and carrier_id not in self._recent_ids:
            # Not submitted by this process: perhaps a part of a long message sent before a restart.
            long = await self._long.restore(receipt_id_candidates(data.id, self.config.id_format))
        if long is not None:
            record, index = long
            if status.is_final and index not in record.outcomes:
                record.outcomes[index] = (status, kind, message, data.raw)
                if status is not MessageStatus.DELIVERED and record.first_failure is None:
                    record.first_failure = time.monotonic()
                await self._long.save(record)  # before the deliver_sm is answered
                parked = await self._report_long(record)
                if parked is not None:
                    return parked
            return True
        return await self._to_sink(
            Receipt(
                carrier_id=carrier_id, status=status, error_kind=kind, error_message=message, raw=data.raw
            )
        )

    async def _report_long(self, record: LongMessage, *, force: bool = False) -> Parked | None:
        if record.reported is not None or record.first_id is None:
            return None
        if not (record.complete() or force):
            return None
        record.reported = time.monotonic()
        receipt = record.rollup()
        if not await self._to_sink(receipt):
            return self._park(Parked(until=time.monotonic() + self.config.receipt_retry_for, receipt=receipt))
        await self._long.forget(receipt)
        return None

    async def _to_sink(self, receipt: Receipt) -> bool:
        assert self._sink is not None, "start() the connector first"
        try:
            return bool((await self._sink.receipts(self.name, [receipt]))[0])
        except Exception:
            log.exception("SMPP %s: recording a receipt failed; it will be retried", self.name)
            return False

    def _park(self, item: Parked) -> Parked:
        if item.settled is None:
            item.settled = asyncio.get_running_loop().create_future()
        self._parked.append(item)
        KEPT.labels(self.name).set(len(self._parked))
        return item

    def _nudge(self) -> None:
        if self._wake is not None and self._parked:
            self._wake.set()

    def recorded(self) -> None:
        # From now on kept receipts are retried when a dispatcher says it stored a round, not after each
        # submit: until the round is recorded, a retry finds nothing (and holds the answer longer).
        self._dispatched = True
        self._nudge()

    # -- inbound (MO) -----------------------------------------------------------------------------
    async def _on_mo(self, dsm: Any) -> None:
        text = dsm.short_message or dsm.message_payload or ""
        source = self.number(dsm.source.number, int(dsm.source.ton))
        dest = self.number(dsm.destination.number, int(dsm.destination.ton))
        raw: dict[str, Any] = {"esm_class": int(dsm.esm_class), "data_coding": dsm.encoding or "gsm0338"}
        tlvs = self._tlvs(dsm)
        if SAR_MSG_REF_NUM in tlvs and SAR_TOTAL_SEGMENTS in tlvs and SAR_SEGMENT_SEQNUM in tlvs:
            reference = int(tlvs[SAR_MSG_REF_NUM])
            total = int(tlvs[SAR_TOTAL_SEGMENTS])
            sequence = int(tlvs[SAR_SEGMENT_SEQNUM])
            if int(dsm.esm_class) & _ESM_UDHI and reference > 0xFF:
                # aiosmpplib 0.7.4 reads a 16-bit concatenation reference (IEI 0x08) as 32 bits,
                # taking in the total and sequence octets that follow it: keep the reference's own two.
                reference >>= 16
            if total > 1:
                key = (source, dest, reference, total)
                entry = self._inbound_parts.setdefault(key, InboundParts(time.monotonic(), total, raw=raw))
                entry.texts[sequence] = text
                if len(entry.texts) < total:
                    return
                del self._inbound_parts[key]
                text = "".join(entry.texts[i] for i in sorted(entry.texts))
                raw = {**raw, "parts": total, "reference": reference}
        await self._inbound(InboundMessage(from_addr=source, to_addr=dest, body=text, raw=raw))

    async def _inbound(self, message: InboundMessage) -> None:
        assert self._sink is not None, "start() the connector first"
        await self._sink.inbound(self.name, message)

    # -- background: retries and expiry ----------------------------------------------------------
    async def _maintain(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.receipt_retry_interval)
            self._wake.clear()
            try:
                await self.retry_parked()
                await self._expire()
            except Exception:
                log.exception("SMPP %s: receipt maintenance failed; continuing", self.name)

    async def retry_parked(self) -> None:
        """Try every kept receipt once more, all plain ones in one call to the sink (one transaction: a
        large dispatch batch can leave hundreds waiting for their submissions to be recorded); forget
        those past their time."""
        items, self._parked = self._parked, []
        now = time.monotonic()
        plain: list[tuple[Parked, Receipt]] = []
        parts: list[Parked] = []
        for item in items:
            receipt = item.receipt if item.receipt is not None else self._plain_receipt(item.data)
            if receipt is None:
                parts.append(item)
            else:
                plain.append((item, receipt))
        outcomes = await self._to_sink_many([r for _, r in plain]) if plain else []
        results = [(item, done) for (item, _), done in zip(plain, outcomes, strict=True)]
        for item in parts:
            assert item.data is not None
            routed = await self._route(item.data)
            if isinstance(routed, Parked):  # taken into a roll-up that is kept in turn: answer with it
                _follow(item, routed)
                continue
            results.append((item, routed))
        for item, done in results:
            if done:
                item.settle(True)
                if item.receipt is not None and "part_ids" in item.receipt.raw:  # a roll-up, now applied
                    await self._long.forget(item.receipt)
                continue
            if now >= item.until:
                what = item.receipt.carrier_id if item.receipt is not None else item.data and item.data.id
                log.warning("SMPP %s: no message has carrier id %s; its receipt was dropped", self.name, what)
                item.settle(False)
                continue
            self._parked.append(item)
        KEPT.labels(self.name).set(len(self._parked))

    def _plain_receipt(self, data: ReceiptData | None) -> Receipt | None:
        """The receipt for ``data`` when it is not about a part of a long message (those roll up)."""
        assert data is not None
        carrier_id = self._resolve(data.id)
        if carrier_id in self._long:
            return None
        status, kind = stat_outcome(data.stat)
        return Receipt(
            carrier_id=carrier_id,
            status=status,
            error_kind=kind,
            error_message=error_text(status, data.stat, data.err),
            raw=data.raw,
        )

    async def _to_sink_many(self, receipts: list[Receipt]) -> list[bool]:
        assert self._sink is not None, "start() the connector first"
        try:
            return [bool(found) for found in await self._sink.receipts(self.name, receipts)]
        except Exception:
            log.exception(
                "SMPP %s: recording %d receipts failed; they will be retried", self.name, len(receipts)
            )
            return [False] * len(receipts)

    async def _expire(self) -> None:
        c = self.config
        now = time.monotonic()
        for record in self._long:
            failed_at = record.first_failure
            if record.reported is None and failed_at is not None and now - failed_at >= c.part_receipt_wait:
                await self._report_long(record, force=True)
            done_for = now - (record.reported or record.created)
            if (record.reported is not None and done_for > 3600) or now - record.created > c.receipt_memory:
                self._long.drop(record)
        for key, entry in list(self._inbound_parts.items()):
            if now - entry.first_seen > c.mo_part_wait:
                del self._inbound_parts[key]
                source, dest, reference, total = key
                text = "".join(entry.texts[i] for i in sorted(entry.texts))
                log.warning(
                    "SMPP %s: long inbound message from %s incomplete; reported as is", self.name, source
                )
                raw = {**entry.raw, "parts": total, "reference": reference, "incomplete": True}
                await self._inbound(InboundMessage(from_addr=source, to_addr=dest, body=text, raw=raw))


def _follow(item: Parked, successor: Parked) -> None:
    """``item`` is settled when ``successor`` is."""
    if successor.settled is None:
        item.settle(True)
        return
    successor.settled.add_done_callback(lambda done: item.settle(not done.cancelled() and done.result()))


# -- configuration ----------------------------------------------------------------------------------------
#: How each SmppConfig field's annotation reads in a TOML table (a float setting also takes an integer).
_TOML_TYPES: Mapping[str, tuple[type, ...]] = {
    "str": (str,),
    "BindModeName": (str,),
    "int": (int,),
    "float": (int, float),
}


def smpp_connector(table: Mapping[str, Any], ctx: Any) -> SmppConnector:
    """An ``[[connectors]]`` table of ``type = "smpp"``: ``name`` plus :class:`SmppConfig`'s fields by name
    (``host``, ``port``, ``system_id``, ``password`` are required). ValueError names a wrong key."""
    import dataclasses

    known = {f.name: f for f in dataclasses.fields(SmppConfig)}
    options = {k: v for k, v in table.items() if k != "type"}
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"unknown key {', '.join(unknown)} (SMPP keys: {', '.join(sorted(known))})")
    missing = [
        name
        for name, f in known.items()
        if f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
        and name not in options
    ]
    if missing:
        raise ValueError(f"missing key {', '.join(missing)}")
    for key, value in options.items():
        accepted = _TOML_TYPES.get(str(known[key].type), (object,))
        if isinstance(value, bool) or not isinstance(value, accepted):
            raise ValueError(f"{key} must be {' or '.join(t.__name__ for t in accepted)}, not {value!r}")
    return SmppConnector(SmppConfig(**options))


CONNECTOR_TYPES: Mapping[str, Callable[[Mapping[str, Any], Any], Connector]] = {"smpp": smpp_connector}
