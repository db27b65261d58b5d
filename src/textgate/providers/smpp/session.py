"""One SMPP session: an aiosmpplib ``ESME`` plus the adapters that plug it into the connector.

aiosmpplib is queue-driven: the application enqueues ``SubmitSm`` objects in a *broker*, the ESME's
sender task sends them, a *correlator* pairs each response with its request, and a *hook* sees every PDU
received. Its stock broker, correlator and retry timer are in-memory demo implementations with their own
ideas (3-day receipt correlation, library-side splitting and reassembly); here each is replaced by a
small adapter, so the connector keeps all state and aiosmpplib only speaks the protocol:

* :class:`_Broker` - the send queue; skips submits whose caller gave up (timeout, dropped session);
* :class:`_Correlator` - pairs responses with requests by sequence number and resolves the waiting
  submit; passes every ``deliver_sm`` segment through untouched (the connector reassembles);
* :class:`_Hook` - notes bind answers (each ``deliver_sm`` goes from ``_Esme`` straight to
  :meth:`Link._take_deliver`, which stores it through the connector while the session reads on, and answers
  it once stored);
* :class:`_Backoff` - the reconnect delay (initial doubling to max), and the signal that a session
  dropped (aiosmpplib calls it between connection attempts);
* :class:`_ThrottlePause` - after ESME_RTHROTTLED / ESME_RMSGQFUL the session holds back briefly;
* :class:`TokenBucket` - the connector-wide throughput cap, shared by every session's sender.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiosmpplib import (  # type: ignore[import-untyped]
    ESME,
    AbstractBroker,
    AbstractCorrelator,
    AbstractHook,
    AbstractRateLimiter,
    AbstractRetryTimer,
    AbstractThrottleHandler,
    BindMode,
    BindTransceiverResp,
    DeliverSmResp,
    GenericNack,
    SmppCommand,
    SmppCommandStatus,
    SmppMessage,
    SubmitSm,
)

from textgate.domain.encoding import decode_gsm7, encode_gsm7, encode_ucs2
from textgate.domain.errors import CarrierError, ErrorKind
from textgate.providers.smpp.pdus import LenientDeliverSm

log = logging.getLogger(__name__)

Classify = Callable[[int], CarrierError]
#: Handles a deliver_sm; may answer something to wait for before the deliver_sm_resp is sent.
OnDeliver = Callable[[Any], Awaitable[Awaitable[Any] | None]]

_BIND_RESPONSES = frozenset(
    {SmppCommand.BIND_TRANSCEIVER_RESP, SmppCommand.BIND_TRANSMITTER_RESP, SmppCommand.BIND_RECEIVER_RESP}
)

#: aiosmpplib log lines that say nothing here: the connector correlates receipts itself.
_QUIET = ("Could not correlate delivery receipt",)


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


#: The codecs aiosmpplib is given: textgate's GSM-7 tables (the ones the splitting counts with), decoding
#: leniently as 3GPP TS 23.038 asks; UCS-2 as UTF-16-BE, an odd or broken unit shown as U+FFFD. (aiosmpplib's
#: own decoders are strict: one bad byte in a deliver_sm and it is answered with generic_nack, i.e. lost.)
CODECS: dict[str, codecs.CodecInfo] = {
    "gsm0338": codecs.CodecInfo(_gsm_encode, _gsm_decode, name="gsm0338"),
    "ucs2": codecs.CodecInfo(_ucs2_encode, _ucs2_decode, name="ucs2"),
}


class _Forward(logging.Handler):
    """Routes aiosmpplib's own logger (not part of the logging tree) into ``textgate.providers.smpp``."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.target = logging.getLogger(f"{__name__}.aiosmpplib")

    def emit(self, record: logging.LogRecord) -> None:
        if any(text in str(record.msg) for text in _QUIET):
            return
        self.target.handle(record)


