"""Flow control against a hostile SMSC (the node peer): throttles, rate limits, slow and missing answers,
a connection dropped with a full window, binds refused for a while. The connector must keep every
message it can send, slow down instead of failing, and never resubmit blindly."""

from __future__ import annotations

import asyncio
import time

from tests.providers.smpp.peer import Smsc
from tests.providers.smpp.support import FakeSink, config, eventually, outbound, run, running
from textgate.providers.base import Deferred, Unknown


def test_throttles_are_sent_again_and_never_fail_a_message(smsc: Smsc) -> None:
    async def body() -> None:
        await smsc.default_rule(throttle_every=3)
        async with running(config(smsc), FakeSink()) as connector:
            outcomes = await connector.submit_many(
                [outbound(f"m{i}", to=f"+4477009{i:05d}") for i in range(30)]
            )
            paced = connector.sessions[0].pacer.throttles
        assert all(isinstance(o, str) for o in outcomes), outcomes
        counts = await smsc.counts()
        assert counts["accepted"] == 30
        assert counts["throttled"] >= 10  # one in three of everything the SMSC was sent
        assert set(counts["distinct"].values()) == {1}  # each message taken exactly once
        assert paced == counts["throttled"]  # and every throttle reached the pacer

    run(body())


def test_a_rate_limited_smsc_is_paced_not_flooded(smsc: Smsc) -> None:
    async def body() -> None:
        await smsc.limits(tps=40)
        async with running(config(smsc, window=10, queue_timeout=20.0), FakeSink()) as connector:
            outcomes = await connector.submit_many(
                [outbound(f"r{i}", to=f"+4477008{i:05d}") for i in range(100)]
            )
            rate = connector.sessions[0].rate()
        assert all(isinstance(o, str) for o in outcomes), outcomes
        counts = await smsc.counts()
        assert counts["accepted"] == 100
        assert set(counts["distinct"].values()) == {1}
        # Without pacing, every answer frees the window for an immediate resend into the limit: thousands of
        # throttles for these 100 messages. Paced - while it learns the limit, in 2.5 s - a few hundred.
        assert counts["throttled"] < 500, counts
        assert rate is not None  # still paced right after the run

    run(body())


def test_the_submit_timeout_runs_from_the_write_not_the_queue(smsc: Smsc) -> None:
    async def body() -> None:
        await smsc.rule("447700900041", resp_delay_ms=300)
        # One slot: the fifth submit waits 1.2 s for its turn, far past the 0.5 s answer timeout.
        cfg = config(smsc, window=1, submit_timeout=0.5, queue_timeout=10.0)
        async with running(cfg, FakeSink()) as connector:
            outcomes = await connector.submit_many([outbound(f"w{i}", to="+447700900041") for i in range(5)])
        assert all(isinstance(o, str) for o in outcomes), outcomes
        assert len(await smsc.received("submit_sm")) == 5

    run(body())


def test_queued_too_long_comes_back_unsent(smsc: Smsc) -> None:
    async def body() -> None:
        await smsc.rule("447700900042", resp_delay_ms=1000)
        cfg = config(smsc, window=1, submit_timeout=5.0, queue_timeout=0.3)
        async with running(cfg, FakeSink()) as connector:
            outcomes = await connector.submit_many([outbound(f"q{i}", to="+447700900042") for i in range(3)])
        assert isinstance(outcomes[0], str)
        assert all(isinstance(o, Deferred) for o in outcomes[1:]), outcomes
        assert len(await smsc.received("submit_sm")) == 1  # the others never left textgate

    run(body())


def test_no_answer_is_an_unknown_outcome_and_a_late_answer_is_reported(smsc: Smsc) -> None:
    async def body() -> None:
        await smsc.rule("447700900043", resp_delay_ms=800)
        sink = FakeSink()
        cfg = config(smsc, submit_timeout=0.3, resubmit_after=30.0)
        async with running(cfg, sink) as connector:
            message = outbound("slow", to="+447700900043")
            (outcome,) = await connector.submit_many([message])
            assert isinstance(outcome, Unknown), outcome
            assert outcome.seconds == 30.0
            await eventually(lambda: len(sink.late) == 1, what="the late submit_sm_resp")
        (submit,) = await smsc.received("submit_sm")
        (late,) = sink.late
        assert late.message_id == message.id
        assert late.carrier_id == submit["message_id"].lower().lstrip("0")
        assert len(await smsc.received("submit_sm")) == 1  # nothing was sent twice

    run(body())


