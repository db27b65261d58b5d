"""Inbound (MO) messages: single, and multi-part reassembled (UDH 8/16-bit reference, SAR, UCS-2)."""

from __future__ import annotations

import pytest

from tests.providers.smpp.peer import Smsc
from tests.providers.smpp.support import FakeSink, config, eventually, run, running


def test_single_mo_message(smsc: Smsc) -> None:
    async def body() -> None:
        sink = FakeSink()
        async with running(config(smsc), sink):
            await smsc.deliver(source="447700900099", dest="447700900001", text="Hi there @ £5")
            await eventually(lambda: len(sink.messages) == 1, what="the inbound message")
        (message,) = sink.messages
        assert (message.from_addr, message.to_addr, message.body) == (
            "+447700900099",
            "+447700900001",
            "Hi there @ £5",
        )
        responses = await smsc.received("deliver_sm_resp")
        assert [r["status"] for r in responses] == [0]

    run(body())


@pytest.mark.parametrize(
    ("udh", "data_coding", "text"),
    [
        ("8", 0, "A long inbound message, sent in three parts by the handset, reassembled in order. " * 2),
        ("16", 0, "Another long one whose parts carry a sixteen-bit concatenation reference number. " * 2),
        ("sar", 0, "This one uses the SAR TLVs instead of a user data header in the short message. " * 2),
        ("8", 8, "Длинное сообщение из трёх частей в UCS-2, собранное обратно по порядку. " * 2),
    ],
)
def test_multi_part_mo_is_reassembled(smsc: Smsc, udh: str, data_coding: int, text: str) -> None:
    async def body() -> None:
        sink = FakeSink()
        async with running(config(smsc, binds=1), sink):
            await smsc.deliver(
                source="447700900098",
                dest="447700900001",
                text=text,
                parts=3,
                udh=udh,
                data_coding=data_coding,
                ref=0x1234 if udh != "8" else 0x42,
                order="reverse",
            )
            # And a single message from someone else in between must not be mixed in.
            await smsc.deliver(source="447700900097", dest="447700900001", text="unrelated")
            await eventually(lambda: len(sink.messages) == 2, what="both inbound messages")
        by_sender = {m.from_addr: m for m in sink.messages}
        assert by_sender["+447700900098"].body == text
        assert by_sender["+447700900098"].raw["parts"] == 3
        assert by_sender["+447700900097"].body == "unrelated"

    run(body())
