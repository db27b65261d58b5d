"""Group commit: many requests' transactions share one database transaction.

A request hands its unit of work (a function of the connection) to the :class:`TransactionBatcher` and
awaits the result. The batcher runs whatever has queued up in ONE transaction on the engine's database
thread, each unit inside its own SAVEPOINT: a unit that raises is rolled back alone and gets its
exception back, the others commit together. Nobody gets an answer before the commit, so a 202 still
means "durably stored". Under light load a batch holds one unit and adds no latency; under heavy load the
cost of BEGIN/COMMIT (and SQLite's lock hand-over) is shared by everyone who arrived meanwhile.

The units of a group share more than the commit:

* rows a unit inserts with :func:`~textgate.store.fast.insert_later` (a send's messages, their first
  events, ledger entries, idempotency records) are collected and written for the whole group, one
  multi-row statement a table, just before the commit. If that write fails (two units of the group with
  one idempotency key, say), nothing was committed or answered: each unit runs again in a transaction of
  its own and gets its own outcome;
* reads every request repeats (the key behind a secret, who owns a sender number) are made once a group
  (:func:`~textgate.store.fast.group_lookup`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from textgate.store.db import is_sqlite, run_sync
from textgate.store.fast import DEFERRED, GROUP_LOOKUPS, DeferredInserts

T = TypeVar("T")
log = logging.getLogger(__name__)


class _Broken(Exception):
    """A unit of a group failed after writing: the group is undone and its units run one by one."""


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
        if len(batch) == 1:
            return [self._alone(batch[0])]
        try:
            return self._together(batch)
        except Exception:
            # Writing the group's collected rows failed (two units of the group with one idempotency key,
            # say): nothing of it was committed or answered, so each unit runs again in a transaction of
            # its own and gets its own outcome.
            log.info("a group commit of %d units failed as a whole; running each alone", len(batch))
            return [self._alone(unit) for unit in batch]

    def _alone(self, unit: _Unit[Any]) -> tuple[bool, Any]:
        # No savepoint needed: an exception rolls back the whole (one-unit) transaction.
        with self.engine.begin() as conn:
            try:
                return True, unit.fn(conn)
            except Exception as exc:
                conn.rollback()
                return False, exc

    def _together(self, batch: list[_Unit[Any]]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        group = DeferredInserts()
        with self.engine.begin() as conn:
            conn.info[GROUP_LOOKUPS] = {}
            # On SQLite a unit runs without a savepoint: SQLite counts the rows a connection changed, so a
            # unit that fails having written nothing (the usual refusal: validation, authentication,
            # credits) is simply left out; one that fails after writing breaks the group, which then runs
            # unit by unit. Elsewhere each unit has a savepoint to roll back to.
            raw = conn.connection.driver_connection if is_sqlite(self.engine) else None
            try:
                for unit in batch:
                    mine = conn.info[DEFERRED] = DeferredInserts()
                    if raw is not None:
                        before = raw.total_changes
                        try:
                            value = unit.fn(conn)
                        except Exception as exc:
                            if raw.total_changes != before or isinstance(exc, DBAPIError):
                                raise _Broken from exc
                            outcomes.append((False, exc))
                        else:
                            group.merge(mine)
                            outcomes.append((True, value))
                        continue
                    savepoint = conn.begin_nested()
                    try:
                        value = unit.fn(conn)
                    except Exception as exc:
                        savepoint.rollback()
                        outcomes.append((False, exc))
                    else:
                        savepoint.commit()
                        group.merge(mine)
                        outcomes.append((True, value))
            finally:
                conn.info.pop(DEFERRED, None)
                conn.info.pop(GROUP_LOOKUPS, None)
            group.flush(conn)
        return outcomes


Item = TypeVar("Item")
R = TypeVar("R")


@dataclass(slots=True)
class _Request(Generic[Item, R]):
    items: list[Item]
    future: asyncio.Future[list[R]]


class Coalescer(Generic[Item, R]):
    """Many callers' items applied by ONE call of ``apply(conn, items)`` in one transaction.

    Where :class:`TransactionBatcher` shares a commit, this shares the work itself: ``apply`` sees every
    item that queued up meanwhile (up to ``max_items``) and answers one result per item, in order, so a
    hundred callers with one item each cost one set of statements instead of a hundred. If the combined
    call fails, each caller's items are applied again in a transaction of their own, so one bad item
    fails only its caller. Nobody gets an answer before the commit.
    """

    def __init__(
        self, engine: Engine, apply: Callable[[Connection, list[Item]], list[R]], *, max_items: int = 2000
    ) -> None:
        self.engine = engine
        self.apply = apply
        self.max_items = max_items
        self._pending: list[_Request[Item, R]] = []
        self._flushing = False

    async def submit(self, items: list[Item]) -> list[R]:
        future: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Request(list(items), future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush_all())
        return await future

    def _take(self) -> list[_Request[Item, R]]:
        taken: list[_Request[Item, R]] = []
        count = 0
        while self._pending and (not taken or count + len(self._pending[0].items) <= self.max_items):
            request = self._pending.pop(0)
            taken.append(request)
            count += len(request.items)
        return taken

    async def _flush_all(self) -> None:
        try:
            while self._pending:
                batch = self._take()
                try:
                    results = await run_sync(self.engine, self._together, batch)
                except Exception as exc:
                    if len(batch) == 1:  # it was alone already: that is its answer
                        _settle(batch[0], (False, exc))
                        continue
                    log.warning("a combined batch of %d requests failed; applying each alone", len(batch))
                    for request in batch:
                        _settle(request, await _outcome(self._alone(request)))
                    continue
                start = 0
                for request in batch:
                    end = start + len(request.items)
                    if not request.future.done():
                        request.future.set_result(results[start:end])
                    start = end
        finally:
            self._flushing = False

    def _together(self, batch: list[_Request[Item, R]]) -> list[R]:
        items = [item for request in batch for item in request.items]
        with self.engine.begin() as conn:
            results = self.apply(conn, items)
            if len(results) != len(items):  # inside: a wrong count rolls the work back
                raise RuntimeError(f"apply answered {len(results)} results for {len(items)} items")
        return results

    async def _alone(self, request: _Request[Item, R]) -> list[R]:
        return await run_sync(self.engine, self._together, [request])


async def _outcome(work: Any) -> tuple[bool, Any]:
    try:
        return True, await work
    except Exception as exc:
        return False, exc


def _settle(request: _Request[Any, Any], outcome: tuple[bool, Any]) -> None:
    """Hand a request its results, or the exception that refused them."""
    if request.future.done():
        return
    ok, value = outcome
    if ok:
        request.future.set_result(value)
    else:
        request.future.set_exception(value)
