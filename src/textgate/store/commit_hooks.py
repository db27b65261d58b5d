"""Work to do once a transaction has committed: :func:`after_commit`.

Metrics about what a transaction wrote (a message reaching ``sent``, ``delivered``) must count what the
database kept, once. A transaction can be rolled back after the write (a group commit whose unit broke
the group runs again unit by unit; a combined receipts batch that failed is applied again per caller; a
savepoint is given up when a lease was lost), and counting at the write would count those twice.

:func:`after_commit` keeps callables in the connection's ``info`` and runs them when the transaction
commits (SQLAlchemy's ``commit`` event, just before the database's own commit); a rollback drops them,
and rolling back to a savepoint drops those added since it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, event

log = logging.getLogger(__name__)

#: ``conn.info`` key: the callables waiting for this transaction's commit.
PENDING = "textgate_after_commit"
#: ``conn.info`` key: for each open savepoint, innermost last, how many callables were waiting when it
#: began (a stack: savepoints end in the reverse order they begin; the ``savepoint`` event is not told
#: the name the later events get).
MARKS = "textgate_after_commit_marks"


def after_commit(conn: Connection, fn: Callable[[], None]) -> None:
    """Run ``fn`` when the transaction ``conn`` is in commits; never if it (or the savepoint that
    ``fn`` was added in) rolls back. ``fn`` must be cheap and must not raise (it is logged if it does)."""
    pending: list[Callable[[], None]] | None = conn.info.get(PENDING)
    if pending is None:
        conn.info[PENDING] = pending = []
    pending.append(fn)


def _clear(conn: Connection) -> None:
    conn.info.pop(PENDING, None)
    conn.info.pop(MARKS, None)


@event.listens_for(Engine, "begin")
def _on_begin(conn: Connection) -> None:
    _clear(conn)  # anything left by a transaction that ended without either event (never expected)


@event.listens_for(Engine, "commit")
def _on_commit(conn: Connection) -> None:
    pending: list[Callable[[], None]] | None = conn.info.pop(PENDING, None)
    conn.info.pop(MARKS, None)
    for fn in pending or ():
        try:
            fn()
        except Exception:  # a metric must never fail a commit
            log.exception("after-commit hook failed")


@event.listens_for(Engine, "rollback")
def _on_rollback(conn: Connection) -> None:
    _clear(conn)


@event.listens_for(Engine, "savepoint")
def _on_savepoint(conn: Connection, name: str) -> None:
    conn.info.setdefault(MARKS, []).append(len(conn.info.get(PENDING) or ()))


@event.listens_for(Engine, "rollback_savepoint")
def _on_rollback_savepoint(conn: Connection, name: str, context: Any) -> None:
    marks = conn.info.get(MARKS)
    mark = marks.pop() if marks else 0
    pending = conn.info.get(PENDING)
    if pending is not None:
        del pending[mark:]


@event.listens_for(Engine, "release_savepoint")
def _on_release_savepoint(conn: Connection, name: str, context: Any) -> None:
    marks = conn.info.get(MARKS)
    if marks:
        marks.pop()
