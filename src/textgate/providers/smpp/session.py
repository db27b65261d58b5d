"""One SMPP session (a bind): textgate's own protocol loop, on aiosmpplib's PDU classes.

aiosmpplib encodes and parses the PDUs (bind, submit_sm, deliver_sm, ...); the session around them is
textgate's, because what an ESME must do with its submits is exactly what aiosmpplib's session leaves
out: a window, a per-PDU answer timeout, throttling as flow control, answers that come after their
timeout, and knowing which PDUs were on the wire when a connection dropped.

Submits flow like this:

* the connector puts a :class:`SubmitItem` (one ``submit_sm``, already encoded) in the connector-wide
  :class:`SubmitQueue`; every bound session of the connector takes from it;
* a session writes the head of the queue when its window has room, its :class:`~.pacing.Pacer` allows
  and the connector-wide throughput cap (if any) has a token;
* **the answer timeout starts when the PDU is written** (``submit_timeout``), never while it waits in
  the queue: an item that could not be written within ``queue_timeout`` of being queued comes back
  :class:`NotSent` (it never left textgate, so nothing is lost or sent twice);
* ``ESME_RTHROTTLED`` / ``ESME_RMSGQFUL``: the pacer slows down and the same PDU goes back to the front
  of the queue. It is not an error and not an attempt;
* no answer in time, or the connection dropped after the PDU was written: :class:`NoAnswer` - the SMSC
  may have taken it. The sequence number stays known for ``late_window`` seconds: an answer that comes
  later is handed to ``on_late`` (the connector records the message as sent) instead of being dropped.

Received ``deliver_sm`` are handed to ``on_deliver`` while the session goes on reading; each is answered
(``deliver_sm_resp``) once ``on_deliver`` returned, i.e. once it is stored. At most ``DELIVER_BACKLOG``
are in hand at once; beyond that the session stops reading from the socket until one is done.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import itertools
import logging
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from aiosmpplib import (  # type: ignore[import-untyped]
    BindMode,
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    SmppCommand,
    SmppCommandStatus,
    Unbind,
    UnbindResp,
)
from aiosmpplib.protocol import DEFAULT_ENCODING  # type: ignore[import-untyped]
from aiosmpplib.state import PduHeader  # type: ignore[import-untyped]
from prometheus_client import Counter

from textgate.domain.encoding import decode_gsm7, encode_gsm7, encode_ucs2
from textgate.domain.errors import CarrierError
from textgate.providers.smpp.pacing import Pacer
from textgate.providers.smpp.pdus import LenientDeliverSm

log = logging.getLogger(__name__)

PDUS = Counter(
    "textgate_smpp_submit_pdus_total",
    "submit_sm PDUs written and how the SMSC answered them (accepted, throttled, refused, no_answer)",
    ["connector", "outcome"],
)

HEADER = struct.Struct("!IIII")
HEADER_LENGTH = 16
#: Longest PDU read; anything longer is a broken stream (SMPP 3.4 PDUs are far smaller).
MAX_PDU = 65536
#: deliver_sm a session has in hand at once before it stops reading from the SMSC.
DELIVER_BACKLOG = 1000

_C = SmppCommand
_S = SmppCommandStatus
THROTTLE_STATUSES = frozenset({int(_S.ESME_RTHROTTLED), int(_S.ESME_RMSGQFUL)})
_BIND_PDUS = {
    BindMode.TRANSCEIVER: BindTransceiver,
    BindMode.TRANSMITTER: BindTransmitter,
    BindMode.RECEIVER: BindReceiver,
}
_BIND_RESPONSES = frozenset(
    {int(_C.BIND_TRANSCEIVER_RESP), int(_C.BIND_TRANSMITTER_RESP), int(_C.BIND_RECEIVER_RESP)}
)


# -- codecs -----------------------------------------------------------------------------------------------
def _gsm_encode(text: str, errors: str = "strict") -> tuple[bytes, int]:
    return encode_gsm7(text), len(text)


def _gsm_decode(data: Any, errors: str = "strict") -> tuple[str, int]:
    raw = bytes(data)
    if not raw.isascii():
        # Not unpacked GSM-7 at all; SMSCs that write Latin-1 under data_coding 0 exist. Keep the text.
        return raw.decode("latin-1"), len(raw)
    return decode_gsm7(raw), len(raw)


def _ucs2_encode(text: str, errors: str = "strict") -> tuple[bytes, int]:
    return encode_ucs2(text), len(text)


def _ucs2_decode(data: Any, errors: str = "strict") -> tuple[str, int]:
    raw = bytes(data)
    return raw.decode("utf-16-be", errors="replace"), len(raw)


#: The codecs aiosmpplib's PDUs are given: textgate's GSM-7 tables (the ones the splitting counts with),
#: decoding leniently as 3GPP TS 23.038 asks; UCS-2 as UTF-16-BE, an odd or broken unit shown as U+FFFD.
#: (aiosmpplib's own decoders are strict: one bad byte in a deliver_sm and it could not be read.)
CODECS: dict[str, codecs.CodecInfo] = {
    "gsm0338": codecs.CodecInfo(_gsm_encode, _gsm_decode, name="gsm0338"),
    "ucs2": codecs.CodecInfo(_ucs2_encode, _ucs2_decode, name="ucs2"),
}


# -- what a submit comes to -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Accepted:
    message_id: str


@dataclass(frozen=True, slots=True)
class Refused:
    error: CarrierError


@dataclass(frozen=True, slots=True)
class NotSent:
    """Never written (or only throttled): the SMSC does not have it."""

    reason: str
    throttled: bool = False


@dataclass(frozen=True, slots=True)
class NoAnswer:
    """Written, and no answer came (timeout, or the connection dropped): the SMSC may have it."""

    reason: str


PduResult = Accepted | Refused | NotSent | NoAnswer


@dataclass(eq=False)
class SubmitItem:
    """One submit_sm on its way: the encoded PDU (sequence number patched in when written) and its fate."""

    pdu: bytes
    future: asyncio.Future[PduResult]
    label: str
    queue_until: float
    #: Whatever the connector wants back in ``on_late`` (which message and part this is).
    tag: Any = None
    throttles: int = 0
    writes: int = 0
    in_flight: bool = False
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    def settle(self, result: PduResult) -> None:
        if not self.future.done():
            self.future.set_result(result)

    def with_sequence(self, sequence: int) -> bytes:
        return self.pdu[:12] + sequence.to_bytes(4, "big") + self.pdu[16:]


class SubmitQueue:
    """The connector's submits not written yet, oldest first; a throttled one goes back to the front."""

    def __init__(self) -> None:
        self._items: deque[SubmitItem] = deque()
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: SubmitItem, *, front: bool = False) -> None:
        if item.future.done():
            return
        if front:
            self._items.appendleft(item)
        else:
            self._items.append(item)
        self._ready.set()

    def take_now(self) -> SubmitItem | None:
        while self._items:
            item = self._items.popleft()
            if not item.future.done():
                return item
        self._ready.clear()
        return None

    async def take(self) -> SubmitItem:
        while True:
            item = self.take_now()
            if item is not None:
                return item
            await self._ready.wait()

    def drain(self, result: PduResult) -> None:
        """Settle everything still queued (the connector stops)."""
        while self._items:
            self._items.popleft().settle(result)
        self._ready.clear()


