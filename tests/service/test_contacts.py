from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tests.helpers import Tenant
from textgate.domain.errors import Conflict, NotFound, ValidationError
from textgate.service.contacts import (
    Contact,
    add_to_group,
    create_contact,
    create_group,
    delete_all_contacts,
    delete_all_groups,
    delete_contact,
    delete_group,
    empty_group,
    find_group,
    get_contact,
    get_group,
    group_members,
    list_contacts,
    list_groups,
    remove_from_group,
    update_contact,
)
from textgate.store.schema import group_members as memberships

NOW = datetime(2026, 3, 15, 14, 30, tzinfo=UTC)


def _all_pages(fetch, limit: int) -> list[Contact]:  # type: ignore[no-untyped-def]
    items: list[Contact] = []
    cursor = None
    while True:
        page, cursor = fetch(limit=limit, cursor=cursor)
        assert len(page) <= limit
        items += page
        if cursor is None:
            return items


def test_create_and_get_contact(engine: Engine, tenant: Tenant) -> None:
    with engine.begin() as conn:
        made = create_contact(
            conn,
            tenant.account,
            "  Ada Lovelace ",
            "07777 777123",
            email=" ada@example.com ",
            groups=["vip", " staff ", "vip"],
            now=NOW,
        )
    assert made.id.startswith("con_")
    assert (made.name, made.number, made.email) == ("Ada Lovelace", "+447777777123", "ada@example.com")
    assert made.groups == ("staff", "vip")
    with engine.connect() as conn:
        assert get_contact(conn, tenant.account, made.id) == made
        assert [g.name for g in list_groups(conn, tenant.account)] == ["staff", "vip"]
        assert all(g.members == 1 for g in list_groups(conn, tenant.account))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"number": "mynumber"}, "number"),
        ({"number": ""}, "number"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"email": "a\x00@example.com"}, "email"),
        ({"email": "a" * 310 + "@example.com"}, "email"),
        ({"groups": ["ok", "g" * 101]}, "groups[1]"),
        ({"groups": ["  "]}, "groups[0]"),
        ({"groups": "vip"}, "groups"),
    ],
)
def test_create_contact_validation(engine: Engine, tenant: Tenant, kwargs: dict, field: str) -> None:  # type: ignore[type-arg]
    args = {"name": "Ada", "number": "+447777777123", **kwargs}
    with engine.begin() as conn:
        with pytest.raises(ValidationError) as info:
            create_contact(conn, tenant.account, now=NOW, **args)
        assert info.value.field == field
        assert list_contacts(conn, tenant.account)[0] == []


def test_longest_valid_values_are_accepted(engine: Engine, tenant: Tenant) -> None:
    email = "a" * 308 + "@example.com"
    assert len(email) == 320
    with engine.begin() as conn:
        made = create_contact(
            conn, tenant.account, "n" * 200, "+447777777123", email=email, groups=["g" * 100], now=NOW
        )
        assert get_contact(conn, tenant.account, made.id) == made


def test_duplicates_are_refused_unless_allowed(engine: Engine, tenant: Tenant) -> None:
    with engine.begin() as conn:
        create_contact(conn, tenant.account, "Ada", "+447777777123", now=NOW)
        # Both duplicated: the name is named first.
        with pytest.raises(Conflict) as info:
            create_contact(conn, tenant.account, "Ada", "07777777123", now=NOW)
        assert info.value.field == "name"
        with pytest.raises(Conflict) as info:
            create_contact(conn, tenant.account, "Bob", "07777 777123", now=NOW)
        assert info.value.field == "number"
        twin = create_contact(conn, tenant.account, "Ada", "+447777777123", allow_duplicates=True, now=NOW)
        items, _ = list_contacts(conn, tenant.account)
    assert len(items) == 2 and twin in items


