"""Bulk sends: one message to every number of a contact group or distribution list.

Accepting one is a single short transaction, whatever the size of the group:

1. the message is validated once (sender, body, schedule, validity — as any send);
2. the recipients are copied into ``bulk_recipients`` by one ``INSERT … SELECT`` inside the database (each
   distinct number once, in number order), so later edits of the group do not change the send;
3. the credits for every recipient are taken up front, as one ledger entry (``ref`` = the bulk send):
   a send the balance cannot cover is refused whole, never half sent;
4. the bulk send is stored ``queued`` with ``due_at`` = now.

Then the bulk worker (:mod:`textgate.workers.bulk`) *expands* it: a chunk of recipients at a time
becomes ordinary ``messages`` rows (``batch_id`` = the bulk send's id) in the dispatch queue. It only adds
the next chunk when fewer than ``backlog`` of the send's messages wait in the queue, so a 100,000-recipient
send trickles in behind (and between) other accounts' messages instead of standing in front of them.
A recipient refused by the account's rules (:mod:`.policy`) is stored ``failed`` and its credits are
returned (a ``refund`` ledger entry for that message). Sends to at most ``inline_max`` recipients (200,
as Text-Connect does) are expanded in the accepting transaction itself.

A text with mail-merge placeholders (``{{first_name}}``, ``{{mm1}}``, see :mod:`textgate.domain.merge`)
is filled for each recipient when the send is accepted: every recipient's text is measured and priced
then, stored with its ``bulk_recipients`` row, and the reservation is the sum of those prices; a
placeholder that names no field of the group or list refuses the send.

Per-recipient results are the send's messages; progress counts them by status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, literal, select, update

from textgate.domain import merge
from textgate.domain.clock import isoformat
from textgate.domain.encoding import analyze
from textgate.domain.errors import ErrorKind, NotFound, ValidationError
from textgate.domain.message import MessageStatus, MessageType
from textgate.ids import new_id
from textgate.service import links
from textgate.service.accounts import Account, get_account
from textgate.service.policy import refusals
from textgate.service.send import (
    MAX_BODY_CHARS,
    Prepared,
    SendRequest,
    build_rows,
    debit,
    prepare,
    store_rows,
)
from textgate.store.schema import (
    accounts,
    bulk_recipients,
    bulk_sends,
    contact_groups,
    contacts,
    dist_lists,
    group_members,
    ledger_entries,
    list_entries,
    messages,
)

INLINE_MAX = 200
CHUNK = 1000
BACKLOG = 2000
TARGET_KINDS = ("group", "list")


class EmptyTarget(ValidationError):
    """The group or list has no members (Text-Connect -409 / -408)."""


@dataclass(slots=True)
class BulkSendRequest:
    target_kind: str  # "group" or "list"
    target: str  # its id, or its exact name
    message: SendRequest  # everything but the recipients (``to`` is ignored)


@dataclass(frozen=True, slots=True)
class BulkSend:
    id: str
    account_id: str
    target_kind: str
    target_id: str
    target_name: str
    status: str
    total: int
    expanded: int
    reserved: int
    created_at: datetime
    finished_at: datetime | None
    spec: dict[str, Any]
    counts: dict[str, int]

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "bulk_send",
            "target": {"type": self.target_kind, "id": self.target_id, "name": self.target_name},
            "status": self.status,
            "from": self.spec["sender"],
            "body": self.spec["body"],
            "mail_merge": bool(self.spec.get("merge")),
            "segments": self.spec["segments"],
            "credits_per_recipient": self.spec["price"],
            "credits_reserved": self.reserved,
            "recipients": self.total,
            "messages_created": self.expanded,
            "messages_by_status": self.counts,
            "schedule_at": self.spec.get("schedule_at"),
            "created_at": isoformat(self.created_at),
            "finished_at": isoformat(self.finished_at) if self.finished_at else None,
        }


def _find_target(conn: Connection, account: Account, kind: str, ref: str) -> tuple[str, str]:
    table = contact_groups if kind == "group" else dist_lists
    if not ref or not ref.strip():
        raise ValidationError(f"the {kind} to send to is required", field=kind)
    row = conn.execute(
        select(table.c.id, table.c.name).where(
            table.c.account_id == account.id, (table.c.id == ref) | (table.c.name == ref)
        )
    ).first()
    if row is None:
        raise NotFound(f"{kind} {ref!r} not found", field=kind)
    return row.id, row.name


def _snapshot(conn: Connection, bulk_id: str, kind: str, target_id: str) -> int:
    if kind == "group":
        numbers = (
            select(contacts.c.number.label("number"))
            .join(group_members, group_members.c.contact_id == contacts.c.id)
            .where(group_members.c.group_id == target_id)
            .distinct()
            .subquery()
        )
    else:
        numbers = (
            select(list_entries.c.number.label("number"))
            .where(list_entries.c.list_id == target_id)
            .subquery()
        )
    ordered = select(
        literal(bulk_id).label("bulk_id"),
        func.row_number().over(order_by=numbers.c.number).label("seq"),
        numbers.c.number,
    )
    conn.execute(insert(bulk_recipients).from_select(["bulk_id", "seq", "number"], ordered))
    return int(
        conn.execute(
            select(func.count()).select_from(bulk_recipients).where(bulk_recipients.c.bulk_id == bulk_id)
        ).scalar_one()
    )


def _spec(req: SendRequest, p: Prepared) -> dict[str, Any]:
    return {
        "sender": p.sender,
        "body": p.body,
        "encoding": p.encoding,
        "segments": p.segments,
        "type": p.type.value,
        "price": p.price,
        "media": p.media,
        "schedule_at": isoformat(p.schedule_at) if p.schedule_at else None,
        "expires_at": isoformat(p.expires_at),
        "client_ref": req.client_ref,
        "source": req.source,
        "meta": req.meta,
        "test": req.test,
        "merge": bool(merge.placeholders(p.body)),
    }


def _prepared(spec: Mapping[str, Any]) -> tuple[SendRequest, Prepared]:
    req = SendRequest(
        sender=spec["sender"],
        to=[],
        body=spec["body"],
        client_ref=spec["client_ref"],
        source=spec["source"],
        meta=spec["meta"],
        test=bool(spec["test"]),
    )
    p = Prepared(
        sender=spec["sender"],
        body=spec["body"],
        encoding=spec["encoding"],
        segments=spec["segments"],
        type=MessageType(spec["type"]),
        price=spec["price"],
        schedule_at=datetime.fromisoformat(spec["schedule_at"]) if spec["schedule_at"] else None,
        expires_at=datetime.fromisoformat(spec["expires_at"]),
        media=spec["media"],
    )
    return req, p


def _field_names(conn: Connection, kind: str, target_id: str) -> list[str] | None:
    """A list's mail-merge labels; None for a group (contacts have no mail-merge values)."""
    if kind == "group":
        return None
    names = conn.execute(select(dist_lists.c.field_names).where(dist_lists.c.id == target_id)).scalar_one()
    return [str(n) for n in names or ()]


