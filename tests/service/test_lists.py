from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event

from tests.helpers import Tenant
from textgate.domain.errors import Conflict, NotFound, ValidationError
from textgate.service.lists import (
    ListEntry,
    ListEntryInput,
    add_list_entries,
    create_list,
    delete_list,
    delete_list_entry,
    find_list,
    get_list,
    list_entries,
    list_lists,
    mail_merge,
)

NOW = datetime(2026, 3, 15, 14, 30, tzinfo=UTC)


def _entries(engine: Engine, tenant: Tenant, list_id: str) -> list[ListEntry]:
    with engine.connect() as conn:
        return list_entries(conn, tenant.account, list_id, limit=1000)[0]


def test_create_find_and_list(engine: Engine, tenant: Tenant) -> None:
    with engine.begin() as conn:
        promo = create_list(conn, tenant.account, " promo ", [" Company", "Town "], now=NOW)
        assert (promo.name, promo.field_names, promo.size) == ("promo", ("Company", "Town"), 0)
        assert promo.id.startswith("lst_")
        create_list(conn, tenant.account, "alpha", now=NOW)
        with pytest.raises(Conflict) as conflict:
            create_list(conn, tenant.account, "promo", now=NOW)
        assert conflict.value.field == "name"
        add_list_entries(conn, tenant.account, promo.id, [ListEntryInput("07777777771")], now=NOW)
        assert get_list(conn, tenant.account, promo.id).size == 1
        assert find_list(conn, tenant.account, "promo") == get_list(conn, tenant.account, promo.id)
        assert find_list(conn, tenant.account, "Promo") is None
        assert [(d.name, d.size) for d in list_lists(conn, tenant.account)] == [("alpha", 0), ("promo", 1)]
        with pytest.raises(NotFound) as missing:
            get_list(conn, tenant.account, "lst_nope")
        assert missing.value.field == "list_id"


@pytest.mark.parametrize(
    ("name", "field_names", "field"),
    [
        ("", (), "name"),
        ("x" * 101, (), "name"),
        ("ok", ("a", "b", "c", "d", "e", "f"), "field_names"),
        ("ok", ("a", " "), "field_names[1]"),
        ("ok", "abc", "field_names"),
    ],
)
def test_create_list_validation(
    engine: Engine, tenant: Tenant, name: str, field_names: Any, field: str
) -> None:
    with engine.begin() as conn:
        with pytest.raises(ValidationError) as info:
            create_list(conn, tenant.account, name, field_names, now=NOW)
        assert info.value.field == field
        assert list_lists(conn, tenant.account) == []


def test_add_entries_adds_then_updates(engine: Engine, tenant: Tenant) -> None:
    with engine.begin() as conn:
        promo = create_list(conn, tenant.account, "promo", ["Company", "Town"], now=NOW)
        added = add_list_entries(
            conn,
            tenant.account,
            promo.id,
            [
                ListEntryInput("447777777771", " Ada ", "ada@example.com", ["Acme", "Leeds"]),
                ListEntryInput("07777 777772"),
            ],
            now=NOW,
        )
        assert added == (2, 0)
        again = add_list_entries(
            conn,
            tenant.account,
            promo.id,
            [
                ListEntryInput("+447777777771", "Ada L", None, ["Acme Ltd"]),
                ListEntryInput("+447777777773", fields=["", "York"]),
                ListEntryInput("07777777773", "Third"),  # repeated in one call: the last one wins
            ],
            now=NOW,
        )
        assert again == (1, 2)
    entries = {e.number: e for e in _entries(engine, tenant, promo.id)}
    assert set(entries) == {"+447777777771", "+447777777772", "+447777777773"}
    ada = entries["+447777777771"]
    assert (ada.name, ada.email, ada.fields, ada.list_id) == ("Ada L", None, ("Acme Ltd",), promo.id)
    assert entries["+447777777772"].fields == () and entries["+447777777772"].name is None
    assert entries["+447777777773"].name == "Third" and entries["+447777777773"].fields == ()


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (ListEntryInput("mynumber"), "entries[2].number"),
        (ListEntryInput(""), "entries[2].number"),
        (ListEntryInput("07777777779", name="n" * 201), "entries[2].name"),
        (ListEntryInput("07777777779", email="nope"), "entries[2].email"),
        (ListEntryInput("07777777779", fields=["1", "2", "3", "4", "5", "6"]), "entries[2].fields"),
        (ListEntryInput("07777777779", fields=["ok", "v" * 201]), "entries[2].fields[1]"),
        (ListEntryInput("07777777779", fields=["a\x00"]), "entries[2].fields[0]"),
    ],
)
def test_add_entries_is_all_or_nothing(
    engine: Engine, tenant: Tenant, bad: ListEntryInput, field: str
) -> None:
    with engine.begin() as conn:
        promo = create_list(conn, tenant.account, "promo", now=NOW)
        add_list_entries(conn, tenant.account, promo.id, [ListEntryInput("07777777771", "Before")], now=NOW)
    with engine.begin() as conn:
        with pytest.raises(ValidationError) as info:
            add_list_entries(
                conn,
                tenant.account,
                promo.id,
                [ListEntryInput("07777777771", "After"), ListEntryInput("07777777772"), bad],
                now=NOW,
            )
        assert info.value.field == field
    entries = _entries(engine, tenant, promo.id)
    assert [(e.number, e.name) for e in entries] == [("+447777777771", "Before")]


