"""/v1/contacts, /v1/contacts/import and /v1/groups through the HTTP API, on both databases."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tests.helpers import ManualClock, make_tenant
from textgate.store.schema import contacts


def _add(client: TestClient, auth: dict[str, str], **body: object) -> dict[str, object]:
    payload = {"name": "Ada", "number": "+15550000001"} | body
    r = client.post("/v1/contacts", json=payload, headers=auth)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


@pytest.fixture
def other(engine: Engine, clock: ManualClock) -> dict[str, str]:
    t = make_tenant(engine, name="other", number="+15551239999", now=clock())
    return {"Authorization": f"Bearer {t.key.secret}"}


def test_contact_crud(client: TestClient, auth: dict[str, str]) -> None:
    made = _add(client, auth, number="5550000001", email="ada@example.com", groups=["vip", "customers"])
    assert made["number"] == "+15550000001" and made["groups"] == ["customers", "vip"]
    assert made["created_at"] == "2026-03-15T14:30:00.000Z" and str(made["id"]).startswith("con_")
    cid = made["id"]
    assert client.get(f"/v1/contacts/{cid}", headers=auth).json() == made

    r = client.patch(f"/v1/contacts/{cid}", json={"name": "Ada L", "groups": ["vip"]}, headers=auth)
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["email"], r.json()["groups"]) == ("Ada L", "ada@example.com", ["vip"])
    r = client.patch(f"/v1/contacts/{cid}", json={"email": None}, headers=auth)
    assert r.json()["email"] is None and r.json()["name"] == "Ada L"

    assert client.delete(f"/v1/contacts/{cid}", headers=auth).status_code == 204
    assert client.get(f"/v1/contacts/{cid}", headers=auth).status_code == 404
    assert client.delete(f"/v1/contacts/{cid}", headers=auth).status_code == 404


def test_list_pages_filters_and_searches(client: TestClient, auth: dict[str, str]) -> None:
    for i in range(5):
        _add(
            client, auth, name=f"Person {i}", number=f"+1555000000{i}", groups=["even"] if i % 2 == 0 else []
        )
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = client.get("/v1/contacts", params=params, headers=auth).json()
        seen += [c["name"] for c in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"Person {i}" for i in range(5)]
    evens = client.get("/v1/contacts", params={"group": "even"}, headers=auth).json()["data"]
    assert sorted(c["name"] for c in evens) == ["Person 0", "Person 2", "Person 4"]
    found = client.get("/v1/contacts", params={"search": "person 3"}, headers=auth).json()["data"]
    assert [c["name"] for c in found] == ["Person 3"]
    r = client.get("/v1/contacts", params={"group": "nope"}, headers=auth)
    assert (r.status_code, r.json()["error"]["field"]) == (404, "group")


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"number": "banana"}, 400, "number"),
        ({"name": "  "}, 400, "name"),
        ({"email": "not-an-email"}, 400, "email"),
        ({"nickname": "x"}, 422, "nickname"),
        ({"groups": "vip"}, 422, "groups"),
    ],
)
def test_create_contact_errors_name_the_field(
    client: TestClient, auth: dict[str, str], body: dict[str, object], status: int, field: str
) -> None:
    r = client.post("/v1/contacts", json={"name": "Ada", "number": "+15550000001"} | body, headers=auth)
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == field


def test_duplicates_are_409(client: TestClient, auth: dict[str, str]) -> None:
    _add(client, auth)
    r = client.post("/v1/contacts", json={"name": "Ada", "number": "+15550000002"}, headers=auth)
    assert (r.status_code, r.json()["error"]["code"], r.json()["error"]["field"]) == (409, "conflict", "name")
    r = client.post("/v1/contacts", json={"name": "Bob", "number": "+15550000001"}, headers=auth)
    assert (r.status_code, r.json()["error"]["field"]) == (409, "number")
    bob = _add(client, auth, name="Bob", number="+15550000002")
    r = client.patch(f"/v1/contacts/{bob['id']}", json={"number": "+15550000001"}, headers=auth)
    assert (r.status_code, r.json()["error"]["field"]) == (409, "number")
    r = client.patch(f"/v1/contacts/{bob['id']}", json={"name": None}, headers=auth)
    assert (r.status_code, r.json()["error"]["field"]) == (400, "name")


def test_delete_all_contacts(client: TestClient, auth: dict[str, str], engine: Engine) -> None:
    _add(client, auth, groups=["g"])
    _add(client, auth, name="Bob", number="+15550000002")
    r = client.delete("/v1/contacts", headers=auth)
    assert (r.status_code, r.json()) == (200, {"deleted": 2})
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(contacts)).scalar_one() == 0
    assert client.get("/v1/groups", headers=auth).json()["data"][0]["members"] == 0


def test_tenants_see_only_their_own(client: TestClient, auth: dict[str, str], other: dict[str, str]) -> None:
    mine = _add(client, auth, groups=["vip"])
    group_id = client.get("/v1/groups", headers=auth).json()["data"][0]["id"]
    assert client.get("/v1/contacts", headers=other).json() == {"data": [], "next_cursor": None}
    for method, path in (
        ("GET", f"/v1/contacts/{mine['id']}"),
        ("PATCH", f"/v1/contacts/{mine['id']}"),
        ("DELETE", f"/v1/contacts/{mine['id']}"),
        ("GET", f"/v1/groups/{group_id}"),
        ("GET", f"/v1/groups/{group_id}/members"),
        ("DELETE", f"/v1/groups/{group_id}/members"),
        ("DELETE", f"/v1/groups/{group_id}"),
    ):
        kwargs: dict[str, object] = {"json": {"name": "x"}} if method == "PATCH" else {}
        r = client.request(method, path, headers=other, **kwargs)  # type: ignore[arg-type]
        assert r.status_code == 404, (method, path, r.text)
    theirs = client.post("/v1/groups", json={"name": "theirs"}, headers=other).json()
    r = client.post(f"/v1/groups/{theirs['id']}/members", json={"contact_ids": [mine["id"]]}, headers=other)
    assert (r.status_code, r.json()["error"]["field"]) == (404, "contact_ids")
    assert client.delete("/v1/contacts", headers=other).json() == {"deleted": 0}
    assert client.get(f"/v1/contacts/{mine['id']}", headers=auth).status_code == 200
    assert client.get("/v1/contacts/con_%00", headers=auth).status_code == 404
    assert client.get("/v1/contacts", headers={}).status_code == 401


def test_groups_and_members(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post("/v1/groups", json={"name": "team"}, headers=auth)
    assert r.status_code == 201 and r.json()["members"] == 0
    gid = r.json()["id"]
    assert client.post("/v1/groups", json={"name": "team"}, headers=auth).status_code == 409
    a = _add(client, auth)
    b = _add(client, auth, name="Bob", number="+15550000002")
    r = client.post(f"/v1/groups/{gid}/members", json={"contact_ids": [a["id"], b["id"]]}, headers=auth)
    assert r.json() == {"added": 2}
    r = client.post(f"/v1/groups/{gid}/members", json={"contact_ids": [a["id"]]}, headers=auth)
    assert r.json() == {"added": 0}
    page = client.get(f"/v1/groups/{gid}/members", params={"limit": 1}, headers=auth).json()
    assert len(page["data"]) == 1 and page["next_cursor"]
    rest = client.get(f"/v1/groups/{gid}/members", params={"cursor": page["next_cursor"]}, headers=auth)
    assert len(rest.json()["data"]) == 1 and rest.json()["next_cursor"] is None
    r = client.post(f"/v1/groups/{gid}/members/remove", json={"contact_ids": [a["id"]]}, headers=auth)
    assert r.json() == {"removed": 1}
    assert client.get(f"/v1/groups/{gid}", headers=auth).json()["members"] == 1
    assert client.delete(f"/v1/groups/{gid}/members", headers=auth).json() == {"removed": 1}
    assert client.delete(f"/v1/groups/{gid}", headers=auth).status_code == 204
    assert client.get(f"/v1/groups/{gid}", headers=auth).status_code == 404
    assert client.get(f"/v1/contacts/{a['id']}", headers=auth).status_code == 200
    r = client.post("/v1/groups", json={"name": ""}, headers=auth)
    assert (r.status_code, r.json()["error"]["field"]) == (400, "name")
    r = client.get("/v1/groups/grp_x/members", params={"limit": 0}, headers=auth)
    assert (r.status_code, r.json()["error"]["field"]) == (422, "limit")


CSV = "Ada,+15550000001,ada@example.com,vip\nBob,555-000-0002,not-an-email\nCy,banana\nAda,+15550000009\n"


def test_import_raw_csv(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post("/v1/contacts/import", content=CSV.encode(), headers={**auth, "Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["added"], body["updated"]) == (2, 0)
    assert body["counts"] == {"Success": 1, "Partial": 1, "Failed": 1, "Duplicate Name": 1}
    assert [(x["line"], x["outcome"]) for x in body["lines"]] == [
        (1, "Success"),
        (2, "Partial"),
        (3, "Failed"),
        (4, "Duplicate Name"),
    ]
    assert all(x["reasons"] for x in body["lines"][1:3])
    names = {c["name"] for c in client.get("/v1/contacts", headers=auth).json()["data"]}
    assert names == {"Ada", "Bob"}


def test_import_json_with_overwrite(client: TestClient, auth: dict[str, str]) -> None:
    _add(client, auth, name="Old name")
    r = client.post(
        "/v1/contacts/import",
        json={"csv": "New name,+15550000001,new@example.com,vip", "overwrite_dupes": True},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["added"], r.json()["updated"]) == (0, 1)
    [contact] = client.get("/v1/contacts", headers=auth).json()["data"]
    assert (contact["name"], contact["email"], contact["groups"]) == ("New name", "new@example.com", ["vip"])
    # The query options apply to a raw body.
    r = client.post(
        "/v1/contacts/import?ignore_dupes=true",
        content=b"New name,+15550000001",
        headers={**auth, "Content-Type": "text/csv"},
    )
    assert r.json()["added"] == 1


def test_import_errors(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post("/v1/contacts/import", json={"csv": "a,b", "merge": True}, headers=auth)
    assert (r.status_code, r.json()["error"]["field"]) == (422, "merge")
    r = client.post("/v1/contacts/import", json={"ignore_dupes": True}, headers=auth)
    assert (r.status_code, r.json()["error"]["field"]) == (422, "csv")
    r = client.post(
        "/v1/contacts/import", content=b"\xff\xfeA,1", headers={**auth, "Content-Type": "text/csv"}
    )
    assert (r.status_code, r.json()["error"]["field"]) == (400, "csv")
    r = client.post(
        "/v1/contacts/import", content=b"{nope", headers={**auth, "Content-Type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation"
