"""An in-process app and a tenant for the Betatel tests (SQLite and PostgreSQL, like every storage test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock, Tenant, make_tenant
from textgate.config import Settings
from textgate.web.app import create_app

PATH = "/api/v1/connect-hub/sms"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def client(engine: Engine, clock: ManualClock) -> Iterator[TestClient]:
    settings = Settings(database_url="sqlite://", run_workers=False, allow_private_urls=True)
    with TestClient(create_app(settings, engine=engine, clock=clock, workers=False)) as c:
        yield c


@pytest.fixture
def tenant(engine: Engine, clock: ManualClock) -> Tenant:
    return make_tenant(engine, credits=100, number="+15551230001", now=clock())


def headers(tenant: Tenant, **extra: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "x-api-key": tenant.key.secret,
        "x-user-id": tenant.key.key_id,
        **extra,
    }
