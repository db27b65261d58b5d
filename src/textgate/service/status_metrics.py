"""Metrics of status changes, counted where they are recorded
(:func:`~textgate.service.status.change_statuses`) and only once their transaction commits
(:func:`~textgate.store.commit_hooks.after_commit`):

* ``textgate_accept_to_sent_seconds``: from acceptance to the first carrier acceptance (``sent``, or
  ``delivered`` when the receipt overtook the submit answer);
* ``textgate_accept_to_delivered_seconds``: from acceptance to the ``delivered`` receipt;
* ``textgate_messages_finished_total{status}``: outbound messages reaching a final status.

Acceptance is the message's ``created_at``; for a scheduled message, its scheduled time (the wait it asked
for is not the gateway's latency).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy import Connection

from textgate.domain.message import Direction, MessageStatus
from textgate.store.commit_hooks import after_commit

#: Seconds: 10 ms (a carrier on the LAN) to an hour (retries, a carrier's slow receipts).
LATENCY_BUCKETS = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
)  # fmt: skip

ACCEPT_TO_SENT = Histogram(
    "textgate_accept_to_sent_seconds",
    "Seconds from a message's acceptance (its scheduled time, if later) to its first acceptance by a carrier",
    buckets=LATENCY_BUCKETS,
)
ACCEPT_TO_DELIVERED = Histogram(
    "textgate_accept_to_delivered_seconds",
    "Seconds from a message's acceptance (its scheduled time, if later) to its delivered receipt",
    buckets=LATENCY_BUCKETS,
)
FINISHED = Counter(
    "textgate_messages_finished_total",
    "Outbound messages that reached a final status, by that status",
    ["status"],
)

_SENT_OR_DELIVERED = frozenset({MessageStatus.SENT, MessageStatus.DELIVERED})


def _started(row: Mapping[str, Any]) -> datetime | None:
    created: datetime | None = row.get("created_at")
    scheduled: datetime | None = row.get("schedule_at")
    if created is None or scheduled is None:
        return created
    return max(created, scheduled)


def record_changes(
    conn: Connection,
    items: Sequence[tuple[Mapping[str, Any], Mapping[str, Any] | None]],
    updated: Sequence[Mapping[str, Any]],
    new: MessageStatus,
    now: datetime,
) -> None:
    """``updated`` (rows as they are now, from ``items`` as they were read) moved to ``new`` at ``now``:
    count them when the transaction commits."""
    if new not in _SENT_OR_DELIVERED and not new.is_final:
        return
    outbound = [u for u in updated if u.get("direction") == Direction.OUTBOUND.value]
    if not outbound:
        return
    to_sent: list[float] = []
    to_delivered: list[float] = []
    if new in _SENT_OR_DELIVERED:
        # ``sent`` is reached once; ``delivered`` is also the first carrier acceptance when the message
        # had none before (the receipt came before the submit answer was recorded).
        sent_before = (
            {row["id"] for row, _ in items if row.get("sent_at") is not None}
            if new is MessageStatus.DELIVERED
            else set()
        )
        for u in outbound:
            start = _started(u)
            if start is None:
                continue
            seconds = max(0.0, (now - start).total_seconds())
            if u["id"] not in sent_before:
                to_sent.append(seconds)
            if new is MessageStatus.DELIVERED:
                to_delivered.append(seconds)
    finished = len(outbound) if new.is_final else 0

    def observe() -> None:
        for seconds in to_sent:
            ACCEPT_TO_SENT.observe(seconds)
        for seconds in to_delivered:
            ACCEPT_TO_DELIVERED.observe(seconds)
        if finished:
            FINISHED.labels(new.value).inc(finished)

    after_commit(conn, observe)
