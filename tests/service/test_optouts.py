from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from tests.helpers import ManualClock, make_tenant
from textgate.service.accounts import balance, set_number_status, update_account
from textgate.service.inbound import receive_inbound
from textgate.service.optouts import (
    DEFAULT_START_TEXT,
    DEFAULT_STOP_TEXT,
    check_extra_words,
    keyword,
    opted_out,
)
from textgate.service.send import SendRequest, send_messages
from textgate.store.schema import messages


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ("STOP", "stop"),
        (" stop! ", "stop"),
        ("Unsubscribe.", "stop"),
        ("start", "start"),
        ("HELP", "help"),
        ("please stop calling", None),
        ("stopped", None),
    ],
)
def test_keywords(body: str, word: str | None) -> None:
    assert keyword(body) == word


def _send(engine: Engine, tenant, clock: ManualClock, to: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    req = SendRequest(sender=tenant.number, to=[to], body="promo")
    with engine.begin() as conn:
        return send_messages(conn, tenant.account, req, now=clock()).body["messages"][0]  # type: ignore[no-any-return]


def _inbound(engine: Engine, clock: ManualClock, handset: str, to: str, body: str) -> None:
    with engine.begin() as conn:
        receive_inbound(conn, from_addr=handset, to_addr=to, body=body, now=clock(), source="test")


def test_stop_blocks_until_start_and_help_replies(engine: Engine) -> None:
    clock = ManualClock()
    t = make_tenant(engine, credits=10, now=clock())
    other = make_tenant(engine, name="other", number="+15551230002", credits=10, now=clock())
    handset = "+15550001234"
    with engine.begin() as conn:
        update_account(conn, t.account.id, settings={"stop_text": "You are unsubscribed."})
    _inbound(engine, clock, handset, t.number, "Stop")
    blocked = _send(engine, t, clock, handset)
    assert (blocked["status"], blocked["error_code"], blocked["credits"]) == ("failed", "opted_out", 0)
    # Opt-outs are per account: another account may still send.
    assert _send(engine, other, clock, handset)["status"] == "queued"
    _inbound(engine, clock, handset, t.number, "START")
    assert _send(engine, t, clock, handset)["status"] == "queued"
    _inbound(engine, clock, handset, t.number, "help")
    with engine.connect() as conn:
        replies = conn.execute(
            select(messages.c.body, messages.c.credits, messages.c.to_addr)
            .where(messages.c.from_addr == t.number, messages.c.body != "promo")
            .order_by(messages.c.created_at, messages.c.id)
        ).all()
        assert balance(conn, t.account.id) == 9  # keyword replies are free
    assert sorted(r.body for r in replies) == [
        "Reply STOP to unsubscribe.",
        DEFAULT_START_TEXT,
        "You are unsubscribed.",
    ]
    assert {(r.credits, r.to_addr) for r in replies} == {(0, handset)}


def _replies(engine: Engine, number: str) -> list[tuple[str, str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(messages.c.body, messages.c.to_addr, messages.c.credits)
            .where(messages.c.from_addr == number, messages.c.direction == "outbound")
            .order_by(messages.c.created_at, messages.c.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_stop_and_start_are_confirmed_by_default_for_free(engine: Engine) -> None:
    clock = ManualClock()
    t = make_tenant(engine, credits=3, now=clock())
    handset = "+15550001234"
    _inbound(engine, clock, handset, t.number, "STOP")
    clock.advance(1)
    _inbound(engine, clock, handset, t.number, "start")
    assert _replies(engine, t.number) == [(DEFAULT_STOP_TEXT, handset, 0), (DEFAULT_START_TEXT, handset, 0)]
    clock.advance(1)
    _inbound(engine, clock, handset, t.number, "Yes")  # subscribed already: an answer, not a keyword
    assert len(_replies(engine, t.number)) == 2
    assert "Reply START" in DEFAULT_STOP_TEXT and "STOP" in DEFAULT_START_TEXT
    with engine.connect() as conn:
        assert balance(conn, t.account.id) == 3


def test_keyword_replies_are_configurable_and_an_empty_text_sends_none(engine: Engine) -> None:
    clock = ManualClock()
    t = make_tenant(engine, credits=3, now=clock())
    with engine.begin() as conn:
        update_account(conn, t.account.id, settings={"stop_text": "", "start_text": "Welcome back to Acme."})
    _inbound(engine, clock, "+15550001234", t.number, "stop")
    clock.advance(1)
    _inbound(engine, clock, "+15550001234", t.number, "UNSTOP")
    assert [r[0] for r in _replies(engine, t.number)] == ["Welcome back to Acme."]


def test_a_reply_that_cannot_be_sent_never_loses_the_inbound_message_or_the_opt_out(engine: Engine) -> None:
    clock = ManualClock()
    t = make_tenant(engine, credits=3, now=clock())
    with engine.begin() as conn:
        set_number_status(conn, t.account, t.number, "inactive")
    _inbound(engine, clock, "+15550001234", t.number, "STOP")
    assert _replies(engine, t.number) == []
    with engine.connect() as conn:
        assert opted_out(conn, t.account.id, ["+15550001234"]) == {"+15550001234"}
        inbound = conn.execute(select(messages.c.body).where(messages.c.direction == "inbound")).scalars()
        assert list(inbound) == ["STOP"]


def test_an_account_adds_its_own_keywords_besides_the_standard_ones(engine: Engine) -> None:
    clock = ManualClock()
    t = make_tenant(engine, credits=10, now=clock())
    handset = "+15550001234"
    with engine.begin() as conn:
        update_account(conn, t.account.id, settings={"stop_words": ["PARAR"], "start_words": ["ALTA"]})
    _inbound(engine, clock, handset, t.number, "parar.")
    assert _send(engine, t, clock, handset)["error_code"] == "opted_out"
    _inbound(engine, clock, handset, t.number, "Alta")
    assert _send(engine, t, clock, handset)["status"] == "queued"
    _inbound(engine, clock, handset, t.number, "stop")  # the standard words still work
    assert _send(engine, t, clock, handset)["error_code"] == "opted_out"
    # Another account's words are not this one's.
    other = make_tenant(engine, name="other", number="+15551230002", credits=10, now=clock())
    _inbound(engine, clock, handset, other.number, "PARAR")
    assert _send(engine, other, clock, handset)["status"] == "queued"
    assert keyword("PARAR") is None and keyword("PARAR", {"stop_words": ["PARAR"]}) == "stop"


def test_extra_keywords_are_checked() -> None:
    assert check_extra_words("stop", "parar, Arret arret", {}) == ["PARAR", "ARRET"]
    assert check_extra_words("stop", "  ", {}) is None
    assert check_extra_words("stop", "STOP", {}) is None  # standard already
    with pytest.raises(ValueError, match="already a START keyword"):
        check_extra_words("stop", "yes", {})
    with pytest.raises(ValueError, match="already a HELP keyword"):
        check_extra_words("stop", "AYUDA", {"help": ["AYUDA"]})
    with pytest.raises(ValueError, match="not a keyword"):
        check_extra_words("stop", "no-more", {})
