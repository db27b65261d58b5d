"""What the dashboard shows and does, as service functions (web/dashboard renders them; no SQL there).

* :func:`overview`: an account's balance, today's outbound messages by outcome, the delivery rate, the
  messages per status per hour (24 h) or per day (7 d), and recent failures with their reasons. Every
  count is bounded by the account and a time range and answered from an index alone
  (``ix_messages_account_status_created``), never a count over the whole table nor rows fetched to be
  counted in Python.
* :func:`resend`: Resubmit (the same content from the same sender to the same number) and Forward (to
  another number): a new message, checked and charged like any send.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Integer, func, literal_column, select, union_all

from textgate.domain.clock import isoformat
from textgate.domain.message import Direction, MessageStatus
from textgate.service.accounts import balance, get_account
from textgate.service.messages import get_media, get_message_row, list_messages
from textgate.service.send import MediaInput, SendRequest, send_messages
from textgate.store.schema import messages

_FAILED = (
    MessageStatus.FAILED.value,
    MessageStatus.UNDELIVERED.value,
    MessageStatus.REJECTED.value,
    MessageStatus.EXPIRED.value,
)
#: Every status a message can have: listed in the overview's counts so they use the status index.
_STATUSES = tuple(s.value for s in MessageStatus)
#: The statuses the chart draws, in its order.
CHART_STATUSES = ("delivered", "sent", "queued", "failed")


def _chart_status(status: str) -> str | None:
    if status == MessageStatus.DELIVERED.value:
        return "delivered"
    if status == MessageStatus.SENT.value:
        return "sent"
    if status in _FAILED:
        return "failed"
    if status in (MessageStatus.QUEUED.value, MessageStatus.SCHEDULED.value, MessageStatus.SENDING.value):
        return "queued"
    return None


def _slots(start: datetime, step: timedelta, now: datetime) -> list[datetime]:
    """The chart's slots: from ``start`` by ``step`` while at or before ``now``."""
    slots = []
    at = start
    while at <= now:
        slots.append(at)
        at += step
    return slots


def _outbound_counts(
    conn: Connection, account_id: str, ranges: list[tuple[datetime, datetime | None]]
) -> list[dict[str, int]]:
    """The account's outbound messages by status created in each range ``[low, high)`` (``high`` None:
    no upper bound).

    One statement: a ``UNION ALL`` of one aggregate a range, each a ``GROUP BY status`` over ranges of
    ``ix_messages_account_status_created`` (account, status, created, id, direction), which answers it
    from the index alone, status by status in index order, so nothing is sorted. Every status is listed
    (``IN``) so that the index's ranges can be used. One ``GROUP BY`` over (time bucket, status) would
    sort every row of the period instead: on SQLite about 4 times slower over 7 days of 33,000 messages a
    day (docs/benchmarks.md, "Dashboard pages with 1,000,000 messages")."""
    m = messages.c
    if conn.dialect.name == "postgresql":
        # Over 7 days the estimated cost passes jit_above_cost, and compiling the plan took longer than
        # running it (7 d of 33,000 messages a day: 343 ms with JIT, 205 ms without; docs/benchmarks.md).
        # LOCAL: for this transaction only.
        conn.exec_driver_sql("SET LOCAL jit = off")
    arms = []
    for i, (low, high) in enumerate(ranges):
        conditions = [
            m.account_id == account_id,
            m.status.in_(_STATUSES),
            m.created_at >= low,
            m.direction == Direction.OUTBOUND.value,
        ]
        if high is not None:
            conditions.append(m.created_at < high)
        arms.append(
            select(literal_column(str(i), Integer).label("slot"), m.status, func.count().label("n"))
            .where(*conditions)
            .group_by(m.status)
        )
    counts: list[dict[str, int]] = [{} for _ in ranges]
    for slot, status, n in conn.execute(union_all(*arms)):
        counts[slot][status] = int(n)
    return counts


