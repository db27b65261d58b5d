"""``/bestsms/send``: the document's own example, every way of passing parameters, MessageID rules,
test mode, number formats, account policies and errors."""

from __future__ import annotations

import re

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tests.helpers import ManualClock
from tests.providers.bestsms.support import BestTenant, rows_by_ref, set_settings
from textgate.service.accounts import balance
from textgate.store.schema import messages

# The document's "Send SMS/TXT via HTTP" example, verbatim. (Its first line is the Sender line, as the
# published page shows it after its e-mail address protection; credentials are substituted below.)
SPEC_REQUEST = """[email protected]
Token=ta8wr7ymd
Number=0421000001
Message=Hello, this is a test message from Department01. Thank you."""

# The document's sample response, verbatim.
SPEC_RESPONSE = """{
    "Result": "Success",
    "MessageID": "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE"
}"""


def spec_params(tenant: BestTenant) -> dict[str, str]:
    params: dict[str, str] = {}
    for line in SPEC_REQUEST.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            params[key] = value
        else:
            params["Sender"] = line  # the protected Sender line
    assert set(params) == {"Sender", "Token", "Number", "Message"}
    return {**params, **tenant.creds()}


def guid_pattern() -> re.Pattern[str]:
    """The sample's MessageID shape: each placeholder letter stands for an upper-case hex digit."""
    sample = orjson.loads(SPEC_RESPONSE)["MessageID"]
    return re.compile("".join("[0-9A-F]" if ch.isalpha() else re.escape(ch) for ch in sample))


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(messages)).scalar_one())


def credits(engine: Engine, tenant: BestTenant) -> int:
    with engine.connect() as conn:
        return balance(conn, tenant.account.id)


def test_spec_example_as_form_post(client: TestClient, tenant: BestTenant, engine: Engine) -> None:
    response = client.post("/bestsms/send", data=spec_params(tenant))
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == list(orjson.loads(SPEC_RESPONSE))
    assert body["Result"] == "Success"
    assert guid_pattern().fullmatch(body["MessageID"])
    (row,) = rows_by_ref(engine, body["MessageID"])
    assert (row["to_addr"], row["from_addr"]) == ("+61421000001", tenant.number)
    assert row["body"] == "Hello, this is a test message from Department01. Thank you."
    assert row["status"] == "queued"
    assert credits(engine, tenant) == 99


@pytest.mark.parametrize("how", ["query", "form", "multipart", "json", "post-query"])
def test_parameters_in_every_accepted_place(
    how: str, client: TestClient, tenant: BestTenant, engine: Engine
) -> None:
    params = spec_params(tenant)
    if how == "query":
        response = client.get("/bestsms/send", params=params)
    elif how == "form":
        response = client.post("/bestsms/send", data=params)
    elif how == "multipart":
        response = client.post("/bestsms/send", files={k: (None, v) for k, v in params.items()})
    elif how == "json":
        response = client.post("/bestsms/send", json=params)
    else:
        response = client.post("/bestsms/send", params=params)
    assert response.status_code == 200, response.text
    assert count(engine) == 1


def test_parameter_names_are_case_insensitive(client: TestClient, tenant: BestTenant) -> None:
    params = {k.lower(): v for k, v in spec_params(tenant).items()}
    assert client.get("/bestsms/send", params=params).status_code == 200


def test_message_id_is_echoed_stored_and_unique(
    client: TestClient, tenant: BestTenant, engine: Engine
) -> None:
    params = {**spec_params(tenant), "MessageID": "ID123456"}
    first = client.post("/bestsms/send", data=params)
    assert first.json() == {"Result": "Success", "MessageID": "ID123456"}
    # The same request again (a retry after a lost answer) gets the same answer and sends nothing more.
    again = client.post("/bestsms/send", data=params)
    assert again.status_code == 200 and again.json() == first.json()
    assert len(rows_by_ref(engine, "ID123456")) == 1
    assert credits(engine, tenant) == 99
    # Reusing the MessageID for another message is refused.
    other = client.post("/bestsms/send", data={**params, "Message": "something else"})
    assert other.status_code == 400
    assert other.headers["content-type"].startswith("text/plain")
    assert "MessageID 'ID123456' was already used" in other.text
    assert count(engine) == 1


@pytest.mark.parametrize("bad", ["x" * 41, "has space", "semi;colon", "ümlaut"])
def test_message_id_must_be_alphanumeric_up_to_40(bad: str, client: TestClient, tenant: BestTenant) -> None:
    response = client.post("/bestsms/send", data={**spec_params(tenant), "MessageID": bad})
    assert response.status_code == 400
    assert response.text.startswith("MessageID must be at most 40 characters")


