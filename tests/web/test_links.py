"""Tracked links end to end over HTTP: an account with ``link_tracking`` sends a text with links; the
links become short links (counted in parts and credits as sent); a visit redirects, is recorded in the
timeline and queues ``message.clicked`` (BestSMS: a report with Status UPDATED)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tests.helpers import Tenant, credits_of, make_tenant
from textgate.config import Settings
from textgate.domain.encoding import analyze
from textgate.service.accounts import update_account
from textgate.store.db import make_engine
from textgate.store.schema import link_clicks, short_links, webhook_deliveries
from textgate.webhooks.endpoints import create_endpoint

BASE = "https://go.example"
SHORT = re.compile(r"https://go\.example/l/([0-9A-Za-z]{8})")


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[TestClient, Engine, Tenant]]:
    from textgate.web.app import create_app

    url = f"sqlite:///{tmp_path}/t.db"
    app = create_app(Settings(database_url=url, short_link_url=BASE, allow_private_urls=True), workers=False)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        engine = make_engine(url)
        tenant = make_tenant(engine, credits=100)
        with engine.begin() as conn:
            update_account(conn, tenant.account.id, settings={"link_tracking": True})
        yield client, engine, tenant
    # The module-wide base URL goes back to the default for the tests that follow.
    create_app(Settings(database_url=url))


def send(client: TestClient, tenant: Tenant, body: str, to: str | list[str] = "+15550000001") -> list[dict]:
    r = client.post(
        "/v1/messages",
        json={"from": tenant.number, "to": to, "body": body},
        headers={"Authorization": f"Bearer {tenant.key.secret}"},
    )
    assert r.status_code == 202, r.text
    return list(r.json()["messages"])


def test_links_become_short_links_counted_as_sent(gateway: tuple[TestClient, Engine, Tenant]) -> None:
    client, engine, tenant = gateway
    long_url = "https://shop.example.com/offers/winter-sale?utm_source=sms&utm_campaign=" + "x" * 120
    body = f"Sale! See {long_url}. Or (http://b.example/q) and our own {BASE}/l/AAAAAAAA."
    (msg,) = send(client, tenant, body)
    codes = SHORT.findall(msg["body"])
    assert len(codes) == 3 and codes[2] == "AAAAAAAA"  # a link that is already ours stays as it is
    expected = body.replace(long_url, f"{BASE}/l/{codes[0]}").replace(
        "http://b.example/q", f"{BASE}/l/{codes[1]}"
    )
    assert msg["body"] == expected  # trailing '.' and ')' are not part of a link
    # One part, not the two the long text needs; one credit.
    assert analyze(body).segments == 2
    assert msg["segments"] == analyze(expected).segments == 1
    assert credits_of(engine, tenant.account.id) == 99
    with engine.connect() as conn:
        stored = {r.code: r.url for r in conn.execute(select(short_links))}
    assert stored == {codes[0]: long_url, codes[1]: "http://b.example/q"}


def test_each_recipient_gets_its_own_codes_and_refused_ones_keep_the_text(
    gateway: tuple[TestClient, Engine, Tenant],
) -> None:
    client, engine, tenant = gateway
    first, second = send(client, tenant, "Hi https://a.example/x", to=["+15550000001", "+15550000002"])
    assert SHORT.findall(first["body"]) != SHORT.findall(second["body"])
    assert len(SHORT.findall(first["body"])) == 1
    # An account without the setting sends its text untouched.
    with engine.begin() as conn:
        update_account(conn, tenant.account.id, settings={"link_tracking": None})
    (plain,) = send(client, tenant, "Hi https://a.example/x")
    assert plain["body"] == "Hi https://a.example/x"


def test_a_visit_redirects_is_recorded_and_queues_the_events(
    gateway: tuple[TestClient, Engine, Tenant],
) -> None:
    client, engine, tenant = gateway
    now = datetime.now(UTC)
    with engine.begin() as conn:
        native = create_endpoint(
            conn,
            tenant.account.id,
            "http://127.0.0.1:9/n",
            ["message.clicked"],
            now=now,
            allow_private=True,
        )
        bestsms = create_endpoint(
            conn,
            tenant.account.id,
            "http://127.0.0.1:9/b",
            ["message.status", "message.clicked"],
            now=now,
            allow_private=True,
            format="bestsms_json",
        )
    (msg,) = send(client, tenant, "Your order: https://shop.example/o/42?k=v")
    (code,) = SHORT.findall(msg["body"])

    head = client.head(f"/l/{code}", follow_redirects=False)
    assert (head.status_code, head.headers["location"]) == (302, "https://shop.example/o/42?k=v")
    r = client.get(f"/l/{code}", headers={"User-Agent": "Phone/1.0"}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (302, "https://shop.example/o/42?k=v")
    assert r.headers["cache-control"] == "no-store"
    for missing in ("ZZZZZZZZ", "short", "../../etc"):
        assert client.get(f"/l/{missing}", follow_redirects=False).status_code == 404

    with engine.connect() as conn:
        clicks = conn.execute(select(link_clicks)).all()
        deliveries = {
            d.endpoint_id: d
            for d in conn.execute(select(webhook_deliveries))
            if d.event_type == "message.clicked"
        }
    assert len(clicks) == 1 and clicks[0].message_id == msg["id"]  # the HEAD did not count
    assert clicks[0].agent_hash and "Phone" not in clicks[0].agent_hash
    event = json.loads(deliveries[native["id"]].payload)
    assert event["type"] == "message.clicked"
    assert (event["data"]["id"], event["data"]["click"]["url"]) == (
        msg["id"],
        "https://shop.example/o/42?k=v",
    )
    report = json.loads(deliveries[bestsms["id"]].payload)
    assert (report["Status"], report["Result"]) == ("UPDATED", "Link clicked: https://shop.example/o/42?k=v")
    assert report["MessageID"] == msg["id"] and report["Destination"] == "+15550000001"

    timeline = client.get(
        f"/v1/messages/{msg['id']}/events", headers={"Authorization": f"Bearer {tenant.key.secret}"}
    ).json()
    entries = timeline["data"] if isinstance(timeline, dict) else timeline
    assert [e["status"] for e in entries] == ["queued", "clicked"]
    assert entries[-1]["detail"] == "https://shop.example/o/42?k=v" and entries[-1]["source"] == "link"


def test_formats_without_a_click_event_refuse_it(gateway: tuple[TestClient, Engine, Tenant]) -> None:
    client, _engine, tenant = gateway
    for fmt in ("betatel", "textingline"):
        r = client.post(
            "/v1/webhooks",
            json={"url": "http://127.0.0.1:9/x", "events": ["message.clicked"], "format": fmt},
            headers={"Authorization": f"Bearer {tenant.key.secret}"},
        )
        assert r.status_code in (400, 422), r.text
        assert "never be sent" in r.text


def test_bulk_sends_track_links_per_recipient(gateway: tuple[TestClient, Engine, Tenant]) -> None:
    client, engine, tenant = gateway
    auth = {"Authorization": f"Bearer {tenant.key.secret}"}
    lid = client.post("/v1/lists", json={"name": "promo"}, headers=auth).json()["id"]
    entries = [{"number": "+15550000001", "name": "Ann"}, {"number": "+15550000002", "name": "Bo"}]
    assert client.post(f"/v1/lists/{lid}/entries", json={"entries": entries}, headers=auth).status_code < 300
    r = client.post(
        "/v1/bulk-sends",
        json={"from": tenant.number, "body": "Hi {{name}}: https://a.example/deal", "list": lid},
        headers=auth,
    )
    assert r.status_code == 202, r.text
    msgs = client.get("/v1/messages", headers=auth).json()["data"]
    bodies = sorted(m["body"] for m in msgs)
    assert [b.split(":")[0] for b in bodies] == ["Hi Ann", "Hi Bo"]
    codes = [SHORT.findall(b) for b in bodies]
    assert all(len(c) == 1 for c in codes) and codes[0] != codes[1]
    with engine.connect() as conn:
        assert {r.url for r in conn.execute(select(short_links))} == {"https://a.example/deal"}
