"""Coalescer (many callers' items in one ``apply`` call and one transaction) and SQLite's BEGIN IMMEDIATE
with short lock waits, as seen from outside: results per caller, what is stored, what each caller is told.

The Coalescer tests write to a scratch table created on the test's database, so they run on SQLite and
PostgreSQL both and a failed combined call is a real database error, not a simulated one. The lock tests
need a SQLite file shared by two engines (two pools: the way two gateway processes share one file).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy.exc
from sqlalchemy import Column, Connection, Engine, Integer, MetaData, String, Table, func, insert, select

from textgate.store import db
from textgate.store.batch import Coalescer

T = TypeVar("T")

_meta = MetaData()
scratch = Table(
    "coalescer_scratch",
    _meta,
    Column("key", String(40), primary_key=True),
    Column("caller", Integer, nullable=False),
    # NOT NULL: an item with value None is the "poisoned" one, refused by the database itself.
    Column("value", String(40), nullable=False),
)

Item = tuple[str, int, str | None]  # (key, caller, value)


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Recorder:
    """An ``apply`` that stores the items and answers one result per item; keeps every call's items."""

    def __init__(self) -> None:
        self.calls: list[list[Item]] = []

    def __call__(self, conn: Connection, items: list[Item]) -> list[str]:
        self.calls.append(list(items))
        conn.execute(insert(scratch), [{"key": k, "caller": c, "value": v} for k, c, v in items])
        # The result names its item, so a result handed to the wrong caller or position shows.
        return [f"stored {key}" for key, _, _ in items]


def stored(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {row.key: row.caller for row in conn.execute(select(scratch.c.key, scratch.c.caller))}


def items_of(caller: int, count: int) -> list[Item]:
    return [(f"c{caller}-{i}", caller, f"v{i}") for i in range(count)]


@pytest.fixture
def table(engine: Engine) -> Iterator[Engine]:
    _meta.create_all(engine)
    yield engine


def test_concurrent_callers_share_apply_calls_and_get_their_own_results(table: Engine) -> None:
    apply = Recorder()
    coalescer: Coalescer[Item, str] = Coalescer(table, apply)
    requests = [items_of(caller, 1 + caller % 3) for caller in range(50)]

    async def body() -> list[list[str]]:
        return await asyncio.gather(*(coalescer.submit(items) for items in requests))

    results = run(body())

    for items, result in zip(requests, results, strict=True):
        assert result == [f"stored {key}" for key, _, _ in items]
    assert 1 <= len(apply.calls) < 10, f"{len(apply.calls)} apply calls for 50 callers"
    applied = [item for call in apply.calls for item in call]
    assert sorted(applied) == sorted(item for items in requests for item in items)  # each exactly once
    assert stored(table) == {key: caller for items in requests for key, caller, _ in items}


def test_max_items_splits_batches_without_splitting_a_caller(table: Engine) -> None:
    apply = Recorder()
    coalescer: Coalescer[Item, str] = Coalescer(table, apply, max_items=5)
    requests = [items_of(caller, 2) for caller in range(6)] + [items_of(99, 7)]

    async def body() -> list[list[str]]:
        return await asyncio.gather(*(coalescer.submit(items) for items in requests))

    results = run(body())

    for items, result in zip(requests, results, strict=True):
        assert result == [f"stored {key}" for key, _, _ in items]
    by_caller = {items[0][1]: items for items in requests}
    for call in apply.calls:
        callers = {caller for _, caller, _ in call}
        # Only a caller bigger than max_items makes a call past it, and no caller is split across calls.
        assert len(call) <= 5 or callers == {99}
        for caller in callers:
            assert [item for item in call if item[1] == caller] == by_caller[caller]
    assert len(apply.calls) >= 4
    assert len(stored(table)) == 6 * 2 + 7


def test_a_poisoned_item_fails_only_its_caller(table: Engine) -> None:
    apply = Recorder()
    coalescer: Coalescer[Item, str] = Coalescer(table, apply)
    poisoned = 3
    requests = [items_of(caller, 2) for caller in range(8)]
    requests[poisoned] = [(f"c{poisoned}-0", poisoned, "fine"), (f"c{poisoned}-1", poisoned, None)]

    async def body() -> list[list[str] | BaseException]:
        return await asyncio.gather(*(coalescer.submit(items) for items in requests), return_exceptions=True)

    results = run(body())

    assert isinstance(results[poisoned], sqlalchemy.exc.IntegrityError), results[poisoned]
    for caller, (items, result) in enumerate(zip(requests, results, strict=True)):
        if caller != poisoned:
            assert result == [f"stored {key}" for key, _, _ in items]
    # The combined call saw everybody's items and failed; then each caller was applied on its own.
    assert len(apply.calls[0]) == 16
    assert sorted(map(tuple, apply.calls[1:])) == sorted(map(tuple, requests))
    # The poisoned caller's good item went down with its bad one; everybody else's rows are there.
    expected = {key: caller for items in requests for key, caller, _ in items if caller != poisoned}
    assert stored(table) == expected

    # The coalescer is not wedged by the failure: the next caller is served (and combined) as usual.
    assert run(coalescer.submit(items_of(50, 1))) == ["stored c50-0"]
    assert stored(table)["c50-0"] == 50


@pytest.mark.parametrize("wrong", [-1, +1], ids=["one-short", "one-extra"])
def test_apply_answering_the_wrong_number_of_results_fails_the_callers(table: Engine, wrong: int) -> None:
    calls: list[int] = []
    store = Recorder()

    def apply(conn: Connection, items: list[Item]) -> list[str]:
        calls.append(len(items))
        answers = store(conn, items)
        return answers[:wrong] if wrong < 0 else [*answers, "surplus"]

    coalescer: Coalescer[Item, str] = Coalescer(table, apply)
    requests = [items_of(0, 2), items_of(1, 1), items_of(2, 3)]

    async def body() -> list[list[str] | BaseException]:
        return await asyncio.gather(*(coalescer.submit(r) for r in requests), return_exceptions=True)

    results = run(body())

    for result in results:
        assert isinstance(result, RuntimeError), f"a caller was answered {result!r}"
        assert "results for" in str(result)
    assert calls[0] == 6 and sorted(calls[1:]) == [1, 2, 3]  # combined, then each alone
    assert stored(table) == {}  # a wrong count rolls the work back: nothing half-reported is kept


# -- BEGIN IMMEDIATE on a SQLite file shared by two engines -----------------------------------------
@pytest.fixture
def two_engines(tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    url = f"sqlite:///{tmp_path}/shared.db"
    first, second = db.make_engine(url), db.make_engine(url)
    _meta.create_all(first)
    try:
        yield first, second
    finally:
        first.dispose()
        second.dispose()


class Holder:
    """A thread that takes the write lock through ``engine`` and keeps it until :meth:`release`."""

    def __init__(self, engine: Engine, log: list[str]) -> None:
        self.engine = engine
        self.log = log
        self.holding = threading.Event()
        self._release = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(scratch).values(key="held", caller=1, value="x"))
                self.holding.set()
                if not self._release.wait(20):
                    raise AssertionError("never released")
            self.log.append("first committed")
        except BaseException as exc:
            self.errors.append(exc)
            self.holding.set()

    def __enter__(self) -> Holder:
        self.thread.start()
        assert self.holding.wait(10) and not self.errors, self.errors
        return self

    def release(self) -> None:
        self._release.set()
        self.thread.join(10)
        assert not self.thread.is_alive() and not self.errors, self.errors

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self.thread.join(10)


def test_a_second_engine_waits_for_the_write_lock_and_goes_on_after_the_commit(
    two_engines: tuple[Engine, Engine],
) -> None:
    first, second = two_engines
    log: list[str] = []
    trying, entered = threading.Event(), threading.Event()
    seen: dict[str, int] = {}
    errors: list[BaseException] = []

    def write() -> None:
        try:
            trying.set()
            with second.begin() as conn:
                log.append("second began")
                entered.set()
                seen["busy_timeout"] = int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one())
                seen["rows"] = int(conn.execute(select(func.count()).select_from(scratch)).scalar_one())
                conn.execute(insert(scratch).values(key="second", caller=2, value="y"))
        except BaseException as exc:
            errors.append(exc)
            entered.set()

    with Holder(first, log) as holder:
        waiter = threading.Thread(target=write, daemon=True)
        waiter.start()
        assert trying.wait(10)
        # While the first transaction is open the second cannot begin (nor fail: the wait is 60 s).
        assert not entered.wait(0.5), f"the second transaction began under the first's lock: {errors}"
        holder.release()
        assert entered.wait(10) and not errors, errors
        waiter.join(10)
        assert not waiter.is_alive()

    assert log == ["first committed", "second began"]
    assert seen == {"busy_timeout": 60000, "rows": 1}  # it began after the commit: it sees that row
    assert stored(first) == {"held": 1, "second": 2}


