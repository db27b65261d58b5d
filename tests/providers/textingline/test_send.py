"""``POST /api/v1/messaging/message``: the seed's examples verbatim, failed responses, every error code."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock, Tenant, make_tenant
from tests.providers.textingline.seed import FAILED_RESPONSE, RECIPIENT, RESPONSE, SENDER, SMS_CURL
from tests.providers.textingline.util import (
    API,
    MESSAGE_ID,
    assert_error,
    auth,
    credits,
    run_seed,
    send,
    stored,
)
from textgate.domain.message import MessageStatus
from textgate.domain.phone import normalize_number
from textgate.service.accounts import create_key, set_number_status, update_account
from textgate.service.inbound import receive_inbound
from textgate.service.messages import get_message_row
from textgate.service.status import change_status


def _settings(engine: Engine, tenant: Tenant, **settings: Any) -> None:
    with engine.begin() as conn:
        update_account(conn, tenant.account.id, settings=settings)


def _move(engine: Engine, tenant: Tenant, message_id: str, *statuses: MessageStatus, now: Any) -> None:
    with engine.begin() as conn:
        for status in statuses:
            row = get_message_row(conn, tenant.account.id, message_id)
            assert change_status(conn, row, status, now=now, source="test") is not None


# -- the seed's examples --------------------------------------------------------------------------------
def test_seed_numbers_are_valid_e164() -> None:
    assert normalize_number(RECIPIENT) == RECIPIENT
    assert normalize_number(SENDER) == SENDER


def test_seed_sms_example_is_accepted(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    response = run_seed(client, tenant, SMS_CURL)
    assert response.status_code == 201, response.text
    body = response.json()
    assert MESSAGE_ID.fullmatch(body["id"])
    # Just accepted: queued, so no sentAt yet; otherwise the seed's object field for field.
    expected = {k: v for k, v in json.loads(RESPONSE).items() if k != "sentAt"}
    assert body == {**expected, "id": body["id"], "status": "queued"}
    assert list(body) == ["id", "direction", "to", "from", "body", "status", "createdAt"]
    assert stored(engine) == 1
    assert credits(engine, tenant) == 99


def test_seed_response_example_is_reproduced(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    message_id = run_seed(client, tenant, SMS_CURL).json()["id"]
    clock.advance(5)
    _move(engine, tenant, message_id, MessageStatus.SENDING, MessageStatus.SENT, now=clock())
    got = client.get(f"{API}/{message_id}", auth=auth(tenant))
    assert got.status_code == 200, got.text
    assert got.json() == {**json.loads(RESPONSE), "id": message_id}
    assert list(got.json()) == list(json.loads(RESPONSE))


def test_seed_failed_response_for_an_opted_out_recipient(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    with engine.begin() as conn:  # the recipient texts STOP to the sender
        receive_inbound(conn, from_addr=RECIPIENT, to_addr=SENDER, body="STOP", now=clock(), source="test")
    response = run_seed(client, tenant, SMS_CURL)
    assert response.status_code == 201, response.text
    body = response.json()
    assert MESSAGE_ID.fullmatch(body["id"])
    assert body == {**json.loads(FAILED_RESPONSE), "id": body["id"]}
    assert list(body) == list(json.loads(FAILED_RESPONSE))
    assert credits(engine, tenant) == 100  # not charged
    assert client.get(f"{API}/{body['id']}", auth=auth(tenant)).json() == body


@pytest.mark.parametrize(
    ("settings", "error_type", "message"),
    [
        ({"blocked_prefixes": ["+1800"]}, "destination_blocked", "blocked from receiving"),
        ({"require_mobile": True}, "invalid_destination", "not a mobile number"),  # toll-free is no mobile
    ],
)
def test_delivery_level_refusals_are_201_failed(
    client: TestClient,
    tenant: Tenant,
    engine: Engine,
    settings: dict[str, Any],
    error_type: str,
    message: str,
) -> None:
    _settings(engine, tenant, **settings)
    response = send(client, tenant)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "failed"
    assert body["errorType"] == error_type
    assert message in body["errorMessage"]
    assert "sentAt" not in body
    assert credits(engine, tenant) == 100


# -- request-level errors with TextingLine's codes --------------------------------------------------------
def _nothing_happened(engine: Engine, tenant: Tenant, messages: int = 0, balance: int = 100) -> None:
    assert stored(engine) == messages
    assert credits(engine, tenant) == balance


def test_33004_from_not_assigned(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    body = assert_error(send(client, tenant, **{"from": "+15551230002"}), 400, 33004, "from")
    assert "+15551230002" in body["message"]
    other = make_tenant(engine, name="other", number="+15551239999", now=clock())
    assert_error(send(client, tenant, **{"from": other.number}), 400, 33004, "from")
    _nothing_happened(engine, tenant)


def test_33009_from_not_active(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    with engine.begin() as conn:
        set_number_status(conn, tenant.account, SENDER, "inactive")
    body = assert_error(send(client, tenant), 400, 33009, "from")
    assert "active" in body["message"]
    _nothing_happened(engine, tenant)
    with engine.begin() as conn:
        set_number_status(conn, tenant.account, SENDER, "active")
    assert send(client, tenant).status_code == 201


@pytest.mark.parametrize(
    "text", ["nul \x00", "bell \x07", "\x1b[31mred", "del \x7f", "c1 \x85", "nonchar \ufffe", "\U0010ffff"]
)
def test_33016_unsupported_characters(client: TestClient, tenant: Tenant, engine: Engine, text: str) -> None:
    assert_error(send(client, tenant, body=text), 400, 33016, "body")
    _nothing_happened(engine, tenant)


def test_33016_lone_surrogate(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    raw = b'{"to": "+18005551234", "from": "+18005559876", "body": "half a pair \\ud83d"}'
    response = client.post(API, auth=auth(tenant), content=raw, headers={"Content-Type": "application/json"})
    assert_error(response, 400, 33016, "body")
    _nothing_happened(engine, tenant)


def test_tabs_line_breaks_and_emoji_are_supported(client: TestClient, tenant: Tenant) -> None:
    response = send(client, tenant, body="Line one\r\nLine\ttwo\n\U0001f389 caf\u00e9 \u4f60\u597d")
    assert response.status_code == 201, response.text
    assert response.json()["body"] == "Line one\r\nLine\ttwo\n\U0001f389 caf\u00e9 \u4f60\u597d"


def test_33019_destination_outside_allowed_prefixes(
    client: TestClient, tenant: Tenant, engine: Engine
) -> None:
    _settings(engine, tenant, allowed_destination_prefixes=["+44", "+61"])
    body = assert_error(send(client, tenant), 403, 33019, "to")
    assert "+44" in body["message"]
    _nothing_happened(engine, tenant)


def test_33023_insufficient_credits(client: TestClient, engine: Engine, clock: ManualClock) -> None:
    poor = make_tenant(engine, name="poor", credits=0, number=SENDER, now=clock())
    body = assert_error(send(client, poor), 402, 33023, "credits")
    assert "balance" in body["message"]
    _nothing_happened(engine, poor, balance=0)


# -- validation of the other fields ----------------------------------------------------------------------
_MISSING = object()


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("to", "8005551234", "to"),
        ("to", "18005551234", "to"),
        ("to", "+1 800 555 1234", "to"),
        ("to", "+1-800-555-1234", "to"),
        ("to", 18005551234, "to"),
        ("to", _MISSING, "to"),
        ("to", "", "to"),
        ("to", "+999123456789", "to"),
        ("to", "+1800555123", "to"),
        ("from", "(800) 555-9876", "from"),
        ("from", _MISSING, "from"),
        ("from", ["+18005559876"], "from"),
        ("body", "x" * 641, "body"),
        ("body", _MISSING, "body"),
        ("body", "", "body"),
        ("body", "   \n", "body"),
        ("body", 482910, "body"),
        ("mediaUrl", 5, "mediaUrl"),
        ("mediaUrl", "ftp://example.com/promo.jpg", "mediaUrl"),
        ("mediaUrl", "promo.jpg", "mediaUrl"),
        ("mediaUrl", "https://user:pw@example.com/promo.jpg", "mediaUrl"),
        ("idempotencyKey", 12, "idempotencyKey"),
        ("idempotencyKey", "k" * 256, "idempotencyKey"),
    ],
)
def test_invalid_fields_are_400_naming_the_field(
    client: TestClient, tenant: Tenant, engine: Engine, name: str, value: Any, field: str
) -> None:
    payload: dict[str, Any] = {"to": RECIPIENT, "from": SENDER, "body": "hello"}
    if value is _MISSING:
        del payload[name]
    else:
        payload[name] = value
    response = client.post(API, auth=auth(tenant), json=payload)
    body = assert_error(response, 400, 400, field)
    assert field in body["message"]
    _nothing_happened(engine, tenant)


def test_body_limit_is_640_characters_not_bytes(client: TestClient, tenant: Tenant) -> None:
    assert send(client, tenant, body="x" * 640).status_code == 201
    emoji = send(client, tenant, body="\U0001f600" * 640)
    assert emoji.status_code == 201, emoji.text


@pytest.mark.parametrize(
    "raw", [b"", b"not json", b"[1, 2]", b'"text"', b'{"to": ', b"\xff\xfe\x00", b"[" * 100_000]
)
def test_bodies_that_are_no_json_object(
    client: TestClient, tenant: Tenant, engine: Engine, raw: bytes
) -> None:
    response = client.post(API, auth=auth(tenant), content=raw, headers={"Content-Type": "application/json"})
    assert_error(response, 400, 400, None)
    _nothing_happened(engine, tenant)


def test_wrong_content_type_is_415(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    raw = json.dumps({"to": RECIPIENT, "from": SENDER, "body": "hi"}).encode()
    for ctype in ("text/plain", "application/x-www-form-urlencoded"):
        response = client.post(API, auth=auth(tenant), content=raw, headers={"Content-Type": ctype})
        assert_error(response, 415, 415, None)
    _nothing_happened(engine, tenant)
    ok = client.post(
        API, auth=auth(tenant), content=raw, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert ok.status_code == 201, ok.text


def test_no_content_type_is_read_as_json(client: TestClient, tenant: Tenant) -> None:
    raw = json.dumps({"to": RECIPIENT, "from": SENDER, "body": "hi"}).encode()
    assert client.post(API, auth=auth(tenant), content=raw).status_code == 201


def test_nulls_and_unknown_fields(client: TestClient, tenant: Tenant) -> None:
    response = send(client, tenant, mediaUrl=None, idempotencyKey=None, callbackUrl="https://x.example/cb")
    assert response.status_code == 201, response.text
    assert "mediaUrl" not in response.json()


# -- credentials ------------------------------------------------------------------------------------------
def test_credentials(client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock) -> None:
    payload = {"to": RECIPIENT, "from": SENDER, "body": "hi"}
    missing = client.post(API, json=payload)
    assert_error(missing, 401, 401, None)
    assert missing.headers["WWW-Authenticate"].startswith("Basic")
    assert_error(client.post(API, json=payload, auth=(tenant.key.key_id, "tgs_wrong")), 401, 401, None)
    assert_error(client.post(API, json=payload, auth=("key_unknown", tenant.key.secret)), 401, 401, None)
    assert_error(client.post(API, json=payload, headers={"Authorization": "Basic !!"}), 401, 401, None)
    # Wrong credentials win over a bad body.
    assert_error(client.post(API, json={}, auth=(tenant.key.key_id, "tgs_wrong")), 401, 401, None)
    _nothing_happened(engine, tenant)
    # A key's name works as the key id (so the seed's "your_key_id" can be a real key), and Bearer works.
    with engine.begin() as conn:
        named = create_key(conn, tenant.account.id, now=clock(), name="your_key_id")
    assert client.post(API, json=payload, auth=("your_key_id", named.secret)).status_code == 201
    bearer = {"Authorization": f"Bearer {tenant.key.secret}"}
    assert client.post(API, json=payload, headers=bearer).status_code == 201


def test_suspended_account_is_401(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    with engine.begin() as conn:
        update_account(conn, tenant.account.id, status="suspended")
    body = assert_error(send(client, tenant), 401, 401, None)
    assert "suspended" in body["message"]


# -- pricing ----------------------------------------------------------------------------------------------
def test_textingline_prices_as_an_operator_sets_them(
    client: TestClient, tenant: Tenant, engine: Engine
) -> None:
    with engine.begin() as conn:  # textgate accounts set ACCOUNT --price-sms-part 2 --price-mms 3
        update_account(conn, tenant.account.id, price_sms_part=2, price_mms=3)
    assert send(client, tenant).status_code == 201
    assert credits(engine, tenant) == 98
    assert send(client, tenant, body="y" * 200).status_code == 201  # two parts, priced per part
    assert credits(engine, tenant) == 94


def test_a_lone_surrogate_in_the_idempotency_key_is_a_400_naming_it(
    client: TestClient, tenant: Tenant, engine: Engine
) -> None:
    body = b'{"to": "+18005551234", "from": "+18005559876", "body": "hi", "idempotencyKey": "\\ud800"}'
    response = client.post(
        "/api/v1/messaging/message",
        content=body,
        headers={"Content-Type": "application/json"},
        auth=auth(tenant),
    )
    assert response.status_code == 400, response.text
    assert "idempotencyKey" in response.text
    assert stored(engine) == 0
