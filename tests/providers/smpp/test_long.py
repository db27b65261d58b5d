"""Long messages: split by domain.encoding, sent as UDH, SAR or message_payload; receipts rolled up."""

from __future__ import annotations

from typing import Any

from tests.providers.smpp.peer import Smsc
from tests.providers.smpp.support import FakeSink, MemorySink, config, eventually, outbound, run, running
from textgate.domain.encoding import split
from textgate.domain.message import MessageStatus

GSM_TEXT = "".join(f"Part text {i:03d} with GSM-7 only [brackets] cost two. " for i in range(8))[:420]
UCS2_TEXT = ("Привет мир! Ünïcødé and emoji 🙂 " * 6)[:170]


def _udh(submit: dict) -> tuple[int, int, int]:
    (ie,) = submit["udh"]
    assert ie.startswith("0003"), ie
    return int(ie[4:6], 16), int(ie[6:8], 16), int(ie[8:10], 16)


def test_long_gsm7_message_goes_in_three_udh_parts_and_its_receipts_roll_up(smsc: Smsc) -> None:
    assert len(split(GSM_TEXT)) == 3

    async def body() -> None:
        sink = FakeSink()
        async with running(config(smsc), sink) as connector:
            carrier_id = sink.store(await connector.submit(outbound(GSM_TEXT)))
            await eventually(lambda: len(sink.accepted) == 1, what="the rolled-up receipt")
        submits = await smsc.received("submit_sm")
        assert len(submits) == 3
        assert carrier_id == submits[0]["message_id"].lower().lstrip("0")
        refs = {_udh(s)[0] for s in submits}
        assert len(refs) == 1
        assert [_udh(s)[1:] for s in submits] == [(3, 1), (3, 2), (3, 3)]
        assert all(s["esm_class"] & 0x40 and s["data_coding"] == 0 for s in submits)
        assert "".join(s["text"] for s in submits) == GSM_TEXT
        assert [s["text"] for s in submits] == split(GSM_TEXT)
        (receipt,) = sink.accepted
        assert receipt.carrier_id == carrier_id
        assert receipt.status is MessageStatus.DELIVERED
        assert [p["part"] for p in receipt.raw["parts"]] == [1, 2, 3]
        # One receipt per message, never one per part (the roll-up may be refused and retried while the
        # dispatcher has not stored the carrier id yet: the last part's receipt can beat submit()'s return).
        assert {r.carrier_id for r in sink.refused} <= {carrier_id}

    run(body())


def test_long_ucs2_message_uses_data_coding_8(smsc: Smsc) -> None:
    parts = split(UCS2_TEXT)
    assert len(parts) == 3

    async def body() -> None:
        sink = FakeSink()
        async with running(config(smsc), sink) as connector:
            carrier_id = sink.store(await connector.submit(outbound(UCS2_TEXT)))
            await eventually(lambda: len(sink.accepted) == 1, what="the rolled-up receipt")
        submits = await smsc.received("submit_sm")
        assert [s["data_coding"] for s in submits] == [8, 8, 8]
        assert [s["text"] for s in submits] == parts
        assert sink.accepted[0].carrier_id == carrier_id

    run(body())


def test_one_undelivered_part_fails_the_message(smsc: Smsc) -> None:
    async def body() -> None:
        sink = FakeSink()
        await smsc.rule("447700900030", receipt_parts={"2": "UNDELIV"})
        async with running(config(smsc), sink) as connector:
            carrier_id = sink.store(await connector.submit(outbound(GSM_TEXT, to="+447700900030")))
            await eventually(lambda: len(sink.accepted) == 1, what="the rolled-up receipt")
        (receipt,) = sink.accepted
        assert receipt.carrier_id == carrier_id
        assert receipt.status is MessageStatus.UNDELIVERED
        assert [p["stat"] for p in receipt.raw["parts"]] == ["DELIVRD", "UNDELIV", "DELIVRD"]

    run(body())


def test_sar_mode_sends_tlvs_instead_of_udh(smsc: Smsc) -> None:
    async def body() -> None:
        sink = FakeSink()
        async with running(config(smsc, long_messages="sar"), sink) as connector:
            sink.store(await connector.submit(outbound(GSM_TEXT)))
            await eventually(lambda: len(sink.accepted) == 1, what="the rolled-up receipt")
        submits = await smsc.received("submit_sm")
        assert [(s["sar_total_segments"], s["sar_segment_seqnum"]) for s in submits] == [
            (3, 1),
            (3, 2),
            (3, 3),
        ]
        assert len({s["sar_msg_ref_num"] for s in submits}) == 1
        assert all(s["udh"] == [] and not s["esm_class"] & 0x40 for s in submits)
        assert "".join(s["text"] for s in submits) == GSM_TEXT

    run(body())


