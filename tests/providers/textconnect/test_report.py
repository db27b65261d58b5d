"""Report: every ReportType as CSV with a header row (read back with the csv module), the range in the
account's time zone, and its errors."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock, Tenant
from tests.providers.textconnect.util import SENDER, TO2, call, rows, send, text
from textgate.service.accounts import update_account
from textgate.service.inbound import receive_inbound
from textgate.service.policy import block_number
from textgate.service.reports import HEADERS
from textgate.service.users import create_user

DAY = {"From": "20260315000000", "To": "20260316000000"}


def _report(client: TestClient, tenant: Tenant, report_type: str, **params: str) -> list[list[str]]:
    response = call(client, tenant, "Report", ReportType=report_type, **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return rows(response.text)


@pytest.fixture
def history(client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock) -> dict[str, str]:
    """In Europe/Helsinki (UTC+2): a sent message, a refused one and an inbound one on 15 March (local),
    and a message on the 16th."""
    with engine.begin() as conn:
        update_account(conn, tenant.account.id, settings={"timezone": "Europe/Helsinki"})
        block_number(conn, tenant.account, TO2, now=clock())
    ids = {
        "sent": send(client, tenant, Body='=HYPERLINK("http://x")'),
        "refused": send(client, tenant, DestinationAddress=TO2),
    }
    assert ids["refused"] == "-412"
    with engine.begin() as conn:
        ids["inbound"] = receive_inbound(
            conn, from_addr="+447777777771", to_addr=SENDER, body="@reply", now=clock(), source="test"
        )["id"]
    clock.advance(86400)
    ids["tomorrow"] = send(client, tenant, Body="next day")
    return ids


def test_outbox_ignores_the_range(client: TestClient, tenant: Tenant, history: dict[str, str]) -> None:
    report = _report(client, tenant, "Outbox", From="garbage", To="")
    assert report[0] == HEADERS["outbox"]
    assert [r[0] for r in report[1:]] == [history["sent"], history["tomorrow"]]
    assert all(r[-1] == "queued" for r in report[1:])


def test_messages_in_the_accounts_day(client: TestClient, tenant: Tenant, history: dict[str, str]) -> None:
    report = _report(client, tenant, "messages", **DAY)
    assert report[0] == HEADERS["messages"]
    by_status = {r[10]: dict(zip(report[0], r, strict=True)) for r in report[1:]}
    assert set(by_status) == {"queued", "failed"}  # the refused message is reported too
    body = by_status["queued"]
    assert body["message_id"] == history["sent"]
    assert body["created"] == "2026-03-15 16:30:00"  # 14:30 UTC, in Helsinki
    assert body["to"] == "+447777777771"
    assert body["body"] == '\'=HYPERLINK("http://x")'  # formula injection neutralised
    later = _report(client, tenant, "Messages", From="20260316000000", To="20260317000000")
    assert [r[0] for r in later[1:]] == [history["tomorrow"]]


def test_failed_messages(client: TestClient, tenant: Tenant, history: dict[str, str]) -> None:
    report = _report(client, tenant, "FailedMessages", **DAY)
    assert report[0] == HEADERS["failed"]
    (row,) = report[1:]
    failed = dict(zip(report[0], row, strict=True))
    assert (failed["to"], failed["status"], failed["credits"]) == ("+447777777772", "failed", "0")
    assert failed["error_code"] == "destination_blocked"


def test_inbound_messages(client: TestClient, tenant: Tenant, history: dict[str, str]) -> None:
    report = _report(client, tenant, "INBOUNDMESSAGES", **DAY)
    assert report[0] == HEADERS["inbound"]
    assert report[1] == [history["inbound"], "2026-03-15 16:30:00", "+447777777771", SENDER, "'@reply", "1"]


def test_usage_covers_users(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock, history: dict[str, str]
) -> None:
    with engine.begin() as conn:
        child, _ = create_user(
            conn,
            tenant.account,
            username="@ann",
            password="secret-pass",
            access_level="normal",
            first_name="Ann",
            last_name="Lee",
            email="ann@example.com",
            now=clock(),
        )
    report = _report(client, tenant, "Usage", From="20260301000000", To="20260401000000")
    assert report == [
        HEADERS["usage"],
        [tenant.account.id, "acme", "3", "3", "2", "1"],
        [child.id, "'@ann", "0", "0", "0", "0"],
    ]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"ReportType": "Sideways", **DAY}, "-601"),
        ({**DAY}, "-601"),
        ({"ReportType": "Messages", "To": DAY["To"]}, "-504"),
        ({"ReportType": "Messages", "From": "2026-03-15", "To": DAY["To"]}, "-504"),
        ({"ReportType": "Usage", "From": "20260230000000", "To": DAY["To"]}, "-504"),
        ({"ReportType": "Messages", "From": DAY["From"]}, "-505"),
        ({"ReportType": "InboundMessages", "From": DAY["From"], "To": "20261301000000"}, "-505"),
        ({"ReportType": "FailedMessages", "From": DAY["To"], "To": DAY["From"]}, "-505"),
    ],
)
def test_report_errors(client: TestClient, tenant: Tenant, params: dict[str, str], code: str) -> None:
    assert text(client, tenant, "Report", **params) == code
    assert text(client, tenant, "Report", ShowErrorMessage="1", **params).split("\n")[0] == code
