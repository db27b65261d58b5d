"""Binding, submitting and receipts against the node SMSC."""

from __future__ import annotations

import pytest

from tests.providers.smpp.peer import Smsc
from tests.providers.smpp.support import FakeSink, config, eventually, outbound, run, running
from textgate.domain.errors import CarrierError, ErrorKind
from textgate.domain.message import MessageStatus
from textgate.providers.base import Health
from textgate.providers.smpp import SmppConnector


def test_binds_as_transceiver_and_reports_up(smsc: Smsc) -> None:
    async def body() -> None:
        async with running(config(smsc, binds=2, system_type="tg"), FakeSink()) as connector:
            assert connector.health() is Health.UP
            sessions = await smsc.sessions()
            assert sorted(s["mode"] for s in sessions) == ["transceiver", "transceiver"]
            binds = await smsc.received("bind_transceiver")
            assert all(b["ok"] and b["system_id"] == "textgate" and b["system_type"] == "tg" for b in binds)
        assert connector.health() is Health.DOWN

    run(body())


def test_submit_and_receipt(smsc: Smsc) -> None:
    async def body() -> None:
        sink = FakeSink()
        await smsc.rule("447700900001", receipt_id="lower")
        async with running(config(smsc), sink) as connector:
            carrier_id = sink.store(await connector.submit(outbound("Hello there")))
            await eventually(lambda: len(sink.accepted) == 1, what="the receipt")
        (submit,) = await smsc.received("submit_sm")
        # The response id is 8-digit upper-case hex, the receipt's lower-case without zeros: one id.
        assert carrier_id == submit["message_id"].lower().lstrip("0")
        receipt = sink.accepted[0]
        assert receipt.carrier_id == carrier_id
        assert receipt.status is MessageStatus.DELIVERED
        assert receipt.error_kind is None
        assert receipt.raw["stat"] == "DELIVRD"
        # The PDU: alphanumeric sender TON 5 / NPI 0, international destination TON 1 / NPI 1 without "+".
        assert submit["source_addr"] == "TextGate"
        assert (submit["source_addr_ton"], submit["source_addr_npi"]) == (5, 0)
        assert submit["destination_addr"] == "447700900001"
        assert (submit["dest_addr_ton"], submit["dest_addr_npi"]) == (1, 1)
        assert submit["data_coding"] == 0
        assert submit["esm_class"] == 0
        assert submit["registered_delivery"] == 1
        assert submit["text"] == "Hello there"

    run(body())


def test_bad_password_is_refused_and_health_stays_down(smsc: Smsc) -> None:
    async def body() -> None:
        sink = FakeSink()
        async with running(config(smsc, password="wrong"), sink, bound=False) as connector:
            await eventually(lambda: connector.bind_statuses() == ["ESME_RINVPASWD"], what="the refused bind")
            assert connector.health() is Health.DOWN
            with pytest.raises(CarrierError) as caught:
                await connector.submit(outbound("never sent"))
            assert caught.value.retryable
            # It keeps trying, with backoff.
            await eventually(lambda: _binds(smsc, 2), what="a second bind attempt")
        assert await smsc.received("submit_sm") == []

    run(body())


async def _binds(smsc: Smsc, count: int) -> bool:
    return len(await smsc.received("bind_transceiver")) >= count


def test_tx_rx_binds_a_transmitter_and_a_receiver(smsc: Smsc) -> None:
    async def body() -> None:
        sink = FakeSink()
        async with running(config(smsc, bind_mode="tx_rx"), sink) as connector:
            sessions = await smsc.sessions()
            assert sorted(s["mode"] for s in sessions) == ["receiver", "transmitter"]
            carrier_id = sink.store(await connector.submit(outbound("over tx, receipt over rx")))
            await eventually(lambda: len(sink.accepted) == 1, what="the receipt on the receiver")
            assert sink.accepted[0].carrier_id == carrier_id
        (submit,) = await smsc.received("submit_sm")
        modes = {s["session"]: s for s in await smsc.received("bind_transmitter")}
        assert submit["session"] in modes

    run(body())


