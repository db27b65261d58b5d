"""Plain answers, a per-key option: a key with ``bestsms_answers=plain`` gets the BestSMS document's plain
answers from ``/bestsms/send``; every other key, and every other route, keeps JSON."""

from __future__ import annotations

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock
from tests.providers.bestsms.support import BestTenant, rows_by_ref
from textgate.domain.errors import ErrorKind, NotFound, PermissionDenied, TextgateError, ValidationError
from textgate.providers.bestsms.dialect import plain_error
from textgate.service.accounts import add_number, create_key, get_account, set_key_options

# The document's plain answers, verbatim: "<status>, <body>".
SPEC_PLAIN_SUCCESS = "200 OK, OK Thanks"
SPEC_PLAIN_FAILURE = "400 BAD REQUEST, %ERROR REASON%"
PLAIN_SENDER = "plain@department01.co"


def spec_answer(line: str) -> tuple[int, str]:
    """``(status, body)`` of a document answer line: ``200 OK, OK Thanks`` -> ``(200, "OK Thanks")``."""
    status_line, _, body = line.partition(", ")
    return int(status_line.split()[0]), body


@pytest.fixture
def plain(engine: Engine, clock: ManualClock, tenant: BestTenant) -> dict[str, str]:
    """Sender/Token of a second key of the tenant, one that asks for plain answers."""
    with engine.begin() as conn:
        key = create_key(
            conn, tenant.account.id, now=clock(), name=PLAIN_SENDER, options={"bestsms_answers": "plain"}
        )
    assert key.options == {"bestsms_answers": "plain"}
    return {"Sender": PLAIN_SENDER, "Token": key.secret}


def send(client: TestClient, creds: dict[str, str], **params: str) -> httpx.Response:
    return client.post("/bestsms/send", data={**creds, "Number": "0421000001", "Message": "Hello", **params})


def test_a_plain_key_gets_the_documents_success_answer(
    client: TestClient, tenant: BestTenant, plain: dict[str, str], engine: Engine
) -> None:
    status, body = spec_answer(SPEC_PLAIN_SUCCESS)
    r = client.post(
        "/bestsms/send", data={**plain, "Number": "0421000001", "Message": "Hello", "MessageID": "PLAIN1"}
    )
    assert (r.status_code, r.text) == (status, body) == (200, "OK Thanks")
    assert r.headers["content-type"].startswith("text/plain")
    (row,) = rows_by_ref(engine, "PLAIN1")
    assert row["to_addr"] == "+61421000001" and row["body"] == "Hello"
    assert row["meta"]["bestsms"]["sender"] == PLAIN_SENDER
    # A retry with the same MessageID replays the answer, plainly, and sends nothing more.
    again = client.post(
        "/bestsms/send", data={**plain, "Number": "0421000001", "Message": "Hello", "MessageID": "PLAIN1"}
    )
    assert (again.status_code, again.text) == (200, "OK Thanks")
    assert len(rows_by_ref(engine, "PLAIN1")) == 1
    # GET works the same.
    r = client.get("/bestsms/send", params={**plain, "Number": "0421000001", "Message": "Hi"})
    assert (r.status_code, r.text) == (200, "OK Thanks")


def test_other_keys_of_the_same_account_keep_json(
    client: TestClient, tenant: BestTenant, plain: dict[str, str]
) -> None:
    r = client.post("/bestsms/send", data={**tenant.creds(), "Number": "0421000001", "Message": "Hello"})
    assert r.status_code == 200
    assert orjson.loads(r.content)["Result"] == "Success"


def test_a_plain_keys_errors_are_400_with_the_reason(
    client: TestClient, tenant: BestTenant, plain: dict[str, str]
) -> None:
    status, _ = spec_answer(SPEC_PLAIN_FAILURE)
    r = client.post("/bestsms/send", data={**plain, "Number": "12", "Message": "Hello"})
    assert r.status_code == status == 400
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text.startswith("Number: '12' is not a valid phone number")
    r = client.post("/bestsms/send", data={**plain, "Number": "0421000001", "Message": "Hello", "Mode": "x"})
    assert (r.status_code, r.text) == (400, "Mode must be Test or Live, not 'x'")


