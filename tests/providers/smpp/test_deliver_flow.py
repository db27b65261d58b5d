"""deliver_sm handling against the real SMSC peer: each deliver_sm is answered only once the sink has
stored it, and a slow store does not stop the session from reading (and storing) the ones after it.

The peer records every deliver_sm_resp it receives with the receipt id it answers, which is how "not
answered before the sink returned" is observed from outside the connector.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from prometheus_client import REGISTRY

from tests.providers.smpp.peer import Smsc
from tests.providers.smpp.support import FakeSink, config, eventually, outbound, run, running
from textgate.providers.base import Receipt
from textgate.providers.smpp.connector import SmppConnector


class BlockingSink(FakeSink):
    """The first receipts() call waits until :meth:`release`; later calls go through at once."""

    def __init__(self) -> None:
        super().__init__()
        self.first_entered = asyncio.Event()
        self.first_returned = False
        self._gate = asyncio.Event()
        self._first_taken = False

    def release(self) -> None:
        self._gate.set()

    async def receipts(self, connector: str, receipts: list[Receipt]) -> list[bool]:
        if self._first_taken:
            return await super().receipts(connector, receipts)
        self._first_taken = True
        self.first_entered.set()
        await self._gate.wait()
        try:
            return await super().receipts(connector, receipts)
        finally:
            self.first_returned = True


async def answered(smsc: Smsc) -> dict[int, list[int]]:
    """deliver_sm_resp the peer received, by the receipted message id (as a number): their statuses."""
    out: dict[int, list[int]] = {}
    for record in await smsc.received("deliver_sm_resp"):
        if record.get("receipt_for") is not None:
            out.setdefault(int(record["receipt_for"], 16), []).append(int(record["status"]))
    return out


async def is_answered(smsc: Smsc, carrier_id: str) -> bool:
    return int(carrier_id, 16) in await answered(smsc)


def test_a_slow_receipt_holds_up_neither_reading_nor_the_next_receipt(smsc: Smsc) -> None:
    async def body() -> None:
        sink = BlockingSink()
        # The receipt follows each submit_sm_resp after 20 ms (the peer's default).
        async with running(config(smsc), sink) as connector:
            first = sink.store(await connector.submit(outbound("first", to="+447700900031")))
            await asyncio.wait_for(sink.first_entered.wait(), 5)

            # The first receipt is stuck in the sink. The session still reads: this submit_sm_resp and
            # the receipt after it arrive on the same connection and get through.
            second = sink.store(await connector.submit(outbound("second", to="+447700900032")))
            await eventually(lambda: len(sink.accepted) == 1, what="the second receipt in the sink")
            assert sink.accepted[0].carrier_id == second
            assert not sink.first_returned

            # The second was answered once stored; the first is not answered while its store is pending.
            await eventually(lambda: is_answered(smsc, second), what="the second deliver_sm answered")
            assert int(first, 16) not in await answered(smsc)

            sink.release()
            await eventually(lambda: len(sink.accepted) == 2, what="the first receipt stored")
            await eventually(lambda: is_answered(smsc, first), what="the first answered")
            assert sink.first_returned

        assert sorted(r.carrier_id for r in sink.accepted) == sorted([first, second])
        assert sink.refused == []
        assert await answered(smsc) == {int(first, 16): [0], int(second, 16): [0]}
        receipts = await smsc.received("deliver_sm")
        assert len(receipts) == 2  # each sent once: nothing was resent for want of an answer
        assert len(await smsc.received("bind_transceiver")) == 1  # and the session never dropped

    run(body())


def gauges(connector: str) -> tuple[float | None, float | None]:
    """The /metrics gauges of kept receipts and held deliver_sm for ``connector``."""
    labels = {"connector": connector}
    return (
        REGISTRY.get_sample_value("textgate_smpp_receipts_kept", labels),
        REGISTRY.get_sample_value("textgate_smpp_deliver_sm_held", labels),
    )


@contextlib.asynccontextmanager
async def early_receipt(
    smsc: Smsc, to: str, **settings: Any
) -> AsyncIterator[tuple[SmppConnector, FakeSink, str]]:
    """A running connector whose submit to ``to`` returned, but whose carrier id the "dispatcher" has
    not stored yet: yields once the receipt that followed 20 ms later found no message and was kept."""
    sink = FakeSink()
    async with running(config(smsc, **{"receipt_retry_interval": 0.1, **settings}), sink) as connector:
        carrier_id = await connector.submit(outbound("early", to=to))
        await eventually(lambda: len(sink.refused) >= 1, what="the receipt tried and kept")
        yield connector, sink, carrier_id


def test_a_receipt_before_its_submission_is_stored_is_answered_only_once_applied(smsc: Smsc) -> None:
    async def body() -> None:
        async with early_receipt(smsc, "+447700900033") as (connector, sink, carrier_id):
            await eventually(lambda: len(sink.refused) >= 2, what="the receipt tried again")
            assert not await is_answered(smsc, carrier_id)  # the SMSC still holds it
            # ... and operators see it: one receipt kept, one deliver_sm held.
            assert gauges(connector.name) == (1.0, 1.0)
            sink.store(carrier_id)
            await eventually(lambda: is_answered(smsc, carrier_id), what="answered once applied")
            assert [r.carrier_id for r in sink.accepted] == [carrier_id]
            assert gauges(connector.name) == (0.0, 0.0)
        assert await answered(smsc) == {int(carrier_id, 16): [0]}
        assert len(await smsc.received("deliver_sm")) == 1

    run(body())


def test_a_kept_receipt_is_answered_after_receipt_hold_and_applied_later(smsc: Smsc) -> None:
    async def body() -> None:
        async with early_receipt(smsc, "+447700900034", receipt_hold=0.5) as (_connector, sink, carrier_id):
            await eventually(lambda: is_answered(smsc, carrier_id), what="answered after the hold")
            assert sink.accepted == []
            sink.store(carrier_id)  # stored only now: the receipt kept in memory still gets applied
            await eventually(lambda: len(sink.accepted) == 1, what="the kept receipt applied")
        assert await answered(smsc) == {int(carrier_id, 16): [0]}

    run(body())


def test_stopping_leaves_a_held_receipt_unanswered_without_waiting_for_it(smsc: Smsc) -> None:
    async def body() -> None:
        async with early_receipt(smsc, "+447700900035", receipt_hold=60.0) as (_connector, _sink, carrier_id):
            stopping = asyncio.get_running_loop().time()
        assert asyncio.get_running_loop().time() - stopping < 10.0  # not the 60 s hold
        # Unanswered: the SMSC keeps it and sends it again after the next bind.
        assert int(carrier_id, 16) not in await answered(smsc)

    run(body(), timeout=40.0)


def test_a_recorded_round_retries_kept_receipts_at_once(smsc: Smsc) -> None:
    async def body() -> None:
        # Retrying on its own only every 30 s: the dispatcher's word that it recorded a round is what
        # brings the kept receipt in (and gets its deliver_sm answered).
        async with early_receipt(smsc, "+447700900036", receipt_retry_interval=30.0) as (
            connector,
            sink,
            carrier_id,
        ):
            sink.store(carrier_id)
            connector.recorded()
            await eventually(lambda: len(sink.accepted) == 1, timeout=3.0, what="applied after recorded()")
            await eventually(lambda: is_answered(smsc, carrier_id), timeout=3.0, what="then answered")

    run(body())


def test_a_receipt_for_an_id_this_process_never_submitted_is_answered_at_once(smsc: Smsc) -> None:
    async def body() -> None:
        sink = FakeSink()
        async with running(config(smsc, receipt_retry_interval=0.1, receipt_hold=60.0), sink):
            text = "id:7fffabc sub:001 dlvrd:001 submit date:2611221200 done date:2611221201 "
            text += "stat:DELIVRD err:000"
            await smsc.deliver(source="447700900037", dest="15551230001", text=text, esm_class=4)
            await eventually(lambda: len(sink.refused) >= 1, what="the receipt tried and kept")

            async def answered_now() -> bool:
                return any(r.get("status") == 0 for r in await smsc.received("deliver_sm_resp"))

            # Sent before a restart, or by another gateway: waiting for a record here would be in vain.
            await eventually(answered_now, timeout=3.0, what="answered without the 60 s hold")
            assert [r.carrier_id for r in sink.refused][:1] == ["7fffabc"]

    run(body())
