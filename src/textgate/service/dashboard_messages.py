"""What the dashboard's message and contact pages read beyond service/messages.py, contacts.py and
lists.py: the message list with a text search, the CSV export of a filter, reply threading, and finding
a contact by its number or name.

Design choices:

* **Text search** (``text``): every whitespace-separated word must occur in the body, case-insensitively
  (``LIKE`` with ``%`` and ``_`` escaped, so they match themselves). There is no full-text index (that
  would be a schema change per dialect), so a search walks the account's messages newest first through
  ``ix_messages_account_created``, narrowed by the other filters, and examines at most ``SEARCH_SCAN``
  of them per page. When fewer matches than a page are found within that window, the page says so and
  its next cursor continues the search below the window: every request costs one bounded index range,
  however large the account is.
* **Threading**: the store keeps no reply link, so it is computed. An inbound message answers the latest
  outbound message of the account, at or before it, sent from the number the inbound message came to,
  to the number it came from. The replies of an outbound message are therefore the inbound messages of
  that pair from its time until the next outbound message of the pair. Both look-ups are ranges of
  ``ix_messages_account_to`` (account, to number, created), written (max/min, a subquery) so that
  SQLite's planner takes that index rather than walking the account's messages in created order.
* **CSV export** goes page by page (``EXPORT_BATCH`` rows a transaction, keyset cursors, newest first)
  and stops at ``EXPORT_MAX`` rows, so it streams in bounded memory and never holds one long transaction.
  Cells that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a
  carriage return) get a leading apostrophe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select

from textgate.domain.errors import ValidationError
from textgate.domain.message import Direction
from textgate.domain.phone import normalize_number
from textgate.service.accounts import Account
from textgate.service.contacts import Contact, get_contact, plausible_id
from textgate.service.dashboard_ops import message_deliveries
from textgate.service.messages import (
    decode_cursor,
    encode_cursor,
    get_message_row,
    message_events_view,
    message_view,
)
from textgate.store.schema import contacts, messages

__all__ = [
    "EXPORT_BATCH",
    "EXPORT_COLUMNS",
    "EXPORT_MAX",
    "SEARCH_SCAN",
    "MessageFilter",
    "MessagePage",
    "csv_cell",
    "export_row",
    "find_contact",
    "message_thread",
    "search_messages",
    "text_words",
]

#: Messages a text search examines per page at most (newest first, within the other filters).
SEARCH_SCAN = 20_000
#: Rows a CSV export holds at most, and rows read per transaction while it streams.
EXPORT_MAX = 100_000
EXPORT_BATCH = 1_000
EXPORT_COLUMNS = (
    "id",
    "created",
    "direction",
    "from",
    "to",
    "status",
    "error",
    "segments",
    "credits",
    "body",
)
#: Replies listed on an outbound message's page at most.
REPLIES_MAX = 100
WORDS_MAX = 10
WORD_MAX = 100
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class MessageFilter:
    direction: str | None = None
    status: str | None = None
    from_addr: str | None = None
    to_addr: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    words: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MessagePage:
    rows: list[dict[str, Any]]
    next_cursor: str | None
    #: The search examined its SEARCH_SCAN messages without filling the page: older ones remain.
    scan_limited: bool = False


def text_words(text: str) -> tuple[str, ...]:
    """The words of a text search; ValidationError (field ``text``) for more than can be searched."""
    words = tuple(dict.fromkeys(text.split()))
    if len(words) > WORDS_MAX:
        raise ValidationError(f"text: search for at most {WORDS_MAX} words", field="text")
    for word in words:
        if len(word) > WORD_MAX:
            raise ValidationError(f"text: a word is longer than {WORD_MAX} characters", field="text")
        if "\x00" in word:
            raise ValidationError("text must not contain NUL characters", field="text")
    return words


def _conditions(account_id: str, f: MessageFilter, cursor: str | None) -> list[ColumnElement[bool]]:
    m = messages.c
    conditions: list[ColumnElement[bool]] = [m.account_id == account_id]
    if f.direction:
        conditions.append(m.direction == f.direction)
    if f.status:
        conditions.append(m.status == f.status)
    if f.from_addr:
        conditions.append(m.from_addr == f.from_addr)
    if f.to_addr:
        conditions.append(m.to_addr == f.to_addr)
    if f.created_after:
        conditions.append(m.created_at > f.created_after)
    if f.created_before:
        conditions.append(m.created_at < f.created_before)
    if cursor:
        at, last_id = decode_cursor(cursor)
        conditions.append(or_(m.created_at < at, and_(m.created_at == at, m.id < last_id)))
    return conditions


def search_messages(
    conn: Connection,
    account_id: str,
    f: MessageFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
    threads: bool = True,
) -> MessagePage:
    """A page of the account's messages matching ``f``, newest first, and the next page's cursor.

    With ``threads``, each inbound message's view has ``reply_to``: the id of the outbound message it
    answers, or None."""
    m = messages.c
    conditions = _conditions(account_id, f, cursor)
    window: Any = None
    if f.words:
        window = conn.execute(
            select(m.created_at, m.id)
            .where(*conditions)
            .order_by(m.created_at.desc(), m.id.desc())
            .offset(SEARCH_SCAN - 1)
            .limit(1)
        ).first()
        conditions += [m.body.icontains(word, autoescape=True) for word in f.words]
        if window is not None:
            conditions.append(
                or_(
                    m.created_at > window.created_at,
                    and_(m.created_at == window.created_at, m.id >= window.id),
                )
            )
    rows = conn.execute(
        select(messages).where(*conditions).order_by(m.created_at.desc(), m.id.desc()).limit(limit + 1)
    ).all()
    views = []
    for row in rows[:limit]:
        view = message_view(dict(row._mapping))
        if threads and row.direction == Direction.INBOUND.value:
            view["reply_to"] = _answered(conn, account_id, row.from_addr, row.to_addr, row.created_at)
        views.append(view)
    if len(rows) > limit:
        last = rows[limit - 1]
        return MessagePage(views, encode_cursor(last.created_at, last.id))
    if window is not None:  # the window is exhausted: the next page searches below it
        return MessagePage(views, encode_cursor(window.created_at, window.id), scan_limited=True)
    return MessagePage(views, None)


def _answered(conn: Connection, account_id: str, sender: str, number: str, at: datetime) -> str | None:
    """The id of the outbound message answered by an inbound one from ``sender`` to the account's
    ``number`` at ``at`` (see the module docstring), or None."""
    m = messages.c
    pair = (
        m.account_id == account_id,
        m.to_addr == sender,
        m.direction == Direction.OUTBOUND.value,
        m.from_addr == number,
    )
    # The latest (created, id) of the pair at or before ``at``: its time as a max(), then the greatest id
    # at that time, each a range of ix_messages_account_to. (ORDER BY created DESC, id DESC LIMIT 1 has
    # SQLite walk ix_messages_account_created back through the account's messages until the pair's.)
    latest = select(func.max(m.created_at)).where(*pair, m.created_at <= at).scalar_subquery()
    found: str | None = conn.execute(
        select(func.max(m.id)).where(*pair, m.created_at == latest)
    ).scalar_one_or_none()
    return found


def _replies(conn: Connection, account_id: str, outbound: Mapping[str, Any]) -> list[dict[str, Any]]:
    m = messages.c
    pair = (
        m.account_id == account_id,
        m.to_addr == outbound["to_addr"],
        m.direction == Direction.OUTBOUND.value,
        m.from_addr == outbound["from_addr"],
    )
    at, own_id = outbound["created_at"], outbound["id"]
    # The time of the pair's next outbound message: a min() over a range of ix_messages_account_to (the
    # same value as the first of ORDER BY created, id; that ORDER BY has SQLite walk
    # ix_messages_account_created through the rest of the account instead).
    following = conn.execute(
        select(func.min(m.created_at)).where(
            *pair, m.created_at >= at, or_(m.created_at > at, and_(m.created_at == at, m.id > own_id))
        )
    ).scalar_one_or_none()
    conditions = [
        m.account_id == account_id,
        m.to_addr == outbound["from_addr"],
        m.created_at >= at,
        m.direction == Direction.INBOUND.value,
        m.from_addr == outbound["to_addr"],
    ]
    if following is not None:
        conditions.append(m.created_at < following)
    # The candidates by ix_messages_account_to (the inbound messages to the account's number in the
    # window), then sorted: ordering the query itself would walk ix_messages_account_created.
    found = select(m.id).where(*conditions)
    rows = conn.execute(
        select(messages).where(m.id.in_(found)).order_by(m.created_at, m.id).limit(REPLIES_MAX)
    ).all()
    return [message_view(dict(row._mapping)) for row in rows]


def message_thread(conn: Connection, account_id: str, message_id: str) -> dict[str, Any]:
    """One message for its page: ``message`` (its view), ``events`` (its timeline), ``replies`` (the
    inbound messages answering an outbound one, oldest first), ``reply_to`` (the view of the outbound
    message an inbound one answers, or None) and ``deliveries`` (the webhook deliveries of its events,
    with their attempts: service/dashboard_ops.py). NotFound for another account's message."""
    row = get_message_row(conn, account_id, message_id)
    replies: list[dict[str, Any]] = []
    reply_to = None
    if row["direction"] == Direction.OUTBOUND.value:
        replies = _replies(conn, account_id, row)
    else:
        answered_id = _answered(conn, account_id, row["from_addr"], row["to_addr"], row["created_at"])
        if answered_id is not None:
            reply_to = message_view(get_message_row(conn, account_id, answered_id))
    return {
        "message": message_view(row),
        "events": message_events_view(conn, account_id, message_id),
        "replies": replies,
        "reply_to": reply_to,
        "deliveries": message_deliveries(conn, account_id, message_id),
    }


