"""Distribution lists: named sets of numbers, each with a name, an email and up to five mail-merge values.

Design choices:

* A list's ``field_names`` only label the mail-merge positions MM1..MM5; an entry's ``fields`` are the
  values in that order. Values are kept as given (stripped), never reinterpreted.
* A number appears once per list (a unique index): adding an entry for a number already in the list
  updates it. ``add_list_entries`` validates every entry before writing anything, so a bad entry leaves
  the list exactly as it was; within one call a repeated number counts as an update of its earlier
  occurrence, so ``added + updated`` is always the number of entries given.
* Concurrent adds to one list are serialised by locking the list's row, so two requests adding the same
  new number cannot both try to insert it.
* ``mail_merge`` runs on every inbound message that is forwarded with supplemental data, so it is one
  prebuilt statement: the (account, list name) unique index, then the (list, number) unique index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, delete, func, insert, select, update

from textgate.domain.errors import Conflict, NotFound, ValidationError
from textgate.domain.phone import normalize_number
from textgate.ids import new_id
from textgate.service.accounts import Account
from textgate.service.contacts import (
    GROUP_NAME_MAX,
    NAME_MAX,
    Named,
    check_limit,
    chunks,
    clean_email,
    clean_text,
    lock_account,
    text_problem,
)
from textgate.store.schema import dist_lists
from textgate.store.schema import list_entries as entry_table

__all__ = [
    "DistList",
    "ListEntry",
    "ListEntryInput",
    "add_list_entries",
    "create_list",
    "delete_list",
    "delete_list_entry",
    "find_list",
    "get_list",
    "list_entries",
    "list_lists",
    "mail_merge",
]

LIST_NAME_MAX = GROUP_NAME_MAX
MAX_FIELDS = 5
FIELD_NAME_MAX = 100
FIELD_VALUE_MAX = 200


@dataclass(frozen=True, slots=True)
class DistList:
    id: str
    name: str
    field_names: tuple[str, ...]
    size: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ListEntryInput:
    number: str
    name: str | None = None
    email: str | None = None
    fields: Sequence[str] = field(default=())


@dataclass(frozen=True, slots=True)
class ListEntry:
    list_id: str
    number: str
    name: str | None
    email: str | None
    fields: tuple[str, ...]  # MM1..MM5 values, in the order of the list's field_names
    created_at: datetime


def _entry(row: Any) -> ListEntry:
    return ListEntry(
        list_id=row.list_id,
        number=row.number,
        name=row.name,
        email=row.email,
        fields=tuple(row.fields or ()),
        created_at=row.created_at,
    )


def _lists_query() -> Select[Any]:
    size = (
        select(func.count())
        .select_from(entry_table)
        .where(entry_table.c.list_id == dist_lists.c.id)
        .scalar_subquery()
    )
    return select(dist_lists, size.label("size"))


def _list(row: Any) -> DistList:
    return DistList(
        id=row.id,
        name=row.name,
        field_names=tuple(row.field_names or ()),
        size=int(row.size),
        created_at=row.created_at,
    )


def _clean_values(values: Sequence[str], field: str, max_len: int, *, allow_empty: bool) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise ValidationError(f"{field} must be a list of strings", field=field)
    if len(values) > MAX_FIELDS:
        raise ValidationError(
            f"{field} has {len(values)} items; at most {MAX_FIELDS} are allowed", field=field
        )
    out: list[str] = []
    for i, raw in enumerate(values):
        text = raw.strip() if isinstance(raw, str) else raw
        if allow_empty and text == "":
            out.append("")
            continue
        problem = text_problem(text, max_len)
        if problem is not None:
            raise ValidationError(f"{field}[{i}] {problem}", field=f"{field}[{i}]")
        assert isinstance(text, str)
        out.append(text)
    return out


def create_list(
    conn: Connection, account: Account, name: str, field_names: Sequence[str] = (), *, now: datetime
) -> DistList:
    """A new, empty list; ``field_names`` label the mail-merge fields MM1..MM5 (at most five)."""
    name = clean_text(name, "name", LIST_NAME_MAX)
    labels = _clean_values(field_names, "field_names", FIELD_NAME_MAX, allow_empty=False)
    lock_account(conn, account.id)
    if find_list(conn, account, name) is not None:
        raise Conflict(f"a list named {name!r} already exists", field="name")
    list_id = new_id("lst")
    conn.execute(
        insert(dist_lists).values(
            id=list_id, account_id=account.id, name=name, field_names=labels, created_at=now
        )
    )
    return DistList(list_id, name, tuple(labels), 0, now)


_LISTS: Named[DistList] = Named(dist_lists, _lists_query, _list, "list", LIST_NAME_MAX)


def get_list(conn: Connection, account: Account, list_id: str) -> DistList:
    return _LISTS.get(conn, account, list_id)


def find_list(conn: Connection, account: Account, name: str) -> DistList | None:
    """The list with exactly this name (surrounding spaces ignored), or None."""
    return _LISTS.find(conn, account, name)


def list_lists(conn: Connection, account: Account) -> list[DistList]:
    """All the account's lists by name, with their sizes."""
    return _LISTS.all(conn, account)


def delete_list(conn: Connection, account: Account, list_id: str) -> None:
    """Delete the list and all its entries."""
    found = get_list(conn, account, list_id)
    conn.execute(delete(entry_table).where(entry_table.c.list_id == found.id))
    conn.execute(delete(dist_lists).where(dist_lists.c.id == found.id))


