"""The API as a whole: Token and Action, GET and POST, ShowErrorMessage, CheckCredits,
CheckMessageStatus, tenancy — and every error code of the document that textgate can produce, produced."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock, Tenant, make_tenant
from tests.providers.textconnect import seed
from tests.providers.textconnect.util import PATH, SENDER, TO, send, text
from textgate.domain.message import MessageStatus
from textgate.providers.textconnect import wire
from textgate.service.accounts import update_account
from textgate.service.contacts import create_group
from textgate.service.inbound import receive_inbound
from textgate.service.lists import ListEntryInput, add_list_entries, create_list
from textgate.service.messages import get_message_row
from textgate.service.policy import block_number
from textgate.service.status import change_status


def test_check_credits_by_get_and_post(client: TestClient, tenant: Tenant) -> None:
    assert text(client, tenant, "CheckCredits") == "100"
    assert text(client, tenant, "CheckCredits", method="POST") == "100"


@pytest.mark.parametrize(
    "action", ["CheckCredits", "checkcredits", "CHECKCREDITS", "cHeCkCrEdItS", " CheckCredits "]
)
def test_action_is_not_case_sensitive(client: TestClient, tenant: Tenant, action: str) -> None:
    assert text(client, tenant, action) == "100"


def test_parameter_names_are_not_case_sensitive(client: TestClient, tenant: Tenant) -> None:
    response = client.get(
        PATH,
        params={
            "token": tenant.key.secret,
            "ACTION": "Send",
            "destinationaddress": TO,
            "sourceaddress": "API",
            "BODY": "Hi",
        },
    )
    assert response.text.startswith("msg_")


def test_query_and_form_together(client: TestClient, tenant: Tenant) -> None:
    # Token in the URL, the rest in the form body, as some clients post.
    response = client.post(f"{PATH}?Token={tenant.key.secret}", data={"Action": "CheckCredits"})
    assert response.text == "100"


def test_a_json_body_is_read_too(client: TestClient, tenant: Tenant) -> None:
    response = client.post(PATH, json={"Token": tenant.key.secret, "Action": "CheckCredits"})
    assert response.text == "100"


def test_an_unreadable_body(client: TestClient, tenant: Tenant) -> None:
    response = client.post(PATH, content=b"<xml/>", headers={"Content-Type": "application/xml"})
    assert (response.status_code, response.text) == (200, "-507")


@pytest.mark.parametrize("token", [None, "", "   ", "tgs_" + "x" * 32, "nonsense"])
def test_a_bad_token(client: TestClient, tenant: Tenant, token: str | None) -> None:
    params = {"Action": "CheckCredits"} if token is None else {"Action": "CheckCredits", "Token": token}
    response = client.get(PATH, params=params)
    assert (response.status_code, response.text) == (200, "-501")
    response = client.get(PATH, params={**params, "ShowErrorMessage": "yes"})
    assert response.text == "-501\nUnknown Username/Password"


def test_the_token_is_checked_before_anything_else(client: TestClient, tenant: Tenant) -> None:
    bad = "tgs_" + "x" * 32
    for action, params in [
        ("Nonsense", {}),
        ("Report", {"ReportType": "Sideways"}),
        ("UpdateCredits", {}),
        ("CreateUser", {}),
        ("CheckMessageStatus", {}),
        ("Send", {"Body": ""}),
        ("GetBGSendMessages", {"BGSendID": "x"}),
    ]:
        assert text(client, None, action, Token=bad, **params) == "-501", action


def test_a_suspended_user(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    with engine.begin() as conn:
        update_account(conn, tenant.account.id, status="suspended")
    assert text(client, tenant, "CheckCredits") == "-512"
    assert text(client, tenant, "Send", ShowErrorMessage="1") == "-512\nUser Suspended"


def test_an_unknown_action(client: TestClient, tenant: Tenant) -> None:
    assert text(client, tenant, "SendFax") == "-502"
    assert text(client, tenant, "") == "-502"
    assert (
        text(client, tenant, "SendFax", ShowErrorMessage="") == "-502\nUnknown Action"
    )  # set, even if empty


def test_check_message_status_follows_the_message(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    message_id = send(client, tenant)
    query = seed.example_query(seed.STATUS_URL, tenant.key.secret, **{"Your Message ID": message_id})
    assert client.get(f"{PATH}?{query}").text == "Pending"
    for status, word in [
        (MessageStatus.SENDING, "Pending"),
        (MessageStatus.SENT, "Sent"),
        (MessageStatus.DELIVERED, "Delivered"),
    ]:
        with engine.begin() as conn:
            row = get_message_row(conn, tenant.account.id, message_id)
            change_status(conn, row, status, now=clock(), source="test")
        assert text(client, tenant, "CheckMessageStatus", MessageID=message_id) == word


def test_every_status_has_a_word() -> None:
    assert set(wire.STATUS_WORDS) == {s.value for s in MessageStatus}


def test_an_inbound_message_is_received(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    with engine.begin() as conn:
        inbound = receive_inbound(
            conn, from_addr="+447777777771", to_addr=SENDER, body="hi", now=clock(), source="t"
        )
    assert text(client, tenant, "CheckMessageStatus", MessageID=inbound["id"]) == "Received"


def test_unknown_message_ids(client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock) -> None:
    other = make_tenant(engine, name="other", number="+447777777003", region="GB", now=clock())
    theirs = send(client, other)
    for message_id in ["", "msg_nothing", theirs, f"{theirs}-2", "x" * 100, "-", "msg_a-b-c"]:
        assert text(client, tenant, "CheckMessageStatus", MessageID=message_id) == "-503", message_id
    assert text(client, tenant, "CheckMessageStatus", MessageID=theirs, ShowErrorMessage="1") == (
        "-503\nUnknown Message ID"
    )
    assert text(client, other, "CheckMessageStatus", MessageID=theirs) == "Pending"


def test_a_huge_request_is_answered_as_a_code(client: TestClient, tenant: Tenant) -> None:
    body = urlencode({"Token": tenant.key.secret, "Action": "Send", "Body": "x" * (21 * 1024 * 1024)})
    response = client.post(
        PATH, content=body.encode(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert (response.status_code, response.text) == (200, "-507")
    # Other paths that merely begin with /api keep textgate's own answer.
    response = client.post("/api/elsewhere", content=b"x" * (21 * 1024 * 1024))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


# -- every code --------------------------------------------------------------------------------------

#: Codes of the document textgate never answers, and why (also in docs/dialects/textconnect.md).
NOT_PRODUCED: dict[int, str] = {
    -101: "no action takes a CreditID",
    -200: "no action takes a contact id",
    -300: "a database failure is an HTTP 500 (and retried by clients), never a fake answer",
    -301: "the fallback for a refusal no other code fits; every known refusal has a code",
    -302: "answers are never XML",
    -303: "requests are never XML",
    -506: "there is no Email2SMS",
    -511: "textgate has no maintenance mode",
    -513: "textgate has no licences",
    -514: "textgate has no licences",
    -515: "textgate has no licences",
    -517: "no action creates a distribution list",
    -703: "no action takes a currency",
}

Scenario = Callable[[TestClient, Tenant, Engine, ManualClock], str]


def _send(**params: str) -> Scenario:
    return lambda client, tenant, _engine, _clock: send(client, tenant, **params)


def _action(action: str, **params: str) -> Scenario:
    return lambda client, tenant, _engine, _clock: text(client, tenant, action, **params)


def _with_settings(settings: dict[str, object], then: Scenario) -> Scenario:
    def run(client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock) -> str:
        with engine.begin() as conn:
            update_account(conn, tenant.account.id, settings=settings)
        return then(client, tenant, engine, clock)

    return run


def _twice_then(then: Scenario) -> Scenario:
    def run(client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock) -> str:
        send(client, tenant)
        return then(client, tenant, engine, clock)

    return run


def _blocked(client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock) -> str:
    with engine.begin() as conn:
        block_number(conn, tenant.account, TO, now=clock())
    return send(client, tenant, ShowErrorMessage="1")


def _list_of_two(refuse_one: bool) -> Scenario:
    def run(client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock) -> str:
        with engine.begin() as conn:
            found = create_list(conn, tenant.account, "Customers", now=clock())
            if refuse_one:
                entries = [ListEntryInput(number=TO), ListEntryInput(number="447777777772")]
                add_list_entries(conn, tenant.account, found.id, entries, now=clock())
                block_number(conn, tenant.account, TO, now=clock())
        return send(client, tenant, DestinationAddress="List", ListName="Customers", ShowErrorMessage="1")

    return run


def _empty_group(client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock) -> str:
    with engine.begin() as conn:
        create_group(conn, tenant.account, "Nobody", now=clock())
    return send(client, tenant, DestinationAddress="Group", GroupName="Nobody", ShowErrorMessage="1")


def _suspended(client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock) -> str:
    with engine.begin() as conn:
        update_account(conn, tenant.account.id, status="suspended")
    return text(client, tenant, "CheckCredits", ShowErrorMessage="1")


def _taken_username(client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock) -> str:
    user = {
        "ChildPassword": "correct-horse",
        "AccessLevel": "Normal",
        "FirstName": "A",
        "LastName": "B",
        "Email": "a@example.com",
        "ChildUsername": "ann.lee",
    }
    assert text(client, tenant, "CreateUser", **user) == "1"
    return text(client, tenant, "CreateUser", **user)


def _child_below_zero(client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock) -> str:
    _taken_username(client, tenant, engine, clock)
    return text(client, tenant, "UpdateCredits", ChildUsername="ann.lee", Quantity="-1", ShowErrorMessage="1")


SCENARIOS: dict[int, Scenario] = {
    -100: _send(DestinationAddress=",".join(f"4477777{n:05d}" for n in range(101)), ShowErrorMessage="1"),
    -400: _list_of_two(refuse_one=True),
    -401: _send(DestinationAddress="447", ShowErrorMessage="1"),
    -402: _send(SourceAddress="TwelveChars1", ShowErrorMessage="1"),
    -403: _send(SourceAddress="0", ShowErrorMessage="1"),
    -404: _action("Send", DestinationAddress=TO, SourceAddress="API", ShowErrorMessage="1"),
    -405: _send(ValidityPeriod="86401", ShowErrorMessage="1"),
    -406: _with_settings({"allowed_destination_prefixes": ["+33"]}, _send(ShowErrorMessage="1")),
    -407: _send(ScheduleDate="20261301000000", ShowErrorMessage="1"),
    -408: _list_of_two(refuse_one=False),
    -409: _empty_group,
    -410: _send(DestinationAddress="List", ShowErrorMessage="1"),
    -411: _with_settings({"daily_limit_per_number": 1}, _twice_then(_send(ShowErrorMessage="1"))),
    -412: _blocked,
    -414: _send(DestinationAddress="Group", ShowErrorMessage="1"),
    -501: lambda client, _t, _e, _c: text(client, None, "CheckCredits", Token="tgs_x", ShowErrorMessage="1"),
    -502: _action("Fly", ShowErrorMessage="1"),
    -503: _action("CheckMessageStatus", MessageID="msg_0000000000000000000000", ShowErrorMessage="1"),
    -504: _action("Report", ReportType="Messages", From="yesterday", ShowErrorMessage="1"),
    -505: _action("Report", ReportType="Messages", From="20260101000000", ShowErrorMessage="1"),
    -507: _action("CreateUser", ShowErrorMessage="1"),
    -508: _taken_username,
    -509: _action("UpdateCredits", ChildUsername="nobody", Quantity="1", ShowErrorMessage="1"),
    -510: _child_below_zero,
    -512: _suspended,
    -516: _send(DestinationAddress="List", ListName="Nowhere", ShowErrorMessage="1"),
    -518: _send(SourceAddress="", ShowErrorMessage="1"),
    -519: _send(Body=" ", ShowErrorMessage="1"),
    -520: _action("DeleteGroup", GroupName="Nowhere", ShowErrorMessage="1"),
    -601: _action("Report", ReportType="Everything", ShowErrorMessage="1"),
    -701: _action("UpdateCredits", Quantity="1", ShowErrorMessage="1"),
    -702: _action("UpdateCredits", ChildUsername="someone", Quantity="lots", ShowErrorMessage="1"),
}


def test_every_code_is_produced_or_explained() -> None:
    assert set(SCENARIOS) | set(NOT_PRODUCED) == set(wire.ERRORS)
    assert not set(SCENARIOS) & set(NOT_PRODUCED)


@pytest.mark.parametrize("code", sorted(SCENARIOS, reverse=True))
def test_code(client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock, code: int) -> None:
    lines = SCENARIOS[code](client, tenant, engine, clock).split("\n")
    assert lines[0] == str(code)
    assert lines[1] == wire.ERRORS[code]
