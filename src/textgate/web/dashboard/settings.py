"""Settings: region, time zone, prices shown, BestSMS part limit, opt-out keywords and replies, sender
policy."""

from __future__ import annotations
