"""The answers to BestSMS's polls — status, replies, inbound — in the shape of its REST API (what the
``bestsms`` SDK parses), shared by ``/bestsms/...`` and the v3.00 REST paths.

A status document describes one job (a MessageID): counts, ``JobStatus`` (also as ``Status``),
``Price``, and one entry per recipient with its ``Status`` (Success, Failed, Pending), ``Result``, sent
times and the ``SMSReplies`` threaded to it. Times are given in the account's ``timezone`` (local), in
UTC, and as RFC 3339, like the REST API does; ``SentDate``/``SentDateUTC`` repeat the sent time under the
older names. Test-mode messages stay Pending with the Result "Test mode: not sent", and the document
says ``"Mode": "Test"``. Recipients are paged with ``RecordsPerPage``/``Page``.

Time frames for the inbound poll: ``TimePeriod`` (the last N minutes), or ``DateFrom``/``DateTo`` (also
spelled ``From``/``To``) as ISO 8601 (``2023-07-01T00:00:00Z``, ``2023-07-01 00:00:00``) or
``dd/MM/yyyy HH:mm[:ss]``; times without an offset are in the account's time zone. Without any, the last
24 hours; ``DateFrom`` alone runs to now, ``DateTo`` alone starts 24 hours earlier.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Connection

from textgate.domain.clock import checked_instant, isoformat
from textgate.domain.errors import ValidationError
from textgate.domain.message import MessageStatus
from textgate.providers.bestsms import settings as opts
from textgate.providers.bestsms.threads import (
    Row,
    inbound_between,
    is_test,
    job_messages,
    replies_to,
    thread_of,
)
from textgate.providers.bestsms.wire import RECIPIENT_STATUS, charged, job_number, poll_time, result_text
from textgate.service.accounts import Account

DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 1000
DEFAULT_FRAME = timedelta(hours=24)
MAX_TIME_PERIOD = 366 * 24 * 60
_LOCAL_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y")


def param(params: Mapping[str, str], *names: str) -> str | None:
    """The first of ``names`` present in ``params``, matched without regard to case."""
    lowered = {k.lower(): v for k, v in params.items()}
    for name in names:
        value = lowered.get(name.lower())
        if value is not None:
            return value
    return None


def _int(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError as exc:
        raise ValidationError(f"{name} must be a whole number, not {raw!r}", field=name) from exc
    if not low <= value <= high:
        raise ValidationError(f"{name} must be between {low} and {high}", field=name)
    return value


def paging(params: Mapping[str, str]) -> tuple[int, int]:
    """(page, records per page) from ``Page``/``RecordsPerPage``."""
    per_page = _int(param(params, "RecordsPerPage"), "RecordsPerPage", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
    page = _int(param(params, "Page"), "Page", 1, 1, 1_000_000)
    return page, per_page


def parse_time(raw: str, name: str, tz: tzinfo) -> datetime:
    text = raw.strip()
    at: datetime | None = None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _LOCAL_FORMATS:
            try:
                at = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if at is None:
        raise ValidationError(
            f"{name} {raw!r} is not a time such as 2023-07-01T00:00:00Z or 01/07/2023 00:00", field=name
        )
    return checked_instant(at.replace(tzinfo=tz) if at.tzinfo is None else at, name)


def time_frame(params: Mapping[str, str], tz: tzinfo, now: datetime) -> tuple[datetime, datetime]:
    period = param(params, "TimePeriod")
    if period is not None and period.strip():
        minutes = _int(period, "TimePeriod", 0, 1, MAX_TIME_PERIOD)
        return now - timedelta(minutes=minutes), now
    raw_from = param(params, "DateFrom", "From")
    raw_to = param(params, "DateTo", "To")
    end = parse_time(raw_to, "DateTo", tz) if raw_to else now
    start = parse_time(raw_from, "DateFrom", tz) if raw_from else end - DEFAULT_FRAME
    if start > end:
        raise ValidationError("DateFrom is after DateTo", field="DateFrom")
    return start, end


def _times(prefix: str, at: datetime | None, tz: tzinfo) -> dict[str, Any]:
    return {
        f"{prefix}Local": poll_time(at, tz),
        f"{prefix}UTC": poll_time(at, UTC),
        f"{prefix}UTC_RFC3339": isoformat(at),
    }


def _reply(row: Row, tz: tzinfo) -> dict[str, Any]:
    return {
        "ReceivedID": row["id"],
        **_times("ReceivedTime", row["created_at"], tz),
        "Timezone": opts.zone_name(tz),
        "From": row["from_addr"],
        "MessageText": row["body"],
    }


def _recipient(
    seq: int, row: Row, cost: int, replies: list[Row], settings: Mapping[str, Any], tz: tzinfo
) -> dict[str, Any]:
    test = is_test(row)
    sent_at = row.get("sent_at")
    return {
        "Type": "SMS",
        "DestSeq": str(seq),
        "Destination": row["to_addr"],
        "ContactID": None,
        "Status": "Pending" if test else RECIPIENT_STATUS.get(row["status"], "Pending"),
        "Result": "Test mode: not sent"
        if test
        else result_text(row["status"], row.get("error_code"), row.get("error_message")),
        "MessageText": row["body"],
        "SentDate": poll_time(sent_at, tz),
        "SentDateUTC": poll_time(sent_at, UTC),
        **_times("SentTime", sent_at, tz),
        "Price": opts.price(cost, settings),
        "SMSReplies": [_reply(r, tz) for r in replies],
    }


def _job_status(rows: list[Row]) -> str:
    statuses = [MessageStatus(r["status"]) for r in rows]
    if all(s.is_final for s in statuses):
        return "Completed"
    if any(s is MessageStatus.SCHEDULED for s in statuses):
        return "Delayed"
    return "Pending"


def status_document(
    conn: Connection, account: Account, message_id: str, *, page: int, per_page: int
) -> dict[str, Any]:
    """The status of job ``message_id`` with its recipients' replies. Raises NotFound."""
    rows = job_messages(conn, account.id, message_id)
    settings = account.settings
    tz = opts.account_zone(settings)
    window = opts.reply_window(settings)
    costs = charged(conn, [r["id"] for r in rows])
    first = rows[0]
    meta = (first.get("meta") or {}).get("bestsms") or {}
    status = _job_status(rows)
    offset = (page - 1) * per_page
    shown = rows[offset : offset + per_page]
    recipients = [
        _recipient(offset + i + 1, r, costs.get(r["id"], 0), replies_to(conn, r, window), settings, tz)
        for i, r in enumerate(shown)
    ]
    return {
        "Result": "Success",
        "MessageID": message_id,
        "JobNum": job_number(account.id, message_id),
        "JobStatus": status,
        "Status": status,
        "Mode": "Test" if is_test(first) else "Live",
        "Account": account.name,
        "SubAccount": meta.get("sub_account"),
        "Department": meta.get("department"),
        "Reference": meta.get("reference"),
        **_times("CreatedTime", first["created_at"], tz),
        **_times("DelayedTime", first.get("schedule_at"), tz),
        "Timezone": opts.zone_name(tz),
        "Count": len(rows),
        "Complete": sum(1 for r in rows if MessageStatus(r["status"]).is_final),
        "Success": sum(1 for r in rows if RECIPIENT_STATUS.get(r["status"]) == "Success"),
        "Failed": sum(1 for r in rows if RECIPIENT_STATUS.get(r["status"]) == "Failed"),
        "Price": opts.price(sum(costs.values()), settings),
        "TotalRecords": len(rows),
        "RecordsPerPage": per_page,
        "PageCount": max(1, math.ceil(len(rows) / per_page)),
        "Page": page,
        "Recipients": recipients,
    }


