"""Fixtures every provider dialect's tests share: a hand-driven clock and the app in-process (workers
off, private URLs allowed for local receivers). Each dialect's conftest adds its own tenant."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock
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
