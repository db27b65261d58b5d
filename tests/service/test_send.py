from __future__ import annotations

import base64
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select

from tests.helpers import ManualClock, make_tenant
from textgate.domain.errors import Conflict, ErrorKind, InsufficientCredits, TooLarge, ValidationError
from textgate.service.accounts import (
    add_number,
    balance,
    create_account,
    get_account,
    ledger_total,
    set_number_status,
    update_account,
)
from textgate.service.send import Idempotency, MediaInput, SendRequest, send_messages
from textgate.store.schema import idempotency_keys, ledger_entries, media_objects, message_events, messages


def _send(engine: Engine, tenant, clock: ManualClock, **kw):  # type: ignore[no-untyped-def]
    idem = kw.pop("idempotency", None)
    req = SendRequest(sender=kw.pop("sender", tenant.number), to=kw.pop("to", ["+15550000001"]), **kw)
    with engine.begin() as conn:
        return send_messages(conn, tenant.account, req, now=clock(), idempotency=idem)


def _count(engine: Engine, table) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_send_stores_debits_and_queues(engine: Engine) -> None:
    clock = ManualClock()
    t = make_tenant(engine, credits=10, now=clock())
    result = _send(engine, t, clock, to=["+15550000001", "5550000002"], body="hello")
    assert result.status_code == 202
    msgs = result.body["messages"]
    assert [m["to"] for m in msgs] == ["+15550000001", "+15550000002"]
    assert {m["status"] for m in msgs} == {"queued"}
    assert all(m["encoding"] == "gsm7" and m["segments"] == 1 and m["credits"] == 1 for m in msgs)
    assert all(m["id"].startswith("msg_") for m in msgs)
    with engine.connect() as conn:
        assert balance(conn, t.account.id) == 8
        assert ledger_total(conn, t.account.id) == 8
        rows = conn.execute(select(messages).order_by(messages.c.to_addr)).all()
        assert [r.due_at for r in rows] == [clock(), clock()]
        assert conn.execute(select(func.count()).select_from(message_events)).scalar_one() == 2


def test_long_unicode_message_costs_per_part(engine: Engine) -> None:
    clock = ManualClock()
    t = make_tenant(engine, credits=10, now=clock())
    body = "Привет " * 20  # 140 UCS-2 characters → 3 parts of 67
    (m,) = _send(engine, t, clock, body=body).body["messages"]
    assert (m["encoding"], m["segments"], m["credits"]) == ("ucs2", 3, 3)


