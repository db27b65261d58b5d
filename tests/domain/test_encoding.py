"""Encoding choice, segment counting and splitting: boundary examples, properties, and an oracle."""

from __future__ import annotations

import itertools

import pytest
import smsutil
from hypothesis import given, settings
from hypothesis import strategies as st

from textgate.domain.encoding import (
    Encoding,
    SegmentInfo,
    analyze,
    decode_gsm7,
    encode_gsm7,
    encode_ucs2,
    is_gsm7,
    split,
)

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "\f^{}\\[~]|€"
BMP_NON_GSM = "çÁáíóúâêîôûœčšžłżąęđйжЖ中文日本語한국어ا\u00a0\u2019\u201c\u2026•✓"
NON_BMP = "😀🎉👍🚀𝄞𐍈🤖"


def units_of(part: str, encoding: Encoding) -> int:
    if encoding is Encoding.GSM7:
        return len(encode_gsm7(part))
    return len(encode_ucs2(part)) // 2


# --- the alphabet -----------------------------------------------------------------------------------


def test_basic_table_has_127_text_characters_and_extension_has_10() -> None:
    assert len(set(GSM_BASIC)) == 127
    assert all(is_gsm7(ch) for ch in GSM_BASIC + GSM_EXTENSION)
    assert [len(encode_gsm7(ch)) for ch in GSM_EXTENSION] == [2] * 10


@pytest.mark.parametrize("ch", ["ç", "\x1b", "á", "`", "\t", "ж", "😀", "\u00a0"])
def test_characters_outside_gsm(ch: str) -> None:
    assert not is_gsm7(ch)
    assert analyze("hello" + ch).encoding is Encoding.UCS2


def test_capital_c_cedilla_is_gsm_but_lowercase_is_not_and_nothing_is_transliterated() -> None:
    assert is_gsm7("Ç")
    assert not is_gsm7("ç")
    assert encode_gsm7("Ç") == b"\x09"


def test_encode_gsm7_known_codes() -> None:
    assert encode_gsm7("@£$\n\rΔ_ €") == bytes([0x00, 0x01, 0x02, 0x0A, 0x0D, 0x10, 0x11, 0x20, 0x1B, 0x65])
    assert encode_gsm7("{}[]~|\\^\f") == bytes(
        [
            0x1B,
            0x28,
            0x1B,
            0x29,
            0x1B,
            0x3C,
            0x1B,
            0x3E,
            0x1B,
            0x3D,
            0x1B,
            0x40,
            0x1B,
            0x2F,
            0x1B,
            0x14,
            0x1B,
            0x0A,
        ]
    )
    assert encode_gsm7("Aaàä¿¡§") == bytes([0x41, 0x61, 0x7F, 0x7B, 0x60, 0x40, 0x5F])


def test_encode_gsm7_rejects_non_gsm_with_position() -> None:
    with pytest.raises(ValueError, match="position 2"):
        encode_gsm7("abç")


def test_decode_gsm7_roundtrip_and_lenient_escapes() -> None:
    text = GSM_BASIC + GSM_EXTENSION
    assert decode_gsm7(encode_gsm7(text)) == text
    assert decode_gsm7(b"\x1b\x41") == "A"  # unknown extension code: the basic character
    assert decode_gsm7(b"\x61\x1b\x1b\x62") == "a b"  # ESC ESC (reserved): a space
    assert decode_gsm7(b"\x61\x1b") == "a "  # dangling ESC
    with pytest.raises(ValueError, match="septet"):
        decode_gsm7(b"\x80")


def test_decode_gsm7_every_basic_septet_without_escapes() -> None:
    # Text without ESC takes a table-translation path; every septet must come out as the table says.
    septets = bytes(code for code in range(128) if code != 0x1B)
    assert decode_gsm7(septets) == GSM_BASIC  # (GSM_BASIC is the table in order, without ESC)
    assert decode_gsm7(septets + b"\x1b\x65") == decode_gsm7(septets) + "€"  # and the same with one


def test_encode_ucs2_is_utf16_be_with_surrogates() -> None:
    assert encode_ucs2("aж") == b"\x00a\x04\x36"
    assert encode_ucs2("😀") == b"\xd8\x3d\xde\x00"


