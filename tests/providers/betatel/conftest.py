"""An in-process app and a tenant for the Betatel tests (SQLite and PostgreSQL, like every storage test)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.helpers import ManualClock, Tenant, make_tenant

PATH = "/api/v1/connect-hub/sms"


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
