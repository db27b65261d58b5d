"""Connector memory through the gateway's sink, on both databases: values stored by key per connector,
replaced by a later write, read back only until they expire, forgotten on request, and expired rows
swept out now and then."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Engine, func, select

from tests.helpers import ManualClock
from textgate.bootstrap import MEMORY_SWEEP, GatewaySink
from textgate.providers.base import ConnectorMemory
from textgate.store.schema import connector_memory


def rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(connector_memory)).scalar_one())


def test_values_are_kept_per_connector_replaced_and_forgotten(engine: Engine) -> None:
    clock = ManualClock()
    sink = GatewaySink(engine, clock)
    assert isinstance(sink, ConnectorMemory)

    async def body() -> tuple[Any, ...]:
        await sink.remember("a", {"long:1": {"parts": [1, 2]}, "part:2": {"first": "1"}}, 60)
        await sink.remember("b", {"long:1": {"other": True}}, 60)
        await sink.remember("a", {"long:1": {"parts": [1, 2], "done": "ü"}}, 60)  # replaced
        first = await sink.recall("a", ["long:1", "part:2", "missing"])
        other = await sink.recall("b", ["long:1", "part:2"])
        await sink.forget("a", ["long:1", "part:2"])
        after = await sink.recall("a", ["long:1", "part:2"])
        return first, other, after, await sink.recall("b", ["long:1"])

    first, other, after, kept = asyncio.run(body())
    assert first == {"long:1": {"parts": [1, 2], "done": "ü"}, "part:2": {"first": "1"}}
    assert other == {"long:1": {"other": True}}
    assert after == {}
    assert kept == {"long:1": {"other": True}}  # forgetting one connector's keys leaves the other's


def test_values_expire_and_are_swept(engine: Engine) -> None:
    clock = ManualClock()
    sink = GatewaySink(engine, clock)

    async def body() -> None:
        await sink.remember("a", {"short": {"n": 1}}, 10)
        await sink.remember("a", {"long": {"n": 2}}, MEMORY_SWEEP.total_seconds() * 3)
        assert set(await sink.recall("a", ["short", "long"])) == {"short", "long"}
        clock.advance(11)
        assert set(await sink.recall("a", ["short", "long"])) == {"long"}  # expired: not read back
        assert rows(engine) == 2  # ... but still stored until the next sweep
        clock.advance(MEMORY_SWEEP.total_seconds())
        await sink.remember("a", {"new": {"n": 3}}, 60)  # a write past the sweep interval sweeps
        assert rows(engine) == 2  # "short" went; "long" and "new" stay
        assert set(await sink.recall("a", ["short", "long", "new"])) == {"long", "new"}

    asyncio.run(body())
