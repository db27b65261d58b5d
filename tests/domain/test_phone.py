"""Phone number normalization, sender parsing and number metadata."""

from __future__ import annotations

import pytest

from textgate.domain.errors import ErrorKind, ValidationError
from textgate.domain.phone import Sender, is_mobile, normalize_number, parse_sender, region_of


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        # E.164 with '+', with and without separators; region is irrelevant then.
        ("+61421000001", None, "+61421000001"),
        ("+61421000001", "US", "+61421000001"),
        ("+61 421 000 001", None, "+61421000001"),
        ("+61 (0) 421 000 001", None, "+61421000001"),
        ("+1 (201) 555-0123", None, "+12015550123"),
        ("+1.201.555.0123", None, "+12015550123"),
        ("  +64 21 123 4567  ", None, "+64211234567"),
        ("+800 1234 5678", None, "+80012345678"),  # non-geographic, valid
        # Digits-only international.
        ("61421000001", None, "+61421000001"),
        ("61421000001", "US", "+61421000001"),
        ("12015550123", None, "+12015550123"),
        ("15551230001", None, "+15551230001"),
        ("15551230001", "US", "+15551230001"),
        ("15551230001", "AU", "+15551230001"),
        ("61421000001", "GB", "+61421000001"),
        ("447911123456", "US", "+447911123456"),
        ("4915112345678", "AU", "+4915112345678"),
        # National formats with the account's region (case-insensitive).
        ("0421000001", "AU", "+61421000001"),
        ("0421 000 001", "au", "+61421000001"),
        ("(02) 9999 9999", "AU", "+61299999999"),
        ("201-555-0123", "US", "+12015550123"),  # national first: "+2015550123" is a valid Egyptian number
        ("2015550123", None, "+2015550123"),  # ... which is what it is without a region
        ("5551230001", "US", "+15551230001"),  # possible in the US beats possible in Brazil (+55)
        ("020 7946 0000", "GB", "+442079460000"),
        # International-prefix dialling.
        ("0064211234567", "AU", "+64211234567"),  # the ITU '00' prefix
        ("0011 61 421 000 001", "AU", "+61421000001"),  # Australia's own IDD
        ("01164211234567", "US", "+64211234567"),
        ("011 61 421 000 001", "US", "+61421000001"),
        ("0064211234567", None, "+64211234567"),
    ],
)
def test_normalize_number_accepts(raw: str, region: str | None, expected: str) -> None:
    assert normalize_number(raw, region=region) == expected


@pytest.mark.parametrize("number", ["+15551230001", "15551230001", *(f"+1555000000{i}" for i in range(10))])
def test_simulator_555_numbers_are_accepted(number: str) -> None:
    assert normalize_number(number) == "+" + number.lstrip("+")


def test_all_simulator_numbers_normalize() -> None:
    for i in range(1, 100):
        assert normalize_number(f"+155500000{i:02d}") == f"+155500000{i:02d}"


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("abc", None, "characters other than digits"),
        ("+61 421 ABC 001", None, "characters other than digits"),
        ("+61 421 000 001 ext 5", None, "characters other than digits"),
        ("61+421000001", None, "characters other than digits"),
        ("", None, "empty"),
        ("   ", None, "empty"),
        ("+1", None, "too short"),
        ("12", None, "too short"),
        ("+1555", None, "too short"),
        ("0421", "AU", "too short"),
        ("+999123456789", None, "unknown country calling code"),
        ("+4420794600001234", None, "too long"),
        ("9" * 41, None, "longer than 40"),
        ("0421000001", None, "no default region"),
        ("1234567", "US", "local number without its area code"),
    ],
)
def test_normalize_number_rejects(raw: str, region: str | None, reason: str) -> None:
    with pytest.raises(ValidationError) as caught:
        normalize_number(raw, region=region, field="recipients[3]")
    error = caught.value
    assert error.kind is ErrorKind.VALIDATION
    assert error.field == "recipients[3]"
    assert "recipients[3]" in error.message
    assert repr(raw) in error.message
    assert "is not a valid phone number" in error.message
    assert reason in error.message


