"""ImportContactsCSV (the document's example verbatim), its duplicate rules, and the delete / empty
actions on contacts and groups."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock, Tenant, make_tenant
from tests.providers.textconnect import seed
from tests.providers.textconnect.util import call, text
from textgate.service.contacts import Contact, group_members, list_contacts, list_groups


def _contacts(engine: Engine, tenant: Tenant) -> list[Contact]:
    with engine.connect() as conn:
        return list_contacts(conn, tenant.account, limit=1000)[0]


def _groups(engine: Engine, tenant: Tenant) -> dict[str, list[str]]:
    """Group name → its members' names."""
    with engine.connect() as conn:
        return {
            g.name: sorted(c.name for c in group_members(conn, tenant.account, g.id, limit=1000)[0])
            for g in list_groups(conn, tenant.account)
        }


def _import(client: TestClient, tenant: Tenant, csv_text: str, **flags: str) -> str:
    # Multi-line text goes in a POST form, as a client sending a file's content would.
    return text(client, tenant, "ImportContactsCSV", method="POST", ContactsCSV=csv_text, **flags)


def test_the_documents_example_with_its_lost_line_restored(
    client: TestClient, tenant: Tenant, engine: Engine
) -> None:
    assert _import(client, tenant, seed.IMPORT_CSV_RESTORED) == seed.IMPORT_ANSWER
    assert sorted((c.name, c.number) for c in _contacts(engine, tenant)) == [
        ("Contact 1", "+447777777771"),
        ("Contact 2", "+447777777772"),
        ("Contact 3", "+447777777773"),
    ]
    assert _groups(engine, tenant) == {
        "group1": ["Contact 1", "Contact 3"],
        "group2": ["Contact 3"],
        "group3": ["Contact 3"],
    }


def test_the_documents_example_as_printed(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    assert _import(client, tenant, seed.IMPORT_CSV) == seed.IMPORT_ANSWER_AS_PRINTED
    assert len(_contacts(engine, tenant)) == 3


def test_by_get_too(client: TestClient, tenant: Tenant) -> None:
    response = call(client, tenant, "ImportContactsCSV", ContactsCSV="Ann,447777777771\r\nBen,447777777772")
    assert response.text == "1 : Success\n2 : Success"


def test_duplicates_are_refused_by_default(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    _import(client, tenant, "Ann,447777777771,ann@example.com,friends")
    answer = _import(client, tenant, "Ann,447777777779\nAnnie,07777777771\nBen,447777777772")
    assert answer == "1 : Duplicate Name\n2 : Duplicate Number\n3 : Success"
    assert len(_contacts(engine, tenant)) == 2


def test_ignore_dupes_creates_them(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    _import(client, tenant, "Ann,447777777771")
    assert _import(client, tenant, "Ann,447777777771\nAnn,447777777771", IgnoreDupes="1") == (
        "1 : Success\n2 : Success"
    )
    assert [c.name for c in _contacts(engine, tenant)] == ["Ann"] * 3


def test_overwrite_dupes_overwrites_numbers_and_wins_over_ignore_dupes(
    client: TestClient, tenant: Tenant, engine: Engine
) -> None:
    _import(client, tenant, "Ann,447777777771,ann@example.com,friends\nBen,447777777772")
    answer = _import(
        client,
        tenant,
        "Annie,447777777771,annie@example.com,family\nBen,447777777773",
        OverwriteDupes="1",
        IgnoreDupes="1",
    )
    assert answer == "1 : Success\n2 : Success"
    contacts = sorted((c.name, c.number, c.email) for c in _contacts(engine, tenant))
    assert contacts == [
        ("Annie", "+447777777771", "annie@example.com"),  # the number's contact, overwritten
        ("Ben", "+447777777772", None),
        ("Ben", "+447777777773", None),  # same name, other number: a new contact
    ]
    assert _groups(engine, tenant) == {"family": ["Annie"], "friends": ["Annie"]}


def test_partial_lines_are_explained(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    answer = _import(client, tenant, "Ann,447777777771,not-an-email,friends")
    assert answer == "1 : Partial\n\n\n1 : Invalid email (not-an-email)"
    assert [c.email for c in _contacts(engine, tenant)] == [None]


def test_no_csv(client: TestClient, tenant: Tenant) -> None:
    assert text(client, tenant, "ImportContactsCSV") == "-507"
    assert text(client, tenant, "ImportContactsCSV", ContactsCSV=" \n ", ShowErrorMessage="1") == (
        "-507\nInvalid/Missing Details"
    )


def test_delete_all_contacts(client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock) -> None:
    other = make_tenant(engine, name="other", number="+447777777003", region="GB", now=clock())
    _import(client, tenant, seed.IMPORT_CSV_RESTORED)
    _import(client, other, "Zed,447777777779,,theirs")
    assert text(client, tenant, "DeleteAllContacts") == "1"
    assert _contacts(engine, tenant) == []
    assert text(client, tenant, "deleteallcontacts") == "1"  # nothing left: still 1
    assert [c.name for c in _contacts(engine, other)] == ["Zed"]


def test_delete_all_groups_keeps_the_contacts(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    other = make_tenant(engine, name="other", number="+447777777003", region="GB", now=clock())
    _import(client, tenant, seed.IMPORT_CSV_RESTORED)
    _import(client, other, "Zed,447777777779,,theirs")
    assert text(client, tenant, "DeleteAllGroups") == "1"
    assert _groups(engine, tenant) == {}
    assert len(_contacts(engine, tenant)) == 3
    assert _groups(engine, other) == {"theirs": ["Zed"]}


def test_empty_group_and_delete_group(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    _import(client, tenant, seed.IMPORT_CSV_RESTORED)
    assert text(client, tenant, "EmptyGroup", GroupName="group1") == "1"
    assert _groups(engine, tenant)["group1"] == []
    assert text(client, tenant, "DeleteGroup", method="POST", GroupName="group2") == "1"
    assert set(_groups(engine, tenant)) == {"group1", "group3"}
    assert len(_contacts(engine, tenant)) == 3


def test_group_action_errors(client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock) -> None:
    other = make_tenant(engine, name="other", number="+447777777003", region="GB", now=clock())
    _import(client, other, "Zed,447777777779,,theirs")
    for action in ("EmptyGroup", "DeleteGroup"):
        assert text(client, tenant, action) == "-414"
        assert text(client, tenant, action, GroupName="  ") == "-414"
        assert text(client, tenant, action, GroupName="nothing") == "-520"
        assert text(client, tenant, action, GroupName="theirs") == "-520"  # another account's group
        assert (
            text(client, tenant, action, GroupName="x" * 500, ShowErrorMessage="1") == "-520\nUnknown Group"
        )
    assert _groups(engine, other) == {"theirs": ["Zed"]}
