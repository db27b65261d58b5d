"""Fake member connectors for router tests: they record every submission and answer by a script."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import httpx

from textgate.domain.errors import CarrierError, ErrorKind
from textgate.providers.base import (
    Connector,
    Health,
    OutboundMessage,
    ReportSink,
    SubmitOutcome,
)
from textgate.routing.breaker import CircuitBreaker
from textgate.routing.router import Member

_ids = itertools.count(1)


def message(to: str = "+447400123456", **kw: Any) -> OutboundMessage:
    fields: dict[str, Any] = {
        "id": f"msg_{next(_ids)}",
        "account_id": "acc_1",
        "from_addr": "+15551230001",
        "to_addr": to,
        "body": "hello",
        "encoding": "GSM-7",
        "segments": 1,
        "type": "sms",
        "attempt": 1,
    }
    fields.update(kw)
    return OutboundMessage(**fields)


# Answers a script may give.
def throttled() -> CarrierError:
    return CarrierError("throttled", kind=ErrorKind.THROTTLED, retryable=True)


def refused_connection() -> CarrierError:
    try:
        raise httpx.ConnectError("connection refused")
    except httpx.ConnectError as exc:
        try:
            raise CarrierError("unreachable", kind=ErrorKind.PROVIDER_ERROR, retryable=True) from exc
        except CarrierError as err:
            return err


def timed_out_after_sending() -> CarrierError:
    try:
        raise httpx.ReadTimeout("no answer")
    except httpx.ReadTimeout as exc:
        try:
            raise CarrierError("no answer in time", kind=ErrorKind.PROVIDER_ERROR, retryable=True) from exc
        except CarrierError as err:
            return err


def invalid_destination() -> CarrierError:
    return CarrierError("bad number", kind=ErrorKind.INVALID_DESTINATION, retryable=False)


Script = Callable[[OutboundMessage], "SubmitOutcome | None"]


class FakeConnector(Connector):
    """Accepts everything (carrier id ``<name>-<message id>``) unless ``script`` answers otherwise."""

    def __init__(self, name: str, script: Script | None = None, health: Health = Health.UP) -> None:
        self.name = name
        self.script = script
        self.state = health
        self.calls: list[list[str]] = []  # message ids per submit_many call
        self.started_with: ReportSink | None = None
        self.stopped = False

    @property
    def submitted(self) -> list[str]:
        return [i for call in self.calls for i in call]

    async def start(self, sink: ReportSink) -> None:
        self.started_with = sink

    async def stop(self) -> None:
        self.stopped = True

    async def submit(self, message: OutboundMessage) -> str:
        raise AssertionError("the router calls submit_many")

    async def submit_many(self, messages: list[OutboundMessage]) -> list[SubmitOutcome]:
        self.calls.append([m.id for m in messages])
        out: list[SubmitOutcome] = []
        for m in messages:
            answer = self.script(m) if self.script else None
            out.append(answer if answer is not None else f"{self.name}-{m.id}")
        return out

    def health(self) -> Health:
        return self.state


def member(connector: Connector, *, threshold: int = 3, cooldown: float = 30.0, clock: Any = None) -> Member:
    breaker = (
        CircuitBreaker(threshold, cooldown)
        if clock is None
        else CircuitBreaker(threshold, cooldown, monotonic=clock)
    )
    return Member(connector, "fake", breaker)


class Tick:
    """A hand-driven monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
