"""Mail-merge placeholders in group and list sends: filled per recipient, measured and priced each."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from tests.helpers import make_tenant
from textgate.domain import merge
from textgate.domain.errors import ValidationError
from textgate.service.accounts import balance, ledger_total
from textgate.service.bulk import BulkSendRequest, accept_bulk_send
from textgate.service.contacts import add_to_group, create_contact, create_group
from textgate.service.lists import ListEntryInput, add_list_entries, create_list
from textgate.service.optouts import opt_out
from textgate.service.send import SendRequest
from textgate.store.schema import bulk_sends, ledger_entries, messages
from textgate.workers.bulk import BulkWorker

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def _msg(body: str) -> SendRequest:
    return SendRequest(sender="Acme", to=[], body=body, source="test")


def _bodies(engine: Engine, bulk_id: str) -> dict[str, tuple[str, int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(messages.c.to_addr, messages.c.body, messages.c.segments, messages.c.credits).where(
                messages.c.batch_id == bulk_id
            )
        ).all()
    return {r.to_addr: (r.body, r.segments, r.credits) for r in rows}


def test_placeholder_syntax() -> None:
    assert merge.placeholders("Hi {{ first_name }}, {{MM1}} {{first_name}} {price} {{ 5 }}") == [
        "first_name",
        "MM1",
    ]
    values = merge.values_of(
        name="Ada Lovelace", number="+15550001111", email=None, mm=["Paris"], field_names=["City"]
    )
    assert merge.render("Hi {{First_Name}} in {{city}}{{email}}! {x} {{ 5 }}", values) == (
        "Hi Ada in Paris! {x} {{ 5 }}"
    )


def test_group_send_fills_each_contacts_fields(engine: Engine) -> None:
    t = make_tenant(engine, credits=100, now=NOW)
    with engine.begin() as conn:
        group = create_group(conn, t.account, "Friends", now=NOW)
        ada = create_contact(
            conn, t.account, "Ada Lovelace", "+15552000001", email="ada@example.com", now=NOW
        )
        bob = create_contact(conn, t.account, "Bob", "+15552000002", now=NOW)
        add_to_group(conn, t.account, group.id, [ada.id, bob.id])
        sent = accept_bulk_send(
            conn,
            t.account,
            BulkSendRequest(
                "group", "Friends", _msg("Hi {{first_name}} ({{ email }}), your number is {{number}}")
            ),
            now=NOW,
        )
    assert sent.finished
    assert _bodies(engine, sent.id) == {
        "+15552000001": ("Hi Ada (ada@example.com), your number is +15552000001", 1, 1),
        "+15552000002": ("Hi Bob (), your number is +15552000002", 1, 1),
    }


def test_list_send_prices_each_recipients_text_and_refunds_a_refused_one_its_own_price(
    engine: Engine,
) -> None:
    t = make_tenant(engine, credits=100, now=NOW)
    long_city = "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch " * 3  # ë: UCS-2, 4 parts
    with engine.begin() as conn:
        lst = create_list(conn, t.account, "Customers", ["City", "Code"], now=NOW)
        add_list_entries(
            conn,
            t.account,
            lst.id,
            [
                ListEntryInput("+15552000001", name="Ada", fields=["Paris", "A1"]),
                ListEntryInput("+15552000002", name="Zoë", fields=[long_city, "B2"]),
                ListEntryInput("+15552000003", name="Cy", fields=["Oslo", "C3"]),
            ],
            now=NOW,
        )
        opt_out(conn, t.account.id, "+15552000002", word="STOP", now=NOW)
        sent = accept_bulk_send(
            conn,
            t.account,
            BulkSendRequest("list", "Customers", _msg("{{name}}, code {{MM2}} for {{City}} is ready")),
            now=NOW,
        )
    bodies = _bodies(engine, sent.id)
    assert bodies["+15552000001"] == ("Ada, code A1 for Paris is ready", 1, 1)
    assert bodies["+15552000003"] == ("Cy, code C3 for Oslo is ready", 1, 1)
    zoe_body, zoe_segments, zoe_credits = bodies["+15552000002"]
    assert zoe_body.startswith("Zoë, code B2 for Llanfair") and zoe_segments == 4
    assert zoe_credits == 0  # opted out: stored failed, uncharged
    with engine.connect() as conn:
        # Reserved 1 + 4 + 1, the opted-out recipient's 4 given back.
        reserve = conn.execute(
            select(ledger_entries.c.amount).where(
                ledger_entries.c.kind == "debit", ledger_entries.c.ref == sent.id
            )
        ).scalar_one()
        assert reserve == -6
        assert balance(conn, t.account.id) == 98 == ledger_total(conn, t.account.id)


def test_a_large_merged_send_keeps_each_text_through_background_expansion(engine: Engine) -> None:
    t = make_tenant(engine, credits=1000, now=NOW)
    with engine.begin() as conn:
        lst = create_list(conn, t.account, "Big", ["Seat"], now=NOW)
        add_list_entries(
            conn,
            t.account,
            lst.id,
            [ListEntryInput(f"+1555300{i:04d}", fields=[f"S{i}"]) for i in range(250)],
            now=NOW,
        )
        sent = accept_bulk_send(
            conn, t.account, BulkSendRequest("list", "Big", _msg("Seat {{seat}}")), now=NOW
        )
    assert not sent.finished
    worker = BulkWorker(engine, clock=lambda: NOW)  # type: ignore[arg-type]
    while worker.round():
        pass
    bodies = _bodies(engine, sent.id)
    assert len(bodies) == 250 and bodies["+15553000249"] == ("Seat S249", 1, 1)


@pytest.mark.parametrize(
    ("kind", "body", "named"),
    [
        ("group", "Hi {{first_name}}, {{MM1}}", "{{MM1}}"),  # contacts have no mail-merge values
        ("list", "Hi {{nickname}}", "{{nickname}}"),
    ],
)
def test_an_unknown_placeholder_refuses_the_send_and_writes_nothing(
    engine: Engine, kind: str, body: str, named: str
) -> None:
    t = make_tenant(engine, credits=100, now=NOW)
    with engine.begin() as conn:
        group = create_group(conn, t.account, "G", now=NOW)
        c = create_contact(conn, t.account, "Ada", "+15552000001", now=NOW)
        add_to_group(conn, t.account, group.id, [c.id])
        lst = create_list(conn, t.account, "L", ["City"], now=NOW)
        add_list_entries(conn, t.account, lst.id, [ListEntryInput("+15552000001")], now=NOW)
    with pytest.raises(ValidationError) as info, engine.begin() as conn:
        accept_bulk_send(
            conn, t.account, BulkSendRequest(kind, "G" if kind == "group" else "L", _msg(body)), now=NOW
        )
    assert info.value.field == "body" and named in info.value.message and "first_name" in info.value.message
    with engine.connect() as conn:
        assert conn.execute(select(bulk_sends)).first() is None
        assert balance(conn, t.account.id) == 100
