"""The GET polls: status of a MessageID, replies threaded to it, and inbound messages in a time frame."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock
from tests.providers.bestsms.support import (
    BestTenant,
    advance,
    inbound,
    make_best_tenant,
    rows_by_ref,
    set_settings,
)
from textgate.domain.errors import ErrorKind
from textgate.domain.message import MessageStatus as S

HANDSET = "+61421000001"


def send(
    client: TestClient, tenant: BestTenant, message_id: str, number: str = "0421000001", **extra: str
) -> str:
    """Send through /bestsms/send; returns the textgate id of the message."""
    response = client.post(
        "/bestsms/send",
        data={**tenant.creds(), "Number": number, "Message": "Hello", "MessageID": message_id, **extra},
    )
    assert response.status_code == 200, response.text
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    return str(rows_by_ref(engine, message_id)[0]["id"])


def poll(client: TestClient, tenant: BestTenant, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params={**tenant.creds(), **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_status_through_a_message_life(
    client: TestClient, tenant: BestTenant, engine: Engine, clock: ManualClock
) -> None:
    msg = send(client, tenant, "js82hn8n")
    doc = poll(client, tenant, "/bestsms/status/js82hn8n")
    assert {
        k: doc[k] for k in ("Result", "MessageID", "Status", "Count", "Complete", "Success", "Failed")
    } == {
        "Result": "Success",
        "MessageID": "js82hn8n",
        "Status": "Pending",
        "Count": 1,
        "Complete": 0,
        "Success": 0,
        "Failed": 0,
    }
    assert doc["Price"] == "1.00" and doc["Mode"] == "Live" and len(doc["JobNum"]) == 8
    (recipient,) = doc["Recipients"]
    assert {
        k: recipient[k] for k in ("Type", "Destination", "Status", "Result", "SentDate", "SentDateUTC")
    } == {
        "Type": "SMS",
        "Destination": HANDSET,
        "Status": "Pending",
        "Result": "queued",
        "SentDate": None,
        "SentDateUTC": None,
    }
    clock.advance(60)
    advance(engine, msg, S.SENDING, S.SENT, now=clock())
    recipient = poll(client, tenant, "/bestsms/status/js82hn8n")["Recipients"][0]
    assert (recipient["Status"], recipient["Result"]) == ("Pending", "sent")
    assert recipient["SentDateUTC"] == "2026-03-15 14:31:00"
    assert recipient["SentTimeUTC_RFC3339"] == "2026-03-15T14:31:00.000Z"
    advance(engine, msg, S.DELIVERED, now=clock())
    doc = poll(client, tenant, "/bestsms/status/js82hn8n")
    assert (doc["Status"], doc["JobStatus"], doc["Complete"], doc["Success"]) == (
        "Completed",
        "Completed",
        1,
        1,
    )
    assert doc["Recipients"][0]["Status"] == "Success"


def test_failures_report_their_cause_and_refunds_show_in_price(
    client: TestClient, tenant: BestTenant, engine: Engine, clock: ManualClock
) -> None:
    msg = send(client, tenant, "FAIL1")
    advance(
        engine,
        msg,
        S.FAILED,
        now=clock(),
        error_kind=ErrorKind.INVALID_DESTINATION,
        error_message="The destination number is invalid.",
    )
    doc = poll(client, tenant, "/bestsms/status/FAIL1")
    assert (doc["Status"], doc["Failed"], doc["Price"]) == ("Completed", 1, "0.00")
    assert doc["Recipients"][0]["Result"] == "The destination number is invalid."
    assert doc["Recipients"][0]["Status"] == "Failed"


def test_local_times_follow_the_account_timezone(
    client: TestClient, tenant: BestTenant, engine: Engine
) -> None:
    set_settings(engine, tenant, timezone="Australia/Sydney")
    send(client, tenant, "TZ1")
    doc = poll(client, tenant, "/bestsms/status/TZ1")
    assert doc["Timezone"] == "Australia/Sydney"
    assert (doc["CreatedTimeUTC"], doc["CreatedTimeLocal"]) == ("2026-03-15 14:30:00", "2026-03-16 01:30:00")


def test_poll_errors(client: TestClient, tenant: BestTenant, engine: Engine, clock: ManualClock) -> None:
    send(client, tenant, "MINE")
    missing = client.get("/bestsms/status/NOPE", params=tenant.creds())
    assert missing.status_code == 404
    assert missing.json() == {
        "Result": "RecordNotFound",
        "ErrorMessage": ["no message with MessageID 'NOPE'"],
    }
    wrong = client.get("/bestsms/status/MINE", params={**tenant.creds(), "Token": "x"})
    assert wrong.status_code == 401 and wrong.json()["Result"] == "Unauthorized"
    assert client.get("/bestsms/status/MINE").status_code == 401
    other = make_best_tenant(engine, clock(), name="other", sender="api@other.co", number="+61491570111")
    assert client.get("/bestsms/status/MINE", params=other.creds()).status_code == 404
    bad_page = client.get("/bestsms/status/MINE", params={**tenant.creds(), "Page": "0"})
    assert bad_page.status_code == 400 and bad_page.json()["Result"] == "Failed"
    # The REST API's Authorization header works on the simple polls too.
    header = client.get("/bestsms/status/MINE", headers={"Authorization": f"Bearer {tenant.secret}"})
    assert header.status_code == 200


def test_replies_thread_to_the_latest_message_to_that_handset(
    client: TestClient, tenant: BestTenant, engine: Engine, clock: ManualClock
) -> None:
    send(client, tenant, "FIRST")
    inbound(engine, HANDSET, tenant.number, "reply to first", clock())
    clock.advance(60)
    send(client, tenant, "OTHERHANDSET", number="0421000002")
    send(client, tenant, "TESTMODE", Mode="Test")  # never reached the handset: nothing threads to it
    clock.advance(60)
    inbound(engine, HANDSET, tenant.number, "another reply to first", clock())
    inbound(engine, "+61421000009", tenant.number, "a stranger", clock())
    clock.advance(60)
    send(client, tenant, "SECOND")
    clock.advance(60)
    inbound(engine, HANDSET, tenant.number, "reply to second", clock())

    doc = poll(client, tenant, "/bestsms/replies/FIRST")
    texts = [r["MessageText"] for r in doc["Recipients"][0]["SMSReplies"]]
    assert texts == ["reply to first", "another reply to first"]
    assert [r["MessageText"] for r in doc["Replies"]] == texts
    assert doc["Replies"][0]["Destination"] == HANDSET and doc["Replies"][0]["From"] == HANDSET
    assert doc["Replies"][0]["ReceivedTimeUTC"] == "2026-03-15 14:30:00"
    second = poll(client, tenant, "/bestsms/replies/SECOND")
    assert [r["MessageText"] for r in second["Replies"]] == ["reply to second"]
    assert poll(client, tenant, "/bestsms/replies/TESTMODE")["Replies"] == []
    assert poll(client, tenant, "/bestsms/replies/OTHERHANDSET")["Replies"] == []
    # The status poll carries the same replies per recipient.
    assert (
        poll(client, tenant, "/bestsms/status/FIRST")["Recipients"][0]["SMSReplies"]
        == doc["Recipients"][0]["SMSReplies"]
    )


def test_reply_window(client: TestClient, tenant: BestTenant, engine: Engine, clock: ManualClock) -> None:
    send(client, tenant, "OLD")
    clock.advance(72 * 3600 + 1)
    inbound(engine, HANDSET, tenant.number, "too late", clock())
    assert poll(client, tenant, "/bestsms/replies/OLD")["Replies"] == []
    set_settings(engine, tenant, bestsms_reply_window_hours=100)
    assert [r["MessageText"] for r in poll(client, tenant, "/bestsms/replies/OLD")["Replies"]] == ["too late"]


def test_inbound_poll_time_frames(
    client: TestClient, tenant: BestTenant, engine: Engine, clock: ManualClock
) -> None:
    send(client, tenant, "ASKED")
    for text in ("one", "two", "three"):
        clock.advance(3600)
        inbound(engine, HANDSET, tenant.number, text, clock())  # 15:30, 16:30, 17:30 UTC
    clock.advance(1)
    inbound(engine, "+61421000009", tenant.number, "unprompted", clock())

    def texts(**params: Any) -> list[str]:
        return [m["MessageText"] for m in poll(client, tenant, "/bestsms/inbound", **params)["Messages"]]

    assert texts() == ["one", "two", "three", "unprompted"]
    doc = poll(client, tenant, "/bestsms/inbound")
    first = doc["Messages"][0]
    assert (first["Type"], first["MessageID"], first["From"], first["To"]) == (
        "SMSReply",
        "ASKED",
        HANDSET,
        tenant.number,
    )
    assert doc["Messages"][3]["Type"] == "SMS" and doc["Messages"][3]["MessageID"] is None
    assert texts(TimePeriod="90") == ["two", "three", "unprompted"]
    assert texts(From="2026-03-15T16:00:00Z", To="2026-03-15T17:00:00Z") == ["two"]
    assert texts(DateFrom="2026-03-15 16:00:00", DateTo="2026-03-15 17:00:00") == ["two"]
    assert texts(dateFrom="15/03/2026 16:00", dateTo="15/03/2026 17:00") == ["two"]
    set_settings(engine, tenant, timezone="Australia/Sydney")  # UTC+11 in March
    assert texts(DateFrom="16/03/2026 03:00", DateTo="16/03/2026 04:00") == ["two"]
    page = poll(client, tenant, "/bestsms/inbound", RecordsPerPage="3", Page="2")
    assert (page["TotalRecords"], page["PageCount"], page["Page"]) == (4, 2, 2)
    assert [m["MessageText"] for m in page["Messages"]] == ["unprompted"]
    for bad in (
        {"From": "yesterday"},
        {"TimePeriod": "0"},
        {"From": "2026-03-16T00:00:00Z", "To": "2026-03-15"},
        {"DateTo": "0001-01-01T00:00:00Z"},  # the calendar's first day: no 500, the field named
        {"DateFrom": "9999-12-31T23:59:59-14:00"},
    ):
        response = client.get("/bestsms/inbound", params={**tenant.creds(), **bad})
        assert response.status_code == 400 and response.json()["Result"] == "Failed", bad
