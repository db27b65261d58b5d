"""The translation tables on their own: statuses, error types, error codes, characters."""

from __future__ import annotations

import pytest

from textgate.domain.errors import (
    AuthenticationError,
    Conflict,
    ErrorKind,
    InsufficientCredits,
    NotFound,
    TooLarge,
    ValidationError,
)
from textgate.domain.message import MessageStatus
from textgate.providers.textingline.wire import (
    ERROR_TYPES,
    STATUS_MAP,
    error_answer,
    error_type,
    message_object,
    parse_send,
    unsupported_character,
)


def test_every_status_is_mapped() -> None:
    assert set(STATUS_MAP) == {s.value for s in MessageStatus}
    assert set(STATUS_MAP.values()) == {"sent", "queued", "failed", "received"}
    assert STATUS_MAP["received"] == "received"  # inbound only
    assert {k for k, v in STATUS_MAP.items() if v == "queued"} == {"queued", "scheduled", "sending"}
    assert {k for k, v in STATUS_MAP.items() if v == "failed"} == {
        "failed",
        "undelivered",
        "rejected",
        "expired",
        "canceled",
    }


def test_error_types_are_textgate_kinds() -> None:
    assert {k.value for k in ErrorKind} >= ERROR_TYPES
    for kind in ERROR_TYPES:
        assert error_type(kind) == kind
    assert error_type("throttled") == "provider_error"
    assert error_type("expired") == "unknown"
    assert error_type(None) == "unknown"


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (ValidationError("x", field="to"), 400, 400),
        (ValidationError("x", field="from", kind=ErrorKind.INVALID_SENDER), 400, 33004),
        (ValidationError("x", field="from", kind=ErrorKind.INVALID_SENDER, code=33009), 400, 33009),
        (ValidationError("x", field="body", kind=ErrorKind.INVALID_CONTENT), 400, 33016),
        (ValidationError("x", field="to", kind=ErrorKind.GEOGRAPHIC_RESTRICTION), 403, 33019),
        (InsufficientCredits("x"), 402, 33023),
        (AuthenticationError("x"), 401, 401),
        (NotFound("x"), 404, 404),
        (Conflict("x"), 409, 409),
        (TooLarge("x"), 413, 413),
        (ValidationError("x", status=415, code=415), 415, 415),
    ],
)
def test_error_answers(exc: ValidationError, status: int, code: int) -> None:
    got_status, body = error_answer(exc)
    assert (got_status, body["code"]) == (status, code)
    assert body == {"code": code, "message": "x", "field": exc.field}


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("plain", None),
        ("tab\tnl\ncr\r", None),
        ("\U0001f600 \u00e9 \u4f60", None),
        ("a\x00", "U+0000 at position 1"),
        ("\x1f", "U+001F at position 0"),
        ("\x7f", "U+007F at position 0"),
        ("\x9f", "U+009F at position 0"),
        ("\ud800", "U+D800 at position 0"),
        ("\ufdd0", "U+FDD0 at position 0"),
        ("\uffff", "U+FFFF at position 0"),
        ("\U0001fffe", "U+1FFFE at position 0"),
    ],
)
def test_unsupported_characters(text: str, bad: str | None) -> None:
    assert unsupported_character(text) == bad


def test_fingerprint_covers_the_message_not_the_key() -> None:
    a = parse_send(b'{"to": "+18005551234", "from": "+18005559876", "body": "hi", "idempotencyKey": "k"}')
    b = parse_send(b'{"idempotencyKey": "other", "body": "hi", "from": "+18005559876", "to": "+18005551234"}')
    c = parse_send(b'{"to": "+18005551234", "from": "+18005559876", "body": "hi!", "idempotencyKey": "k"}')
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_message_object_of_a_native_view() -> None:
    view = {
        "id": "msg_x",
        "direction": "outbound",
        "to": "+18005551234",
        "from": "+18005559876",
        "body": None,
        "status": "undelivered",
        "error_code": "destination_blocked",
        "error_message": None,
        "created_at": "2026-03-15T14:30:00.000Z",
        "sent_at": "2026-03-15T14:30:01.000Z",
    }
    assert message_object(view, "https://example.com/images/promo.jpg") == {
        "id": "msg_x",
        "direction": "outbound",
        "to": "+18005551234",
        "from": "+18005559876",
        "body": "",
        "mediaUrl": "https://example.com/images/promo.jpg",
        "status": "failed",
        "errorType": "destination_blocked",
        "errorMessage": "The destination number is blocked from receiving messages.",
        "createdAt": "2026-03-15T14:30:00.000Z",
    }
