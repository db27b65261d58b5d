"""Small helpers shared by the TextingLine tests."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import Tenant, credits_of, stored_count
from tests.providers.textingline.seed import RECIPIENT, parse_curl

API = "/api/v1/messaging/message"
MESSAGE_ID = re.compile(r"msg_[A-Za-z0-9]{22}")


def auth(tenant: Tenant) -> tuple[str, str]:
    return (tenant.key.key_id, tenant.key.secret)


def send(
    client: TestClient, tenant: Tenant, payload: dict[str, Any] | None = None, **fields: Any
) -> httpx.Response:
    body: dict[str, Any] = {"to": RECIPIENT, "from": tenant.number, "body": "hello"}
    body.update(payload or {})
    body.update(fields)
    return client.post(API, auth=auth(tenant), json=body)


def run_seed(
    client: TestClient, tenant: Tenant, command: str, *, media_url: str | None = None
) -> httpx.Response:
    """Send a seed curl command in-process: its method, path, headers and body literal, as written; the
    tenant's key for ``-u``; and (MMS) ``media_url`` for the example's media URL."""
    req = parse_curl(command)
    data = (
        req.data if media_url is None else req.data.replace("https://example.com/images/promo.jpg", media_url)
    )
    return client.request(req.method, req.path, headers=req.headers, content=data.encode(), auth=auth(tenant))


def stored(engine: Engine) -> int:
    return stored_count(engine)


def credits(engine: Engine, tenant: Tenant) -> int:
    return credits_of(engine, tenant.account.id)


def assert_error(response: httpx.Response, status: int, code: int, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "field"}, body
    assert body["code"] == code, body
    assert body["field"] == field, body
    assert isinstance(body["message"], str) and body["message"]
    return body
