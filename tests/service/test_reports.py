from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from tests.helpers import Tenant, make_tenant
from textgate.domain.errors import ErrorKind, ValidationError
from textgate.domain.message import MessageStatus
from textgate.service.accounts import Account, update_account
from textgate.service.inbound import receive_inbound
from textgate.service.reports import REPORT_TYPES, Report, build_report, safe_cell, to_csv
from textgate.service.send import SendRequest, send_messages
from textgate.service.status import change_status
from textgate.service.users import create_user
from textgate.store.schema import messages

T0 = datetime(2026, 3, 15, 14, 30, tzinfo=UTC)


def _send(engine: Engine, account: Account, sender: str, at: datetime, **kw: Any) -> list[str]:
    req = SendRequest(sender=sender, to=kw.pop("to", ["+15550000001"]), body=kw.pop("body", "hello"), **kw)
    with engine.begin() as conn:
        result = send_messages(conn, account, req, now=at)
    return [m["id"] for m in result.body["messages"]]


def _move(engine: Engine, message_id: str, *steps: MessageStatus, at: datetime, **kw: Any) -> None:
    with engine.begin() as conn:
        for status in steps:
            row = conn.execute(select(messages).where(messages.c.id == message_id)).one()._mapping
            change_status(conn, dict(row), status, now=at, source="test", **kw)


def _report(engine: Engine, account: Account, kind: str, **kw: Any) -> list[dict[str, str]]:
    kw.setdefault("start", None)
    kw.setdefault("end", None)
    with engine.connect() as conn:
        text = to_csv(build_report(conn, account, kind, now=T0 + timedelta(days=1), **kw))
    return list(csv.DictReader(io.StringIO(text)))


def _tenant(engine: Engine, name: str = "acme", number: str = "+15551230001", credits: int = 100) -> Tenant:
    return make_tenant(engine, name=name, number=number, credits=credits, now=T0)


def test_outbox_lists_unfinished_messages_whatever_their_date(engine: Engine) -> None:
    t = _tenant(engine)
    old = _send(engine, t.account, t.number, T0 - timedelta(days=400))[0]
    scheduled = _send(engine, t.account, t.number, T0, schedule_at=T0 + timedelta(hours=2))[0]
    sending, done, failed = _send(
        engine,
        t.account,
        t.number,
        T0 + timedelta(seconds=1),
        to=["+15550000002", "+15550000003", "5550000004"],
    )
    _move(engine, sending, MessageStatus.SENDING, at=T0)
    _move(engine, done, MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.DELIVERED, at=T0)
    _move(engine, failed, MessageStatus.FAILED, at=T0)
    rows = _report(engine, t.account, "Outbox", start=T0, end=T0)
    assert [r["message_id"] for r in rows] == [old, scheduled, sending]
    assert [r["status"] for r in rows] == ["queued", "scheduled", "sending"]
    assert rows[1]["scheduled"] == "2026-03-15 16:30:00"
    assert rows[0]["scheduled"] == ""
    assert list(rows[0]) == [
        "message_id",
        "created",
        "scheduled",
        "from",
        "to",
        "body",
        "parts",
        "credits",
        "status",
    ]


def test_messages_range_is_half_open(engine: Engine) -> None:
    t = _tenant(engine)
    before = _send(engine, t.account, t.number, T0 - timedelta(microseconds=1))[0]
    first = _send(engine, t.account, t.number, T0)[0]
    last = _send(engine, t.account, t.number, T0 + timedelta(hours=1) - timedelta(microseconds=1))[0]
    _send(engine, t.account, t.number, T0 + timedelta(hours=1))
    with engine.begin() as conn:
        receive_inbound(conn, from_addr="+15550000009", to_addr=t.number, body="hi", now=T0, source="test")
    rows = _report(engine, t.account, "messages", start=T0, end=T0 + timedelta(hours=1))
    assert [r["message_id"] for r in rows] == [first, last]
    assert _report(engine, t.account, "messages", start=T0, end=T0) == []
    everything = _report(engine, t.account, "messages")
    assert len(everything) == 4 and everything[0]["message_id"] == before
    assert len(_report(engine, t.account, "messages", end=T0)) == 1


def test_messages_columns_times_and_refunds(engine: Engine) -> None:
    t = _tenant(engine)
    delivered, refunded = _send(
        engine, t.account, t.number, T0, to=["+15550000001", "+15550000002"], body="x" * 200
    )
    _move(engine, delivered, MessageStatus.SENDING, at=T0)
    _move(engine, delivered, MessageStatus.SENT, at=T0 + timedelta(seconds=5))
    _move(engine, delivered, MessageStatus.DELIVERED, at=T0 + timedelta(seconds=9))
    _move(
        engine,
        refunded,
        MessageStatus.FAILED,
        at=T0,
        error_kind=ErrorKind.ROUTING_ERROR,
        error_message="no route",
    )
    rows = sorted(
        _report(engine, t.account, "messages", start=T0, end=T0 + timedelta(days=1)), key=lambda r: r["to"]
    )
    assert rows[0] == {
        "message_id": delivered,
        "created": "2026-03-15 14:30:00",
        "scheduled": "",
        "sent": "2026-03-15 14:30:05",
        "delivered": "2026-03-15 14:30:09",
        "from": "+15551230001",
        "to": "+15550000001",
        "body": "x" * 200,
        "parts": "2",
        "credits": "2",
        "status": "delivered",
        "error_code": "",
        "error_message": "",
    }
    assert (rows[1]["status"], rows[1]["credits"]) == ("failed", "0")  # never submitted: refunded
    assert (rows[1]["error_code"], rows[1]["error_message"]) == ("routing_error", "no route")


