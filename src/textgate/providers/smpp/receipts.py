"""Delivery receipts: the SMPP 3.4 appendix B receipt text, the receipt TLVs, and message id normalisation.

Pure functions and tables; no I/O. The connector feeds them what aiosmpplib parsed from a ``deliver_sm``.

**Receipt text.** SMSCs write (SMPP 3.4 appendix B, "not a standard but a commonly used format")::

    id:0A1B2C3D sub:001 dlvrd:001 submit date:2403151430 done date:2403151431 stat:DELIVRD err:000 text:Hi

Real SMSCs vary: key case (``Text:``), dates with seconds (12 digits), missing fields, ``err`` in hex.
:func:`parse_receipt_text` is lenient: it reads ``key:value`` pairs, ``text`` runs to the end, unknown
keys are kept, nothing raises.

**Message ids.** The id in a receipt is meant to be the ``message_id`` of the ``submit_sm_resp``, but SMSCs
differ in how they write it: case, leading zeros, and - a classic - hexadecimal in the response but
decimal in the receipt. Every id textgate stores is *canonical*: the response id read as hexadecimal and
written in lower case without leading zeros (an id that is not hexadecimal is only lower-cased). Decimal
responses survive this unchanged in meaning: a string of digits maps to itself less its leading zeros.
``id_format`` says how receipts write the id:

* ``hex``  - the same way as the response (case and leading zeros may differ);
* ``dec``  - the decimal rendering of the (hexadecimal) response id;
* ``auto`` - either; the connector picks the reading that matches a message it submitted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from textgate.domain.errors import ErrorKind
from textgate.domain.message import MessageStatus

IdFormat = Literal["hex", "dec", "auto"]
ID_FORMATS: Final[tuple[str, ...]] = ("hex", "dec", "auto")

_HEX = re.compile(r"^[0-9a-f]+$")
_DEC = re.compile(r"^[0-9]+$")
# A key is a known receipt key or any single word, followed by a colon. It starts where a word starts
# (``\b``): without that the engine tries every letter of every value as a key's first letter.
_KEY = re.compile(r"(?i)\b(submit date|done date|[a-z_]+):")


def canonical_id(raw: str) -> str:
    """The canonical form of a ``submit_sm_resp`` message id (see the module docstring)."""
    text = raw.strip().lower()
    if _HEX.match(text):
        return format(int(text, 16), "x")
    return text


def receipt_id_candidates(raw: str, id_format: str) -> list[str]:
    """Canonical ids a receipt's id may stand for, most likely first.

    ``hex`` and ``dec`` give one reading; ``auto`` gives the hexadecimal reading and, for an all-digit id,
    the decimal one as well (the connector keeps the one that names a message it submitted).
    """
    text = raw.strip().lower()
    if not text:
        return []
    as_hex = canonical_id(text)
    as_dec = format(int(text, 10), "x") if _DEC.match(text) else None
    if id_format == "dec":
        return [as_dec if as_dec is not None else as_hex]
    if id_format == "auto" and as_dec is not None and as_dec != as_hex:
        return [as_hex, as_dec]
    return [as_hex]


@dataclass(frozen=True, slots=True)
class ReceiptText:
    """What a receipt's text says; every field optional. ``fields``: every pair read, keys lower-cased."""

    id: str | None = None
    stat: str | None = None
    err: str | None = None
    sub: str | None = None
    dlvrd: str | None = None
    submit_date: str | None = None
    done_date: str | None = None
    text: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


# The layout of SMPP 3.4 Appendix B, which nearly every SMSC writes: read in one anchored match. Anything
# else (another order, other keys, values with spaces or colons) takes the general reading, which gives
# the same answer for this layout, only slower.
_APPENDIX_B = re.compile(
    r"id:([^\s:]*) sub:([^\s:]*) dlvrd:([^\s:]*) submit date:([^\s:]*) done date:([^\s:]*)"
    r" stat:([^\s:]*) err:([^\s:]*)(?: text:(.*))?",
    re.IGNORECASE | re.DOTALL,
)
_APPENDIX_B_KEYS = ("id", "sub", "dlvrd", "submit date", "done date", "stat", "err", "text")


