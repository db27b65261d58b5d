"""Group commit: many requests' transactions share one database transaction.

A request hands its unit of work (a function of the connection) to the :class:`TransactionBatcher` and
awaits the result. The batcher runs whatever has queued up in ONE transaction on the engine's database
thread, each unit inside its own SAVEPOINT: a unit that raises is rolled back alone and gets its
exception back, the others commit together. Nobody gets an answer before the commit, so a 202 still
means "durably stored". Under light load a batch holds one unit and adds no latency; under heavy load the
cost of BEGIN/COMMIT (and SQLite's lock hand-over) is shared by everyone who arrived meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine

from textgate.store.db import run_sync

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Unit(Generic[T]):
    fn: Callable[[Connection], T]
    future: asyncio.Future[T]


class TransactionBatcher:
    def __init__(self, engine: Engine, *, max_batch: int = 256) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._pending: list[_Unit[Any]] = []
        self._flushing = False

    async def submit(self, fn: Callable[[Connection], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append(_Unit(fn, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush_all())
        return await future

    async def _flush_all(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
                try:
                    outcomes = await run_sync(self.engine, self._run, batch)
                except BaseException as exc:  # the commit itself failed: nobody's work was stored
                    for unit in batch:
                        if not unit.future.done():
                            unit.future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for unit, (ok, value) in zip(batch, outcomes, strict=True):
                    if unit.future.done():  # the caller went away (cancelled)
                        continue
                    if ok:
                        unit.future.set_result(value)
                    else:
                        unit.future.set_exception(value)
        finally:
            self._flushing = False

    def _run(self, batch: list[_Unit[Any]]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        with self.engine.begin() as conn:
            if len(batch) == 1:
                # Alone: no savepoint needed, an exception rolls back the whole (one-unit) transaction.
                try:
                    outcomes.append((True, batch[0].fn(conn)))
                except Exception as exc:
                    conn.rollback()
                    return [(False, exc)]
                return outcomes
            for unit in batch:
                savepoint = conn.begin_nested()
                try:
                    value = unit.fn(conn)
                except Exception as exc:
                    savepoint.rollback()
                    outcomes.append((False, exc))
                else:
                    savepoint.commit()
                    outcomes.append((True, value))
        return outcomes