_FILL = (
    update(bulk_recipients)
    .where(bulk_recipients.c.bulk_id == bindparam("b_bulk"), bulk_recipients.c.seq == bindparam("b_seq"))
    .values(
        body=bindparam("b_body"),
        encoding=bindparam("b_encoding"),
        segments=bindparam("b_segments"),
        credits=bindparam("b_credits"),
    )
)


def _merge(
    conn: Connection,
    account: Account,
    bulk_id: str,
    kind: str,
    target_id: str,
    labels: list[str] | tuple[str, ...],
    p: Prepared,
) -> int:
    """Fill every recipient's text, measure and price it, store it; the credits to reserve."""
    r = bulk_recipients.c
    if kind == "group":
        # A number may be several contacts of the group: the first by name speaks for it.
        source = (
            select(contacts.c.number, contacts.c.name, contacts.c.email)
            .join(group_members, group_members.c.contact_id == contacts.c.id)
            .where(group_members.c.group_id == target_id)
            .order_by(contacts.c.number, contacts.c.name, contacts.c.id)
        )
        people: dict[str, dict[str, str]] = {}
        for c in conn.execute(source):
            people.setdefault(c.number, merge.values_of(name=c.name, number=c.number, email=c.email))
    else:
        source = select(
            list_entries.c.number, list_entries.c.name, list_entries.c.email, list_entries.c.fields
        )
        people = {
            e.number: merge.values_of(
                name=e.name, number=e.number, email=e.email, mm=list(e.fields or ()), field_names=labels
            )
            for e in conn.execute(source.where(list_entries.c.list_id == target_id))
        }
    fills = []
    total = 0
    tracking = links.tracks_links(account.settings)
    for seq, number in conn.execute(select(r.seq, r.number).where(r.bulk_id == bulk_id).order_by(r.seq)):
        body = merge.render(
            p.body, people.get(number) or merge.values_of(name=None, number=number, email=None)
        )
        if len(body) > MAX_BODY_CHARS:
            raise ValidationError(
                f"the text for {number} is {len(body)} characters once filled; at most {MAX_BODY_CHARS}",
                field="body",
                kind=ErrorKind.INVALID_CONTENT,
            )
        info = analyze(links.measured(body) if tracking else body)
        price = 0 if p.price == 0 else account.prices.price(p.type, info.segments)
        total += price
        fills.append(
            {
                "b_bulk": bulk_id,
                "b_seq": seq,
                "b_body": body,
                "b_encoding": info.encoding.value,
                "b_segments": info.segments,
                "b_credits": price,
            }
        )
    if fills:
        conn.execute(_FILL, fills)
    return total


