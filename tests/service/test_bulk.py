"""Bulk sends to groups and lists: acceptance, background expansion, refusals, pacing, isolation."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from tests.helpers import ManualClock, make_tenant
from textgate.domain.errors import InsufficientCredits, NotFound
from textgate.service.accounts import balance, ledger_total, update_account
from textgate.service.bulk import (
    BulkSendRequest,
    EmptyTarget,
    accept_bulk_send,
    bulk_messages,
    get_bulk_send,
)
from textgate.service.contacts import add_to_group, create_contact, create_group
from textgate.service.lists import ListEntryInput, add_list_entries, create_list
from textgate.service.optouts import opt_out
from textgate.service.policy import block_number
from textgate.service.send import SendRequest, send_messages
from textgate.store.db import make_engine
from textgate.store.schema import bulk_sends, ledger_entries, messages
from textgate.workers.bulk import BulkWorker

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def _group(engine: Engine, account, name: str, count: int, start: int = 0) -> str:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        group = create_group(conn, account, name, now=NOW)
        ids = [
            create_contact(conn, account, f"{name} {i}", f"+1555{2000000 + i:07d}", now=NOW).id
            for i in range(start, start + count)
        ]
        add_to_group(conn, account, group.id, ids)
    return group.id


def _message(body: str = "Hello from the bulk test") -> SendRequest:
    return SendRequest(sender="Acme", to=[], body=body, source="test")


def _expand_all(engine: Engine, clock: ManualClock, **kw: int) -> int:
    worker = BulkWorker(engine, clock=clock, **kw)  # type: ignore[arg-type]
    rounds = 0
    while worker.round() or rounds == 0:
        rounds += 1
        assert rounds < 1000
    return rounds


def test_a_small_group_send_is_expanded_at_once_and_charged_per_recipient(engine: Engine) -> None:
    t = make_tenant(engine, credits=100, now=NOW)
    group_id = _group(engine, t.account, "Staff", 5)
    with engine.begin() as conn:
        sent = accept_bulk_send(conn, t.account, BulkSendRequest("group", "Staff", _message()), now=NOW)
    assert sent.finished and sent.total == 5 and sent.expanded == 5
    assert sent.target_id == group_id and sent.counts == {"queued": 5}
    with engine.connect() as conn:
        assert balance(conn, t.account.id) == 95
        assert ledger_total(conn, t.account.id) == 95
        rows, cursor = bulk_messages(conn, t.account, sent.id)
    assert cursor is None and len(rows) == 5
    assert {r.batch_id for r in rows} == {sent.id}
    assert sorted(r.to_addr for r in rows) == [f"+1555{2000000 + i:07d}" for i in range(5)]


def test_a_large_send_is_accepted_whole_then_expanded_in_chunks(engine: Engine) -> None:
    clock = ManualClock(NOW)
    t = make_tenant(engine, credits=1000, now=NOW)
    _group(engine, t.account, "All", 450)
    with engine.begin() as conn:
        sent = accept_bulk_send(conn, t.account, BulkSendRequest("group", "All", _message()), now=NOW)
        assert balance(conn, t.account.id) == 550  # reserved up front
    assert sent.status == "queued" and sent.total == 450 and sent.expanded == 0
    rounds = _expand_all(engine, clock, chunk=100, backlog=10_000)
    assert rounds == 5
    with engine.connect() as conn:
        done = get_bulk_send(conn, t.account, sent.id)
        assert done.finished and done.expanded == 450 and done.counts == {"queued": 450}
        count = conn.execute(select(func.count(func.distinct(messages.c.to_addr)))).scalar_one()
        assert count == 450
        assert balance(conn, t.account.id) == 550 == ledger_total(conn, t.account.id)


def test_recipients_are_those_of_the_group_when_the_send_was_accepted(engine: Engine) -> None:
    clock = ManualClock(NOW)
    t = make_tenant(engine, credits=1000, now=NOW)
    group_id = _group(engine, t.account, "All", 250)
    with engine.begin() as conn:
        sent = accept_bulk_send(conn, t.account, BulkSendRequest("group", group_id, _message()), now=NOW)
        extra = create_contact(conn, t.account, "Late", "+15553000000", now=NOW)
        add_to_group(conn, t.account, group_id, [extra.id])
    _expand_all(engine, clock)
    with engine.connect() as conn:
        assert get_bulk_send(conn, t.account, sent.id).expanded == 250
        assert conn.execute(select(messages.c.id).where(messages.c.to_addr == "+15553000000")).first() is None


def test_a_number_in_the_group_twice_gets_one_message(engine: Engine) -> None:
    t = make_tenant(engine, credits=100, now=NOW)
    with engine.begin() as conn:
        group = create_group(conn, t.account, "Dupes", now=NOW)
        a = create_contact(conn, t.account, "A", "+15552000001", now=NOW)
        b = create_contact(conn, t.account, "B", "+15552000001", allow_duplicates=True, now=NOW)
        add_to_group(conn, t.account, group.id, [a.id, b.id])
        sent = accept_bulk_send(conn, t.account, BulkSendRequest("group", "Dupes", _message()), now=NOW)
    assert sent.total == 1


def test_credits_are_checked_for_the_whole_send_up_front(engine: Engine) -> None:
    t = make_tenant(engine, credits=10, now=NOW)
    _group(engine, t.account, "Big", 11)
    with pytest.raises(InsufficientCredits), engine.begin() as conn:
        accept_bulk_send(conn, t.account, BulkSendRequest("group", "Big", _message()), now=NOW)
    with engine.connect() as conn:
        assert balance(conn, t.account.id) == 10
        assert conn.execute(select(func.count()).select_from(bulk_sends)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 0


def test_refused_recipients_are_stored_failed_and_refunded(engine: Engine) -> None:
    clock = ManualClock(NOW)
    t = make_tenant(engine, credits=1000, now=NOW)
    _group(engine, t.account, "All", 300)
    with engine.begin() as conn:
        block_number(conn, t.account, "+15552000003", now=NOW)
        opt_out(conn, t.account.id, "+15552000250", word="STOP", now=NOW)
        sent = accept_bulk_send(conn, t.account, BulkSendRequest("group", "All", _message()), now=NOW)
    _expand_all(engine, clock, chunk=128)
    with engine.connect() as conn:
        done = get_bulk_send(conn, t.account, sent.id)
        assert done.counts == {"failed": 2, "queued": 298}
        failed = {
            to: code
            for to, code in conn.execute(
                select(messages.c.to_addr, messages.c.error_code).where(messages.c.status == "failed")
            )
        }
        assert failed == {"+15552000003": "destination_blocked", "+15552000250": "opted_out"}
        assert balance(conn, t.account.id) == 1000 - 298 == ledger_total(conn, t.account.id)
        refunds = conn.execute(select(ledger_entries).where(ledger_entries.c.kind == "refund")).all()
        assert len(refunds) == 2 and {r.ref for r in refunds} == {sent.id}
        # The ledger's running balance stays consistent line by line.
        entries = conn.execute(
            select(ledger_entries.c.amount, ledger_entries.c.balance_after)
            .where(ledger_entries.c.account_id == t.account.id)
            .order_by(ledger_entries.c.id)
        ).all()
        running = 0
        for amount, after in entries:
            running += amount
            assert after == running


def test_expansion_waits_while_the_send_has_a_full_backlog(engine: Engine) -> None:
    clock = ManualClock(NOW)
    t = make_tenant(engine, credits=1000, now=NOW)
    _group(engine, t.account, "All", 500)
    with engine.begin() as conn:
        sent = accept_bulk_send(conn, t.account, BulkSendRequest("group", "All", _message()), now=NOW)
    worker = BulkWorker(engine, clock=clock, chunk=100, backlog=150, recheck_seconds=1)
    assert worker.round() == 100
    assert worker.round() == 100  # backlog 100 < 150
    assert worker.round() == 0  # 200 waiting: hold back
    clock.advance(2)
    assert worker.round() == 0
    with engine.begin() as conn:  # the dispatcher hands them to a carrier
        conn.execute(
            messages.update().where(messages.c.batch_id == sent.id).values(status="sent", due_at=None)
        )
    clock.advance(2)
    assert worker.round() == 100


def test_other_bulk_sends_take_turns(engine: Engine) -> None:
    clock = ManualClock(NOW)
    t = make_tenant(engine, credits=5000, now=NOW)
    _group(engine, t.account, "A", 300)
    _group(engine, t.account, "B", 300, start=300)
    with engine.begin() as conn:
        a = accept_bulk_send(conn, t.account, BulkSendRequest("group", "A", _message()), now=NOW)
        b = accept_bulk_send(conn, t.account, BulkSendRequest("group", "B", _message()), now=NOW)
    worker = BulkWorker(engine, clock=clock, chunk=100)
    for _ in range(2):
        clock.advance(0.001)
        worker.round()
    with engine.connect() as conn:
        assert get_bulk_send(conn, t.account, a.id).expanded == 100
        assert get_bulk_send(conn, t.account, b.id).expanded == 100


def test_lists_empty_and_unknown_targets(engine: Engine) -> None:
    t = make_tenant(engine, credits=100, now=NOW)
    with engine.begin() as conn:
        customers = create_list(conn, t.account, "Customers", ["Town"], now=NOW)
        add_list_entries(
            conn,
            t.account,
            customers.id,
            [ListEntryInput("+15552000001", "Ann", fields=["Leeds"]), ListEntryInput("+15552000002")],
            now=NOW,
        )
        create_list(conn, t.account, "Nobody", now=NOW)
        create_group(conn, t.account, "Empty", now=NOW)
        sent = accept_bulk_send(conn, t.account, BulkSendRequest("list", "Customers", _message()), now=NOW)
    assert sent.finished and sent.total == 2 and sent.target_kind == "list"
    for kind, name, error in (
        ("list", "Nobody", EmptyTarget),
        ("group", "Empty", EmptyTarget),
        ("list", "Missing", NotFound),
        ("group", "Customers", NotFound),
    ):
        with pytest.raises(error) as info, engine.begin() as conn:
            accept_bulk_send(conn, t.account, BulkSendRequest(kind, name, _message()), now=NOW)
        assert info.value.field == kind


def test_tenants_cannot_send_to_or_read_each_others_bulk_sends(engine: Engine) -> None:
    a = make_tenant(engine, name="a", credits=100, now=NOW)
    b = make_tenant(engine, name="b", credits=100, number="+15551230002", now=NOW)
    group_id = _group(engine, a.account, "Mine", 3)
    with engine.begin() as conn:
        sent = accept_bulk_send(conn, a.account, BulkSendRequest("group", group_id, _message()), now=NOW)
    with pytest.raises(NotFound), engine.begin() as conn:
        accept_bulk_send(conn, b.account, BulkSendRequest("group", group_id, _message()), now=NOW)
    with engine.connect() as conn:
        with pytest.raises(NotFound):
            get_bulk_send(conn, b.account, sent.id)
        with pytest.raises(NotFound):
            bulk_messages(conn, b.account, sent.id)


def test_two_workers_never_expand_the_same_recipients_twice(engine: Engine) -> None:
    clock = ManualClock(NOW)
    t = make_tenant(engine, credits=5000, now=NOW)
    _group(engine, t.account, "All", 1200)
    with engine.begin() as conn:
        sent = accept_bulk_send(conn, t.account, BulkSendRequest("group", "All", _message()), now=NOW)
    errors: list[BaseException] = []

    def work() -> None:
        worker = BulkWorker(engine, clock=clock, chunk=50)
        try:
            for _ in range(2000):  # until finished; a round that found the send locked does nothing
                worker.round()
                with engine.connect() as conn:
                    status = conn.execute(select(bulk_sends.c.status).where(bulk_sends.c.id == sent.id))
                    if status.scalar_one() == "finished":
                        break
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    with engine.connect() as conn:
        assert get_bulk_send(conn, t.account, sent.id).expanded == 1200
        total, distinct = conn.execute(
            select(func.count(), func.count(func.distinct(messages.c.to_addr))).where(
                messages.c.batch_id == sent.id
            )
        ).one()
    assert total == distinct == 1200


def test_daily_limit_per_number_counts_the_accounts_day(engine: Engine) -> None:
    t = make_tenant(engine, credits=100, now=NOW)
    with engine.begin() as conn:
        account = update_account(
            conn, t.account.id, settings={"daily_limit_per_number": 2, "timezone": "America/New_York"}
        )
    day = datetime(2026, 3, 15, 15, 0, tzinfo=UTC)  # 11:00 in New York

    def send(at: datetime, *to: str) -> list[str | None]:
        with engine.begin() as conn:
            result = send_messages(conn, account, SendRequest(sender="Acme", to=list(to), body="hi"), now=at)
        return [m["error_code"] for m in result.body["messages"]]

    assert send(day, "+15552000001", "+15552000001") == [None, None]
    assert send(day + timedelta(hours=1), "+15552000001", "+15552000002") == ["rate_limited", None]
    # 03:59 UTC next day is still the 15th in New York; 04:00 UTC is midnight there.
    assert send(datetime(2026, 3, 16, 3, 59, tzinfo=UTC), "+15552000001") == ["rate_limited"]
    assert send(datetime(2026, 3, 16, 4, 0, tzinfo=UTC), "+15552000001") == [None]


def test_the_blocklist_refuses_a_recipient_without_charging(engine: Engine) -> None:
    t = make_tenant(engine, credits=10, now=NOW)
    with engine.begin() as conn:
        assert block_number(conn, t.account, "(555) 200-0009", now=NOW) == "+15552000009"
        result = send_messages(
            conn,
            t.account,
            SendRequest(sender="Acme", to=["+15552000009", "+15552000001"], body="x"),
            now=NOW,
        )
    codes = [(m["status"], m["error_code"]) for m in result.body["messages"]]
    assert codes == [("failed", "destination_blocked"), ("queued", None)]
    with engine.connect() as conn:
        assert balance(conn, t.account.id) == 9


def test_an_idle_round_on_sqlite_does_not_queue_for_the_write_lock(
    migrated_sqlite: Path, tmp_path: Path
) -> None:
    """With nothing due, a round answers from a snapshot while another process holds the write lock."""
    db = tmp_path / "idle.db"
    shutil.copyfile(migrated_sqlite, db)
    engine = make_engine(f"sqlite:///{db}")
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # a neighbour holding the lock
    try:
        done: list[int] = []
        t = threading.Thread(target=lambda: done.append(BulkWorker(engine, clock=ManualClock(NOW)).round()))
        t.start()
        t.join(timeout=5)
        assert done == [0]
    finally:
        other.execute("ROLLBACK")
        other.close()
        t.join()
        engine.dispose()
