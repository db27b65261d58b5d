"""The one time source: aware UTC datetimes, replaceable in tests."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat(dt: datetime | None) -> str | None:
    """RFC 3339 with milliseconds and a ``Z``, the shape every API answer uses."""
    if dt is None:
        return None
    return _isoformat(dt)


# A batch formats the same few instants (its ``now``, a send's creation time) for many messages, and a
# message view formats several different ones, so the last few thousand answers are kept.
@functools.lru_cache(maxsize=4096)
def _isoformat(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
