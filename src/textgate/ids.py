"""The one ID scheme: a type prefix and 22 random base62 characters (about 131 bits)."""

from __future__ import annotations

import os
import string

_ALPHABET = string.ascii_letters + string.digits


def random_token(length: int = 22) -> str:
    # One urandom read and integer arithmetic: ids are minted per recipient on the hot send path.
    n = int.from_bytes(os.urandom(length), "big")
    out = []
    for _ in range(length):
        n, r = divmod(n, 62)
        out.append(_ALPHABET[r])
    return "".join(out)


def new_id(prefix: str, length: int = 22) -> str:
    return f"{prefix}_{random_token(length)}"