class TokenBucket:
    """At most ``rate`` PDUs a second, evenly spaced, over every session that shares it."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0

    def delay(self, now: float) -> float:
        return max(0.0, self._next - now)

    def take(self, now: float) -> None:
        self._next = max(now, self._next) + self.interval


#: Handles a deliver_sm (stores it); the deliver_sm is answered when it returns.
OnDeliver = Callable[[Any], Awaitable[None]]
#: An answer that came after its submit's timeout: (item, command_status, message_id).
OnLate = Callable[[SubmitItem, int, str], None]
Classify = Callable[[int], CarrierError]


class BindRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status_name(status))
        self.status = status


def status_name(status: int) -> str:
    try:
        return str(SmppCommandStatus(status).name)
    except ValueError:
        return f"0x{status:08X}"


@dataclass(frozen=True, slots=True)
class SessionConfig:
    host: str
    port: int
    system_id: str
    password: str
    system_type: str
    mode: BindMode
    window: int
    enquire_link: float
    socket_timeout: float
    submit_timeout: float
    reconnect_initial: float
    reconnect_max: float
    late_window: float


class _Wire(asyncio.Protocol):
    """Bytes in and out of one TCP connection; whole PDUs go to the session."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.writable = asyncio.Event()
        self.writable.set()
        self.reading_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # (uvloop's is not a subclass, but is one)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while len(buffer) >= HEADER_LENGTH:
            length = int.from_bytes(buffer[:4], "big")
            if length < HEADER_LENGTH or length > MAX_PDU:
                log.error(
                    "SMPP session %s: a PDU of %d octets; dropping the connection", self.session, length
                )
                self.close()
                return
            if len(buffer) < length:
                return
            pdu = bytes(buffer[:length])
            del buffer[:length]
            try:
                self.session.on_pdu(pdu)
            except Exception:  # one bad PDU must not end the session
                log.exception("SMPP session %s: handling a PDU failed", self.session)

    def connection_lost(self, exc: Exception | None) -> None:
        self.writable.set()
        if not self.closed.done():
            self.closed.set_result(None)
        self.session.lost(self, exc)

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class Session:
    """One bind to the SMSC, kept up with reconnects, writing submits from the connector's queue."""

    def __init__(
        self,
        *,
        label: str,
        connector: str,
        config: SessionConfig,
        queue: SubmitQueue,
        throughput: TokenBucket | None,
        classify: Classify,
        on_deliver: OnDeliver,
        on_late: OnLate,
        on_bound: Callable[[], None] = lambda: None,
        pacer: Pacer | None = None,
    ) -> None:
        self.label = label
        self.connector = connector
        self.config = config
        self.queue = queue
        self.throughput = throughput
        self.classify = classify
        self.on_deliver = on_deliver
        self.on_late = on_late
        self.on_bound = on_bound
        self.pacer = pacer or Pacer()
        self.mode = config.mode
        self.last_bind_status: str | None = None
        self.binds = 0
        self.inflight: dict[int, SubmitItem] = {}
        self._late: dict[int, tuple[float, SubmitItem]] = {}
        self._sequence = itertools.count(1)
        self._wire: _Wire | None = None
        self._bound = False
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._room = asyncio.Event()
        self._bind_answer: asyncio.Future[int] | None = None
        self._unbind_answer: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._delivering: set[asyncio.Task[None]] = set()
        self._last_heard = 0.0
        self._ka_pending = False
        self._loop = asyncio.get_running_loop()

    def __str__(self) -> str:
        return self.label

    # -- state --------------------------------------------------------------------------------------
    @property
    def bound(self) -> bool:
        return self._bound and not self._stopping

    @property
    def can_submit(self) -> bool:
        return self.mode is not BindMode.RECEIVER

    @property
    def room(self) -> int:
        return self.config.window - len(self.inflight)

    def rate(self) -> float | None:
        return self.pacer.rate(time.monotonic())

    # -- life ---------------------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping = False
        self._stop_event.clear()
        self._task = asyncio.create_task(self._run(), name=f"smpp-{self.label}")

    async def stop(self, timeout: float) -> None:
        """Unbind (waiting up to ``timeout`` for what is in flight and the unbind_resp) and disconnect."""
        if self._delivering:  # store and answer what the SMSC already handed over
            await asyncio.wait(set(self._delivering), timeout=timeout)
        self._stopping = True
        self._stop_event.set()
        wire = self._wire
        if wire is not None and self._bound:
            until = self._loop.time() + timeout
            while self.inflight and self._loop.time() < until:
                self._room.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._room.wait(), until - self._loop.time())
            self._unbind_answer = self._loop.create_future()
            wire.write(Unbind(sequence_num=next(self._sequence)).pdu())
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(
                    asyncio.shield(self._unbind_answer), max(0.1, until - self._loop.time())
                )
            wire.close()
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            if not self._task.done():
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        delay = self.config.reconnect_initial
        while not self._stopping:
            try:
                wire = await self._connect()
            except BindRefused as exc:
                self._note_bind(exc.status)
            except (OSError, TimeoutError, ConnectionError) as exc:
                log.info("SMPP session %s: cannot connect: %s", self.label, exc or type(exc).__name__)
            else:
                delay = self.config.reconnect_initial
                await self._serve(wire)
                if self._stopping:
                    break
            await self._pause(delay)
            delay = min(delay * 2, self.config.reconnect_max)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), seconds)

    async def _connect(self) -> _Wire:
        c = self.config
        _, wire = await asyncio.wait_for(
            self._loop.create_connection(lambda: _Wire(self), c.host, c.port), c.socket_timeout
        )
        self._wire = wire
        self._bind_answer = self._loop.create_future()
        bind = _BIND_PDUS[c.mode](
            sequence_num=next(self._sequence),
            system_id=c.system_id,
            password=c.password,
            system_type=c.system_type,
        )
        wire.write(bind.pdu())
        try:
            status = await asyncio.wait_for(asyncio.shield(self._bind_answer), c.socket_timeout)
        except BaseException:
            wire.abort()
            raise
        finally:
            self._bind_answer = None
        if status != 0:
            wire.close()
            raise BindRefused(status)
        return wire

    async def _serve(self, wire: _Wire) -> None:
        self._bound = True
        self.binds += 1
        self._note_bind(0)
        self._last_heard = time.monotonic()
        log.info("SMPP session %s bound", self.label)
        self.on_bound()
        tasks = [asyncio.create_task(self._keepalive(wire), name=f"smpp-{self.label}-keepalive")]
        if self.can_submit:
            tasks.append(asyncio.create_task(self._writer(wire), name=f"smpp-{self.label}-writer"))
        try:
            await wire.closed
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._bound = False

    def _note_bind(self, status: int) -> None:
        self.last_bind_status = status_name(status)
        if status != 0:
            log.error("SMPP session %s: bind refused: %s", self.label, self.last_bind_status)

    def lost(self, wire: _Wire, exc: Exception | None) -> None:
        """The connection ended: whatever was written and not answered has an unknown outcome."""
        if wire is not self._wire:
            return
        self._wire = None
        self._bound = False
        if self._bind_answer is not None and not self._bind_answer.done():
            self._bind_answer.set_exception(ConnectionError("the SMSC closed the connection during the bind"))
        if self._unbind_answer is not None and not self._unbind_answer.done():
            self._unbind_answer.set_result(None)
        lost = list(self.inflight.values())
        self.inflight.clear()
        self._late.clear()  # answers cannot come on a connection that is gone
        self._room.set()
        for item in lost:
            if item.timer is not None:
                item.timer.cancel()
            item.in_flight = False
            PDUS.labels(self.connector, "no_answer").inc()
            item.settle(NoAnswer("the connection to the SMSC dropped before it answered the submit"))
        if lost:
            log.warning("SMPP session %s dropped with %d submits unanswered", self.label, len(lost))
        elif not self._stopping:
            log.info("SMPP session %s: connection closed (%s)", self.label, exc or "by the SMSC")

    # -- writing ------------------------------------------------------------------------------------
    async def _writer(self, wire: _Wire) -> None:
        queue = self.queue
        loop = self._loop
        while True:
            while len(self.inflight) >= self.config.window:
                self._room.clear()
                await self._room.wait()
            wait = self.pacer.delay(time.monotonic())
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            if self.throughput is not None:
                wait = self.throughput.delay(time.monotonic())
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
            if not wire.writable.is_set():
                await wire.writable.wait()
                continue
            item = queue.take_now() or await queue.take()
            if self._wire is not wire or not self._bound:
                queue.put(item, front=True)
                return
            now = time.monotonic()
            if self.throughput is not None:
                self.throughput.take(now)
            sequence = next(self._sequence) & 0x7FFFFFFF or next(self._sequence)
            item.in_flight = True
            item.writes += 1
            self.inflight[sequence] = item
            item.timer = loop.call_at(loop.time() + self.config.submit_timeout, self._timed_out, sequence)
            self.pacer.sent(now)
            wire.write(item.with_sequence(sequence))

    def _timed_out(self, sequence: int) -> None:
        item = self.inflight.pop(sequence, None)
        if item is None:
            return
        self._room.set()
        item.in_flight = False
        now = time.monotonic()
        self._late[sequence] = (now + self.config.late_window, item)
        if len(self._late) > 64:
            for seq, (until, _) in list(self._late.items()):
                if until < now:
                    del self._late[seq]
        self.pacer.throttled(now)  # an SMSC too slow to answer is one to go easier on
        PDUS.labels(self.connector, "no_answer").inc()
        item.settle(NoAnswer(f"the SMSC did not answer the submit within {self.config.submit_timeout:g} s"))

    # -- reading ------------------------------------------------------------------------------------
    def on_pdu(self, pdu: bytes) -> None:
        length, command, status, sequence = HEADER.unpack_from(pdu)
        self._last_heard = time.monotonic()
        self._ka_pending = False
        if command == _C.SUBMIT_SM_RESP:
            self._answered(sequence, status, pdu[HEADER_LENGTH:-1].decode("ascii", "replace"))
        elif command == _C.DELIVER_SM:
            self._take_deliver(pdu, length, sequence)
        elif command == _C.ENQUIRE_LINK:
            self._write(EnquireLinkResp(sequence_num=sequence).pdu())
        elif command == _C.ENQUIRE_LINK_RESP:
            pass
        elif command == _C.GENERIC_NACK:
            if sequence in self.inflight or sequence in self._late:
                self._answered(sequence, status or int(_S.ESME_RUNKNOWNERR), "")
            else:
                log.warning(
                    "SMPP session %s: generic_nack %s for #%d", self.label, status_name(status), sequence
                )
        elif command in _BIND_RESPONSES:
            if self._bind_answer is not None and not self._bind_answer.done():
                self._bind_answer.set_result(status)
        elif command == _C.UNBIND:
            self._write(UnbindResp(sequence_num=sequence).pdu())
            log.info("SMPP session %s: the SMSC unbound", self.label)
            if self._wire is not None:
                self._wire.close()
        elif command == _C.UNBIND_RESP:
            if self._unbind_answer is not None and not self._unbind_answer.done():
                self._unbind_answer.set_result(None)
        elif command & 0x80000000:
            log.debug("SMPP session %s: ignoring a response 0x%08X", self.label, command)
        else:
            self._write(GenericNack(sequence_num=sequence, command_status=_S.ESME_RINVCMDID).pdu())

    def _answered(self, sequence: int, status: int, message_id: str) -> None:
        item = self.inflight.pop(sequence, None)
        now = time.monotonic()
        if item is None:
            late = self._late.pop(sequence, None)
            if late is not None:
                self.on_late(late[1], status, message_id)
            else:
                log.warning("SMPP session %s: an answer to unknown submit #%d", self.label, sequence)
            return
        if item.timer is not None:
            item.timer.cancel()
        item.in_flight = False
        self._room.set()
        if status == 0:
            self.pacer.accepted(now)
            PDUS.labels(self.connector, "accepted").inc()
            item.settle(Accepted(message_id))
        elif status in THROTTLE_STATUSES:
            self.pacer.throttled(now)
            item.throttles += 1
            PDUS.labels(self.connector, "throttled").inc()
            if now >= item.queue_until:
                item.settle(NotSent(f"throttled by the SMSC ({status_name(status)})", throttled=True))
            else:
                self.queue.put(item, front=True)
        else:
            PDUS.labels(self.connector, "refused").inc()
            item.settle(Refused(self.classify(status)))

    def _take_deliver(self, pdu: bytes, length: int, sequence: int) -> None:
        header = PduHeader(
            pdu_length=length,
            smpp_command=_C.DELIVER_SM,
            command_status=_S.ESME_ROK,
            sequence_num=sequence,
        )
        try:
            dsm = LenientDeliverSm.from_pdu(pdu, header, DEFAULT_ENCODING, CODECS)
        except (ValueError, IndexError, struct.error, UnicodeDecodeError) as exc:
            log.error(
                "SMPP session %s: a deliver_sm that cannot be read (%s): %s", self.label, exc, pdu.hex()
            )
            self._write(GenericNack(sequence_num=sequence, command_status=_S.ESME_RSYSERR).pdu())
            return
        wire = self._wire
        task = asyncio.create_task(self._deliver(dsm, sequence, wire))
        self._delivering.add(task)
        task.add_done_callback(self._delivered)
        if len(self._delivering) >= DELIVER_BACKLOG and wire is not None and wire.transport is not None:
            wire.transport.pause_reading()
            wire.reading_paused = True

    def _delivered(self, task: asyncio.Task[None]) -> None:
        self._delivering.discard(task)
        wire = self._wire
        if wire is not None and wire.reading_paused and len(self._delivering) < DELIVER_BACKLOG // 2:
            wire.reading_paused = False
            if wire.transport is not None:
                wire.transport.resume_reading()

    async def _deliver(self, dsm: Any, sequence: int, wire: _Wire | None) -> None:
        try:
            await self.on_deliver(dsm)
        except Exception:  # not stored: unanswered, so the SMSC sends it again
            log.exception("SMPP session %s: storing a deliver_sm failed; it stays unanswered", self.label)
            return
        if wire is None or wire is not self._wire:
            return  # the session it came on is gone: the SMSC sends it again on a new one
        wire.write(DeliverSmResp(sequence_num=sequence).pdu())

    def _write(self, data: bytes) -> None:
        if self._wire is not None:
            self._wire.write(data)

    # -- keeping the link alive ---------------------------------------------------------------------
    async def _keepalive(self, wire: _Wire) -> None:
        c = self.config
        while True:
            idle = time.monotonic() - self._last_heard
            if self._ka_pending and idle >= c.enquire_link + c.socket_timeout:
                log.error("SMPP session %s: no answer to enquire_link; dropping the connection", self.label)
                wire.abort()
                return
            if not self._ka_pending and idle >= c.enquire_link:
                self._ka_pending = True
                wire.write(EnquireLink(sequence_num=next(self._sequence)).pdu())
                await asyncio.sleep(c.socket_timeout)
                continue
            await asyncio.sleep(max(0.05, c.enquire_link - idle))

    # -- tests --------------------------------------------------------------------------------------
    def drop(self) -> None:
        """Abort the TCP connection at once (no unbind)."""
        if self._wire is not None:
            self._wire.abort()