# -- CSV export -----------------------------------------------------------------------------------------
def csv_cell(value: object) -> str:
    """A cell's text, with an apostrophe before what a spreadsheet would run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def export_row(view: Mapping[str, Any]) -> list[str]:
    """A message view as the cells of EXPORT_COLUMNS."""
    code, detail = view.get("error_code"), view.get("error_message")
    error = f"{code}: {detail}" if code and detail else (code or detail or "")
    values = (
        view["id"],
        view["created_at"],
        view["direction"],
        view["from"],
        view["to"],
        view["status"],
        error,
        view["segments"],
        view["credits"],
        view["body"],
    )
    return [csv_cell(v) for v in values]


# -- contacts ----------------------------------------------------------------------------------------
def find_contact(conn: Connection, account: Account, text: str) -> Contact | None:
    """The account's contact with this number (read in the account's region; the oldest when several
    have it) or else with exactly this name; None when there is none."""
    text = text.strip()
    if not text or "\x00" in text or len(text) > 200:
        return None
    c = contacts.c
    found = None
    try:
        e164 = normalize_number(text, region=account.region, field="contact")
    except ValidationError:
        e164 = None
    if e164 is not None:
        found = conn.execute(
            select(c.id)
            .where(c.account_id == account.id, c.number == e164)
            .order_by(c.created_at, c.id)
            .limit(1)
        ).scalar_one_or_none()
    if found is None:
        found = conn.execute(
            select(c.id)
            .where(c.account_id == account.id, c.name == text)
            .order_by(c.created_at, c.id)
            .limit(1)
        ).scalar_one_or_none()
    return None if found is None or not plausible_id(found) else get_contact(conn, account, found)
