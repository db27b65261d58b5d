"""The Betatel dialect's behaviour beyond the contract: numbers, credentials, validation, look-ups and the
``betatel`` event format."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from tests.helpers import ManualClock, Tenant, make_tenant
from tests.providers.betatel.conftest import PATH, headers
from textgate.service.accounts import balance, create_key, revoke_key, update_account
from textgate.service.inbound import receive_inbound
from textgate.store.schema import message_events, messages, webhook_deliveries
from textgate.webhooks.endpoints import create_endpoint


def _send(client: TestClient, tenant: Tenant, **body: Any) -> Any:
    payload = {"from": "Sender", "to": "12345678548", "text": "Your code is 555345", **body}
    return client.post(PATH, json=payload, headers=headers(tenant))


def _rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(messages)).all())


# -- numbers ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("to", ["38161444555", "+38161444555", "0038161444555", "+381 61 444 555"])
def test_to_is_international_with_or_without_plus(
    client: TestClient, tenant: Tenant, engine: Engine, to: str
) -> None:
    response = _send(client, tenant, to=to)
    assert response.status_code == 200, response.text
    assert response.json()["to"] == "38161444555"
    assert _rows(engine)[0].to_addr == "+38161444555"


def test_to_is_never_read_as_a_national_number(
    client: TestClient, engine: Engine, clock: ManualClock
) -> None:
    serbian = make_tenant(engine, name="rs", region="RS", number="+15551230002", now=clock())
    response = _send(client, serbian)
    assert response.status_code == 200, response.text
    assert response.json()["to"] == "12345678548"
    assert _rows(engine)[0].to_addr == "+12345678548"  # not +381 12345678548


def test_numeric_sender_is_international_too(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    response = _send(client, tenant, **{"from": "15551230001"})
    assert response.status_code == 200, response.text
    assert response.json()["from"] == "15551230001"
    row = _rows(engine)[0]
    assert (row.from_addr, row.to_addr, row.body) == ("+15551230001", "+12345678548", "Your code is 555345")
    with engine.connect() as conn:
        assert conn.execute(select(message_events.c.source)).scalar_one() == "betatel"


def test_the_national_form_is_refused_naming_to(client: TestClient, tenant: Tenant) -> None:
    response = _send(client, tenant, to="0421000001")
    assert response.status_code == 400
    assert response.json()["message"].startswith("to: '0421000001' is not a valid phone number")


# -- credentials -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ("x-api-key", "missing x-api-key header"),
        ("x-user-id", "missing x-user-id header"),
        ("both", "missing x-api-key and x-user-id header"),
    ],
)
def test_missing_credentials_are_401(client: TestClient, tenant: Tenant, drop: str, message: str) -> None:
    sent = {k: v for k, v in headers(tenant).items() if drop not in (k, "both") or k == "Content-Type"}
    response = client.post(PATH, json={"from": "Sender", "to": "12345678548", "text": "hi"}, headers=sent)
    assert response.status_code == 401
    assert response.json() == {"statusCode": 401, "message": message, "error": "Unauthorized"}


def test_another_keys_id_or_a_revoked_key_is_401(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    other = make_tenant(engine, name="other", number="+15551230002", now=clock())
    body = {"from": "Sender", "to": "12345678548", "text": "hi"}
    mixed = headers(tenant, **{"x-user-id": other.key.key_id})
    assert client.post(PATH, json=body, headers=mixed).status_code == 401
    with engine.begin() as conn:
        revoke_key(conn, tenant.key.key_id, now=clock())
    assert client.post(PATH, json=body, headers=headers(tenant)).status_code == 401
    assert _rows(engine) == []


def test_a_named_key_is_found_by_its_name(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    with engine.begin() as conn:
        key = create_key(conn, tenant.account.id, now=clock(), name="betatel-user-42")
    auth = {"x-api-key": key.secret, "x-user-id": "betatel-user-42"}
    response = client.post(PATH, json={"from": "Sender", "to": "12345678548", "text": "hi"}, headers=auth)
    assert response.status_code == 200, response.text
    status = client.get(f"{PATH}/{response.json()['messageId']}/status", headers=auth)
    assert status.json()["userId"] == "betatel-user-42"


def test_bad_credentials_win_over_a_bad_body(client: TestClient, tenant: Tenant) -> None:
    wrong = headers(tenant, **{"x-api-key": "tgs_" + "x" * 32})
    assert client.post(PATH, content=b"{", headers=wrong).status_code == 401
    assert client.post(PATH, content=b"{", headers=headers(tenant)).status_code == 400


# -- validation ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{}", "from is required; to is required; text is required"),
        (b'{"from": "Sender", "to": 12345678548, "text": "hi"}', "to must be a string"),
        (
            b'{"from": "", "to": "12345678548", "text": "  "}',
            "from should not be empty; text should not be empty",
        ),
        (b"[1, 2]", "the request body must be a JSON object with from, to and text"),
        (b"", "the request body is not valid JSON: "),
        (b'{"from": "Sender", "to": "12345678548", "text": "x", }', "the request body is not valid JSON: "),
        (
            b'{"from": "Sender!", "to": "12345678548", "text": "hi"}',
            "from: 'Sender!' is not a valid sender: an alphanumeric sender ID may contain only",
        ),
        (
            b'{"from": "TwelveLetter", "to": "12345678548", "text": "hi"}',
            "from: 'TwelveLetter' is not a valid sender: an alphanumeric sender ID is at most 11",
        ),
        (
            b'{"from": "Sender", "to": "12345678548", "text": "' + b"x" * 1601 + b'"}',
            "text is 1601 characters; at most 1600",
        ),
        (b'{"from": "Sender", "to": "12345678548", "text": "nul \\u0000"}', "text must not contain NUL"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(
    client: TestClient, tenant: Tenant, engine: Engine, raw: bytes, message: str
) -> None:
    response = client.post(PATH, content=raw, headers=headers(tenant))
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"statusCode", "message", "error"}
    assert (body["statusCode"], body["error"]) == (400, "Bad Request")
    assert body["message"].startswith(message), body["message"]
    assert _rows(engine) == []


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_json_only_when_the_content_type_says_so(
    client: TestClient, tenant: Tenant, content_type: str | None
) -> None:
    sent = {k: v for k, v in headers(tenant).items() if k != "Content-Type"}
    if content_type:
        sent["Content-Type"] = content_type
    body = b'{"from":"Sender", "to":"12345678548", "text":"Your code is 555345"}'
    response = client.post(PATH, content=body, headers=sent)
    assert response.status_code == 400
    assert response.json()["message"] == "Content-Type must be application/json"
    ok = client.post(
        PATH, content=body, headers=headers(tenant, **{"Content-Type": "application/json; charset=utf-8"})
    )
    assert ok.status_code == 200, ok.text


def test_extra_fields_are_ignored(client: TestClient, tenant: Tenant) -> None:
    assert _send(client, tenant, callbackUrl="https://example.com/x").status_code == 200


# -- look-ups --------------------------------------------------------------------------------------------
def test_details_and_status_of_a_sent_message(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    sent = _send(client, tenant).json()
    auth = headers(tenant)
    details = client.get(f"{PATH}/{sent['messageId']}", headers=auth)
    assert details.status_code == 200, details.text
    assert details.json() == {
        "messageId": sent["messageId"],
        "status": "Queued",
        "from": "Sender",
        "to": "12345678548",
        "text": "Your code is 555345",
        "timestamp": "2026-03-15T14:30:00.000Z",
        "userId": tenant.key.key_id,
        "segments": 1,
        "direction": "outbound",
        "errorCode": None,
        "errorMessage": None,
        "sentAt": None,
        "deliveredAt": None,
    }
    with engine.begin() as conn:
        conn.execute(update(messages).values(status="delivered"))
    status = client.get(f"{PATH}/{sent['messageId'].upper()}/status", headers=auth)
    assert status.json() == {
        "messageId": sent["messageId"],
        "status": "Delivered",
        "userId": tenant.key.key_id,
    }


def test_look_up_finds_the_right_one_among_many_in_one_millisecond(
    client: TestClient, tenant: Tenant
) -> None:
    sent = [_send(client, tenant, text=f"code {i}").json()["messageId"] for i in range(12)]
    assert len(set(sent)) == 12
    for i, message_id in enumerate(sent):
        assert client.get(f"{PATH}/{message_id}", headers=headers(tenant)).json()["text"] == f"code {i}"


def test_look_up_of_unknown_or_foreign_ids_is_404_and_needs_credentials(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    other = make_tenant(engine, name="other", number="+15551230002", now=clock())
    theirs = _send(client, other).json()["messageId"]
    for message_id in (theirs, str(uuid.uuid4()), "nope", "0a62face-6d15-11f0-962f-d89d6729654c"):
        for suffix in ("", "/status"):
            response = client.get(f"{PATH}/{message_id}{suffix}", headers=headers(tenant))
            assert response.status_code == 404
            assert response.json()["error"] == "Not Found"
    assert client.get(f"{PATH}/{theirs}").status_code == 401
    assert client.get(f"{PATH}/{theirs}", headers=headers(other, **{"x-api-key": "wrong"})).status_code == 401


def test_refused_recipient_is_accepted_then_failed_and_not_charged(
    client: TestClient, tenant: Tenant, engine: Engine
) -> None:
    with engine.begin() as conn:
        update_account(conn, tenant.account.id, settings={"blocked_prefixes": ["+1234"]})
    sent = _send(client, tenant)
    assert sent.status_code == 200, sent.text
    details = client.get(f"{PATH}/{sent.json()['messageId']}", headers=headers(tenant)).json()
    assert (details["status"], details["errorCode"]) == ("Failed", "destination_blocked")
    with engine.connect() as conn:
        assert balance(conn, tenant.account.id) == 100


def test_insufficient_credits_is_402(client: TestClient, engine: Engine, clock: ManualClock) -> None:
    poor = make_tenant(engine, name="poor", credits=0, now=clock())
    response = _send(client, poor)
    assert response.status_code == 402
    assert response.json() == {
        "statusCode": 402,
        "message": "credits: this send costs 1 credits and the balance is 0",
        "error": "Payment Required",
    }


# -- the betatel event format ----------------------------------------------------------------------------
def test_betatel_format_carries_the_message_id_the_send_returned(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    with engine.begin() as conn:
        create_endpoint(
            conn,
            tenant.account.id,
            "http://127.0.0.1:9/hook",
            ["message.status", "message.received"],
            now=clock(),
            allow_private=True,
            format="betatel",
        )
        update_account(conn, tenant.account.id, settings={"blocked_prefixes": ["+1234"]})
    sent = _send(client, tenant).json()
    with engine.begin() as conn:
        inbound = receive_inbound(
            conn, from_addr="+38161444555", to_addr=tenant.number, body="STATUS?", now=clock(), source="test"
        )
    with engine.connect() as conn:
        rows = conn.execute(select(webhook_deliveries).order_by(webhook_deliveries.c.seq)).all()
    assert [(r.event_type, r.method, r.content_type) for r in rows] == [
        ("message.status", "POST", "application/json"),
        ("message.received", "POST", "application/json"),
    ]
    status, received = (orjson.loads(r.payload) for r in rows)
    assert status["event"] == "message.status"
    assert status["messageId"] == sent["messageId"]
    assert (status["status"], status["errorCode"], status["to"]) == (
        "Failed",
        "destination_blocked",
        "12345678548",
    )
    assert "userId" not in status
    assert (received["event"], received["status"], received["from"], received["to"], received["text"]) == (
        "message.received",
        "Received",
        "38161444555",
        "15551230001",
        "STATUS?",
    )
    # The inbound message's Betatel id answers the look-up as well.
    looked_up = client.get(f"{PATH}/{received['messageId']}", headers=headers(tenant)).json()
    assert looked_up["text"] == inbound["body"] == "STATUS?"
    assert looked_up["direction"] == "inbound"


def test_routes_are_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert paths[PATH]["post"]["tags"] == ["Betatel dialect"]
    assert set(paths[PATH]["post"]["requestBody"]["content"]["application/json"]["schema"]["required"]) == {
        "from",
        "to",
        "text",
    }
    assert f"{PATH}/{{messageId}}" in paths
    assert f"{PATH}/{{messageId}}/status" in paths


def test_account_policies_answer_400_naming_the_field(
    client: TestClient, tenant: Tenant, engine: Engine
) -> None:
    with engine.begin() as conn:
        update_account(conn, tenant.account.id, settings={"allowed_destination_prefixes": ["+61"]})
    outside = _send(client, tenant)
    assert outside.status_code == 400
    assert outside.json()["message"] == (
        "to: +12345678548 is outside this account's allowed destination prefixes (+61)"
    )
    with engine.begin() as conn:
        update_account(
            conn, tenant.account.id, owned_senders_only=True, settings={"allowed_destination_prefixes": None}
        )
    restricted = _send(client, tenant)
    assert restricted.status_code == 400
    assert restricted.json()["message"] == "from: this account may only send from its own numbers"
    assert _send(client, tenant, **{"from": "+15551230001"}).status_code == 200