def parse_receipt_text(text: str) -> ReceiptText:
    """Read ``id:... sub:... dlvrd:... submit date:... done date:... stat:... err:... text:...``.

    Keys are matched case-insensitively and in any order; values run to the next key (``text`` to the end
    of the message). Returns an empty :class:`ReceiptText` for text that has no ``key:`` pairs.
    """
    standard = _APPENDIX_B.fullmatch(text)
    if standard is not None:
        fields = {k: v for k, v in zip(_APPENDIX_B_KEYS, standard.groups(), strict=True) if v is not None}
        return _receipt(fields)
    return _receipt(read_pairs(text))


def read_pairs(text: str) -> dict[str, str]:
    """Every ``key:value`` pair of a receipt text, keys lower-cased, in any order (the general reading)."""
    matches = list(_KEY.finditer(text))
    fields: dict[str, str] = {}
    for index, match in enumerate(matches):
        key = match.group(1).lower()
        if key in fields:
            continue
        if key == "text":
            fields[key] = text[match.end() :]
            break
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        fields[key] = text[match.end() : end].strip()
    return fields


def _receipt(fields: dict[str, str]) -> ReceiptText:
    return ReceiptText(
        id=fields.get("id") or None,
        stat=(fields.get("stat") or "").upper() or None,
        err=fields.get("err") or None,
        sub=fields.get("sub"),
        dlvrd=fields.get("dlvrd"),
        submit_date=fields.get("submit date"),
        done_date=fields.get("done date"),
        text=fields.get("text"),
        fields=fields,
    )


#: SMPP 3.4 message_state TLV values (5.3.2.35) -> the receipt text's ``stat`` word.
MESSAGE_STATES: Final[Mapping[int, str]] = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
    9: "SKIPPED",
}

#: Receipt ``stat`` -> (message status, error kind). Only final states end a message; ENROUTE and
#: ACCEPTD say the SMSC still holds it.
STAT_OUTCOMES: Final[Mapping[str, tuple[MessageStatus, ErrorKind | None]]] = {
    "DELIVRD": (MessageStatus.DELIVERED, None),
    "DELIVERED": (MessageStatus.DELIVERED, None),
    "ACKED": (MessageStatus.DELIVERED, None),
    "UNDELIV": (MessageStatus.UNDELIVERED, ErrorKind.UNKNOWN),
    "UNDELIVERABLE": (MessageStatus.UNDELIVERED, ErrorKind.UNKNOWN),
    "EXPIRED": (MessageStatus.EXPIRED, ErrorKind.EXPIRED),
    "DELETED": (MessageStatus.FAILED, ErrorKind.PROVIDER_ERROR),
    "REJECTD": (MessageStatus.FAILED, ErrorKind.PROVIDER_ERROR),
    "REJECTED": (MessageStatus.FAILED, ErrorKind.PROVIDER_ERROR),
    "UNKNOWN": (MessageStatus.FAILED, ErrorKind.UNKNOWN),
    "SKIPPED": (MessageStatus.FAILED, ErrorKind.PROVIDER_ERROR),
    "ENROUTE": (MessageStatus.SENT, None),
    "ACCEPTD": (MessageStatus.SENT, None),
    "ACCEPTED": (MessageStatus.SENT, None),
}

#: Error text per status when the receipt gives none worth showing.
_STAT_TEXT: Final[Mapping[MessageStatus, str]] = {
    MessageStatus.UNDELIVERED: "the carrier could not deliver the message",
    MessageStatus.EXPIRED: "the message expired at the carrier before delivery",
    MessageStatus.FAILED: "the carrier dropped the message",
}


def stat_outcome(stat: str | None) -> tuple[MessageStatus, ErrorKind | None]:
    """Status and error kind for a receipt ``stat`` (an unknown word counts as UNKNOWN: failed)."""
    return STAT_OUTCOMES.get((stat or "UNKNOWN").upper(), STAT_OUTCOMES["UNKNOWN"])


def error_text(status: MessageStatus, stat: str | None, err: str | None) -> str | None:
    """The error message a receipt carries: None for delivered / en-route, else the stat and err code."""
    if status in (MessageStatus.DELIVERED, MessageStatus.SENT):
        return None
    base = _STAT_TEXT.get(status, "the carrier reported a failure")
    details = " ".join(part for part in (f"stat:{stat}" if stat else "", f"err:{err}" if err else "") if part)
    return f"{base} ({details})" if details else base
