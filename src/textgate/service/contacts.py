"""The address book: an account's contacts and the groups they belong to.

Design choices:

* Every statement is scoped by ``account_id``, lookups by id included: another account's contact or group
  id is simply "not found", indistinguishable from an id that never existed.
* Numbers are stored in E.164 (read in the account's region), so duplicate checks, searches and sends all
  compare one form.
* Duplicate names and numbers are refused by a check, not by a unique index: Text-Connect's import can
  create duplicates on purpose (IgnoreDupes), so the table cannot forbid them. To keep the check free of
  races, writers first lock the account row (``FOR UPDATE`` on PostgreSQL; on SQLite every transaction
  already begins with ``BEGIN IMMEDIATE``, which serialises writers).
* Groups are named in ``create_contact``/``update_contact`` (as in the Text-Connect API) and unknown names
  are created; group operations themselves take the group's id.
* Paging is keyset paging on the id (the cursor is the last id returned): stable while others insert or
  delete, and each page is one index range scan however deep.
* Text that cannot be stored (NUL characters, which PostgreSQL refuses) is a validation error, and ids
  that could not be ours are "not found" before they reach the database, so no user input ends in a
  driver error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import EllipsisType
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Select, Table, delete, func, insert, select, update

from textgate.domain.errors import Conflict, NotFound, ValidationError
from textgate.domain.phone import normalize_number
from textgate.ids import new_id
from textgate.service.accounts import Account
from textgate.store.schema import accounts, contact_groups, contacts
from textgate.store.schema import group_members as memberships

__all__ = [
    "Contact",
    "Group",
    "add_to_group",
    "create_contact",
    "create_group",
    "delete_all_contacts",
    "delete_all_groups",
    "delete_contact",
    "delete_group",
    "empty_group",
    "find_group",
    "get_contact",
    "get_group",
    "group_members",
    "list_contacts",
    "list_groups",
    "remove_from_group",
    "update_contact",
]

NAME_MAX = 200
EMAIL_MAX = 320
GROUP_NAME_MAX = 100
PAGE_MAX = 1000
#: Ids are a prefix and 22 characters; anything longer cannot be one of ours.
ID_MAX = 40
#: Rows per ``IN (...)`` list or executemany batch: well under every driver's parameter limit.
CHUNK = 1000

# Deliberately loose (one "@", a dot in the domain, no spaces): mail servers are the real judge, and a
# stricter pattern would refuse addresses people actually use. NUL is excluded because PostgreSQL is.
_EMAIL = re.compile(r"[^@\s\x00]+@[^@\s.\x00]+(?:\.[^@\s.\x00]+)+")


@dataclass(frozen=True, slots=True)
class Contact:
    id: str
    name: str
    number: str
    email: str | None
    groups: tuple[str, ...]  # group names, sorted
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    name: str
    members: int
    created_at: datetime


# -- validation shared with lists.py and contact_import.py ---------------------------------------------
def text_problem(value: object, max_len: int) -> str | None:
    """Why ``value`` (already stripped) cannot be stored as a name, or None when it can."""
    if not isinstance(value, str):
        return "must be text"
    if not value:
        return "must not be empty"
    if len(value) > max_len:
        return f"is longer than {max_len} characters"
    if "\x00" in value:
        return "must not contain NUL characters"
    return None


def clean_text(value: object, field: str, max_len: int) -> str:
    text = value.strip() if isinstance(value, str) else value
    problem = text_problem(text, max_len)
    if problem is not None:
        raise ValidationError(f"{field} {problem}", field=field)
    assert isinstance(text, str)
    return text


def is_email(value: str) -> bool:
    return len(value) <= EMAIL_MAX and _EMAIL.fullmatch(value) is not None


def clean_email(value: str | None, field: str) -> str | None:
    """The stripped address, None for no address; raises for something that is not one."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be text", field=field)
    text = value.strip()
    if not text:
        return None
    if not is_email(text):
        raise ValidationError(f"{field} {text[:EMAIL_MAX]!r} is not an email address", field=field)
    return text


