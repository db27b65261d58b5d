"""Importing contacts from CSV text, as Text-Connect's ImportContactsCSV does.

Each line is ``name,number,email,group1,group2,...`` and gets one outcome: ``Success``, ``Partial``
(added, but without an invalid email or without a group that cannot exist), ``Failed`` (nothing written),
``Duplicate Name`` or ``Duplicate Number`` (refused, nothing written), with the reasons.

Design choices:

* Lines are the text's physical lines (``\\n``, ``\\r\\n`` or ``\\r``), each parsed on its own with the
  csv module, so a quoted name may contain commas but a stray quote cannot swallow the following lines
  and shift every reported line number. Blank lines at the very end are ignored (editors add them); a
  blank line in the middle is reported, as "No name", so the numbering matches what the user sent.
* Reasons not fixed by Text-Connect: an empty number cell is "No number" (unless the name is missing
  too: then "No name" alone, as for a blank line); an unusable name is "Invalid name (...)" with why; a
  line the csv module cannot read is "Unreadable line". A Failed line lists only what made it fail.
* With ``overwrite_dupes``, the first contact (oldest) having the line's number is overwritten: its name
  is replaced, its email replaced by the line's (an empty cell removes it; an invalid one leaves the old
  address, reported as Partial), and the line's groups are added to its groups.
* Speed (100,000 lines in seconds, in the caller's ONE transaction): the account's names, numbers and
  groups are read once into dicts, numbers are normalised through a per-import cache, rows are built in
  Python and written every ``chunk`` lines with one driver-level executemany per table, after which
  ``progress(done, total)`` is called. ``bench/contacts_import.py`` measures it: phone-number validation
  (libphonenumber, ~30-50 µs a number) is well over half of the time, the writes most of the rest.
* The account row is locked first so the duplicate checks cannot race another writer.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any, Final

from sqlalchemy import Column, Connection, Table, bindparam, insert, select, update

from textgate.domain.errors import ValidationError
from textgate.domain.phone import normalize_number
from textgate.ids import new_id
from textgate.service.accounts import Account
from textgate.service.contacts import GROUP_NAME_MAX, NAME_MAX, chunks, is_email, lock_account
from textgate.store.schema import contact_groups, contacts, group_members

__all__ = [
    "DUPLICATE_NAME",
    "DUPLICATE_NUMBER",
    "FAILED",
    "PARTIAL",
    "SUCCESS",
    "ImportLine",
    "ImportReport",
    "import_contacts_csv",
]

SUCCESS: Final = "Success"
FAILED: Final = "Failed"
PARTIAL: Final = "Partial"
DUPLICATE_NAME: Final = "Duplicate Name"
DUPLICATE_NUMBER: Final = "Duplicate Number"
CHUNK_LINES = 5000

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_UNSET: Final = object()  # "keep the contact's email" in a pending overwrite


@dataclass(frozen=True, slots=True)
class ImportLine:
    line: int  # 1-based
    outcome: str
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ImportReport:
    lines: tuple[ImportLine, ...]
    added: int = 0  # contacts created
    updated: int = 0  # existing contacts overwritten (overwrite_dupes)
    groups_created: int = 0

    def count(self, outcome: str) -> int:
        return sum(1 for line in self.lines if line.outcome == outcome)


@dataclass(slots=True)
class _Pending:
    """Rows built since the last flush."""

    groups: list[dict[str, Any]] = field(default_factory=list)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    updates: dict[str, tuple[str, object]] = field(default_factory=dict)  # id -> (name, email or _UNSET)
    members: dict[tuple[str, str], None] = field(default_factory=dict)  # (group id, contact id)
    # Contacts written before this chunk that get groups in it: their memberships may already exist.
    member_checks: set[str] = field(default_factory=set)


_UPDATE_NAME_EMAIL = (
    update(contacts)
    .where(contacts.c.id == bindparam("b_id"))
    .values(name=bindparam("b_name"), email=bindparam("b_email"))
)
_UPDATE_NAME = update(contacts).where(contacts.c.id == bindparam("b_id")).values(name=bindparam("b_name"))


def _insert_many(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """executemany straight to the driver, with SQL compiled once for the dialect's parameter style.

    Half the cost of ``conn.execute(insert(table), rows)``, which builds and type-processes every row's
    parameters: rows must hold values the driver takes as they are (see ``_db_value``)."""
    if not rows:
        return
    compiled = insert(table).compile(dialect=conn.dialect, column_keys=list(rows[0]))
    if compiled.positional:
        keys = compiled.positiontup or ()
        conn.exec_driver_sql(str(compiled), [tuple(row[k] for k in keys) for row in rows])
    else:
        conn.exec_driver_sql(str(compiled), rows)


def _db_value(conn: Connection, column: Column[Any], value: Any) -> Any:
    """``value`` as the column's type hands it to the driver."""
    process = column.type.bind_processor(conn.dialect)
    return value if process is None else process(value)


