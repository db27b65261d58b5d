from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock, Tenant, make_tenant
from textgate.config import Settings
from textgate.web.app import create_app


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def client(engine: Engine, clock: ManualClock) -> Iterator[TestClient]:
    settings = Settings(database_url="sqlite://", run_workers=False, max_request_bytes=1024 * 1024)
    app = create_app(settings, engine=engine, clock=clock, workers=False)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def tenant(engine: Engine, clock: ManualClock) -> Tenant:
    return make_tenant(engine, credits=100, now=clock())


@pytest.fixture
def auth(tenant: Tenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.key.secret}"}
