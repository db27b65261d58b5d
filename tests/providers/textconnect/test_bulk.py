"""Sends to a distribution list or a contact group, and GetBGSendMessages.

Up to 200 recipients are sent at once; more run in the background, expanded here by the bulk worker's
rounds (the app in these tests runs no workers), so GetBGSendMessages first answers -522.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, select

from tests.helpers import ManualClock, Tenant, make_tenant
from tests.providers.textconnect import seed
from tests.providers.textconnect.util import PATH, call, credits, send, stored, text
from textgate.service.accounts import add_credits
from textgate.service.contact_import import import_contacts_csv
from textgate.service.contacts import create_group
from textgate.service.lists import ListEntryInput, add_list_entries, create_list
from textgate.service.policy import block_number
from textgate.store.schema import message_events, messages
from textgate.workers.bulk import BulkWorker

BULK_ID = re.compile(r"bul_[A-Za-z0-9]{22}")


def _number(i: int) -> str:
    return f"4477777{i:05d}"


def _list(engine: Engine, tenant: Tenant, clock: ManualClock, name: str, size: int) -> None:
    with engine.begin() as conn:
        found = create_list(conn, tenant.account, name, now=clock())
        entries = [ListEntryInput(number=_number(i)) for i in range(size)]
        if entries:
            add_list_entries(conn, tenant.account, found.id, entries, now=clock())


def _group(engine: Engine, tenant: Tenant, clock: ManualClock, name: str, size: int) -> None:
    with engine.begin() as conn:
        if size == 0:
            create_group(conn, tenant.account, name, now=clock())
            return
        lines = "\n".join(f"Person {i},{_number(i)},,{name}" for i in range(size))
        report = import_contacts_csv(conn, tenant.account, lines, now=clock())
        assert report.count("Success") == size


def _bg(client: TestClient, tenant: Tenant, bulk_id: str) -> object:
    response = call(client, tenant, "GetBGSendMessages", BGSendID=bulk_id)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return json.loads(response.text)


def _expand_all(engine: Engine, clock: ManualClock) -> None:
    worker = BulkWorker(engine, clock=clock)
    for _ in range(20):
        if worker.round() == 0:
            return
    raise AssertionError("the bulk send did not finish")


def _bulk(client: TestClient, tenant: Tenant, kind: str, name: str, **extra: str) -> httpx.Response:
    field = "ListName" if kind.lower() == "list" else "GroupName"
    params = {"DestinationAddress": kind, "SourceAddress": "API", "Body": "Hello World", field: name}
    return call(client, tenant, "Send", method="POST", **{**params, **extra})


@pytest.fixture
def rich(engine: Engine, clock: ManualClock) -> Tenant:
    return make_tenant(engine, name="rich", credits=1000, number="+447777777002", region="GB", now=clock())


@pytest.mark.parametrize("kind", ["List", "Group"])
def test_a_small_send_runs_at_once(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock, kind: str
) -> None:
    (_list if kind == "List" else _group)(engine, tenant, clock, "Customers", 3)
    assert _bulk(client, tenant, kind, "Customers").text == "1"
    assert stored(engine) == 3 and credits(engine, tenant) == 97
    bulk_id = _bulk(client, tenant, kind.lower(), "Customers", GetBGSendID="1").text
    assert BULK_ID.fullmatch(bulk_id), bulk_id
    answer = _bg(client, tenant, bulk_id)
    assert isinstance(answer, list)
    example = json.loads(seed.straight_quotes(seed.BG_MESSAGES_EXAMPLE))
    assert all(set(item) == set(example[0]) for item in answer)  # MessageID, Destination, Status
    assert sorted(item["Destination"] for item in answer) == [_number(i) for i in range(3)]
    assert {item["Status"] for item in answer} == {"Pending"}
    assert [item["MessageID"] for item in answer] == sorted(item["MessageID"] for item in answer)
    for item in answer:
        assert text(client, tenant, "CheckMessageStatus", MessageID=item["MessageID"]) == "Pending"


@pytest.mark.parametrize("kind", ["List", "Group"])
def test_more_than_200_run_in_the_background(
    client: TestClient, rich: Tenant, engine: Engine, clock: ManualClock, kind: str
) -> None:
    (_list if kind == "List" else _group)(engine, rich, clock, "Everyone", 250)
    bulk_id = _bulk(client, rich, kind, "Everyone", GetBGSendID="1").text
    assert BULK_ID.fullmatch(bulk_id), bulk_id
    assert stored(engine) == 0  # nothing expanded yet
    assert _bg(client, rich, bulk_id) == {"error": "-522", "message": "Background Send Not Finished"}
    assert credits(engine, rich) == 1000 - 250  # reserved whole at acceptance
    _expand_all(engine, clock)
    answer = _bg(client, rich, bulk_id)
    assert isinstance(answer, list) and len(answer) == 250
    assert sorted(item["Destination"] for item in answer) == [_number(i) for i in range(250)]
    assert stored(engine) == 250


def test_a_background_send_answers_1_without_get_bg_send_id(
    client: TestClient, rich: Tenant, engine: Engine, clock: ManualClock
) -> None:
    _list(engine, rich, clock, "Everyone", 201)
    assert _bulk(client, rich, "List", "Everyone").text == "1"
    assert stored(engine) == 0


def test_some_recipients_refused_is_400(
    client: TestClient, rich: Tenant, engine: Engine, clock: ManualClock
) -> None:
    _list(engine, rich, clock, "Customers", 3)
    with engine.begin() as conn:
        block_number(conn, rich.account, _number(1), now=clock())
    assert _bulk(client, rich, "List", "Customers").text == "-400"
    assert _bulk(client, rich, "List", "Customers", ShowErrorMessage="1").text == (
        "-400\nSome numbers in list failed"
    )
    bulk_id = _bulk(client, rich, "List", "Customers", GetBGSendID="1").text
    statuses = {item["Destination"]: item["Status"] for item in _bg(client, rich, bulk_id)}  # type: ignore[attr-defined]
    assert statuses == {_number(0): "Pending", _number(1): "Failed", _number(2): "Pending"}
    assert credits(engine, rich) == 1000 - 3 * 2  # the refused recipient's credit came back


def test_list_errors(client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock) -> None:
    _list(engine, tenant, clock, "Empty", 0)
    no_name = call(client, tenant, "Send", DestinationAddress="List", SourceAddress="API", Body="Hi")
    assert no_name.text == "-410"
    assert _bulk(client, tenant, "List", "  ").text == "-410"
    assert _bulk(client, tenant, "List", "Nobody").text == "-516"
    assert _bulk(client, tenant, "List", "Empty").text == "-408"
    assert _bulk(client, tenant, "List", "Empty", ShowErrorMessage="1").text == (
        "-408\nDistribution List is Empty"
    )
    assert stored(engine) == 0 and credits(engine, tenant) == 100


def test_group_errors(client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock) -> None:
    _group(engine, tenant, clock, "Empty", 0)
    no_name = call(client, tenant, "Send", DestinationAddress="Group", SourceAddress="API", Body="Hi")
    assert no_name.text == "-414"
    assert _bulk(client, tenant, "Group", "Nobody").text == "-520"
    assert _bulk(client, tenant, "Group", "Empty").text == "-409"
    assert _bulk(client, tenant, "Group", "Empty", ShowErrorMessage="1").text == "-409\nGroup is Empty"
    assert stored(engine) == 0 and credits(engine, tenant) == 100


def test_the_message_is_checked_before_the_list(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    _list(engine, tenant, clock, "Customers", 2)
    assert _bulk(client, tenant, "List", "Customers", SourceAddress="").text == "-518"
    assert _bulk(client, tenant, "List", "Customers", Body="").text == "-519"
    assert _bulk(client, tenant, "List", "Customers", ScheduleDate="tomorrow").text == "-407"
    assert stored(engine) == 0


def test_a_list_the_balance_cannot_cover(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    _list(engine, tenant, clock, "Big", 150)
    with engine.begin() as conn:
        add_credits(conn, tenant.account.id, -60, now=clock())
    assert _bulk(client, tenant, "List", "Big").text == "-100"
    assert stored(engine) == 0 and credits(engine, tenant) == 40


def test_background_send_errors(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    assert _bg(client, tenant, "bul_unknown") == json.loads(seed.straight_quotes(seed.BG_ERROR_EXAMPLE))
    assert _bg(client, tenant, "") == {"error": "-521", "message": "Unknown Background SendID"}
    assert _bg(client, tenant, "x" * 100) == {"error": "-521", "message": "Unknown Background SendID"}
    _list(engine, tenant, clock, "Customers", 2)
    bulk_id = _bulk(client, tenant, "List", "Customers", GetBGSendID="1").text
    # Messages that are gone (archived) cannot be listed.
    with engine.begin() as conn:
        ids = select(messages.c.id).where(messages.c.batch_id == bulk_id)
        conn.execute(delete(message_events).where(message_events.c.message_id.in_(ids)))
        conn.execute(delete(messages).where(messages.c.batch_id == bulk_id))
    assert _bg(client, tenant, bulk_id) == {"error": "-523", "message": "No messages were found"}


def test_the_documents_example_url(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    _list(engine, tenant, clock, "Customers", 2)
    bulk_id = _bulk(client, tenant, "List", "Customers", GetBGSendID="1").text
    query = seed.example_query(seed.BG_URL, tenant.key.secret, BGSendID=bulk_id)
    answer = client.get(f"{PATH}?{query}").json()
    assert sorted(item["Destination"] for item in answer) == [_number(0), _number(1)]


def test_other_accounts_lists_groups_and_sends(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    other = make_tenant(engine, name="other", credits=100, number="+447777777003", region="GB", now=clock())
    _list(engine, other, clock, "Theirs", 2)
    _group(engine, other, clock, "TheirGroup", 2)
    bulk_id = _bulk(client, other, "List", "Theirs", GetBGSendID="1").text
    assert _bulk(client, tenant, "List", "Theirs").text == "-516"
    assert _bulk(client, tenant, "Group", "TheirGroup").text == "-520"
    assert _bg(client, tenant, bulk_id) == {"error": "-521", "message": "Unknown Background SendID"}
    assert send(client, tenant).startswith("msg_")
