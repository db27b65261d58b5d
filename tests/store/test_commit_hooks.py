"""after_commit: work that runs once the database kept the transaction, never for a rolled-back one."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from textgate.store.commit_hooks import after_commit
from textgate.store.db import make_engine


@pytest.fixture
def engine(db_url: str) -> Engine:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    return engine


def test_runs_on_commit_once(engine: Engine) -> None:
    ran: list[str] = []
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        after_commit(conn, lambda: ran.append("a"))
        assert ran == []  # not before the commit
    assert ran == ["a"]
    with engine.begin() as conn:  # the next transaction on the same pooled connection starts empty
        conn.execute(text("INSERT INTO t VALUES (2)"))
    assert ran == ["a"]


def test_dropped_on_rollback(engine: Engine) -> None:
    ran: list[str] = []
    with pytest.raises(RuntimeError), engine.begin() as conn:
        after_commit(conn, lambda: ran.append("a"))
        raise RuntimeError("the transaction fails")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    assert ran == []


def test_a_rolled_back_savepoint_drops_only_its_own(engine: Engine) -> None:
    ran: list[str] = []
    with engine.begin() as conn:
        after_commit(conn, lambda: ran.append("outer"))
        with pytest.raises(RuntimeError), conn.begin_nested():
            after_commit(conn, lambda: ran.append("inner"))
            raise RuntimeError("the savepoint is given up")
        with conn.begin_nested():
            after_commit(conn, lambda: ran.append("kept"))
    assert ran == ["outer", "kept"]


def test_a_failing_hook_does_not_fail_the_commit(engine: Engine) -> None:
    ran: list[str] = []
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        after_commit(conn, lambda: 1 / 0)  # type: ignore[func-returns-value]
        after_commit(conn, lambda: ran.append("b"))
    assert ran == ["b"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
