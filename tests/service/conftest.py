"""Tenants for the address-book tests: two accounts in GB (the seed examples use UK numbers)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from tests.helpers import Tenant, make_tenant

NOW = datetime(2026, 3, 15, 14, 30, tzinfo=UTC)


@pytest.fixture
def tenant(engine: Engine) -> Tenant:
    return make_tenant(engine, name="acme", region="GB", now=NOW)


@pytest.fixture
def other(engine: Engine) -> Tenant:
    return make_tenant(engine, name="globex", region="GB", number="+15551230002", now=NOW)