# --- boundaries ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments", "per_part"),
    [
        ("", Encoding.GSM7, 0, 1, 160),
        ("a" * 160, Encoding.GSM7, 160, 1, 160),
        ("a" * 161, Encoding.GSM7, 161, 2, 153),
        ("a" * 306, Encoding.GSM7, 306, 2, 153),
        ("a" * 307, Encoding.GSM7, 307, 3, 153),
        ("a" * 459, Encoding.GSM7, 459, 3, 153),
        ("a" * 460, Encoding.GSM7, 460, 4, 153),
        ("ж" * 70, Encoding.UCS2, 70, 1, 70),
        ("ж" * 71, Encoding.UCS2, 71, 2, 67),
        ("ж" * 134, Encoding.UCS2, 134, 2, 67),
        ("ж" * 135, Encoding.UCS2, 135, 3, 67),
        ("€" * 80, Encoding.GSM7, 160, 1, 160),
        ("€" * 81, Encoding.GSM7, 162, 2, 153),
        ("a" * 159 + "€", Encoding.GSM7, 161, 2, 153),
        ("😀" * 35, Encoding.UCS2, 70, 1, 70),
        ("😀" * 36, Encoding.UCS2, 72, 2, 67),
        ("a" * 68 + "😀", Encoding.UCS2, 70, 1, 70),
        ("a" * 66 + "😀" + "bbb", Encoding.UCS2, 71, 2, 67),
        ("a" * 159 + "ç", Encoding.UCS2, 160, 3, 67),
    ],
)
def test_analyze_boundaries(text: str, encoding: Encoding, units: int, segments: int, per_part: int) -> None:
    info = analyze(text)
    assert info == SegmentInfo(encoding, units, segments, per_part, characters=len(text))
    assert len(split(text)) == segments


def test_characters_counts_code_points() -> None:
    assert analyze("a😀€").characters == 3
    assert analyze("a😀€").units == 4  # UCS-2 because of the emoji: 1 + 2 + 1


def test_empty_text_is_one_empty_part() -> None:
    assert split("") == [""]
    assert analyze("").segments == 1


def test_single_part_text_is_returned_whole() -> None:
    text = "a" * 155 + "€€"  # 159 septets: would not fit one 153-septet part, but fits one 160 message
    assert split(text) == [text]


def test_extension_char_is_never_split_across_parts() -> None:
    # 152 septets then '€': its ESC would be the 153rd septet and its code the 154th, so '€' moves.
    text = "a" * 152 + "€" + "b" * 10
    parts = split(text)
    assert parts == ["a" * 152, "€" + "b" * 10]
    assert [len(encode_gsm7(p)) for p in parts] == [152, 12]
    assert analyze(text).segments == 2


def test_extension_chars_81_euros() -> None:
    parts = split("€" * 81)
    assert parts == ["€" * 76, "€" * 5]


def test_gsm_153_exact_fill() -> None:
    text = "a" * 151 + "€" + "b" * 10  # 151 + 2 = 153: '€' fits exactly at the end of part one
    assert split(text) == ["a" * 151 + "€", "b" * 10]


def test_emoji_is_never_split_across_parts() -> None:
    text = "a" * 66 + "😀" + "bbb"  # 71 units: multipart; 66 + 2 = 68 > 67, so the emoji moves whole
    assert split(text) == ["a" * 66, "😀bbb"]
    text = "a" * 65 + "😀" + "bbbb"  # 65 + 2 = 67: the emoji ends part one exactly
    assert split(text) == ["a" * 65 + "😀", "bbbb"]


def test_naive_byte_split_breaks_a_surrogate_pair_but_split_does_not() -> None:
    text = "a" * 66 + "😀" + "b" * 10
    payload = encode_ucs2(text)
    naive_first = payload[: 67 * 2]  # a naive splitter cuts every 134 octets
    assert naive_first[-2:] == b"\xd8\x3d"  # the high surrogate, orphaned
    with pytest.raises(UnicodeDecodeError):
        naive_first.decode("utf-16-be")
    parts = split(text)
    for part in parts:
        assert len(encode_ucs2(part)) <= 134
        assert encode_ucs2(part).decode("utf-16-be") == part
    assert "".join(parts) == text


# --- properties ---------------------------------------------------------------------------------------

gsm_chars = st.sampled_from(GSM_BASIC + GSM_EXTENSION)
any_chars = st.one_of(
    st.sampled_from(GSM_BASIC),
    st.sampled_from(GSM_EXTENSION),
    st.sampled_from(BMP_NON_GSM),
    st.sampled_from(NON_BMP),
    st.characters(codec="utf-8"),  # anything encodable, including other non-BMP characters
)


def texts_of(chars: st.SearchStrategy[str], max_len: int) -> st.SearchStrategy[str]:
    # Draw the length first: plain ``st.lists`` favours short lists and would rarely reach multi-part.
    return st.integers(0, max_len).flatmap(lambda n: st.lists(chars, min_size=n, max_size=n).map("".join))


gsm_texts = texts_of(gsm_chars, 480)
# Mostly GSM with a sprinkle of anything else, so the mixed texts are long multi-part UCS-2 too.
mixed_texts = texts_of(st.one_of(gsm_chars, any_chars), 300)
texts = st.one_of(gsm_texts, mixed_texts)
# Neither extension characters nor non-BMP: the case any SMS splitter must get right.
plain_texts = st.one_of(
    texts_of(st.sampled_from(GSM_BASIC), 480),
    texts_of(st.one_of(st.sampled_from(GSM_BASIC), st.sampled_from(BMP_NON_GSM)), 300),
)