def plausible_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= ID_MAX and "\x00" not in value


def check_limit(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= PAGE_MAX:
        raise ValidationError(f"limit must be between 1 and {PAGE_MAX}", field="limit")
    return limit


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def lock_account(conn: Connection, account_id: str) -> None:
    """Serialise the account's address-book writers (see the module docstring)."""
    conn.execute(select(accounts.c.id).where(accounts.c.id == account_id).with_for_update())


# -- contacts ------------------------------------------------------------------------------------------
def _clean_group_names(groups: Iterable[str], field: str = "groups") -> list[str]:
    if isinstance(groups, str):  # a bare string would otherwise be read as one group per character
        raise ValidationError(f"{field} must be a list of group names", field=field)
    names: dict[str, None] = {}
    for i, raw in enumerate(groups):
        names[clean_text(raw, f"{field}[{i}]", GROUP_NAME_MAX)] = None
    return list(names)


def _ensure_groups(conn: Connection, account_id: str, names: Sequence[str], now: datetime) -> list[str]:
    """Ids of the named groups, creating the missing ones (the caller holds the account lock)."""
    if not names:
        return []
    found = dict(
        conn.execute(
            select(contact_groups.c.name, contact_groups.c.id).where(
                contact_groups.c.account_id == account_id, contact_groups.c.name.in_(names)
            )
        ).all()
    )
    missing = [n for n in names if n not in found]
    if missing:
        rows = [
            {"id": new_id("grp"), "account_id": account_id, "name": n, "created_at": now} for n in missing
        ]
        conn.execute(insert(contact_groups), rows)
        found.update((row["name"], row["id"]) for row in rows)
    return [found[n] for n in names]


def _refuse_duplicate(conn: Connection, account_id: str, field: str, value: str, exclude: str | None) -> None:
    column = contacts.c.name if field == "name" else contacts.c.number
    stmt = select(contacts.c.id).where(contacts.c.account_id == account_id, column == value)
    if exclude is not None:
        stmt = stmt.where(contacts.c.id != exclude)
    if conn.execute(stmt.limit(1)).first() is not None:
        raise Conflict(f"a contact with {field} {value!r} already exists", field=field)


def _groups_of(conn: Connection, contact_ids: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in chunks(contact_ids):
        rows = conn.execute(
            select(memberships.c.contact_id, contact_groups.c.name)
            .join(contact_groups, contact_groups.c.id == memberships.c.group_id)
            .where(memberships.c.contact_id.in_(part))
        )
        for contact_id, name in rows:
            out.setdefault(contact_id, []).append(name)
    return out


def _contacts_from_rows(conn: Connection, rows: Sequence[Any]) -> list[Contact]:
    groups = _groups_of(conn, [row.id for row in rows])
    return [
        Contact(
            id=row.id,
            name=row.name,
            number=row.number,
            email=row.email,
            groups=tuple(sorted(groups.get(row.id, ()))),
            created_at=row.created_at,
        )
        for row in rows
    ]


def _page_of_contacts(
    conn: Connection, stmt: Select[Any], limit: int, cursor: str | None
) -> tuple[list[Contact], str | None]:
    check_limit(limit)
    if cursor is not None:
        if not plausible_id(cursor):
            raise ValidationError("cursor is not one this API returned", field="cursor")
        stmt = stmt.where(contacts.c.id > cursor)
    rows = conn.execute(stmt.order_by(contacts.c.id).limit(limit + 1)).all()
    more = len(rows) > limit
    items = _contacts_from_rows(conn, rows[:limit])
    return items, (items[-1].id if more else None)


def create_contact(
    conn: Connection,
    account: Account,
    name: str,
    number: str,
    *,
    email: str | None = None,
    groups: Iterable[str] = (),
    allow_duplicates: bool = False,
    now: datetime,
) -> Contact:
    """Add a contact; unknown groups are created. Refuses a name or number already in the address book
    (Conflict naming the field, name checked first) unless ``allow_duplicates``."""
    name = clean_text(name, "name", NAME_MAX)
    e164 = normalize_number(number, region=account.region, field="number")
    email = clean_email(email, "email")
    group_names = _clean_group_names(groups)
    lock_account(conn, account.id)
    if not allow_duplicates:
        _refuse_duplicate(conn, account.id, "name", name, None)
        _refuse_duplicate(conn, account.id, "number", e164, None)
    contact_id = new_id("con")
    conn.execute(
        insert(contacts).values(
            id=contact_id, account_id=account.id, name=name, number=e164, email=email, created_at=now
        )
    )
    group_ids = _ensure_groups(conn, account.id, group_names, now)
    if group_ids:
        conn.execute(insert(memberships), [{"group_id": g, "contact_id": contact_id} for g in group_ids])
    return Contact(contact_id, name, e164, email, tuple(sorted(group_names)), now)


def _contact_row(conn: Connection, account: Account, contact_id: str) -> Any:
    row = None
    if plausible_id(contact_id):
        row = conn.execute(
            select(contacts).where(contacts.c.id == contact_id, contacts.c.account_id == account.id)
        ).first()
    if row is None:
        raise NotFound(f"contact {contact_id!r} not found", field="contact_id")
    return row


def get_contact(conn: Connection, account: Account, contact_id: str) -> Contact:
    return _contacts_from_rows(conn, [_contact_row(conn, account, contact_id)])[0]


def list_contacts(
    conn: Connection,
    account: Account,
    *,
    limit: int = 100,
    cursor: str | None = None,
    group: str | None = None,
    search: str | None = None,
) -> tuple[list[Contact], str | None]:
    """A page of contacts in id order and the cursor of the next page (None on the last page).

    ``group`` is a group name (NotFound when the account has no such group); ``search`` matches a
    substring of the name (case-insensitively) or of the E.164 number."""
    stmt = select(contacts).where(contacts.c.account_id == account.id)
    if group is not None:
        found = find_group(conn, account, group)
        if found is None:
            raise NotFound(f"group {group!r} not found", field="group")
        stmt = stmt.join(memberships, memberships.c.contact_id == contacts.c.id).where(
            memberships.c.group_id == found.id
        )
    if search is not None:
        term = clean_text(search, "search", NAME_MAX) if search.strip() else ""
        if term:
            stmt = stmt.where(
                contacts.c.name.icontains(term, autoescape=True)
                | contacts.c.number.contains(term, autoescape=True)
            )
    return _page_of_contacts(conn, stmt, limit, cursor)


def update_contact(
    conn: Connection,
    account: Account,
    contact_id: str,
    *,
    name: str | None = None,
    number: str | None = None,
    email: str | EllipsisType | None = ...,
    groups: Iterable[str] | None = None,
    allow_duplicates: bool = False,
    now: datetime,
) -> Contact:
    """Change a contact. ``None`` (``...`` for email, where None removes the address) leaves a field as it
    is; ``groups`` replaces the contact's groups. A new name or number that another contact already has is
    refused (Conflict) unless ``allow_duplicates``."""
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = clean_text(name, "name", NAME_MAX)
    if number is not None:
        values["number"] = normalize_number(number, region=account.region, field="number")
    if not isinstance(email, EllipsisType):
        values["email"] = clean_email(email, "email")
    group_names = None if groups is None else _clean_group_names(groups)
    lock_account(conn, account.id)
    row = _contact_row(conn, account, contact_id)
    if not allow_duplicates:
        for field in ("name", "number"):
            if field in values and values[field] != getattr(row, field):
                _refuse_duplicate(conn, account.id, field, values[field], contact_id)
    if values:
        conn.execute(update(contacts).where(contacts.c.id == contact_id).values(**values))
    if group_names is not None:
        conn.execute(delete(memberships).where(memberships.c.contact_id == contact_id))
        group_ids = _ensure_groups(conn, account.id, group_names, now)
        if group_ids:
            conn.execute(insert(memberships), [{"group_id": g, "contact_id": contact_id} for g in group_ids])
    return get_contact(conn, account, contact_id)


def delete_contact(conn: Connection, account: Account, contact_id: str) -> None:
    _contact_row(conn, account, contact_id)
    conn.execute(delete(memberships).where(memberships.c.contact_id == contact_id))
    conn.execute(delete(contacts).where(contacts.c.id == contact_id))


def delete_all_contacts(conn: Connection, account: Account) -> int:
    """Delete every contact of the account (and their group memberships); the groups stay."""
    mine = select(contacts.c.id).where(contacts.c.account_id == account.id)
    conn.execute(delete(memberships).where(memberships.c.contact_id.in_(mine)))
    return int(conn.execute(delete(contacts).where(contacts.c.account_id == account.id)).rowcount)


# -- named collections (groups here, distribution lists in service.lists) -------------------------------
T = TypeVar("T")


@dataclass(frozen=True)
class Named(Generic[T]):
    """Reading an account's collections that have an id and a unique name: by id, by name, all of them.

    ``query`` selects the table's rows with whatever the item needs (e.g. a member count) and ``item``
    turns one into the caller's type; ``noun`` names it in errors (``group 'grp_x' not found``).
    """

    table: Table
    query: Callable[[], Select[Any]]
    item: Callable[[Any], T]
    noun: str
    name_max: int

    def get(self, conn: Connection, account: Account, item_id: str) -> T:
        row = None
        if plausible_id(item_id):
            c = self.table.c
            row = conn.execute(self.query().where(c.id == item_id, c.account_id == account.id)).first()
        if row is None:
            raise NotFound(f"{self.noun} {item_id!r} not found", field=f"{self.noun}_id")
        return self.item(row)

    def find(self, conn: Connection, account: Account, name: str) -> T | None:
        name = name.strip() if isinstance(name, str) else name
        if text_problem(name, self.name_max) is not None:
            return None
        c = self.table.c
        row = conn.execute(self.query().where(c.account_id == account.id, c.name == name)).first()
        return None if row is None else self.item(row)

    def all(self, conn: Connection, account: Account) -> list[T]:
        c = self.table.c
        rows = conn.execute(self.query().where(c.account_id == account.id).order_by(c.name)).all()
        return [self.item(row) for row in rows]


# -- groups --------------------------------------------------------------------------------------------
def _groups_query() -> Select[Any]:
    members = (
        select(func.count())
        .select_from(memberships)
        .where(memberships.c.group_id == contact_groups.c.id)
        .scalar_subquery()
    )
    return select(contact_groups, members.label("members"))


def _group(row: Any) -> Group:
    return Group(id=row.id, name=row.name, members=int(row.members), created_at=row.created_at)


def create_group(conn: Connection, account: Account, name: str, *, now: datetime) -> Group:
    name = clean_text(name, "name", GROUP_NAME_MAX)
    lock_account(conn, account.id)
    if find_group(conn, account, name) is not None:
        raise Conflict(f"a group named {name!r} already exists", field="name")
    group_id = new_id("grp")
    conn.execute(insert(contact_groups).values(id=group_id, account_id=account.id, name=name, created_at=now))
    return Group(group_id, name, 0, now)


_GROUPS: Named[Group] = Named(contact_groups, _groups_query, _group, "group", GROUP_NAME_MAX)


def get_group(conn: Connection, account: Account, group_id: str) -> Group:
    return _GROUPS.get(conn, account, group_id)


def find_group(conn: Connection, account: Account, name: str) -> Group | None:
    """The group with exactly this name (surrounding spaces ignored), or None."""
    return _GROUPS.find(conn, account, name)


def list_groups(conn: Connection, account: Account) -> list[Group]:
    """All the account's groups by name, with their member counts."""
    return _GROUPS.all(conn, account)


def _unique_ids(contact_ids: Iterable[str]) -> list[str]:
    if isinstance(contact_ids, str):
        raise ValidationError("contact_ids must be a list of contact ids", field="contact_ids")
    return list(dict.fromkeys(contact_ids))


def add_to_group(conn: Connection, account: Account, group_id: str, contact_ids: Iterable[str]) -> int:
    """Put the account's contacts into the group; returns how many were not members yet. Any id that is
    not one of the account's contacts fails the whole call (NotFound naming it)."""
    group = get_group(conn, account, group_id)
    ids = _unique_ids(contact_ids)
    for contact_id in ids:
        if not plausible_id(contact_id):
            raise NotFound(f"contact {contact_id!r} not found", field="contact_ids")
    # Lock the group so concurrent adds of the same contact cannot both insert the membership.
    conn.execute(select(contact_groups.c.id).where(contact_groups.c.id == group.id).with_for_update())
    new: list[str] = []
    for part in chunks(ids):
        known = set(
            conn.execute(
                select(contacts.c.id).where(contacts.c.account_id == account.id, contacts.c.id.in_(part))
            ).scalars()
        )
        for contact_id in part:
            if contact_id not in known:
                raise NotFound(f"contact {contact_id!r} not found", field="contact_ids")
        members = set(
            conn.execute(
                select(memberships.c.contact_id).where(
                    memberships.c.group_id == group.id, memberships.c.contact_id.in_(part)
                )
            ).scalars()
        )
        new += [c for c in part if c not in members]
    for part in chunks(new):
        conn.execute(insert(memberships), [{"group_id": group.id, "contact_id": c} for c in part])
    return len(new)


def remove_from_group(conn: Connection, account: Account, group_id: str, contact_ids: Iterable[str]) -> int:
    """Take contacts out of the group; returns how many were members. Non-members are ignored."""
    group = get_group(conn, account, group_id)
    ids = [c for c in _unique_ids(contact_ids) if plausible_id(c)]
    removed = 0
    for part in chunks(ids):
        result = conn.execute(
            delete(memberships).where(memberships.c.group_id == group.id, memberships.c.contact_id.in_(part))
        )
        removed += int(result.rowcount)
    return removed


def group_members(
    conn: Connection, account: Account, group_id: str, *, limit: int = 100, cursor: str | None = None
) -> tuple[list[Contact], str | None]:
    """A page of the group's contacts in id order, and the next page's cursor (None on the last)."""
    group = get_group(conn, account, group_id)
    stmt = (
        select(contacts)
        .join(memberships, memberships.c.contact_id == contacts.c.id)
        .where(memberships.c.group_id == group.id, contacts.c.account_id == account.id)
    )
    return _page_of_contacts(conn, stmt, limit, cursor)


def empty_group(conn: Connection, account: Account, group_id: str) -> int:
    """Remove every member from the group (the contacts stay); returns how many were removed."""
    group = get_group(conn, account, group_id)
    return int(conn.execute(delete(memberships).where(memberships.c.group_id == group.id)).rowcount)


def delete_group(conn: Connection, account: Account, group_id: str) -> None:
    """Delete the group and its memberships; its contacts stay in the address book."""
    group = get_group(conn, account, group_id)
    conn.execute(delete(memberships).where(memberships.c.group_id == group.id))
    conn.execute(delete(contact_groups).where(contact_groups.c.id == group.id))


def delete_all_groups(conn: Connection, account: Account) -> int:
    """Delete every group of the account (contacts stay); returns how many groups there were."""
    mine = select(contact_groups.c.id).where(contact_groups.c.account_id == account.id)
    conn.execute(delete(memberships).where(memberships.c.group_id.in_(mine)))
    return int(conn.execute(delete(contact_groups).where(contact_groups.c.account_id == account.id)).rowcount)