def replies_document(
    conn: Connection, account: Account, message_id: str, *, page: int, per_page: int
) -> dict[str, Any]:
    """The status document plus every reply flattened into ``Replies`` (with its ``Destination``)."""
    doc = status_document(conn, account, message_id, page=page, per_page=per_page)
    doc["Replies"] = [
        {"Destination": r["Destination"], **reply} for r in doc["Recipients"] for reply in r["SMSReplies"]
    ]
    return doc


def received_document(
    conn: Connection, account: Account, start: datetime, end: datetime, *, page: int, per_page: int
) -> dict[str, Any]:
    """Inbound messages received in ``[start, end]``, oldest first, each with the job it replies to."""
    settings = account.settings
    tz = opts.account_zone(settings)
    window = opts.reply_window(settings)
    total, rows = inbound_between(conn, account.id, start, end, offset=(page - 1) * per_page, limit=per_page)
    items = []
    for row in rows:
        thread = thread_of(conn, row, window)
        ref = str(thread.get("client_ref") or thread["id"]) if thread is not None else None
        items.append(
            {
                "Type": "SMSReply" if thread is not None else "SMS",
                "MessageID": ref,
                "JobNum": job_number(account.id, ref) if ref else None,
                **_reply(row, tz),
                "To": row["to_addr"],
            }
        )
    return {
        "Result": "Success",
        "TotalRecords": total,
        "RecordsPerPage": per_page,
        "PageCount": max(1, math.ceil(total / per_page)),
        "Page": page,
        "Messages": items,
    }