def test_failed_report(engine: Engine) -> None:
    t = _tenant(engine)
    ids = _send(engine, t.account, t.number, T0, to=[f"+1555000000{i}" for i in range(1, 7)])
    ok, undelivered, rejected, expired, failed, pending = ids
    _move(engine, ok, MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.DELIVERED, at=T0)
    _move(engine, undelivered, MessageStatus.SENDING, MessageStatus.SENT, at=T0)
    _move(engine, undelivered, MessageStatus.UNDELIVERED, at=T0 + timedelta(minutes=3))
    _move(engine, rejected, MessageStatus.SENDING, MessageStatus.REJECTED, at=T0)
    _move(engine, expired, MessageStatus.EXPIRED, at=T0)
    _move(engine, failed, MessageStatus.FAILED, at=T0)
    rows = _report(engine, t.account, "failed", start=T0, end=T0 + timedelta(hours=1))
    assert sorted(r["message_id"] for r in rows) == sorted([undelivered, rejected, expired, failed])
    assert pending not in {r["message_id"] for r in rows}
    by_id = {r["message_id"]: r for r in rows}
    assert by_id[undelivered]["failed"] == "2026-03-15 14:33:00"
    assert by_id[undelivered]["sent"] == "2026-03-15 14:30:00"
    assert (
        _report(engine, t.account, "failed", start=T0 + timedelta(seconds=1), end=T0 + timedelta(hours=1))
        == []
    )


def test_inbound_report(engine: Engine) -> None:
    t = _tenant(engine)
    with engine.begin() as conn:
        first = receive_inbound(
            conn, from_addr="15550000009", to_addr=t.number, body="one", now=T0, source="t"
        )
        receive_inbound(
            conn,
            from_addr="+15550000008",
            to_addr=t.number,
            body="two",
            now=T0 + timedelta(hours=2),
            source="t",
        )
    _send(engine, t.account, t.number, T0)
    rows = _report(engine, t.account, "inbound", start=T0, end=T0 + timedelta(hours=1))
    assert rows == [
        {
            "message_id": first["id"],
            "received": "2026-03-15 14:30:00",
            "from": "+15550000009",
            "to": "+15551230001",
            "body": "one",
            "parts": "1",
        }
    ]
    assert len(_report(engine, t.account, "inbound")) == 2


def test_times_in_account_zone(engine: Engine) -> None:
    t = _tenant(engine)
    with engine.begin() as conn:
        account = update_account(conn, t.account.id, settings={"timezone": "Australia/Sydney"})
    msg = _send(engine, account, t.number, T0)[0]  # 01:30 on the 16th in Sydney (AEDT, UTC+11)
    rows = _report(engine, account, "messages", start=T0, end=T0 + timedelta(hours=1))
    assert rows[0]["created"] == "2026-03-16 01:30:00"
    # A range without a zone is read in the account's zone.
    local = datetime(2026, 3, 16, 1, 30)
    assert [r["message_id"] for r in _report(engine, account, "messages", start=local, end=None)] == [msg]
    assert _report(engine, account, "messages", start=local + timedelta(seconds=1), end=None) == []


def test_formula_injection_is_neutralised(engine: Engine) -> None:
    t = _tenant(engine, number="+447777777771")
    bodies = [
        '=HYPERLINK("http://evil.example","click")',
        "+cmd",
        "-2+3",
        "@SUM(A1)",
        "\tx",
        "-5",
        "3.2",
        "plain",
    ]
    for i, body in enumerate(bodies):
        _send(engine, t.account, t.number, T0 + timedelta(seconds=i), body=body, to=["+15550000001"])
    rows = _report(engine, t.account, "messages", start=T0, end=T0 + timedelta(minutes=1))
    assert [r["body"] for r in rows] == [
        '\'=HYPERLINK("http://evil.example","click")',
        "'+cmd",
        "'-2+3",
        "'@SUM(A1)",
        "'\tx",
        "-5",
        "3.2",
        "plain",
    ]
    assert {r["from"] for r in rows} == {"+447777777771"}
    assert {r["to"] for r in rows} == {"+15550000001"}


def test_safe_cell() -> None:
    assert safe_cell("=1+2") == "'=1+2"
    assert safe_cell("\r=1") == "'\r=1"
    assert safe_cell("+447777777771") == "+447777777771"
    assert safe_cell("-5") == "-5"
    assert safe_cell("+3.25") == "+3.25"
    assert safe_cell("-") == "'-"
    assert safe_cell("") == ""
    assert safe_cell("a=b") == "a=b"