def accept_bulk_send(
    conn: Connection, account: Account, req: BulkSendRequest, *, now: datetime, inline_max: int = INLINE_MAX
) -> BulkSend:
    kind = req.target_kind
    if kind not in TARGET_KINDS:
        raise ValidationError("a bulk send goes to a group or a list", field="target")
    target_id, target_name = _find_target(conn, account, kind, req.target)
    p = prepare(conn, account, req.message, now=now)
    labels = _field_names(conn, kind, target_id)
    unknown = merge.unknown(p.body, merge.known_fields(labels))
    if unknown:
        fields = ", ".join(merge.known_fields(labels))
        raise ValidationError(
            f"placeholder {{{{{unknown[0]}}}}} names no field of this {kind}; it has {fields}", field="body"
        )
    bulk_id = new_id("bul")
    # The row first: bulk_recipients references it.
    conn.execute(
        insert(bulk_sends).values(
            id=bulk_id,
            account_id=account.id,
            target_kind=kind,
            target_id=target_id,
            target_name=target_name,
            status="queued",
            total=0,
            expanded=0,
            spec=_spec(req.message, p),
            reserved=0,
            due_at=now,
            created_at=now,
        )
    )
    total = _snapshot(conn, bulk_id, kind, target_id)
    if total == 0:
        what = "group" if kind == "group" else "distribution list"
        raise EmptyTarget(f"the {what} {target_name!r} is empty", field=kind)
    merged = bool(merge.placeholders(p.body))
    reserved = _merge(conn, account, bulk_id, kind, target_id, labels or (), p) if merged else p.price * total
    if reserved:
        new_balance = debit(conn, account.id, reserved)
        conn.execute(
            insert(ledger_entries).values(
                account_id=account.id,
                amount=-reserved,
                balance_after=new_balance,
                kind="debit",
                note=f"bulk send to {total} recipients",
                ref=bulk_id,
                created_at=now,
            )
        )
    conn.execute(update(bulk_sends).where(bulk_sends.c.id == bulk_id).values(total=total, reserved=reserved))
    if total <= inline_max:
        expand(conn, bulk_id, now=now, limit=total)
    return get_bulk_send(conn, account, bulk_id)


def expand(conn: Connection, bulk_id: str, *, now: datetime, limit: int = CHUNK) -> int:
    """Turn the next ``limit`` recipients into messages; returns how many were added."""
    row = conn.execute(select(bulk_sends).where(bulk_sends.c.id == bulk_id)).one()
    if row.status == "finished":
        return 0
    account = get_account(conn, row.account_id)
    r = bulk_recipients.c
    chunk = conn.execute(
        select(r.number, r.body, r.encoding, r.segments, r.credits)
        .where(r.bulk_id == bulk_id, r.seq > row.expanded, r.seq <= row.expanded + limit)
        .order_by(r.seq)
    ).all()
    numbers = [c.number for c in chunk]
    req, p = _prepared(row.spec)
    refused = refusals(conn, account, numbers, now=now)
    if row.spec.get("merge"):
        rows: list[dict[str, Any]] = []
        prices: list[int] = []
        for c, refusal in zip(chunk, refused, strict=True):
            own = replace(p, body=c.body, encoding=c.encoding, segments=c.segments, price=c.credits)
            rows += build_rows(account, req, own, [c.number], [refusal], now=now, batch_id=bulk_id)
            prices.append(int(c.credits))
    else:
        rows = build_rows(account, req, p, numbers, refused, now=now, batch_id=bulk_id)
        prices = [p.price] * len(rows)
    if rows:
        store_rows(
            conn,
            account.id,
            rows,
            source=req.source,
            now=now,
            track_links=links.tracks_links(account.settings),
        )
        refunds = [
            (m["id"], price)
            for m, price in zip(rows, prices, strict=True)
            if m["status"] == MessageStatus.FAILED.value and price
        ]
        if refunds:
            _refund(conn, account.id, bulk_id, refunds, now=now)
    done = row.expanded + len(numbers)
    finished = done >= row.total
    conn.execute(
        update(bulk_sends)
        .where(bulk_sends.c.id == bulk_id)
        .values(
            expanded=done,
            status="finished" if finished else "running",
            finished_at=now if finished else None,
            due_at=None if finished else row.due_at,
        )
    )
    return len(numbers)


