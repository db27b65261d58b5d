"""The Numbers page over HTTP: the account's numbers, the Manage page of one (inbound forwarding in
Text-Connect's shape: URL, method, auth, format, supplemental-data list), saved, shown on reload, read back
through the webhooks API and used by the gateway for an inbound message; the private-URL guard; tenancy;
an operator; CSRF."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tests.helpers import Tenant
from tests.web.dashboard_kit import csrf_of, sign_in
from textgate.service.inbound import receive_inbound
from textgate.service.lists import ListEntryInput, add_list_entries, create_list
from textgate.store.schema import webhook_deliveries

Setup = tuple[TestClient, Engine, Tenant, Tenant]
PUBLIC = "http://93.184.216.34/sms/incoming.php"  # a literal public address: no DNS needed
ACME = "/dashboard/numbers/%2B15551230001"


def _save(client: TestClient, path: str, account: str = "", **fields: str) -> object:
    page = client.get(path + (f"?account={account}" if account else ""))
    data = {
        "csrf": csrf_of(page.text),
        "account": account,
        "format": "textconnect",
        "method": "GET",
        **fields,
    }
    return client.post(f"{path}/forwarding", data=data, follow_redirects=False)


def _hooks(client: TestClient, tenant: Tenant) -> list[dict[str, Any]]:
    """The tenant's webhook endpoints, read back over the API."""
    hooks: list[dict[str, Any]] = client.get(
        "/v1/webhooks", headers={"Authorization": f"Bearer {tenant.key.secret}"}
    ).json()["data"]
    return hooks


def test_the_page_lists_the_accounts_numbers(setup: Setup) -> None:
    client, _engine, acme, other = setup
    sign_in(client, "acme-admin")
    page = client.get("/dashboard/numbers")
    assert page.status_code == 200
    assert acme.number in page.text and other.number not in page.text
    assert f'href="{ACME}"' in page.text and "active" in page.text and "not forwarded" in page.text
    manage = client.get(ACME)
    assert manage.status_code == 200
    for label in ("Forwarding URL", "Format", "Method", "auth value", "Supplemental data list"):
        assert f">{label}</label>" in manage.text, label
    assert 'name="csrf"' in manage.text


