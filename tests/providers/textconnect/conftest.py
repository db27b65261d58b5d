from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.helpers import ManualClock, Tenant, make_tenant
from tests.providers.textconnect.util import SENDER


@pytest.fixture
def tenant(engine: Engine, clock: ManualClock) -> Tenant:
    """A UK account (Text-Connect's numbers are UK mobiles written as international digits)."""
    return make_tenant(engine, credits=100, number=SENDER, region="GB", now=clock())