def test_degraded_while_some_sessions_are_down_then_up_again(smsc: Smsc) -> None:
    async def body() -> None:
        async with running(config(smsc, binds=2, reconnect_initial=0.6, reconnect_max=0.6), FakeSink()) as c:
            assert c.health() is Health.UP
            first = (await smsc.sessions())[0]["session"]
            assert await smsc.drop(first) == 1
            await eventually(lambda: c.health() is Health.DEGRADED, what="one session noticed as down")
            assert await c.submit(outbound("the other session still sends"))
            await eventually(lambda: c.health() is Health.UP, what="the reconnect")
        assert c.health() is Health.DOWN

    run(body())


def test_a_transient_refusal_is_retryable(smsc: Smsc) -> None:
    async def body() -> None:
        await smsc.rule("447700900002", status="ESME_RSYSERR")
        async with running(config(smsc), FakeSink()) as connector:
            with pytest.raises(CarrierError) as caught:
                await connector.submit(outbound("busy", to="+447700900002"))
            assert caught.value.retryable
            assert caught.value.kind is ErrorKind.PROVIDER_ERROR
            assert "ESME_RSYSERR" in caught.value.message
            # The session is fine: the next message goes through.
            assert await connector.submit(outbound("fine"))

    run(body())


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("ESME_RINVDSTADR", ErrorKind.INVALID_DESTINATION),
        ("ESME_RINVSRCADR", ErrorKind.INVALID_SENDER),
        ("ESME_RINVMSGLEN", ErrorKind.INVALID_CONTENT),
    ],
)
def test_permanent_refusals_are_not_retryable(smsc: Smsc, status: str, kind: ErrorKind) -> None:
    async def body() -> None:
        await smsc.rule("447700900003", status=status)
        async with running(config(smsc), FakeSink()) as connector:
            with pytest.raises(CarrierError) as caught:
                await connector.submit(outbound("nope", to="+447700900003"))
            assert not caught.value.retryable
            assert caught.value.kind is kind

    run(body())


def test_window_is_never_exceeded(smsc: Smsc) -> None:
    async def body() -> None:
        await smsc.rule("447700900005", resp_delay_ms=150)
        sink = FakeSink()
        async with running(config(smsc, window=3), sink) as connector:
            outcomes = await connector.submit_many([outbound(f"m{i}", to="+447700900005") for i in range(10)])
        assert all(isinstance(o, str) for o in outcomes), outcomes
        assert len(set(outcomes)) == 10
        assert max((await smsc.max_outstanding()).values()) == 3

    run(body())


def test_throughput_cap_spaces_submits(smsc: Smsc) -> None:
    async def body() -> None:
        async with running(config(smsc, throughput=20.0, binds=2), FakeSink()) as connector:
            await connector.submit_many([outbound(f"t{i}") for i in range(11)])
        submits = await smsc.received("submit_sm")
        span = (submits[-1]["at"] - submits[0]["at"]) / 1000
        assert span >= 0.4, span  # 10 intervals of 50 ms, over both sessions

    run(body())


def test_enquire_link_keeps_the_session_alive(smsc: Smsc) -> None:
    async def body() -> None:
        async with running(config(smsc, enquire_link=0.2), FakeSink()) as connector:
            await eventually(lambda: _count(smsc, "enquire_link", 2), what="two enquire_links")
            assert connector.health() is Health.UP

    run(body())


async def _count(smsc: Smsc, command: str, count: int) -> bool:
    return len(await smsc.received(command)) >= count


def test_no_session_is_a_retryable_error() -> None:
    async def body() -> None:
        connector = SmppConnector(
            config(_Nowhere(), port=1, reconnect_initial=1.0, reconnect_max=1.0)  # nothing listens on port 1
        )
        await connector.start(FakeSink())
        try:
            assert connector.health() is Health.DOWN
            with pytest.raises(CarrierError) as caught:
                await connector.submit(outbound("nowhere to go"))
            assert caught.value.retryable
        finally:
            await connector.stop()

    run(body())


class _Nowhere(Smsc):
    pass


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="password"):
        config(_Nowhere(), password="much-too-long")
    with pytest.raises(ValueError, match="long_messages"):
        config(_Nowhere(), long_messages="split")
    with pytest.raises(ValueError, match="id_format"):
        config(_Nowhere(), id_format="octal")
