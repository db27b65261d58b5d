"""A whole gateway in the test's process, sending through the node SMSC peer: the real database (both
backends), the router over one SMPP connector, the dispatcher, the sink and housekeeping running as in
``serve``. The test sends through the service layer and reads the results back from the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from tests.helpers import Tenant, make_tenant
from tests.providers.smpp.peer import PASSWORD, SYSTEM_ID, Smsc
from tests.providers.smpp.support import eventually
from textgate.bootstrap import Gateway
from textgate.config import Settings
from textgate.service.messages import message_events_view
from textgate.service.send import SendRequest, send_messages
from textgate.store.fast import fetch_dicts
from textgate.store.schema import message_parts, messages

SENDER = "+15551230001"


def smpp_table(smsc: Smsc, **overrides: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "name": "smsc1",
        "type": "smpp",
        "host": "127.0.0.1",
        "port": smsc.smpp_port,
        "system_id": SYSTEM_ID,
        "password": PASSWORD,
        "reconnect_initial": 0.1,
        "reconnect_max": 0.5,
        "socket_timeout": 3.0,
        "submit_timeout": 5.0,
        "enquire_link": 5.0,
    }
    table.update(overrides)
    return table


@dataclass
class Rig:
    gateway: Gateway
    engine: Engine
    tenant: Tenant

    def send(self, to: str | list[str], body: str, **kw: Any) -> list[str]:
        req = SendRequest(sender=SENDER, to=[to] if isinstance(to, str) else to, body=body, **kw)
        with self.engine.begin() as conn:
            result = send_messages(conn, self.tenant.account, req, now=datetime.now(UTC))
        self.gateway.nudge()
        return [m["id"] for m in result.body["messages"]]

    def row(self, message_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return fetch_dicts(conn, select(messages).where(messages.c.id == message_id))[0]

    def status(self, message_id: str) -> str:
        return str(self.row(message_id)["status"])

    def parts(self, message_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            q = (
                select(message_parts)
                .where(message_parts.c.message_id == message_id)
                .order_by(message_parts.c.part)
            )
            return fetch_dicts(conn, q)

    def events(self, message_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return message_events_view(conn, self.tenant.account.id, message_id)

    async def wait_status(self, message_id: str, *statuses: str, timeout: float = 15.0) -> None:
        await eventually(
            lambda: self.status(message_id) in statuses, timeout, what=f"{message_id} {statuses}"
        )


def settings_for(engine: Engine, smsc: Smsc, **smpp: Any) -> Settings:
    return Settings(
        database_url=str(engine.url.render_as_string(hide_password=False)),
        connectors=[smpp_table(smsc, **smpp)],
        routes=[{"name": "default", "connectors": ["smsc1"]}],
        poll_interval=0.02,
        idle_poll_max=0.2,
        retry_base_seconds=0.2,
        retry_max_seconds=1.0,
        dispatch_batch=50,
    )


@asynccontextmanager
async def gateway(
    engine: Engine, smsc: Smsc, *, tenant: Tenant | None = None, **smpp: Any
) -> AsyncIterator[Rig]:
    """A started gateway; a second one on the same database is the same gateway after a restart."""
    settings = settings_for(engine, smsc, **smpp)
    gw = Gateway(settings=settings, engine=engine)
    tenant = tenant or make_tenant(engine, number=SENDER, credits=10_000)
    await gw.start()
    try:
        connector = gw.connectors()["smsc1"]
        await eventually(lambda: connector.health().value == "up", 10.0, what="the bind")
        yield Rig(gateway=gw, engine=engine, tenant=tenant)
    finally:
        await gw.stop()
