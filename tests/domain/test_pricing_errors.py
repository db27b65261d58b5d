from __future__ import annotations

import pytest

from textgate.domain.errors import (
    CarrierError,
    ErrorKind,
    InsufficientCredits,
    TextgateError,
    ValidationError,
)
from textgate.domain.message import MessageType
from textgate.domain.pricing import PriceList

# TextingLine's errorType values, as its documentation lists them.
TEXTINGLINE_ERROR_TYPES = [
    "unknown",
    "platform_error",
    "provider_error",
    "invalid_destination",
    "invalid_sender",
    "destination_blocked",
    "opted_out",
    "invalid_content",
    "routing_error",
    "geographic_restriction",
    "service_restricted",
]


def test_default_prices() -> None:
    prices = PriceList()
    assert prices.price(MessageType.SMS, 1) == 1
    assert prices.price(MessageType.SMS, 3) == 3
    assert prices.price(MessageType.MMS, 1) == 3
    assert prices.price(MessageType.MMS, 5) == 3


def test_custom_prices() -> None:
    prices = PriceList(sms_part=2, mms=7)
    assert prices.price(MessageType.SMS, 4) == 8
    assert prices.price(MessageType.MMS, 1) == 7
    with pytest.raises(ValueError, match="negative"):
        PriceList(sms_part=-1)


def test_error_vocabulary_covers_textingline_and_request_errors() -> None:
    values = {k.value for k in ErrorKind}
    assert set(TEXTINGLINE_ERROR_TYPES) <= values
    for extra in (
        "authentication",
        "validation",
        "insufficient_credits",
        "not_found",
        "conflict",
        "rate_limited",
        "too_large",
    ):
        assert extra in values


def test_errors_carry_kind_field_and_retryable() -> None:
    exc = ValidationError("to: 'abc' is not a valid phone number", field="to")
    assert isinstance(exc, TextgateError)
    assert exc.kind is ErrorKind.VALIDATION and exc.field == "to" and not exc.retryable
    assert InsufficientCredits().kind is ErrorKind.INSUFFICIENT_CREDITS
    assert CarrierError(kind=ErrorKind.THROTTLED).retryable is True
    assert CarrierError(kind=ErrorKind.INVALID_DESTINATION).retryable is False
    assert CarrierError(kind=ErrorKind.OPTED_OUT, retryable=True).retryable is True
    assert "destination" in CarrierError(kind=ErrorKind.INVALID_DESTINATION).message
