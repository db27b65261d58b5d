"""Helpers for the BestSMS dialect tests: an Australian account (region AU, like the document's examples) with
an API key named as the document's Sender is, and helpers to move messages along and read reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Engine, select

from tests.helpers import make_tenant
from textgate.domain.message import MessageStatus
from textgate.service.accounts import Account, create_key, get_account, update_account
from textgate.service.inbound import receive_inbound
from textgate.service.status import change_status
from textgate.store.schema import messages, webhook_deliveries
from textgate.webhooks.endpoints import create_endpoint

#: The document's Sender is a user name shaped like an email address.
SENDER = "api@department01.co"
NUMBER = "+61491570110"


@dataclass
class BestTenant:
    account: Account
    sender: str
    token: str
    number: str
    key_id: str
    secret: str

    def creds(self) -> dict[str, str]:
        return {"Sender": self.sender, "Token": self.token}


def make_best_tenant(
    engine: Engine,
    now: datetime,
    *,
    name: str = "department01",
    sender: str = SENDER,
    number: str = NUMBER,
    credits: int = 100,
    settings: dict[str, Any] | None = None,
) -> BestTenant:
    base = make_tenant(engine, name=name, credits=credits, number=number, region="AU", now=now)
    with engine.begin() as conn:
        key = create_key(conn, base.account.id, now=now, name=sender)
        account = (
            update_account(conn, base.account.id, settings=settings)
            if settings
            else get_account(conn, base.account.id)
        )
    return BestTenant(account, sender, key.secret, base.number, base.key.key_id, base.key.secret)


def set_settings(engine: Engine, tenant: BestTenant, **settings: Any) -> None:
    with engine.begin() as conn:
        tenant.account = update_account(conn, tenant.account.id, settings=settings)


def rows_by_ref(engine: Engine, ref: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        found = conn.execute(select(messages).where(messages.c.client_ref == ref).order_by(messages.c.id))
        return [dict(r._mapping) for r in found]


def advance(engine: Engine, message_id: str, *statuses: MessageStatus, now: datetime, **kw: Any) -> None:
    """Move a message through ``statuses`` as the dispatcher and a carrier would."""
    for status in statuses:
        with engine.begin() as conn:
            row = dict(conn.execute(select(messages).where(messages.c.id == message_id)).one()._mapping)
            extra = {"carrier_id": f"c-{message_id}"} if status is MessageStatus.SENDING else None
            change_status(conn, row, status, now=now, source="test", extra=extra, **kw)


def inbound(engine: Engine, from_addr: str, to_addr: str, body: str, now: datetime) -> dict[str, Any]:
    with engine.begin() as conn:
        return receive_inbound(conn, from_addr=from_addr, to_addr=to_addr, body=body, now=now, source="test")


def add_endpoint(engine: Engine, tenant: BestTenant, fmt: str, now: datetime, **options: str) -> str:
    with engine.begin() as conn:
        ep = create_endpoint(
            conn,
            tenant.account.id,
            "http://127.0.0.1:9/hooks",
            ["message.status", "message.received"],
            now=now,
            allow_private=True,
            format=fmt,
            options=options or None,
        )
    return str(ep["id"])


def deliveries(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(webhook_deliveries).order_by(webhook_deliveries.c.seq)).all()
    return [dict(r._mapping) for r in rows]


def json_reports(engine: Engine) -> list[dict[str, Any]]:
    return [orjson.loads(d["payload"]) for d in deliveries(engine) if d["content_type"] == "application/json"]