def test_the_lock_wait_gives_up_after_lock_wait_seconds(
    two_engines: tuple[Engine, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = two_engines
    monkeypatch.setattr(db, "LOCK_WAIT_SECONDS", 0.05)
    with Holder(first, []) as holder, second.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        with pytest.raises(sqlalchemy.exc.OperationalError, match="locked"):
            conn.begin()
        # The short-step wait turned SQLite's busy timeout off; it must be back on for this connection.
        assert raw.execute("PRAGMA busy_timeout").fetchone() == (60000,)
        holder.release()
    with second.begin() as conn:  # the engine is usable once the lock is free
        conn.execute(insert(scratch).values(key="after", caller=2, value="z"))
    assert stored(second) == {"held": 1, "after": 2}


def test_reading_does_not_wait_for_the_write_lock_and_sees_the_last_commit(
    two_engines: tuple[Engine, Engine],
) -> None:
    first, second = two_engines
    with first.begin() as conn:
        conn.execute(insert(scratch).values(key="before", caller=0, value="x"))
    with Holder(first, []) as holder:
        started = time.monotonic()
        with db.reading(second) as conn:
            keys = set(conn.execute(select(scratch.c.key)).scalars())
        assert time.monotonic() - started < 1.0  # no wait behind the open write transaction
        assert keys == {"before"}  # its snapshot: the holder's uncommitted row is not in it
        holder.release()


def test_an_ordinary_transaction_still_takes_the_write_lock_up_front(
    two_engines: tuple[Engine, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = two_engines
    monkeypatch.setattr(db, "LOCK_WAIT_SECONDS", 0.05)
    with Holder(first, []), pytest.raises(sqlalchemy.exc.OperationalError, match="locked"), second.begin():
        pass
