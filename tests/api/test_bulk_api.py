"""/v1/bulk-sends and /v1/blocklist: acceptance, progress as the bulk worker expands, results, refusals."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import Engine

from tests.helpers import ManualClock, Tenant, make_tenant
from textgate.workers.bulk import BulkWorker


@pytest.fixture
def rich(engine: Engine, clock: ManualClock) -> Tenant:
    return make_tenant(engine, name="rich", credits=1000, number="+15551235555", now=clock())


def _h(t: Tenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {t.key.secret}"}


def _group(client: TestClient, headers: dict[str, str], n: int, name: str = "all") -> None:
    lines = "\n".join(f"Person {i},+1555{i:07d},,{name}" for i in range(n))
    r = client.post(
        "/v1/contacts/import", content=lines.encode(), headers={**headers, "Content-Type": "text/csv"}
    )
    assert r.json()["added"] == n, r.text


def _bulk(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    return client.post(
        "/v1/bulk-sends", json={"from": "+15551230001", "body": "hi all"} | body, headers=headers
    )


def test_small_bulk_send_is_expanded_at_once(client: TestClient, auth: dict[str, str]) -> None:
    _group(client, auth, 3)
    client.post("/v1/blocklist", json={"number": "+15550000001"}, headers=auth)
    r = _bulk(client, auth, group="all", client_ref="march")
    assert r.status_code == 202, r.text
    view = r.json()
    assert (view["status"], view["recipients"], view["messages_created"]) == ("finished", 3, 3)
    assert view["messages_by_status"] == {"failed": 1, "queued": 2}
    assert view["target"]["type"] == "group" and view["target"]["name"] == "all"
    # Three reserved, the blocked recipient's credit returned.
    assert client.get("/v1/account", headers=auth).json()["credits"] == 98
    assert client.get(f"/v1/bulk-sends/{view['id']}", headers=auth).json()["messages_by_status"] == {
        "failed": 1,
        "queued": 2,
    }
    assert [b["id"] for b in client.get("/v1/bulk-sends", headers=auth).json()["data"]] == [view["id"]]
    page = client.get(f"/v1/bulk-sends/{view['id']}/messages", params={"limit": 2}, headers=auth).json()
    assert len(page["data"]) == 2 and page["next_cursor"]
    rest = client.get(
        f"/v1/bulk-sends/{view['id']}/messages", params={"cursor": page["next_cursor"]}, headers=auth
    ).json()
    results = page["data"] + rest["data"]
    assert rest["next_cursor"] is None and len(results) == 3
    assert all(m["batch_id"] == view["id"] and m["client_ref"] == "march" for m in results)
    blocked = next(m for m in results if m["to"] == "+15550000001")
    assert (blocked["status"], blocked["error_code"]) == ("failed", "destination_blocked")


def test_large_bulk_send_progresses_with_the_worker(
    client: TestClient, rich: Tenant, engine: Engine, clock: ManualClock
) -> None:
    _group(client, _h(rich), 201)
    r = _bulk(client, _h(rich), **{"from": rich.number, "group": "all"})
    assert r.status_code == 202, r.text
    view = r.json()
    assert (view["status"], view["recipients"], view["messages_created"]) == ("queued", 201, 0)
    assert view["credits_reserved"] == 201
    assert client.get("/v1/account", headers=_h(rich)).json()["credits"] == 799
    before = REGISTRY.get_sample_value("textgate_messages_accepted_total", {"source": "bulk"}) or 0.0
    assert BulkWorker(engine, clock=clock).round() == 201
    # Counted in /metrics like any send's messages, once they exist.
    assert REGISTRY.get_sample_value("textgate_messages_accepted_total", {"source": "bulk"}) == before + 201
    after = client.get(f"/v1/bulk-sends/{view['id']}", headers=_h(rich)).json()
    assert (after["status"], after["messages_created"], after["messages_by_status"]) == (
        "finished",
        201,
        {"queued": 201},
    )


def test_bulk_send_to_a_list_by_id(client: TestClient, auth: dict[str, str]) -> None:
    lid = client.post("/v1/lists", json={"name": "promo"}, headers=auth).json()["id"]
    entries = [{"number": "+15550000001"}, {"number": "+15550000002"}]
    client.post(f"/v1/lists/{lid}/entries", json={"entries": entries}, headers=auth)
    view = _bulk(client, auth, list=lid).json()
    assert (view["target"]["type"], view["target"]["id"], view["recipients"]) == ("list", lid, 2)


def test_bulk_send_errors(
    client: TestClient, auth: dict[str, str], engine: Engine, clock: ManualClock
) -> None:
    _group(client, auth, 2)
    client.post("/v1/groups", json={"name": "empty"}, headers=auth)
    for body, status, field in (
        ({"group": "all", "list": "promo"}, 422, "group"),
        ({}, 422, "group"),
        ({"group": "nope"}, 404, "group"),
        ({"list": "nope"}, 404, "list"),
        ({"group": "empty"}, 400, "group"),
        ({"group": "all", "body": ""}, 400, "body"),
        ({"group": "all", "from": "Way Too Long Sender"}, 400, "from"),
        ({"group": "all", "extra": 1}, 422, "extra"),
        ({"group": "all", "schedule_at": "soon"}, 422, "schedule_at"),
    ):
        r = _bulk(client, auth, **body)
        assert (r.status_code, r.json()["error"]["field"]) == (status, field), (body, r.text)
    poor = make_tenant(engine, name="poor", credits=1, number="+15551237777", now=clock())
    _group(client, _h(poor), 2)
    r = _bulk(client, _h(poor), **{"from": poor.number, "group": "all"})
    assert (r.status_code, r.json()["error"]["code"]) == (402, "insufficient_credits")
    assert client.get("/v1/bulk-sends", headers=_h(poor)).json()["data"] == []


def test_other_tenants_bulk_sends_are_404(client: TestClient, auth: dict[str, str], rich: Tenant) -> None:
    _group(client, auth, 1)
    bulk_id = _bulk(client, auth, group="all").json()["id"]
    assert client.get(f"/v1/bulk-sends/{bulk_id}", headers=_h(rich)).status_code == 404
    assert client.get(f"/v1/bulk-sends/{bulk_id}/messages", headers=_h(rich)).status_code == 404
    assert client.get("/v1/bulk-sends", headers=_h(rich)).json()["data"] == []
    r = _bulk(client, _h(rich), **{"from": rich.number, "group": "all"})  # auth's group, by name
    assert r.status_code == 404
    assert client.get("/v1/bulk-sends/bul_%00", headers=auth).status_code == 404
    r = client.get(f"/v1/bulk-sends/{bulk_id}/messages", params={"cursor": "a\x00"}, headers=auth)
    assert (r.status_code, r.json()["error"]["field"]) == (400, "cursor")


def test_blocklist(client: TestClient, auth: dict[str, str], rich: Tenant) -> None:
    r = client.post("/v1/blocklist", json={"number": "555-000-0001", "note": "asked"}, headers=auth)
    assert r.status_code == 201, r.text
    assert r.json() == {"number": "+15550000001", "note": "asked", "created_at": "2026-03-15T14:30:00.000Z"}
    again = client.post("/v1/blocklist", json={"number": "+15550000001"}, headers=auth)
    assert again.status_code == 201 and again.json()["note"] == "asked"
    assert client.get("/v1/blocklist", headers=auth).json()["data"] == [r.json()]
    assert client.get("/v1/blocklist", headers=_h(rich)).json()["data"] == []
    assert client.delete("/v1/blocklist/+15550000001", headers=_h(rich)).status_code == 404
    sent = client.post(
        "/v1/messages", json={"from": "+15551230001", "to": "+15550000001", "body": "x"}, headers=auth
    )
    assert sent.json()["messages"][0]["error_code"] == "destination_blocked"
    assert client.delete("/v1/blocklist/+15550000001", headers=auth).status_code == 204
    r = client.delete("/v1/blocklist/+15550000001", headers=auth)
    assert (r.status_code, r.json()["error"]["field"]) == (404, "number")
    r = client.post("/v1/blocklist", json={"number": "banana"}, headers=auth)
    assert (r.status_code, r.json()["error"]["field"]) == (400, "number")
    r = client.post("/v1/blocklist", json={"number": "+15550000001", "note": "x" * 201}, headers=auth)
    assert (r.status_code, r.json()["error"]["field"]) == (422, "note")