def test_a_plain_keys_authentication_errors_keep_their_status(
    client: TestClient, tenant: BestTenant, plain: dict[str, str], engine: Engine
) -> None:
    r = client.post(
        "/bestsms/send",
        data={"Sender": PLAIN_SENDER, "Token": "wrong", "Number": "0421000001", "Message": "x"},
    )
    assert (r.status_code, r.text) == (401, "invalid Sender or Token")


def test_plain_errors_map_everything_but_authentication_to_400() -> None:
    cases: list[tuple[TextgateError, int]] = [
        (ValidationError("Number is required", field="Number"), 400),
        (NotFound("no such thing"), 400),
        (ValidationError("slow down", kind=ErrorKind.RATE_LIMITED), 400),
        (PermissionDenied("not yours"), 403),
    ]
    for exc, status in cases:
        r = plain_error(exc)
        assert (r.status_code, r.body.decode()) == (status, exc.message)


def test_polls_and_the_rest_api_answer_json_to_a_plain_key(
    client: TestClient, tenant: BestTenant, plain: dict[str, str]
) -> None:
    assert send(client, plain, MessageID="P2").text == "OK Thanks"
    r = client.get("/bestsms/status/P2", params=plain)
    assert r.status_code == 200 and orjson.loads(r.content)["MessageID"] == "P2"
    r = client.post(
        "/api/v3.00/sms",
        auth=(plain["Sender"], plain["Token"]),
        json={"Message": "Hello", "Destination": "+61421000001", "MessageID": "P3"},
    )
    assert r.status_code == 200 and orjson.loads(r.content) == {"Result": "Success", "MessageID": "P3"}


def test_switching_an_existing_key_to_plain_and_back(
    client: TestClient, tenant: BestTenant, engine: Engine
) -> None:
    with engine.begin() as conn:
        assert set_key_options(conn, tenant.key_id, {"bestsms_answers": "plain"}) == {
            "bestsms_answers": "plain"
        }
    creds = {"Sender": tenant.key_id, "Token": tenant.secret}  # the first key has no name: its id
    assert send(client, creds).text == "OK Thanks"
    with engine.begin() as conn:
        assert set_key_options(conn, tenant.key_id, {"bestsms_answers": "json"}) is None  # the default
    assert orjson.loads(send(client, creds).content)["Result"] == "Success"


def test_key_options_are_checked(engine: Engine, clock: ManualClock, tenant: BestTenant) -> None:
    with engine.begin() as conn:
        with pytest.raises(ValidationError, match="bestsms_answers must be one of json, plain"):
            create_key(conn, tenant.account.id, now=clock(), options={"bestsms_answers": "xml"})
        with pytest.raises(ValidationError, match="unknown API key option 'colour'"):
            create_key(conn, tenant.account.id, now=clock(), options={"colour": "red"})


def test_the_native_api_issues_plain_keys_for_users(
    client: TestClient, tenant: BestTenant, engine: Engine, clock: ManualClock
) -> None:
    auth = {"Authorization": f"Bearer {tenant.secret}"}
    user = {"username": "dept02", "password": "correct horse", "first_name": "Ada", "last_name": "Lovelace"}
    r = client.post("/v1/users", json=user | {"email": "ada@example.com", "credits": 5}, headers=auth)
    assert r.status_code == 201, r.text
    user_id = r.json()["user"]["id"]
    assert r.json()["api_key"]["options"] == {}
    with engine.begin() as conn:
        add_number(conn, get_account(conn, user_id), "+61491570111", now=clock())
    r = client.post("/v1/users/dept02/keys", json={"bestsms_answers": "plain"}, headers=auth)
    assert r.status_code == 201 and r.json()["options"] == {"bestsms_answers": "plain"}
    assert send(client, {"Sender": r.json()["id"], "Token": r.json()["secret"]}).text == "OK Thanks"
    r = client.post("/v1/users/dept02/keys", json={"bestsms_answers": "xml"}, headers=auth)
    assert r.status_code == 422 and r.json()["error"]["field"] == "bestsms_answers"
    assert client.post("/v1/users/dept02/keys", headers=auth).json()["options"] == {}