def test_paging_is_stable_and_complete(engine: Engine, tenant: Tenant) -> None:
    with engine.begin() as conn:
        made = [
            create_contact(conn, tenant.account, f"C{i}", f"+4477777771{i:02d}", now=NOW) for i in range(7)
        ]
    with engine.connect() as conn:
        first, cursor = list_contacts(conn, tenant.account, limit=3)
        assert len(first) == 3 and cursor == first[-1].id
        everything = _all_pages(lambda **kw: list_contacts(conn, tenant.account, **kw), 3)
        assert [c.id for c in everything] == sorted(c.id for c in made)
        exact, cursor = list_contacts(conn, tenant.account, limit=7)
        assert len(exact) == 7 and cursor is None
    # A contact added meanwhile does not disturb the pages already read.
    with engine.begin() as conn:
        create_contact(conn, tenant.account, "Late", "+447777777200", now=NOW)
    with engine.connect() as conn:
        assert list_contacts(conn, tenant.account, limit=3, cursor=first[-1].id)[0][0].id > first[-1].id


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"cursor": "x" * 200}, "cursor")],
)
def test_paging_validation(engine: Engine, tenant: Tenant, kwargs: dict, field: str) -> None:  # type: ignore[type-arg]
    with engine.connect() as conn, pytest.raises(ValidationError) as info:
        list_contacts(conn, tenant.account, **kwargs)
    assert info.value.field == field


def test_search_and_group_filter(engine: Engine, tenant: Tenant) -> None:
    with engine.begin() as conn:
        ada = create_contact(conn, tenant.account, "Ada Lovelace", "+447777777123", groups=["vip"], now=NOW)
        bob = create_contact(conn, tenant.account, "Bob 100%", "+447777777456", now=NOW)
        eve = create_contact(conn, tenant.account, "Eve", "+447777777789", groups=["vip"], now=NOW)
    with engine.connect() as conn:

        def names(**kw: Any) -> list[str]:
            return sorted(c.name for c in list_contacts(conn, tenant.account, **kw)[0])

        assert names(search="love") == ["Ada Lovelace"]  # case-insensitive
        assert names(search="777456") == ["Bob 100%"]  # number substring
        assert names(search="%") == ["Bob 100%"]  # wildcards are literal
        assert names(search="_") == []
        assert names(search="  ") == sorted([ada.name, bob.name, eve.name])
        assert names(group="vip") == ["Ada Lovelace", "Eve"]
        assert names(group="vip", search="eve") == ["Eve"]
        with pytest.raises(NotFound) as info:
            list_contacts(conn, tenant.account, group="nope")
        assert info.value.field == "group"
        with pytest.raises(ValidationError) as invalid:
            list_contacts(conn, tenant.account, search="a\x00")
        assert invalid.value.field == "search"


def test_update_contact(engine: Engine, tenant: Tenant) -> None:
    with engine.begin() as conn:
        ada = create_contact(
            conn, tenant.account, "Ada", "+447777777123", email="ada@example.com", groups=["a", "b"], now=NOW
        )
        bob = create_contact(conn, tenant.account, "Bob", "+447777777456", now=NOW)
        # Nothing given: nothing changes.
        assert update_contact(conn, tenant.account, ada.id, now=NOW) == ada
        changed = update_contact(conn, tenant.account, ada.id, name="Ada L", number="07777 777999", now=NOW)
        assert (changed.name, changed.number, changed.email) == ("Ada L", "+447777777999", "ada@example.com")
        changed = update_contact(conn, tenant.account, ada.id, email=None, groups=["b", "c"], now=NOW)
        assert changed.email is None and changed.groups == ("b", "c")
        assert {g.name: g.members for g in list_groups(conn, tenant.account)} == {"a": 0, "b": 1, "c": 1}
        # Keeping its own name or number is not a duplicate; taking another contact's is.
        update_contact(conn, tenant.account, ada.id, name="Ada L", number="+447777777999", now=NOW)
        for field, value in (("name", "Bob"), ("number", "07777777456")):
            with pytest.raises(Conflict) as conflict:
                update_contact(conn, tenant.account, ada.id, now=NOW, **{field: value})  # type: ignore[arg-type]
            assert conflict.value.field == field
        assert (
            update_contact(conn, tenant.account, ada.id, name="Bob", allow_duplicates=True, now=NOW).name
            == "Bob"
        )
        with pytest.raises(ValidationError) as invalid:
            update_contact(conn, tenant.account, bob.id, email="nope", now=NOW)
        assert invalid.value.field == "email"
        with pytest.raises(NotFound):
            update_contact(conn, tenant.account, "con_missing", name="X", now=NOW)


