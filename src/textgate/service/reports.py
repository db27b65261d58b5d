"""CSV reports of an account's messages and usage.

:func:`build_report` returns a header and a lazily produced sequence of rows; :func:`to_csv` writes them
with the ``csv`` module (RFC 4180: quoted where needed, CRLF line ends). Rows stream from the database
(``yield_per``), so a year of messages is never held in memory at once — which also means the rows must
be consumed while the connection's transaction is still open.

Conventions for every report:

* Times are in the account's time zone (``account.zone``) as ``YYYY-MM-DD HH:MM:SS``; empty when unset.
  ``start``/``end`` given without a zone are read in that zone too; the range is ``[start, end)`` on the
  message's creation (for inbound: reception) time, and a missing bound leaves that side open.
* Numbers are E.164 as stored; an alphanumeric sender stays as it is.
* ``credits`` is what a message finally cost: its price, or 0 once it has been refunded (a ``refund``
  ledger entry), so the column sums to what the account actually paid.
* Cells that a spreadsheet would run as a formula (first character ``= + - @``, tab or CR) get a leading
  ``'``, unless the whole cell is a plain number such as ``+447777777771``, ``-5`` or ``3.2``.
* Only the account's own messages appear; ``usage`` alone also covers its descendants.

Types and columns (``REPORT_TYPES``):

``outbox``   outbound messages not yet final (queued, scheduled, sending), whatever their date; the range
             is ignored. Columns: message_id, created, scheduled, from, to, body, parts, credits, status.
``messages`` outbound messages created in the range. Columns: message_id, created, scheduled, sent,
             delivered, from, to, body, parts, credits, status, error_code, error_message.
``failed``   outbound messages created in the range that ended failed, undelivered, rejected or expired.
             Columns: message_id, created, sent, failed (when it reached that status), from, to, body,
             parts, credits, status, error_code, error_message.
``inbound``  inbound messages received in the range. Columns: message_id, received, from, to, body, parts.
``usage``    one row per account — the account itself first, then its descendants breadth first — with
             zero rows included. Columns: account_id, username (the name when it has none),
             messages_sent (outbound messages created, whatever became of them), parts, credits_used
             (net of refunds), inbound_received.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, Select, and_, case, func, select
from sqlalchemy.sql.elements import ColumnElement

from textgate.domain.errors import ValidationError
from textgate.domain.message import Direction, MessageStatus
from textgate.service.accounts import Account
from textgate.service.users import descendants
from textgate.store.schema import accounts, ledger_entries, messages

REPORT_TYPES = ("outbox", "messages", "failed", "inbound", "usage")
OUTBOX_STATUSES = (MessageStatus.QUEUED, MessageStatus.SCHEDULED, MessageStatus.SENDING)
FAILED_STATUSES = (
    MessageStatus.FAILED,
    MessageStatus.UNDELIVERED,
    MessageStatus.REJECTED,
    MessageStatus.EXPIRED,
    MessageStatus.CANCELED,
)
#: Rows fetched from the database per round trip while streaming a report.
BATCH = 500
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")

#: How each column of a message report is read from a row (``credits`` is what the message finally cost).
_CELLS: dict[str, Callable[[Any, tzinfo], str | None]] = {
    "message_id": lambda r, _z: r.id,
    "created": lambda r, z: _time(r.created_at, z),
    "received": lambda r, z: _time(r.created_at, z),
    "scheduled": lambda r, z: _time(r.schedule_at, z),
    "sent": lambda r, z: _time(r.sent_at, z),
    "delivered": lambda r, z: _time(r.delivered_at, z),
    "failed": lambda r, z: _time(r.updated_at, z),
    "from": lambda r, _z: r.from_addr,
    "to": lambda r, _z: r.to_addr,
    "body": lambda r, _z: r.body,
    "parts": lambda r, _z: str(r.segments),
    "credits": lambda r, _z: "0" if r.refund_id is not None else str(r.credits),
    "status": lambda r, _z: r.status,
    "error_code": lambda r, _z: r.error_code,
    "error_message": lambda r, _z: r.error_message,
}
_SENT = ["from", "to", "body", "parts", "credits", "status"]
_ERRORS = ["error_code", "error_message"]
HEADERS: dict[str, list[str]] = {
    "outbox": ["message_id", "created", "scheduled", *_SENT],
    "messages": [
        "message_id",
        "created",
        "scheduled",
        "sent",
        "delivered",
        *_SENT,
        "error_code",
        "error_message",
    ],
    "failed": ["message_id", "created", "sent", "failed", *_SENT, "error_code", "error_message"],
    "inbound": ["message_id", "received", "from", "to", "body", "parts"],
    "usage": ["account_id", "username", "messages_sent", "parts", "credits_used", "inbound_received"],
}


@dataclass(frozen=True, slots=True)
class Report:
    header: list[str]
    #: Lazily produced; consume it before the connection's transaction ends.
    rows: Iterable[list[str]]


def safe_cell(value: str) -> str:
    """Neutralise spreadsheet formula injection: see the module docstring."""
    if value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(report.header)
    writer.writerows(report.rows)
    return out.getvalue()


def _as_utc(value: datetime | None, zone: tzinfo, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValidationError(f"{field} must be a date and time", field=field)
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def build_report(
    conn: Connection,
    account: Account,
    report_type: str,
    *,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> Report:
    """The ``report_type`` report of ``account`` for ``[start, end)`` (see the module docstring)."""
    kind = report_type.strip().lower() if isinstance(report_type, str) else ""
    if kind not in REPORT_TYPES:
        raise ValidationError(
            f"report type {report_type!r} is not one of {', '.join(REPORT_TYPES)}", field="type"
        )
    zone = account.zone
    lo = _as_utc(start, zone, "from")
    hi = _as_utc(end, zone, "to")
    if lo is not None and hi is not None and hi < lo:
        raise ValidationError("the end of the range is before its start", field="to")
    header = list(HEADERS[kind])
    if kind == "usage":
        return Report(header, _usage(conn, account, lo, hi))
    m = messages.c
    conditions: list[ColumnElement[bool]] = [m.account_id == account.id]
    if kind == "inbound":
        conditions.append(m.direction == Direction.INBOUND.value)
    else:
        conditions.append(m.direction == Direction.OUTBOUND.value)
    if kind == "outbox":
        conditions.append(m.status.in_([s.value for s in OUTBOX_STATUSES]))
    else:
        conditions.extend(_in_range(lo, hi))
    if kind == "failed":
        conditions.append(m.status.in_([s.value for s in FAILED_STATUSES]))
    refunded = ledger_entries.alias("refunded")
    stmt: Select[Any] = (
        select(messages, refunded.c.id.label("refund_id"))
        .outerjoin(refunded, and_(refunded.c.message_id == m.id, refunded.c.kind == "refund"))
        .where(*conditions)
        .order_by(m.created_at, m.id)
        .execution_options(yield_per=BATCH)
    )
    result = conn.execute(stmt)
    return Report(header, _message_rows(kind, result, zone))


def _in_range(lo: datetime | None, hi: datetime | None) -> list[ColumnElement[bool]]:
    out = []
    if lo is not None:
        out.append(messages.c.created_at >= lo)
    if hi is not None:
        out.append(messages.c.created_at < hi)
    return out


def _time(value: datetime | None, zone: tzinfo) -> str:
    return value.astimezone(zone).strftime(TIME_FORMAT) if value is not None else ""


def _message_rows(kind: str, result: Iterable[Any], zone: tzinfo) -> Iterator[list[str]]:
    cells = [_CELLS[name] for name in HEADERS[kind]]
    for r in result:
        yield [safe_cell(cell(r, zone) or "") for cell in cells]


def _usage(conn: Connection, account: Account, lo: datetime | None, hi: datetime | None) -> list[list[str]]:
    # One row per account, aggregated in the database: small enough to build at once.
    ids = [account.id, *descendants(conn, account.id)]
    m = messages.c
    refunded = ledger_entries.alias("refunded")
    outbound = m.direction == Direction.OUTBOUND.value
    totals = conn.execute(
        select(
            m.account_id,
            func.sum(case((outbound, 1), else_=0)).label("sent"),
            func.sum(case((outbound, m.segments), else_=0)).label("parts"),
            func.sum(case((and_(outbound, refunded.c.id.is_(None)), m.credits), else_=0)).label("credits"),
            func.sum(case((m.direction == Direction.INBOUND.value, 1), else_=0)).label("inbound"),
        )
        .outerjoin(refunded, and_(refunded.c.message_id == m.id, refunded.c.kind == "refund"))
        .where(m.account_id.in_(ids), *_in_range(lo, hi))
        .group_by(m.account_id)
    ).all()
    by_account = {t.account_id: t for t in totals}
    names = {
        r.id: r.username or r.name
        for r in conn.execute(
            select(accounts.c.id, accounts.c.username, accounts.c.name).where(accounts.c.id.in_(ids))
        )
    }
    rows = []
    for account_id in ids:
        t = by_account.get(account_id)
        counts = (t.sent, t.parts, t.credits, t.inbound) if t is not None else (0, 0, 0, 0)
        rows.append(
            [safe_cell(account_id), safe_cell(names.get(account_id, ""))] + [str(int(c or 0)) for c in counts]
        )
    return rows
