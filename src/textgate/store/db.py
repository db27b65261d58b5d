"""Engines for the two supported databases.

SQLite (the embedded default) runs in WAL mode and opens every transaction with ``BEGIN IMMEDIATE`` so
writers queue on the database lock up front instead of failing half-way with ``database is locked``;
a busy timeout makes them wait. PostgreSQL goes through psycopg 3.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

T = TypeVar("T")


def in_memory(url: str) -> bool:
    """A SQLite database that lives in one process only (other processes cannot share it)."""
    return url.startswith("sqlite") and (":memory:" in url or url.rstrip("/") in ("sqlite:", "sqlite:/"))


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, synchronous: str | None = None, pool_size: int = 20) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, synchronous or os.environ.get("TEXTGATE_SQLITE_SYNCHRONOUS", "NORMAL"))
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _sqlite_engine(url: str, synchronous: str) -> Engine:
    parsed = make_url(url)
    db = parsed.database
    memory = not db or db == ":memory:"
    if not memory:
        assert db is not None
        Path(db).parent.mkdir(parents=True, exist_ok=True)
    if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
        raise ValueError(
            f"TEXTGATE_SQLITE_SYNCHRONOUS must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}"
        )
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 60}}
    if memory:
        kwargs["poolclass"] = NullPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            conn.connection.driver_connection.execute("BEGIN")  # a snapshot; takes no write lock
        else:
            begin_immediate(conn.connection.driver_connection)

    return engine


#: Execution option: on SQLite, the connection's transactions are deferred (``BEGIN``), for reads that
#: must not hold the write lock. Writing in such a transaction can fail with "database is locked".
READ_ONLY = "textgate_read_only"


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction for reading only: on SQLite a WAL snapshot that does not take or
    wait for the write lock, so it neither waits behind writers nor makes them wait."""
    with engine.connect() as conn:
        conn.execution_options(**{READ_ONLY: True})
        with conn.begin():
            yield conn


#: How long BEGIN IMMEDIATE keeps trying for the write lock before "database is locked" is raised.
LOCK_WAIT_SECONDS = 60.0
_RETRY_FIRST, _RETRY_MAX = 0.0002, 0.002


def begin_immediate(dbapi_conn: Any) -> None:
    """BEGIN IMMEDIATE, waiting for another process's write lock in short steps.

    SQLite's own busy handler sleeps 1, 2, 5, 10 ... 100 ms between tries, so a process whose neighbour
    (another gateway process on the same file) commits back to back almost never finds the lock free and
    starves. Here the wait is in steps of 0.2 ms doubling to 2 ms, so processes sharing a file take turns
    within about a millisecond. The busy timeout is off only for this statement.
    """
    dbapi_conn.execute("PRAGMA busy_timeout=0")
    try:
        delay = _RETRY_FIRST
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                dbapi_conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
            time.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX)
    finally:
        dbapi_conn.execute("PRAGMA busy_timeout=60000")


# -- running database work from async code ----------------------------------------------------------
# SQLite has one writer at a time. Many threads queueing on its lock spend their time in its sleeping
# busy handler and in GIL hand-offs, so a serving process runs all of its database work on ONE thread per
# SQLite engine: no lock contention at all, in order. PostgreSQL takes a pool of threads.
_EXECUTORS: weakref.WeakKeyDictionary[Engine, ThreadPoolExecutor] = weakref.WeakKeyDictionary()
_EXECUTORS_LOCK = threading.Lock()
POSTGRES_DB_THREADS = 16


def db_executor(engine: Engine) -> ThreadPoolExecutor:
    with _EXECUTORS_LOCK:
        executor = _EXECUTORS.get(engine)
        if executor is None:
            threads = 1 if is_sqlite(engine) else POSTGRES_DB_THREADS
            executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="textgate-db")
            _EXECUTORS[engine] = executor
        return executor


async def run_sync(engine: Engine, fn: Callable[..., T], *args: Any) -> T:
    """Run blocking database work ``fn(*args)`` on the engine's database thread(s)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(db_executor(engine), functools.partial(fn, *args))
