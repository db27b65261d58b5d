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


#: Years textgate takes in instants users give it (query ranges, schedule times): wide enough for any real
#: question, and clear of ``datetime``'s limits, so converting to UTC and a day or two of arithmetic
#: around them cannot overflow.
FIRST_YEAR, LAST_YEAR = 1900, 9000


def checked_instant(at: datetime, field: str) -> datetime:
    """``at`` itself, or a :class:`~textgate.domain.errors.ValidationError` naming ``field`` when its year
    is outside ``FIRST_YEAR``..``LAST_YEAR`` (``0001-01-01T00:00:00+14:00`` is not even a UTC instant)."""
    if not FIRST_YEAR <= at.year <= LAST_YEAR:
        from textgate.domain.errors import ValidationError

        raise ValidationError(
            f"{field} must be a time between the years {FIRST_YEAR} and {LAST_YEAR}", field=field
        )
    return at
