"""Input that used to be a 500: lone UTF-16 surrogates in JSON strings, dates at the calendar's ends, a
trailing slash with a forged Host. Each is now a 4xx naming the field (or a path-only redirect), and
nothing is stored."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import Tenant, credits_of, stored_count

LONE = '"\\ud800"'  # JSON text: a high surrogate with nothing after it


def raw_send(tenant: Tenant, body_value: str = LONE, to: str = '"+15550001000"') -> bytes:
    return f'{{"from":"{tenant.number}","to":{to},"body":{body_value}}}'.encode()


@pytest.mark.parametrize("key", [None, "surrogate-1"])
def test_a_lone_surrogate_in_a_send_is_a_400_naming_the_field(
    client: TestClient, auth: dict[str, str], tenant: Tenant, engine: Engine, key: str | None
) -> None:
    headers = {**auth, "Content-Type": "application/json", **({"Idempotency-Key": key} if key else {})}
    response = client.post("/v1/messages", content=raw_send(tenant), headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["field"] == "body" and "surrogate" in error["message"]
    assert stored_count(engine) == 0 and credits_of(engine, tenant.account.id) == 100
    # The connection stays usable and a proper pair (an emoji written as two escapes) is text.
    fine = client.post("/v1/messages", content=raw_send(tenant, '"\\ud83d\\ude00"'), headers=headers)
    assert fine.status_code == 202, fine.text
    assert fine.json()["messages"][0]["body"] == "\U0001f600"


def test_a_lone_surrogate_deep_in_a_body_is_named_by_its_path(
    client: TestClient, auth: dict[str, str], tenant: Tenant, engine: Engine
) -> None:
    body = raw_send(tenant, '"ok"', to='["+15550001000", "+1555000\\udc001"]')
    response = client.post("/v1/messages", content=body, headers={**auth, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "to[1]"
    bulk = f'{{"from":"{tenant.number}","to":["+15550001000"],"body":{LONE}}}'.encode()
    response = client.post(
        "/v1/bulk-sends", content=bulk, headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["error"]["field"] == "body"
    assert stored_count(engine) == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [("created_after", "0001-01-01T00:00:00+14:00"), ("created_before", "9999-12-31T23:59:59-14:00")],
)
def test_dates_at_the_calendars_ends_are_a_400_naming_the_field(
    client: TestClient, auth: dict[str, str], name: str, value: str
) -> None:
    response = client.get("/v1/messages", params={name: value}, headers=auth)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == name


def test_a_trailing_slash_redirect_never_names_the_clients_host(
    client: TestClient, auth: dict[str, str]
) -> None:
    response = client.post(
        "/v1/messages/?x=1", json={}, headers={**auth, "Host": "evil.example"}, follow_redirects=False
    )
    assert response.status_code == 307
    assert response.headers["location"] == "/v1/messages?x=1"
