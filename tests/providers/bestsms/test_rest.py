"""The v3.00 REST API the ``bestsms`` SDK calls, in process (the SDK itself runs in the e2e test)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tests.helpers import ManualClock
from tests.providers.bestsms.support import BestTenant, advance, inbound, make_best_tenant, rows_by_ref
from textgate.domain.message import MessageStatus as S
from textgate.providers.bestsms.rest import PREFIXES
from textgate.store.schema import messages


def bearer(tenant: BestTenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.secret}"}


def post(client: TestClient, tenant: BestTenant, body: dict[str, Any], prefix: str = "/api/v3.00") -> Any:
    return client.post(f"{prefix}/sms", json=body, headers=bearer(tenant))


@pytest.mark.parametrize("prefix", PREFIXES)
def test_send_many_destinations_as_one_job(
    prefix: str, client: TestClient, tenant: BestTenant, engine: Engine, clock: ManualClock
) -> None:
    body = {
        "Message": "Test SMS Message click [[Reply]] to opt out",
        "Destinations": [{"ToNumber": "+61491570006"}, "0421000001", {"MobilePhone": "0064211234567"}],
        "Reference": "Test",
        "MessageID": "JOB1",
        "CharacterConversion": False,
    }
    response = post(client, tenant, body, prefix)
    assert response.status_code == 200, response.text
    assert response.json() == {"Result": "Success", "MessageID": "JOB1"}
    rows = rows_by_ref(engine, "JOB1")
    assert sorted(r["to_addr"] for r in rows) == ["+61421000001", "+61491570006", "+64211234567"]
    advance(engine, rows[0]["id"], S.SENDING, S.DELIVERED, now=clock())
    status = client.get(f"{prefix}/sms/JOB1?recordsPerPage=2&page=1", headers=bearer(tenant)).json()
    assert (status["Count"], status["Complete"], status["Reference"], status["JobStatus"]) == (
        3,
        1,
        "Test",
        "Pending",
    )
    assert (status["TotalRecords"], status["PageCount"], len(status["Recipients"])) == (3, 2, 2)
    page2 = client.get(f"{prefix}/sms/JOB1?recordsPerPage=2&page=2", headers=bearer(tenant)).json()
    assert [r["DestSeq"] for r in page2["Recipients"]] == ["3"]


def test_single_destination_fields(client: TestClient, tenant: BestTenant, engine: Engine) -> None:
    for field in ("Destination", "ToNumber"):
        response = post(client, tenant, {"Message": "hi", field: "+61491570006"})
        assert response.status_code == 200, response.text
        assert rows_by_ref(engine, response.json()["MessageID"])[0]["to_addr"] == "+61491570006"


def test_from_number_must_be_the_accounts(
    client: TestClient, tenant: BestTenant, engine: Engine, clock: ManualClock
) -> None:
    other = make_best_tenant(engine, clock(), name="other", sender="api@other.co", number="+61491570111")
    ok = post(client, tenant, {"Message": "hi", "Destination": "0421000001", "FromNumber": "0491570110"})
    assert rows_by_ref(engine, ok.json()["MessageID"])[0]["from_addr"] == tenant.number
    theirs = post(client, tenant, {"Message": "hi", "Destination": "0421000001", "FromNumber": other.number})
    assert theirs.status_code == 400
    assert theirs.json() == {
        "Result": "Failed",
        "ErrorMessage": ["FromNumber +61491570111 is not an active number of this account"],
    }


def test_send_time_schedules(client: TestClient, tenant: BestTenant, engine: Engine) -> None:
    response = post(
        client,
        tenant,
        {
            "Message": "later",
            "Destination": "0421000001",
            "SendTime": "2026-03-16T09:00",
            "Timezone": "Australia/Sydney",
        },
    )
    (row,) = rows_by_ref(engine, response.json()["MessageID"])
    assert row["status"] == "scheduled"
    assert row["schedule_at"].isoformat() == "2026-03-15T22:00:00+00:00"
    status = client.get(f"/api/v3.00/sms/{response.json()['MessageID']}", headers=bearer(tenant)).json()
    assert status["JobStatus"] == "Delayed"
    assert status["DelayedTimeUTC"] == "2026-03-15 22:00:00"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Message": "hi"}, "Destination is required"),
        ({"Destination": "0421000001"}, "Message is required"),
        ({"Message": "hi", "Destination": "0421000001", "TemplateID": "T1"}, "TemplateID: message templates"),
        ({"Message": "hi", "GroupID": "G1"}, "GroupID: address-book destinations are not supported"),
        ({"Message": "hi", "Destinations": [{"ContactID": "C1"}]}, "Destinations[0].ContactID"),
        ({"Message": "hi", "Destination": "0421000001", "Files": [{"Name": "a", "Data": "eA=="}]}, "Files"),
        (
            {"Message": "hi", "Destination": "0421000001", "WebhookCallbackURL": "https://x"},
            "WebhookCallbackURL",
        ),
        ({"Message": "hi", "Destination": "0421000001", "Mode": "Maybe"}, "Mode must be Test or Live"),
        ({"Message": "hi", "Destination": "0421000001", "SendTime": "soon"}, "SendTime 'soon'"),
        ({"Message": "hi", "Destinations": ["0421000001", "12"]}, "Destination[1]: '12' is not a valid"),
        ({"Message": ["hi"], "Destination": "0421000001"}, "Message must be a string"),
    ],
)
def test_refusals(
    body: dict[str, Any], message: str, client: TestClient, tenant: BestTenant, engine: Engine
) -> None:
    response = post(client, tenant, body)
    assert response.status_code == 400, response.text
    assert response.json()["Result"] == "Failed"
    assert response.json()["ErrorMessage"][0].startswith(message), response.json()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 0


def test_bodies_and_credentials(client: TestClient, tenant: BestTenant) -> None:
    form = client.post("/api/v3.00/sms", data={"Message": "hi"}, headers=bearer(tenant))
    assert form.status_code == 400
    assert form.json()["ErrorMessage"] == [
        "Content-Type must be application/json, not 'application/x-www-form-urlencoded'"
    ]
    broken = client.post(
        "/api/v3.00/sms", content=b"{", headers={**bearer(tenant), "content-type": "application/json"}
    )
    assert broken.status_code == 400
    none = client.post("/api/v3.00/sms", json={"Message": "hi", "Destination": "0421000001"})
    assert none.status_code == 401 and none.json()["Result"] == "Unauthorized"
    wrong = client.post(
        "/api/v3.00/sms",
        json={"Message": "hi", "Destination": "0421000001"},
        headers={"Authorization": "Bearer x"},
    )
    assert wrong.status_code == 401
    basic = client.post(
        "/api/v3.00/sms",
        json={"Message": "hi", "Destination": "0421000001"},
        auth=(tenant.sender, tenant.token),
    )
    assert basic.status_code == 200
    assert client.patch("/api/v3.00/sms/X/abort", json={}).json()["Result"] == "Failed"


def test_received_and_replies(
    client: TestClient, tenant: BestTenant, engine: Engine, clock: ManualClock
) -> None:
    post(client, tenant, {"Message": "hi", "Destination": "0421000001", "MessageID": "ASK"})
    clock.advance(60)
    inbound(engine, "+61421000001", tenant.number, "yes", clock())
    status = client.get("/api/v3.00/sms/ASK?recordsPerPage=20&page=1", headers=bearer(tenant)).json()
    (reply,) = status["Recipients"][0]["SMSReplies"]
    assert (reply["From"], reply["MessageText"], reply["ReceivedTimeUTC"]) == (
        "+61421000001",
        "yes",
        "2026-03-15 14:31:00",
    )
    received = client.get(
        "/api/v3.00/sms/received?dateFrom=2026-03-15+00%3A00%3A00&dateTo=2026-03-16+00%3A00%3A00&recordsPerPage=20&page=1",
        headers=bearer(tenant),
    ).json()
    assert [m["MessageText"] for m in received["Messages"]] == ["yes"]
    assert received["Messages"][0]["MessageID"] == "ASK"
    assert client.get("/api/v3.00/sms/NOPE", headers=bearer(tenant)).status_code == 404


def test_received_with_a_date_at_the_calendars_end_is_a_400(client: TestClient, tenant: BestTenant) -> None:
    for query in ("dateTo=0001-01-01T00:00:00Z", "dateFrom=9999-12-31T23:59:59-14:00"):
        response = client.get(f"/api/v3.00/sms/received?{query}", headers=bearer(tenant))
        assert response.status_code == 400, (query, response.text)
        assert query.split("=")[0].lower() in response.text.lower()
