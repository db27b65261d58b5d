"""Receipts over SMPP: text or TLVs, id formats, and receipts that overtake the submit_sm_resp."""

from __future__ import annotations

import pytest

from tests.providers.smpp.peer import Smsc
from tests.providers.smpp.support import FakeSink, config, eventually, outbound, run, running
from textgate.domain.errors import ErrorKind
from textgate.domain.message import MessageStatus


def test_receipt_before_submit_response_is_not_lost(smsc: Smsc) -> None:
    async def body() -> None:
        sink = FakeSink()
        await smsc.rule("447700900020", receipt_before_resp=True, resp_delay_ms=200)
        async with running(config(smsc), sink) as connector:
            carrier_id = await connector.submit(outbound("race", to="+447700900020"))
            # The receipt came first: the sink did not know the id yet and kept it.
            assert {r.carrier_id for r in sink.refused} == {carrier_id}
            assert sink.accepted == []
            sink.store(carrier_id)  # the dispatcher records the carrier id...
            await eventually(lambda: len(sink.accepted) == 1, what="the kept receipt")  # ...and it lands
            assert sink.accepted[0].carrier_id == carrier_id
            assert sink.accepted[0].status is MessageStatus.DELIVERED
        wanted = ("deliver_sm", "submit_sm_resp")
        received = [r["command"] for r in await smsc.received() if r["command"] in wanted]
        assert received == ["deliver_sm", "submit_sm_resp"]

    run(body())


@pytest.mark.parametrize(
    ("stat", "status", "kind"),
    [
        ("UNDELIV", MessageStatus.UNDELIVERED, ErrorKind.UNKNOWN),
        ("EXPIRED", MessageStatus.EXPIRED, ErrorKind.EXPIRED),
        ("REJECTD", MessageStatus.FAILED, ErrorKind.PROVIDER_ERROR),
    ],
)
def test_receipt_tlvs_without_text(smsc: Smsc, stat: str, status: MessageStatus, kind: ErrorKind) -> None:
    async def body() -> None:
        sink = FakeSink()
        await smsc.rule("447700900021", receipt=stat, receipt_tlvs=True, receipt_text="none")
        async with running(config(smsc), sink) as connector:
            sink.store(await connector.submit(outbound("tlv", to="+447700900021")))
            await eventually(lambda: len(sink.accepted) == 1, what="the receipt")
        receipt = sink.accepted[0]
        assert (receipt.status, receipt.error_kind) == (status, kind)
        assert receipt.error_message and stat in receipt.error_message
        assert receipt.raw["message_state"] > 0

    run(body())


@pytest.mark.parametrize(("id_format", "written"), [("dec", "dec"), ("auto", "dec"), ("auto", "same")])
def test_receipt_ids_in_another_notation(smsc: Smsc, id_format: str, written: str) -> None:
    async def body() -> None:
        sink = FakeSink()
        await smsc.rule("447700900022", receipt_id=written)
        async with running(config(smsc, id_format=id_format), sink) as connector:
            carrier_id = sink.store(await connector.submit(outbound("ids", to="+447700900022")))
            await eventually(lambda: len(sink.accepted) == 1, what="the receipt")
        (submit,) = await smsc.received("submit_sm")
        assert sink.accepted[0].carrier_id == carrier_id == format(int(submit["message_id"], 16), "x")
        if written == "dec":
            assert sink.accepted[0].raw["id"] == str(int(submit["message_id"], 16))

    run(body())


def test_receipt_dates_with_seconds_do_not_break_the_session(smsc: Smsc) -> None:
    # aiosmpplib's own receipt parser rejects 12-digit dates; the connector must still read the receipt.
    async def body() -> None:
        sink = FakeSink()
        await smsc.rule("447700900023", receipt_seconds=True, receipt="UNDELIV", receipt_err="0A3")
        async with running(config(smsc), sink) as connector:
            sink.store(await connector.submit(outbound("dates", to="+447700900023")))
            await eventually(lambda: len(sink.accepted) == 1, what="the receipt")
            assert sink.accepted[0].status is MessageStatus.UNDELIVERED
            assert "err:0A3" in (sink.accepted[0].error_message or "")
            assert connector.bind_statuses() == ["ESME_ROK"]
        responses = await smsc.received("deliver_sm_resp")
        assert [r["status"] for r in responses] == [0]
        assert len(await smsc.received("bind_transceiver")) == 1  # no reconnect

    run(body())
