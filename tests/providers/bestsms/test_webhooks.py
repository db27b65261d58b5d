"""Delivery and reply reports in the ``bestsms_json`` and ``bestsms_xml`` formats."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tests.helpers import ManualClock
from tests.providers.bestsms.support import (
    BestTenant,
    add_endpoint,
    advance,
    deliveries,
    inbound,
    json_reports,
    rows_by_ref,
    set_settings,
)
from textgate.domain.errors import ErrorKind, ValidationError
from textgate.domain.message import MessageStatus as S
from textgate.store.schema import webhook_endpoints

# The document's webhook table: each parameter with its example value, verbatim (the Sender's example is
# shown as the published page renders it behind its e-mail address protection).
TABLE_EXAMPLES = {
    "Sender": "[email protected]",
    "Token": "ta8wr7ymd",
    "Type": "SMS",
    "Destination": "+61421000001",
    "MessageID": "js82hn8n",
    "JobNumber": "10C7B9A0",
    "SentTime": "16/10/2023 13:43 p.m.",
    "Status": "SUCCESS",
    "Result": "delivered",
    "Message": "This is a reply.",
    "Price": "0.20",
    "Detail": "SMSParts:2",
}
JOB_NUMBER = re.compile(r"[0-9A-F]{8}")


def send(
    client: TestClient, tenant: BestTenant, message_id: str, message: str = "Hello", **extra: str
) -> None:
    response = client.post(
        "/bestsms/send",
        data={**tenant.creds(), "Number": "0421000001", "Message": message, "MessageID": message_id, **extra},
    )
    assert response.status_code == 200, response.text


@pytest.fixture
def october(clock: ManualClock) -> ManualClock:
    """16 October 2023, 02:43 UTC: 13:43 in Sydney (AEDT, UTC+11), the table's SentTime."""
    clock.now = datetime(2023, 10, 16, 2, 43, tzinfo=UTC)
    return clock


def test_the_tables_example_report(
    client: TestClient, tenant: BestTenant, engine: Engine, october: ManualClock
) -> None:
    set_settings(engine, tenant, bestsms_max_parts=2, bestsms_price_per_credit="0.10")
    add_endpoint(
        engine,
        tenant,
        "bestsms_json",
        october(),
        sender=tenant.sender,
        token=TABLE_EXAMPLES["Token"],
        timezone="Australia/Sydney",
    )
    send(client, tenant, TABLE_EXAMPLES["MessageID"], message="x" * 200)
    (row,) = rows_by_ref(engine, TABLE_EXAMPLES["MessageID"])
    advance(engine, row["id"], S.SENDING, S.SENT, S.DELIVERED, now=october())

    sent, delivered = json_reports(engine)
    assert list(delivered) == list(TABLE_EXAMPLES)
    expected = {**TABLE_EXAMPLES, "Sender": tenant.sender, "Message": "", "JobNumber": delivered["JobNumber"]}
    assert delivered == expected
    assert JOB_NUMBER.fullmatch(delivered["JobNumber"])
    assert (sent["Status"], sent["Result"], sent["JobNumber"]) == ("PENDING", "sent", delivered["JobNumber"])

    # A reply from the handset is reported against the same MessageID and Job Number.
    inbound(engine, "+61421000001", tenant.number, TABLE_EXAMPLES["Message"], october())
    reply = json_reports(engine)[-1]
    assert reply == {
        **expected,
        "Type": "SMSReply",
        "Status": "RECEIVED",
        "Result": "RECEIVED",
        "Message": TABLE_EXAMPLES["Message"],
        "Price": "0.00",
        "Detail": "SMSParts:1",
    }
    status = client.get(f"/bestsms/status/{TABLE_EXAMPLES['MessageID']}", params=tenant.creds()).json()
    assert status["JobNum"] == delivered["JobNumber"]