def test_payload_mode_sends_one_submit_with_message_payload(smsc: Smsc) -> None:
    async def body() -> None:
        sink = FakeSink()
        async with running(config(smsc, long_messages="payload"), sink) as connector:
            carrier_id = sink.store(await connector.submit(outbound(UCS2_TEXT)))
            await eventually(lambda: len(sink.accepted) == 1, what="the receipt")
        (submit,) = await smsc.received("submit_sm")
        assert submit["payload_text"] == UCS2_TEXT
        assert submit["data_coding"] == 8
        assert sink.accepted[0].carrier_id == carrier_id

    run(body())


def test_a_refused_part_fails_the_whole_message(smsc: Smsc) -> None:
    async def body() -> None:
        await smsc.rule("447700900031", status="ESME_RINVDSTADR")
        async with running(config(smsc), FakeSink()) as connector:
            outcome = (await connector.submit_many([outbound(GSM_TEXT, to="+447700900031")]))[0]
        assert not isinstance(outcome, str)
        assert not outcome.retryable

    run(body())


def test_the_last_part_receipt_is_answered_once_the_rolled_up_receipt_is_applied(smsc: Smsc) -> None:
    async def body() -> None:
        sink = FakeSink()
        async with running(config(smsc, receipt_retry_interval=0.1), sink) as connector:
            carrier_id = await connector.submit(outbound(GSM_TEXT))  # not stored yet
            await eventually(lambda: len(sink.refused) >= 2, what="the roll-up tried and kept")
            answered_early = await smsc.received("deliver_sm_resp")
            # The first two parts' receipts are taken into the roll-up and answered; the last one, which
            # completed the roll-up that no message matches yet, is held.
            assert len(answered_early) == 2
            sink.store(carrier_id)
            await eventually(lambda: len(sink.accepted) == 1, what="the rolled-up receipt applied")

            async def all_answered() -> bool:
                return len(await smsc.received("deliver_sm_resp")) == 3

            await eventually(all_answered, what="the last part's deliver_sm answered")
        assert {r.carrier_id for r in sink.accepted} == {carrier_id}
        assert len(await smsc.received("deliver_sm")) == 3

    run(body())


async def push_receipt(smsc: Smsc, message_id: str, stat: str) -> None:
    """A receipt the peer sends as told (not in answer to a submit on this session)."""
    err = "000" if stat == "DELIVRD" else "001"
    text = f"id:{message_id} sub:001 dlvrd:001 submit date:2611221200 done date:2611221201 stat:{stat}"
    text += f" err:{err}"
    await smsc.deliver(source="447700900001", dest="15551230001", text=text, esm_class=4)


def test_the_parts_of_a_long_message_still_roll_up_after_a_restart(smsc: Smsc) -> None:
    """Part 1's receipt comes before the restart, parts 2 and 3 after it, to a new connector that never
    submitted them: the rolled-up receipt still names every part, and part 2's failure decides."""

    async def body() -> None:
        await smsc.rule("447700900001", receipt=None)  # receipts are pushed by hand below
        memory: dict[tuple[str, str], dict[str, Any]] = {}
        before = MemorySink(memory)
        async with running(config(smsc), before) as connector:
            carrier_id = before.store(await connector.submit(outbound(GSM_TEXT, to="+447700900001")))
            ids = [s["message_id"] for s in await smsc.received("submit_sm")]
            assert len(ids) == 3
            await push_receipt(smsc, ids[0], "DELIVRD")
            key = (connector.name, f"long:{carrier_id}")
            await eventually(lambda: "0" in memory.get(key, {}).get("outcomes", {}), what="part 1 stored")
            assert len(memory) == 4  # the record and a pointer per part
            assert before.accepted == []  # not complete: nothing reported yet

        after = MemorySink(memory)  # the same database, a new process
        after.store(carrier_id)
        async with running(config(smsc), after):
            await push_receipt(smsc, ids[1], "UNDELIV")
            await push_receipt(smsc, ids[2], "DELIVRD")
            await eventually(lambda: len(after.accepted) == 1, what="the rolled-up receipt")
            (receipt,) = after.accepted
            assert receipt.carrier_id == carrier_id
            assert receipt.status is MessageStatus.UNDELIVERED
            assert [p["part"] for p in receipt.raw["parts"]] == [1, 2, 3]
            await eventually(lambda: memory == {}, what="forgotten once applied")
        assert after.refused == []  # no part was taken for a message of its own

    run(body())
