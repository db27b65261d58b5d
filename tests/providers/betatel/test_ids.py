"""Betatel message ids: version-1 UUIDs computed from textgate's id and creation time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from textgate.providers.betatel.ids import created_millisecond, message_uuid

AT = datetime(2026, 3, 15, 14, 30, 0, 123456, tzinfo=UTC)


def test_a_version_1_uuid_carrying_the_creation_millisecond() -> None:
    value = uuid.UUID(message_uuid("msg_abc", AT))
    assert value.version == 1
    assert value.variant == uuid.RFC_4122
    assert value.node & (1 << 40)  # multicast bit: not a MAC address
    assert created_millisecond(str(value)) == AT.replace(microsecond=123000)


def test_same_message_same_id_from_a_datetime_or_the_view_text() -> None:
    assert message_uuid("msg_abc", AT) == message_uuid("msg_abc", "2026-03-15T14:30:00.123Z")
    assert message_uuid("msg_abc", AT) != message_uuid("msg_abd", AT)


def test_ids_of_one_millisecond_do_not_collide() -> None:
    ids = {message_uuid(f"msg_{i:022d}", AT) for i in range(20_000)}
    assert len(ids) == 20_000


def test_ids_not_made_here_decode_to_nothing() -> None:
    assert created_millisecond("0a62face-6d15-11f0-962f-d89d6729654c") is None  # the doc's: a MAC node
    assert created_millisecond(str(uuid.uuid4())) is None
    assert created_millisecond("not-a-uuid") is None
    assert created_millisecond("") is None
    sub_ms = uuid.UUID(fields=(1, 0, 0, 0, 0, 1 << 40), version=1)
    assert created_millisecond(str(sub_ms)) is None
