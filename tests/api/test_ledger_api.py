"""The credits ledger: GET /v1/credits/ledger."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock, Tenant, make_tenant
from textgate.service.accounts import add_credits


def _send(client: TestClient, auth: dict[str, str], **extra: object) -> str:
    body = {"from": "+15551230001", "to": "+15550000001", "body": "hi"} | extra
    r = client.post("/v1/messages", json=body, headers=auth)
    assert r.status_code == 202, r.text
    return str(r.json()["messages"][0]["id"])


def test_ledger_lists_every_balance_change_newest_first_with_a_cursor(
    client: TestClient, auth: dict[str, str], tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    sent = _send(client, auth)
    scheduled = _send(client, auth, schedule_at=(clock() + timedelta(hours=1)).isoformat())
    assert client.delete(f"/v1/messages/{scheduled}", headers=auth).status_code == 200
    with engine.begin() as conn:
        add_credits(conn, tenant.account.id, 25, now=clock(), note="top-up")
    first = client.get("/v1/credits/ledger", params={"limit": 3}, headers=auth)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in page["data"]] == [
        ("credit", 25, 124),
        ("refund", 1, 99),
        ("debit", -1, 98),
    ]
    assert page["data"][0]["note"] == "top-up" and page["data"][1]["message_id"] == scheduled
    params = {"limit": 3, "cursor": page["next_cursor"]}
    second = client.get("/v1/credits/ledger", params=params, headers=auth)
    rest = second.json()
    assert [(e["kind"], e["message_id"]) for e in rest["data"]] == [("debit", sent), ("credit", None)]
    assert rest["next_cursor"] is None
    refunds = client.get("/v1/credits/ledger", params={"kind": "refund"}, headers=auth).json()["data"]
    assert [e["message_id"] for e in refunds] == [scheduled]


def test_ledger_is_the_callers_own(
    client: TestClient, auth: dict[str, str], engine: Engine, clock: ManualClock
) -> None:
    _send(client, auth)
    other = make_tenant(engine, name="other", credits=7, number="+15551239999", now=clock())
    theirs = client.get("/v1/credits/ledger", headers={"Authorization": f"Bearer {other.key.secret}"})
    assert [(e["kind"], e["amount"]) for e in theirs.json()["data"]] == [("credit", 7)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "le_abc"}, "cursor"),
        ({"cursor": "msg_123"}, "cursor"),
        ({"cursor": "le_١٢"}, "cursor"),  # Arabic-Indic digits are digits to str.isdigit
        ({"kind": "gift"}, "kind"),
        ({"limit": 0}, "limit"),
    ],
)
def test_bad_ledger_queries_name_the_field(
    client: TestClient, auth: dict[str, str], params: dict[str, object], field: str
) -> None:
    r = client.get("/v1/credits/ledger", params=params, headers=auth)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]["field"] == field
