"""The Messages page over HTTP (TestClient): the text search, the CSV export of a filter, threading of
replies, and the polled list body. The same in a browser: tests/e2e/test_dashboard_contacts_browser.py."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import Tenant, make_tenant
from tests.web.dashboard_kit import send, sign_in
from textgate.service import dashboard_messages
from textgate.service.dashboard_messages import MessageFilter, message_thread, search_messages
from textgate.service.inbound import receive_inbound
from textgate.service.messages import encode_cursor
from textgate.service.send import SendRequest, send_messages

Setup = tuple[TestClient, Engine, Tenant, Tenant]


def receive(engine: Engine, tenant: Tenant, sender: str, body: str, at: datetime | None = None) -> str:
    with engine.begin() as conn:
        view = receive_inbound(
            conn,
            from_addr=sender,
            to_addr=tenant.number,
            body=body,
            now=at or datetime.now(UTC),
            source="test",
        )
    return str(view["id"])


def listed(client: TestClient, **params: str) -> str:
    r = client.get("/dashboard/messages", params=params)
    assert r.status_code == 200, r.text
    return r.text


def test_text_search_finds_every_word_and_reads_percent_and_underscore_literally(setup: Setup) -> None:
    client, _engine, acme, other = setup
    for body in ("Hello big World", "goodbye world", "100% sure", "100 percent", "snake_case", "snakeXcase"):
        send(client, acme, body=body)
    send(client, other, body="hello world from other")
    sign_in(client, "acme-admin")

    page = listed(client, text="world HELLO")
    assert "Hello big World" in page and "goodbye world" not in page and "from other" not in page
    assert "goodbye world" in listed(client, text="world")
    page = listed(client, text="100%")
    assert "100% sure" in page and "100 percent" not in page
    page = listed(client, text="e_c")
    assert "snake_case" in page and "snakeXcase" not in page
    page = listed(client, text="%")
    assert "100% sure" in page and "goodbye" not in page and "snake" not in page
    assert "No messages containing 50%_off." in listed(client, text="50%_off")
    # with the other filters: bounded to them too
    assert "Hello big World" not in listed(client, text="hello", direction="inbound")
    assert "Hello big World" in listed(client, text="hello", direction="outbound", number="+15550000001")
    too_many = client.get("/dashboard/messages", params={"text": " ".join(f"w{i}" for i in range(11))})
    assert too_many.status_code == 400 and 'role="alert"' in too_many.text
    assert 'id="text" name="text" type="search"' in too_many.text and 'aria-invalid="true"' in too_many.text


def test_the_csv_export_has_the_filter_only_and_no_formulas(setup: Setup) -> None:
    client, engine, acme, other = setup
    plain = send(client, acme, body="plain text, with a comma")
    formula = send(client, acme, body='=HYPERLINK("http://x")')
    at = send(client, acme, body="@SUM(1)")
    send(client, acme, body="-2+3 not wanted", to="+15550000002")
    send(client, other, body="other's plain text")
    inbound = receive(engine, acme, "+15550000001", "+ a reply")
    sign_in(client, "acme-admin")

    page = listed(client)
    assert 'href="/dashboard/messages.csv?"' in page and "100,000 messages at most" in page
    r = client.get("/dashboard/messages.csv", params={"number": "+15550000001", "direction": "outbound"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"].startswith('attachment; filename="messages-')
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == [
        "id", "created", "direction", "from", "to", "status", "error", "segments", "credits", "body"
    ]  # fmt: skip
    by_id = {row[0]: row for row in rows[1:]}
    assert set(by_id) == {plain, formula, at}  # newest first, only the filter's
    assert [row[0] for row in rows[1:]] == [at, formula, plain]
    assert by_id[plain][2:5] == ["outbound", "'" + acme.number, "'+15550000001"]
    assert by_id[plain][9] == "plain text, with a comma"
    assert by_id[formula][9] == '\'=HYPERLINK("http://x")'
    assert by_id[at][9] == "'@SUM(1)"
    assert by_id[plain][7:9] == ["1", "1"]

    everything = list(csv.reader(io.StringIO(client.get("/dashboard/messages.csv").text)))
    assert len(everything) == 1 + 5  # acme's five, not other's
    assert {row[9] for row in everything} >= {"'-2+3 not wanted", "'+ a reply"}
    assert inbound in {row[0] for row in everything}
    searched = list(csv.reader(io.StringIO(client.get("/dashboard/messages.csv?text=comma").text)))
    assert [row[0] for row in searched[1:]] == [plain]
    bad = client.get("/dashboard/messages.csv", params={"direction": "sideways"})
    assert bad.status_code == 400 and "direction must be inbound or outbound" in bad.text


def test_a_reply_shows_on_the_message_it_answers(setup: Setup) -> None:
    client, engine, acme, other = setup
    first = send(client, acme, body="Can you come on Monday?")
    elsewhere = send(client, acme, body="to someone else", to="+15550000002")
    yes = receive(engine, acme, "+15550000001", "Yes, Monday is fine")
    stranger = receive(engine, acme, "+15550000003", "who is this?")
    sign_in(client, "acme-admin")

    page = client.get(f"/dashboard/messages/{first}").text
    assert "<h2>Replies</h2>" in page and "Yes, Monday is fine" in page
    assert f'href="/dashboard/messages/{yes}"' in page and "who is this?" not in page
    assert "No replies yet." in client.get(f"/dashboard/messages/{elsewhere}").text
    inbound = client.get(f"/dashboard/messages/{yes}").text
    assert "In reply to" in inbound and f'href="/dashboard/messages/{first}"' in inbound
    assert "No earlier message" in client.get(f"/dashboard/messages/{stranger}").text
    listing = listed(client)
    assert f'<a href="/dashboard/messages/{first}" class="reply-to">reply to {first}</a>' in listing
    assert listing.count('class="reply-to"') == 1

    # A later message to the same number: the next answer is its reply, not the first one's.
    second = send(client, acme, body="And Tuesday?")
    receive(engine, acme, "+15550000001", "Tuesday too")
    assert "Tuesday too" in client.get(f"/dashboard/messages/{second}").text
    first_page = client.get(f"/dashboard/messages/{first}").text
    assert "Yes, Monday is fine" in first_page and "Tuesday too" not in first_page

    # Another account's message, by id: not found.
    theirs = send(client, other, body="other's")
    assert client.get(f"/dashboard/messages/{theirs}").status_code == 404


def test_the_list_and_a_message_refresh_by_polling(setup: Setup) -> None:
    client, engine, acme, _ = setup
    mine = send(client, acme, body="polled")
    sign_in(client, "acme-admin")
    page = listed(client, text="polled")
    assert 'hx-get="/dashboard/messages?text=polled" hx-trigger="every 10s"' in page
    receive(engine, acme, "+15550000001", "polled answer")
    body = client.get("/dashboard/messages?text=polled", headers={"HX-Request": "true"})
    assert body.status_code == 200 and "<html" not in body.text and "<tbody" not in body.text
    assert body.text.count("<tr>") == 2 and "polled answer" in body.text
    older = listed(client, cursor=encode_cursor(datetime.now(UTC) + timedelta(days=1), "msg_z"))
    assert "polled" in older and "hx-trigger" not in older.split('id="message-rows"')[1].split(">")[0]
    live = client.get(f"/dashboard/messages/{mine}", headers={"HX-Request": "true"})
    assert live.status_code == 200 and "<html" not in live.text
    assert 'id="timeline"' in live.text and "polled answer" in live.text and "Resubmit" not in live.text
    full = client.get(f"/dashboard/messages/{mine}").text
    assert f'hx-get="/dashboard/messages/{mine}" hx-trigger="every 10s"' in full


def test_an_operator_searches_and_exports_any_account(setup: Setup) -> None:
    client, _engine, _acme, other = setup
    theirs = send(client, other, body="other's searchable text")
    sign_in(client, "ops", operator="1")
    page = listed(client, account=other.account.id, text="searchable")
    assert f'href="/dashboard/messages/{theirs}?account={other.account.id}"' in page
    r = client.get("/dashboard/messages.csv", params={"account": other.account.id, "text": "searchable"})
    assert [row[0] for row in csv.reader(io.StringIO(r.text))][1:] == [theirs]
    assert client.get("/dashboard/messages.csv").status_code == 400  # no account chosen


def test_a_search_examines_a_bounded_window_and_continues_below_it(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _engine, acme, _ = setup
    monkeypatch.setattr(dashboard_messages, "SEARCH_SCAN", 3)
    needle = send(client, acme, body="the needle")
    for i in range(4):
        send(client, acme, body=f"hay {i}")
    sign_in(client, "acme-admin")
    first = listed(client, text="needle")
    assert "the needle" not in first and 'id="scan-limited"' in first
    more = re.search(r'<a href="([^"]+)">older messages</a> continue it', first)
    assert more
    second = client.get(more.group(1).replace("&amp;", "&")).text
    assert "the needle" in second and 'id="scan-limited"' not in second
    assert f"/dashboard/messages/{needle}" in second
    # the export follows the windows to the end
    exported = client.get("/dashboard/messages.csv?text=needle").text
    assert [row[0] for row in csv.reader(io.StringIO(exported))][1:] == [needle]


def test_search_and_threads_in_the_store_on_both_backends(engine: Engine) -> None:
    """The service under the page, on SQLite and PostgreSQL: LIKE escaping and case, the bounded
    window, and the reply links."""
    t0 = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
    acme = make_tenant(engine, name="acme", now=t0)
    other = make_tenant(engine, name="other", number="+15551238888", now=t0)

    def out(tenant: Tenant, body: str, at: datetime, to: str = "+15550000001") -> str:
        with engine.begin() as conn:
            req = SendRequest(sender=tenant.number, to=[to], body=body)
            return str(send_messages(conn, tenant.account, req, now=at).body["messages"][0]["id"])

    first = out(acme, "Sale: 50% OFF_today", t0)
    plain = out(acme, "sale 50 percent offXtoday", t0 + timedelta(seconds=1))
    out(other, "sale 50% off_today", t0 + timedelta(seconds=1))
    reply = receive(engine, acme, "+15550000001", "yes please", t0 + timedelta(seconds=2))
    second = out(acme, "thanks", t0 + timedelta(seconds=3))
    late = receive(engine, acme, "+15550000001", "you're welcome", t0 + timedelta(seconds=4))
    with engine.connect() as conn:

        def found(text: str, direction: str | None = None) -> list[str]:
            f = MessageFilter(direction=direction, words=dashboard_messages.text_words(text))
            return [m["id"] for m in search_messages(conn, acme.account.id, f).rows]

        assert found("50% off_") == [first]
        assert found("SALE") == [plain, first]
        assert found("sale", direction="inbound") == []
        assert found("please") == [reply]
        page = search_messages(conn, acme.account.id, MessageFilter())
        assert {m["id"]: m.get("reply_to") for m in page.rows if m["direction"] == "inbound"} == {
            late: second,
            reply: plain,  # the latest outbound to that number before it
        }
        thread = message_thread(conn, acme.account.id, plain)
        assert [m["id"] for m in thread["replies"]] == [reply]
        assert [m["id"] for m in message_thread(conn, acme.account.id, second)["replies"]] == [late]
        assert message_thread(conn, acme.account.id, first)["replies"] == []
        assert message_thread(conn, acme.account.id, late)["reply_to"]["id"] == second