def overview(conn: Connection, account_id: str, *, now: datetime, days: int = 1) -> dict[str, Any]:
    """The overview page's figures; ``days`` 1 (hourly chart over 24 h) or 7 (daily over 7 days).

    The database counts (:func:`_outbound_counts`: one statement for the chart's slots and today, answered
    from an index bounded by the account and the period); nothing here reads a message row except the
    five recent failures."""
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    step = timedelta(hours=1) if days == 1 else timedelta(days=1)
    start = now - timedelta(days=days)
    start = (
        start.replace(minute=0, second=0, microsecond=0)
        if days == 1
        else start.replace(hour=0, minute=0, second=0, microsecond=0)
    )
    slots = _slots(start, step, now)
    ranges: list[tuple[datetime, datetime | None]] = [(at, at + step) for at in slots]
    ranges.append((slots[-1] + step, None))  # counted for today (a clock set back), not charted
    counts = _outbound_counts(conn, account_id, ranges)
    # Today is a run of whole ranges: its start (midnight) is a slot edge, as ``start`` is ``now``
    # truncated to an hour or a day on the same clock.
    of_today: dict[str, int] = defaultdict(int)
    for (low, _), found in zip(ranges, counts, strict=True):
        if low >= day_start:
            for status, n in found.items():
                of_today[status] += n
    sent_today = sum(of_today.values())
    delivered = int(of_today.get(MessageStatus.DELIVERED.value, 0))
    failed = sum(int(of_today.get(s, 0)) for s in _FAILED)
    settled = delivered + failed
    series = {k: [0] * len(slots) for k in CHART_STATUSES}
    for i, found in enumerate(counts[: len(slots)]):
        for status, n in found.items():
            kind = _chart_status(status)
            if kind is not None:
                series[kind][i] += n
    failures, _ = list_messages(conn, account_id, status=MessageStatus.FAILED.value, limit=5)
    undelivered, _ = list_messages(conn, account_id, status=MessageStatus.UNDELIVERED.value, limit=5)
    recent = sorted(failures + undelivered, key=lambda m: m["created_at"], reverse=True)[:5]
    return {
        "balance": balance(conn, account_id),
        "today": {"sent": sent_today, "delivered": delivered, "failed": failed},
        "delivery_rate": round(100 * delivered / settled, 1) if settled else None,
        "chart": {
            "days": days,
            "at": [int(s.timestamp()) for s in slots],
            "series": series,
        },
        "recent_failures": recent,
        "as_of": isoformat(now),
    }


def resend(
    conn: Connection, account_id: str, message_id: str, *, to: str | None = None, now: datetime
) -> dict[str, Any]:
    """Resubmit ``message_id`` (``to`` None: the same number) or forward it to ``to``: the new message's
    view. The same sender, text and media; checked and charged like any send (a refused send raises)."""
    row = get_message_row(conn, account_id, message_id)
    outbound = row["direction"] == Direction.OUTBOUND.value
    media: list[MediaInput] = []
    for item in row.get("media") or []:
        if "url" in item:
            media.append(MediaInput(url=item["url"]))
        else:
            stored = get_media(conn, account_id, item["media_id"])
            media.append(
                MediaInput(
                    content_base64=base64.b64encode(stored["data"]).decode(),
                    content_type=stored["content_type"],
                    filename=stored["filename"],
                )
            )
    # An inbound message is resent from the number it came to (the account's), to its sender or ``to``.
    sender = row["from_addr"] if outbound else row["to_addr"]
    recipient = to or (row["to_addr"] if outbound else row["from_addr"])
    req = SendRequest(
        sender=sender,
        to=[recipient],
        body=row["body"],
        media=media,
        source="dashboard",
        meta={"dashboard": {"resubmit_of" if to is None else "forward_of": message_id}},
    )
    result = send_messages(conn, get_account(conn, account_id), req, now=now)
    view: dict[str, Any] = result.body["messages"][0]
    return view
