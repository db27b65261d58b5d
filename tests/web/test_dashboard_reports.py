"""The dashboard's Reports page over HTTP (TestClient): the five Text-Connect report types as a table and
as a CSV download with the dialect's columns, the formula guard, refused parameters naming the field,
tenancy. In a browser: tests/e2e/test_dashboard_account_browser.py."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import Tenant
from tests.web.dashboard_kit import send, sign_in
from textgate.service.reports import HEADERS, REPORT_TYPES

Setup = tuple[TestClient, Engine, Tenant, Tenant]


def sign_in_as(client: TestClient, username: str, **extra: str) -> None:
    client.cookies.clear()
    assert getattr(sign_in(client, username, **extra), "status_code", None) == 303


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_every_report_type_renders_as_a_table(setup: Setup) -> None:
    client, _engine, acme, _ = setup
    mine = send(client, acme, body="report me")
    sign_in_as(client, "acme-admin")
    empty = client.get("/dashboard/reports")
    assert empty.status_code == 200 and 'id="report-form"' in empty.text and 'id="report"' not in empty.text
    for label in ("Outbox", "Messages", "FailedMessages", "InboundMessages", "Usage"):
        assert label in empty.text
    for kind in REPORT_TYPES:
        r = client.get(f"/dashboard/reports?type={kind}")
        assert r.status_code == 200, kind
        assert "".join(f'<th scope="col">{h}</th>' for h in HEADERS[kind]) in r.text, kind
        assert f"/dashboard/reports/download?type={kind}" in r.text
    messages = client.get("/dashboard/reports?type=messages").text
    assert mine in messages and "report me" in messages
    assert mine in client.get("/dashboard/reports?type=outbox").text  # queued: no worker runs
    assert mine not in client.get("/dashboard/reports?type=failed").text
    assert acme.account.id in client.get("/dashboard/reports?type=usage").text


def test_the_csv_downloads_with_the_dialects_columns_and_the_formula_guard(setup: Setup) -> None:
    client, _engine, acme, other = setup
    mine = send(client, acme, body='=HYPERLINK("http://evil")')
    send(client, other, body="other's text")
    sign_in_as(client, "acme-admin")
    today = datetime.now(UTC).date()
    r = client.get(f"/dashboard/reports/download?type=messages&from={today}&to={today}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == f'attachment; filename="messages-{today}-{today}.csv"'
    table = rows_of(r.text)
    assert table[0] == HEADERS["messages"]
    assert table[0][:5] == ["message_id", "created", "scheduled", "sent", "delivered"]  # Text-Connect's
    assert len(table) == 2 and r.text.endswith("\r\n")
    row = dict(zip(table[0], table[1], strict=True))
    assert row["message_id"] == mine and row["from"] == acme.number and row["to"] == "+15550000001"
    assert row["body"] == '\'=HYPERLINK("http://evil")'  # a leading apostrophe: never run as a formula
    assert row["status"] == "queued" and row["credits"] == "1"
    assert "other's text" not in r.text

    page = client.get(f"/dashboard/reports?type=messages&from={today}&to={today}")
    assert "&#39;=HYPERLINK" in page.text
    assert f'href="/dashboard/reports/download?type=messages&amp;from={today}&amp;to={today}"' in page.text

    yesterday = today - timedelta(days=1)
    before = client.get(f"/dashboard/reports/download?type=messages&from={yesterday}&to={yesterday}")
    assert rows_of(before.text) == [HEADERS["messages"]]

    usage = client.get("/dashboard/reports/download?type=usage")
    assert usage.headers["content-disposition"].startswith('attachment; filename="usage-')
    assert rows_of(usage.text)[1][:3] == [acme.account.id, "acme-admin", "1"]
    inbound = client.get("/dashboard/reports/download?type=inbound")
    assert rows_of(inbound.text) == [HEADERS["inbound"]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("type=nosuch", "type"),
        ("type=messages&from=yesterday", "from"),
        ("type=messages&to=2026-13-40", "to"),
        ("type=messages&from=2026-03-10&to=2026-03-01", "to"),
    ],
)
def test_refused_parameters_name_the_field(setup: Setup, query: str, field: str) -> None:
    client, *_ = setup
    sign_in_as(client, "acme-admin")
    for path in ("/dashboard/reports", "/dashboard/reports/download"):
        r = client.get(f"{path}?{query}")
        assert r.status_code == 400, (path, r.text)
        assert r.headers["content-type"].startswith("text/html")
        assert f'data-field="{field}"' in r.text and f"<strong>{field}</strong>" in r.text


def test_an_operator_chooses_the_account_and_accounts_see_only_their_own(setup: Setup) -> None:
    client, _engine, _acme, other = setup
    theirs = send(client, other, body="other's report text")
    sign_in_as(client, "acme-admin")
    # An account's ?account= is ignored: its own report, never another's.
    r = client.get(f"/dashboard/reports/download?type=messages&account={other.account.id}")
    assert r.status_code == 200 and theirs not in r.text

    sign_in_as(client, "ops", operator="1")
    assert "Enter an account id" in client.get("/dashboard/reports").text
    page = client.get(f"/dashboard/reports?type=messages&account={other.account.id}")
    assert page.status_code == 200 and theirs in page.text
    assert f"/dashboard/reports/download?account={other.account.id}&amp;type=messages" in page.text
    got = client.get(f"/dashboard/reports/download?account={other.account.id}&type=messages")
    assert got.status_code == 200 and theirs in got.text
    assert client.get("/dashboard/reports/download?type=messages").status_code == 404  # no account chosen
    assert client.get("/dashboard/reports?type=messages&account=acc_nobody").status_code == 404