class _Esme(ESME):  # type: ignore[misc]
    """aiosmpplib's ESME, reading deliver_sm itself (the one private method overridden; aiosmpplib is pinned).

    aiosmpplib's own deliver_sm handling (0.7.4) would (1) refuse a deliver_sm with an empty
    short_message and no message_payload, (2) parse every receipt's text strictly - dates must be
    ``YYMMDDhhmm``, ``sub``/``dlvrd``/``err`` decimal - where a ValueError ends the session, so the SMSC
    sends the receipt again after the reconnect, forever, and (3) correlate receipts and reassemble
    segments in its correlator, which the connector does itself. So a deliver_sm is parsed here and handed
    on as it is; anything else (and a deliver_sm that cannot be parsed at all: generic_nack) is left to
    aiosmpplib.
    """

    #: Takes a parsed deliver_sm and its sequence number, and answers it itself once it is handled (set by
    #: :class:`Link`). Returning None below tells aiosmpplib's receive loop not to answer it.
    take_deliver: Callable[[Any, int], Awaitable[None]]

    async def _handle_request(self, pdu: bytes, header: Any) -> Any:
        if header.smpp_command == SmppCommand.DELIVER_SM:
            try:
                dsm = LenientDeliverSm.from_pdu(pdu, header, self.default_encoding, self.custom_codecs)
            except ValueError:
                pass  # aiosmpplib logs it and answers generic_nack
            else:
                await self.take_deliver(dsm, header.sequence_num)
                return None
        return await super()._handle_request(pdu, header)


_STOP = object()
#: deliver_sm a session handles at once before it stops reading from the SMSC.
DELIVER_BACKLOG = 1000


