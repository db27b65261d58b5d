"""The one ID scheme: a type prefix, then 22 base62 characters: 8 for the time (milliseconds since the
Unix epoch) and 14 random (about 83 bits). Shorter IDs (worker names, key IDs) are all random.

IDs minted later sort after earlier ones (to the millisecond), so each index keyed by an ID grows at
its end, like a time index. With fully random IDs, every batch of new rows (messages, their status
events, webhook deliveries) touched a different page of every such index, and each commit wrote all
those pages: most of the database's write work under load. The random part keeps IDs unguessable.
"""

from __future__ import annotations

import os
import string
import threading
import time

_ALPHABET = string.ascii_letters + string.digits
#: The time part's digits, in ASCII order, so that IDs compare as their times do.
_SORTED = string.digits + string.ascii_uppercase + string.ascii_lowercase
_TIME_CHARS = 8  # 62**8 milliseconds: until the year 8888

# Each random byte picks a character by ``byte % 62``. The slight bias (the first 8 characters come up
# 5/4 as often) costs under 0.1 bit of the random part; in exchange, minting an id is a slice of pooled
# random bytes and one C-level translate — ids are minted per recipient on the hot send path.
_TABLE = bytes(ord(_ALPHABET[b % 62]) for b in range(256))

_last: tuple[int, str] = (-1, "")

#: Random bytes are read from the OS this many at a time, per thread: each ``os.urandom`` is a system
#: call that releases the GIL, and in a busy server every release can mean waiting to get it back.
_POOL_BYTES = 4096
_pool = threading.local()


def _random_bytes(n: int) -> bytes:
    buf: bytes = getattr(_pool, "buf", b"")
    pos: int = getattr(_pool, "pos", 0)
    if pos + n > len(buf):
        buf, pos = os.urandom(max(_POOL_BYTES, n)), 0
        _pool.buf = buf
    _pool.pos = pos + n
    return buf[pos : pos + n]


# A child forked from this process must not mint the parent's next IDs.
os.register_at_fork(after_in_child=lambda: _pool.__dict__.clear())


def random_token(length: int = 22) -> str:
    """Random base62 characters straight from the OS (for secrets)."""
    return os.urandom(length).translate(_TABLE).decode("ascii")


def time_part(ms: int) -> str:
    """``ms`` as the 8 sortable base62 characters that start an ID."""
    digits = []
    for _ in range(_TIME_CHARS):
        ms, d = divmod(ms, 62)
        digits.append(_SORTED[d])
    return "".join(reversed(digits))


def new_id(prefix: str, length: int = 22) -> str:
    """``prefix_`` and ``length`` characters: time-ordered as above when ``length`` is at least 20
    (12 random characters or more), otherwise all random."""
    global _last
    if length < 20:
        return f"{prefix}_{_random_bytes(length).translate(_TABLE).decode('ascii')}"
    ms = time.time_ns() // 1_000_000
    last = _last
    if last[0] != ms:
        last = _last = (ms, time_part(ms))
    return f"{prefix}_{last[1]}{_random_bytes(length - _TIME_CHARS).translate(_TABLE).decode('ascii')}"