def _flush(conn: Connection, pending: _Pending) -> None:
    _insert_many(conn, contact_groups, pending.groups)
    # executemany takes any number of rows; rows in key order touch fewer index pages than random ids do.
    _insert_many(conn, contacts, sorted(pending.contacts.values(), key=itemgetter("id")))
    with_email = [
        {"b_id": i, "b_name": n, "b_email": e} for i, (n, e) in pending.updates.items() if e is not _UNSET
    ]
    name_only = [{"b_id": i, "b_name": n} for i, (n, e) in pending.updates.items() if e is _UNSET]
    for stmt, params in ((_UPDATE_NAME_EMAIL, with_email), (_UPDATE_NAME, name_only)):
        if params:
            conn.execute(stmt, params)
    members = pending.members
    if pending.member_checks:
        for part in chunks(sorted(pending.member_checks)):
            existing = conn.execute(
                select(group_members.c.group_id, group_members.c.contact_id).where(
                    group_members.c.contact_id.in_(part)
                )
            )
            for group_id, contact_id in existing:
                members.pop((group_id, contact_id), None)
    _insert_many(conn, group_members, [{"group_id": g, "contact_id": c} for g, c in sorted(members)])


def _cells(line: str) -> list[str] | None:
    if '"' not in line:
        return line.split(",")  # what the csv module returns for a line without quotes, much faster
    try:
        return next(csv.reader((line,)), [])
    except csv.Error:
        return None


