"""/v1/lists and their mail-merge entries through the HTTP API, on both databases."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock, make_tenant


def _make(client: TestClient, auth: dict[str, str]) -> str:
    r = client.post("/v1/lists", json={"name": "promo", "field_names": ["first", "code"]}, headers=auth)
    assert r.status_code == 201, r.text
    assert (r.json()["size"], r.json()["field_names"]) == (0, ["first", "code"])
    return str(r.json()["id"])


def test_list_lifecycle(client: TestClient, auth: dict[str, str]) -> None:
    lid = _make(client, auth)
    entries = [
        {"number": "+15550000001", "name": "Ada", "fields": ["Ada", "A1"]},
        {"number": "5550000002", "email": "bob@example.com", "fields": ["Bob", "B2"]},
    ]
    r = client.post(f"/v1/lists/{lid}/entries", json={"entries": entries}, headers=auth)
    assert (r.status_code, r.json()) == (200, {"added": 2, "updated": 0})
    again = [{"number": "+15550000001", "fields": ["Ada", "A9"]}]
    assert client.post(f"/v1/lists/{lid}/entries", json={"entries": again}, headers=auth).json() == {
        "added": 0,
        "updated": 1,
    }
    assert client.get(f"/v1/lists/{lid}", headers=auth).json()["size"] == 2
    first = client.get(f"/v1/lists/{lid}/entries", params={"limit": 1}, headers=auth).json()
    assert first["data"][0]["merge"] == {"first": "Ada", "code": "A9"} and first["next_cursor"]
    rest = client.get(
        f"/v1/lists/{lid}/entries", params={"cursor": first["next_cursor"]}, headers=auth
    ).json()
    assert [e["number"] for e in rest["data"]] == ["+15550000002"] and rest["next_cursor"] is None
    assert [d["name"] for d in client.get("/v1/lists", headers=auth).json()["data"]] == ["promo"]

    assert client.delete(f"/v1/lists/{lid}/entries/5550000002", headers=auth).status_code == 204
    r = client.delete(f"/v1/lists/{lid}/entries/+15550000002", headers=auth)
    assert (r.status_code, r.json()["error"]["field"]) == (404, "number")
    assert client.delete(f"/v1/lists/{lid}", headers=auth).status_code == 204
    assert client.get(f"/v1/lists/{lid}", headers=auth).status_code == 404


def test_list_errors(client: TestClient, auth: dict[str, str]) -> None:
    lid = _make(client, auth)
    r = client.post("/v1/lists", json={"name": "promo"}, headers=auth)
    assert (r.status_code, r.json()["error"]["field"]) == (409, "name")
    r = client.post("/v1/lists", json={"name": "x", "field_names": list("abcdef")}, headers=auth)
    assert (r.status_code, r.json()["error"]["field"]) == (422, "field_names")
    bad = [{"number": "+15550000001"}, {"number": "nope"}]
    r = client.post(f"/v1/lists/{lid}/entries", json={"entries": bad}, headers=auth)
    assert (r.status_code, r.json()["error"]["field"]) == (400, "entries[1].number")
    assert client.get(f"/v1/lists/{lid}", headers=auth).json()["size"] == 0  # all or nothing
    r = client.post(f"/v1/lists/{lid}/entries", json={"entries": [{"number": "+1", "x": 1}]}, headers=auth)
    assert r.status_code == 422 and r.json()["error"]["field"] == "entries.0.x"
    r = client.get(f"/v1/lists/{lid}/entries", params={"cursor": "abc"}, headers=auth)
    assert (r.status_code, r.json()["error"]["field"]) == (400, "cursor")


def test_other_tenants_lists_are_404(
    client: TestClient, auth: dict[str, str], engine: Engine, clock: ManualClock
) -> None:
    lid = _make(client, auth)
    other = make_tenant(engine, name="other", number="+15551239999", now=clock())
    theirs = {"Authorization": f"Bearer {other.key.secret}"}
    assert client.get("/v1/lists", headers=theirs).json() == {"data": []}
    for method, path in (
        ("GET", f"/v1/lists/{lid}"),
        ("GET", f"/v1/lists/{lid}/entries"),
        ("DELETE", f"/v1/lists/{lid}/entries/+15550000001"),
        ("DELETE", f"/v1/lists/{lid}"),
    ):
        assert client.request(method, path, headers=theirs).status_code == 404
    r = client.post(
        f"/v1/lists/{lid}/entries", json={"entries": [{"number": "+15550000001"}]}, headers=theirs
    )
    assert r.status_code == 404
    assert client.get(f"/v1/lists/{lid}", headers=auth).json()["size"] == 0