class _Broker(AbstractBroker):  # type: ignore[misc]
    def __init__(self, link: Link) -> None:
        self.link = link
        self._queue: asyncio.Queue[Any] = asyncio.Queue()

    async def enqueue(self, message: Any) -> None:
        self._queue.put_nowait(message)

    async def dequeue(self) -> Any:
        while True:
            message = await self._queue.get()
            if message is _STOP:
                # Ends aiosmpplib's sender task at once (it would otherwise be given 0.5 s, then cancelled).
                raise ConnectionAbortedError("the SMPP session is stopping")
            if not isinstance(message, SubmitSm) or self.link.wanted(message):
                return message

    def close(self) -> None:
        self._queue.put_nowait(_STOP)

    def purge(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()


class _Correlator(AbstractCorrelator):  # type: ignore[misc]
    """Request/response pairing by sequence number; nothing about receipts or segments."""

    def __init__(self, link: Link, ttl: float) -> None:
        self.link = link
        self.ttl = ttl
        self._requests: dict[int, tuple[float, Any]] = {}

    def get_cumulated_status(self, ref_num: int) -> int:
        return 0

    async def expired(self, smpp_message: Any) -> None:
        return None

    async def put(self, smpp_message: Any) -> None:
        now = time.monotonic()
        if len(self._requests) > 1000:  # answers that never came (the submit timed out long ago)
            for seq, (at, _) in list(self._requests.items()):
                if now - at > self.ttl:
                    del self._requests[seq]
        self._requests[smpp_message.sequence_num] = (now, smpp_message)

    async def put_delivery(self, smsc_message_id: str, submit_sm: Any) -> None:
        return None

    async def put_delivery_segmented(self, deliver_sm: Any) -> Any:
        return deliver_sm  # the connector reassembles long inbound messages

    async def get(self, response: Any) -> Any:
        item = self._requests.pop(response.sequence_num, None)
        if item is None:
            return None
        request = item[1]
        if isinstance(request, SubmitSm):
            self.link.answered(request, response)
        return request

    async def get_segmented(self, smpp_seq_num: int, remove: bool = False) -> tuple[None, int]:
        return None, 0

    async def get_delivery(self, receipt: Any) -> None:
        return None

    def clear(self) -> None:
        self._requests.clear()


class _Hook(AbstractHook):  # type: ignore[misc]
    def __init__(self, link: Link) -> None:
        self.link = link

    async def sending(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
        return None

    async def received(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
        await self.link.received(smpp_message, pdu)

    async def send_error(self, smpp_message: Any, error: Exception, client_id: str) -> None:
        self.link.send_failed(smpp_message, error)


class _Backoff(AbstractRetryTimer):  # type: ignore[misc]
    def __init__(self, link: Link, initial: float, maximum: float) -> None:
        self.link = link
        self.initial = initial
        self.maximum = maximum
        self._delay = initial

    async def wait(self) -> None:
        self.link.went_down()
        delay = self._delay
        self._delay = min(self._delay * 2, self.maximum)
        await self.link.pause(delay)

    def reset(self) -> None:
        self._delay = self.initial
        self.link.came_up()

    def next_delay(self) -> float:
        return self._delay


class _ThrottlePause(AbstractThrottleHandler):  # type: ignore[misc]
    def __init__(self, pause: float) -> None:
        self.pause = pause
        self._until = 0.0

    async def throttled(self) -> None:
        self._until = time.monotonic() + self.pause

    async def not_throttled(self) -> None:
        return None

    async def allow_request(self) -> bool:
        return time.monotonic() >= self._until

    async def throttle_delay(self) -> float:
        return max(0.01, self._until - time.monotonic())


class TokenBucket(AbstractRateLimiter):  # type: ignore[misc]
    """At most ``rate`` PDUs a second, evenly spaced, over every session that shares it."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0

    async def limit(self) -> None:
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


def _expire(future: asyncio.Future[Any]) -> None:
    """A submit's deadline passed without an answer."""
    if not future.done():
        future.set_exception(TimeoutError())


class Link:
    """One bound (or binding) SMPP session and the submits in flight on it."""

    def __init__(
        self,
        *,
        label: str,
        host: str,
        port: int,
        system_id: str,
        password: str,
        system_type: str,
        mode: BindMode,
        window: int,
        enquire_link: float,
        socket_timeout: float,
        reconnect: tuple[float, float],
        throttle_pause: float,
        rate_limiter: TokenBucket | None,
        response_ttl: float,
        classify: Classify,
        on_deliver: OnDeliver,
    ) -> None:
        self.label = label
        self.mode = mode
        self._bound_state = mode.session_state  # (a chain of enum comparisons in aiosmpplib; asked per PDU)
        self.classify = classify
        self.on_deliver = on_deliver
        self.window = asyncio.Semaphore(window)
        self.window_size = window
        self.inflight: dict[str, asyncio.Future[str]] = {}
        self._on_accept: dict[str, Callable[[str], None]] = {}
        self.last_bind_status: str | None = None
        self.binds = 0
        self._stopping = asyncio.Event()
        self.broker = _Broker(self)
        self.correlator = _Correlator(self, response_ttl)
        self.esme = _Esme(
            smsc_host=host,
            smsc_port=port,
            system_id=system_id,
            password=password,
            system_type=system_type,
            bind_mode=mode,
            client_id=label,
            enquire_link_interval=float(enquire_link),
            log_level=logging.WARNING,
            log_handler=_Forward(logging.WARNING),
            log_include_timestamp=False,
            hook=_Hook(self),
            broker=self.broker,
            rate_limiter=rate_limiter,
            throttle_handler=_ThrottlePause(throttle_pause),
            correlator=self.correlator,
            retry_timer=_Backoff(self, reconnect[0], reconnect[1]),
            socket_timeout=float(socket_timeout),
            custom_codecs=CODECS,
        )
        self.esme.take_deliver = self._take_deliver
        # deliver_sm being handled: the receive loop goes on reading while they are stored (receipts that
        # arrive together are stored together), each is answered once stored; at most this many at once.
        self._deliver_room = asyncio.Semaphore(DELIVER_BACKLOG)
        self._delivering: set[asyncio.Task[None]] = set()
        #: Deliveries stored (or kept) whose answer waits (a receipt that came before its submission).
        self._holding: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    # -- life ---------------------------------------------------------------------------------------
    @property
    def bound(self) -> bool:
        return bool(self.esme.session_state == self._bound_state) and not self._stopping.is_set()

    @property
    def can_submit(self) -> bool:
        return self.mode is not BindMode.RECEIVER

    @property
    def room(self) -> int:
        """Window slots not taken by submits in flight."""
        return self.window_size - len(self.inflight)

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self.esme.start(), name=f"smpp-{self.label}")

    async def stop(self, timeout: float) -> None:
        if self._delivering:  # store and answer what the SMSC already handed over
            await asyncio.wait(set(self._delivering), timeout=timeout)
        for task in list(self._holding):  # unanswered: the SMSC sends them again after a new bind
            task.cancel()
        self._stopping.set()
        self.broker.close()
        try:
            # Unbinds when bound; either way marks the ESME as shutting down, so its loop ends.
            await asyncio.wait_for(self.esme.stop(), timeout)
        except (TimeoutError, OSError):
            log.warning("SMPP session %s did not unbind cleanly", self.label)
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            if not self._task.done():
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self.went_down()

    async def pause(self, seconds: float) -> None:
        """The reconnect delay; cut short by stop()."""
        if self._stopping.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def came_up(self) -> None:
        self.binds += 1
        self.last_bind_status = SmppCommandStatus.ESME_ROK.name
        log.info("SMPP session %s bound", self.label)

    def went_down(self) -> None:
        """The session dropped (or never came up): fail what waits on it; nothing queued is sent later."""
        lost = [f for f in self.inflight.values() if not f.done()]
        for future in lost:
            future.set_exception(
                CarrierError(
                    "the SMPP session dropped before the SMSC answered",
                    kind=ErrorKind.PROVIDER_ERROR,
                    retryable=True,
                    carrier="smpp",
                )
            )
        self.broker.purge()
        self.correlator.clear()
        if lost:
            log.warning("SMPP session %s dropped with %d submits unanswered", self.label, len(lost))

    # -- submitting ---------------------------------------------------------------------------------
    def wanted(self, message: Any) -> bool:
        future = self.inflight.get(message.log_id)
        return future is not None and not future.done()

    async def send(
        self, submit_sm: Any, deadline: float, on_accept: Callable[[str], None] | None = None
    ) -> str:
        """Send one submit_sm within the window; the SMSC's message id, or CarrierError.

        ``on_accept`` is called with the id as soon as the response is read, before any PDU after it (a
        receipt may follow in the same read, before this coroutine resumes).
        """
        loop = asyncio.get_running_loop()
        try:
            if self.window.locked():
                await asyncio.wait_for(self.window.acquire(), max(0.0, deadline - loop.time()))
            else:  # room in the window: no timeout task needed (this is the common case)
                await self.window.acquire()
        except TimeoutError:
            raise CarrierError(
                f"no room in the SMPP window ({self.window_size}) before the submit timeout",
                kind=ErrorKind.THROTTLED,
                retryable=True,
                carrier="smpp",
            ) from None
        key = submit_sm.log_id
        try:
            if not self.bound:
                raise CarrierError(
                    "the SMPP session is not bound", kind=ErrorKind.PROVIDER_ERROR, retryable=True, sent=False
                )
            future: asyncio.Future[str] = loop.create_future()
            self.inflight[key] = future
            if on_accept is not None:
                self._on_accept[key] = on_accept
            await self.broker.enqueue(submit_sm)
            # The deadline as a plain timer on the future (cheaper than wait_for, once per submit).
            timer = loop.call_at(deadline, _expire, future)
            try:
                return await future
            except TimeoutError:
                raise CarrierError(
                    "the SMSC did not answer the submit in time",
                    kind=ErrorKind.PROVIDER_ERROR,
                    retryable=True,
                    carrier="smpp",
                ) from None
            finally:
                timer.cancel()
        finally:
            self.inflight.pop(key, None)
            self._on_accept.pop(key, None)
            self.window.release()

    def answered(self, request: Any, response: Any) -> None:
        future = self.inflight.get(request.log_id)
        status = int(response.command_status)
        if future is None or future.done():
            if status == SmppCommandStatus.ESME_ROK and not isinstance(response, GenericNack):
                log.warning(
                    "SMPP %s: the SMSC accepted %s (id %s) after the submit was given up",
                    self.label,
                    request.log_id,
                    getattr(response, "message_id", ""),
                )
            return
        if isinstance(response, GenericNack) and status == SmppCommandStatus.ESME_ROK:
            status = int(SmppCommandStatus.ESME_RUNKNOWNERR)
        if status == SmppCommandStatus.ESME_ROK:
            message_id = str(response.message_id)
            on_accept = self._on_accept.pop(request.log_id, None)
            if on_accept is not None:
                on_accept(message_id)
            future.set_result(message_id)
        else:
            future.set_exception(self.classify(status))

    def send_failed(self, message: Any, error: Exception) -> None:
        future = self.inflight.get(getattr(message, "log_id", ""))
        if future is None or future.done():
            return
        if isinstance(error, ValueError):
            future.set_exception(
                CarrierError(
                    f"the submit_sm could not be built: {error}",
                    kind=ErrorKind.INVALID_CONTENT,
                    retryable=False,
                    carrier="smpp",
                )
            )
        else:
            future.set_exception(
                CarrierError(
                    f"sending the submit_sm failed: {error!r}",
                    kind=ErrorKind.PROVIDER_ERROR,
                    retryable=True,
                    carrier="smpp",
                )
            )

    # -- receiving ----------------------------------------------------------------------------------
    async def received(self, message: Any, pdu: bytes) -> None:
        if message is None:
            # aiosmpplib could not parse the PDU. A refused bind is one: SMSCs answer it with a bare header,
            # which aiosmpplib 0.7.4 cannot read (it expects a system_id); note the status all the same.
            self._note_bind_failure(pdu)
            return
        if isinstance(message, BindTransceiverResp):  # the transmitter/receiver answers subclass it
            self._note_bind(SmppCommandStatus(message.command_status).name)
        # (deliver_sm never gets here: _Esme hands each to _take_deliver.)

    async def _take_deliver(self, dsm: Any, sequence_num: int) -> None:
        """Start handling a deliver_sm (in the order they arrive) and return to reading the next PDU."""
        await self._deliver_room.acquire()
        task = asyncio.create_task(self._deliver(dsm, sequence_num, self.esme._writer))
        self._delivering.add(task)
        task.add_done_callback(self._delivering.discard)

    async def _deliver(self, dsm: Any, sequence_num: int, writer: Any) -> None:
        hold: Awaitable[Any] | None = None
        try:
            try:
                hold = await self.on_deliver(dsm)
            except Exception:  # a bad report must not end the session
                log.exception("SMPP session %s: handling a deliver_sm failed", self.label)
        finally:
            self._deliver_room.release()
        if hold is not None:
            # Waiting does not take room from the backlog: the submit_sm_resps that let this receipt
            # through may still have to be read from the same session.
            task = asyncio.current_task()
            assert task is not None
            self._delivering.discard(task)
            self._holding.add(task)
            try:
                await hold
            except TimeoutError:
                pass  # answered now; the connector keeps the receipt in memory and goes on retrying
            except Exception:
                log.exception("SMPP session %s: waiting to answer a deliver_sm failed", self.label)
            finally:
                self._holding.discard(task)
        if self.esme._writer is not writer or not self.bound:
            # The session it came on is gone: unanswered, the SMSC sends it again on a new one.
            return
        try:
            await self.esme._send_data(DeliverSmResp(sequence_num))
        except (OSError, ConnectionError, RuntimeError) as exc:
            log.info("SMPP session %s: answering a deliver_sm failed: %s", self.label, exc)

    def _note_bind_failure(self, pdu: bytes) -> None:
        try:
            header = SmppMessage.parse_header(pdu)
        except (ValueError, IndexError, struct.error):
            return
        if header.smpp_command in _BIND_RESPONSES:
            self._note_bind(SmppCommandStatus(header.command_status).name)

    def _note_bind(self, status: str) -> None:
        self.last_bind_status = status
        if status != SmppCommandStatus.ESME_ROK.name:
            log.error("SMPP session %s: bind refused: %s", self.label, status)
