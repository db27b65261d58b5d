"""Phone numbers and sender identities, reduced to one canonical form at the edge.

Why this module exists: the same handset arrives as ``+61 421 000 001``, ``61421000001``,
``0421 000 001`` (dialled in Australia) or ``0011 61 421 000 001``. Opt-out lists, conversation
threading, rate limits and billing all key on the number, so everything past the API boundary sees one
form only: E.164 with a leading ``+``. Parsing and metadata come from ``phonenumbers`` (Google's
libphonenumber); this module decides which readings of an ambiguous input to try, in which order, and
what counts as good enough.

Acceptance rule: a number written in **international form** (``+…``; dialects whose numbers are
digits-only E.164 add the ``+`` before they get here) is accepted when libphonenumber says it is
*possible* for its country (the right length; ``is_possible_number_with_reason`` is ``IS_POSSIBLE``):
the sender said which country it is, and the ranges actually assigned change faster than any copy of the
metadata, so ``+1 200 300 4001`` goes through although no carrier holds ``200`` yet. An account with the
``strict_numbers`` setting requires the stricter ``phonenumbers.is_valid_number`` (an assigned range)
for these too. Input in **national form** (no ``+``) always needs validity, because it decides between
readings: accepting a merely possible reading would let typos through - ``0421000001`` on a US account
would become some possible ``+1…`` rather than the clear error that it is an Australian number dialled
nationally. Numbers in the North American fictional ``555`` ranges (``+1 555 …`` and ``+1 NPA 555 …``),
which the simulator, docs and tests use (``+15551230001``) and which libphonenumber deliberately marks
invalid, are accepted in every form.

Resolution order for input without a ``+``: with a default region, the national reading comes first
(``phonenumbers.parse(digits, region)``, which also understands the region's own international prefix,
e.g. ``011`` in the US, ``0011`` in Australia, and a redundant leading country code such as
``1 555…`` in the US); then the digits read as international (``+`` prepended); then, for ``00…``,
the ITU international prefix people dial everywhere. The first acceptable reading wins. National-first
matters where national numbers have no trunk prefix:
``201-555-0123`` typed by a US account is New Jersey, although ``+2015550123`` is also a valid
(Egyptian) number; and ``5551230001`` is ``+1 555…``, not a possible Brazilian ``+55`` number.
International digits such as ``61421000001`` are almost never also a valid national number of the
account's region (the lengths differ), so they still resolve to ``+61…``.

Sender IDs are either such a number or an alphanumeric ID (1–11 ASCII letters, digits and spaces, with at
least one letter), which is what networks allow in the originating-address field.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberType, ValidationResult

from textgate.domain.errors import ValidationError

__all__ = ["Sender", "is_mobile", "normalize_number", "parse_sender", "region_of"]

#: Longer input is rejected before parsing; no dialled form of an E.164 number (15 digits) comes close.
MAX_INPUT_LENGTH = 40
#: Longest alphanumeric sender ID the GSM originating-address field can carry.
MAX_ALPHANUMERIC_SENDER = 11

_ALLOWED = re.compile(r"\+?[0-9 ().\-]+")
_ALPHANUMERIC_SENDER = re.compile(r"[A-Za-z0-9 ]+")

_PARSE_REASONS: dict[int, str] = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country calling code",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}

_POSSIBILITY_REASONS: dict[int, str] = {
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country calling code",
    ValidationResult.TOO_SHORT: "too short for its country",
    ValidationResult.TOO_LONG: "too long for its country",
    ValidationResult.INVALID_LENGTH: "wrong length for its country",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "a local number without its area code",
    ValidationResult.IS_POSSIBLE: "not an assigned number range",
}

_MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


def _invalid(raw: str, field: str, reason: str) -> ValidationError:
    return ValidationError(f"{field}: {raw!r} is not a valid phone number: {reason}", field=field)


def _is_fictional_nanp(number: PhoneNumber) -> bool:
    national = str(number.national_number or "")
    return number.country_code == 1 and len(national) == 10 and "555" in (national[:3], national[3:6])


def _is_acceptable(number: PhoneNumber) -> bool:
    # The cheap test first: validity walks every region sharing the country code.
    return _is_fictional_nanp(number) or bool(phonenumbers.is_valid_number(number))


def _is_possible(number: PhoneNumber) -> bool:
    return phonenumbers.is_possible_number_with_reason(number) == ValidationResult.IS_POSSIBLE


def _possibility_reason(number: PhoneNumber) -> str:
    return _POSSIBILITY_REASONS.get(phonenumbers.is_possible_number_with_reason(number), "not a valid number")


def _parse(text: str, region: str | None) -> PhoneNumber | str:
    """The parsed number, or a human reason why ``text`` does not parse."""
    try:
        return phonenumbers.parse(text, region)
    except NumberParseException as exc:
        return _PARSE_REASONS.get(exc.error_type, "not a phone number")


def _readings(digits: str, region: str | None) -> list[PhoneNumber | str]:
    """Interpretations of a '+'-less digit string in order of preference: each a number or why not."""
    readings: list[PhoneNumber | str] = []
    if region is not None:
        readings.append(_parse(digits, region))
    readings.append(_parse("+" + digits, None))
    if digits.startswith("00"):
        readings.append(_parse("+" + digits[2:], None))
    return readings


def _e164(number: PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_number(raw: str, *, region: str | None = None, field: str = "to", strict: bool = False) -> str:
    """Canonical E.164 (``+61421000001``) for a number as a person or system might write it.

    ``region`` is the account's default ISO 3166 region (``"AU"``, ``"US"``) used to read national
    dialling formats. Spaces, dashes, dots and parentheses are ignored; anything else is rejected.
    ``strict``: international input must be an assigned range too (the account's ``strict_numbers``).
    Raises :class:`ValidationError` naming ``field`` and the reason.
    """
    # (An international number reads the same in every region: one cache entry serves them all.)
    ok, value = _normalize(raw, None if _international(raw) else region.upper() if region else None, strict)
    if not ok:
        raise _invalid(raw, field, value)
    return value


def _international(raw: str) -> bool:
    return raw.lstrip().startswith("+")


def read_ahead(numbers: Iterable[object]) -> None:
    """Parse the international numbers among ``numbers`` now, so that validating them later finds them
    cached. A send does this before it waits for the database: inside the transaction, which holds
    SQLite's one write lock, only the cached answers are looked up. Errors are left to that validation."""
    for raw in numbers:
        if isinstance(raw, str) and _international(raw):
            _normalize(raw, None, False)


@functools.lru_cache(maxsize=65536)
def _normalize(raw: str, region: str | None, strict: bool = False) -> tuple[bool, str]:
    """(True, E.164) or (False, reason). Cached: validation walks libphonenumber's per-region patterns
    (hundreds of microseconds for a NANP number) and the same numbers recur in real traffic."""
    text = raw.strip()
    if not text:
        return False, "it is empty"
    if len(text) > MAX_INPUT_LENGTH:
        return False, f"longer than {MAX_INPUT_LENGTH} characters"
    if not _ALLOWED.fullmatch(text):
        return (
            False,
            "it contains characters other than digits, a leading '+', spaces, dashes, dots and parentheses",
        )
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) < 3:
        return False, "too short"

    if text.startswith("+"):
        parsed = _parse(text, None)
        if isinstance(parsed, str):
            return False, parsed
        if _is_acceptable(parsed) or (not strict and _is_possible(parsed)):
            return True, _e164(parsed)
        return False, _possibility_reason(parsed)

    readings = _readings(digits, region)
    for reading in readings:
        if not isinstance(reading, str) and _is_acceptable(reading):
            return True, _e164(reading)

    # Explain the reading the caller most likely meant: the national one when there is a region.
    meant = readings[0]
    reason = meant if isinstance(meant, str) else _possibility_reason(meant)
    if region is None:
        reason += " (and there is no default region to read it as a national number)"
    return False, reason


