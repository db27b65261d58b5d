"""deliver_sm handling against the real SMSC peer: each deliver_sm is answered only once the sink has
stored it, a slow store does not stop the session from reading (and storing) the ones after it, and a
receipt that comes before its message is known is stored for it - and answered - at once.

The peer records every deliver_sm_resp it receives with the receipt id it answers, which is how "not
answered before the sink returned" is observed from outside the connector.
"""

from __future__ import annotations

import asyncio

from tests.providers.smpp.peer import Smsc
from tests.providers.smpp.support import FakeSink, config, eventually, outbound, run, running
from textgate.providers.base import Receipt


class BlockingSink(FakeSink):
    """The first keep_receipts() call waits until :meth:`release`; later calls go through at once."""

    def __init__(self) -> None:
        super().__init__()
        self.first_entered = asyncio.Event()
        self.first_returned = False
        self._gate = asyncio.Event()
        self._first_taken = False

    def release(self) -> None:
        self._gate.set()

    async def keep_receipts(
        self, connector: str, receipts: list[Receipt], *, keep: bool = True
    ) -> list[str | None]:
        if self._first_taken:
            return await super().keep_receipts(connector, receipts, keep=keep)
        self._first_taken = True
        self.first_entered.set()
        await self._gate.wait()
        try:
            return await super().keep_receipts(connector, receipts, keep=keep)
        finally:
            self.first_returned = True


class FailingSink(FakeSink):
    """Storing fails (the database is down) until :attr:`working` is set."""

    working = False

    async def keep_receipts(
        self, connector: str, receipts: list[Receipt], *, keep: bool = True
    ) -> list[str | None]:
        if not self.working:
            raise OSError("the database is unreachable")
        return await super().keep_receipts(connector, receipts, keep=keep)


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


def test_an_early_receipt_is_stored_for_its_message_and_answered_at_once(smsc: Smsc) -> None:
    async def body() -> None:
        sink = FakeSink()
        async with running(config(smsc), sink) as connector:
            # The "dispatcher" has not stored the carrier id when the receipt comes 20 ms later.
            carrier_id = await connector.submit(outbound("early", to="+447700900033"))
            await eventually(lambda: len(sink.refused) == 1, what="the receipt kept for its message")
            await eventually(lambda: is_answered(smsc, carrier_id), what="its deliver_sm answered")
            assert sink.accepted == []
            sink.store(carrier_id)  # the round is recorded: the kept receipt applies
            assert [r.carrier_id for r in sink.accepted] == [carrier_id]
        assert len(await smsc.received("deliver_sm")) == 1

    run(body())


def test_a_deliver_sm_that_cannot_be_stored_stays_unanswered(smsc: Smsc) -> None:
    async def body() -> None:
        sink = FailingSink()
        async with running(config(smsc), sink) as connector:
            carrier_id = sink.store(await connector.submit(outbound("kept at the SMSC", to="+447700900034")))

            async def delivered() -> bool:
                return len(await smsc.received("deliver_sm")) == 1

            await eventually(delivered, what="the receipt sent")
            await asyncio.sleep(0.3)
            assert not await is_answered(smsc, carrier_id)  # the SMSC still has it and sends it again
            assert connector.health().value == "up"  # the session stays up

    run(body())
