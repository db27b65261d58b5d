"""API keys: create (the secret shown once), list, revoke."""

from __future__ import annotations