@dataclass(frozen=True, slots=True)
class Sender:
    """A message's originator: an E.164 number, or an alphanumeric sender ID such as ``ACME``."""

    value: str
    is_alphanumeric: bool


def parse_sender(raw: str, *, region: str | None = None, field: str = "from") -> Sender:
    """Read a sender: alphanumeric if it contains a letter, otherwise a number normalized to E.164.

    Alphanumeric IDs are 1–11 ASCII letters, digits and spaces (surrounding spaces stripped).
    Raises :class:`ValidationError` naming ``field`` and the reason.
    """
    text = raw.strip()
    if not text:
        raise ValidationError(f"{field}: {raw!r} is not a valid sender: it is empty", field=field)
    if not any(ch.isalpha() for ch in text):
        return Sender(value=normalize_number(text, region=region, field=field), is_alphanumeric=False)
    if not _ALPHANUMERIC_SENDER.fullmatch(text):
        raise ValidationError(
            f"{field}: {raw!r} is not a valid sender: an alphanumeric sender ID may contain only "
            "letters A-Z, digits and spaces",
            field=field,
        )
    if len(text) > MAX_ALPHANUMERIC_SENDER:
        raise ValidationError(
            f"{field}: {raw!r} is not a valid sender: an alphanumeric sender ID is at most "
            f"{MAX_ALPHANUMERIC_SENDER} characters, this one has {len(text)}",
            field=field,
        )
    return Sender(value=text, is_alphanumeric=True)


def _parse_e164(e164: str) -> PhoneNumber | None:
    parsed = _parse(e164, None)
    return None if isinstance(parsed, str) else parsed


def is_mobile(e164: str) -> bool | None:
    """True for a mobile number (or one the metadata cannot tell from a landline, as in the US and
    Canada), False for fixed lines, toll-free, premium-rate and other non-mobile kinds, None when the
    type is unknown (including unparsable input and possible-but-unassigned numbers like ``+1555…``).
    """
    number = _parse_e164(e164)
    if number is None:
        return None
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        return None
    return kind in _MOBILE_TYPES


def region_of(e164: str) -> str | None:
    """ISO 3166 region of a number (``"AU"``), or None when unknown or non-geographic (``+800``…)."""
    number = _parse_e164(e164)
    if number is None:
        return None
    region: str | None = phonenumbers.region_code_for_number(number)
    if region is None or region in (phonenumbers.UNKNOWN_REGION, phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY):
        return None
    return region
