"""Top-level account names are unique regardless of case in the database itself (migration 0010): the
upgrade renames existing duplicates instead of failing, the index refuses a duplicate however it is
inserted, and account creation turns the index's refusal into its usual duplicate-name error."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, select
from sqlalchemy.exc import IntegrityError

from textgate.domain.errors import Conflict
from textgate.service.accounts import create_account
from textgate.store.db import make_engine
from textgate.store.migrate import current_revision, upgrade
from textgate.store.schema import accounts

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def account_row(account_id: str, name: str, minutes: int, parent_id: str | None = None) -> dict[str, Any]:
    return {
        "id": account_id,
        "name": name,
        "parent_id": parent_id,
        "status": "active",
        "region": "US",
        "balance": 0,
        "price_sms_part": 1,
        "price_mms": 3,
        "owned_senders_only": False,
        "settings": {},
        "created_at": T0 + timedelta(minutes=minutes),
    }


@pytest.fixture
def at_0009(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    upgrade(engine, "0009")
    try:
        yield engine
    finally:
        engine.dispose()


def names(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(accounts.c.id, accounts.c.name)).all())  # type: ignore[arg-type]


def test_upgrade_renames_later_duplicates_and_logs_them(
    at_0009: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [
        account_row("acc_1", "Acme", 1),
        account_row("acc_2", "acme", 2),  # same name, other case: renamed
        account_row("acc_3", "ACME", 3),
        account_row("acc_4", "acme-2", 0),  # already holds the first free suffix: kept, so acc_2 gets -3
        account_row("acc_5", "other", 4),
        account_row("acc_6", "Other", 5),
        account_row("acc_7", "x" * 200, 6),  # at the column's length: the suffix replaces the end
        account_row("acc_8", "X" * 200, 7),
        account_row("acc_9", "acme", 8, parent_id="acc_1"),  # a user: its name is not a top-level name
    ]
    with at_0009.begin() as conn:
        conn.execute(insert(accounts), rows)
    with caplog.at_level(logging.WARNING, logger="textgate.store.migrations"):
        upgrade(at_0009, "0010")
    assert current_revision(at_0009) == "0010"
    assert names(at_0009) == {
        "acc_1": "Acme",
        "acc_2": "acme-3",
        "acc_3": "ACME-4",
        "acc_4": "acme-2",
        "acc_5": "other",
        "acc_6": "Other-2",
        "acc_7": "x" * 200,
        "acc_8": "X" * 198 + "-2",
        "acc_9": "acme",
    }
    renamed = [r.getMessage() for r in caplog.records if "renamed" in r.getMessage()]
    assert len(renamed) == 4
    assert "account acc_2: renamed 'acme' to 'acme-3'" in renamed[0]


def test_the_index_refuses_a_duplicate_inserted_directly(at_0009: Engine) -> None:
    upgrade(at_0009, "0010")
    with at_0009.begin() as conn:
        conn.execute(insert(accounts), [account_row("acc_1", "Acme", 1)])
        # Users (accounts with a parent) may share a top-level account's name, and one another's.
        conn.execute(insert(accounts), [account_row("acc_2", "ACME", 2, parent_id="acc_1")])
        conn.execute(insert(accounts), [account_row("acc_3", "acme", 3, parent_id="acc_1")])
    with pytest.raises(IntegrityError, match="uq_accounts_top_level_name"), at_0009.begin() as conn:
        conn.execute(insert(accounts), [account_row("acc_4", "aCMe", 4)])
    assert "acc_4" not in names(at_0009)


# PostgreSQL only: on SQLite a write transaction begins IMMEDIATE, so the check and the insert cannot be
# interleaved by another writer (that the index's refusal names the index there too is shown above).
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_create_that_loses_the_race_gets_the_duplicate_name_error(at_0009: Engine, db_url: str) -> None:
    """Another process creates the same name between create_account's check and its insert: the index
    refuses the insert, and the caller sees the same Conflict as for a duplicate found by the check."""
    upgrade(at_0009, "0010")
    other = make_engine(db_url)

    done: list[bool] = []

    def create_meanwhile(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not done and statement.lstrip().upper().startswith("SELECT") and "lower(" in statement:
            done.append(True)
            with other.begin() as c:
                c.execute(insert(accounts), [account_row("acc_other", "ACME", 0)])

    event.listen(at_0009, "after_cursor_execute", create_meanwhile)
    try:
        duplicate = pytest.raises(Conflict, match="an account named 'acme' already exists")
        with duplicate as caught, at_0009.begin() as conn:
            create_account(conn, "acme", now=T0)
        assert isinstance(caught.value.__cause__, IntegrityError)
        assert caught.value.field == "name"
        assert names(at_0009) == {"acc_other": "ACME"}
        # And the ordinary check still answers the same.
        with pytest.raises(Conflict, match="an account named 'Acme' already exists"), at_0009.begin() as conn:
            create_account(conn, "Acme", now=T0)
    finally:
        event.remove(at_0009, "after_cursor_execute", create_meanwhile)
        other.dispose()