def test_default_field_is_to() -> None:
    with pytest.raises(ValidationError) as caught:
        normalize_number("abc")
    assert caught.value.field == "to"
    assert caught.value.message.startswith("to: ")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Textgate", Sender("Textgate", is_alphanumeric=True)),
        ("ACME 1", Sender("ACME 1", is_alphanumeric=True)),
        ("  Textgate  ", Sender("Textgate", is_alphanumeric=True)),
        ("A", Sender("A", is_alphanumeric=True)),
        ("Elevenchars", Sender("Elevenchars", is_alphanumeric=True)),
        ("2FA Codes", Sender("2FA Codes", is_alphanumeric=True)),
        ("+61421000001", Sender("+61421000001", is_alphanumeric=False)),
        ("0421 000 001", Sender("+61421000001", is_alphanumeric=False)),
        ("+15551230001", Sender("+15551230001", is_alphanumeric=False)),
    ],
)
def test_parse_sender_accepts(raw: str, expected: Sender) -> None:
    assert parse_sender(raw, region="AU") == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("TwelveCharsX1", "at most 11 characters"),
        ("Twelve Chars", "at most 11 characters"),
        ("Bad!Sender", "only letters A-Z, digits and spaces"),
        ("Café", "only letters A-Z, digits and spaces"),
        ("Ünïcode", "only letters A-Z, digits and spaces"),
        ("", "empty"),
        ("   ", "empty"),
        ("123", "not a valid phone number"),  # no letter: a number, and too short for one
        ("+999123456789", "not a valid phone number"),
    ],
)
def test_parse_sender_rejects(raw: str, reason: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_sender(raw, region="AU")
    assert caught.value.field == "from"
    assert caught.value.message.startswith("from: ")
    assert reason in caught.value.message


def test_parse_sender_custom_field() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_sender("Bad!Sender", field="sender_id")
    assert caught.value.field == "sender_id"
    assert "sender_id" in caught.value.message


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        ("+61421000001", True),  # AU mobile
        ("+61299999999", False),  # AU landline (Sydney)
        ("+12015550123", True),  # US: fixed line or mobile, cannot tell
        ("+442079460000", False),  # GB landline
        ("+611800123456", False),  # AU toll free
        ("+19005550123", False),  # US premium rate
        ("+15551230001", None),  # possible but unassigned
        ("not a number", None),
    ],
)
def test_is_mobile(e164: str, expected: bool | None) -> None:
    assert is_mobile(e164) is expected


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        ("+61421000001", "AU"),
        ("+64211234567", "NZ"),
        ("+12015550123", "US"),
        ("+442079460000", "GB"),
        ("+80012345678", None),  # non-geographic
        ("+15551230001", None),
        ("garbage", None),
    ],
)
def test_region_of(e164: str, expected: str | None) -> None:
    assert region_of(e164) == expected


def test_international_numbers_are_read_once_for_every_region_and_can_be_read_ahead() -> None:
    from textgate.domain import phone

    number = "+44 7400 900123"
    phone._normalize.cache_clear()
    phone.read_ahead([number, 42, "07400 900124"])  # only the international one is read ahead
    assert phone._normalize.cache_info().currsize == 1
    hits = phone._normalize.cache_info().hits
    assert normalize_number(number, region="US") == normalize_number(number, region="AU") == "+447400900123"
    assert phone._normalize.cache_info().hits == hits + 2  # both found what read_ahead parsed
    assert normalize_number("07400 900124", region="GB") == "+447400900124"  # national: by its region


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        # Every example number of the five provider documents, in the form its document writes it.
        ("+12003004001", "US", "+12003004001"),  # TextBetter's 12003004001, + added by the dialect
        ("+15551230001", "US", "+15551230001"),
        ("0421000001", "AU", "+61421000001"),  # BestSMS, dialled nationally
        ("+18005551234", "US", "+18005551234"),  # TextingLine
        ("+18005559876", "US", "+18005559876"),
        ("+12345678548", "US", "+12345678548"),  # Betatel / Text-Connect
        ("+38161444555", "US", "+38161444555"),
        ("+447777777771", "US", "+447777777771"),
    ],
)
def test_the_provider_documents_example_numbers_are_accepted(raw: str, region: str, e164: str) -> None:
    assert normalize_number(raw, region=region) == e164


def test_international_form_needs_a_possible_number_and_strict_an_assigned_one() -> None:
    # +1 200 ... has North America's length (possible) but no carrier holds area code 200 (not valid).
    assert normalize_number("+12003004001") == "+12003004001"
    with pytest.raises(ValidationError, match="not an assigned number range"):
        normalize_number("+12003004001", strict=True)
    # Not possible at all is refused either way, with the reason.
    with pytest.raises(ValidationError, match="too short for its country"):
        normalize_number("+1200300400")
    with pytest.raises(ValidationError, match="unknown country calling code"):
        normalize_number("+99912345678")
    # National form still needs an assigned range: it decides between readings.
    with pytest.raises(ValidationError, match="not an assigned number range"):
        normalize_number("2003004001", region="US")
    with pytest.raises(ValidationError):
        normalize_number("0421000001", region="US")
