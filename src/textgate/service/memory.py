"""Connector memory: small JSON values a connector keeps by key across restarts, each with an expiry.

The SMPP connector keeps the parts of long messages here (see :mod:`textgate.providers.smpp.connector`).
Values are written with an upsert, read back only while unexpired, and expired rows are deleted in bulk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from textgate.store.schema import connector_memory

_m = connector_memory.c


def remember(
    conn: Connection, connector: str, values: Mapping[str, dict[str, Any]], *, expires_at: datetime
) -> None:
    """Store (or replace) each ``key: value``."""
    if not values:
        return
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(connector_memory)
    stmt = stmt.on_conflict_do_update(
        index_elements=["connector", "key"],
        set_={"value": stmt.excluded.value, "expires_at": stmt.excluded.expires_at},
    )
    conn.execute(
        stmt,
        [{"connector": connector, "key": k, "value": v, "expires_at": expires_at} for k, v in values.items()],
    )


def recall(
    conn: Connection, connector: str, keys: Iterable[str], *, now: datetime
) -> dict[str, dict[str, Any]]:
    """The unexpired values of those ``keys`` that are stored."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    rows = conn.execute(
        select(_m.key, _m.value).where(_m.connector == connector, _m.key.in_(wanted), _m.expires_at > now)
    )
    return {row.key: row.value for row in rows}


def forget(conn: Connection, connector: str, keys: Iterable[str]) -> None:
    wanted = list(dict.fromkeys(keys))
    if wanted:
        conn.execute(delete(connector_memory).where(_m.connector == connector, _m.key.in_(wanted)))


def forget_expired(conn: Connection, *, now: datetime) -> int:
    return int(conn.execute(delete(connector_memory).where(_m.expires_at <= now)).rowcount)
