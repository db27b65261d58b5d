"""The one time source: aware UTC datetimes, replaceable in tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


_last: tuple[datetime | None, str | None] = (None, None)


def isoformat(dt: datetime | None) -> str | None:
    """RFC 3339 with milliseconds and a ``Z``, the shape every API answer uses."""
    global _last
    if dt is None:
        return None
    seen = _last
    if dt is seen[0]:  # a batch formats the same ``now`` for many messages
        return seen[1]
    given = dt
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    text = dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    _last = (given, text)
    return text
