from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock, Tenant, make_tenant
from tests.providers.textingline.media_server import MediaServer
from tests.providers.textingline.seed import SENDER
from textgate.config import Settings
from textgate.web.app import create_app


@pytest.fixture
def guarded_client(engine: Engine, clock: ManualClock) -> Iterator[TestClient]:
    """A deployment that does not allow private URLs (the default)."""
    settings = Settings(database_url="sqlite://", run_workers=False, allow_private_urls=False)
    with TestClient(create_app(settings, engine=engine, clock=clock, workers=False)) as c:
        yield c


@pytest.fixture
def tenant(engine: Engine, clock: ManualClock) -> Tenant:
    return make_tenant(engine, credits=100, number=SENDER, now=clock())


@pytest.fixture
def media() -> Iterator[MediaServer]:
    with MediaServer() as server:
        yield server
