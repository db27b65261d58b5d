"""What an SMSC sends an SMPP connector: delivery receipts and inbound (MO) messages in ``deliver_sm``.

Each ``deliver_sm`` is stored through the connector's :class:`~textgate.providers.base.DurableSink`
before the session answers it, so a crash in between makes the SMSC send it again instead of losing it:

* a **receipt** is applied to the message (or the part of a long message) that has its carrier id. One
  that came before its message was recorded - it overtook the ``submit_sm_resp``, or the dispatcher has
  not stored the round yet - is stored and applied as soon as a message gets that id. The id is read
  as ``id_format`` says; with ``auto`` (the default) both readings of an all-digit id (hexadecimal and
  decimal) are tried, in the order this connector has found right so far;
* an **inbound message** is recorded at once; a part of a long one is stored until its set is complete
  (or ``mo_part_wait`` passed, then what came is reported as it is).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from textgate.providers.base import DurableSink, InboundMessage, InboundPart, Receipt
from textgate.providers.smpp.receipts import (
    MESSAGE_STATES,
    error_text,
    parse_receipt_text,
    receipt_id_candidates,
    stat_outcome,
)

if TYPE_CHECKING:
    from textgate.providers.smpp.connector import SmppConnector

log = logging.getLogger(__name__)

# TLV tags (SMPP 3.4 5.3.2).
RECEIPTED_MESSAGE_ID = 0x001E
MESSAGE_STATE = 0x0427
NETWORK_ERROR_CODE = 0x0423
SAR_MSG_REF_NUM = 0x020C
SAR_TOTAL_SEGMENTS = 0x020E
SAR_SEGMENT_SEQNUM = 0x020F

_ESM_UDHI = 0x40


@dataclass(frozen=True, slots=True)
class ReceiptData:
    """A receipt as read from a deliver_sm, before its id is resolved."""

    id: str
    stat: str | None
    err: str | None
    raw: dict[str, Any]


class Deliveries:
    """Reads and stores the ``deliver_sm`` of one connector's sessions."""

    #: deliver_sm esm_class message type (bits 2-5) -> what it is. Others (SME acks, aborts) are ignored.
    DELIVER_KINDS: ClassVar[dict[int, str]] = {0: "mo", 1: "receipt", 8: "receipt"}

    def __init__(self, connector: SmppConnector) -> None:
        self.connector = connector
        self.sink: DurableSink | None = None
        # For id_format=auto: how often each reading of an all-digit id named a message (hex, dec).
        self.readings = [0, 0]

    @property
    def name(self) -> str:
        return self.connector.name

    async def handle(self, dsm: Any) -> None:
        """Store one deliver_sm (raises if it could not be stored: then it stays unanswered)."""
        kind = self.DELIVER_KINDS.get((int(dsm.esm_class) >> 2) & 0x0F)
        if kind == "receipt":
            await self._receipt(dsm)
        elif kind == "mo":
            await self._mo(dsm)
        else:
            log.info("SMPP %s: ignoring a deliver_sm with esm_class 0x%02X", self.name, dsm.esm_class)

    # -- receipts ---------------------------------------------------------------------------------
    @staticmethod
    def tlvs(dsm: Any) -> dict[int, Any]:
        return {p.tag: p.value for p in dsm.optional_params or []}

    def read_receipt(self, dsm: Any) -> ReceiptData | None:
        tlvs = self.tlvs(dsm)
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
        raw["source"] = self.connector.number(dsm.source.number, int(dsm.source.ton))
        if parsed.text:  # the start of the message as the SMSC has it: evidence for a submit without answer
            raw["message_text"] = parsed.text
        return ReceiptData(id=receipt_id, stat=stat, err=parsed.err, raw=raw)

    def candidates(self, raw_id: str) -> list[str]:
        """The canonical ids a receipt's id may stand for, the reading that has matched more often first."""
        found = receipt_id_candidates(raw_id, self.connector.config.id_format)
        if len(found) == 2 and self.readings[1] > self.readings[0]:
            found.reverse()
        return found

    def receipt(self, data: ReceiptData) -> Receipt | None:
        candidates = self.candidates(data.id)
        if not candidates:
            return None
        status, kind = stat_outcome(data.stat)
        c = self.connector.config
        return Receipt(
            carrier_id=candidates[0],
            alternatives=tuple(candidates[1:]),
            status=status,
            error_kind=kind,
            error_message=error_text(status, data.stat, data.err),
            raw=data.raw,
            rollup=c.part_rollup,
            rollup_wait=c.part_receipt_wait,
        )

    async def _receipt(self, dsm: Any) -> None:
        data = self.read_receipt(dsm)
        receipt = self.receipt(data) if data is not None else None
        if receipt is None:
            log.warning(
                "SMPP %s: a receipt without a message id was dropped: %r", self.name, dsm.short_message
            )
            return
        assert self.sink is not None
        (matched,) = await self.sink.keep_receipts(self.name, [receipt])
        if matched is not None and receipt.alternatives:
            self._learn(data, matched)

    def _learn(self, data: ReceiptData | None, matched: str) -> None:
        if data is None:
            return
        both = receipt_id_candidates(data.id, "auto")
        if len(both) == 2:
            self.readings[both.index(matched) if matched in both else 0] += 1

    # -- inbound (MO) -----------------------------------------------------------------------------
    async def _mo(self, dsm: Any) -> None:
        assert self.sink is not None
        text = dsm.short_message or dsm.message_payload or ""
        number = self.connector.number
        source = number(dsm.source.number, int(dsm.source.ton))
        dest = number(dsm.destination.number, int(dsm.destination.ton))
        raw: dict[str, Any] = {"esm_class": int(dsm.esm_class), "data_coding": dsm.encoding or "gsm0338"}
        tlvs = self.tlvs(dsm)
        if SAR_MSG_REF_NUM in tlvs and SAR_TOTAL_SEGMENTS in tlvs and SAR_SEGMENT_SEQNUM in tlvs:
            reference = int(tlvs[SAR_MSG_REF_NUM])
            total = int(tlvs[SAR_TOTAL_SEGMENTS])
            sequence = int(tlvs[SAR_SEGMENT_SEQNUM])
            if int(dsm.esm_class) & _ESM_UDHI and reference > 0xFF:
                # aiosmpplib 0.7.4 reads a 16-bit concatenation reference (IEI 0x08) as 32 bits,
                # taking in the total and sequence octets that follow it: keep the reference's own two.
                reference >>= 16
            if total > 1:
                part = InboundPart(
                    key=f"{source}|{dest}|{reference}|{total}",
                    number=sequence,
                    total=total,
                    text=text,
                    from_addr=source,
                    to_addr=dest,
                    wait=self.connector.config.mo_part_wait,
                    raw={**raw, "parts": total, "reference": reference},
                )
                await self.sink.inbound_part(self.name, part)
                return
        await self.sink.inbound(self.name, InboundMessage(from_addr=source, to_addr=dest, body=text, raw=raw))