def test_message_id_of_40_alphanumerics_and_guid_shape_are_accepted(
    client: TestClient, tenant: BestTenant
) -> None:
    for mid in ("A" * 40, "0C7B9A01-2345-6789-ABCD-EF0123456789"):
        response = client.post("/bestsms/send", data={**spec_params(tenant), "MessageID": mid})
        assert response.json()["MessageID"] == mid


def test_sms_email_reply_is_validated_and_kept(
    client: TestClient, tenant: BestTenant, engine: Engine
) -> None:
    bad = client.post("/bestsms/send", data={**spec_params(tenant), "SMSEmailReply": "not-an-address"})
    assert bad.status_code == 400 and "SMSEmailReply" in bad.text
    ok = client.post(
        "/bestsms/send", data={**spec_params(tenant), "SMSEmailReply": "replies@department01.co"}
    )
    (row,) = rows_by_ref(engine, ok.json()["MessageID"])
    assert row["meta"]["bestsms"] == {"sender": tenant.sender, "sms_email_reply": "replies@department01.co"}


def test_test_mode_is_answered_stored_never_charged_and_final_at_once(
    client: TestClient, tenant: BestTenant, engine: Engine
) -> None:
    response = client.post("/bestsms/send", data={**spec_params(tenant), "Mode": "Test"})
    assert response.status_code == 200
    assert guid_pattern().fullmatch(response.json()["MessageID"])
    (row,) = rows_by_ref(engine, response.json()["MessageID"])
    assert row["meta"]["test"] is True and row["due_at"] is None and row["credits"] == 0
    assert credits(engine, tenant) == 100
    view = client.get(f"/v1/messages/{row['id']}", headers={"Authorization": f"Bearer {tenant.secret}"})
    assert view.json()["test"] is True
    assert view.json()["status"] == "canceled"  # final: a client waiting for a final status gets one
    assert row["status"] == "canceled" and row["error_message"] == "test mode: not sent"
    # Test mode is validated like a real send.
    bad = client.post("/bestsms/send", data={**spec_params(tenant), "Mode": "Test", "Number": "12"})
    assert bad.status_code == 400
    assert client.post("/bestsms/send", data={**spec_params(tenant), "Mode": "Dry"}).status_code == 400


@pytest.mark.parametrize(
    ("number", "e164"),
    [
        ("0421000001", "+61421000001"),
        ("0421 000 001", "+61421000001"),
        ("+61421000001", "+61421000001"),
        ("0064211234567", "+64211234567"),
        ("+64211234567", "+64211234567"),
        ("0011 64 21 123 4567", "+64211234567"),
    ],
)
def test_numbers_in_dialling_format(
    number: str, e164: str, client: TestClient, tenant: BestTenant, engine: Engine
) -> None:
    response = client.post("/bestsms/send", data={**spec_params(tenant), "Number": number})
    assert response.status_code == 200, response.text
    assert rows_by_ref(engine, response.json()["MessageID"])[0]["to_addr"] == e164


def test_allowed_destination_prefixes_refuse_with_the_reason(
    client: TestClient, tenant: BestTenant, engine: Engine
) -> None:
    set_settings(engine, tenant, allowed_destination_prefixes=["+61"])
    response = client.post("/bestsms/send", data={**spec_params(tenant), "Number": "+64211234567"})
    assert response.status_code == 400
    assert "outside this account's allowed destination prefixes" in response.text
    assert client.post("/bestsms/send", data=spec_params(tenant)).status_code == 200


def test_one_part_by_default_more_when_the_account_allows(
    client: TestClient, tenant: BestTenant, engine: Engine
) -> None:
    gsm = {**spec_params(tenant), "Message": "x" * 161}
    ucs2 = {**spec_params(tenant), "Message": "ü" * 50 + "€" + "☺" * 20}
    assert client.post("/bestsms/send", data={**spec_params(tenant), "Message": "x" * 160}).status_code == 200
    refused = client.post("/bestsms/send", data=gsm)
    assert refused.status_code == 400
    assert refused.text == "the message needs 2 parts; this account allows 1"
    assert client.post("/bestsms/send", data=ucs2).status_code == 400
    set_settings(engine, tenant, bestsms_max_parts=2)
    response = client.post("/bestsms/send", data=gsm)
    assert response.status_code == 200
    assert rows_by_ref(engine, response.json()["MessageID"])[0]["segments"] == 2
    assert client.post("/bestsms/send", data={**gsm, "Message": "x" * 307}).status_code == 400


