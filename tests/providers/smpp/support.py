"""Helpers for the SMPP connector tests: an in-memory ReportSink, bounded waits, configs, messages."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from tests.providers.smpp.peer import PASSWORD, SYSTEM_ID, Smsc
from textgate.providers.base import InboundMessage, InboundPart, LateAnswer, OutboundMessage, Receipt
from textgate.providers.smpp import SmppConfig, SmppConnector

T = TypeVar("T")
_ids = itertools.count(1)

SENDER = "TextGate"
NUMBER = "+447700900001"


class FakeSink:
    """The gateway's sink as the SMPP connector sees it, kept in memory: a receipt matches once its
    carrier id was stored (what the dispatcher does once submit() returned); one that comes earlier is
    kept (``refused``) and applied when its id is stored. Long inbound messages are put together from their
    parts; late answers are listed."""

    def __init__(self) -> None:
        self.known: set[str] = set()
        self.accepted: list[Receipt] = []
        self.refused: list[Receipt] = []
        self.messages: list[InboundMessage] = []
        self.parts: dict[str, dict[int, InboundPart]] = {}
        self.late: list[LateAnswer] = []
        self.calls: list[int] = []  # receipts per call, in order

    def store(self, carrier_id: str) -> str:
        """What the dispatcher does once submit() returned: early receipts for it are applied now."""
        self.known.add(carrier_id)
        for receipt in [r for r in self.refused if carrier_id in r.candidates]:
            self.refused.remove(receipt)
            self.accepted.append(dataclasses.replace(receipt, carrier_id=carrier_id))
        return carrier_id

    def _match(self, receipt: Receipt) -> str | None:
        return next((c for c in receipt.candidates if c in self.known), None)

    async def receipts(self, connector: str, receipts: list[Receipt]) -> list[bool]:
        return [m is not None for m in await self.keep_receipts(connector, receipts, keep=False)]

    async def keep_receipts(
        self, connector: str, receipts: list[Receipt], *, keep: bool = True
    ) -> list[str | None]:
        self.calls.append(len(receipts))
        out: list[str | None] = []
        for receipt in receipts:
            hit = self._match(receipt)
            if hit is not None:
                self.accepted.append(dataclasses.replace(receipt, carrier_id=hit))
            elif keep:
                self.refused.append(receipt)
            out.append(hit)
        return out

    async def inbound(self, connector: str, message: InboundMessage) -> str | None:
        self.messages.append(message)
        return f"in_{len(self.messages)}"

    async def inbound_part(self, connector: str, part: InboundPart) -> str | None:
        parts = self.parts.setdefault(part.key, {})
        parts[part.number] = part
        if len(parts) < part.total:
            return None
        del self.parts[part.key]
        body = "".join(parts[n].text for n in sorted(parts))
        return await self.inbound(
            connector, InboundMessage(from_addr=part.from_addr, to_addr=part.to_addr, body=body, raw=part.raw)
        )

    async def late_answer(self, connector: str, answer: LateAnswer) -> None:
        self.late.append(answer)


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
        "queue_timeout": 5.0,
        "resubmit_after": 5.0,
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