def test_delete_contacts(engine: Engine, tenant: Tenant, other: Tenant) -> None:
    with engine.begin() as conn:
        ada = create_contact(conn, tenant.account, "Ada", "+447777777123", groups=["vip"], now=NOW)
        create_contact(conn, tenant.account, "Bob", "+447777777456", groups=["vip"], now=NOW)
        theirs = create_contact(conn, other.account, "Ada", "+447777777123", groups=["vip"], now=NOW)
        delete_contact(conn, tenant.account, ada.id)
        with pytest.raises(NotFound):
            get_contact(conn, tenant.account, ada.id)
        with pytest.raises(NotFound):
            delete_contact(conn, tenant.account, ada.id)
        assert find_group(conn, tenant.account, "vip").members == 1  # type: ignore[union-attr]
        assert delete_all_contacts(conn, tenant.account) == 1
        assert list_contacts(conn, tenant.account)[0] == []
        vip = find_group(conn, tenant.account, "vip")
        assert vip is not None and vip.members == 0  # the group stays, empty
        assert get_contact(conn, other.account, theirs.id) == theirs
        assert conn.execute(select(func.count()).select_from(memberships)).scalar_one() == 1


def test_groups(engine: Engine, tenant: Tenant) -> None:
    with engine.begin() as conn:
        team = create_group(conn, tenant.account, " team ", now=NOW)
        assert team.name == "team" and team.members == 0
        with pytest.raises(Conflict) as conflict:
            create_group(conn, tenant.account, "team", now=NOW)
        assert conflict.value.field == "name"
        for bad in ("", "  ", "g" * 101):
            with pytest.raises(ValidationError):
                create_group(conn, tenant.account, bad, now=NOW)
        assert get_group(conn, tenant.account, team.id) == team
        assert find_group(conn, tenant.account, "team") == team
        assert find_group(conn, tenant.account, "Team") is None  # exact name
        assert find_group(conn, tenant.account, "") is None
        with pytest.raises(NotFound) as missing:
            get_group(conn, tenant.account, "grp_nope")
        assert missing.value.field == "group_id"

        people = [
            create_contact(conn, tenant.account, f"P{i}", f"+4477777771{i:02d}", now=NOW) for i in range(5)
        ]
        ids = [p.id for p in people]
        assert add_to_group(conn, tenant.account, team.id, ids[:3]) == 3
        assert add_to_group(conn, tenant.account, team.id, [ids[2], ids[3], ids[3]]) == 1  # already a member
        assert get_group(conn, tenant.account, team.id).members == 4
        assert get_contact(conn, tenant.account, ids[0]).groups == ("team",)
        with pytest.raises(NotFound) as missing:
            add_to_group(conn, tenant.account, team.id, [ids[4], "con_nobody"])
        assert missing.value.field == "contact_ids" and "con_nobody" in missing.value.message
        assert get_group(conn, tenant.account, team.id).members == 4  # all or nothing

        members = _all_pages(lambda **kw: group_members(conn, tenant.account, team.id, **kw), 3)
        assert [m.id for m in members] == sorted(ids[:4])
        assert remove_from_group(conn, tenant.account, team.id, [ids[0], ids[4], "con_nobody"]) == 1
        assert empty_group(conn, tenant.account, team.id) == 3
        assert get_group(conn, tenant.account, team.id).members == 0
        assert len(list_contacts(conn, tenant.account)[0]) == 5  # contacts stay

        add_to_group(conn, tenant.account, team.id, ids)
        delete_group(conn, tenant.account, team.id)
        with pytest.raises(NotFound):
            get_group(conn, tenant.account, team.id)
        assert get_contact(conn, tenant.account, ids[0]).groups == ()
        assert len(list_contacts(conn, tenant.account)[0]) == 5


