"""Small helpers shared by the Text-Connect tests: one call of ``/api``, by GET or POST."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tests.helpers import Tenant, credits_of, stored_count
from textgate.store.schema import messages

PATH = "/api"
SENDER = "+447777777000"
#: Recipients in the form the document writes them: international digits without "+".
TO = "447777777771"
TO2 = "447777777772"


def call(
    client: TestClient, tenant: Tenant | None, action: str, *, method: str = "GET", **params: Any
) -> httpx.Response:
    """``/api`` with ``Token`` (the tenant's secret unless given) and ``Action``."""
    data = {"Action": action, **{k: str(v) for k, v in params.items()}}
    if "Token" not in data and tenant is not None:
        data["Token"] = tenant.key.secret
    response: httpx.Response = (
        client.get(PATH, params=data) if method == "GET" else client.post(PATH, data=data)
    )
    return response


def text(client: TestClient, tenant: Tenant | None, action: str, **params: Any) -> str:
    """The answer's text, after checking it is a plain-text 200 as every answer is."""
    response = call(client, tenant, action, **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(("text/plain", "text/csv")), response.headers
    return response.text


def send(client: TestClient, tenant: Tenant, **params: Any) -> str:
    fields: dict[str, Any] = {"DestinationAddress": TO, "SourceAddress": "API", "Body": "Hello World"}
    fields.update(params)
    return text(client, tenant, "Send", **fields)


def rows(csv_text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(csv_text)))


def stored(engine: Engine) -> int:
    return stored_count(engine)


def credits(engine: Engine, tenant: Tenant) -> int:
    return credits_of(engine, tenant.account.id)


def message(engine: Engine, message_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(messages).where(messages.c.id == message_id)).one()