def test_insufficient_credits_leaves_nothing_behind(engine: Engine) -> None:
    clock = ManualClock()
    t = make_tenant(engine, credits=1, now=clock())
    with pytest.raises(InsufficientCredits, match="costs 2 credits and the balance is 1"):
        _send(engine, t, clock, to=["+15550000001", "+15550000003"], body="hi")
    assert _count(engine, messages) == 0
    with engine.connect() as conn:
        assert balance(conn, t.account.id) == 1


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"to": []}, "to"),
        ({"to": ["abc"]}, "to"),
        ({"to": ["+15550000001", "12"]}, "to[1]"),
        ({"to": [f"+1555000{i:04d}" for i in range(101)]}, "to"),
        ({"body": ""}, "body"),
        ({"body": "x" * 1601}, "body"),
        ({"sender": "Bad!Sender"}, "from"),
        ({"sender": ""}, "from"),
        ({"validity_seconds": 0}, "validity_period"),
        ({"client_ref": "r" * 201}, "client_ref"),
        (
            {"media": [MediaInput(content_base64="@@not base64@@", content_type="image/png")]},
            "media[0].content_base64",
        ),
        ({"media": [MediaInput(content_base64="aGk=", content_type="nonsense")]}, "media[0].content_type"),
        ({"media": [MediaInput(url="ftp://example.com/a.png")]}, "media[0].url"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(engine: Engine, kw: dict, field: str) -> None:  # type: ignore[type-arg]
    clock = ManualClock()
    t = make_tenant(engine, credits=1000, now=clock())
    kw.setdefault("body", "hello")
    with pytest.raises(ValidationError) as info:
        _send(engine, t, clock, **kw)
    assert info.value.field == field
    assert _count(engine, messages) == 0
    with engine.connect() as conn:
        assert balance(conn, t.account.id) == 1000


def test_oversized_media_is_too_large(engine: Engine) -> None:
    clock = ManualClock()
    t = make_tenant(engine, now=clock())
    big = base64.b64encode(b"\0" * (5 * 1024 * 1024 + 1)).decode()
    with pytest.raises(TooLarge):
        _send(engine, t, clock, media=[MediaInput(content_base64=big, content_type="image/png")])
    assert _count(engine, media_objects) == 0


def test_mms_stores_content_once_and_costs_mms_price(engine: Engine) -> None:
    clock = ManualClock()
    t = make_tenant(engine, credits=100, now=clock())
    png = base64.b64encode(b"\x89PNG fake image").decode()
    result = _send(
        engine,
        t,
        clock,
        to=["+15550000001", "+15550000011"],
        body="look",
        media=[MediaInput(content_base64=png, content_type="image/png", filename="a.png")],
    )
    msgs = result.body["messages"]
    assert all(m["type"] == "mms" and m["credits"] == 3 for m in msgs)
    (media_id,) = {m["media"][0]["id"] for m in msgs}  # one file, shared by both recipients' messages
    assert msgs[0]["media"] == [
        {"id": media_id, "filename": "a.png", "content_type": "image/png", "size": 15}
    ]
    assert _count(engine, media_objects) == 1
    with engine.connect() as conn:
        assert balance(conn, t.account.id) == 94


def test_alphanumeric_sender_allowed_unless_restricted(engine: Engine) -> None:
    clock = ManualClock()
    t = make_tenant(engine, now=clock())
    (m,) = _send(engine, t, clock, sender="ACME 1", body="hi").body["messages"]
    assert m["from"] == "ACME 1"
    r = make_tenant(engine, name="strict", number="+15551230002", now=clock(), owned_senders_only=True)
    with pytest.raises(ValidationError) as info:
        _send(engine, r, clock, sender="ACME", body="hi")
    assert info.value.kind is ErrorKind.INVALID_SENDER and info.value.field == "from"
    with pytest.raises(ValidationError, match="not a number of this account"):
        _send(engine, r, clock, sender="+15557770000", body="hi")
    (ok,) = _send(engine, r, clock, body="hi").body["messages"]
    assert ok["from"] == "+15551230002"


def test_numeric_sender_must_be_an_own_number_by_default(engine: Engine) -> None:
    clock = ManualClock()
    t = make_tenant(engine, now=clock())
    with pytest.raises(ValidationError, match="not a number of this account") as info:
        _send(engine, t, clock, sender="+15557770000", body="hi")
    assert info.value.kind is ErrorKind.INVALID_SENDER and info.value.field == "from"
    other = make_tenant(engine, name="other", number="+15551230002", now=clock())
    with engine.begin() as conn:
        update_account(conn, t.account.id, settings={"unregistered_senders": True})
        relaxed = get_account(conn, t.account.id)
    relaxed_tenant = replace(t, account=relaxed)
    (m,) = _send(engine, relaxed_tenant, clock, sender="+15557770000", body="hi").body["messages"]
    assert m["from"] == "+15557770000"
    # The opt-out covers numbers nobody registered; another account's number stays refused.
    with pytest.raises(ValidationError, match="assigned to another account"):
        _send(engine, relaxed_tenant, clock, sender=other.number, body="hi")


def test_sender_of_another_account_or_inactive_is_refused(engine: Engine) -> None:
    clock = ManualClock()
    a = make_tenant(engine, name="a", number="+15551230001", now=clock())
    b = make_tenant(engine, name="b", number="+15551230002", now=clock())
    with pytest.raises(ValidationError, match="assigned to another account"):
        _send(engine, a, clock, sender=b.number, body="hi")
    with engine.begin() as conn:
        set_number_status(conn, a.account, a.number, "inactive")
    with pytest.raises(ValidationError, match="not an active number"):
        _send(engine, a, clock, body="hi")


def test_national_numbers_use_account_region(engine: Engine) -> None:
    clock = ManualClock()
    with engine.begin() as conn:
        account, _ = create_account(conn, "oz", now=clock(), credits=5, region="AU")
        add_number(conn, account, "0421999001", now=clock())
    req = SendRequest(sender="+61421999001", to=["0421000001", "0064211234567"], body="g'day")
    with engine.begin() as conn:
        msgs = send_messages(conn, account, req, now=clock()).body["messages"]
    assert [m["to"] for m in msgs] == ["+61421000001", "+64211234567"]


def test_idempotency_replays_and_conflicts(engine: Engine) -> None:
    clock = ManualClock()
    t = make_tenant(engine, credits=10, now=clock())
    idem = Idempotency(scope="v1.messages", key="k1", request_hash="h1")
    first = _send(engine, t, clock, body="once", idempotency=idem)
    again = _send(engine, t, clock, body="once", idempotency=idem)
    assert again.replayed and again.body == first.body and again.status_code == 202
    assert _count(engine, messages) == 1
    with pytest.raises(Conflict) as info:
        _send(engine, t, clock, body="twice", idempotency=Idempotency("v1.messages", "k1", "h2"))
    assert info.value.field == "Idempotency-Key"
    with engine.connect() as conn:
        assert balance(conn, t.account.id) == 9
        assert conn.execute(select(func.count()).select_from(idempotency_keys)).scalar_one() == 1


def test_schedule_and_validity(engine: Engine) -> None:
    clock = ManualClock()
    t = make_tenant(engine, now=clock())
    at = clock() + timedelta(hours=2)
    (m,) = _send(engine, t, clock, body="later", schedule_at=at, validity_seconds=600).body["messages"]
    assert m["status"] == "scheduled"
    with engine.connect() as conn:
        row = conn.execute(select(messages)).one()
    assert row.due_at == at and row.schedule_at == at
    assert row.expires_at == at + timedelta(seconds=600)
    # A time already past means "now".
    (n,) = _send(engine, t, clock, body="now", schedule_at=clock() - timedelta(minutes=1)).body["messages"]
    assert n["status"] == "queued"


def test_ledger_has_one_debit_per_message(engine: Engine) -> None:
    clock = ManualClock()
    t = make_tenant(engine, credits=50, now=clock())
    _send(engine, t, clock, to=[f"+1555000{i:04d}" for i in range(1000, 1010)], body="bulk")
    with engine.connect() as conn:
        debits = conn.execute(
            select(ledger_entries).where(ledger_entries.c.kind == "debit").order_by(ledger_entries.c.id)
        ).all()
    assert len(debits) == 10 and all(d.amount == -1 for d in debits)
    assert [d.balance_after for d in debits] == list(range(49, 39, -1))


def test_account_policies_refuse_or_fail_recipients(engine: Engine) -> None:
    from textgate.service.accounts import update_account

    clock = ManualClock()
    with engine.begin() as conn:
        account, _ = create_account(conn, "oz", now=clock(), credits=10, region="AU")
        add_number(conn, account, "+61421999001", now=clock())
        account = update_account(
            conn,
            account.id,
            settings={
                "allowed_destination_prefixes": ["+61", "+64"],
                "blocked_prefixes": ["+61499"],
                "require_mobile": True,
            },
        )
    req = SendRequest(sender="+61421999001", to=["0421000001", "+61499000001", "+61299999999"], body="hi")
    with engine.begin() as conn:
        msgs = send_messages(conn, account, req, now=clock()).body["messages"]
    assert [(m["status"], m["error_code"], m["credits"]) for m in msgs] == [
        ("queued", None, 1),
        ("failed", "destination_blocked", 0),
        ("failed", "invalid_destination", 0),
    ]
    with engine.connect() as conn:
        assert balance(conn, account.id) == 9  # only the deliverable one is charged
        stored = conn.execute(select(messages.c.to_addr, messages.c.status, messages.c.error_code)).all()
    assert sorted(stored) == [
        ("+61299999999", "failed", "invalid_destination"),
        ("+61421000001", "queued", None),
        ("+61499000001", "failed", "destination_blocked"),
    ]
    # A refused recipient before an accepted one (row shapes must not depend on the order).
    first_refused = SendRequest(sender="+61421999001", to=["+61499000002", "0421000003"], body="hi")
    with engine.begin() as conn:
        msgs = send_messages(conn, account, first_refused, now=clock()).body["messages"]
    assert [m["status"] for m in msgs] == ["failed", "queued"]
    with pytest.raises(ValidationError) as info, engine.begin() as conn:
        send_messages(
            conn, account, SendRequest(sender="+61421999001", to=["+15550000001"], body="x"), now=clock()
        )
    assert info.value.kind is ErrorKind.GEOGRAPHIC_RESTRICTION and info.value.field == "to"
    long = SendRequest(sender="+61421999001", to=["0421000001"], body="x" * 161, max_segments=1)
    with pytest.raises(ValidationError, match="needs 2 parts") as info, engine.begin() as conn:
        send_messages(conn, account, long, now=clock())
    assert info.value.kind is ErrorKind.INVALID_CONTENT
