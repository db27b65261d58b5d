"""Betatel message ids: a UUID computed from the message, so nothing needs to be stored to map it back.

Betatel answers a send with a UUID ``messageId`` (its document shows a version-1 UUID,
``0a62face-6d15-11f0-962f-d89d6729654c``); textgate's ids are ``msg_…``. Keeping a mapping would need a
column this dialect does not own, or a look-up on an unindexed JSON field of ``meta``. Instead the UUID is
*derived* from the message:

* version 1 (like Betatel's own), its 60-bit timestamp the message's ``created_at`` cut to the
  millisecond (the precision every textgate answer carries);
* its clock-sequence and node bits (62 of them; the node's multicast bit is then set, as RFC 9562 asks of
  nodes that are not MAC addresses) a keyed BLAKE2b hash of textgate's message id.

Looking one up decodes the millisecond, reads the account's messages created in it through the
``(account_id, created_at)`` index, and keeps the one whose id hashes to the same bits — one indexed range
read, no scan. Every message has a Betatel id this way (also messages sent through other APIs, and inbound
ones), the same message always gets the same id, and a UUID of another account or not made here is simply
not found.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select

from textgate.domain.errors import NotFound
from textgate.store.schema import messages

#: 100-nanosecond intervals from the Gregorian epoch (1582-10-15) to the Unix epoch.
_GREGORIAN_OFFSET = 0x01B21DD213814000
_TICKS_PER_MS = 10_000
_MULTICAST = 1 << 40
_PERSON = b"textgate-betatel"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)

_IN_MILLISECOND = (
    select(messages)
    .where(
        messages.c.account_id == bindparam("account"),
        messages.c.created_at >= bindparam("start"),
        messages.c.created_at < bindparam("end"),
    )
    .order_by(messages.c.id)
)


def _unix_ms(created_at: str | datetime) -> int:
    when = datetime.fromisoformat(created_at) if isinstance(created_at, str) else created_at
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _id_bits(message_id: str) -> int:
    digest = hashlib.blake2b(message_id.encode(), digest_size=8, person=_PERSON).digest()
    return int.from_bytes(digest, "big") & ((1 << 62) - 1)


def message_uuid(message_id: str, created_at: str | datetime) -> str:
    """The Betatel ``messageId`` of textgate message ``message_id`` created at ``created_at`` (a datetime
    or the RFC 3339 text of a message view)."""
    ticks = _unix_ms(created_at) * _TICKS_PER_MS + _GREGORIAN_OFFSET
    bits = _id_bits(message_id)
    clock_seq = bits >> 48
    node = (bits & ((1 << 48) - 1)) | _MULTICAST
    fields = (
        ticks & 0xFFFFFFFF,
        (ticks >> 32) & 0xFFFF,
        (ticks >> 48) & 0x0FFF,
        (clock_seq >> 8) & 0x3F,
        clock_seq & 0xFF,
        node,
    )
    return str(uuid.UUID(fields=fields, version=1))


def created_millisecond(betatel_id: str) -> datetime | None:
    """The creation millisecond a Betatel id made by :func:`message_uuid` encodes; None when the text is
    not such an id (not a UUID, another version, or a time below millisecond precision)."""
    try:
        value = uuid.UUID(betatel_id.strip())
    except (ValueError, AttributeError):
        return None
    if value.version != 1 or value.variant != uuid.RFC_4122 or not value.node & _MULTICAST:
        return None
    ticks = value.time - _GREGORIAN_OFFSET
    if ticks < 0 or ticks % _TICKS_PER_MS:
        return None
    try:
        return _EPOCH + timedelta(milliseconds=ticks // _TICKS_PER_MS)
    except OverflowError:
        return None


def find_message_row(conn: Connection, account_id: str, betatel_id: str) -> Mapping[str, Any]:
    """The account's message with this Betatel id; :class:`NotFound` otherwise (also for other accounts'
    messages, which are indistinguishable from ids that never existed)."""
    start = created_millisecond(betatel_id)
    if start is not None:
        wanted = str(uuid.UUID(betatel_id.strip()))
        params = {"account": account_id, "start": start, "end": start + _ONE_MS}
        for row in conn.execute(_IN_MILLISECOND, params):
            if message_uuid(row.id, row.created_at) == wanted:
                return dict(row._mapping)
    raise NotFound(f"message {betatel_id!r} not found")
