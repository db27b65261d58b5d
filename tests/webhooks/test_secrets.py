"""Webhook signing secrets encrypted at rest when ``TEXTGATE_SECRET_KEY`` is set (webhooks/secrets.py),
on both databases: what is stored, what is shown once, what the sender signs with."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from textgate.config import Settings
from textgate.service.accounts import create_account
from textgate.store.schema import webhook_endpoints
from textgate.webhooks import endpoints, outbox, secrets
from textgate.workers.webhooks import WebhookWorker

NOW = datetime(2026, 3, 15, 14, 30, tzinfo=UTC)
URL = "https://93.184.216.34/hooks"


@pytest.fixture
def key() -> Iterator[str]:
    secrets.configure("correct horse battery staple, but longer and random")
    yield "correct horse battery staple, but longer and random"
    secrets.configure(None)


def _endpoint(engine: sa.Engine) -> tuple[str, dict[str, object]]:
    with engine.begin() as conn:
        account, _ = create_account(conn, "acme", now=NOW)
        return account.id, endpoints.create_endpoint(
            conn, account.id, URL, ["message.status"], now=NOW, allow_private=True
        )


def _stored(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(sa.select(webhook_endpoints.c.secret)).scalar_one())


def test_with_a_key_the_database_holds_no_secret_and_the_sender_signs_with_it(
    engine: sa.Engine, key: str
) -> None:
    account_id, ep = _endpoint(engine)
    secret = str(ep["secret"])
    stored = _stored(engine)
    assert stored.startswith(secrets.PREFIX) and secret not in stored
    with engine.connect() as conn:
        assert endpoints.get_endpoint(conn, account_id, str(ep["id"]))["secret"] == secret
    with engine.begin() as conn:
        assert outbox.enqueue_event(conn, account_id, "message.status", {"id": "m1"}, order_key="m1", now=NOW)
    worker = WebhookWorker(engine, Settings(allow_private_urls=True), clock=lambda: NOW)
    (claim,) = worker._claim(NOW)
    assert claim.secret == secret


def test_without_the_key_an_encrypted_secret_is_a_clear_error(engine: sa.Engine, key: str) -> None:
    account_id, ep = _endpoint(engine)
    secrets.configure(None)
    with engine.connect() as conn, pytest.raises(secrets.SecretKeyError, match="TEXTGATE_SECRET_KEY"):
        endpoints.get_endpoint(conn, account_id, str(ep["id"]))
    secrets.configure("another key")
    with engine.connect() as conn, pytest.raises(secrets.SecretKeyError, match="another key"):
        endpoints.get_endpoint(conn, account_id, str(ep["id"]))


def test_secrets_stored_before_the_key_was_set_stay_readable(engine: sa.Engine) -> None:
    secrets.configure(None)
    account_id, ep = _endpoint(engine)
    assert _stored(engine) == ep["secret"]  # without a key: as it is
    secrets.configure("now a key")
    try:
        with engine.connect() as conn:
            assert endpoints.get_endpoint(conn, account_id, str(ep["id"]))["secret"] == ep["secret"]
    finally:
        secrets.configure(None)