def _clean_entry(entry: ListEntryInput, i: int, region: str) -> dict[str, Any]:
    prefix = f"entries[{i}]"
    if not isinstance(entry, ListEntryInput):
        raise ValidationError(f"{prefix} is not a list entry", field=prefix)
    if not isinstance(entry.number, str):
        raise ValidationError(f"{prefix}.number must be text", field=f"{prefix}.number")
    number = normalize_number(entry.number, region=region, field=f"{prefix}.number")
    name = entry.name.strip() if isinstance(entry.name, str) else entry.name
    if name is not None and name != "":
        name = clean_text(name, f"{prefix}.name", NAME_MAX)
    return {
        "b_number": number,
        "b_name": name or None,
        "b_email": clean_email(entry.email, f"{prefix}.email"),
        "b_fields": _clean_values(entry.fields, f"{prefix}.fields", FIELD_VALUE_MAX, allow_empty=True),
    }


_INSERT_ENTRY = insert(entry_table).values(
    list_id=bindparam("b_list"),
    number=bindparam("b_number"),
    name=bindparam("b_name"),
    email=bindparam("b_email"),
    fields=bindparam("b_fields", type_=entry_table.c.fields.type),
    created_at=bindparam("b_now", type_=entry_table.c.created_at.type),
)
_UPDATE_ENTRY = (
    update(entry_table)
    .where(entry_table.c.list_id == bindparam("b_list"), entry_table.c.number == bindparam("b_number"))
    .values(
        name=bindparam("b_name"),
        email=bindparam("b_email"),
        fields=bindparam("b_fields", type_=entry_table.c.fields.type),
    )
)


def add_list_entries(
    conn: Connection, account: Account, list_id: str, entries: Sequence[ListEntryInput], *, now: datetime
) -> tuple[int, int]:
    """Add entries to a list, updating the entry of a number already in it; returns (added, updated).

    All or nothing: an invalid entry raises ValidationError naming ``entries[i].<field>`` before anything
    is written."""
    found = get_list(conn, account, list_id)
    cleaned: dict[str, dict[str, Any]] = {}
    repeats = 0
    for i, entry in enumerate(entries):
        row = _clean_entry(entry, i, account.region)
        repeats += row["b_number"] in cleaned
        cleaned[row["b_number"]] = row  # the last occurrence wins, as if applied in order
    conn.execute(select(dist_lists.c.id).where(dist_lists.c.id == found.id).with_for_update())
    numbers = list(cleaned)
    existing: set[str] = set()
    for part in chunks(numbers):
        existing.update(
            conn.execute(
                select(entry_table.c.number).where(
                    entry_table.c.list_id == found.id, entry_table.c.number.in_(part)
                )
            ).scalars()
        )
    inserts = [{**cleaned[n], "b_list": found.id, "b_now": now} for n in numbers if n not in existing]
    updates = [{**cleaned[n], "b_list": found.id} for n in numbers if n in existing]
    for part in chunks(inserts):
        conn.execute(_INSERT_ENTRY, list(part))
    for part in chunks(updates):
        conn.execute(_UPDATE_ENTRY, list(part))
    return len(inserts), len(updates) + repeats


def list_entries(
    conn: Connection, account: Account, list_id: str, *, limit: int = 100, cursor: str | None = None
) -> tuple[list[ListEntry], str | None]:
    """A page of the list's entries in the order they were added, and the next page's cursor."""
    found = get_list(conn, account, list_id)
    check_limit(limit)
    stmt = select(entry_table).where(entry_table.c.list_id == found.id)
    if cursor is not None:
        if not (isinstance(cursor, str) and cursor.isascii() and cursor.isdigit() and len(cursor) <= 18):
            raise ValidationError("cursor is not one this API returned", field="cursor")
        stmt = stmt.where(entry_table.c.id > int(cursor))
    rows = conn.execute(stmt.order_by(entry_table.c.id).limit(limit + 1)).all()
    more = len(rows) > limit
    return [_entry(row) for row in rows[:limit]], (str(rows[limit - 1].id) if more else None)


def delete_list_entry(conn: Connection, account: Account, list_id: str, number: str) -> None:
    found = get_list(conn, account, list_id)
    e164 = normalize_number(number, region=account.region, field="number")
    result = conn.execute(
        delete(entry_table).where(entry_table.c.list_id == found.id, entry_table.c.number == e164)
    )
    if result.rowcount == 0:
        raise NotFound(f"{e164} is not in list {found.name!r}", field="number")


# Built once: it runs for every forwarded inbound message.
_MAIL_MERGE = (
    select(entry_table)
    .join(dist_lists, dist_lists.c.id == entry_table.c.list_id)
    .where(
        dist_lists.c.account_id == bindparam("b_account"),
        dist_lists.c.name == bindparam("b_name"),
        entry_table.c.number == bindparam("b_number"),
    )
)


def mail_merge(conn: Connection, account_id: str, list_name: str, number: str) -> ListEntry | None:
    """The entry for ``number`` (E.164, as inbound messages carry it) in the account's list named
    ``list_name``, or None when there is no such list or entry."""
    if "\x00" in list_name or "\x00" in number or len(list_name) > LIST_NAME_MAX or len(number) > 32:
        return None
    row = conn.execute(
        _MAIL_MERGE, {"b_account": account_id, "b_name": list_name, "b_number": number}
    ).first()
    return None if row is None else _entry(row)
