"""Helpers for the SMPP connector tests: an in-memory ReportSink, bounded waits, configs, messages."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from tests.providers.smpp.peer import PASSWORD, SYSTEM_ID, Smsc
from textgate.providers.base import InboundMessage, OutboundMessage, Receipt
from textgate.providers.smpp import SmppConfig, SmppConnector

T = TypeVar("T")
_ids = itertools.count(1)

SENDER = "TextGate"
NUMBER = "+447700900001"


class FakeSink:
    """The sink as the dispatcher would see it: a receipt matches once its carrier id was stored."""

    def __init__(self) -> None:
        self.known: set[str] = set()
        self.accepted: list[Receipt] = []
        self.refused: list[Receipt] = []
        self.messages: list[InboundMessage] = []
        self.calls: list[int] = []  # receipts per call, in order

    def store(self, carrier_id: str) -> str:
        """What the dispatcher does once submit() returned."""
        self.known.add(carrier_id)
        return carrier_id

    async def receipts(self, connector: str, receipts: list[Receipt]) -> list[bool]:
        self.calls.append(len(receipts))
        out = []
        for receipt in receipts:
            matched = receipt.carrier_id in self.known
            (self.accepted if matched else self.refused).append(receipt)
            out.append(matched)
        return out

    async def inbound(self, connector: str, message: InboundMessage) -> str | None:
        self.messages.append(message)
        return f"in_{len(self.messages)}"


class MemorySink(FakeSink):
    """A FakeSink that also keeps connector memory, in a dict that several sinks can share: two
    connectors given sinks on one dict are one gateway before and after a restart."""

    def __init__(self, memory: dict[tuple[str, str], dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.memory: dict[tuple[str, str], dict[str, Any]] = {} if memory is None else memory

    async def remember(self, connector: str, values: dict[str, dict[str, Any]], ttl: float) -> None:
        for key, value in values.items():
            self.memory[(connector, key)] = json.loads(json.dumps(value))  # stored as JSON is

    async def recall(self, connector: str, keys: list[str]) -> dict[str, dict[str, Any]]:
        return {k: self.memory[(connector, k)] for k in keys if (connector, k) in self.memory}

    async def forget(self, connector: str, keys: list[str]) -> None:
        for key in keys:
            self.memory.pop((connector, key), None)


def run(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    """Run one test body with a hard bound."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], timeout: float = 5.0, what: str = ""
) -> None:
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > until:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or check}")
        await asyncio.sleep(0.02)


def config(smsc: Smsc, **overrides: Any) -> SmppConfig:
    values: dict[str, Any] = {
        "name": "smpp-test",
        "host": "127.0.0.1",
        "port": smsc.smpp_port,
        "system_id": SYSTEM_ID,
        "password": PASSWORD,
        "enquire_link": 5.0,
        "reconnect_initial": 0.1,
        "reconnect_max": 0.4,
        "socket_timeout": 3.0,
        "submit_timeout": 5.0,
        "throttle_pause": 0.0,
        "receipt_retry_interval": 0.05,
        "receipt_retry_for": 10.0,
    }
    values.update(overrides)
    return SmppConfig(**values)


def outbound(body: str, to: str = NUMBER, sender: str = SENDER) -> OutboundMessage:
    return OutboundMessage(
        id=f"msg_{next(_ids)}",
        account_id="acct_1",
        from_addr=sender,
        to_addr=to,
        body=body,
        encoding="",
        segments=1,
        type="sms",
        attempt=1,
    )


@asynccontextmanager
async def running(cfg: SmppConfig, sink: FakeSink, *, bound: bool = True) -> AsyncIterator[SmppConnector]:
    connector = SmppConnector(cfg)
    await connector.start(sink)
    try:
        if bound:
            health = await connector.wait_bound(5.0)
            assert health.value == "up", f"connector did not bind: {connector.bind_statuses()}"
        yield connector
    finally:
        await connector.stop()
