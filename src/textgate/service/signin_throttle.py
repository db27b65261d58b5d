"""The dashboard's sign-in throttle, kept in the database so that every node and API process counts the
same failures: after :data:`MAX_FAILURES` failed sign-ins for a username or from a client address within
:data:`FAILURE_WINDOW` seconds, further attempts for it wait until that window has passed.

The counts live in ``rate_buckets`` (the table the per-account rate limits share) under keys
``signin:<hash>``: ``tokens`` is the failure count, ``stamp`` the start of the window (epoch seconds).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from textgate.store.schema import rate_buckets

MAX_FAILURES = 5
FAILURE_WINDOW = 300.0
PREFIX = "signin:"
_b = rate_buckets.c


def _key(name: str) -> str:
    return PREFIX + hashlib.sha256(name.encode("utf-8", "replace")).hexdigest()[:40]


def wait(conn: Connection, names: Iterable[str], *, now: float) -> float | None:
    """Seconds to wait when any of ``names`` had too many failures in its window; None otherwise."""
    keys = [_key(n) for n in names]
    rows = conn.execute(select(_b.tokens, _b.stamp).where(_b.key.in_(keys))).all()
    waits = [
        stamp + FAILURE_WINDOW - now
        for tokens, stamp in rows
        if tokens >= MAX_FAILURES and now < stamp + FAILURE_WINDOW
    ]
    return max(waits) if waits else None


def failed(conn: Connection, names: Iterable[str], *, now: float) -> None:
    """Count a failed sign-in for each of ``names`` (a window starts with its first failure)."""
    for name in names:
        key = _key(name)
        row = conn.execute(select(_b.stamp).where(_b.key == key)).first()
        if row is not None and now < row.stamp + FAILURE_WINDOW:
            conn.execute(update(rate_buckets).where(_b.key == key).values(tokens=_b.tokens + 1))
        elif row is not None:
            conn.execute(update(rate_buckets).where(_b.key == key).values(tokens=1, stamp=now))
        else:
            try:
                with conn.begin_nested():
                    conn.execute(insert(rate_buckets).values(key=key, tokens=1, stamp=now, granted=0))
            except IntegrityError:  # another process counted the first failure at the same moment
                conn.execute(update(rate_buckets).where(_b.key == key).values(tokens=_b.tokens + 1))
    if secrets.randbelow(50) == 0:  # now and then, forget windows that have passed (a spray of names)
        conn.execute(delete(rate_buckets).where(_b.key.startswith(PREFIX), _b.stamp < now - FAILURE_WINDOW))


def succeeded(conn: Connection, names: Iterable[str]) -> None:
    """A sign-in went through: its username and address start afresh."""
    conn.execute(delete(rate_buckets).where(_b.key.in_([_key(n) for n in names])))
