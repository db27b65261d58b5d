"""Canceling a message that no carrier has seen: DELETE /v1/messages/{id}."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from tests.helpers import ManualClock, Tenant, credits_of, make_tenant
from textgate.store.schema import ledger_entries, message_parts, messages


def _send(client: TestClient, auth: dict[str, str], **extra: object) -> dict[str, object]:
    body = {"from": "+15551230001", "to": "+15550000001", "body": "see you tomorrow"} | extra
    r = client.post("/v1/messages", json=body, headers=auth)
    assert r.status_code == 202, r.text
    return r.json()["messages"][0]


def test_scheduled_message_is_canceled_and_refunded(
    client: TestClient, auth: dict[str, str], tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    at = (clock() + timedelta(hours=3)).isoformat()
    message = _send(client, auth, schedule_at=at)
    assert message["status"] == "scheduled" and credits_of(engine, tenant.account.id) == 99
    r = client.delete(f"/v1/messages/{message['id']}", headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "canceled" and r.json()["id"] == message["id"]
    assert credits_of(engine, tenant.account.id) == 100
    with engine.connect() as conn:
        refunds = conn.execute(
            select(ledger_entries.c.amount, ledger_entries.c.note).where(ledger_entries.c.kind == "refund")
        ).all()
    assert [tuple(r) for r in refunds] == [(1, "refund: canceled")]
    timeline = client.get(f"/v1/messages/{message['id']}/events", headers=auth).json()["data"]
    assert [e["status"] for e in timeline][-1] == "canceled"
    # Canceled is final: a second cancel is a conflict and refunds nothing more.
    again = client.delete(f"/v1/messages/{message['id']}", headers=auth)
    assert again.status_code == 409 and again.json()["error"]["field"] == "id"
    assert "canceled" in again.json()["error"]["message"]
    assert credits_of(engine, tenant.account.id) == 100


def test_a_queued_message_not_yet_taken_can_be_canceled(
    client: TestClient, auth: dict[str, str], tenant: Tenant, engine: Engine
) -> None:
    message = _send(client, auth)
    assert message["status"] == "queued"
    r = client.delete(f"/v1/messages/{message['id']}", headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "canceled"
    assert credits_of(engine, tenant.account.id) == 100


def test_messages_being_sent_or_seen_by_a_carrier_cannot_be_canceled(
    client: TestClient, auth: dict[str, str], tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    taken = _send(client, auth)
    parted = _send(client, auth, to="+15550000002")
    with engine.begin() as conn:
        conn.execute(update(messages).where(messages.c.id == taken["id"]).values(status="sending"))
        conn.execute(
            message_parts.insert().values(
                message_id=parted["id"], part=1, total=2, connector="sim", status="sent", submitted_at=clock()
            )
        )
    for message, why in ((taken, "is sending"), (parted, "has already reached a carrier")):
        r = client.delete(f"/v1/messages/{message['id']}", headers=auth)
        assert r.status_code == 409, r.text
        assert why in r.json()["error"]["message"]
    assert credits_of(engine, tenant.account.id) == 98
    with engine.connect() as conn:
        assert conn.execute(select(ledger_entries).where(ledger_entries.c.kind == "refund")).first() is None


def test_another_accounts_message_is_not_found(
    client: TestClient, auth: dict[str, str], engine: Engine, clock: ManualClock
) -> None:
    message = _send(client, auth, schedule_at=(clock() + timedelta(hours=1)).isoformat())
    other = make_tenant(engine, name="other", number="+15551239999", now=clock())
    theirs = {"Authorization": f"Bearer {other.key.secret}"}
    r = client.delete(f"/v1/messages/{message['id']}", headers=theirs)
    assert r.status_code == 404 and r.json()["error"]["field"] == "id"
    assert client.get(f"/v1/messages/{message['id']}", headers=auth).json()["status"] == "scheduled"
