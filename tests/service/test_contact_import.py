from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.helpers import Tenant
from textgate.service.contact_import import (
    DUPLICATE_NAME,
    DUPLICATE_NUMBER,
    FAILED,
    PARTIAL,
    SUCCESS,
    ImportLine,
    ImportReport,
    import_contacts_csv,
)
from textgate.service.contacts import (
    Contact,
    create_contact,
    create_group,
    find_group,
    list_contacts,
    list_groups,
)

NOW = datetime(2026, 3, 15, 14, 30, tzinfo=UTC)

# Text-Connect's ImportContactsCSV example, with the fourth line its page lost restored.
SEED = """Contact 1,447777777771,,group1
Contact 2,447777777772,
Contact 3,447777777773,,group1,group2,group3
,447777777774,,group2
Contact 5,mynumber,,group3"""

# The same example exactly as the page prints it.
SEED_AS_PRINTED = """Contact 1,447777777771,,group1
Contact 2,447777777772,
Contact 3,447777777773,,group1,group2,group3
Contact 5,mynumber,,group3"""


def _import(engine: Engine, tenant: Tenant, text: str, **options: Any) -> ImportReport:
    with engine.begin() as conn:
        return import_contacts_csv(conn, tenant.account, text, now=NOW, **options)


def _outcomes(report: ImportReport) -> list[tuple[int, str, list[str]]]:
    return [(x.line, x.outcome, list(x.reasons)) for x in report.lines]


def _contacts(engine: Engine, tenant: Tenant) -> dict[str, Contact]:
    with engine.connect() as conn:
        return {c.name: c for c in list_contacts(conn, tenant.account, limit=1000)[0]}


def _members(engine: Engine, tenant: Tenant) -> dict[str, int]:
    with engine.connect() as conn:
        return {g.name: g.members for g in list_groups(conn, tenant.account)}


def test_seed_example(engine: Engine, tenant: Tenant) -> None:
    report = _import(engine, tenant, SEED)
    assert _outcomes(report) == [
        (1, "Success", []),
        (2, "Success", []),
        (3, "Success", []),
        (4, "Failed", ["No name"]),
        (5, "Failed", ["Invalid number (mynumber)"]),
    ]
    assert (report.added, report.updated, report.groups_created) == (3, 0, 3)
    stored = _contacts(engine, tenant)
    assert {name: c.number for name, c in stored.items()} == {
        "Contact 1": "+447777777771",
        "Contact 2": "+447777777772",
        "Contact 3": "+447777777773",
    }
    assert stored["Contact 3"].groups == ("group1", "group2", "group3")
    assert stored["Contact 2"].groups == () and stored["Contact 2"].email is None
    assert _members(engine, tenant) == {"group1": 2, "group2": 1, "group3": 1}


def test_seed_example_as_printed(engine: Engine, tenant: Tenant) -> None:
    report = _import(engine, tenant, SEED_AS_PRINTED)
    assert _outcomes(report) == [
        (1, "Success", []),
        (2, "Success", []),
        (3, "Success", []),
        (4, "Failed", ["Invalid number (mynumber)"]),
    ]
    assert report.count(SUCCESS) == 3 and report.count(FAILED) == 1


def test_lines_and_blank_lines(engine: Engine, tenant: Tenant) -> None:
    text = (
        '\ufeffA,07777777771\r\n\r\n"Smith, Jane",+44 7777 777772,,"group, with comma"\rB,07777777773\n  \n\n'
    )
    report = _import(engine, tenant, text)
    assert _outcomes(report) == [
        (1, SUCCESS, []),
        (2, FAILED, ["No name"]),  # a blank line in the middle is reported...
        (3, SUCCESS, []),
        (4, SUCCESS, []),
    ]  # ...blank lines at the end are not
    stored = _contacts(engine, tenant)
    assert stored["Smith, Jane"].groups == ("group, with comma",)
    assert set(stored) == {"A", "Smith, Jane", "B"}
    assert _import(engine, tenant, "").lines == ()
    assert _import(engine, tenant, "\n \n").lines == ()


