"""What is learnt about submissions besides "taken": the parts of multi-part messages, and answers that
came after the connector stopped waiting for them.

* :func:`record_parts` stores which parts a carrier took (and which were written without an answer), so a
  later round sends only the others (:func:`parts_done`);
* :func:`record_late_answer` stores an acceptance that came after the submit timed out: the message (or
  part) is sent after all, with that carrier id, and is not submitted again. If it had been submitted
  again already, the late answer is a duplicate: shown in the timeline and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from textgate.domain.message import MessageStatus
from textgate.domain.parts import PART_SENT, PART_UNKNOWN
from textgate.providers.base import LateAnswer
from textgate.service.receipts import apply_early, settle_parts
from textgate.service.status import change_status
from textgate.store.fast import fetch_dicts, insert_rows
from textgate.store.schema import message_events, message_parts, messages
from textgate.webhooks.outbox import EndpointCache

log = logging.getLogger(__name__)

DUPLICATES = Counter(
    "textgate_submission_duplicates_total",
    "Late acceptances of a submission that had been submitted again meanwhile (the carrier got it twice)",
    ["connector"],
)


def parts_done(conn: Connection, message_ids: Iterable[str]) -> dict[str, dict[int, str]]:
    """For each message, the parts a carrier already took: part number -> carrier id."""
    ids = list(message_ids)
    if not ids:
        return {}
    p = message_parts.c
    rows = conn.execute(
        select(p.message_id, p.part, p.carrier_id).where(p.message_id.in_(ids), p.carrier_id.is_not(None))
    ).all()
    done: dict[str, dict[int, str]] = {}
    for row in rows:
        done.setdefault(row.message_id, {})[int(row.part)] = str(row.carrier_id)
    return done


def record_parts(
    conn: Connection,
    message_id: str,
    *,
    total: int,
    connector: str,
    accepted: Mapping[int, str],
    unknown: Iterable[int] = (),
    now: datetime,
) -> None:
    """Store the parts a carrier took (``accepted``: part -> carrier id) and those written without an
    answer (``unknown``). A part already taken keeps its first carrier id."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    rows = [
        {
            "message_id": message_id,
            "part": n,
            "total": total,
            "connector": connector,
            "carrier_id": carrier_id,
            "status": PART_SENT,
            "submitted_at": now,
        }
        for n, carrier_id in accepted.items()
    ]
    if rows:
        stmt = insert(message_parts)
        stmt = stmt.on_conflict_do_update(
            index_elements=["message_id", "part"],
            set_={
                "carrier_id": stmt.excluded.carrier_id,
                "status": stmt.excluded.status,
                "connector": stmt.excluded.connector,
                "submitted_at": stmt.excluded.submitted_at,
            },
            where=message_parts.c.carrier_id.is_(None),
        )
        conn.execute(stmt, rows)
    waiting = [
        {
            "message_id": message_id,
            "part": n,
            "total": total,
            "connector": connector,
            "status": PART_UNKNOWN,
            "submitted_at": now,
        }
        for n in unknown
        if n not in accepted
    ]
    if waiting:
        conn.execute(
            insert(message_parts).on_conflict_do_nothing(index_elements=["message_id", "part"]), waiting
        )


def record_late_answer(
    conn: Connection, connector: str, answer: LateAnswer, *, now: datetime, cache: EndpointCache | None = None
) -> str:
    """Apply a late acceptance; what it came to: ``recorded``, ``duplicate``, ``final`` or ``unknown``."""
    query = select(messages).where(messages.c.id == answer.message_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    found = fetch_dicts(conn, query)
    if not found:
        return "unknown"
    row = found[0]
    status = MessageStatus(row["status"])
    detail: dict[str, Any] = {"late_answer": answer.carrier_id}
    if answer.total > 1:
        detail["part"] = answer.part
        return _late_part(conn, connector, row, answer, now=now, cache=cache, detail=detail)
    if row["carrier_id"] is not None or status.is_final:
        if row["carrier_id"] is not None and row["carrier_id"] != answer.carrier_id:
            _duplicate(conn, connector, row, now, detail)
            return "duplicate"
        return "final"
    _mark_sent(conn, connector, row, carrier_id=answer.carrier_id, now=now, cache=cache, detail=detail)
    apply_early(conn, connector, [answer.carrier_id], now=now, cache=cache)
    return "recorded"


def _late_part(
    conn: Connection,
    connector: str,
    row: Mapping[str, Any],
    answer: LateAnswer,
    *,
    now: datetime,
    cache: EndpointCache | None,
    detail: dict[str, Any],
) -> str:
    p = message_parts.c
    current = conn.execute(
        select(p.carrier_id).where(p.message_id == row["id"], p.part == answer.part)
    ).scalar_one_or_none()
    if current is not None and current != answer.carrier_id:
        _duplicate(conn, connector, row, now, detail)
        return "duplicate"
    record_parts(
        conn,
        row["id"],
        total=answer.total,
        connector=connector,
        accepted={answer.part: answer.carrier_id},
        now=now,
    )
    apply_early(conn, connector, [answer.carrier_id], now=now, cache=cache)
    done = parts_done(conn, [row["id"]]).get(row["id"], {})
    status = MessageStatus(row["status"])
    if len(done) == answer.total and not status.is_final and status is not MessageStatus.SENT:
        _mark_sent(
            conn,
            connector,
            row,
            carrier_id=done.get(1) or answer.carrier_id,
            now=now,
            cache=cache,
            detail=detail,
        )
        settle_parts(conn, row["id"], now=now, cache=cache)
    else:
        insert_rows(
            conn,
            message_events,
            [
                {
                    "message_id": row["id"],
                    "status": row["status"],
                    "at": now,
                    "source": f"submit:{connector}",
                    "error_code": None,
                    "detail": detail,
                }
            ],
        )
    return "recorded"


def _mark_sent(
    conn: Connection,
    connector: str,
    row: Mapping[str, Any],
    *,
    carrier_id: str,
    now: datetime,
    cache: EndpointCache | None,
    detail: dict[str, Any],
) -> None:
    change_status(
        conn,
        row,
        MessageStatus.SENT,
        now=now,
        source=f"submit:{connector}",
        detail=detail,
        extra={"carrier_id": carrier_id, "connector": connector, "due_at": None, "lease_owner": None},
        cache=cache,
    )


def _duplicate(
    conn: Connection, connector: str, row: Mapping[str, Any], now: datetime, detail: dict[str, Any]
) -> None:
    DUPLICATES.labels(connector).inc()
    log.warning(
        "%s: %s was taken twice by the carrier (a late answer after it was submitted again)",
        connector,
        row["id"],
    )
    insert_rows(
        conn,
        message_events,
        [
            {
                "message_id": row["id"],
                "status": row["status"],
                "at": now,
                "source": f"submit:{connector}",
                "error_code": "duplicate_submission",
                "detail": {**detail, "duplicate": True},
            }
        ],
    )
