"""Shared by the dashboard's HTTP tests: a gateway with two accounts that can sign in (acme, other) and
an operator (ops), and the steps every test takes (read the CSRF token, sign in, send a message).
The ``setup`` fixture is in tests/web/conftest.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import Tenant, make_tenant
from textgate.config import Settings
from textgate.service.operators import create_operator
from textgate.service.users import set_login
from textgate.store.db import make_engine
from textgate.web.app import create_app

Setup = tuple[TestClient, Engine, Tenant, Tenant]

PASSWORD = "correct horse battery"


def dashboard_gateway(tmp_path: Path) -> Iterator[Setup]:
    url = f"sqlite:///{tmp_path}/t.db"
    app = create_app(Settings(database_url=url), workers=False)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        engine = make_engine(url)
        acme = make_tenant(engine, name="acme", credits=100)
        other = make_tenant(engine, name="other", credits=100, number="+15551238888")
        with engine.begin() as conn:
            set_login(conn, acme.account.id, "acme-admin", PASSWORD)
            set_login(conn, other.account.id, "other-admin", PASSWORD)
            create_operator(conn, "ops", PASSWORD, now=datetime.now(UTC))
        yield client, engine, acme, other


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD, **extra: str) -> object:
    form = client.get("/dashboard/login")
    return client.post(
        "/dashboard/login",
        data={"username": username, "password": password, "csrf": csrf_of(form.text), **extra},
        follow_redirects=False,
    )


def send(client: TestClient, tenant: Tenant, to: str = "+15550000001", body: str = "hello dashboard") -> str:
    r = client.post(
        "/v1/messages",
        json={"from": tenant.number, "to": to, "body": body},
        headers={"Authorization": f"Bearer {tenant.key.secret}"},
    )
    assert r.status_code == 202, r.text
    return str(r.json()["messages"][0]["id"])
