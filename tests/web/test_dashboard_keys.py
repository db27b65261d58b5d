"""The API keys page over HTTP: the list, creating a key (its secret shown once, and it works against the
API), revoking it (then refused, 401), tenancy, an operator's choice of account, CSRF."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import Tenant
from tests.web.dashboard_kit import csrf_of, sign_in

Setup = tuple[TestClient, Engine, Tenant, Tenant]


def _secret_of(html: str) -> str:
    match = re.search(r'id="secret" class="secret" value="(tgs_[^"]+)"', html)
    assert match, html
    return match.group(1)


def _create(client: TestClient, name: str, account: str = "", **extra: str) -> object:
    page = client.get("/dashboard/keys" + (f"?account={account}" if account else ""))
    data = {"csrf": csrf_of(page.text), "name": name, "account": account, **extra}
    return client.post("/dashboard/keys", data=data, follow_redirects=False)


def test_the_page_lists_the_accounts_own_keys(setup: Setup) -> None:
    client, _engine, acme, other = setup
    sign_in(client, "acme-admin")
    page = client.get("/dashboard/keys")
    assert page.status_code == 200
    assert acme.key.key_id in page.text and other.key.key_id not in page.text
    assert '<label for="key-name">Name</label>' in page.text
    assert '<label for="bestsms-answers">BestSMS answers</label>' in page.text
    assert 'name="csrf"' in page.text


def test_create_shows_the_secret_once_it_works_and_revoke_refuses_it(setup: Setup) -> None:
    client, _engine, acme, _other = setup
    sign_in(client, "acme-admin")
    r = _create(client, "api@acme.example", bestsms_answers="plain")
    assert r.status_code == 303
    location = r.headers["location"]
    assert re.fullmatch(r"/dashboard/keys/key_\w+/created", location)
    assert "tgs_" not in location  # never in a URL
    key_id = location.split("/")[3]

    shown = client.get(location)
    assert shown.status_code == 200
    secret = _secret_of(shown.text)
    assert "cannot be shown again" in shown.text
    again = client.get(location)
    assert secret not in again.text and 'id="secret-gone"' in again.text

    api = client.get("/v1/account", headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 200 and api.json()["id"] == acme.account.id
    listing = client.get("/dashboard/keys")
    assert "api@acme.example" in listing.text and key_id in listing.text
    row = re.search(rf'<tr id="key-{key_id}">.*?</tr>', listing.text, re.S)
    assert row and "plain" in row.group(0) and "active" in row.group(0)

    confirm = client.get(f"/dashboard/keys/{key_id}/revoke")
    assert confirm.status_code == 200 and 'id="revoke-key"' in confirm.text
    done = client.post(
        f"/dashboard/keys/{key_id}/revoke", data={"csrf": csrf_of(confirm.text)}, follow_redirects=False
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/dashboard/keys?done=revoked&key={key_id}"
    after = client.get(done.headers["location"])
    assert "revoked" in after.text and 'role="status"' in after.text
    assert client.get("/v1/account", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    # The account's first key still works.
    assert (
        client.get("/v1/account", headers={"Authorization": f"Bearer {acme.key.secret}"}).status_code == 200
    )


def test_errors_name_the_field_and_write_nothing(setup: Setup) -> None:
    client, _engine, _acme, _other = setup
    sign_in(client, "acme-admin")
    blank = _create(client, "   ")
    assert blank.status_code == 400
    assert "Name: key name must not be empty" in blank.text
    assert _create(client, "dup@acme").status_code == 303
    dup = _create(client, "dup@acme")
    assert dup.status_code == 400 and "Name: an API key named" in dup.text
    bad = _create(client, "odd@acme", bestsms_answers="xml")
    assert bad.status_code == 400 and "BestSMS answers" in bad.text
    assert "odd@acme" not in client.get("/dashboard/keys").text.split("<h2>")[0]


def test_another_accounts_key_is_not_found(setup: Setup) -> None:
    client, _engine, _acme, other = setup
    sign_in(client, "acme-admin")
    page = client.get("/dashboard/keys")
    theirs = other.key.key_id
    assert client.get(f"/dashboard/keys/{theirs}/revoke").status_code == 404
    assert client.get(f"/dashboard/keys/{theirs}/created").status_code == 404
    r = client.post(f"/dashboard/keys/{theirs}/revoke", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 404
    assert (
        client.get("/v1/account", headers={"Authorization": f"Bearer {other.key.secret}"}).status_code == 200
    )
    # An account cannot pick another account with ?account= either.
    assert theirs not in client.get(f"/dashboard/keys?account={other.account.id}").text


def test_posts_without_the_csrf_token_are_refused(setup: Setup) -> None:
    client, _engine, acme, _other = setup
    sign_in(client, "acme-admin")
    assert client.post("/dashboard/keys", data={"name": "x"}).status_code == 403
    r = client.post(f"/dashboard/keys/{acme.key.key_id}/revoke", data={"csrf": "nope"})
    assert r.status_code == 403
    assert (
        client.get("/v1/account", headers={"Authorization": f"Bearer {acme.key.secret}"}).status_code == 200
    )


def test_an_operator_chooses_the_account(setup: Setup) -> None:
    client, _engine, acme, other = setup
    sign_in(client, "ops", operator="1")
    empty = client.get("/dashboard/keys")
    assert empty.status_code == 200 and '<label for="account">Account id</label>' in empty.text
    assert acme.key.key_id not in empty.text
    page = client.get(f"/dashboard/keys?account={other.account.id}")
    assert other.key.key_id in page.text and acme.key.key_id not in page.text
    r = _create(client, "ops-made", account=other.account.id)
    assert r.status_code == 303 and r.headers["location"].endswith(f"?account={other.account.id}")
    secret = _secret_of(client.get(r.headers["location"]).text)
    assert client.get("/v1/account", headers={"Authorization": f"Bearer {secret}"}).json()["id"] == (
        other.account.id
    )
    assert client.get("/dashboard/keys?account=acc_nope").status_code == 404