def test_longest_valid_entry(engine: Engine, tenant: Tenant) -> None:
    entry = ListEntryInput("07777777771", "n" * 200, "a" * 308 + "@example.com", ["v" * 200] * 5)
    with engine.begin() as conn:
        promo = create_list(conn, tenant.account, "p" * 100, ["l" * 100] * 5, now=NOW)
        assert add_list_entries(conn, tenant.account, promo.id, [entry], now=NOW) == (1, 0)
    (stored,) = _entries(engine, tenant, promo.id)
    assert stored.fields == ("v" * 200,) * 5 and stored.name == "n" * 200


def test_entries_paging_and_delete(engine: Engine, tenant: Tenant) -> None:
    with engine.begin() as conn:
        promo = create_list(conn, tenant.account, "promo", now=NOW)
        numbers = [f"+4477777777{i:02d}" for i in range(10, 17)]
        add_list_entries(conn, tenant.account, promo.id, [ListEntryInput(n) for n in numbers], now=NOW)
    seen: list[str] = []
    cursor = None
    with engine.connect() as conn:
        while True:
            page, cursor = list_entries(conn, tenant.account, promo.id, limit=3, cursor=cursor)
            assert len(page) <= 3
            seen += [e.number for e in page]
            if cursor is None:
                break
        assert seen == numbers  # in the order added
        for bad_cursor in ("abc", "-1", "9" * 40):
            with pytest.raises(ValidationError) as info:
                list_entries(conn, tenant.account, promo.id, cursor=bad_cursor)
            assert info.value.field == "cursor"
        with pytest.raises(ValidationError):
            list_entries(conn, tenant.account, promo.id, limit=0)
    with engine.begin() as conn:
        delete_list_entry(conn, tenant.account, promo.id, "07777777710")
        with pytest.raises(NotFound) as missing:
            delete_list_entry(conn, tenant.account, promo.id, "07777777710")
        assert missing.value.field == "number"
        with pytest.raises(ValidationError):
            delete_list_entry(conn, tenant.account, promo.id, "mynumber")
        assert get_list(conn, tenant.account, promo.id).size == 6
        delete_list(conn, tenant.account, promo.id)
        with pytest.raises(NotFound):
            get_list(conn, tenant.account, promo.id)
        assert list_lists(conn, tenant.account) == []
        # The name is free again and the new list starts empty.
        assert create_list(conn, tenant.account, "promo", now=NOW).size == 0


def test_mail_merge(engine: Engine, tenant: Tenant, other: Tenant) -> None:
    with engine.begin() as conn:
        promo = create_list(conn, tenant.account, "promo", ["Company"], now=NOW)
        add_list_entries(
            conn,
            tenant.account,
            promo.id,
            [ListEntryInput("07777777771", "Ada", "ada@example.com", ["Acme"])],
            now=NOW,
        )
        theirs = create_list(conn, other.account, "promo", now=NOW)
        add_list_entries(conn, other.account, theirs.id, [ListEntryInput("07777777772", "Eve")], now=NOW)
    with engine.connect() as conn:
        entry = mail_merge(conn, tenant.account.id, "promo", "+447777777771")
        assert entry is not None
        assert (entry.name, entry.email, entry.fields) == ("Ada", "ada@example.com", ("Acme",))
        assert mail_merge(conn, tenant.account.id, "promo", "+447777777772") is None  # the other's entry
        assert mail_merge(conn, other.account.id, "promo", "+447777777771") is None
        assert mail_merge(conn, tenant.account.id, "nope", "+447777777771") is None
        assert mail_merge(conn, tenant.account.id, "pro\x00mo", "+44\x00") is None


def test_mail_merge_is_one_indexed_lookup(engine: Engine, tenant: Tenant) -> None:
    with engine.begin() as conn:
        promo = create_list(conn, tenant.account, "promo", now=NOW)
        add_list_entries(
            conn,
            tenant.account,
            promo.id,
            [ListEntryInput(f"+4477777777{i:02d}") for i in range(50)],
            now=NOW,
        )
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with engine.connect() as conn:
            assert mail_merge(conn, tenant.account.id, "promo", "+447777777725") is not None
    finally:
        event.remove(engine, "before_cursor_execute", record)
    statements = [s for s in statements if s[0].lstrip().upper().startswith("SELECT")]
    assert len(statements) == 1
    if engine.dialect.name == "sqlite":  # both tables are reached through a unique index, never scanned
        statement, parameters = statements[0]
        with engine.connect() as conn:
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        details = [row[-1] for row in plan]
        assert len(details) == 2 and all(d.startswith("SEARCH") and "INDEX" in d for d in details), details


def test_lists_are_per_account(engine: Engine, tenant: Tenant, other: Tenant) -> None:
    with engine.begin() as conn:
        mine = create_list(conn, tenant.account, "promo", now=NOW)
        add_list_entries(conn, tenant.account, mine.id, [ListEntryInput("07777777771")], now=NOW)
        theirs = create_list(conn, other.account, "promo", now=NOW)  # same name, another account: fine
        assert [d.id for d in list_lists(conn, other.account)] == [theirs.id]
        assert find_list(conn, other.account, "promo") == theirs
        for call in (
            lambda: get_list(conn, other.account, mine.id),
            lambda: list_entries(conn, other.account, mine.id),
            lambda: add_list_entries(conn, other.account, mine.id, [ListEntryInput("07777777772")], now=NOW),
            lambda: delete_list_entry(conn, other.account, mine.id, "07777777771"),
            lambda: delete_list(conn, other.account, mine.id),
        ):
            with pytest.raises(NotFound):
                call()
        assert get_list(conn, tenant.account, mine.id).size == 1