def test_a_connection_dropped_with_a_full_window_leaves_unknown_outcomes(smsc: Smsc) -> None:
    async def body() -> None:
        await smsc.rule("447700900044", resp_delay_ms=500, drop_at_outstanding=4)
        async with running(config(smsc, window=4), FakeSink()) as connector:
            outcomes = await connector.submit_many([outbound(f"d{i}", to="+447700900044") for i in range(4)])
            assert all(isinstance(o, Unknown) for o in outcomes), outcomes
            assert "dropped" in outcomes[0].reason  # type: ignore[union-attr]
            await eventually(lambda: connector.health().value == "up", what="the reconnect")
            assert isinstance(await connector.submit(outbound("after", to="+447700900045")), str)
        assert len(await smsc.received("bind_transceiver")) == 2

    run(body())


def test_binds_refused_for_a_while_are_retried_until_they_succeed(smsc: Smsc) -> None:
    async def body() -> None:
        await smsc.refuse_binds(1.0)
        started = time.monotonic()
        cfg = config(smsc, reconnect_initial=0.1, reconnect_max=0.4)
        async with running(cfg, FakeSink(), bound=False) as connector:
            await eventually(lambda: connector.bind_statuses() == ["ESME_RBINDFAIL"], what="a refused bind")
            (outcome,) = await connector.submit_many([outbound("while refused")])
            assert isinstance(outcome, Deferred)  # waiting, not failing
            await eventually(lambda: connector.health().value == "up", timeout=5.0, what="the bind")
            assert time.monotonic() - started >= 1.0
            assert isinstance(await connector.submit(outbound("now")), str)
        binds = await smsc.received("bind_transceiver")
        assert len(binds) >= 3 and binds[-1]["ok"] and not binds[0]["ok"]

    run(body())


def test_a_submit_while_the_smsc_is_away_waits_and_goes_when_it_is_back(smsc: Smsc) -> None:
    async def body() -> None:
        cfg = config(smsc, reconnect_initial=0.1, reconnect_max=0.3)
        async with running(cfg, FakeSink()) as connector:
            await smsc.outage(1.0)
            await eventually(lambda: connector.health().value == "down", what="the outage noticed")
            assert connector.capacity() == 0  # the dispatcher claims nothing meanwhile
            (outcome,) = await connector.submit_many([outbound("during")])
            assert isinstance(outcome, Deferred)
            await eventually(lambda: connector.health().value == "up", timeout=5.0, what="back")
            assert isinstance(await connector.submit(outbound("after")), str)

    run(body())


def test_receipts_with_decimal_ids_match_with_the_default_settings(smsc: Smsc) -> None:
    async def body() -> None:
        sink = FakeSink()
        await smsc.rule("447700900046", receipt_id="dec")
        async with running(config(smsc), sink) as connector:  # id_format left at its default
            carrier_id = sink.store(await connector.submit(outbound("decimal", to="+447700900046")))
            await eventually(lambda: len(sink.accepted) == 1, what="the receipt")
        assert sink.accepted[0].carrier_id == carrier_id
        assert sink.refused == []

    run(body())


def test_receipts_race_their_responses_under_throttling(smsc: Smsc) -> None:
    async def body() -> None:
        sink = FakeSink()
        await smsc.default_rule(throttle_every=4, receipt_before_resp=True, receipt_id="dec")
        async with running(config(smsc), sink) as connector:
            outcomes = await connector.submit_many(
                [outbound(f"e{i}", to=f"+4477007{i:05d}") for i in range(20)]
            )
            assert all(isinstance(o, str) for o in outcomes), outcomes
            # Generous bound: the pacer backs off after every throttle, and the machine may be busy.
            await eventually(
                lambda: len(sink.refused) == 20, timeout=20, what="every receipt kept for its message"
            )
            for carrier_id in outcomes:
                sink.store(str(carrier_id))
        assert sorted(r.carrier_id for r in sink.accepted) == sorted(str(o) for o in outcomes)
        await asyncio.sleep(0)

    run(body(), timeout=60)
