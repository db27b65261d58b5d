"""Numbers: active/inactive, and per number the inbound forwarding (Text-Connect's Manage page)."""

from __future__ import annotations
