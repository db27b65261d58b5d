"""Webhook signatures in the Standard Webhooks format (https://www.standardwebhooks.com).

Receivers can verify our requests with any Standard Webhooks library, so we use the reference
``standardwebhooks`` package for the signature itself rather than a home-made HMAC layout.
"""

from __future__ import annotations

import base64
import math
import secrets
from datetime import UTC, datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 (a format prefix, not a secret)
SECRET_BYTES = 24


def new_secret() -> str:
    """A fresh endpoint secret: ``whsec_`` and base64 of 24 random bytes (192 bits)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def sign_headers(secret: str, msg_id: str, timestamp: datetime, payload: str) -> dict[str, str]:
    """The ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers for one request.

    ``timestamp`` must be aware; it is sent as whole unix seconds, which is also what gets signed.
    """
    if timestamp.tzinfo is None:
        raise ValueError("timestamp must be an aware datetime")
    # The library reads the datetime as UTC wall time, so hand it UTC.
    utc = timestamp.astimezone(UTC)
    signature: str = Webhook(secret).sign(msg_id, utc, payload)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(math.floor(utc.timestamp())),
        "webhook-signature": signature,
    }
