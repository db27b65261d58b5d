"""TextBetter v2 (``POST /api/SendOutgoingMessages?code=...``): the document's own examples run verbatim
(only the base URL and credentials substituted), then the number format, media, recipients, answers and
errors one by one."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tests.helpers import ManualClock, Tenant, make_tenant
from tests.providers.textbetter.conftest import RECIPIENT, SENDER
from tests.providers.textbetter.support import (
    ERROR_EXAMPLE,
    MMS_BODY,
    MMS_CURL,
    PNG,
    PNG_B64,
    SMS_BODY,
    SMS_CURL,
    SUCCESS_EXAMPLE,
    assert_error,
    parse_curl,
    payload,
    post,
    stored,
    substitute,
)
from textgate.service.accounts import balance, update_account
from textgate.service.optouts import opt_out
from textgate.store.schema import media_objects


# -- verbatim examples ---------------------------------------------------------------------------------
def test_documented_sms_curl_verbatim(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    url, headers, data = parse_curl(SMS_CURL)
    assert json.loads(data) == json.loads(SMS_BODY)
    path, data = substitute(url, data, tenant)
    response = client.post(path, content=data, headers=headers)
    # Verbatim, recipient and all: +1 200 300 4001 is of the right length for North America (possible),
    # so it is sent although the 200 area code is not assigned yet: 201 and TextBetter's success shape.
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == set(json.loads(SUCCESS_EXAMPLE)) and body["message"] == "Valid Message"
    (row,) = stored(engine)
    assert body["RecordID"] == body["CarrierID"] == row.id
    assert (row.from_addr, row.to_addr, row.body, row.type) == (
        "+15551230001",
        "+12003004001",
        "Hello World",
        "sms",
    )
    assert row.status == "queued"

    # An account with strict_numbers wants assigned ranges: the same request is refused, in TextBetter's
    # error shape, and nothing is stored.
    with engine.begin() as conn:
        update_account(conn, tenant.account.id, settings={"strict_numbers": True})
    strict = "toNumber[0]: '+12003004001' is not a valid phone number: not an assigned number range"
    assert_error(client.post(path, content=data, headers=headers), strict)
    assert len(stored(engine)) == 1


def test_documented_mms_curl_verbatim(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    url, headers, data = parse_curl(MMS_CURL)
    assert json.loads(data) == json.loads(MMS_BODY)
    path, data = substitute(url, data, tenant)
    # Verbatim: the placeholder is not base64 ("_" is outside the standard alphabet), named in the answer.
    message = assert_error(client.post(path, content=data, headers=headers))
    assert message == "images[0] is not valid base64 (standard alphabet A-Z a-z 0-9 + / with = padding)"
    assert stored(engine) == []
    # A real image instead of the placeholder: sent as an MMS carrying the image, to the document's recipient.
    with_png = data.replace("BASE64_ENCODED_IMAGE", PNG_B64)
    response = client.post(path, content=with_png, headers=headers)
    assert response.status_code == 201, response.text
    (row,) = stored(engine)
    assert response.json() == {"message": "Valid Message", "CarrierID": row.id, "RecordID": row.id}
    assert (row.type, row.body, row.to_addr) == ("mms", "Here is the image", "+12003004001")
    (ref,) = row.media
    assert (ref["filename"], ref["content_type"], ref["size"]) == ("image.jpg", "image/jpeg", len(PNG))
    with engine.connect() as conn:
        assert conn.execute(select(media_objects.c.data)).scalar_one() == PNG
    assert stored(engine)[0].credits > 0


def test_documented_error_example_for_a_wrong_api_key(client: TestClient, tenant: Tenant) -> None:
    url, headers, data = parse_curl(SMS_CURL)
    path = url.removeprefix("https://api2.textbetter.com").replace("{FUNCTION_CODE}", tenant.key.key_id)
    # APIKey left as the document's placeholder: the documented error, byte for byte in content.
    response = client.post(path, content=data, headers=headers)
    assert response.status_code == 400
    assert response.json() == json.loads(ERROR_EXAMPLE)


# -- credentials and the sender ------------------------------------------------------------------------
def test_credentials_and_sender_mismatches(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    other = make_tenant(engine, name="other", number="+15551230002", now=clock())
    combo = json.loads(ERROR_EXAMPLE)
    cases = [
        post(client, tenant, payload(tenant, APIKey=other.key.secret)),  # another key's secret
        post(client, other, payload(tenant)),  # another key's code
        post(client, tenant, payload(tenant, fromNumber="15551230002")),  # another account's number
        post(client, tenant, payload(tenant, fromNumber="15557654321")),  # nobody's number
        client.post("/api/SendOutgoingMessages?code=key_nope", json=payload(tenant)),
    ]
    for response in cases:
        assert response.status_code == 400 and response.json() == combo, response.text
    # Missing credentials say which one is missing.
    assert assert_error(client.post("/api/SendOutgoingMessages", json=payload(tenant))).endswith(
        "the code query parameter is missing"
    )
    no_key = {k: v for k, v in payload(tenant).items() if k != "APIKey"}
    assert assert_error(post(client, tenant, no_key)).endswith("APIKey is missing (a string)")
    # Credentials are checked first: a wrong key with a bad number is still the credential error.
    bad = post(client, tenant, payload(tenant, APIKey="nope", toNumber=["+15550001000"]))
    assert bad.json() == combo
    with engine.begin() as conn:
        update_account(conn, tenant.account.id, status="suspended")
    assert_error(
        post(client, tenant, payload(tenant)),
        "Invalid Company/KEY/DID combination: this account is suspended",
    )
    assert stored(engine) == []


def test_inactive_sender_and_the_functions_key_header(
    client: TestClient, tenant: Tenant, engine: Engine
) -> None:
    response = client.post(
        "/api/SendOutgoingMessages", json=payload(tenant), headers={"x-functions-key": tenant.key.key_id}
    )
    assert response.status_code == 201, response.text
    from textgate.service.accounts import set_number_status

    with engine.begin() as conn:
        set_number_status(conn, tenant.account, "+15551230001", "inactive")
    assert post(client, tenant, payload(tenant)).json() == json.loads(ERROR_EXAMPLE)


# -- numbers -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("number", "hint"),
    [
        ("+15551230001", "write it as 15551230001 (digits only, no '+')"),
        ("(555) 123-0001", "put the country code first and write digits only, e.g. 15551230001"),
        ("555-123-0001", "put the country code first and write digits only, e.g. 15551230001"),
        ("5551230001", "put the country code first and write digits only, e.g. 15551230001"),
        ("1 555 123 0001", "write it as 15551230001 (digits only, no '+')"),
        ("155512300011", "it must be exactly 11 digits, country code first, e.g. 15551230001"),
        ("not-a-number", "it must be exactly 11 digits, country code first, e.g. 15551230001"),
    ],
)
def test_documented_invalid_number_forms_are_refused(
    client: TestClient, tenant: Tenant, engine: Engine, number: str, hint: str
) -> None:
    assert_error(
        post(client, tenant, payload(tenant, toNumber=[number])),
        f"toNumber[0]: {number!r} is not an 11-digit number: {hint}",
    )
    assert_error(
        post(client, tenant, payload(tenant, fromNumber=number)),
        f"fromNumber: {number!r} is not an 11-digit number: {hint}",
    )
    assert stored(engine) == []


def test_numbers_are_read_as_international_digits(
    client: TestClient, engine: Engine, clock: ManualClock
) -> None:
    # An Australian account: 15551230001 is still +1 555..., and 61421000001 is +61 421...
    aussie = make_tenant(engine, name="au", number="+15551230009", region="AU", now=clock())
    response = post(
        client, aussie, payload(aussie, fromNumber=15551230009, toNumber=["61421000001", 15550001000])
    )
    assert response.status_code == 201, response.text
    assert sorted(r.to_addr for r in stored(engine)) == ["+15550001000", "+61421000001"]


def test_recipient_list_limits_and_types(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    assert_error(
        post(client, tenant, payload(tenant, toNumber=[])), "toNumber must list at least one recipient"
    )
    many = [f"1555000{i:04d}" for i in range(101)]
    assert_error(
        post(client, tenant, payload(tenant, toNumber=many)),
        "toNumber lists 101 numbers; at most 100 per request",
    )
    assert assert_error(post(client, tenant, payload(tenant, toNumber={"a": 1}))).startswith(
        "toNumber must be an array"
    )
    no_to = {k: v for k, v in payload(tenant).items() if k != "toNumber"}
    assert assert_error(post(client, tenant, no_to)).startswith("toNumber is required")
    assert_error(
        post(client, tenant, payload(tenant, toNumber=[True])),
        "toNumber[0] must be a string of 11 digits, e.g. 15551230001",
    )
    assert stored(engine) == []
    # A lone string is one recipient.
    assert post(client, tenant, payload(tenant, toNumber=RECIPIENT)).status_code == 201


def test_several_recipients_get_ids_in_order(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    to = ["15550001000", "15550001001", "15550001002"]
    response = post(client, tenant, payload(tenant, toNumber=to))
    assert response.status_code == 201, response.text
    ids = response.json()["RecordID"].split(",")
    assert response.json()["CarrierID"].split(",") == ids
    rows = {r.id: r for r in stored(engine)}
    assert [rows[i].to_addr for i in ids] == ["+" + n for n in to]
    with engine.connect() as conn:
        assert balance(conn, tenant.account.id) == 97


def test_refused_recipients(client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock) -> None:
    with engine.begin() as conn:
        opt_out(conn, tenant.account.id, "+15550001000", word="STOP", now=clock())
    # The only recipient opted out: nothing will be sent, so TextBetter's error shape, naming why; the
    # stored (failed, free) record is in RecordID.
    response = post(client, tenant, payload(tenant))
    assert response.status_code == 400
    (row,) = stored(engine)
    assert response.json() == {
        "message": "Message not sent: 15550001000: The recipient has opted out from receiving messages from "
        "this sender.",
        "CarrierID": "0",
        "RecordID": row.id,
    }
    # With another recipient it is a 201; the refused one is failed and uncharged.
    response = post(client, tenant, payload(tenant, toNumber=["15550001001", "15550001000"]))
    assert response.status_code == 201
    ids = response.json()["RecordID"].split(",")
    rows = {r.id: r for r in stored(engine)}
    assert [(rows[i].to_addr, rows[i].status) for i in ids] == [
        ("+15550001001", "queued"),
        ("+15550001000", "failed"),
    ]
    with engine.connect() as conn:
        assert balance(conn, tenant.account.id) == 99


def test_refused_recipient_before_an_accepted_one(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    with engine.begin() as conn:
        opt_out(conn, tenant.account.id, "+15550001000", word="STOP", now=clock())
    response = post(client, tenant, payload(tenant, toNumber=["15550001000", "15550001001"]))
    assert response.status_code == 201


def test_allowed_prefixes_and_credits(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    with engine.begin() as conn:
        update_account(conn, tenant.account.id, settings={"allowed_destination_prefixes": ["+61"]})
    assert_error(
        post(client, tenant, payload(tenant)),
        "toNumber[0]: +15550001000 is outside this account's allowed destination prefixes (+61)",
    )
    poor = make_tenant(engine, name="poor", credits=0, number="+15551239876", now=clock())
    assert_error(
        post(client, poor, payload(poor, fromNumber="15551239876")),
        "Insufficient credits: this send costs 1 credits and the balance is 0",
    )
    assert stored(engine) == []


# -- body, JSON, content type --------------------------------------------------------------------------
def test_body_and_request_shape_errors(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    url = f"/api/SendOutgoingMessages?code={tenant.key.key_id}"
    assert_error(post(client, tenant, payload(tenant, body="")), "body is required (or images, for an MMS)")
    assert_error(post(client, tenant, payload(tenant, body=5)), "body must be a string")
    assert_error(
        post(client, tenant, payload(tenant, body="x" * 1601)), "body is 1601 characters; at most 1600"
    )
    assert_error(
        client.post(url, content=b"{not json", headers={"content-type": "application/json"}),
        "the request body is not valid JSON",
    )
    assert_error(client.post(url, json=[1, 2]), "the request body must be a JSON object")
    form = client.post(url, data={"fromNumber": SENDER})
    assert_error(form, "Content-Type must be application/json, not application/x-www-form-urlencoded")
    assert stored(engine) == []


def test_field_names_are_case_insensitive_and_json_charset_is_fine(
    client: TestClient, tenant: Tenant, engine: Engine
) -> None:
    body = {"FromNumber": SENDER, "tonumber": [RECIPIENT], "Body": "hi", "apiKey": tenant.key.secret}
    response = client.post(
        f"/api/sendoutgoingmessages?code={tenant.key.key_id}",
        content=json.dumps(body),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201, response.text
    assert stored(engine)[0].body == "hi"
