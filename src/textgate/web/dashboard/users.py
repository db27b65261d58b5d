"""Users (sub-accounts), credit transfers and the credits ledger."""

from __future__ import annotations
