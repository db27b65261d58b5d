"""The dashboard over HTTP (TestClient): sign-in, sessions, CSRF, tenancy, the pages, Resubmit and Forward.
The same flows in a real browser: tests/e2e/test_dashboard_browser.py."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from tests.helpers import Tenant, credits_of, stored_count
from tests.web.dashboard_kit import PASSWORD, csrf_of, send, sign_in
from textgate.config import Settings
from textgate.service import signin_throttle
from textgate.store.schema import rate_buckets
from textgate.web.app import create_app


def test_signed_out_pages_go_to_the_sign_in_form(setup: tuple[TestClient, Engine, Tenant, Tenant]) -> None:
    client, *_ = setup
    for path in ("/dashboard", "/dashboard/messages", "/dashboard/messages/msg_x", "/"):
        r = client.get(path, follow_redirects=True)
        assert r.url.path == "/dashboard/login", path
    form = client.get("/dashboard/login").text
    assert 'name="username"' in form and 'name="password"' in form
    assert client.post("/dashboard/logout").status_code == 401


def test_a_wrong_password_shows_an_error_and_sets_no_session(
    setup: tuple[TestClient, Engine, Tenant, Tenant],
) -> None:
    client, *_ = setup
    r = sign_in(client, "acme-admin", "wrong password")
    assert r.status_code == 401
    assert "Wrong username or password." in r.text
    assert "textgate_session" not in r.headers.get("set-cookie", "")
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_sign_in_sees_own_messages_only_and_signs_out(
    setup: tuple[TestClient, Engine, Tenant, Tenant],
) -> None:
    client, _engine, acme, other = setup
    mine = send(client, acme, body="acme's own text")
    theirs = send(client, other, body="other's secret text")
    r = sign_in(client, "acme-admin")
    assert r.status_code == 303 and r.headers["location"] == "/dashboard"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/dashboard" in cookie
    overview = client.get("/dashboard")
    assert overview.status_code == 200 and 'id="balance"' in overview.text
    assert "default-src 'none'" in overview.headers["content-security-policy"]
    listing = client.get("/dashboard/messages")
    assert "acme&#39;s own text" in listing.text and "secret text" not in listing.text
    detail = client.get(f"/dashboard/messages/{mine}")
    assert detail.status_code == 200
    assert 'id="resubmit"' in detail.text and 'id="forward"' in detail.text and 'id="timeline"' in detail.text
    assert client.get(f"/dashboard/messages/{theirs}").status_code == 404
    out = client.post("/dashboard/logout", data={"csrf": csrf_of(detail.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_resubmit_and_forward_are_charged_sends(setup: tuple[TestClient, Engine, Tenant, Tenant]) -> None:
    client, engine, acme, _ = setup
    first = send(client, acme)
    sign_in(client, "acme-admin")
    page = client.get(f"/dashboard/messages/{first}")
    before = credits_of(engine, acme.account.id)
    r = client.post(
        f"/dashboard/messages/{first}/resubmit", data={"csrf": csrf_of(page.text)}, follow_redirects=False
    )
    assert r.status_code == 303
    new_id = r.headers["location"].rsplit("/", 1)[1]
    assert new_id != first
    again = client.get(f"/dashboard/messages/{new_id}")
    assert "+15550000001" in again.text and "hello dashboard" in again.text
    r = client.post(
        f"/dashboard/messages/{first}/forward",
        data={"csrf": csrf_of(page.text), "to": "+15550000011"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    forwarded = client.get(r.headers["location"]).text
    assert "+15550000011" in forwarded
    assert credits_of(engine, acme.account.id) == before - 2
    bad = client.post(
        f"/dashboard/messages/{first}/forward", data={"csrf": csrf_of(page.text), "to": "banana"}
    )
    assert bad.status_code == 400 and 'role="alert"' in bad.text
    assert stored_count(engine) == 3


def test_a_form_without_its_csrf_token_is_refused(setup: tuple[TestClient, Engine, Tenant, Tenant]) -> None:
    client, engine, acme, _ = setup
    first = send(client, acme)
    sign_in(client, "acme-admin")
    for data in ({}, {"csrf": "forged"}):
        r = client.post(f"/dashboard/messages/{first}/resubmit", data=data)
        assert r.status_code == 403
    assert stored_count(engine) == 1
    form = client.get("/dashboard/login")  # signed in: to the overview
    assert form.url.path == "/dashboard"
    client.cookies.clear()
    r = client.post("/dashboard/login", data={"username": "acme-admin", "password": PASSWORD, "csrf": "x"})
    assert r.status_code == 403


def test_repeated_failures_are_throttled(setup: tuple[TestClient, Engine, Tenant, Tenant]) -> None:
    client, *_ = setup
    for _ in range(5):
        assert sign_in(client, "acme-admin", "nope nope").status_code == 401
    r = sign_in(client, "acme-admin")  # even the right password, until the window passes
    assert r.status_code == 429 and "Too many failed sign-ins" in r.text


def test_an_operator_sees_any_account(setup: tuple[TestClient, Engine, Tenant, Tenant]) -> None:
    client, _engine, acme, other = setup
    theirs = send(client, other, body="other's text")
    assert sign_in(client, "acme-admin", operator="1").status_code == 401  # not an operator
    assert sign_in(client, "ops", operator="1").status_code == 303
    page = client.get(f"/dashboard/messages?account={other.account.id}")
    assert "other&#39;s text" in page.text
    assert client.get(f"/dashboard/messages/{theirs}?account={other.account.id}").status_code == 200
    assert client.get(f"/dashboard?account={acme.account.id}").status_code == 200


def test_assets_are_served_by_the_gateway(setup: tuple[TestClient, Engine, Tenant, Tenant]) -> None:
    client, *_ = setup
    page = client.get("/dashboard/login").text
    assets = re.findall(r'(?:src|href)="(/dashboard/static/[^"]+)"', page)
    assert len(assets) == 5 and "://" not in page
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_the_throttle_is_shared_by_every_process_on_the_database(
    setup: tuple[TestClient, Engine, Tenant, Tenant], tmp_path: Path
) -> None:
    """Failures counted by one gateway hold on another one using the same database (another node or API
    process), per username and per address, until the window passes."""
    client, engine, *_ = setup
    for _ in range(3):
        assert sign_in(client, "other-admin", "nope nope").status_code == 401
    second = create_app(Settings(database_url=str(engine.url)), workers=False)
    with TestClient(second, base_url="http://127.0.0.1") as other_node:
        for _ in range(2):
            assert sign_in(other_node, "other-admin", "still wrong").status_code == 401
        r = sign_in(other_node, "other-admin")
        assert r.status_code == 429 and "Too many failed sign-ins" in r.text
        assert sign_in(client, "other-admin").status_code == 429
        # The address is held up too, for any username (five failures from it).
        assert sign_in(other_node, "acme-admin").status_code == 429
    with engine.begin() as conn:  # the window passed
        conn.execute(update(rate_buckets).values(stamp=rate_buckets.c.stamp - signin_throttle.FAILURE_WINDOW))
    assert sign_in(client, "other-admin").status_code == 303


def test_a_user_created_by_text_connect_create_user_signs_in_and_sees_only_its_own(
    setup: tuple[TestClient, Engine, Tenant, Tenant],
) -> None:
    """The seed's CreateUser example, then that user signs in to the dashboard with its own username and
    password and sees its own messages only, not its parent's."""
    from tests.providers.textconnect import seed
    from tests.providers.textconnect.util import PATH

    client, _engine, acme, _other = setup
    parents = send(client, acme, body="the parent's own text")
    values = {
        "Child Username": "bob.smith",
        "Child Password": "correct-horse",
        "User\u2019s First Name": "Bob",
        "User\u2019s Last Name": "Smith",
        "User\u2019s Email": "bob@example.com",
    }
    created = client.get(f"{PATH}?{seed.example_query(seed.CREATE_USER_URL, acme.key.secret, **values)}")
    assert created.text == "1"
    assert sign_in(client, "bob.smith", "wrong password").status_code == 401
    assert sign_in(client, "bob.smith", "correct-horse").status_code == 303
    page = client.get("/dashboard").text
    who = re.search(r"class=\"who\">([^<]+)<", page)
    assert who is not None and who.group(1).strip() == "Bob Smith", page
    assert parents not in client.get("/dashboard/messages").text
    assert client.get(f"/dashboard/messages/{parents}").status_code == 404


def test_a_csrf_token_that_is_not_ascii_is_refused_not_a_crash(
    setup: tuple[TestClient, Engine, Tenant, Tenant],
) -> None:
    client, _engine, acme, _ = setup
    mine = send(client, acme)
    assert sign_in(client, "acme-admin").status_code == 303
    for token in ("é", "%ED%A0%80"):  # a non-ASCII character; a lone surrogate's bytes
        r = client.post(
            f"/dashboard/messages/{mine}/resubmit",
            content=f"csrf={token}".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 403, token