def test_credentials(client: TestClient, tenant: BestTenant, engine: Engine) -> None:
    wrong = client.post("/bestsms/send", data={**spec_params(tenant), "Token": "ta8wr7ymd"})
    assert (wrong.status_code, wrong.text) == (401, "invalid Sender or Token")
    unknown = client.post("/bestsms/send", data={**spec_params(tenant), "Sender": "nobody@example.com"})
    assert unknown.status_code == 401
    missing = client.post("/bestsms/send", data={"Number": "0421000001", "Message": "hi"})
    assert (missing.status_code, missing.text) == (401, "Sender and Token are required")
    # A key without a name is addressed by its id.
    by_id = client.post(
        "/bestsms/send", data={**spec_params(tenant), "Sender": tenant.key_id, "Token": tenant.secret}
    )
    assert by_id.status_code == 200
    assert count(engine) == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Number": ""}, "Number is required"),
        ({"Message": "  "}, "Message is required"),
        ({"Number": "not-a-number"}, "Number: 'not-a-number' is not a valid phone number"),
        ({"Message": "x" * 2000}, "Message is 2000 characters; at most 1600"),
    ],
)
def test_bad_requests_name_the_parameter(
    change: dict[str, str], reason: str, client: TestClient, tenant: BestTenant, engine: Engine
) -> None:
    response = client.post("/bestsms/send", data={**spec_params(tenant), **change})
    assert response.status_code == 400
    assert response.text.startswith(reason), response.text
    assert count(engine) == 0


def test_other_bodies_are_refused(client: TestClient, tenant: BestTenant) -> None:
    response = client.post(
        "/bestsms/send", content=SPEC_REQUEST.encode(), headers={"content-type": "text/plain"}
    )
    assert response.status_code == 400
    assert response.text.startswith("unsupported Content-Type 'text/plain'")
    assert (
        client.post("/bestsms/send", content=b"[1]", headers={"content-type": "application/json"}).status_code
        == 400
    )


def test_insufficient_credits(client: TestClient, engine: Engine, clock: ManualClock) -> None:
    from tests.providers.bestsms.support import make_best_tenant

    poor = make_best_tenant(engine, clock(), credits=0)
    response = client.post("/bestsms/send", data=spec_params(poor))
    assert response.status_code == 400
    assert response.text == "this send costs 1 credits and the balance is 0"


def test_sending_number_setting_and_no_number(client: TestClient, tenant: BestTenant, engine: Engine) -> None:
    set_settings(engine, tenant, bestsms_from="DEPT01")
    response = client.post("/bestsms/send", data=spec_params(tenant))
    assert rows_by_ref(engine, response.json()["MessageID"])[0]["from_addr"] == "DEPT01"
    set_settings(engine, tenant, bestsms_from=None)
    from textgate.service.accounts import set_number_status

    with engine.begin() as conn:
        set_number_status(conn, tenant.account, tenant.number, "inactive")
    response = client.post("/bestsms/send", data=spec_params(tenant))
    assert response.status_code == 400
    assert "no active number to send from" in response.text


def test_routes_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/bestsms/send", "/bestsms/status/{message_id}", "/bestsms/inbound", "/api/v3.00/sms"):
        operations = paths[path]
        assert all(op["tags"] == ["BestSMS dialect"] for op in operations.values()), path
    assert {p["name"] for p in paths["/bestsms/send"]["post"]["parameters"]} >= {"Sender", "Token", "Number"}


@pytest.mark.parametrize(
    "field", ["Sender", "Token", "Number", "Message", "MessageID", "SMSEmailReply", "Mode"]
)
def test_nul_and_control_characters_get_a_clean_answer(
    field: str, client: TestClient, tenant: BestTenant, engine: Engine
) -> None:
    params = {**spec_params(tenant), field: "ab\x00c\x01"}
    response = client.post("/bestsms/send", data=params)
    assert response.status_code in (400, 401), response.text
    assert count(engine) == 0


def test_hostile_poll_and_rest_input_never_fails(
    client: TestClient, tenant: BestTenant, engine: Engine
) -> None:
    bearer = {"Authorization": f"Bearer {tenant.secret}"}
    assert client.get("/bestsms/status/ab%00c", params=tenant.creds()).status_code == 404
    assert client.get("/bestsms/replies/" + "x" * 300, params=tenant.creds()).status_code == 404
    assert client.get("/bestsms/inbound", params={**tenant.creds(), "From": "2026\x00"}).status_code == 400
    assert client.get("/bestsms/inbound", params={"Sender": "a\x00", "Token": "b"}).status_code == 401
    for field in ("Reference", "SubAccount", "Department", "FromNumber", "MessageID", "SMSEmailReply"):
        body = {"Message": "hi", "Destination": "0421000001", field: "a\x00b"}
        response = client.post("/api/v3.00/sms", json=body, headers=bearer)
        assert response.status_code == 400, (field, response.text)
    assert count(engine) == 0