@given(texts)
def test_split_concatenates_back(text: str) -> None:
    assert "".join(split(text)) == text


@given(texts)
def test_split_agrees_with_analyze(text: str) -> None:
    info = analyze(text)
    parts = split(text)
    assert len(parts) == info.segments
    assert info.characters == len(text)
    assert info.encoding is (Encoding.GSM7 if is_gsm7(text) else Encoding.UCS2)
    assert sum(units_of(part, info.encoding) for part in parts) == info.units
    assert (
        info.per_part
        == (
            {Encoding.GSM7: 160, Encoding.UCS2: 70}
            if info.segments == 1
            else {Encoding.GSM7: 153, Encoding.UCS2: 67}
        )[info.encoding]
    )


@given(texts)
def test_each_part_within_its_limit_and_greedy(text: str) -> None:
    info = analyze(text)
    parts = split(text)
    for part in parts:
        assert units_of(part, info.encoding) <= info.per_part
    # Greedy: the next part's first character would not have fitted in the previous part.
    for prev, nxt in itertools.pairwise(parts):
        assert units_of(prev, info.encoding) + units_of(nxt[0], info.encoding) > info.per_part
    assert all(parts) or parts == [""]


@given(gsm_texts)
def test_no_part_boundary_inside_an_escape(text: str) -> None:
    parts = split(text)
    encoded = [encode_gsm7(part) for part in parts]  # every part is self-contained GSM-7
    assert sum(len(e) for e in encoded) == analyze(text).units
    assert b"".join(encoded) == encode_gsm7(text)
    assert "".join(decode_gsm7(e) for e in encoded) == text


@given(mixed_texts)
def test_each_ucs2_part_is_clean_utf16(text: str) -> None:
    if analyze(text).encoding is not Encoding.UCS2:
        return
    for part in split(text):
        payload = encode_ucs2(part)
        assert payload.decode("utf-16-be") == part
        last_unit = int.from_bytes(payload[-2:], "big") if payload else 0
        assert not 0xD800 <= last_unit <= 0xDBFF  # never ends on a high surrogate


# --- oracle: smsutil ------------------------------------------------------------------------------------
#
# smsutil (1.1.3) greedily packs code points into 153 septets / 134 octets and collapses to one part when
# the total fits 160 / 140 — the same rules as ours, counting an extension character as 2 septets and a
# non-BMP character as 4 octets, so on ordinary text it must agree with us on everything: encoding, part
# count, the parts themselves and the total size. Known, deliberate deviations (tested below):
#
# * empty text: smsutil's GSM check is a regex with ``+`` so "" is not GSM for it (UCS-2); for us the empty
#   text is trivially GSM-7. Both agree it is one part.
# * ESC (U+001B): smsutil lists it in the basic charset, so "\x1b" is GSM for it (and it would send a raw
#   escape that turns the next character into an extension character). ESC is not a text character, so
#   we send such text as UCS-2.
# The oracle therefore only sees non-empty text without ESC.

SMSUTIL_ENCODING = {"gsm0338": Encoding.GSM7, "utf_16_be": Encoding.UCS2}


def check_against_smsutil(text: str) -> None:
    theirs = smsutil.split(text)
    info = analyze(text)
    assert SMSUTIL_ENCODING[theirs.encoding] is info.encoding
    assert len(theirs.parts) == info.segments
    assert [part.content for part in theirs.parts] == split(text)
    octets_per_unit = 1 if info.encoding is Encoding.GSM7 else 2
    assert theirs.total_bytes == info.units * octets_per_unit


@settings(max_examples=300)
@given(st.one_of(texts, plain_texts).filter(lambda text: text != "" and "\x1b" not in text))
def test_oracle_smsutil(text: str) -> None:
    check_against_smsutil(text)


@pytest.mark.parametrize(
    "text",
    [
        "a" * 160,
        "a" * 161,
        "a" * 306,
        "a" * 307,
        "ж" * 70,
        "ж" * 71,
        "ж" * 134,
        "ж" * 135,
        "€" * 80,
        "€" * 81,
        "a" * 152 + "€" + "b" * 10,
        "a" * 66 + "😀" + "bbb",
        "😀" * 36,
    ],
)
def test_oracle_smsutil_on_boundaries(text: str) -> None:
    check_against_smsutil(text)


def test_smsutil_deviations_are_the_known_ones() -> None:
    assert smsutil.split("").encoding == "utf_16_be"
    assert analyze("").encoding is Encoding.GSM7
    assert smsutil.split("\x1b").encoding == "gsm0338"
    assert analyze("\x1b").encoding is Encoding.UCS2