def _refund(
    conn: Connection, account_id: str, bulk_id: str, refunds: list[tuple[str, int]], *, now: datetime
) -> None:
    """Return the reserved credits of refused recipients (message id, credits): one balance move, one
    ledger line per message."""
    amount = sum(price for _, price in refunds)
    new_balance = conn.execute(
        update(accounts)
        .where(accounts.c.id == account_id)
        .values(balance=accounts.c.balance + amount)
        .returning(accounts.c.balance)
    ).scalar_one()
    running = int(new_balance) - amount
    entries = []
    for message_id, price in refunds:
        running += price
        entries.append(
            {
                "account_id": account_id,
                "amount": price,
                "balance_after": running,
                "kind": "refund",
                "message_id": message_id,
                "note": None,
                "ref": bulk_id,
                "created_at": now,
            }
        )
    conn.execute(insert(ledger_entries), entries)


def backlog(conn: Connection, bulk_id: str) -> int:
    """Messages of this send still waiting in the queue (not yet handed to a carrier)."""
    waiting = (MessageStatus.QUEUED.value, MessageStatus.SENDING.value)
    return int(
        conn.execute(
            select(func.count())
            .select_from(messages)
            .where(messages.c.batch_id == bulk_id, messages.c.status.in_(waiting))
        ).scalar_one()
    )


def _counts(conn: Connection, bulk_id: str) -> dict[str, int]:
    rows = conn.execute(
        select(messages.c.status, func.count())
        .where(messages.c.batch_id == bulk_id)
        .group_by(messages.c.status)
    ).all()
    return {status: int(n) for status, n in sorted(rows)}


def get_bulk_send(conn: Connection, account: Account, bulk_id: str) -> BulkSend:
    row = conn.execute(
        select(bulk_sends).where(bulk_sends.c.id == bulk_id, bulk_sends.c.account_id == account.id)
    ).first()
    if row is None:
        raise NotFound(f"bulk send {bulk_id!r} not found", field="bulk_send")
    return BulkSend(
        id=row.id,
        account_id=row.account_id,
        target_kind=row.target_kind,
        target_id=row.target_id,
        target_name=row.target_name,
        status=row.status,
        total=row.total,
        expanded=row.expanded,
        reserved=row.reserved,
        created_at=row.created_at,
        finished_at=row.finished_at,
        spec=dict(row.spec),
        counts=_counts(conn, row.id),
    )


def list_bulk_sends(conn: Connection, account: Account, *, limit: int = 50) -> list[BulkSend]:
    ids = conn.execute(
        select(bulk_sends.c.id)
        .where(bulk_sends.c.account_id == account.id)
        .order_by(bulk_sends.c.created_at.desc(), bulk_sends.c.id.desc())
        .limit(max(1, min(limit, 200)))
    ).scalars()
    return [get_bulk_send(conn, account, i) for i in ids]


def bulk_messages(
    conn: Connection, account: Account, bulk_id: str, *, limit: int = 100, after: str | None = None
) -> tuple[list[Any], str | None]:
    """The send's messages (its per-recipient results) in id order, ``limit`` at a time after ``after``."""
    get_bulk_send(conn, account, bulk_id)  # NotFound for another account's send
    limit = max(1, min(limit, 1000))
    query = select(messages).where(messages.c.batch_id == bulk_id, messages.c.account_id == account.id)
    if after:
        query = query.where(messages.c.id > after)
    rows = list(conn.execute(query.order_by(messages.c.id).limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more else None)