def test_failed_and_partial_lines(engine: Engine, tenant: Tenant) -> None:
    long_group = "g" * 101
    text = "\n".join(
        [
            "Ada,07777777771,not-an-email,ok",
            f"Bob,07777777772,bob@example.com,{long_group},ok, ,ok",
            f"Cy,07777777773,bad@,{long_group}",
            "  ,mynumber,x@example.com",
            "Dee",
            "Eve,   ,eve@example.com",
            "x" * 201 + ",07777777774",
            "Fay , 07777777775 , fay@example.com ,  spaced  ",
            ",,x@example.com,never",
        ]
    )
    report = _import(engine, tenant, text)
    assert _outcomes(report) == [
        (1, PARTIAL, ["Invalid email (not-an-email)"]),
        (2, PARTIAL, [f"Invalid group ({long_group})"]),
        (3, PARTIAL, ["Invalid email (bad@)", f"Invalid group ({long_group})"]),
        (4, FAILED, ["No name", "Invalid number (mynumber)"]),
        (5, FAILED, ["No number"]),
        (6, FAILED, ["No number"]),
        (7, FAILED, ["Invalid name (longer than 200 characters)"]),
        (8, SUCCESS, []),
        (9, FAILED, ["No name"]),
    ]
    stored = _contacts(engine, tenant)
    assert set(stored) == {"Ada", "Bob", "Cy", "Fay"}
    assert stored["Ada"].email is None and stored["Ada"].groups == ("ok",)
    assert stored["Bob"].email == "bob@example.com" and stored["Bob"].groups == ("ok",)
    assert stored["Cy"].groups == ()
    assert (stored["Fay"].number, stored["Fay"].email, stored["Fay"].groups) == (
        "+447777777775",
        "fay@example.com",
        ("spaced",),
    )
    assert _members(engine, tenant) == {"ok": 2, "spaced": 1}


def test_duplicates_are_refused_by_default(engine: Engine, tenant: Tenant) -> None:
    with engine.begin() as conn:
        create_contact(conn, tenant.account, "Ada", "+447777777771", groups=["old"], now=NOW)
    text = "\n".join(
        [
            "Ada,07777777779,,new",  # existing name
            "Someone,+447777777771,,new",  # existing number
            "Ada,447777777771,,new",  # both: the name is checked first
            "Bob,07777777772",
            "Bob,07777777773",  # an earlier line's name
            "Cy,07777777772",  # an earlier line's number
            "Dee,mynumber",
            "Dee,07777777774",  # the failed line wrote nothing, so no duplicate
        ]
    )
    report = _import(engine, tenant, text)
    assert _outcomes(report) == [
        (1, DUPLICATE_NAME, []),
        (2, DUPLICATE_NUMBER, []),
        (3, DUPLICATE_NAME, []),
        (4, SUCCESS, []),
        (5, DUPLICATE_NAME, []),
        (6, DUPLICATE_NUMBER, []),
        (7, FAILED, ["Invalid number (mynumber)"]),
        (8, SUCCESS, []),
    ]
    stored = _contacts(engine, tenant)
    assert {n: c.number for n, c in stored.items()} == {
        "Ada": "+447777777771",
        "Bob": "+447777777772",
        "Dee": "+447777777774",
    }
    assert "new" not in _members(engine, tenant)  # refused lines create no groups either


def test_ignore_dupes_creates_duplicates(engine: Engine, tenant: Tenant) -> None:
    with engine.begin() as conn:
        create_contact(conn, tenant.account, "Ada", "+447777777771", now=NOW)
    report = _import(
        engine, tenant, "Ada,07777777779\nSomeone,07777777771\nAda,07777777771", ignore_dupes=True
    )
    assert [x.outcome for x in report.lines] == [SUCCESS] * 3
    with engine.connect() as conn:
        items = list_contacts(conn, tenant.account)[0]
    assert sorted((c.name, c.number) for c in items) == [
        ("Ada", "+447777777771"),
        ("Ada", "+447777777771"),
        ("Ada", "+447777777779"),
        ("Someone", "+447777777771"),
    ]


@pytest.mark.parametrize("ignore_dupes", [False, True])
def test_overwrite_dupes(engine: Engine, tenant: Tenant, ignore_dupes: bool) -> None:
    with engine.begin() as conn:
        create_contact(
            conn, tenant.account, "Ada", "+447777777771", email="ada@old.example", groups=["old"], now=NOW
        )
        create_contact(conn, tenant.account, "Bob", "+447777777772", email="bob@old.example", now=NOW)
        create_contact(conn, tenant.account, "Cy", "+447777777773", email="cy@old.example", now=NOW)
    text = "\n".join(
        [
            "Ada Lovelace,07777777771,ada@new.example,new,old",  # duplicate number: overwritten
            "Bob,07777777779,,new",  # duplicate name, other number: a new contact
            "Bobby,07777777772,",  # an empty email cell removes the address
            "Cyril,07777777773,not-an-email",  # an invalid one leaves it
        ]
    )
    report = _import(engine, tenant, text, overwrite_dupes=True, ignore_dupes=ignore_dupes)
    assert _outcomes(report) == [
        (1, SUCCESS, []),
        (2, SUCCESS, []),
        (3, SUCCESS, []),
        (4, PARTIAL, ["Invalid email (not-an-email)"]),
    ]
    assert (report.added, report.updated) == (1, 3)
    with engine.connect() as conn:
        items = list_contacts(conn, tenant.account)[0]
    got = sorted((c.name, c.number, c.email, c.groups) for c in items)
    assert got == [
        ("Ada Lovelace", "+447777777771", "ada@new.example", ("new", "old")),
        ("Bob", "+447777777779", None, ("new",)),
        ("Bobby", "+447777777772", None, ()),
        ("Cyril", "+447777777773", "cy@old.example", ()),
    ]


