"""Webhook signing secrets at rest.

The gateway must know each endpoint's secret to sign with it, so it cannot store a hash. With
``TEXTGATE_SECRET_KEY`` set (any long random string, e.g. ``openssl rand -base64 32``), secrets are
stored encrypted (Fernet: AES-128-CBC with an HMAC-SHA256, key derived from the setting by SHA-256) as
``enc1:<token>``; a copy of the database alone then does not give them away. Without it they are stored
as they are. Reading accepts both, so the setting can be introduced on a running installation: secrets
written before it stay readable, new ones are encrypted. A stored ``enc1:`` secret without the setting (or
with another key) is an error that says so, never a silent wrong signature.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken

PREFIX = "enc1:"
_configured: list[str | None] = []


class SecretKeyError(RuntimeError):
    """A stored secret cannot be read with the configured key."""


def configure(key: str | None) -> None:
    """Use ``key`` (the ``secret_key`` setting) from now on; without a call, the settings are read once."""
    _configured[:] = [key or None]


def _key() -> str | None:
    if not _configured:
        from textgate.config import Settings

        configure(Settings().secret_key)
    return _configured[0]


@lru_cache(maxsize=8)
def _fernet(key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))


def seal(secret: str) -> str:
    """What to store for ``secret``."""
    key = _key()
    if key is None:
        return secret
    return PREFIX + _fernet(key).encrypt(secret.encode()).decode("ascii")


def unseal(stored: str) -> str:
    """The secret a stored value holds."""
    if not stored.startswith(PREFIX):
        return stored
    key = _key()
    if key is None:
        raise SecretKeyError("a webhook secret is stored encrypted, and TEXTGATE_SECRET_KEY is not set")
    try:
        return _fernet(key).decrypt(stored[len(PREFIX) :].encode("ascii")).decode()
    except InvalidToken as exc:
        raise SecretKeyError(
            "a webhook secret cannot be decrypted with TEXTGATE_SECRET_KEY (another key?)"
        ) from exc
