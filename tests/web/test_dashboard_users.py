"""The dashboard's Users & credits and ledger pages over HTTP (TestClient): sub-users created (and signing
in to see only their own), credits moved both ways with the API's checks, both ledgers, cursor paging,
CSRF and tenancy. In a browser: tests/e2e/test_dashboard_account_browser.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import Tenant, credits_of
from tests.web.dashboard_kit import csrf_of, send, sign_in
from textgate.service.accounts import add_credits, add_number, get_account, ledger_history
from textgate.service.users import create_user, list_transfers, list_users
from textgate.web.dashboard import users as users_page

Setup = tuple[TestClient, Engine, Tenant, Tenant]
SUB_PASSWORD = "sub-user password 1"


def sign_in_as(client: TestClient, username: str, password: str | None = None, **extra: str) -> None:
    client.cookies.clear()
    r = sign_in(client, username, password, **extra) if password else sign_in(client, username, **extra)
    assert getattr(r, "status_code", None) == 303


def new_user(client: TestClient, credits: int | str = 0, **fields: str) -> Any:
    data = {
        "csrf": csrf_of(client.get("/dashboard/users").text),
        "username": "dept01",
        "password": SUB_PASSWORD,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "access_level": "normal",
        "credits": str(credits),
        **fields,
    }
    return client.post("/dashboard/users", data=data, follow_redirects=False)


def move(client: TestClient, user: str, amount: str, direction: str = "give", **extra: str) -> Any:
    data = {"csrf": csrf_of(client.get("/dashboard/users").text), "user": user, "amount": amount}
    return client.post(
        "/dashboard/users/transfer", data={**data, "direction": direction, **extra}, follow_redirects=False
    )


def make_child(engine: Engine, tenant: Tenant, username: str = "kid01", credits: int = 0) -> str:
    with engine.begin() as conn:
        child, _key = create_user(
            conn,
            get_account(conn, tenant.account.id),
            username=username,
            password=SUB_PASSWORD,
            access_level="normal",
            first_name="Kid",
            last_name="One",
            email="kid@example.com",
            credits=credits,
            now=datetime.now(UTC),
        )
    return child.id


def test_the_pages_render_for_an_account_and_an_operator(setup: Setup) -> None:
    client, engine, acme, _ = setup
    make_child(engine, acme, credits=5)
    sign_in_as(client, "acme-admin")
    r = client.get("/dashboard/users")
    assert r.status_code == 200
    for part in ('id="me"', 'id="users"', 'id="transfer"', 'id="create-user"', 'id="transfers"', "kid01"):
        assert part in r.text, part
    assert '<label for="new-username">' in r.text and '<label for="transfer-amount">' in r.text
    ledger = client.get("/dashboard/ledger")
    assert ledger.status_code == 200 and 'class="kind-transfer_out"' in ledger.text

    sign_in_as(client, "ops", operator="1")
    assert "Enter an account id" in client.get("/dashboard/users").text
    chosen = client.get(f"/dashboard/users?account={acme.account.id}")
    assert chosen.status_code == 200 and "kid01" in chosen.text and 'id="create-user"' in chosen.text
    led = client.get(f"/dashboard/ledger?account={acme.account.id}")
    assert led.status_code == 200 and 'class="kind-transfer_out"' in led.text
    assert client.get("/dashboard/users?account=acc_nobody").status_code == 404
    assert client.get("/dashboard/ledger?account=acc_nobody").status_code == 404


def test_a_created_user_signs_in_and_sees_only_its_own(setup: Setup) -> None:
    client, engine, acme, _ = setup
    parents = send(client, acme, body="the parent's own text")
    sign_in_as(client, "acme-admin")
    r = new_user(client, credits=20)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/users?done=created"
    shown = client.get("/dashboard/users?done=created")
    assert "User created." in shown.text and 'id="new-user"' in shown.text
    secret = re.search(r'id="user-secret" readonly value="([^"]+)"', shown.text)
    assert secret and secret.group(1).startswith("tgs_")
    assert secret.group(1) not in client.get("/dashboard/users?done=created").text  # shown once
    with engine.connect() as conn:
        [child] = list_users(conn, get_account(conn, acme.account.id))
    assert child.username == "dept01" and child.access_level == "normal"
    assert (
        credits_of(engine, child.id) == 20 and credits_of(engine, acme.account.id) == 79
    )  # one send, 20 moved
    row = re.search(rf'<tr id="user-{child.id}">.*?</tr>', client.get("/dashboard/users").text, re.S)
    assert row and "dept01" in row.group(0) and '<td class="balance">20</td>' in row.group(0)

    with engine.begin() as conn:
        add_number(conn, child, "+15557770001", now=datetime.now(UTC))
    sent = client.post(
        "/v1/messages",
        json={"from": "+15557770001", "to": "+15550000002", "body": "the user's own text"},
        headers={"Authorization": f"Bearer {secret.group(1)}"},
    )
    assert sent.status_code == 202, sent.text
    mine = sent.json()["messages"][0]["id"]

    sign_in_as(client, "dept01", SUB_PASSWORD)
    listing = client.get("/dashboard/messages")
    assert "the user&#39;s own text" in listing.text and "parent&#39;s own text" not in listing.text
    assert client.get(f"/dashboard/messages/{mine}").status_code == 200
    assert client.get(f"/dashboard/messages/{parents}").status_code == 404
    page = client.get("/dashboard/users")
    assert page.status_code == 200 and "dept01" in page.text
    assert (
        'id="users"' not in page.text
        and 'id="create-user"' not in page.text
        and 'id="transfer"' not in page.text
    )
    assert "your parent account" in page.text  # its starting credits, from the parent
    assert 'id="my-balance">19 credits' in page.text  # 20, less the one message
    ledger = client.get("/dashboard/ledger").text
    assert 'class="kind-transfer_in"' in ledger and 'class="kind-debit"' in ledger
    assert 'class="kind-transfer_out"' not in ledger
    # A normal user may not move credits or create users (the API's rule).
    r = move(client, acme.account.id, "5")
    assert r.status_code == 403
    assert new_user(client, username="dept02").status_code == 403
    assert credits_of(engine, child.id) == 19


def test_a_refused_user_names_the_field_and_writes_nothing(setup: Setup) -> None:
    client, engine, acme, _ = setup
    sign_in_as(client, "acme-admin")
    for fields, field in (
        ({"username": "x"}, "username"),
        ({"password": "short"}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"username": "acme-admin"}, "username"),  # taken
        ({"credits": "5000"}, "credits"),  # more than the parent has
        ({"credits": "lots"}, "credits"),
    ):
        r = new_user(client, **fields)
        assert r.status_code == 400, (fields, r.text)
        assert f'data-field="{field}"' in r.text, fields
    with engine.connect() as conn:
        assert list_users(conn, get_account(conn, acme.account.id)) == []
    assert credits_of(engine, acme.account.id) == 100


def test_a_transfer_moves_credits_both_ways_and_appears_in_both_ledgers(setup: Setup) -> None:
    client, engine, acme, _ = setup
    child = make_child(engine, acme)
    sign_in_as(client, "acme-admin")
    r = move(client, child, "30", note="for March")
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/users?done=transferred"
    assert (credits_of(engine, acme.account.id), credits_of(engine, child)) == (70, 30)
    assert move(client, "kid01", "10", direction="take").status_code == 303
    assert (credits_of(engine, acme.account.id), credits_of(engine, child)) == (80, 20)

    page = client.get("/dashboard/users?done=transferred").text
    assert "Credits moved." in page and "for March" in page
    with engine.connect() as conn:
        moves, _ = list_transfers(conn, get_account(conn, acme.account.id))
        parent_entries, _ = ledger_history(conn, acme.account.id)
        child_entries, _ = ledger_history(conn, child)
    assert [(t.from_account_id, t.to_account_id, t.amount) for t in moves] == [
        (child, acme.account.id, 10),
        (acme.account.id, child, 30),
    ]
    assert [(e["kind"], e["amount"]) for e in parent_entries[:2]] == [
        ("transfer_in", 10),
        ("transfer_out", -30),
    ]
    assert [(e["kind"], e["amount"]) for e in child_entries[:2]] == [
        ("transfer_out", -10),
        ("transfer_in", 30),
    ]
    ledger = client.get("/dashboard/ledger").text
    assert moves[1].id in ledger and 'class="kind-transfer_out"' in ledger and "<td>-30</td>" in ledger

    sign_in_as(client, "kid01", SUB_PASSWORD)
    theirs = client.get("/dashboard/ledger").text
    assert moves[1].id in theirs and "<td>+30</td>" in theirs and "<td>-10</td>" in theirs


def test_an_overdraw_is_refused_naming_the_amount(setup: Setup) -> None:
    client, engine, acme, _ = setup
    child = make_child(engine, acme, credits=10)
    sign_in_as(client, "acme-admin")
    for amount, direction, words in (
        ("1000", "give", "your balance is 90"),
        ("11", "take", "below zero"),
        ("0", "give", "above zero"),
        ("-5", "give", "above zero"),
        ("ten", "give", "whole number"),
    ):
        r = move(client, child, amount, direction=direction)
        assert r.status_code == 400, (amount, r.text)
        assert 'data-field="amount"' in r.text and words in r.text, amount
    assert (credits_of(engine, acme.account.id), credits_of(engine, child)) == (90, 10)


def test_another_accounts_user_is_not_found(setup: Setup) -> None:
    client, engine, _acme, other = setup
    theirs = make_child(engine, other, username="their01", credits=10)
    sign_in_as(client, "acme-admin")
    assert "their01" not in client.get("/dashboard/users").text
    r = move(client, theirs, "5")
    assert r.status_code == 404 and 'data-field="user"' in r.text
    assert move(client, "their01", "5", direction="take").status_code == 404
    csrf = csrf_of(client.get("/dashboard/users").text)
    r2 = client.post(f"/dashboard/users/{theirs}/status", data={"csrf": csrf, "status": "suspended"})
    assert r2.status_code == 404
    assert credits_of(engine, theirs) == 10
    with engine.connect() as conn:
        assert get_account(conn, theirs).status == "active"


def test_a_user_can_be_suspended_and_reactivated(setup: Setup) -> None:
    client, engine, acme, _ = setup
    child = make_child(engine, acme)
    sign_in_as(client, "acme-admin")
    csrf = csrf_of(client.get("/dashboard/users").text)
    r = client.post(
        f"/dashboard/users/{child}/status", data={"csrf": csrf, "status": "suspended"}, follow_redirects=False
    )
    assert r.status_code == 303
    with engine.connect() as conn:
        assert get_account(conn, child).status == "suspended"
    client.cookies.clear()
    refused = cast(Any, sign_in(client, "kid01", SUB_PASSWORD))
    assert refused.status_code == 401 and "suspended" in refused.text
    sign_in_as(client, "acme-admin")
    csrf = csrf_of(client.get("/dashboard/users").text)
    client.post(f"/dashboard/users/{child}/status", data={"csrf": csrf, "status": "active"})
    with engine.connect() as conn:
        assert get_account(conn, child).status == "active"


def test_the_ledger_pages_by_cursor(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    client, engine, acme, _ = setup
    with engine.begin() as conn:
        for n in range(1, 5):
            add_credits(conn, acme.account.id, n, now=datetime.now(UTC), note=f"top-up {n}")
    monkeypatch.setattr(users_page, "LEDGER_PAGE", 2)
    sign_in_as(client, "acme-admin")
    first = client.get("/dashboard/ledger?kind=credit").text
    assert "top-up 4" in first and "top-up 3" in first and "top-up 2" not in first
    with engine.connect() as conn:
        _, cursor = ledger_history(conn, acme.account.id, limit=2, kind="credit")
    assert cursor is not None
    link = re.search(r'<a href="([^"]+)" rel="next">', first)
    assert link and link.group(1) == f"/dashboard/ledger?kind=credit&amp;cursor={cursor}"
    second = client.get(link.group(1).replace("&amp;", "&")).text
    assert "top-up 2" in second and "top-up 1" in second and "top-up 4" not in second
    bad = client.get("/dashboard/ledger?cursor=nonsense")
    assert bad.status_code == 400 and 'data-field="cursor"' in bad.text
    assert client.get("/dashboard/ledger?kind=bogus").status_code == 400


def test_a_post_without_the_csrf_token_is_refused(setup: Setup) -> None:
    client, engine, acme, _ = setup
    child = make_child(engine, acme, credits=10)
    sign_in_as(client, "acme-admin")
    for path, data in (
        ("/dashboard/users", {"username": "dept09", "password": SUB_PASSWORD}),
        ("/dashboard/users/transfer", {"user": child, "amount": "5", "direction": "give"}),
        (f"/dashboard/users/{child}/status", {"status": "suspended"}),
    ):
        assert client.post(path, data=data).status_code == 403, path
        assert client.post(path, data={**data, "csrf": "forged"}).status_code == 403, path
    assert credits_of(engine, child) == 10
    with engine.connect() as conn:
        assert len(list_users(conn, get_account(conn, acme.account.id))) == 1
