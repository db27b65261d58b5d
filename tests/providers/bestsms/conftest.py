"""Fixtures for the BestSMS dialect tests (an in-process app and an Australian tenant)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock
from tests.providers.bestsms.support import BestTenant, make_best_tenant
from textgate.config import Settings
from textgate.web.app import create_app


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def client(engine: Engine, clock: ManualClock) -> Iterator[TestClient]:
    settings = Settings(database_url="sqlite://", run_workers=False, allow_private_urls=True)
    with TestClient(create_app(settings, engine=engine, clock=clock, workers=False)) as c:
        yield c


@pytest.fixture
def tenant(engine: Engine, clock: ManualClock) -> BestTenant:
    return make_best_tenant(engine, clock())
