"""All APIs act on the same accounts, numbers, credits and messages: a message sent through one is seen
through the native API and through every other dialect's status look-up."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock, Tenant, make_tenant
from textgate.providers.betatel.ids import message_uuid


@pytest.fixture
def tenant(engine: Engine) -> Tenant:
    return make_tenant(engine, credits=100, now=ManualClock()())


def _native(client: TestClient, tenant: Tenant, message_id: str) -> dict:  # type: ignore[type-arg]
    r = client.get(f"/v1/messages/{message_id}", headers={"Authorization": f"Bearer {tenant.key.secret}"})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _textingline(client: TestClient, tenant: Tenant, message_id: str) -> dict:  # type: ignore[type-arg]
    r = client.get(f"/api/v1/messaging/message/{message_id}", auth=(tenant.key.key_id, tenant.key.secret))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _betatel(client: TestClient, tenant: Tenant, message: dict) -> dict:  # type: ignore[type-arg]
    uid = message_uuid(message["id"], message["created_at"])
    headers = {"x-api-key": tenant.key.secret, "x-user-id": tenant.key.key_id}
    r = client.get(f"/api/v1/connect-hub/sms/{uid}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _bestsms_status(client: TestClient, tenant: Tenant, engine: Engine, message_id: str) -> dict:  # type: ignore[type-arg]
    from textgate.service.accounts import create_key

    with engine.begin() as conn:
        key = create_key(conn, tenant.account.id, now=ManualClock()(), name=f"poll-{message_id[-6:]}")
    r = client.get(f"/bestsms/status/{message_id}", params={"Sender": key.name, "Token": key.secret})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["Result"] == "Success" and body["Recipients"][0]["Destination"] == "+15550001000"
    return body  # type: ignore[no-any-return]


def test_one_message_many_views(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    # Sent through TextBetter v2 ...
    r = client.post(
        f"/api/SendOutgoingMessages?code={tenant.key.key_id}",
        json={
            "fromNumber": "15551230001",
            "toNumber": ["15550001000"],
            "body": "hi",
            "APIKey": tenant.key.secret,
        },
    )
    assert r.status_code == 201, r.text
    message_id = r.json()["RecordID"]
    # ... seen by the native API, TextingLine and Betatel.
    native = _native(client, tenant, message_id)
    assert (native["from"], native["to"], native["body"], native["status"]) == (
        "+15551230001",
        "+15550001000",
        "hi",
        "queued",
    )
    assert _textingline(client, tenant, message_id)["status"] == "queued"
    assert _betatel(client, tenant, native)["to"] in ("15550001000", "+15550001000")
    assert _bestsms_status(client, tenant, engine, message_id)["Status"] == "Pending"
    # Sent through Betatel, seen natively; the credits are one ledger for all.
    b = client.post(
        "/api/v1/connect-hub/sms",
        json={"from": "+15551230001", "to": "15550001001", "text": "yo"},
        headers={"x-api-key": tenant.key.secret, "x-user-id": tenant.key.key_id},
    )
    assert b.status_code == 200, b.text
    listed = client.get("/v1/messages", headers={"Authorization": f"Bearer {tenant.key.secret}"}).json()[
        "data"
    ]
    assert {m["to"] for m in listed} == {"+15550001000", "+15550001001"}
    account = client.get("/v1/account", headers={"Authorization": f"Bearer {tenant.key.secret}"}).json()
    assert account["credits"] == 98
    # MMS through TextBetter is an MMS everywhere.
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n tiny").decode()
    mms = client.post(
        f"/api/SendOutgoingMessages?code={tenant.key.key_id}",
        json={
            "fromNumber": "15551230001",
            "toNumber": ["15550001002"],
            "body": "look",
            "APIKey": tenant.key.secret,
            "filenames": ["a.png"],
            "contentTypes": ["image/png"],
            "images": [png],
        },
    )
    assert mms.status_code == 201, mms.text
    assert _native(client, tenant, mms.json()["RecordID"])["type"] == "mms"


def test_every_dialect_reports_an_opt_out_its_own_way(
    client: TestClient, tenant: Tenant, engine: Engine
) -> None:
    from textgate.service.inbound import receive_inbound

    with engine.begin() as conn:
        receive_inbound(
            conn,
            from_addr="+15550001000",
            to_addr=tenant.number,
            body="STOP",
            now=ManualClock()(),
            source="test",
        )
    # TextingLine: 201 with status failed and errorType opted_out.
    tl = client.post(
        "/api/v1/messaging/message",
        json={"to": "+15550001000", "from": tenant.number, "body": "promo"},
        auth=(tenant.key.key_id, tenant.key.secret),
    )
    assert tl.status_code == 201 and (tl.json()["status"], tl.json()["errorType"]) == ("failed", "opted_out")
    # TextBetter v2: a 400 "Message not sent" naming the reason.
    tb = client.post(
        f"/api/SendOutgoingMessages?code={tenant.key.key_id}",
        json={
            "fromNumber": "15551230001",
            "toNumber": ["15550001000"],
            "body": "promo",
            "APIKey": tenant.key.secret,
        },
    )
    assert (
        tb.status_code == 400
        and "Message not sent" in tb.json()["message"]
        and "opted" in tb.json()["message"]
    )
    # TextBetter v1: HTTP 200 with an error text instead of Success!.
    v1 = client.get(
        "/SendTexts.aspx",
        params={
            "KEY": tenant.key.secret,
            "DID": "15551230001",
            "ToNumber": "15550001000",
            "Message": "promo",
        },
    )
    assert v1.status_code == 200 and v1.text != "Success!" and "opted" in v1.text
    # Betatel: accepted, and its look-up says Failed with the error code.
    headers = {"x-api-key": tenant.key.secret, "x-user-id": tenant.key.key_id}
    bt = client.post(
        "/api/v1/connect-hub/sms",
        json={"from": "ACME", "to": "15550001000", "text": "promo"},
        headers=headers,
    )
    assert bt.status_code == 200, bt.text
    look = client.get(f"/api/v1/connect-hub/sms/{bt.json()['messageId']}", headers=headers).json()
    assert (look["status"], look["errorCode"]) == ("Failed", "opted_out")
    # Native: 202 with the message failed; nothing was charged for any of them.
    native = client.post(
        "/v1/messages",
        json={"from": tenant.number, "to": "+15550001000", "body": "promo"},
        headers={"Authorization": f"Bearer {tenant.key.secret}"},
    )
    assert native.json()["messages"][0]["error_code"] == "opted_out"
    account = client.get("/v1/account", headers={"Authorization": f"Bearer {tenant.key.secret}"}).json()
    assert account["credits"] == 100


@pytest.mark.parametrize(
    ("method", "path", "status", "shape"),
    [
        ("post", "/v1/messages", 413, '"code":"too_large"'),
        ("post", "/api/SendOutgoingMessages?code=x", 400, '"CarrierID":"0"'),
        ("post", "/SendTexts.aspx", 200, "Error: request body larger than"),
        ("post", "/api/v1/messaging/message", 413, '"code":413'),
        ("post", "/api/v1/connect-hub/sms", 413, '"statusCode":413'),
        ("post", "/bestsms/send", 400, "request body larger than"),
        ("post", "/api/v3.00/sms", 400, '"ErrorMessage"'),
    ],
)
def test_an_oversized_body_is_refused_in_each_apis_own_shape(
    client: TestClient, method: str, path: str, status: int, shape: str
) -> None:
    r = client.request(
        method, path, content=b"x" * (21 * 1024 * 1024), headers={"content-type": "text/plain"}
    )
    assert r.status_code == status, r.text
    assert shape in r.text.replace(" ", "") or shape in r.text