def test_overwrite_within_one_import_and_across_chunks(engine: Engine, tenant: Tenant) -> None:
    text = "\n".join(
        [
            "A1,07777777771,a1@example.com,g1",
            "A2,07777777771,,g2",  # overwrites line 1's contact, still unwritten
            "B,07777777772,,g1",
            "A3,07777777771,a3@example.com,g1,g3",  # overwrites it again, now written, g1 already set
            "A4,07777777771,,g1",  # and again, in a later chunk
        ]
    )
    with engine.begin() as conn:
        report = import_contacts_csv(conn, tenant.account, text, overwrite_dupes=True, now=NOW, chunk=2)
    assert [x.outcome for x in report.lines] == [SUCCESS] * 5
    assert (report.added, report.updated) == (2, 3)
    stored = _contacts(engine, tenant)
    assert set(stored) == {"A4", "B"}
    assert stored["A4"].email is None and stored["A4"].groups == ("g1", "g2", "g3")
    assert _members(engine, tenant) == {"g1": 2, "g2": 1, "g3": 1}


def test_progress_is_reported_every_chunk(engine: Engine, tenant: Tenant) -> None:
    calls: list[tuple[int, int]] = []
    text = "\n".join(f"C{i},0777777777{i}" for i in range(5))
    with engine.begin() as conn:
        import_contacts_csv(
            conn,
            tenant.account,
            text,
            now=NOW,
            chunk=2,
            progress=lambda done, total: calls.append((done, total)),
        )
    assert calls == [(2, 5), (4, 5), (5, 5)]
    assert len(_contacts(engine, tenant)) == 5


def test_existing_groups_are_reused(engine: Engine, tenant: Tenant) -> None:
    with engine.begin() as conn:
        vip = create_group(conn, tenant.account, "vip", now=NOW)
    report = _import(engine, tenant, "Ada,07777777771,,vip,vip,fresh\nBob,07777777772,,fresh")
    assert report.groups_created == 1
    with engine.connect() as conn:
        found = find_group(conn, tenant.account, "vip")
        assert found is not None and found.id == vip.id and found.members == 1
    assert _members(engine, tenant) == {"fresh": 2, "vip": 1}


def test_imports_are_per_account(engine: Engine, tenant: Tenant, other: Tenant) -> None:
    _import(engine, other, "Ada,07777777771,,shared")
    report = _import(engine, tenant, "Ada,07777777771,,shared")
    assert report.lines == (ImportLine(1, SUCCESS, ()),)
    assert report.groups_created == 1
    with engine.connect() as conn:
        mine, theirs = find_group(conn, tenant.account, "shared"), find_group(conn, other.account, "shared")
    assert mine is not None and theirs is not None and mine.id != theirs.id
    assert list(_contacts(engine, other)) == ["Ada"]
    # Overwriting by number only touches the importing account's contacts.
    _import(engine, tenant, "Changed,07777777771", overwrite_dupes=True)
    assert list(_contacts(engine, other)) == ["Ada"]
    assert list(_contacts(engine, tenant)) == ["Changed"]


def test_many_lines_in_several_chunks(engine: Engine, tenant: Tenant) -> None:
    n = 12_000
    text = "\n".join(f"Contact {i},447777{i:06d},c{i}@example.com,group{i % 3}" for i in range(n))
    report = _import(engine, tenant, text)
    assert report.count(SUCCESS) == n and report.added == n
    assert _members(engine, tenant) == {"group0": 4000, "group1": 4000, "group2": 4000}
    again = _import(engine, tenant, text)
    assert again.count(DUPLICATE_NAME) == n and again.added == 0


def test_hostile_input_is_reported_not_raised(engine: Engine, tenant: Tenant) -> None:
    huge = '"' + "x" * 200_000 + '"'
    text = "\n".join(
        [
            "N\x00ul,07777777771",
            "Gee,07777777772,g\x00@example.com,bad\x00group",
            '"Unterminated,07777777773',
            f"{huge},07777777774",
            "Kay,07777777775,,ok",
        ]
    )
    report = _import(engine, tenant, text)
    assert _outcomes(report) == [
        (1, FAILED, ["Invalid name (it contains a NUL character)"]),
        (2, PARTIAL, ["Invalid email (g\x00@example.com)", "Invalid group (bad\x00group)"]),
        (3, FAILED, ["No number"]),  # the quote runs to the end of its line, not into the next one
        (4, FAILED, ["Unreadable line"]),
        (5, SUCCESS, []),
    ]
    assert set(_contacts(engine, tenant)) == {"Gee", "Kay"}
