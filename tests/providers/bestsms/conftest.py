"""Fixtures for the BestSMS dialect tests (an in-process app and an Australian tenant)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.helpers import ManualClock
from tests.providers.bestsms.support import BestTenant, make_best_tenant


@pytest.fixture
def tenant(engine: Engine, clock: ManualClock) -> BestTenant:
    return make_best_tenant(engine, clock())
