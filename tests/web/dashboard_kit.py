"""Shared by the dashboard's HTTP tests: a gateway with two accounts that can sign in (acme, other) and
an operator (ops), and the steps every test takes (read the CSRF token, sign in, send a message), and
for the webhook deliveries: queue an event, one pass of the webhook worker. The ``setup`` fixture is in
tests/web/conftest.py."""

from __future__ import annotations

import asyncio
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
from textgate.webhooks import outbox
from textgate.webhooks.client import WebhookClient
from textgate.workers.webhooks import WebhookWorker

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


def enqueue(engine: Engine, account_id: str, key: str = "msg_test", status: str = "delivered") -> int:
    """Queue a ``message.status`` event for the account's endpoints; the number of deliveries made."""
    with engine.begin() as conn:
        return outbox.enqueue_event(
            conn,
            account_id,
            "message.status",
            {"id": key, "status": status},
            order_key=key,
            now=datetime.now(UTC),
        )


def send_due(engine: Engine) -> int:
    """One pass of the webhook worker (the gateway under test runs none)."""

    async def main() -> int:
        client = WebhookClient()
        try:
            worker = WebhookWorker(
                engine, Settings(allow_private_urls=True, webhook_timeout=5.0), client=client
            )
            return await worker.run_once()
        finally:
            await client.close()

    return asyncio.run(main())
