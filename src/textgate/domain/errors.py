"""One error vocabulary for the whole gateway.

Every failure textgate reports — to an API caller, in a message's ``error_code``, in a webhook — is one
:class:`ErrorKind`. Dialects and connectors translate to and from it with tables; nothing else invents
error strings.

Hierarchy::

    TextgateError                 kind, message, field, retryable, context
    ├── ValidationError           a request field is wrong            (kind=validation or content kinds)
    ├── AuthenticationError       no or wrong credentials             (kind=authentication)
    ├── PermissionDenied          authenticated, but not allowed       (kind=permission_denied)
    ├── NotFound                  no such object for this tenant       (kind=not_found)
    ├── Conflict                  idempotency key reuse, state clash   (kind=conflict)
    ├── InsufficientCredits       the balance cannot cover the send    (kind=insufficient_credits)
    ├── RateLimited               too many requests                    (kind=rate_limited)
    ├── TooLarge                  request or media over a size limit   (kind=too_large)
    └── CarrierError              a connector's classified answer      (any delivery kind; retryable or not)
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    # Delivery-level kinds; the first eleven are TextingLine's ``errorType`` values, verbatim.
    UNKNOWN = "unknown"
    PLATFORM_ERROR = "platform_error"
    PROVIDER_ERROR = "provider_error"
    INVALID_DESTINATION = "invalid_destination"
    INVALID_SENDER = "invalid_sender"
    DESTINATION_BLOCKED = "destination_blocked"
    OPTED_OUT = "opted_out"
    INVALID_CONTENT = "invalid_content"
    ROUTING_ERROR = "routing_error"
    GEOGRAPHIC_RESTRICTION = "geographic_restriction"
    SERVICE_RESTRICTED = "service_restricted"
    # Carrier answers that are worth retrying, and the end of a validity period.
    THROTTLED = "throttled"
    EXPIRED = "expired"
    # Request-level kinds.
    AUTHENTICATION = "authentication"
    PERMISSION_DENIED = "permission_denied"
    VALIDATION = "validation"
    INSUFFICIENT_CREDITS = "insufficient_credits"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    RATE_LIMITED = "rate_limited"
    TOO_LARGE = "too_large"


#: Default human text per kind, used when a raiser gives none.
DEFAULT_MESSAGES: dict[ErrorKind, str] = {
    ErrorKind.UNKNOWN: "An unspecified error occurred during message processing.",
    ErrorKind.PLATFORM_ERROR: "An internal platform error prevented the message from being sent.",
    ErrorKind.PROVIDER_ERROR: "The upstream provider encountered an internal processing error.",
    ErrorKind.INVALID_DESTINATION: "The destination number is invalid, unreachable, or not mobile.",
    ErrorKind.INVALID_SENDER: "The sender identity is not valid or not authorized.",
    ErrorKind.DESTINATION_BLOCKED: "The destination number is blocked from receiving messages.",
    ErrorKind.OPTED_OUT: "The recipient has opted out from receiving messages from this sender.",
    ErrorKind.INVALID_CONTENT: "The message content is invalid or exceeds allowed limits.",
    ErrorKind.ROUTING_ERROR: "The message could not be routed to the destination.",
    ErrorKind.GEOGRAPHIC_RESTRICTION: "The message was blocked due to geographic restrictions.",
    ErrorKind.SERVICE_RESTRICTED: "The requested service type is not supported for this destination.",
    ErrorKind.THROTTLED: "The carrier is throttling submissions; the message will be retried.",
    ErrorKind.EXPIRED: "The message was not delivered within its validity period.",
    ErrorKind.AUTHENTICATION: "Missing or invalid credentials.",
    ErrorKind.PERMISSION_DENIED: "These credentials may not perform this action.",
    ErrorKind.VALIDATION: "The request is invalid.",
    ErrorKind.INSUFFICIENT_CREDITS: "Insufficient credits.",
    ErrorKind.NOT_FOUND: "Not found.",
    ErrorKind.CONFLICT: "The request conflicts with an earlier one.",
    ErrorKind.RATE_LIMITED: "Too many requests.",
    ErrorKind.TOO_LARGE: "The request is too large.",
}

#: Kinds a carrier may answer with that are worth another attempt later.
RETRYABLE_KINDS = frozenset({ErrorKind.THROTTLED, ErrorKind.PROVIDER_ERROR, ErrorKind.PLATFORM_ERROR})


class TextgateError(Exception):
    """Root of every error textgate raises on purpose."""

    default_kind: ErrorKind = ErrorKind.UNKNOWN

    def __init__(
        self,
        message: str | None = None,
        *,
        kind: ErrorKind | None = None,
        field: str | None = None,
        retryable: bool | None = None,
        **context: Any,
    ) -> None:
        self.kind = kind or self.default_kind
        self.message = message or DEFAULT_MESSAGES[self.kind]
        self.field = field
        self.retryable = self.kind in RETRYABLE_KINDS if retryable is None else retryable
        self.context = context
        super().__init__(self.message)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(kind={self.kind.value!r}, message={self.message!r}, field={self.field!r})"
        )


class ValidationError(TextgateError):
    default_kind = ErrorKind.VALIDATION


class AuthenticationError(TextgateError):
    default_kind = ErrorKind.AUTHENTICATION


class PermissionDenied(TextgateError):
    default_kind = ErrorKind.PERMISSION_DENIED


class NotFound(TextgateError):
    default_kind = ErrorKind.NOT_FOUND


class Conflict(TextgateError):
    default_kind = ErrorKind.CONFLICT


class InsufficientCredits(TextgateError):
    default_kind = ErrorKind.INSUFFICIENT_CREDITS


class RateLimited(TextgateError):
    default_kind = ErrorKind.RATE_LIMITED


class TooLarge(TextgateError):
    default_kind = ErrorKind.TOO_LARGE


class CarrierError(TextgateError):
    """A connector's classified refusal.

    ``retryable`` comes from the kind unless the connector knows better.
    """

    default_kind = ErrorKind.PROVIDER_ERROR
