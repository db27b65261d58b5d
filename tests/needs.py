"""How the test suite treats a real dependency it needs (PostgreSQL, chromium): one rule for all.

``TEXTGATE_TEST_<NAME>=required`` (implied by ``CI=true``): a missing dependency fails the tests that need
it; ``skip``: they are skipped and nothing is installed; unset (``auto``): installed when it can be,
skipped when it cannot.
"""

from __future__ import annotations

import os

import pytest


def mode(variable: str) -> str:
    """'required', 'skip' or 'auto' (from ``variable`` and CI)."""
    value = os.environ.get(variable, "").strip().lower()
    if value == "required" or os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        return "required"
    if value == "skip":
        return "skip"
    return "auto"


def unavailable(what: str, variable: str, exc: Exception) -> None:
    """Fail (required) or skip the test that needed ``what``; never returns."""
    if mode(variable) == "required":
        pytest.fail(
            f"{what} is required ({variable}=required or CI=true) but unavailable:\n{exc}", pytrace=False
        )
    pytest.skip(f"{what} unavailable: {exc}")
