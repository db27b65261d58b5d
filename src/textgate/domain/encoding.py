"""How an SMS text is encoded on the air, and how many parts it costs.

Why this module exists: an SMS carries 140 octets of user data. A carrier bills and delivers per *part*,
and how many characters fit in a part depends on the alphabet the whole text needs:

* **GSM-7** (3GPP TS 23.038 default alphabet): 160 septets in a single message. Characters from the
  extension table (``€ [ ] { } \\ ^ ~ |`` and form feed) are sent as ESC + code and cost 2 septets.
* **UCS-2**: as soon as one character is outside the GSM alphabet, the whole text is sent as 16-bit
  units: 70 in a single message. Characters outside the Basic Multilingual Plane (most emoji) need a
  UTF-16 surrogate pair, i.e. 2 units.

A concatenated (multipart) message spends 6 octets of every part on the user data header, leaving 153
septets or 67 units per part. The gateway quotes prices, enforces length limits and feeds SMPP
connectors from these numbers, so the counting and the splitting must agree exactly: :func:`split`
yields precisely :attr:`SegmentInfo.segments` parts. Splitting never cuts an escape sequence or a
surrogate pair in half — a handset would render garbage at the seam — so a part may hold one unit fewer
than its limit. Parts are filled greedily, as handsets and the common SMSC implementations do.

No transliteration happens here (``ç`` is not silently turned into ``Ç``): changing what the customer
wrote is a policy decision for the caller, not an encoding detail. Everything is pure: no I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "Encoding",
    "SegmentInfo",
    "analyze",
    "decode_gsm7",
    "encode_gsm7",
    "encode_ucs2",
    "is_gsm7",
    "split",
]


class Encoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


#: Septets (GSM-7) or 16-bit code units (UCS-2) that fit in one message: (single part, each of several).
GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67

_LIMITS: dict[Encoding, tuple[int, int]] = {
    Encoding.GSM7: (GSM7_SINGLE, GSM7_MULTI),
    Encoding.UCS2: (UCS2_SINGLE, UCS2_MULTI),
}

_ESC = 0x1B

# The GSM 03.38 default alphabet, indexed by septet value 0x00..0x7F. Position 0x1B is ESC, which
# introduces an extension character and is not a text character of its own; it only holds the place.
_GSM_BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
assert len(_GSM_BASIC_TABLE) == 128

_BASIC_CODE: dict[str, int] = {ch: code for code, ch in enumerate(_GSM_BASIC_TABLE) if code != _ESC}
#: For ``str.translate``: septet (as an ASCII code point) -> basic-table character; the fast path of
#: :func:`decode_gsm7` for text without ``ESC``.
_BASIC_TRANSLATION: dict[int, str] = dict(enumerate(_GSM_BASIC_TABLE))

# The extension table: character -> code sent after ESC.
_EXTENSION_CODE: dict[str, int] = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_EXTENSION_CHAR: dict[int, str] = {code: ch for ch, code in _EXTENSION_CODE.items()}

_GSM7_CHARS = frozenset(_BASIC_CODE) | frozenset(_EXTENSION_CODE)


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """What a text costs on the air.

    ``units`` are septets for GSM-7 (extension characters count 2) and UTF-16 code units for UCS-2
    (non-BMP characters count 2). ``per_part`` is the single-message limit when ``segments == 1`` and
    the concatenated-part limit otherwise. Empty text is one segment of zero units.
    """

    encoding: Encoding
    units: int
    segments: int
    per_part: int
    characters: int
    """Length of the text in code points (what a person would call characters, roughly)."""


def is_gsm7(text: str) -> bool:
    """True if every character of ``text`` is in the GSM 03.38 default alphabet or its extension table."""
    return _GSM7_CHARS.issuperset(text)


def _gsm7_cost(ch: str) -> int:
    return 2 if ch in _EXTENSION_CODE else 1


def _ucs2_cost(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def _cost_function(encoding: Encoding) -> Callable[[str], int]:
    return _gsm7_cost if encoding is Encoding.GSM7 else _ucs2_cost


def _encoding_of(text: str) -> Encoding:
    return Encoding.GSM7 if is_gsm7(text) else Encoding.UCS2


def _part_starts(costs: list[int], limit: int) -> list[int]:
    """Indices where each part begins when ``costs`` are packed greedily into parts of ``limit`` units.

    Every cost is at most 2 and every limit far above that, so each character fits in an empty part: a
    character that would overflow the current part starts the next one, whole.
    """
    starts = [0]
    used = 0
    for index, cost in enumerate(costs):
        if used + cost > limit:
            starts.append(index)
            used = 0
        used += cost
    return starts


def analyze(text: str) -> SegmentInfo:
    """Encoding, size and part count of ``text`` as it would be submitted to a carrier."""
    return _analyze(text)


@functools.lru_cache(maxsize=1024)  # a bulk send analyses one text for every recipient
def _analyze(text: str) -> SegmentInfo:
    encoding = _encoding_of(text)
    single, multi = _LIMITS[encoding]
    cost = _cost_function(encoding)
    costs = [cost(ch) for ch in text]
    units = sum(costs)
    if units <= single:
        segments, per_part = 1, single
    else:
        segments, per_part = len(_part_starts(costs, multi)), multi
    return SegmentInfo(
        encoding=encoding, units=units, segments=segments, per_part=per_part, characters=len(text)
    )


def split(text: str) -> list[str]:
    """The text of each part, in order; ``"".join(split(text)) == text``.

    A text that fits a single message is returned whole (``[""]`` for empty text). Otherwise parts are
    filled greedily up to 153 septets / 67 code units, never dividing an extension character's two
    septets or a surrogate pair between parts.
    """
    encoding = _encoding_of(text)
    single, multi = _LIMITS[encoding]
    cost = _cost_function(encoding)
    costs = [cost(ch) for ch in text]
    if sum(costs) <= single:
        return [text]
    starts = _part_starts(costs, multi)
    ends = [*starts[1:], len(text)]
    return [text[start:end] for start, end in zip(starts, ends, strict=True)]


def encode_gsm7(text: str) -> bytes:
    """Unpacked GSM-7: one septet per byte, extension characters as ``0x1B`` + code.

    Raises ``ValueError`` naming the first character outside the GSM 03.38 alphabet.
    """
    out = bytearray()
    for position, ch in enumerate(text):
        code = _BASIC_CODE.get(ch)
        if code is not None:
            out.append(code)
            continue
        ext = _EXTENSION_CODE.get(ch)
        if ext is None:
            raise ValueError(f"character {ch!r} (U+{ord(ch):04X}) at position {position} is not in GSM 03.38")
        out += bytes((_ESC, ext))
    return bytes(out)


def decode_gsm7(data: bytes) -> str:
    """Inverse of :func:`encode_gsm7`, lenient the way 3GPP TS 23.038 asks receivers to be.

    * ``ESC`` + a code that is not in the extension table shows the basic-table character for that
      code (the spec's fallback for unknown extension characters);
    * ``ESC ESC`` (reserved for a further extension table) and a dangling final ``ESC`` show a space.

    Raises ``ValueError`` for a byte above ``0x7F``: that is not an unpacked septet.
    """
    if data.isascii() and _ESC not in data:  # the common case, in C: one table lookup per septet
        return data.decode("ascii").translate(_BASIC_TRANSLATION)
    out: list[str] = []
    index = 0
    length = len(data)
    while index < length:
        byte = data[index]
        if byte > 0x7F:
            raise ValueError(f"byte 0x{byte:02X} at position {index} is not a GSM-7 septet")
        if byte != _ESC:
            out.append(_GSM_BASIC_TABLE[byte])
            index += 1
            continue
        if index + 1 >= length:
            out.append(" ")
            break
        code = data[index + 1]
        if code > 0x7F:
            raise ValueError(f"byte 0x{code:02X} at position {index + 1} is not a GSM-7 septet")
        if code == _ESC:
            out.append(" ")
        else:
            out.append(_EXTENSION_CHAR.get(code, _GSM_BASIC_TABLE[code]))
        index += 2
    return "".join(out)


def encode_ucs2(text: str) -> bytes:
    """UTF-16-BE, as SMSCs expect for data coding scheme 0x08; non-BMP characters become surrogate pairs.

    Strictly speaking UCS-2 has no surrogates, but every current network and handset treats the
    UCS-2 data coding scheme as UTF-16. A lone surrogate in ``text`` raises ``UnicodeEncodeError``
    (a ``ValueError``).
    """
    return text.encode("utf-16-be")
