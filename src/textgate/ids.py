"""The one ID scheme: a type prefix and 22 random base62 characters (about 131 bits)."""

from __future__ import annotations

import os
import string

_ALPHABET = string.ascii_letters + string.digits


# Each random byte picks a character by ``byte % 62``. The slight bias (the first 8 characters come up
# 5/4 as often) costs under 0.1 bit of the ~131 bits in 22 characters; in exchange, minting an id is one
# urandom read and one C-level translate — ids are minted per recipient on the hot send path.
_TABLE = bytes(ord(_ALPHABET[b % 62]) for b in range(256))


def random_token(length: int = 22) -> str:
    return os.urandom(length).translate(_TABLE).decode("ascii")


def new_id(prefix: str, length: int = 22) -> str:
    return f"{prefix}_{random_token(length)}"
