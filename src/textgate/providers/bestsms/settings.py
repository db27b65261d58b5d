"""The account settings the BestSMS dialect reads, in one place, each with its default.

Operators set them with ``textgate accounts set ACCOUNT --setting KEY=VALUE`` (the value is JSON when it
parses, else text), so every reader here accepts numbers given as text and falls back to the default
on a value it cannot use: a typo in a setting must not turn every send into a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: Parts a message may have unless the account says otherwise: BestSMS limits to one part by default.
MAX_PARTS = "bestsms_max_parts"
#: How long after an outbound message an inbound one from its recipient still counts as a reply.
REPLY_WINDOW_HOURS = "bestsms_reply_window_hours"
#: What one textgate credit is reported as in the ``Price`` fields (``credits × this``, two decimals).
PRICE_PER_CREDIT = "bestsms_price_per_credit"
#: The number (or sender ID) messages are sent from when the request names none.
FROM = "bestsms_from"
#: The account's local time zone (IANA name), shared with other dialects.
TIMEZONE = "timezone"

DEFAULT_MAX_PARTS = 1
DEFAULT_REPLY_WINDOW = timedelta(hours=72)
UTC_ZONE = ZoneInfo("UTC")


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def max_parts(settings: Mapping[str, Any]) -> int:
    number = _number(settings.get(MAX_PARTS))
    if number is None or number < 1 or number != number.to_integral_value():
        return DEFAULT_MAX_PARTS
    return int(number)


def reply_window(settings: Mapping[str, Any]) -> timedelta:
    number = _number(settings.get(REPLY_WINDOW_HOURS))
    if number is None or number <= 0 or number > 24 * 366:
        return DEFAULT_REPLY_WINDOW
    return timedelta(hours=float(number))


def price_per_credit(settings: Mapping[str, Any]) -> Decimal:
    number = _number(settings.get(PRICE_PER_CREDIT))
    return Decimal(1) if number is None or number < 0 else number


def price(credits: int, settings: Mapping[str, Any]) -> str:
    """``Price`` as BestSMS writes it: ``"0.20"``."""
    return f"{Decimal(credits) * price_per_credit(settings):.2f}"


def zone(name: Any) -> tzinfo | None:
    """The time zone called ``name``, or None when it is not a known IANA name."""
    if not isinstance(name, str) or not name.strip():
        return None
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        return None


def account_zone(settings: Mapping[str, Any]) -> tzinfo:
    return zone(settings.get(TIMEZONE)) or UTC_ZONE


def zone_name(tz: tzinfo) -> str:
    return str(getattr(tz, "key", None) or tz)