def test_forwarding_is_saved_shown_and_used_by_the_gateway(setup: Setup) -> None:
    client, engine, acme, _other = setup
    now = datetime.now(UTC)
    with engine.begin() as conn:
        found = create_list(conn, acme.account, "Customers", ["Town"], now=now)
        entry = ListEntryInput(
            number="+15550000009", name="Ann Lee", email="ann@example.com", fields=["Leeds"]
        )
        add_list_entries(conn, acme.account, found.id, [entry], now=now)
    sign_in(client, "acme-admin")
    assert '<option value="Customers">Customers</option>' in client.get(ACME).text
    r = _save(client, ACME, url=PUBLIC, method="POST", auth="s3cret", mailmerge_list="Customers")
    assert r.status_code == 303 and r.headers["location"] == f"{ACME}?done=saved"
    shown = client.get(r.headers["location"])
    assert "Forwarding saved" in shown.text
    assert f'value="{PUBLIC}"' in shown.text and 'value="s3cret"' in shown.text
    assert '<option value="POST" selected>' in shown.text
    assert '<option value="Customers" selected>' in shown.text
    assert PUBLIC in client.get("/dashboard/numbers").text

    hooks = _hooks(client, acme)
    (hook,) = hooks
    assert (hook["url"], hook["format"], hook["number"], hook["events"]) == (
        PUBLIC,
        "textconnect",
        acme.number,
        ["message.received"],
    )
    assert hook["options"] == {"method": "POST", "auth": "s3cret", "mailmerge_list": "Customers"}

    with engine.begin() as conn:
        view = receive_inbound(
            conn, from_addr="+15550000009", to_addr=acme.number, body="hi", now=now, source="t"
        )
    with engine.connect() as conn:
        (delivery,) = conn.execute(select(webhook_deliveries)).all()
    assert (delivery.method, delivery.content_type) == ("POST", "application/x-www-form-urlencoded")
    form = dict(parse_qsl(delivery.payload, keep_blank_values=True))
    assert form["id"] == view["id"] and form["auth"] == "s3cret" and form["MMName"] == "Ann Lee"

    # Changed in place (the same endpoint), now by GET.
    assert _save(client, ACME, url=PUBLIC + "?site=2", method="GET").status_code == 303
    (again,) = _hooks(client, acme)
    assert again["id"] == hook["id"] and again["options"] == {"method": "GET"}
    with engine.begin() as conn:
        receive_inbound(conn, from_addr="+15550000008", to_addr=acme.number, body="yo", now=now, source="t")
    with engine.connect() as conn:
        latest = conn.execute(select(webhook_deliveries).order_by(webhook_deliveries.c.seq.desc())).first()
    assert latest is not None and latest.method == "GET"
    target = urlsplit(latest.target_url)
    assert dict(parse_qsl(target.query))["site"] == "2" and dict(parse_qsl(target.query))["msg"] == "yo"

    page = client.get(ACME)
    stop = client.post(f"{ACME}/forwarding/stop", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert stop.status_code == 303 and stop.headers["location"] == f"{ACME}?done=stopped"
    assert _hooks(client, acme) == []


def test_a_private_url_is_refused_naming_the_field_and_nothing_is_written(setup: Setup) -> None:
    client, _engine, acme, _other = setup
    sign_in(client, "acme-admin")
    for url in ("http://10.0.0.5/sms", "http://127.0.0.1:9/sms", "ftp://93.184.216.34/x"):
        r = _save(client, ACME, url=url, auth="kept")
        assert r.status_code == 400, url
        assert "Forwarding URL: " in r.text and 'role="alert"' in r.text
        assert f'value="{url}"' in r.text and 'value="kept"' in r.text  # the form as typed
        assert 'aria-invalid="true" aria-describedby="forward-error"' in r.text
    bad_list = _save(client, ACME, url=PUBLIC, mailmerge_list="Nope")
    assert bad_list.status_code == 400 and "Supplemental data list: " in bad_list.text
    bad_method = _save(client, ACME, url=PUBLIC, method="PUT")
    assert bad_method.status_code == 400 and "Method: must be GET or POST" in bad_method.text
    wrong_format = _save(client, ACME, url=PUBLIC, format="standard", auth="x")
    assert wrong_format.status_code == 400 and "auth value: " in wrong_format.text
    assert _hooks(client, acme) == []


def test_another_accounts_number_is_not_found(setup: Setup) -> None:
    client, _engine, _acme, other = setup
    sign_in(client, "acme-admin")
    theirs = "/dashboard/numbers/%2B15551238888"
    assert client.get(theirs).status_code == 404
    assert client.get("/dashboard/numbers/%2B15557770000").status_code == 404
    assert client.get("/dashboard/numbers/not-a-number").status_code == 404
    csrf = csrf_of(client.get(ACME).text)
    r = client.post(f"{theirs}/forwarding", data={"csrf": csrf, "url": PUBLIC, "format": "textconnect"})
    assert r.status_code == 404
    assert client.post(f"{theirs}/forwarding/stop", data={"csrf": csrf}).status_code == 404
    assert _hooks(client, other) == []
    # Only an operator changes a number's status.
    assert client.post(f"{ACME}/status", data={"csrf": csrf, "status": "inactive"}).status_code == 403


def test_posts_without_the_csrf_token_are_refused(setup: Setup) -> None:
    client, _engine, acme, _other = setup
    sign_in(client, "acme-admin")
    r = client.post(f"{ACME}/forwarding", data={"url": PUBLIC, "format": "textconnect"})
    assert r.status_code == 403
    assert client.post(f"{ACME}/forwarding/stop").status_code == 403
    assert _hooks(client, acme) == []


def test_an_operator_manages_an_accounts_number(setup: Setup) -> None:
    client, _engine, _acme, other = setup
    sign_in(client, "ops", operator="1")
    assert '<label for="account">Account id</label>' in client.get("/dashboard/numbers").text
    listing = client.get(f"/dashboard/numbers?account={other.account.id}")
    theirs = "/dashboard/numbers/%2B15551238888"
    assert f'href="{theirs}?account={other.account.id}"' in listing.text
    r = _save(client, theirs, account=other.account.id, url=PUBLIC)
    assert r.status_code == 303 and r.headers["location"] == f"{theirs}?account={other.account.id}&done=saved"
    page = client.get(r.headers["location"])
    assert f'value="{PUBLIC}"' in page.text
    status = client.post(
        f"{theirs}/status",
        data={"csrf": csrf_of(page.text), "account": other.account.id, "status": "inactive"},
        follow_redirects=False,
    )
    assert status.status_code == 303
    assert 'id="field-status" class="status status-inactive"' in client.get(status.headers["location"]).text
    # Without an account, or with the wrong one, the number is not found.
    assert client.get(theirs).status_code == 404
    assert client.get(f"{theirs}?account=acc_nope").status_code == 404
