"""/v1/users and /v1/credits/transfers: sub-accounts, their keys and credits, and what they can see."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock, Tenant, make_tenant

USER = {
    "username": "dept01",
    "password": "correct horse",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
}


def _create(client: TestClient, auth: dict[str, str], **extra: Any) -> dict[str, Any]:
    r = client.post("/v1/users", json=USER | extra, headers=auth)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_create_get_list_and_suspend(client: TestClient, auth: dict[str, str]) -> None:
    made = _create(client, auth, credits=30, telephone="5550000001", access_level="admin")
    user, key = made["user"], made["api_key"]
    assert (user["username"], user["credits"], user["access_level"], user["telephone"]) == (
        "dept01",
        30,
        "admin",
        "+15550000001",
    )
    assert key["secret"].startswith("tgs_") and key["id"].startswith("key_")
    assert not any("password" in k or "hash" in k for k in user)
    assert client.get("/v1/account", headers=auth).json()["credits"] == 70
    child = {"Authorization": f"Bearer {key['secret']}"}
    assert client.get("/v1/account", headers=child).json()["credits"] == 30

    assert client.get("/v1/users/dept01", headers=auth).json() == user
    assert client.get(f"/v1/users/{user['id']}", headers=auth).json()["username"] == "dept01"
    assert [u["id"] for u in client.get("/v1/users", headers=auth).json()["data"]] == [user["id"]]
    assert "secret" not in client.get("/v1/users", headers=auth).text

    r = client.patch("/v1/users/dept01", json={"status": "suspended"}, headers=auth)
    assert (r.status_code, r.json()["status"]) == (200, "suspended")
    assert client.get("/v1/account", headers=child).status_code == 401
    client.patch("/v1/users/dept01", json={"status": "active"}, headers=auth)

    r = client.post("/v1/users/dept01/keys", headers=auth)
    assert r.status_code == 201 and r.json()["user_id"] == user["id"]
    second = {"Authorization": f"Bearer {r.json()['secret']}"}
    assert client.get("/v1/account", headers=second).json()["id"] == user["id"]


def test_user_errors(client: TestClient, auth: dict[str, str]) -> None:
    _create(client, auth)
    cases = [
        (USER, 409, "username"),
        (USER | {"username": "x"}, 400, "username"),
        (USER | {"username": "dept02", "password": "short"}, 400, "password"),
        (USER | {"username": "dept02", "credits": 1000}, 402, "credits"),
        (USER | {"username": "dept02", "access_level": "root"}, 422, "access_level"),
        (USER | {"username": "dept02", "pin": 1}, 422, "pin"),
        ({"username": "dept02"}, 422, "password"),
    ]
    for body, status, field in cases:
        r = client.post("/v1/users", json=body, headers=auth)
        assert (r.status_code, r.json()["error"]["field"]) == (status, field), (body, r.text)
    r = client.patch("/v1/users/dept01", json={"status": "asleep"}, headers=auth)
    assert (r.status_code, r.json()["error"]["field"]) == (422, "status")
    for method, path in (
        ("GET", "/v1/users/nobody"),
        ("PATCH", "/v1/users/nobody"),
        ("POST", "/v1/users/x/keys"),
    ):
        kwargs: dict[str, Any] = {"json": {"status": "active"}} if method == "PATCH" else {}
        r = client.request(method, path, headers=auth, **kwargs)
        assert (r.status_code, r.json()["error"]["field"]) == (404, "user"), path


def test_normal_users_cannot_manage(client: TestClient, auth: dict[str, str]) -> None:
    child = {"Authorization": f"Bearer {_create(client, auth)['api_key']['secret']}"}
    r = client.post("/v1/users", json=USER | {"username": "grandchild"}, headers=child)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "permission_denied")
    assert client.post("/v1/users/dept01/keys", headers=child).status_code == 403
    assert client.get("/v1/users", headers=child).json() == {"data": []}


def test_transfers(client: TestClient, auth: dict[str, str], tenant: Tenant, clock: ManualClock) -> None:
    user = _create(client, auth)["user"]
    r = client.post(
        "/v1/credits/transfers", json={"user": "dept01", "amount": 40, "note": "march"}, headers=auth
    )
    assert r.status_code == 201, r.text
    t = r.json()
    assert (t["from"], t["to"], t["amount"], t["parent_balance"], t["child_balance"], t["note"]) == (
        tenant.account.id,
        user["id"],
        40,
        60,
        40,
        "march",
    )
    clock.advance(1)
    r = client.post("/v1/credits/transfers", json={"user": user["id"], "amount": -15}, headers=auth)
    assert (r.json()["to"], r.json()["parent_balance"], r.json()["child_balance"]) == (t["from"], 75, 25)
    page = client.get("/v1/credits/transfers", params={"limit": 1}, headers=auth).json()
    assert page["data"][0]["amount"] == 15 and page["next_cursor"]
    rest = client.get("/v1/credits/transfers", params={"cursor": page["next_cursor"]}, headers=auth).json()
    assert [x["amount"] for x in rest["data"]] == [40] and rest["next_cursor"] is None
    for body, status, field in (
        ({"user": "dept01", "amount": 1000}, 402, "amount"),
        ({"user": "dept01", "amount": -1000}, 400, "amount"),
        ({"user": "dept01", "amount": 0}, 400, "amount"),
        ({"user": "stranger", "amount": 1}, 404, "user"),
        ({"user": "dept01", "amount": "lots"}, 422, "amount"),
    ):
        r = client.post("/v1/credits/transfers", json=body, headers=auth)
        assert (r.status_code, r.json()["error"]["field"]) == (status, field), body
    r = client.get("/v1/credits/transfers", params={"cursor": "garbage"}, headers=auth)
    assert (r.status_code, r.json()["error"]["field"]) == (400, "cursor")


def test_other_tenants_users_are_404(
    client: TestClient, auth: dict[str, str], engine: Engine, clock: ManualClock
) -> None:
    user = _create(client, auth)["user"]
    other = make_tenant(engine, name="other", number="+15551239999", now=clock())
    theirs = {"Authorization": f"Bearer {other.key.secret}"}
    assert client.get(f"/v1/users/{user['id']}", headers=theirs).status_code == 404
    r = client.post("/v1/credits/transfers", json={"user": "dept01", "amount": 1}, headers=theirs)
    assert r.status_code == 404
    assert client.get("/v1/credits/transfers", headers=theirs).json()["data"] == []


def test_child_cannot_see_parents_contacts(client: TestClient, auth: dict[str, str]) -> None:
    contact = client.post("/v1/contacts", json={"name": "Ada", "number": "+15550000001"}, headers=auth).json()
    child = {"Authorization": f"Bearer {_create(client, auth)['api_key']['secret']}"}
    assert client.get("/v1/contacts", headers=child).json()["data"] == []
    assert client.get(f"/v1/contacts/{contact['id']}", headers=child).status_code == 404
    # The child's own address book is its own: the same name is no duplicate there.
    r = client.post("/v1/contacts", json={"name": "Ada", "number": "+15550000001"}, headers=child)
    assert r.status_code == 201
