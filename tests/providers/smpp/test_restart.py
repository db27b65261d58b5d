"""The SMSC dies mid-traffic and comes back: the connector fails what was in flight as retryable,
reports DOWN, reconnects with backoff and submits again."""

from __future__ import annotations

import asyncio

from tests.providers.smpp.peer import Smsc
from tests.providers.smpp.support import FakeSink, config, eventually, outbound, run, running
from textgate.domain.errors import CarrierError
from textgate.domain.message import MessageStatus
from textgate.providers.base import Health


def test_peer_restart_mid_traffic(smsc: Smsc) -> None:
    async def body() -> None:
        sink = FakeSink()
        await smsc.rule("447700900010", resp_delay_ms=3000)
        async with running(config(smsc, binds=2, submit_timeout=8.0), sink) as connector:
            assert sink.store(await connector.submit(outbound("before")))
            # Submits the SMSC will not answer before it dies.
            stuck = asyncio.gather(
                *(connector.submit(outbound(f"stuck {i}", to="+447700900010")) for i in range(4)),
                return_exceptions=True,
            )
            await eventually(lambda: _submits(smsc, 5), what="the stuck submits to arrive")
            smsc.kill()
            outcomes = await stuck
            assert all(isinstance(o, CarrierError) and o.retryable for o in outcomes), outcomes
            await eventually(lambda: connector.health() is Health.DOWN, what="health DOWN")
            try:
                await connector.submit(outbound("while down"))
                raise AssertionError("a submit with no session must fail")
            except CarrierError as exc:
                assert exc.retryable
            smsc.start()
            await eventually(lambda: connector.health() is Health.UP, timeout=8, what="the reconnect")
            carrier_id = sink.store(await connector.submit(outbound("after")))
            await eventually(lambda: any(r.carrier_id == carrier_id for r in sink.accepted), what="receipt")
            assert sink.accepted[-1].status is MessageStatus.DELIVERED

    run(body(), timeout=30)


async def _submits(smsc: Smsc, count: int) -> bool:
    return len(await smsc.received("submit_sm")) >= count
