"""/v1/reports/{type}: CSV downloads, their ranges and headers, and the usage of a parent's users."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient

from tests.helpers import ManualClock


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _send(client: TestClient, headers: dict[str, str], sender: str = "+15551230001", n: int = 1) -> None:
    for i in range(n):
        body = {"from": sender, "to": f"+1555000001{i}", "body": f"hello {i}"}
        assert client.post("/v1/messages", json=body, headers=headers).status_code == 202


def test_messages_report_is_a_csv_attachment(client: TestClient, auth: dict[str, str]) -> None:
    _send(client, auth, n=2)
    r = client.get("/v1/reports/messages", headers=auth)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    # Default range: the last 30 days up to now (2026-03-15 14:30 UTC).
    assert r.headers["content-disposition"] == 'attachment; filename="messages-2026-02-13-2026-03-15.csv"'
    rows = _rows(r.text)
    assert rows[0][:3] == ["message_id", "created", "scheduled"]
    assert sorted(row[6] for row in rows[1:]) == ["+15550000010", "+15550000011"]
    assert rows[1][1] == "2026-03-15 14:30:00"
    assert r.text.endswith("\r\n")


@pytest.mark.parametrize(
    ("params", "count", "filename"),
    [
        ({"from": "2026-03-15", "to": "2026-03-15"}, 2, "messages-2026-03-15-2026-03-15.csv"),
        ({"from": "2026-03-01", "to": "2026-03-14"}, 0, "messages-2026-03-01-2026-03-14.csv"),
        ({"from": "20260315143000", "to": "20260315143001"}, 2, "messages-2026-03-15-2026-03-15.csv"),
        ({"from": "2026-03-15T14:30:00Z"}, 2, "messages-2026-03-15-2026-03-15.csv"),
        ({"from": "2026-03-15T09:00:00-05:00", "to": "2026-03-16T00:00:00+00:00"}, 2, None),
    ],
)
def test_report_ranges(
    client: TestClient, auth: dict[str, str], params: dict[str, str], count: int, filename: str | None
) -> None:
    _send(client, auth, n=2)
    r = client.get("/v1/reports/messages", params=params, headers=auth)
    assert r.status_code == 200, r.text
    assert len(_rows(r.text)) == 1 + count
    if filename:
        assert f'filename="{filename}"' in r.headers["content-disposition"]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/reports/everything", {}, "type"),
        ("/v1/reports/messages", {"from": "yesterday"}, "from"),
        ("/v1/reports/messages", {"from": "2026-02-30"}, "from"),
        ("/v1/reports/messages", {"to": "0001-01-01"}, "to"),
        ("/v1/reports/messages", {"from": "2026-03-10", "to": "2026-03-01"}, "to"),
        ("/v1/reports/messages", {"from": "2026-03-16"}, "from"),
    ],
)
def test_report_errors_are_422_naming_the_field(
    client: TestClient, auth: dict[str, str], path: str, params: dict[str, str], field: str
) -> None:
    r = client.get(path, params=params, headers=auth)
    assert r.status_code == 422, r.text
    assert (r.json()["error"]["code"], r.json()["error"]["field"]) == ("validation", field)


def test_usage_report_includes_the_parents_users(
    client: TestClient, auth: dict[str, str], clock: ManualClock
) -> None:
    _send(client, auth, n=2)
    made = client.post(
        "/v1/users",
        json={
            "username": "dept01",
            "password": "correct horse",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.com",
            "credits": 10,
        },
        headers=auth,
    ).json()
    child = {"Authorization": f"Bearer {made['api_key']['secret']}"}
    _send(client, child, sender="DEPT")
    r = client.get("/v1/reports/usage", headers=auth)
    rows = _rows(r.text)
    assert rows[0] == ["account_id", "username", "messages_sent", "parts", "credits_used", "inbound_received"]
    assert [row[1:] for row in rows[1:]] == [["acme", "2", "2", "2", "0"], ["dept01", "1", "1", "1", "0"]]
    # The child's own usage report is only its own row, and its messages report has no parent messages.
    assert len(_rows(client.get("/v1/reports/usage", headers=child).text)) == 2
    assert len(_rows(client.get("/v1/reports/messages", headers=child).text)) == 2
    assert client.get("/v1/reports/usage", headers={}).status_code == 401