def test_other_tenants_rows_never_appear(engine: Engine) -> None:
    mine = _tenant(engine, name="mine", number="+15551230001")
    theirs = _tenant(engine, name="theirs", number="+15551230002")
    my_msg = _send(engine, mine.account, mine.number, T0)[0]
    _send(engine, theirs.account, theirs.number, T0, body="secret")
    _send(engine, theirs.account, theirs.number, T0, body="secret later", schedule_at=T0 + timedelta(hours=1))
    with engine.begin() as conn:
        receive_inbound(
            conn, from_addr="+15550000009", to_addr=theirs.number, body="secret in", now=T0, source="t"
        )
    for kind in ("outbox", "messages", "inbound", "failed"):
        rows = _report(engine, mine.account, kind)
        assert all("secret" not in r["body"] for r in rows), kind
    assert [r["message_id"] for r in _report(engine, mine.account, "messages")] == [my_msg]
    usage = _report(engine, mine.account, "usage")
    assert [r["account_id"] for r in usage] == [mine.account.id]


def test_usage_covers_descendants_for_the_parent_only(engine: Engine) -> None:
    parent_t = _tenant(engine, name="parent", number="+15551230001", credits=100)
    other = _tenant(engine, name="other", number="+15551230002")
    with engine.begin() as conn:
        child, _ = create_user(
            conn,
            parent_t.account,
            username="kid",
            password="long enough",
            access_level="admin",
            first_name="K",
            last_name="Id",
            email="kid@example.com",
            credits=20,
            now=T0,
        )
        grandchild, _ = create_user(
            conn,
            child,
            username="grandkid",
            password="long enough",
            access_level="normal",
            first_name="G",
            last_name="K",
            email="g@example.com",
            credits=5,
            now=T0,
        )
    parent = parent_t.account
    _send(engine, parent, parent_t.number, T0, to=["+15550000001", "+15550000002"], body="y" * 170)
    _send(engine, parent, parent_t.number, T0 - timedelta(days=2))  # out of range
    _, refunded = _send(engine, child, "Kid", T0, to=["+15550000003", "+15550000004"])
    _move(engine, refunded, MessageStatus.FAILED, at=T0)
    _send(engine, other.account, other.number, T0)
    with engine.begin() as conn:
        receive_inbound(
            conn, from_addr="+15550000009", to_addr=parent_t.number, body="in", now=T0, source="t"
        )
    rng: dict[str, Any] = {"start": T0 - timedelta(hours=1), "end": T0 + timedelta(hours=1)}
    usage = _report(engine, parent, "usage", **rng)
    assert usage == [
        {
            "account_id": parent.id,
            "username": "parent",
            "messages_sent": "2",
            "parts": "4",
            "credits_used": "4",
            "inbound_received": "1",
        },
        {
            "account_id": child.id,
            "username": "kid",
            "messages_sent": "2",
            "parts": "2",
            "credits_used": "1",
            "inbound_received": "0",
        },
        {
            "account_id": grandchild.id,
            "username": "grandkid",
            "messages_sent": "0",
            "parts": "0",
            "credits_used": "0",
            "inbound_received": "0",
        },
    ]
    assert [r["account_id"] for r in _report(engine, child, "usage", **rng)] == [child.id, grandchild.id]
    assert [r["account_id"] for r in _report(engine, grandchild, "usage", **rng)] == [grandchild.id]
    # The parent's own message reports stay its own.
    assert all(r["from"] == parent_t.number for r in _report(engine, parent, "messages", **rng))


def test_report_arguments(engine: Engine) -> None:
    t = _tenant(engine)
    with engine.connect() as conn:
        for bad in ("sales", "", "usage;drop"):
            with pytest.raises(ValidationError) as info:
                build_report(conn, t.account, bad, start=None, end=None, now=T0)
            assert info.value.field == "type"
        with pytest.raises(ValidationError) as info:
            build_report(conn, t.account, "messages", start=T0, end=T0 - timedelta(seconds=1), now=T0)
        assert info.value.field == "to"
        for kind in REPORT_TYPES:
            report = build_report(conn, t.account, kind.upper(), start=None, end=None, now=T0)
            assert isinstance(report, Report) and report.header
            assert to_csv(report).splitlines()[0] == ",".join(report.header)


def test_large_report_streams(engine: Engine) -> None:
    t = _tenant(engine, credits=2000)
    for i in range(12):
        _send(
            engine,
            t.account,
            t.number,
            T0 + timedelta(seconds=i),
            to=[f"+1555{i:03d}{j:04d}" for j in range(100)],
        )
    with engine.connect() as conn:
        report = build_report(conn, t.account, "messages", start=None, end=None, now=T0)
        rows = iter(report.rows)
        assert not isinstance(report.rows, list)
        assert next(rows)[0].startswith("msg_")
        assert sum(1 for _ in rows) == 1199
