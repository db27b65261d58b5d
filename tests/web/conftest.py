from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.dashboard_kit import Setup, dashboard_gateway


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    """A gateway (no workers) with accounts acme and other (logins acme-admin, other-admin) and the
    operator ops, all with the password ``dashboard_kit.PASSWORD``."""
    yield from dashboard_gateway(tmp_path)
