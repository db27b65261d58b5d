"""What the dashboard shows and does, as service functions (web/dashboard renders them; no SQL there).

* :func:`overview`: an account's balance, today's outbound messages by outcome, the delivery rate, the
  messages per status per hour (24 h) or per day (7 d), and recent failures with their reasons. Every
  count is bounded by the account and a time range (``ix_messages_account_created``), never a count
  over the whole table.
* :func:`resend`: Resubmit (the same content from the same sender to the same number) and Forward (to
  another number): a new message, checked and charged like any send.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

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


def overview(conn: Connection, account_id: str, *, now: datetime, days: int = 1) -> dict[str, Any]:
    """The overview page's figures; ``days`` 1 (hourly chart over 24 h) or 7 (daily over 7 days)."""
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    today: dict[str, int] = dict(
        conn.execute(
            select(messages.c.status, func.count())
            .where(
                messages.c.account_id == account_id,
                messages.c.created_at >= day_start,
                messages.c.direction == Direction.OUTBOUND.value,
            )
            .group_by(messages.c.status)
        ).all()
    )
    sent_today = sum(today.values())
    delivered = int(today.get(MessageStatus.DELIVERED.value, 0))
    failed = sum(int(today.get(s, 0)) for s in _FAILED)
    settled = delivered + failed
    step = timedelta(hours=1) if days == 1 else timedelta(days=1)
    start = now - timedelta(days=days)
    start = (
        start.replace(minute=0, second=0, microsecond=0)
        if days == 1
        else start.replace(hour=0, minute=0, second=0, microsecond=0)
    )
    buckets: dict[datetime, dict[str, int]] = defaultdict(lambda: dict.fromkeys(CHART_STATUSES, 0))
    rows = conn.execute(
        select(messages.c.created_at, messages.c.status).where(
            messages.c.account_id == account_id,
            messages.c.created_at >= start,
            messages.c.direction == Direction.OUTBOUND.value,
        )
    )
    for created_at, status in rows:
        kind = _chart_status(status)
        if kind is not None:
            slot = start + ((created_at - start) // step) * step
            buckets[slot][kind] += 1
    slots = []
    at = start
    while at <= now:
        slots.append(at)
        at += step
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
            "series": {k: [buckets[s][k] for s in slots] for k in CHART_STATUSES},
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