def import_contacts_csv(
    conn: Connection,
    account: Account,
    text: str,
    *,
    ignore_dupes: bool = False,
    overwrite_dupes: bool = False,
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = CHUNK_LINES,
) -> ImportReport:
    """Import ``name,number,email,group1,...`` lines into the account's address book; one
    :class:`ImportLine` per line. See the module docstring for the rules."""
    if not isinstance(text, str):
        raise ValidationError("the CSV must be text", field="text")
    if chunk < 1:
        raise ValidationError("chunk must be at least 1", field="chunk")
    lines = _LINE_BREAK.split(text.removeprefix("\ufeff"))
    while lines and not lines[-1].strip():
        lines.pop()
    total = len(lines)
    refuse_dupes = not (ignore_dupes or overwrite_dupes)
    account_id, region = account.id, account.region

    lock_account(conn, account_id)
    names: set[str] = set()
    numbers: dict[str, str] = {}  # E.164 -> the id of the oldest contact with it
    if refuse_dupes or overwrite_dupes:
        rows = conn.execute(
            select(contacts.c.name, contacts.c.number, contacts.c.id)
            .where(contacts.c.account_id == account_id)
            .order_by(contacts.c.created_at, contacts.c.id)
        )
        for name, number, contact_id in rows:
            names.add(name)
            numbers.setdefault(number, contact_id)
    groups: dict[str, str] = dict(
        conn.execute(
            select(contact_groups.c.name, contact_groups.c.id).where(
                contact_groups.c.account_id == account_id
            )
        ).all()
    )
    stamp = _db_value(conn, contacts.c.created_at, now)
    flushed: set[str] = set(numbers.values())  # ids of contacts already in the database
    cache: dict[str, str | None] = {}

    report: list[ImportLine] = []
    pending = _Pending()
    added = updated = groups_created = 0
    for index, line in enumerate(lines, start=1):
        if index > 1 and (index - 1) % chunk == 0:  # the previous line completed a chunk
            flushed.update(pending.contacts)
            _flush(conn, pending)
            pending = _Pending()
            if progress is not None:
                progress(index - 1, total)
        cells = _cells(line)
        if cells is None:
            report.append(ImportLine(index, FAILED, ("Unreadable line",)))
            continue
        ncells = len(cells)
        name = cells[0].strip() if ncells else ""
        raw_number = cells[1].strip() if ncells > 1 else ""
        fatal: list[str] = []
        if not name:
            fatal.append("No name")
        elif len(name) > NAME_MAX:
            fatal.append(f"Invalid name (longer than {NAME_MAX} characters)")
        elif "\x00" in name:
            fatal.append("Invalid name (it contains a NUL character)")
        e164 = None
        if not raw_number:
            if name:  # without either, the line is no contact at all: "No name" says it (blank lines)
                fatal.append("No number")
        else:
            e164 = cache.get(raw_number, "")
            if e164 == "":
                try:
                    e164 = normalize_number(raw_number, region=region, field="number")
                except ValidationError:
                    e164 = None
                cache[raw_number] = e164
            if e164 is None:
                fatal.append(f"Invalid number ({raw_number})")
        if fatal or e164 is None:
            report.append(ImportLine(index, FAILED, tuple(fatal)))
            continue
        if refuse_dupes:
            if name in names:
                report.append(ImportLine(index, DUPLICATE_NAME))
                continue
            if e164 in numbers:
                report.append(ImportLine(index, DUPLICATE_NUMBER))
                continue

        reasons: list[str] = []
        email: object = None
        raw_email = cells[2].strip() if ncells > 2 else ""
        if raw_email:
            if is_email(raw_email):
                email = raw_email
            else:
                reasons.append(f"Invalid email ({raw_email})")
                email = _UNSET
        group_ids: dict[str, None] = {}
        for cell in cells[3:]:
            group_name = cell.strip()
            if not group_name:
                continue
            group_id = groups.get(group_name)
            if group_id is None:
                if len(group_name) > GROUP_NAME_MAX or "\x00" in group_name:
                    reasons.append(f"Invalid group ({group_name})")
                    continue
                group_id = groups[group_name] = new_id("grp")
                pending.groups.append(
                    {"id": group_id, "account_id": account_id, "name": group_name, "created_at": stamp}
                )
                groups_created += 1
            group_ids[group_id] = None

        target = numbers.get(e164) if overwrite_dupes else None
        if target is None:
            contact_id = new_id("con")
            pending.contacts[contact_id] = {
                "id": contact_id,
                "account_id": account_id,
                "name": name,
                "number": e164,
                "email": None if email is _UNSET else email,
                "created_at": stamp,
            }
            names.add(name)
            numbers[e164] = contact_id
            added += 1
        else:
            contact_id = target
            new_row = pending.contacts.get(target)
            if new_row is not None:  # created earlier in this chunk: change the row before it is written
                new_row["name"] = name
                if email is not _UNSET:
                    new_row["email"] = email
            else:
                _, earlier_email = pending.updates.get(target, ("", _UNSET))
                pending.updates[target] = (name, earlier_email if email is _UNSET else email)
            if group_ids and target in flushed:
                pending.member_checks.add(target)
            updated += 1
        for group_id in group_ids:
            pending.members[(group_id, contact_id)] = None
        report.append(ImportLine(index, PARTIAL if reasons else SUCCESS, tuple(reasons)))
    _flush(conn, pending)
    if progress is not None:
        progress(total, total)
    return ImportReport(tuple(report), added=added, updated=updated, groups_created=groups_created)