def test_xml_carries_the_same_fields(
    client: TestClient, tenant: BestTenant, engine: Engine, october: ManualClock
) -> None:
    add_endpoint(engine, tenant, "bestsms_json", october())
    add_endpoint(engine, tenant, "bestsms_xml", october())
    send(client, tenant, "XML1")
    (row,) = rows_by_ref(engine, "XML1")
    advance(engine, row["id"], S.SENDING, S.DELIVERED, now=october())
    by_type = {d["content_type"]: d for d in deliveries(engine)}
    xml = by_type["application/xml; charset=utf-8"]
    assert xml["method"] == "POST" and xml["payload"].startswith('<?xml version="1.0" encoding="utf-8"?>')
    root = ET.fromstring(xml["payload"].encode())  # noqa: S314 - textgate's own output
    assert root.tag == "DeliveryReport"
    as_xml = {child.tag: child.text or "" for child in root}
    assert [child.tag for child in root] == list(TABLE_EXAMPLES)
    assert as_xml == orjson.loads(by_type["application/json"]["payload"])


def test_defaults_sender_of_the_send_no_token_account_time_zone(
    client: TestClient, tenant: BestTenant, engine: Engine, october: ManualClock
) -> None:
    set_settings(engine, tenant, timezone="Australia/Perth")  # UTC+8
    add_endpoint(engine, tenant, "bestsms_json", october())
    send(client, tenant, "DEF1")
    (row,) = rows_by_ref(engine, "DEF1")
    advance(engine, row["id"], S.SENDING, S.DELIVERED, now=october())
    (report,) = json_reports(engine)
    assert (report["Sender"], report["Token"]) == (tenant.sender, "")
    assert report["SentTime"] == "16/10/2023 10:43 a.m."
    assert report["Price"] == "1.00"


def test_failures_and_refusals(
    client: TestClient, tenant: BestTenant, engine: Engine, october: ManualClock
) -> None:
    add_endpoint(engine, tenant, "bestsms_json", october())
    send(client, tenant, "UNDELIV")
    (row,) = rows_by_ref(engine, "UNDELIV")
    advance(
        engine,
        row["id"],
        S.SENDING,
        S.SENT,
        S.UNDELIVERED,
        now=october(),
        error_kind=ErrorKind.ROUTING_ERROR,
        error_message="The message could not be routed to the destination.",
    )
    set_settings(engine, tenant, blocked_prefixes=["+6142100"])
    send(client, tenant, "BLOCKED")  # refused per recipient: stored failed, reported at once, not charged
    undelivered, blocked = [r for r in json_reports(engine) if r["Status"] == "FAILED"]
    assert undelivered["MessageID"] == "UNDELIV"
    assert undelivered["Result"] == "The message could not be routed to the destination."
    assert undelivered["Price"] == "1.00"
    assert (blocked["MessageID"], blocked["Price"]) == ("BLOCKED", "0.00")
    assert blocked["Result"] == "The destination number is blocked from receiving messages."


def test_what_is_not_reported(
    client: TestClient, tenant: BestTenant, engine: Engine, october: ManualClock
) -> None:
    add_endpoint(engine, tenant, "bestsms_xml", october())
    send(client, tenant, "TESTED", Mode="Test")
    inbound(engine, "+61421000001", tenant.number, "no outbound to this handset yet... test only", october())
    inbound(engine, "+61421000002", tenant.number, "unprompted", october())
    assert deliveries(engine) == []


def test_messages_sent_without_a_message_id(
    client: TestClient, tenant: BestTenant, engine: Engine, october: ManualClock
) -> None:
    add_endpoint(engine, tenant, "bestsms_json", october())
    sent = client.post(
        "/v1/messages",
        json={"from": tenant.number, "to": "+61421000001", "body": "native"},
        headers={"Authorization": f"Bearer {tenant.secret}"},
    )
    message_id = sent.json()["messages"][0]["id"]
    advance(engine, message_id, S.SENDING, S.DELIVERED, now=october())
    (report,) = json_reports(engine)
    assert (report["MessageID"], report["Sender"]) == (message_id, "")


def test_an_unknown_time_zone_option_is_refused(
    tenant: BestTenant, engine: Engine, october: ManualClock
) -> None:
    with pytest.raises(ValidationError, match="IANA time zone") as refused:
        add_endpoint(engine, tenant, "bestsms_json", october(), timezone="Mars/Olympus_Mons")
    assert refused.value.field == "options.timezone"
    with pytest.raises(
        ValidationError, match="has no option 'colour'; it takes sender, timezone, token"
    ) as odd:
        add_endpoint(engine, tenant, "bestsms_json", october(), colour="blue")
    assert odd.value.field == "options.colour"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(webhook_endpoints)).scalar_one() == 0
