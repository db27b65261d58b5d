"""What goes into the ``submit_sm`` PDUs of one message: encoding, splitting and concatenation.

The text is analysed and split by :mod:`textgate.domain.encoding` (so what the gateway bills is exactly
what it sends; parts never divide an extension character or a surrogate pair) and encoded by it as well:
GSM-7 unpacked as data_coding 0, UCS-2 (UTF-16-BE) as data_coding 8. aiosmpplib builds the PDUs.

Long messages, three ways (``long_messages``):

* ``udh``     - each part carries a concatenation user data header (IEI 0x00, 8-bit reference) and the
  UDHI bit in esm_class; the most widely supported way;
* ``sar``     - each part carries the sar_msg_ref_num / sar_total_segments / sar_segment_seqnum TLVs and
  the SMSC builds the headers;
* ``payload`` - one submit_sm with the whole text in the message_payload TLV; the SMSC splits.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final, Literal

from textgate.domain.encoding import Encoding, analyze, encode_gsm7, encode_ucs2, split

LongMode = Literal["udh", "sar", "payload"]
LONG_MODES: Final[tuple[str, ...]] = ("udh", "sar", "payload")

#: data_coding per encoding (SMPP 3.4 5.2.19): 0 = SMSC default alphabet (GSM 03.38), 8 = UCS-2.
DATA_CODING: Final[dict[Encoding, int]] = {Encoding.GSM7: 0, Encoding.UCS2: 8}
#: aiosmpplib's name for each encoding (it derives data_coding from the name).
LIBRARY_ENCODING: Final[dict[Encoding, str | None]] = {Encoding.GSM7: None, Encoding.UCS2: "ucs2"}

ESM_UDHI: Final = 0x40


@dataclass(frozen=True, slots=True)
class Part:
    """One submit_sm's content. ``short_message`` is set unless the text goes in ``payload_text``."""

    text: str
    encoding: Encoding
    short_message: bytes | None = None
    payload_text: str | None = None
    esm_class: int = 0
    sar: tuple[int, int, int] | None = None  # (reference, total, sequence number)

    @property
    def data_coding(self) -> int:
        return DATA_CODING[self.encoding]


def _encode(text: str, encoding: Encoding) -> bytes:
    return encode_gsm7(text) if encoding is Encoding.GSM7 else encode_ucs2(text)


def concat_udh(reference: int, total: int, sequence: int) -> bytes:
    """The 6-octet user data header of a concatenated part (3GPP TS 23.040 9.2.3.24.1, 8-bit reference)."""
    return bytes((0x05, 0x00, 0x03, reference & 0xFF, total, sequence))


@functools.lru_cache(maxsize=1024)  # a bulk send submits one text to every recipient
def _single_part(text: str) -> Part | None:
    """The one part of a text that fits a single message (frozen: safe to share), or None."""
    info = analyze(text)
    if info.segments != 1:
        return None
    return Part(text=text, encoding=info.encoding, short_message=_encode(text, info.encoding))


def plan_parts(text: str, mode: str, reference: int) -> list[Part]:
    """The submit_sm contents for ``text``; one part when it fits a single message (or ``mode`` is payload).

    ``reference`` identifies the concatenated message (the low 8 bits for UDH, 16 bits for SAR).
    """
    single = _single_part(text)
    if single is not None:
        return [single]
    encoding = analyze(text).encoding
    chunks = split(text)
    if mode == "payload":
        return [Part(text=text, encoding=encoding, payload_text=text)]
    total = len(chunks)
    if total > 255:
        raise ValueError(f"a message of {total} parts cannot be concatenated (at most 255)")
    parts: list[Part] = []
    for number, chunk in enumerate(chunks, start=1):
        body = _encode(chunk, encoding)
        if mode == "sar":
            parts.append(
                Part(
                    text=chunk,
                    encoding=encoding,
                    short_message=body,
                    sar=(reference & 0xFFFF, total, number),
                )
            )
        else:
            parts.append(
                Part(
                    text=chunk,
                    encoding=encoding,
                    short_message=concat_udh(reference, total, number) + body,
                    esm_class=ESM_UDHI,
                )
            )
    return parts