def test_list_groups_and_delete_all(engine: Engine, tenant: Tenant, other: Tenant) -> None:
    with engine.begin() as conn:
        create_contact(conn, tenant.account, "Ada", "+447777777123", groups=["b", "a"], now=NOW)
        create_contact(conn, tenant.account, "Bob", "+447777777456", groups=["b"], now=NOW)
        create_group(conn, tenant.account, "c", now=NOW)
        create_contact(conn, other.account, "Eve", "+447777777789", groups=["b"], now=NOW)
        assert [(g.name, g.members) for g in list_groups(conn, tenant.account)] == [
            ("a", 1),
            ("b", 2),
            ("c", 0),
        ]
        assert delete_all_groups(conn, tenant.account) == 3
        assert list_groups(conn, tenant.account) == []
        assert len(list_contacts(conn, tenant.account)[0]) == 2
        assert [(g.name, g.members) for g in list_groups(conn, other.account)] == [("b", 1)]


def test_tenants_never_see_each_other(engine: Engine, tenant: Tenant, other: Tenant) -> None:
    with engine.begin() as conn:
        mine = create_contact(conn, tenant.account, "Ada", "+447777777123", groups=["vip"], now=NOW)
        vip = find_group(conn, tenant.account, "vip")
        assert vip is not None
        # The same name and number in another account are not duplicates, nor is the group name.
        theirs = create_contact(conn, other.account, "Ada", "+447777777123", groups=["vip"], now=NOW)
        their_vip = find_group(conn, other.account, "vip")
        assert their_vip is not None and their_vip.id != vip.id

        assert list_contacts(conn, other.account)[0] == [theirs]
        assert list_contacts(conn, other.account, search="Ada")[0] == [theirs]
        assert [c.id for c in group_members(conn, other.account, their_vip.id)[0]] == [theirs.id]
        for call in (
            lambda: get_contact(conn, other.account, mine.id),
            lambda: update_contact(conn, other.account, mine.id, name="Mallory", now=NOW),
            lambda: delete_contact(conn, other.account, mine.id),
            lambda: get_group(conn, other.account, vip.id),
            lambda: add_to_group(conn, other.account, vip.id, [theirs.id]),
            lambda: add_to_group(conn, other.account, their_vip.id, [mine.id]),
            lambda: remove_from_group(conn, other.account, vip.id, [mine.id]),
            lambda: group_members(conn, other.account, vip.id),
            lambda: empty_group(conn, other.account, vip.id),
            lambda: delete_group(conn, other.account, vip.id),
        ):
            with pytest.raises(NotFound):
                call()
        assert remove_from_group(conn, other.account, their_vip.id, [mine.id]) == 0
        assert delete_all_contacts(conn, other.account) == 1
        assert delete_all_groups(conn, other.account) == 1
        assert get_contact(conn, tenant.account, mine.id) == mine
        assert get_group(conn, tenant.account, vip.id).members == 1


def test_concurrent_creates_of_one_number_make_one_contact(engine: Engine, tenant: Tenant) -> None:
    """Threads race to add the same number: the duplicate check holds, exactly one contact exists."""
    threads = 6
    created: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker(n: int) -> None:
        barrier.wait()
        try:
            with engine.begin() as conn:
                made = create_contact(
                    conn, tenant.account, f"Racer {n}", "+447777777123", groups=["g"], now=NOW
                )
            with lock:
                created.append(made.id)
        except Conflict as exc:
            with lock:
                refused.append(str(exc.field))

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert len(created) == 1
    assert refused == ["number"] * (threads - 1)
    with engine.connect() as conn:
        assert [c.id for c in list_contacts(conn, tenant.account)[0]] == created
        assert [(g.name, g.members) for g in list_groups(conn, tenant.account)] == [("g", 1)]
